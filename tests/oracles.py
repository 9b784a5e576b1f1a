"""Independent brute-force computations shared by the GHMM and composition tests.

Everything here is plain numpy written from the definitions (explicit matrix products over every
word, one word at a time), with no call into compmech, so the fast code is checked against it.
"""

import itertools

import numpy as np


def word_vector(T, eta0, word):
    """``eta0 T[w_1] ... T[w_L]`` by explicit products."""
    v = np.array(eta0, dtype=np.float64)
    for x in word:
        v = v @ T[x]
    return v


def word_probability(T, eta0, r, word):
    """``P(w) = eta0 T[w_1] ... T[w_L] r``."""
    return float(word_vector(T, eta0, word) @ r)


def all_word_probabilities(T, eta0, r, length):
    """``{word: P(word)}`` for every word of ``length`` tokens (lexicographic order)."""
    V = T.shape[0]
    return {w: word_probability(T, eta0, r, w) for w in itertools.product(range(V), repeat=length)}


def belief_after(T, eta0, r, word):
    """``eta0 T[w] / (eta0 T[w] r)``."""
    v = word_vector(T, eta0, word)
    return v / (v @ r)


def random_stochastic(num_states, vocab_size, rng, concentration=1.0):
    """A random ``(V, S, S)`` stochastic array, every row a Dirichlet draw (all entries > 0)."""
    rows = rng.dirichlet(np.full(vocab_size * num_states, concentration), size=num_states)
    return rows.reshape(num_states, vocab_size, num_states).transpose(1, 0, 2)


def stationary(M):
    """Left eigenvector of ``M`` for eigenvalue 1, normalised to sum 1 (ergodic ``M``)."""
    w, vecs = np.linalg.eig(M.T)
    pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    return pi / pi.sum()


def random_basis(num_states, rng, scale=0.4):
    """A well-conditioned random invertible ``(S, S)`` matrix ``I + scale * N(0, 1)``."""
    while True:
        A = np.eye(num_states) + scale * rng.standard_normal((num_states, num_states))
        if np.linalg.cond(A) < 20:
            return A


def basis_changed(T, pi, A):
    """``(T', mu', r')`` with ``T' = A^-1 T A``, ``mu' = pi A``, ``r' = A^-1 1``."""
    A_inv = np.linalg.inv(A)
    T2 = np.stack([A_inv @ Tx @ A for Tx in T])
    return T2, pi @ A, A_inv @ np.ones(T.shape[1])


def entropy_bits(p):
    p = np.asarray(p, dtype=np.float64)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def hidden_path_probability(T, pi, word):
    """``P(w) = sum over hidden paths s_0..s_L of pi[s_0] prod_t T[w_t, s_{t-1}, s_t]``: every
    path enumerated explicitly (vectorised over paths, not a matrix product)."""
    T = np.asarray(T, dtype=np.float64)
    S = T.shape[1]
    L = len(word)
    paths = np.indices((S,) * (L + 1)).reshape(L + 1, -1)  # (L + 1, S**(L + 1))
    weight = np.asarray(pi, dtype=np.float64)[paths[0]]
    for t, x in enumerate(word):
        weight = weight * T[x, paths[t], paths[t + 1]]
    return float(weight.sum())


def kraus_word_probability(kraus, rho, word):
    """``tr(K_w rho K_w^dagger)`` with ``K_w = K_{w_L} ... K_{w_1}`` (a quantum instrument)."""
    state = np.asarray(rho, dtype=complex)
    for x in word:
        state = kraus[x] @ state @ kraus[x].conj().T
    return float(np.trace(state).real)
