"""bench/python_overhead: what the Python module adds to the engine. For each workload,
Model.run_with_cache from Python (tokens in, numpy logits and an ActivationCache of numpy arrays
out) against the same caching forward called from C++ (Hooks::cache into an ActivationCache, timed
inside the engine with no Python in the loop), interleaved pair by pair in one process so both see
the same machine state; the table gives medians and the median of the per-pair ratios.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [MODEL] [--pairs N]
"""

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

import circuitscan as cs

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROMPT = "When Mary and John went to the store, John gave a drink to"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "toy-gpt2-4l"))
    ap.add_argument("--pairs", type=int, default=40, help="interleaved (Python, C++) pairs per workload")
    args = ap.parse_args()
    model = cs.Model.load(args.model)
    one = model.to_tokens(PROMPT)
    batch = model.to_tokens([PROMPT] * 32)
    every = [n for n in model.hook_candidates()]
    workloads = [
        ("1 prompt, every hook point", one, None),
        ("1 prompt, hook_z of each layer", one, lambda n: n.endswith("attn.hook_z")),
        ("32 prompts, every hook point", batch, None),
        ("32 prompts, hook_z of each layer", batch, lambda n: n.endswith("attn.hook_z")),
    ]
    print(f"model {args.model}: {model.cfg.n_layers} layers x {model.cfg.n_heads} heads, d_model {model.cfg.d_model}, "
          f"vocab {model.cfg.d_vocab}; prompt of {one.shape[1]} tokens; {args.pairs} interleaved pairs per row\n")
    print("| workload | hooks cached | C++ call (ms) | run_with_cache from Python (ms) | Python - C++ (ms, median of pairs) "
          "| Python / C++ (median of pairs) |")
    print("|---|---|---|---|---|---|")
    for label, tokens, names_filter in workloads:
        names = every if names_filter is None else [n for n in every if names_filter(n)]
        _, cache = model.run_with_cache(tokens, names_filter=names_filter)  # warm up both paths
        model.core._cpp_run_with_cache_seconds(tokens, list(cache), 2)
        py_s, cpp_s = [], []
        for _ in range(args.pairs):
            t0 = time.perf_counter()
            out = model.run_with_cache(tokens, names_filter=names_filter)
            py_s.append(time.perf_counter() - t0)
            del out
            cpp_s.append(model.core._cpp_run_with_cache_seconds(tokens, list(cache), 1)[0])
        ratios = [p / c for p, c in zip(py_s, cpp_s)]
        extra = [p - c for p, c in zip(py_s, cpp_s)]
        print(f"| {label} | {len(cache)} | {1e3 * statistics.median(cpp_s):.3f} | {1e3 * statistics.median(py_s):.3f} "
              f"| {1e3 * statistics.median(extra):+.3f} | {statistics.median(ratios):.3f} |")
    print("\nC++ call: forward() with Hooks::cache on the same names (what a C++ caller writes); Python: the names "
          "resolved from names_filter, the same forward, each activation handed over as a numpy array.")


if __name__ == "__main__":
    sys.exit(main())
