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


def _block_entropy_by_enumeration(hmm, length):
    _, probs = compmech.enumerate_words(hmm, length)
    probs = probs[probs > 0]
    return float(-(probs * np.log2(probs)).sum())


@pytest.mark.parametrize("name", CATALOGUE)
def test_block_and_myopic_entropy_match_word_enumeration(name):
    hmm = compmech.get_process(name)
    L = 5
    brute_H = np.array([_block_entropy_by_enumeration(hmm, k) for k in range(1, L + 1)])
    np.testing.assert_allclose(block_entropy(hmm, L), brute_H, rtol=0, atol=1e-11)
    brute_h = np.diff(np.concatenate([[0.0], brute_H]))
    np.testing.assert_allclose(myopic_entropy(hmm, L), brute_h, rtol=0, atol=1e-11)


def test_myopic_entropy_from_non_stationary_start_matches_enumeration():
    hmm = compmech.get_process("random_hmm", num_states=4, vocab_size=3, seed=3)
    init = np.array([0.7, 0.1, 0.2, 0.0])
    L = 4
    brute = []
    for k in range(1, L + 1):
        _, p = compmech.enumerate_words(hmm, k, initial_distribution=init)
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
