"""circuitscan.discover and compare from Python equal the command line run with the same seed and
options; options are checked as the command line checks them; tasks may be Python lists."""

import json
import math

import numpy as np
import pytest

from conftest import TOY, run_cli

SMALL = dict(prompts=60, faith_prompts=20, epochs=200, seed=3)


def flags(options):
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def without_run_identity(record):
    """circuit.json minus what differs between two runs of the same computation (and --out, which
    the Python run does not take: it saves afterwards)."""
    out = {k: v for k, v in record.items() if k not in ("command_line", "timings")}
    out["settings"] = {k: v for k, v in record["settings"].items() if k != "out"}
    if "method_stats" in record:  # its CPU times differ between runs too
        timed = ("ms_", "_ms", "seconds")
        out["method_stats"] = {k: v for k, v in record["method_stats"].items() if not any(t in k for t in timed)}
    return out


def test_discover_equals_the_cli(cs, toy, tmp_path):
    options = dict(SMALL, trials=2)
    run_cli("discover", TOY, "--task=ioi", *flags(options), f"--out={tmp_path / 'cli'}")
    result = cs.discover(toy, "ioi", **options)
    result.save(tmp_path / "py")
    cli = json.loads((tmp_path / "cli" / "circuit.json").read_text())
    py = json.loads((tmp_path / "py" / "circuit.json").read_text())
    assert without_run_identity(py) == without_run_identity(cli)
    assert sorted(p.name for p in (tmp_path / "py").iterdir()) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    # The arrays are circuit.json's numbers.
    H = toy.cfg.n_heads
    for h in cli["heads"]:
        assert result.scores[h["layer"], h["head"]] == pytest.approx(h["score"], rel=1e-12)
    assert [f"{l}.{h}" for l, h in result.circuit] == cli["circuit"]
    assert result.scores.shape == (toy.cfg.n_layers, H) and len(result.trial_scores) == 2
    assert result.evaluation == cli["evaluation"] and result.evaluation["mean_scores"]["auc"] > 0.5
    assert set(result.timings) >= {"collect_s", "train_s", "total_s"}


