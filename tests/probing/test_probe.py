"""The belief probe: exact recovery, equivalence with scikit-learn, the split, the controls."""

import numpy as np
import pytest

import compmech
from compmech.probing import crossval
from compmech.probing.crossval import affine_subspace_projection, cross_validated_probe, predict_features
from compmech.probing.inputs import (
    category_mean_scores,
    concatenated,
    distinct_prefix_weights,
    markov_codes,
    onehot_features,
    probe_inputs,
    random_features,
    sequence_folds,
)
from compmech.probing.linear import BeliefProbe, regression_scores


def _planted(n_seq=600, P=5, d=12, S=3, seed=0, noise=0.0):
    """Random features, beliefs that are an exact affine image of them (plus optional noise)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_seq, P, d)).astype(np.float32) * 3.0 + 5.0  # offset: intercept matters
    W = rng.normal(size=(d, S))
    b = rng.normal(size=S)
    Y = X.astype(np.float64) @ W + b + noise * rng.normal(size=(n_seq, P, S))
    return X, Y, W, b


# ----------------------------------------------------------------------------------- estimator
def test_probe_recovers_planted_affine_map_exactly():
    X, Y, W, b = _planted()
    probe = BeliefProbe().fit(X.reshape(-1, X.shape[-1]), Y.reshape(-1, 3))
    np.testing.assert_allclose(probe.coef_, W.T, atol=1e-9)
    np.testing.assert_allclose(probe.intercept_, b, atol=1e-8)
    assert regression_scores(probe.predict(X.reshape(-1, 12)), Y.reshape(-1, 3)).mse < 1e-20


def test_probe_matches_sklearn_linear_regression_with_weights():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 7))
    y = rng.dirichlet(np.ones(3), size=500)
    w = rng.uniform(0.1, 2.0, size=500)
    ours = BeliefProbe().fit(X, y, sample_weight=w)
    ref = LinearRegression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-10)
    assert ours.score(X, y, w) == pytest.approx(ref.score(X, y, w), abs=1e-10)
    nointercept = BeliefProbe(fit_intercept=False).fit(X, y)
    ref0 = LinearRegression(fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(nointercept.coef_, ref0.coef_, atol=1e-10)
    np.testing.assert_allclose(nointercept.intercept_, 0.0)


def test_probe_handles_collinear_features_like_lstsq():
    """A LayerNorm output sums to zero: the normal matrix is singular; we give the lstsq solution."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 6))
    X -= X.mean(1, keepdims=True)  # rows sum to zero, like ln_final.hook_normalized
    y = rng.dirichlet(np.ones(3), size=400)
    probe = BeliefProbe().fit(X, y)
    A = np.hstack([X, np.ones((400, 1))])
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    np.testing.assert_allclose(probe.predict(X), A @ beta, atol=1e-10)


def test_regression_scores_match_sklearn_metrics():
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(3)
    y = rng.dirichlet(np.ones(3), size=300)
    pred = y + 0.05 * rng.normal(size=y.shape)
    w = rng.uniform(size=300)
    s = regression_scores(pred, y, w)
    assert s.mse == pytest.approx(mean_squared_error(y, pred, sample_weight=w), rel=1e-12)
    assert s.r2 == pytest.approx(r2_score(y, pred, sample_weight=w), rel=1e-12)
    assert s.rmse == pytest.approx(np.sqrt(s.mse))
    assert s.mean_distance == pytest.approx(np.average(np.linalg.norm(pred - y, axis=1), weights=w))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: BeliefProbe().fit(np.ones((3, 2, 2)), np.ones((3, 3))), "2-D"),
        (lambda: BeliefProbe().fit(np.ones((3, 2)), np.ones((4, 3))), "rows"),
        (lambda: BeliefProbe().fit(np.ones((3, 2)), np.ones((3, 3)), [1, -1, 1]), "non-negative"),
        (lambda: BeliefProbe().predict(np.ones((3, 2))), "not fitted"),
        (lambda: BeliefProbe().fit(np.ones((3, 2)), np.ones((3, 3))).predict(np.ones((3, 5))), "columns"),
        (lambda: sequence_folds(3, 5), "cannot be split"),
    ],
)
def test_bad_input_raises_clear_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------------------- split
def test_folds_are_balanced_seeded_and_split_by_sequence():
    folds = sequence_folds(59_049, 5, seed=7)
    counts = np.bincount(folds)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(folds, sequence_folds(59_049, 5, seed=7))
    assert not np.array_equal(folds, sequence_folds(59_049, 5, seed=8))
    # 20% train / 80% test, and every sequence's positions fall on one side only: the split is a
    # per-sequence label broadcast over positions, so train and test point sets are disjoint by
    # sequence index.
    P = 10
    point_sequence = np.repeat(np.arange(59_049), P)
    point_train = np.repeat(folds == 0, P)
    assert set(point_sequence[point_train]).isdisjoint(point_sequence[~point_train])
    assert abs(point_train.mean() - 0.2) < 1e-4


