"""Process files of the Generative Processes Specification v1.0, read and written.

The specification (Astera-org/simplexity, ``docs/generative-processes-spec.md``, transcribed from
commit ``082afcad244044ebac800545a177b86d82d08815``) describes a process by one JSON object whose
``type`` is ``"hmm"``, ``"ghmm"``, ``"factored"`` or ``"nonergodic"`` (§7.1.1). Our own files use
``kind`` instead, so :func:`compmech.load_hmm` tells them apart by the key.

Reading (:func:`read_spec` gives the spec's own object, :func:`process_from_spec` the one the
theory functions use):

* ``hmm`` -> :class:`~compmech.hmm.HMM`; ``ghmm`` (non-negative, spectral radius 1) ->
  :class:`~compmech.hmm.GHMM` with ``r = w`` (``sum w = S``) and the canonical start state
  ``eta_0 / (eta_0 w)``, or an HMM when ``w = 1``.
* ``factored`` -> :class:`~compmech.factored.FactoredProcess`; when an exact linear presentation
  exists (independent factors; sequential chains or conditional transitions whose emission and
  transition variants coincide and share ``w``) :func:`process_from_spec` returns that joint
  HMM/GHMM (product states, big-endian, with a product ``structure`` for dense encodings).
* ``nonergodic`` -> our block-diagonal :func:`compmech.mixture` when every component is linear,
  else :class:`~compmech.nonergodic.StatefulMixture`.

Writing (:func:`spec_dict`, :func:`save_spec`): HMMs, non-negative GHMMs, our products (as
``independent`` factored processes, the factors recovered from the joint matrices and checked) and
mixtures (as ``nonergodic``, when their vocabulary maps are injective and there is no BOS start
state), and the spec's own objects. Signed GHMMs (tom_quantum, post_quantum, fanizza) are outside
v1.0 and are refused in one line: keep them in our format (:func:`compmech.save_hmm`).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compmech.compose import mixture
from compmech.factored import FactoredProcess, Selectors, perron_vectors
from compmech.files import atomic_write_text
from compmech.hmm import GHMM, HMM
from compmech.nonergodic import StatefulMixture
from compmech.process_io import SPEC_TYPE_READER, process_from_dict
from compmech.records import Record

#: The specification version read and written.
SPEC_VERSION = "1.0"
#: The simplexity commit the specification and its conformance vectors were transcribed from.
SPEC_COMMIT = "082afcad244044ebac800545a177b86d82d08815"

SPEC_TYPES = ("hmm", "ghmm", "factored", "nonergodic")

#: joint presentation -> the spec object it was built from (so that writing it back keeps the
#: factored or mixture form); weak, so that it never keeps a process alive.
_NATIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# -------------------------------------------------------------------------------------- reading
# The spec's objects (§7.1), each read once into a record after its keys were checked (so that
# the errors name the spec's keys); numbers stay as parsed JSON until validated.
@dataclass(frozen=True)
class _BaseSpec(Record):
    """A ``hmm`` or ``ghmm`` object (§7.1.1)."""

    type: str
    transition_matrices: Any
    initial_state: Any = None
    name: Any = None


@dataclass(frozen=True)
class _NonergodicSpec(Record):
    """A ``nonergodic`` object (§7.1.4)."""

    type: str
    components: Any
    weights: Any
    vocab_maps: Any
    name: Any = None


@dataclass(frozen=True)
class _FactoredSpec(Record):
    """A ``factored`` object (§7.1.2); its factors and structure are read on their own."""

    type: str
    factors: Any
    structure: Any
    composite_encoding: Any = None
    name: Any = None


@dataclass(frozen=True)
class _FactorSpec(Record):
    """One factor of a ``factored`` object: ``(K, V, S, S)`` variants."""

    transition_matrices: Any
    component_type: str = "ghmm"
    initial_state: Any = None
    vocab_size: Any = None


@dataclass(frozen=True)
class _StructureSpec(Record):
    """A §7.1.3 structure object (the keys its ``type`` allows)."""

    type: str
    variant_indices: Any = None
    control_maps: Any = None
    transition_control_maps: Any = None
    emission_variant_indices: Any = None
    emission_control_maps: Any = None


@dataclass(frozen=True)
class _EncodingSpec(Record):
    """A ``composite_encoding`` object: ``{"type": "explicit", "token_to_tuple": [...]}``."""

    type: Any
    token_to_tuple: Any


def _keys(data: Mapping[str, Any], source: str, kind: str, required: set, optional: set) -> None:
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{source}: a {kind!r} process needs the keys {missing}")
    unknown = sorted(set(data) - required - optional - {"type", "name"})
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown} in a {kind!r} process; "
                         f"valid keys are {sorted(required | optional | {'type', 'name'})}")


def _name(name: Any, kind: str) -> str:
    return f"spec_{kind}" if name is None else str(name)


def _array(value: Any, ndim: int, source: str, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {what} must be nested lists of numbers") from err
    if a.ndim != ndim or not np.isfinite(a).all():
        raise ValueError(f"{source}: {what} must be a finite array of rank {ndim}; got shape {a.shape}")
    return a


def _state(value: Any, S: int, source: str, what: str = "initial_state") -> np.ndarray:
    eta = _array(value, 1, source, what)
    if eta.shape != (S,) or (eta < 0).any() or not eta.sum() > 0:
        raise ValueError(f"{source}: {what} must be {S} non-negative numbers, not all zero "
                         f"(spec §3.1); got {eta.tolist()}")
    return eta


def read_spec(data: Mapping[str, Any], source: str = "spec process", *, strict: bool = True):
    """The spec's own object for a process dict: an HMM, a GHMM, a
    :class:`~compmech.factored.FactoredProcess` or a :class:`~compmech.nonergodic.StatefulMixture`
    (nonergodic mixtures of any components; see :func:`process_from_spec` for the joint form).

    Args:
        data: the parsed JSON object.
        source: how to name it in errors.
        strict: ``False`` accepts factor families that are not valid GHMMs (the all-zero factors of
            the conformance suite's ``Z = 0`` fallback vectors), with ``w = 1``.

    Raises:
        ValueError: one line naming the problem.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: a spec process must be a JSON object")
    kind = data.get("type")
    if kind in ("hmm", "ghmm"):
        _keys(data, source, kind, {"transition_matrices"}, {"initial_state"})
        return _read_base(_BaseSpec.from_dict(data), source)
    if kind == "factored":
        _keys(data, source, kind, {"factors", "structure"}, {"composite_encoding"})
        return _read_factored(_FactoredSpec.from_dict(data), source, strict)
    if kind == "nonergodic":
        _keys(data, source, kind, {"components", "weights", "vocab_maps"}, set())
        spec = _NonergodicSpec.from_dict(data)
        comps = spec.components
        if isinstance(comps, (str, Mapping)) or not isinstance(comps, Sequence) or not comps:
            raise ValueError(f"{source}: 'components' must be a non-empty list")
        parts = [_component(c, f"{source}: components[{i}]", strict) for i, c in enumerate(comps)]
        try:
            return StatefulMixture(parts, spec.weights, spec.vocab_maps,
                                   name=_name(spec.name, kind))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None
    raise ValueError(f"{source}: unknown type {kind!r}; spec v{SPEC_VERSION} types are "
                     f"{', '.join(SPEC_TYPES)}")


def _component(data: Any, source: str, strict: bool):
    """A mixture component: a spec object, or (our extension, written by
    :meth:`StatefulMixture.to_dict`) one of our own process dicts with a ``kind``."""
    if isinstance(data, Mapping) and "kind" in data and "type" not in data:
        return process_from_dict(data, source)
    return read_spec(data, source, strict=strict)


def _read_base(spec: _BaseSpec, source: str):
    kind, name = spec.type, _name(spec.name, spec.type)
    T = _array(spec.transition_matrices, 3, source, "transition_matrices")
    if T.shape[1] != T.shape[2] or 0 in T.shape:
        raise ValueError(f"{source}: transition_matrices must have shape (V, S, S); got {T.shape}")
    S = T.shape[1]
    eta = None if spec.initial_state is None else _state(spec.initial_state, S, source)
    try:
        if kind == "hmm":
            return HMM(T, initial_distribution=None if eta is None else eta / eta.sum(), name=name)
        w, pi = perron_vectors(T, f"{source} ({kind})")
        start = pi if eta is None else eta
        if np.array_equal(w, np.ones(S)):  # stochastic: the HMM subclass (spec §3.2.1)
            return HMM(T, initial_distribution=start / start.sum(), name=name)
        return GHMM(T, initial_distribution=start / (start @ w), right_eigenvector=w, name=name)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def _read_factored(spec: _FactoredSpec, source: str, strict: bool):
    factors = spec.factors
    if isinstance(factors, (str, Mapping)) or not isinstance(factors, Sequence) or not factors:
        raise ValueError(f"{source}: 'factors' must be a non-empty list")
    variants, inits, types = [], [], []
    for i, f in enumerate(factors):
        where = f"{source}: factors[{i}]"
        if not isinstance(f, Mapping):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(f) - {"component_type", "transition_matrices", "initial_state", "vocab_size"})
        if unknown or "transition_matrices" not in f:
            raise ValueError(f"{where}: needs 'transition_matrices' (and may have component_type, "
                             f"initial_state, vocab_size); unknown keys {unknown}")
        factor = _FactorSpec.from_dict(f)
        ctype = factor.component_type
        if ctype not in ("hmm", "ghmm"):
            raise ValueError(f"{where}: component_type must be 'hmm' or 'ghmm' in v{SPEC_VERSION}; "
                             f"got {ctype!r}")
        T = _array(factor.transition_matrices, 4, where, "transition_matrices")
        if factor.vocab_size is not None and int(factor.vocab_size) != T.shape[1]:
            raise ValueError(f"{where}: vocab_size {factor.vocab_size} differs from the V dimension "
                             f"{T.shape[1]} of transition_matrices (shape (K, V, S, S))")
        if ctype == "hmm" and np.abs(T.sum(axis=(1, 3)) - 1).max() > 1e-8 and strict:
            raise ValueError(f"{where}: an 'hmm' factor's rows must sum to 1 (spec §3.2.1)")
        variants.append(T)
        inits.append(None if factor.initial_state is None else
                     _state(factor.initial_state, T.shape[2], where))
        types.append(ctype)
    selectors = _selectors(spec.structure, len(factors), source)
    table = None if spec.composite_encoding is None else _encoding_table(
        spec.composite_encoding, source)
    try:
        return FactoredProcess(variants, selectors, initial_states=inits, token_to_tuple=table,
                               name=_name(spec.name, spec.type), component_types=types,
                               strict=strict)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from None


