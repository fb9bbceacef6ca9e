"""Loader output: a document as paragraphs and table grids, in reading order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SourceCell:
    """One cell of a source table, placed on the grid with its spans."""

    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1


@dataclass
class SourceTable:
    """A table as a loader found it: cells on a grid, before header analysis."""

    cells: list[SourceCell]
    n_rows: int
    n_cols: int
    origin: str  # "html", "docx", "pdf" or "pipe"
    source_span: tuple[int, int] | None = None


Block = str | SourceTable


@dataclass
class LoadedDocument:
    """What every loader returns: blocks in document order and an optional title hint."""

    blocks: list[Block]
    title_hint: str | None = None
    notes: list[str] = field(default_factory=list)  # loader remarks, turned into warnings


MAX_GRID_COLUMNS = 100  # no statutory table is wider; a wider span is clipped
MAX_GRID_SLOTS = 100_000  # grid positions a table's spans may cover in all; past that, spans shrink to one slot


def place_rows(rows: list[list[tuple[str, int, int]]], origin: str) -> SourceTable:
    """Place rows of (text, rowspan, colspan) on a grid the way HTML does, skipping covered slots.

    Spans are clipped to the table's rows and to MAX_GRID_COLUMNS, and the slots they cover are counted, so
    a hostile rowspan × colspan can never make the grid (or anything built on it) large."""
    taken: set[tuple[int, int]] = set()
    cells: list[SourceCell] = []
    n_cols = 0
    for r, row in enumerate(rows):
        c = 0
        for text, rowspan, colspan in row:
            while (r, c) in taken:
                c += 1
            if c >= MAX_GRID_COLUMNS:
                break
            rowspan = max(1, min(rowspan, len(rows) - r))
            colspan = max(1, min(colspan, MAX_GRID_COLUMNS - c))
            if len(taken) + rowspan * colspan > MAX_GRID_SLOTS:
                rowspan = colspan = 1
            cells.append(SourceCell(r, c, text, rowspan, colspan))
            taken.update((r + dr, c + dc) for dr in range(rowspan) for dc in range(colspan))
            c += colspan
            n_cols = max(n_cols, c)
    return SourceTable(cells=cells, n_rows=len(rows), n_cols=n_cols, origin=origin)
