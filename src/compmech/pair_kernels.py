"""The pair-histogram engine of the geometry comparison: pair distances binned on the float64
bits of ``d^2 / extent^2`` (one grid step per binade), from which every Gaussian-kernel sum and
correlation sum on the scale grid is read; systematic resampling of weighted clouds; box
statistics of several clouds on one grid.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from compmech.dimensions import _box_occupation

#: Scales per factor of 2: the grid is ``extent * 2^(-k/2)``.
STEPS_PER_OCTAVE = 2
#: The grid never goes below ``extent * 2^-LOW_OCTAVES`` (~1e-6 extent: float32 probe round-off).
LOW_OCTAVES = 20
#: Pair distances above ``extent * 2^HIGH_OCTAVES`` share one histogram bin (kernel ~ 0 there).
HIGH_OCTAVES = 3
#: Finest grid index.
MAX_STEPS = LOW_OCTAVES * STEPS_PER_OCTAVE

# Pair histograms are read off the float64 bits of d^2 / extent^2, no logarithm: one binade of d^2
# is one grid step (hence STEPS_PER_OCTAVE = 2), split into 2^7 sub-bins linear in the mantissa;
# every grid scale is then an exact bin edge. Bin 0 holds d below the finest grid scale.
_MANTISSA_SHIFT = 52 - 7
_BINS_PER_STEP = 1 << (52 - _MANTISSA_SHIFT)
_Q_LO = (1023 - MAX_STEPS) * _BINS_PER_STEP  # (bits of 2^-MAX_STEPS) >> _MANTISSA_SHIFT
_INNER_BINS = (MAX_STEPS + HIGH_OCTAVES * STEPS_PER_OCTAVE) * _BINS_PER_STEP
_NUM_BINS = _INNER_BINS + 2  # with the under- and overflow bins
_CROSS_CHUNK = 1024
# Phase of the systematic-resampling positions (k + phase) / n: irrational, so never on a tie.
_PHASE = (math.sqrt(5.0) - 1.0) / 2.0
# ----------------------------------------------------------------------------------------- draws
def _systematic(w: np.ndarray, n: int, order: np.ndarray) -> np.ndarray:
    """``n`` indices drawn with probabilities ``w`` by systematic resampling along ``order``.

    The positions ``(k + phase) / n`` of the cumulative weights taken in the (random) ``order``: a
    point of weight ``w_i`` is drawn ``floor`` or ``ceil`` of ``n w_i`` times. With uniform weights
    and ``n = N`` this is the permutation ``order`` itself; with ``n < N`` a uniformly random subset
    of distinct points (an ordinary unweighted subsample).
    """
    cdf = np.cumsum(w[order])
    positions = (np.arange(n) + _PHASE) * (cdf[-1] / n)
    return order[np.minimum(np.searchsorted(cdf, positions, side="right"), order.shape[0] - 1)]


# ------------------------------------------------------------------------------- pair histograms
class _PairHistogram(NamedTuple):
    """Pairs binned by squared distance: ``counts (B,)`` (weighted), ``sums (B,)`` of ``d^2``,
    ``total`` weight of all pairs."""

    counts: np.ndarray
    sums: np.ndarray
    total: float


def _bin_index(d2: np.ndarray, extent2: float) -> np.ndarray:
    """Bin of each squared distance: 0 below the finest grid scale, then ``2^7`` bins per binade of
    ``d^2 / extent^2`` (one grid step), the last bin at and above ``(extent 2^HIGH_OCTAVES)^2``."""
    q = (d2 * (1.0 / extent2)).view(np.int64)
    q >>= _MANTISSA_SHIFT
    q -= _Q_LO - 1
    np.clip(q, 0, _INNER_BINS + 1, out=q)
    return q


def _binned(b: np.ndarray, d2: np.ndarray, weights, num_bins: int = _NUM_BINS):
    counts = np.bincount(b, weights=weights, minlength=num_bins).astype(np.float64)
    sums = np.bincount(b, weights=d2 if weights is None else weights * d2, minlength=num_bins)
    return counts, sums


def _condensed_pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)`` int32 of the pairs ``i < j`` in ``pdist``'s condensed order (= ``np.triu_indices(m,
    1)``, built without its ``(m, m)`` mask)."""
    rows = np.arange(m, dtype=np.int32)
    length = m - 1 - rows
    i = np.repeat(rows, length)
    starts = np.cumsum(length) - length  # condensed index of (i, i + 1)
    j = np.arange(i.shape[0], dtype=np.int64) - np.repeat(starts - rows - 1, length)
    return i, j.astype(np.int32)


