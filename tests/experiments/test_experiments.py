"""Bottleneck and sweep experiments: the 1-D fractal analysis against known sets, and tiny end-to-end
runs (real training of tiny models for a few steps), including resuming a partly finished sweep."""

import json
import math

import numpy as np
import pytest

from compmech.experiments.bottleneck import (
    DEFAULT_WIDTHS,
    BottleneckConfig,
    BottleneckSummary,
    bottleneck_jobs,
    run_bottleneck,
)
from compmech.experiments.reports import export_gallery
from compmech.experiments.results import Job, result_path
from compmech.experiments.runner import run_jobs
from compmech.experiments.sweep import (
    DEFAULT_ALPHA,
    DEFAULT_DECODERS,
    DEFAULT_EXTRAS,
    DEFAULT_X,
    SweepConfig,
    run_sweep,
    sweep_jobs,
)
from compmech.probing.structure1d import (
    best_linear_direction,
    cluster_counts_1d,
    label_runs_1d,
    structure_1d,
)

LOG2_LOG3 = math.log(2) / math.log(3)


def cantor_points(levels: int) -> np.ndarray:
    """Left end points of the 2^levels intervals of the middle-thirds Cantor set at ``levels``."""
    digits = (np.arange(2**levels)[:, None] >> np.arange(levels)) & 1
    return (2 * digits * 3.0 ** -np.arange(1, levels + 1)).sum(1)


# ----------------------------------------------------------------------- 1-D analysis, known answers
def test_cantor_cluster_counts_are_powers_of_two():
    x = cantor_points(12)
    x = x / (x.max() - x.min())  # range 1 (the largest point is 1 - 3^-12)
    res = 0.5 * 3.0 ** -np.arange(0, 9)  # between consecutive gap sizes 3^-j
    counts = cluster_counts_1d(x, res)
    np.testing.assert_array_equal(counts, 2 ** np.arange(0, 9))


def test_cantor_dimensions_are_log2_over_log3():
    s = structure_1d(cantor_points(14), resolutions=np.geomspace(0.2, 1e-5, 30))
    assert s.num_distinct == 2**14
    assert abs(s.cluster_dimension - LOG2_LOG3) < 0.03, s.cluster_dimension
    assert abs(s.box_counting.dimension - LOG2_LOG3) < 0.06, s.box_counting.dimension


def test_interval_has_dimension_one_and_finite_set_dimension_zero():
    line = structure_1d(np.random.default_rng(0).uniform(size=200_000))
    assert abs(line.box_counting.dimension - 1.0) < 0.05
    # an interval is one cluster at every resolution coarser than the typical gap
    assert line.cluster_counts[0] == 1
    finite = structure_1d(np.repeat(np.arange(7.0), 1000))
    assert finite.num_distinct == 7
    np.testing.assert_array_equal(finite.cluster_counts[1:], 7)  # all resolutions < 1/6
    assert abs(finite.box_counting.dimension) < 0.05
    assert math.isnan(finite.cluster_dimension)  # 7 distinct points resolve no scale (< 10 per cluster)


