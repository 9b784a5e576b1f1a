"""Experiment table columns: typed readers of a result, checked where defined and at first use."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from compmech.experiments import bottleneck, heads, sweep
from compmech.experiments.architectures import COLUMNS as ARCHITECTURE_COLUMNS
from compmech.experiments.tables import (
    MINUTES_COLUMN,
    PROBE_COLUMNS,
    Column,
    TablePrinter,
    loss_gap,
    markdown_table,
    of_geometry,
    table_row,
)
from compmech.records import optional


def _row(*, loss=0.0123, geometry=True, decoders=None, seconds=90.0):
    """A stand-in result with the attributes the shared columns read."""
    return SimpleNamespace(
        name="point",
        train=SimpleNamespace(steps=25),
        loss=None if loss is None else SimpleNamespace(loss_gap=loss),
        probe=SimpleNamespace(mse_test=1.5e-3, untrained_mse=2.0e-2, onehot_mse=3.0e-2,
                              shuffle_mse=None),
        geometry=SimpleNamespace(resolution=0.031, null_resolution=0.2, equivalent_history=3.25,
                                 dimension_true=1.2, dimension_predicted=float("nan"))
        if geometry else None,
        dimensions=None,
        decoder_geometry=decoders,
        seconds=seconds)


def test_a_dotted_path_or_other_non_callable_fails_where_the_column_is_defined():
    with pytest.raises(ValueError, match="table column 'x': value must be a callable"):
        Column("x", "labels.x", ".3f")


def test_a_misspelt_attribute_fails_at_the_first_row_naming_the_column():
    typo = Column("probe MSE", lambda r: r.probe.mse_tset, ".2e")
    with pytest.raises(AttributeError, match="mse_tset") as info:
        table_row(_row(), [typo])
    assert "in table column 'probe MSE'" in info.value.__notes__


def test_a_missing_dict_key_fails_at_the_first_row_naming_the_column():
    typo = Column("knn", lambda r: r.decoder_geometry["knnn"], ".2f")
    with pytest.raises(KeyError, match="knnn") as info:
        table_row(_row(decoders={"knn": None}), [typo])
    assert "in table column 'knn'" in info.value.__notes__


def test_cells_are_the_formatted_values_and_missing_parts_read_na():
    cells = table_row(_row(), [*PROBE_COLUMNS, MINUTES_COLUMN])
    assert cells == ["25", "0.0123", "1.50e-03", "2.00e-02", "3.00e-02", "n/a", "1.5"]
    # no evaluation, no geometry: "n/a", not an error
    columns = [Column("gap", loss_gap, ".4f"), Column("res", of_geometry(lambda g: g.resolution), ".3g")]
    assert table_row(_row(loss=None, geometry=False), columns) == ["n/a", "n/a"]
    assert table_row(_row(), columns) == ["0.0123", "0.031"]
    # a NaN dimension prints as missing too
    assert table_row(_row(), [Column("d", of_geometry(lambda g: g.dimension_predicted), ".2f")]) == [
        "n/a"]


def test_optional_reads_through_a_part_that_may_be_none():
    read = optional(lambda r: r.loss, lambda loss: loss.loss_gap)
    assert read(_row(loss=0.5)) == 0.5
    assert read(_row(loss=None)) is None
    # zero is a value, not a missing part
    assert read(_row(loss=0.0)) == 0.0


def test_decoder_columns_read_na_where_that_decoder_did_not_run():
    """``--decoders mlp`` gives results without a kNN geometry: its columns print "n/a" (a dotted
    path used to raise on the missing key when the first result was printed)."""
    knn = sweep.of_decoder("knn", lambda g: g.equivalent_history)
    geometry = SimpleNamespace(equivalent_history=2.5)
    assert knn(_row(decoders={"knn": geometry, "markov_5": geometry})) == 2.5
    assert knn(_row(decoders={"mlp": geometry, "markov_5": geometry})) is None
    assert knn(_row(decoders={"knn": None})) is None
    assert knn(_row(decoders=None)) is None


def test_markdown_table_and_printer_layout():
    columns = [Column("point", lambda r: r.name, "s"), MINUTES_COLUMN]
    rows = [_row(seconds=60.0), _row(seconds=150.0)]
    assert markdown_table(rows, columns).splitlines() == [
        "| point | minutes |", "|---:|---:|", "| point | 1.0 |", "| point | 2.5 |"]
    lines = []
    printer = TablePrinter(columns, lines.append)
    for r in rows:
        printer(r)
    assert lines == [f"{'point':>10}  {'minutes':>10}", f"{'point':>10}  {'1.0':>10}",
                     f"{'point':>10}  {'2.5':>10}"]
    narrow = []
    TablePrinter(columns, narrow.append, widths=[6, 8])(rows[0])
    assert narrow == [" point   minutes", " point       1.0"]
    with pytest.raises(ValueError, match="2 widths for 1 columns"):
        TablePrinter(columns[:1], print, widths=[6, 8])


@pytest.mark.parametrize("columns", [PROBE_COLUMNS, bottleneck.BOTTLENECK_COLUMNS,
                                     sweep.SWEEP_COLUMNS, heads.HEADS_COLUMNS,
                                     ARCHITECTURE_COLUMNS])
def test_every_experiment_table_is_made_of_columns_with_distinct_headers(columns):
    assert all(isinstance(c, Column) for c in columns)
    headers = [c.header for c in columns]
    assert len(set(headers)) == len(headers)
