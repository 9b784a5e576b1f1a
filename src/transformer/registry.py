"""The model registry: every architecture behind one interface, so that one training loop, one
activation collector and one probe serve them all.

An :class:`Architecture` names a Flax module whose ``__call__(tokens (B, P)) -> (logits (B, P, V),
cache)`` returns the logits and a dict of named activations (hooks), each ``(B, P, width)``; and the
hook lists the probe needs. Model configs carry their architecture's name (``config.arch``), so the
generic functions below dispatch on the config alone:

* :func:`init_params` / :func:`run_with_cache` / :func:`forward` / :func:`token_losses`;
* :func:`hook_names` (every cache key), :func:`residual_hooks` (the streams the ``concat`` probe
  joins), :func:`probe_hooks` (the per-layer probe grid), :func:`last_hook` (the headline probe
  site); :func:`hook_label` (a short human label of any architecture's hook, the one such helper);
* :func:`run_with_patches` (the forward pass with additive changes at hooks, for interventions;
  architectures that declare ``patch_hooks``) and :func:`attention_patterns` (the softmax patterns
  of every attention layer, for models that have them).

Registered: ``transformer`` (:mod:`transformer.model`, the paper's model), ``linear_bottleneck``
(:mod:`transformer.bottleneck`), and the recurrent ``lstm``, ``gru`` and ``rnn``
(:mod:`transformer.recurrent`; hooks ``hook_embed`` and ``layers.{l}.hook_hidden``, all patchable).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from transformer import bottleneck as bottleneck_model
from transformer import model as transformer_model
from transformer import recurrent as recurrent_model
from transformer.config import MODEL_CONFIGS, RECURRENT_CONFIGS


@dataclass(frozen=True)
class Architecture:
    """One registered model family.

    Attributes:
        name: the registry name (``config.arch``).
        module: ``config -> flax.linen.Module`` with ``__call__(tokens) -> (logits, cache)``.
        hook_names: ``config -> [hook]``, every cache key in forward order.
        residual_hooks: ``config -> [hook]``, the streams the ``concat`` probe joins.
        probe_hooks: ``config -> [hook]``, the per-layer probe grid.
        last_hook: ``config -> hook``, the headline probe site.
        patch_hooks: ``config -> [hook]``, the hooks at which ``module(config)`` accepts additive
            patches, ``__call__(tokens, patches={hook: (B, P, width) delta})``: each delta is added
            to the activation where the hook is recorded and the rest of the network runs from the
            patched value (see :func:`run_with_patches`); ``None``: the model takes no patches.

    The patch contract a module meets to declare ``patch_hooks`` (what ``compmech intervene``
    relies on): ``patches`` defaults to ``None`` and an absent hook changes nothing, so that
    ``__call__(tokens)`` is the plain forward pass and a zero patch reproduces it; the cache holds
    the patched value; and everything computed from the hook's activation uses the patched value.
    For a recurrent model with hidden states ``h^l_t`` recorded as ``layers.{l}.hook_hidden``, the
    patch ``delta[:, t]`` is added to ``h^l_t`` before it is recorded, before layer ``l + 1`` reads
    it at time ``t`` and before the recurrence carries it to ``t + 1`` (inside a ``lax.scan`` over
    time: pass the patches, transposed to ``(P, B, width)``, among the scanned inputs and add
    ``delta_t`` to the new carry); a state carried in several parts (an LSTM's ``(h, c)``) is
    patched in the parts its hook records. Outputs before ``t`` are then untouched (causality).
    """

    name: str
    module: Callable[[Any], nn.Module]
    hook_names: Callable[[Any], list[str]]
    residual_hooks: Callable[[Any], list[str]]
    probe_hooks: Callable[[Any], list[str]]
    last_hook: Callable[[Any], str]
    patch_hooks: Callable[[Any], list[str]] | None = None


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add an architecture (its config class must be in :data:`transformer.config.MODEL_CONFIGS`)."""
    if arch.name not in MODEL_CONFIGS:
        raise ValueError(f"architecture {arch.name!r} has no config class in MODEL_CONFIGS")
    ARCHITECTURES[arch.name] = arch
    return arch


register(Architecture(
    "transformer", transformer_model.Transformer, transformer_model.hook_names,
    transformer_model.residual_hooks, transformer_model.probe_hooks, transformer_model.last_hook,
    patch_hooks=transformer_model.hook_names))
register(Architecture(
    "linear_bottleneck", bottleneck_model.LinearBottleneckTransformer, bottleneck_model.hook_names,
    transformer_model.residual_hooks, bottleneck_model.probe_hooks, bottleneck_model.last_hook,
    patch_hooks=bottleneck_model.hook_names))
for _name in RECURRENT_CONFIGS:
    register(Architecture(
        _name, recurrent_model.RecurrentNetwork, recurrent_model.hook_names,
        recurrent_model.hook_names, recurrent_model.hook_names, recurrent_model.last_hook,
        patch_hooks=recurrent_model.hook_names))


def architecture(model_config) -> Architecture:
    """The :class:`Architecture` of a model config (by ``model_config.arch``)."""
    name = getattr(model_config, "arch", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model arch {name!r}; registered: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


# ----------------------------------------------------------------------------------- hooks
def hook_names(model_config) -> list[str]:
    """Every cache key of :func:`run_with_cache`, in the order of the forward pass."""
    return architecture(model_config).hook_names(model_config)


def residual_hooks(model_config) -> list[str]:
    """The activations the ``concat`` probe joins (embedding and each layer's output)."""
    return architecture(model_config).residual_hooks(model_config)


def probe_hooks(model_config) -> list[str]:
    """The per-layer probe grid of the architecture."""
    return architecture(model_config).probe_hooks(model_config)


def last_hook(model_config) -> str:
    """The headline probe site (for the transformer: the paper's last block output)."""
    return architecture(model_config).last_hook(model_config)


#: The pseudo-hook of the probe that joins every residual stream (:func:`residual_hooks`).
CONCAT = "concat"
#: ``(pattern, label)`` of every registered architecture's hooks, first match wins; ``{l}`` is the
#: layer index plus one.
_HOOK_LABELS = (
    (re.compile(r"blocks\.0\.hook_resid_pre"), "embedding"),
    (re.compile(r"blocks\.(\d+)\.hook_resid_post"), "block {l} output"),
    (re.compile(r"ln_final\.hook_normalized"), "final LayerNorm"),
    (re.compile(r"hook_embed"), "embedding"),
    (re.compile(r"layers\.(\d+)\.hook_hidden"), "layer {l} hidden"),
    (re.compile(r"bottleneck\.hook_z"), "bottleneck z"),
    (re.compile(r"bottleneck\.hook_readout"), "bottleneck read-out"),
    (re.compile(re.escape(CONCAT)), "all layers (concatenated)"),
)


def hook_label(name: str, *, short: bool = False) -> str:
    """A human label for a hook of any registered architecture (hook names do not collide across
    architectures, so the name alone decides).

    ``"blocks.0.hook_resid_pre" -> "embedding"``, ``"blocks.3.hook_resid_post" -> "block 4
    output"``, ``"ln_final.hook_normalized" -> "final LayerNorm"``, ``"hook_embed" ->
    "embedding"``, ``"layers.2.hook_hidden" -> "layer 3 hidden"``, ``"bottleneck.hook_z" ->
    "bottleneck z"``, :data:`CONCAT` ``-> "all layers (concatenated)"``; any other name unchanged.

    Args:
        name: the hook (a cache key, or :data:`CONCAT`).
        short: the compact form for table cells instead: ``"blocks.3.hook_resid_post" ->
            "resid_post@3"`` (other names unchanged).
    """
    if short:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "blocks":
            return f"{parts[2].removeprefix('hook_')}@{parts[1]}"
        return name
    for pattern, label in _HOOK_LABELS:
        m = pattern.fullmatch(name)
        if m:
            return label.format(l=int(m.group(1)) + 1) if m.groups() else label
    return name


# ----------------------------------------------------------------------------------- apply
def _as_key(key_or_seed) -> jax.Array:
    if isinstance(key_or_seed, bool):
        raise ValueError("key_or_seed must be an integer seed or a JAX key")
    if isinstance(key_or_seed, int | np.integer):
        return jax.random.key(int(key_or_seed))
    if isinstance(key_or_seed, jax.Array):
        return key_or_seed
    raise ValueError(f"key_or_seed must be an integer seed or a JAX key; got {type(key_or_seed)}")


def init_params(model_config, key_or_seed) -> dict:
    """Initial parameters (float32) of any registered model, a nested dict.

    Args:
        model_config: the model config.
        key_or_seed: an integer seed or a JAX PRNG key.
    """
    return _init_jit(model_config, _as_key(key_or_seed))


@functools.partial(jax.jit, static_argnums=0)
def _init_jit(model_config, key: jax.Array) -> dict:
    dummy = jnp.zeros((1, model_config.n_ctx), dtype=jnp.int32)
    variables = architecture(model_config).module(model_config).init(key, dummy)
    return jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), variables["params"])


