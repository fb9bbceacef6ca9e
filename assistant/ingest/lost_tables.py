"""Tables a text export ran together ("…申请数量640020470…"): found, so that no number is read from them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.records import Section
from assistant.segment import to_simplified

# Template words that label a cell of each table (the kind of a run of cells is the first list that matches).
KIND_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("T4", ("结果维持", "结果纠正", "尚未审结", "行政复议", "行政诉讼", "复议后起诉", "直接起诉")),
    ("T3", ("申请人情况", "自然人", "新收", "上年结转", "予以公开", "部分公开", "不予公开", "国家秘密", "禁止公开", "三安全", "第三方",
            "内部事务", "过程性", "执法案卷", "查询事项", "无法提供", "不掌握", "另行制作", "仍不明确", "不予处理",
            "信访", "重复申请", "出版物", "大量反复", "重新出具", "其他处理", "不补正", "缴纳费用", "结转下年度")),
    ("T2", ("第二十条", "规章", "规范性文件", "行政许可", "对外管理服务", "行政处罚", "行政强制", "事业性收费",
            "集中采购", "制发件数", "新制作")),
)
GENERIC_WORDS = ("总计", "合计", "其他")  # label a cell of whichever table the run is in
TABLE_SECTIONS = {"T2": "二", "T3": "三", "T4": "四"}
MIN_JUNCTIONS = 3  # label-digits junctions that make a run of lost cells
MIN_GLUED_DIGITS = 7  # a single junction with this many digits is several cells run together
MAX_GAP_CHARS = 400  # junctions further apart are separate runs
MAX_LABEL_CHARS = 300

# Digits glued to the label before them (at most one space), not followed by a unit as prose would be
# (元 is left out: a glued T2 row ends with 采购总金额 in 元).
_JUNCTION = re.compile(
    r"(?<=[\u4e00-\u9fff）)”」])[ ]?(?P<digits>\d(?:[\d \-]*\d)?(?:\.\d+)?)"
    r"(?![\d.]|\s*(?:件|条|个|项|万|亿|%|％|‰|次|人|年|月|日|号|期|家|批|份|篇|场|余|多|天|小时|分钟|倍|户|宗|起|页|类|名|位|所|座|处|台|部))"
)
_LABEL_START = re.compile(r"[。！？\n]|\s(?=\S)")
_TRAILING_UNIT = re.compile(r"(?:\s*(?:万元|元))?")
_LEADING_FIGURE = re.compile(r"[\d.\s\-]*(?:万元|元|%|％)?\s*")  # the end of the previous table's last figure


@dataclass(frozen=True)
class LostTable:
    """A run of table cells without separators: which template table, and its span in the text."""

    kind: str  # "T2", "T3" or "T4"
    start: int
    end: int
    sample: str  # a short excerpt of the run, for the warning


@dataclass
class _Junction:
    label_start: int
    label: str
    start: int
    end: int
    digits: int
    kind: str | None


def _kind(label: str) -> str | None:
    for kind, words in KIND_WORDS:
        if any(w in label for w in words):
            return kind
    return None


def _overlaps(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _junctions(text: str, excluded: list[tuple[int, int]]) -> list[_Junction]:
    found: list[_Junction] = []
    previous_end = 0
    for match in _JUNCTION.finditer(text):
        if _overlaps(match.start(), match.end(), excluded):
            previous_end = match.end()
            continue
        label_end = match.start()
        floor = max(previous_end, label_end - MAX_LABEL_CHARS)
        breaks = [m.end() for m in _LABEL_START.finditer(text, floor, label_end)]
        label_start = breaks[-1] if breaks else floor
        label = text[label_start:label_end]
        digits = sum(c.isdigit() for c in match.group("digits"))
        kind = _kind(label)
        if kind is None and not any(w in label for w in GENERIC_WORDS):
            previous_end = match.end()
            continue
        found.append(_Junction(label_start, label, match.start("digits"), match.end(), digits, kind))
        previous_end = match.end()
    return found


def _runs(text: str, junctions: list[_Junction]) -> list[list[_Junction]]:
    runs: list[list[_Junction]] = []
    for j in junctions:
        last = runs[-1][-1] if runs else None
        joined = last is not None and j.start - last.end <= MAX_GAP_CHARS and "。" not in text[last.end : j.label_start]
        if joined and runs:
            runs[-1].append(j)
        else:
            runs.append([j])
    return runs


def _by_kind(run: list[_Junction]) -> list[tuple[str, list[_Junction]]]:
    """Split a run where the table changes (T2 rows, then T3 rows …); generic labels join the current table."""
    parts: list[tuple[str, list[_Junction]]] = []
    for j in run:
        kind = j.kind or (parts[-1][0] if parts else None)
        if kind is None:
            continue
        if parts and parts[-1][0] == kind:
            parts[-1][1].append(j)
        else:
            parts.append((kind, [j]))
    return parts


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a pattern that may match empty ends, matched at pos."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def find_lost_tables(text: str, excluded: list[tuple[int, int]] | None = None) -> list[LostTable]:
    """Runs of template table cells whose numbers are glued together, outside the excluded (readable) spans.

    Template words and units are matched on to_simplified(text) (same offsets); the sample is the text's."""
    found: list[LostTable] = []
    published, text = text, to_simplified(text)
    for run in _runs(text, _junctions(text, excluded or [])):
        previous: _Junction | None = None
        for kind, cells in _by_kind(run):
            # the text between two tables' cells (a heading, the header row) belongs to the second table
            start = _skip(_LEADING_FIGURE, text, previous.end) if previous else cells[0].label_start
            previous = cells[-1]
            glued = max(c.digits for c in cells)
            if len(cells) < MIN_JUNCTIONS and glued < MIN_GLUED_DIGITS:
                continue
            end = _skip(_TRAILING_UNIT, text, cells[-1].end)
            telling = max(cells, key=lambda c: c.digits)  # the most digits run together show the loss best
            sample = published[max(start, telling.start - 16) : telling.end].strip()
            found.append(LostTable(kind, start, end, sample))
    return found


def section_spans(lost: LostTable, sections: list[Section]) -> list[tuple[str, int, int]]:
    """The lost run cut at section boundaries, as (section key, start, end), so no passage crosses one."""
    pieces: list[tuple[str, int, int]] = []
    for section in sections:
        start, end = max(lost.start, section.start), min(lost.end, section.end)
        if start < end:
            pieces.append((section.key, start, end))
    return pieces


def warning_message(lost: LostTable) -> str:
    """The Chinese warning for a lost table."""
    section = TABLE_SECTIONS[lost.kind]
    return (f"第{section}部分的表格（表{section}）在文本中单元格连在一起（如“{lost.sample}”），"
            "无法读取各单元格；其中的数字不会用于回答，请改用原网页或 PDF/DOCX 版本")
