"""Seed ensembles: N members trained as one vmapped program equal N single runs."""

import json
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import transformer
from compmech.cli import main
from compmech.cli.common import parse_seeds
from compmech.probing.ensembles import SeedSpread
from transformer import ModelConfig, TrainConfig
from transformer.rundir import EnsembleDirectory, RunDirectory
from two_devices import run_on_two_cpu_devices

TINY = ModelConfig(n_layers=1, d_model=16, n_heads=1, d_head=8, d_mlp=32, n_ctx=5, d_vocab=3)


def tiny_config(**changes) -> TrainConfig:
    base = TrainConfig(process="mess3", model=TINY, steps=20, batch_size=16, lr=3e-3,
                       warmup_steps=5, eval_every=10, log_every=5, checkpoints_per_decade=4,
                       steps_per_call=5, eval_max_words=10_000)
    return base.replace(**changes)


def leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def relative_difference(a, b) -> float:
    """``|a - b| / |b|`` over all parameters (a global relative norm)."""
    num = sum(float(np.sum((np.asarray(x) - np.asarray(y)) ** 2)) for x, y in
              zip(leaves(a), leaves(b), strict=True))
    den = sum(float(np.sum(np.asarray(y) ** 2)) for y in leaves(b))
    return (num / den) ** 0.5


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    out = tmp_path_factory.mktemp("ens") / "ens"
    return transformer.train_ensemble(tiny_config(), [0, 3], out, progress=False)


def test_each_member_equals_the_single_run_with_its_seed(ensemble, tmp_path):
    assert ensemble.seeds == [0, 3] and len(ensemble.members) == 2
    for seed, member in zip(ensemble.seeds, ensemble.members, strict=True):
        single = transformer.train(tiny_config(seed=seed), tmp_path / f"s{seed}", progress=False)
        # the initialisation is the same array, bitwise
        ens_run, one_run = transformer.load_run(member.run_dir), transformer.load_run(single.run_dir)
        for a, b in zip(leaves(ens_run.load_params(0)), leaves(one_run.load_params(0)), strict=True):
            np.testing.assert_array_equal(a, b)
        # 20 Adam steps later: float rounding only (vmap reorders some reductions)
        assert relative_difference(member.params, single.params) < 1e-4
        curve = [(m["step"], m["train_loss"]) for m in ens_run.metrics if m["step"] > 0]
        ref = [(m["step"], m["train_loss"]) for m in one_run.metrics if m["step"] > 0]
        np.testing.assert_array_equal([s for s, _ in curve], [s for s, _ in ref])
        np.testing.assert_allclose([v for _, v in curve], [v for _, v in ref], rtol=1e-5)
        assert member.final_eval["eval_loss_mean"] == pytest.approx(
            single.final_eval["eval_loss_mean"], rel=1e-5)
        assert ens_run.checkpoint_steps == one_run.checkpoint_steps
        assert ens_run.config.seed == seed
    # the members differ (different seeds: different initialisation and data)
    a, b = ensemble.members
    assert relative_difference(a.params, b.params) > 0.1
    assert a.final_eval["eval_loss_mean"] != b.final_eval["eval_loss_mean"]


def test_an_ensemble_directory_holds_ordinary_runs(ensemble):
    ens = transformer.load_ensemble(ensemble.run_dir)
    assert ens.seeds == [0, 3] and [r.run_dir.name for r in ens] == ["seed-0", "seed-3"]
    manifest = json.loads((ensemble.run_dir / "ensemble.json").read_text())
    assert manifest["members"] == ["seed-0", "seed-3"] and manifest["seeds"] == [0, 3]
    assert not (ensemble.run_dir / "config.json").exists()  # the folder itself is no run
    for run in ens:
        steps = [m["step"] for m in run.metrics]
        assert steps == sorted(set(steps)) and steps[-1] == 20
        assert RunDirectory(run.run_dir).state_path.is_file()


def test_an_interrupted_ensemble_resumes_bitwise(ensemble, tmp_path):
    out = tmp_path / "ens"
    # stopped after 7 steps: every member saved there
    transformer.train_ensemble(tiny_config(), [0, 3], out, progress=False, stop_after=7)
    for seed in (0, 3):
        files = RunDirectory(out / f"seed-{seed}", writer=False)
        assert files.checkpoint_steps()[-1] == 7
    assert list(np.asarray(EnsembleDirectory(out).read_state()["state"]["step"])) == [7, 7]
    resumed = transformer.train_ensemble(None, None, out, resume=True, progress=False)
    assert resumed.members[0].step == 20
    for a, b in zip(resumed.members, ensemble.members, strict=True):
        for x, y in zip(leaves(a.params), leaves(b.params), strict=True):
            np.testing.assert_array_equal(x, y)
        # the same records (a training loss spanning the stop averages fewer steps)
        ma = [(m["step"], m.get("eval_loss_mean")) for m in transformer.load_run(a.run_dir).metrics]
        mb = [(m["step"], m.get("eval_loss_mean")) for m in transformer.load_run(b.run_dir).metrics]
        assert ma == mb


