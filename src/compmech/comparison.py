"""Scale-by-scale comparison of a learned (predicted) belief cloud with the theory's (the pair
histograms it reads are built in :mod:`compmech.pair_kernels`, the clouds' plane coordinates in
:mod:`compmech.plane`).

A probe's predictions are the true beliefs plus an error. Below the error's scale any statistic of
the predicted cloud measures the error, not the fractal; above it the learned geometry *is* the
fractal. :func:`compare_geometry` measures, on one grid of scales ``eps``, the box-occupation
entropy and the correlation sum of the true cloud, of the predicted cloud and of a null model
(the true beliefs plus the probe's own residuals permuted across points), and a kernel distance
of the predicted cloud and of the null model to the true cloud: diagnostics of the two clouds as
*measures*. The **resolution** uses the pairing of predicted and true points
(:mod:`compmech.paired`): the smallest scale down to which pairs of points keep their distances in
the prediction. A measure comparison cannot be the resolution: the true beliefs permuted among
themselves match the theory's measure at every scale. Dimensions are fitted only above the
(paired) resolution (``docs/geometry.md``).

All scales are Euclidean distances in belief space, measured within the affine plane the beliefs
live on (``sum b = 1`` for an HMM, ``b . r = 1`` for a generalized HMM). History in tokens is not
read off these scales (an IFS heuristic ``ln(eps) / lambda_1`` understates it about 2.4 times on
Mess3): see :func:`compmech.equivalent_history`.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from compmech.blackwell import _rng
from compmech.comparison_reference import MIN_PAIRS, TrueSide, true_side
from compmech.dimensions import _box_fit_mask, _weights
from compmech.pair_kernels import (
    _box_statistics,
    _correlation_sums,
    _cross_pairs,
    _group_kernel_sums,
    _kernel_distance,
    _kernel_sums,
    _self_pairs,
    _split_distance,
)
from compmech.paired import PAIR_TOLERANCE, PairedResolution, paired_from_steps
from compmech.plane import _clouds, plane_coordinates
from compmech.records import Record

#: Default agreement tolerance on the kernel distance ``rho`` (see :func:`compare_geometry`).
DEFAULT_TOLERANCE = 0.1
#: Box entropies of the null model within this many bits of the truth: box statistics unaffected
#: by an error of the probe's size (the lower end of the information-dimension fit).
ENTROPY_TOLERANCE_BITS = 0.1
#: A kernel distance this large means the error swamps the cloud at that scale.
SATURATED = 0.9
#: The grid stops this many steps below the coarsest scale where both the predicted cloud and the
#: null model are saturated (finer scales see only the error).
SATURATED_STEPS = 2
#: Largest fitted scale as a fraction of the extent (coarser scales see the cloud's overall shape).
FIT_MAX_FRACTION = 0.1
#: A dimension needs fitted scales spanning at least this many decades ("about one decade").
MIN_FIT_DECADES = 0.9


class DimensionFit(NamedTuple):
    """A dimension fitted over scales at or above the resolution.

    Attributes:
        dimension: the slope of ``log C(eps)`` against ``log eps`` (``method="correlation"``) or
            of the box-occupation entropy (bits) against ``log2(1/eps)`` (``"information"``).
        stderr: the regression standard error of the slope (scatter about the line; not the
            estimator's systematic error).
        fit_range: ``(eps_min, eps_max)`` of the fitted scales (absolute belief-plane distance).
        num_scales: number of scales in the fit.
        method: ``"correlation"`` or ``"information"``.
    """

    dimension: float
    stderr: float
    fit_range: tuple
    num_scales: int
    method: str


_ARRAY_FIELDS = ("scales", "entropy_true_bits", "entropy_predicted_bits", "entropy_null_bits",
                 "box_count_true", "box_count_predicted", "box_count_null", "correlation_true",
                 "correlation_predicted", "correlation_null", "distance_predicted", "distance_null",
                 "distance_split", "tolerance_curve", "paired_fraction_predicted",
                 "paired_fraction_null", "paired_band_pairs", "normal")
_FIT_FIELDS = ("dimension_true", "dimension_predicted", "information_dimension_true",
               "information_dimension_predicted")


@dataclass(frozen=True)
class GeometryComparison:
    """The predicted belief cloud against the true one, scale by scale (see :func:`compare_geometry`).

    Every length is an absolute Euclidean distance within the beliefs' affine plane. Per-scale
    arrays have shape ``(K,)``, aligned with ``scales`` (decreasing).

    Attributes:
        scales: ``(K,)`` the grid ``extent * 2^(-k/2)`` from the true cloud's extent down to below
            the error (see :func:`compare_geometry`, "Grid").
        extent: the true cloud's diameter (farthest-point sweeps; basis-independent).
        entropy_true_bits, entropy_predicted_bits, entropy_null_bits: ``(K,)`` box-occupation
            entropy ``H(eps) = -sum_i p_i log2 p_i``, ``p_i`` the weighted mass of box ``i`` of a
            grid of side ``eps`` (one seeded random offset, the same grid for the three clouds).
        box_count_true, box_count_predicted, box_count_null: ``(K,)`` occupied boxes.
        correlation_true, correlation_predicted, correlation_null: ``(K,)`` correlation sums
            ``C(eps)``, the weighted fraction of pairs of distinct points closer than ``eps``
            (on the pair subsample).
        distance_predicted, distance_null: ``(K,)`` kernel distance ``rho(eps)`` in [0, 1] of the
            predicted cloud (of the null model) to the true cloud.
        distance_split: ``(K,)`` sampling-noise reference: ``rho`` between random halves of the
            true subsample (root-mean of ``|rho^2|`` over 35 splits, see :func:`compare_geometry`).
        tolerance_curve: ``(K,)`` ``max(tolerance, distance_split)``, the agreement threshold.
        tolerance: the effect-size tolerance on ``rho``.
        paired_fraction_predicted, paired_fraction_null: ``(K,)`` fraction of the pairs with true
            distance in ``[eps, 2 eps)`` that keep their distance (within ``pair_tolerance``, after
            one global scale factor) in the prediction, in the null model (NaN: too few pairs);
            see :mod:`compmech.paired`.
        paired_band_pairs: ``(K,)`` pairs in each band.
        pair_tolerance: the factor by which a kept distance may change.
        scale_factor: the weighted median of predicted over true pair distance.
        resolution: the **paired resolution**: smallest grid scale ``eps`` such that at least half
            of the pairs at true distance in ``[eps, 2 eps)``, and in every coarser band, keep their
            distance; the extent when nothing finer is resolved (then ``resolved`` is False).
        null_resolution: the same for the null model: what an unstructured error of the probe's
            size allows.
        resolved: whether any scale below the extent is resolved.
        resolution_at_floor: True when every band down to the finest grid scale is resolved (the
            resolution is then limited by the sample and the grid, not by the representation).
        distribution_resolution: smallest grid scale at which the predicted cloud agrees with the
            truth as a measure (kernel distance) there and at every larger scale, ``None`` when it
            disagrees already at the extent. A diagnostic only: it ignores which point is which.
        null_distribution_resolution: the same for the null model.
        box_resolution: smallest scale at and above which the null model's box entropy stays
            within ``ENTROPY_TOLERANCE_BITS`` of the truth's (box statistics feel an error at first
            order, so this is coarser than ``null_resolution``); ``None`` if nowhere.
        noise_rms: ``sqrt(sum_i w_i |p_i - t_i|^2)``, the in-plane residual RMS (vector norm).
        off_plane_rms: RMS distance of the predicted points from the plane (projected away before
            every statistic).
        dimension_true, dimension_predicted: correlation dimensions fitted over the scales
            ``>= resolution``, ``<= extent / 10``, with at least ``MIN_PAIRS`` subsample pairs
            closer than ``eps`` in both clouds; or ``None`` (see ``dimension_note``).
        information_dimension_true, information_dimension_predicted: box-entropy slopes over the
            scales ``>= max(resolution, box_resolution)``, ``<= extent / 10`` and resolved by the
            sample (geometry's mask ``N(eps) <= N / 10``, both clouds); or ``None``.
        dimension_note, information_dimension_note: why a fit is ``None`` (else ``None``).
        num_points: points with positive weight.
        num_pair_points: draws in the pair subsample.
        normal: ``(S,)`` the plane's normal ``r`` (beliefs satisfy ``b . r = 1``).
    """

    scales: np.ndarray
    extent: float
    entropy_true_bits: np.ndarray
    entropy_predicted_bits: np.ndarray
    entropy_null_bits: np.ndarray
    box_count_true: np.ndarray
    box_count_predicted: np.ndarray
    box_count_null: np.ndarray
    correlation_true: np.ndarray
    correlation_predicted: np.ndarray
    correlation_null: np.ndarray
    distance_predicted: np.ndarray
    distance_null: np.ndarray
    distance_split: np.ndarray
    tolerance_curve: np.ndarray
    tolerance: float
    paired_fraction_predicted: np.ndarray
    paired_fraction_null: np.ndarray
    paired_band_pairs: np.ndarray
    pair_tolerance: float
    scale_factor: float
    resolution: float
    null_resolution: float
    resolved: bool
    resolution_at_floor: bool
    distribution_resolution: float | None
    null_distribution_resolution: float | None
    box_resolution: float | None
    noise_rms: float
    off_plane_rms: float
    dimension_true: DimensionFit | None
    dimension_predicted: DimensionFit | None
    dimension_note: str | None
    information_dimension_true: DimensionFit | None
    information_dimension_predicted: DimensionFit | None
    information_dimension_note: str | None
    num_points: int
    num_pair_points: int
    normal: np.ndarray

    @property
    def agrees(self) -> np.ndarray:
        """``(K,)`` bool: the predicted cloud agrees with the truth as a measure at each scale."""
        return self.distance_predicted <= self.tolerance_curve

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists, floats, ints, strings, ``None``); read back by :meth:`from_dict`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _ARRAY_FIELDS:
                out[f.name] = np.asarray(value).tolist()
            elif f.name in _FIT_FIELDS:
                out[f.name] = None if value is None else {
                    "dimension": value.dimension, "stderr": value.stderr,
                    "fit_range": [float(v) for v in value.fit_range],
                    "num_scales": value.num_scales, "method": value.method}
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeometryComparison:
        """Rebuild a :class:`GeometryComparison` from :meth:`as_dict`'s output (e.g. read from JSON)."""
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(f"not a GeometryComparison dict: missing {sorted(names - set(data))}, "
                             f"unexpected {sorted(set(data) - names)}")
        values = dict(data)
        for name in _ARRAY_FIELDS:
            dtype = np.int64 if name.startswith(("box_count", "paired_band")) else np.float64
            values[name] = np.asarray(data[name], dtype=dtype)
        for name in _FIT_FIELDS:
            fit = data[name]
            values[name] = None if fit is None else DimensionFit(
                float(fit["dimension"]), float(fit["stderr"]), tuple(fit["fit_range"]),
                int(fit["num_scales"]), str(fit["method"]))
        return cls(**values)


# --------------------------------------------------------------------------------- resolution, fits
def _resolution(scales: np.ndarray, agrees: np.ndarray) -> tuple[float | None, bool]:
    """Smallest scale at which ``agrees`` holds there and at every larger scale; and whether that is
    the whole grid."""
    bad = np.flatnonzero(~agrees)
    if bad.size == 0:
        return float(scales[-1]), True
    if bad[0] == 0:
        return None, False
    return float(scales[bad[0] - 1]), False


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and its standard error ``sqrt(SSR / (n-2) / Sxx)``."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean())) / sxx
    resid = y - y.mean() - slope * xc
    dof = x.shape[0] - 2
    stderr = math.sqrt(float(resid @ resid) / dof / sxx) if dof > 0 else float("inf")
    return slope, stderr


def _fits(scales: np.ndarray, mask: np.ndarray, x: np.ndarray, ys, method: str):
    """Fit each ``y`` on ``x`` over ``mask``; ``([DimensionFit or None, ...], note or None)``."""
    span = float(np.log10(scales[mask].max() / scales[mask].min())) if mask.sum() >= 2 else 0.0
    if span < MIN_FIT_DECADES - 1e-9:
        return [None] * len(ys), (f"{method} dimension not fitted: the usable scales at or above the "
                                  f"resolution span {span:.2f} decades (< {MIN_FIT_DECADES})")
    fit_range = (float(scales[mask].min()), float(scales[mask].max()))
    return [DimensionFit(*_slope(x[mask], y[mask]), fit_range, int(mask.sum()), method)
            for y in ys], None


@dataclass(frozen=True, kw_only=True)
class ComparisonConfig(Record):
    """The options of :func:`compare_geometry` (its docstring gives their role).

    Attributes:
        tolerance: effect-size tolerance on the kernel distance ``rho``, in (0, 1).
        max_pair_points: draws in the pair subsample (time and memory ``O(max_pair_points^2)``),
            an integer ``>= 20``.
        min_scale: optional lower bound of the scale grid (absolute distance).
        pair_tolerance: the factor ``> 1`` by which a pair's distance may change and still count as
            kept (see :mod:`compmech.paired`).

    Raises:
        ValueError: an option out of range (named in the message).
    """

    tolerance: float = DEFAULT_TOLERANCE
    max_pair_points: int = 3000
    min_scale: float | None = None
    pair_tolerance: float = PAIR_TOLERANCE

    def __post_init__(self) -> None:
        if not 0 < self.tolerance < 1:
            raise ValueError(f"tolerance must be in (0, 1); got {self.tolerance}")
        n = self.max_pair_points
        if isinstance(n, bool) or int(n) != n or n < 20:
            raise ValueError(f"max_pair_points must be an integer >= 20; got {n}")
        if not (math.isfinite(self.pair_tolerance) and self.pair_tolerance > 1):
            raise ValueError(f"pair_tolerance must be a factor > 1; got {self.pair_tolerance}")
        if self.min_scale is not None and not (math.isfinite(self.min_scale) and self.min_scale > 0):
            raise ValueError(f"min_scale must be a positive number; got {self.min_scale}")


# ---------------------------------------------------------------------------------------- public
def compare_geometry(true, predicted, config: ComparisonConfig | None = None, *, weights=None,
                     seed=0, normal=None) -> GeometryComparison:
    """Compare a predicted belief cloud with the true one scale by scale, and find its resolution.

    **Coordinates.** Both clouds are mapped to orthonormal affine coordinates of the plane
    ``b . r = 1`` (:func:`~compmech.plane.plane_coordinates`; ``r = 1`` is the simplex with basis
    :func:`compmech.geometry.tangent_basis`; a generalized HMM passes ``normal=r``). The true
    beliefs must lie on the plane; predicted points are projected onto it and their RMS distance
    from it is ``off_plane_rms``. Every scale is an absolute Euclidean distance in belief space
    (not a fraction of the extent), so scales mean the same for any number of states and match the
    IFS contraction ``e^{lambda_1}``.

    **Null model.** The true beliefs plus the in-plane residuals ``p - t`` reassigned at random
    across points: a seeded permutation (with weights, residuals drawn with probabilities ``w`` by
    systematic resampling, which is a permutation when ``w`` is uniform). It has the probe's error
    size and distribution but no relation between error and position.

    **Distance.** With the Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / (2 eps^2))``,
    ``rho(eps)^2 = (S_tt + S_pp - 2 S_tp) / (S_tt + S_pp)``, ``S_ab`` the weighted mean of
    ``k(a_i, b_j)`` over pairs of distinct points ``i != j``. It is ``||f_t - f_p||_2 /
    sqrt(||f_t||^2 + ||f_p||^2)`` for the two measures smoothed by an isotropic Gaussian of standard
    deviation ``eps / sqrt(2)``: 0 for equal clouds, 1 for clouds disjoint at scale ``eps``. A
    smooth kernel feels a symmetric error of size ``sigma`` only at second order, ``rho ~ (sigma /
    eps)^2`` for ``eps >> sigma``; a box histogram feels it at first order (``sigma / eps``: a
    total-variation distance of box occupations still shows 1.5% at 100 sigma on Mess3). The sums run
    over a seeded subsample of ``config.max_pair_points`` draws with probabilities ``w`` (the same draws in
    every cloud), their pairs binned once by distance.

    **Resolution (paired).** :func:`compmech.paired.paired_resolution` on the pair subsample: a
    pair keeps its distance when it changes by at most a factor ``pair_tolerance`` (default 1.25)
    after one global scale factor; ``resolution`` is the smallest grid scale ``eps`` such that at
    least half of the pairs with true distance in ``[eps, 2 eps)``, and in every coarser band, keep
    their distance; the extent when nothing finer is resolved (``resolved`` False). It exceeds the
    error of most points: the true beliefs permuted among themselves are not resolved at all (the
    extent); isotropic Gaussian noise of ``sigma`` per axis gives 2.9-3.6 ``sigma`` on Mess3 (2.0-2.6
    ``noise_rms``; on a line, where all the error lies along the pairs, about 3.5 ``noise_rms``);
    a smooth warp whose local stretch stays within the tolerance keeps every
    scale. The null model gets ``null_resolution`` by the same rule: ``resolution ~
    null_resolution`` means the error acts like unstructured noise of its size, ``resolution <<
    null_resolution`` an error that moves neighbours together (a smooth warp keeps fine
    structure), ``resolution >> null_resolution`` an error that scrambles neighbours more than noise
    of its size would (e.g. copies of other points' beliefs).

    **Measure distance (diagnostic).** The predicted cloud agrees with the truth *as a measure* at
    ``eps`` iff ``rho_pred(eps) <= max(tolerance, rho_split(eps))``; ``rho_split``
    (``distance_split``) is the distance between two random halves of the true subsample: the
    subsample is dealt into 8 random groups and ``rho_split = sqrt(mean |rho^2|)`` over the 35
    splits into 4 + 4 groups. ``distribution_resolution`` is the smallest grid scale at which it
    agrees there and at every larger scale (``None`` if it disagrees at the extent). It cannot see
    which predicted point belongs to which true point (a permutation of the truth agrees at every
    scale), so it is reported as a diagnostic, never as the resolution.

    **Grid.** ``eps_k = extent * 2^(-k/2)`` from the true cloud's diameter down to
    ``SATURATED_STEPS = 2`` steps below the coarsest scale at which both the predicted cloud and the
    null model are saturated by the error (``rho >= 0.9``: finer scales see only the error), but
    not below ``min_scale``, ``extent * 2^-20`` or the finest scale with at least ``MIN_PAIRS``
    subsample pairs of true points closer than it (the sample's own resolution).

    **Dimensions.** ``dimension_*``: correlation dimension, slope of ``log C(eps)`` on ``log eps``
    over the scales ``>= resolution``, ``<= extent / 10`` with ``>= MIN_PAIRS`` pairs closer than
    ``eps`` in both clouds. ``information_dimension_*``: slope of the box entropy (bits) on
    ``log2(1/eps)`` over the scales ``>= max(resolution, box_resolution)``, ``<= extent / 10`` and
    resolved by the sample (``N(eps) <= N / 10`` boxes, geometry's mask, in both clouds); box
    statistics feel the error at first order, hence the extra bound ``box_resolution`` (null
    model's box entropy within ``ENTROPY_TOLERANCE_BITS`` of the truth's). Each comes with the
    regression standard error of the slope; ``None`` and a note when less than about one decade
    (``MIN_FIT_DECADES``) of scales remains.

    Args:
        true: ``(N, S)`` the theory's beliefs (on the plane ``b . r = 1``), ``N >= 8``, ``S >= 2``.
        predicted: ``(N, S)`` the predicted beliefs of the same points (e.g. a probe's output).
        config: ``tolerance``, ``max_pair_points``, ``min_scale`` and ``pair_tolerance``
            (:class:`ComparisonConfig`; default: its defaults).
        weights: optional ``(N,)`` non-negative weights (e.g. word probabilities).
        seed: seed (int or ``numpy.random.Generator``) of the grid offset, the null model's
            reassignment, the pair subsample and the splits.
        normal: ``(S,)`` normal ``r`` of the beliefs' plane ``b . r = 1`` (default: all ones).

    Returns:
        :class:`GeometryComparison`.

    Example:
        >>> import numpy as np, compmech
        >>> t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 20_000, seed=0)
        >>> noise = np.random.default_rng(1).normal(size=(20_000, 2)) * 0.01  # per axis
        >>> c = compmech.compare_geometry(t, t + noise @ compmech.geometry.tangent_basis(3).T)
        >>> 0.02 <= c.resolution <= 0.06, round(c.noise_rms, 3)
        (True, 0.014)
    """
    c = ComparisonConfig() if config is None else config
    t, p = _clouds(true, predicted)
    rng = _rng(seed)
    side = true_side(t, _weights(weights, t.shape[0]), normal, rng, c.max_pair_points, c.min_scale,
                     seed=None if isinstance(seed, np.random.Generator) else int(seed))
    clouds = _plane_clouds(side, p, normal)
    pairs = _kernel_comparison(clouds, side, c.tolerance, c.pair_tolerance)
    dims = _box_and_dimensions(clouds, pairs)
    paired, null = pairs.paired, pairs.paired_null
    return GeometryComparison(
        scales=pairs.scales, extent=clouds.extent,
        entropy_true_bits=dims.entropies[0], entropy_predicted_bits=dims.entropies[1],
        entropy_null_bits=dims.entropies[2],
        box_count_true=dims.counts[0], box_count_predicted=dims.counts[1],
        box_count_null=dims.counts[2],
        correlation_true=pairs.correlation[0], correlation_predicted=pairs.correlation[1],
        correlation_null=pairs.correlation[2],
        distance_predicted=pairs.distance_predicted, distance_null=pairs.distance_null,
        distance_split=pairs.distance_split, tolerance_curve=pairs.threshold,
        tolerance=float(c.tolerance), paired_fraction_predicted=paired.fraction,
        paired_fraction_null=null.fraction, paired_band_pairs=paired.band_pairs,
        pair_tolerance=float(c.pair_tolerance), scale_factor=paired.scale_factor,
        resolution=paired.resolution, null_resolution=null.resolution, resolved=paired.resolved,
        resolution_at_floor=paired.at_floor, distribution_resolution=pairs.resolution,
        null_distribution_resolution=pairs.null_resolution,
        box_resolution=dims.box_resolution, noise_rms=clouds.noise_rms,
        off_plane_rms=clouds.off_plane_rms,
        dimension_true=dims.dim_true, dimension_predicted=dims.dim_predicted,
        dimension_note=dims.dim_note, information_dimension_true=dims.info_true,
        information_dimension_predicted=dims.info_predicted,
        information_dimension_note=dims.info_note,
        num_points=clouds.num_points,
        num_pair_points=pairs.num_pair_points, normal=clouds.normal)


class _PlaneClouds(NamedTuple):
    """The true, predicted and null clouds in plane coordinates, and what the grid needs."""

    Xt: np.ndarray
    Xp: np.ndarray
    Xn: np.ndarray
    w: np.ndarray
    normal: np.ndarray
    noise_rms: float
    off_plane_rms: float
    extent: float
    offset: np.ndarray
    num_points: int


def _plane_clouds(side: TrueSide, p: np.ndarray, normal) -> _PlaneClouds:
    """Both clouds in plane coordinates, the null model (true + reassigned residuals), the noise."""
    Xt, w = side.Xt, side.w
    Xp, off_pred = plane_coordinates(p, normal)
    resid = Xp - Xt
    Xn = Xt + resid[side.null_index]
    return _PlaneClouds(Xt, Xp, Xn, w, side.normal, math.sqrt(float(w @ (resid**2).sum(axis=1))),
                        math.sqrt(float(w @ off_pred**2)), side.extent, side.offset,
                        side.num_points)


class _KernelComparison(NamedTuple):
    """The scale grid, the kernel distances, the resolutions and the correlation sums."""

    scales: np.ndarray
    distance_predicted: np.ndarray
    distance_null: np.ndarray
    distance_split: np.ndarray
    threshold: np.ndarray
    resolution: float | None
    null_resolution: float | None
    at_floor: bool
    correlation: list
    enough_pairs: np.ndarray
    num_pair_points: int
    paired: PairedResolution
    paired_null: PairedResolution


def _kernel_comparison(c: _PlaneClouds, side: TrueSide, tolerance: float,
                       pair_tolerance: float) -> _KernelComparison:
    """Pair statistics of a subsample: the grid, the kernel distances of the predicted cloud, the
    null model and the split halves, and the resolutions they give (the true side's from
    ``side``)."""
    unique, counts, pairs = side.unique, side.counts, side.pairs
    e2 = c.extent**2
    h_tt = side.h_tt

    def pair_histograms(X):  # a cloud's own pairs and its pairs with the true points
        h_self, _, d2_self = _self_pairs(X[unique], counts, pairs, e2)
        return h_self, d2_self, _cross_pairs(c.Xt[unique], X[unique], counts, e2)

    (h_pp, d2_pp, h_tp), (h_nn, d2_nn, h_tn) = _both(pair_histograms, c.Xp, c.Xn)

    scales = side.grid
    s_tt = _kernel_sums(h_tt, scales)
    d_pred = _kernel_distance(s_tt, _kernel_sums(h_pp, scales), _kernel_sums(h_tp, scales))
    d_null = _kernel_distance(s_tt, _kernel_sums(h_nn, scales), _kernel_sums(h_tn, scales))
    saturated = np.flatnonzero((d_pred >= SATURATED) & (d_null >= SATURATED))
    K = scales.shape[0] if saturated.size == 0 else min(scales.shape[0],
                                                        saturated[0] + SATURATED_STEPS + 1)
    scales, d_pred, d_null = scales[:K], d_pred[:K], d_null[:K]
    d_split = _split_distance(_group_kernel_sums(side.group_counts, side.group_sums, scales),
                              side.group_totals)
    threshold = np.maximum(tolerance, d_split)
    resolution, at_floor = _resolution(scales, d_pred <= threshold)
    null_resolution, _ = _resolution(scales, d_null <= threshold)
    correlation = [_correlation_sums(h, K) for h in (h_tt, h_pp, h_nn)]
    enough = (correlation[0] * h_tt.total >= MIN_PAIRS) & (correlation[1] * h_pp.total >= MIN_PAIRS)
    paired, paired_null = _both(lambda d2: paired_from_steps(side.pairs_true, d2, scales, c.extent,
                                                             tolerance=pair_tolerance),
                                d2_pp, d2_nn)
    return _KernelComparison(scales, d_pred, d_null, d_split, threshold, resolution,
                             null_resolution, at_floor, correlation, enough,
                             int(side.picks.shape[0]), paired, paired_null)


@functools.cache
def _worker() -> ThreadPoolExecutor:
    """The one extra thread of the comparisons (made on first use)."""
    return ThreadPoolExecutor(1, thread_name_prefix="compmech-geometry")


def _both(f, a, b):
    """``(f(a), f(b))``, ``f(b)`` on a second thread (the predicted and null clouds' pair work is
    independent, and numpy and scipy release the GIL over whole arrays: two cores halve it)."""
    other = _worker().submit(f, b)
    return f(a), other.result()


class _Dimensions(NamedTuple):
    """Box statistics of the three clouds and the dimensions fitted above the resolution."""

    entropies: np.ndarray
    counts: np.ndarray
    box_resolution: float | None
    dim_true: DimensionFit | None
    dim_predicted: DimensionFit | None
    dim_note: str
    info_true: DimensionFit | None
    info_predicted: DimensionFit | None
    info_note: str


def _box_and_dimensions(c: _PlaneClouds, k: _KernelComparison) -> _Dimensions:
    """Box entropies and counts on the grid; the correlation and information dimensions fitted
    over the scales at or above the resolution (and, for boxes, ``box_resolution``)."""
    scales = k.scales
    # One frame for the three clouds from the true cloud and the residuals alone (not from the
    # null's draw): the null lies within the true cloud's box widened by the largest residual.
    positive = slice(None) if c.num_points == c.Xt.shape[0] else c.w > 0
    bt, bp, bn, bw = c.Xt[positive], c.Xp[positive], c.Xn[positive], c.w[positive]
    reach = np.abs(bp - bt).max(axis=0)
    lo = np.minimum(bt.min(axis=0) - reach, bp.min(axis=0)) - c.offset * scales[0]
    hi = np.maximum(bt.max(axis=0) + reach, bp.max(axis=0))
    entropies, counts = _box_statistics([bt, bp, bn], bw, lo, hi, scales)
    box_resolution, _ = _resolution(scales, np.abs(entropies[2] - entropies[0])
                                    <= ENTROPY_TOLERANCE_BITS)

    def at_or_above(bound):
        return scales >= bound if bound is not None else np.zeros(scales.shape[0], dtype=bool)

    fit_scales = at_or_above(k.paired.resolution) & (scales <= FIT_MAX_FRACTION * c.extent)
    with np.errstate(divide="ignore"):
        log_c = [np.log(x) for x in k.correlation[:2]]
    (dim_t, dim_p), dim_note = _fits(scales, fit_scales & k.enough_pairs, np.log(scales), log_c,
                                     "correlation")
    box_mask = fit_scales & at_or_above(box_resolution) \
        & _box_fit_mask(scales / c.extent, counts[0], c.num_points, 1.0) \
        & _box_fit_mask(scales / c.extent, counts[1], c.num_points, 1.0)
    (info_t, info_p), info_note = _fits(scales, box_mask, np.log2(1.0 / scales), entropies[:2],
                                        "information")
    if not k.paired.resolved:
        dim_note = info_note = ("not fitted: the predicted cloud keeps the distances of its points "
                                "at no scale below the extent")
    return _Dimensions(entropies, counts, box_resolution, dim_t, dim_p, dim_note, info_t, info_p,
                       info_note)
