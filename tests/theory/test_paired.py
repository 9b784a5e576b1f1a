"""The paired resolution: adversarial cases that a comparison of measures cannot tell apart.

The probe's cloud (Mess3, all 3^10 words, positions 8-10: 177,147 points, a seeded subsample of
20,000) is the case of the review that broke the measure comparison: a permutation of the true
beliefs within position and a decoder that copies the belief of another word sharing the last k
tokens both matched the theory's measure at every scale. Each case below must come out against
the prediction where it should.
"""

import math

import numpy as np
import pytest

import compmech
from compmech.geometry import tangent_basis
from compmech.paired import (
    PAIR_TOLERANCE,
    PRESERVED_FRACTION,
    paired_from_steps,
    paired_resolution,
    true_pairs,
)

N = 20_000


@pytest.fixture(scope="module")
def probe_cloud():
    """``(words (N, 10), positions (N,), beliefs (N, 3))``: Mess3 probe points at positions 8-10."""
    hmm = compmech.get_process("mess3")
    words = compmech.all_words(3, 10)
    beliefs = compmech.filter_beliefs(hmm, words).beliefs
    rng = np.random.default_rng(0)
    seq = rng.integers(0, words.shape[0], N)
    pos = rng.integers(7, 10, N)
    return words[seq], pos, beliefs[seq, pos]


def permuted_within_position(t, pos, seed=1):
    rng = np.random.default_rng(seed)
    out = t.copy()
    for p in np.unique(pos):
        m = np.flatnonzero(pos == p)
        out[m] = t[m[rng.permutation(m.size)]]
    return out


def copy_decoder(words, pos, t, k, seed=2):
    """The belief of a random other point with the same position and the same last ``k`` tokens."""
    rng = np.random.default_rng(seed)
    last = np.stack([words[np.arange(N), pos - j] for j in range(k)], axis=1)
    code = (last * 3 ** np.arange(k)).sum(1) * 10 + pos
    order = np.argsort(code, kind="stable")
    out = np.empty_like(t)
    bounds = np.flatnonzero(np.diff(code[order])) + 1
    for group in np.split(order, bounds):  # test oracle, not a hot path
        out[group] = t[group[rng.permutation(group.size)]]
    return out


def test_a_permutation_within_position_is_not_resolved_below_half_the_extent(probe_cloud):
    _, pos, t = probe_cloud
    p = permuted_within_position(t, pos)
    res = compmech.compare_geometry(t, p)
    median_error = np.median(np.linalg.norm((p - t) @ tangent_basis(3), axis=1))
    assert median_error > 0.4 * res.extent  # the review's 0.69 of 1.39
    assert res.resolution >= 0.5 * res.extent and res.resolution > median_error
    assert res.distribution_resolution < 0.01 * res.extent  # the measure comparison is fooled


@pytest.mark.parametrize("k", [2, 4])
def test_a_copy_of_another_word_sharing_the_last_k_tokens_is_not_resolved_finer_than_half_its_null(
        probe_cloud, k):
    words, pos, t = probe_cloud
    p = copy_decoder(words, pos, t, k)
    res = compmech.compare_geometry(t, p)
    assert res.resolution >= 0.5 * res.null_resolution, (res.resolution, res.null_resolution)
    assert res.resolution > 1.5 * res.noise_rms


def test_gaussian_noise_gives_a_resolution_growing_with_sigma_within_the_documented_factor(probe_cloud):
    _, _, t = probe_cloud
    z = np.random.default_rng(3).normal(size=(N, 2))
    resolutions = []
    for sigma in (0.003, 0.01, 0.03):
        res = compmech.compare_geometry(t, t + (z * sigma) @ tangent_basis(3).T)
        assert 2.0 <= res.resolution / sigma <= 5.0, (sigma, res.resolution)  # documented 2.9-3.6
        assert res.null_resolution / res.resolution in (0.5**0.5, 1.0, 2**0.5)
        resolutions.append(res.resolution)
    assert resolutions[0] < resolutions[1] < resolutions[2]


