"""The process types: classical HMMs and generalized HMMs (GHMMs); their validation is in
:mod:`compmech.validation`, their JSON files in :mod:`compmech.process_io`.

Convention (see ``docs/theory.md``, "Conventions"): a process with ``S`` states and ``V`` tokens is the array
``T`` of shape ``(V, S, S)``.

* :class:`HMM` (``kind = "hmm"``): ``T[x, i, j] = P(emit x and go to state j | in state i)``,
  entries in [0, 1], rows of ``M = sum_x T[x]`` summing to 1. Beliefs are distributions over hidden
  states; after token ``x`` the belief ``eta`` becomes ``eta T[x] / (eta T[x] 1)``.
* :class:`GHMM` (``kind = "ghmm"``): the same array with possibly negative entries (quantum and
  post-quantum processes). ``M`` has eigenvalue 1 with right eigenvector ``r`` (``M r = r``) and the
  start vector ``eta_0`` satisfies ``eta_0 r = 1``; word probabilities are
  ``P(w) = eta_0 T[w_1] ... T[w_L] r`` and must be >= 0. Beliefs live on the affine plane
  ``eta r = 1``: ``eta' = eta T[x] / (eta T[x] r)``. A classical HMM is the case ``r = 1``.

Both types share one interface, so every theory function takes either: ``transition_matrices``,
``initial_distribution`` (``mu`` or another start vector for a GHMM), ``right_eigenvector``
(``r``; all ones for an HMM), ``emission_probabilities`` (``E[i, x] = (T[x] r)_i``, so that
``eta @ E = P(x | eta)`` for both kinds), ``vocab_size``, ``num_states``, ``state_matrix``,
``stationary_distribution``, ``is_ergodic``, ``is_unifilar``, ``name``, ``params``,
``state_names``, ``token_names``, ``structure`` (how a mixture or product was composed, else
``None``), ``kind``, ``with_initial_distribution`` and ``to_dict``. :func:`normaliser` tells the
kernels whether to normalise beliefs by their sum (an HMM: the classical code path, kept bitwise)
or by ``eta r`` (a GHMM).

JSON: :func:`~compmech.process_io.load_hmm` reads one object whose ``kind`` is ``"hmm"`` (the default: files
without ``kind`` load as classical HMMs exactly as before), ``"ghmm"``, or a composition spec
(``"mixture"``, ``"product"``, ``"markov_approximation"``; see :mod:`compmech.compose`);
:func:`~compmech.process_io.process_from_dict` does the same for an already parsed dict, e.g. one from
``to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from compmech.validation import (
    GHMM_ZERO_TOL,
    Composition,
    _check_word_probabilities,
    _eigenvalue_one,
    _parse_process_dict,
    _read_only,
    _unique_stationary_distribution,
    _validated_array,
    _validated_distribution,
    _validated_names,
    _validated_start_vector,
    _validated_structure,
    _validated_transition_matrices,
)


# ---------------------------------------------------------------------------------- shared base
class _ProcessBase:
    """Properties shared by :class:`HMM` and :class:`GHMM` (both define ``transition_matrices``)."""

    transition_matrices: np.ndarray
    kind: ClassVar[str]

    @property
    def vocab_size(self) -> int:
        """Number of tokens ``V``."""
        return self.transition_matrices.shape[0]

    @property
    def num_states(self) -> int:
        """Number of states ``S``."""
        return self.transition_matrices.shape[1]

    @property
    def state_matrix(self) -> np.ndarray:
        """``(S, S)`` state-to-state matrix ``M = sum_x T[x]``."""
        return self.transition_matrices.sum(axis=0)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (f"{type(self).__name__}({self.name}({params}), num_states={self.num_states}, "
                f"vocab_size={self.vocab_size})")

    def _base_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "params": dict(self.params),
            "transition_matrices": self.transition_matrices.tolist(),
            "state_names": list(self.state_names),
            "token_names": list(self.token_names),
        }
        if self.structure is not None:
            out["structure"] = self.structure.to_dict()
        return out


# ------------------------------------------------------------------------------------------ HMM
@dataclass(frozen=True, eq=False, repr=False)
class HMM(_ProcessBase):
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
        structure: a :class:`~compmech.validation.Composition` when the process is a mixture or
            product built by :mod:`compmech.compose` (checked against ``T``), else ``None``.
        kind: ``"hmm"`` (class attribute).

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
    structure: Composition | None = None
    kind: ClassVar[str] = "hmm"

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
        object.__setattr__(self, "_right", _read_only(np.ones(S)))
        object.__setattr__(self, "state_names", state_names)
        object.__setattr__(self, "token_names", token_names)
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "structure", _validated_structure(self.structure, T, self.name))

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
    def right_eigenvector(self) -> np.ndarray:
        """``(S,)`` all ones: ``M 1 = 1`` normalises a classical HMM's beliefs."""
        return self._right

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
            structure=self.structure,
        )

    # ------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the documented file format (see :func:`~compmech.process_io.load_hmm`)."""
        out = self._base_dict()
        if self._stationary is None or not np.allclose(
            self.initial_distribution, self._stationary, atol=1e-15, rtol=0
        ):
            out["initial_distribution"] = self.initial_distribution.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "HMM data") -> HMM:
        """Build an HMM from the documented dict format (see :func:`~compmech.process_io.load_hmm`).

        A dict whose ``kind`` is not ``"hmm"`` is refused with a pointer to
        :func:`~compmech.process_io.process_from_dict` (which returns the right type for every kind).
        """
        return cls(**_parse_process_dict(data, source, "hmm"))


