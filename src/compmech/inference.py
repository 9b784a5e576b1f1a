"""Belief filtering, word probabilities, sampling and exact word enumeration.

All public functions compute in float64 (JAX x64 is enabled only inside them, never globally) and
return numpy arrays. The traceable kernels :func:`filter_jax` and :func:`sample_jax` follow the dtype
of the transition matrices they are given, so the transformer can call them inside its own compiled
float32 training step.

Alignment: for input tokens ``x_1 .. x_L`` the belief at position ``t`` (0-based index ``t - 1``) is
the belief **after** seeing ``x_1 .. x_t``; it gives the distribution of ``x_{t+1}``.

Every function takes a classical :class:`~compmech.hmm.HMM` or a :class:`~compmech.hmm.GHMM`.
Beliefs are normalised by ``eta T[x] r`` with ``r`` the right eigenvector; for an HMM (``r = 1``)
the kernels take the classical path (normalise by the sum), bitwise unchanged. For a GHMM a
conditional probability at or below :data:`~compmech.validation.GHMM_ZERO_TOL` counts as zero (an
impossible token), and the sampler clips signed round-off below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from compmech.hmm import Process, normaliser
from compmech.resources import format_bytes
from compmech.stateful import filter_states, is_stateful, sample_states
from compmech.validation import GHMM_ZERO_TOL

#: Largest number of words :func:`enumerate_words` will build.
MAX_ENUMERATED_WORDS = 50_000_000


@dataclass(frozen=True)
class Filtered:
    """Result of :func:`filter_beliefs` for tokens of shape ``(..., L)``.

    Attributes:
        beliefs: ``(..., L, S)`` the belief after each token, ``eta_t = eta_{t-1} T[x_t] / Z_t``.
        log_probability: ``(...)`` natural log of ``P(x_1..x_L) = sum_t log Z_t`` (``-inf`` for an
            impossible word).
        possible: ``(..., L)`` bool, whether ``x_1..x_t`` has nonzero probability. Beliefs after an
            impossible prefix are NaN (only returned with ``allow_impossible=True``).
        emission_probabilities: ``(S, V)`` ``E[i, v] = (T[v] r)_i`` of the filtered process
            (``P(v | state i)`` for an HMM), so that ``P(v | eta) = eta @ E``; ``None`` for a
            stateful process (:mod:`compmech.stateful`), whose beliefs are its state vectors.
    """

    beliefs: np.ndarray
    log_probability: np.ndarray
    possible: np.ndarray
    emission_probabilities: np.ndarray

    @property
    def next_token_probs(self) -> np.ndarray:
        """``(..., L, V)`` ``P(x_{t+1} = v | x_1..x_t) = eta_t T[v] r`` (computed on access)."""
        if self.emission_probabilities is None:
            raise ValueError("a stateful process's next-token law is not linear in its state: use "
                             "process.token_probabilities(beliefs.reshape(-1, D))")
        return self.beliefs @ self.emission_probabilities


class Samples(NamedTuple):
    """Result of :func:`sample`.

    Attributes:
        tokens: ``(N, L)`` int32 sampled tokens.
        beliefs: ``(N, L, S)`` float64, the belief after each token (aligned like
            :func:`filter_beliefs`).
    """

    tokens: np.ndarray
    beliefs: np.ndarray


# ----------------------------------------------------------------------------- traceable kernels
# Inside the scans the batch is the *last* axis ("state-major": beliefs are (S, B)), so every
# operation is a contiguous vector operation over the batch. For small models (V * S * S terms up
# to UNROLL_LIMIT, every catalogue process) the update is unrolled at trace time into scalar-times-
# vector arithmetic, which XLA fuses into one loop; larger models gather T[x] and contract.

#: Largest ``V * S * S`` for which the belief update is unrolled at trace time.
UNROLL_LIMIT = 256


def _select(masks: list, values: jax.Array) -> jax.Array:
    """``values[x]`` for every sequence, with ``masks[v] = (x == v)``."""
    out = jnp.broadcast_to(values[0], masks[0].shape)
    for v in range(1, len(masks)):
        out = jnp.where(masks[v], values[v], out)
    return out


def _unnormalised_update(T: jax.Array, eta: jax.Array, x: jax.Array) -> jax.Array:
    """``eta T[x]`` (unnormalised) per sequence: ``T (V, S, S)``, ``eta (S, B)``, ``x (B,)`` -> ``(S, B)``."""
    V, S, _ = T.shape
    if V * S * S > UNROLL_LIMIT:
        return jnp.einsum("ib,bij->jb", eta, T[x])
    masks = [x == v for v in range(V)]
    rows = []
    for j in range(S):
        terms = [eta[i] * _select(masks, T[:, i, j]) for i in range(S)]
        rows.append(sum(terms[1:], terms[0]))
    return jnp.stack(rows)


def _predictive(E: jax.Array, eta: jax.Array) -> jax.Array:
    """Next-token distribution ``eta E``: ``E (S, V)`` emission matrix, ``eta (S, B)`` -> ``(V, B)``."""
    S, V = E.shape
    if V * S * S > UNROLL_LIMIT:
        return E.T @ eta
    cols = []
    for v in range(V):
        terms = [eta[i] * E[i, v] for i in range(S)]
        cols.append(sum(terms[1:], terms[0]))
    return jnp.stack(cols)


def _filter_scan(T: jax.Array, eta0: jax.Array, tokens: jax.Array, r: jax.Array | None = None):
    """State-major filter. ``eta0 (S, B)``, ``tokens (L, B)`` -> beliefs ``(L, S, B)`` and log
    normalisers ``(L, B)``. A zero normaliser (impossible prefix) gives ``log 0 = -inf`` at that step
    and NaN beliefs and normalisers after it; callers turn that into a ``possible`` mask. ``r``:
    the right eigenvector of a GHMM, or ``None`` to normalise by the sum (classical)."""

    def step(eta, x):
        unnorm = _unnormalised_update(T, eta, x)
        new, z = _normalise(unnorm, r)
        return new, (new, z)

    _, (beliefs, z) = jax.lax.scan(step, eta0, tokens)
    return beliefs, jnp.log(z)  # one vectorised log after the loop is cheaper than one per step


def _filter_with_log_probability(T: jax.Array, eta0: jax.Array, tokens: jax.Array,
                                 r: jax.Array | None = None):
    """:func:`_filter_scan` plus ``possible (L, B)`` and the word log probabilities ``(B,)``."""
    beliefs, log_z = _filter_scan(T, eta0, tokens, r)
    possible = jnp.isfinite(log_z)
    log_prob = jnp.where(possible.all(0), log_z.sum(0), -jnp.inf)
    return beliefs, possible, log_prob


def _weighted_sum(r: jax.Array, unnorm: jax.Array) -> jax.Array:
    """``r @ unnorm``: ``r (S,)``, ``unnorm (S, B)`` -> ``(B,)`` (unrolled for small ``S``)."""
    S = unnorm.shape[0]
    if S * S > UNROLL_LIMIT:
        return r @ unnorm
    terms = [r[j] * unnorm[j] for j in range(S)]
    return sum(terms[1:], terms[0])


def _zero_tol(dtype) -> float:
    """GHMM conditional probabilities at or below this are zero (scaled up for float32)."""
    return max(GHMM_ZERO_TOL, 64 * float(jnp.finfo(dtype).eps))


def _normalise(unnorm: jax.Array, r: jax.Array | None):
    """``(eta', z)`` with ``z = unnorm 1`` (``r is None``, the classical path) or ``unnorm r``.

    For a GHMM a normaliser at or below the zero tolerance is an impossible token: ``z = 0`` and
    NaN beliefs, as a classical zero normaliser gives."""
    if r is None:
        z = unnorm.sum(0)
        return unnorm / z[None, :], z
    z = _weighted_sum(r, unnorm)
    ok = z > _zero_tol(unnorm.dtype)
    new = jnp.where(ok[None, :], unnorm / jnp.where(ok, z, 1.0)[None, :], jnp.nan)
    return new, jnp.where(ok, z, 0.0)


def _cumsum_rows(a: jax.Array) -> jax.Array:
    """``jnp.cumsum(a, axis=0)``, as running adds when the axis is short (XLA's CPU cumsum is a
    slow reduce-window; the order of the additions is the same)."""
    if a.shape[0] > 16:
        return jnp.cumsum(a, axis=0)
    rows = [a[0]]
    for v in range(1, a.shape[0]):
        rows.append(rows[-1] + a[v])
    return jnp.stack(rows)


def _sample_scan(T: jax.Array, eta0: jax.Array, uniforms: jax.Array, unroll: int = 1,
                 r: jax.Array | None = None):
    """State-major sampler. ``eta0 (S, N)``, ``uniforms (L, N)`` -> tokens ``(L, N)`` int32 and
    beliefs ``(L, S, N)``. ``r``: a GHMM's right eigenvector, or ``None`` (classical, ``r = 1``)."""
    E = T.sum(axis=2).T if r is None else (T @ r).T  # (S, V)

    def step(eta, u):
        probs = _predictive(E, eta)  # (V, N)
        if r is not None:  # signed round-off must not give a token negative mass
            probs = jnp.maximum(probs, 0.0)
        cdf = _cumsum_rows(probs)
        threshold = u * cdf[-1]
        x = (cdf[:-1] <= threshold[None, :]).sum(0).astype(jnp.int32)
        unnorm = _unnormalised_update(T, eta, x)
        if r is None:
            new = unnorm / unnorm.sum(0)[None, :]
        else:
            new = unnorm / _weighted_sum(r, unnorm)[None, :]
        return new, (x, new)

    _, (tokens, beliefs) = jax.lax.scan(step, eta0, uniforms, unroll=unroll)
    return tokens, beliefs


def filter_jax(transition_matrices: jax.Array, initial_belief: jax.Array, tokens: jax.Array, *,
               right_eigenvector: jax.Array | None = None):
    """Traceable belief filter over a batch (dtype follows ``transition_matrices``).

    ``eta_t = eta_{t-1} T[x_t] / (eta_{t-1} T[x_t] r)``, with ``r = 1`` (normalise by the sum)
    unless ``right_eigenvector`` is given.

    Args:
        transition_matrices: ``(V, S, S)``.
        initial_belief: ``(S,)`` start belief.
        tokens: ``(B, L)`` integers in ``[0, V)``.
        right_eigenvector: ``(S,)`` ``r`` of a GHMM (``None``: classical, ``r = 1``).

    Returns:
        ``(beliefs (B, L, S), log_norms (B, L), possible (B, L))`` where ``beliefs[b, t]`` is the
        belief after ``tokens[b, :t + 1]`` and ``log_norms[b, t] = log P(x_t | x_1..x_{t-1})``
        (``-inf`` once the prefix is impossible, and then the beliefs are NaN).
    """
    B = tokens.shape[0]
    eta0 = jnp.broadcast_to(initial_belief[:, None], (initial_belief.shape[0], B))
    dtype = transition_matrices.dtype
    r = None if right_eigenvector is None else jnp.asarray(right_eigenvector, dtype=dtype)
    beliefs, log_z = _filter_scan(transition_matrices, eta0.astype(dtype), tokens.T, r)
    possible = jnp.isfinite(log_z)
    log_z = jnp.where(jnp.cumsum(~possible, axis=0) > 0, -jnp.inf, log_z)
    return jnp.transpose(beliefs, (2, 0, 1)), log_z.T, possible.T


def sample_jax(transition_matrices: jax.Array, initial_belief: jax.Array, key: jax.Array,
               num_sequences: int, seq_len: int, *, right_eigenvector: jax.Array | None = None):
    """Traceable sampler: tokens drawn from the belief's predictive distribution, step by step.

    Drawing ``x_{t+1} ~ eta_t T[.] r`` and updating ``eta`` gives exactly the process's word
    distribution (no hidden states needed, so GHMMs sample the same way) and the aligned beliefs
    for free. Without ``right_eigenvector`` (``r = 1``) results are those of the classical sampler.

    Args:
        transition_matrices: ``(V, S, S)``; its dtype sets the computation's dtype.
        initial_belief: ``(S,)`` where sequences start.
        key: a JAX PRNG key.
        num_sequences: ``N``.
        seq_len: ``L``.
        right_eigenvector: ``(S,)`` ``r`` of a GHMM (cast to the matrices' dtype), or ``None``.

    Returns:
        ``(tokens (N, L) int32, beliefs (N, L, S))``, ``beliefs[n, t]`` being the belief after
        ``tokens[n, :t + 1]``.
    """
    tokens, beliefs = _sample_state_major(
        transition_matrices, initial_belief, key, num_sequences, seq_len, right_eigenvector
    )
    return tokens.T, jnp.transpose(beliefs, (2, 0, 1))


def _sample_state_major(transition_matrices, initial_belief, key, num_sequences, seq_len,
                        right_eigenvector=None):
    dtype = transition_matrices.dtype
    S = initial_belief.shape[0]
    eta0 = jnp.broadcast_to(initial_belief[:, None], (S, num_sequences)).astype(dtype)
    uniforms = jax.random.uniform(key, (seq_len, num_sequences), dtype=dtype)
    r = None if right_eigenvector is None else jnp.asarray(right_eigenvector, dtype=dtype)
    return _sample_scan(transition_matrices, eta0, uniforms, r=r)


_filter_jit = jax.jit(_filter_with_log_probability)
_sample_jit = jax.jit(_sample_state_major, static_argnames=("num_sequences", "seq_len"))


# ---------------------------------------------------------------------------------- public API
def _as_tokens(hmm: Process, tokens) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim == 0:
        raise ValueError("tokens must have shape (..., L) with L >= 1; got a scalar")
    if tokens.shape[-1] == 0:
        raise ValueError(f"tokens must have shape (..., L) with L >= 1; got shape {tokens.shape}")
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        if not np.all(np.equal(np.mod(tokens, 1), 0)):
            raise ValueError(f"tokens must be integers; got dtype {tokens.dtype}")
        tokens = tokens.astype(np.int64)
    if tokens.size:
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= hmm.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"token {bad} is outside the vocabulary of {hmm.name!r} (valid: 0..{hmm.vocab_size - 1})"
            )
    return tokens.astype(np.int32)


