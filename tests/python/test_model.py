"""Model.load, tokens, logits and cached activations: equal to transformers' (the golden
fixture) and to the CLI's (`circuitscan run --json`)."""

import json

import numpy as np
import pytest

from conftest import TINY, TOY, rel_max_error, run_cli

PROMPT = "When Mary and John went to the store, John gave a drink to"


def test_config_uses_transformerlens_names(tiny):
    c = tiny.cfg
    assert (c.n_layers, c.n_heads, c.d_model, c.d_head, c.d_mlp, c.d_vocab, c.n_ctx) == (3, 4, 64, 16, 256, 50257, 64)
    assert c.act_fn == "gelu_new" and c.normalization_type == "LN" and c.positional_embedding_type == "standard"
    assert c.original_architecture == "gpt2" and c.default_prepend_bos


def test_tokens_prepend_bos_as_transformerlens(tiny):
    toks = tiny.to_tokens("Hello world")
    assert toks.dtype == np.int64 and toks.tolist() == [[50256, 15496, 995]]
    assert tiny.to_tokens("Hello world", prepend_bos=False).tolist() == [[15496, 995]]
    assert tiny.to_str_tokens("Hello world") == ["<|endoftext|>", "Hello", " world"]
    assert tiny.to_str_tokens(toks) == ["<|endoftext|>", "Hello", " world"]
    assert tiny.to_string(toks[0]) == "<|endoftext|>Hello world"
    assert tiny.to_string(toks) == ["<|endoftext|>Hello world"]
    assert tiny.to_single_token(" world") == 995
    # A batch of texts is right-padded with the pad token (EOS), as TransformerLens.
    batch = tiny.to_tokens(["Hello world", "Hello"], prepend_bos=False)
    assert batch.tolist() == [[15496, 995], [15496, 50256]]


def test_logits_and_cache_equal_transformers(tiny, tiny_ref):
    tokens = tiny_ref["input_ids"]
    L = tiny.cfg.n_layers
    names = [f"blocks.{l}.{h}" for l in range(L) for h in ("hook_resid_pre", "attn.hook_pattern", "attn.hook_z")]
    final = [f"blocks.{L - 1}.hook_resid_post", "ln_final.hook_normalized"]
    logits, cache = tiny.run_with_cache(tokens, names_filter=names + final)
    assert logits.dtype == np.float32 and logits.shape == tokens.shape + (50257,)
    assert rel_max_error(logits, tiny_ref["logits"]) <= 1e-4
    assert rel_max_error(tiny(tokens), tiny_ref["logits"]) <= 1e-4
    for l in range(L):
        assert rel_max_error(cache[f"blocks.{l}.hook_resid_pre"], tiny_ref[f"hidden.{l}"]) <= 1e-4
        assert rel_max_error(cache["pattern", l], tiny_ref[f"pattern.{l}"]) <= 1e-4
        assert rel_max_error(cache["z", l], tiny_ref[f"z.{l}"]) <= 1e-4
    # TransformerLens's hook_normalized: the final residual centred and over its scale, before
    # ln_f's weight and bias (hidden.L, the norm's output, is checked through the logits).
    x = cache[f"blocks.{L - 1}.hook_resid_post"].astype(np.float64)
    x = x - x.mean(-1, keepdims=True)
    want = x / np.sqrt((x * x).mean(-1, keepdims=True) + tiny.cfg.eps)
    assert rel_max_error(cache["ln_final.hook_normalized"], want) <= 1e-5
    # The dict comes in forward order.
    assert list(cache)[:3] == ["blocks.0.hook_resid_pre", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z"]


@pytest.mark.parametrize("model_dir", [TINY, TOY])
def test_logits_and_cache_equal_the_cli(cs, model_dir):
    model = cs.Model.load(model_dir)
    hooks = ["blocks.0.attn.hook_z", "blocks.1.hook_resid_post", "blocks.1.mlp.hook_post"]
    V = model.cfg.d_vocab
    args = ["run", model_dir, PROMPT, "--json", "--top-k", V] + [x for h in hooks for x in ("--cache", h)]
    bos = model.cfg.default_prepend_bos
    if bos:
        args.append("--prepend-bos")
    cli = json.loads(run_cli(*args).stdout)
    logits, cache = model.run_with_cache(PROMPT, names_filter=hooks)
    assert model.to_tokens(PROMPT)[0].tolist() == cli["tokens"]
    last = np.empty(V, np.float32)
    for t in cli["top"]:
        last[t["id"]] = t["logit"]
    assert rel_max_error(logits[0, -1], last) <= 1e-6
    for h in hooks:
        ref = np.asarray(cli["cache"][h]["values"], np.float32).reshape(cli["cache"][h]["shape"])
        assert cache[h].shape == ref.shape
        assert rel_max_error(cache[h], ref) <= 1e-6, h


def test_names_filter_forms(tiny):
    tokens = tiny.to_tokens("Hello world")
    _, all_ = tiny.run_with_cache(tokens)
    assert "blocks.2.hook_resid_post" in all_ and "hook_embed" in all_
    assert "blocks.0.attn.hook_result" not in all_  # computed only when named (TransformerLens)
    _, some = tiny.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_z"))
    assert list(some) == [f"blocks.{l}.attn.hook_z" for l in range(3)]
    _, pattern = tiny.run_with_cache(tokens, names_filter="blocks.*.attn.hook_z")
    assert list(pattern) == list(some)
    _, one = tiny.run_with_cache(tokens, names_filter="blocks.1.attn.hook_result")
    assert one["blocks.1.attn.hook_result"].shape == (1, 3, 4, 64)
    for k in some:
        np.testing.assert_array_equal(some[k], all_[k])


def test_result_sums_to_attn_out(tiny):
    _, c = tiny.run_with_cache("Hello world", names_filter=["blocks.1.attn.hook_result", "blocks.1.hook_attn_out"])
    b_O = c["blocks.1.hook_attn_out"] - c["blocks.1.attn.hook_result"].sum(axis=2)
    assert np.allclose(b_O, b_O[0, 0], atol=1e-5)  # what is left is the bias, the same everywhere


def test_arrays_own_their_memory(tiny):
    logits, cache = tiny.run_with_cache("Hello world", names_filter="blocks.0.attn.hook_z")
    z = cache["blocks.0.attn.hook_z"]
    assert logits.flags.c_contiguous and logits.flags.writeable and logits.base is not None
    del cache, logits
    assert np.isfinite(z).all()  # still valid after the cache dict is gone


def test_loss_is_next_token_cross_entropy(tiny, tiny_ref):
    tokens = tiny_ref["input_ids"]
    logits, loss = tiny(tokens, return_type="both")
    lg = logits.astype(np.float64)
    lp = lg - np.log(np.exp(lg - lg.max(-1, keepdims=True)).sum(-1, keepdims=True)) - lg.max(-1, keepdims=True)
    want = -np.mean([lp[b, t, tokens[b, t + 1]] for b in range(tokens.shape[0]) for t in range(tokens.shape[1] - 1)])
    assert abs(loss - want) < 1e-5
    assert tiny(tokens, return_type=None) is None


def test_hook_names_are_what_the_forward_visits(tiny):
    names = tiny.hook_names()
    assert names == [h["name"] for h in json.loads(run_cli("hooks", TINY, "--json").stdout)]
    assert names[:3] == ["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre"]
    assert names[-1] == "ln_final.hook_normalized"
    assert "blocks.2.attn.hook_result" in names and "blocks.0.hook_q_input" in names
    assert len(names) == 2 + 3 * 20 + 1  # every per-layer point of a GPT-2 block
