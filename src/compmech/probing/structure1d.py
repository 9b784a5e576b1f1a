"""How a 1-D point set splits into sub-ranges: cluster counts across resolutions, a gap-based
dimension, interleaving of belief labels along the line, and the best 1-D linear view of a belief
cloud.

Used by the bottleneck experiment (:mod:`compmech.experiments.bottleneck`) to study a width-1 network
coordinate beside the mixed-state presentation projected onto a line; the functions work on any
``(N,)`` values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from compmech.dimensions import box_counting_dimension
from compmech.geometry import pca
from compmech.probing.linear import BeliefProbe
from compmech.records import Record

#: Resolutions (fractions of the point set's range) at which 1-D clusters are counted.
DEFAULT_RESOLUTIONS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)


def _values_1d(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D array of at least 2 numbers; got shape {np.shape(values)}")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN or infinite numbers")
    return v


def cluster_counts_1d(values, resolutions=DEFAULT_RESOLUTIONS) -> np.ndarray:
    """Number of distinct clusters of a 1-D point set at each resolution.

    Two points belong to the same cluster when they are joined by a chain of points whose successive
    gaps are at most ``eps * range`` (single-linkage clustering at scale ``eps``): with the values
    sorted, the count is ``1 + #{gaps > eps * range}``. For the middle-thirds Cantor set it is
    ``2^j`` for ``3^-(j+1) <= eps < 3^-j``.

    Args:
        values: ``(N,)`` (or ``(N, 1)``) points.
        resolutions: ``(K,)`` scales ``eps`` as fractions of the range ``max - min``.

    Returns:
        ``(K,)`` int64 cluster counts (all 1 when every point coincides).
    """
    v = np.sort(_values_1d(values))
    res = np.asarray(resolutions, dtype=np.float64)
    extent = v[-1] - v[0]
    if extent == 0:
        return np.ones(res.shape, dtype=np.int64)
    gaps = np.sort(np.diff(v)) / extent
    return (1 + gaps.size - np.searchsorted(gaps, res, side="right")).astype(np.int64)


def cluster_dimension_1d(resolutions, counts, num_points: int) -> float:
    """Slope of ``log(#clusters)`` against ``log(1/eps)``: a gap-based dimension of a 1-D set.

    Uses the resolutions ``eps <= 0.25`` at which the sample still resolves clusters
    (``#clusters <= num_points / 10``, as for box counting; pass the number of *distinct* points).
    NaN with fewer than two such scales.
    """
    res = np.asarray(resolutions, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    fit = (res <= 0.25) & (c <= num_points / 10)
    if fit.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(1.0 / res[fit]), np.log(c[fit]), 1)
    return float(slope)


class Structure1D(NamedTuple):
    """How a 1-D point set splits into sub-ranges (see :func:`structure_1d`).

    Attributes:
        num_points: ``N``.
        num_distinct: number of distinct values (exact equality).
        range: ``max - min``.
        resolutions: ``(K,)`` scales as fractions of the range.
        cluster_counts: ``(K,)`` clusters at each scale (:func:`cluster_counts_1d`).
        cluster_dimension: slope of ``log(#clusters)`` vs ``log(1/eps)``.
        box_counting: :class:`compmech.dimensions.DimensionEstimate` of the set on the line
            (``None`` when the set has no extent).
        label_runs: ``(K,)`` at each scale, the number of runs of equal labels along the clusters in
            order (:func:`label_runs_1d`), or ``None`` when no labels were given.
    """

    num_points: int
    num_distinct: int
    range: float
    resolutions: np.ndarray
    cluster_counts: np.ndarray
    cluster_dimension: float
    box_counting: Any
    label_runs: np.ndarray | None = None

    def summary(self) -> StructureSummary:
        """The JSON-ready record of this structure (non-finite numbers as ``None``)."""
        bc = self.box_counting
        return StructureSummary(
            num_points=self.num_points, num_distinct=self.num_distinct, range=self.range,
            resolutions=[float(r) for r in self.resolutions],
            cluster_counts=[int(c) for c in self.cluster_counts],
            cluster_dimension=_finite_or_none(self.cluster_dimension),
            box_counting_dimension=_finite_or_none(bc.dimension if bc is not None else math.nan),
            box_counting_fit_range=None if bc is None else [_finite_or_none(v) for v in bc.fit_range],
            label_runs=None if self.label_runs is None else [int(c) for c in self.label_runs])


@dataclass
class StructureSummary(Record):
    """:class:`Structure1D` as written to an experiment's results (fields as there; ``None`` for
    a non-finite number)."""

    num_points: int
    num_distinct: int
    range: float
    resolutions: list[float]
    cluster_counts: list[int]
    cluster_dimension: float | None
    box_counting_dimension: float | None
    box_counting_fit_range: list[float | None] | None
    label_runs: list[int] | None


@dataclass
class StructureAtStep(StructureSummary):
    """A one-number-wide hook's :class:`StructureSummary` at one checkpoint.

    Attributes:
        step, tokens_seen: the checkpoint.
        max_abs_change_from_first: largest change of the coordinate since the first checkpoint
            analysed.
    """

    step: int = 0
    tokens_seen: int = 0
    max_abs_change_from_first: float = 0.0


@dataclass
class MspStructure(Record):
    """The structure of the MSP's best 1-D views of the beliefs (:func:`best_linear_direction`):
    the regression on a network's coordinate and the first principal axis."""

    regression_direction: list[float]
    regression_r2: float
    regression: StructureSummary
    pca_direction: list[float]
    pca_variance_ratio: float
    pca: StructureSummary


def label_runs_1d(values, beliefs, resolutions=DEFAULT_RESOLUTIONS) -> np.ndarray:
    """How interleaved a 1-D point set is: runs of equal dominant state along its clusters.

    At each resolution the points are grouped into clusters as in :func:`cluster_counts_1d`; each
    cluster is labelled by the state with the largest mean belief over its points; the result is the
    number of maximal runs of equal labels in the clusters' order along the line. A coordinate that
    orders the beliefs like a plain projection of the simplex gives about ``S`` runs (one block per
    region); one that splits into interleaved sub-ranges, as a fractal folded onto a line would,
    gives many more.

    Args:
        values: ``(N,)`` points.
        beliefs: ``(N, S)`` the belief of each point.
        resolutions: ``(K,)`` scales as fractions of the range.

    Returns:
        ``(K,)`` int64 numbers of runs (1 when the points coincide).
    """
    v = _values_1d(values)
    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] != v.size:
        raise ValueError(f"beliefs must have shape ({v.size}, S); got {b.shape}")
    order = np.argsort(v, kind="stable")
    v, b = v[order], b[order]
    extent = v[-1] - v[0]
    res = np.asarray(resolutions, dtype=np.float64)
    if extent == 0:
        return np.ones(res.shape, dtype=np.int64)
    gaps = np.diff(v) / extent
    out = np.empty(res.shape, dtype=np.int64)
    for k, eps in enumerate(res):  # one vectorised pass per scale
        cluster = np.concatenate([[0], np.cumsum(gaps > eps)])
        sums = np.stack([np.bincount(cluster, weights=b[:, j]) for j in range(b.shape[1])], axis=1)
        label = sums.argmax(1)
        out[k] = 1 + int((label[1:] != label[:-1]).sum())
    return out


def structure_1d(values, resolutions=DEFAULT_RESOLUTIONS, beliefs=None) -> Structure1D:
    """Cluster counts at several resolutions and box-counting dimension of a 1-D point set.

    The box-counting dimension is :func:`compmech.dimensions.box_counting_dimension` of the points on
    the line (a set of finitely many distinct values has dimension 0 at fine scales).

    Args:
        values: ``(N,)`` points, e.g. a width-1 residual coordinate over all inputs.
        resolutions: scales for :func:`cluster_counts_1d`.
        beliefs: optional ``(N, S)`` beliefs of the points, for :func:`label_runs_1d`.

    Returns:
        :class:`Structure1D`.

    Example:
        >>> import numpy as np
        >>> cantor = (2 * (np.arange(2**10)[:, None] >> np.arange(10) & 1) * 3.0 ** -np.arange(1, 11)).sum(1)
        >>> structure_1d(cantor, [0.5 / 3, 0.5 / 9]).cluster_counts.tolist()
        [2, 4]
    """
    v = _values_1d(values)
    res = np.asarray(resolutions, dtype=np.float64)
    counts = cluster_counts_1d(v, res)
    extent = float(v.max() - v.min())
    box = box_counting_dimension(v[:, None]) if extent > 0 else None
    distinct = int(np.unique(v).size)
    runs = None if beliefs is None else label_runs_1d(v, beliefs, res)
    return Structure1D(int(v.size), distinct, extent, res, counts,
                       cluster_dimension_1d(res, counts, distinct), box, runs)


class LinearDirection(NamedTuple):
    """A 1-D linear direction in belief space and the beliefs' coordinates along it.

    Attributes:
        direction: ``(S,)`` unit vector with ``sum(direction) = 0`` (a direction within the simplex).
        coordinates: ``(N,)`` ``beliefs @ direction``.
        r2: share of the target's variance explained (``"regression"``) or of the beliefs' total
            variance captured (``"pca"``).
        method: ``"regression"`` or ``"pca"``.
    """

    direction: np.ndarray
    coordinates: np.ndarray
    r2: float
    method: str


def best_linear_direction(beliefs, target=None, weights=None) -> LinearDirection:
    """The best 1-D linear view of a belief cloud.

    * With ``target`` (e.g. a width-1 network's coordinate at the same points): the direction ``u``
      of the least-squares fit ``target ~ c * (beliefs @ u) + b`` (a
      :class:`compmech.probing.linear.BeliefProbe` from beliefs to the target), so the projection is
      the linear function of the belief that best matches the coordinate; oriented so that it
      increases with the target.
    * Without: the first principal axis of the beliefs (largest spread, :func:`compmech.geometry.pca`).

    Beliefs sum to one, so only the component of ``u`` within the simplex (``sum(u) = 0``) matters;
    that component is returned, normalised.

    Args:
        beliefs: ``(N, S)``.
        target: optional ``(N,)`` values to match.
        weights: optional ``(N,)`` point weights.

    Returns:
        :class:`LinearDirection`.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] < 2:
        raise ValueError(f"beliefs must have shape (N, S) with N >= 2; got {b.shape}")
    if target is None:
        fit = pca(b, 1, weights)
        u = fit.components[0] - fit.components[0].mean()
        norm = np.linalg.norm(u)
        u = u / norm if norm > 0 else u
        return LinearDirection(u, b @ u, float(fit.explained_variance_ratio[0]), "pca")
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if t.shape[0] != b.shape[0]:
        raise ValueError(f"target has {t.shape[0]} values but beliefs have {b.shape[0]} rows")
    probe = BeliefProbe().fit(b, t[:, None], sample_weight=weights)
    u = probe.coef_[0] - probe.coef_[0].mean()
    norm = np.linalg.norm(u)
    u = u / norm if norm > 0 else u
    return LinearDirection(u, b @ u, float(probe.score(b, t[:, None], weights)), "regression")


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


__all__ = [
    "DEFAULT_RESOLUTIONS",
    "LinearDirection",
    "Structure1D",
    "best_linear_direction",
    "cluster_counts_1d",
    "cluster_dimension_1d",
    "label_runs_1d",
    "structure_1d",
]
