"""`compmech reproduce icl` (arXiv 2505.18373): the mr_name process, the Dursley/Wonka mixture's
Bayes-mixture curves against brute force over all words, the decay fits on planted curves, the
induction score on planted attention patterns, and the command end to end with --tiny."""

import contextlib
import io
import itertools
import json

import numpy as np
import pytest

import compmech
from compmech.cli import main
from compmech.experiments.icl_results import IclResults, IclRun, TheoryCurves
from compmech.incontext import induction_scores, induction_targets, mixture_loss_curves, transition_step
from compmech.scaling import fit_decay_laws
from oracles import hidden_path_probability

P_MR, Q_MR = 0.4, 0.25
DW_MAPS = [[0, 1, 2, 3], [0, 1, 2, 4]]


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _dursley_wonka():
    return compmech.mixture([compmech.mr_name(), compmech.mr_name()], [0.5, 0.5], DW_MAPS)


# ------------------------------------------------------------------------------- mr_name
def _mr_name_table(p, q):
    """The nonzero entries of Astera-org/simplexity@4b9e83e (2025-05-08)
    simplexity/generative_processes/transition_matrices.py ``mr_name``, transcribed as
    ``(token, from, to): value`` over Mr.=0, Something=1, Blah=2, name=3."""
    return {(3, 0, 3): 1.0, (1, 3, 1): 0.5, (2, 3, 2): 0.5,
            (0, 1, 0): q, (1, 1, 1): 1 - p - q, (2, 1, 2): p,
            (0, 2, 0): q, (1, 2, 1): p, (2, 2, 2): 1 - p - q}


@pytest.mark.parametrize("p,q", [(P_MR, Q_MR), (0.1, 0.6), (0.3, 0.3)])
def test_mr_name_matrices_are_the_sources_entry_by_entry(p, q):
    T = compmech.mr_name(p, q).transition_matrices
    expected = np.zeros((4, 4, 4))
    for index, value in _mr_name_table(p, q).items():
        expected[index] = value
    np.testing.assert_array_equal(T, expected)


@pytest.mark.parametrize("p,q", [(P_MR, Q_MR), (0.1, 0.6)])
def test_mr_name_word_probabilities_equal_a_sum_over_hidden_paths(p, q):
    hmm = compmech.mr_name(p, q)
    pi = hmm.stationary_distribution
    # analytic stationary law: pi_Mr = pi_name = 2q s, pi_Something = pi_Blah = s
    np.testing.assert_allclose(pi, np.array([2 * q, 1, 1, 2 * q]) / (2 + 4 * q), atol=1e-14)
    for L in (1, 2, 4):
        words, fast = compmech.enumerate_words(hmm, L)
        brute = [hidden_path_probability(hmm.transition_matrices, pi, w) for w in map(tuple, words)]
        np.testing.assert_allclose(fast, brute, atol=1e-14)
        assert abs(sum(brute) - 1.0) < 1e-12


# ------------------------------------------------------------- Bayes-mixture curves
def _brute_force_curves(n_ctx, bos):
    """Every word of the Dursley/Wonka mixture enumerated, each component's prefix probabilities
    by explicit matrix products of its own 4x4 matrices with mapped tokens: ``(own, bayes)``,
    each ``(2, n_ctx)`` nats."""
    T = compmech.mr_name(P_MR, Q_MR).transition_matrices
    pi = np.array([1, 2, 2, 1]) / 6
    V = 5
    comp_T = []
    for m in DW_MAPS:  # component k's matrices indexed by the shared token (0 where it never emits)
        Tk = np.zeros((V, 4, 4))
        for c, y in enumerate(m):
            Tk[y] += T[c]
        comp_T.append(Tk)

    def prefix_prob(k, word):
        v = pi.copy()
        for x in word:
            v = v @ comp_T[k][x]
        return v.sum()

    n_words = n_ctx - 1 if bos else n_ctx
    own, bayes = np.zeros((2, n_ctx)), np.zeros((2, n_ctx))
    for word in itertools.product(range(V), repeat=n_words):
        for pos in range(n_ctx):
            prefix = word[: pos if bos else pos + 1]
            pk = np.array([prefix_prob(k, prefix) for k in range(2)])
            if pk.sum() == 0:
                continue
            nxt = np.array([[prefix_prob(k, prefix + (x,)) for x in range(V)] for k in range(2)])
            mix = (0.5 * nxt).sum(0) / (0.5 * pk).sum()
            for k in range(2):
                if pk[k] == 0:
                    continue
                cond = nxt[k] / pk[k]
                # each word of length n_words carries its prefix's probability once per extension:
                # weight the prefix by P_k(word) so that summing over words gives E_k over prefixes
                weight = prefix_prob(k, word)
                nz = cond > 0
                own[k, pos] += weight * -(cond[nz] * np.log(cond[nz])).sum()
                bayes[k, pos] += weight * -(cond[nz] * np.log(mix[nz])).sum()
    return own, bayes


