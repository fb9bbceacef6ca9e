"""Numbered items in report text (一是…二是…, （一）…, 1. …) and where sentences end."""

from __future__ import annotations

import re

import cn2an

SENTENCE_END = re.compile(r"[。！？!?；;\n]")
ENUM_MARK = re.compile(r"([一二三四五六七八九十])是|[（(]([一二三四五六七八九十])[)）]|(?<![\d.])(\d{1,2})[.、．](?!\d)")


def enumerations(text: str) -> list[tuple[int, list[tuple[int, int]]]]:
    """Groups of numbered items (一是…二是…, （一）…, 1. …) as (lead-in start, [(start, end)])."""
    marks = [(m.start(), m.group(1) or m.group(2) or m.group(3)) for m in ENUM_MARK.finditer(text)]
    groups: list[tuple[int, list[tuple[int, int]]]] = []
    current: list[int] = []
    expected = 1
    for position, label in marks:
        number = int(label) if label.isdigit() else int(cn2an.cn2an(label, "smart"))
        if number == 1:
            if len(current) >= 2:
                groups.append((current[0], _item_spans(text, current)))
            current, expected = [position], 2
        elif number == expected and current:
            current.append(position)
            expected += 1
    if len(current) >= 2:
        groups.append((current[0], _item_spans(text, current)))
    return groups


def _item_spans(text: str, starts: list[int]) -> list[tuple[int, int]]:
    spans = []
    for i, start in enumerate(starts):
        limit = starts[i + 1] if i + 1 < len(starts) else len(text)
        end_match = SENTENCE_END.search(text, start, limit)
        end = end_match.start() if end_match else limit
        spans.append((start, end))
    return spans
