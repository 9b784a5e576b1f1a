"""The training loop: one loop for every registered architecture.

:func:`train` reads top to bottom: prepare the run directory, build the data, evaluation and
compiled step (:mod:`transformer.step`), restore or initialise the state, loop over compiled chunks
up to the next boundary (a log, evaluation or checkpoint step), and evaluate and checkpoint at the
end. The run directory (:class:`~transformer.rundir.RunDirectory`), the wall-clock budget
(:class:`Budget`), the step plan (:class:`StepPlan`) and the progress bar are small units of their
own. The file layout is documented in :mod:`transformer.rundir`.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from tqdm.auto import tqdm

from compmech.information import optimal_cross_entropy_nats
from transformer.config import TrainConfig
from transformer.data import EvalSet, build_eval_set, load_dataset_tokens
from transformer.devices import maybe_initialize_distributed, select_devices
from transformer.registry import init_params
from transformer.rundir import RunDirectory
from transformer.schedules import checkpoint_schedule, learning_rate
from transformer.step import TrainState, build_evaluator, cached_train_chunk

#: Safety margin of the ``minutes`` budget (fraction of the budget left unused).
BUDGET_MARGIN = 0.03


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/inf; the run directory keeps the last good checkpoints."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM after saving its state, a checkpoint and a metrics
    record at the step it reached; ``train(None, run_dir, resume=True)`` continues from there.
    (A ``KeyboardInterrupt``, so that code that stops on Ctrl-C stops on it too.)

    Attributes:
        step: the step saved.
        signum: the signal (``signal.SIGINT`` or ``signal.SIGTERM``).
        run_dir: the run directory.
    """

    def __init__(self, step: int, signum: int, run_dir: Path) -> None:
        self.step, self.signum, self.run_dir = int(step), int(signum), Path(run_dir)
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} at step {self.step}; state, checkpoint and metrics "
                         f"saved; continue with: compmech train --out {self.run_dir} --resume")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.step, self.signum, str(self.run_dir)))


