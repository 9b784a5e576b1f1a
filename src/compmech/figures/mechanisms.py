"""The mechanisms' figures: attention against distance per head with the theory's decay rates
(:func:`attention_figure`), and the model's next-token probabilities after a belief intervention
against the theory's (:func:`intervention_figure`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from compmech.formatting import fmt
from compmech.mechanisms.attention import AttentionReport, HeadAttention
from compmech.mechanisms.intervention_records import InterventionReport

#: Pairs drawn per panel of the intervention figure.
FIGURE_PAIRS = 600


# -------------------------------------------------------------------------------- figures
def anchored_decay(rate: float, profile, distances: np.ndarray) -> np.ndarray:
    """``C rate^k`` at ``distances``, ``C`` chosen so that the curve meets the profile's geometric
    mean over the distances ``k >= 1`` it has: slopes on a log axis compare, offsets do not."""
    prof = np.asarray(profile, dtype=np.float64)
    ks = np.arange(1, prof.size)
    ok = np.isfinite(prof[ks]) & (prof[ks] > 0)
    if not ok.any() or not rate > 0:
        return np.full(distances.shape, np.nan)
    log_c = np.mean(np.log(prof[ks][ok]) - ks[ok] * math.log(rate))
    return np.exp(log_c + distances * math.log(rate))


def _head_panel(ax, head: HeadAttention, lam: float | None, positions: int,
                rho_star: float | None = None) -> None:
    k = np.arange(positions)
    ks = np.arange(1, positions)
    ax.semilogy(k, head.profile, "o", color="black", ms=4, label="model (mean over inputs)")
    fit = head.fit if head.best_parity == "all" else head.parity_fits[head.best_parity]
    if fit.rate is not None and math.isfinite(fit.rate):
        ax.semilogy(ks, anchored_decay(fit.rate, head.profile, ks), "-", color="tab:blue",
                    label=f"fit rho={fit.rate:.3f} ({fit.parity}; log scale, s<t, s>0), R2 "
                          + fmt(fit.explained, ".2f"))
    if lam is not None and lam != 0:
        ax.semilogy(ks, anchored_decay(abs(lam), head.profile, ks), "--", color="tab:red",
                    label=f"|lambda|={abs(lam):.3f}" + (" (lambda < 0)" if lam < 0 else "")
                    + " (weak emission)")
    if rho_star is not None:
        ax.semilogy(ks, anchored_decay(rho_star, head.profile, ks), ":", color="tab:green",
                    label=f"rho*={rho_star:.3f} (constrained update)")
    ax.set_title(f"layer {head.layer}, head {head.head}", fontsize=9)
    ax.set_xlabel("distance t - s")
    ax.set_ylim(max(1e-4, 0.3 * np.nanmin(np.maximum(head.profile, 1e-4))), 1.5)
    ax.legend(fontsize=6, loc="lower left")


def attention_figure(report: AttentionReport, layers: Sequence[int] | None = None) -> Figure:
    """Mean attention by distance per head (rows: layers, columns: heads; :func:`distance_profile`)
    with the fitted decay, ``|lambda|^k`` and ``rho*^k`` drawn through the profile's distances
    ``k >= 1`` (:func:`anchored_decay`: on the log axis their slopes compare with the data's)."""
    heads = [h for h in report.heads if layers is None or h.layer in layers]
    if not heads:
        raise ValueError("no heads to draw")
    rows = sorted({h.layer for h in heads})
    cols = max(h.head for h in heads) + 1
    one_row = cols == 1  # one head per layer: the layers side by side
    shape = (1, len(rows)) if one_row else (len(rows), cols)
    fig = Figure(figsize=(3.0 * shape[1], 2.6 * shape[0]), layout="constrained")
    axes = fig.subplots(*shape, squeeze=False)
    positions = len(heads[0].profile)
    for h in heads:
        ax = axes[0, rows.index(h.layer)] if one_row else axes[rows.index(h.layer), h.head]
        _head_panel(ax, h, report.theory_lambda, positions, report.theory_rho_star)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean attention")
    fig.suptitle(f"{report.process} {report.process_params}: attention vs distance", fontsize=10)
    return fig


def _subsample(n: int, k: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= k else np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


#: The intervention figure's rows: (condition, its random control, label, colour).
FIGURE_ROWS = (("intervened", "random", "minimum-norm change", "tab:blue"),
               ("intervened_cov", "random_cov", "least change in the activations' metric",
                "tab:orange"))


@dataclass(frozen=True)
class InterventionArrays:
    """What the intervention figure draws of one hook.

    Attributes:
        predicted: ``(N, V)`` the theory's ``P(. | eta*)`` per pair.
        probs: ``{condition: (N, V')}`` the model's next-token distributions after each change.
    """

    predicted: np.ndarray
    probs: Mapping[str, np.ndarray]


def intervention_figure(report: InterventionReport, arrays: Mapping[str, InterventionArrays],
                        seed: int = 0) -> Figure:
    """Per hook (columns) and kind of change (rows: Euclidean minimum norm; activations' metric):
    the theory's ``P(x | eta*)`` against the model's next-token probability after the
    intervention (colour) and after the random change of the same norm (grey).

    Args:
        report: the intervention report.
        arrays: ``{hook: InterventionArrays}``
            (:func:`~compmech.experiments.mechanisms.intervention_arrays` or
            :func:`~compmech.experiments.mechanisms.load_intervention_arrays`).
        seed: seed of the drawn pairs.
    """
    hooks = list(arrays)
    rows = [r for r in FIGURE_ROWS if all(r[0] in arrays[h].probs for h in hooks)]
    fig = Figure(figsize=(2.3 * len(hooks), 2.4 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(hooks), squeeze=False)
    for j, hook in enumerate(hooks):
        a, summary = arrays[hook], report.hooks[hook]
        idx = _subsample(a.predicted.shape[0], FIGURE_PAIRS, seed)
        V = a.predicted.shape[1]
        p = a.predicted[idx].ravel()
        for i, (cond, control, label, colour) in enumerate(rows):
            ax = axes[i, j]
            ax.plot([0, 1], [0, 1], color="black", lw=0.8)
            ax.scatter(p, a.probs[control][idx, :V].ravel(), s=1.5, color="0.65", alpha=0.5,
                       rasterized=True, label="random, same norm")
            ax.scatter(p, a.probs[cond][idx, :V].ravel(), s=1.5, color=colour, alpha=0.5,
                       rasterized=True, label=label)
            m = summary.mean_kl_bits
            ax.set_title(f"{summary.label}: KL {m.value(cond):.3f}\n(random "
                         f"{m.value(control):.3f}, none {m.none:.3f} bits)", fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel("model P(next token)", fontsize=7)
                ax.legend(fontsize=5, loc="upper left", markerscale=4)
            if i == len(rows) - 1:
                ax.set_xlabel("theory P(x | eta*)", fontsize=7)
    return fig


__all__ = [
    "anchored_decay",
    "attention_figure",
    "intervention_figure",
]
