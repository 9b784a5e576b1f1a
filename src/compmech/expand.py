"""The vectorised kernels the mixed-state constructions are built on: one step of the belief
update for many beliefs and every token at once (:func:`expand`), tall matrix products in chunks,
quantisation of beliefs, and grouping equal rows by hash (:func:`unique_rows`).
"""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------------------- helpers
#: Rows per BLAS call in :func:`tall_matmul`.
MATMUL_CHUNK_ROWS = 8192


def tall_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a tall ``(N, k)`` ``a`` and a small ``(k, m)`` ``b``, in row chunks.

    One huge call lets a multithreaded BLAS split an ``(N, 3) @ (3, 9)`` product over threads,
    which on a loaded 2-core machine measured ~30x slower (median 400 ms vs 11 ms for N = 531,441)
    than chunks of 8192 rows, each too small to be threaded.
    """
    N = a.shape[0]
    if N <= MATMUL_CHUNK_ROWS:
        return a @ b
    out = np.empty((N, b.shape[1]), dtype=np.result_type(a, b))
    for start in range(0, N, MATMUL_CHUNK_ROWS):
        stop = start + MATMUL_CHUNK_ROWS
        np.matmul(a[start:stop], b, out=out[start:stop])
    return out


def flat_transitions(hmm_or_T) -> np.ndarray:
    """``(V, S, S) -> (S, V*S)`` float64 so that ``eta @ flat`` holds every ``eta T[x]`` at once."""
    T = np.asarray(getattr(hmm_or_T, "transition_matrices", hmm_or_T))
    V, S, _ = T.shape
    return np.ascontiguousarray(np.transpose(T, (1, 0, 2)).reshape(S, V * S), dtype=np.float64)


def expand(beliefs: np.ndarray, flat: np.ndarray, vocab_size: int, emissions=None,
           zero_tol: float = 0.0):
    """All one-token successors of a level of beliefs.

    Args:
        beliefs: ``(N, S)`` beliefs.
        flat: ``(S, V*S)`` from :func:`flat_transitions`.
        vocab_size: ``V``.
        emissions: ``(S, V)`` ``E[i, x] = (T[x] r)_i`` of a GHMM; ``None`` for ``r = 1`` (summing
            ``flat``, the classical path).
        zero_tol: conditional probabilities ``<= zero_tol`` are set to exactly 0 (GHMM round-off);
            0 leaves them untouched.

    Returns:
        ``(next_probs (N, V), children (N, V, S))`` with ``next_probs[n, x] = eta_n T[x] r`` and
        ``children[n, x] = eta_n T[x] / next_probs[n, x]`` (rows with ``next_probs == 0`` are left
        unnormalised; callers drop them).
    """
    N, S = beliefs.shape
    joint = tall_matmul(beliefs, flat).reshape(N, vocab_size, S)
    if emissions is None:
        next_probs = tall_matmul(beliefs, flat.reshape(S, vocab_size, S).sum(axis=2))  # (N, V)
    else:
        next_probs = tall_matmul(beliefs, emissions)
    if zero_tol:
        next_probs = np.where(next_probs > zero_tol, next_probs, 0.0)
    if (next_probs > 0).all():
        joint /= next_probs[:, :, None]
    else:
        joint /= np.where(next_probs > 0, next_probs, 1.0)[:, :, None]
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


_ROW_HASH_MULTIPLIERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)


def _row_hashes(keys: np.ndarray) -> np.ndarray:
    """``(N, S)`` int64 -> ``(N,)`` uint64 mixing hashes (wrapping arithmetic)."""
    h = np.zeros(keys.shape[0], dtype=np.uint64)
    u = keys.astype(np.uint64)
    for j in range(keys.shape[1]):  # S columns, each one array op
        h ^= u[:, j] * _ROW_HASH_MULTIPLIERS[j % 4] + np.uint64(j + 1)
        h = (h ^ (h >> np.uint64(29))) * _ROW_HASH_MULTIPLIERS[(j + 1) % 4]
    return h


def unique_rows(keys: np.ndarray):
    """Unique rows of an integer array.

    Rows are hashed to one 64-bit word and the words sorted (much faster than a lexicographic sort
    of ``S`` columns); the grouping is then verified row by row against each group's first row, and
    on a hash collision the function falls back to a lexicographic sort.

    Args:
        keys: ``(N, S)`` integers.

    Returns:
        ``(first (U,), inverse (N,))``: ``keys[first]`` are the distinct rows (in a deterministic
        order) and ``keys[first][inverse] == keys``.
    """
    N = keys.shape[0]
    if N == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(_row_hashes(keys), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if (keys[first][inverse] == keys).all():
        return first, inverse
    return _unique_rows_lexsort(keys)


def _unique_rows_lexsort(keys: np.ndarray):
    N = keys.shape[0]
    order = np.lexsort(keys.T[::-1])
    sorted_keys = keys[order]
    new_group = np.ones(N, dtype=bool)
    new_group[1:] = (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)
    group = np.cumsum(new_group) - 1
    inverse = np.empty(N, dtype=np.int64)
    inverse[order] = group
    return order[new_group], inverse
