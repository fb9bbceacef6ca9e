"""PDF loader (pdfplumber): text lines joined into paragraphs, ruled tables as grids."""

from __future__ import annotations

import io
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pdfplumber
from pdfminer.pdfdocument import PDFPasswordIncorrect

from assistant.errors import CorruptFileError, EncryptedPdfError, FileTooLargeError, NoTextLayerError
from assistant.ingest.blocks import Block, LoadedDocument, SourceCell, SourceTable
from assistant.ingest.clean import cell_text, join_wrapped
from assistant.ingest.tables import split_statutory
from assistant.segment import to_simplified

MAX_PAGES = 500
TIME_BUDGET_SECONDS = 20.0
MAX_OBJECTS_PER_PAGE = 100_000
MAX_RULES_FOR_TABLES = 5_000  # a page with more ruling lines is read as text only (table search is costly)
EDGE_TOLERANCE = 2.0  # points: cell edges closer than this are the same grid line

_FOOTER = re.compile(r"^(?:[-—–－\s]*\d+[-—–－\s]*|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+)$")
_SENTENCE_END = ("。", "！", "？", "!", "?")


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    page: int
    in_margin: bool = False  # in the top or bottom 8% of the page, where running heads sit


@dataclass
class _Fragment:
    page: int
    bbox: tuple[float, float, float, float]
    cells: list[tuple[tuple[float, float, float, float], str]] = field(default_factory=list)


def _inside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    cx = (obj["x0"] + obj["x1"]) / 2
    cy = (obj["top"] + obj["bottom"]) / 2
    return any(x0 - 1 <= cx <= x1 + 1 and top - 1 <= cy <= bottom + 1 for x0, top, x1, bottom in boxes)


def _page_items(page: Any, index: int) -> tuple[list[_Line | _Fragment], int]:
    if sum(len(v) for v in page.objects.values()) > MAX_OBJECTS_PER_PAGE:
        raise ValueError(f"第 {index + 1} 页对象过多")
    fragments: list[_Fragment] = []
    rules = len(page.lines) + len(page.rects) + len(page.curves)
    for table in page.find_tables() if rules <= MAX_RULES_FOR_TABLES else []:
        if len(table.rows) < 2 or max(len(r.cells) for r in table.rows) < 2:
            continue
        fragment = _Fragment(index, tuple(table.bbox))
        for row, texts in zip(table.rows, table.extract(), strict=False):
            for bbox, text in zip(row.cells, texts, strict=False):
                if bbox is not None:
                    fragment.cells.append((tuple(bbox), cell_text(text or "")))
        fragments.append(fragment)
    boxes = [f.bbox for f in fragments]
    text_page = page.filter(lambda o: o.get("object_type") != "char" or not _inside(o, boxes))
    items: list[_Line | _Fragment] = list(fragments)
    for raw in text_page.extract_text_lines(strip=True, return_chars=False):
        text = raw["text"].strip()
        if text and not _FOOTER.match(to_simplified(text)):  # 第 2 頁 共 9 頁 too
            margin = raw["top"] < page.height * 0.08 or raw["bottom"] > page.height * 0.92
            items.append(_Line(text, raw["x0"], raw["x1"], raw["top"], raw["bottom"], index, margin))
    items.sort(key=lambda it: it.bbox[1] if isinstance(it, _Fragment) else it.top)
    return items, len(page.chars)


def _clusters(values: list[float]) -> list[float]:
    edges: list[float] = []
    for v in sorted(values):
        if not edges or v - edges[-1] > EDGE_TOLERANCE:
            edges.append(v)
    return edges


def _nearest(edges: list[float], value: float) -> int:
    return min(range(len(edges)), key=lambda i: abs(edges[i] - value))


def _grid(fragments: list[_Fragment]) -> SourceTable:
    xs = _clusters([v for f in fragments for (x0, _, x1, _), _ in f.cells for v in (x0, x1)])
    cells: list[SourceCell] = []
    row_offset = 0
    for fragment in fragments:
        ys = _clusters([v for (_, top, _, bottom), _ in fragment.cells for v in (top, bottom)])
        for (x0, top, x1, bottom), text in fragment.cells:
            r0, r1 = _nearest(ys, top), _nearest(ys, bottom)
            c0, c1 = _nearest(xs, x0), _nearest(xs, x1)
            cells.append(SourceCell(row_offset + r0, c0, text, max(1, r1 - r0), max(1, c1 - c0)))
        row_offset += max(1, len(ys) - 1)
    cells.sort(key=lambda c: (c.row, c.col))
    return SourceTable(cells=cells, n_rows=row_offset, n_cols=max(1, len(xs) - 1), origin="pdf")


def _continues(previous: _Fragment, fragment: _Fragment) -> bool:
    """A table at the top of the next page with the same left and right edges continues the last one."""
    return (
        fragment.page == previous.page + 1
        and abs(fragment.bbox[0] - previous.bbox[0]) <= 3
        and abs(fragment.bbox[2] - previous.bbox[2]) <= 3
    )


