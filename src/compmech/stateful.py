"""Processes without a linear presentation: a state vector and a vectorised update.

Most processes are linear: a start vector and matrices ``T[x]`` (:class:`~compmech.hmm.HMM`,
:class:`~compmech.hmm.GHMM`), and the theory kernels multiply by them. Some processes of the
Generative Processes Specification are not: the fully conditional approximation normalises a
product of conditionals (a rational function of the state), and conditional-transition schemes
update a factor with other matrices than those that gave its emission probability. For those a
:class:`StatefulProcess` gives

* ``initial_distribution``: ``(D,)`` the start state (any fixed-length vector; for the factored
  processes of :mod:`compmech.factored` the factors' canonical states side by side),
* ``token_probabilities(states (N, D)) -> (N, V)``: ``P(x | state)``,
* ``update(states (N, D), tokens (N,)) -> (N, D)``: the state after ``x``,

both vectorised over the ``N`` states, and the theory functions (:func:`compmech.filter_beliefs`,
:func:`compmech.log_probability`, :func:`compmech.enumerate_words`, :func:`compmech.sample`,
:func:`compmech.mixed_state_tree`, :func:`compmech.myopic_entropy`,
:func:`compmech.optimal_cross_entropy_nats`) run on them with the functions here: loops over time
steps or tree levels only, each a batched array operation. The "beliefs" they return are these
state vectors, so equal states merge in the mixed-state propagation exactly as beliefs do.

:func:`as_stateful` wraps an HMM or GHMM in the same interface (its belief is its state), so that
compositions of both kinds share one code path.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

#: A conditional probability at or below this counts as an impossible token in the stateful
#: algorithms (word probabilities of exact zeros stay exactly zero).
STATEFUL_ZERO_TOL = 1e-15


class StatefulProcess:
    """Interface of a process given by a state and an update rule (see the module docstring).

    Subclasses set ``name``, ``params``, ``vocab_size``, ``num_states`` (the state length ``D``),
    ``initial_distribution``, ``token_names`` and implement :meth:`token_probabilities` and
    :meth:`update`; ``structure`` is ``None`` (no joint :class:`~compmech.validation.Composition`).
    """

    kind: ClassVar[str] = "stateful"
    structure = None
    name: str
    params: dict
    vocab_size: int
    num_states: int
    initial_distribution: np.ndarray

    @property
    def token_names(self) -> tuple:
        return tuple(str(x) for x in range(self.vocab_size))

    @property
    def state_names(self) -> tuple:
        """Names of the state vector's entries."""
        return tuple(f"s{k}" for k in range(self.num_states))

    @property
    def stationary_distribution(self) -> np.ndarray:
        """Not defined: v1.0 defines no stationary object for these processes (§4.7, §5.7)."""
        raise ValueError(f"{self.name!r} is a stateful process: no stationary state is defined")

    @property
    def is_ergodic(self) -> bool:
        """``False``: no stationary object is claimed for a stateful process (spec §4.7)."""
        return False

    @property
    def is_unifilar(self) -> bool:
        return False

    def token_probabilities(self, states: np.ndarray) -> np.ndarray:
        """``(N, D) -> (N, V)``: ``P(x | state)``; rows sum to 1."""
        raise NotImplementedError

    def update(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """``(N, D), (N,) -> (N, D)``: the state after each token (undefined, NaN, after a token
        of probability zero unless the process defines a fallback)."""
        raise NotImplementedError

    def with_initial_distribution(self, state) -> StatefulProcess:
        """The same process started from another state ``(D,)``."""
        raise NotImplementedError

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All one-token successors: ``(next_probs (N, V), children (N, V, D))``."""
        N, D = states.shape
        V = self.vocab_size
        probs = self.token_probabilities(states)
        children = self.update(np.repeat(states, V, axis=0), np.tile(np.arange(V), N))
        return probs, children.reshape(N, V, D)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name}, state_size={self.num_states}, "
                f"vocab_size={self.vocab_size})")


class LinearAsStateful(StatefulProcess):
    """An :class:`~compmech.hmm.HMM` or :class:`~compmech.hmm.GHMM` seen through the stateful
    interface: ``P(x | eta) = eta T[x] r / (eta r)``, ``eta' = eta T[x] / (eta T[x] r)``.

    The ratio form makes the state projective (any positive multiple of a belief is the same
    state, spec §3.7); the update returns the canonical representative ``eta' r = 1``.
    """

    def __init__(self, process: Any) -> None:
        self.process = process
        self.name = process.name
        self.params = dict(process.params)
        self.vocab_size = process.vocab_size
        self.num_states = process.num_states
        self.initial_distribution = np.asarray(process.initial_distribution, dtype=np.float64)
        T = np.asarray(process.transition_matrices)
        self._flat = np.ascontiguousarray(np.transpose(T, (1, 0, 2)).reshape(self.num_states, -1))
        self._r = np.asarray(process.right_eigenvector, dtype=np.float64)
        self._E = np.asarray(process.emission_probabilities, dtype=np.float64)
        self._tol = 0.0 if process.kind == "hmm" else 1e-12

    @property
    def token_names(self) -> tuple:
        return tuple(self.process.token_names)

    def token_probabilities(self, states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        probs = (states @ self._E) / (states @ self._r)[:, None]
        return np.where(probs > self._tol, probs, 0.0) if self._tol else probs

    def update(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        N, S = states.shape
        T = np.asarray(self.process.transition_matrices)
        unnorm = np.einsum("ni,nij->nj", states, T[np.asarray(tokens, dtype=np.int64)])
        z = unnorm @ self._r
        ok = z > self._tol
        return np.where(ok[:, None], unnorm / np.where(ok, z, 1.0)[:, None], np.nan)

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        states = np.asarray(states, dtype=np.float64)
        N, S = states.shape
        joint = (states @ self._flat).reshape(N, self.vocab_size, S)
        z = joint @ self._r  # (N, V)
        ok = z > self._tol
        children = joint / np.where(ok, z, 1.0)[:, :, None]
        probs = np.where(ok, z, 0.0) / (states @ self._r)[:, None]
        return probs, children

    def with_initial_distribution(self, state) -> LinearAsStateful:
        return LinearAsStateful(self.process.with_initial_distribution(state))


def as_stateful(process: Any) -> StatefulProcess:
    """``process`` itself if stateful, else an HMM/GHMM wrapped as :class:`LinearAsStateful`."""
    if isinstance(process, StatefulProcess):
        return process
    return LinearAsStateful(process)


def is_stateful(process: Any) -> bool:
    """Whether ``process`` needs the stateful algorithms (it has no matrices ``T``)."""
    return isinstance(process, StatefulProcess)


# ---------------------------------------------------------------------------------- algorithms
def initial_state(process: StatefulProcess, initial_distribution=None) -> np.ndarray:
    """``(D,)`` the start state, ``process.initial_distribution`` unless one is given."""
    if initial_distribution is None:
        return np.array(process.initial_distribution, dtype=np.float64)
    return np.array(process.with_initial_distribution(initial_distribution).initial_distribution)


def filter_states(process: StatefulProcess, tokens: np.ndarray, initial_distribution=None):
    """Filter a batch of words through a stateful process, one vectorised step per position.

    Args:
        process: the process.
        tokens: ``(B, L)`` integers in ``[0, V)``.
        initial_distribution: optional start state.

    Returns:
        ``(states (B, L, D), log_probability (B,), possible (B, L))``: ``states[b, t]`` is the
        state after ``tokens[b, :t + 1]``; ``log_probability = sum_t log P(x_t | state_{t-1})``
        (``-inf`` once a token has probability zero; the states from there on are NaN).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    B, L = tokens.shape
    state = np.broadcast_to(initial_state(process, initial_distribution), (B, process.num_states))
    states = np.empty((B, L, process.num_states))
    log_p = np.zeros(B)
    possible = np.ones((B, L), dtype=bool)
    alive = np.ones(B, dtype=bool)
    rows = np.arange(B)
    for t in range(L):  # a loop over positions; each step is batched over the B words
        p = process.token_probabilities(state)[rows, tokens[:, t]]
        alive &= p > STATEFUL_ZERO_TOL
        with np.errstate(divide="ignore"):
            log_p += np.log(np.where(alive, p, 0.0))
        state = process.update(state, tokens[:, t])
        state = np.where(alive[:, None], state, np.nan)
        states[:, t] = state
        possible[:, t] = alive
    return states, np.where(alive, log_p, -np.inf), possible


def sample_states(process: StatefulProcess, num_sequences: int, seq_len: int, seed,
                  initial_distribution=None) -> tuple[np.ndarray, np.ndarray]:
    """Sample words token by token from ``P(x | state)`` (spec §6.1), batched over sequences.

    Args:
        process: the process.
        num_sequences: ``N``.
        seq_len: ``L``.
        seed: an integer seed (numpy ``default_rng``) or a JAX key (turned into one).
        initial_distribution: optional start state.

    Returns:
        ``(tokens (N, L) int32, states (N, L, D))``, ``states[n, t]`` after ``tokens[n, :t + 1]``.
    """
    rng = np.random.default_rng(_seed_int(seed))
    N, L = int(num_sequences), int(seq_len)
    state = np.broadcast_to(initial_state(process, initial_distribution), (N, process.num_states))
    tokens = np.empty((N, L), dtype=np.int32)
    states = np.empty((N, L, process.num_states))
    uniforms = rng.random((L, N))
    for t in range(L):
        probs = np.maximum(process.token_probabilities(state), 0.0)
        cdf = np.cumsum(probs, axis=1)
        x = (cdf[:, :-1] <= (uniforms[t] * cdf[:, -1])[:, None]).sum(1)
        state = process.update(state, x)
        tokens[:, t] = x
        states[:, t] = state
    return tokens, states


def _seed_int(seed) -> int:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(seed)
    try:
        import jax

        return int(jax.random.randint(seed, (), 0, 2**31 - 1))
    except (TypeError, ValueError) as err:
        raise ValueError(f"seed must be an integer or a JAX key; got {type(seed).__name__}") from err


__all__ = ["LinearAsStateful", "StatefulProcess", "as_stateful", "filter_states", "initial_state",
           "is_stateful", "sample_states"]
