"""The summary of ``compmech reproduce quantum`` (:mod:`compmech.experiments.quantum`): the jobs'
results pooled over seeds per process, architecture and layer, the Markov-3 lookup and the
cross-architecture CKA (the typed ``results.json``), and the markdown tables and figures drawn from
them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compmech.experiments.quantum_probe import (
    CONCAT,
    PAPER,
    PAPER_NAMES,
    PROCESSES,
    CoreScores,
    PrefixScores,
    QuantumJobResult,
    job_name,
    layer_activations,
    probe_data,
)
from compmech.experiments.reports import invocation_text
from compmech.experiments.results import RUNS_DIR
from compmech.figures import quantum as quantum_figures
from compmech.figures.common import save
from compmech.probing.prefix_probe import (
    PAPER_FOLD_SEED,
    PAPER_FOLDS,
    PAPER_RCONDS,
    protocol_scores,
)
from compmech.records import Record
from compmech.similarity import cka_matrix
from transformer import last_hook, load_run, model_config_from_dict


# ------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class SeededScores(Record):
    """Scores of one probe over the training seeds: mean and sample std (``None`` for one seed),
    the first seed's ``rcond`` and each seed's."""

    r2: float
    r2_std: float | None
    rmse: float
    rmse_std: float | None
    invariant_r2: float
    invariant_r2_std: float | None
    rcond: float
    rcond_per_seed: list[float]


@dataclass(frozen=True)
class RandomSummary(Record):
    """The random networks of one layer, pooled over the seeds' jobs: their number, mean and 95th
    percentile of R^2 (and of the invariant R^2), mean and 5th percentile of RMSE."""

    n: int
    mean: float
    p95: float
    rmse_mean: float
    rmse_p5: float
    invariant_r2_mean: float
    invariant_r2_p95: float


@dataclass(frozen=True)
class LayerSummary(SeededScores):
    """One layer of one (process, architecture): the final checkpoint's probe over seeds (with
    held-out R^2 and the released code's R^2), the initial checkpoint's, the probe onto the
    Markov-3 beliefs, and the random networks."""

    r2_heldout: float
    r2_heldout_std: float | None
    r2_released_code: float
    initial: SeededScores
    markov3: SeededScores
    random_networks: RandomSummary


@dataclass(frozen=True)
class ArchSummary(Record):
    """One network trained on one process, over seeds (``steps`` and ``tokens_seen`` per seed;
    ``loss_gap_nats`` = ``[mean, std]``)."""

    num_params: int
    steps: list[int]
    tokens_seen: list[int]
    loss_gap_nats: list[float | None]
    last_layer: str
    layers: dict[str, LayerSummary]


@dataclass(frozen=True)
class CkaSummary(Record):
    """Linear CKA between the networks' last layers (``layers``), mean and std over seeds."""

    layers: dict[str, str]
    matrix: dict[str, dict[str, float]]
    std: dict[str, dict[str, float | None]]
    seeds: int
    weights: str


@dataclass(frozen=True)
class ProcessSummary(Record):
    """One process: every network's summary, the Markov-3 lookup and the CKA matrix (``None``
    with fewer than two networks)."""

    paper_name: str
    params: dict[str, float]
    architectures: dict[str, ArchSummary]
    markov3_lookup: CoreScores
    num_prefixes: int
    cka: CkaSummary | None


@dataclass(frozen=True)
class QuantumProtocol(Record):
    source: str
    rconds: list[float]
    folds: int
    fold_seed: int
    markov_order: int
    targets: str


@dataclass(frozen=True)
class QuantumSettings(Record):
    processes: dict[str, dict[str, float]]
    archs: list[str]
    n_ctx: int
    seeds: list[int]
    steps: int | None
    minutes: float | None
    minutes_per_model: float | None
    random_networks: int
    tiny: bool
    workers: int


@dataclass(frozen=True)
class QuantumReport(Record):
    """``results.json`` of ``compmech reproduce quantum``."""

    experiment: str
    paper: str
    paper_numbers: str
    protocol: QuantumProtocol
    settings: QuantumSettings
    results: dict[str, ProcessSummary]
    wall_seconds: float
    job_seconds: float
    environment: dict[str, Any]
    files: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------ summary
def _mean_std(values: Iterable[float | None]) -> tuple[float, float | None]:
    """Mean and sample std (``None`` for fewer than two values: no spread over seeds)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return float("nan"), None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None


def seeded(probes: Sequence[PrefixScores]) -> SeededScores:
    """One probe over the seeds' jobs."""
    return SeededScores(*_mean_std(p.r2 for p in probes), *_mean_std(p.rmse for p in probes),
                        *_mean_std(p.invariant_r2 for p in probes), probes[0].rcond,
                        [p.rcond for p in probes])


