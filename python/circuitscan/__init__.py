"""circuitscan: find the circuits inside transformer language models, from Python.

    import circuitscan as cs
    model = cs.Model.load("models/toy-gpt2-4l")          # or a hub id in the HF cache
    logits, cache = model.run_with_cache("When Mary and John went to the store, John gave a drink to")
    result = cs.discover(model, "ioi", trials=3)

The engine is C++ (OpenMP, OpenBLAS): calls release the GIL while they compute, Ctrl-C raises
KeyboardInterrupt, and errors are circuitscan.Error with the command line's one-line message.
Import circuitscan before numpy: both load OpenBLAS, whose kernel set circuitscan chooses as
its CLI does (a warning says when numpy came first and that choice could not be made).
"""

import os as _os

# The CLI's OpenMP wait policy (ops/process_setup.h): spin briefly, then sleep. libgomp reads it
# when it loads, so it takes effect only when nothing (numpy's OpenBLAS) has loaded libgomp yet.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"
# OpenBLAS's kernel set as the CLI picks it (ops/process_setup.h): an OPENBLAS_CORETYPE naming the
# AVX2 kernels (Haswell, Zen) on a CPU with AVX-512 is replaced by the AVX-512 set, whose sgemm
# gives the same bits on any thread count, unless CS_KEEP_OPENBLAS_CORETYPE is set. OpenBLAS reads
# it when it loads, so like the wait policy it takes effect only if numpy has not loaded it yet.
def _openblas_coretype():
    if _os.environ.get("CS_KEEP_OPENBLAS_CORETYPE") or _os.environ.get("OPENBLAS_CORETYPE") not in ("Haswell", "Zen"):
        return None
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    if not {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        return None
    return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX"


_WANT_CORE = _openblas_coretype()
if _WANT_CORE:
    _os.environ["OPENBLAS_CORETYPE"] = _WANT_CORE
# An installed package carries its own copy of the bundled data (tokenizer, ground truths).
_DATA = _os.path.join(_os.path.dirname(__file__), "data")
if _os.path.isdir(_DATA) and not _os.environ.get("CIRCUITSCAN_DATA_DIR"):
    _os.environ["CIRCUITSCAN_DATA_DIR"] = _DATA

from . import _core, utils  # noqa: E402


def _warn_if_openblas_loaded_first():
    import ctypes
    import warnings
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return
    if core.lower() != _WANT_CORE.lower():
        warnings.warn(f"OpenBLAS was loaded (by numpy?) before circuitscan with its {core} kernels, not "
                      f"{_WANT_CORE} as the circuitscan CLI uses on this CPU: results can differ from "
                      "the CLI's in the last bits. Import circuitscan before numpy, or set "
                      f"OPENBLAS_CORETYPE={_WANT_CORE}.", stacklevel=3)


if _WANT_CORE:
    _warn_if_openblas_loaded_first()
from ._core import Error, UsageError  # noqa: E402
from .methods import DiscoverResult, builtin_tasks, compare, discover, help, methods  # noqa: E402
from .model import ActivationCache, Config, HookName, Model  # noqa: E402

__all__ = ["Model", "Config", "ActivationCache", "HookName", "discover", "compare", "DiscoverResult", "help",
           "builtin_tasks", "methods", "Error", "UsageError", "utils"]
