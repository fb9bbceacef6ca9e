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
from assistant.records import Fact, ParseWarning, Report, TableCheck, Violation

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
        self.skipped: dict[str, int] = {}  # identities skipped for a blank cell, by table

    def values(self, keys: Sequence[tuple[str, tuple[str, ...], str]]) -> list[Fact] | None:
        """The facts at these keys, or None when any is missing or blank."""
        found = [self.by_key.get(k) for k in keys]
        return [f for f in found if f is not None] if all(f is not None and f.value is not None
                                                         for f in found) else None

    def sides(self, left: Sequence[tuple[str, tuple[str, ...], str]], right: Sequence[tuple[str, tuple[str, ...], str]]
              ) -> tuple[list[Fact], list[Fact]] | tuple[None, None]:
        """Both sides of an identity, or (None, None) when a cell is missing or blank (a blank one is counted)."""
        a, b = self.values(left), self.values(right)
        if a and b:
            return a, b
        if all(k in self.by_key for k in (*left, *right)):
            table = left[0][0]
            self.skipped[table] = self.skipped.get(table, 0) + 1
        return None, None


@dataclass
class Coverage:
    """What check_facts could do: identities evaluated and identities skipped because a cell is blank."""

    checked: dict[str, int]
    skipped: dict[str, int]


def check_facts(report_title: str, facts: Sequence[Fact], coverage: Coverage | None = None,
                held: list[Violation] | None = None) -> list[Violation]:
    """Every broken template identity of one report's T3 and T4 (identities with a blank cell are skipped and,
    when coverage is given, counted there with the identities evaluated); the identities that hold are added
    to `held`, when given, with "=" in their description."""
    index = _Index(facts)
    out: list[Violation] = []
    evaluated: dict[str, int] = {}

    def add(table: str, rule: str, text: str, left: list[Fact], right: list[Fact], lv: float, rv: float) -> None:
        evaluated[table] = evaluated.get(table, 0) + 1
        f = left[0]
        if abs(lv - rv) > _EPS:
            out.append(Violation(f.report_id, report_title, f.agency, f.year, table, rule, text, lv, rv,
                                 tuple(left + right)))
        elif held is not None:
            held.append(Violation(f.report_id, report_title, f.agency, f.year, table, rule, text.replace("≠", "="),
                                  lv, rv, tuple(left + right)))

    version = "2021" if any(f.table == "T3" and len(f.row_path) == 3 and f.row_path[1].startswith("（六）")
                            for f in facts) else "2019"
    rows = t3_template_rows(version)
    handled = [p for p in rows if p[0] == T3_RESULTS and p != T3_TOTAL_ROW]
    fmt = format_number
    for col in T3_COLUMNS:
        total, parts = index.sides([("T3", T3_TOTAL_ROW, col)], [("T3", p, col) for p in handled])
        if total and parts:
            s = sum(f.value or 0 for f in parts)
            add("T3", "T3 （七）总计 = （一）+…+（六）",
                   f"三（七）总计 {col}列：{fmt(total[0].value)} ≠ （一）至（六）之和 {fmt(s)}",
                   total, parts, total[0].value or 0, s)
        sides, other = index.sides([("T3", (p,), col) for p in (T3_NEW, T3_CARRIED_IN)],
                                   [("T3", T3_TOTAL_ROW, col), ("T3", (T3_CARRIED_OUT,), col)])
        if sides and other:
            (a, b), (t, d) = [x.value or 0 for x in sides], [x.value or 0 for x in other]
            add("T3", "T3 一 + 二 = 三（七）+ 四",
                   f"{col}列：一 + 二 = {fmt(a)} + {fmt(b)} = {fmt(a + b)} ≠ 三（七）+ 四 = "
                   f"{fmt(t)} + {fmt(d)} = {fmt(t + d)}", sides, other, a + b, t + d)
    for path in rows:
        total, parts = index.sides([("T3", path, "总计")], [("T3", path, c) for c in APPLICANTS])
        if total and parts:
            values = [f.value or 0 for f in parts]
            add("T3", "T3 总计列 = 六类申请人之和",
                   f"{_short(path)} 行：总计列 {fmt(total[0].value)} ≠ 六类申请人之和 "
                   f"{'+'.join(fmt(v) for v in values)} = {fmt(sum(values))}",
                   total, parts, total[0].value or 0, sum(values))
    for block in T4_BLOCKS:
        total, parts = index.sides([("T4", block, t4_column(block, "总计"))],
                                   [("T4", block, t4_column(block, r)) for r in T4_RESULTS[:-1]])
        if total and parts:
            s = sum(f.value or 0 for f in parts)
            add("T4", "T4 总计 = 前四项之和",
                   f"{'·'.join(block)} 总计 {fmt(total[0].value)} ≠ 结果维持、结果纠正、其他结果、尚未审结之和 {fmt(s)}",
                   total, parts, total[0].value or 0, s)
    if coverage is not None:
        coverage.checked = evaluated
        coverage.skipped = index.skipped
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