class StopSignals:
    """While active (a ``with`` block in the main thread), SIGINT and SIGTERM ask the loop to stop
    at the end of the running compiled chunk (:attr:`received`); a second signal exits at once
    (``SystemExit(128 + signum)``; every file already written is complete, since writes are
    atomic). Outside the main thread it does nothing (signals go to the main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        if self.received is not None:
            raise SystemExit(128 + signum)
        self.received = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread() and not self._previous:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


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


# ----------------------------------------------------------------------------------- units
class Clock:
    """Training wall time in seconds, cumulative over resumes (``offset`` = earlier invocations;
    ``start`` = this invocation's ``time.perf_counter()`` at its start)."""

    def __init__(self, offset: float = 0.0, start: float | None = None) -> None:
        self.offset = float(offset)
        self.start = time.perf_counter() if start is None else float(start)

    def now(self) -> float:
        return self.offset + time.perf_counter() - self.start


class StepPlan:
    """The step schedule of ``total`` steps: checkpoint steps (log-spaced, plus every
    ``checkpoint_every``), evaluation and log steps, and the boundaries where the loop pauses
    (any of these, the budget's measuring step when the total is not fixed yet, and the end).

    Args:
        config: the run's config.
        total: the number of steps.
        measuring: whether a wall-clock budget has yet to fix ``total`` (adds the measuring step).
        stop_after: stop (as if interrupted) after this many steps.
    """

    def __init__(self, config: TrainConfig, total: int, measuring: bool,
                 stop_after: int | None = None) -> None:
        self.config, self.total = config, int(total)
        self.checkpoints = set(checkpoint_schedule(total, config.checkpoints_per_decade,
                                                   config.checkpoint_every))
        marks = self.checkpoints | {self.total}
        marks.update(range(config.eval_every, total, config.eval_every))
        marks.update(range(config.log_every, total, config.log_every))
        if measuring:
            marks.add(measuring_step(config))
        self.marks = sorted(marks)
        self.stop = self.total if stop_after is None else min(self.total, int(stop_after))

    def next_boundary(self, step: int) -> int:
        return min(next(m for m in self.marks if m > step), self.stop)

    def is_eval(self, step: int) -> bool:
        return step % self.config.eval_every == 0

    def is_log(self, step: int) -> bool:
        return step % self.config.log_every == 0 or step in self.checkpoints or self.is_eval(step)


def measuring_step(config: TrainConfig) -> int:
    """The step after which a wall-clock budget fixes the number of steps (after warmup, and after
    two compiled calls so that the speed excludes compilation)."""
    return max(config.warmup_steps, 2 * config.steps_per_call)


class Budget:
    """A wall-clock budget (``config.minutes``) on the whole run, evaluations included.

    After warmup it fixes the number of steps from the measured speed (:meth:`steps_that_fit`);
    afterwards, if the machine slows down, :meth:`exceeded` stops the run early at a boundary.

    Attributes:
        seconds: the budget (``None`` = no budget).
        fixed: whether the number of steps is final (always true without a budget).
    """

    def __init__(self, config: TrainConfig, fixed: bool = False) -> None:
        self.seconds = None if config.minutes is None else 60.0 * config.minutes
        self.fixed = fixed or self.seconds is None
        self.warmup_steps = config.warmup_steps
        self.measure_from: tuple[float, int] | None = None

    def observe(self, step: int) -> None:
        """Start measuring the speed once half the warmup is done."""
        if self.measure_from is None and step >= self.warmup_steps // 2:
            self.measure_from = (time.perf_counter(), step)

    def ready_to_fix(self, config: TrainConfig, step: int) -> bool:
        return (not self.fixed and step >= measuring_step(config)
                and self.measure_from is not None and step > self.measure_from[1])

    def steps_that_fit(self, now: float, step: int, config: TrainConfig,
                       eval_cost: float | None) -> int:
        """Total steps that fit the remaining budget at the measured speed, evaluations included."""
        t0, s0 = self.measure_from
        per_step = (time.perf_counter() - t0) / max(step - s0, 1)
        per_step += (eval_cost or 0.0) / config.eval_every
        usable = max((self.seconds - now) * (1 - BUDGET_MARGIN) - (eval_cost or 0.0), 0.0)
        return max(step + 1, step + int(usable / per_step))

    def exceeded(self, now: float, step: int, total: int, eval_cost: float | None) -> bool:
        """Whether to stop now: the next evaluation would end past the budget."""
        return (self.seconds is not None and self.fixed and step < total
                and now + (eval_cost or 0.0) > self.seconds * (1 - BUDGET_MARGIN / 2))


class ProgressBar:
    """A tqdm bar with loss, gap to the optimum and tokens/s, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int, initial: int, desc: str) -> None:
        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                        desc=desc) if enabled else None

    def update(self, steps: int) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def set_total(self, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def show(self, record: dict, tokens_per_second: float) -> None:
        if self.bar is None:
            return
        post = {}
        if record.get("train_loss") is not None:
            post["loss"] = f"{record['train_loss']:.4f}"
        if "loss_gap" in record:
            post["gap"] = f"{record['loss_gap']:.2e}"
        if tokens_per_second > 0:
            post["tok/s"] = f"{tokens_per_second:,.0f}"
        self.bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------------- setup
@dataclass
class TrainingSetup:
    """Everything built from a config before the first step (validated before any file is written).

    Attributes:
        config: the run's config.
        hmm: the process.
        mesh: the data-parallel device mesh.
        replicated: the sharding of replicated arrays on ``mesh``.
        chunk: the compiled ``chunk(state, stop, total) -> (state, losses)``.
        init_opt_state: ``params -> optimiser state``.
        eval_set: the exact (or sampled) evaluation set.
        evaluate: ``params -> Evaluation`` loss per position (nats), and per mixture component.
        optimum: ``(n_ctx,)`` the best achievable loss per position (nats).
    """

    config: TrainConfig
    hmm: Any
    mesh: jax.sharding.Mesh
    replicated: jax.sharding.NamedSharding
    chunk: Any
    init_opt_state: Any
    eval_set: EvalSet
    evaluate: Any
    optimum: np.ndarray


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


def optimal_loss_nats(hmm, model_config, bos: bool, eval_set: EvalSet) -> np.ndarray:
    """``(n_ctx,)`` best achievable loss per position (nats): exact from the myopic entropies
    (:func:`compmech.optimal_cross_entropy_nats`) when the evaluation enumerates every word, else
    the evaluation set's own expected entropy."""
    if eval_set.exact:
        return np.asarray(optimal_cross_entropy_nats(hmm, model_config.n_ctx, bos=bos),
                          dtype=np.float64)
    return eval_set.optimal_loss_nats()


def build_setup(config: TrainConfig) -> TrainingSetup:
    """Validate ``config`` and build the process, devices, data, compiled step and evaluation."""
    hmm = config.build_hmm()
    devices = select_devices(config.device, config.num_devices)
    _check_config(config, hmm, len(devices))
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    dataset_tokens = None
    if config.dataset is not None:
        tokens = load_dataset_tokens(config.dataset, hmm, config.seq_len)
        dataset_tokens = jax.device_put(tokens, replicated)
    chunk, init_opt_state = cached_train_chunk(config, hmm, mesh, dataset_tokens)
    eval_set = build_eval_set(hmm, config.model.n_ctx, config.bos, config.eval_max_words,
                              config.eval_samples, seed=config.seed + 1)
    return TrainingSetup(config, hmm, mesh, replicated, chunk, init_opt_state, eval_set,
                         build_evaluator(config.model, eval_set),
                         optimal_loss_nats(hmm, config.model, config.bos, eval_set))


def _to_host(tree):
    """Device pytree -> numpy pytree (replicated arrays: the local copy)."""
    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(a.addressable_data(0))
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)


