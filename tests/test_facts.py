"""Tests of table-to-template mapping (assistant.analyse.facts), on hand-made grids and on the sample reports."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from assistant.analyse.facts import (
    T3_CARRIED_IN,
    T3_CARRIED_OUT,
    T3_NEW,
    T3_RESULTS,
    T3_TOTAL_ROW,
    extract_facts,
    parse_value,
    t3_template_rows,
)
from assistant.records import Fact, Passage, Report, ReportMeta, Table, TableCell

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
SEED = Path(__file__).resolve().parent.parent / "corpus" / "longquan-2020.txt"

Spec = str | tuple[str, int, int]  # text, or (text, rowspan, colspan)


def make_table(rows: list[list[Spec]], table_id: str = "r:t0", section: str = "三") -> Table:
    """A Table placed like an HTML table: rowspan/colspan cells skip the positions they cover."""
    taken: set[tuple[int, int]] = set()
    cells: list[TableCell] = []
    for r, row in enumerate(rows):
        col = 0
        for spec in row:
            text, rowspan, colspan = (spec, 1, 1) if isinstance(spec, str) else spec
            while (r, col) in taken:
                col += 1
            cells.append(TableCell(r, col, text, rowspan, colspan))
            taken |= {(r + i, col + j) for i in range(rowspan) for j in range(colspan)}
            col += colspan
    n_cols = max(c for _, c in taken) + 1
    return Table(table_id, 0, section, len(rows), n_cols, tuple(cells), "html")


def make_report(*tables: Table, passages: tuple[Passage, ...] = ()) -> Report:
    meta = ReportMeta("测试年报", "测试机关", 2021, "2021", "html", "x.html", "0" * 64)
    return Report("r", meta, "", (), tables, passages)


def by_key(facts: list[Fact]) -> dict[tuple[str, tuple[str, ...], str], Fact]:
    return {(f.table, f.row_path, f.column): f for f in facts}


T3_HEADER: list[list[Spec]] = [
    [("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", 3, 3), ("申请人情况", 1, 7)],
    [("自然人", 2, 1), ("法人或其他组织", 1, 5), ("总计", 2, 1)],
    ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"],
]


def _variant(label: str) -> str:
    """A label as some reports print it: no numerals, half-width brackets and quotes, stray spaces."""
    label = re.sub(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七]）|\d+\.)", "", label)
    return label.replace("（", "(").replace("）", ")").replace("“", '"').replace("”", '"').replace("属于", "属于 ")


def t3_rows(version: str = "2021", numbered: bool = True) -> list[list[Spec]]:
    """A complete T3 grid: every applicant cell holds the row's ordinal, 总计 six times it (rows add up)."""
    paths = t3_template_rows(version)
    label = (lambda t: t) if numbered else _variant
    body: list[list[Spec]] = []
    for i, path in enumerate(paths):
        values: list[Spec] = [str(i)] * 6 + [str(6 * i)]
        lead: list[Spec] = [(label(T3_RESULTS), len(paths) - 3, 1)] if path[1:2] == ("（一）予以公开",) else []
        if len(path) == 1:
            body.append([(label(path[0]), 1, 3), *values])
        elif len(path) == 2:
            body.append([*lead, (label(path[1]), 1, 2), *values])
        else:
            siblings = [p for p in paths if p[:2] == path[:2]]
            block: list[Spec] = [(label(path[1]), len(siblings), 1)] if siblings[0] == path else []
            body.append([*lead, *block, label(path[2]), *values])
    return T3_HEADER + body


def test_parse_value_distinguishes_zero_from_blank() -> None:
    assert parse_value("0") == 0.0
    assert parse_value(" 612.45 ") == 612.45
    assert parse_value("１,２０３") == 1203.0
    assert parse_value("十五") == 15.0
    for blank in ("", " ", "—", "-", "/", "——"):
        assert parse_value(blank) is None


