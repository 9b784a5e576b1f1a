"""The geometry of a probe's cloud beside the theory's: which points enter the comparison
(:func:`geometry_points`) and the :class:`~compmech.records.GeometryRecord` of one hook
(:func:`geometry_record`, scale by scale through :func:`compmech.compare_geometry`).
"""

from __future__ import annotations

import numpy as np

from compmech.comparison import compare_geometry
from compmech.history import default_measure, history_tokens, prediction_error
from compmech.hmm import GHMM
from compmech.records import GeometryRecord


def geometry_points(hmm, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The probe's targets as points on a plane ``b . r = 1`` for :func:`compmech.compare_geometry`.

    An HMM's targets are its beliefs (on the simplex, ``r = 1``). A GHMM's are already the
    orthonormal belief-plane coordinates (:func:`compmech.probing.targets.belief_targets`), an
    isometry of its plane; a constant last coordinate 1 with ``r = e_last`` puts them on a plane
    whose in-plane coordinates are exactly these, so that scales are belief-plane distances in
    both cases.

    Returns:
        ``(points (N, S'), normal (S',) or None)``.
    """
    t = np.asarray(targets, dtype=np.float64)
    if isinstance(hmm, GHMM):
        normal = np.zeros(t.shape[1] + 1)
        normal[-1] = 1.0
        return np.concatenate([t, np.ones((t.shape[0], 1))], axis=1), normal
    return t, None


def geometry_record(hmm, true_targets: np.ndarray, predicted_targets: np.ndarray, *,
                    weights=None, seed: int = 0, hook: str = "", step: int = 0,
                    tokens_seen: int = 0, decoder: str = "linear",
                    lookup_errors: np.ndarray | None = None,
                    measure: str | None = None) -> tuple[GeometryRecord | None, str | None]:
    """:func:`compmech.compare_geometry` of predicted against true probe targets of ``hmm``
    (:func:`geometry_points` coordinates), as a :class:`GeometryRecord` with the predictions'
    error (in ``measure``, default :func:`compmech.history.default_measure`) and, given the
    lookups' errors on the same points, their equivalent history; ``(None, reason)`` when the
    comparison is impossible (e.g. every true belief the same)."""
    true, normal = geometry_points(hmm, true_targets)
    pred, _ = geometry_points(hmm, predicted_targets)
    measure = default_measure(hmm) if measure is None else measure
    try:
        c = compare_geometry(true, pred, weights=weights, seed=seed, normal=normal)
        error = prediction_error(true_targets, predicted_targets, weights=weights, measure=measure)
    except ValueError as err:
        return None, f"no geometry comparison: {err}"
    history = None if lookup_errors is None else history_tokens(lookup_errors, error)
    return GeometryRecord.from_comparison(c, hook=hook, step=step, tokens_seen=tokens_seen,
                                          decoder=decoder, error=error, error_measure=measure,
                                          equivalent_history=history), None


__all__ = [
    "geometry_points",
    "geometry_record",
]
