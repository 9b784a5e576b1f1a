"""Figure functions on synthetic belief clouds: panels, files, projections."""


import numpy as np
import pytest

from compmech.figures.clouds import (
    Curve,
    emergence_gif,
    loss_per_position,
    panel_grid,
    side_by_side,
    training_curves,
)
from compmech.figures.common import MAX_POINTS, BeliefPlane, CloudConfig, baseline_caption
from compmech.geometry import simplex_projection


@pytest.fixture(scope="module")
def clouds():
    rng = np.random.default_rng(0)
    theory = rng.dirichlet(np.ones(3) * 0.5, size=2000)
    true = rng.dirichlet(np.ones(3) * 0.5, size=3000)
    pred = true + 0.01 * rng.normal(size=true.shape)
    return theory, true, pred


def _nonempty(path):
    return path.is_file() and path.stat().st_size > 1000


def test_side_by_side_has_two_panels_same_axes_and_saves_png_and_pdf(clouds, tmp_path):
    theory, true, pred = clouds
    fig = side_by_side(theory, pred, true, caption="held-out MSE 1e-4", title="t",
                       stem=tmp_path / "sbs")
    assert len(fig.axes) == 2
    a, b = fig.axes
    assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim()
    assert "theory" in a.get_title() and "learned" in b.get_title()
    # colours are the true beliefs of the learned points (RGB = belief)
    facecolors = b.collections[0].get_facecolors()[:, :3]
    np.testing.assert_allclose(facecolors, np.clip(true, 0, 1), atol=1e-6)
    assert _nonempty(tmp_path / "sbs.png") and _nonempty(tmp_path / "sbs.pdf")


def test_panel_grid_draws_one_panel_per_cloud_plus_theory(clouds, tmp_path):
    theory, true, pred = clouds
    panels = [(f"layer {i}", pred) for i in range(6)]
    fig = panel_grid(panels, true, theory_beliefs=theory, ncols=4, stem=tmp_path / "grid")
    visible = [ax for ax in fig.axes if ax.collections]
    assert len(visible) == 7
    assert visible[0].get_title() == "theory (MSP)"
    assert _nonempty(tmp_path / "grid.png") and _nonempty(tmp_path / "grid.pdf")


def test_points_are_subsampled_for_drawing_but_seeded():
    rng = np.random.default_rng(1)
    big = rng.dirichlet(np.ones(3), size=MAX_POINTS + 5000)
    f1 = side_by_side(big[:100], big, big, config=CloudConfig(seed=3))
    f2 = side_by_side(big[:100], big, big, config=CloudConfig(seed=3))
    o1 = f1.axes[1].collections[0].get_offsets()
    assert o1.shape[0] == MAX_POINTS
    np.testing.assert_array_equal(o1, f2.axes[1].collections[0].get_offsets())


def test_belief_plane_simplex_and_pca_views():
    rng = np.random.default_rng(2)
    b3 = rng.dirichlet(np.ones(3), size=50)
    plane = BeliefPlane(b3)
    np.testing.assert_allclose(plane.xy(b3), simplex_projection(b3))
    # five states (RRXOR): one PCA fitted on the theory, applied to every cloud
    b5 = rng.dirichlet(np.ones(5), size=200)
    plane5 = BeliefPlane(b5)
    assert not plane5.simplex
    xy = plane5.xy(b5)
    assert xy.shape == (200, 2)
    centred = b5 - b5.mean(0)
    # the first coordinate carries the largest variance of any unit direction in belief space
    top = np.linalg.svd(centred, full_matrices=False)[1][0] ** 2 / 200
    assert xy[:, 0].var() == pytest.approx(top, rel=1e-8)
    rgb = plane5.colors(b5 + 0.01)
    assert rgb.shape == (200, 3) and rgb.min() >= 0 and rgb.max() <= 1
    with pytest.raises(ValueError, match="shape"):
        BeliefPlane(np.ones(5))


def test_loss_and_training_figures(tmp_path):
    opt = np.linspace(1.0, 0.8, 10)
    fig = loss_per_position(opt + 0.01, opt, initial_loss=opt + 0.3, stem=tmp_path / "loss")
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3
    tokens = np.array([0, 1e4, 1e5, 1e6])
    fig = training_curves(Curve(tokens, [0.05, 0.01, 1e-3, 4e-4]),
                          Curve(tokens[1:], [0.1, 0.01, 0.002]),
                          baselines={"one-hot": 0.03}, paper={6.4e5: 8.4e-3},
                          stem=tmp_path / "train")
    assert len(fig.axes) == 2
    for stem in ("loss", "train"):
        assert _nonempty(tmp_path / f"{stem}.png") and _nonempty(tmp_path / f"{stem}.pdf")


def test_emergence_gif_has_one_frame_per_checkpoint(clouds, tmp_path):
    from PIL import Image

    theory, true, pred = clouds
    frames = [(f"step {i}", pred + 0.05 * i) for i in range(4)]
    path = emergence_gif(frames, true, theory, tmp_path / "e.gif")
    with Image.open(path) as im:
        assert im.n_frames == 4


def test_caption_lists_baselines_and_controls():
    text = baseline_caption(2e-4, {"untrained": 0.02, "onehot": 0.03, "random": 0.05}, 0.051,
                            0.05)
    for word in ("held-out MSE 2.0e-04", "untrained", "one-hot", "random", "shuffled", "variance"):
        assert word in text


def test_cloud_config_validates_round_trips_and_is_honoured(clouds):
    assert CloudConfig() == CloudConfig(seed=0, simplex=None)  # the figures' old defaults
    for config in (CloudConfig(), CloudConfig(seed=7, simplex=False)):
        assert CloudConfig.from_dict(config.to_dict()) == config
    for bad, name in ((dict(seed=1.5), "seed"), (dict(seed=True), "seed"),
                      (dict(simplex="no"), "simplex")):
        with pytest.raises(ValueError, match=name) as info:
            CloudConfig(**bad)
        assert "\n" not in str(info.value)
    theory, true, pred = clouds
    # simplex=False: three coordinates drawn on their principal axes, not the simplex
    simplex = side_by_side(theory, pred, true).axes[1].collections[0].get_offsets()
    np.testing.assert_allclose(simplex, simplex_projection(pred))
    pca_view = side_by_side(theory, pred, true, config=CloudConfig(simplex=False))
    np.testing.assert_allclose(pca_view.axes[1].collections[0].get_offsets(),
                               BeliefPlane(theory, simplex=False).xy(pred))
    grid = panel_grid([("p", pred)], true, theory_beliefs=theory, config=CloudConfig(simplex=False))
    np.testing.assert_allclose(grid.axes[1].collections[0].get_offsets(),
                               BeliefPlane(theory, simplex=False).xy(pred))


def test_training_curves_draw_each_curve_where_it_is_given():
    tokens = np.array([0, 1e4, 1e5])
    fig = training_curves(Curve(tokens, [0.05, 0.01, 1e-3]),
                          train_relative_loss=Curve([1e3, 1e4], [0.5, 0.2]))
    mse_axis, loss_axis = fig.axes
    line = mse_axis.get_lines()[0]  # step 0 is the initialisation line, not a log-log point
    np.testing.assert_array_equal(line.get_xdata(), [1e4, 1e5])
    np.testing.assert_array_equal(line.get_ydata(), [0.01, 1e-3])
    assert [ln.get_label() for ln in loss_axis.get_lines()] == ["training batches"]
    empty = training_curves(Curve(tokens, [0.05, 0.01, 1e-3]), Curve([], []))
    assert not empty.axes[1].get_lines()
