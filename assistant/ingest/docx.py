"""DOCX loader (python-docx): paragraphs and tables in document order, merged cells once."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import docx
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from lxml import etree

from assistant.errors import CorruptFileError
from assistant.ingest import limits
from assistant.ingest.blocks import Block, LoadedDocument, SourceCell, SourceTable
from assistant.ingest.clean import cell_text

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CHUNK = 1 << 20


def _verify_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """Unpack one member in chunks and count its bytes; OverLimit past the limit, whatever it declares."""
    size = 0
    with archive.open(info) as member:  # zipfile checks the CRC at the end
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            limits.check_unpacked(info.filename, size)
    return size


def _check_archive(path: str | Path, data: bytes) -> None:
    """Zip-bomb and fake-size checks: declared sizes from the central directory, then each member
    unpacked once in bounded chunks, its real size compared with the declared one."""
    if data.startswith(_OLE_MAGIC):
        raise CorruptFileError(path, "这是旧版 Word（.doc）或加密的文档，请另存为 .docx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if "word/document.xml" not in {info.filename for info in infos}:
                raise CorruptFileError(path, "压缩包中没有 word/document.xml，不是 Word 文档")
            limits.check_unpacked("文档", sum(info.file_size for info in infos))
            total = 0
            for info in infos:
                real = _verify_member(archive, info)
                if real != info.file_size:
                    raise CorruptFileError(path, f"{info.filename} 声明大小 {info.file_size} 字节，实际 {real} 字节")
                total += real
                limits.check_unpacked("文档", total)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as err:
        raise CorruptFileError(path, f"不是有效的 DOCX（zip）文件：{err}") from err
    except (OSError, zlib.error) as err:
        raise CorruptFileError(path, f"DOCX 压缩数据已损坏：{err}") from err


def _paragraph_text(element: etree._Element, parent: object) -> str:
    return Paragraph(element, parent).text  # type: ignore[arg-type]


def _cell_text(tc: etree._Element, parent: object) -> str:
    lines = [_paragraph_text(p, parent) for p in tc.iter(qn("w:p"))]
    return cell_text("\n".join(lines))


def _int_attr(element: etree._Element | None, default: int) -> int:
    """A span-like attribute (gridSpan, gridBefore); OverLimit above the span limit."""
    if element is None:
        return default
    try:
        value = max(default, int(element.get(qn("w:val"), default)))
    except ValueError:
        return default
    return limits.check_span(value)


def _table(tbl: etree._Element, parent: object) -> SourceTable:
    cells: list[SourceCell] = []
    open_cells: dict[int, SourceCell] = {}  # grid column -> cell that a vMerge continue extends
    rows = tbl.findall(qn("w:tr"))
    n_cols = 0
    for r, tr in enumerate(rows):
        trPr = tr.find(qn("w:trPr"))
        col = _int_attr(trPr.find(qn("w:gridBefore")), 0) if trPr is not None else 0
        for tc in tr.findall(qn("w:tc")):
            tcPr = tc.find(qn("w:tcPr"))
            span = _int_attr(tcPr.find(qn("w:gridSpan")) if tcPr is not None else None, 1)
            merge = tcPr.find(qn("w:vMerge")) if tcPr is not None else None
            above = open_cells.get(col)
            if merge is not None and merge.get(qn("w:val"), "continue") == "continue" and above is not None:
                above.rowspan = r - above.row + 1
            else:
                cell = SourceCell(r, col, _cell_text(tc, parent), 1, span)
                cells.append(cell)
                open_cells[col] = cell
            col += span
        n_cols = max(n_cols, col)
        limits.check_cells((r + 1) * n_cols)
    return SourceTable(cells=cells, n_rows=len(rows), n_cols=n_cols, origin="docx")


def _walk(container: etree._Element, parent: object, blocks: list[Block]) -> None:
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            blocks.append(_paragraph_text(child, parent))
        elif child.tag == qn("w:tbl"):
            blocks.append(_table(child, parent))
        elif child.tag in (qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")):
            _walk(child, parent, blocks)


def load_docx(path: str | Path, data: bytes) -> LoadedDocument:
    """Parse a Word document into paragraph and table blocks."""
    _check_archive(path, data)
    try:
        document = docx.Document(io.BytesIO(data))
    except MemoryError:
        raise  # the parse worker reports it as the memory limit
    except Exception as err:  # python-docx raises several unrelated types on a bad package
        raise CorruptFileError(path, f"Word 文档无法读取：{err}") from err
    blocks: list[Block] = []
    _walk(document.element.body, document, blocks)
    title = document.core_properties.title or None
    return LoadedDocument(blocks=blocks, title_hint=title)
