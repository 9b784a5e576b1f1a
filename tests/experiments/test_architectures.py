"""``compmech reproduce architectures``: the grid of processes x networks, on tiny settings."""

import json
import re

import numpy as np
import pytest

from compmech.cli import main
from compmech.experiments import architectures
from compmech.experiments.results import JobResult
from transformer import model_config_from_dict, probe_hooks


def test_jobs_cover_the_grid_with_both_protocols():
    jobs = architectures.architecture_jobs(architectures.ArchitecturesConfig(minutes=1.0))
    assert len(jobs) == 16
    assert {(j.labels["process"], j.labels["arch"]) for j in jobs} == {
        (p, a) for p in architectures.PROCESSES for a in architectures.ARCHS}
    for job in jobs:
        model = model_config_from_dict(job.train_config["model"])
        assert model.n_ctx == 8 and model.n_layers == 4
        assert getattr(model, "d_hidden", getattr(model, "d_model", None)) == 64
        assert [p["name"] for p in job.protocols] == ["uniform", "probability"]
        assert job.train_config["minutes"] == 1.0 and job.layers and not job.dimensions
    with pytest.raises(ValueError, match="unknown processes"):
        architectures.ArchitecturesConfig(processes=["nope"])
    with pytest.raises(ValueError, match="unknown architectures"):
        architectures.ArchitecturesConfig(archs=["cnn"])


def test_config_refuses_bad_values_round_trips_and_keeps_the_old_defaults():
    Config = architectures.ArchitecturesConfig
    with pytest.raises(ValueError, match="minutes must be a positive number"):
        Config(minutes=0.0)
    assert Config(minutes=None, tiny=True).minutes_per_model is None  # tiny: fixed steps
    config = Config(processes=["fanizza", "mess3"], archs=["gru"], minutes=0.5, seed=3)
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # the defaults of the keywords it replaced (run_architectures before the config)
    assert Config() == Config(processes=tuple(architectures.PROCESSES), archs=architectures.ARCHS,
                              minutes=architectures.DEFAULT_MINUTES, tiny=False, seed=0)
    assert architectures.DEFAULT_MINUTES == 1.0
    assert architectures.architecture_jobs() == architectures.architecture_jobs(Config())


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("arch") / "grid"
    lines = []
    config = architectures.ArchitecturesConfig(processes=["fanizza"], tiny=True)
    summary = architectures.run_architectures(out, config, log=lines.append)
    return out, summary, lines


def test_tiny_grid_writes_the_table_figure_and_facts(tiny_grid):
    out, summary, lines = tiny_grid
    assert [r.labels["arch"] for r in summary.rows] == list(architectures.ARCHS)
    assert len(lines) == 5  # header + one line per network
    for r in summary.rows:
        model = model_config_from_dict(r.model)
        assert r.num_params == model.num_params and r.train.tokens_seen == 30 * 32 * 4
        assert len(r.loss.loss_gap_per_position) == 4
        for name in ("uniform", "probability"):
            hooks = r.protocols[name].hooks
            assert set(hooks) >= set(probe_hooks(model))
            head = hooks[r.probe.hook]
            assert {"markov_1", "markov_2", "markov_3", "untrained"} <= set(head.baselines)
        assert r.protocols["probability"].protocol.kfold
        assert r.protocols["probability"].hooks[r.probe.hook].rcond_chosen
        # a recurrent embedding is the last token alone: its probe is the Markov-1 predictor
        if model.arch != "transformer":
            emb = r.protocols["probability"].hooks["hook_embed"]
            assert emb.mse_test == pytest.approx(emb.baselines["markov_1"], rel=1e-6)
    text = (out / "README.md").read_text()
    assert "| fanizza_gru |" in text and "Probe MSE per layer" in text and "t=4" in text
    # the table leads with the presentation-invariant R^2 and says what MSE averages over
    header = re.split(r"\s{2,}", lines[0].strip())
    assert header.index("iR2 prob") < header.index("MSE unif") < header.index("R2 prob")
    assert "Invariant R^2 per layer" in text and "S - 1 belief-plane coordinates" in text
    for r in summary.rows:
        head = r.protocols["probability"].hooks[r.probe.hook]
        assert head.invariant_r2_test <= 1.0 and np.isfinite(head.invariant_r2_test)
        assert set(head.baselines_invariant_r2) == set(head.baselines)
    assert (out / "architectures.png").is_file() and (out / "architectures.pdf").is_file()
    saved = json.loads((out / "summary.json").read_text())
    assert saved["experiment"] == "architectures" and len(saved["rows"]) == 4
    JobResult.from_dict(saved["rows"][0])
    assert architectures.ArchitecturesSummary.read(out / "summary.json") == summary
    assert np.isfinite(saved["rows"][1]["protocols"]["uniform"]["hooks"]["hook_embed"]["mse_test"])


def test_rerun_reuses_results_and_cli_errors(tiny_grid, capsys):
    out, _, _ = tiny_grid
    assert main(["reproduce", "architectures", "--tiny", "--out", str(out), "--processes",
                 "fanizza", "--quiet"]) == 0
    assert "4 models" in capsys.readouterr().out
    assert main(["reproduce", "mess3", "--tiny", "--out", str(out / "x"), "--workers", "2"]) == 2
    assert "apply to `reproduce architectures`" in capsys.readouterr().err
    assert main(["reproduce", "architectures", "--tiny", "--out", str(out / "y"), "--archs",
                 "cnn"]) == 2
    assert "unknown architectures" in capsys.readouterr().err


def test_a_ghmm_with_three_plane_coordinates_is_not_drawn_in_the_simplex(tiny_grid):
    from compmech.figures.common import BeliefPlane
    from compmech.figures.run import make_figures

    coords = np.random.default_rng(0).normal(size=(50, 3))  # fanizza: 4 states, 3 coordinates
    assert BeliefPlane(coords).simplex
    plane = BeliefPlane(coords, simplex=False)
    assert not plane.simplex and plane.xy(coords).shape == (50, 2)
    np.testing.assert_allclose(plane.xy(coords).mean(0), 0.0, atol=1e-12)  # principal axes
    out, _, _ = tiny_grid
    written = make_figures(out / "runs" / "fanizza_gru", force=True, progress=False)
    assert any(p.name == "side_by_side.png" for p in written)
