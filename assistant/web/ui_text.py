"""Chinese UI strings and streamlit-free helpers for app.py: escaping, highlighting, sources, listings."""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from assistant import segment
from assistant.records import SECTION_KEYS, SECTION_TITLES, Answer, ParseWarning, Report, ReportMeta

APP_TITLE = "政府信息公开年报助手"
PAGE_CHAT = "问答"
PAGE_SEARCH = "检索"
PAGE_REPORTS = "报告库"
PAGE_COMMITMENTS = "往年承诺"
PAGE_ADMIN = "管理"
PAGES: tuple[str, ...] = (PAGE_CHAT, PAGE_SEARCH, PAGE_REPORTS, PAGE_COMMITMENTS, PAGE_ADMIN)

ALL_AGENCIES = "全部机关"
ALL_YEARS = "全部年度"
ALL_SECTIONS = "全部部分"

EXAMPLE_QUESTIONS: tuple[str, ...] = (
    "龙泉市2020年办理了多少件政府信息公开申请？",
    "2020年龙泉市在政府网站上主动公开了多少条信息？",
    "对年度报告有疑问应该打哪个电话？",
    "2020年政务公开工作存在哪些主要问题？",
)

CHAT_PLACEHOLDER = "请输入问题，例如：龙泉市2020年办理了多少件政府信息公开申请？"
CHAT_INTRO = (
    "可以就已收录的政府信息公开工作年度报告提问。每个回答都附有编号引用 [n]，"
    "点开引用可以看到原文段落和来源；报告里找不到时会如实说明，并列出可能相关的段落。"
)
RELATED_HEADING = "可能相关的段落"
STAFF_INDEX_HEADING = "索引信息（供工作人员查看）"
LOGIN_HINT = "输入密码后按回车键或点击“登录”。"
UPLOAD_TYPES: tuple[str, ...] = ("txt", "html", "htm", "pdf", "docx")

SEARCH_MODES: dict[str, str] = {"混合检索": "hybrid", "语义向量": "dense", "关键词 BM25": "bm25"}

PATH_LABELS: dict[str, str] = {
    "extractive": "摘录自报告原文",
    "facts": "来自报告中的统计表",
    "commitments": "来自往年承诺的跟踪",
    "llm": "由大模型根据引用段落归纳",
    "checks": "来自统计表的勾稽关系核对",
    "clarify": "需要指明机关",
    "out_of_scope": "不在本助手的范围内",
}


def no_index_markdown(index_dir: Path | str, corpus_dir: Path | str) -> str:
    """What to do when no index has been built yet (markdown, paths escaped)."""
    command = f"assistant build --corpus {shlex.quote(str(corpus_dir))} --index {shlex.quote(str(index_dir))}"
    return (
        f"还没有可用的索引（索引目录：{escape_markdown(str(index_dir))}）。"
        f"请先把报告文件放进 {escape_markdown(str(corpus_dir))}，然后建立索引：\n\n"
        f"```bash\n{command}\n```\n\n"
        "也可以运行 `make run`（先建立索引，再启动本应用）。"
        "启用了管理员密码时，还可以在“管理”页上传报告并重建索引。"
    )


def admin_disabled_markdown() -> str:
    return (
        "管理页面尚未启用。请在启动应用前设置管理员密码，例如：\n\n"
        "```bash\nASSISTANT_ADMIN_PASSWORD='请换成足够长的密码' streamlit run serve.py\n```\n\n"
        "重新启动应用后，即可在此页登录、上传新报告并重建索引。"
    )


@dataclass
class ChatTurn:
    """One question of the conversation with its answer (or the error shown instead)."""

    question: str
    answer: Answer | None = None
    error: str | None = None
    terms: tuple[str, ...] = ()
    note: str | None = None  # e.g. that the question was cut to the length limit


def clip_question(text: str, max_chars: int) -> tuple[str, str | None]:
    """(the question cut to max_chars, a note saying so) — or (the question, None) when it fits.

    The length limit itself is enforced by understand.query.validate; the app and the CLI cut a long
    paste here so that it is answered, and say so, instead of failing or vanishing.
    """
    stripped = text.strip()
    if len(stripped) <= max_chars:
        return stripped, None
    return stripped[:max_chars].rstrip(), f"问题过长（共 {len(stripped)} 字），已截取前 {max_chars} 字进行查询。"


def section_label(key: str) -> str:
    """"前言" or "第一部分 总体情况"."""
    title = SECTION_TITLES.get(key, "")
    if key == "preamble":
        return title
    return f"第{key}部分 {title}".strip()


def year_label(year: int | None) -> str:
    return f"{year}年" if year else "年度未识别"


def date_label(timestamp: str | None) -> str | None:
    """"2026-12-01T09:05:07+0000" (a manifest's built_at) -> "2026年12月1日"; None when unreadable."""
    if not timestamp:
        return None
    try:
        moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    return f"{moment.year}年{moment.month}月{moment.day}日"


def index_caption(n_reports: int, built_at: str | None) -> str:
    """The sidebar line the public sees: how many reports, and when the index was last updated."""
    date = date_label(built_at)
    return f"已收录 {n_reports} 份报告" + (f" · 更新于 {date}" if date else "")