def _encoding_table(encoding: Any, source: str) -> Any:
    """The ``token_to_tuple`` table of a ``composite_encoding`` object."""
    try:
        spec = _EncodingSpec.from_dict(encoding)
    except ValueError:
        spec = None
    if spec is None or spec.type != "explicit":
        raise ValueError(f"{source}: composite_encoding must be {{'type': 'explicit', "
                         "'token_to_tuple': [[...], ...]}")
    return spec.token_to_tuple


def _selectors(structure: Any, F: int, source: str) -> Selectors:
    """The :class:`~compmech.factored.Selectors` of a §7.1.3 structure object."""
    if not isinstance(structure, Mapping) or "type" not in structure:
        raise ValueError(f"{source}: 'structure' must be an object with a 'type'")
    kind = structure.get("type")
    allowed = {"independent": {"variant_indices"}, "sequential": {"control_maps"},
               "fully_conditional": {"control_maps"},
               "conditional_transitions": {"transition_control_maps", "emission_variant_indices",
                                           "emission_control_maps"}}
    if kind not in allowed:
        raise ValueError(f"{source}: structure type {kind!r} is not one of {sorted(allowed)}")
    unknown = sorted(set(structure) - allowed[kind] - {"type"})
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown} in a {kind!r} structure")
    spec = _StructureSpec.from_dict(structure)

    def per_factor(key: str, value: Any, required: bool = True) -> list:
        if value is None:
            if required:
                raise ValueError(f"{source}: a {kind!r} structure needs {key!r}")
            return [None] * F
        if not isinstance(value, Sequence) or len(value) != F:
            raise ValueError(f"{source}: {key!r} must have one entry per factor ({F})")
        return list(value)

    if kind == "independent":
        tables = per_factor("variant_indices", spec.variant_indices, required=False)
        tables = [0 if t is None else t for t in tables]
        return Selectors("independent", tables, tables)
    if kind in ("sequential", "fully_conditional"):
        maps = per_factor("control_maps", spec.control_maps)
        return Selectors(kind, maps, maps)
    fixed, chain = "emission_variant_indices" in structure, "emission_control_maps" in structure
    if fixed == chain:
        raise ValueError(f"{source}: a conditional_transitions structure needs exactly one of "
                         "'emission_variant_indices' and 'emission_control_maps'")
    emission = (per_factor("emission_variant_indices", spec.emission_variant_indices) if fixed
                else per_factor("emission_control_maps", spec.emission_control_maps))
    return Selectors("conditional_transitions", emission,
                     per_factor("transition_control_maps", spec.transition_control_maps),
                     emission_scheme="fixed" if fixed else "sequential")


