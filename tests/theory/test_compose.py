"""Mixtures, products and Markov approximations against independent computations; factored beliefs;
JSON specs; datasets with factored beliefs."""

import dataclasses
import itertools
import json

import numpy as np
import pytest

import compmech
from compmech import GHMM, HMM, datasets, get_process
from compmech.cli import main
from oracles import all_word_probabilities, belief_after, entropy_bits, word_probability

LN2 = np.log(2.0)


def parts(process):
    return process.transition_matrices, process.initial_distribution, process.right_eigenvector


def tree_probabilities(process, length):
    """``{word: P(word)}`` of the positive words of ``length`` (mixed-state tree, no JAX compile)."""
    tree = compmech.mixed_state_tree(process, length)
    return dict(zip(map(tuple, tree.words(length).tolist()), tree.probabilities[length], strict=True))


def assert_same_words(got, brute, atol=1e-13):
    """``got`` (positive words only) against every word's brute-force probability."""
    assert set(got) <= set(brute)
    for w, p in brute.items():
        assert abs(got.get(w, 0.0) - max(p, 0.0)) <= atol, (w, got.get(w), p)


# ------------------------------------------------------------------ Bayesian mixture oracle
def component_tables(components, maps, V, max_length):
    """``tables[k][L][w] = P_k(w)`` for every shared word ``w`` of length ``L <= max_length``: the sum
    of component ``k``'s probabilities of the own words its token map sends to ``w``."""
    tables = []
    for c, m in zip(components, maps, strict=True):
        T, eta0, r = parts(c)
        by_length = [{(): 1.0}]
        for length in range(1, max_length + 1):
            own = all_word_probabilities(T, eta0, r, length)
            shared = dict.fromkeys(itertools.product(range(V), repeat=length), 0.0)
            for w, p in own.items():
                shared[tuple(m[x] for x in w)] += p
            by_length.append(shared)
        tables.append(by_length)
    return tables


def bayes_mixture(components, weights, maps, length):
    """``{w: (P(w), posterior over components)}`` for every shared word of ``length``."""
    V = max(max(m) for m in maps) + 1
    tables = component_tables(components, maps, V, length)
    out = {}
    for w in itertools.product(range(V), repeat=length):
        probs = np.array([t[length][w] for t in tables])
        total = float(np.dot(weights, probs))
        out[w] = (total, np.asarray(weights) * probs / total if total > 0 else None)
    return out


def bayes_losses_nats(components, weights, maps, n):
    """``[h(1) .. h(n)] ln 2``, the Bayes-optimal expected loss at each position:
    ``sum_prefix P(prefix) H[sum_k P(k | prefix) P_k(. | prefix)]``, by enumeration."""
    V = max(max(m) for m in maps) + 1
    tables = component_tables(components, maps, V, n)
    w = np.asarray(weights, dtype=float)
    losses = []
    for t in range(n):
        loss = 0.0
        for prefix in itertools.product(range(V), repeat=t):
            own_prefix = np.array([tab[t][prefix] for tab in tables])
            p_prefix = float(w @ own_prefix)
            if p_prefix <= 1e-15:
                continue
            posterior = w * own_prefix / p_prefix
            predictive = np.zeros(V)
            for k, tab in enumerate(tables):
                if posterior[k] > 0:
                    own_next = np.array([tab[t + 1][(*prefix, x)] for x in range(V)])
                    predictive += posterior[k] * own_next / own_prefix[k]
            loss += p_prefix * entropy_bits(np.clip(predictive, 0, None)) * LN2
        losses.append(loss)
    return np.array(losses)


MIXTURES = {
    "two_mess3": (["mess3", ("mess3", {"x": 0.15, "alpha": 0.6})], [0.3, 0.7], None),
    "z1r_even_swapped": (["z1r", ("even", {"p": 0.4})], [0.5, 0.5], [[0, 1], [1, 0]]),
    "quantum": (["tom_quantum", "post_quantum"], [0.6, 0.4], None),
}


