"""What a training invocation builds before its loop: the evaluation set and optimal loss of
each member, checked configurations and seeds, and the initial (stacked) training state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from compmech.information import optimal_cross_entropy_nats
from transformer.config import TrainConfig
from transformer.data import EvalSet, build_eval_set, load_dataset_tokens
from transformer.devices import select_devices
from transformer.registry import init_params
from transformer.step import (
    TrainState,
    build_evaluator,
    cached_train_chunk,
    init_key,
    member_sharding,
    stack_processes,
)


# ----------------------------------------------------------------------------------- setup
@dataclass
class MemberEval:
    """The evaluation of one run (or one ensemble member).

    Attributes:
        eval_set: the exact (or sampled) evaluation set.
        evaluate: ``params -> Evaluation`` loss per position (nats), and per mixture component.
        optimum: ``(n_ctx,)`` the best achievable loss per position (nats).
    """

    eval_set: EvalSet
    evaluate: Any
    optimum: np.ndarray


@dataclass
class TrainingSetup:
    """Everything built from a config before the first step (validated before any file is written).

    Attributes:
        config: the run's config (for an ensemble: with the first member's seed).
        hmm: the process.
        mesh: the data-parallel device mesh.
        replicated: the sharding of replicated arrays on ``mesh``.
        chunk: the compiled ``chunk(state, stop, total) -> (state, losses)`` (an ensemble's:
            ``chunk(state, data_keys, stop, total)``, see :func:`transformer.step.build_train_chunk`).
        init_opt_state: ``params -> optimiser state``.
        evals: one :class:`MemberEval` per member (one for a single run; members on the same
            process share it when the evaluation is exact, since it then does not depend on the
            seed).
        member_configs: an ensemble's members' configs (differing only in seed and process), or
            ``None`` for a single run.
        processes: an ensemble's stacked processes (:func:`transformer.step.stack_processes`).
    """

    config: TrainConfig
    hmm: Any
    mesh: jax.sharding.Mesh
    replicated: jax.sharding.NamedSharding
    chunk: Any
    init_opt_state: Any
    evals: list[MemberEval]
    member_configs: tuple[TrainConfig, ...] | None = None
    processes: tuple | None = None

    @property
    def seeds(self) -> tuple[int, ...] | None:
        """An ensemble's members' seeds (``None`` for a single run)."""
        return None if self.member_configs is None else tuple(c.seed for c in self.member_configs)

    @property
    def eval_set(self) -> EvalSet:
        return self.evals[0].eval_set

    @property
    def evaluate(self):
        return self.evals[0].evaluate

    @property
    def optimum(self) -> np.ndarray:
        return self.evals[0].optimum

    @property
    def num_members(self) -> int:
        return 1 if self.seeds is None else len(self.seeds)

    @property
    def device_kind(self) -> str:
        """The platform trained on (``"cpu"``, ``"gpu"``, ...)."""
        return self.mesh.devices.flat[0].platform


def _check_config(config: TrainConfig, hmm, n_devices: int) -> None:
    if not hasattr(hmm, "transition_matrices"):
        raise ValueError(f"{hmm.name!r} is a stateful (non-linear) process without transition "
                         "matrices; training samples on the device from matrices, so it cannot "
                         "train on it yet (spec processes with a joint presentation train)")
    V = hmm.vocab_size
    want = V + 1 if config.bos else V
    if config.model.d_vocab != want:
        raise ValueError(f"model d_vocab is {config.model.d_vocab} but the process has {V} tokens"
                         f"{' plus BOS' if config.bos else ''}: set d_vocab = {want}")
    if config.bos and config.model.n_ctx < 2:
        raise ValueError("with bos, n_ctx must be at least 2")
    if config.batch_size % n_devices:
        raise ValueError(f"batch size {config.batch_size} must be divisible by the number of "
                         f"devices ({n_devices})")


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """An ensemble's seeds, validated: at least one, distinct, non-negative integers."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("an ensemble needs at least one seed")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"the seeds of an ensemble must be distinct; got {list(seeds)}")
    if min(seeds) < 0:
        raise ValueError(f"seeds must be non-negative; got {list(seeds)}")
    return seeds


#: What may differ between the members of one compiled ensemble.
_MEMBER_FIELDS = dict(seed=0, process="", process_params={}, hmm=None, device_used=None)


def _process_identity(config: TrainConfig) -> str:
    return json.dumps([config.process, config.process_params, config.hmm], sort_keys=True,
                      default=str)


def check_members(configs: Sequence[TrainConfig]) -> tuple[TrainConfig, ...]:
    """An ensemble's member configs, validated: at least one; they may differ only in ``seed``
    and the process (``process``, ``process_params``, ``hmm``), and no two are the same run."""
    configs = tuple(configs)
    if not configs:
        raise ValueError("an ensemble needs at least one member")
    base = configs[0].replace(**_MEMBER_FIELDS)
    for c in configs[1:]:
        if c.replace(**_MEMBER_FIELDS) != base:
            diff = sorted(k for k, v in c.replace(**_MEMBER_FIELDS).to_dict().items()
                          if base.to_dict()[k] != v)
            raise ValueError("ensemble members may differ only in seed and process; these differ: "
                             + ", ".join(diff))
    runs = [(c.seed, _process_identity(c)) for c in configs]
    if len(set(runs)) < len(runs):
        raise ValueError("two ensemble members are the same run (same seed and process)")
    if base.dataset is not None and len({r[1] for r in runs}) > 1:
        raise ValueError("a process sweep samples its data: it cannot train on a --dataset")
    return configs


