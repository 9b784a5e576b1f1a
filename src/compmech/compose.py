"""Composed processes: non-ergodic mixtures, factored (product) processes, Markov approximations,
their factored beliefs, and JSON specs for them.

* :func:`mixture`: components ``P_1 .. P_K`` with weights ``w_k``. ``T`` is block diagonal (one
  block per component, each token mapped into a shared vocabulary), the start vector is
  ``sum_k w_k pi_k`` placed on the blocks and ``r`` stacks the components' ``r_k``. A sequence stays
  in the component it started in, so the process is not ergodic. All-classical components give an
  :class:`~compmech.hmm.HMM`, otherwise a :class:`~compmech.hmm.GHMM`.
* :func:`product`: independent factors emitting one token each, encoded as the single token
  ``x = sum_f x_f prod_{g>f} V_g`` (big-endian mixed radix, factor 0 most significant: the order
  of the Generative Processes Specification, :mod:`compmech.tokens`); states likewise,
  ``s = sum_f s_f prod_{g>f} S_g``, so ``T[x] = T_0[x_0] (x) ... (x) T_{F-1}[x_{F-1}]``
  (Kronecker products), ``eta_0 = (x)_f eta_f`` and ``r = (x)_f r_f``.
* :func:`markov_approximation`: the order-``k`` Markov chain with the process's exact
  ``(k + 1)``-block statistics, an HMM whose states are the last ``k`` tokens.

Beliefs factor (:func:`factor_beliefs`, :func:`factored_beliefs`): for a mixture the joint belief
``eta`` restricted to block ``k`` is ``P(k | x_1..x_t) eta_k``, so the posterior over components is
``eta[block_k] r_k`` and component ``k``'s belief ``eta[block_k] / P(k | x_1..x_t)``; for a product
the joint belief is the outer product of the factors' beliefs, each recovered as a marginal
(contracting the other factors' axes with their ``r_g``).

BOS. ``mixture(..., bos=True)`` adds a start state (state 0) that emits a BOS token (the last token,
id ``V``) and then enters component ``k`` with probability ``w_k``; the process starts in it, so
every sequence begins with BOS and the rest has exactly the mixture's distribution. Use it when the
data should carry its own BOS; the trainer's ``bos=True`` (and
:func:`~compmech.information.optimal_cross_entropy_nats` with ``bos=True``) prepends its own BOS to
a process without one, so do not combine the two.

Spec files (read by :func:`compmech.process_io.load_hmm` and :func:`compmech.process_io.process_from_dict`)::

    {"kind": "mixture", "components": [ENTRY, ...], "weights": [w, ...],
     "vocab_maps": [[...], ...], "bos": false, "name": "..."}       # last three optional
    {"kind": "product", "factors": [ENTRY, ...], "name": "..."}
    {"kind": "markov_approximation", "process": ENTRY, "order": k}

where ``ENTRY`` is a catalogue name (``"mess3"``), ``{"process": "mess3", "params": {"x": 0.1}}``,
``{"file": "other.json"}`` (relative to the spec file's folder), or an inline process dict or spec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from compmech.hmm import GHMM, HMM, Process, zero_tolerance
from compmech.inference import filter_beliefs
from compmech.markov_approx import markov_approximation
from compmech.process_io import load_hmm, process_from_dict, register_spec_kind
from compmech.processes import CATALOGUE, get_process
from compmech.records import Record
from compmech.stateful import is_stateful
from compmech.tokens import decode_tokens, encode_tokens
from compmech.validation import Composition


# ------------------------------------------------------------------------------ resolving inputs
def resolve_process(entry: Any, base_dir: str | os.PathLike | None = None) -> Process:
    """A process from any of the ways a component or factor can be given.

    Args:
        entry: an HMM/GHMM; a catalogue name (``"mess3"``); a ``(name, params)`` pair; a path to a
            JSON file (``str`` ending in ``.json`` or ``os.PathLike``); or a dict: ``{"process":
            name, "params": {...}}``, ``{"file": path}``, or an inline process dict or spec.
        base_dir: folder that relative file paths are resolved against.

    Returns:
        the process.
    """
    if isinstance(entry, (HMM, GHMM)) or is_stateful(entry):
        return entry
    base = Path(base_dir) if base_dir is not None else None
    if isinstance(entry, os.PathLike) or (
            isinstance(entry, str) and entry not in CATALOGUE and (
                entry.endswith(".json") or _resolved(Path(entry), base).exists())):
        return load_hmm(_resolved(Path(entry), base))
    if isinstance(entry, str):
        return get_process(entry)  # a catalogue name (or the catalogue's one-line error)
    if isinstance(entry, Mapping):
        return _process_from_entry(entry, base)
    if isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[0], str):
        name, params = entry
        if not isinstance(params, Mapping):
            raise ValueError(f"the parameters of {name!r} must be a dict; got {type(params).__name__}")
        return get_process(name, **params)
    raise ValueError(f"cannot make a process from {type(entry).__name__} {entry!r}: give a process, "
                     "a catalogue name, a (name, params) pair, a JSON file or a dict")


def _resolved(path: Path, base: Path | None) -> Path:
    return path if base is None or path.is_absolute() else base / path


@dataclass(frozen=True)
class _NamedEntry(Record):
    """A component given as ``{"process": catalogue name, "params": {...}}``."""

    process: Any
    params: Any = field(default_factory=dict)


@dataclass(frozen=True)
class _FileEntry(Record):
    """A component given as ``{"file": path}``."""

    file: Any


def _process_from_entry(entry: Mapping[str, Any], base: Path | None) -> Process:
    if "process" in entry and "kind" not in entry:
        unknown = sorted(set(entry) - {"process", "params"})
        if unknown:
            raise ValueError(f"component {entry!r}: unknown keys {unknown}; valid keys are "
                             "['params', 'process']")
        named = _NamedEntry.from_dict(entry)
        params = named.params
        if not isinstance(params, Mapping):
            raise ValueError(f"component {named.process!r}: 'params' must be an object")
        return get_process(str(named.process), **params)
    if "file" in entry:
        if set(entry) != {"file"}:
            raise ValueError(f"component {entry!r}: a file entry has the single key 'file'")
        return resolve_process(Path(_FileEntry.from_dict(entry).file), base)
    return process_from_dict(entry, source="component", base_dir=base)


def _linear(processes: list, what: str) -> list:
    """``processes`` if each has transition matrices; a one-line error naming a stateful one."""
    for p in processes:
        if not isinstance(p, (HMM, GHMM)):
            raise ValueError(f"a {what} is built from matrices, and {p.name!r} is a stateful "
                             "(non-linear) process: write it as a spec 'nonergodic' mixture, or "
                             "use compmech.StatefulMixture / compmech.independent_factors")
    return processes


def _checked_weights(weights: Any, K: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (K,):
        raise ValueError(f"weights must have one entry per component ({K}); got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or abs(w.sum() - 1) > 1e-8:
        raise ValueError(f"weights must be finite, non-negative and sum to 1; got {w.tolist()}")
    return w / w.sum()


def _checked_vocab_maps(vocab_maps: Any, components: list) -> list[np.ndarray]:
    if vocab_maps is None:
        return [np.arange(c.vocab_size) for c in components]
    if len(vocab_maps) != len(components):
        raise ValueError(f"vocab_maps must have one map per component ({len(components)}); "
                         f"got {len(vocab_maps)}")
    maps = []
    for k, (m, c) in enumerate(zip(vocab_maps, components, strict=True)):
        m = np.asarray(m)
        if m.shape != (c.vocab_size,) or (m.size and not np.issubdtype(m.dtype, np.integer)) or (
                m < 0).any():
            raise ValueError(f"vocab map {k} must give a shared token (an integer >= 0) for each of "
                             f"the {c.vocab_size} tokens of {c.name!r}; got {m.tolist()}")
        maps.append(m.astype(np.int64))
    return maps


# ------------------------------------------------------------------------------------- mixture
def mixture(components: Sequence[Any], weights: Any, vocab_maps: Sequence[Any] | None = None,
            bos: bool = False, name: str = "mixture") -> Process:
    """A non-ergodic mixture: draw component ``k`` with probability ``w_k``, then emit from it.

    ``T`` is block diagonal: ``T[y][block_k, block_k] = sum_{c : map_k(c) = y} T_k[c]``; the start
    vector is ``w_k pi_k`` on block ``k`` (``pi_k`` the component's initial distribution) and
    ``r = (r_1, ..., r_K)``. Word probabilities are ``P(w) = sum_k w_k P_k(w)``.

    Args:
        components: processes, catalogue names, ``(name, params)`` pairs, JSON files or dicts
            (see :func:`resolve_process`).
        weights: ``(K,)`` non-negative weights summing to 1.
        vocab_maps: optional per-component token maps into a shared vocabulary,
            ``vocab_maps[k][c]`` the shared token of component ``k``'s token ``c`` (several tokens
            may share one). Default: identity maps, shared vocabulary ``max_k V_k``.
        bos: add a start state emitting a BOS token (the last token) before the component is
            entered (see the module docstring).
        name: the process's name.

    Returns:
        an :class:`~compmech.hmm.HMM` when every component is classical, else a
        :class:`~compmech.hmm.GHMM`, with ``structure`` describing the blocks.

    Example:
        >>> import compmech
        >>> m = compmech.mixture(["mess3", ("mess3", {"x": 0.15, "alpha": 0.6})], [0.5, 0.5])
        >>> m.num_states, m.vocab_size, m.is_ergodic
        (6, 3, False)
    """
    comps = _linear([resolve_process(c) for c in components], "mixture")
    if not comps:
        raise ValueError("a mixture needs at least one component")
    w = _checked_weights(weights, len(comps))
    maps = _checked_vocab_maps(vocab_maps, comps)
    V_shared = int(max(int(m.max()) + 1 if m.size else 0 for m in maps))
    V, offset = V_shared + int(bool(bos)), int(bool(bos))
    S = offset + sum(c.num_states for c in comps)
    T, init, r = np.zeros((V, S, S)), np.zeros(S), np.zeros(S)
    state_names = ["start"] if bos else []
    for k, (c, m) in enumerate(zip(comps, maps, strict=True)):  # K blocks, not a hot path
        block = slice(offset, offset + c.num_states)
        np.add.at(T, (m, block, block), c.transition_matrices)
        init[block] = w[k] * c.initial_distribution
        r[block] = c.right_eigenvector
        state_names += [f"{k}.{s}" for s in c.state_names]
        offset += c.num_states
    if bos:
        T[V_shared, 0, 1:] = init[1:]
        init = np.eye(S)[0]
        r[0] = 1.0
    structure = Composition(
        "mixture", tuple(c.name for c in comps), tuple(c.num_states for c in comps),
        tuple(c.vocab_size for c in comps), weights=tuple(float(x) for x in w),
        vocab_maps=tuple(tuple(int(x) for x in m) for m in maps), bos=bool(bos))
    params: dict[str, Any] = {"components": [{"process": c.name, "params": dict(c.params)}
                                             for c in comps], "weights": w.tolist()}
    if vocab_maps is not None:
        params["vocab_maps"] = [m.tolist() for m in maps]
    if bos:
        params["bos"] = True
    common = dict(initial_distribution=init, name=name, params=params,
                  state_names=state_names, token_names=_mixture_token_names(comps, maps, V_shared, bos),
                  structure=structure)
    if all(c.kind == "hmm" for c in comps):
        return HMM(T, **common)
    return GHMM(T, right_eigenvector=r, **common)


def _mixture_token_names(comps, maps, V_shared: int, bos: bool) -> list[str]:
    """The components' own token names where all that emit a shared token agree, else its id."""
    labels: list[set] = [set() for _ in range(V_shared)]
    for c, m in zip(comps, maps, strict=True):
        for x, label in zip(m, c.token_names, strict=True):
            labels[x].add(label)
    names = [next(iter(s)) if len(s) == 1 else str(x) for x, s in enumerate(labels)]
    return names + (["BOS"] if bos else [])


