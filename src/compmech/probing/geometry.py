"""The geometry of a probe's cloud beside the theory's: which points enter the comparison
(:func:`geometry_points`) and the :class:`GeometryRecord` of one hook
(:func:`geometry_record`, scale by scale through :func:`compmech.compare_geometry`), and the
:class:`GeometryRecord` that ``probe.json`` holds of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from compmech.comparison import GeometryComparison, compare_geometry
from compmech.files import to_jsonable
from compmech.history import default_measure, history_tokens, prediction_error
from compmech.hmm import GHMM
from compmech.records import Record


@dataclass
class GeometryRecord(Record):
    """A predicted (learned) belief cloud against the true one, scale by scale: the headline numbers
    of :func:`compmech.compare_geometry` for tables and figures, the equivalent history
    (:mod:`compmech.history`) of the same predictions, and the whole comparison.

    Attributes:
        hook: where the predictions were read (a hook name or ``"concat"``).
        step, tokens_seen: the checkpoint.
        decoder: ``"linear"`` (the probe), ``"linear_subsample"``, ``"knn"``, ``"mlp"``
            (:mod:`compmech.probing.decoders`) or ``"markov_k"`` (the exact Markov-k-plus-position
            lookup on the same points).
        num_points: held-out points compared.
        resolution: the paired resolution: smallest scale (belief-plane distance) down to which
            pairs of points keep their distances in the prediction; the extent when nothing finer
            is resolved (``resolved`` False).
        null_resolution: the same for the null model (truth + permuted residuals).
        resolved: whether any scale below the extent is resolved.
        resolution_at_floor: every scale of the grid is resolved.
        distribution_resolution: the measure comparison's (a diagnostic blind to the pairing).
        noise_rms: RMS residual (in-plane vector norm), beside the resolution.
        extent: the true cloud's diameter.
        error: the predictions' error at these points in ``error_measure`` (``"mse"``: the probe's
            per-coordinate MSE; ``"whitened_mse"`` for a generalized HMM, presentation-invariant).
        error_measure: the measure of ``error`` and of the equivalent history.
        equivalent_history: tokens ``k`` (interpolated, ``0..n_ctx``) at which the exact
            Markov-k-plus-position lookup's error on the same points equals ``error``.
        dimension_true, dimension_predicted: correlation dimensions of the two point clouds (these
            words and weights, not the process's Blackwell measure) fitted above the resolution
            (``None`` with ``dimension_note`` when less than about a decade of scales remains).
        dimension_stderr_true, dimension_stderr_predicted: their regression standard errors.
        dimension_fit_range: ``[eps_min, eps_max]`` of that fit, or ``None``.
        dimension_note: why the dimensions are ``None``.
        comparison: :meth:`compmech.comparison.GeometryComparison.as_dict` (every per-scale curve);
            :meth:`result` rebuilds it.
    """

    hook: str
    step: int
    tokens_seen: int
    decoder: str
    num_points: int
    resolution: float
    null_resolution: float
    resolved: bool
    resolution_at_floor: bool
    distribution_resolution: float | None
    noise_rms: float
    extent: float
    error: float | None
    error_measure: str | None
    equivalent_history: float | None
    dimension_true: float | None
    dimension_predicted: float | None
    dimension_stderr_true: float | None
    dimension_stderr_predicted: float | None
    dimension_fit_range: list[float] | None
    dimension_note: str | None
    comparison: dict[str, Any]

    @classmethod
    def from_comparison(cls, c: GeometryComparison, *, hook: str, step: int, tokens_seen: int,
                        decoder: str = "linear", error: float | None = None,
                        error_measure: str | None = None,
                        equivalent_history: float | None = None) -> GeometryRecord:
        """The record of one :class:`~compmech.comparison.GeometryComparison` (and the error and
        equivalent history of the same predictions, when given)."""
        t, p = c.dimension_true, c.dimension_predicted
        return cls(hook=hook, step=int(step), tokens_seen=int(tokens_seen), decoder=decoder,
                   num_points=c.num_points, resolution=c.resolution,
                   null_resolution=c.null_resolution, resolved=bool(c.resolved),
                   resolution_at_floor=bool(c.resolution_at_floor),
                   distribution_resolution=c.distribution_resolution,
                   noise_rms=c.noise_rms, extent=c.extent, error=error,
                   error_measure=error_measure, equivalent_history=equivalent_history,
                   dimension_true=None if t is None else t.dimension,
                   dimension_predicted=None if p is None else p.dimension,
                   dimension_stderr_true=None if t is None else t.stderr,
                   dimension_stderr_predicted=None if p is None else p.stderr,
                   dimension_fit_range=None if t is None else [float(v) for v in t.fit_range],
                   dimension_note=c.dimension_note, comparison=to_jsonable(c.as_dict()))

    def result(self) -> GeometryComparison:
        """The full comparison (per-scale arrays) back as a
        :class:`~compmech.comparison.GeometryComparison`."""
        return GeometryComparison.from_dict(self.comparison)


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


class GeometryLabel(NamedTuple):
    """What a :class:`GeometryRecord` describes: the hook (or ``"tokens"`` for a lookup), the
    checkpoint's step and tokens seen, and the read-out (``"linear"``, a decoder's name)."""

    hook: str = ""
    step: int = 0
    tokens_seen: int = 0
    decoder: str = "linear"


def geometry_record(hmm, true_targets: np.ndarray, predicted_targets: np.ndarray, *,
                    weights=None, seed: int = 0, label: GeometryLabel | None = None,
                    lookup_errors: np.ndarray | None = None,
                    measure: str | None = None) -> tuple[GeometryRecord | None, str | None]:
    """:func:`compmech.compare_geometry` of predicted against true probe targets of ``hmm``
    (:func:`geometry_points` coordinates), as a :class:`GeometryRecord` labelled ``label``, with
    the predictions' error (in ``measure``, default :func:`compmech.history.default_measure`)
    and, given the lookups' errors on the same points, their equivalent history; ``(None,
    reason)`` when the comparison is impossible (e.g. every true belief the same)."""
    label = GeometryLabel() if label is None else label
    true, normal = geometry_points(hmm, true_targets)
    pred, _ = geometry_points(hmm, predicted_targets)
    measure = default_measure(hmm) if measure is None else measure
    try:
        c = compare_geometry(true, pred, weights=weights, seed=seed, normal=normal)
        error = prediction_error(true_targets, predicted_targets, weights=weights, measure=measure)
    except ValueError as err:
        return None, f"no geometry comparison: {err}"
    history = None if lookup_errors is None else history_tokens(lookup_errors, error)
    return GeometryRecord.from_comparison(c, hook=label.hook, step=label.step,
                                          tokens_seen=label.tokens_seen, decoder=label.decoder,
                                          error=error, error_measure=measure,
                                          equivalent_history=history), None


__all__ = [
    "GeometryLabel",
    "GeometryRecord",
    "geometry_points",
    "geometry_record",
]
