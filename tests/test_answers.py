"""Answers with citations on the real seed and sample indexes: expected strings, refusals, faithfulness."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from assistant.answer.evidence import unsupported_numbers
from assistant.answer.extractive import NOT_FOUND_PREFIX
from assistant.api import Assistant
from assistant.errors import QueryError

ROOT = Path(__file__).resolve().parents[1]


def squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def assert_correct(answer: Any, question: dict[str, Any]) -> None:
    assert answer.found, (question["id"], answer.text)
    for expected in question["expect_all"]:
        assert expected in answer.text, (question["id"], expected, answer.text)
    evidence = squash(question["evidence"])
    assert any(evidence in squash(c.text) for c in answer.citations), (question["id"], answer.citations)


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Path) -> Assistant:
    return Assistant.open(seed_index)


@pytest.fixture(scope="module")
def full_assistant(full_index: Path) -> Assistant:
    return Assistant.open(full_index)


def test_dev_questions_answered_with_evidence(seed_assistant: Assistant, dev_questions: list[dict]) -> None:
    for q in dev_questions:
        answer = seed_assistant.ask(q["question"])
        if q["kind"] == "unanswerable":
            assert not answer.found and answer.text.startswith(NOT_FOUND_PREFIX), answer.text
        else:
            assert_correct(answer, q)


def test_every_number_is_in_a_citation(seed_assistant: Assistant, dev_questions: list[dict]) -> None:
    for q in dev_questions:
        answer = seed_assistant.ask(q["question"])
        assert unsupported_numbers(answer.text, answer.citations) == [], (q["id"], answer.text)


def test_lost_table_is_not_answered_with_another_number(seed_assistant: Assistant) -> None:
    answer = seed_assistant.ask("龙泉市2020年行政复议结果纠正几件？")
    assert not answer.found and answer.related
    assert answer.text.startswith(NOT_FOUND_PREFIX)


def test_sample_questions(full_assistant: Assistant, sample_questions: list[dict]) -> None:
    wrong = []
    for q in sample_questions:
        answer = full_assistant.ask(q["question"])
        if q["kind"] == "unanswerable":
            ok = not answer.found
        else:
            ok = answer.found and all(s in answer.text for s in q["expect_all"]) and any(
                squash(q["evidence"]) in squash(c.text) for c in answer.citations)
        if not ok:
            wrong.append((q["id"], answer.text[:100]))
    # the table-number questions must all be right; the rest at the benchmark's target of 0.9
    assert not [w for w in wrong if w[0] in {f"s{i:02d}" for i in (*range(1, 12), 25, 26)}], wrong
    assert len(wrong) <= 3, wrong


def test_table_answers_cite_the_cell(full_assistant: Assistant) -> None:
    answer = full_assistant.ask("青禾县人民政府办公室2021年新收了多少件政府信息公开申请？")
    assert answer.path == "facts" and "63" in answer.text
    citation = answer.citations[0]
    assert citation.table == "T3" and citation.column == "总计" and "本年新收" in (citation.row or "")
    assert "63" in citation.text and citation.year == 2021
    by_type = full_assistant.ask("青禾县2021年自然人新收了多少件政府信息公开申请？")
    assert by_type.citations[0].column == "自然人"


def test_year_on_year(full_assistant: Assistant) -> None:
    answer = full_assistant.ask("青禾县2022年比2021年新收申请增加了多少？百分比是多少？")
    assert "63" in answer.text and "78" in answer.text and "增加15件" in answer.text and "%" in answer.text
    assert {c.year for c in answer.citations} == {2021, 2022}
    history = full_assistant.ask("青禾县历年新收政府信息公开申请是多少？")
    assert "63" in history.text and "78" in history.text


def test_follow_up_inherits_agency_and_year(full_assistant: Assistant) -> None:
    first = full_assistant.ask("青禾县政府办公室2021年新收了多少件政府信息公开申请？")
    follow = full_assistant.ask("那2022年呢？", history=[first])
    assert follow.found and "78" in follow.text
    assert all(c.year == 2022 and c.agency == "青禾县人民政府办公室" for c in follow.citations)
    phone = full_assistant.ask("青禾县2022年的联系电话是多少？")
    who = full_assistant.ask("这个电话是哪个部门的？", history=[phone])
    assert who.found and "政务公开股" in who.text


def test_not_found_names_what_the_corpus_covers(full_assistant: Assistant) -> None:
    answer = full_assistant.ask("澜溪市教育局2022年政府信息公开工作的联系电话是多少？")
    assert not answer.found and "澜溪市生态环境局" in answer.text
    answer = full_assistant.ask("青禾县人民政府办公室2020年收到了多少件政府信息公开申请？")
    assert not answer.found and "2021" in answer.text and "2022" in answer.text


def test_traditional_full_width_and_english(seed_assistant: Assistant) -> None:
    simplified = seed_assistant.ask("龙泉市2020年办理了多少件政府信息公开申请？")
    traditional = seed_assistant.ask("龍泉市２０２０年辦理了多少件政府信息公開申請？")
    assert traditional.found and "15" in traditional.text
    assert traditional.citations[0].passage_id == simplified.citations[0].passage_id
    english = seed_assistant.ask("How many information disclosure requests did Longquan receive in 2020?")
    assert english.found and "15" in english.text and english.citations[0].passage_id == \
        simplified.citations[0].passage_id  # read in Chinese, answered in Chinese from the same sentence
    unknown = seed_assistant.ask("What did Longquan do about open government?")
    assert not unknown.found and unknown.intent == "out_of_scope" and "龙泉市" in unknown.text
    assert "please ask in Chinese" in unknown.text.splitlines()[-1]


def test_bad_questions(seed_assistant: Assistant) -> None:
    for question in ["", "  ", "？！。", "问" * 10_000]:
        with pytest.raises(QueryError):
            seed_assistant.ask(question)


def test_cli_ask_json_and_stdin(seed_index: Path) -> None:
    cli = [sys.executable, "-m", "assistant", "ask"]
    result = subprocess.run(cli + ["龙泉市政府信息公开中心的电子邮箱是什么？", "--json", "--index", str(seed_index)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    answer = json.loads(result.stdout)
    assert {"question", "found", "answer", "citations"} <= set(answer)
    assert answer["found"] and "lqsfb@lishui.gov.cn" in answer["answer"]
    assert {"n", "passage_id", "text", "report_title", "agency", "year", "section"} <= set(answer["citations"][0])
    result = subprocess.run(cli + ["-", "--index", str(seed_index)], input="电子邮箱是什么？\n\n培训覆盖多少人？\n",
                            capture_output=True, text=True, cwd=ROOT, check=True)
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(lines) == 2 and all("found" in line for line in lines)
    result = subprocess.run(cli + ["。。。", "--index", str(seed_index)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_our_own_questions(full_assistant: Assistant) -> None:
    """Paraphrases, traditional script, table sums, commitments and refusals (tests/data/extra_questions.jsonl)."""
    path = Path(__file__).resolve().parent / "data" / "extra_questions.jsonl"
    for q in [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]:
        answer = full_assistant.ask(q["question"])
        if q["kind"] == "unanswerable":
            assert not answer.found, (q["id"], answer.text)
            continue
        assert_correct(answer, q)
        assert unsupported_numbers(answer.text, answer.citations) == [], (q["id"], answer.text)


@pytest.mark.parametrize(("english", "chinese"), [
    ("How many requests from companies did Qinghe receive in 2022?", "青禾县2022年企业提出的申请有多少件？"),
    ("How many requests were carried over to next year by Lanxi in 2021?", "澜溪市2021年结转下年度继续办理多少件？"),
    ("How many administrative reconsideration cases did Lanxi have in 2022?", "澜溪市2022年行政复议有几件？"),
    ("What is the phone number of Qinghe County government office?", "青禾县政府办公室的联系电话是多少？"),
])
def test_english_is_answered_like_its_chinese_paraphrase(full_assistant: Assistant, english: str,
                                                          chinese: str) -> None:
    read, said = full_assistant.ask(english), full_assistant.ask(chinese)
    assert read.found and said.found, (read.text, said.text)
    assert read.text == said.text and read.citations == said.citations
