"""Shared record types: reports, sections, tables, passages, hits, citations, answers."""

from __future__ import annotations

from dataclasses import dataclass, field

# Section keys in template order. "preamble" is the text before 一.
SECTION_KEYS: tuple[str, ...] = ("preamble", "一", "二", "三", "四", "五", "六")

# Canonical section titles of the national template, used when a heading is missing.
SECTION_TITLES: dict[str, str] = {
    "preamble": "前言",
    "一": "总体情况",
    "二": "主动公开政府信息情况",
    "三": "收到和处理政府信息公开申请情况",
    "四": "政府信息公开行政复议、行政诉讼情况",
    "五": "存在的主要问题及改进情况",
    "六": "其他需要报告的事项",
}


def section_label(key: str) -> str:
    """"三、收到和处理政府信息公开申请情况" for "三"; "前言" for the preamble."""
    title = SECTION_TITLES.get(key, key)
    return title if key == "preamble" else f"{key}、{title}"


@dataclass(frozen=True)
class ReportMeta:
    """What a report is: its title, who wrote it, which year it covers, where it came from."""

    title: str
    agency: str
    year: int | None  # the year reported on (not the publication year)
    template_version: str | None  # "2019", "2021" or None when it cannot be told
    format: str  # "txt", "html", "pdf", "docx"
    source_file: str  # path of the file as given to the loader
    sha256: str  # of the file's bytes
    source_url: str | None = None
    # other ways the report itself writes its agency, never another agency's name: full names first
    # (孝感市政府办公室), then in-report short forms that start with a level word (市政府办公室, 以下简称区政府办公室)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParseWarning:
    """Something the parser noticed but could work around (e.g. a lost table)."""

    code: str  # e.g. "table_missing", "section_missing"
    message: str  # human readable, Chinese or English
    section: str | None = None


@dataclass(frozen=True)
class Section:
    """One of the template's sections, as a span of the report's cleaned text."""

    key: str  # one of SECTION_KEYS
    title: str  # the heading as found in the text (canonical title if none was found)
    start: int  # offset of the section's first character (its heading) in cleaned_text
    end: int  # offset one past its last character
    body_start: int  # offset where the body begins (after the heading)
    empty: bool  # True when the body holds no content (e.g. a table that was lost)


@dataclass(frozen=True)
class TableCell:
    """One cell of a table grid, each source cell once, with spans resolved."""

    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1
    row_headers: tuple[str, ...] = ()  # label path of the row, outermost first
    col_headers: tuple[str, ...] = ()  # header path of the column, outermost first
    is_header: bool = False


@dataclass(frozen=True)
class Table:
    """A table found in a report, as a faithful grid of cells."""

    table_id: str  # "<report_id>:t<index>"
    index: int  # ordinal of the table in the report, from 0
    section: str  # key of the section it sits in
    n_rows: int
    n_cols: int
    cells: tuple[TableCell, ...]
    origin: str  # "html", "docx", "pdf" or "pipe" (recovered from collapsed pipe text)
    header_rows: int = 0  # how many leading rows are column headers
    start: int = 0  # span of the table's rendering in cleaned_text
    end: int = 0
    source_span: tuple[int, int] | None = None  # for "pipe": span in the raw decoded text

    def cell(self, row: int, col: int) -> TableCell | None:
        """The cell covering grid position (row, col), spans included."""
        for c in self.cells:
            if c.row <= row < c.row + c.rowspan and c.col <= col < c.col + c.colspan:
                return c
        return None


@dataclass(frozen=True)
class Passage:
    """A retrievable chunk: an exact slice of its report's cleaned text."""

    passage_id: str  # stable: "<report_id>:p<ordinal>"
    report_id: str
    section: str  # section key
    start: int
    end: int
    text: str  # == cleaned_text[start:end]
    heading_path: tuple[str, ...]  # (report title, section title)
    kind: str = "text"  # "text", "table_row" or "lost_table" (run-together cells: never a source of numbers)
    table_id: str | None = None
    table_row: int | None = None

    def embedding_text(self) -> str:
        """The text given to the encoder: heading path, then the passage."""
        return " › ".join(self.heading_path) + "\n" + self.text


