"""Generalized HMMs: validation, word probabilities and beliefs against brute force, change-of-basis
invariance of every theory function, the quantum catalogue, long-word stability, JSON."""

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import compmech
from compmech import GHMM, HMM, get_process
from compmech.inference import filter_jax, sample_jax
from oracles import (
    all_word_probabilities,
    basis_changed,
    belief_after,
    random_basis,
    random_stochastic,
    stationary,
    word_probability,
)

QUANTUM = ["tom_quantum", "post_quantum", "fanizza"]
SQRT51 = float(np.sqrt(51.0))


# ------------------------------------------------------------------------- independent builds
def tom_T(alpha=1.0, beta=SQRT51):
    g2 = 1 / (4 * (alpha**2 + beta**2))
    c, m, o = 1 / 4, (alpha**2 - beta**2) * g2, 2 * alpha * beta * g2
    return np.array([[[c, 0, o], [0, m, 0], [o, 0, c]], [[c, 0, -o], [0, m, 0], [-o, 0, c]],
                     [[c, o, 0], [o, c, 0], [0, 0, m]], [[c, -o, 0], [-o, c, 0], [0, 0, m]]])


def post_quantum_T(alpha=np.e, beta=0.5):
    T = np.array([np.outer([1, 1, 0], [1, -1, -1]),
                  [[alpha, 0, 0], [0, 1, 0], [0, np.log(alpha), 1]],
                  [[beta, 0, 0], [0, 1, 0], [0, np.log(beta), 1]]], dtype=float)
    return T / max(abs(np.linalg.eigvals(T.sum(0))))


def fanizza_T(alpha=2000.0, lam=0.49):
    ca, sa = np.cos(alpha), np.sin(alpha)
    a = (1 - lam * ca + lam * sa) / (1 - 2 * lam * ca + lam**2)
    b = (1 - lam * ca - lam * sa) / (1 - 2 * lam * ca + lam**2)
    p0 = [1 - (2 / (1 - lam) - a - b) / 4, 1 / (2 * (1 - lam)), -a / 4, -b / 4]
    w = [1, 1 - lam, 1 + lam * (sa - ca), 1 - lam * (sa + ca)]
    T1 = lam * np.array([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, ca, -sa], [0, 0, sa, ca]])
    return np.array([np.outer(w, p0), T1])


def eigen_pair(T):
    """``(r, mu)`` for eigenvalue 1 of ``sum T``, from ``numpy.linalg.eig`` (``mu r = 1``)."""
    M = T.sum(0)
    w, R = np.linalg.eig(M)
    r = np.real(R[:, np.argmin(abs(w - 1))])
    wl, L = np.linalg.eig(M.T)
    mu = np.real(L[:, np.argmin(abs(wl - 1))])
    return r, mu / (mu @ r)


def random_ghmm(seed, num_states=3, vocab_size=3):
    """A classical HMM under a random change of basis: ``(ghmm, T, pi, A)`` with known answers."""
    rng = np.random.default_rng(seed)
    T = random_stochastic(num_states, vocab_size, rng)
    pi = stationary(T.sum(0))
    A = random_basis(num_states, rng)
    T2, mu2, r2 = basis_changed(T, pi, A)
    return GHMM(T2, initial_distribution=mu2, right_eigenvector=r2), T, pi, A


def changed(hmm, seed=0):
    """``hmm`` as a GHMM in a random basis (built here, not with compmech.change_basis)."""
    A = random_basis(hmm.num_states, np.random.default_rng(seed))
    T2, mu2, r2 = basis_changed(hmm.transition_matrices, hmm.initial_distribution, A)
    return GHMM(T2, initial_distribution=mu2, right_eigenvector=r2, name=f"{hmm.name}_A"), A


def quantum(name):
    return get_process(name), {"tom_quantum": tom_T, "post_quantum": post_quantum_T,
                               "fanizza": fanizza_T}[name]()


# ------------------------------------------------------------------------------------ catalogue
@pytest.mark.parametrize("name", QUANTUM)
def test_quantum_catalogue_matches_definition(name):
    g, T = quantum(name)
    assert g.kind == "ghmm" and (T < 0).any()
    np.testing.assert_allclose(g.transition_matrices, T, rtol=0, atol=1e-15)
    r, mu = eigen_pair(T)
    r_g, mu_g = g.right_eigenvector, g.initial_distribution
    np.testing.assert_allclose(T.sum(0) @ r_g, r_g, atol=1e-12)
    np.testing.assert_allclose(mu_g @ T.sum(0), mu_g, atol=1e-12)
    assert abs(mu_g @ r_g - 1) < 1e-12
    # same probabilities as the eig-based pair (the gauge may differ)
    np.testing.assert_allclose(np.outer(mu_g, r_g), np.outer(mu, r), atol=1e-10)


