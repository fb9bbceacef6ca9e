"""Tests of template identity checks, question matching and year-over-year change (assistant.analyse.checks)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pytest
from test_facts import SAMPLE_FILES, SAMPLES, T3_HEADER, Spec, ingest, make_report, make_table

from assistant.analyse.checks import (
    FactQuery,
    check_facts,
    describe_fact,
    query_facts,
    sum_facts,
)
from assistant.analyse.facts import (
    T3_CARRIED_OUT,
    T3_NEW,
    T3_RESULTS,
    T3_TOTAL_ROW,
    extract_facts,
    t3_template_rows,
)
from assistant.records import Fact
from assistant.understand.query import understand


def match_fact_question(question: str, facts: Sequence[Fact] = ()) -> FactQuery | None:
    """The first cell a question asks for, as the understanding stage reads it (None: not a table question)."""
    cells = understand(question, None, None, {}).cells
    return cells[0].fact_query(facts) if cells else None

APPLICANTS = 6


def consistent_t3(seed: int = 1) -> list[list[Spec]]:
    """A T3 grid (2021) whose numbers satisfy every identity."""
    paths = t3_template_rows("2021")
    handled = [p for p in paths if p[0] == T3_RESULTS and p != T3_TOTAL_ROW]
    values = {p: [(i * seed + j) % 4 for j in range(APPLICANTS)] for i, p in enumerate(handled)}
    values[T3_TOTAL_ROW] = [sum(values[p][j] for p in handled) for j in range(APPLICANTS)]
    values[(T3_NEW,)] = [v + 1 for v in values[T3_TOTAL_ROW]]
    values[("二、上年结转政府信息公开申请数量",)] = [2] * APPLICANTS
    values[(T3_CARRIED_OUT,)] = [3] * APPLICANTS
    rows: list[list[Spec]] = []
    for path in paths:
        cells: list[Spec] = [str(v) for v in values[path]] + [str(sum(values[path]))]
        if len(path) == 1:
            rows.append([(path[0], 1, 3), *cells])
        else:
            rows.append([("".join(path[:1]), 1, 1), (path[1], 1, 1 if len(path) == 3 else 2),
                         *path[2:], *cells])
    return T3_HEADER + rows


T4_ROW: list[Spec] = [("行政复议", 1, 5), ("行政诉讼", 1, 10)]


def t4(values: list[int]) -> list[list[Spec]]:
    heads = ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
    return [T4_ROW, [*[(h, 2, 1) for h in heads], ("未经复议直接起诉", 1, 5), ("复议后起诉", 1, 5)],
            heads * 2, [str(v) for v in values]]


def test_consistent_tables_have_no_violation() -> None:
    report = make_report(make_table(consistent_t3(), "r:t0"), make_table(t4([1, 0, 0, 1, 2] * 3), "r:t1", "四"))
    facts, _ = extract_facts(report)
    assert len(facts) == 25 * 7 + 15
    assert check_facts("测试年报", facts) == []


def test_one_wrong_cell_breaks_exactly_three_identities() -> None:
    facts, _ = extract_facts(make_report(make_table(consistent_t3())))
    total = next(f for f in facts if f.row_path == T3_TOTAL_ROW and f.column == "自然人")
    wrong = replace(total, value=(total.value or 0) + 18, raw=str(int(total.value or 0) + 18))
    violations = check_facts("测试年报", [wrong if f is total else f for f in facts])
    assert sorted(v.rule for v in violations) == ["T3 一 + 二 = 三（七）+ 四", "T3 总计列 = 六类申请人之和",
                                                  "T3 （七）总计 = （一）+…+（六）"]
    assert all(wrong in v.cells and v.report_title == "测试年报" and v.left != v.right for v in violations)
    first = next(v for v in violations if v.rule.startswith("T3 （七）"))
    assert first.description == f"三（七）总计 自然人列：{wrong.raw} ≠ （一）至（六）之和 {int(total.value or 0)}"


def test_blank_cell_skips_identity_instead_of_counting_zero() -> None:
    facts, _ = extract_facts(make_report(make_table(consistent_t3())))
    blanked = [replace(f, value=None, raw="—") if f.row_path == (T3_NEW,) and f.column == "自然人" else f
               for f in facts]
    broken = [replace(f, value=99.0) if f.row_path == (T3_NEW,) and f.column == "商业企业" else f for f in blanked]
    rules = sorted((v.rule, v.description.split("：")[0]) for v in check_facts("x", broken))
    # 自然人 column and 一 row identities are skipped (blank); only the 商业企业 column identity fires.
    assert rules == [("T3 一 + 二 = 三（七）+ 四", "商业企业列")]


def test_t4_total_identity() -> None:
    facts, _ = extract_facts(make_report(make_table(t4([1, 1, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]), section="四")))
    [violation] = check_facts("测试年报", facts)
    assert violation.table == "T4" and (violation.left, violation.right) == (3, 2)
    assert violation.description == "行政复议 总计 3 ≠ 结果维持、结果纠正、其他结果、尚未审结之和 2"


def test_find_and_query_helpers() -> None:
    facts, _ = extract_facts(make_report(make_table(consistent_t3()), make_table(t4([0, 1, 2, 1, 4, 5, 1, 2, 1, 9, 10, 1, 2, 1, 14]), section="四")))
    [found] = query_facts(FactQuery("T3", (T3_RESULTS, "（三）不予公开", "7.属于行政执法案卷"), "总计"), facts)
    assert found.column == "总计"
    [review] = query_facts(FactQuery("T4", ("行政复议",), "行政复议·总计"), facts)
    assert review.value == 4
    refused = query_facts(FactQuery("T3", (T3_RESULTS, "（三）不予公开"), "总计", aggregate=True), facts)
    assert len(refused) == 8
    lawsuits = query_facts(FactQuery("T4", ("行政诉讼",), "总计", aggregate=True), facts)
    assert sum_facts(lawsuits) == 9 + 14
    assert describe_fact(review) == "T4 行政复议 · 行政复议·总计：4件"


QUESTION_TARGETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "s01": ("T3", (T3_NEW,), "总计"),
    "s02": ("T3", (T3_NEW,), "总计"),
    "s03": ("T3", (T3_RESULTS, "（四）无法提供", "1.本机关不掌握相关政府信息"), "总计"),
    "s04": ("T2", ("第二十条第（八）项", "行政事业性收费"), "本年收费金额"),
    "s05": ("T4", ("行政复议",), "行政复议·总计"),
    "s06": ("T3", (T3_CARRIED_OUT,), "总计"),
    "s07": ("T2", ("第二十条第（五）项", "行政许可"), "本年处理决定数量"),
    "s08": ("T3", (T3_RESULTS, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"), "总计"),
    "s09": ("T3", (T3_RESULTS, "（三）不予公开", "7.属于行政执法案卷"), "总计"),
    "s10": ("T2", ("第二十条第（六）项", "行政处罚"), "本年处理决定数量"),
    "s11": ("T3", (T3_RESULTS, "（一）予以公开"), "总计"),
    "s25": ("T3", (T3_NEW,), "总计"),
    "s26": ("T4", ("行政复议",), "行政复议·总计"),
    "s27": ("T3", (T3_NEW,), "总计"),
    "s29": ("T2", ("第二十条第（九）项", "政府集中采购"), "采购总金额"),
    "s30": ("T2", ("第二十条第（六）项", "行政处罚"), "本年处理决定数量"),
}


def load_questions() -> dict[str, dict[str, object]]:
    lines = (SAMPLES / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return {q["id"]: q for q in map(json.loads, lines)}


@pytest.mark.parametrize("qid", sorted(load_questions()))
def test_sample_questions_map_to_cells_or_none(qid: str) -> None:
    query = match_fact_question(str(load_questions()[qid]["question"]))
    target = QUESTION_TARGETS.get(qid)
    assert (query and (query.table, query.row_path, query.column)) == target


@pytest.mark.parametrize(("question", "target"), [
    ("2021年自然人提出的申请中有多少件予以公开？", ("T3", (T3_RESULTS, "（一）予以公开"), "自然人")),
    ("商业企业新收了多少件申请？", ("T3", (T3_NEW,), "商业企业")),
    ("因重复申请不予处理的有几件", ("T3", (T3_RESULTS, "（五）不予处理", "2.重复申请"), "总计")),
    ("危及三安全一稳定而不予公开的有多少", ("T3", (T3_RESULTS, "（三）不予公开", "3.危及“三安全一稳定”"), "总计")),
    ("行政复议结果纠正的有几件", ("T4", ("行政复议",), "行政复议·结果纠正")),
    ("复议后起诉的行政诉讼有多少件", ("T4", ("行政诉讼", "复议后起诉"), "行政诉讼·复议后起诉·总计")),
    ("本年废止了多少件行政规范性文件", ("T2", ("第二十条第（一）项", "行政规范性文件"), "本年废止件数")),
    ("现行有效的规章有多少件", ("T2", ("第二十条第（一）项", "规章"), "现行有效件数")),
    ("行政强制决定有多少件", ("T2", ("第二十条第（六）项", "行政强制"), "本年处理决定数量")),
])
def test_more_question_shapes(question: str, target: tuple[str, tuple[str, ...], str]) -> None:
    query = match_fact_question(question)
    assert query is not None and (query.table, query.row_path, query.column) == target


def test_aggregate_questions_and_non_questions() -> None:
    refused = match_fact_question("不予公开的申请一共有多少件？")
    assert refused == FactQuery("T3", (T3_RESULTS, "（三）不予公开"), "总计", aggregate=True)
    lawsuit = match_fact_question("被提起行政诉讼的有几件")
    assert lawsuit == FactQuery("T4", ("行政诉讼",), "总计", aggregate=True)
    assert match_fact_question("为什么被申请行政复议？") is None
    assert match_fact_question("联系电话是多少？") is None


TITLES = {
    "青禾县人民政府办公室2021年政府信息公开工作年度报告": "qinghe-2021",
    "青禾县人民政府办公室2022年政府信息公开工作年度报告": "qinghe-2022",
    "澜溪市人民政府2021年政府信息公开工作年度报告": "lanxi-2021",
    "澜溪市人民政府2022年政府信息公开工作年度报告": "lanxi-2022",
    "澜溪市生态环境局2022年政府信息公开工作年度报告": "eco-2022",
}


@pytest.fixture(scope="module")
def samples() -> dict[str, tuple[str, list[Fact]]]:
    out = {}
    for title, name in TITLES.items():
        report = ingest(SAMPLES / SAMPLE_FILES[name])
        out[name] = (title, extract_facts(report)[0])
    return out


def test_samples_break_exactly_the_three_documented_identities(samples: dict[str, tuple[str, list[Fact]]]) -> None:
    found = {name: check_facts(title, facts) for name, (title, facts) in samples.items()}
    assert {name: len(v) for name, v in found.items()} == {n: 3 if n == "lanxi-2022" else 0 for n in samples}
    texts = sorted(v.description for v in found["lanxi-2022"])
    assert texts == sorted([
        "三（七）总计 自然人列：186 ≠ （一）至（六）之和 168",
        "自然人列：一 + 二 = 167 + 8 = 175 ≠ 三（七）+ 四 = 186 + 7 = 193",
        "（七）总计 行：总计列 215 ≠ 六类申请人之和 186+25+1+2+14+5 = 233",
    ])
    for v in found["lanxi-2022"]:
        assert v.report_title == "澜溪市人民政府2022年政府信息公开工作年度报告" and v.year == 2022
        assert any(f.raw == "186" and f.row_path == T3_TOTAL_ROW and f.column == "自然人" for f in v.cells)


@pytest.mark.parametrize("qid", [f"s{i:02d}" for i in range(1, 12)])
def test_number_questions_answer_from_facts(samples: dict[str, tuple[str, list[Fact]]], qid: str) -> None:
    question = load_questions()[qid]
    facts = samples[TITLES[str(question["report"])]][1]
    query = match_fact_question(str(question["question"]), facts)
    assert query is not None and (query.table, query.row_path, query.column) == QUESTION_TARGETS[qid]
    [cell] = query_facts(query, facts)
    value = cell.value if cell.value is not None else -1.0
    assert f"{value:.2f}".rstrip("0").rstrip(".") == question["expect_all"][0]  # type: ignore[index]
    assert cell.passage_id is not None


@pytest.mark.parametrize(("qid", "earlier", "later", "text"), [
    ("s25", "qinghe-2021", "qinghe-2022", (63, 78)),
    ("s26", "lanxi-2021", "lanxi-2022", (8, 6)),
])
def test_compare_questions(samples: dict[str, tuple[str, list[Fact]]], qid: str, earlier: str, later: str,
                           text: tuple[int, int]) -> None:
    query = match_fact_question(str(load_questions()[qid]["question"]))
    assert query is not None
    [a] = query_facts(query, samples[earlier][1])
    [b] = query_facts(query, samples[later][1])
    assert (a.value, b.value) == text


def test_carried_over_equals_next_years_carried_in(samples: dict[str, tuple[str, list[Fact]]]) -> None:
    for earlier, later in (("qinghe-2021", "qinghe-2022"), ("lanxi-2021", "lanxi-2022")):
        out = {f.column: f.value for f in samples[earlier][1] if f.row_path == (T3_CARRIED_OUT,)}
        into = {f.column: f.value for f in samples[later][1] if f.row_path == ("二、上年结转政府信息公开申请数量",)}
        assert out == into and len(out) == 7


def test_question_columns_follow_the_template_version_of_the_facts() -> None:
    def t2(row: tuple[str, ...], column: str) -> Fact:
        return Fact("r", "机关", 2020, "T2", row, column, 1.0, "1", "件", "r:t0", 1, 1)

    facts = [t2(("第二十条第（五）项", "行政许可"), "处理决定数量"),
             t2(("第二十条第（一）项", "规范性文件"), "本年新制作数量")]
    licence = match_fact_question("2020年作出了多少件行政许可决定？", facts)
    assert licence == FactQuery("T2", ("第二十条第（五）项", "行政许可"), "处理决定数量")
    docs = match_fact_question("2020年制发了多少件规范性文件？", facts)
    assert docs == FactQuery("T2", ("第二十条第（一）项", "规范性文件"), "本年新制作数量")
    assert match_fact_question("2022年作出了多少件行政许可决定？") == FactQuery(
        "T2", ("第二十条第（五）项", "行政许可"), "本年处理决定数量")
