"""Information measures of a process at finite lengths: block and myopic entropies, synchronisation,
and the optimal per-position cross-entropy (the asymptotic ones, entropy rate, excess entropy and
statistical complexity, are in :mod:`compmech.asymptotics`).

Entropies are in bits unless the name ends in ``_nats``. All computations are float64. Every
function takes an HMM or a GHMM (``P(x | eta) = eta T[x] r``); :func:`synchronization_profile` is
classical only (a GHMM belief is signed and has no entropy), and the exact "unifilar" entropy rate
applies to classical HMMs only (a GHMM uses the MSP or the Blackwell estimate). The
finite-length measures are computed from the distribution over mixed states at each depth
(:func:`compmech.msp.iter_belief_levels`): ``h(L) = sum_{eta at depth L-1} P(eta) H[P(. | eta)]``,
one vectorised pass per level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.expand import tall_matmul
from compmech.hmm import Process
from compmech.inference import all_words, filter_beliefs
from compmech.msp import DEFAULT_MAX_LEVEL_NODES, iter_belief_levels
from compmech.stateful import is_stateful

LN2 = float(np.log(2.0))


# ------------------------------------------------------------------------------------- helpers
def entropy_bits(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``-sum p log2 p`` along ``axis`` (``0 log 0 = 0``); ``p`` need not be 1-D."""
    p = np.asarray(p, dtype=np.float64)
    logs = np.log2(np.where(p > 0, p, 1.0))
    return 0.0 - (p * logs).sum(axis=axis)  # 0.0 - x: no negative zero for a certain outcome


def _check_length(length, what: str) -> int:
    if isinstance(length, bool) or int(length) != length or length < 1:
        raise ValueError(f"{what} must be an integer >= 1; got {length}")
    return int(length)


