"""Answers from table facts: a cell with its citation, year-on-year changes, a row across years."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.analyse.checks import FactQuery, format_number, match_fact_question, query_facts, sum_facts
from assistant.answer.extractive import not_found
from assistant.records import Answer, Citation, Fact, Report
from assistant.search.retriever import Retriever

_COMPARE = re.compile(r"比|相比|变化|增加|减少|多了|少了|增长|下降|同比|对比")
_PERCENT = re.compile(r"百分|%|比例|幅度|增长率|增幅|降幅")
COMPUTED = "计算"  # label of numbers derived from cited cells (difference, percentage)


def _row_label(query: FactQuery) -> str:
    return " › ".join(query.row_path)


def _cell_value(query: FactQuery, facts: Sequence[Fact]) -> tuple[float | None, list[Fact]]:
    cells = query_facts(query, facts)
    if not cells:
        return None, []
    if query.aggregate and not (len(cells) == 1 and cells[0].row_path == query.row_path):
        return sum_facts(cells), cells  # a block of rows (2021 （六）其他处理 has three; 2019 one)
    return cells[0].value, cells[:1]


def _citations(retriever: Retriever, report: Report, cells: Sequence[Fact], start_n: int) -> list[Citation]:
    by_id = {p.passage_id: p for p in report.passages}
    citations = []
    for n, fact in enumerate(cells, start_n):
        passage = by_id.get(fact.passage_id or "")
        meta = report.meta
        citations.append(Citation(
            n=n, passage_id=fact.passage_id or fact.table_id, report_title=meta.title, agency=meta.agency,
            year=meta.year, section=passage.section if passage else "三", text=passage.text if passage else fact.raw,
            start=passage.start if passage else 0, end=passage.end if passage else 0,
            source_file=meta.source_file, source_url=meta.source_url,
            quote=f"{fact.column}：{fact.raw}", table=fact.table, row=" › ".join(fact.row_path), column=fact.column,
        ))
    return citations


def _value_text(value: float | None, cells: Sequence[Fact]) -> str:
    if value is None:
        return "（表中该格为空）"
    return f"{format_number(value)}{cells[0].unit}"


def _missing_table(report: Report, table: str) -> bool:
    return any(w.code == "facts_missing" and table in w.message for w in report.warnings)


def answer_from_facts(
    question: str, retriever: Retriever, reports: Sequence[Report], facts: Sequence[Fact]
) -> Answer | None:
    """An answer from the statutory tables of these reports (one agency), or None if not a table question.

    Returns None as well when a report's table is missing, so that the prose can still answer.
    """
    if not reports:
        return None
    query = match_fact_question(question, facts)
    if query is None:
        return None
    ordered = sorted(reports, key=lambda r: r.meta.year or 0)
    if any(_missing_table(r, query.table) for r in ordered):
        return None
    per_report = []
    for report in ordered:
        own = [f for f in facts if f.report_id == report.report_id]
        value, cells = _cell_value(query, own)
        if not cells:
            return not_found(question, f"《{report.meta.title}》表{query.table}中“{_row_label(query)} · "
                                       f"{query.column}”这一项的数据（该报告的表格没有这一项）。")
        per_report.append((report, value, cells))
    citations: list[Citation] = []
    lines = []
    for report, value, cells in per_report:
        first = len(citations) + 1
        citations += _citations(retriever, report, cells, first)
        marks = "".join(f"[{n}]" for n in range(first, len(citations) + 1))
        if len(cells) > 1:  # the sum is derived: show the cells and label the sum as computed
            parts = "；".join(f"{f.row_path[-1]} {format_number(f.value)}" for f in cells)
            lines.append(f"{report.meta.title}：表{query.table} {_row_label(query)} · {query.column}，"
                         f"各项为 {parts}{marks}（{COMPUTED}：合计 {_value_text(value, cells)}）")
        else:
            lines.append(f"{report.meta.title}：表{query.table} {_row_label(query)} · {query.column}"
                         f"为 {_value_text(value, cells)}{marks}")
    text = "\n".join(lines)
    if len(per_report) >= 2 and _COMPARE.search(question):
        (_, earlier, cells), (_, later, _) = per_report[0], per_report[-1]
        if earlier is not None and later is not None:
            diff = later - earlier
            change = "持平" if diff == 0 else f"{'增加' if diff > 0 else '减少'}{format_number(abs(diff))}{cells[0].unit}"
            if _PERCENT.search(question) and earlier:
                change += f"，{diff / earlier * 100:+.1f}%"
            text += f"\n（{COMPUTED}：{per_report[-1][0].meta.year}年比{per_report[0][0].meta.year}年{change}）"
    return Answer(question=question, found=True, text=text, citations=tuple(citations), path="facts")
