"""Decoder-only transformer in Flax with a residual-stream cache (TransformerLens hook names).

Architecture (pre-LayerNorm, as in TransformerLens' ``normalization_type="LN"``)::

    resid_pre_0  = W_E[tokens] + W_pos[:P]                       hook_embed + hook_pos_embed
    resid_mid_l  = resid_pre_l + Attn_l(LN1_l(resid_pre_l))      causal, merged QKV projection
    resid_post_l = resid_mid_l + MLP_l(LN2_l(resid_mid_l))       W_out act(W_in x + b_in) + b_out
    resid_pre_{l+1} = resid_post_l
    logits = LN_final(resid_post_{L-1}) W_U + b_U

All arrays are float32. Shapes: ``tokens (B, P)`` int with ``P <= n_ctx``; every cache entry is
``(B, P, d_model)``; logits are ``(B, P, d_vocab)``. Position ``t`` only sees tokens ``0..t``.

Parameters are a plain nested dict (a Flax ``params`` collection)::

    W_E (d_vocab, d_model)                W_pos (n_ctx, d_model)
    blocks_{l}/ln1/{w, b} (d_model,)      blocks_{l}/attn/W_QKV (d_model, 3 * n_heads * d_head)
    blocks_{l}/attn/b_QKV (3 * n_heads * d_head,)
    blocks_{l}/attn/W_O (n_heads * d_head, d_model), b_O (d_model,)
    blocks_{l}/ln2/{w, b}                 blocks_{l}/mlp/W_in (d_model, d_mlp), b_in, W_out, b_out
    ln_final/{w, b}                       W_U (d_model, d_vocab), b_U (d_vocab,)

The QKV projection's output columns are ``[q heads | k heads | v heads]``, each ``n_heads * d_head``
wide, head-major.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from transformer.config import ModelConfig

#: LayerNorm epsilon (TransformerLens default).
LN_EPS = 1e-5
#: Standard deviation of the token and position embeddings at initialisation.
EMBED_INIT_STD = 0.02
#: Additive mask for future positions (finite so that softmax never sees ``-inf - -inf``).
MASK_VALUE = -1e30


def _row(v: jax.Array, ndim: int) -> jax.Array:
    """Reshape a ``(n,)`` vector to broadcast against the last axis of a rank-``ndim`` array."""
    return v.reshape((1,) * (ndim - 1) + (-1,))


def _activation(name: str):
    if name == "relu":
        return jax.nn.relu
    if name == "gelu":
        return functools.partial(jax.nn.gelu, approximate=False)
    if name == "gelu_new":
        return functools.partial(jax.nn.gelu, approximate=True)
    if name == "silu":
        return jax.nn.silu
    raise ValueError(f"unknown act_fn {name!r}")


class LayerNorm(nn.Module):
    """LayerNorm over the last axis with a learned scale ``w`` and bias ``b``."""

    d_model: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.param("w", nn.initializers.ones, (self.d_model,))
        b = self.param("b", nn.initializers.zeros, (self.d_model,))
        mean = x.mean(-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(-1, keepdims=True)
        normed = centred * jax.lax.rsqrt(var + LN_EPS)
        return normed * _row(w, x.ndim) + _row(b, x.ndim)


class Attention(nn.Module):
    """Causal multi-head self-attention with one merged ``W_QKV`` projection."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x: jax.Array, batch_shape: tuple[int, int]) -> jax.Array:
        cfg = self.cfg
        B, P = batch_shape
        D = x.shape[-1]
        H, dh = cfg.n_heads, cfg.d_head
        W_QKV = self.param("W_QKV", nn.initializers.lecun_normal(), (D, 3 * H * dh))
        b_QKV = self.param("b_QKV", nn.initializers.zeros, (3 * H * dh,))
        out_std = 1.0 / math.sqrt(H * dh) / math.sqrt(2 * cfg.n_layers)
        W_O = self.param("W_O", nn.initializers.normal(out_std), (H * dh, D))
        b_O = self.param("b_O", nn.initializers.zeros, (D,))
        qkv = (x @ W_QKV + _row(b_QKV, 2)).reshape(B, P, 3, H, dh)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * (1.0 / math.sqrt(dh))
        causal = jnp.tril(jnp.ones((P, P), dtype=bool))[None, None]
        scores = jnp.where(causal, scores, MASK_VALUE)
        pattern = jax.nn.softmax(scores, axis=-1)
        # (B, H, P, P); kept only when the "intermediates" collection is mutable (see
        # attention_patterns), so the cache contract and the compiled forward pass are unchanged.
        self.sow("intermediates", "pattern", pattern)
        z = jnp.einsum("bhqk,bkhd->bqhd", pattern, v).reshape(B * P, H * dh)
        return z @ W_O + _row(b_O, 2)