@pytest.mark.parametrize("bos", [True, False])
def test_dursley_wonka_bayes_mixture_curves_equal_brute_force_over_all_words(bos):
    n_ctx = 5
    own, bayes = _brute_force_curves(n_ctx, bos)
    curves = mixture_loss_curves(_dursley_wonka(), n_ctx, bos)
    assert curves.method == "exact"
    np.testing.assert_allclose(curves.own_optimum, own, atol=1e-12)
    np.testing.assert_allclose(curves.bayes_mixture, bayes, atol=1e-12)
    # the mixture's optimum is the myopic entropy of the mixture (an independent route)
    np.testing.assert_allclose(curves.bayes_mixture_optimum,
                               compmech.optimal_cross_entropy_nats(_dursley_wonka(), n_ctx, bos),
                               atol=1e-12)
    # the excess is a KL: positive wherever a name may come next, before the name is known
    assert (curves.optimum_excess > 0).all()


@pytest.mark.parametrize("p,q", [(P_MR, Q_MR), (0.3, 0.4)])
def test_dursley_wonka_optimum_excess_is_the_analytic_geometric_law(p, q):
    """Before the first name the posterior is 50/50 and only the name token differs, so the excess
    at a position is ln 2 x P(the next token is the first name). With BOS: ln 2 * pi_name at
    positions 0 and 1, then ln 2 * P(x_1 in {S, B}) (1 - q)^(t - 2) q: exactly exponential,
    tau = -1 / ln(1 - q)."""
    hmm = compmech.mr_name(p, q)
    dw = compmech.mixture([hmm, hmm], [0.5, 0.5], DW_MAPS)
    n_ctx = 40
    t = np.arange(n_ctx)
    pi_name, pi_sb = 2 * q / (2 + 4 * q), 2 / (2 + 4 * q)
    expected = np.log(2) * np.where(t < 2, pi_name, pi_sb * (1 - q) ** np.maximum(t - 2, 0) * q)
    curves = mixture_loss_curves(dw, n_ctx, bos=True)
    np.testing.assert_allclose(curves.optimum_excess, expected, rtol=1e-10, atol=1e-15)
    fits = fit_decay_laws(t[2:] + 1, curves.optimum_excess[2:])
    assert fits.better == "exponential"
    assert fits.exponential.timescale == pytest.approx(-1 / np.log(1 - q), rel=1e-9)


def test_sampled_curves_agree_with_exact_within_their_standard_errors():
    dw = _dursley_wonka()
    exact = mixture_loss_curves(dw, 10, True, method="exact")
    sampled = mixture_loss_curves(dw, 10, True, method="sampled", num_samples=20_000, seed=3)
    # position 0 (BOS) is not sampled: the same number both ways
    assert abs(sampled.optimum_excess[0] - exact.optimum_excess[0]) < 1e-12
    z = (np.abs(sampled.optimum_excess - exact.optimum_excess) / sampled.optimum_excess_stderr)[1:]
    assert z.max() < 5, z
    z_own = np.abs(sampled.own_optimum - exact.own_optimum)[:, 1:] / sampled.own_stderr[:, 1:]
    assert z_own.max() < 5


def test_exact_curves_refuse_a_mixture_whose_levels_outgrow_the_cap_and_auto_samples():
    m = compmech.mixture(["mess3", ("mess3", {"x": 0.15, "alpha": 0.6})], [0.5, 0.5])
    with pytest.raises(ValueError, match="max_nodes"):
        mixture_loss_curves(m, 12, True, method="exact", max_nodes=1000)
    auto = mixture_loss_curves(m, 12, True, max_nodes=1000, num_samples=500)
    assert auto.method == "sampled" and auto.optimum_excess[0] == 0.0  # same first-token law


