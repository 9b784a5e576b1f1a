"""Spec v1.0 process files and semantics: tokens, reading/writing, joint presentations, the
stateful protocol in the theory functions, against brute-force oracles written from the spec's
formulas (one word at a time, plain numpy)."""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compmech
from compmech.factored import FactoredProcess
from compmech.nonergodic import StatefulMixture
from compmech.spec import process_from_spec, read_spec
from compmech.stateful import as_stateful
from oracles import belief_after, random_stochastic, word_probability


# ----------------------------------------------------------------------------------- tokens
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=5), st.data())
def test_encode_decode_round_trip_and_digit_order(sizes, data):
    tuples = np.array([[data.draw(st.integers(0, v - 1)) for v in sizes] for _ in range(5)])
    codes = compmech.encode_tokens(sizes, tuples)
    np.testing.assert_array_equal(compmech.decode_tokens(sizes, codes), tuples)
    for t, c in zip(tuples, codes, strict=True):  # big-endian, digit by digit
        expected = 0
        for x, v in zip(t, sizes, strict=True):
            expected = expected * v + int(x)
        assert int(c) == expected
    total = int(np.prod(sizes))
    all_codes = np.arange(total)
    np.testing.assert_array_equal(compmech.encode_tokens(sizes, compmech.decode_tokens(sizes, all_codes)),
                                  all_codes)


def test_decoded_tuples_are_in_lexicographic_order():
    sizes = [3, 2, 4]
    decoded = compmech.decode_tokens(sizes, np.arange(24))
    assert decoded.tolist() == [list(t) for t in itertools.product(*map(range, sizes))]