# ------------------------------------------------------------------------------------- product
def product(factors: Sequence[Any], name: str = "product") -> Process:
    """A factored process: independent factors, one token each, encoded as one token.

    Token ``x = sum_f x_f prod_{g>f} V_g`` and state ``s = sum_f s_f prod_{g>f} S_g`` (big-endian,
    factor 0 most significant; :func:`compmech.encode_tokens`), so
    ``T[x] = T_0[x_0] (x) ... (x) T_{F-1}[x_{F-1}]``, with start vector ``(x)_f eta_f`` and
    ``r = (x)_f r_f``. ``P(w) = prod_f P_f(w^{(f)})`` and the entropy rate is the sum of the
    factors'.

    Args:
        factors: processes or anything :func:`resolve_process` accepts.
        name: the process's name.

    Returns:
        an :class:`~compmech.hmm.HMM` when every factor is classical, else a
        :class:`~compmech.hmm.GHMM`; ``structure`` records the factors.

    Example:
        >>> import compmech
        >>> p = compmech.product(["mess3", "tom_quantum"])
        >>> p.kind, p.num_states, p.vocab_size
        ('ghmm', 9, 12)
    """
    facs = _linear([resolve_process(f) for f in factors], "product")
    if not facs:
        raise ValueError("a product needs at least one factor")
    T, init, r = np.ones((1, 1, 1)), np.ones(1), np.ones(1)
    states, tokens = [""], [""]
    for f in facs:  # each new factor is the less significant digit
        Vp, Sp = T.shape[0], T.shape[1]
        Vf, Sf = f.vocab_size, f.num_states
        F = f.transition_matrices  # outer product by broadcasting (faster than einsum here)
        T = (T[:, None, :, None, :, None] * F[None, :, None, :, None, :]).reshape(
            Vp * Vf, Sp * Sf, Sp * Sf)
        init = np.kron(init, f.initial_distribution)
        r = np.kron(r, f.right_eigenvector)
        states = [_join(a, b) for a in states for b in f.state_names]
        tokens = [_join(a, b) for a in tokens for b in f.token_names]
    structure = Composition(
        "product", tuple(f.name for f in facs), tuple(f.num_states for f in facs),
        tuple(f.vocab_size for f in facs),
        right_eigenvectors=tuple(tuple(float(v) for v in f.right_eigenvector) for f in facs))
    params = {"factors": [{"process": f.name, "params": dict(f.params)} for f in facs]}
    common = dict(initial_distribution=init, name=name, params=params, state_names=states,
                  token_names=tokens, structure=structure)
    if all(f.kind == "hmm" for f in facs):
        return HMM(T, **common)
    return GHMM(T, right_eigenvector=r, **common)


