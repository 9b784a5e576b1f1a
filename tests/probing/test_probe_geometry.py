"""The scale-by-scale geometry in the probe, its figures, the nonlinear decoders and the sweep's
rank correlations.

Oracles: the probe's own held-out arrays (the residual RMS recomputed from ``probe_points.npz``),
the analytic levels formula, brute-force prefix sets (novel-prefix points), an injective nonlinear
feature map that a nearest-neighbour decoder inverts and a linear one cannot, exact Spearman
values of planted ranks.
"""

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist

import compmech
from compmech.experiments.reproduce import reproduction_config
from compmech.figures import run as figures_run
from compmech.figures.geometry import GeometryCurve, geometry_over_training, geometry_scales
from compmech.probing import decoders as dec
from compmech.probing.config import ProbeConfig
from compmech.probing.data import CONCAT, POINTS_FILE, PROBE_FILE, probe_data
from compmech.probing.decoding import novel_prefix_points
from compmech.probing.geometry import GeometryLabel, GeometryRecord, geometry_record
from compmech.probing.report import ProbeReport
from compmech.probing.run import probe_run


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    import transformer

    run_dir = tmp_path_factory.mktemp("geom") / "mess3"
    transformer.train(reproduction_config("mess3", tiny=True), run_dir, progress=False)
    report = probe_run(run_dir, ProbeConfig(checkpoints="all", decoders=("knn",)), progress=False)
    return run_dir, report


def test_probe_json_carries_the_comparison_of_every_checkpoint(probed):
    run_dir, report = probed
    g = report.geometry
    assert g is not None and g.hook == report.headline_hook and g.step == report.step
    assert g.decoder == "linear"
    # the residual RMS is that of the held-out predictions the figures draw (in-plane: a probe of
    # beliefs with intercept predicts points that sum to 1)
    with np.load(run_dir / POINTS_FILE) as pts:
        true, pred = pts["true"].astype(np.float64), pts[f"pred/{report.headline_hook}"]
    assert g.num_points == true.shape[0]
    np.testing.assert_allclose(pred.sum(1), 1.0, atol=1e-5)
    rms = math.sqrt(((pred - true) ** 2).sum(1).mean())
    assert g.noise_rms == pytest.approx(rms, rel=1e-4)
    # the equivalent history: the prediction's error against the Markov-k lookups on the same points
    assert g.error_measure == "mse" and g.error == pytest.approx(((pred - true) ** 2).mean(), rel=1e-4)
    errors = report.lookup_errors["figure"]
    assert len(errors) == report.protocol.positions + 1 and errors[-1] < 1e-20
    assert g.equivalent_history == pytest.approx(compmech.history_tokens(errors, g.error))
    assert 0 < g.resolution <= g.extent and g.null_resolution > 0
    # every hook has its own geometry at the last checkpoint
    assert all(h.geometry is not None and h.geometry.step == report.step for h in report.hooks.values())
    # every probed checkpoint has one; the last is the report's
    assert [c.step for c in report.curve] == [c.geometry.step for c in report.curve]
    assert report.curve[-1].geometry == g
    assert report.curve[0].geometry.tokens_seen == 0
    # the JSON round trip rebuilds the full comparison
    again = ProbeReport.read(run_dir / PROBE_FILE)
    assert again.geometry == g
    c = again.geometry.result()
    assert np.all(np.diff(c.scales) < 0) and g.resolution in c.scales.tolist()
    raw = json.loads((run_dir / PROBE_FILE).read_text())
    assert "fractal" not in raw  # the old all-scales comparison is gone; geometry replaces it
    # a probe.json written before still reads (its fractal entry is dropped)
    assert ProbeReport.from_dict({**raw, "fractal": {"fitted_over": "all scales"}}) == again
    for key in ("resolution", "null_resolution", "noise_rms", "equivalent_history", "dimension_true",
                "dimension_predicted", "dimension_fit_range", "comparison"):
        assert key in raw["geometry"]


