"""The training loop of every registered architecture: :class:`Trainer`, the mutable state of one
:func:`~transformer.training.train` (or :func:`~transformer.training.train_ensemble`) invocation,
and what it returns or raises (:class:`TrainResult`, :class:`EnsembleResult`,
:class:`TrainingDiverged`, :class:`TrainingInterrupted`).

The loop reads top to bottom: restore or initialise the state, loop over compiled chunks
(:mod:`transformer.step`) up to the next boundary (a log, evaluation or checkpoint step), and
evaluate and checkpoint at the end. The wall-clock budget (:class:`~transformer.budget.Budget`),
the step plan (:class:`~transformer.budget.StepPlan`) and the progress bar are units of their
own (:mod:`transformer.budget`); what is built before the loop is in :mod:`transformer.setup`.
A seed ensemble runs through the same loop: the state carries a leading member axis, one
compiled chunk trains every member (``jax.vmap``, members sharded over the devices), and each
member is saved to its own ordinary run directory.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from transformer.budget import Budget, Clock, ProgressBar, StepPlan, StopSignals
from transformer.config import TrainConfig
from transformer.rundir import EnsembleDirectory, RunDirectory
from transformer.schedules import learning_rate
from transformer.setup import (
    MemberEval,
    TrainingSetup,
    _initial_state,
    _to_host,
    _unstack,
)
from transformer.step import (
    TrainState,
    data_key,
    member_sharding,
)


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


@dataclass
class TrainResult:
    """What :func:`~transformer.training.train` returns.

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


@dataclass
class EnsembleResult:
    """What :func:`~transformer.training.train_ensemble` returns.

    Attributes:
        run_dir: the ensemble directory.
        seeds: the members' seeds.
        members: each member's :class:`TrainResult` (its ``run_dir`` is ``run_dir/seed-{s}``;
            its ``tokens_per_second`` is the ensemble's divided by the number of members).
        wall_time: seconds of training wall time, cumulative over resumes.
        tokens_per_second: training throughput of all members together.
    """

    run_dir: Path
    seeds: list[int]
    members: list[TrainResult]
    wall_time: float
    tokens_per_second: float


