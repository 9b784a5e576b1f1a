"""The heads experiment: how many attention heads does the theory ask for?

A softmax head's pattern is non-negative, so one head can realise the belief update's decay
``lambda^(t - s)`` only when ``lambda > 0``. For Mess3, ``lambda = 1 - 3x`` changes sign at
``x = 1/3``; the prediction (Piotrowski et al. 2025) is that a one-layer transformer with one head
fails where ``lambda < 0`` and two heads recover.

:func:`run_heads` trains one-layer transformers on Mess3 at each ``x`` (both sides of 1/3) with each
number of heads, the total head width ``n_heads * d_head`` held fixed (one head of 16 against two of
8: the same parameters, so only the number of attention patterns differs), and reports the loss gap
to the optimum, the probe error (:mod:`compmech.pipeline.jobs`) and each head's attention fit
(:mod:`compmech.pipeline.mechanisms`, written into each run's ``mechanisms/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from compmech.files import atomic_write_text
from compmech.information import myopic_entropy
from compmech.pipeline import figures
from compmech.pipeline.jobs import (
    RUNS_DIR,
    ExperimentSummary,
    Job,
    JobResult,
    config_with,
    recipe,
    run_experiment,
)
from compmech.pipeline.mechanism_reports import ATTENTION_FILE, MECHANISMS_DIR, run_attention_analysis
from compmech.pipeline.mechanisms import AttentionReport, decay_pattern, distance_profile
from compmech.pipeline.reports import environment, failure_lines, invocation_text
from compmech.processes import get_process

#: Mess3 ``x`` values: ``lambda = 1 - 3x`` in {0.85, 0.55, 0.25, -0.2, -0.35}.
DEFAULT_X = (0.05, 0.15, 0.25, 0.40, 0.45)
DEFAULT_HEADS = (1, 2)
DEFAULT_ALPHA = 0.85
#: ``n_heads * d_head`` of every model.
DEFAULT_HEAD_WIDTH = 16
#: Optimiser steps per model (a fixed count rather than a time budget, so that every model gets the
#: same schedule whatever the machine's load: 200 warmup steps, then the cosine).
DEFAULT_STEPS = 600

HEADS_COLUMNS = (
    ("run", "name", "s"),
    ("x", "labels.x", ".3f"),
    ("lambda", "labels.lambda", "+.3f"),
    ("heads", "labels.n_heads", "d"),
    ("steps", "train.steps", "d"),
    ("loss gap (nats)", "loss.loss_gap", ".2e"),
    ("probe MSE", "probe.mse_test", ".2e"),
    ("shuffle MSE", "probe.shuffle_mse", ".2e"),
    ("minutes", "seconds", ".1f"),
)


def mess3_lambda(x: float) -> float:
    """``1 - 3x``: the non-unit eigenvalue of Mess3's ``sum_x T[x]`` (double)."""
    return 1.0 - 3.0 * float(x)


def heads_jobs(xs: Sequence[float] = DEFAULT_X, heads: Sequence[int] = DEFAULT_HEADS, *,
               alpha: float = DEFAULT_ALPHA, head_width: int = DEFAULT_HEAD_WIDTH,
               n_layers: int = 1, minutes_per_job: float | None = None,
               steps: int | None = DEFAULT_STEPS, base_config=None, seed: int = 0,
               device: str | None = None) -> list[Job]:
    """One job per ``(x, n_heads)``: a ``n_layers``-layer transformer (the rest of
    ``base_config.model``) with ``n_heads`` heads of ``head_width // n_heads``.

    Raises:
        ValueError: a ``head_width`` not divisible by every number of heads, or an invalid ``x``.
    """
    if steps is None and minutes_per_job is None:
        raise ValueError("give minutes_per_job or steps")
    if minutes_per_job is not None:
        steps = None
    heads = [int(h) for h in heads]
    if not heads or min(heads) < 1 or len(set(heads)) != len(heads):
        raise ValueError(f"heads must be distinct positive integers; got {heads}")
    bad = [h for h in heads if head_width % h]
    if bad:
        raise ValueError(f"head_width {head_width} is not divisible by the numbers of heads {bad}")
    overrides: dict[str, Any] = {"seed": int(seed), "minutes": minutes_per_job,
                                 "steps": int(steps) if steps is not None else 10_000_000}
    if device is not None:
        overrides["device"] = device
    base = config_with(base_config, overrides)
    jobs = []
    for x in xs:
        params = {"x": float(x), "alpha": float(alpha)}
        hmm = get_process("mess3", **params)  # validates x and alpha now
        for h in heads:
            model = base.model.replace(n_layers=int(n_layers), n_heads=h, d_head=head_width // h,
                                       d_vocab=hmm.vocab_size + (1 if base.bos else 0))
            cfg = base.replace(process="mess3", process_params=params, model=model, hmm=None)
            labels = {"process": "mess3", **params, "lambda": mess3_lambda(x), "n_heads": h}
            jobs.append(Job(f"mess3_x{x:.3f}_h{h}", cfg.to_dict(), labels, int(seed)))
    return jobs


