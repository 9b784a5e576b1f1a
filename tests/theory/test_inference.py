"""Tests of filtering, word probabilities and sampling against brute force over hidden paths.

The oracle below enumerates every hidden-state path with ``itertools.product`` and sums
``pi_{s0} prod_k T[x_k, s_{k-1}, s_k]``; it shares no code with ``compmech.inference``.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compmech import (
    HMM,
    all_words,
    enumerate_words,
    filter_beliefs,
    get_process,
    log_probability,
    sample,
)
from compmech.inference import filter_jax
from strategies import stochastic_arrays

TOL = 1e-12


# ------------------------------------------------------------------------------------- oracle
def oracle_prefix_joints(T, init, word):
    """``(L, S)``: row ``t`` is ``P(x_1..x_{t+1}, s_{t+1} = j)``, summed over all hidden paths.

    One enumeration of the ``S^(L+1)`` paths ``s_0 .. s_L``: the weight of the first ``t + 1`` steps
    of a path, ``init[s_0] prod_{k <= t} T[x_k, s_{k-1}, s_k]``, is grouped by ``s_{t+1}``; each
    prefix path is counted once per suffix, i.e. ``S^(L-t-1)`` times, so divide by that.
    """
    V, S, _ = T.shape
    L = len(word)
    paths = np.array(list(itertools.product(range(S), repeat=L + 1)), dtype=int)  # (S^(L+1), L+1)
    weight = init[paths[:, 0]].astype(float)
    joints = np.zeros((L, S))
    for k in range(L):
        weight = weight * T[word[k], paths[:, k], paths[:, k + 1]]
        np.add.at(joints[k], paths[:, k + 1], weight)
        joints[k] /= S ** (L - k - 1)
    return joints


def oracle_probability(T, init, word):
    """``P(x_1..x_L)``: sum over all hidden paths."""
    return oracle_prefix_joints(T, init, word)[-1].sum()


def check_against_oracle(hmm, words, init=None):
    """Compare every prefix belief, next-token distribution and word probability with the oracle."""
    T = hmm.transition_matrices
    V, S = hmm.vocab_size, hmm.num_states
    init_arr = hmm.initial_distribution if init is None else init
    f = filter_beliefs(hmm, words, initial_distribution=init, allow_impossible=True)
    logp = log_probability(hmm, words, initial_distribution=init)
    for n, word in enumerate(words):
        joints = oracle_prefix_joints(T, init_arr, word)  # (L, S)
        prefix_probs = joints.sum(-1)  # (L,)
        p_word = prefix_probs[-1]
        if p_word > 0:
            assert np.isfinite(logp[n])
            assert abs(np.exp(logp[n]) - p_word) <= 1e-12 + 1e-10 * p_word
            assert abs(logp[n] - np.log(p_word)) <= 1e-9
        else:
            assert logp[n] == -np.inf
        np.testing.assert_array_equal(f.log_probability[n], logp[n])
        for t in range(len(word)):
            p_prefix = prefix_probs[t]
            assert bool(f.possible[n, t]) == (p_prefix > 0)
            if p_prefix == 0:
                assert np.isnan(f.beliefs[n, t]).all()
                continue
            np.testing.assert_allclose(f.beliefs[n, t], joints[t] / p_prefix, rtol=0, atol=1e-12)
            # P(x_{t+2} = v | prefix) = sum_{j,k} P(prefix, s = j) T[v, j, k] / P(prefix)
            expected_next = [sum(joints[t, j] * T[v, j, k] for j in range(S) for k in range(S))
                             / p_prefix for v in range(V)]
            np.testing.assert_allclose(f.next_token_probs[n, t], expected_next, rtol=0, atol=1e-12)


def test_oracle_sanity():
    """The oracle itself, on a hand-computed case: golden mean p = 1/2, pi = (2/3, 1/3)."""
    T = get_process("golden_mean").transition_matrices
    pi = np.array([2 / 3, 1 / 3])
    # P(1) = pi_A (1 - p) = 1/3, belief (0, 1); P(1 0) = 1/3, belief (1, 0); P(1 1) = 0.
    np.testing.assert_allclose(oracle_prefix_joints(T, pi, [1, 0]), [[0, 1 / 3], [1 / 3, 0]],
                               rtol=0, atol=1e-15)
    assert oracle_probability(T, pi, [1, 1]) == 0
    assert abs(oracle_probability(T, pi, [0, 0]) - (2 / 3 * 0.25 + 1 / 3 * 0.5)) < 1e-15


@st.composite
def hmms_with_words(draw):
    """A random HMM, a random start distribution (maybe with zeros) and 4 words of length 6."""
    T = draw(stochastic_arrays())
    V, S, _ = T.shape
    init = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 1.0)),
                                  min_size=S, max_size=S)))
    if init.sum() == 0:
        init[0] = 1.0
    init = init / init.sum()
    words = np.array(draw(st.lists(st.lists(st.integers(0, V - 1), min_size=6, max_size=6),
                                   min_size=4, max_size=4)))
    return T, init, words


def likely_words(hmm, seed):
    """``(16, 64)`` possible words, sampled from the process (one shape: one compilation)."""
    return sample(hmm, 16, 64, seed).tokens


# ------------------------------------------------------------------- brute-force oracle: catalogue
CATALOGUE = [
    ("z1r", {"p": 0.3}),
    ("mess3", {}),
    ("mess3", {"x": 0.15, "alpha": 0.6}),
    ("rrxor", {"p1": 0.2, "p2": 0.7}),
    ("even", {"p": 0.3}),
    ("golden_mean", {"p": 0.6}),
    ("nond", {}),
]


@pytest.mark.parametrize("name,params", CATALOGUE)
def test_filter_matches_brute_force_catalogue(name, params):
    hmm = get_process(name, **params)
    # Sampled words (possible) plus arbitrary words (some impossible), length 6.
    rng = np.random.default_rng(0)
    words = np.concatenate([
        likely_words(hmm, seed=1)[:4, :6],
        rng.integers(0, hmm.vocab_size, size=(4, 6)).astype(np.int32),
    ])
    check_against_oracle(hmm, words)


@pytest.mark.parametrize("name,params", [("z1r", {}), ("mess3", {}), ("rrxor", {})])
def test_enumerate_words_matches_brute_force(name, params):
    hmm = get_process(name, **params)
    T, pi = hmm.transition_matrices, hmm.initial_distribution
    for L in (1, 4):
        words, probs = enumerate_words(hmm, L)
        assert words.shape == (hmm.vocab_size**L, L)
        expected = np.array([oracle_probability(T, pi, w) for w in words])
        np.testing.assert_allclose(probs, expected, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", ["rrxor", "even"])
def test_filter_from_explicit_start_matches_brute_force(name):
    hmm = get_process(name)
    init = np.zeros(hmm.num_states)
    init[-1] = 1.0
    words = all_words(2, 6)[::8]
    check_against_oracle(hmm, words, init=init)


def test_filter_and_sample_large_model_match_brute_force():
    """A model with V * S * S = 300 terms (kernels may take a different, non-unrolled path)."""
    hmm = get_process("random_hmm", num_states=10, vocab_size=3, seed=5, concentration=0.5)
    samples = sample(hmm, 16, 64, seed=2)
    f = filter_beliefs(hmm, samples.tokens)
    np.testing.assert_allclose(samples.beliefs, f.beliefs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(f.beliefs.sum(-1), 1.0, rtol=0, atol=1e-12)
    rng = np.random.default_rng(3)
    words = np.concatenate([samples.tokens[:2, :3], rng.integers(0, 3, size=(2, 3))]).astype(np.int32)
    check_against_oracle(hmm, words)
    _, probs = enumerate_words(hmm, 4)
    assert abs(probs.sum() - 1) < 1e-12


# ------------------------------------------------------------- brute-force oracle: random HMMs
@settings(max_examples=25, deadline=None)
@given(hmms_with_words())
def test_filter_matches_brute_force_random(case):
    T, init, words = case
    hmm = HMM(T, initial_distribution=init)
    check_against_oracle(hmm, words)


@settings(max_examples=6, deadline=None)
@given(stochastic_arrays(), st.integers(1, 6))
def test_word_probabilities_sum_to_one_random(T, L):
    S = T.shape[1]
    hmm = HMM(T, initial_distribution=np.full(S, 1.0 / S))
    words, probs = enumerate_words(hmm, L)
    assert (probs >= 0).all()
    assert abs(probs.sum() - 1) < 1e-12


# -------------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("name,params,L", [
    ("z1r", {"p": 0.3}, 8),
    ("mess3", {}, 8),
    ("rrxor", {}, 8),
    ("even", {}, 8),
    ("golden_mean", {"p": 0.7}, 8),
    ("sns", {}, 8),
    ("mess3", {"x": 0.15, "alpha": 0.6}, 3),
])
def test_all_words_probabilities_sum_to_one(name, params, L):
    hmm = get_process(name, **params)
    words, probs = enumerate_words(hmm, L)
    assert words.shape == (hmm.vocab_size**L, L)
    assert len(np.unique(words, axis=0)) == hmm.vocab_size**L
    assert (probs >= 0).all()
    assert abs(probs.sum() - 1) < 1e-12


def test_word_probabilities_marginalise():
    """Summing P(w v) over the last token v gives P(w) (stationary start: also over the first)."""
    hmm = get_process("mess3", x=0.15, alpha=0.6)
    _, p3 = enumerate_words(hmm, 3)
    _, p4 = enumerate_words(hmm, 4)
    np.testing.assert_allclose(p4.reshape(27, 3).sum(1), p3, rtol=1e-12, atol=0)
    np.testing.assert_allclose(p4.reshape(3, 27).sum(0), p3, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["mess3", "z1r", "rrxor", "nond"])
def test_beliefs_normalised_and_next_token_probs(name):
    hmm = get_process(name)
    s = sample(hmm, 16, 64, seed=3)
    f = filter_beliefs(hmm, s.tokens)
    assert f.beliefs.shape == (16, 64, hmm.num_states)
    assert f.next_token_probs.shape == (16, 64, hmm.vocab_size)
    assert f.beliefs.dtype == np.float64
    assert (f.beliefs >= 0).all()
    np.testing.assert_allclose(f.beliefs.sum(-1), 1.0, rtol=0, atol=1e-12)
    assert (f.next_token_probs >= 0).all()
    np.testing.assert_allclose(f.next_token_probs.sum(-1), 1.0, rtol=0, atol=1e-12)
    # next-token distribution = eta T[x] 1, computed here with an explicit loop over tokens
    T = hmm.transition_matrices
    expected = np.stack([f.beliefs @ T[x] @ np.ones(hmm.num_states) for x in range(hmm.vocab_size)],
                        axis=-1)
    np.testing.assert_allclose(f.next_token_probs, expected, rtol=0, atol=1e-12)
    assert f.possible.all()


def test_next_token_probs_predict_following_token_likelihood():
    """Chain rule: log P(x_1..x_L) = log P(x_1) + sum_t log next_token_probs[t, x_{t+1}]."""
    hmm = get_process("mess3")
    tokens = sample(hmm, 16, 64, seed=5).tokens
    f = filter_beliefs(hmm, tokens)
    p_first = hmm.initial_distribution @ hmm.emission_probabilities
    steps = np.take_along_axis(f.next_token_probs[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0]
    expected = np.log(p_first[tokens[:, 0]]) + np.log(steps).sum(-1)
    np.testing.assert_allclose(f.log_probability, expected, rtol=1e-12, atol=0)


def test_batched_filter_matches_single_words():
    hmm = get_process("mess3")
    tokens = sample(hmm, 16, 64, seed=9).tokens.reshape(2, 8, 64)
    f = filter_beliefs(hmm, tokens)
    assert f.beliefs.shape == (2, 8, 64, 3)
    assert f.log_probability.shape == (2, 8)
    assert f.possible.shape == (2, 8, 64)
    for a, b in [(0, 0), (0, 7), (1, 3)]:
        g = filter_beliefs(hmm, tokens[a, b])
        assert g.beliefs.shape == (64, 3) and g.log_probability.shape == ()
        np.testing.assert_allclose(f.beliefs[a, b], g.beliefs, rtol=0, atol=1e-15)
        np.testing.assert_allclose(f.log_probability[a, b], g.log_probability, rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------- analytic Z1R
def z1r_expected(p):
    """Beliefs over (S0, S1, SR) from the uniform stationary start, derived by hand.

    After 0: S0 -0-> S1 (weight 1/3), SR -0-> S0 (weight p/3): (p, 1, 0) / (1 + p).
    After 1: S1 -1-> SR (1/3), SR -1-> S0 ((1-p)/3): (1-p, 0, 1) / (2 - p).
    After 00: only S0 -0-> S1 from the first belief: (0, 1, 0).
    After 01: only S1 -1-> SR: (0, 0, 1).
    After 10: S0 -0-> S1 ((1-p)), SR -0-> S0 (p): (p, 1 - p, 0).
    After 11: only SR -1-> S0: (1, 0, 0).
    """
    return {
        (0,): ([p / (1 + p), 1 / (1 + p), 0.0], (1 + p) / 3),
        (1,): ([(1 - p) / (2 - p), 0.0, 1 / (2 - p)], (2 - p) / 3),
        (0, 0): ([0.0, 1.0, 0.0], p / 3),
        (0, 1): ([0.0, 0.0, 1.0], 1 / 3),
        (1, 0): ([p, 1 - p, 0.0], 1 / 3),
        (1, 1): ([1.0, 0.0, 0.0], (1 - p) / 3),
    }


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_z1r_analytic_beliefs(p):
    hmm = get_process("z1r", p=p)
    for word, (belief, prob) in z1r_expected(p).items():
        f = filter_beliefs(hmm, list(word))
        np.testing.assert_allclose(f.beliefs[-1], belief, rtol=0, atol=TOL)
        assert abs(np.exp(f.log_probability) - prob) < TOL
        assert abs(np.exp(log_probability(hmm, list(word))) - prob) < TOL
    # Next token after "0": S0 emits 0, S1 emits 1.
    f = filter_beliefs(hmm, [0])
    np.testing.assert_allclose(f.next_token_probs[0], [p / (1 + p), 1 / (1 + p)], rtol=0, atol=TOL)
    # After "0 1" the state is SR: the next token is 0 with probability p.
    f = filter_beliefs(hmm, [0, 1])
    np.testing.assert_allclose(f.next_token_probs[1], [p, 1 - p], rtol=0, atol=TOL)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_alignment_belief_after_token(p):
    """Position t holds the belief after x_1..x_t: position 0 already includes the first token."""
    hmm = get_process("z1r", p=p)
    expected = z1r_expected(p)
    f = filter_beliefs(hmm, [0, 1, 0])
    np.testing.assert_allclose(f.beliefs[0], expected[(0,)][0], rtol=0, atol=TOL)
    np.testing.assert_allclose(f.beliefs[1], expected[(0, 1)][0], rtol=0, atol=TOL)
    np.testing.assert_allclose(f.beliefs[2], [1.0, 0.0, 0.0], rtol=0, atol=TOL)
    # The first belief is not the prior (uniform) and not the belief after two tokens.
    assert not np.allclose(f.beliefs[0], hmm.initial_distribution)
    f = filter_beliefs(hmm, [1, 1])
    np.testing.assert_allclose(f.beliefs[0], expected[(1,)][0], rtol=0, atol=TOL)
    np.testing.assert_allclose(f.beliefs[1], expected[(1, 1)][0], rtol=0, atol=TOL)


# --------------------------------------------------------------------- numerical stability
def test_long_mess3_word_chain_rule():
    """A 10^6-token word: finite log-probability equal to the sum over chunks (carried belief)."""
    hmm = get_process("mess3")
    L, chunks = 1_000_000, 10
    tokens = sample(hmm, 1, L, seed=2024).tokens[0]
    full = filter_beliefs(hmm, tokens)
    logp = float(full.log_probability)
    assert np.isfinite(logp)
    # Per-token cross-entropy is between 0 and log 3 nats (far from underflow: P ~ e^-800000).
    assert 0.1 * L < -logp < np.log(3) * L
    np.testing.assert_allclose(full.beliefs.sum(-1), 1.0, rtol=0, atol=1e-12)
    assert (full.beliefs >= 0).all()
    belief = hmm.initial_distribution
    total = 0.0
    for chunk in tokens.reshape(chunks, L // chunks):
        part = filter_beliefs(hmm, chunk, initial_distribution=belief)
        total += float(part.log_probability)
        belief = part.beliefs[-1]
    assert abs(total - logp) <= 1e-9 * abs(logp)
    np.testing.assert_allclose(belief, full.beliefs[-1], rtol=0, atol=1e-9)
    assert log_probability(hmm, tokens) == pytest.approx(logp, rel=1e-12)


# ---------------------------------------------------------------------------------- sampling
SAMPLED = [("mess3", {}), ("z1r", {"p": 0.3}), ("rrxor", {"p1": 0.2, "p2": 0.7})]


@pytest.fixture(scope="module", params=SAMPLED, ids=[name for name, _ in SAMPLED])
def many_samples(request):
    """10^6 tokens as 10^5 independent sequences of length 10 from the stationary start."""
    name, params = request.param
    hmm = get_process(name, **params)
    return hmm, sample(hmm, 100_000, 10, seed=17).tokens


def test_sampled_token_frequencies_match_stationary(many_samples):
    """Token frequencies of 10^6 sampled tokens match pi @ E within 4 sigma.

    Every position's marginal is pi @ E, so each sequence's token frequency has mean pi @ E. Tokens
    within a sequence are correlated, so the binomial sigma of 10^6 iid tokens would be dishonest;
    the sequences are independent, so the standard error of the per-sequence means (batch means) is
    an honest sigma.
    """
    hmm, tokens = many_samples
    N, L = tokens.shape
    assert (N, L) == (100_000, 10) and tokens.dtype == np.int32
    expected = hmm.stationary_distribution @ hmm.emission_probabilities
    for v in range(hmm.vocab_size):
        per_sequence = (tokens == v).mean(axis=1)  # (N,) iid
        mean = per_sequence.mean()
        sigma = per_sequence.std(ddof=1) / np.sqrt(N)
        assert sigma > 0
        assert abs(mean - expected[v]) < 4 * sigma, (v, mean, expected[v], sigma)


def test_sampled_word_frequencies_match_enumeration(many_samples):
    """Length-3 words: the first three tokens of independent sequences are iid draws of P(w)."""
    hmm, tokens = many_samples
    N = tokens.shape[0]
    words, probs = enumerate_words(hmm, 3)
    index = (tokens[:, :3] * hmm.vocab_size ** np.arange(2, -1, -1)).sum(-1)
    counts = np.bincount(index, minlength=len(words))
    assert (counts[probs == 0] == 0).all()
    nz = probs > 0
    expected = N * probs[nz]
    chi2 = ((counts[nz] - expected) ** 2 / expected).sum()
    dof = nz.sum() - 1
    # chi2 has mean dof and sd sqrt(2 dof); dof + 6 sd + 10 is far in the tail (p < 1e-5).
    assert chi2 < dof + 6 * np.sqrt(2 * dof) + 10, (chi2, dof)


@pytest.mark.parametrize("name", ["mess3", "rrxor", "nond"])
def test_sampled_beliefs_align_with_filter(name):
    hmm = get_process(name)
    s = sample(hmm, 16, 64, seed=4)
    assert s.beliefs.shape == (16, 64, hmm.num_states) and s.beliefs.dtype == np.float64
    f = filter_beliefs(hmm, s.tokens)  # raises if any sampled word were impossible
    np.testing.assert_allclose(s.beliefs, f.beliefs, rtol=0, atol=1e-12)


def test_sample_from_explicit_start():
    """RRXOR from S: every third token is the XOR of the two before it; beliefs still aligned."""
    hmm = get_process("rrxor")
    start = np.eye(5)[0]
    s = sample(hmm, 16, 64, seed=8, initial_distribution=start)
    triples = s.tokens[:, :63].reshape(16, 21, 3)
    assert (triples[..., 2] == triples[..., 0] ^ triples[..., 1]).all()
    f = filter_beliefs(hmm, s.tokens, initial_distribution=start)
    np.testing.assert_allclose(s.beliefs, f.beliefs, rtol=0, atol=1e-12)
    # after each complete triple the process is back in S, and it knows it
    np.testing.assert_allclose(s.beliefs[:, 2::3], np.broadcast_to(start, (16, 21, 5)), atol=1e-12)


def test_sampling_deterministic_for_seed():
    hmm = get_process("mess3")
    a = sample(hmm, 16, 64, seed=123)
    b = sample(hmm, 16, 64, seed=123)
    c = sample(hmm, 16, 64, seed=124)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.beliefs, b.beliefs)
    assert not np.array_equal(a.tokens, c.tokens)
    d = sample(hmm, 16, 64, seed=jax.random.key(123))
    np.testing.assert_array_equal(a.tokens, d.tokens)


@pytest.mark.parametrize("kw,match", [
    ({"num_sequences": 0, "seq_len": 5}, "num_sequences"),
    ({"num_sequences": 2, "seq_len": 0}, "seq_len"),
    ({"num_sequences": 2.5, "seq_len": 5}, "num_sequences"),
])
def test_sample_bad_sizes(kw, match):
    with pytest.raises(ValueError, match=match):
        sample(get_process("even"), seed=0, **kw)


def test_sample_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        sample(get_process("even"), 2, 2, seed="abc")


# ------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("tokens,bad", [([0, 2, 1], 2), ([0, -1], -1), ([[0, 1], [1, 5]], 5)])
def test_token_outside_vocabulary(tokens, bad):
    hmm = get_process("z1r")
    with pytest.raises(ValueError, match=rf"token {bad} is outside the vocabulary.*0\.\.1"):
        filter_beliefs(hmm, tokens)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        log_probability(hmm, tokens)


def test_non_integer_tokens():
    with pytest.raises(ValueError, match="integers"):
        filter_beliefs(get_process("z1r"), [0.5, 1.0])
    with pytest.raises(ValueError, match="scalar"):
        filter_beliefs(get_process("z1r"), 0)
    for empty in ([], np.zeros((2, 0), dtype=int)):
        with pytest.raises(ValueError, match=r"L >= 1; got shape"):
            filter_beliefs(get_process("z1r"), empty)


def test_bad_initial_distribution_in_filter():
    hmm = get_process("mess3")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        filter_beliefs(hmm, [0, 1], initial_distribution=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        filter_beliefs(hmm, [0, 1], initial_distribution=np.array([0.5, 0.5, 0.5]))


def test_zero_probability_word():
    """Z1R: '0 0 0' is impossible (after '0 0' the state is S1, which only emits 1)."""
    hmm = get_process("z1r")
    word = [0, 0, 0, 1]
    with pytest.raises(ValueError, match="probability zero.*position 2"):
        filter_beliefs(hmm, word)
    assert log_probability(hmm, word) == -np.inf
    f = filter_beliefs(hmm, word, allow_impossible=True)
    np.testing.assert_array_equal(f.possible, [True, True, False, False])
    assert np.isfinite(f.beliefs[:2]).all()
    assert np.isnan(f.beliefs[2:]).all()
    assert f.log_probability == -np.inf
    # batched: only the impossible word is flagged
    words = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [1, 1, 0, 1]])
    lp = log_probability(hmm, words)
    assert np.isfinite(lp[[0, 2]]).all() and lp[1] == -np.inf
    with pytest.raises(ValueError, match=r"index \(1,\)"):
        filter_beliefs(hmm, words)


def test_enumerate_words_bad_length():
    with pytest.raises(ValueError, match="length"):
        enumerate_words(get_process("even"), 0)
    with pytest.raises(ValueError, match="words is more than"):
        all_words(3, 20)


def test_all_words_lexicographic():
    w = all_words(3, 2)
    assert w.tolist() == [[a, b] for a in range(3) for b in range(3)]
    assert w.dtype == np.int32


# ---------------------------------------------------------------------------------- dtypes
def test_x64_not_enabled_globally():
    hmm = get_process("mess3")
    s = sample(hmm, 16, 64, seed=0)
    filter_beliefs(hmm, s.tokens)
    assert not jax.config.jax_enable_x64
    assert jnp.zeros(2).dtype == jnp.float32


def test_filter_jax_follows_float32():
    hmm = get_process("mess3")
    tokens = sample(hmm, 16, 64, seed=1).tokens
    T32 = jnp.asarray(hmm.transition_matrices, dtype=jnp.float32)
    beliefs, log_norms, possible = filter_jax(T32, jnp.asarray(hmm.initial_distribution,
                                                               dtype=jnp.float32),
                                              jnp.asarray(tokens))
    assert beliefs.dtype == jnp.float32 and log_norms.dtype == jnp.float32
    assert beliefs.shape == (16, 64, 3) and possible.shape == (16, 64)
    f = filter_beliefs(hmm, tokens)
    np.testing.assert_allclose(np.asarray(beliefs), f.beliefs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(log_norms).sum(-1), f.log_probability, rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 3, 16, 20])
def test_short_axis_cumsum_equals_cumsum_bitwise(rows):
    from compmech.inference import _cumsum_rows

    a = jnp.asarray(np.random.default_rng(rows).random((rows, 7)), jnp.float32)
    np.testing.assert_array_equal(_cumsum_rows(a), jnp.cumsum(a, axis=0))
