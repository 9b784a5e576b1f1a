"""Information measures against brute-force enumeration and hand-derived values."""

import numpy as np
import pytest

import compmech
from compmech.information import (
    block_entropy,
    entropy_bits,
    myopic_entropy,
    optimal_cross_entropy_nats,
    synchronization_profile,
)

CATALOGUE = ["z1r", "mess3", "rrxor", "even", "golden_mean", "sns", "nond"]


def _block_entropies_by_enumeration(hmm, length):
    """H(1..L) from the exact probabilities of all words of length L (lexicographic order, so
    summing consecutive blocks gives the probabilities of the prefixes of length k)."""
    _, probs = compmech.enumerate_words(hmm, length)
    V = hmm.vocab_size
    out = []
    for k in range(1, length + 1):
        p = probs.reshape(V**k, -1).sum(1)
        p = p[p > 0]
        out.append(-(p * np.log2(p)).sum())
    return np.array(out)


@pytest.mark.parametrize("name", CATALOGUE)
def test_block_and_myopic_entropy_match_word_enumeration(name):
    hmm = compmech.get_process(name)
    L = 5
    brute_H = _block_entropies_by_enumeration(hmm, L)
    np.testing.assert_allclose(block_entropy(hmm, L), brute_H, rtol=0, atol=1e-11)
    brute_h = np.diff(np.concatenate([[0.0], brute_H]))
    np.testing.assert_allclose(myopic_entropy(hmm, L), brute_h, rtol=0, atol=1e-11)


def test_myopic_entropy_from_non_stationary_start_matches_enumeration():
    hmm = compmech.get_process("random_hmm", num_states=4, vocab_size=3, seed=3)
    init = np.array([0.7, 0.1, 0.2, 0.0])
    L = 4
    _, probs = compmech.enumerate_words(hmm, L, initial_distribution=init)
    brute = []
    for k in range(1, L + 1):
        p = probs.reshape(3**k, -1).sum(1)
        p = p[p > 0]
        brute.append(-(p * np.log2(p)).sum())
    h = myopic_entropy(hmm, L, initial_distribution=init)
    np.testing.assert_allclose(np.cumsum(h), brute, atol=1e-11)


def test_optimal_cross_entropy_alignment_and_units():
    hmm = compmech.get_process("mess3")
    n_ctx = 6
    h = myopic_entropy(hmm, n_ctx + 1)
    no_bos = optimal_cross_entropy_nats(hmm, n_ctx)
    with_bos = optimal_cross_entropy_nats(hmm, n_ctx, bos=True)
    assert no_bos.shape == with_bos.shape == (n_ctx,)
    np.testing.assert_allclose(no_bos, h[1:] * np.log(2), atol=1e-14)
    np.testing.assert_allclose(with_bos, h[:-1] * np.log(2), atol=1e-14)
    # Position 0 with BOS predicts x_1 from the stationary start: Mess3's pi is uniform over 3
    # symmetric states, so P(x_1) is uniform and the floor is ln 3 nats.
    assert with_bos[0] == pytest.approx(np.log(3), abs=1e-12)


def test_optimal_cross_entropy_is_the_expected_loss_of_the_true_predictor():
    # The mean over all length-(n_ctx+1) words of -log P(x_{t+1} | x_1..x_t), weighted by P(word),
    # computed with the filter, must equal the floor.
    hmm = compmech.get_process("rrxor")
    n_ctx = 5
    words, probs = compmech.enumerate_words(hmm, n_ctx + 1)
    keep = probs > 0
    words, probs = words[keep], probs[keep]
    filtered = compmech.filter_beliefs(hmm, words)
    pred = filtered.next_token_probs[:, :-1, :]  # position t predicts x_{t+1}
    target = words[:, 1:]
    nll = -np.log(np.take_along_axis(pred, target[..., None], axis=-1)[..., 0])
    expected = probs @ nll
    np.testing.assert_allclose(optimal_cross_entropy_nats(hmm, n_ctx), expected, atol=1e-11)