# ----------------------------------------------------------------------- decay fits
def test_power_law_fit_recovers_a_planted_exponent_and_wins():
    rng = np.random.default_rng(0)
    t = np.arange(1.0, 64.0)
    y = 0.3 * t**-0.7 * np.exp(rng.normal(0, 0.02, t.size))
    fits = fit_decay_laws(t, y)
    assert fits.better == "power_law"
    assert abs(fits.power_law.exponent - 0.7) < 0.02
    assert abs(fit_decay_laws(t, 0.3 * t**-0.7).power_law.exponent - 0.7) < 1e-12


def test_exponential_fit_recovers_a_planted_timescale_and_wins():
    rng = np.random.default_rng(1)
    t = np.arange(1.0, 64.0)
    y = 0.1 * np.exp(-t / 7.5) * np.exp(rng.normal(0, 0.02, t.size))
    fits = fit_decay_laws(t, y)
    assert fits.better == "exponential"
    assert abs(fits.exponential.timescale - 7.5) < 0.1
    assert abs(fits.exponential.amplitude - 0.1) < 0.01


def test_fit_drops_non_positive_points_and_refuses_too_few():
    t = np.arange(1.0, 11.0)
    y = 2.0 * t**-1.5
    y[[2, 5]] = [-1e-3, 0.0]
    fits = fit_decay_laws(t, y)
    assert fits.num_dropped == 2 and abs(fits.power_law.exponent - 1.5) < 1e-12
    with pytest.raises(ValueError, match="at least 3"):
        fit_decay_laws([1, 2, 3], [1.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="> 0"):
        fit_decay_laws([0, 1, 2], [1.0, 0.5, 0.2])


# ------------------------------------------------------------------ induction score
def _random_tokens(B=64, P=24, V=5, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(B, P))


def _rows(mask):
    """Attention rows spread uniformly over ``mask`` (rows with no mask entry attend to 0)."""
    mask = mask.astype(float)
    empty = mask.sum(-1) == 0
    mask[..., 0] = np.where(empty, 1.0, mask[..., 0])
    return mask / mask.sum(-1, keepdims=True)


def test_induction_score_is_one_on_a_planted_copying_head_and_zero_on_uniform_attention():
    tokens = _random_tokens()
    B, P = tokens.shape
    targets = induction_targets(tokens)
    copying = _rows(targets)
    uniform = np.broadcast_to(np.tri(P) / np.arange(1, P + 1)[:, None], (B, P, P))
    patterns = np.stack([copying, uniform], axis=1)  # two heads
    s = induction_scores(patterns, tokens)
    np.testing.assert_allclose(s.score, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s.mass[0], 1.0)
    # the copying head that attends only to the most recent target is also a perfect score
    last = targets & (np.cumsum(targets[..., ::-1], -1)[..., ::-1] == 1)
    assert abs(induction_scores(_rows(last), tokens).score - 1.0) < 1e-12


def test_induction_score_is_not_fooled_by_previous_token_or_duplicate_token_heads():
    tokens = _random_tokens(B=256, P=32)
    B, P = tokens.shape
    previous = _rows(np.broadcast_to(np.eye(P, k=-1, dtype=bool), (B, P, P)).copy())
    duplicate = _rows((tokens[:, :, None] == tokens[:, None, :]) & np.tri(P, P, -1, dtype=bool))
    s = induction_scores(np.stack([previous, duplicate], 1), tokens)
    assert np.abs(s.score).max() < 0.1, s.score  # (a copying head scores 1)
    # ... while the score restricted to queries of one token still sees a copying head
    copying = _rows(induction_targets(tokens))
    assert induction_scores(copying, tokens, query_tokens=[0]).score == pytest.approx(1.0)


def test_induction_score_refuses_non_causal_or_unnormalised_patterns():
    tokens = _random_tokens(B=4, P=6)
    bad = np.full((4, 6, 6), 1 / 6)
    with pytest.raises(ValueError, match="causal"):
        induction_scores(bad, tokens)
    with pytest.raises(ValueError, match="sum to 1"):
        induction_scores(np.tri(6)[None].repeat(4, 0), tokens)


def test_transition_step_finds_a_planted_jump_and_none_on_a_ramp():
    steps = np.array([0, 10, 20, 50, 100, 200, 500])
    jump = np.array([0.0, 0.01, 0.02, 0.03, 0.6, 0.62, 0.63])
    assert transition_step(steps, jump) == (100, pytest.approx(0.57))
    assert transition_step(steps, np.linspace(0, 0.6, 7)) is None
    assert transition_step(steps, np.full(7, 0.2)) is None


# ------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("argv,message", [
    (["--tiny", "--minutes", "1"], "drop --minutes"),
    (["--steps", "10", "--minutes", "1"], "not both"),
    (["--workers", "2"], "do not apply"),
])
def test_reproduce_icl_refuses_conflicting_options(tmp_path, argv, message):
    code, _, err = _main(["reproduce", "icl", "--out", str(tmp_path / "x"), *argv])
    assert code != 0 and message in err
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def tiny_icl(tmp_path_factory):
    out = tmp_path_factory.mktemp("icl") / "run"
    code, stdout, err = _main(["reproduce", "icl", "--tiny", "--quiet", "--out", str(out)])
    assert code == 0, err
    return out, stdout


