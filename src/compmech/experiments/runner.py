"""Experiments as lists of independent jobs (train a model, probe it, measure its geometry), run
serially or in worker processes, each writing ``results/<name>.json`` (a
:class:`~compmech.experiments.results.JobResult`) when finished; a job whose result exists is not
redone, and an interrupted training run is resumed.

An experiment folder holds ``runs/`` (the training runs, ordinary run directories), ``results/``
(one JSON and one ``.npz`` of figure data per job), ``experiment.json`` (the settings, so that a
folder made with other settings is refused), and the report (figures, ``summary.json``,
``README.md``) that :mod:`compmech.experiments.bottleneck` and :mod:`compmech.experiments.sweep`
write.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compmech.asymptotics import entropy_rate
from compmech.blackwell import blackwell_sample
from compmech.experiments.results import (
    MANIFEST,
    RECIPE_FIELDS,
    RESULTS_DIR,
    RUNS_DIR,
    DimensionSummary,
    FigureData,
    Job,
    JobResult,
    JobsOutcome,
    LossSummary,
    ProbeSummary,
    ProtocolHookScores,
    ProtocolSummary,
    TrainSummary,
    figure_data_path,
    result_path,
)
from compmech.experiments.tables import TablePrinter
from compmech.files import FileLock, LockBusy, to_jsonable, write_json
from compmech.geometry import kaplan_yorke_dimension, lyapunov_spectrum
from compmech.probing.config import ProbeConfig
from compmech.probing.data import POINTS_FILE, collect, probe_data
from compmech.probing.points import ProbePoints
from compmech.probing.report import ProbeReport
from compmech.probing.run import probe_run
from compmech.probing.structure1d import (
    MspStructure,
    StructureAtStep,
    best_linear_direction,
    structure_1d,
)
from transformer import Run, TrainConfig, load_run, train


# ------------------------------------------------------------------------------------ one job
def train_or_resume(config: TrainConfig, run_dir: Path, progress: bool) -> Run:
    """Train into ``run_dir``; resume an interrupted run there (refusing a different config)."""
    if not (run_dir / "config.json").exists():
        train(config, run_dir, progress=progress)
        return load_run(run_dir)
    saved = load_run(run_dir)
    mine, theirs = config.to_dict(), saved.config.to_dict()
    mine.pop("device_used"), theirs.pop("device_used")  # written by train: not a setting
    if config.minutes is not None:  # the budget fixes ``steps`` after warmup
        mine.pop("steps"), theirs.pop("steps")
    if mine != theirs:
        raise ValueError(f"{run_dir} holds a run with a different configuration; remove it or "
                         "use another output folder")
    if saved.checkpoint_steps and saved.checkpoint_steps[-1] >= saved.config.steps:
        return saved  # finished earlier (its analysis was interrupted)
    if saved.files.state_path.exists():
        train(None, run_dir, resume=True, progress=progress)
    else:
        train(config, run_dir, force=True, progress=progress)  # no state: restart
    return load_run(run_dir)


def _loss_summary(run: Run) -> LossSummary | None:
    evals = run.evaluations
    if not evals:
        return None
    first, last = evals[0], evals[-1]
    gap = np.asarray(last.eval_loss) - np.asarray(last.optimal_loss)
    return LossSummary(last.eval_loss, last.optimal_loss, first.eval_loss, gap.tolist(),
                       float(gap.mean()), last.relative_loss, last.step)


_THEORY_CACHE: dict[str, DimensionSummary] = {}


def theory_dimensions(hmm, seed: int, blackwell_points: int = 200_000) -> DimensionSummary:
    """Kaplan-Yorke dimension of the Blackwell measure, with the Lyapunov exponents and ``h_mu``.

    One Blackwell sample (``blackwell_points`` beliefs in 100 chains) serves both the Lyapunov
    spectrum and the entropy rate. Cached per process within this Python process (all widths of the
    bottleneck share it).
    """
    key = json.dumps([hmm.to_dict(), seed, blackwell_points], default=str)
    if key not in _THEORY_CACHE:
        try:
            sample = blackwell_sample(hmm, blackwell_points, seed, num_chains=100)
            spectrum = lyapunov_spectrum(hmm, sample=sample)
            rate = entropy_rate(hmm, sample=sample)
            out = DimensionSummary(kaplan_yorke_dimension(spectrum.exponents, rate.nats),
                                   spectrum.exponents.tolist(), rate.bits)
        except ValueError as err:  # e.g. a 1-state process
            out = DimensionSummary(None, error=str(err))
        _THEORY_CACHE[key] = out
    return _THEORY_CACHE[key]


def _probe_summary(report: ProbeReport, hook: str, before: str | None) -> ProbeSummary:
    r = report.hooks[hook]
    return ProbeSummary(
        hook=hook, protocol=report.protocol.inputs, mse_test=r.mse_test, rmse_test=r.rmse_test,
        r2_test=r.r2_test, mse_folds_std=r.mse_folds_std, shuffle_mse=r.shuffle_mse,
        belief_variance=r.belief_variance, untrained_mse=r.baselines["untrained"],
        onehot_mse=r.baselines["onehot"], random_mse=r.baselines["random"],
        before_bottleneck_mse=None if before is None else report.hooks[before].mse_test)


def protocol_summary(report: ProbeReport) -> ProtocolSummary:
    """One probe protocol's numbers for a job result: the protocol, and per hook the held-out
    scores (pooled ones for k-fold), shuffle control, baselines and the rcond sweep's choice."""
    hooks = {}
    for name, r in report.hooks.items():
        reg = r.regularisation
        hooks[name] = ProtocolHookScores(
            mse_test=r.mse_test, r2_test=r.r2_test, shuffle_mse=r.shuffle_mse,
            invariant_r2_test=r.invariant_r2_test, whitened_mse_test=r.whitened_mse_test,
            shuffle_invariant_r2=r.shuffle_invariant_r2, belief_variance=r.belief_variance,
            baselines=dict(r.baselines), baselines_invariant_r2=dict(r.baselines_invariant_r2),
            rcond_mse=None if reg is None else
            (reg.mse_pooled if report.protocol.kfold else reg.mse_test),
            rcond_chosen=None if reg is None else reg.chosen_rcond)
    return ProtocolSummary(report.protocol, report.headline_hook, hooks)


