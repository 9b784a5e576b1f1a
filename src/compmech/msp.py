"""Mixed-state presentations: the MSP tree, the deduplicated MSP graph, and Blackwell sampling.

A *mixed state* is a belief ``eta`` (row vector, ``(S,)``) over the hidden states of an HMM. From
``eta`` the token ``x`` has probability ``P(x | eta) = eta T[x] 1`` and leads to the mixed state
``eta T[x] / P(x | eta)``. Starting from the HMM's initial distribution, the words of length ``L``
index the mixed states at depth ``L`` (the MSP tree); merging equal beliefs gives the MSP graph,
itself a unifilar HMM whose recurrent part is the epsilon-machine for a synchronising unifilar
presentation.

Everything here computes in float64. The tree and graph are built level by level: one pass is a
handful of numpy array operations over the whole level (no per-node Python work).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from compmech.hmm import HMM

#: Default tolerance (max-norm) under which two beliefs are treated as the same mixed state.
DEFAULT_TOL = 1e-9
#: Default cap on the number of nodes in one level of a merged belief propagation.
DEFAULT_MAX_LEVEL_NODES = 4_000_000


# ------------------------------------------------------------------------------------- helpers
def flat_transitions(hmm_or_T) -> np.ndarray:
    """``(V, S, S) -> (S, V*S)`` float64 so that ``eta @ flat`` holds every ``eta T[x]`` at once."""
    T = hmm_or_T.transition_matrices if isinstance(hmm_or_T, HMM) else np.asarray(hmm_or_T)
    V, S, _ = T.shape
    return np.ascontiguousarray(np.transpose(T, (1, 0, 2)).reshape(S, V * S), dtype=np.float64)


def expand(beliefs: np.ndarray, flat: np.ndarray, vocab_size: int):
    """All one-token successors of a level of beliefs.

    Args:
        beliefs: ``(N, S)`` beliefs.
        flat: ``(S, V*S)`` from :func:`flat_transitions`.
        vocab_size: ``V``.

    Returns:
        ``(next_probs (N, V), children (N, V, S))`` with ``next_probs[n, x] = eta_n T[x] 1`` and
        ``children[n, x] = eta_n T[x] / next_probs[n, x]`` (rows with ``next_probs == 0`` are left
        unnormalised zeros; callers drop them).
    """
    N, S = beliefs.shape
    joint = (beliefs @ flat).reshape(N, vocab_size, S)
    next_probs = joint.sum(axis=2)
    safe = np.where(next_probs > 0, next_probs, 1.0)
    joint /= safe[:, :, None]
    return next_probs, joint


def quantize(beliefs: np.ndarray, tol: float) -> np.ndarray:
    """``(N, S) -> (N, S)`` int64 grid indices ``round(eta / tol)``; equal rows = merged beliefs.

    Two beliefs within ``tol`` of each other land in the same cell unless a coordinate straddles a
    half-grid boundary (rare for ``tol`` far above float64 round-off; documented approximation).
    """
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol}")
    if tol < 1e-15:
        raise ValueError(f"tol must be >= 1e-15 (float64 round-off); got {tol}")
    return np.rint(beliefs / tol).astype(np.int64)


def unique_rows(keys: np.ndarray):
    """Unique rows of an integer array by lexicographic sort (faster than ``np.unique(axis=0)``).

    Args:
        keys: ``(N, S)`` integers.

    Returns:
        ``(first (U,), inverse (N,))``: ``keys[first]`` are the unique rows in sorted order and
        ``keys[first][inverse] == keys``.
    """
    N = keys.shape[0]
    if N == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort(keys.T[::-1])
    sorted_keys = keys[order]
    new_group = np.ones(N, dtype=bool)
    new_group[1:] = (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)
    group = np.cumsum(new_group) - 1
    inverse = np.empty(N, dtype=np.int64)
    inverse[order] = group
    first = order[new_group]
    return first, inverse


# ------------------------------------------------------------------------------------ MSP tree
class MixedStateTree(NamedTuple):
    """The MSP tree to depth ``L`` as flat per-level arrays (level ``d`` = words of length ``d``).

    Level 0 is the root (the empty word, belief = the HMM's initial distribution). Only words of
    nonzero probability appear; their children are ordered by (parent, token).

    Attributes:
        beliefs: ``L + 1`` arrays; ``beliefs[d]`` is ``(N_d, S)``, the belief after each word.
        probabilities: ``L + 1`` arrays ``(N_d,)``, ``P(word)``; each sums to 1.
        parents: ``L + 1`` int64 arrays ``(N_d,)``, index of the parent in level ``d - 1``
            (``-1`` for the root).
        tokens: ``L + 1`` int32 arrays ``(N_d,)``, the last token of each word (``-1`` at the root).
    """

    beliefs: tuple
    probabilities: tuple
    parents: tuple
    tokens: tuple

    @property
    def depth(self) -> int:
        """``L``, the length of the longest words."""
        return len(self.beliefs) - 1

    @property
    def num_nodes(self) -> int:
        """Total number of nodes, root included."""
        return int(sum(p.shape[0] for p in self.probabilities))

    def words(self, level: int) -> np.ndarray:
        """``(N_d, d)`` int32: the word leading to each node of level ``d`` (vectorised)."""
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must be in [0, {self.depth}]; got {level}")
        n = self.probabilities[level].shape[0]
        out = np.empty((n, level), dtype=np.int32)
        idx = np.arange(n)
        for d in range(level, 0, -1):
            out[:, d - 1] = self.tokens[d][idx]
            idx = self.parents[d][idx]
        return out

    def all_beliefs(self) -> np.ndarray:
        """``(num_nodes, S)`` every node's belief, level by level."""
        return np.concatenate(self.beliefs, axis=0)

    def all_probabilities(self) -> np.ndarray:
        """``(num_nodes,)`` every node's word probability, level by level."""
        return np.concatenate(self.probabilities)

    def all_depths(self) -> np.ndarray:
        """``(num_nodes,)`` int32 depth of every node."""
        return np.concatenate(
            [np.full(p.shape[0], d, dtype=np.int32) for d, p in enumerate(self.probabilities)]
        )


def _check_depth(depth, what: str = "depth") -> int:
    if isinstance(depth, bool) or int(depth) != depth or depth < 0:
        raise ValueError(f"{what} must be an integer >= 0; got {depth}")
    return int(depth)


def _initial_belief(hmm: HMM, initial_distribution) -> np.ndarray:
    if initial_distribution is None:
        return np.array(hmm.initial_distribution, dtype=np.float64)
    return np.array(hmm.with_initial_distribution(initial_distribution).initial_distribution)


def mixed_state_tree(hmm: HMM, depth: int, initial_distribution=None) -> MixedStateTree:
    """Every nonzero-probability word of length ``<= depth`` with its probability and belief.

    Level ``d + 1`` is computed from level ``d`` in one vectorised pass:
    ``P(w x) = P(w) * eta_w T[x] 1`` and ``eta_{wx} = eta_w T[x] / (eta_w T[x] 1)``; children with
    ``P(w x) = 0`` are dropped (never expanded, so no NaN beliefs).

    Args:
        hmm: the process.
        depth: ``L >= 0``.
        initial_distribution: ``(S,)`` root belief; defaults to ``hmm.initial_distribution``.

    Returns:
        :class:`MixedStateTree` with ``L + 1`` levels. Mess3 to depth 10 has 88,573 nodes.

    Example:
        >>> import compmech
        >>> tree = compmech.mixed_state_tree(compmech.get_process("mess3"), 10)
        >>> tree.num_nodes
        88573
    """
    depth = _check_depth(depth)
    beliefs, probs, parents, tokens = [], [], [], []
    for level in iter_tree_levels(hmm, depth, initial_distribution):
        beliefs.append(level[0])
        probs.append(level[1])
        parents.append(level[2])
        tokens.append(level[3])
    return MixedStateTree(tuple(beliefs), tuple(probs), tuple(parents), tuple(tokens))


def iter_tree_levels(hmm: HMM, depth: int, initial_distribution=None) -> Iterator[tuple]:
    """Yield the MSP tree level by level, ``(beliefs, probabilities, parents, tokens)``.

    Only the current level is held, so memory is bounded by the widest level.
    """
    depth = _check_depth(depth)
    V, S = hmm.vocab_size, hmm.num_states
    flat = flat_transitions(hmm)
    beliefs = _initial_belief(hmm, initial_distribution)[None, :]
    probs = np.ones(1)
    yield beliefs, probs, np.full(1, -1, dtype=np.int64), np.full(1, -1, dtype=np.int32)
    for _ in range(depth):
        next_probs, children = expand(beliefs, flat, V)
        child_probs = probs[:, None] * next_probs  # (N, V)
        keep = child_probs.reshape(-1) > 0
        idx = np.flatnonzero(keep)
        beliefs = children.reshape(-1, S)[idx]
        probs = child_probs.reshape(-1)[idx]
        parents = idx // V
        tokens = (idx % V).astype(np.int32)
        yield beliefs, probs, parents, tokens


class BeliefLevel(NamedTuple):
    """The distribution over mixed states after ``depth`` tokens (equal beliefs merged).

    Attributes:
        depth: number of tokens seen.
        beliefs: ``(N, S)`` distinct beliefs at this depth.
        probabilities: ``(N,)`` total probability of the words leading to each belief; sums to 1.
    """

    depth: int
    beliefs: np.ndarray
    probabilities: np.ndarray


def merge_beliefs(beliefs: np.ndarray, probabilities: np.ndarray, tol: float):
    """Merge beliefs equal within ``tol`` (grid cells of :func:`quantize`), summing probabilities.

    Returns:
        ``(beliefs (U, S), probabilities (U,))``; each merged belief represents its cell.
    """
    first, inverse = unique_rows(quantize(beliefs, tol))
    merged = np.bincount(inverse, weights=probabilities, minlength=first.shape[0])
    return beliefs[first], merged


def iter_belief_levels(hmm: HMM, depth: int, *, tol: float = 1e-12, initial_distribution=None,
                       max_nodes: int = DEFAULT_MAX_LEVEL_NODES) -> Iterator[BeliefLevel]:
    """Propagate the distribution over mixed states level by level, merging equal beliefs.

    Equivalent to summing the MSP tree's levels by belief: ``h(L)``, block entropies and the
    synchronisation profile depend only on this distribution. For a process with finitely many
    mixed states the levels stay small at any depth; for an infinite MSP (Mess3) they grow like
    ``V^L`` and ``max_nodes`` stops the propagation with a ``ValueError``.

    Args:
        hmm: the process.
        depth: the last depth to yield (levels ``0 .. depth`` are yielded).
        tol: max-norm merge tolerance.
        initial_distribution: ``(S,)`` root belief; defaults to ``hmm.initial_distribution``.
        max_nodes: largest level (before merging) allowed.

    Yields:
        :class:`BeliefLevel` for ``depth = 0, 1, ...``.
    """
    depth = _check_depth(depth)
    V, S = hmm.vocab_size, hmm.num_states
    flat = flat_transitions(hmm)
    beliefs = _initial_belief(hmm, initial_distribution)[None, :]
    probs = np.ones(1)
    yield BeliefLevel(0, beliefs, probs)
    for d in range(1, depth + 1):
        if beliefs.shape[0] * V > max_nodes:
            raise ValueError(
                f"depth {d} of the mixed-state propagation of {hmm.name!r} would have "
                f"{beliefs.shape[0] * V} nodes (> max_nodes={max_nodes}); the process has too many "
                "distinct mixed states for this depth: ask for a smaller depth or raise max_nodes"
            )
        next_probs, children = expand(beliefs, flat, V)
        child_probs = (probs[:, None] * next_probs).reshape(-1)
        idx = np.flatnonzero(child_probs > 0)
        beliefs, probs = merge_beliefs(children.reshape(-1, S)[idx], child_probs[idx], tol)
        yield BeliefLevel(d, beliefs, probs)