@pytest.mark.parametrize("case", sorted(MIXTURES))
def test_mixture_optimal_loss_is_the_bayesian_one(case):
    specs, weights, maps = MIXTURES[case]
    m = compmech.mixture(specs, weights, vocab_maps=maps)
    comps = [compmech.resolve_process(s) for s in specs]
    maps = maps or [list(range(c.vocab_size)) for c in comps]
    n = 3 if m.vocab_size > 3 else 4
    expected = bayes_losses_nats(comps, weights, maps, n + 1)
    np.testing.assert_allclose(compmech.optimal_cross_entropy_nats(m, n, bos=True), expected[:n],
                               atol=1e-10)
    np.testing.assert_allclose(compmech.optimal_cross_entropy_nats(m, n), expected[1:], atol=1e-10)
    assert not m.is_ergodic and m.kind == ("ghmm" if case == "quantum" else "hmm")


@pytest.mark.parametrize("case", sorted(MIXTURES))
def test_mixture_factored_beliefs_are_the_posterior_and_component_beliefs(case):
    specs, weights, maps = MIXTURES[case]
    m = compmech.mixture(specs, weights, vocab_maps=maps)
    comps = [compmech.resolve_process(s) for s in specs]
    maps = maps or [list(range(c.vocab_size)) for c in comps]
    table = bayes_mixture(comps, weights, maps, 3)
    words = np.array([w for w, (p, _) in table.items() if p > 1e-12])
    fb = compmech.factored_beliefs(m, words)
    for n, w in enumerate(words):
        np.testing.assert_allclose(fb.component_posterior[n, -1], table[tuple(w)][1], atol=1e-11)
        for k, c in enumerate(comps):
            if table[tuple(w)][1][k] > 1e-12:
                own = [maps[k].index(x) for x in w]  # the maps here are one-to-one
                np.testing.assert_allclose(fb.factor_beliefs[k][n, -1],
                                           belief_after(*parts(c), own), atol=1e-10)
            else:
                assert np.isnan(fb.factor_beliefs[k][n, -1]).all()


def test_mixture_of_one_component_is_the_component():
    for name in ("rrxor", "tom_quantum"):
        c = get_process(name)
        m = compmech.mixture([c], [1.0])
        assert m.kind == c.kind
        np.testing.assert_array_equal(m.transition_matrices, c.transition_matrices)
        np.testing.assert_array_equal(m.initial_distribution, c.initial_distribution)
        np.testing.assert_array_equal(m.right_eigenvector, c.right_eigenvector)
        np.testing.assert_allclose(compmech.myopic_entropy(m, 6), compmech.myopic_entropy(c, 6),
                                   atol=1e-14)


def test_mixture_of_coins_is_analytic_with_token_maps():
    m = compmech.mixture([("coin", {"p": 0.2}), ("coin", {"p": 0.7})], [0.4, 0.6],
                         vocab_maps=[[0, 1], [1, 0]])
    words, probs = compmech.enumerate_words(m, 5)
    zeros = (words == 0).sum(1)
    # component 1's token 0 (prob 0.7) is shared token 1
    expected = 0.4 * 0.2**zeros * 0.8 ** (5 - zeros) + 0.6 * 0.3**zeros * 0.7 ** (5 - zeros)
    np.testing.assert_allclose(probs, expected, rtol=1e-13)


def test_mixture_token_maps_may_merge_tokens():
    m = compmech.mixture(["mess3", "z1r"], [0.5, 0.5], vocab_maps=[[0, 1, 1], [0, 2]])
    assert m.vocab_size == 3
    T = m.transition_matrices
    mess3 = get_process("mess3").transition_matrices
    np.testing.assert_allclose(T[1, :3, :3], mess3[1] + mess3[2], atol=1e-15)
    np.testing.assert_allclose(T[2, 3:, 3:], get_process("z1r").transition_matrices[1], atol=1e-15)


def test_mixture_with_bos_starts_every_sequence_with_bos():
    specs, weights, _ = MIXTURES["two_mess3"]
    m = compmech.mixture(specs, weights, bos=True)
    plain = compmech.mixture(specs, weights)
    assert m.vocab_size == 4 and m.token_names[-1] == "BOS"
    samples = compmech.sample(m, 300, 6, seed=0)
    assert (samples.tokens[:, 0] == 3).all() and (samples.tokens[:, 1:] < 3).all()
    with_bos, without = tree_probabilities(m, 4), tree_probabilities(plain, 3)
    assert set(with_bos) == {(3, *w) for w in without}  # BOS once, at the start
    for w, p in without.items():
        assert with_bos[(3, *w)] == pytest.approx(p, abs=1e-15)
    h_plain = compmech.optimal_cross_entropy_nats(plain, 5, bos=True)
    np.testing.assert_allclose(compmech.optimal_cross_entropy_nats(m, 5), h_plain, atol=1e-12)
    fb = compmech.factor_beliefs(m, samples.beliefs)
    np.testing.assert_allclose(fb.component_posterior[:, 0], [weights] * 300, atol=1e-14)


