"""The MSP graph (:func:`mixed_state_presentation`): the distinct mixed states of an HMM or GHMM
(beliefs equal within a tolerance merged), their labelled transitions, the recurrent and
transient states, causal states and the epsilon-machine (:mod:`compmech.msp` defines mixed
states and builds the tree). It is built breadth first, one frontier at a time, with a
handful of numpy array operations per level (no per-node Python work); float64 throughout.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.expand import quantize
from compmech.hmm import HMM, Process
from compmech.msp import _check_depth, _expander, _initial_belief

#: Default tolerance (max-norm) under which two beliefs are treated as the same mixed state.
DEFAULT_TOL = 1e-9

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


__all__ = ["DEFAULT_TOL", "MAX_DENSE_STATES", "MixedStatePresentation", "mixed_state_presentation"]
