"""The decay of a constrained belief update: which single ``rho`` lets attention-like averaging work.

Piotrowski et al. (2025) read a transformer's first attention layer as a constrained, parallel
belief update. Keeping the first order in the emission terms, token ``s`` reaches position ``t``
with weight ``lambda^(t - s)``, ``lambda`` the repeated non-unit eigenvalue of ``M = sum_x T[x]``
(:func:`compmech.spectrum.leading_decay_rate`; Mess3: ``1 - 3x``). That is the weak-emission limit:
with informative emissions later tokens screen earlier ones and a shorter memory serves better.

:func:`constrained_decay` asks the question directly. The **constrained update** with decay ``rho``
sees, at position ``t`` (after tokens ``x_1 .. x_t``), only the discounted average of one-hot tokens

    a_t(rho) = sum_{s <= t} rho^(t - s) e_{x_s} / sum_{s <= t} rho^(t - s)       (a point of the simplex)

and reads the belief out as a polynomial of degree ``<= degree`` in ``a_t`` (all monomials of its
first ``V - 1`` coordinates; the last is ``1 -`` their sum), with coefficients free per position
``t`` and current token ``x_t`` (the current token also arrives through the residual stream, and
each position has its own read-out). ``rho*`` minimises the belief MSE of the best such read-out
(weighted least squares), over every word of length ``n_ctx`` at every position. Including
``s = t`` in the average or not changes nothing: given ``(t, x_t)`` the two averages are affine
functions of each other.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from compmech.inference import all_words, filter_beliefs
from compmech.spectrum import leading_decay_rate

#: The default grid of decays: 0.025, 0.05, ..., 1.0.
DEFAULT_RHO_GRID = np.arange(1, 41) / 40.0
#: Singular values below this times the largest (per position and token) count as zero.
LSTSQ_RTOL = 1e-10
#: Predicted next-token probabilities are floored at this before normalising (for the KL).
PROBABILITY_FLOOR = 1e-9
WEIGHTINGS = ("uniform", "stationary")


class ConstrainedDecay(NamedTuple):
    """The best single decay of a constrained belief update (see :func:`constrained_decay`).

    Attributes:
        rho: ``rho*``, the grid decay with the smallest belief MSE.
        rho_cross_entropy: the grid decay whose read-out (fitted by MSE) gives the smallest
            next-token KL divergence from the true ``P(. | eta)``.
        rho_grid: ``(G,)`` decays tried.
        belief_mse: ``(G,)`` weighted mean over points of ``sum_i (eta_hat_i - eta_i)^2``.
        kl_bits: ``(G,)`` weighted mean of ``KL(P(. | eta) || q)``, ``q`` the read-out belief's
            next-token distribution ``eta_hat E``, floored at :data:`PROBABILITY_FLOOR` and
            renormalised (bits).
        lam: ``lambda``, the real part of the largest-modulus non-unit eigenvalue of ``M`` (the
            weak-emission prediction).
        degree: polynomial degree of the read-out.
        n_ctx: word length.
        weighting: ``"uniform"`` (every possible word equally) or ``"stationary"`` (by its
            probability).
    """

    rho: float
    rho_cross_entropy: float
    rho_grid: np.ndarray
    belief_mse: np.ndarray
    kl_bits: np.ndarray
    lam: float
    degree: int
    n_ctx: int
    weighting: str


def monomial_exponents(num_vars: int, degree: int) -> np.ndarray:
    """``(F, num_vars)`` exponents of every monomial of total degree ``<= degree`` (constant first)."""
    exps = [e for e in itertools.product(range(degree + 1), repeat=num_vars) if sum(e) <= degree]
    return np.array(sorted(exps, key=lambda e: (sum(e), tuple(-k for k in e))), dtype=np.int64)


def discounted_averages(words: np.ndarray, vocab_size: int, rho: float) -> np.ndarray:
    """``(N, L, V)`` ``a_t = sum_{s<=t} rho^(t-s) e_{x_s} / sum_{s<=t} rho^(t-s)`` for every position."""
    N, L = words.shape
    onehot = np.eye(vocab_size)[words]  # (N, L, V)
    out = np.empty_like(onehot)
    acc = np.zeros((N, vocab_size))
    norm = 0.0
    for t in range(L):  # loop over positions only, vectorised over words
        acc = rho * acc + onehot[:, t]
        norm = rho * norm + 1.0
        out[:, t] = acc / norm
    return out


def _features(avg: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """``(..., V) -> (..., F)`` monomials of the first ``V - 1`` coordinates."""
    return np.prod(avg[..., None, :-1] ** exps, axis=-1)


def _group_fit(phi: np.ndarray, targets: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares per group, batched: ``phi (G, n, F)``, ``targets (G, n, S)``,
    ``w (G, n)`` -> fitted values ``(G, n, S)`` (minimum-norm solution where rank deficient)."""
    sw = np.sqrt(w)[..., None]
    U, s, Vh = np.linalg.svd(sw * phi, full_matrices=False)
    keep = s > LSTSQ_RTOL * s.max(axis=-1, keepdims=True)
    inv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    coef = np.swapaxes(Vh, -1, -2) @ (inv[..., None] * (np.swapaxes(U, -1, -2) @ (sw * targets)))
    return phi @ coef