# -------------------------------------------------------------------------- finite-L measures
def myopic_entropy(hmm: Process, max_length: int, *, initial_distribution=None, tol: float = 1e-12,
                   max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> np.ndarray:
    """Myopic entropies ``h(L) = H(L) - H(L-1)`` in bits for ``L = 1 .. max_length``.

    ``h(L) = H[X_L | X_1 .. X_{L-1}] = sum_{eta at depth L-1} P(eta) H[P(. | eta)]`` with
    ``P(x | eta) = eta T[x] r`` (``r = 1`` for an HMM), computed from the merged mixed-state
    distribution at each depth.

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
    if is_stateful(hmm):
        predict = hmm.token_probabilities
    else:
        emissions = hmm.emission_probabilities  # (S, V)
        predict = lambda beliefs: tall_matmul(beliefs, emissions)  # noqa: E731
    out = np.empty(max_length)
    levels = iter_belief_levels(hmm, max_length - 1, tol=tol,
                                initial_distribution=initial_distribution, max_nodes=max_nodes)
    for level in levels:
        next_probs = predict(level.beliefs)  # (N, V)
        out[level.depth] = (level.probabilities * entropy_bits(next_probs)).sum()
    return out


def block_entropy(hmm: Process, max_length: int, **kwargs) -> np.ndarray:
    """Block entropies ``H(L) = -sum_{|w| = L} P(w) log2 P(w)`` for ``L = 1 .. max_length`` (bits).

    By the chain rule ``H(L) = sum_{k <= L} h(k)`` (:func:`myopic_entropy`, same keyword arguments).

    Returns:
        ``(L_max,)`` float64, entry ``L - 1`` is ``H(L)``.
    """
    return np.cumsum(myopic_entropy(hmm, max_length, **kwargs))


def synchronization_profile(hmm: Process, max_length: int, *, initial_distribution=None,
                            tol: float = 1e-12,
                            max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> np.ndarray:
    """Expected uncertainty (bits) about the hidden state after ``L = 0 .. max_length`` tokens.

    ``U(L) = sum_{eta at depth L} P(eta) H[eta]``; it decreases to 0 for a synchronising
    presentation.

    Returns:
        ``(L_max + 1,)`` float64, entry ``L`` is ``U(L)`` (entry 0 is ``H[initial distribution]``).

    Raises:
        ValueError: for a GHMM, whose beliefs are signed vectors on the plane ``eta r = 1``, not
            distributions over hidden states, so ``H[eta]`` is undefined.
    """
    if hmm.kind != "hmm":
        raise ValueError(f"synchronization_profile needs a classical HMM: {hmm.name!r} is a GHMM, "
                         "whose signed beliefs have no entropy (there are no hidden states)")
    max_length = _check_depth_arg(max_length)
    out = np.empty(max_length + 1)
    for level in iter_belief_levels(hmm, max_length, tol=tol,
                                    initial_distribution=initial_distribution, max_nodes=max_nodes):
        out[level.depth] = (level.probabilities * entropy_bits(level.beliefs)).sum()
    return out


def _check_depth_arg(length) -> int:
    if isinstance(length, bool) or int(length) != length or length < 0:
        raise ValueError(f"max_length must be an integer >= 0; got {length}")
    return int(length)


def optimal_cross_entropy_nats(hmm: Process, n_ctx: int, bos: bool = False, *,
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


class MixtureLosses(NamedTuple):
    """Per-component loss curves of a non-ergodic mixture (nats, per input position).

    Attributes:
        names: each component's name.
        weights: ``(K,)`` the mixture weights ``w_k`` (``eta_0`` restricted to each block, ``. r``).
        own_optimum: ``(K, n_ctx)`` ``E_k[H(P_k(. | prefix))]``: the loss of a predictor that
            knows the component. No predictor of the mixture can reach it.
        bayes_mixture: ``(K, n_ctx)`` ``E_k[CE(P_k(. | prefix), P_mix(. | prefix))] = own_optimum
            + E_k[KL(P_k || P_mix)]``: the loss of the Bayes-optimal mixture predictor on component
            ``k``'s data, the best any predictor achieves there. ``sum_k w_k bayes_mixture[k]`` is
            the mixture's optimum (:func:`optimal_cross_entropy_nats`).
    """

    names: tuple
    weights: np.ndarray
    own_optimum: np.ndarray
    bayes_mixture: np.ndarray


def mixture_component_starts(process: Process) -> list[tuple[str, float, np.ndarray]]:
    """``[(name, w_k, eta_k)]`` of a mixture: each block of the start vector, normalised so that
    ``eta_k r = 1``, and its weight ``w_k``.

    Raises:
        ValueError: not a mixture, or a mixture with its own BOS start state (its components share
            that state).
    """
    structure = getattr(process, "structure", None)
    if structure is None or structure.kind != "mixture":
        raise ValueError(f"{process.name!r} is not a mixture (compmech.mixture)")
    if structure.bos:
        raise ValueError("a mixture with its own BOS state has no per-component start vectors")
    r, init = process.right_eigenvector, process.initial_distribution
    names = [str(n) for n in structure.names]
    if len(set(names)) < len(names):
        names = [f"{n} #{k}" for k, n in enumerate(names)]
    out = []
    for name, block in zip(names, structure.blocks(), strict=True):
        w = float(init[block] @ r[block])
        eta = np.zeros_like(init)
        eta[block] = init[block] / w
        out.append((name, w, eta))
    return out


def _next_token_probs(process: Process, words: np.ndarray, eta0: np.ndarray, bos: bool):
    """``(P(w) (N,), P(next | prefix) (N, n_ctx, V))`` from ``eta0``, with the empty prefix first
    when ``bos``; zero where the prefix is impossible."""
    f = filter_beliefs(process, words, initial_distribution=eta0, allow_impossible=True)
    probs = np.nan_to_num(f.next_token_probs, nan=0.0)
    if bos:
        first = np.broadcast_to(eta0 @ process.emission_probabilities, (len(words), 1, probs.shape[-1]))
        probs = np.concatenate([first, probs], axis=1)
    weight = np.exp(np.where(np.isfinite(f.log_probability), f.log_probability, -np.inf))
    return weight, probs


def mixture_component_losses(process: Process, n_ctx: int, bos: bool = False) -> MixtureLosses:
    """Each component's own optimum and the Bayes-mixture loss on its data, per input position.

    On data of component ``k`` the Bayes-optimal predictor (the mixture's own conditional
    ``P_mix``) has loss ``E_k[H(P_k)] + E_k[KL(P_k || P_mix)]`` at each position; the first term
    alone (the optimum knowing ``k``) is not achievable. Positions are aligned as in
    :func:`optimal_cross_entropy_nats` (``bos=False``: inputs ``x_1 .. x_n`` predicting
    ``x_2 .. x_{n+1}``; ``bos=True``: ``BOS, x_1 .. x_{n-1}`` predicting ``x_1 .. x_n``). Exact:
    every word of ``n_ctx`` (or ``n_ctx - 1``) tokens is enumerated.

    Args:
        process: a mixture (:func:`compmech.mixture`, without its own BOS state).
        n_ctx: input positions ``>= 1``.
        bos: whether the first input is a beginning-of-sequence token.

    Returns:
        :class:`MixtureLosses` (nats).
    """
    n_ctx = _check_length(n_ctx, "n_ctx")
    starts = mixture_component_starts(process)
    n_words = n_ctx - 1 if bos else n_ctx
    words = all_words(process.vocab_size, max(n_words, 1))[:, :n_words]
    if n_words == 0:
        words = words[:1]
    _, p_mix = _next_token_probs(process, words, process.initial_distribution, bos)
    log_mix = np.log(np.where(p_mix > 0, p_mix, 1.0))
    own, bayes = [], []
    for _, _, eta in starts:
        weight, p_k = _next_token_probs(process, words, eta, bos)
        weight = weight / weight.sum()
        log_k = np.log(np.where(p_k > 0, p_k, 1.0))
        own.append(weight @ -(p_k * log_k).sum(-1))
        bayes.append(weight @ -(p_k * log_mix).sum(-1))
    return MixtureLosses(tuple(n for n, _, _ in starts), np.array([w for _, w, _ in starts]),
                         np.array(own), np.array(bayes))
