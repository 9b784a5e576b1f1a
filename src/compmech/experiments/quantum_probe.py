"""The networks, data and probes of ``compmech reproduce quantum`` (:mod:`compmech.experiments.quantum`):
the paper's processes and networks, the deduplicated prefixes, the authors' probe of every layer, and
one job (train one network, probe it, its initial checkpoint and fresh random networks), with the
job's typed result (``results/<job>.json``)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from threadpoolctl import threadpool_limits

from compmech.experiments.results import RESULTS_DIR, RUNS_DIR, read_result
from compmech.experiments.run_metrics import loss_gap_nats
from compmech.experiments.runner import job_lock, train_or_resume
from compmech.history import markov_lookup
from compmech.inference import enumerate_words, filter_beliefs
from compmech.markov_approx import markov_approximation
from compmech.probing.prefix_probe import PrefixRows, deduplicate_prefixes, kfold_rcond_regression
from compmech.processes import get_process
from compmech.records import Record
from transformer import (
    ModelConfig,
    TrainConfig,
    collect_activations,
    init_params,
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


# ------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class CoreScores(Record):
    """Probability-weighted R^2, RMSE (over the S coordinates) and presentation-invariant R^2."""

    r2: float
    rmse: float
    invariant_r2: float

    @classmethod
    def of(cls, scores: dict) -> CoreScores:
        """The three scores of a :func:`~compmech.probing.prefix_probe.protocol_scores` dict."""
        return cls.from_dict({f.name: scores[f.name] for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class PrefixScores(Record):
    """One probe of one layer onto one target (the fields kept of
    :func:`~compmech.probing.prefix_probe.kfold_rcond_regression`): in-sample scores of the final
    fit, the chosen ``rcond`` and rank, and the held-out scores of the cross-validation."""

    r2: float
    rmse: float
    mse: float
    invariant_r2: float
    whitened_mse: float
    mean_distance: float
    dist: float
    r2_released_code: float
    rmse_per_coordinate: list[float]
    mae_per_coordinate: list[float]
    mse_per_coordinate: list[float]
    rcond: float
    rank: int
    heldout: CoreScores

    @classmethod
    def of(cls, fit) -> PrefixScores:
        """From a :class:`~compmech.probing.prefix_probe.KFoldRcondFit`."""
        scores = {f.name: fit.scores[f.name] for f in dataclasses.fields(cls)
                  if f.name in fit.scores}
        return cls.from_dict(scores | {"rcond": fit.rcond, "rank": fit.rank,
                                       "heldout": CoreScores.of(fit.heldout_scores)})


@dataclass(frozen=True)
class LayerProbe:
    """A network's probe of one layer: onto the beliefs and (final checkpoint) the Markov-3
    beliefs."""

    beliefs: PrefixScores
    markov3: PrefixScores | None


@dataclass(frozen=True)
class RandomScores(Record):
    """One layer's scores on each random network (lists over the networks)."""

    r2: list[float]
    rmse: list[float]
    invariant_r2: list[float]
    rcond: list[float]

    @classmethod
    def of(cls, probes: Sequence[PrefixScores]) -> RandomScores:
        return cls([p.r2 for p in probes], [p.rmse for p in probes],
                   [p.invariant_r2 for p in probes], [p.rcond for p in probes])


@dataclass(frozen=True)
class JobLayer(Record):
    """One layer of one job: the trained network's probes, its initial checkpoint's, and the
    random networks'."""

    final: PrefixScores
    markov3: PrefixScores
    initial: PrefixScores
    random: RandomScores


@dataclass(frozen=True)
class QuantumJobResult(Record):
    """``results/<name>.json``: one trained network and its probes (the job's marker of
    completion)."""

    name: str
    process: str
    arch: str
    seed: int
    model: dict[str, Any]
    num_params: int
    initial_step: int
    steps: int
    tokens_seen: int
    loss_gap_nats: float | None
    train_seconds: float
    analysis_seconds: float
    num_prefixes: int
    random_networks: int
    layers: dict[str, JobLayer]


def read_job(path: Path) -> QuantumJobResult:
    """A finished job's file (refused with one line when another version wrote it)."""
    return read_result(QuantumJobResult, path, "compmech reproduce quantum")


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


