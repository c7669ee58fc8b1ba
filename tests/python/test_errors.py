"""Bad input raises circuitscan.Error carrying the CLI's one-line message, not a crash."""

import numpy as np
import pytest

from conftest import TINY, run_cli


def cli_error(*args):
    r = run_cli(*args, check=False)
    assert r.returncode == 1, r
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr[len("error: "):].rstrip("\n")


def test_missing_model_is_the_cli_message(cs, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(cs.Error) as e:
        cs.Model.load(missing)
    assert str(e.value) == cli_error("info", missing)
    assert "\n" not in str(e.value) and "does not exist" in str(e.value)


def test_hub_id_not_in_cache(cs, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(cs.Error, match="the Hugging Face cache has no .*models--someorg--somemodel"):
        cs.Model.load("someorg/somemodel")


def test_bad_hook_names_are_the_cli_messages(cs, tiny):
    for bad in ("blocks.0.attn.hook_zz", "blocks.9.attn.hook_z"):
        with pytest.raises(cs.Error) as e:
            tiny.run_with_cache("Hello", names_filter=bad)
        assert str(e.value) == cli_error("run", TINY, "Hello", "--cache", bad)


def test_bad_tokens(cs, tiny):
    with pytest.raises(cs.Error, match="token id 50257 is outside the vocabulary"):
        tiny(np.array([[1, 50257]]))
    with pytest.raises(cs.Error, match="integer ids"):
        tiny(np.array([[1.5, 2.0]]))
    with pytest.raises(cs.Error, match="longer than the model's context"):
        tiny(np.zeros((1, 65), np.int64))
    with pytest.raises(cs.Error, match="empty"):
        tiny(np.zeros((1, 0), np.int64))


def test_error_is_an_exception_class_of_the_package(cs):
    assert issubclass(cs.Error, Exception) and issubclass(cs.UsageError, cs.Error)
    assert issubclass(cs.UsageError, ValueError)
