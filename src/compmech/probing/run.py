"""Probe a training run: every hook with its controls and baselines, the headline hook at every
checkpoint; writes ``RUN_DIR/probe.json`` (a :class:`~compmech.probing.report.ProbeReport`) and
``RUN_DIR/probe_points.npz``
(the held-out predictions the figures draw).

Protocol (``docs/probing.md``): every word of length ``n_ctx`` with nonzero probability (all 3^10
for Mess3) when ``V**n_ctx * n_ctx <= 10^6`` points, unweighted, each position labelled with the
belief after the tokens up to it; otherwise sampled words whose distinct prefixes are weighted once
by their probability. Sequences are split into 5 folds at random (seeded); the reported probe is
trained on fold 0 (20%) and tested on the other four (80%); the spread is the same with each fold
as training fold. Beside every fit: the shuffle control, the untrained network (the run's step-0
checkpoint), a (last token x position) one-hot and i.i.d. random features of the same width.

Options (Riechers et al. 2025's protocol beside ours, written into ``probe.json``): ``weighting=
"probability"`` weighs point (word, t) of the enumeration by ``P(word)``; ``folds=K`` replaces the
split by K-fold cross-validation with pooled scores; ``rcond_sweep`` adds, per hook, the probe whose
cut-off inner validation chose; the Markov-order-1..3 baselines are always beside the controls.

Geometry (``docs/geometry.md``): at every
probed checkpoint the held-out predictions of the headline hook, and at the last checkpoint those of
every hook, are compared with the true beliefs scale by scale (:func:`compmech.compare_geometry`,
in the orthonormal affine coordinates of the simplex, or of the belief plane for a GHMM), giving
the representation's **paired resolution** (down to which scale pairs of points keep their
distances) beside its null model's, and its **equivalent history** (:mod:`compmech.history`: the
``k`` at which the exact Markov-k-plus-position lookup, built once over all probe points with the
probe's weights, has the same error on the same points). The comparison runs on the figure points
(at most :data:`~compmech.probing.data.FIGURE_POINTS` held-out points, a seeded subsample) with
``compare_geometry``'s
default pair subsample (3,000 draws). At the last checkpoint nonlinear decoders
(:mod:`compmech.probing.decoders`: k-nearest neighbours, a 2-layer MLP) are fitted on a seeded
subsample of the same training side, for the headline hook and the concatenation of layers, and
scored beside the linear probe and the Markov-3/5/7 lookups (:data:`~compmech.probing.data.LOOKUP_ORDERS`)
on the held-out points whose input prefix never occurs on the training side (split by sequence, short
prefixes are shared; there a nonlinear decoder could copy the belief of a training point with identical
activations). A kNN decoder outputs averages of true training beliefs, so it lands on the fractal whatever
its pointwise error: read its paired resolution and error, never the dimension of its cloud.

Curve (:mod:`compmech.probing.curve`): the first and last checkpoints are the full probes above;
the others are probed on a fixed seeded subset of the words (``curve_words``), each curve point
recording how many sequences it read.

``probe_points.npz``: ``true`` and ``point_index`` (the figure points) with ``pred/<hook>``,
``shuffle/<hook>`` and ``checkpoint/0`` (the untrained probe) at them; ``curve_point_index`` and
``curve_true`` (the curve's points: the figure points when the curve reads every word, else held-out
points of its subset) with ``checkpoint/<step>`` at them for every later checkpoint (the last one
the headline probe's).

Works for every registered architecture: the hooks come from the run's model
(:func:`transformer.probe_hooks`), plus the pseudo-hook :data:`~compmech.probing.data.CONCAT`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from compmech.formatting import fmt
from compmech.probing.blind import BlindControls, blind_controls
from compmech.probing.config import ProbeConfig
from compmech.probing.crossval import (
    ProbeResult,
    predict_points,
    rcond_sweep,
)
from compmech.probing.curve import curve_subset, describe_curve, held_out_points
from compmech.probing.data import (
    CONCAT,
    PAPER,
    POINTS_FILE,
    PROBE_FILE,
    ProbeData,
    _check_hooks,
    _features,
    _model_hooks,
    _probe,
    _train_sets,
    collect,
    layer_hooks,
    markov_baselines,
    probe_data,
    train_folds,
)
from compmech.probing.decoding import _probe_decoders, lookup_reports, untrained_decoders
from compmech.probing.geometry import GeometryRecord, geometry_record
from compmech.probing.inputs import (
    onehot_features,
    random_features,
)
from compmech.probing.job import _log, _ProbeJob, _Timer, in_parallel, release_freed_memory
from compmech.probing.linear import DEFAULT_FOLDS
from compmech.probing.points import ProbePoints
from compmech.probing.report import CurvePoint, HookReport, ProbeReport
from compmech.probing.targets import (
    encoding_angles_deg,
    factor_targets,
    probe_factors,
)
from transformer import Run, load_run


# ------------------------------------------------------------------------------------- probing
def baseline_results(run: Run, data: ProbeData, hooks: Sequence[str], *, seed: int = 0,
                     untrained_acts: dict[str, np.ndarray] | None = None,
                     keep: Sequence[str] | None = None) -> dict[str, dict]:
    """Held-out scores of the baselines beside each hook.

    ``untrained``: the same hook of the run's initialisation (step 0); ``onehot``: the (last token x
    position) one-hot; ``random``: i.i.d. normal features of the hook's width; ``markov_k``
    (k in :data:`~compmech.probing.data.MARKOV_ORDERS`): the best predictor seeing only the last k tokens
    (:func:`~compmech.probing.data.markov_baselines`).

    ``untrained_acts`` (the step-0 activations, collected here when ``None``): with ``keep`` (model
    hooks to keep), each other hook is deleted from the dict once no later hook reads it, so that a
    wide concatenation is probed without the final LayerNorm's activations beside it.

    Returns:
        ``{hook: {"untrained": ProbeResult, "onehot": ..., "random": ..., "markov_1": ...}}``.
    """
    if untrained_acts is None:
        if 0 not in run.checkpoint_steps:
            raise ValueError(f"{run.run_dir} has no step-0 checkpoint: the untrained baseline needs it")
        untrained_acts = collect(run, run.load_params(0), data, hooks)
    onehot = _probe(onehot_features(data.tokens, run.model_config.d_vocab), data)
    markov = markov_baselines(data, run.model_config.d_vocab)
    hooks = sorted(hooks, key=lambda h: h == CONCAT)  # the concatenation last, alone
    width = {hook: _features(untrained_acts, hook, run).shape[-1] for hook in hooks}

    def fit(task):  # ("untrained", hook) or ("random", width)
        kind, what = task
        return _probe(_features(untrained_acts, what, run) if kind == "untrained"
                      else random_features(data.tokens.shape, what, seed=seed), data)

    by_width: dict[int, ProbeResult] = {}
    out = {}
    narrow = max((w for h, w in width.items() if h != CONCAT), default=0)
    widths = sorted(dict.fromkeys(width.values()))
    tasks = ([("random", w) for w in widths if w <= narrow]
             + [("untrained", hook) for hook in hooks if hook != CONCAT]
             + [("random", w) for w in widths if w > narrow]  # wide ones last, one at a time
             + [("untrained", hook) for hook in hooks if hook == CONCAT])
    wide = sum(1 for w in widths if w > narrow) + hooks.count(CONCAT)
    for (kind, what), res in zip(tasks, in_parallel(fit, tasks, alone=wide), strict=True):
        if kind == "random":
            by_width[what] = res
            continue
        i, hook = hooks.index(what), what
        out[hook] = {"untrained": res, "onehot": onehot, "random": by_width[width[hook]], **markov}
        if keep is not None:
            later = set(_model_hooks(list(hooks[i + 1:]), run)) | set(keep)
            for h in set(_model_hooks([hook], run)) - later:
                untrained_acts.pop(h, None)
    return out


def _select_steps(steps: list[int], checkpoints) -> list[int]:
    if checkpoints == "all":
        return steps
    if checkpoints == "last":
        return sorted({steps[0], steps[-1]})
    n = int(checkpoints)
    if n < 2:
        raise ValueError("--checkpoints N needs N >= 2 (the initialisation and the last step)")
    if n >= len(steps):
        return steps
    pos = np.unique(np.round(np.geomspace(1, len(steps), n)).astype(int) - 1)
    return sorted({steps[0], steps[-1], *(steps[i] for i in pos)})


def _resolve(run: Run, config: ProbeConfig) -> _ProbeJob:
    headline = config.headline or run.last_hook()
    hooks = _check_hooks(list(config.hooks) if config.hooks else layer_hooks(run), run)
    if headline not in hooks:
        hooks = [headline] + hooks
    _check_hooks([headline], run)
    steps = run.checkpoint_steps
    if not steps or steps[0] != 0:
        raise ValueError(f"{run.run_dir} needs checkpoints including step 0 (the untrained "
                         f"baseline); found {steps[:3]}")
    folds, seed = config.folds, config.seed
    data = probe_data(run, seed=seed, max_points=config.max_points,
                      num_sequences=config.num_sequences, weighting=config.weighting,
                      n_folds=DEFAULT_FOLDS if folds is None else int(folds))
    widths = run.hook_widths()
    width = max(sum(widths[h] for h in _model_hooks([hook], run)) for hook in hooks)
    if folds is None:
        data = dataclasses.replace(data, train_folds=train_folds(config.split, data.tokens.size,
                                                                  width))
    else:
        data = dataclasses.replace(data, train_folds=int(folds) - 1, kfold=True)
    points = held_out_points(data, seed=seed)
    job = _ProbeJob(run, data, hooks, headline, _select_steps(steps, config.checkpoints), steps[-1],
                    points, seed, sweep=config.rcond_sweep)
    job.curve = curve_subset(data, config.curve_words, seed=seed, figure_points=points)
    flat = data.beliefs.reshape(-1, data.beliefs.shape[-1])
    job.held_out = ProbePoints(flat[points].astype(np.float32), points, job.curve.points,
                               flat[job.curve.points].astype(np.float32))
    return job


def _probe_trained(job: _ProbeJob, timer: _Timer, decoders: Sequence[str]):
    """Every hook at the last checkpoint with the shuffle control (the headline also with the
    spread over folds); predictions of the figure points and their geometry, hook by hook; the
    nonlinear decoders."""
    run, data, P = job.run, job.data, job.positions
    with timer("forward_trained_s"):  # the last checkpoint's one forward pass, for every consumer
        acts = collect(run, run.load_params(job.last), data, _last_checkpoint_hooks(job, decoders))
    results: dict[str, ProbeResult] = {}

    def fit(hook):
        return _probe(_features(acts, hook, run), data, spread=hook == job.headline, shuffle=True,
                      seed=job.seed)

    with timer("probe_trained_s"):
        order = sorted(job.hooks, key=lambda h: h == CONCAT)  # the concatenation last, alone
        for hook, res in zip(order, in_parallel(fit, order, alone=order.count(CONCAT)),
                             strict=True):
            feats = _features(acts, hook, run)
            results[hook] = res
            job.held_out.predicted[hook] = predict_points(res.probe, feats, job.points, P)
            job.held_out.shuffled[hook] = predict_points(res.shuffle_probe, feats, job.points, P)
            if hook == job.headline:  # the curve's last frame, on the curve's points
                job.held_out.checkpoints[job.last] = predict_points(res.probe, feats,
                                                                      job.curve.points, P)
    geometries: dict[str, GeometryRecord | None] = {}
    with timer("geometry_s"):
        for hook in job.hooks:
            geometries[hook] = job.compare(job.held_out.predicted[hook].astype(np.float64),
                                           hook=hook, step=job.last)
    with timer("blind_s"):
        blind = _blind_controls(job, acts)
    if job.sweep:
        with timer("rcond_sweep_s"):
            for hook in job.hooks:
                results[hook].regularisation = rcond_sweep(
                    _features(acts, hook, run), data.beliefs, data.folds,
                    train_folds=data.train_folds, spread=data.kfold, weights=data.weights,
                    seed=job.seed).summary()
    for hook in set(acts) - set(_model_hooks(_later_hooks(job, decoders), run)):
        del acts[hook]  # read by no later stage (e.g. the final LayerNorm): ~150 MB each
    release_freed_memory()
    reports = None
    if decoders:
        with timer("decoders_s"):
            reports = _probe_decoders(job, acts, results, decoders)
    factors = None
    if run.hmm.structure is not None:
        with timer("factors_s"):
            factors = _probe_factor_targets(job, acts)
    return results, reports, geometries, blind, factors


def _last_checkpoint_hooks(job: _ProbeJob, decoders: Sequence[str]) -> list[str]:
    """Every hook any consumer reads at the last checkpoint: the probed hooks, the decoders' and,
    for mixtures and products, the factor targets' (headline and concatenation)."""
    return list(dict.fromkeys(list(job.hooks) + _later_hooks(job, decoders)))