@pytest.mark.parametrize("kw,match", [
    ({"weights": [0.5, 0.6]}, "sum to 1"),
    ({"weights": [1.0]}, "one entry per component"),
    ({"vocab_maps": [[0, 1, 2]]}, "one map per component"),
    ({"vocab_maps": [[0, 1], [0, 1, 2]]}, "vocab map 0"),
])
def test_mixture_errors(kw, match):
    args = {"components": ["mess3", "mess3"], "weights": [0.5, 0.5], **kw}
    with pytest.raises(ValueError, match=match) as info:
        compmech.mixture(**args)
    assert "\n" not in str(info.value)


# -------------------------------------------------------------------------------------- product
def factor_words(word, sizes):
    """Each factor's tokens of a joint word, big-endian: ``x_f = (x // prod_{g>f} V_g) % V_f``
    (written out digit by digit, independently of compmech.decode_tokens)."""
    out = [[] for _ in sizes]
    for x in word:
        x = int(x)
        for f in range(len(sizes) - 1, -1, -1):  # the last factor is the least significant digit
            out[f].append(x % sizes[f])
            x //= sizes[f]
    return [tuple(o) for o in out]


PRODUCTS = [["even", "golden_mean"], ["mess3", "tom_quantum"], ["tom_quantum", "fanizza"],
            [("coin", {"p": 0.3}), "z1r", "even"]]


@pytest.mark.parametrize("names", PRODUCTS, ids=lambda n: "x".join(map(str, n)))
def test_product_word_probabilities_and_beliefs_factor(names):
    p = compmech.product(names)
    facs = [compmech.resolve_process(n) for n in names]
    sizes = [f.vocab_size for f in facs]
    assert p.kind == ("hmm" if all(f.kind == "hmm" for f in facs) else "ghmm")
    L = 2 if p.vocab_size > 8 else 3
    words, probs = compmech.enumerate_words(p, L)
    expected = [np.prod([word_probability(*parts(f), fw) for f, fw in
                         zip(facs, factor_words(w, sizes), strict=True)]) for w in words]
    np.testing.assert_allclose(probs, expected, atol=1e-14)
    keep = probs > 1e-12
    fb = compmech.factored_beliefs(p, words[keep])
    for n, w in enumerate(words[keep]):
        own = [belief_after(*parts(f), fw) for f, fw in zip(facs, factor_words(w, sizes), strict=True)]
        outer = own[0]
        for b in own[1:]:  # big-endian: kron(eta_0, ..., eta_{F-1})
            outer = np.kron(outer, b)
        np.testing.assert_allclose(fb.beliefs[n, -1], outer, atol=1e-11)
        for f in range(len(facs)):
            np.testing.assert_allclose(fb.factor_beliefs[f][n, -1], own[f], atol=1e-11)


def test_product_tokens_round_trip_and_convention():
    p = compmech.product(["mess3", "even"])  # V = 3 * 2
    joint = np.arange(6)
    split = compmech.product_tokens(p, joint)
    assert split.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]  # big-endian
    np.testing.assert_array_equal(compmech.joint_tokens(p, split), joint)
    with pytest.raises(ValueError, match="not a product"):
        compmech.product_tokens(get_process("mess3"), joint)


def test_product_entropy_rate_is_the_sum_of_the_factors():
    def h(p):
        q = np.array([p, 1 - p])
        return entropy_bits(q) / (2 - p)  # golden mean and even: pi_A H(p), pi_A = 1 / (2 - p)

    exact = compmech.entropy_rate(compmech.product([("even", {"p": 0.3}), ("golden_mean", {"p": 0.6})]))
    assert exact.method == "unifilar" and exact.bits == pytest.approx(h(0.3) + h(0.6), abs=1e-12)
    rates = [compmech.entropy_rate(get_process(n),
                                   compmech.EntropyRateConfig(num_points=100_000, seed=s))
             for s, n in enumerate(["mess3", "tom_quantum"])]
    joint = compmech.entropy_rate(compmech.product(["mess3", "tom_quantum"]),
                                  compmech.EntropyRateConfig(num_points=100_000, seed=5))
    assert joint.method == "blackwell"
    spread = np.sqrt(joint.stderr_bits**2 + sum(r.stderr_bits**2 for r in rates))
    assert abs(joint.bits - sum(r.bits for r in rates)) < 4 * spread


