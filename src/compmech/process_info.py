"""What ``compmech info`` and ``compmech msp`` report about a process: its basic facts, its
information measures and geometry (one MSP and one Blackwell sample shared by every estimate), and
the mixed-state tree as flat arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from compmech.asymptotics import (
    EntropyRateConfig,
    entropy_rate,
    excess_entropy,
    statistical_complexity,
)
from compmech.blackwell import BlackwellSample, blackwell_sample
from compmech.dimensions import fractal_dimensions
from compmech.geometry import kaplan_yorke_dimension, lyapunov_spectrum
from compmech.hmm import GHMM, HMM
from compmech.information import myopic_entropy, synchronization_profile
from compmech.msp_graph import mixed_state_presentation
from compmech.records import Record
from compmech.stateful import is_stateful

#: Largest MSP tree level the automatic ``--depth`` allows (``V^(L-1)`` words).
AUTO_DEPTH_MAX_WORDS = 1_000_000
#: ``--depth`` when it is not given, unless the vocabulary forces a smaller one.
DEFAULT_DEPTH = 10


def process_info(hmm) -> dict:
    """The basic facts printed by ``compmech info`` (HMM or GHMM, ergodic or a mixture)."""
    out = {
        "name": hmm.name,
        "kind": hmm.kind,
        "params": dict(hmm.params),
        "num_states": hmm.num_states,
        "vocab_size": hmm.vocab_size,
        "state_names": list(hmm.state_names),
        "token_names": list(hmm.token_names),
        "ergodic": hmm.is_ergodic,
        "stationary_distribution": hmm.stationary_distribution.tolist() if hmm.is_ergodic
        else None,
        "initial_distribution": hmm.initial_distribution.tolist(),
        "unifilar": hmm.is_unifilar,
    }
    if isinstance(hmm, GHMM):
        out["right_eigenvector"] = hmm.right_eigenvector.tolist()
    if is_stateful(hmm):
        out["state"] = ("stateful process (compmech.StatefulProcess): states are vectors updated "
                        "by the process's own rule, not beliefs over hidden states")
    if hmm.structure is not None:
        out["structure"] = hmm.structure.to_dict()
    return out


def auto_depth(vocab_size: int) -> int:
    """Largest ``L <= DEFAULT_DEPTH`` whose deepest propagated level has at most 10^6 words."""
    if vocab_size <= 1:
        return DEFAULT_DEPTH
    fits = 1 + int(math.floor(math.log(AUTO_DEPTH_MAX_WORDS) / math.log(vocab_size)))
    return max(1, min(DEFAULT_DEPTH, fits))


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class EntropyRateFields(Record):
    """The ``entropy_rate_*`` keys of ``compmech info --json`` (see :func:`entropy_rate_fields`);
    a key is absent from the JSON where its field is ``None``."""

    entropy_rate_bits: float
    entropy_rate_method: str
    entropy_rate_stderr_bits: float | None = None
    entropy_rate_num_points: int | None = None
    entropy_rate_upper_bound_bits: float | None = None
    entropy_rate_depth: int | None = None
    entropy_rate_extrapolation_bits: float | None = None
    entropy_rate_blackwell_bits: float | None = None
    entropy_rate_blackwell_stderr_bits: float | None = None
    entropy_rate_blackwell_num_points: int | None = None
    entropy_rate_note: str | None = None

    @classmethod
    def of_info(cls, info: Mapping[str, Any]) -> EntropyRateFields:
        """The fields of an ``info`` dict (its ``entropy_rate_*`` keys)."""
        names = {f.name for f in fields(cls)}
        return cls.from_dict({k: v for k, v in info.items() if k in names})


def entropy_rate_fields(rate) -> dict:
    """The ``entropy_rate_*`` keys of ``compmech info --json`` for a
    :class:`compmech.asymptotics.EntropyRate`.

    ``entropy_rate_bits`` is the result (exact, the limit of the exact ``h(L)``, or the Blackwell
    estimate when those had not converged) and ``entropy_rate_method`` names it. The rigorous
    bound ``h(depth)`` and its depth are given whenever they were computed; the Blackwell estimate
    always has its own keys (``entropy_rate_blackwell_*``), and ``entropy_rate_note`` says when
    it lies above the bound (nothing is clipped).
    """
    blackwell = rate.method == "blackwell"
    beside = math.isfinite(rate.blackwell_bits)
    out = EntropyRateFields(
        entropy_rate_bits=rate.bits, entropy_rate_method=rate.method,
        entropy_rate_stderr_bits=rate.stderr_bits if blackwell else None,
        entropy_rate_num_points=rate.num_points if blackwell else None,
        entropy_rate_upper_bound_bits=rate.upper_bound_bits if rate.depth > 0 else None,
        entropy_rate_depth=rate.depth if rate.depth > 0 else None,
        entropy_rate_extrapolation_bits=rate.extrapolation_bits
        if rate.method == "myopic_limit" else None,
        entropy_rate_blackwell_bits=rate.blackwell_bits if beside else None,
        entropy_rate_blackwell_stderr_bits=rate.blackwell_stderr_bits if beside else None,
        entropy_rate_blackwell_num_points=rate.num_points if beside else None,
        entropy_rate_note=rate.note or None)
    return {k: v for k, v in out.to_dict().items() if v is not None}


def describe_entropy_rate(info: Mapping[str, Any]) -> str:
    """One line for the text output of ``compmech info``: the rate, how it was obtained, its bound
    and the Blackwell estimate beside it (from :func:`entropy_rate_fields`' keys)."""
    f = EntropyRateFields.of_info(info)
    method = f.entropy_rate_method
    text = f"{f.entropy_rate_bits:.7f} bits"
    if method == "myopic_limit":
        text += (f" (limit of the exact h(L), extrapolated from L = {f.entropy_rate_depth}; "
                 f"rigorous upper bound h({f.entropy_rate_depth}) = "
                 f"{f.entropy_rate_upper_bound_bits:.7f})")
    elif method == "blackwell":
        text += f" +- {f.entropy_rate_stderr_bits:.1e} (Blackwell estimate, standard error"
        if f.entropy_rate_depth is not None:
            text += (f"; h(L) not converged, rigorous upper bound h({f.entropy_rate_depth}) "
                     f"= {f.entropy_rate_upper_bound_bits:.7f}")
        text += ")"
    else:
        text += f" (exact, {method})"
    if method != "blackwell" and f.entropy_rate_blackwell_bits is not None:
        text += (f"; Blackwell estimate beside it {f.entropy_rate_blackwell_bits:.7f} +- "
                 f"{f.entropy_rate_blackwell_stderr_bits:.1e}")
    return text


#: Chains and tokens per chain of the Lyapunov spectrum of a finite-MSP process in ``info``
#: (only to detect synchronisation: its Blackwell measure sits on finitely many points).
FINITE_MSP_LYAPUNOV_CHAINS, FINITE_MSP_LYAPUNOV_STEPS = 20, 500


def _lyapunov_fields(hmm, spectrum) -> dict:
    """Lyapunov keys of ``fractal_dimension``: exponents (``null`` for ``-inf``), their standard
    errors and whether the beliefs synchronise (every exponent ``-inf``)."""
    out = {
        "lyapunov_exponents_nats": [_finite(v) for v in spectrum.exponents],
        "lyapunov_stderr_nats": [_finite(v) for v in spectrum.stderr],
        "synchronises": bool(spectrum.synchronises),
    }
    if spectrum.synchronises:
        out["lyapunov_note"] = (
            "synchronises: along a word the product of the belief-update maps collapsed exactly "
            "(T[w] maps every belief to one), so every Lyapunov exponent is -inf (null here) and "
            "the Kaplan-Yorke dimension is 0")
    elif np.isinf(spectrum.exponents).any():
        out["lyapunov_note"] = ("null exponents are -inf: a singular step map killed a tangent "
                                "direction exactly")
    return out


def information_summary(hmm, *, depth: int, max_states: int = 10_000, tol: float = 1e-9,
                        num_points: int = 1_000_000, seed: int = 0) -> dict:
    """The information measures reported by ``compmech info`` (JSON-ready, bits).

    Builds the MSP once and, when it is infinite (truncated), one Blackwell sample shared by the
    Blackwell estimate of the entropy rate (reported beside the exact or myopic-limit rate, see
    :func:`entropy_rate_fields`), the point-cloud dimensions (on up to 2*10^5 of its beliefs) and
    the Lyapunov spectrum (on up to 100 of its chains). A finite MSP gets a short Lyapunov run
    only to say whether the beliefs synchronise.
    """
    msp = mixed_state_presentation(hmm, tol=tol, max_states=max_states)
    sample = None
    if msp.truncated or msp.num_recurrent_components != 1:
        if is_stateful(hmm):
            return _stateful_summary(hmm, msp, depth, max_states, tol)
        sample = blackwell_sample(hmm, num_points, seed)
    config = EntropyRateConfig(tol=tol, max_states=max_states, blackwell=sample is not None,
                               num_points=num_points, seed=seed)
    rate = entropy_rate(hmm, config, msp=msp, sample=sample)
    h = myopic_entropy(hmm, depth)
    E = excess_entropy(hmm, rate=rate)
    C = statistical_complexity(hmm, msp=msp)
    out = entropy_rate_fields(rate)
    out.update({
        "depth": depth,
        "block_entropy_bits": np.cumsum(h).tolist(),
        "myopic_entropy_bits": h.tolist(),
        "synchronization_profile_bits": synchronization_profile(hmm, depth).tolist()
        if isinstance(hmm, HMM) else None,
        "excess_entropy_bits": E.bits,
        "excess_entropy": {"stderr_bits": E.stderr_bits, "depth": E.depth, "tol_bits": E.tol,
                           "converged": E.converged, "lower_bound_bits": E.lower_bound_bits,
                           "entropy_rate_upper_bound_bits": E.rate_upper_bound_bits},
        "statistical_complexity_bits": C.bits,
    })
    if C.bits is None:
        out["statistical_complexity_reason"] = C.reason
    else:
        out["num_causal_states"] = C.num_causal_states
    out["msp"] = {
        "num_states": msp.num_states,
        "num_recurrent": msp.num_recurrent,
        "num_transient": msp.num_transient,
        "truncated": msp.truncated,
        "max_states": int(max_states),
        "tol": float(tol),
    }
    if sample is None:
        dims = {
            "note": f"finite recurrent MSP: the Blackwell measure sits on {msp.num_recurrent} "
                    "points, so every dimension is 0",
            "box_counting": {"dimension": 0.0, "fit_range": None},
            "information": {"dimension": 0.0, "fit_range": None},
            "correlation": {"dimension": 0.0, "fit_range": None},
            "kaplan_yorke": 0.0,
        }
        if hmm.num_states >= 2:
            dims.update(_lyapunov_fields(hmm, lyapunov_spectrum(
                hmm, num_steps=FINITE_MSP_LYAPUNOV_STEPS, num_chains=FINITE_MSP_LYAPUNOV_CHAINS,
                seed=seed)))
        out["fractal_dimension"] = dims
        out["synchronises"] = dims.get("synchronises")
        return out
    dims = fractal_dimensions(sample.points[:200_000], seed=seed).as_dict()
    dims["num_points"] = int(min(200_000, sample.points.shape[0]))
    if hmm.num_states >= 2:
        chains = BlackwellSample(sample.beliefs[:100], sample.tokens[:100],
                                 sample.previous_beliefs[:100], sample.burn_in)
        spectrum = lyapunov_spectrum(hmm, sample=chains)
        dims.update(_lyapunov_fields(hmm, spectrum))
        dims["kaplan_yorke"] = kaplan_yorke_dimension(spectrum.exponents, rate.nats)
    out["fractal_dimension"] = dims
    out["synchronises"] = dims.get("synchronises")
    return out


def _stateful_summary(hmm, msp, depth: int, max_states: int, tol: float) -> dict:
    """What ``compmech info`` can say about a stateful process (no matrices) whose MSP does not
    close: the exact finite-length measures; Blackwell sampling and Lyapunov spectra need ``T``."""
    h = myopic_entropy(hmm, depth)
    return {
        "depth": depth,
        "block_entropy_bits": np.cumsum(h).tolist(),
        "myopic_entropy_bits": h.tolist(),
        "msp": {"num_states": msp.num_states, "num_recurrent": msp.num_recurrent,
                "num_transient": msp.num_transient, "truncated": msp.truncated,
                "max_states": int(max_states), "tol": float(tol)},
        "note": "stateful (non-linear) process whose mixed-state presentation did not close: the "
                "entropy rate, excess entropy, statistical complexity and dimensions need a "
                "Blackwell sample of a linear presentation and are not reported",
    }


def tree_arrays(tree, hmm) -> dict:
    """Flat arrays of a :class:`compmech.msp.MixedStateTree` for ``np.savez``.

    ``beliefs (N, S)``, ``probabilities (N,)``, ``depth (N,)``, ``parent (N,)`` (global index, -1
    at the root), ``token (N,)`` (-1 at the root), plus the HMM's ``transition_matrices`` (not for a
    stateful process, whose "beliefs" are its state vectors).
    """
    offsets = np.cumsum([0] + [p.shape[0] for p in tree.probabilities])
    parent = np.concatenate(
        [np.full(1, -1, dtype=np.int64)]
        + [tree.parents[d] + offsets[d - 1] for d in range(1, tree.depth + 1)]
    )
    return {
        "beliefs": tree.all_beliefs(),
        "probabilities": tree.all_probabilities(),
        "depth": tree.all_depths(),
        "parent": parent,
        "token": np.concatenate(tree.tokens).astype(np.int32),
        **({} if is_stateful(hmm) else {"transition_matrices": np.asarray(hmm.transition_matrices)}),
        "initial_distribution": np.asarray(hmm.initial_distribution),
        "state_names": np.array(hmm.state_names),
    }


__all__ = ["AUTO_DEPTH_MAX_WORDS", "DEFAULT_DEPTH", "EntropyRateFields", "auto_depth",
           "describe_entropy_rate",
           "entropy_rate_fields", "information_summary", "process_info", "tree_arrays"]
