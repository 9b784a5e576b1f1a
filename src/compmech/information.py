"""Information measures of a process: block and myopic entropies, entropy rate, excess entropy,
statistical complexity, synchronisation, and the optimal per-position cross-entropy.

Entropies are in bits unless the name ends in ``_nats``. All computations are float64. The
finite-length measures are computed from the distribution over mixed states at each depth
(:func:`compmech.msp.iter_belief_levels`): ``h(L) = sum_{eta at depth L-1} P(eta) H[P(. | eta)]``,
one vectorised pass per level.
"""

from __future__ import annotations

import numpy as np

from compmech.hmm import HMM
from compmech.msp import DEFAULT_MAX_LEVEL_NODES, iter_belief_levels

LN2 = float(np.log(2.0))


# ------------------------------------------------------------------------------------- helpers
def entropy_bits(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``-sum p log2 p`` along ``axis`` (``0 log 0 = 0``); ``p`` need not be 1-D."""
    p = np.asarray(p, dtype=np.float64)
    logs = np.log2(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)


def _check_length(length, what: str) -> int:
    if isinstance(length, bool) or int(length) != length or length < 1:
        raise ValueError(f"{what} must be an integer >= 1; got {length}")
    return int(length)


# -------------------------------------------------------------------------- finite-L measures
def myopic_entropy(hmm: HMM, max_length: int, *, initial_distribution=None, tol: float = 1e-12,
                   max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> np.ndarray:
    """Myopic entropies ``h(L) = H(L) - H(L-1)`` in bits for ``L = 1 .. max_length``.

    ``h(L) = H[X_L | X_1 .. X_{L-1}] = sum_{eta at depth L-1} P(eta) H[P(. | eta)]`` with
    ``P(x | eta) = eta T[x] 1``, computed from the merged mixed-state distribution at each depth.

    Args:
        hmm: the process; words start from ``initial_distribution`` (default the HMM's, usually
            stationary).
        max_length: ``L_max >= 1``.
        initial_distribution: optional ``(S,)`` start belief.
        tol: merge tolerance for equal beliefs.
        max_nodes: cap on a level's size (see :func:`compmech.msp.iter_belief_levels`).

    Returns:
        ``(L_max,)`` float64, entry ``L - 1`` is ``h(L)``.
    """
    max_length = _check_length(max_length, "max_length")
    emissions = hmm.emission_probabilities  # (S, V)
    out = np.empty(max_length)
    levels = iter_belief_levels(hmm, max_length - 1, tol=tol,
                                initial_distribution=initial_distribution, max_nodes=max_nodes)
    for level in levels:
        next_probs = level.beliefs @ emissions  # (N, V)
        out[level.depth] = level.probabilities @ entropy_bits(next_probs)
    return out


def block_entropy(hmm: HMM, max_length: int, **kwargs) -> np.ndarray:
    """Block entropies ``H(L) = -sum_{|w| = L} P(w) log2 P(w)`` for ``L = 1 .. max_length`` (bits).

    By the chain rule ``H(L) = sum_{k <= L} h(k)`` (:func:`myopic_entropy`, same keyword arguments).

    Returns:
        ``(L_max,)`` float64, entry ``L - 1`` is ``H(L)``.
    """
    return np.cumsum(myopic_entropy(hmm, max_length, **kwargs))


def synchronization_profile(hmm: HMM, max_length: int, *, initial_distribution=None,
                            tol: float = 1e-12,
                            max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> np.ndarray:
    """Expected uncertainty (bits) about the hidden state after ``L = 0 .. max_length`` tokens.

    ``U(L) = sum_{eta at depth L} P(eta) H[eta]``; it decreases to 0 for a synchronising
    presentation.

    Returns:
        ``(L_max + 1,)`` float64, entry ``L`` is ``U(L)`` (entry 0 is ``H[initial distribution]``).
    """
    max_length = _check_depth_arg(max_length)
    out = np.empty(max_length + 1)
    for level in iter_belief_levels(hmm, max_length, tol=tol,
                                    initial_distribution=initial_distribution, max_nodes=max_nodes):
        out[level.depth] = level.probabilities @ entropy_bits(level.beliefs)
    return out


def _check_depth_arg(length) -> int:
    if isinstance(length, bool) or int(length) != length or length < 0:
        raise ValueError(f"max_length must be an integer >= 0; got {length}")
    return int(length)


def optimal_cross_entropy_nats(hmm: HMM, n_ctx: int, bos: bool = False, *,
                               max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> np.ndarray:
    """The lowest expected cross-entropy (nats) a next-token model can reach at each input position.

    Training sequences have length ``n_ctx + 1`` and start from ``hmm.initial_distribution``. The
    best possible prediction of a token is its true conditional distribution given the tokens
    before it, so the floor at a position predicting ``X_{k}`` is ``h(k) * ln 2`` nats, with ``h``
    the myopic entropy (:func:`myopic_entropy`).

    * ``bos=False``: inputs ``x_1 .. x_{n_ctx}``, targets ``x_2 .. x_{n_ctx+1}``. Input position
      ``t`` (1-based) has seen ``x_1 .. x_t`` and predicts ``x_{t+1}``: entry ``t - 1`` is
      ``h(t + 1)``, i.e. the result is ``[h(2), ..., h(n_ctx + 1)]``.
    * ``bos=True``: inputs ``BOS, x_1 .. x_{n_ctx-1}``, targets ``x_1 .. x_{n_ctx}``. Position ``t``
      (0-based, ``t = 0`` is BOS) predicts ``x_{t+1}``: entry ``t`` is ``h(t + 1)``, i.e. the result
      is ``[h(1), ..., h(n_ctx)]``.

    Args:
        hmm: the process.
        n_ctx: the model's context length (number of input positions), ``>= 1``.
        bos: whether the first input is a beginning-of-sequence token.
        max_nodes: cap on a level of the mixed-state propagation.

    Returns:
        ``(n_ctx,)`` float64 in nats; its mean is the floor of the mean per-token training loss.

    Example:
        >>> import compmech
        >>> floor = compmech.optimal_cross_entropy_nats(compmech.get_process("mess3"), 10)
        >>> floor.shape
        (10,)
    """
    n_ctx = _check_length(n_ctx, "n_ctx")
    h = myopic_entropy(hmm, n_ctx + 1, max_nodes=max_nodes)
    return (h[:n_ctx] if bos else h[1:]) * LN2
