"""The Python API: `Assistant.open(index_dir)` with `search`, `ask` and the structured records."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from assistant.analyse.checks import check_facts, check_reports
from assistant.analyse.commitments import extract_commitments, follow_up
from assistant.analyse.crosschecks import cross_checks
from assistant.answer.evidence import content_weights
from assistant.answer.extractive import extract_answer, not_found
from assistant.answer.from_commitments import ask_commitments
from assistant.answer.from_tables import answer_from_facts
from assistant.answer.llm import llm_answer
from assistant.config import Settings
from assistant.records import Answer, Commitment, Discrepancy, Fact, Hit, Report, TableCheck, Violation
from assistant.search.retriever import Filters, Retriever
from assistant.understand.query import QueryIntent, agency_aliases, validate

ASK_HITS = 8
_REFERS_BACK = re.compile(r"^(?:这|那|该|它|其|此|上述)")
_PLAN = re.compile(r"打算|计划|将要|准备|下一步|承诺|目标|力争|拟")
_YEAR_TEXT = re.compile(r"(?:19|20)\d{2}\s*年?|[〇零○一二三四五六七八九]{4}年")


class Assistant:
    """Search and answers over one built index."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.settings = retriever.settings
        self._commitments: dict[tuple[str | None, int | None], list[Commitment]] = {}
        self._cross: list[Discrepancy] | None = None

    @classmethod
    def open(cls, index_dir: str | Path | None = None, settings: Settings | None = None) -> Assistant:
        settings = settings or Settings()
        directory = Path(index_dir) if index_dir is not None else settings.index_dir
        return cls(Retriever.open(directory, replace(settings, index_dir=directory)))

    @property
    def build_id(self) -> str:
        """Name of the build this assistant serves (changes when a rebuild is switched in)."""
        return self.retriever.build_dir.name

    def reports(self) -> list[Report]:
        return sorted(self.retriever.reports.values(), key=lambda r: (r.meta.agency, r.meta.year or 0))

    def search(
        self, query: str, k: int = 5, year: int | None = None, agency: str | None = None,
        section: str | None = None, mode: str = "hybrid",
    ) -> list[Hit]:
        filters = Filters(years=(year,) if year else (), agency=agency, section=section)
        return self.retriever.search(query, k=k, filters=filters, mode=mode)

    # --- tables ------------------------------------------------------------------------------

    def facts(self, agency: str | None = None, year: int | None = None, table: str | None = None) -> list[Fact]:
        """Table facts, filtered; agency accepts the short forms a question would use (青禾县)."""
        chosen = Filters(years=(year,) if year else (), agency=agency)
        ids = {r.report_id for r in self.retriever.reports.values() if Retriever.report_matches(r, chosen)}
        return [f for f in self.retriever.facts
                if f.report_id in ids and (table is None or f.table == table)]

    def violations(self) -> list[Violation]:
        """Every broken template identity, report by report."""
        found: list[Violation] = []
        for report in self.reports():
            own = [f for f in self.retriever.facts if f.report_id == report.report_id]
            found += check_facts(report.meta.title, own)
        return found

    def table_checks(self, agency: str | None = None, year: int | None = None) -> list[TableCheck]:
        """How far each report's T2/T3/T4 could be checked, and why not (lost, not filled in, unconfirmed, missing)."""
        ids = self._report_ids(agency, year)
        return check_reports([r for r in self.reports() if r.report_id in ids], self.retriever.facts)[0]

    def cross_checks(self, agency: str | None = None, year: int | None = None) -> list[Discrepancy]:
        """Figures a report states twice that disagree: prose against its own tables (counts, shares, "均获维持"
        beside pending cases), and 上年结转 against the previous year's 结转下年度继续办理 of the same agency."""
        if self._cross is None:  # the index does not change under an opened Assistant
            self._cross = cross_checks(self.reports(), self.retriever.facts)
        ids = self._report_ids(agency, year)
        return [d for d in self._cross if d.report_id in ids]

    def _report_ids(self, agency: str | None, year: int | None) -> set[str]:
        chosen = Filters(years=(year,) if year else (), agency=agency)
        return {r.report_id for r in self.retriever.reports.values() if Retriever.report_matches(r, chosen)}

    def commitments(self, agency: str | None = None, year: int | None = None) -> list[Commitment]:
        """Section-五 commitments and problems of the matching reports; commitments with their follow-up."""
        key = (agency, year)
        if key not in self._commitments:  # the index does not change under an opened Assistant
            chosen = Filters(years=(year,) if year else (), agency=agency)
            found = [c for r in self.reports() if Retriever.report_matches(r, chosen)
                     for c in extract_commitments(r)]
            promised = follow_up([c for c in found if c.kind == "commitment"], self.retriever)
            self._commitments[key] = promised + [c for c in found if c.kind == "problem"]
        return list(self._commitments[key])

    # --- ask ---------------------------------------------------------------------------------

    def _intent(self, question: str, history: Sequence[Answer] | None) -> tuple[QueryIntent, str]:
        """The question's intent, with agency and year inherited from the previous turn when absent."""
        intent = self.retriever.understand(question)
        if not history:
            return intent, intent.text
        previous = history[-1]
        agency = intent.agency or _str_or_none(previous.filters.get("agency"))
        years = intent.years or tuple(int(y) for y in _as_list(previous.filters.get("years")))
        text = intent.text
        own_words = content_weights(_YEAR_TEXT.sub("", text), list(agency_aliases(agency)) if agency else [])
        refers_back = _REFERS_BACK.match(text) is not None  # "这个电话是哪个部门的？"
        if refers_back or sum(own_words.values()) < 4:  # "那2021年呢？": the topic comes from the previous turn
            text = _YEAR_TEXT.sub("", previous.question) + " " + text
        return replace(intent, agency=agency, years=years), text

    def _plans_for(self, intent: QueryIntent) -> QueryIntent:
        """"…2023年打算…": plans for year N are in the report of year N-1."""
        if not _PLAN.search(intent.text):
            return intent
        covered = self.retriever.years_of(intent.agency)
        years = tuple(y - 1 if y not in covered and y - 1 in covered else y for y in intent.years)
        return replace(intent, years=years)

    def _coverage_problem(self, intent: QueryIntent) -> str | None:
        """Why the corpus cannot answer for the agency/year asked, or None."""
        known = self.retriever.agencies
        if intent.unknown_agency and not intent.agency:
            return (f"{intent.unknown_agency}的报告。已收录的机关有：{'、'.join(known)}。")
        covered = self.retriever.years_of(intent.agency)
        missing = [y for y in intent.years if y not in covered]
        if intent.years and len(missing) == len(intent.years):
            who = intent.agency or "任何机关"
            years = "、".join(str(y) for y in covered)
            return f"{who}{'、'.join(str(y) for y in missing)}年度的报告。已收录的年度：{years}。"
        return None

    def ask(
        self, question: str, history: Sequence[Answer] | None = None, filters: Filters | None = None
    ) -> Answer:
        """A short cited answer, or an honest not-found with related passages."""
        validate(question, self.settings.max_query_chars)
        intent, query_text = self._intent(question, history)
        intent = self._plans_for(intent)
        chosen = self.retriever.filters_for(intent, filters)
        used: dict[str, object] = {"agency": chosen.agency, "years": list(chosen.years)}
        if not (filters and (filters.agency or filters.years)):
            problem = self._coverage_problem(intent)
            if problem:
                related = self.retriever.search(query_text, k=3)
                return replace(not_found(question, problem, related), filters=used)
        fact_answer = self._fact_answer(query_text, chosen)
        if fact_answer is not None:
            return replace(fact_answer, question=question, filters=used)
        commitment_answer = ask_commitments(query_text, self.retriever)
        if commitment_answer is not None:
            return replace(commitment_answer, question=question)
        hits = self.retriever.search(query_text, k=ASK_HITS, filters=chosen)
        ignore = sorted(agency_aliases(chosen.agency)) if chosen.agency else []
        multi = chosen.agency is None and len(self.retriever.agencies) > 1
        answer = extract_answer(query_text, hits, ignore_terms=ignore, multi_report=multi)
        answer = llm_answer(query_text, hits, self.settings, answer)
        return replace(answer, question=question, filters=used)

    def _fact_answer(self, query_text: str, chosen: Filters) -> Answer | None:
        """From the statutory tables, when the question names one agency's table quantity."""
        if not chosen.agency:
            return None
        reports = [r for r in self.retriever.reports.values()
                   if Retriever.report_matches(r, chosen)]
        if not reports:
            return None
        ids = {r.report_id for r in reports}
        facts = [f for f in self.retriever.facts if f.report_id in ids]
        return answer_from_facts(query_text, self.retriever, reports, facts)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _as_list(value: object) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list | tuple) else []
