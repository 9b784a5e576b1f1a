"""Tests of the HMM type: validation errors, stationary distribution, unifilarity, JSON I/O."""

import json

import numpy as np
import pytest
from hypothesis import given, settings

from compmech import HMM, get_process, load_hmm, save_hmm
from strategies import stochastic_arrays

TOL = 1e-12

CATALOGUE = [
    ("z1r", {}),
    ("z1r", {"p": 0.3}),
    ("mess3", {}),
    ("mess3", {"x": 0.15, "alpha": 0.6}),
    ("rrxor", {}),
    ("rrxor", {"p1": 0.2, "p2": 0.7}),
    ("even", {}),
    ("even", {"p": 0.3}),
    ("golden_mean", {}),
    ("golden_mean", {"p": 0.8}),
    ("sns", {}),
    ("nond", {}),
    ("generalized_golden_mean", {"num_ones": 3}),
    ("random_hmm", {"num_states": 4, "vocab_size": 3, "seed": 7}),
]


def golden_mean_T(p=0.5):
    T = np.zeros((2, 2, 2))
    T[0, 0, 0] = p
    T[1, 0, 1] = 1 - p
    T[0, 1, 0] = 1.0
    return T


def two_disconnected_copies(T):
    """Block-diagonal union of two copies of ``T``: two closed classes, not ergodic."""
    V, S, _ = T.shape
    out = np.zeros((V, 2 * S, 2 * S))
    out[:, :S, :S] = T
    out[:, S:, S:] = T
    return out


# --------------------------------------------------------------------------- independent helpers
def number_of_recurrent_classes(M):
    """Count closed communicating classes of the chain ``M`` by graph reachability (no linear algebra)."""
    S = M.shape[0]
    reach = (M > 0) | np.eye(S, dtype=bool)
    for k in range(S):  # Warshall transitive closure
        reach = reach | (reach[:, [k]] & reach[[k], :])
    recurrent = [i for i in range(S) if all(reach[j, i] for j in range(S) if reach[i, j])]
    classes = {tuple(np.flatnonzero(reach[i])) for i in recurrent}
    return len(classes)


# ------------------------------------------------------------------------------ stationary
@pytest.mark.parametrize("name,params", CATALOGUE)
def test_stationary_distribution_is_fixed_point(name, params):
    hmm = get_process(name, **params)
    pi = hmm.stationary_distribution
    M = hmm.transition_matrices.sum(axis=0)
    assert pi.shape == (hmm.num_states,)
    assert (pi >= 0).all()
    assert abs(pi.sum() - 1) < TOL
    np.testing.assert_allclose(pi @ M, pi, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hmm.initial_distribution, pi, rtol=0, atol=0)


def test_stationary_distribution_known_values():
    # Z1R: uniform. Golden mean p: pi_A = 1 / (2 - p). Even p: pi_A = 1 / (2 - p) too.
    np.testing.assert_allclose(get_process("z1r", p=0.3).stationary_distribution, [1 / 3] * 3,
                               rtol=0, atol=TOL)
    p = 0.3
    for name in ("golden_mean", "even"):
        pi = get_process(name, p=p).stationary_distribution
        np.testing.assert_allclose(pi, [1 / (2 - p), (1 - p) / (2 - p)], rtol=0, atol=TOL)
    # Mess3 is symmetric under relabelling: uniform.
    np.testing.assert_allclose(get_process("mess3").stationary_distribution, [1 / 3] * 3,
                               rtol=0, atol=TOL)


@settings(max_examples=60, deadline=None)
@given(stochastic_arrays(min_entry=0.05))
def test_random_hmm_stationary_or_reported_non_ergodic(T):
    """pi M = pi when M has one closed class; a ValueError (never a silent pick) otherwise."""
    M = T.sum(axis=0)
    classes = number_of_recurrent_classes(M)
    if classes == 1:
        hmm = HMM(T)
        pi = hmm.stationary_distribution
        assert hmm.is_ergodic
        assert (pi >= 0).all() and abs(pi.sum() - 1) < 1e-12
        np.testing.assert_allclose(pi @ M, pi, rtol=0, atol=1e-10)
    else:
        with pytest.raises(ValueError, match="not ergodic"):
            HMM(T)
        init = np.full(T.shape[1], 1.0 / T.shape[1])
        hmm = HMM(T, initial_distribution=init)
        assert not hmm.is_ergodic
        np.testing.assert_allclose(hmm.initial_distribution, init, rtol=0, atol=TOL)
        with pytest.raises(ValueError, match="not ergodic"):
            hmm.stationary_distribution  # noqa: B018


def test_non_ergodic_requires_initial_distribution():
    T = two_disconnected_copies(golden_mean_T(0.4))
    with pytest.raises(ValueError, match="not ergodic.*initial_distribution"):
        HMM(T)
    init = np.array([0.25, 0.25, 0.5, 0.0])
    hmm = HMM(T, initial_distribution=init)
    np.testing.assert_array_equal(hmm.initial_distribution, init)
    assert not hmm.is_ergodic


