"""``compmech train``: train a transformer (or ``--arch lstm|gru|rnn``) on a process (the
``transformer`` package does the work).

Settings come, in increasing precedence, from the defaults of :class:`transformer.TrainConfig`
(the fast Mess3 recipe), a ``--config FILE.json`` (a ``TrainConfig`` dict, e.g. another run's
``config.json``), and the flags given explicitly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compmech.cli.common import (
    UsageError,
    add_quiet_argument,
    add_seed_argument,
    add_seeds_argument,
    parse_params,
)
from compmech.datasets import load_dataset
from compmech.files import is_empty_folder
from compmech.process_io import load_hmm

#: Flags that map one-to-one onto ``TrainConfig`` fields.
_TRAIN_FLAGS = {
    "steps": "steps", "minutes": "minutes", "batch_size": "batch_size", "lr": "lr",
    "seed": "seed", "optimizer": "optimizer", "warmup_steps": "warmup_steps",
    "weight_decay": "weight_decay", "momentum": "momentum", "grad_clip": "grad_clip",
    "bos": "bos", "dataset": "dataset", "eval_every": "eval_every", "log_every": "log_every",
    "checkpoints_per_decade": "checkpoints_per_decade", "checkpoint_every": "checkpoint_every",
    "steps_per_call": "steps_per_call", "micro_batch_size": "micro_batch_size",
    "device": "device", "num_devices": "num_devices",
}
#: Flags that map onto model config fields.
_MODEL_FLAGS = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx", "act_fn", "d_hidden")
#: Architectures ``--arch`` accepts.
ARCHS = ("transformer", "lstm", "gru", "rnn")
#: Model flags that apply to the transformer only, and to the recurrent networks only.
_TRANSFORMER_FLAGS = ("d_model", "n_heads", "d_head", "d_mlp", "act_fn")
_RECURRENT_FLAGS = ("d_hidden",)
#: The defaults the help texts state: those of :class:`transformer.TrainConfig` and of the model
#: configs (the flags default to ``None`` so that a ``--config`` file can set them;
#: tests/cli/test_cli_consistency.py checks these against the dataclasses). Importing
#: ``transformer`` here would load flax for ``compmech --help``.
TRAIN_DEFAULTS = {
    "steps": 1200, "batch_size": 1024, "lr": 3e-3, "optimizer": "adamw", "warmup_steps": 200,
    "weight_decay": 0.0, "momentum": 0.0, "grad_clip": 1.0, "seed": 0, "eval_every": 1000,
    "log_every": 100, "checkpoints_per_decade": 8, "checkpoint_every": 0, "steps_per_call": 50,
    "micro_batch_size": 0, "device": "auto", "num_devices": 0,
}
TRANSFORMER_DEFAULTS = {"n_layers": 4, "d_model": 64, "n_heads": 1, "d_head": 8, "d_mlp": 256,
                        "n_ctx": 10, "act_fn": "relu"}
RECURRENT_DEFAULTS = {"n_layers": 4, "d_hidden": 64, "n_ctx": 10}


def _d(name: str) -> str:
    """``"(default X, or that of --config)"`` for a training flag."""
    return f"(default {TRAIN_DEFAULTS[name]}, or that of --config)"


def _m(name: str) -> str:
    """The default of a model flag, for each architecture that has it."""
    parts = []
    if name in TRANSFORMER_DEFAULTS:
        parts.append(f"transformer {TRANSFORMER_DEFAULTS[name]}")
    if name in RECURRENT_DEFAULTS:
        parts.append(f"lstm/gru/rnn {RECURRENT_DEFAULTS[name]}")
    return f"(default {', '.join(parts)}; or that of --config)"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a transformer or a recurrent network on a process (run dir with "
        "metrics and checkpoints)",
        description="Train a decoder-only transformer (or, with --arch, an LSTM, GRU or tanh RNN) "
        "on sequences sampled fresh from a process "
        "(default: the paper's Mess3 model with a fast AdamW recipe). Writes RUN_DIR/config.json, "
        "metrics.jsonl (exact per-position loss next to the optimum) and log-spaced checkpoints. "
        "Uses all local devices of --device (data parallel); multi-host when "
        "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID are set. --seeds trains "
        "a seed ensemble in one compiled program: RUN_DIR/seed-{s}/ is each member's run.")
    p.add_argument("--process", dest="name", metavar="NAME",
                   help="catalogue process, e.g. mess3 (required unless --hmm-file, --config or "
                   "--dataset names one)")
    p.add_argument("-p", "--param", dest="params", action="append", metavar="KEY=VALUE",
                   help="process parameter, repeatable (e.g. -p x=0.05 -p alpha=0.85; default: the "
                   "catalogue's values)")
    p.add_argument("--hmm-file", metavar="F.json",
                   help="train on an HMM from a JSON file (default: none)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to create")
    p.add_argument("--config", metavar="FILE.json",
                   help="TrainConfig JSON (e.g. a config.json; default: none)")
    p.add_argument("--resume", action="store_true",
                   help="continue RUN_DIR from its last checkpoint with its saved config")
    p.add_argument("--force", action="store_true", help="delete an existing RUN_DIR first")
    add_quiet_argument(p)
    # The flag's name before --quiet became the one progress flag of every command: kept, hidden,
    # so that scripts written for earlier versions keep working.
    p.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, help=f"optimiser steps {_d('steps')}")
    g.add_argument("--minutes", type=float,
                   help="wall-clock budget: the number of steps is chosen after warmup from the "
                   "measured speed so that the run (evaluations included) ends in time (default: none, "
                   "--steps decides)")
    g.add_argument("--batch-size", type=int, help=f"sequences per step {_d('batch_size')}")
    g.add_argument("--lr", type=float, help=f"peak learning rate {_d('lr')}")
    add_seed_argument(g, "the initialisation and the training data", default=None,
                      default_text=f"{TRAIN_DEFAULTS['seed']}, or that of --config")
    add_seeds_argument(g, "train a seed ensemble in one compiled program (vmapped, members sharded "
                       "over the devices), each member an ordinary run in RUN_DIR/seed-{s}/ "
                       "(--seed is then refused)", "none, one run of --seed")
    g.add_argument("--sweep", action="append", metavar="KEY=V1,V2,..",
                   help="a process sweep in the same program, repeatable: every combination of "
                   "the values (e.g. --sweep x=0.05,0.1 --sweep alpha=0.6,0.85) with every seed of "
                   "--seeds (default: --seed); members RUN_DIR/x=0.05_alpha=0.6_seed-0/, ...")
    g.add_argument("--optimizer", choices=("adamw", "sgd"),
                   help="adamw (warmup + cosine) or sgd (constant lr, like the paper) "
                   f"{_d('optimizer')}")
    g.add_argument("--warmup-steps", type=int, help=f"AdamW linear-warmup steps {_d('warmup_steps')}")
    g.add_argument("--weight-decay", type=float,
                   help=f"AdamW decoupled weight decay on matrices {_d('weight_decay')}")
    g.add_argument("--momentum", type=float, help=f"SGD momentum {_d('momentum')}")
    g.add_argument("--grad-clip", type=float, help=f"global-norm clip, 0 = off {_d('grad_clip')}")
    g.add_argument("--bos", action="store_const", const=True, default=None,
                   help="prepend a BOS token (default: no, or that of --config)")
    g.add_argument("--dataset", metavar="F.npz",
                   help="train on a fixed dataset from `compmech generate` instead of fresh samples "
                   "(default: none, fresh samples)")
    g.add_argument("--eval-every", type=int, help=f"exact evaluation every K steps {_d('eval_every')}")
    g.add_argument("--log-every", type=int,
                   help=f"a training-loss line in metrics.jsonl every K steps {_d('log_every')}")
    g.add_argument("--checkpoints-per-decade", type=int,
                   help=f"density of the log-spaced checkpoints {_d('checkpoints_per_decade')}")
    g.add_argument("--checkpoint-every", type=int,
                   help=f"also checkpoint every K steps, 0 = only log-spaced {_d('checkpoint_every')}")
    g.add_argument("--steps-per-call", type=int,
                   help=f"steps fused per compiled call {_d('steps_per_call')}")
    g.add_argument("--micro-batch-size", type=int,
                   help=f"gradient micro-batch, 0 = auto {_d('micro_batch_size')}")
    g.add_argument("--device", choices=("cpu", "gpu", "auto"),
                   help="auto: a GPU when JAX sees one, else the CPU " + _d("device"))
    g.add_argument("--num-devices", type=int,
                   help=f"use the first N devices, 0 = all {_d('num_devices')}")
    m = p.add_argument_group("model (defaults: the paper's Mess3 model; recurrent: 4 layers of "
                             "width 64)")
    m.add_argument("--arch", choices=ARCHS,
                   help="architecture (default transformer, or that of --config); lstm, gru and "
                   "rnn take --n-layers, --d-hidden, --n-ctx")
    m.add_argument("--n-layers", type=int, help=f"layers {_m('n_layers')}")
    m.add_argument("--d-model", type=int, help=f"residual width, transformer only {_m('d_model')}")
    m.add_argument("--n-heads", type=int, help=f"attention heads, transformer only {_m('n_heads')}")
    m.add_argument("--d-head", type=int, help=f"width of a head, transformer only {_m('d_head')}")
    m.add_argument("--d-mlp", type=int, help=f"MLP width, transformer only {_m('d_mlp')}")
    m.add_argument("--n-ctx", type=int, help=f"context length in tokens {_m('n_ctx')}")
    m.add_argument("--act-fn", choices=("relu", "gelu", "gelu_new", "silu"),
                   help=f"MLP activation, transformer only {_m('act_fn')}")
    m.add_argument("--d-hidden", type=int, help=f"hidden width, lstm/gru/rnn only {_m('d_hidden')}")
    p.set_defaults(func=run_train)


def _given(args: argparse.Namespace) -> list[str]:
    names = [f for f in [*_TRAIN_FLAGS, *_MODEL_FLAGS, "arch"] if getattr(args, f) is not None]
    if args.name or args.params or args.hmm_file:
        names.append("process")
    if args.config:
        names.append("config")
    return names


def build_config(args: argparse.Namespace):
    """The :class:`transformer.TrainConfig` described by the arguments."""
    from transformer import TrainConfig, model_config_from_dict  # flax: only when training

    data: dict = {}
    if args.config:
        try:
            data = json.loads(Path(args.config).read_text())
        except FileNotFoundError as err:
            raise UsageError(f"config file not found: {args.config}") from err
        except json.JSONDecodeError as err:
            raise UsageError(f"config file {args.config} is not valid JSON: {err.msg}") from err
        if not isinstance(data, dict):
            raise UsageError(f"config file {args.config} must hold a JSON object")
    params = parse_params(args.params)
    if args.hmm_file:
        if args.name or params:
            raise UsageError("give either --process NAME [-p ...] or --hmm-file, not both")
        data["hmm"] = load_hmm(args.hmm_file).to_dict()
    elif args.name:
        data.update(process=args.name, process_params=params, hmm=None)
    elif params:
        raise UsageError("-p parameters need --process NAME")
    elif "process" not in data and "hmm" not in data and not args.dataset:
        raise UsageError("a process is required: --process NAME (or --hmm-file, --config, "
                         "--dataset)")
    for flag, field_name in _TRAIN_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            data[field_name] = value
    if args.dataset and not args.name and not args.hmm_file and "hmm" not in data \
            and "process" not in data:
        data["hmm"] = _dataset_hmm(args.dataset)
    model = _model_fields(args, dict(data.get("model") or {}))
    for flag in _MODEL_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            model[flag] = value
    model.pop("d_vocab", None)  # always derived from the process (+1 for BOS)
    config = TrainConfig.from_dict({**data, "model": model_config_from_dict(model)})
    vocab = config.build_hmm().vocab_size + (1 if config.bos else 0)
    return config.replace(model=model_config_from_dict({**config.model.to_dict(), "d_vocab": vocab}))


def _model_fields(args: argparse.Namespace, model: dict) -> dict:
    """The model dict of ``--config`` switched to ``--arch`` (a different architecture keeps only
    ``n_ctx``), with the flags that do not apply to that architecture refused."""
    saved = model.get("arch", "transformer")
    arch = args.arch or saved
    if arch != saved:
        model = {k: v for k, v in model.items() if k == "n_ctx"}
    if arch != "transformer":
        model["arch"] = arch
    recurrent = arch in ("lstm", "gru", "rnn")
    wrong = _TRANSFORMER_FLAGS if recurrent else _RECURRENT_FLAGS
    given = [f"--{f.replace('_', '-')}" for f in wrong if getattr(args, f) is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: not a setting of the {arch} model "
                         f"({'--n-layers, --d-hidden, --n-ctx' if recurrent else 'see --help'})")
    return model


def _dataset_hmm(path: str) -> dict:
    meta = load_dataset(path, beliefs=False).metadata
    if "hmm" not in meta:
        raise UsageError(f"dataset {path} does not record its process; pass --process NAME")
    return meta["hmm"]


def run_train(args: argparse.Namespace) -> int:
    import transformer  # flax, optax: imported only when training
    from transformer.rundir import is_ensemble

    out = Path(args.out)
    if args.seeds is not None and args.seed is not None:
        raise UsageError("give either --seed or --seeds, not both")
    if args.resume and is_ensemble(out):
        return _run_ensemble(args, transformer)
    if (args.seeds is not None or args.sweep) and not args.resume:
        return _run_ensemble(args, transformer)
    if args.resume:
        if args.force:
            raise UsageError("--resume and --force contradict each other")
        ignored = _given(args)
        if ignored:
            print(f"compmech train: resuming {out} with its saved config.json; ignoring "
                  + ", ".join(f"--{n.replace('_', '-')}" for n in ignored), file=sys.stderr)
        config = None
    else:
        config = build_config(args)
        if not is_empty_folder(out) and not args.force:
            raise UsageError(f"run directory {out} already exists; pass --resume to continue it "
                             "or --force to start over")
    try:
        result = transformer.train(config, out, resume=args.resume, force=args.force,
                                   progress=not args.quiet)
    except transformer.TrainingDiverged as err:
        print(f"compmech: error: {err}", file=sys.stderr)
        return 1
    _print_result(result, out)
    return 0


def _run_ensemble(args: argparse.Namespace, transformer) -> int:
    """``compmech train --seeds ...`` (or ``--resume`` of an ensemble directory)."""
    out = Path(args.out)
    config, seeds, processes = None, None, None
    if args.resume:
        if args.force:
            raise UsageError("--resume and --force contradict each other")
        ignored = _given(args) + (["seeds"] if args.seeds is not None else [])
        if ignored:
            print(f"compmech train: resuming the ensemble {out} with its saved ensemble.json; "
                  "ignoring " + ", ".join(f"--{n.replace('_', '-')}" for n in ignored),
                  file=sys.stderr)
    else:
        config = build_config(args)
        seeds = args.seeds if args.seeds is not None else [config.seed]
        if args.sweep:
            processes = transformer.training.sweep_grid(**_sweep_values(args.sweep))
        if not is_empty_folder(out) and not args.force:
            raise UsageError(f"ensemble directory {out} already exists; pass --resume to continue "
                             "it or --force to start over")
    try:
        result = transformer.train_ensemble(config, seeds, out, resume=args.resume,
                                            force=args.force, progress=not args.quiet,
                                            processes=processes)
    except transformer.TrainingDiverged as err:
        print(f"compmech: error: {err}", file=sys.stderr)
        return 1
    n = len(result.members)
    print(f"trained an ensemble of {n} members ({', '.join(m.run_dir.name for m in result.members)})"
          f" in one program: {result.wall_time:.1f} s, {result.tokens_per_second:,.0f} tokens/s in all, "
          f"{result.tokens_per_second / n:,.0f} per member -> {out}")
    for member in result.members:
        _print_result(member, member.run_dir, indent="  ")
    return 0


def _sweep_values(items: list[str]) -> dict[str, list]:
    """``["x=0.05,0.1", "alpha=0.6"] -> {"x": [0.05, 0.1], "alpha": [0.6]}``."""
    values: dict[str, list] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UsageError(f"--sweep {item!r} must look like KEY=V1,V2,..")
        if key.strip() in values:
            raise UsageError(f"--sweep names {key.strip()!r} twice")
        values[key.strip()] = [parse_params([f"v={v}"])["v"] for v in raw.split(",")]
    return values


def _print_result(result, out, indent: str = "") -> None:
    from transformer.rundir import MetricsRecord  # flax: imported only after training

    print(f"{indent}trained {result.step} steps ({result.tokens_seen:,} tokens) in "
          f"{result.wall_time:.1f} s, {result.tokens_per_second:,.0f} tokens/s -> {out}")
    if result.final_eval:
        ev = MetricsRecord.from_dict({"step": result.step, **result.final_eval})
        kind = "exact" if ev.eval_exact else "sampled"
        print(f"{indent}{kind} eval loss {ev.eval_loss_mean:.6f} nats/token, optimum "
              f"{ev.optimal_loss_mean:.6f}, gap {ev.loss_gap:.2e} "
              f"(relative {ev.relative_loss:.5f})")
