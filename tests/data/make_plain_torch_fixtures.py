"""Golden fixtures for Llama 3.1, Llama 3.2, Qwen2.5 and Gemma 2 from an independent plain-torch
implementation. TO BE REPLACED BY TRANSFORMERS-MADE FIXTURES: transformers cannot be installed
here (no PyPI; Debian has PyTorch 1.13 but not transformers), so this file re-implements, in a
few lines of torch, the forward of transformers' modeling_llama.py (LlamaForCausalLM with
rope_type "llama3" from modeling_rope_utils.py, and Qwen2's q/k/v biases) and modeling_gemma2.py
(Gemma2ForCausalLM), read line by line, and writes the same files make_hf_fixtures.py writes.
Where the lent GPU machine (which has transformers) is available, regenerate them there with
LlamaForCausalLM / Qwen2ForCausalLM / Gemma2ForCausalLM on these weights and replace these files.

usage: /usr/bin/python3 make_plain_torch_fixtures.py OUT_DIR      (Debian python3-torch)

Each OUT_DIR/<name>/ gets config.json (as transformers writes it), model.safetensors (random
weights stored in bf16, as the models are published) and reference.safetensors:
  exact (float64 from the bf16 weights as stored, the reference of exact precision):
    input_ids, metric_tokens, metric, logits, hidden.{0..L} (hidden.L after the final norm, as
    transformers returns it), pattern.l [B,H,T,T], z.l (o_proj input per head [B,T,H,dh]),
    grad_z.l, grad.model.norm.weight (d metric / d the stored final-norm weight);
  bf16 (the model run in bfloat16 as transformers runs a bf16 checkpoint: bf16 activations,
    norms and softmax computed in float32 and cast back, rotary cos/sin cast to bf16):
    bf16.logits, bf16.hidden.{0..L};
  bf16 products (float64, but every weight matmul reads its input rounded to bf16: the definition
    of circuitscan's bf16 precision, which keeps the rest in f32): bf16in.logits.
metric = sum_b logits[b, -1, m0] - logits[b, -1, m1].
Non-default settings are exercised on purpose: llama3 scaling with all three frequency bands
(head_dim 16, original context 256), tied and untied embeddings, Qwen2 biases, Gemma 2 soft-caps
small enough to bend the scores and logits (5 and 10), a sliding window of 4 on a 12-token input,
query_pre_attn_scalar unequal to head_dim, grouped-query attention.
"""
import json, math, os, struct, sys
import torch

torch.manual_seed(0)
out_root = sys.argv[1]


# ---- safetensors, written by hand (the format: u64 header length, JSON header, data) --------
def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            dt, raw = "BF16", t.view(torch.int16).numpy().tobytes()
        elif t.dtype == torch.float32:
            dt, raw = "F32", t.numpy().tobytes()
        elif t.dtype == torch.int64:
            dt, raw = "I64", t.numpy().tobytes()
        else:
            raise ValueError(t.dtype)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- the model, written from transformers' modeling files -----------------------------------
def inv_freq(cfg):
    """_compute_default_rope_parameters, then _compute_llama3_parameters; float32 throughout."""
    dim = cfg["head_dim"]
    base = cfg["rope_theta"]
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_l)
    return inv


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rmsnorm(x, w, eps, gemma):
    if gemma:  # Gemma2RMSNorm: (x / rms) * (1 + w) in float32, cast back
        xf = x.float() if x.dtype != torch.float64 else x
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        out = out * (1.0 + (w.float() if w.dtype != torch.float64 else w))
        return out.type_as(x)
    xf = x.to(torch.float32) if x.dtype != torch.float64 else x  # LlamaRMSNorm
    var = xf.pow(2).mean(-1, keepdim=True)
    xf = xf * torch.rsqrt(var + eps)
    return w * xf.to(x.dtype)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def bf16_round(x):
    return x.to(torch.bfloat16).to(x.dtype)


