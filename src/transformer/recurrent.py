"""Stacked recurrent networks (``lstm``, ``gru``, ``rnn``) behind the transformer's interface.

Riechers, Elliott & Shai (2025) train LSTMs, GRUs and vanilla (tanh) RNNs of 4 layers of width 64
beside transformers on the same processes; these are those networks::

    x^0_t = W_E[tokens_t]                                    hook_embed           (B, P, H)
    h^l_t = cell_l(x^l_t, h^l_{t-1}),  h^l_{-1} = 0          layers.{l}.hook_hidden (B, P, H)
    x^{l+1}_t = h^l_t
    logits_t = h^{L-1}_t W_U + b_U                                                 (B, P, V)

with ``H = d_hidden``. The cells follow the equations of ``flax.linen.SimpleCell``, ``LSTMCell`` and
``GRUCell``, with each cell's gate matrices merged into one input and one recurrent matrix (so the
input projections of all positions are one matmul outside the scan over time):

* ``rnn``:  ``h' = tanh(x W_x + h W_h + b)``.
* ``lstm``: ``[i, f, g, o] = x W_x + h W_h + b`` (columns in that order, ``H`` each);
  ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``, ``h' = sigmoid(o) * tanh(c')``; the carry is
  ``(c, h)`` and the hook records ``h``.
* ``gru``:  ``[r, z, n]`` columns; ``r = sigmoid(x W_xr + b_r + h W_hr)``,
  ``z = sigmoid(x W_xz + b_z + h W_hz)``, ``n = tanh(x W_xn + b_n + r * (h W_hn + b_hn))``,
  ``h' = (1 - z) * n + z * h``.

Parameters (a plain nested dict, float32)::

    W_E (d_vocab, H)             W_U (H, d_vocab), b_U (d_vocab,)
    layers_{l}/W_x (H, G H)      layers_{l}/W_h (H, G H)      layers_{l}/b (G H,)
    layers_{l}/b_hn (H,)         (gru only)

with ``G = config.GATES``: 1 (rnn), 4 (lstm), 3 (gru). Initialisation as flax's cells: ``W_x`` LeCun normal,
``W_h`` orthogonal, biases zero, except the LSTM's forget-gate bias at 1 (a common choice that
keeps early gradients alive over the context). ``W_E`` is standard normal (unit-variance inputs).

Each layer runs over time with one ``lax.scan`` (layer after layer: layer ``l + 1`` reads the whole
sequence of ``h^l``). Patches (see :class:`transformer.registry.Architecture`): ``delta[:, t]`` of
``layers.{l}.hook_hidden`` is added to ``h^l_t`` inside the scan, before it is recorded, read by
layer ``l + 1`` and carried to ``t + 1``; a patch of ``hook_embed`` is added to the embedding.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from transformer.config import RecurrentConfig

#: LSTM forget-gate bias at initialisation.
FORGET_BIAS = 1.0


def _rnn_step(W_h, b_hn, carry, xp):
    """``h' = tanh(xp + h W_h)``, ``xp = x W_x + b`` precomputed."""
    del b_hn
    h = jnp.tanh(xp + carry @ W_h)
    return h, h


def _lstm_step(W_h, b_hn, carry, xp):
    del b_hn
    c, h = carry
    i, f, g, o = jnp.split(xp + h @ W_h, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h


def _gru_step(W_h, b_hn, carry, xp):
    h = carry
    H = h.shape[-1]
    hp = h @ W_h
    r = jax.nn.sigmoid(xp[..., :H] + hp[..., :H])
    z = jax.nn.sigmoid(xp[..., H:2 * H] + hp[..., H:2 * H])
    n = jnp.tanh(xp[..., 2 * H:] + r * (hp[..., 2 * H:] + b_hn[None]))
    h = (1.0 - z) * n + z * h
    return h, h


_STEPS = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}


def _with_hidden(arch: str, carry, h):
    """The carry with its recorded part replaced by ``h`` (an LSTM's ``h``, not its ``c``)."""
    return (carry[0], h) if arch == "lstm" else h


def _zero_carry(arch: str, batch: int, width: int):
    zeros = jnp.zeros((batch, width), jnp.float32)
    return (zeros, zeros) if arch == "lstm" else zeros


