"""``compmech reproduce factored``: the dimension and orthogonality metrics on planted data, the
stress-test processes against brute force, and the pipeline end to end with ``--tiny``."""

import itertools
import json

import numpy as np
import pytest

import compmech
from compmech.cli import main
from compmech.probing.linear import BeliefProbe
from compmech.probing.targets import encoding_pattern
from compmech.subspaces import (
    components_95,
    components_for_variance,
    cumulative_explained_variance,
    encoding_patterns,
    explained_variance,
    factored_dimension_predictions,
    subspace_orthogonality,
)
from oracles import word_probability


# ------------------------------------------------------------------ dimension (CEV, components_95)
def _planted(rng, n, d, variances, noise=1e-3, offset=0.0):
    """``n`` points in ``d`` dimensions varying along ``len(variances)`` random orthonormal
    directions (standard deviations ``sqrt(variances)``), plus isotropic noise and an offset."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    z = rng.normal(size=(n, len(variances))) * np.sqrt(variances)
    return z @ q[:, :len(variances)].T + noise * rng.normal(size=(n, d)) + offset


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_components_95_counts_planted_directions(k):
    rng = np.random.default_rng(k)
    x = _planted(rng, 5000, 32, np.ones(k))
    assert components_95(x) == k
    cev = cumulative_explained_variance(x)
    assert cev[k - 1] > 0.999 and (k == 1 or cev[k - 2] < 0.95)


def test_cev_matches_the_weighted_covariance_eigenvalues_and_ignores_the_mean():
    rng = np.random.default_rng(0)
    x = _planted(rng, 800, 12, [5.0, 2.0, 1.0, 0.5], noise=0.05, offset=1e3)  # a huge mean
    w = rng.uniform(size=800)
    lam = np.sort(np.linalg.eigvalsh(np.cov(x.T, aweights=w, bias=True)))[::-1]
    np.testing.assert_allclose(explained_variance(x, w), lam, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cumulative_explained_variance(x, 7 * w),
                               np.cumsum(lam) / lam.sum(), atol=1e-12)
    # an uncentred eigen-decomposition would call this one component (the offset)
    assert components_95(x) == 4


def test_weights_select_the_points_that_count():
    rng = np.random.default_rng(1)
    a = _planted(rng, 2000, 20, [1.0, 1.0])            # 2 directions
    b = _planted(rng, 2000, 20, np.ones(7), noise=0)    # 7 other (random) directions
    x = np.concatenate([a, b])
    w = np.concatenate([np.ones(2000), np.zeros(2000)])
    assert components_95(x, w) == 2
    assert components_95(x) > 2
    with pytest.raises(ValueError, match="weights"):
        components_95(x, -w)


def test_components_for_variance_edges():
    assert components_for_variance(np.array([0.5, 0.95, 1.0])) == 2
    assert components_for_variance(np.array([0.5, 0.9, 1.0])) == 3
    assert components_for_variance(np.array([0.5, 0.9, 1.0]), threshold=0.5) == 1
    with pytest.raises(ValueError, match="threshold"):
        components_for_variance(np.array([1.0]), threshold=0)
    with pytest.raises(ValueError, match="zero variance"):
        cumulative_explained_variance(np.ones((10, 3)))


def test_predicted_dimensions_of_the_paper_process():
    assert factored_dimension_predictions([3, 3, 3, 3, 3]) == {"predicted_factored": 10,
                                                               "predicted_joint": 242}
    assert factored_dimension_predictions([3, 3, 3]) == {"predicted_factored": 6,
                                                         "predicted_joint": 26}


# ------------------------------------------------------------------ orthogonality
def _bases(d, ranks, rng):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    starts = np.concatenate([[0], np.cumsum(ranks)])
    return [q[:, a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def test_orthogonal_subspaces_score_orthogonal():
    rng = np.random.default_rng(2)
    bases = _bases(20, [2, 2, 3], rng)
    mixed = [b @ rng.normal(size=(b.shape[1], b.shape[1] + 1)) for b in bases]  # any basis, scale
    o = subspace_orthogonality(mixed)
    assert o.overlap < 1e-20 and o.ranks == (2, 2, 3) and o.total_rank == 7
    assert o.participation_ratio == pytest.approx(7) and o.effective_rank == pytest.approx(7)


def test_shared_subspace_scores_shared():
    rng = np.random.default_rng(3)
    b = _bases(20, [2], rng)[0]
    pats = [b @ rng.normal(size=(2, 3)) for _ in range(3)]
    o = subspace_orthogonality(pats)
    assert o.overlap == pytest.approx(1.0)
    assert o.participation_ratio == pytest.approx(2) and o.effective_rank == pytest.approx(2)


@pytest.mark.parametrize("theta_deg", [10.0, 45.0, 80.0])
def test_two_lines_at_an_angle_match_the_analytic_values(theta_deg):
    c = np.cos(np.radians(theta_deg))
    a = np.array([[1.0], [0.0], [0.0]])
    b = np.array([[c], [np.sqrt(1 - c**2)], [0.0]])
    o = subspace_orthogonality([a, 3 * b])
    mu = np.array([1 + c, 1 - c])
    p = mu / 2
    assert o.overlap == pytest.approx(c**2)
    assert o.participation_ratio == pytest.approx(2 / (1 + c**2))
    assert o.effective_rank == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_encoding_patterns_see_orthogonal_storage_behind_oblique_decoders():
    """Factors on orthogonal axes e1, e2, with a distractor n added to both and read alone on e3:
    the least-squares decoders must subtract n, so they meet at 60 degrees (overlap 1/4), while
    the encoding patterns Cov(x, y_f) are e1 and e2 (orthogonal)."""
    rng = np.random.default_rng(4)
    n = 4000
    raw = rng.normal(size=(n, 3))
    raw -= raw.mean(0)
    y1, y2, noise = np.linalg.qr(raw)[0].T * np.sqrt(n)  # exactly uncorrelated on the sample
    x = np.stack([y1 + noise, y2 + noise, noise], axis=1)
    p1 = BeliefProbe().fit(x, y1[:, None])
    p2 = BeliefProbe().fit(x, y2[:, None])
    decoders = subspace_orthogonality([p1.coef_.T, p2.coef_.T])
    assert decoders.overlap == pytest.approx(0.25, abs=1e-9)  # cos^2 60 deg: fooled
    assert decoders.participation_ratio < 1.9
    for pats in ([encoding_pattern(p1, x), encoding_pattern(p2, x)],
                 encoding_patterns(x, [y1[:, None], y2[:, None]])):
        o = subspace_orthogonality(pats)
        assert o.overlap < 1e-20
        assert o.participation_ratio == pytest.approx(2) and o.effective_rank == pytest.approx(2)
    np.testing.assert_allclose(encoding_pattern(p1, x)[:, 0],
                               encoding_patterns(x, [y1[:, None]])[0][:, 0], atol=1e-10)


def test_a_zero_pattern_is_refused():
    with pytest.raises(ValueError, match="factor 1"):
        subspace_orthogonality([np.eye(4)[:, :2], np.zeros((4, 2))])


# ------------------------------------------------------------------ the stress-test processes
def _factor_word_probability(factor_T, start, r, tokens, variants):
    """``start T_{k_1}[x_1] ... T_{k_L}[x_L] r`` with a per-step variant (explicit products)."""
    v = np.array(start, dtype=np.float64)
    for x, k in zip(tokens, variants, strict=True):
        v = v @ factor_T[k][x]
    return float(v @ r)


def _chain_brute_force(factors, selected, length):
    """``{word: P(word)}`` of the chain as a product over factors of per-factor word probabilities
    with the variant of each step chosen by the previous factor's token (the factors' hidden
    states are independent given all tokens)."""
    bases = [compmech.get_process(f["process"], **f["params"]) for f in factors]
    families = [[bases[0].transition_matrices]]
    for f in range(1, len(factors)):
        sel = selected[f - 1]
        families.append([compmech.get_process(factors[f]["process"], **{
            **factors[f]["params"], sel["param"]: v}).transition_matrices for v in sel["values"]])
    sizes = [b.vocab_size for b in bases]
    out = {}
    for word in itertools.product(range(int(np.prod(sizes))), repeat=length):
        digits = [np.unravel_index(c, sizes) for c in word]  # big-endian: factor 0 first
        p = 1.0
        for f, b in enumerate(bases):
            toks = [int(dg[f]) for dg in digits]
            ks = [0] * length if f == 0 else [int(dg[f - 1]) for dg in digits]
            p *= _factor_word_probability(families[f], b.initial_distribution,
                                          b.right_eigenvector, toks, ks)
        out[word] = p
    return out


SMALL_CHAIN = dict(
    factors=[{"process": "mess3", "params": {"x": 0.15, "alpha": 0.6}},
             {"process": "tom_quantum", "params": {"alpha": 1.0, "beta": 3.0}}],
    selected=[{"param": "beta", "values": [2.0, 3.0, 5.0]}])


@pytest.mark.parametrize("spec", [SMALL_CHAIN, {}], ids=["mess3-tom", "default"])
def test_chain_word_probabilities_match_brute_force(spec):
    chain = compmech.factor_chain(**spec)
    factors = spec.get("factors", compmech.chain.CHAIN_FACTORS)
    selected = spec.get("selected", compmech.chain.CHAIN_SELECTED)
    length = 3 if spec else 2
    brute = _chain_brute_force(factors, selected, length)
    T, eta, r = chain.transition_matrices, chain.initial_distribution, chain.right_eigenvector
    words = np.array(list(brute))
    fast = np.exp(compmech.log_probability(chain, words))
    np.testing.assert_allclose(fast, list(brute.values()), rtol=1e-10, atol=1e-15)
    assert sum(brute.values()) == pytest.approx(1.0, abs=1e-12)
    for w in list(brute)[:: max(len(brute) // 50, 1)]:  # explicit joint products agree too
        assert word_probability(T, eta, r, w) == pytest.approx(brute[w], rel=1e-10, abs=1e-15)


def test_chain_beliefs_are_products_of_factor_beliefs_and_sum_to_one():
    chain = compmech.factor_chain(**SMALL_CHAIN)
    samples = compmech.sample(chain, 50, 6, seed=0)
    eta = samples.beliefs
    np.testing.assert_allclose(eta @ chain.right_eigenvector, 1.0, atol=1e-12)
    split = compmech.factor_beliefs(chain, eta)
    outer = np.einsum("nta,ntb->ntab", *split.factor_beliefs).reshape(eta.shape)
    np.testing.assert_allclose(outer, eta, atol=1e-12)
    m3 = split.factor_beliefs[0]
    np.testing.assert_allclose(m3.sum(-1), 1.0, atol=1e-12)
    # factor 1 (tom_quantum) by explicit products with the selected variants
    betas = SMALL_CHAIN["selected"][0]["values"]
    fam = [compmech.get_process("tom_quantum", alpha=1.0, beta=b).transition_matrices for b in betas]
    toks = compmech.product_tokens([3, 4], samples.tokens)
    for n in range(5):
        v = np.array([1.0, 0.0, 0.0])
        for t in range(6):
            v = v @ fam[toks[n, t, 0]][toks[n, t, 1]]
            np.testing.assert_allclose(split.factor_beliefs[1][n, t], v / v[0], atol=1e-12)


def test_chain_starts_stationary_and_breaks_conditional_independence():
    chain = compmech.factor_chain()
    mu = chain.initial_distribution
    np.testing.assert_allclose(mu @ chain.state_matrix, mu, atol=1e-14)
    # next-token law after a prefix (at the uniform start every factor emits uniformly, whatever
    # its variant, so the first token alone cannot show the dependence)
    T, r = chain.transition_matrices, chain.right_eigenvector
    eta = mu @ T[5] @ T[17] @ T[30]
    eta = eta / (eta @ r)
    p = np.array([eta @ T[c] @ r for c in range(chain.vocab_size)]).reshape(3, 3, 4)
    assert p.sum() == pytest.approx(1.0)
    marg = [p.sum(axis=(1, 2)), p.sum(axis=(0, 2)), p.sum(axis=(0, 1))]
    assert not np.allclose(p, np.einsum("a,b,c->abc", *marg), atol=1e-3)
    # every selected value equal to the base: the chain is the independent product
    same = compmech.factor_chain(selected=[{"param": "alpha", "values": [0.6] * 3},
                                           {"param": "beta", "values": [3.0] * 3}])
    prod = compmech.product(list(compmech.chain.CHAIN_FACTORS))
    np.testing.assert_allclose(same.transition_matrices, prod.transition_matrices, atol=1e-15)


def test_chain_rejects_bad_selectors():
    with pytest.raises(ValueError, match="3 tokens"):
        compmech.factor_chain(selected=[{"param": "alpha", "values": [0.5, 0.6]},
                                        {"param": "beta", "values": [2.0, 3.0, 4.0]}])
    with pytest.raises(ValueError, match="one entry per factor"):
        compmech.factor_chain(selected=[])
    assert "factor_chain" in compmech.CATALOGUE


def _noisy_brute_force(factors, eps, per_factor, length):
    """``{word: P'(word)}``: sum over the emitted words ``u`` of ``P(u) prod_t B[u_t, w_t]``, with
    ``P(u)`` the product of the factors' word probabilities (explicit matrix products)."""
    procs = [compmech.get_process(f["process"], **f["params"]) for f in factors]
    sizes = [p.vocab_size for p in procs]
    V = int(np.prod(sizes))
    digits = np.array([np.unravel_index(c, sizes) for c in range(V)])
    if per_factor:
        B = np.prod([(1 - eps) * (digits[:, None, f] == digits[None, :, f]) + eps / sizes[f]
                     for f in range(len(sizes))], axis=0)
    else:
        B = (1 - eps) * np.eye(V) + eps / V
    clean = {}
    for u in itertools.product(range(V), repeat=length):
        clean[u] = np.prod([word_probability(p.transition_matrices, p.initial_distribution,
                                             p.right_eigenvector, [int(digits[c, f]) for c in u])
                            for f, p in enumerate(procs)])
    out = {}
    for w in itertools.product(range(V), repeat=length):
        out[w] = sum(pu * np.prod([B[a, b] for a, b in zip(u, w, strict=True)])
                     for u, pu in clean.items())
    return out


NOISY_FACTORS = [{"process": "mess3", "params": {"x": 0.15, "alpha": 0.6}},
                 {"process": "tom_quantum", "params": {"alpha": 1.0, "beta": 3.0}}]


@pytest.mark.parametrize("per_factor", [False, True])
def test_noisy_channel_on_the_product_matches_brute_force(per_factor):
    eps = 0.2
    spec = {"kind": "product", "factors": NOISY_FACTORS}
    noisy = compmech.get_process("noisy_channel", process=spec, epsilon=eps, per_factor=per_factor)
    brute = _noisy_brute_force(NOISY_FACTORS, eps, per_factor, 2)
    fast = np.exp(compmech.log_probability(noisy, np.array(list(brute))))
    np.testing.assert_allclose(fast, list(brute.values()), rtol=1e-10, atol=1e-15)
    assert sum(brute.values()) == pytest.approx(1.0, abs=1e-12)
    beliefs = compmech.sample(noisy, 20, 5, seed=1).beliefs
    np.testing.assert_allclose(beliefs @ noisy.right_eigenvector, 1.0, atol=1e-12)


def test_only_the_joint_channel_breaks_conditional_independence():
    """Per-factor noise leaves a product of independent factors (two-token words factor over the
    factors exactly); the joint channel (one noise event for all factors) does not."""
    spec = {"kind": "product", "factors": NOISY_FACTORS}
    for per_factor, independent in ((True, True), (False, False)):
        noisy = compmech.noisy_channel(spec, 0.2, per_factor=per_factor)
        words = compmech.all_words(noisy.vocab_size, 2)
        p = np.exp(compmech.log_probability(noisy, words)).reshape(3, 4, 3, 4)  # (x1^0 x1^1 x2^0 x2^1)
        factored = np.einsum("ac,bd->abcd", p.sum(axis=(1, 3)), p.sum(axis=(0, 2)))
        assert np.allclose(p, factored, atol=1e-14) == independent


# ------------------------------------------------------------------ the pipeline
def _result(c95s, r2s, predicted=6):
    from compmech.experiments.factored_results import (
        CheckpointAnalysis,
        FactoredLabels,
        FactoredResult,
        Orthogonality,
        TrainInfo,
    )

    rows = [CheckpointAnalysis(s, 0, "h", [1.0], c, {"f0": r, "f1": r}, Orthogonality())
            for s, c, r in zip([0, 10, 100, 1000], c95s, r2s, strict=True)]
    return FactoredResult("x", FactoredLabels("v", 0.0, 0, "joint"), "p", {}, {}, predicted, 26,
                          TrainInfo(1000, 1, 1000, None), None, rows, 0.0, 0.0)


def test_claim_check_finds_early_factored_geometry_and_later_growth():
    from compmech.experiments.factored import claim_check

    grows = claim_check(_result([20, 6, 9, 12], [0.1, 0.8, 0.9, 0.9]))
    assert grows.first_factored_step == 10 and grows.components_95_then == 6
    assert grows.components_95_max_after == 12 and grows.grows_later is True
    flat = claim_check(_result([20, 12, 5, 5], [0.1, 0.9, 0.9, 0.9]))
    assert flat.first_factored_step == 100 and flat.grows_later is False
    # a low dimension without the factors decoded is not the factored geometry
    assert claim_check(_result([20, 3, 3, 3], [0.1, 0.2, 0.3, 0.4])).first_factored_step is None
    assert claim_check(_result([6, 20, 20, 20], [0.9, 0.1, 0.1, 0.1])).first_factored_step is None


def test_claim_lines_say_why_a_low_count_is_not_the_factored_geometry():
    from compmech.experiments.factored_report import claim_lines

    (line,) = claim_lines([_result([20, 3, 3, 3], [0.1, 0.2, 0.3, 0.4])])
    assert "does not appear" in line and "c95 3 at step 10" in line and "r2 there is 0.20" in line
    (line,) = claim_lines([_result([20, 12, 9, 8], [0.1, 0.2, 0.3, 0.4])])
    assert "does not appear at the analysed checkpoints; final c95 8." in line


def test_orthogonality_error_and_metrics_round_trip_with_the_old_fields():
    """A checkpoint whose orthogonality failed is written as ``{"error": ...}`` only, one that
    succeeded without ``error``: the per-job files of earlier versions, field for field."""
    from compmech.experiments.factored_results import Orthogonality

    failed = Orthogonality(error="a pattern of rank 0")
    assert failed.to_dict() == {"error": "a pattern of rank 0"}
    done = {"overlap": 0.1, "overlap_pairs": [[1.0, 0.1], [0.1, 1.0]], "participation_ratio": 3.9,
            "effective_rank": 3.95, "ranks": [2, 2], "total_rank": 4}
    assert Orthogonality.from_dict(done).to_dict() == done
    result = _result([20, 6, 9, 12], [0.1, 0.8, 0.9, 0.9])
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["checkpoints"][0]["orthogonality"] == {}
    assert type(result).from_dict(as_json) == result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("factored") / "tiny"
    assert main(["reproduce", "factored", "--tiny", "--quiet", "--out", str(out)]) == 0
    return out


def test_the_true_beliefs_control_tells_factored_from_joint():
    """The control of components_95: the factors' beliefs side by side need at most the factored
    prediction (their affine dimension, a bound), the joint belief needs far more; and a planted
    network that embeds the joint belief linearly shows the joint count, so the comparison can
    come out against the factored claim."""
    from compmech.experiments.factored import DEFAULT_FACTORS, belief_components_95
    from compmech.geometry import belief_plane_coordinates
    from compmech.inference import sample

    hmm = compmech.product([f.to_dict() for f in DEFAULT_FACTORS])
    ctl = belief_components_95(hmm, DEFAULT_FACTORS, 3000, 0)
    assert ctl.factored <= 6 < 2 * ctl.factored < ctl.joint <= 26
    joint = belief_plane_coordinates(sample(hmm, 3000, 8, 0).beliefs, hmm.right_eigenvector)
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(64, 26)))
    planted = joint @ Q.T  # an isometric 64-d embedding of the joint belief
    assert components_95(planted) == ctl.joint
    # a noisy joint channel keeps the joint state space: the control is defined there too
    noisy = compmech.noisy_channel(hmm, 0.1)
    ctl_noisy = belief_components_95(noisy, DEFAULT_FACTORS, 3000, 0)
    assert ctl_noisy.factored <= 6 < ctl_noisy.joint


