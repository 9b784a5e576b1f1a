"""The hidden Markov model type: validation, stationary distribution, JSON I/O.

Convention (see ``shared/SCIENCE.md``): an HMM with ``S`` hidden states and ``V`` tokens is the array
``T`` of shape ``(V, S, S)`` with ``T[x, i, j] = P(emit x and go to state j | in state i)``.
Beliefs are row vectors; after token ``x`` the belief ``eta`` becomes
``eta T[x] / (eta T[x] 1)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Tolerance on row sums and on the entries' range when validating an HMM.
ROW_SUM_TOL = 1e-8
#: Singular values below this count as zero when deciding whether ``pi M = pi`` has one solution.
STATIONARY_RANK_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class HMM:
    """A hidden Markov model with edge emissions, ``T[x, i, j] = P(x, j | i)``.

    Validated at construction; the arrays are stored read-only as float64.

    Attributes:
        transition_matrices: ``(V, S, S)`` float64, the labelled transition matrices ``T``.
        initial_distribution: ``(S,)`` float64, where sequences start. Defaults to the stationary
            distribution ``pi`` (``pi M = pi`` with ``M = T.sum(0)``); required when ``pi`` is not
            unique (a non-ergodic ``M``).
        name: a short name, e.g. ``"mess3"``.
        params: the parameters the process was built with, e.g. ``{"x": 0.05, "alpha": 0.85}``.
        state_names: ``S`` names of the hidden states.
        token_names: ``V`` names of the tokens.

    Example:
        >>> import numpy as np
        >>> T = np.array([[[0.5, 0.5], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]]])  # even-like
        >>> HMM(T).num_states
        2
    """

    transition_matrices: np.ndarray
    initial_distribution: np.ndarray | None = None
    name: str = "custom"
    params: Mapping[str, Any] = field(default_factory=dict)
    state_names: Sequence[str] | None = None
    token_names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        T = _validated_transition_matrices(self.transition_matrices)
        V, S, _ = T.shape
        M = T.sum(axis=0)
        stationary = _unique_stationary_distribution(M)
        if self.initial_distribution is None:
            if stationary is None:
                raise ValueError(
                    f"HMM {self.name!r}: the state-to-state matrix has more than one stationary "
                    "distribution (the process is not ergodic); pass initial_distribution explicitly"
                )
            init = stationary
        else:
            init = _validated_distribution(self.initial_distribution, S, "initial_distribution")
        state_names = _validated_names(self.state_names, S, "state_names", "s")
        token_names = _validated_names(self.token_names, V, "token_names", "")
        object.__setattr__(self, "transition_matrices", _read_only(T))
        object.__setattr__(self, "initial_distribution", _read_only(init))
        object.__setattr__(self, "_stationary", None if stationary is None else _read_only(stationary))
        object.__setattr__(self, "state_names", state_names)
        object.__setattr__(self, "token_names", token_names)
        object.__setattr__(self, "params", dict(self.params))

    # ----------------------------------------------------------------------------------- shape
    @property
    def vocab_size(self) -> int:
        """Number of tokens ``V``."""
        return self.transition_matrices.shape[0]

    @property
    def num_states(self) -> int:
        """Number of hidden states ``S``."""
        return self.transition_matrices.shape[1]

    @property
    def state_matrix(self) -> np.ndarray:
        """``(S, S)`` state-to-state matrix ``M = sum_x T[x]``."""
        return self.transition_matrices.sum(axis=0)

    @property
    def stationary_distribution(self) -> np.ndarray:
        """``(S,)`` the unique ``pi`` with ``pi M = pi``, ``pi >= 0``, ``sum(pi) = 1``.

        Raises:
            ValueError: when ``M`` has more than one stationary distribution.
        """
        if self._stationary is None:
            raise ValueError(
                f"HMM {self.name!r} is not ergodic: its stationary distribution is not unique"
            )
        return self._stationary

    @property
    def is_ergodic(self) -> bool:
        """Whether ``M`` has a unique stationary distribution (one closed class)."""
        return self._stationary is not None

    @property
    def is_unifilar(self) -> bool:
        """Whether each (state, token) pair leads to at most one next state."""
        return bool(((self.transition_matrices > 0).sum(axis=2) <= 1).all())

    @property
    def emission_probabilities(self) -> np.ndarray:
        """``(S, V)`` ``P(x | state i) = sum_j T[x, i, j]``."""
        return self.transition_matrices.sum(axis=2).T

    def with_initial_distribution(self, initial_distribution: np.ndarray) -> HMM:
        """The same process started from another distribution over hidden states."""
        return HMM(
            self.transition_matrices,
            initial_distribution=initial_distribution,
            name=self.name,
            params=self.params,
            state_names=self.state_names,
            token_names=self.token_names,
        )

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"HMM({self.name}({params}), num_states={self.num_states}, vocab_size={self.vocab_size})"

    # ------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the documented file format (see :func:`load_hmm`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "params": dict(self.params),
            "transition_matrices": self.transition_matrices.tolist(),
            "state_names": list(self.state_names),
            "token_names": list(self.token_names),
        }
        if self._stationary is None or not np.allclose(
            self.initial_distribution, self._stationary, atol=1e-15, rtol=0
        ):
            out["initial_distribution"] = self.initial_distribution.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "HMM data") -> HMM:
        """Build an HMM from the documented dict format (see :func:`load_hmm`)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object at the top level")
        if "transition_matrices" not in data:
            raise ValueError(f"{source}: missing required key 'transition_matrices'")
        known = {"transition_matrices", "initial_distribution", "name", "params", "state_names",
                 "token_names"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown keys {unknown}; valid keys are {sorted(known)}")
        try:
            T = np.asarray(data["transition_matrices"], dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{source}: 'transition_matrices' must be nested lists of numbers of shape (V, S, S)"
            ) from err
        init = data.get("initial_distribution")
        if init is not None:
            try:
                init = np.asarray(init, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{source}: 'initial_distribution' must be a list of numbers") from err
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"{source}: 'params' must be an object; got {type(params).__name__}")
        for key in ("state_names", "token_names"):
            names = data.get(key)
            if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)):
                raise ValueError(f"{source}: {key!r} must be a list of strings")
        return cls(
            T,
            initial_distribution=init,
            name=str(data.get("name", "custom")),
            params=dict(params),
            state_names=data.get("state_names"),
            token_names=data.get("token_names"),
        )


