"""``compmech reproduce quantum`` (Riechers, Elliott & Shai 2025): the authors' probe protocol
against a brute-force restatement, the random-network baseline, linear CKA, and the command end to
end on tiny settings."""

import itertools
import json

import jax
import numpy as np
import pytest
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from compmech.cli import main
from compmech.experiments import quantum
from compmech.experiments.quantum_probe import QuantumJobResult
from compmech.experiments.quantum_report import QuantumReport
from compmech.probing.prefix_probe import (
    PAPER_RCONDS,
    deduplicate_prefixes,
    kfold_rcond_regression,
    kfold_test_folds,
    protocol_scores,
)
from compmech.processes import get_process
from compmech.similarity import cka_matrix, linear_cka
from oracles import belief_after, word_probability
from transformer import ModelConfig, init_params, run_with_cache
from transformer.step import init_key

TOL = 1e-8


# ------------------------------------------------------------------------------ brute force
def brute_force_rows(process: str, length: int):
    """The released code's rows by explicit enumeration: words in lexicographic order, read word
    by word and position by position; a prefix's weight is the sum of ``P(word)`` over its
    occurrences, normalised; its belief from explicit matrix products."""
    hmm = get_process(process, **quantum.PROCESSES[process])
    T = np.asarray(hmm.transition_matrices)
    r = np.asarray(getattr(hmm, "right_eigenvector", np.ones(hmm.num_states)))
    eta0 = np.asarray(hmm.initial_distribution)
    mass: dict[tuple, float] = {}
    for word in itertools.product(range(hmm.vocab_size), repeat=length):
        p = word_probability(T, eta0, r, word)
        if p <= 0:
            continue
        for t in range(1, length + 1):
            mass[word[:t]] = mass.get(word[:t], 0.0) + p
    prefixes = list(mass)
    weights = np.array([mass[p] for p in prefixes])
    beliefs = np.array([belief_after(T, eta0, r, p) for p in prefixes])
    return prefixes, weights / weights.sum(), beliefs


def brute_force_probe(X, Y, w, rconds=PAPER_RCONDS):
    """The protocol in loops: scikit-learn's KFold(10, shuffle, 42); per cut-off and fold the
    weighted least-squares fit with a bias column by ``np.linalg.pinv(rcond)`` and, beside it,
    the same fit from the weighted normal equations ``(A^T W A) beta = A^T W Y`` solved on the
    eigenvectors with ``lambda > rcond^2 lambda_max`` (the same cut-off, squared); fold error
    ``sum w ||yhat - y||``; the first minimum of the mean; the final fit on all rows."""
    A = np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)

    def fit(rows, rc):
        wt = w[rows] / w[rows].sum()
        s = np.sqrt(wt)[:, None]
        beta = np.linalg.pinv(A[rows] * s, rcond=rc) @ (Y[rows] * s)
        G = (A[rows] * wt[:, None]).T @ A[rows]
        lam, V = np.linalg.eigh(G)
        keep = lam > rc**2 * lam.max()
        beta_ne = V[:, keep] @ ((V[:, keep].T @ ((A[rows] * wt[:, None]).T @ Y[rows]))
                                / lam[keep, None])
        return beta, beta_ne

    cv, ne_gap = [], 0.0
    splits = list(KFold(n_splits=10, shuffle=True, random_state=42).split(A))
    with threadpool_limits(1, user_api="blas"):  # small matrices: one thread is fastest
        for rc in rconds:
            errors = []
            for train, test in splits:
                beta, beta_ne = fit(train, rc)
                if rc >= 1e-5:  # the normal equations are exact enough only away from round-off
                    ne_gap = max(ne_gap, float(np.abs(beta - beta_ne).max()))
                errors.append(float(w[test] @ np.sqrt(((A[test] @ beta - Y[test]) ** 2).sum(1))))
            cv.append(np.mean(errors))
    best = int(np.argmin(cv))
    beta, _ = fit(np.arange(X.shape[0]), rconds[best])
    pred = A @ beta
    mse_c = w @ (pred - Y) ** 2 / w.sum()
    sst = w @ ((Y - w @ Y / w.sum()) ** 2).sum(1) / w.sum()
    return {"cv": np.array(cv), "rcond": rconds[best], "beta": beta, "pred": pred,
            "mse_c": mse_c, "mae_c": w @ np.abs(pred - Y) / w.sum(),
            "r2": 1 - mse_c.sum() / sst, "ne_gap": ne_gap}


