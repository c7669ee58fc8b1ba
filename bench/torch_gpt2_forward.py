"""PyTorch CPU reference for bench/forward: a GPT-2-small-shaped forward pass with random
weights, written in plain torch (no transformers needed). Prints tokens/s (median of runs).
usage: torch_gpt2_forward.py B T [f32|bf16]   (bf16: weights and activations in bfloat16, as a
bf16 checkpoint runs in transformers)"""
import math, sys, time
try:
    import torch
except ImportError:
    sys.exit(1)

B, T = int(sys.argv[1]), int(sys.argv[2])
dtype = torch.bfloat16 if len(sys.argv) > 3 and sys.argv[3] == "bf16" else torch.float32
torch.set_num_threads(2)
torch.manual_seed(0)
L, H, D, V, F = 12, 12, 768, 50257, 3072
dh = D // H
g = lambda *s: torch.randn(*s) * 0.02
wte, wpe = g(V, D), g(1024, D)
layers = [dict(w1=torch.ones(D), b1=torch.zeros(D), wqkv=g(D, 3 * D), bqkv=torch.zeros(3 * D),
               wo=g(D, D), bo=torch.zeros(D), w2=torch.ones(D), b2=torch.zeros(D),
               wfc=g(D, F), bfc=torch.zeros(F), wpr=g(F, D), bpr=torch.zeros(D)) for _ in range(L)]
layers = [{k: v.to(dtype) for k, v in p.items()} for p in layers]
wte, wpe = wte.to(dtype), wpe.to(dtype)
ln_f_w, ln_f_b = torch.ones(D, dtype=dtype), torch.zeros(D, dtype=dtype)
mask = torch.tril(torch.ones(T, T, dtype=torch.bool))

def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

@torch.no_grad()
def forward(ids):
    x = wte[ids] + wpe[:T]
    for p in layers:
        h = torch.nn.functional.layer_norm(x, (D,), p["w1"], p["b1"])
        q, k, v = (h @ p["wqkv"] + p["bqkv"]).split(D, dim=-1)
        q, k, v = (t.view(B, T, H, dh).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        s = s.masked_fill(~mask, float("-inf")).softmax(-1)
        z = (s @ v).transpose(1, 2).reshape(B, T, D)
        x = x + z @ p["wo"] + p["bo"]
        h = torch.nn.functional.layer_norm(x, (D,), p["w2"], p["b2"])
        x = x + gelu_new(h @ p["wfc"] + p["bfc"]) @ p["wpr"] + p["bpr"]
    x = torch.nn.functional.layer_norm(x, (D,), ln_f_w, ln_f_b)
    return x @ wte.T

ids = torch.randint(0, V, (B, T))
forward(ids)
times = []
for _ in range(5):
    t0 = time.perf_counter(); forward(ids); times.append(time.perf_counter() - t0)
times.sort()
print(B * T / times[len(times) // 2])
