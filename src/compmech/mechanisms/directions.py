"""The linear algebra of belief interventions: the minimum-norm change of activations that
moves a linear probe's read-out to a target (Euclidean or in the activations' metric), the probe's
null space, random controls of the same norm, and the KL divergence in bits.
"""

from __future__ import annotations

import numpy as np

#: Relative singular-value cut-off of the probe's pseudo-inverse and null space.
RTOL = 1e-8
#: Probabilities are floored here inside the KL (a model never gives exactly 0 after softmax in
#: float32 unless it underflows; the floor keeps such a token finite).
PROB_FLOOR = 1e-30
#: The beyond-next-token test needs ``P(x_{t+1} | eta*)`` above this (the update divides by it).


# ------------------------------------------------------------------------------- linear algebra
def _svd(coef: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    coef = np.asarray(coef, dtype=np.float64)
    if coef.ndim != 2:
        raise ValueError(f"coef must be (S, d); got shape {coef.shape}")
    u, s, vt = np.linalg.svd(coef, full_matrices=True)
    rank = int((s > rtol * s.max()).sum()) if s.size and s.max() > 0 else 0
    return u, s, vt, rank


def minimum_norm_change(coef, intercept, x, target, rtol: float = RTOL) -> np.ndarray:
    """``Delta = W^+ (eta* - W x - b)``: the smallest change of ``x`` making ``W x + b = eta*``.

    Args:
        coef: ``W (S, d)``.
        intercept: ``b (S,)``.
        x: ``(N, d)`` activations.
        target: ``(N, S)`` target beliefs ``eta*``.
        rtol: singular values below ``rtol`` times the largest are dropped.

    Returns:
        ``(N, d)`` float64 changes (least squares when ``eta*`` is out of reach).
    """
    u, s, vt, rank = _svd(coef, rtol)
    x = np.asarray(x, dtype=np.float64)
    residual = np.asarray(target, dtype=np.float64) - (x @ np.asarray(coef).T + intercept)
    coords = (residual @ u[:, :rank]) / s[:rank]  # (N, rank)
    return coords @ vt[:rank]


def null_space_basis(coef, rtol: float = RTOL) -> np.ndarray:
    """``(d - rank, d)`` orthonormal rows spanning ``{v : W v = 0}``."""
    _, _, vt, rank = _svd(coef, rtol)
    return vt[rank:]


def random_directions(n: int, d: int, seed: int) -> np.ndarray:
    """``(n, d)`` unit vectors, uniform on the sphere (seeded)."""
    v = np.random.default_rng(seed).normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def null_space_directions(coef, n: int, seed: int, rtol: float = RTOL) -> np.ndarray | None:
    """``(n, d)`` unit vectors uniform on the unit sphere of the probe's null space, or ``None``
    when the null space is ``{0}``."""
    basis = null_space_basis(coef, rtol)
    if basis.shape[0] == 0:
        return None
    return random_directions(n, basis.shape[0], seed) @ basis


def span_projector(covariance, rtol: float = RTOL) -> np.ndarray:
    """``(d, d)`` orthogonal projector onto the eigenvectors of ``C`` whose eigenvalues exceed
    ``rtol`` times the largest (the span of the centred activations)."""
    vals, vecs = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    keep = vecs[:, vals > rtol * max(vals[-1], 0.0)]
    return keep @ keep.T


def reduce_probe(coef, intercept, mean, covariance,
                 rtol: float = RTOL) -> tuple[np.ndarray, np.ndarray]:
    """The probe in its minimum-norm form on the activations' span (module docstring):
    ``W' = W Pi``, ``b' = b + W (I - Pi) mu``; ``W' x + b' = W x + b`` for every ``x`` in
    ``mu + span(C)``.

    Returns:
        ``(coef' (S, d), intercept' (S,))``.
    """
    coef = np.asarray(coef, dtype=np.float64)
    proj = span_projector(covariance, rtol)
    off_span = coef - coef @ proj
    return coef @ proj, np.asarray(intercept, dtype=np.float64) + off_span @ np.asarray(mean)


def covariance_change(coef, intercept, x, target, covariance, rtol: float = RTOL) -> np.ndarray:
    """``Delta_cov = C W^T (W C W^T)^+ (eta* - W x - b)``: the change of least ``Delta^T C^+ Delta``
    (the activations' own metric) that makes the probe decode ``eta*``.

    Args:
        coef: as :func:`minimum_norm_change`.
        intercept: as :func:`minimum_norm_change`.
        x: as :func:`minimum_norm_change`.
        target: as :func:`minimum_norm_change`.
        covariance: ``C (d, d)`` covariance of the activations.
        rtol: cut-off of the pseudo-inverse of ``W C W^T``.

    Returns:
        ``(N, d)`` float64.
    """
    coef = np.asarray(coef, dtype=np.float64)
    c = np.asarray(covariance, dtype=np.float64)
    if c.shape != (coef.shape[1], coef.shape[1]):
        raise ValueError(f"covariance must be ({coef.shape[1]}, {coef.shape[1]}); got {c.shape}")
    x = np.asarray(x, dtype=np.float64)
    residual = np.asarray(target, dtype=np.float64) - (x @ coef.T + intercept)
    cw = c @ coef.T  # (d, S)
    gram_pinv = np.linalg.pinv(coef @ cw, rcond=rtol, hermitian=True)
    return residual @ gram_pinv @ cw.T


def spread_directions(covariance, n: int, seed: int, project: np.ndarray | None = None) -> np.ndarray:
    """``(n, d)`` unit vectors along ``C^(1/2) z`` (``z`` standard normal, seeded), optionally
    projected first onto the row space of ``project`` (orthonormal rows)."""
    c = np.asarray(covariance, dtype=np.float64)
    vals, vecs = np.linalg.eigh(c)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    v = np.random.default_rng(seed).normal(size=(n, c.shape[0])) @ root
    if project is not None:
        v = (v @ project.T) @ project
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def kl_divergence_bits(p, q) -> np.ndarray:
    """``KL(p || q) = sum_x p(x) log2(p(x) / q(x))`` row by row.

    Args:
        p: ``(N, V)`` distributions (the theory's, over the process's tokens).
        q: ``(N, V')`` with ``V' >= V`` (a model's; extra entries such as a BOS token carry mass
            ``p`` does not, which the divergence counts through ``q``'s normalisation).

    Returns:
        ``(N,)`` float64 bits.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.ndim != 2 or q.ndim != 2 or q.shape[0] != p.shape[0] or q.shape[1] < p.shape[1]:
        raise ValueError(f"p (N, V) and q (N, V' >= V) expected; got {p.shape} and {q.shape}")
    q = np.maximum(q[:, : p.shape[1]], PROB_FLOOR)
    terms = np.where(p > 0, p * (np.log2(np.where(p > 0, p, 1.0)) - np.log2(q)), 0.0)
    return terms.sum(axis=1)


__all__ = [
    "RTOL",
    "covariance_change",
    "kl_divergence_bits",
    "minimum_norm_change",
    "null_space_basis",
    "null_space_directions",
    "random_directions",
    "reduce_probe",
    "span_projector",
    "spread_directions",
]
