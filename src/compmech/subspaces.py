"""Dimension of an activation cloud and orthogonality of the subspaces that hold its factors.

Pure numpy, float64; every function takes arrays (activations of any network, beliefs of any
process), so any stage may use it. Used by ``compmech reproduce factored`` ("Transformers learn
factored representations", arXiv 2602.02385), whose measurements these are.

Dimension (cumulative explained variance, CEV). For activations ``x_i`` (``(N, d)``) with point
weights ``w_i >= 0`` (uniform when not given; e.g. the probabilities of distinct prefixes),
normalised to ``sum_i w_i = 1``:

    C = sum_i w_i (x_i - xbar)(x_i - xbar)^T,  xbar = sum_i w_i x_i,
    lambda_1 >= ... >= lambda_d  the eigenvalues of C,
    CEV_k = sum_{j <= k} lambda_j / sum_j lambda_j,
    components_95 = min {k : CEV_k >= 0.95}.

A product of ``F`` independent factors with ``S_f`` states has beliefs on a manifold of dimension
``sum_f (S_f - 1)`` when each factor is kept in its own subspace (``predicted_factored``), and
spans ``prod_f S_f - 1`` dimensions when the joint belief is written out (``predicted_joint``):
:func:`factored_dimension_predictions`.

Subspaces of factors (orthogonality). Where a network keeps factor ``f`` is its **encoding
pattern** (Haufe et al. 2014, NeuroImage 87:96), ``A_f = Cov(x, y_f) = C W_f^T`` for the
least-squares probe ``y_f ~ x W_f^T + b`` fitted on the same points (:func:`encoding_patterns`;
the probe stage's ``encoding_pattern`` computes ``C W^T`` from a fitted probe), never the decoder
rows ``W_f``: decoders also cancel whatever shares their directions, so two factors on orthogonal
axes can have decoders at 60 degrees. With ``Q_f`` (``(d, r_f)``) an orthonormal basis of the
column space of ``A_f`` (``r_f`` its rank) and ``Q = [Q_0 .. Q_{F-1}]`` (``(d, K)``,
``K = sum_f r_f``), :func:`subspace_orthogonality` gives

    overlap(f, g) = ||Q_f^T Q_g||_F^2 / min(r_f, r_g)   (mean squared cosine of the principal
                    angles: 0 orthogonal, 1 one subspace inside the other);
    overlap = the mean of overlap(f, g) over pairs f < g;
    mu_1 >= ... >= mu_d  the eigenvalues of Q Q^T (the same non-zero ones as Q^T Q; sum = K);
    participation_ratio = (sum_j mu_j)^2 / sum_j mu_j^2;
    effective_rank = exp(-sum_j p_j ln p_j),  p_j = mu_j / sum_j mu_j  (Roy & Vetterli 2007).

Both ``participation_ratio`` and ``effective_rank`` equal ``K`` when the factors' subspaces are
mutually orthogonal (every ``mu = 1``) and fall to ``r`` when all ``F`` factors share one
``r``-dimensional subspace (``mu = F`` on ``r`` directions): the number of directions the
factors use between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: The explained-variance threshold of ``components_95``.
VARIANCE_THRESHOLD = 0.95
#: Singular values of an encoding pattern below this times its largest do not count as directions.
RANK_TOL = 1e-6


def _weights(weights, n: int) -> np.ndarray:
    """``(n,)`` weights normalised to sum 1 (uniform when ``None``)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    return w / w.sum()


