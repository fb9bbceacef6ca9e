"""Agency names: the validated agency-forms data, parsing a name into places and body, its aliases."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

FORMS_FILE = "agency_forms.toml"
KINDS = ("government", "office", "zone", "department", "area")


@dataclass(frozen=True)
class Body:
    """An agency body word that follows a place: 人民政府办公室, 局, …"""

    suffix: str
    kind: str
    full: str  # canonical spelling (== suffix unless suffix is a short form)


@dataclass(frozen=True)
class Forms:
    """Everything agency_forms.toml holds, checked."""

    title_cores: tuple[str, ...]
    title_separators: tuple[str, ...]
    lead_cues: tuple[str, ...]
    alias_cues: tuple[str, ...]
    chrome_title: tuple[str, ...]
    chrome_publisher: tuple[str, ...]
    chrome_date: tuple[str, ...]
    chrome_other: tuple[str, ...]
    period_cues: tuple[str, ...]
    year_phrases: tuple[str, ...]
    place_suffixes: tuple[str, ...]
    government_body: str
    with_government: tuple[str, ...]
    levels: tuple[str, ...]
    not_initial: tuple[str, ...]
    bodies: tuple[Body, ...]
    spellings: tuple[tuple[str, str], ...]  # (long, short)
    examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class AgencyName:
    """A parsed agency name: 上海市杨浦区政府 -> places (上海市, 杨浦区), body 政府 (government)."""

    text: str  # as written
    places: tuple[str, ...]
    body: Body | None  # None for a place itself (a whole-place report)

    @property
    def kind(self) -> str:
        return self.body.kind if self.body else "area"

    @property
    def place(self) -> str:
        return "".join(self.places)

    @property
    def canonical(self) -> str:
        """The full spelling: 上海市杨浦区政府 -> 上海市杨浦区人民政府."""
        if self.body is None:
            return self.text
        return self.text[: len(self.text) - len(self.body.suffix)] + self.body.full


def _strings(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{FORMS_FILE}: {where}{key} 必须是非空字符串列表")
    return tuple(value)


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"{FORMS_FILE}: 缺少 [{key}] 表")
    return value


def _longest_first(words: tuple[str, ...], where: str) -> None:
    for i, word in enumerate(words):
        for later in words[i + 1:]:
            if later.endswith(word) and len(later) > len(word):
                raise ValueError(f"{FORMS_FILE}: {where} 中“{later}”须排在“{word}”之前（长的在前）")


def validate_forms(raw: dict[str, Any]) -> Forms:
    """Check the parsed TOML and build Forms; ValueError (Chinese) names what is wrong."""
    if raw.get("version") != 1:
        raise ValueError(f"{FORMS_FILE}: version 必须为 1")
    chrome, period, places = _table(raw, "chrome"), _table(raw, "period"), _table(raw, "places")
    bodies: list[Body] = []
    for item in raw.get("bodies", []):
        if not isinstance(item, dict) or not isinstance(item.get("suffix"), str) or not item["suffix"]:
            raise ValueError(f"{FORMS_FILE}: [[bodies]] 每项须有 suffix")
        kind = item.get("kind")
        if kind not in KINDS[:-1]:
            raise ValueError(f"{FORMS_FILE}: [[bodies]] {item['suffix']} 的 kind“{kind}”未知")
        full = item.get("full", item["suffix"])
        if not isinstance(full, str) or not _is_cjk(full):
            raise ValueError(f"{FORMS_FILE}: [[bodies]] {item['suffix']} 的 full 无效")
        bodies.append(Body(item["suffix"], kind, full))
    if not bodies:
        raise ValueError(f"{FORMS_FILE}: 缺少 [[bodies]]")
    suffixes = tuple(b.suffix for b in bodies)
    if len(set(suffixes)) != len(suffixes):
        raise ValueError(f"{FORMS_FILE}: [[bodies]] 有重复的 suffix")
    _longest_first(suffixes, "[[bodies]]")
    spellings: list[tuple[str, str]] = []
    for item in raw.get("spellings", []):
        if not (isinstance(item, dict) and isinstance(item.get("long"), str) and isinstance(item.get("short"), str)
                and item["long"] and item["short"] and item["long"] != item["short"]):
            raise ValueError(f"{FORMS_FILE}: [[spellings]] 每项须有不同的 long 与 short")
        spellings.append((item["long"], item["short"]))
    place_suffixes = _strings(places, "suffixes", "[places] ")
    _longest_first(place_suffixes, "[places] suffixes")
    levels = _strings(places, "levels", "[places] ")
    government = places.get("government_body")
    if not isinstance(government, str) or government not in suffixes:
        raise ValueError(f"{FORMS_FILE}: [places] government_body 必须是 [[bodies]] 中的一个 suffix")
    if any(len(level) != 1 for level in levels):
        raise ValueError(f"{FORMS_FILE}: [places] levels 只能是单字")
    examples = raw.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, dict) and isinstance(e.get("text"), str)
                                                  for e in examples):
        raise ValueError(f"{FORMS_FILE}: [[examples]] 每项须有 text")
    cores = _strings(raw, "title_cores", "")
    _longest_first(cores, "title_cores")
    return Forms(
        title_cores=cores,
        title_separators=_strings(raw, "title_separators", ""),
        lead_cues=tuple(sorted(_strings(raw, "lead_cues", ""), key=len, reverse=True)),
        alias_cues=tuple(sorted(_strings(raw, "alias_cues", ""), key=len, reverse=True)),
        chrome_title=_strings(chrome, "title_fields", "[chrome] "),
        chrome_publisher=_strings(chrome, "publisher_fields", "[chrome] "),
        chrome_date=_strings(chrome, "date_fields", "[chrome] "),
        chrome_other=_strings(chrome, "other_fields", "[chrome] "),
        period_cues=_strings(period, "cues", "[period] "),
        year_phrases=_strings(period, "year_phrases", "[period] "),
        place_suffixes=place_suffixes,
        government_body=government,
        with_government=_strings(places, "with_government", "[places] "),
        levels=levels,
        not_initial=_strings(places, "not_initial", "[places] "),
        bodies=tuple(bodies),
        spellings=tuple(spellings),
        examples=tuple(examples),
    )


@cache
def forms() -> Forms:
    """The packaged agency forms, read and validated once."""
    text = resources.files("assistant").joinpath("data", FORMS_FILE).read_text(encoding="utf-8")
    return validate_forms(tomllib.loads(text))


def _is_cjk(text: str) -> bool:
    return bool(text) and all("\u4e00" <= ch <= "\u9fff" for ch in text)


def split_places(text: str, f: Forms | None = None) -> tuple[str, ...] | None:
    """上海市杨浦区 -> (上海市, 杨浦区); None when text is not a run of places (each of two characters or more).

    Of the ways to cut a run, the one whose places neither start nor end in a doubled level word wins
    (荆州市|荆州区, not 荆州|市荆州区), then the one with more places; dynamic programming, quadratic at worst.
    """
    f = f or forms()
    if not _is_cjk(text):
        return None
    bodies = [b.suffix for b in f.bodies if len(b.suffix) > 1]
    n = len(text)
    # best[i]: (odd places, -places, places) for text[i:], or None when it cannot be cut
    best: list[tuple[int, int, tuple[str, ...]] | None] = [None] * (n + 1)
    best[n] = (0, 0, ())
    for i in range(n - 2, -1, -1):
        for end in range(i + 2, n + 1):
            unit, rest = text[i:end], best[end]
            if rest is None or unit[0] in f.not_initial or any(b in unit for b in bodies):
                continue
            suffix = next((s for s in f.place_suffixes if unit.endswith(s) and len(unit) > len(s)), None)
            if suffix is None:
                continue
            odd = (unit[0] in f.levels) + (unit[-len(suffix) - 1] == suffix[0])  # 市荆州区, 济南市市
            candidate = (rest[0] + odd, rest[1] - 1, (unit, *rest[2]))
            if best[i] is None or candidate[:2] < best[i][:2]:  # type: ignore[index]
                best[i] = candidate
    found = best[0]
    return found[2] if found else None


def place_suffix(place: str, f: Forms | None = None) -> str:
    """The administrative-unit word a place ends with (综合实验区 for 平潭综合实验区)."""
    f = f or forms()
    return next((s for s in f.place_suffixes if place.endswith(s)), "")


def parse_agency(text: str, f: Forms | None = None) -> AgencyName | None:
    """A place (or places) followed by a known body, or a place alone; None for anything else."""
    f = f or forms()
    text = text.strip()
    for body in f.bodies:
        if text.endswith(body.suffix) and len(text) > len(body.suffix):
            head = text[: -len(body.suffix)]
            places = split_places(head, f)
            if places:
                return AgencyName(text, places, body)
            if body.kind == "department":
                # 开平市农业农村局: a place, then the department's own name
                for end in range(len(head) - 1, 1, -1):
                    places = split_places(head[:end], f)
                    if places and _is_cjk(head[end:]):
                        return AgencyName(text, places, body)
    places = split_places(text, f)
    return AgencyName(text, places, None) if places else None


def _spelling_variants(name: str, f: Forms) -> set[str]:
    out = {name}
    for long, short in f.spellings:
        for variant in list(out):
            if long in variant:
                out.add(variant.replace(long, short))
            if short in variant and long not in variant:
                out.add(variant.replace(short, long))
    return out


def agency_aliases(name: AgencyName, f: Forms | None = None) -> tuple[str, ...]:
    """Other ways the report itself writes the agency; never a different agency's name.

    孝感市人民政府办公室 -> 孝感市政府办公室, 市人民政府办公室, 市政府办公室; a whole-place report 上海市 ->
    上海市人民政府, 上海市政府. A government's or an office's aliases never include the bare place: a whole-place
    report (上海市) is another agency's, and so is the government's for its office.
    """
    f = f or forms()
    canonical = name.canonical
    rest = canonical[len(name.place):]
    forms_of: set[str] = set()
    if name.body is None:
        if place_suffix(name.places[-1], f) in f.with_government:
            forms_of |= _spelling_variants(name.place + f.government_body, f)
    else:
        forms_of |= _spelling_variants(canonical, f) | {name.text}
        for i in range(1, len(name.places)):  # 荆州市荆州区… -> 荆州区…
            forms_of |= _spelling_variants("".join(name.places[i:]) + rest, f)
        last = name.places[-1]
        level = next((lv for lv in f.levels if last.endswith(lv)), None)
        if level:
            forms_of |= _spelling_variants(level + rest, f)
    forms_of.discard(canonical)
    return tuple(sorted(forms_of, key=lambda a: (-len(a), a)))