def test_known_right_eigenvectors():
    np.testing.assert_array_equal(get_process("tom_quantum").right_eigenvector, [1, 0, 0])
    np.testing.assert_array_equal(get_process("tom_quantum").initial_distribution, [1, 0, 0])
    np.testing.assert_array_equal(get_process("fanizza").right_eigenvector, np.ones(4))


@pytest.mark.parametrize("name,params,match", [
    ("post_quantum", {"alpha": 0.9}, "alpha > 1 > beta > 0"),
    ("post_quantum", {"beta": 1.2}, "alpha > 1 > beta > 0"),
    ("post_quantum", {"alpha": 1.5, "beta": 0.5}, "alpha \\+ beta != 2"),
    ("tom_quantum", {"alpha": 0.0, "beta": 0.0}, "not both be 0"),
    ("fanizza", {"lam": 1.0}, "parameter lam"),
    ("tom_quantum", {"beta": float("nan")}, "finite"),
])
def test_quantum_parameter_errors(name, params, match):
    with pytest.raises(ValueError, match=match) as info:
        get_process(name, **params)
    assert "\n" not in str(info.value)


def test_coin_is_a_classical_one_state_process():
    coin = get_process("coin", p=0.3)
    assert coin.kind == "hmm" and coin.num_states == 1 and coin.vocab_size == 2
    words, probs = compmech.enumerate_words(coin, 3)
    expected = [0.3 ** (3 - w.sum()) * 0.7 ** w.sum() for w in words]
    np.testing.assert_allclose(probs, expected, rtol=1e-14)


# ---------------------------------------------------------------------- words and beliefs
def _cases():
    yield from QUANTUM
    for seed in range(4):
        yield f"random{seed}"


def _case(case):
    if case.startswith("random"):
        g, *_ = random_ghmm(int(case[6:]), num_states=3 + int(case[6:]) % 2, vocab_size=3)
        return g
    return get_process(case)


@pytest.mark.parametrize("case", list(_cases()))
def test_word_probabilities_match_explicit_products(case):
    g = _case(case)
    T, eta0, r = g.transition_matrices, g.initial_distribution, g.right_eigenvector
    words, probs = compmech.enumerate_words(g, 3)
    brute = all_word_probabilities(T, eta0, r, 3)
    np.testing.assert_allclose(probs, [brute[tuple(w)] for w in words], rtol=0, atol=1e-13)
    assert abs(probs.sum() - 1) < 1e-12 and (probs > -1e-13).all()
    tree = compmech.mixed_state_tree(g, 3)  # every positive word of each length, its probability
    for length in (1, 2, 3):
        brute = all_word_probabilities(T, eta0, r, length)
        got = dict(zip(map(tuple, tree.words(length)), tree.probabilities[length], strict=True))
        assert set(got) == {w for w, p in brute.items() if p > 1e-12}
        np.testing.assert_allclose([got[w] for w in got], [brute[w] for w in got], atol=1e-13)
        np.testing.assert_allclose(tree.beliefs[length] @ r, 1.0, atol=1e-12)


@pytest.mark.parametrize("case", list(_cases()))
def test_beliefs_and_predictions_match_explicit_products(case):
    g = _case(case)
    T, eta0, r = g.transition_matrices, g.initial_distribution, g.right_eigenvector
    words = np.array([w for w, p in all_word_probabilities(T, eta0, r, 3).items() if p > 1e-10])
    f = compmech.filter_beliefs(g, words)
    for n, w in enumerate(words):
        for t in range(3):
            np.testing.assert_allclose(f.beliefs[n, t], belief_after(T, eta0, r, w[: t + 1]),
                                       rtol=0, atol=1e-11)
        for x in range(g.vocab_size):  # P(x | w) = P(w x) / P(w)
            expected = word_probability(T, eta0, r, [*w, x]) / word_probability(T, eta0, r, w)
            assert abs(f.next_token_probs[n, -1, x] - expected) < 1e-11
        assert abs(np.log(word_probability(T, eta0, r, w)) - f.log_probability[n]) < 1e-11
    np.testing.assert_allclose(f.beliefs @ r, 1.0, atol=1e-12)  # beliefs on the plane eta r = 1