def layer_summary(jobs: Sequence[QuantumJobResult], layer: str) -> LayerSummary:
    """One layer of one (process, architecture) over seeds: the fields of ``results.json``."""
    mine = [j.layers[layer] for j in jobs]
    final = [m.final for m in mine]
    r2 = np.concatenate([m.random.r2 for m in mine])
    rmse = np.concatenate([m.random.rmse for m in mine])
    ir2 = np.concatenate([m.random.invariant_r2 for m in mine])
    randoms = RandomSummary(int(r2.size), float(r2.mean()), float(np.percentile(r2, 95)),
                            float(rmse.mean()), float(np.percentile(rmse, 5)), float(ir2.mean()),
                            float(np.percentile(ir2, 95)))
    s = seeded(final)
    return LayerSummary(
        s.r2, s.r2_std, s.rmse, s.rmse_std, s.invariant_r2, s.invariant_r2_std, s.rcond,
        s.rcond_per_seed,
        *_mean_std(p.heldout.r2 for p in final), _mean_std(p.r2_released_code for p in final)[0],
        seeded([m.initial for m in mine]), seeded([m.markov3 for m in mine]),
        randoms)


def cross_architecture_cka(out_dir: Path, process: str, archs: Sequence[str], seeds: Sequence[int]
                           ) -> CkaSummary | None:
    """Linear CKA between the last layers (``transformer.last_hook``) of the networks trained on
    ``process``, probability-weighted over the same prefixes; mean and std over seeds (``None``
    with fewer than two networks)."""
    per_seed = []
    hooks = {}
    for seed in seeds:
        reps = {}
        for arch in archs:
            run_dir = out_dir / RUNS_DIR / job_name(process, arch, seed)
            if not (run_dir / "config.json").exists():
                continue
            run = load_run(run_dir)
            cfg = run.model_config
            hooks[arch] = last_hook(cfg)
            data = probe_data(process, cfg.n_ctx)
            reps[arch] = layer_activations(run.load_params(), cfg, data, [hooks[arch]])[hooks[arch]]
        if len(reps) >= 2:
            per_seed.append(cka_matrix(reps, data.weights))
    if not per_seed:
        return None
    names = list(per_seed[0])
    mean = {a: {b: _mean_std(m[a][b] for m in per_seed)[0] for b in names} for a in names}
    std = {a: {b: _mean_std(m[a][b] for m in per_seed)[1] for b in names} for a in names}
    return CkaSummary(hooks, mean, std, len(per_seed),
                      "prefix probability (the probe's row weights)")


def markov3_lookup(process: str, n_ctx: int) -> CoreScores:
    """Scores of the exact Markov-3-plus-position lookup of the beliefs (no network)."""
    data = probe_data(process, n_ctx)
    return CoreScores.of(protocol_scores(data.markov_lookup, data.beliefs, data.weights))


def arch_summary(jobs: Sequence[QuantumJobResult]) -> ArchSummary:
    """One (process, architecture) over its seeds' jobs."""
    return ArchSummary(
        jobs[0].num_params, [j.steps for j in jobs], [j.tokens_seen for j in jobs],
        list(_mean_std(j.loss_gap_nats for j in jobs)),
        last_hook(model_config_from_dict(jobs[0].model)),
        {layer: layer_summary(jobs, layer) for layer in jobs[0].layers})


def summarise(out_dir: Path, jobs: Sequence[QuantumJobResult], processes, archs, seeds
              ) -> dict[str, ProcessSummary]:
    """The ``results`` part of ``results.json``: per process, per architecture, per layer."""
    results = {}
    for process in processes:
        by_arch = {arch: [j for j in jobs if j.process == process and j.arch == arch]
                   for arch in archs}
        by_arch = {arch: mine for arch, mine in by_arch.items() if mine}
        if not by_arch:
            continue
        n_ctx = model_config_from_dict(next(iter(by_arch.values()))[0].model).n_ctx
        results[process] = ProcessSummary(
            PAPER_NAMES[process], PROCESSES[process],
            {arch: arch_summary(mine) for arch, mine in by_arch.items()},
            markov3_lookup(process, n_ctx), probe_data(process, n_ctx).num_rows,
            cross_architecture_cka(out_dir, process, archs, seeds))
    return results


# ------------------------------------------------------------------------------------ report
def _f(x, spec=".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def _pm(mean: float, std: float | None, spec=".3f") -> str:
    return _f(mean, spec) + (f" ± {_f(std, spec)}" if std else "")


def table_lines(results: dict[str, ProcessSummary], which: str) -> list[str]:
    """The headline table for ``which`` layer (``"last"``: each network's last layer, or
    ``"concat"``)."""
    head = ["process", "network", "steps", "R²", "RMSE", "rcond", "invariant R²", "R² held out",
            "R² initial", "random mean", "random p95", "Markov-3 beliefs R²", "Markov-3 lookup R²"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 11) + "|"]
    for process, entry in results.items():
        for arch, a in entry.architectures.items():
            s = a.layers[CONCAT if which == "concat" else a.last_layer]
            lines.append("| " + " | ".join([
                f"{PAPER_NAMES[process]} ({process})", arch, "/".join(str(x) for x in a.steps),
                _pm(s.r2, s.r2_std), _pm(s.rmse, s.rmse_std, ".4f"),
                "/".join(_f(r, ".1e") for r in s.rcond_per_seed),
                _pm(s.invariant_r2, s.invariant_r2_std), _pm(s.r2_heldout, s.r2_heldout_std),
                _f(s.initial.r2), _f(s.random_networks.mean), _f(s.random_networks.p95),
                _f(s.markov3.r2), _f(entry.markov3_lookup.r2)]) + " |")
    return lines


