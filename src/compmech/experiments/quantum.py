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
approximation (:func:`compmech.compose.markov_approximation`; the released code's "classical
beliefs"), and ``markov3_lookup`` = the exact Markov-3-plus-position lookup of the true beliefs
(:mod:`compmech.history`: the best any representation of exactly the last 3 tokens can do);
``random_networks`` = the same probe on ``N`` independently initialised networks of the same
architecture (default 32; the authors used 1,000), as the mean and the 95th percentile of R^2.
Cross-architecture similarity: linear CKA (:mod:`compmech.similarity`, probability-weighted over
the same prefixes) between the four networks' last layers (``transformer.last_hook``) per process.

The paper's own numbers are not public in our sources (no table of them is in the released code
or configuration we read), so none is printed beside ours.

Budget: ``minutes`` is the whole command's target on 2 cores; a share of it (``TRAIN_SHARE``)
trains the 16 models, the rest is left for the probes. ``steps`` trains exactly that many
optimiser steps per model instead (reproducible under any load). A finished job
(``results/<name>.json``) is never redone; an interrupted training run resumes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from threadpoolctl import threadpool_limits

from compmech.compose import markov_approximation
from compmech.experiments.reports import environment, invocation_text
from compmech.experiments.results import RESULTS_DIR, RUNS_DIR
from compmech.experiments.runner import check_manifest, job_lock, recipe, train_or_resume
from compmech.figures import quantum as quantum_figures
from compmech.figures.common import save
from compmech.files import atomic_write_text, write_json
from compmech.history import markov_lookup
from compmech.inference import enumerate_words, filter_beliefs
from compmech.probing.prefix_probe import (
    PAPER_FOLD_SEED,
    PAPER_FOLDS,
    PAPER_RCONDS,
    PrefixRows,
    deduplicate_prefixes,
    kfold_rcond_regression,
    protocol_scores,
)
from compmech.processes import get_process
from compmech.similarity import cka_matrix
from transformer import (
    ModelConfig,
    TrainConfig,
    collect_activations,
    init_params,
    last_hook,
    load_run,
    model_config_from_dict,
    probe_hooks,
    recurrent_config,
)
from transformer.registry import hook_widths

PAPER = "Riechers, Elliott & Shai 2025, arXiv 2507.07432"
#: The processes and the paper's parameters (our catalogue's names).
PROCESSES: dict[str, dict[str, float]] = {
    "mess3": {"x": 0.05, "alpha": 0.85},
    "fanizza": {"alpha": 2000.0, "lam": 0.49},
    "tom_quantum": {"alpha": 1.0, "beta": math.sqrt(51.0)},
    "post_quantum": {"alpha": math.e, "beta": 0.5},
}
#: The paper's names of the processes.
PAPER_NAMES = {"mess3": "Mess3", "fanizza": "FRDN", "tom_quantum": "Bloch walk",
               "post_quantum": "Moon"}
ARCHS = ("transformer", "lstm", "gru", "rnn")
N_CTX = 8
#: Default whole-command budget in minutes (2 cores) and the share of it spent training.
DEFAULT_MINUTES = 30.0
TRAIN_SHARE = 0.6
#: Randomly initialised networks per architecture and process (the authors used 1,000).
DEFAULT_RANDOM_NETWORKS = 32
#: What ``--tiny`` runs (CI): one process, every architecture, two random networks.
TINY_PROCESSES = ("fanizza",)
TINY_RANDOM_NETWORKS = 2
#: Markov order of the classical baselines.
MARKOV_ORDER = 3
#: Added to the seed to key the random networks (never the training initialisation's key).
RANDOM_KEY_OFFSET = 1_000_003
#: Words per call when collecting activations (a few MB of activations per hook).
WORDS_PER_CHUNK = 4096
#: Layer name of a recurrent network's one-hot input, and of the concatenation.
INPUT_LAYER, CONCAT = "input", "concat"
#: Fields of one probe kept in the results.
KEPT = ("r2", "rmse", "mse", "invariant_r2", "whitened_mse", "mean_distance", "dist",
        "r2_released_code", "rmse_per_coordinate", "mae_per_coordinate", "mse_per_coordinate")


