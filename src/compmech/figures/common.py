"""What every figure shares: one projection (:class:`BeliefPlane`: the 2-simplex for three
states, ``x = b1 + b2/2``, ``y = (sqrt 3 / 2) b2``; otherwise the plane of the first two principal
components of the theory's beliefs, applied to the learned points too), one colour convention (RGB
= belief for three states; otherwise the first three principal coordinates rescaled to ``[0, 1]``),
and one save helper (:func:`save`: PNG and PDF at :data:`DPI`, written atomically, scatter layers
rasterised so that PDFs stay small). Figures are built with the object-oriented API
(``matplotlib.figure.Figure``), so no pyplot state or GUI backend is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from compmech.files import atomic_output
from compmech.formatting import fmt
from compmech.geometry import SQRT3_2, pca, simplex_projection
from compmech.records import Record

#: Most points drawn per panel (a seeded subsample beyond this; the metrics use every point).
MAX_POINTS = 30_000
#: Resolution of every PNG.
DPI = 150
#: The folder of a run's figures.
FIGURES_DIR = "figures"


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True, kw_only=True)
class CloudConfig(Record):
    """How belief clouds are drawn (the same for every cloud figure of a run).

    Attributes:
        seed: seed of the subsample drawn when a cloud has more than :data:`MAX_POINTS` points.
        simplex: ``None``: the 2-simplex for three states, principal axes otherwise; ``False``:
            principal axes for three coordinates that are not probabilities (a generalized HMM's
            belief-plane coordinates); see :class:`BeliefPlane`.

    Raises:
        ValueError: a seed that is not an integer, or a ``simplex`` that is not a bool or ``None``.
    """

    seed: int = 0
    simplex: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer; got {self.seed!r}")
        if self.simplex is not None and not isinstance(self.simplex, (bool, np.bool_)):
            raise ValueError(f"simplex must be True, False or None; got {self.simplex!r}")


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


def finish(fig: Figure, stem: str | Path | None) -> Figure:
    """Lay ``fig`` out, save it as :func:`save` does when ``stem`` is given, and return it."""
    fig.tight_layout()
    if stem is not None:
        save(fig, stem)
    return fig


def save(fig: Figure, stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (atomically, at :data:`DPI`); returns the
    paths written."""
    stem = Path(stem)
    paths = []
    for ext in formats:
        path = stem.parent / f"{stem.name}.{ext}"
        with atomic_output(path) as fh:
            fig.savefig(fh, format=ext, dpi=DPI, bbox_inches="tight")
        paths.append(path)
    return paths


def _caption_spec(x) -> str:
    """Captions print small errors in scientific notation: ``.1e`` below 0.01, else ``.3f``."""
    return ".1e" if x is not None and x < 1e-2 else ".3f"


def baseline_caption(mse: float, baselines: dict[str, float] | None, shuffle_mse: float | None,
                     variance: float | None = None) -> str:
    """One line: held-out MSE and, beside it, the controls and baselines."""
    parts = [f"held-out MSE {fmt(mse, _caption_spec(mse))}"]
    names = {"untrained": "untrained net", "onehot": "token x position one-hot",
             "random": "random features"}
    for key, value in (baselines or {}).items():
        parts.append(f"{names.get(key, key)} {fmt(value, _caption_spec(value))}")
    if shuffle_mse is not None:
        parts.append(f"shuffled labels {fmt(shuffle_mse, _caption_spec(shuffle_mse))}")
    if variance is not None:
        parts.append(f"belief variance {fmt(variance, _caption_spec(variance))}")
    return " | ".join(parts)


__all__ = [
    "BeliefPlane",
    "CloudConfig",
    "DPI",
    "FIGURES_DIR",
    "MAX_POINTS",
    "baseline_caption",
    "save",
]