def run_heads(out_dir, *, xs: Sequence[float] = DEFAULT_X, heads: Sequence[int] = DEFAULT_HEADS,
              alpha: float = DEFAULT_ALPHA, head_width: int = DEFAULT_HEAD_WIDTH, n_layers: int = 1,
              minutes_per_job: float | None = None, steps: int | None = DEFAULT_STEPS,
              base_config=None, seed: int = 0, workers: int = 1, device: str | None = None,
              force: bool = False, progress: bool = False,
              log: Callable[[str], None] | None = print) -> ExperimentSummary:
    """The heads experiment (module docstring): train, probe, fit attention, write the report.

    Args:
        out_dir: the experiment folder (resumable: finished jobs are not redone).
        xs: Mess3 ``x`` values (``lambda = 1 - 3x``).
        heads: numbers of heads.
        alpha: Mess3 ``alpha``.
        head_width: ``n_heads * d_head`` of every model.
        n_layers: transformer layers (1: the theory's setting).
        minutes_per_job: training budget per model (then ``steps`` is ignored); ``None`` trains
            exactly ``steps``.
        steps: optimiser steps (default :data:`DEFAULT_STEPS`).
        base_config: other model and optimiser settings (:class:`transformer.TrainConfig`).
        seed, workers, device, force, progress, log: as :func:`compmech.pipeline.sweep.run_sweep`.

    Returns:
        The :class:`~compmech.pipeline.jobs.ExperimentSummary` (also ``summary.json``).
    """
    out_dir = Path(out_dir)
    jobs = heads_jobs(xs, heads, alpha=alpha, head_width=head_width, n_layers=n_layers,
                      minutes_per_job=minutes_per_job, steps=steps, base_config=base_config,
                      seed=seed, device=device)
    manifest = {"experiment": "heads", "xs": list(xs), "heads": list(heads), "alpha": alpha,
                "head_width": head_width, "n_layers": n_layers, "seed": seed,
                "minutes_per_job": minutes_per_job, "steps": steps,
                "model": jobs[0].train_config["model"], "recipe": recipe(jobs[0].train_config)}
    done, outcome, wall = run_experiment(jobs, out_dir, manifest, HEADS_COLUMNS, workers=workers,
                                         progress=progress, log=log, force=force)
    settings = {"xs": list(xs), "heads": list(heads), "alpha": alpha, "head_width": head_width,
                "n_layers": n_layers, "model": done[0].model}
    return write_heads_report(out_dir, done, settings, wall_seconds=wall,
                              computed=outcome.computed, failed=outcome.failed, workers=workers)


# ------------------------------------------------------------------------------------ report
def context_value_nats(hmm, n_words: int, k: int) -> float:
    """What context beyond the last ``k`` tokens is worth: the optimal loss of a predictor seeing
    only the last ``k`` tokens minus the optimum, averaged over the ``n_words`` positions, in nats
    (``mean_t h(min(t, k) + 1) - h(t + 1)`` with the myopic entropies ``h``). A model's loss gap
    above this value means it has not even learned the order-``k`` statistics."""
    h = myopic_entropy(hmm, n_words) * math.log(2.0)
    t = np.arange(n_words)
    return float((h[np.minimum(t, k)] - h[t]).mean())


def _context_values(result: JobResult) -> tuple[float, float]:
    hmm = get_process("mess3", **result.process_params)
    n_words = result.model["n_ctx"] - (result.model["d_vocab"] - hmm.vocab_size)
    return context_value_nats(hmm, n_words, 1), context_value_nats(hmm, n_words, 2)


