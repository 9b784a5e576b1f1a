"""The process zoo (compmech.zoo) and the wrappers (compmech.wrappers) against brute force over
hidden paths (or over Kraus operators), against the published facts of their sources, and against
each wrapper's defining identity."""

import contextlib
import io
import itertools
import json

import numpy as np
import pytest

import compmech
from compmech.cli import main
from oracles import hidden_path_probability, kraus_word_probability, word_probability

ZOO = [
    ("quantum_rrxor", {}),
    ("quantum_rrxor", {"phi": 0.3, "theta": 2.0, "epsilon": 0.1}),
    ("leaky_rrxor", {}),
    ("leaky_rrxor", {"p1": 0.3, "p2": 0.8, "epsilon": 0.2}),
    ("mr_name", {}),
    ("mr_name", {"p": 0.1, "q": 0.6}),
    ("days_of_week", {}),
    ("matching_parens", {}),
    ("matching_parens", {"open_probs": [1.0, 0.7, 0.2, 0.9]}),
    ("cycle", {}),
    ("cycle", {"n": 5, "p": 0.3}),
    ("cycle", {"n": 2}),
    ("cycle", {"n": 1}),
    ("arch", {}),
    ("arch", {"alpha": 0.9}),
    ("wing", {}),
    ("wing", {"alpha": 0.93, "x": 0.25}),
    ("strata", {}),
    ("strata", {"alpha": 0.9, "t0": 0.1, "t1": 0.8}),
]
WRAPPED = [
    ("leaky", {"process": "mess3", "epsilon": 0.2}),
    ("leaky", {"process": "tom_quantum", "epsilon": 0.3}),
    ("leaky", {"process": "rrxor", "epsilon": 0.1, "reset": "uniform"}),
    ("noisy_channel", {"process": "z1r", "epsilon": 0.3}),
    ("noisy_channel", {"process": "fanizza", "epsilon": 0.2}),
    ("noisy_channel", {"process": {"kind": "product", "factors": ["z1r", "even"]}, "epsilon": 0.2,
                       "per_factor": True}),
    ("binary_encoded", {"process": "mess3"}),
    ("binary_encoded", {"process": "tom_quantum"}),
    ("binary_encoded", {"process": "rrxor"}),
    ("inflated_vocabulary", {"process": "rrxor", "factor": 3}),
    ("inflated_vocabulary", {"process": "post_quantum", "factor": 2}),
]


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _length(process, max_words=256, max_paths=5000):
    """Longest word length (<= 4) with at most ``max_words`` words and ``max_paths`` hidden paths."""
    V, S = process.vocab_size, process.num_states
    return max(1, max(L for L in range(1, 5) if V**L <= max_words and S ** (L + 1) <= max_paths
                      or L == 1))


def _words(V, L):
    return list(itertools.product(range(V), repeat=L))


# ------------------------------------------------------------------------- brute force, all kinds
@pytest.mark.parametrize("name,params", ZOO + WRAPPED)
def test_word_probabilities_equal_brute_force_and_sum_to_one(name, params):
    process = compmech.get_process(name, **params)
    T, eta0, r = process.transition_matrices, process.initial_distribution, process.right_eigenvector
    for L in range(1, _length(process) + 1):
        words, fast = compmech.enumerate_words(process, L)
        if process.kind == "hmm":
            brute = [hidden_path_probability(T, eta0, w) for w in map(tuple, words)]
        else:
            brute = [word_probability(T, eta0, r, w) for w in map(tuple, words)]
        np.testing.assert_allclose(fast, brute, rtol=1e-10, atol=1e-14)
        assert abs(sum(brute) - 1.0) < 1e-12
        assert min(brute) > -1e-12


@pytest.mark.parametrize("name,params", ZOO + WRAPPED)
def test_the_stationary_state_is_stationary(name, params):
    process = compmech.get_process(name, **params)
    mu = process.stationary_distribution
    np.testing.assert_allclose(mu @ process.state_matrix, mu, atol=1e-13)
    assert abs(mu @ process.right_eigenvector - 1.0) < 1e-12
    np.testing.assert_allclose(process.state_matrix @ process.right_eigenvector,
                               process.right_eigenvector, atol=1e-13)


