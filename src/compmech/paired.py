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


def _weighted_median(x: np.ndarray, w: np.ndarray | None) -> float:
    if x.size == 0:
        return float("nan")
    if w is None:
        return float(np.median(x))
    order = np.argsort(x)
    cdf = np.cumsum(w[order])
    return float(x[order[np.searchsorted(cdf, 0.5 * cdf[-1])]])


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
    return paired_from_steps(stepped_pairs(d2_true, scales, pair_weights), d2_predicted, scales,
                             extent, tolerance)


def _check_scales(scales) -> np.ndarray:
    scales = np.asarray(scales, dtype=np.float64)
    if scales.shape[0] > 1 and not np.allclose(scales[:-1] / scales[1:], _STEP, rtol=1e-9):
        raise ValueError("scales must be a decreasing grid with steps of a factor sqrt(2)")
    return scales


class SteppedPairs(NamedTuple):
    """The true cloud's pairs placed on a scale grid once (:func:`stepped_pairs`), so that many
    predictions of the same points are compared with it by :func:`paired_from_steps`.

    Attributes:
        keep: ``(M,)`` bool, the pairs at positive true distance (``slice(None)`` when that is all
            of them).
        log_d2: ``(M',)`` ``ln d^2`` of the kept pairs.
        step: ``(M',)`` grid step of each kept pair (``eps_k <= d < eps_{k-1}``; ``len(grid)``:
            below the finest scale).
        count: ``(len(grid) + 1,)`` number of kept pairs per step.
        weight: ``(len(grid) + 1,)`` their weight per step (``count`` when unweighted).
        pair_weights: ``(M',)`` the kept pairs' weights, or ``None`` (all 1).
    """

    keep: np.ndarray | slice
    log_d2: np.ndarray
    step: np.ndarray
    count: np.ndarray
    weight: np.ndarray
    pair_weights: np.ndarray | None


def stepped_pairs(d2_true: np.ndarray, grid: np.ndarray,
                  pair_weights: np.ndarray | None = None) -> SteppedPairs:
    """The true side of :func:`paired_resolution`: each pair's grid step, per-step counts and
    weights.

    Args:
        d2_true: ``(M,)`` squared true distances of ``M`` pairs of points.
        grid: ``(K,)`` decreasing grid of scales (absolute distances).
        pair_weights: optional ``(M,)`` pair weights.

    Returns:
        :class:`SteppedPairs` (steps in the smallest integer type that holds ``K``).
    """
    grid = np.asarray(grid, dtype=np.float64)
    dt = np.asarray(d2_true, dtype=np.float64)
    keep = dt > 0  # coincident true points have no distance to keep
    if keep.all():
        keep = slice(None)  # every pair is kept: no copies
    dt = dt[keep]
    w = None if pair_weights is None else np.asarray(pair_weights, dtype=np.float64)[keep]
    K = grid.shape[0]
    # step k holds the pairs with eps_k <= d < eps_{k-1} (k = K: below the finest scale)
    step = (K - np.searchsorted(grid[::-1], np.sqrt(dt), side="right")).astype(np.min_scalar_type(K))
    count = np.bincount(step, minlength=K + 1).astype(np.float64)
    weight = count if w is None else np.bincount(step, weights=w, minlength=K + 1)
    return SteppedPairs(keep, np.log(dt), step, count, weight, w)


def paired_from_steps(pairs: SteppedPairs, d2_predicted: np.ndarray, scales: np.ndarray,
                      extent: float, tolerance: float = PAIR_TOLERANCE) -> PairedResolution:
    """:func:`paired_resolution` from the true side's pairs already stepped: the predicted side
    only (what a comparison of many predictions with one true cloud recomputes).

    Args:
        pairs: the true pairs on a grid of which ``scales`` is a prefix (:func:`stepped_pairs`).
        d2_predicted: ``(M,)`` squared predicted distances of all pairs.
        scales: ``(K,)`` the grid; extent; tolerance: as in :func:`paired_resolution`.
    """
    scales = _check_scales(scales)
    K = scales.shape[0]
    dp = np.asarray(d2_predicted, dtype=np.float64)[pairs.keep]
    w, step = pairs.pair_weights, pairs.step
    with np.errstate(divide="ignore"):
        log_ratio = 0.5 * (np.log(dp) - pairs.log_d2)
    c = _weighted_median(log_ratio, w)
    preserved = np.abs(log_ratio - c) <= math.log(tolerance) if math.isfinite(c) \
        else np.zeros(dp.shape[0], dtype=bool)
    kept = np.bincount(step, weights=preserved.astype(np.float64) if w is None else w * preserved,
                       minlength=K + 1)[:K]
    count, weight = pairs.count[:K], pairs.weight[:K]
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
           "SteppedPairs", "paired_from_steps", "paired_resolution", "stepped_pairs"]
