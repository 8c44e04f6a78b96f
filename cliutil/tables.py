"""Tables for people, every command's drawn the same way (rich), fitted to the terminal.

A number is never cut: a cell keeps its whole text (no wrap, no ellipsis).
When the table is wider than the terminal, first the headings wrap at their
spaces, then whole columns are left out, the least important first (each
column has a priority), and a note under the table names them; the
machine-readable forms (``--json``, ``--csv``) always have every figure.
Pipes and files get every column, headings unwrapped.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = [
    "UNLIMITED",
    "Column",
    "FittedTable",
    "csv_cell",
    "fit_table",
    "print_fitted",
    "render_plain",
    "terminal_width",
]

# CSV, the one convention of every command that writes it: booleans as
# true/false (the words of --json), a missing figure as an empty cell,
# seconds (a name ending in _s) to 0.1 s, other fractions to 4 decimals
# (0.7512: a share to 0.01 percentage points); integers and text as they are.
_SECONDS_DECIMALS = 1
_FRACTION_DECIMALS = 4

# Headings wrap at spaces, but never narrower than this.
_MIN_HEADING = 4
# Wider than any table: a pipe or file gets every column unwrapped.
UNLIMITED = 10_000


@dataclass(frozen=True)
class Column:
    """A column: its heading, alignment and how readily it is left out.

    ``priority`` 0 is never left out; among the others the highest number
    goes first (and of equal ones the rightmost).
    """

    heading: str
    justify: Literal["left", "right"] = "right"
    priority: int = 1
    # Free text (a reason), never a figure: it may wrap at its spaces.
    wrap: bool = False


@dataclass(frozen=True)
class FittedTable:
    """The rich table, and the headings of the columns left out for the width."""

    table: Table
    left_out: tuple[str, ...]
    # The command's options that show every column.
    complete: str = "--json"

    def note(self) -> str | None:
        """One line naming what was left out, or ``None``."""
        if not self.left_out:
            return None
        shows = f"a wider terminal or {self.complete}" if self.complete else "a wider terminal"
        return f"left out for the terminal's width: {', '.join(self.left_out)} ({shows} shows them)"


def terminal_width(console: Console | None = None) -> int | None:
    """The width to fit a table to: the terminal's, or ``None`` (no limit) for a pipe."""
    out = console if console is not None else Console()
    return out.width if out.is_terminal else None


def _cell_width(cell: str) -> int:
    return Text.from_markup(cell).cell_len


def _build(
    columns: Sequence[Column],
    keep: Sequence[int],
    rows: Sequence[Sequence[str]],
    sections: frozenset[int],
    title: str | None,
    wrap: bool,
) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        title=title,
        title_justify="left",
    )
    for i in keep:
        col = columns[i]
        widest = max((_cell_width(r[i]) for r in rows), default=0)
        if wrap:
            word = max((len(w) for w in col.heading.split()), default=0)
            width = max(widest, word, min(_MIN_HEADING, len(col.heading)))
            heading = "\n".join(textwrap.wrap(col.heading, width)) or col.heading
        else:
            width, heading = max(widest, len(col.heading)), col.heading
        if col.wrap:
            table.add_column(heading, justify=col.justify, overflow="fold")
        else:
            table.add_column(
                heading, justify=col.justify, no_wrap=True, min_width=width, overflow="fold"
            )
    for n, row in enumerate(rows):
        table.add_row(*(row[i] for i in keep), end_section=n in sections)
    return table


def _needs(console: Console, table: Table) -> int:
    """The fewest columns ``table`` takes: every figure whole, free text wrapped."""
    return Measurement.get(console, console.options, table).minimum


def fit_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    *,
    sections: frozenset[int] = frozenset(),
    title: str | None = None,
    complete: str = "--json",
) -> FittedTable:
    """The table of ``rows`` (cells as text, rich markup allowed) within ``width`` columns.

    ``sections``: the rows after which a rule is drawn (before a total);
    ``complete``: the command's options that show every column (for the note).
    """
    keep = list(range(len(columns)))
    # Leave out the highest priority number first, of equals the rightmost.
    order = sorted(
        (i for i, c in enumerate(columns) if c.priority > 0),
        key=lambda i: (columns[i].priority, i),
        reverse=True,
    )
    table = _build(columns, keep, rows, sections, title, wrap=False)
    if width is not None:
        # Measured without a limit (a measurement within the width never exceeds it).
        console = Console(width=UNLIMITED, file=io.StringIO())

        def too_wide(table: Table) -> bool:
            return _needs(console, table) > width

        # Of the columns kept, headings on one line if they fit, else wrapped;
        # if neither fits, the next column goes.
        while too_wide(table):
            wrapped = _build(columns, keep, rows, sections, title, wrap=True)
            if not too_wide(wrapped) or not order:
                table = wrapped
                break
            keep.remove(order.pop(0))
            table = _build(columns, keep, rows, sections, title, wrap=False)
    left_out = tuple(columns[i].heading for i in range(len(columns)) if i not in keep)
    return FittedTable(table, left_out, complete)


def render_plain(fitted: FittedTable, width: int | None) -> str:
    """The table as plain text (no colour, no markup), ``width`` wide or as wide as it is.

    Columns that are never left out may need more than ``width``: the lines
    are longer then (the terminal wraps them), a figure is still never cut.
    """
    out = io.StringIO()
    if width is not None:
        probe = Console(width=UNLIMITED, file=io.StringIO())
        width = max(width, _needs(probe, fitted.table))
    console = Console(
        file=out,
        width=width if width is not None else UNLIMITED,
        color_system=None,
        force_terminal=False,
        highlight=False,
    )
    console.print(fitted.table)
    note = fitted.note()
    if note:
        console.print(note, soft_wrap=True)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def csv_cell(name: str, value: object) -> str | int:
    """A figure as a CSV cell, by the one convention above."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        digits = _SECONDS_DECIMALS if name.endswith("_s") else _FRACTION_DECIMALS
        return str(round(value, digits))
    if isinstance(value, int):
        return value
    return str(value)


def print_fitted(console: Console, fitted: FittedTable, title: str | None = None) -> None:
    """``title``, the table and the note of what was left out, on ``console``."""
    if title:
        console.print(title, soft_wrap=True)
    console.print(fitted.table)
    note = fitted.note()
    if note:
        console.print(note, style="dim")
