"""The training loop: compiled multi-step train function, exact evaluation, run directory, resume.

Design (why it is fast and resumable):

* Data are drawn inside the compiled step from ``fold_in(data_key, step)`` with the float32
  sampler :func:`compmech.inference.sample_jax`, so no host work or transfer per step.
* ``steps_per_call`` optimiser steps run in one ``lax.scan`` per dispatch; each step is wrapped in
  ``lax.cond(step < stop, ...)``, so one compiled function serves every chunk length and the
  result of step ``s`` depends only on the state and ``s`` (not on how steps were grouped): an
  interrupted and resumed run gives bitwise the same parameters as an uninterrupted one.
* The train state buffers are donated; the host synchronises once per call (a few-byte flag) and
  fetches losses only when it logs.
* A non-finite loss or gradient leaves the parameters at the last good values, flags the step and
  stops training with :class:`TrainingDiverged`; checkpoints already written are kept.
* Data parallelism: the batch axis of the sampled data is sharded over a 1-D ``jax.sharding.Mesh``
  of all local (or, after ``jax.distributed.initialize()``, global) devices; parameters and
  optimiser state are replicated; XLA inserts the gradient all-reduce.

Run directory layout::

    config.json                     TrainConfig.to_dict() (+ nothing else)
    metrics.jsonl                   one JSON object per logged step (see :func:`train`)
    checkpoints/params_{step:08d}.msgpack   parameters at each scheduled step (step 0 = init)
    checkpoints/train_state.msgpack         latest full state (params, optimiser, step) for --resume
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from jax.flatten_util import ravel_pytree

from transformer.activations import batched_map
from transformer.config import ModelConfig, TrainConfig
from transformer.data import EvalSet, build_eval_set, dataset_batch, load_dataset, sample_batch
from transformer.model import forward, init_params, token_losses

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "train_state.msgpack"
#: Sequences per compiled evaluation call (small chunks stay in cache: 4x faster than 8192).
EVAL_BATCH = 256
#: The full train state (for --resume) is rewritten at a checkpoint step at most this often, at
#: the end, and on Ctrl-C.
STATE_SAVE_SECONDS = 30.0
#: Tokens per micro-batch per device when ``micro_batch_size`` is 0 (automatic).
DEFAULT_MICRO_TOKENS = 5120
#: Safety margin of the ``minutes`` budget (fraction of the budget left unused).
BUDGET_MARGIN = 0.03


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/inf; the run directory keeps the last good checkpoints."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        config: the config (with ``steps`` as finally used).
        params: final parameters (numpy pytree).
        step: last step trained.
        tokens_seen: ``step * batch_size * n_ctx``.
        final_eval: the last evaluation record (see ``metrics.jsonl``), or ``None``.
        wall_time: seconds of training wall time, cumulative over resumes.
        tokens_per_second: training throughput of this invocation (excluding compile and eval).
    """

    run_dir: Path
    config: TrainConfig
    params: Any
    step: int
    tokens_seen: int
    final_eval: dict | None
    wall_time: float
    tokens_per_second: float


class TrainState(NamedTuple):
    """The carried training state (all device arrays)."""

    step: jax.Array          # () int32, steps done
    params: Any
    opt_state: Any
    diverged_at: jax.Array   # () int32, 0 or 1 + the step whose loss/gradient was not finite


