"""Every figure of the toolkit, in one module: belief clouds (theory beside learned), the
mixed-state tree, training curves, a run's figure folder, and the experiments' panels.

One projection (:class:`BeliefPlane`: the 2-simplex for three states, ``x = b1 + b2/2``,
``y = (sqrt 3 / 2) b2``; otherwise the plane of the first two principal components of the
theory's beliefs, applied to the learned points too), one colour convention (RGB = belief for three
states; otherwise the first three principal coordinates rescaled to ``[0, 1]``), and one save helper
(:func:`save`: PNG and PDF at :data:`DPI`, written atomically, scatter layers rasterised so that
PDFs stay small). Figures are built with the object-oriented API (``matplotlib.figure.Figure``), so
no pyplot state or GUI backend is touched. ``import compmech`` does not import this module.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from compmech.files import atomic_output
from compmech.geometry import SQRT3_2, pca, simplex_projection
from compmech.hmm import GHMM
from compmech.msp import MixedStateTree, mixed_state_tree
from compmech.pipeline.probing import (
    PAPER,
    POINTS_FILE,
    dimension_text,
    hook_label,
    load_report,
    resolution_text,
)
from compmech.pipeline.records import get_field
from compmech.pipeline.targets import belief_targets
from transformer import Run, load_run

#: Most points drawn per panel (a seeded subsample beyond this; the metrics use every point).
MAX_POINTS = 30_000
#: Resolution of every PNG.
DPI = 150
#: The folder of a run's figures.
FIGURES_DIR = "figures"


# ------------------------------------------------------------------------------ projections
class BeliefPlane:
    """How beliefs ``(N, S)`` are placed in the plane and coloured, fixed by the theory's beliefs.

    ``S == 3``: the 2-simplex (:func:`compmech.geometry.simplex_projection`), colour = RGB of the
    belief. Otherwise: the first two principal axes of the reference beliefs
    (:func:`compmech.geometry.pca`); colour = the first three principal coordinates rescaled to
    ``[0, 1]`` over the reference, so every panel uses the same projection and the same colours.
    ``simplex=False`` forces the principal axes for three columns that are not probabilities (a
    generalized HMM's belief-plane coordinates).
    """

    def __init__(self, reference_beliefs: np.ndarray, simplex: bool | None = None):
        ref = np.asarray(reference_beliefs, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] < 2:
            raise ValueError(f"beliefs must have shape (N, S) with S >= 2; got {ref.shape}")
        self.num_states = ref.shape[1]
        self.simplex = self.num_states == 3 if simplex is None else bool(simplex and ref.shape[1] == 3)
        if not self.simplex:
            self.pca = pca(ref, min(3, self.num_states))
            coords = self.pca.transform(ref)
            self.lo, self.hi = coords.min(0), coords.max(0)

    def xy(self, beliefs: np.ndarray) -> np.ndarray:
        """``(N, S) -> (N, 2)`` plane coordinates."""
        if self.simplex:
            return simplex_projection(beliefs)
        coords = self.pca.transform(beliefs)
        if coords.shape[1] < 2:
            coords = np.concatenate([coords, np.zeros((coords.shape[0], 1))], axis=1)
        return coords[:, :2]

    def colors(self, beliefs: np.ndarray) -> np.ndarray:
        """``(N, S) -> (N, 3)`` RGB in ``[0, 1]``."""
        b = np.asarray(beliefs, dtype=np.float64)
        if self.simplex:
            return np.clip(b, 0.0, 1.0)
        coords = self.pca.transform(b)
        rgb = np.clip((coords - self.lo) / np.where(self.hi > self.lo, self.hi - self.lo, 1.0), 0, 1)
        if rgb.shape[1] < 3:
            rgb = np.concatenate([rgb, np.full((rgb.shape[0], 3 - rgb.shape[1]), 0.5)], axis=1)
        return rgb

    def axis_labels(self) -> tuple[str, str]:
        if self.simplex:
            return "", ""
        ratio = self.pca.explained_variance_ratio
        second = f"PC2 ({100 * ratio[1]:.0f}%)" if ratio.size > 1 else ""
        return f"PC1 ({100 * ratio[0]:.0f}% of belief variance)", second

    def decorate(self, ax) -> None:
        """Triangle outline (simplex) or PCA axis labels; equal aspect; no clutter."""
        if self.simplex:
            ax.plot([0, 1, 0.5, 0], [0, 0, SQRT3_2, 0], color="0.6", lw=0.8, zorder=0)
            ax.set_xlim(-0.05, 1.05)
            ax.set_ylim(-0.05, SQRT3_2 + 0.05)
            ax.set_axis_off()
        else:
            xl, yl = self.axis_labels()
            ax.set_xlabel(xl, fontsize=8)
            ax.set_ylabel(yl, fontsize=8)
            ax.tick_params(labelsize=7)
        ax.set_aspect("equal")


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _scatter(ax, plane: BeliefPlane, points: np.ndarray, color_beliefs: np.ndarray, *,
             max_points: int = MAX_POINTS, seed: int = 0, size: float | None = None) -> None:
    idx = _subsample(points.shape[0], max_points, seed)
    xy = plane.xy(points[idx])
    if size is None:  # few distinct points (RRXOR's 36 beliefs) need larger markers
        distinct = np.unique(np.round(xy, 6), axis=0).shape[0]
        size = float(np.clip(2000.0 / max(distinct, 1), 0.8, 25.0))
    ax.scatter(xy[:, 0], xy[:, 1], c=plane.colors(color_beliefs[idx]), s=size, lw=0,
               rasterized=True)
    plane.decorate(ax)


def _same_limits(axes, plane: BeliefPlane, *clouds: np.ndarray) -> None:
    """Give PCA panels common limits covering every cloud (simplex panels are fixed already)."""
    if plane.simplex:
        return
    xy = np.concatenate([plane.xy(c) for c in clouds], axis=0)
    lo, hi = np.percentile(xy, 0.5, axis=0), np.percentile(xy, 99.5, axis=0)
    pad = 0.05 * (hi - lo).max()
    for ax in axes:
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (atomically, at :data:`DPI`); returns the
    paths written."""
    stem = Path(stem)
    paths = []
    for fmt in formats:
        path = stem.parent / f"{stem.name}.{fmt}"
        with atomic_output(path) as fh:
            fig.savefig(fh, format=fmt, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    return paths


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1e}" if x < 1e-2 else f"{x:.3f}"


def baseline_caption(mse: float, baselines: dict[str, float] | None, shuffle_mse: float | None,
                     variance: float | None = None) -> str:
    """One line: held-out MSE and, beside it, the controls and baselines."""
    parts = [f"held-out MSE {_fmt(mse)}"]
    names = {"untrained": "untrained net", "onehot": "token x position one-hot",
             "random": "random features"}
    for key, value in (baselines or {}).items():
        parts.append(f"{names.get(key, key)} {_fmt(value)}")
    if shuffle_mse is not None:
        parts.append(f"shuffled labels {_fmt(shuffle_mse)}")
    if variance is not None:
        parts.append(f"belief variance {_fmt(variance)}")
    return " | ".join(parts)


# ---------------------------------------------------------------------------------- figures
def side_by_side(theory_beliefs: np.ndarray, predicted: np.ndarray, true: np.ndarray, *,
                 caption: str = "", title: str = "", stem: str | Path | None = None,
                 seed: int = 0, simplex: bool | None = None,
                 learned: str = "the residual stream") -> Figure:
    """Two panels: "theory (MSP)" | "learned (probe of ``learned``)", same axes, RGB = true belief.

    Args:
        theory_beliefs: ``(M, S)`` the mixed-state beliefs (e.g. every node of the MSP tree).
        predicted: ``(N, S)`` the probe's predictions on held-out points.
        true: ``(N, S)`` their true beliefs (the colours).
        caption: printed under the panels (MSE and baselines).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
        seed: seed of the subsample drawn when there are more than :data:`MAX_POINTS` points.
        simplex: ``False`` for three coordinates that are not probabilities (see
            :class:`BeliefPlane`).
        learned: what was probed, for the right panel's title (e.g. ``"layer 4 hidden"``).
    """
    plane = BeliefPlane(theory_beliefs, simplex=simplex)
    fig = Figure(figsize=(8.0, 4.4))
    axes = fig.subplots(1, 2)
    _scatter(axes[0], plane, theory_beliefs, theory_beliefs, seed=seed)
    _scatter(axes[1], plane, predicted, true, seed=seed)
    _same_limits(axes, plane, theory_beliefs, predicted)
    axes[0].set_title("theory: mixed-state presentation", fontsize=10)
    axes[1].set_title(f"learned: probe of {learned}\n(held-out points, colour = true belief)",
                      fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", fontsize=7.5, wrap=True)
    if plane.simplex:
        fig.subplots_adjust(left=0.02, right=0.98, top=0.85, bottom=0.1, wspace=0.05)
    else:  # room for the axis labels and tick labels of the PCA view
        fig.subplots_adjust(left=0.08, right=0.98, top=0.82, bottom=0.2, wspace=0.25)
    if stem is not None:
        save(fig, stem)
    return fig


def panel_grid(panels: Sequence[tuple[str, np.ndarray]], true: np.ndarray, *,
               theory_beliefs: np.ndarray | None = None, ncols: int = 4, title: str = "",
               caption: str = "", stem: str | Path | None = None, seed: int = 0,
               simplex: bool | None = None) -> Figure:
    """A grid of belief clouds: one panel per ``(label, predicted (N, S))``, coloured by ``true``.

    Used for the per-layer grid (embedding, each block, final LN, concatenation), the shuffle
    control and the emergence over training. With ``theory_beliefs`` the first panel is the theory.
    ``simplex=False``: three coordinates that are not probabilities (see :class:`BeliefPlane`).
    """
    plane = BeliefPlane(theory_beliefs if theory_beliefs is not None else true, simplex=simplex)
    items = list(panels)
    if theory_beliefs is not None:
        items = [("theory (MSP)", None)] + items
    n = len(items)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.5 * nrows + 0.6))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax, (label, pred) in zip(axes, items, strict=False):
        if pred is None:
            _scatter(ax, plane, theory_beliefs, theory_beliefs, seed=seed)
        else:
            _scatter(ax, plane, pred, true, seed=seed)
        ax.set_title(label, fontsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    used = [ax for ax in axes[:n]]
    clouds = [p for _, p in items if p is not None]
    _same_limits(used, plane, *clouds)
    if title:
        fig.suptitle(title, fontsize=10)
    if caption:
        fig.text(0.5, 0.01, caption, ha="center", fontsize=7)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9 if title else 0.95, bottom=0.06,
                        wspace=0.08, hspace=0.3)
    if stem is not None:
        save(fig, stem)
    return fig


