"""Geometry of belief clouds: simplex, belief-plane and PCA projections, colours, fractal
dimensions, Lyapunov spectra.

Point-cloud estimators work on any ``(N, d)`` array (the theory's beliefs, a probe's predicted
beliefs, or 2-D projections) so that predicted and learned fractals can be compared with
:func:`fractal_dimensions`. Each estimate carries its scaling (fit) range. The Lyapunov spectrum and
Kaplan-Yorke dimension are properties of an HMM's belief dynamics (Jurgens & Crutchfield 2021).

GHMM beliefs live on the affine plane ``eta r = 1`` (not the simplex) and may have negative
entries: :func:`belief_plane_coordinates` gives isometric ``(S - 1)``-dimensional coordinates on
that plane (for an HMM, ``r = 1``, the plane of the simplex), :func:`belief_plane_projection` a 2-D
(or ``k``-D) view, and the Lyapunov spectrum uses the plane's tangent space ``{v : v r = 0}``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.hmm import Process, normaliser
from compmech.msp import blackwell_sample, tall_matmul, unique_rows

SQRT3_2 = float(np.sqrt(3.0) / 2.0)


# ----------------------------------------------------------------------------------- projections
def simplex_projection(beliefs) -> np.ndarray:
    """Project beliefs on the 2-simplex to the plane: ``x = b1 + b2 / 2``, ``y = (sqrt(3)/2) b2``.

    State 0 maps to (0, 0), state 1 to (1, 0), state 2 to (1/2, sqrt(3)/2).

    Args:
        beliefs: ``(..., 3)``.

    Returns:
        ``(..., 2)`` float64.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    if b.shape[-1:] != (3,):
        raise ValueError(
            f"simplex_projection needs beliefs over 3 states, shape (..., 3); got {b.shape} "
            "(use pca_projection for other sizes)"
        )
    return np.stack([b[..., 1] + 0.5 * b[..., 2], SQRT3_2 * b[..., 2]], axis=-1)


class PCA(NamedTuple):
    """A principal-component fit.

    Attributes:
        mean: ``(d,)`` the points' (weighted) mean.
        components: ``(k, d)`` orthonormal principal axes, by decreasing variance.
        explained_variance: ``(k,)`` variance along each axis.
        explained_variance_ratio: ``(k,)`` fraction of the total variance.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, points) -> np.ndarray:
        """``(N, d) -> (N, k)`` coordinates along the principal axes."""
        return tall_matmul(np.asarray(points, dtype=np.float64) - self.mean, self.components.T)


def pca(points, k: int, weights=None) -> PCA:
    """Principal components of ``(N, d)`` points (optionally weighted, e.g. by probability).

    Args:
        points: ``(N, d)``.
        k: number of components, ``1 <= k <= d``.
        weights: optional ``(N,)`` non-negative weights.

    Returns:
        :class:`PCA`.
    """
    X = _points(points)
    N, d = X.shape
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= d:
        raise ValueError(f"k must be an integer in [1, {d}]; got {k}")
    w = _weights(weights, N)
    mean = w @ X
    C = (X - mean).T @ ((X - mean) * w[:, None])
    values, vectors = np.linalg.eigh(C)
    order = np.argsort(values)[::-1][: int(k)]
    values = np.clip(values[order], 0.0, None)
    components = vectors[:, order].T
    # Fix signs so the largest coordinate of each axis is positive (deterministic output).
    flip = np.sign(components[np.arange(int(k)), np.abs(components).argmax(axis=1)])
    components = components * flip[:, None]
    total = float(np.clip(np.linalg.eigvalsh(C), 0.0, None).sum())
    ratio = values / total if total > 0 else np.zeros_like(values)
    return PCA(mean, components, values, ratio)


def pca_projection(points, k: int = 2, weights=None) -> np.ndarray:
    """``(N, d) -> (N, k)`` coordinates of the points on their top ``k`` principal axes."""
    return pca(points, k, weights).transform(points)


def belief_plane_basis(right_eigenvector) -> np.ndarray:
    """``(S, S - 1)`` orthonormal basis of the belief plane's tangent space ``{v : v r = 0}``.

    Deterministic: the unit vectors other than the one of ``r``'s largest entry (in magnitude),
    projected onto ``r``'s orthogonal complement and orthonormalised by Gram-Schmidt (QR with a
    positive diagonal). For ``r = (1, 0, 0)`` (``tom_quantum``) it is ``(e_1, e_2)``.

    Args:
        right_eigenvector: ``(S,)`` ``r`` (all ones for an HMM).
    """
    r = np.asarray(right_eigenvector, dtype=np.float64)
    if r.ndim != 1 or not np.isfinite(r).all() or not np.abs(r).max() > 0:
        raise ValueError(f"right_eigenvector must be a finite non-zero vector; got {r.tolist()}")
    S = r.shape[0]
    u = r / np.linalg.norm(r)
    keep = np.delete(np.eye(S), int(np.argmax(np.abs(r))), axis=1)  # (S, S - 1)
    q, R = np.linalg.qr(keep - np.outer(u, u @ keep))
    return q * np.where(np.diagonal(R) < 0, -1.0, 1.0)[None, :]


def belief_plane_coordinates(beliefs, right_eigenvector) -> np.ndarray:
    """``(..., S) -> (..., S - 1)`` coordinates of beliefs on the plane ``eta r = 1``.

    ``c = eta U`` with ``U`` the orthonormal basis of ``{v : v r = 0}`` from
    :func:`belief_plane_basis`. On the plane this is an isometry (distances between beliefs are
    kept), so for an HMM (``r = 1``) it agrees with the simplex up to an isometry of the plane: for
    three states, with :func:`simplex_projection` up to an isometry and the factor ``sqrt(2)`` (that
    projection draws the simplex with unit sides, whose true length is ``sqrt(2)``). For
    ``tom_quantum`` (``r = e_0``) the coordinates are ``(eta_1, eta_2)``, the Bloch disk.

    Args:
        beliefs: ``(..., S)`` beliefs with ``eta r = 1``.
        right_eigenvector: ``(S,)`` ``r``.

    Returns:
        ``(..., S - 1)`` float64.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    U = belief_plane_basis(right_eigenvector)
    if b.shape[-1:] != (U.shape[0],):
        raise ValueError(f"beliefs must have shape (..., {U.shape[0]}); got {b.shape}")
    return (tall_matmul(b.reshape(-1, U.shape[0]), U)).reshape(*b.shape[:-1], U.shape[1])


