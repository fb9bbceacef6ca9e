"""Report identity (title, agency and its aliases, year) and template version, with sidecar overrides."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from assistant.ingest.agency import AgencyName, Forms, agency_aliases, forms, parse_agency
from assistant.records import ParseWarning
from assistant.segment import to_simplified

CATALOG_NAME = "catalog.csv"
META_SUFFIX = ".meta.json"
OVERRIDABLE = ("title", "agency", "aliases", "year", "source_url")

HEAD_CHARS = 3000  # the title, chrome and opening sentence are in the first few thousand characters
HEAD_LINES = 16  # lines looked at for a title line
MAX_TITLE_LINE = 40  # an agency line above a title line is short
_YEAR = r"(?:19|20)\d{2}"
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_CJK_RUN_CHARS = re.compile(r"[\u4e00-\u9fff（）()]")
_BOUNDARY_OPEN = "（("
_BOUNDARY_CLOSE = "）)"
_DATE = re.compile(rf"({_YEAR})\s*[-年./]\s*\d{{1,2}}")
_MARKS_2021 = ("本年制发件数", "本年废止件数", "现行有效件数", "逾期不补正", "逾期未按收费通知")
_MARKS_2019 = ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "本年增/减", "采购总金额")
FIRST_TEMPLATE_YEAR = 2019  # reports before it follow no national template


@dataclass(frozen=True)
class Identity:
    """Who wrote a report, for which year, and where each of these was read."""

    title: str
    agency: str
    aliases: tuple[str, ...]
    year: int | None
    title_source: str  # chrome, hint, heading, two_lines, three_lines, sentence, sidecar, file_name
    agency_source: str  # title, sentence, prose, chrome, sidecar or "" (not named)
    year_source: str  # title, period, phrase, publication, sidecar, file_name or ""
    warnings: tuple[ParseWarning, ...] = field(default=())


@dataclass(frozen=True)
class _Title:
    text: str  # the title as published (inner spaces removed)
    year: int
    agency: AgencyName | None
    aliases: tuple[str, ...]  # defined next to the agency: (以下简称…), (市人民政府办公厅)
    source: str


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """(title anchor, chrome label, alias definition, statistics period, year-after title, year phrase)."""
    f = forms()
    cores = "|".join(map(re.escape, f.title_cores))
    anchor = re.compile(rf"(?P<year>{_YEAR})\s*年度?\s*(?P<mid>[\u4e00-\u9fff（）()]{{0,40}}?)\s*(?P<core>{cores})")
    after = re.compile(rf"(?P<core>{cores})\s*[（(]\s*(?P<year>{_YEAR})\s*年度?\s*[）)]")
    labels = sorted((*f.chrome_title, *f.chrome_publisher, *f.chrome_date, *f.chrome_other), key=len, reverse=True)
    spaced = "|".join(r"\s*".join(map(re.escape, label)) for label in labels)
    chrome = re.compile(rf"(?P<label>{spaced})\s*[:：|｜]?\s*")
    cues = "|".join(map(re.escape, f.alias_cues))
    alias = re.compile(rf"[（(](?:{cues})[:：]?[“\"]?(?P<alias>[\u4e00-\u9fff]{{2,16}})[”\"]?[）)]")
    phrase = re.compile(rf"(?P<year>{_YEAR})\s*年度?[^。\n]{{0,10}}?(?:{'|'.join(map(re.escape, f.year_phrases))})")
    period = re.compile(
        rf"(?:{'|'.join(map(re.escape, f.period_cues))})[^。\n]{{0,40}}?(?P<year>{_YEAR})\s*年\s*0?1\s*月\s*0?1\s*日"
    )
    return anchor, chrome, alias, period, after, phrase


def _compact(text: str) -> str:
    """Spaces inside a title removed (清水县人民政府2019年 政府信息… is one title)."""
    return _SPACES.sub("", text).strip()


def _strip_lead(run: str, f: Forms) -> str:
    """The part of a run of characters after its last opening cue (现公布…, …编制了…)."""
    cut = 0
    for cue in f.lead_cues:
        at = run.rfind(cue)
        if at >= 0 and at + len(cue) > cut:
            cut = at + len(cue)
    return run[cut:]


def _run_before(text: str, end: int) -> str:
    """The characters before end that can belong to an agency name (CJK and parentheses), nearest first."""
    start = end
    while start > 0 and end - start < 60 and _CJK_RUN_CHARS.match(text[start - 1]):
        start -= 1
    return text[start:end]


def _expand_relative(short: str, agency: AgencyName, f: Forms) -> str | None:
    """市人民政府办公厅 inside 贵阳市人民政府's report -> 贵阳市人民政府办公厅."""
    for level in f.levels:
        if short.startswith(level) and agency.places and agency.places[-1].endswith(level):
            return agency.place + short[1:]
    return short if parse_agency(short, f) else None


