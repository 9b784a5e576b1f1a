"""The chain variant of a factored process (:func:`factor_chain`): each factor's parameters are
selected by the previous factor's token at the same step, built as a ``"sequential"``
:class:`~compmech.factored.FactoredProcess` and returned as its exact joint presentation.
Registered in the catalogue as ``factor_chain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compmech.factored import W_TOL, FactoredProcess, Selectors
from compmech.processes import get_process, register_process

#: Factors of :func:`factor_chain`'s default (the CPU-scale case of ``compmech reproduce factored``):
#: two Mess3(x 0.15, alpha 0.6) and one tom_quantum(alpha 1, beta 3), the paper's factor types.
CHAIN_FACTORS: tuple = ({"process": "mess3", "params": {"x": 0.15, "alpha": 0.6}},
                        {"process": "mess3", "params": {"x": 0.15, "alpha": 0.6}},
                        {"process": "tom_quantum", "params": {"alpha": 1.0, "beta": 3.0}})
#: For factor ``f >= 1``: which parameter its previous factor's token selects, and the value for
#: each of that factor's tokens (ours: spread around the base values 0.6 and 3).
CHAIN_SELECTED: tuple = ({"param": "alpha", "values": [0.4, 0.6, 0.8]},
                         {"param": "beta", "values": [2.0, 3.0, 4.0]})


def _factor_entry(entry: Any, f: int) -> tuple[str, dict]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and set(entry) <= {"process", "params"} and "process" in entry:
        return str(entry["process"]), dict(entry.get("params", {}))
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str):
        return entry[0], dict(entry[1])
    raise ValueError(f"factors[{f}] must be a catalogue name, {{'process': name, 'params': {{...}}}}"
                     f" or (name, params); got {entry!r}")


def factor_chain(factors: Sequence[Any] = CHAIN_FACTORS, selected: Sequence[Any] = CHAIN_SELECTED,
                 name: str = "factor_chain"):
    """The chain variant of a factored process: each factor's parameters are selected by the
    previous factor's token at the same step (the stress test of arXiv 2602.02385 in which the
    factors are not conditionally independent).

    Factor 0 is ``factors[0]``. Factor ``f >= 1`` has one variant per token ``k`` of factor
    ``f - 1``: ``factors[f]`` with parameter ``selected[f-1]["param"]`` set to
    ``selected[f-1]["values"][k]``. At each step factor 0 emits ``x^0`` from its state; factor
    ``f`` emits ``x^f`` and moves with variant ``k = x^{f-1}``:
    ``P(x^0..x^{F-1} | s) = prod_f P_{f | x^{f-1}}(x^f | s^f)``. The composite token is
    big-endian (``x = sum_f x^f prod_{g>f} V_g``). This is :class:`FactoredProcess` with the
    ``"sequential"`` structure, returned as its exact joint presentation
    (:meth:`FactoredProcess.joint_presentation`: ``T[c] = (x)_f T_{f | x^{f-1}(c)}[x^f(c)]`` on
    ``prod_f S_f`` product states), so every theory function and the trainer take it.

    Given the tokens, the factors' hidden states stay independent (each factor's transitions
    depend only on observed tokens), so the belief is the outer product of the factor beliefs, as
    for independent factors; what fails is the conditional independence of the factors' next
    tokens. Each factor starts in its base process's start state: for the default families (Mess3
    of any ``alpha``: uniform; tom_quantum of any ``beta``: ``(1, 0, 0)``), every variant shares it,
    so the product start is stationary for the chain.

    Args:
        factors: per factor a catalogue name, ``{"process": name, "params": {...}}`` or
            ``(name, params)``.
        selected: ``F - 1`` entries ``{"param": name, "values": [V_{f-1} numbers]}``.
        name: the process's name.

    Returns:
        an :class:`~compmech.hmm.HMM` when every variant is classical, else a
        :class:`~compmech.hmm.GHMM`, with a product ``structure`` (factor marginals:
        :func:`compmech.factor_beliefs`).

    Raises:
        ValueError: fewer than two factors, ``selected`` of the wrong length, a value list whose
            length is not the previous factor's vocabulary size, or variants of one factor with
            different right eigenvectors.
    """
    entries = [_factor_entry(e, f) for f, e in enumerate(factors)]
    if len(entries) < 2:
        raise ValueError(f"a chain needs at least two factors; got {len(entries)}")
    if len(selected) != len(entries) - 1:
        raise ValueError(f"selected needs one entry per factor after the first "
                         f"({len(entries) - 1}); got {len(selected)}")
    bases = [get_process(n, **p) for n, p in entries]
    variants, normalisers, starts = [], [], []
    for f, ((proc, params), base) in enumerate(zip(entries, bases, strict=True)):
        if f == 0:
            family = [base]
        else:
            sel = selected[f - 1]
            if not isinstance(sel, dict) or set(sel) != {"param", "values"}:
                raise ValueError(f"selected[{f - 1}] must be {{'param': name, 'values': [...]}}; "
                                 f"got {sel!r}")
            values = list(sel["values"])
            if len(values) != bases[f - 1].vocab_size:
                raise ValueError(f"selected[{f - 1}] has {len(values)} values; factor {f - 1} has "
                                 f"{bases[f - 1].vocab_size} tokens, one value each")
            family = [get_process(proc, **{**params, sel["param"]: v}) for v in values]
        r = np.stack([np.asarray(v.right_eigenvector, dtype=np.float64) for v in family])
        if np.abs(r - r[0]).max() > W_TOL:
            raise ValueError(f"factor {f}'s variants have different right eigenvectors: the chain "
                             "has no linear presentation")
        variants.append(np.stack([v.transition_matrices for v in family]))
        normalisers.append(r)
        starts.append(base.initial_distribution)
    tables = [[0]] + [list(range(bases[f - 1].vocab_size)) for f in range(1, len(entries))]
    chain = FactoredProcess(variants, Selectors("sequential", tables, tables),
                            initial_states=starts, name=name,
                            component_types=[b.kind for b in bases], normalisers=normalisers)
    params = {"factors": [{"process": n, "params": p} for n, p in entries],
              "selected": [dict(s) for s in selected], "name": name}
    return chain.joint_presentation(name=name, params=params)


register_process("factor_chain", factor_chain, generalized=True,
                 reference="arXiv 2602.02385 (chain stress test, as described there); the "
                           "variant parameters are ours")


__all__ = ["CHAIN_FACTORS", "CHAIN_SELECTED", "factor_chain"]
