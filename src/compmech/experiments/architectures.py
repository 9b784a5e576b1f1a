"""Four architectures on the same processes, probed the same two ways (Riechers, Elliott & Shai
2025, arXiv 2507.07432, trained transformers, LSTMs, GRUs and vanilla RNNs on quantum processes).

:func:`run_architectures` trains a transformer (the paper's Mess3 model), an LSTM, a GRU and a tanh
RNN (4 layers of width 64) on Mess3 and the three generalized processes of the catalogue
(``tom_quantum``, ``post_quantum``, ``fanizza``), with the same optimiser and a wall-clock budget
each, and probes every layer of each with both protocols:

* ``uniform``: every length-``n_ctx`` input, each point weight 1, trained on 20% of sequences and
  tested on 80% (Shai et al. 2024; 80/20 when the enumeration is small);
* ``probability``: the same inputs, point ``(word, t)`` weighted by ``P(word)`` (probability-weighted
  least squares), 5-fold cross-validation by sequence (scores pooled over folds), plus the probe
  with its ``rcond`` chosen by inner validation.

Beside each: the shuffle control, the untrained network, the (token x position) one-hot, random
features and the Markov-order-1..3 baselines. The report (``README.md``, ``summary.json``,
``architectures.png``) gives per network the parameter count, tokens seen, loss gap to the optimum
per position and probe error per layer.

The table and the figure lead with the presentation-invariant R^2
(:data:`compmech.probing.linear.SCORE_DEFINITIONS` ``invariant_r2``), the only probe score comparable
across the rows: MSE and plain R^2 of a generalized HMM change under a change of basis
``T -> S^-1 T S`` of the same process, and its MSE averages over ``S - 1`` belief-plane
coordinates where an HMM's averages over ``S`` simplex coordinates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compmech.experiments.reports import environment, failure_lines, invocation_text
from compmech.experiments.results import (
    RUNS_DIR,
    ExperimentSummary,
    Job,
    JobResult,
    ProtocolHookScores,
    load_figure_data,
)
from compmech.experiments.runner import check_manifest, recipe, run_jobs
from compmech.experiments.tables import Column, TablePrinter, loss_gap, markdown_table
from compmech.figures.clouds import architecture_grid, theory_beliefs
from compmech.figures.common import save
from compmech.files import atomic_write_text
from compmech.formatting import fmt
from compmech.hmm import GHMM
from compmech.processes import get_process
from compmech.records import Record
from transformer import (
    ModelConfig,
    TrainConfig,
    load_run,
    probe_hooks,
    recurrent_config,
)

#: The processes of the grid and their parameters (Mess3 as Shai et al. 2024; the generalized
#: processes with the catalogue's defaults, the literature's parameters).
PROCESSES: dict[str, dict[str, float]] = {
    "mess3": {"x": 0.05, "alpha": 0.85},
    "tom_quantum": {},
    "post_quantum": {},
    "fanizza": {},
}
#: The architectures of the grid, in column order.
ARCHS = ("transformer", "lstm", "gru", "rnn")
#: Input length of every model: all length-8 inputs are probed, as Riechers et al. (2025).
N_CTX = 8
#: Default training budget per model, in minutes (16 models, 2 workers: about 8 minutes of
#: training plus the probes on a laptop CPU).
DEFAULT_MINUTES = 1.0
#: The two probe protocols (``probe_run`` options), the first also drawn in the figure.
PROTOCOLS: tuple[dict[str, Any], ...] = (
    {"name": "uniform", "weighting": "uniform"},
    {"name": "probability", "weighting": "probability", "folds": 5, "rcond_sweep": True},
)
#: Markov orders reported in the table (the probe's baselines ``markov_k``).
MARKOV = (1, 2, 3)


def model_config(arch: str, vocab: int, *, tiny: bool = False):
    """The model of one column: the paper's transformer, or a 4-layer width-64 recurrent network;
    ``tiny``: 2 layers of width 8-16 and a context of 4 (for tests)."""
    n_ctx = 4 if tiny else N_CTX
    if arch == "transformer":
        if tiny:
            return ModelConfig(n_layers=2, d_model=16, n_heads=1, d_head=4, d_mlp=32, n_ctx=n_ctx,
                               d_vocab=vocab)
        return ModelConfig(n_ctx=n_ctx, d_vocab=vocab)
    if tiny:
        return recurrent_config(arch, n_layers=2, d_hidden=8, n_ctx=n_ctx, d_vocab=vocab)
    return recurrent_config(arch, n_ctx=n_ctx, d_vocab=vocab)


@dataclass(frozen=True, kw_only=True)
class ArchitecturesConfig(Record):
    """The grid to train and probe (:func:`architecture_jobs`).

    Attributes:
        processes: rows (keys of :data:`PROCESSES`).
        archs: columns (of :data:`ARCHS`).
        minutes: training budget per model, in minutes (the default recipe: AdamW, batch 1024,
            lr 3e-3); unused with ``tiny``.
        tiny: 30 steps of tiny models, seconds long (for tests).
        seed: seed of training and probes.

    Raises:
        ValueError: an unknown process or architecture, or ``minutes`` not a positive number
            without ``tiny``.
    """

    processes: tuple[str, ...] = tuple(PROCESSES)
    archs: tuple[str, ...] = ARCHS
    minutes: float | None = DEFAULT_MINUTES
    tiny: bool = False
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "processes", tuple(self.processes))
        object.__setattr__(self, "archs", tuple(self.archs))
        unknown = [p for p in self.processes if p not in PROCESSES]
        if unknown:
            raise ValueError(f"unknown processes {unknown}; choose from {', '.join(PROCESSES)}")
        bad = [a for a in self.archs if a not in ARCHS]
        if bad:
            raise ValueError(f"unknown architectures {bad}; choose from {', '.join(ARCHS)}")
        m = self.minutes
        if not self.tiny and (m is None or not (math.isfinite(m) and m > 0)):
            raise ValueError(f"minutes must be a positive number; got {m}")

    @property
    def minutes_per_model(self) -> float | None:
        """The training budget per model, ``None`` with ``tiny`` (trained for fixed steps)."""
        return None if self.tiny else self.minutes


def architecture_jobs(config: ArchitecturesConfig | None = None) -> list[Job]:
    """One job per (process, architecture) of ``config`` (``None``: the default grid): train, then
    probe every layer with both protocols."""
    c = ArchitecturesConfig() if config is None else config
    seed = c.seed
    jobs = []
    for process in c.processes:
        params = PROCESSES[process]
        vocab = get_process(process, **params).vocab_size
        for arch in c.archs:
            model = model_config(arch, vocab, tiny=c.tiny)
            if c.tiny:
                cfg = TrainConfig(process=process, process_params=params, model=model, steps=30,
                                  batch_size=32, lr=1e-2, warmup_steps=5, eval_every=15,
                                  log_every=10, checkpoints_per_decade=4, steps_per_call=10,
                                  seed=seed)
            else:
                cfg = TrainConfig(process=process, process_params=params, model=model, seed=seed,
                                  steps=10_000_000, minutes=float(c.minutes))
            jobs.append(Job(f"{process}_{arch}", cfg.to_dict(),
                            ArchitectureLabels(process, arch).to_dict(),
                            int(seed), protocols=[dict(p) for p in PROTOCOLS], layers=True,
                            dimensions=False))
    return jobs


@dataclass
class ArchitectureLabels(Record):
    """A job's place in the grid: its process (a key of :data:`PROCESSES`) and network."""

    process: str
    arch: str


