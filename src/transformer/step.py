"""The compiled multi-step train function and the compiled exact evaluation.

Design (why it is fast and resumable):

* Data are drawn inside the compiled step from ``fold_in(data_key, step)`` with the float32
  sampler :func:`compmech.inference.sample_jax`, so no host work or transfer per step.
* ``steps_per_call`` optimiser steps run in one ``lax.scan`` per dispatch; each step is wrapped in
  ``lax.cond(step < stop, ...)``, so one compiled function serves every chunk length and the
  result of step ``s`` depends only on the state and ``s`` (not on how steps were grouped): an
  interrupted and resumed run gives bitwise the same parameters as an uninterrupted one.
* The train state buffers are donated; the host synchronises once per call (a few-byte flag) and
  fetches losses only when it logs.
* A non-finite loss or gradient leaves the parameters at the last good values and flags the step.
* Data parallelism: the batch axis of the sampled data is sharded over a 1-D ``jax.sharding.Mesh``
  of all local (or, after ``jax.distributed.initialize()``, global) devices; parameters and
  optimiser state are replicated; XLA inserts the gradient all-reduce.
* Seed ensembles: with ``members = N`` the same step is ``jax.vmap``-ped over a leading member
  axis of the state and of the data keys, inside the scan (whose stop test stays unbatched);
  member ``i`` draws its data from ``fold_in(key(seed_i), 1)`` and starts from
  ``fold_in(key(seed_i), 0)``, exactly like a single run with that seed, and the member axis is
  sharded over the mesh instead of the batch.

Every registered architecture trains here unchanged: the step only calls
:func:`transformer.registry.token_losses` and :func:`transformer.registry.init_params`.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from compmech.hmm import normaliser
from transformer.activations import batched_map
from transformer.config import TrainConfig
from transformer.data import EvalSet, dataset_batch, sample_batch
from transformer.registry import forward, init_params, token_losses
from transformer.schedules import learning_rate, make_optimizer

#: Sequences per compiled evaluation call (small chunks stay in cache: 4x faster than 8192).
EVAL_BATCH = 256
#: Tokens per micro-batch per device when ``micro_batch_size`` is 0 (automatic).
DEFAULT_MICRO_TOKENS = 5120


class TrainState(NamedTuple):
    """The carried training state (all device arrays)."""

    step: jax.Array          # () int32, steps done
    params: Any
    opt_state: Any
    diverged_at: jax.Array   # () int32, 0 or 1 + the step whose loss/gradient was not finite


#: Config fields that do not change the compiled train function (reset before caching it).
_NOT_COMPILED = dict(steps=1, eval_every=1, eval_max_words=1, eval_samples=1, log_every=1,
                     checkpoints_per_decade=1, checkpoint_every=0, minutes=None, device="cpu",
                     num_devices=0, device_used=None, process="", process_params={}, hmm=None)
_CHUNK_CACHE: dict = {}


def cached_train_chunk(config: TrainConfig, hmm, mesh: jax.sharding.Mesh,
                       dataset_tokens: jax.Array | None, members: int = 0):
    """:func:`build_train_chunk`, reusing the compiled function of an identical earlier setup."""
    if dataset_tokens is not None:
        return build_train_chunk(config, hmm, mesh, dataset_tokens, members)
    compiled = config.replace(**_NOT_COMPILED)
    if members:  # the seeds and the processes are inputs of the ensemble's chunk
        key = (compiled.replace(seed=0).to_json(), hmm.transition_matrices.shape,
               normaliser(hmm) is None, tuple(d.id for d in mesh.devices.flat), int(members))
    else:
        key = (compiled.to_json(), hmm.transition_matrices.tobytes(),
               hmm.initial_distribution.tobytes(), hmm.transition_matrices.shape,
               tuple(d.id for d in mesh.devices.flat), 0)
    if key not in _CHUNK_CACHE:
        if len(_CHUNK_CACHE) >= 8:
            _CHUNK_CACHE.pop(next(iter(_CHUNK_CACHE)))
        _CHUNK_CACHE[key] = build_train_chunk(config, hmm, mesh, dataset_tokens, members)
    return _CHUNK_CACHE[key]


def data_key(seed: int) -> jax.Array:
    """The data key of a run with ``seed``: step ``s`` draws its batch from ``fold_in(key, s)``."""
    return jax.random.fold_in(jax.random.key(seed), 1)


def init_key(seed: int) -> jax.Array:
    """The initialisation key of a run with ``seed``."""
    return jax.random.fold_in(jax.random.key(seed), 0)


def process_arrays(hmm) -> tuple:
    """``(T (V, S, S), initial (S,), r (S,) or None)`` float32: what the sampler needs of a process
    (``r = None`` for a classical HMM, whose right eigenvector is all ones)."""
    r = normaliser(hmm)
    return (np.asarray(hmm.transition_matrices, np.float32),
            np.asarray(hmm.initial_distribution, np.float32),
            None if r is None else np.asarray(r, np.float32))


def stack_processes(hmms) -> tuple:
    """:func:`process_arrays` of every member, stacked on a leading member axis.

    Raises:
        ValueError: the processes differ in vocabulary, number of states, or kind (HMM or GHMM).
    """
    arrays = [process_arrays(h) for h in hmms]
    shapes = {(a[0].shape, a[2] is None) for a in arrays}
    if len(shapes) > 1:
        raise ValueError("the members' processes must have the same vocabulary size, number of "
                         "states and kind (HMM or GHMM) to train in one program; got "
                         + ", ".join(f"{h.name} {h.transition_matrices.shape}" for h in hmms))
    return tuple(None if parts[0] is None else np.stack(parts) for parts in zip(*arrays, strict=True))


def member_sharding(mesh: jax.sharding.Mesh) -> jax.sharding.NamedSharding:
    """The sharding of an ensemble's arrays: the leading member axis split over the mesh."""
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def build_train_chunk(config: TrainConfig, hmm, mesh: jax.sharding.Mesh,
                      dataset_tokens: jax.Array | None, members: int = 0):
    """The compiled ``chunk(state, stop, total_steps) -> (state, losses (k,))``.

    Runs ``k = steps_per_call`` iterations; iteration ``i`` trains step ``state.step`` if it is
    ``< stop`` and no divergence happened, otherwise it is a no-op (loss NaN).

    With ``members = N > 0`` (a seed ensemble or a process sweep) it is ``chunk(state, data_keys,
    processes, stop, total_steps) -> (state, losses (N, k))``: every leaf of ``state`` has a
    leading member axis of size ``N``, ``data_keys`` is ``(N,)`` (:func:`data_key` of each seed),
    ``processes`` the members' processes (:func:`stack_processes`; ``hmm`` then only fixes their
    shapes), and the members are sharded over the mesh (``N`` must be a multiple of its size).
    """
    model_config = config.model
    tx = make_optimizer(config, weight_decay=False)
    bos_token = hmm.vocab_size if config.bos else None
    multi = mesh.size > 1 and not members  # an ensemble shards members, not the batch
    batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))

    def get_batch(key_of_data, process, step):
        key = jax.random.fold_in(key_of_data, step)
        if dataset_tokens is None:
            T32, init32, r32 = process  # r32 None for a classical HMM (the classical sampler)
            inputs, targets = sample_batch(T32, init32, key, config.batch_size, config.seq_len,
                                           bos_token, right_eigenvector=r32)
        else:
            inputs, targets = dataset_batch(dataset_tokens, key, config.batch_size,
                                            config.seq_len, bos_token)
        if multi:
            inputs = jax.lax.with_sharding_constraint(inputs, batch_sharding)
            targets = jax.lax.with_sharding_constraint(targets, batch_sharding)
        return inputs, targets

    # Parameters travel through the scan as one flat float32 vector: the optimiser update, the
    # gradient accumulation and the finiteness checks are then single fused loops instead of one
    # small kernel per parameter array.
    _, unravel = ravel_pytree(init_params(model_config, 0))
    decay_mask = ravel_pytree(jax.tree_util.tree_map(
        lambda a: jnp.full(a.shape, a.ndim >= 2, jnp.float32), init_params(model_config, 0)))[0]

    def loss_fn(flat, inputs, targets):
        return token_losses(unravel(flat), model_config, inputs, targets).mean()

    micro = micro_batch_size(config, 1 if members else mesh.size)
    n_micro = config.batch_size // micro

    def loss_and_grads(flat, inputs, targets):
        if n_micro == 1:
            return jax.value_and_grad(loss_fn)(flat, inputs, targets)
        # strided micro-batches (rows j, j + n, j + 2n, ...) keep each device's rows local
        split = lambda a: jnp.swapaxes(a.reshape(micro, n_micro, -1), 0, 1)  # noqa: E731

        def body(acc, batch):
            loss, grads = jax.value_and_grad(loss_fn)(flat, *batch)
            return (acc[0] + loss, acc[1] + grads), None

        zero = (jnp.zeros((), jnp.float32), jnp.zeros_like(flat))
        (loss, grads), _ = jax.lax.scan(body, zero, (split(inputs), split(targets)))
        return loss / n_micro, grads / n_micro

    def one_step(carry, key_of_data, process, total_steps):
        step, flat, opt_state, diverged_at = carry
        inputs, targets = get_batch(key_of_data, process, step)
        loss, grads = loss_and_grads(flat, inputs, targets)
        finite = jnp.isfinite(loss) & jnp.isfinite(grads).all()
        # optax owns clipping and the Adam moments; the decay and the learning rate stay here because
        # the decay mask is per element of the flat vector (optax masks are per leaf) and the
        # schedule's length is a traced argument (a --minutes budget is known only after warm-up).
        updates, new_opt = tx.update(grads, opt_state, flat)
        if config.optimizer == "adamw" and config.weight_decay > 0:
            updates = updates + config.weight_decay * decay_mask * flat
        lr = learning_rate(config, step, total_steps)
        new_flat = flat - lr * updates
        keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, b: jnp.where(finite, a, b), new, old)
        return (jnp.where(finite, step + 1, step), keep(new_flat, flat), keep(new_opt, opt_state),
                jnp.where(finite, diverged_at, step + 1)), loss

    def chunk_of(step_fn, state: TrainState, flat, stop, nan_losses):
        """``steps_per_call`` iterations of ``step_fn`` on the carry, each a no-op (NaN loss)
        once ``stop`` is reached or a divergence happened."""
        def body(c, _):
            active = (jnp.max(c[0]) < stop) & (jnp.max(c[3]) == 0)
            return jax.lax.cond(active, step_fn, lambda t: (t, nan_losses), c)

        carry = (state.step, flat, state.opt_state, state.diverged_at)
        return jax.lax.scan(body, carry, None, length=config.steps_per_call)

    def init_opt_state(params):
        return tx.init(ravel_pytree(params)[0])

    if members:
        if members % mesh.size:
            raise ValueError(f"an ensemble of {members} seeds cannot be split over {mesh.size} "
                             "devices: use a multiple of the device count, or --num-devices")

        def ensemble_chunk(state: TrainState, data_keys, processes, stop, total_steps):
            # the scan and its stop test stay outside the vmap (one shared, unbatched condition:
            # the members step together), so that only the step itself is batched
            step_all = jax.vmap(one_step, in_axes=(0, 0, 0, None))
            flat = jax.vmap(lambda p: ravel_pytree(p)[0])(state.params)
            (step, flat, opt_state, diverged_at), losses = chunk_of(
                lambda c: step_all(c, data_keys, processes, total_steps), state, flat, stop,
                jnp.full((members,), jnp.nan, jnp.float32))
            return (TrainState(step, jax.vmap(unravel)(flat), opt_state, diverged_at),
                    losses.T)

        return (jax.jit(ensemble_chunk, donate_argnums=0, out_shardings=member_sharding(mesh)),
                init_opt_state)
    single_key = data_key(config.seed)
    single_process = tuple(None if a is None else jnp.asarray(a) for a in process_arrays(hmm))

    def chunk(state: TrainState, stop, total_steps):
        (step, flat, opt_state, diverged_at), losses = chunk_of(
            lambda c: one_step(c, single_key, single_process, total_steps), state,
            ravel_pytree(state.params)[0], stop, jnp.float32(jnp.nan))
        return TrainState(step, unravel(flat), opt_state, diverged_at), losses

    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.jit(chunk, donate_argnums=0, out_shardings=replicated), init_opt_state