def belief_plane_projection(beliefs, right_eigenvector, k: int = 2, weights=None) -> np.ndarray:
    """``(N, S) -> (N, k)`` a ``k``-D view of beliefs on the plane ``eta r = 1``.

    The plane coordinates (:func:`belief_plane_coordinates`) themselves when ``S - 1 == k`` (e.g.
    a 3-state GHMM in 2-D), else their top ``k`` principal components (optionally weighted).
    """
    coords = belief_plane_coordinates(beliefs, right_eigenvector)
    if coords.ndim != 2:
        raise ValueError(f"beliefs must have shape (N, S); got {np.shape(beliefs)}")
    if coords.shape[1] == k:
        return coords
    return pca_projection(coords, k, weights)


def belief_colors(beliefs, right_eigenvector=None) -> np.ndarray:
    """RGB colours ``(N, 3)`` in [0, 1] for beliefs ``(N, S)``.

    Three states: RGB = the belief itself. Two states: ``(b0, 0, b1)``. More states: the top three
    principal coordinates, each rescaled to [0, 1]. With a ``right_eigenvector`` other than all
    ones (GHMM beliefs, signed), the belief-plane coordinates are rescaled to [0, 1] instead
    (padded with 0.5 when the plane has fewer than three dimensions).
    """
    b = _points(beliefs)
    S = b.shape[1]
    if right_eigenvector is not None and not (np.asarray(right_eigenvector) == 1).all():
        coords = belief_plane_coordinates(b, right_eigenvector)
        coords = pca_projection(coords, 3) if coords.shape[1] > 3 else coords
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        rgb = np.full((b.shape[0], 3), 0.5)
        rgb[:, : coords.shape[1]] = (coords - lo) / np.where(hi > lo, hi - lo, 1.0)
        return rgb
    if S == 3:
        rgb = b
    elif S == 2:
        rgb = np.stack([b[:, 0], np.zeros(b.shape[0]), b[:, 1]], axis=1)
    elif S == 1:
        rgb = np.ones((b.shape[0], 3)) * 0.5
    else:
        coords = pca_projection(b, 3)
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        rgb = (coords - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.clip(rgb, 0.0, 1.0)


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


# ------------------------------------------------------------------------------------- Lyapunov
#: A QR pivot ``|R_t[i, i]|`` at or below this fraction of the step map's norm ``||A_t||_F`` is
#: round-off standing for an exact zero (a singular step that kills the tracked direction): its
#: log is ``-inf``. The catalogue's non-collapsing steps stay above 0.1; collapses sit at 1e-16
#: and below.
COLLAPSE_TOL = 1e-10


class LyapunovSpectrum(NamedTuple):
    """Lyapunov exponents of the belief dynamics on the simplex (nats per token).

    Attributes:
        exponents: ``(S - 1,)`` ``lambda_1 >= ... >= lambda_{S-1}``, mean over chains; ``-inf``
            where a chain's tangent map collapsed exactly (see :func:`lyapunov_spectrum`).
        stderr: ``(S - 1,)`` standard error over independent chains (NaN for a ``-inf`` exponent).
        num_steps: tokens per chain.
        num_chains: independent chains.
        synchronises: whether the product of the tangent maps along some chain's word became
            exactly zero, i.e. ``T[w]`` is rank one on the belief plane and maps every belief to
            the same one (the beliefs synchronise): then every exponent is ``-inf``.
        num_synchronised_chains: chains in which that happened.
    """

    exponents: np.ndarray
    stderr: np.ndarray
    num_steps: int
    num_chains: int
    synchronises: bool = False
    num_synchronised_chains: int = 0


def tangent_basis(num_states: int) -> np.ndarray:
    """``(S, S - 1)`` orthonormal basis of the simplex's tangent space ``{v : sum(v) = 0}``."""
    S = int(num_states)
    centering = np.eye(S) - 1.0 / S
    q, _ = np.linalg.qr(centering[:, : S - 1])
    return q


def _lyapunov_logs(T: np.ndarray, U: np.ndarray, previous: np.ndarray, tokens: np.ndarray,
                   beliefs: np.ndarray, r: np.ndarray | None = None,
                   collapse_tol: float = COLLAPSE_TOL) -> tuple[np.ndarray, np.ndarray]:
    """QR iteration over chains: ``previous (C, S)``, ``tokens (C, K)``, ``beliefs (C, K, S)``.

    Returns ``(logs, synchronised)``: ``(C, S-1)`` summed ``log |diag R|`` (``-inf`` where a
    pivot was at round-off, ``|R_ii| <= collapse_tol ||A_t||_F``) and ``(C,)`` whether the whole
    product ``A_1^T .. A_t^T = Q_t (R_t .. R_1)`` collapsed at some step. The triangular product
    is tracked normalised (``N_t = R_t N_{t-1} / ||R_t N_{t-1}||``, ``||N|| = 1``); it collapses
    when ``||R_t N_{t-1}||_F <= collapse_tol ||A_t||_F``, scale-free since ``||R_t|| = ||A_t||``.
    Each step is one batched pass over all chains. ``r``: a GHMM's right eigenvector (``None``:
    ``r = 1``)."""
    C, K, S = beliefs.shape
    emit = T.sum(axis=2) if r is None else T @ r  # (V, S): T[x] r
    eye = np.eye(S - 1)
    Q = np.broadcast_to(eye, (C, S - 1, S - 1)).copy()
    N = Q.copy()
    logs = np.zeros((C, S - 1))
    synchronised = np.zeros(C, dtype=bool)
    prev = previous
    for k in range(K):
        x, new = tokens[:, k], beliefs[:, k]
        c = emit[x]  # (C, S)
        z = (prev * c).sum(axis=1)
        J = (T[x] - c[:, :, None] * new[:, None, :]) / z[:, None, None]  # d eta' = d eta J
        A = np.einsum("si,csj,jl->cil", U, J, U)  # row action on tangent coordinates
        Q, R = np.linalg.qr(np.swapaxes(A, 1, 2) @ Q)
        scale = collapse_tol * np.sqrt(np.einsum("cij,cij->c", A, A))  # (C,)
        pivots = np.abs(np.diagonal(R, axis1=1, axis2=2))
        logs += np.log(np.where(pivots > scale[:, None], pivots, 0.0))
        N = R @ N
        size = np.sqrt(np.einsum("cij,cij->c", N, N))
        collapsed = size <= scale
        if collapsed.any():
            synchronised |= collapsed
            N[collapsed] = eye
            size[collapsed] = 1.0
        N /= size[:, None, None]
        prev = new
    return logs, synchronised


def lyapunov_spectrum(hmm: Process, *, num_steps: int = 2000, num_chains: int = 100, seed=0,
                      burn_in: int = 200, sample=None,
                      collapse_tol: float = COLLAPSE_TOL) -> LyapunovSpectrum:
    """Lyapunov spectrum of the random belief-update maps, restricted to the belief plane (QR).

    Along Blackwell chains ``eta_t = f_{x_t}(eta_{t-1})`` with ``f_x(eta) = eta T[x] / (eta T[x] r)``,
    the Jacobian (row-vector convention, ``d eta' = d eta J``) is
    ``J = (T[x] - (T[x] r) eta') / (eta T[x] r)``; it maps the tangent space ``{v r = 0}`` to
    itself (``{sum v = 0}``, the simplex's, for an HMM). With an orthonormal tangent basis
    ``U (S, S-1)`` (:func:`tangent_basis` for an HMM, :func:`belief_plane_basis` for a GHMM) the
    reduced map is ``A = U^T J U``;
    ``Q_t R_t = A_t^T Q_{t-1}`` and ``lambda_i = mean_t log |R_t[i, i]|`` (nats per token).

    Exact collapse. A singular step can kill a tracked direction exactly; in floating point the
    pivot ``R_t[i, i]`` is then round-off (``<= collapse_tol * ||A_t||_F``), not a finite
    contraction, and is counted as 0, so ``lambda_i = -inf``. When the product of the tangent maps
    along a chain's word is exactly zero (``T[w]`` maps every belief to one belief: a
    synchronising word, such as Z1R's or RRXOR's, or a rank-one token map, such as
    post_quantum's and fanizza's token 0) every exponent is ``-inf`` and ``synchronises`` is set.
    An ergodic process repeats such a word with probability one, so one chain is proof.
    Round-off exponents such as Z1R's former ``-16.5`` are never reported.

    Args:
        hmm: the process (``S >= 2`` states).
        num_steps: tokens per chain after burn-in.
        num_chains: independent chains (their spread gives the standard error).
        seed: seed of the chains.
        burn_in: tokens discarded per chain.
        sample: a :class:`compmech.msp.BlackwellSample` to reuse instead of sampling.
        collapse_tol: the round-off level of a pivot relative to the step map's norm.

    Returns:
        :class:`LyapunovSpectrum`.
    """
    if hmm.num_states < 2:
        raise ValueError("the Lyapunov spectrum needs an HMM with at least 2 states")
    if not 0 <= collapse_tol < 1:
        raise ValueError(f"collapse_tol must be in [0, 1); got {collapse_tol}")
    if sample is None:
        sample = blackwell_sample(hmm, int(num_steps) * int(num_chains), seed,
                                  num_chains=int(num_chains), burn_in=burn_in)
    C, K, _ = sample.beliefs.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        r = normaliser(hmm)
        U = tangent_basis(hmm.num_states) if r is None else belief_plane_basis(r)
        logs, synchronised = _lyapunov_logs(hmm.transition_matrices, U, sample.previous_beliefs,
                                            sample.tokens, sample.beliefs, r, collapse_tol)
    logs[synchronised] = -np.inf
    per_chain = np.sort(logs / K, axis=1)[:, ::-1]
    with np.errstate(invalid="ignore"):
        stderr = per_chain.std(axis=0, ddof=1) / np.sqrt(C) if C > 1 else np.full(
            per_chain.shape[1], np.inf)
    num_sync = int(synchronised.sum())
    return LyapunovSpectrum(per_chain.mean(axis=0), stderr, K, C, num_sync > 0, num_sync)


def kaplan_yorke_dimension(exponents, entropy_rate_nats: float) -> float:
    """Kaplan-Yorke (Lyapunov) dimension of the Blackwell measure (Jurgens & Crutchfield 2021).

    With ``lambda_1 >= lambda_2 >= ...`` and ``h`` the entropy rate in nats,
    ``D = k + (h + sum_{i<=k} lambda_i) / |lambda_{k+1}|``, ``k`` the largest index with
    ``h + sum_{i<=k} lambda_i >= 0``; ``D`` is capped at the simplex dimension ``len(exponents)``.

    Args:
        exponents: ``(S - 1,)`` Lyapunov exponents in nats per token.
        entropy_rate_nats: ``h_mu`` in nats per token.

    Returns:
        the dimension (float).
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    h = float(entropy_rate_nats)
    if not h >= 0:
        raise ValueError(f"entropy_rate_nats must be >= 0; got {h}")
    partial = h + np.concatenate([[0.0], np.cumsum(lam)])  # partial[k] = h + sum_{i<=k}
    nonneg = np.flatnonzero(partial >= 0)
    k = int(nonneg.max())
    if k >= lam.shape[0]:
        return float(lam.shape[0])
    if np.isinf(lam[k]):
        return float(k)
    return float(k + partial[k] / abs(lam[k]))
