"""``compmech train``: a damaged resume state or checkpoint is one line naming the file and the
remedy; the progress bar never shows the placeholder step count of a wall-clock budget."""

import json

from compmech.cli import main

TINY = ["--process", "mess3", "--n-layers", "1", "--d-model", "8", "--d-head", "4", "--d-mlp", "8",
        "--n-ctx", "4", "--batch-size", "16", "--eval-every", "10", "--steps-per-call", "5"]


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_resume_state_names_the_file_and_the_remedy(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "10", "--out", str(out), "--quiet"]) == 0
    state = out / "checkpoints" / "train_state.msgpack"
    _truncate(state)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert str(state) in err and "--force" in err and "damaged" in err
    # the remedy works: --force starts the run over
    assert main(["train", *TINY, "--steps", "10", "--out", str(out), "--force", "--quiet"]) == 0


def test_truncated_ensemble_state_names_the_file(tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["train", *TINY, "--steps", "5", "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    state = out / "ensemble_state.msgpack"
    _truncate(state, 0.3)
    capsys.readouterr()
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(state) in err and "--force" in err


def test_damaged_checkpoint_names_the_file(tmp_path):
    import pytest

    import transformer

    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "10", "--out", str(out), "--quiet"]) == 0
    run = transformer.load_run(out)
    last = run.checkpoint_steps[-1]
    path = out / "checkpoints" / f"params_{last:08d}.msgpack"
    _truncate(path)
    with pytest.raises(ValueError, match="delete that file") as info:
        run.load_params(last)
    assert str(path) in str(info.value)
    run.load_params(0)  # the other checkpoints stay usable


def _frames(stderr: str) -> list[str]:
    """The successive renderings of tqdm bars (separated by carriage returns and newlines)."""
    return [f for f in stderr.replace("\n", "\r").split("\r") if "train mess3" in f]


def test_budget_progress_bar_has_no_placeholder_total(tmp_path, capsys):
    out = tmp_path / "run"
    # --steps 777 is the placeholder a wall-clock budget replaces once it has measured the speed
    assert main(["train", *TINY, "--steps", "777", "--minutes", "0.08", "--warmup-steps", "10",
                 "--out", str(out)]) == 0
    frames = _frames(capsys.readouterr().err)
    steps = json.loads((out / "config.json").read_text())["steps"]
    assert frames and steps != 777
    assert not any("/777" in f for f in frames), frames[:3]
    assert "%|" not in frames[0]  # no total (so no ETA) before the budget is known
    assert any(f"/{steps}" in f for f in frames)  # then the real one


def test_quiet_silences_the_bar_and_fixed_steps_show_their_total(tmp_path, capsys):
    assert main(["train", *TINY, "--steps", "10", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert _frames(capsys.readouterr().err) == []
    assert main(["train", *TINY, "--steps", "10", "--out", str(tmp_path / "b")]) == 0
    frames = _frames(capsys.readouterr().err)
    assert frames and all("/10 " in f for f in frames if "%|" in f) and "%|" in frames[-1]


def test_unreadable_dataset_names_the_file_and_the_remedy(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_text("{not an npz")
    assert main(["train", "--process", "mess3", "--dataset", str(bad), "--out",
                 str(tmp_path / "run"), "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(bad) in err and "compmech generate" in err


def test_not_a_run_directory_says_what_to_give(tmp_path, capsys):
    assert main(["probe", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "compmech train --out" in err


def test_damaged_run_files_name_the_file_and_the_remedy(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "10", "--out", str(out), "--quiet"]) == 0
    assert main(["probe", str(out), "--checkpoints", "last", "--no-geometry",
                 "--decoders", "--quiet"]) == 0
    points = out / "probe_points.npz"
    _truncate(points)
    capsys.readouterr()
    assert main(["figures", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err  # one line, not a traceback
    assert str(points) in err and "--force" in err
    points.unlink()
    assert main(["figures", str(out)]) == 2
    assert "compmech probe" in capsys.readouterr().err
    _truncate(out / "probe.json")
    assert main(["figures", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out / "probe.json") in err and "--force" in err
    _truncate(out / "config.json")
    assert main(["probe", str(out), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(out / "config.json") in err and "--force" in err
