"""Factored processes with the semantics of the Generative Processes
Specification v1.0 (Astera-org/simplexity, ``docs/generative-processes-spec.md`` §4-§5).

:class:`FactoredProcess`: ``F`` factors, factor ``i`` a family of ``K_i`` non-negative GHMM
variants ``T_{i|k}`` (``(K_i, V_i, S_i, S_i)``) with normalising vectors ``w_{i|k}``
(``T_{i|k} w = w``, ``sum w = S_i``). At each step, with factor states ``eta^i``:

* emission: factor ``i`` uses variant ``k_i = sigma_emit_i(x of its parents)`` and
  ``P(x^i | eta^i, k) = eta^i T_{i|k}[x^i] w_{i|k} / (eta^i w_{i|k})``; the joint is the product of
  these (independent or sequential chain: exact), or, fully conditional (every factor's parents are
  all the others), that product normalised by ``Z`` over the encoded tuples, uniform when ``Z = 0``;
* update: after the whole tuple is known, factor ``i`` uses ``k = sigma_trans_i(...)`` and
  ``eta^i' = eta^i T_{i|k}[x^i] / (eta^i T_{i|k}[x^i] w_{i|k})``; in the ``Z = 0`` branch every
  state stays unchanged.

Selectors are lookup tables indexed by the parents' tokens in big-endian mixed radix (parents in
increasing factor order, spec §7.1.3). Composite tokens are the big-endian radix of the tuple
(:mod:`compmech.tokens`) or an explicit ``token_to_tuple`` list. The state is the factors' states
side by side, ``(sum_i S_i,)``, each scaled so that ``eta^i w_{i|0} = 1`` (states are projective:
only their direction matters).

:meth:`FactoredProcess.joint_presentation` gives the exact linear presentation (a product-state
HMM/GHMM on ``prod_i S_i`` states) when one exists: no fully conditional normalisation, the same
variant for emission and transition, and every factor's used variants sharing ``w``.

Non-ergodic mixtures (spec §5) are in :mod:`compmech.nonergodic`; the chain variant of a
factored process (:func:`~compmech.chain.factor_chain`) in :mod:`compmech.chain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compmech.hmm import GHMM, HMM
from compmech.stateful import StatefulProcess
from compmech.tokens import decode_tokens, encode_tokens
from compmech.validation import Composition

#: Tolerance on ``M w = w`` and on two variants sharing ``w`` (elementwise, relative to 1).
W_TOL = 1e-9

STRUCTURES = ("independent", "sequential", "fully_conditional", "conditional_transitions")


def perron_vectors(T: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(w, pi)`` of a non-negative ``(V, S, S)`` family with spectral radius 1 (spec §3.2):
    ``M w = w`` with ``w > 0``, ``sum w = S``; ``pi M = pi`` with ``pi >= 0``, ``sum pi = 1``.

    Raises:
        ValueError: (one line) negative entries, spectral radius not 1, eigenvalue 1 not simple, no
            strictly positive ``w`` or no non-negative ``pi``.
    """
    T = np.asarray(T, dtype=np.float64)
    S = T.shape[1]
    if (T >= 0).all() and np.abs(T.sum(axis=(0, 2)) - 1).max() <= 1e-12:  # an HMM: w = 1 exactly
        return np.ones(S), _stationary(T.sum(axis=0))
    if (T < 0).any():
        x, i, j = np.argwhere(T < 0)[0]
        raise ValueError(f"{what}: T[{x}][{i}][{j}] = {T[x, i, j]} is negative (spec v1.0 GHMMs are "
                         "non-negative; signed GHMMs such as tom_quantum are outside v1.0)")
    M = T.sum(axis=0)
    S = M.shape[0]
    values, right = np.linalg.eig(M)
    radius = float(np.abs(values).max())
    if abs(radius - 1) > 1e-8:
        raise ValueError(f"{what}: the spectral radius of sum_x T[x] is {radius:.12g}, not 1 "
                         "(divide every T[x] by it first, spec §3.2)")
    ones = np.flatnonzero(np.abs(values - 1) < 1e-8)
    if ones.shape[0] != 1:
        raise ValueError(f"{what}: eigenvalue 1 of sum_x T[x] has multiplicity {ones.shape[0]}, "
                         "not 1 (spec §3.2 items 3-4)")
    w = np.real(right[:, ones[0]])
    w = w / w.sum() * S if abs(w.sum()) > 0 else w
    if not (w > 0).all():
        raise ValueError(f"{what}: the right eigenvector of sum_x T[x] at eigenvalue 1 is not "
                         f"strictly positive ({w.tolist()})")
    w = _polish_right(M, w)
    lvals, left = np.linalg.eig(M.T)
    pi = np.real(left[:, int(np.argmin(np.abs(lvals - 1)))])
    pi = pi / pi.sum()
    if (pi < -1e-12).any():
        raise ValueError(f"{what}: the left eigenvector at eigenvalue 1 is not non-negative")
    return w, np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def _stationary(M: np.ndarray) -> np.ndarray:
    values, left = np.linalg.eig(M.T)
    ones = np.flatnonzero(np.abs(values - 1) < 1e-8)
    if ones.shape[0] != 1:
        raise ValueError(f"eigenvalue 1 of sum_x T[x] has multiplicity {ones.shape[0]}, not 1 "
                         "(spec §3.2 item 4): the stationary state is not unique")
    pi = np.real(left[:, ones[0]])
    pi = np.clip(pi / pi.sum(), 0.0, None)
    return pi / pi.sum()


