"""Experiments beyond the paper: the residual-stream bottleneck and sweeps across processes.

Two questions the published work leaves open (issue 6):

* **Bottleneck.** What happens to the belief geometry when the residual stream is too narrow to hold
  it? :func:`run_bottleneck` trains the Mess3 model with ``d_model`` narrowed to each width (heads,
  ``d_head`` and ``d_mlp`` stay the paper's) and reports, per width, the loss gap to the optimum per
  position, the held-out probe MSE beside the shuffle control and the untrained network, and the
  fractal dimensions of the probe's predicted beliefs beside the theory's. For width 1 it studies the
  single coordinate itself (:func:`structure_1d`): how many distinct clusters it splits into at each
  resolution and its box-counting dimension, beside the MSP projected onto its best 1-D linear
  direction (:func:`best_linear_direction`), at every checkpoint. Because a pre-LayerNorm network
  cannot use a width-1 stream at all (see below), a second variant keeps the paper's model and
  inserts a linear bottleneck of width 1 after its last block (:func:`train_linear_bottleneck`); its
  one coordinate ``z`` is what the 1-D analysis is really about.
* **Sweep.** How does the learned geometry track the theory across a family of processes?
  :func:`run_sweep` trains one model per Mess3 ``(x, alpha)`` grid point (plus Z1R, RRXOR, even and
  golden mean) and reports the theory's and the learned fractal dimensions and the probe MSE.

Both experiments are a list of independent *jobs* (train a model, then analyse it), run serially or in
parallel worker processes (:func:`run_jobs`), each writing ``results/<name>.json`` when finished; a
job whose result exists is not redone, and an interrupted training run is resumed from its last state.
Each experiment folder is self-contained: ``runs/`` (training runs), ``results/`` (one JSON and one
``.npz`` of figure data per job), PNG figures, ``summary.json`` and ``README.md`` with the numbers.

A note on tiny widths (measured, and visible in the results): the model is pre-LayerNorm, and
LayerNorm of a width-1 vector is its bias alone (``x - mean(x) = 0``). At ``d_model = 1`` every block
therefore reads a constant, attention and MLP add constants, and the final LayerNorm makes the logits
constant: the network is a unigram model whose residual coordinate is ``W_E[x_t] + W_pos[t] +
const`` (at most ``V * n_ctx`` distinct values); and as no gradient crosses that LayerNorm, the
embeddings never move (``max_abs_change_from_first`` in the width-1 results). At ``d_model = 2``
LayerNorm outputs only a soft sign of ``x_0 - x_1``; at ``d_model = d`` its output lies on a
``(d - 2)``-sphere (mean and norm removed), so a 3-state process's 2-D belief simplex can first be
read at ``d_model = 4``. The bottleneck is thus harder than the width alone suggests; the report says
so next to the numbers.

Heavy dependencies (flax, optax, matplotlib) are imported inside the functions that need them, so
``import compmech.experiments`` stays light.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

#: Residual-stream widths of the bottleneck experiment.
DEFAULT_WIDTHS = (1, 2, 3, 4, 8, 16, 64)
#: Resolutions (fractions of the point set's range) at which 1-D clusters are counted.
DEFAULT_RESOLUTIONS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
#: Mess3 grid of the sweep: ``x`` (rows) and ``alpha`` (columns); includes the paper's (0.05, 0.85).
DEFAULT_X = (0.05, 0.10, 0.15, 0.20, 0.25)
DEFAULT_ALPHA = (0.45, 0.55, 0.65, 0.75, 0.85)
#: Other processes of the sweep's summary table (catalogue defaults).
DEFAULT_EXTRAS = ("z1r", "rrxor", "even", "golden_mean")
#: Points drawn per figure panel / kept in each job's figure data.
FIGURE_POINTS = 20_000
RESULTS_DIR = "results"
RUNS_DIR = "runs"
MANIFEST = "experiment.json"


# ===================================================================== 1-D fractal analysis
def _values_1d(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D array of at least 2 numbers; got shape {np.shape(values)}")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN or infinite numbers")
    return v


def cluster_counts_1d(values, resolutions=DEFAULT_RESOLUTIONS) -> np.ndarray:
    """Number of distinct clusters of a 1-D point set at each resolution.

    Two points belong to the same cluster when they are joined by a chain of points whose successive
    gaps are at most ``eps * range`` (single-linkage clustering at scale ``eps``): with the values
    sorted, the count is ``1 + #{gaps > eps * range}``. For the middle-thirds Cantor set it is
    ``2^j`` for ``3^-(j+1) <= eps < 3^-j``.

    Args:
        values: ``(N,)`` (or ``(N, 1)``) points.
        resolutions: ``(K,)`` scales ``eps`` as fractions of the range ``max - min``.

    Returns:
        ``(K,)`` int64 cluster counts (all 1 when every point coincides).
    """
    v = np.sort(_values_1d(values))
    res = np.asarray(resolutions, dtype=np.float64)
    extent = v[-1] - v[0]
    if extent == 0:
        return np.ones(res.shape, dtype=np.int64)
    gaps = np.sort(np.diff(v)) / extent
    return (1 + gaps.size - np.searchsorted(gaps, res, side="right")).astype(np.int64)


def cluster_dimension_1d(resolutions, counts, num_points: int) -> float:
    """Slope of ``log(#clusters)`` against ``log(1/eps)``: a gap-based dimension of a 1-D set.

    Uses the resolutions ``eps <= 0.25`` at which the sample still resolves clusters
    (``#clusters <= num_points / 10``, as for box counting; pass the number of *distinct* points).
    NaN with fewer than two such scales.
    """
    res = np.asarray(resolutions, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    fit = (res <= 0.25) & (c <= num_points / 10)
    if fit.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(np.log(1.0 / res[fit]), np.log(c[fit]), 1)
    return float(slope)


class Structure1D(NamedTuple):
    """How a 1-D point set splits into sub-ranges (see :func:`structure_1d`).

    Attributes:
        num_points: ``N``.
        num_distinct: number of distinct values (exact equality).
        range: ``max - min``.
        resolutions: ``(K,)`` scales as fractions of the range.
        cluster_counts: ``(K,)`` clusters at each scale (:func:`cluster_counts_1d`).
        cluster_dimension: slope of ``log(#clusters)`` vs ``log(1/eps)``.
        box_counting: :class:`compmech.geometry.DimensionEstimate` of the set on the line
            (``None`` when the set has no extent).
        label_runs: ``(K,)`` at each scale, the number of runs of equal labels along the clusters in
            order (:func:`label_runs_1d`), or ``None`` when no labels were given.
    """

    num_points: int
    num_distinct: int
    range: float
    resolutions: np.ndarray
    cluster_counts: np.ndarray
    cluster_dimension: float
    box_counting: Any
    label_runs: np.ndarray | None = None

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        bc = self.box_counting
        return {
            "num_points": self.num_points,
            "num_distinct": self.num_distinct,
            "range": self.range,
            "resolutions": [float(r) for r in self.resolutions],
            "cluster_counts": [int(c) for c in self.cluster_counts],
            "cluster_dimension": _finite_or_none(self.cluster_dimension),
            "box_counting_dimension": _finite_or_none(bc.dimension if bc is not None else math.nan),
            "box_counting_fit_range": None if bc is None else [_finite_or_none(v) for v in bc.fit_range],
            "label_runs": None if self.label_runs is None else [int(c) for c in self.label_runs],
        }


def label_runs_1d(values, beliefs, resolutions=DEFAULT_RESOLUTIONS) -> np.ndarray:
    """How interleaved a 1-D point set is: runs of equal dominant state along its clusters.

    At each resolution the points are grouped into clusters as in :func:`cluster_counts_1d`; each
    cluster is labelled by the state with the largest mean belief over its points; the result is the
    number of maximal runs of equal labels in the clusters' order along the line. A coordinate that
    orders the beliefs like a plain projection of the simplex gives about ``S`` runs (one block per
    region); one that splits into interleaved sub-ranges, as a fractal folded onto a line would,
    gives many more.

    Args:
        values: ``(N,)`` points.
        beliefs: ``(N, S)`` the belief of each point.
        resolutions: ``(K,)`` scales as fractions of the range.

    Returns:
        ``(K,)`` int64 numbers of runs (1 when the points coincide).
    """
    v = _values_1d(values)
    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] != v.size:
        raise ValueError(f"beliefs must have shape ({v.size}, S); got {b.shape}")
    order = np.argsort(v, kind="stable")
    v, b = v[order], b[order]
    extent = v[-1] - v[0]
    res = np.asarray(resolutions, dtype=np.float64)
    if extent == 0:
        return np.ones(res.shape, dtype=np.int64)
    gaps = np.diff(v) / extent
    out = np.empty(res.shape, dtype=np.int64)
    for k, eps in enumerate(res):  # one vectorised pass per scale
        cluster = np.concatenate([[0], np.cumsum(gaps > eps)])
        sums = np.stack([np.bincount(cluster, weights=b[:, j]) for j in range(b.shape[1])], axis=1)
        label = sums.argmax(1)
        out[k] = 1 + int((label[1:] != label[:-1]).sum())
    return out


def structure_1d(values, resolutions=DEFAULT_RESOLUTIONS, beliefs=None) -> Structure1D:
    """Cluster counts at several resolutions and box-counting dimension of a 1-D point set.

    The box-counting dimension is :func:`compmech.geometry.box_counting_dimension` of the points on
    the line (a set of finitely many distinct values has dimension 0 at fine scales).

    Args:
        values: ``(N,)`` points, e.g. a width-1 residual coordinate over all inputs.
        resolutions: scales for :func:`cluster_counts_1d`.
        beliefs: optional ``(N, S)`` beliefs of the points, for :func:`label_runs_1d`.

    Returns:
        :class:`Structure1D`.

    Example:
        >>> import numpy as np
        >>> cantor = (2 * (np.arange(2**10)[:, None] >> np.arange(10) & 1) * 3.0 ** -np.arange(1, 11)).sum(1)
        >>> structure_1d(cantor, [0.5 / 3, 0.5 / 9]).cluster_counts.tolist()
        [2, 4]
    """
    from compmech.geometry import box_counting_dimension

    v = _values_1d(values)
    res = np.asarray(resolutions, dtype=np.float64)
    counts = cluster_counts_1d(v, res)
    extent = float(v.max() - v.min())
    box = box_counting_dimension(v[:, None]) if extent > 0 else None
    distinct = int(np.unique(v).size)
    runs = None if beliefs is None else label_runs_1d(v, beliefs, res)
    return Structure1D(int(v.size), distinct, extent, res, counts,
                       cluster_dimension_1d(res, counts, distinct), box, runs)


class LinearDirection(NamedTuple):
    """A 1-D linear direction in belief space and the beliefs' coordinates along it.

    Attributes:
        direction: ``(S,)`` unit vector with ``sum(direction) = 0`` (a direction within the simplex).
        coordinates: ``(N,)`` ``beliefs @ direction``.
        r2: share of the target's variance explained (``"regression"``) or of the beliefs' total
            variance captured (``"pca"``).
        method: ``"regression"`` or ``"pca"``.
    """

    direction: np.ndarray
    coordinates: np.ndarray
    r2: float
    method: str


def best_linear_direction(beliefs, target=None, weights=None) -> LinearDirection:
    """The best 1-D linear view of a belief cloud.

    * With ``target`` (e.g. a width-1 network's coordinate at the same points): the direction ``u``
      of the least-squares fit ``target ~ c * (beliefs @ u) + b`` (a :class:`compmech.probe.BeliefProbe`
      from beliefs to the target), so the projection is the linear function of the belief that best
      matches the coordinate; oriented so that it increases with the target.
    * Without: the first principal axis of the beliefs (largest spread, :func:`compmech.geometry.pca`).

    Beliefs sum to one, so only the component of ``u`` within the simplex (``sum(u) = 0``) matters;
    that component is returned, normalised.

    Args:
        beliefs: ``(N, S)``.
        target: optional ``(N,)`` values to match.
        weights: optional ``(N,)`` point weights.

    Returns:
        :class:`LinearDirection`.
    """
    b = np.asarray(beliefs, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] < 2:
        raise ValueError(f"beliefs must have shape (N, S) with N >= 2; got {b.shape}")
    if target is None:
        from compmech.geometry import pca

        fit = pca(b, 1, weights)
        u = fit.components[0] - fit.components[0].mean()
        norm = np.linalg.norm(u)
        u = u / norm if norm > 0 else u
        return LinearDirection(u, b @ u, float(fit.explained_variance_ratio[0]), "pca")
    from compmech.probe import BeliefProbe

    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if t.shape[0] != b.shape[0]:
        raise ValueError(f"target has {t.shape[0]} values but beliefs have {b.shape[0]} rows")
    probe = BeliefProbe().fit(b, t[:, None], sample_weight=weights)
    u = probe.coef_[0] - probe.coef_[0].mean()
    norm = np.linalg.norm(u)
    u = u / norm if norm > 0 else u
    return LinearDirection(u, b @ u, float(probe.score(b, t[:, None], weights)), "regression")


def _finite_or_none(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# ===================================================================== jobs (train + analyse)
def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; reports are for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer | bool):
        return obj if isinstance(obj, bool) else int(obj)
    if isinstance(obj, np.floating | float):
        return _finite_or_none(obj)
    return obj


def result_path(out_dir, name: str) -> Path:
    """``out_dir/results/<name>.json``: a job is finished exactly when this file exists."""
    return Path(out_dir) / RESULTS_DIR / f"{name}.json"


def _train_or_resume(train_config, run_dir: Path, progress: bool):
    """Train into ``run_dir``; resume an interrupted run there (refusing a different config)."""
    import transformer
    from transformer.config import TrainConfig

    if (run_dir / "config.json").exists():
        saved = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
        mine, theirs = train_config.to_dict(), saved.to_dict()
        if train_config.minutes is not None:  # the budget fixes ``steps`` after warmup
            mine.pop("steps"), theirs.pop("steps")
        if mine != theirs:
            raise ValueError(f"{run_dir} holds a run with a different configuration; remove it or "
                             "use another output folder")
        run = transformer.load_run(run_dir)
        if run.checkpoint_steps and run.checkpoint_steps[-1] >= run.config.steps:
            return run  # finished earlier (its analysis was interrupted)
        if (run_dir / "checkpoints" / "train_state.msgpack").exists():
            transformer.train(None, run_dir, resume=True, progress=progress)
            return transformer.load_run(run_dir)
        transformer.train(train_config, run_dir, force=True, progress=progress)  # no state: restart
        return transformer.load_run(run_dir)
    transformer.train(train_config, run_dir, progress=progress)
    return transformer.load_run(run_dir)


def _loss_record(run) -> dict:
    evals = [m for m in run.metrics if "eval_loss" in m]
    if not evals:
        return {}
    first, last = evals[0], evals[-1]
    gap = np.asarray(last["eval_loss"]) - np.asarray(last["optimal_loss"])
    return {
        "eval_loss": last["eval_loss"], "optimal_loss": last["optimal_loss"],
        "initial_eval_loss": first["eval_loss"],
        "loss_gap_per_position": gap.tolist(), "loss_gap": float(gap.mean()),
        "relative_loss": last.get("relative_loss"), "eval_step": last["step"],
    }


_THEORY_CACHE: dict[str, dict] = {}


def _kaplan_yorke(hmm, seed: int, blackwell_points: int = 200_000) -> dict:
    """Kaplan-Yorke dimension of the Blackwell measure, with the Lyapunov exponents and ``h_mu``.

    One Blackwell sample (``blackwell_points`` beliefs in 100 chains) serves both the Lyapunov
    spectrum and the entropy rate. Cached per process within this Python process (all widths of the
    bottleneck share it).
    """
    from compmech.geometry import kaplan_yorke_dimension, lyapunov_spectrum
    from compmech.information import entropy_rate
    from compmech.msp import blackwell_sample

    key = json.dumps([hmm.to_dict(), seed, blackwell_points], default=str)
    if key in _THEORY_CACHE:
        return _THEORY_CACHE[key]
    out: dict[str, Any] = {}
    try:
        sample = blackwell_sample(hmm, blackwell_points, seed, num_chains=100)
        spectrum = lyapunov_spectrum(hmm, sample=sample)
        rate = entropy_rate(hmm, sample=sample)
        out["lyapunov_exponents"] = spectrum.exponents.tolist()
        out["kaplan_yorke"] = kaplan_yorke_dimension(spectrum.exponents, rate.nats)
        out["entropy_rate_bits"] = rate.bits
    except ValueError as err:  # e.g. a 1-state process
        out["kaplan_yorke"] = None
        out["kaplan_yorke_error"] = str(err)
    _THEORY_CACHE[key] = out
    return out


def _subsample_index(n: int, k: int, seed: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _checkpoints_to_analyse(steps: Sequence[int], k: int) -> list[int]:
    steps = sorted(steps)
    if len(steps) <= k:
        return steps
    pick = np.unique(np.round(np.linspace(0, len(steps) - 1, k)).astype(int))
    return [steps[i] for i in pick]


def run_job(job: Mapping[str, Any], out_dir, progress: bool = False) -> dict:
    """Train one model and analyse it; write ``results/<name>.json`` (and ``.npz`` figure data).

    The probe is :func:`compmech.analysis.analyze_run` on the last block's output (the paper's
    protocol, with the shuffle control and the untrained, one-hot and random-feature baselines; its
    ``probe.json`` stays in the run directory), then :func:`compmech.analysis.fractal_comparison` of
    the true and predicted belief clouds at its held-out figure points.

    Args:
        job: ``{"name": str, "train_config": TrainConfig.to_dict(), "labels": dict (copied into the
            result), "analyse_1d": bool, "max_checkpoints": int, "seed": int}``.
        out_dir: the experiment folder.
        progress: show the training progress bar.

    Returns:
        The result dict (also written as JSON): ``labels``, ``train`` (steps, tokens, wall time),
        ``loss`` (per-position gap to the optimum), ``probe`` (held-out MSE of the trained network,
        ``shuffle_mse``, ``untrained_mse``, ``onehot_mse``, ``random_mse``), ``dimensions``
        (``theory``: point cloud and Kaplan-Yorke; ``learned``: the probe's predictions), and for
        width-1 jobs ``structure_1d`` (per checkpoint) and
        ``msp_structure_1d``.
    """
    from compmech.analysis import POINTS_FILE, analyze_run, last_hook
    from transformer.config import TrainConfig

    if job.get("linear_bottleneck"):
        return _run_linear_bottleneck_job(job, out_dir, progress)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    name = job["name"]
    seed = int(job.get("seed", 0))
    config = TrainConfig.from_dict(job["train_config"])
    run_dir = out_dir / RUNS_DIR / name
    run = _train_or_resume(config, run_dir, progress)
    t_train = time.perf_counter() - t0
    hmm, cfg = run.hmm, run.model_config
    hook = last_hook(cfg)
    report = analyze_run(run_dir, checkpoints="last", hooks=[hook], seed=seed, force=True,
                         progress=False, fractal=False)
    with np.load(run_dir / POINTS_FILE) as points:
        arrays = {"true": points["true"], "predicted": points[f"pred/{hook}"]}
    fractal, fractal_error = _fractal_or_error(arrays["true"], arrays["predicted"], seed)
    final_step = report["step"]
    probe = dict(report["hooks"][hook])
    for key, value in probe.pop("baselines", {}).items():
        probe[f"{key}_mse"] = value
    probe.pop("baselines_r2", None)
    result: dict[str, Any] = {
        "name": name,
        "labels": dict(job.get("labels", {})),
        "process": hmm.name,
        "process_params": dict(run.config.process_params),
        "model": cfg.to_dict(),
        "train": {"steps": final_step, "tokens_seen": run.tokens_seen(final_step),
                  "batch_size": run.config.batch_size, "minutes_budget": run.config.minutes,
                  "wall_seconds": _last_wall_time(run)},
        "loss": _loss_record(run),
        "probe": {"hook": hook, "protocol": report["protocol"]["inputs"], **probe},
        "dimensions": {
            "theory": {"point_cloud": fractal.get("dimensions_true"), **_kaplan_yorke(hmm, seed)},
            "learned": fractal.get("dimensions_predicted"),
            "pairwise_distance_correlation": fractal.get("pairwise_distance_correlation"),
            "num_distinct_points": fractal.get("num_distinct_points"),
            "error": fractal_error,
        },
    }

    if job.get("analyse_1d") and cfg.d_model == 1:
        result["structure_1d"], result["msp_structure_1d"], extra = _analyse_1d(
            run, hook, seed, int(job.get("max_checkpoints", 8)))
        arrays.update(extra)
    result["analysis_seconds"] = time.perf_counter() - t0 - t_train
    result["seconds"] = time.perf_counter() - t0
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / RESULTS_DIR / f"{name}.npz", **arrays)  # before the JSON marker
    _atomic_write_text(result_path(out_dir, name), json.dumps(_jsonable(result), indent=1) + "\n")
    return result


def _fractal_or_error(true: np.ndarray, predicted: np.ndarray, seed: int) -> tuple[dict, str | None]:
    """:func:`compmech.analysis.fractal_comparison` of held-out points, or ``({}, message)`` when
    the cloud is too small for the estimators (a finite MSP with few beliefs)."""
    from compmech.analysis import fractal_comparison

    try:
        return fractal_comparison(np.asarray(true, np.float64), np.asarray(predicted, np.float64),
                                  seed=seed), None
    except ValueError as err:
        return {}, str(err)


def _last_wall_time(run) -> float | None:
    walls = [m["wall_time"] for m in run.metrics if "wall_time" in m]
    return float(walls[-1]) if walls else None


def _analyse_1d(run, hook: str, seed: int, max_checkpoints: int):
    """The single residual coordinate at each (selected) checkpoint vs the MSP's best 1-D projection,
    over every probe input and position (:func:`compmech.analysis.probe_data`)."""
    from compmech.analysis import collect, probe_data

    data = probe_data(run, seed=seed)
    true = data.beliefs.reshape(-1, data.beliefs.shape[-1])

    def coordinate(step: int) -> np.ndarray:
        return collect(run, run.load_params(step), data, [hook])[hook].reshape(-1)

    steps = _checkpoints_to_analyse(run.checkpoint_steps, max_checkpoints)
    return _structure_over_training(steps, coordinate, run.tokens_seen, true)


def _structure_over_training(steps, coordinate: Callable[[int], np.ndarray],
                             tokens_seen: Callable[[int], int], true: np.ndarray):
    """:func:`structure_1d` of ``coordinate(step)`` at each step; the MSP's best 1-D projections
    (regression on the last step's coordinate, and the first principal axis)."""
    per_step = []
    final = first = None
    for step in steps:
        final = np.asarray(coordinate(step), dtype=np.float64)
        first = final if first is None else first
        per_step.append({"step": int(step), "tokens_seen": int(tokens_seen(step)),
                         "max_abs_change_from_first": float(np.abs(final - first).max()),
                         **structure_1d(final, beliefs=true).as_dict()})
    fit = best_linear_direction(true, target=final)
    pca_dir = best_linear_direction(true)
    msp = {
        "regression_direction": fit.direction.tolist(), "regression_r2": fit.r2,
        "regression": structure_1d(fit.coordinates, beliefs=true).as_dict(),
        "pca_direction": pca_dir.direction.tolist(), "pca_variance_ratio": pca_dir.r2,
        "pca": structure_1d(pca_dir.coordinates, beliefs=true).as_dict(),
    }
    arrays = {"coordinate": final.astype(np.float32), "msp_projection": fit.coordinates,
              "coordinate_beliefs": true.astype(np.float32)}
    return per_step, msp, arrays


def _run_job_quiet(job, out_dir):
    """Worker entry point (module level so that spawned processes can import it).

    Several workers may share one GPU, so none pre-allocates most of its memory (set before the
    first JAX computation of the process)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return run_job(job, out_dir, progress=False)


def run_jobs(jobs: Sequence[Mapping[str, Any]], out_dir, *, workers: int = 1,
             on_result: Callable[[dict], None] | None = None,
             on_failure: Callable[[str, str], None] | None = None, progress: bool = False) -> dict:
    """Run jobs not yet finished (no ``results/<name>.json``), serially or in worker processes.

    Args:
        jobs: job dicts (see :func:`run_job`); names must be unique.
        out_dir: the experiment folder.
        workers: ``<= 1`` runs in this process; more uses a ``ProcessPoolExecutor`` (``spawn``) of
            that many processes, each training on its own (CPU threads are shared).
        on_result: called with each result as it arrives (finished ones first, in job order).
        on_failure: called with ``(name, message)`` when a job raises a ``ValueError`` or
            ``RuntimeError`` (e.g. a diverged training run); the other jobs go on, and the failed one
            has no result file, so the next invocation retries it.
        progress: training progress bars (serial mode only).

    Returns:
        ``{"results": {name: result}, "computed": [names run now], "skipped": [names reused],
        "failed": {name: message}}``.
    """
    names = [j["name"] for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique")
    out_dir = Path(out_dir)
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    skipped, todo = [], []
    for job in jobs:
        path = result_path(out_dir, job["name"])
        if path.exists():
            results[job["name"]] = json.loads(path.read_text())
            skipped.append(job["name"])
            if on_result:
                on_result(results[job["name"]])
        else:
            todo.append(job)
    computed: list[str] = []
    failed: dict[str, str] = {}

    def failure(name: str, err: BaseException) -> None:
        failed[name] = f"{type(err).__name__}: {err}"
        if on_failure:
            on_failure(name, failed[name])

    if int(workers) <= 1:
        for job in todo:
            try:
                results[job["name"]] = run_job(job, out_dir, progress=progress)
            except (ValueError, RuntimeError, FloatingPointError) as err:
                failure(job["name"], err)
                continue
            computed.append(job["name"])
            if on_result:
                on_result(results[job["name"]])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=int(workers), mp_context=ctx) as pool:
            futures = {pool.submit(_run_job_quiet, dict(job), str(out_dir)): job["name"]
                       for job in todo}
            for fut in as_completed(futures):
                name = futures[fut]
                try:
                    results[name] = fut.result()
                except (ValueError, RuntimeError, FloatingPointError) as err:
                    failure(name, err)
                    continue
                computed.append(name)
                if on_result:
                    on_result(results[name])
    return {"results": {n: results[n] for n in names if n in results}, "computed": computed,
            "skipped": skipped, "failed": failed}


#: TrainConfig fields shared by every job of an experiment that change its results.
RECIPE_FIELDS = ("batch_size", "lr", "optimizer", "warmup_steps", "final_lr_fraction", "weight_decay",
                 "b1", "b2", "momentum", "grad_clip", "bos")


def _recipe(train_config: Mapping) -> dict:
    """The optimiser settings of a job's config dict (part of the experiment's manifest, so that a
    folder trained with another recipe is not silently resumed)."""
    return {k: train_config[k] for k in RECIPE_FIELDS if k in train_config}


def _check_manifest(out_dir: Path, settings: dict, force: bool) -> None:
    """Refuse to mix two different experiments in one folder (unless ``force``)."""
    path = out_dir / MANIFEST
    settings = _jsonable(settings)
    if path.exists() and not force:
        saved = json.loads(path.read_text())
        if saved != settings:
            diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise ValueError(f"{out_dir} holds an experiment with different settings ({', '.join(diff)}); "
                             "use another folder, or force=True to rewrite its report")
    _atomic_write_text(path, json.dumps(settings, indent=1) + "\n")


def _base_config(base_config, overrides: Mapping[str, Any]):
    from transformer.config import TrainConfig

    base = TrainConfig() if base_config is None else base_config
    if isinstance(base, Mapping):
        base = TrainConfig.from_dict(base)
    return base.replace(**overrides) if overrides else base


# ===================================================================== linear-bottleneck variant
def _linear_bottleneck_module(model_config, width: int):
    """The paper's model with a width-``width`` linear bottleneck after its last block.

    ``z = resid_post_last W_down + b_down`` (``width`` numbers per position), then
    ``logits = LN(z W_up + b_up) W_out + b_out``: everything the network predicts passes through
    ``z``. The base model is :class:`transformer.model.Transformer` itself (its own final LayerNorm
    and unembedding are left unused). For ``width = 1`` the readout ``LN(z W_up + b_up)`` traces an
    arc (a half circle in the plane of ``W_up`` and ``b_up``, centred), so the predictions the network
    can make form a 1-D curve of next-token distributions parametrised by ``z``.
    """
    import flax.linen as nn

    from transformer.model import LayerNorm, Transformer

    last = f"blocks.{model_config.n_layers - 1}.hook_resid_post"

    class LinearBottleneckTransformer(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            _, cache = Transformer(model_config, name="base")(tokens)
            resid = cache[last]
            z = nn.Dense(width, name="down")(resid)
            # A random b_up makes LN(z W_up + b_up) a smooth arc in z; with b_up = 0 it would be
            # sign(z) (LayerNorm of a rank-1 input) and z would get no gradient.
            up = LayerNorm(model_config.d_model, name="ln_out")(
                nn.Dense(model_config.d_model, name="up",
                         bias_init=nn.initializers.normal(1.0))(z))
            logits = nn.Dense(model_config.d_vocab, name="unembed")(up)
            return logits, z, resid

    return LinearBottleneckTransformer()


class _LinearRun(NamedTuple):
    """What the analysis needs from a linear-bottleneck run (duck-types the bits of ``Run`` used)."""

    run_dir: Path
    config: Any
    width: int
    module: Any
    checkpoint_steps: list
    metrics: list

    def tokens_seen(self, step: int) -> int:
        return int(step) * self.config.tokens_per_step

    def load_params(self, step: int):
        """Parameters at ``step``: a nested dict of arrays (no template needed for plain dicts)."""
        from flax import serialization

        data = (self.run_dir / "checkpoints" / f"params_{int(step):08d}.msgpack").read_bytes()
        return serialization.msgpack_restore(data)


def train_linear_bottleneck(config, width: int, run_dir, *, progress: bool = False) -> _LinearRun:
    """Train the paper's model with a width-``width`` linear bottleneck after its last block, on
    ``config.device``; see :func:`_train_linear_bottleneck`."""
    import jax

    from transformer.training import select_devices

    with jax.default_device(select_devices(config.device)[0]):
        return _train_linear_bottleneck(config, width, run_dir, progress=progress)


def _train_linear_bottleneck(config, width: int, run_dir, *, progress: bool = False) -> _LinearRun:
    """Train the paper's model with a width-``width`` linear bottleneck after its last block.

    The optimiser, learning-rate schedule, data sampler, checkpoint schedule and exact evaluation
    set are the transformer package's (:func:`transformer.training.make_optimizer`,
    :func:`~transformer.training.learning_rate`, :func:`transformer.data.sample_batch`,
    :func:`~transformer.training.checkpoint_schedule`, :func:`transformer.data.build_eval_set`);
    only the loop is ours, since :func:`transformer.train` trains its own architecture. A finished run
    (``done.json``) is reused; an unfinished one is restarted (no mid-run resume for this variant).

    Writes ``config.json`` (the TrainConfig plus ``bottleneck_width``), ``metrics.jsonl`` (step 0 and
    final evaluations, same keys as :func:`transformer.train`), ``checkpoints/params_*.msgpack``.
    """
    import jax
    import jax.numpy as jnp
    from flax import serialization

    from compmech.information import optimal_cross_entropy_nats
    from transformer.activations import batched_map
    from transformer.data import build_eval_set, sample_batch
    from transformer.training import checkpoint_schedule, learning_rate, make_optimizer

    run_dir = Path(run_dir)
    module = _linear_bottleneck_module(config.model, int(width))
    header = {"train_config": config.to_dict(), "bottleneck_width": int(width)}
    if (run_dir / "done.json").exists():
        saved = json.loads((run_dir / "config.json").read_text())
        mine = dict(header["train_config"])
        theirs = dict(saved["train_config"])
        if config.minutes is not None:
            mine.pop("steps"), theirs.pop("steps")
        if mine != theirs or saved["bottleneck_width"] != int(width):
            raise ValueError(f"{run_dir} holds a run with a different configuration; remove it or "
                             "use another output folder")
        return _load_linear_run(run_dir, module)
    if config.bos:
        raise ValueError("the linear-bottleneck variant trains without BOS")
    if config.dataset is not None:
        raise ValueError("the linear-bottleneck variant samples fresh data (dataset must be None)")
    hmm = config.build_hmm()
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    n_ctx, V, B, k = config.model.n_ctx, hmm.vocab_size, config.batch_size, config.steps_per_call
    key = jax.random.key(config.seed)
    params = module.init(jax.random.fold_in(key, 0), jnp.zeros((1, n_ctx), jnp.int32))["params"]
    tx = make_optimizer(config)
    opt_state = tx.init(params)
    T32 = jnp.asarray(hmm.transition_matrices, jnp.float32)
    init32 = jnp.asarray(hmm.initial_distribution, jnp.float32)
    data_key = jax.random.fold_in(key, 1)

    def loss_fn(p, inputs, targets):
        logp = jax.nn.log_softmax(module.apply({"params": p}, inputs)[0], axis=-1)
        return -jnp.take_along_axis(logp, targets[..., None], axis=-1).mean()

    def chunk(p, o, step0, total):
        def body(carry, i):
            p, o = carry
            step = step0 + i
            inputs, targets = sample_batch(T32, init32, jax.random.fold_in(data_key, step), B,
                                           config.seq_len, None)
            loss, grads = jax.value_and_grad(loss_fn)(p, inputs, targets)
            updates, o = tx.update(grads, o, p)
            lr = learning_rate(config, step, total)
            return (jax.tree_util.tree_map(lambda a, u: a - lr * u, p, updates), o), loss

        (p, o), losses = jax.lax.scan(body, (p, o), jnp.arange(k))
        return p, o, losses

    chunk = jax.jit(chunk, donate_argnums=(0, 1))
    eval_set = build_eval_set(hmm, n_ctx, False, config.eval_max_words, config.eval_samples,
                              seed=config.seed + 1)
    optimum = (optimal_cross_entropy_nats(hmm, n_ctx) if eval_set.exact
               else eval_set.optimal_loss_nats())

    @jax.jit
    def ce(p, inputs, probs):
        logq = jax.nn.log_softmax(module.apply({"params": p}, inputs)[0], axis=-1)[..., :V]
        return -(probs * logq).sum(-1)

    probs32 = eval_set.true_probs.astype(np.float32)
    t_start = time.perf_counter()

    def evaluate(p, step: int, train_loss) -> None:
        losses = eval_set.weights @ batched_map(lambda t, q: ce(p, t, q), eval_set.inputs, 8192,
                                                probs32).astype(np.float64)
        record = {"step": step, "tokens_seen": step * config.tokens_per_step,
                  "wall_time": time.perf_counter() - t_start, "train_loss": train_loss,
                  "eval_loss": losses.tolist(), "optimal_loss": optimum.tolist(),
                  "eval_loss_mean": float(losses.mean()), "optimal_loss_mean": float(optimum.mean()),
                  "loss_gap": float(losses.mean() - optimum.mean()),
                  "relative_loss": float(losses.mean() / optimum.mean())}
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save(p, step: int) -> None:
        path = run_dir / "checkpoints" / f"params_{step:08d}.msgpack"
        path.write_bytes(serialization.to_bytes(jax.device_get(p)))

    total = max(k, (int(config.steps) // k) * k)
    budget = None if config.minutes is None else 60.0 * config.minutes
    _atomic_write_text(run_dir / "config.json", json.dumps(header, indent=1) + "\n")
    evaluate(params, 0, None)
    save(params, 0)
    marks = {((s + k - 1) // k) * k for s in checkpoint_schedule(total, config.checkpoints_per_decade)}
    step, losses_seen, measured = 0, [], None
    while step < total:
        t0 = time.perf_counter()
        params, opt_state, losses = chunk(params, opt_state, jnp.int32(step), jnp.int32(total))
        losses = np.asarray(losses)
        if not np.isfinite(losses).all():
            raise ValueError(f"{run_dir}: the loss became NaN/inf near step {step}; lower the lr")
        step += k
        losses_seen.append(losses)
        if step == 2 * k and budget is not None:  # first chunk compiled; the second is the speed
            per_step = (time.perf_counter() - t0) / k
            left = budget * 0.97 - (time.perf_counter() - t_start) - 10.0  # 10 s for evaluations
            total = max(step, step + int(left / per_step) // k * k)
            marks = {((s + k - 1) // k) * k
                     for s in checkpoint_schedule(total, config.checkpoints_per_decade)}
            measured = per_step
        if step in marks or step >= total:
            save(params, step)
        if progress and step % (10 * k) == 0:
            print(f"  linear bottleneck width {width}: step {step}/{total} loss {losses.mean():.4f}")
    evaluate(params, step, float(np.concatenate(losses_seen[-20:]).mean()))
    config = config.replace(steps=step)
    header["train_config"] = config.to_dict()
    header["seconds_per_step"] = measured
    _atomic_write_text(run_dir / "config.json", json.dumps(header, indent=1) + "\n")
    _atomic_write_text(run_dir / "done.json", json.dumps({"steps": step}) + "\n")
    return _load_linear_run(run_dir, module)


def _load_linear_run(run_dir: Path, module) -> _LinearRun:
    from transformer.config import TrainConfig

    header = json.loads((run_dir / "config.json").read_text())
    config = TrainConfig.from_dict(header["train_config"])
    steps = sorted(int(f.stem.split("_")[1]) for f in (run_dir / "checkpoints").glob("params_*.msgpack"))
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
               if line.strip()]
    return _LinearRun(run_dir, config, int(header["bottleneck_width"]), module, steps, metrics)


def _run_linear_bottleneck_job(job: Mapping[str, Any], out_dir, progress: bool) -> dict:
    """Train and analyse the linear-bottleneck variant (probe of ``z``, and of the residual stream
    just before the bottleneck; 1-D structure of ``z`` over training when ``width == 1``)."""
    import jax

    from compmech.probe import (
        cross_validated_probe,
        onehot_features,
        predict_features,
        probe_inputs,
        sequence_folds,
    )
    from transformer.activations import batched_map
    from transformer.config import TrainConfig

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    name, seed, width = job["name"], int(job.get("seed", 0)), int(job["linear_bottleneck"])
    config = TrainConfig.from_dict(job["train_config"])
    run = train_linear_bottleneck(config, width, out_dir / RUNS_DIR / name, progress=progress)
    t_train = time.perf_counter() - t0
    hmm = config.build_hmm()
    inputs = probe_inputs(hmm, config.model.n_ctx, seed=seed)
    folds = sequence_folds(inputs.tokens.shape[0], seed=seed)
    fn = jax.jit(lambda p, t: run.module.apply({"params": p}, t)[1:])

    def features(step: int):
        params = run.load_params(step)
        return batched_map(lambda t: fn(params, t), inputs.tokens.astype(np.int32), 2048)

    last = run.checkpoint_steps[-1]
    z, resid = features(last)
    z0, _ = features(0)
    probe = lambda f, **kw: cross_validated_probe(f, inputs.beliefs, folds,  # noqa: E731
                                                  weights=inputs.weights, spread=False, **kw)
    trained = probe(z, shuffle_seed=seed)
    upstream = probe(resid, shuffle=False)
    untrained = probe(z0, shuffle=False)
    onehot = probe(onehot_features(inputs.tokens, hmm.vocab_size), shuffle=False)
    S = hmm.num_states
    true = inputs.beliefs.reshape(-1, S)
    predicted = predict_features(trained.probe, z).reshape(-1, S)
    fractal, fractal_error = _fractal_or_error(true, predicted, seed)
    result: dict[str, Any] = {
        "name": name,
        "labels": dict(job.get("labels", {})),
        "process": hmm.name,
        "process_params": dict(config.process_params),
        "model": {**config.model.to_dict(), "bottleneck_width": width},
        "train": {"steps": last, "tokens_seen": run.tokens_seen(last),
                  "batch_size": config.batch_size, "minutes_budget": config.minutes,
                  "wall_seconds": _last_wall_time(run)},
        "loss": _loss_record(run),
        "probe": {"hook": "bottleneck z", "protocol": inputs.protocol, **trained.summary(),
                  "shuffle_mse": trained.shuffle_scores["mse"],
                  "untrained_mse": untrained.scores["mse"], "onehot_mse": onehot.scores["mse"],
                  "before_bottleneck_mse": upstream.scores["mse"]},
        "dimensions": {
            "theory": {"point_cloud": fractal.get("dimensions_true"), **_kaplan_yorke(hmm, seed)},
            "learned": fractal.get("dimensions_predicted"),
            "pairwise_distance_correlation": fractal.get("pairwise_distance_correlation"),
            "num_distinct_points": fractal.get("num_distinct_points"),
            "error": fractal_error,
        },
    }
    pick = _subsample_index(true.shape[0], FIGURE_POINTS, seed)
    arrays = {"true": true[pick].astype(np.float32), "predicted": predicted[pick].astype(np.float32)}
    if width == 1:
        steps = _checkpoints_to_analyse(run.checkpoint_steps, int(job.get("max_checkpoints", 8)))
        result["structure_1d"], result["msp_structure_1d"], extra = _structure_over_training(
            steps, lambda s: features(s)[0].reshape(-1), run.tokens_seen, true)
        arrays.update(extra)
    result["analysis_seconds"] = time.perf_counter() - t0 - t_train
    result["seconds"] = time.perf_counter() - t0
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / RESULTS_DIR / f"{name}.npz", **arrays)
    _atomic_write_text(result_path(out_dir, name), json.dumps(_jsonable(result), indent=1) + "\n")
    return result


# ===================================================================== bottleneck
def bottleneck_jobs(widths: Sequence[int] = DEFAULT_WIDTHS, *, minutes_per_width: float | None = 2.0,
                    steps: int | None = None, process: str = "mess3",
                    process_params: Mapping[str, Any] | None = None, base_config=None,
                    seed: int = 0, max_checkpoints: int = 8,
                    linear_widths: Sequence[int] = (1,), device: str | None = None) -> list[dict]:
    """The bottleneck experiment's jobs.

    * ``"residual"`` variant, one job per width in ``widths``: ``ModelConfig(d_model=width)``, the
      rest of the model (heads, ``d_head``, ``d_mlp``, layers) and the training as ``base_config``.
    * ``"linear"`` variant, one job per width in ``linear_widths``: the ``base_config`` model
      (d_model 64 by default) with a linear bottleneck of that width after its last block
      (:func:`train_linear_bottleneck`).

    Args:
        widths: residual-stream widths (positive integers, distinct).
        minutes_per_width: wall-clock training budget per job (``TrainConfig.minutes``); ``None``
            trains for exactly ``steps``.
        steps: optimiser steps (required when ``minutes_per_width`` is ``None``; with a budget it
            only bounds the warm-up measurement).
        process, process_params: the process (default: the paper's Mess3).
        base_config: a :class:`transformer.TrainConfig` (or its dict) whose model and optimiser
            settings are used (default ``TrainConfig()``).
        seed: seed of initialisation, data, probe split and subsamples.
        max_checkpoints: checkpoints analysed for a width-1 coordinate over training.
        linear_widths: bottleneck widths of the linear variant (``()`` for none).
        device: ``"cpu"``, ``"gpu"`` or ``"auto"`` for training (default: ``base_config``'s).
    """
    widths = [int(w) for w in widths]
    linear_widths = [int(w) for w in linear_widths]
    for what, ws, allow_empty in (("widths", widths, False), ("linear_widths", linear_widths, True)):
        if (not ws and not allow_empty) or len(set(ws)) != len(ws) or (ws and min(ws) < 1):
            raise ValueError(f"{what} must be distinct positive integers; got {ws}")
    from compmech.processes import get_process

    hmm = get_process(process, **dict(process_params or {}))
    overrides: dict[str, Any] = {"process": process, "process_params": dict(process_params or {}),
                                 "seed": int(seed), "minutes": minutes_per_width}
    if device is not None:
        overrides["device"] = device
    if steps is not None:
        overrides["steps"] = int(steps)
    elif minutes_per_width is None:
        raise ValueError("give minutes_per_width or steps")
    elif "steps" not in overrides:
        overrides["steps"] = 10_000_000  # the budget decides
    base = _base_config(base_config, overrides)
    vocab = hmm.vocab_size + (1 if base.bos else 0)
    jobs = []
    for w in widths:
        model = base.model.__class__(**{**base.model.to_dict(), "d_model": w, "d_vocab": vocab})
        cfg = base.replace(model=model)
        jobs.append({"name": f"width_{w:03d}", "train_config": cfg.to_dict(),
                     "labels": {"variant": "residual", "width": w}, "analyse_1d": w == 1,
                     "max_checkpoints": int(max_checkpoints), "seed": int(seed)})
    for w in linear_widths:
        model = base.model.__class__(**{**base.model.to_dict(), "d_vocab": vocab})
        cfg = base.replace(model=model, bos=False)
        jobs.append({"name": f"linear_{w:03d}", "train_config": cfg.to_dict(),
                     "labels": {"variant": "linear", "width": w}, "linear_bottleneck": w,
                     "max_checkpoints": int(max_checkpoints), "seed": int(seed)})
    return jobs


def run_bottleneck(out_dir, *, widths: Sequence[int] = DEFAULT_WIDTHS,
                   minutes_per_width: float | None = 2.0, steps: int | None = None,
                   process: str = "mess3", process_params: Mapping[str, Any] | None = None,
                   base_config=None, seed: int = 0, workers: int = 1, max_checkpoints: int = 8,
                   linear_widths: Sequence[int] = (1,), device: str | None = None,
                   force: bool = False, progress: bool = True,
                   log: Callable[[str], None] | None = print) -> dict:
    """The bottleneck experiment: train at each residual width (and the linear-bottleneck variant at
    each of ``linear_widths``), analyse, write the report folder.

    Resumable: a width whose ``results/width_WWW.json`` exists is not redone, an interrupted training
    run continues from its last state. The report (``summary.json``, ``README.md``, PNG figures) is
    rebuilt from all results at the end.

    Args:
        out_dir: the experiment folder (created).
        widths, minutes_per_width, steps, process, process_params, base_config, seed,
            max_checkpoints, linear_widths, device: see :func:`bottleneck_jobs`.
        workers: parallel worker processes (1 = in this process).
        force: rewrite a folder that holds an experiment with other settings (results of widths
            already finished are still reused; delete them to redo).
        progress: training progress bars (serial mode).
        log: where table lines go (``None`` = silent).

    Returns:
        The summary dict (also ``out_dir/summary.json``), with ``"files"`` listing what was written.

    Example:
        >>> run_bottleneck("reports/bn", widths=(1, 2, 3, 64), minutes_per_width=1.0)  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    jobs = bottleneck_jobs(widths, minutes_per_width=minutes_per_width, steps=steps, process=process,
                           process_params=process_params, base_config=base_config, seed=seed,
                           max_checkpoints=max_checkpoints, linear_widths=linear_widths,
                           device=device)
    manifest = {"experiment": "bottleneck", "process": process,
                "process_params": dict(process_params or {}), "seed": seed,
                "minutes_per_width": minutes_per_width, "steps": steps,
                "model": {k: v for k, v in jobs[0]["train_config"]["model"].items() if k != "d_model"},
                "recipe": _recipe(jobs[0]["train_config"])}
    done, ran, wall = _run_experiment(jobs, out_dir, manifest, BOTTLENECK_COLUMNS, workers=workers,
                                      progress=progress, log=log, force=force)
    from compmech.experiment_reports import write_bottleneck_report

    return write_bottleneck_report(out_dir, done, wall_seconds=wall, computed=ran["computed"],
                                   failed=ran["failed"], workers=workers)


def _run_experiment(jobs, out_dir: Path, manifest: Mapping, columns, *, workers: int, progress: bool,
                    log, force: bool):
    """Check the folder's settings, run the unfinished jobs, print the table as they finish.

    Returns:
        ``(finished results in job order, run_jobs' dict, wall seconds)``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_manifest(out_dir, manifest, force)
    t0 = time.perf_counter()
    printer = _TablePrinter(columns, log)
    ran = run_jobs(jobs, out_dir, workers=workers, on_result=printer, on_failure=printer.failure,
                   progress=progress)
    done = [ran["results"][j["name"]] for j in jobs if j["name"] in ran["results"]]
    if not done:
        raise ValueError(f"every job failed: {ran['failed']}")
    return done, ran, time.perf_counter() - t0


# ===================================================================== sweep
def sweep_jobs(xs: Sequence[float] = DEFAULT_X, alphas: Sequence[float] = DEFAULT_ALPHA,
               extras: Sequence[str] = DEFAULT_EXTRAS, *, minutes_per_point: float | None = 2.0,
               steps: int | None = None, base_config=None, seed: int = 0,
               device: str | None = None) -> list[dict]:
    """The sweep's jobs: Mess3 at every ``(x, alpha)`` and each extra catalogue process.

    Every point trains the same model shape (``base_config.model`` with ``d_vocab`` set to the
    process's vocabulary) for ``minutes_per_point`` (or exactly ``steps``), on ``device``
    (default: ``base_config``'s).
    """
    from compmech.processes import get_process

    overrides: dict[str, Any] = {"seed": int(seed), "minutes": minutes_per_point}
    if device is not None:
        overrides["device"] = device
    if steps is not None:
        overrides["steps"] = int(steps)
    elif minutes_per_point is None:
        raise ValueError("give minutes_per_point or steps")
    else:
        overrides["steps"] = 10_000_000  # the budget decides
    base = _base_config(base_config, overrides)
    points = [("mess3", {"x": float(x), "alpha": float(a)}, f"mess3_x{x:.3f}_a{a:.3f}")
              for x in xs for a in alphas]
    points += [(name, {}, name) for name in extras]
    jobs = []
    for process, params, name in points:
        hmm = get_process(process, **params)  # validates the parameters now
        vocab = hmm.vocab_size + (1 if base.bos else 0)
        model = base.model.__class__(**{**base.model.to_dict(), "d_vocab": vocab})
        cfg = base.replace(process=process, process_params=params, model=model, hmm=None)
        jobs.append({"name": name, "train_config": cfg.to_dict(),
                     "labels": {"process": process, **params}, "seed": int(seed)})
    return jobs


def run_sweep(out_dir, *, xs: Sequence[float] = DEFAULT_X, alphas: Sequence[float] = DEFAULT_ALPHA,
              extras: Sequence[str] = DEFAULT_EXTRAS, minutes_per_point: float | None = 2.0,
              steps: int | None = None, base_config=None, seed: int = 0, workers: int = 1,
              device: str | None = None, force: bool = False, progress: bool = False,
              log: Callable[[str], None] | None = print) -> dict:
    """The process sweep: one trained model per Mess3 ``(x, alpha)`` point and per extra process.

    Prints one table line per point as it finishes (finished points of an earlier, interrupted
    invocation first), then writes heat maps, ``summary.json`` and ``README.md``.

    Args:
        out_dir: the experiment folder.
        xs, alphas: the Mess3 grid (rows ``x``, columns ``alpha``).
        extras: other catalogue processes (default parameters) for the summary table.
        minutes_per_point: training budget per point; ``None`` trains exactly ``steps``.
        steps: optimiser steps (see :func:`bottleneck_jobs`).
        base_config: model/optimiser settings (:class:`transformer.TrainConfig`).
        seed: seed of every point.
        workers: parallel worker processes.
        device: training device, ``"cpu"``, ``"gpu"`` or ``"auto"`` (default: ``base_config``'s).
        force: see :func:`run_bottleneck`.
        progress: training progress bars (serial mode).
        log: where table lines go.

    Returns:
        The summary dict (also ``summary.json``).
    """
    out_dir = Path(out_dir)
    jobs = sweep_jobs(xs, alphas, extras, minutes_per_point=minutes_per_point, steps=steps,
                      base_config=base_config, seed=seed, device=device)
    manifest = {"experiment": "sweep", "xs": list(xs), "alphas": list(alphas), "extras": list(extras),
                "seed": seed, "minutes_per_point": minutes_per_point, "steps": steps,
                "model": jobs[0]["train_config"]["model"], "recipe": _recipe(jobs[0]["train_config"])}
    done, ran, wall = _run_experiment(jobs, out_dir, manifest, SWEEP_COLUMNS, workers=workers,
                                      progress=progress, log=log, force=force)
    from compmech.experiment_reports import write_sweep_report

    return write_sweep_report(out_dir, done, xs=list(xs), alphas=list(alphas), wall_seconds=wall,
                              computed=ran["computed"], failed=ran["failed"], workers=workers)


# ===================================================================== table lines
def run_from_script(run: Callable[[], Mapping], out_dir, *, gallery=None, prefix: str,
                    force: bool = False) -> int:
    """Shared tail of the experiment scripts: run, optionally export a gallery, report.

    Args:
        run: builds the experiment (e.g. a ``functools.partial`` of :func:`run_sweep`) and returns
            its summary.
        out_dir: the experiment folder, for the message.
        gallery: folder to copy the figures and README into, or ``None``.
        prefix: gallery file-name prefix (``"bottleneck"``, ``"sweep"``).
        force: passed to the gallery export.

    Returns:
        The exit code: 0, or 2 after a one-line error on stderr.
    """
    import sys

    try:
        summary = run()
        if gallery:
            from compmech.experiment_reports import export_gallery

            export_gallery(out_dir, gallery, prefix=prefix, force=force)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if summary.get("failed"):
        print(f"{len(summary['failed'])} job(s) failed; rerun the same command to retry them",
              file=sys.stderr)
    print(f"report: {out_dir}/README.md ({', '.join(summary['files'])})")
    return 0


def _get(result: Mapping, path: str):
    cur: Any = result
    for key in path.split("."):
        if not isinstance(cur, Mapping) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


#: (header, path in the result dict, format) of the printed/markdown tables.
BOTTLENECK_COLUMNS = (
    ("variant", "labels.variant", "s"),
    ("width", "labels.width", "d"),
    ("steps", "train.steps", "d"),
    ("loss gap (nats)", "loss.loss_gap", ".4f"),
    ("probe MSE", "probe.mse_test", ".2e"),
    ("untrained MSE", "probe.untrained_mse", ".2e"),
    ("one-hot MSE", "probe.onehot_mse", ".2e"),
    ("shuffle MSE", "probe.shuffle_mse", ".2e"),
    ("learned box dim", "dimensions.learned.box_counting.dimension", ".2f"),
    ("learned corr dim", "dimensions.learned.correlation.dimension", ".2f"),
    ("theory box dim", "dimensions.theory.point_cloud.box_counting.dimension", ".2f"),
    ("theory corr dim", "dimensions.theory.point_cloud.correlation.dimension", ".2f"),
    ("minutes", "seconds", ".1f"),
)
SWEEP_COLUMNS = (
    ("point", "name", "s"),
    ("steps", "train.steps", "d"),
    ("loss gap (nats)", "loss.loss_gap", ".4f"),
    ("probe MSE", "probe.mse_test", ".2e"),
    ("untrained MSE", "probe.untrained_mse", ".2e"),
    ("one-hot MSE", "probe.onehot_mse", ".2e"),
    ("shuffle MSE", "probe.shuffle_mse", ".2e"),
    ("theory box dim", "dimensions.theory.point_cloud.box_counting.dimension", ".2f"),
    ("learned box dim", "dimensions.learned.box_counting.dimension", ".2f"),
    ("theory KY dim", "dimensions.theory.kaplan_yorke", ".2f"),
    ("distance corr", "dimensions.pairwise_distance_correlation", ".3f"),
    ("minutes", "seconds", ".1f"),
)


def table_row(result: Mapping, columns) -> list[str]:
    """The cells of one result in a table with ``columns`` ((header, path, format) triples)."""
    cells = []
    for _, path, spec in columns:
        value = _get(result, path)
        if path == "seconds" and value is not None:
            value = value / 60.0
        cells.append(_fmt(value, spec))
    return cells


class _TablePrinter:
    """Prints a header, then one aligned line per result."""

    def __init__(self, columns, log):
        self.columns, self.log, self.started = columns, log, False
        self.widths = [max(len(h), 10) for h, _, _ in columns]

    def line(self, cells) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))

    def __call__(self, result: dict) -> None:
        if self.log is None:
            return
        if not self.started:
            self.log(self.line([h for h, _, _ in self.columns]))
            self.started = True
        self.log(self.line(table_row(result, self.columns)))

    def failure(self, name: str, message: str) -> None:
        if self.log is not None:
            self.log(f"FAILED {name}: {message} (no result written; rerun to retry)")


__all__ = [
    "run_from_script",
    "BOTTLENECK_COLUMNS",
    "DEFAULT_ALPHA",
    "DEFAULT_EXTRAS",
    "DEFAULT_RESOLUTIONS",
    "DEFAULT_WIDTHS",
    "DEFAULT_X",
    "LinearDirection",
    "SWEEP_COLUMNS",
    "Structure1D",
    "best_linear_direction",
    "bottleneck_jobs",
    "cluster_counts_1d",
    "cluster_dimension_1d",
    "label_runs_1d",
    "result_path",
    "run_bottleneck",
    "run_job",
    "run_jobs",
    "run_sweep",
    "structure_1d",
    "sweep_jobs",
    "table_row",
]
