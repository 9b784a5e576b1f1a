"""``compmech reproduce icl``: in-context learning of non-ergodic mixtures (Riechers, Bigelow, Alt &
Shai 2025, "Next-token pretraining implies in-context learning", arXiv 2505.18373).

Where the protocol comes from. The paper's own training configuration is not public; the group's
library of that time, Astera-org/simplexity, holds the configuration inferred to be the paper's
(SCIENCE.md, "Published protocols"): the ``wonka_dursley`` generative process
(``simplexity/configs/generative_process/wonka_dursley.yaml`` at commit 41a1662, 2025-05-30): a
50/50 non-ergodic mixture of two ``mr_name(p=0.4, q=0.25)`` processes with vocabulary maps
``[0, 1, 2, 3]`` and ``[0, 1, 2, 4]`` (the components share "Mr.", "Something" and "Blah" and differ
in the name token), vocabulary 6 with BOS token 5. The paper trains on sequences of length 100.
Its model and optimiser settings are not in that configuration (the library's ``train_model.yaml``
pairs the process with an 8-token, 10-step example), so ours are stated below and are ours.

What is run. Three mixtures, each with BOS (id ``V``, prepended by the trainer):

* ``dursley_wonka``: the paper's mixture above (2 components, 5 shared tokens + BOS).
* ``mess3_3``: three Mess3 components, ``(x, alpha)`` = (0.05, 0.85), (0.15, 0.6), (0.1, 0.75),
  equal weights, all three tokens shared.
* ``mess3_12``: twelve Mess3 components on the grid ``x`` in (0.02, 0.08, 0.2) x ``alpha`` in
  (0.4, 0.6, 0.8, 0.95), equal weights: many components whose pairwise distinguishability spans
  a wide range, the case in which a power law is expected.

Model (ours): a 2-layer transformer (two layers are the fewest that can form an induction
circuit), d_model 32, 4 heads of width 8, d_mlp 128, AdamW (lr 3e-3, batch 128). Context: 32
inputs (BOS + 31 tokens) instead of the paper's 100, to fit 2 CPU cores: a step costs about 2.5x
more at 64 and more again at 100, and 32 is enough to see the curves: the ``dursley_wonka``
optimum's excess over the known-component loss is ``ln 2 x P(the next token is the first name)``,
``ln 2 / 6`` at positions 0-2 and then exactly ``x 3/4`` per token (``1 - q``; an exponential
with ``tau = 3.48`` positions, to 3e-4 of its start by position 31), and the Mess3 mixtures'
excess falls by 3-4x over 32 positions (``mess3_3``: exponential, ``tau`` about 29 positions;
``mess3_12``: a power law fits better, exponent about 0.54; from 10,000 sampled words per
component).

Measured, per mixture (mean and std over ``--seeds``):

* per position: the network's loss on a fixed evaluation sample (``loss``), the Bayes-mixture
  optimum (``bayes_mixture_optimum``, exact for ``dursley_wonka`` by merged belief levels, else
  from 10,000 sampled words per component with its standard error;
  :func:`compmech.incontext.mixture_loss_curves`) and the known-component loss;
* the network's excess over the optimum (on the same evaluation words as its loss, so the
  sampling noise is shared) and the optimum's excess over the known-component loss, each fitted
  against the 1-based position ``t = position + 1`` by a power law and by an exponential
  (:func:`compmech.scaling.fit_decay_laws`), from the curve's maximum on, the better fit named
  (no fit, "—", when fewer than 3 positive points follow the maximum: a curve that does not
  decay);
* the induction score (:func:`compmech.incontext.induction_scores`) of every head at every
  checkpoint, on a fixed sample of the mixture's sequences (for ``dursley_wonka`` also restricted
  to queries holding "Mr.", where copying the name that followed an earlier "Mr." is the
  Bayes-optimal move);
* the training loss against steps, with the transition step (the checkpoint at the end of the
  largest jump of the best head's induction score, :func:`compmech.incontext.transition_step`)
  marked when there is one.

The paper's own numbers (exponents, transition steps) are not public as numbers; none is printed
beside ours.

Output folder: ``runs/<mixture>_seed<k>/`` (ordinary run directories, resumed when interrupted),
``results/`` (one JSON per analysed run and per mixture's theory curves, reused on rerun),
``results.json``, ``README.md`` (the table) and ``figures/``.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from compmech.compose import mixture
from compmech.experiments.icl_results import (
    DEFAULT_MINUTES,
    MIXTURES,
    Curve,
    DecayFits,
    IclResults,
    IclRun,
    IclSettings,
    InductionCurves,
    InductionSummary,
    MixtureFits,
    MixtureSummary,
    PositionRow,
    RunCurves,
    TheoryCurves,
)
from compmech.experiments.results import read_result
from compmech.experiments.runner import check_manifest, train_or_resume
from compmech.figures.incontext import icl_figure
from compmech.files import atomic_write_text, to_jsonable
from compmech.incontext import mixture_loss_curves
from compmech.mechanisms.induction import induction_inputs, induction_over_training
from compmech.processes import get_process
from compmech.records import Record
from compmech.scaling import fit_decay_laws
from transformer import ModelConfig, Run, TrainConfig, model_config_from_dict

R = TypeVar("R", bound=Record)

#: Query tokens of the restricted induction score (``dursley_wonka``: "Mr.", before a name).
QUERY_TOKENS = {"dursley_wonka": (0,)}
#: Input positions (BOS + 31 tokens); the paper's sequences are 100 long (see the docstring).
N_CTX = 32
#: Share of ``--minutes`` given to training (the rest: start-up, theory curves, analysis).
TRAIN_SHARE = 0.8
#: Words per component of the sampled Bayes-mixture curves.
THEORY_SAMPLES = 10_000
RESULTS = "results.json"


def icl_mixture(name: str) -> Any:
    """The mixture ``name`` of :data:`MIXTURES` (without BOS; the trainer prepends it)."""
    if name not in MIXTURES:
        raise ValueError(f"unknown mixture {name!r}; choose from {', '.join(MIXTURES)}")
    comps, weights, maps = MIXTURES[name]
    return mixture([get_process(p, **kw) for p, kw in comps], weights, maps, name=name)


def model_config(vocab: int, *, tiny: bool = False) -> ModelConfig:
    """The model (``vocab`` plus BOS inputs): see the module docstring; ``tiny``: width 16, 2 heads
    of 8, context 8."""
    if tiny:
        return ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, n_ctx=8,
                           d_vocab=vocab + 1)
    return ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=128, n_ctx=N_CTX,
                       d_vocab=vocab + 1)


def train_config(name: str, *, minutes: float | None = None, steps: int | None = None,
                 tiny: bool = False, seed: int = 0) -> TrainConfig:
    """The training config of one mixture: a wall-clock budget ``minutes`` or exactly ``steps``."""
    hmm = icl_mixture(name)
    model = model_config(hmm.vocab_size, tiny=tiny)
    common = dict(hmm=hmm.to_dict(), model=model, bos=True, seed=seed, lr=3e-3)
    if tiny:
        return TrainConfig(**common, steps=steps or 40, batch_size=32, warmup_steps=5,
                           eval_every=20, eval_samples=512, log_every=5, checkpoints_per_decade=4,
                           steps_per_call=10)
    if (minutes is None) == (steps is None):
        raise ValueError("give exactly one of minutes and steps")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number; got {minutes}")
    return TrainConfig(**common, batch_size=128, warmup_steps=100, eval_every=250,
                       eval_samples=4096, log_every=25, checkpoints_per_decade=10,
                       checkpoint_every=250, steps_per_call=25,
                       steps=10_000_000 if minutes is not None else int(steps), minutes=minutes)


# -------------------------------------------------------------------------------- theory
def theory_curves(name: str, n_ctx: int, *, num_samples: int = THEORY_SAMPLES,
                  seed: int = 0) -> TheoryCurves:
    """The mixture's per-position curves with BOS (nats): known-component loss, Bayes-mixture
    optimum, the optimum's excess, standard errors, and the method (exact or sampled)."""
    c = mixture_loss_curves(icl_mixture(name), n_ctx, bos=True, num_samples=num_samples, seed=seed)
    return TheoryCurves(c.method, c.num_samples, c.known_component_loss.tolist(),
                        c.bayes_mixture_optimum.tolist(), c.optimum_excess.tolist(),
                        c.optimum_excess_stderr.tolist(),
                        np.sqrt((c.weights[:, None] ** 2 * c.bayes_stderr**2).sum(0)).tolist())


