"""The probe's protocol options: probability weighting, k-fold cross-validation, the rcond sweep and
the Markov-order-k baselines, against scikit-learn and brute-force constructions."""

import itertools
import json

import numpy as np
import pytest

import compmech
from compmech.inference import log_probability
from compmech.probing import crossval
from compmech.probing.crossval import cross_validated_probe, rcond_sweep
from compmech.probing.inputs import (
    category_mean_scores,
    markov_codes,
    markov_features,
    probe_inputs,
    sequence_folds,
)
from compmech.probing.linear import RCOND_GRID, SCORE_DEFINITIONS, BeliefProbe, regression_scores


def _planted(n_seq=400, P=4, d=6, S=3, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_seq, P, d)) * 2.0 + 3.0
    Y = X @ rng.normal(size=(d, S)) + rng.normal(size=S) + noise * rng.normal(size=(n_seq, P, S))
    return X, Y


# ------------------------------------------------------------------------------ weighting
def test_probability_weights_give_each_prefix_its_probability():
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 4, weighting="probability")
    w = inputs.weights
    assert w.shape == (81, 4)
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-12)  # every position weighs 1 in total
    for t in range(4):
        prefixes, inverse = np.unique(inputs.tokens[:, :t + 1], axis=0, return_inverse=True)
        totals = np.bincount(inverse.reshape(-1), weights=w[:, t])
        np.testing.assert_allclose(totals, np.exp(log_probability(hmm, prefixes)), atol=1e-12)
    assert probe_inputs(hmm, 4).weights is None
    with pytest.raises(ValueError, match="weighting"):
        probe_inputs(hmm, 4, weighting="frequency")


def test_weighted_ols_equals_sklearn_with_sample_weight():
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error, r2_score

    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 5, weighting="probability")
    rng = np.random.default_rng(0)
    X = np.tanh(inputs.beliefs @ rng.normal(size=(3, 7)) + 0.3 * rng.normal(size=(243, 5, 7)))
    folds = sequence_folds(243, 5, seed=1)
    res = cross_validated_probe(X, inputs.beliefs, folds, weights=inputs.weights, train_folds=4,
                                spread=False, shuffle=False)
    tr, te = folds != 4, folds == 4  # train on folds 0..3
    w_tr, w_te = inputs.weights[tr].reshape(-1), inputs.weights[te].reshape(-1)
    ref = LinearRegression().fit(X[tr].reshape(-1, 7), inputs.beliefs[tr].reshape(-1, 3),
                                 sample_weight=w_tr)
    np.testing.assert_allclose(res.probe.coef_, ref.coef_, atol=1e-10)
    np.testing.assert_allclose(res.probe.intercept_, ref.intercept_, atol=1e-10)
    pred, true = ref.predict(X[te].reshape(-1, 7)), inputs.beliefs[te].reshape(-1, 3)
    assert res.scores.mse == pytest.approx(mean_squared_error(true, pred, sample_weight=w_te),
                                              rel=1e-9)
    assert res.scores.r2 == pytest.approx(r2_score(true, pred, sample_weight=w_te), rel=1e-9)
    direct = BeliefProbe().fit(X[tr].reshape(-1, 7), inputs.beliefs[tr].reshape(-1, 3), w_tr)
    np.testing.assert_allclose(direct.coef_, ref.coef_, atol=1e-10)


def test_weighted_scores_do_not_scale_with_the_number_of_points():
    X, Y = _planted()
    w = np.random.default_rng(2).uniform(size=Y.shape[:2])
    folds = sequence_folds(400, 5, seed=0)
    base = cross_validated_probe(X, Y, folds, weights=w, shuffle=False)
    scaled = cross_validated_probe(X, Y, folds, weights=1000 * w, shuffle=False)
    twice = cross_validated_probe(np.concatenate([X, X]), np.concatenate([Y, Y]),
                                  np.concatenate([folds, folds]), weights=np.concatenate([w, w]),
                                  shuffle=False)
    for other in (scaled, twice):
        for key in ("mse", "r2", "mean_distance"):
            assert getattr(other.scores, key) == pytest.approx(getattr(base.scores, key), rel=1e-9)
    assert {"mse", "r2", "rmse", "mean_distance"} <= set(SCORE_DEFINITIONS)


