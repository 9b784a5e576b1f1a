"""The typed records of ``compmech reproduce icl`` (:mod:`compmech.experiments.icl`): its
settings (:class:`IclSettings`, beside the mixtures it chooses from), a mixture's theory curves
(``results/theory_<mixture>.json``), one trained run's analysis
(``results/<mixture>_seed<k>.json``), a mixture's summary and ``results.json``. Each writes and
reads itself from its fields; lists over positions are ``(n_ctx,)``, induction scores
``(checkpoints, layers, heads)``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from compmech.records import Record, omitted_if_none


@dataclass(frozen=True)
class TheoryCurves(Record):
    """A mixture's per-position curves with BOS (nats): the known-component loss, the
    Bayes-mixture optimum, the optimum's excess over the former, their standard errors, and how
    they were computed (``"exact"`` or ``"sampled"`` from ``num_samples`` words per component)."""

    method: str
    num_samples: int
    known_component_loss: list[float]
    bayes_mixture_optimum: list[float]
    optimum_excess: list[float]
    optimum_excess_stderr: list[float]
    bayes_mixture_stderr: list[float]


@dataclass(frozen=True)
class DecayLaw(Record):
    """One law fitted to ``log y`` (:class:`compmech.scaling.DecayFit`): ``amplitude t^-exponent``
    or ``amplitude exp(-t / timescale)``."""

    law: str
    amplitude: float
    exponent: float | None
    timescale: float | None
    rms_log_residual: float
    r2_log: float
    residuals_log: list[float]


@dataclass(frozen=True)
class DecayFits(Record):
    """Both laws fitted against ``t = position + 1`` from the curve's maximum (``start_position``)
    on, and the ``better`` one (:class:`compmech.scaling.DecayFits`)."""

    power_law: DecayLaw
    exponential: DecayLaw
    better: str
    t: list[float]
    num_dropped: int
    start_position: int


@dataclass(frozen=True)
class Curve(Record):
    """A loss against training step."""

    step: list[int]
    loss: list[float | None]


@dataclass(frozen=True)
class Head(Record):
    layer: int
    head: int


@dataclass(frozen=True)
class Transition(Record):
    """The checkpoint at the end of the largest jump of an induction score, and the jump."""

    step: int
    jump: float


@dataclass(frozen=True)
class InductionCurves(Record):
    """Induction scores of every head over training
    (:func:`compmech.mechanisms.induction.induction_over_training`); ``query_tokens`` and
    ``score_at_queries`` only for a restricted score."""

    steps: list[int]
    score: list[list[list[float]]]
    mass: list[list[list[float]]]
    query_tokens: list[int] | None = omitted_if_none()
    score_at_queries: list[list[list[float]]] | None = omitted_if_none()
    uniform_mass: float
    best_head: Head
    best_head_score: list[float]
    transition: Transition | None


@dataclass(frozen=True)
class IclRun(Record):
    """One trained run's analysis: the loss per position on the last evaluation and the optimum on
    the same words, the network's excess and its fits, the training and evaluation curves, the
    induction scores."""

    run_dir: str
    seed: int
    steps: int
    training_wall_time_s: float | None
    loss: list[float]
    eval_optimum: list[float]
    eval_exact: bool | None
    network_excess: list[float]
    network_excess_fits: DecayFits | None
    component_loss: list[list[float]] | None
    train_loss: Curve
    eval_loss_mean: Curve
    induction: InductionCurves


@dataclass(frozen=True)
class PositionRow(Record):
    """One position of a mixture's curves (means and stds over seeds; nats)."""

    position: int
    t: int
    loss: float
    loss_std: float
    bayes_mixture_optimum: float
    known_component_loss: float
    eval_sample_optimum: float
    network_excess: float
    network_excess_std: float
    optimum_excess: float
    optimum_excess_stderr: float


@dataclass(frozen=True)
class MixtureFits(Record):
    """Fits of the mean network excess and of the optimum's excess (``None``: no decay to fit)."""

    network_excess: DecayFits | None
    optimum_excess: DecayFits | None


@dataclass(frozen=True)
class InductionSummary(Record):
    """One seed's induction scores over training."""

    seed: int
    steps: list[int]
    score: list[list[list[float]]]
    score_at_queries: list[list[list[float]]] | None
    best_head: Head
    best_head_score: list[float]
    transition: Transition | None