METHODS = ["sae", "sae-paper", "patching", "acdc", "eap", "eap-ig", "hisp", "sp"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_equals_the_cli(cs, toy, tmp_path, method):
    assert cs.methods() == METHODS  # a method added to the table gets a case here
    options = dict(prompts=30, method_prompts=12, faith_prompts=10, epochs=100, sp_steps=20, seed=2)
    run_cli("discover", TOY, "--task=ioi", f"--method={method}", *flags(options), f"--out={tmp_path / 'cli'}")
    result = cs.discover(toy, "ioi", method=method, **options)
    result.save(tmp_path / "py")
    cli = json.loads((tmp_path / "cli" / "circuit.json").read_text())
    py = json.loads((tmp_path / "py" / "circuit.json").read_text())
    assert without_run_identity(py) == without_run_identity(cli)
    assert result.method == method
    graph = (tmp_path / "cli" / "graph.json").read_text()
    assert (tmp_path / "py" / "graph.json").read_text() == graph == result.graph_json()
    # The graph's names: the edges it scores, and graph.json's circuit.
    g = json.loads(graph)
    assert result.circuit_graph["edges"] == [e for e, v in g["edges"].items() if v["in_graph"]]
    assert result.circuit_graph["nodes"] == [n for n, v in g["nodes"].items() if v["in_graph"]]
    for name, score in result.edge_scores.items():
        assert g["edges"][name]["score"] == pytest.approx(score, rel=1e-6, abs=1e-12)


def test_task_list_equals_the_same_jsonl_file(cs, toy, tmp_path):
    records = [{"prompt": "When Mary and John went to the store, John gave a drink to", "answer": " Mary",
                "wrong": " John", "negative": "When Mary and John went to the store, Mary gave a drink to"},
               {"prompt": "When Tom and Anna went to the park, Anna gave a ball to", "answer": " Tom",
                "wrong": " Anna", "negative": "When Tom and Anna went to the park, Tom gave a ball to"}] * 4
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    options = dict(epochs=100, train_prompts=4, no_faithfulness=True, top_k=4)
    from_list = cs.discover(toy, records, **options)
    from_file = cs.discover(toy, path, **options)
    np.testing.assert_array_equal(from_list.scores, from_file.scores)
    assert from_list.circuit == from_file.circuit and len(from_list.circuit) == 4


def test_options_are_checked_as_the_cli_checks_them(cs, toy):
    def cli_error(*args):
        r = run_cli("discover", TOY, *args, check=False)
        assert r.returncode == 2, r.stderr
        return r.stderr.strip()[len("error: "):]
    with pytest.raises(cs.UsageError) as e:
        cs.discover(toy, "ioi", bogus_option=1)
    assert str(e.value) == cli_error("--bogus-option=1") and "--bogus-option" in str(e.value)
    with pytest.raises(cs.UsageError) as e:
        cs.discover(toy, "ioi", trials="many")
    assert str(e.value) == cli_error("--trials=many")
    # Ranges, choices and combinations: the flag declarations and checks the CLI uses.
    for options in (dict(epochs=0), dict(lr=-1.0), dict(score="best"), dict(top_k=3, threshold=0.1),
                    dict(level="edge", score="paper"), dict(top_k=33), dict(position="S9")):
        with pytest.raises(cs.UsageError) as e:
            cs.discover(toy, "ioi", **options)
        assert str(e.value) == cli_error(*flags(options)), options
    with pytest.raises(cs.UsageError) as e:
        cs.compare(toy, "ioi", acdc_sweep=1)
    r = run_cli("compare", TOY, "--acdc-sweep=1", check=False)
    assert r.returncode == 2 and str(e.value) == r.stderr.strip()[len("error: "):]
    with pytest.raises(cs.Error, match="task list:2: missing \"answer\""):
        cs.discover(toy, [{"prompt": "a b", "answer": " c"}, {"prompt": "a b"}])
    with pytest.raises(cs.Error, match="unknown task"):
        cs.discover(toy, "no-such-task")


def test_progress_is_reported_and_its_errors_stop_the_run(cs, toy):
    seen = []
    cs.discover(toy, "ioi", progress=lambda phase, f: seen.append((phase, f)), **dict(SMALL, no_faithfulness=True))
    assert seen and all(0 <= f <= 1 for _, f in seen)

    def fail(phase, f):
        raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        cs.discover(toy, "ioi", progress=fail, **SMALL)


def same(ours, ref):
    """Equal as JSON values, numbers to 1e-12 (the same computation in two processes); the rows'
    NaN stands for compare.json's null (a trial without that value)."""
    if isinstance(ref, dict):
        return isinstance(ours, dict) and ours.keys() == ref.keys() and all(same(ours[k], ref[k]) for k in ref)
    if isinstance(ref, list):
        return len(ours) == len(ref) and all(same(a, b) for a, b in zip(ours, ref))
    if ref is None:
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if isinstance(ref, (int, float)) and not isinstance(ref, bool):
        return math.isclose(ours, ref, rel_tol=1e-12, abs_tol=1e-300)
    return ours == ref


def test_compare_rows_equal_the_cli(cs, toy, tmp_path):
    options = dict(methods="eap,hisp,sae", trials=2, prompts=40, method_prompts=20, faith_prompts=10, seed=1)
    run_cli("compare", TOY, "--task=greater-than", *flags(options), f"--out={tmp_path}")
    cli = json.loads((tmp_path / "compare.json").read_text())["methods"]
    rows = cs.compare(toy, "greater-than", **options)
    assert [r["method"] for r in rows] == ["eap", "hisp", "sae"]
    per_trial = ("node_auc", "edge_auc", "precision_at_k", "recall_at_k", "f1_at_k", "faithfulness_at_k")
    for row, ref in zip(rows, cli):
        # Every field of the method's compare.json entry, but its wall times.
        for key, value in ref.items():
            if key == "seconds":
                continue
            if key in per_trial:
                assert same(row[key + "_trials"], value), key
                trials = [math.nan if v is None else v for v in value]
                if trials:
                    assert row[key] == pytest.approx(np.mean(trials), rel=1e-12, nan_ok=True), key
                    assert row[key + "_std"] == pytest.approx(np.std(trials, ddof=1) if len(trials) > 1 else 0.0,
                                                              rel=1e-12, nan_ok=True), key
            elif key == "mean_head_scores":
                assert row[key].shape == (toy.cfg.n_layers, toy.cfg.n_heads)
                np.testing.assert_allclose(row[key].ravel(), value, rtol=1e-12)
            else:
                assert same(row[key], value), key
        assert row["cpr"] == pytest.approx(ref["faithfulness_curve"]["cpr"], rel=1e-12)
        assert row["cmd"] == pytest.approx(ref["faithfulness_curve"]["cmd"], rel=1e-12)
    assert len(rows[2]["seconds_trials"]) == 2 and len(rows[0]["seconds_trials"]) == 1
    assert math.isfinite(rows[2]["node_auc_std"])
    # Ready for pandas: one flat record per method (pandas itself is not a dependency).
    assert all(isinstance(k, str) for r in rows for k in r) and len({frozenset(r) for r in rows}) == 1
