"""Table grids: header rows, row label and column header paths, and one-line row renderings."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache

from assistant.ingest.blocks import SourceCell, SourceTable
from assistant.ingest.lost_tables import KIND_WORDS
from assistant.records import TableCell
from assistant.segment import to_simplified

# Cell texts recur across a corpus's tables (labels, "0", "—"): each is converted once.
_cell_simplified = lru_cache(maxsize=8192)(to_simplified)

PATH_SEPARATOR = " › "
LABEL_SEPARATOR = "："
ITEM_SEPARATOR = "；"
MAX_HEADER_ROWS = 8  # only the last few header rows above a data row name its columns

_NUMBER = re.compile(r"[-+]?\d[\d,，]*(?:\.\d+)?\s*(?:%|％|‰|万元|亿元|万|元|件|条|个|人次|次|人|项)?")
_PLACEHOLDERS = {"—", "——", "-", "--", "－", "/", "／", "无", "空", "×", "…", "/ "}


def is_number(text: str) -> bool:
    """A cell holding a figure: 12, 2846.70, 52%, 1,024件."""
    return bool(_NUMBER.fullmatch(text.strip()))


def is_value(text: str) -> bool:
    """A figure or a placeholder such as —, / or 无 (無 in traditional characters)."""
    return is_number(text) or _cell_simplified(text.strip()) in _PLACEHOLDERS


def simplified(table: SourceTable) -> SourceTable:
    """The table with every cell's text in simplified characters (to_simplified), on the same grid."""
    cells = [replace(c, text=_cell_simplified(c.text)) for c in table.cells]
    return replace(table, cells=cells)


@dataclass
class TableLayout:
    """A table after header analysis: cells with header paths, and one rendered line per row shown."""

    cells: list[TableCell]
    header_rows: int
    lines: list[tuple[int, str]]  # (grid row, rendering)


class _Grid:
    def __init__(self, table: SourceTable) -> None:
        self.table = table
        self.at: dict[tuple[int, int], SourceCell] = {}
        self.rows: list[list[SourceCell]] = [[] for _ in range(table.n_rows)]
        for cell in sorted(table.cells, key=lambda c: c.col):
            for r in range(cell.row, min(cell.row + cell.rowspan, table.n_rows)):
                self.rows[r].append(cell)
                for c in range(cell.col, min(cell.col + cell.colspan, table.n_cols)):
                    self.at.setdefault((r, c), cell)

    def row(self, r: int) -> list[SourceCell]:
        """Distinct cells covering row r, left to right."""
        return self.rows[r]

    def kind(self, r: int) -> str:
        starting = [c for c in self.row(r) if c.row == r]
        texts = [c.text for c in starting if c.text]
        if not texts:
            return "blank"
        if any(is_number(t) for t in texts) or (len(texts) > 1 and any(is_value(t) for t in texts[1:])):
            return "data"  # figures, or a label followed by placeholders such as —
        if len(starting) == 1 and starting[0].colspan >= self.table.n_cols:
            return "block"
        return "header"


def _label_columns(grid: _Grid, data_rows: list[int]) -> int:
    firsts: list[int] = []
    for r in data_rows:
        first = grid.table.n_cols
        for cell in grid.row(r):
            if cell.text and is_value(cell.text):
                first = cell.col
                break
        firsts.append(first)
    if not firsts:
        return 0
    counts = Counter(firsts).most_common()
    best = max(n for _, n in counts)
    return min(col for col, n in counts if n == best)