# ------------------------------------------------------------------------------- quantum RRXOR
def _kraus(phi, theta):
    """Built here from the circuit (not from compmech): K_x = D_x R_y(phi)."""
    ry = np.array([[np.cos(phi / 2), -np.sin(phi / 2)], [np.sin(phi / 2), np.cos(phi / 2)]])
    d0 = np.diag([np.cos(theta / 2), -1j * np.sin(theta / 2)])
    d1 = np.diag([-1j * np.sin(theta / 2), np.cos(theta / 2)])
    return [d0 @ ry, d1 @ ry]


@pytest.mark.parametrize("phi,theta", [(1.0, np.pi / 3), (0.3, 2.0), (2.5, 0.4), (np.pi, 1.2)])
def test_quantum_rrxor_words_equal_the_kraus_instrument(phi, theta):
    g = compmech.quantum_rrxor(phi, theta)
    K = _kraus(phi, theta)
    np.testing.assert_allclose(sum(k.conj().T @ k for k in K), np.eye(2), atol=1e-15)
    rho = np.eye(2) / 2  # the fully mixed stationary state
    np.testing.assert_allclose(g.initial_distribution, [1, 0, 0, 0], atol=1e-12)
    for L in (1, 3, 6):
        _, fast = compmech.enumerate_words(g, L)
        quantum = [kraus_word_probability(K, rho, w) for w in _words(2, L)]
        np.testing.assert_allclose(fast, quantum, atol=1e-13)
    # the belief is the Bloch vector of K_w rho K_w^dagger, normalised
    for w in [(0,), (1, 1, 0), (0, 1, 0, 0, 1)]:
        state = rho
        for x in w:
            state = K[x] @ state @ K[x].conj().T
        state = state / np.trace(state)
        bloch = [np.trace(state @ s).real for s in (np.array([[0, 1], [1, 0]]),
                                                    np.array([[0, -1j], [1j, 0]]),
                                                    np.diag([1, -1]))]
        belief = compmech.filter_beliefs(g, np.array([w])).beliefs[0, -1]
        np.testing.assert_allclose(belief, [1, *bloch], atol=1e-12)


def test_quantum_rrxor_readout_limits():
    """theta = 0 is a projective readout (repeat with probability cos^2(phi/2)); theta = pi/2 an
    uninformative one (fair coin)."""
    phi = 1.3
    _, p = compmech.enumerate_words(compmech.quantum_rrxor(phi, 0.0), 2)
    np.testing.assert_allclose(p, 0.5 * np.array([np.cos(phi / 2) ** 2, np.sin(phi / 2) ** 2,
                                                  np.sin(phi / 2) ** 2, np.cos(phi / 2) ** 2]),
                               atol=1e-14)
    _, p = compmech.enumerate_words(compmech.quantum_rrxor(phi, np.pi / 2), 5)
    np.testing.assert_allclose(p, 2.0**-5, atol=1e-15)


def test_quantum_rrxor_epsilon_is_the_stationary_leak():
    a = compmech.quantum_rrxor(0.7, 1.1, epsilon=0.2)
    b = compmech.leaky(compmech.quantum_rrxor(0.7, 1.1), 0.2)
    np.testing.assert_allclose(a.transition_matrices, b.transition_matrices, atol=1e-15)
    # the source's formula: T_eps = (1 - eps) T + (eps / 2) e0 e0^T
    base = compmech.quantum_rrxor(0.7, 1.1).transition_matrices
    e0 = np.eye(4)[0]
    np.testing.assert_allclose(a.transition_matrices, 0.8 * base + 0.1 * np.outer(e0, e0), atol=1e-15)


def _blind_dimension(process, tol=1e-9):
    """Belief-plane directions v (v r = 0) with v E = 0, by a tolerance rank."""
    r, E = process.right_eigenvector, process.emission_probabilities
    _, _, vt = np.linalg.svd(r[None, :])
    plane = vt[1:]  # (S - 1, S), rows orthogonal to r
    s = np.linalg.svd(plane @ E, compute_uv=False)
    return plane.shape[0] - int((s > tol * max(1.0, s.max())).sum())


@pytest.mark.parametrize("name,blind", [("quantum_rrxor", 2), ("arch", 1), ("wing", 1),
                                        ("strata", 1), ("mess3", 0), ("rrxor", 3)])
def test_prediction_blind_dimensions(name, blind):
    """The paper's delta direction: one-dimensional for Arch, Wing and Strata, none for Mess3;
    quantum RRXOR predicts through one of its three Bloch directions."""
    process = compmech.get_process(name)
    assert _blind_dimension(process) == blind
    assert compmech.prediction_blind_subspace(process).dimension == blind  # the library's answer


