"""Recovery of tables that a scraper collapsed into `cell | cell ||` lines (rowspans dropped)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import combinations

from assistant.ingest.blocks import SourceCell, SourceTable
from assistant.ingest.tables import is_number, is_value

MAX_CELL_CHARS = 120  # a longer "cell" is prose that happens to end with "|"
MAX_OPEN_CELLS = 16  # bound on the rowspan search of one header row
MAX_COLSPAN = 60  # a longer run of "|" is page decoration, not a merged cell

_PIPE_RUN = re.compile(r"\s*(\|+)")
_ITEM = re.compile(r"\s*(?:\d+\s*[.、．)）]|[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+、)")

Row = list[tuple[str, int]]  # (text, colspan)


def parse_pipe_row(line: str) -> Row | None:
    """Cells of one collapsed `<tr>`: each text is followed by as many "|" as its colspan."""
    line = line.strip()
    if "|" not in line or not line.strip("| "):
        return None
    if line.startswith("|"):
        line = line[1:]
    cells: Row = []
    pos = 0
    for match in _PIPE_RUN.finditer(line):
        cells.append((line[pos : match.start()].strip(), len(match.group(1))))
        pos = match.end()
    if line[pos:].strip():
        cells.append((line[pos:].strip(), 1))
    if any(len(text) > MAX_CELL_CHARS or span > MAX_COLSPAN for text, span in cells):
        return None
    if len(cells) < 2 and all(span < 2 for _, span in cells):
        return None
    return cells


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    pos = 0
    for line in text.splitlines(keepends=True):
        yield pos, pos + len(line.rstrip("\r\n")), line.rstrip("\r\n")
        pos += len(line)


def find_pipe_tables(text: str) -> list[tuple[int, int, SourceTable]]:
    """(start, end, table) for each run of collapsed table rows that holds figures."""
    found: list[tuple[int, int, SourceTable]] = []
    run: list[tuple[int, int, Row]] = []
    for start, end, line in [*_lines(text), (len(text), len(text), "")]:
        row = parse_pipe_row(line)
        if row is not None:
            run.append((start, end, row))
            continue
        rows = [r for _, _, r in run]
        if len(rows) >= 2 and any(is_number(t) for r in rows for t, _ in r):
            table = place_pipe_rows(rows)
            table.source_span = (run[0][0], run[-1][1])
            found.append((run[0][0], run[-1][1], table))
        run = []
    return found


def _fit(row: Row, taken: set[int], width: int) -> list[int] | None:
    """Columns where the row's cells land, left to right around the taken columns."""
    cols: list[int] = []
    c = 0
    for _, span in row:
        while c in taken:
            c += 1
        if c + span > width or any(x in taken for x in range(c, c + span)):
            return None
        cols.append(c)
        c += span
    return cols


def _extend_labels(above: list[SourceCell | None], missing: int) -> list[SourceCell] | None:
    chosen: list[SourceCell] = []
    c = covered = 0
    while covered < missing:
        cell = above[c] if c < len(above) else None
        if cell is None or is_value(cell.text):
            return None
        chosen.append(cell)
        covered += cell.colspan
        c = cell.col + cell.colspan
    return chosen if covered == missing else None


def _extend_headers(above: list[SourceCell | None], row: Row, missing: int, width: int) -> list[SourceCell] | None:
    candidates: list[SourceCell] = []
    for cell in above:
        if cell is not None and all(cell is not c for c in candidates):
            candidates.append(cell)
    if len(candidates) > MAX_OPEN_CELLS:
        return None
    best: tuple[int, list[SourceCell]] | None = None
    for size in range(1, len(candidates) + 1):
        for subset in combinations(candidates, size):
            if sum(c.colspan for c in subset) != missing:
                continue
            taken = {x for c in subset for x in range(c.col, c.col + c.colspan)}
            if _fit(row, taken, width) is None:
                continue
            # A wide cell away from the row-label corner is a group header with children below.
            score = sum(10 if c.colspan > 1 and c.col > 0 else 0 for c in subset)
            score += sum(100 for c in subset if is_value(c.text))
            if best is None or score < best[0]:
                best = (score, list(subset))
    return best[1] if best else None


def place_pipe_rows(rows: list[Row]) -> SourceTable:
    """Grid the rows, restoring the rowspans the scraper dropped (cells that sit above a gap)."""
    width = max(sum(span for _, span in row) for row in rows)
    cells: list[SourceCell] = []
    above: list[SourceCell | None] = [None] * width
    for r, row in enumerate(rows):
        missing = width - sum(span for _, span in row)
        extended: list[SourceCell] | None = []
        if missing > 0:
            if any(is_number(text) for text, _ in row):
                # a row of figures sits under the labels above only when its own label is a numbered item
                # (a block's "2.重复申请"); a peer row cut short ("其他主动公开文件 | 56 | 45") stays left-aligned
                extended = _extend_labels(above, missing) if is_value(row[0][0]) or _ITEM.match(row[0][0]) else None
            else:
                extended = _extend_headers(above, row, missing, width)
        taken = {x for c in extended or [] for x in range(c.col, c.col + c.colspan)}
        cols = _fit(row, taken, width) if extended is not None else None
        if cols is None:  # cannot tell where the gaps are: keep the cells left-aligned
            extended, cols = [], []
            c = 0
            for _, span in row:
                cols.append(c)
                c += span
        new_above: list[SourceCell | None] = [None] * width
        for cell in extended or []:
            cell.rowspan += 1
            for x in range(cell.col, cell.col + cell.colspan):
                new_above[x] = cell
        for (text, span), col in zip(row, cols, strict=True):
            cell = SourceCell(r, col, text, 1, span)
            cells.append(cell)
            for x in range(col, min(col + span, width)):
                new_above[x] = cell
        above = new_above
    return SourceTable(cells=cells, n_rows=len(rows), n_cols=width, origin="pipe")
