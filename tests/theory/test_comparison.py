"""compare_geometry: the resolution of a predicted belief cloud, its null model, and dimensions above it.

Oracles: brute-force pair sums over all points (kernel distance, correlation sums), clouds of known
dimension (Cantor set, segment), exact invariances (rotations of belief space with the plane's
normal, uniform weights), and noise of known size.
"""

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

import compmech
from compmech.comparison import ComparisonConfig, _resolution, compare_geometry
from compmech.geometry import tangent_basis
from compmech.plane import plane_basis, plane_coordinates

N = 30_000
FAST = 1500  # pair subsample for tests that do not calibrate the resolution
CANTOR_DIMENSION = math.log(2) / math.log(3)


@pytest.fixture(scope="module")
def mess3():
    return compmech.blackwell_beliefs(compmech.get_process("mess3"), N, seed=0)


def in_plane_noise(n, sigma, num_states=3, seed=1):
    """``(n, S)`` isotropic Gaussian noise in the simplex plane, ``sigma`` per in-plane axis."""
    z = np.random.default_rng(seed).normal(size=(n, num_states - 1)) * sigma
    return z @ tangent_basis(num_states).T


def cantor_beliefs(n, seed=0, digits=30):
    """Two-state beliefs ``(1 - c, c)`` with ``c`` on the middle-thirds Cantor measure."""
    d = np.random.default_rng(seed).integers(0, 2, (n, digits)) * 2
    c = (d * 3.0 ** -np.arange(1, digits + 1)).sum(1)
    return np.column_stack([1 - c, c])


# ----------------------------------------------------------------------------- plane coordinates
@pytest.mark.parametrize("normal", [None, [1.0, 2.0, -0.5, 3.0, 1.0], [0.0, 0.0, 0.0, 0.0, 2.0]])
def test_plane_basis_is_orthonormal_and_orthogonal_to_the_normal(normal):
    U = plane_basis(5, normal)
    r = np.ones(5) if normal is None else np.asarray(normal)
    assert U.shape == (5, 4)
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-13)
    np.testing.assert_allclose(r @ U, 0.0, atol=1e-13)


def test_plane_coordinates_keep_in_plane_distances_and_measure_the_offset():
    rng = np.random.default_rng(0)
    b = rng.dirichlet(np.ones(4), size=50)
    lifted = b + 0.01 * np.arange(50)[:, None] / 2.0  # off the simplex by 0.01 k / 2 along (1,1,1,1)
    coords, off = plane_coordinates(lifted)
    np.testing.assert_allclose(off, 0.01 * np.arange(50) * 4 / 2.0 / 2.0, atol=1e-13)  # / |r| = 2
    np.testing.assert_allclose(pdist(coords), pdist(b), atol=1e-13)


# ------------------------------------------------------------------------ oracle: pair statistics
def test_distances_and_correlation_sums_match_brute_force_pair_sums(mess3):
    t = mess3[:500]
    p = t + in_plane_noise(500, 0.02)
    res = compare_geometry(t, p, ComparisonConfig(max_pair_points=500))  # the subsample is every point
    assert res.num_pair_points == 500
    U = tangent_basis(3)
    Xt, Xp = t @ U, p @ U
    d_tt, d_pp = pdist(Xt, "sqeuclidean"), pdist(Xp, "sqeuclidean")
    d_tp = cdist(Xt, Xp, "sqeuclidean")[~np.eye(500, dtype=bool)]  # pairs i != j
    for k, eps in enumerate(res.scales):
        s_tt, s_pp, s_tp = (np.exp(-d / (2 * eps**2)).mean() for d in (d_tt, d_pp, d_tp))
        rho2 = max(0.0, (s_tt + s_pp - 2 * s_tp) / (s_tt + s_pp))
        assert res.distance_predicted[k] ** 2 == pytest.approx(rho2, abs=1e-6)
        assert res.correlation_true[k] == pytest.approx((d_tt < eps**2).mean(), abs=1e-12)
        assert res.correlation_predicted[k] == pytest.approx((d_pp < eps**2).mean(), abs=1e-12)
    assert res.noise_rms == pytest.approx(math.sqrt(((Xp - Xt) ** 2).sum(1).mean()), rel=1e-12)


