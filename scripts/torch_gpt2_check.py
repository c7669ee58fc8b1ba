#!/usr/bin/python3
"""Independent check that a GPT-2 checkpoint circuitscan wrote is an ordinary Hugging Face one.

Reads MODEL/model.safetensors by hand (header + raw little-endian tensors, transformers' GPT-2
key layout: Conv1D weights stored [in, out]), runs a plain-torch GPT-2 forward (no transformers,
no circuitscan code), and compares its next-token logits for PROMPT with `circuitscan run
--json`. Needs python3-torch and numpy (Debian: python3-torch).

  scripts/torch_gpt2_check.py models/toy-gpt2-4l "When Mary and John went to the store, John gave a drink to"

Prints the largest absolute logit difference over circuitscan's top 20 tokens; exit 1 above 1e-3.
"""
import json, math, os, struct, subprocess, sys

import numpy as np
import torch

if len(sys.argv) != 3:
    sys.exit(__doc__)
model, prompt = sys.argv[1], sys.argv[2]
cs = os.environ.get("CS", os.path.join(os.path.dirname(__file__), "..", "build", "circuitscan"))
run = subprocess.run([cs, "run", model, prompt, "--json", "--top-k", "20"], capture_output=True, text=True)
if run.returncode != 0:
    sys.exit(f"torch_gpt2_check: circuitscan run failed: {run.stderr.strip() or run.returncode}")
ours = json.loads(run.stdout)

try:
    cfg = json.load(open(os.path.join(model, "config.json")))
    with open(os.path.join(model, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
except (OSError, ValueError, struct.error) as e:
    sys.exit(f"torch_gpt2_check: {model}: cannot read config.json / model.safetensors ({e}); "
             "give a single-file GPT-2 checkpoint directory")
if cfg.get("model_type") != "gpt2":
    sys.exit(f"torch_gpt2_check: {model} is a {cfg.get('model_type')!r} model; this check is for GPT-2 only")
dtypes = {"F16": np.float16, "F32": np.float32, "BF16": None}
w = {}
for k, v in header.items():
    if k == "__metadata__":
        continue
    a, b = v["data_offsets"]
    if v["dtype"] == "BF16":
        raw = np.frombuffer(blob[a:b], dtype=np.uint16).astype(np.uint32) << 16
        arr = raw.view(np.float32)
    else:
        arr = np.frombuffer(blob[a:b], dtype=dtypes[v["dtype"]]).astype(np.float32)
    w[k.removeprefix("transformer.")] = torch.from_numpy(arr.reshape(v["shape"]).copy())

L, H, D = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
eps = cfg.get("layer_norm_epsilon", 1e-5)
dh = D // H


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ids = torch.tensor(ours["tokens"])
T = len(ids)
x = w["wte.weight"][ids] + w["wpe.weight"][:T]
mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
for l in range(L):
    p = lambda s: w[f"h.{l}.{s}"]
    h = torch.nn.functional.layer_norm(x, (D,), p("ln_1.weight"), p("ln_1.bias"), eps)
    q, k, v = (h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")).split(D, dim=-1)
    q, k, v = (t.view(T, H, dh).transpose(0, 1) for t in (q, k, v))
    att = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
    att = att.masked_fill(~mask, float("-inf")).softmax(-1)
    z = (att @ v).transpose(0, 1).reshape(T, D)
    x = x + z @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
    h = torch.nn.functional.layer_norm(x, (D,), p("ln_2.weight"), p("ln_2.bias"), eps)
    x = x + gelu_new(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
x = torch.nn.functional.layer_norm(x, (D,), w["ln_f.weight"], w["ln_f.bias"], eps)
unembed = w.get("lm_head.weight", w["wte.weight"])  # tied unless the file has its own head
logits = x[-1] @ unembed.T

diff = max(abs(float(logits[t["id"]]) - t["logit"]) for t in ours["top"])
top = int(logits.argmax())
print(f"{model}: {T} tokens; plain-torch argmax {top} (circuitscan {ours['top'][0]['id']}); "
      f"max |logit difference| over circuitscan's top 20: {diff:.2e}")
sys.exit(0 if diff <= 1e-3 and top == ours["top"][0]["id"] else 1)