def _split_parenthetical(run: str) -> tuple[str, str, str]:
    """(name part, parenthetical as published, parenthetical's inner text) of a run ending in (…)."""
    if not run or run[-1] not in _BOUNDARY_CLOSE:
        return run, "", ""
    opening = max(run.rfind(c) for c in _BOUNDARY_OPEN)
    if opening <= 0:
        return run, "", ""
    return run[:opening], run[opening:], run[opening + 1:-1]


def _agency_before(text: str, end: int, f: Forms) -> tuple[AgencyName | None, str, tuple[str, ...]]:
    """The agency named just before a title's year: (name, text kept in the title, aliases it defines)."""
    run = _run_before(text, end)
    name_part, paren, inner = _split_parenthetical(run)
    kept_paren = ""
    defined = ""
    if paren:
        cue = next((c for c in f.alias_cues if inner.startswith(c)), None)
        if cue is None:
            kept_paren = paren
        else:
            defined = inner[len(cue):].strip("“”\"：:")
    name_text = _strip_lead(name_part, f)
    for start in range(len(name_text) - 1):  # the longest agency that ends the run
        agency = parse_agency(name_text[start:], f)
        if agency is not None:
            aliases = [defined] if _names_same_kind(defined, agency, f) else []
            joint = _expand_relative(inner, agency, f) if kept_paren else None
            if joint:  # 贵阳市人民政府(市人民政府办公厅): the report is also the office's
                aliases += [joint, inner]
            return agency, name_text[start:] + kept_paren, tuple(aliases)
    return None, "", ()


def _titles_in(text: str, source: str, f: Forms) -> list[_Title]:
    """Every title found in a piece of text, in order."""
    anchor = _patterns()[0]
    found: list[_Title] = []
    for m in anchor.finditer(text):
        year = int(m.group("year"))
        span = _compact(text[m.start():m.end()])
        mid = m.group("mid")
        if mid:  # year first: 2019年上海市人民政府办公厅政府信息公开工作年度报告
            agency = parse_agency(_compact(mid), f)
            found.append(_Title(span, year, agency, (), source))
            continue
        agency, written, aliases = _agency_before(text, m.start(), f)
        found.append(_Title(_compact(written) + span, year, agency, aliases, source))
    for m in _patterns()[4].finditer(text):  # 某某局政府信息公开工作年度报告（2020年度）
        agency, written, aliases = _agency_before(text, m.start(), f)
        if agency is not None:
            found.append(_Title(_compact(written + text[m.start():m.end()]), int(m.group("year")), agency, aliases,
                                source))
    return found


def _chrome_fields(lines: Sequence[str], f: Forms) -> dict[str, list[str]]:
    """Labelled page fields (标题, 发布机构, 发文日期, …) in the first lines: label kind -> values."""
    chrome = _patterns()[1]
    kinds = {**{k: "title" for k in f.chrome_title}, **{k: "publisher" for k in f.chrome_publisher},
             **{k: "date" for k in f.chrome_date}, **{k: "other" for k in f.chrome_other}}
    out: dict[str, list[str]] = {}
    for line in lines:
        if len(line) > 300:
            continue
        matches = [m for m in chrome.finditer(line) if m.start() == 0 or line[m.start() - 1] in " \t|｜\u3000"]
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
            value = line[m.end():end].strip(" \t|｜:：\u3000")
            kind = kinds[_SPACES.sub("", m.group("label"))]
            if kind == "publisher":  # a name has no spaces: 卓尼县人民政府办公室 点击数：…
                value = value.split()[0] if value.split() else ""
            if value:
                out.setdefault(kind, []).append(value)
    return out


def _hint_parts(hint: str, f: Forms) -> list[str]:
    parts = [hint]
    for sep in f.title_separators:
        parts = [piece for part in parts for piece in part.split(sep)]
    return [p.strip() for p in parts if p.strip()]


