"""The true cloud's side of :func:`compmech.compare_geometry`, computed once per true cloud.

Everything the comparison derives from the true beliefs, their weights and the seed alone (plane
coordinates, extent, the seeded draws, the true pairs' distances and histograms, the scale grid
before truncation, the split groups' pair histograms, the bands of the paired resolution) does not
depend on the prediction. A probe compares many predictions (every hook, every checkpoint, every
decoder) with the same true points and seed: :func:`true_side` computes these once and keeps the
last few (:data:`CACHE_SIZE`), keyed by the bytes of the true points and weights and by the options.
The random draws are made in the same order as a comparison without the cache, so that the results
are bit-for-bit the same.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from compmech.expand import tall_matmul
from compmech.pair_kernels import (
    _NUM_BINS,
    MAX_STEPS,
    STEPS_PER_OCTAVE,
    _binned,
    _condensed_pairs,
    _PairHistogram,
    _scale_bins,
    _self_pairs,
    _systematic,
)
from compmech.paired import SteppedPairs, stepped_pairs
from compmech.plane import _normal, plane_coordinates

#: The grid stops where the true subsample has fewer pairs than this closer than ``eps``.
MIN_PAIRS = 100
#: The true subsample is dealt into this many random groups; the sampling-noise reference averages
#: over all C(8, 4) / 2 = 35 splits into two halves of 4 groups each.
NUM_GROUPS = 8
#: True sides kept (a probe alternates between its figure points and its decoder points).
CACHE_SIZE = 2
_CACHE: OrderedDict = OrderedDict()


class TrueSide(NamedTuple):
    """The prediction-independent part of a comparison (see the module docstring).

    Attributes:
        Xt: ``(N, S-1)`` plane coordinates of the true points; w: ``(N,)`` weights; normal: ``r``.
        extent: the true cloud's diameter; offset: ``(S-1,)`` the box grid's random offset.
        null_index: ``(N,)`` the residual each point gets in the null model.
        picks: the pair subsample's draws; unique, counts: its distinct points and multiplicities
            (``None``: all 1); pairs: their condensed ``(i, j)`` (``None`` when ``counts`` is: only
            the pair weights read them).
        h_tt: the true pairs' histogram.
        grid: the scale grid before truncation (``K0`` scales).
        groups, num_groups: the split groups of the subsample's points.
        group_counts, group_sums, group_totals: the true pairs' histogram by group pair.
        stepped: the subsample's pairs on the full grid (:func:`compmech.paired.stepped_pairs`).
    """

    Xt: np.ndarray
    w: np.ndarray
    normal: np.ndarray
    extent: float
    offset: np.ndarray
    null_index: np.ndarray
    picks: np.ndarray
    unique: np.ndarray
    counts: np.ndarray | None
    pairs: tuple | None
    h_tt: _PairHistogram
    grid: np.ndarray
    groups: np.ndarray
    num_groups: int
    group_counts: np.ndarray
    group_sums: np.ndarray
    group_totals: np.ndarray
    stepped: SteppedPairs

    @property
    def num_points(self) -> int:
        return int((self.w > 0).sum())


def _key(t: np.ndarray, w: np.ndarray, seed: int, normal, options: tuple) -> str:
    h = hashlib.sha1()
    for a in (t, w, None if normal is None else np.asarray(normal, dtype=np.float64)):
        h.update(b"-" if a is None else np.ascontiguousarray(a).tobytes() + str(a.shape).encode())
    h.update(repr((int(seed), options)).encode())
    return h.hexdigest()


def true_side(t: np.ndarray, w: np.ndarray, normal, rng, max_pair_points: int,
              min_scale: float | None, seed=None) -> TrueSide:
    """The :class:`TrueSide` of true points ``t (N, S)`` with weights ``w``; cached when ``seed``
    is an integer (``rng`` is then ``default_rng(seed)`` and its draws are replayed from the cache),
    computed afresh (drawing from ``rng``) otherwise."""
    if seed is None:
        return _build(t, w, normal, rng, max_pair_points, min_scale)
    key = _key(t, w, seed, normal, (int(max_pair_points), min_scale))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    side = _build(t, w, normal, rng, max_pair_points, min_scale)
    _CACHE[key] = side
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return side


def _pair_floor(h: _PairHistogram, extent: float) -> float:
    """Finest grid scale with at least ``MIN_PAIRS`` resolved true pairs closer than it."""
    resolved = (np.cumsum(h.counts) - h.counts[0])[_scale_bins(MAX_STEPS + 1)]
    ok = np.flatnonzero(resolved >= MIN_PAIRS)
    return extent * 2.0 ** (-(ok.max() if ok.size else 0) / STEPS_PER_OCTAVE)


def _grid(extent: float, floor: float) -> np.ndarray:
    steps = math.floor(STEPS_PER_OCTAVE * math.log2(extent / floor) + 1e-9) if floor < extent else 1
    return extent * 2.0 ** (-np.arange(min(max(steps, 1), MAX_STEPS) + 1) / STEPS_PER_OCTAVE)


def _diameter(X: np.ndarray) -> float:
    """Diameter of a cloud by farthest-point sweeps from its centroid (exact for most shapes, else a
    lower bound; it uses distances only, so it is the same in any orthonormal basis)."""
    norms = (X * X).sum(axis=1)
    a = X[int(np.argmax(((X - X.mean(axis=0)) ** 2).sum(axis=1)))]
    best = 0.0
    for _ in range(3):  # |x - a|^2 = |x|^2 - 2 x.a + |a|^2
        d2 = norms - 2.0 * tall_matmul(X, a[:, None])[:, 0]
        k = int(np.argmax(d2))
        best = max(best, float(((X[k] - a) ** 2).sum()))
        a = X[k]
    return math.sqrt(best)


def _build(t, w, normal, rng, max_pair_points, min_scale) -> TrueSide:
    N, S = t.shape
    r = _normal(normal, S)
    Xt, off_true = plane_coordinates(t, normal)
    if np.abs(off_true).max() > 1e-6:
        raise ValueError(f"true beliefs are not on the plane b . r = 1 (largest distance "
                         f"{np.abs(off_true).max():.2g}); pass the plane's normal=r")
    extent = _diameter(Xt[w > 0])
    if not extent > 0:
        raise ValueError("all true beliefs coincide: the comparison needs a cloud with extent")
    offset = rng.random(S - 1)
    null_index = _systematic(w, N, rng.permutation(N))
    picks = _systematic(w, min(int(max_pair_points), int((w > 0).sum())), rng.permutation(N))
    unique, mult = np.unique(picks, return_counts=True)
    counts = None if mult.max() == 1 else mult.astype(np.float64)
    pairs = _condensed_pairs(unique.shape[0])
    h_tt, b_tt, d2_tt = _self_pairs(Xt[unique], counts, pairs, extent**2)
    grid = _grid(extent, max(_pair_floor(h_tt, extent), min_scale or 0.0))
    num_groups = NUM_GROUPS if unique.shape[0] >= 8 * NUM_GROUPS else 2
    groups = (rng.permutation(unique.shape[0]) % num_groups).astype(np.int8)
    pair_weights = None if counts is None else counts[pairs[0]] * counts[pairs[1]]
    ga, gb = groups[pairs[0]], groups[pairs[1]]
    index = (np.minimum(ga, gb).astype(np.int64) * num_groups + np.maximum(ga, gb)) * _NUM_BINS
    index += b_tt
    del b_tt
    g_counts, g_sums = _binned(index, d2_tt, pair_weights, num_groups**2 * _NUM_BINS)
    del index
    g_counts = g_counts.reshape(num_groups, num_groups, _NUM_BINS)
    g_sums = g_sums.reshape(num_groups, num_groups, _NUM_BINS)
    return TrueSide(Xt, w, r, extent, offset, null_index, picks, unique, counts,
                    None if counts is None else pairs, h_tt, grid, groups, num_groups, g_counts,
                    g_sums, g_counts.sum(axis=2), stepped_pairs(d2_tt, grid, pair_weights))


__all__ = ["CACHE_SIZE", "TrueSide", "true_side"]
