"""Theory subcommands: ``info`` (and, later, ``msp``)."""

from __future__ import annotations

import argparse

from compmech.cli.common import add_process_arguments, print_json, process_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="facts about a process (JSON with --json)",
                              description="Facts about a process: states, tokens, stationary "
                              "distribution, unifilarity.")
    add_process_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_info)


def process_info(hmm) -> dict:
    """The basic facts printed by ``compmech info``."""
    return {
        "name": hmm.name,
        "params": dict(hmm.params),
        "num_states": hmm.num_states,
        "vocab_size": hmm.vocab_size,
        "state_names": list(hmm.state_names),
        "token_names": list(hmm.token_names),
        "stationary_distribution": hmm.stationary_distribution.tolist(),
        "unifilar": hmm.is_unifilar,
    }


def run_info(args: argparse.Namespace) -> int:
    hmm = process_from_args(args)
    info = process_info(hmm)
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>24}: {value}")
    return 0