@pytest.mark.parametrize("seed", range(3))
def test_random_ghmm_has_the_hmms_word_probabilities_and_mapped_beliefs(seed):
    g, T, pi, A = random_ghmm(seed)
    words, probs = compmech.enumerate_words(g, 4)
    ones = np.ones(T.shape[1])
    classical = all_word_probabilities(T, pi, ones, 4)
    np.testing.assert_allclose(probs, [classical[tuple(w)] for w in words], rtol=1e-10, atol=1e-14)
    f = compmech.filter_beliefs(g, words[::7])
    for n, w in enumerate(words[::7]):
        np.testing.assert_allclose(f.beliefs[n, -1], belief_after(T, pi, ones, w) @ A, atol=1e-11)


def test_computed_right_eigenvector_gives_the_same_process():
    g, T, pi, A = random_ghmm(5)
    h = GHMM(g.transition_matrices)  # r and mu computed, in the documented gauge
    assert np.abs(h.right_eigenvector).max() == pytest.approx(1.0, abs=1e-15)
    assert h.right_eigenvector[np.argmax(np.abs(h.right_eigenvector))] == pytest.approx(1.0)
    np.testing.assert_allclose(compmech.enumerate_words(h, 3)[1],
                               compmech.enumerate_words(g, 3)[1], atol=1e-13)


def test_stochastic_matrices_as_a_ghmm_get_r_equal_to_one():
    hmm = get_process("rrxor", p1=0.3)
    g = GHMM(hmm.transition_matrices)
    np.testing.assert_allclose(g.right_eigenvector, 1.0, atol=1e-13)
    np.testing.assert_allclose(g.initial_distribution, hmm.stationary_distribution, atol=1e-12)


# ---------------------------------------------------------------------------- invalid GHMMs
def test_negative_word_probability_is_a_one_line_error_naming_the_first_such_word():
    T = tom_T()
    T[[0, 0, 1, 1], [0, 2, 0, 2], [2, 0, 2, 0]] = [0.3, 0.3, -0.3, -0.3]  # o = 0.3 > c = 1/4
    eta0 = r = np.array([1.0, 0.0, 0.0])
    first = next(w for L in range(1, 4) for w in itertools.product(range(4), repeat=L)
                 if word_probability(T, eta0, r, w) < -1e-10)
    with pytest.raises(ValueError, match="not a valid process") as info:
        GHMM(T, right_eigenvector=r)
    message = str(info.value)
    assert f"word {first}" in message and "\n" not in message
    assert f"{word_probability(T, eta0, r, first):.6g}" in message


def test_no_eigenvalue_one_is_a_one_line_error():
    with pytest.raises(ValueError, match="no eigenvalue 1") as info:
        GHMM(0.9 * tom_T())
    assert "\n" not in str(info.value)


def test_repeated_eigenvalue_one_needs_r_and_start():
    T = np.zeros((4, 6, 6))
    T[:, :3, :3] = tom_T()
    T[:, 3:, 3:] = tom_T(1.0, 2.0)
    with pytest.raises(ValueError, match="multiplicity 2"):
        GHMM(T)
    r = np.array([1.0, 0, 0, 1.0, 0, 0])
    with pytest.raises(ValueError, match="multiplicity 2.*initial_distribution"):
        GHMM(T, right_eigenvector=r)
    g = GHMM(T, right_eigenvector=r, initial_distribution=[0.25, 0, 0, 0.75, 0, 0])
    assert not g.is_ergodic
    with pytest.raises(ValueError, match="not ergodic"):
        g.stationary_distribution  # noqa: B018


@pytest.mark.parametrize("kw,match", [
    ({"right_eigenvector": [1.0, 1.0, 0.0]}, "not fixed by M"),
    ({"right_eigenvector": [1.0, 0.0]}, "3 finite numbers"),
    ({"initial_distribution": [0.5, 0.0, 0.0]}, "eta r = 1"),
    ({"initial_distribution": [1.0, np.nan, 0.0]}, "finite"),
])
def test_bad_right_eigenvector_or_start(kw, match):
    with pytest.raises(ValueError, match=match) as info:
        GHMM(tom_T(), **kw)
    assert "\n" not in str(info.value)