def _join(high: str, low: str) -> str:
    """Label of a mixed-radix pair, factor 0 first: ``"x0|x1|..."``."""
    return low if high == "" else f"{high}|{low}"


def product_tokens(process_or_vocab_sizes: Any, tokens) -> np.ndarray:
    """``(...) -> (..., F)``: each factor's token ``x_f = (x // prod_{g>f} V_g) mod V_f``
    (:func:`compmech.decode_tokens`, big-endian).

    Args:
        process_or_vocab_sizes: a product process (its ``structure``) or the factors' ``V_f``.
        tokens: integer array of joint tokens.
    """
    sizes = _product_sizes(process_or_vocab_sizes, "vocab_sizes")
    return decode_tokens(sizes, tokens).astype(np.int32)


def joint_tokens(process_or_vocab_sizes: Any, factor_tokens) -> np.ndarray:
    """``(..., F) -> (...)``: the joint token ``x = sum_f x_f prod_{g>f} V_g`` (inverse of
    :func:`product_tokens`; :func:`compmech.encode_tokens`)."""
    sizes = _product_sizes(process_or_vocab_sizes, "vocab_sizes")
    return encode_tokens(sizes, factor_tokens).astype(np.int32)


def _product_sizes(process_or_sizes: Any, what: str) -> tuple:
    structure = getattr(process_or_sizes, "structure", None)
    if isinstance(process_or_sizes, (HMM, GHMM)):
        if structure is None or structure.kind != "product":
            raise ValueError(f"{process_or_sizes.name!r} is not a product process (no product structure)")
        return tuple(getattr(structure, what))
    return tuple(int(v) for v in process_or_sizes)


