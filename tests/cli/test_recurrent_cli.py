"""``compmech train --arch lstm|gru|rnn`` and the commands that read its run (probe, figures,
intervene), end to end on tiny settings; flags of the other architecture are one-line errors."""

import json

import pytest

from compmech.cli import main

TINY = ["--n-layers", "2", "--d-hidden", "8", "--n-ctx", "5", "--batch-size", "32", "--steps", "20",
        "--eval-every", "10", "--steps-per-call", "10", "--quiet"]


@pytest.mark.parametrize("arch", ["gru", "lstm", "rnn"])
def test_train_a_recurrent_network_from_the_cli(tmp_path, capsys, arch):
    out = tmp_path / arch
    assert main(["train", "--process", "mess3", "--arch", arch, "--out", str(out), *TINY]) == 0
    assert "trained 20 steps" in capsys.readouterr().out
    model = json.loads((out / "config.json").read_text())["model"]
    assert model == {"arch": arch, "n_layers": 2, "d_hidden": 8, "n_ctx": 5, "d_vocab": 3}
    # resume of the finished run, with its saved config
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0


def test_probe_figures_and_interventions_of_a_recurrent_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--process", "mess3", "--arch", "gru", "--out", str(out), "--bos",
                 *TINY]) == 0
    assert main(["probe", str(out), "--quiet"]) == 0
    assert "layers.1.hook_hidden" in capsys.readouterr().out
    report = json.loads((out / "probe.json").read_text())
    assert report["headline_hook"] == "layers.1.hook_hidden"
    assert set(report["hooks"]) == {"hook_embed", "layers.0.hook_hidden", "layers.1.hook_hidden",
                                    "concat"}
    assert main(["figures", str(out)]) == 0
    assert main(["intervene", str(out), "--pairs", "20", "--quiet"]) == 0
    saved = json.loads((out / "mechanisms" / "interventions.json").read_text())
    assert "layers.1.hook_hidden" in saved["hooks"]
    capsys.readouterr()
    assert main(["mechanisms", str(out)]) == 2  # attention analysis: refused in one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no attention patterns" in err


@pytest.mark.parametrize("argv, message", [
    (["--arch", "lstm", "--d-model", "8"], "--d-model: not a setting of the lstm model"),
    (["--arch", "rnn", "--n-heads", "2", "--act-fn", "gelu"], "--n-heads, --act-fn"),
    (["--d-hidden", "8"], "--d-hidden: not a setting of the transformer model"),
    (["--arch", "gru", "--d-hidden", "0"], "d_hidden must be"),
    (["--arch", "cnn"], "invalid choice"),
])
def test_flags_of_the_other_architecture_are_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--process", "mess3", "--out", "R", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compmech: error:") and err.count("\n") == 1 and message in err


def test_arch_switches_a_config_file_keeping_its_context(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"process": "z1r", "model": {"d_model": 8, "d_head": 4, "n_ctx": 4}}))
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--arch", "rnn", "--out", str(out), "--steps", "5",
                 "--eval-every", "5", "--d-hidden", "4", "--n-layers", "1", "--quiet"]) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    assert model == {"arch": "rnn", "n_layers": 1, "d_hidden": 4, "n_ctx": 4, "d_vocab": 2}