@pytest.mark.parametrize("version", ["2021", "2019"])
def test_t3_every_template_row_and_column(version: str) -> None:
    facts, warnings = extract_facts(make_report(make_table(t3_rows(version))))
    keys = by_key(facts)
    paths = t3_template_rows(version)
    assert len(paths) == (25 if version == "2021" else 23)
    assert len(facts) == len(paths) * 7
    for i, path in enumerate(paths):
        for col in ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计"):
            fact = keys[("T3", path, col)]
            value = 6 * i if col == "总计" else i
            assert fact.value == value and fact.unit == "件" and fact.raw == str(value)
    assert [w.code for w in warnings] == ["facts_missing", "facts_missing"]  # T2 and T4


def test_t3_label_variants_without_numerals_and_halfwidth() -> None:
    facts, _ = extract_facts(make_report(make_table(t3_rows("2021", numbered=False))))
    keys = by_key(facts)
    paths = t3_template_rows("2021")
    assert len(facts) == 25 * 7
    assert keys[("T3", (T3_RESULTS, "（三）不予公开", "3.危及“三安全一稳定”"), "总计")].value == 36
    assert keys[("T3", (T3_RESULTS, "（六）其他处理", "3.其他"), "总计")].value == 6 * paths.index(
        (T3_RESULTS, "（六）其他处理", "3.其他"))


def test_t3_single_header_row_and_unresolved_rowspans() -> None:
    """法人或其他组织 merged into the leaf headers; block labels only on their first row (no rowspan)."""
    rows: list[list[Spec]] = [
        ["项目", "", "", "自然人", "法人或其他组织-商业企业", "科研机构", "社会公益组织", "法律服务机构",
         "法人或其他组织 其他", "合计"],
        ["一、本年新收政府信息公开申请数量", "", "", "5", "1", "0", "0", "0", "0", "6"],
        ["三、本年度办理结果", "（三）不予公开", "1、属于国家秘密", "0", "", "—", "0", "0", "0", "0"],
        ["", "", "7. 属于行政执法案卷", "2", "0", "0", "0", "0", "0", "2"],
        ["", "（六）其他处理", "3．其他", "1", "0", "0", "0", "0", "0", "1"],
    ]
    keys = by_key(extract_facts(make_report(make_table(rows)))[0])
    assert keys[("T3", (T3_NEW,), "总计")].value == 6
    assert keys[("T3", (T3_NEW,), "其他")].value == 0
    secret = (T3_RESULTS, "（三）不予公开", "1.属于国家秘密")
    assert keys[("T3", secret, "商业企业")].value is None and keys[("T3", secret, "商业企业")].raw == ""
    assert keys[("T3", secret, "科研机构")].value is None and keys[("T3", secret, "科研机构")].raw == "—"
    assert keys[("T3", secret, "自然人")].value == 0
    assert keys[("T3", (T3_RESULTS, "（三）不予公开", "7.属于行政执法案卷"), "总计")].value == 2
    assert keys[("T3", (T3_RESULTS, "（六）其他处理", "3.其他"), "总计")].value == 1


def test_t3_split_over_two_tables_without_header_in_second() -> None:
    first = make_table(T3_HEADER + [[(T3_NEW, 1, 3), *"2111117"]], "r:t0")
    second = make_table([
        [(T3_RESULTS, 2, 1), ("（一）予以公开", 1, 2), *"7000007"],
        [("（二）部分公开", 1, 2), *"1111116"],
        [(T3_CARRIED_OUT, 1, 3), *"4000509"],
    ], "r:t1")
    keys = by_key(extract_facts(make_report(first, second))[0])
    assert keys[("T3", (T3_NEW,), "总计")].value == 7
    assert keys[("T3", (T3_RESULTS, "（一）予以公开"), "自然人")].value == 7
    assert keys[("T3", (T3_RESULTS, "（一）予以公开"), "总计")].table_id == "r:t1"
    assert keys[("T3", (T3_CARRIED_OUT,), "总计")].value == 9
    assert ("T3", (T3_CARRIED_IN,), "总计") not in keys