# ------------------------------------------------------------------------------ factored beliefs
class FactoredBeliefs(NamedTuple):
    """Joint beliefs split into their factors (see :func:`factor_beliefs`).

    Attributes:
        kind: ``"mixture"`` or ``"product"``.
        beliefs: ``(..., S)`` the joint beliefs.
        factor_beliefs: one array per component (mixture) or factor (product), ``(..., S_k)``:
            component ``k``'s belief given the tokens (NaN where its posterior is zero), or factor
            ``f``'s marginal belief.
        component_posterior: mixture: ``(..., K)`` ``P(component k | x_1..x_t)``; product: ``None``.
    """

    kind: str
    beliefs: np.ndarray
    factor_beliefs: tuple
    component_posterior: np.ndarray | None


def factor_beliefs(process: Process, beliefs) -> FactoredBeliefs:
    """Split joint beliefs of a mixture or product into their factors (pointwise, no filtering).

    * Mixture: ``P(k | x_1..x_t) = eta[block_k] r_k`` and component ``k``'s belief
      ``eta[block_k] / P(k | x_1..x_t)`` (NaN where the posterior is 0, or at most
      :data:`~compmech.validation.GHMM_ZERO_TOL` for a GHMM: the component is ruled out).
    * Product: factor ``f``'s belief is the marginal of ``eta`` reshaped to
      ``(S_0, ..., S_{F-1})`` (big-endian), contracting every other factor's axis with its ``r_g``; for a
      product start vector the joint belief is exactly ``(x)_f eta_f``.

    Args:
        process: a process built by :func:`mixture` or :func:`product` (its ``structure``).
        beliefs: ``(..., S)`` joint beliefs, e.g. ``filter_beliefs(process, tokens).beliefs``.

    Returns:
        :class:`FactoredBeliefs`.
    """
    structure = process.structure
    if structure is None:
        raise ValueError(f"{process.name!r} has no factors: build it with compmech.mixture or "
                         "compmech.product (its 'structure' records the factors)")
    eta = np.asarray(beliefs, dtype=np.float64)
    if eta.shape[-1:] != (process.num_states,):
        raise ValueError(f"beliefs must have shape (..., {process.num_states}); got {eta.shape}")
    if structure.kind == "mixture":
        return _split_mixture(process, structure, eta)
    return _split_product(structure, eta)