# ----------------------------------------------------------------------- published facts (zoo)
@pytest.mark.parametrize("name", ["mr_name", "matching_parens"])
def test_published_stationary_distributions(name):
    """simplexity's tests: (1, 2, 2, 1) / 6 for mr_name(0.4, 0.25) and matching_parens([1, .5, .5])."""
    np.testing.assert_allclose(compmech.get_process(name).stationary_distribution,
                               np.array([1, 2, 2, 1]) / 6, atol=1e-14)


def test_mr_name_mr_is_always_followed_by_name():
    words, p = compmech.enumerate_words(compmech.mr_name(), 3)
    bad = [(w, q) for w, q in zip(words.tolist(), p, strict=True)
           if q > 0 and any(a == 0 and b != 3 for a, b in zip(w, w[1:], strict=False))]
    assert not bad


def test_matching_parens_stays_balanced():
    """Depth never goes below 0 nor above len(open_probs); depth 0 always opens."""
    open_probs = [1.0, 0.7, 0.2, 0.9]
    hmm = compmech.matching_parens(open_probs)
    for start in range(5):
        words, p = compmech.enumerate_words(hmm, 6, initial_distribution=np.eye(5)[start])
        depth = start + np.cumsum(np.where(words == 0, 1, -1), axis=1)
        ok = (depth >= 0).all(axis=1) & (depth <= 4).all(axis=1)
        assert (p[~ok] == 0).all() and (p[ok] > 0).all()
    np.testing.assert_allclose(hmm.emission_probabilities[:4, 0], open_probs, atol=0)


def test_days_of_week_rules():
    hmm = compmech.days_of_week()
    E = hmm.emission_probabilities
    for d in range(7):
        expected = np.full(11, 1 / 15)
        expected[(d + 1) % 7] = 1 / 3
        np.testing.assert_allclose(E[d], expected, atol=1e-15)
        start = np.eye(7)[d]
        for token, then in ((7, (d + 1) % 7), (8, (d - 1) % 7), (3, 3)):
            belief = compmech.filter_beliefs(hmm, np.array([[token]]), start).beliefs[0, 0]
            np.testing.assert_allclose(belief, np.eye(7)[then], atol=1e-15)
    after_weekend = compmech.filter_beliefs(hmm, np.array([[9]])).beliefs[0, 0]
    np.testing.assert_allclose(after_weekend, [0] * 5 + [0.5, 0.5], atol=1e-15)


def test_cycle_announces_its_state():
    hmm = compmech.cycle(5, 0.3)
    np.testing.assert_allclose(hmm.emission_probabilities, np.eye(5), atol=0)
    np.testing.assert_allclose(hmm.stationary_distribution, 0.2, atol=1e-14)
    words, p = compmech.enumerate_words(hmm, 2)
    step = (words[:, 1] - words[:, 0]) % 5
    np.testing.assert_allclose(p[step == 1], 0.2 * 0.3, atol=1e-15)
    np.testing.assert_allclose(p[step == 4], 0.2 * 0.7, atol=1e-15)
    assert (p[(step != 1) & (step != 4)] == 0).all()


# Order-0 and order-1 token statistics in closed form, from the paper's repository
# (andrewjlee0/belief-state-geometry-in-context, src/hmm/definitions.py: *_order_zero, *_order_one).
def _arch_stats(a):
    p1, p2 = a / 2, (20 + 109 * a) / 600
    d1, d2 = 20 + 109 * a, -580 + 409 * a
    cond = np.array([
        [3 * a / 5, (10 + 101 * a) / 750, (740 - 551 * a) / 750],
        [6 * a * (10 + 27 * a) / (5 * d1), a * (560 + 1507 * a) / (50 * d1),
         (1000 + 4290 * a - 3127 * a**2) / (50 * d1)],
        [18 * a * (-80 + 59 * a) / (5 * d2), (-1000 - 4690 * a + 3527 * a**2) / (50 * d2),
         -(28000 - 39540 * a + 14147 * a**2) / (50 * d2)],
    ])
    return np.array([p1, p2, 1 - p1 - p2]), cond


