"""circuitscan: find the circuits inside transformer language models, from Python.

    import circuitscan as cs
    model = cs.Model.load("models/toy-gpt2-4l")          # or a hub id in the HF cache
    logits, cache = model.run_with_cache("When Mary and John went to the store, John gave a drink to")
    result = cs.discover(model, "ioi", trials=3)

The engine is C++ (OpenMP, OpenBLAS): calls release the GIL while they compute, Ctrl-C raises
KeyboardInterrupt, and errors are circuitscan.Error with the command line's one-line message.
"""

import os as _os

# The CLI's OpenMP wait policy (ops/process_setup.h): spin briefly, then sleep. libgomp reads it
# when it loads, so it takes effect only when nothing (numpy's OpenBLAS) has loaded libgomp yet.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"
# An installed package carries its own copy of the bundled data (tokenizer, ground truths).
_DATA = _os.path.join(_os.path.dirname(__file__), "data")
if _os.path.isdir(_DATA) and not _os.environ.get("CIRCUITSCAN_DATA_DIR"):
    _os.environ["CIRCUITSCAN_DATA_DIR"] = _DATA

from . import _core, utils  # noqa: E402
from ._core import Error, UsageError  # noqa: E402
from .methods import DiscoverResult, builtin_tasks, compare, discover, help, methods  # noqa: E402
from .model import ActivationCache, Config, HookName, Model  # noqa: E402

__all__ = ["Model", "Config", "ActivationCache", "HookName", "discover", "compare", "DiscoverResult", "help",
           "builtin_tasks", "methods", "Error", "UsageError", "utils"]
