"""Loader output: a document as paragraphs and table grids, in reading order."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.ingest import limits


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


def place_rows(rows: list[list[tuple[str, int, int]]], origin: str) -> SourceTable:
    """Place rows of (text, rowspan, colspan) on a grid the way HTML does, skipping covered slots."""
    taken: set[tuple[int, int]] = set()
    cells: list[SourceCell] = []
    n_cols = 0
    for r, row in enumerate(rows):
        c = 0
        for text, rowspan, colspan in row:
            while (r, c) in taken:
                c += 1
            rowspan = max(1, min(rowspan, len(rows) - r))
            colspan = max(1, colspan)
            limits.check_cells(len(rows) * max(n_cols, c + colspan))  # before the slots are allocated
            cells.append(SourceCell(r, c, text, rowspan, colspan))
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken.add((r + dr, c + dc))
            c += colspan
            n_cols = max(n_cols, c)
    return SourceTable(cells=cells, n_rows=len(rows), n_cols=n_cols, origin=origin)
