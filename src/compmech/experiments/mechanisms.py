"""Write a run's mechanism analyses into ``RUN_DIR/mechanisms/``: the attention analysis
(:mod:`compmech.mechanisms.attention`) and the belief interventions
(:mod:`compmech.mechanisms.interventions`, :mod:`compmech.mechanisms.intervention_runs`), each as
JSON, arrays and a figure.

Files: ``attention.json``, ``attention_patterns.npz`` (``layer_{l}``: ``(n_heads, P, P)`` mean
patterns over the process positions), ``attention_vs_distance.{png,pdf}``; ``interventions.json``,
``interventions.npz`` (per hook: the theory's and the model's next-token probabilities of every
pair and condition), ``intervention_probabilities.{png,pdf}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from compmech.figures.common import save
from compmech.figures.mechanisms import InterventionArrays, attention_figure, intervention_figure
from compmech.files import atomic_output
from compmech.mechanisms.attention import AttentionReport, analyze_attention
from compmech.mechanisms.intervention_records import InterventionReport, InterventionSeedReport, seed_summary
from compmech.mechanisms.intervention_runs import DEFAULT_PAIRS, analyze_interventions
from compmech.mechanisms.interventions import InterventionEffects
from transformer import load_run

MECHANISMS_DIR = "mechanisms"
ATTENTION_FILE = "attention.json"
INTERVENTIONS_FILE = "interventions.json"
#: The spread over seeds of several runs' interventions (in an ensemble's directory).
INTERVENTION_SEEDS_FILE = "interventions_seeds.json"
def intervention_arrays(effects: dict[str, InterventionEffects]) -> dict[str, InterventionArrays]:
    """The figure's arrays of in-memory effects."""
    return {h: InterventionArrays(e.predicted, e.probs) for h, e in effects.items()}


def load_intervention_arrays(run_dir) -> dict[str, InterventionArrays]:
    """The figure's arrays from ``mechanisms/interventions.npz`` (``<hook>/predicted`` and
    ``<hook>/probs/<condition>``)."""
    predicted: dict[str, np.ndarray] = {}
    probs: dict[str, dict[str, np.ndarray]] = {}
    with np.load(Path(run_dir) / MECHANISMS_DIR / "interventions.npz") as data:
        for key in data.files:
            hook, _, rest = key.partition("/")
            if rest == "predicted":
                predicted[hook] = data[key]
            elif rest.startswith("probs/"):
                probs.setdefault(hook, {})[rest.removeprefix("probs/")] = data[key]
    return {h: InterventionArrays(predicted[h], probs.get(h, {})) for h in predicted}


# -------------------------------------------------------------------------------- writers
def _folder(run_dir, name: str, force: bool) -> Path:
    folder = Path(run_dir) / MECHANISMS_DIR
    if (folder / name).exists() and not force:
        raise FileExistsError(f"{folder / name} already exists; pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_attention_analysis(run_dir, *, step: int | None = None, seed: int = 0,
                           force: bool = False) -> tuple[AttentionReport, list[Path]]:
    """Analyse a transformer run's attention and write ``mechanisms/attention.json``, the mean
    patterns and the figure (see the module docstring).

    Raises:
        FileExistsError: ``attention.json`` exists and ``force`` is False.
        ValueError: the model has no attention layers.
    """
    run = load_run(run_dir)
    with run.lock("compmech mechanisms"):
        folder = _folder(run_dir, ATTENTION_FILE, force)
        report, means = analyze_attention(run, step=step, seed=seed)
        with atomic_output(folder / "attention_patterns.npz") as fh:
            np.savez_compressed(fh, **{f"layer_{k}": v.astype(np.float32) for k, v in means.items()})
        paths = [folder / "attention_patterns.npz"]
        paths += save(attention_figure(report), folder / "attention_vs_distance")
        paths.append(report.write(folder / ATTENTION_FILE))
    return report, paths


def run_interventions(run_dir, *, hooks: Sequence[str] | None = None,
                      num_pairs: int = DEFAULT_PAIRS, seed: int = 0, step: int | None = None,
                      force: bool = False, progress: Callable[[str], None] | None = None
                      ) -> tuple[InterventionReport, list[Path]]:
    """Belief interventions at each hook of a run; writes ``mechanisms/interventions.json``, the
    probabilities (``interventions.npz``) and the figure.

    Raises:
        FileExistsError: ``interventions.json`` exists and ``force`` is False.
    """
    run = load_run(run_dir)
    with run.lock("compmech intervene"):
        folder = _folder(run_dir, INTERVENTIONS_FILE, force)
        report, effects, pairs = analyze_interventions(run, hooks=hooks, num_pairs=num_pairs,
                                                       seed=seed, step=step, progress=progress)
        arrays = {"sequence": pairs.sequence, "position": pairs.position,
                  "beliefs": pairs.beliefs, "targets": pairs.targets}
        for hook, e in effects.items():
            arrays[f"{hook}/predicted"] = e.predicted.astype(np.float32)
            for c, q in e.probs.items():
                arrays[f"{hook}/probs/{c}"] = q.astype(np.float32)
            for c, kl in e.kl_bits.items():
                arrays[f"{hook}/kl_bits/{c}"] = kl
        with atomic_output(folder / "interventions.npz") as fh:
            np.savez_compressed(fh, **arrays)
        paths = [folder / "interventions.npz"]
        paths += save(intervention_figure(report, intervention_arrays(effects), seed),
                      folder / "intervention_probabilities")
        paths.append(report.write(folder / INTERVENTIONS_FILE))
    return report, paths


def run_intervention_seeds(run_dirs: Sequence, *, summary_path=None, force: bool = False,
                           progress: Callable[[str], None] | None = None, **options
                           ) -> tuple[list[InterventionReport], InterventionSeedReport]:
    """:func:`run_interventions` on each run (seeds of one recipe), then their spread over seeds
    (:func:`~compmech.mechanisms.intervention_records.seed_summary`), written to ``summary_path``
    when given.

    Args:
        run_dirs: run directories (at least one).
        summary_path: where to write the :class:`InterventionSeedReport` (``None``: not written).
        force: overwrite each run's ``interventions.json``.
        progress: progress lines.
        **options: ``hooks``, ``num_pairs``, ``seed``, ``step`` for every run.
    """
    if not run_dirs:
        raise ValueError("give at least one run directory")
    reports = []
    for run_dir in run_dirs:
        if progress:
            progress(f"run {run_dir}")
        reports.append(run_interventions(run_dir, force=force, progress=progress, **options)[0])
    summary = seed_summary(reports)
    if summary_path is not None:
        summary.write(summary_path)
    return reports, summary


__all__ = [
    "ATTENTION_FILE",
    "INTERVENTIONS_FILE",
    "INTERVENTION_SEEDS_FILE",
    "MECHANISMS_DIR",
    "intervention_arrays",
    "load_intervention_arrays",
    "run_attention_analysis",
    "run_intervention_seeds",
    "run_interventions",
]