def probe_network(params, cfg, data: ProbeData, *, markov: bool) -> dict[str, LayerProbe]:
    """The paper's probe of every layer (and ``concat``) onto the beliefs (and, with ``markov``,
    onto the Markov-order-3 beliefs)."""
    acts = layer_activations(params, cfg, data)
    out = {}
    with threadpool_limits(1, user_api="blas"):
        for layer, X in acts.items():
            beliefs = PrefixScores.of(kfold_rcond_regression(X, data.beliefs, data.weights))
            markov3 = (PrefixScores.of(kfold_rcond_regression(X, data.markov_beliefs, data.weights))
                       if markov else None)
            out[layer] = LayerProbe(beliefs, markov3)
    return out


def random_network_keys(seed: int, n: int) -> list:
    """``n`` independent JAX keys for the random networks of a job (never the training key)."""
    return list(jax.random.split(jax.random.key(RANDOM_KEY_OFFSET + int(seed)), int(n)))


def random_networks_per_seed(total: int, num_seeds: int) -> int:
    """Random networks each seed's job draws so that a (process, architecture) pools at least
    ``total`` (the baseline does not depend on the training seed; its keys differ per seed)."""
    return -(-int(total) // int(num_seeds))


# ------------------------------------------------------------------------------------ one job
def job_name(process: str, arch: str, seed: int) -> str:
    return f"{process}_{arch}_seed{seed}"


def job_path(out_dir: Path, name: str) -> Path:
    """Where a job's :class:`QuantumJobResult` is written."""
    return Path(out_dir) / RESULTS_DIR / f"{name}.json"


def run_job(out_dir: Path, process: str, arch: str, seed: int, config: TrainConfig,
            random_networks: int) -> QuantumJobResult:
    """Train one network, probe its initial and final checkpoints and ``random_networks`` fresh
    initialisations; write ``results/<name>.json`` (the job's marker of completion)."""
    name = job_name(process, arch, seed)
    path = job_path(out_dir, name)
    with job_lock(out_dir, name):
        if path.exists():
            return read_job(path)
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
        layers = {layer: JobLayer(final[layer].beliefs, final[layer].markov3,
                                  initial[layer].beliefs,
                                  RandomScores.of([r[layer].beliefs for r in randoms]))
                  for layer in final}
        result = QuantumJobResult(
            name, process, arch, seed, cfg.to_dict(), cfg.num_params, steps[0], steps[-1],
            run.tokens_seen(steps[-1]), loss_gap_nats(run), t_train,
            time.perf_counter() - t0 - t_train, data.num_rows, random_networks, layers)
        result.write(path)
        return result


@dataclass(frozen=True)
class QuantumTask:
    """What one worker runs: :func:`run_job`'s arguments (the config as a dict, so that it pickles
    the same way in any process)."""

    out_dir: str
    process: str
    arch: str
    seed: int
    config: dict[str, Any]
    random_networks: int

    @property
    def name(self) -> str:
        return job_name(self.process, self.arch, self.seed)

    def run(self) -> QuantumJobResult:
        return run_job(Path(self.out_dir), self.process, self.arch, self.seed,
                       TrainConfig.from_dict(self.config), self.random_networks)


def run_task(task: QuantumTask) -> QuantumJobResult:
    """:meth:`QuantumTask.run` (a module-level function, for worker processes)."""
    return task.run()


__all__ = ["ARCHS", "CONCAT", "DEFAULT_MINUTES", "DEFAULT_RANDOM_NETWORKS", "INPUT_LAYER",
           "MARKOV_ORDER", "N_CTX", "PAPER", "PAPER_NAMES", "PROCESSES", "TINY_PROCESSES",
           "TINY_RANDOM_NETWORKS", "TRAIN_SHARE", "CoreScores", "JobLayer", "LayerProbe",
           "PrefixScores", "ProbeData", "QuantumJobResult", "QuantumTask", "RandomScores",
           "concat_members", "job_name", "job_path", "layer_activations", "model_config",
           "probe_data", "probe_layers", "probe_network", "random_network_keys",
           "random_networks_per_seed", "read_job", "run_job", "run_task", "train_config"]