def _line_titles(lines: Sequence[str], f: Forms) -> list[_Title]:
    """Titles that open a line (a heading), or that run over two or three short lines (孝感市人民政府办公室 /
    2020年政府信息公开工作年度报告; PDF text lines 某市人民政府 / 2024年政府信息公开工作 / 年度报告)."""
    out: list[_Title] = []
    shown = [_compact(line) for line in lines if line.strip()][:HEAD_LINES]
    for i, line in enumerate(shown):
        out += [t for t in _titles_in(line, "heading", f) if line.startswith(t.text)]
        joined = line
        for k, source in ((1, "two_lines"), (2, "three_lines")):
            if i + k >= len(shown) or len(shown[i + k - 1]) > MAX_TITLE_LINE:
                break
            last = shown[i + k]
            if any(t.agency is not None and last.startswith(t.text) for t in _titles_in(last, source, f)):
                break  # the last line is a whole title by itself: what is above it is not part of it
            before = len(joined)
            joined += last
            out += [t for t in _titles_in(joined, source, f)
                    if joined.startswith(t.text) and before < len(t.text) and t.agency is not None]
    return out


def _names_same_kind(alias: str, agency: AgencyName, f: Forms) -> bool:
    """区政府办公室 can name an office, 县开发区 a zone; 年报 or 《条例》 names no agency."""
    if not alias:
        return False
    body = next((b for b in f.bodies if alias.endswith(b.suffix)), None)
    parsed = parse_agency(alias, f)
    return (body is not None and body.kind == agency.kind) or (parsed is not None and parsed.kind == agency.kind)


def _text_aliases(head: str, agency: AgencyName, f: Forms) -> list[str]:
    """Short names the text defines for the agency: …办公室(以下简称区政府办公室), near a mention of its place."""
    out: list[str] = []
    for m in _patterns()[2].finditer(head):
        alias = m.group("alias")
        before = head[max(0, m.start() - 40):m.start()]
        if any(p in before for p in agency.places) and _names_same_kind(alias, agency, f):
            out.append(alias)
    return out


def _agency_in_prose(head: str, f: Forms) -> AgencyName | None:
    """The body's name where 一、总体情况 usually starts: "2022年盐城市生态环境局认真贯彻…".

    Of the names a sentence can start with, the longest that the text uses more than once wins (盐城市生态环境局,
    not 盐城市生态环境局认真贯彻落实市委办). A government or an office written out in full as the subject
    ("2020年，湖南省人民政府办公厅认真…", the year and a comma before it) also counts as used again when the
    text uses one of its short forms elsewhere (省政府办公厅文件), so that "2022年通过市政府门户网站" names no
    agency. A bare place (全市, 在区…) is never taken.
    """
    for m in re.finditer(rf"{_YEAR}\s*年度?\s*(?P<comma>[，,、]?)\s*(?P<run>[\u4e00-\u9fff]{{3,30}})", head):
        run = m.group("run")
        for end in range(len(run), 2, -1):
            name = parse_agency(run[:end], f)
            if name is None or name.kind == "area":
                continue
            if head.count(name.text) > 1:
                return name
            if _subject_in_full(name, m.group("comma")):
                elsewhere = head.replace(name.text, "\n")
                if any(alias in elsewhere for alias in agency_aliases(name, f)):
                    return name
    return None


def _subject_in_full(name: AgencyName, comma: str) -> bool:
    body = name.body
    return bool(comma) and body is not None and body.kind in ("government", "office") and body.suffix == body.full


def _period_year(head: str, f: Forms) -> int | None:
    m = _patterns()[3].search(head)
    if m:
        return int(m.group("year"))
    m = re.search(rf"({_YEAR})\s*年\s*0?1\s*月\s*0?1\s*日\s*(?:起)?\s*(?:至|到|—|-|～|~)", head)
    return int(m.group(1)) if m else None


def _warn(code: str, message: str) -> ParseWarning:
    return ParseWarning(code, message)


def _fix_hint(file_name: str) -> str:
    return (f"可在报告所在目录的 {CATALOG_NAME}（列 file,title,agency,year）或旁边的 "
            f"{file_name}{META_SUFFIX} 中写明 title、agency、year 加以更正")