def test_constant_values_are_one_cluster_and_bad_values_raise():
    s = structure_1d(np.zeros(10))
    assert s.num_distinct == 1 and (s.cluster_counts == 1).all()
    assert s.box_counting is None and s.summary().box_counting_dimension is None
    with pytest.raises(ValueError, match="NaN"):
        structure_1d([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        structure_1d(np.zeros((4, 2)))


def test_label_runs_count_interleaving():
    eye = np.eye(3)
    x = np.arange(12.0)
    blocks = eye[np.repeat([0, 1, 2], 4)]  # R R R R G G G G B B B B
    alternating = eye[np.arange(12) % 3]  # R G B R G B ...
    res = [0.5, 0.05]  # one cluster; every point its own cluster
    np.testing.assert_array_equal(label_runs_1d(x, blocks, res), [1, 3])
    np.testing.assert_array_equal(label_runs_1d(x, alternating, res), [1, 12])
    # order along the line is what counts, not the order of the input
    perm = np.random.default_rng(0).permutation(12)
    np.testing.assert_array_equal(label_runs_1d(x[perm], alternating[perm], res), [1, 12])
    # a cluster takes the label of its mean belief: pairs (0,1), (2,3), ... merged at eps = 1.5/11
    pairs = np.repeat(np.arange(6.0) * 3, 2) + np.tile([0, 1], 6)
    labels = eye[np.repeat([0, 1, 0, 1, 2, 2], 2)]
    np.testing.assert_array_equal(label_runs_1d(pairs, labels, [1.5 / 16]), [5])
    with pytest.raises(ValueError, match="beliefs must have shape"):
        label_runs_1d(x, blocks[:5])


def test_best_linear_direction_recovers_a_planted_direction():
    rng = np.random.default_rng(1)
    beliefs = rng.dirichlet(np.ones(3), size=5000)
    u = np.array([1.0, -2.0, 1.0]) / math.sqrt(6)  # sum 0, unit
    target = 3.0 * beliefs @ u + 0.7
    fit = best_linear_direction(beliefs, target=target)
    np.testing.assert_allclose(fit.direction, u, atol=1e-9)  # sign: increases with the target
    assert fit.r2 > 1 - 1e-12
    np.testing.assert_allclose(fit.coordinates, beliefs @ u, atol=1e-12)
    fit_neg = best_linear_direction(beliefs, target=-target)
    np.testing.assert_allclose(fit_neg.direction, -u, atol=1e-9)


def test_best_linear_direction_pca_finds_the_long_axis():
    rng = np.random.default_rng(2)
    t = rng.uniform(-0.3, 0.3, 4000)
    u = np.array([1.0, -1.0, 0.0]) / math.sqrt(2)
    v = np.array([1.0, 1.0, -2.0]) / math.sqrt(6)
    beliefs = 1 / 3 + t[:, None] * u + 0.01 * rng.normal(size=4000)[:, None] * v
    fit = best_linear_direction(beliefs)
    assert abs(abs(fit.direction @ u) - 1) < 1e-3
    assert fit.r2 > 0.99 and abs(fit.direction.sum()) < 1e-12


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="distinct positive"):
        BottleneckConfig(widths=(1, 1), minutes_per_width=None, steps=5)
    with pytest.raises(ValueError, match="linear_widths must be distinct positive"):
        BottleneckConfig(linear_widths=(0,))
    with pytest.raises(ValueError, match="minutes_per_width or steps"):
        BottleneckConfig(widths=(1,), minutes_per_width=None)
    with pytest.raises(ValueError, match="max_checkpoints must be >= 1"):
        BottleneckConfig(max_checkpoints=0)
    with pytest.raises(ValueError, match="minutes_per_point or steps"):
        SweepConfig(minutes_per_point=None)
    with pytest.raises(ValueError, match="rows"):
        best_linear_direction(np.ones((5, 3)) / 3, target=np.ones(4))


def test_configs_round_trip_and_keep_the_old_defaults():
    bottleneck = BottleneckConfig(widths=[2, 1], linear_widths=(), minutes_per_width=None,
                                  steps=10, process="z1r", process_params={"p": 0.5},
                                  base_config=tiny_config(), seed=2, max_checkpoints=3,
                                  device="cpu")
    sweep = SweepConfig(xs=[0.05], alphas=(0.6, 0.85), extras=["z1r"], minutes_per_point=None,
                        steps=10, base_config=tiny_config().to_dict(), seed=1, device="cpu",
                        decoders=())
    for config in (bottleneck, sweep, BottleneckConfig(), SweepConfig()):
        assert type(config).from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert sweep.base_config == tiny_config()  # a dict is read as a TrainConfig
    # the defaults of the keywords they replaced (run_bottleneck / run_sweep before the configs)
    assert BottleneckConfig() == BottleneckConfig(
        widths=(1, 2, 3, 4, 8, 16, 64), linear_widths=(1,), minutes_per_width=2.0, steps=None,
        process="mess3", process_params={}, base_config=None, seed=0, max_checkpoints=8,
        device=None)
    assert DEFAULT_WIDTHS == (1, 2, 3, 4, 8, 16, 64)
    assert SweepConfig() == SweepConfig(
        xs=DEFAULT_X, alphas=DEFAULT_ALPHA, extras=DEFAULT_EXTRAS, minutes_per_point=2.0,
        steps=None, base_config=None, seed=0, device=None, decoders=DEFAULT_DECODERS)
    assert DEFAULT_DECODERS == ("knn",) and DEFAULT_EXTRAS == ("z1r", "rrxor", "even", "golden_mean")
    assert len(sweep_jobs()) == 25 + 4 and len(bottleneck_jobs()) == 7 + 1


# ----------------------------------------------------------------------- tiny end-to-end runs
def tiny_bottleneck(**changes) -> BottleneckConfig:
    return BottleneckConfig(**{"widths": (1, 2), "minutes_per_width": None, "steps": 10,
                               "base_config": tiny_config(), **changes})


def tiny_config():
    from transformer import ModelConfig, TrainConfig

    return TrainConfig(model=ModelConfig(n_layers=1, d_model=2, d_head=2, d_mlp=4, n_ctx=3),
                       steps=10, batch_size=16, eval_every=10, log_every=10, steps_per_call=5,
                       warmup_steps=2, checkpoints_per_decade=1)


@pytest.fixture(scope="module")
def bottleneck_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bottleneck")
    lines = []
    summary = run_bottleneck(out, tiny_bottleneck(), progress=False, log=lines.append)
    return out, summary, lines


def test_bottleneck_end_to_end(bottleneck_dir):
    out, summary, lines = bottleneck_dir
    for name in summary.files:
        assert (out / name).is_file(), name
    assert BottleneckSummary.read(out / "summary.json") == summary  # typed, round-trips
    assert len(lines) == 4  # header + one line per job, printed as they finished
    rows = {r.labels["width"]: r for r in summary.rows if r.labels["variant"] == "residual"}
    assert sorted(rows) == [1, 2]
    for r in rows.values():
        gap = np.array(r.loss.loss_gap_per_position)
        assert gap.shape == (3,) and (gap > -1e-4).all()  # nobody beats the optimum
        assert r.model["d_model"] == r.labels["width"]
        assert 0 < r.probe.mse_test and 0 < r.probe.untrained_mse
        assert r.train.steps == 10
    one = rows[1]
    steps = [s.step for s in one.structure_1d]
    assert steps[0] == 0 and steps[-1] == 10
    # pre-LayerNorm at width 1: the coordinate is W_E[x_t] + W_pos[t] + const, so at most
    # V * n_ctx distinct values whatever the training (a real property; breaks if the model changes)
    for s in one.structure_1d:
        assert s.num_distinct <= 3 * 3
        assert s.max_abs_change_from_first == 0.0  # no gradient crosses LayerNorm of a 1-vector
    assert one.msp_structure_1d.regression.num_distinct > 9  # the MSP is richer
    data = np.load(out / "results" / "width_001.npz")
    assert data["coordinate"].shape == (27 * 3,)
    assert "width1_coordinate.png" in summary.files
    assert rows[2].structure_1d is None


def test_linear_bottleneck_variant(bottleneck_dir):
    out, summary, _ = bottleneck_dir
    (linear,) = [r for r in summary.rows if r.labels["variant"] == "linear"]
    assert linear.model["arch"] == "linear_bottleneck"
    assert linear.model["bottleneck_width"] == 1 and linear.model["d_model"] == 2
    gap = np.array(linear.loss.loss_gap_per_position)
    assert gap.shape == (3,) and (gap > -1e-4).all()
    # z is not confined to V * n_ctx values: it depends on the whole context
    assert linear.structure_1d[-1].num_distinct > 9
    assert linear.structure_1d[0].step == 0
    assert linear.structure_1d[-1].max_abs_change_from_first > 0  # z does train
    for key in ("mse_test", "shuffle_mse", "untrained_mse", "onehot_mse", "before_bottleneck_mse"):
        assert getattr(linear.probe, key) > 0
    assert linear.probe.hook == "bottleneck.hook_z"
    assert (out / "linear_001_coordinate.png").is_file()
    # trained by the shared loop: an ordinary run directory, resumable like any run
    assert (out / "runs" / "linear_001" / "checkpoints" / "train_state.msgpack").is_file()


def test_linear_bottleneck_resumes_like_any_run(tmp_path):
    """Interrupted and resumed, the bottleneck model ends with the same parameters."""
    import transformer

    (job,) = bottleneck_jobs(tiny_bottleneck(widths=(1,), linear_widths=(1,)))[1:]
    config = transformer.TrainConfig.from_dict(job.train_config)
    full = transformer.train(config, tmp_path / "full", progress=False)
    transformer.train(config, tmp_path / "cut", progress=False, stop_after=5)
    resumed = transformer.train(None, tmp_path / "cut", resume=True, progress=False)
    assert resumed.step == full.step == 10
    for a, b in zip(jax_leaves(full.params), jax_leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(a, b)


def jax_leaves(tree):
    import jax

    return jax.tree_util.tree_leaves(tree)


def test_bottleneck_resume_and_settings_guard(bottleneck_dir):
    out, _, _ = bottleneck_dir
    before = result_path(out, "width_002").stat().st_mtime_ns
    again = run_bottleneck(out, tiny_bottleneck(), progress=False, log=None)
    assert again.environment["computed_now"] == []
    assert result_path(out, "width_002").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="different settings"):
        run_bottleneck(out, tiny_bottleneck(seed=1), progress=False, log=None)
    other_batch = tiny_config().replace(batch_size=2 * tiny_config().batch_size)
    with pytest.raises(ValueError, match=r"different settings \(recipe\)"):
        run_bottleneck(out, tiny_bottleneck(base_config=other_batch), progress=False, log=None)


def test_sweep_end_to_end_and_resume_skips_finished_points(tmp_path):
    config = SweepConfig(xs=(0.05, 0.2), alphas=(0.6, 0.85), extras=(), minutes_per_point=None,
                         steps=10, base_config=tiny_config())
    lines = []
    summary = run_sweep(tmp_path, config, log=lines.append)
    assert len(lines) == 1 + 4
    assert sorted(summary.environment["computed_now"]) == sorted(r.name for r in summary.rows)
    assert (tmp_path / "sweep_heatmaps.png").is_file() and (tmp_path / "README.md").is_file()
    names = [r.name for r in summary.rows]
    assert names[0] == "mess3_x0.050_a0.600"
    # theory: Kaplan-Yorke dimension lies in [0, 2] for every Mess3 point
    for r in summary.rows:
        assert 0 <= r.dimensions.kaplan_yorke <= 2

    # interrupt: two points lose their result; the other two must not be redone
    kept, lost = names[:2], names[2:]
    mtimes = {n: result_path(tmp_path, n).stat().st_mtime_ns for n in kept}
    for n in lost:
        result_path(tmp_path, n).unlink()
    lines.clear()
    again = run_sweep(tmp_path, config, log=lines.append)
    assert sorted(again.environment["computed_now"]) == sorted(lost)
    for n in kept:
        assert result_path(tmp_path, n).stat().st_mtime_ns == mtimes[n]
    assert len(lines) == 1 + 4  # finished points are still printed in the table
    table = json.loads((tmp_path / "summary.json").read_text())
    assert [r["name"] for r in table["rows"]] == names


def test_a_failing_job_is_reported_and_left_unfinished(tmp_path):
    good = json.loads(json.dumps(tiny_config().to_dict()))
    bad = {**good, "no_such_option": 1}
    failures = []
    ran = run_jobs([Job("bad", bad)], tmp_path,
                   on_failure=lambda name, msg: failures.append((name, msg)))
    assert ran.failed.keys() == {"bad"} and "no_such_option" in ran.failed["bad"]
    assert failures and failures[0][0] == "bad"
    assert not result_path(tmp_path, "bad").exists() and ran.results == {}


def test_a_report_column_naming_a_missing_field_raises(bottleneck_dir):
    from compmech.experiments.tables import Column, table_row

    _, summary, _ = bottleneck_dir
    row = summary.rows[0]
    assert table_row(row, [Column("probe", lambda r: r.probe.mse_test, ".2e")]) == [
        f"{row.probe.mse_test:.2e}"]
    with pytest.raises(AttributeError, match="mse_tset") as info:
        table_row(row, [Column("typo", lambda r: r.probe.mse_tset, ".2e")])
    assert "in table column 'typo'" in info.value.__notes__


def test_export_gallery_keeps_images_small_and_links_working(bottleneck_dir, tmp_path):
    out, summary, _ = bottleneck_dir
    written = export_gallery(out, tmp_path / "gallery", prefix="bottleneck", max_kb=60)
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) == sum(name.endswith(".png") for name in summary.files)
    assert all(p.stat().st_size <= 60 * 1024 for p in pngs)
    text = (tmp_path / "gallery" / "bottleneck.md").read_text()
    for p in pngs:
        assert f"]({p.name})" in text
    with pytest.raises(FileExistsError):
        export_gallery(out, tmp_path / "gallery", prefix="bottleneck")


