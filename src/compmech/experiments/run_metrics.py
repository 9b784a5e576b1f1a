"""Typed views of a training run's ``metrics.jsonl`` lines (the evaluations and the training
losses) for the reproductions: each line is read generically by the fields of a record, the
other keys of the line ignored."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from compmech.records import Record

R = TypeVar("R", bound=Record)


def from_line(cls: type[R], line: Mapping) -> R:
    """The record ``cls`` from the keys of a metrics line that are its fields (the line holds
    others too); a field without a default that the line lacks raises ``ValueError``."""
    return cls.from_dict({f.name: line[f.name] for f in dataclasses.fields(cls) if f.name in line})


@dataclass(frozen=True)
class Evaluation(Record):
    """One evaluation line: loss per input position (nats) and the optimum beside it.

    Attributes:
        step: training step.
        eval_loss: ``(n_ctx,)`` the network's loss per position.
        optimal_loss: ``(n_ctx,)`` the optimum on the same words.
        eval_loss_mean: mean of ``eval_loss``.
        eval_exact: whether the evaluation enumerated every word (``None``: not recorded).
        component_eval_loss: ``(K, n_ctx)`` the loss on each mixture component's data (mixtures
            only).
    """

    step: int
    eval_loss: list[float]
    optimal_loss: list[float]
    eval_loss_mean: float | None = None
    eval_exact: bool | None = None
    component_eval_loss: list[list[float]] | None = None


@dataclass(frozen=True)
class TrainLoss(Record):
    """One logged training loss (nats per token)."""

    step: int
    train_loss: float | None = None


def evaluations(run) -> list[Evaluation]:
    """Every evaluation line of ``run``, in order."""
    return [from_line(Evaluation, m) for m in run.metrics if "eval_loss" in m]


def train_losses(run) -> list[TrainLoss]:
    """Every line of ``run`` with a training loss, in order."""
    lines = [from_line(TrainLoss, m) for m in run.metrics if "train_loss" in m]
    return [t for t in lines if t.train_loss is not None]


def loss_gap_nats(run) -> float | None:
    """Mean over positions of the network's loss minus the optimum at the last evaluation
    (``None`` without one)."""
    evals = evaluations(run)
    if not evals:
        return None
    return float(np.mean(np.asarray(evals[-1].eval_loss) - np.asarray(evals[-1].optimal_loss)))


__all__ = ["Evaluation", "TrainLoss", "evaluations", "from_line", "loss_gap_nats", "train_losses"]
