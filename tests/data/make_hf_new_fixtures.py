"""Transformers-made references for the Llama 3.1, Llama 3.2, Qwen2.5 and Gemma 2 fixtures, to
replace the plain-torch ones that make_plain_torch_fixtures.py writes. Run it where transformers
is installed (the lent GPU machine; it runs on CPU too):

    python3 tests/data/make_hf_new_fixtures.py tests/data

For each of llama3.1-tiny, llama3.2-tiny, qwen2.5-tiny and gemma2-tiny it keeps config.json,
model.safetensors (the random bf16 weights) and the inputs (input_ids, metric_tokens) of the
fixture as it is, runs LlamaForCausalLM / Qwen2ForCausalLM / Gemma2ForCausalLM (eager attention)
on them, and rewrites reference.safetensors with the same keys:
  float64 from the stored bf16 weights: metric, logits, hidden.{0..L} (as transformers returns
    them: the last after the final norm), pattern.l, z.l and grad_z.l (the o_proj input per head,
    [B,T,H,dh]), grad.model.norm.weight;
  the checkpoint run in bfloat16: bf16.logits, bf16.hidden.{0..L};
  bf16in.logits is kept: it defines circuitscan's bf16 precision (every matmul input rounded to
    bf16, the rest f32), which transformers has no mode for.
Before writing any, it compares each fixture's float64 logits with the plain-torch ones and stops
(writing nothing) if they differ by more than 1e-5 of their largest value (transformers computes
rotary angles in float32 even for a float64 model): either transformers and the
plain-torch port disagree, which is worth knowing before anything is replaced, or the setup is
wrong. Not yet run: no machine with transformers was available when it was written.
"""
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

NAMES = ["llama3.1-tiny", "llama3.2-tiny", "qwen2.5-tiny", "gemma2-tiny"]


def run(d, dtype, ids, mt, grads):
    model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=dtype, attn_implementation="eager").eval()
    layers = model.model.layers
    H, dh = model.config.num_attention_heads, model.config.head_dim
    z = {}

    def keep(i):
        def hook(mod, args):
            if grads:
                args[0].retain_grad()
            z[i] = args[0]
        return hook

    handles = [l.self_attn.o_proj.register_forward_pre_hook(keep(i)) for i, l in enumerate(layers)]
    with torch.set_grad_enabled(grads):
        out = model(input_ids=ids, output_hidden_states=True, output_attentions=grads)
    for h in handles:
        h.remove()
    ref = {"logits": out.logits}
    for i, hs in enumerate(out.hidden_states):
        ref["hidden.%d" % i] = hs
    if grads:
        b = torch.arange(ids.shape[0])
        metric = (out.logits[b, -1, mt[:, 0]] - out.logits[b, -1, mt[:, 1]]).sum()
        metric.backward()
        B, T = ids.shape
        ref["metric"] = metric.reshape(1)
        for i, pat in enumerate(out.attentions):
            ref["pattern.%d" % i] = pat
        for i in range(len(layers)):
            ref["z.%d" % i] = z[i].reshape(B, T, H, dh)
            ref["grad_z.%d" % i] = z[i].grad.reshape(B, T, H, dh)
        ref["grad.model.norm.weight"] = model.model.norm.weight.grad
    return {k: v.detach().float().contiguous() for k, v in ref.items()}


def main(root):
    done = []
    for name in NAMES:
        d = os.path.join(root, name)
        old = load_file(os.path.join(d, "reference.safetensors"))
        ids, mt = old["input_ids"], old["metric_tokens"]
        ref = run(d, torch.float64, ids, mt, grads=True)
        for k, v in run(d, torch.bfloat16, ids, mt, grads=False).items():
            if k.startswith("logits") or k.startswith("hidden."):
                ref["bf16." + k] = v
        scale = old["logits"].abs().max()
        exact = ((ref["logits"] - old["logits"]).abs().max() / scale).item()
        bf16 = ((ref["bf16.logits"] - old["bf16.logits"]).abs().max() / scale).item()
        print("%s: float64 logits vs plain-torch max rel %.2e, bf16 logits %.2e" % (name, exact, bf16))
        if exact > 1e-5:
            sys.exit("%s: transformers and the plain-torch port disagree (%.2e); nothing written" % (name, exact))
        missing = set(old) - set(ref) - {"input_ids", "metric_tokens", "bf16in.logits"}
        if missing:
            sys.exit("%s: keys the plain-torch reference has and this run lacks: %s" % (name, sorted(missing)))
        ref.update(input_ids=ids, metric_tokens=mt)
        ref["bf16in.logits"] = old["bf16in.logits"]
        done.append((d, ref))
    note = ("transformers %s, torch %s (make_hf_new_fixtures.py); bf16in.logits from "
            "make_plain_torch_fixtures.py" % (transformers.__version__, torch.__version__))
    for d, ref in done:  # only once every fixture has agreed
        save_file(ref, os.path.join(d, "reference.safetensors"), metadata={"note": note})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_hf_new_fixtures.py FIXTURES_DIR (tests/data)")
    main(sys.argv[1])
