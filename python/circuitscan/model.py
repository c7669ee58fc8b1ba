"""A loaded model with TransformerLens's calling conventions: to_tokens / to_string /
to_str_tokens, ``model(input)`` -> logits, run_with_cache, run_with_hooks, add_hook / hooks().

Arrays: logits and cached activations are float32 numpy arrays that own the engine's buffers
(no copy after the forward pass; a cached activation is copied once, inside the pass, as the C++
cache does, because the pass reuses its buffers). A hook receives the live activation (no copy):
edits in place change the pass; an array it returns is copied in; an activation the hook keeps a
reference to is copied back into the pass instead, so the kept array stays valid.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import _core
from ._core import Error
from .utils import get_act_name

__all__ = ["Model", "Config", "ActivationCache", "HookName"]


@dataclass(frozen=True)
class Config:
    """The architecture under TransformerLens's HookedTransformerConfig names (n_layers, n_heads,
    d_model, d_head, d_mlp, n_ctx, d_vocab, act_fn, normalization_type,
    positional_embedding_type, ...), plus circuitscan's own (family, dtype_on_disk, n_params,
    dir, description)."""

    model_name: str
    original_architecture: str
    family: str
    n_layers: int
    n_heads: int
    n_key_value_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    n_ctx: int
    d_vocab: int
    eps: float
    normalization_type: str
    act_fn: str
    gated_mlp: bool
    positional_embedding_type: str
    rotary_dim: int
    rotary_base: float
    attn_only: bool
    parallel_attn_mlp: bool
    tied_embeddings: bool
    default_prepend_bos: bool
    processed_weights: bool
    dtype: str
    dtype_on_disk: str
    n_params: int
    dir: str
    description: str

    def __str__(self):
        return self.description


class HookName(str):
    """What a hook function gets as its second argument: the hook's name (a str), with
    TransformerLens's HookPoint spelling as well (``hook.name``, ``hook.layer()``)."""

    @property
    def name(self):
        return str(self)

    def layer(self):
        parts = self.split(".")
        if len(parts) < 3 or parts[0] != "blocks":
            raise Error(f"hook {self}: not a layer's hook point, it has no layer")
        return int(parts[1])


class ActivationCache(dict):
    """Cached activations by hook name, in forward order. Also indexable as TransformerLens's
    cache is: ``cache["pattern", 0]`` == ``cache["blocks.0.attn.hook_pattern"]``."""

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key = get_act_name(*key)
        return super().__getitem__(key)

    def __contains__(self, key):
        if isinstance(key, tuple):
            key = get_act_name(*key)
        return super().__contains__(key)

    def __repr__(self):
        return "ActivationCache(" + ", ".join(f"{k}: {list(v.shape)}" for k, v in self.items()) + ")"

    def remove_batch_dim(self):
        """Drops the batch dimension of every activation (batch size 1 only)."""
        for k, v in self.items():
            if v.shape[0] != 1:
                raise Error(f"remove_batch_dim: {k} has batch size {v.shape[0]}; it needs batch size 1")
            super().__setitem__(k, v[0])
        return self


