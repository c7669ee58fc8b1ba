"""Shared by the Python tests: where the fixtures and the CLI are, a safetensors reader written
here (independent of the engine's), and the CLI run as a user runs it."""

import json
import os
import pathlib
import struct
import subprocess

# circuitscan before numpy, as its docstring asks: both load OpenBLAS, which reads the kernel set
# (OPENBLAS_CORETYPE, which circuitscan sets as the CLI does) once, when it loads.
import circuitscan  # noqa: F401
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("CS_TEST_DATA", ROOT / "tests" / "data"))
BINARY = os.environ.get("CS_BINARY", str(ROOT / "build" / "circuitscan"))
TINY = DATA / "gpt2-tiny"          # random GPT-2 with transformers' reference activations
TOY = ROOT / "models" / "toy-gpt2-4l"  # the shipped model

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "F16": np.float16}


def read_safetensors(path):
    """{name: ndarray} from a .safetensors file (8-byte header length, JSON header, raw data)."""
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = raw[8 + n + begin:8 + n + end]
        out[name] = np.frombuffer(buf, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def rel_max_error(ours, ref):
    """max |ours - ref| / max |ref|: the golden tests' normalised error."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    den = np.abs(ref).max()
    return np.abs(ours - ref).max() / (den if den else 1.0)


def run_cli(*args, check=True):
    """Runs the circuitscan binary; returns the CompletedProcess (text)."""
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"circuitscan {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r


def require(path):
    """A missing fixture fails the test (house rule), it does not skip it."""
    path = pathlib.Path(path)
    assert path.exists(), f"fixture {path} is missing"
    return path


@pytest.fixture(scope="session")
def cs():
    import circuitscan
    return circuitscan


@pytest.fixture(scope="session")
def tiny(cs):
    return cs.Model.load(require(TINY))


@pytest.fixture(scope="session")
def tiny_ref():
    return read_safetensors(require(TINY / "reference.safetensors"))


@pytest.fixture(scope="session")
def toy(cs):
    return cs.Model.load(require(TOY))