def optimal_loss_nats(hmm, model_config, bos: bool, eval_set: EvalSet) -> np.ndarray:
    """``(n_ctx,)`` best achievable loss per position (nats): exact from the myopic entropies
    (:func:`compmech.optimal_cross_entropy_nats`) when the evaluation enumerates every word, else
    the evaluation set's own expected entropy."""
    if eval_set.exact:
        return np.asarray(optimal_cross_entropy_nats(hmm, model_config.n_ctx, bos=bos),
                          dtype=np.float64)
    return eval_set.optimal_loss_nats()


def _member_eval(config: TrainConfig, hmm, seed: int) -> MemberEval:
    eval_set = build_eval_set(hmm, config.model.n_ctx, config.bos, config.eval_max_words,
                              config.eval_samples, seed=seed + 1)
    return MemberEval(eval_set, build_evaluator(config.model, eval_set),
                      optimal_loss_nats(hmm, config.model, config.bos, eval_set))


def build_setup(config: TrainConfig, seeds: Sequence[int] | None = None,
                member_configs: Sequence[TrainConfig] | None = None) -> TrainingSetup:
    """Validate ``config`` and build the process, devices, data, compiled step and evaluation.

    Args:
        config: the run's config.
        seeds: an ensemble's seeds (members ``config.replace(seed=s)``).
        member_configs: or the members' configs (a process sweep: each member its own seed and
            process, see :func:`check_members`); ``config`` is then ignored.
    """
    if seeds is not None:
        member_configs = [config.replace(seed=s) for s in check_seeds(seeds)]
    if member_configs is not None:
        member_configs = check_members(member_configs)
        config = member_configs[0]
    hmm = config.build_hmm()
    devices = select_devices(config.device, config.num_devices)
    _check_config(config, hmm, len(devices))
    used = f"{devices[0].platform} x{len(devices)}"
    config = config.replace(device_used=used)
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    processes = None
    if member_configs is not None:
        if jax.process_count() > 1:
            raise ValueError("seed ensembles run on one process (its local devices); train one "
                             "ensemble per host instead")
        if len(member_configs) % len(devices):
            raise ValueError(f"{len(member_configs)} members cannot be split evenly over "
                             f"{len(devices)} devices: use a multiple of the device count, or "
                             "--num-devices")
        member_configs = tuple(c.replace(device_used=used) for c in member_configs)
        hmms = [hmm] + [c.build_hmm() for c in member_configs[1:]]
        for c, h in zip(member_configs[1:], hmms[1:], strict=True):
            _check_config(c, h, len(devices))
        processes = jax.device_put(stack_processes(hmms), member_sharding(mesh))
    dataset_tokens = None
    if config.dataset is not None:
        tokens = load_dataset_tokens(config.dataset, hmm, config.seq_len)
        dataset_tokens = jax.device_put(tokens, replicated)
    chunk, init_opt_state = cached_train_chunk(
        config, hmm, mesh, dataset_tokens, members=0 if member_configs is None else len(member_configs))
    if member_configs is None:
        evals = [_member_eval(config, hmm, config.seed)]
    else:
        evals, shared = [], {}
        for c, h in zip(member_configs, hmms, strict=True):
            key = _process_identity(c)  # an exact evaluation does not depend on the seed
            unit = shared.get(key) or _member_eval(c, h, c.seed)
            if unit.eval_set.exact:
                shared[key] = unit
            evals.append(unit)
    return TrainingSetup(config, hmm, mesh, replicated, chunk, init_opt_state, evals,
                         member_configs, processes)


def _to_host(tree):
    """Device pytree -> numpy pytree (replicated arrays: the local copy)."""
    def get(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            return np.asarray(a.addressable_data(0))
        return np.asarray(a)

    return jax.tree_util.tree_map(get, tree)


def _stack(trees: list):
    """Pytrees of equal structure -> one pytree with a leading member axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _unstack(tree, n: int) -> list:
    """Inverse of :func:`_stack` (on host arrays)."""
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], tree) for i in range(n)]


def _initial_state(setup: TrainingSetup) -> TrainState:
    """The state at step 0: a single run's, or every member's stacked (member ``i`` exactly as a
    single run with seed ``i``)."""
    def one(seed: int) -> TrainState:
        params = init_params(setup.config.model, init_key(seed))
        return TrainState(jnp.zeros((), jnp.int32), params, setup.init_opt_state(params),
                          jnp.zeros((), jnp.int32))

    if setup.member_configs is None:
        return one(setup.config.seed)
    return _stack([one(s) for s in setup.seeds])


__all__ = [
    "MemberEval",
    "build_setup",
    "check_members",
    "check_seeds",
    "optimal_loss_nats",
]