def test_a_stop_signal_saves_every_member(tmp_path):
    out = tmp_path / "ens"
    argv = [sys.executable, "-m", "compmech", "train", "--out", str(out), "--seeds", "0,1",
            "--process", "mess3", "--steps", "100000", "--batch-size", "16", "--n-layers", "1",
            "--d-model", "8", "--d-head", "4", "--d-mlp", "16", "--n-ctx", "4", "--log-every",
            "10", "--steps-per-call", "5", "--eval-every", "100000", "--warmup-steps", "5",
            "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "seed-1" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "--resume" in err and err.count("\n") == 1
    step = int(np.asarray(EnsembleDirectory(out).read_state()["state"]["step"])[0])
    for seed in (0, 1):
        files = RunDirectory(out / f"seed-{seed}", writer=False)
        assert files.checkpoint_steps()[-1] == step
        assert files.read_metrics()[-1]["step"] == step
        assert int(files.read_state()["state"]["step"]) == step
    resumed = transformer.train_ensemble(None, None, out, resume=True, progress=False,
                                         stop_after=step + 5)
    assert [m.step for m in resumed.members] == [step + 5, step + 5]


def test_ensemble_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        transformer.train_ensemble(tiny_config(), [1, 1], tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="at least one"):
        transformer.train_ensemble(tiny_config(), [], tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("text, seeds", [("4", [0, 1, 2, 3]), ("0-7", list(range(8))),
                                         ("0,2,5", [0, 2, 5]), ("3-4,9", [3, 4, 9]),
                                         ("6", list(range(6)))])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "1,1", "0-2,2", "5-3", "0", "-3"])
