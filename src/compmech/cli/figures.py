"""``compmech figures RUN_DIR``: draws a probed run into ``RUN_DIR/figures/``
(:func:`compmech.figures.run.make_figures`); an ensemble directory draws every member. An existing
figures folder is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse

from compmech.cli.common import add_seed_argument, checked_run_dir


def register(subparsers) -> None:
    f = subparsers.add_parser(
        "figures", help="draw a probed run (writes RUN_DIR/figures/)",
        description="Theory vs learned belief geometry side by side, per-layer grid, shuffle "
        "control, loss per position, probe over training, emergence grid and GIF (PNG + PDF).")
    f.add_argument("run_dir", metavar="RUN_DIR", help="a run probed with `compmech probe`")
    add_seed_argument(f, "the subsample of points drawn")
    f.add_argument("--force", action="store_true", help="overwrite an existing figures folder")
    f.set_defaults(func=run_figures)


def run_figures(args: argparse.Namespace) -> int:
    from compmech.figures.run import make_figures

    run_dir = checked_run_dir(args.run_dir, ensemble_ok=True)
    if (run_dir / "ensemble.json").is_file():
        from transformer import load_ensemble

        members = [run.run_dir for run in load_ensemble(run_dir)]
        for member in members:
            make_figures(member, force=args.force, seed=args.seed, progress=False)
        print(f"wrote the figures of {len(members)} members to {run_dir}/seed-*/figures")
        return 0
    paths = make_figures(run_dir, force=args.force, seed=args.seed, progress=False)
    print(f"wrote {len(paths)} files to {run_dir / 'figures'}")
    return 0


__all__ = ["register", "run_figures"]
