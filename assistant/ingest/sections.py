"""The six template sections, found by meaning in the cleaned text (headings may sit inline)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.records import SECTION_KEYS, SECTION_TITLES, Section
from assistant.segment import to_simplified

NUMERALS = "一二三四五六"
_HAN = r"[\u4e00-\u9fff]"
# What each heading says, whatever its exact wording (fillers are Han characters only).
PHRASES: dict[str, str] = {
    "一": rf"{_HAN}{{0,10}}?(?:总体情况|基本情况|总体概况|概述|概况)",
    "二": rf"{_HAN}{{0,8}}?主动公开{_HAN}{{0,12}}?情况",
    "三": rf"{_HAN}{{0,6}}?(?:收到和处理|收到及处理|依申请公开){_HAN}{{0,20}}?情况",
    "四": rf"(?:{_HAN}|[、，,]){{0,24}}?(?:行政复议|复议)(?:{_HAN}|[、，,]){{0,24}}?情况",
    "五": rf"{_HAN}{{0,14}}?(?:存在的主要问题|主要问题|存在问题|存在的问题|存在的不足){_HAN}{{0,16}}?(?:情况|措施|打算|方向)",
    "六": rf"{_HAN}{{0,4}}?其他需要报告的?事项",
}
# A heading number starts a line or follows a space or the end of a sentence, never "（一）" or "第一".
_BEFORE = r"(?<![^\s。！？；;!?）)」”])"
_NUMBERED = re.compile(
    rf"{_BEFORE}(?:第(?P<n1>[{NUMERALS}])部分\s*[、:：.．]?|(?P<n2>[{NUMERALS}])\s*[、.．，,]|(?P<n3>[{NUMERALS}])\s)\s*"
)
_BARE_LINE = re.compile(r"^[ \t]*(?P<body>[^\n]{2,40}?)[ \t]*[:：。.]?[ \t]*$", re.MULTILINE)
_PHRASE_RES = {key: re.compile(phrase) for key, phrase in PHRASES.items()}
_CONTENT = re.compile(r"[\w\u4e00-\u9fff]")


@dataclass(frozen=True)
class Heading:
    key: str
    start: int
    end: int
    numeral: str | None

    def title(self, text: str) -> str:
        return text[self.start : self.end]


def _overlaps(start: int, end: int, excluded: list[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in excluded)


def _candidates(text: str, excluded: list[tuple[int, int]]) -> list[Heading]:
    found: list[Heading] = []
    for match in _NUMBERED.finditer(text):
        numeral = match.group("n1") or match.group("n2") or match.group("n3")
        for key, phrase in _PHRASE_RES.items():
            hit = phrase.match(text, match.end())
            if hit and not _overlaps(match.start(), hit.end(), excluded):
                found.append(Heading(key, match.start(), hit.end(), numeral))
                break
    for line in _BARE_LINE.finditer(text):
        body = line.group("body")
        for key, phrase in _PHRASE_RES.items():
            if phrase.fullmatch(body) and not _overlaps(line.start("body"), line.end("body"), excluded):
                found.append(Heading(key, line.start("body"), line.end("body"), None))
    return sorted(found, key=lambda h: h.start)


def find_headings(text: str, excluded: list[tuple[int, int]] | None = None) -> list[Heading]:
    """The template headings present, in order; spans in `excluded` (rendered tables) are skipped.

    Headings in traditional characters (一、總體情況) are found too: matching runs on to_simplified(text),
    whose offsets are the text's."""
    candidates = _candidates(to_simplified(text), excluded or [])
    chosen: dict[str, Heading] = {}
    position = 0
    for key in SECTION_KEYS[1:]:
        after = [h for h in candidates if h.key == key and h.start >= position and h.numeral]
        pick = next((h for h in after if h.numeral == key), after[0] if after else None)
        if pick is not None:
            chosen[key] = pick
            position = pick.end
    for i, key in enumerate(SECTION_KEYS[1:], start=1):
        if key in chosen:
            continue
        low = max((chosen[k].end for k in SECTION_KEYS[1:i] if k in chosen), default=0)
        high = min((chosen[k].start for k in SECTION_KEYS[i + 1 :] if k in chosen), default=len(text))
        pick = next((h for h in candidates if h.key == key and not h.numeral and low <= h.start < high), None)
        if pick is not None:
            chosen[key] = pick
    return sorted(chosen.values(), key=lambda h: h.start)


def has_content(text: str) -> bool:
    """True when the text holds a letter, digit or Han character (not only spaces and punctuation)."""
    return bool(_CONTENT.search(text))


def build_sections(text: str, headings: list[Heading]) -> list[Section]:
    """Sections as spans of the text: the preamble, then one per heading up to the next heading."""
    sections: list[Section] = []
    first = headings[0].start if headings else len(text)
    if text[:first].strip():
        preamble_empty = not has_content(text[:first])
        sections.append(Section("preamble", SECTION_TITLES["preamble"], 0, first, 0, preamble_empty))
    for i, heading in enumerate(headings):
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        body_start = heading.end
        while body_start < end and text[body_start] in " \t\n：:":
            body_start += 1
        body = text[body_start:end]
        sections.append(
            Section(heading.key, heading.title(text), heading.start, end, body_start, not has_content(body))
        )
    return sections