def run_layer(arch: str, W_h: jax.Array, b_hn: jax.Array | None, xproj: jax.Array,
              delta: jax.Array | None) -> jax.Array:
    """One recurrent layer over time with ``lax.scan``.

    Args:
        arch: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        W_h: ``(H, G H)`` recurrent matrix.
        b_hn: ``(H,)`` the GRU's recurrent bias of ``n`` (ignored by the others).
        xproj: ``(B, P, G H)`` input projections ``x W_x + b``.
        delta: ``(B, P, H)`` additive patch of the hidden states, or None.

    Returns:
        ``(B, P, H)`` hidden states ``h_t`` (patched).
    """
    B, P, _ = xproj.shape
    H = W_h.shape[0]
    step = _STEPS[arch]

    if delta is None:
        def body(carry, xp):
            return step(W_h, b_hn, carry, xp)
        xs = xproj.transpose(1, 0, 2)
    else:
        def body(carry, inputs):
            xp, d = inputs
            carry, h = step(W_h, b_hn, carry, xp)
            h = h + d
            return _with_hidden(arch, carry, h), h
        xs = (xproj.transpose(1, 0, 2), delta.transpose(1, 0, 2))
    _, hidden = jax.lax.scan(body, _zero_carry(arch, B, H), xs)
    return hidden.transpose(1, 0, 2)


def _lstm_bias_init(key, shape, dtype=jnp.float32):
    del key
    H = shape[0] // 4
    return jnp.zeros(shape, dtype).at[H:2 * H].set(FORGET_BIAS)


class RecurrentNetwork(nn.Module):
    """``__call__(tokens (B, P), patches=None) -> (logits (B, P, d_vocab), cache)``; see the module
    docstring. ``cache`` holds ``hook_embed`` and ``layers.{l}.hook_hidden``, each ``(B, P, H)``.

    Attributes:
        cfg: a :class:`transformer.config.RecurrentConfig` (its ``arch`` picks the cell).
    """

    cfg: RecurrentConfig

    @nn.compact
    def __call__(self, tokens: jax.Array,
                 patches: dict[str, jax.Array] | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        cfg = self.cfg
        patches = patches or {}
        arch, H, G = cfg.arch, cfg.d_hidden, cfg.GATES
        W_E = self.param("W_E", nn.initializers.normal(1.0), (cfg.d_vocab, H))
        x = jnp.take(W_E, tokens, axis=0)
        if "hook_embed" in patches:
            x = x + patches["hook_embed"]
        cache = {"hook_embed": x}
        for layer in range(cfg.n_layers):
            x = RecurrentLayer(arch, H, G, name=f"layers_{layer}")(
                x, patches.get(f"layers.{layer}.hook_hidden"))
            cache[f"layers.{layer}.hook_hidden"] = x
        W_U = self.param("W_U", nn.initializers.lecun_normal(), (H, cfg.d_vocab))
        b_U = self.param("b_U", nn.initializers.zeros, (cfg.d_vocab,))
        return x @ W_U + b_U[None, None], cache


class RecurrentLayer(nn.Module):
    """One stacked layer: ``(B, P, d_in) -> (B, P, H)`` hidden states (see :func:`run_layer`)."""

    arch: str
    d_hidden: int
    gates: int

    @nn.compact
    def __call__(self, x: jax.Array, delta: jax.Array | None) -> jax.Array:
        H, GH = self.d_hidden, self.gates * self.d_hidden
        W_x = self.param("W_x", nn.initializers.lecun_normal(), (x.shape[-1], GH))
        W_h = self.param("W_h", nn.initializers.orthogonal(), (H, GH))
        b = self.param("b", _lstm_bias_init if self.arch == "lstm" else nn.initializers.zeros,
                       (GH,))
        b_hn = self.param("b_hn", nn.initializers.zeros, (H,)) if self.arch == "gru" else None
        return run_layer(self.arch, W_h, b_hn, x @ W_x + b[None, None], delta)


# ------------------------------------------------------------------------------------ hooks
def hook_names(model_config: RecurrentConfig) -> list[str]:
    """``hook_embed`` then every layer's hidden state, in forward order."""
    return ["hook_embed"] + [f"layers.{l}.hook_hidden" for l in range(model_config.n_layers)]


def last_hook(model_config: RecurrentConfig) -> str:
    """The headline probe site: the last layer's hidden state (what the read-out sees)."""
    return f"layers.{model_config.n_layers - 1}.hook_hidden"



__all__ = ["RecurrentLayer", "RecurrentNetwork", "hook_names", "last_hook",
           "run_layer"]
