"""Tests of the process catalogue: canonical forms against SCIENCE.md, registry errors."""

import numpy as np
import pytest

from compmech import PROCESSES, enumerate_words, get_process, process_parameters
from compmech.processes import even, golden_mean, mess3, random_hmm, rrxor, z1r

TOL = 1e-15


# ------------------------------------------------------------------------------ canonical forms
@pytest.mark.parametrize("x,alpha", [(0.05, 0.85), (0.15, 0.6), (0.1, 1.0), (0.5, 0.0)])
def test_mess3_matches_formula(x, alpha):
    b = (1 - alpha) / 2
    y = 1 - 2 * x
    expected = np.zeros((3, 3, 3))
    for e in range(3):
        for i in range(3):
            for j in range(3):
                expected[e, i, j] = (y if i == j else x) * (alpha if e == j else b)
    hmm = mess3(x=x, alpha=alpha)
    np.testing.assert_allclose(hmm.transition_matrices, expected, rtol=0, atol=TOL)
    assert hmm.params == {"x": x, "alpha": alpha}


def test_mess3_x_zero_is_rejected_as_non_ergodic():
    # x = 0: the hidden state never changes, so every distribution is stationary.
    with pytest.raises(ValueError, match=r"x must be in \(0, 0.5\].*not ergodic"):
        mess3(x=0.0)


def test_mess3_defaults_are_paper_values():
    assert process_parameters("mess3") == {"x": 0.05, "alpha": 0.85}
    hmm = get_process("mess3")
    # T[0, 0, 0] = y * alpha = 0.9 * 0.85; T[1, 0, 2] = x * b = 0.05 * 0.075
    assert abs(hmm.transition_matrices[0, 0, 0] - 0.9 * 0.85) < TOL
    assert abs(hmm.transition_matrices[1, 0, 2] - 0.05 * 0.075) < TOL
    assert abs(hmm.transition_matrices[2, 1, 2] - 0.05 * 0.85) < TOL


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_z1r_matches_definition(p):
    S0, S1, SR = 0, 1, 2
    expected = np.zeros((2, 3, 3))
    expected[0, S0, S1] = 1.0
    expected[1, S1, SR] = 1.0
    expected[0, SR, S0] = p
    expected[1, SR, S0] = 1 - p
    hmm = z1r(p)
    np.testing.assert_allclose(hmm.transition_matrices, expected, rtol=0, atol=TOL)
    assert tuple(hmm.state_names) == ("S0", "S1", "SR")


@pytest.mark.parametrize("p1,p2", [(0.5, 0.5), (0.2, 0.7)])
def test_rrxor_matches_definition(p1, p2):
    """Word probabilities from S against the definition: two bits with P(0) = p1 then P(0) = p2,
    then their XOR, then the same again (derived by hand, not from the matrices)."""
    hmm = rrxor(p1, p2)
    start = np.eye(5)[0]
    words, probs = enumerate_words(hmm, 6, initial_distribution=start)
    expected = np.ones(len(words))
    for block in (0, 3):
        a, b, c = words[:, block], words[:, block + 1], words[:, block + 2]
        expected *= np.where(a == 0, p1, 1 - p1) * np.where(b == 0, p2, 1 - p2) * (c == a ^ b)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=TOL)
    # stationary words mix the three phases of the cycle (a, b, a^b), each with probability 1/3
    words3, probs3 = enumerate_words(hmm, 3)
    bit = lambda w, q: np.where(w == 0, q, 1 - q)  # noqa: E731
    x, y, z = words3.T
    xor_zero = p1 * p2 + (1 - p1) * (1 - p2)
    at_s = bit(x, p1) * bit(y, p2) * (z == x ^ y)                               # a b a^b
    after_a = sum(bit(a, p1) * bit(x, p2) * (y == a ^ x) for a in (0, 1)) * bit(z, p1)  # b a^b a'
    after_b = np.where(x == 0, xor_zero, 1 - xor_zero) * bit(y, p1) * bit(z, p2)  # a^b a' b'
    np.testing.assert_allclose(probs3, (at_s + after_a + after_b) / 3, rtol=0, atol=TOL)
    assert tuple(hmm.state_names) == ("S", "0", "1", "T", "F")