def test_transient_states_still_ergodic():
    # State 0 is transient, states 1,2 form one closed class: unique pi = (0, 1/2, 1/2).
    T = np.zeros((1, 3, 3))
    T[0, 0, 1] = 1.0
    T[0, 1, 2] = 1.0
    T[0, 2, 1] = 1.0
    np.testing.assert_allclose(HMM(T).stationary_distribution, [0, 0.5, 0.5], rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------- validation
def test_valid_hmm_stored_read_only_float64():
    T = golden_mean_T().astype(np.float32)
    hmm = HMM(T)
    assert hmm.transition_matrices.dtype == np.float64
    assert hmm.num_states == 2 and hmm.vocab_size == 2
    with pytest.raises(ValueError):
        hmm.transition_matrices[0, 0, 0] = 0.3
    np.testing.assert_array_equal(hmm.state_matrix, T.astype(np.float64).sum(0))
    np.testing.assert_array_equal(hmm.emission_probabilities, [[0.5, 0.5], [1.0, 0.0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entry(bad):
    T = golden_mean_T()
    T[1, 0, 1] = bad
    with pytest.raises(ValueError, match=r"transition_matrices\[1, 0, 1\] is not finite"):
        HMM(T)


def test_negative_entry():
    T = golden_mean_T()
    T[0, 0, 0] = 1.5
    T[1, 0, 1] = -0.5  # row still sums to 1
    with pytest.raises(ValueError, match=r"\[1, 0, 1\].*negative"):
        HMM(T)


@pytest.mark.parametrize("state", [0, 1])
def test_row_not_summing_to_one_names_state(state):
    T = golden_mean_T()
    if state == 0:
        T[0, 0, 0] = 0.4  # row 0 sums to 0.9
    else:
        T[0, 1, 1] = 0.1  # row 1 sums to 1.1
    with pytest.raises(ValueError, match=rf"state {state}: .*sum to"):
        HMM(T)


def test_row_sum_tolerance():
    T = golden_mean_T()
    T[0, 0, 0] += 1e-10  # within ROW_SUM_TOL
    HMM(T)
    T[0, 0, 0] += 1e-6
    with pytest.raises(ValueError, match="state 0"):
        HMM(T)


@pytest.mark.parametrize("shape", [(2, 2), (2,), (1, 2, 2, 2), ()])
def test_wrong_rank(shape):
    with pytest.raises(ValueError, match="rank 3"):
        HMM(np.ones(shape))


def test_non_square():
    T = np.zeros((2, 2, 3))
    T[0, :, 0] = 1.0
    with pytest.raises(ValueError, match=r"shape \(V, S, S\)"):
        HMM(T)


def test_zero_states():
    with pytest.raises(ValueError, match=r"S >= 1"):
        HMM(np.zeros((2, 0, 0)))


def test_empty_vocabulary():
    with pytest.raises(ValueError, match="empty vocabulary"):
        HMM(np.zeros((0, 2, 2)))


def test_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        HMM([[["a", "b"], ["c", "d"]]])


@pytest.mark.parametrize("init,match", [
    (np.array([1.0]), r"shape \(2,\)"),
    (np.array([0.5, 0.5, 0.0]), r"shape \(2,\)"),
    (np.array([[0.5, 0.5]]), r"shape \(2,\)"),
    (np.array([0.5, 0.6]), "sum to 1"),
    (np.array([0.0, 0.0]), "sum to 1"),
    (np.array([1.5, -0.5]), "non-negative"),
    (np.array([np.nan, 1.0]), "finite"),
])
def test_bad_initial_distribution(init, match):
    with pytest.raises(ValueError, match=match):
        HMM(golden_mean_T(), initial_distribution=init)


def test_bad_initial_distribution_in_with_initial_distribution():
    with pytest.raises(ValueError, match="sum to 1"):
        get_process("mess3").with_initial_distribution(np.array([0.5, 0.5, 0.5]))


@pytest.mark.parametrize("kw,match", [
    ({"state_names": ("a",)}, "state_names must have 2 entries; got 1"),
    ({"state_names": ("a", "b", "c")}, "state_names must have 2 entries; got 3"),
    ({"token_names": ("0", "1", "2")}, "token_names must have 2 entries; got 3"),
    ({"token_names": ()}, "token_names must have 2 entries; got 0"),
])
def test_wrong_names_length(kw, match):
    with pytest.raises(ValueError, match=match):
        HMM(golden_mean_T(), **kw)


def test_default_names():
    hmm = HMM(golden_mean_T())
    assert hmm.state_names == ("s0", "s1")
    assert hmm.token_names == ("0", "1")


# ---------------------------------------------------------------------------------- unifilarity
@pytest.mark.parametrize("name", ["z1r", "even", "golden_mean", "rrxor", "generalized_golden_mean"])
def test_unifilar_processes(name):
    assert get_process(name).is_unifilar


@pytest.mark.parametrize("name", ["mess3", "sns", "nond"])
def test_nonunifilar_processes(name):
    assert not get_process(name).is_unifilar


@settings(max_examples=40, deadline=None)
@given(stochastic_arrays(min_entry=0.05))
def test_is_unifilar_matches_definition(T):
    V, S, _ = T.shape
    expected = all(
        sum(T[x, i, j] > 0 for j in range(S)) <= 1 for x in range(V) for i in range(S)
    )
    hmm = HMM(T, initial_distribution=np.full(S, 1.0 / S))
    assert hmm.is_unifilar == expected


# ------------------------------------------------------------------------------------------ JSON
def _assert_same_hmm(a, b):
    np.testing.assert_array_equal(a.transition_matrices, b.transition_matrices)
    np.testing.assert_allclose(a.initial_distribution, b.initial_distribution, rtol=0, atol=1e-15)
    assert a.name == b.name
    assert dict(a.params) == dict(b.params)
    assert tuple(a.state_names) == tuple(b.state_names)
    assert tuple(a.token_names) == tuple(b.token_names)


@pytest.mark.parametrize("name,params", CATALOGUE)
def test_json_round_trip_catalogue(tmp_path, name, params):
    hmm = get_process(name, **params)
    path = tmp_path / f"{name}.json"
    save_hmm(hmm, path)
    _assert_same_hmm(load_hmm(path), hmm)


def test_json_round_trip_custom_everything(tmp_path):
    T = two_disconnected_copies(golden_mean_T(0.3))  # non-ergodic: init must be stored
    init = np.array([0.1, 0.2, 0.3, 0.4])
    hmm = HMM(T, initial_distribution=init, name="twin_golden", params={"p": 0.3, "tag": "x"},
              state_names=("A", "B", "A'", "B'"), token_names=("zero", "one"))
    path = tmp_path / "twin.json"
    save_hmm(hmm, path)
    back = load_hmm(path)
    _assert_same_hmm(back, hmm)
    np.testing.assert_array_equal(back.initial_distribution, init)


def test_json_round_trip_non_stationary_start(tmp_path):
    hmm = get_process("rrxor", p1=0.3).with_initial_distribution(np.eye(5)[0])
    path = tmp_path / "rrxor_from_S.json"
    save_hmm(hmm, path)
    back = load_hmm(path)
    np.testing.assert_array_equal(back.initial_distribution, np.eye(5)[0])
    _assert_same_hmm(back, hmm)


def test_json_is_documented_format(tmp_path):
    path = tmp_path / "gm.json"
    save_hmm(get_process("golden_mean", p=0.25), path)
    data = json.loads(path.read_text())
    assert data["transition_matrices"] == golden_mean_T(0.25).tolist()
    assert data["params"] == {"p": 0.25}
    assert data["name"] == "golden_mean"


def test_json_minimal_file(tmp_path):
    path = tmp_path / "min.json"
    path.write_text(json.dumps({"transition_matrices": golden_mean_T(0.5).tolist()}))
    hmm = load_hmm(path)
    np.testing.assert_allclose(hmm.initial_distribution, [2 / 3, 1 / 3], rtol=0, atol=TOL)
    assert hmm.name == "custom"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (json.dumps({"name": "x", "params": {}}), "missing required key 'transition_matrices'"),
        ('{"transition_matrices": [[[1.0]]]', "not valid JSON"),
        (json.dumps({"transition_matrices": [[[1.0]]], "transitions": 1}), r"unknown keys \['transitions'\]"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_json_file_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_hmm(path)


def test_json_invalid_hmm_inside(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"transition_matrices": [[[0.5, 0.4], [1.0, 0.0]]]}))
    with pytest.raises(ValueError, match="state 0"):
        load_hmm(path)


def test_json_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_hmm(tmp_path / "nope.json")


@pytest.mark.parametrize("field,value,match", [
    ("params", None, "'params' must be an object"),
    ("params", [1, 2], "'params' must be an object"),
    ("state_names", 5, "'state_names' must be a list of strings"),
    ("token_names", "ab", "'token_names' must be a list of strings"),
    ("initial_distribution", "a", "'initial_distribution' must be a list of numbers"),
    ("initial_distribution", [0.5, 0.6], "sum to 1"),
])
def test_json_malformed_fields(tmp_path, field, value, match):
    """Wrong types inside a JSON file give ValueError naming the field (not TypeError)."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"transition_matrices": golden_mean_T().tolist(), field: value}))
    with pytest.raises(ValueError, match=match):
        load_hmm(path)