# ------------------------------------------------------------------------------ k-fold
def test_k_fold_pooled_scores_equal_the_brute_force_cross_validation():
    from sklearn.metrics import mean_squared_error, r2_score

    X, Y = _planted(noise=0.3, seed=3)
    w = np.random.default_rng(4).uniform(0.1, 1, size=Y.shape[:2])
    k = 4
    folds = sequence_folds(400, k, seed=5)
    res = cross_validated_probe(X, Y, folds, weights=w, train_folds=k - 1, spread=True,
                                shuffle=False)
    preds, trues, ws = [], [], []
    for f in range(k):
        tr, te = folds != f, folds == f
        p = BeliefProbe().fit(X[tr].reshape(-1, 6), Y[tr].reshape(-1, 3), w[tr].reshape(-1))
        preds.append(p.predict(X[te].reshape(-1, 6)))
        trues.append(Y[te].reshape(-1, 3))
        ws.append(w[te].reshape(-1))
    pred, true, ww = np.concatenate(preds), np.concatenate(trues), np.concatenate(ws)
    assert res.pooled_scores.mse == pytest.approx(mean_squared_error(true, pred, sample_weight=ww),
                                                     rel=1e-9)
    assert res.pooled_scores.r2 == pytest.approx(r2_score(true, pred, sample_weight=ww), rel=1e-9)
    assert res.fold_mse.shape == (k,)


# ------------------------------------------------------------------------------ rcond sweep
def test_rcond_sweep_matches_explicit_fits_at_a_cut_off_that_drops_nothing(monkeypatch):
    X, Y = _planted(noise=0.2, seed=6)
    folds = sequence_folds(400, 5, seed=0)
    monkeypatch.setattr(crossval, "INNER_FOLDS", 3)
    sweep = rcond_sweep(X, Y, folds, train_folds=4, rconds=(1e-7, 0.999), seed=0)
    plain = cross_validated_probe(X, Y, folds, train_folds=4, spread=False, shuffle=False)
    assert sweep.test_mse[0, 0] == pytest.approx(plain.scores.mse, rel=1e-8)
    # the inner validation, by brute force: train folds 0..3 split into 3 inner folds
    inner = sequence_folds(400, 3, seed=0 + 7919)
    train = folds != 4
    sse, wsum = 0.0, 0.0
    for j in range(3):
        fit, val = train & (inner != j), train & (inner == j)
        p = BeliefProbe(rcond=1e-14).fit(X[fit].reshape(-1, 6), Y[fit].reshape(-1, 3))
        sse += ((p.predict(X[val].reshape(-1, 6)) - Y[val].reshape(-1, 3)) ** 2).sum()
        wsum += val.sum() * 4 * 3
    assert sweep.inner_mse[0, 0] == pytest.approx(sse / wsum, rel=1e-8)
    # a cut-off just below the largest singular value throws most of the fit away
    assert sweep.inner_mse[0, 1] > 10 * sweep.inner_mse[0, 0]
    assert sweep.chosen == [1e-7]
    assert sweep.scores.mse == pytest.approx(plain.scores.mse, rel=1e-8)


def test_rcond_sweep_prefers_a_cut_off_when_a_direction_is_noise():
    """Two nearly collinear features whose tiny difference is pure noise: the full fit chases it, a
    cut-off above its singular value does better on held-out data, and the sweep picks one."""
    rng = np.random.default_rng(7)
    n, P = 60, 3
    z = rng.normal(size=(n, P, 1))
    noise = rng.normal(size=(n, P, 8))
    X = np.concatenate([z, z + 1e-4 * noise], axis=-1)
    Y = np.concatenate([z, -z], axis=-1) + 0.3 * rng.normal(size=(n, P, 2))
    folds = sequence_folds(n, 5, seed=0)
    sweep = rcond_sweep(X, Y, folds, train_folds=1, spread=True, rconds=RCOND_GRID, seed=1)
    assert min(sweep.chosen) > 1e-5  # above the noise directions (about 1e-4 x 0.7)
    assert sweep.pooled.mse < sweep.test_mse[:, 0].mean()


# ------------------------------------------------------------------------------ Markov order
def _brute_force_markov(tokens, V, k):
    n, P = tokens.shape
    out = np.zeros((n, P, (V + 1) ** k))
    index = {w: i for i, w in enumerate(itertools.product(range(V + 1), repeat=k))}
    for s in range(n):
        for t in range(P):
            window = tuple(int(tokens[s, t - j]) if t - j >= 0 else V for j in range(k))
            # window[j] is x_{t-j}; markov_codes weighs x_{t-j} by (V+1)^j: lexicographic order
            # of the reversed window
            out[s, t, index[window[::-1]]] = 1.0
    return out


@pytest.mark.parametrize("k", [1, 2, 3])
def test_markov_features_equal_a_brute_force_construction(k):
    tokens = np.random.default_rng(k).integers(0, 3, size=(20, 6))
    np.testing.assert_array_equal(markov_features(tokens, 3, k), _brute_force_markov(tokens, 3, k))
    codes = markov_codes(tokens, 3, k)
    assert codes.max() < 4**k and codes[:, 0].min() >= 0