TABLE_NAMES = {"T2": "表二", "T3": "表三", "T4": "表四"}
_TABLE_SECTIONS = {"T2": "二", "T3": "三", "T4": "四"}


def blank_totals(facts: Sequence[Fact]) -> list[str]:
    """Rows (T3) and blocks (T4) whose 总计 is blank although other cells of theirs hold figures."""
    rows: dict[tuple[str, tuple[str, ...]], list[Fact]] = {}
    for f in facts:
        if f.table in ("T3", "T4"):
            rows.setdefault((f.table, f.row_path), []).append(f)
    found: list[str] = []
    for (table, path), cells in rows.items():
        total = [f for f in cells if f.column == "总计" or f.column.endswith("·总计")]
        if total and all(f.value is None for f in total) and any(f.value is not None for f in cells):
            found.append(_short(path) if table == "T3" else "·".join(path))
    return found


def table_checks(report: Report, facts: Sequence[Fact], warnings: Sequence[ParseWarning] = ()
                 ) -> tuple[list[TableCheck], list[Violation]]:
    """For each statutory table of a report: how far its identities could be checked (and why not), and the
    broken identities. warnings are the fact warnings, when not already among the report's own."""
    coverage = Coverage({}, {})
    violations = check_facts(report.meta.title, facts, coverage)
    codes_by_section: dict[str | None, set[str]] = {}
    for w in (*report.warnings, *warnings):
        codes_by_section.setdefault(w.section, set()).add(w.code)
    meta = report.meta
    out: list[TableCheck] = []
    for table, name in TABLE_NAMES.items():
        own = [f for f in facts if f.table == table]
        codes = codes_by_section.get(_TABLE_SECTIONS[table], set())
        checked, skipped = coverage.checked.get(table, 0), coverage.skipped.get(table, 0)
        failed = sum(v.table == table for v in violations)
        blanks = blank_totals(own)
        unfilled = f"“总计”未填写的有 {len(blanks)} 行（{'、'.join(blanks[:6])}{'等' if len(blanks) > 6 else ''}）" if blanks else ""
        if not own:
            status, message = (
                ("lost", f"{name}在文本中单元格连在一起，无法读取，未核对") if "table_unreadable" in codes else
                ("unconfirmed", f"{name}的列无法确认（各行之和与总计对不上），只作为文本保留，未核对")
                if "table_unconfirmed" in codes else ("missing", f"未找到{name}，未核对"))
        elif table == "T2":
            status, message = "no_identity", f"{name}读取了 {len(own)} 个单元格（模板没有为{name}规定勾稽关系）"
        elif failed:
            status = "violations"
            message = f"{name}核对了 {checked} 条勾稽关系，{failed} 条不符" + (f"；{unfilled}" if unfilled else "")
        elif blanks or (skipped and not checked):
            status = "not_filled"
            message = (f"{name}{unfilled or '有空白单元格'}；空白不按 0 计，{skipped} 条勾稽关系因此无法核对"
                       + (f"，其余 {checked} 条均相符" if checked else ""))
        else:
            status = "checked"
            message = f"{name}核对了 {checked} 条勾稽关系，全部相符" + (f"（{skipped} 条因空白单元格未核对）" if skipped else "")
        out.append(TableCheck(report.report_id, meta.title, meta.agency, meta.year, table, status, message,
                              len(own), checked, failed, skipped, tuple(blanks)))
    return out, violations


def check_reports(reports: Sequence[Report], facts: Sequence[Fact]) -> tuple[list[TableCheck], list[Violation]]:
    """table_checks for every report, with its own facts."""
    by_report: dict[str, list[Fact]] = {}
    for f in facts:
        by_report.setdefault(f.report_id, []).append(f)
    checks: list[TableCheck] = []
    violations: list[Violation] = []
    for report in reports:
        found, broken = table_checks(report, by_report.get(report.report_id, []))
        checks += found
        violations += broken
    return checks, violations
