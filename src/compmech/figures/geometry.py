"""Geometry figures: the scale-by-scale comparison of a learned cloud with the theory's
(:func:`geometry_scales`, :func:`decoder_scales`, :func:`geometry_over_training`) and the
mixed-state tree (:func:`mixed_state_tree_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from compmech.figures.common import BeliefPlane, finish
from compmech.formatting import fmt
from compmech.geometry import SQRT3_2
from compmech.msp import MixedStateTree


# ------------------------------------------------------------------------------ scale by scale
def _mark_scale(ax, value, label: str, color, ls: str) -> None:
    if value is not None and np.isfinite(value) and value > 0:
        ax.axvline(value, color=color, ls=ls, lw=1, label=label)


def _paired_panel(ax, entries: Sequence[tuple[str, object]], *, null: bool = True) -> None:
    """Paired statistics of each ``(label, GeometryComparison)``: the fraction of pairs at true
    distance in ``[eps, 2 eps)`` that keep their distance, with the 1/2 threshold, and each paired
    resolution as a vertical line of the same colour."""
    for i, (label, c) in enumerate(entries):
        color = f"C{i}"
        res = f"{c.resolution:.2g}" if c.resolved else "none"
        ax.semilogx(c.scales, c.paired_fraction_predicted, "o-", ms=2.5, lw=1, color=color,
                    label=f"{label} (paired resolution {res})")
        _mark_scale(ax, c.resolution if c.resolved else None, None, color, "-")
    c = entries[0][1]
    if null:
        ax.semilogx(c.scales, c.paired_fraction_null, "s--", ms=2, lw=0.8, color="0.45",
                    label=f"null: truth + permuted residuals ({c.null_resolution:.2g})")
    ax.axhline(0.5, color="k", ls=":", lw=1, label="half the pairs")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("scale eps (belief-plane distance)")
    ax.set_ylabel(f"pairs keeping their distance (x{c.pair_tolerance:g})")
    ax.invert_xaxis()


def _distance_panel(ax, c) -> None:
    """The measure comparison (diagnostic): kernel distance ``rho(eps)`` of the predicted cloud and
    of the null model to the truth, with its agreement threshold."""
    agrees = fmt(c.distribution_resolution, ".2g", missing="none")
    ax.semilogx(c.scales, c.distance_predicted, "o-", ms=2.5, lw=1, color="C0",
                label=f"predicted (measure agrees to {agrees})")
    ax.semilogx(c.scales, c.distance_null, "s--", ms=2, lw=0.8, color="0.45", label="null model")
    ax.semilogx(c.scales, c.tolerance_curve, "k:", lw=1, label="agreement threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("scale eps (belief-plane distance)")
    ax.set_ylabel("kernel distance of the measures (blind to pairing)")
    ax.invert_xaxis()


def geometry_scales(c, *, title: str = "", stem: str | Path | None = None) -> Figure:
    """The predicted cloud against the truth scale by scale (one
    :class:`compmech.comparison.GeometryComparison`): the paired statistic (pairs keeping their
    distance, predicted and null model), the measure comparison (a diagnostic), correlation sums
    and box entropies of the true, predicted and null clouds; the paired resolution (solid), the
    null model's (dashed) and the residual RMS (grey) marked; scales below the resolution shaded
    (there the predicted cloud shows the error, not the fractal)."""
    fig = Figure(figsize=(15.0, 3.6))
    ap, a0, a1, a2 = fig.subplots(1, 4)
    _paired_panel(ap, [("predicted", c)])
    ap.legend(fontsize=6.5, frameon=False, loc="lower left")
    _distance_panel(a0, c)
    a0.legend(fontsize=6.5, frameon=False, loc="upper left")
    with np.errstate(divide="ignore"):
        for ax, key, ylabel in ((a1, "correlation", "correlation sum C(eps)"),
                                (a2, "entropy", "box-occupation entropy (bits)")):
            suffix = "" if key == "correlation" else "_bits"
            for name, color, ls in (("true", "k", "-"), ("predicted", "C0", "-"),
                                    ("null", "0.45", "--")):
                y = getattr(c, f"{key}_{name}{suffix}")
                plot = ax.loglog if key == "correlation" else ax.semilogx
                plot(c.scales, np.where(y > 0, y, np.nan) if key == "correlation" else y, ls,
                     color=color, marker="o", ms=2, lw=1, label=name)
            ax.set_xlabel("scale eps (belief-plane distance)")
            ax.set_ylabel(ylabel)
            ax.invert_xaxis()
    for ax in (ap, a0, a1, a2):
        _mark_scale(ax, c.resolution, None, "C0", "-")
        _mark_scale(ax, c.null_resolution, None, "0.45", "--")
        _mark_scale(ax, c.noise_rms, None, "0.7", ":")
        ax.axvspan(c.scales[-1] / 1.2, c.resolution, color="0.92", zorder=0)
        ax.tick_params(labelsize=7)
    fits = [f for f in (c.dimension_true, c.dimension_predicted) if f is not None]
    if fits:
        lo, hi = fits[0].fit_range
        a1.axvspan(lo, hi, color="C2", alpha=0.12, zorder=0, label="dimension fit range")
    a1.legend(fontsize=7, frameon=False)
    a2.legend(fontsize=7, frameon=False)
    dims = ("point-cloud dims above the resolution: correlation " + " vs ".join(
        f"{f.dimension:.2f}+-{f.stderr:.2f}" for f in fits) + " (true vs predicted)") if len(
        fits) == 2 else (c.dimension_note or "")
    res = f"{c.resolution:.2g}" if c.resolved else f"none below the extent {c.extent:.2g}"
    fig.suptitle((f"{title}\n" if title else "") + f"paired resolution {res} (null model "
                 f"{c.null_resolution:.2g}, residual RMS {c.noise_rms:.2g}); {dims}", fontsize=8.5)
    return finish(fig, stem)


def decoder_scales(panels: Sequence[tuple[str, Sequence[tuple[str, object]]]], *,
                   title: str = "") -> Figure:
    """Pairs keeping their distance against scale for several decoders (linear probe, kNN, MLP,
    Markov-k lookups) on the same held-out points, one panel per ``(label, [(decoder,
    GeometryComparison)])``."""
    fig = Figure(figsize=(5.2 * len(panels), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (label, entries) in zip(axes, panels, strict=True):
        _paired_panel(ax, entries, null=False)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=6.5, frameon=False, loc="upper left")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


class GeometryCurve(NamedTuple):
    """The held-out geometry at each checkpoint (``(C,)`` each; ``None`` entries: not measured).

    Attributes:
        tokens: training tokens seen.
        mse: the probe's held-out MSE.
        resolution: the paired resolution (belief-plane distance).
        null_resolution: the null model's (truth plus permuted residuals).
        noise_rms: the residual RMS (in-plane vector norm).
        history: the equivalent history (tokens).
    """

    tokens: Sequence[float]
    mse: Sequence[float | None]
    resolution: Sequence[float | None]
    null_resolution: Sequence[float | None]
    noise_rms: Sequence[float | None]
    history: Sequence[float | None]


def geometry_over_training(curve: GeometryCurve, *, context: int | None = None, title: str = "",
                           stem: str | Path | None = None) -> Figure:
    """Over training (tokens seen): the probe MSE beside the paired resolution (with the null
    model's and the residual RMS) and the equivalent history in tokens (the Markov-k lookup of the
    same error; ``context`` marks its ceiling). The initialisation (0 tokens) is a horizontal
    line."""
    tokens = np.asarray(curve.tokens, dtype=float)
    series = {k: np.array([np.nan if v is None else float(v) for v in vals])
              for k, vals in (("mse", curve.mse), ("res", curve.resolution),
                              ("null", curve.null_resolution), ("rms", curve.noise_rms),
                              ("history", curve.history))}
    keep = tokens > 0
    fig = Figure(figsize=(12.0, 3.4))
    a0, a1, a2 = fig.subplots(1, 3)
    for ax, items, ylabel, log in (
            (a0, [("mse", "probe MSE (held-out)", "C0", "o-")], "probe MSE", True),
            (a1, [("res", "paired resolution", "C3", "o-"),
                  ("null", "null model's resolution", "0.45", "s--"),
                  ("rms", "residual RMS", "0.7", "^:")], "scale (belief-plane distance)", True),
            (a2, [("history", "equivalent history (Markov-k lookup of equal error)", "C2", "o-")],
             "tokens", False)):
        for key, label, color, style in items:
            y = series[key]
            (ax.loglog if log else ax.semilogx)(tokens[keep], y[keep], style, ms=3, color=color,
                                                label=label)
            if (~keep).any() and np.isfinite(y[~keep][0]):
                ax.axhline(y[~keep][0], color=color, lw=0.8, alpha=0.5)
        ax.set_xlabel("training tokens seen (line: initialisation)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, frameon=False)
        ax.tick_params(labelsize=7)
    if context is not None:
        a2.axhline(context, color="k", ls=":", lw=1)
        a2.set_ylim(-0.2, context + 0.5)
    if not np.isfinite(series["history"]).any():
        a2.text(0.5, 0.5, "no equivalent history", ha="center", va="center",
                transform=a2.transAxes, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return finish(fig, stem)


# ------------------------------------------------------------------------------ mixed states
def mixed_state_tree_figure(tree: MixedStateTree, hmm, *, title: str | None = None) -> Figure:
    """Every node of a mixed-state tree in the belief plane, coloured by belief and sized by its word
    probability relative to the others at its depth (so every level contributes equally); the
    generating HMM's states (one-hot beliefs) are marked and named.

    Example:
        >>> import compmech                                                     # doctest: +SKIP
        >>> hmm = compmech.get_process("mess3")
        >>> save(mixed_state_tree_figure(compmech.mixed_state_tree(hmm, 8), hmm), "mess3_msp")
    """
    beliefs = tree.all_beliefs()
    rel = np.concatenate([p * p.shape[0] for p in tree.probabilities])
    if title is None:
        params = ", ".join(f"{k}={v}" for k, v in hmm.params.items())
        title = (f"{hmm.name}({params}): mixed states to depth {tree.depth} "
                 f"({tree.num_nodes:,} words)")
    plane = BeliefPlane(beliefs if beliefs.shape[0] > 1 else np.eye(hmm.num_states))
    fig = Figure(figsize=(6.0, 5.6))
    ax = fig.subplots()
    sizes = np.clip(30.0 * np.sqrt(rel / rel.max()), 0.3, None)
    order = np.argsort(-sizes, kind="stable")  # largest first, so small points stay visible
    xy = plane.xy(beliefs[order])
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes[order], c=plane.colors(beliefs[order]), lw=0,
               rasterized=True)
    plane.decorate(ax)
    corners = plane.xy(np.eye(hmm.num_states))
    centre = corners.mean(axis=0)
    for k, name in enumerate(hmm.state_names):
        ax.scatter(*corners[k], marker="^", s=60, facecolor="none", edgecolor="k", zorder=3)
        offset = corners[k] - centre
        offset = 0.06 * offset / (np.linalg.norm(offset) or 1.0)
        ax.text(*(corners[k] + offset), str(name), ha="center", va="center", fontsize=11)
    if plane.simplex:
        ax.set_xlim(-0.08, 1.08)
        ax.set_ylim(-0.08, SQRT3_2 + 0.08)
    ax.set_title(title, fontsize=10)
    return fig


__all__ = [
    "GeometryCurve",
    "decoder_scales",
    "geometry_over_training",
    "geometry_scales",
    "mixed_state_tree_figure",
]