def test_resolution_is_the_smallest_scale_with_agreement_at_all_larger_scales():
    scales = np.array([1.0, 0.5, 0.25, 0.125, 0.0625])
    assert _resolution(scales, np.array([True, True, False, True, True])) == (0.5, False)
    assert _resolution(scales, np.array([False, True, True, True, True])) == (None, False)
    assert _resolution(scales, np.ones(5, dtype=bool)) == (0.0625, True)


# ------------------------------------------------------------------------ synthetic resolutions
def test_identical_clouds_are_resolved_down_to_the_bottom_of_the_grid(mess3):
    res = compare_geometry(mess3, mess3, ComparisonConfig(max_pair_points=FAST))
    assert res.resolution == res.scales[-1] and res.resolution_at_floor and res.resolved
    assert res.distribution_resolution == res.scales[-1] and res.scale_factor == 1.0
    assert res.noise_rms == 0 and res.off_plane_rms < 1e-12
    assert res.distance_predicted.max() < 1e-6  # round-off of the pair sums
    np.testing.assert_array_equal(res.entropy_predicted_bits, res.entropy_true_bits)
    assert res.scales[0] == pytest.approx(res.extent) and res.scales[-1] < 1e-4 * res.extent


@pytest.fixture(scope="module")
def noisy_mess3(mess3):
    return {s: compare_geometry(mess3, mess3 + in_plane_noise(N, s)) for s in (0.003, 0.01, 0.03)}


def test_resolution_grows_with_the_noise_and_stays_within_1_to_3_noise_rms(noisy_mess3):
    resolutions = [noisy_mess3[s].resolution for s in (0.003, 0.01, 0.03)]
    assert resolutions[0] < resolutions[1] < resolutions[2]
    for sigma, res in noisy_mess3.items():
        assert res.noise_rms == pytest.approx(sigma * math.sqrt(2), rel=0.02)  # 2 in-plane axes
        assert 1.0 <= res.resolution / res.noise_rms <= 3.0, (sigma, res.resolution)
        # the grid ends a factor ~2 below the scale where the error saturates every statistic
        assert not res.resolution_at_floor and res.noise_rms / 32 < res.scales[-1] < res.noise_rms / 4
        # unstructured noise: the null model (permuted residuals) is resolved alike
        assert res.null_resolution / res.resolution in (0.5**0.5, 1.0, 2**0.5)
        # the distance falls towards 0 above the noise scale (second order: ~ (sigma / eps)^2)
        coarse = res.scales > 10 * sigma
        assert (res.distance_predicted[coarse] < 0.02).all()


def test_a_different_mess3_disagrees_at_every_scale_below_the_extent(mess3):
    other = compmech.blackwell_beliefs(compmech.get_process("mess3", x=0.15, alpha=0.6), N, seed=1)
    res = compare_geometry(mess3, other, ComparisonConfig(max_pair_points=FAST))
    assert res.resolution == res.extent and not res.resolved
    assert not res.agrees[1:].any()
    assert res.dimension_true is None and res.dimension_predicted is None


def test_independent_samples_of_one_measure_agree_as_measures_but_are_not_resolved():
    # Unpaired samples differ by sampling noise only as measures (the split-half reference absorbs
    # it), but their points are unrelated: the paired resolution is the extent.
    t = cantor_beliefs(20_000)
    results = [compare_geometry(t, cantor_beliefs(20_000, seed=s)) for s in (1, 2, 3)]
    assert np.median([r.distribution_resolution / r.scales[-1] for r in results]) <= 4.0
    assert all(r.resolution == r.extent and not r.resolved for r in results)


def test_a_permuted_cloud_fools_the_measure_comparison_but_not_the_paired_resolution(mess3):
    # Every predicted point is another true point: per-point errors as large as the cloud, yet the
    # predicted measure is the true one. The measure comparison (a diagnostic) is fooled; the
    # paired resolution is not: no scale below the extent keeps its pairs' distances.
    predicted = mess3[np.random.default_rng(2).permutation(N)]
    res = compare_geometry(mess3, predicted, ComparisonConfig(max_pair_points=FAST))
    assert res.noise_rms > 0.3 * res.extent
    assert res.distribution_resolution < 0.01 * res.extent  # fooled, as the review found
    assert res.resolution == res.extent and not res.resolved
    assert np.nanmax(res.paired_fraction_predicted[res.scales < 0.45 * res.extent]) < 0.3
    assert res.dimension_predicted is None and "no scale" in res.dimension_note


