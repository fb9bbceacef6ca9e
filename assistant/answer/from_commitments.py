"""Chat answers about section 五: which commitments or problems a question names, cited, with follow-up (the
commitments and their follow-up are looked up where the build stored them, index/analysis.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from assistant.analyse.commitments import NO_REPORT, UNREPORTED, Part, coverage, key_terms
from assistant.answer.citations import of_report_span
from assistant.records import Answer, Citation, Commitment, Report, ReportMeta
from assistant.search.retriever import Retriever
from assistant.understand.query import Query

_QUESTION_WORDS = frozenset({"承诺", "落实", "完成", "措施", "改进", "整改", "年报", "提出", "打算", "下一步",
                             "问题", "主要", "存在", "哪些", "指出", "年内"})
_MODES = {"commitments": "commitment", "follow_up": "follow_up", "problems": "problem"}
FOCUS_MIN = 0.3  # a question naming one commitment this well (and twice as well as the next) gets only it


def _select(query: Query, commitments: Sequence[Commitment], agencies: Collection[str],
            mode: str) -> list[Commitment]:
    """The commitments (or problems) of the query's agencies and years, or of each agency's latest year."""
    pool = [c for c in commitments if c.kind == ("problem" if mode == "problem" else "commitment")]
    pool = [c for c in pool if c.agency in agencies]
    years = query.scope.years
    if years:
        made = [c for c in pool if c.year in years]
        pool = [c for c in made if c.target_year in years] or made or [c for c in pool if c.target_year in years]
    else:
        latest: dict[str, int] = {}
        for c in pool:
            if c.year and (mode != "follow_up" or c.status not in (None, NO_REPORT)):  # judged against a next report
                latest[c.agency] = max(latest.get(c.agency, c.year), c.year)
        pool = [c for c in pool if latest.get(c.agency, c.year) == c.year]
    ignored = _QUESTION_WORDS | set(query.ignore_terms)
    weights = {t: w for t, w in key_terms(query.text).items() if len(t) > 1 and t not in ignored}
    fits = sorted(((coverage(weights, c.text), i) for i, c in enumerate(pool)), reverse=True)
    if fits and fits[0][0] >= FOCUS_MIN and (len(fits) == 1 or fits[1][0] * 2 <= fits[0][0]):
        return [pool[fits[0][1]]]
    return pool


def _quotes(commitment: Commitment, reports: Mapping[str, Report]) -> list[tuple[Report, Part]]:
    """The spans of the next year's report that the follow-up judged the commitment by (stored with it)."""
    later = reports.get(commitment.evidence[0].report_id) if commitment.evidence and commitment.quotes else None
    if later is None:
        return []
    return [(later, Part("", start, end, later.cleaned_text[start:end])) for start, end in commitment.quotes]


def commitments_answer(query: Query, commitments: Sequence[Commitment], reports: Mapping[str, Report],
                       metas: Mapping[str, ReportMeta] | None = None) -> Answer | None:
    """A cited answer listing commitments (or problems), with their status when asked (follow-up questions need
    judged commitments); None if off-topic. metas spares reading the reports in scope for their agencies."""
    mode = _MODES.get(query.intent)
    scope = [r for r in query.scope.report_ids if r in (reports if metas is None else metas)]
    agencies = {(reports[r].meta if metas is None else metas[r]).agency for r in scope}
    chosen = _select(query, commitments, agencies, mode) if mode else []
    if not mode or not chosen:
        return None
    lines: list[str] = []
    citations: list[Citation] = []
    for report_id in dict.fromkeys(c.report_id for c in chosen):
        report, items = reports[report_id], [c for c in chosen if c.report_id == report_id]
        what = {"problem": "主要问题", "commitment": "改进措施", "follow_up": "改进措施及其落实情况"}[mode]
        lines.append(f"据《{report.meta.title}》" + (f"，报告提出的{what}：" if len(items) > 1 else "："))
        for c in items:
            citations.append(of_report_span(len(citations) + 1, report, c.start, c.end))
            if mode != "follow_up":
                lines.append(f"{c.index}. {c.text}[{len(citations)}]")
                continue
            line = f"{c.index}. {c.title}[{len(citations)}]：{c.status or '未核对'}"
            if c.status == NO_REPORT:
                line += f"（已收录的报告中没有{c.agency}{(c.year or 0) + 1}年度的报告，无法判断）"
            for later, seg in _quotes(c, reports):
                citations.append(of_report_span(len(citations) + 1, later, seg.start, seg.end))
                quote = seg.text if len(seg.text) <= 160 else seg.text[:160] + "…"
                label = "最接近的内容" if c.status == UNREPORTED else f"{later.meta.year}年度报告"
                line += f"；{label}：“{quote}”[{len(citations)}]"
            lines.append(line)
    named = sorted({c.agency for c in chosen})
    filters: dict[str, object] = {"agency": named[0] if len(named) == 1 else None,
                                  "years": sorted({c.year for c in chosen if c.year is not None})}
    return Answer(question=query.question, found=True, text="\n".join(lines), citations=tuple(citations),
                  path="commitments", filters=filters)


def answer(query: Query, index: Retriever) -> Answer | None:
    """Route answerer: look up, select and cite the stored commitments (or problems) asked about, with their
    follow-up for 落实 questions."""
    mode = _MODES.get(query.intent)
    if mode is None:
        return None
    ids = [r for r in query.scope.report_ids if r in index.metas]
    if mode == "follow_up":  # the commitment may sit in the year before the one asked about
        agencies, asked = {index.metas[r].agency for r in ids}, set(ids)
        ids += [r for r, meta in index.metas.items() if meta.agency in agencies and r not in asked]
    order = {r: i for i, r in enumerate(ids)}  # the reports asked about first
    pool = sorted(index.store.commitments(ids), key=lambda c: order[c.report_id])
    return commitments_answer(query, pool, index.reports, index.metas)
