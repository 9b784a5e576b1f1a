"""The data CLI (`processes`, `generate`, basic `info`) and the dataset files, tested in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compmech
from compmech import datasets
from compmech.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_writes_aligned_tokens_beliefs_and_metadata(tmp_path, capsys):
    out = tmp_path / "d.npz"
    code, stdout, err = run(capsys, "generate", "mess3", "-p", "x=0.1", "--num-sequences", "50",
                            "--seq-len", "12", "--seed", "3", "--out", str(out))
    assert code == 0, err
    data = np.load(out)
    assert data["tokens"].shape == (50, 12) and data["tokens"].dtype == np.int32
    assert data["beliefs"].shape == (50, 12, 3) and data["beliefs"].dtype == np.float32
    meta = json.loads(str(data["metadata"]))
    assert meta["process"] == "mess3" and meta["params"] == {"x": 0.1, "alpha": 0.85}
    assert meta["seed"] == 3 and meta["compmech_version"] == compmech.__version__
    hmm = compmech.HMM.from_dict(meta["hmm"])
    np.testing.assert_allclose(hmm.transition_matrices, compmech.get_process("mess3", x=0.1).transition_matrices)
    # beliefs are the filter's beliefs after each token (alignment), to float32 precision
    filtered = compmech.filter_beliefs(hmm, data["tokens"])
    np.testing.assert_allclose(data["beliefs"], filtered.beliefs, atol=1e-6)


def test_generate_same_seed_same_bytes_other_seed_differs(tmp_path, capsys):
    paths = [tmp_path / f"{k}.npz" for k in range(3)]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        assert run(capsys, "generate", "z1r", "-n", "20", "-l", "9", "--seed", str(seed), "--out", str(path))[0] == 0
    a, b, c = (np.load(p) for p in paths)
    assert np.array_equal(a["tokens"], b["tokens"]) and np.array_equal(a["beliefs"], b["beliefs"])
    assert not np.array_equal(a["tokens"], c["tokens"])


def test_generate_in_several_chunks_matches_filtering(tmp_path, monkeypatch):
    """Many sequences per chunk, and one long sequence split over chunks with its belief carried."""
    monkeypatch.setattr(datasets, "CHUNK_TOKENS", 64)
    hmm = compmech.get_process("mess3")
    for n, length in ((37, 10), (2, 300)):
        path = datasets.generate_dataset(hmm, datasets.DatasetConfig(num_sequences=n, seq_len=length, seed=1),
                                        tmp_path / f"{n}.npz")
        data = datasets.load_dataset(path)
        assert data.tokens.shape == (n, length)
        filtered = compmech.filter_beliefs(hmm, data.tokens)
        np.testing.assert_allclose(data.beliefs, filtered.beliefs, atol=1e-6)
        assert len({tuple(row) for row in data.tokens[:, :10]}) > 1


def test_generate_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "d.npz"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "generate", "z1r", "-n", "2", "-l", "3", "--seed", "0", "--out", str(out))
    assert code == 2 and "already exists" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    code, _, _ = run(capsys, "generate", "z1r", "-n", "2", "-l", "3", "--seed", "0", "--out", str(out), "--force")
    assert code == 0 and np.load(out)["tokens"].shape == (2, 3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "nope", "-n", "2", "-l", "3", "--seed", "0"], "unknown process 'nope'; valid processes: even"),
        (["generate", "mess3", "-p", "y=1", "-n", "2", "-l", "3", "--seed", "0"], "has no parameter y; valid parameters: x=0.05"),
        (["generate", "mess3", "-p", "x=0.9", "-n", "2", "-l", "3", "--seed", "0"], "x must be in (0, 0.5]"),
        (["generate", "mess3", "-p", "x", "-n", "2", "-l", "3", "--seed", "0"], "must look like KEY=VALUE"),
        (["generate", "mess3", "-n", "0", "-l", "3", "--seed", "0"], "--num-sequences must be >= 1"),
        (["generate", "mess3", "-n", "2", "-l", "3"], "required: --seed"),
        (["generate", "-n", "2", "-l", "3", "--seed", "0"], "a process NAME (or --hmm-file F.json) is required"),
        (["generate", "mess3", "-n", "2", "-l", "3", "--seed", "0", "--hmm-file", "x.json"], "not both"),
        (["info", "--hmm-file", "missing.json"], "HMM file not found"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys, argv, message):
    if argv[0] == "generate":
        argv = [*argv, "--out", str(tmp_path / "d.npz")]
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("compmech: error:")
    assert message in lines[0]
    assert not (tmp_path / "d.npz").exists()


def test_generate_rejects_missing_output_folder_and_suffix(tmp_path, capsys):
    code, _, err = run(capsys, "generate", "z1r", "-n", "2", "-l", "3", "--seed", "0",
                       "--out", str(tmp_path / "no" / "d.npz"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "generate", "z1r", "-n", "2", "-l", "3", "--seed", "0",
                       "--out", str(tmp_path / "d.txt"))
    assert code == 2 and ".npz" in err


def test_generate_from_hmm_file(tmp_path, capsys):
    hmm_path = tmp_path / "even.json"
    compmech.save_hmm(compmech.get_process("even", p=0.3), hmm_path)
    out = tmp_path / "e.npz"
    code, _, err = run(capsys, "generate", "--hmm-file", str(hmm_path), "-n", "400", "-l", "6",
                       "--seed", "0", "--out", str(out))
    assert code == 0, err
    tokens = np.load(out)["tokens"]
    # The even process never emits an odd block of 1s between 0s: "0 1 0" is impossible.
    windows = np.lib.stride_tricks.sliding_window_view(tokens, 3, axis=1).reshape(-1, 3)
    assert not (windows == [0, 1, 0]).all(axis=1).any()


def test_bad_hmm_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"transition_matrices": [[[0.5, 0.2], [1.0, 0.0]]]}))
    code, _, err = run(capsys, "info", "--hmm-file", str(bad), "--json")
    assert code == 2 and "state 0" in err and "sum to 0.7" in err
    bad.write_text("{not json")
    code, _, err = run(capsys, "info", "--hmm-file", str(bad))
    assert code == 2 and "not valid JSON" in err


def test_processes_lists_catalogue_with_defaults(capsys):
    code, out, _ = run(capsys, "processes", "--json")
    assert code == 0
    catalogue = json.loads(out)
    assert catalogue["mess3"] == {"x": 0.05, "alpha": 0.85}
    assert catalogue["rrxor"] == {"p1": 0.5, "p2": 0.5}
    assert {"z1r", "even", "golden_mean", "random_hmm"} <= set(catalogue)
    code, out, _ = run(capsys, "processes")
    assert code == 0 and "mess3" in out and "alpha=0.85" in out


def test_info_json_has_basic_facts(capsys):
    code, out, _ = run(capsys, "info", "rrxor", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["name"] == "rrxor" and info["params"] == {"p1": 0.5, "p2": 0.5}
    assert info["num_states"] == 5 and info["vocab_size"] == 2 and info["unifilar"] is True
    pi = np.array(info["stationary_distribution"])
    hmm = compmech.get_process("rrxor")
    np.testing.assert_allclose(pi @ hmm.state_matrix, pi, atol=1e-12)


def test_load_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        datasets.load_dataset(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", tokens=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="lacks"):
        datasets.load_dataset(tmp_path / "other.npz")
