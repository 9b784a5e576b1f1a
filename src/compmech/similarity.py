"""Similarity of two representations of the same inputs: linear CKA.

Linear centred kernel alignment (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of neural
network representations revisited", ICML, eq. for linear CKA): with both representations centred
(weighted means removed) and rows scaled by ``sqrt(w_i)``,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),

the feature-space form of ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` for the linear kernels
``K = X X^T``, ``L = Y Y^T``. It lies in ``[0, 1]``, is 1 for ``Y = X``, unchanged under an
orthogonal transform, an isotropic scaling or a translation of either representation, but **not**
under a general invertible linear map (an anisotropic rescaling changes it), and near
``d_X d_Y / N``-small for independent noise. The widths of ``X`` and ``Y`` may differ, so networks
of different architectures compare on the same inputs.

Weights: ``w_i`` (e.g. the probability of each distinct prefix) make the centring and the sums
weighted; equal weights give the usual CKA; an integer weight is the same as repeating the row.
"""

from __future__ import annotations

import numpy as np


def _centred(name: str, X, w: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d); got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be finite")
    mean = w @ X
    return (X - mean) * np.sqrt(w)[:, None]


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},); got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError("weights must be finite, non-negative, with a positive sum")
    return w / w.sum()


def linear_cka(X, Y, weights=None) -> float:
    """Linear CKA between two representations of the same ``N`` inputs.

    Args:
        X: ``(N, d_x)`` first representation.
        Y: ``(N, d_y)`` second representation (same rows, any width).
        weights: ``(N,)`` non-negative row weights (default equal).

    Returns:
        CKA in ``[0, 1]``; NaN when either representation is constant.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 4))
        >>> round(linear_cka(X, 3 * X + 1), 12)
        1.0
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must be (N, d) with the same N; got {X.shape} and {Y.shape}")
    if X.shape[0] < 2:
        raise ValueError("CKA needs at least two rows")
    w = _weights(weights, X.shape[0])
    x, y = _centred("X", X, w), _centred("Y", Y, w)
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    if xx == 0 or yy == 0:
        return float("nan")
    return float(np.linalg.norm(y.T @ x) ** 2 / (xx * yy))


def cka_matrix(representations: dict, weights=None) -> dict[str, dict[str, float]]:
    """Pairwise linear CKA of named representations of the same inputs.

    Args:
        representations: ``{name: (N, d_name)}``.
        weights: ``(N,)`` row weights (default equal).

    Returns:
        ``{a: {b: CKA(a, b)}}`` (symmetric, 1 on the diagonal for non-constant ones).
    """
    names = list(representations)
    out: dict[str, dict[str, float]] = {a: {} for a in names}
    for i, a in enumerate(names):
        for b in names[i:]:
            value = linear_cka(representations[a], representations[b], weights)
            out[a][b] = out[b][a] = value
    return out


__all__ = ["cka_matrix", "linear_cka"]