def test_cross_validated_probe_trains_on_one_fold_and_tests_on_the_rest(monkeypatch):
    """The held-out score equals a direct fit on fold 0's sequences scored on the other folds'
    (read in chunks of 37 sequences, so that chunks straddle folds)."""
    X, Y, _, _ = _planted(noise=0.3, seed=4)
    folds = sequence_folds(X.shape[0], 5, seed=0)
    monkeypatch.setattr(crossval, "CHUNK_SEQUENCES", 37)
    res = cross_validated_probe(X, Y, folds)
    tr, te = folds == 0, folds != 0
    direct = BeliefProbe().fit(X[tr].reshape(-1, 12), Y[tr].reshape(-1, 3))
    expected = regression_scores(direct.predict(X[te].reshape(-1, 12)), Y[te].reshape(-1, 3))
    for key in ("mse", "rmse", "r2", "mean_distance"):
        assert getattr(res.scores, key) == pytest.approx(getattr(expected, key), rel=1e-10), key
    np.testing.assert_allclose(res.probe.coef_, direct.coef_, atol=1e-10)
    assert res.n_train == tr.sum() * 5 and res.n_test == te.sum() * 5
    # the spread: fold f trained alone, tested on the others
    for f in range(5):
        p = BeliefProbe().fit(X[folds == f].reshape(-1, 12), Y[folds == f].reshape(-1, 3))
        mse = regression_scores(p.predict(X[folds != f].reshape(-1, 12)), Y[folds != f].reshape(-1, 3)).mse
        assert res.fold_mse[f] == pytest.approx(mse, rel=1e-10)
    assert res.train_mse < res.scores.mse


def test_planted_map_gives_zero_held_out_error():
    X, Y, _, _ = _planted(seed=5)
    res = cross_validated_probe(X, Y, sequence_folds(X.shape[0], 5, seed=1))
    assert res.scores.mse < 1e-18
    assert res.scores.r2 == pytest.approx(1.0, abs=1e-12)
    assert np.all(res.fold_mse < 1e-18)


def test_shuffle_control_scores_about_the_belief_variance():
    """Permuting belief rows across points destroys the map: predictions collapse to the centroid."""
    X = np.random.default_rng(6).normal(size=(8000, 5, 8)).astype(np.float32)
    Y = np.exp(X[..., :3].astype(np.float64))
    Y /= Y.sum(-1, keepdims=True)  # belief-like targets, a smooth function of X
    res = cross_validated_probe(X, Y, sequence_folds(8000, 5, seed=2), shuffle_seed=3)
    var = res.belief_variance
    assert res.scores.mse < 0.5 * var
    # chance alignment of the shuffled probe with the signal moves it by O(d / n_train)
    assert res.shuffle_scores.mse == pytest.approx(var, rel=0.01)
    assert abs(res.shuffle_scores.r2) < 0.01
    shuffled_pred = res.shuffle_probe.predict(X.reshape(-1, 8))
    np.testing.assert_allclose(shuffled_pred.mean(0), Y.reshape(-1, 3).mean(0), atol=0.01)
    assert shuffled_pred.std(0).max() < 0.1 * np.sqrt(var)  # collapsed onto the centroid
    # direct check: fit to permuted rows, score against the true test beliefs
    flat = Y.reshape(-1, 3)
    perm = flat[np.random.default_rng(3).permutation(flat.shape[0])].reshape(Y.shape)
    folds = sequence_folds(8000, 5, seed=2)
    p = BeliefProbe().fit(X[folds == 0].reshape(-1, 8), perm[folds == 0].reshape(-1, 3))
    direct = regression_scores(p.predict(X[folds != 0].reshape(-1, 8)), Y[folds != 0].reshape(-1, 3))
    assert res.shuffle_scores.mse == pytest.approx(direct.mse, rel=1e-10)