def _checkpoints_to_analyse(steps: Sequence[int], k: int) -> list[int]:
    steps = sorted(steps)
    if len(steps) <= k:
        return steps
    pick = np.unique(np.round(np.linspace(0, len(steps) - 1, k)).astype(int))
    return [steps[i] for i in pick]


def structure_over_training(run: Run, hook: str, seed: int, max_checkpoints: int):
    """A one-number-wide hook at each selected checkpoint (every probe input and position) vs the
    MSP's best 1-D projections (regression on the last step's coordinate, first principal axis).

    Returns:
        ``(per-step structures, the MSP's structure, (coordinate (M,), its MSP projection (M,),
        the beliefs (M, S)))``: the last three for :class:`FigureData`.
    """
    data = probe_data(run, seed=seed)
    true = data.beliefs.reshape(-1, data.beliefs.shape[-1])
    per_step, first, final = [], None, None
    for step in _checkpoints_to_analyse(run.checkpoint_steps, max_checkpoints):
        final = collect(run, run.load_params(step), data, [hook])[hook].reshape(-1).astype(np.float64)
        first = final if first is None else first
        per_step.append(StructureAtStep(
            **vars(structure_1d(final, beliefs=true).summary()), step=int(step),
            tokens_seen=int(run.tokens_seen(step)),
            max_abs_change_from_first=float(np.abs(final - first).max())))
    fit = best_linear_direction(true, target=final)
    pca_dir = best_linear_direction(true)
    msp = MspStructure(
        regression_direction=fit.direction.tolist(), regression_r2=fit.r2,
        regression=structure_1d(fit.coordinates, beliefs=true).summary(),
        pca_direction=pca_dir.direction.tolist(), pca_variance_ratio=pca_dir.r2,
        pca=structure_1d(pca_dir.coordinates, beliefs=true).summary())
    return per_step, msp, (final.astype(np.float32), fit.coordinates, true.astype(np.float32))


def job_lock(out_dir, name: str) -> FileLock:
    """The lock of one job (``results/<name>.lock``): held by whoever runs the job, so that two
    invocations on one folder (or two workers) never run it twice."""
    folder = Path(out_dir) / RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.lock", "an experiment job", f"job {name!r} of {out_dir}")


def run_job(job: Job, out_dir, progress: bool = False) -> JobResult:
    """Run one job under its lock (:func:`job_lock`); a job another process finished meanwhile is
    read back, not redone.

    Raises:
        compmech.files.LockBusy: another process is running this job.
    """
    with job_lock(out_dir, job.name):
        path = result_path(out_dir, job.name)
        if path.exists():
            return JobResult.read(path)
        return _run_job(job, Path(out_dir), progress)