def test_decoders_sit_beside_the_linear_probe_on_novel_prefix_points(probed):
    run_dir, report = probed
    head = report.headline_hook
    assert set(report.decoders) == {head, CONCAT}
    rows = report.decoders[head]
    assert set(rows) == {"linear", "linear_subsample", "knn", "untrained_knn"}
    assert set(report.decoders[CONCAT]) == {"linear", "linear_subsample", "knn"}
    # the Markov-k lookups on the same points: a lookup of k tokens has an equivalent history of k
    lookups = report.lookups
    assert set(lookups) == {f"markov_{k}" for k in (3, 5, 7) if k <= report.protocol.positions}
    for name, r in lookups.items():
        assert r.geometry.num_points == rows["knn"].geometry.num_points
        assert r.geometry.equivalent_history == pytest.approx(int(name.split("_")[1]), abs=1e-6)
    assert sum(report.decoder_points_per_position) == rows["knn"].geometry.num_points
    # the tiny run's training side is smaller than the subsample: the same least-squares fit as
    # the probe, scored on the same points (alignment of features, targets and points)
    assert rows["linear_subsample"].train_points == rows["linear"].train_points
    assert rows["linear_subsample"].mse_test == pytest.approx(rows["linear"].mse_test, rel=1e-5)
    for r in rows.values():
        assert r.geometry is not None and r.geometry.decoder == r.decoder
    # brute force: no decoder test point's input prefix occurs on the training side
    with np.load(run_dir / POINTS_FILE) as pts:
        test = pts["decoder_points"]
    import transformer

    data = dataclasses.replace(probe_data(transformer.load_run(run_dir), seed=0),
                               train_folds=round(report.protocol.train_fraction * 5))
    P = data.tokens.shape[1]
    train_seqs = np.flatnonzero(data.folds < data.train_folds)
    seen = {tuple(data.tokens[s, :t + 1]) for s in train_seqs for t in range(P)}
    seq, pos = np.divmod(test, P)
    assert test.size == rows["knn"].geometry.num_points > 0
    assert not any(tuple(data.tokens[s, :t + 1]) in seen for s, t in zip(seq, pos, strict=True))
    assert not np.isin(seq, train_seqs).any()
    np.testing.assert_array_equal(novel_prefix_points(data, seed=0), test)


def test_run_figures_render_and_the_caption_states_the_resolution(probed, monkeypatch):
    run_dir, report = probed
    captions = []
    original = figures_run.side_by_side

    def spy(*args, **kwargs):
        captions.append(kwargs.get("caption", ""))
        return original(*args, **kwargs)

    monkeypatch.setattr(figures_run, "side_by_side", spy)
    figures_run.make_figures(run_dir, force=True, progress=False)
    for stem in ("geometry_scales", "geometry_training", "decoders"):
        for ext in ("png", "pdf"):
            path = run_dir / "figures" / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 2000, path
    (caption,) = captions
    assert f"resolution {report.geometry.resolution:.3g}" in caption
    assert f"equivalent history {report.geometry.equivalent_history:.2f} tokens" in caption


def test_scale_figure_marks_the_resolution():
    t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 4000, seed=0)
    noise = np.random.default_rng(1).normal(size=(4000, 2)) * 0.02
    c = compmech.compare_geometry(t, t + noise @ compmech.geometry.tangent_basis(3).T,
                                  compmech.ComparisonConfig(max_pair_points=1000))
    fig = geometry_scales(c, title="test")
    axes = fig.axes
    assert len(axes) == 4
    for ax in axes:
        xs = [line.get_xdata()[0] for line in ax.get_lines() if len(line.get_xdata()) == 2
              and line.get_xdata()[0] == line.get_xdata()[1]]
        assert c.resolution in xs and c.noise_rms in xs
    curve = axes[0].get_lines()[0]
    np.testing.assert_array_equal(curve.get_ydata(), c.paired_fraction_predicted)
    np.testing.assert_array_equal(axes[1].get_lines()[0].get_ydata(), c.distance_predicted)
    fig = geometry_over_training(GeometryCurve(
        tokens=[0, 10, 100], mse=[0.1, 0.01, 0.001], resolution=[0.5, 0.1, 0.03],
        null_resolution=[0.4, 0.1, 0.03], noise_rms=[0.2, 0.05, 0.01], history=[0.4, 1.5, None]))
    assert len(fig.axes) == 3


