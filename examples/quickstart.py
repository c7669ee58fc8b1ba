# %% [markdown]
# # circuitscan quickstart
# Load the shipped model, cache activations, ablate a head with a hook, find the IOI circuit with
# the discrete-SAE method, and plot the head scores. From the repository root, after the build:
#
#     PYTHONPATH=build/python /usr/bin/python3 examples/quickstart.py
#
# (`examples/quickstart.ipynb` is this file as a notebook, made by `examples/make_notebook.py`.)

# %%
import os
import pathlib

import numpy as np

import circuitscan as cs

# The repository root: the working directory or one above it (a notebook runs in examples/).
ROOT = next(p for p in (pathlib.Path.cwd(), *pathlib.Path.cwd().parents) if (p / "models" / "toy-gpt2-4l").is_dir())
OUT = pathlib.Path(os.environ.get("QUICKSTART_OUT", ROOT / "out" / "quickstart"))
model = cs.Model.load(ROOT / "models" / "toy-gpt2-4l")  # a directory, or a hub id in the HF cache
print(model)
print(model.cfg)

# %% [markdown]
# ## Tokens and a cache of activations
# Names are TransformerLens's; the cache holds numpy arrays.

# %%
prompt = "When Mary and John went to the store, John gave a drink to"
print(model.to_str_tokens(prompt))
logits, cache = model.run_with_cache(prompt, names_filter=lambda name: name.endswith(("hook_z", "hook_pattern")))
io, s = model.to_single_token(" Mary"), model.to_single_token(" John")
logit_diff = logits[0, -1, io] - logits[0, -1, s]
print(f"logit difference ' Mary' - ' John': {logit_diff:.3f}")
print("hook_z of layer 3:", cache["z", 3].shape, "  pattern of layer 0:", cache["pattern", 0].shape)

# %% [markdown]
# ## A hook that ablates one head
# The hook gets the live activation: editing it in place changes the rest of the forward pass.

# %%
def ablation_effect(layer, head):
    def zero_head(z, hook):  # z [batch, pos, head, d_head]
        z[:, :, head, :] = 0
    ablated = model.run_with_hooks(prompt, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", zero_head)])
    return ablated[0, -1, io] - ablated[0, -1, s] - logit_diff

effects = np.array([[ablation_effect(l, h) for h in range(model.cfg.n_heads)] for l in range(model.cfg.n_layers)])
layer, head = np.unravel_index(np.argmin(effects), effects.shape)
print(f"ablating head {layer}.{head} changes the logit difference most: {effects[layer, head]:+.3f}")

# %% [markdown]
# ## Circuit discovery
# The same method, options and checks as `circuitscan discover` (options are its flags, with `_`
# for `-`); `result.save(dir)` writes the files the command writes.

# %%
result = cs.discover(model, "ioi", trials=int(os.environ.get("QUICKSTART_TRIALS", "1")), seed=0)
print("circuit:", result.circuit)
print("evaluation:", result.evaluation)
print("seconds:", {k: round(v, 3) for k, v in result.timings.items()})
result.save(OUT / "ioi")
print("wrote", OUT / "ioi")

# %% [markdown]
# ## A plot
# Head scores from discover beside the single-prompt ablation effects.

# %%
try:
    import matplotlib
except ImportError:
    matplotlib = None
    print("matplotlib is not installed (apt-get install python3-matplotlib): skipping the plot")
if matplotlib is not None:
    import matplotlib.pyplot as plt  # without a display, matplotlib draws off screen (Agg)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, values, title in ((axes[0], result.scores, "discover: head score"),
                              (axes[1], effects, "zero-ablation: change in logit diff")):
        im = ax.imshow(values, cmap="viridis" if ax is axes[0] else "RdBu", aspect="auto")
        ax.set(title=title, xlabel="head", ylabel="layer")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "heads.png", dpi=100)
    print("wrote", OUT / "heads.png")
