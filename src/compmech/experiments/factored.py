"""``compmech reproduce factored``: "Transformers learn factored representations" (arXiv 2602.02385).

Protocol source. The paper's setup as given by a public repository that says it reproduces the
paper (not the authors' own code; ``shared/SCIENCE.md``, "Published protocols"): five independent
factors, 3 x Mess3(x 0.15, alpha 0.6) and 2 x tom_quantum(alpha 1, beta 3), composite tokens
(vocabulary 3^3 4^2 = 432); a 4-layer transformer (d_model 120, 3 heads x 40, d_mlp 480), n_ctx 8
plus BOS; AdamW 5e-4, 500k steps x batch 25k; per-factor regression at the last layer, the
cumulative explained variance (CEV) of the last layer's activations and the number of components
for 95% of it over training, against ``predicted_factored = sum_f (S_f - 1)`` (10) and
``predicted_joint = prod_f S_f - 1`` (242); stress tests: a noisy channel (epsilon from 0 to 0.5)
and a chain in which each factor's parameters are selected by the previous factor's token. The
claim checked: the factored geometry appears early in training even when the factors are not
conditionally independent, and the effective dimension grows later. The paper's own measured
numbers are not transcribed here (we do not have them): our numbers are reported under this
protocol beside the two predictions.

``--paper`` writes that setup as ``TrainConfig`` files (``paper/<variant>.json``; train one with
``compmech train RUN --config FILE``); it is far beyond a CPU and is not run.

The default (CPU-scaled) case, chosen before running anything:

* factors 2 x Mess3(0.15, 0.6) + 1 x tom_quantum(1, 3): both of the paper's factor types, a
  vocabulary of 36, and predictions 6 (factored) vs 26 (joint), far enough apart to tell with
  ``components_95`` and small enough that a 64-wide residual stream can hold the joint geometry
  (so a factored result is the network's choice, not forced by the width);
* the paper's architecture at half width: 4 layers, d_model 64, 2 heads x 32, d_mlp 256, n_ctx 8
  plus BOS (the trainer's ``bos=True``), AdamW with warmup and cosine decay, batch 256, lr 3e-3
  (the toolkit's tested Mess3 recipe rate: 5e-4 for a few thousand steps of batch 256 would leave
  the factors half-learned);
* six models: the noisy channel at epsilon 0, 0.01, 0.05, 0.1, 0.2 and the chain
  (:func:`compmech.factor_chain`, defaults), the same budget each.

Noisy channel. ``noise="joint"`` (default) replaces the composite token by a uniform one of the
432 (here 36) with probability epsilon (:func:`compmech.noisy_channel`, as the group's library
does): one noise event for all factors, so the factors are no longer conditionally independent
given the past. ``noise="per_factor"`` replaces each factor's token independently; that process
is again a product of independent (noisy) factors (``noisy_channel(per_factor=True)``; the
tests check its word probabilities factor), so it does not stress conditional independence.

Analysis at up to ``checkpoints`` log-spaced checkpoints of each model, on ``sequences`` sampled
sequences of 8 tokens (every position after BOS is a point, uniformly weighted: a sample of the
process's prefix distribution): the CEV of the last layer (``blocks.{L-1}.hook_resid_post``) and
its ``components_95`` (:mod:`compmech.subspaces`); each factor's belief (its marginal, S
probabilities for Mess3, the 2 belief-plane coordinates for tom_quantum) probed linearly
(:func:`compmech.probing.targets.probe_factors`, 80% / 20% of sequences, held-out ``r2``); the
orthogonality of the factors' encoding patterns ``C W_f^T``
(:func:`compmech.probing.targets.encoding_pattern`, :func:`compmech.subspaces.subspace_orthogonality`):
``overlap``, ``participation_ratio``, ``effective_rank``.

Outputs in ``out``: ``runs/<job>`` (training runs), ``results/<job>.json`` (one per model; a job
with its file is not redone, an interrupted training resumes), ``results.json``, ``README.md``
(tables) and ``factored_cev.png``/``.pdf`` (CEV curves over training with both predictions marked,
and ``components_95`` against training step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compmech.compose import product
from compmech.experiments.factored_report import (
    claim_check,
    claim_lines,
    first_factored_step,
    log_line,
    table_lines,
    write_report,
)
from compmech.experiments.factored_results import (
    BeliefComponents,
    CheckpointAnalysis,
    Factor,
    FactoredLabels,
    FactoredResult,
    FactoredSettings,
    FactoredSummary,
    Orthogonality,
    TrainInfo,
    Variant,
)
from compmech.experiments.results import RESULTS_DIR, RUNS_DIR, read_result, result_path
from compmech.experiments.run_metrics import loss_gap_nats
from compmech.experiments.runner import check_manifest, job_lock, recipe, train_or_resume
from compmech.figures.factored import cev_figure
from compmech.files import write_json
from compmech.geometry import belief_plane_coordinates
from compmech.inference import sample
from compmech.probing.inputs import sequence_folds
from compmech.probing.targets import encoding_pattern, factor_targets, probe_factors
from compmech.records import Record
from compmech.subspaces import (
    components_95,
    components_for_variance,
    cumulative_explained_variance,
    factored_dimension_predictions,
    subspace_orthogonality,
)
from transformer import ModelConfig, TrainConfig, collect_activations

MESS3 = Factor("mess3", {"x": 0.15, "alpha": 0.6})
TOM = Factor("tom_quantum", {"alpha": 1.0, "beta": 3.0})
#: The paper's factors (vocabulary 432; predictions 10 and 242).
PAPER_FACTORS: tuple = (MESS3, MESS3, MESS3, TOM, TOM)
#: The CPU-scaled case's factors (vocabulary 36; predictions 6 and 26): see the module docstring.
DEFAULT_FACTORS: tuple = (MESS3, MESS3, TOM)
#: Chain selectors of the paper-scale chain: Mess3 factors' alpha, tom_quantum factors' beta,
#: one value per token of the previous factor (ours; :data:`compmech.chain.CHAIN_SELECTED`
#: is the default case's).
PAPER_CHAIN_SELECTED: tuple = ({"param": "alpha", "values": [0.4, 0.6, 0.8]},
                               {"param": "alpha", "values": [0.4, 0.6, 0.8]},
                               {"param": "beta", "values": [2.0, 3.0, 4.0]},
                               {"param": "beta", "values": [2.0, 3.0, 4.0, 5.0]})
DEFAULT_CHAIN_SELECTED: tuple = ({"param": "alpha", "values": [0.4, 0.6, 0.8]},
                                 {"param": "beta", "values": [2.0, 3.0, 4.0]})
#: Noisy-channel strengths of the stress test.
EPSILONS = (0.0, 0.01, 0.05, 0.1, 0.2)
#: Process tokens per sequence (the model sees BOS plus these: ``n_ctx = 9``).
N_TOKENS = 8
#: Default total budget (minutes, all models, training plus analysis, 2 CPU cores).
DEFAULT_MINUTES = 30.0
#: Share of the budget given to training (the rest: compiling, analysing, the report).
TRAIN_SHARE = 0.75
NOISE_KINDS = ("joint", "per_factor")


@dataclass(frozen=True)
class Scale:
    """One size of the experiment: model, recipe and analysis."""

    model: dict[str, int]
    batch_size: int
    lr: float
    warmup_steps: int
    epsilons: tuple
    chain: bool
    sequences: int
    checkpoints: int
    tiny_steps: int | None = None


SCALES = {
    "paper": Scale({"n_layers": 4, "d_model": 120, "n_heads": 3, "d_head": 40, "d_mlp": 480},
                   batch_size=25_000, lr=5e-4, warmup_steps=0, epsilons=EPSILONS, chain=True,
                   sequences=20_000, checkpoints=20),
    "default": Scale({"n_layers": 4, "d_model": 64, "n_heads": 2, "d_head": 32, "d_mlp": 256},
                     batch_size=256, lr=3e-3, warmup_steps=100, epsilons=EPSILONS, chain=True,
                     sequences=2_000, checkpoints=8),
    "tiny": Scale({"n_layers": 2, "d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32},
                  batch_size=64, lr=1e-2, warmup_steps=5, epsilons=(0.0, 0.1), chain=True,
                  sequences=200, checkpoints=3, tiny_steps=40),
}


# ------------------------------------------------------------------------------------ processes
def product_spec(factors: Sequence[Factor]) -> dict:
    """The product spec of ``factors`` (``{"kind": "product", ...}``, big-endian tokens)."""
    return {"kind": "product", "factors": [f.to_dict() for f in factors], "name": "factored"}


def variants(factors: Sequence[Factor], epsilons: Sequence[float], chain_selected, *,
             noise: str = "joint") -> list[Variant]:
    """The models' processes, one per epsilon (a noisy channel on the product; ``epsilon = 0`` is
    the product itself) and the chain when ``chain_selected`` is not ``None``."""
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}; got {noise!r}")
    out = []
    for eps in epsilons:
        if not 0 <= float(eps) <= 1:
            raise ValueError(f"epsilon must be in [0, 1]; got {eps}")
        out.append(Variant(f"noise_{float(eps):g}", float(eps), "noisy_channel",
                           {"process": product_spec(factors), "epsilon": float(eps),
                            "per_factor": noise == "per_factor"}))
    if chain_selected is not None:
        out.append(Variant("chain", None, "factor_chain",
                           {"factors": [f.to_dict() for f in factors],
                            "selected": [dict(s) for s in chain_selected]}))
    return out


def factor_sizes(factors: Sequence[Factor]) -> list[int]:
    """``S_f`` of each factor."""
    return [f.build().num_states for f in factors]


@dataclass(frozen=True)
class Predictions(Record):
    """The two predicted dimensions (:func:`compmech.subspaces.factored_dimension_predictions`)."""

    predicted_factored: int
    predicted_joint: int


# ------------------------------------------------------------------------------------ jobs
@dataclass(frozen=True)
class FactoredJob(Record):
    """One model: train ``train_config`` into ``runs/<name>``, then analyse its checkpoints."""

    name: str
    train_config: dict[str, Any]
    labels: FactoredLabels
    factors: list[Factor]
    sequences: int
    checkpoints: int
    seed: int = 0


def train_config(variant: Variant, scale: Scale, *, vocab: int, seed: int, steps: int | None,
                 minutes: float | None) -> TrainConfig:
    """The ``TrainConfig`` of one model (``steps`` exact, or a ``minutes`` budget); ``vocab`` is
    the process's (every variant keeps the product's ``prod_f V_f``)."""
    model = ModelConfig(**scale.model, n_ctx=N_TOKENS + 1, d_vocab=vocab + 1)
    common = dict(process=variant.process, process_params=variant.process_params,
                  model=model, bos=True, batch_size=scale.batch_size, lr=scale.lr,
                  warmup_steps=scale.warmup_steps, seed=seed, eval_samples=2_000,
                  checkpoints_per_decade=8)
    if scale.tiny_steps is not None and steps is None:
        return TrainConfig(**common, steps=scale.tiny_steps, eval_every=20, log_every=10,
                           steps_per_call=10)
    if steps is not None:
        return TrainConfig(**common, steps=int(steps), eval_every=max(int(steps) // 4, 1),
                           log_every=max(int(steps) // 20, 1),
                           steps_per_call=max(1, min(50, int(steps) // 10)))
    return TrainConfig(**common, steps=10_000_000, minutes=float(minutes), eval_every=1000,
                       log_every=100)


def _checked_options(seeds: Sequence[int], steps: int | None, minutes: float | None,
                     noise: str) -> list[int]:
    """``seeds`` as a list of ints, after checking every option (one-line ``ValueError``)."""
    if noise not in NOISE_KINDS:
        raise ValueError(f"noise must be one of {NOISE_KINDS}; got {noise!r}")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers; got {seeds}")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be a positive integer; got {steps}")
    if minutes is not None and not (math.isfinite(float(minutes)) and float(minutes) > 0):
        raise ValueError(f"minutes must be a positive number; got {minutes}")
    return seeds


@dataclass(frozen=True, kw_only=True)
class FactoredConfig(Record):
    """What :func:`run_factored` trains: per seed, one model per noisy-channel epsilon and the
    chain, at the default (CPU-scaled) or tiny scale (:data:`SCALES`).

    Attributes:
        tiny: the seconds-long check of the whole pipeline (scale ``"tiny"``, fixed steps).
        minutes: total budget of the whole experiment in minutes, split over the models (see
            :data:`TRAIN_SHARE`); ``None``: :data:`DEFAULT_MINUTES`. Unused with ``steps`` or
            ``tiny``.
        steps: exact optimiser steps per model instead of ``minutes``.
        seeds: training seeds (``mean ± std`` over them in the table).
        noise: ``"joint"`` or ``"per_factor"`` (module docstring).

    Raises:
        ValueError: an unknown noise kind, seeds that are not distinct integers (or none),
            ``steps`` not a positive integer, or ``minutes`` not a positive number.
    """

    tiny: bool = False
    minutes: float | None = None
    steps: int | None = None
    seeds: tuple[int, ...] = (0,)
    noise: str = "joint"

    def __post_init__(self):
        seeds = _checked_options(self.seeds, self.steps, self.minutes, self.noise)
        object.__setattr__(self, "seeds", tuple(seeds))

    @property
    def scale(self) -> str:
        """The key of :data:`SCALES`: ``"tiny"`` or ``"default"``."""
        return "tiny" if self.tiny else "default"


def factored_jobs(*, scale: str = "default", factors: Sequence[Factor] | None = None,
                  seeds: Sequence[int] = (0,), steps: int | None = None,
                  minutes: float | None = None, noise: str = "joint") -> list[FactoredJob]:
    """The experiment's jobs: per seed, one per noisy-channel epsilon and the chain.

    Args:
        scale: ``"default"``, ``"tiny"`` or ``"paper"`` (:data:`SCALES`).
        factors: the product's factors (default: the scale's).
        seeds: training seeds.
        steps: exact optimiser steps per model (overrides ``minutes``).
        minutes: total budget of the whole experiment (split over the models; see
            :data:`TRAIN_SHARE`); ``None`` with ``steps`` ``None``: :data:`DEFAULT_MINUTES`
            (``tiny``: its fixed steps).
        noise: ``"joint"`` or ``"per_factor"`` (module docstring).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {tuple(SCALES)}; got {scale!r}")
    sc = SCALES[scale]
    if factors is None:
        factors = PAPER_FACTORS if scale == "paper" else DEFAULT_FACTORS
    chain = (PAPER_CHAIN_SELECTED if len(factors) == 5 else DEFAULT_CHAIN_SELECTED
             if len(factors) == 3 else None) if sc.chain else None
    seeds = _checked_options(seeds, steps, minutes, noise)
    vs = variants(factors, sc.epsilons, chain, noise=noise)
    vocab = int(np.prod([f.build().vocab_size for f in factors]))
    per_model = None
    if steps is None and sc.tiny_steps is None:
        total = DEFAULT_MINUTES if minutes is None else float(minutes)
        per_model = total * TRAIN_SHARE / (len(vs) * len(seeds))
    jobs = []
    for seed in seeds:
        for v in vs:
            cfg = train_config(v, sc, vocab=vocab, seed=seed, steps=steps, minutes=per_model)
            jobs.append(FactoredJob(f"{v.label}_seed{seed}", cfg.to_dict(),
                                    FactoredLabels(v.label, v.epsilon, seed, noise), list(factors),
                                    sc.sequences, sc.checkpoints, seed))
    return jobs