@pytest.mark.parametrize("call, match", [
    (lambda: compmech.encode_tokens([2, 3], [2, 0]), "outside 0..1"),
    (lambda: compmech.encode_tokens([2, 3], [1, 0, 0]), "shape"),
    (lambda: compmech.decode_tokens([2, 3], 6), "outside 0..5"),
    (lambda: compmech.decode_tokens([], 0), "non-empty"),
])
def test_token_errors_are_one_line(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_product_tokens_use_the_spec_order():
    p = compmech.product(["mess3", "even"])
    split = compmech.product_tokens(p, np.arange(6))
    np.testing.assert_array_equal(split, compmech.decode_tokens([3, 2], np.arange(6)))
    # token (x0, x1) = (2, 1) has probability P_mess3(2) P_even(1), at index 2 * 2 + 1
    probs = compmech.enumerate_words(p, 1)[1]
    m, e = compmech.get_process("mess3"), compmech.get_process("even")
    expected = (m.initial_distribution @ m.emission_probabilities)[2] * (
        e.initial_distribution @ e.emission_probabilities)[1]
    assert probs[5] == pytest.approx(expected, abs=1e-15)


def test_old_product_order_is_refused():
    d = compmech.product(["even", "golden_mean"]).to_dict()
    assert d["structure"]["token_order"] == "big_endian"
    compmech.process_from_dict(d)  # today's files read back
    del d["structure"]["token_order"]
    with pytest.raises(ValueError, match="big-endian") as info:
        compmech.process_from_dict(d)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------- processes
def nonneg_ghmm(seed: int = 0, S: int = 3, V: int = 2) -> np.ndarray:
    """A non-negative GHMM with w != 1: ``D^-1 T D`` of a random HMM, ``D`` positive diagonal."""
    rng = np.random.default_rng(seed)
    T = random_stochastic(S, V, rng)
    d = rng.uniform(0.5, 2.0, S)
    return T * d[None, None, :] / d[None, :, None]


def hmm_factor(T, init=None):
    out = {"component_type": "hmm", "transition_matrices": np.asarray(T).tolist(),
           "vocab_size": int(np.shape(T)[1])}
    if init is not None:
        out["initial_state"] = list(init)
    return out


RNG = np.random.default_rng(7)
A0 = random_stochastic(2, 2, RNG)
B0, B1 = random_stochastic(2, 3, RNG), random_stochastic(2, 3, RNG)
SEQUENTIAL = {"type": "factored", "factors": [hmm_factor([A0], [0.3, 0.7]),
                                              hmm_factor([B0, B1], [0.5, 0.5])],
              "structure": {"type": "sequential", "control_maps": [None, [1, 0]]}}
FULLY = {"type": "factored", "factors": [hmm_factor([A0, random_stochastic(2, 2, RNG)], [0.4, 0.6]),
                                         hmm_factor([B0, B1], [0.5, 0.5])],
         "structure": {"type": "fully_conditional", "control_maps": [[0, 1, 1], [1, 0]]}}
COND_TRANS = {"type": "factored", "factors": [hmm_factor([A0, random_stochastic(2, 2, RNG)], [0.4, 0.6]),
                                              hmm_factor([B0, B1], [0.5, 0.5])],
              "structure": {"type": "conditional_transitions", "emission_variant_indices": [0, 1],
                            "transition_control_maps": [[0, 1, 1], [1, 0]]}}
GHMM_BASE = {"type": "ghmm", "transition_matrices": nonneg_ghmm().tolist()}


def shared_w_variants(seeds, S=2, V=2, d=(0.6, 1.7)) -> list:
    """GHMM variants ``D^-1 T_k D`` of random HMMs with one ``D``: all share ``w = D^-1 1``."""
    d = np.asarray(d)
    return [(random_stochastic(S, V, np.random.default_rng(s)) * d[None, None, :] / d[None, :, None]
             ).tolist() for s in seeds]


def ghmm_factor(variants, init):
    return {"component_type": "ghmm", "transition_matrices": variants, "initial_state": list(init)}


GHMM_CHAIN = {"type": "factored", "structure": {"type": "sequential", "control_maps": [None, [1, 0]]},
              "factors": [ghmm_factor(shared_w_variants([11]), [0.2, 0.9]),
                          ghmm_factor(shared_w_variants([12, 13]), [1.0, 0.5])]}
GHMM_CHAIN_DIFFERENT_W = {**GHMM_CHAIN, "factors": [
    GHMM_CHAIN["factors"][0],
    ghmm_factor(shared_w_variants([12]) + shared_w_variants([13], d=(1.0, 3.0)), [1.0, 0.5])]}
NONERGODIC = {"type": "nonergodic", "components": [GHMM_BASE, FULLY], "weights": [0.25, 0.75],
              "vocab_maps": [[5, 1], [0, 1, 2, 3, 4, 6]]}
SPECS = {"hmm": {"type": "hmm", "transition_matrices": compmech.get_process("mess3").transition_matrices.tolist()},
         "ghmm": GHMM_BASE, "sequential": SEQUENTIAL, "fully_conditional": FULLY,
         "conditional_transitions": COND_TRANS, "nonergodic": NONERGODIC,
         "ghmm_chain": GHMM_CHAIN, "ghmm_chain_different_w": GHMM_CHAIN_DIFFERENT_W}


def spec_word_probability(d, word) -> float:
    """Oracle from the spec's formulas, one word at a time (§3.4-3.6, §4.3-4.6, §5.3-5.5)."""
    if d["type"] in ("hmm", "ghmm"):
        T = np.array(d["transition_matrices"])
        M = T.sum(0)
        vals, vecs = np.linalg.eig(M)
        w = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
        w = w / w.sum() * M.shape[0]
        lv, lvecs = np.linalg.eig(M.T)
        pi = np.real(lvecs[:, np.argmin(np.abs(lv - 1))])
        eta = np.array(d.get("initial_state", pi / pi.sum()))
        return word_probability(T, eta, w, word) / float(eta @ w)
    if d["type"] == "nonergodic":
        total = 0.0
        for comp, weight, vmap in zip(d["components"], d["weights"], d["vocab_maps"], strict=True):
            if all(x in vmap for x in word):
                total += weight * spec_word_probability(comp, [vmap.index(x) for x in word])
        return total
    return factored_word_probability(d, word)


def perron_w(T) -> np.ndarray:
    M = np.asarray(T).sum(0)
    vals, vecs = np.linalg.eig(M)
    w = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return w / w.sum() * M.shape[0]


def factored_word_probability(d, word) -> float:
    """Factored oracle: per step, the joint from the selectors (``P(x|eta,k) = eta T_k[x] w_k /
    (eta w_k)``), then the updates; states kept unnormalised (they are projective)."""
    fac = [np.array(f["transition_matrices"]) for f in d["factors"]]
    ws = [[perron_w(Tk) for Tk in T] for T in fac]
    etas = [np.array(f["initial_state"], dtype=float) for f in d["factors"]]
    sizes = [T.shape[1] for T in fac]
    st_ = d["structure"]
    tuples = list(itertools.product(*map(range, sizes)))
    p = 1.0
    for x in word:
        def variant(i, t, maps):
            others = [t[j] for j in range(len(sizes)) if j != i]
            idx = 0
            for j, o in zip([j for j in range(len(sizes)) if j != i], others, strict=True):
                idx = idx * sizes[j] + o
            return maps[i][idx]

        def emit(i, t):
            if st_["type"] == "independent":
                return st_.get("variant_indices", [0] * len(sizes))[i]
            if st_["type"] == "sequential":
                return 0 if i == 0 else st_["control_maps"][i][t[i - 1]]
            if st_["type"] == "fully_conditional":
                return variant(i, t, st_["control_maps"])
            if "emission_control_maps" in st_:
                return 0 if i == 0 else st_["emission_control_maps"][i][t[i - 1]]
            return st_["emission_variant_indices"][i]

        def trans(i, t):
            if st_["type"] == "conditional_transitions":
                return variant(i, t, st_["transition_control_maps"])
            return emit(i, t)

        law = {t: np.prod([(etas[i] @ fac[i][emit(i, t)][t[i]] @ ws[i][emit(i, t)])
                           / (etas[i] @ ws[i][emit(i, t)]) for i in range(len(sizes))])
               for t in tuples}
        Z = sum(law.values()) if st_["type"] == "fully_conditional" else 1.0
        t = tuples[x]
        p *= law[t] / Z
        etas = [etas[i] @ fac[i][trans(i, t)][t[i]] for i in range(len(sizes))]
    return p


@pytest.mark.parametrize("key", list(SPECS))
def test_spec_processes_match_the_formula_oracle(key):
    p = process_from_spec(SPECS[key])
    L = 2 if p.vocab_size > 4 else 3
    words, probs = compmech.enumerate_words(p, L)
    expected = [spec_word_probability(SPECS[key], list(w)) for w in words]
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-14)
    assert probs.sum() == pytest.approx(1.0, abs=1e-13)