def _fits(y) -> DecayFits | None:
    """Power law and exponential against ``t = position + 1``, from the curve's maximum on (before
    it the excess is still rising: the posterior has not begun to sharpen); ``None`` with fewer
    than 3 positive points there."""
    y = np.asarray(y, dtype=np.float64)
    finite = np.where(np.isfinite(y), y, -np.inf)
    start = int(np.argmax(finite))
    try:
        fits = fit_decay_laws(np.arange(start + 1, y.size + 1), y[start:])
    except ValueError:
        return None
    # a law's parameter that does not apply is NaN in DecayFit and None (null) here
    return DecayFits.from_dict(to_jsonable(fits.to_dict()) | {"start_position": start})


# ------------------------------------------------------------------------------ one run
def analyse_run(run: Run, query_tokens=None) -> IclRun:
    """Per-position losses and excesses, fits, the training-loss curve and induction scores of one
    trained run (see the module docstring)."""
    evals = run.evaluations
    if not evals:
        raise ValueError(f"{run.run_dir} has no evaluation records")
    last = evals[-1]
    loss = np.asarray(last.eval_loss)
    excess = loss - np.asarray(last.optimal_loss)
    train = [m for m in run.records if m.train_loss is not None]
    induction = InductionCurves.from_dict(
        induction_over_training(run, induction_inputs(run), query_tokens))
    return IclRun(str(run.run_dir), run.config.seed, run.config.steps, run.training_wall_time,
                  loss.tolist(), last.optimal_loss, last.eval_exact, excess.tolist(),
                  _fits(excess), last.component_eval_loss,
                  Curve([t.step for t in train], [t.train_loss for t in train]),
                  Curve([e.step for e in evals], [e.eval_loss_mean for e in evals]), induction)


