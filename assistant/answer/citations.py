"""The one citation builder: numbered citations of passages, hit sentences, report spans and table cells."""

from __future__ import annotations

from dataclasses import replace

from assistant.analyse.facts import TABLE_SECTIONS
from assistant.answer.evidence import Span
from assistant.records import Citation, Fact, Hit, Passage, Report, ReportMeta


def of_passage(n: int, meta: ReportMeta, passage: Passage, quote: str | None = None) -> Citation:
    """A passage of a report, with the sentence or clause of it that the answer relies on."""
    return Citation(n=n, passage_id=passage.passage_id, report_title=meta.title, agency=meta.agency,
                    year=meta.year, section=passage.section, text=passage.text, start=passage.start,
                    end=passage.end, source_file=meta.source_file, source_url=meta.source_url, quote=quote)


def of_hit(n: int, hit: Hit, quote: str | None = None) -> Citation:
    """A retrieved passage, with the sentence of it that the answer relies on."""
    return Citation(n=n, passage_id=hit.passage_id, report_title=hit.report_title, agency=hit.agency,
                    year=hit.year, section=hit.section, text=hit.text, start=hit.start, end=hit.end,
                    source_file=hit.source_file, source_url=hit.source_url, quote=quote)


def of_span(n: int, span: Span) -> Citation:
    """A sentence (or numbered item) of a retrieved passage: the passage, quoting the sentence."""
    return of_hit(n, span.hit, span.text)


def passage_at(report: Report, start: int, end: int | None = None) -> Passage | None:
    """The passage holding offset start of the report's cleaned text (else the first one the span overlaps)."""
    stop = start + 1 if end is None else max(end, start + 1)
    overlapping = [p for p in report.passages if p.start < stop and start < p.end]
    return next((p for p in overlapping if p.start <= start < p.end), overlapping[0] if overlapping else None)


def of_report_span(n: int, report: Report, start: int, end: int) -> Citation:
    """A span of the report's cleaned text (a commitment, an evidence sentence), cited by the passage its
    start falls in; text and quote are the span itself."""
    passage = passage_at(report, start, end) or (report.passages[0] if report.passages else None)
    meta, text = report.meta, report.cleaned_text[start:end]
    return Citation(n=n, passage_id=passage.passage_id if passage else report.report_id, report_title=meta.title,
                    agency=meta.agency, year=meta.year, section=passage.section if passage else "",
                    text=text, start=start, end=end, source_file=meta.source_file, source_url=meta.source_url,
                    quote=text)


def of_cell(n: int, report: Report, fact: Fact) -> Citation:
    """A table cell: the table row's passage (its rendering when none), quoting the column and raw value."""
    passage = next((p for p in report.passages if p.passage_id == fact.passage_id), None) \
        if fact.passage_id else None
    meta = report.meta
    return Citation(
        n=n, passage_id=fact.passage_id or fact.table_id, report_title=meta.title, agency=meta.agency,
        year=meta.year, section=passage.section if passage else TABLE_SECTIONS.get(fact.table, "三"),
        text=passage.text if passage else fact.raw, start=passage.start if passage else 0,
        end=passage.end if passage else 0, source_file=meta.source_file, source_url=meta.source_url,
        quote=f"{fact.column}：{fact.raw}", table=fact.table, row=" › ".join(fact.row_path), column=fact.column,
    )


class Citations:
    """The citations of one answer, numbered in order of first use; the same evidence keeps its number."""

    def __init__(self) -> None:
        self._items: list[Citation] = []
        self._numbers: dict[Citation, int] = {}

    def add(self, citation: Citation) -> str:
        """Number a citation (its own n is ignored) and return its marker "[n]"."""
        key = replace(citation, n=0)
        if key not in self._numbers:
            self._items.append(replace(citation, n=len(self._items) + 1))
            self._numbers[key] = len(self._items)
        return f"[{self._numbers[key]}]"

    def span(self, span: Span) -> str:
        return self.add(of_span(0, span))

    def hit(self, hit: Hit, quote: str | None = None) -> str:
        return self.add(of_hit(0, hit, quote))

    def passage(self, meta: ReportMeta, passage: Passage, quote: str | None = None) -> str:
        return self.add(of_passage(0, meta, passage, quote))

    def cell(self, report: Report, fact: Fact) -> str:
        return self.add(of_cell(0, report, fact))

    def cells(self, report: Report, facts: list[Fact] | tuple[Fact, ...]) -> str:
        """The markers of several cells, one after the other ("[1][2]")."""
        return "".join(self.cell(report, fact) for fact in facts)

    def __len__(self) -> int:
        return len(self._items)

    def all(self) -> tuple[Citation, ...]:
        return tuple(self._items)