@pytest.mark.parametrize("p1,p2", [(0.5, 0.5), (0.2, 0.7)])
def test_rrxor_third_symbol_is_xor(p1, p2):
    """From S, every word of length 6 with x3 != x1 ^ x2 or x6 != x4 ^ x5 has probability 0."""
    hmm = rrxor(p1, p2)
    start = np.eye(5)[0]
    words, probs = enumerate_words(hmm, 6, initial_distribution=start)
    violates = (words[:, 2] != words[:, 0] ^ words[:, 1]) | (words[:, 5] != words[:, 3] ^ words[:, 4])
    assert violates.sum() == 64 - 16
    assert (probs[violates] == 0).all()
    # The free bits: bit 1 is 0 w.p. p1, bit 2 is 0 w.p. p2, independently.
    def bit_prob(a, b):
        return (p1 if a == 0 else 1 - p1) * (p2 if b == 0 else 1 - p2)

    for w, p in zip(words[~violates], probs[~violates], strict=True):
        expected = bit_prob(w[0], w[1]) * bit_prob(w[3], w[4])
        assert abs(p - expected) < 1e-12


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_even_matches_definition(p):
    A, B = 0, 1
    expected = np.zeros((2, 2, 2))
    expected[0, A, A] = p
    expected[1, A, B] = 1 - p
    expected[1, B, A] = 1.0
    np.testing.assert_allclose(even(p).transition_matrices, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_golden_mean_matches_definition(p):
    A, B = 0, 1
    expected = np.zeros((2, 2, 2))
    expected[0, A, A] = p
    expected[1, A, B] = 1 - p
    expected[0, B, A] = 1.0
    np.testing.assert_allclose(golden_mean(p).transition_matrices, expected, rtol=0, atol=TOL)


def test_golden_mean_never_two_ones_even_ones_in_even_blocks():
    words, probs = enumerate_words(golden_mean(0.4), 6)
    has_11 = np.array([any(w[k] == 1 and w[k + 1] == 1 for k in range(5)) for w in words])
    assert (probs[has_11] == 0).all() and (probs[~has_11] > 0).all()
    # Even process from A: a block of 1s bounded by 0s always has even length.
    words, probs = enumerate_words(even(0.4), 6, initial_distribution=np.array([1.0, 0.0]))
    for w, p in zip(words, probs, strict=True):
        s = "".join(map(str, w))
        inner = s.split("0")[1:-1] if s.count("0") >= 2 else []
        if p > 0:
            assert all(len(block) % 2 == 0 for block in inner), s


def test_other_catalogue_processes_valid():
    for name in PROCESSES:
        hmm = get_process(name)
        T = hmm.transition_matrices
        assert (T >= 0).all()
        np.testing.assert_allclose(T.sum(axis=(0, 2)), 1.0, rtol=0, atol=1e-12)
        assert hmm.num_states >= 1 and hmm.vocab_size >= 1


# --------------------------------------------------------------------------------- random_hmm
def test_random_hmm_deterministic_by_seed():
    a = random_hmm(4, 3, seed=11)
    b = get_process("random_hmm", num_states=4, vocab_size=3, seed=11)
    c = random_hmm(4, 3, seed=12)
    np.testing.assert_array_equal(a.transition_matrices, b.transition_matrices)
    assert not np.allclose(a.transition_matrices, c.transition_matrices)
    assert a.transition_matrices.shape == (3, 4, 4)
    np.testing.assert_allclose(a.transition_matrices.sum(axis=(0, 2)), 1.0, rtol=0, atol=1e-12)
    assert a.params["seed"] == 11


@pytest.mark.parametrize("kw,match", [
    ({"num_states": 0}, "num_states"),
    ({"vocab_size": 0}, "vocab_size"),
    ({"num_states": 2.5}, "num_states"),
    ({"concentration": 0.0}, "concentration"),
])
def test_random_hmm_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        random_hmm(**kw)


# ---------------------------------------------------------------------------------- registry
def test_registry_contains_required_processes():
    for name in ("z1r", "mess3", "rrxor", "even", "golden_mean"):
        assert name in PROCESSES


def test_process_parameters_names():
    assert process_parameters("z1r") == {"p": 0.5}
    assert process_parameters("rrxor") == {"p1": 0.5, "p2": 0.5}
    assert process_parameters("even") == {"p": 0.5}
    assert process_parameters("golden_mean") == {"p": 0.5}


def test_get_process_passes_parameters():
    hmm = get_process("mess3", x=0.15, alpha=0.6)
    np.testing.assert_array_equal(hmm.transition_matrices, mess3(0.15, 0.6).transition_matrices)
    assert hmm.params == {"x": 0.15, "alpha": 0.6}


def test_unknown_process_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown process 'mess4'") as info:
        get_process("mess4")
    for name in ("z1r", "mess3", "rrxor", "even", "golden_mean"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="valid processes"):
        process_parameters("nope")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ValueError, match="has no parameter beta") as info:
        get_process("mess3", beta=0.1)
    assert "x=0.05" in str(info.value) and "alpha=0.85" in str(info.value)
    with pytest.raises(ValueError, match="valid parameters: p="):
        get_process("z1r", q=0.1)


@pytest.mark.parametrize("name,params,match", [
    ("z1r", {"p": 1.5}, "parameter p"),
    ("z1r", {"p": -0.1}, "parameter p"),
    ("z1r", {"p": float("nan")}, "parameter p"),
    ("mess3", {"x": 0.6}, "parameter x"),
    ("mess3", {"x": -0.01}, "parameter x"),
    ("mess3", {"alpha": 1.2}, "parameter alpha"),
    ("rrxor", {"p1": -0.1}, "parameter p1"),
    ("rrxor", {"p2": 2.0}, "parameter p2"),
    ("even", {"p": 0.0}, "parameter p"),
    ("even", {"p": 1.0}, "parameter p"),
    ("golden_mean", {"p": 1.0}, "parameter p"),
    ("generalized_golden_mean", {"num_ones": 0}, "num_ones"),
])
def test_out_of_range_parameter(name, params, match):
    with pytest.raises(ValueError, match=match):
        get_process(name, **params)
