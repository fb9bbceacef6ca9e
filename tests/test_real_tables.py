"""Tables of real published reports: cells read exactly, lost tables recognised, blank cells kept blank, table
checks that say what they could not check, and cross-checks that find the real discrepancies and nothing else."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import stored

from assistant.analyse.checks import check_reports, table_checks
from assistant.analyse.crosschecks import (
    CrossCheckDataError,
    cross_checks,
    find_statements,
    load_data,
    parse_data,
    prose_checks,
    year_to_year,
)
from assistant.analyse.facts import (
    T3_COLUMNS,
    T4_BLOCKS,
    T4_RESULTS,
    extract_facts,
    t3_template_rows,
    t4_column,
)
from assistant.api import Assistant
from assistant.errors import IngestError
from assistant.ingest import ingest_file
from assistant.records import Fact, Passage, Report

REAL = Path(__file__).resolve().parent / "data" / "real"
SHARED_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
EXPECTED: dict[str, Any] = json.loads((REAL / "tables" / "expected.json").read_text(encoding="utf-8"))["reports"]
SHANGHAI = "shanghai-gov-office-2019.html"


@pytest.fixture(scope="module")
def real() -> dict[str, tuple[Report, list[Fact]]]:
    out = {}
    for name in [*EXPECTED, "pingtan-2019.txt", "pingtan-2020.txt", "pingtan-2021.txt"]:
        path = REAL / name if (REAL / name).exists() else SHARED_REAL / name
        report = ingest_file(path)
        facts, warnings = extract_facts(report)
        out[name] = (dataclasses.replace(report, warnings=report.warnings + tuple(warnings)), facts)
    return out


def _cells(facts: list[Fact], table: str) -> dict[tuple[tuple[str, ...], str], Fact]:
    return {(f.row_path, f.column): f for f in facts if f.table == table}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_t3_and_t4_read_cell_exact(real: dict[str, tuple[Report, list[Fact]]], name: str) -> None:
    report, facts = real[name]
    expected = EXPECTED[name]
    rows = t3_template_rows(expected["template"])
    assert len(rows) == len(expected["t3"])
    t3 = _cells(facts, "T3")
    assert len(t3) == len(rows) * 7
    for path, values in zip(rows, expected["t3"], strict=True):
        for column, value in zip(T3_COLUMNS, values, strict=True):
            fact = t3[(path, column)]
            assert fact.value == value, (path, column)
            assert fact.raw == ("" if value is None else str(value))
            table = next(t for t in report.tables if t.table_id == fact.table_id)
            cell = table.cell(fact.cell_row, fact.cell_col)
            assert cell is not None and cell.text.strip() == fact.raw  # the fact points at its own cell
    t4 = _cells(facts, "T4")
    names = [(block, t4_column(block, result)) for block in T4_BLOCKS for result in T4_RESULTS]
    assert [t4[key].value for key in names] == expected["t4"]
    assert not [w for w in report.warnings if w.code in ("table_unconfirmed", "table_columns_by_position")]


@pytest.mark.parametrize(("name", "glued"), [
    ("pingtan-2019.txt", "230 000023"), ("pingtan-2020.txt", "200 000121"), ("pingtan-2021.txt", "640020470")])
def test_pingtan_text_exports_are_lost_tables(real: dict[str, tuple[Report, list[Fact]]], name: str,
                                             glued: str) -> None:
    report, facts = real[name]
    lost = [w for w in report.warnings if w.code == "table_unreadable"]
    assert sorted(w.section or "" for w in lost) == ["三", "二", "四"]
    assert all("单元格连在一起" in w.message and "不会用于回答" in w.message for w in lost)
    assert not any(w.code == "table_missing" for w in report.warnings)  # lost, not missing
    assert facts == []  # never a Fact from a lost table
    kinds = {p.kind for p in report.passages if glued in p.text}
    assert kinds == {"lost_table"}
    lost_passages = [p for p in report.passages if p.kind == "lost_table"]
    assert len(lost_passages) >= 3
    assert any("结果维持结果纠正" in p.text for p in lost_passages)
    for p in report.passages:
        assert report.cleaned_text[p.start:p.end] == p.text
        if p.kind == "text":  # the prose around the tables stays readable text
            assert "新收政府信息公开申请数量" not in p.text
    assert any("依申请" in p.text for p in report.passages if p.kind == "text")
    checks, violations = table_checks(report, facts)
    assert {c.table: c.status for c in checks} == {"T2": "lost", "T3": "lost", "T4": "lost"}
    assert violations == []


def test_readable_reports_have_no_lost_table(real: dict[str, tuple[Report, list[Fact]]]) -> None:
    for name in [*EXPECTED]:
        report, _ = real[name]
        assert not [p for p in report.passages if p.kind == "lost_table"], name
        assert not [w for w in report.warnings if w.code == "table_unreadable"], name
    for path in sorted(SAMPLES.glob("*.*")):
        if path.suffix in (".html", ".pdf", ".docx", ".txt"):
            report = ingest_file(path)
            assert not [w for w in report.warnings if w.code == "table_unreadable"], path.name


def test_blank_cells_stay_blank_and_blank_totals_are_not_filled_in(
        real: dict[str, tuple[Report, list[Fact]]]) -> None:
    report, facts = real[SHANGHAI]
    blanks = [f for f in facts if f.table == "T3" and f.raw == ""]
    printed_blank = sum(v is None for row in EXPECTED[SHANGHAI]["t3"] for v in row)
    assert len(blanks) == printed_blank == 126 and all(f.value is None for f in blanks)
    checks = {c.table: c for c in table_checks(report, facts)[0]}
    t3 = checks["T3"]
    assert t3.status == "not_filled" and t3.identities_failed == 0
    assert t3.blank_total_rows == ("（一）予以公开", "（二）部分公开", "1.属于国家秘密", "5.属于三类内部事务信息",
                                   "6.属于四类过程性信息", "8.属于行政查询事项", "1.本机关不掌握相关政府信息",
                                   "2.没有现成信息需要另行制作", "3.补正后申请内容仍不明确", "1.信访举报投诉类申请",
                                   "2.重复申请")
    assert "“总计”未填写" in t3.message and "空白不按 0 计" in t3.message
    assert t3.identities_skipped > 0
    assert checks["T4"].status == "not_filled" and checks["T4"].identities_checked == 0
    assert checks["T2"].status == "no_identity"


BLANK_TOTAL_T3 = """<html><body><article><h1>某县人民政府办公室2022年政府信息公开工作年度报告</h1>
<p>三、收到和处理政府信息公开申请情况</p>
<table>
<tr><td colspan="3" rowspan="3">（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）</td><td colspan="7">申请人情况</td></tr>
<tr><td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td><td rowspan="2">总计</td></tr>
<tr><td>商业企业</td><td>科研机构</td><td>社会公益组织</td><td>法律服务机构</td><td>其他</td></tr>
<tr><td colspan="3">一、本年新收政府信息公开申请数量</td><td>5</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td></tr>
<tr><td colspan="3">二、上年结转政府信息公开申请数量</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td></tr>
<tr><td rowspan="2">三、本年度办理结果</td><td colspan="2">（一）予以公开</td><td>5</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td></tr>
<tr><td colspan="2">（七）总计</td><td>5</td><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td></tr>
<tr><td colspan="3">四、结转下年度继续办理</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td></tr>
</table></article></body></html>"""


def test_a_blank_total_column_is_reported_not_passed(tmp_path: Path) -> None:
    path = tmp_path / "blank-total.html"
    path.write_text(BLANK_TOTAL_T3, encoding="utf-8")
    report = ingest_file(path)
    facts, warnings = extract_facts(report)
    totals = [f for f in facts if f.column == "总计"]
    assert len(totals) == 5 and all(f.value is None and f.raw == "" for f in totals)
    [t3] = [c for c in table_checks(report, facts, warnings)[0] if c.table == "T3"]
    assert t3.status == "not_filled" and len(t3.blank_total_rows) == 5
    assert t3.identities_checked > 0 and t3.identities_failed == 0  # the applicant columns were still checked


def test_columns_shifted_under_their_header_are_realigned_only_when_the_sums_agree(
        real: dict[str, tuple[Report, list[Fact]]]) -> None:
    report, facts = real["pingtan-2024.html"]
    t3 = next(t for t in report.tables if any("自然人" in c.text for c in t.cells))
    header = {c.text: c for c in t3.cells if c.is_header and c.text in ("自然人", "总计")}
    # the header words now name the wrong columns (as a misread PDF grid does): 自然人 over 总计 and back
    swapped = tuple(dataclasses.replace(c, text="总计" if c is header["自然人"] else "自然人" if c is header["总计"]
                                        else c.text) for c in t3.cells)
    moved = dataclasses.replace(report, tables=tuple(dataclasses.replace(t, cells=swapped) if t is t3 else t
                                                    for t in report.tables))
    realigned, warnings = extract_facts(moved)
    assert {(f.row_path, f.column, f.value) for f in realigned if f.table == "T3"} == {
        (f.row_path, f.column, f.value) for f in facts if f.table == "T3"}
    assert "table_columns_by_position" in {w.code for w in warnings}
    # numbers that add up under no reading of the columns: the table is kept as text, no T3 fact at all
    data = [c for c in t3.cells if not c.is_header and c.text.isdigit()]
    scrambled = tuple(dataclasses.replace(c, text=str(int(c.text) + 1 + c.col)) if c in data else c for c in t3.cells)
    broken = dataclasses.replace(report, tables=tuple(dataclasses.replace(t, cells=scrambled) if t is t3 else t
                                                      for t in report.tables))
    kept, warnings = extract_facts(broken)
    assert not [f for f in kept if f.table == "T3"]
    assert "table_unconfirmed" in {w.code for w in warnings}
    [check] = [c for c in table_checks(broken, kept, warnings)[0] if c.table == "T3"]
    assert check.status == "unconfirmed"


def test_several_template_tables_in_one_html_table(tmp_path: Path, real: dict[str, tuple[Report, list[Fact]]]) -> None:
    html = (REAL / "pingtan-2024.html").read_text(encoding="utf-8")
    t3_end = html.index("</table>", html.index("四、结转下年度继续办理"))
    t4_start = html.index("<table", t3_end)
    t4_first_row = html.index("<tr", t4_start)
    merged = html[:t3_end] + html[t4_first_row:]  # T4's rows continue T3's <table>
    path = tmp_path / "merged.html"
    path.write_text(merged, encoding="utf-8")
    facts, _ = extract_facts(ingest_file(path))
    expected = {(f.table, f.row_path, f.column, f.value) for f in real["pingtan-2024.html"][1] if f.table != "T2"}
    assert {(f.table, f.row_path, f.column, f.value) for f in facts if f.table != "T2"} == expected


def test_huge_spans_are_refused_quickly(tmp_path: Path) -> None:
    """Spans are bounded before the grid is allocated (the global parse limits): refused, never allocated."""
    cells = "".join(f'<td rowspan="1000" colspan="1000">{i}</td>' for i in range(50))
    rows = "".join(f"<tr>{cells}</tr>" for _ in range(200))
    path = tmp_path / "spans.html"
    path.write_text(f"<html><body><p>二、主动公开政府信息情况</p><table>{rows}</table><p>正文。</p></body></html>",
                    encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(IngestError, match="超过"):
        ingest_file(path)
    assert time.monotonic() - started < 30


# --- cross-checks -------------------------------------------------------------------------------


def test_cross_checks_find_the_real_discrepancies_and_nothing_else(
        real: dict[str, tuple[Report, list[Fact]]]) -> None:
    reports = [r for r, _ in real.values()]
    facts = [f for _, fs in real.values() for f in fs]
    found = cross_checks(reports, facts)
    shanghai = real[SHANGHAI][0]
    assert {d.report_id for d in found} == {shanghai.report_id}
    summary = sorted((d.kind, d.stated, d.table_value) for d in found)
    assert summary == [("prose_percent", 33.9, 32.05), ("prose_table", 258.0, 275.0), ("prose_table", 265.0, 337.0),
                       ("upheld_pending", None, 3.0)]
    passages = {p.passage_id: p for p in shanghai.passages}
    for d in found:
        assert d.quote == shanghai.cleaned_text[d.quote_start:d.quote_end]  # type: ignore[misc]
        passage = passages[d.passage_id or ""]
        assert passage.kind == "text" and d.quote is not None and d.quote in passage.text
        assert d.cells and all(f.report_id == shanghai.report_id for f in d.cells)
    by_value = {d.stated: d for d in found}
    assert "“（一）予以公开”行“自然人”一列相同" in by_value[258.0].description
    assert "“1.本机关不掌握相关政府信息”一行相同" in by_value[265.0].description
    upheld = next(d for d in found if d.kind == "upheld_pending")
    assert sorted((f.column, f.value) for f in upheld.cells) == [
        ("行政复议·尚未审结", 2.0), ("行政诉讼·未经复议直接起诉·尚未审结", 1.0)]
    assert "均获维持" in upheld.description and "尚未审结 2件" in upheld.description


def test_cross_checks_on_the_samples_find_only_the_deliberate_error() -> None:
    reports = [ingest_file(p) for p in sorted(SAMPLES.iterdir()) if p.suffix in (".html", ".pdf", ".docx", ".txt")]
    facts = [f for r in reports for f in extract_facts(r)[0]]
    assert cross_checks(reports, facts) == []
    checks, violations = check_reports(reports, facts)
    assert {v.report_title for v in violations} == {"澜溪市人民政府2022年政府信息公开工作年度报告"}
    assert len(violations) == 3
    statuses = {(c.report_title, c.table): c.status for c in checks if c.table != "T2"}
    assert {k: s for k, s in statuses.items() if s != "checked"} == {
        ("澜溪市人民政府2022年政府信息公开工作年度报告", "T3"): "violations"}
    # the prose of every sample repeats its T3 totals: the cross-check saw them and found them equal
    stated = [s for r in reports for p in r.passages if p.kind == "text" for s in find_statements(p, load_data())]
    assert {s.figure.name for s in stated} >= {"本年新收申请数", "办结（答复）申请数", "结转下年度继续办理数"}


def test_year_to_year_carried_over_requests(real: dict[str, tuple[Report, list[Fact]]]) -> None:
    names = ["pingtan-2023.html", "pingtan-2024.html", "pingtan-2025.html"]
    reports = [dataclasses.replace(real[n][0], meta=dataclasses.replace(real[n][0].meta, agency="平潭综合实验区"))
               for n in names]
    facts = [f for n in names for f in real[n][1]]
    assert year_to_year(reports, facts) == []  # 0 → 0 and 0 → 0 in the published reports
    # 2025's 上年结转 changed to 3: the cross-check names both years' cells
    changed = [dataclasses.replace(f, value=3.0) if f.report_id == reports[2].report_id and f.column == "总计"
               and f.row_path == ("二、上年结转政府信息公开申请数量",) else f for f in facts]
    [found] = year_to_year(reports, changed)
    assert (found.report_id, found.other_report_id) == (reports[2].report_id, reports[1].report_id)
    assert (found.stated, found.table_value) == (3.0, 0.0)
    assert "2025年报告表三“二、上年结转”为 3件" in found.description and "2024年报告" in found.description
    assert {f.report_id for f in found.cells} == {reports[1].report_id, reports[2].report_id}


def _passage(text: str) -> Passage:
    return Passage("r:p0", "r", "一", 0, len(text), text, ("t", "一、总体情况"))


@pytest.mark.parametrize(("text", "expected"), [
    ("本年度全区共收到70件申请，及时依法依规办结69件，1件结转下年度继续办理。",
     [("本年新收申请数", 70), ("办结（答复）申请数", 69), ("结转下年度继续办理数", 1)]),
    ("市政府办公厅代表市政府共受理政府信息公开申请859件，申请数量较去年回落12.3%。", [("本年新收申请数", 859)]),
    ("全年新收政府信息公开申请64件，上年结转申请3件。", [("本年新收申请数", 64), ("上年结转申请数", 3)]),
    ("答复政府信息公开申请805件（含上年度结转申请18件，另有72件申请按照《条例》顺延到下年度答复）。",
     [("办结（答复）申请数", 805), ("上年结转申请数", 18), ("结转下年度继续办理数", 72)]),
    ("共办结148件，结转至2026年6件，申请均按时答复。", [("办结（答复）申请数", 148), ("结转下年度继续办理数", 6)]),
    ("其中：予以公开及部分公开42件，占51.85%；不予公开5件；无法提供31件；不予处理1件；其他处理2件。",
     [("予以公开及部分公开数", 42), ("不予公开数", 5), ("无法提供数", 31), ("不予处理数", 1), ("其他处理数", 2)]),
    ("予以公开20件，部分公开3件。", [("予以公开数", 20), ("部分公开数", 3)]),
    ("因政府信息公开引起的行政复议案件2件、行政诉讼案件7件。", [("行政复议件数", 2), ("行政诉讼件数", 7)]),
    ("全年办理因政府信息公开申请引发的行政复议36起，行政诉讼9起。", [("行政复议件数", 36), ("行政诉讼件数", 9)]),
    ("《问政平潭之有事你说》收到群众诉求348件，现场解决162件。", []),
    ("组织开展答复文书集中评查1次，评查答复文书180份。", []),
    ("全年共审查公文512件，其中确定为主动公开371件、依申请公开98件、不予公开43件。", []),
    ("全年有7件申请因征询第三方意见延长答复期限。", []),
    ("2022年收到的申请较上年增加15件。", []),
    ("全区累计处理政府信息依申请公开92件，其中本年度新接收91件，2020年结转办理1件。",
     [("本年新收申请数", 91), ("上年结转申请数", 1)]),
    ("全年收到依申请公开事项94件，当年办结91件，结转2022年办理3件。",
     [("本年新收申请数", 94), ("办结（答复）申请数", 91), ("结转下年度继续办理数", 3)]),
])
def test_prose_figures_are_found_in_their_paraphrases(text: str, expected: list[tuple[str, int]]) -> None:
    found = find_statements(_passage(text), load_data(), 2021)
    assert [(s.figure.name, s.value) for s in found] == [(name, float(v)) for name, v in expected]


def test_no_cross_check_without_table_facts(real: dict[str, tuple[Report, list[Fact]]]) -> None:
    report, facts = real["pingtan-2021.txt"]  # its prose states 70 / 69 / 1, its tables are lost
    assert facts == [] and prose_checks(report, facts) == []


def _raw() -> dict[str, Any]:
    import tomllib

    from assistant.analyse.crosschecks import DATA_FILE

    return tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))


def test_crosscheck_data_is_validated() -> None:
    assert parse_data(_raw()).figures  # the packaged file is valid
    duplicate = _raw()
    duplicate["figure"][1]["cues"].append(duplicate["figure"][0]["cues"][0])
    with pytest.raises(CrossCheckDataError, match="已用于"):
        parse_data(duplicate)
    bad_cell = _raw()
    bad_cell["figure"][0]["cells"] = [["T9 新收 总计"]]
    with pytest.raises(CrossCheckDataError, match="T9 新收 总计"):
        parse_data(bad_cell)
    no_upheld = _raw()
    del no_upheld["upheld"]
    with pytest.raises(CrossCheckDataError, match="upheld"):
        parse_data(no_upheld)
    empty_cues = _raw()
    empty_cues["figure"][2]["cues"] = []
    with pytest.raises(CrossCheckDataError, match="cues"):
        parse_data(empty_cues)


class _Index:
    """What Assistant's check methods read from a retriever: the reports, their metadata, and a real store the
    reports and their facts were written to and analysed in as a build does (no vectors: these tests do not search)."""

    def __init__(self, reports: list[Report], facts: list[Fact], folder: Path) -> None:
        self.reports = {r.report_id: r for r in reports}
        self.metas = {r.report_id: r.meta for r in reports}
        self.facts = facts
        self.settings = None
        self.store = stored(folder, reports, facts)

    def facts_of(self, report_ids: list[str]) -> list[Fact]:
        return [f for rid in report_ids for f in self.facts if f.report_id == rid]


def test_assistant_exposes_table_checks_and_cross_checks(real: dict[str, tuple[Report, list[Fact]]],
                                                         tmp_path: Path) -> None:
    reports = [r for r, _ in real.values()]
    facts = [f for _, fs in real.values() for f in fs]
    assistant = Assistant(_Index(reports, facts, tmp_path))  # type: ignore[arg-type]
    found = assistant.cross_checks()
    assert len(found) == 4 and assistant.cross_checks(year=2024) == []
    assert {d.year for d in assistant.cross_checks(year=2019)} == {2019}
    checks = assistant.table_checks()
    assert len(checks) == 3 * len(reports)
    assert {c.status for c in checks if c.report_title.startswith("平潭综合实验区2021")} == {"lost"}


def _t3_pdf(target: Path, values: list[list[int | None]], version: str = "2021") -> None:
    """A PDF of a real T3 as printed: header words over two or three lines, spans, split by a page break."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    small = ParagraphStyle("cell", fontName="STSong-Light", fontSize=7, leading=9)
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=10, leading=14)

    def p(text: str) -> Paragraph:
        return Paragraph(text, small)

    rows: list[list[Any]] = [
        [p("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"), "", "", p("申请人情况")] + [""] * 6,
        ["", "", "", p("自然<br/>人"), p("法人或其他组织"), "", "", "", "", p("总<br/>计")],
        ["", "", "", "", p("商业<br/>企业"), p("科研<br/>机构"), p("社会<br/>公益<br/>组织"), p("法律<br/>服务<br/>机构"),
         p("其<br/>他"), ""],
    ]
    spans = [((0, 0), (2, 2)), ((3, 0), (9, 0)), ((3, 1), (3, 2)), ((4, 1), (8, 1)), ((9, 1), (9, 2))]
    paths = t3_template_rows(version)
    results = [i for i, path in enumerate(paths) if len(path) > 1]
    for i, (path, row) in enumerate(zip(paths, values, strict=True)):
        r = len(rows)
        cells = ["" if v is None else str(v) for v in row]
        if len(path) == 1:
            rows.append([p(path[0]), "", "", *cells])
            spans.append(((0, r), (2, r)))
            continue
        siblings = [j for j, q in enumerate(paths) if q[:2] == path[:2]]
        lead = p(path[0]) if i == results[0] else ""
        if i == results[0]:
            spans.append(((0, r), (0, r + len(results) - 1)))
        if len(path) == 2:
            rows.append([lead, p(path[1]), "", *cells])
            spans.append(((1, r), (2, r)))
        else:
            rows.append([lead, p(path[1]) if i == siblings[0] else "", p(path[2]), *cells])
            if i == siblings[0]:
                spans.append(((1, r), (1, r + len(siblings) - 1)))
    table = Table(rows, colWidths=[40, 60, 120] + [38] * 7)
    style = [("FONT", (0, 0), (-1, -1), "STSong-Light", 7), ("GRID", (0, 0), (-1, -1), 0.5, "black"),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    table.setStyle(TableStyle(style + [("SPAN", a, b) for a, b in spans]))
    story = [Paragraph("三、收到和处理政府信息公开申请情况", body), Spacer(1, 560), table,
             Paragraph("四、政府信息公开行政复议、行政诉讼情况", body)]
    SimpleDocTemplate(str(target), pagesize=A4).build(story)


def test_pdf_t3_across_a_page_break_with_headers_over_several_lines(tmp_path: Path) -> None:
    import pdfplumber

    expected = EXPECTED["pingtan-2024.html"]
    path = tmp_path / "t3.pdf"
    _t3_pdf(path, expected["t3"])
    with pdfplumber.open(path) as pdf:
        assert len(pdf.pages) == 2 and "社会" in (pdf.pages[0].extract_text() or "")  # the table starts on page 1
    report = ingest_file(path)
    facts, warnings = extract_facts(report)
    t3 = _cells(facts, "T3")
    for path_, row in zip(t3_template_rows("2021"), expected["t3"], strict=True):
        assert [t3[(path_, c)].value for c in T3_COLUMNS] == row, path_
    assert not [w for w in warnings if w.code in ("table_unconfirmed", "table_row_unconfirmed")]
    [check] = [c for c in table_checks(report, facts, warnings)[0] if c.table == "T3"]
    assert check.status == "checked" and check.identities_failed == 0


def test_t2_in_one_table_with_sub_headers(real: dict[str, tuple[Report, list[Fact]]]) -> None:
    """上海 2019: T2 is one <table> whose 第二十条 blocks each bring their own header row and colspans."""
    facts = [f for f in real[SHANGHAI][1] if f.table == "T2"]
    got = {(f.row_path[-1], f.column): (f.value, f.unit) for f in facts}
    zero = (0.0, "件")
    expected = {
        ("规章", "本年新制作数量"): (13.0, "件"), ("规章", "本年新公开数量"): (13.0, "件"),
        ("规章", "对外公开总数量"): (524.0, "件"),
        ("规范性文件", "本年新制作数量"): (60.0, "件"), ("规范性文件", "本年新公开数量"): (60.0, "件"),
        ("规范性文件", "对外公开总数量"): (368.0, "件"),
        **{(row, column): zero for row in ("行政许可", "其他对外管理服务事项", "行政处罚", "行政强制")
           for column in ("上一年项目数量", "本年增/减", "处理决定数量")},
        ("行政事业性收费", "上一年项目数量"): zero, ("行政事业性收费", "本年增/减"): zero,
        ("政府集中采购", "采购项目数量"): (6.0, "件"), ("政府集中采购", "采购总金额"): (251000.0, "元"),  # printed 元
    }
    assert got == expected


def test_check_command_reports_tables_violations_and_discrepancies(
        real: dict[str, tuple[Report, list[Fact]]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from assistant import cli

    reports = [r for r, _ in real.values()]
    facts = [f for _, fs in real.values() for f in fs]
    index = _Index(reports, facts, tmp_path)
    monkeypatch.setattr(cli, "_open_assistant", lambda args: Assistant(index))  # type: ignore[arg-type]
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert "表三【未填写】" in out and "表三【无法读取】" in out and "表三【已核对，相符】" in out
    assert "正文与表格、上下年度之间不一致（4 处）" in out and "均获维持" in out
    assert "未能（完全）核对表格的报告（4 份）" in out
    assert "平潭综合实验区2021年度政府信息公开工作年度报告：表二无法读取；表三无法读取；表四无法读取" in out
    assert cli.main(["check", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"tables", "violations", "discrepancies"}
    assert len(data["discrepancies"]) == 4 and len(data["tables"]) == 3 * len(reports)


def test_header_words_stacked_over_several_cells(real: dict[str, tuple[Report, list[Fact]]]) -> None:
    """A T3 header whose words sit in two or three stacked cells ("社会公益" / "组织", "法律" / "服务" / "机构"),
    as a PDF grid with rules between the lines gives them: mapped by the joined words, not by position."""
    from test_facts import make_report, make_table

    expected = EXPECTED["pingtan-2024.html"]["t3"]
    header = [
        [("", 4, 3), ("申请人情况", 1, 7)],
        [("自然人", 3, 1), ("法人或其他组织", 1, 5), ("总计", 3, 1)],
        [("商业", 1, 1), ("科研", 1, 1), ("社会公益", 1, 1), ("法律", 1, 1), ("其他", 2, 1)],
        ["企业", "机构", "组织", "服务机构"],
    ]
    body: list[list[Any]] = []
    for path, row in zip(t3_template_rows("2021"), expected, strict=True):
        labels: list[Any] = [(path[0], 1, 3)] if len(path) == 1 else [
            (path[0], 1, 1), (path[1], 1, 1 if len(path) == 3 else 2), *path[2:]]
        body.append([*labels, *[str(v) for v in row]])
    facts, warnings = extract_facts(make_report(make_table(header + body)))
    assert not {w.code for w in warnings} & {"table_columns_by_position", "table_unconfirmed"}
    t3 = _cells(facts, "T3")
    for path, row in zip(t3_template_rows("2021"), expected, strict=True):
        assert [t3[(path, c)].value for c in T3_COLUMNS] == row


def test_pipe_table_cut_short_on_a_real_page() -> None:
    """孝感 2020 (a page beginning): T2 as `|` lines, cut inside the row 其他主动公开文件 | 56 | 45."""
    report = ingest_file(SHARED_REAL / "xiaogan-gov-office-2020.txt")
    facts, _ = extract_facts(report)
    got = {(f.row_path[-1], f.column): f.value for f in facts}
    assert got == {("规章", "本年新制作数量"): 2, ("规章", "本年新公开数量"): 2, ("规章", "对外公开总数量"): 3,
                   ("规范性文件", "本年新制作数量"): 11, ("规范性文件", "本年新公开数量"): 11,
                   ("规范性文件", "对外公开总数量"): 119}
    rows = [p.text for p in report.passages if p.kind == "table_row"]
    # the cut row keeps its own label and its first two columns; it is not moved under 规范性文件
    assert rows[-1] == "其他主动公开文件：本年新 制作数量 56；本年新 公开数量 45"
