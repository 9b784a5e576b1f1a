"""The process types: classical HMMs and generalized HMMs (GHMMs), validation, JSON I/O.

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

JSON: :func:`load_hmm` reads one object whose ``kind`` is ``"hmm"`` (the default: files without
``kind`` load as classical HMMs exactly as before), ``"ghmm"``, or a composition spec
(``"mixture"``, ``"product"``, ``"markov_approximation"``; see :mod:`compmech.compose`);
:func:`process_from_dict` does the same for an already parsed dict, e.g. one from ``to_dict()``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

#: Tolerance on row sums and on the entries' range when validating an HMM.
ROW_SUM_TOL = 1e-8
#: Singular values below this count as zero when deciding whether ``pi M = pi`` has one solution.
STATIONARY_RANK_TOL = 1e-10
#: A GHMM is rejected when a checked word has probability below ``-WORD_PROBABILITY_TOL``.
WORD_PROBABILITY_TOL = 1e-10
#: GHMM validation enumerates every word of length ``1 .. L`` with ``V**L <= VALIDATION_MAX_WORDS``
#: (and ``L <= VALIDATION_MAX_LENGTH``; at least ``L = 1``).
VALIDATION_MAX_WORDS = 1 << 16
#: Longest words enumerated when validating a GHMM.
VALIDATION_MAX_LENGTH = 8
#: For GHMMs, a conditional probability ``P(x | eta) = eta T[x] r`` at or below this counts as zero
#: (signed arithmetic leaves round-off of order 1e-16 where a classical HMM has exact zeros).
GHMM_ZERO_TOL = 1e-12
#: Tolerance on ``M r = r`` and ``eta_0 r = 1`` for a GHMM.
EIGENVECTOR_TOL = 1e-8
#: ``token_order`` recorded in a product's structure: composite tokens and states are big-endian
#: mixed radix (factor 0 most significant; see :mod:`compmech.tokens`).
PRODUCT_TOKEN_ORDER = "big_endian"


# ---------------------------------------------------------------------------------- composition
class Composition(NamedTuple):
    """How a mixture or product process was built (metadata written by :mod:`compmech.compose`).

    Mixture (``kind = "mixture"``): the states are the components' blocks in order (after one start
    state when ``bos``), ``T`` is block diagonal, component ``k`` has ``num_states[k]`` states and
    ``vocab_sizes[k]`` own tokens mapped to shared tokens by ``vocab_maps[k]``.
    Product (``kind = "product"``): factor ``f`` has ``num_states[f]`` states, ``vocab_sizes[f]``
    tokens and right eigenvector ``right_eigenvectors[f]``; token ``x = sum_f x_f prod_{g>f} V_g``
    and state ``s = sum_f s_f prod_{g>f} S_g`` (big-endian, factor 0 most significant: the order of
    the Generative Processes Specification). Its dict carries ``"token_order": "big_endian"``; a
    product structure without it was written with the old order (factor 0 fastest) and is refused.

    Attributes:
        kind: ``"mixture"`` or ``"product"``.
        names: name of each component or factor.
        num_states: ``S_k`` of each component or factor.
        vocab_sizes: ``V_k`` of each component or factor.
        weights: mixture weights ``w_k`` (empty for a product).
        vocab_maps: mixture token maps, ``vocab_maps[k][c]`` is the shared token of component
            ``k``'s token ``c`` (empty for a product).
        right_eigenvectors: product factors' ``r_f`` (empty for a mixture).
        bos: mixture only: whether state 0 is a start state that emits a BOS token (the last one).
    """

    kind: str
    names: tuple
    num_states: tuple
    vocab_sizes: tuple
    weights: tuple = ()
    vocab_maps: tuple = ()
    right_eigenvectors: tuple = ()
    bos: bool = False

    @property
    def num_factors(self) -> int:
        """Number of components (mixture) or factors (product)."""
        return len(self.names)

    def blocks(self) -> list[slice]:
        """Mixture: the state slice of each component (after the start state when ``bos``)."""
        offsets = np.cumsum((int(self.bos),) + tuple(self.num_states))
        return [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the ``structure`` key of :meth:`HMM.to_dict`)."""
        out: dict[str, Any] = {"kind": self.kind, "names": list(self.names),
                               "num_states": list(self.num_states),
                               "vocab_sizes": list(self.vocab_sizes)}
        if self.kind == "mixture":
            out.update(weights=list(self.weights), vocab_maps=[list(m) for m in self.vocab_maps],
                       bos=bool(self.bos))
        else:
            out["right_eigenvectors"] = [list(r) for r in self.right_eigenvectors]
            out["token_order"] = PRODUCT_TOKEN_ORDER
        return out


