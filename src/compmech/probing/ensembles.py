"""Seed ensembles through the probe stage: probe every member, and the spread across seeds.

One run's probe error is not a result: across training seeds it spreads far more than across the
probe's folds. :func:`probe_ensemble` probes each member of an ensemble written by
:func:`transformer.train_ensemble` (an ordinary run directory each, with its own ``probe.json``)
and writes ``ENSEMBLE/probe_ensemble.json``: every headline number per seed, with the mean and the
sample standard deviation across seeds (``ddof = 1``; ``None`` for a single member).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compmech.formatting import fmt, plus_minus
from compmech.probing.config import ProbeConfig
from compmech.probing.data import PROBE_FILE
from compmech.probing.report import ProbeReport, load_report
from compmech.probing.run import probe_run
from compmech.records import Record
from transformer import load_ensemble
from transformer.rundir import MetricsRecord

#: The ensemble's report, beside its members.
ENSEMBLE_PROBE_FILE = "probe_ensemble.json"


@dataclass
class SeedSpread(Record):
    """One number across the seeds of an ensemble.

    Attributes:
        values: per member, in seed order (``None`` where a member has none).
        mean: mean of the defined values.
        std: sample standard deviation (``ddof = 1``) of the defined values; ``None`` for fewer
            than two.
    """

    values: list[float | None]
    mean: float | None
    std: float | None

    @classmethod
    def of(cls, values) -> SeedSpread:
        clean = [None if v is None or not math.isfinite(v) else float(v) for v in values]
        defined = np.array([v for v in clean if v is not None], dtype=np.float64)
        mean = float(defined.mean()) if defined.size else None
        std = float(defined.std(ddof=1)) if defined.size >= 2 else None
        return cls(clean, mean, std)

    def text(self, spec: str = ".3g", std_spec: str | None = None, sign: str = "+-") -> str:
        """``"mean +- std"`` (:func:`compmech.formatting.plus_minus`)."""
        return plus_minus(self.mean, self.std, spec, std_spec, sign)


@dataclass
class EnsembleScores(Record):
    """The members' headline numbers and their spread across seeds: held-out MSE and R^2, the
    spread across folds (``mse_folds_std``, to compare with the spread across seeds), the shuffle
    control, and at the last evaluation the loss gap and mean loss (nats)."""

    mse_test: SeedSpread
    r2_test: SeedSpread
    mse_folds_std: SeedSpread
    shuffle_mse: SeedSpread
    loss_gap: SeedSpread
    eval_loss_mean: SeedSpread


@dataclass
class EnsembleReport(Record):
    """``probe_ensemble.json``: the headline numbers of every member and their spread.

    Attributes:
        run_dir: the ensemble directory.
        seeds: the members' seeds.
        members: the members' run directories.
        headline_hook: the hook of the members' headline probe.
        scores: :class:`EnsembleScores` over all members.
        groups: a process sweep: ``{process label: scores}`` over each process's seeds (one group
            for a seed ensemble).
    """

    run_dir: str
    seeds: list[int]
    members: list[str]
    headline_hook: str
    scores: EnsembleScores
    groups: dict[str, EnsembleScores] = field(default_factory=dict)


def _last_eval(run) -> MetricsRecord | None:
    evals = [m for m in run.records if m.eval_loss_mean is not None]
    return evals[-1] if evals else None


def _scores(reports: list[ProbeReport], evals: list[MetricsRecord | None]) -> EnsembleScores:
    heads = [r.headline for r in reports]
    return EnsembleScores(
        mse_test=SeedSpread.of([h.mse_test for h in heads]),
        r2_test=SeedSpread.of([h.r2_test for h in heads]),
        mse_folds_std=SeedSpread.of([h.mse_folds_std for h in heads]),
        shuffle_mse=SeedSpread.of([h.shuffle_mse for h in heads]),
        loss_gap=SeedSpread.of([None if e is None else e.loss_gap for e in evals]),
        eval_loss_mean=SeedSpread.of([None if e is None else e.eval_loss_mean for e in evals]))


def process_label(config) -> str:
    """``"mess3 x=0.05 alpha=0.85"``: a member's process (its group in a sweep)."""
    if config.hmm is not None:
        return str(config.hmm.get("name", "hmm"))
    return " ".join([config.process] + [f"{k}={v}" for k, v in config.process_params.items()])