def test_weighted_cross_validation_matches_direct_weighted_fit():
    X, Y, _, _ = _planted(noise=0.2, seed=8)
    w = np.random.default_rng(0).uniform(size=Y.shape[:2])
    folds = sequence_folds(X.shape[0], 5, seed=0)
    res = cross_validated_probe(X, Y, folds, weights=w, shuffle=False, spread=False)
    tr, te = folds == 0, folds != 0
    p = BeliefProbe().fit(X[tr].reshape(-1, 12), Y[tr].reshape(-1, 3), w[tr].reshape(-1))
    expected = regression_scores(p.predict(X[te].reshape(-1, 12)), Y[te].reshape(-1, 3), w[te].reshape(-1))
    assert res.scores.mse == pytest.approx(expected.mse, rel=1e-10)
    assert res.scores.r2 == pytest.approx(expected.r2, rel=1e-10)
    assert res.fold_mse.shape == (1,)


def test_concatenated_features_equal_the_explicit_concatenation(monkeypatch):
    X, Y, _, _ = _planted(noise=0.1, seed=9)
    A, B = X[..., :5], X[..., 5:]
    folds = sequence_folds(X.shape[0], 5, seed=0)
    eager = cross_validated_probe(X, Y, folds)
    monkeypatch.setattr(crossval, "CHUNK_SEQUENCES", 50)
    lazy = cross_validated_probe(concatenated([A, B]), Y, folds)
    assert lazy.scores.mse == pytest.approx(eager.scores.mse, rel=1e-10)
    np.testing.assert_allclose(predict_features(lazy.probe, concatenated([A, B])),
                               predict_features(eager.probe, X), atol=1e-10)


# ----------------------------------------------------------------------------------- baselines
def test_onehot_baseline_predicts_the_mean_belief_per_token_and_position():
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 4)
    F = onehot_features(inputs.tokens, 3)
    assert F.shape == (81, 4, 12) and np.all(F.sum(-1) == 1)
    probe = BeliefProbe().fit(F.reshape(-1, 12), inputs.beliefs.reshape(-1, 3))
    pred = probe.predict(F.reshape(-1, 12)).reshape(81, 4, 3)
    for t in range(4):
        for v in range(3):
            sel = inputs.tokens[:, t] == v
            mean = inputs.beliefs[sel, t].mean(0)
            np.testing.assert_allclose(pred[sel, t], np.broadcast_to(mean, (sel.sum(), 3)), atol=1e-10)


def test_random_features_are_seeded_unit_noise_independent_of_chunking():
    R = random_features((500, 4), 16, seed=3)
    assert R.shape == (500, 4, 16)
    full = R(np.arange(500))
    assert full.shape == (500, 4, 16) and full.dtype == np.float32
    np.testing.assert_array_equal(full[[7, 3]], R(np.array([7, 3])))
    np.testing.assert_array_equal(full, random_features((500, 4), 16, seed=3)(np.arange(500)))
    assert not np.array_equal(full, random_features((500, 4), 16, seed=4)(np.arange(500)))
    flat = full.reshape(-1, 16).astype(np.float64)
    assert abs(flat.mean()) < 0.02 and abs(flat.std() - 1) < 0.02
    corr = np.corrcoef(flat.T)
    assert np.abs(corr - np.eye(16)).max() < 5 / np.sqrt(flat.shape[0])  # 5 sigma
    from scipy import stats

    assert stats.kstest(flat[:, 5], "uniform", args=(-np.sqrt(3), 2 * np.sqrt(3))).pvalue > 1e-3
    odd = random_features((10, 2), 5, seed=0)(np.arange(10))
    assert odd.shape == (10, 2, 5)


# -------------------------------------------------------------------------------------- inputs
def test_probe_inputs_enumerate_every_possible_word_unweighted():
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 5)
    assert inputs.protocol == "enumerated" and inputs.weights is None
    assert inputs.tokens.shape == (243, 5) and inputs.beliefs.shape == (243, 5, 3)
    np.testing.assert_allclose(inputs.beliefs, compmech.filter_beliefs(hmm, inputs.tokens).beliefs)
    # a process with forbidden words keeps only words of nonzero probability
    z1r = probe_inputs(compmech.get_process("z1r"), 6)
    assert np.all(np.isfinite(z1r.beliefs))
    assert np.all(compmech.log_probability(compmech.get_process("z1r"), z1r.tokens) > -np.inf)
    assert len(z1r.tokens) < 2**6


