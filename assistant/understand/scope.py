"""Which reports a question is about: the agency and years it names, relative years, and coverage."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.records import ReportMeta
from assistant.understand.lexicon import Lexicon, lexicon

MAX_NAMED = 20  # agencies named when saying what the corpus covers (a province's corpus has hundreds)
_CN_DIGITS = {"〇": "0", "零": "0", "○": "0", "一": "1", "二": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_CN_YEAR = re.compile(r"([〇零○一二三四五六七八九]{4})年")
_SHORT_YEAR = re.compile(r"(?<![\d.])([012]\d)年(?!代)")  # "22年" in speech
_TITLE_TAIL = re.compile(r"(?:(?:19|20)\d{2}年度?|政府信息公开工作年度报告|政府信息公开年度报告|年度报告)")


@dataclass(frozen=True)
class Scope:
    """The reports a question is answered from, and how that was decided."""

    agency: str | None = None  # canonical agency (as the corpus names it)
    years: tuple[int, ...] = ()
    section: str | None = None
    report_ids: tuple[str, ...] = ()  # the reports in scope (empty: none is)
    unknown_agency: str | None = None  # an agency-like name the question uses that no report is from
    agency_from: str = ""  # "question", "filter", "conversation" or ""
    years_from: str = ""
    relative_years: tuple[str, ...] = ()  # the relative words resolved (去年 …)
    conflict: str = ""  # the note when the question overrides a filter
    problem: str = ""  # why the corpus cannot answer (agency or year not covered), or ""

    def as_dict(self) -> dict[str, object]:
        return {"agency": self.agency, "years": list(self.years), "section": self.section,
                "report_ids": list(self.report_ids), "unknown_agency": self.unknown_agency,
                "agency_from": self.agency_from, "years_from": self.years_from, "conflict": self.conflict,
                "problem": self.problem}


def agency_of(meta: ReportMeta) -> str:
    """The report's agency; when the parser found none, the place named in its title."""
    if meta.agency:
        return meta.agency
    place = _TITLE_TAIL.sub("", meta.title).strip()
    units = lexicon().place_units
    return place if place and any(u in place for u in units) else ""


def find_years(text: str) -> tuple[int, ...]:
    """Every absolute year the text names, in order (2021, 二〇二一年)."""
    years: list[int] = [int(m) for m in _YEAR.findall(text)]
    for m in _CN_YEAR.findall(text):
        years.append(int("".join(_CN_DIGITS[c] for c in m)))
    if not years:
        years += [2000 + int(m) for m in _SHORT_YEAR.findall(text)]
    return tuple(dict.fromkeys(years))


def strip_years(text: str) -> str:
    return _SHORT_YEAR.sub("", _CN_YEAR.sub("", _YEAR.sub("", text))).replace("年度", "").replace("年", "")


def relative_years(text: str, lex: Lexicon) -> list[tuple[str, int]]:
    """The relative year words in the text with their offsets (去年 -> -1), not label words (上一年结转)."""
    found: list[tuple[str, int]] = []
    for word in sorted(lex.relative_years, key=len, reverse=True):
        start = text.find(word)
        while start >= 0:
            after, before = text[start + len(word):], text[:start]
            if not any(after.startswith(b) for b in lex.not_before) and not any(
                    before.endswith(a) for a in lex.not_after) and not any(
                    word in w and w in text for w, _ in found):
                found.append((word, lex.relative_years[word]))
                break
            start = text.find(word, start + 1)
    return found


def _place_forms(base: str, lex: Lexicon) -> set[str]:
    """青禾县 -> {青禾县, 青禾}; 上海市杨浦区 -> {…, 杨浦区, 杨浦, 沪杨浦区}; 上海市 -> {上海市, 上海, 沪}."""
    units = "".join(lex.place_units)
    inner = re.match(rf"^(.+?[{units}])(.+[{units}])$", base)
    local = inner.group(2) if inner else base
    forms = {base, local}
    for kind in sorted(lex.area_kinds, key=len, reverse=True):  # 平潭综合实验区 -> 平潭
        if local.endswith(kind) and len(local) - len(kind) >= lex.short_form_min:
            forms.add(local[: -len(kind)])
            break
    else:
        if local[-1:] in units and len(local) - 1 >= lex.short_form_min:
            forms.add(local[:-1])
    forms = {f for f in forms if len(f) >= lex.short_form_min}
    for short, full in lex.provinces.items():
        if base.startswith(full):
            rest = base[len(full):]
            forms.add(short + rest if rest else short)
    return forms


def agency_names(agency: str, aliases: Sequence[str] = (), lex: Lexicon | None = None) -> set[str]:
    """Every way a question may name this agency: suffix forms, short place names, province abbreviations."""
    lex = lex or lexicon()
    units = "".join(lex.place_units)
    # a name without its place (区政府办公室) would match inside any other place's name
    return {n for n in _names_of(agency, aliases, lex) if n and (n == agency or n[0] not in units)}