class Model:
    """A transformer loaded by the C++ engine. ``Model.load(path)`` takes a Hugging Face model
    directory or a hub id in the local Hugging Face cache (``ORG/NAME[@REVISION]``)."""

    def __init__(self, core):
        self._m = core
        self.cfg = Config(**core.config())
        self._hooks = []  # persistent (name, fn) pairs: add_hook / hooks()
        self._hook_names = None
        self._candidates = None

    @classmethod
    def load(cls, path, *, process_weights=False):
        """Loads config.json, the safetensors weights and the tokenizer. process_weights=True applies
        TransformerLens's weight processing (fold LayerNorm, center writing weights and the
        unembedding, fold value biases), as ``HookedTransformer.from_pretrained`` does by default
        and ``circuitscan discover`` does; False (the default) keeps the checkpoint's weights, whose
        logits equal transformers' and ``circuitscan run``'s."""
        return cls(_core.Model.load(os.fspath(path), bool(process_weights)))

    def __repr__(self):
        return f"Model({self.cfg.model_name!r}: {self.cfg.family}, {self.cfg.n_layers} layers x {self.cfg.n_heads} heads)"

    @property
    def core(self):
        """The engine's model object (what circuitscan.discover and compare run on)."""
        return self._m

    # ---------------------------------------------------------------- tokens
    def _bos(self, prepend_bos):
        return self.cfg.default_prepend_bos if prepend_bos is None else bool(prepend_bos)

    def to_tokens(self, input, prepend_bos=None):
        """Text (a string or a list of strings) -> int64 ids [batch, pos], BOS first unless
        prepend_bos=False (default: the model's default_prepend_bos, else True, as
        TransformerLens). Shorter prompts are right-padded with the pad token (EOS)."""
        texts = [input] if isinstance(input, str) else list(input)
        if not all(isinstance(t, str) for t in texts):
            raise Error("to_tokens: give a string or a list of strings")
        return self._m.to_tokens(texts, self._bos(prepend_bos))

    def to_string(self, tokens):
        """Ids -> text: [pos] (or one id) -> str, [batch, pos] -> list of str (BOS included as its
        text, as TransformerLens)."""
        ids = np.asarray(tokens)
        if ids.ndim == 0:
            ids = ids[None]
        if ids.ndim == 1:
            return self._m.decode(ids.tolist())
        if ids.ndim == 2:
            return [self._m.decode(row.tolist()) for row in ids]
        raise Error(f"to_string: tokens must be [pos] or [batch, pos], got shape {list(ids.shape)}")

    def to_str_tokens(self, input, prepend_bos=None):
        """Each token as text: a string (tokenized, BOS as to_tokens), ids [pos] or [1, pos]; a list
        of strings gives a list of lists."""
        if isinstance(input, str):
            return self._m.token_texts(self.to_tokens(input, prepend_bos)[0].tolist())
        if isinstance(input, (list, tuple)) and input and all(isinstance(t, str) for t in input):
            return [self.to_str_tokens(t, prepend_bos) for t in input]
        ids = np.asarray(input)
        if ids.ndim == 2 and ids.shape[0] == 1:
            ids = ids[0]
        if ids.ndim == 0:
            ids = ids[None]
        if ids.ndim != 1:
            raise Error(f"to_str_tokens: give one sequence ([pos] or [1, pos]), got shape {list(ids.shape)}")
        return self._m.token_texts(ids.tolist())

    def to_single_token(self, string):
        """The id of a string that is exactly one token."""
        tid = self._m.single_token(string)
        if tid < 0:
            raise Error(f"to_single_token: {string!r} is not a single token ({self.to_str_tokens(string, False)})")
        return tid

    def _as_tokens(self, input, prepend_bos):
        if isinstance(input, str) or (isinstance(input, (list, tuple)) and input and isinstance(input[0], str)):
            return self.to_tokens(input, prepend_bos)
        return np.asarray(input)

    # ---------------------------------------------------------------- hooks
    def hook_candidates(self):
        """The hook names a callable names_filter or fwd_hooks filter is matched against: every
        point of every layer, without the ones TransformerLens computes only on request
        (hook_result, hook_q/k/v_input: name those explicitly)."""
        if self._candidates is None:
            self._candidates = tuple(self._m.candidate_hook_names(False))
        return list(self._candidates)

    def hook_names(self):
        """Every hook point this model's forward visits, in forward order, hook_result and
        hook_q/k/v_input included (what ``circuitscan hooks MODEL`` lists)."""
        if self._hook_names is None:
            self._hook_names = self._m.hook_names()
        return list(self._hook_names)

    def _names(self, which):
        """A name or pattern, a list of them, or a callable filter -> (names, strict)."""
        if which is None:
            self.hook_candidates()
            return self._candidates, False
        if isinstance(which, str):
            which = [which]
        if callable(which):
            self.hook_candidates()
            return [n for n in self._candidates if which(n)], False
        names = []
        for n in which:
            if not isinstance(n, str):
                raise Error("names_filter: give a hook name, a list of hook names or a callable name -> bool")
            # '*', '?' and '[...]' match as `circuitscan run --cache` does ("blocks.*.attn.hook_z").
            names += self._m.match_hooks(n) if any(c in n for c in "*?[") else [n]
        return names, True

    def _hook_list(self, fwd_hooks):
        hooks = []
        for item in fwd_hooks:
            try:
                which, fn = item
            except (TypeError, ValueError):
                raise Error("fwd_hooks: give a list of (hook name or filter, function) pairs") from None
            if not callable(fn):
                raise Error(f"fwd_hooks: the function for {which!r} is not callable")
            names, _ = self._names(which)
            hooks += [(n, fn, HookName(n)) for n in names]
        return hooks

    def add_hook(self, name, hook):
        """Adds a hook (a name or a filter) that runs on every later forward until reset_hooks()."""
        self._hook_list([(name, hook)])  # checked now
        self._hooks.append((name, hook))

    def reset_hooks(self):
        self._hooks = []

    @contextmanager
    def hooks(self, fwd_hooks=(), reset_hooks_end=True):
        """``with model.hooks(fwd_hooks=[...]):`` the hooks run on every forward inside the block."""
        before = list(self._hooks)
        for name, fn in fwd_hooks:
            self.add_hook(name, fn)
        try:
            yield self
        finally:
            if reset_hooks_end:
                self._hooks = before

    # ---------------------------------------------------------------- forward
    def _run(self, input, cache_names, strict, fwd_hooks, return_type, prepend_bos):
        if return_type not in ("logits", "loss", "both", None):
            raise Error(f"return_type must be 'logits', 'loss', 'both' or None, got {return_type!r}")
        tokens = self._as_tokens(input, prepend_bos)
        hooks = self._hook_list(list(self._hooks) + list(fwd_hooks))
        logits, cache = self._m.run(tokens, cache_names, strict, hooks, "none" if return_type is None else "all")
        if return_type in ("loss", "both"):
            loss = _next_token_loss(logits, tokens)
            return (logits, loss) if return_type == "both" else loss, cache
        return logits, cache

    def __call__(self, input, return_type="logits", prepend_bos=None):
        """Text, a list of texts or ids [batch, pos] -> logits [batch, pos, d_vocab] (float32).
        return_type "loss" gives the mean next-token cross-entropy, "both" (logits, loss), None
        nothing (the unembedding is skipped)."""
        return self._run(input, [], False, (), return_type, prepend_bos)[0]

    forward = __call__

    def run_with_cache(self, input, names_filter=None, return_type="logits", prepend_bos=None, remove_batch_dim=False):
        """-> (logits, ActivationCache). names_filter: None (every point), a hook name or a pattern
        ("blocks.*.attn.hook_z"), a list of them, or a callable name -> bool. A name the model's
        forward never visits, or a pattern that matches none, is an error."""
        names, strict = self._names(names_filter)
        out, cache = self._run(input, names, strict, (), return_type, prepend_bos)
        cache = ActivationCache(cache)
        if remove_batch_dim:
            cache.remove_batch_dim()
        return out, cache

    def run_with_hooks(self, input, fwd_hooks=(), return_type="logits", prepend_bos=None, reset_hooks_end=True,
                       bwd_hooks=()):
        """-> logits, with fwd_hooks = [(name or filter, fn)] run on the way; fn(activation, hook)
        may edit the activation in place or return an array of its shape that replaces it."""
        if bwd_hooks:
            raise Error("run_with_hooks: backward hooks are not supported (the engine's gradients are internal)")
        out, _ = self._run(input, [], False, fwd_hooks, return_type, prepend_bos)
        if not reset_hooks_end:
            self._hooks += list(fwd_hooks)
        return out


def _next_token_loss(logits, tokens):
    """Mean cross-entropy of each next token, as TransformerLens's return_type="loss"."""
    tokens = np.asarray(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None]
    lg = logits[:, :-1].astype(np.float64)
    lg -= lg.max(axis=-1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
    return float(-picked.mean())