def test_sampled_inputs_weight_each_distinct_prefix_once_by_probability():
    hmm = compmech.get_process("mess3")
    inputs = probe_inputs(hmm, 4, max_points=10, num_sequences=500, seed=1)
    assert inputs.protocol == "sampled"
    w = inputs.weights
    for t in range(4):
        prefixes = {}
        for n in range(500):
            prefixes.setdefault(tuple(inputs.tokens[n, : t + 1]), []).append(w[n, t])
        for prefix, ws in prefixes.items():
            assert sum(x > 0 for x in ws) == 1  # once, not count x probability
            p = np.exp(compmech.log_probability(hmm, np.array(prefix)))
            assert max(ws) == pytest.approx(p, rel=1e-10)
    # at position 1 all three tokens are seen: weights sum to one
    assert w[:, 0].sum() == pytest.approx(1.0)


def test_distinct_prefix_weights_fall_back_to_rows_for_long_contexts():
    hmm = compmech.get_process("golden_mean")
    s = compmech.sample(hmm, 50, 70, seed=0)  # 2**70 codes overflow int64
    nt = compmech.filter_beliefs(hmm, s.tokens).next_token_probs
    w = distinct_prefix_weights(hmm, s.tokens, nt)
    assert w[:, 0].sum() == pytest.approx(1.0) and np.all(w >= 0)


def test_affine_subspace_projection_is_an_affine_image_of_the_predictions():
    X, Y, _, _ = _planted(n_seq=200, d=10, seed=10)
    Y = np.exp(Y / 5)
    Y /= Y.sum(-1, keepdims=True)
    flatX, flatY = X.reshape(-1, 10), Y.reshape(-1, 3)
    probe = BeliefProbe().fit(flatX, flatY)
    Z = affine_subspace_projection(probe, flatX)
    assert Z.shape == (flatX.shape[0], 2)
    # predictions are an affine function of the 2-D coordinates (exactly: the probe reads only them)
    A = np.hstack([Z, np.ones((Z.shape[0], 1))])
    beta, *_ = np.linalg.lstsq(A, probe.predict(flatX), rcond=None)
    np.testing.assert_allclose(A @ beta, probe.predict(flatX), atol=1e-8)


def test_eighty_twenty_split_trains_on_four_folds():
    X, Y, _, _ = _planted(noise=0.3, seed=11)
    folds = sequence_folds(X.shape[0], 5, seed=0)
    res = cross_validated_probe(X, Y, folds, train_folds=4)
    tr = np.isin(folds, [0, 1, 2, 3])
    direct = BeliefProbe().fit(X[tr].reshape(-1, 12), Y[tr].reshape(-1, 3))
    expected = regression_scores(direct.predict(X[~tr].reshape(-1, 12)), Y[~tr].reshape(-1, 3))
    assert res.scores.mse == pytest.approx(expected.mse, rel=1e-10)
    assert res.n_train == tr.sum() * 5 and res.fold_mse.shape == (5,)
    with pytest.raises(ValueError, match="train_folds"):
        cross_validated_probe(X, Y, folds, train_folds=5)


# ------------------------------------------------------------- presentation-invariant scores
def _two_presentations(name, n_ctx, seed):
    """The probe's points of ``name`` and of the same process in a random basis ``T -> A^-1 T A``
    (``A = I + 0.4 N(0, 1)``, condition number < 20): tokens, and each presentation's targets
    (beliefs for an HMM, belief-plane coordinates for a GHMM), from each presentation's own
    filter."""
    hmm = compmech.get_process(name)
    rng = np.random.default_rng(seed)
    while True:
        A = np.eye(hmm.num_states) + 0.4 * rng.standard_normal((hmm.num_states,) * 2)
        if np.linalg.cond(A) < 20:
            break
    g = compmech.change_basis(hmm, A)
    a, b = probe_inputs(hmm, n_ctx), probe_inputs(g, n_ctx)
    np.testing.assert_array_equal(a.tokens, b.tokens)

    def targets(process, beliefs):
        if process.kind == "ghmm":
            return compmech.belief_plane_coordinates(beliefs, process.right_eigenvector)
        return beliefs

    return a.tokens, a.beliefs, targets(hmm, a.beliefs), targets(g, b.beliefs)