def _wing_stats(a, x):
    p = 2 - 4 * a + 2 * a**2 + 3 * a * x - 3 * a**2 * x + 4 * a**2 * x**2
    q = -3 + a + 2 * a**2 - a * x - 3 * a**2 * x + 4 * a**2 * x**2
    r = 4 + 6 * a + 2 * a**2 - 5 * a * x - 3 * a**2 * x + 4 * a**2 * x**2
    d1, d2 = 5 - 5 * a + 4 * a * x, -7 - 5 * a + 4 * a * x
    return np.array([d1 / 12, -d2 / 12]), np.array([[p / d1, -q / d1], [q / d2, -r / d2]])


def _strata_stats(a, t0, t1):
    n1 = a * (t0**2 + t1**2)
    n2 = -t0 + a * t0**2 - t1 + a * t1**2
    n3 = 3 - 2 * a * t0 + a**2 * t0**2 - 2 * a * t1 + a**2 * t1**2
    d1, d2 = t0 + t1, -3 + a * t0 + a * t1
    p0 = a * (t0 + t1) / 3
    return np.array([p0, 1 - p0]), np.array([[n1 / d1, -n2 / d1], [a * n2 / d2, -n3 / d2]])


@pytest.mark.parametrize("name,params,stats", [
    ("arch", (0.99,), _arch_stats), ("arch", (0.9,), _arch_stats),
    ("wing", (0.98, 0.4), _wing_stats), ("wing", (0.91, 0.4), _wing_stats),
    ("strata", (0.97, 0.38, 0.54), _strata_stats), ("strata", (0.93, 0.38, 0.54), _strata_stats),
])
def test_balcells_families_match_the_papers_token_statistics(name, params, stats):
    hmm = getattr(compmech, name)(*params)
    marginal, conditional = stats(*params)
    V = hmm.vocab_size
    _, p1 = compmech.enumerate_words(hmm, 1)
    _, p2 = compmech.enumerate_words(hmm, 2)
    np.testing.assert_allclose(p1, marginal, atol=1e-13)
    np.testing.assert_allclose(p2.reshape(V, V) / p1[:, None], conditional, atol=1e-12)


def test_leaky_rrxor_is_the_uniform_leak():
    """simplexity's leaky_rrxor: (1 - eps) T + eps / 10, i.e. leaky(reset='uniform')."""
    a = compmech.leaky_rrxor(0.3, 0.8, 0.2)
    base = compmech.get_process("rrxor", p1=0.3, p2=0.8).transition_matrices
    np.testing.assert_allclose(a.transition_matrices, 0.8 * base + 0.02, atol=1e-15)
    b = compmech.leaky(("rrxor", {"p1": 0.3, "p2": 0.8}), 0.2, reset="uniform")
    np.testing.assert_allclose(a.transition_matrices, b.transition_matrices, atol=1e-15)
    np.testing.assert_allclose(a.initial_distribution, b.initial_distribution, atol=1e-14)


# --------------------------------------------------------------------------------- wrappers
BASES = ["mess3", "tom_quantum", "fanizza", ("product", ["z1r", "mess3"]),
         ("mixture", ["mess3", "z1r"])]


def _base(entry):
    if isinstance(entry, tuple) and entry[0] == "product":
        return compmech.product(entry[1])
    if isinstance(entry, tuple):
        return compmech.mixture(entry[1], [0.4, 0.6])
    return compmech.get_process(entry)


@pytest.mark.parametrize("entry", BASES)
@pytest.mark.parametrize("wrap", [lambda p: compmech.leaky(p, 0.0, reset=p.initial_distribution),
                                  lambda p: compmech.noisy_channel(p, 0.0),
                                  lambda p: compmech.inflated_vocabulary(p, 1)])
def test_zero_noise_leaves_any_process_unchanged(entry, wrap):
    base = _base(entry)
    out = wrap(base)
    np.testing.assert_array_equal(out.transition_matrices, base.transition_matrices)
    # a GHMM start vector is renormalised by eta r on construction: equal to the last bit
    np.testing.assert_allclose(out.initial_distribution, base.initial_distribution, rtol=0,
                               atol=1e-15)
    np.testing.assert_array_equal(out.right_eigenvector, base.right_eigenvector)
    assert out.kind == base.kind and out.structure == base.structure
    np.testing.assert_allclose(compmech.enumerate_words(out, 3)[1],
                               compmech.enumerate_words(base, 3)[1], rtol=0, atol=1e-15)