def test_geometry_record_round_trips_and_ghmm_coordinates_are_an_isometry():
    hmm = compmech.get_process("tom_quantum")
    beliefs = compmech.blackwell_beliefs(hmm, 600, seed=0)
    coords = compmech.geometry.belief_plane_coordinates(beliefs, hmm.right_eigenvector)
    noisy = coords + np.random.default_rng(2).normal(size=coords.shape) * 0.01
    record, note = geometry_record(hmm, coords, noisy, seed=0,
                                   label=GeometryLabel(hook="h", step=3, tokens_seen=7))
    assert note is None
    # distances are the coordinates' own: the extent is the diameter of the 2-D cloud (a disk,
    # where the farthest-point sweeps are within 1e-5 of it), and the
    # residual RMS the coordinates' residual
    assert record.extent == pytest.approx(pdist(coords).max(), rel=1e-5)  # sweeps: lower bound
    assert record.noise_rms == pytest.approx(math.sqrt(((noisy - coords) ** 2).sum(1).mean()))
    back = GeometryRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back == record
    np.testing.assert_array_equal(back.result().distance_predicted,
                                  record.result().distance_predicted)
    # impossible comparisons give a reason, not an exception
    none, why = geometry_record(hmm, np.ones((20, 2)), np.ones((20, 2)))
    assert none is None and "extent" in why


# ----------------------------------------------------------------------------- decoders
def _injective_features(beliefs: np.ndarray, seed: int = 0) -> np.ndarray:
    """``tanh`` of a full-rank linear image of the plane coordinates: an injective, strongly
    nonlinear map (a nearest-neighbour decoder can invert it; an affine one cannot)."""
    x = beliefs @ compmech.geometry.tangent_basis(3)
    W = np.random.default_rng(seed).normal(size=(2, 8))
    return np.tanh(6.0 * (x - x.mean(0)) @ W)


def test_a_nonlinear_decoder_beats_the_linear_one_where_the_map_is_nonlinear():
    t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 25_000, seed=3)
    feats = _injective_features(t)[:, None, :]  # (N, P=1, d)
    train, test = np.arange(20_000), np.arange(20_000, 25_000)
    fits = {k: dec.decode(k, feats, t, train, test, 1, seed=0) for k in ("linear", "knn")}
    config = compmech.ComparisonConfig(max_pair_points=1500)
    res = {k: compmech.compare_geometry(t[test], f.predicted, config).resolution
           for k, f in fits.items()}
    assert fits["knn"].mse < fits["linear"].mse / 10
    assert res["knn"] is not None and (res["linear"] is None or res["knn"] < res["linear"] / 2)
    # the control: with an affine feature map the linear decoder is exact
    affine = (t @ np.random.default_rng(4).normal(size=(3, 8)))[:, None, :]
    assert dec.decode("linear", affine, t, train, test, 1).mse < 1e-20


def test_the_mlp_decoder_learns_the_nonlinear_map():
    t = compmech.blackwell_beliefs(compmech.get_process("mess3"), 6000, seed=5)
    feats = _injective_features(t)[:, None, :]
    train, test = np.arange(5000), np.arange(5000, 6000)
    mlp = dec.decode("mlp", feats, t, train, test, 1, seed=0)
    lin = dec.decode("linear", feats, t, train, test, 1)
    assert mlp.mse < lin.mse / 3


def test_training_subsample_is_seeded_and_follows_the_weights():
    pts = np.arange(100, 200)
    a = dec.training_subsample(pts, None, seed=1, max_points=30)
    assert a.size == 30 and np.unique(a).size == 30 and np.isin(a, pts).all()
    np.testing.assert_array_equal(a, dec.training_subsample(pts, None, seed=1, max_points=30))
    w = np.zeros(300)
    w[150] = 1.0
    w[151] = 3.0
    b = dec.training_subsample(pts, w, seed=0, max_points=4000)
    assert set(b.tolist()) == {150, 151}
    assert (b == 151).mean() == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="unknown decoder"):
        dec.fit_predict("svm", np.ones((20, 2)), np.ones((20, 1)), np.ones((2, 2)))


# ------------------------------------------------------------------------------- sweep
def test_rank_correlation_of_planted_values():
    from compmech.experiments.sweep import rank_correlation

    assert rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).spearman == pytest.approx(0.8)
    assert rank_correlation([1, 2, 3], [30, 20, 10]).spearman == pytest.approx(-1.0)
    r = rank_correlation([1, 2, np.nan, 4, 5], [1, 2, 3, np.nan, 4])
    assert r.num_points == 3 and r.spearman == pytest.approx(1.0)
    assert rank_correlation([1, 1, 1], [1, 2, 3]).spearman is None