def _initial(hmm: Process, initial_distribution) -> np.ndarray:
    if initial_distribution is None:
        return hmm.initial_distribution
    return hmm.with_initial_distribution(initial_distribution).initial_distribution


def filter_beliefs(hmm: Process, tokens, initial_distribution=None, *,
                   allow_impossible: bool = False) -> Filtered:
    """Bayesian filtering of beliefs, batched over leading axes.

    ``eta_0`` is the initial distribution (stationary by default); after token ``x_t``,
    ``eta_t = eta_{t-1} T[x_t] / (eta_{t-1} T[x_t] r)`` (``r = 1`` for an HMM, the right
    eigenvector for a GHMM, whose beliefs lie on the plane ``eta r = 1``). The belief at position
    ``t`` is the one **after** seeing ``x_1 .. x_t``. Normalising at each step keeps 10^6-token
    words exact.

    Args:
        hmm: the process (HMM or GHMM).
        tokens: integer array of shape ``(..., L)``.
        initial_distribution: ``(S,)`` start belief; defaults to ``hmm.initial_distribution``.
        allow_impossible: if False (default), a word of probability zero raises ``ValueError``;
            if True its beliefs from the impossible token on are NaN, flagged by ``possible``.

    Returns:
        :class:`Filtered` with ``beliefs (..., L, S)``, ``log_probability (...)``,
        ``possible (..., L)`` and (computed on access) ``next_token_probs (..., L, V)``.

    Example:
        >>> import compmech
        >>> f = compmech.filter_beliefs(compmech.get_process("z1r"), [0, 1, 0])
        >>> f.beliefs[-1].round(3).tolist()
        [1.0, 0.0, 0.0]
    """
    tokens = _as_tokens(hmm, tokens)
    batch_shape, L = tokens.shape[:-1], tokens.shape[-1]
    S = hmm.num_states
    flat_tokens = tokens.reshape(-1, L)
    B = flat_tokens.shape[0]
    if is_stateful(hmm):  # no matrices: the state/update protocol, one batched step per position
        beliefs, log_prob, possible = filter_states(hmm, flat_tokens, initial_distribution)
        return _filtered(hmm, flat_tokens, batch_shape, beliefs, log_prob, possible,
                         allow_impossible, None)
    init = _initial(hmm, initial_distribution)
    with jax.enable_x64(True):
        eta0 = np.broadcast_to(init[:, None], (S, B))
        beliefs, possible, log_prob = _filter_jit(
            jnp.asarray(hmm.transition_matrices), jnp.asarray(eta0), jnp.asarray(flat_tokens.T),
            _jax_normaliser(hmm),
        )
        log_prob = np.asarray(log_prob)
        # State-major (L, S, B) results are returned as (B, L, S) views: no copy.
        beliefs = np.asarray(beliefs).transpose(2, 0, 1)
        possible = np.asarray(possible).T
    return _filtered(hmm, flat_tokens, batch_shape, beliefs, log_prob, possible, allow_impossible,
                     hmm.emission_probabilities)