@pytest.mark.parametrize("entry", ["mess3", "tom_quantum", ("product", ["z1r", "even"])])
@pytest.mark.parametrize("K", [2, 3])
def test_inflated_vocabulary_raises_the_optimal_loss_by_ln_k(entry, K):
    base = _base(entry)
    inflated = compmech.inflated_vocabulary(base, K)
    gap = (compmech.optimal_cross_entropy_nats(inflated, 6)
           - compmech.optimal_cross_entropy_nats(base, 6))
    np.testing.assert_allclose(gap, np.log(K), rtol=0, atol=1e-12)
    gap_bos = (compmech.optimal_cross_entropy_nats(inflated, 4, bos=True)
               - compmech.optimal_cross_entropy_nats(base, 4, bos=True))
    np.testing.assert_allclose(gap_bos, np.log(K), rtol=0, atol=1e-12)
    # each inflated word has the base word's probability / K^L, the prefix most significant
    words, p = compmech.enumerate_words(inflated, 2)
    _, p_base = compmech.enumerate_words(base, 2)
    V = base.vocab_size
    base_index = (words % V) @ np.array([V, 1])
    np.testing.assert_allclose(p, p_base[base_index] / K**2, atol=1e-15)


def _tree_beliefs(process, depth=3):
    tree = compmech.mixed_state_tree(process, depth)
    return tree.all_beliefs()


@pytest.mark.parametrize("entry", ["mess3", "z1r", "tom_quantum", ("product", ["z1r", "mess3"])])
@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
def test_noisy_channel_next_token_distribution(entry, eps):
    """P'(. | eta) = (1 - eps) P(. | eta) + eps / V at every belief (the channel acts on the
    composite token of a product)."""
    base = _base(entry)
    noisy = compmech.noisy_channel(base, eps)
    beliefs = _tree_beliefs(base)
    V = base.vocab_size
    expected = (1 - eps) * beliefs @ base.emission_probabilities + eps / V
    np.testing.assert_allclose(beliefs @ noisy.emission_probabilities, expected, atol=1e-14)
    np.testing.assert_allclose(noisy.state_matrix, base.state_matrix, atol=1e-15)
    np.testing.assert_array_equal(noisy.initial_distribution, base.initial_distribution)


def test_noisy_channel_per_factor_is_the_product_of_noisy_factors():
    """Follows whatever composite-token order `product` uses (checked through `product` itself)."""
    factors = [compmech.get_process("z1r"), compmech.get_process("mess3")]
    per_factor = compmech.noisy_channel(compmech.product(factors), 0.3, per_factor=True)
    expected = compmech.product([compmech.noisy_channel(f, 0.3) for f in factors])
    np.testing.assert_allclose(per_factor.transition_matrices, expected.transition_matrices,
                               atol=1e-15)
    assert per_factor.structure is not None and per_factor.structure.kind == "product"
    joint = compmech.noisy_channel(compmech.product(factors), 0.3)
    assert joint.structure is None
    assert not np.allclose(joint.transition_matrices, per_factor.transition_matrices)
    with pytest.raises(ValueError, match="needs a product"):
        compmech.noisy_channel("mess3", 0.3, per_factor=True)


