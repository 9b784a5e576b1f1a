"""Optimiser, learning-rate schedule and checkpoint schedule of a training run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from transformer.config import TrainConfig


def checkpoint_schedule(total_steps: int, per_decade: int = 8, every: int = 0) -> list[int]:
    """Checkpoint steps: 0, log-spaced ``round(10**(k / per_decade))``, multiples of ``every``,
    and ``total_steps``."""
    steps = {0, int(total_steps)}
    k = 0
    while True:
        s = int(round(10 ** (k / per_decade)))
        if s > total_steps:
            break
        steps.add(s)
        k += 1
    if every:
        steps.update(range(every, total_steps, every))
    return sorted(steps)


def learning_rate(config: TrainConfig, count: jax.Array, total_steps: jax.Array) -> jax.Array:
    """The learning rate at optimiser step ``count`` (0-based), traceable.

    AdamW: a linear warmup ``lr * (count + 1) / warmup`` (:func:`optax.linear_schedule`), then a
    cosine from ``lr`` down to ``lr * final_lr_fraction`` at ``total_steps``
    (:func:`optax.cosine_decay_schedule`). SGD: constant ``lr``.

    ``total_steps`` is a traced value (a wall-clock budget fixes it after the compiled step is
    built), so the cosine is evaluated at the fraction of the decay done, ``(count + 1 - warmup) /
    (total_steps - warmup)``, on a schedule of one unit of decay.
    """
    peak = float(config.lr)
    if config.optimizer == "sgd":
        return jnp.float32(peak)
    n = count.astype(jnp.float32) + 1.0
    warm = max(config.warmup_steps, 1)
    ramp = optax.linear_schedule(0.0, peak, warm)(n)
    span = jnp.maximum(total_steps.astype(jnp.float32) - warm, 1.0)
    frac = jnp.clip((n - warm) / span, 0.0, 1.0)
    cosine = optax.cosine_decay_schedule(peak, decay_steps=1, alpha=config.final_lr_fraction)(frac)
    return jnp.where(n < warm, ramp, cosine).astype(jnp.float32)


def make_optimizer(config: TrainConfig, weight_decay: bool = True):
    """The optax transformation without the learning rate: gradient clipping, then Adam moments
    (``adamw``) or momentum (``sgd``), then AdamW's decoupled weight decay on matrices (``ndim >=
    2``). Apply ``params - learning_rate(...) * updates`` yourself (see :func:`learning_rate`).

    Args:
        config: the run's config.
        weight_decay: include the weight-decay term (the fused train step, which works on a flat
            parameter vector, adds it itself and passes False).
    """
    parts = []
    if config.grad_clip > 0:
        parts.append(optax.clip_by_global_norm(config.grad_clip))
    if config.optimizer == "adamw":
        parts.append(optax.scale_by_adam(b1=config.b1, b2=config.b2, eps=1e-8))
        if weight_decay and config.weight_decay > 0:
            parts.append(optax.add_decayed_weights(
                config.weight_decay,
                mask=lambda params: jax.tree_util.tree_map(lambda a: a.ndim >= 2, params)))
    elif config.momentum > 0:
        parts.append(optax.trace(decay=config.momentum))
    return optax.chain(*parts) if parts else optax.identity()


__all__ = ["checkpoint_schedule", "learning_rate", "make_optimizer"]