def _year(titled: _Title | None, head: str, chrome: dict[str, list[str]], stem: str, f: Forms,
          warnings: list[ParseWarning]) -> tuple[int | None, str]:
    """(year, where it was read): the title, the statistics period, a phrase, the publication date, the file name."""
    period = _period_year(head, f)
    if titled is not None:
        if period is not None and period != titled.year:
            warnings.append(_warn("year_mismatch",
                                  f"标题写的是 {titled.year} 年，统计期限却是 {period} 年，年度按标题取 {titled.year} 年"))
        return titled.year, "title"
    if period is not None:
        return period, "period"
    m = _patterns()[5].search(head)
    if m:
        return int(m.group("year")), "phrase"
    dates = [int(m.group(1)) for v in chrome.get("date", []) for m in [_DATE.search(v)] if m]
    if dates:
        warnings.append(_warn("year_from_publication",
                              f"报告未写明年度，按发布日期（{dates[0]}年）推定为 {dates[0] - 1} 年度，请核对"))
        return dates[0] - 1, "publication"
    m = re.search(rf"(?<!\d)({_YEAR})(?!\d)", stem)
    return (int(m.group(1)), "file_name") if m else (None, "")


def find_identity(hint: str | None, text: str, file_name: str) -> Identity:
    """Title, agency (canonical, with aliases) and year from the layouts real reports use.

    Sources, most trusted first: page chrome (标题/名称), the loader's title (HTML <title>, meta, PDF/DOCX
    properties), a title line or a title split over two lines, the opening sentence (现公布…); the year
    falls back to the statistics period, then to the publication date; the file name is a last resort.
    Text in traditional characters is read the same way (to_simplified): title, agency and aliases come
    out in simplified characters, so that questions in either script match them.
    """
    f = forms()
    head = to_simplified(text[:HEAD_CHARS])
    hint = to_simplified(hint) if hint else hint
    lines = head.split("\n")
    chrome = _chrome_fields(lines[:HEAD_LINES * 2], f)
    candidates: list[_Title] = []
    for value in chrome.get("title", []):
        candidates += _titles_in(value, "chrome", f)
    if hint:
        for part in _hint_parts(hint, f):
            candidates += _titles_in(part, "hint", f)
    candidates += _line_titles(lines, f)
    candidates += _titles_in(head, "sentence", f)

    warnings: list[ParseWarning] = []
    chosen = next((t for t in candidates if t.agency is not None), None)
    titled = chosen or next((t for t in candidates if t.source != "sentence"), None)
    stem = Path(file_name).stem
    agency = chosen.agency if chosen else None
    agency_source = ("title" if chosen and chosen.source != "sentence" else "sentence") if chosen else ""
    if agency is None:
        agency = _agency_in_prose(head, f)
        if agency is not None:
            agency_source = "prose"
            warnings.append(_warn("agency_from_text",
                                  f"报告没有带机关名称的标题，机关“{agency.canonical}”取自正文开头，请核对"))
    if agency is None:
        for value in chrome.get("publisher", []):
            parsed = parse_agency(_compact(value), f)
            if parsed is not None and parsed.kind != "area":
                agency, agency_source = parsed, "chrome"
                warnings.append(_warn("agency_from_chrome",
                                      f"报告的标题和开头都没有写明机关，机关“{parsed.canonical}”取自页面的发布机构一栏，请核对"))
                break
    if titled is not None:
        title, title_source = titled.text, titled.source
    else:
        title, title_source = stem, "file_name"

    year, year_source = _year(titled, head, chrome, stem, f, warnings)

    aliases: list[str] = []
    if agency is not None:
        aliases += agency_aliases(agency, f)
        if agency.text != agency.canonical:
            aliases.append(agency.text)
        if chosen is not None:
            aliases += chosen.aliases
        aliases += _text_aliases(head, agency, f)
    canonical = agency.canonical if agency else ""

    if title_source == "file_name" or year_source == "file_name":
        guessed = "标题" if title_source == "file_name" else "年度"
        warnings.append(_warn("identity_guessed",
                              f"未能从报告内容中读出{guessed}，已按文件名“{Path(file_name).name}”推测"
                              f"（标题“{title}”，年度 {year or '未知'}），身份可能不准确；{_fix_hint(Path(file_name).name)}"))
    if agency is None:
        warnings.append(_warn("agency_missing",
                              "报告中没有写明发布机关的全称（可能只写了“市政府办公室”之类的简称），机关未能确定，"
                              f"按机关筛选时不会匹配到这份报告；{_fix_hint(Path(file_name).name)}"))
    if year is None:
        warnings.append(_warn("year_missing", f"未能读出报告年度；{_fix_hint(Path(file_name).name)}"))
    return Identity(title, canonical, _unique(aliases, canonical), year, title_source, agency_source, year_source,
                    tuple(warnings))