@pytest.mark.parametrize("script, argv, message", [
    ("bottleneck.py", ["--widths", "0"], "widths must be distinct positive integers"),
    ("mess3_sweep.py", ["--xs", "0.7"], "x"),
])
def test_scripts_report_bad_arguments_in_one_line(script, argv, message, tmp_path, capsys):
    from scripts import load_script

    module = load_script(f"experiments/{script}")
    assert module.main(["--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compmech: error: ") and message in err and err.count("\n") == 1


def test_two_invocations_share_the_work(bottleneck_dir, tmp_path):
    """A job another process is running is not started again: it is waited for and read back."""
    import shutil
    import threading

    from compmech.experiments.runner import job_lock

    out, _, _ = bottleneck_dir
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    saved = result_path(folder, "width_002").read_text()
    result_path(folder, "width_002").unlink()
    jobs = bottleneck_jobs(tiny_bottleneck())
    holder = job_lock(folder, "width_002").acquire()  # "another invocation" runs this job
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(ran=run_jobs(jobs, folder)))
    worker.start()
    worker.join(timeout=5)
    assert worker.is_alive()  # it finished the free jobs and waits for the busy one
    result_path(folder, "width_002").write_text(saved)  # the other invocation finishes it
    holder.release()
    worker.join(timeout=60)
    ran = outcome["ran"]
    assert ran.computed == [] and sorted(ran.skipped) == sorted(j.name for j in jobs)
    assert ran.results["width_002"].to_dict() == json.loads(saved)


