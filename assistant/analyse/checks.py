"""Reasoning over extracted Facts: template identity checks and selecting the cells a FactQuery names."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.analyse.facts import (
    T3_CARRIED_IN,
    T3_CARRIED_OUT,
    T3_COLUMNS,
    T3_NEW,
    T3_RESULTS,
    T3_TOTAL_ROW,
    T4_BLOCKS,
    T4_RESULTS,
    t3_template_rows,
    t4_column,
)
from assistant.records import Fact, Violation

_EPS = 1e-6
APPLICANTS = T3_COLUMNS[:-1]


def format_number(value: float | None) -> str:
    """A value as printed in a report: 63, 612.45; "—" for blank."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def describe_fact(fact: Fact) -> str:
    """A short Chinese rendering of a fact, e.g. "T3 三、本年度办理结果 › （一）予以公开 · 总计：28件"."""
    value = format_number(fact.value) + (fact.unit if fact.value is not None else "")
    return f"{fact.table} {' › '.join(fact.row_path)} · {fact.column}：{value}"


def _short(path: tuple[str, ...]) -> str:
    return path[-1].split("（区分")[0] if len(path) > 1 else path[0].split("、")[0]


class _Index:
    def __init__(self, facts: Iterable[Fact]) -> None:
        self.by_key = {(f.table, f.row_path, f.column): f for f in facts}

    def values(self, keys: Sequence[tuple[str, tuple[str, ...], str]]) -> list[Fact] | None:
        """The facts at these keys, or None when any is missing or blank (the identity is then skipped)."""
        found = [self.by_key.get(k) for k in keys]
        return [f for f in found if f is not None] if all(f is not None and f.value is not None
                                                         for f in found) else None


def check_facts(report_title: str, facts: Sequence[Fact]) -> list[Violation]:
    """Every broken template identity of one report's T3 and T4 (identities with a blank cell are skipped)."""
    index = _Index(facts)
    out: list[Violation] = []

    def add(table: str, rule: str, text: str, left: list[Fact], right: list[Fact], lv: float, rv: float) -> None:
        if abs(lv - rv) > _EPS:
            f = left[0]
            out.append(Violation(f.report_id, report_title, f.agency, f.year, table, rule, text, lv, rv,
                                 tuple(left + right)))

    version = "2021" if any(f.table == "T3" and len(f.row_path) == 3 and f.row_path[1].startswith("（六）")
                            for f in facts) else "2019"
    rows = t3_template_rows(version)
    handled = [p for p in rows if p[0] == T3_RESULTS and p != T3_TOTAL_ROW]
    fmt = format_number
    for col in T3_COLUMNS:
        total, parts = index.values([("T3", T3_TOTAL_ROW, col)]), index.values([("T3", p, col) for p in handled])
        if total and parts:
            s = sum(f.value or 0 for f in parts)
            add("T3", "T3 （七）总计 = （一）+…+（六）",
                   f"三（七）总计 {col}列：{fmt(total[0].value)} ≠ （一）至（六）之和 {fmt(s)}",
                   total, parts, total[0].value or 0, s)
        sides = index.values([("T3", (p,), col) for p in (T3_NEW, T3_CARRIED_IN)])
        other = index.values([("T3", T3_TOTAL_ROW, col), ("T3", (T3_CARRIED_OUT,), col)])
        if sides and other:
            (a, b), (t, d) = [x.value or 0 for x in sides], [x.value or 0 for x in other]
            add("T3", "T3 一 + 二 = 三（七）+ 四",
                   f"{col}列：一 + 二 = {fmt(a)} + {fmt(b)} = {fmt(a + b)} ≠ 三（七）+ 四 = "
                   f"{fmt(t)} + {fmt(d)} = {fmt(t + d)}", sides, other, a + b, t + d)
    for path in rows:
        total, parts = index.values([("T3", path, "总计")]), index.values([("T3", path, c) for c in APPLICANTS])
        if total and parts:
            values = [f.value or 0 for f in parts]
            add("T3", "T3 总计列 = 六类申请人之和",
                   f"{_short(path)} 行：总计列 {fmt(total[0].value)} ≠ 六类申请人之和 "
                   f"{'+'.join(fmt(v) for v in values)} = {fmt(sum(values))}",
                   total, parts, total[0].value or 0, sum(values))
    for block in T4_BLOCKS:
        total = index.values([("T4", block, t4_column(block, "总计"))])
        parts = index.values([("T4", block, t4_column(block, r)) for r in T4_RESULTS[:-1]])
        if total and parts:
            s = sum(f.value or 0 for f in parts)
            add("T4", "T4 总计 = 前四项之和",
                   f"{'·'.join(block)} 总计 {fmt(total[0].value)} ≠ 结果维持、结果纠正、其他结果、尚未审结之和 {fmt(s)}",
                   total, parts, total[0].value or 0, s)
    return out


@dataclass(frozen=True)
class FactQuery:
    """Which table cell a question asks for; with aggregate, the sum of the leaf rows under row_path."""

    table: str
    row_path: tuple[str, ...]
    column: str
    aggregate: bool = False

    def matches(self, fact: Fact) -> bool:
        """True for a fact this query selects (aggregate: any row below row_path)."""
        same_row = fact.row_path[: len(self.row_path)] == self.row_path if self.aggregate else (
            fact.row_path == self.row_path)
        return fact.table == self.table and same_row and (
            fact.column == self.column or fact.column.endswith("·" + self.column))


def query_facts(query: FactQuery, facts: Iterable[Fact]) -> list[Fact]:
    """The facts a query selects; for aggregates only leaf rows, so that they can be summed."""
    found = [f for f in facts if query.matches(f)]
    return [f for f in found if not any(g.row_path[: len(f.row_path)] == f.row_path and g.row_path != f.row_path
                                        for g in found)]


def sum_facts(facts: Sequence[Fact]) -> float | None:
    """Sum of the non-blank values; None when there is none."""
    values = [f.value for f in facts if f.value is not None]
    return sum(values) if values else None


FACT_FIELDS = ("agency", "year", "table", "row", "column", "value", "raw", "unit", "table_id", "cell_row", "cell_col")


def fact_row(fact: Fact) -> dict[str, object]:
    """A flat row for CSV and tables: the row path joined with " › "."""
    return {"agency": fact.agency, "year": fact.year, "table": fact.table, "row": " › ".join(fact.row_path),
            "column": fact.column, "value": fact.value, "raw": fact.raw, "unit": fact.unit,
            "table_id": fact.table_id, "cell_row": fact.cell_row, "cell_col": fact.cell_col}