def _validated_structure(structure: Any, T: np.ndarray, name: str) -> Composition | None:
    """Check a :class:`Composition` (or its dict) against ``T``; one-line errors."""
    if structure is None:
        return None
    where = f"structure of {name!r}"
    if isinstance(structure, Mapping):
        structure = _checked_token_order(structure, where)
        known = set(Composition._fields)
        unknown = sorted(set(structure) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; valid keys are {sorted(known)}")
        try:
            structure = Composition(
                kind=str(structure["kind"]), names=tuple(str(n) for n in structure["names"]),
                num_states=tuple(int(n) for n in structure["num_states"]),
                vocab_sizes=tuple(int(n) for n in structure["vocab_sizes"]),
                weights=tuple(float(w) for w in structure.get("weights", ())),
                vocab_maps=tuple(tuple(int(c) for c in m) for m in structure.get("vocab_maps", ())),
                right_eigenvectors=tuple(tuple(float(v) for v in r)
                                         for r in structure.get("right_eigenvectors", ())),
                bos=bool(structure.get("bos", False)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}: malformed ({type(err).__name__}: {err})") from err
    if not isinstance(structure, Composition):
        raise ValueError(f"{where} must be a Composition; got {type(structure).__name__}")
    V, S, _ = T.shape
    K = len(structure.names)
    if K < 1 or len(structure.num_states) != K or len(structure.vocab_sizes) != K:
        raise ValueError(f"{where}: names, num_states and vocab_sizes need one entry per factor")
    if structure.kind == "mixture":
        _check_mixture_structure(structure, T, where)
    elif structure.kind == "product":
        _check_product_structure(structure, V, S, where)
    else:
        raise ValueError(f"{where}: kind must be 'mixture' or 'product'; got {structure.kind!r}")
    return structure


def _checked_token_order(structure: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``structure`` without its ``token_order`` key; a product recorded before composite tokens
    became big-endian (no ``token_order``) is refused, since its tokens and states are numbered
    with factor 0 fastest."""
    out = dict(structure)
    order = out.pop("token_order", None)
    if out.get("kind") == "product" and order != PRODUCT_TOKEN_ORDER:
        raise ValueError(
            f"{where}: this product was recorded with token order {order or 'factor 0 fastest'!r} "
            "(written by an older compmech); composite tokens are now big-endian (factor 0 most "
            "significant), so its tokens and beliefs would be misread: regenerate the dataset or "
            "run from the process spec")
    return out


def _check_mixture_structure(c: Composition, T: np.ndarray, where: str) -> None:
    V, S, _ = T.shape
    if sum(c.num_states) + int(c.bos) != S:
        raise ValueError(f"{where}: the blocks have {sum(c.num_states) + int(c.bos)} states, "
                         f"the process {S}")
    if len(c.weights) != c.num_factors or len(c.vocab_maps) != c.num_factors:
        raise ValueError(f"{where}: a mixture needs one weight and one vocab map per component")
    shared = V - int(c.bos)
    for k, (m, Vk) in enumerate(zip(c.vocab_maps, c.vocab_sizes, strict=True)):
        if len(m) != Vk or any(not 0 <= x < shared for x in m):
            raise ValueError(f"{where}: vocab map {k} must send {Vk} tokens into 0..{shared - 1}")
    inside = np.zeros((S, S), dtype=bool)
    for block in c.blocks():
        inside[block, block] = True
    if c.bos:
        inside[0, 1:] = True
    if (T[:, ~inside] != 0).any():
        raise ValueError(f"{where}: transition_matrices are not block diagonal on the components")


def _check_product_structure(c: Composition, V: int, S: int, where: str) -> None:
    if int(np.prod(c.num_states)) != S or int(np.prod(c.vocab_sizes)) != V:
        raise ValueError(f"{where}: factor sizes {list(c.num_states)} states x "
                         f"{list(c.vocab_sizes)} tokens do not multiply to {S} x {V}")
    if len(c.right_eigenvectors) != c.num_factors or any(
            len(r) != n for r, n in zip(c.right_eigenvectors, c.num_states, strict=True)):
        raise ValueError(f"{where}: a product needs each factor's right eigenvector")


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
        structure: a :class:`Composition` when the process is a mixture or product built by
            :mod:`compmech.compose` (checked against ``T``), else ``None``.
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
        """A JSON-ready dict in the documented file format (see :func:`load_hmm`)."""
        out = self._base_dict()
        if self._stationary is None or not np.allclose(
            self.initial_distribution, self._stationary, atol=1e-15, rtol=0
        ):
            out["initial_distribution"] = self.initial_distribution.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "HMM data") -> HMM:
        """Build an HMM from the documented dict format (see :func:`load_hmm`).

        A dict whose ``kind`` is not ``"hmm"`` is refused with a pointer to
        :func:`process_from_dict` (which returns the right type for every kind).
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
        """A JSON-ready dict with ``"kind": "ghmm"`` (see :func:`load_hmm`)."""
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
    :data:`GHMM_ZERO_TOL` for a GHMM (signed round-off)."""
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


# ------------------------------------------------------------------------------------ JSON I/O
_BASE_KEYS = {"kind", "transition_matrices", "initial_distribution", "name", "params",
              "state_names", "token_names", "structure"}

#: Builders of composition specs by ``kind`` (``"mixture"``, ``"product"``, ...), registered by
#: :mod:`compmech.compose`: ``builder(spec, source, base_dir) -> process``.
SPEC_KINDS: dict[str, Callable[[Mapping[str, Any], str, Path | None], Process]] = {}


#: The reader of Generative Processes Specification objects (``type`` instead of ``kind``),
#: registered by :mod:`compmech.spec`: ``reader(data, source) -> process``.
SPEC_TYPE_READER: list[Callable[[Mapping[str, Any], str], Any]] = []


def register_spec_kind(kind: str, builder: Callable[[Mapping[str, Any], str, Path | None], Process]):
    """Register a builder for JSON specs whose ``kind`` is ``kind`` (see :func:`process_from_dict`)."""
    SPEC_KINDS[kind] = builder


def _parse_process_dict(data: Any, source: str, kind: str) -> dict[str, Any]:
    """Keyword arguments of :class:`HMM` or :class:`GHMM` from their dict format."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object at the top level")
    found = data.get("kind", "hmm")
    if found != kind:
        cls = "HMM" if kind == "hmm" else "GHMM"
        raise ValueError(f"{source}: 'kind' is {found!r}, not {kind!r}; load it with "
                         f"compmech.process_from_dict (or load_hmm), not {cls}.from_dict")
    if "transition_matrices" not in data:
        raise ValueError(f"{source}: missing required key 'transition_matrices'")
    known = _BASE_KEYS | ({"right_eigenvector"} if kind == "ghmm" else set())
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}; valid keys are {sorted(known)}")
    try:
        T = np.asarray(data["transition_matrices"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{source}: 'transition_matrices' must be nested lists of numbers of shape (V, S, S)"
        ) from err
    out: dict[str, Any] = {"transition_matrices": T}
    for key in ("initial_distribution", "right_eigenvector"):
        value = data.get(key)
        if value is not None:
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{source}: {key!r} must be a list of numbers") from err
            out[key] = value
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"{source}: 'params' must be an object; got {type(params).__name__}")
    for key in ("state_names", "token_names"):
        names = data.get(key)
        if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)):
            raise ValueError(f"{source}: {key!r} must be a list of strings")
        out[key] = names
    structure = data.get("structure")
    if structure is not None and not isinstance(structure, Mapping):
        raise ValueError(f"{source}: 'structure' must be an object")
    out.update(name=str(data.get("name", "custom")), params=dict(params), structure=structure)
    return out