def constrained_update_losses(words, targets, word_weights, vocab_size: int, rho_grid, *,
                              degree: int = 3, emission=None):
    """Belief MSE (and next-token KL) of the best constrained update, for each decay in a grid.

    Args:
        words: ``(V**L, L)`` every word of length ``L`` in lexicographic order
            (:func:`compmech.all_words`); prefixes are read off it, so each prefix is fitted once.
        targets: ``(V**L, L, S)`` the belief at each position (finite; anything where the weight
            is zero).
        word_weights: ``(V**L,)`` non-negative weights; a prefix's weight is the sum over the
            words that extend it, and every position carries the same total weight.
        vocab_size: ``V``.
        rho_grid: ``(G,)`` decays in ``(0, 1]``.
        degree: polynomial degree of the read-out (``>= 0``).
        emission: optional ``(S, V)`` ``E``; when given, also the next-token KL (bits).

    Returns:
        ``(belief_mse (G,), kl_bits (G,) or None)``.
    """
    words, targets, w_words, rhos = _checked(words, targets, word_weights, vocab_size, rho_grid,
                                             degree)
    N, L = words.shape
    V = int(vocab_size)
    exps = monomial_exponents(V - 1, degree)
    w_words = w_words / (w_words.sum() * L)  # each position carries weight 1 / L
    mse = np.zeros(len(rhos))
    kl = np.zeros(len(rhos)) if emission is not None else None
    for g, rho in enumerate(rhos):
        avg = discounted_averages(words, V, float(rho))
        for t in range(L):
            n_prefix = V ** (t + 1)
            stride = N // n_prefix
            w = w_words.reshape(n_prefix, stride).sum(axis=1)  # (V^(t+1),)
            # prefix p = q V + x_t: grouping by the current token is a reshape
            y = _by_token(targets[::stride, t], V)
            wg = _by_token(w, V)
            fitted = _group_fit(_by_token(_features(avg[::stride, t], exps), V), y, wg)
            mse[g] += float(np.sum(wg * np.sum((fitted - y) ** 2, axis=-1)))
            if kl is not None:
                kl[g] += _kl_bits(y @ emission, fitted @ emission, wg)
    return mse, kl