def _unique(aliases: Iterable[str], canonical: str) -> tuple[str, ...]:
    """Each alias once; names that stand on their own first, then the in-report short forms (市政府办公室,
    区政府), which name the agency only inside its own report."""
    levels = forms().levels
    seen: dict[str, None] = {}
    for alias in aliases:
        if alias and alias != canonical:
            seen.setdefault(alias, None)
    return tuple(sorted(seen, key=lambda a: a[0] in levels and parse_agency(a) is None))


def apply_overrides(found: Identity, overrides: dict[str, Any]) -> Identity:
    """Sidecar values win; a sidecar agency brings its own aliases and drops the guessed-identity warnings."""
    if not overrides:
        return found
    f = forms()
    title = overrides.get("title", found.title)
    agency = overrides.get("agency", found.agency)
    year = overrides.get("year", found.year)
    aliases = found.aliases
    if "agency" in overrides:
        parsed = parse_agency(agency, f)
        aliases = tuple(agency_aliases(parsed, f)) if parsed else ()
        if parsed and parsed.canonical != agency:
            aliases = (parsed.canonical, *aliases)
    if "aliases" in overrides:
        aliases = (*overrides["aliases"], *aliases)
    title_known = "title" in overrides or found.title_source != "file_name"
    year_known = "year" in overrides or found.year_source != "file_name"
    settled: set[str] = {"identity_guessed"} if title_known and year_known else set()
    if "agency" in overrides:
        settled |= {"agency_missing", "agency_from_chrome", "agency_from_text"}
    if "year" in overrides:
        settled |= {"year_missing", "year_from_publication", "year_mismatch"}
    warnings = tuple(w for w in found.warnings if w.code not in settled)
    return Identity(title, agency, _unique(aliases, agency), year,
                    "sidecar" if "title" in overrides else found.title_source,
                    "sidecar" if "agency" in overrides else found.agency_source,
                    "sidecar" if "year" in overrides else found.year_source, warnings)


def template_version(header_texts: Iterable[str], year: int | None) -> str | None:
    """'2021' or '2019' from T2 column headers / T3 rows, else from the year; None when unknown or pre-2019."""
    texts = list(header_texts)
    if any(mark in t for t in texts for mark in _MARKS_2021):
        return "2021"
    if any(mark in t for t in texts for mark in _MARKS_2019):
        return "2019"
    if year is None or year < FIRST_TEMPLATE_YEAR:
        return None
    return "2019" if year <= 2020 else "2021"


def _clean_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in OVERRIDABLE:
        value = raw.get(key)
        if value in (None, "", []):
            continue
        if key == "year":
            out[key] = int(str(value).strip())
        elif key == "aliases":
            items = value if isinstance(value, list) else re.split(r"[、,，;；]", str(value))
            out[key] = tuple(to_simplified(str(v).strip()) for v in items if str(v).strip())
        elif key == "source_url":
            out[key] = str(value).strip()
        else:
            out[key] = to_simplified(str(value).strip())
    return out


def read_sidecars(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Overrides from catalog.csv (same folder) then FILE.meta.json; plus problems found in them."""
    overrides: dict[str, Any] = {}
    problems: list[str] = []
    catalog = path.parent / CATALOG_NAME
    if catalog.is_file():
        try:
            with catalog.open(encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle):
                    if (row.get("file") or "").strip() in (path.name, str(path)):
                        overrides.update(_clean_overrides(row))
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as err:
            problems.append(f"{catalog} 无法读取：{err}")
    for sidecar in (path.with_name(path.name + META_SUFFIX), path.with_name(path.stem + META_SUFFIX)):
        if sidecar.is_file():
            try:
                data = json.loads(sidecar.read_text(encoding="utf-8-sig"))
                if not isinstance(data, dict):
                    raise ValueError("不是 JSON 对象")
                overrides.update(_clean_overrides(data))
            except (OSError, UnicodeDecodeError, ValueError) as err:
                problems.append(f"{sidecar} 无法读取：{err}")
            break
    return overrides, problems


def is_sidecar(path: Path) -> bool:
    """Files beside the reports that are not reports: sidecars, catalogs, READMEs, notes, hidden files."""
    name = path.name.lower()
    return (
        name.startswith(".")
        or name.endswith(META_SUFFIX)
        or name == CATALOG_NAME
        or name.startswith("readme")
        or path.suffix.lower() in (".md", ".jsonl")
    )