def load_hmm(path: str | os.PathLike) -> HMM:
    """Load an HMM from a JSON file.

    The file is one object with the required key ``transition_matrices`` (nested lists of shape
    ``(V, S, S)``, ``T[x][i][j] = P(emit x, go to j | in i)``) and the optional keys
    ``initial_distribution`` (``S`` numbers), ``state_names`` (``S`` strings), ``token_names``
    (``V`` strings), ``name`` (string) and ``params`` (object).

    Raises:
        ValueError: when the file is missing, is not JSON, or does not describe a valid HMM.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as err:
        raise ValueError(f"HMM file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"HMM file {path} is not valid JSON: {err.msg} (line {err.lineno})") from err
    return HMM.from_dict(data, source=f"HMM file {path}")


def save_hmm(hmm: HMM, path: str | os.PathLike) -> None:
    """Write ``hmm`` to ``path`` in the format read by :func:`load_hmm`."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(hmm.to_dict(), fh, indent=1)
        fh.write("\n")


# ------------------------------------------------------------------------------------ validation
def _validated_transition_matrices(T: Any) -> np.ndarray:
    try:
        T = np.array(T, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError("transition_matrices must be a numeric array of shape (V, S, S)") from err
    if T.ndim != 3:
        raise ValueError(
            f"transition_matrices must have rank 3, shape (V, S, S); got shape {T.shape}"
        )
    V, S, S2 = T.shape
    if V == 0:
        raise ValueError("transition_matrices has an empty vocabulary (V = 0)")
    if S == 0 or S != S2:
        raise ValueError(
            f"transition_matrices must have shape (V, S, S) with S >= 1; got shape {T.shape}"
        )
    bad = ~np.isfinite(T)
    if bad.any():
        x, i, j = np.argwhere(bad)[0]
        raise ValueError(f"transition_matrices[{x}, {i}, {j}] is not finite ({T[x, i, j]})")
    if (T < 0).any():
        x, i, j = np.argwhere(T < 0)[0]
        raise ValueError(
            f"transition_matrices[{x}, {i}, {j}] = {T[x, i, j]} is negative "
            f"(token {x}, from state {i} to state {j})"
        )
    if (T > 1 + ROW_SUM_TOL).any():
        x, i, j = np.argwhere(T > 1 + ROW_SUM_TOL)[0]
        raise ValueError(f"transition_matrices[{x}, {i}, {j}] = {T[x, i, j]} is greater than 1")
    sums = T.sum(axis=(0, 2))
    off = np.abs(sums - 1) > ROW_SUM_TOL
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"state {i}: outgoing probabilities sum to {sums[i]:.12g}, not 1 "
            "(sum of T[x, i, j] over tokens x and next states j)"
        )
    return T


def _validated_distribution(p: Any, S: int, what: str) -> np.ndarray:
    p = np.array(p, dtype=np.float64)
    if p.shape != (S,):
        raise ValueError(f"{what} must have shape ({S},); got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{what} must be finite and non-negative; got {p.tolist()}")
    if abs(p.sum() - 1) > ROW_SUM_TOL:
        raise ValueError(f"{what} must sum to 1; sums to {p.sum():.12g}")
    return p / p.sum()


def _validated_names(names: Sequence[str] | None, n: int, what: str, prefix: str) -> tuple:
    if names is None:
        return tuple(f"{prefix}{k}" for k in range(n))
    names = tuple(str(s) for s in names)
    if len(names) != n:
        raise ValueError(f"{what} must have {n} entries; got {len(names)}")
    return names


def _unique_stationary_distribution(M: np.ndarray) -> np.ndarray | None:
    """The unique stationary distribution of ``M``, or ``None`` when it is not unique."""
    S = M.shape[0]
    A = M.T - np.eye(S)
    singular_values = np.linalg.svd(A, compute_uv=False)
    nullity = int((singular_values < STATIONARY_RANK_TOL * max(1.0, singular_values[0])).sum())
    if nullity != 1:
        return None
    system = np.vstack([A, np.ones((1, S))])
    rhs = np.zeros(S + 1)
    rhs[-1] = 1.0
    pi, *_ = np.linalg.lstsq(system, rhs, rcond=None)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a