@pytest.fixture(scope="module")
def tiny_network_case():
    """tom_quantum (a GHMM) with context 3: 84 prefixes; an untrained tiny transformer."""
    cfg = ModelConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_mlp=16, n_ctx=3, d_vocab=4)
    params = init_params(cfg, 3)
    data = quantum.ProbeData("tom_quantum", 3)
    return cfg, params, data


def test_rows_weights_beliefs_and_activations_equal_explicit_enumeration(tiny_network_case):
    cfg, params, data = tiny_network_case
    prefixes, weights, beliefs = brute_force_rows("tom_quantum", 3)
    mine = [tuple(data.prefix_words[i, : data.rows.position[i] + 1]) for i in range(data.num_rows)]
    assert mine == prefixes  # same rows in the same order (the folds depend on it)
    assert np.abs(data.weights - weights).max() < 1e-14
    assert np.abs(data.beliefs - beliefs).max() < 1e-10
    acts = quantum.layer_activations(params, cfg, data)
    for hook in ("blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "ln_final.hook_normalized"):
        alone = np.array([np.asarray(run_with_cache(params, cfg, [list(p)])[1][hook])[0, -1]
                          for p in prefixes])  # every prefix run alone
        assert np.abs(acts[hook] - alone).max() < 1e-5
    members = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "ln_final.hook_normalized"]
    assert quantum.concat_members(list(acts)[:-1]) == members
    assert np.array_equal(acts["concat"], np.concatenate([acts[m] for m in members], axis=1))


@pytest.mark.parametrize("hook", ["blocks.1.hook_resid_post", "ln_final.hook_normalized", "concat"])
def test_protocol_equals_brute_force_on_a_tiny_network(tiny_network_case, hook):
    cfg, params, data = tiny_network_case
    X = quantum.layer_activations(params, cfg, data)[hook]
    Y, w = data.beliefs, data.weights
    fit = kfold_rcond_regression(X, Y, w)
    ref = brute_force_probe(X, Y, w)
    assert ref["ne_gap"] < 1e-6  # pinv and the normal equations agree where both are exact
    assert np.abs(fit.cv_error - ref["cv"]).max() < TOL
    assert fit.rcond == ref["rcond"]
    assert np.abs(fit.predictions - ref["pred"]).max() < TOL
    assert np.abs(np.c_[fit.intercept, fit.coef].T - ref["beta"]).max() < 1e-6 * max(
        1.0, np.abs(ref["beta"]).max())
    assert np.abs(np.array(fit.scores["mse_per_coordinate"]) - ref["mse_c"]).max() < TOL
    assert np.abs(np.array(fit.scores["mae_per_coordinate"]) - ref["mae_c"]).max() < TOL
    assert abs(fit.scores["r2"] - ref["r2"]) < TOL
    assert abs(fit.scores["rmse"] - np.sqrt(ref["mse_c"].mean())) < TOL


def test_rcond_choice_matters_and_matches_brute_force():
    """A design with singular values spread over the grid: a near-copy of a column at 1e-4
    relative that carries the target, and 30 near-copies at 1e-6 that carry only noise (keeping
    them over-fits): an interior cut-off wins, and the choice agrees."""
    rng = np.random.default_rng(1)
    N = 300
    X = rng.normal(size=(N, 5))
    X = np.c_[X, X[:, 0] + 1e-4 * rng.normal(size=N), X[:, [1]] + 1e-6 * rng.normal(size=(N, 30))]
    Y = np.c_[(X[:, 5] - X[:, 0]) * 1e4, X[:, 2]] + 0.05 * rng.normal(size=(N, 2))
    w = rng.random(N)
    fit = kfold_rcond_regression(X, Y, w)
    ref = brute_force_probe(X, Y, w / w.sum())
    assert np.ptp(ref["cv"]) > 0.5 * ref["cv"].min()  # the cut-off changes the error
    assert 1e-15 < ref["rcond"] < 1e-4  # neither end of the grid wins
    assert np.abs(fit.cv_error - ref["cv"]).max() < TOL
    assert fit.rcond == ref["rcond"]
    assert np.abs(fit.predictions - ref["pred"]).max() < TOL