def test_a_smooth_warp_keeps_fine_scales_that_noise_of_the_same_error_blurs(probe_cloud):
    # The block-1 vs block-4 case: a smooth distortion of the cloud (larger MSE) resolves finer
    # scales than isotropic noise (smaller MSE).
    _, _, t = probe_cloud
    X = t @ tangent_basis(3)
    warp = 0.04 * np.column_stack([np.sin(3 * X[:, 1]), np.cos(2 * X[:, 0])])  # |J| <= 0.12
    noise = np.random.default_rng(4).normal(size=(N, 2)) * 0.01
    warped = compmech.compare_geometry(t, t + warp @ tangent_basis(3).T)
    noisy = compmech.compare_geometry(t, t + noise @ tangent_basis(3).T)
    assert warped.noise_rms > noisy.noise_rms
    assert warped.resolution < noisy.resolution / 4
    assert warped.resolution < warped.null_resolution / 4  # structured, neighbour-keeping error


def test_a_shrunk_cloud_keeps_its_structure_and_a_collapsed_one_has_none(probe_cloud):
    _, _, t = probe_cloud
    centre = t.mean(axis=0)
    shrunk = compmech.compare_geometry(t, centre + 0.6 * (t - centre))
    assert shrunk.resolution_at_floor and shrunk.scale_factor == pytest.approx(0.6, rel=1e-9)
    collapsed = compmech.compare_geometry(t, np.broadcast_to(centre, t.shape))
    assert collapsed.resolution == collapsed.extent and not collapsed.resolved


def test_paired_fractions_match_a_brute_force_count():
    rng = np.random.default_rng(5)
    t = rng.random((300, 2))
    p = t + rng.normal(size=t.shape) * 0.02
    i, j = np.triu_indices(300, 1)
    dt = np.linalg.norm(t[i] - t[j], axis=1)
    dp = np.linalg.norm(p[i] - p[j], axis=1)
    scales = dt.max() * 2.0 ** (-np.arange(12) / 2)
    res = paired_resolution(dt**2, dp**2, scales, dt.max())
    c = np.median(dp / dt)
    kept = np.abs(np.log(dp / dt / c)) <= math.log(1.25)
    for k, eps in enumerate(scales):
        band = (dt >= eps) & (dt < 2 * eps)
        if band.sum() >= 20:
            assert res.fraction[k] == pytest.approx(kept[band].mean(), abs=1e-12)
            assert res.band_pairs[k] == band.sum()
        else:
            assert np.isnan(res.fraction[k])
    good = [k for k in range(12) if not np.isnan(res.fraction[k])]
    first_bad = next((k for k in good if res.fraction[k] < PRESERVED_FRACTION), None)
    expected = scales[[k for k in good if first_bad is None or k < first_bad][-1]]
    assert res.resolution == expected


def test_bad_pair_input_raises():
    with pytest.raises(ValueError, match="tolerance"):
        paired_resolution(np.ones(3), np.ones(3), np.array([1.0]), 1.0, tolerance=1.0)
    with pytest.raises(ValueError, match="sqrt"):
        paired_resolution(np.ones(3), np.ones(3), np.array([1.0, 0.9]), 1.0)


@pytest.mark.parametrize("n", [301, 300])  # an odd and an even number of pairs' middle
def test_weighted_paired_fractions_and_scale_factor_match_a_brute_force_count(n):
    rng = np.random.default_rng(n)
    t = rng.random((n, 2))
    t[1] = t[0]  # a coincident true pair: no distance to keep, left out
    p = 0.7 * t + rng.normal(size=t.shape) * 0.01
    i, j = np.triu_indices(n, 1)
    w = rng.integers(1, 4, size=i.size).astype(float)
    dt2 = ((t[i] - t[j]) ** 2).sum(1)
    dp2 = ((p[i] - p[j]) ** 2).sum(1)
    scales = np.sqrt(dt2.max()) * 2.0 ** (-np.arange(10) / 2)
    for weights in (None, w):
        res = paired_resolution(dt2, dp2, scales, np.sqrt(dt2.max()), pair_weights=weights)
        keep = dt2 > 0
        log_ratio = 0.5 * np.log(dp2[keep] / dt2[keep])
        ww = np.ones(keep.sum()) if weights is None else weights[keep]
        if weights is None:
            c = np.median(log_ratio)
        else:
            order = np.argsort(log_ratio)
            cdf = np.cumsum(ww[order])
            c = log_ratio[order[np.searchsorted(cdf, 0.5 * cdf[-1])]]
        assert res.scale_factor == pytest.approx(math.exp(c), rel=1e-12)
        kept = np.abs(log_ratio - c) <= math.log(PAIR_TOLERANCE)
        dt = np.sqrt(dt2[keep])
        for k, eps in enumerate(scales):
            band = (dt >= eps) & (dt < 2 * eps)
            if band.sum() >= 20:
                assert res.fraction[k] == pytest.approx((ww * kept)[band].sum() / ww[band].sum(),
                                                        abs=1e-12)


