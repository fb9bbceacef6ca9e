"""The one citation builder on real parsed reports: passages, sentences, report spans, table cells, numbering."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.analyse.facts import extract_facts
from assistant.answer.citations import (
    Citations,
    of_cell,
    of_hit,
    of_passage,
    of_report_span,
    of_span,
    passage_at,
)
from assistant.answer.evidence import sentences, unsupported_numbers
from assistant.api import Assistant
from assistant.records import Citation, Hit, Report


def hit_of(report: Report, index: int = 0) -> Hit:
    p = [p for p in report.passages if p.kind == "text"][index]
    m = report.meta
    return Hit(rank=1, score=1.0, passage_id=p.passage_id, text=p.text, report_id=report.report_id,
               report_title=m.title, agency=m.agency, year=m.year, section=p.section, start=p.start, end=p.end,
               source_file=m.source_file, source_url=m.source_url)


def test_a_sentence_is_cited_by_its_passage_and_quoted(seed_report: Report) -> None:
    hit = hit_of(seed_report, 1)
    span = sentences(hit)[0]
    citation = of_span(3, span)
    assert citation.n == 3 and citation.passage_id == hit.passage_id and citation.quote == span.text
    assert citation.text == seed_report.cleaned_text[citation.start:citation.end] == hit.text
    assert citation.source_file == seed_report.meta.source_file and citation.report_title == seed_report.meta.title
    assert of_hit(3, hit, span.text) == citation
    passage = next(p for p in seed_report.passages if p.passage_id == hit.passage_id)
    assert of_passage(3, seed_report.meta, passage, span.text) == citation


def test_a_report_span_is_cited_by_the_passage_its_start_falls_in(seed_report: Report) -> None:
    passage = [p for p in seed_report.passages if p.kind == "text"][2]
    start, end = passage.start + 5, min(passage.end + 40, len(seed_report.cleaned_text))  # runs into the next
    citation = of_report_span(1, seed_report, start, end)
    assert citation.passage_id == passage.passage_id and citation.section == passage.section
    assert citation.text == citation.quote == seed_report.cleaned_text[start:end]
    assert (citation.start, citation.end) == (start, end)
    assert passage_at(seed_report, passage.end - 1) == passage
    following = next(p for p in seed_report.passages if p.start >= passage.end)
    assert passage_at(seed_report, following.start) == following


@pytest.fixture(scope="module")
def report_and_facts(sample_reports: dict[str, Report]) -> tuple[Report, list]:
    report = sample_reports["qinghe-county-2021.html"]
    facts, _ = extract_facts(report)
    return report, facts


def test_a_cell_is_cited_with_its_table_row_and_raw_value(report_and_facts: tuple[Report, list]) -> None:
    report, facts = report_and_facts
    fact = next(f for f in facts if f.table == "T3" and f.passage_id and f.value)
    citation = of_cell(2, report, fact)
    passage = next(p for p in report.passages if p.passage_id == fact.passage_id)
    assert (citation.table, citation.column, citation.row) == (fact.table, fact.column, " › ".join(fact.row_path))
    assert citation.text == passage.text and citation.quote == f"{fact.column}：{fact.raw}"
    assert citation.section == passage.section and citation.agency == report.meta.agency


def test_numbering_follows_first_use_and_repeats_keep_their_number(
        report_and_facts: tuple[Report, list], seed_report: Report) -> None:
    report, facts = report_and_facts
    cells = [f for f in facts if f.table == "T4"][:2]
    hit = hit_of(seed_report)
    cited = Citations()
    marks = [cited.cell(report, cells[0]), cited.hit(hit), cited.cell(report, cells[1]),
             cited.cell(report, cells[0]), cited.span(sentences(hit)[0])]
    assert marks == ["[1]", "[2]", "[3]", "[1]", "[4]"]
    assert [c.n for c in cited.all()] == [1, 2, 3, 4] and len(cited) == 4
    assert cited.cells(report, cells) == "[1][3]"
    foreign = of_hit(9, hit_of(seed_report, 2))
    assert cited.add(foreign) == "[5]" and cited.all()[-1].n == 5  # renumbered


def _cite(text: str, quote: str | None = None) -> Citation:
    return Citation(n=1, passage_id="r:p0", report_title="龙泉市2020年政府信息公开工作年度报告", agency="龙泉市",
                    year=2020, section="一", text=text, start=0, end=len(text), quote=quote)


def test_every_number_must_be_in_a_citation() -> None:
    cited = [_cite("全年共收到政府信息公开申请15件，办结14件。")]
    assert unsupported_numbers("收到15件[1]，办结14件[1]", cited) == []
    assert unsupported_numbers("收到15件[1]，结转1件", cited) == ["1"]  # "1" only inside 15 and 14
    assert unsupported_numbers("收到150件[1]", cited) == ["150"]
    assert unsupported_numbers("合计29件（计算：15+14=29）[1]", cited) == ["29"]  # outside the label: stated
    assert unsupported_numbers("（计算：15+14=29）[1]", cited) == []
    assert unsupported_numbers("《龙泉市2020年政府信息公开工作年度报告》收到15件[1]", cited) == []


def test_answers_on_the_samples_cite_every_number(full_index: Path) -> None:
    assistant = Assistant.open(full_index)
    questions = ["青禾县2021年新收多少件申请？", "青禾县2022年比2021年新收申请增加了多少？",
                 "哪个地方收到的政府信息公开申请最多？", "澜溪市2022年的表三对得上吗",
                 "青禾县2021年行政复议有几件？其中纠正的几件？", "青禾县政府办公室的联系电话是多少？",
                 "青禾县2022年通过县政府门户网站主动公开了多少条政府信息？",
                 "青禾县2021年年报承诺年内完成11个乡镇（街道）政务公开专栏的统一改版，2022年完成了吗？"]
    for question in questions:
        answer = assistant.ask(question)
        assert answer.found and answer.citations, (question, answer.text)
        assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1)), question
        assert unsupported_numbers(answer.text, answer.citations) == [], (question, answer.text)
