"""The heads experiment: how many attention heads does the theory ask for?

A softmax head's pattern is non-negative, so one head can realise the belief update's decay
``lambda^(t - s)`` only when ``lambda > 0``. For Mess3, ``lambda = 1 - 3x`` changes sign at
``x = 1/3``; the prediction (Piotrowski et al. 2025) is that a one-layer transformer with one head
fails where ``lambda < 0`` and two heads recover.

:func:`run_heads` trains one-layer transformers on Mess3 at each ``x`` (both sides of 1/3) with each
number of heads, the total head width ``n_heads * d_head`` held fixed (one head of 16 against two of
8: the same parameters, so only the number of attention patterns differs), and reports the loss gap
to the optimum, the probe error (:mod:`compmech.experiments.runner`) and each head's attention fit
(:mod:`compmech.mechanisms.attention`, written into each run's ``mechanisms/``).

**The alpha sweep** (``alphas``): at fixed ``x`` (e.g. 0.05, ``lambda = 0.85``), Mess3's emission
strength ``alpha`` moves the constrained update's best decay ``rho*``
(:func:`compmech.constrained_decay`: 0.85 at alpha = 0.45, about 0.55-0.6 at alpha = 0.85) while
``lambda`` stays put, so the first layer's measured decay can be set against both: the report
lists each model's decay beside ``lambda`` and ``rho*`` and says which is nearer. With several
``seeds`` every decay is given as mean +- std over them (a single fit's error is a misfit).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from compmech.experiments.mechanisms import ATTENTION_FILE, MECHANISMS_DIR, run_attention_analysis
from compmech.experiments.reports import environment, failure_lines, invocation_text
from compmech.experiments.results import RUNS_DIR, ExperimentSummary, Job, JobResult
from compmech.experiments.runner import config_with, recipe, run_experiment
from compmech.experiments.tables import MINUTES_COLUMN, Column, loss_gap
from compmech.figures.common import save
from compmech.figures.mechanisms import anchored_decay
from compmech.files import atomic_write_text
from compmech.formatting import fmt
from compmech.information import myopic_entropy
from compmech.mechanisms.attention import AttentionReport, seed_spread
from compmech.processes import get_process
from compmech.records import Record

#: Mess3 ``x`` values: ``lambda = 1 - 3x`` in {0.85, 0.55, 0.25, -0.2, -0.35}.
DEFAULT_X = (0.05, 0.15, 0.25, 0.40, 0.45)
DEFAULT_HEADS = (1, 2)
DEFAULT_ALPHA = 0.85
#: The alpha sweep at fixed x (``HeadsConfig(alphas=...)``; the x is :data:`ALPHA_SWEEP_X`).
ALPHA_SWEEP = (0.4, 0.5, 0.6, 0.7, 0.85)
ALPHA_SWEEP_X = 0.05
#: ``n_heads * d_head`` of every model.
DEFAULT_HEAD_WIDTH = 16
#: Optimiser steps per model (a fixed count rather than a time budget, so that every model gets the
#: same schedule whatever the machine's load: 200 warmup steps, then the cosine).
DEFAULT_STEPS = 600

HEADS_COLUMNS = (
    Column("run", lambda r: r.name, "s"),
    Column("x", lambda r: _labels(r).x, ".3f"),
    Column("alpha", lambda r: _labels(r).alpha, ".3f"),
    Column("lambda", lambda r: _labels(r).lam, "+.3f"),
    Column("heads", lambda r: _labels(r).n_heads, "d"),
    Column("steps", lambda r: r.train.steps, "d"),
    Column("loss gap (nats)", loss_gap, ".2e"),
    Column("probe MSE", lambda r: r.probe.mse_test, ".2e"),
    Column("shuffle MSE", lambda r: r.probe.shuffle_mse, ".2e"),
    MINUTES_COLUMN,
)


def mess3_lambda(x: float) -> float:
    """``1 - 3x``: the non-unit eigenvalue of Mess3's ``sum_x T[x]`` (double)."""
    return 1.0 - 3.0 * float(x)


