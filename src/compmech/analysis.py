"""Probe a training run (every hook, controls, baselines, every checkpoint), draw it, reproduce the paper.

The data flow is ``transformer.train`` -> :func:`analyze_run` (writes ``RUN_DIR/probe.json`` and the
predictions the figures need, ``RUN_DIR/probe_points.npz``) -> :func:`make_figures` (writes
``RUN_DIR/figures/``) -> :func:`reproduce` (all three, with the published settings, and a summary
table). Flax, scikit-learn and matplotlib are imported inside the functions that need them.

Protocol (``shared/SCIENCE.md``): every word of length ``n_ctx`` with nonzero probability (all 3^10
for Mess3) when ``V**n_ctx * n_ctx <= 10^6`` points, unweighted, each position labelled with the belief
after the tokens up to it; otherwise sampled words whose distinct prefixes are weighted once by their
probability. Sequences are split into 5 folds at random (seeded); the reported probe is trained on
fold 0 (20%) and tested on the other four (80%); the spread is the same with each fold as training
fold. Beside every fit: the shuffle control, the untrained network (the run's step-0 checkpoint), a
(last token x position) one-hot and i.i.d. random features of the same width.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compmech.probe import (
    DEFAULT_FOLDS,
    MAX_ENUMERATED_POINTS,
    ProbeResult,
    affine_subspace_projection,
    concatenated,
    cross_validated_probe,
    onehot_features,
    predict_features,
    probe_inputs,
    random_features,
    sequence_folds,
)

#: Sequences per compiled forward call: small batches stay in cache (measured on 2 shared cores,
#: 59,049 x 10 tokens: 128 -> 2.8 s, 256 -> 3.0 s, 512 -> 3.9 s, 1024 -> 5.7 s, 8192 -> 9-17 s).
FORWARD_BATCH = 256
#: Pseudo-hook: the concatenation of every residual-stream hook (embedding, each block's output).
CONCAT = "concat"
#: Files written into a run directory.
PROBE_FILE = "probe.json"
POINTS_FILE = "probe_points.npz"
FIGURES_DIR = "figures"
#: Held-out points kept (seeded subsample) for the figures.
FIGURE_POINTS = 30_000
#: The published numbers (Shai et al. 2024): held-out MSE of the last-layer probe over training.
PAPER = {
    "mess3": {"mse": 3.9e-4, "tokens": 629e6, "steps": 1_000_000, "wall": "~56 h",
              "curve": {640_000: 8.41e-3, 3_200_000: 2.48e-3, 629_000_000: 3.9e-4}},
}


# ---------------------------------------------------------------------------------------- hooks
def residual_hooks(model_config) -> list[str]:
    """The residual stream at the embedding and after each block."""
    return ["blocks.0.hook_resid_pre"] + [
        f"blocks.{layer}.hook_resid_post" for layer in range(model_config.n_layers)
    ]


def layer_hooks(model_config) -> list[str]:
    """The per-layer grid: embedding, each block's output, the final LayerNorm, the concatenation."""
    return residual_hooks(model_config) + ["ln_final.hook_normalized", CONCAT]


def last_hook(model_config) -> str:
    """The paper's probe site: the last block's output, before the final LayerNorm."""
    return f"blocks.{model_config.n_layers - 1}.hook_resid_post"


def hook_label(name: str) -> str:
    """A short human label for a hook."""
    if name == CONCAT:
        return "all layers (concatenated)"
    if name == "blocks.0.hook_resid_pre":
        return "embedding"
    if name == "ln_final.hook_normalized":
        return "final LayerNorm"
    if name.startswith("blocks.") and name.endswith("hook_resid_post"):
        return f"block {int(name.split('.')[1]) + 1} output"
    return name


def _check_hooks(hooks: Sequence[str], model_config) -> list[str]:
    from transformer import hook_names

    valid = hook_names(model_config) + [CONCAT]
    bad = [h for h in hooks if h not in valid]
    if bad:
        raise ValueError(f"unknown hooks {bad}; valid: {', '.join(valid)}")
    if not hooks:
        raise ValueError("give at least one hook")
    return list(dict.fromkeys(hooks))


