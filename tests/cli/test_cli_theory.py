"""`compmech info` and `compmech msp`, run in-process through `main(argv)`."""

import json

import numpy as np
import pytest

import compmech
from compmech.cli import main
from compmech.process_info import auto_depth


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_info_even_reports_exact_measures(capsys):
    out = _run_json(capsys, ["info", "even", "--depth", "6", "--json"])
    hmm = compmech.get_process("even")
    # basic keys are kept
    assert out["name"] == "even" and out["num_states"] == 2 and out["unifilar"] is True
    h = compmech.myopic_entropy(hmm, 6)
    np.testing.assert_allclose(out["myopic_entropy_bits"], h, atol=1e-14)
    np.testing.assert_allclose(out["block_entropy_bits"], np.cumsum(h), atol=1e-14)
    assert out["entropy_rate_method"] == "unifilar"
    assert "entropy_rate_stderr_bits" not in out
    assert out["entropy_rate_bits"] == pytest.approx(2 / 3, abs=1e-14)
    pi = hmm.stationary_distribution
    assert out["statistical_complexity_bits"] == pytest.approx(-(pi * np.log2(pi)).sum())
    assert out["msp"] == {"num_states": 4, "num_recurrent": 2, "num_transient": 2,
                          "truncated": False, "max_states": 10000, "tol": 1e-9}
    assert out["excess_entropy"]["converged"] is True
    assert out["fractal_dimension"]["box_counting"]["dimension"] == 0.0


def test_info_mess3_reports_estimates_and_geometry(capsys):
    out = _run_json(capsys, ["info", "mess3", "--depth", "4", "--num-points", "20000",
                             "--max-states", "500", "--json"])
    # the rate is the limit of the exact h(L), never above its bound; Blackwell beside it
    assert out["entropy_rate_method"] == "myopic_limit" and "entropy_rate_stderr_bits" not in out
    assert out["entropy_rate_bits"] <= out["entropy_rate_upper_bound_bits"]
    assert abs(out["entropy_rate_bits"] - 1.144717) < 1e-5 and out["entropy_rate_depth"] == 12
    assert out["entropy_rate_blackwell_stderr_bits"] > 0
    assert out["entropy_rate_blackwell_num_points"] >= 20000
    above = out["entropy_rate_blackwell_bits"] > out["entropy_rate_upper_bound_bits"]
    assert above == ("above the rigorous" in out.get("entropy_rate_note", ""))
    assert out["excess_entropy_bits"] >= out["excess_entropy"]["lower_bound_bits"]
    assert out["synchronises"] is False and out["fractal_dimension"]["synchronises"] is False
    assert out["statistical_complexity_bits"] is None
    assert "did not close" in out["statistical_complexity_reason"]
    assert out["msp"]["truncated"] is True and out["msp"]["num_states"] == 500
    assert len(out["block_entropy_bits"]) == len(out["myopic_entropy_bits"]) == 4
    fd = out["fractal_dimension"]
    for key in ("box_counting", "information", "correlation"):
        assert 0 < fd[key]["dimension"] < 2
        lo, hi = fd[key]["fit_range"]
        assert 0 < lo < hi
    assert 0 < fd["kaplan_yorke"] < 2
    assert all(v < 0 for v in fd["lyapunov_exponents_nats"])


@pytest.mark.parametrize("name", ["z1r", "rrxor"])
def test_info_says_synchronising_processes_synchronise(name, capsys):
    # Issue 20: their exponents were round-off (-16.5, -4.1); now -inf (null) and "synchronises".
    out = _run_json(capsys, ["info", name, "--depth", "3", "--json"])
    fd = out["fractal_dimension"]
    assert out["synchronises"] is True and fd["synchronises"] is True
    assert fd["lyapunov_exponents_nats"] == [None] * (out["num_states"] - 1)
    assert "synchronises" in fd["lyapunov_note"] and fd["kaplan_yorke"] == 0.0
    assert main(["info", name, "--depth", "3"]) == 0
    assert "-inf (synchronises)" in capsys.readouterr().out


def test_info_text_names_the_rate_method_and_the_blackwell_estimate(capsys):
    assert main(["info", "mess3", "--depth", "3", "--num-points", "20000",
                 "--max-states", "200"]) == 0
    text = capsys.readouterr().out
    assert "limit of the exact h(L)" in text and "Blackwell estimate beside it" in text
    assert "entropy_rate_blackwell_bits" in text


def test_info_basic_and_text_output(capsys):
    out = _run_json(capsys, ["info", "golden_mean", "--basic", "--json"])
    assert "entropy_rate_bits" not in out and out["vocab_size"] == 2
    assert main(["info", "golden_mean", "--depth", "3"]) == 0
    text = capsys.readouterr().out
    assert "entropy_rate_bits" in text and "myopic_entropy_bits" in text


def test_info_user_errors_exit_2(capsys):
    assert main(["info", "nope", "--json"]) == 2
    assert "unknown process" in capsys.readouterr().err
    assert main(["info", "even", "--depth", "0"]) == 2
    assert "--depth" in capsys.readouterr().err


def test_auto_depth_bounds_the_deepest_level():
    assert auto_depth(3) == 10
    assert auto_depth(2) == 10
    d = auto_depth(8)
    assert 8 ** (d - 1) <= 1_000_000 < 8**d


def test_msp_saves_tree_and_plot(tmp_path, capsys):
    npz, png = tmp_path / "m.npz", tmp_path / "m.png"
    out = _run_json(capsys, ["msp", "mess3", "--depth", "4", "--out", str(npz),
                             "--plot", str(png), "--json"])
    assert out["num_nodes"] == 1 + 3 + 9 + 27 + 81
    assert out["nodes_per_level"] == [1, 3, 9, 27, 81]
    data = np.load(npz)
    tree = compmech.mixed_state_tree(compmech.get_process("mess3"), 4)
    np.testing.assert_array_equal(data["beliefs"], tree.all_beliefs())
    np.testing.assert_array_equal(data["probabilities"], tree.all_probabilities())
    # global parent indices point at the previous level's node with the same prefix
    depth, parent = data["depth"], data["parent"]
    assert parent[0] == -1 and (depth[parent[1:]] == depth[1:] - 1).all()
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    # refuses to overwrite without --force
    assert main(["msp", "mess3", "--depth", "2", "--out", str(npz)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_msp_bad_arguments(tmp_path, capsys):
    assert main(["msp", "mess3", "--depth", "-1"]) == 2
    assert main(["msp", "mess3", "--depth", "2", "--out", str(tmp_path / "x.txt")]) == 2
    assert ".npz" in capsys.readouterr().err
    assert main(["msp", "mess3"]) == 2  # --depth is required