def _initial_state(setup: TrainingSetup) -> TrainState:
    config = setup.config
    params = init_params(config.model, jax.random.fold_in(jax.random.key(config.seed), 0))
    return TrainState(jnp.zeros((), jnp.int32), params, setup.init_opt_state(params),
                      jnp.zeros((), jnp.int32))


# ----------------------------------------------------------------------------------- loop
class Trainer:
    """The loop of one :func:`train` invocation (its mutable state in one place).

    Args:
        setup: from :func:`build_setup`.
        run_dir: the prepared run directory.
        resume: continue from the saved train state.
        progress: show a progress bar.
        stop_after: stop (as if interrupted) once this many steps are done.
        started: ``time.perf_counter()`` when the invocation started (the clock and the budget
            count from there, setup included).
        signals: the active :class:`StopSignals` of the invocation (a new one when ``None``).
    """

    def __init__(self, setup: TrainingSetup, run_dir: RunDirectory, *, resume: bool,
                 progress: bool, stop_after: int | None, started: float | None = None,
                 signals: StopSignals | None = None) -> None:
        self.setup, self.run_dir, self.stop_after = setup, run_dir, stop_after
        self.config = setup.config
        self.budget = Budget(self.config)
        state, offset = _initial_state(setup), 0.0
        if resume:
            state, offset = self._restore(state)
        self.clock = Clock(offset, started)
        self.state = jax.device_put(state, setup.replicated)
        self.step = int(self.state.step)
        self._replan(self.config.steps)
        self.eval_cost: float | None = None
        self.last_eval: dict | None = None
        self.pending: list[tuple[jax.Array, int]] = []
        self.train_time, self.train_steps, self.first_call = 0.0, 0, True
        self.signals = signals if signals is not None else StopSignals()
        metrics = run_dir.read_metrics() if resume else []
        self.last_record_step = metrics[-1]["step"] if metrics else None
        self.bar = ProgressBar(progress and run_dir.writer, self.plan.total, self.step,
                               f"train {setup.hmm.name}")

    def _restore(self, template: TrainState) -> tuple[TrainState, float]:
        """The saved state; completes what a hard kill may have cut short: the metrics line and the
        parameter checkpoint of the saved step are written after the state, so they are
        written again here when missing."""
        blob = self.run_dir.read_state()
        state = serialization.from_state_dict(template, blob["state"])
        self.budget.fixed = self.budget.fixed or bool(blob.get("steps_fixed", True))
        if not self.budget.fixed and "steps" in blob:
            self.config = self.config.replace(steps=int(blob["steps"]))
        step = int(state.step)
        self.run_dir.truncate_metrics(step)
        record = json.loads(blob["record"]) if blob.get("record") else None
        metrics = self.run_dir.read_metrics()
        if record is not None and (not metrics or metrics[-1]["step"] < step):
            self.run_dir.append_metrics(record)
        if blob.get("checkpoint") and step not in self.run_dir.checkpoint_steps():
            self.run_dir.write_params(step, _to_host(state.params))
        return state, float(blob["wall_time"])

    def _replan(self, total: int) -> None:
        self.plan = StepPlan(self.config, total, not self.budget.fixed, self.stop_after)
        self.total_dev = jax.device_put(jnp.asarray(total, jnp.int32), self.setup.replicated)

    # ---------------------------------------------------------------------------- records
    def lr_at(self, step: int) -> float:
        """The learning rate of the last step before ``step``."""
        return float(learning_rate(self.config, jnp.asarray(max(step - 1, 0)),
                                   jnp.asarray(self.plan.total)))

    def tokens_per_second(self) -> float:
        return self.train_steps * self.config.tokens_per_step / self.train_time if self.train_time else 0.0

    def evaluation(self) -> dict:
        """Evaluate the current parameters: the ``eval_*`` fields of a metrics record."""
        t0 = time.perf_counter()
        result = self.setup.evaluate(self.state.params)
        losses, optimum = result.loss, self.setup.optimum
        mean, opt_mean = float(losses.mean()), float(optimum.mean())
        self.eval_cost = time.perf_counter() - t0
        self.last_eval = {
            "eval_loss": losses.tolist(), "optimal_loss": optimum.tolist(),
            "eval_loss_mean": mean, "optimal_loss_mean": opt_mean, "loss_gap": mean - opt_mean,
            "relative_loss": mean / opt_mean, "eval_exact": bool(self.setup.eval_set.exact),
            "eval_seconds": self.eval_cost}
        components = self.setup.eval_set.components
        if components:  # a mixture: the in-context curves
            self.last_eval.update(
                component_names=[c.name for c in components],
                component_eval_loss=result.component_loss.tolist(),
                component_optimal_loss=[c.optimal_loss_nats().tolist() for c in components])
        return self.last_eval

    def save(self, record: dict | None = None, checkpoint: bool = False) -> None:
        """Persist this step: the resume state first, then the parameter checkpoint (when
        ``checkpoint``), then the metrics ``record``. A hard kill between any two leaves the
        state at this step, so the newest checkpoint and the last metrics line never run ahead of
        it; the state carries the record and the checkpoint flag, and a resume writes what is
        missing (:meth:`_restore`)."""
        blob = {"state": serialization.to_state_dict(_to_host(self.state)),
                "wall_time": self.clock.now(), "steps": self.plan.total,
                "steps_fixed": self.budget.fixed,
                "record": None if record is None else json.dumps(record),
                "checkpoint": bool(checkpoint)}
        self.run_dir.write_state(blob)
        if checkpoint:
            self.run_dir.write_params(self.step, _to_host(self.state.params))
        if record is not None:
            self.run_dir.append_metrics(record)
            self.last_record_step = record["step"]
            self.bar.show(record, self.tokens_per_second())

    # ---------------------------------------------------------------------------- the loop
    def run(self) -> TrainResult:
        """Train from the current step to the plan's end (or the budget's); returns the result.

        Raises:
            TrainingInterrupted: SIGINT or SIGTERM arrived (everything was saved at that step).
        """
        try:
            with self.signals:
                if self.step == 0:
                    self._start()
                else:
                    self.last_eval = self.run_dir.last_eval()
                while self.step < self.plan.stop:
                    if self.signals.received is not None:  # e.g. a signal during the setup
                        self._stop(self.signals.received)
                    self._advance_to(self.plan.next_boundary(self.step))
                    if self.signals.received is not None:
                        self._stop(self.signals.received)
                    if self._boundary():
                        break
        finally:
            self.bar.close()
        return TrainResult(self.run_dir.path, self.config, _to_host(self.state.params), self.step,
                           self.step * self.config.tokens_per_step, self.last_eval,
                           self.clock.now(), self.tokens_per_second())

    def _start(self) -> None:
        """Step 0: evaluate the initialisation, checkpoint it, save the state."""
        record = {"step": 0, "tokens_seen": 0, "wall_time": None, "lr": self.lr_at(0),
                  "train_loss": None, **self.evaluation()}
        record["wall_time"] = self.clock.now()
        self.save(record, checkpoint=True)

    def _stop(self, signum: int) -> None:
        """Save everything at the step reached, then raise :class:`TrainingInterrupted` (no new
        metrics line when that step has one already: one record per step)."""
        record = None
        if self.step != self.last_record_step:
            record = self._train_record()
            record["interrupted"] = signal.Signals(signum).name
        self.save(record, checkpoint=True)
        raise TrainingInterrupted(self.step, signum, self.run_dir.path)

    def _advance_to(self, target: int) -> None:
        """Run compiled chunks until ``target`` steps are done (the last chunk stops there)."""
        stop = jax.device_put(jnp.asarray(target, jnp.int32), self.setup.replicated)
        k = self.config.steps_per_call
        while self.step < target:
            t0 = time.perf_counter()
            self.state, losses = self.setup.chunk(self.state, stop, self.total_dev)
            diverged = int(self.state.diverged_at)  # the one sync per call
            dt = time.perf_counter() - t0
            if diverged:
                self._diverged(diverged - 1)
            done = min(k, target - self.step)
            self.pending.append((losses, done))
            if not self.first_call:  # the first call includes compilation
                self.train_time += dt
                self.train_steps += done
            self.first_call = False
            self.step += done
            self.budget.observe(self.step)
            self.bar.update(done)
            if self.signals.received is not None:
                return

    def _diverged(self, bad: int) -> None:
        self.run_dir.append_metrics({"step": bad, "tokens_seen": bad * self.config.tokens_per_step,
                                     "wall_time": self.clock.now(), "diverged": True})
        raise TrainingDiverged(
            f"loss or gradient became NaN/inf at step {bad} (lr {self.config.lr}); checkpoints up "
            f"to the last one before step {bad} are kept in {self.run_dir.checkpoint_dir}; lower "
            "--lr or enable gradient clipping")

    def _boundary(self) -> bool:
        """Log, evaluate, checkpoint and fix the budget at a boundary; True to stop now."""
        step, plan = self.step, self.plan
        over = self.budget.exceeded(self.clock.now(), step, plan.total, self.eval_cost)
        final = step == plan.total or over
        record: dict[str, Any] | None = None
        if plan.is_log(step) or final:
            record = self._train_record()
            if over:
                record["stopped_by_budget"] = True
            if plan.is_eval(step) or final:
                record.update(self.evaluation())
        checkpoint = step in plan.checkpoints or over or step == plan.stop
        if record is not None or checkpoint:
            self.save(record, checkpoint)
        if not over and self.budget.ready_to_fix(self.config, step):
            self._fix_budget()
        return over

    def _train_record(self) -> dict:
        """The training-loss fields of a metrics record (mean loss since the last record)."""
        losses = [np.asarray(loss)[:n] for loss, n in self.pending]
        self.pending.clear()
        train_loss = float(np.concatenate(losses).mean()) if losses else None
        return {"step": self.step, "tokens_seen": self.step * self.config.tokens_per_step,
                "wall_time": self.clock.now(), "lr": self.lr_at(self.step),
                "train_loss": train_loss}

    def _fix_budget(self) -> None:
        """Choose the number of steps that fit the budget; record it in ``config.json``."""
        total = self.budget.steps_that_fit(self.clock.now(), self.step, self.config,
                                           self.eval_cost)
        self.budget.fixed = True
        self.config = self.config.replace(steps=total)
        self.run_dir.write_config(self.config)
        self._replan(total)
        self.save()
        self.bar.set_total(total)