def test_tiny_end_to_end_writes_the_fields(tiny_run):
    from compmech.experiments.factored_results import FactoredResult, FactoredSummary

    res = json.loads((tiny_run / "results.json").read_text())
    # the typed records read what they wrote, field for field (names and nesting unchanged)
    assert FactoredSummary.read(tiny_run / "results.json").to_dict() == res
    for path in sorted((tiny_run / "results").glob("*.json")):
        assert FactoredResult.read(path).to_dict() == json.loads(path.read_text())
    assert res["predicted_factored"] == 6 and res["predicted_joint"] == 26
    labels = [r["labels"]["variant"] for r in res["rows"]]
    assert labels == ["noise_0", "noise_0.1", "chain"]
    for r in res["rows"]:
        assert len(r["checkpoints"]) >= 2 and r["checkpoints"][0]["step"] == 0
        for c in r["checkpoints"]:
            cev = np.asarray(c["cev"])
            assert cev.shape == (r["model"]["d_model"],) and np.all(np.diff(cev) >= -1e-12)
            assert c["components_95"] == components_for_variance(cev)
            assert set(c["r2"]) == {"factor_belief_0", "factor_belief_1", "factor_belief_2"}
            assert {"overlap", "participation_ratio", "effective_rank"} <= set(c["orthogonality"])
    assert (tiny_run / "factored_cev.png").stat().st_size > 0
    readme = (tiny_run / "README.md").read_text()
    assert "| noise_0.1 |" in readme and "| chain |" in readme


