"""Paired resolution: down to which scale a predicted belief cloud keeps the distances of its points.

A comparison of two clouds as *measures* cannot see which predicted point belongs to which true
point: the true beliefs permuted among themselves match the theory's measure at every scale while
every point is wrong. The paired statistics here use the pairing (``docs/geometry.md``, "Paired resolution").

For pairs ``(i, j)`` of points, with true distance ``d_ij = |t_i - t_j|`` and predicted distance
``d'_ij = |p_i - p_j|`` (belief-plane distances), a pair **keeps its distance** when

    ``| ln(d'_ij / d_ij) - ln c | <= ln(pair_tolerance)``

with ``c`` the weighted median of ``d'/d`` over all pairs (one global scale factor, so a prediction
that is the cloud shrunk or enlarged as a whole, e.g. by regularisation, keeps its structure). The
**preserved fraction** at scale ``eps`` is the weighted fraction of pairs with true distance in the
octave band ``[eps, 2 eps)`` that keep their distance. The **paired resolution** is the smallest
grid scale ``eps`` such that at least half of the pairs keep their distance in the band of ``eps``
and in every coarser band (bands with fewer than :data:`MIN_BAND_PAIRS` pairs are skipped: they
hold no evidence either way); it is the true cloud's extent when even the coarsest band fails.

Why it behaves (measured on Mess3, positions 8-10, 20,000 points, 3,000-point pair subsample):

* isotropic Gaussian error of standard deviation ``sigma`` per plane axis: a pair at distance
  ``d`` changes by about ``sigma sqrt 2`` along its direction, so half the pairs keep their
  distance within a factor 1.25 once ``d`` is about ``3 sigma``: the resolution is 2.9-3.6
  ``sigma`` (2.0-2.6 times the residual RMS vector norm), growing in proportion to ``sigma``;
* a permutation of the true beliefs: pairs at every true distance get unrelated predicted
  distances; on the probe cloud at most 31% keep them in any band, so the resolution is the
  extent (on an atom-heavy Blackwell sample the coarsest bands, between whose atoms most distances
  are alike, reach about 50%: the resolution stays at or above 0.7 of the extent);
* a decoder that copies the belief of another word sharing the last ``k`` tokens: pairs within one
  of those cells are scrambled, so the resolution is about the cells' size, never finer than the
  null model "truth plus the same residuals permuted across points";
* a smooth warp ``p = f(t)`` changes distances by its local stretch ``|J|``, the same at every
  scale: with a stretch below the tolerance it is resolved at all scales, although its pointwise
  error may exceed that of noise which is resolved only above ``3 sigma``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: Pairs keep their distance when it changes by at most this factor (either way), after one global
#: scale factor.
PAIR_TOLERANCE = 1.25
#: A band is resolved when at least this fraction of its pairs keeps its distance.
PRESERVED_FRACTION = 0.5
#: Bands with fewer pairs than this are skipped (no evidence either way).
MIN_BAND_PAIRS = 20
_STEP = math.sqrt(2.0)
#: The weighted median reads its brackets off a strided subsample of about this many values ...
_MEDIAN_SAMPLE = 20_000
#: ... at these weighted quantiles either side of the median (0.5 -/+ this).
_MEDIAN_BRACKET = 0.02


class PairedResolution(NamedTuple):
    """Per-scale preserved fractions and the paired resolution they give.

    Attributes:
        fraction: ``(K,)`` weighted fraction of the pairs with true distance in ``[eps, 2 eps)`` that
            keep their distance (NaN where the band has fewer than :data:`MIN_BAND_PAIRS` pairs).
        band_pairs: ``(K,)`` number of pairs in each band.
        scale_factor: ``c``, the weighted median of predicted over true pair distance.
        resolution: the paired resolution (the extent when nothing finer is resolved).
        resolved: whether any band is resolved (``False``: ``resolution`` is the extent).
        at_floor: every band down to the finest grid scale is resolved.
    """

    fraction: np.ndarray
    band_pairs: np.ndarray
    scale_factor: float
    resolution: float
    resolved: bool
    at_floor: bool


class TruePairs(NamedTuple):
    """The true side of the pairs, stepped once on the grid (what a comparison of many predictions
    with one true cloud shares).

    Attributes:
        d2: ``(M',)`` squared true distances of the kept pairs (those at positive distance).
        keep: ``(M,)`` bool mask of the kept pairs among all, or ``slice(None)`` (all kept).
        step: ``(M',)`` grid step of each kept pair on a grid of which the comparison's scales are
            a prefix (``eps_k <= d < eps_{k-1}``; a value ``>= len(scales)`` is below the finest
            scale).
        count: ``(>= K + 1,)`` kept pairs per step.
        weight: ``(>= K + 1,)`` their summed weight (``count`` when unweighted).
        pair_weights: ``(M',)`` the kept pairs' weights, or ``None`` (all 1).
    """

    d2: np.ndarray
    keep: np.ndarray | slice
    step: np.ndarray
    count: np.ndarray
    weight: np.ndarray
    pair_weights: np.ndarray | None


def true_pairs(d2_true: np.ndarray, grid: np.ndarray,
               pair_weights: np.ndarray | None = None) -> TruePairs:
    """:class:`TruePairs` of the squared true distances ``d2_true (M,)`` on the decreasing
    ``grid`` of scales, with optional ``(M,)`` pair weights."""
    dt = np.asarray(d2_true, dtype=np.float64)
    keep = dt > 0  # coincident true points have no distance to keep
    if keep.all():
        keep = slice(None)
    dt = dt[keep]
    K = grid.shape[0]
    step = (K - np.searchsorted(grid[::-1], np.sqrt(dt), side="right")).astype(
        np.int8 if K < 127 else np.int64)
    w = None if pair_weights is None else np.asarray(pair_weights, dtype=np.float64)[keep]
    count = np.bincount(step, minlength=K + 1).astype(np.float64)
    weight = count if w is None else np.bincount(step, weights=w, minlength=K + 1)
    return TruePairs(dt, keep, step, count, weight, w)


def _median_log_ratio(ratio: np.ndarray, w: np.ndarray | None) -> float:
    """The (weighted) median of ``ln(ratio) / 2`` (the median of ``ln d' - ln d``, halved), from
    the ratios ``d'^2 / d^2`` by selection, without a logarithm per pair (the logarithm is
    monotonic: the median of the logarithms is the logarithm of the middle ratio, or the mean
    of the two middle ones' logarithms for an even count, as ``np.median`` takes them)."""
    n = ratio.size
    if n == 0:
        return float("nan")
    with np.errstate(divide="ignore"):
        if w is None:
            a, b = _middle_values(ratio)
            return float(0.25 * (np.log(a) + np.log(b)))
        return float(0.5 * np.log(_weighted_median(ratio, w)))


def _brackets(x: np.ndarray, w: np.ndarray | None) -> tuple[float, float] | None:
    """Two values either side of the (weighted) median of ``x``: the weighted quantiles ``0.5 -/+
    _MEDIAN_BRACKET`` of a strided subsample of about :data:`_MEDIAN_SAMPLE` values; ``None`` when
    ``x`` is small enough to select from whole. Only the speed depends on them: a caller checks
    that the median lies between them and else selects from all of ``x``."""
    stride = x.size // _MEDIAN_SAMPLE
    if stride <= 1:
        return None
    sample = x[::stride]
    order = np.argsort(sample)
    cdf = np.cumsum(np.ones(order.size) if w is None else w[::stride][order])
    at = np.searchsorted(cdf, cdf[-1] * np.array([0.5 - _MEDIAN_BRACKET, 0.5 + _MEDIAN_BRACKET]))
    lo, hi = sample[order[np.minimum(at, order.size - 1)]]
    return lo, hi


def _middle_values(x: np.ndarray) -> tuple[float, float]:
    """The order statistics ``(n - 1) // 2`` and ``n // 2`` of ``x``, by partitioning only the
    values between the :func:`_brackets` (the whole array when they miss)."""
    k1, k2 = (x.size - 1) // 2, x.size // 2
    brackets = _brackets(x, None)
    if brackets is not None:
        below = int(np.count_nonzero(x < brackets[0]))
        inside = x[(x >= brackets[0]) & (x <= brackets[1])]
        if below <= k1 and k2 < below + inside.size:
            x, k1, k2 = inside, k1 - below, k2 - below
    part = np.partition(x, [k1, k2])
    return float(part[k1]), float(part[k2])


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    """The first ``x`` in sorted order at which the cumulative weight reaches half the total, by
    sorting only the values between the :func:`_brackets` (the whole array when they miss)."""
    half, start = 0.5 * w.sum(), 0.0
    brackets = _brackets(x, w)
    if brackets is not None:
        below = float(w[x < brackets[0]].sum())
        inside = (x >= brackets[0]) & (x <= brackets[1])
        if below < half <= below + float(w[inside].sum()):
            x, w, start = x[inside], w[inside], below
    order = np.argsort(x)
    cdf = start + np.cumsum(w[order])
    return float(x[order[min(np.searchsorted(cdf, half), order.size - 1)]])


def paired_resolution(d2_true: np.ndarray, d2_predicted: np.ndarray, scales: np.ndarray,
                      extent: float, *, pair_weights: np.ndarray | None = None,
                      tolerance: float = PAIR_TOLERANCE) -> PairedResolution:
    """The paired resolution from the squared distances of the same pairs in the two clouds.

    Args:
        d2_true: ``(M,)`` squared true distances of ``M`` pairs of points.
        d2_predicted: ``(M,)`` squared predicted distances of the same pairs, in the same order.
        scales: ``(K,)`` decreasing grid of scales ``eps`` (absolute distances).
        extent: the true cloud's diameter (the resolution when nothing finer is resolved).
        pair_weights: optional ``(M,)`` pair weights (e.g. products of multiplicities).
        tolerance: factor ``> 1`` by which a pair's distance may change.

    Returns:
        :class:`PairedResolution`.
    """
    if not tolerance > 1:
        raise ValueError(f"pair tolerance must be a factor > 1; got {tolerance}")
    scales = _check_scales(scales)
    return paired_from_steps(true_pairs(d2_true, scales, pair_weights), d2_predicted, scales,
                             extent, tolerance)


def _check_scales(scales) -> np.ndarray:
    scales = np.asarray(scales, dtype=np.float64)
    if scales.shape[0] > 1 and not np.allclose(scales[:-1] / scales[1:], _STEP, rtol=1e-9):
        raise ValueError("scales must be a decreasing grid with steps of a factor sqrt(2)")
    return scales


def paired_from_steps(true: TruePairs, d2_predicted: np.ndarray, scales: np.ndarray,
                      extent: float, tolerance: float = PAIR_TOLERANCE) -> PairedResolution:
    """:func:`paired_resolution` from the true side's pairs already stepped (:func:`true_pairs`):
    the predicted side only (what a comparison of many predictions with one true cloud
    recomputes).

    A pair keeps its distance when ``|ln(d'/d) - ln c| <= ln(tolerance)``, i.e. when its ratio
    ``d'^2 / d^2`` lies in ``[c^2 / tolerance^2, c^2 tolerance^2]``: one division and two
    comparisons per pair.

    Args:
        true: the true side's stepped pairs, on a grid of which ``scales`` is a prefix.
        d2_predicted: ``(M,)`` squared predicted distances of all pairs.
        scales: ``(K,)`` the grid; extent; tolerance: as in :func:`paired_resolution`.
    """
    scales = _check_scales(scales)
    K = scales.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(d2_predicted, dtype=np.float64)[true.keep] / true.d2
    c = _median_log_ratio(ratio, true.pair_weights)
    if math.isfinite(c):
        band = 2.0 * math.log(tolerance)
        preserved = (ratio >= math.exp(2.0 * c - band)) & (ratio <= math.exp(2.0 * c + band))
        kept = np.bincount(true.step[preserved], minlength=K + 1)[:K].astype(np.float64) \
            if true.pair_weights is None else \
            np.bincount(true.step[preserved], weights=true.pair_weights[preserved],
                        minlength=K + 1)[:K]
    else:
        kept = np.zeros(K)
    count, weight = true.count[:K], true.weight[:K]
    # the octave band [eps_k, 2 eps_k) = [eps_k, eps_{k-2}) is steps k and k - 1
    band, band_w, band_kept = (x + np.concatenate([[0.0], x[:-1]]) for x in (count, weight, kept))
    fraction = np.full(K, np.nan)
    enough = band >= MIN_BAND_PAIRS
    fraction[enough] = band_kept[enough] / band_w[enough]
    return _resolve(scales, fraction, band.astype(np.int64), float(np.exp(c)) if math.isfinite(c)
                    else 0.0, extent)


def _resolve(scales: np.ndarray, fraction: np.ndarray, band_pairs: np.ndarray, c: float,
             extent: float) -> PairedResolution:
    """Smallest scale resolved there and at every coarser band with evidence."""
    # a band at the extent holds only the few pairs at the diameter: no evidence of resolution
    defined = np.flatnonzero(~np.isnan(fraction) & (scales < extent * (1 - 1e-9)))
    failed = fraction[defined] < PRESERVED_FRACTION
    good = defined[: int(np.argmax(failed)) if failed.any() else defined.size]  # until the first fail
    resolved = good.size > 0
    resolution = float(scales[good[-1]]) if resolved else float(extent)
    at_floor = resolved and not failed.any()
    return PairedResolution(fraction, band_pairs, c, resolution, resolved, at_floor)


__all__ = ["MIN_BAND_PAIRS", "PAIR_TOLERANCE", "PRESERVED_FRACTION", "PairedResolution",
           "TruePairs", "paired_from_steps", "paired_resolution", "true_pairs"]