def _filtered(hmm, flat_tokens, batch_shape, beliefs, log_prob, possible, allow_impossible,
              emissions) -> Filtered:
    L, S = flat_tokens.shape[1], beliefs.shape[-1]
    if not allow_impossible and not possible.all():
        b, t = np.argwhere(~possible)[0]
        word = np.unravel_index(b, batch_shape) if batch_shape else ()
        raise ValueError(
            f"word at index {tuple(int(i) for i in word)} has probability zero under {hmm.name!r}: "
            f"token {int(flat_tokens[b, t])} at position {int(t)} cannot follow the tokens before it "
            "(pass allow_impossible=True to get NaN beliefs and a 'possible' mask instead)"
        )
    return Filtered(
        beliefs=beliefs.reshape(*batch_shape, L, S),
        log_probability=log_prob.reshape(batch_shape),
        possible=possible.reshape(*batch_shape, L),
        emission_probabilities=emissions,
    )


def log_probability(hmm: Process, tokens, initial_distribution=None) -> np.ndarray:
    """Natural log of each word's probability, ``log(pi T[x_1] ... T[x_L] r)`` (``r = 1`` for an HMM).

    Args:
        hmm: the process.
        tokens: integer array of shape ``(..., L)``.
        initial_distribution: ``(S,)``; defaults to ``hmm.initial_distribution``.

    Returns:
        ``(...)`` float64; ``-inf`` for words of probability zero.
    """
    return filter_beliefs(hmm, tokens, initial_distribution, allow_impossible=True).log_probability