def forward(cfg, P, ids, dtype, capture=None, round_inputs=False):
    """P: parameters (name -> tensor in `dtype`). Returns logits, hidden list, patterns, z list.
    round_inputs: float64 run whose weight matmuls read bf16-rounded inputs (circuitscan's bf16
    precision: bf16 products, everything else exact)."""
    rnd = bf16_round if round_inputs else (lambda t: t)
    gemma = cfg["model_type"] == "gemma2"
    B, T = ids.shape
    D, H, Hk, dh = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    x = P["model.embed_tokens.weight"][ids]
    if gemma:
        x = x * torch.tensor(D ** 0.5, dtype=x.dtype)
    # rotary: float32 angles, cos/sin cast to the activations' dtype
    pos = torch.arange(T, dtype=torch.float32)
    freqs = (inv_freq(cfg)[:, None] @ pos[None, :]).transpose(0, 1)  # [T, dh/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    scaling = cfg["query_pre_attn_scalar"] ** -0.5 if gemma else dh ** -0.5
    hidden, patterns, zs = [], [], []
    for l in range(cfg["num_hidden_layers"]):
        hidden.append(x)
        p = lambda n: P["model.layers.%d.%s" % (l, n)]
        h = rmsnorm(x, p("input_layernorm.weight"), eps, gemma)

        def lin(name, inp):
            y = rnd(inp) @ p(name + ".weight").T
            b = P.get("model.layers.%d.%s.bias" % (l, name))
            return y + b if b is not None else y

        q = lin("self_attn.q_proj", h).view(B, T, H, dh).transpose(1, 2)
        k = lin("self_attn.k_proj", h).view(B, T, Hk, dh).transpose(1, 2)
        v = lin("self_attn.v_proj", h).view(B, T, Hk, dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hk, dim=1)  # repeat_kv
        v = v.repeat_interleave(H // Hk, dim=1)
        s = (q @ k.transpose(2, 3)) * scaling
        if gemma and cfg.get("attn_logit_softcapping"):
            cap = cfg["attn_logit_softcapping"]
            s = torch.tanh(s / cap) * cap
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]
        allowed = j <= i
        if gemma and cfg["layer_types"][l] == "sliding_attention":
            allowed = allowed & (j > i - cfg["sliding_window"])  # sliding_window_overlay
        s = s + torch.where(allowed, torch.zeros((), dtype=s.dtype), torch.tensor(torch.finfo(s.dtype).min, dtype=s.dtype))
        pat = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype) if dtype != torch.float64 else torch.softmax(s, dim=-1)
        z = (pat @ v).transpose(1, 2).reshape(B, T, H * dh)
        if capture is not None:
            z.retain_grad()
        patterns.append(pat)
        zs.append(z)
        a = lin("self_attn.o_proj", z)
        if gemma:
            a = rmsnorm(a, p("post_attention_layernorm.weight"), eps, gemma)
        x = x + a
        h = rmsnorm(x, p("pre_feedforward_layernorm.weight" if gemma else "post_attention_layernorm.weight"), eps, gemma)
        act = gelu_tanh if gemma else torch.nn.functional.silu
        m = lin("mlp.down_proj", act(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
        if gemma:
            m = rmsnorm(m, p("post_feedforward_layernorm.weight"), eps, gemma)
        x = x + m
    x = rmsnorm(x, P["model.norm.weight"], eps, gemma)
    hidden.append(x)
    W_U = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    logits = rnd(x) @ W_U.T
    if gemma and cfg.get("final_logit_softcapping"):
        cap = cfg["final_logit_softcapping"]
        logits = torch.tanh(logits / cap) * cap
    return logits, hidden, patterns, zs


# ---- fixtures -------------------------------------------------------------------------------
def make(name, cfg, B=2, T=12):
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    gemma = cfg["model_type"] == "gemma2"
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, Hk, dh, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["num_hidden_layers"]
    P = {"model.embed_tokens.weight": 0.5 * torch.randn(V, D)}
    norm = lambda: 0.2 * torch.randn(D) if gemma else 1.0 + 0.2 * torch.randn(D)
    for l in range(L):
        p = "model.layers.%d." % l
        P[p + "input_layernorm.weight"] = norm()
        P[p + "self_attn.q_proj.weight"] = 0.3 * torch.randn(H * dh, D)
        P[p + "self_attn.k_proj.weight"] = 0.3 * torch.randn(Hk * dh, D)
        P[p + "self_attn.v_proj.weight"] = 0.2 * torch.randn(Hk * dh, D)
        if cfg["model_type"] == "qwen2":
            P[p + "self_attn.q_proj.bias"] = 0.1 * torch.randn(H * dh)
            P[p + "self_attn.k_proj.bias"] = 0.1 * torch.randn(Hk * dh)
            P[p + "self_attn.v_proj.bias"] = 0.1 * torch.randn(Hk * dh)
        P[p + "self_attn.o_proj.weight"] = 0.2 * torch.randn(D, H * dh)
        P[p + "post_attention_layernorm.weight"] = norm()
        if gemma:
            P[p + "pre_feedforward_layernorm.weight"] = norm()
            P[p + "post_feedforward_layernorm.weight"] = norm()
        P[p + "mlp.gate_proj.weight"] = 0.2 * torch.randn(F, D)
        P[p + "mlp.up_proj.weight"] = 0.2 * torch.randn(F, D)
        P[p + "mlp.down_proj.weight"] = 0.15 * torch.randn(D, F)
    P["model.norm.weight"] = norm()
    if not cfg["tie_word_embeddings"]:
        P["lm_head.weight"] = 0.2 * torch.randn(V, D)
    stored = {k: v.to(torch.bfloat16) for k, v in P.items()}
    save_safetensors(os.path.join(d, "model.safetensors"), stored, {"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    ids = torch.randint(0, V, (B, T))
    mt = torch.tensor([[1, 2], [3, 4]])
    b = torch.arange(B)
    # exact: float64 from the stored bf16 values
    P64 = {k: v.to(torch.float64).requires_grad_(True) for k, v in stored.items()}
    logits, hidden, patterns, zs = forward(cfg, P64, ids, torch.float64, capture=True)
    metric = (logits[b, -1, mt[:, 0]] - logits[b, -1, mt[:, 1]]).sum()
    metric.backward()
    ref = {"input_ids": ids.to(torch.int64), "metric_tokens": mt.to(torch.int64),
           "metric": metric.detach().reshape(1), "logits": logits.detach()}
    for i, hs in enumerate(hidden):
        ref["hidden.%d" % i] = hs.detach()
    for i, pat in enumerate(patterns):
        ref["pattern.%d" % i] = pat.detach()
    for i, z in enumerate(zs):
        ref["z.%d" % i] = z.detach().reshape(B, T, H, dh)
        ref["grad_z.%d" % i] = z.grad.detach().reshape(B, T, H, dh)
    ref["grad.model.norm.weight"] = P64["model.norm.weight"].grad.detach()
    # bf16: as transformers runs the bf16 checkpoint
    with torch.no_grad():
        lb, hb, _, _ = forward(cfg, stored, ids, torch.bfloat16)
    ref["bf16.logits"] = lb
    with torch.no_grad():
        ref["bf16in.logits"] = forward(cfg, {k: v.to(torch.float64) for k, v in stored.items()}, ids,
                                       torch.float64, round_inputs=True)[0]
    for i, hs in enumerate(hb):
        ref["bf16.hidden.%d" % i] = hs
    ref = {k: (v.float().contiguous() if v.is_floating_point() else v.contiguous()) for k, v in ref.items()}
    save_safetensors(os.path.join(d, "reference.safetensors"), ref,
                     {"note": "plain-torch reference (make_plain_torch_fixtures.py), to be replaced by "
                              "transformers-made fixtures; torch %s" % torch.__version__})
    print(name, "logits range %.2f..%.2f" % (ref["logits"].min(), ref["logits"].max()),
          "bf16 vs exact max rel %.4f" % ((ref["bf16.logits"] - ref["logits"]).abs().max() / ref["logits"].abs().max()))


llama_base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
              "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4,
              "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 1024,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": 512, "hidden_act": "silu",
              "attention_bias": False, "mlp_bias": False, "bos_token_id": 0, "eos_token_id": 1,
              "torch_dtype": "bfloat16"}
# Llama 3.1: untied, llama3 scaling (factor 8) with high, medium and low frequency bands at head_dim 16.
make("llama3.1-tiny", dict(llama_base, tie_word_embeddings=False,
                           rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": 256}))
# Llama 3.2: tied embeddings (no lm_head.weight), factor 32, other band edges.
make("llama3.2-tiny", dict(llama_base, tie_word_embeddings=True, num_hidden_layers=2,
                           rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 2.0,
                                         "high_freq_factor": 8.0, "original_max_position_embeddings": 512}))
# Qwen2.5: q/k/v biases, tied, theta 1e6, sliding window configured but off.
make("qwen2.5-tiny", dict(llama_base, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                          tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6,
                          use_sliding_window=False, sliding_window=32, max_window_layers=2,
                          num_hidden_layers=2))
# Gemma 2: soft-caps, sliding window 4 (< T = 12) on layers 0 and 2, query_pre_attn_scalar 24.
make("gemma2-tiny", {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 64,
                     "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 1024,
                     "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "vocab_size": 512,
                     "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 24,
                     "attn_logit_softcapping": 5.0, "final_logit_softcapping": 10.0, "sliding_window": 4,
                     "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
                     "tie_word_embeddings": True, "attention_bias": False, "bos_token_id": 2,
                     "eos_token_id": 1, "pad_token_id": 0, "torch_dtype": "bfloat16"})