def _points(activations, what: str = "activations") -> np.ndarray:
    """``(..., d) -> (N, d)`` float64, with at least one point and one dimension."""
    x = np.asarray(activations, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] < 1 or x.size == 0:
        raise ValueError(f"{what} must have shape (..., d) with at least one point; got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return x.reshape(-1, x.shape[-1])


def explained_variance(activations, weights=None) -> np.ndarray:
    """``(d,)`` eigenvalues of the weighted covariance of ``activations``, largest first.

    Args:
        activations: ``(..., d)`` (leading axes are points).
        weights: ``activations.shape[:-1]`` non-negative point weights (uniform when ``None``).

    Returns:
        ``lambda_1 >= ... >= lambda_d >= 0`` of ``C = sum_i w_i (x_i - xbar)(x_i - xbar)^T``
        (weights normalised to sum 1); computed as squared singular values of
        ``sqrt(w_i) (x_i - xbar)``, so tiny eigenvalues keep their digits.
    """
    x = _points(activations)
    w = _weights(weights, x.shape[0])
    centred = (x - w @ x) * np.sqrt(w)[:, None]
    s = np.linalg.svd(centred, compute_uv=False)
    out = np.zeros(x.shape[1])
    out[: s.shape[0]] = s**2
    return out


def cumulative_explained_variance(activations, weights=None) -> np.ndarray:
    """``(d,)`` ``CEV_k = sum_{j <= k} lambda_j / sum_j lambda_j`` (see the module docstring).

    Raises:
        ValueError: the activations do not vary (every eigenvalue is 0).
    """
    lam = explained_variance(activations, weights)
    total = lam.sum()
    if not total > 0:
        raise ValueError("the activations have zero variance: explained variance is undefined")
    return np.minimum(np.cumsum(lam) / total, 1.0)


def components_for_variance(cev, threshold: float = VARIANCE_THRESHOLD) -> int:
    """The fewest leading components whose cumulative explained variance reaches ``threshold``.

    Args:
        cev: ``(d,)`` non-decreasing cumulative explained variance ending at 1.
        threshold: in ``(0, 1]``.

    Returns:
        ``min {k : CEV_k >= threshold}`` (a relative round-off of ``1e-12`` is forgiven, so that
        exactly ``k`` equal directions reach 1 at ``k``).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}")
    c = np.asarray(cev, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"cev must be a non-empty 1-D array of finite numbers; got shape {c.shape}")
    return int(np.argmax(c >= threshold - 1e-12)) + 1 if (c >= threshold - 1e-12).any() else c.size


def components_95(activations, weights=None) -> int:
    """``components_for_variance(cumulative_explained_variance(activations, weights), 0.95)``."""
    return components_for_variance(cumulative_explained_variance(activations, weights))


def factored_dimension_predictions(state_sizes: Sequence[int]) -> dict[str, int]:
    """The two predicted dimensions of a product of factors with ``S_f`` states each.

    Returns:
        ``{"predicted_factored": sum_f (S_f - 1), "predicted_joint": prod_f S_f - 1}``
        (10 and 242 for 3 x Mess3 and 2 x tom_quantum, arXiv 2602.02385).
    """
    sizes = [int(s) for s in state_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"state_sizes must be positive integers; got {list(state_sizes)}")
    return {"predicted_factored": int(sum(s - 1 for s in sizes)),
            "predicted_joint": int(np.prod(sizes, dtype=np.int64)) - 1}


def encoding_patterns(activations, targets: Sequence[np.ndarray], weights=None) -> list[np.ndarray]:
    """``A_f = Cov(x, y_f)`` (``(d, k_f)``) for each target: the encoding pattern of the
    least-squares probe from ``x`` to ``y_f`` fitted on these points (``C W_f^T = Cov(x, y_f)``
    because the residual of least squares with intercept is uncorrelated with ``x``).

    Args:
        activations: ``(..., d)``.
        targets: per factor ``(..., k_f)`` with the same leading axes (e.g. factor beliefs).
        weights: point weights (uniform when ``None``).
    """
    x = _points(activations)
    w = _weights(weights, x.shape[0])
    xc = x - w @ x
    out = []
    for f, y in enumerate(targets):
        y = _points(y, f"targets[{f}]")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"targets[{f}] has {y.shape[0]} points; the activations have "
                             f"{x.shape[0]}")
        out.append((xc * w[:, None]).T @ (y - w @ y))
    return out


def subspace_basis(pattern, rank_tol: float = RANK_TOL) -> np.ndarray:
    """``(d, r)`` orthonormal basis of the column space of ``pattern`` (``(d, k)``): the left
    singular vectors whose singular values exceed ``rank_tol`` times the largest (``r = 0`` for
    a zero pattern)."""
    a = np.asarray(pattern, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape or not np.isfinite(a).all():
        raise ValueError(f"a pattern must be a finite (d, k) array; got shape {a.shape}")
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    if not s[0] > 0:
        return u[:, :0]
    return u[:, s > rank_tol * s[0]]


class SubspaceOrthogonality(NamedTuple):
    """How the factors' subspaces sit (definitions in the module docstring).

    Attributes:
        overlap: mean over factor pairs of ``||Q_f^T Q_g||_F^2 / min(r_f, r_g)`` (NaN for one factor).
        overlap_pairs: ``(F, F)`` the pairwise overlaps (1 on the diagonal).
        participation_ratio: ``(sum mu)^2 / sum mu^2`` of the eigenvalues of ``Q Q^T``.
        effective_rank: ``exp`` of the entropy of ``mu / sum mu``.
        ranks: ``(r_0, ..., r_{F-1})``.
        total_rank: ``K = sum_f r_f``, what both reach when the subspaces are orthogonal.
    """

    overlap: float
    overlap_pairs: np.ndarray
    participation_ratio: float
    effective_rank: float
    ranks: tuple
    total_rank: int

    def as_dict(self) -> dict:
        """JSON-ready (``overlap_pairs`` as nested lists)."""
        return {"overlap": self.overlap, "overlap_pairs": self.overlap_pairs.tolist(),
                "participation_ratio": self.participation_ratio,
                "effective_rank": self.effective_rank, "ranks": list(self.ranks),
                "total_rank": self.total_rank}


def subspace_orthogonality(patterns: Sequence[np.ndarray],
                           rank_tol: float = RANK_TOL) -> SubspaceOrthogonality:
    """Overlap, participation ratio and effective rank of the factors' subspaces.

    Args:
        patterns: per factor its ``(d, k_f)`` encoding pattern (:func:`encoding_patterns`), all
            with the same ``d``; only their column spaces matter (any scale, any basis).
        rank_tol: relative singular-value cut-off of :func:`subspace_basis`.

    Returns:
        :class:`SubspaceOrthogonality`.

    Raises:
        ValueError: no patterns, different ``d``, or a pattern of rank 0.
    """
    if len(patterns) == 0:
        raise ValueError("need at least one pattern")
    bases = [subspace_basis(p, rank_tol) for p in patterns]
    d = {b.shape[0] for b in bases}
    if len(d) != 1:
        raise ValueError(f"every pattern must have the same number of rows d; got {sorted(d)}")
    ranks = np.array([b.shape[1] for b in bases])
    if (ranks == 0).any():
        raise ValueError(f"the pattern of factor {int(np.argmin(ranks))} is zero (the activations "
                         "do not move with that factor): its subspace is undefined")
    Q = np.concatenate(bases, axis=1)  # (d, K)
    G = Q.T @ Q  # (K, K): blocks Q_f^T Q_g
    starts = np.concatenate([[0], np.cumsum(ranks)[:-1]])
    block_sq = np.add.reduceat(np.add.reduceat(G**2, starts, axis=0), starts, axis=1)  # (F, F)
    pairs = block_sq / np.minimum(ranks[:, None], ranks[None, :])
    F = len(bases)
    upper = np.triu_indices(F, k=1)
    overlap = float(pairs[upper].mean()) if F > 1 else float("nan")
    mu = np.clip(np.linalg.eigvalsh(G), 0.0, None)  # the non-zero eigenvalues of Q Q^T
    total = mu.sum()
    pr = float(total**2 / (mu**2).sum())
    p = mu[mu > 0] / total
    erank = float(np.exp(-(p * np.log(p)).sum()))
    return SubspaceOrthogonality(overlap, pairs, pr, erank, tuple(int(r) for r in ranks),
                                 int(ranks.sum()))


__all__ = ["RANK_TOL", "SubspaceOrthogonality", "VARIANCE_THRESHOLD", "components_95",
           "components_for_variance", "cumulative_explained_variance", "encoding_patterns",
           "explained_variance", "factored_dimension_predictions", "subspace_basis",
           "subspace_orthogonality"]
