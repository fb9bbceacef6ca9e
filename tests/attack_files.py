"""Hostile report files from issue 12, generated on the fly (shared by the tests and benchmarks/reliability.py)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import docx

_PARAGRAPH = (
    "<w:p><w:r><w:t>本机关依法公开政府信息，主动公开各类信息一万余条，受理政府信息公开申请若干件。</w:t></w:r></w:p>"
)


def _docx_bytes(title: str = "某某县人民政府2021年政府信息公开工作年度报告") -> bytes:
    document = docx.Document()
    document.add_heading(title, level=1)
    document.add_paragraph("一、总体情况")
    table = document.add_table(rows=3, cols=3)
    for r in range(3):
        for c in range(3):
            table.cell(r, c).text = "项目" if r == 0 else str(r * 10 + c)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _rewrite_member(data: bytes, name: str, new: bytes) -> bytes:
    """The zip with one member's content replaced (deflated), all other members copied as they are."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, new if info.filename == name else source.read(info.filename))
    return out.getvalue()


def gridspan_docx(path: Path, span: int = 50_000_000) -> Path:
    """A small DOCX whose one table cell claims <w:gridSpan w:val="50000000"/>."""
    data = _docx_bytes()
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode("utf-8")
    first_cell = xml.index("<w:tcPr>") + len("<w:tcPr>")
    xml = xml[:first_cell] + f'<w:gridSpan w:val="{span}"/>' + xml[first_cell:]
    path.write_bytes(_rewrite_member(data, "word/document.xml", xml.encode("utf-8")))
    return path


def span_table_html(path: Path, rows: int = 60, cols: int = 30, span: int = 200) -> Path:
    """An HTML page with a rows x cols table whose every cell has rowspan=colspan=span."""
    cell = f'<td rowspan="{span}" colspan="{span}">12</td>'
    body = "".join(f"<tr><td>第{r}行</td>{cell * (cols - 1)}</tr>" for r in range(rows))
    html = (
        "<html><head><meta charset='utf-8'><title>某县2021年政府信息公开工作年度报告</title></head><body>"
        "<h1>某县2021年政府信息公开工作年度报告</h1><p>一、总体情况</p>"
        f"<table>{body}</table></body></html>"
    )
    path.write_text(html, encoding="utf-8")
    return path


def _document_xml_stream(target: zipfile.ZipFile, unpacked_mb: int) -> None:
    head = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
    block = (_PARAGRAPH * 2000).encode("utf-8")
    info = zipfile.ZipInfo("word/document.xml")
    info.compress_type = zipfile.ZIP_DEFLATED
    with target.open(info, "w", force_zip64=True) as member:
        member.write(head.encode("utf-8"))
        written = 0
        while written < unpacked_mb * 1024 * 1024:
            member.write(block)
            written += len(block)
        member.write(b"</w:body></w:document>")


def huge_paragraphs_docx(path: Path, unpacked_mb: int = 280) -> Path:
    """A DOCX whose word/document.xml unpacks to `unpacked_mb` MB of paragraphs (a zip bomb)."""
    source = zipfile.ZipFile(io.BytesIO(_docx_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename == "word/document.xml":
                _document_xml_stream(target, unpacked_mb)
            else:
                target.writestr(info.filename, source.read(info.filename))
    return path


def lying_size_docx(path: Path, claimed: int = 2048, unpacked_mb: int = 120) -> Path:
    """A DOCX whose document.xml unpacks to `unpacked_mb` MB while both zip headers claim `claimed` bytes."""
    huge_paragraphs_docx(path, unpacked_mb)
    data = bytearray(path.read_bytes())
    for signature, size_at, name_len_at, header_len in (
        (b"PK\x03\x04", 22, 26, 30),  # local file header
        (b"PK\x01\x02", 24, 28, 46),  # central directory entry
    ):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_len = struct.unpack_from("<H", data, start + name_len_at)[0]
            name = bytes(data[start + header_len : start + header_len + name_len])
            if name == b"word/document.xml":
                if struct.unpack_from("<I", data, start + size_at)[0] == 0xFFFFFFFF:  # zip64: real size in extra
                    extra_at = start + header_len + name_len
                    struct.pack_into("<Q", data, extra_at + 4, claimed)
                else:
                    struct.pack_into("<I", data, start + size_at, claimed)
            start += 4
    path.write_bytes(bytes(data))
    return path


def huge_claim_docx(path: Path, claimed: int = 0xFFFFFFF0) -> Path:
    """A small DOCX whose central directory claims document.xml unpacks to about 4 GB."""
    data = bytearray(_docx_bytes())
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        if bytes(data[start + 46 : start + 46 + name_len]) == b"word/document.xml":
            struct.pack_into("<I", data, start + 24, claimed)
        start += 4
    path.write_bytes(bytes(data))
    return path


ATTACKS = {
    "gridspan.docx": gridspan_docx,
    "span-table.html": span_table_html,
    "huge-paragraphs.docx": huge_paragraphs_docx,
    "lying-size.docx": lying_size_docx,
    "huge-claim.docx": huge_claim_docx,
}


def write_attacks(folder: Path) -> list[Path]:
    """Every hostile file of ATTACKS written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return [make(folder / name) for name, make in ATTACKS.items()]
