"""cliutil.tables: fitted to the width by leaving out whole columns, never cutting a figure."""

from __future__ import annotations

from cliutil.tables import Column, csv_cell, fit_table, render_plain

COLUMNS = [
    Column("center", "left", 0),
    Column("offered", priority=0),
    Column("service level", priority=1),
    Column("overflow out", priority=2),
    Column("callbacks requested", priority=3),
]
ROWS = [["halberstadt", "123456", "100.0%", "7", "12"], ["national", "1234567", "93.1%", "29", "1"]]


def _render(width: int | None) -> tuple[str, tuple[str, ...]]:
    fitted = fit_table(COLUMNS, ROWS, width)
    return render_plain(fitted, width), fitted.left_out


def test_a_pipe_gets_every_column_with_its_heading_on_one_line() -> None:
    text, left_out = _render(None)
    assert left_out == ()
    assert text.splitlines()[0].split() == [
        "center", "offered", "service", "level", "overflow", "out", "callbacks", "requested"
    ]  # fmt: skip


def test_headings_wrap_first_then_columns_go_by_priority() -> None:
    full = max(len(line) for line in _render(None)[0].splitlines())
    # A little narrower: the headings wrap, nothing is left out.
    text, left_out = _render(full - 5)
    assert left_out == () and "requested" in text
    # Narrower still: the highest priority number goes first, priority 0 never.
    assert _render(40)[1] == ("callbacks requested",)
    assert _render(10)[1] == ("service level", "overflow out", "callbacks requested")


def test_no_figure_is_ever_cut() -> None:
    for width in range(10, 80):
        text, _ = _render(width)
        cells = {cell for line in text.splitlines() for cell in line.split()}
        assert {"halberstadt", "1234567", "123456"} <= cells, width


def test_csv_cells_follow_one_convention() -> None:
    assert [csv_cell("national", True), csv_cell("national", False)] == ["true", "false"]
    assert csv_cell("service_level", 2 / 3) == "0.6667"
    assert csv_cell("asa_s", 25.4999) == "25.5"
    assert (csv_cell("asa_s", None), csv_cell("calls", 7), csv_cell("center", "bund")) == (
        "",
        7,
        "bund",
    )
