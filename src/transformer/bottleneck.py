"""The paper's transformer with a linear bottleneck after its last block (arch ``linear_bottleneck``).

::

    resid  = Transformer blocks (as :mod:`transformer.model`)       blocks.{l}.hook_resid_*
    z      = resid_post_last W_down + b_down        (B, P, width)   bottleneck.hook_z
    logits = LN(z W_up + b_up) W_out + b_out                        bottleneck.hook_readout

Everything the network predicts passes through ``z``. For ``width = 1`` the read-out
``LN(z W_up + b_up)`` traces an arc (a half circle in the plane of ``W_up`` and ``b_up``, centred), so
the predictions the network can make form a 1-D curve of next-token distributions parametrised by
``z``. ``b_up`` is initialised at random (std 1): with ``b_up = 0`` the read-out would be ``sign(z)``
(LayerNorm of a rank-1 input) and ``z`` would get no gradient. The base model's own final LayerNorm
and unembedding stay in the parameters, unused (as in the experiment this variant was built for).

Parameters: ``base`` (the transformer's tree), ``down``, ``up``, ``ln_out``, ``unembed``.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from transformer import model as transformer_model
from transformer.config import LinearBottleneckConfig
from transformer.model import LayerNorm, Transformer


class LinearBottleneckTransformer(nn.Module):
    """``__call__(tokens (B, P), patches=None) -> (logits (B, P, d_vocab), cache)``; see the module
    docstring. ``patches`` as in :class:`transformer.model.Transformer`, for every hook of
    :func:`hook_names` (``bottleneck.hook_z`` and ``bottleneck.hook_readout`` included)."""

    cfg: LinearBottleneckConfig

    @nn.compact
    def __call__(self, tokens: jax.Array,
                 patches: dict[str, jax.Array] | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        cfg = self.cfg
        patches = patches or {}
        base_patches = {k: v for k, v in patches.items() if not k.startswith("bottleneck.")}
        _, base_cache = Transformer(cfg, name="base")(tokens, base_patches)
        resid = base_cache[transformer_model.last_hook(cfg)]
        z = nn.Dense(cfg.bottleneck_width, name="down")(resid)
        if "bottleneck.hook_z" in patches:
            z = z + patches["bottleneck.hook_z"]
        readout = LayerNorm(cfg.d_model, name="ln_out")(
            nn.Dense(cfg.d_model, name="up", bias_init=nn.initializers.normal(1.0))(z))
        if "bottleneck.hook_readout" in patches:
            readout = readout + patches["bottleneck.hook_readout"]
        logits = nn.Dense(cfg.d_vocab, name="unembed")(readout)
        cache = {name: base_cache[name] for name in transformer_model.hook_names(cfg)
                 if name != "ln_final.hook_normalized"}
        cache["bottleneck.hook_z"] = z
        cache["bottleneck.hook_readout"] = readout
        return logits, cache


def hook_names(model_config: LinearBottleneckConfig) -> list[str]:
    """The transformer's hooks (without its unused final LayerNorm), then ``z`` and the read-out."""
    names = [h for h in transformer_model.hook_names(model_config) if h != "ln_final.hook_normalized"]
    return names + ["bottleneck.hook_z", "bottleneck.hook_readout"]


def probe_hooks(model_config: LinearBottleneckConfig) -> list[str]:
    """The per-layer probe grid: the residual stream at each block, then the bottleneck ``z``."""
    return transformer_model.residual_hooks(model_config) + ["bottleneck.hook_z"]


def last_hook(model_config: LinearBottleneckConfig) -> str:  # noqa: ARG001 - one signature for all
    """The headline probe site: the bottleneck coordinates ``z``."""
    return "bottleneck.hook_z"



__all__ = ["LinearBottleneckTransformer", "hook_names", "last_hook", "probe_hooks"]