@dataclass
class ArchitecturesSettings(Record):
    """The grid's settings (``summary.json`` ``settings``)."""

    processes: dict[str, dict[str, float]]
    archs: list[str]
    minutes_per_model: float | None
    n_ctx: int
    protocols: list[dict[str, Any]]
    models: dict[str, dict[str, Any]]


@dataclass
class ArchitecturesSummary(ExperimentSummary):
    """The grid's ``summary.json``."""

    settings: ArchitecturesSettings


def headline(result: JobResult, protocol: str) -> ProtocolHookScores:
    """The headline hook's numbers under ``protocol`` (a name of :data:`PROTOCOLS`; see
    :func:`compmech.experiments.runner.protocol_summary`)."""
    return result.protocols[protocol].hooks[result.probe.hook]


def _prob(r: JobResult) -> ProtocolHookScores:
    return headline(r, "probability")


def _unif(r: JobResult) -> ProtocolHookScores:
    return headline(r, "uniform")


def _baseline(name: str, invariant_r2: bool = False):
    """The headline probe's baseline ``name`` (probability protocol): held-out MSE, or the
    invariant R^2."""
    return lambda r: (_prob(r).baselines_invariant_r2 if invariant_r2
                      else _prob(r).baselines).get(name)


#: What MSE averages over, said beside every MSE of the grid.
MSE_NOTE = ("MSE averages over the target coordinates: S simplex coordinates for Mess3 (an HMM), "
            "S - 1 belief-plane coordinates for a generalized HMM, so the same error reads "
            "S / (S - 1) times larger on the GHMM rows, and a GHMM's MSE also depends on its "
            "basis; the invariant R^2 (iR2) compares across rows")


