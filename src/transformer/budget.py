"""The training loop's units and controls: the wall clock over resumes, the step plan of a
``steps`` or ``minutes`` budget, the progress bar, and the SIGINT/SIGTERM handling that stops at a
chunk boundary.
"""

from __future__ import annotations

import signal
import threading
import time

from tqdm.auto import tqdm

from transformer.config import TrainConfig
from transformer.schedules import checkpoint_schedule

#: Safety margin of the ``minutes`` budget (fraction of the budget left unused).
BUDGET_MARGIN = 0.03

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
    """A tqdm bar with loss, gap to the optimum and tokens/s, or nothing when disabled.

    ``total`` is ``None`` while a wall-clock budget has not fixed the number of steps: the bar
    then counts steps without a total or a time estimate, and :meth:`set_total` completes it.
    """

    def __init__(self, enabled: bool, total: int | None, initial: int, desc: str) -> None:
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


__all__ = [
    "Budget",
    "StepPlan",
    "StopSignals",
]