def test_folds_are_sklearn_kfold_and_prefix_weights_sum_occurrences():
    for n in (10, 84, 1003):
        ref = np.empty(n, int)
        for f, (_, test) in enumerate(KFold(10, shuffle=True, random_state=42).split(np.arange(n))):
            ref[test] = f
        assert np.array_equal(kfold_test_folds(n), ref)
    words = np.array([[0, 1], [0, 0], [1, 1], [0, 1]])
    rows = deduplicate_prefixes(words, np.array([0.1, 0.2, 0.3, 0.4]))
    got = {tuple(words[i, : p + 1]): m for i, p, m in zip(*rows, strict=True)}
    assert got == pytest.approx({(0,): 0.7 / 2, (0, 1): 0.5 / 2, (0, 0): 0.2 / 2, (1,): 0.3 / 2,
                                 (1, 1): 0.3 / 2})
    assert [tuple(words[i, : p + 1]) for i, p in zip(rows.word_index, rows.position, strict=True)] \
        == [(0,), (0, 1), (0, 0), (1,), (1, 1)]
    with pytest.raises(ValueError, match="non-negative"):
        deduplicate_prefixes(words, -np.ones(4))


def test_r2_is_pooled_and_not_fooled_by_a_constant_coordinate():
    """A GHMM belief has a coordinate constant up to round-off: the mean of per-coordinate R^2
    explodes there, the pooled R^2 does not; predicting the weighted mean scores 0, and the
    released code's formula is not an R^2 (it is not 0 there)."""
    rng = np.random.default_rng(0)
    Y = np.c_[np.ones(200) + 1e-17 * rng.normal(size=200), rng.normal(size=(200, 2))]
    w = rng.random(200)
    pred = Y + 0.1 * rng.normal(size=Y.shape)
    pred[:, 0] = 1.0 + 1e-9
    s = protocol_scores(pred, Y, w)
    assert 0.9 < s["r2"] < 1.0 and 0.9 < s["invariant_r2"] < 1.0
    mean = np.broadcast_to((w / w.sum()) @ Y, Y.shape)
    assert abs(protocol_scores(mean, Y, w)["r2"]) < 1e-9
    assert abs(protocol_scores(mean, Y, w)["r2_released_code"]) > 1e-3


# ------------------------------------------------------------------------------ baselines
def test_random_networks_are_independent_initialisations():
    cfg = quantum.model_config("lstm", 3, tiny=True)
    keys = quantum.random_network_keys(0, 3)
    leaves = [np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(
        init_params(cfg, k))]) for k in keys]
    trained_init = np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(
        init_params(cfg, init_key(0)))])  # what training with seed 0 starts from
    for i, j in itertools.combinations(range(3), 2):
        assert np.abs(leaves[i] - leaves[j]).max() > 1e-2
    assert all(np.abs(v - trained_init).max() > 1e-2 for v in leaves)
    other = quantum.random_network_keys(1, 1)[0]
    assert not np.array_equal(np.asarray(jax.random.key_data(other)),
                              np.asarray(jax.random.key_data(keys[0])))



def test_random_networks_are_split_over_seeds_not_multiplied():
    for total in (1, 2, 31, 32, 33):
        for n_seeds in (1, 2, 3, 5):
            per = quantum.random_networks_per_seed(total, n_seeds)
            assert per * n_seeds >= total > (per - 1) * n_seeds
    # the seeds' jobs draw disjoint keys, so the pool holds per * n_seeds distinct networks
    pool = [np.asarray(jax.random.key_data(k)).tobytes()
            for seed in range(3) for k in quantum.random_network_keys(seed, 11)]
    assert len(set(pool)) == 33