# ------------------------------------------------------------------------- Markov approximation
@pytest.mark.parametrize("name,order", [("mess3", 2), ("rrxor", 3), ("tom_quantum", 1),
                                        ("post_quantum", 2), ("fanizza", 3), ("sns", 0)])
def test_markov_approximation_keeps_the_blocks_up_to_k_plus_one(name, order):
    process = get_process(name)
    approx = compmech.markov_approximation(process, order)
    assert approx.kind == "hmm" and approx.is_unifilar
    assert approx.num_states <= process.vocab_size**order
    for length in range(1, order + 2):
        assert_same_words(tree_probabilities(approx, length),
                          all_word_probabilities(*parts(process), length))
    h = compmech.myopic_entropy(approx, order + 4)
    h_process = compmech.myopic_entropy(process, order + 1)
    np.testing.assert_allclose(h[: order + 1], h_process, atol=1e-11)
    np.testing.assert_allclose(h[order + 1:], h_process[-1], atol=1e-11)  # Markov order k


def test_markov_approximation_states_and_errors():
    approx = compmech.markov_approximation(get_process("golden_mean"), 2)
    assert approx.state_names == ("00", "01", "10")  # "11" never occurs
    with pytest.raises(ValueError, match="stationary"):
        compmech.markov_approximation(get_process("even").with_initial_distribution([1.0, 0.0]), 1)
    with pytest.raises(ValueError, match="order must be"):
        compmech.markov_approximation(get_process("even"), -1)


# --------------------------------------------------------------------------------- JSON specs
def test_mixture_spec_file_with_every_kind_of_entry(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    compmech.save_hmm(get_process("tom_quantum"), folder / "tom.json")
    spec = {"kind": "mixture",
            "components": [{"process": "mess3", "params": {"x": 0.1}}, {"file": "tom.json"},
                           get_process("golden_mean").to_dict(), "z1r"],
            "weights": [0.1, 0.2, 0.3, 0.4], "name": "four"}
    (folder / "mix.json").write_text(json.dumps(spec))
    loaded = compmech.load_hmm(folder / "mix.json")
    built = compmech.mixture([("mess3", {"x": 0.1}), "tom_quantum", "golden_mean", "z1r"],
                             [0.1, 0.2, 0.3, 0.4], name="four")
    assert isinstance(loaded, GHMM) and loaded.name == "four"
    np.testing.assert_array_equal(loaded.transition_matrices, built.transition_matrices)
    np.testing.assert_array_equal(loaded.initial_distribution, built.initial_distribution)
    assert loaded.structure == built.structure


def test_product_and_markov_specs_and_nesting(tmp_path):
    spec = {"kind": "product", "factors": [
        {"kind": "mixture", "components": ["even", "golden_mean"], "weights": [0.5, 0.5]},
        {"process": "coin", "params": {"p": 0.2}}]}
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(spec))
    loaded = compmech.load_hmm(path)
    built = compmech.product([compmech.mixture(["even", "golden_mean"], [0.5, 0.5]),
                              ("coin", {"p": 0.2})])
    np.testing.assert_array_equal(loaded.transition_matrices, built.transition_matrices)
    path.write_text(json.dumps({"kind": "markov_approximation", "process": "mess3", "order": 2}))
    markov = compmech.load_process(path)
    np.testing.assert_array_equal(markov.transition_matrices,
                                  compmech.markov_approximation(get_process("mess3"), 2).transition_matrices)


@pytest.mark.parametrize("spec,match", [
    ({"kind": "mixture", "components": ["mess3"]}, "needs the keys \\['weights'\\]"),
    ({"kind": "mixture", "components": ["mess3"], "weights": [1], "colour": 1}, "unknown keys \\['colour'\\]"),
    ({"kind": "mixture", "components": ["mess3", "mess4"], "weights": [0.5, 0.5]}, "components\\[1\\]: unknown process 'mess4'"),
    ({"kind": "mixture", "components": [], "weights": []}, "non-empty list"),
    ({"kind": "product", "factors": [{"process": "mess3", "params": {"y": 1}}]}, "has no parameter y"),
    ({"kind": "product", "factors": [{"file": "missing.json"}]}, "not found"),
    ({"kind": "markov_approximation", "process": "mess3", "order": -2}, "order must be"),
])
def test_spec_errors_are_one_line(tmp_path, spec, match):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=match) as info:
        compmech.load_hmm(path)
    assert "\n" not in str(info.value)


