"""Query understanding: validate a question and find the years and agency it asks about."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant import segment
from assistant.errors import QueryError

_CN_DIGITS = {"〇": "0", "零": "0", "○": "0", "一": "1", "二": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_CN_YEAR = re.compile(r"([〇零○一二三四五六七八九]{4})年")
_AGENCY_SUFFIXES = ("人民政府办公室", "人民政府办公厅", "政府办公室", "政府办公厅", "人民政府", "政府")
# An agency-like name: a place followed by a bureau-like unit (used to spot agencies not in the corpus).
_PLACE_UNIT = re.compile(r"([\u4e00-\u9fff]{2,4}?[省市县区州])([\u4e00-\u9fff]{1,8}?(?:局|委员会|厅|署))")
_PLACE = re.compile(r"(?<![全本我该各])([\u4e00-\u9fff]{2,3}[市县区])(?=\d|[\u4e00-\u9fff]|$)")
_GENERIC_PLACES = ("城市", "城区", "市区", "县区", "市县", "全市", "全县", "全区", "地区", "社区")
_MEANINGFUL = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")


def validate(question: str, max_chars: int) -> str:
    """The question stripped, or a QueryError saying what is wrong with it."""
    text = (question or "").strip()
    if not text:
        raise QueryError("问题为空，请输入要查询的内容。")
    if not _MEANINGFUL.search(text):
        raise QueryError("问题里只有标点符号，请输入要查询的内容。")
    if len(text) > max_chars:
        raise QueryError(f"问题过长（{len(text)} 字），请精简到 {max_chars} 字以内。")
    return text


def agency_base(agency: str) -> str:
    """青禾县人民政府办公室 -> 青禾县; 澜溪市生态环境局 stays itself."""
    for suffix in _AGENCY_SUFFIXES:
        if agency.endswith(suffix) and len(agency) > len(suffix):
            return agency[: -len(suffix)]
    return agency


def agency_aliases(agency: str) -> set[str]:
    """Ways a question may name an agency."""
    base = agency_base(agency)
    aliases = {agency, base}
    if base != agency:
        aliases |= {base + s for s in _AGENCY_SUFFIXES} | {base + "政府办"}
    return aliases


@dataclass(frozen=True)
class QueryIntent:
    """What a question asks about, beyond its words."""

    text: str  # normalised question
    years: tuple[int, ...]  # every year it names, in order
    agency: str | None  # a corpus agency it names
    unknown_agency: str | None  # an agency-like name it uses that no corpus report is from


def find_years(text: str) -> tuple[int, ...]:
    years: list[int] = [int(m) for m in _YEAR.findall(text)]
    for m in _CN_YEAR.findall(text):
        years.append(int("".join(_CN_DIGITS[c] for c in m)))
    return tuple(dict.fromkeys(years))


def find_agency(text: str, agencies: Iterable[str]) -> tuple[str | None, str | None]:
    """(known agency named, unknown agency-like name) in the text; longest alias wins."""
    best: tuple[int, str] | None = None
    aliases_seen: set[str] = set()
    for agency in agencies:
        for alias in agency_aliases(agency):
            aliases_seen.add(alias)
            if alias in text and (best is None or len(alias) > best[0]):
                best = (len(alias), agency)
    known = best[1] if best else None
    for m in _PLACE_UNIT.finditer(text):
        name = m.group(0)
        if not any(name in alias or alias in name and len(alias) >= len(name) for alias in aliases_seen):
            covered = known is not None and any(a in name and len(a) > len(m.group(1)) for a in agency_aliases(known))
            if not covered:
                return None, name
    if known is None:
        for m in _PLACE.finditer(text):
            place = m.group(1)
            if place not in _GENERIC_PLACES and not any(place in alias for alias in aliases_seen):
                return None, place
    return known, None


def understand(question: str, agencies: Sequence[str]) -> QueryIntent:
    """Normalise the question and read its years and agency."""
    text = segment.normalize(question)
    agency, unknown = find_agency(text, agencies)
    return QueryIntent(text=text, years=find_years(text), agency=agency, unknown_agency=unknown)
