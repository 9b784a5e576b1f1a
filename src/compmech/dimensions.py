"""Fractal dimensions of (weighted) point clouds: box-counting, information and correlation
dimensions fitted over a grid of scales (:func:`fractal_dimensions`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.expand import unique_rows


# ------------------------------------------------------------------------------ point-cloud dims
class DimensionEstimate(NamedTuple):
    """A fractal dimension from the slope of a log-log scaling law.

    Attributes:
        dimension: the fitted slope.
        fit_range: ``(scale_min, scale_max)``, the range of box sizes (or radii) used in the fit,
            in units of the cloud's largest extent.
        scales: ``(K,)`` all scales evaluated (box size or radius, in units of the extent).
        values: ``(K,)`` the quantity regressed on ``log(1/scale)`` (or ``log scale``): log box count,
            box-occupation entropy (nats), or log correlation sum.
        fitted: ``(K,)`` bool, which scales were in the fit.
        method: ``"box_counting"``, ``"information"`` or ``"correlation"``.
    """

    dimension: float
    fit_range: tuple
    scales: np.ndarray
    values: np.ndarray
    fitted: np.ndarray
    method: str


class FractalDimensions(NamedTuple):
    """All point-cloud dimension estimates of one cloud (see :func:`fractal_dimensions`)."""

    box_counting: DimensionEstimate
    information: DimensionEstimate
    correlation: DimensionEstimate

    def as_dict(self) -> dict:
        """JSON-ready ``{method: {"dimension", "fit_range"}}``."""
        return {
            e.method: {"dimension": e.dimension, "fit_range": [float(v) for v in e.fit_range]}
            for e in self
        }


def _points(points) -> np.ndarray:
    X = np.asarray(points, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"points must have shape (N, d) with N >= 2; got {np.shape(points)}")
    if not np.isfinite(X).all():
        raise ValueError("points contain NaN or infinite values")
    return X


def _weights(weights, N: int) -> np.ndarray:
    if weights is None:
        return np.full(N, 1.0 / N)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (N,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {N} finite non-negative numbers with a positive sum")
    return w / w.sum()


def _normalized(X: np.ndarray) -> np.ndarray:
    """Shift to the origin and scale by the largest extent, so the cloud fits in [0, 1]^d."""
    lo = X.min(axis=0)
    extent = float((X.max(axis=0) - lo).max())
    if extent == 0:
        raise ValueError("all points coincide; a fractal dimension needs a cloud with extent")
    return (X - lo) / extent


def _box_occupation(U: np.ndarray, eps: float, w: np.ndarray) -> np.ndarray:
    """Mass of each occupied grid box of side ``eps`` for points ``U`` in [0, 1]^d (weights ``w``)."""
    n_side = int(np.floor(1.0 / eps)) + 1
    cells = (U * (1.0 / eps)).astype(np.int64)  # U >= 0: truncation is the floor
    np.minimum(cells, n_side - 1, out=cells)
    N, d = U.shape
    if d * np.log2(n_side) < 62:  # one int64 id per box
        ids = cells[:, d - 1].copy()
        for axis in range(d - 2, -1, -1):  # Horner: sum_a cells[:, a] n_side^a (no integer matmul)
            ids *= n_side
            ids += cells[:, axis]
        if n_side**d <= 8 * N:  # few boxes: count directly, O(N)
            mass = np.bincount(ids, weights=w, minlength=n_side**d)
            return mass[mass > 0]
    else:
        ids = unique_rows(cells)[1]
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_ids[1:] != sorted_ids[:-1]]))
    mass = np.add.reduceat(w[order], starts)
    return mass[mass > 0]


def _box_statistics(points, weights, num_scales: int, min_scale: float | None):
    X = _points(points)
    N = X.shape[0]
    w = _weights(weights, N)
    U = _normalized(X)
    if min_scale is None:
        min_scale = max(N ** (-1.0 / min(U.shape[1], 3)) / 64, 2.0**-20)
    scales = np.geomspace(0.5, min_scale, int(num_scales))
    counts = np.empty(num_scales)
    entropies = np.empty(num_scales)
    for k, eps in enumerate(scales):  # one vectorised pass per scale
        mass = _box_occupation(U, eps, w)
        counts[k] = mass.shape[0]
        entropies[k] = -(mass * np.log(mass)).sum()
    return N, scales, counts, entropies


def _fit(x: np.ndarray, y: np.ndarray, fitted: np.ndarray) -> float:
    if fitted.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(x[fitted], y[fitted], 1)
    return float(slope)


def _box_fit_mask(scales: np.ndarray, counts: np.ndarray, N: int, max_scale: float) -> np.ndarray:
    """Scaling range for box statistics: boxes at most ``max_scale`` wide (coarser boxes see the
    cloud's overall shape) and still resolved by the sample (>= 10 points per occupied box on
    average, ``N(eps) <= N / 10``; finer boxes saturate at one point each)."""
    return (scales <= max_scale) & (counts <= N / 10)


def box_counting_dimension(points, *, weights=None, num_scales: int = 24,
                           min_scale: float | None = None, max_scale: float = 0.1,
                           _stats=None) -> DimensionEstimate:
    """Box-counting (capacity) dimension: slope of ``log N(eps)`` against ``log(1/eps)``.

    ``N(eps)`` is the number of occupied grid boxes of side ``eps`` (in units of the cloud's largest
    extent). The fit uses every scale with ``eps <= max_scale`` down to the scale where the sample
    stops resolving boxes (``N(eps) <= #points / 10``), reported as ``fit_range``. Finite samples
    of very non-uniform measures undercount sparse boxes, so this is a lower estimate there.

    Args:
        points: ``(N, d)`` (or ``(N,)``) point cloud.
        weights: optional ``(N,)``; only boxes holding positive weight count (the support of the
            weighted measure).
        num_scales: number of box sizes, geometrically spaced from 1/2 to ``min_scale``.
        min_scale: smallest box size (default from the sample size).
        max_scale: largest box size in the fit.

    Returns:
        :class:`DimensionEstimate`.
    """
    N, scales, counts, entropies = _stats or _box_statistics(points, weights, num_scales, min_scale)
    x, y = np.log(1.0 / scales), np.log(counts)
    fitted = _box_fit_mask(scales, counts, N, max_scale)
    return DimensionEstimate(_fit(x, y, fitted), _range(scales, fitted), scales, y, fitted,
                             "box_counting")


def information_dimension(points, *, weights=None, num_scales: int = 24,
                          min_scale: float | None = None, max_scale: float = 0.1,
                          _stats=None) -> DimensionEstimate:
    """Information dimension: slope of the box-occupation entropy ``H(eps) = -sum p_i ln p_i``
    against ``ln(1/eps)``, with ``p_i`` the (weighted) fraction of points in box ``i``.

    Same scales and fit range as :func:`box_counting_dimension`. ``weights`` (e.g. word
    probabilities of MSP tree nodes) weight the points.
    """
    N, scales, counts, entropies = _stats or _box_statistics(points, weights, num_scales, min_scale)
    x = np.log(1.0 / scales)
    fitted = _box_fit_mask(scales, counts, N, max_scale)
    return DimensionEstimate(_fit(x, entropies, fitted), _range(scales, fitted), scales, entropies,
                             fitted, "information")


def correlation_dimension(points, *, weights=None, max_points: int = 3000, seed=0,
                          num_scales: int = 16, fit_fraction: tuple = (1e-4, 1e-2),
                          min_radius: float = 1e-10) -> DimensionEstimate:
    """Correlation dimension (Grassberger-Procaccia): slope of ``log C(r)`` against ``log r``.

    ``C(r)`` is the (weighted) fraction of pairs of distinct points closer than ``r`` (Euclidean),
    computed on a random subsample of ``max_points`` points. The fit uses the radii at which
    ``C(r)`` lies in ``fit_fraction`` (small enough to avoid the cloud's overall shape, large enough
    for many pairs) and above ``min_radius`` (distances near float64 round-off carry no geometry;
    strongly contracting belief maps put many Blackwell pairs there).

    Args:
        points: ``(N, d)`` point cloud.
        weights: optional ``(N,)`` weights (pair weight ``w_i w_j``).
        max_points: subsample size (pairs cost ``O(max_points^2)`` memory and time).
        seed: seed of the subsample.
        num_scales: radii evaluated inside the fit range.
        fit_fraction: ``(C_min, C_max)`` correlation-sum range of the fit.
        min_radius: smallest radius used, in units of the cloud's extent.

    Returns:
        :class:`DimensionEstimate` (radii in units of the cloud's largest extent).
    """
    from scipy.spatial.distance import pdist

    X = _points(points)
    N = X.shape[0]
    w = _weights(weights, N)
    U = _normalized(X)
    rng = np.random.default_rng(seed)
    m = min(int(max_points), N)
    if weights is None:
        pick = rng.choice(N, size=m, replace=False) if m < N else np.arange(N)
        duplicate_pairs = 0.0
    else:  # draw points with probability w; pairs of the same draw are not pairs of points
        pick = rng.choice(N, size=m, replace=True, p=w)
        _, counts = np.unique(pick, return_counts=True)
        duplicate_pairs = float((counts * (counts - 1) / 2).sum())
    dist = pdist(U[pick])
    num_pairs = dist.shape[0] - duplicate_pairs
    positive = dist[dist > 0]
    if positive.shape[0] < 10 or num_pairs <= 0:
        raise ValueError("too few distinct points for a correlation dimension")
    zero_pairs = dist.shape[0] - positive.shape[0] - duplicate_pairs  # distinct but coincident
    log_lo = np.log(min(positive.min(), min_radius))
    log_hi = np.log(positive.max()) + 1e-9
    num_bins = 400
    edges = np.exp(np.linspace(log_lo, log_hi, num_bins + 1))
    bins = ((np.log(positive) - log_lo) * (num_bins / (log_hi - log_lo))).astype(np.int64)
    hist = np.bincount(np.clip(bins, 0, num_bins - 1), minlength=num_bins)
    C = (zero_pairs + np.concatenate([[0.0], np.cumsum(hist)])) / num_pairs  # C(r) at edges
    lo_c, hi_c = fit_fraction
    inside = (C >= lo_c) & (C <= hi_c) & (edges >= min_radius)
    if inside.sum() < 3:  # too few pairs for the nominal range: use the smallest resolvable radii
        above = (C > 0) & (edges >= min_radius)
        if above.sum() < 3:
            raise ValueError("too few pairs above min_radius for a correlation dimension")
        inside = above & (C <= max(hi_c, np.sort(C[above])[min(5, above.sum() - 1)]))
    r_lo, r_hi = edges[inside].min(), edges[inside].max()
    scales = np.geomspace(r_lo, r_hi, int(num_scales))
    values = np.log(np.interp(np.log(scales), np.log(edges), C))
    fitted = np.isfinite(values)
    slope = _fit(np.log(scales), values, fitted)
    return DimensionEstimate(slope, _range(scales, fitted), scales, values, fitted, "correlation")


def _range(scales: np.ndarray, fitted: np.ndarray) -> tuple:
    if not fitted.any():
        return (float("nan"), float("nan"))
    return (float(scales[fitted].min()), float(scales[fitted].max()))


def fractal_dimensions(points, *, weights=None, seed=0, num_scales: int = 24,
                       max_correlation_points: int = 3000) -> FractalDimensions:
    """Box-counting, information and correlation dimensions of any point cloud.

    Works on beliefs ``(N, S)``, a probe's predicted beliefs, or 2-D projections ``(N, 2)`` alike:
    dimensions are intrinsic, so a cloud on the 2-simplex gives the same value in 3-D barycentric
    coordinates or projected to the plane (up to estimator noise).

    Args:
        points: ``(N, d)`` point cloud.
        weights: optional ``(N,)`` weights (used by the information and correlation estimators).
        seed: seed for the correlation subsample.
        num_scales: box sizes for the box estimators.
        max_correlation_points: subsample size for Grassberger-Procaccia.

    Returns:
        :class:`FractalDimensions`, each with its fit range.

    Example:
        >>> import numpy as np
        >>> line = np.linspace(0, 1, 20_000)[:, None] * np.array([[1.0, 2.0]])
        >>> round(fractal_dimensions(line).box_counting.dimension, 1)
        1.0
    """
    stats = _box_statistics(points, weights, num_scales, None)
    return FractalDimensions(
        box_counting_dimension(points, _stats=stats),
        information_dimension(points, weights=weights, _stats=stats),
        correlation_dimension(points, weights=weights, max_points=max_correlation_points,
                              seed=seed),
    )
