"""Circuit discovery from Python: circuitscan.discover and circuitscan.compare run the commands of
the same names on a loaded model. Keyword options are the command's flags with "_" for "-"
(``trials=3`` is ``--trials 3``, ``no_faithfulness=True`` is ``--no-faithfulness``); the engine
parses them with the command's own declarations, so defaults, checks and error messages are the
command line's (``circuitscan.help("discover")`` lists them). The task is a built-in name, a .jsonl
path, or a list of dicts with the JSONL fields (prompt, answer, wrong, corrupt, negative).
"""

import json
import os
import warnings

from . import _core
from ._core import Error

__all__ = ["discover", "compare", "help", "builtin_tasks", "methods", "DiscoverResult"]


def help(command="discover"):
    """The options of "discover" or "compare", as ``circuitscan COMMAND --help`` prints them."""
    return _core.help(command)


def builtin_tasks():
    return _core.builtin_tasks()


def methods():
    """The discovery methods by name, as ``discover --method`` and ``compare --methods`` take them."""
    return _core.methods()


def _flag(name, value):
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [f"{flag}={'true' if value else 'false'}"]
    if isinstance(value, (list, tuple)):
        return [f"{flag}={','.join(map(str, value))}"]
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, float):
        value = repr(value)
    return [f"{flag}={value}"]


def _command_input(model, task, options):
    """(engine model, flags, task records or None) for a command run."""
    from .model import Model
    if not isinstance(model, Model):
        raise Error("the first argument must be a circuitscan.Model (circuitscan.Model.load(path))")
    flags, records = [], None
    if isinstance(task, (str, os.PathLike)):
        flags += _flag("task", task)
    elif isinstance(task, (list, tuple)):
        if not task or not all(isinstance(t, dict) for t in task):
            raise Error("task: give a built-in task name, a .jsonl path, or a non-empty list of dicts "
                        "with the JSONL fields (prompt, answer, wrong, corrupt, negative)")
        records = "".join(json.dumps(t) + "\n" for t in task)
    else:
        raise Error(f"task: expected a name, a path or a list of dicts, got {type(task).__name__}")
    for name, value in options.items():
        if value is None:
            continue
        flags += _flag(name, value)
    return model.core, flags, records


def discover(model, task="ioi", method="sae", *, progress=None, **options):
    """Finds the task's circuit in `model` as ``circuitscan discover --method METHOD`` does, with
    the same seed giving the same numbers. method: any of ``circuitscan.methods()`` (sae,
    sae-paper, patching, acdc, eap, eap-ig, hisp, sp). progress: an optional function (phase,
    fraction done). Returns a DiscoverResult."""
    core, flags, records = _command_input(model, task, dict(options, method=method))
    run = _core.discover(core, flags, records, progress)
    for w in run.warnings:
        warnings.warn(w, stacklevel=2)
    return DiscoverResult(run)


_PER_TRIAL = ("node_auc", "edge_auc", "precision_at_k", "recall_at_k", "f1_at_k", "faithfulness_at_k", "seconds")


def compare(model, task="ioi", methods=None, *, progress=None, **options):
    """Runs several methods on the same prompts as ``circuitscan compare`` does; returns one dict per
    method (``pandas.DataFrame(rows)`` makes the table). Each is the method's entry of the
    compare.json the command writes, with every per-trial list (node_auc, edge_auc, precision_at_k,
    recall_at_k, f1_at_k, faithfulness_at_k, seconds) turned into its mean over trials, plus
    ``<name>_std`` (sample std, 0 for one trial) and ``<name>_trials`` (the list; NaN where a trial
    has no value); ``cpr`` and ``cmd`` from the faithfulness curve; ``mean_head_scores`` as an array
    [n_layers, n_heads]."""
    import numpy as np
    core, flags, records = _command_input(model, task, dict(options, methods=methods))
    report = json.loads(_core.compare(core, flags, records, progress))
    shape = (model.cfg.n_layers, model.cfg.n_heads)
    rows = []
    for entry in report["methods"]:
        row = dict(entry)
        for name in _PER_TRIAL:
            trials = [float("nan") if v is None else float(v) for v in entry[name]]
            row[name] = float(np.mean(trials)) if trials else float("nan")
            row[name + "_std"] = float(np.std(trials, ddof=1)) if len(trials) > 1 else (0.0 if trials else float("nan"))
            row[name + "_trials"] = trials
        curve = entry.get("faithfulness_curve")
        row["cpr"] = curve["cpr"] if curve else float("nan")
        row["cmd"] = curve["cmd"] if curve else float("nan")
        row["mean_head_scores"] = np.asarray(entry["mean_head_scores"], np.float64).reshape(shape)
        rows.append(row)
    return rows


class DiscoverResult:
    """What discover found. Arrays are per head [n_layers, n_heads]; the rest are the fields of the
    run's circuit.json (the file ``save`` writes with circuit.dot and report.html, as the command
    line's --out does)."""

    def __init__(self, run):
        self._run = run
        self.record = json.loads(run.circuit_json())  # circuit.json's content
        self.scores = run.scores              # the ranking's score (record["ranking"]), mean over trials
        self.scores_std = run.scores_std      # its std over trials
        self.paper_scores = run.paper_scores  # the paper's |P \ N| (or edge count), mean over trials
        self.paper_softmax = run.paper_softmax  # its softmax over heads (what a threshold compares)
        self.trial_scores = run.trial_scores  # per trial, [n_layers, n_heads] each
        self.circuit = run.circuit            # [(layer, head)], best first
        self.mlp_scores = run.mlp_scores      # [n_layers] when the method scores MLPs; else empty
        self.edge_scores = run.edge_scores    # {"a0.h1->a2.h3<q>": score} over the edges it scores
        self.circuit_graph = run.circuit_graph  # {"nodes": [...], "edges": [...]}: graph.json's circuit
        self.command_line = run.command_line  # the command that runs the same

    method = property(lambda self: self.record["method"])
    task = property(lambda self: self.record["task"])
    level = property(lambda self: self.record["level"])
    evaluation = property(lambda self: self.record.get("evaluation"), doc="against the truth (None without one)")
    faithfulness = property(lambda self: self.record.get("faithfulness"), doc="the circuit's faithfulness curve")
    timings = property(lambda self: self.record["timings"], doc="seconds per phase (and FLOPs)")

    def graph_json(self):
        """graph.json's content: the scored circuit graph in EAP-IG's layout ("" when none)."""
        return self._run.graph_json()

    def save(self, directory):
        """Writes circuit.json, circuit.dot, report.html and graph.json into `directory` (created),
        as the command line's --out does."""
        self._run.save(os.fspath(directory))

    def __repr__(self):
        ev = self.evaluation
        auc = f", AUC {ev['mean_scores']['auc']:.3f} against {ev['truth']}" if ev else ""
        return f"DiscoverResult({self.method}, {self.task}: circuit of {len(self.circuit)} heads{auc})"