# ------------------------------------------------------------------------- dimensions above it
def test_noisy_cantor_set_has_the_cantor_dimension_above_the_resolution():
    t = cantor_beliefs(50_000)
    sigma = 1e-4  # the fitted scales' gaps are all wider than 10 sigma
    noise = np.random.default_rng(3).normal(size=50_000) * sigma
    res = compare_geometry(t, t + noise[:, None] * np.array([-1, 1]) / math.sqrt(2))
    # on a line all the error lies along the pairs' direction: 2-4 noise RMS (2-D: 2.0-2.6)
    assert 2.0 <= res.resolution / res.noise_rms <= 4.0
    for fit in (res.dimension_true, res.dimension_predicted, res.information_dimension_true,
                res.information_dimension_predicted):
        assert fit.dimension == pytest.approx(CANTOR_DIMENSION, abs=0.05), fit
        assert fit.fit_range[0] >= res.resolution and fit.fit_range[1] <= res.extent / 10
        assert math.log10(fit.fit_range[1] / fit.fit_range[0]) >= 0.9 and 0 < fit.stderr < 0.05
    assert res.information_dimension_predicted.fit_range[0] >= res.box_resolution


def test_noisy_segment_has_dimension_one_above_the_resolution():
    u = np.random.default_rng(4).random(50_000)[:, None]
    t = np.array([0.7, 0.2, 0.1]) + u * np.array([-0.6, 0.1, 0.5])
    res = compare_geometry(t, t + in_plane_noise(50_000, 3e-4, seed=5))
    for fit in (res.dimension_true, res.dimension_predicted, res.information_dimension_true,
                res.information_dimension_predicted):
        assert fit.dimension == pytest.approx(1.0, abs=0.05), fit
        assert fit.fit_range[0] >= res.resolution


def test_no_dimension_when_less_than_a_decade_lies_above_the_resolution(noisy_mess3):
    res = noisy_mess3[0.03]  # resolution ~ 0.09, largest fitted scale extent / 10 ~ 0.14
    assert res.dimension_predicted is None and "decades" in res.dimension_note
    assert res.information_dimension_predicted is None and res.information_dimension_note