# ------------------------------------------------------------------------------------ configs
def model_config(arch: str, vocab: int, *, tiny: bool = False):
    """The paper's networks (4 layers, width 64, context 8); ``tiny``: 2 layers of width 8, context
    4 (for tests)."""
    n_ctx = 4 if tiny else N_CTX
    if arch == "transformer":
        if tiny:
            return ModelConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_mlp=16, n_ctx=n_ctx,
                               d_vocab=vocab)
        return ModelConfig(n_layers=4, d_model=64, n_heads=4, d_head=16, d_mlp=256, n_ctx=n_ctx,
                           d_vocab=vocab)
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return recurrent_config(arch, n_layers=2 if tiny else 4, d_hidden=8 if tiny else 64,
                            n_ctx=n_ctx, d_vocab=vocab)


def train_config(process: str, arch: str, *, seed: int, steps: int | None,
                 minutes_per_model: float | None, tiny: bool = False) -> TrainConfig:
    """The training run of one job: the toolkit's recipe (AdamW, batch 1024, lr 3e-3), for exactly
    ``steps`` steps or ``minutes_per_model`` of wall clock."""
    params = PROCESSES[process]
    model = model_config(arch, get_process(process, **params).vocab_size, tiny=tiny)
    if tiny:
        return TrainConfig(process=process, process_params=params, model=model,
                           steps=steps or 30, batch_size=32, lr=1e-2, warmup_steps=5,
                           eval_every=15, log_every=10, checkpoints_per_decade=2,
                           steps_per_call=10, seed=seed)
    if steps is not None:
        return TrainConfig(process=process, process_params=params, model=model, seed=seed,
                           steps=int(steps), warmup_steps=min(200, max(1, int(steps) // 10)),
                           eval_every=max(1, int(steps) // 4), checkpoints_per_decade=2)
    return TrainConfig(process=process, process_params=params, model=model, seed=seed,
                       steps=10_000_000, minutes=float(minutes_per_model),
                       checkpoints_per_decade=2)


# ------------------------------------------------------------------------------------ data
class ProbeData:
    """Every distinct prefix of every length-``n_ctx`` word of a process (words in lexicographic
    order, those of probability zero left out), with its weight, its belief, its Markov-order-3
    belief and the Markov-3 lookup."""

    def __init__(self, process: str, n_ctx: int) -> None:
        hmm = get_process(process, **PROCESSES[process])
        words, probs = enumerate_words(hmm, n_ctx)
        keep = probs > 0
        words, probs = words[keep], probs[keep]
        self.rows: PrefixRows = deduplicate_prefixes(words, probs)
        self.words = words  # (M, n_ctx): every word of positive probability
        self.prefix_words = words[self.rows.word_index]  # (N, n_ctx); prefix = [:position+1]
        beliefs = filter_beliefs(hmm, words).beliefs
        self.beliefs = self.rows.take(beliefs)
        markov = markov_approximation(hmm, min(MARKOV_ORDER, n_ctx - 1))
        mb = filter_beliefs(markov, words, allow_impossible=True).beliefs
        self.markov_beliefs = self.rows.take(mb)
        lookup = markov_lookup(words, beliefs, min(MARKOV_ORDER, n_ctx), weights=probs)
        self.markov_lookup = self.rows.take(lookup)
        self.weights = self.rows.weights
        self.vocab, self.n_ctx = hmm.vocab_size, n_ctx

    @property
    def num_rows(self) -> int:
        return int(self.weights.shape[0])


_DATA: dict[tuple[str, int], ProbeData] = {}


def probe_data(process: str, n_ctx: int) -> ProbeData:
    """:class:`ProbeData`, cached per process within this Python process."""
    key = (process, n_ctx)
    if key not in _DATA:
        _DATA[key] = ProbeData(process, n_ctx)
    return _DATA[key]


def probe_layers(cfg) -> list[str]:
    """The probed layers of a network (without ``concat``)."""
    if isinstance(cfg, ModelConfig):
        return probe_hooks(cfg)
    return [INPUT_LAYER] + [f"layers.{i}.hook_hidden" for i in range(cfg.n_layers)]


def concat_members(layers: Sequence[str]) -> list[str]:
    """The layers of ``concat``: those whose name has none of ``pre``, ``embed``, ``input`` (the
    released code's ``concat_no_input``)."""
    return [name for name in layers if not any(s in name.lower() for s in ("pre", "embed", "input"))]


def layer_activations(params, cfg, data: ProbeData, layers: Sequence[str] | None = None
                      ) -> dict[str, np.ndarray]:
    """``{layer: (N, width) float64}`` at the last position of every distinct prefix, plus
    ``concat``: read from the words that hold the prefixes' first occurrences (a causal network's
    activation at position ``t`` depends on the first ``t + 1`` tokens only, so it is the
    prefix's own; tested against each prefix run alone)."""
    layers = list(probe_layers(cfg) if layers is None else layers)
    hooks = [h for h in layers if h not in (INPUT_LAYER, CONCAT)]
    widths = hook_widths(cfg)
    result = {h: np.empty((data.num_rows, cfg.d_vocab if h == INPUT_LAYER else widths[h]))
              for h in layers if h != CONCAT}
    rows = data.rows
    if INPUT_LAYER in result:
        result[INPUT_LAYER][:] = np.eye(cfg.d_vocab)[data.words[rows.word_index, rows.position]]
    if hooks:  # one pass over the whole words, chunk by chunk, gathering each prefix's point
        order = np.argsort(rows.word_index, kind="stable")
        M = data.words.shape[0]
        starts = np.searchsorted(rows.word_index[order],
                                 np.r_[np.arange(0, M, WORDS_PER_CHUNK), M])
        for c, start in enumerate(range(0, M, WORDS_PER_CHUNK)):
            mine = order[starts[c]:starts[c + 1]]
            acts = collect_activations(params, cfg, data.words[start:start + WORDS_PER_CHUNK],
                                       hooks)
            for h in hooks:
                result[h][mine] = acts[h][rows.word_index[mine] - start, rows.position[mine]]
    if CONCAT in layers or layers == list(probe_layers(cfg)):
        members = concat_members(list(result))
        result[CONCAT] = np.concatenate([result[m] for m in members], axis=1)
    return result


def _probe(X: np.ndarray, Y: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    fit = kfold_rcond_regression(X, Y, w)
    out = {k: fit.scores[k] for k in KEPT}
    out.update(rcond=fit.rcond, rank=fit.rank,
               heldout={k: fit.heldout_scores[k] for k in ("r2", "rmse", "invariant_r2")})
    return out


def probe_network(params, cfg, data: ProbeData, *, markov: bool) -> dict[str, dict]:
    """The paper's probe of every layer (and ``concat``) onto the beliefs (and, with ``markov``,
    onto the Markov-order-3 beliefs)."""
    acts = layer_activations(params, cfg, data)
    out = {}
    with threadpool_limits(1, user_api="blas"):
        for layer, X in acts.items():
            out[layer] = {"beliefs": _probe(X, data.beliefs, data.weights)}
            if markov:
                out[layer]["markov3"] = _probe(X, data.markov_beliefs, data.weights)
    return out


def random_network_keys(seed: int, n: int) -> list:
    """``n`` independent JAX keys for the random networks of a job (never the training key)."""
    return list(jax.random.split(jax.random.key(RANDOM_KEY_OFFSET + int(seed)), int(n)))


# ------------------------------------------------------------------------------------ one job
def job_name(process: str, arch: str, seed: int) -> str:
    return f"{process}_{arch}_seed{seed}"


def _loss_gap(run) -> float | None:
    evals = [m for m in run.metrics if "eval_loss" in m]
    if not evals:
        return None
    last = evals[-1]
    return float(np.mean(np.asarray(last["eval_loss"]) - np.asarray(last["optimal_loss"])))


def random_networks_per_seed(total: int, num_seeds: int) -> int:
    """Random networks each seed's job draws so that a (process, architecture) pools at least
    ``total`` (the baseline does not depend on the training seed; its keys differ per seed)."""
    return -(-int(total) // int(num_seeds))


def run_job(out_dir: Path, process: str, arch: str, seed: int, config: TrainConfig,
            random_networks: int) -> dict:
    """Train one network, probe its initial and final checkpoints and ``random_networks`` fresh
    initialisations; write ``results/<name>.json`` (the job's marker of completion)."""
    name = job_name(process, arch, seed)
    path = out_dir / RESULTS_DIR / f"{name}.json"
    with job_lock(out_dir, name):
        if path.exists():
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        run = train_or_resume(config, out_dir / RUNS_DIR / name, progress=False)
        t_train = time.perf_counter() - t0
        cfg = run.model_config
        data = probe_data(process, cfg.n_ctx)
        steps = run.checkpoint_steps
        final = probe_network(run.load_params(steps[-1]), cfg, data, markov=True)
        initial = probe_network(run.load_params(steps[0]), cfg, data, markov=False)
        randoms = [probe_network(init_params(cfg, key), cfg, data, markov=False)
                   for key in random_network_keys(seed, random_networks)]
        layers = {}
        for layer in final:
            layers[layer] = {
                "final": final[layer]["beliefs"], "markov3": final[layer]["markov3"],
                "initial": initial[layer]["beliefs"],
                "random": {k: [r[layer]["beliefs"][k] for r in randoms]
                           for k in ("r2", "rmse", "invariant_r2", "rcond")}}
        result = {
            "name": name, "process": process, "arch": arch, "seed": seed,
            "model": cfg.to_dict(), "num_params": cfg.num_params, "initial_step": steps[0],
            "steps": steps[-1], "tokens_seen": run.tokens_seen(steps[-1]),
            "loss_gap_nats": _loss_gap(run), "train_seconds": t_train,
            "analysis_seconds": time.perf_counter() - t0 - t_train,
            "num_prefixes": data.num_rows, "random_networks": random_networks, "layers": layers}
        write_json(path, result)
        return result


def _job_entry(args: tuple) -> dict:
    out_dir, process, arch, seed, config, n = args
    return run_job(Path(out_dir), process, arch, seed, TrainConfig.from_dict(config), n)


# ------------------------------------------------------------------------------------ summary
def _mean_std(values) -> tuple[float, float]:
    """Mean and sample std (``None`` for fewer than two values: no spread over seeds)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return float("nan"), None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None


def _seeded(entries: list[dict], keys=("r2", "rmse", "invariant_r2")) -> dict:
    out: dict[str, Any] = {}
    for k in keys:
        out[k], out[f"{k}_std"] = _mean_std(e[k] for e in entries)
    out["rcond"] = entries[0]["rcond"]
    out["rcond_per_seed"] = [e["rcond"] for e in entries]
    return out


def layer_summary(jobs: list[dict], layer: str) -> dict:
    """One layer of one (process, architecture) over seeds: the fields of ``results.json``."""
    final = [j["layers"][layer]["final"] for j in jobs]
    out = _seeded(final)
    out["r2_heldout"], out["r2_heldout_std"] = _mean_std(e["heldout"]["r2"] for e in final)
    out["r2_released_code"] = _mean_std(e["r2_released_code"] for e in final)[0]
    out["initial"] = _seeded([j["layers"][layer]["initial"] for j in jobs])
    out["markov3"] = _seeded([j["layers"][layer]["markov3"] for j in jobs])
    r2 = np.concatenate([j["layers"][layer]["random"]["r2"] for j in jobs])
    rmse = np.concatenate([j["layers"][layer]["random"]["rmse"] for j in jobs])
    ir2 = np.concatenate([j["layers"][layer]["random"]["invariant_r2"] for j in jobs])
    out["random_networks"] = {
        "n": int(r2.size), "mean": float(r2.mean()), "p95": float(np.percentile(r2, 95)),
        "rmse_mean": float(rmse.mean()), "rmse_p5": float(np.percentile(rmse, 5)),
        "invariant_r2_mean": float(ir2.mean()), "invariant_r2_p95": float(np.percentile(ir2, 95))}
    return out


def cross_architecture_cka(out_dir: Path, process: str, archs: Sequence[str], seeds: Sequence[int]
                           ) -> dict:
    """Linear CKA between the last layers (``transformer.last_hook``) of the networks trained on
    ``process``, probability-weighted over the same prefixes; mean and std over seeds."""
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
        return {}
    names = list(per_seed[0])
    mean = {a: {b: _mean_std(m[a][b] for m in per_seed)[0] for b in names} for a in names}
    std = {a: {b: _mean_std(m[a][b] for m in per_seed)[1] for b in names} for a in names}
    return {"layers": hooks, "matrix": mean, "std": std, "seeds": len(per_seed),
            "weights": "prefix probability (the probe's row weights)"}


def markov3_lookup(process: str, n_ctx: int) -> dict:
    """Scores of the exact Markov-3-plus-position lookup of the beliefs (no network)."""
    data = probe_data(process, n_ctx)
    s = protocol_scores(data.markov_lookup, data.beliefs, data.weights)
    return {k: s[k] for k in ("r2", "rmse", "invariant_r2")}


def summarise(out_dir: Path, jobs: list[dict], processes, archs, seeds) -> dict:
    """The ``results`` part of ``results.json``: per process, per architecture, per layer."""
    results = {}
    for process in processes:
        entry: dict[str, Any] = {"paper_name": PAPER_NAMES[process], "params": PROCESSES[process],
                                 "architectures": {}}
        n_ctx = None
        for arch in archs:
            mine = [j for j in jobs if j["process"] == process and j["arch"] == arch]
            if not mine:
                continue
            n_ctx = mine[0]["model"]["n_ctx"]
            entry["architectures"][arch] = {
                "num_params": mine[0]["num_params"],
                "steps": [j["steps"] for j in mine],
                "tokens_seen": [j["tokens_seen"] for j in mine],
                "loss_gap_nats": _mean_std(j["loss_gap_nats"] for j in mine),
                "last_layer": last_hook(model_config_from_dict(mine[0]["model"])),
                "layers": {layer: layer_summary(mine, layer) for layer in mine[0]["layers"]}}
        if n_ctx is not None:
            entry["markov3_lookup"] = markov3_lookup(process, n_ctx)
            entry["num_prefixes"] = probe_data(process, n_ctx).num_rows
            entry["cka"] = cross_architecture_cka(out_dir, process, archs, seeds)
        results[process] = entry
    return results


# ------------------------------------------------------------------------------------ report
def _f(x, spec=".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return format(x, spec)


def _pm(entry: dict, key: str, spec=".3f") -> str:
    std = entry.get(f"{key}_std")
    return _f(entry[key], spec) + (f" ± {_f(std, spec)}" if std else "")


def table_lines(results: dict, which: str) -> list[str]:
    """The headline table for ``which`` layer (``"last"``: each network's last layer, or
    ``"concat"``)."""
    head = ["process", "network", "steps", "R²", "RMSE", "rcond", "invariant R²", "R² held out",
            "R² initial", "random mean", "random p95", "Markov-3 beliefs R²", "Markov-3 lookup R²"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 11) + "|"]
    for process, entry in results.items():
        for arch, a in entry["architectures"].items():
            layer = CONCAT if which == "concat" else a["last_layer"]
            s = a["layers"][layer]
            lines.append("| " + " | ".join([
                f"{PAPER_NAMES[process]} ({process})", arch,
                "/".join(str(x) for x in a["steps"]), _pm(s, "r2"), _pm(s, "rmse", ".4f"),
                "/".join(_f(r, ".1e") for r in s["rcond_per_seed"]), _pm(s, "invariant_r2"),
                _pm(s, "r2_heldout"),
                _f(s["initial"]["r2"]), _f(s["random_networks"]["mean"]),
                _f(s["random_networks"]["p95"]), _f(s["markov3"]["r2"]),
                _f(entry["markov3_lookup"]["r2"])]) + " |")
    return lines


def per_layer_lines(results: dict) -> list[str]:
    """R² (final; random mean) at every probed layer."""
    lines = []
    for process, entry in results.items():
        for arch, a in entry["architectures"].items():
            cells = [f"`{layer}` {_f(s['r2'])} (random {_f(s['random_networks']['mean'])})"
                     for layer, s in a["layers"].items()]
            lines.append(f"- {process} / {arch}: " + "; ".join(cells))
    return lines


def cka_lines(results: dict) -> list[str]:
    lines = []
    for process, entry in results.items():
        cka = entry.get("cka") or {}
        if not cka:
            continue
        names = list(cka["matrix"])
        lines += [f"**{PAPER_NAMES[process]}** ({cka['seeds']} seed(s))", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for a in names:
            lines.append(f"| {a} | " + " | ".join(_f(cka["matrix"][a][b]) for b in names) + " |")
        lines.append("")
    return lines


def draw_figures(out_dir: Path, results: dict) -> list[Path]:
    """``quantum_layers.png`` and ``quantum_cka.png`` (:mod:`compmech.figures.quantum`)."""
    names = {p: f"{PAPER_NAMES[p]} ({p})" for p in results}
    files = save(quantum_figures.layer_r2_figure(results, names, ARCHS), out_dir / "quantum_layers",
                 formats=("png",))
    fig = quantum_figures.cka_figure(results, {p: PAPER_NAMES[p] for p in results})
    if fig is not None:
        files += save(fig, out_dir / "quantum_cka", formats=("png",))
    return files


def markdown(report: dict, files: Sequence[Path]) -> str:
    s = report["settings"]
    budget = (f"exactly {s['steps']} steps per model" if s["steps"] else
              f"{s['minutes_per_model']:.2f} min of training per model "
              f"({s['minutes']} min total target)") if not s["tiny"] else "tiny (tests)"
    return "\n".join([
        f"# Quantum and post-quantum representations ({PAPER})", "",
        f"Processes {list(report['results'])}; networks {s['archs']}; context {s['n_ctx']}; "
        f"seeds {s['seeds']}; {budget}; at least {s['random_networks']} random networks per "
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
        "## Each network's last layer", "", *table_lines(report["results"], "last"), "",
        "## Concatenation of the non-input layers", "", *table_lines(report["results"], "concat"),
        "", "## R² per layer", "", *per_layer_lines(report["results"]), "",
        "## Cross-architecture linear CKA (last layers)", "", *cka_lines(report["results"]),
        "## Figures", "", *[f"![{f.stem}]({f.name})" for f in files if f.suffix == ".png"], "",
        f"Wall time of the last invocation {report['wall_seconds'] / 60:.1f} min; "
        f"{invocation_text(report['environment'])}.", ""])


# ------------------------------------------------------------------------------------ running
def run_quantum(out_dir, *, processes: Sequence[str] = tuple(PROCESSES),
                archs: Sequence[str] = ARCHS, minutes: float | None = DEFAULT_MINUTES,
                steps: int | None = None, seeds: Sequence[int] = (0,),
                random_networks: int = DEFAULT_RANDOM_NETWORKS, tiny: bool = False,
                workers: int = 1, force: bool = False,
                log: Callable[[str], None] | None = print) -> dict:
    """Train, probe and report the reproduction (see the module docstring); rerunning resumes.

    Args:
        out_dir: the experiment folder (``runs/``, ``results/``, ``results.json``, ``README.md``,
            figures).
        processes: keys of :data:`PROCESSES`.
        archs: of :data:`ARCHS`.
        minutes: the whole command's target on 2 cores (``TRAIN_SHARE`` of it trains).
        steps: exact optimiser steps per model (overrides ``minutes`` for training).
        seeds: training seeds (mean ± std over them).
        random_networks: random initialisations per (process, architecture), split over the
            seeds' jobs (:func:`random_networks_per_seed`; each job keys its own).
        tiny: tiny networks, context 4, 30 steps (tests).
        workers: worker processes.
        force: rewrite a folder holding another experiment's settings.
        log: progress lines.

    Returns:
        The report (also ``results.json``).
    """
    out_dir = Path(out_dir)
    bad = [p for p in processes if p not in PROCESSES] + [a for a in archs if a not in ARCHS]
    if bad:
        raise ValueError(f"unknown processes or architectures {bad}; processes: "
                         f"{', '.join(PROCESSES)}; architectures: {', '.join(ARCHS)}")
    if int(random_networks) < 1:
        raise ValueError(f"random_networks must be >= 1; got {random_networks}")
    if steps is None and not tiny and not (minutes and math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number; got {minutes}")
    seeds = [int(s) for s in seeds]
    n_jobs = len(processes) * len(archs) * len(seeds)
    per_model = None if (tiny or steps) else TRAIN_SHARE * minutes * max(1, workers) / n_jobs
    per_seed = random_networks_per_seed(random_networks, len(seeds))
    tasks = [(str(out_dir), p, a, s,
              train_config(p, a, seed=s, steps=steps, minutes_per_model=per_model,
                           tiny=tiny).to_dict(), per_seed)
             for s in seeds for p in processes for a in archs]
    manifest = {"experiment": "quantum", "processes": list(processes), "archs": list(archs),
                "steps": steps, "minutes_per_model": per_model, "tiny": tiny, "seeds": seeds,
                "random_networks": int(random_networks), "recipe": recipe(tasks[0][4])}
    out_dir.mkdir(parents=True, exist_ok=True)
    check_manifest(out_dir, manifest, force)
    t0 = time.perf_counter()
    jobs, computed = [], []

    def done(result: dict, now: bool) -> None:
        jobs.append(result)
        if now:
            computed.append(result["name"])
        if log:
            layer = last_hook(model_config_from_dict(result["model"]))
            f = result["layers"][layer]["final"]
            log(f"{result['name']:>32}  steps {result['steps']:>6}  R² {f['r2']:.4f}  RMSE "
                f"{f['rmse']:.4f}  rcond {f['rcond']:.1e}  ({result['train_seconds']:.0f} s train, "
                f"{result['analysis_seconds']:.0f} s probes)")

    todo = []
    for task in tasks:
        path = out_dir / RESULTS_DIR / f"{job_name(*task[1:4])}.json"
        if path.exists():
            done(json.loads(path.read_text()), now=False)
        else:
            todo.append(task)
    if workers <= 1:
        for task in todo:
            done(_job_entry(task), now=True)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for fut in as_completed([pool.submit(_job_entry, t) for t in todo]):
                done(fut.result(), now=True)
    order = {job_name(*t[1:4]): i for i, t in enumerate(tasks)}
    jobs.sort(key=lambda j: order[j["name"]])
    results = summarise(out_dir, jobs, processes, archs, seeds)
    wall = time.perf_counter() - t0
    report = {
        "experiment": "quantum", "paper": PAPER,
        "paper_numbers": "not public in our sources; none printed",
        "protocol": {"source": "authors' released analysis code (compmech.probing.prefix_probe)",
                     "rconds": list(PAPER_RCONDS), "folds": PAPER_FOLDS,
                     "fold_seed": PAPER_FOLD_SEED, "markov_order": MARKOV_ORDER,
                     "targets": "beliefs (S coordinates)"},
        "settings": {"processes": {p: PROCESSES[p] for p in processes}, "archs": list(archs),
                     "n_ctx": jobs[0]["model"]["n_ctx"], "seeds": seeds, "steps": steps,
                     "minutes": None if tiny else minutes, "minutes_per_model": per_model,
                     "random_networks": int(random_networks), "tiny": tiny, "workers": workers},
        "results": results, "wall_seconds": wall,
        "job_seconds": float(sum(j["train_seconds"] + j["analysis_seconds"] for j in jobs)),
        "environment": environment(wall, computed, workers)}
    files = draw_figures(out_dir, results)
    report["files"] = [f.name for f in files] + ["results.json", "README.md"]
    write_json(out_dir / "results.json", report)
    atomic_write_text(out_dir / "README.md", markdown(report, files))
    return report


__all__ = ["ARCHS", "DEFAULT_MINUTES", "DEFAULT_RANDOM_NETWORKS", "N_CTX", "PAPER", "PROCESSES",
           "ProbeData", "TINY_PROCESSES", "TINY_RANDOM_NETWORKS", "concat_members",
           "cross_architecture_cka", "layer_activations",
           "layer_summary", "model_config", "probe_data", "probe_layers", "probe_network",
           "random_network_keys", "random_networks_per_seed", "run_job", "run_quantum", "summarise",
           "train_config"]