# --- markdown escaping and highlighting -----------------------------------------------------

_ESCAPE_TABLE = {ord(ch): "\\" + ch for ch in string.punctuation}
HIGHLIGHT_STYLE = "orange-background"
_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")
_HIGHLIGHT_STOP = {
    "多少", "什么", "哪些", "哪个", "哪里", "请问", "如何", "怎样", "怎么", "是否", "一共", "应该", "有没有",
    "政府", "信息", "公开", "政府信息", "政府信息公开", "报告", "年报", "年度", "年度报告", "工作", "情况",
}
_DIGITS = re.compile(r"\d+")


def _escape_line(line: str) -> str:
    return line.strip(" \t").translate(_ESCAPE_TABLE)


def escape_markdown(text: str) -> str:
    """Text that st.markdown shows exactly as written: every ASCII punctuation mark backslash-escaped,
    line breaks kept as hard breaks, leading indentation dropped (it would start a code block)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "  \n".join(_escape_line(line) for line in lines)


def highlight_terms(question: str) -> list[str]:
    """The question's meaningful words (two characters or more), longest first, for highlighting."""
    terms = {
        token for token in segment.tokenize(question)
        if len(token) >= 2 and token not in _HIGHLIGHT_STOP and not (_DIGITS.fullmatch(token) and len(token) != 4)
    }
    return sorted(terms, key=lambda t: (-len(t), t))


def highlight(text: str, terms: Iterable[str], style: str = HIGHLIGHT_STYLE) -> str:
    """Escaped markdown of text with every occurrence of the terms in bold on a coloured background."""
    folded = text.lower()
    present: set[str] = set()
    for term in terms:
        if not term or "\n" in term:
            continue
        if term.lower() in folded:
            present.add(term)
        elif len(term) >= 5 and term[:-1].lower() in folded:  # a report's typo, e.g. 公开申请 printed 公开申
            present.add(term[:-1])
    wanted = sorted(present, key=len, reverse=True)
    if not wanted:
        return escape_markdown(text)
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    out_lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip(" \t")
        pieces: list[str] = []
        pos = 0
        for match in pattern.finditer(line):
            pieces.append(line[pos : match.start()].translate(_ESCAPE_TABLE))
            pieces.append(f":{style}[**{match.group().translate(_ESCAPE_TABLE)}**]")
            pos = match.end()
        pieces.append(line[pos:].translate(_ESCAPE_TABLE))
        out_lines.append("".join(pieces))
    return "  \n".join(out_lines)


def answer_markdown(text: str) -> str:
    """An answer's text, escaped, with its [n] citation markers on a coloured background.

    (Bold ** markers would not render after a CJK character and before "[": CommonMark's flanking rules.)
    """
    return _MARKER.sub(r":blue-background[\\[\1\\]]", escape_markdown(text))


# --- sources --------------------------------------------------------------------------------


def safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link, else None (no javascript:, data:, file: ...)."""
    if not url:
        return None
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme.lower() in ("http", "https") and parsed.netloc and not any(c.isspace() for c in url):
        return url
    return None


def source_path(source_file: str | None, corpus_dir: Path) -> Path | None:
    """The report's source file when it exists inside the corpus folder (never any other file)."""
    if not source_file:
        return None
    root = corpus_dir.resolve()
    candidates = [Path(source_file)]
    if not Path(source_file).is_absolute():
        candidates.append(corpus_dir / Path(source_file).name)
    for candidate in candidates:
        try:
            resolved = candidate.resolve()
        except OSError:
            continue
        if resolved.is_file() and resolved.is_relative_to(root):
            return resolved
    return None


