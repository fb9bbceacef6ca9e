"""Commitments of section 五 and their follow-up, on the real seed and samples with a real index."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES, SAMPLES_DIR, SEED_FILE

from assistant.analyse.commitments import DONE, NO_REPORT, PARTLY, UNREPORTED, extract_commitments, follow_up
from assistant.answer.from_commitments import answer, commitments_answer
from assistant.config import Settings
from assistant.index.analysis import keyword_ranker
from assistant.index.build import build_index
from assistant.records import Answer, Commitment, Report
from assistant.search.retriever import Retriever
from assistant.understand.query import Query, understand

QINGHE = "青禾县人民政府办公室"
RANKER = keyword_ranker()  # BM25 over the later report's passages, tokenised now


def read(question: str, retriever: Retriever) -> Query:
    return understand(question, None, None, {rid: r.meta for rid, r in retriever.reports.items()})


def ask_commitments(question: str, retriever: Retriever) -> Answer | None:
    return answer(read(question, retriever), retriever)
LANXI = "澜溪市人民政府"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Retriever:
    """One index of the seed and the five samples; embeddings cached across runs by pytest's cache."""
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"samples not found at {SAMPLES_DIR}: shared/ must sit beside the repository")
    root = tmp_path_factory.mktemp("commitments")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in [SEED_FILE, *(SAMPLES_DIR / name for name in SAMPLE_FILES)]:
        shutil.copy(path, corpus / path.name)
    cache_plugin = getattr(request.config, "cache", None)
    cache = Path(cache_plugin.mkdir("commitments-test-embeddings")) if cache_plugin else root / "cache"
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=cache)
    summary = build_index(settings)
    assert not summary.failures
    return Retriever.open(settings.index_dir, settings)


def report_of(retriever: Retriever, agency: str, year: int) -> Report:
    return next(r for r in retriever.reports.values() if r.meta.agency == agency and r.meta.year == year)


def of_kind(commitments: list[Commitment], kind: str) -> list[Commitment]:
    return [c for c in commitments if c.kind == kind]


def test_seed_commitments_and_problems(seed_report: Report) -> None:
    found = extract_commitments(seed_report)
    commitments, problems = of_kind(found, "commitment"), of_kind(found, "problem")
    assert [c.title for c in commitments] == ["进一步规范发布", "进一步加强解读", "进一步完善机制"]
    assert [c.commitment_id for c in commitments] == [f"{seed_report.report_id}:c{n}" for n in (1, 2, 3)]
    assert [c.commitment_id for c in problems] == [f"{seed_report.report_id}:q{n}" for n in (1, 2, 3)]
    assert problems[0].title == "政务公开职责边界不够清晰"
    assert all(c.year == 2020 and c.target_year == 2021 and c.agency == "龙泉市" for c in commitments)
    assert all(p.target_year is None and p.status is None for p in problems)
    assert not any("认真总结经验" in c.text for c in found)  # the lead-in of 下一步 is no commitment


def test_spans_are_exact_slices(retriever: Retriever) -> None:
    for report in retriever.reports.values():
        found = extract_commitments(report)
        assert len(of_kind(found, "commitment")) == 3 and len(of_kind(found, "problem")) == 3, report.meta.title
        section = report.section("五")
        assert section is not None
        for c in found:
            assert report.cleaned_text[c.start : c.end] == c.text
            assert section.body_start <= c.start < c.end <= section.end
            assert c.text.startswith(c.title) and c.title


def test_qinghe_2021_commitments_and_problems(retriever: Retriever) -> None:
    found = extract_commitments(report_of(retriever, QINGHE, 2021))
    problems = of_kind(found, "problem")
    assert [p.title for p in problems] == ["政策解读形式不够丰富", "基层政务公开发展不平衡", "依申请公开办理能力有待提升"]
    commitments = of_kind(found, "commitment")
    assert [c.title for c in commitments] == ["丰富政策解读形式", "推进基层政务公开标准化规范化", "提升依申请公开办理质量"]
    assert "50%以上" in commitments[0].text
    assert "11个乡镇（街道）" in commitments[1].text
    assert "不少于4次" in commitments[2].text and "法律顾问审核" in commitments[2].text
    assert all(c.target_year == 2022 for c in commitments)


def test_2022_reports_last_year_follow_up_is_neither(retriever: Retriever) -> None:
    qinghe = extract_commitments(report_of(retriever, QINGHE, 2022))
    assert [c.title for c in of_kind(qinghe, "commitment")] == [
        "全面完成基层专栏改版", "提升政务新媒体互动水平", "加强政策执行情况公开"]
    assert of_kind(qinghe, "problem")[1].title == "政务新媒体互动回应不够及时"
    lanxi = extract_commitments(report_of(retriever, LANXI, 2022))
    assert of_kind(lanxi, "commitment")[1].title == "推行政策解读“三张清单”"
    for c in qinghe + lanxi:
        assert not any(fact in c.text for fact in ("56.4%", "措施已完成", "163个", "季度抽查4次"))
        assert c.kind == "problem" or c.target_year == 2023


def test_trailing_also_sentence_is_not_part_of_last_commitment(retriever: Retriever) -> None:
    lanxi = of_kind(extract_commitments(report_of(retriever, LANXI, 2021)), "commitment")
    assert lanxi[2].title == "推进公共数据有序开放" and "150个" in lanxi[2].text
    assert "同时" not in lanxi[2].text
    eco = of_kind(extract_commitments(report_of(retriever, "澜溪市生态环境局", 2022)), "commitment")
    assert "一图读懂" in eco[0].text and "同时" not in eco[2].text


