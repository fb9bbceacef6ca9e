"""A fictional 2019-template report (tests/data/songchuan-county-2020.html), end to end: ingest, facts, checks, ask.

The report uses the 2019 national template: T2 with 本年新制作数量/本年新公开数量/对外公开总数量, 上一年项目数量/
本年增/减/处理决定数量 and the 第二十条第（九）项 政府集中采购 block; T3 with a single （六）其他处理 row.
Every number below was chosen for the file and satisfies every template identity (checked by the first test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.analyse.checks import check_facts
from assistant.analyse.facts import (
    T3_CARRIED_IN,
    T3_CARRIED_OUT,
    T3_COLUMNS,
    T3_NEW,
    T3_RESULTS,
    T3_TOTAL_ROW,
    T4_BLOCKS,
    T4_RESULTS,
    extract_facts,
    t3_template_rows,
    t4_column,
)
from assistant.answer.from_tables import COMPUTED
from assistant.api import Assistant
from assistant.ingest import ingest_file
from assistant.records import Fact, Report

DATA = Path(__file__).resolve().parent / "data"
REPORT_FILE = DATA / "songchuan-county-2020.html"
SEED_FILE = Path(__file__).resolve().parents[1] / "corpus" / "longquan-2020.txt"
TITLE = "松川县人民政府2020年政府信息公开工作年度报告"
AGENCY = "松川县人民政府"
PHONE = "0000-7315620"

R = T3_RESULTS
PARTIAL = (R, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）")
OTHER = (R, "（六）其他处理")

# T2: (block, row) -> {column: value}; 采购总金额 in 万元, everything else in 件.
T2_EXPECTED: dict[tuple[str, str], dict[str, float]] = {
    ("第二十条第（一）项", "规章"): {"本年新制作数量": 0, "本年新公开数量": 0, "对外公开总数量": 0},
    ("第二十条第（一）项", "规范性文件"): {"本年新制作数量": 9, "本年新公开数量": 9, "对外公开总数量": 64},
    ("第二十条第（五）项", "行政许可"): {"上一年项目数量": 186, "本年增/减": -4, "处理决定数量": 2375},
    ("第二十条第（六）项", "行政处罚"): {"上一年项目数量": 1432, "本年增/减": 15, "处理决定数量": 867},
    ("第二十条第（六）项", "行政强制"): {"上一年项目数量": 47, "本年增/减": 0, "处理决定数量": 23},
    ("第二十条第（八）项", "行政事业性收费"): {"上一年项目数量": 21, "本年增/减": -2},
    ("第二十条第（九）项", "政府集中采购"): {"采购项目数量": 138, "采购总金额": 6274.36},
}

# T3: row path -> values in T3_COLUMNS order (自然人, 商业企业, 科研机构, 社会公益组织, 法律服务机构, 其他, 总计).
T3_EXPECTED: dict[tuple[str, ...], tuple[int, ...]] = {
    (T3_NEW,): (64, 10, 0, 1, 6, 3, 84),
    (T3_CARRIED_IN,): (3, 1, 0, 0, 0, 0, 4),
    (R, "（一）予以公开"): (21, 4, 0, 1, 2, 1, 29),
    PARTIAL: (6, 1, 0, 0, 1, 0, 8),
    (R, "（三）不予公开", "1.属于国家秘密"): (0, 0, 0, 0, 0, 0, 0),
    (R, "（三）不予公开", "2.其他法律行政法规禁止公开"): (1, 0, 0, 0, 0, 0, 1),
    (R, "（三）不予公开", "3.危及“三安全一稳定”"): (0, 0, 0, 0, 0, 0, 0),
    (R, "（三）不予公开", "4.保护第三方合法权益"): (2, 1, 0, 0, 0, 0, 3),
    (R, "（三）不予公开", "5.属于三类内部事务信息"): (1, 0, 0, 0, 0, 0, 1),
    (R, "（三）不予公开", "6.属于四类过程性信息"): (3, 0, 0, 0, 1, 0, 4),
    (R, "（三）不予公开", "7.属于行政执法案卷"): (1, 0, 0, 0, 1, 0, 2),
    (R, "（三）不予公开", "8.属于行政查询事项"): (2, 0, 0, 0, 0, 0, 2),
    (R, "（四）无法提供", "1.本机关不掌握相关政府信息"): (13, 2, 0, 0, 1, 1, 17),
    (R, "（四）无法提供", "2.没有现成信息需要另行制作"): (4, 1, 0, 0, 0, 0, 5),
    (R, "（四）无法提供", "3.补正后申请内容仍不明确"): (2, 0, 0, 0, 0, 0, 2),
    (R, "（五）不予处理", "1.信访举报投诉类申请"): (3, 0, 0, 0, 0, 0, 3),
    (R, "（五）不予处理", "2.重复申请"): (2, 1, 0, 0, 0, 0, 3),
    (R, "（五）不予处理", "3.要求提供公开出版物"): (1, 0, 0, 0, 0, 0, 1),
    (R, "（五）不予处理", "4.无正当理由大量反复申请"): (0, 0, 0, 0, 0, 0, 0),
    (R, "（五）不予处理", "5.要求行政机关确认或重新出具已获取信息"): (1, 0, 0, 0, 0, 0, 1),
    OTHER: (2, 0, 0, 0, 0, 1, 3),
    T3_TOTAL_ROW: (65, 10, 0, 1, 6, 3, 85),
    (T3_CARRIED_OUT,): (2, 1, 0, 0, 0, 0, 3),
}

# T4: the 15 numbers, block by block, in T4_RESULTS order (结果维持, 结果纠正, 其他结果, 尚未审结, 总计).
T4_EXPECTED: dict[tuple[str, ...], tuple[int, ...]] = {
    T4_BLOCKS[0]: (2, 1, 0, 1, 4),
    T4_BLOCKS[1]: (1, 0, 0, 1, 2),
    T4_BLOCKS[2]: (0, 1, 0, 0, 1),
}


def expected_cells() -> dict[tuple[str, tuple[str, ...], str], float]:
    """Every cell of the report as (table, row path, column) -> value."""
    cells: dict[tuple[str, tuple[str, ...], str], float] = {}
    for row, columns in T2_EXPECTED.items():
        cells |= {("T2", row, column): value for column, value in columns.items()}
    for path, values in T3_EXPECTED.items():
        cells |= {("T3", path, column): value for column, value in zip(T3_COLUMNS, values, strict=True)}
    for block, values in T4_EXPECTED.items():
        cells |= {("T4", block, t4_column(block, r)): value for r, value in zip(T4_RESULTS, values, strict=True)}
    return cells


def by_key(facts: list[Fact]) -> dict[tuple[str, tuple[str, ...], str], Fact]:
    return {(f.table, f.row_path, f.column): f for f in facts}


@pytest.fixture(scope="module")
def report() -> Report:
    return ingest_file(REPORT_FILE)


@pytest.fixture(scope="module")
def facts(report: Report) -> list[Fact]:
    found, warnings = extract_facts(report)
    assert warnings == []
    return found


# --- the test data itself ------------------------------------------------------------------------


def test_chosen_numbers_satisfy_every_identity() -> None:
    """The expected values (and so the file) are arithmetically consistent: the file is a clean 2019 report."""
    assert list(T3_EXPECTED) == t3_template_rows("2019")
    handled = [p for p in T3_EXPECTED if p[0] == R and p != T3_TOTAL_ROW]
    assert len(handled) == 19 and OTHER in handled
    for j in range(7):
        assert T3_EXPECTED[T3_TOTAL_ROW][j] == sum(T3_EXPECTED[p][j] for p in handled)
        assert (T3_EXPECTED[(T3_NEW,)][j] + T3_EXPECTED[(T3_CARRIED_IN,)][j]
                == T3_EXPECTED[T3_TOTAL_ROW][j] + T3_EXPECTED[(T3_CARRIED_OUT,)][j])
    for values in T3_EXPECTED.values():
        assert values[6] == sum(values[:6])
    for values in T4_EXPECTED.values():
        assert values[4] == sum(values[:4])


def test_file_is_clean_fictional_utf8_html() -> None:
    raw = REPORT_FILE.read_bytes()
    text = raw.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert "Fictional test data" in text.split("<title>")[0]
    assert "@example.org" in text and PHONE in text and "邮编：000520" in text
    assert text.count("<table") == 3 and "rowspan" in text and "colspan" in text


# --- ingestion -----------------------------------------------------------------------------------


def test_ingest_meta_sections_and_tables(report: Report) -> None:
    meta = report.meta
    assert (meta.title, meta.agency, meta.year) == (TITLE, AGENCY, 2020)
    assert (meta.template_version, meta.format) == ("2019", "html")
    for key in ("一", "二", "三", "四", "五", "六"):
        section = report.section(key)
        assert section is not None and not section.empty, key
        assert report.cleaned_text[section.body_start: section.end].strip(), key
    assert [s.key for s in report.sections if s.key != "preamble"] == ["一", "二", "三", "四", "五", "六"]
    assert len(report.tables) == 3
    assert [t.section for t in report.tables] == ["二", "三", "四"]
    assert all(t.origin == "html" for t in report.tables)
    assert PHONE in report.cleaned_text and "scxzwgk@example.org" in report.cleaned_text
    assert "<!--" not in report.cleaned_text and "Fictional" not in report.cleaned_text


# --- facts and checks ----------------------------------------------------------------------------


def test_every_cell_maps_onto_the_2019_template(facts: list[Fact]) -> None:
    expected = expected_cells()
    keys = by_key(facts)
    assert len(expected) == 19 + 23 * 7 + 15
    assert sorted(keys, key=str) == sorted(expected, key=str)  # nothing missing, nothing extra
    wrong = [(k, v, keys[k].raw) for k, v in expected.items() if keys[k].value != v]
    assert wrong == []
    assert all(f.agency == AGENCY and f.year == 2020 for f in facts)


def test_2019_specific_cells(facts: list[Fact]) -> None:
    keys = by_key(facts)
    money = keys[("T2", ("第二十条第（九）项", "政府集中采购"), "采购总金额")]
    assert (money.value, money.unit, money.raw) == (6274.36, "万元", "6274.36")
    assert keys[("T2", ("第二十条第（九）项", "政府集中采购"), "采购项目数量")].value == 138
    assert keys[("T2", ("第二十条第（五）项", "行政许可"), "本年增/减")].value == -4
    assert keys[("T2", ("第二十条第（八）项", "行政事业性收费"), "本年增/减")].value == -2
    # 规范性文件 (2019) is not renamed 行政规范性文件 (2021); no 2021 column appears.
    assert not any(f.row_path[-1] == "行政规范性文件" for f in facts)
    assert not {"本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额", "本年处理决定数量"} & {f.column for f in facts}
    # （六）其他处理 is one row, not the three items of the 2021 revision.
    other = [f for f in facts if f.table == "T3" and f.row_path[:2] == OTHER]
    assert {f.row_path for f in other} == {OTHER} and len(other) == 7
    assert by_key(facts)[("T3", OTHER, "总计")].value == 3
    assert {f.unit for f in facts if f.table in ("T3", "T4")} == {"件"}
    assert {f.unit for f in facts if f.table == "T2" and f.column != "采购总金额"} == {"件"}


def test_facts_point_at_their_cells_and_passages(report: Report, facts: list[Fact]) -> None:
    passages = {p.passage_id: p for p in report.passages}
    tables = {t.table_id: t for t in report.tables}
    for f in facts:
        cell = tables[f.table_id].cell(f.cell_row, f.cell_col)
        assert cell is not None and cell.text.strip() == f.raw
        assert f.passage_id is not None and f.raw in passages[f.passage_id].text
        assert tables[f.table_id].section == {"T2": "二", "T3": "三", "T4": "四"}[f.table]


def test_consistent_report_has_no_violation(facts: list[Fact]) -> None:
    assert check_facts(TITLE, facts) == []


T3_RULE_TOTAL = "T3 （七）总计 = （一）+…+（六）"
T3_RULE_BALANCE = "T3 一 + 二 = 三（七）+ 四"
T3_RULE_ROW = "T3 总计列 = 六类申请人之和"
T4_RULE = "T4 总计 = 前四项之和"

# (HTML snippet, its replacement, the altered cell, the violations it must cause as (rule, left, right)).
ALTERATIONS = [
    pytest.param(
        '<td colspan="2">（一）予以公开</td><td>21</td>', '<td colspan="2">（一）予以公开</td><td>12</td>',
        ("T3", (R, "（一）予以公开"), "自然人"),
        [(T3_RULE_TOTAL, 65, 56), (T3_RULE_ROW, 29, 20)], id="T3-granted-natural-person"),
    pytest.param(
        '<td colspan="2">（七）总计</td><td>65</td><td>10</td><td>0</td><td>1</td><td>6</td><td>3</td><td>85</td>',
        '<td colspan="2">（七）总计</td><td>65</td><td>10</td><td>0</td><td>1</td><td>6</td><td>3</td><td>58</td>',
        ("T3", T3_TOTAL_ROW, "总计"),
        [(T3_RULE_TOTAL, 58, 85), (T3_RULE_BALANCE, 88, 61), (T3_RULE_ROW, 58, 85)], id="T3-grand-total"),
    pytest.param(
        '<td colspan="3">一、本年新收政府信息公开申请数量</td><td>64</td>',
        '<td colspan="3">一、本年新收政府信息公开申请数量</td><td>46</td>',
        ("T3", (T3_NEW,), "自然人"),
        [(T3_RULE_BALANCE, 49, 67), (T3_RULE_ROW, 84, 66)], id="T3-new-natural-person"),
    pytest.param(
        '<td colspan="2">（六）其他处理</td><td>2</td><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td>',
        '<td colspan="2">（六）其他处理</td><td>2</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td>',
        ("T3", OTHER, "其他"),
        [(T3_RULE_TOTAL, 3, 2), (T3_RULE_ROW, 3, 2)], id="T3-other-handling-single-row"),
    pytest.param(
        "<tr><td>2</td><td>1</td><td>0</td><td>1</td><td>4</td>", "<tr><td>3</td><td>1</td><td>0</td><td>1</td><td>4</td>",
        ("T4", T4_BLOCKS[0], "行政复议·结果维持"),
        [(T4_RULE, 4, 5)], id="T4-review-upheld"),
]


@pytest.mark.parametrize(("old", "new", "cell", "expected"), ALTERATIONS)
def test_one_altered_cell_breaks_exactly_its_identities(
    tmp_path: Path, old: str, new: str, cell: tuple[str, tuple[str, ...], str],
    expected: list[tuple[str, float, float]],
) -> None:
    html = REPORT_FILE.read_text(encoding="utf-8")
    assert html.count(old) == 1, old
    altered_file = tmp_path / REPORT_FILE.name
    altered_file.write_text(html.replace(old, new), encoding="utf-8")
    report = ingest_file(altered_file)
    facts, warnings = extract_facts(report)
    assert warnings == []
    altered = by_key(facts)[cell]
    assert altered.value != expected_cells()[cell]
    violations = check_facts(report.meta.title, facts)
    assert sorted((v.rule, v.left, v.right) for v in violations) == sorted(expected)
    assert all(altered in v.cells and v.report_title == TITLE and v.agency == AGENCY for v in violations)


def test_altered_cell_descriptions(tmp_path: Path) -> None:
    html = REPORT_FILE.read_text(encoding="utf-8")
    old, new = ALTERATIONS[0].values[:2]
    (tmp_path / REPORT_FILE.name).write_text(html.replace(str(old), str(new)), encoding="utf-8")
    facts, _ = extract_facts(ingest_file(tmp_path / REPORT_FILE.name))
    descriptions = sorted(v.description for v in check_facts(TITLE, facts))
    assert descriptions == ["三（七）总计 自然人列：65 ≠ （一）至（六）之和 56",
                            "（一）予以公开 行：总计列 29 ≠ 六类申请人之和 12+4+0+1+2+1 = 20"]


# --- answers over a built index (real encoder, FAISS and BM25) -----------------------------------


@pytest.fixture(scope="module")
def index_2019(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """An index of this report and the seed (another 2020 report, of 龙泉市)."""
    from assistant.config import Settings
    from assistant.index.build import build_index

    folder = tmp_path_factory.mktemp("template-2019")
    corpus = folder / "corpus"
    corpus.mkdir()
    for file in (REPORT_FILE, SEED_FILE):
        (corpus / file.name).write_bytes(file.read_bytes())
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index", cache_dir=cache_dir)
    build_index(settings)
    return settings.index_dir


@pytest.fixture(scope="module")
def assistant_2019(index_2019: Path) -> Assistant:
    return Assistant.open(index_2019)


def test_index_holds_both_2020_reports(assistant_2019: Assistant) -> None:
    titles = {r.meta.title: r for r in assistant_2019.reports()}
    assert TITLE in titles and len(titles) == 2
    assert titles[TITLE].meta.template_version == "2019"
    assert len(assistant_2019.facts(agency="松川县", year=2020)) == 19 + 23 * 7 + 15
    assert assistant_2019.violations() == []


def test_procurement_total_answered_from_the_cell(assistant_2019: Assistant) -> None:
    answer = assistant_2019.ask("松川县2020年政府集中采购总金额是多少？")
    assert answer.found and answer.path == "facts", answer.text
    assert "6274.36万元" in answer.text and COMPUTED not in answer.text
    [citation] = answer.citations
    assert (citation.table, citation.column, citation.year, citation.agency) == ("T2", "采购总金额", 2020, AGENCY)
    assert citation.row == "第二十条第（九）项 › 政府集中采购"
    assert citation.report_title == TITLE and citation.section == "二"
    assert "6274.36" in citation.text and "政府集中采购" in citation.text


def test_t3_cell_answers(assistant_2019: Assistant) -> None:
    granted = assistant_2019.ask("松川县2020年予以公开的申请总计多少件？")
    assert granted.found and granted.path == "facts", granted.text
    assert "29件" in granted.text
    [citation] = granted.citations
    assert (citation.table, citation.column, citation.row) == ("T3", "总计", f"{R} › （一）予以公开")
    assert "29" in citation.text and citation.agency == AGENCY
    by_type = assistant_2019.ask("松川县2020年自然人申请予以公开的有多少件？")
    assert by_type.path == "facts" and "21件" in by_type.text and by_type.citations[0].column == "自然人"
    new = assistant_2019.ask("松川县2020年新收了多少件政府信息公开申请？")
    assert new.path == "facts" and "84件" in new.text and "本年新收" in (new.citations[0].row or "")
    review = assistant_2019.ask("松川县2020年行政复议总计多少件？")
    assert review.path == "facts" and "4件" in review.text and review.citations[0].table == "T4"


def test_t3_other_handling_is_one_printed_cell(assistant_2019: Assistant) -> None:
    """In the 2019 template （六）其他处理 is a single row: its total is read, not computed from items."""
    answer = assistant_2019.ask("松川县2020年其他处理的申请总计多少件？")
    assert answer.found and answer.path == "facts", answer.text
    assert "3件" in answer.text
    assert [(c.table, c.row, c.column) for c in answer.citations] == [("T3", f"{R} › （六）其他处理", "总计")]
    assert COMPUTED not in answer.text, answer.text


# Questions naming a 2019-only T2 column: (question, row path, column, value as printed in the answer).
T2_COLUMN_QUESTIONS = [
    pytest.param("松川县2020年政府集中采购项目数量是多少？", "第二十条第（九）项 › 政府集中采购", "采购项目数量",
                 "138件", id="procurement-projects"),
    pytest.param("松川县2020年行政许可处理决定数量是多少？", "第二十条第（五）项 › 行政许可", "处理决定数量",
                 "2375件", id="licence-decisions"),
    pytest.param("松川县2020年规范性文件对外公开总数量是多少？", "第二十条第（一）项 › 规范性文件", "对外公开总数量",
                 "64件", id="normative-docs-public-total"),
    pytest.param("松川县2020年行政许可上一年项目数量是多少？", "第二十条第（五）项 › 行政许可", "上一年项目数量",
                 "186件", id="licence-items-last-year"),
    pytest.param("松川县2020年行政处罚项目本年增减多少？", "第二十条第（六）项 › 行政处罚", "本年增/减",
                 "15件", id="penalty-items-change"),
    pytest.param("松川县2020年行政事业性收费上一年项目数量是多少？", "第二十条第（八）项 › 行政事业性收费",
                 "上一年项目数量", "21件", id="fee-items-last-year"),
]


@pytest.mark.parametrize(("question", "row", "column", "value"), T2_COLUMN_QUESTIONS)
def test_t2_2019_column_questions(assistant_2019: Assistant, question: str, row: str, column: str,
                                  value: str) -> None:
    answer = assistant_2019.ask(question)
    assert answer.found and answer.path == "facts", answer.text
    assert [(c.table, c.row, c.column) for c in answer.citations] == [("T2", row, column)], answer.text
    assert value in answer.text


def test_commitments_listed(assistant_2019: Assistant) -> None:
    answer = assistant_2019.ask("松川县2020年承诺了哪些改进措施？")
    assert answer.found and answer.path == "commitments", answer.text
    assert len(answer.citations) == 3
    commitments = ["建立门户网站栏目内容保障责任清单", "组织依申请公开答复文书专项评查",
                   "完成全县各乡镇政务公开事项标准目录编制"]
    for n, phrase in enumerate(commitments, 1):
        assert phrase in answer.text and phrase in answer.citations[n - 1].text, (phrase, answer.text)
    assert all(c.report_title == TITLE and c.section == "五" for c in answer.citations)
    # the problems and the closing 同时… sentence are not commitments
    assert "长期未更新" not in answer.text and "队伍建设" not in answer.text


def test_contact_phone(assistant_2019: Assistant) -> None:
    answer = assistant_2019.ask("松川县2020年政府信息公开工作的联系电话是多少？")
    assert answer.found and PHONE in answer.text, answer.text
    assert answer.citations[0].report_title == TITLE and PHONE in answer.citations[0].text