def test_linear_structures_load_as_joint_presentations():
    assert isinstance(process_from_spec(SEQUENTIAL), compmech.HMM)
    assert isinstance(process_from_spec(FULLY), FactoredProcess)
    assert isinstance(process_from_spec(COND_TRANS), FactoredProcess)
    assert isinstance(process_from_spec(NONERGODIC), StatefulMixture)
    chain = process_from_spec(GHMM_CHAIN)
    assert isinstance(chain, compmech.GHMM) and not np.allclose(chain.right_eigenvector, 1.0)
    assert "different normalising vectors" in read_spec(GHMM_CHAIN_DIFFERENT_W).linear_obstacle()
    assert isinstance(process_from_spec(GHMM_CHAIN_DIFFERENT_W), FactoredProcess)
    g = process_from_spec(GHMM_BASE)
    assert isinstance(g, compmech.GHMM)
    assert g.right_eigenvector.sum() == pytest.approx(g.num_states)  # spec gauge, sum w = S
    assert not np.allclose(g.right_eigenvector, 1.0)


@pytest.mark.parametrize("key", list(SPECS))
def test_written_then_read_gives_the_same_word_probabilities(key, tmp_path):
    p = process_from_spec(SPECS[key])
    path = compmech.save_spec(p, tmp_path / f"{key}.json")
    q = compmech.load_hmm(path)  # recognised by its "type" field
    assert type(q) is type(p)
    L = 2 if p.vocab_size > 4 else 3
    words, probs = compmech.enumerate_words(p, L)
    np.testing.assert_allclose(compmech.enumerate_words(q, L)[1], probs, rtol=0, atol=1e-15)
    json.loads(path.read_text())  # standard JSON