# ------------------------------------------------------------------------------ summary
def _mean_std(rows: Sequence[Sequence[float]]) -> tuple[list, list]:
    a = np.asarray(rows, dtype=np.float64)
    return a.mean(0).tolist(), (a.std(0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1:])).tolist()


def summarise(name: str, theory: TheoryCurves, runs: Sequence[IclRun]) -> MixtureSummary:
    """One mixture's entry of ``results.json``: per-position curves (mean, std over seeds), fits of
    the mean curves, per-seed exponents, induction scores per checkpoint, transitions."""
    loss, loss_std = _mean_std([r.loss for r in runs])
    net, net_std = _mean_std([r.network_excess for r in runs])
    eval_opt, _ = _mean_std([r.eval_optimum for r in runs])
    positions = [PositionRow(p, p + 1, loss[p], loss_std[p], theory.bayes_mixture_optimum[p],
                             theory.known_component_loss[p], eval_opt[p], net[p], net_std[p],
                             theory.optimum_excess[p], theory.optimum_excess_stderr[p])
                 for p in range(len(loss))]
    exponents = [r.network_excess_fits.power_law.exponent for r in runs if r.network_excess_fits]
    components, weights, vocab_maps = MIXTURES[name]
    return MixtureSummary(
        name, [[p, kw] for p, kw in components], weights, vocab_maps, theory.method,
        theory.num_samples, positions, MixtureFits(_fits(net), _fits(theory.optimum_excess)),
        exponents,
        [InductionSummary(r.seed, r.induction.steps, r.induction.score,
                          r.induction.score_at_queries, r.induction.best_head,
                          r.induction.best_head_score, r.induction.transition) for r in runs],
        [RunCurves(r.seed, r.steps, r.training_wall_time_s, r.run_dir, r.loss, r.network_excess,
                   r.network_excess_fits, r.train_loss, r.eval_loss_mean, r.eval_exact)
         for r in runs])


def _fmt(x, spec=".3g") -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _pm(values: Sequence[float], spec=".3g") -> str:
    if not values:
        return "—"
    a = np.asarray(values, dtype=np.float64)
    return _fmt(float(a.mean()), spec) + (f" ± {_fmt(float(a.std(ddof=1)), spec)}" if a.size > 1
                                           else "")


