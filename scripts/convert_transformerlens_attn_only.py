#!/usr/bin/env python3
"""Convert a TransformerLens attention-only model into circuitscan's attn-only format.

The output directory (config.json + model.safetensors, model_type "circuitscan_attn_only") is
described in docs/attn-only-format.md and loads with `circuitscan info|run DIR`.

Two ways in:

  1. A TransformerLens checkpoint file and its config, e.g. from the Hugging Face hub repo
     NeelNanda/Attn_Only_4L512W_C4_Code (TransformerLens's "attn-only-4l"): download
     model_final.pth and config.json, then
       python3 scripts/convert_transformerlens_attn_only.py \
           --checkpoint model_final.pth --config config.json --out attn-only-4l
     --config accepts both Neel Nanda's hub config.json and HookedTransformerConfig.to_dict()
     saved as JSON. The checkpoint is a HookedTransformer state_dict (torch.save), unprocessed
     (no fold_ln), as those repos and `model.state_dict()` of
     HookedTransformer.from_pretrained_no_processing give it.

  2. With transformer_lens installed, by name (it downloads the weights itself):
       python3 scripts/convert_transformerlens_attn_only.py --model attn-only-4l --out attn-only-4l

Needs torch (to read the .pth). Writes safetensors itself (the format is a JSON header and raw
little-endian bytes), so the safetensors package is not needed.

Weight mapping (TransformerLens -> circuitscan, GPT-2 names, [in, out] linear weights):
  embed.W_E [V,D]                       -> wte.weight [V,D]
  pos_embed.W_pos [n_ctx,D]             -> wpe.weight [n_ctx,D]
  blocks.L.ln1.w / .b [D]               -> h.L.ln_1.weight / .bias
  blocks.L.attn.W_Q|W_K|W_V [H,D,dh]    -> h.L.attn.c_attn.weight [D, 3*H*dh]  (q | k | v blocks,
                                           head h at columns h*dh..h*dh+dh-1 of its block)
  blocks.L.attn.b_Q|b_K|b_V [H,dh]      -> h.L.attn.c_attn.bias [3*H*dh]
  blocks.L.attn.W_O [H,dh,D]            -> h.L.attn.c_proj.weight [H*dh, D]
  blocks.L.attn.b_O [D]                 -> h.L.attn.c_proj.bias
  ln_final.w / .b [D]                   -> ln_f.weight / .bias
  unembed.W_U [D,V], b_U [V]            -> lm_head.weight [V,D] (transposed), lm_head.bias [V]
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import torch

# TransformerLens buffers that are not weights.
IGNORED_SUFFIXES = (".attn.mask", ".attn.IGNORE", ".attn.rotary_sin", ".attn.rotary_cos")


def fail(msg):
    sys.exit("convert_transformerlens_attn_only: " + msg)


def read_tl_config(cfg):
    """Neel Nanda's hub config.json or HookedTransformerConfig.to_dict() -> the settings we need."""
    def need(key):
        if key not in cfg or cfg[key] is None:
            fail(f"config has no '{key}'")
        return cfg[key]

    out = {
        "n_layers": int(need("n_layers")),
        "d_model": int(need("d_model")),
        "n_heads": int(need("n_heads")),
        "d_head": int(need("d_head")),
        "n_ctx": int(need("n_ctx")),
        "d_vocab": int(need("d_vocab")),
        "eps": float(cfg.get("eps", 1e-5) or 1e-5),
        "tokenizer_name": cfg.get("tokenizer_name"),
        # TransformerLens's own BOS default for the model (True unless its config says otherwise);
        # circuitscan's commands follow it (docs/method.md, "Prompts and BOS").
        "default_prepend_bos": bool(cfg.get("default_prepend_bos", True)),
    }
    if not cfg.get("attn_only", False):
        fail("the model is not attention-only (attn_only is false): it has MLP layers")
    # Hub configs say "normalization"; HookedTransformerConfig says "normalization_type".
    norm = cfg.get("normalization_type", cfg.get("normalization"))
    if norm not in ("LN", "LNPre"):
        fail(f"normalization {norm!r} is not supported (only LN, or LNPre written as LN with "
             "weight 1 and bias 0)")
    out["normalization"] = norm
    # Hub configs say "shortformer_pos": bool; HookedTransformerConfig "positional_embedding_type".
    if "positional_embedding_type" in cfg:
        pos = cfg["positional_embedding_type"]
    else:
        pos = "shortformer" if cfg.get("shortformer_pos", False) else "standard"
    if pos not in ("shortformer", "standard"):
        fail(f"positional_embedding_type {pos!r} is not supported (shortformer or standard)")
    out["positional_embedding_type"] = pos

    d_vocab_out = cfg.get("d_vocab_out", -1)
    if d_vocab_out not in (-1, None, out["d_vocab"]):
        fail(f"d_vocab_out {d_vocab_out} differs from d_vocab {out['d_vocab']}: not supported")
    # Attention variants our forward does not implement.
    if cfg.get("n_key_value_heads") not in (None, out["n_heads"]):
        fail("grouped-query attention (n_key_value_heads) is not supported for attn-only models")
    if not cfg.get("use_attn_scale", True):
        fail("use_attn_scale false is not supported (scores are divided by sqrt(d_head))")
    scale = cfg.get("attn_scale")
    if scale is not None and abs(float(scale) - math.sqrt(out["d_head"])) > 1e-6:
        fail(f"attn_scale {scale} is not sqrt(d_head): not supported")
    for key in ("scale_attn_by_inverse_layer_idx", "use_local_attn", "use_qk_norm",
                "use_normalization_before_and_after", "final_rms"):
        if cfg.get(key):
            fail(f"{key} is not supported")
    if cfg.get("attention_dir", "causal") != "causal":
        fail("only causal attention is supported")
    for key in ("attn_scores_soft_cap", "output_logits_soft_cap"):
        if (cfg.get(key) or -1.0) > 0:
            fail(f"{key} is not supported")
    return out