def _later_hooks(job: _ProbeJob, decoders: Sequence[str]) -> list[str]:
    """The hooks the last checkpoint's stages after the probes read: the decoders' and, for
    mixtures and products, the factor targets' (headline and concatenation)."""
    hooks = list(job.decoder_hooks) if decoders else []
    if job.run.hmm.structure is not None:
        hooks += [job.headline, CONCAT]
    return hooks


def _blind_controls(job: _ProbeJob, acts: dict[str, np.ndarray]) -> dict[str, BlindControls]:
    """The prediction-blind controls at every hook (not the concatenation), on the probe's own
    split; one "not applicable" record per hook where the process has no blind subspace."""
    data, hmm = job.data, job.run.hmm
    n, P = data.tokens.shape
    eta = data.joint_beliefs.reshape(n * P, -1)
    train = np.repeat(np.isin(data.folds, _train_sets(data)[0]), P)
    weights = None if data.weights is None else data.weights.reshape(-1)
    out = {}
    for hook in job.hooks:
        feats = _features(acts, hook, job.run)
        if callable(feats):
            continue
        out[hook] = blind_controls(np.asarray(feats).reshape(n * P, -1), eta, hmm, train=train,
                                   weights=weights, seed=job.seed)
    return out



def _probe_curve(job: _ProbeJob, results: dict[str, ProbeResult], baselines: dict[str, dict],
                 progress, last_geometry: GeometryRecord | None = None) -> list[CurvePoint]:
    """The headline hook at each selected checkpoint (no spread, no shuffle). The first and last
    checkpoints are the full probes (``results``, the untrained baseline; the last one's geometry
    is ``last_geometry``, already computed); the others read the curve's subset of the words
    (:mod:`compmech.probing.curve`), its geometry on the subset's held-out points."""
    run, head, sub = job.run, job.headline, job.curve
    curve = []
    for step in job.curve_steps:
        words = job.data.num_sequences
        if step == job.last:
            res, geometry = results[head], last_geometry
        elif step == 0:
            res = baselines[head]["untrained"]
            pred = job.held_out.checkpoints.get(0)
            geometry = None if pred is None else job.compare(pred.astype(np.float64), hook=head,
                                                             step=step)
        else:
            res, geometry = _probe_checkpoint(job, step)
            words = sub.num_sequences
        curve.append(CurvePoint(step, run.tokens_seen(step), head, res.scores.mse,
                                res.scores.r2, geometry, num_sequences=words))
        resolution = "" if geometry is None else (
            f"  resolution {geometry.resolution:.3g}  history "
            f"{fmt(geometry.equivalent_history, '.2f')} tokens")
        _log(progress, f"  step {step:>8}  tokens {run.tokens_seen(step):>12,}  "
                       f"MSE {res.scores.mse:.3g}{resolution}  ({words:,} sequences)")
    return curve