MIME_TYPES = {
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def mime_type(path: Path) -> str:
    return MIME_TYPES.get(path.suffix.lower(), "application/octet-stream")


# --- report overview ------------------------------------------------------------------------


def report_row(report: Report) -> dict[str, Any]:
    """One row of the 报告库 table."""
    return summary_row(report.meta, [(s.key, s.empty) for s in report.sections], len(report.tables),
                       len(report.passages), report.warnings)


def summary_row(meta: ReportMeta, sections: Sequence[tuple[str, bool]], tables: int, passages: int,
                warnings: Sequence[ParseWarning]) -> dict[str, Any]:
    """One row of the 报告库 table from a report's summary (sections as (key, empty)), not its decoded body."""
    found = [key for key, empty in sections if not empty]
    return {
        "标题": meta.title,
        "机关": meta.agency or "（未识别）",
        "年度": meta.year,
        "格式": meta.format,
        "模板": f"{meta.template_version}版" if meta.template_version else "未识别",
        "已识别部分": " ".join("前言" if k == "preamble" else k for k in found),
        "表格数": tables,
        "段落数": passages,
        "警告": "；".join(warning_notes(warnings)),
    }


_TABLE_WARNINGS = ("table_missing", "facts_missing", "table_unreadable")


def report_notes(report: Report) -> list[str]:
    """The report's parse warnings for people: lost tables said once, in one sentence, then the rest."""
    return warning_notes(report.warnings)


def warning_notes(warnings: Sequence[ParseWarning]) -> list[str]:
    """Parse warnings for people: lost tables said once, in one sentence, then the rest."""
    lost = sorted({w.section for w in warnings if w.code in _TABLE_WARNINGS and w.section},
                  key=lambda key: SECTION_KEYS.index(key) if key in SECTION_KEYS else len(SECTION_KEYS))
    notes = []
    if lost:
        parts = "、".join(lost)
        notes.append(f"原文件中第{parts}部分的表格缺失或无法识别，这些表格里的数字无法从本报告中查询。")
    notes.extend(w.message for w in warnings if not _is_table_warning(w))
    return notes


def _is_table_warning(warning: ParseWarning) -> bool:
    return warning.code in _TABLE_WARNINGS and bool(warning.section)


def tables_lost(report: Report) -> bool:
    """True when the report's notes already say that its tables are missing."""
    return any(_is_table_warning(w) for w in report.warnings)


def plain_value(value: object) -> object:
    """A number as a person writes it: 15.0 -> 15, 2.5 stays 2.5; anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def csv_bytes(rows: list[dict[str, Any]], fieldnames: list[str]) -> bytes:
    """Rows as a CSV file that spreadsheet programs open as UTF-8; counts written as 15, not 15.0."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows({k: plain_value(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def table_grid(n_rows: int, n_cols: int, cells: Iterable[tuple[int, int, str]]) -> list[list[str]]:
    """A table's cells (row, col, text) placed on a plain grid of strings, spans left blank."""
    grid = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for row, col, text in cells:
        if 0 <= row < n_rows and 0 <= col < n_cols:
            grid[row][col] = text
    return grid


def year_bar_spec(x: str, y: str) -> dict[str, Any]:
    """A Vega-Lite bar chart of one value by year, the year labels written horizontally."""
    return {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": x, "type": "ordinal", "axis": {"labelAngle": 0, "title": x}},
            "y": {"field": y, "type": "quantitative", "axis": {"tickMinStep": 1, "title": y}},
        },
    }


# --- Streamlit's own English hints ------------------------------------------------------------


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def chrome_css(max_file_mb: float, types: Iterable[str] = UPLOAD_TYPES) -> str:
    """A <style> block that replaces the English hints Streamlit draws itself (no option turns them off):
    "Press Enter to apply / submit form" is hidden (the pages say it in Chinese), the uploader's
    "Upload" button and "50MB per file • TXT…" line are written in Chinese."""
    kinds = "、".join(dict.fromkeys(t.upper() for t in types if t != "htm"))  # .htm is just .html
    drop = f"或把文件拖放到这里。每个文件不超过 {max_file_mb:g} MB，支持 {kinds}"
    uploader = '[data-testid="stFileUploaderDropzone"]'
    return (
        "<style>\n"
        '[data-testid="InputInstructions"] { display: none; }\n'
        f"{uploader} button [data-testid=\"stMarkdownContainer\"] p {{ font-size: 0; }}\n"
        f"{uploader} button [data-testid=\"stMarkdownContainer\"] p::after "
        f"{{ content: {_css_string('选择文件')}; font-size: 0.875rem; }}\n"
        '[data-testid="stFileUploaderDropzoneInstructions"] span { font-size: 0; }\n'
        '[data-testid="stFileUploaderDropzoneInstructions"] span::after '
        f"{{ content: {_css_string(drop)}; font-size: 0.875rem; }}\n"
        "</style>"
    )


# --- build progress and the corpus folder -------------------------------------------------------


# stage names sent by index.build, with what is counted in each
STAGE_UNITS: dict[str, str] = {"解析": "个文件", "向量化": "个新段落", "写入索引": "步"}
STAGE_ACTIONS: dict[str, str] = {"解析": "解析报告文件", "向量化": "向量化新段落", "写入索引": "写入索引"}


def stage_text(stage: str, done: int, total: int) -> str:
    """"解析报告文件：3/12 个文件" — what the build is doing, with what it counts."""
    action = STAGE_ACTIONS.get(stage, stage)
    if not total:
        return f"{action}…" if action else "准备中…"
    return f"{action}：{done}/{total} {STAGE_UNITS.get(stage, '')}".rstrip()


def progress_fraction(done: int, total: int) -> float:
    return 0.0 if total <= 0 else max(0.0, min(1.0, done / total))


def corpus_listing(corpus_dir: Path) -> list[dict[str, Any]]:
    """Report files in the corpus folder, for the staff page."""
    if not corpus_dir.is_dir():
        return []
    rows = []
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if path.is_file() and not any(p.startswith(".") for p in relative.parts) \
                and path.suffix.lower().lstrip(".") in UPLOAD_TYPES:
            stat = path.stat()
            rows.append({
                "文件": str(relative),
                "大小(KB)": round(stat.st_size / 1024, 1),
                "修改时间": time.strftime("%Y-%m-%d %H:%M", time.localtime(stat.st_mtime)),
            })
    return rows


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
