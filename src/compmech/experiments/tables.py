"""Experiment tables: columns read from :class:`~compmech.experiments.results.JobResult` s,
Markdown tables and the live table printed while jobs finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compmech.experiments.results import JobResult
from compmech.formatting import fmt
from compmech.records import get_field

# ------------------------------------------------------------------------------------ tables
#: A table column: (header, dotted path in a :class:`~compmech.experiments.results.JobResult`, number format).
Column = tuple[str, str, str]
#: The columns every experiment table has: training, loss gap, probe and its controls.
PROBE_COLUMNS: tuple[Column, ...] = (
    ("steps", "train.steps", "d"),
    ("loss gap (nats)", "loss.loss_gap", ".4f"),
    ("probe MSE", "probe.mse_test", ".2e"),
    ("untrained MSE", "probe.untrained_mse", ".2e"),
    ("one-hot MSE", "probe.onehot_mse", ".2e"),
    ("shuffle MSE", "probe.shuffle_mse", ".2e"),
)


def table_row(result: JobResult, columns: Sequence[Column]) -> list[str]:
    """The cells of one result in a table with ``columns`` (a missing field raises ``KeyError``)."""
    cells = []
    for _, path, spec in columns:
        value = get_field(result, path)
        if path == "seconds" and value is not None:
            value = value / 60.0
        cells.append(fmt(value, spec))
    return cells


def markdown_table(results: Sequence[JobResult], columns: Sequence[Column]) -> str:
    """A markdown table with one row per result."""
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    rows = ["| " + " | ".join(table_row(r, columns)) + " |" for r in results]
    return "\n".join([head, rule, *rows])


class TablePrinter:
    """Prints a header, then one aligned line per result (``log=None``: silent)."""

    def __init__(self, columns: Sequence[Column], log: Callable[[str], None] | None) -> None:
        self.columns, self.log, self.started = columns, log, False
        self.widths = [max(len(h), 10) for h, _, _ in columns]

    def line(self, cells) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))

    def __call__(self, result: JobResult) -> None:
        if self.log is None:
            return
        if not self.started:
            self.log(self.line([h for h, _, _ in self.columns]))
            self.started = True
        self.log(self.line(table_row(result, self.columns)))

    def failure(self, name: str, message: str) -> None:
        if self.log is not None:
            self.log(f"FAILED {name}: {message} (no result written; rerun to retry)")


__all__ = [
    "PROBE_COLUMNS",
    "TablePrinter",
    "markdown_table",
    "table_row",
]
