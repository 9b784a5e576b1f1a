"""Mixed-state presentations: the MSP tree and merged belief propagation level by level (the
deduplicated MSP graph is in :mod:`compmech.msp_graph`, Blackwell sampling in
:mod:`compmech.blackwell`, the vectorised kernels they use in :mod:`compmech.expand`).

A *mixed state* is a belief ``eta`` (row vector, ``(S,)``) over the hidden states of an HMM. From
``eta`` the token ``x`` has probability ``P(x | eta) = eta T[x] 1`` and leads to the mixed state
``eta T[x] / P(x | eta)``. Starting from the HMM's initial distribution, the words of length ``L``
index the mixed states at depth ``L`` (the MSP tree); merging equal beliefs gives the MSP graph,
itself a unifilar HMM whose recurrent part is the epsilon-machine for a synchronising unifilar
presentation.

For a GHMM the same holds with ``r`` in place of ``1`` (``P(x | eta) = eta T[x] r``); beliefs lie
on the plane ``eta r = 1`` and conditional probabilities at or below
:data:`~compmech.validation.GHMM_ZERO_TOL` count as zero (those children are dropped). The MSP of a
GHMM is still a classical unifilar HMM over its mixed states.

Everything here computes in float64. The tree and graph are built level by level: one pass is a
handful of numpy array operations over the whole level (no per-node Python work).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from compmech.expand import expand, flat_transitions, quantize, unique_rows
from compmech.hmm import Process, normaliser, zero_tolerance
from compmech.resources import require_memory
from compmech.stateful import STATEFUL_ZERO_TOL, is_stateful

#: Default cap on the number of nodes in one level of a merged belief propagation.
DEFAULT_MAX_LEVEL_NODES = 4_000_000


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


def _expansion(hmm: Process) -> tuple:
    """``(flat, emissions or None, zero_tol)`` arguments of :func:`~compmech.expand.expand` for ``hmm``."""
    emissions = None if normaliser(hmm) is None else hmm.emission_probabilities
    return flat_transitions(hmm), emissions, zero_tolerance(hmm)


def _expander(hmm: Process):
    """``beliefs (N, S) -> (next_probs (N, V), children (N, V, S))`` for ``hmm``:
    :func:`~compmech.expand.expand`
    for matrices, the process's own batched ``expand`` for a stateful process."""
    if is_stateful(hmm):
        def stateful(beliefs):
            probs, children = hmm.expand(beliefs)
            probs = np.where(probs > STATEFUL_ZERO_TOL, probs, 0.0)
            return probs, children
        return stateful
    flat, emissions, zero_tol = _expansion(hmm)
    V = hmm.vocab_size
    return lambda beliefs: expand(beliefs, flat, V, emissions, zero_tol)


def _initial_belief(hmm: Process, initial_distribution) -> np.ndarray:
    if initial_distribution is None:
        return np.array(hmm.initial_distribution, dtype=np.float64)
    return np.array(hmm.with_initial_distribution(initial_distribution).initial_distribution)


def mixed_state_tree(hmm: Process, depth: int, initial_distribution=None) -> MixedStateTree:
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
    node_bytes = 8 * hmm.num_states + 8 + 8 + 4  # belief, probability, parent, token
    held = [0]  # bytes of the levels kept so far (read by the level iterator's memory check)
    levels = iter_tree_levels(hmm, depth, initial_distribution, bytes_held=lambda: held[0])
    for d, level in enumerate(levels):
        held[0] += level[1].shape[0] * node_bytes
        sizes = [p.shape[0] for p in probs[-3:]] + [level[1].shape[0]]
        if d >= 4 and d < depth:
            _require_tree_fits(hmm, depth, d, sizes, held[0], node_bytes)
        beliefs.append(level[0])
        probs.append(level[1])
        parents.append(level[2])
        tokens.append(level[3])
    return MixedStateTree(tuple(beliefs), tuple(probs), tuple(parents), tuple(tokens))