def _model_hooks(hooks: Sequence[str], model_config) -> list[str]:
    """The model hooks needed to build ``hooks`` (the concatenation needs every residual hook)."""
    need: list[str] = []
    for h in hooks:
        need += residual_hooks(model_config) if h == CONCAT else [h]
    return list(dict.fromkeys(need))


def _features(acts: dict[str, np.ndarray], hook: str, model_config):
    if hook == CONCAT:
        return concatenated([acts[h] for h in residual_hooks(model_config)])
    return acts[hook]


# ----------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ProbeData:
    """The probe's inputs for one run, aligned with the model's input positions.

    Attributes:
        tokens: ``(N, n_ctx)`` model inputs (with the BOS token when the run uses one).
        beliefs: ``(N, n_ctx, S)``; position ``t`` holds the belief after the process tokens seen so
            far (the initial belief at a BOS position).
        weights: ``(N, n_ctx)`` point weights, or None (unweighted).
        folds: ``(N,)`` fold of each sequence.
        protocol: ``"enumerated"`` or ``"sampled"``.
        seed: the seed of the folds (and of the sample when sampled).
    """

    tokens: np.ndarray
    beliefs: np.ndarray
    weights: np.ndarray | None
    folds: np.ndarray
    protocol: str
    seed: int
    train_folds: int = 1

    @property
    def num_sequences(self) -> int:
        return int(self.tokens.shape[0])

    def describe(self) -> dict[str, Any]:
        n, P = self.tokens.shape
        return {
            "inputs": self.protocol,
            "weighting": "unweighted" if self.weights is None
            else "distinct prefixes weighted once by probability",
            "num_sequences": n,
            "positions": P,
            "num_points": n * P,
            "split": f"by sequence, {DEFAULT_FOLDS} folds: train on {self.train_folds} "
                     f"({100 * self.train_folds // DEFAULT_FOLDS}%), test on the rest",
            "train_fraction": self.train_folds / DEFAULT_FOLDS,
            "estimator": "ordinary least squares with intercept",
            "error": "mean squared error over test points and belief coordinates",
            "seed": self.seed,
        }


def probe_data(run, *, seed: int = 0, max_points: int = MAX_ENUMERATED_POINTS,
               num_sequences: int = 20_000) -> ProbeData:
    """Build the probe's data set for a run (see the module docstring for the protocol)."""
    hmm, mc = run.hmm, run.model_config
    bos = run.bos_token is not None
    n_words = mc.n_ctx - 1 if bos else mc.n_ctx
    if n_words < 1:
        raise ValueError("a BOS model needs n_ctx >= 2 to be probed")
    inputs = probe_inputs(hmm, n_words, max_points=max_points, num_sequences=num_sequences, seed=seed)
    tokens = run.model_inputs(inputs.tokens).astype(np.int32)
    beliefs, weights = inputs.beliefs, inputs.weights
    if bos:
        n = beliefs.shape[0]
        prior = np.broadcast_to(hmm.initial_distribution, (n, 1, hmm.num_states))
        beliefs = np.concatenate([prior, beliefs], axis=1)
        if weights is not None:
            first = np.zeros((n, 1))
            first[0] = 1.0  # the empty prefix, once
            weights = np.concatenate([first, weights], axis=1)
    folds = sequence_folds(tokens.shape[0], DEFAULT_FOLDS, seed=seed)
    return ProbeData(tokens, np.ascontiguousarray(beliefs), weights, folds, inputs.protocol, seed)


def collect(run, params, data: ProbeData, hooks: Sequence[str]) -> dict[str, np.ndarray]:
    """Activations ``{hook: (N, n_ctx, d_model) float32}`` of the probe's inputs, one forward pass."""
    from transformer import collect_activations

    return collect_activations(params, run.model_config, data.tokens,
                               hooks=_model_hooks(hooks, run.model_config),
                               batch_size=FORWARD_BATCH)


# ------------------------------------------------------------------------------------- probing
def _probe(features, data: ProbeData, *, spread: bool = False, shuffle: bool = False,
           seed: int = 0) -> ProbeResult:
    return cross_validated_probe(features, data.beliefs, data.folds, weights=data.weights,
                                 train_folds=data.train_folds, spread=spread, shuffle=shuffle,
                                 shuffle_seed=seed)