def _layout_stats(lines: list[_Line]) -> tuple[float, float, float, float]:
    widths = [(ln.x1 - ln.x0) / len(ln.text) for ln in lines if len(ln.text) >= 10] or [10.0]
    char_w = statistics.median(widths)
    x0s = sorted(ln.x0 for ln in lines)
    left = x0s[len(x0s) // 10] if x0s else 0.0  # the body's left edge, ignoring a few outliers
    x1s = sorted(ln.x1 for ln in lines)
    right = x1s[int(len(x1s) * 0.9)] if x1s else 0.0
    steps = [b.top - a.top for a, b in zip(lines, lines[1:], strict=False) if a.page == b.page and b.top > a.top]
    step = statistics.median(steps) if steps else char_w * 1.8
    return char_w, left, right, step


def _drop_running_heads(items: list[_Line | _Fragment]) -> list[_Line | _Fragment]:
    """Remove a line repeated in the page margins of at least half the pages (three or more)."""
    n_pages = max((it.page for it in items), default=0) + 1
    pages: dict[str, set[int]] = {}
    for it in items:
        if isinstance(it, _Line) and it.in_margin:
            pages.setdefault(it.text, set()).add(it.page)
    running = {t for t, p in pages.items() if len(p) >= 3 and len(p) >= n_pages / 2}
    return [it for it in items if not (isinstance(it, _Line) and it.in_margin and it.text in running)]


def _blocks(items: list[_Line | _Fragment]) -> list[Block]:
    items = _drop_running_heads(items)
    lines = [it for it in items if isinstance(it, _Line)]
    char_w, left, right, step = _layout_stats(lines)
    blocks: list[str | list[_Fragment]] = []  # paragraphs, and tables as their page fragments
    paragraph: list[str] = []
    previous: _Line | _Fragment | None = None

    def flush() -> None:
        if paragraph:
            blocks.append(join_wrapped(paragraph))
            paragraph.clear()

    for item in items:
        if isinstance(item, _Fragment):
            flush()
            last = blocks[-1] if blocks else None
            if isinstance(previous, _Fragment) and isinstance(last, list) and _continues(previous, item):
                last.append(item)
            else:
                blocks.append([item])
        else:
            starts_new = (
                not isinstance(previous, _Line)
                or item.x0 > left + char_w
                or (item.page == previous.page and item.top - previous.top > step * 1.4)
                or (previous.x1 < right - 2 * char_w and previous.text.endswith(_SENTENCE_END))
            )
            if starts_new:
                flush()
            paragraph.append(item.text)
        previous = item
    flush()
    return [piece for b in blocks for piece in ([b] if isinstance(b, str) else split_statutory(_grid(b)))]


def load_pdf(path: str | Path, data: bytes, deadline: float | None = None) -> LoadedDocument:
    """Parse a PDF with a text layer into blocks; scanned, encrypted or broken files raise."""
    deadline = deadline or time.monotonic() + TIME_BUDGET_SECONDS
    if b"%PDF-" not in data[:1024]:
        raise CorruptFileError(path, "缺少 %PDF 文件头，不是 PDF 文件")
    if b"%%EOF" not in data[-2048:]:
        raise CorruptFileError(path, "缺少结尾标记 %%EOF，文件不完整（可能下载中断）")
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception as err:  # pdfminer raises many unrelated types on broken files
        if isinstance(err, PDFPasswordIncorrect) or isinstance(err.__cause__, PDFPasswordIncorrect) or (
            b"/Encrypt" in data
        ):
            raise EncryptedPdfError(path, "需要打开密码") from err
        raise CorruptFileError(path, f"PDF 无法解析：{err or type(err).__name__}") from err
    items: list[_Line | _Fragment] = []
    n_chars = 0
    with pdf:
        n_pages = len(pdf.pages)
        if n_pages > MAX_PAGES:
            raise FileTooLargeError(path, f"共 {len(pdf.pages)} 页，超过 {MAX_PAGES} 页上限")
        for index, page in enumerate(pdf.pages):
            if time.monotonic() > deadline:
                raise CorruptFileError(path, f"解析超时（超过 {TIME_BUDGET_SECONDS:.0f} 秒）")
            try:
                page_items, page_chars = _page_items(page, index)
            except Exception as err:
                raise CorruptFileError(path, f"第 {index + 1} 页无法解析：{err or type(err).__name__}") from err
            finally:
                page.close()  # release the page's cached objects
            items.extend(page_items)
            n_chars += page_chars
        title = pdf.metadata.get("Title") if isinstance(pdf.metadata, dict) else None
    if n_chars == 0:
        raise NoTextLayerError(path, f"共 {n_pages} 页，均没有可提取的文字")
    return LoadedDocument(blocks=_blocks(items), title_hint=title if isinstance(title, str) else None)
