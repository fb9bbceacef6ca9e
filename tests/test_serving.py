"""Serving reads only what a question's scope needs: metadata at open, the reports and facts in scope on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.api import Assistant
from assistant.index.layout import live_build_dir
from assistant.index.store import LazyReports, Store
from assistant.web import ui_text as ui

# (question, the route it must take); each names an agency, so its scope is that agency's reports
SCOPED = [
    ("青禾县2021年被申请行政复议几件？其中纠正的几件？", "table_cell"),
    ("青禾县2022年新收申请比2021年多了多少？", "compare_years"),
    ("青禾县历年新收申请各是多少", "compare_years"),
    ("龙泉市政府信息公开的联系电话是多少？", "contact"),
    ("澜溪市2022年网站被攻击了几次", "quantity"),
    ("龙泉市2020年办理了多少件政府信息公开申请？", "table_cell"),
]


class Decodes:
    """Records every report the store decodes (the LRU cache is switched off, so each use is a decode)."""

    def __init__(self, assistant: Assistant) -> None:
        self.ids: list[str] = []
        store = assistant.retriever.store
        original = store.report_sized

        def recording(report_id: str):  # type: ignore[no-untyped-def]
            self.ids.append(report_id)
            return original(report_id)

        store.report_sized = recording  # type: ignore[method-assign]
        assistant.retriever.reports._cache_size = 0


@pytest.fixture()
def assistant(full_index: Path) -> Assistant:
    return Assistant.open(full_index)


def test_open_and_scope_resolution_decode_no_report(assistant: Assistant) -> None:
    decodes = Decodes(assistant)
    assert set(assistant.corpus) == set(assistant.retriever.metas) and len(assistant.corpus) == 6
    assistant.understand("青禾县2021年新收了多少件申请？")
    assistant.search("青禾县2021年新收了多少件申请？")
    assert decodes.ids == []


@pytest.mark.parametrize(("question", "intent"), SCOPED)
def test_asks_decode_only_reports_in_scope(assistant: Assistant, question: str, intent: str) -> None:
    decodes = Decodes(assistant)
    answer = assistant.ask(question)
    scope = answer.understanding["scope"]["report_ids"]  # type: ignore[index]
    assert answer.intent == intent and scope
    agency = answer.understanding["scope"]["agency"]  # type: ignore[index]
    same_agency = {rid for rid, m in assistant.corpus.items() if m.agency == agency}  # "历年" reads all its years
    assert set(decodes.ids) <= set(scope) | same_agency, (decodes.ids, scope)
    assert assistant.retriever._facts is None  # every fact of the index was never loaded


def test_question_without_agency_decodes_only_the_reports_it_cites(assistant: Assistant) -> None:
    decodes = Decodes(assistant)
    answer = assistant.ask("2022年行政复议有几件？")
    assert answer.found and len(answer.understanding["scope"]["report_ids"]) == 3  # type: ignore[index]
    cited = {rid for rid, m in assistant.corpus.items() if m.title in {c.report_title for c in answer.citations}}
    assert len(cited) == 3 and set(decodes.ids) == cited


def test_ranking_decodes_only_the_reports_quoted(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.answer import from_tables

    monkeypatch.setattr(from_tables, "MAX_REPORT_LINES", 1)
    decodes = Decodes(assistant)
    answer = assistant.ask("哪个机关2022年新收申请最多？")
    assert answer.intent == "rank_agencies" and answer.found
    assert "在3份可读取表格的报告中，澜溪市人民政府2022年最多" in answer.text
    assert len(decodes.ids) == 1 and {c.agency for c in answer.citations} == {"澜溪市人民政府"}


def test_asking_which_agency_and_out_of_scope_decode_nothing(assistant: Assistant,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.answer import from_tables

    monkeypatch.setattr(from_tables, "MAX_REPORT_LINES", 2)
    decodes = Decodes(assistant)
    assert assistant.ask("2022年行政复议有几件？").path == "clarify"
    assert assistant.ask("今天天气怎么样").path == "out_of_scope"
    assert decodes.ids == []


def test_filtered_reports_and_facts_read_only_that_agency(assistant: Assistant) -> None:
    decodes = Decodes(assistant)
    reports = assistant.reports(agency="青禾县")
    assert [r.meta.year for r in reports] == [2021, 2022]
    assert set(decodes.ids) == {r.report_id for r in reports}
    facts = assistant.facts(agency="青禾县", table="T4")
    assert facts and {f.report_id for f in facts} <= set(decodes.ids) and {f.table for f in facts} == {"T4"}
    assert assistant.retriever._facts is None


def test_summaries_and_warnings_match_the_decoded_reports(assistant: Assistant) -> None:
    retriever = assistant.retriever
    ids = list(retriever.metas)
    summaries = retriever.summaries(ids)
    warnings = retriever.warnings_of(ids)
    for rid in ids:
        report = retriever.reports[rid]
        assert ui.summary_row(report.meta, **summaries[rid]) == ui.report_row(report)
        assert warnings[rid] == report.warnings
    assert any(warnings.values())  # the seed report's lost tables are among them


def test_lazy_reports_cache_is_bounded_by_count_and_by_bytes(full_index: Path) -> None:
    store = Store(live_build_dir(full_index) / "store.sqlite", readonly=True)
    metas = store.metas()
    a, b, c, *_ = metas
    by_count = LazyReports(store, metas, cache_size=2)
    for rid in (a, b, a, c):  # b is the least recently used when c comes in
        by_count[rid]
    assert by_count.cached == 2 and by_count.decoded == 3
    by_count[a]
    assert by_count.decoded == 3  # still cached
    by_count[b]
    assert by_count.decoded == 4
    by_bytes = LazyReports(store, metas, cache_size=100, cache_bytes=1)
    assert by_bytes[a].report_id == a and by_bytes.cached == 0  # too big to keep, still served
    everything = LazyReports(store, metas)
    for rid in metas:
        everything[rid]
    assert everything.cached == len(metas)
    with pytest.raises(KeyError):
        everything["no-such-report"]
    store.close()


def test_the_indexed_corpus_resolves_scope_as_the_plain_metadata_does(assistant: Assistant) -> None:
    from assistant.understand.query import understand
    from assistant.understand.scope import Corpus, agency_of, reports_of, resolve_agency, years_of

    corpus, plain = assistant.corpus, dict(assistant.retriever.metas)
    assert isinstance(corpus, Corpus) and dict(corpus) == plain
    questions = [q for q, _ in SCOPED] + ["2022年行政复议有几件？", "那2021年呢？", "澜溪市教育局2022年收到几件申请？",
                                          "青禾县2019年新收了多少件申请？", "今天天气怎么样"]
    for question in questions:
        assert understand(question, None, None, corpus).as_dict() == understand(question, None, None, plain).as_dict()
    for agency in (None, "青禾县人民政府办公室", "澜溪市人民政府", "没有这个机关"):  # against a direct scan
        mine = [(rid, m) for rid, m in plain.items() if agency is None or agency_of(m) == agency]
        assert years_of(corpus, agency) == sorted({m.year for _, m in mine if m.year is not None})
        for years in ((), (2021,), (2021, 2022)):
            expected = sorted((rid for rid, m in mine if not years or m.year in years),
                              key=lambda rid: (agency_of(plain[rid]), plain[rid].year or 0, rid))
            assert reports_of(corpus, agency, years) == expected
    assert resolve_agency("青禾县", corpus) == resolve_agency("青禾县", plain) == "青禾县人民政府办公室"


def test_scope_looks_reports_up_as_a_scan_would_find_them(full_index: Path) -> None:
    """Filtered searches find their reports through a year and name lookup (a scan of 49k reports cost 22 ms per
    search at 10^6 passages): for every year, agency, title and alias of the corpus, alone and combined, and for
    names and years it lacks, the same reports in the same order as testing each report."""
    from assistant.search.retriever import Filters

    retriever = Assistant.open(full_index).retriever
    metas = retriever.metas

    def scanned(filters: Filters) -> tuple[str, ...]:
        return tuple(rid for rid, m in metas.items()
                     if (not filters.report_ids or rid in filters.report_ids)
                     and (not filters.years or m.year in filters.years)
                     and (not filters.agency or filters.agency in {m.agency, m.title, *m.aliases}))

    years = sorted({m.year for m in metas.values() if m.year}) + [1999]
    names = sorted({n for m in metas.values() for n in (m.agency, m.title, *m.aliases) if n}) + ["火星市人民政府"]
    some = tuple(list(metas)[::2])
    cases = [Filters(years=(y,)) for y in years] + [Filters(agency=n) for n in names]
    cases += [Filters(years=(y, years[0]), agency=n) for y in years for n in names[:6]]
    cases += [Filters(years=(y,), report_ids=some) for y in years] + [Filters(agency=n, report_ids=some) for n in names]
    for filters in cases:
        scope = retriever.scope(filters)
        assert scope is not None and scope.report_ids == scanned(filters), filters
    assert len(cases) > 20 and any(s.report_ids for f in cases if (s := retriever.scope(f)) is not None)
