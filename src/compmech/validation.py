"""Validation of processes at construction: tolerances, transition matrices, distributions,
names, a generalized HMM's eigenvector conditions and word probabilities, and the composition
structure (:class:`Composition`) a mixture or product carries. Every failure is a ``ValueError``
naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from compmech.records import Record

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
            raw = Composition(**structure)  # a missing field is a TypeError
            structure = Composition(
                kind=str(raw.kind), names=tuple(str(n) for n in raw.names),
                num_states=tuple(int(n) for n in raw.num_states),
                vocab_sizes=tuple(int(n) for n in raw.vocab_sizes),
                weights=tuple(float(w) for w in raw.weights),
                vocab_maps=tuple(tuple(int(c) for c in m) for m in raw.vocab_maps),
                right_eigenvectors=tuple(tuple(float(v) for v in r)
                                         for r in raw.right_eigenvectors),
                bos=bool(raw.bos),
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


# ------------------------------------------------------------------------------------ JSON I/O
_BASE_KEYS = {"kind", "transition_matrices", "initial_distribution", "name", "params",
              "state_names", "token_names", "structure"}

@dataclass(frozen=True)
class _ProcessDict(Record):
    """The dict format of an HMM or GHMM (:meth:`~compmech.hmm.HMM.to_dict`), as parsed JSON."""

    transition_matrices: Any
    kind: str = "hmm"
    initial_distribution: Any = None
    right_eigenvector: Any = None
    name: Any = "custom"
    params: Any = field(default_factory=dict)
    state_names: Any = None
    token_names: Any = None
    structure: Any = None


def _parse_process_dict(data: Any, source: str, kind: str) -> dict[str, Any]:
    """Keyword arguments of :class:`~compmech.hmm.HMM` or :class:`~compmech.hmm.GHMM` from their dict
    format."""
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
    spec = _ProcessDict.from_dict(data)
    try:
        T = np.asarray(spec.transition_matrices, dtype=np.float64)
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
    params = spec.params
    if not isinstance(params, Mapping):
        raise ValueError(f"{source}: 'params' must be an object; got {type(params).__name__}")
    for key in ("state_names", "token_names"):
        names = data.get(key)
        if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)):
            raise ValueError(f"{source}: {key!r} must be a list of strings")
        out[key] = names
    structure = spec.structure
    if structure is not None and not isinstance(structure, Mapping):
        raise ValueError(f"{source}: 'structure' must be an object")
    out.update(name=str(spec.name), params=dict(params), structure=structure)
    return out


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
    """Longest word length :class:`~compmech.hmm.GHMM` validation enumerates for ``V`` tokens (at least 1)."""
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