@dataclass(frozen=True)
class RunCurves(Record):
    """One seed's curves in ``results.json``."""

    seed: int
    steps: int
    training_wall_time_s: float | None
    run_dir: str
    loss: list[float]
    network_excess: list[float]
    network_excess_fits: DecayFits | None
    train_loss: Curve
    eval_loss_mean: Curve
    eval_exact: bool | None


@dataclass(frozen=True)
class MixtureSummary(Record):
    """One mixture's entry of ``results.json``: per-position curves, fits, per-seed exponents,
    induction scores per checkpoint."""

    mixture: str
    components: list[list[Any]]
    weights: list[float]
    vocab_maps: list[list[int]] | None
    theory_method: str
    theory_samples: int
    positions: list[PositionRow]
    fits: MixtureFits
    network_excess_exponent_per_seed: list[float]
    induction_score: list[InductionSummary]
    runs: list[RunCurves]


#: The mixtures of :mod:`compmech.experiments.icl` (here beside :class:`IclSettings`, which
#: checks names against them): ``(components [(process, params)], weights, vocab maps or None)``.
MIXTURES: dict[str, tuple[list, list, list | None]] = {
    "dursley_wonka": ([("mr_name", {"p": 0.4, "q": 0.25})] * 2, [0.5, 0.5],
                      [[0, 1, 2, 3], [0, 1, 2, 4]]),
    "mess3_3": ([("mess3", {"x": x, "alpha": a}) for x, a in
                 ((0.05, 0.85), (0.15, 0.6), (0.1, 0.75))], [1 / 3] * 3, None),
    "mess3_12": ([("mess3", {"x": x, "alpha": a}) for x in (0.02, 0.08, 0.2)
                  for a in (0.4, 0.6, 0.8, 0.95)], [1 / 12] * 12, None),
}
#: Default total training budget (minutes, all runs together).
DEFAULT_MINUTES = 12.0


@dataclass(frozen=True, kw_only=True)
class IclSettings(Record):
    """What ``compmech reproduce icl`` trains (:func:`compmech.experiments.icl.run_icl`), written
    as ``results.json`` ``settings`` and as the folder's manifest.

    Attributes:
        experiment: ``"icl"``.
        tiny: a seconds-long model and context (for CI).
        minutes: total training budget over all runs, in minutes (``TRAIN_SHARE`` of it, split
            evenly; default :data:`DEFAULT_MINUTES`); set to ``None``
            where it does not apply (with ``steps`` or ``tiny``).
        steps: exact optimiser steps per run instead of a budget.
        seeds: training seeds (mean ± std over them).
        mixtures: which of :data:`MIXTURES` (default: all).

    Raises:
        ValueError: no seed, an unknown mixture, ``steps < 1``, or a budget that is not a positive
            number where it applies.
    """

    experiment: str = "icl"
    tiny: bool = False
    minutes: float | None = DEFAULT_MINUTES
    steps: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    mixtures: list[str] = field(default_factory=lambda: list(MIXTURES))

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "seeds", [int(s) for s in self.seeds])
        set_(self, "mixtures", list(self.mixtures))
        if not self.seeds:
            raise ValueError("give at least one seed")
        bad = [m for m in self.mixtures if m not in MIXTURES]
        if bad:
            raise ValueError(f"unknown mixtures {bad}; choose from {', '.join(MIXTURES)}")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError(f"steps must be a positive integer; got {self.steps}")
        if self.tiny or self.steps is not None:
            set_(self, "minutes", None)
        elif self.minutes is None or not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"minutes must be a positive number; got {self.minutes}")


@dataclass(frozen=True)
class IclResults(Record):
    """``results.json``: every mixture's summary, the model and the training settings."""

    settings: IclSettings
    mixtures: dict[str, MixtureSummary]
    model: dict[str, Any]
    train: dict[str, Any]
    wall_time_s: float


__all__ = ["DEFAULT_MINUTES", "MIXTURES", "Curve", "DecayFits", "DecayLaw", "Head", "IclResults", "IclRun",
           "IclSettings", "InductionCurves", "InductionSummary", "MixtureFits", "MixtureSummary",
           "PositionRow", "RunCurves", "TheoryCurves", "Transition"]