def test_to_dict_keeps_the_structure():
    m = compmech.mixture(["mess3", ("mess3", {"x": 0.2})], [0.5, 0.5])
    back = HMM.from_dict(m.to_dict())  # the training code's path
    assert back.structure == m.structure
    tokens = np.random.default_rng(0).integers(0, 3, (4, 8))  # every Mess3 word is possible
    np.testing.assert_array_equal(compmech.factored_beliefs(back, tokens).component_posterior,
                                  compmech.factored_beliefs(m, tokens).component_posterior)
    p = compmech.product(["tom_quantum", "coin"])
    assert compmech.process_from_dict(p.to_dict()).structure == p.structure
    tampered = m.to_dict()
    tampered["transition_matrices"][0][0][4] = 0.0001  # an entry across the blocks
    tampered["transition_matrices"][0][0][0] -= 0.0001
    with pytest.raises(ValueError, match="not block diagonal"):
        compmech.process_from_dict(tampered)


def test_cli_generate_accepts_a_spec_file(tmp_path, capsys):
    spec = tmp_path / "mix.json"
    spec.write_text(json.dumps({"kind": "mixture", "components": ["coin", "tom_quantum"],
                                "weights": [0.5, 0.5]}))
    out = tmp_path / "d.npz"
    assert main(["generate", "--hmm-file", str(spec), "-n", "20", "-l", "5", "--seed", "1",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    data = datasets.load_dataset(out)
    process = compmech.load_hmm(spec)
    np.testing.assert_allclose(data.beliefs, compmech.filter_beliefs(process, data.tokens).beliefs,
                               atol=1e-6)
    assert data.metadata["kind"] == "ghmm"


# ------------------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("build,n,length", [
    (lambda: compmech.mixture([("coin", {"p": 0.3}), "tom_quantum"], [0.4, 0.6]), 1, 150),
    (lambda: compmech.product(["coin", "even"]), 9, 10),
], ids=["mixture", "product"])
def test_dataset_with_factored_beliefs(tmp_path, monkeypatch, build, n, length):
    """Chunks of whole sequences (product) and one sequence split over chunks (mixture, a GHMM:
    its belief is carried from chunk to chunk)."""
    monkeypatch.setattr(datasets, "CHUNK_TOKENS", 64)
    process = build()
    config = datasets.DatasetConfig(num_sequences=n, seq_len=length, seed=2)
    with_factors = datasets.generate_dataset(process, dataclasses.replace(config, factors=True),
                                             tmp_path / "f.npz")
    without = datasets.generate_dataset(process, config, tmp_path / "p.npz")
    a, b = np.load(with_factors), np.load(without)
    assert a["tokens"].tobytes() == b["tokens"].tobytes()
    assert a["beliefs"].tobytes() == b["beliefs"].tobytes()
    meta = json.loads(str(a["metadata"]))
    reference = compmech.factored_beliefs(process, a["tokens"])
    np.testing.assert_allclose(a["beliefs"], reference.beliefs, atol=2e-6)  # aligned, carried
    if reference.component_posterior is not None:  # the documented names
        expected = {"component_posterior": reference.component_posterior,
                    **{f"component_beliefs_{k}": v for k, v in enumerate(reference.factor_beliefs)}}
    else:
        expected = {f"factor_beliefs_{f}": v for f, v in enumerate(reference.factor_beliefs)}
    assert sorted(meta["factor_arrays"]) == sorted(expected)
    assert set(a.files) == {"tokens", "beliefs", "metadata", *expected}
    for name, want in expected.items():
        assert a[name].dtype == np.float32 and a[name].shape == want.shape
        np.testing.assert_allclose(a[name], want, atol=2e-6)


def test_dataset_factors_need_a_composed_process(tmp_path):
    with pytest.raises(ValueError, match="factors=True needs a mixture or product"):
        datasets.generate_dataset(
            get_process("mess3"),
            datasets.DatasetConfig(num_sequences=2, seq_len=3, seed=0, factors=True),
            tmp_path / "x.npz")
