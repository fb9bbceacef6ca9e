"""Assembly: loader blocks to cleaned text, sections, tables, passages and metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.ingest.blocks import LoadedDocument, SourceTable
from assistant.ingest.clean import clean_paragraph
from assistant.ingest.injection import instruction_warnings
from assistant.ingest.lost_tables import TABLE_SECTIONS as LOST_SECTIONS
from assistant.ingest.lost_tables import find_lost_tables, section_spans, warning_message
from assistant.ingest.meta import apply_overrides, find_identity, template_version
from assistant.ingest.passages import RowSpan, build_passages
from assistant.ingest.sections import build_sections, find_headings
from assistant.ingest.tables import TableLayout, analyze_table, simplified
from assistant.records import SECTION_KEYS, SECTION_TITLES, ParseWarning, Report, ReportMeta, Section, Table

TABLE_SECTIONS = ("二", "三", "四")  # the sections whose content is a template table


@dataclass
class _PlacedTable:
    source: SourceTable
    layout: TableLayout
    start: int
    end: int
    rows: list[tuple[int, int, int]]  # (grid row, start, end)


def _published_lines(source: SourceTable, simple: SourceTable, layout: TableLayout) -> list[tuple[int, str]]:
    """The rows of a table rendered in its own characters; layout is simple's (the cells in simplified
    characters, which is what the facts are read from). The original is laid out again only when its
    characters differ, and its rendering is kept when it reads the same rows."""
    if simple.cells == source.cells:
        return layout.lines
    shown = analyze_table(source).lines
    return shown if [r for r, _ in shown] == [r for r, _ in layout.lines] else layout.lines


def _assemble(doc: LoadedDocument) -> tuple[str, list[_PlacedTable]]:
    parts: list[str] = []
    length = 0
    placed: list[_PlacedTable] = []

    def add(line: str) -> tuple[int, int]:
        nonlocal length
        if parts:
            parts.append("\n")
            length += 1
        parts.append(line)
        length += len(line)
        return length - len(line), length

    for block in doc.blocks:
        if isinstance(block, str):
            for line in clean_paragraph(block):
                add(line)
            continue
        simple = simplified(block)
        layout = analyze_table(simple)
        if layout.header_rows >= block.n_rows:  # no figures at all: a layout table, read as text
            for cell in sorted(block.cells, key=lambda c: (c.row, c.col)):
                for line in clean_paragraph(cell.text):
                    add(line)
            continue
        rows = [(row, *add(line)) for row, line in _published_lines(block, simple, layout)]
        at = rows[0][1] if rows else length
        placed.append(_PlacedTable(block, layout, at, rows[-1][2] if rows else at, rows))
    return "".join(parts), placed


def _section_at(sections: list[Section], offset: int) -> str:
    for section in sections:
        if section.start <= offset < section.end or offset == section.end == sections[-1].end:
            return section.key
    return "preamble"


def _warnings(sections: list[Section], tables: list[Table], notes: list[str]) -> list[ParseWarning]:
    found = {s.key: s for s in sections}
    warnings = [ParseWarning("loader_note", note) for note in notes]
    for key in SECTION_KEYS[1:]:
        section = found.get(key)
        if section is None:
            warnings.append(ParseWarning("section_missing", f"未找到第{key}部分“{SECTION_TITLES[key]}”", key))
        elif key in TABLE_SECTIONS and not any(t.section == key for t in tables):
            state = "内容为空" if section.empty else "没有表格"
            warnings.append(
                ParseWarning("table_missing", f"第{key}部分{state}，表格缺失", key)
            )
    return warnings


def build_report(doc: LoadedDocument, *, source_file: str, fmt: str, sha256: str,
                 overrides: dict[str, Any]) -> Report:
    """Everything about one report, built from its loader's blocks."""
    report_id = sha256[:16]
    text, placed = _assemble(doc)
    excluded = [(p.start, p.end) for p in placed if p.rows]
    sections = build_sections(text, find_headings(text, excluded))
    tables: list[Table] = []
    row_spans: list[RowSpan] = []
    for index, table in enumerate(placed):
        table_id = f"{report_id}:t{index}"
        tables.append(
            Table(
                table_id=table_id, index=index, section=_section_at(sections, table.start),
                n_rows=table.source.n_rows, n_cols=table.source.n_cols, cells=tuple(table.layout.cells),
                origin=table.source.origin, header_rows=table.layout.header_rows,
                start=table.start, end=table.end, source_span=table.source.source_span,
            )
        )
        row_spans.extend(RowSpan(table_id, row, start, end) for row, start, end in table.rows)
    identity = apply_overrides(find_identity(doc.title_hint, text, source_file), overrides)
    header_texts = [c.text for t in tables for c in t.cells if c.is_header or c.col < 3]
    meta = ReportMeta(
        title=identity.title, agency=identity.agency, year=identity.year,
        template_version=template_version(header_texts, identity.year), format=fmt, source_file=source_file,
        sha256=sha256, source_url=overrides.get("source_url"), aliases=identity.aliases,
    )
    lost = find_lost_tables(text, excluded)
    row_spans.extend(RowSpan(None, None, start, end, kind="lost_table")
                     for table in lost for _, start, end in section_spans(table, sections))
    passages = build_passages(report_id, identity.title, text, sections, row_spans)
    lost_sections = {LOST_SECTIONS[t.kind] for t in lost}
    warnings = [*identity.warnings, *(w for w in _warnings(sections, tables, doc.notes)
                                      if not (w.code == "table_missing" and w.section in lost_sections))]
    warnings += [ParseWarning("table_unreadable", warning_message(t), LOST_SECTIONS[t.kind]) for t in lost]
    warnings += instruction_warnings(text, sections)
    return Report(report_id, meta, text, tuple(sections), tuple(tables), tuple(passages), tuple(warnings))
