"""DatasetConfig: what generate_dataset samples, validated where it is built."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compmech
from compmech.datasets import DatasetConfig, Framing, generate_dataset


@pytest.mark.parametrize("bad, name", [
    (dict(num_sequences=0), "num_sequences"),
    (dict(num_sequences=2.5), "num_sequences"),
    (dict(seq_len=-1), "seq_len"),
    (dict(seed=1.5), "seed"),
    (dict(seed=True), "seed"),
    (dict(framing=Framing(bos=3, total_len=4)), "total_len"),  # 4 tokens + BOS do not fit in 4
    (dict(framing=Framing(eos=3, total_len=9)), "pad"),  # longer than L + EOS needs a pad
])
def test_dataset_config_refuses_bad_values_in_one_line(bad, name):
    with pytest.raises(ValueError, match=name) as info:
        DatasetConfig(**{"num_sequences": 2, "seq_len": 4, "seed": 0, **bad})
    assert "\n" not in str(info.value)


def test_dataset_config_round_trips_with_its_framing():
    plain = DatasetConfig(num_sequences=3, seq_len=5, seed=7)
    assert (plain.factors, plain.framing) == (False, None)  # generate_dataset's old defaults
    framed = DatasetConfig(num_sequences=3, seq_len=5, seed=7, factors=True,
                           framing=Framing(bos=2, pad=4, total_len=8))
    for config in (plain, framed):
        assert DatasetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_generate_dataset_writes_what_the_config_says(tmp_path):
    even = compmech.get_process("even")
    config = DatasetConfig(num_sequences=5, seq_len=4, seed=3, framing=Framing(bos=2, eos=3))
    path = generate_dataset(even, config, tmp_path / "d.npz")
    with np.load(path) as data:
        tokens, framed = data["tokens"], data["framed_tokens"]
        meta = json.loads(str(data["metadata"]))
    assert tokens.shape == (5, 4) and (meta["num_sequences"], meta["seq_len"], meta["seed"]) == (5, 4, 3)
    assert meta["framing"]["total_len"] == 6  # the default: L plus BOS and EOS
    np.testing.assert_array_equal(framed, np.concatenate(
        [np.full((5, 1), 2), tokens, np.full((5, 1), 3)], axis=1))
    # the same config, the same bytes
    again = generate_dataset(even, config, tmp_path / "e.npz")
    with np.load(again) as data:
        assert data["tokens"].tobytes() == tokens.tobytes()
    with pytest.raises(ValueError, match="outside the process vocabulary"):
        generate_dataset(even, DatasetConfig(num_sequences=1, seq_len=2, seed=0,
                                             framing=Framing(bos=1)), tmp_path / "f.npz")