def test_synchronization_profile_matches_filtered_beliefs():
    hmm = compmech.get_process("even")
    L = 6
    words, probs = compmech.enumerate_words(hmm, L)
    keep = probs > 0
    f = compmech.filter_beliefs(hmm, words[keep])
    per_pos = probs[keep] @ entropy_bits(f.beliefs)  # (L,)
    profile = synchronization_profile(hmm, L)
    assert profile[0] == pytest.approx(entropy_bits(hmm.stationary_distribution), abs=1e-14)
    np.testing.assert_allclose(profile[1:], per_pos, atol=1e-12)


def test_bad_lengths_raise():
    hmm = compmech.get_process("even")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="must be an integer"):
            myopic_entropy(hmm, bad)
    with pytest.raises(ValueError, match="n_ctx"):
        optimal_cross_entropy_nats(hmm, 0)


def test_level_cap_raises_with_advice():
    with pytest.raises(ValueError, match="max_nodes"):
        myopic_entropy(compmech.get_process("mess3"), 8, max_nodes=100)


# --------------------------------------------------------------------------- asymptotic measures
def _binary_entropy(p):
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


@pytest.mark.parametrize("p", [0.5, 0.3, 0.8])
def test_entropy_rates_derived_by_hand(p):
    # Golden mean and even: pi_A solves pi_A = p pi_A + pi_B with pi_B = (1 - p) pi_A, so
    # pi_A = 1 / (2 - p); only A is random, so h_mu = pi_A H_b(p).
    # Z1R: only SR (probability 1/3) is random, so h_mu = H_b(p) / 3.
    for name, expected in (("golden_mean", _binary_entropy(p) / (2 - p)),
                           ("even", _binary_entropy(p) / (2 - p)),
                           ("z1r", _binary_entropy(p) / 3)):
        rate = compmech.entropy_rate(compmech.get_process(name, p=p))
        assert rate.method == "unifilar" and rate.exact and rate.stderr_bits == 0.0
        assert rate.bits == pytest.approx(expected, abs=1e-13)
        assert rate.nats == pytest.approx(expected * np.log(2), abs=1e-13)


def test_golden_mean_excess_entropy_and_complexity_derived_by_hand():
    # Golden mean is Markov of order 1: h(L) = h_mu for L >= 2, so E = H(1) - h_mu with
    # P(X = 1) = pi_A (1 - p); its causal states are A, B, so C_mu = H_b(pi_A).
    p = 0.3
    hmm = compmech.get_process("golden_mean", p=p)
    pi_a = 1 / (2 - p)
    h_mu = pi_a * _binary_entropy(p)
    E = compmech.excess_entropy(hmm)
    assert E.converged and E.depth == 2 and E.stderr_bits == 0.0
    assert E.bits == pytest.approx(_binary_entropy(pi_a * (1 - p)) - h_mu, abs=1e-12)
    C = compmech.statistical_complexity(hmm)
    assert C.bits == pytest.approx(_binary_entropy(pi_a), abs=1e-12)
    assert C.num_causal_states == 2 and C.reason == ""


def test_excess_entropy_is_the_limit_of_block_entropy_minus_linear_growth():
    # E = lim_L H(L) - L h_mu; for the even process the terms decay geometrically.
    hmm = compmech.get_process("even")
    E = compmech.excess_entropy(hmm, tol=1e-12)
    assert E.converged
    assert E.lower_bound_bits <= E.bits and E.bits - E.lower_bound_bits < 1e-9
    L = 120
    H = block_entropy(hmm, L)
    assert E.bits == pytest.approx(H[-1] - L * E.entropy_rate.bits, abs=1e-10)


def test_blackwell_estimate_agrees_with_exact_rate_within_reported_error():
    hmm = compmech.get_process("even", p=0.3)
    exact = compmech.entropy_rate(hmm)
    est = compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(method="blackwell", num_points=400_000, seed=2))
    assert est.method == "blackwell" and not est.exact and est.num_points >= 400_000
    assert 0 < est.stderr_bits < 0.01
    assert abs(est.bits - exact.bits) < 4 * est.stderr_bits