@dataclass(frozen=True)
class Report:
    """A parsed report: metadata, cleaned text and its structure."""

    report_id: str  # derived from sha256 (first 16 hex digits)
    meta: ReportMeta
    cleaned_text: str
    sections: tuple[Section, ...]
    tables: tuple[Table, ...]
    passages: tuple[Passage, ...]
    warnings: tuple[ParseWarning, ...] = ()

    def section(self, key: str) -> Section | None:
        """The section with this key, if found."""
        return next((s for s in self.sections if s.key == key), None)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with where it comes from and how each leg ranked it."""

    rank: int
    score: float
    passage_id: str
    text: str
    report_id: str
    report_title: str
    agency: str
    year: int | None
    section: str
    start: int
    end: int
    kind: str = "text"
    dense_rank: int | None = None
    dense_score: float | None = None
    bm25_rank: int | None = None
    bm25_score: float | None = None
    source_file: str | None = None
    source_url: str | None = None


@dataclass(frozen=True)
class Citation:
    """A numbered piece of evidence behind an answer."""

    n: int
    passage_id: str
    report_title: str
    agency: str
    year: int | None
    section: str
    text: str  # the cited passage (or the cell's row rendering), == cleaned_text[start:end]
    start: int
    end: int
    source_file: str | None = None
    source_url: str | None = None
    quote: str | None = None  # the sentence or item of the passage that the answer relies on
    table: str | None = None  # "T2"/"T3"/"T4" when the citation is a table cell
    row: str | None = None  # row path of the cell
    column: str | None = None  # column of the cell


@dataclass(frozen=True)
class Answer:
    """What `ask` returns: a short answer with [n] markers, its citations, or not-found."""

    question: str
    found: bool
    text: str
    citations: tuple[Citation, ...] = ()
    related: tuple[Hit, ...] = ()
    path: str = "extractive"  # "extractive", "facts", "commitments" or "llm"
    filters: dict[str, object] = field(default_factory=dict)
    note: str = ""  # e.g. why the LLM answer was not used
    intent: str = ""  # the question's intent (assistant/understand)
    understanding: dict[str, object] = field(default_factory=dict)  # intent, scope, cues: for --json and debug


@dataclass(frozen=True)
class Fact:
    """One cell of a statutory table (T2/T3/T4) as a number with its provenance."""

    report_id: str
    agency: str
    year: int | None
    table: str  # "T2", "T3" or "T4"
    row_path: tuple[str, ...]  # canonical template row path, e.g. ("三、本年度办理结果", "（一）予以公开")
    column: str  # canonical column, e.g. "自然人", "总计", "本年制发件数"
    value: float | None  # None for blank, "—" or "/"
    raw: str  # the cell text as printed
    unit: str  # "件" or "万元"
    table_id: str  # the Table it came from
    cell_row: int  # grid position of the cell in that Table
    cell_col: int
    passage_id: str | None = None  # the table-row passage holding the cell


@dataclass(frozen=True)
class Violation:
    """A broken arithmetic identity of the template, with both sides and the cells involved."""

    report_id: str
    report_title: str
    agency: str
    year: int | None
    table: str
    rule: str  # short name, e.g. "T3 总计 = (一)+…+(六)"
    description: str  # Chinese, naming the column/row and the two sides
    left: float
    right: float
    cells: tuple[Fact, ...]


@dataclass(frozen=True)
class Commitment:
    """An improvement promised in section 五 (or a problem found there), with its follow-up."""

    commitment_id: str  # "<report_id>:c<n>" or ":q<n>" for problems
    report_id: str
    agency: str
    year: int | None  # year made (the report year)
    target_year: int | None  # normally year + 1
    kind: str  # "commitment" or "problem"
    index: int  # ordinal within its kind, from 1
    title: str  # lead phrase, e.g. 进一步规范发布
    text: str  # == cleaned_text[start:end]
    start: int
    end: int
    status: str | None = None  # 已落实 / 部分落实 / 未见说明 / 暂无下一年度报告
    evidence: tuple[Hit, ...] = ()
    quotes: tuple[tuple[int, int], ...] = ()  # per evidence passage, the span of its report that answers quote


@dataclass(frozen=True)
class TableCheck:
    """How far one statutory table of one report could be checked, and why not further."""

    report_id: str
    report_title: str
    agency: str
    year: int | None
    table: str  # "T2", "T3" or "T4"
    status: str  # "checked", "violations", "not_filled", "lost", "unconfirmed", "missing", "no_identity"
    message: str  # Chinese, one line
    cells: int = 0  # cells read from the table
    identities_checked: int = 0
    identities_failed: int = 0
    identities_skipped: int = 0  # skipped because a cell is blank
    blank_total_rows: tuple[str, ...] = ()  # rows whose 总计 is blank although the row holds figures


@dataclass(frozen=True)
class Discrepancy:
    """A figure a report states twice that does not agree: prose against a table cell, or one year's carried-over
    requests against the previous year's carried-forward ones."""

    report_id: str
    report_title: str
    agency: str
    year: int | None
    kind: str  # "prose_table", "prose_percent", "upheld_pending" or "year_to_year"
    rule: str  # short Chinese name, e.g. "正文“受理申请数” = 表三 一、本年新收 总计"
    description: str  # Chinese, naming both figures and where they are
    stated: float | None  # the figure in the prose (year_to_year: this year's 上年结转)
    table_value: float | None  # the figure in the table (year_to_year: last year's 结转下年度)
    passage_id: str | None = None  # the prose passage holding the statement
    quote: str | None = None  # the clause of the prose, == cleaned_text[quote_start:quote_end]
    quote_start: int | None = None
    quote_end: int | None = None
    cells: tuple[Fact, ...] = ()  # the table cells compared
    other_report_id: str | None = None  # year_to_year: the previous year's report