def _jax_normaliser(hmm: Process):
    r = normaliser(hmm)
    return None if r is None else jnp.asarray(r)


def _key(seed) -> jax.Array:
    if isinstance(seed, (int, np.integer)):
        return jax.random.key(int(seed))
    if isinstance(seed, jax.Array):
        return seed
    raise ValueError(f"seed must be an integer or a JAX key; got {type(seed).__name__}")


def sample(hmm: Process, num_sequences: int, seq_len: int, seed, initial_distribution=None) -> Samples:
    """Sample ``num_sequences`` words of length ``seq_len`` with their aligned beliefs.

    Sequences start from the stationary distribution (or ``initial_distribution``). Each token is
    drawn from ``P(x | eta) = eta T[x] r`` and the belief updated (for a GHMM the belief is the
    state). The same seed gives the same bytes.

    Args:
        hmm: the process (HMM or GHMM).
        num_sequences: ``N >= 1``.
        seq_len: ``L >= 1``.
        seed: an integer seed or a JAX key.
        initial_distribution: optional ``(S,)`` start belief.

    Returns:
        :class:`Samples` with ``tokens (N, L)`` int32 and ``beliefs (N, L, S)`` float64, where
        ``beliefs[n, t]`` is the belief after ``tokens[n, :t + 1]``.
    """
    for what, value in (("num_sequences", num_sequences), ("seq_len", seq_len)):
        if int(value) != value or value < 1:
            raise ValueError(f"{what} must be an integer >= 1; got {value}")
    if is_stateful(hmm):
        return Samples(*sample_states(hmm, int(num_sequences), int(seq_len), seed,
                                      initial_distribution))
    init = _initial(hmm, initial_distribution)
    key = _key(seed)
    with jax.enable_x64(True):
        tokens, beliefs = _sample_jit(
            jnp.asarray(hmm.transition_matrices), jnp.asarray(init), key,
            num_sequences=int(num_sequences), seq_len=int(seq_len),
            right_eigenvector=_jax_normaliser(hmm),
        )
        # State-major (L, N) and (L, S, N) results are returned as (N, L) and (N, L, S) views.
        return Samples(np.asarray(tokens).T, np.asarray(beliefs).transpose(2, 0, 1))


def all_words(vocab_size: int, length: int) -> np.ndarray:
    """``(V**L, L)`` int32: every word of length ``L`` in lexicographic order."""
    n = vocab_size**length
    if n > MAX_ENUMERATED_WORDS:
        raise ValueError(
            f"{vocab_size}^{length} = {n:.3g} words is more than {MAX_ENUMERATED_WORDS:,} (they "
            f"would take about {format_bytes(4.0 * n * length)} as int32); use sampled sequences "
            "instead"
        )
    index = np.arange(n, dtype=np.int64)
    powers = vocab_size ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return ((index[:, None] // powers[None, :]) % vocab_size).astype(np.int32)


def enumerate_words(hmm: Process, length: int, initial_distribution=None):
    """Every word of length ``L`` with its exact probability.

    Returns:
        ``(words (V**L, L) int32, probabilities (V**L,) float64)``; probabilities sum to 1 and
        impossible words have probability 0.
    """
    if int(length) != length or length < 1:
        raise ValueError(f"length must be an integer >= 1; got {length}")
    words = all_words(hmm.vocab_size, int(length))
    probs = np.exp(log_probability(hmm, words, initial_distribution))
    return words, probs