class MLP(nn.Module):
    """``W_out act(W_in x + b_in) + b_out``."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.cfg
        D, M = cfg.d_model, cfg.d_mlp
        W_in = self.param("W_in", nn.initializers.lecun_normal(), (D, M))
        b_in = self.param("b_in", nn.initializers.zeros, (M,))
        out_std = 1.0 / math.sqrt(M) / math.sqrt(2 * cfg.n_layers)
        W_out = self.param("W_out", nn.initializers.normal(out_std), (M, D))
        b_out = self.param("b_out", nn.initializers.zeros, (D,))
        hidden = _activation(cfg.act_fn)(x @ W_in + _row(b_in, x.ndim))
        return hidden @ W_out + _row(b_out, x.ndim)


class Block(nn.Module):
    """Pre-LayerNorm transformer block on ``(B * P, d_model)`` rows; returns
    ``(resid_mid, resid_post)``."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, resid_pre: jax.Array, batch_shape: tuple[int, int],
                 mid_patch: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        resid_mid = resid_pre + Attention(self.cfg, name="attn")(
            LayerNorm(self.cfg.d_model, name="ln1")(resid_pre), batch_shape)
        if mid_patch is not None:
            resid_mid = resid_mid + mid_patch
        resid_post = resid_mid + MLP(self.cfg, name="mlp")(
            LayerNorm(self.cfg.d_model, name="ln2")(resid_mid))
        return resid_mid, resid_post


class Transformer(nn.Module):
    """The whole model; ``__call__(tokens, patches=None) -> (logits, cache)``.

    ``patches`` (optional) maps hook names to additive changes ``(B, P, d_model)``: each is added to
    the activation where that hook is recorded, the cache records the patched value, and the rest of
    the network runs from it (``blocks.{l}.hook_resid_post`` and ``blocks.{l+1}.hook_resid_pre``
    are one point of the stream: a patch of the first reaches the second, and a patch of the second
    is added on top). Without patches the computation is the plain forward pass.

    Attributes:
        cfg: the :class:`ModelConfig`.
    """

    cfg: ModelConfig

    @nn.compact
    def __call__(self, tokens: jax.Array,
                 patches: dict[str, jax.Array] | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        cfg = self.cfg
        patches = patches or {}
        B, P = tokens.shape
        W_E = self.param("W_E", nn.initializers.normal(EMBED_INIT_STD), (cfg.d_vocab, cfg.d_model))
        W_pos = self.param("W_pos", nn.initializers.normal(EMBED_INIT_STD), (cfg.n_ctx, cfg.d_model))
        W_U = self.param("W_U", nn.initializers.lecun_normal(), (cfg.d_model, cfg.d_vocab))
        b_U = self.param("b_U", nn.initializers.zeros, (cfg.d_vocab,))
        D = cfg.d_model
        # The residual stream is computed on (B * P, D) rows: XLA's CPU matmuls and their
        # gradients run faster on 2-D operands than on (B, P, D) ones.
        cache: dict[str, jax.Array] = {}
        unflat = lambda a: a.reshape(B, P, D)  # noqa: E731

        def hook(name: str, value: jax.Array) -> jax.Array:
            """Record ``value`` (rows or (B, P, D)) under ``name``, with its patch added."""
            if name in patches:
                value = value + patches[name].reshape(value.shape)
            cache[name] = unflat(value)
            return value

        embed = hook("hook_embed", jnp.take(W_E, tokens, axis=0))  # (B, P, D)
        pos = hook("hook_pos_embed", jnp.broadcast_to(W_pos[None, :P], (B, P, D)))
        resid = (embed + pos).reshape(B * P, D)
        for layer in range(cfg.n_layers):
            resid = hook(f"blocks.{layer}.hook_resid_pre", resid)
            mid_name = f"blocks.{layer}.hook_resid_mid"
            mid_patch = patches[mid_name].reshape(B * P, D) if mid_name in patches else None
            resid_mid, resid = Block(cfg, name=f"blocks_{layer}")(resid, (B, P), mid_patch)
            cache[mid_name] = unflat(resid_mid)
            resid = hook(f"blocks.{layer}.hook_resid_post", resid)
        normalized = hook("ln_final.hook_normalized",
                          LayerNorm(cfg.d_model, name="ln_final")(resid))
        logits = normalized @ W_U + _row(b_U, 2)
        return logits.reshape(B, P, cfg.d_vocab), cache


def hook_names(model_config: ModelConfig) -> list[str]:
    """Every cache key of the transformer, in the order of the forward pass."""
    names = ["hook_embed", "hook_pos_embed"]
    for layer in range(model_config.n_layers):
        names += [f"blocks.{layer}.hook_resid_{k}" for k in ("pre", "mid", "post")]
    return names + ["ln_final.hook_normalized"]


def residual_hooks(model_config: ModelConfig) -> list[str]:
    """The residual stream at the embedding and after each block (what ``concat`` joins)."""
    return ["blocks.0.hook_resid_pre"] + [
        f"blocks.{layer}.hook_resid_post" for layer in range(model_config.n_layers)
    ]


def probe_hooks(model_config: ModelConfig) -> list[str]:
    """The per-layer probe grid: embedding, each block's output, the final LayerNorm."""
    return residual_hooks(model_config) + ["ln_final.hook_normalized"]


def last_hook(model_config: ModelConfig) -> str:
    """The paper's probe site: the last block's output, before the final LayerNorm."""
    return f"blocks.{model_config.n_layers - 1}.hook_resid_post"



__all__ = [
    "Attention",
    "Block",
    "LayerNorm",
    "MLP",
    "Transformer",
    "hook_names",
    "last_hook",
    "probe_hooks",
    "residual_hooks",
]