def process_from_spec(data: Mapping[str, Any], source: str = "spec process", *,
                      strict: bool = True):
    """The process a spec dict describes, in the form the theory functions use: the exact joint
    :class:`~compmech.hmm.HMM` / :class:`~compmech.hmm.GHMM` where one exists, else the stateful
    object (see the module docstring)."""
    return _joint(read_spec(data, source, strict=strict))


def _joint(native):
    if isinstance(native, FactoredProcess):
        if native.linear_obstacle() is not None:
            return native
        joint = native.joint_presentation()
    elif isinstance(native, StatefulMixture):
        comps = [_joint(c) for c in native.components]
        if not all(isinstance(c, (HMM, GHMM)) for c in comps):
            return native
        joint = mixture(comps, native.weights, [m.tolist() for m in native.vocab_maps],
                        name=native.name)
    else:
        return native
    _NATIVE[joint] = native
    return joint


def load_spec(path: str | os.PathLike):
    """Read a spec process file (see :func:`process_from_spec`)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as err:
        raise ValueError(f"spec file not found: {path}") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"spec file {path} is not valid JSON: {err.msg} (line {err.lineno})") from err
    return process_from_spec(data, f"spec file {path}")


# -------------------------------------------------------------------------------------- writing
def spec_dict(process: Any) -> dict[str, Any]:
    """The spec v1.0 JSON object of ``process`` (see the module docstring).

    Raises:
        ValueError: one line, when v1.0 cannot express the process (a signed GHMM, a mixture with
            a BOS start state or shared tokens within a component).
    """
    native = _NATIVE.get(process) if isinstance(process, (HMM, GHMM)) else None
    if native is not None:
        return spec_dict(native)
    if isinstance(process, FactoredProcess):
        return _factored_dict(process)
    if isinstance(process, StatefulMixture):
        return {"type": "nonergodic", "components": [spec_dict(c) for c in process.components],
                "weights": process.weights.tolist(),
                "vocab_maps": [m.tolist() for m in process.vocab_maps]}
    if not isinstance(process, (HMM, GHMM)):
        raise ValueError(f"cannot write {type(process).__name__} as a spec process")
    structure = process.structure
    if structure is not None and structure.kind == "mixture":
        return _mixture_dict(process)
    if structure is not None and structure.kind == "product":
        factors = _product_factors(process)
        if factors is not None:
            return {"type": "factored", "structure": {"type": "independent"},
                    "factors": [_as_factor(d) for d in factors]}
    return _base_dict(process)


def _as_factor(process) -> dict[str, Any]:
    """A base HMM/GHMM as a one-variant factor of a factored process."""
    kind, T, eta = _base_parts(process)
    out = {"component_type": kind, "transition_matrices": [T], "vocab_size": len(T)}
    if eta is not None:
        out["initial_state"] = eta
    return out


def _base_dict(process) -> dict[str, Any]:
    kind, T, eta = _base_parts(process)
    out: dict[str, Any] = {"type": kind, "transition_matrices": T}
    if eta is not None:
        out["initial_state"] = eta
    return out


def _base_parts(process) -> tuple[str, list, list | None]:
    """``(type, transition matrices, initial_state or None)`` of an ``hmm``/``ghmm`` object:
    ``initial_state`` only where the start is not the stationary state of an ergodic process.

    Raises:
        ValueError: a signed GHMM, or one whose eigenvector or start v1.0 cannot express.
    """
    T = np.asarray(process.transition_matrices)
    if process.kind == "hmm":
        eta = process.initial_distribution
        if not process.is_ergodic or not np.allclose(eta, process.stationary_distribution,
                                                     rtol=0, atol=1e-15):
            return "hmm", T.tolist(), eta.tolist()
        return "hmm", T.tolist(), None
    if (T < 0).any():
        x, i, j = np.argwhere(T < 0)[0]
        raise ValueError(f"{process.name!r} is a signed GHMM (T[{x}][{i}][{j}] = {T[x, i, j]:.6g} < 0), "
                         f"which spec v{SPEC_VERSION} cannot express; keep it in compmech's own "
                         "format (compmech.save_hmm)")
    w, _ = perron_vectors(T, repr(process.name))
    r = process.right_eigenvector
    if np.abs(r / (r @ np.ones_like(r)) * r.shape[0] - w).max() > 1e-8:
        raise ValueError(f"{process.name!r}: its right eigenvector is not the positive Perron "
                         "vector of sum_x T[x], which spec v1.0 requires")
    eta = process.initial_distribution
    if (eta < -1e-15).any():
        raise ValueError(f"{process.name!r}: its start vector has negative entries, which spec "
                         f"v{SPEC_VERSION} states cannot have")
    if not process.is_ergodic or not np.allclose(eta, process.stationary_distribution,
                                                 rtol=0, atol=1e-15):
        eta = np.clip(eta, 0.0, None)
        return "ghmm", T.tolist(), (eta / (eta @ w)).tolist()
    return "ghmm", T.tolist(), None


def _mixture_dict(process) -> dict[str, Any]:
    s = process.structure
    if s.bos:
        raise ValueError(f"{process.name!r} has a BOS start state, which spec v{SPEC_VERSION} "
                         "mixtures cannot express (BOS is a framing token there, §6.2): build it "
                         "with bos=False")
    T, r, eta = process.transition_matrices, process.right_eigenvector, process.initial_distribution
    comps, weights = [], []
    for k, (block, vmap) in enumerate(zip(s.blocks(), s.vocab_maps, strict=True)):
        if len(set(vmap)) != len(vmap):
            raise ValueError(f"{process.name!r}: component {k} sends two tokens to one shared "
                             f"token; spec v{SPEC_VERSION} vocab maps are injective")
        Tk = T[list(vmap)][:, block, block]
        weight = float(eta[block] @ r[block])
        weights.append(weight)
        start = eta[block] / weight if weight > 0 else None
        if process.kind == "hmm" or np.allclose(r[block], 1.0):
            comp = HMM(Tk, initial_distribution=start, name=s.names[k]) if start is not None else (
                HMM(Tk, name=s.names[k]))
        else:
            comp = GHMM(Tk, initial_distribution=start, right_eigenvector=r[block], name=s.names[k])
        comps.append(_base_dict(comp))
    return {"type": "nonergodic", "components": comps, "weights": weights,
            "vocab_maps": [list(m) for m in s.vocab_maps]}


def _product_factors(process) -> list | None:
    """Each factor (an HMM or GHMM) recovered from a product's joint matrices, or ``None`` when the
    joint is not the Kronecker product of fixed factors (checked by rebuilding it).

    For ``T[x] = (x)_g T_g[x_g]``: fixing every other factor's row at ``a_g``, summing its tokens
    and contracting its columns with ``r_g`` leaves ``T_f[x_f] * prod_{g != f} r_g[a_g]``.
    """
    s = process.structure
    F = s.num_factors
    if F > 8:
        return None
    joint = np.asarray(process.transition_matrices)
    T6 = joint.reshape(*s.vocab_sizes, *s.num_states, *s.num_states)
    rs = [np.asarray(r, dtype=np.float64) for r in s.right_eigenvectors]
    anchors = [int(np.argmax(np.abs(r))) for r in rs]
    eta = np.asarray(process.initial_distribution).reshape(*s.num_states)
    tok, row, col = "abcdefgh"[:F], "ijklmnop"[:F], "qrstuvwx"[:F]
    factors, starts = [], []
    for f in range(F):
        others = [g for g in range(F) if g != f]
        fixed = tuple([slice(None)] * F + [slice(None) if g == f else anchors[g] for g in range(F)]
                      + [slice(None)] * F)
        expr = f"{tok}{row[f]}{col}," + ",".join(col[g] for g in others) + f"->{tok[f]}{row[f]}{col[f]}"
        scale = float(np.prod([rs[g][anchors[g]] for g in others]))
        factors.append(np.einsum(expr.replace(",->", "->"), T6[fixed], *[rs[g] for g in others]) / scale)
        expr = f"{row}," + ",".join(row[g] for g in others) + f"->{row[f]}"
        starts.append(np.einsum(expr.replace(",->", "->"), eta, *[rs[g] for g in others]))
    rebuilt = np.ones((1, 1, 1))
    for Tf in factors:
        n, m = rebuilt.shape, Tf.shape
        rebuilt = np.einsum("xij,ykl->xyikjl", rebuilt, Tf).reshape(n[0] * m[0], n[1] * m[1],
                                                                    n[1] * m[1])
    if np.abs(rebuilt - joint).max() > 1e-12 * max(1.0, float(np.abs(joint).max())):
        return None
    start = np.ones(1)
    for e in starts:
        start = np.kron(start, e)
    if np.abs(start - np.asarray(process.initial_distribution)).max() > 1e-13:
        return None  # started from a correlated state: only the joint form is exact
    out = []
    for k, (Tf, e) in enumerate(zip(factors, starts, strict=True)):
        if process.kind == "hmm":
            comp = HMM(Tf, initial_distribution=e / e.sum(), name=s.names[k])
        else:
            comp = GHMM(Tf, initial_distribution=e / (e @ rs[k]), right_eigenvector=rs[k],
                        name=s.names[k])
        out.append(comp)
    return out


def _factored_dict(p: FactoredProcess) -> dict[str, Any]:
    return p.to_dict()


def save_spec(process: Any, path: str | os.PathLike) -> Path:
    """Write ``process`` as a spec v1.0 JSON file (atomically); returns the path.

    Raises:
        ValueError: one line, when v1.0 cannot express the process (see :func:`spec_dict`).
    """
    data = spec_dict(process)
    text = json.dumps(data, indent=1, allow_nan=False)
    return atomic_write_text(path, text + "\n")


SPEC_TYPE_READER[:] = [process_from_spec]  # compmech.load_hmm reads spec files through this


# ----------------------------------------------------------------------------------- generation
def generation_layout(body_tokens, total_len: int, bos_token: int | None, eos_token: int | None,
                      pad_token: int | None) -> np.ndarray:
    """Frame generated words as ``[BOS, body_1 .. body_n, EOS, PAD, ..., PAD]`` (spec §6.2).

    Args:
        body_tokens: ``(..., n)`` generated tokens.
        total_len: the output length ``L >= n + (BOS) + (EOS)``.
        bos_token, eos_token, pad_token: framing tokens (``None`` leaves that one out; PAD is
            needed only when the framed word is shorter than ``total_len``).

    Returns:
        ``(..., total_len)`` int64.
    """
    body = np.asarray(body_tokens, dtype=np.int64)
    parts = []
    if bos_token is not None:
        parts.append(np.full(body.shape[:-1] + (1,), int(bos_token)))
    parts.append(body)
    if eos_token is not None:
        parts.append(np.full(body.shape[:-1] + (1,), int(eos_token)))
    framed = np.concatenate(parts, axis=-1)
    short = int(total_len) - framed.shape[-1]
    if short < 0:
        raise ValueError(f"total_len {total_len} is shorter than the framed word ({framed.shape[-1]})")
    if short and pad_token is None:
        raise ValueError(f"total_len {total_len} needs {short} PAD tokens but pad_token is None")
    if short:
        framed = np.concatenate([framed, np.full(body.shape[:-1] + (short,), int(pad_token))], -1)
    return framed


__all__ = ["SPEC_COMMIT", "generation_layout", "SPEC_TYPES", "SPEC_VERSION", "load_spec",
           "process_from_spec", "read_spec", "save_spec", "spec_dict"]