@pytest.mark.slow
def test_reproduce_icl_tiny_writes_results_table_and_figures(tiny_icl):
    out, stdout = tiny_icl
    results = json.loads((out / "results.json").read_text())
    # the typed records read what they wrote, field for field (names and nesting unchanged)
    assert IclResults.read(out / "results.json").to_dict() == results
    for path in sorted((out / "results").glob("*.json")):
        kind = TheoryCurves if path.name.startswith("theory_") else IclRun
        assert kind.read(path).to_dict() == json.loads(path.read_text())
    assert set(results["mixtures"]) == {"dursley_wonka", "mess3_3", "mess3_12"}
    for name, m in results["mixtures"].items():
        n_ctx = results["model"]["n_ctx"]
        assert len(m["positions"]) == n_ctx
        for p in m["positions"]:
            assert p["bayes_mixture_optimum"] >= p["known_component_loss"] - 1e-12
            assert p["network_excess"] > -1e-4  # a mean of KL divergences (float32 network)
            assert np.isfinite(p["loss"])
            # the trainer's evaluation sample and the theory align positions alike (BOS first):
            # a shift by one position would differ by > 0.3 nats at the start
            assert abs(p["eval_sample_optimum"] - p["bayes_mixture_optimum"]) < 0.1
        assert m["fits"]["optimum_excess"]["better"] in ("power_law", "exponential")
        assert "exponent" in m["fits"]["optimum_excess"]["power_law"]
        ind = m["induction_score"][0]
        assert len(ind["steps"]) == len(ind["score"]) >= 2
        assert np.asarray(ind["score"]).shape[1:] == (2, 2)  # layers x heads
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (out / "figures" / f"{name}.pdf").is_file()
    assert results["mixtures"]["dursley_wonka"]["theory_method"] == "exact"
    assert results["mixtures"]["dursley_wonka"]["induction_score"][0]["score_at_queries"]
    assert "| dursley_wonka | 2 |" in stdout and "| mess3_12 | 12 |" in stdout
    assert "| mixture |" in (out / "README.md").read_text()


@pytest.mark.slow
def test_reproduce_icl_rerun_resumes_without_retraining(tiny_icl):
    out, _ = tiny_icl
    before = json.loads((out / "results.json").read_text())
    stamp = (out / "runs" / "dursley_wonka_seed0" / "metrics.jsonl").stat().st_mtime_ns
    code, _, err = _main(["reproduce", "icl", "--tiny", "--quiet", "--out", str(out)])
    assert code == 0, err
    after = json.loads((out / "results.json").read_text())
    assert (out / "runs" / "dursley_wonka_seed0" / "metrics.jsonl").stat().st_mtime_ns == stamp
    assert after["mixtures"] == before["mixtures"]
    code, _, err = _main(["reproduce", "icl", "--tiny", "--quiet", "--out", str(out), "--seeds", "2"])
    assert code != 0 and "different settings" in err