def test_our_product_and_mixture_json_equal_the_spec_json(tmp_path):
    ours = compmech.process_from_dict({"kind": "product", "factors": ["even", "golden_mean", "z1r"]})
    fac = [compmech.get_process(n) for n in ("even", "golden_mean", "z1r")]
    theirs = process_from_spec({"type": "factored", "structure": {"type": "independent"},
                                "factors": [hmm_factor([f.transition_matrices]) for f in fac]})
    np.testing.assert_array_equal(theirs.transition_matrices, ours.transition_matrices)
    np.testing.assert_allclose(theirs.initial_distribution, ours.initial_distribution, atol=1e-15)
    mix = compmech.process_from_dict({"kind": "mixture", "components": ["mess3", "even"],
                                      "weights": [0.3, 0.7], "vocab_maps": [[0, 1, 2], [3, 1]]})
    spec_mix = process_from_spec({"type": "nonergodic", "weights": [0.3, 0.7],
                                  "vocab_maps": [[0, 1, 2], [3, 1]], "components": [
                                      {"type": "hmm", "transition_matrices": f.transition_matrices.tolist()}
                                      for f in (compmech.get_process("mess3"), fac[0])]})
    np.testing.assert_array_equal(spec_mix.transition_matrices, mix.transition_matrices)
    np.testing.assert_allclose(spec_mix.initial_distribution, mix.initial_distribution, atol=1e-15)
    # and ours written as spec JSON reads back as the same process
    for p in (ours, mix):
        q = compmech.load_hmm(compmech.save_spec(p, tmp_path / "p.json"))
        np.testing.assert_allclose(q.transition_matrices, p.transition_matrices, atol=1e-15)


def test_signed_ghmms_and_bos_mixtures_are_refused_in_one_line(tmp_path):
    for p, match in [(compmech.get_process("tom_quantum"), "signed GHMM"),
                     (compmech.product(["mess3", "tom_quantum"]), "signed GHMM"),
                     (compmech.mixture(["even", "golden_mean"], [0.5, 0.5], bos=True), "BOS")]:
        with pytest.raises(ValueError, match=match) as info:
            compmech.save_spec(p, tmp_path / "x.json")
        assert "\n" not in str(info.value)
        assert not (tmp_path / "x.json").exists()
    compmech.save_hmm(compmech.get_process("tom_quantum"), tmp_path / "tq.json")  # our format


@pytest.mark.parametrize("data, match", [
    ({"type": "hmm", "transition_matrices": [[[0.5]], [[0.4]]]}, "sum to 0.9, not 1"),
    ({"type": "ghmm", "transition_matrices": [[[0.5]], [[0.6]]]}, "spectral radius"),
    ({"type": "ghmm", "transition_matrices": [[[0.5, 0.1], [0.0, 0.5]], [[0.5, -0.1], [0.0, 0.5]]]}, "negative"),
    ({"type": "factored", "factors": [hmm_factor([A0, A0])], "structure": {"type": "independent"}},
     "initial_state must be given"),
    ({**SEQUENTIAL, "structure": {"type": "sequential", "control_maps": [None, [0, 2]]}}, "variant 2"),
    ({**SEQUENTIAL, "structure": {"type": "sequential", "control_maps": [None, [0]]}}, "need prod"),
    ({"type": "nonergodic", "components": [GHMM_BASE], "weights": [1.0], "vocab_maps": [[0, 0]]},
     "distinct"),
    ({"type": "markov"}, "unknown type"),
])
def test_invalid_spec_files_are_refused_in_one_line(data, match):
    with pytest.raises(ValueError, match=match) as info:
        process_from_spec(data)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- spec semantics
def test_ghmm_states_are_projective():
    g = read_spec(GHMM_BASE)
    s = as_stateful(g)
    eta = np.array([[0.2, 0.5, 0.3]])
    for c in (1e-3, 1.0, 250.0):
        np.testing.assert_allclose(s.token_probabilities(c * eta), s.token_probabilities(eta), atol=1e-15)
        np.testing.assert_allclose(s.update(c * eta, np.array([1])), s.update(eta, np.array([1])),
                                   atol=1e-15)