# ----------------------------------------------------------------------------------------- GHMM
@dataclass(frozen=True, eq=False, repr=False)
class GHMM(_ProcessBase):
    """A generalized HMM: ``(V, S, S)`` matrices with possibly negative entries.

    Valid when ``M = sum_x T[x]`` has eigenvalue 1 with right eigenvector ``r`` and every word
    probability ``P(w) = eta_0 T[w_1] ... T[w_L] r`` is >= 0. Validity cannot be read off the signs
    of ``T``: construction checks ``P(w) >= -WORD_PROBABILITY_TOL`` for every word of length
    ``1 .. L`` (``V**L <= VALIDATION_MAX_WORDS``, ``L <= VALIDATION_MAX_LENGTH``) and that each
    length's probabilities sum to 1. Passing that check does not prove longer words non-negative.

    There are no hidden states: the belief ``eta`` (a row vector on the plane ``eta r = 1``, with
    possibly negative entries) is the state, ``P(x | eta) = eta T[x] r`` and
    ``eta' = eta T[x] / (eta T[x] r)``.

    Gauge: ``(eta, r) -> (eta / c, c r)`` leaves every probability unchanged. When ``r`` is
    computed it is scaled so that its largest-magnitude entry is ``+1`` (for a stochastic ``T``
    that is ``r = 1``); a given ``right_eigenvector`` is kept as it is.

    Attributes:
        transition_matrices: ``(V, S, S)`` float64 ``T``.
        initial_distribution: ``(S,)`` start vector ``eta_0`` with ``eta_0 r = 1``. Defaults to the
            stationary ``mu`` (``mu M = mu``, ``mu r = 1``); required when eigenvalue 1 of ``M`` is
            not simple (a non-ergodic GHMM, e.g. a mixture).
        right_eigenvector: ``(S,)`` ``r`` with ``M r = r``. Computed when eigenvalue 1 is simple;
            required otherwise.
        name, params, state_names, token_names, structure: as for :class:`HMM` (``state_names``
            name basis vectors, not hidden states).
        kind: ``"ghmm"`` (class attribute).

    Example:
        >>> import compmech
        >>> g = compmech.get_process("tom_quantum")
        >>> g.right_eigenvector.tolist(), g.vocab_size
        ([1.0, 0.0, 0.0], 4)
    """

    transition_matrices: np.ndarray
    initial_distribution: np.ndarray | None = None
    right_eigenvector: np.ndarray | None = None
    name: str = "custom"
    params: Mapping[str, Any] = field(default_factory=dict)
    state_names: Sequence[str] | None = None
    token_names: Sequence[str] | None = None
    structure: Composition | None = None
    kind: ClassVar[str] = "ghmm"

    def __post_init__(self) -> None:
        T = _validated_array(self.transition_matrices)
        V, S, _ = T.shape
        r, mu, multiplicity = _eigenvalue_one(T.sum(axis=0), self.right_eigenvector, self.name)
        if self.initial_distribution is None:
            if mu is None:
                raise ValueError(
                    f"GHMM {self.name!r}: eigenvalue 1 of M = sum_x T[x] has multiplicity "
                    f"{multiplicity} (not ergodic); pass initial_distribution (and right_eigenvector)"
                )
            init = mu
        else:
            init = _validated_start_vector(self.initial_distribution, r, "initial_distribution")
        _check_word_probabilities(T, init, r, self.name)
        object.__setattr__(self, "transition_matrices", _read_only(T))
        object.__setattr__(self, "initial_distribution", _read_only(init))
        object.__setattr__(self, "right_eigenvector", _read_only(r))
        object.__setattr__(self, "_stationary", None if mu is None else _read_only(mu))
        object.__setattr__(self, "state_names", _validated_names(self.state_names, S, "state_names", "s"))
        object.__setattr__(self, "token_names", _validated_names(self.token_names, V, "token_names", ""))
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "structure", _validated_structure(self.structure, T, self.name))

    @property
    def stationary_distribution(self) -> np.ndarray:
        """``(S,)`` the stationary vector ``mu``: ``mu M = mu``, ``mu r = 1`` (entries may be < 0).

        Raises:
            ValueError: when eigenvalue 1 of ``M`` is not simple (not ergodic).
        """
        if self._stationary is None:
            raise ValueError(
                f"GHMM {self.name!r} is not ergodic: its stationary vector is not unique"
            )
        return self._stationary

    @property
    def is_ergodic(self) -> bool:
        """Whether eigenvalue 1 of ``M`` is simple (one stationary vector ``mu``)."""
        return self._stationary is not None

    @property
    def is_unifilar(self) -> bool:
        """Always ``False``: a GHMM has no hidden states, so unifilarity (one next state per state
        and token) is undefined; ``False`` says that no exact unifilar shortcut applies."""
        return False

    @property
    def emission_probabilities(self) -> np.ndarray:
        """``(S, V)`` ``E[i, x] = (T[x] r)_i``, so that ``P(x | eta) = eta @ E``."""
        return (self.transition_matrices @ self.right_eigenvector).T

    def with_initial_distribution(self, initial_distribution: np.ndarray) -> GHMM:
        """The same process started from another vector ``eta_0`` (``eta_0 r = 1``; validated)."""
        return GHMM(
            self.transition_matrices,
            initial_distribution=initial_distribution,
            right_eigenvector=self.right_eigenvector,
            name=self.name,
            params=self.params,
            state_names=self.state_names,
            token_names=self.token_names,
            structure=self.structure,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``"kind": "ghmm"`` (see :func:`~compmech.process_io.load_hmm`)."""
        out = self._base_dict()
        out["right_eigenvector"] = self.right_eigenvector.tolist()
        if self._stationary is None or not np.allclose(
            self.initial_distribution, self._stationary, atol=1e-15, rtol=0
        ):
            out["initial_distribution"] = self.initial_distribution.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "GHMM data") -> GHMM:
        """Build a GHMM from the dict format of :meth:`to_dict` (``kind`` must be ``"ghmm"``)."""
        return cls(**_parse_process_dict(data, source, "ghmm"))


#: Either process type; every theory function accepts both.
Process = HMM | GHMM


def normaliser(process: Process) -> np.ndarray | None:
    """``None`` for a classical HMM (``r = 1``: beliefs are normalised by their sum, the classical
    code path, bitwise unchanged), else the GHMM's ``(S,)`` right eigenvector ``r`` (normalise by
    ``eta r``, with the GHMM zero tolerance; also when ``r`` happens to be all ones)."""
    return None if process.kind == "hmm" else process.right_eigenvector


def zero_tolerance(process: Process) -> float:
    """Conditional probabilities at or below this count as zero: 0 for an HMM (exact zeros),
    :data:`~compmech.validation.GHMM_ZERO_TOL` for a GHMM (signed round-off)."""
    return 0.0 if process.kind == "hmm" else GHMM_ZERO_TOL


def change_basis(process: Process, A, name: str | None = None) -> GHMM:
    """The same process in another basis: ``T' = A^-1 T A``, ``eta_0' = eta_0 A``, ``r' = A^-1 r``.

    Every word probability is unchanged (``eta_0' T'[w] r' = eta_0 T[w] r``) and beliefs map as
    ``eta' = eta A``; a random invertible ``A`` turns a classical HMM into a GHMM with known
    answers.

    Args:
        process: an HMM or GHMM.
        A: ``(S, S)`` invertible matrix.
        name: name of the result (default ``"<name>_basis"``).

    Returns:
        :class:`GHMM`.
    """
    A = np.asarray(A, dtype=np.float64)
    S = process.num_states
    if A.shape != (S, S) or not np.isfinite(A).all():
        raise ValueError(f"A must be a finite ({S}, {S}) matrix; got shape {A.shape}")
    if np.linalg.cond(A) > 1e12:
        raise ValueError(f"A is singular or nearly so (condition number {np.linalg.cond(A):.3g})")
    A_inv = np.linalg.inv(A)
    T = A_inv[None, :, :] @ process.transition_matrices @ A[None, :, :]
    return GHMM(T, initial_distribution=process.initial_distribution @ A,
                right_eigenvector=A_inv @ process.right_eigenvector,
                name=name or f"{process.name}_basis", params=process.params,
                token_names=process.token_names)
