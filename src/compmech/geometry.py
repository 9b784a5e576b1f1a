"""Geometry of belief clouds: simplex, belief-plane and PCA projections, colours, Lyapunov spectra
(the fractal dimensions of point clouds are in :mod:`compmech.dimensions`).

The Lyapunov spectrum and Kaplan-Yorke dimension are properties of an HMM's belief dynamics
(Jurgens & Crutchfield 2021).

GHMM beliefs live on the affine plane ``eta r = 1`` (not the simplex) and may have negative
entries: :func:`belief_plane_coordinates` gives isometric ``(S - 1)``-dimensional coordinates on
that plane (for an HMM, ``r = 1``, the plane of the simplex), :func:`belief_plane_projection` a 2-D
(or ``k``-D) view, and the Lyapunov spectrum uses the plane's tangent space ``{v : v r = 0}``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from compmech.blackwell import blackwell_sample
from compmech.dimensions import _points, _weights
from compmech.expand import tall_matmul
from compmech.hmm import Process, normaliser

SQRT3_2 = float(np.sqrt(3.0) / 2.0)


# ----------------------------------------------------------------------------------- projections
def simplex_projection(beliefs) -> np.ndarray:
    """Project beliefs on the 2-simplex to the plane: ``x = b1 + b2 / 2``, ``y = (sqrt(3)/2) b2``.

    State 0 maps to (0, 0), state 1 to (1, 0), state 2 to (1/2, sqrt(3)/2).

    Args:
        beliefs: ``(..., 3)``.

    Returns:
        ``(..., 2)`` float64.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    if b.shape[-1:] != (3,):
        raise ValueError(
            f"simplex_projection needs beliefs over 3 states, shape (..., 3); got {b.shape} "
            "(use pca_projection for other sizes)"
        )
    return np.stack([b[..., 1] + 0.5 * b[..., 2], SQRT3_2 * b[..., 2]], axis=-1)


class PCA(NamedTuple):
    """A principal-component fit.

    Attributes:
        mean: ``(d,)`` the points' (weighted) mean.
        components: ``(k, d)`` orthonormal principal axes, by decreasing variance.
        explained_variance: ``(k,)`` variance along each axis.
        explained_variance_ratio: ``(k,)`` fraction of the total variance.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, points) -> np.ndarray:
        """``(N, d) -> (N, k)`` coordinates along the principal axes."""
        return tall_matmul(np.asarray(points, dtype=np.float64) - self.mean, self.components.T)


def pca(points, k: int, weights=None) -> PCA:
    """Principal components of ``(N, d)`` points (optionally weighted, e.g. by probability).

    Args:
        points: ``(N, d)``.
        k: number of components, ``1 <= k <= d``.
        weights: optional ``(N,)`` non-negative weights.

    Returns:
        :class:`PCA`.
    """
    X = _points(points)
    N, d = X.shape
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= d:
        raise ValueError(f"k must be an integer in [1, {d}]; got {k}")
    w = _weights(weights, N)
    mean = w @ X
    C = (X - mean).T @ ((X - mean) * w[:, None])
    values, vectors = np.linalg.eigh(C)
    order = np.argsort(values)[::-1][: int(k)]
    values = np.clip(values[order], 0.0, None)
    components = vectors[:, order].T
    # Fix signs so the largest coordinate of each axis is positive (deterministic output).
    flip = np.sign(components[np.arange(int(k)), np.abs(components).argmax(axis=1)])
    components = components * flip[:, None]
    total = float(np.clip(np.linalg.eigvalsh(C), 0.0, None).sum())
    ratio = values / total if total > 0 else np.zeros_like(values)
    return PCA(mean, components, values, ratio)


def pca_projection(points, k: int = 2, weights=None) -> np.ndarray:
    """``(N, d) -> (N, k)`` coordinates of the points on their top ``k`` principal axes."""
    return pca(points, k, weights).transform(points)


def belief_plane_basis(right_eigenvector) -> np.ndarray:
    """``(S, S - 1)`` orthonormal basis of the belief plane's tangent space ``{v : v r = 0}``.

    Deterministic: the unit vectors other than the one of ``r``'s largest entry (in magnitude),
    projected onto ``r``'s orthogonal complement and orthonormalised by Gram-Schmidt (QR with a
    positive diagonal). For ``r = (1, 0, 0)`` (``tom_quantum``) it is ``(e_1, e_2)``.

    Args:
        right_eigenvector: ``(S,)`` ``r`` (all ones for an HMM).
    """
    r = np.asarray(right_eigenvector, dtype=np.float64)
    if r.ndim != 1 or not np.isfinite(r).all() or not np.abs(r).max() > 0:
        raise ValueError(f"right_eigenvector must be a finite non-zero vector; got {r.tolist()}")
    S = r.shape[0]
    u = r / np.linalg.norm(r)
    keep = np.delete(np.eye(S), int(np.argmax(np.abs(r))), axis=1)  # (S, S - 1)
    q, R = np.linalg.qr(keep - np.outer(u, u @ keep))
    return q * np.where(np.diagonal(R) < 0, -1.0, 1.0)[None, :]


def belief_plane_coordinates(beliefs, right_eigenvector) -> np.ndarray:
    """``(..., S) -> (..., S - 1)`` coordinates of beliefs on the plane ``eta r = 1``.

    ``c = eta U`` with ``U`` the orthonormal basis of ``{v : v r = 0}`` from
    :func:`belief_plane_basis`. On the plane this is an isometry (distances between beliefs are
    kept), so for an HMM (``r = 1``) it agrees with the simplex up to an isometry of the plane: for
    three states, with :func:`simplex_projection` up to an isometry and the factor ``sqrt(2)`` (that
    projection draws the simplex with unit sides, whose true length is ``sqrt(2)``). For
    ``tom_quantum`` (``r = e_0``) the coordinates are ``(eta_1, eta_2)``, the Bloch disk.

    Args:
        beliefs: ``(..., S)`` beliefs with ``eta r = 1``.
        right_eigenvector: ``(S,)`` ``r``.

    Returns:
        ``(..., S - 1)`` float64.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    U = belief_plane_basis(right_eigenvector)
    if b.shape[-1:] != (U.shape[0],):
        raise ValueError(f"beliefs must have shape (..., {U.shape[0]}); got {b.shape}")
    return (tall_matmul(b.reshape(-1, U.shape[0]), U)).reshape(*b.shape[:-1], U.shape[1])