def level_names(agency: str, aliases: Sequence[str] = (), lex: Lexicon | None = None) -> set[str]:
    """The names that start with the agency's level instead of its place (省机关事务管理局): a question may
    open with one, but inside a longer name (云南省机关事务管理局) it is another place's agency."""
    lex = lex or lexicon()
    return {n for n in _names_of(agency, aliases, lex) if n and n != agency and n[0] in lex.place_units}


def _names_of(agency: str, aliases: Sequence[str], lex: Lexicon) -> set[str]:
    names = {agency, *aliases}
    units = "".join(lex.place_units)
    for name in list(names):
        for group in lex.suffix_groups:
            suffix = next((s for s in group if name.endswith(s) and len(name) > len(s)), None)
            if suffix is None:
                continue
            base = name[: -len(suffix)]
            for place in _place_forms(base, lex):
                names |= {place + s for s in group}
                names.add(place)
            break
        else:
            split = re.match(rf"^(.+?[{units}])(.+)$", name)
            if split and split.group(1) != name:
                unit = split.group(2)
                places = _place_forms(split.group(1), lex)
                names |= {p + unit for p in places}
                if any(unit.startswith(s) for g in lex.suffix_groups for s in g):
                    names |= places  # 城口县人民政府机关 is the government of 城口县
                elif len(unit) >= 4:  # 生态环境局 (a name two agencies share names neither)
                    names.add(unit)
            elif name[-1:] in units:
                names |= _place_forms(name, lex)
    for long, short in lex.contractions:  # 机关事务管理局 -> 机关事务局
        names |= {n.replace(long, short) for n in names if long in n}
    return names


class Corpus(Mapping[str, ReportMeta]):
    """The reports' metadata (read-only), with what scope resolution asks of it for every question computed
    once: each report's agency, the reports of each agency in (agency, year) order, each agency's years."""

    def __init__(self, metas: Mapping[str, ReportMeta]) -> None:
        self._metas = metas
        self.agency = {rid: agency_of(m) for rid, m in metas.items()}
        self.agencies = frozenset(self.agency.values())
        self.ordered = sorted(metas, key=lambda rid: (self.agency[rid], metas[rid].year or 0, rid))
        self.by_agency: dict[str, list[str]] = {}
        for rid in self.ordered:
            self.by_agency.setdefault(self.agency[rid], []).append(rid)
        years: dict[str | None, set[int]] = {None: set()}
        for rid, m in metas.items():
            if m.year is not None:
                years[None].add(m.year)
                years.setdefault(self.agency[rid], set()).add(m.year)
        self.years = {agency: sorted(found) for agency, found in years.items()}
        self.pairs = tuple(sorted({(self.agency[rid], tuple(m.aliases)) for rid, m in metas.items()}))

    def __getitem__(self, report_id: str) -> ReportMeta:
        return self._metas[report_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metas)

    def __len__(self) -> int:
        return len(self._metas)


def _digest(corpus: Mapping[str, ReportMeta]) -> Corpus:
    return corpus if isinstance(corpus, Corpus) else Corpus(corpus)


def agencies(corpus: Mapping[str, ReportMeta]) -> frozenset[str]:
    """The canonical agencies of the corpus ("" for a report whose agency is unknown)."""
    return _digest(corpus).agencies


