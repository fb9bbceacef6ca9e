"""Weighing report sentences against a question: the lexicon's synonyms and common words, premises."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from assistant.answer.evidence import content_weights, focus_weights, overlap, required_terms_present
from assistant.understand.lexicon import LexiconError, lexicon, parse_lexicon
from assistant.understand.query import understand


@pytest.mark.parametrize(("word", "synonyms"), sorted(lexicon().synonyms.items()))
def test_every_synonym_earns_its_credit(word: str, synonyms: tuple[str, ...]) -> None:
    weights = {word: 4.0}
    for other in synonyms:
        assert overlap(weights, f"本年度共{other}了若干") >= lexicon().synonym_credit, (word, other)
    assert overlap(weights, "与此无关的一句话") == 0.0


def test_a_whole_year_is_a_whole_year_in_an_annual_report() -> None:
    weights = content_weights("平潭2019年全年公布了多少条政府信息")
    stated = "今年，我区政府信息公开单位共公布政府信息2599条，"
    departmental = "区经济发展局着力推进实施过程信息公开,全年共发布信息291条。"
    assert overlap(weights, stated) > overlap(weights, departmental)


def test_common_words_count_a_little_and_stop_words_not_at_all() -> None:
    weights = content_weights("请问政府的培训有多少场")
    assert weights["政府"] == lexicon().common_words["政府"] and "请问" not in weights and "多少" not in weights
    assert weights["培训"] == 2.0


def test_a_premise_ranks_but_is_not_required() -> None:
    question = "平潭2020年报说要坚持季度检查抽查政府网站和政务新媒体，2021年检查了几次？"
    query = understand(question, None, None, {})
    assert query.focus.startswith("2021年检查了几次")
    weights, premise = focus_weights(query.text, query.focus)
    sentence = "常态化开展督查检查，组织4次季度政务公开检查，并将检查发现的问题通报全区。"
    assert "政务新媒体" in premise and weights["政务新媒体"] < content_weights(query.text)["政务新媒体"]
    assert "检查" not in premise
    assert not required_terms_present(content_weights(query.text), sentence)
    assert required_terms_present(weights, sentence, premise)


@pytest.mark.parametrize("question", [
    "龙泉市，2020年收到多少件申请？",  # a place before the comma is no premise
    "行政复议有几件，纠正了几件？",  # both parts ask
    "平潭2021年收到多少件申请",
])
def test_questions_that_ask_throughout_have_no_focus(question: str) -> None:
    assert understand(question, None, None, {}).focus == ""


def _raw() -> dict[str, Any]:
    return tomllib.loads(resources.files("assistant").joinpath("data", "lexicon.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d["evidence"].update(synonym_credit=1.5), "synonym_credit"),
    (lambda d: d["evidence"]["synonyms"].update({"收到": "受理"}), "evidence.synonyms.收到"),
    (lambda d: d["evidence"]["common_words"].update({"政府": 0}), "政府"),
    (lambda d: d["clauses"].update(premise_min_chars=0), "premise_min_chars"),
])
def test_bad_evidence_entries_are_named(edit: Any, named: str) -> None:
    data = _raw()
    edit(data)
    with pytest.raises(LexiconError, match=named):
        parse_lexicon(data)