def _polish_right(M: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A few power steps ``w <- M w`` (rescaled to ``sum w = S``) to remove eigen-solver round-off."""
    S = w.shape[0]
    for _ in range(3):
        nxt = M @ w
        nxt = nxt / nxt.sum() * S
        if np.abs(nxt - w).max() > 1e-6:
            return w
        w = nxt
    return w


def _table(entry: Any, parents: tuple, sizes: Sequence[int], K: int, what: str) -> np.ndarray:
    """A selector lookup table: ``entry`` (``None`` = constant variant 0, an int, or a list of
    length ``prod_{p in parents} V_p``) checked against ``K`` variants."""
    n = int(np.prod([sizes[p] for p in parents])) if parents else 1
    if entry is None:
        table = np.zeros(n, dtype=np.int64)
    else:
        table = np.atleast_1d(np.asarray(entry))
        if table.ndim != 1 or (table.size and not np.issubdtype(table.dtype, np.integer)):
            raise ValueError(f"{what} must be a list of integer variant ids; got {entry!r}")
        table = table.astype(np.int64)
        if table.shape[0] != n:
            raise ValueError(f"{what} has {table.shape[0]} entries; its parents {list(parents)} "
                             f"need prod V_p = {n}")
    if table.size and (table.min() < 0 or table.max() >= K):
        raise ValueError(f"{what} selects variant {int(table.max() if table.max() >= K else table.min())}"
                         f" of a factor with {K} variants (valid: 0..{K - 1})")
    return table


@dataclass(frozen=True)
class Selectors:
    """How a factored process picks its factors' variants: the specification's ``structure``
    object (§7.1.3).

    Attributes:
        structure: ``"independent"``, ``"sequential"``, ``"fully_conditional"`` or
            ``"conditional_transitions"``.
        emission_tables: per factor its emission selector table: ``None`` (variant 0), a
            variant id, or a list indexed by the parents' tokens (big-endian).
        transition_tables: per factor its transition selector table (same forms).
        emission_scheme: ``conditional_transitions`` only: ``"fixed"`` (constant emission
            variants) or ``"sequential"`` (factor ``i`` emits conditioned on ``x^{i-1}``).

    Raises:
        ValueError: an unknown structure or emission scheme (the tables are checked by
            :class:`FactoredProcess`, which knows the factors' sizes).
    """

    structure: str
    emission_tables: Sequence[Any]
    transition_tables: Sequence[Any]
    emission_scheme: str = "sequential"

    def __post_init__(self) -> None:
        if self.structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}; got {self.structure!r}")
        if self.emission_scheme not in ("fixed", "sequential"):
            raise ValueError(f"emission_scheme must be 'fixed' or 'sequential'; got "
                             f"{self.emission_scheme!r}")


class FactoredProcess(StatefulProcess):
    """A factored process of the specification (see the module docstring).

    The arguments mirror the specification's ``factored`` object: the factors' matrices, initial
    states and component types, the ``structure`` object (:class:`Selectors`), the
    ``composite_encoding`` and the name; ``strict`` and ``normalisers`` are compmech's
    extensions.

    Args:
        variants: per factor, ``(K_i, V_i, S_i, S_i)`` non-negative matrices, each variant in the
            spectrally normalised gauge.
        selectors: the structure and the per-factor selector tables (:class:`Selectors`).
        initial_states: per factor ``(S_i,)`` non-negative; ``None`` = the stationary state of its
            only variant (required when ``K_i > 1``).
        token_to_tuple: ``(V_c, F)`` explicit composite encoding, or ``None`` for the dense
            big-endian radix.
        name: the process's name.
        component_types: per factor ``"hmm"`` or ``"ghmm"`` (how it is written back).
    """

    def __init__(self, variants: Sequence[Any], selectors: Selectors,
                 initial_states: Sequence[Any] | None = None, token_to_tuple: Any = None,
                 name: str = "factored", component_types: Sequence[str] | None = None,
                 strict: bool = True, normalisers: Sequence[Any] | None = None) -> None:
        if not variants:
            raise ValueError("a factored process needs at least one factor")
        self.variants = tuple(np.array(v, dtype=np.float64) for v in variants)
        F = len(self.variants)
        for i, v in enumerate(self.variants):
            if v.ndim != 4 or v.shape[2] != v.shape[3] or 0 in v.shape:
                raise ValueError(f"factor {i}: transition_matrices must have shape (K, V, S, S); "
                                 f"got {v.shape}")
        self.structure_type = selectors.structure
        self.emission_scheme = selectors.emission_scheme
        self.strict = bool(strict)
        self.vocab_sizes = tuple(int(v.shape[1]) for v in self.variants)
        self.state_sizes = tuple(int(v.shape[2]) for v in self.variants)
        self.component_types = tuple(component_types or ["ghmm"] * F)
        if normalisers is None:
            perron = [[self._perron(v[k], f"factor {i} variant {k}") for k in range(v.shape[0])]
                      for i, v in enumerate(self.variants)]
        else:  # given (e.g. signed GHMM factors, outside v1.0): no Perron checks
            perron = [[(np.asarray(w, dtype=np.float64), None) for w in ws] for ws in normalisers]
        self.signed = normalisers is not None
        self.normalisers = tuple(np.stack([w for w, _ in p]) for p in perron)
        self.emission_parents = tuple(self._parents(i, "emission") for i in range(F))
        self.transition_parents = tuple(self._parents(i, "transition") for i in range(F))
        self.emission_tables = tuple(
            _table(e, self.emission_parents[i], self.vocab_sizes, self.variants[i].shape[0],
                   f"factor {i} emission selector") for i, e in enumerate(selectors.emission_tables))
        self.transition_tables = tuple(
            _table(e, self.transition_parents[i], self.vocab_sizes, self.variants[i].shape[0],
                   f"factor {i} transition selector")
            for i, e in enumerate(selectors.transition_tables))
        if len(self.emission_tables) != F or len(self.transition_tables) != F:
            raise ValueError(f"need one emission and one transition selector per factor ({F})")
        self.token_to_tuple = self._encoding(token_to_tuple)
        self.vocab_size = int(self.token_to_tuple.shape[0])
        self.num_states = int(sum(self.state_sizes))
        self._offsets = np.concatenate([[0], np.cumsum(self.state_sizes)]).astype(int)
        self.emit_variant = self._variant_of_token(self.emission_tables, self.emission_parents)
        self.trans_variant = self._variant_of_token(self.transition_tables, self.transition_parents)
        self.name = name
        self.params = {"structure": selectors.structure}
        self.initial_distribution = self._initial(initial_states, perron)
        # (K_i, V_i, S_i) emission vectors T_{i|k}[x] w_{i|k}
        self._emission_vectors = tuple(np.einsum("kxij,kj->kxi", v, w)
                                       for v, w in zip(self.variants, self.normalisers, strict=True))

    # ------------------------------------------------------------------------- construction
    def _perron(self, T: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        """:func:`perron_vectors`; with ``strict=False`` an invalid family (the all-zero factors
        of the specification's ``Z = 0`` fallback vectors) gets ``w = 1`` and a uniform ``pi``."""
        try:
            return perron_vectors(T, what)
        except ValueError:
            if self.strict:
                raise
            S = T.shape[1]
            return np.ones(S), np.full(S, 1.0 / S)

    def _parents(self, i: int, which: str) -> tuple:
        F = len(self.variants)
        others = tuple(j for j in range(F) if j != i)
        chain = () if i == 0 else (i - 1,)
        if self.structure_type == "independent":
            return ()
        if self.structure_type == "fully_conditional":
            return others
        if self.structure_type == "sequential":
            return chain
        if which == "emission":  # conditional_transitions
            return () if self.emission_scheme == "fixed" else chain
        return others  # conditional_transitions: transitions see every other factor

    def _encoding(self, token_to_tuple: Any) -> np.ndarray:
        sizes = self.vocab_sizes
        if token_to_tuple is None:
            return decode_tokens(sizes, np.arange(int(np.prod(sizes))))
        t = np.asarray(token_to_tuple)
        if t.ndim != 2 or t.shape[1] != len(sizes) or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"token_to_tuple must be a list of {len(sizes)}-tuples of integers")
        codes = encode_tokens(sizes, t)  # validates the ranges
        if np.unique(codes).shape[0] != codes.shape[0]:
            raise ValueError("token_to_tuple lists a tuple twice (the encoding must be a bijection)")
        return t.astype(np.int64)

    def _variant_of_token(self, tables, parents) -> tuple:
        out = []
        for table, par in zip(tables, parents, strict=True):
            if not par:
                out.append(np.full(self.vocab_size, int(table[0]), dtype=np.int64))
                continue
            idx = encode_tokens([self.vocab_sizes[p] for p in par], self.token_to_tuple[:, list(par)])
            out.append(table[idx])
        return tuple(out)

    def _initial(self, initial_states, perron) -> np.ndarray:
        parts = []
        for i, v in enumerate(self.variants):
            given = None if initial_states is None else initial_states[i]
            if given is None:
                if v.shape[0] > 1:
                    raise ValueError(f"factor {i} has {v.shape[0]} variants, so its initial_state "
                                     "must be given (spec §4.1)")
                given = perron[i][0][1]
            eta = np.asarray(given, dtype=np.float64)
            if self.signed and eta.shape == (self.state_sizes[i],) and np.isfinite(eta).all() and (
                    abs(eta @ self.normalisers[i][0]) > 1e-12):
                parts.append(eta / (eta @ self.normalisers[i][0]))
                continue
            if eta.shape != (self.state_sizes[i],) or not np.isfinite(eta).all() or (
                    eta < 0).any() or not eta.sum() > 0:
                raise ValueError(f"factor {i}: initial_state must be {self.state_sizes[i]} finite "
                                 f"non-negative numbers, not all zero; got {eta.tolist()}")
            parts.append(eta / (eta @ self.normalisers[i][0]))
        return np.concatenate(parts)

    # ---------------------------------------------------------------------------- semantics
    def factor_states(self, states: np.ndarray) -> list[np.ndarray]:
        """Split ``(N, D)`` states into the factors' ``(N, S_i)``."""
        return [states[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:], strict=True)]

    def _factor_emissions(self, states: np.ndarray) -> np.ndarray:
        """``(N, V_c)`` unnormalised joint: ``prod_i P(x^i | eta^i, k_emit_i(token))``."""
        out = np.ones((states.shape[0], self.vocab_size))
        for i, eta in enumerate(self.factor_states(states)):
            num = np.einsum("ns,kxs->nkx", eta, self._emission_vectors[i])  # (N, K, V_i)
            den = eta @ self.normalisers[i].T  # (N, K)
            cond = num / den[:, :, None]
            out *= cond[:, self.emit_variant[i], self.token_to_tuple[:, i]]
        return out

    def _normalised(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P (N, V_c), frozen (N,))``: the joint law and, fully conditional, the ``Z = 0`` rows."""
        joint = self._factor_emissions(states)
        if self.structure_type != "fully_conditional":
            return joint, np.zeros(states.shape[0], dtype=bool)
        Z = joint.sum(axis=1)
        frozen = ~(Z > 0)
        safe = np.where(frozen, 1.0, Z)
        P = np.where(frozen[:, None], 1.0 / self.vocab_size, joint / safe[:, None])
        return P, frozen

    def token_probabilities(self, states: np.ndarray) -> np.ndarray:
        return self._normalised(np.asarray(states, dtype=np.float64))[0]

    def update(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float64)
        if self.structure_type == "fully_conditional":
            frozen = self._normalised(states)[1]
        else:
            frozen = np.zeros(states.shape[0], dtype=bool)
        return self._update(states, np.asarray(tokens, dtype=np.int64), frozen)

    def expand(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All one-token successors; the law (and the ``Z = 0`` rows) computed once per parent."""
        states = np.asarray(states, dtype=np.float64)
        N, V = states.shape[0], self.vocab_size
        probs, frozen = self._normalised(states)
        children = self._update(np.repeat(states, V, axis=0), np.tile(np.arange(V), N),
                                np.repeat(frozen, V))
        return probs, children.reshape(N, V, self.num_states)

    def _update(self, states: np.ndarray, tokens: np.ndarray, frozen: np.ndarray) -> np.ndarray:
        """The update of :meth:`update` given the rows in the ``Z = 0`` branch (``frozen``)."""
        parts = []
        for i, eta in enumerate(self.factor_states(states)):
            k = self.trans_variant[i][tokens]
            x = self.token_to_tuple[tokens, i]
            unnorm = np.einsum("ns,nst->nt", eta, self.variants[i][k, x])
            z = np.einsum("nt,nt->n", unnorm, self.normalisers[i][k])
            ok = z > 0
            new = np.where(ok[:, None], unnorm / np.where(ok, z, 1.0)[:, None], np.nan)
            new = new / (new @ self.normalisers[i][0])[:, None]  # canonical in variant 0's gauge
            parts.append(np.where(frozen[:, None], eta, new))
        return np.concatenate(parts, axis=1)

    def select_variants(self, factor_tuple: Sequence[int]) -> tuple[list[int], list[int]]:
        """``(emission variants, transition variants)`` selected by one observation tuple."""
        t = np.asarray(factor_tuple, dtype=np.int64)
        emit, trans = [], []
        for tables, parents, out in ((self.emission_tables, self.emission_parents, emit),
                                     (self.transition_tables, self.transition_parents, trans)):
            for table, par in zip(tables, parents, strict=True):
                idx = 0 if not par else int(encode_tokens([self.vocab_sizes[p] for p in par],
                                                          t[list(par)]))
                out.append(int(table[idx if par else 0]))
        return emit, trans

    def with_initial_distribution(self, state) -> FactoredProcess:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.num_states,):
            raise ValueError(f"initial state must have shape ({self.num_states},); got {state.shape}")
        parts = [state[a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:], strict=True)]
        return self._copy(initial_states=parts)

    def _copy(self, **changes) -> FactoredProcess:
        kw = dict(variants=self.variants,
                  selectors=Selectors(self.structure_type, self.emission_tables,
                                      self.transition_tables, self.emission_scheme),
                  initial_states=[s for s in self.factor_states(self.initial_distribution[None])],
                  token_to_tuple=self.token_to_tuple, name=self.name,
                  component_types=self.component_types,
                  strict=self.strict, normalisers=self.normalisers if self.signed else None)
        kw["initial_states"] = [s[0] for s in kw["initial_states"]]
        kw.update(changes)
        return FactoredProcess(**kw)

    def to_dict(self) -> dict[str, Any]:
        """The spec v1.0 ``factored`` object (JSON-ready; :func:`compmech.spec.read_spec` reads
        it back), with every factor's initial state explicit.

        Raises:
            ValueError: for signed GHMM factors (:func:`independent_factors`), outside v1.0.
        """
        if any((v < 0).any() for v in self.variants):
            raise ValueError(f"{self.name!r} has signed GHMM factors, which spec v1.0 cannot "
                             "express; keep them in compmech's own format (compmech.save_hmm)")
        states = self.factor_states(self.initial_distribution[None])
        factors = [{"component_type": t, "transition_matrices": v.tolist(),
                    "initial_state": s[0].tolist(), "vocab_size": int(v.shape[1])}
                   for t, v, s in zip(self.component_types, self.variants, states, strict=True)]

        def tables(which) -> list:
            return [t.tolist() for t in which]

        kind = self.structure_type
        if kind == "independent":
            structure: dict[str, Any] = {"type": kind, "variant_indices": [
                int(t[0]) for t in self.emission_tables]}
        elif kind in ("sequential", "fully_conditional"):
            structure = {"type": kind, "control_maps": tables(self.emission_tables)}
        elif self.emission_scheme == "fixed":
            structure = {"type": kind, "transition_control_maps": tables(self.transition_tables),
                         "emission_variant_indices": [int(t[0]) for t in self.emission_tables]}
        else:
            structure = {"type": kind, "transition_control_maps": tables(self.transition_tables),
                         "emission_control_maps": tables(self.emission_tables)}
        out: dict[str, Any] = {"type": "factored", "name": self.name, "factors": factors,
                               "structure": structure}
        if not self.is_dense:
            out["composite_encoding"] = {"type": "explicit",
                                         "token_to_tuple": self.token_to_tuple.tolist()}
        return out

    @property
    def state_names(self) -> tuple:
        return tuple(f"f{i}.s{j}" for i, n in enumerate(self.state_sizes) for j in range(n))

    @property
    def is_dense(self) -> bool:
        """Whether the encoding is the full big-endian radix (no explicit map needed)."""
        dense = decode_tokens(self.vocab_sizes, np.arange(int(np.prod(self.vocab_sizes))))
        return dense.shape == self.token_to_tuple.shape and (dense == self.token_to_tuple).all()

    # ----------------------------------------------------------------------- joint presentation
    def linear_obstacle(self) -> str | None:
        """Why no exact joint linear presentation exists, or ``None`` when one does."""
        if self.structure_type == "fully_conditional":
            return "the fully conditional approximation normalises a product of conditionals"
        for i in range(len(self.variants)):
            if (self.emit_variant[i] != self.trans_variant[i]).any():
                return f"factor {i} emits and updates with different variants"
            used = np.unique(self.emit_variant[i])
            w = self.normalisers[i]
            if np.abs(w[used] - w[used[0]]).max() > W_TOL:
                return f"factor {i}'s variants have different normalising vectors w"
        return None

    def joint_presentation(self, name: str | None = None, params: dict | None = None):
        """The exact linear presentation on product states (``prod_i S_i`` states, big-endian):
        ``T[c] = (x)_i T_{i|k_i(c)}[x^i(c)]``, start ``(x)_i eta^i``, ``r = (x)_i w_i``.

        ``name`` and ``params`` label the result (default: this process's).

        Returns:
            an :class:`~compmech.hmm.HMM` when every factor is ``hmm`` (``w = 1``), else a
            :class:`~compmech.hmm.GHMM`; dense encodings record a product ``structure``.

        Raises:
            ValueError: when :meth:`linear_obstacle` names one.
        """
        obstacle = self.linear_obstacle()
        if obstacle is not None:
            raise ValueError(f"{self.name!r} has no linear presentation: {obstacle}")
        T = np.ones((self.vocab_size, 1, 1))
        init, r = np.ones(1), np.ones(1)
        for i, v in enumerate(self.variants):
            G = v[self.emit_variant[i], self.token_to_tuple[:, i]]  # (V_c, S_i, S_i)
            n, m = T.shape[1], G.shape[1]
            T = np.einsum("cij,ckl->cikjl", T, G).reshape(self.vocab_size, n * m, n * m)
            w = self.normalisers[i][self.emit_variant[i][0]]
            eta = self.factor_states(self.initial_distribution[None])[i][0]
            init = np.kron(init, eta / (eta @ w))
            r = np.kron(r, w)
        classical = all(np.allclose(w, 1.0, rtol=0, atol=W_TOL) for w in self.normalisers)
        structure = None
        if self.is_dense:
            structure = Composition(
                "product", tuple(f"factor{i}" for i in range(len(self.variants))),
                self.state_sizes, self.vocab_sizes,
                right_eigenvectors=tuple(tuple(float(x) for x in self.normalisers[i][
                    self.emit_variant[i][0]]) for i in range(len(self.variants))))
        common = dict(initial_distribution=init, name=name or self.name,
                      params=dict(self.params if params is None else params),
                      structure=structure)
        if classical:
            return HMM(T, **common)
        return GHMM(T, right_eigenvector=r, **common)