def belief_plane_projection(beliefs, right_eigenvector, k: int = 2, weights=None) -> np.ndarray:
    """``(N, S) -> (N, k)`` a ``k``-D view of beliefs on the plane ``eta r = 1``.

    The plane coordinates (:func:`belief_plane_coordinates`) themselves when ``S - 1 == k`` (e.g.
    a 3-state GHMM in 2-D), else their top ``k`` principal components (optionally weighted).
    """
    coords = belief_plane_coordinates(beliefs, right_eigenvector)
    if coords.ndim != 2:
        raise ValueError(f"beliefs must have shape (N, S); got {np.shape(beliefs)}")
    if coords.shape[1] == k:
        return coords
    return pca_projection(coords, k, weights)


def belief_colors(beliefs, right_eigenvector=None) -> np.ndarray:
    """RGB colours ``(N, 3)`` in [0, 1] for beliefs ``(N, S)``.

    Three states: RGB = the belief itself. Two states: ``(b0, 0, b1)``. More states: the top three
    principal coordinates, each rescaled to [0, 1]. With a ``right_eigenvector`` other than all
    ones (GHMM beliefs, signed), the belief-plane coordinates are rescaled to [0, 1] instead
    (padded with 0.5 when the plane has fewer than three dimensions).
    """
    b = _points(beliefs)
    S = b.shape[1]
    if right_eigenvector is not None and not (np.asarray(right_eigenvector) == 1).all():
        coords = belief_plane_coordinates(b, right_eigenvector)
        coords = pca_projection(coords, 3) if coords.shape[1] > 3 else coords
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        rgb = np.full((b.shape[0], 3), 0.5)
        rgb[:, : coords.shape[1]] = (coords - lo) / np.where(hi > lo, hi - lo, 1.0)
        return rgb
    if S == 3:
        rgb = b
    elif S == 2:
        rgb = np.stack([b[:, 0], np.zeros(b.shape[0]), b[:, 1]], axis=1)
    elif S == 1:
        rgb = np.ones((b.shape[0], 3)) * 0.5
    else:
        coords = pca_projection(b, 3)
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        rgb = (coords - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.clip(rgb, 0.0, 1.0)


# ------------------------------------------------------------------------------------- Lyapunov
#: A QR pivot ``|R_t[i, i]|`` at or below this fraction of the step map's norm ``||A_t||_F`` is
#: round-off standing for an exact zero (a singular step that kills the tracked direction): its
#: log is ``-inf``. The catalogue's non-collapsing steps stay above 0.1; collapses sit at 1e-16
#: and below.
COLLAPSE_TOL = 1e-10


class LyapunovSpectrum(NamedTuple):
    """Lyapunov exponents of the belief dynamics on the simplex (nats per token).

    Attributes:
        exponents: ``(S - 1,)`` ``lambda_1 >= ... >= lambda_{S-1}``, mean over chains; ``-inf``
            where a chain's tangent map collapsed exactly (see :func:`lyapunov_spectrum`).
        stderr: ``(S - 1,)`` standard error over independent chains (NaN for a ``-inf`` exponent).
        num_steps: tokens per chain.
        num_chains: independent chains.
        synchronises: whether the product of the tangent maps along some chain's word became
            exactly zero, i.e. ``T[w]`` is rank one on the belief plane and maps every belief to
            the same one (the beliefs synchronise): then every exponent is ``-inf``.
        num_synchronised_chains: chains in which that happened.
    """

    exponents: np.ndarray
    stderr: np.ndarray
    num_steps: int
    num_chains: int
    synchronises: bool = False
    num_synchronised_chains: int = 0


def tangent_basis(num_states: int) -> np.ndarray:
    """``(S, S - 1)`` orthonormal basis of the simplex's tangent space ``{v : sum(v) = 0}``."""
    S = int(num_states)
    centering = np.eye(S) - 1.0 / S
    q, _ = np.linalg.qr(centering[:, : S - 1])
    return q


def _lyapunov_logs(T: np.ndarray, U: np.ndarray, previous: np.ndarray, tokens: np.ndarray,
                   beliefs: np.ndarray, r: np.ndarray | None = None,
                   collapse_tol: float = COLLAPSE_TOL) -> tuple[np.ndarray, np.ndarray]:
    """QR iteration over chains: ``previous (C, S)``, ``tokens (C, K)``, ``beliefs (C, K, S)``.

    Returns ``(logs, synchronised)``: ``(C, S-1)`` summed ``log |diag R|`` (``-inf`` where a
    pivot was at round-off, ``|R_ii| <= collapse_tol ||A_t||_F``) and ``(C,)`` whether the whole
    product ``A_1^T .. A_t^T = Q_t (R_t .. R_1)`` collapsed at some step. The triangular product
    is tracked normalised (``N_t = R_t N_{t-1} / ||R_t N_{t-1}||``, ``||N|| = 1``); it collapses
    when ``||R_t N_{t-1}||_F <= collapse_tol ||A_t||_F``, scale-free since ``||R_t|| = ||A_t||``.
    Each step is one batched pass over all chains. ``r``: a GHMM's right eigenvector (``None``:
    ``r = 1``)."""
    C, K, S = beliefs.shape
    emit = T.sum(axis=2) if r is None else T @ r  # (V, S): T[x] r
    eye = np.eye(S - 1)
    Q = np.broadcast_to(eye, (C, S - 1, S - 1)).copy()
    N = Q.copy()
    logs = np.zeros((C, S - 1))
    synchronised = np.zeros(C, dtype=bool)
    prev = previous
    for k in range(K):
        x, new = tokens[:, k], beliefs[:, k]
        c = emit[x]  # (C, S)
        z = (prev * c).sum(axis=1)
        J = (T[x] - c[:, :, None] * new[:, None, :]) / z[:, None, None]  # d eta' = d eta J
        A = np.einsum("si,csj,jl->cil", U, J, U)  # row action on tangent coordinates
        Q, R = np.linalg.qr(np.swapaxes(A, 1, 2) @ Q)
        scale = collapse_tol * np.sqrt(np.einsum("cij,cij->c", A, A))  # (C,)
        pivots = np.abs(np.diagonal(R, axis1=1, axis2=2))
        logs += np.log(np.where(pivots > scale[:, None], pivots, 0.0))
        N = R @ N
        size = np.sqrt(np.einsum("cij,cij->c", N, N))
        collapsed = size <= scale
        if collapsed.any():
            synchronised |= collapsed
            N[collapsed] = eye
            size[collapsed] = 1.0
        N /= size[:, None, None]
        prev = new
    return logs, synchronised


def lyapunov_spectrum(hmm: Process, *, num_steps: int = 2000, num_chains: int = 100, seed=0,
                      burn_in: int = 200, sample=None,
                      collapse_tol: float = COLLAPSE_TOL) -> LyapunovSpectrum:
    """Lyapunov spectrum of the random belief-update maps, restricted to the belief plane (QR).

    Along Blackwell chains ``eta_t = f_{x_t}(eta_{t-1})`` with ``f_x(eta) = eta T[x] / (eta T[x] r)``,
    the Jacobian (row-vector convention, ``d eta' = d eta J``) is
    ``J = (T[x] - (T[x] r) eta') / (eta T[x] r)``; it maps the tangent space ``{v r = 0}`` to
    itself (``{sum v = 0}``, the simplex's, for an HMM). With an orthonormal tangent basis
    ``U (S, S-1)`` (:func:`tangent_basis` for an HMM, :func:`belief_plane_basis` for a GHMM) the
    reduced map is ``A = U^T J U``;
    ``Q_t R_t = A_t^T Q_{t-1}`` and ``lambda_i = mean_t log |R_t[i, i]|`` (nats per token).

    Exact collapse. A singular step can kill a tracked direction exactly; in floating point the
    pivot ``R_t[i, i]`` is then round-off (``<= collapse_tol * ||A_t||_F``), not a finite
    contraction, and is counted as 0, so ``lambda_i = -inf``. When the product of the tangent maps
    along a chain's word is exactly zero (``T[w]`` maps every belief to one belief: a
    synchronising word, such as Z1R's or RRXOR's, or a rank-one token map, such as
    post_quantum's and fanizza's token 0) every exponent is ``-inf`` and ``synchronises`` is set.
    An ergodic process repeats such a word with probability one, so one chain is proof.
    Round-off exponents such as Z1R's former ``-16.5`` are never reported.

    Args:
        hmm: the process (``S >= 2`` states).
        num_steps: tokens per chain after burn-in.
        num_chains: independent chains (their spread gives the standard error).
        seed: seed of the chains.
        burn_in: tokens discarded per chain.
        sample: a :class:`compmech.blackwell.BlackwellSample` to reuse instead of sampling.
        collapse_tol: the round-off level of a pivot relative to the step map's norm.

    Returns:
        :class:`LyapunovSpectrum`.
    """
    if hmm.num_states < 2:
        raise ValueError("the Lyapunov spectrum needs an HMM with at least 2 states")
    if not 0 <= collapse_tol < 1:
        raise ValueError(f"collapse_tol must be in [0, 1); got {collapse_tol}")
    if sample is None:
        sample = blackwell_sample(hmm, int(num_steps) * int(num_chains), seed,
                                  num_chains=int(num_chains), burn_in=burn_in)
    C, K, _ = sample.beliefs.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        r = normaliser(hmm)
        U = tangent_basis(hmm.num_states) if r is None else belief_plane_basis(r)
        logs, synchronised = _lyapunov_logs(hmm.transition_matrices, U, sample.previous_beliefs,
                                            sample.tokens, sample.beliefs, r, collapse_tol)
    logs[synchronised] = -np.inf
    per_chain = np.sort(logs / K, axis=1)[:, ::-1]
    with np.errstate(invalid="ignore"):
        stderr = per_chain.std(axis=0, ddof=1) / np.sqrt(C) if C > 1 else np.full(
            per_chain.shape[1], np.inf)
    num_sync = int(synchronised.sum())
    return LyapunovSpectrum(per_chain.mean(axis=0), stderr, K, C, num_sync > 0, num_sync)


def kaplan_yorke_dimension(exponents, entropy_rate_nats: float) -> float:
    """Kaplan-Yorke (Lyapunov) dimension of the Blackwell measure (Jurgens & Crutchfield 2021).

    With ``lambda_1 >= lambda_2 >= ...`` and ``h`` the entropy rate in nats,
    ``D = k + (h + sum_{i<=k} lambda_i) / |lambda_{k+1}|``, ``k`` the largest index with
    ``h + sum_{i<=k} lambda_i >= 0``; ``D`` is capped at the simplex dimension ``len(exponents)``.

    Args:
        exponents: ``(S - 1,)`` Lyapunov exponents in nats per token.
        entropy_rate_nats: ``h_mu`` in nats per token.

    Returns:
        the dimension (float).
    """
    lam = np.sort(np.asarray(exponents, dtype=np.float64))[::-1]
    h = float(entropy_rate_nats)
    if not h >= 0:
        raise ValueError(f"entropy_rate_nats must be >= 0; got {h}")
    partial = h + np.concatenate([[0.0], np.cumsum(lam)])  # partial[k] = h + sum_{i<=k}
    nonneg = np.flatnonzero(partial >= 0)
    k = int(nonneg.max())
    if k >= lam.shape[0]:
        return float(lam.shape[0])
    if np.isinf(lam[k]):
        return float(k)
    return float(k + partial[k] / abs(lam[k]))
