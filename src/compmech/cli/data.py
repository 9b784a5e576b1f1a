"""Data subcommands: ``processes`` (the catalogue) and ``generate`` (datasets)."""

from __future__ import annotations

import argparse
import sys

from compmech.cli.common import (
    UsageError,
    add_process_arguments,
    add_quiet_argument,
    add_seed_argument,
    check_output_path,
    print_json,
    process_from_args,
)
from compmech.datasets import DatasetConfig, Framing, generate_dataset
from compmech.processes import CATALOGUE, REFERENCES, process_parameters


def register(subparsers) -> None:
    p = subparsers.add_parser("processes", help="list the process catalogue",
                              description="List the catalogue's processes with parameters, defaults "
                              "and (where recorded) the paper or library each comes from.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_processes)

    p = subparsers.add_parser(
        "generate", help="sample a dataset of tokens and beliefs (.npz)",
        description="Sample sequences from a process, with the belief after each token, into an "
        ".npz file (tokens (N, L) int32, beliefs (N, L, S) float32, metadata JSON). Memory stays "
        "bounded: the file is streamed chunk by chunk.",
    )
    add_process_arguments(p)
    p.add_argument("--num-sequences", "-n", type=int, required=True, metavar="N",
                   help="number of sequences (required)")
    p.add_argument("--seq-len", "-l", type=int, required=True, metavar="L",
                   help="tokens per sequence (required)")
    add_seed_argument(p, "the sampled sequences", default=None, required=True,
                      default_text="none: required, so that every dataset names its seed")
    p.add_argument("--out", "-o", required=True, metavar="F.npz", help="output file (required)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_quiet_argument(p)
    framing = p.add_argument_group(
        "framing", "also store framed_tokens laid out as [BOS, x_1..x_L, EOS, PAD...] (the "
        "generative-processes spec v1.0, section 6.2); framing tokens lie outside the vocabulary")
    framing.add_argument("--bos-token", type=int, metavar="ID", help="BOS id (default: no BOS)")
    framing.add_argument("--eos-token", type=int, metavar="ID", help="EOS id (default: no EOS)")
    framing.add_argument("--pad-token", type=int, metavar="ID",
                         help="PAD id filling the row after EOS (default: no padding)")
    framing.add_argument("--total-len", type=int, metavar="N",
                         help="length of each framed row (default: L plus BOS and EOS)")
    p.set_defaults(func=run_generate)


def run_processes(args: argparse.Namespace) -> int:
    catalogue = {name: process_parameters(name) for name in sorted(CATALOGUE)}
    if args.json:
        print_json(catalogue)
        return 0
    for name, params in catalogue.items():
        doc = (CATALOGUE[name].__doc__ or "").strip().splitlines()[0]
        listing = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no parameters"
        print(f"{name:<24} {listing}\n{'':<24} {doc}")
        if name in REFERENCES:
            print(f"{'':<24} source: {REFERENCES[name]}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    if not str(args.out).endswith(".npz"):
        raise UsageError(f"--out must end in .npz; got {args.out}")
    for what, value in (("--num-sequences", args.num_sequences), ("--seq-len", args.seq_len)):
        if value < 1:
            raise UsageError(f"{what} must be >= 1; got {value}")
    out = check_output_path(args.out, args.force)
    hmm = process_from_args(args)
    framing = Framing(bos=args.bos_token, eos=args.eos_token, pad=args.pad_token,
                      total_len=args.total_len)
    config = DatasetConfig(num_sequences=args.num_sequences, seq_len=args.seq_len, seed=args.seed,
                           framing=None if framing == Framing() else framing)
    generate_dataset(hmm, config, out, force=args.force,
                     progress=not args.quiet and sys.stderr.isatty())
    print(f"wrote {out}: {args.num_sequences} x {args.seq_len} tokens of {hmm.name} with beliefs")
    return 0