# ------------------------------------------------------------------------------ CKA
def test_cka_identity_invariances_and_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    w = rng.random(500)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    for weights in (None, w):
        assert linear_cka(X, X, weights) == pytest.approx(1.0, abs=1e-12)
        assert linear_cka(X, 3.7 * X @ Q + 5.0, weights) == pytest.approx(1.0, abs=1e-12)
        Y = np.tanh(X[:, :3]) + 0.3 * rng.normal(size=(500, 3))
        Q3, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        assert linear_cka(X, Y @ Q3 * 0.2, weights) == pytest.approx(
            linear_cka(X, Y, weights), abs=1e-12)
    # adversarial: an anisotropic rescaling is not a similarity transform, and CKA sees it
    Z = rng.normal(size=(500, 6))
    # (for white Z, CKA(Z, Z D) ~ tr D^2 / (sqrt(d) ||D^2||_F) = 905 / (sqrt 6 * 900) ~ 0.41)
    assert linear_cka(Z, Z * np.array([1, 1, 1, 1, 1, 30.0])) < 0.5
    # independent noise is nearly orthogonal
    assert linear_cka(rng.normal(size=(5000, 3)), rng.normal(size=(5000, 4))) < 0.01
    # an integer weight is a repeated row
    idx = np.repeat(np.arange(500), 3 * (np.arange(500) % 2) + 1)
    W = (3 * (np.arange(500) % 2) + 1).astype(float)
    Y = rng.normal(size=(500, 2)) + X[:, :2]
    assert linear_cka(X, Y, W) == pytest.approx(linear_cka(X[idx], Y[idx]), abs=1e-12)
    m = cka_matrix({"a": X, "b": Y})
    assert m["a"]["b"] == m["b"]["a"] and m["a"]["a"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same N"):
        linear_cka(X, Y[:10])


# ------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_reproduce_quantum_tiny_end_to_end(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["reproduce", "quantum", "--tiny", "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "results.json").read_text())
    # the typed records read what they wrote, field for field (names and nesting unchanged)
    assert QuantumReport.read(out / "results.json").to_dict() == report
    for path in sorted((out / "results").glob("*.json")):
        assert QuantumJobResult.read(path).to_dict() == json.loads(path.read_text())
    fanizza = report["results"]["fanizza"]
    assert set(fanizza["architectures"]) == set(quantum.ARCHS)
    for arch, a in fanizza["architectures"].items():
        layers = quantum.probe_layers(quantum.model_config(arch, 2, tiny=True)) + ["concat"]
        assert list(a["layers"]) == layers
        for s in a["layers"].values():
            assert -1 <= s["r2"] <= 1 and s["rmse"] > 0 and s["rcond"] in PAPER_RCONDS
            assert s["random_networks"]["n"] == quantum.TINY_RANDOM_NETWORKS
            assert s["random_networks"]["p95"] >= s["random_networks"]["mean"] - 1e-12
            assert set(s["markov3"]) >= {"r2", "rmse", "rcond"}
        if arch != "transformer":  # the same one-hot input
            assert a["layers"]["input"]["r2"] == pytest.approx(
                fanizza["architectures"]["lstm"]["layers"]["input"]["r2"], abs=1e-12)
    cka = fanizza["cka"]["matrix"]
    assert set(cka) == set(quantum.ARCHS) and cka["gru"]["gru"] == pytest.approx(1.0)
    assert 0 <= cka["lstm"]["transformer"] <= 1
    text = (out / "README.md").read_text()
    assert "not public in our sources" in text and "| FRDN (fanizza) | transformer |" in text
    assert (out / "quantum_layers.png").exists() and (out / "quantum_cka.png").exists()
    # resumable: a second invocation computes nothing
    assert main(["reproduce", "quantum", "--tiny", "--out", str(out), "--quiet"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["environment"]["computed_now"] == []
    assert again["results"]["fanizza"]["architectures"]["gru"]["layers"]["concat"]["r2"] == \
        fanizza["architectures"]["gru"]["layers"]["concat"]["r2"]


def test_cli_refuses_bad_combinations(tmp_path, capsys):
    assert main(["reproduce", "quantum", "--tiny", "--steps", "5", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "quantum", "--steps", "5", "--minutes", "1", "--out",
                 str(tmp_path)]) == 2
    assert main(["reproduce", "mess3", "--random-networks", "3", "--out", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="unknown processes"):
        quantum.run_quantum(tmp_path, quantum.QuantumConfig(processes=["nope"], tiny=True))


def test_config_refuses_bad_values_round_trips_and_keeps_the_old_defaults():
    Config = quantum.QuantumConfig
    for bad, message in [(dict(archs=["cnn"]), "unknown processes or architectures"),
                         (dict(random_networks=0), "random_networks must be >= 1"),
                         (dict(minutes=-1.0), "minutes must be a positive number"),
                         (dict(seeds=()), "at least one seed")]:
        with pytest.raises(ValueError, match=message):
            Config(**bad)
    Config(minutes=None, steps=5)  # steps set the training: no budget needed
    config = Config(processes=["fanizza"], archs=["gru", "rnn"], steps=7, seeds=[1, 2],
                    random_networks=3, tiny=True)
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.seeds == (1, 2)
    # the defaults of the keywords it replaced (run_quantum before the config)
    assert Config() == Config(processes=tuple(quantum.PROCESSES), archs=quantum.ARCHS,
                              minutes=quantum.DEFAULT_MINUTES, steps=None, seeds=(0,),
                              random_networks=quantum.DEFAULT_RANDOM_NETWORKS, tiny=False)


def test_a_job_file_of_another_version_is_refused_in_one_line(tmp_path):
    """A finished job's file whose fields are not this version's (here: one without ``layers``)
    is refused with one line naming the command and the remedy, not summarised wrongly."""
    from compmech.experiments.quantum_probe import job_path

    cfg = quantum.train_config("fanizza", "lstm", seed=0, steps=None, minutes_per_model=None,
                               tiny=True)
    path = job_path(tmp_path, "fanizza_lstm_seed0")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"name": "fanizza_lstm_seed0", "process": "fanizza"}))
    with pytest.raises(ValueError, match="another version of `compmech reproduce quantum`") as err:
        quantum.run_job(tmp_path, "fanizza", "lstm", 0, cfg, 1)
    assert "\n" not in str(err.value) and "missing key" in str(err.value)
    assert not (tmp_path / "runs").exists()  # nothing trained


def _scores(r2, rcond=1e-5):
    from compmech.experiments.quantum_probe import CoreScores, PrefixScores

    return PrefixScores(r2, 1 - r2, 0.0, r2, 0.0, 0.0, 0.0, 1.0, [0.0], [0.0], [0.0], rcond, 3,
                        CoreScores(r2 - 0.01, 1 - r2, r2))


def test_layer_summary_averages_seeds_and_pools_their_random_networks():
    """Two seeds' jobs: mean and sample std over seeds, each seed's rcond, and the random
    networks of both jobs pooled (mean and 95th percentile over all of them, not per seed)."""
    from compmech.experiments.quantum_probe import JobLayer, QuantumJobResult, RandomScores
    from compmech.experiments.quantum_report import layer_summary

    randoms = ([0.1, 0.2, 0.3], [0.4, 0.5, 0.9])
    jobs = [QuantumJobResult(f"j{s}", "fanizza", "lstm", s, {}, 10, 0, 100, 1000, 0.01, 1.0, 1.0,
                             84, 3, {"concat": JobLayer(_scores(r2, rc), _scores(0.3),
                                                        _scores(0.05), RandomScores(
                                                            list(rand), [0.5] * 3, list(rand),
                                                            [1e-5] * 3))})
            for s, r2, rc, rand in ((0, 0.8, 1e-5, randoms[0]), (1, 0.9, 1e-3, randoms[1]))]
    s = layer_summary(jobs, "concat")
    assert s.r2 == pytest.approx(0.85) and s.r2_std == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert s.rcond_per_seed == [1e-5, 1e-3] and s.rcond == 1e-5
    assert s.r2_heldout == pytest.approx(0.84) and s.initial.r2 == pytest.approx(0.05)
    assert s.markov3.r2 == pytest.approx(0.3) and s.markov3.r2_std == pytest.approx(0.0)
    pooled = np.concatenate(randoms)
    assert s.random_networks.n == 6 and s.random_networks.mean == pytest.approx(pooled.mean())
    assert s.random_networks.p95 == pytest.approx(np.percentile(pooled, 95))
    assert type(s).from_dict(json.loads(json.dumps(s.to_dict()))) == s
    one = layer_summary(jobs[:1], "concat")
    assert one.r2_std is None and "r2_std" in one.to_dict()  # absent spread is null, not missing