#: The table printed as jobs finish (and the first table of the report).
COLUMNS: tuple[Column, ...] = (
    Column("model", lambda r: r.name, "s"),
    Column("params", lambda r: r.num_params, "d"),
    Column("tokens", lambda r: r.train.tokens_seen, ".3g"),
    Column("loss gap", loss_gap, ".4f"),
    Column("iR2 prob", lambda r: _prob(r).invariant_r2_test, ".4f"),
    Column("iR2 unif", lambda r: _unif(r).invariant_r2_test, ".4f"),
    Column("iR2 untrained", _baseline("untrained", invariant_r2=True), ".4f"),
    Column("iR2 Markov 3", _baseline("markov_3", invariant_r2=True), ".4f"),
    Column("MSE unif", lambda r: _unif(r).mse_test, ".2e"),
    Column("MSE prob", lambda r: _prob(r).mse_test, ".2e"),
    Column("R2 prob", lambda r: _prob(r).r2_test, ".3f"),
    Column("rcond MSE", lambda r: _prob(r).rcond_mse, ".2e"),
    Column("shuffle", lambda r: _prob(r).shuffle_mse, ".2e"),
    Column("untrained", _baseline("untrained"), ".2e"),
    *(Column(f"Markov {k}", _baseline(f"markov_{k}"), ".2e") for k in MARKOV),
)


def table_lines(results: Sequence[JobResult], columns: Sequence[Column] = COLUMNS) -> list[str]:
    """The main table as markdown lines."""
    return markdown_table(results, columns).splitlines()


def _printer(log) -> TablePrinter:
    """The live table (the model column 20 wide, the others their header's width, at least 9)."""
    return TablePrinter(COLUMNS, log, widths=[20] + [max(len(c.header), 9) for c in COLUMNS[1:]])


def _mse(scores: ProtocolHookScores) -> float | None:
    return scores.mse_test


def per_layer_lines(results: Sequence[JobResult], protocol: str,
                    score: Callable[[ProtocolHookScores], float | None] = _mse,
                    spec: str = ".2e") -> list[str]:
    """A probe ``score`` (default the held-out MSE) at every probe hook (embedding, each layer,
    and the transformer's final LayerNorm) under ``protocol``."""
    layers = max(r.model_config.n_layers for r in results)
    final = any(r.model_config.arch == "transformer" for r in results)
    head = ["model", "embedding", *[f"layer {i}" for i in range(1, layers + 1)]]
    head += ["final LN"] if final else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in results:
        hooks = probe_hooks(r.model_config)
        scores = r.protocols[protocol].hooks
        cells = [fmt(score(scores[h]), spec) if h in scores else "n/a" for h in hooks]
        cells += [""] * (len(head) - 1 - len(cells))
        lines.append("| " + " | ".join([r.name, *cells]) + " |")
    return lines


def loss_gap_lines(results: Sequence[JobResult]) -> list[str]:
    """The loss gap to the optimum at every position (nats)."""
    P = max(len(r.loss.loss_gap_per_position) for r in results if r.loss)
    lines = ["| model | " + " | ".join(f"t={t}" for t in range(1, P + 1)) + " |",
             "|" + "|".join("---:" for _ in range(P + 1)) + "|"]
    for r in results:
        gaps = r.loss.loss_gap_per_position if r.loss else []
        lines.append("| " + " | ".join([r.name, *(f"{g:.4f}" for g in gaps)]) + " |")
    return lines


