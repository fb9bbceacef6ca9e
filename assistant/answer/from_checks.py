"""Consistency answers: the template identities of the reports in scope, with the numbers on both sides."""

from __future__ import annotations

from assistant.analyse.checks import check_facts
from assistant.answer.from_tables import TABLE_NAMES, _citation, table_lost
from assistant.records import Answer, Citation
from assistant.search.retriever import Retriever
from assistant.understand.query import Query

MAX_REPORTS = 6


def consistency(query: Query, index: Retriever) -> Answer | None:
    """Which identities of T3/T4 hold or break, report by report (only reports whose tables were read)."""
    reports = [index.reports[r] for r in query.scope.report_ids if r in index.reports]
    tables = sorted({c.table for c in query.cells} - {"T2"}) or ["T3", "T4"]
    lines: list[str] = []
    citations: list[Citation] = []
    checked = 0
    for report in reports[:MAX_REPORTS]:
        facts = [f for f in index.facts if f.report_id == report.report_id and f.table in tables]
        readable = [t for t in tables if not table_lost(report, t, facts)]
        if not readable:
            continue
        checked += 1
        broken = [v for v in check_facts(report.meta.title, facts) if v.table in readable]
        names = "、".join(TABLE_NAMES[t] for t in readable)
        if not broken:
            lines.append(f"《{report.meta.title}》{names}的勾稽关系都对得上。")
            continue
        lines.append(f"《{report.meta.title}》{names}有以下几处对不上：")
        for v in broken:
            marks = ""
            for fact in v.cells[:8]:
                citations.append(_citation(len(citations) + 1, report, fact))
                marks += f"[{len(citations)}]"
            lines.append(f"- {TABLE_NAMES[v.table]}：（计算：{v.description}）{marks}")
    if not checked:
        return None
    return Answer(question=query.question, found=True, text="\n".join(lines), citations=tuple(citations),
                  path="checks")