# ----------------------------------------------------------------------------------- schedules
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

    AdamW: ``lr * (count + 1) / warmup`` during warmup, then a cosine from ``lr`` down to
    ``lr * final_lr_fraction`` at ``total_steps``. SGD: constant ``lr``.
    """
    peak = jnp.float32(config.lr)
    if config.optimizer == "sgd":
        return peak
    count = count.astype(jnp.float32)
    warm = jnp.float32(max(config.warmup_steps, 1))
    ramp = peak * jnp.minimum(1.0, (count + 1.0) / warm)
    span = jnp.maximum(total_steps.astype(jnp.float32) - warm, 1.0)
    frac = jnp.clip((count + 1.0 - warm) / span, 0.0, 1.0)
    floor = jnp.float32(config.final_lr_fraction)
    cosine = peak * (floor + (1.0 - floor) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)))
    return jnp.where(count + 1.0 < warm, ramp, cosine)


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


# ----------------------------------------------------------------------------------- devices
def maybe_initialize_distributed() -> bool:
    """Call ``jax.distributed.initialize`` when ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
    and ``JAX_PROCESS_ID`` are set (multi-host data parallelism). Returns whether it did."""
    addr = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not addr:
        return False
    try:
        num = int(os.environ["JAX_NUM_PROCESSES"])
        pid = int(os.environ["JAX_PROCESS_ID"])
    except (KeyError, ValueError) as err:
        raise ValueError("JAX_COORDINATOR_ADDRESS is set, so JAX_NUM_PROCESSES and JAX_PROCESS_ID "
                         "must be set to integers too") from err
    if not getattr(maybe_initialize_distributed, "_done", False):
        jax.distributed.initialize(coordinator_address=addr, num_processes=num, process_id=pid)
        maybe_initialize_distributed._done = True
    return True


def select_devices(device: str, num_devices: int = 0) -> list:
    """The devices to train on: all (or the first ``num_devices``) devices of the platform."""
    devices = _platform_devices(device)
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"num_devices {num_devices} but JAX sees only {len(devices)} "
                             f"{devices[0].platform} device(s)")
        devices = devices[:num_devices]
    return devices


def _platform_devices(device: str) -> list:
    if device == "auto":
        return jax.devices()
    try:
        devices = jax.devices(device)
    except RuntimeError as err:
        raise ValueError(f"--device {device}: JAX sees no {device.upper()} ({err}); "
                         "use --device cpu or auto") from err
    if not devices:
        raise ValueError(f"--device {device}: JAX sees no {device.upper()}")
    return devices


# ----------------------------------------------------------------------------------- compiled
#: Config fields that do not change the compiled train function (reset before caching it).
_NOT_COMPILED = dict(steps=1, eval_every=1, eval_max_words=1, eval_samples=1, log_every=1,
                     checkpoints_per_decade=1, checkpoint_every=0, minutes=None, device="cpu",
                     num_devices=0, process="", process_params={}, hmm=None)
_CHUNK_CACHE: dict = {}


def cached_train_chunk(config: TrainConfig, hmm, mesh: jax.sharding.Mesh,
                       dataset_tokens: jax.Array | None):
    """:func:`build_train_chunk`, reusing the compiled function of an identical earlier setup."""
    if dataset_tokens is not None:
        return build_train_chunk(config, hmm, mesh, dataset_tokens)
    key = (config.replace(**_NOT_COMPILED).to_json(), hmm.transition_matrices.tobytes(),
           hmm.initial_distribution.tobytes(), hmm.transition_matrices.shape,
           tuple(d.id for d in mesh.devices.flat))
    if key not in _CHUNK_CACHE:
        if len(_CHUNK_CACHE) >= 8:
            _CHUNK_CACHE.pop(next(iter(_CHUNK_CACHE)))
        _CHUNK_CACHE[key] = build_train_chunk(config, hmm, mesh, dataset_tokens)
    return _CHUNK_CACHE[key]


def build_train_chunk(config: TrainConfig, hmm, mesh: jax.sharding.Mesh,
                      dataset_tokens: jax.Array | None):
    """The compiled ``chunk(state, stop, total_steps) -> (state, losses (k,))``.

    Runs ``k = steps_per_call`` iterations; iteration ``i`` trains step ``state.step`` if it is
    ``< stop`` and no divergence happened, otherwise it is a no-op (loss NaN).
    """
    model_config = config.model
    tx = make_optimizer(config, weight_decay=False)
    bos_token = hmm.vocab_size if config.bos else None
    T32 = jnp.asarray(hmm.transition_matrices, dtype=jnp.float32)
    init32 = jnp.asarray(hmm.initial_distribution, dtype=jnp.float32)
    data_key = jax.random.fold_in(jax.random.key(config.seed), 1)
    multi = mesh.size > 1
    batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))

    def get_batch(step):
        key = jax.random.fold_in(data_key, step)
        if dataset_tokens is None:
            inputs, targets = sample_batch(T32, init32, key, config.batch_size, config.seq_len,
                                           bos_token)
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

    micro = micro_batch_size(config, mesh.size)
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

    def one_step(carry, total_steps):
        step, flat, opt_state, diverged_at = carry
        inputs, targets = get_batch(step)
        loss, grads = loss_and_grads(flat, inputs, targets)
        finite = jnp.isfinite(loss) & jnp.isfinite(grads).all()
        updates, new_opt = tx.update(grads, opt_state, flat)
        if config.optimizer == "adamw" and config.weight_decay > 0:
            updates = updates + config.weight_decay * decay_mask * flat
        lr = learning_rate(config, step, total_steps)
        new_flat = flat - lr * updates
        keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
            lambda a, b: jnp.where(finite, a, b), new, old)
        return (jnp.where(finite, step + 1, step), keep(new_flat, flat), keep(new_opt, opt_state),
                jnp.where(finite, diverged_at, step + 1)), loss

    def chunk(state: TrainState, stop, total_steps):
        def body(c, _):
            active = (c[0] < stop) & (c[3] == 0)
            return jax.lax.cond(active, lambda t: one_step(t, total_steps),
                                lambda t: (t, jnp.float32(jnp.nan)), c)

        carry = (state.step, ravel_pytree(state.params)[0], state.opt_state, state.diverged_at)
        (step, flat, opt_state, diverged_at), losses = jax.lax.scan(
            body, carry, None, length=config.steps_per_call)
        return TrainState(step, unravel(flat), opt_state, diverged_at), losses

    def init_opt_state(params):
        return tx.init(ravel_pytree(params)[0])

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
def _compiled_cross_entropy(model_config: ModelConfig, V: int):
    @jax.jit
    def ce(params, inputs, true_probs):
        # log-softmax over all d_vocab outputs (a BOS column still takes probability mass)
        logq = jax.nn.log_softmax(forward(params, model_config, inputs), axis=-1)[..., :V]
        return -(true_probs * logq).sum(-1)

    return ce


def build_evaluator(model_config: ModelConfig, eval_set: EvalSet):
    """``evaluate(params) -> (n_ctx,)`` float64 probability-weighted cross-entropy per position.

    The per-token cross-entropy ``-sum_v p_true[v] log q[v]`` is computed in float32 on the
    device; the weighted sum over sequences is done in float64 on the host.
    """
    ce = _compiled_cross_entropy(model_config, eval_set.true_probs.shape[-1])
    probs32 = eval_set.true_probs.astype(np.float32)

    def evaluate(params):
        per_token = batched_map(lambda t, p: ce(params, t, p), eval_set.inputs, EVAL_BATCH,
                                probs32)
        return eval_set.weights @ per_token.astype(np.float64)

    return evaluate


# ----------------------------------------------------------------------------------- run dir
def _atomic_write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; use the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


def _to_host(tree):
    """Device pytree -> numpy pytree (replicated arrays: the local copy)."""
    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(a.addressable_data(0))
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)


def params_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"params_{step:08d}.msgpack"


def optimal_loss_nats(hmm, model_config: ModelConfig, bos: bool, eval_set: EvalSet) -> np.ndarray:
    """``(n_ctx,)`` best achievable loss per position (nats): from
    :func:`compmech.information.optimal_cross_entropy_nats` when available and the evaluation is
    exact, else from the evaluation set itself."""
    if eval_set.exact:
        try:
            from compmech.information import optimal_cross_entropy_nats

            return np.asarray(optimal_cross_entropy_nats(hmm, model_config.n_ctx, bos=bos),
                              dtype=np.float64)
        except (ImportError, AttributeError):
            pass
    return eval_set.optimal_loss_nats()


def _saved_config(run_dir: Path) -> TrainConfig:
    config_path = run_dir / CONFIG_FILE
    if not config_path.exists():
        raise ValueError(f"cannot resume: {config_path} does not exist")
    if not (run_dir / CHECKPOINT_DIR / STATE_FILE).exists():
        raise ValueError(f"cannot resume: {run_dir} has no {CHECKPOINT_DIR}/{STATE_FILE}")
    try:
        return TrainConfig.from_dict(json.loads(config_path.read_text()))
    except json.JSONDecodeError as err:
        raise ValueError(f"cannot resume: {config_path} is not valid JSON ({err.msg})") from err


def _prepare_run_dir(run_dir: Path, config: TrainConfig, resume: bool, force: bool) -> None:
    config_path = run_dir / CONFIG_FILE
    if resume:
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        if not force:
            raise FileExistsError(f"run directory {run_dir} already exists; pass --resume to "
                                  "continue it or --force to start over")
        if not (run_dir / CONFIG_FILE).exists() and not (run_dir / METRICS_FILE).exists():
            raise ValueError(f"{run_dir} is not empty and does not look like a run directory; "
                             "refusing to delete it")
        shutil.rmtree(run_dir)
    (run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    _atomic_write_text(config_path, config.to_json() + "\n")


def _truncate_metrics(path: Path, last_step: int) -> None:
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= last_step]
    _atomic_write_text(path, "".join(line + "\n" for line in keep))


# ----------------------------------------------------------------------------------- train
def _check_config(config: TrainConfig, hmm, n_devices: int) -> None:
    V = hmm.vocab_size
    want = V + 1 if config.bos else V
    if config.model.d_vocab != want:
        raise ValueError(f"model d_vocab is {config.model.d_vocab} but the process has {V} tokens"
                         f"{' plus BOS' if config.bos else ''}: set d_vocab = {want}")
    if config.bos and config.model.n_ctx < 2:
        raise ValueError("with bos, n_ctx must be at least 2")
    if config.batch_size % n_devices:
        raise ValueError(f"batch size {config.batch_size} must be divisible by the number of "
                         f"devices ({n_devices})")


def train(config: TrainConfig, workdir, resume: bool = False, force: bool = False,
          progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Train a transformer on a process; write config, metrics and checkpoints to ``workdir``.

    ``metrics.jsonl`` has one object per log step with ``step``, ``tokens_seen``
    (``step * batch_size * n_ctx``), ``wall_time`` (s, cumulative over resumes), ``lr`` and
    ``train_loss`` (mean over the steps since the last line; ``null`` at step 0); evaluation lines
    add ``eval_loss`` and ``optimal_loss`` (``(n_ctx,)`` nats per input position), their means
    ``eval_loss_mean``/``optimal_loss_mean``, ``loss_gap`` (mean difference, nats),
    ``relative_loss`` (ratio of means), ``eval_exact`` and ``eval_seconds``. A run stopped early
    by its ``minutes`` budget marks its last line ``"stopped_by_budget": true``; a diverged run
    ends with ``"diverged": true``.

    Args:
        config: the run's :class:`TrainConfig`. With ``resume`` the saved ``config.json`` is used
            instead (``config`` may then be ``None``).
        workdir: the run directory. It must not exist (or be empty) unless ``resume`` or ``force``.
        resume: continue from ``checkpoints/train_state.msgpack``; the final parameters equal
            those of an uninterrupted run.
        force: delete an existing run directory first.
        progress: show a tqdm progress bar with loss and tokens/s.
        stop_after: stop (as if interrupted) once this many steps are done, after checkpointing;
            the schedule still targets ``config.steps``.

    Returns:
        :class:`TrainResult`.

    Raises:
        FileExistsError: ``workdir`` exists and neither ``resume`` nor ``force`` was given.
        TrainingDiverged: a NaN/inf loss or gradient; earlier checkpoints are kept.
        ValueError: inconsistent configuration.
    """
    t_start = time.perf_counter()
    run_dir = Path(workdir)
    maybe_initialize_distributed()
    is_main = jax.process_index() == 0
    if config is None and not resume:
        raise ValueError("config is required unless resuming")
    if resume:
        config = _saved_config(run_dir)
    # validate everything before touching the disk
    hmm = config.build_hmm()
    devices = select_devices(config.device, config.num_devices)
    _check_config(config, hmm, len(devices))
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    dataset_tokens = None
    if config.dataset is not None:
        tokens, _ = load_dataset(config.dataset, hmm, config.seq_len)
        dataset_tokens = jax.device_put(tokens, replicated)
    if is_main:
        _prepare_run_dir(run_dir, config, resume, force)
    chunk_fn, init_opt_state = cached_train_chunk(config, hmm, mesh, dataset_tokens)

    eval_set = build_eval_set(hmm, config.model.n_ctx, config.bos, config.eval_max_words,
                              config.eval_samples, seed=config.seed + 1)
    evaluate = build_evaluator(config.model, eval_set)
    optimum = optimal_loss_nats(hmm, config.model, config.bos, eval_set)

    ckpt_dir = run_dir / CHECKPOINT_DIR
    metrics_path = run_dir / METRICS_FILE
    budget_s = None if config.minutes is None else 60.0 * config.minutes
    steps_fixed = budget_s is None

    params = init_params(config.model, jax.random.fold_in(jax.random.key(config.seed), 0))
    template = TrainState(jnp.zeros((), jnp.int32), params, init_opt_state(params),
                          jnp.zeros((), jnp.int32))
    wall_offset = 0.0
    if resume:
        blob = serialization.msgpack_restore((ckpt_dir / STATE_FILE).read_bytes())
        state = serialization.from_state_dict(template, blob["state"])
        wall_offset = float(blob["wall_time"])
        steps_fixed = steps_fixed or bool(blob.get("steps_fixed", True))
        if not steps_fixed and "steps" in blob:
            config = config.replace(steps=int(blob["steps"]))
        if is_main:
            _truncate_metrics(metrics_path, int(state.step))
    else:
        state = template
    state = jax.device_put(state, replicated)
    step = int(state.step)
    total = config.steps

    def now() -> float:
        return wall_offset + time.perf_counter() - t_start

    last_state_save = [time.perf_counter()]

    def save_state(current: TrainState, step_: int) -> None:
        last_state_save[0] = time.perf_counter()
        if not is_main:
            return
        blob = {"state": serialization.to_state_dict(_to_host(current)), "wall_time": now(),
                "steps": total, "steps_fixed": steps_fixed}
        _atomic_write_bytes(ckpt_dir / STATE_FILE, serialization.msgpack_serialize(blob))

    def save_params(current: TrainState, step_: int) -> None:
        if is_main:
            _atomic_write_bytes(params_path(run_dir, step_),
                                serialization.to_bytes(_to_host(current.params)), sync=False)

    def write_metrics(record: dict) -> None:
        if is_main:
            with open(metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def eval_record(current: TrainState) -> dict:
        t0 = time.perf_counter()
        losses = evaluate(current.params)
        mean, opt_mean = float(losses.mean()), float(optimum.mean())
        return {"eval_loss": losses.tolist(), "optimal_loss": optimum.tolist(),
                "eval_loss_mean": mean, "optimal_loss_mean": opt_mean,
                "loss_gap": mean - opt_mean, "relative_loss": mean / opt_mean,
                "eval_exact": bool(eval_set.exact), "eval_seconds": time.perf_counter() - t0}

    def lr_at(step_: int) -> float:
        return float(learning_rate(config, jnp.asarray(max(step_ - 1, 0)), jnp.asarray(total)))

    last_eval: dict | None = None
    if step == 0:
        t_eval0 = time.perf_counter()
        last_eval = eval_record(state)
        eval_cost = time.perf_counter() - t_eval0
        write_metrics({"step": 0, "tokens_seen": 0, "wall_time": now(), "lr": lr_at(0),
                       "train_loss": None, **last_eval})
        save_params(state, 0)
        save_state(state, 0)
    else:
        eval_cost = None
        last_eval = _last_eval_record(metrics_path)

    bar = None
    if progress and is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True,
                   desc=f"train {hmm.name}")

    k = config.steps_per_call
    pending_losses: list[tuple[jax.Array, int]] = []
    tokens_per_step = config.tokens_per_step
    train_time = 0.0
    train_steps = 0
    measure_from: tuple[float, int] | None = None
    stop_limit = total if stop_after is None else min(total, int(stop_after))

    def boundaries(total_: int) -> list[int]:
        marks = set(checkpoint_schedule(total_, config.checkpoints_per_decade,
                                        config.checkpoint_every))
        marks.update(range(config.eval_every, total_, config.eval_every))
        marks.update(range(config.log_every, total_, config.log_every))
        if not steps_fixed:
            marks.add(max(config.warmup_steps, 2 * k))
        marks.add(total_)
        return sorted(marks)

    marks = boundaries(total)
    ckpt_marks = set(checkpoint_schedule(total, config.checkpoints_per_decade,
                                         config.checkpoint_every))
    total_dev = jax.device_put(jnp.asarray(total, jnp.int32), replicated)
    first_call = True
    try:
        while step < stop_limit:
            target = min(next(m for m in marks if m > step), stop_limit)
            stop_dev = jax.device_put(jnp.asarray(target, jnp.int32), replicated)
            while step < target:
                t0 = time.perf_counter()
                state, losses = chunk_fn(state, stop_dev, total_dev)
                diverged = int(state.diverged_at)  # the one sync per call
                dt = time.perf_counter() - t0
                done = min(k, target - step)
                if diverged:
                    bad = diverged - 1
                    write_metrics({"step": bad, "tokens_seen": bad * tokens_per_step,
                                   "wall_time": now(), "diverged": True})
                    raise TrainingDiverged(
                        f"loss or gradient became NaN/inf at step {bad} (lr {config.lr}); "
                        f"checkpoints up to the last one before step {bad} are kept in {ckpt_dir}; "
                        "lower --lr or enable gradient clipping")
                pending_losses.append((losses, done))
                if not first_call:  # the first call includes compilation
                    train_time += dt
                    train_steps += done
                first_call = False
                step += done
                if measure_from is None and step >= config.warmup_steps // 2:
                    measure_from = (time.perf_counter(), step)
                if bar is not None:
                    bar.update(done)
            # ---- boundary work
            # with a time budget, stop early (evaluated and checkpointed) if the machine got slower
            over_budget = (budget_s is not None and steps_fixed and step < total
                           and now() + (eval_cost or 0.0) > budget_s * (1 - BUDGET_MARGIN / 2))
            final = step == total or over_budget
            record: dict[str, Any] = {}
            if step % config.log_every == 0 or final or step in ckpt_marks \
                    or step % config.eval_every == 0:
                losses_host = [np.asarray(l)[:n] for l, n in pending_losses]
                pending_losses.clear()
                train_loss = float(np.concatenate(losses_host).mean()) if losses_host else None
                record = {"step": step, "tokens_seen": step * tokens_per_step, "wall_time": now(),
                          "lr": lr_at(step), "train_loss": train_loss}
            if over_budget:
                record["stopped_by_budget"] = True
            if step % config.eval_every == 0 or final:
                t_eval0 = time.perf_counter()
                last_eval = eval_record(state)
                eval_cost = time.perf_counter() - t_eval0
                record.update(last_eval)
            if record:
                write_metrics(record)
                if bar is not None:
                    post = {"loss": f"{record['train_loss']:.4f}"} if record.get(
                        "train_loss") is not None else {}
                    if "loss_gap" in record:
                        post["gap"] = f"{record['loss_gap']:.2e}"
                    if train_time > 0:
                        post["tok/s"] = f"{train_steps * tokens_per_step / train_time:,.0f}"
                    bar.set_postfix(post, refresh=False)
            if step in ckpt_marks or over_budget:
                save_params(state, step)
            if step == stop_limit or over_budget or (step in ckpt_marks and time.perf_counter()
                                                     - last_state_save[0] > STATE_SAVE_SECONDS):
                save_state(state, step)
            if over_budget:
                break
            if not steps_fixed and step >= max(config.warmup_steps, 2 * k) and measure_from \
                    and step > measure_from[1]:
                total = _steps_for_budget(budget_s - now(), step, measure_from, config, eval_cost)
                steps_fixed = True
                config = config.replace(steps=total)
                if is_main:
                    _atomic_write_text(run_dir / CONFIG_FILE, config.to_json() + "\n")
                total_dev = jax.device_put(jnp.asarray(total, jnp.int32), replicated)
                marks = boundaries(total)
                ckpt_marks = set(checkpoint_schedule(total, config.checkpoints_per_decade,
                                                     config.checkpoint_every))
                stop_limit = total if stop_after is None else min(total, int(stop_after))
                save_state(state, step)
                if bar is not None:
                    bar.total = total
                    bar.refresh()
    except KeyboardInterrupt:
        if step > 0:
            save_state(state, step)
        raise
    finally:
        if bar is not None:
            bar.close()
    final_params = _to_host(state.params)
    return TrainResult(
        run_dir=run_dir, config=config, params=final_params, step=step,
        tokens_seen=step * tokens_per_step, final_eval=last_eval, wall_time=now(),
        tokens_per_second=(train_steps * tokens_per_step / train_time) if train_time else 0.0)


def _last_eval_record(path: Path) -> dict | None:
    if not path.exists():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    evals = [r for r in records if "eval_loss" in r]
    return evals[-1] if evals else None


def _steps_for_budget(seconds_left: float, step: int, measure_from: tuple[float, int],
                      config: TrainConfig, eval_cost: float | None) -> int:
    """Total steps that fit the remaining budget at the measured speed, evaluations included."""
    t0, s0 = measure_from
    per_step = (time.perf_counter() - t0) / max(step - s0, 1)
    per_step += (eval_cost or 0.0) / config.eval_every
    usable = max(seconds_left * (1 - BUDGET_MARGIN) - (eval_cost or 0.0), 0.0)
    return max(step + 1, step + int(usable / per_step))


__all__ = [
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "build_evaluator",
    "build_train_chunk",
    "checkpoint_schedule",
    "learning_rate",
    "make_optimizer",
    "select_devices",
    "train",
]