def micro_batch_size(config: TrainConfig, n_devices: int = 1) -> int:
    """Sequences per gradient micro-batch (a ``lax.scan`` accumulates their mean gradient).

    ``config.micro_batch_size`` when set (0 = automatic: about ``DEFAULT_MICRO_TOKENS`` tokens
    per device, which bounds activation memory; smaller ones were slower on CPU), rounded down to a
    divisor of the batch that is a multiple of the device count.
    """
    B = config.batch_size
    want = config.micro_batch_size or max(
        n_devices, n_devices * (DEFAULT_MICRO_TOKENS // config.model.n_ctx))
    want = min(max(want, n_devices), B)
    for m in range(want, 0, -1):
        if B % m == 0 and m % n_devices == 0:
            return m
    return B


@functools.lru_cache(maxsize=16)
def _compiled_cross_entropy(model_config, V: int):
    @jax.jit
    def ce(params, inputs, true_probs):
        # log-softmax over all d_vocab outputs (a BOS column still takes probability mass);
        # true_probs (b, K, P, V): the cross-entropy against K distributions at once -> (b, K, P)
        logq = jax.nn.log_softmax(forward(params, model_config, inputs), axis=-1)[..., :V]
        return -(true_probs * logq[:, None]).sum(-1)

    return ce


class Evaluation(NamedTuple):
    """What :func:`build_evaluator`'s function returns (nats per input position).

    Attributes:
        loss: ``(n_ctx,)`` the probability-weighted cross-entropy per position.
        component_loss: ``(K, n_ctx)`` for a mixture: the same on each component's data, against
            that component's own next-token distribution (``(0, n_ctx)`` otherwise).
    """

    loss: np.ndarray
    component_loss: np.ndarray


def build_evaluator(model_config, eval_set: EvalSet):
    """``evaluate(params) -> Evaluation`` (float64): the exact probability-weighted cross-entropy
    per position, and for a mixture the same on each component's data.

    The per-token cross-entropy ``-sum_v p_true[v] log q[v]`` is computed in float32 on the
    device (one forward pass for the mixture and all its components); the weighted sums over
    sequences are done in float64 on the host.
    """
    ce = _compiled_cross_entropy(model_config, eval_set.true_probs.shape[-1])
    sets = [eval_set.true_probs] + [c.true_probs for c in eval_set.components]
    probs32 = np.stack(sets, axis=1).astype(np.float32)  # (N, K + 1, P, V)
    weights = np.stack([eval_set.weights] + [c.weights for c in eval_set.components])

    def evaluate(params) -> Evaluation:
        per_token = batched_map(lambda t, p: ce(params, t, p), eval_set.inputs, EVAL_BATCH,
                                probs32).astype(np.float64)  # (N, K + 1, P)
        losses = np.einsum("kn,nkp->kp", weights, per_token)
        return Evaluation(losses[0], losses[1:])

    return evaluate


__all__ = ["EVAL_BATCH", "Evaluation", "TrainState", "build_evaluator", "build_train_chunk",
           "cached_train_chunk", "data_key", "init_key", "member_sharding", "micro_batch_size",
           "process_arrays", "stack_processes"]
