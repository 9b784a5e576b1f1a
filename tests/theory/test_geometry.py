"""Projections, dimension estimators on sets of known dimension, Lyapunov spectrum and KY dimension."""

import numpy as np
import pytest

import compmech
from compmech.dimensions import correlation_dimension, fractal_dimensions
from compmech.geometry import (
    kaplan_yorke_dimension,
    lyapunov_spectrum,
    pca,
    pca_projection,
    simplex_projection,
    tangent_basis,
)

N_POINTS = 100_000


def _line(rng):
    return rng.random(N_POINTS)[:, None] * np.array([[1.0, 0.5, -0.3]]) + 2.0


def _triangle(rng):
    u = rng.random((N_POINTS, 2))
    u = np.where((u.sum(1) > 1)[:, None], 1 - u, u)  # uniform on the unit right triangle
    return u @ np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def _cantor(rng, digits=24):
    # Middle-thirds Cantor measure: random base-3 expansions with digits in {0, 2}.
    d = rng.integers(0, 2, (N_POINTS, digits)) * 2
    return (d * 3.0 ** -np.arange(1, digits + 1)).sum(1)[:, None]


# ---------------------------------------------------------------------------------- projections
def test_simplex_projection_vertices_and_barycentre():
    b = np.vstack([np.eye(3), np.full((1, 3), 1 / 3)])
    xy = simplex_projection(b)
    expected = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0.5, np.sqrt(3) / 6]])
    np.testing.assert_allclose(xy, expected, atol=1e-15)
    # equilateral: all vertex distances are 1
    d = np.linalg.norm(xy[:3, None] - xy[None, :3], axis=-1)
    np.testing.assert_allclose(d[~np.eye(3, dtype=bool)], 1.0, atol=1e-15)
    with pytest.raises(ValueError, match="3 states"):
        simplex_projection(np.ones((2, 4)) / 4)


def test_belief_colors_are_rgb_in_unit_cube():
    beliefs = compmech.blackwell_beliefs(compmech.get_process("mess3"), 1000, seed=0)
    np.testing.assert_allclose(compmech.belief_colors(beliefs), beliefs, atol=0)
    five = np.random.default_rng(0).dirichlet(np.ones(5), size=200)
    rgb = compmech.belief_colors(five)
    assert rgb.shape == (200, 3) and rgb.min() >= 0 and rgb.max() <= 1


def test_pca_matches_svd_and_orders_variance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4)) * np.array([3.0, 0.1, 1.0, 0.5])
    fit = pca(X, 2)
    Xc = X - X.mean(0)
    _, sv, vt = np.linalg.svd(Xc, full_matrices=False)
    np.testing.assert_allclose(np.abs(fit.components), np.abs(vt[:2]), atol=1e-10)
    np.testing.assert_allclose(fit.explained_variance, sv[:2] ** 2 / 500, rtol=1e-10)
    assert fit.explained_variance_ratio.sum() == pytest.approx((sv[:2] ** 2).sum() / (sv**2).sum())
    proj = pca_projection(X, 2)
    np.testing.assert_allclose(np.abs(proj), np.abs(Xc @ vt[:2].T), atol=1e-10)
    with pytest.raises(ValueError, match="k must be"):
        pca(X, 5)


# ------------------------------------------------------------------------------- dimensions
@pytest.mark.parametrize(
    ("make", "expected", "tol"),
    [(_line, 1.0, 0.1), (_triangle, 2.0, 0.1), (_cantor, np.log(2) / np.log(3), 0.05)],
    ids=["line", "triangle", "cantor"],
)
def test_dimension_estimators_recover_known_dimensions(make, expected, tol):
    points = make(np.random.default_rng(0))
    dims = fractal_dimensions(points, seed=0)
    for est in dims:
        assert est.dimension == pytest.approx(expected, abs=tol), est.method
        lo, hi = est.fit_range
        assert 0 < lo < hi <= 0.25
        assert est.fitted.sum() >= 3
    as_dict = dims.as_dict()
    assert set(as_dict) == {"box_counting", "information", "correlation"}


def test_dimension_is_intrinsic_projected_or_barycentric():
    beliefs = compmech.blackwell_beliefs(compmech.get_process("mess3"), 50_000, seed=0)
    a = fractal_dimensions(beliefs)
    b = fractal_dimensions(simplex_projection(beliefs))
    for ea, eb in zip(a, b, strict=True):
        assert ea.dimension == pytest.approx(eb.dimension, abs=0.1), ea.method