def _split_mixture(process: Process, structure: Composition, eta: np.ndarray) -> FactoredBeliefs:
    r = process.right_eigenvector
    blocks = structure.blocks()
    posterior = np.stack([eta[..., b] @ r[b] for b in blocks], axis=-1)
    ruled_out = posterior <= zero_tolerance(process)
    safe = np.where(ruled_out, 1.0, posterior)
    parts = tuple(np.where(ruled_out[..., k, None], np.nan, eta[..., b] / safe[..., k, None])
                  for k, b in enumerate(blocks))
    return FactoredBeliefs("mixture", eta, parts, np.where(ruled_out, 0.0, posterior))


def _split_product(structure: Composition, eta: np.ndarray) -> FactoredBeliefs:
    F = structure.num_factors
    letters = "abcdefghijklmnopqrstuvwxyz"[:F]  # letters[f] indexes factor f's axis
    tensor = eta.reshape(*eta.shape[:-1], *structure.num_states)  # big-endian: factor 0 first
    parts = []
    for f in range(F):
        others = [g for g in range(F) if g != f]
        spec = ",".join([f"...{letters}"] + [letters[g] for g in others]) + f"->...{letters[f]}"
        parts.append(np.einsum(spec, tensor, *[np.asarray(structure.right_eigenvectors[g])
                                               for g in others]))
    return FactoredBeliefs("product", eta, tuple(parts), None)


def factored_beliefs(process: Process, tokens, initial_distribution=None, *,
                     allow_impossible: bool = False) -> FactoredBeliefs:
    """Filter ``tokens (..., L)`` and split the beliefs into their factors.

    ``factor_beliefs(process, filter_beliefs(process, tokens, ...).beliefs)``; alignment as in
    :func:`~compmech.inference.filter_beliefs` (position ``t`` is after ``x_1 .. x_t``).

    Returns:
        :class:`FactoredBeliefs` with ``beliefs (..., L, S)``, ``factor_beliefs`` each
        ``(..., L, S_k)`` and, for a mixture, ``component_posterior (..., L, K)``.
    """
    filtered = filter_beliefs(process, tokens, initial_distribution,
                              allow_impossible=allow_impossible)
    return factor_beliefs(process, filtered.beliefs)