# --------------------------------------------------------------------------------- weights, API
def test_uniform_weights_give_the_unweighted_result(mess3):
    t = mess3[:10_000]
    p = t + in_plane_noise(10_000, 0.01)
    plain = compare_geometry(t, p, ComparisonConfig(max_pair_points=FAST), seed=3).as_dict()
    weighted = compare_geometry(t, p, ComparisonConfig(max_pair_points=FAST),
                                weights=np.full(10_000, 0.37), seed=3).as_dict()
    assert plain.keys() == weighted.keys()
    for key, value in plain.items():
        if isinstance(value, list):
            np.testing.assert_allclose(weighted[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
        elif isinstance(value, float):
            assert weighted[key] == pytest.approx(value, rel=1e-9), key
        elif key.endswith("dimension_true") or key.endswith("dimension_predicted"):
            if value is not None:
                assert weighted[key]["dimension"] == pytest.approx(value["dimension"], rel=1e-9)
        else:
            assert weighted[key] == value, key


def test_weights_select_the_measure(mess3):
    # The weighted half is Mess3 with small noise; the weightless half is far off and very noisy.
    t = np.vstack([mess3[:10_000], compmech.blackwell_beliefs(
        compmech.get_process("mess3", x=0.15, alpha=0.6), 10_000, seed=1)])
    p = t + np.vstack([in_plane_noise(10_000, 0.01), in_plane_noise(10_000, 0.2, seed=2)])
    w = np.concatenate([np.ones(10_000), np.zeros(10_000)])
    weighted = compare_geometry(t, p, weights=w)
    alone = compare_geometry(t[:10_000], p[:10_000])
    assert weighted.num_points == 10_000
    assert weighted.noise_rms == pytest.approx(alone.noise_rms, rel=1e-12)
    assert weighted.extent == alone.extent  # the support of the weights
    K = min(weighted.scales.shape[0], alone.scales.shape[0])  # the grids' ends follow the subsamples
    np.testing.assert_array_equal(weighted.scales[:K], alone.scales[:K])
    for name in ("entropy_true_bits", "entropy_predicted_bits", "box_count_true", "box_count_predicted"):
        np.testing.assert_allclose(getattr(weighted, name)[:K], getattr(alone, name)[:K], rtol=1e-12,
                                   err_msg=name)
    assert 1.0 <= weighted.resolution / weighted.noise_rms <= 3.0
    assert compare_geometry(t, p).resolution > 3 * weighted.resolution


def test_integer_weights_are_multiplicities(mess3):
    t = mess3[:8000]
    p = t + in_plane_noise(8000, 0.01)
    k = np.random.default_rng(7).integers(1, 4, 8000)
    weighted = compare_geometry(t, p, ComparisonConfig(max_pair_points=FAST), weights=k)
    repeated = compare_geometry(np.repeat(t, k, axis=0), np.repeat(p, k, axis=0),
                                ComparisonConfig(max_pair_points=FAST))
    assert weighted.noise_rms == pytest.approx(repeated.noise_rms, rel=1e-12)
    K = min(weighted.scales.shape[0], repeated.scales.shape[0])
    for name in ("entropy_true_bits", "entropy_predicted_bits", "box_count_true", "box_count_predicted"):
        np.testing.assert_allclose(getattr(weighted, name)[:K], getattr(repeated, name)[:K], rtol=1e-12,
                                   err_msg=name)
    # pair statistics from different (weighted vs plain) subsamples of the same measure
    np.testing.assert_allclose(weighted.correlation_true[:K], repeated.correlation_true[:K], atol=0.02)
    assert weighted.resolution / repeated.resolution in (0.5**0.5, 1.0, 2**0.5)


def test_pair_tolerance_is_checked(mess3):
    with pytest.raises(ValueError, match="pair_tolerance"):
        compare_geometry(mess3[:100], mess3[:100], ComparisonConfig(pair_tolerance=0.9))


def test_as_dict_is_json_ready_and_reads_back(noisy_mess3):
    res = noisy_mess3[0.003]
    back = compmech.GeometryComparison.from_dict(json.loads(json.dumps(res.as_dict())))
    assert back.as_dict() == res.as_dict()
    np.testing.assert_array_equal(back.agrees, res.agrees)
    assert isinstance(back.dimension_predicted, compmech.DimensionFit)
    with pytest.raises(ValueError, match="GeometryComparison"):
        compmech.GeometryComparison.from_dict({"scales": []})


# --------------------------------------------------------------- more states, generalized planes
def test_five_states_noise_is_measured_in_the_plane():
    t = compmech.blackwell_beliefs(compmech.processes.random_hmm(num_states=5, seed=1), 20_000, seed=0)
    results = [compare_geometry(t, t + in_plane_noise(20_000, s, num_states=5)) for s in (0.002, 0.01)]
    for sigma, res in zip((0.002, 0.01), results, strict=True):
        assert res.noise_rms == pytest.approx(2 * sigma, rel=0.02)  # 4 in-plane axes
        assert res.off_plane_rms < 1e-12
        assert 1.0 <= res.resolution / res.noise_rms <= 3.0
    assert results[0].resolution < results[1].resolution


def test_a_rotated_plane_with_its_normal_gives_the_same_comparison(mess3):
    # Rotate belief space by an orthogonal Q: beliefs b Q lie on the plane x . (1 Q) = 1. Distances
    # within the plane are unchanged, so are the kernel distances, correlation sums and resolution;
    # an off-plane offset of the predictions along the normal is projected away and reported.
    t = mess3[:10_000]
    p = t + in_plane_noise(10_000, 0.01)
    Q, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(3, 3)))
    r = np.ones(3) @ Q
    lifted = p @ Q + 0.05 * r / np.linalg.norm(r)
    rotated = compare_geometry(t @ Q, lifted, ComparisonConfig(max_pair_points=FAST), normal=r)
    plain = compare_geometry(t, p, ComparisonConfig(max_pair_points=FAST))
    assert rotated.off_plane_rms == pytest.approx(0.05, rel=1e-9)
    assert rotated.noise_rms == pytest.approx(plain.noise_rms, rel=1e-9)
    assert rotated.resolution == pytest.approx(plain.resolution, rel=1e-12)
    # rho ~ 1e-4 at the coarsest scales is a difference of O(1) pair sums, equal to ~1e-8 only; the
    # top scale is the diameter itself, where Mess3's bit-identical atoms put many pairs exactly
    for name in ("distance_predicted", "distance_null", "correlation_true", "correlation_predicted"):
        np.testing.assert_allclose(getattr(rotated, name)[1:], getattr(plain, name)[1:], atol=1e-6,
                                   err_msg=name)
    np.testing.assert_allclose(rotated.normal, r)
    with pytest.raises(ValueError, match="plane"):
        compare_geometry(t @ Q, lifted)  # without the normal the beliefs are off the simplex