#: ``split="auto"`` keeps the paper's 20% / 80% split when the training side has at least this many
#: points per probe coefficient (widest probed features + 1); else it trains on 80%.
MIN_POINTS_PER_COEFFICIENT = 10
SPLITS = {"20/80": 1, "80/20": DEFAULT_FOLDS - 1}


def _train_folds(split: str, num_points: int, width: int) -> int:
    if split == "auto":
        small = num_points / DEFAULT_FOLDS < MIN_POINTS_PER_COEFFICIENT * (width + 1)
        return SPLITS["80/20"] if small else SPLITS["20/80"]
    if split not in SPLITS:
        raise ValueError(f"split must be 'auto', '20/80' or '80/20'; got {split!r}")
    return SPLITS[split]


def baseline_results(run, data: ProbeData, hooks: Sequence[str], *, seed: int = 0,
                     untrained_acts: dict[str, np.ndarray] | None = None) -> dict[str, dict]:
    """Held-out scores of the baselines beside each hook.

    ``untrained``: the same hook of the run's initialisation (step 0); ``onehot``: the (last token x
    position) one-hot; ``random``: i.i.d. normal features of the hook's width.

    Returns:
        ``{hook: {"untrained": ProbeResult, "onehot": ..., "random": ...}}``.
    """
    mc = run.model_config
    if untrained_acts is None:
        if 0 not in run.checkpoint_steps:
            raise ValueError(f"{run.run_dir} has no step-0 checkpoint: the untrained baseline needs it")
        untrained_acts = collect(run, run.load_params(0), data, hooks)
    onehot = _probe(onehot_features(data.tokens, mc.d_vocab), data)
    by_width: dict[int, ProbeResult] = {}
    out = {}
    for hook in hooks:
        width = mc.d_model * (len(residual_hooks(mc)) if hook == CONCAT else 1)
        if width not in by_width:
            by_width[width] = _probe(random_features(data.tokens.shape, width, seed=seed), data)
        out[hook] = {
            "untrained": _probe(_features(untrained_acts, hook, mc), data),
            "onehot": onehot,
            "random": by_width[width],
        }
    return out


