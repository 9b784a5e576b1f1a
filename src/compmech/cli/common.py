"""Helpers shared by the subcommands: one-line errors, ``-p KEY=VALUE`` parsing, output guards."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from compmech.hmm import HMM
from compmech.process_io import load_hmm
from compmech.processes import get_process


class UsageError(Exception):
    """A user error: printed as one line on stderr, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise UsageError(f"{self.prog}: {message}")


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["x=0.1", "alpha=0.6"] -> {"x": 0.1, "alpha": 0.6}``; values parsed as JSON when possible."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"parameter {item!r} must look like KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params[key.strip()] = value
    return params


def add_process_arguments(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """Add ``NAME`` (or ``--process NAME``), ``-p KEY=VALUE`` and ``--hmm-file F.json``."""
    if positional:
        parser.add_argument("name", nargs="?", metavar="NAME",
                            help="catalogue process (see `compmech processes`; required unless "
                            "--hmm-file)")
    else:
        parser.add_argument("--process", dest="name", metavar="NAME",
                            help="catalogue process (see `compmech processes`; required unless "
                            "--hmm-file)")
    parser.add_argument("-p", "--param", dest="params", action="append", metavar="KEY=VALUE",
                        help="process parameter, repeatable (e.g. -p x=0.05 -p alpha=0.85; "
                        "default: the catalogue's values)")
    parser.add_argument("--hmm-file", metavar="F.json",
                        help="load the HMM from a JSON file instead of the catalogue (default: none)")


def process_from_args(args: argparse.Namespace) -> HMM:
    """Build the HMM named by :func:`add_process_arguments`' arguments."""
    params = parse_params(getattr(args, "params", None))
    if getattr(args, "hmm_file", None):
        if args.name:
            raise UsageError("give either a process NAME or --hmm-file, not both")
        if params:
            raise UsageError("-p parameters apply to catalogue processes, not to --hmm-file")
        return load_hmm(args.hmm_file)
    if not args.name:
        raise UsageError("a process NAME (or --hmm-file F.json) is required")
    return get_process(args.name, **params)


def check_output_path(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to overwrite an existing file unless ``force``; the parent folder must exist."""
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")
    if not path.parent.exists():
        raise UsageError(f"folder {path.parent} does not exist")
    return path


#: The one progress flag of every command that shows progress.
QUIET_HELP = "no progress bars or progress lines (the results are still printed)"


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--quiet``, the progress switch every command shares (``args.quiet``)."""
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def add_seed_argument(parser, uses: str, default: int | None = 0, default_text: str | None = None,
                      **kwargs) -> None:
    """Add ``--seed S``. It means the same in every command: the root of every random choice that
    command makes itself; ``uses`` lists them (e.g. ``"the probe's folds, shuffle and random
    features"``). ``default_text`` states the default when it is not the argparse default (a
    config file may supply it, or ``None`` stands for 0 so that a command can tell whether
    ``--seed`` was given beside ``--seeds``)."""
    stated = default_text if default_text is not None else "%(default)s"
    parser.add_argument("--seed", type=int, default=default, metavar="S",
                        help=f"seed of every random choice of this command: {uses} "
                        f"(default: {stated})", **kwargs)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2))


#: The most seeds one ensemble takes on the command line (a guard against typos like 0-70000).
MAX_SEEDS = 1024
#: How ``--seeds`` is written in every command (:func:`parse_seeds`).
SEEDS_METAVAR = "N|A-B|A,B,.."
#: The form of ``--seeds``, stated in every command's help.
SEEDS_FORM = "N = the seeds 0..N-1, A-B a range, A,B,C a list (one value, commas, no spaces)"
#: The hint for a space-separated list, the form ``experiment heads`` took before.
SEEDS_LIST_HINT = "--seeds takes one value: write a list with commas (--seeds 0,1,2, not --seeds 0 1 2)"


def add_seeds_argument(parser, what: str, default_text: str, note: str = "") -> None:
    """Add ``--seeds``, the same in every command that has it: one value parsed by
    :func:`parse_seeds` (``N``, ``A-B`` or ``A,B,..``) naming training seeds; ``what`` says what
    the command does with them, ``note`` (optional) follows the form."""
    parser.add_argument("--seeds", type=parse_seeds, default=None, metavar=SEEDS_METAVAR,
                        help=f"{what}; {SEEDS_FORM}{'. ' + note if note else ''} "
                        f"(default: {default_text})")


def parse_seeds(value: str) -> list[int]:
    """``--seeds``: ``"8"`` (seeds 0..7), ``"0-7"`` (inclusive range) or ``"0,2,5"`` (a list; items
    may be ranges, ``"0-3,8"``). An ``argparse`` type: raises ``ArgumentTypeError``."""
    text = value.strip()
    try:
        if text.isdigit():
            seeds = list(range(int(text)))
        else:
            seeds = []
            for item in text.split(","):
                lo, sep, hi = item.strip().partition("-")
                seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a count N (seeds 0..N-1), a range A-B or a list A,B,C; got {value!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(
            f"names no seed: {value!r} (N counts the seeds 0..N-1; one seed S alone is S-S, a "
            "list A,B,C)")
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"names a seed twice: {value!r}")
    if len(seeds) > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"{len(seeds)} seeds; at most {MAX_SEEDS} per ensemble")
    return seeds


def parse_count_or_word(value: str, words: tuple[str, ...], minimum: int, what: str) -> int | str:
    """``value`` itself if it is one of ``words``, else an integer ``>= minimum`` (``what`` names
    the count in the error, e.g. ``"log-spaced checkpoints"``)."""
    if value in words:
        return value
    try:
        n = int(value)
    except ValueError:
        options = ", ".join(repr(w) for w in words)
        raise argparse.ArgumentTypeError(
            f"must be {options} or a number of {what}; got {value!r}") from None
    if n < minimum:
        raise argparse.ArgumentTypeError(f"a number of {what} must be >= {minimum}; got {n}")
    return n


def parse_checkpoints(value: str):
    """An argparse type: ``"all"``, ``"last"`` or a number (>= 2) of log-spaced checkpoints."""
    return parse_count_or_word(value, ("all", "last"), 2, "log-spaced checkpoints")


def int_at_least(minimum: int, what: str, too_small: str):
    """An argparse type: an integer ``>= minimum`` (``too_small`` formats ``{n}`` and ``{value}``)."""

    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {value!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(too_small.format(n=n, value=value))
        return n

    return parse


#: An argparse type: a number of folds (>= 2).
parse_folds = int_at_least(2, "a number of folds", "k-fold cross-validation needs K >= 2; got {n}")
#: An argparse type: a positive integer.
parse_positive_int = int_at_least(1, "a positive integer", "must be a positive integer; got {value!r}")


def parse_minutes(value: str) -> float:
    """An argparse type: a positive, finite number of minutes."""
    try:
        minutes = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of minutes; got {value!r}") from None
    if not minutes > 0 or minutes != minutes or minutes == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes; got {value!r}")
    return minutes


def checked_run_dir(path: str, ensemble_ok: bool = False) -> Path:
    """``path`` as a run directory (or, with ``ensemble_ok``, an ensemble directory).

    Raises:
        UsageError: it is not one.
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory; give a run directory written by "
                         "`compmech train --out RUN_DIR`")
    if ensemble_ok and (run_dir / "ensemble.json").is_file():
        return run_dir
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.json); give one written by "
                         "`compmech train --out RUN_DIR`")
    return run_dir
