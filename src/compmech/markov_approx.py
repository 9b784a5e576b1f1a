"""The Markov approximation of order ``k`` of a process: the unifilar HMM whose states are the last
``k`` tokens, with the process's exact block statistics (:func:`markov_approximation`)."""

from __future__ import annotations

import numpy as np

from compmech.hmm import HMM, Process
from compmech.inference import MAX_ENUMERATED_WORDS
from compmech.msp import mixed_state_tree

#: A GHMM's enumerated block probabilities at or below this count as zero in a Markov approximation.
BLOCK_ZERO_TOL = 1e-15

def markov_approximation(process: Process, order: int, name: str | None = None) -> HMM:
    """The order-``k`` Markov chain with the process's exact ``(k + 1)``-block statistics.

    States are the contexts ``c = (x_{t-k+1} .. x_t)`` of positive probability; from ``c`` the
    token ``x`` has probability ``P(x | c) = P(c x) / P(c)`` and leads to ``(c_2 .. c_k, x)``. Started
    from ``P(c)``, every block of length ``<= k + 1`` has the process's probability, and
    ``h(L) = h(k + 1)`` for ``L > k + 1``: the baseline of a model that sees ``k`` tokens.

    Args:
        process: an HMM or GHMM started from a stationary vector (its block statistics must not
            depend on the position).
        order: ``k >= 0`` (``0``: i.i.d. tokens with the process's single-token distribution).
        name: default ``"markov<k>_<name>"``.

    Returns:
        a unifilar :class:`~compmech.hmm.HMM` with at most ``V**k`` states, named by their
        context (token names joined, ``"-"`` for the empty context).
    """
    if isinstance(order, bool) or int(order) != order or order < 0:
        raise ValueError(f"order must be an integer >= 0; got {order}")
    k, V = int(order), process.vocab_size
    init = process.initial_distribution
    drift = float(np.abs(init @ process.state_matrix - init).max())
    if drift > 1e-9:
        raise ValueError(f"markov_approximation needs a process started from a stationary vector; "
                         f"{process.name!r} starts {drift:.3g} away from one")
    blocks = _block_probabilities(process, k + 1).reshape(V**k, V)  # rows: context, cols: token
    context_probs = blocks.sum(axis=1)
    keep = np.flatnonzero(context_probs > 0)
    index = np.full(V**k, -1, dtype=np.int64)
    index[keep] = np.arange(keep.shape[0])
    cond = blocks[keep] / context_probs[keep][:, None]  # (n, V) P(x | c)
    target = index[(keep[:, None] % (V ** max(k - 1, 0))) * V + np.arange(V)[None, :]] if k else (
        np.zeros((1, V), dtype=np.int64))
    cond = np.where(target >= 0, cond, 0.0)  # round-off mass into a dropped context
    cond /= cond.sum(axis=1, keepdims=True)
    n = keep.shape[0]
    T = np.zeros((V, n, n))
    src = np.repeat(np.arange(n), V)
    tok = np.tile(np.arange(V), n)
    ok = target.reshape(-1) >= 0
    T[tok[ok], src[ok], target.reshape(-1)[ok]] = cond.reshape(-1)[ok]
    return HMM(T, initial_distribution=context_probs[keep] / context_probs[keep].sum(),
               name=name or f"markov{k}_{process.name}",
               params={"process": process.name, "params": dict(process.params), "order": k},
               state_names=_context_names(keep, k, process.token_names),
               token_names=process.token_names)


def _block_probabilities(process: Process, length: int) -> np.ndarray:
    """``(V**length,)`` ``P(w)`` of every word in lexicographic order, from the mixed-state tree
    (words the tree drops, of probability zero, stay 0; GHMM round-off below
    :data:`BLOCK_ZERO_TOL` is set to 0)."""
    V = process.vocab_size
    if V**length > MAX_ENUMERATED_WORDS:
        raise ValueError(f"{V}^{length} blocks is more than {MAX_ENUMERATED_WORDS}; use a lower order")
    tree = mixed_state_tree(process, length)
    index = tree.words(length).astype(np.int64) @ (V ** np.arange(length - 1, -1, -1, dtype=np.int64))
    probs = np.zeros(V**length)
    probs[index] = tree.probabilities[length]
    tol = 0.0 if process.kind == "hmm" else BLOCK_ZERO_TOL
    return np.where(probs > tol, probs, 0.0)


def _context_names(contexts: np.ndarray, k: int, token_names) -> list[str]:
    if k == 0:
        return ["-"]
    V = len(token_names)
    digits = (contexts[:, None] // V ** np.arange(k - 1, -1, -1)[None, :]) % V
    sep = "" if all(len(t) == 1 for t in token_names) else ","
    return [sep.join(token_names[d] for d in row) for row in digits]


__all__ = ["BLOCK_ZERO_TOL", "markov_approximation"]
