"""One-command reproductions of published results: train -> probe -> figures, with the paper's model
and data and our optimiser, and a summary table beside the paper's numbers."""

from __future__ import annotations

import math
import time
from pathlib import Path

from compmech.figures.run import make_figures
from compmech.files import is_empty_folder
from compmech.probing.config import ProbeConfig
from compmech.probing.data import CONCAT
from compmech.probing.ensembles import EnsembleReport, probe_ensemble
from compmech.probing.report import ProbeReport
from compmech.probing.run import probe_run
from compmech.processes import get_process
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
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number; got {minutes}")
    return TrainConfig(process=name, process_params=params, model=model, seed=seed,
                       steps=10_000_000 if minutes is not None else 20_000, minutes=minutes)


def reproduce(name: str, out, *, minutes: float | None = DEFAULT_MINUTES, tiny: bool = False,
              force: bool = False, seed: int = 0, checkpoints: str | int = REPRODUCE_CHECKPOINTS,
              progress: bool = True, steps: int | None = None) -> ProbeReport:
    """Train -> probe -> figures for a published experiment; returns the probe report (with
    ``reproduce_wall_time_s`` set).

    Args:
        name: ``"mess3"``, ``"rrxor"`` or ``"z1r"``.
        out: the run directory (must not exist or be empty unless ``force``).
        minutes: training wall-clock budget.
        tiny: seconds-long settings for tests.
        force: overwrite ``out``.
        seed: seed of training and probe.
        checkpoints: which checkpoints the curve probes (see
            :func:`compmech.probing.run.probe_run`).
        progress: progress output.
        steps: train exactly this many steps instead (``minutes`` must then be ``None``).
    """
    if steps is not None and minutes is not None:
        raise ValueError("give a wall-clock budget (minutes) or a number of steps, not both")
    config = reproduction_config(name, minutes=minutes, tiny=tiny, seed=seed)
    if steps is not None:
        config = config.replace(steps=int(steps))
    out = Path(out)
    if not is_empty_folder(out) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite it")
    t0 = time.perf_counter()
    train(config, out, force=force, progress=progress)
    report = probe_run(out, ProbeConfig(checkpoints=checkpoints, headline=EXPERIMENTS[name][2],
                                        seed=seed), force=True, progress=progress)
    make_figures(out, force=True, seed=seed, progress=progress)
    report.reproduce_wall_time_s = time.perf_counter() - t0
    return report


def reproduce_ensemble(name: str, out, seeds, *, minutes: float | None = DEFAULT_MINUTES,
                       tiny: bool = False, force: bool = False, probe_seed: int = 0,
                       checkpoints: str | int = REPRODUCE_CHECKPOINTS,
                       progress: bool = True) -> EnsembleReport:
    """:func:`reproduce` with a seed ensemble: every seed trained in one compiled program
    (:func:`transformer.train_ensemble`), then each member probed and drawn; returns the report
    of the spread across seeds (written to ``out/probe_ensemble.json``).

    Args:
        name: as for :func:`reproduce`.
        minutes: as for :func:`reproduce` (the budget is for the whole ensemble).
        tiny: as for :func:`reproduce`.
        force: as for :func:`reproduce`.
        checkpoints: as for :func:`reproduce`.
        progress: as for :func:`reproduce`.
        out: the ensemble directory (members in ``out/seed-{s}``).
        seeds: the training seeds.
        probe_seed: seed of every member's probe (folds, shuffle, random features).
    """
    config = reproduction_config(name, minutes=minutes, tiny=tiny)
    out = Path(out)
    if not is_empty_folder(out) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite it")
    train_ensemble(config, seeds, out, force=force, progress=progress)
    report = probe_ensemble(out, ProbeConfig(checkpoints=checkpoints,
                                             headline=EXPERIMENTS[name][2], seed=probe_seed),
                            force=True, progress=progress)
    for run_dir in report.members:
        make_figures(run_dir, force=True, seed=probe_seed, progress=False)
    return report


__all__ = ["DEFAULT_MINUTES", "EXPERIMENTS", "REPRODUCE_CHECKPOINTS", "reproduce",
           "reproduce_ensemble", "reproduction_config"]