# ------------------------------------------------------------------------------------ running
def run_architectures(out_dir, config: ArchitecturesConfig | None = None, *, workers: int = 1,
                      force: bool = False, progress: bool = False,
                      log: Callable[[str], None] | None = print) -> ArchitecturesSummary:
    """Train and probe the grid (see the module docstring); rerunning the command resumes it.

    Args:
        out_dir: the experiment folder (``runs/``, ``results/``, the report).
        config: the grid (:class:`ArchitecturesConfig`; ``None``: the default one).
        workers: worker processes (:func:`compmech.experiments.runner.run_jobs`).
        force: rewrite a folder that holds an experiment with other settings.
        progress: training progress bars (serial mode).
        log: where table lines go.

    Returns:
        The :class:`~compmech.experiments.results.ExperimentSummary` (also ``summary.json``).
    """
    c = ArchitecturesConfig() if config is None else config
    out_dir = Path(out_dir)
    jobs = architecture_jobs(c)
    manifest = {"experiment": "architectures", "processes": list(c.processes),
                "archs": list(c.archs), "minutes": c.minutes_per_model, "tiny": c.tiny,
                "seed": c.seed, "protocols": [dict(p) for p in PROTOCOLS],
                "recipe": recipe(jobs[0].train_config)}
    out_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(out_dir, manifest, force)
    t0 = time.perf_counter()
    outcome = run_jobs(jobs, out_dir, workers=workers, on_result=_printer(log), progress=progress,
                       on_failure=None if log is None else
                       lambda name, message: log(f"FAILED {name}: {message} (no result written; "
                                                 "rerun to retry)"))
    wall = time.perf_counter() - t0
    done = [outcome.results[j.name] for j in jobs if j.name in outcome.results]
    if not done:
        raise ValueError(f"every job failed: {outcome.failed}")
    return write_report(out_dir, done, c, wall_seconds=wall, computed=outcome.computed,
                        failed=outcome.failed, workers=workers)


def _grid_figure(out_dir: Path, results: Sequence[JobResult], processes, archs) -> list[Path]:
    labels = {r.name: ArchitectureLabels.from_dict(r.labels) for r in results}
    by_key = {(labels[r.name].process, labels[r.name].arch): r for r in results}
    rows = []
    for process in processes:
        found = [by_key[(process, a)] for a in archs if (process, a) in by_key]
        if not found:
            continue
        data = {a: load_figure_data(out_dir, by_key[(process, a)].name) for a in archs
                if (process, a) in by_key}
        first = next(iter(data.values()))
        theory = theory_beliefs(load_run(out_dir / RUNS_DIR / found[0].name),
                                first.true.astype(np.float64))
        panels = {}
        hmm = get_process(process, **PROCESSES[process])
        coords = (f"{hmm.num_states - 1} plane coords" if isinstance(hmm, GHMM)
                  else f"{hmm.num_states} simplex coords")
        for arch, arrays in data.items():
            r = by_key[(process, arch)]
            caption = (f"iR2 uniform {fmt(_unif(r).invariant_r2_test, '.3f')}, "
                       f"prob. {fmt(_prob(r).invariant_r2_test, '.3f')}, Markov-3 "
                       f"{fmt(_baseline('markov_3', invariant_r2=True)(r), '.3f')}\n"
                       f"MSE/{coords} unif. {fmt(_unif(r).mse_test, '.1e')}, "
                       f"prob. {fmt(_prob(r).mse_test, '.1e')}")
            panels[arch] = (arrays.predicted.astype(np.float64),
                            arrays.true.astype(np.float64), caption)
        rows.append((process, theory, panels, not isinstance(get_process(process), GHMM)))
    fig = architecture_grid(rows, list(archs),
                            title="belief geometry: theory, then each network's last "
                                          "layer (uniform-protocol probe, held-out points); "
                                          "iR2 = presentation-invariant R^2")
    return save(fig, out_dir / "architectures")