def _self_pairs(Y: np.ndarray, c: np.ndarray | None, pairs, extent2: float):
    """Histogram of the pairs ``i < j`` of the distinct points ``Y (m, d)`` with multiplicities ``c``
    (pair weight ``c_i c_j``; ``None``: all 1). ``pairs``: the condensed ``(i, j)`` index arrays.
    Returns ``(histogram, bins, d2)`` so that the caller can re-bin the pairs by category."""
    from scipy.spatial.distance import pdist

    d2 = pdist(Y, "sqeuclidean")
    b = _bin_index(d2, extent2)
    weights = None if c is None else c[pairs[0]] * c[pairs[1]]
    counts, sums = _binned(b, d2, weights)
    m = Y.shape[0]
    total = m * (m - 1) / 2 if c is None else (c.sum() ** 2 - (c**2).sum()) / 2
    return _PairHistogram(counts, sums, float(total)), b, d2


def _cross_pairs(X: np.ndarray, Y: np.ndarray, c: np.ndarray | None, extent2: float) -> _PairHistogram:
    """Histogram of the pairs ``(X_i, Y_j)``, ``i != j``, of distinct points with multiplicities
    ``c`` (pair weight ``c_i c_j``); the pairs of a point with its own image are left out."""
    from scipy.spatial.distance import cdist

    counts, sums = np.zeros(_NUM_BINS), np.zeros(_NUM_BINS)
    for start in range(0, X.shape[0], _CROSS_CHUNK):
        d2 = cdist(X[start:start + _CROSS_CHUNK], Y, "sqeuclidean")
        weights = None if c is None else np.outer(c[start:start + _CROSS_CHUNK], c).ravel()
        chunk_counts, chunk_sums = _binned(_bin_index(d2.ravel(), extent2), d2.ravel(), weights)
        counts += chunk_counts
        sums += chunk_sums
    d2 = ((X - Y) ** 2).sum(axis=1)  # the excluded pairs (i, i)
    diagonal = np.ones(X.shape[0]) if c is None else c**2
    diag_counts, diag_sums = _binned(_bin_index(d2, extent2), d2, diagonal)
    total = X.shape[0] * (X.shape[0] - 1) if c is None else c.sum() ** 2 - (c**2).sum()
    return _PairHistogram(counts - diag_counts, sums - diag_sums, float(total))


def _group_kernel_totals(b: np.ndarray, d2: np.ndarray, c: np.ndarray | None, pairs,
                         groups: np.ndarray, num_groups: int, scales: np.ndarray):
    """Kernel totals of the true subsample's pairs by group pair: ``T (G, G, K)``, the summed pair
    weight times ``exp(-d^2 / (2 eps^2))`` over pairs with one point in group ``a`` and one in ``b``
    (upper triangle ``a <= b`` filled), and the pair weights ``P (G, G)``."""
    ga, gb = groups[pairs[0]], groups[pairs[1]]
    index = (np.minimum(ga, gb).astype(np.int64) * num_groups + np.maximum(ga, gb)) * _NUM_BINS
    index += b
    weights = None if c is None else c[pairs[0]] * c[pairs[1]]
    counts, sums = _binned(index, d2, weights, num_groups**2 * _NUM_BINS)
    counts = counts.reshape(num_groups, num_groups, _NUM_BINS)
    sums = sums.reshape(num_groups, num_groups, _NUM_BINS)
    totals = counts.sum(axis=2)
    T = np.zeros((num_groups, num_groups, scales.shape[0]))
    for a, g in zip(*np.triu_indices(num_groups), strict=True):
        T[a, g] = _kernel_sums(_PairHistogram(counts[a, g], sums[a, g], 1.0), scales)
    return T, totals