def test_nonunifilar_finite_msp_rate_is_exact_and_equals_limit_of_myopic_entropy():
    # Non-unifilar (state 0 emits 1 to states 1 or 2) yet its MSP is finite: 3 mixed states.
    T = np.zeros((2, 3, 3))
    T[1, 0, 1] = T[1, 0, 2] = 0.5
    T[0, 1, 0] = T[1, 1, 2] = 0.5
    T[0, 2, 0] = T[1, 2, 1] = 0.5
    hmm = compmech.HMM(T)
    assert not hmm.is_unifilar
    rate = compmech.entropy_rate(hmm)
    assert rate.method == "msp" and rate.stderr_bits == 0.0
    assert rate.bits == pytest.approx(myopic_entropy(hmm, 12)[-1], abs=1e-12)


def _myopic_entropies_by_brute_force(T, pi, max_length):
    """h(1..L) from H(L) = -sum_w P(w) log2 P(w) over all V^L words, with
    P(w) = pi T[w_1] .. T[w_L] 1 by explicit products (one row per word, no merging)."""
    vectors, H = pi[None, :], [0.0]
    for _ in range(max_length):
        vectors = np.einsum("ns,xst->nxt", vectors, T).reshape(-1, T.shape[1])  # words in order
        H.append(entropy_bits(vectors.sum(axis=1)))
    return np.diff(H)


def test_mess3_rate_is_the_converged_limit_of_the_exact_myopic_entropies():
    # Issue 20: the Blackwell estimate (1.14505 +- 0.00022) was reported above h(10). The rate is
    # now the limit of the exact h(L), never above the rigorous bound h(L).
    hmm = compmech.get_process("mess3")
    h = _myopic_entropies_by_brute_force(hmm.transition_matrices, hmm.stationary_distribution, 13)
    np.testing.assert_allclose(h[8:12], [1.144726, 1.144719, 1.144718, 1.144717], atol=6e-7)
    rate = compmech.entropy_rate(hmm)
    assert rate.method == "myopic_limit" and not rate.exact and rate.stderr_bits == 0.0
    assert rate.bits <= h[11] and abs(rate.bits - 1.144717) < 1e-5
    assert rate.depth == 12 and rate.upper_bound_bits == pytest.approx(h[11], abs=1e-12)
    assert rate.extrapolation_bits == pytest.approx(rate.upper_bound_bits - rate.bits)
    # the geometric extrapolation lands below h(13) (never computed by it) and within its tail
    assert h[12] - 1e-7 < rate.bits < h[12]
    # the Blackwell estimate is computed only when asked for
    assert rate.num_points == 0 and np.isnan(rate.blackwell_bits) and rate.note == ""


def test_blackwell_estimate_is_reported_beside_the_limit_unclipped():
    hmm = compmech.get_process("mess3")
    rate = compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(blackwell=True, num_points=200_000, seed=0))
    alone = compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(method="blackwell", num_points=200_000, seed=0))
    assert rate.method == "myopic_limit" and rate.bits <= rate.upper_bound_bits
    assert rate.blackwell_bits == alone.bits and rate.blackwell_stderr_bits == alone.stderr_bits
    assert rate.num_points == alone.num_points >= 200_000
    assert abs(rate.blackwell_bits - rate.bits) < 4 * rate.blackwell_stderr_bits
    above = rate.blackwell_bits > rate.upper_bound_bits
    assert above == ("above the rigorous upper bound" in rate.note)


def test_rate_falls_back_to_blackwell_with_the_bound_beside_it_when_h_has_not_converged():
    hmm = compmech.get_process("mess3")
    h = _myopic_entropies_by_brute_force(hmm.transition_matrices, hmm.stationary_distribution, 7)
    # a level cap of 3^6 children stops the propagation after h(7), long before convergence
    rate = compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(max_nodes=3**6, num_points=100_000, seed=1))
    alone = compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(method="blackwell", num_points=100_000, seed=1))
    assert rate.method == "blackwell" and rate.stderr_bits > 0
    assert rate.bits == alone.bits and rate.blackwell_bits == rate.bits
    assert rate.depth == 7 and rate.upper_bound_bits == pytest.approx(h[-1], abs=1e-12)
    assert "not converged" in rate.note
    # a tolerance no h(L) meets: the estimate can land above the bound and is kept unclipped
    strict = compmech.entropy_rate(hmm, compmech.EntropyRateConfig(
        convergence_tol_bits=1e-13, max_nodes=3**12, num_points=200_000, seed=0))
    assert strict.method == "blackwell" and strict.depth == 13
    assert strict.bits == compmech.entropy_rate(
        hmm, compmech.EntropyRateConfig(method="blackwell", num_points=200_000, seed=0)).bits
    assert (strict.bits > strict.upper_bound_bits) == ("above the rigorous" in strict.note)


