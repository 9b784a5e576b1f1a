"""The spectrum of a process's state-to-state matrix: the decay rates of its beliefs' memory.

For ``M = sum_x T[x]`` (``(S, S)``), the eigenvalue 1 carries the stationary distribution; every other
eigenvalue ``lambda`` sets how fast the influence of a past token on the predictive state fades:
the contribution of token ``x_s`` to the belief at ``t`` decays like ``lambda^(t - s)``. This is the
attention decay Piotrowski et al. (2025) predict for a transformer's first attention layer (for
Mess3, ``M`` has eigenvalues ``1, 1 - 3x, 1 - 3x``).
"""

from __future__ import annotations

import numpy as np


def nonunit_eigenvalues(process) -> np.ndarray:
    """The eigenvalues of ``M = sum_x T[x]`` other than (one copy of) the unit eigenvalue.

    Args:
        process: an :class:`compmech.HMM` or :class:`compmech.GHMM`.

    Returns:
        ``(S - 1,)`` complex128, ordered by decreasing modulus (ties: real part descending).

    Example:
        >>> from compmech.processes import get_process
        >>> np.round(nonunit_eigenvalues(get_process("mess3", x=0.05)).real, 12).tolist()
        [0.85, 0.85]
    """
    eigenvalues = np.linalg.eigvals(np.asarray(process.state_matrix, dtype=np.float64))
    unit = int(np.argmin(np.abs(eigenvalues - 1.0)))
    rest = np.delete(eigenvalues, unit).astype(np.complex128)
    order = np.lexsort((-rest.real, -np.abs(rest)))
    return rest[order]


def leading_decay_rate(process) -> float:
    """The real part of the largest-modulus non-unit eigenvalue of ``M`` (``lambda``; signed).

    Raises:
        ValueError: the process has one state (no non-unit eigenvalue).
    """
    rest = nonunit_eigenvalues(process)
    if rest.size == 0:
        raise ValueError("a one-state process has no non-unit eigenvalue")
    return float(rest[0].real)


__all__ = ["leading_decay_rate", "nonunit_eigenvalues"]
