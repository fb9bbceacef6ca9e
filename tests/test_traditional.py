"""Reports in traditional characters read like simplified ones: identity, sections, table facts, passages."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import opencc
import pytest
from conftest import REPO_ROOT, SAMPLES_DIR, SEED_FILE, SHARED_DIR

from assistant import segment
from assistant.analyse.facts import extract_facts
from assistant.ingest import ingest_file
from assistant.ingest.decode import declared_html_charset, decode_bytes
from assistant.ingest.meta import find_identity
from assistant.ingest.sections import find_headings
from assistant.records import Report
from assistant.segment import normalize, to_simplified

REAL_DIR = REPO_ROOT / "tests" / "data" / "real"
HUNAN = REAL_DIR / "hunan-gov-office-2020.txt"

# Real reports of several layouts (HTML tables, `|` lines, run-together cells, prose only, chrome, titles
# over two lines or inside a sentence), the seed and the samples: each is converted to traditional characters.
PARAPHRASED = [
    REAL_DIR / "pingtan-2024.html",
    REAL_DIR / "pingtan-2023.html",
    REAL_DIR / "shanghai-gov-office-2019.html",
    REAL_DIR / "siping-eco-2022.txt",
    REAL_DIR / "shijiazhuang-edu-2021.txt",
    REAL_DIR / "pingtan-2022.txt",
    REAL_DIR / "taizhou-city-2017.txt",
    REAL_DIR / "gaoping-gov-office-2022.txt",
    REAL_DIR / "guiyang-gov-2021.txt",
    REAL_DIR / "yancheng-eco-2022.txt",
    REAL_DIR / "jingzhouqu-gov-office-2021.txt",
    SHARED_DIR / "real" / "pingtan-2019.txt",
    SHARED_DIR / "real" / "xiaogan-gov-office-2020.txt",
    SHARED_DIR / "real" / "yangpu-2022.txt",
    SEED_FILE,
    SAMPLES_DIR / "lanxi-city-2021.txt",
    SAMPLES_DIR / "lanxi-city-2022.html",
    SAMPLES_DIR / "qinghe-county-2021.html",
    SAMPLES_DIR / "lanxi-city-eco-2022.docx",
]
WITH_TABLES = {"pingtan-2024.html", "pingtan-2023.html", "shanghai-gov-office-2019.html", "shijiazhuang-edu-2021.txt",
               "lanxi-city-2022.html", "qinghe-county-2021.html", "lanxi-city-eco-2022.docx"}

_S2T = opencc.OpenCC("s2t")


def _traditional_bytes(path: Path) -> bytes:
    """The file with its text in traditional characters (markup is ASCII and unchanged)."""
    if path.suffix == ".docx":
        out = io.BytesIO()
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = source.read(info)
                if info.filename.endswith(".xml"):
                    data = _S2T.convert(data.decode("utf-8")).encode("utf-8")
                target.writestr(info, data)
        return out.getvalue()
    text, encoding = _read(path)
    return _S2T.convert(text).encode(encoding)


def _read(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return decode_bytes(data, path, declared_html_charset(data) if path.suffix == ".html" else None)


def _facts(report: Report) -> list[tuple[Any, ...]]:
    return [(f.table, f.row_path, f.column, f.value, f.raw, f.unit, f.cell_row, f.cell_col)
            for f in extract_facts(report)[0]]


def _shape(report: Report) -> dict[str, Any]:
    """Everything that must not depend on the script the report is written in."""
    meta = report.meta
    return {
        "identity": (meta.title, meta.agency, meta.year, meta.template_version, meta.aliases),
        "sections": [(s.key, s.start, s.end, s.body_start, s.empty) for s in report.sections],
        "tables": [(t.section, t.n_rows, t.n_cols, t.header_rows, t.start, t.end,
                    [(c.row, c.col, c.text, c.row_headers, c.col_headers, c.is_header) for c in t.cells])
                   for t in report.tables],
        "passages": [(p.section, p.start, p.end, p.kind, p.table_row) for p in report.passages],
        "warnings": sorted(w.code for w in report.warnings),
        "facts": _facts(report),
    }


def test_hunan_identity_and_sections() -> None:
    report = ingest_file(HUNAN)
    meta = report.meta
    assert (meta.agency, meta.year) == ("湖南省人民政府办公厅", 2020)
    assert "省政府办公厅" in meta.aliases
    codes = {w.code for w in report.warnings}
    assert {"agency_from_text", "identity_guessed"} <= codes and "agency_missing" not in codes
    keys = [s.key for s in report.sections]
    assert keys == ["preamble", "一"]  # the page is cut inside 一(三)
    first = report.sections[1]
    assert first.title == "一、總體情況"  # as published
    assert report.cleaned_text[first.body_start:].startswith("2020年,湖南省人民政府辦公廳認真落實")
    # passages are slices of the published text, and carry the figures the questions ask about
    assert all(p.text == report.cleaned_text[p.start:p.end] for p in report.passages)
    assert any("收到政府信息公開申請190件" in p.text and p.section == "一" for p in report.passages)
    # a question in either script normalises to the stored (simplified) agency
    assert normalize("湖南省人民政府辦公廳") == meta.agency


def _traditional_pdf(target: Path, paragraphs: list[str]) -> None:
    """A PDF in traditional characters (STSong-Light has their glyphs and extracts as text), with a page footer "第 N 頁 共 M 頁"."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=10, leading=14)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.setFont("STSong-Light", 9)
        canvas.drawCentredString(A4[0] / 2, 30, f"第 {doc.page} 頁 共 2 頁")

    story: list[Any] = [part for text in paragraphs for part in (Paragraph(text, body), Spacer(1, 18))]
    story.insert(len(story) // 2, PageBreak())
    SimpleDocTemplate(str(target), pagesize=A4).build(story, onFirstPage=footer, onLaterPages=footer)


def test_traditional_pdf(tmp_path: Path) -> None:
    """A PDF report in traditional characters: identity, the six headings, footers dropped; as its simplified twin."""
    path, twin = tmp_path / "report.pdf", tmp_path / "twin.pdf"
    paragraphs = ["新竹縣人民政府辦公室2021年政府資訊公開工作年度報告", "一、總體情況", "2021年，本機關收到申請12件。",
                  "二、主動公開政府信息情況", "主動公開文件30件。", "三、收到和處理政府信息公開申請情況", "見下表。",
                  "四、政府信息公開行政復議、行政訴訟情況", "無。", "五、存在的主要問題及改進情況", "進一步規範。",
                  "六、其他需要報告的事項", "無。"]
    _traditional_pdf(path, paragraphs)
    _traditional_pdf(twin, [to_simplified(p) for p in paragraphs])
    report = ingest_file(path)
    assert _shape(report) == _shape(ingest_file(twin))
    assert (report.meta.title, report.meta.agency, report.meta.year) == (
        "新竹县人民政府办公室2021年政府信息公开工作年度报告", "新竹县人民政府办公室", 2021)
    # the loader joins 一's heading to the title line above it (short lines without a full stop), in either script
    assert [s.key for s in report.sections] == ["preamble", "二", "三", "四", "五", "六"]
    assert report.sections[1].title == "二、主動公開政府信息情況"
    assert "頁" not in report.cleaned_text and "本機關收到申請12件" in report.cleaned_text


def test_big5_page_reads_like_the_utf8_one(tmp_path: Path) -> None:
    """Traditional pages are often Big5: decoded by guess (no declaration), then read the same way."""
    text = HUNAN.read_text(encoding="utf-8")
    copy = tmp_path / HUNAN.name
    copy.write_bytes(text.encode("big5", errors="replace"))  # the mirror's mangled characters have no Big5 code
    report = ingest_file(copy)
    assert (report.meta.agency, report.meta.year) == ("湖南省人民政府办公厅", 2020)
    assert [s.key for s in report.sections] == ["preamble", "一"]
    assert "湖南省人民政府辦公廳" in report.cleaned_text


@pytest.mark.parametrize("path", PARAPHRASED, ids=lambda p: p.name)
def test_traditional_copy_reads_like_the_original(path: Path, tmp_path: Path) -> None:
    original = ingest_file(path)
    copy = tmp_path / path.name
    copy.write_bytes(_traditional_bytes(path))
    converted = ingest_file(copy)
    assert converted.cleaned_text != original.cleaned_text  # it really is written differently
    assert to_simplified(converted.cleaned_text) == original.cleaned_text  # character for character
    assert _shape(converted) == _shape(original)
    if path.name in WITH_TABLES:
        assert _facts(original), "the original's tables give facts"
    # quotes stay as published: every passage is a slice of the traditional text
    assert all(p.text == converted.cleaned_text[p.start:p.end] for p in converted.passages)
    for table, before in zip(converted.tables, original.tables, strict=True):
        rendered = converted.cleaned_text[table.start:table.end]
        assert rendered != original.cleaned_text[before.start:before.end]  # rendered in the published script


def test_partly_traditional_report(tmp_path: Path) -> None:
    """A page whose title and chrome are simplified and whose body is traditional (or the reverse)."""
    path = REAL_DIR / "pingtan-2024.html"
    source = path.read_text(encoding="utf-8")
    middle = source.index("三、收到和处理")
    original = ingest_file(path)
    for name, text in (("head-simplified.html", source[:middle] + _S2T.convert(source[middle:])),
                       ("head-traditional.html", _S2T.convert(source[:middle]) + source[middle:])):
        (tmp_path / name).write_text(text, encoding="utf-8")
        mixed = ingest_file(tmp_path / name)
        assert _shape(mixed) == _shape(original), name


def test_traditional_table_labels_give_facts(tmp_path: Path) -> None:
    """T3/T4 labels written in traditional characters (商業企業, 行政複議, 結果糾正) map onto the template."""
    path = REAL_DIR / "pingtan-2024.html"
    copy = tmp_path / path.name
    copy.write_bytes(_traditional_bytes(path))
    report = ingest_file(copy)
    assert "商業企業" in report.cleaned_text and "行政複議" in report.cleaned_text and "結果糾正" in report.cleaned_text
    facts = {(f.table, f.row_path, f.column): f.value for f in extract_facts(report)[0]}
    original = {(f.table, f.row_path, f.column): f.value for f in extract_facts(ingest_file(path))[0]}
    assert facts == original
    assert any(t == "T3" and c == "商业企业" for t, _, c in facts)
    assert any(t == "T4" and c.startswith("行政复议") for t, _, c in facts)


def test_headings_and_identity_in_traditional() -> None:
    text = ("臺北縣人民政府2021年政府資訊公開工作年度報告\n"
            "一、總體情況\n正文。\n二、主動公開政府信息情況\n正文。\n三、收到和處理政府信息公開申請情況\n正文。\n"
            "四、政府信息公開行政復議、行政訴訟情況\n正文。\n五、存在的主要問題及改進情況\n正文。\n六、其他需要報告的事項\n無。")
    keys = [h.key for h in find_headings(text)]
    assert keys == ["一", "二", "三", "四", "五", "六"]
    identity = find_identity(None, text, "x.txt")
    assert (identity.title, identity.agency, identity.year) == (
        "台北县人民政府2021年政府信息公开工作年度报告", "台北县人民政府", 2021)


def test_year_before_a_passing_mention_names_no_agency() -> None:
    """Only a full name as the subject is taken from one mention: "2022年通过市政府门户网站" names no agency."""
    text = "一、总体情况\n2022年通过市人民政府门户网站主动发布市政府文件9条，市政府办公室文件14条。"
    assert find_identity(None, text, "x.txt").agency == ""
    subject = "一、总体情况\n2022年，澜溪县人民政府认真落实条例。县政府门户网站发布文件9条。"
    assert find_identity(None, subject, "x.txt").agency == "澜溪县人民政府"


def test_to_simplified_keeps_offsets() -> None:
    text = "2020年收到政府信息公開申請190件\n資訊公開、行政復議、行政複議"
    out = to_simplified(text)
    assert out == "2020年收到政府信息公开申请190件\n信息公开、行政复议、行政复议"
    assert len(out) == len(text)
    assert to_simplified("收到和处理政府信息公开申请情况") == "收到和处理政府信息公开申请情况"


class _LengthChangingConverter:
    """Stands in for an OpenCC table with an entry that is not one character for one (none is today)."""

    def convert(self, text: str) -> str:
        return text.replace("甲乙", "丙").replace("開", "开")


def test_to_simplified_falls_back_per_character(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "_converter", _LengthChangingConverter())
    text = "公開甲乙\n公開"
    out = to_simplified(text)
    assert len(out) == len(text)
    assert out == "公开甲乙\n公开"  # the line that changed length is converted character by character


def test_opencc_t2s_is_one_for_one_on_real_text() -> None:
    """The assumption the offsets rest on, checked on real text converted both ways."""
    for path in PARAPHRASED:
        if path.suffix == ".docx":
            continue
        text = _read(path)[0]
        converted = _S2T.convert(text)
        assert len(converted) == len(text)
        assert len(to_simplified(converted)) == len(text)
