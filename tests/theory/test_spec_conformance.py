"""The published conformance vectors of the Generative Processes Specification v1.0, run against
compmech (our own runner; the vectors are data in tests/data/spec_conformance_v1.json, transcribed
from Astera-org/simplexity docs/conformance-tests.json at the commit named in its header).

Each vector's operation is computed through the public API: observation distributions and updates
through the process's state protocol (any positive representative of a state is accepted, spec
§3.7), sequence probabilities through ``compmech.log_probability`` on the object ``load_hmm`` would
return (the joint HMM/GHMM where one exists), stationary and initial states through the process
objects. Comparison: ``|a - b| <= abs_tol + rel_tol |b|`` elementwise (spec §7.2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import compmech
from compmech.factored import FactoredProcess
from compmech.nonergodic import StatefulMixture
from compmech.spec import SPEC_COMMIT, generation_layout, process_from_spec, read_spec
from compmech.stateful import as_stateful
from compmech.tokens import decode_explicit, encode_explicit

DATA = Path(__file__).parents[1] / "data" / "spec_conformance_v1.json"
SUITE = json.loads(DATA.read_text())
VECTORS = SUITE["tests"]
#: Categories whose process definitions are deliberately invalid GHMMs (spec §7.4).
FALLBACK = {"fully_conditional_zero_fallback"}


def close(actual, expected, vector) -> None:
    """Assert the spec's tolerance rule elementwise, naming the vector on failure."""
    rel = vector.get("tolerance", SUITE["default_tolerance"])
    abs_tol = vector.get("abs_tolerance", SUITE["default_abs_tolerance"])
    a, b = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, f"{vector['id']}: shape {a.shape} != {b.shape}"
    ok = np.abs(a - b) <= abs_tol + rel * np.abs(b)
    assert ok.all(), f"{vector['id']}: got {a.tolist()}, expected {b.tolist()}"


def native(vector):
    return read_spec(vector["process"], vector["id"], strict=vector["category"] not in FALLBACK)


def state_vector(process, state) -> np.ndarray:
    """The spec's state encoding (§7.1.2) as our flat state vector."""
    if isinstance(process, StatefulMixture):
        return np.concatenate([state["component_beliefs"], *state["component_states"]])
    if isinstance(process, FactoredProcess):
        return np.concatenate(state)
    return np.asarray(state, dtype=np.float64)


def spec_state(process, vec: np.ndarray):
    """Our flat state vector as the spec's encoding (inverse of :func:`state_vector`)."""
    if isinstance(process, StatefulMixture):
        parts = process.split(vec[None])
        return {"component_beliefs": parts[0][0], "component_states": [p[0] for p in parts[1:]]}
    if isinstance(process, FactoredProcess):
        return [s[0] for s in process.factor_states(vec[None])]
    return vec


def run(vector) -> None:
    op, inp, expected = vector["operation"], vector["input"], vector["expected"]
    if op == "observation_probability_distribution":
        p = native(vector)
        close(as_stateful(p).token_probabilities(state_vector(p, inp["state"])[None])[0], expected, vector)
    elif op == "belief_update":
        p = native(vector)
        new = as_stateful(p).update(state_vector(p, inp["state"])[None], np.array([inp["observation"]]))
        got = spec_state(p, new[0])
        if isinstance(p, StatefulMixture):
            close(got["component_beliefs"], expected["component_beliefs"], vector)
            if "component_states" in expected:
                for g, e in zip(got["component_states"], expected["component_states"], strict=True):
                    close(g, e, vector)
        elif isinstance(p, FactoredProcess):
            for g, e in zip(got, expected["state"], strict=True):
                close(g, e, vector)
        else:
            close(got, expected["state"], vector)
    elif op == "sequence_probability":
        p = process_from_spec(vector["process"], vector["id"])  # what load_hmm gives
        close(np.exp(compmech.log_probability(p, [inp["observations"]]))[0], expected, vector)
    elif op == "stationary_distribution":
        mu = native(vector).stationary_distribution
        close(mu / mu.sum(), expected, vector)
    elif op == "initial_state":
        close(native(vector).initial_distribution, expected, vector)
    elif op == "token_encode":
        if "composite_encoding" in inp:
            got = encode_explicit(inp["composite_encoding"]["token_to_tuple"], inp["factor_tokens"])
        else:
            got = compmech.encode_tokens(inp["vocab_sizes"], inp["factor_tokens"])
        assert int(got) == expected, vector["id"]
    elif op == "token_decode":
        if "composite_encoding" in inp:
            got = decode_explicit(inp["composite_encoding"]["token_to_tuple"], inp["composite_token"])
        else:
            got = compmech.decode_tokens(inp["vocab_sizes"], inp["composite_token"])
        assert got.tolist() == expected, vector["id"]
    elif op == "token_roundtrip":
        tuples = np.array(inp["all_factor_tuples"])
        codes = compmech.encode_tokens(inp["vocab_sizes"], tuples)
        assert codes.tolist() == expected, vector["id"]
        np.testing.assert_array_equal(compmech.decode_tokens(inp["vocab_sizes"], codes), tuples)
    elif op == "select_variants":
        emission, transition = native(vector).select_variants(inp["observation_tuple"])
        assert emission == expected and transition == expected, vector["id"]
    elif op == "generation_layout":
        got = generation_layout(inp["body_tokens"], inp["total_len"], inp["bos_token"],
                                inp["eos_token"], inp["pad_token"])
        assert got.shape[-1] - 2 == inp["sequence_len"] or got.shape[-1] > inp["sequence_len"] + 2
        assert got.tolist() == expected, vector["id"]
    else:
        raise AssertionError(f"{vector['id']}: unknown operation {op!r}")


def test_suite_header_names_the_transcribed_commit():
    assert SUITE["source"]["commit"] == SPEC_COMMIT
    assert SUITE["version"] == "1.0" and len(VECTORS) == 42
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_conformance_vector(vector):
    run(vector)


def _perturbed(value):
    """``value`` with every number moved: integers by 1, floats by 1e-3 (recursively)."""
    if isinstance(value, dict):
        key = "state" if "state" in value else "component_beliefs"
        return {**value, key: _perturbed(value[key])}
    if isinstance(value, list):
        return [_perturbed(v) for v in value]
    return value + (1 if isinstance(value, int) else 1e-3)


def test_the_runner_fails_on_a_wrong_expected_value():
    """Each comparison can fail: perturb every vector's expected numbers; all must fail."""
    failures = 0
    for vector in VECTORS:
        try:
            run({**vector, "expected": _perturbed(vector["expected"])})
        except AssertionError:
            failures += 1
    assert failures == len(VECTORS)


def test_joint_presentations_agree_with_the_state_protocol_on_vectors_with_processes():
    """Where load_hmm gives a joint HMM/GHMM, its next-token law from the default start equals
    the spec object's, and its words of length 3 have the spec object's probabilities."""
    checked = 0
    for vector in VECTORS:
        if "process" not in vector or vector["category"] in FALLBACK:
            continue
        p, joint = native(vector), process_from_spec(vector["process"])
        if not isinstance(joint, (compmech.HMM, compmech.GHMM)):
            continue
        words, probs = compmech.enumerate_words(joint, 3)
        spec_probs = np.exp(compmech.log_probability(as_stateful(p), words))
        np.testing.assert_allclose(probs, spec_probs, rtol=0, atol=1e-14, err_msg=vector["id"])
        checked += 1
    assert checked >= 20