def test_bad_seed_lists_are_refused(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_seeds(text)


def test_seed_spread_is_the_sample_mean_and_std():
    spread = SeedSpread.of([1.0, 2.0, None, 4.0, float("nan")])
    assert spread.values == [1.0, 2.0, None, 4.0, None]
    assert spread.mean == pytest.approx(7 / 3)
    assert spread.std == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert SeedSpread.of([5.0]).std is None and SeedSpread.of([None]).mean is None


def test_cli_trains_probes_and_resumes_an_ensemble(tmp_path, capsys):
    out = tmp_path / "ens"
    args = ["train", "--process", "mess3", "--out", str(out), "--seeds", "1,4", "--steps", "10",
            "--batch-size", "16", "--n-layers", "1", "--d-model", "8", "--d-head", "4",
            "--d-mlp", "16", "--n-ctx", "4", "--warmup-steps", "2", "--eval-every", "10",
            "--log-every", "5", "--steps-per-call", "5", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "ensemble of 2 members (seed-1, seed-4)" in text and text.count("eval loss") == 2
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0  # done: no-op
    assert main(["probe", str(out), "--checkpoints", "last", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "mean +- std across seeds" in text
    report = json.loads((out / "probe_ensemble.json").read_text())
    per_member = [json.loads((out / f"seed-{s}" / "probe.json").read_text()) for s in (1, 4)]
    mses = [p["hooks"][p["headline_hook"]]["mse_test"] for p in per_member]
    assert report["scores"]["mse_test"]["values"] == pytest.approx(mses)
    assert report["scores"]["mse_test"]["mean"] == pytest.approx(np.mean(mses))
    assert report["scores"]["mse_test"]["std"] == pytest.approx(np.std(mses, ddof=1))
    # each member is an ordinary run: the single-run probe reads it unchanged
    assert main(["probe", str(out / "seed-4"), "--checkpoints", "last", "--quiet",
                 "--force"]) == 0
    assert main([*args[:4], "--seed", "1", *args[6:]]) == 2  # --seed and --seeds together


def test_members_shard_over_two_devices_with_the_same_result(tmp_path):
    script = f"""
        import json, jax, numpy as np, transformer
        from transformer import ModelConfig, TrainConfig
        assert len(jax.devices()) == 2
        cfg = TrainConfig(process="mess3", model=ModelConfig(n_layers=1, d_model=16, d_head=8,
                          d_mlp=32, n_ctx=5), steps=10, batch_size=16, warmup_steps=2,
                          eval_every=10, log_every=5, steps_per_call=5, eval_max_words=10_000)
        out = {{}}
        for n in (1, 2):
            r = transformer.train_ensemble(cfg.replace(num_devices=n), [0, 1],
                                           r"{tmp_path}/d%d" % n, progress=False)
            out[n] = [m.final_eval["eval_loss_mean"] for m in r.members]
        print(json.dumps(out))
    """
    out = run_on_two_cpu_devices(script)
    assert out["1"][0] != out["1"][1]
    np.testing.assert_allclose(out["2"], out["1"], rtol=1e-5)


def test_any_registered_architecture_trains_as_an_ensemble(tmp_path):
    from transformer import LinearBottleneckConfig

    model = LinearBottleneckConfig(n_layers=1, d_model=16, n_heads=1, d_head=8, d_mlp=32, n_ctx=5,
                                   d_vocab=3, bottleneck_width=2)
    config = tiny_config(model=model, steps=10)
    ens = transformer.train_ensemble(config, [2, 5], tmp_path / "ens", progress=False)
    for seed, member in zip((2, 5), ens.members, strict=True):
        single = transformer.train(config.replace(seed=seed), tmp_path / f"s{seed}", progress=False)
        assert relative_difference(member.params, single.params) < 1e-4
        assert transformer.load_run(member.run_dir).model_config == model


def test_a_process_sweep_trains_each_process_as_its_single_run(tmp_path):
    grid = transformer.training.sweep_grid(x=[0.05, 0.15], alpha=[0.85])
    assert grid == [{"x": 0.05, "alpha": 0.85}, {"x": 0.15, "alpha": 0.85}]
    config = tiny_config(steps=10)
    sweep = transformer.train_ensemble(config, [1], tmp_path / "sweep", processes=grid,
                                       progress=False)
    names = [m.run_dir.name for m in sweep.members]
    assert names == ["x=0.05_alpha=0.85_seed-1", "x=0.15_alpha=0.85_seed-1"]
    for params, member in zip(grid, sweep.members, strict=True):
        run = transformer.load_run(member.run_dir)
        assert run.config.process_params == params and run.hmm.params["x"] == params["x"]
        single = transformer.train(config.replace(seed=1, process_params=params),
                                   tmp_path / f"x{params['x']}", progress=False)
        assert relative_difference(member.params, single.params) < 1e-4
        # each member is evaluated against its own process's optimum
        assert member.final_eval["optimal_loss_mean"] == pytest.approx(
            single.final_eval["optimal_loss_mean"], rel=1e-12)
        assert member.final_eval["eval_loss_mean"] == pytest.approx(
            single.final_eval["eval_loss_mean"], rel=1e-5)
    a, b = sweep.members
    assert a.final_eval["optimal_loss_mean"] != b.final_eval["optimal_loss_mean"]
    resumed = transformer.train_ensemble(None, None, tmp_path / "sweep", resume=True,
                                         progress=False)
    assert [m.run_dir.name for m in resumed.members] == names


def test_a_sweep_needs_processes_of_equal_shapes(tmp_path):
    with pytest.raises(ValueError, match="differ only in seed and process|same vocabulary"):
        transformer.setup.build_setup(None, member_configs=[
            tiny_config(), tiny_config(process="rrxor", model=TINY.replace(d_vocab=2))])
    with pytest.raises(ValueError, match="same run"):
        transformer.setup.build_setup(None, member_configs=[tiny_config(), tiny_config()])


def test_cli_process_sweep_and_its_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["train", "--process", "mess3", "-p", "alpha=0.85", "--sweep", "x=0.05,0.15",
                 "--seeds", "0,1", "--out", str(out), "--steps", "10", "--batch-size", "16",
                 "--n-layers", "1", "--d-model", "8", "--d-head", "4", "--d-mlp", "16",
                 "--n-ctx", "4", "--warmup-steps", "2", "--eval-every", "10", "--log-every", "5",
                 "--steps-per-call", "5", "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == ["x=0.05_seed-0", "x=0.05_seed-1", "x=0.15_seed-0", "x=0.15_seed-1"]
    config = json.loads((out / "x=0.15_seed-1" / "config.json").read_text())
    assert config["process_params"] == {"alpha": 0.85, "x": 0.15} and config["seed"] == 1
    capsys.readouterr()
    assert main(["probe", str(out), "--checkpoints", "last", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "(mess3 alpha=0.85 x=0.05)" in text and "(mess3 alpha=0.85 x=0.15)" in text
    report = json.loads((out / "probe_ensemble.json").read_text())
    group = report["groups"]["mess3 alpha=0.85 x=0.15"]["mse_test"]
    assert group["values"] == report["scores"]["mse_test"]["values"][2:]
    assert main(["train", "--process", "mess3", "--sweep", "x", "--out", str(tmp_path / "b")]) == 2


def test_reproduce_with_seeds_probes_and_draws_every_member(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "mess3", "--tiny", "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    assert "mean +- std across seeds" in capsys.readouterr().out
    for seed in (0, 1):
        member = out / f"seed-{seed}"
        assert (member / "probe.json").is_file() and any((member / "figures").iterdir())
        assert json.loads((member / "config.json").read_text())["seed"] == seed
    report = json.loads((out / "probe_ensemble.json").read_text())
    assert report["seeds"] == [0, 1] and report["scores"]["mse_test"]["std"] > 0