def test_with_initial_distribution_is_validated():
    g = get_process("tom_quantum")
    with pytest.raises(ValueError, match="eta r = 1"):
        g.with_initial_distribution([2.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="not a valid process"):
        g.with_initial_distribution([1.0, 0.0, 9.0])  # outside the belief set: P(1) < 0
    inside = g.with_initial_distribution([1.0, 0.3, -0.2])
    assert inside.kind == "ghmm" and inside.initial_distribution[1] == 0.3


# ---------------------------------------------------------------- change-of-basis invariance
@pytest.mark.parametrize("name", ["mess3", "rrxor", "sns", "nond"])
def test_myopic_entropy_is_basis_invariant(name):
    hmm = get_process(name)
    g, _ = changed(hmm)
    np.testing.assert_allclose(compmech.myopic_entropy(g, 8), compmech.myopic_entropy(hmm, 8),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(compmech.optimal_cross_entropy_nats(g, 6, bos=True),
                               compmech.optimal_cross_entropy_nats(hmm, 6, bos=True), atol=1e-10)


@pytest.mark.parametrize("name", ["even", "golden_mean", "rrxor", "z1r"])
def test_msp_sizes_are_basis_invariant(name):
    """(Finite MSPs only: a countably infinite one, merged within a max-norm tolerance, depends on
    the coordinates the tolerance is measured in.)"""
    hmm = get_process(name)
    g, A = changed(hmm, seed=1)
    a = compmech.mixed_state_presentation(hmm, max_states=500)
    b = compmech.mixed_state_presentation(g, max_states=500)
    assert (b.num_states, b.num_recurrent, b.truncated) == (a.num_states, a.num_recurrent, a.truncated)
    np.testing.assert_allclose(b.beliefs @ np.linalg.inv(A), a.beliefs, atol=1e-9)
    assert compmech.mixed_state_tree(g, 7).num_nodes == compmech.mixed_state_tree(hmm, 7).num_nodes
    if not a.truncated:
        sc_a, sc_b = compmech.statistical_complexity(hmm, msp=a), compmech.statistical_complexity(g, msp=b)
        assert sc_b.bits == pytest.approx(sc_a.bits, abs=1e-10)


def _word_counts(tokens, V):
    L = tokens.shape[1]
    index = tokens.astype(np.int64) @ (V ** np.arange(L - 1, -1, -1))
    return np.bincount(index, minlength=V**L)


def _assert_four_sigma(counts, probs):
    N = counts.sum()
    assert probs.min() > -1e-12  # a GHMM's word probabilities are >= 0 up to rounding
    probs = np.clip(probs, 0.0, 1.0)
    sigma = np.sqrt(N * probs * (1 - probs))
    assert (np.abs(counts - N * probs) <= 4 * sigma + 1).all(), np.max(np.abs(counts - N * probs) / (sigma + 1e-300))


@pytest.mark.parametrize("name", ["mess3", "rrxor"])
def test_sampling_frequencies_are_basis_invariant(name):
    """Words sampled from the GHMM in another basis have the original HMM's probabilities."""
    hmm = get_process(name)
    g, _ = changed(hmm, seed=2)
    L = 3
    ones = np.ones(hmm.num_states)
    exact = np.array(list(all_word_probabilities(hmm.transition_matrices,
                                                 hmm.initial_distribution, ones, L).values()))
    samples = compmech.sample(g, 40_000, L, seed=7)
    _assert_four_sigma(_word_counts(samples.tokens, hmm.vocab_size), exact)
    f = compmech.filter_beliefs(g, samples.tokens[:200])
    np.testing.assert_allclose(samples.beliefs[:200], f.beliefs, atol=1e-12)


@pytest.mark.parametrize("name", QUANTUM)
def test_quantum_sampling_frequencies(name):
    g = get_process(name)
    L = 3 if g.vocab_size < 4 else 2
    exact = np.array(list(all_word_probabilities(g.transition_matrices, g.initial_distribution,
                                                 g.right_eigenvector, L).values()))
    samples = compmech.sample(g, 40_000, L, seed=3)
    _assert_four_sigma(_word_counts(samples.tokens, g.vocab_size), exact)


def test_blackwell_entropy_rate_and_lyapunov_are_basis_invariant():
    hmm = get_process("mess3")
    g, _ = changed(hmm, seed=3)
    a = compmech.entropy_rate(hmm, compmech.EntropyRateConfig(num_points=200_000, seed=1, method="blackwell"))
    b = compmech.entropy_rate(g, compmech.EntropyRateConfig(num_points=200_000, seed=1, method="blackwell"))
    assert a.method == b.method == "blackwell"
    assert abs(a.bits - b.bits) < 4 * np.hypot(a.stderr_bits, b.stderr_bits)
    la_, lb_ = compmech.entropy_rate(hmm), compmech.entropy_rate(g)  # limits of the exact h(L)
    assert la_.method == lb_.method == "myopic_limit" and la_.depth == lb_.depth
    assert lb_.bits == pytest.approx(la_.bits, abs=1e-10)
    la = compmech.lyapunov_spectrum(hmm, num_steps=1000, num_chains=40, seed=2)
    lb = compmech.lyapunov_spectrum(g, num_steps=1000, num_chains=40, seed=2)
    np.testing.assert_allclose(lb.exponents, la.exponents, atol=0.01)
    assert compmech.kaplan_yorke_dimension(lb.exponents, b.nats) == pytest.approx(
        compmech.kaplan_yorke_dimension(la.exponents, a.nats), abs=0.05)


def test_exact_measures_of_a_ghmm_with_a_finite_msp():
    hmm = get_process("golden_mean", p=0.4)
    g, _ = changed(hmm, seed=4)
    assert not g.is_unifilar  # a GHMM has no hidden states: no unifilar shortcut
    rate = compmech.entropy_rate(g)
    assert rate.method == "msp" and rate.bits == pytest.approx(compmech.entropy_rate(hmm).bits, abs=1e-12)
    ee_a, ee_b = compmech.excess_entropy(hmm), compmech.excess_entropy(g)
    assert ee_b.converged and ee_b.bits == pytest.approx(ee_a.bits, abs=1e-9)
    msp_hmm = compmech.mixed_state_presentation(g).to_hmm()  # a classical HMM, same words
    assert msp_hmm.kind == "hmm"
    np.testing.assert_allclose(compmech.enumerate_words(msp_hmm, 5)[1],
                               compmech.enumerate_words(hmm, 5)[1], atol=1e-12)


def test_synchronization_profile_refuses_a_ghmm():
    with pytest.raises(ValueError, match="needs a classical HMM") as info:
        compmech.synchronization_profile(get_process("tom_quantum"), 3)
    assert "\n" not in str(info.value)


def test_change_basis_matches_the_explicit_construction():
    hmm = get_process("mess3")
    A = random_basis(3, np.random.default_rng(9))
    g = compmech.change_basis(hmm, A)
    T2, mu2, r2 = basis_changed(hmm.transition_matrices, hmm.initial_distribution, A)
    np.testing.assert_allclose(g.transition_matrices, T2, atol=1e-14)
    np.testing.assert_allclose(g.initial_distribution, mu2, atol=1e-14)
    np.testing.assert_allclose(g.right_eigenvector, r2, atol=1e-14)
    with pytest.raises(ValueError, match="singular"):
        compmech.change_basis(hmm, np.ones((3, 3)))


# ----------------------------------------------------------------------- traceable kernels
def test_sample_jax_with_r_float32_has_the_right_word_frequencies():
    g = get_process("tom_quantum")
    f32 = jnp.float32
    tokens, beliefs = sample_jax(jnp.asarray(g.transition_matrices, f32),
                                 jnp.asarray(g.initial_distribution, f32), jax.random.key(4),
                                 40_000, 2, right_eigenvector=jnp.asarray(g.right_eigenvector, f32))
    assert tokens.dtype == jnp.int32 and beliefs.dtype == f32
    exact = np.array(list(all_word_probabilities(g.transition_matrices, g.initial_distribution,
                                                 g.right_eigenvector, 2).values()))
    _assert_four_sigma(_word_counts(np.asarray(tokens), 4), exact)
    np.testing.assert_allclose(np.asarray(beliefs)[..., 0], 1.0, atol=1e-6)  # eta r = eta_0 = 1


def test_sampler_with_r_equal_to_one_agrees_with_the_classical_path():
    hmm = get_process("mess3")
    with jax.enable_x64(True):
        T, pi = jnp.asarray(hmm.transition_matrices), jnp.asarray(hmm.initial_distribution)
        tok_a, bel_a = sample_jax(T, pi, jax.random.key(1), 64, 30)
        tok_b, bel_b = sample_jax(T, pi, jax.random.key(1), 64, 30, right_eigenvector=jnp.ones(3))
    np.testing.assert_array_equal(tok_a, tok_b)
    np.testing.assert_allclose(bel_a, bel_b, atol=1e-14)


def test_filter_jax_with_r_matches_filter_beliefs():
    g = get_process("tom_quantum")
    tokens = np.random.default_rng(2).integers(0, 4, (8, 40))  # every word is possible
    with jax.enable_x64(True):
        beliefs, log_norms, possible = filter_jax(
            jnp.asarray(g.transition_matrices), jnp.asarray(g.initial_distribution),
            jnp.asarray(tokens), right_eigenvector=jnp.asarray(g.right_eigenvector))
    f = compmech.filter_beliefs(g, tokens)
    np.testing.assert_allclose(np.asarray(beliefs), f.beliefs, atol=1e-12)
    np.testing.assert_allclose(np.asarray(log_norms).sum(1), f.log_probability, atol=1e-10)
    assert np.asarray(possible).all()


def test_impossible_ghmm_words_are_flagged():
    """post_quantum forbids the word (0, 0): T[0] T[0] = 0 after the scaling."""
    g = get_process("post_quantum")
    assert abs(word_probability(g.transition_matrices, g.initial_distribution,
                                g.right_eigenvector, (0, 0))) < 1e-15
    f = compmech.filter_beliefs(g, [[0, 0, 1], [0, 1, 0]], allow_impossible=True)
    assert f.possible.tolist() == [[True, False, False], [True, True, True]]
    assert f.log_probability[0] == -np.inf and np.isnan(f.beliefs[0, 1:]).all()
    with pytest.raises(ValueError, match="probability zero"):
        compmech.filter_beliefs(g, [0, 0])
    tree = compmech.mixed_state_tree(g, 2)
    assert not (tree.words(2) == [0, 0]).all(axis=1).any()


# -------------------------------------------------------------------------- long words
def _chunked_log_probability(T, eta0, r, tokens, chunk=1000):
    """float64 reference: each chunk's matrix product by pairwise reduction (rescaled by its
    largest entry, logs of the scales kept), then the start vector pushed through the chunks."""
    n = tokens.shape[0] // chunk
    mats = T[tokens[: n * chunk]].reshape(n, chunk, *T.shape[1:])
    log_scale = np.zeros(n)
    while mats.shape[1] > 1:
        if mats.shape[1] % 2:
            mats = np.concatenate([mats, np.broadcast_to(np.eye(T.shape[1]), (n, 1, *T.shape[1:]))], 1)
        mats = mats[:, 0::2] @ mats[:, 1::2]
        scale = np.abs(mats).max(axis=(2, 3))
        mats = mats / scale[:, :, None, None]
        log_scale += np.log(scale).sum(axis=1)
    eta, total, boundaries = np.array(eta0), 0.0, []
    for c in range(n):
        v = eta @ mats[c, 0]
        z = v @ r
        total += np.log(z) + log_scale[c]
        eta = v / z
        boundaries.append(eta)
    return total, np.array(boundaries)


def test_million_token_filtering_is_stable():
    g = get_process("tom_quantum")
    L = 1_000_000
    tokens = compmech.sample(g, 1, L, seed=11).tokens[0]
    f = compmech.filter_beliefs(g, tokens)
    assert np.isfinite(f.beliefs).all() and np.isfinite(f.log_probability)
    np.testing.assert_allclose(f.beliefs @ g.right_eigenvector, 1.0, atol=1e-12)
    reference, boundaries = _chunked_log_probability(g.transition_matrices, g.initial_distribution,
                                                     g.right_eigenvector, tokens)
    # float64 round-off of ~1.4e6 nats summed over 10^6 steps is ~1e-8; float32 would be ~1e-5
    assert abs(f.log_probability - reference) < 1e-6
    np.testing.assert_allclose(f.beliefs[999::1000], boundaries, atol=1e-9)
    # chain rule: log P = sum_t log P(x_t | x_<t)
    predictive = np.concatenate([g.initial_distribution @ g.emission_probabilities[None, :],
                                 f.next_token_probs[:-1]])
    chain = np.log(predictive[np.arange(L), tokens]).sum()
    assert abs(chain - f.log_probability) < 1e-6


# ------------------------------------------------------------------------------------ geometry
def test_belief_plane_coordinates_are_an_isometry_and_agree_with_the_simplex():
    beliefs = compmech.blackwell_beliefs(get_process("mess3"), 300, seed=0)
    coords = compmech.belief_plane_coordinates(beliefs, np.ones(3))
    flat = compmech.simplex_projection(beliefs)

    def dist(X):
        return np.linalg.norm(X[:, None] - X[None], axis=-1)

    np.testing.assert_allclose(dist(coords), dist(beliefs), atol=1e-12)
    np.testing.assert_allclose(dist(coords), np.sqrt(2) * dist(flat), atol=1e-12)


@pytest.mark.parametrize("r", [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.3, -1.0, 0.2, 0.5]])
def test_belief_plane_basis_is_orthonormal_and_tangent(r):
    U = compmech.belief_plane_basis(r)
    np.testing.assert_allclose(U.T @ U, np.eye(len(r) - 1), atol=1e-14)
    np.testing.assert_allclose(np.asarray(r) @ U, 0.0, atol=1e-14)


def test_tom_quantum_plane_coordinates_are_the_bloch_coordinates():
    beliefs = compmech.blackwell_beliefs(get_process("tom_quantum"), 2000, seed=1)
    coords = compmech.belief_plane_coordinates(beliefs, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(coords, beliefs[:, 1:], atol=1e-15)
    np.testing.assert_array_equal(
        compmech.belief_plane_projection(beliefs, [1.0, 0.0, 0.0]), coords)
    g = get_process("fanizza")
    cloud = compmech.blackwell_beliefs(g, 2000, seed=1)
    view = compmech.belief_plane_projection(cloud, g.right_eigenvector)
    full = compmech.belief_plane_coordinates(cloud, g.right_eigenvector)
    assert view.shape == (2000, 2)
    variance = ((full - full.mean(0)) ** 2).sum(1).mean()  # PCA keeps the largest share
    assert ((view - view.mean(0)) ** 2).sum(1).mean() >= 2 / 3 * variance - 1e-12


def test_ghmm_lyapunov_spectrum_and_dimensions_run():
    g = get_process("tom_quantum")
    spec = compmech.lyapunov_spectrum(g, num_steps=500, num_chains=20, seed=0)
    assert spec.exponents.shape == (2,) and np.isfinite(spec.exponents).all()
    assert spec.exponents[0] >= spec.exponents[1]
    dims = compmech.fractal_dimensions(compmech.blackwell_beliefs(g, 20_000, seed=0)[:, 1:])
    assert 0 <= dims.box_counting.dimension <= 2.2


# ----------------------------------------------------------------------------------------- JSON
@pytest.mark.parametrize("name", QUANTUM)
def test_ghmm_json_round_trip(tmp_path, name):
    g = get_process(name)
    path = tmp_path / f"{name}.json"
    compmech.save_hmm(g, path)
    data = json.loads(path.read_text())
    assert data["kind"] == "ghmm" and data["right_eigenvector"] == g.right_eigenvector.tolist()
    back = compmech.load_hmm(path)
    assert isinstance(back, GHMM)
    np.testing.assert_array_equal(back.transition_matrices, g.transition_matrices)
    np.testing.assert_array_equal(back.right_eigenvector, g.right_eigenvector)
    np.testing.assert_allclose(back.initial_distribution, g.initial_distribution, atol=1e-15)
    assert (back.name, back.params) == (g.name, g.params)
    assert isinstance(compmech.process_from_dict(g.to_dict()), GHMM)


def test_dict_dispatch_on_kind():
    hmm = get_process("even")
    assert hmm.to_dict()["kind"] == "hmm"
    assert isinstance(compmech.process_from_dict(hmm.to_dict()), HMM)
    assert isinstance(HMM.from_dict(hmm.to_dict()), HMM)
    legacy = {k: v for k, v in hmm.to_dict().items() if k != "kind"}  # files from before kinds
    np.testing.assert_array_equal(compmech.process_from_dict(legacy).transition_matrices,
                                  hmm.transition_matrices)
    ghmm = get_process("tom_quantum").to_dict()
    with pytest.raises(ValueError, match="process_from_dict"):
        HMM.from_dict(ghmm)
    with pytest.raises(ValueError, match="unknown kind 'qhmm'"):
        compmech.process_from_dict({**ghmm, "kind": "qhmm"})
    with pytest.raises(ValueError, match="unknown keys"):
        compmech.process_from_dict({**hmm.to_dict(), "right_eigenvector": [1, 1]})
