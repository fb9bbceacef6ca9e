"""HTML loader (lxml): main content only, paragraphs and tables in document order."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
from lxml import etree

from assistant.errors import CorruptFileError, EmptyFileError
from assistant.ingest import limits
from assistant.ingest.blocks import Block, LoadedDocument, SourceTable, place_rows
from assistant.ingest.clean import cell_text
from assistant.ingest.decode import declared_html_charset, decode_bytes
from assistant.ingest.tables import split_statutory

# The main content is the deepest element holding at least this share of the page's text.
MAIN_CONTENT_SHARE = 0.7
MAX_SPAN = 200
MAX_DATA_CELL_CHARS = 300  # a table with a longer cell is page layout, read as paragraphs

_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
              "button", "select", "input", "textarea", "template", "svg", "object", "embed")
_CHROME_NAME = re.compile(
    r"nav|menu|breadcrumb|crumb|position|location|footer|topbar|toolbar|tools|share|print|search"
    r"|sidebar|copyright|banner|logo|header|xxgk_info|fontsize|fenxiang|bdshare",
    re.IGNORECASE,
)
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li",
               "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "center", "tr", "body", "hr"}
_CJK_GAP = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])[ \t\r]*\n\s*(?=[\u3000-\u9fff\uff00-\uffef])")
_WS = re.compile(r"\s+")
_BREAK = "\ue000"  # private-use character marking an explicit line break


def _text_len(el: etree._Element) -> int:
    return len(_WS.sub("", el.text_content()))


def _visible_len(text: str | None) -> int:
    return len(_WS.sub("", text)) if text else 0


def _text_lengths(root: etree._Element) -> dict[etree._Element, int]:
    """Non-space text length under every element, in one pass (children before parents)."""
    lengths: dict[etree._Element, int] = {}
    for el in reversed(list(root.iter())):
        own = _visible_len(el.text) if isinstance(el.tag, str) else 0
        lengths[el] = own + sum(lengths[child] + _visible_len(child.tail) for child in el)
    return lengths


def _is_chrome(el: etree._Element) -> bool:
    if not isinstance(el.tag, str):
        return False
    return el.tag in _DROP_TAGS or bool(_CHROME_NAME.search(f"{el.get('class', '')} {el.get('id', '')}"))


def _drop_chrome(body: etree._Element) -> None:
    """Remove scripts, navigation, toolbars and footers, never an element holding half the page's text."""
    lengths = _text_lengths(body)
    limit = max(1, lengths[body]) * 0.5
    stack = [body]
    while stack:
        for child in list(stack.pop()):
            if _is_chrome(child) and lengths.get(child, 0) < limit:
                child.drop_tree()
            else:
                stack.append(child)


def _main_content(body: etree._Element) -> etree._Element:
    lengths = _text_lengths(body)
    total = lengths[body]
    articles = sorted(body.iter("article"), key=lengths.__getitem__, reverse=True)
    if articles and lengths[articles[0]] >= total * 0.5:
        return articles[0]
    best = body
    for el in body.iter():
        if isinstance(el.tag, str) and el.tag != "table" and lengths[el] >= total * MAIN_CONTENT_SHARE:
            best = el  # qualifying elements form one chain; iter() is depth first, so this is the deepest
    while best.getparent() is not None and best.tag in ("tr", "tbody", "span", "font", "strong", "b", "a"):
        best = best.getparent()
    return best


def _is_data_table(table: etree._Element) -> bool:
    if table.find(".//table") is not None:
        return False
    cells = table.xpath(".//td|.//th")
    return bool(cells) and max(_text_len(c) for c in cells) <= MAX_DATA_CELL_CHARS


def _span(value: str | None) -> int:
    digits = re.sub(r"\D", "", value or "")[:12]
    return min(MAX_SPAN, limits.check_span(int(digits))) if digits else 1


def _table_block(table: etree._Element) -> SourceTable:
    rows: list[list[tuple[str, int, int]]] = []
    for tr in table.xpath("./tr|./thead/tr|./tbody/tr|./tfoot/tr"):
        row = [(cell_text(_inline_text(td)), _span(td.get("rowspan")), _span(td.get("colspan")))
               for td in tr.xpath("./td|./th")]
        if row:
            rows.append(row)
    return place_rows(rows, "html")


def _inline_text(el: etree._Element) -> str:
    for node in el.iter("br"):
        node.tail = _BREAK + (node.tail or "")
    for node in el.iter("p", "div", "li"):
        if node is not el:
            node.text = _BREAK + (node.text or "")
    return _lines(el.text_content())


def _lines(text: str) -> str:
    """Source whitespace collapsed as a browser would; explicit breaks become newlines."""
    text = _WS.sub(" ", _CJK_GAP.sub("", text))
    return "\n".join(part.strip() for part in text.split(_BREAK))


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = _lines("".join(self.buffer))
        if text.strip():
            self.blocks.append(text.strip())
        self.buffer = []

    def walk(self, el: etree._Element) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "table" and _is_data_table(el):
            self.flush()
            self.blocks.extend(split_statutory(_table_block(el)))
        elif tag == "br":
            self.buffer.append(_BREAK)
        elif tag:
            is_block = tag in _BLOCK_TAGS or tag in ("table", "td", "th")
            if is_block:
                self.flush()
            if el.text:
                self.buffer.append(el.text)
            for child in el:
                self.walk(child)
                if child.tail:
                    self.buffer.append(child.tail)
            if is_block:
                self.flush()


def _title_hint(doc: etree._Element) -> str | None:
    for xpath in ("//meta[@name='ArticleTitle']/@content", "//h1", "//title"):
        found = doc.xpath(xpath)
        if found:
            text = found[0] if isinstance(found[0], str) else found[0].text_content()
            text = _WS.sub(" ", str(text)).strip()
            if text:
                return text
    return None


def load_html(path: str | Path, data: bytes) -> LoadedDocument:
    """Parse an HTML page into blocks of its main content."""
    text, _ = decode_bytes(data, path, declared_html_charset(data))
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text)
    if not text.strip():
        raise EmptyFileError(path)
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as err:
        raise CorruptFileError(path, f"HTML 无法解析：{err}") from err
    title = _title_hint(doc)
    body = doc.find("body")
    if body is None:
        body = doc
    _drop_chrome(body)
    main = _main_content(body)
    walker = _Walker()
    walker.walk(main)
    walker.flush()
    inside = set(main.iter())
    heading = next((h for h in body.iter("h1") if h not in inside and _text_len(h)), None)
    if heading is not None:
        walker.blocks.insert(0, _WS.sub(" ", heading.text_content()).strip())
    return LoadedDocument(blocks=walker.blocks, title_hint=title)
