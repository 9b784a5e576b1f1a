"""One-command reproductions of published results: train -> probe -> figures, with the paper's model
and data and our optimiser, and a summary table beside the paper's numbers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from compmech.figures.run import make_figures
from compmech.files import is_empty_folder
from compmech.probing.config import ProbeConfig
from compmech.probing.data import CONCAT
from compmech.probing.ensembles import EnsembleReport, probe_ensemble
from compmech.probing.report import ProbeReport
from compmech.probing.run import probe_run
from compmech.processes import get_process
from compmech.records import Record
from transformer import ModelConfig, TrainConfig, train, train_ensemble

#: Default wall-clock training budget of :func:`reproduce`, in minutes.
DEFAULT_MINUTES = 2.0
#: Checkpoints :func:`reproduce` probes for the curve (log-spaced; each costs one forward pass of
#: all inputs, ~2-4 s for Mess3 on 2 cores). ``compmech probe RUN --checkpoints all`` does every one.
REPRODUCE_CHECKPOINTS = 12
#: The published experiments: process parameters and the model's changes from the paper's Mess3
#: model; the hook of the headline probe (``None``: the last block's output).
EXPERIMENTS = {
    "mess3": ({"x": 0.05, "alpha": 0.85}, {}, None),
    "rrxor": ({"p1": 0.5, "p2": 0.5}, {"d_model": 128, "n_heads": 4, "d_head": 16, "d_mlp": 512},
              CONCAT),
    "z1r": ({"p": 0.5}, {}, None),
    # a generalized HMM: the Bloch walk with the literature's parameters, on the paper's model
    # with the context of Riechers et al. (2025)'s probes (all length-8 inputs)
    "tom_quantum": ({"alpha": 1.0, "beta": 51**0.5}, {"n_ctx": 8}, None),
}


def reproduction_config(name: str, *, minutes: float | None = DEFAULT_MINUTES, tiny: bool = False,
                        seed: int = 0) -> TrainConfig:
    """The training config of a published experiment (our optimiser, the paper's model and data).

    * ``mess3``: Mess3(x=0.05, alpha=0.85); 4 layers, d_model 64, 1 head of 8, d_mlp 256, n_ctx 10.
    * ``rrxor``: RRXOR(0.5, 0.5); d_model 128, 4 heads of 16, d_mlp 512, n_ctx 10.
    * ``z1r``: Z1R(0.5); the Mess3 model with a 2-token vocabulary.
    * ``tom_quantum``: the Bloch walk (alpha 1, beta sqrt 51), a 3-state generalized HMM with 4
      tokens; the Mess3 model with n_ctx 8 (all 4^8 inputs enumerated for the probe, which reads
      the beliefs' plane coordinates).

    ``tiny`` shrinks the model, context and training to seconds (for tests); ``minutes`` is the
    wall-clock budget handed to :func:`transformer.train`.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    params, model_overrides, _ = EXPERIMENTS[name]
    vocab = get_process(name, **params).vocab_size
    if tiny:
        model = ModelConfig(n_layers=2, d_model=16, n_heads=1, d_head=4, d_mlp=32,
                            n_ctx=5 if vocab <= 3 else 4, d_vocab=vocab)
        return TrainConfig(process=name, process_params=params, model=model, steps=60,
                           batch_size=32, lr=3e-3, warmup_steps=5, eval_every=20, log_every=10,
                           checkpoints_per_decade=4, steps_per_call=10, seed=seed)
    model = ModelConfig(d_vocab=vocab, **model_overrides)
    _check_minutes(minutes)
    return TrainConfig(process=name, process_params=params, model=model, seed=seed,
                       steps=10_000_000 if minutes is not None else 20_000, minutes=minutes)


def _check_minutes(minutes: float | None) -> None:
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number; got {minutes}")


@dataclass(frozen=True, kw_only=True)
class ReproduceConfig(Record):
    """How :func:`reproduce` (and :func:`reproduce_ensemble`) trains and probes a published
    experiment.

    Attributes:
        minutes: training wall-clock budget in minutes (for the whole ensemble in
            :func:`reproduce_ensemble`); ``None`` with ``steps`` (or ``tiny``).
        steps: train exactly this many optimiser steps instead (``minutes`` must then be
            ``None``).
        tiny: seconds-long settings for tests.
        seed: seed of training and probe (:func:`reproduce_ensemble`: of every member's probe
            only, its folds, shuffle and random features; the members train with their own
            seeds).
        checkpoints: which checkpoints the curve probes (``"all"``, ``"last"`` or a count; see
            :func:`compmech.probing.run.probe_run`).

    Raises:
        ValueError: both ``minutes`` and ``steps``, ``minutes`` not a positive number, or
            ``steps < 1``.
    """

    minutes: float | None = DEFAULT_MINUTES
    steps: int | None = None
    tiny: bool = False
    seed: int = 0
    checkpoints: str | int = REPRODUCE_CHECKPOINTS

    def __post_init__(self):
        if self.steps is not None and self.minutes is not None:
            raise ValueError("give a wall-clock budget (minutes) or a number of steps, not both")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError(f"steps must be a positive integer; got {self.steps}")
        _check_minutes(self.minutes)


def _train_config(name: str, config: ReproduceConfig, seed: int = 0) -> TrainConfig:
    train_config = reproduction_config(name, minutes=config.minutes, tiny=config.tiny, seed=seed)
    return train_config if config.steps is None else train_config.replace(steps=int(config.steps))


def _refuse_to_overwrite(out: Path, force: bool) -> None:
    if not is_empty_folder(out) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite it")


def reproduce(name: str, out, config: ReproduceConfig | None = None, *, force: bool = False,
              progress: bool = True) -> ProbeReport:
    """Train -> probe -> figures for a published experiment; returns the probe report (with
    ``reproduce_wall_time_s`` set).

    Args:
        name: a key of :data:`EXPERIMENTS` (``"mess3"``, ``"rrxor"``, ``"z1r"``,
            ``"tom_quantum"``).
        out: the run directory (must not exist or be empty unless ``force``).
        config: budget, seed and probed checkpoints (:class:`ReproduceConfig`; ``None``: its
            defaults).
        force: overwrite ``out``.
        progress: progress output.
    """
    c = ReproduceConfig() if config is None else config
    train_config = _train_config(name, c, seed=c.seed)
    out = Path(out)
    _refuse_to_overwrite(out, force)
    t0 = time.perf_counter()
    train(train_config, out, force=force, progress=progress)
    report = probe_run(out, ProbeConfig(checkpoints=c.checkpoints, headline=EXPERIMENTS[name][2],
                                        seed=c.seed), force=True, progress=progress)
    make_figures(out, force=True, seed=c.seed, progress=progress)
    report.reproduce_wall_time_s = time.perf_counter() - t0
    return report


def reproduce_ensemble(name: str, out, seeds, config: ReproduceConfig | None = None, *,
                       force: bool = False, progress: bool = True) -> EnsembleReport:
    """:func:`reproduce` with a seed ensemble: every seed trained in one compiled program
    (:func:`transformer.train_ensemble`), then each member probed and drawn; returns the report
    of the spread across seeds (written to ``out/probe_ensemble.json``).

    Args:
        name: as for :func:`reproduce`.
        out: the ensemble directory (members in ``out/seed-{s}``).
        seeds: the training seeds.
        config: as for :func:`reproduce`; its ``seed`` seeds every member's probe, its
            ``minutes`` is the budget of the whole ensemble.
        force: as for :func:`reproduce`.
        progress: as for :func:`reproduce`.
    """
    c = ReproduceConfig() if config is None else config
    train_config = _train_config(name, c)
    out = Path(out)
    _refuse_to_overwrite(out, force)
    train_ensemble(train_config, seeds, out, force=force, progress=progress)
    report = probe_ensemble(out, ProbeConfig(checkpoints=c.checkpoints,
                                             headline=EXPERIMENTS[name][2], seed=c.seed),
                            force=True, progress=progress)
    for run_dir in report.members:
        make_figures(run_dir, force=True, seed=c.seed, progress=False)
    return report


__all__ = ["DEFAULT_MINUTES", "EXPERIMENTS", "REPRODUCE_CHECKPOINTS", "ReproduceConfig", "reproduce",
           "reproduce_ensemble", "reproduction_config"]
