"""Figures: the theory's belief geometry beside the one a network learned, and probes over training.

Matplotlib is imported here only (``import compmech`` does not import this module). Figures are built
with the object-oriented API (``matplotlib.figure.Figure``), so no pyplot state or GUI backend is
touched; each is saved as PNG and PDF (scatter layers rasterised so that PDFs stay small).

Three-state beliefs are drawn in the 2-simplex, ``x = b1 + b2/2``, ``y = (sqrt 3 / 2) b2``, with RGB
colour = belief; more states are drawn in the plane of the first two principal components of the
theory's beliefs (the same projection is applied to the learned points), coloured by their first
three principal coordinates.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from compmech.geometry import pca, simplex_projection

#: Most points drawn per panel (a seeded subsample beyond this; the metrics use every point).
MAX_POINTS = 30_000
#: Resolution of the PNGs.
DPI = 150
SQRT3_2 = float(np.sqrt(3.0) / 2.0)


# ------------------------------------------------------------------------------ projections
class BeliefPlane:
    """How beliefs ``(N, S)`` are placed in the plane and coloured, fixed by the theory's beliefs.

    ``S == 3``: the 2-simplex (:func:`compmech.geometry.simplex_projection`), colour = RGB of the
    belief. Otherwise: the first two principal axes of the reference beliefs
    (:func:`compmech.geometry.pca`); colour = the first three principal coordinates rescaled to
    ``[0, 1]`` over the reference, so every panel uses the same projection and the same colours.
    """

    def __init__(self, reference_beliefs: np.ndarray):
        ref = np.asarray(reference_beliefs, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] < 2:
            raise ValueError(f"beliefs must have shape (N, S) with S >= 2; got {ref.shape}")
        self.num_states = ref.shape[1]
        self.simplex = self.num_states == 3
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
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; returns the paths written."""
    stem = Path(stem)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
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
                 seed: int = 0) -> Figure:
    """Two panels: "theory (MSP)" | "learned (residual stream)", same axes, RGB = true belief.

    Args:
        theory_beliefs: ``(M, S)`` the mixed-state beliefs (e.g. every node of the MSP tree).
        predicted: ``(N, S)`` the probe's predictions on held-out points.
        true: ``(N, S)`` their true beliefs (the colours).
        caption: printed under the panels (MSE and baselines).
        title: figure title.
        stem: if given, saved as ``stem.png`` and ``stem.pdf``.
        seed: seed of the subsample drawn when there are more than :data:`MAX_POINTS` points.
    """
    plane = BeliefPlane(theory_beliefs)
    fig = Figure(figsize=(8.0, 4.4))
    axes = fig.subplots(1, 2)
    _scatter(axes[0], plane, theory_beliefs, theory_beliefs, seed=seed)
    _scatter(axes[1], plane, predicted, true, seed=seed)
    _same_limits(axes, plane, theory_beliefs, predicted)
    axes[0].set_title("theory: mixed-state presentation", fontsize=10)
    axes[1].set_title("learned: probe of the residual stream\n(held-out points, colour = true belief)",
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
               caption: str = "", stem: str | Path | None = None, seed: int = 0) -> Figure:
    """A grid of belief clouds: one panel per ``(label, predicted (N, S))``, coloured by ``true``.

    Used for the per-layer grid (embedding, each block, final LN, concatenation), the shuffle
    control and the emergence over training. With ``theory_beliefs`` the first panel is the theory.
    """
    plane = BeliefPlane(theory_beliefs if theory_beliefs is not None else true)
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


def loss_per_position(eval_loss: np.ndarray, optimal: np.ndarray, *, initial_loss=None,
                      title: str = "", stem: str | Path | None = None) -> Figure:
    """Held-out cross-entropy per input position (nats) against the optimum ``h(t+1) ln 2``."""
    eval_loss = np.asarray(eval_loss, dtype=float)
    optimal = np.asarray(optimal, dtype=float)
    pos = np.arange(1, eval_loss.size + 1)
    fig = Figure(figsize=(4.8, 3.4))
    ax = fig.subplots()
    if initial_loss is not None:
        ax.plot(pos, initial_loss, "o-", color="0.7", ms=3, label="untrained")
    ax.plot(pos, eval_loss, "o-", color="C0", ms=3, label="trained")
    ax.plot(pos, optimal, "k--", lw=1, label="optimum (myopic entropy)")
    ax.set_xlabel("input position t")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_xticks(pos)
    ax.legend(fontsize=8, frameon=False)
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
                  seed: int = 0, max_points: int = 15_000) -> Path:
    """An animated GIF: the learned belief cloud at each checkpoint beside the theory."""
    from PIL import Image

    plane = BeliefPlane(theory_beliefs)
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
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return path


__all__ = [
    "BeliefPlane",
    "MAX_POINTS",
    "baseline_caption",
    "emergence_gif",
    "loss_per_position",
    "panel_grid",
    "save",
    "side_by_side",
    "training_curves",
]
