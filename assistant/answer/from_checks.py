"""Consistency answers: the template identities of the reports in scope, with the numbers on both sides, as the
build checked and stored them (index/analysis.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from assistant.analyse.checks import check_facts
from assistant.answer.citations import of_cell, of_passage
from assistant.answer.from_tables import TABLE_NAMES, table_lost
from assistant.records import Answer, Citation, Discrepancy, Fact, Report, Violation
from assistant.search.retriever import Retriever
from assistant.understand.query import Query

MAX_REPORTS = 6
SHOWN_HELD = 3  # identities that hold shown per table, with their numbers (the 总计 column's first)


def _held_lines(report: Report, facts: Sequence[Fact], tables: Sequence[str], lines: list[str],
                citations: list[Citation]) -> None:
    """The identities that hold, with both sides' numbers and their cells cited: the 总计 column's and row's
    identities first, then how many were checked in all."""
    held: list[Violation] = []
    check_facts(report.meta.title, facts, held=held)
    for table in tables:
        own = [v for v in held if v.table == table]
        own.sort(key=lambda v: not all(c.column == "总计" for c in v.cells))  # stable: the build's order otherwise
        for v in own[:SHOWN_HELD]:
            marks = ""
            for fact in v.cells[:8]:
                citations.append(of_cell(len(citations) + 1, report, fact))
                marks += f"[{len(citations)}]"
            lines.append(f"- {TABLE_NAMES[table]}：（计算：{v.description}）{marks}")
        if len(own) > SHOWN_HELD:
            lines.append(f"- {TABLE_NAMES[table]}：（计算：共核对{len(own)}条等式，均成立）")


def _cross_lines(found: Sequence[Discrepancy], report: Report, reports: Mapping[str, Report], lines: list[str],
                 citations: list[Citation]) -> None:
    """Figures the report states twice that disagree (prose vs table, last year's 结转 vs this year's); a cell of
    last year's report is cited to that report."""
    passages = {p.passage_id: p for p in report.passages}
    for d in found:
        marks = ""
        stated = passages.get(d.passage_id or "")
        if stated is not None:  # the prose figure, cited to its clause
            citations.append(of_passage(len(citations) + 1, report.meta, stated, d.quote))
            marks += f"[{len(citations)}]"
        for fact in d.cells[:4]:
            owner = report if fact.report_id == report.report_id else reports.get(fact.report_id)
            if owner is not None:
                citations.append(of_cell(len(citations) + 1, owner, fact))
                marks += f"[{len(citations)}]"
        lines.append(f"- 正文与表格：（计算：{d.description}）{marks}")


def consistency(query: Query, index: Retriever) -> Answer | None:
    """Which identities of T3/T4 hold or break, report by report (only reports whose tables were read)."""
    ids = [r for r in query.scope.report_ids if r in index.reports][:MAX_REPORTS]
    tables = sorted(({c.table for c in query.cells} | set(query.slot_values("table"))) - {"T2"}) or ["T3", "T4"]
    store = index.store
    all_checks, all_broken, all_cross = store.table_checks(ids), store.violations(ids), store.discrepancies(ids)
    lines: list[str] = []
    citations: list[Citation] = []
    checked = 0
    for report in (index.reports[r] for r in ids):
        facts = [f for f in index.facts_of([report.report_id]) if f.table in tables]
        readable = [t for t in tables if not table_lost(report, t, facts)]
        if not readable:
            continue
        checked += 1
        cross = [d for d in all_cross if d.report_id == report.report_id]
        broken = [v for v in all_broken if v.report_id == report.report_id and v.table in readable]
        unfilled = [c for c in all_checks if c.report_id == report.report_id and c.table in readable
                    and c.status in ("not_filled", "unconfirmed")]
        for check in unfilled:  # never call a table consistent whose totals are blank or whose columns are unsure
            lines.append(f"《{report.meta.title}》{TABLE_NAMES[check.table]}：{check.message}")
        readable = [t for t in readable if t not in {c.table for c in unfilled}]
        names = "、".join(TABLE_NAMES[t] for t in readable)
        if not readable:
            _cross_lines(cross, report, index.reports, lines, citations)
            continue
        if not broken:
            lines.append(f"《{report.meta.title}》{names}的勾稽关系都对得上：")
            _held_lines(report, [f for f in facts if f.table in readable], readable, lines, citations)
            _cross_lines(cross, report, index.reports, lines, citations)
            continue
        lines.append(f"《{report.meta.title}》{names}有以下几处对不上：")
        for v in broken:
            marks = ""
            for fact in v.cells[:8]:
                citations.append(of_cell(len(citations) + 1, report, fact))
                marks += f"[{len(citations)}]"
            lines.append(f"- {TABLE_NAMES[v.table]}：（计算：{v.description}）{marks}")
        _cross_lines(cross, report, index.reports, lines, citations)
    if not checked:
        return None
    return Answer(question=query.question, found=True, text="\n".join(lines), citations=tuple(citations),
                  path="checks")
