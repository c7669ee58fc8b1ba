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
    with pytest.raises(cs.UsageError, match="--top-k or --threshold, not both"):
        cs.discover(toy, "ioi", top_k=3, threshold=0.1)
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


def test_compare_rows_equal_the_cli(cs, toy, tmp_path):
    options = dict(methods="eap,hisp,sae", trials=2, prompts=40, method_prompts=20, faith_prompts=10, seed=1)
    run_cli("compare", TOY, "--task=greater-than", *flags(options), f"--out={tmp_path}")
    cli = json.loads((tmp_path / "compare.json").read_text())["methods"]
    rows = cs.compare(toy, "greater-than", **options)
    assert [r["method"] for r in rows] == ["eap", "hisp", "sae"]
    for row, ref in zip(rows, cli):
        assert row["node_auc_trials"] == pytest.approx(ref["node_auc"], rel=1e-12)
        assert row["node_auc"] == pytest.approx(np.mean(ref["node_auc"]), rel=1e-12)
        assert row["f1_at_k_trials"] == pytest.approx(ref["f1_at_k"], rel=1e-12)
        assert row["ranking"] == ref["ranking"]
        assert row["cpr"] == pytest.approx(ref["faithfulness_curve"]["cpr"], rel=1e-12)
        assert row["mean_head_scores"].shape == (toy.cfg.n_layers, toy.cfg.n_heads)
        np.testing.assert_allclose(row["mean_head_scores"].ravel(), ref["mean_head_scores"], rtol=1e-12)
    assert len(rows[2]["seconds_trials"]) == 2 and len(rows[0]["seconds_trials"]) == 1
    assert math.isfinite(rows[2]["node_auc_std"])