# ------------------------------------------------------------------------------------ analysis
def checkpoints_to_analyse(steps: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of ``steps`` (sorted), evenly spaced in the (log-spaced) list, first and last
    included."""
    steps = sorted(int(s) for s in steps)
    if len(steps) <= k:
        return steps
    pick = np.unique(np.round(np.linspace(0, len(steps) - 1, k)).astype(int))
    return [steps[i] for i in pick]


def analysis_data(run, factors: Sequence[Factor], sequences: int, seed: int):
    """``(model inputs (N, 1 + 8), factor targets {name: FactorTarget (N, 8, k)}, folds (N,))``.

    Sequences of 8 tokens sampled from the run's process (seed ``seed``); the beliefs are split
    into the factors' marginals with the factors' product structure (the noisy and chain
    variants have the product's state space).
    """
    hmm = run.hmm
    samples = sample(hmm, int(sequences), N_TOKENS, seed)
    base = hmm if hmm.structure is not None else product([f.to_dict() for f in factors])
    targets = factor_targets(base, samples.beliefs, None)
    folds = sequence_folds(int(sequences), 5, seed)
    return run.model_inputs(samples.tokens), targets, folds


def belief_components_95(hmm, factors: Sequence[Factor], sequences: int, seed: int
                         ) -> BeliefComponents:
    """``components_95`` of the true beliefs on the prefixes :func:`analysis_data` samples (same
    process, sequences and seed): the factors' beliefs side by side (each in its plane
    coordinates, as probed) and the joint belief in its plane coordinates (an isometry of the
    simplex for an HMM, so the count is the simplex's)."""
    samples = sample(hmm, int(sequences), N_TOKENS, seed)
    base = hmm if hmm.structure is not None else product([f.to_dict() for f in factors])
    targets = factor_targets(base, samples.beliefs, None)
    factored = np.concatenate([t.values for t in targets.values()], axis=-1)
    joint = belief_plane_coordinates(samples.beliefs, hmm.right_eigenvector)
    return BeliefComponents(components_95(factored), components_95(joint))


def analyse_checkpoint(run, step: int, inputs: np.ndarray, targets: dict, folds: np.ndarray,
                       seed: int) -> CheckpointAnalysis:
    """CEV and ``components_95`` of the last layer, per-factor held-out ``r2``, orthogonality of
    the factors' encoding patterns, at one checkpoint (BOS position left out)."""
    hook = run.last_hook()
    acts = collect_activations(run.load_params(step), run.model_config, inputs, [hook])[hook]
    acts = acts[:, 1:].astype(np.float64)  # (N, 8, d): position t holds the belief after t tokens
    cev = cumulative_explained_variance(acts)
    probes = probe_factors(acts, targets, folds, train_folds=4, seed=seed)
    patterns = [encoding_pattern(p.probe, acts) for p in probes.values()]
    try:
        orth = Orthogonality.from_dict(subspace_orthogonality(patterns).as_dict())
    except ValueError as err:  # a factor the activations do not move with (e.g. at step 0)
        orth = Orthogonality(error=str(err))
    return CheckpointAnalysis(int(step), int(run.tokens_seen(step)), hook, cev.tolist(),
                              components_for_variance(cev),
                              {name: p.scores["r2_test"] for name, p in probes.items()}, orth)


def run_job(job: FactoredJob, out_dir, progress: bool = False) -> FactoredResult:
    """Train (or resume) one model and analyse it; writes ``results/<name>.json`` under the job's
    lock and returns it (read back when it exists)."""
    out_dir = Path(out_dir)
    with job_lock(out_dir, job.name):
        path = result_path(out_dir, job.name)
        if path.exists():
            return read_result(FactoredResult, path, "compmech reproduce factored")
        t0 = time.perf_counter()
        run = train_or_resume(TrainConfig.from_dict(job.train_config), out_dir / RUNS_DIR / job.name,
                              progress)
        t_train = time.perf_counter() - t0
        inputs, targets, folds = analysis_data(run, job.factors, job.sequences, job.seed)
        rows = [analyse_checkpoint(run, s, inputs, targets, folds, job.seed)
                for s in checkpoints_to_analyse(run.checkpoint_steps, job.checkpoints)]
        predicted = Predictions.from_dict(factored_dimension_predictions(factor_sizes(job.factors)))
        result = FactoredResult(
            job.name, job.labels, run.config.process, run.config.process_params,
            run.model_config.to_dict(), predicted.predicted_factored, predicted.predicted_joint,
            TrainInfo(int(run.config.steps), run.config.batch_size,
                      run.tokens_seen(run.checkpoint_steps[-1]), run.training_wall_time),
            loss_gap_nats(run), rows, t_train, time.perf_counter() - t0 - t_train)
        result.write(path)
        return result


# ------------------------------------------------------------------------------------ running
def write_paper_configs(out_dir, *, seed: int = 0, steps: int = 500_000) -> list[Path]:
    """The paper's setup as ``TrainConfig`` files ``out_dir/paper/<variant>.json`` (not run)."""
    out = Path(out_dir) / "paper"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for job in factored_jobs(scale="paper", seeds=(seed,), steps=steps):
        path = out / f"{job.labels.variant}.json"
        write_json(path, job.train_config)
        paths.append(path)
    return paths


def run_factored(out_dir, config: FactoredConfig | None = None, *, force: bool = False,
                 progress: bool = False,
                 log: Callable[[str], None] | None = print) -> FactoredSummary:
    """Train and analyse every model (see the module docstring); rerunning resumes.

    Args:
        out_dir: the experiment folder.
        config: scale, budget, seeds and noise (:class:`FactoredConfig`; ``None``: its defaults).
        force: rewrite a folder that holds an experiment with other settings.
        progress: training progress bars.
        log: one line per finished model (``None``: silent).
    """
    c = FactoredConfig() if config is None else config
    out_dir = Path(out_dir)
    jobs = factored_jobs(scale=c.scale, seeds=c.seeds, steps=c.steps, minutes=c.minutes,
                         noise=c.noise)
    sc = SCALES[c.scale]
    factors = jobs[0].factors
    settings = FactoredSettings(
        "factored", c.scale, list(factors), c.noise, list(c.seeds), c.steps,
        None if (c.tiny or c.steps) else (c.minutes or DEFAULT_MINUTES), sc.model, sc.batch_size,
        sc.lr, list(sc.epsilons), sc.sequences, sc.checkpoints, recipe(jobs[0].train_config))
    out_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(out_dir, settings.to_dict(), force)
    (out_dir / RESULTS_DIR).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results, computed, failed = [], [], {}
    for job in jobs:
        done = result_path(out_dir, job.name).exists()
        try:
            res = run_job(job, out_dir, progress)
        except (ValueError, RuntimeError, FloatingPointError) as err:
            failed[job.name] = f"{type(err).__name__}: {err}"
            if log:
                log(f"FAILED {job.name}: {failed[job.name]} (rerun to retry)")
            continue
        results.append(res)
        if not done:
            computed.append(job.name)
        if log:
            log(log_line(res))
    if not results:
        raise ValueError(f"every job failed: {failed}")
    controls = {}
    for job in jobs:  # one per variant: the true beliefs do not depend on the training seed
        if job.labels.variant not in controls:
            hmm = TrainConfig.from_dict(job.train_config).build_hmm()
            controls[job.labels.variant] = belief_components_95(hmm, job.factors, job.sequences,
                                                                job.seed)
    return write_report(out_dir, results, settings, time.perf_counter() - t0, computed, failed,
                        controls)


__all__ = ["DEFAULT_FACTORS", "DEFAULT_MINUTES", "EPSILONS", "FactoredConfig", "FactoredJob",
           "FactoredSummary", "PAPER_FACTORS", "SCALES", "analyse_checkpoint", "analysis_data", "cev_figure",
           "belief_components_95", "checkpoints_to_analyse", "claim_check", "claim_lines", "factored_jobs",
           "first_factored_step", "product_spec", "run_factored", "run_job", "table_lines", "train_config",
           "variants", "write_paper_configs", "write_report"]