def _fake_run(seed, excess, optimum, steps=(0, 10, 100), scores=(0.0, 0.05, 0.8)):
    from compmech.experiments.icl import _fits
    from compmech.experiments.icl_results import Curve, Head, IclRun, InductionCurves, Transition

    loss = np.asarray(optimum) + np.asarray(excess)
    score = [[[s, 0.0]] for s in scores]  # (C, 1 layer, 2 heads)
    induction = InductionCurves(list(steps), score, score, uniform_mass=0.5,
                                best_head=Head(0, 0), best_head_score=list(scores),
                                transition=Transition(*transition_step(steps, scores)))
    return IclRun(f"r{seed}", seed, steps[-1], 1.0, loss.tolist(), list(optimum), False,
                  list(excess), _fits(excess), None, Curve(list(steps), [2.0, 1.5, 1.0]),
                  Curve([steps[-1]], [float(loss.mean())]), induction)


def _fake_theory(t):
    from compmech.experiments.icl_results import TheoryCurves

    n = len(t)
    return TheoryCurves("exact", 0, list(np.full(n, 0.8)), list(np.linspace(1.2, 0.9, n)),
                        list(0.1 * np.exp(-t / 3)), [0.0] * n, [0.0] * n)


def test_summary_averages_seeds_and_fits_the_mean_curve():
    from compmech.experiments.icl import markdown_table, summarise

    t = np.arange(1.0, 13.0)
    theory = _fake_theory(t)
    optimum = theory.bayes_mixture_optimum
    runs = [_fake_run(0, list(0.2 * t**-1.0), optimum), _fake_run(1, list(0.4 * t**-1.0), optimum)]
    m = summarise("dursley_wonka", theory, runs)
    p = m.positions
    assert p[0].network_excess == pytest.approx(0.3)
    assert p[0].network_excess_std == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert m.fits.network_excess.better == "power_law"
    assert m.fits.network_excess.power_law.exponent == pytest.approx(1.0)
    assert m.fits.optimum_excess.better == "exponential"
    assert m.fits.optimum_excess.exponential.timescale == pytest.approx(3.0)
    assert m.network_excess_exponent_per_seed == pytest.approx([1.0, 1.0])
    assert [s.transition.step for s in m.induction_score] == [100, 100]
    # the summary reads back what it writes; a run without a restricted score writes no
    # query_tokens/score_at_queries keys (as earlier versions did)
    assert type(m).from_dict(json.loads(json.dumps(m.to_dict()))) == m
    assert "query_tokens" not in runs[0].induction.to_dict()
    assert type(runs[0]).from_dict(json.loads(json.dumps(runs[0].to_dict()))) == runs[0]
    row = markdown_table({"dursley_wonka": m}).splitlines()[2]
    assert row.startswith("| dursley_wonka | 2 |") and "power_law (1 / " in row
    assert "exponential (" in row and "| 100, 100 |" in row and "0.80 ± 0.00" in row


def test_icl_settings_refuse_bad_values_round_trip_and_keep_the_old_defaults():
    from compmech.experiments import icl
    from compmech.experiments.icl_results import IclSettings

    for bad, message in [(dict(seeds=[]), "at least one seed"),
                         (dict(mixtures=["nope"]), "unknown mixtures"),
                         (dict(steps=0), "steps must be a positive integer"),
                         (dict(minutes=0.0), "minutes must be a positive number"),
                         (dict(minutes=None), "minutes must be a positive number")]:
        with pytest.raises(ValueError, match=message):
            IclSettings(**bad)
    # the budget is written as null where it does not apply, as results.json always had it
    assert IclSettings(steps=5).minutes is None and IclSettings(tiny=True).minutes is None
    for config in (IclSettings(), IclSettings(tiny=True, seeds=(1, 2), mixtures=["mess3_3"])):
        data = json.loads(json.dumps(config.to_dict()))
        assert list(data) == ["experiment", "tiny", "minutes", "steps", "seeds", "mixtures"]
        assert IclSettings.from_dict(data) == config
    # the defaults of the keywords it replaced (run_icl before the config)
    assert IclSettings() == IclSettings(experiment="icl", tiny=False, minutes=12.0, steps=None,
                                        seeds=[0], mixtures=list(icl.MIXTURES))
    assert icl.DEFAULT_MINUTES == 12.0