def test_bad_input_raises_clear_errors(mess3):
    t = mess3[:100]
    with pytest.raises(ValueError, match="shape"):
        compare_geometry(t, t[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        compare_geometry(t, np.where(t > 0.5, np.nan, t))
    with pytest.raises(ValueError, match="weights"):
        compare_geometry(t, t, weights=-np.ones(100))
    with pytest.raises(ValueError, match="coincide"):
        compare_geometry(np.full((100, 3), 1 / 3), t)
    with pytest.raises(ValueError, match="normal"):
        compare_geometry(t, t, normal=[1.0, 1.0])
    with pytest.raises(ValueError, match="tolerance"):
        compare_geometry(t, t, ComparisonConfig(tolerance=1.5))


def test_the_cached_true_side_gives_bit_identical_comparisons():
    """Many predictions against one true cloud reuse its side (compmech.comparison_reference);
    every number must equal that of a comparison computed from scratch (a Generator seed bypasses
    the cache and draws the same numbers as the integer seed)."""
    from compmech import comparison_reference

    t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 3000, seed=7)
    rng = np.random.default_rng(8)
    basis = compmech.geometry.tangent_basis(3)
    comparison_reference._CACHE.clear()
    for sigma in (0.002, 0.02, 0.2):  # the first builds the side, the others reuse it
        p = t + (rng.normal(size=(3000, 2)) * sigma) @ basis.T
        config = compmech.ComparisonConfig(max_pair_points=800)
        cached = compmech.compare_geometry(t, p, config, seed=3)
        fresh = compmech.compare_geometry(t, p, config, seed=np.random.default_rng(3))
        a, b = cached.as_dict(), fresh.as_dict()
        for key in a:  # through JSON: NaN reads equal to NaN, any other difference fails
            assert json.dumps(a[key]) == json.dumps(b[key]), key
    assert len(comparison_reference._CACHE) == 1


def test_comparison_config_validates_round_trips_and_keeps_the_old_defaults():
    from compmech.comparison import DEFAULT_TOLERANCE
    from compmech.paired import PAIR_TOLERANCE

    assert ComparisonConfig() == ComparisonConfig(tolerance=DEFAULT_TOLERANCE, max_pair_points=3000,
                                                  min_scale=None, pair_tolerance=PAIR_TOLERANCE)
    custom = ComparisonConfig(tolerance=0.2, max_pair_points=500, min_scale=1e-4, pair_tolerance=1.5)
    assert ComparisonConfig.from_dict(custom.to_dict()) == custom
    for bad, name in ((dict(tolerance=0.0), "tolerance"), (dict(max_pair_points=19), "max_pair_points"),
                      (dict(max_pair_points=True), "max_pair_points"), (dict(min_scale=0.0), "min_scale"),
                      (dict(pair_tolerance=float("inf")), "pair_tolerance")):
        with pytest.raises(ValueError, match=name) as info:
            ComparisonConfig(**bad)
        assert "\n" not in str(info.value)
    # the config's options reach the comparison (no config: the defaults)
    t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 2_000, seed=0)
    p = t + in_plane_noise(2_000, 0.01, seed=1)
    looser = compare_geometry(t, p, ComparisonConfig(max_pair_points=400, pair_tolerance=2.0))
    assert (looser.pair_tolerance, looser.num_pair_points) == (2.0, 400)
    default = compare_geometry(t, p)
    assert (default.pair_tolerance, default.num_pair_points) == (PAIR_TOLERANCE, 2_000)