def _split_distance(T: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Sampling-noise reference ``(K,)``: ``sqrt(mean |rho^2|)`` over the splits of the groups into
    two equal halves (group 0 always in the first, so each split is counted once)."""
    G = P.shape[0]
    upper = np.triu(np.ones((G, G), dtype=bool))
    mmd2 = []
    for rest in itertools.combinations(range(1, G), G // 2 - 1):
        in_a = np.isin(np.arange(G), (0, *rest))
        aa, bb = upper & np.outer(in_a, in_a), upper & np.outer(~in_a, ~in_a)
        ab = upper & (np.outer(in_a, ~in_a) | np.outer(~in_a, in_a))
        s = [T[m].sum(axis=0) / P[m].sum() for m in (aa, bb, ab)]
        mmd2.append(np.abs(_normalized_mmd2(*s)))
    return np.sqrt(np.clip(np.mean(mmd2, axis=0), 0.0, 1.0))


def _scale_bins(num_scales: int) -> np.ndarray:
    """Bin ``J_k`` of each grid scale: ``d < eps_k  <=>  bin <= J_k``."""
    return (MAX_STEPS - np.arange(num_scales)) * _BINS_PER_STEP


def _correlation_sums(h: _PairHistogram, num_scales: int) -> np.ndarray:
    """``C(eps_k)``: weighted fraction of pairs closer than each grid scale."""
    return np.cumsum(h.counts)[_scale_bins(num_scales)] / h.total


def _kernel_sums(h: _PairHistogram, scales: np.ndarray) -> np.ndarray:
    """``sum over pairs of w exp(-d^2 / (2 eps^2)) / total`` per scale, from each bin's mean ``d^2``
    (second-order accurate in the bin width: relative error below 1e-6)."""
    occupied = h.counts > 0.5
    n = h.counts[occupied]
    mean_d2 = np.maximum(h.sums[occupied], 0.0) / n
    return np.exp(-mean_d2[None, :] / (2.0 * scales[:, None] ** 2)) @ n / h.total


def _normalized_mmd2(s_aa: np.ndarray, s_bb: np.ndarray, s_ab: np.ndarray) -> np.ndarray:
    """``(S_aa + S_bb - 2 S_ab) / (S_aa + S_bb)`` (may be slightly negative: unbiased pair sums)."""
    denominator = s_aa + s_bb
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, (s_aa + s_bb - 2.0 * s_ab) / safe, 1.0)


def _kernel_distance(s_aa: np.ndarray, s_bb: np.ndarray, s_ab: np.ndarray) -> np.ndarray:
    """``rho = sqrt(MMD^2 / (S_aa + S_bb))`` clipped to [0, 1]."""
    return np.sqrt(np.clip(_normalized_mmd2(s_aa, s_bb, s_ab), 0.0, 1.0))


# ------------------------------------------------------------------------------------ box entropy
def _box_statistics(clouds: list[np.ndarray], w: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box entropies (bits) and occupied-box counts, each ``(len(clouds), K)``, of clouds lying in
    the box ``[lo, hi]``, on grids of side ``eps`` with the origin ``lo`` (all clouds alike)."""
    span = float((hi - lo).max()) * (1.0 + 1e-12)
    entropies = np.empty((len(clouds), scales.shape[0]))
    counts = np.empty((len(clouds), scales.shape[0]), dtype=np.int64)
    for i, cloud in enumerate(clouds):
        unit = (cloud - lo) / span
        for k, eps in enumerate(scales):  # one vectorised pass per scale
            mass = _box_occupation(unit, eps / span, w)
            entropies[i, k] = -(mass * np.log2(mass)).sum()
            counts[i, k] = mass.shape[0]
    return entropies, counts
