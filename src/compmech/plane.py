"""Coordinates of belief clouds in their affine plane: an orthonormal basis of the plane
orthogonal to a normal vector (the all-ones vector for an HMM's simplex, a GHMM's right
eigenvector), and the clouds' coordinates in it (the geometry comparison's inputs).
"""

from __future__ import annotations

import numpy as np

from compmech.expand import tall_matmul
from compmech.geometry import tangent_basis


# ------------------------------------------------------------------------------- plane coordinates
def plane_basis(num_states: int, normal=None) -> np.ndarray:
    """``(S, S-1)`` orthonormal basis of the directions ``{v : v . r = 0}`` of the plane ``b . r = 1``.

    Without ``normal`` (``r = 1``, the simplex) this is :func:`compmech.geometry.tangent_basis`.
    """
    if normal is None:
        return tangent_basis(num_states)
    r = _normal(normal, int(num_states))
    q, _ = np.linalg.qr(np.column_stack([r, np.eye(r.shape[0])]), mode="complete")
    return q[:, 1:]


def _normal(normal, S: int) -> np.ndarray:
    if normal is None:
        return np.ones(S)
    r = np.asarray(normal, dtype=np.float64)
    if r.shape != (S,) or not np.isfinite(r).all() or not np.linalg.norm(r) > 0:
        raise ValueError(f"normal must be {S} finite numbers, not all zero; got shape {r.shape}")
    return r


def plane_coordinates(beliefs, normal=None) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal affine coordinates of beliefs in their plane ``b . r = 1``, and their distance from it.

    Coordinates ``c = b U`` with ``U = plane_basis(S, r)``, so Euclidean distances within the plane
    are kept; a point off the plane is projected onto it (its component along ``r`` dropped), and
    its signed distance from the plane is ``(b . r - 1) / |r|``.

    Args:
        beliefs: ``(N, S)``.
        normal: ``(S,)`` the plane's normal ``r``; default all ones (the simplex).

    Returns:
        ``(coordinates (N, S-1), off_plane (N,))``.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    r = _normal(normal, b.shape[-1])
    coords = tall_matmul(b, plane_basis(b.shape[-1], normal))
    off = (tall_matmul(b, r[:, None])[:, 0] - 1.0) / np.linalg.norm(r)
    return coords, off


def _clouds(true, predicted) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] < 8 or t.shape[1] < 2:
        raise ValueError(f"true beliefs must have shape (N, S) with N >= 8 and S >= 2; got {t.shape}")
    if p.shape != t.shape:
        raise ValueError(f"predicted must have the shape of true {t.shape}; got {p.shape}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("true or predicted beliefs contain NaN or infinite values")
    return t, p