def architecture_grid(rows: Sequence[tuple[str, np.ndarray, dict]], columns: Sequence[str], *,
                      title: str = "", stem: str | Path | None = None, seed: int = 0) -> Figure:
    """Rows of belief clouds: the theory, then one learned cloud per network.

    Args:
        rows: ``(label, theory_beliefs (M, k), {column: (predicted (N, k), true (N, k),
            caption)}, simplex)`` per row (e.g. per process; ``simplex``: the targets are
            probabilities of three states, drawn in the simplex); a missing column leaves its
            panel empty.
        columns: the network names, in column order (after the theory's).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
        seed: seed of the drawn subsample.
    """
    ncols = 1 + len(columns)
    fig = Figure(figsize=(2.5 * ncols, 2.6 * len(rows) + 0.6))
    axes = np.atleast_2d(fig.subplots(len(rows), ncols)).reshape(len(rows), ncols)
    for i, (label, theory, panels, simplex) in enumerate(rows):
        plane = BeliefPlane(theory, simplex=simplex)
        _scatter(axes[i, 0], plane, theory, theory, seed=seed)
        axes[i, 0].set_title(f"{label}: theory", fontsize=8)
        clouds = [theory]
        for j, name in enumerate(columns, start=1):
            ax = axes[i, j]
            if name not in panels:
                ax.set_axis_off()
                continue
            predicted, true, caption = panels[name]
            _scatter(ax, plane, predicted, true, seed=seed)
            ax.set_title(f"{name}\n{caption}", fontsize=6.5)
            clouds.append(predicted)
        _same_limits([axes[i, j] for j in range(ncols) if axes[i, j].axison], plane, *clouds)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.03, right=0.98, top=0.92 if title else 0.96, bottom=0.03,
                        wspace=0.35, hspace=0.55)
    if stem is not None:
        save(fig, stem)
    return fig