def test_tiny_rerun_is_resumed_and_paper_configs_are_the_paper(tiny_run, capsys):
    before = (tiny_run / "results" / "chain_seed0.json").read_text()
    assert main(["reproduce", "factored", "--tiny", "--quiet", "--out", str(tiny_run)]) == 0
    assert (tiny_run / "results" / "chain_seed0.json").read_text() == before
    res = json.loads((tiny_run / "results.json").read_text())
    assert res["environment"]["computed_now"] == []
    assert main(["reproduce", "factored", "--paper", "--out", str(tiny_run / "p")]) == 0
    cfg = json.loads((tiny_run / "p" / "paper" / "noise_0.05.json").read_text())
    m = cfg["model"]
    assert (m["n_layers"], m["d_model"], m["n_heads"], m["d_head"], m["d_mlp"], m["n_ctx"],
            m["d_vocab"]) == (4, 120, 3, 40, 480, 9, 433)
    assert cfg["bos"] and cfg["batch_size"] == 25_000 and cfg["lr"] == 5e-4
    assert cfg["steps"] == 500_000
    assert main(["reproduce", "mess3", "--noise", "per_factor", "--out", str(tiny_run / "q")]) == 2


def test_jobs_build_the_stress_test_processes():
    from compmech.experiments.factored import factored_jobs
    from transformer import TrainConfig

    for noise, structured in (("joint", False), ("per_factor", True)):
        jobs = factored_jobs(scale="tiny", noise=noise)
        assert [j.labels.variant for j in jobs] == ["noise_0", "noise_0.1", "chain"]
        hmms = [TrainConfig.from_dict(j.train_config).build_hmm() for j in jobs]
        assert all(h.vocab_size == 36 and h.num_states == 27 for h in hmms)
        assert hmms[0].structure is not None  # epsilon 0: the product itself
        assert (hmms[1].structure is not None) == structured
        cfg = TrainConfig.from_dict(jobs[1].train_config)
        assert cfg.bos and cfg.model.n_ctx == 9 and cfg.model.d_vocab == 37
    default = factored_jobs(minutes=12, seeds=[0, 1])
    assert len(default) == 12
    assert all(TrainConfig.from_dict(j.train_config).minutes == pytest.approx(12 * 0.75 / 12)
               for j in default)
    assert {TrainConfig.from_dict(j.train_config).steps for j in factored_jobs(steps=77)} == {77}
    with pytest.raises(ValueError, match="noise"):
        factored_jobs(noise="both")


def test_factored_config_refuses_bad_values_round_trips_and_keeps_the_old_defaults():
    from compmech.experiments.factored import DEFAULT_MINUTES, FactoredConfig

    for bad, message in [(dict(noise="both"), "noise must be one of"),
                         (dict(seeds=[1, 1]), "seeds must be distinct integers"),
                         (dict(seeds=[]), "seeds must be distinct integers"),
                         (dict(steps=0), "steps must be a positive integer"),
                         (dict(minutes=-3.0), "minutes must be a positive number")]:
        with pytest.raises(ValueError, match=message):
            FactoredConfig(**bad)
    config = FactoredConfig(tiny=True, steps=7, seeds=[3, 1], noise="per_factor")
    assert FactoredConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.scale == "tiny" and FactoredConfig().scale == "default"
    # the defaults of the keywords it replaced (run_factored before the config)
    assert FactoredConfig() == FactoredConfig(tiny=False, minutes=None, steps=None, seeds=(0,),
                                              noise="joint")
    assert DEFAULT_MINUTES == 30.0