def test_fully_conditional_distortion_is_the_spec_worked_example():
    """Conditionals of the joint [0.1, 0.4, 0.2, 0.3]; the normalised product of conditionals is
    [7/110, 24/55, 14/55, 27/110] (spec §4.6.3 vector), not the joint."""
    joint = np.array([[0.1, 0.4], [0.2, 0.3]])  # joint[x0, x1]
    p0_given_1 = joint / joint.sum(0, keepdims=True)  # [x0, x1]
    p1_given_0 = joint / joint.sum(1, keepdims=True)
    fac0 = [[[[p0_given_1[0, x1]]], [[p0_given_1[1, x1]]]] for x1 in range(2)]  # variant = x1
    fac1 = [[[[p1_given_0[x0, 0]]], [[p1_given_0[x0, 1]]]] for x0 in range(2)]  # variant = x0
    p = process_from_spec({"type": "factored", "factors": [hmm_factor(fac0, [1.0]), hmm_factor(fac1, [1.0])],
                           "structure": {"type": "fully_conditional", "control_maps": [[0, 1], [0, 1]]}})
    got = compmech.enumerate_words(p, 1)[1]
    np.testing.assert_allclose(got, [7 / 110, 24 / 55, 14 / 55, 27 / 110], rtol=0, atol=1e-15)
    unnorm = p0_given_1 * p1_given_0
    np.testing.assert_allclose(got, (unnorm / unnorm.sum()).ravel(), rtol=0, atol=1e-15)
    assert np.abs(got - joint.ravel()).max() > 0.03  # the approximation is not the joint


def test_mixture_observation_impossible_everywhere_leaves_the_state_unchanged():
    m = read_spec(NONERGODIC)
    state = m.initial_distribution[None]
    moved = m.update(state, np.array([5]))  # only the GHMM component emits global token 5
    parts = m.split(moved)
    assert parts[0][0].tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(m.split(state)[2], parts[2])  # FULLY's state kept (l = 0)
    # a state where no component can emit token 6: the whole state stays
    only_ghmm = m.with_initial_distribution(np.concatenate([[1.0, 0.0], state[0, 2:]]))
    start = only_ghmm.initial_distribution[None]
    np.testing.assert_array_equal(only_ghmm.update(start, np.array([6])), start)


def test_fully_conditional_zero_mass_freezes_states_through_the_theory_functions():
    """Factor 0 variant k emits only token k (and swaps its two states), factor 1 variant k emits
    only token k; selectors k_0 = 1 - x^1, k_1 = x^0 leave no tuple with positive mass (Z = 0):
    the law is uniform and no state ever moves (spec §4.6.3), along whole words."""
    swap = [[0.0, 1.0], [1.0, 0.0]]
    zeros = [[0.0, 0.0], [0.0, 0.0]]
    zero = {"type": "factored",
            "structure": {"type": "fully_conditional", "control_maps": [[1, 0], [0, 1]]},
            "factors": [hmm_factor([[swap, zeros], [zeros, swap]], [0.3, 0.7]),
                        hmm_factor([[[[1.0]], [[0.0]]], [[[0.0]], [[1.0]]]], [1.0])]}
    p = process_from_spec(zero)
    words, probs = compmech.enumerate_words(p, 3)
    np.testing.assert_allclose(probs, np.full(64, 1 / 64), rtol=0, atol=1e-16)
    f = compmech.filter_beliefs(p, words)
    np.testing.assert_array_equal(f.beliefs, np.broadcast_to(p.initial_distribution, f.beliefs.shape))


# --------------------------------------------------------------------------------- theory
def test_msp_tree_of_a_sequential_chain_equals_brute_force_filtering_of_its_joint():
    joint = process_from_spec(SEQUENTIAL)
    native = read_spec(SEQUENTIAL)
    T, r = joint.transition_matrices, joint.right_eigenvector
    for proc in (joint, native):
        tree = compmech.mixed_state_tree(proc, 3)
        for d in range(1, 4):
            words = tree.words(d)
            probs = [word_probability(T, joint.initial_distribution, r, w) for w in words]
            np.testing.assert_allclose(tree.probabilities[d], probs, rtol=0, atol=1e-15)
            assert len(words) == sum(1 for w in itertools.product(range(joint.vocab_size), repeat=d)
                                     if word_probability(T, joint.initial_distribution, r, w) > 0)
            beliefs = np.array([belief_after(T, joint.initial_distribution, r, w) for w in words])
            if proc is joint:
                np.testing.assert_allclose(tree.beliefs[d], beliefs, rtol=0, atol=1e-14)
            else:  # the factors' states are the marginals of the joint (product) belief
                split = compmech.factor_beliefs(joint, beliefs)
                for i, part in enumerate(native.factor_states(tree.beliefs[d])):
                    np.testing.assert_allclose(part, split.factor_beliefs[i], rtol=0, atol=1e-14)