def test_weights_select_the_measure():
    # A segment with all the weight plus a triangle with none: weighted estimates see a line,
    # unweighted ones mostly the triangle.
    rng = np.random.default_rng(3)
    tri = _triangle(rng)[:50_000]
    seg = np.column_stack([rng.random(50_000), np.full(50_000, 0.3)])
    points = np.vstack([tri, seg])
    weights = np.concatenate([np.zeros(50_000), np.ones(50_000)])
    weighted = fractal_dimensions(points, weights=weights)
    assert weighted.information.dimension == pytest.approx(1.0, abs=0.1)
    assert weighted.correlation.dimension == pytest.approx(1.0, abs=0.1)
    assert weighted.box_counting.dimension == pytest.approx(1.0, abs=0.1)  # support of the weights
    assert fractal_dimensions(points).box_counting.dimension > 1.7  # the union's capacity


def test_mess3_blackwell_correlation_fit_stays_above_round_off():
    beliefs = compmech.blackwell_beliefs(compmech.get_process("mess3"), 50_000, seed=1)
    est = correlation_dimension(beliefs)
    assert est.fit_range[0] >= 1e-10
    assert 0 < est.dimension < 1


def test_degenerate_clouds_raise():
    with pytest.raises(ValueError, match="coincide"):
        fractal_dimensions(np.ones((100, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fractal_dimensions(np.array([[0.0, np.nan], [1.0, 2.0]]))


# ------------------------------------------------------------------------------- Lyapunov
def _numerical_spectrum(hmm, sample, h=1e-6):
    """Independent oracle: finite-difference Jacobians in tangent coordinates, numpy QR."""
    T = hmm.transition_matrices
    S = hmm.num_states
    U = tangent_basis(S)
    C, K, _ = sample.beliefs.shape
    logs = np.zeros((C, S - 1))
    for c in range(C):
        Q = np.eye(S - 1)
        prev = sample.previous_beliefs[c]
        for k in range(K):
            x = sample.tokens[c, k]

            def f(eta, x=x):
                v = eta @ T[x]
                return v / v.sum()

            A = np.empty((S - 1, S - 1))  # row action: a' = a A
            for i in range(S - 1):
                A[i] = (f(prev + h * U[:, i]) - f(prev - h * U[:, i])) @ U / (2 * h)
            Q, R = np.linalg.qr(A.T @ Q)
            logs[c] += np.log(np.abs(np.diag(R)))
            prev = sample.beliefs[c, k]
    return np.sort(logs / K, axis=1)[:, ::-1].mean(0)


@pytest.mark.parametrize(
    "params",
    [{"name": "mess3"}, {"name": "random_hmm", "num_states": 2, "vocab_size": 2, "seed": 1},
     {"name": "random_hmm", "num_states": 4, "vocab_size": 3, "seed": 2}],
    ids=["mess3", "random2", "random4"],
)
def test_lyapunov_spectrum_matches_finite_difference_qr(params):
    hmm = compmech.get_process(**params)
    sample = compmech.blackwell_sample(hmm, 600, seed=0, num_chains=3, burn_in=50)
    spec = lyapunov_spectrum(hmm, sample=sample)
    assert spec.exponents.shape == (hmm.num_states - 1,)
    assert spec.num_steps == 200 and spec.num_chains == 3
    np.testing.assert_allclose(spec.exponents, _numerical_spectrum(hmm, sample), atol=1e-6)


def test_lyapunov_sum_is_mean_log_volume_contraction():
    # lambda_1 + lambda_2 = mean log |det A_t| (the QR product preserves determinants).
    hmm = compmech.get_process("mess3")
    sample = compmech.blackwell_sample(hmm, 5_000, seed=2, num_chains=10)
    spec = lyapunov_spectrum(hmm, sample=sample)
    T, U = hmm.transition_matrices, tangent_basis(3)
    prev = np.concatenate([sample.previous_beliefs[:, None], sample.beliefs[:, :-1]], axis=1)
    Tx = T[sample.tokens]
    c = Tx.sum(-1)
    z = (prev * c).sum(-1)
    J = (Tx - c[..., :, None] * sample.beliefs[..., None, :]) / z[..., None, None]
    A = np.einsum("si,cbsj,jl->cbil", U, J, U)
    expected = np.log(np.abs(np.linalg.det(A))).mean()
    assert spec.exponents.sum() == pytest.approx(expected, abs=1e-10)
    assert np.all(spec.exponents < 0) and spec.exponents[0] >= spec.exponents[1]


def _exactly_invertible(M):
    """Whether the float matrix M is invertible, by exact rational elimination of its entries."""
    from fractions import Fraction

    A = [[Fraction(float(v)) for v in row] for row in M]
    n = len(A)
    for col in range(n):
        pivot = next((r for r in range(col, n) if A[r][col] != 0), None)
        if pivot is None:
            return False
        A[col], A[pivot] = A[pivot], A[col]
        for r in range(col + 1, n):
            f = A[r][col] / A[col][col]
            A[r] = [a - f * b for a, b in zip(A[r], A[col], strict=True)]
    return True


def _has_synchronising_word(T, max_length):
    """Oracle: some word w with |w| <= max_length has T[w] = T[w_1] .. T[w_L] of rank one (the
    map eta -> eta T[w] / (eta T[w] r) is constant), by explicit products over all words. When
    every T[x] is exactly invertible no product is singular, so there is none at any length."""
    import itertools

    if all(_exactly_invertible(Tx) for Tx in T):
        return False
    for L in range(1, max_length + 1):
        for word in itertools.product(range(T.shape[0]), repeat=L):
            P = np.linalg.multi_dot([np.eye(T.shape[1])] + [T[x] for x in word])
            if np.any(P) and np.linalg.matrix_rank(P, tol=1e-12 * np.abs(P).max()) == 1:
                return True
    return False


@pytest.mark.parametrize("name", ["z1r", "rrxor", "even", "golden_mean", "mess3", "tom_quantum",
                                  "post_quantum", "fanizza", "random_hmm"])
def test_synchronisation_is_reported_exactly_when_a_word_collapses_the_beliefs(name):
    # Issue 20: Z1R and RRXOR synchronise, yet round-off gave them finite exponents (-16.5, -4.1).
    hmm = compmech.get_process(name)
    spec = lyapunov_spectrum(hmm, num_steps=400, num_chains=20, seed=3)
    syncs = _has_synchronising_word(hmm.transition_matrices, 5)
    assert spec.synchronises == syncs
    if syncs:
        assert np.all(spec.exponents == -np.inf) and spec.num_synchronised_chains > 0
        assert kaplan_yorke_dimension(spec.exponents, 0.5) == 0.0
    else:
        assert np.all(np.isfinite(spec.exponents)) and spec.num_synchronised_chains == 0


def test_z1r_and_rrxor_synchronise_and_mess3_does_not():
    for name in ("z1r", "rrxor"):
        spec = lyapunov_spectrum(compmech.get_process(name), num_steps=500, num_chains=10)
        assert spec.synchronises and spec.exponents[0] == -np.inf
    spec = lyapunov_spectrum(compmech.get_process("mess3"), num_steps=2000, num_chains=100)
    assert not spec.synchronises and spec.num_synchronised_chains == 0
    assert spec.exponents[0] == pytest.approx(-1.52, abs=0.02)


def test_strong_but_finite_contraction_is_not_mistaken_for_synchronisation():
    # Near-deterministic emissions contract beliefs hard at every step, yet every T[x] is
    # invertible, so no word collapses them: the exponents stay finite.
    hmm = compmech.get_process("mess3", x=0.01, alpha=0.995)
    assert all(_exactly_invertible(Tx) for Tx in hmm.transition_matrices)
    spec = lyapunov_spectrum(hmm, num_steps=500, num_chains=20, seed=1)
    assert not spec.synchronises and np.all(np.isfinite(spec.exponents))
    assert spec.exponents[0] < -2.0


def test_collapse_tol_is_validated():
    with pytest.raises(ValueError, match="collapse_tol"):
        lyapunov_spectrum(compmech.get_process("mess3"), num_steps=10, num_chains=2,
                          collapse_tol=1.0)


def test_kaplan_yorke_dimension_by_hand():
    lam = [-1.0, -2.0]
    assert kaplan_yorke_dimension(lam, 0.5) == pytest.approx(0.5)  # k = 0: h / |l1|
    assert kaplan_yorke_dimension(lam, 1.5) == pytest.approx(1.25)  # k = 1: 1 + 0.5 / 2
    assert kaplan_yorke_dimension(lam, 4.0) == pytest.approx(2.0)  # capped at the simplex
    assert kaplan_yorke_dimension([-np.inf], 0.7) == 0.0  # synchronising: a point set
    with pytest.raises(ValueError, match="entropy_rate_nats"):
        kaplan_yorke_dimension(lam, -1.0)


def test_mess3_kaplan_yorke_agrees_with_information_dimension():
    # Kaplan-Yorke conjecture (Jurgens & Crutchfield 2021): D_KY = information dimension.
    hmm = compmech.get_process("mess3")
    sample = compmech.blackwell_sample(hmm, 100_000, seed=0, num_chains=100)
    spec = lyapunov_spectrum(hmm, sample=sample)
    rate = compmech.entropy_rate(hmm, sample=sample)
    d_ky = kaplan_yorke_dimension(spec.exponents, rate.nats)
    d_info = fractal_dimensions(sample.points).information.dimension
    assert 0 < d_ky < 1
    assert d_ky == pytest.approx(d_info, abs=0.1)