def per_layer_lines(results: dict[str, ProcessSummary]) -> list[str]:
    """R² (final; random mean) at every probed layer."""
    lines = []
    for process, entry in results.items():
        for arch, a in entry.architectures.items():
            cells = [f"`{layer}` {_f(s.r2)} (random {_f(s.random_networks.mean)})"
                     for layer, s in a.layers.items()]
            lines.append(f"- {process} / {arch}: " + "; ".join(cells))
    return lines


def cka_lines(results: dict[str, ProcessSummary]) -> list[str]:
    """One CKA table per process that has one."""
    lines = []
    for process, entry in results.items():
        if entry.cka is None:
            continue
        matrix = entry.cka.matrix
        names = list(matrix)
        lines += [f"**{PAPER_NAMES[process]}** ({entry.cka.seeds} seed(s))", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for a in names:
            lines.append(f"| {a} | " + " | ".join(_f(matrix[a][b]) for b in names) + " |")
        lines.append("")
    return lines


def draw_figures(out_dir: Path, results: dict[str, ProcessSummary], archs: Sequence[str]
                 ) -> list[Path]:
    """``quantum_layers.png`` and ``quantum_cka.png`` (:mod:`compmech.figures.quantum`)."""
    names = {p: f"{PAPER_NAMES[p]} ({p})" for p in results}
    files = save(quantum_figures.layer_r2_figure(results, names, archs), out_dir / "quantum_layers",
                 formats=("png",))
    fig = quantum_figures.cka_figure(results, {p: PAPER_NAMES[p] for p in results})
    if fig is not None:
        files += save(fig, out_dir / "quantum_cka", formats=("png",))
    return files


def markdown(report: QuantumReport, files: Sequence[Path]) -> str:
    """``README.md``: the protocol, the tables, the figures."""
    s = report.settings
    budget = (f"exactly {s.steps} steps per model" if s.steps else
              f"{s.minutes_per_model:.2f} min of training per model "
              f"({s.minutes} min total target)") if not s.tiny else "tiny (tests)"
    return "\n".join([
        f"# Quantum and post-quantum representations ({PAPER})", "",
        f"Processes {list(report.results)}; networks {s.archs}; context {s.n_ctx}; "
        f"seeds {s.seeds}; {budget}; at least {s.random_networks} random networks per "
        "network (pooled over the seeds' jobs, each with its own keys).", "",
        "Protocol (the authors' released analysis code; see `compmech.probing.prefix_probe`): every "
        "distinct prefix once, weighted by its probability; probability-weighted least squares "
        f"with a bias column; {PAPER_FOLDS}-fold cross-validation over the prefixes (KFold seed "
        f"{PAPER_FOLD_SEED}) choosing per layer and target the best of {len(PAPER_RCONDS)} rcond "
        "values; final fit on all prefixes, scores in-sample (held-out R² beside them). R² is the "
        "probability-weighted R² pooled over the belief's S coordinates (1 - sum SSE / sum SST); "
        "RMSE is over the S coordinates; the invariant R² is the "
        "presentation-invariant one (comparable across HMMs, GHMMs and presentations). Random = "
        "freshly initialised networks of the same architecture (mean, 95th percentile of R²). "
        "Markov-3 beliefs R² = the same probe onto the beliefs of the order-3 Markov "
        "approximation; Markov-3 lookup R² = the exact last-3-tokens-plus-position lookup of the "
        "true beliefs (no network).", "",
        "± is the standard deviation over training seeds (absent for one seed); rcond lists "
        "each seed's choice; steps each seed's training steps.", "",
        "The paper's own numbers are not public in our sources: none is printed beside ours.", "",
        "## Each network's last layer", "", *table_lines(report.results, "last"), "",
        "## Concatenation of the non-input layers", "", *table_lines(report.results, "concat"),
        "", "## R² per layer", "", *per_layer_lines(report.results), "",
        "## Cross-architecture linear CKA (last layers)", "", *cka_lines(report.results),
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in files if f.suffix == ".png"], "",
        f"Wall time of the last invocation {report.wall_seconds / 60:.1f} min; "
        f"{invocation_text(report.environment)}.", ""])


__all__ = ["ArchSummary", "CkaSummary", "LayerSummary", "ProcessSummary", "QuantumProtocol",
           "QuantumReport", "QuantumSettings", "RandomSummary", "SeededScores", "arch_summary",
           "cka_lines", "cross_architecture_cka", "draw_figures", "layer_summary", "markdown",
           "markov3_lookup", "per_layer_lines", "seeded", "summarise", "table_lines"]
