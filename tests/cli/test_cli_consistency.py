"""The command line is consistent: one progress flag, one meaning of ``--seed``, help texts that
state the real defaults (checked against the dataclasses and parser defaults they describe)."""

import argparse
import dataclasses

import pytest

from compmech.cli import build_parser
from compmech.cli.common import QUIET_HELP

#: The commands that show progress (bars or progress lines) while they work.
PROGRESS_COMMANDS = ("train", "probe", "reproduce", "experiment bottleneck", "experiment sweep",
                     "experiment heads", "intervene", "generate")


def _commands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every command, sub-commands included (``"experiment heads"``), by name."""
    parser = build_parser() if parser is None else parser
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in _commands(sub).items()})
    return found


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings
            and not isinstance(a, argparse._HelpAction | argparse._VersionAction)]


def test_one_progress_flag_everywhere():
    commands = _commands()
    for name, parser in commands.items():
        shown = {s for a in _options(parser) if a.help != argparse.SUPPRESS for s in a.option_strings}
        assert not any("progress" in f for f in shown), (name, shown)
        if name in PROGRESS_COMMANDS:
            quiet = next(a for a in _options(parser) if "--quiet" in a.option_strings)
            assert quiet.help == QUIET_HELP and quiet.dest == "quiet" and quiet.default is False
    assert set(PROGRESS_COMMANDS) <= set(commands)


def test_seed_means_the_same_in_every_command():
    seen = 0
    for name, parser in _commands().items():
        for action in _options(parser):
            if "--seed" in action.option_strings:
                seen += 1
                assert action.type is int and action.metavar == "S", name
                assert action.help.startswith("seed of every random choice of this command: "), name
                assert "default" in action.help, name
                assert not action.required or name == "generate", name  # a dataset names its seed
    assert seen >= 11  # generate, info, train, probe, figures, reproduce, 3 experiments, ...


def _stated(default) -> str:
    if isinstance(default, list | tuple):
        return " ".join(str(v) for v in default)
    return str(default)


def test_every_default_is_stated_in_the_help():
    missing = []
    for name, parser in _commands().items():
        for action in _options(parser):
            if isinstance(action, argparse._StoreTrueAction) or action.required:
                continue
            text = (action.help or "") % {"default": action.default}
            if "default" not in text and "required" not in text:
                missing.append((name, action.option_strings[-1], "no default stated"))
            elif action.default is not None and _stated(action.default) not in text:
                missing.append((name, action.option_strings[-1], text))
    assert not missing


def test_train_help_states_the_config_defaults():
    from compmech.cli import train as train_cli
    from transformer.config import GRUConfig, LSTMConfig, ModelConfig, RNNConfig, TrainConfig

    config = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for key, value in train_cli.TRAIN_DEFAULTS.items():
        assert config[key] == value, key
    assert set(train_cli.TRAIN_DEFAULTS) == set(train_cli._TRAIN_FLAGS) - {
        "minutes", "bos", "dataset"}
    model = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    for key, value in train_cli.TRANSFORMER_DEFAULTS.items():
        assert model[key] == value, key
    for cls in (LSTMConfig, GRUConfig, RNNConfig):
        recurrent = {f.name: f.default for f in dataclasses.fields(cls)}
        for key, value in train_cli.RECURRENT_DEFAULTS.items():
            assert recurrent[key] == value, (cls.__name__, key)
    help_text = _commands()["train"].format_help()
    assert "(default 1200, or that of --config)" in help_text


def test_the_old_progress_flag_is_a_hidden_alias_of_quiet(capsys):
    train = _commands()["train"]
    assert "--no-progress" not in train.format_help()
    assert train.parse_args(["--out", "R", "--no-progress"]).quiet is True
    assert train.parse_args(["--out", "R"]).quiet is False
    probe = _commands()["probe"]
    with pytest.raises(Exception, match="--no-progress"):  # only train ever had it
        probe.parse_args(["R", "--no-progress"])


def test_experiment_help_states_the_experiments_defaults():
    from compmech.experiments import bottleneck, heads, sweep

    commands = _commands()
    sub = {name.split()[1]: p for name, p in commands.items() if name.startswith("experiment ")}
    assert set(sub) == {"bottleneck", "sweep", "heads"}

    def help_of(name, flag):
        return next(a.help for a in _options(sub[name]) if flag in a.option_strings)

    def numbers(values):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    assert numbers(bottleneck.DEFAULT_WIDTHS) in help_of("bottleneck", "--widths")
    assert numbers(sweep.DEFAULT_X) in help_of("sweep", "--xs")
    assert numbers(sweep.DEFAULT_ALPHA) in help_of("sweep", "--alphas")
    assert " ".join(sweep.DEFAULT_EXTRAS) in help_of("sweep", "--extras")
    assert " ".join(sweep.DEFAULT_DECODERS) in help_of("sweep", "--decoders")
    assert "0.05 0.15 0.25 0.40 0.45" in help_of("heads", "--xs")
    assert heads.DEFAULT_X == (0.05, 0.15, 0.25, 0.40, 0.45) and heads.ALPHA_SWEEP_X == 0.05
    assert numbers(heads.DEFAULT_HEADS) in help_of("heads", "--heads")
    assert str(heads.DEFAULT_HEAD_WIDTH) in help_of("heads", "--head-width")
    assert str(heads.DEFAULT_ALPHA) in help_of("heads", "--alpha")
    assert str(heads.DEFAULT_STEPS) in help_of("heads", "--steps")


@pytest.mark.parametrize("argv, hint", [
    (["experiment", "bottleneck", "--out", "D", "--decoders", "knn"], "--decoders is a sweep option"),
    (["experiment", "sweep", "--out", "D", "--heads", "1"], "--heads is a heads option"),
    (["experiment", "heads", "--out", "D", "--widths", "3"], "--widths is a bottleneck option"),
    (["experiment", "bottleneck", "--out", "D", "--xs", "0.1"], "--xs is a sweep and heads option"),
])
def test_an_option_of_another_experiment_is_refused_with_a_hint(argv, hint, capsys):
    from compmech.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and hint in err and "unrecognized arguments" in err


def test_reproduce_help_states_the_reproductions_defaults():
    from compmech.experiments import architectures, factored, icl, reproduce

    options = {a.option_strings[-1]: a.help for a in _options(_commands()["reproduce"])}
    assert reproduce.DEFAULT_MINUTES == 2.0 and architectures.DEFAULT_MINUTES == 1.0
    assert icl.DEFAULT_MINUTES == 12.0 and factored.DEFAULT_MINUTES == 30.0
    assert "icl, default 12" in options["--minutes"] and "factored, default 30" in options["--minutes"]
    assert "default 2;" in options["--minutes"] and "architectures, default 1" in options["--minutes"]
    assert f"{reproduce.REPRODUCE_CHECKPOINTS} log-spaced" in options["--checkpoints"]
    assert " ".join(architectures.PROCESSES) in options["--processes"]
    assert " ".join(architectures.ARCHS) in options["--archs"]


# ------------------------------------------------------------------------------- --seeds, --seed
def test_every_seeds_option_is_one_value_of_the_one_parser():
    from compmech.cli.common import SEEDS_FORM, SEEDS_METAVAR, parse_seeds

    having = {}
    for name, parser in _commands().items():
        for action in _options(parser):
            if "--seeds" in action.option_strings:
                having[name] = action
                assert action.type is parse_seeds and action.nargs is None, name
                assert action.metavar == SEEDS_METAVAR and SEEDS_FORM in action.help, name
                assert action.default is None and "(default: none" in action.help, name
    assert set(having) == {"train", "reproduce", "experiment heads"}
    for name in having:  # the same meaning everywhere: N counts from 0
        parser = _commands()[name]
        base = ["mess3"] if name == "reproduce" else []
        for text, seeds in (("3", [0, 1, 2]), ("2-4", [2, 3, 4]), ("5,1,7", [5, 1, 7]),
                            ("3-3", [3]), ("0-1,8", [0, 1, 8])):
            assert parser.parse_args([*base, "--out", "D", "--seeds", text]).seeds == seeds, name


@pytest.mark.parametrize("argv, message", [
    # the old space-separated list of `experiment heads`: refused, never read as a count
    (["experiment", "heads", "--out", "D", "--seeds", "1", "2"], "write a list with commas"),
    (["experiment", "heads", "--out", "D", "--seeds", "0", "1", "2"], "a list A,B,C"),
    (["train", "--out", "D", "--seeds", "2", "5"], "write a list with commas"),
    (["reproduce", "mess3", "--out", "D", "--seeds", "0,0"], "names a seed twice"),
])
def test_a_seeds_value_the_parser_does_not_take_is_refused_with_the_form(argv, message, capsys):
    from compmech.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("argv, message", [
    (["experiment", "heads", "--out", "D", "--seeds", "2", "--seed", "1"], "not both"),
    (["reproduce", "icl", "--out", "D", "--seeds", "2", "--seed", "1"], "not both"),
    (["reproduce", "factored", "--out", "D", "--seeds", "2", "--seed", "0"], "not both"),
    (["reproduce", "quantum", "--out", "D", "--seeds", "2", "--seed", "1"], "not both"),
    (["reproduce", "architectures", "--out", "D", "--seeds", "2"], "not available for architectures"),
    (["reproduce", "bottleneck", "--out", "D", "--seeds", "2"], "not available for bottleneck"),
    (["reproduce", "factored", "--out", "D", "--seeds", "2", "--paper"], "drop --seeds"),
])
def test_seed_is_never_silently_ignored_beside_seeds(argv, message, tmp_path, capsys):
    """Where --seeds replaces --seed (each model trained and analysed with its own seed), giving
    both is an error, and a reproduction without several seeds refuses --seeds."""
    from compmech.cli import main

    argv = [str(tmp_path / "out") if a == "D" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_seed_and_seeds_reach_the_experiments_as_documented(monkeypatch, tmp_path):
    """--seed defaults to 0 where it is not given; --seeds N is the seeds 0..N-1 in heads (it was
    the one seed N before) and in icl, as in train."""
    from types import SimpleNamespace

    from compmech.cli import main
    from compmech.experiments import heads, icl

    calls = []

    def fake_heads(out, config, **kwargs):
        calls.append(config.to_dict())
        return SimpleNamespace(failed=[], files=[])

    def fake_icl(out, config, **kwargs):
        calls.append(config.to_dict())
        return SimpleNamespace(mixtures={}, wall_time_s=0.0)

    monkeypatch.setattr(heads, "run_heads", fake_heads)
    monkeypatch.setattr(icl, "run_icl", fake_icl)
    monkeypatch.setattr(icl, "markdown_table", lambda results: "")
    out = str(tmp_path / "x")
    assert main(["experiment", "heads", "--out", out, "--quiet"]) == 0
    assert calls[-1]["seed"] == 0 and calls[-1]["seeds"] is None
    assert main(["experiment", "heads", "--out", out, "--seed", "4", "--quiet"]) == 0
    assert calls[-1]["seed"] == 4 and calls[-1]["seeds"] is None
    assert main(["experiment", "heads", "--out", out, "--seeds", "3", "--quiet"]) == 0
    assert calls[-1]["seeds"] == [0, 1, 2]
    assert main(["reproduce", "icl", "--out", out, "--quiet"]) == 0
    assert calls[-1]["seeds"] == [0]
    assert main(["reproduce", "icl", "--out", out, "--seeds", "1-2", "--quiet"]) == 0
    assert calls[-1]["seeds"] == [1, 2]


def test_experiment_device_help_states_the_config_default():
    from transformer.config import TrainConfig

    for name in ("bottleneck", "sweep", "heads"):
        device = next(a for a in _options(_commands()[f"experiment {name}"])
                      if "--device" in a.option_strings)
        assert device.default is None  # the jobs keep TrainConfig's own device
        assert f"(default: {TrainConfig().device})" in device.help, name