def _pairwise_correlation(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial.distance import pdist

    da, db = pdist(a), pdist(b)
    if da.std() == 0 or db.std() == 0:
        return float("nan")
    return float(np.corrcoef(da, db)[0, 1])


#: Fewer distinct beliefs than this (RRXOR has 36) give no scaling range for dimension estimates.
MIN_FRACTAL_POINTS = 500


def fractal_comparison(true: np.ndarray, predicted: np.ndarray, projected: np.ndarray | None = None,
                       *, seed: int = 0, max_points: int = 10_000,
                       pair_points: int = 2_000) -> dict[str, Any]:
    """Compare the learned belief cloud with the true one.

    On the distinct true beliefs (and the same points' predictions): box-counting, information and
    correlation dimensions (:func:`compmech.geometry.fractal_dimensions`) of the true cloud, of the
    predicted cloud and of the residual stream projected onto the probe's affine subspace; and the
    Pearson correlation of all pairwise distances (true vs predicted) on a subsample.

    Args:
        true: ``(N, S)`` true beliefs.
        predicted: ``(N, S)`` the probe's predictions for the same points.
        projected: optional ``(N, S-1)`` residual-stream coordinates in the probe's subspace.
        seed: subsampling seed.
        max_points: at most this many distinct points enter the dimension estimates.
        pair_points: points whose pairwise distances are correlated.
    """
    from compmech.geometry import fractal_dimensions

    _, first = np.unique(np.round(true, 12), axis=0, return_index=True)
    rng = np.random.default_rng(seed)
    if first.size > max_points:
        first = rng.choice(first, size=max_points, replace=False)
    first = np.sort(first)
    out: dict[str, Any] = {"num_distinct_points": int(first.size)}
    clouds = {"true": true, "predicted": predicted}
    if projected is not None:
        clouds["residual_projection"] = projected
    if first.size >= MIN_FRACTAL_POINTS:
        for name, cloud in clouds.items():
            out[f"dimensions_{name}"] = fractal_dimensions(cloud[first], seed=seed).as_dict()
    else:
        out["dimensions_note"] = (f"only {first.size} distinct beliefs (a finite mixed-state "
                                  "presentation): no scaling range, dimensions not estimated")
    pairs = first if first.size <= pair_points else rng.choice(first, pair_points, replace=False)
    out["pairwise_distance_correlation"] = _pairwise_correlation(true[pairs], predicted[pairs])
    out["pairwise_points"] = int(pairs.size)
    return out


def _figure_points(data: ProbeData, seed: int) -> np.ndarray:
    """Flat indices (into ``N * P``) of held-out points kept for the figures."""
    P = data.tokens.shape[1]
    train = np.isin(data.folds, np.arange(data.train_folds))
    test = np.flatnonzero(np.repeat(~train, P))
    if data.weights is not None:
        test = test[data.weights.reshape(-1)[test] > 0]
    if test.size > FIGURE_POINTS:
        test = np.sort(np.random.default_rng(seed).choice(test, FIGURE_POINTS, replace=False))
    return test


def _predict_points(probe, features, flat_idx: np.ndarray, P: int) -> np.ndarray:
    seq, pos = np.divmod(flat_idx, P)
    uniq, inverse = np.unique(seq, return_inverse=True)
    pred = predict_features(probe, features, uniq)  # (n_unique, P, S)
    return pred[inverse, pos].astype(np.float32)


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


def _log(progress, message: str) -> None:
    if progress:
        (progress if callable(progress) else print)(message)


def _result_json(result: ProbeResult, baselines: dict[str, ProbeResult]) -> dict[str, Any]:
    out = result.summary()
    out["baselines"] = {k: v.scores["mse"] for k, v in baselines.items()}
    out["baselines_r2"] = {k: v.scores["r2"] for k, v in baselines.items()}
    return out


def analyze_run(run_dir, *, checkpoints: str | int = "all", hooks: Sequence[str] | None = None,
                headline: str | None = None, seed: int = 0, force: bool = False,
                split: str = "auto",
                max_points: int = MAX_ENUMERATED_POINTS, num_sequences: int = 20_000,
                fractal: bool = True, progress: bool | Callable = True) -> dict[str, Any]:
    """Probe a run: every hook with controls and baselines at the last checkpoint, the headline hook
    at every checkpoint; writes ``probe.json`` and ``probe_points.npz`` into the run directory.

    Args:
        run_dir: a run written by :func:`transformer.train`.
        checkpoints: ``"all"``, ``"last"`` (the initialisation and the last step) or an integer ``N``
            (``N`` log-spaced checkpoints) for the curve over training.
        hooks: hooks probed at the last checkpoint (names of :func:`transformer.hook_names` or
            ``"concat"``); default :func:`layer_hooks`.
        headline: the hook of the summary and the curve; default :func:`last_hook` (the paper's).
        seed: seed of the folds, the shuffle control, the random features and the subsamples.
        split: ``"20/80"`` (the paper's: train on 20% of sequences), ``"80/20"``, or ``"auto"``:
            20/80 unless the training side would have fewer than
            :data:`MIN_POINTS_PER_COEFFICIENT` points per coefficient of the widest probe (tiny
            enumerations such as RRXOR's 436 or Z1R's words), then 80/20. Recorded in the report.
        force: overwrite an existing ``probe.json``.
        max_points: enumerate all words up to this many points (see :func:`probe_inputs`).
        num_sequences: sampled sequences otherwise.
        fractal: run the fractal comparison for the headline hook.
        progress: print progress lines (or a callable taking them).

    Returns:
        The ``probe.json`` content.

    Raises:
        FileExistsError: ``probe.json`` exists and ``force`` is False.
    """
    from transformer import load_run

    t0 = time.perf_counter()
    run = load_run(run_dir)
    run_dir = Path(run_dir)
    out_path = run_dir / PROBE_FILE
    if out_path.exists() and not force:
        raise FileExistsError(f"{out_path} already exists; pass --force to overwrite it")
    mc = run.model_config
    headline = headline or last_hook(mc)
    hooks = _check_hooks(list(hooks) if hooks else layer_hooks(mc), mc)
    if headline not in hooks:
        hooks = [headline] + hooks
    _check_hooks([headline], mc)
    steps = run.checkpoint_steps
    if not steps or steps[0] != 0:
        raise ValueError(f"{run_dir} needs checkpoints including step 0 (the untrained baseline); "
                         f"found {steps[:3]}")
    curve_steps = _select_steps(steps, checkpoints)
    last = steps[-1]

    data = probe_data(run, seed=seed, max_points=max_points, num_sequences=num_sequences)
    width = max(mc.d_model * (len(residual_hooks(mc)) if h == CONCAT else 1) for h in hooks)
    data = dataclasses.replace(data, train_folds=_train_folds(split, data.tokens.size, width))
    P = data.tokens.shape[1]
    points = _figure_points(data, seed)
    arrays: dict[str, np.ndarray] = {
        "true": data.beliefs.reshape(-1, data.beliefs.shape[-1])[points].astype(np.float32),
        "point_index": points,
    }
    timing: dict[str, float] = {"data_s": time.perf_counter() - t0}
    _log(progress, f"probe: {data.num_sequences} sequences x {P} positions ({data.protocol}), "
                   f"checkpoint {last}, hooks {', '.join(hooks)}")

    # Trained network, last checkpoint: every hook with the shuffle control; the headline hook
    # also with the spread over the five training folds.
    t = time.perf_counter()
    acts = collect(run, run.load_params(last), data, hooks)
    timing["forward_trained_s"] = time.perf_counter() - t
    t = time.perf_counter()
    results: dict[str, ProbeResult] = {}
    for hook in hooks:
        feats = _features(acts, hook, mc)
        results[hook] = res = _probe(feats, data, spread=hook == headline, shuffle=True, seed=seed)
        arrays[f"pred/{hook}"] = _predict_points(res.probe, feats, points, P)
        arrays[f"shuffle/{hook}"] = _predict_points(res.shuffle_probe, feats, points, P)
    timing["probe_trained_s"] = time.perf_counter() - t
    fractal_json = None
    if fractal:
        t = time.perf_counter()
        feats = _features(acts, headline, mc)
        seq, pos = np.divmod(points, P)
        flat = (feats(seq) if callable(feats) else feats[seq])[np.arange(seq.size), pos]
        projected = affine_subspace_projection(results[headline].probe, flat)
        arrays["projection"] = projected.astype(np.float32)
        fractal_json = fractal_comparison(arrays["true"].astype(np.float64),
                                          arrays[f"pred/{headline}"].astype(np.float64),
                                          projected, seed=seed)
        timing["fractal_s"] = time.perf_counter() - t
        del flat
    del acts, feats
    _log(progress, f"  trained network probed ({timing['forward_trained_s']:.1f} s forward, "
                   f"{timing['probe_trained_s']:.1f} s probes)")

    # Baselines beside every hook.
    t = time.perf_counter()
    untrained_acts = collect(run, run.load_params(0), data, hooks)
    timing["forward_untrained_s"] = time.perf_counter() - t
    t = time.perf_counter()
    baselines = baseline_results(run, data, hooks, seed=seed, untrained_acts=untrained_acts)
    del untrained_acts
    timing["baselines_s"] = time.perf_counter() - t
    _log(progress, f"  baselines ({timing['forward_untrained_s']:.1f} s forward, "
                   f"{timing['baselines_s']:.1f} s probes)")

    # Over training: the headline hook at each selected checkpoint (no spread, no shuffle).
    t = time.perf_counter()
    curve = []
    for step in curve_steps:
        if step == last:
            res = results[headline]
        elif step == 0:
            res = baselines[headline]["untrained"]
        else:
            acts_step = collect(run, run.load_params(step), data, [headline])
            feats = _features(acts_step, headline, mc)
            res = _probe(feats, data)
        if step not in (0, last):
            arrays[f"checkpoint/{step}"] = _predict_points(res.probe, feats, points, P)
            del acts_step, feats
        curve.append({"step": step, "tokens_seen": run.tokens_seen(step), "hook": headline,
                      "mse_test": res.scores["mse"], "r2_test": res.scores["r2"]})
        _log(progress, f"  step {step:>8}  tokens {run.tokens_seen(step):>12,}  "
                       f"MSE {res.scores['mse']:.3g}")
    timing["curve_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t0

    report = {
        "run_dir": str(run_dir),
        "process": run.hmm.name,
        "process_params": dict(run.hmm.params),
        "model": mc.to_dict(),
        "step": last,
        "tokens_seen": run.tokens_seen(last),
        "training_wall_time_s": _training_wall_time(run),
        "protocol": data.describe(),
        "headline_hook": headline,
        "hooks": {h: _result_json(results[h], baselines[h]) for h in hooks},
        "curve": curve,
        "fractal": fractal_json,
        "timing": timing,
    }
    if run.hmm.name in PAPER:
        report["paper"] = {"mse": PAPER[run.hmm.name]["mse"], "tokens": PAPER[run.hmm.name]["tokens"]}
    np.savez_compressed(run_dir / POINTS_FILE, **arrays)
    out_path.write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    return report


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _training_wall_time(run) -> float | None:
    times = [m.get("wall_time") for m in run.metrics if m.get("wall_time") is not None]
    return float(times[-1]) if times else None


def load_report(run_dir) -> dict[str, Any]:
    """Read ``RUN_DIR/probe.json``."""
    path = Path(run_dir) / PROBE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `compmech probe {run_dir}` first")
    return json.loads(path.read_text())


def _split_name(report: dict[str, Any]) -> str:
    train = round(100 * report["protocol"].get("train_fraction", 0.2))
    return f"{train}/{100 - train}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The headline result with its controls, as printed lines."""
    hook = report["headline_hook"]
    r = report["hooks"][hook]
    b = r["baselines"]
    wall = report.get("training_wall_time_s")
    lines = [
        f"process            {report['process']} {report['process_params']}",
        f"training           {report['step']:,} steps, {report['tokens_seen']:,} tokens"
        + (f", {wall:.0f} s" if wall is not None else ""),
        f"probe site         {hook} ({report['protocol']['num_points']:,} points, "
        f"{report['protocol']['inputs']}, {_split_name(report)} split by sequence)",
        f"held-out MSE       {r['mse_test']:.3g}  (folds {r['mse_folds_mean']:.3g} "
        f"+- {r['mse_folds_std']:.2g}; R^2 {r['r2_test']:.4f})",
        f"shuffle control    {r['shuffle_mse']:.3g}  (belief variance {r['belief_variance']:.3g})",
        f"untrained network  {b['untrained']:.3g}",
        f"one-hot tok x pos  {b['onehot']:.3g}",
        f"random features    {b['random']:.3g}",
    ]
    fr = report.get("fractal")
    if fr and "dimensions_true" not in fr:
        lines.append(f"geometry           pairwise-distance r = "
                     f"{fr['pairwise_distance_correlation']:.3f} ({fr['num_distinct_points']} "
                     "distinct beliefs: no fractal dimensions)")
    elif fr:
        t, p = fr["dimensions_true"], fr["dimensions_predicted"]
        lines.append(
            f"fractal dims       box {t['box_counting']['dimension']:.2f} true vs "
            f"{p['box_counting']['dimension']:.2f} learned, correlation "
            f"{t['correlation']['dimension']:.2f} vs {p['correlation']['dimension']:.2f}; "
            f"pairwise-distance r = {fr['pairwise_distance_correlation']:.3f}")
    if "paper" in report:
        lines.append(f"paper (Shai 2024)  {report['paper']['mse']:.2g} after "
                     f"{report['paper']['tokens']:.3g} tokens")
    return lines


# ------------------------------------------------------------------------------------- figures
def _theory_beliefs(run, data_beliefs: np.ndarray) -> np.ndarray:
    """The theory's beliefs: every node of the mixed-state tree to depth ``n_ctx`` (or, when the
    tree is too large, the distinct true beliefs of the probe's points)."""
    from compmech.msp import mixed_state_tree

    mc = run.model_config
    depth = mc.n_ctx - (1 if run.bos_token is not None else 0)
    if run.hmm.vocab_size**depth <= 2_000_000:
        try:
            return mixed_state_tree(run.hmm, depth).all_beliefs()
        except ValueError:
            pass
    return np.unique(np.round(data_beliefs, 12), axis=0)


def make_figures(run_dir, *, force: bool = False, seed: int = 0,
                 progress: bool | Callable = True) -> list[Path]:
    """Write ``RUN_DIR/figures/``: side by side, per-layer grid, shuffle control, loss per position,
    probe over training, emergence grid and GIF (PNG + PDF each; the GIF alone).

    Raises:
        FileExistsError: the figures folder exists and is not empty, and ``force`` is False.
        FileNotFoundError: no ``probe.json`` (run :func:`analyze_run` first).
    """
    from compmech import figures as fg
    from transformer import load_run

    run_dir = Path(run_dir)
    report = load_report(run_dir)
    points_path = run_dir / POINTS_FILE
    if not points_path.is_file():
        raise FileNotFoundError(f"{points_path} not found; run `compmech probe {run_dir}` again")
    out = run_dir / FIGURES_DIR
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite")
    out.mkdir(exist_ok=True)
    run = load_run(run_dir)
    arrays = dict(np.load(points_path))
    true = arrays["true"].astype(np.float64)
    theory = _theory_beliefs(run, true)
    head = report["headline_hook"]
    r = report["hooks"][head]
    name = f"{report['process']}" + "".join(f", {k}={v}" for k, v in report["process_params"].items())
    caption = fg.baseline_caption(r["mse_test"], r["baselines"], r["shuffle_mse"],
                                  r["belief_variance"])
    written: list[Path] = []

    fig_title = (f"{name}: belief geometry, theory vs {hook_label(head)} "
                 f"({report['tokens_seen']:,} training tokens)")
    fg.side_by_side(theory, arrays[f"pred/{head}"], true, caption=caption, title=fig_title,
                    stem=out / "side_by_side", seed=seed)
    written += [out / "side_by_side.png", out / "side_by_side.pdf"]

    hooks = [h for h in report["hooks"] if f"pred/{h}" in arrays]
    panels = [(f"{hook_label(h)}\nMSE {report['hooks'][h]['mse_test']:.2g}", arrays[f"pred/{h}"])
              for h in hooks]
    fg.panel_grid(panels, true, theory_beliefs=theory, ncols=4,
                  title=f"{name}: probe at each layer (held-out points, colour = true belief)",
                  stem=out / "layers", seed=seed)
    written += [out / "layers.png", out / "layers.pdf"]

    fg.panel_grid([(f"trained probe, MSE {r['mse_test']:.2g}", arrays[f"pred/{head}"]),
                   (f"shuffled labels, MSE {r['shuffle_mse']:.2g}", arrays[f"shuffle/{head}"])],
                  true, theory_beliefs=theory, ncols=3,
                  title=f"{name}: shuffle control at {hook_label(head)}",
                  caption="shuffle: belief rows permuted across all points, probe refitted, "
                          "scored against the true beliefs", stem=out / "shuffle", seed=seed)
    written += [out / "shuffle.png", out / "shuffle.pdf"]

    evals = [m for m in run.metrics if m.get("eval_loss") is not None]
    if evals:
        fg.loss_per_position(evals[-1]["eval_loss"], evals[-1]["optimal_loss"],
                             initial_loss=evals[0]["eval_loss"] if len(evals) > 1 else None,
                             title=f"{name}: held-out loss per position (step {evals[-1]['step']:,})",
                             stem=out / "loss_per_position")
        written += [out / "loss_per_position.png", out / "loss_per_position.pdf"]

    curve = report["curve"]
    rel = [(m["tokens_seen"], m["relative_loss"] - 1.0) for m in evals
           if m.get("relative_loss") is not None]
    optimum = evals[-1].get("optimal_loss_mean") if evals else None
    train_rel = ([], [])
    if optimum:
        for m in run.metrics:
            if m.get("train_loss") is not None:
                train_rel[0].append(m["tokens_seen"])
                train_rel[1].append(m["train_loss"] / optimum - 1.0)
    paper = PAPER.get(report["process"], {}).get("curve")
    fg.training_curves([c["tokens_seen"] for c in curve], [c["mse_test"] for c in curve],
                       [t for t, _ in rel], [v for _, v in rel],
                       baselines={"one-hot": r["baselines"]["onehot"],
                                  "random": r["baselines"]["random"],
                                  "shuffled": r["shuffle_mse"]},
                       paper=paper, title=f"{name}: probe over training ({hook_label(head)})",
                       train_relative_loss=train_rel,
                       stem=out / "training")
    written += [out / "training.png", out / "training.pdf"]

    frames = []
    for c in curve:
        key = f"checkpoint/{c['step']}"
        pred = arrays.get(key)
        if c["step"] == report["step"]:
            pred = arrays[f"pred/{head}"]
        if pred is not None and c["step"] > 0:
            frames.append((f"{c['tokens_seen']:,} tokens, MSE {c['mse_test']:.2g}", pred))
    if frames:
        pick = np.unique(np.round(np.linspace(0, len(frames) - 1, min(8, len(frames))))).astype(int)
        fg.panel_grid([frames[i] for i in pick], true, theory_beliefs=theory, ncols=3,
                      title=f"{name}: emergence of the belief geometry over training",
                      stem=out / "emergence", seed=seed)
        written += [out / "emergence.png", out / "emergence.pdf"]
        written.append(fg.emergence_gif(frames, true, theory, out / "emergence.gif", seed=seed))
    _log(progress, f"figures: {len(written)} files in {out}")
    return written


# ----------------------------------------------------------------------------------- reproduce
#: Default wall-clock training budget of :func:`reproduce`, in minutes.
DEFAULT_MINUTES = 2.0
#: Checkpoints :func:`reproduce` probes for the curve (log-spaced; each costs one forward pass of
#: all inputs, ~2-4 s for Mess3 on 2 cores). ``compmech probe RUN --checkpoints all`` does every one.
REPRODUCE_CHECKPOINTS = 12


def reproduction_config(name: str, *, minutes: float | None = DEFAULT_MINUTES, tiny: bool = False,
                        seed: int = 0):
    """The training config of a published experiment (our optimiser, the paper's model and data).

    * ``mess3``: Mess3(x=0.05, alpha=0.85); 4 layers, d_model 64, 1 head of 8, d_mlp 256, n_ctx 10.
    * ``rrxor``: RRXOR(0.5, 0.5); d_model 128, 4 heads of 16, d_mlp 512, n_ctx 10.
    * ``z1r``: Z1R(0.5); the Mess3 model with a 2-token vocabulary.

    ``tiny`` shrinks the model, context and training to seconds (for tests); ``minutes`` is the
    wall-clock budget handed to :func:`transformer.train`.
    """
    from transformer import ModelConfig, TrainConfig

    specs = {
        "mess3": ({"x": 0.05, "alpha": 0.85}, {}),
        "rrxor": ({"p1": 0.5, "p2": 0.5}, {"d_model": 128, "n_heads": 4, "d_head": 16,
                                            "d_mlp": 512}),
        "z1r": ({"p": 0.5}, {}),
    }
    if name not in specs:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(specs)}")
    params, model_overrides = specs[name]
    from compmech.processes import get_process

    vocab = get_process(name, **params).vocab_size
    if tiny:
        model = ModelConfig(n_layers=2, d_model=16, n_heads=1, d_head=4, d_mlp=32, n_ctx=5,
                            d_vocab=vocab)
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
              progress: bool = True) -> dict[str, Any]:
    """Train -> probe -> figures for a published experiment; returns the probe report.

    Args:
        name: ``"mess3"``, ``"rrxor"`` or ``"z1r"``.
        out: the run directory (must not exist or be empty unless ``force``).
        minutes: training wall-clock budget.
        tiny: seconds-long settings for tests.
        force: overwrite ``out``.
        seed: seed of training and probe.
        checkpoints: which checkpoints the curve probes (see :func:`analyze_run`).
        progress: progress output.
    """
    from transformer import train

    config = reproduction_config(name, minutes=minutes, tiny=tiny, seed=seed)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} already exists and is not empty; pass --force to overwrite it")
    t0 = time.perf_counter()
    train(config, out, force=force, progress=progress)
    headline = CONCAT if name == "rrxor" else None
    report = analyze_run(out, checkpoints=checkpoints, headline=headline, seed=seed, force=True,
                         progress=progress)
    make_figures(out, force=True, seed=seed, progress=progress)
    report["reproduce_wall_time_s"] = time.perf_counter() - t0
    return report


__all__ = [
    "CONCAT",
    "PAPER",
    "ProbeData",
    "analyze_run",
    "baseline_results",
    "collect",
    "fractal_comparison",
    "hook_label",
    "last_hook",
    "layer_hooks",
    "load_report",
    "make_figures",
    "probe_data",
    "reproduce",
    "reproduction_config",
    "residual_hooks",
    "summary_lines",
]
