"""ProbeConfig: one home for the probe's options, validated where it is made."""

from __future__ import annotations

import inspect

import pytest

from compmech.probing.config import ProbeConfig
from compmech.probing.curve import CURVE_WORDS
from compmech.probing.data import DEFAULT_DECODERS
from compmech.probing.linear import MAX_ENUMERATED_POINTS
from compmech.probing.run import probe_run


def test_defaults_are_the_papers_protocol_with_every_extra():
    c = ProbeConfig()
    assert (c.checkpoints, c.split, c.weighting, c.folds) == ("all", "auto", "uniform", None)
    assert c.geometry and c.decoder_concat and not c.rcond_sweep
    assert c.decoders == DEFAULT_DECODERS == ("knn", "mlp")
    assert (c.max_points, c.num_sequences, c.curve_words) == (MAX_ENUMERATED_POINTS, 20_000,
                                                              CURVE_WORDS)


def test_round_trip_through_json():
    c = ProbeConfig(checkpoints=7, hooks=("blocks.0.hook_resid_post", "concat"), seed=3,
                    weighting="probability", folds=4, decoders=("knn",), curve_words=None)
    again = ProbeConfig.from_dict(c.to_dict())
    assert again == c


def test_normalises_hooks_decoders_and_numeric_checkpoints():
    c = ProbeConfig(hooks=["a", "b", "a"], decoders=["mlp", "mlp"], checkpoints="5")
    assert c.hooks == ("a", "b") and c.decoders == ("mlp",) and c.checkpoints == 5


@pytest.mark.parametrize("options, words", [
    (dict(checkpoints="some"), "checkpoints"),
    (dict(checkpoints=1), "N >= 2"),
    (dict(checkpoints=2.5), "checkpoints"),
    (dict(split="50/50"), "split"),
    (dict(weighting="tf-idf"), "weighting"),
    (dict(folds=1), "folds"),
    (dict(folds=4, split="20/80"), "not both"),
    (dict(decoders=("svm",)), "unknown decoders"),
    (dict(decoders="knn"), "list of names"),
    (dict(curve_words=0), "curve_words"),
    (dict(max_points=0), "max_points"),
    (dict(num_sequences=-5), "num_sequences"),
    (dict(max_points="many"), "max_points"),
    (dict(folds=float("nan")), "folds"),
    (dict(hooks="blocks.0.hook_resid_post"), "hooks"),
    (dict(hooks=()), "hooks"),
])
def test_refuses_a_bad_option_in_one_line(options, words):
    with pytest.raises(ValueError, match=words) as err:
        ProbeConfig(**options)
    assert "\n" not in str(err.value)


def test_unknown_option_is_a_type_error_not_silently_dropped():
    with pytest.raises(TypeError):
        ProbeConfig(chekpoints="last")


def test_probe_run_takes_only_the_config_and_io_flags():
    params = inspect.signature(probe_run).parameters
    assert list(params) == ["run_dir", "config", "force", "progress"]
    with pytest.raises(TypeError, match="ProbeConfig"):
        probe_run("anywhere", {"checkpoints": "last"})


def test_the_command_line_offers_exactly_the_decoders_the_config_accepts():
    from compmech.cli import build_parser
    from compmech.probing.config import PROBE_DECODERS

    probe = build_parser()._subparsers._group_actions[0].choices["probe"]
    action = next(a for a in probe._actions if "--decoders" in a.option_strings)
    assert tuple(action.choices) == PROBE_DECODERS and tuple(action.default) == DEFAULT_DECODERS