def _require_tree_fits(hmm: Process, depth: int, d: int, sizes: list[int], held: int,
                       node_bytes: int) -> None:
    """Refuse early a tree that clearly cannot fit: if the slowest branching of the last three
    levels (``sizes``: their word counts, then this level's) went on to ``depth``, would the tree
    need more than twice the available memory? (The per-level check of :func:`iter_tree_levels`
    catches the rest.)"""
    ratio = min(b / max(a, 1) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    n_now, remaining = sizes[-1], depth - d
    rest = n_now * remaining if ratio == 1 else n_now * ratio * (ratio**remaining - 1) / (ratio - 1)
    require_memory(held + rest * node_bytes,
                   f"the mixed-state tree of {hmm.name!r} to depth {depth} (about {rest:.3g} more "
                   f"words at {ratio:.3g} per word per level)", fraction=2.0)


def iter_tree_levels(hmm: Process, depth: int, initial_distribution=None, *,
                     bytes_held=None) -> Iterator[tuple]:
    """Yield the MSP tree level by level, ``(beliefs, probabilities, parents, tokens)``.

    Only the current level is held, so memory is bounded by the widest level. Before each level is
    built, its largest possible size (``V`` children per node, plus ``bytes_held()`` bytes the
    caller keeps) is checked against the available memory: a tree too deep to fit is refused with
    the estimate, instead of filling the memory.
    """
    depth = _check_depth(depth)
    V, S = hmm.vocab_size, hmm.num_states
    successors = _expander(hmm)
    beliefs = _initial_belief(hmm, initial_distribution)[None, :]
    probs = np.ones(1)
    yield beliefs, probs, np.full(1, -1, dtype=np.int64), np.full(1, -1, dtype=np.int32)
    for d in range(depth):
        N = beliefs.shape[0]
        held = bytes_held() if bytes_held is not None else 0
        require_memory(held + N * V * (3 * 8 * S + 24), f"level {d + 1} of the mixed-state tree of "
                       f"{hmm.name!r} (up to {N * V:,} words)")
        next_probs, children = successors(beliefs)
        child_probs = (probs[:, None] * next_probs).reshape(-1)  # (N * V,)
        if (child_probs > 0).all():  # every word continues: no gather needed
            beliefs, probs = children.reshape(-1, S), child_probs
            parents = np.repeat(np.arange(N, dtype=np.int64), V)
            tokens = np.tile(np.arange(V, dtype=np.int32), N)
        else:
            idx = np.flatnonzero(child_probs > 0)
            beliefs = children.reshape(-1, S)[idx]
            probs = child_probs[idx]
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
    """Merge beliefs equal within ``tol`` (grid cells of :func:`~compmech.expand.quantize`), summing
    probabilities.

    Returns:
        ``(beliefs (U, S), probabilities (U,))``; each merged belief represents its cell.
    """
    first, inverse = unique_rows(quantize(beliefs, tol))
    merged = np.bincount(inverse, weights=probabilities, minlength=first.shape[0])
    return beliefs[first], merged


def iter_belief_levels(hmm: Process, depth: int, *, tol: float = 1e-12, initial_distribution=None,
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
    successors = _expander(hmm)
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
        next_probs, children = successors(beliefs)
        child_probs = (probs[:, None] * next_probs).reshape(-1)
        children = children.reshape(-1, S)
        if not (child_probs > 0).all():
            idx = np.flatnonzero(child_probs > 0)
            children, child_probs = children[idx], child_probs[idx]
        beliefs, probs = merge_beliefs(children, child_probs, tol)
        yield BeliefLevel(d, beliefs, probs)


__all__ = ["DEFAULT_MAX_LEVEL_NODES", "BeliefLevel", "MixedStateTree", "iter_belief_levels",
           "iter_tree_levels", "merge_beliefs", "mixed_state_tree"]