def _probe_checkpoint(job: _ProbeJob, step: int) -> tuple[ProbeResult, GeometryRecord | None]:
    """One intermediate checkpoint on the curve's subset: one forward pass of the headline hook
    (the compiled function is shared by every checkpoint), the probe, its predictions at the
    subset's held-out points (kept as ``checkpoint/<step>``) and their geometry."""
    run, head, sub = job.run, job.headline, job.curve
    feats = _features(collect(run, run.load_params(step), sub.data, [head]), head, run)
    res = _probe(feats, sub.data)
    pred = predict_points(res.probe, feats, sub.local_points, job.positions)
    del feats
    job.held_out.checkpoints[step] = pred
    geometry = job.compare(pred.astype(np.float64), hook=head, step=step, points=sub.points,
                           weights=sub.point_weights())
    return res, geometry


def _probe_factor_targets(job: _ProbeJob, acts: dict[str, np.ndarray]):
    """Mixtures and products: the extra targets at the headline hook and the concatenation (from
    the last checkpoint's activations ``acts``), and for a product the principal angles between the
    factors' probe subspaces."""
    run, data = job.run, job.data
    targets = factor_targets(run.hmm, data.joint_beliefs, data.weights)
    hooks = list(dict.fromkeys([job.headline, CONCAT]))
    scores: dict[str, dict[str, dict]] = {name: {} for name in targets}
    headline_probes = {}
    for hook in hooks:
        fits = probe_factors(_features(acts, hook, run), targets, data.folds, data.train_folds,
                             seed=job.seed)
        for name, fit in fits.items():
            scores[name][hook] = fit.scores
        if hook == job.headline:
            headline_probes = {n: f.probe for n, f in fits.items() if n.startswith("factor_")}
    names = sorted(headline_probes)
    headline = _features(acts, job.headline, run) if names else None
    angles = {f"{a.rsplit('_', 1)[1]},{b.rsplit('_', 1)[1]}":
              encoding_angles_deg(headline_probes[a], headline_probes[b], headline, data.weights)
              for i, a in enumerate(names) for b in names[i + 1:]}
    return scores, (angles or None)


