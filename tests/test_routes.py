"""Routes end to end on the seed and sample index: every cell from generated phrasings, scope rules, routes."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from assistant.analyse.checks import format_number
from assistant.answer.dispatch import ROUTES
from assistant.answer.evidence import unsupported_numbers
from assistant.answer.extractive import NOT_FOUND_PREFIX
from assistant.api import Assistant
from assistant.records import Fact
from assistant.search.retriever import Filters
from assistant.understand.lexicon import INTENTS, Label, lexicon

ROOT = Path(__file__).resolve().parents[1]
QH, LX = "青禾县人民政府办公室", "澜溪市人民政府"


@pytest.fixture(scope="module")
def assistant(full_index: Path) -> Assistant:
    return Assistant.open(full_index)


def _words(label: Label, n: int = 3) -> list[str]:
    return list(islice((label.words[i % len(label.words)] for i in range(n)), n))


def _phrasings(fact: Fact, place: str) -> list[str]:
    """Three questions for one cell, each built from other lexicon words for its row and column."""
    lex = lexicon()
    year = f"{fact.year}年"
    if fact.table == "T3":
        row = next(r for r in lex.t3_rows if r.path == fact.row_path)
        rows = _words(row)
        if fact.column == "总计":
            return [f"{place}{year}{w}的申请有多少件？" for w in rows]
        column = next(c for c in lex.t3_columns if c.label == fact.column)
        return [f"{place}{year}{c}申请中{w}的有多少件？" for w, c in zip(rows, _words(column), strict=True)]
    *block, result = fact.column.split("·")
    block_label = next(b for b in lex.t4_blocks if b.label == block[-1])
    result_label = next(r for r in lex.t4_results if r.label == result)
    return [f"{place}{year}{b}{r}的有几件？" for b, r in zip(_words(block_label), _words(result_label), strict=True)]


@pytest.mark.parametrize(("agency", "year", "place"), [(QH, 2021, "青禾县"), (LX, 2022, "澜溪市")])
def test_every_t3_t4_cell_from_three_generated_phrasings(assistant: Assistant, agency: str, year: int,
                                                         place: str) -> None:
    facts = [f for f in assistant.facts(agency=agency, year=year) if f.table in ("T3", "T4")
             and not (f.table == "T3" and len(f.row_path) == 2 and f.row_path[1].startswith("（六）"))]
    assert len(facts) > 150
    wrong = []
    for fact in facts:
        for question in _phrasings(fact, place):
            answer = assistant.ask(question)
            cited = [c for c in answer.citations if c.row == " › ".join(fact.row_path) and c.column == fact.column]
            value = "为空" if fact.value is None else format_number(fact.value)
            if not (answer.found and answer.path == "facts" and cited and value in answer.text
                    and all(c.agency == agency and c.year == year for c in answer.citations)):
                wrong.append((question, answer.text[:80]))
    assert not wrong, (len(wrong), wrong[:10])


def test_route_table_covers_every_intent() -> None:
    assert set(ROUTES) == set(INTENTS) and all(ROUTES[i] for i in INTENTS)


def test_table_answer_is_a_sentence_naming_the_table(assistant: Assistant) -> None:
    answer = assistant.ask("青禾县2021年被申请行政复议几件？其中纠正的几件？")
    assert answer.text.startswith(f"{QH}2021年因政府信息公开被申请行政复议3件[1]，其中结果纠正1件[2]（表四）")
    assert answer.intent == "table_cell" and [c.column for c in answer.citations] == [
        "行政复议·总计", "行政复议·结果纠正"]


def test_no_agency_answers_per_report_sorted_and_cited(assistant: Assistant) -> None:
    answer = assistant.ask("2022年行政复议有几件？")
    lines = answer.text.splitlines()
    assert answer.found and len(lines) == 3
    assert [c.agency for c in answer.citations] == sorted(c.agency for c in answer.citations)
    assert all(f"[{c.n}]" in answer.text and c.year == 2022 for c in answer.citations)


def test_year_only_question_is_not_refused(assistant: Assistant) -> None:
    answer = assistant.ask("2021年各地收到多少件政府信息公开申请？")
    assert answer.found and "63" in answer.text and "183" in answer.text


def test_conflict_with_the_filter_is_said(assistant: Assistant) -> None:
    answer = assistant.ask("青禾县2021年新收了多少件申请？", filters=Filters(years=(2022,)))
    assert "筛选为2022年，但问题问的是2021年：按问题回答" in answer.text and "63" in answer.text
    assert all(c.year == 2021 for c in answer.citations)


def test_a_new_question_does_not_inherit_the_previous_year(assistant: Assistant) -> None:
    first = assistant.ask("青禾县2021年新收了多少件申请？")
    fresh = assistant.ask("龙泉市政府信息公开的联系电话是多少？", history=[first])
    assert fresh.found and "0578-7262336" in fresh.text


def test_named_agency_answers_only_from_its_reports(assistant: Assistant) -> None:
    for question in ["澜溪市生态环境局2022年行政诉讼几件", "龙泉市2020年新收申请中企业的有几件",
                     "澜溪市2022年网站被攻击了几次"]:
        answer = assistant.ask(question)
        agency = answer.understanding["scope"]["agency"]  # type: ignore[index]
        assert all(c.agency == agency for c in answer.citations), (question, answer.text)


def test_lost_table_says_so_with_the_section(assistant: Assistant) -> None:
    answer = assistant.ask("龙泉市2020年行政复议结果纠正几件？")
    assert not answer.found and answer.text.startswith(NOT_FOUND_PREFIX) and "表格无法读取" in answer.text
    assert answer.related and all(h.agency == "龙泉市" for h in answer.related)


def test_rank_compare_and_consistency(assistant: Assistant) -> None:
    ranked = assistant.ask("2022年哪个机关收到的信息公开申请最多？")
    assert ranked.intent == "rank_agencies" and ranked.text.index("214") < ranked.text.index("78")
    series = assistant.ask("澜溪市2021年和2022年新收申请各是多少？")
    assert "183" in series.text and "214" in series.text and "（计算：2022年比2021年增加31件）" in series.text
    checks = assistant.ask("澜溪市2022年的表三对得上吗")
    assert checks.path == "checks" and "186" in checks.text and "168" in checks.text
    for answer in (ranked, series, checks):
        assert unsupported_numbers(answer.text, answer.citations) == [], answer.text


def test_out_of_scope_says_what_is_covered(assistant: Assistant) -> None:
    answer = assistant.ask("明天天气怎么样？")
    assert not answer.found and answer.intent == "out_of_scope" and "本助手回答" in answer.text


def test_cli_json_shows_intent_scope_and_cues(full_index: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "assistant", "ask", "青禾县2021年新收多少件申请？", "--json",
                             "--index", str(full_index)], capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(result.stdout)
    assert data["intent"] == "table_cell" and data["scope"]["agency"] == QH and data["scope"]["years"] == [2021]
    assert "cell:新收" in data["cues"]


def test_too_many_candidates_ask_which_agency(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.answer import from_tables

    monkeypatch.setattr(from_tables, "MAX_REPORT_LINES", 2)
    answer = assistant.ask("2022年行政复议有几件？")
    assert not answer.found and answer.path == "clarify" and "请在问题中指明机关" in answer.text
    assert all(name in answer.text for name in (QH, LX, "澜溪市生态环境局"))


def test_general_answers_never_quote_a_table_row(full_index: Path) -> None:
    """A question no route can read (general intent) must not be answered with an unrelated table row's cell."""
    from assistant.answer.from_text import general, hits_for

    assistant = Assistant.open(full_index)
    query = assistant.understand("青禾县2021年补正后申请内容仍不明确是怎么回事")
    assert query.intent == "general"
    assert any(h.kind == "table_row" for h in hits_for(query, assistant.retriever))  # the rows are candidates
    answer = general(query, assistant.retriever)
    assert answer is None or all(c.table is None and "补正后申请内容仍不明确" not in c.text for c in answer.citations)