def test_markov_baseline_is_the_least_squares_probe_on_its_one_hot_features():
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 5, weighting="probability")
    folds = sequence_folds(243, 5, seed=0)
    for k in (1, 2):
        ours = category_mean_scores(markov_codes(inputs.tokens, 3, k), inputs.beliefs, folds,
                                    range(4), weights=inputs.weights)
        ols = cross_validated_probe(markov_features(inputs.tokens, 3, k), inputs.beliefs, folds,
                                    weights=inputs.weights, train_folds=4, spread=False,
                                    shuffle=False)
        for key in ("mse", "r2", "mean_distance"):
            assert getattr(ours, key) == pytest.approx(getattr(ols.scores, key), rel=1e-8)
    # seeing more tokens helps on enumerated Mess3 (every window of 3 occurs in training)
    mses = [category_mean_scores(markov_codes(inputs.tokens, 3, k), inputs.beliefs, folds,
                                 range(4), weights=inputs.weights).mse for k in (1, 2, 3)]
    assert mses[0] > mses[1] > mses[2] > 0


def test_category_mean_of_unseen_categories_is_the_training_mean():
    codes = np.array([[0, 1], [0, 1], [2, 2]])
    beliefs = np.array([[[1.0], [3.0]], [[1.0], [3.0]], [[5.0], [7.0]]])
    s = category_mean_scores(codes, beliefs, np.array([0, 0, 1]), [0])
    pred = np.array([[2.0], [2.0]])  # codes 2 never trained on: mean of the training points
    assert s.mse == pytest.approx(regression_scores(pred, np.array([[5.0], [7.0]])).mse)


# ------------------------------------------------------------------------------ the pipeline
@pytest.fixture(scope="module")
def gru_run(tmp_path_factory):
    import transformer
    from transformer import GRUConfig, TrainConfig

    out = tmp_path_factory.mktemp("protocols") / "run"
    cfg = TrainConfig(process="mess3", model=GRUConfig(n_layers=1, d_hidden=8, n_ctx=5, d_vocab=4),
                      bos=True, steps=40, batch_size=32, lr=1e-2, warmup_steps=5, eval_every=40,
                      log_every=20, steps_per_call=20)
    transformer.train(cfg, out, progress=False)
    return out


def test_pipeline_probe_with_probability_weights_k_folds_and_the_sweep(gru_run):
    import transformer
    from compmech.probing.config import ProbeConfig
    from compmech.probing.data import probe_data
    from compmech.probing.run import probe_run

    run = transformer.load_run(gru_run)
    data = probe_data(run, weighting="probability", n_folds=4)
    assert data.weights.shape == (81, 5)  # 3^4 words after the BOS
    np.testing.assert_allclose(data.weights.sum(0), 1.0, atol=1e-12)
    report = probe_run(gru_run, ProbeConfig(checkpoints="last", seed=0, weighting="probability",
                                            folds=4, rcond_sweep=True),
                       force=True, progress=False)
    proto = report.protocol
    assert proto.kfold and proto.n_folds == 4 and proto.weighting_option == "probability"
    assert set(proto.definitions) >= {"mse", "r2"} and proto.markov_orders == [1, 2, 3]
    head = report.headline
    assert head.mse_test == pytest.approx(head.mse_pooled) and head.train_folds == 3
    assert len(head.mse_folds) == 4
    assert {"markov_1", "markov_2", "markov_3", "onehot", "untrained"} <= set(head.baselines)
    # the BOS is one of the k tokens: the last 2 inputs at position t are (x_{t-1}, x_t)
    assert head.baselines["markov_1"] >= head.baselines["markov_2"] >= head.baselines["markov_3"]
    reg = head.regularisation
    assert len(reg.chosen_rcond) == 4 and set(reg.chosen_rcond) <= set(RCOND_GRID)
    saved = json.loads((gru_run / "probe.json").read_text())
    assert saved["hooks"][report.headline_hook]["regularisation"]["rconds"] == list(RCOND_GRID)


def test_cli_probe_protocol_flags(gru_run, capsys):
    from compmech.cli import main

    assert main(["probe", str(gru_run), "--folds", "3", "--weighting", "probability",
                 "--checkpoints", "last", "--quiet", "--force"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation" in out and "Markov order k" in out
    assert main(["probe", str(gru_run), "--folds", "3", "--split", "20/80", "--force"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["probe", str(gru_run), "--folds", "1", "--force"]) == 2