def loss_per_position(eval_loss: np.ndarray, optimal: np.ndarray, *, initial_loss=None,
                      components: Sequence[tuple] = (),
                      title: str = "", stem: str | Path | None = None) -> Figure:
    """Held-out cross-entropy per input position (nats) against the optimum ``h(t+1) ln 2``.

    ``components`` (a mixture's in-context curves): ``(name, loss on that component's data, that
    component's own optimum[, the Bayes-mixture optimum on its data])`` per component, drawn beside
    the mixture's. The Bayes-mixture curve (``E_k[H(P_k)] + E_k[KL(P_k || P_mix)]``) is the best
    any predictor achieves on the component's data; the optimum knowing the component lies below it
    and is not achievable (drawn faint).
    """
    eval_loss = np.asarray(eval_loss, dtype=float)
    optimal = np.asarray(optimal, dtype=float)
    pos = np.arange(1, eval_loss.size + 1)
    fig = Figure(figsize=(4.8 if not components else 6.0, 3.4))
    ax = fig.subplots()
    if initial_loss is not None:
        ax.plot(pos, initial_loss, "o-", color="0.7", ms=3, label="untrained")
    ax.plot(pos, eval_loss, "o-", color="C0", ms=3, label="trained" if not components
            else "trained, mixture")
    ax.plot(pos, optimal, "k--", lw=1, label="optimum (myopic entropy)" if not components
            else "optimum, mixture (Bayes over components)")
    for k, (name, loss, best, *bayes) in enumerate(components):
        color = f"C{k + 1}"
        ax.plot(pos, loss, "s-", ms=2.5, lw=1, color=color, label=f"trained, on {name}")
        if bayes and bayes[0] is not None:
            ax.plot(pos, bayes[0], "--", lw=1.2, color=color,
                    label=f"Bayes-mixture optimum on {name} (achievable)")
        ax.plot(pos, best, ":", lw=1.0, color=color, alpha=0.6,
                label=f"optimum knowing {name} (not achievable)")
    ax.set_xlabel("input position t")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_xticks(pos)
    ax.legend(fontsize=7 if components else 8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if stem is not None:
        save(fig, stem)
    return fig


def training_curves(tokens: np.ndarray, mse: np.ndarray, relative_loss_tokens: np.ndarray | None,
                    relative_loss: np.ndarray | None, *, baselines: dict[str, float] | None = None,
                    paper: dict[float, float] | None = None, title: str = "",
                    train_relative_loss: tuple | None = None,
                    stem: str | Path | None = None) -> Figure:
    """Probe MSE vs tokens seen (log-log) beside the relative excess loss vs tokens seen.

    ``paper`` maps tokens to the published MSE (drawn as crosses); ``baselines`` as dotted lines;
    ``train_relative_loss = (tokens, loss / optimum - 1)`` of the training batches as a line.
    """
    tokens = np.asarray(tokens, dtype=float)
    mse = np.asarray(mse, dtype=float)
    fig = Figure(figsize=(9.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    keep = tokens > 0
    ax1.loglog(tokens[keep], mse[keep], "o-", ms=3, color="C0", label="trained (held-out)")
    if (~keep).any():
        ax1.axhline(mse[~keep][0], color="0.6", lw=1, ls="-", label="initialisation")
    for i, (name, value) in enumerate((baselines or {}).items()):
        if value is not None and np.isfinite(value):
            ax1.axhline(value, color=f"C{i + 1}", lw=1, ls=":", label=name)
    if paper:
        ax1.loglog(list(paper), list(paper.values()), "kx", ms=6, label="Shai et al. 2024")
    ax1.set_xlabel("training tokens seen")
    ax1.set_ylabel("probe MSE (held-out)")
    ax1.legend(fontsize=7, frameon=False)
    if relative_loss is not None and len(relative_loss):
        rt = np.asarray(relative_loss_tokens, dtype=float)
        rl = np.asarray(relative_loss, dtype=float)
        ok = (rt > 0) & (rl > 0)
        ax2.loglog(rt[ok], rl[ok], "o", ms=4, color="C3", label="held-out (exact)")
    if train_relative_loss is not None and len(train_relative_loss[0]):
        tt = np.asarray(train_relative_loss[0], dtype=float)
        tl = np.asarray(train_relative_loss[1], dtype=float)
        ok = (tt > 0) & (tl > 0)
        ax2.loglog(tt[ok], tl[ok], "-", lw=1, color="C0", alpha=0.7, label="training batches")
    if ax2.lines:
        ax2.legend(fontsize=7, frameon=False)
    ax2.set_xlabel("training tokens seen")
    ax2.set_ylabel("relative excess loss (loss / optimum - 1)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if stem is not None:
        save(fig, stem)
    return fig


def emergence_gif(frames: Sequence[tuple[str, np.ndarray]], true: np.ndarray,
                  theory_beliefs: np.ndarray, path: str | Path, *, duration_ms: int = 600,
                  seed: int = 0, max_points: int = 15_000, simplex: bool | None = None) -> Path:
    """An animated GIF: the learned belief cloud at each checkpoint beside the theory
    (``simplex`` as :class:`BeliefPlane`)."""
    from PIL import Image

    plane = BeliefPlane(theory_beliefs, simplex=simplex)
    images = []
    for label, pred in frames:
        fig = Figure(figsize=(6.0, 3.2))
        a0, a1 = fig.subplots(1, 2)
        _scatter(a0, plane, theory_beliefs, theory_beliefs, seed=seed, max_points=max_points)
        _scatter(a1, plane, pred, true, seed=seed, max_points=max_points)
        _same_limits([a0, a1], plane, theory_beliefs, pred)
        a0.set_title("theory (MSP)", fontsize=9)
        a1.set_title(label, fontsize=9)
        fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.02, wspace=0.05)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        buf.seek(0)
        images.append(Image.open(buf).convert("P", palette=Image.ADAPTIVE))
    path = Path(path)
    with atomic_output(path) as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=0)
    return path


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
    ax.semilogx(c.scales, c.distance_predicted, "o-", ms=2.5, lw=1, color="C0",
                label=f"predicted (measure agrees to {_fmt_scale(c.distribution_resolution)})")
    ax.semilogx(c.scales, c.distance_null, "s--", ms=2, lw=0.8, color="0.45", label="null model")
    ax.semilogx(c.scales, c.tolerance_curve, "k:", lw=1, label="agreement threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("scale eps (belief-plane distance)")
    ax.set_ylabel("kernel distance of the measures (blind to pairing)")
    ax.invert_xaxis()


def _fmt_scale(value) -> str:
    return "none" if value is None else f"{value:.2g}"


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
    fig.tight_layout()
    if stem is not None:
        save(fig, stem)
    return fig


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


def geometry_over_training(tokens, mse, resolution, null_resolution, noise_rms, history, *,
                           context: int | None = None, title: str = "",
                           stem: str | Path | None = None) -> Figure:
    """Over training (tokens seen): the probe MSE beside the paired resolution (with the null
    model's and the residual RMS) and the equivalent history in tokens (the Markov-k lookup of the
    same error; ``context`` marks its ceiling). The initialisation (0 tokens) is a horizontal
    line."""
    tokens = np.asarray(tokens, dtype=float)
    series = {k: np.array([np.nan if v is None else float(v) for v in vals])
              for k, vals in (("mse", mse), ("res", resolution), ("null", null_resolution),
                              ("rms", noise_rms), ("history", history))}
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
    fig.tight_layout()
    if stem is not None:
        save(fig, stem)
    return fig


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


# ------------------------------------------------------------------------------ a run's folder
def theory_beliefs(run: Run, data_beliefs: np.ndarray) -> np.ndarray:
    """The theory's beliefs for a run, as the probe's targets read them
    (:func:`compmech.pipeline.targets.belief_targets`): every node of the mixed-state tree to depth
    ``n_ctx`` (or, when the tree is too large, the distinct targets of the probe's points,
    ``data_beliefs``)."""
    depth = run.model_config.n_ctx - (1 if run.bos_token is not None else 0)
    if run.hmm.vocab_size**depth <= 2_000_000:
        try:
            return belief_targets(run.hmm, mixed_state_tree(run.hmm, depth).all_beliefs())
        except ValueError:
            pass
    return np.unique(np.round(data_beliefs, 12), axis=0)


def make_figures(run_dir, *, force: bool = False, seed: int = 0,
                 progress: bool | Callable = True) -> list[Path]:
    """Write ``RUN_DIR/figures/``: side by side, per-layer grid, shuffle control, loss per position,
    probe over training, emergence grid and GIF, and (when ``probe.json`` has them) the scale-by-
    scale comparison, resolution over training and the decoders (PNG + PDF each; the GIF alone).

    Raises:
        FileExistsError: the figures folder exists and is not empty, and ``force`` is False.
        FileNotFoundError: no ``probe.json`` (run :func:`compmech.pipeline.probing.analyze_run`
            first).
        compmech.files.LockBusy: another process is writing the run directory.
    """
    run_dir = Path(run_dir)
    report = load_report(run_dir)
    points_path = run_dir / POINTS_FILE
    if not points_path.is_file():
        raise FileNotFoundError(f"{points_path} not found; run `compmech probe {run_dir}` again")
    run = load_run(run_dir)
    with run.lock("compmech figures"):
        return _make_figures(run, report, run_dir, force=force, seed=seed, progress=progress)


def _make_figures(run: Run, report, run_dir: Path, *, force: bool, seed: int,
                  progress) -> list[Path]:
    out = run_dir / FIGURES_DIR
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite")
    out.mkdir(exist_ok=True)
    points_path = run_dir / POINTS_FILE
    with np.load(points_path) as data:
        arrays = {k: data[k] for k in data.files}
    true = arrays["true"].astype(np.float64)
    context = _RunFigures(run, report, arrays, true, theory_beliefs(run, true), out, seed)
    written = (context.geometry() + context.curves() + context.emergence()
               + context.scale_by_scale())
    if progress:
        (progress if callable(progress) else print)(f"figures: {len(written)} files in {out}")
    return written


class _RunFigures:
    """The figures of one probed run (shared inputs in one place)."""

    def __init__(self, run, report, arrays, true, theory, out: Path, seed: int) -> None:
        self.run, self.report, self.arrays, self.true, self.theory = run, report, arrays, true, theory
        self.out, self.seed = out, seed
        self.head = report.headline_hook
        self.name = report.process + "".join(f", {k}={v}" for k, v in report.process_params.items())
        # a generalized HMM's targets are belief-plane coordinates, never simplex points
        self.simplex = False if isinstance(run.hmm, GHMM) else None

    def geometry(self) -> list[Path]:
        """Side by side, the per-layer grid and the shuffle control."""
        r, head, label = self.report.headline, self.head, hook_label(self.run, self.head)
        caption = baseline_caption(r.mse_test, r.baselines, r.shuffle_mse, r.belief_variance)
        if self.report.geometry is not None:
            caption += (f"\nlearned vs theory, scale by scale (held-out points): "
                        f"{resolution_text(self.report.geometry)}; dimensions above the "
                        f"resolution: {dimension_text(self.report.geometry)}")
        title = (f"{self.name}: belief geometry, theory vs {label} "
                 f"({self.report.tokens_seen:,} training tokens)")
        written = save(side_by_side(self.theory, self.arrays[f"pred/{head}"], self.true,
                                    caption=caption, title=title, seed=self.seed,
                                    simplex=self.simplex,
                                    learned="the residual stream" if self.run.model_config.arch
                                    in ("transformer", "linear_bottleneck") else label),
                       self.out / "side_by_side")
        hooks = [h for h in self.report.hooks if f"pred/{h}" in self.arrays]
        panels = [(f"{hook_label(self.run, h)}\nMSE {self.report.hooks[h].mse_test:.2g}",
                   self.arrays[f"pred/{h}"]) for h in hooks]
        written += save(panel_grid(panels, self.true, theory_beliefs=self.theory, ncols=4,
                                   title=f"{self.name}: probe at each layer (held-out points, "
                                         "colour = true belief)", seed=self.seed,
                                   simplex=self.simplex),
                        self.out / "layers")
        shuffle = [(f"trained probe, MSE {r.mse_test:.2g}", self.arrays[f"pred/{head}"]),
                   (f"shuffled labels, MSE {r.shuffle_mse:.2g}", self.arrays[f"shuffle/{head}"])]
        written += save(panel_grid(shuffle, self.true, theory_beliefs=self.theory, ncols=3,
                                   title=f"{self.name}: shuffle control at {label}",
                                   caption="shuffle: belief rows permuted across all points, probe "
                                           "refitted, scored against the true beliefs",
                                   seed=self.seed, simplex=self.simplex), self.out / "shuffle")
        return written

    def scale_by_scale(self) -> list[Path]:
        """The headline probe against the theory scale by scale (``geometry_scales``), resolution
        and equivalent history over training (``geometry_training``), and the linear probe beside the
        nonlinear decoders (``decoders``); each only when ``probe.json`` has it."""
        written: list[Path] = []
        label = hook_label(self.run, self.head)
        if self.report.geometry is not None:
            written += save(geometry_scales(
                self.report.geometry.result(),
                title=f"{self.name}: {label} vs theory, scale by scale "
                      f"({self.report.tokens_seen:,} training tokens, held-out points)"),
                self.out / "geometry_scales")
        curve = [c for c in self.report.curve if c.geometry is not None]
        if curve:
            g = [c.geometry for c in curve]
            written += save(geometry_over_training(
                [c.tokens_seen for c in curve], [c.mse_test for c in curve],
                [x.resolution for x in g], [x.null_resolution for x in g],
                [x.noise_rms for x in g], [x.equivalent_history for x in g],
                context=self.report.protocol.positions,
                title=f"{self.name}: resolution of the learned geometry over training ({label})"),
                self.out / "geometry_training")
        panels = []
        lookups = [(kind, r.geometry.result()) for kind, r in (self.report.lookups or {}).items()
                   if r.geometry is not None]
        for hook, rows in (self.report.decoders or {}).items():
            entries = [(kind, r.geometry.result()) for kind, r in rows.items()
                       if r.geometry is not None and kind != "linear_subsample"] + lookups
            if entries:
                n = next(iter(rows.values())).geometry.num_points
                panels.append((f"{hook_label(self.run, hook)} ({n:,} novel-prefix points)",
                               entries))
        if panels:
            written += save(decoder_scales(
                panels, title=f"{self.name}: linear probe vs nonlinear decoders and Markov-k "
                              "lookups, scale by scale (held-out points whose prefix is not in "
                              "training)"),
                self.out / "decoders")
        return written

    def curves(self) -> list[Path]:
        """Loss per position against the optimum; probe MSE and relative loss over training."""
        metrics = self.run.metrics
        evals = [m for m in metrics if m.get("eval_loss") is not None]
        written: list[Path] = []
        if evals:
            last = evals[-1]
            names = last.get("component_names", [])
            components = list(zip(names, last.get("component_eval_loss", []),
                                  last.get("component_optimal_loss", []),
                                  last.get("component_bayes_loss", [None] * len(names)),
                                  strict=True))
            fig = loss_per_position(
                last["eval_loss"], last["optimal_loss"], components=components,
                initial_loss=evals[0]["eval_loss"] if len(evals) > 1 else None,
                title=f"{self.name}: held-out loss per position (step {evals[-1]['step']:,})")
            written += save(fig, self.out / "loss_per_position")
        rel = [(m["tokens_seen"], m["relative_loss"] - 1.0) for m in evals
               if m.get("relative_loss") is not None]
        optimum = evals[-1].get("optimal_loss_mean") if evals else None
        train_rel = ([], [])
        if optimum:
            for m in metrics:
                if m.get("train_loss") is not None:
                    train_rel[0].append(m["tokens_seen"])
                    train_rel[1].append(m["train_loss"] / optimum - 1.0)
        r, curve = self.report.headline, self.report.curve
        fig = training_curves(
            [c.tokens_seen for c in curve], [c.mse_test for c in curve], [t for t, _ in rel],
            [v for _, v in rel],
            baselines={"one-hot": r.baselines["onehot"], "random": r.baselines["random"],
                       "shuffled": r.shuffle_mse},
            paper=PAPER.get(self.report.process, {}).get("curve"),
            title=f"{self.name}: probe over training ({hook_label(self.run, self.head)})",
            train_relative_loss=train_rel)
        return written + save(fig, self.out / "training")

    def emergence(self) -> list[Path]:
        """The learned geometry at up to 8 checkpoints, as a grid and an animated GIF."""
        frames = []
        for c in self.report.curve:
            pred = self.arrays.get(f"checkpoint/{c.step}")
            if c.step == self.report.step:
                pred = self.arrays[f"pred/{self.head}"]
            if pred is not None and c.step > 0:
                frames.append((f"{c.tokens_seen:,} tokens, MSE {c.mse_test:.2g}", pred))
        if not frames:
            return []
        pick = np.unique(np.round(np.linspace(0, len(frames) - 1, min(8, len(frames))))).astype(int)
        fig = panel_grid([frames[i] for i in pick], self.true, theory_beliefs=self.theory, ncols=3,
                         title=f"{self.name}: emergence of the belief geometry over training",
                         seed=self.seed, simplex=self.simplex)
        written = save(fig, self.out / "emergence")
        return written + [emergence_gif(frames, self.true, self.theory, self.out / "emergence.gif",
                                        seed=self.seed, simplex=self.simplex)]


# ------------------------------------------------------------------------------ experiment panels
def _num(x, default=np.nan) -> float:
    return default if x is None else float(x)


def _values(results, path: str) -> np.ndarray:
    return np.array([_num(get_field(r, path)) for r in results])


def bottleneck_metrics(results: Sequence, linear: Sequence) -> Figure:
    """Loss gap, probe MSE (with the untrained network and the shuffle control) and learned vs
    theory dimensions against the residual width; the linear-bottleneck variant as stars."""
    w = _values(results, "labels.width")
    fig = Figure(figsize=(11.5, 3.3))
    a0, a1, a2 = fig.subplots(1, 3)
    a0.plot(w, np.clip(_values(results, "loss.loss_gap"), 1e-6, None), "o-", color="C3")
    a0.set_yscale("log")
    a0.set_ylabel("loss gap to optimum (nats/token)")
    a1.plot(w, _values(results, "probe.mse_test"), "o-", label="trained (held-out)")
    a1.plot(w, _values(results, "probe.untrained_mse"), "s--", color="0.5", label="untrained network")
    a1.plot(w, _values(results, "probe.shuffle_mse"), "x:", color="C1", label="shuffle control")
    for r in linear:
        lw = r.labels["width"]
        a0.plot([lw], [max(_num(r.loss.loss_gap), 1e-6)], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} after d_model-{r.model['d_model']} blocks")
        a1.plot([lw], [_num(r.probe.mse_test)], "*", ms=11, color="C4",
                label=f"linear bottleneck {lw} (probe of z)")
        a1.plot([lw], [_num(r.probe.before_bottleneck_mse)], "P", ms=8, color="C4",
                label="  same net, residual before the bottleneck")
    if linear:
        a0.legend(fontsize=6, frameon=False)
    a1.set_yscale("log")
    a1.set_ylabel("probe MSE")
    a1.legend(fontsize=7, frameon=False)
    reference = (list(results) + list(linear))[-1]
    for method, marker in (("box_counting", "o"), ("information", "^"), ("correlation", "s")):
        line, = a2.plot(w, _values(results, f"dimensions.learned.{method}.dimension"),
                        marker + "-", ms=4, label=f"learned, {method.replace('_', '-')}")
        theory = _num(get_field(reference, f"dimensions.theory.point_cloud.{method}.dimension"))
        a2.axhline(theory, color=line.get_color(), ls="--", lw=0.8)
    for r in linear:
        a2.plot([r.labels["width"]], [_num(get_field(r, "dimensions.learned.box_counting.dimension"))],
                "*", ms=11, color="C4", label="linear bottleneck, box-counting")
    ky = get_field(reference, "dimensions.theory.kaplan_yorke")
    if ky is not None:
        a2.axhline(ky, color="k", ls=":", lw=1, label="theory, Kaplan-Yorke")
    a2.set_ylabel("dimension (dashed: theory, same estimator)")
    a2.legend(fontsize=6, frameon=False)
    if not any(np.isfinite(line.get_ydata()).any() for line in a2.get_lines()):
        a2.text(0.5, 0.5, "no dimensions\n(too few distinct beliefs)", ha="center",
                transform=a2.transAxes, fontsize=8)
    widths = np.concatenate([w, [r.labels["width"] for r in linear]])
    for ax in (a0, a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlim(widths.min() / 1.4, widths.max() * 1.4)
        ax.set_xticks(w)
        ax.set_xticklabels([str(int(v)) for v in w])
        ax.set_xlabel("residual width d_model")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def loss_gap_per_position(results: Sequence, labels: Sequence[str],
                          dashed: Sequence[bool]) -> Figure:
    """Loss minus optimum per input position, one line per result."""
    fig = Figure(figsize=(4.8, 3.3))
    ax = fig.subplots()
    for i, (r, label, dash) in enumerate(zip(results, labels, dashed, strict=True)):
        gap = r.loss.loss_gap_per_position
        if gap is None:
            continue
        ax.plot(np.arange(1, len(gap) + 1), np.clip(gap, 1e-6, None), marker="o", ms=3,
                color=f"C{i % 10}", ls="--" if dash else "-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("input position t")
    ax.set_ylabel("loss - optimum (nats)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def _strip(ax, values: np.ndarray, colors: np.ndarray, seed: int) -> None:
    jitter = np.random.default_rng(seed).uniform(-1, 1, values.shape[0])
    ax.scatter(values, jitter, c=colors, s=0.8, lw=0, rasterized=True)
    ax.set_yticks([])


def coordinate_1d(coordinate: np.ndarray, msp_projection: np.ndarray, beliefs: np.ndarray,
                  network: dict, msp: dict, *, what: str) -> Figure:
    """A single network coordinate (all inputs x positions) beside the MSP on its best 1-D linear
    direction: strips coloured by belief, histograms by most likely state, cluster counts.

    Args:
        coordinate: ``(N,)`` the network's coordinate.
        msp_projection: ``(N,)`` the true beliefs on their best 1-D direction.
        beliefs: ``(N, S)`` the true beliefs (the colours).
        network, msp: the :func:`compmech.structure1d.structure_1d` dicts of the two.
        what: what the network coordinate is (for the title).
    """
    pick = np.random.default_rng(0).choice(coordinate.size, size=min(coordinate.size, 8_000),
                                           replace=False)
    plane = BeliefPlane(beliefs)
    colors = plane.colors(beliefs[pick])
    fig = Figure(figsize=(9.0, 4.2))
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": [1.3, 1]}, sharex="col")
    dominant = beliefs.argmax(1)
    state_colors = plane.colors(np.eye(beliefs.shape[1]))
    for col, (values, title, s) in enumerate((
            (coordinate, f"network: {what} (all inputs x positions)", network),
            (msp_projection, "theory: MSP beliefs on their best 1-D linear direction", msp))):
        _strip(axes[0, col], values[pick], colors, seed=col)
        axes[0, col].set_title(title, fontsize=8)
        bins = np.linspace(values.min(), values.max(), 300)
        for k in range(beliefs.shape[1]):
            axes[1, col].hist(values[dominant == k], bins=bins, color=state_colors[k], alpha=0.55,
                              lw=0, histtype="stepfilled")
        axes[1, col].set_yscale("log")
        axes[1, col].set_ylabel("points (by most likely state)", fontsize=7)
        clusters = ", ".join(f"{c}@{r:g}" for r, c in zip(s["resolutions"][::2],
                                                           s["cluster_counts"][::2], strict=False))
        bc = s.get("box_counting_dimension")
        axes[1, col].set_title(f"{s['num_distinct']} distinct values, box dim "
                               f"{bc if bc is None else round(bc, 2)}\nclusters@resolution {clusters}",
                               fontsize=6.5)
        for ax in axes[:, col]:
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def structure_over_training(per_step: Sequence[dict], msp: dict) -> Figure:
    """Cluster counts, label runs and 1-D dimensions of a coordinate at each checkpoint, beside the
    MSP's projections (best direction, first principal axis)."""
    cmap = colormaps["viridis"]
    fig = Figure(figsize=(13.0, 3.4))
    a0, a3, a1 = fig.subplots(1, 3)
    for ax, key, ylabel in ((a0, "cluster_counts", "distinct clusters"),
                            (a3, "label_runs", "runs of the dominant state along the clusters")):
        for i, s in enumerate(per_step):
            if s.get(key) is not None:
                ax.loglog(s["resolutions"], s[key], "o-", ms=3, lw=1,
                          color=cmap(i / max(len(per_step) - 1, 1)), label=f"step {s['step']}")
        for mkey, style, label in (("regression", "k--", "MSP, best direction"),
                                   ("pca", "k:", "MSP, first principal axis")):
            if msp[mkey].get(key) is not None:
                ax.loglog(msp[mkey]["resolutions"], msp[mkey][key], style, lw=1.2, label=label)
        ax.invert_xaxis()
        ax.set_xlabel("resolution (fraction of the range)")
        ax.set_ylabel(ylabel, fontsize=8)
    a0.legend(fontsize=6, frameon=False, ncol=2)
    tokens = np.array([max(s["tokens_seen"], 1) for s in per_step], dtype=float)
    a1.semilogx(tokens, [_num(s["box_counting_dimension"]) for s in per_step], "o-",
                label="coordinate, box-counting")
    a1.semilogx(tokens, [_num(s["cluster_dimension"]) for s in per_step], "s-",
                label="coordinate, cluster-count slope")
    a1.axhline(_num(msp["regression"]["box_counting_dimension"]), color="k", ls="--", lw=1,
               label="MSP projection, box-counting")
    a1.axhline(_num(msp["regression"]["cluster_dimension"]), color="k", ls=":", lw=1,
               label="MSP projection, cluster slope")
    a1.set_xlabel("training tokens seen (step 0 drawn at 1)")
    a1.set_ylabel("1-D dimension")
    a1.legend(fontsize=6, frameon=False)
    for ax in (a0, a3, a1):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def heatmaps(maps: Sequence[tuple[str, np.ndarray, str, bool]], xs, alphas) -> Figure:
    """Heat maps over a Mess3 ``(x, alpha)`` grid, one per ``(title, grid (len(xs), len(alphas)),
    number format, is_dimension)``; dimension maps share one colour scale; a map without any value
    says so."""
    fig = Figure(figsize=(4.0 * len(maps), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    dims = np.concatenate([g.ravel() for _, g, _, is_dim in maps if is_dim] or [np.zeros(0)])
    dims = dims[np.isfinite(dims)]
    vmin, vmax = (float(dims.min()), float(dims.max())) if dims.size else (0.0, 2.0)
    for ax, (title, grid, spec, is_dim) in zip(axes, maps, strict=True):
        kw = {"vmin": vmin, "vmax": vmax} if is_dim else {}
        im = ax.imshow(grid, origin="lower", cmap="viridis" if is_dim else "magma", aspect="auto",
                       **kw)
        if not np.isfinite(grid).any():
            ax.text(0.5, 0.5, "n/a at every point", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                bright = im.norm(v) > 0.6  # dark text on the bright end of both colour maps
                ax.text(j, i, format(v, spec), ha="center", va="center", fontsize=6.5,
                        color="k" if bright else "w")
        ax.set_xticks(range(len(alphas)))
        ax.set_xticklabels([f"{a:g}" for a in alphas], fontsize=7)
        ax.set_yticks(range(len(xs)))
        ax.set_yticklabels([f"{x:g}" for x in xs], fontsize=7)
        ax.set_xlabel("alpha")
        ax.set_ylabel("x")
        ax.set_title(title, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def theory_vs_learned(points: Sequence[tuple[float, float, str, bool]], *, xlabel: str,
                      ylabel: str, title: str = "") -> Figure:
    """Scatter of ``(theory, learned, name, is_mess3)`` dimensions with the diagonal; non-Mess3
    points named."""
    fig = Figure(figsize=(4.0, 3.6))
    ax = fig.subplots()
    for t, learned, name, mess3 in points:
        ax.plot(t, learned, "o" if mess3 else "s", ms=4, color="C0" if mess3 else "C3")
        if not mess3:
            ax.annotate(name, (t, learned), fontsize=6)
    lim = ax.get_xlim()
    ax.plot(lim, lim, "k:", lw=0.8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


__all__ = [
    "BeliefPlane",
    "DPI",
    "FIGURES_DIR",
    "MAX_POINTS",
    "baseline_caption",
    "bottleneck_metrics",
    "coordinate_1d",
    "decoder_scales",
    "emergence_gif",
    "geometry_over_training",
    "geometry_scales",
    "heatmaps",
    "loss_gap_per_position",
    "loss_per_position",
    "make_figures",
    "mixed_state_tree_figure",
    "panel_grid",
    "save",
    "side_by_side",
    "structure_over_training",
    "theory_beliefs",
    "theory_vs_learned",
    "training_curves",
]