def _planted_result(x, alpha, theory, learned, resolution):
    from compmech.experiments.results import DimensionSummary, JobResult, ProbeSummary, TrainSummary
    from compmech.experiments.sweep import mess3_point

    geometry = GeometryRecord(
        hook="h", step=10, tokens_seen=100, decoder="linear", num_points=100,
        resolution=resolution, null_resolution=resolution, resolved=True, resolution_at_floor=False,
        distribution_resolution=resolution, noise_rms=resolution / 2, extent=1.0, error=1e-3,
        error_measure="mse", equivalent_history=-math.log(resolution), dimension_true=theory,
        dimension_predicted=learned, dimension_stderr_true=0.01, dimension_stderr_predicted=0.01,
        dimension_fit_range=[0.01, 0.1], dimension_note=None, comparison={})
    return JobResult(
        name=mess3_point(x, alpha), labels={"process": "mess3", "x": x, "alpha": alpha},
        process="mess3", process_params={"x": x, "alpha": alpha},
        model={"n_layers": 1, "d_model": 2, "n_heads": 1, "d_head": 2, "d_mlp": 4, "n_ctx": 3},
        train=TrainSummary(10, 100, 10, None, 1.0), loss=None,
        probe=ProbeSummary("h", "enumerated", 1e-3, 0.03, 0.9, 1e-5, 0.1, 0.1, 0.02, 0.03, 0.1),
        dimensions=DimensionSummary(theory + 0.1),
        geometry=geometry)


def test_sweep_summary_reports_the_spearman_correlation_of_planted_dimensions(tmp_path):
    from compmech.experiments.sweep import SweepSummary, write_sweep_report

    xs, alphas = (0.05, 0.15), (0.55, 0.7, 0.85)
    theory = [0.5, 0.9, 1.2, 1.4, 1.6, 1.9]
    learned = [0.6, 0.8, 1.5, 1.3, 1.7, None]  # ranks 1 2 4 3 5, the last point has none
    results = [_planted_result(x, a, theory[3 * i + j], learned[3 * i + j], 0.01 * (1 + j))
               for i, x in enumerate(xs) for j, a in enumerate(alphas)]
    summary = write_sweep_report(tmp_path, results, xs=list(xs), alphas=list(alphas),
                                 wall_seconds=1.0)
    rho = summary.statistics.theory_vs_learned_dimension
    assert rho.num_points == 5
    assert rho.spearman == pytest.approx(1 - 6 * 2 / (5 * 24))  # 0.9
    assert "rho = 0.900" in (tmp_path / "README.md").read_text()
    assert SweepSummary.read(tmp_path / "summary.json") == summary  # typed, round-trips
    for stem in ("sweep_heatmaps", "sweep_heatmaps_reference", "sweep_theory_vs_learned"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 2000


def test_decoders_option_belongs_to_the_sweep(tmp_path, capsys):
    from compmech.cli import main

    assert main(["experiment", "bottleneck", "--out", str(tmp_path), "--decoders", "knn"]) == 2
    assert "--decoders is a sweep option" in capsys.readouterr().err
    assert main(["probe", str(tmp_path), "--decoders", "svm"]) == 2
    assert "invalid choice: 'svm'" in capsys.readouterr().err


def test_every_checkpoint_is_loaded_and_run_forward_once(probed, monkeypatch):
    """The probe collects each checkpoint's activations once and hands them to every consumer
    (probes, controls, decoders and their untrained control, geometry, the curve)."""
    import transformer
    from compmech.probing import run as probing

    run_dir, _ = probed
    loaded, forwards = [], []
    load = transformer.Run.load_params
    collect = probing.collect
    monkeypatch.setattr(transformer.Run, "load_params",
                        lambda self, step=None: loaded.append(step) or load(self, step))
    monkeypatch.setattr(probing, "collect", lambda *a, **k: forwards.append(1) or collect(*a, **k))
    report = probe_run(run_dir, ProbeConfig(checkpoints="all", decoders=("knn",)), force=True,
                       progress=False)
    steps = transformer.load_run(run_dir).checkpoint_steps
    assert sorted(loaded) == steps and len(forwards) == len(steps)
    assert "untrained_knn" in report.decoders[report.headline_hook]