def test_results_of_the_all_scales_version_read_their_theory_part():
    from compmech.experiments.results import DimensionSummary

    old = {"theory": {"point_cloud": {"correlation": {"dimension": 0.8}}, "kaplan_yorke": 1.7,
                      "lyapunov_exponents": [-0.1, -0.3], "entropy_rate_bits": 1.2},
           "learned": {"correlation": {"dimension": 1.9}}, "pairwise_distance_correlation": 0.99,
           "num_distinct_points": 500, "error": None}
    assert DimensionSummary.from_dict(old) == DimensionSummary(1.7, [-0.1, -0.3], 1.2)
    failed = {"theory": {"point_cloud": None, "kaplan_yorke": None,
                         "kaplan_yorke_error": "one state"},
              "learned": None, "pairwise_distance_correlation": None,
              "num_distinct_points": None, "error": "too few points"}
    assert DimensionSummary.from_dict(failed) == DimensionSummary(None, error="one state")
    new = DimensionSummary(0.5, [-1.0], 0.9)
    assert DimensionSummary.from_dict(new.to_dict()) == new


def test_figure_data_round_trips_and_leaves_out_what_is_unset(tmp_path):
    from compmech.experiments.results import FigureData

    rng = np.random.default_rng(0)
    data = FigureData(true=rng.random((5, 3)), predicted=rng.random((5, 3)))
    data.write(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as raw:
        assert sorted(raw.files) == ["predicted", "true"]
    back = FigureData.read(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.true, data.true)
    np.testing.assert_array_equal(back.predicted, data.predicted)
    assert back.coordinate is None and FigureData.read(tmp_path / "none.npz") is None


def test_heads_labels_keep_lambda_for_readers_and_recompute_it():
    from compmech.experiments.heads import HeadsLabels, mess3_lambda
    from compmech.experiments.results import JobResult

    labels = HeadsLabels(x=0.3, alpha=0.85, n_heads=2)
    written = labels.to_labels()
    assert written["lambda"] == pytest.approx(1 - 3 * 0.3) and "seed" not in written
    result = JobResult.__new__(JobResult)
    result.labels = {**written, "lambda": 123.0}  # a stale value is not trusted
    back = HeadsLabels.of(result)
    assert back == labels and back.lam == pytest.approx(mess3_lambda(0.3))
