"""Composite tokens: one integer for a tuple of per-factor tokens (big-endian mixed radix).

The one order of the whole toolkit, that of the Generative Processes Specification v1.0 (§4.3.3,
0-based as serialised): for factors with vocabulary sizes ``V_0 .. V_{F-1}`` the tuple
``(x_0, .., x_{F-1})`` is the composite token

    ``x = sum_f x_f * m_f``,  ``m_f = prod_{g > f} V_g``

so factor 0 is the most significant digit and the last factor varies fastest, and
``x_f = (x // m_f) mod V_f``. :func:`compmech.product` numbers its tokens and its states this way,
and every helper that splits or joins composite tokens calls these two functions.

Example:
    >>> import compmech
    >>> int(compmech.encode_tokens([2, 3], [1, 2]))
    5
    >>> compmech.decode_tokens([2, 3], 5).tolist()
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _sizes(vocab_sizes: Sequence[int]) -> np.ndarray:
    sizes = np.asarray(vocab_sizes)
    if sizes.ndim != 1 or sizes.shape[0] == 0 or not np.issubdtype(sizes.dtype, np.integer) or (
            sizes < 1).any():
        raise ValueError(f"vocab_sizes must be a non-empty list of integers >= 1; got {vocab_sizes!r}")
    if float(np.prod(sizes.astype(np.float64))) >= 2.0**62:
        raise ValueError(f"vocab_sizes {sizes.tolist()} multiply to more than 2^62 composite tokens")
    return sizes.astype(np.int64)


def radix_weights(vocab_sizes: Sequence[int]) -> np.ndarray:
    """``(F,)`` int64 place values ``m_f = prod_{g > f} V_g`` (the last factor's is 1)."""
    sizes = _sizes(vocab_sizes)
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)


def encode_tokens(vocab_sizes: Sequence[int], tuples) -> np.ndarray:
    """Per-factor tokens ``(..., F)`` -> composite tokens ``(...)``, ``x = sum_f x_f m_f``.

    Args:
        vocab_sizes: ``(V_0, .., V_{F-1})``.
        tuples: integer array of shape ``(..., F)`` with ``0 <= x_f < V_f``.

    Returns:
        int64 array of shape ``(...)`` in ``[0, prod_f V_f)``.

    Raises:
        ValueError: wrong last axis, non-integers, or a token outside its factor's vocabulary.
    """
    sizes = _sizes(vocab_sizes)
    t = np.asarray(tuples)
    if t.shape[-1:] != (sizes.shape[0],):
        raise ValueError(f"tuples must have shape (..., {sizes.shape[0]}); got {t.shape}")
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"tuples must be integers; got dtype {t.dtype}")
    t = t.astype(np.int64)
    bad = (t < 0) | (t >= sizes)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"factor {idx[-1]} token {int(t[idx])} at index {idx[:-1]} is outside "
                         f"0..{int(sizes[idx[-1]]) - 1}")
    return t @ radix_weights(sizes)


def decode_tokens(vocab_sizes: Sequence[int], tokens) -> np.ndarray:
    """Composite tokens ``(...)`` -> per-factor tokens ``(..., F)``, ``x_f = (x // m_f) mod V_f``.

    Inverse of :func:`encode_tokens`.

    Args:
        vocab_sizes: ``(V_0, .., V_{F-1})``.
        tokens: integer array of shape ``(...)`` in ``[0, prod_f V_f)``.

    Returns:
        int64 array of shape ``(..., F)``.
    """
    sizes = _sizes(vocab_sizes)
    x = np.asarray(tokens)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"tokens must be integers; got dtype {x.dtype}")
    x = x.astype(np.int64)
    total = int(np.prod(sizes))
    if x.size and (x.min() < 0 or x.max() >= total):
        bad = int(x.min()) if x.min() < 0 else int(x.max())
        raise ValueError(f"composite token {bad} is outside 0..{total - 1} (vocab_sizes "
                         f"{sizes.tolist()})")
    return (x[..., None] // radix_weights(sizes)) % sizes


def _explicit_table(token_to_tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(table (V_c, F), sizes (F,), lookup)``: ``lookup[dense code]`` is the composite token of
    that tuple, or -1 for a tuple outside the encoding."""
    table = np.asarray(token_to_tuple)
    if table.ndim != 2 or table.shape[0] == 0 or not np.issubdtype(table.dtype, np.integer) or (
            table < 0).any():
        raise ValueError("token_to_tuple must be a non-empty list of tuples of integers >= 0")
    sizes = table.max(axis=0).astype(np.int64) + 1
    codes = table.astype(np.int64) @ radix_weights(sizes)
    if np.unique(codes).shape[0] != codes.shape[0]:
        raise ValueError("token_to_tuple lists a tuple twice (the encoding must be a bijection)")
    lookup = np.full(int(np.prod(sizes)), -1, dtype=np.int64)
    lookup[codes] = np.arange(table.shape[0])
    return table.astype(np.int64), sizes, lookup


def encode_explicit(token_to_tuple, tuples) -> np.ndarray:
    """Per-factor tuples ``(..., F)`` -> composite tokens under an explicit (sparse) encoding:
    the token of a tuple is its position in ``token_to_tuple`` (spec §4.3.2).

    Raises:
        ValueError: for a tuple outside the encoding (outside the process vocabulary).
    """
    table, sizes, lookup = _explicit_table(token_to_tuple)
    t = np.asarray(tuples, dtype=np.int64)
    if t.shape[-1:] != (table.shape[1],):
        raise ValueError(f"tuples must have shape (..., {table.shape[1]}); got {t.shape}")
    inside = ((t >= 0) & (t < sizes)).all(axis=-1)
    out = np.where(inside, lookup[np.where(inside[..., None], t, 0) @ radix_weights(sizes)], -1)
    if (out < 0).any():
        bad = t[np.unravel_index(int(np.argmax(out < 0)), out.shape)]
        raise ValueError(f"tuple {bad.tolist()} is not in the explicit composite encoding")
    return out


def decode_explicit(token_to_tuple, tokens) -> np.ndarray:
    """Composite tokens ``(...)`` -> tuples ``(..., F)``: rows of ``token_to_tuple``."""
    table = np.asarray(token_to_tuple, dtype=np.int64)
    x = np.asarray(tokens, dtype=np.int64)
    if x.size and (x.min() < 0 or x.max() >= table.shape[0]):
        raise ValueError(f"composite token outside 0..{table.shape[0] - 1} of the explicit encoding")
    return table[x]


__all__ = ["decode_explicit", "decode_tokens", "encode_explicit", "encode_tokens", "radix_weights"]
