"""Passages: sentence-aware chunks of each section, plus one passage per rendered table row."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.records import Passage, Section

CHUNK_TARGET_CHARS = 200  # merge sentences up to about this many characters (tuned on the eval questions)
CHUNK_MAX_CHARS = 450  # a single sentence longer than this is cut at commas
_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)]*|\n")
_SOFT_BREAK = re.compile(r"[，、,：:]")


@dataclass(frozen=True)
class RowSpan:
    """Where a rendered table row sits in the cleaned text (or a lost table's run-together cells)."""

    table_id: str | None
    row: int | None
    start: int
    end: int
    kind: str = "table_row"  # or "lost_table": cells that cannot be read, never a source of numbers


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        span = _trim(text, position, match.end())
        if span[0] < span[1]:
            yield span
        position = match.end()
    span = _trim(text, position, end)
    if span[0] < span[1]:
        yield span


def _cut_long(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while end - start > CHUNK_MAX_CHARS:
        window = text[start : start + CHUNK_TARGET_CHARS]
        breaks = [m.end() for m in _SOFT_BREAK.finditer(window)]
        cut = start + (breaks[-1] if breaks and breaks[-1] > CHUNK_TARGET_CHARS // 3 else CHUNK_TARGET_CHARS)
        yield _trim(text, start, cut)
        start = _trim(text, cut, end)[0]
    if start < end:
        yield start, end


def chunk_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Merged sentences within [start, end), trimmed; a paragraph break ends a chunk of half the target."""
    units = [piece for s, e in _sentences(text, start, end) for piece in _cut_long(text, s, e)]
    chunks: list[tuple[int, int]] = []
    for s, e in units:
        # a line break, or a space between sentences (scraped pages join paragraphs with one), is a paragraph break
        new_paragraph = bool(chunks) and any(c.isspace() for c in text[chunks[-1][1] : s])
        if new_paragraph and chunks[-1][1] - chunks[-1][0] >= CHUNK_TARGET_CHARS // 2:
            chunks.append((s, e))
        elif chunks and e - chunks[-1][0] <= CHUNK_TARGET_CHARS:
            chunks[-1] = (chunks[-1][0], e)
        else:
            chunks.append((s, e))
    return chunks


def _merge_heading(
    spans: list[tuple[int, int, Section, RowSpan | None]], section: Section
) -> list[tuple[int, int, Section, RowSpan | None]]:
    """The section's spans with a chunk that is only its heading joined to the text chunk after it.

    A bare heading ("三、收到和处理政府信息公开申请情况") answers nothing and would outrank the passages it heads.
    When no text chunk follows it (a table row does, or nothing: the section is empty), it is left out:
    every passage of the section carries the heading in its heading_path, which is what gets indexed.
    """
    if not spans or spans[0][3] is not None or spans[0][1] > section.body_start:
        return spans
    heading, rest = spans[0], spans[1:]
    if rest and rest[0][3] is None and rest[0][1] - heading[0] <= CHUNK_MAX_CHARS:
        return [(heading[0], rest[0][1], section, None), *rest[1:]]
    return rest


def build_passages(
    report_id: str, title: str, text: str, sections: list[Section], rows: list[RowSpan]
) -> list[Passage]:
    """All passages in text order; none crosses a section boundary; each is an exact slice."""
    spans: list[tuple[int, int, Section, RowSpan | None]] = []
    for section in sections:
        inside = sorted((r for r in rows if section.start <= r.start < section.end), key=lambda r: r.start)
        position = section.start
        own: list[tuple[int, int, Section, RowSpan | None]] = []
        for row in [*inside, None]:
            stop = row.start if row else section.end
            own.extend((s, e, section, None) for s, e in chunk_spans(text, position, stop))
            if row is not None:
                own.append((row.start, row.end, section, row))
                position = row.end
        spans.extend(_merge_heading(own, section))
    passages: list[Passage] = []
    for ordinal, (start, end, section, row) in enumerate(sorted(spans, key=lambda s: s[0])):
        passages.append(
            Passage(
                passage_id=f"{report_id}:p{ordinal}",
                report_id=report_id,
                section=section.key,
                start=start,
                end=end,
                text=text[start:end],
                heading_path=(title, section.title),
                kind=row.kind if row else "text",
                table_id=row.table_id if row else None,
                table_row=row.row if row else None,
            )
        )
    return passages
