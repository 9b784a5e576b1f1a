"""The report of ``compmech reproduce factored`` (:mod:`compmech.experiments.factored`): the paper's
claim checked on each model, the markdown tables, and ``results.json``/``README.md`` written from
the typed results (:mod:`compmech.experiments.factored_results`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compmech.experiments.factored_results import (
    BeliefComponents,
    Claim,
    FactoredResult,
    FactoredRow,
    FactoredSettings,
    FactoredSummary,
)
from compmech.experiments.reports import environment, failure_lines, invocation_text
from compmech.figures.factored import cev_figure
from compmech.files import atomic_write_text

PROTOCOL = ("arXiv 2602.02385 as set up by a public repository that says it reproduces the paper "
            "(not the authors' own); CPU-scaled, see compmech.experiments.factored")


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _mean_std(values: Sequence[float | None], spec: str) -> str:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return format(vals[0], spec)
    return f"{format(np.mean(vals), spec)} ± {format(np.std(vals, ddof=1), spec)}"


def first_factored_step(result: FactoredResult) -> int | None:
    """The first analysed step (after step 0) whose ``components_95`` is at most the factored
    prediction while every factor's held-out ``r2`` is at least 0.5 (the factored geometry is
    there); ``None`` if none."""
    for row in result.checkpoints:
        if row.step > 0 and row.components_95 <= result.predicted_factored and all(
                r is not None and r >= 0.5 for r in row.r2.values()):
            return row.step
    return None


def claim_check(result: FactoredResult) -> Claim:
    """The paper's claim on one model: does the factored geometry appear (:func:`first_factored_step`),
    and does ``components_95`` grow after it?

    Returns:
        :class:`~compmech.experiments.factored_results.Claim` (``grows_later``: the largest
        ``components_95`` at a later checkpoint exceeds the value at the first factored step;
        ``None`` when the geometry never appears or no checkpoint follows it).
    """
    first = first_factored_step(result)
    rows = result.checkpoints
    final = rows[-1].components_95
    if first is None:
        return Claim(None, None, None, final, None)
    then = next(r.components_95 for r in rows if r.step == first)
    after = [r.components_95 for r in rows if r.step > first]
    return Claim(first, then, max(after) if after else None, final,
                 (max(after) > then) if after else None)


def claim_lines(results: Sequence[FactoredResult]) -> list[str]:
    """One line per model: where the factored geometry appears and whether the dimension grows."""
    lines = []
    for r in results:
        c = claim_check(r)
        if c.first_factored_step is None:
            low = next((row for row in r.checkpoints
                        if row.step > 0 and row.components_95 <= r.predicted_factored), None)
            why = "" if low is None else (
                f" (c95 {low.components_95} at step {low.step}, but the lowest factor r2 there is "
                f"{_fmt(min((v for v in low.r2.values() if v is not None), default=None), '.2f')})")
            lines.append(f"- `{r.name}`: the factored geometry (c95 <= {r.predicted_factored} "
                         f"with every factor's r2 >= 0.5) does not appear at the analysed "
                         f"checkpoints{why}; final c95 {c.components_95_final}.")
            continue
        grow = {True: "grows later", False: "does not grow later",
                None: "no later checkpoint"}[c.grows_later]
        lines.append(f"- `{r.name}`: factored geometry at step {c.first_factored_step} "
                     f"(c95 {c.components_95_then}); afterwards c95 up to "
                     f"{_fmt(c.components_95_max_after, 'd')}, final "
                     f"{c.components_95_final}: the dimension {grow}.")
    return lines


def table_lines(results: Sequence[FactoredResult],
                controls: dict[str, BeliefComponents] | None = None) -> list[str]:
    """The headline table, one row per variant (mean ± std over seeds, std with ddof 1), with the
    ``components_95`` of the true beliefs (factored / joint) where ``controls`` has the variant."""
    controls = controls or {}
    by_variant: dict[str, list[FactoredResult]] = {}
    for r in results:
        by_variant.setdefault(r.labels.variant, []).append(r)
    head = ["variant", "seeds", "steps", "loss gap (nats)", "c95 final", "c95 min (step)",
            "predicted factored", "predicted joint", "c95 true beliefs factored / joint",
            "r2 per factor (final)", "overlap",
            "participation ratio", "effective rank", "first factored step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for variant, rows in by_variant.items():
        finals = [r.final for r in rows]
        mins = [min(r.checkpoints[1:] or r.checkpoints, key=lambda c: c.components_95)
                for r in rows]
        r2 = ", ".join(_mean_std([f.r2[n] for f in finals], ".3f") for n in finals[0].r2)
        orth = [f.orthogonality for f in finals]
        cells = [variant, str(len(rows)), _mean_std([r.train.steps for r in rows], ".0f"),
                 _mean_std([r.loss_gap for r in rows], ".4f"),
                 _mean_std([f.components_95 for f in finals], ".1f"),
                 "; ".join(f"{m.components_95} ({m.step})" for m in mins),
                 str(rows[0].predicted_factored), str(rows[0].predicted_joint),
                 (f"{controls[variant].factored} / {controls[variant].joint}"
                  if variant in controls else "n/a"), r2,
                 _mean_std([o.overlap for o in orth], ".3f"),
                 _mean_std([o.participation_ratio for o in orth], ".3f"),
                 _mean_std([o.effective_rank for o in orth], ".3f"),
                 ", ".join(_fmt(first_factored_step(r), "d") for r in rows)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def trajectory_lines(results: Sequence[FactoredResult]) -> list[str]:
    """``components_95`` (and the orthogonality's effective rank) at every analysed checkpoint."""
    lines = ["| model | step: components_95 / effective rank / mean r2 |", "|---|---|"]
    for r in results:
        cells = []
        for c in r.checkpoints:
            r2 = [v for v in c.r2.values() if v is not None]
            cells.append(f"{c.step}: {c.components_95} / {_fmt(c.orthogonality.effective_rank, '.2f')}"
                         f" / {_fmt(float(np.mean(r2)) if r2 else None, '.2f')}")
        lines.append(f"| {r.name} | " + "; ".join(cells) + " |")
    return lines


def log_line(res: FactoredResult) -> str:
    """One line on a finished model."""
    f = res.final
    return (f"{res.name:>18}  steps {res.train.steps:>6}  c95 {f.components_95:>3} "
            f"(factored {res.predicted_factored}, joint {res.predicted_joint})  r2 "
            + " ".join(_fmt(v, ".3f") for v in f.r2.values())
            + f"  eff. rank {_fmt(f.orthogonality.effective_rank, '.2f')}")


def write_report(out_dir: Path, results: Sequence[FactoredResult], settings: FactoredSettings,
                 wall: float, computed: Sequence[str], failed: dict[str, str],
                 controls: dict[str, BeliefComponents] | None = None) -> FactoredSummary:
    """``results.json``, ``README.md`` and the figure; ``controls``: the true beliefs'
    ``components_95`` per variant (:func:`compmech.experiments.factored.belief_components_95`)."""
    controls = dict(controls or {})
    files = cev_figure(results, out_dir / "factored_cev")
    rows = [FactoredRow(r.name, r.labels, r.process, r.process_params, r.model,
                        r.predicted_factored, r.predicted_joint, r.train, r.loss_gap,
                        r.checkpoints, r.train_seconds, r.analysis_seconds, claim_check(r))
            for r in results]
    summary = FactoredSummary(
        "factored", PROTOCOL, settings, rows[0].predicted_factored, rows[0].predicted_joint, rows,
        environment(wall, computed), dict(failed),
        [f.name for f in files] + ["results.json", "README.md"], controls)
    summary.write(out_dir / "results.json")
    text = "\n".join([
        "# Factored representations (arXiv 2602.02385), CPU-scaled",
        "",
        f"Factors {[f.process for f in settings.factors]}; noise `{settings.noise}`; "
        f"model {settings.model}; batch {settings.batch_size}, lr {settings.lr}. "
        f"Predicted dimensions: factored {summary.predicted_factored}, joint "
        f"{summary.predicted_joint}. The paper's measured numbers are not transcribed here.",
        "",
        "c95 = components for 95% of the last layer's variance (sampled prefixes, BOS left out); "
        "r2 = held-out R^2 of a linear probe onto each factor's belief (80/20 by sequence); "
        "overlap / participation ratio / effective rank of the factors' encoding patterns "
        "(orthogonal subspaces: overlap 0, both ratios = the summed ranks); first factored step = "
        "first analysed step with c95 <= the factored prediction and every factor's r2 >= 0.5. "
        "c95 true beliefs = the same count on the true beliefs at the same prefixes, the factors' "
        "beliefs side by side / the joint belief (plane coordinates): the control that tells a "
        "factored from a joint representation at the 95% threshold (the predicted joint, the "
        "affine dimension, counts directions of negligible variance; c95 also depends on the "
        "basis, so these counts are a yardstick, not an identity). ± = std over seeds.",
        "",
        *table_lines(rows, controls),
        "",
        "## The claim (factored geometry early, dimension growing later)",
        "",
        *claim_lines(rows),
        "",
        "## Over training",
        "",
        *trajectory_lines(rows),
        "",
        *failure_lines(failed),
        "![CEV over training](factored_cev.png)",
        "",
        f"{invocation_text(summary.environment)}.",
        ""])
    atomic_write_text(out_dir / "README.md", text)
    return summary


__all__ = ["PROTOCOL", "claim_check", "claim_lines", "first_factored_step", "log_line",
           "table_lines", "trajectory_lines", "write_report"]
