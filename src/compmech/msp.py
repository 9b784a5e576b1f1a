"""Mixed-state presentations: the MSP tree and the deduplicated MSP graph (Blackwell sampling is in
:mod:`compmech.blackwell`, the vectorised kernels both use in :mod:`compmech.expand`).

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
from compmech.hmm import HMM, Process, normaliser, zero_tolerance
from compmech.resources import require_memory
from compmech.stateful import STATEFUL_ZERO_TOL, is_stateful

#: Default tolerance (max-norm) under which two beliefs are treated as the same mixed state.
DEFAULT_TOL = 1e-9
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


# ----------------------------------------------------------------------------------- MSP graph
#: Largest number of MSP states for which a dense ``(V, N, N)`` matrix / :class:`HMM` is built.
MAX_DENSE_STATES = 2_000


def _row_keys(keys: np.ndarray) -> np.ndarray:
    """``(N, S)`` int64 -> ``(N,)`` opaque void keys that sort and compare as whole rows."""
    keys = np.ascontiguousarray(keys)
    return keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()


class MixedStatePresentation(NamedTuple):
    """The MSP graph: distinct mixed states and their labelled transitions (sparse).

    State 0 is the start belief. ``T_msp[x, a, b] = P(x | eta_a)`` when ``eta_a`` updates on ``x``
    to ``eta_b``; it is stored as edge arrays, one edge per (state, token) of nonzero probability,
    so the presentation is unifilar. Build it with :func:`mixed_state_presentation`.

    Attributes:
        beliefs: ``(N, S)`` the mixed states.
        depth: ``(N,)`` int, length of the shortest word reaching each state.
        expanded: ``(N,)`` bool, whether the state's successors are in the graph (all ``True``
            unless ``truncated``).
        edge_token, edge_source, edge_target: ``(E,)`` int64 edge arrays.
        edge_probability: ``(E,)`` float64, ``P(token | beliefs[source])``.
        recurrent: ``(N,)`` bool, member of a closed strongly connected component.
        component: ``(N,)`` int64, strongly connected component label.
        truncated: whether the construction stopped at ``max_states`` (or ``max_depth``) before
            the graph closed (an infinite MSP such as Mess3's).
        tol: the max-norm tolerance under which beliefs were merged.
        vocab_size: ``V``.
    """

    beliefs: np.ndarray
    depth: np.ndarray
    expanded: np.ndarray
    edge_token: np.ndarray
    edge_source: np.ndarray
    edge_target: np.ndarray
    edge_probability: np.ndarray
    recurrent: np.ndarray
    component: np.ndarray
    truncated: bool
    tol: float
    vocab_size: int

    @property
    def num_states(self) -> int:
        """Number of mixed states ``N``."""
        return int(self.beliefs.shape[0])

    @property
    def num_recurrent(self) -> int:
        """Number of states in closed strongly connected components."""
        return int(self.recurrent.sum())

    @property
    def num_transient(self) -> int:
        """``num_states - num_recurrent``."""
        return self.num_states - self.num_recurrent

    @property
    def num_recurrent_components(self) -> int:
        """Number of closed strongly connected components."""
        return int(np.unique(self.component[self.recurrent]).shape[0])

    def transition_matrix(self, token: int | None = None):
        """Sparse ``(N, N)`` ``T_msp[token]`` (CSR), or the state matrix ``sum_x T_msp[x]``."""
        from scipy import sparse

        keep = slice(None) if token is None else self.edge_token == token
        return sparse.csr_matrix(
            (self.edge_probability[keep], (self.edge_source[keep], self.edge_target[keep])),
            shape=(self.num_states, self.num_states),
        )

    def dense_transition_matrices(self, states: np.ndarray | None = None) -> np.ndarray:
        """Dense ``(V, n, n)`` ``T_msp`` restricted to ``states`` (all by default).

        Raises:
            ValueError: when ``n > MAX_DENSE_STATES`` (use :meth:`transition_matrix` instead).
        """
        states = np.arange(self.num_states) if states is None else np.asarray(states)
        n = states.shape[0]
        if n > MAX_DENSE_STATES:
            raise ValueError(
                f"{n} MSP states is more than MAX_DENSE_STATES={MAX_DENSE_STATES} for a dense "
                "(V, N, N) matrix; use transition_matrix(token) for sparse matrices"
            )
        index = np.full(self.num_states, -1, dtype=np.int64)
        index[states] = np.arange(n)
        src, dst = index[self.edge_source], index[self.edge_target]
        keep = (src >= 0) & (dst >= 0)
        out = np.zeros((self.vocab_size, n, n))
        out[self.edge_token[keep], src[keep], dst[keep]] = self.edge_probability[keep]
        return out

    def recurrent_stationary_distribution(self) -> np.ndarray:
        """``(N,)`` stationary distribution of the MSP, supported on its recurrent states.

        Raises:
            ValueError: when the MSP was truncated or does not have exactly one closed component.
        """
        self._require_single_recurrent_component()
        states = np.flatnonzero(self.recurrent)
        P = self.transition_matrix()[states][:, states]
        pi = _sparse_stationary(P)
        out = np.zeros(self.num_states)
        out[states] = pi
        return out

    def causal_states(self) -> np.ndarray:
        """``(R, S)`` beliefs of the recurrent states: the causal states of a synchronising
        unifilar (minimal) presentation.

        Raises:
            ValueError: when the MSP was truncated or does not have exactly one closed component.
        """
        self._require_single_recurrent_component()
        return self.beliefs[self.recurrent]

    def recurrent_hmm(self, name: str | None = None) -> HMM:
        """The recurrent part as an :class:`HMM` (the epsilon-machine when the generator is minimal,
        unifilar and synchronising), started from its stationary distribution.

        Raises:
            ValueError: truncated MSP, more than one closed component, or too many states.
        """
        pi = self.recurrent_stationary_distribution()
        states = np.flatnonzero(self.recurrent)
        T = self.dense_transition_matrices(states)
        return HMM(T, initial_distribution=pi[states], name=name or "msp_recurrent",
                   state_names=tuple(f"m{k}" for k in states))

    def to_hmm(self, name: str | None = None) -> HMM:
        """The whole MSP (transient and recurrent states) as an :class:`HMM` started in state 0.

        It generates the same words as the original process from its initial distribution.

        Raises:
            ValueError: when the MSP was truncated or has too many states for dense storage.
        """
        if self.truncated:
            raise ValueError("the MSP was truncated (infinite or larger than max_states): its "
                             "unexpanded states have no transitions, so it is not an HMM")
        T = self.dense_transition_matrices()
        init = np.zeros(self.num_states)
        init[0] = 1.0
        return HMM(T, initial_distribution=init, name=name or "msp",
                   state_names=tuple(f"m{k}" for k in range(self.num_states)))

    def _require_single_recurrent_component(self) -> None:
        if self.truncated:
            raise ValueError(
                f"the MSP was truncated at {self.num_states} states before it closed (an infinite "
                "or very large mixed-state set): its recurrent part is not known"
            )
        k = self.num_recurrent_components
        if k != 1:
            raise ValueError(f"the MSP has {k} closed components, not exactly one")


def _sparse_stationary(P) -> np.ndarray:
    """Stationary row vector of an irreducible sparse stochastic matrix ``P`` (``pi P = pi``)."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    n = P.shape[0]
    if n == 1:
        return np.ones(1)
    A = (P.T - sparse.identity(n, format="csr")).tolil()
    A[n - 1, :] = np.ones(n)
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    pi = np.asarray(spsolve(A.tocsc(), rhs), dtype=np.float64)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def mixed_state_presentation(hmm: Process, tol: float = DEFAULT_TOL, max_states: int = 10_000,
                             max_depth: int | None = None,
                             initial_distribution=None) -> MixedStatePresentation:
    """Build the MSP graph by breadth-first search over new distinct beliefs.

    Level by level: expand the frontier's beliefs on every token at once, drop zero-probability
    successors, merge successors with known beliefs (grid cells of size ``tol`` in max-norm, looked
    up by a sort of row keys), add the new ones as states and make them the next frontier. Closed
    strongly connected components (``scipy.sparse.csgraph``) are the recurrent states.

    Args:
        hmm: the process.
        tol: max-norm tolerance under which two beliefs are one state.
        max_states: cap on the number of states; reaching it sets ``truncated``. The search costs
            about 0.1 ms per BFS level plus ``O(N log N)`` per level, so chain-like infinite MSPs
            (one new state per level, e.g. the SNS) take ~1 s per 10^4 states.
        max_depth: optional cap on the BFS depth (word length); reaching it with unexpanded states
            also sets ``truncated``.
        initial_distribution: the start belief (state 0); defaults to ``hmm.initial_distribution``.

    Returns:
        :class:`MixedStatePresentation`.

    Example:
        >>> import compmech
        >>> msp = compmech.mixed_state_presentation(compmech.get_process("even"))
        >>> msp.num_states, msp.num_recurrent, msp.truncated
        (4, 2, False)
    """
    if isinstance(max_states, bool) or int(max_states) != max_states or max_states < 1:
        raise ValueError(f"max_states must be an integer >= 1; got {max_states}")
    if max_depth is not None:
        max_depth = _check_depth(max_depth, "max_depth")
    V, S = hmm.vocab_size, hmm.num_states
    successors = _expander(hmm)
    init = _initial_belief(hmm, initial_distribution)

    beliefs = [init[None, :]]
    depths = [np.zeros(1, dtype=np.int64)]
    known_keys = _row_keys(quantize(init[None, :], tol))  # sorted
    known_ids = np.zeros(1, dtype=np.int64)
    num_states = 1
    frontier = np.zeros(1, dtype=np.int64)
    frontier_beliefs = init[None, :]
    edges = []  # (token, source, target, prob) per level
    unexpanded = np.zeros(0, dtype=np.int64)
    truncated = False
    level = 0
    while frontier.shape[0]:
        if max_depth is not None and level >= max_depth:
            unexpanded, truncated = frontier, True
            break
        level += 1
        next_probs, children = successors(frontier_beliefs)
        flat_probs = next_probs.reshape(-1)
        idx = np.flatnonzero(flat_probs > 0)
        src_local, tok = idx // V, idx % V
        child = children.reshape(-1, S)[idx]
        child_keys = _row_keys(quantize(child, tol))
        target, found, new_keys, first, order = _match_states(known_keys, known_ids, child_keys,
                                                              num_states)
        if order.shape[0] > max_states - num_states:
            truncated = True
            kept_new = order[:max_states - num_states]
            # A frontier state is expanded only when all of its successors are states.
            ok_src = np.ones(frontier.shape[0], dtype=bool)
            np.logical_and.at(ok_src, src_local, target < max_states)
            unexpanded = frontier[~ok_src]
            keep_edge = ok_src[src_local]
            src_local, tok, target = src_local[keep_edge], tok[keep_edge], target[keep_edge]
            flat_keep = idx[keep_edge]
        else:
            kept_new = order
            flat_keep = idx
        new_local = np.flatnonzero(~found)[first[kept_new]]
        new_beliefs = child[new_local]
        edges.append((tok, frontier[src_local], target, flat_probs[flat_keep]))
        beliefs.append(new_beliefs)
        depths.append(np.full(new_beliefs.shape[0], level, dtype=np.int64))
        merged_keys = np.concatenate([known_keys, new_keys[kept_new]])
        merged_ids = np.concatenate([known_ids, num_states + np.arange(kept_new.shape[0])])
        sort = np.argsort(merged_keys, kind="stable")
        known_keys, known_ids = merged_keys[sort], merged_ids[sort]
        frontier = num_states + np.arange(kept_new.shape[0])
        frontier_beliefs = new_beliefs
        num_states += kept_new.shape[0]
        if truncated:
            unexpanded = np.concatenate([unexpanded, frontier])
            break

    cat = (lambda k: np.concatenate([e[k] for e in edges])) if edges else (
        lambda k: np.zeros(0, dtype=np.float64 if k == 3 else np.int64))
    edge_token, edge_source, edge_target, edge_prob = (cat(k) for k in range(4))
    expanded = np.ones(num_states, dtype=bool)
    expanded[unexpanded] = False
    component, recurrent = _closed_components(num_states, edge_source, edge_target, expanded)
    return MixedStatePresentation(
        beliefs=np.concatenate(beliefs, axis=0),
        depth=np.concatenate(depths),
        expanded=expanded,
        edge_token=edge_token.astype(np.int64),
        edge_source=edge_source.astype(np.int64),
        edge_target=edge_target.astype(np.int64),
        edge_probability=edge_prob.astype(np.float64),
        recurrent=recurrent,
        component=component,
        truncated=bool(truncated),
        tol=float(tol),
        vocab_size=V,
    )


def _match_states(known_keys: np.ndarray, known_ids: np.ndarray, child_keys: np.ndarray,
                  num_states: int):
    """Look successors up among the known states (``known_keys`` sorted); number the new ones
    ``num_states, num_states + 1, ...`` in order of appearance.

    Returns:
        ``(target state of each child, found (bool), the new distinct keys, index of each new key's
        first child among the unfound ones, order of the new keys by first appearance)``.
    """
    pos = np.minimum(np.searchsorted(known_keys, child_keys), known_keys.shape[0] - 1)
    found = known_keys[pos] == child_keys
    target = np.where(found, known_ids[pos], -1)
    new_keys, first, inverse = np.unique(child_keys[~found], return_index=True,
                                         return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    target[~found] = (num_states + rank)[inverse]
    return target, found, new_keys, first, order


def _closed_components(n: int, source: np.ndarray, target: np.ndarray, expanded: np.ndarray):
    """Strongly connected components and which of them are closed (no edge leaves them, and all
    their states are expanded). Returns ``(component (n,), recurrent (n,) bool)``."""
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    graph = sparse.csr_matrix((np.ones(source.shape[0]), (source, target)), shape=(n, n))
    num, component = connected_components(graph, directed=True, connection="strong")
    component = component.astype(np.int64)
    leaky = np.zeros(num, dtype=bool)
    crossing = component[source] != component[target]
    leaky[component[source[crossing]]] = True
    leaky[component[~expanded]] = True
    return component, ~leaky[component]