def ensemble_report(path, reports: list[ProbeReport]) -> EnsembleReport:
    """The spread across seeds of the members' probe reports (in member order), over all members
    and within each process of a sweep."""
    ensemble = load_ensemble(path)
    evals = [_last_eval(run) for run in ensemble.members]
    labels = [process_label(run.config) for run in ensemble.members]
    groups = {}
    for label in dict.fromkeys(labels):
        keep = [k for k, lab in enumerate(labels) if lab == label]
        groups[label] = _scores([reports[k] for k in keep], [evals[k] for k in keep])
    return EnsembleReport(str(path), list(ensemble.seeds), [str(r.run_dir) for r in ensemble],
                          reports[0].headline_hook, _scores(reports, evals), groups)


def probe_ensemble(path, config: ProbeConfig | None = None, *, force: bool = False,
                   progress: bool | Callable = True) -> EnsembleReport:
    """Probe every member of an ensemble (:func:`compmech.probing.run.probe_run`) and
    write ``probe_ensemble.json`` with the spread across seeds.

    A member that has a ``probe.json`` already keeps it unless ``force`` (so that an interrupted
    ensemble probe resumes where it stopped).

    Args:
        path: an ensemble directory.
        force: probe every member again.
        progress: progress lines.
        config: every member's probe options (:class:`~compmech.probing.config.ProbeConfig`).

    Returns:
        The :class:`EnsembleReport` written.

    Raises:
        ValueError: ``path`` is not an ensemble directory.
    """
    ensemble = load_ensemble(path)
    reports = []
    for seed, run in zip(ensemble.seeds, ensemble.members, strict=True):
        if callable(progress):
            progress(f"member seed {seed}: {run.run_dir}")
        elif progress:
            print(f"member seed {seed}: {run.run_dir}", flush=True)
        if (run.run_dir / PROBE_FILE).exists() and not force:
            reports.append(load_report(run.run_dir))
        else:
            reports.append(probe_run(run.run_dir, config, force=True, progress=progress))
    report = ensemble_report(path, reports)
    report.write(Path(path) / ENSEMBLE_PROBE_FILE)
    return report


def ensemble_summary_lines(report: EnsembleReport) -> list[str]:
    """Each member's headline numbers, then their mean +- standard deviation across seeds (for
    each process of a sweep)."""
    s = report.scores
    width = max(6, *(len(Path(m).name) for m in report.members))
    lines = [f"ensemble of {len(report.members)} members, probe site {report.headline_hook}",
             f"{'member':>{width}}  {'held-out MSE':>12}  {'R^2':>7}  {'fold std':>9}  "
             f"{'shuffle':>9}  {'loss gap':>9}"]
    for k, member in enumerate(report.members):
        lines.append(f"{Path(member).name:>{width}}  {fmt(s.mse_test.values[k], '.4g'):>12}  "
                     f"{fmt(s.r2_test.values[k], '.4f'):>7}  "
                     f"{fmt(s.mse_folds_std.values[k], '.2g'):>9}  "
                     f"{fmt(s.shuffle_mse.values[k], '.3g'):>9}  "
                     f"{fmt(s.loss_gap.values[k], '.2e'):>9}")
    groups = report.groups if len(report.groups) > 1 else {"": s}
    for label, g in groups.items():
        where = f" ({label})" if label else ""
        lines.append(f"mean +- std across seeds{where}: held-out MSE {g.mse_test.text('.3g')}, "
                     f"R^2 {g.r2_test.text('.4f')}, loss gap {g.loss_gap.text('.2e')} nats")
    if len(groups) == 1:
        lines.append(f"spread across folds (mean fold std) {fmt(s.mse_folds_std.mean, '.2g')}"
                     f" vs across seeds {fmt(s.mse_test.std, '.2g')}")
    return lines


__all__ = ["ENSEMBLE_PROBE_FILE", "EnsembleReport", "EnsembleScores", "SeedSpread", "probe_ensemble",
           "ensemble_report", "ensemble_summary_lines", "process_label"]