@pytest.mark.parametrize("key", ["fully_conditional", "conditional_transitions", "nonergodic"])
def test_theory_functions_on_stateful_processes(key):
    p = process_from_spec(SPECS[key])
    assert isinstance(p, compmech.StatefulProcess)
    words, probs = compmech.enumerate_words(p, 2)
    tree = compmech.mixed_state_tree(p, 2)
    index = compmech.encode_tokens([p.vocab_size] * 2, tree.words(2))
    np.testing.assert_allclose(tree.probabilities[2], probs[index], rtol=0, atol=1e-15)
    assert probs[np.setdiff1d(np.arange(probs.shape[0]), index)].max(initial=0.0) == 0.0
    # block entropies from the enumerated words vs the myopic entropies of the propagation
    H = [0.0] + [float(-(q[q > 0] * np.log2(q[q > 0])).sum())
                 for q in (compmech.enumerate_words(p, L)[1] for L in (1, 2, 3))]
    np.testing.assert_allclose(compmech.myopic_entropy(p, 3), np.diff(H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(compmech.optimal_cross_entropy_nats(p, 2), np.diff(H)[1:] * np.log(2),
                               atol=1e-12)
    s = compmech.sample(p, 4000, 2, seed=1)
    again = compmech.sample(p, 4000, 2, seed=1)
    np.testing.assert_array_equal(s.tokens, again.tokens)
    freq = np.bincount(compmech.encode_tokens([p.vocab_size] * 2, s.tokens), minlength=probs.shape[0]) / 4000
    sigma = np.sqrt(probs * (1 - probs) / 4000)
    assert (np.abs(freq - probs) <= 5 * sigma + 1e-12).all()
    f = compmech.filter_beliefs(p, s.tokens[:50])
    np.testing.assert_allclose(f.beliefs, s.beliefs[:50], atol=1e-13)


# ------------------------------------------------------------------------------------ CLI
@pytest.mark.parametrize("key", ["sequential", "fully_conditional"])
def test_cli_info_and_generate_read_spec_files(key, tmp_path, capsys):
    from compmech.cli import main

    path = tmp_path / f"{key}.json"
    path.write_text(json.dumps(SPECS[key]))
    assert main(["info", "--hmm-file", str(path), "--depth", "3", "--json",
                 "--num-points", "2000"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = compmech.load_hmm(path)
    H = [0.0] + [float(-(q[q > 0] * np.log2(q[q > 0])).sum())
                 for q in (compmech.enumerate_words(p, L)[1] for L in (1, 2, 3))]
    np.testing.assert_allclose(out["myopic_entropy_bits"], np.diff(H), rtol=0, atol=1e-12)
    data = tmp_path / "d.npz"
    assert main(["generate", "--hmm-file", str(path), "-n", "20", "-l", "6", "--seed", "3",
                 "-o", str(data), "--quiet"]) == 0
    ds = compmech.datasets.load_dataset(data)
    f = compmech.filter_beliefs(p, ds.tokens)
    np.testing.assert_allclose(ds.beliefs, f.beliefs, atol=1e-6)  # stored as float32
    tree_file = tmp_path / "tree.npz"
    assert main(["msp", "--hmm-file", str(path), "--depth", "2", "--out", str(tree_file)]) == 0
    with np.load(tree_file) as arrays:
        np.testing.assert_allclose(arrays["probabilities"],
                                   compmech.mixed_state_tree(p, 2).all_probabilities(), atol=0)
    capsys.readouterr()
    again = compmech.process_from_dict(ds.metadata["hmm"])  # the dataset names its process
    np.testing.assert_allclose(compmech.enumerate_words(again, 2)[1],
                               compmech.enumerate_words(p, 2)[1], rtol=0, atol=1e-15)


def test_msp_graph_of_a_stateful_process_with_finite_mixed_states():
    """1-state factors under the fully conditional coupling: the state never moves, so the MSP
    has exactly one state whose law is the normalised product of conditionals."""
    p = process_from_spec({"type": "factored", "structure": {"type": "fully_conditional",
                                                             "control_maps": [[0, 1], [1, 0]]},
                           "factors": [hmm_factor([[[[0.6]], [[0.4]]], [[[0.1]], [[0.9]]]], [1.0]),
                                       hmm_factor([[[[0.7]], [[0.3]]], [[[0.2]], [[0.8]]]], [1.0])]})
    msp = compmech.mixed_state_presentation(p)
    assert msp.num_states == 1 and not msp.truncated
    # (x0, x1) with k0 = x1 and k1 = 1 - x0: P(x0 | k0) P(x1 | k1)
    law = np.array([0.6 * 0.2, 0.1 * 0.8, 0.4 * 0.7, 0.9 * 0.3])
    law = law / law.sum()
    np.testing.assert_allclose(compmech.enumerate_words(p, 1)[1], law, rtol=0, atol=1e-15)
    rate = compmech.entropy_rate(p)
    assert rate.exact and rate.bits == pytest.approx(-(law * np.log2(law)).sum(), abs=1e-12)


def test_generate_stores_the_spec_framing_layout(tmp_path, capsys):
    from compmech.cli import main

    out = tmp_path / "framed.npz"
    assert main(["generate", "even", "-n", "7", "-l", "4", "--seed", "0", "-o", str(out),
                 "--bos-token", "2", "--eos-token", "3", "--pad-token", "4", "--total-len", "9",
                 "--quiet"]) == 0
    with np.load(out) as data:
        tokens, framed = data["tokens"], data["framed_tokens"]
        meta = json.loads(str(data["metadata"]))
    assert framed.shape == (7, 9) and meta["framing"]["total_len"] == 9
    np.testing.assert_array_equal(framed[:, 0], 2)
    np.testing.assert_array_equal(framed[:, 1:5], tokens)
    np.testing.assert_array_equal(framed[:, 5], 3)
    np.testing.assert_array_equal(framed[:, 6:], 4)
    assert main(["generate", "even", "-n", "2", "-l", "4", "--seed", "0", "-o",
                 str(tmp_path / "bad.npz"), "--bos-token", "1", "--quiet"]) == 2
    assert "outside the process vocabulary" in capsys.readouterr().err
    assert main(["generate", "even", "-n", "2", "-l", "4", "--seed", "0", "-o",
                 str(tmp_path / "bad2.npz"), "--bos-token", "2", "--total-len", "7", "--quiet"]) == 2
    assert "pad token" in capsys.readouterr().err


def test_a_product_started_from_a_correlated_state_is_written_as_its_joint(tmp_path):
    p = compmech.product(["even", "golden_mean"])
    correlated = p.with_initial_distribution([0.5, 0.0, 0.0, 0.5])
    d = compmech.spec_dict(correlated)
    assert d["type"] == "hmm"  # the factored form would lose the correlation
    q = compmech.load_hmm(compmech.save_spec(correlated, tmp_path / "c.json"))
    np.testing.assert_allclose(compmech.enumerate_words(q, 3)[1],
                               compmech.enumerate_words(correlated, 3)[1], rtol=0, atol=1e-15)
    assert compmech.spec_dict(p)["type"] == "factored"


def test_independent_factors_with_signed_ghmms_match_the_joint_product():
    names = ["mess3", ("tom_quantum", {"alpha": 1.0, "beta": 3.0}), "even"]
    facs = [compmech.resolve_process(n) for n in names]
    stateful = compmech.independent_factors(facs)
    joint = compmech.product(facs)
    words, probs = compmech.enumerate_words(joint, 2)
    np.testing.assert_allclose(compmech.enumerate_words(stateful, 2)[1], probs, rtol=0, atol=1e-15)
    tree = compmech.mixed_state_tree(stateful, 2)
    joint_tree = compmech.mixed_state_tree(joint, 2)
    np.testing.assert_array_equal(tree.words(2), joint_tree.words(2))
    split = compmech.factor_beliefs(joint, joint_tree.beliefs[2])
    for i, part in enumerate(stateful.factor_states(tree.beliefs[2])):
        np.testing.assert_allclose(part, split.factor_beliefs[i], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="signed GHMM") as info:
        compmech.spec_dict(stateful)
    assert "\n" not in str(info.value)


def test_our_compositions_refuse_stateful_components_in_one_line(tmp_path):
    path = tmp_path / "fc.json"
    path.write_text(json.dumps(FULLY))
    for spec in ({"kind": "mixture", "components": [str(path), "mess3"], "weights": [0.5, 0.5]},
                 {"kind": "product", "factors": [str(path), "mess3"]}):
        with pytest.raises(ValueError, match="stateful") as info:
            compmech.process_from_dict(spec)
        assert "\n" not in str(info.value)


@st.composite
def factored_specs(draw):
    """Random factored spec objects: 2-3 HMM factors, 1-2 variants, every structure."""
    F = draw(st.integers(2, 3))
    V = [draw(st.integers(1, 3)) for _ in range(F)]
    S = [draw(st.integers(1, 2)) for _ in range(F)]
    K = [draw(st.integers(1, 2)) for _ in range(F)]
    seed = draw(st.integers(0, 10**6))
    rng = np.random.default_rng(seed)
    factors = [hmm_factor([random_stochastic(S[i], V[i], rng, 0.7) for _ in range(K[i])],
                          rng.uniform(0.1, 1.0, S[i]).tolist()) for i in range(F)]
    kind = draw(st.sampled_from(["independent", "sequential", "fully_conditional",
                                 "conditional_transitions"]))

    def table(i, n):
        return [int(k) for k in rng.integers(0, K[i], n)]

    def all_others(i):
        return int(np.prod([V[j] for j in range(F) if j != i]))

    if kind == "independent":
        structure = {"type": kind, "variant_indices": [table(i, 1)[0] for i in range(F)]}
    elif kind in ("sequential", "fully_conditional"):
        maps = [None if (kind == "sequential" and i == 0) else
                table(i, V[i - 1] if kind == "sequential" else all_others(i)) for i in range(F)]
        structure = {"type": kind, "control_maps": maps}
    else:
        structure = {"type": kind, "transition_control_maps": [table(i, all_others(i)) for i in range(F)]}
        if draw(st.booleans()):
            structure["emission_variant_indices"] = [table(i, 1)[0] for i in range(F)]
        else:
            structure["emission_control_maps"] = [None] + [table(i, V[i - 1]) for i in range(1, F)]
    return {"type": "factored", "factors": factors, "structure": structure}


@settings(max_examples=30, deadline=None)
@given(factored_specs())
def test_random_factored_processes_match_the_formula_oracle(spec):
    p = process_from_spec(spec)
    words, probs = compmech.enumerate_words(p, 2)
    expected = [factored_word_probability(spec, list(w)) for w in words]
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-14)
    with tempfile.TemporaryDirectory() as folder:
        q = compmech.load_hmm(compmech.save_spec(p, Path(folder) / "p.json"))
    np.testing.assert_allclose(compmech.enumerate_words(q, 2)[1], probs, rtol=0, atol=1e-15)


def test_selectors_refuse_bad_values_and_build_the_same_process_as_the_spec_file():
    from compmech.factored import Selectors

    for bad, name in ((("chain", [0], [0]), "structure"),
                      (("conditional_transitions", [0], [0], "random"), "emission_scheme")):
        with pytest.raises(ValueError, match=name) as info:
            Selectors(*bad)
        assert "\n" not in str(info.value)
    # the sequential chain built in Python equals the one read from its spec object
    built = FactoredProcess([np.array([A0]), np.array([B0, B1])],
                            Selectors("sequential", [None, [1, 0]], [None, [1, 0]]),
                            initial_states=[[0.3, 0.7], [0.5, 0.5]], component_types=["hmm", "hmm"],
                            name="spec_factored")
    read = compmech.read_spec(SEQUENTIAL)
    assert built.to_dict() == read.to_dict()
    assert built.to_dict()["structure"] == {"type": "sequential", "control_maps": [[0], [1, 0]]}
    words, probs = compmech.enumerate_words(built, 3)
    np.testing.assert_allclose(probs, compmech.enumerate_words(read, 3)[1], rtol=0, atol=1e-15)
    # a copy keeps the selectors (conditional transitions with fixed emission variants)
    cond = compmech.read_spec(COND_TRANS)
    moved = cond.with_initial_distribution(cond.initial_distribution)
    assert moved.to_dict()["structure"] == cond.to_dict()["structure"] == {
        "type": "conditional_transitions", "transition_control_maps": [[0, 1, 1], [1, 0]],
        "emission_variant_indices": [0, 1]}
