"""The records of belief interventions (``RUN_DIR/mechanisms/interventions.json``), their printed
tables and their spread over seeds (several runs or an ensemble's members)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np

from compmech.formatting import fmt
from compmech.mechanisms.directions import _svd
from compmech.mechanisms.interventions import (
    BLIND_CONDITIONS,
    CONDITIONS,
    BlindEffects,
    InterventionConfig,
    InterventionEffects,
)
from compmech.probing.ensembles import SeedSpread
from compmech.records import Record


# ------------------------------------------------------------------------------- the records
class _PerCondition(Record):
    """One number per condition (a field each, named as the condition; ``None`` where the
    condition was not run or every pair was undefined)."""

    @classmethod
    def of(cls, values: Mapping[str, np.ndarray], stat) -> _PerCondition:
        """``stat`` (e.g. ``np.mean``) of each condition's ``(N,)`` values in ``values`` (all-NaN
        or absent: ``None``)."""
        return cls(**{f.name: _stat(values[f.name], stat) if f.name in values else None
                      for f in fields(cls)})

    def value(self, condition: str) -> float | None:
        """The number of ``condition`` (a name from the data, e.g. looping over conditions).

        Raises:
            ValueError: no such condition.
        """
        if condition not in {f.name for f in fields(self)}:
            raise ValueError(f"unknown condition {condition!r} for {type(self).__name__}")
        return getattr(self, condition)


@dataclass
class ConditionValues(_PerCondition):
    """One number per same-position or beyond-next-token condition (:data:`CONDITIONS`)."""

    none: float | None = None
    intervened: float | None = None
    random: float | None = None
    null_space: float | None = None
    intervened_cov: float | None = None
    random_cov: float | None = None
    null_space_cov: float | None = None
    ceiling: float | None = None
    same_belief: float | None = None
    shuffled_probe: float | None = None


@dataclass
class BlindValues(_PerCondition):
    """One number per prediction-blind steering condition (:data:`BLIND_CONDITIONS`)."""

    none: float | None = None
    blind: float | None = None
    random: float | None = None
    blind_cov: float | None = None
    random_cov: float | None = None


@dataclass
class HookIntervention(Record):
    """One hook's same-position interventions over all pairs.

    Attributes:
        hook, label: the hook and its human label.
        probe_mse_test: the probe's held-out MSE (the probe intervened with).
        probe_rank: rank of its coefficient matrix; ``null_dim``: ``d - rank``.
        mean_kl_bits: ``{condition: mean KL(P(. | eta*) || q)}`` (:data:`CONDITIONS`).
        sem_kl_bits: standard errors of those means (over pairs).
        median_kl_bits: medians.
        own_kl_bits: mean ``KL(P(. | eta) || q_none)`` (the model's own error).
        mean_norm: mean ``|Delta|``; ``mean_cov_norm``: mean ``|Delta_cov|`` (``None``
            without a covariance); ``mean_activation_norm``: mean ``|x|``.
        decode_error: largest ``|W (x + Delta) + b - tau(eta*)|`` over pairs.
        null_output_change, random_output_change: mean total variation from ``q_none``.
        fraction_below_random: share of pairs whose intervened KL is below the random control's.
        fraction_cov_below_random: the same for ``intervened_cov`` and ``random_cov``.
        tv_from_none: ``{condition: mean TV(q_condition, q_none)}``.
        same_belief_distance: mean distance of the same-belief donors' beliefs (probe
            coordinates); ``same_belief_theory_tv``: mean ``TV(P(. | eta_donor), P(. | eta))``, the
            change a network reading only the belief would show.
    """

    hook: str
    label: str
    probe_mse_test: float
    probe_rank: int
    null_dim: int
    mean_kl_bits: ConditionValues
    sem_kl_bits: ConditionValues
    median_kl_bits: ConditionValues
    own_kl_bits: float
    mean_norm: float
    mean_cov_norm: float | None
    mean_activation_norm: float
    decode_error: float
    null_output_change: float | None
    random_output_change: float
    fraction_below_random: float
    fraction_cov_below_random: float | None
    tv_from_none: ConditionValues = field(default_factory=ConditionValues)
    same_belief_distance: float | None = None
    same_belief_theory_tv: float | None = None


@dataclass
class AheadIntervention(Record):
    """One hook's beyond-next-token test: patched at ``t``, read at ``t + 1``.

    Attributes:
        hook, label: the hook.
        reaches_next_position: whether a change at this hook can reach ``t + 1`` at all (a
            transformer's last block output cannot: its effect is 0 by construction).
        mean_kl_bits, sem_kl_bits: ``{condition: KL(P(. | update(eta*, x_{t+1})) || q_{t+1})}``.
        tv_from_none: ``{condition: mean TV(q_{t+1}, q_{t+1} none)}``.
        own_kl_bits: mean ``KL(P(. | update(eta, x_{t+1})) || q_{t+1} none)``.
        decode_error: largest decode error of the intervention at ``t``.
    """

    hook: str
    label: str
    reaches_next_position: bool
    mean_kl_bits: ConditionValues
    sem_kl_bits: ConditionValues
    tv_from_none: ConditionValues
    own_kl_bits: float
    decode_error: float


@dataclass
class BlindIntervention(Record):
    """One hook's steering along the prediction-blind subspace (means over pairs).

    Attributes:
        hook, label, reaches_next_position: as :class:`AheadIntervention`.
        tv_now: ``{condition: TV of the current prediction from none}`` (:data:`BLIND_CONDITIONS`).
        tv_later: ``{condition: TV of the prediction at t + 1 from none}``.
        theory_tv_later: ``TV(P(. | update(eta*, x)), P(. | update(eta, x)))``: the later change
            of a network that carries its belief forward.
        kl_later: ``{condition: KL(P(. | update(eta*, x)) || q_{t+1})}``.
        kl_later_own: ``{condition: KL(P(. | update(eta, x)) || q_{t+1})}``.
        theory_tv_now_max: largest ``TV(P(. | eta*), P(. | eta))`` (0 up to rounding: a check).
        mean_norm: mean ``|Delta|`` of ``blind``; ``decode_error``: its largest decode error.
    """

    hook: str
    label: str
    reaches_next_position: bool
    tv_now: BlindValues
    tv_later: BlindValues
    theory_tv_later: float
    kl_later: BlindValues
    kl_later_own: BlindValues
    theory_tv_now_max: float
    mean_norm: float
    decode_error: float


@dataclass
class InterventionReport(Record):
    """``RUN_DIR/mechanisms/interventions.json``.

    ``ahead`` and ``blind`` hold the beyond-next-token and blind-steering tests per hook
    (``blind`` is empty with ``blind_note`` saying why when the process has no prediction-blind
    subspace).
    """

    run_dir: str
    process: str
    process_params: dict[str, Any]
    model: dict[str, Any]
    step: int
    num_pairs: int
    seed: int
    pairs: str
    hooks: dict[str, HookIntervention]
    seconds: float
    ahead: dict[str, AheadIntervention] = field(default_factory=dict)
    ahead_pairs: int = 0
    ahead_dropped: int = 0
    blind: dict[str, BlindIntervention] = field(default_factory=dict)
    blind_dimension: int | None = None
    blind_pairs: int = 0
    blind_dropped: int = 0
    blind_note: str = ""


PAIRS_DESCRIPTION = ("inputs: held-out (test-fold) sequences drawn with their probability at a "
                     "uniform process position; targets: beliefs of independent draws of the same "
                     "kind, distinct from the input's (the ceiling donor is that draw); same-belief "
                     "donor: the other prefix of the same length with the nearest belief; the same "
                     "pairs at every hook")


def _stat(values: np.ndarray, fn) -> float | None:
    return None if np.all(np.isnan(values)) else float(fn(values))


def _sem(v: np.ndarray) -> float:
    return float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0


class SameBeliefControl(NamedTuple):
    """The same-belief donors' bookkeeping, reported beside the network's change.

    Attributes:
        distance: ``(N,)`` distance of each donor's belief from its input's (probe coordinates).
        theory_tv: ``(N,)`` ``TV(P(. | eta_donor), P(. | eta))``: the change of a network that
            reads only the belief.
    """

    distance: np.ndarray
    theory_tv: np.ndarray


def summarize(hook: str, label: str, probe_mse: float, coef: np.ndarray, features: np.ndarray,
              effects: InterventionEffects, config: InterventionConfig | None = None, *,
              same_belief: SameBeliefControl | None = None) -> HookIntervention:
    """The :class:`HookIntervention` of one hook's effects.

    Args:
        hook: the hook.
        label: its human label.
        probe_mse: the probe's held-out MSE.
        coef: ``(k, d)`` the probe intervened with (its rank is counted with ``config.rtol``).
        features: ``(N, d)`` the inputs' activations.
        effects: the same-position effects (:func:`~compmech.mechanisms.interventions.intervention_effects`).
        config: the options the effects were computed with (default: the defaults).
        same_belief: the same-belief donors' distances and theory TV, or ``None``.
    """
    rtol = (config or InterventionConfig()).rtol
    rank = _svd(coef, rtol)[3]
    kl = effects.kl_bits
    return HookIntervention(
        hook=hook, label=label, probe_mse_test=float(probe_mse), probe_rank=rank,
        null_dim=int(coef.shape[1] - rank),
        mean_kl_bits=ConditionValues.of(kl, np.mean), sem_kl_bits=ConditionValues.of(kl, _sem),
        median_kl_bits=ConditionValues.of(kl, np.median),
        own_kl_bits=float(effects.own_kl_bits.mean()), mean_norm=float(effects.norms.mean()),
        mean_cov_norm=_stat(effects.cov_norms, np.mean),
        mean_activation_norm=float(np.linalg.norm(features, axis=1).mean()),
        decode_error=float(effects.decode_error.max()),
        null_output_change=_stat(effects.null_output_change, np.mean),
        random_output_change=float(effects.random_output_change.mean()),
        fraction_below_random=float((kl["intervened"] < kl["random"]).mean()),
        fraction_cov_below_random=None if np.all(np.isnan(kl["intervened_cov"]))
        else float((kl["intervened_cov"] < kl["random_cov"]).mean()),
        tv_from_none=ConditionValues.of(effects.tv_from_none, np.mean),
        same_belief_distance=None if same_belief is None else float(np.mean(same_belief.distance)),
        same_belief_theory_tv=None if same_belief is None
        else float(np.mean(same_belief.theory_tv)))


def summarize_ahead(hook: str, label: str, reaches: bool,
                    effects: InterventionEffects) -> AheadIntervention:
    """The :class:`AheadIntervention` of one hook's beyond-next-token effects."""
    kl = effects.kl_bits
    return AheadIntervention(
        hook=hook, label=label, reaches_next_position=bool(reaches),
        mean_kl_bits=ConditionValues.of(kl, np.mean), sem_kl_bits=ConditionValues.of(kl, _sem),
        tv_from_none=ConditionValues.of(effects.tv_from_none, np.mean),
        own_kl_bits=float(effects.own_kl_bits.mean()),
        decode_error=float(effects.decode_error.max()))


def summarize_blind(hook: str, label: str, reaches: bool, effects: BlindEffects) -> BlindIntervention:
    """The :class:`BlindIntervention` of one hook's blind-steering effects."""
    def mean(d):
        return BlindValues.of(d, np.mean)

    return BlindIntervention(
        hook=hook, label=label, reaches_next_position=bool(reaches), tv_now=mean(effects.tv_now),
        tv_later=mean(effects.tv_later), theory_tv_later=float(effects.theory_tv_later.mean()),
        kl_later=mean(effects.kl_later), kl_later_own=mean(effects.kl_later_own),
        theory_tv_now_max=float(effects.theory_tv_now.max()), mean_norm=float(effects.norms.mean()),
        decode_error=float(effects.decode_error.max()))


# ------------------------------------------------------------------------------- printing


def intervention_lines(report: InterventionReport) -> list[str]:
    """The per-hook tables (mean KL in bits over pairs; TV from no change), as printed lines."""
    head = (f"{'hook':<26} {'probe MSE':>9} {'own':>8} {'none':>6} | {'|Delta|':>7} "
            f"{'interv.':>7} {'random':>6} {'null':>6} | {'|D_cov|':>7} {'interv.':>7} "
            f"{'random':>6} {'null':>6}")
    lines = [f"same position: mean KL(P(.|eta*) || model) in bits over {report.num_pairs} pairs; "
             "own = KL(P(.|eta) || model) unpatched; left: Euclidean minimum-norm change, right: "
             "in the activations' metric (cov)", head]
    for h in report.hooks.values():
        m = h.mean_kl_bits
        lines.append(f"{h.hook:<26} {h.probe_mse_test:>9.2e} {h.own_kl_bits:>8.2e} "
                     f"{fmt(m.none):>6} | {h.mean_norm:>7.3g} {fmt(m.intervened):>7} "
                     f"{fmt(m.random):>6} {fmt(m.null_space):>6} | "
                     f"{fmt(h.mean_cov_norm):>7} {fmt(m.intervened_cov):>7} "
                     f"{fmt(m.random_cov):>6} {fmt(m.null_space_cov):>6}")
    lines += ["controls: KL of the ceiling (donor activation with belief eta*) and of the "
              "shuffled-target probe's same-size move; TV(q, q_none) of the null-space changes "
              "(invariance = small against the intervened TV) and of the same-belief swap (beside "
              "the theory's own TV for the donor's belief)",
              f"{'hook':<26} {'ceiling':>7} {'shuf.pr':>7} | {'TV int':>6} {'TV null':>7} "
              f"{'TV intc':>7} {'TV nullc':>8} | {'TV swap':>7} {'theory':>6} {'dist':>7}"]
    for h in report.hooks.values():
        m, tv = h.mean_kl_bits, h.tv_from_none
        lines.append(f"{h.hook:<26} {fmt(m.ceiling):>7} {fmt(m.shuffled_probe):>7} "
                     f"| {fmt(tv.intervened):>6} {fmt(tv.null_space):>7} "
                     f"{fmt(tv.intervened_cov):>7} {fmt(tv.null_space_cov):>8} | "
                     f"{fmt(tv.same_belief):>7} {fmt(h.same_belief_theory_tv):>6} "
                     f"{fmt(h.same_belief_distance):>7}")
    if report.ahead:
        lines += [f"beyond the next token: patched at t, KL(P(.|update(eta*, x_t+1)) || model at "
                  f"t+1) in bits over {report.ahead_pairs} pairs ({report.ahead_dropped} target "
                  "draws dropped: they gave x_t+1 no probability); 'reach' = a change at this hook "
                  "can reach t+1 (a transformer's last block output cannot; a null effect below it "
                  "does not mean the belief is unused)",
                  f"{'hook':<26} {'reach':>5} {'own':>8} {'none':>6} {'interv.':>7} {'random':>6} "
                  f"{'intv.cov':>8} {'rand.cov':>8} {'ceiling':>7} {'shuf.pr':>7}"]
        for h in report.ahead.values():
            m = h.mean_kl_bits
            lines.append(f"{h.hook:<26} {'yes' if h.reaches_next_position else 'no':>5} "
                         f"{h.own_kl_bits:>8.2e} {fmt(m.none):>6} {fmt(m.intervened):>7} "
                         f"{fmt(m.random):>6} {fmt(m.intervened_cov):>8} "
                         f"{fmt(m.random_cov):>8} {fmt(m.ceiling):>7} "
                         f"{fmt(m.shuffled_probe):>7}")
    lines.append(f"prediction-blind steering: {report.blind_note}")
    if report.blind:
        lines += [f"  {report.blind_pairs} pairs ({report.blind_dropped} draws dropped); TV of the "
                  "current (now) and next (later) prediction from no change; theory = the later "
                  "change of a network that carries its belief",
                  f"{'hook':<26} {'reach':>5} {'now':>6} {'now rnd':>7} {'now cov':>7} "
                  f"{'later':>6} {'lat.cov':>7} {'lat.rnd':>7} {'theory':>6}"]
        for h in report.blind.values():
            lines.append(f"{h.hook:<26} {'yes' if h.reaches_next_position else 'no':>5} "
                         f"{fmt(h.tv_now.blind):>6} {fmt(h.tv_now.random):>7} "
                         f"{fmt(h.tv_now.blind_cov):>7} {fmt(h.tv_later.blind):>6} "
                         f"{fmt(h.tv_later.blind_cov):>7} {fmt(h.tv_later.random_cov):>7} "
                         f"{h.theory_tv_later:>6.3g}")
    return lines


# ------------------------------------------------------------------------------- seeds
SEED_SPREAD = "mean ± sample standard deviation (ddof = 1) over training seeds (runs): seed spread"


@dataclass
class InterventionSeedReport(Record):
    """The intervention numbers of several runs (seeds) of one recipe: per hook and condition, the
    per-run means and their spread across runs (:class:`~compmech.probing.ensembles.SeedSpread`).

    Attributes:
        runs: the run directories.
        spread: what the ``±`` spans (:data:`SEED_SPREAD`).
        kl_bits: ``{hook: {condition: SeedSpread}}`` same-position mean KL.
        tv_from_none: ``{hook: {condition: SeedSpread}}`` same-position mean TV from no change.
        ahead_kl_bits: ``{hook: {condition: SeedSpread}}`` beyond-next-token mean KL.
        blind_tv_now, blind_tv_later: ``{hook: {condition: SeedSpread}}``.
        blind_theory_tv_later: ``{hook: SeedSpread}``.
    """

    runs: list[str]
    spread: str
    kl_bits: dict[str, dict[str, SeedSpread]]
    tv_from_none: dict[str, dict[str, SeedSpread]]
    ahead_kl_bits: dict[str, dict[str, SeedSpread]]
    blind_tv_now: dict[str, dict[str, SeedSpread]]
    blind_tv_later: dict[str, dict[str, SeedSpread]]
    blind_theory_tv_later: dict[str, SeedSpread]


def _spread(reports, part: Callable, conditions) -> dict[str, dict[str, SeedSpread]]:
    hooks = list(dict.fromkeys(h for r in reports for h in part(r)))
    return {h: {c: SeedSpread.of([part(r)[h].value(c) if h in part(r) else None
                                  for r in reports]) for c in conditions}
            for h in hooks}


def _spread_one(reports, part: Callable) -> dict[str, SeedSpread]:
    hooks = list(dict.fromkeys(h for r in reports for h in part(r)))
    return {h: SeedSpread.of([part(r).get(h) for r in reports]) for h in hooks}


def seed_summary(reports: Sequence[InterventionReport]) -> InterventionSeedReport:
    """The spread over runs of the per-run intervention means (hooks matched by name)."""
    if not reports:
        raise ValueError("give at least one intervention report")
    return InterventionSeedReport(
        runs=[r.run_dir for r in reports], spread=SEED_SPREAD,
        kl_bits=_spread(reports, lambda r: {h: v.mean_kl_bits for h, v in r.hooks.items()},
                        CONDITIONS),
        tv_from_none=_spread(reports, lambda r: {h: v.tv_from_none for h, v in r.hooks.items()},
                             CONDITIONS),
        ahead_kl_bits=_spread(reports, lambda r: {h: v.mean_kl_bits for h, v in r.ahead.items()},
                              CONDITIONS),
        blind_tv_now=_spread(reports, lambda r: {h: v.tv_now for h, v in r.blind.items()},
                             BLIND_CONDITIONS),
        blind_tv_later=_spread(reports, lambda r: {h: v.tv_later for h, v in r.blind.items()},
                               BLIND_CONDITIONS),
        blind_theory_tv_later=_spread_one(
            reports, lambda r: {h: v.theory_tv_later for h, v in r.blind.items()}))


def seed_summary_lines(summary: InterventionSeedReport,
                       conditions: Sequence[str] = CONDITIONS) -> list[str]:
    """Per test, hook and condition: mean KL (or TV) in bits, ``±`` the seed spread."""
    n = len(summary.runs)
    lines = [f"{SEED_SPREAD}; {n} runs"]
    for title, table in (("same position, KL bits", summary.kl_bits),
                         ("same position, TV from none", summary.tv_from_none),
                         ("beyond the next token (t+1), KL bits", summary.ahead_kl_bits)):
        if not table:
            continue
        lines.append(title)
        for hook, row in table.items():
            lines.append(f"  {hook:<26} " + "; ".join(
                f"{c} {row[c].text('.3g', '.2g', '±')}" for c in conditions
                if c in row and row[c].mean is not None))
    for title, table in (("blind steering, TV now", summary.blind_tv_now),
                         ("blind steering, TV later", summary.blind_tv_later)):
        for hook, row in table.items():
            lines.append(f"{title}: {hook:<26} " + "; ".join(
                f"{c} {v.text('.3g', '.2g', '±')}" for c, v in row.items() if v.mean is not None)
                + (f"; theory {summary.blind_theory_tv_later[hook].text('.3g', '.2g', '±')}"
                   if title.endswith("later") else ""))
    return lines


__all__ = [
    "SEED_SPREAD",
    "AheadIntervention",
    "BlindIntervention",
    "BlindValues",
    "ConditionValues",
    "HookIntervention",
    "InterventionReport",
    "InterventionSeedReport",
    "SameBeliefControl",
    "intervention_lines",
    "seed_summary",
    "seed_summary_lines",
    "summarize",
    "summarize_ahead",
    "summarize_blind",
]