def test_non_ergodic_mixture_starts_the_myopic_entropies_from_its_stationary_mixture():
    # sum_k w_k pi_k is stationary, so h(L) from it bounds h_mu = sum_k w_k h_k from above.
    m = compmech.mixture([("mess3", {}), ("z1r", {})], [0.5, 0.5])
    assert not m.is_ergodic
    rate = compmech.entropy_rate(m, compmech.EntropyRateConfig(num_points=100_000, seed=0))
    expected = 0.5 * (compmech.entropy_rate(compmech.get_process("mess3")).bits + 1 / 3)
    assert rate.depth > 0 and rate.upper_bound_bits >= expected
    if rate.method == "blackwell":  # h(L) converge slowly while the component is inferred
        assert abs(rate.bits - expected) < 4 * rate.stderr_bits
    else:
        assert rate.method == "myopic_limit" and abs(rate.bits - expected) < 1e-4


def test_myopic_limit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="convergence_tol_bits"):
        compmech.myopic_limit(compmech.get_process("mess3"), convergence_tol_bits=0.0)


def test_mess3_excess_entropy_is_consistent_with_its_bounds():
    # With the Blackwell rate above h(L), E fell below its own rigorous lower bound (0.5669 vs
    # 0.5709); with the limit every term h(L) - h_mu is >= 0 and E >= the bound.
    hmm = compmech.get_process("mess3")
    rate = compmech.entropy_rate(hmm)
    E = compmech.excess_entropy(hmm, rate=rate)
    assert E.converged and E.stderr_bits == 0.0
    assert E.lower_bound_bits <= E.bits < E.lower_bound_bits + 1e-5
    assert rate.bits <= E.rate_upper_bound_bits
    assert E.rate_upper_bound_bits == pytest.approx(myopic_entropy(hmm, E.depth)[-1], abs=1e-12)
    C = compmech.statistical_complexity(hmm, max_states=300)
    assert C.bits is None and "infinite" in C.reason


def test_entropy_rate_config_refuses_bad_options_in_one_line():
    for bad, name in ((dict(method="magic"), "method"), (dict(num_points=0), "num_points"),
                      (dict(max_states=-1), "max_states"), (dict(max_length=0), "max_length"),
                      (dict(max_nodes=0), "max_nodes"), (dict(tol=-1e-9), "tol"),
                      (dict(convergence_tol_bits=0.0), "convergence_tol_bits")):
        with pytest.raises(ValueError, match=name) as info:
            compmech.EntropyRateConfig(**bad)
        assert "\n" not in str(info.value)


def test_entropy_rate_config_round_trips_and_keeps_the_old_defaults():
    from compmech.asymptotics import MYOPIC_CONVERGENCE_TOL_BITS
    from compmech.msp_graph import DEFAULT_TOL

    default = compmech.EntropyRateConfig()
    assert default == compmech.EntropyRateConfig(
        method="auto", blackwell=False, num_points=1_000_000, seed=0, tol=DEFAULT_TOL,
        max_states=10_000, convergence_tol_bits=MYOPIC_CONVERGENCE_TOL_BITS, max_length=256,
        max_nodes=None)
    custom = compmech.EntropyRateConfig(method="blackwell", num_points=5_000, seed=3, max_nodes=81)
    assert compmech.EntropyRateConfig.from_dict(custom.to_dict()) == custom
    assert compmech.EntropyRateConfig.from_dict(default.to_dict()) == default
    # no config and the default config are the same computation
    mess3 = compmech.get_process("mess3")
    implicit, explicit = compmech.entropy_rate(mess3), compmech.entropy_rate(mess3, default)
    assert (implicit.method, implicit.bits, implicit.depth) == (
        explicit.method, explicit.bits, explicit.depth) == ("myopic_limit", implicit.bits, 12)