def _run_job(job: Job, out_dir: Path, progress: bool) -> JobResult:
    """Train one model and analyse it; write ``results/<name>.json`` (and ``.npz`` figure data).

    The probe is :func:`compmech.probing.run.probe_run` on the model's headline hook (the
    paper's protocol, with the shuffle control and the untrained, one-hot and random-feature
    baselines; its ``probe.json`` stays in the run directory; for the linear-bottleneck model also
    the residual stream before the bottleneck; the scale-by-scale geometry comparison of its
    held-out predictions, ``result.geometry``, with the dimensions of the true and predicted clouds
    above the probe's resolution), the theory's Kaplan-Yorke dimension (``job.dimensions``), and,
    for a one-number-wide headline hook with ``job.analyse_1d``, that coordinate's 1-D structure
    over training.
    """
    t0 = time.perf_counter()
    config = TrainConfig.from_dict(job.train_config)
    run_dir = out_dir / RUNS_DIR / job.name
    run = train_or_resume(config, run_dir, progress)
    t_train = time.perf_counter() - t0
    hook = run.last_hook()
    before = run.residual_hooks()[-1] if run.model_config.arch == "linear_bottleneck" else None
    hooks = [hook] + ([before] if before else []) + (run.probe_hooks() if job.layers else [])
    specs = list(job.protocols) or [{"name": "paper"}]
    reports = {}
    for i, spec in enumerate(specs):
        options = {k: v for k, v in spec.items() if k != "name"}
        first = i == 0
        config = ProbeConfig(checkpoints="last", hooks=tuple(hooks), headline=hook, seed=job.seed,
                             geometry=first, decoders=tuple(job.decoders) if first else (),
                             decoder_concat=False, **options)
        reports[spec["name"]] = probe_run(run_dir, config, force=True, progress=False)
        if first:
            points = ProbePoints.read(run_dir / POINTS_FILE)
            figure = FigureData(true=points.true, predicted=points.predicted[hook])
    report = reports[specs[0]["name"]]
    result = JobResult(
        name=job.name, labels=dict(job.labels), process=run.hmm.name,
        process_params=dict(run.config.process_params), model=run.model_config.to_dict(),
        train=TrainSummary(report.step, run.tokens_seen(report.step), run.config.batch_size,
                           run.config.minutes, run.training_wall_time),
        loss=_loss_summary(run), probe=_probe_summary(report, hook, before),
        dimensions=theory_dimensions(run.hmm, job.seed) if job.dimensions else None,
        num_params=getattr(run.model_config, "num_params", None),
        protocols={name: protocol_summary(r) for name, r in reports.items()}
        if job.protocols else None,
        geometry=report.geometry,
        decoder_geometry=None if not report.decoders else {
            **{kind: r.geometry for kind, r in report.decoders.get(hook, {}).items()},
            **{kind: r.geometry for kind, r in (report.lookups or {}).items()}})
    if job.analyse_1d and run.hook_widths()[hook] == 1:
        result.structure_1d, result.msp_structure_1d, (coordinate, projection, beliefs) = (
            structure_over_training(run, hook, job.seed, job.max_checkpoints))
        figure = dataclasses.replace(figure, coordinate=coordinate, msp_projection=projection,
                                     coordinate_beliefs=beliefs)
    result.analysis_seconds = time.perf_counter() - t0 - t_train
    result.seconds = time.perf_counter() - t0
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    figure.write(figure_data_path(out_dir, job.name))  # before the JSON marker
    result.write(result_path(out_dir, job.name))
    return result


