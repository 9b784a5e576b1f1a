"""The training entry points: :func:`train` (one run) and :func:`train_ensemble` (a seed ensemble
or a process sweep in one compiled program), and :func:`sweep_grid`.

Each prepares and locks the run directory (:class:`~transformer.rundir.RunDirectory`, its
file layout documented in :mod:`transformer.rundir`), builds the data, evaluation and compiled
step (:func:`~transformer.setup.build_setup`), and hands them to the one loop
(:class:`~transformer.loop.Trainer`). Every member of an ensemble is saved to its own
ordinary run directory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

import jax

from transformer.budget import StopSignals
from transformer.config import TrainConfig
from transformer.devices import maybe_initialize_distributed
from transformer.loop import EnsembleResult, Trainer, TrainResult
from transformer.rundir import EnsembleDirectory, RunDirectory, member_name
from transformer.setup import TrainingSetup, build_setup, check_seeds


def train(config: TrainConfig | None, workdir, resume: bool = False, force: bool = False,
          progress: bool = True, stop_after: int | None = None) -> TrainResult:
    """Train a registered model on a process; write config, metrics and checkpoints to ``workdir``.

    ``metrics.jsonl`` has one object per log step with ``step``, ``tokens_seen``
    (``step * batch_size * n_ctx``), ``wall_time`` (s, cumulative over resumes), ``lr`` and
    ``train_loss`` (mean over the steps since the last line; ``null`` at step 0); evaluation lines
    add ``eval_loss`` and ``optimal_loss`` (``(n_ctx,)`` nats per input position), their means
    ``eval_loss_mean``/``optimal_loss_mean``, ``loss_gap`` (mean difference, nats),
    ``relative_loss`` (ratio of means), ``eval_exact`` and ``eval_seconds``; for a mixture also
    ``component_names``, ``component_eval_loss`` (``(K, n_ctx)``: the loss on each component's data)
    ``component_optimal_loss`` (each component's own optimum, not achievable by any predictor of
    the mixture) and ``component_bayes_loss`` (the Bayes-optimal mixture predictor's loss on each
    component's data, ``E_k[H(P_k)] + E_k[KL(P_k || P_mix)]``: the achievable floor), the
    in-context curves. A run
    stopped early by its ``minutes`` budget marks its last line ``"stopped_by_budget": true``; a diverged run
    ends with ``"diverged": true``.

    Args:
        config: the run's :class:`TrainConfig`. With ``resume`` the saved ``config.json`` is used
            instead (``config`` may then be ``None``).
        workdir: the run directory. It must not exist (or be empty) unless ``resume`` or ``force``.
        resume: continue from ``checkpoints/train_state.msgpack``; the final parameters equal
            those of an uninterrupted run.
        force: delete an existing run directory first.
        progress: show a tqdm progress bar with loss and tokens/s.
        stop_after: stop (as if interrupted) once this many steps are done, after checkpointing;
            the schedule still targets ``config.steps``.

    Returns:
        :class:`TrainResult`.

    Interruption: on SIGINT or SIGTERM the running compiled chunk finishes, the state, a parameter
    checkpoint and a metrics record are written at the step reached, and
    :class:`TrainingInterrupted` is raised; ``resume=True`` then continues from exactly that step
    (bitwise as an uninterrupted run). The state is saved at every logged step, so a hard kill loses
    at most ``log_every`` steps.

    Raises:
        FileExistsError: ``workdir`` exists and neither ``resume`` nor ``force`` was given.
        compmech.files.LockBusy: another process is writing ``workdir``.
        TrainingDiverged: a NaN/inf loss or gradient; earlier checkpoints are kept.
        TrainingInterrupted: SIGINT or SIGTERM (see above).
        ValueError: inconsistent configuration.
    """
    started = time.perf_counter()
    maybe_initialize_distributed()
    run_dir = RunDirectory(workdir, writer=jax.process_index() == 0)
    with StopSignals() as signals:  # a stop during the setup is honoured after step 0 is saved
        if resume:
            if not run_dir.path.is_dir():
                raise ValueError(f"cannot resume: {run_dir.path} does not exist")
            with run_dir.lock("compmech train"):
                setup = build_setup(run_dir.resumable_config())
                return _run(setup, run_dir, True, False, progress, stop_after, started, signals)
        if config is None:
            raise ValueError("config is required unless resuming")
        setup = build_setup(config)  # validates everything before touching the disk
        with run_dir.lock("compmech train"):
            return _run(setup, run_dir, False, force, progress, stop_after, started, signals)


def train_ensemble(config: TrainConfig | None, seeds: Sequence[int] | None, workdir,
                   resume: bool = False, force: bool = False, progress: bool = True,
                   stop_after: int | None = None,
                   processes: Sequence[dict] | None = None) -> EnsembleResult:
    """Train one model per seed, all in one compiled program; each member is an ordinary run.

    Member ``i`` (seed ``s_i``: initialisation ``fold_in(key(s_i), 0)``, data
    ``fold_in(key(s_i), 1)``) trains exactly as ``train(config.replace(seed=s_i), ...)`` would, up
    to float rounding: the step of :func:`train` is ``jax.vmap``-ped over a member axis of the
    parameters, optimiser state, data keys and processes, and the members are sharded over the
    devices (their number must be a multiple of the device count). ``workdir`` gets a manifest
    ``ensemble.json``, the joint resume state ``ensemble_state.msgpack`` and one run directory
    per member (``seed-{s}``; see :mod:`transformer.rundir`), which ``compmech probe`` and
    ``figures`` read like any run. Budgets, checkpoints, stop signals (every member saved) and
    ``resume`` work as in :func:`train`.

    Args:
        config: the members' config (its ``seed`` is replaced by each member's). With ``resume``
            the saved member configs are used instead (``config`` and ``seeds`` may be ``None``).
        seeds: the members' seeds (distinct, non-negative).
        workdir: the ensemble directory (must not exist or be empty unless ``resume``/``force``).
        resume: as for :func:`train`.
        force: as for :func:`train`.
        progress: as for :func:`train`.
        stop_after: as for :func:`train`.
        processes: a process sweep: parameter sets of ``config.process`` (e.g. a Mess3 (x, alpha)
            grid, :func:`sweep_grid`); every set is trained with every seed (members
            ``params x seeds``, folders ``x=0.05_alpha=0.85_seed-0``). The processes must have
            equal shapes (vocabulary, states); they enter the program as a batched input.

    Returns:
        :class:`EnsembleResult`.

    Raises:
        As :func:`train`.

    Example:
        >>> result = train_ensemble(TrainConfig(steps=600), range(8), "runs/ens")  # doctest: +SKIP
        >>> [m.final_eval["loss_gap"] for m in result.members]                     # doctest: +SKIP
    """
    started = time.perf_counter()
    maybe_initialize_distributed()
    writer = jax.process_index() == 0
    with StopSignals() as signals:
        if resume:
            path = Path(workdir)
            if not path.is_dir():
                raise ValueError(f"cannot resume: {path} does not exist")
            ensemble = EnsembleDirectory(path, writer=writer)
            with ensemble.lock("compmech train"):
                ensemble.resumable_config()  # it has a joint state
                setup = build_setup(None, member_configs=ensemble.member_configs())
                return _run(setup, ensemble, True, False, progress, stop_after, started, signals)
        if config is None or seeds is None:
            raise ValueError("config and seeds are required unless resuming")
        seeds = check_seeds(seeds)
        if processes is None:
            configs, names = [config.replace(seed=s) for s in seeds], None
        else:
            if not processes:
                raise ValueError("a process sweep needs at least one parameter set")
            if config.hmm is not None:
                raise ValueError("a process sweep varies a catalogue process's parameters; the "
                                 "config has an inline HMM instead")
            configs, names = [], []
            for params in processes:
                for s in seeds:
                    configs.append(config.replace(
                        seed=s, process_params={**config.process_params, **params}))
                    names.append(member_name(s, params))
        setup = build_setup(None, member_configs=configs)
        ensemble = EnsembleDirectory(workdir, setup.seeds, names, writer=writer)
        with ensemble.lock("compmech train"):
            return _run(setup, ensemble, False, force, progress, stop_after, started, signals)


def sweep_grid(**values: Sequence) -> list[dict]:
    """Every combination of parameter values, in order: ``sweep_grid(x=[0.05, 0.1],
    alpha=[0.6, 0.85])`` gives the four ``{"x": ..., "alpha": ...}`` of the grid."""
    grid: list[dict] = [{}]
    for name, options in values.items():
        grid = [{**g, name: v} for g in grid for v in options]
    return grid


def _run(setup: TrainingSetup, run_dir: RunDirectory | EnsembleDirectory, resume: bool,
         force: bool, progress: bool, stop_after: int | None, started: float,
         signals: StopSignals):
    """Prepare the (locked) run directory and run the loop (an ensemble's members are locked
    too, once prepared)."""
    if isinstance(run_dir, EnsembleDirectory):
        run_dir.prepare(setup.config, resume=resume, force=force,
                        member_configs=setup.member_configs)
    else:
        run_dir.prepare(setup.config, resume=resume, force=force)
    with contextlib.ExitStack() as locks:
        if isinstance(run_dir, EnsembleDirectory):
            for member in run_dir.members:
                locks.enter_context(member.lock("compmech train (ensemble)"))
        trainer = Trainer(setup, run_dir, resume=resume, progress=progress, stop_after=stop_after,
                          started=started, signals=signals)
        return trainer.run()


__all__ = [
    "sweep_grid",
    "train",
    "train_ensemble",
]
