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


__all__ = ["decode_tokens", "encode_tokens", "radix_weights"]