def _dedup(texts: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for text in texts:
        if text and (not out or out[-1] != text):
            out.append(text)
    return tuple(out)


def _strip_common_prefix(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    while len(paths) > 1 and all(len(p) > 1 and p[0] == paths[0][0] for p in paths):
        paths = [p[1:] for p in paths]
    return paths


def analyze_table(table: SourceTable) -> TableLayout:
    """Find header rows and label columns, give every cell its paths, render the rows."""
    grid = _Grid(table)
    kinds = [grid.kind(r) for r in range(table.n_rows)]
    data_rows = [r for r, k in enumerate(kinds) if k == "data"]
    n_label = _label_columns(grid, data_rows)
    row_paths: dict[int, tuple[str, ...]] = {}
    col_paths: dict[int, tuple[str, ...]] = {}  # keyed by id() of the source cell
    headers: list[int] = []
    blocks: list[str] = []
    context: dict[int, tuple[list[int], list[str]]] = {}
    previous = ""
    for r, kind in enumerate(kinds):
        if kind in ("header", "block") and previous == "data":
            headers, blocks = [], []
        if kind == "block":
            blocks = [*blocks, grid.row(r)[0].text]
        elif kind == "header":
            headers = [*headers, r][-MAX_HEADER_ROWS:]
        context[r] = (headers, blocks)
        previous = kind if kind != "blank" else previous

    def header_path(r: int, col: int, min_col: int, stop: SourceCell | None = None) -> tuple[str, ...]:
        found: list[SourceCell] = []
        for h in context[r][0]:
            cell = grid.at.get((h, col))
            if cell is not None and cell.col >= min_col and all(cell is not f for f in found):
                found.append(cell)
            if cell is stop:
                break
        return _dedup([c.text for c in found])

    def row_path(r: int, upto: SourceCell | None = None) -> tuple[str, ...]:
        labels: list[str] = []
        for cell in grid.row(r):
            if cell.col >= n_label:
                break
            labels.append(cell.text)
            if cell is upto:
                break
        return _dedup([*context[r][1], *labels])

    for r in range(table.n_rows):
        for cell in (c for c in grid.row(r) if c.row == r):
            min_col = n_label if cell.col >= n_label else 0
            if kinds[r] == "header":
                col_paths[id(cell)] = header_path(r, cell.col, min_col, stop=cell)
            elif kinds[r] == "data":
                row_paths[id(cell)] = row_path(r, cell if cell.col < n_label else None)
                col_paths[id(cell)] = header_path(r, cell.col, min_col)
            elif kinds[r] == "block":
                row_paths[id(cell)] = (cell.text,)
    cells = [
        TableCell(
            row=c.row, col=c.col, text=c.text, rowspan=c.rowspan, colspan=c.colspan,
            row_headers=row_paths.get(id(c), ()), col_headers=col_paths.get(id(c), ()),
            is_header=kinds[c.row] in ("header", "block") or (kinds[c.row] == "data" and c.col < n_label),
        )
        for c in sorted(table.cells, key=lambda c: (c.row, c.col))
    ]
    lines: list[tuple[int, str]] = []
    last_data = data_rows[-1] if data_rows else -1
    for r, kind in enumerate(kinds):
        if kind == "data":
            values = [c for c in grid.row(r) if c.col >= n_label and c.text]
            paths = _strip_common_prefix([col_paths.get(id(v), ()) for v in values])
            lines.append((r, _render_row(row_path(r), paths, [v.text for v in values])))
        elif kind == "block" and r > last_data:  # a note under the figures
            lines.append((r, ITEM_SEPARATOR.join(c.text for c in grid.row(r) if c.row == r and c.text)))
    header_rows = data_rows[0] if data_rows else table.n_rows
    return TableLayout(cells, header_rows, [(r, line) for r, line in lines if line])


def _render_row(label_path: tuple[str, ...], col_paths: list[tuple[str, ...]], values: list[str]) -> str:
    """`row label path：column path value；column path value；…` on one line."""
    items = [f"{PATH_SEPARATOR.join(p)} {v}" if p else v for p, v in zip(col_paths, values, strict=True)]
    label = PATH_SEPARATOR.join(label_path)
    body = ITEM_SEPARATOR.join(items)
    return f"{label}{LABEL_SEPARATOR}{body}" if label and body else label or body


def _row_kind(texts: list[str]) -> str | None:
    joined = to_simplified("".join(texts))
    for kind, words in KIND_WORDS:
        if any(w in joined for w in words):
            return kind
    return None


def split_statutory(table: SourceTable) -> list[SourceTable]:
    """One grid per template table when a page put several in one <table> (T3 rows, then T4's header …).

    A new table starts at a header row (no figures) after figures, whose words name another template table;
    T2's 第二十条 sub-headers all name T2, so T2 stays one table."""
    starting: dict[int, list[SourceCell]] = {}
    for cell in table.cells:
        starting.setdefault(cell.row, []).append(cell)
    cuts: list[int] = []
    current: str | None = None
    seen_figures = False
    for r in range(table.n_rows):
        texts = [c.text for c in starting.get(r, []) if c.text]
        figures = any(is_number(t) for t in texts)
        kind = _row_kind(texts)
        if not figures and kind is not None and current is not None and kind != current and seen_figures:
            cuts.append(r)
            seen_figures = False
        current = kind or current
        seen_figures = seen_figures or figures
    if not cuts:
        return [table]
    pieces: list[SourceTable] = []
    for start, end in zip([0, *cuts], [*cuts, table.n_rows], strict=True):
        cells = [SourceCell(c.row - start, c.col, c.text, min(c.rowspan, end - c.row), c.colspan)
                 for c in table.cells if start <= c.row < end]
        n_cols = max((c.col + c.colspan for c in cells), default=1)
        pieces.append(SourceTable(cells, end - start, n_cols, table.origin, table.source_span))
    return pieces
