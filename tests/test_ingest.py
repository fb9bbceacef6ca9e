"""Ingestion of the real seed and the five sample reports: metadata, sections, tables, passages, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_FILES, SEED_FILE

from assistant.cli import main
from assistant.ingest import corpus_files, ingest_file, iter_ingest
from assistant.ingest.clean import clean_line
from assistant.ingest.passages import CHUNK_MAX_CHARS
from assistant.ingest.sections import find_headings
from assistant.records import SECTION_KEYS, Report, Table, TableCell

SIX = SECTION_KEYS[1:]


def find_cells(report: Report, section: str, row: tuple[str, ...], col: tuple[str, ...]) -> list[TableCell]:
    """Data cells of the section's tables whose row path contains every `row` word (as a substring
    of some element) and whose column path holds every `col` word as an element."""
    found = []
    for table in report.tables:
        if table.section != section:
            continue
        for cell in table.cells:
            if cell.is_header or not cell.text:
                continue
            if all(any(w in h for h in cell.row_headers) for w in row) and all(w in cell.col_headers for w in col):
                found.append(cell)
    return found


def value(report: Report, section: str, row: tuple[str, ...], col: tuple[str, ...]) -> str:
    cells = find_cells(report, section, row, col)
    assert len(cells) == 1, f"{report.meta.title} {section} {row} {col}: {[(c.row_headers, c.col_headers) for c in cells]}"
    return cells[0].text


# --- the seed ---------------------------------------------------------------------------------


def test_seed_metadata(seed_report: Report) -> None:
    meta = seed_report.meta
    assert meta.title == "龙泉市2020年政府信息公开工作年度报告"
    assert meta.agency == "龙泉市"
    assert meta.year == 2020
    assert meta.template_version == "2019"
    assert meta.format == "txt"
    assert seed_report.report_id == meta.sha256[:16]
    assert meta.source_file == str(SEED_FILE)


def test_seed_sections(seed_report: Report) -> None:
    keys = [s.key for s in seed_report.sections]
    assert keys == ["preamble", *SIX]
    for key in ("二", "三", "四"):
        section = seed_report.section(key)
        assert section is not None and section.empty
        warnings = [w for w in seed_report.warnings if w.section == key and w.code == "table_missing"]
        assert len(warnings) == 1 and "表格缺失" in warnings[0].message
    for key in ("preamble", "一", "五", "六"):
        section = seed_report.section(key)
        assert section is not None and not section.empty
    # 二 sits inline after 一's last sentence in the scraped text
    one = seed_report.section("一")
    assert one is not None and seed_report.cleaned_text[one.start : one.end].rstrip().endswith("覆盖公开工作人员100余人。")
    six = seed_report.section("六")
    assert six is not None and six.title == "六、其他需要报告的事项"


def test_seed_chrome_removed(seed_report: Report) -> None:
    for passage in seed_report.passages:
        assert "||" not in passage.text
        assert "当前位置" not in passage.text
        assert "打印 关闭" not in passage.text and "打印关闭" not in passage.text
    assert "|" not in seed_report.cleaned_text


def test_seed_dev_evidence_in_passages(seed_report: Report, dev_questions: list[dict[str, Any]]) -> None:
    evidence = [q["evidence"] for q in dev_questions if q["evidence"]]
    assert len(evidence) >= 10
    for text in evidence:
        assert any(text in p.text for p in seed_report.passages), text


# --- the samples ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_metadata_and_sections(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    title, agency, year, fmt = SAMPLE_FILES[name]
    assert (report.meta.title, report.meta.agency, report.meta.year, report.meta.format) == (title, agency, year, fmt)
    assert report.meta.template_version == "2021"
    assert [s.key for s in report.sections] == ["preamble", *SIX]
    assert not any(s.empty for s in report.sections)
    assert not report.warnings
    assert sorted(t.section for t in report.tables) == ["三", "二", "四"] or [t.section for t in report.tables] == [
        "二", "三", "四"
    ]
    assert {(t.section, t.n_rows, t.n_cols) for t in report.tables} == {("二", 14, 4), ("三", 28, 10), ("四", 4, 15)}


def test_lanxi_eco_section_five_variant(sample_reports: dict[str, Report]) -> None:
    five = sample_reports["lanxi-city-eco-2022.docx"].section("五")
    assert five is not None and five.title == "五、政府信息公开工作存在的主要问题及改进情况"


def test_html_site_chrome_removed(sample_reports: dict[str, Report]) -> None:
    text = sample_reports["qinghe-county-2021.html"].cleaned_text
    for chrome in ("0000-6123000", "主办单位", "ICP", "当前位置", "字号", "setFont", "索引号", "打印", "首页"):
        assert chrome not in text, chrome
    assert "0000-6123458" in text


def test_txt_chrome_removed(sample_reports: dict[str, Report]) -> None:
    text = sample_reports["lanxi-city-2021.txt"].cleaned_text
    for chrome in ("|", "当前位置", "字号", "打印", "关闭", "浏览次数"):
        assert chrome not in text, chrome


T3_EXPECTED = {  # 一 本年新收, 二 上年结转, （七）总计, 四 结转下年度, （一）予以公开 — column 总计
    "qinghe-county-2021.html": ("63", "4", "64", "3", "28"),
    "qinghe-county-2022.pdf": ("78", "3", "77", "4", "36"),
    "lanxi-city-2021.txt": ("183", "9", "182", "10", "69"),
    "lanxi-city-2022.html": ("214", "10", "215", "9", "82"),
    "lanxi-city-eco-2022.docx": ("49", "1", "49", "1", "22"),
}
T4_EXPECTED = {  # 复议 维持/纠正/其他/未审结/总计, 直接起诉 总计, 复议后起诉 总计
    "qinghe-county-2021.html": ("2", "1", "0", "0", "3", "2", "1"),
    "qinghe-county-2022.pdf": ("3", "0", "1", "1", "5", "1", "1"),
    "lanxi-city-2021.txt": ("5", "1", "1", "1", "8", "4", "1"),
    "lanxi-city-2022.html": ("4", "1", "0", "1", "6", "4", "2"),
    "lanxi-city-eco-2022.docx": ("1", "0", "0", "0", "1", "0", "0"),
}
T2_EXPECTED = {  # 规章 ×3, 规范性文件 ×3, 行政许可, 行政处罚, 行政强制, 收费
    "qinghe-county-2021.html": ("0", "0", "0", "14", "6", "87", "4326", "1052", "37", "612.45"),
    "qinghe-county-2022.pdf": ("0", "0", "0", "11", "9", "89", "4871", "1187", "29", "587.30"),
    "lanxi-city-2021.txt": ("2", "1", "23", "19", "11", "146", "12384", "3207", "215", "2846.70"),
    "lanxi-city-2022.html": ("1", "2", "22", "23", "14", "155", "13902", "2968", "188", "2611.25"),
    "lanxi-city-eco-2022.docx": ("0", "0", "0", "2", "1", "9", "486", "173", "21", "0"),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_t3_cells(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    total = ("申请人情况", "总计")
    got = (
        value(report, "三", ("一、本年新收",), total),
        value(report, "三", ("二、上年结转",), total),
        value(report, "三", ("三、本年度办理结果", "（七）总计"), total),
        value(report, "三", ("四、结转下年度",), total),
        value(report, "三", ("三、本年度办理结果", "（一）予以公开"), total),
    )
    assert got == T3_EXPECTED[name]
    # the full header paths of the template's columns
    new_row = find_cells(report, "三", ("一、本年新收",), ())
    assert [c.col_headers for c in new_row if c.col >= 3] == [
        ("申请人情况", "自然人"),
        *[("申请人情况", "法人或其他组织", k) for k in ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")],
        ("申请人情况", "总计"),
    ]


def test_t3_named_cells(sample_reports: dict[str, Report]) -> None:
    qinghe21 = sample_reports["qinghe-county-2021.html"]
    assert value(qinghe21, "三", ("（四）无法提供", "1.本机关不掌握相关政府信息"), ("总计",)) == "12"
    lanxi22 = sample_reports["lanxi-city-2022.html"]
    assert value(lanxi22, "三", ("（二）部分公开",), ("总计",)) == "26"
    assert value(lanxi22, "三", ("（三）不予公开", "7.属于行政执法案卷"), ("总计",)) == "5"
    assert value(lanxi22, "三", ("（七）总计",), ("自然人",)) == "186"  # the printed typo, kept faithfully
    cells = find_cells(lanxi22, "三", ("（三）不予公开", "7.属于行政执法案卷"), ("总计",))
    assert cells[0].row_headers == ("三、本年度办理结果", "（三）不予公开", "7.属于行政执法案卷")
    eco = sample_reports["lanxi-city-eco-2022.docx"]
    assert value(eco, "三", ("（一）予以公开",), ("总计",)) == "22"


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_t4_cells(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    got = tuple(value(report, "四", (), ("行政复议", k)) for k in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计"))
    got += (
        value(report, "四", (), ("行政诉讼", "未经复议直接起诉", "总计")),
        value(report, "四", (), ("行政诉讼", "复议后起诉", "总计")),
    )
    assert got == T4_EXPECTED[name]


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_t2_cells(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    columns = ("本年制发件数", "本年废止件数", "现行有效件数")
    got = tuple(value(report, "二", ("第二十条第（一）项", "规章"), (c,)) for c in columns)
    got += tuple(value(report, "二", ("行政规范性文件",), (c,)) for c in columns)
    got += tuple(value(report, "二", ("第二十条第（五）项", k), ("本年处理决定数量",)) for k in ("行政许可",))
    got += tuple(value(report, "二", ("第二十条第（六）项", k), ("本年处理决定数量",)) for k in ("行政处罚", "行政强制"))
    got += (value(report, "二", ("第二十条第（八）项", "行政事业性收费"), ()),)
    assert got == T2_EXPECTED[name]


def test_pdf_t3_joined_across_pages(sample_reports: dict[str, Report]) -> None:
    report = sample_reports["qinghe-county-2022.pdf"]
    t3 = next(t for t in report.tables if t.section == "三")
    assert t3.origin == "pdf" and t3.header_rows == 3
    corner = t3.cell(0, 0)
    assert corner is not None and corner.rowspan == 3 and corner.colspan == 3
    results = t3.cell(10, 0)  # a page-3 row, under the page-2 header
    assert results is not None and results.text == "三、本年度办理结果" and results.rowspan == 22
    assert value(report, "三", ("（六）其他处理", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"), ("总计",)) == "1"


def test_pipe_tables_recovered(sample_reports: dict[str, Report], samples_dir: Path) -> None:
    report = sample_reports["lanxi-city-2021.txt"]
    raw = (samples_dir / "lanxi-city-2021.txt").read_text(encoding="utf-8")
    assert [t.origin for t in report.tables] == ["pipe"] * 3
    for table in report.tables:
        assert table.source_span is not None
        start, end = table.source_span
        assert raw[start:end].count("|") > 10
    t3 = next(t for t in report.tables if t.section == "三")
    results = t3.cell(5, 0)
    assert results is not None and results.text == "三、本年度办理结果" and results.rowspan == 22
    refused = t3.cell(7, 1)
    assert refused is not None and refused.text == "（三）不予公开" and refused.rowspan == 8


def _each_cell_once(table: Table) -> None:
    covered: set[tuple[int, int]] = set()
    for cell in table.cells:
        slots = {(r, c) for r in range(cell.row, cell.row + cell.rowspan) for c in range(cell.col, cell.col + cell.colspan)}
        assert not slots & covered, (table.table_id, cell)
        covered |= slots
    assert covered == {(r, c) for r in range(table.n_rows) for c in range(table.n_cols)}


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_table_grids_and_row_passages(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    text = report.cleaned_text
    for table in report.tables:
        _each_cell_once(table)
        rows = [p for p in report.passages if p.table_id == table.table_id]
        assert rows and all(p.kind == "table_row" and p.section == table.section for p in rows)
        assert table.start == rows[0].start and table.end == rows[-1].end
        for passage in rows:
            assert "\n" not in passage.text
            assert text[passage.start - 1] == "\n" and (passage.end == len(text) or text[passage.end] == "\n")
            data = [c for c in table.cells if c.row == passage.table_row and not c.is_header]
            for cell in data:
                assert cell.text in passage.text
    t3_row = next(p for p in report.passages if p.kind == "table_row" and "7.属于行政执法案卷" in p.text)
    assert t3_row.text.startswith("三、本年度办理结果 › （三）不予公开 › 7.属于行政执法案卷：自然人 ")
    assert "；法人或其他组织 › 商业企业 " in t3_row.text and "；总计 " in t3_row.text


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_evidence_in_passages(
    name: str, sample_reports: dict[str, Report], sample_questions: list[dict[str, Any]]
) -> None:
    report = sample_reports[name]
    questions = [q for q in sample_questions if q["report"] == report.meta.title]
    assert questions
    for question in questions:
        if question["evidence"]:
            assert any(question["evidence"] in p.text for p in report.passages), (question["id"], question["evidence"])
        if question["kind"] != "compare":
            for expected in question["expect_all"]:
                assert expected in report.cleaned_text, (question["id"], expected)


def test_pdf_wrapped_lines_joined(sample_reports: dict[str, Report]) -> None:
    text = sample_reports["qinghe-county-2022.pdf"].cleaned_text
    assert "联系电话：0000-6123500；传真：0000-6123459；电子邮箱：qhzwgk@example.org）。" in text
    assert "财政预决算和“三公”经费信息231条，重大建设项目批准和实施信息74条。" in text
    assert "- 2 -" not in text


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_passages_well_formed(name: str, sample_reports: dict[str, Report]) -> None:
    report = sample_reports[name]
    sections = {s.key: s for s in report.sections}
    for ordinal, passage in enumerate(report.passages):
        assert passage.passage_id == f"{report.report_id}:p{ordinal}"
        assert passage.text == report.cleaned_text[passage.start : passage.end]
        section = sections[passage.section]
        assert section.start <= passage.start < passage.end <= section.end
        assert passage.heading_path == (report.meta.title, section.title)
        if passage.kind == "text":
            assert len(passage.text) <= CHUNK_MAX_CHARS
    again = ingest_file(report.meta.source_file)
    assert [p.passage_id for p in again.passages] == [p.passage_id for p in report.passages]


# --- headings by meaning ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一、总体情况\n正文。\n二、主动公开政府信息情况\n三、收到和处理政府信息公开申请情况\n"
         "四、政府信息公开行政复议、行政诉讼情况\n五、存在的主要问题及改进情况\n六、其他需要报告的事项\n无。", SIX),
        ("一.总体情况 正文。 二.主动公开情况 三.依申请公开和不予公开情况 "
         "四.因政府信息公开申请行政复议、提起行政诉讼的情况 五.政府信息公开工作存在的主要问题及改进情况 六.其他需要报告的事项 无", SIX),
        ("总体情况\n正文。\n主动公开政府信息情况\n收到和处理政府信息公开申请情况\n"
         "政府信息公开行政复议、行政诉讼情况\n存在的主要问题及改进情况\n其他需要报告的事项\n无。", SIX),
        ("第一部分 总体情况\n（一）主动公开情况。一是主动公开。\n二、主动公开政府信息情况\n", ("一", "二")),
    ],
)
def test_heading_variants(text: str, expected: tuple[str, ...]) -> None:
    assert tuple(h.key for h in find_headings(text)) == expected


def test_sub_items_are_not_headings() -> None:
    text = (
        "一、总体情况\n（一）主动公开情况。一是主动公开。\n（二）依申请公开情况。\n二是收到和处理政府信息公开申请情况良好。\n"
        "二、主动公开政府信息情况\n三、收到和处理政府信息公开申请情况\n四、政府信息公开行政复议、行政诉讼情况\n"
        "五、存在的主要问题及改进情况\n一、存在的主要问题。\n六、其他需要报告的事项\n无。"
    )
    headings = find_headings(text)
    assert [h.key for h in headings] == list(SIX)
    assert [h.title(text) for h in headings][1] == "二、主动公开政府信息情况"
    assert headings[4].title(text) == "五、存在的主要问题及改进情况"


# --- sidecars, folders, CLI ----------------------------------------------------------------------


def test_sidecars_override_metadata(tmp_path: Path, samples_dir: Path) -> None:
    report_file = tmp_path / "a.txt"
    report_file.write_bytes((samples_dir / "lanxi-city-2021.txt").read_bytes())
    (tmp_path / "catalog.csv").write_text(
        "file,title,agency,year,source_url\na.txt,目录标题,目录机关,2019,https://example.org/a\n", encoding="utf-8"
    )
    report = ingest_file(report_file)
    assert (report.meta.title, report.meta.agency, report.meta.year) == ("目录标题", "目录机关", 2019)
    assert report.meta.source_url == "https://example.org/a"
    (tmp_path / "a.txt.meta.json").write_text(json.dumps({"agency": "侧车机关", "year": 2021}), encoding="utf-8")
    report = ingest_file(report_file)
    assert (report.meta.title, report.meta.agency, report.meta.year) == ("目录标题", "侧车机关", 2021)
    assert corpus_files([tmp_path]) == [report_file]


def test_corpus_files_skips_sidecars(samples_dir: Path) -> None:
    names = [p.name for p in corpus_files([samples_dir])]
    assert names == sorted(SAMPLE_FILES)
    assert corpus_files([samples_dir / "README.md", samples_dir / "questions.jsonl"]) == []


def test_iter_ingest_corpus_folder(samples_dir: Path) -> None:
    results = list(iter_ingest([samples_dir, SEED_FILE]))
    assert len(results) == 6 and all(isinstance(r, Report) for _, r in results)


def test_cli_ingest_json(capsys: pytest.CaptureFixture[str], samples_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    code = main(["ingest", str(SEED_FILE), str(samples_dir / "lanxi-city-2022.html"), str(bad),
                 str(samples_dir / "README.md"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1  # bad.pdf and README.md were not ingested
    data = json.loads(out)
    by_file = {Path(item["file"]).name: item for item in data}
    assert by_file["bad.pdf"]["ok"] is False and by_file["bad.pdf"]["error_type"] == "CorruptFileError"
    assert by_file["README.md"]["ok"] is False
    seed = by_file["longquan-2020.txt"]["report"]
    assert seed["title"] == "龙泉市2020年政府信息公开工作年度报告" and seed["year"] == 2020
    assert [s["empty"] for s in seed["sections"]] == [False, False, True, True, True, False, False]
    assert {w["code"] for w in seed["warnings"]} == {"table_missing"}
    html = by_file["lanxi-city-2022.html"]["report"]
    assert [(t["section"], t["rows"], t["cols"], t["origin"]) for t in html["tables"]] == [
        ("二", 14, 4, "html"), ("三", 28, 10, "html"), ("四", 4, 15, "html")
    ]
    assert html["passage_count"] > 30
    assert "bad.pdf" in err


def test_cli_ingest_human_and_all_bad(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ingest", str(SEED_FILE)]) == 0
    out, _ = capsys.readouterr()
    assert "标题：龙泉市2020年政府信息公开工作年度报告" in out and "表格缺失" in out
    bad = tmp_path / "x.xyz"
    bad.write_text("?", encoding="utf-8")
    assert main(["ingest", str(bad)]) == 1
    _, err = capsys.readouterr()
    assert re.search(r"x\.xyz.*不支持的文件类型", err)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("当前位置：首页 > 政务公开 > 年度报告 |", ""),
        ("当前位置：首页 > 政务公开 > 年度报告 龙泉市2020年政府信息公开工作年度报告", "龙泉市2020年政府信息公开工作年度报告"),
        ("发布日期：2022-01-28 | 来源：澜溪市人民政府办公室 | 浏览次数： | 字号：大 中 小 |",
         "发布日期：2022-01-28 来源：澜溪市人民政府办公室"),
        ("主办单位：青禾县人民政府办公室　承办单位：青禾县大数据发展中心", ""),
        ("网站标识码：0000000001　禾ICP备00000001号-1", ""),
        ("【打印】 【关闭】", ""),
        ("分享", ""),
        ("依托12345热线提供技术支持，全年受理群众诉求2.4万件。", "依托12345热线提供技术支持，全年受理群众诉求2.4万件。"),
        ("六、其他需要报告的事项 无。 |", "六、其他需要报告的事项 无。"),
    ],
)
def test_clean_line(line: str, expected: str) -> None:
    assert clean_line(line) == expected


def test_2019_template_table(tmp_path: Path) -> None:
    rows = [
        '<tr><td colspan="4">第二十条第（一）项</td></tr>',
        "<tr><td>信息内容</td><td>本年新制作数量</td><td>本年新公开数量</td><td>对外公开总数量</td></tr>",
        "<tr><td>规范性文件</td><td>3</td><td>3</td><td>40</td></tr>",
        '<tr><td colspan="4">第二十条第（八）项</td></tr>',
        '<tr><td>信息内容</td><td>上一年项目数量</td><td colspan="2">本年增/减</td></tr>',
        '<tr><td>行政事业性收费</td><td>——</td><td colspan="2">——</td></tr>',
    ]
    page = ("<html><body><h1>某某县人民政府2020年政府信息公开工作年度报告</h1><p>一、总体情况</p><p>正文。</p>"
            f"<p>二、主动公开政府信息情况</p><table>{''.join(rows)}</table></body></html>")
    path = tmp_path / "r.html"
    path.write_text(page, encoding="utf-8")
    report = ingest_file(path)
    assert report.meta.template_version == "2019" and report.meta.year == 2020
    assert value(report, "二", ("规范性文件",), ("对外公开总数量",)) == "40"
    assert value(report, "二", ("第二十条第（八）项", "行政事业性收费"), ("上一年项目数量",)) == "——"
    assert "第二十条第（八）项 › 行政事业性收费：上一年项目数量 ——；本年增/减 ——" in report.cleaned_text.split("\n")
