"""Which statutory table cell(s) a question asks for, from the lexicon's row and column words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assistant.analyse.checks import FactQuery
from assistant.analyse.facts import T4_BLOCKS, t4_column
from assistant.analyse.facts import normalize as normalize_label
from assistant.records import Fact
from assistant.understand.lexicon import Label, Lexicon, best_label, lexicon


@dataclass(frozen=True)
class Cell:
    """One cell a question asks for; columns are alternatives (template versions differ), first present wins."""

    table: str
    row_path: tuple[str, ...]
    columns: tuple[str, ...]
    aggregate: bool = False  # the sum of the leaf rows under row_path
    also: tuple[tuple[str, ...], ...] = ()  # the row's path in older template versions
    words: tuple[str, ...] = ()  # the question words that chose it

    def fact_query(self, facts: Sequence[Fact] = ()) -> FactQuery:
        """The FactQuery for these facts: the first column alternative they hold for this row."""
        for row in (self.row_path, *self.also):
            for column in self.columns:
                probe = FactQuery(self.table, row, column, self.aggregate)
                if any(probe.matches(f) for f in facts):
                    return probe
        return FactQuery(self.table, self.row_path, self.columns[0], self.aggregate)

    @property
    def label(self) -> str:
        """How an answer names the cell: "行政复议 · 结果纠正"."""
        column = self.columns[0].split("·")[-1]
        row = self.row_path[-1].split("（区分")[0]
        return row if column == "总计" else f"{row} · {column}"


@dataclass(frozen=True)
class _Part:
    table: str | None = None
    row: Label | None = None  # T2/T3 row, or T4 block
    column: Label | None = None  # T2/T3 column, or T4 result
    words: tuple[str, ...] = ()


def _clauses(text: str, lex: Lexicon) -> list[str]:
    """The parts of a question that asks two things ("有几件？其中纠正的几件？")."""
    pieces = [text]
    for mark in lex.clause_marks:
        pieces = [p for piece in pieces for p in piece.split(mark)]
    clauses: list[str] = []
    for piece in pieces:
        for mark in lex.soft_clause_marks:
            piece = piece.replace(mark, "\0")
        local: list[str] = []
        for part in piece.split("\0"):
            if local and not any(w in local[-1] for w in lex.question_words):
                local[-1] += "，" + part  # the part before the comma asked nothing: still one clause
            else:
                local.append(part)
        clauses += local
    return [p for p in clauses if p.strip()]


def _t4_block(text: str, lex: Lexicon) -> tuple[Label | None, str]:
    """Sub-blocks (复议后起诉, 直接起诉) before 行政诉讼 before 行政复议."""
    for names in (("未经复议直接起诉", "复议后起诉"), ("行政诉讼",), ("行政复议",)):
        label, _, word = best_label(text, [b for b in lex.t4_blocks if b.label in names])
        if label:
            return label, word
    return None, ""


def _part(text: str, lex: Lexicon) -> _Part:
    block, word = _t4_block(text, lex)
    if block:
        result, _, rword = best_label(text, lex.t4_results)
        return _Part("T4", block, result, tuple(w for w in (word, rword) if w))
    t2, t2_len, t2_word = best_label(text, lex.t2_rows)
    t3, t3_len, t3_word = _t3_row(text, lex)
    column, _, cword = best_label(text.replace(t3_word, "|") if t3_word else text, lex.t3_columns)
    if t2 and t2_len >= t3_len:
        t2_column, _, t2_cword = best_label(text, lex.t2_columns)
        return _Part("T2", t2, t2_column, tuple(w for w in (t2_word, t2_cword) if w))
    if t3:
        return _Part("T3", t3, column, tuple(w for w in (t3_word, cword) if w))
    if column:
        return _Part(None, None, column, (cword,))
    result, _, rword = best_label(text, [r for r in lex.t4_results if r.label != "总计"])
    return _Part(None, None, result, (rword,)) if result else _Part()


def _t3_row(text: str, lex: Lexicon) -> tuple[Label | None, float, str]:
    """The best T3 row: an item of the block named wins over the block ("因为不掌握信息没法提供");
    otherwise the longest word, the more specific row on a tie."""
    found = []
    for label in lex.t3_rows:
        hit, length, word = best_label(text, [label])
        if hit:
            found.append((int(length), len(label.path), hit, word))
    if not found:
        return None, 0.0, ""
    length, depth, best, word = max(found, key=lambda f: (f[0], f[1]))
    if depth == 2:
        items = [f for f in found if f[1] == 3 and f[2].path[:2] == best.path]
        if items:
            _, _, best, word = max(items, key=lambda f: f[0])
    return best, float(length), word


def _cell(part: _Part, previous: Cell | None, lex: Lexicon) -> Cell | None:
    table = part.table or (previous.table if previous else None)
    if table is None:
        return None
    if table == "T4":
        block_label = part.row.label if part.row and part.table == "T4" else None
        block: tuple[str, ...] | None = next((b for b in T4_BLOCKS if b[-1] == block_label), None)
        if block_label == "行政诉讼":
            block = ("行政诉讼",)
        if block is None:
            if previous is None or previous.table != "T4":
                return None
            block = previous.row_path
        result = part.column.label if part.column and part.column.label in _t4_results(lex) else "总计"
        words = part.words if part.table == "T4" else (*previous.words, *part.words) if previous else part.words
        if block == ("行政诉讼",):
            return Cell("T4", block, (result,), aggregate=True, words=words)
        return Cell("T4", block, (t4_column(block, result),), words=words)
    if table == "T3":
        if part.row is not None and part.table == "T3":
            path = part.row.path
        elif previous is not None and previous.table == "T3":
            path = previous.row_path
        else:
            return None
        column = part.column.label if part.column and part.column in lex.t3_columns else (
            previous.columns[0] if previous and previous.table == "T3" and part.row is None else "总计")
        aggregate = len(path) == 2 and any(r.path[:2] == path and len(r.path) == 3 for r in lex.t3_rows)
        return Cell("T3", path, (column,), aggregate=aggregate, words=part.words)
    row = part.row if part.row is not None and part.table == "T2" else None
    if row is None:
        return None
    chosen = part.column.label if part.column and part.column in lex.t2_columns else None
    columns = tuple(dict.fromkeys([c for c in (chosen,) if c] + list(row.default)))
    also = tuple((*row.path[:-1], label) for label in row.also)
    return Cell("T2", row.path, columns, also=also, words=part.words)


def _t4_results(lex: Lexicon) -> set[str]:
    return {r.label for r in lex.t4_results}


def match_cells(text: str, lex: Lexicon | None = None) -> tuple[Cell, ...]:
    """Every cell the (normalised) question asks for, clause by clause; later clauses inherit the earlier
    clause's table, row or block ("行政复议有几件？其中纠正的几件？")."""
    lex = lex or lexicon()
    text = normalize_label(text)
    cells: list[Cell] = []
    previous: Cell | None = None
    for clause in _clauses(text, lex):
        part = _part(clause, lex)
        if part.table is None and part.column is None:
            continue
        cell = _cell(part, previous, lex)
        if cell is not None and cell not in cells:
            cells.append(cell)
            previous = cell
    return tuple(cells)


def subject_words(cell: Cell, lex: Lexicon | None = None) -> tuple[str, ...]:
    """Words one of which a prose sentence must hold to state this cell (申请 for 新收, 复议 for 行政复议)."""
    lex = lex or lexicon()
    if cell.table == "T3":
        row = next((r for r in lex.t3_rows if r.path == cell.row_path), None)  # generic words (收到, 办结) name
        return (row.requires or row.words) if row else ()  # what they count in `requires`; the rest are specific
    if cell.table == "T4":
        names = {cell.row_path[0], cell.row_path[-1]}
        return tuple(w for b in lex.t4_blocks if b.label in names for w in b.words)
    row = next((r for r in lex.t2_rows if r.path == cell.row_path), None)
    return row.words if row else ()
