"""Experiment tables: columns that read typed values of a
:class:`~compmech.experiments.results.JobResult`, Markdown tables and the live table printed while
jobs finish.

A :class:`Column` holds a callable of the result (``lambda r: r.probe.mse_test``), not a name: a
misspelt attribute fails at the first row with the column's header in the error, and a column built
from anything but a callable (e.g. a dotted path) fails where it is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from compmech.experiments.results import JobResult
from compmech.formatting import fmt
from compmech.probing.geometry import GeometryRecord
from compmech.records import optional


# ------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class Column:
    """One column of an experiment table.

    Attributes:
        header: the column's title.
        value: the value shown of one row (a result), ``None`` for "n/a"; e.g.
            ``lambda r: r.probe.mse_test``.
        spec: its number format (:func:`compmech.formatting.fmt`), e.g. ``".2e"``.

    Raises:
        ValueError: ``value`` is not callable.
    """

    header: str
    value: Callable[[Any], Any]
    spec: str

    def __post_init__(self) -> None:
        if not callable(self.value):
            raise ValueError(f"table column {self.header!r}: value must be a callable of the row "
                             f"(e.g. lambda r: r.probe.mse_test), got {self.value!r}")

    def cell(self, row) -> str:
        """The formatted value of ``row``.

        Raises:
            AttributeError, KeyError: the value's reader names something ``row`` does not have
                (noted with the column's header).
        """
        try:
            value = self.value(row)
        except (AttributeError, KeyError) as err:
            err.add_note(f"in table column {self.header!r}")
            raise
        return fmt(value, self.spec)


def of_geometry(value: Callable[[GeometryRecord], Any]) -> Callable[[JobResult], Any]:
    """A column's reader of ``value(result.geometry)`` (``None``, "n/a", without a geometry)."""
    return optional(lambda r: r.geometry, value)


def loss_gap(r: JobResult) -> float | None:
    """The result's loss gap to the optimum (nats per token), ``None`` without an evaluation."""
    return None if r.loss is None else r.loss.loss_gap


def _minutes(r: JobResult) -> float:
    return r.seconds / 60.0


#: The columns every experiment table has: training, loss gap, probe and its controls.
PROBE_COLUMNS: tuple[Column, ...] = (
    Column("steps", lambda r: r.train.steps, "d"),
    Column("loss gap (nats)", loss_gap, ".4f"),
    Column("probe MSE", lambda r: r.probe.mse_test, ".2e"),
    Column("untrained MSE", lambda r: r.probe.untrained_mse, ".2e"),
    Column("one-hot MSE", lambda r: r.probe.onehot_mse, ".2e"),
    Column("shuffle MSE", lambda r: r.probe.shuffle_mse, ".2e"),
)
#: Wall-clock minutes of a job (training and analysis).
MINUTES_COLUMN = Column("minutes", _minutes, ".1f")


def table_row(row, columns: Sequence[Column]) -> list[str]:
    """The cells of one row (a result) in a table with ``columns``."""
    return [c.cell(row) for c in columns]


def markdown_table(rows: Sequence, columns: Sequence[Column]) -> str:
    """A markdown table with one line per row (result)."""
    head = "| " + " | ".join(c.header for c in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    lines = ["| " + " | ".join(table_row(r, columns)) + " |" for r in rows]
    return "\n".join([head, rule, *lines])


class TablePrinter:
    """Prints a header, then one aligned line per result (``log=None``: silent).

    Args:
        columns: the table's columns.
        log: where each line goes.
        widths: each column's minimum width (default: its header's length, at least 10).
    """

    def __init__(self, columns: Sequence[Column], log: Callable[[str], None] | None,
                 widths: Sequence[int] | None = None) -> None:
        self.columns, self.log, self.started = columns, log, False
        self.widths = (list(widths) if widths is not None
                       else [max(len(c.header), 10) for c in columns])
        if len(self.widths) != len(columns):
            raise ValueError(f"TablePrinter: {len(self.widths)} widths for {len(columns)} columns")

    def line(self, cells) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))

    def __call__(self, result: JobResult) -> None:
        if self.log is None:
            return
        if not self.started:
            self.log(self.line([c.header for c in self.columns]))
            self.started = True
        self.log(self.line(table_row(result, self.columns)))

    def failure(self, name: str, message: str) -> None:
        if self.log is not None:
            self.log(f"FAILED {name}: {message} (no result written; rerun to retry)")


__all__ = [
    "MINUTES_COLUMN",
    "PROBE_COLUMNS",
    "Column",
    "TablePrinter",
    "loss_gap",
    "markdown_table",
    "of_geometry",
    "table_row",
]
