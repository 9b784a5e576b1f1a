"""``compmech reproduce quantum``: Riechers, Elliott & Shai (2025, arXiv 2507.07432), "Neural
networks leverage nominally quantum and post-quantum representations", protocol-exact and scaled
to a CPU.

What is reproduced. Four processes (Mess3(0.05, 0.85); fanizza(2000, 0.49), "FRDN";
tom_quantum(1, sqrt 51), the "Bloch walk"; post_quantum(e, 0.5), "Moon"), each learned by four
networks of 4 layers: the transformer of the paper (d_model 64, 4 heads x d_head 16, d_mlp 256),
an LSTM, a GRU and a vanilla tanh RNN (hidden width 64); context 8, no BOS token.

Where the protocol comes from: the authors' released configuration and analysis code (see
``shared/SCIENCE.md``, "Published protocols"); :mod:`compmech.probing.prefix_probe` restates every step
and cites the files. In short: every prefix of every length-8 word once, weighted by its summed
probability; probability-weighted least squares with a bias column; 10-fold cross-validation over
the deduplicated prefixes choosing, per layer and per target, the best of 53 ``rcond`` values; the
final fit on all prefixes. Probed layers: the transformer's ``blocks.0.hook_resid_pre``, every
``blocks.i.hook_resid_post`` and ``ln_final.hook_normalized``; a recurrent network's one-hot input
(``input``) and every layer's hidden state (``layers.i.hook_hidden``); and ``concat``, the
concatenation of the layers that are not inputs (the released code's ``concat_no_input``: for the
transformer the block outputs and the final LayerNorm, for a recurrent network the hidden states).
Targets: the process's belief (its ``S`` coordinates, as the released code; R^2 and RMSE of a GHMM
depend on its presentation, the invariant R^2 does not).

Measured, at the initial (step 0) and final checkpoints: R^2, RMSE and the chosen ``rcond`` per
layer, with the presentation-invariant R^2 and held-out R^2 beside them. Baselines: ``markov3`` =
the same probe of the same activations onto the beliefs of the process's Markov-order-3
approximation (:func:`compmech.markov_approx.markov_approximation`; the released code's "classical
beliefs"), and ``markov3_lookup`` = the exact Markov-3-plus-position lookup of the true beliefs
(:mod:`compmech.history`: the best any representation of exactly the last 3 tokens can do);
``random_networks`` = the same probe on ``N`` independently initialised networks of the same
architecture (default 32; the authors used 1,000), as the mean and the 95th percentile of R^2.
Cross-architecture similarity: linear CKA (:mod:`compmech.similarity`, probability-weighted over
the same prefixes) between the four networks' last layers (``transformer.last_hook``) per process.

The paper's own numbers are not public in our sources (no table of them is in the released code
or configuration we read), so none is printed beside ours.

Modules: :mod:`~compmech.experiments.quantum_probe` (processes, networks, prefixes, probes, one
job and its typed result), :mod:`~compmech.experiments.quantum_report` (the typed ``results.json``,
tables, figures); this one runs the command.

Budget: ``minutes`` is the whole command's target on 2 cores; a share of it (``TRAIN_SHARE``)
trains the 16 models, the rest is left for the probes. ``steps`` trains exactly that many
optimiser steps per model instead (reproducible under any load). A finished job
(``results/<name>.json``) is never redone; an interrupted training run resumes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from compmech.experiments.quantum_probe import (
    ARCHS,
    DEFAULT_MINUTES,
    DEFAULT_RANDOM_NETWORKS,
    MARKOV_ORDER,
    N_CTX,
    PAPER,
    PAPER_NAMES,
    PROCESSES,
    TINY_PROCESSES,
    TINY_RANDOM_NETWORKS,
    TRAIN_SHARE,
    ProbeData,
    QuantumJobResult,
    QuantumTask,
    concat_members,
    job_path,
    layer_activations,
    model_config,
    probe_data,
    probe_layers,
    probe_network,
    random_network_keys,
    random_networks_per_seed,
    read_job,
    run_job,
    run_task,
    train_config,
)
from compmech.experiments.quantum_report import (
    QuantumProtocol,
    QuantumReport,
    QuantumSettings,
    cross_architecture_cka,
    draw_figures,
    layer_summary,
    markdown,
    summarise,
)
from compmech.experiments.reports import environment
from compmech.experiments.runner import check_manifest, recipe
from compmech.files import atomic_write_text
from compmech.probing.prefix_probe import PAPER_FOLD_SEED, PAPER_FOLDS, PAPER_RCONDS
from compmech.records import Record
from transformer import last_hook, model_config_from_dict


def _log_line(result: QuantumJobResult) -> str:
    f = result.layers[last_hook(model_config_from_dict(result.model))].final
    return (f"{result.name:>32}  steps {result.steps:>6}  R² {f.r2:.4f}  RMSE {f.rmse:.4f}  rcond "
            f"{f.rcond:.1e}  ({result.train_seconds:.0f} s train, {result.analysis_seconds:.0f} s "
            "probes)")


def _run_tasks(tasks: Sequence[QuantumTask], workers: int,
               done: Callable[[QuantumJobResult, bool], None]) -> None:
    """Read the finished jobs, run the others (in ``workers`` processes when more than one)."""
    todo = []
    for task in tasks:
        path = job_path(Path(task.out_dir), task.name)
        if path.exists():
            done(read_job(path), False)
        else:
            todo.append(task)
    if workers <= 1:
        for task in todo:
            done(task.run(), True)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for fut in as_completed([pool.submit(run_task, t) for t in todo]):
            done(fut.result(), True)


@dataclass(frozen=True, kw_only=True)
class QuantumConfig(Record):
    """What ``compmech reproduce quantum`` trains and probes (see the module docstring).

    Attributes:
        processes: keys of :data:`PROCESSES`.
        archs: of :data:`ARCHS`.
        minutes: the whole command's target on 2 cores, in minutes (``TRAIN_SHARE`` of it
            trains); unused with ``steps`` or ``tiny``.
        steps: exact optimiser steps per model (overrides ``minutes`` for training).
        seeds: training seeds (mean ± std over them).
        random_networks: random initialisations per (process, architecture), split over the
            seeds' jobs (:func:`random_networks_per_seed`; each job keys its own).
        tiny: tiny networks, context 4, 30 steps (tests).

    Raises:
        ValueError: an unknown process or architecture, no seed, ``random_networks < 1``, or
            ``minutes`` not a positive number where it sets the budget.
    """

    processes: tuple[str, ...] = tuple(PROCESSES)
    archs: tuple[str, ...] = ARCHS
    minutes: float | None = DEFAULT_MINUTES
    steps: int | None = None
    seeds: tuple[int, ...] = (0,)
    random_networks: int = DEFAULT_RANDOM_NETWORKS
    tiny: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "processes", tuple(self.processes))
        set_(self, "archs", tuple(self.archs))
        set_(self, "seeds", tuple(int(s) for s in self.seeds))
        bad = ([p for p in self.processes if p not in PROCESSES]
               + [a for a in self.archs if a not in ARCHS])
        if bad:
            raise ValueError(f"unknown processes or architectures {bad}; processes: "
                             f"{', '.join(PROCESSES)}; architectures: {', '.join(ARCHS)}")
        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if int(self.random_networks) < 1:
            raise ValueError(f"random_networks must be >= 1; got {self.random_networks}")
        minutes = self.minutes
        if self.steps is None and not self.tiny and not (
                minutes and math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"minutes must be a positive number; got {minutes}")


def run_quantum(out_dir, config: QuantumConfig | None = None, *, workers: int = 1,
                force: bool = False, log: Callable[[str], None] | None = print) -> QuantumReport:
    """Train, probe and report the reproduction (see the module docstring); rerunning resumes.

    Args:
        out_dir: the experiment folder (``runs/``, ``results/``, ``results.json``, ``README.md``,
            figures).
        config: what to train and probe (:class:`QuantumConfig`; ``None``: its defaults).
        workers: worker processes.
        force: rewrite a folder holding another experiment's settings.
        log: progress lines.

    Returns:
        The report (also ``results.json``).
    """
    c = QuantumConfig() if config is None else config
    out_dir = Path(out_dir)
    processes, archs, seeds = list(c.processes), list(c.archs), list(c.seeds)
    steps, tiny = c.steps, c.tiny
    n_jobs = len(processes) * len(archs) * len(seeds)
    per_model = None if (tiny or steps) else TRAIN_SHARE * c.minutes * max(1, workers) / n_jobs
    per_seed = random_networks_per_seed(c.random_networks, len(seeds))
    tasks = [QuantumTask(str(out_dir), p, a, s,
                         train_config(p, a, seed=s, steps=steps, minutes_per_model=per_model,
                                      tiny=tiny).to_dict(), per_seed)
             for s in seeds for p in processes for a in archs]
    manifest = {"experiment": "quantum", "processes": processes, "archs": archs,
                "steps": steps, "minutes_per_model": per_model, "tiny": tiny, "seeds": seeds,
                "random_networks": int(c.random_networks), "recipe": recipe(tasks[0].config)}
    out_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(out_dir, manifest, force)
    t0 = time.perf_counter()
    jobs: list[QuantumJobResult] = []
    computed: list[str] = []

    def done(result: QuantumJobResult, now: bool) -> None:
        jobs.append(result)
        if now:
            computed.append(result.name)
        if log:
            log(_log_line(result))

    _run_tasks(tasks, workers, done)
    order = {t.name: i for i, t in enumerate(tasks)}
    jobs.sort(key=lambda j: order[j.name])
    results = summarise(out_dir, jobs, processes, archs, seeds)
    wall = time.perf_counter() - t0
    files = draw_figures(out_dir, results, ARCHS)
    report = QuantumReport(
        "quantum", PAPER, "not public in our sources; none printed",
        QuantumProtocol("authors' released analysis code (compmech.probing.prefix_probe)",
                        list(PAPER_RCONDS), PAPER_FOLDS, PAPER_FOLD_SEED, MARKOV_ORDER,
                        "beliefs (S coordinates)"),
        QuantumSettings({p: PROCESSES[p] for p in processes}, list(archs),
                        model_config_from_dict(jobs[0].model).n_ctx, seeds, steps,
                        None if tiny else c.minutes, per_model, int(c.random_networks), tiny,
                        workers),
        results, wall, float(sum(j.train_seconds + j.analysis_seconds for j in jobs)),
        environment(wall, computed, workers), [f.name for f in files] + ["results.json", "README.md"])
    report.write(out_dir / "results.json")
    atomic_write_text(out_dir / "README.md", markdown(report, files))
    return report


__all__ = ["ARCHS", "DEFAULT_MINUTES", "DEFAULT_RANDOM_NETWORKS", "N_CTX", "PAPER", "PAPER_NAMES",
           "PROCESSES", "ProbeData", "QuantumConfig", "QuantumReport", "TINY_PROCESSES",
           "TINY_RANDOM_NETWORKS", "concat_members", "cross_architecture_cka", "layer_activations",
           "layer_summary", "model_config", "probe_data", "probe_layers", "probe_network",
           "random_network_keys", "random_networks_per_seed", "run_job", "run_quantum", "summarise",
           "train_config"]