def train(config: TrainConfig | None, workdir, resume: bool = False, force: bool = False,
          progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Train a registered model on a process; write config, metrics and checkpoints to ``workdir``.

    ``metrics.jsonl`` has one object per log step with ``step``, ``tokens_seen``
    (``step * batch_size * n_ctx``), ``wall_time`` (s, cumulative over resumes), ``lr`` and
    ``train_loss`` (mean over the steps since the last line; ``null`` at step 0); evaluation lines
    add ``eval_loss`` and ``optimal_loss`` (``(n_ctx,)`` nats per input position), their means
    ``eval_loss_mean``/``optimal_loss_mean``, ``loss_gap`` (mean difference, nats),
    ``relative_loss`` (ratio of means), ``eval_exact`` and ``eval_seconds``; for a mixture also
    ``component_names``, ``component_eval_loss`` (``(K, n_ctx)``: the loss on each component's data)
    and ``component_optimal_loss`` (each component's own optimum), the in-context curves. A run
    stopped early by its ``minutes`` budget marks its last line ``"stopped_by_budget": true``; a diverged run
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

    Interruption: on SIGINT or SIGTERM the running compiled chunk finishes, the state, a parameter
    checkpoint and a metrics record are written at the step reached, and
    :class:`TrainingInterrupted` is raised; ``resume=True`` then continues from exactly that step
    (bitwise as an uninterrupted run). The state is saved at every logged step, so a hard kill loses
    at most ``log_every`` steps.

    Raises:
        FileExistsError: ``workdir`` exists and neither ``resume`` nor ``force`` was given.
        compmech.files.LockBusy: another process is writing ``workdir``.
        TrainingDiverged: a NaN/inf loss or gradient; earlier checkpoints are kept.
        TrainingInterrupted: SIGINT or SIGTERM (see above).
        ValueError: inconsistent configuration.
    """
    started = time.perf_counter()
    maybe_initialize_distributed()
    run_dir = RunDirectory(workdir, writer=jax.process_index() == 0)
    with StopSignals() as signals:  # a stop during the setup is honoured after step 0 is saved
        if resume:
            if not run_dir.path.is_dir():
                raise ValueError(f"cannot resume: {run_dir.path} does not exist")
            with run_dir.lock("compmech train"):
                setup = build_setup(run_dir.resumable_config())
                return _run(setup, run_dir, True, False, progress, stop_after, started, signals)
        if config is None:
            raise ValueError("config is required unless resuming")
        setup = build_setup(config)  # validates everything before touching the disk
        with run_dir.lock("compmech train"):
            return _run(setup, run_dir, False, force, progress, stop_after, started, signals)


def _run(setup: TrainingSetup, run_dir: RunDirectory, resume: bool, force: bool, progress: bool,
         stop_after: int | None, started: float, signals: StopSignals) -> TrainResult:
    """Prepare the (locked) run directory and run the loop."""
    run_dir.prepare(setup.config, resume=resume, force=force)
    trainer = Trainer(setup, run_dir, resume=resume, progress=progress, stop_after=stop_after,
                      started=started, signals=signals)
    return trainer.run()


__all__ = ["Budget", "StepPlan", "StopSignals", "TrainResult", "Trainer", "TrainingDiverged",
           "TrainingInterrupted", "build_setup", "optimal_loss_nats", "train"]
