"""The Python API: `Assistant.open(index_dir)` with `search`, `ask` and the structured records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from assistant.answer.dispatch import dispatch
from assistant.answer.extractive import not_found
from assistant.answer.from_text import hits_for
from assistant.answer.llm import llm_answer
from assistant.config import Settings
from assistant.records import (
    Answer,
    Commitment,
    Discrepancy,
    Fact,
    Hit,
    Report,
    ReportMeta,
    TableCheck,
    Violation,
)
from assistant.search.retriever import Filters, Retriever
from assistant.understand.query import Query, understand
from assistant.understand.scope import Corpus, reports_of, resolve_agency

# intents whose extractive answer an LLM may rewrite (never table, check or commitment answers)
_LLM_INTENTS = ("general", "list", "quantity", "date", "doc_number")


class Assistant:
    """Search and answers over one built index."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self._corpus = Corpus(retriever.metas)  # the metadata with its agencies and years indexed once
        self.settings = retriever.settings

    @classmethod
    def open(cls, index_dir: str | Path | None = None, settings: Settings | None = None) -> Assistant:
        settings = settings or Settings()
        directory = Path(index_dir) if index_dir is not None else settings.index_dir
        return cls(Retriever.open(directory, replace(settings, index_dir=directory)))

    @property
    def build_id(self) -> str:
        """Name of the build this assistant serves (changes when a rebuild is switched in)."""
        return self.retriever.build_dir.name

    @property
    def corpus(self) -> Mapping[str, ReportMeta]:
        """Every report's metadata by report id (read at open; no report is decoded)."""
        return self._corpus

    def reports(self, agency: str | None = None, year: int | None = None) -> list[Report]:
        """The reports of an agency and year (all when both are None), decoded on demand, by agency and year."""
        ids = self._ids(agency, year) if agency or year else list(self.retriever.metas)
        found = [self.retriever.reports[rid] for rid in ids]
        return sorted(found, key=lambda r: (r.meta.agency, r.meta.year or 0))

    def report(self, report_id: str) -> Report:
        """One report, decoded on demand (KeyError when the index has no such report)."""
        return self.retriever.reports[report_id]

    def _ids(self, agency: str | None, year: int | None) -> list[str]:
        """Reports of an agency (any short form a question would use: 青禾县) and year."""
        canonical = resolve_agency(agency, self.corpus) if agency else None
        if agency and canonical is None:
            return []
        return reports_of(self.corpus, canonical, (year,) if year else ())

    def understand(self, question: str, history: Sequence[Answer] | None = None,
                   filters: Filters | None = None) -> Query:
        """The one reading of a question: text, scope, intent, cells, cues."""
        return understand(question, history, filters, self.corpus, self.settings.max_query_chars)

    def search(
        self, query: str, k: int = 5, year: int | None = None, agency: str | None = None,
        section: str | None = None, mode: str = "hybrid",
    ) -> list[Hit]:
        """Passages for a query; the agency and years it names narrow the search unless filters are given."""
        explicit = Filters(years=(year,) if year else (), agency=agency, section=section)
        read = self.understand(query, None, explicit)
        filters = Filters(years=read.scope.years, section=section, report_ids=read.scope.report_ids)
        if not read.scope.report_ids:
            return []
        return self.retriever.search(read.text, k=k, filters=filters, mode=mode)

    # --- tables ------------------------------------------------------------------------------

    def facts(self, agency: str | None = None, year: int | None = None, table: str | None = None) -> list[Fact]:
        """Table facts, filtered; agency accepts the short forms a question would use (青禾县)."""
        facts = self.retriever.facts_of(self._ids(agency, year))
        return [f for f in facts if table is None or f.table == table]

    # --- what the build analysed and stored (index/analysis.py): read, never recomputed ---------

    def _scoped(self, agency: str | None, year: int | None) -> list[str] | None:
        """Report ids of an agency and year, or None for the whole corpus (no filter)."""
        return None if agency is None and year is None else self._ids(agency, year)

    def violations(self, agency: str | None = None, year: int | None = None) -> list[Violation]:
        """Every broken template identity, report by report."""
        return self.retriever.store.violations(self._scoped(agency, year))

    def table_checks(self, agency: str | None = None, year: int | None = None) -> list[TableCheck]:
        """How far each report's T2/T3/T4 could be checked, and why not (lost, not filled in, unconfirmed, missing)."""
        return self.retriever.store.table_checks(self._scoped(agency, year))

    def cross_checks(self, agency: str | None = None, year: int | None = None) -> list[Discrepancy]:
        """Figures a report states twice that disagree: prose against its own tables (counts, shares, "均获维持"
        beside pending cases), and 上年结转 against the previous year's 结转下年度继续办理 of the same agency."""
        return self.retriever.store.discrepancies(self._scoped(agency, year))

    def commitments(self, agency: str | None = None, year: int | None = None) -> list[Commitment]:
        """Section-五 commitments (with their follow-up in the next year's report) and problems of the matching
        reports: commitments first."""
        return self.retriever.store.commitments(self._scoped(agency, year))

    # --- ask ---------------------------------------------------------------------------------

    def ask(
        self, question: str, history: Sequence[Answer] | None = None, filters: Filters | None = None
    ) -> Answer:
        """A short cited answer, or an honest not-found with related passages."""
        query = self.understand(question, history, filters)
        scope = query.scope
        if scope.problem and query.intent != "out_of_scope":
            related = self.retriever.search(query.text, k=3)
            answer = not_found(query.question, scope.problem, related)
        else:
            answer = dispatch(query, self.retriever)
            if answer.found and query.intent in _LLM_INTENTS and answer.path == "extractive":
                answer = llm_answer(query.text, hits_for(query, self.retriever), self.settings, answer)
        if scope.conflict:
            answer = replace(answer, text=f"（{scope.conflict}）\n{answer.text}")
        used: dict[str, object] = {"agency": scope.agency, "years": list(scope.years)}
        if answer.path == "commitments" and answer.filters:
            used = {**answer.filters, **{k: v for k, v in used.items() if v}}
        return replace(answer, question=query.question, filters=used, intent=query.intent,
                       understanding=query.as_dict())