def independent_factors(factors: Sequence[Any], name: str = "factored") -> FactoredProcess:
    """Independent factors through the stateful protocol: state size ``sum_f S_f`` instead of
    the joint ``prod_f S_f`` of :func:`compmech.product` (same words, same probabilities; the
    tokens in the same big-endian order).

    Accepts any HMMs and GHMMs, signed ones included (tom_quantum): their own right eigenvectors
    normalise the states. Signed factors are outside spec v1.0, so :meth:`FactoredProcess.to_dict`
    refuses them.

    Args:
        factors: HMM/GHMM objects.
        name: the process's name.
    """
    facs = list(factors)
    if not facs or not all(hasattr(f, "transition_matrices") for f in facs):
        raise ValueError("independent_factors needs a non-empty list of HMMs/GHMMs")
    return FactoredProcess(
        [np.asarray(f.transition_matrices)[None] for f in facs],
        Selectors("independent", [0] * len(facs), [0] * len(facs)),
        initial_states=[f.initial_distribution for f in facs], name=name,
        component_types=[f.kind for f in facs],
        normalisers=[np.asarray(f.right_eigenvector)[None] for f in facs])


__all__ = ["FactoredProcess", "STRUCTURES", "Selectors", "W_TOL", "independent_factors", "perron_vectors"]