def unwrap_state_dict(obj):
    """torch.load result -> the flat {name: tensor} state_dict."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        fail("the checkpoint is not a state_dict of tensors")
    return obj


def convert(sd, c):
    """TransformerLens state_dict + read_tl_config settings -> {circuitscan name: float32 tensor}."""
    L, D, H, dh, n_ctx, V = (c["n_layers"], c["d_model"], c["n_heads"], c["d_head"], c["n_ctx"],
                             c["d_vocab"])
    used = set()

    def take(name, shape):
        if name not in sd:
            fail(f"checkpoint has no tensor '{name}' (is it a TransformerLens state_dict?)")
        t = sd[name]
        if tuple(t.shape) != tuple(shape):
            fail(f"tensor '{name}' has shape {list(t.shape)}, config says {list(shape)}")
        used.add(name)
        return t.detach().to(torch.float32).contiguous()

    def norm(prefix):
        if c["normalization"] == "LNPre":  # folded LayerNorm: no affine parameters left
            return torch.ones(D), torch.zeros(D)
        return take(prefix + ".w", (D,)), take(prefix + ".b", (D,))

    out = {"wte.weight": take("embed.W_E", (V, D)), "wpe.weight": take("pos_embed.W_pos", (n_ctx, D))}
    for l in range(L):
        src, dst = f"blocks.{l}.", f"h.{l}."
        out[dst + "ln_1.weight"], out[dst + "ln_1.bias"] = norm(src + "ln1")
        # W_X[h, :, j] is column h*dh + j of the X block: [H, D, dh] -> [D, H, dh] -> [D, H*dh].
        Ws = [take(src + f"attn.W_{x}", (H, D, dh)).permute(1, 0, 2).reshape(D, H * dh)
              for x in "QKV"]
        bs = [take(src + f"attn.b_{x}", (H, dh)).reshape(H * dh) for x in "QKV"]
        out[dst + "attn.c_attn.weight"] = torch.cat(Ws, dim=1).contiguous()
        out[dst + "attn.c_attn.bias"] = torch.cat(bs).contiguous()
        # W_O[h, j, :] is row h*dh + j: [H, dh, D] -> [H*dh, D].
        out[dst + "attn.c_proj.weight"] = take(src + "attn.W_O", (H, dh, D)).reshape(H * dh, D).contiguous()
        out[dst + "attn.c_proj.bias"] = take(src + "attn.b_O", (D,))
    out["ln_f.weight"], out["ln_f.bias"] = norm("ln_final")
    out["lm_head.weight"] = take("unembed.W_U", (D, V)).t().contiguous()
    out["lm_head.bias"] = take("unembed.b_U", (V,))

    left = [k for k in sd if k not in used and not k.endswith(IGNORED_SUFFIXES)]
    if left:
        fail("checkpoint has tensors this converter does not understand (not an attention-only "
             f"TransformerLens model?): {left[:8]}")
    return out


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                      torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: write its bits
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Safetensors: u64 little-endian header size, JSON header, then each tensor's bytes."""
    if sys.byteorder != "little":
        fail("safetensors is little-endian; run this on a little-endian machine")
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)  # the data section starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_model_dir(out, config, tensors):
    """config.json and model.safetensors, staged beside `out` and moved in only when both are
    written, so a failed run leaves nothing new (as circuitscan's own writers do)."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--out {out} exists and is not a directory")
    base = out if os.path.isdir(out) else os.path.dirname(out)
    while not os.path.isdir(base):  # the nearest existing ancestor holds the staging directory
        base = os.path.dirname(base)
    stage = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".staging.", dir=base)
    try:
        with open(os.path.join(stage, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(stage, "model.safetensors"), tensors, {"format": "pt"})
        if not os.path.exists(out):
            os.makedirs(os.path.dirname(out), exist_ok=True)
            os.replace(stage, out)
            return
        for name in ("config.json", "model.safetensors"):
            os.replace(os.path.join(stage, name), os.path.join(out, name))
        os.rmdir(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def circuitscan_config(c, source):
    cfg = {
        "model_type": "circuitscan_attn_only",
        "n_layer": c["n_layers"],
        "n_head": c["n_heads"],
        "n_embd": c["d_model"],
        "d_head": c["d_head"],
        "n_positions": c["n_ctx"],
        "vocab_size": c["d_vocab"],
        "layer_norm_epsilon": c["eps"],
        "positional_embedding_type": c["positional_embedding_type"],
        "normalization": "LN",
        "tie_word_embeddings": False,
        "source": source,
    }
    if c.get("tokenizer_name"):
        cfg["tokenizer_name"] = c["tokenizer_name"]
    cfg["default_prepend_bos"] = c.get("default_prepend_bos", True)
    return cfg


def load_by_name(name):
    try:
        from transformer_lens import HookedTransformer
    except ImportError:
        fail("--model needs transformer_lens installed; otherwise pass --checkpoint and --config")
    model = HookedTransformer.from_pretrained_no_processing(name, device="cpu")
    return model.state_dict(), model.cfg.to_dict()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="TransformerLens state_dict saved with torch.save (.pth/.pt)")
    ap.add_argument("--config", help="its config.json (hub format or HookedTransformerConfig dict)")
    ap.add_argument("--model", help="a TransformerLens model name (needs transformer_lens), e.g. attn-only-4l")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32",
                    help="dtype of the written weights (default f32)")
    args = ap.parse_args(argv)

    if args.model:
        sd, tl_cfg = load_by_name(args.model)
        source = f"TransformerLens {args.model}"
    elif args.checkpoint and args.config:
        with open(args.config) as f:
            tl_cfg = json.load(f)
        sd = unwrap_state_dict(torch.load(args.checkpoint, map_location="cpu"))
        source = f"TransformerLens checkpoint {os.path.basename(args.checkpoint)}"
    else:
        ap.error("pass --model NAME, or both --checkpoint and --config")

    c = read_tl_config(tl_cfg)
    tensors = convert(sd, c)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    tensors = {k: v.to(dtype) for k, v in tensors.items()}

    write_model_dir(args.out, circuitscan_config(c, source), tensors)
    n = sum(t.numel() for t in tensors.values())
    print(f"wrote {args.out}: {c['n_layers']} layers, {c['n_heads']} heads, d_model {c['d_model']}, "
          f"{c['positional_embedding_type']} positions, {n} parameters ({args.dtype})")
    if c.get("tokenizer_name"):
        print(f"the model's tokenizer is {c['tokenizer_name']}")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, TypeError, KeyError) as e:  # json errors are ValueErrors
        fail(f"{type(e).__name__}: {e}")