def run_with_cache(params, model_config, tokens) -> tuple[jax.Array, dict]:
    """Forward pass returning the logits and every hook's activations.

    Compiled once per (config, shape); also traceable inside another ``jax.jit``, where only the
    outputs used are computed.

    Args:
        params: from :func:`init_params` or a checkpoint.
        model_config: the model config.
        tokens: ``(B, P)`` integers in ``[0, d_vocab)``, ``P <= n_ctx``.

    Returns:
        ``(logits (B, P, d_vocab), cache)`` where ``cache`` maps each name of :func:`hook_names`
        to a ``(B, P, width)`` float32 array.
    """
    logits, cache = _run_with_cache_jit(params, model_config, jnp.asarray(tokens))
    return logits, {name: cache[name] for name in hook_names(model_config)}


@functools.partial(jax.jit, static_argnums=1)
def _run_with_cache_jit(params, model_config, tokens):
    return architecture(model_config).module(model_config).apply({"params": params}, tokens)


@functools.partial(jax.jit, static_argnums=1)
def forward(params, model_config, tokens) -> jax.Array:
    """Logits ``(B, P, d_vocab)`` for ``tokens (B, P)``; see :func:`run_with_cache`."""
    return run_with_cache(params, model_config, tokens)[0]


def token_losses(params, model_config, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-token cross-entropy in nats, ``-log softmax(logits)[target]``.

    Args:
        inputs: ``(B, P)`` input tokens.
        targets: ``(B, P)`` next tokens.

    Returns:
        ``(B, P)`` float32 losses.
    """
    logits = forward(params, model_config, inputs)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


# ---------------------------------------------------------------------------- interventions
def patch_hooks(model_config) -> list[str]:
    """The hooks :func:`run_with_patches` accepts for this model (``[]`` when it takes none)."""
    fn = architecture(model_config).patch_hooks
    return [] if fn is None else fn(model_config)


def _check_patches(model_config, tokens: jax.Array, patches) -> dict[str, jax.Array]:
    valid = patch_hooks(model_config)
    if not valid:
        raise ValueError(f"architecture {model_config.arch!r} does not support patches")
    unknown = sorted(set(patches) - set(valid))
    if unknown:
        raise ValueError(f"cannot patch hooks {unknown}; patchable hooks are {valid}")
    widths = dict(_hook_widths_cached(model_config))
    out = {}
    for name, delta in patches.items():
        delta = jnp.asarray(delta, jnp.float32)
        want = (*tokens.shape, widths[name])
        if delta.shape != want:
            raise ValueError(f"patch of {name} has shape {delta.shape}; expected {want} "
                             "(batch, positions, width)")
        out[name] = delta
    return out


def run_with_patches(params, model_config, tokens, patches: dict) -> tuple[jax.Array, dict]:
    """Forward pass with additive changes at hooks; the rest of the network runs from them.

    ``patches[hook]`` is added to the activation where ``hook`` is recorded; the cache holds the
    patched values and every later computation uses them (the intervention of "move the residual
    stream at a hook, run the rest of the network"). A zero patch reproduces
    :func:`run_with_cache`.

    Args:
        params: model parameters.
        model_config: the model config (its architecture must declare ``patch_hooks``).
        tokens: ``(B, P)`` integers.
        patches: ``{hook: (B, P, width) delta}`` for hooks of :func:`patch_hooks`.

    Returns:
        ``(logits (B, P, d_vocab), cache)`` as :func:`run_with_cache`.
    """
    tokens = jnp.asarray(tokens)
    patches = _check_patches(model_config, tokens, patches)
    logits, cache = _run_with_patches_jit(params, model_config, tokens, patches)
    return logits, {name: cache[name] for name in hook_names(model_config)}


@functools.partial(jax.jit, static_argnums=1)
def _run_with_patches_jit(params, model_config, tokens, patches):
    return architecture(model_config).module(model_config).apply({"params": params}, tokens, patches)


def attention_patterns(params, model_config, tokens) -> dict[int, jax.Array]:
    """The softmax attention pattern of every attention layer.

    A module exposes a pattern by ``self.sow("intermediates", "pattern", pattern)`` in a submodule
    named ``attn`` under one named ``blocks_{layer}`` (as :class:`transformer.model.Attention`);
    nothing is kept in ordinary forward passes.

    Args:
        params: model parameters.
        model_config: the model config.
        tokens: ``(B, P)`` integers.

    Returns:
        ``{layer: (B, n_heads, P, P) float32}``; entry ``[b, h, t, s]`` is the weight position
        ``t`` gives position ``s <= t`` (rows sum to 1; zero above the diagonal).

    Raises:
        ValueError: the model has no attention layers.
    """
    found = _attention_patterns_jit(params, model_config, jnp.asarray(tokens))
    if not found:
        raise ValueError(f"architecture {model_config.arch!r} has no attention patterns")
    return dict(sorted(found.items()))


@functools.partial(jax.jit, static_argnums=1)
def _attention_patterns_jit(params, model_config, tokens) -> dict[int, jax.Array]:
    module = architecture(model_config).module(model_config)
    _, state = module.apply({"params": params}, tokens, mutable=["intermediates"])
    flat = traverse_util.flatten_dict(state.get("intermediates", {}))
    out = {}
    for path, value in flat.items():
        blocks = [p for p in path if isinstance(p, str) and p.startswith("blocks_")]
        if len(path) >= 2 and path[-2:] == ("attn", "pattern") and blocks:
            out[int(blocks[-1].split("_")[1])] = value[0] if isinstance(value, tuple) else value
    return out


@functools.lru_cache(maxsize=64)
def _hook_widths_cached(model_config) -> tuple[tuple[str, int], ...]:
    return tuple(hook_widths(model_config).items())


def hook_widths(model_config) -> dict[str, int]:
    """``{hook: width}`` of every hook (from shapes alone; nothing is computed)."""
    params = jax.eval_shape(lambda: init_params(model_config, 0))
    tokens = jax.ShapeDtypeStruct((1, model_config.n_ctx), jnp.int32)
    _, cache = jax.eval_shape(lambda p, t: run_with_cache(p, model_config, t), params, tokens)
    return {name: int(a.shape[-1]) for name, a in cache.items()}


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "architecture",
    "attention_patterns",
    "forward",
    "hook_label",
    "hook_names",
    "hook_widths",
    "init_params",
    "last_hook",
    "patch_hooks",
    "probe_hooks",
    "register",
    "residual_hooks",
    "run_with_cache",
    "run_with_patches",
    "token_losses",
]