# ------------------------------------------------------------------------------------ many jobs
def _run_job_quiet(job: dict, out_dir: str) -> dict:
    """Worker entry point (module level so that spawned processes can import it).

    Several workers may share one GPU, so none pre-allocates most of its memory (set before the
    first JAX computation of the process)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return run_job(Job.from_dict(job), out_dir, progress=False).to_dict()


#: What a failing job may raise without stopping the others (a diverged run is a RuntimeError).
JOB_ERRORS = (ValueError, RuntimeError, FloatingPointError)


def run_jobs(jobs: Sequence[Job], out_dir, *, workers: int = 1,
             on_result: Callable[[JobResult], None] | None = None,
             on_failure: Callable[[str, str], None] | None = None,
             progress: bool = False) -> JobsOutcome:
    """Run jobs not yet finished (no ``results/<name>.json``), serially or in worker processes.

    Several invocations on one folder share the work: a job another process is running (its lock
    is held) is left to it and waited for at the end; if that process died without finishing it,
    this one runs it.

    Args:
        jobs: the jobs; names must be unique.
        out_dir: the experiment folder.
        workers: ``<= 1`` runs in this process; more uses a ``ProcessPoolExecutor`` (``spawn``) of
            that many processes, each training on its own (CPU threads are shared).
        on_result: called with each result as it arrives (finished ones first, in job order).
        on_failure: called with ``(name, message)`` when a job raises a ``ValueError`` or
            ``RuntimeError`` (e.g. a diverged training run); the other jobs go on, and the failed one
            has no result file, so the next invocation retries it.
        progress: training progress bars (serial mode only).

    Returns:
        :class:`~compmech.experiments.results.JobsOutcome` (jobs finished by another invocation count as
        ``skipped``).
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique")
    out_dir = Path(out_dir)
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    results: dict[str, JobResult] = {}
    skipped, todo, computed, failed, busy = [], [], [], {}, []

    def finished(result: JobResult, now: bool) -> None:
        results[result.name] = result
        (computed if now else skipped).append(result.name)
        if on_result:
            on_result(result)

    def failure(job: Job, err: BaseException) -> None:
        if isinstance(err, LockBusy):
            busy.append(job)
            return
        failed[job.name] = f"{type(err).__name__}: {err}"
        if on_failure:
            on_failure(job.name, failed[job.name])

    for job in jobs:
        path = result_path(out_dir, job.name)
        if path.exists():
            finished(JobResult.read(path), now=False)
        else:
            todo.append(job)
    if int(workers) <= 1:
        _run_serially(todo, out_dir, progress, finished, failure)
    else:
        _run_in_pool(todo, out_dir, int(workers), finished, failure)
    for job in busy:  # another invocation holds these: wait for it, then read (or run) them
        job_lock(out_dir, job.name).acquire(blocking=True).release()
        path = result_path(out_dir, job.name)
        if path.exists():
            finished(JobResult.read(path), now=False)
        else:
            _run_serially([job], out_dir, progress, finished, failure)
    return JobsOutcome({n: results[n] for n in names if n in results}, computed, skipped, failed)


def _run_serially(todo: Sequence[Job], out_dir: Path, progress: bool, finished, failure) -> None:
    for job in todo:
        try:
            finished(run_job(job, out_dir, progress=progress), now=True)
        except (*JOB_ERRORS, LockBusy) as err:
            failure(job, err)


def _run_in_pool(todo: Sequence[Job], out_dir: Path, workers: int, finished, failure) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_run_job_quiet, job.to_dict(), str(out_dir)): job for job in todo}
        for fut in as_completed(futures):
            try:
                finished(JobResult.from_dict(fut.result()), now=True)
            except (*JOB_ERRORS, LockBusy) as err:
                failure(futures[fut], err)


# ------------------------------------------------------------------------------------ settings
def recipe(train_config: Mapping) -> dict:
    """The optimiser settings of a job's config dict (part of the experiment's manifest, so that a
    folder trained with another recipe is not silently resumed)."""
    return {k: train_config[k] for k in RECIPE_FIELDS if k in train_config}


def check_manifest(out_dir: Path, settings: dict, force: bool) -> None:
    """Refuse to mix two different experiments in one folder (unless ``force``)."""
    path = out_dir / MANIFEST
    settings = to_jsonable(settings)
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved != settings:
            diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise ValueError(f"{out_dir} holds an experiment with different settings ({', '.join(diff)}); "
                             "use another folder, or force=True to rewrite its report")
    write_json(path, settings)


def config_with(config, overrides: Mapping[str, Any]) -> TrainConfig:
    """``config`` (a :class:`TrainConfig`, its dict, or ``None`` for the defaults) with
    ``overrides``."""
    base = TrainConfig() if config is None else config
    if isinstance(base, Mapping):
        base = TrainConfig.from_dict(base)
    return base.replace(**overrides) if overrides else base


def run_experiment(jobs: Sequence[Job], out_dir: Path, manifest: Mapping, columns, *, workers: int,
                   progress: bool, log, force: bool) -> tuple[list[JobResult], JobsOutcome, float]:
    """Check the folder's settings, run the unfinished jobs, print the table as they finish.

    Returns:
        ``(finished results in job order, the outcome, wall seconds)``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(out_dir, dict(manifest), force)
    t0 = time.perf_counter()
    printer = TablePrinter(columns, log)
    outcome = run_jobs(jobs, out_dir, workers=workers, on_result=printer,
                       on_failure=printer.failure, progress=progress)
    done = [outcome.results[j.name] for j in jobs if j.name in outcome.results]
    if not done:
        raise ValueError(f"every job failed: {outcome.failed}")
    return done, outcome, time.perf_counter() - t0


__all__ = [
    "check_manifest",
    "config_with",
    "job_lock",
    "protocol_summary",
    "recipe",
    "run_experiment",
    "run_job",
    "run_jobs",
    "structure_over_training",
    "theory_dimensions",
    "train_or_resume",
]