def _nonlinear_features(beliefs, seed, d=16, noise=0.05):
    """Features that a linear probe decodes only partly: tanh of a random affine map of the true
    beliefs, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(beliefs.shape[-1], d)) * 2.0
    return np.tanh(beliefs @ W + rng.normal(size=d)) + noise * rng.normal(size=(*beliefs.shape[:-1], d))


@pytest.mark.parametrize("name", ["tom_quantum", "mess3"])
def test_invariant_r2_is_unchanged_by_a_random_change_of_basis(name):
    # tom_quantum: GHMM plane coordinates in two bases; mess3: simplex beliefs (3 coordinates,
    # singular covariance) against the plane coordinates (2) of its random-basis GHMM.
    tokens, beliefs, ya, yb = _two_presentations(name, 5, seed=3)
    X = _nonlinear_features(beliefs, seed=4, d=6, noise=0.5)
    folds = sequence_folds(tokens.shape[0], 5, seed=0)
    ra = cross_validated_probe(X, ya, folds)
    rb = cross_validated_probe(X, yb, folds)
    for key in ("invariant_r2", "whitened_mse"):
        assert getattr(rb.scores, key) == pytest.approx(getattr(ra.scores, key), abs=1e-9)
        assert getattr(rb.pooled_scores, key) == pytest.approx(getattr(ra.pooled_scores, key), abs=1e-9)
        assert getattr(rb.shuffle_scores, key) == pytest.approx(getattr(ra.shuffle_scores, key), abs=1e-9)
    assert 0.2 < ra.scores.invariant_r2 < 0.99  # a partial fit, not a trivial 0 or 1
    # the plain scores do change, so the test can tell
    assert abs(rb.scores.mse / ra.scores.mse - 1) > 0.05
    assert abs(rb.scores.r2 - ra.scores.r2) > 1e-3
    # the Markov-order-2 baseline (category means) is equivariant too
    codes = markov_codes(tokens, int(tokens.max()) + 1, 2)
    ba = category_mean_scores(codes, ya, folds, [0])
    bb = category_mean_scores(codes, yb, folds, [0])
    assert bb.invariant_r2 == pytest.approx(ba.invariant_r2, abs=1e-9)
    assert abs(bb.mse / ba.mse - 1) > 0.05
    # summary (probe.json) keeps every old field and adds the new ones
    summary = ra.summary()
    assert summary["invariant_r2_test"] == ra.scores.invariant_r2
    assert summary["mse_test"] == ra.scores.mse and "r2_test" in summary
    assert summary["invariant_r2_pooled"] == ra.pooled_scores.invariant_r2


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_validated_invariant_r2_equals_the_direct_score_of_its_predictions(weighted):
    tokens, beliefs, y, _ = _two_presentations("tom_quantum", 4, seed=5)
    X = _nonlinear_features(beliefs, seed=6)
    folds = sequence_folds(tokens.shape[0], 5, seed=1)
    weights = np.random.default_rng(2).random(tokens.shape) if weighted else None
    res = cross_validated_probe(X, y, folds, weights=weights, spread=False, shuffle=False)
    test = folds != 0
    pred = predict_features(res.probe, X, np.flatnonzero(test))
    direct = regression_scores(pred.reshape(-1, y.shape[-1]), y[test].reshape(-1, y.shape[-1]),
                               None if weights is None else weights[test].reshape(-1))
    for key in ("mse", "r2", "invariant_r2", "whitened_mse"):
        assert getattr(res.scores, key) == pytest.approx(getattr(direct, key), abs=1e-10)


def test_invariant_r2_is_plain_r2_on_planted_cases():
    rng = np.random.default_rng(0)
    beliefs = rng.dirichlet(np.ones(3), size=500)  # simplex: the covariance has rank 2
    w = rng.random(500)
    for weights in (None, w):
        perfect = regression_scores(beliefs, beliefs, weights)
        assert perfect.invariant_r2 == 1.0 and perfect.whitened_mse == 0.0
        mean = np.average(beliefs, axis=0, weights=weights)
        centroid = regression_scores(np.broadcast_to(mean, beliefs.shape), beliefs, weights)
        assert centroid.invariant_r2 == pytest.approx(0.0, abs=1e-12)
        assert centroid.r2 == pytest.approx(0.0, abs=1e-12)
    # isotropic error on whitened axis-aligned targets: invariant R^2 = plain R^2
    y = rng.normal(size=(4000, 2)) * [2.0, 0.5]
    y = (y - y.mean(0)) / y.std(0)
    pred = y * 0.6  # shrinks both coordinates: residual -0.4 y, R^2 = 1 - 0.16 on each
    s = regression_scores(pred, y)
    assert s.r2 == pytest.approx(0.84, abs=1e-12)
    assert s.invariant_r2 == pytest.approx(0.84, abs=1e-12)
    # constant targets have no metric: NaN, not a number that looks like a score
    assert np.isnan(regression_scores(np.ones((5, 2)), np.ones((5, 2))).invariant_r2)


def test_invariant_r2_is_not_fooled_by_a_missing_low_variance_direction():
    # Targets spread along a diagonal (variance 1) and across it (1e-4). A prediction that drops
    # the thin direction entirely keeps plain R^2 near 1 (each coordinate mixes both), but it has
    # lost one of the two dimensions of structure: invariant R^2 = 1/2.
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20_000, 2)) * [1.0, 1e-2]
    z -= z.mean(0)
    z[:, 1] -= z[:, 0] * (z[:, 0] @ z[:, 1]) / (z[:, 0] @ z[:, 0])  # uncorrelated in the sample
    rot = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    y = z @ rot
    pred = (z * [1.0, 0.0]) @ rot
    s = regression_scores(pred, y)
    assert s.r2 > 0.999 and s.mse < 1e-4
    assert s.invariant_r2 == pytest.approx(0.5, abs=1e-9)


def test_the_split_policy_trains_on_more_folds_only_when_one_fold_is_too_small():
    from compmech.probing.data import MIN_POINTS_PER_COEFFICIENT, train_folds

    width = 4  # 5 coefficients with the intercept: one fold needs 50 points
    edge = 5 * MIN_POINTS_PER_COEFFICIENT * (width + 1)
    assert train_folds("auto", edge, width) == 1  # 20/80: the paper's
    assert train_folds("auto", edge - 1, width) == 4  # 80/20
    assert train_folds("20/80", 10, width) == 1 and train_folds("80/20", 10**6, width) == 4
    with pytest.raises(ValueError, match="split must be"):
        train_folds("50/50", 100, width)


def test_the_linear_decoder_is_ordinary_least_squares_with_intercept():
    from compmech.probing import decoders as dec

    rng = np.random.default_rng(3)
    X, Xt = rng.normal(size=(200, 6)), rng.normal(size=(50, 6))
    W, b = rng.normal(size=(6, 3)), rng.normal(size=3)
    # an exact affine map is recovered exactly
    np.testing.assert_allclose(dec.fit_predict("linear", X, X @ W + b, Xt), Xt @ W + b, atol=1e-10)
    # noisy targets: the least-squares solution (oracle: numpy's lstsq on [X, 1])
    y = X @ W + b + rng.normal(size=(200, 3))
    beta = np.linalg.lstsq(np.column_stack([X, np.ones(200)]), y, rcond=None)[0]
    np.testing.assert_allclose(dec.fit_predict("linear", X, y, Xt),
                               np.column_stack([Xt, np.ones(50)]) @ beta, atol=1e-10)


def test_decoders_standardise_in_place_only_when_allowed():
    """fit_predict leaves the caller's features untouched unless told it may overwrite them, and
    both ways give the same predictions."""
    from compmech.probing import decoders as dec

    rng = np.random.default_rng(0)
    X, Xt = rng.normal(3.0, 2.0, size=(200, 4)), rng.normal(3.0, 2.0, size=(30, 4))
    y = rng.random((200, 3))
    X0, Xt0 = X.copy(), Xt.copy()
    kept = dec.fit_predict("knn", X, y, Xt)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Xt, Xt0)
    overwritten = dec.fit_predict("knn", X, y, Xt, overwrite=True)
    np.testing.assert_array_equal(kept, overwritten)
    assert not np.array_equal(X, X0)  # standardised in place