def test_leaky_keeps_the_stationary_state_and_at_one_is_iid_uniform():
    for name in ("mess3", "rrxor", "tom_quantum", "fanizza"):
        base = compmech.get_process(name)
        leak = compmech.leaky(base, 0.3)
        np.testing.assert_allclose(leak.stationary_distribution, base.stationary_distribution,
                                   atol=1e-12)
        _, p = compmech.enumerate_words(compmech.leaky(base, 1.0), 3)
        np.testing.assert_allclose(p, base.vocab_size**-3.0, atol=1e-15)
    mess3 = compmech.get_process("mess3")
    with pytest.raises(ValueError, match="rho r = 1"):
        compmech.leaky(mess3, 0.1, reset=[1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="reset must be"):
        compmech.leaky(mess3, 0.1, reset="middle")
    with pytest.raises(ValueError, match="epsilon"):
        compmech.leaky(mess3, 1.5)


@pytest.mark.parametrize("entry", ["mess3", "rrxor", "tom_quantum", "days_of_week"])
def test_binary_encoding_emits_each_word_as_its_big_endian_bits(entry):
    base = compmech.get_process(entry)
    binary = compmech.binary_encoded(base)
    V = base.vocab_size
    n = int(np.ceil(np.log2(V)))
    T, eta0, r = binary.transition_matrices, binary.initial_distribution, binary.right_eigenvector
    Tb, etab, rb = base.transition_matrices, base.initial_distribution, base.right_eigenvector
    words = _words(V, 2 if V < 5 else 1)
    for w in words:
        bits = tuple(int(c) for x in w for c in format(x, f"0{n}b"))
        np.testing.assert_allclose(word_probability(T, eta0, r, bits), word_probability(Tb, etab, rb, w),
                                   atol=1e-14)
    for code in range(V, 2**n):  # unused codes never appear
        assert abs(word_probability(T, eta0, r, tuple(int(c) for c in format(code, f"0{n}b")))) < 1e-15
    if binary.kind == "hmm":  # a classical input stays a (stochastic) HMM
        assert (T >= 0).all() and np.allclose(T.sum(axis=(0, 2)), 1.0, atol=1e-14)


def test_binary_encoding_of_a_binary_process_is_the_process():
    base = compmech.get_process("even", p=0.3)
    binary = compmech.binary_encoded(base)
    np.testing.assert_allclose(compmech.enumerate_words(binary, 5)[1],
                               compmech.enumerate_words(base, 5)[1], atol=1e-15)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        compmech.binary_encoded(compmech.cycle(1))


# ------------------------------------------------------------------------------- catalogue
def test_every_zoo_entry_is_listed_with_its_source():
    code, out, _ = _main(["processes"])
    assert code == 0
    for name in ("quantum_rrxor", "leaky_rrxor", "mr_name", "days_of_week", "matching_parens",
                 "cycle", "arch", "wing", "strata", "leaky", "noisy_channel", "binary_encoded",
                 "inflated_vocabulary"):
        assert name in compmech.CATALOGUE and name in compmech.REFERENCES
        block = ("\n" + out).split(f"\n{name} ")[1].split("\n")[:3]
        assert any("source:" in line for line in block), name
    code, out, _ = _main(["processes", "--json"])
    listing = json.loads(out)
    assert listing["quantum_rrxor"] == {"phi": 1.0, "theta": np.pi / 3, "epsilon": 0.0}
    assert listing["wing"] == {"alpha": 0.98, "x": 0.4}


@pytest.mark.parametrize("name,params,match", [
    ("cycle", {"n": 0}, "n must be"),
    ("matching_parens", {"open_probs": [0.5, 0.5]}, "open_probs\\[0\\] must be 1"),
    ("matching_parens", {"open_probs": [1.0, 1.5]}, "open_probs must be"),
    ("mr_name", {"p": 0.7, "q": 0.5}, "p \\+ q <= 1"),
    ("arch", {"alpha": 1.0}, "alpha must be < 1"),
    ("quantum_rrxor", {"epsilon": -0.1}, "epsilon"),
    ("inflated_vocabulary", {"factor": 0}, "factor must be"),
    ("noisy_channel", {"process": "nope"}, "unknown process 'nope'"),
])
def test_bad_parameters_are_one_line_value_errors(name, params, match):
    with pytest.raises(ValueError, match=match):
        compmech.get_process(name, **params)


def test_generate_train_and_probe_a_zoo_process(tmp_path):
    """The pipeline on zoo entries: generate a wrapped process from the command line, train a tiny
    model on quantum RRXOR and probe it."""
    data = tmp_path / "d.npz"
    code, out, err = _main(["generate", "noisy_channel", "-p", 'process={"process": "wing"}',
                            "-p", "epsilon=0.2", "-n", "8", "-l", "5", "--seed", "0",
                            "--out", str(data), "--quiet"])
    assert code == 0, err
    assert np.load(data)["tokens"].shape == (8, 5) and np.load(data)["beliefs"].shape == (8, 5, 3)
    run = tmp_path / "run"
    code, _, err = _main(["train", "--process", "quantum_rrxor", "--out", str(run), "--steps", "20",
                          "--batch-size", "16", "--n-layers", "1", "--d-model", "8", "--d-head", "4",
                          "--d-mlp", "16", "--n-ctx", "4", "--quiet"])
    assert code == 0, err
    code, _, err = _main(["probe", str(run), "--quiet", "--checkpoints", "last"])
    assert code == 0, err
    report = json.loads((run / "probe.json").read_text())
    assert report["process"] == "quantum_rrxor" and "plane" in report["protocol"]["target"]