def factor_array_names(process: Process) -> list[str]:
    """Names of the arrays :func:`factor_beliefs` gives, as stored in dataset files:
    ``component_posterior`` and ``component_beliefs_<k>`` (mixture) or ``factor_beliefs_<f>``
    (product)."""
    structure = process.structure
    if structure is None:
        raise ValueError(f"{process.name!r} has no factors (not a mixture or product)")
    if structure.kind == "mixture":
        return ["component_posterior"] + [f"component_beliefs_{k}"
                                          for k in range(structure.num_factors)]
    return [f"factor_beliefs_{f}" for f in range(structure.num_factors)]


def factor_arrays(process: Process, beliefs) -> dict[str, np.ndarray]:
    """``{name: array}`` for :func:`factor_array_names` from joint ``beliefs (..., S)``."""
    split = factor_beliefs(process, beliefs)
    arrays = list(split.factor_beliefs)
    if split.component_posterior is not None:
        arrays = [split.component_posterior, *arrays]
    return dict(zip(factor_array_names(process), arrays, strict=True))


# ---------------------------------------------------------------------------------- JSON specs
@dataclass(frozen=True)
class _MixtureSpec(Record):
    """``{"kind": "mixture", "components": [...], "weights": [...], ...}``."""

    kind: str
    components: Any
    weights: Any
    vocab_maps: Any = None
    bos: Any = False
    name: Any = "mixture"


@dataclass(frozen=True)
class _ProductSpec(Record):
    """``{"kind": "product", "factors": [...]}``."""

    kind: str
    factors: Any
    name: Any = "product"


@dataclass(frozen=True)
class _MarkovSpec(Record):
    """``{"kind": "markov_approximation", "process": ..., "order": k}``."""

    kind: str
    process: Any
    order: Any
    name: Any = None


def _spec_keys(spec: Mapping[str, Any], source: str, kind: str, required: set,
               optional: set) -> None:
    missing = sorted(required - set(spec))
    if missing:
        raise ValueError(f"{source}: a {kind!r} spec needs the keys {missing}")
    unknown = sorted(set(spec) - required - optional - {"kind"})
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown} in a {kind!r} spec; valid keys "
                         f"are {sorted(required | optional | {'kind'})}")


def _entries(items: Any, key: str, source: str, base: Path | None) -> list:
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence) or not items:
        raise ValueError(f"{source}: {key!r} must be a non-empty list")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(resolve_process(item, base))
        except ValueError as err:
            raise ValueError(f"{source}: {key}[{i}]: {err}") from None
    return out


def _mixture_from_spec(spec: Mapping[str, Any], source: str, base: Path | None) -> Process:
    _spec_keys(spec, source, "mixture", {"components", "weights"}, {"vocab_maps", "bos", "name"})
    parsed = _MixtureSpec.from_dict(spec)
    components = _entries(parsed.components, "components", source, base)
    try:
        return mixture(components, parsed.weights, parsed.vocab_maps, bool(parsed.bos),
                       name=str(parsed.name))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from None


def _product_from_spec(spec: Mapping[str, Any], source: str, base: Path | None) -> Process:
    _spec_keys(spec, source, "product", {"factors"}, {"name"})
    parsed = _ProductSpec.from_dict(spec)
    factors = _entries(parsed.factors, "factors", source, base)
    try:
        return product(factors, name=str(parsed.name))
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None


def _markov_from_spec(spec: Mapping[str, Any], source: str, base: Path | None) -> Process:
    _spec_keys(spec, source, "markov_approximation", {"process", "order"}, {"name"})
    parsed = _MarkovSpec.from_dict(spec)
    try:
        inner = resolve_process(parsed.process, base)
        return markov_approximation(inner, parsed.order, parsed.name)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from None


register_spec_kind("mixture", _mixture_from_spec)
register_spec_kind("product", _product_from_spec)
register_spec_kind("markov_approximation", _markov_from_spec)