def markdown_table(mixtures: dict[str, MixtureSummary]) -> str:
    """The headline table: one row per mixture (± = std over seeds)."""
    head = ("| mixture | K | optimum (mean over positions, nats) | network − optimum | network "
            "excess: better fit (power exponent / exp. τ) | power exponent per seed | optimum "
            "excess: better fit (power exponent / exp. τ) | induction score, best head (final) | "
            "transition step (per seed) |\n|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for name, m in mixtures.items():
        optimum = float(np.mean([p.bayes_mixture_optimum for p in m.positions]))
        gaps = [float(np.mean(r.network_excess)) for r in m.runs]
        cells = ["—" if f is None else
                 f"{f.better} ({_fmt(f.power_law.exponent)} / {_fmt(f.exponential.timescale)})"
                 for f in (m.fits.network_excess, m.fits.optimum_excess)]
        finals = [s.best_head_score[-1] for s in m.induction_score]
        steps = [str(s.transition.step) if s.transition else "none" for s in m.induction_score]
        rows.append(f"| {name} | {len(m.weights)} | {_fmt(optimum, '.4f')} | "
                    f"{_pm(gaps, '.4f')} | {cells[0]} | "
                    f"{_pm(m.network_excess_exponent_per_seed)} | {cells[1]} | "
                    f"{_pm(finals, '.2f')} | {', '.join(steps)} |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------ the command
def run_icl(out, config: IclSettings | None = None, *, force: bool = False,
            progress: bool = False, log: Callable[[str], None] | None = None) -> IclResults:
    """Train, analyse and report every mixture x seed; rerunning resumes (finished runs and
    analyses are reused).

    Args:
        out: the output folder.
        config: mixtures, seeds and budget (:class:`~compmech.experiments.icl_results.IclSettings`;
            ``None``: its defaults); written as ``results.json`` ``settings``.
        force: delete ``out`` first (runs and analyses included).
        progress: progress bars while training.
        log: where progress lines go (``None``: nowhere).

    Returns:
        the ``results.json`` content.
    """
    settings = IclSettings() if config is None else config
    say = log or (lambda _: None)
    out = Path(out)
    seeds, mixtures, steps, tiny = settings.seeds, settings.mixtures, settings.steps, settings.tiny
    per_run = None if settings.minutes is None else settings.minutes * TRAIN_SHARE / (
        len(mixtures) * len(seeds))
    if force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    check_manifest(out, settings.to_dict(), False)
    (out / "results").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    summaries: dict[str, MixtureSummary] = {}
    for name in mixtures:
        first = train_config(name, minutes=per_run, steps=steps, tiny=tiny, seed=seeds[0])
        theory = _cached(out / "results" / f"theory_{name}.json", TheoryCurves,
                         lambda n=name, c=first: theory_curves(
                             n, c.model.n_ctx, num_samples=2000 if tiny else THEORY_SAMPLES))
        say(f"{name}: optimum curves ({theory.method})")
        runs = []
        for seed in seeds:
            cfg = first.replace(seed=seed)
            run_dir = out / "runs" / f"{name}_seed{seed}"
            budget = f"{per_run:.2f} min" if per_run else f"{cfg.steps} steps"
            say(f"{name} seed {seed}: training ({budget})")
            run = train_or_resume(cfg, run_dir, progress)
            runs.append(_cached(out / "results" / f"{name}_seed{seed}.json", IclRun,
                                lambda r=run, n=name: analyse_run(r, QUERY_TOKENS.get(n))))
        summaries[name] = summarise(name, theory, runs)
    results = IclResults(settings, summaries, first.model.to_dict(),
                         {k: v for k, v in first.to_dict().items() if k not in ("hmm", "model")},
                         time.perf_counter() - t0)
    results.write(out / RESULTS)
    (out / "figures").mkdir(exist_ok=True)
    figures = [icl_figure(m, out / "figures" / name)[0] for name, m in results.mixtures.items()]
    atomic_write_text(out / "README.md", report_text(results, figures))
    return results


def _cached(path: Path, kind: type[R], compute: Callable[[], R]) -> R:
    """The record at ``path``, or ``compute()`` written there first (and read back, so that a
    resumed run summarises exactly what a fresh one does)."""
    if not path.exists():
        compute().write(path)
    return read_result(kind, path, "compmech reproduce icl")


def report_text(results: IclResults, figures: Sequence[Path]) -> str:
    """``README.md``: the protocol in one paragraph, the table, the figures."""
    s = results.settings
    m = model_config_from_dict(results.model)
    budget = (f"{s.steps} steps per run" if s.steps else
              f"{s.minutes:.3g} minutes of training in all" if s.minutes else "")
    lines = [
        "# In-context learning of non-ergodic mixtures (arXiv 2505.18373)", "",
        "Protocol: the `wonka_dursley` mixture of the group's library configuration of that time "
        "(Astera-org/simplexity@41a1662, inferred to be the paper's) plus two Mess3 mixtures; "
        f"our model ({m.n_layers} layers, d_model {m.d_model}, {m.n_heads} heads x "
        f"{m.d_head}, n_ctx {m.n_ctx} with BOS; the paper's sequences are 100 long). "
        f"Seeds {s.seeds}; {'tiny settings' if s.tiny else ''}{budget}. "
        f"Wall time {results.wall_time_s:.0f} s. The paper's own exponents and transition "
        "steps are not public as numbers.", "",
        "Fits are against t = position + 1 on log(excess); the better one has the smaller RMS "
        "log residual. ± is the std over seeds.", "",
        markdown_table(results.mixtures), "",
    ]
    lines += [f"![{p.stem}](figures/{p.name})" for p in figures]
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_MINUTES", "MIXTURES", "N_CTX", "analyse_run", "icl_mixture", "markdown_table",
           "model_config", "run_icl", "summarise", "theory_curves", "train_config"]
