"""Equivalent history: the Markov-k-plus-position lookups against a brute-force group mean, and the
calibration cases of the issue (a lookup is k, the exact beliefs are L, noise lowers it)."""

import numpy as np
import pytest

import compmech
from compmech.geometry import belief_plane_coordinates, tangent_basis
from compmech.history import context_codes, history_tokens, lookup_errors, markov_lookup

L = 8


@pytest.fixture(scope="module")
def mess3_words():
    hmm = compmech.get_process("mess3")
    words = compmech.all_words(3, L)
    return hmm, words, compmech.filter_beliefs(hmm, words).beliefs


def test_the_lookup_is_the_brute_force_mean_over_the_same_position_and_last_k_tokens(mess3_words):
    _, words, truth = mess3_words
    rng = np.random.default_rng(0)
    w = rng.random(words.shape)
    for k in (0, 1, 3, L):
        lookup = markov_lookup(words, truth, k, weights=w)
        for n, t in rng.integers(0, [words.shape[0], L], size=(20, 2)):
            lo = max(0, t - k + 1)
            same = (words[:, lo:t + 1] == words[n, lo:t + 1]).all(axis=1)
            expected = (w[same, t, None] * truth[same, t]).sum(0) / w[same, t].sum()
            np.testing.assert_allclose(lookup[n, t], expected, atol=1e-14)


def test_context_codes_refine_each_other():
    words = np.random.default_rng(1).integers(0, 4, (500, 6))
    codes = context_codes(words)
    for a, b in zip(codes[:-1], codes[1:], strict=True):
        # every group of k + 1 tokens lies inside one group of k tokens
        pairs = np.unique(np.stack([b, a], 1), axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0]


@pytest.mark.parametrize("k", range(1, 7))
def test_the_markov_k_lookup_has_an_equivalent_history_of_k(mess3_words, k):
    hmm, words, truth = mess3_words
    result = compmech.equivalent_history(hmm, words, markov_lookup(words, truth, k))
    assert result.tokens == pytest.approx(k, abs=0.5)
    assert result.measure == "mse" and result.context_length == L


def test_exact_beliefs_give_the_context_length_and_noise_lowers_it(mess3_words):
    hmm, words, truth = mess3_words
    assert compmech.equivalent_history(hmm, words, truth).tokens == L
    z = np.random.default_rng(2).normal(size=words.shape + (2,)) @ tangent_basis(3).T
    tokens = [compmech.equivalent_history(hmm, words, truth + s * z).tokens
              for s in (0.001, 0.003, 0.01, 0.03, 0.1)]
    assert all(a > b for a, b in zip(tokens, tokens[1:], strict=False)), tokens
    assert tokens[-1] < 3 and tokens[0] > 6


def test_lookup_errors_fall_with_k_and_reach_zero(mess3_words):
    _, words, truth = mess3_words
    e = lookup_errors(words, truth)
    assert (np.diff(e) <= 1e-18).all() and e[-1] < 1e-20
    # k = 0: the variance of the beliefs around each position's mean, per coordinate
    centred = truth - truth.mean(axis=0, keepdims=True)
    assert e[0] == pytest.approx((centred**2).mean(), rel=1e-12)


def test_zero_weights_exclude_points_and_lookup_weights_fit_on_others(mess3_words):
    hmm, words, truth = mess3_words
    held = np.zeros(words.shape)
    held[::7] = 1.0
    own = compmech.equivalent_history(hmm, words, truth + 0.01, weights=held)
    assert own.lookup_errors[-1] < 1e-20
    full = lookup_errors(words, truth, weights=held, lookup_weights=np.ones(words.shape))
    direct = [((markov_lookup(words, truth, k) - truth) ** 2).mean(-1)[held > 0].mean()
              for k in range(L + 1)]
    np.testing.assert_allclose(full, direct, rtol=1e-10, atol=1e-30)


def test_interpolation_is_geometric_between_integers():
    e = np.array([1.0, 0.1, 0.01, 0.0])
    assert history_tokens(e, 1.5) == 0.0
    assert history_tokens(e, 10**-0.5) == pytest.approx(0.5)
    assert history_tokens(e, 0.005) == pytest.approx(2.5)  # linear in the exact last segment
    assert history_tokens(e, 0.0) == 3.0


def test_the_whitened_history_of_a_ghmm_does_not_depend_on_its_presentation():
    hmm = compmech.get_process("tom_quantum")
    words = compmech.all_words(4, 4)
    rng = np.random.default_rng(3)
    S = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    other = compmech.change_basis(hmm, S)
    results, plain = [], []
    for process in (hmm, other):
        beliefs = compmech.filter_beliefs(process, words).beliefs
        coords = belief_plane_coordinates(beliefs, process.right_eigenvector)
        lookup = markov_lookup(words, coords, 2)
        predicted = lookup + 0.3 * (coords - lookup)  # an affine combination: equivariant
        results.append(compmech.equivalent_history(process, words, predicted))
        plain.append(compmech.equivalent_history(process, words, predicted, measure="mse"))
    assert results[0].measure == "whitened_mse"
    np.testing.assert_allclose(results[0].lookup_errors, results[1].lookup_errors, rtol=1e-9,
                               atol=1e-20)
    assert results[0].error == pytest.approx(results[1].error, rel=1e-9)
    assert results[0].tokens == pytest.approx(results[1].tokens, abs=1e-9)
    assert 2 < results[0].tokens < 4
    assert plain[0].error != pytest.approx(plain[1].error, rel=1e-3)  # plain MSE depends on it


def test_bad_input_raises(mess3_words):
    hmm, words, truth = mess3_words
    with pytest.raises(ValueError, match="shape"):
        compmech.equivalent_history(hmm, words, truth[:, :, :2])
    with pytest.raises(ValueError, match="k must"):
        markov_lookup(words, truth, L + 1)
    with pytest.raises(ValueError, match="weights"):
        lookup_errors(words, truth, weights=-np.ones(words.shape))
    with pytest.raises(ValueError, match="measure"):
        lookup_errors(words, truth, measure="mae")
