"""The learned belief cloud against the theory's: dimension estimates of both, fitted over all
scales, and the correlation of pairwise distances.

These numbers mostly measure the probe's error at fine scales (a noisy fractal looks 2-D below the
noise); the scale-by-scale comparison of :func:`compmech.compare_geometry` is the one to read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import pdist

from compmech.dimensions import fractal_dimensions


def _pairwise_correlation(a: np.ndarray, b: np.ndarray) -> float:
    da, db = pdist(a), pdist(b)
    if da.std() == 0 or db.std() == 0:
        return float("nan")
    return float(np.corrcoef(da, db)[0, 1])


#: Fewer distinct beliefs than this (RRXOR has 36) give no scaling range for dimension estimates.
MIN_FRACTAL_POINTS = 500


def fractal_comparison(true: np.ndarray, predicted: np.ndarray, projected: np.ndarray | None = None,
                       *, seed: int = 0, max_points: int = 10_000,
                       pair_points: int = 2_000) -> dict[str, Any]:
    """Compare the learned belief cloud with the true one.

    On the distinct true beliefs (and the same points' predictions): box-counting, information and
    correlation dimensions (:func:`compmech.dimensions.fractal_dimensions`) of the true cloud, of the
    predicted cloud and of the residual stream projected onto the probe's affine subspace; and the
    Pearson correlation of all pairwise distances (true vs predicted) on a subsample.

    Args:
        true: ``(N, S)`` true beliefs.
        predicted: ``(N, S)`` the probe's predictions for the same points.
        projected: optional ``(N, S-1)`` residual-stream coordinates in the probe's subspace.
        seed: subsampling seed.
        max_points: at most this many distinct points enter the dimension estimates.
        pair_points: points whose pairwise distances are correlated.
    """
    _, first = np.unique(np.round(true, 12), axis=0, return_index=True)
    rng = np.random.default_rng(seed)
    if first.size > max_points:
        first = rng.choice(first, size=max_points, replace=False)
    first = np.sort(first)
    out: dict[str, Any] = {"num_distinct_points": int(first.size),
                           "fitted_over": "all scales (below the probe's resolution these measure "
                                          "its error; see compmech.compare_geometry)"}
    clouds = {"true": true, "predicted": predicted}
    if projected is not None:
        clouds["residual_projection"] = projected
    if first.size >= MIN_FRACTAL_POINTS:
        for name, cloud in clouds.items():
            out[f"dimensions_{name}"] = fractal_dimensions(cloud[first], seed=seed).as_dict()
    else:
        out["dimensions_note"] = (f"only {first.size} distinct beliefs (a finite mixed-state "
                                  "presentation): no scaling range, dimensions not estimated")
    pairs = first if first.size <= pair_points else rng.choice(first, pair_points, replace=False)
    out["pairwise_distance_correlation"] = _pairwise_correlation(true[pairs], predicted[pairs])
    out["pairwise_points"] = int(pairs.size)
    return out


__all__ = ["MIN_FRACTAL_POINTS", "fractal_comparison"]
