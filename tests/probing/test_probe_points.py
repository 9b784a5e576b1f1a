"""ProbePoints: the held-out predictions typed inside the toolkit, the published npz names outside."""

from __future__ import annotations

import numpy as np
import pytest

from compmech.probing.points import ProbePoints


def _points():
    rng = np.random.default_rng(0)
    a = lambda n=5: rng.random((n, 3)).astype(np.float32)  # noqa: E731
    return ProbePoints(a(), np.arange(5), np.arange(4) * 2, a(4),
                       predicted={"blocks.0.hook_resid_post": a(), "concat": a()},
                       shuffled={"concat": a()}, checkpoints={0: a(), 120: a(4)},
                       decoder_points=np.array([3, 7]),
                       decoders={("knn", "concat"): a(2), ("untrained_mlp", "concat"): a(2)})


def test_round_trip_keeps_every_array_under_its_published_name(tmp_path):
    points = _points()
    path = points.write(tmp_path / "probe_points.npz")
    with np.load(path) as data:
        names = set(data.files)
    assert names == {"true", "point_index", "curve_point_index", "curve_true", "decoder_points",
                     "pred/blocks.0.hook_resid_post", "pred/concat", "shuffle/concat",
                     "checkpoint/0", "checkpoint/120", "decoder/knn/concat",
                     "decoder/untrained_mlp/concat"}
    again = ProbePoints.read(path)
    for key, a in points.arrays().items():
        np.testing.assert_array_equal(again.arrays()[key], a)
    assert set(again.checkpoints) == {0, 120} and ("knn", "concat") in again.decoders


def test_a_file_without_curve_or_decoders_reads_with_none(tmp_path):
    path = ProbePoints(np.zeros((2, 3), np.float32), np.arange(2)).write(tmp_path / "p.npz")
    again = ProbePoints.read(path)
    assert again.curve_true is None and again.decoder_points is None and not again.predicted


@pytest.mark.parametrize("content, words", [
    (b"not a zip", "is damaged"),
    (None, "unknown array"),
    ("missing", "no figure points"),
])
def test_bad_files_are_refused_in_one_line_with_the_remedy(tmp_path, content, words):
    path = tmp_path / "probe_points.npz"
    if content is None:
        np.savez(path, true=np.zeros((1, 3)), point_index=np.zeros(1), **{"weird/x": np.ones(1)})
    elif content == "missing":
        np.savez(path, pred=np.zeros(1))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as err:
        ProbePoints.read(path)
    assert "\n" not in str(err.value) and "--force" in str(err.value)
