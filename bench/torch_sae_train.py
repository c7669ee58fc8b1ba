"""Faithful PyTorch port of the discrete-SAE training loop (O'Neill & Bui 2024 reference code
settings: tied pre-bias, unit-norm encoder/decoder rows, ReLU, L1 0.02, Adam 1e-3, 500
full-batch epochs, 200 features), on random data of the given shape. Prints seconds."""
import sys, time
try:
    import torch
except ImportError:
    sys.exit(1)
rows, d = int(sys.argv[1]), int(sys.argv[2])
F, epochs, l1 = 200, 500, 0.02
torch.set_num_threads(2)
torch.manual_seed(0)
X = torch.randn(rows, d)
W_enc = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(F, d), dim=-1))
b_enc = torch.nn.Parameter(torch.zeros(F))
W_dec = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(d, F), dim=-1))
b_pre = torch.nn.Parameter(torch.zeros(d))
opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_pre], lr=1e-3)
t0 = time.perf_counter()
for _ in range(epochs):
    We = torch.nn.functional.normalize(W_enc, dim=-1)
    Wd = torch.nn.functional.normalize(W_dec, dim=-1)
    f = torch.relu((X - b_pre) @ We.T + b_enc)
    x_hat = f @ Wd.T + b_pre
    loss = ((x_hat - X) ** 2).mean() + l1 * f.abs().sum(-1).mean()
    opt.zero_grad()
    loss.backward()
    for W in (W_enc, W_dec):  # remove the gradient component parallel to each unit row
        n = torch.nn.functional.normalize(W.data, dim=-1)
        W.grad -= (W.grad * n).sum(-1, keepdim=True) * n
    opt.step()
print(time.perf_counter() - t0)