def test_true_pairs_match_a_brute_force_placement_and_feed_every_prefix_of_the_grid():
    """The true side stepped once (with coincident points and pair weights) gives each pair the
    grid step of its true distance, and a prefix of its grid gives the same result as
    :func:`paired_resolution` on that prefix alone."""
    rng = np.random.default_rng(7)
    t = rng.random((120, 2))
    t[:10] = t[0]  # 45 pairs at distance 0: not kept
    p = t + rng.normal(size=t.shape) * 0.01
    i, j = np.triu_indices(120, 1)
    d2t, d2p = ((t[i] - t[j]) ** 2).sum(1), ((p[i] - p[j]) ** 2).sum(1)
    weights = rng.random(d2t.shape[0])
    grid = np.sqrt(d2t.max()) * 2.0 ** (-np.arange(14) / 2)
    pairs = true_pairs(d2t, grid, weights)
    kept = d2t > 0
    assert kept.sum() == d2t.shape[0] - 45 and pairs.step.shape == (kept.sum(),)
    d = np.sqrt(d2t[kept])
    # step k: grid[k] <= d < grid[k - 1]; len(grid): below the finest scale
    expected = np.array([sum(d_ < g for g in grid) for d_ in d])
    np.testing.assert_array_equal(pairs.step, expected)
    np.testing.assert_array_equal(pairs.count, np.bincount(expected, minlength=15))
    np.testing.assert_allclose(pairs.weight, np.bincount(expected, weights[kept], minlength=15),
                               rtol=1e-12)
    for K in (14, 9):
        direct = paired_resolution(d2t, d2p, grid[:K], grid[0], pair_weights=weights)
        reused = paired_from_steps(pairs, d2p, grid[:K], grid[0])
        np.testing.assert_array_equal(reused.fraction, direct.fraction)
        np.testing.assert_array_equal(reused.band_pairs, direct.band_pairs)
        assert (reused.scale_factor, reused.resolution, reused.resolved, reused.at_floor) == (
            direct.scale_factor, direct.resolution, direct.resolved, direct.at_floor)
    # no coincident points: every pair kept without a copy
    assert true_pairs(d2t[kept], grid).keep == slice(None)


def _sorted_weighted_median(x, w):
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(w[order])
    return x[order[np.searchsorted(cdf, 0.5 * cdf[-1])]]


@pytest.mark.parametrize("case", ["random", "heavy_off_stride", "ties", "small"])
def test_the_bracketed_weighted_median_equals_the_full_sort(case):
    """The selection reads its brackets off a strided subsample: a weight the subsample never sees
    (planted off the stride) must send it to the full sort, not to a wrong answer."""
    from compmech.paired import _weighted_median

    rng = np.random.default_rng(3)
    n = 50 if case == "small" else 300_001
    x = rng.lognormal(size=n)
    w = rng.integers(1, 5, size=n).astype(float)
    if case == "heavy_off_stride":
        stride = n // 20_000
        w[7] = 10 * w.sum()  # index 7 is not a multiple of the stride: the sample misses it
        assert 7 % stride
    if case == "ties":
        x = np.round(x, 1)
    assert _weighted_median(x, w) == _sorted_weighted_median(x, w)


@pytest.mark.parametrize("n", [300_001, 300_000, 41])
@pytest.mark.parametrize("case", ["random", "ties", "skewed_off_stride"])
def test_the_bracketed_middle_values_equal_a_full_partition(n, case):
    """The unweighted median's two middle values by partitioning between brackets: equal to the
    full partition, also when the subsample misleads the brackets (a block of tiny values placed
    off the stride)."""
    from compmech.paired import _middle_values

    rng = np.random.default_rng(n)
    x = rng.lognormal(size=n)
    if case == "ties":
        x = np.round(x, 1)
    if case == "skewed_off_stride" and n > 1000:
        stride = n // 20_000
        off = np.arange(n)[np.arange(n) % stride != 0][: n // 3]
        x[off] = 1e-9  # a third of the values, all unseen by the subsample
    k1, k2 = (n - 1) // 2, n // 2
    full = np.sort(x)
    assert _middle_values(x) == (full[k1], full[k2])