# ----------------------------------------------------------------------------------- loop
class Trainer:
    """The loop of one :func:`~transformer.training.train` (or
    :func:`~transformer.training.train_ensemble`) invocation (its mutable state in
    one place). Records are lists with one entry per member (one entry for a single run).

    Args:
        setup: from :func:`~transformer.setup.build_setup`.
        run_dir: the prepared run directory (an :class:`EnsembleDirectory` for an ensemble).
        resume: continue from the saved train state.
        progress: show a progress bar.
        stop_after: stop (as if interrupted) once this many steps are done.
        started: ``time.perf_counter()`` when the invocation started (the clock and the budget
            count from there, setup included).
        signals: the active :class:`~transformer.budget.StopSignals` of the invocation (a new one when
        ``None``).
    """

    def __init__(self, setup: TrainingSetup, run_dir: RunDirectory | EnsembleDirectory, *,
                 resume: bool, progress: bool, stop_after: int | None,
                 started: float | None = None, signals: StopSignals | None = None) -> None:
        self.setup, self.run_dir, self.stop_after = setup, run_dir, stop_after
        self.ensemble = run_dir if isinstance(run_dir, EnsembleDirectory) else None
        self.members: list[RunDirectory] = (self.ensemble.members if self.ensemble is not None
                                            else [run_dir])
        self.stacked = setup.member_configs is not None
        self.config = setup.config
        self.budget = Budget(self.config)
        state, offset = _initial_state(setup), 0.0
        if resume:
            state, offset = self._restore(state)
        self.clock = Clock(offset, started)
        self.sharding = member_sharding(setup.mesh) if self.stacked else setup.replicated
        self.state = jax.device_put(state, self.sharding)
        if self.stacked:
            self.data_keys = jax.device_put(jnp.stack([data_key(s) for s in setup.seeds]),
                                            self.sharding)
        self.step = int(np.max(np.asarray(state.step)))
        self._replan(self.config.steps)
        self.eval_cost: float | None = None
        self.last_eval: list[dict] | None = None
        self.pending: list[tuple[jax.Array, int]] = []
        self.train_time, self.train_steps, self.first_call = 0.0, 0, True
        self.signals = signals if signals is not None else StopSignals()
        metrics = self.members[0].read_metrics() if resume else []
        self.last_record_step = metrics[-1]["step"] if metrics else None
        desc = f"train {setup.hmm.name}" + (f" x{setup.num_members} members" if self.stacked
                                            else "")
        # While a wall-clock budget is still measuring the speed, the number of steps is not known
        # (config.steps is a placeholder then): the bar has no total until _fix_budget sets it.
        self.bar = ProgressBar(progress and run_dir.writer,
                               self.plan.total if self.budget.fixed else None, self.step, desc)

    def _split(self, host_tree) -> list:
        """A host pytree of the state (or a part of it) per member."""
        return _unstack(host_tree, self.setup.num_members) if self.stacked else [host_tree]

    def _member_configs(self) -> list[TrainConfig]:
        if not self.stacked:
            return [self.config]
        return [c.replace(steps=self.config.steps) for c in self.setup.member_configs]

    def _restore(self, template: TrainState) -> tuple[TrainState, float]:
        """The saved state; completes what a hard kill may have cut short: the metrics line and the
        parameter checkpoint of the saved step are written after the state, so they are
        written again here when missing (in every member)."""
        blob = (self.ensemble or self.members[0]).read_state()
        state = serialization.from_state_dict(template, blob["state"])
        self.budget.fixed = self.budget.fixed or bool(blob.get("steps_fixed", True))
        if not self.budget.fixed and "steps" in blob:
            self.config = self.config.replace(steps=int(blob["steps"]))
        step = int(np.max(np.asarray(state.step)))
        records = blob["records"] if self.ensemble is not None else [blob.get("record")]
        host = self._split(_to_host(state))
        for member, saved, member_state in zip(self.members, records, host, strict=True):
            member.truncate_metrics(step)
            record = json.loads(saved) if saved else None
            metrics = member.read_metrics()
            if record is not None and (not metrics or metrics[-1]["step"] < step):
                member.append_metrics(record)
            if blob.get("checkpoint") and step not in member.checkpoint_steps():
                member.write_params(step, member_state.params)
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
        """Training throughput of all members together (tokens/s)."""
        if not self.train_time:
            return 0.0
        return (self.train_steps * self.config.tokens_per_step * self.setup.num_members
                / self.train_time)

    def evaluation(self) -> list[dict]:
        """Evaluate the current parameters: the ``eval_*`` fields of each member's record."""
        t0 = time.perf_counter()
        params = self._split(_to_host(self.state.params))
        out = [self._evaluate(unit, p) for unit, p in zip(self.setup.evals, params, strict=True)]
        self.eval_cost = time.perf_counter() - t0
        for record in out:
            record["eval_seconds"] = self.eval_cost / len(out)
        self.last_eval = out
        return out

    @staticmethod
    def _evaluate(unit: MemberEval, params) -> dict:
        result = unit.evaluate(params)
        losses, optimum = result.loss, unit.optimum
        mean, opt_mean = float(losses.mean()), float(optimum.mean())
        record = {
            "eval_loss": losses.tolist(), "optimal_loss": optimum.tolist(),
            "eval_loss_mean": mean, "optimal_loss_mean": opt_mean, "loss_gap": mean - opt_mean,
            "relative_loss": mean / opt_mean, "eval_exact": bool(unit.eval_set.exact)}
        components = unit.eval_set.components
        if components:  # a mixture: the in-context curves
            record.update(
                component_names=[c.name for c in components],
                component_eval_loss=result.component_loss.tolist(),
                component_optimal_loss=[c.optimal_loss_nats().tolist() for c in components],
                component_bayes_loss=[c.bayes_mixture_loss_nats(unit.eval_set.true_probs).tolist()
                                      for c in components])
        return record

    def save(self, records: list[dict] | None = None, checkpoint: bool = False) -> None:
        """Persist this step: the resume state first (for an ensemble the joint state, then each
        member's), then the parameter checkpoints (when ``checkpoint``), then the metrics
        ``records`` (one per member). A hard kill between any two leaves the state at this step,
        so the newest checkpoint and the last metrics line never run ahead of it; the state
        carries the records and the checkpoint flag, and a resume writes what is missing
        (:meth:`_restore`)."""
        host = _to_host(self.state)
        members = self._split(host)
        lines = [None] * len(members) if records is None else [json.dumps(r) for r in records]
        common = {"wall_time": self.clock.now(), "steps": self.plan.total,
                  "steps_fixed": self.budget.fixed, "checkpoint": bool(checkpoint)}
        if self.ensemble is not None:
            self.ensemble.write_state({"state": serialization.to_state_dict(host), **common,
                                       "records": lines})
        for member, member_state, line in zip(self.members, members, lines, strict=True):
            member.write_state({"state": serialization.to_state_dict(member_state), **common,
                                "record": line})
        if checkpoint:
            for member, member_state in zip(self.members, members, strict=True):
                member.write_params(self.step, member_state.params)
        if records is not None:
            for member, record in zip(self.members, records, strict=True):
                member.append_metrics(record)
            self.last_record_step = records[0]["step"]
            self.bar.show(records[0], self.tokens_per_second())

    # ---------------------------------------------------------------------------- the loop
    def run(self) -> TrainResult | EnsembleResult:
        """Train from the current step to the plan's end (or the budget's); returns the result
        (an :class:`EnsembleResult` for an ensemble).

        Raises:
            TrainingInterrupted: SIGINT or SIGTERM arrived (everything was saved at that step).
        """
        try:
            with self.signals:
                if self.step == 0:
                    self._start()
                else:
                    self.last_eval = [m.last_eval() for m in self.members]
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
        return self._result()

    def _result(self) -> TrainResult | EnsembleResult:
        params = self._split(_to_host(self.state.params))
        evals = self.last_eval or [None] * len(params)
        per_member = self.tokens_per_second() / self.setup.num_members
        results = [TrainResult(member.path, config, p, self.step,
                               self.step * self.config.tokens_per_step, ev, self.clock.now(),
                               per_member)
                   for member, config, p, ev in zip(self.members, self._member_configs(), params,
                                                    evals, strict=True)]
        if self.ensemble is None:
            return results[0]
        return EnsembleResult(self.ensemble.path, list(self.setup.seeds), results,
                              self.clock.now(), self.tokens_per_second())

    def _start(self) -> None:
        """Step 0: evaluate the initialisation, checkpoint it, save the state."""
        records = [{"step": 0, "tokens_seen": 0, "wall_time": None, "lr": self.lr_at(0),
                    "train_loss": None, **ev} for ev in self.evaluation()]
        for record in records:
            record["wall_time"] = self.clock.now()
        self.save(records, checkpoint=True)

    def _stop(self, signum: int) -> None:
        """Save everything at the step reached, then raise :class:`TrainingInterrupted` (no new
        metrics line when that step has one already: one record per step)."""
        records = None
        if self.step != self.last_record_step:
            records = self._train_records()
            for record in records:
                record["interrupted"] = signal.Signals(signum).name
        self.save(records, checkpoint=True)
        raise TrainingInterrupted(self.step, signum, self.run_dir.path)

    def _call_chunk(self, stop):
        if self.stacked:
            return self.setup.chunk(self.state, self.data_keys, self.setup.processes, stop,
                                    self.total_dev)
        return self.setup.chunk(self.state, stop, self.total_dev)

    def _advance_to(self, target: int) -> None:
        """Run compiled chunks until ``target`` steps are done (the last chunk stops there)."""
        stop = jax.device_put(jnp.asarray(target, jnp.int32), self.setup.replicated)
        k = self.config.steps_per_call
        while self.step < target:
            t0 = time.perf_counter()
            self.state, losses = self._call_chunk(stop)
            diverged = np.asarray(self.state.diverged_at)  # the one sync per call
            dt = time.perf_counter() - t0
            if diverged.any():
                self._diverged(np.atleast_1d(diverged))
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

    def _diverged(self, diverged_at: np.ndarray) -> None:
        """Mark each diverged member's metrics and raise :class:`TrainingDiverged`."""
        bad_steps = []
        for k, (member, flag) in enumerate(zip(self.members, diverged_at, strict=True)):
            if flag:
                bad = int(flag) - 1
                bad_steps.append((k, bad))
                member.append_metrics({"step": bad, "tokens_seen": bad * self.config.tokens_per_step,
                                       "wall_time": self.clock.now(), "diverged": True})
        k, bad = bad_steps[0]
        which = f" (member {self.members[k].path.name})" if self.stacked else ""
        raise TrainingDiverged(
            f"loss or gradient became NaN/inf at step {bad}{which} (lr {self.config.lr}); "
            f"checkpoints up to the last one before step {bad} are kept in "
            f"{self.members[k].checkpoint_dir}; lower --lr or enable gradient clipping")

    def _boundary(self) -> bool:
        """Log, evaluate, checkpoint and fix the budget at a boundary; True to stop now."""
        step, plan = self.step, self.plan
        over = self.budget.exceeded(self.clock.now(), step, plan.total, self.eval_cost)
        final = step == plan.total or over
        records: list[dict[str, Any]] | None = None
        if plan.is_log(step) or final:
            records = self._train_records()
            if over:
                for record in records:
                    record["stopped_by_budget"] = True
            if plan.is_eval(step) or final:
                for record, ev in zip(records, self.evaluation(), strict=True):
                    record.update(ev)
        checkpoint = step in plan.checkpoints or over or step == plan.stop
        if records is not None or checkpoint:
            self.save(records, checkpoint)
        if not over and self.budget.ready_to_fix(self.config, step):
            self._fix_budget()
        return over

    def _train_records(self) -> list[dict]:
        """The training-loss fields of each member's metrics record (mean loss since the last
        record)."""
        losses = [np.asarray(loss)[..., :n] for loss, n in self.pending]
        self.pending.clear()
        means = (np.atleast_1d(np.concatenate(losses, axis=-1).mean(axis=-1)) if losses
                 else [None] * self.setup.num_members)
        return [{"step": self.step, "tokens_seen": self.step * self.config.tokens_per_step,
                 "wall_time": self.clock.now(), "lr": self.lr_at(self.step),
                 "train_loss": None if m is None else float(m)} for m in means]

    def _fix_budget(self) -> None:
        """Choose the number of steps that fit the budget; record it in ``config.json``."""
        total = self.budget.steps_that_fit(self.clock.now(), self.step, self.config,
                                           self.eval_cost)
        self.budget.fixed = True
        self.config = self.config.replace(steps=total)
        for member, config in zip(self.members, self._member_configs(), strict=True):
            member.write_config(config)
        if self.ensemble is not None:
            self.ensemble.write_manifest(self.config)
        self._replan(total)
        self.save()
        self.bar.set_total(total)


__all__ = ["EnsembleResult", "TrainResult", "Trainer", "TrainingDiverged", "TrainingInterrupted"]
