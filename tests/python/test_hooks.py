"""run_with_hooks: a hook that ablates a head equals transformers' ablation (golden fixture) and
the CLI's (`circuitscan run --ablate`); edits in place and returned arrays both work, as in
TransformerLens; a hook that keeps its array gets a valid one."""

import json

import numpy as np
import pytest

from conftest import TOY, rel_max_error, run_cli

PROMPT = "When Mary and John went to the store, John gave a drink to"


def zero_head(head):
    def hook(z, hook):  # z [batch, pos, head, d_head]
        z[:, :, head, :] = 0
    return hook


def test_ablation_hook_equals_transformers(tiny, tiny_ref):
    tokens = tiny_ref["input_ids"]
    logits = tiny.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", zero_head(2))])
    assert rel_max_error(logits, tiny_ref["logits_ablate_l1h2"]) <= 1e-4
    assert rel_max_error(logits, tiny_ref["logits"]) > 1e-3  # the ablation changed something
    # Hooks are gone afterwards.
    assert rel_max_error(tiny(tokens), tiny_ref["logits"]) <= 1e-4


def test_returned_array_replaces_the_activation(tiny, tiny_ref):
    def replace(z, hook):
        assert hook == "blocks.1.attn.hook_z" and hook.name == "blocks.1.attn.hook_z" and hook.layer() == 1
        out = z.copy()
        out[:, :, 2] = 0
        return out
    logits = tiny.run_with_hooks(tiny_ref["input_ids"], fwd_hooks=[("blocks.1.attn.hook_z", replace)])
    assert rel_max_error(logits, tiny_ref["logits_ablate_l1h2"]) <= 1e-4


def test_ablation_hook_equals_the_cli(cs):
    model = cs.Model.load(TOY)
    V = model.cfg.d_vocab
    args = ["run", TOY, PROMPT, "--json", "--top-k", V, "--ablate", "3.1", "--cache", "blocks.3.attn.hook_z"]
    if model.cfg.default_prepend_bos:
        args.append("--prepend-bos")
    cli = json.loads(run_cli(*args).stdout)
    cli_last = np.empty(V, np.float32)
    for t in cli["top"]:
        cli_last[t["id"]] = t["logit"]
    seen = {}

    def hook(z, hook):
        z[:, :, 1] = 0
        seen["z"] = z.copy()
    logits = model.run_with_hooks(PROMPT, fwd_hooks=[("blocks.3.attn.hook_z", hook)])
    assert rel_max_error(logits[0, -1], cli_last) <= 1e-6
    ref_z = np.asarray(cli["cache"]["blocks.3.attn.hook_z"]["values"], np.float32).reshape(seen["z"].shape)
    assert rel_max_error(seen["z"], ref_z) <= 1e-6
    assert rel_max_error(model(PROMPT)[0, -1], cli_last) > 1e-4  # the head mattered


def test_filter_hooks_and_persistent_hooks(tiny, tiny_ref):
    tokens = tiny_ref["input_ids"]
    visited = []
    logits = tiny.run_with_hooks(tokens, fwd_hooks=[(lambda n: n.endswith("hook_z"), lambda z, h: visited.append(str(h)))])
    assert visited == [f"blocks.{l}.attn.hook_z" for l in range(3)]
    assert rel_max_error(logits, tiny_ref["logits"]) <= 1e-4
    with tiny.hooks(fwd_hooks=[("blocks.1.attn.hook_z", zero_head(2))]):
        _, cache = tiny.run_with_cache(tokens, names_filter="blocks.1.attn.hook_z")
        assert (cache["z", 1][:, :, 2] == 0).all()  # the cache sees the hook's edit
        assert rel_max_error(tiny(tokens), tiny_ref["logits_ablate_l1h2"]) <= 1e-4
    assert rel_max_error(tiny(tokens), tiny_ref["logits"]) <= 1e-4


def test_kept_activation_stays_valid(tiny):
    kept = []
    tiny.run_with_hooks("Hello world", fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, h: kept.append(x))])
    _, cache = tiny.run_with_cache("Hello world", names_filter="blocks.0.hook_resid_pre")
    # resid_pre is updated in place later in the pass; the kept array is a snapshot at the hook.
    np.testing.assert_array_equal(kept[0], cache["blocks.0.hook_resid_pre"])


def test_hook_errors(cs, tiny):
    with pytest.raises(cs.Error, match=r"returned an array of shape \[1,3,4\], the activation is \[1,3,4,16\]"):
        tiny.run_with_hooks("Hello world", fwd_hooks=[("blocks.0.attn.hook_z", lambda z, h: z[..., 0])])
    with pytest.raises(ZeroDivisionError):  # the hook's own exception comes through
        tiny.run_with_hooks("Hello world", fwd_hooks=[("blocks.0.attn.hook_z", lambda z, h: 1 / 0)])
    with pytest.raises(cs.Error, match="unknown hook point 'blocks.0.attn.hook_zz'"):
        tiny.run_with_hooks("Hello world", fwd_hooks=[("blocks.0.attn.hook_zz", zero_head(0))])