def _distinct(values, what: str, kind=float) -> list:
    out = [kind(v) for v in values]
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{what} must be a non-empty list of distinct values; got {list(values)}")
    return out


@dataclass
class HeadsLabels(Record):
    """A heads job's point: Mess3 ``(x, alpha)``, the number of heads and (in a seed sweep) the
    seed. Its labels also hold ``lambda = 1 - 3x`` for readers of ``results/*.json``
    (:meth:`to_labels`)."""

    x: float
    alpha: float
    n_heads: int
    process: str = "mess3"
    seed: int | None = None

    @property
    def lam(self) -> float:
        """``lambda = 1 - 3x``."""
        return mess3_lambda(self.x)

    def to_labels(self) -> dict[str, Any]:
        """The job's labels: the fields (without an unset seed) and ``lambda``."""
        return {k: v for k, v in {**self.to_dict(), "lambda": self.lam}.items() if v is not None}

    @classmethod
    def of(cls, result: JobResult) -> HeadsLabels:
        """The labels of ``result`` (``lambda`` is recomputed from ``x``)."""
        return cls.from_dict({k: v for k, v in result.labels.items() if k != "lambda"})


@dataclass(frozen=True, kw_only=True)
class HeadsConfig(Record):
    """The heads experiment's options (the folder's ``experiment.json`` holds them, and
    ``summary.json`` ``settings``, :class:`HeadsSettings`).

    Attributes:
        xs: Mess3 ``x`` values (``lambda = 1 - 3x``), distinct.
        heads: numbers of attention heads, distinct positive integers that divide ``head_width``.
        alpha: Mess3 ``alpha`` of every model (without ``alphas``).
        head_width: ``n_heads * d_head`` of every model.
        n_layers: transformer layers (1: the theory's setting).
        seed: the seed of every model (without ``seeds``): its initialisation, data and probe.
        minutes_per_job: training budget per model in minutes (then ``steps`` is ignored);
            ``None`` trains exactly ``steps``.
        steps: optimiser steps per model (default :data:`DEFAULT_STEPS`; a fixed count, so every
            model gets the same schedule whatever the machine's load).
        alphas: the alpha sweep: these distinct ``alpha`` values instead of ``alpha`` (e.g.
            :data:`ALPHA_SWEEP` at ``xs = (ALPHA_SWEEP_X,)``); they then appear in the job names
            (``mess3_x0.050_a0.400_h1``).
        seeds: one model per training seed (distinct) instead of ``seed``, each decay then reported
            as mean +- std over them; the seeds appear in the job names (``..._h1_s0``).

    Raises:
        ValueError: an option out of range, repeated values, a ``head_width`` not divisible by
            every number of heads, an invalid Mess3 ``x`` or ``alpha``, or neither
            ``minutes_per_job`` nor ``steps``.
    """

    xs: tuple[float, ...] = DEFAULT_X
    heads: tuple[int, ...] = DEFAULT_HEADS
    alpha: float = DEFAULT_ALPHA
    head_width: int = DEFAULT_HEAD_WIDTH
    n_layers: int = 1
    seed: int = 0
    minutes_per_job: float | None = None
    steps: int | None = DEFAULT_STEPS
    alphas: tuple[float, ...] | None = None
    seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        heads = tuple(int(h) for h in self.heads)
        if not heads or min(heads) < 1 or len(set(heads)) != len(heads):
            raise ValueError(f"heads must be distinct positive integers; got {list(heads)}")
        set_ = functools.partial(object.__setattr__, self)
        set_("heads", heads)
        set_("xs", tuple(_distinct(self.xs, "xs")))
        set_("alpha", float(self.alpha))
        if self.alphas is not None:
            set_("alphas", tuple(_distinct(self.alphas, "alphas")))
        if self.seeds is not None:
            set_("seeds", tuple(_distinct(self.seeds, "seeds", int)))
        for name in ("head_width", "n_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        bad = [h for h in heads if self.head_width % h]
        if bad:
            raise ValueError(f"head_width {self.head_width} is not divisible by the numbers of "
                             f"heads {bad}")
        if self.steps is None and self.minutes_per_job is None:
            raise ValueError("give minutes_per_job or steps")
        if self.steps is not None and int(self.steps) < 1:
            raise ValueError(f"steps must be a positive integer; got {self.steps}")
        if self.minutes_per_job is not None and not self.minutes_per_job > 0:
            raise ValueError(f"minutes_per_job must be > 0; got {self.minutes_per_job}")
        for x in self.xs:
            for a in self.alpha_values:
                get_process("mess3", x=x, alpha=a)  # raises on an invalid x or alpha

    @property
    def alpha_values(self) -> list[float]:
        """The Mess3 ``alpha`` of the models: ``alphas``, or ``[alpha]``."""
        return [self.alpha] if self.alphas is None else list(self.alphas)

    @property
    def seed_values(self) -> list[int]:
        """The training seeds of the models: ``seeds``, or ``[seed]``."""
        return [self.seed] if self.seeds is None else list(self.seeds)


@dataclass(frozen=True, kw_only=True)
class HeadsSettings(HeadsConfig):
    """``summary.json`` ``settings``: the options (:class:`HeadsConfig`), the first job's model and
    the attention analysis of every run.

    Attributes:
        model: the first job's model config (a dict).
        attention: the attention analysis of every run, by job name.
    """

    model: dict[str, Any] = field(default_factory=dict)
    attention: dict[str, AttentionReport] = field(default_factory=dict)


@dataclass
class HeadsSummary(ExperimentSummary):
    """The heads experiment's ``summary.json``."""

    settings: HeadsSettings


def _labels(r: JobResult) -> HeadsLabels:
    return HeadsLabels.of(r)


def heads_jobs(config: HeadsConfig | None = None, *, base_config=None,
               device: str | None = None) -> list[Job]:
    """One job per ``(x, alpha, seed, n_heads)``: a ``n_layers``-layer transformer (the rest of
    ``base_config.model``) with ``n_heads`` heads of ``head_width // n_heads``.

    Args:
        config: the options (:class:`HeadsConfig`; default: its defaults). With ``alphas`` or
            ``seeds`` their values appear in the job names (``mess3_x0.050_a0.400_h1_s0``);
            without them the names are ``mess3_x0.050_h1`` as before.
        base_config: other model and optimiser settings (:class:`transformer.TrainConfig`, its
            dict, or ``None`` for the defaults).
        device: the training device (``None``: the config's).
    """
    c = config or HeadsConfig()
    steps = None if c.minutes_per_job is not None else c.steps
    overrides: dict[str, Any] = {"minutes": c.minutes_per_job,
                                 "steps": int(steps) if steps is not None else 10_000_000}
    if device is not None:
        overrides["device"] = device
    base = config_with(base_config, overrides)
    jobs = []
    for x in c.xs:
        for a in c.alpha_values:
            params = {"x": float(x), "alpha": a}
            hmm = get_process("mess3", **params)
            for s in c.seed_values:
                for h in c.heads:
                    model = base.model.replace(n_layers=int(c.n_layers), n_heads=h,
                                               d_head=c.head_width // h,
                                               d_vocab=hmm.vocab_size + (1 if base.bos else 0))
                    cfg = base.replace(process="mess3", process_params=params, model=model,
                                       hmm=None, seed=s)
                    labels = HeadsLabels(x=float(x), alpha=a, n_heads=h,
                                         seed=None if c.seeds is None else s)
                    name = f"mess3_x{x:.3f}" + (f"_a{a:.3f}" if c.alphas is not None else "")
                    name += f"_h{h}" + (f"_s{s}" if c.seeds is not None else "")
                    jobs.append(Job(name, cfg.to_dict(), labels.to_labels(), s))
    return jobs


def run_heads(out_dir, config: HeadsConfig | None = None, *, base_config=None, workers: int = 1,
              device: str | None = None, force: bool = False, progress: bool = False,
              log: Callable[[str], None] | None = print) -> HeadsSummary:
    """The heads experiment (module docstring): train, probe, fit attention, write the report.

    Args:
        out_dir: the experiment folder (resumable: finished jobs are not redone; a folder holding
            other options is refused unless ``force``).
        config: the options (:class:`HeadsConfig`; default: its defaults).
        base_config: other model and optimiser settings (:class:`transformer.TrainConfig`).
        workers: as :func:`compmech.experiments.sweep.run_sweep`.
        device: training device, ``"cpu"``, ``"gpu"`` or ``"auto"`` (``None``: ``base_config``'s).
        force: as :func:`compmech.experiments.sweep.run_sweep`.
        progress: as :func:`compmech.experiments.sweep.run_sweep`.
        log: as :func:`compmech.experiments.sweep.run_sweep`.

    Returns:
        The :class:`HeadsSummary` (also ``summary.json``).
    """
    out_dir = Path(out_dir)
    config = config or HeadsConfig()
    jobs = heads_jobs(config, base_config=base_config, device=device)
    options = config.to_dict()
    manifest = {"experiment": "heads",
                **{k: v for k, v in options.items() if k not in ("alphas", "seeds")},
                "model": config_with(jobs[0].train_config, {}).model.to_dict(),
                "recipe": recipe(jobs[0].train_config)}
    for key in ("alphas", "seeds"):
        if options[key] is not None:
            manifest[key] = options[key]
    done, outcome, wall = run_experiment(jobs, out_dir, manifest, HEADS_COLUMNS, workers=workers,
                                         progress=progress, log=log, force=force)
    settings = HeadsSettings(**vars(config), model=done[0].model)
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
    model = result.model_config
    n_words = model.n_ctx - (model.d_vocab - hmm.vocab_size)
    return context_value_nats(hmm, n_words, 1), context_value_nats(hmm, n_words, 2)


def job_attention(out_dir, result: JobResult) -> AttentionReport:
    """The attention analysis of a job's run (read from its ``mechanisms/attention.json`` when an
    earlier report wrote it for the same checkpoint in the current format)."""
    run_dir = Path(out_dir) / RUNS_DIR / result.name
    path = run_dir / MECHANISMS_DIR / ATTENTION_FILE
    if path.exists():
        try:
            saved = AttentionReport.read(path)
        except ValueError:  # written by an older fit: refit
            saved = None
        if saved is not None and saved.step == result.train.steps and (
                saved.theory_rho_star is not None):
            return saved
    return run_attention_analysis(run_dir, force=True)[0]


def head_fit_text(report: AttentionReport) -> str:
    """``rho parity (R2)`` of each head of the first layer, then the all-distance decay with its
    misfit error, e.g. ``0.84 all (0.99); all 0.84 misfit 0.01``."""
    parts = []
    for h in report.heads:
        if h.layer != 0:
            continue
        f = h.fit if h.best_parity == "all" else h.parity_fits[h.best_parity]
        parts.append(f"{fmt(f.rate, '.2f')} {f.parity} ({fmt(f.explained, '.2f')}); "
                     f"all {fmt(h.fit.rate, '.2f')} misfit {fmt(h.fit.rate_misfit, '.2f')}")
    return " / ".join(parts)


def heads_table(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> str:
    """The markdown table: one row per model with its first-layer head fits."""
    head = ["x", "alpha", "lambda", "rho*", "heads", "seed", "steps",
            "context beyond 1 / 2 tokens (nats)", "loss gap (nats)", "probe MSE", "shuffle MSE",
            "head fits: best rho parity (R2 of log fit); all-distance rho, misfit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in results:
        one, two = _context_values(r)
        rep, p = attention[r.name], _labels(r)
        lines.append("| " + " | ".join([
            f"{p.x:.3f}", f"{p.alpha:.3f}", f"{p.lam:+.2f}",
            fmt(rep.theory_rho_star, ".3f"), str(p.n_heads),
            "-" if p.seed is None else str(p.seed), str(r.train.steps), f"{one:.2e} / {two:.2e}",
            fmt(r.loss.loss_gap if r.loss else None, ".2e"),
            fmt(r.probe.mse_test, ".2e"), fmt(r.probe.shuffle_mse, ".2e"),
            head_fit_text(rep)]) + " |")
    return "\n".join(lines)


def _groups(results: Sequence[JobResult]) -> dict[tuple, list[JobResult]]:
    """Results by ``(x, alpha, n_heads)`` (the seeds of one model together)."""
    out: dict[tuple, list[JobResult]] = {}
    for r in results:
        p = _labels(r)
        out.setdefault((round(p.x, 9), round(p.alpha, 9), p.n_heads), []).append(r)
    return out


def decay_lines(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> list[str]:
    """Per model: the first layer's decays (mean +- std over seeds, heads matched by rank) beside
    ``lambda`` and ``rho*``, and which of the two is nearer."""
    lines = []
    for (x, a, h), rows in sorted(_groups(results).items()):
        reps = [attention[r.name] for r in rows]
        lam, rho_star = reps[0].theory_lambda, reps[0].theory_rho_star
        for d in seed_spread(reps):
            if d.layer != 0:
                continue
            spread = (f"+- {d.std:.3f} over {len(d.rates)} seeds" if d.std is not None
                      else "(one seed: no uncertainty)")
            nearer = ""
            if lam is not None and rho_star is not None:
                gap_lam, gap_star = abs(d.mean - abs(lam)), abs(d.mean - rho_star)
                nearer = f"; nearer {'rho*' if gap_star < gap_lam else '|lambda|'}"
            lines.append(f"- x = {x:.3f}, alpha = {a:.3f}, {h} head(s), head rank {d.rank}: "
                         f"rho {d.mean:.3f} {spread}; |lambda| {fmt(abs(lam), '.3f')}, "
                         f"rho* {fmt(rho_star, '.3f')}{nearer}")
    return lines


def verdict_lines(results: Sequence[JobResult]) -> list[str]:
    """Does a second head help where ``lambda < 0`` and not where ``lambda > 0``? Per ``(x,
    alpha)``: the loss gap and probe MSE of the fewest heads against the most (first seed)."""
    by_point: dict[tuple, dict[int, JobResult]] = {}
    for r in results:
        p = _labels(r)
        by_point.setdefault((round(p.x, 9), round(p.alpha, 9)), {}).setdefault(p.n_heads, r)
    lines = []
    for (x, a), rows in sorted(by_point.items()):
        if len(rows) < 2 or any(r.loss is None for r in rows.values()):
            continue
        lo, hi = rows[min(rows)], rows[max(rows)]
        lines.append(
            f"- x = {x:.3f} (lambda {mess3_lambda(x):+.2f}), alpha {a:.3f}: loss gap "
            f"{lo.loss.loss_gap:.2e} with {min(rows)} head(s), {hi.loss.loss_gap:.2e} with "
            f"{max(rows)} (ratio {_ratio(lo.loss.loss_gap, hi.loss.loss_gap)}); probe MSE "
            f"{lo.probe.mse_test:.2e} vs {hi.probe.mse_test:.2e}")
    return lines


def _ratio(a: float, b: float) -> str:
    return "n/a" if not b > 0 else f"{a / b:.2f}"


def _sweep_axis(results: Sequence[JobResult]) -> tuple[Callable[[JobResult], float], str]:
    """``(alpha of a result, label)`` when alpha varies (the alpha sweep), else ``(lambda of a
    result, label)``."""
    if len({round(_labels(r).alpha, 9) for r in results}) > 1:
        return lambda r: _labels(r).alpha, "Mess3 alpha (x fixed)"
    return lambda r: _labels(r).lam, "lambda = 1 - 3x"


def heads_figure(results: Sequence[JobResult]) -> Figure:
    """Loss gap and probe MSE against ``lambda`` (or ``alpha`` in the alpha sweep), one line per
    number of heads (every seed drawn)."""
    position, label = _sweep_axis(results)
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    ax_loss, ax_probe = fig.subplots(1, 2)
    for h in sorted({_labels(r).n_heads for r in results}):
        rows = sorted((r for r in results if _labels(r).n_heads == h), key=position)
        pos = [position(r) for r in rows]
        gap = [r.loss.loss_gap if r.loss else np.nan for r in rows]
        ax_loss.plot(pos, gap, "o-", label=f"{h} head(s)")
        ax_probe.semilogy(pos, [r.probe.mse_test for r in rows], "o-", label=f"{h} head(s)")
    for ax, title in ((ax_loss, "loss gap to optimum (nats)"), (ax_probe, "held-out probe MSE")):
        if label.startswith("lambda"):
            ax.axvline(0.0, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel(label)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return fig


def decay_figure(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> Figure:
    """The first layer's measured decays (every head of every seed) against ``alpha`` (or
    ``lambda``), with ``|lambda|`` and ``rho*`` of each point: which one do the networks follow?"""
    position, label = _sweep_axis(results)
    fig = Figure(figsize=(4.6, 3.4), layout="constrained")
    ax = fig.subplots()
    marks = {1: "o", 2: "s", 4: "^"}
    for h in sorted({_labels(r).n_heads for r in results}):
        pts = [(position(r), hd.fit.rate) for r in results if _labels(r).n_heads == h
               for hd in attention[r.name].heads if hd.layer == 0 and hd.fit.rate is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marks.get(h, "x"), alpha=0.7, ls="none",
                    label=f"measured, {h} head(s)")
    theory = sorted({(position(r), abs(_labels(r).lam), attention[r.name].theory_rho_star)
                     for r in results})
    ax.plot([t[0] for t in theory], [t[1] for t in theory], "--", color="tab:red",
            label="|lambda| (weak emission)")
    if all(t[2] is not None for t in theory):
        ax.plot([t[0] for t in theory], [t[2] for t in theory], ":", color="tab:green", lw=2,
                label="rho* (constrained update)")
    ax.set_xlabel(label)
    ax.set_ylabel("first-layer attention decay rho")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=7)
    return fig


def attention_grid(results: Sequence[JobResult], attention: dict[str, AttentionReport]) -> Figure:
    """First-layer attention by distance of the first seed of every model (rows ``(x, alpha)``,
    columns numbers of heads), each head's profile with ``|lambda|^k`` and ``rho*^k`` drawn
    through it (:func:`~compmech.figures.mechanisms.anchored_decay`)."""
    groups = _groups(results)
    points = sorted({(x, a) for x, a, _ in groups})
    hs = sorted({h for _, _, h in groups})
    fig = Figure(figsize=(2.8 * len(hs), 2.2 * len(points)), layout="constrained")
    axes = fig.subplots(len(points), len(hs), squeeze=False)
    for (x, a, h), rows in groups.items():
        r = rows[0]
        ax = axes[points.index((x, a)), hs.index(h)]
        rep = attention[r.name]
        for hd in rep.heads:
            if hd.layer == 0:
                ax.semilogy(np.arange(len(hd.profile)), np.maximum(hd.profile, 1e-6), "o-", ms=3,
                            label=f"head {hd.head} ({hd.best_parity})")
        lam = _labels(r).lam
        first = next(hd for hd in rep.heads if hd.layer == 0)
        ks = np.arange(1, len(first.profile))
        if lam != 0:
            ax.semilogy(ks, anchored_decay(abs(lam), first.profile, ks), "--", color="black",
                        lw=0.8, label=f"|lambda|={abs(lam):.2f}")
        if rep.theory_rho_star is not None:
            ax.semilogy(ks, anchored_decay(rep.theory_rho_star, first.profile, ks), ":",
                        color="tab:green", lw=1.2, label=f"rho*={rep.theory_rho_star:.2f}")
        ax.set_title(f"x={x:.2f} a={a:.2f} (lambda {lam:+.2f}), {h} head(s)", fontsize=7)
        ax.set_ylim(1e-4, 1.5)
        ax.legend(fontsize=5)
    for ax in axes[-1]:
        ax.set_xlabel("distance t - s")
    return fig


def write_heads_report(out_dir, results: Sequence[JobResult], settings: HeadsSettings, *,
                       wall_seconds: float, computed=(), failed=None,
                       workers: int = 1) -> HeadsSummary:
    """Attention fits of every run, figures, ``summary.json`` and ``README.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    attention = {r.name: job_attention(out_dir, r) for r in results}
    files = save(heads_figure(results), out_dir / "heads_loss_probe")
    files += save(attention_grid(results, attention), out_dir / "heads_attention")
    files += save(decay_figure(results, attention), out_dir / "heads_decay")
    summary = HeadsSummary(
        experiment="heads", settings=dataclasses.replace(settings, attention=attention),
        rows=list(results), total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"])
    summary.write(out_dir / "summary.json")
    pngs = [f for f in files if f.suffix == ".png"]
    atomic_write_text(out_dir / "README.md", _markdown(summary, results, attention, pngs))
    return summary


def _markdown(summary: HeadsSummary, results, attention, pngs) -> str:
    s, m, first = summary.settings, results[0].model_config, results[0]
    budget = first.train.minutes_budget
    alphas = s.alpha_values
    seeds = None if s.seeds is None else list(s.seeds)
    return "\n".join([
        "# Heads experiment", "",
        f"Mess3 at x in {list(s.xs)} (lambda = 1 - 3x) and alpha in {alphas}, one model per "
        f"(x, alpha, heads{', seed' if seeds else ''}): "
        f"{s.n_layers} layer(s), d_model {m.d_model}, d_mlp {m.d_mlp}, n_ctx {m.n_ctx}, "
        f"heads {list(s.heads)} with n_heads x d_head = {s.head_width}"
        + (f", seeds {seeds}" if seeds else "") + "; training "
        + (f"{budget} min" if budget else f"{first.train.steps} steps") + " per model.",
        "", "Predictions: one head fails where lambda < 0 (a softmax pattern cannot alternate in "
        "sign), two heads recover (Piotrowski et al. 2025). The first layer's decay: lambda in "
        "the weak-emission limit; rho* (the single decay with which a constrained update, a "
        "rho-discounted average of one-hot tokens read out by a cubic per position and token, "
        "best reconstructs the belief; `compmech.constrained_decay`, words weighted by "
        "probability) in general.", "",
        heads_table(results, attention), "", "## Decays against lambda and rho*", "",
        *decay_lines(results, attention), "", "## Heads", "", *verdict_lines(results), "",
        *failure_lines(summary.failed),
        "Context beyond 1 / 2 tokens: what the optimal predictor gains over one that sees only "
        "the last 1 / 2 tokens (mean over positions, from the myopic entropies): the part of the "
        "loss an attention layer can win beyond the current token's own embedding (with 1) and "
        "beyond the previous token (with 2). A loss gap of that size means the model has not "
        "learned that part. ",
        "Head fits: the first layer's mean attention pattern (all inputs, weighted by probability) "
        "fitted on the log scale, log A(t, s) = c_t + (t - s) log rho over 1 <= s < t (the "
        "diagonal and the first position excluded), on all distances or on even / odd distances "
        "only (the best of the three by within-row R2); the all-distance fit's 'misfit' is the "
        "least-squares error of the geometric model, not an uncertainty: only the spread over "
        "seeds is (see `compmech.mechanisms.attention`).", "",
        "## Figures", "", *[f"![{p.stem}]({p.name})" for p in pngs], "",
        f"Total job time {summary.total_job_seconds / 60:.1f} min; "
        f"{invocation_text(summary.environment)}.", "",
    ])


__all__ = ["ALPHA_SWEEP", "ALPHA_SWEEP_X", "DEFAULT_ALPHA", "DEFAULT_HEADS", "DEFAULT_HEAD_WIDTH",
           "DEFAULT_STEPS", "DEFAULT_X", "HEADS_COLUMNS", "HeadsConfig", "HeadsLabels", "HeadsSettings",
           "HeadsSummary", "attention_grid", "context_value_nats",
           "decay_figure", "decay_lines", "heads_figure", "heads_jobs", "heads_table",
           "job_attention", "mess3_lambda", "run_heads", "verdict_lines", "write_heads_report"]
