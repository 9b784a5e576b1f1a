"""The prediction-blind part of a belief: what the next-token distribution cannot see.

For a process (HMM or GHMM) with right eigenvector ``r`` (all ones for an HMM), let
``E[i, x] = (T[x] r)_i`` (:attr:`emission_probabilities`), so that the next-token distribution is
linear in the belief, ``P(. | eta) = eta E``. A belief-plane direction ``v`` (``v . r = 0``) with
``v E = 0`` moves the belief without moving the prediction: the **prediction-blind subspace**.
Because ``E 1 = M r = r``, every ``v`` with ``v E = 0`` already satisfies ``v . r = 0``, so the
subspace is the left null space of ``E`` and its dimension is ``S - rank(E)`` (Mess3 and
tom_quantum 0, RRXOR 3, Z1R 1, fanizza 2). Under a change of basis ``T -> A^-1 T A`` the matrix
``E`` becomes ``A^-1 E``, so the dimension is a property of the process, not of its presentation.

:func:`prediction_blind_share` measures how much of a cloud of beliefs the next-token
distribution leaves unexplained, in a metric that does not depend on the presentation: beliefs
are compared through the distributions they assign to the next ``L`` tokens (see there).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Singular values of ``E`` (or of a data matrix) below ``RANK_RTOL`` times the largest count as 0.
RANK_RTOL = 1e-10
#: The future-word embedding of :func:`prediction_blind_share` uses at most this many words.
MAX_HORIZON_WORDS = 1 << 16


class BlindSubspace(NamedTuple):
    """The prediction-blind subspace of a process.

    Attributes:
        basis: ``(d, S)`` float64, orthonormal rows ``v`` with ``v E = 0`` (hence ``v . r = 0``);
            ``(0, S)`` when the next-token distribution sees the whole belief plane.
        dimension: ``d = S - rank(E)``.
        emission_rank: ``rank(E)``, the dimension of the span of next-token distributions' moves
            plus one (the plane's offset).
        singular_values: ``(min(S, V),)`` singular values of ``E``, descending (the rank decision).
    """

    basis: np.ndarray
    dimension: int
    emission_rank: int
    singular_values: np.ndarray


class BlindShare(NamedTuple):
    """How much of a belief cloud the next-token distribution leaves unexplained.

    Attributes:
        share: ``1 - R^2`` of the beliefs regressed (weighted, with intercept) on ``P(. | eta)``,
            with both residual and total variance measured in the future-word metric
            ``||(eta - eta') Phi_L||^2`` (presentation invariant); 0 when the prediction explains
            the belief, up to 1. NaN when the beliefs do not vary.
        horizon: ``L``, the number of future tokens whose joint distribution defines the metric.
        whitened_share: ``1 - R^2`` in the metric of the beliefs' own covariance (``1 -
            tr(C^+ Sigma_res) / k``-style, ``k`` the rank of ``C``). Also invariant, but since the
            prediction is an exact linear function of the belief it is always the integer ratio
            ``(k - rank of the predictions' covariance) / k``: a dimension count, not a share of
            variance. Reported so the two are not confused.
        residual_variance: weighted mean of ``||res Phi_L||^2``.
        total_variance: weighted mean of ``||(eta - mean) Phi_L||^2``.
    """

    share: float
    horizon: int
    whitened_share: float
    residual_variance: float
    total_variance: float


def _emission(process) -> np.ndarray:
    return np.asarray(process.emission_probabilities, dtype=np.float64)


def prediction_blind_subspace(process, *, rtol: float = RANK_RTOL) -> BlindSubspace:
    """The belief-plane directions the next-token distribution cannot see.

    ``{v : v . r = 0, v E = 0}`` with ``E[i, x] = (T[x] r)_i``; computed as the left singular
    vectors of ``E`` whose singular values are at most ``rtol`` times the largest.

    Args:
        process: an :class:`compmech.HMM` or :class:`compmech.GHMM` (mixtures and products too).
        rtol: relative singular-value cut-off of the rank decision.

    Returns:
        :class:`BlindSubspace`; ``.basis`` is ``(d, S)`` with orthonormal rows.

    Example:
        >>> import compmech
        >>> compmech.prediction_blind_subspace(compmech.get_process("rrxor")).dimension
        3
        >>> compmech.prediction_blind_subspace(compmech.get_process("mess3")).dimension
        0
    """
    if not 0.0 < rtol < 1.0:
        raise ValueError(f"rtol must be in (0, 1); got {rtol}")
    E = _emission(process)
    U, s, _ = np.linalg.svd(E, full_matrices=True)
    rank = int(np.count_nonzero(s > rtol * s.max())) if s.size and s.max() > 0 else 0
    basis = np.ascontiguousarray(U[:, rank:].T)
    basis.setflags(write=False)
    return BlindSubspace(basis, int(basis.shape[0]), rank, s)


def future_word_embedding(process, horizon: int) -> np.ndarray:
    """``(S, V**L)`` ``Phi_L[:, w] = T[w_1] ... T[w_L] r``: ``eta Phi_L = P(next L tokens | eta)``.

    Presentation invariant: under ``T -> A^-1 T A`` (``eta -> eta A``, ``r -> A^-1 r``),
    ``Phi_L -> A^-1 Phi_L`` and ``eta Phi_L`` is unchanged. Words in lexicographic order.
    """
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1; got {horizon}")
    if process.vocab_size ** int(horizon) > MAX_HORIZON_WORDS:
        raise ValueError(f"horizon {horizon} gives {process.vocab_size ** int(horizon):.3g} words, "
                         f"more than {MAX_HORIZON_WORDS}; pass a shorter horizon")
    T = np.asarray(process.transition_matrices, dtype=np.float64)
    phi = _emission(process)  # (S, V): words of length 1
    for _ in range(int(horizon) - 1):
        # (V, S, S) @ (S, W) -> (V, S, W) -> (S, V * W), first token most significant.
        phi = np.einsum("xij,jw->ixw", T, phi).reshape(T.shape[1], -1)
    return phi


def observability_horizon(process, *, rtol: float = RANK_RTOL) -> int:
    """The smallest ``L`` at which ``rank(Phi_L)`` stops growing (the span of ``T[w] r`` over
    words of length ``<= L`` is then closed under every ``T[x]``); at most ``S``."""
    previous = -1
    for L in range(1, process.num_states + 1):
        if process.vocab_size**L > MAX_HORIZON_WORDS:
            return L - 1
        s = np.linalg.svd(future_word_embedding(process, L), compute_uv=False)
        rank = int(np.count_nonzero(s > rtol * s.max()))
        if rank == previous:
            return L - 1
        previous = rank
    return process.num_states


def _weighted_centered(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.sqrt(w)[:, None] * (X - w @ X)


def _column_space(X: np.ndarray, atol: float) -> np.ndarray:
    """Orthonormal basis of the span of ``X``'s columns (singular values above ``atol``)."""
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    return U[:, s > atol]


def prediction_blind_share(beliefs, weights, process, *, horizon: int | None = None,
                           rtol: float = 1e-9) -> BlindShare:
    """The share of belief variance that the next-token distribution does not explain.

    Regress the beliefs ``eta`` (weighted least squares, with intercept) on the predictions
    ``p = eta E``; the residual ``res`` is the part of each belief that no affine function of its
    own next-token distribution recovers. Both the residual and the total spread are measured
    through the joint distribution of the next ``L`` tokens, ``f = eta Phi_L``
    (:func:`future_word_embedding`):

        share = sum_n w_n ||res_n Phi_L||^2 / sum_n w_n ||(eta_n - eta_bar) Phi_L||^2.

    Since ``f`` is linear in ``eta`` this equals ``1 - R^2`` of ``f`` regressed on ``p``. It is
    invariant under any change of basis of a GHMM (``eta -> eta A``, ``Phi_L -> A^-1 Phi_L``,
    ``p`` unchanged), unlike an ``R^2`` in plane coordinates. For Mess3 (``E`` invertible) it is
    0. The default ``L`` is :func:`observability_horizon` (the shortest future that tells apart
    every pair of beliefs the process can tell apart at all).

    Args:
        beliefs: ``(N, S)`` beliefs (``eta r = 1``).
        weights: ``(N,)`` non-negative weights (normalised here), e.g. word probabilities, or
            ``None`` for equal weights.
        process: the HMM or GHMM the beliefs belong to.
        horizon: ``L``; default :func:`observability_horizon`.
        rtol: relative singular-value cut-off for the rank decisions of the regression.

    Returns:
        :class:`BlindShare`.
    """
    X = np.asarray(beliefs, dtype=np.float64)
    S = process.num_states
    if X.ndim != 2 or X.shape[1] != S or not np.isfinite(X).all():
        raise ValueError(f"beliefs must be a finite (N, {S}) array; got shape {X.shape}")
    N = X.shape[0]
    w = np.full(N, 1.0 / N) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (N,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be ({N},) non-negative with a positive sum")
    w = w / w.sum()
    L = observability_horizon(process) if horizon is None else int(horizon)
    phi = future_word_embedding(process, L)
    Xc = _weighted_centered(X, w)  # (N, S), sqrt(w)-scaled and centred
    E = _emission(process)
    scale = np.linalg.norm(Xc, 2)  # the cut-offs are relative to the beliefs' spread
    Q_p = _column_space(Xc @ E, rtol * scale * np.linalg.norm(E, 2))  # predictions' span in R^N
    residual = Xc - Q_p @ (Q_p.T @ Xc)  # weighted LS residual of eta on p, with intercept
    res_var = float(np.sum((residual @ phi) ** 2))
    tot_var = float(np.sum((Xc @ phi) ** 2))
    Q_x = _column_space(Xc, rtol * scale)
    k = Q_x.shape[1]
    whitened = 1.0 - float(np.sum((Q_p.T @ Q_x) ** 2)) / k if k else float("nan")
    share = res_var / tot_var if tot_var > 0 else float("nan")
    return BlindShare(share, L, whitened, res_var, tot_var)


__all__ = [
    "BlindShare",
    "BlindSubspace",
    "future_word_embedding",
    "observability_horizon",
    "prediction_blind_share",
    "prediction_blind_subspace",
]
