# usage: python3 make_fixture.py OUT_DIR   (needs torch, transformers and safetensors; run on the
# lent GPU machine, which has them, with transformers 5.17.0 and torch 2.11.0)
# Makes tests/data/gemma-tiny: a random-weight GemmaForCausalLM (transformers) saved as F32
# safetensors, and float64 reference activations computed by transformers itself (logits, hidden
# states, attention patterns, o_proj inputs per head and their gradients), as the shared fixtures.
import os, sys, torch, transformers
from safetensors.torch import save_file
from transformers import GemmaConfig, GemmaForCausalLM
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
torch.manual_seed(0)
print("transformers", transformers.__version__, "torch", torch.__version__)
cfg = GemmaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=1, head_dim=32, max_position_embeddings=128,
                  rms_norm_eps=1e-6, rope_theta=10000.0, hidden_activation="gelu_pytorch_tanh",
                  tie_word_embeddings=True, attention_bias=False)
cfg._attn_implementation = "eager"
m = GemmaForCausalLM(cfg)
with torch.no_grad():
    for name, p in m.named_parameters():
        if p.dim() == 1 and "norm" in name:
            p.copy_(0.2 * torch.randn_like(p))  # applied as (1 + w)
        elif p.dim() == 1:
            p.copy_(0.05 * torch.randn_like(p))
        else:
            p.copy_(0.1 * torch.randn_like(p))
m.eval()
m.save_pretrained(d, safe_serialization=True)
ids = torch.randint(0, 1000, (2, 10))
mt = torch.tensor([[1, 2], [3, 4]])
md = m.double()
md.config._attn_implementation = "eager"
z = {}
def pre_hook(i):
    def f(mod, args):
        x = args[0]
        x.retain_grad()
        z[i] = x
    return f
hs = [l.self_attn.o_proj.register_forward_pre_hook(pre_hook(i)) for i, l in enumerate(md.model.layers)]
outs = md(input_ids=ids, output_hidden_states=True, output_attentions=True)
logits = outs.logits
b = torch.arange(2)
metric = (logits[b, -1, mt[:, 0]] - logits[b, -1, mt[:, 1]]).sum()
metric.backward()
ref = {"input_ids": ids.to(torch.int64), "metric_tokens": mt.to(torch.int64), "metric": metric.detach().reshape(1),
       "logits": logits.detach()}
for i, h in enumerate(outs.hidden_states):
    ref[f"hidden.{i}"] = h.detach()
for i, a in enumerate(outs.attentions):
    ref[f"pattern.{i}"] = a.detach()
for i, x in z.items():
    B, T, D = x.shape
    ref[f"z.{i}"] = x.detach().reshape(B, T, 4, D // 4)
    ref[f"grad_z.{i}"] = x.grad.detach().reshape(B, T, 4, D // 4)
ref["grad.model.norm.weight"] = dict(md.named_parameters())["model.norm.weight"].grad.detach()
ref = {k: (v.float().contiguous() if v.is_floating_point() else v.contiguous()) for k, v in ref.items()}
save_file(ref, os.path.join(d, "reference.safetensors"),
          metadata={"note": "float64 reference from the f32 weights as stored (transformers %s)" % transformers.__version__,
                    "z": "input of self_attn.o_proj split per head [B,T,H,head_dim]"})
print(sorted(os.listdir(d)), {k: list(v.shape) for k, v in ref.items() if k.startswith(("logits", "hidden.0", "pattern.0", "z.0"))})
