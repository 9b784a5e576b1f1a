"""Theory subcommands: ``info`` (facts and information measures) and ``msp`` (mixed states)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from compmech.cli.common import (
    UsageError,
    add_process_arguments,
    add_seed_argument,
    check_output_path,
    print_json,
    process_from_args,
)
from compmech.files import atomic_output
from compmech.msp import mixed_state_tree
from compmech.process_info import (
    DEFAULT_DEPTH,
    auto_depth,
    describe_entropy_rate,
    information_summary,
    process_info,
    tree_arrays,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="facts and information measures of a process (JSON with --json)",
        description="Facts about a process (states, tokens, stationary distribution, unifilarity) "
        "and its information measures: entropy rate, block and myopic entropies, excess entropy, "
        "statistical complexity, the mixed-state presentation's size, and the fractal dimensions "
        "of its Blackwell measure. Entropies in bits.")
    add_process_arguments(p)
    p.add_argument("--depth", type=int, default=None, metavar="L",
                   help=f"block/myopic entropies for L = 1..depth (default {DEFAULT_DEPTH}, or "
                   "less when the vocabulary is large)")
    p.add_argument("--max-states", type=int, default=10_000, metavar="N",
                   help="cap on mixed states before the MSP is reported truncated (default: "
                   "%(default)s)")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="max-norm tolerance for merging beliefs (default: %(default)s)")
    p.add_argument("--num-points", type=int, default=1_000_000, metavar="N",
                   help="Blackwell beliefs sampled for estimates on an infinite MSP (default: "
                   "%(default)s)")
    add_seed_argument(p, "the Blackwell sample")
    p.add_argument("--basic", action="store_true",
                   help="only the basic facts (no information measures)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_info)

    m = subparsers.add_parser(
        "msp", help="the mixed-state presentation tree: save it and draw it on the simplex",
        description="Build the mixed-state (belief) tree of a process to a depth, save it as .npz "
        "and/or draw it on the 2-simplex (3 states) or its PCA plane: colours RGB = belief, "
        "points sized by probability, the generating HMM's states marked.")
    add_process_arguments(m)
    m.add_argument("--depth", type=int, required=True, metavar="L", help="word length")
    m.add_argument("--out", metavar="F.npz", help="save the tree's arrays here (default: not saved)")
    m.add_argument("--plot", metavar="F.png", help="draw the tree here (default: not drawn)")
    m.add_argument("--force", action="store_true", help="overwrite existing output files")
    m.add_argument("--json", action="store_true", help="print the summary as JSON")
    m.set_defaults(func=run_msp)


def run_info(args: argparse.Namespace) -> int:
    hmm = process_from_args(args)
    info = process_info(hmm)
    if not args.basic:
        depth = auto_depth(hmm.vocab_size) if args.depth is None else args.depth
        if depth < 1:
            raise UsageError(f"--depth must be >= 1; got {depth}")
        if args.max_states < 1 or args.num_points < 1:
            raise UsageError("--max-states and --num-points must be >= 1")
        info.update(information_summary(hmm, depth=depth, max_states=args.max_states,
                                        tol=args.tol, num_points=args.num_points, seed=args.seed))
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>30}: {value}")
            if key == "entropy_rate_method":
                print(f"{'entropy_rate':>30}: {describe_entropy_rate(info)}")
            if key == "synchronises" and value:
                print(f"{'lyapunov_exponents':>30}: -inf (synchronises)")
    return 0


def run_msp(args: argparse.Namespace) -> int:
    hmm = process_from_args(args)
    if args.depth < 0:
        raise UsageError(f"--depth must be >= 0; got {args.depth}")
    out_path = check_output_path(args.out, args.force) if args.out else None
    plot_path = check_output_path(args.plot, args.force) if args.plot else None
    if out_path is not None and out_path.suffix != ".npz":
        raise UsageError(f"--out must end in .npz; got {out_path}")
    start = time.perf_counter()
    tree = mixed_state_tree(hmm, args.depth)
    seconds = time.perf_counter() - start
    summary = {
        "name": hmm.name,
        "params": dict(hmm.params),
        "depth": tree.depth,
        "num_nodes": tree.num_nodes,
        "nodes_per_level": [int(p.shape[0]) for p in tree.probabilities],
        "seconds": seconds,
    }
    if out_path is not None:
        with atomic_output(out_path) as fh:
            np.savez_compressed(fh, **tree_arrays(tree, hmm))
        summary["out"] = str(out_path)
    if plot_path is not None:
        from compmech.figures.common import save
        from compmech.figures.geometry import mixed_state_tree_figure

        stem = plot_path.parent / plot_path.stem if plot_path.suffix else plot_path
        save(mixed_state_tree_figure(tree, hmm), stem,
             formats=(plot_path.suffix.lstrip(".") or "png",))
        summary["plot"] = str(plot_path)
    if args.json:
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value}")
    return 0
