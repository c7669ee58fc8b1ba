"""Hook-name helpers with TransformerLens's spelling (``utils.get_act_name("z", 0)``)."""

__all__ = ["get_act_name"]

# As TransformerLens's utils.get_act_name: short names and their aliases.
_ALIASES = {"attn": "pattern", "attn_logits": "attn_scores", "key": "k", "query": "q", "value": "v",
            "mlp_pre": "pre", "mlp_post": "post"}
_LAYER_TYPES = {"a": "attn", "m": "mlp", "b": "", "block": "", "blocks": "", "attention": "attn"}
_ATTN = {"q", "k", "v", "z", "result", "pattern", "attn_scores"}
_MLP = {"pre", "post"}


def get_act_name(name, layer=None, layer_type=None):
    """The full hook name for a short one: ``("z", 3)`` -> ``"blocks.3.attn.hook_z"``,
    ``("resid_pre", 0)`` -> ``"blocks.0.hook_resid_pre"``, ``"embed"`` -> ``"hook_embed"``,
    ``("normalized", 2, "ln1")`` -> ``"blocks.2.ln1.hook_normalized"``,
    ``("normalized", None, "ln_final")`` -> ``"ln_final.hook_normalized"``. A full name is returned
    as it is."""
    if "." in name or name.startswith("hook_"):
        return name
    name = _ALIASES.get(name, name)
    if layer_type is not None:
        layer_type = _LAYER_TYPES.get(layer_type, layer_type)
    if layer is None:
        if name == "normalized" and layer_type in (None, "ln_final"):
            return "ln_final.hook_normalized"
        return f"hook_{name}"
    if name in _ATTN:
        layer_type = "attn"
    elif name in _MLP:
        layer_type = "mlp"
    prefix = f"blocks.{int(layer)}."
    if layer_type:
        prefix += layer_type + "."
    return prefix + f"hook_{name}"
