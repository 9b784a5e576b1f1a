"""A probed run's figure folder (:func:`make_figures`, ``compmech figures RUN_DIR``): the theory's
beliefs beside the probe's at the headline hook, every hook's panel, the loss per position, the
training curves, the emergence GIF and the scale-by-scale geometry, with captions read from the
typed ``probe.json``. ``import compmech`` does not import this module (matplotlib).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from compmech.figures.clouds import (
    Curve,
    emergence_gif,
    loss_per_position,
    panel_grid,
    side_by_side,
    theory_beliefs,
    training_curves,
)
from compmech.figures.common import FIGURES_DIR, CloudConfig, baseline_caption, save
from compmech.figures.geometry import (
    GeometryCurve,
    decoder_scales,
    geometry_over_training,
    geometry_scales,
)
from compmech.hmm import GHMM
from compmech.probing.data import PAPER_CURVES, POINTS_FILE
from compmech.probing.points import ProbePoints
from compmech.probing.report import load_report
from compmech.probing.summary import dimension_text, resolution_text
from transformer import Run, load_run
from transformer.registry import hook_label


# ------------------------------------------------------------------------------ a run's folder
def make_figures(run_dir, *, force: bool = False, seed: int = 0,
                 progress: bool | Callable = True) -> list[Path]:
    """Write ``RUN_DIR/figures/``: side by side, per-layer grid, shuffle control, loss per position,
    probe over training, emergence grid and GIF, and (when ``probe.json`` has them) the scale-by-
    scale comparison, resolution over training and the decoders (PNG + PDF each; the GIF alone).

    Raises:
        FileExistsError: the figures folder exists and is not empty, and ``force`` is False.
        FileNotFoundError: no ``probe.json`` (run :func:`compmech.probing.run.probe_run`
            first).
        compmech.files.LockBusy: another process is writing the run directory.
    """
    run_dir = Path(run_dir)
    report = load_report(run_dir)
    points_path = run_dir / POINTS_FILE
    if not points_path.is_file():
        raise FileNotFoundError(f"{points_path} not found; run `compmech probe {run_dir}` again")
    run = load_run(run_dir)
    with run.lock("compmech figures"):
        return _make_figures(run, report, run_dir, force=force, seed=seed, progress=progress)


def _make_figures(run: Run, report, run_dir: Path, *, force: bool, seed: int,
                  progress) -> list[Path]:
    out = run_dir / FIGURES_DIR
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite")
    out.mkdir(exist_ok=True)
    points_path = run_dir / POINTS_FILE
    if not points_path.is_file():
        raise ValueError(f"{points_path} not found; run `compmech probe {run_dir}` first")
    points = ProbePoints.read(points_path)
    true = points.true.astype(np.float64)
    context = _RunFigures(run, report, points, true, theory_beliefs(run, true), out, seed)
    written = (context.geometry() + context.curves() + context.emergence()
               + context.scale_by_scale())
    if progress:
        (progress if callable(progress) else print)(f"figures: {len(written)} files in {out}")
    return written


class _RunFigures:
    """The figures of one probed run (shared inputs in one place)."""

    def __init__(self, run, report, points: ProbePoints, true, theory, out: Path,
                 seed: int) -> None:
        self.run, self.report, self.points, self.true, self.theory = run, report, points, true, theory
        self.out = out
        self.head = report.headline_hook
        self.name = report.process + "".join(f", {k}={v}" for k, v in report.process_params.items())
        # a generalized HMM's targets are belief-plane coordinates, never simplex points
        self.clouds = CloudConfig(seed=seed, simplex=False if isinstance(run.hmm, GHMM) else None)

    def geometry(self) -> list[Path]:
        """Side by side, the per-layer grid and the shuffle control."""
        r, head, label = self.report.headline, self.head, hook_label(self.head)
        caption = baseline_caption(r.mse_test, r.baselines, r.shuffle_mse, r.belief_variance)
        if self.report.geometry is not None:
            caption += (f"\nlearned vs theory, scale by scale (held-out points): "
                        f"{resolution_text(self.report.geometry)}; dimensions above the "
                        f"resolution: {dimension_text(self.report.geometry)}")
        title = (f"{self.name}: belief geometry, theory vs {label} "
                 f"({self.report.tokens_seen:,} training tokens)")
        written = save(side_by_side(self.theory, self.points.predicted[head], self.true,
                                    caption=caption, title=title, config=self.clouds,
                                    learned="the residual stream" if self.run.model_config.arch
                                    in ("transformer", "linear_bottleneck") else label),
                       self.out / "side_by_side")
        hooks = [h for h in self.report.hooks if h in self.points.predicted]
        panels = [(f"{hook_label(h)}\nMSE {self.report.hooks[h].mse_test:.2g}",
                   self.points.predicted[h]) for h in hooks]
        written += save(panel_grid(panels, self.true, theory_beliefs=self.theory, ncols=4,
                                   title=f"{self.name}: probe at each layer (held-out points, "
                                         "colour = true belief)", config=self.clouds),
                        self.out / "layers")
        shuffle = [(f"trained probe, MSE {r.mse_test:.2g}", self.points.predicted[head]),
                   (f"shuffled labels, MSE {r.shuffle_mse:.2g}", self.points.shuffled[head])]
        written += save(panel_grid(shuffle, self.true, theory_beliefs=self.theory, ncols=3,
                                   title=f"{self.name}: shuffle control at {label}",
                                   caption="shuffle: belief rows permuted across all points, probe "
                                           "refitted, scored against the true beliefs",
                                   config=self.clouds), self.out / "shuffle")
        return written

    def scale_by_scale(self) -> list[Path]:
        """The headline probe against the theory scale by scale (``geometry_scales``), resolution
        and equivalent history over training (``geometry_training``), and the linear probe beside the
        nonlinear decoders (``decoders``); each only when ``probe.json`` has it."""
        written: list[Path] = []
        label = hook_label(self.head)
        if self.report.geometry is not None:
            written += save(geometry_scales(
                self.report.geometry.result(),
                title=f"{self.name}: {label} vs theory, scale by scale "
                      f"({self.report.tokens_seen:,} training tokens, held-out points)"),
                self.out / "geometry_scales")
        curve = [c for c in self.report.curve if c.geometry is not None]
        if curve:
            g = [c.geometry for c in curve]
            written += save(geometry_over_training(
                GeometryCurve(tokens=[c.tokens_seen for c in curve],
                              mse=[c.mse_test for c in curve],
                              resolution=[x.resolution for x in g],
                              null_resolution=[x.null_resolution for x in g],
                              noise_rms=[x.noise_rms for x in g],
                              history=[x.equivalent_history for x in g]),
                context=self.report.protocol.positions,
                title=f"{self.name}: resolution of the learned geometry over training ({label})"),
                self.out / "geometry_training")
        panels = []
        lookups = [(kind, r.geometry.result()) for kind, r in (self.report.lookups or {}).items()
                   if r.geometry is not None]
        for hook, rows in (self.report.decoders or {}).items():
            entries = [(kind, r.geometry.result()) for kind, r in rows.items()
                       if r.geometry is not None and kind != "linear_subsample"] + lookups
            if entries:
                n = next(iter(rows.values())).geometry.num_points
                panels.append((f"{hook_label(hook)} ({n:,} novel-prefix points)",
                               entries))
        if panels:
            written += save(decoder_scales(
                panels, title=f"{self.name}: linear probe vs nonlinear decoders and Markov-k "
                              "lookups, scale by scale (held-out points whose prefix is not in "
                              "training)"),
                self.out / "decoders")
        return written

    def curves(self) -> list[Path]:
        """Loss per position against the optimum; probe MSE and relative loss over training."""
        records = self.run.records
        evals = [m for m in records if m.is_eval]
        written: list[Path] = []
        if evals:
            last = evals[-1]
            names = last.component_names or []
            components = list(zip(names, last.component_eval_loss or [],
                                  last.component_optimal_loss or [],
                                  last.component_bayes_loss or [None] * len(names),
                                  strict=True))
            fig = loss_per_position(
                last.eval_loss, last.optimal_loss, components=components,
                initial_loss=evals[0].eval_loss if len(evals) > 1 else None,
                title=f"{self.name}: held-out loss per position (step {last.step:,})")
            written += save(fig, self.out / "loss_per_position")
        rel = [(m.tokens_seen, m.relative_loss - 1.0) for m in evals if m.relative_loss is not None]
        optimum = evals[-1].optimal_loss_mean if evals else None
        train_rel = Curve([], [])
        if optimum:
            for m in records:
                if m.train_loss is not None:
                    train_rel.tokens.append(m.tokens_seen)
                    train_rel.values.append(m.train_loss / optimum - 1.0)
        r, curve = self.report.headline, self.report.curve
        fig = training_curves(
            Curve([c.tokens_seen for c in curve], [c.mse_test for c in curve]),
            Curve([t for t, _ in rel], [v for _, v in rel]),
            baselines={"one-hot": r.baselines["onehot"], "random": r.baselines["random"],
                       "shuffled": r.shuffle_mse},
            paper=PAPER_CURVES.get(self.report.process),
            title=f"{self.name}: probe over training ({hook_label(self.head)})",
            train_relative_loss=train_rel)
        return written + save(fig, self.out / "training")

    def emergence(self) -> list[Path]:
        """The learned geometry at up to 8 checkpoints, as a grid and an animated GIF: every frame
        on the curve's points (``curve_true``, the subset's held-out points the intermediate
        checkpoints were probed on; a ``probe_points.npz`` written before them: the figure points,
        the last frame the headline's predictions)."""
        curve_true = self.points.curve_true
        true = self.true if curve_true is None else curve_true.astype(np.float64)
        frames = []
        for c in self.report.curve:
            pred = self.points.checkpoints.get(c.step)
            if curve_true is None and c.step == self.report.step:
                pred = self.points.predicted[self.head]
            if pred is not None and c.step > 0:
                frames.append((f"{c.tokens_seen:,} tokens, MSE {c.mse_test:.2g}", pred))
        if not frames:
            return []
        pick = np.unique(np.round(np.linspace(0, len(frames) - 1, min(8, len(frames))))).astype(int)
        fig = panel_grid([frames[i] for i in pick], true, theory_beliefs=self.theory, ncols=3,
                         title=f"{self.name}: emergence of the belief geometry over training",
                         config=self.clouds)
        written = save(fig, self.out / "emergence")
        return written + [emergence_gif(frames, true, self.theory, self.out / "emergence.gif",
                                        config=self.clouds)]


__all__ = [
    "make_figures",
]