def process_from_dict(data: Mapping[str, Any], source: str = "process data",
                      base_dir: str | os.PathLike | None = None) -> Process:
    """The process a dict describes, dispatching on its ``kind``.

    * ``"hmm"`` (or no ``kind``): :class:`HMM` (the format of :meth:`HMM.to_dict`).
    * ``"ghmm"``: :class:`GHMM` (the format of :meth:`GHMM.to_dict`).
    * ``"mixture"``, ``"product"``, ``"markov_approximation"``: composition specs, built by
      :mod:`compmech.compose` (component files are resolved relative to ``base_dir``).
    * no ``kind`` but a ``type`` (``"hmm"``, ``"ghmm"``, ``"factored"``, ``"nonergodic"``): a
      Generative Processes Specification v1.0 object, read by :func:`compmech.spec.process_from_spec`
      (an HMM/GHMM, the exact joint presentation of a composite, or a stateful process).

    Raises:
        ValueError: for an unknown ``kind`` or an invalid description (one line).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object at the top level")
    if "type" in data and "kind" not in data and SPEC_TYPE_READER:  # a spec v1.0 process
        return SPEC_TYPE_READER[0](data, source)
    kind = data.get("kind", "hmm")
    if kind == "hmm":
        return HMM.from_dict(data, source)
    if kind == "ghmm":
        return GHMM.from_dict(data, source)
    if kind in SPEC_KINDS:
        return SPEC_KINDS[kind](data, source, None if base_dir is None else Path(base_dir))
    valid = ", ".join(repr(k) for k in ["hmm", "ghmm", *sorted(SPEC_KINDS)])
    raise ValueError(f"{source}: unknown kind {kind!r}; valid kinds are {valid}")


def load_hmm(path: str | os.PathLike) -> Process:
    """Load a process from a JSON file (an HMM, a GHMM, or a mixture/product spec).

    A file with a ``type`` key and no ``kind`` is a Generative Processes Specification v1.0
    process (``docs/process-format.md``; :mod:`compmech.spec`). Otherwise the file is one object.
    Its optional ``kind`` is ``"hmm"`` (the default), ``"ghmm"``,
    ``"mixture"``, ``"product"`` or ``"markov_approximation"`` (specs: see
    :mod:`compmech.compose`). An HMM or GHMM has the required key ``transition_matrices`` (nested
    lists of shape ``(V, S, S)``, ``T[x][i][j] = P(emit x, go to j | in i)`` for an HMM) and the
    optional keys ``initial_distribution`` (``S`` numbers), ``state_names`` (``S`` strings),
    ``token_names`` (``V`` strings), ``name`` (string), ``params`` (object) and ``structure``
    (object, see :class:`Composition`); a GHMM also ``right_eigenvector`` (``S`` numbers).

    Raises:
        ValueError: when the file is missing, is not JSON, or does not describe a valid process.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as err:
        raise ValueError(f"HMM file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"HMM file {path} is not valid JSON: {err.msg} (line {err.lineno})") from err
    return process_from_dict(data, source=f"HMM file {path}", base_dir=Path(path).parent)


#: :func:`load_hmm` under a kind-neutral name.
load_process = load_hmm


def save_hmm(hmm: Process, path: str | os.PathLike) -> None:
    """Write ``hmm`` (an HMM or GHMM) to ``path`` in the format read by :func:`load_hmm`."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(hmm.to_dict(), fh, indent=1)
        fh.write("\n")


# ------------------------------------------------------------------------------------ validation
def _validated_array(T: Any) -> np.ndarray:
    """A finite float64 ``(V, S, S)`` array (any signs), or a one-line ``ValueError``."""
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
    return T


def _validated_transition_matrices(T: Any) -> np.ndarray:
    T = _validated_array(T)
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


# ------------------------------------------------------------------------------ GHMM validation
def _eigenvalue_one(M: np.ndarray, given_r: Any, name: str):
    """``(r, mu, multiplicity)`` for eigenvalue 1 of ``M``: ``M r = r`` and ``mu M = mu`` with
    ``mu r = 1`` (``mu`` is ``None`` when eigenvalue 1 is not simple). One-line errors."""
    S = M.shape[0]
    U, s, Vt = np.linalg.svd(M - np.eye(S))
    multiplicity = int((s < STATIONARY_RANK_TOL * max(1.0, s[0])).sum())
    if multiplicity == 0:
        eigenvalues = np.linalg.eigvals(M)
        nearest = eigenvalues[np.argmin(np.abs(eigenvalues - 1))]
        raise ValueError(f"GHMM {name!r}: M = sum_x T[x] has no eigenvalue 1 (the nearest "
                         f"eigenvalue is {complex(nearest):.6g})")
    if given_r is None:
        if multiplicity > 1:
            raise ValueError(f"GHMM {name!r}: eigenvalue 1 of M = sum_x T[x] has multiplicity "
                             f"{multiplicity} (not ergodic); pass right_eigenvector and "
                             "initial_distribution")
        r = Vt[-1]
        r = r / r[np.argmax(np.abs(r))]
    else:
        r = np.array(given_r, dtype=np.float64)
        if r.shape != (S,) or not np.isfinite(r).all() or not np.abs(r).max() > 0:
            raise ValueError(f"right_eigenvector must be {S} finite numbers, not all zero; "
                             f"got {r.tolist()}")
        residual = float(np.abs(M @ r - r).max())
        if residual > EIGENVECTOR_TOL * max(1.0, float(np.abs(r).max())):
            raise ValueError(f"GHMM {name!r}: right_eigenvector r is not fixed by M = sum_x T[x] "
                             f"(max |M r - r| = {residual:.3g})")
    if multiplicity > 1:
        return r, None, multiplicity
    mu = U[:, -1]
    overlap = float(mu @ r)
    if abs(overlap) < STATIONARY_RANK_TOL * float(np.abs(mu).max() * np.abs(r).max()):
        raise ValueError(f"GHMM {name!r}: eigenvalue 1 of M is defective (mu r = 0 for its left "
                         "and right eigenvectors), so there is no stationary normalisation")
    return r, mu / overlap, 1


def _validated_start_vector(eta: Any, r: np.ndarray, what: str) -> np.ndarray:
    S = r.shape[0]
    eta = np.array(eta, dtype=np.float64)
    if eta.shape != (S,):
        raise ValueError(f"{what} must have shape ({S},); got shape {eta.shape}")
    if not np.isfinite(eta).all():
        raise ValueError(f"{what} must be finite; got {eta.tolist()}")
    norm = float(eta @ r)
    if abs(norm - 1) > EIGENVECTOR_TOL:
        raise ValueError(f"{what} must satisfy eta r = 1 (r the right eigenvector); "
                         f"eta r = {norm:.12g}")
    return eta / norm


def validation_length(vocab_size: int) -> int:
    """Longest word length :class:`GHMM` validation enumerates for ``V`` tokens (at least 1)."""
    if vocab_size <= 1:
        return VALIDATION_MAX_LENGTH
    length = int(np.floor(np.log(VALIDATION_MAX_WORDS) / np.log(vocab_size) + 1e-9))
    return max(1, min(VALIDATION_MAX_LENGTH, length))


def _check_word_probabilities(T: np.ndarray, eta0: np.ndarray, r: np.ndarray, name: str) -> None:
    """Raise a one-line ``ValueError`` naming the first word with ``P(w) < -tol`` (or a length
    whose probabilities do not sum to 1), over all words up to :func:`validation_length`."""
    V, S, _ = T.shape
    flat = np.transpose(T, (1, 0, 2)).reshape(S, V * S)
    vectors = eta0[None, :]  # (V**L, S): eta0 T[w] for the words of length L, lexicographic
    for length in range(1, validation_length(V) + 1):
        vectors = (vectors @ flat).reshape(-1, S)
        probs = vectors @ r
        bad = np.flatnonzero(probs < -WORD_PROBABILITY_TOL)
        if bad.shape[0]:
            word = np.unravel_index(bad[0], (V,) * length)
            raise ValueError(
                f"GHMM {name!r} is not a valid process: word {tuple(int(x) for x in word)} has "
                f"probability {probs[bad[0]]:.6g} < 0 (P(w) = eta_0 T[w_1]...T[w_L] r)"
            )
        total = float(probs.sum())
        if abs(total - 1) > EIGENVECTOR_TOL:
            raise ValueError(f"GHMM {name!r}: probabilities of the words of length {length} sum "
                             f"to {total:.12g}, not 1")