def probe_run(run_dir, config: ProbeConfig | None = None, *, force: bool = False,
              progress: bool | Callable = True) -> ProbeReport:
    """Probe a run: every hook with controls and baselines at the last checkpoint, the headline hook
    at every checkpoint; writes ``probe.json`` and ``probe_points.npz`` into the run directory.

    Args:
        run_dir: a run written by :func:`transformer.train`.
        config: what to probe and how (:class:`~compmech.probing.config.ProbeConfig`; default: the
            paper's protocol with every extra).
        force: overwrite an existing ``probe.json``.
        progress: print progress lines (or a callable taking them).

    Returns:
        The :class:`~compmech.probing.report.ProbeReport` written to ``probe.json``.

    Raises:
        FileExistsError: ``probe.json`` exists and ``force`` is False.
        compmech.files.LockBusy: another process is writing the run directory.
    """
    config = ProbeConfig() if config is None else config
    if not isinstance(config, ProbeConfig):
        raise TypeError(f"probe_run takes a ProbeConfig; got {type(config).__name__}")
    run = load_run(run_dir)
    with run.lock("compmech probe"):
        return _analyze(run, Path(run_dir), config, force=force, progress=progress)


def _analyze(run: Run, run_dir: Path, config: ProbeConfig, *, force: bool,
             progress) -> ProbeReport:
    """:func:`probe_run` once the run directory is locked."""
    timer = _Timer()
    out_path = run_dir / PROBE_FILE
    if out_path.exists() and not force:
        raise FileExistsError(f"{out_path} already exists; pass --force to overwrite it")
    with timer("data_s"):
        job = _resolve(run, config)
    _log(progress, f"probe: {job.data.num_sequences} sequences x {job.positions} positions "
                   f"({job.data.protocol}), checkpoint {job.last}, hooks {', '.join(job.hooks)}")
    job.geometry = config.geometry
    decoders = config.decoders
    job.decoder_hooks = tuple(dict.fromkeys([job.headline]
                                            + ([CONCAT] if config.decoder_concat else [])))
    results, decoder_reports, geometries, blind, factor_fits = _probe_trained(job, timer,
                                                                              decoders)
    lookups = None
    if decoder_reports and config.geometry:
        with timer("lookups_s"):
            lookups = lookup_reports(job, job.held_out.decoder_points)
    _log(progress, f"  trained network probed ({timer.seconds['forward_trained_s']:.1f} s forward, "
                   f"{timer.seconds['probe_trained_s']:.1f} s probes)")
    release_freed_memory()  # the last checkpoint's activations, before the step-0 ones arrive
    with timer("forward_untrained_s"):
        untrained = collect(run, run.load_params(0), job.data, job.hooks)
    with timer("baselines_s"):
        baselines = baseline_results(run, job.data, job.hooks, seed=config.seed, untrained_acts=untrained,
                                     keep=_model_hooks([job.headline], run))
    if decoder_reports:
        with timer("decoders_untrained_s"):
            untrained_decoders(job, untrained, decoder_reports, decoders)
    job.held_out.checkpoints[0] = predict_points(baselines[job.headline]["untrained"].probe,
                                                _features(untrained, job.headline, run),
                                                job.points, job.positions)
    del untrained
    _log(progress, f"  baselines ({timer.seconds['forward_untrained_s']:.1f} s forward, "
                   f"{timer.seconds['baselines_s']:.1f} s probes)")
    with timer("curve_s"):
        curve = _probe_curve(job, results, baselines, progress, geometries.get(job.headline))
    last = geometries.get(job.headline)
    geometry_note = None
    if config.geometry and last is None:
        geometry_note = geometry_record(run.hmm, job.flat_targets[job.points],
                                        job.held_out.predicted[job.headline], seed=config.seed)[1]
    factors, angles = factor_fits if factor_fits is not None else (None, None)
    timer.finish()
    report = ProbeReport(
        run_dir=str(run_dir), process=run.hmm.name, process_params=dict(run.hmm.params),
        model=run.model_config.to_dict(), step=job.last, tokens_seen=run.tokens_seen(job.last),
        training_wall_time_s=run.training_wall_time,
        protocol=dataclasses.replace(job.data.describe(sweep=job.sweep),
                                     curve=describe_curve(job.curve, job.data.num_sequences)),
        headline_hook=job.headline,
        hooks={h: HookReport.from_result(results[h], baselines[h],
                                         results[h].regularisation, geometries.get(h),
                                         blind.get(h))
               for h in job.hooks},
        curve=curve, timing=timer.seconds,
        paper=PAPER.get(run.hmm.name),
        factors=factors, factor_angles_deg=angles, geometry=last, geometry_note=geometry_note,
        decoders=decoder_reports, lookups=lookups,
        decoder_points_per_position=None if job.held_out.decoder_points is None else np.bincount(
            job.held_out.decoder_points % job.positions, minlength=job.positions).tolist(),
        lookup_errors=None if not config.geometry else _lookup_error_lists(job),
        error_measure=job.measure if config.geometry else None)
    job.held_out.write(Path(run_dir) / POINTS_FILE)
    report.write(out_path)
    return report


def _lookup_error_lists(job: _ProbeJob) -> dict[str, list[float]]:
    sets = {"figure": job.points}
    if job.held_out.decoder_points is not None:
        sets["decoder"] = job.held_out.decoder_points
    return {name: job.lookup_errors_at(points).tolist() for name, points in sets.items()}


__all__ = [
    "baseline_results",
    "lookup_reports",
    "probe_run",
]