@lru_cache(maxsize=64)
def _alias_table(agencies: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for agency, aliases in agencies:
        if not agency:
            continue
        for name in agency_names(agency, aliases):
            table.setdefault(name, set()).add(agency)
    return {k: frozenset(v) for k, v in table.items()}


@lru_cache(maxsize=64)
def _level_table(agencies: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for agency, aliases in agencies:
        for name in level_names(agency, aliases) if agency else ():
            table.setdefault(name, set()).add(agency)
    return {k: frozenset(v) for k, v in table.items()}


def _level_name(text: str, corpus: Mapping[str, ReportMeta], lex: Lexicon) -> tuple[str, str] | None:
    """A level name (省机关事务管理局) that only one agency has, where the question opens with it or after a
    word that cannot end a place (not after 云南 of 云南省…): (the agency, the name)."""
    table = _level_table(_digest(corpus).pairs)
    for name in sorted(table, key=len, reverse=True):
        at = text.find(name)
        before = text[at - 1: at] if at > 0 else ""
        if at >= 0 and len(table[name]) == 1 and (not re.match(r"[\u4e00-\u9fff]", before) or before in lex.not_place):
            return next(iter(table[name])), name
    return None


def agency_table(corpus: Mapping[str, ReportMeta]) -> dict[str, frozenset[str]]:
    """Alias -> the canonical agencies it names."""
    return _alias_table(_digest(corpus).pairs)


def find_agency(text: str, corpus: Mapping[str, ReportMeta],
                lex: Lexicon | None = None) -> tuple[frozenset[str], str | None, str]:
    """(agencies named, an unknown agency-like name, the words that named them); longest alias wins."""
    lex = lex or lexicon()
    table = agency_table(corpus)
    named = [a for a in table if a in text]
    best = max(named, key=lambda a: (len(a), -text.find(a)), default=None)
    if best is not None:  # of overlapping names, the one that starts first (杨浦区政府办公室: 杨浦区政府)
        start = text.find(best)
        earlier = [a for a in named if text.find(a) < start < text.find(a) + len(a)]
        best = max(earlier, key=len) if earlier else best
    known = table[best] if best else frozenset()
    if best in known:  # the alias is one agency's own name (上海市), not a short form of another's
        known = frozenset({best})
    units, offices = "".join(lex.place_units), "|".join(map(re.escape, lex.office_units))
    masked = text  # lead words (请问, 关于) blanked out, same offsets
    for word in lex.lead_words:
        masked = masked.replace(word, "，" * len(word))
    # a place followed by an office unit (澜溪市教育局) that no report is from
    # every start position is tried (a lookahead), so "对青禾县政府办公室" still finds 青禾县政府办公室,
    # except those inside a name the corpus knows (泉市… in 龙泉市…)
    inside = [(m.start(), m.end()) for a in named for m in re.finditer(re.escape(a), text)]
    for m in re.finditer(rf"(?=(([\u4e00-\u9fff]{{2,4}}?[{units}])([\u4e00-\u9fff]{{1,8}}?(?:{offices}))))", masked):
        name = m.group(1)
        if any(s < m.start() < e for s, e in inside) or any(c in m.group(2) for c in lex.not_place):
            continue
        if any(name in alias or alias in name and len(alias) >= len(name) for alias in table):
            continue
        if best and best in name and len(best) > len(m.group(2)):
            continue  # 青禾县人民政府办公室 says more than 青禾县
        rest = name[len(m.group(2)):]
        if best and m.group(2).startswith(best) and any(rest.startswith(s) for g in lex.suffix_groups for s in g):
            continue  # 龙泉市政府信息公开中心 is part of 龙泉市
        if any(g in m.group(2) for g in lex.generic_places):
            continue
        return frozenset(), name, name
    if best is None and (level := _level_name(text, corpus, lex)) is not None:
        return frozenset({level[0]}), None, level[1]
    if best is None:
        for m in re.finditer(rf"(?<![全本我该各哪])(?=([\u4e00-\u9fff]{{2,3}}[{units}]))", masked):
            place = m.group(1)
            if any(c in place for c in lex.not_place):
                continue
            if place in lex.generic_places or any(place.endswith(g) or g in place for g in lex.generic_places):
                continue
            if not any(place in alias for alias in table):
                return frozenset(), place, place
    return known, None, best or ""


def resolve_agency(name: str, corpus: Mapping[str, ReportMeta]) -> str | None:
    """The canonical agency a filter value names (青禾县 -> 青禾县人民政府办公室), or None."""
    digest = _digest(corpus)
    if name in digest.agencies:
        return name
    found = _alias_table(digest.pairs).get(name)
    return next(iter(found)) if found and len(found) == 1 else None


def reports_of(corpus: Mapping[str, ReportMeta], agency: str | None, years: Sequence[int] = ()) -> list[str]:
    """Report ids of this agency (any if None) and these years (any if empty), sorted by agency and year."""
    digest = _digest(corpus)
    ids = digest.ordered if agency is None else digest.by_agency.get(agency, [])
    return [rid for rid in ids if not years or corpus[rid].year in years]


def years_of(corpus: Mapping[str, ReportMeta], agency: str | None) -> list[int]:
    return list(_digest(corpus).years.get(agency, []))


def named_agencies(names: Sequence[str]) -> str:
    """Agency names for a Chinese sentence: the first MAX_NAMED, then how many there are in all."""
    return "、".join(names[:MAX_NAMED]) + (f"等{len(names)}个机关" if len(names) > MAX_NAMED else "")


def coverage_problem(corpus: Mapping[str, ReportMeta], agency: str | None, unknown: str | None,
                     years: Sequence[int]) -> str:
    """Why no report can answer for this agency and these years (naming what is covered), or ""."""
    if unknown and not agency:
        return f"{unknown}的报告。已收录的机关有：{named_agencies(sorted(agencies(corpus) - {''}))}。"
    covered = years_of(corpus, agency)
    missing = [y for y in years if y not in covered]
    if years and len(missing) == len(years):
        who = agency or "任何机关"
        return (f"{who}{'、'.join(str(y) for y in missing)}年度的报告。"
                f"已收录的年度：{'、'.join(str(y) for y in covered) or '无'}。")
    return ""