def job_attention(out_dir, result: JobResult) -> AttentionReport:
    """The attention analysis of a job's run (read from its ``mechanisms/attention.json`` when an
    earlier report wrote it for the same checkpoint)."""
    run_dir = Path(out_dir) / RUNS_DIR / result.name
    path = run_dir / MECHANISMS_DIR / ATTENTION_FILE
    if path.exists():
        saved = AttentionReport.read(path)
        if saved.step == result.train.steps:
            return saved
    return run_attention_analysis(run_dir, force=True)[0]


def head_fit_text(report: AttentionReport) -> str:
    """``rho parity (explained)`` of each head of the first layer, e.g. ``0.84 all (0.99)``."""
    parts = []
    for h in report.heads:
        if h.layer != 0:
            continue
        f = h.fit if h.best_parity == "all" else h.parity_fits[h.best_parity]
        parts.append(f"{f.rate:.2f} {f.parity} ({_fmt(f.explained, '.2f')}); "
                     f"all {h.fit.rate:.2f}+-{h.fit.rate_se:.2f} ({_fmt(h.fit.explained, '.2f')})")
    return " / ".join(parts)


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def heads_table(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> str:
    """The markdown table: one row per model with its first-layer head fits."""
    head = ["x", "lambda", "heads", "steps", "context beyond 1 / 2 tokens (nats)",
            "loss gap (nats)", "probe MSE", "shuffle MSE",
            "head fits: best rho parity (explained); all-distance rho+-se (explained)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in results:
        one, two = _context_values(r)
        lines.append("| " + " | ".join([
            f"{r.labels['x']:.3f}", f"{r.labels['lambda']:+.2f}", str(r.labels["n_heads"]),
            str(r.train.steps), f"{one:.2e} / {two:.2e}",
            _fmt(r.loss.loss_gap if r.loss else None, ".2e"),
            _fmt(r.probe.mse_test, ".2e"), _fmt(r.probe.shuffle_mse, ".2e"),
            head_fit_text(attention[r.name])]) + " |")
    return "\n".join(lines)


def verdict_lines(results: Sequence[JobResult]) -> list[str]:
    """Does a second head help where ``lambda < 0`` and not where ``lambda > 0``? Per ``x``: the
    loss gap and probe MSE of the fewest heads against the most."""
    by_x: dict[float, dict[int, JobResult]] = {}
    for r in results:
        by_x.setdefault(round(r.labels["x"], 9), {})[r.labels["n_heads"]] = r
    lines = []
    for x, rows in sorted(by_x.items()):
        if len(rows) < 2 or any(r.loss is None for r in rows.values()):
            continue
        lo, hi = rows[min(rows)], rows[max(rows)]
        lines.append(
            f"- x = {x:.3f} (lambda {mess3_lambda(x):+.2f}): loss gap {lo.loss.loss_gap:.2e} with "
            f"{min(rows)} head(s), {hi.loss.loss_gap:.2e} with {max(rows)} "
            f"(ratio {_ratio(lo.loss.loss_gap, hi.loss.loss_gap)}); probe MSE "
            f"{lo.probe.mse_test:.2e} vs {hi.probe.mse_test:.2e}")
    return lines


def _ratio(a: float, b: float) -> str:
    return "n/a" if not b > 0 else f"{a / b:.2f}"


def heads_figure(results: Sequence[JobResult]) -> Figure:
    """Loss gap and probe MSE against ``lambda``, one line per number of heads."""
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    ax_loss, ax_probe = fig.subplots(1, 2)
    for h in sorted({r.labels["n_heads"] for r in results}):
        rows = sorted((r for r in results if r.labels["n_heads"] == h),
                      key=lambda r: r.labels["lambda"])
        lam = [r.labels["lambda"] for r in rows]
        gap = [r.loss.loss_gap if r.loss else np.nan for r in rows]
        ax_loss.plot(lam, gap, "o-", label=f"{h} head(s)")
        ax_probe.semilogy(lam, [r.probe.mse_test for r in rows], "o-", label=f"{h} head(s)")
    for ax, title in ((ax_loss, "loss gap to optimum (nats)"), (ax_probe, "held-out probe MSE")):
        ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel("lambda = 1 - 3x")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return fig


def attention_grid(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> Figure:
    """First-layer attention by distance of every model (rows ``x``, columns numbers of heads),
    each head's profile with the theory's ``|lambda|^(t - s)`` curve."""
    xs = sorted({r.labels["x"] for r in results})
    hs = sorted({r.labels["n_heads"] for r in results})
    fig = Figure(figsize=(2.8 * len(hs), 2.2 * len(xs)), layout="constrained")
    axes = fig.subplots(len(xs), len(hs), squeeze=False)
    for r in results:
        ax = axes[xs.index(r.labels["x"]), hs.index(r.labels["n_heads"])]
        rep = attention[r.name]
        for h in rep.heads:
            if h.layer == 0:
                ax.semilogy(np.arange(len(h.profile)), np.maximum(h.profile, 1e-6), "o-", ms=3,
                            label=f"head {h.head} ({h.best_parity})")
        lam = r.labels["lambda"]
        P = len(rep.heads[0].profile)
        if lam != 0:
            ax.semilogy(np.arange(P), distance_profile(decay_pattern(abs(lam), P)), "--",
                        color="black", lw=0.8, label=f"|lambda|={abs(lam):.2f}")
        ax.set_title(f"x={r.labels['x']:.2f} (lambda {lam:+.2f}), {r.labels['n_heads']} head(s)",
                     fontsize=8)
        ax.set_ylim(1e-4, 1.5)
        ax.legend(fontsize=5)
    for ax in axes[-1]:
        ax.set_xlabel("distance t - s")
    return fig


def write_heads_report(out_dir, results: Sequence[JobResult], settings: dict, *,
                       wall_seconds: float, computed=(), failed=None,
                       workers: int = 1) -> ExperimentSummary:
    """Attention fits of every run, figures, ``summary.json`` and ``README.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    attention = {r.name: job_attention(out_dir, r) for r in results}
    files = figures.save(heads_figure(results), out_dir / "heads_loss_probe")
    files += figures.save(attention_grid(results, attention), out_dir / "heads_attention")
    summary = ExperimentSummary(
        experiment="heads",
        settings={**settings, "attention": {n: a.to_dict() for n, a in attention.items()}},
        rows=list(results), total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"])
    summary.write(out_dir / "summary.json")
    pngs = [f for f in files if f.suffix == ".png"]
    atomic_write_text(out_dir / "README.md", _markdown(summary, results, attention, pngs))
    return summary


def _markdown(summary: ExperimentSummary, results, attention, pngs) -> str:
    s, m, first = summary.settings, summary.settings["model"], results[0]
    budget = first.train.minutes_budget
    return "\n".join([
        "# Heads experiment", "",
        f"Mess3 (alpha {s['alpha']}) at x in {s['xs']} (lambda = 1 - 3x), one model per (x, heads): "
        f"{s['n_layers']} layer(s), d_model {m['d_model']}, d_mlp {m['d_mlp']}, n_ctx {m['n_ctx']}, "
        f"heads {s['heads']} with n_heads x d_head = {s['head_width']}; training "
        + (f"{budget} min" if budget else f"{first.train.steps} steps") + " per model.",
        "", "Prediction (Piotrowski et al. 2025): one head fails where lambda < 0 (a softmax pattern "
        "cannot alternate in sign), two heads recover.", "",
        heads_table(results, attention), "", *verdict_lines(results), "",
        *failure_lines(summary.failed),
        "Context beyond 1 / 2 tokens: what the optimal predictor gains over one that sees only "
        "the last 1 / 2 tokens (mean over positions, from the myopic entropies): the part of the "
        "loss an attention layer can win beyond the current token's own embedding (with 1) and "
        "beyond the previous token (with 2). A loss gap of that size means the model has not "
        "learned that part. ",
        "Head fits: the first layer's mean attention pattern (all inputs, weighted by probability) "
        "fitted by the row-normalised decay rho^(t-s) on all distances, or on even / odd distances "
        "only (the best of the three by explained fraction, then the all-distance fit with its "
        "standard error); explained = 1 - RSS/TSS about uniform attention "
        "(see `compmech.pipeline.mechanisms`).", "",
        "## Figures", "", *[f"![{p.stem}]({p.name})" for p in pngs], "",
        f"Total job time {summary.total_job_seconds / 60:.1f} min; "
        f"{invocation_text(summary.environment)}.", "",
    ])


__all__ = ["DEFAULT_ALPHA", "DEFAULT_HEADS", "DEFAULT_HEAD_WIDTH", "DEFAULT_STEPS", "DEFAULT_X",
           "HEADS_COLUMNS", "attention_grid", "context_value_nats", "heads_figure", "heads_jobs",
           "heads_table", "job_attention", "mess3_lambda", "run_heads", "verdict_lines", "write_heads_report"]