def test_seed_has_no_next_report(retriever: Retriever, seed_report: Report) -> None:
    followed = follow_up(extract_commitments(seed_report), retriever.reports, RANKER)
    assert [c.status for c in of_kind(followed, "commitment")] == [NO_REPORT] * 3
    assert all(not c.evidence for c in followed)
    assert all(p.status is None for p in of_kind(followed, "problem"))


def test_qinghe_statuses_and_evidence(retriever: Retriever) -> None:
    later = report_of(retriever, QINGHE, 2022)
    commitments = of_kind(extract_commitments(report_of(retriever, QINGHE, 2021)), "commitment")
    followed = follow_up(commitments, retriever.reports, RANKER)
    assert [c.status for c in followed] == [DONE, PARTLY, DONE]
    for c, fact in zip(followed, ("56.4%", "已完成8个", "培训5次"), strict=True):
        assert c.evidence and all(h.report_id == later.report_id for h in c.evidence)
        assert any(fact in h.text for h in c.evidence), c.title
        assert [h.rank for h in c.evidence] == list(range(1, len(c.evidence) + 1))
        for hit in c.evidence:
            assert later.cleaned_text[hit.start : hit.end] == hit.text
    assert followed[0].text == commitments[0].text and commitments[0].status is None  # copies


def test_lanxi_statuses(retriever: Retriever) -> None:
    later = report_of(retriever, LANXI, 2022)
    commitments = of_kind(extract_commitments(report_of(retriever, LANXI, 2021)), "commitment")
    followed = follow_up(commitments, retriever.reports, RANKER)
    assert [c.status for c in followed] == [DONE, DONE, DONE]
    assert all(h.report_id == later.report_id for c in followed for h in c.evidence)
    assert any("季度抽查4次" in h.text for h in followed[0].evidence)
    assert any("答复文书" in h.text for h in followed[1].evidence)
    assert any("163个" in h.text for h in followed[2].evidence)


def test_unmentioned_commitment_is_unreported_with_evidence(retriever: Retriever) -> None:
    base = of_kind(extract_commitments(report_of(retriever, QINGHE, 2021)), "commitment")[0]
    text = "开展政府开放日活动。全年举办政府开放日活动不少于6次，邀请市民代表走进政府机关。"
    [followed] = follow_up([replace(base, title="开展政府开放日活动", text=text)], retriever.reports, RANKER)
    assert followed.status == UNREPORTED and followed.evidence


def test_question_mode(retriever: Retriever) -> None:
    assert read("龙泉市2020年承诺了哪些改进措施？", retriever).intent == "commitments"
    assert read("青禾县2021年的承诺落实了吗？", retriever).intent == "follow_up"
    assert read("青禾县政府办公室在2021年年报中指出了哪些主要问题？", retriever).intent == "problems"
    assert read("青禾县2021年新收政府信息公开申请多少件？", retriever).intent == "table_cell"


def test_chat_lists_seed_commitments(retriever: Retriever, seed_report: Report) -> None:
    answer = ask_commitments("龙泉市2020年承诺了哪些改进措施？", retriever)
    assert answer is not None and answer.found and answer.path == "commitments"
    commitments = of_kind(extract_commitments(seed_report), "commitment")
    assert [c.text for c in answer.citations] == [c.text for c in commitments]
    for n, citation in enumerate(answer.citations, 1):
        assert f"[{n}]" in answer.text and citation.n == n and citation.section == "五"
        passage = next(p for p in seed_report.passages if p.passage_id == citation.passage_id)
        assert passage.start <= citation.start < passage.end
        assert seed_report.cleaned_text[citation.start : citation.end] == citation.text
        assert citation.report_title == seed_report.meta.title and citation.year == 2020
    assert all(title in answer.text for title in ("进一步规范发布", "进一步加强解读", "进一步完善机制"))


def test_chat_reports_follow_up(retriever: Retriever) -> None:
    answer = ask_commitments("青禾县2021年的承诺落实了吗？", retriever)
    assert answer is not None and answer.path == "commitments"
    assert answer.text.count(DONE) == 2 and answer.text.count(PARTLY) == 1
    assert any("56.4%" in c.text and c.year == 2022 for c in answer.citations)
    for citation in answer.citations:
        report = retriever.reports[citation.passage_id.split(":")[0]]
        assert report.cleaned_text[citation.start : citation.end] == citation.text


def test_chat_focuses_on_the_commitment_named(retriever: Retriever) -> None:
    question = "青禾县2021年年报承诺年内完成11个乡镇（街道）政务公开专栏的统一改版，2022年完成了吗？"
    answer = ask_commitments(question, retriever)
    assert answer is not None and PARTLY in answer.text and DONE not in answer.text
    assert "8个" in answer.text and "3个" in answer.text


def test_chat_helper_declines_other_questions(retriever: Retriever) -> None:
    assert ask_commitments("青禾县2021年新收政府信息公开申请多少件？", retriever) is None
    every = [c for r in retriever.reports.values() for c in extract_commitments(r)]
    assert commitments_answer(read("澜溪市2022年行政复议总计多少件？", retriever), every, retriever.reports) is None
    listed = commitments_answer(read("澜溪市生态环境局2023年打算怎样让群众更容易看懂环境质量数据？", retriever), every,
                                retriever.reports)
    assert listed is not None and "一图读懂" in listed.text