def _by_token(a: np.ndarray, V: int) -> np.ndarray:
    """``(V**(t+1), ...) -> (V, V**t, ...)``: prefixes grouped by their last token (prefix index
    ``q V + x`` in lexicographic order)."""
    return np.swapaxes(a.reshape(a.shape[0] // V, V, *a.shape[1:]), 0, 1)


def _kl_bits(p: np.ndarray, q_raw: np.ndarray, w: np.ndarray) -> float:
    q = np.maximum(q_raw, PROBABILITY_FLOOR)
    q = q / q.sum(axis=-1, keepdims=True)
    terms = np.where(p > 0, p * (np.log2(np.where(p > 0, p, 1.0)) - np.log2(q)), 0.0)
    return float(np.sum(w * terms.sum(axis=-1)))


def _checked(words, targets, word_weights, vocab_size, rho_grid, degree):
    words = np.asarray(words)
    if words.ndim != 2 or int(vocab_size) < 2:
        raise ValueError(f"words must be (V**L, L) with V >= 2; got shape {words.shape}")
    N, L = words.shape
    if N != int(vocab_size) ** L or not np.array_equal(words, all_words(int(vocab_size), L)):
        raise ValueError(f"words must be all {vocab_size}**{L} words in lexicographic order "
                         "(compmech.all_words)")
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim != 3 or targets.shape[:2] != (N, L) or not np.isfinite(targets).all():
        raise ValueError(f"targets must be a finite ({N}, {L}, S) array; got {targets.shape}")
    w = np.asarray(word_weights, dtype=np.float64)
    if w.shape != (N,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"word_weights must be ({N},) non-negative with a positive sum")
    rhos = np.asarray(rho_grid, dtype=np.float64).ravel()
    if rhos.size == 0 or not ((rhos > 0) & (rhos <= 1)).all():
        raise ValueError(f"rho_grid must be non-empty with every decay in (0, 1]; got {rhos}")
    if int(degree) != degree or degree < 0:
        raise ValueError(f"degree must be an integer >= 0; got {degree}")
    return words, targets, w, rhos


def constrained_decay(hmm, n_ctx: int, *, weighting: str = "uniform", degree: int = 3,
                      rho_grid=None) -> ConstrainedDecay:
    """The single decay ``rho*`` with which a constrained update best reconstructs the belief.

    Read-out class: at position ``t`` (belief after ``x_1 .. x_t``, ``t = 1 .. n_ctx``), a
    polynomial of degree ``<= degree`` in the ``rho``-discounted average of the one-hot tokens
    ``x_1 .. x_t``, coefficients free per ``(t, x_t)`` (module docstring). Criterion: belief MSE
    (squared error summed over the ``S`` belief coordinates), weighted over every word of length
    ``n_ctx`` at every position (positions equally). Also reported: the decay whose read-out gives
    the smallest next-token KL (``rho_cross_entropy``; the read-out is the MSE fit), and ``lambda``.
    Every word is enumerated once (``V**n_ctx``); each grid decay costs one batched least-squares
    solve per position.

    Args:
        hmm: an HMM (or GHMM: the MSE is then in its presentation's coordinates).
        n_ctx: word length ``>= 1``.
        weighting: ``"uniform"`` (every possible word equally, as the probe of all words of a
            length sees them) or ``"stationary"`` (by word probability).
        degree: polynomial degree of the read-out.
        rho_grid: decays in ``(0, 1]``; default :data:`DEFAULT_RHO_GRID`.

    Returns:
        :class:`ConstrainedDecay`.

    Example:
        >>> import compmech
        >>> r = compmech.constrained_decay(compmech.get_process("mess3", x=0.05, alpha=0.45), 6)
        >>> round(r.lam, 3), 0.8 <= r.rho <= 0.9
        (0.85, True)
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}; got {weighting!r}")
    if int(n_ctx) != n_ctx or n_ctx < 1:
        raise ValueError(f"n_ctx must be an integer >= 1; got {n_ctx}")
    grid = DEFAULT_RHO_GRID if rho_grid is None else np.asarray(rho_grid, dtype=np.float64).ravel()
    words = all_words(hmm.vocab_size, int(n_ctx))
    filtered = filter_beliefs(hmm, words, allow_impossible=True)
    possible = filtered.possible.all(axis=-1)
    weights = possible.astype(np.float64)
    if weighting == "stationary":
        weights = np.where(possible, np.exp(np.where(possible, filtered.log_probability, 0.0)), 0.0)
    beliefs = np.where(possible[:, None, None], filtered.beliefs, 0.0)
    mse, kl = constrained_update_losses(words, beliefs, weights, hmm.vocab_size, grid,
                                        degree=degree, emission=hmm.emission_probabilities)
    grid = np.array(grid, dtype=np.float64)
    return ConstrainedDecay(float(grid[np.argmin(mse)]), float(grid[np.argmin(kl)]), grid, mse, kl,
                            leading_decay_rate(hmm), int(degree), int(n_ctx), weighting)


__all__ = [
    "DEFAULT_RHO_GRID",
    "ConstrainedDecay",
    "constrained_decay",
    "constrained_update_losses",
    "discounted_averages",
    "monomial_exponents",
]