def test_t3_rows_out_of_line_with_the_header_are_read_right_aligned() -> None:
    """A scraped pipe table placed without its rowspans: labels and numbers shift left on some rows."""
    rows: list[list[Spec]] = [
        [("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", 1, 3), ("申请人情况", 1, 7)],
        ["自然人", ("法人或其他组织", 1, 5), "总计"],
        ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"],
        [(T3_NEW, 1, 3), *"1000001"],
        [T3_RESULTS, ("（一）予以公开", 1, 2), *"2000002"],
        [("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", 1, 2), *"3000003"],
        ["（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", *"0000000"],
        ["3.其他", *"4000004"],
        [("（七）总计", 1, 2), *"9000009"],
    ]
    keys = by_key(extract_facts(make_report(make_table(rows)))[0])
    assert keys[("T3", (T3_NEW,), "总计")].value == 1
    assert keys[("T3", (T3_RESULTS, "（一）予以公开"), "总计")].value == 2
    assert keys[("T3", (T3_RESULTS, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"), "自然人")].value == 3
    assert keys[("T3", (T3_RESULTS, "（六）其他处理", "3.其他"), "总计")].value == 4
    assert keys[("T3", T3_TOTAL_ROW, "自然人")].value == 9
    assert len(keys) == 6 * 7


T4_GRID: list[list[Spec]] = [
    [("行政复议", 1, 5), ("行政诉讼", 1, 10)],
    [("结果维持", 2, 1), ("结果纠正", 2, 1), ("其他结果", 2, 1), ("尚未审结", 2, 1), ("总计", 2, 1),
     ("未经复议直接起诉", 1, 5), ("复议后起诉", 1, 5)],
    ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] * 2,
    [str(v) for v in (1, 2, 1, 1, 5, 6, 0, 1, 0, 7, 4, 3, 2, 6, 15)],
]


def test_t4_columns_by_header_meaning() -> None:
    facts, _ = extract_facts(make_report(make_table(T4_GRID, section="四")))
    keys = by_key(facts)
    assert len(facts) == 15
    assert keys[("T4", ("行政复议",), "行政复议·总计")].value == 5
    assert keys[("T4", ("行政诉讼", "未经复议直接起诉"), "行政诉讼·未经复议直接起诉·结果维持")].value == 6
    assert keys[("T4", ("行政诉讼", "复议后起诉"), "行政诉讼·复议后起诉·总计")].value == 15


def test_t4_without_usable_header_falls_back_to_position() -> None:
    rows: list[list[Spec]] = [["行政复议", "行政诉讼"] + [""] * 13,
                              [str(v) for v in (0, 1, 2, 3, 6, 1, 1, 1, 1, 4, 1, 0, 0, 13, 14)]]
    keys = by_key(extract_facts(make_report(make_table(rows, section="四")))[0])
    assert keys[("T4", ("行政复议",), "行政复议·结果维持")].value == 0
    assert keys[("T4", ("行政诉讼", "复议后起诉"), "行政诉讼·复议后起诉·尚未审结")].value == 13


def test_t2_2021_blocks_units_and_passages() -> None:
    rows: list[list[Spec]] = [
        [("第二十条第(一)项", 1, 4)],
        ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
        ["规章", "0", "0", "0"],
        ["行政规范性文件", "14", "6", "87"],
        [("第二十条第（五）项", 1, 4)],
        ["信息内容", ("本年处理决定数量", 1, 3)],
        ["行政许可", ("4326", 1, 3)],
        [("第二十条第（六）项", 1, 4)],
        ["信息内容", ("本年处理决定数量", 1, 3)],
        ["行政处罚", ("1052", 1, 3)],
        ["行政强制", ("/", 1, 3)],
        [("第二十条第（八）项", 1, 4)],
        ["信息内容", ("本年收费金额（单位：万元）", 1, 3)],
        ["行政事业性收费", ("612.45", 1, 3)],
    ]
    passage = Passage("r:p9", "r", "二", 0, 4, "行政许可 4326", ("测试年报", "二"), "table_row", "r:t0", 6)
    facts, warnings = extract_facts(make_report(make_table(rows, section="二"), passages=(passage,)))
    keys = by_key(facts)
    assert len(facts) == 10
    assert keys[("T2", ("第二十条第（一）项", "行政规范性文件"), "现行有效件数")].value == 87
    licence = keys[("T2", ("第二十条第（五）项", "行政许可"), "本年处理决定数量")]
    assert (licence.value, licence.cell_row, licence.cell_col, licence.passage_id) == (4326, 6, 1, "r:p9")
    assert keys[("T2", ("第二十条第（六）项", "行政强制"), "本年处理决定数量")].value is None
    fee = keys[("T2", ("第二十条第（八）项", "行政事业性收费"), "本年收费金额")]
    assert (fee.value, fee.unit) == (612.45, "万元")
    assert {w.section for w in warnings if w.code == "facts_missing"} == {"三", "四"}


def test_t2_2019_columns() -> None:
    rows: list[list[Spec]] = [
        [("第二十条第（一）项", 1, 4)],
        ["信息内容", "本年新制作数量", "本年新公开数量", "对外公开总数量"],
        ["规范性文件", "3", "3", "40"],
        [("第二十条第（五）项", 1, 4)],
        ["信息内容", "上一年项目数量", "本年增/减", "处理决定数量"],
        ["行政许可", "120", "-2", "3050"],
        [("第二十条第（九）项", 1, 4)],
        ["信息内容", "采购项目数量", ("采购总金额", 1, 2)],
        ["政府集中采购", "12", ("356.8", 1, 2)],
    ]
    keys = by_key(extract_facts(make_report(make_table(rows, section="二")))[0])
    assert keys[("T2", ("第二十条第（一）项", "规范性文件"), "对外公开总数量")].value == 40
    assert keys[("T2", ("第二十条第（五）项", "行政许可"), "本年增/减")].value == -2
    assert keys[("T2", ("第二十条第（五）项", "行政许可"), "处理决定数量")].value == 3050
    money = keys[("T2", ("第二十条第（九）项", "政府集中采购"), "采购总金额")]
    assert (money.value, money.unit) == (356.8, "万元")


def test_unrelated_table_yields_nothing() -> None:
    info = make_table([["索引号：", "QH000318/2022-00011", "主题分类：", "政务公开"]], section="preamble")
    facts, warnings = extract_facts(make_report(info))
    assert facts == [] and sorted(w.section or "" for w in warnings) == ["三", "二", "四"]


def ingest(path: Path) -> Report:
    from assistant.ingest import ingest_file

    return ingest_file(path)


SAMPLE_FILES = {
    "qinghe-2021": "qinghe-county-2021.html", "qinghe-2022": "qinghe-county-2022.pdf",
    "lanxi-2021": "lanxi-city-2021.txt", "lanxi-2022": "lanxi-city-2022.html", "eco-2022": "lanxi-city-eco-2022.docx",
}
R = T3_RESULTS
PARTIAL = (R, "（二）部分公开（区分处理的，只计这一情形，不计其他情形）")
T2_RULES, T2_DOCS = ("第二十条第（一）项", "规章"), ("第二十条第（一）项", "行政规范性文件")
T2_COUNT = "本年处理决定数量"
T4_PREFIX = {"复议": ("行政复议",), "直接": ("行政诉讼", "未经复议直接起诉"), "复议后": ("行政诉讼", "复议后起诉")}
RESULTS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")

# From /work/shared/samples/README.md, "The numbers": T3 总计 of 一/二/三（七）/四/（一）; T4 复议 ×5, 诉讼 总计 ×2.
README_T3_T4 = {
    "qinghe-2021": (63, 4, 64, 3, 28, (2, 1, 0, 0, 3), 2, 1),
    "qinghe-2022": (78, 3, 77, 4, 36, (3, 0, 1, 1, 5), 1, 1),
    "lanxi-2021": (183, 9, 182, 10, 69, (5, 1, 1, 1, 8), 4, 1),
    "lanxi-2022": (214, 10, 215, 9, 82, (4, 1, 0, 1, 6), 4, 2),
    "eco-2022": (49, 1, 49, 1, 22, (1, 0, 0, 0, 1), 0, 0),
}
# From the README's T2 paragraph: 规章 ×3, 行政规范性文件 ×3, 行政许可, 行政处罚, 行政强制, 收费 (万元).
README_T2 = {
    "qinghe-2021": (0, 0, 0, 14, 6, 87, 4326, 1052, 37, 612.45),
    "qinghe-2022": (0, 0, 0, 11, 9, 89, 4871, 1187, 29, 587.30),
    "lanxi-2021": (2, 1, 23, 19, 11, 146, 12384, 3207, 215, 2846.70),
    "lanxi-2022": (1, 2, 22, 23, 14, 155, 13902, 2968, 188, 2611.25),
    "eco-2022": (0, 0, 0, 2, 1, 9, 486, 173, 21, 0),
}
# Read from the files themselves: (report, row path, column, value).
FILE_CELLS = [
    ("qinghe-2021", (R, "（四）无法提供", "1.本机关不掌握相关政府信息"), "总计", 12),
    ("qinghe-2021", (R, "（四）无法提供", "1.本机关不掌握相关政府信息"), "自然人", 9),
    ("qinghe-2021", (R, "（三）不予公开", "7.属于行政执法案卷"), "法律服务机构", 1),
    ("qinghe-2021", (R, "（三）不予公开", "3.危及“三安全一稳定”"), "自然人", 1),
    ("qinghe-2022", (R, "（六）其他处理", "3.其他"), "商业企业", 1),
    ("qinghe-2022", (R, "（四）无法提供", "1.本机关不掌握相关政府信息"), "其他", 1),
    ("qinghe-2022", T3_TOTAL_ROW, "自然人", 59),
    ("lanxi-2021", PARTIAL, "总计", 21),
    ("lanxi-2021", (R, "（五）不予处理", "1.信访举报投诉类申请"), "其他", 1),
    ("lanxi-2021", (R, "（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"), "法律服务机构", 1),
    ("lanxi-2022", PARTIAL, "总计", 26),
    ("lanxi-2022", (R, "（三）不予公开", "7.属于行政执法案卷"), "总计", 5),
    ("lanxi-2022", (R, "（三）不予公开", "7.属于行政执法案卷"), "法律服务机构", 2),
    ("lanxi-2022", T3_TOTAL_ROW, "自然人", 186),
    ("lanxi-2022", (R, "（四）无法提供", "3.补正后申请内容仍不明确"), "自然人", 2),
    ("eco-2022", (R, "（三）不予公开", "4.保护第三方合法权益"), "商业企业", 2),
    ("eco-2022", (R, "（五）不予处理", "1.信访举报投诉类申请"), "总计", 2),
    ("eco-2022", (T3_CARRIED_OUT,), "商业企业", 1),
]


def readme_expectations() -> list[tuple[str, str, tuple[str, ...], str, float]]:
    """Every README number as (report, table, row path, column, value)."""
    out: list[tuple[str, str, tuple[str, ...], str, float]] = []
    for name, (new, carried, total, out_, shown, review, direct, after) in README_T3_T4.items():
        rows = [(T3_NEW,), (T3_CARRIED_IN,), T3_TOTAL_ROW, (T3_CARRIED_OUT,), (R, "（一）予以公开")]
        out += [(name, "T3", row, "总计", v) for row, v in zip(rows, (new, carried, total, out_, shown), strict=True)]
        out += [(name, "T4", ("行政复议",), f"行政复议·{r}", v) for r, v in zip(RESULTS, review, strict=True)]
        out += [(name, "T4", T4_PREFIX[k], "·".join((*T4_PREFIX[k], "总计")), v)
                for k, v in (("直接", direct), ("复议后", after))]
    for name, values in README_T2.items():
        cells = [(T2_RULES, c) for c in ("本年制发件数", "本年废止件数", "现行有效件数")]
        cells += [(T2_DOCS, c) for c in ("本年制发件数", "本年废止件数", "现行有效件数")]
        cells += [(("第二十条第（五）项", "行政许可"), T2_COUNT), (("第二十条第（六）项", "行政处罚"), T2_COUNT),
                  (("第二十条第（六）项", "行政强制"), T2_COUNT), (("第二十条第（八）项", "行政事业性收费"), "本年收费金额")]
        out += [(name, "T2", row, col, v) for (row, col), v in zip(cells, values, strict=True)]
    return out


@pytest.fixture(scope="module")
def sample_facts() -> dict[str, list[Fact]]:
    return {name: extract_facts(ingest(SAMPLES / file))[0] for name, file in SAMPLE_FILES.items()}


def test_every_readme_number_is_extracted(sample_facts: dict[str, list[Fact]]) -> None:
    expected = readme_expectations()
    assert len(expected) == 5 * (5 + 7 + 10)
    wrong = []
    for name, table, row, column, value in expected:
        found = by_key(sample_facts[name]).get((table, row, column))
        if found is None or found.value != value:
            wrong.append((name, table, row, column, value, found and found.raw))
    assert wrong == []


@pytest.mark.parametrize(("name", "row", "column", "value"), FILE_CELLS)
def test_cells_read_from_the_files(sample_facts: dict[str, list[Fact]], name: str, row: tuple[str, ...],
                                   column: str, value: float) -> None:
    assert by_key(sample_facts[name])[("T3", row, column)].value == value


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_fact_counts_units_and_provenance(sample_facts: dict[str, list[Fact]], name: str) -> None:
    report = ingest(SAMPLES / SAMPLE_FILES[name])
    facts, warnings = extract_facts(report)
    assert [w.code for w in warnings] == []
    assert sorted(Counter(f.table for f in facts).items()) == [("T2", 10), ("T3", 25 * 7), ("T4", 15)]
    assert {f.unit for f in facts if f.table == "T2" and f.column == "本年收费金额"} == {"万元"}
    assert all(f.unit == "件" for f in facts if f.column != "本年收费金额")
    passages = {p.passage_id: p for p in report.passages}
    tables = {t.table_id: t for t in report.tables}
    for f in facts:
        cell = tables[f.table_id].cell(f.cell_row, f.cell_col)
        assert cell is not None and cell.text.strip() == f.raw
        assert f.passage_id is not None and f.raw in passages[f.passage_id].text
        assert (passages[f.passage_id].table_id, passages[f.passage_id].table_row) == (f.table_id, f.cell_row)


def test_seed_without_tables_yields_warnings_not_zeros() -> None:
    facts, warnings = extract_facts(ingest(SEED))
    assert facts == []
    assert sorted((w.code, w.section) for w in warnings) == [("facts_missing", s) for s in ("三", "二", "四")]


def test_unknown_t3_row_is_reported_not_guessed() -> None:
    rows = T3_HEADER + [[(T3_NEW, 1, 3), *"1000001"], [("五、某个自创的统计项", 1, 3), *"2000002"]]
    facts, warnings = extract_facts(make_report(make_table(rows)))
    assert {f.row_path for f in facts} == {(T3_NEW,)}
    assert [w.message for w in warnings if w.code == "facts_row_unmatched"] == ["表T3 未识别的行：五、某个自创的统计项"]