def write_report(out_dir, results: Sequence[JobResult], config: ArchitecturesConfig, *,
                 wall_seconds: float, computed=(), failed=None,
                 workers: int = 1) -> ArchitecturesSummary:
    """The figure grid, ``summary.json`` and ``README.md`` of the experiment in ``out_dir``.

    Args:
        out_dir: the experiment folder.
        results: the finished jobs' results.
        config: the grid they were run with (rows, columns, budget).
        wall_seconds: wall time of this invocation.
        computed: names of the jobs computed by this invocation (the others were read back).
        failed: ``{job name: error}`` of the jobs that failed.
        workers: worker processes used.
    """
    out_dir = Path(out_dir)
    processes, archs = list(config.processes), list(config.archs)
    files = _grid_figure(out_dir, results, processes, archs)
    summary = ArchitecturesSummary(
        experiment="architectures",
        settings=ArchitecturesSettings(
            processes={p: PROCESSES[p] for p in processes}, archs=archs,
            minutes_per_model=config.minutes_per_model, n_ctx=results[0].model_config.n_ctx,
            protocols=[dict(p) for p in PROTOCOLS],
            models={ArchitectureLabels.from_dict(r.labels).arch: r.model for r in results}),
        rows=list(results), total_job_seconds=float(sum(r.seconds for r in results)),
        environment=environment(wall_seconds, computed, workers), failed=dict(failed or {}),
        files=[f.name for f in files] + ["summary.json", "README.md"])
    summary.write(out_dir / "summary.json")
    atomic_write_text(out_dir / "README.md", _markdown(summary, results,
                                                       [f for f in files if f.suffix == ".png"]))
    return summary


def _markdown(summary: ArchitecturesSummary, results: Sequence[JobResult], files) -> str:
    s = summary.settings
    budget = s.minutes_per_model
    models = "; ".join(f"{a}: " + ", ".join(f"{k} {v}" for k, v in m.items()
                                            if k not in ("arch", "d_vocab"))
                       for a, m in s.models.items())
    return "\n".join([
        "# Transformers, LSTMs, GRUs and RNNs on the same processes",
        "",
        f"Processes {list(s.processes)}; networks {s.archs} ({models}). Every model sees "
        f"all length-{s.n_ctx} inputs in the probe and is trained with the same recipe for "
        + (f"{budget} min" if budget else f"{results[0].train.steps} steps") + " each.",
        "",
        "Protocols: **uniform** = every input weight 1, 20% of sequences train / 80% test "
        "(80/20 for small enumerations); **probability** = point (word, t) weighted by P(word), "
        "5-fold cross-validation by sequence (scores pooled over folds); **rcond MSE** = the "
        "probability protocol with the cut-off chosen by inner validation. Controls: shuffle = "
        "beliefs permuted across points; untrained = the same network at step 0; Markov k = the "
        "best predictor seeing only the last k tokens (mean training belief of each window). "
        "**iR2** = the presentation-invariant R^2, `1 - tr(Sigma_t^+ Sigma_res) / rank(Sigma_t)` "
        "(R^2 in the metric of the held-out beliefs' covariance: unchanged under a change of "
        "basis T -> S^-1 T S of a generalized HMM, one definition for HMMs and GHMMs; 1 perfect, "
        "0 the mean belief); it leads because it is the score comparable across rows. "
        "MSE is weighted and normalised by the total weight, averaged over belief coordinates. "
        + MSE_NOTE + ". Loss gap: exact mean loss minus the optimum, nats per token.",
        "",
        *table_lines(results),
        "",
        "## Invariant R^2 per layer (probability protocol)",
        "",
        *per_layer_lines(results, "probability", lambda h: h.invariant_r2_test, ".4f"),
        "",
        "## Probe MSE per layer (probability protocol)",
        "",
        *per_layer_lines(results, "probability"),
        "",
        "## Probe MSE per layer (uniform protocol)",
        "",
        *per_layer_lines(results, "uniform"),
        "",
        "## Loss gap to the optimum per position (nats)",
        "",
        *loss_gap_lines(results),
        "",
        *failure_lines(summary.failed),
        "## Figure", "", *[f"![{f.stem}]({f.name})" for f in files], "",
        f"Total job time {summary.total_job_seconds / 60:.1f} min; "
        f"{invocation_text(summary.environment)}.", "",
    ])


__all__ = ["ARCHS", "COLUMNS", "DEFAULT_MINUTES", "MSE_NOTE", "N_CTX", "PROCESSES", "PROTOCOLS",
           "ArchitectureLabels", "ArchitecturesConfig", "ArchitecturesSettings", "ArchitecturesSummary",
           "architecture_jobs", "headline", "loss_gap_lines", "model_config", "per_layer_lines",
           "run_architectures", "table_lines", "write_report"]
