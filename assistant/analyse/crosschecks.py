"""Cross-checks real reports need: figures the prose states against the tables, and carried-over requests year
to year. How prose names a figure is data (assistant/data/crosscheck.toml), validated when it is loaded."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from assistant.analyse.checks import APPLICANTS, format_number
from assistant.analyse.facts import T4_BLOCKS, normalize, t4_column
from assistant.records import Discrepancy, Fact, Passage, Report

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "crosscheck.toml"
TABLES = ("T3", "T4")
TABLE_NAMES = {"T3": "表三", "T4": "表四"}
COLUMNS = ("总计", *APPLICANTS, "结果维持", "结果纠正", "其他结果", "尚未审结")

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CLAUSE = re.compile(r"[^，,；;：:（）()、]+")


class CrossCheckDataError(ValueError):
    """crosscheck.toml is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class CellRef:
    """A table cell (or block of cells) named in crosscheck.toml: "T3 不予公开 总计"."""

    table: str
    keywords: tuple[str, ...]
    column: str
    text: str

    def label(self) -> str:
        """E.g. "表三“不予公开”行 总计列"."""
        return f"{TABLE_NAMES[self.table]}“{'/'.join(self.keywords)}”行{self.column}列"


@dataclass(frozen=True)
class Figure:
    """A figure prose states and the tables hold."""

    name: str
    cues: tuple[str, ...]
    needs: tuple[str, ...]
    alternatives: tuple[tuple[CellRef, ...], ...]


@dataclass(frozen=True)
class CrossCheckData:
    """Everything crosscheck.toml says."""

    units: tuple[str, ...]
    max_gap: int
    skip_words: tuple[str, ...]
    skip_sentence_words: tuple[str, ...]
    percent_bases: tuple[CellRef, ...]
    percent_tolerance: float
    figures: tuple[Figure, ...]
    carried_cue: str
    carried_earlier: str
    upheld_cues: tuple[str, ...]
    not_upheld: tuple[str, ...]
    review_words: tuple[str, ...]
    litigation_words: tuple[str, ...]

    def figure_of(self, cue: str) -> Figure:
        """The figure a cue names (cues are unique across figures)."""
        return next(f for f in self.figures if cue in f.cues)


def _words(entry: dict[str, Any], key: str, where: str, required: bool = True) -> tuple[str, ...]:
    value = entry.get(key, [] if not required else None)
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value) or (
            required and not value):
        raise CrossCheckDataError(f"{where}：“{key}”应为非空的字符串列表")
    return tuple(value)


def parse_cell(text: str, where: str = "crosscheck.toml") -> CellRef:
    """"T3 七)总计 总计" -> CellRef; raises CrossCheckDataError naming the entry when it does not parse."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in TABLES or parts[2] not in COLUMNS:
        raise CrossCheckDataError(f"{where}：单元格“{text}”应写成“表 行关键词 列”，表为 {'/'.join(TABLES)}，"
                                  f"列为 {'、'.join(COLUMNS)} 之一")
    return CellRef(parts[0], tuple(parts[1].split("/")), parts[2], text)


def parse_data(raw: dict[str, Any]) -> CrossCheckData:
    """Validate the parsed TOML and build the cross-check data; raises CrossCheckDataError."""
    if raw.get("version") != 1:
        raise CrossCheckDataError("crosscheck.toml：version 应为 1")
    figures: list[Figure] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(raw.get("figure", [])):
        name = entry.get("name")
        where = f"crosscheck.toml 第 {i + 1} 个 [[figure]]"
        if not isinstance(name, str) or not name:
            raise CrossCheckDataError(f"{where}：缺少 name")
        where += f"（{name}）"
        cues = _words(entry, "cues", where)
        for cue in cues:
            if cue in seen:
                raise CrossCheckDataError(f"{where}：提示词“{cue}”已用于“{seen[cue]}”")
            seen[cue] = name
        cells = entry.get("cells")
        if not isinstance(cells, list) or not cells or not all(isinstance(a, list) and a for a in cells):
            raise CrossCheckDataError(f"{where}：cells 应为非空的列表的列表")
        alternatives = tuple(tuple(parse_cell(c, where) if isinstance(c, str) else parse_cell(str(c), where)
                                   for c in alt) for alt in cells)
        figures.append(Figure(name, cues, _words(entry, "needs", where, required=False), alternatives))
    if not figures:
        raise CrossCheckDataError("crosscheck.toml：没有任何 [[figure]]")
    carried = raw.get("carried")
    names = {f.name for f in figures}
    if not isinstance(carried, dict) or carried.get("cue") not in seen or carried.get("earlier") not in names:
        raise CrossCheckDataError("[carried]：cue 应为某个 [[figure]] 的提示词，earlier 应为某个 [[figure]] 的 name")
    upheld = raw.get("upheld")
    if not isinstance(upheld, dict):
        raise CrossCheckDataError("crosscheck.toml：缺少 [upheld]")
    not_upheld = _words(upheld, "not_upheld", "[upheld]")
    if any(r not in COLUMNS for r in not_upheld):
        raise CrossCheckDataError("[upheld]：not_upheld 只能是 结果纠正、其他结果、尚未审结")
    units = _words(raw, "units", "crosscheck.toml")
    gap, tolerance = raw.get("max_gap"), raw.get("percent_tolerance")
    if not isinstance(gap, int) or gap < 0 or not isinstance(tolerance, int | float) or tolerance < 0:
        raise CrossCheckDataError("crosscheck.toml：max_gap 应为非负整数，percent_tolerance 应为非负数")
    return CrossCheckData(
        units=units, max_gap=gap, skip_words=_words(raw, "skip_words", "crosscheck.toml", required=False),
        skip_sentence_words=_words(raw, "skip_sentence_words", "crosscheck.toml", required=False),
        percent_bases=tuple(parse_cell(c) for c in _words(raw, "percent_bases", "crosscheck.toml")),
        percent_tolerance=float(tolerance), figures=tuple(figures),
        carried_cue=carried["cue"], carried_earlier=carried["earlier"],
        upheld_cues=_words(upheld, "cues", "[upheld]"), not_upheld=not_upheld,
        review_words=_words(upheld, "review_words", "[upheld]"),
        litigation_words=_words(upheld, "litigation_words", "[upheld]"),
    )


def load_data(path: Path | None = None) -> CrossCheckData:
    """The cross-check data from crosscheck.toml (the packaged file by default, read once)."""
    return _load(path or DATA_FILE)


@cache
def _load(path: Path) -> CrossCheckData:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise CrossCheckDataError(f"{path}：无法读取（{err}）") from err
    return parse_data(raw)


# --- table side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """What a table says for a cell reference: the value, the cells added up, whether blanks counted as 0."""

    value: float | None
    cells: tuple[Fact, ...]
    blanks: bool
    by_applicants: bool  # 总计 was blank and the applicant columns were added instead


@cache
def _path(row_path: tuple[str, ...]) -> str:
    """A row path normalised for matching (row paths repeat from report to report: normalised once)."""
    return normalize("".join(row_path))


@cache
def _keyword(text: str) -> str:
    return normalize(text)


def _matches(ref: CellRef, fact: Fact) -> bool:
    path = _path(fact.row_path)
    return (fact.table == ref.table and all(_keyword(k) in path for k in ref.keywords)
            and (fact.column == ref.column or fact.column.endswith("·" + ref.column)))


def resolve(ref: CellRef, facts: Sequence[Fact]) -> Resolved:
    """The figure a table holds for ref: the leaf rows under it added up; a blank 总计 is replaced by the sum of its
    row's applicant columns; other blanks count as 0 when at least one cell has a figure."""
    found = [f for f in facts if _matches(ref, f)]
    leaves = [f for f in found if not any(g.row_path[: len(f.row_path)] == f.row_path and g.row_path != f.row_path
                                          for g in found)]
    used: list[Fact] = []
    by_applicants = False
    for fact in leaves:
        if fact.value is None and fact.table == "T3" and fact.column == "总计":
            row = [g for g in facts if g.table == "T3" and g.row_path == fact.row_path and g.column in APPLICANTS]
            if any(g.value is not None for g in row):
                used += row
                by_applicants = True
                continue
        used.append(fact)
    values = [f.value for f in used if f.value is not None]
    return Resolved(sum(values) if values else None, tuple(used), len(values) < len(used), by_applicants)


# --- prose side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A figure found in the prose: which one, the number, and where."""

    figure: Figure
    value: float
    passage: Passage
    sentence: tuple[int, int]  # absolute span in cleaned_text
    clause: str
    after: str  # the sentence's text after the number's unit (for "占Y%")


def _best_cue(text: str, cues: Iterable[str], before: bool, gap: int) -> str | None:
    best: tuple[int, int, str] | None = None
    for cue in cues:
        for start in _occurrences(cue, text):
            distance = len(text) - start - len(cue) if before else start
            if distance <= gap and (best is None or (distance, -len(cue)) < best[:2]):
                best = (distance, -len(cue), cue)
    return best[2] if best else None


def _occurrences(cue: str, text: str) -> Iterator[int]:
    """Where cue starts in text, left to right without overlaps (as re.finditer finds it, without a regex)."""
    start = text.find(cue)
    while start >= 0:
        yield start
        start = text.find(cue, start + max(len(cue), 1))


_YEAR = re.compile(r"((?:19|20)\d{2})年")


def find_statements(passage: Passage, data: CrossCheckData, year: int | None = None) -> list[Statement]:
    """The figures one prose passage states ("共受理政府信息公开申请859件"); year is the report's (it tells
    "2020年结转" carried in from "结转2023年" carried forward)."""
    number = re.compile(rf"(\d[\d,]*)\s*(?:{'|'.join(map(re.escape, data.units))})")
    cues = [c for f in data.figures for c in f.cues]
    found: list[Statement] = []
    for sentence in _SENTENCE.finditer(passage.text):
        if any(w in sentence.group() for w in data.skip_sentence_words):
            continue
        for clause in _CLAUSE.finditer(passage.text, sentence.start(), sentence.end()):
            text = clause.group()
            if any(w in text for w in data.skip_words):
                continue
            for m in number.finditer(text):
                if m.start() > 0 and text[m.start() - 1].isdigit() or text[m.start() - 1 : m.start()] in ("第", "."):
                    continue
                cue = _best_cue(text[: m.start()], cues, True, data.max_gap) or _best_cue(
                    text[m.end():], cues, False, data.max_gap)
                if cue is None:
                    continue
                figure = data.figure_of(cue)
                if cue == data.carried_cue and year and any(int(y) < year for y in _YEAR.findall(text)):
                    figure = next(f for f in data.figures if f.name == data.carried_earlier)
                if figure.needs and not any(w in sentence.group() for w in figure.needs):
                    continue
                unit_end = clause.start() + m.end()
                found.append(Statement(
                    figure, float(m.group(1).replace(",", "")), passage,
                    (passage.start + sentence.start(), passage.start + sentence.end()), text.strip(),
                    passage.text[unit_end : sentence.end()]))
    return found


def _fmt(value: float | None) -> str:
    return format_number(value)


def _one_part(stated: float, resolved: Resolved, facts: Sequence[Fact]) -> str:
    """A note when the stated figure is only a part of the cells compared: one row, or one applicant column."""
    rows = list(dict.fromkeys(f.row_path for f in resolved.cells))
    t3 = [f for f in facts if f.table == "T3" and f.row_path in rows]
    if len(rows) > 1:
        for path in rows:
            total = resolve(CellRef("T3", (path[-1],), "总计", ""), [f for f in t3 if f.row_path == path])
            if total.value == stated:
                return f"；正文数字与表中“{path[-1]}”一行相同，可能只算了其中一项"
    for column in APPLICANTS:
        cells = [f for f in t3 if f.column == column]
        if cells and any(f.value for f in cells) and sum(f.value or 0 for f in cells) == stated:
            where = f"“{rows[0][-1]}”行" if len(rows) == 1 else ""
            return f"；正文数字与表中{where}“{column}”一列相同，可能把单列当作了合计"
    return ""


def _table_phrase(ref: CellRef, resolved: Resolved) -> str:
    how = ("（总计栏空白，按各类申请人相加，空白按 0 计）" if resolved.by_applicants else
           "（空白单元格按 0 计）" if resolved.blanks else "")
    return f"{ref.label()}为 {_fmt(resolved.value)}件{how}"


def _discrepancy(report: Report, statement: Statement, kind: str, rule: str, description: str,
                 stated: float | None, value: float | None, cells: Sequence[Fact]) -> Discrepancy:
    start, end = statement.sentence
    raw = report.cleaned_text[start:end]
    start, end = start + len(raw) - len(raw.lstrip()), end - len(raw) + len(raw.rstrip())
    meta = report.meta
    return Discrepancy(report.report_id, meta.title, meta.agency, meta.year, kind, rule, description, stated, value,
                       statement.passage.passage_id, report.cleaned_text[start:end], start, end, tuple(cells))


_PERCENT = re.compile(r"^\s*[，,]?\s*(?:占[^，。；\d]{0,10}?|比例为?|比例?)\s*(\d+(?:\.\d+)?)\s*[%％]")


def _check_statement(report: Report, st: Statement, facts: Sequence[Fact], data: CrossCheckData) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    results = [resolve(ref, facts) for ref in st.figure.alternatives[0]]
    alternatives = [[resolve(ref, facts) for ref in alt] for alt in st.figure.alternatives]
    sums = [sum(r.value or 0 for r in alt) if all(r.value is not None for r in alt) else None for alt in alternatives]
    if sums[0] is not None and all(s is None or abs(s - st.value) > 1e-6 for s in sums):
        refs = st.figure.alternatives[0]
        table = "、".join(_table_phrase(ref, r) for ref, r in zip(refs, results, strict=True))
        total = f"，合计 {_fmt(sums[0])}件" if len(refs) > 1 else ""
        note = next((n for r in results if (n := _one_part(st.value, r, facts))), "")
        rule = f"正文“{st.figure.name}” = {' + '.join(r.text for r in refs)}"
        description = (f"正文称{st.figure.name}为 {_fmt(st.value)}件（“{st.clause}”），而{table}{total}，"
                       f"相差 {_fmt(abs(st.value - sums[0]))}件{note}")
        cells = [c for r in results for c in r.cells]
        out.append(_discrepancy(report, st, "prose_table", rule, description, st.value, sums[0], cells))
    share = _PERCENT.match(st.after)
    if share:
        percent = float(share.group(1))
        for base_ref in data.percent_bases:
            base = resolve(base_ref, facts)
            if base.value:
                actual = st.value / base.value * 100
                if abs(actual - percent) > data.percent_tolerance:
                    description = (f"正文称{st.figure.name} {_fmt(st.value)}件占 {share.group(1)}%，但 {_fmt(st.value)} ÷ "
                                   f"{_fmt(base.value)}（{base_ref.label()}）= {actual:.1f}%")
                    out.append(_discrepancy(report, st, "prose_percent", f"正文百分比 = 件数 ÷ {base_ref.text}",
                                            description, percent, round(actual, 2), base.cells))
                break
    return out


def _upheld(report: Report, passage: Passage, facts: Sequence[Fact], data: CrossCheckData) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    for sentence in _SENTENCE.finditer(passage.text):
        text = sentence.group()
        cue = next((c for c in data.upheld_cues if c in text), None)
        if cue is None:
            continue
        review = any(w in text for w in data.review_words)
        litigation = any(w in text for w in data.litigation_words)
        blocks = [b for b in T4_BLOCKS if (review and b == T4_BLOCKS[0]) or (litigation and b != T4_BLOCKS[0])
                  or not (review or litigation)]
        columns = {t4_column(b, r) for b in blocks for r in data.not_upheld}
        cells = [f for f in facts if f.table == "T4" and f.column in columns and f.value]
        if not cells:
            continue
        listed = "、".join(f"{f.column.replace('·', ' ')} {_fmt(f.value)}件" for f in cells)
        span = (passage.start + sentence.start(), passage.start + sentence.end())
        st = Statement(data.figures[0], 0.0, passage, span, text.strip(), "")
        description = f"正文称“{cue}”（“{text.strip()}”），但表四中有：{listed}"
        out.append(_discrepancy(report, st, "upheld_pending", f"正文“{cue}” ⇔ 表四无纠正、其他结果或尚未审结",
                                description, None, sum(f.value or 0 for f in cells), cells))
    return out


def prose_checks(report: Report, facts: Sequence[Fact], data: CrossCheckData | None = None) -> list[Discrepancy]:
    """Figures the report's prose states that its own tables contradict (nothing when it has no table facts)."""
    data = data or load_data()
    own = [f for f in facts if f.report_id == report.report_id]
    if not own:
        return []
    out: list[Discrepancy] = []
    for passage in report.passages:
        if passage.kind != "text":
            continue
        for statement in find_statements(passage, data, report.meta.year):
            out += _check_statement(report, statement, own, data)
        out += _upheld(report, passage, own, data)
    return out


def _by_report(facts: Iterable[Fact]) -> dict[str, list[Fact]]:
    grouped: dict[str, list[Fact]] = {}
    for fact in facts:
        grouped.setdefault(fact.report_id, []).append(fact)
    return grouped


def year_pairs(reports: Sequence[Report]) -> list[tuple[Report, Report]]:
    """(report, the same agency's report of the year before) for every report that has one; of several reports of
    one agency and year, the last one given stands for that year."""
    by_agency: dict[str, dict[int, Report]] = {}
    for report in reports:
        if report.meta.agency and report.meta.year:
            by_agency.setdefault(report.meta.agency, {})[report.meta.year] = report
    return [(report, years[year - 1]) for years in by_agency.values() for year, report in sorted(years.items())
            if year - 1 in years]


def carried_over(report: Report, previous: Report, facts: Sequence[Fact], previous_facts: Sequence[Fact]
                 ) -> Discrepancy | None:
    """The report's 上年结转 against the previous year's 结转下年度继续办理, when both are filled in and differ
    (only the previous report's id and metadata are read)."""
    now = resolve(parse_cell("T3 上年结转 总计"), facts)
    before = resolve(parse_cell("T3 结转下年度 总计"), previous_facts)
    if now.value is None or before.value is None or abs(now.value - before.value) < 1e-6:
        return None
    meta = report.meta
    description = (f"{meta.year}年报告表三“二、上年结转”为 {_fmt(now.value)}件，而{previous.meta.year}年报告"
                   f"表三“四、结转下年度继续办理”为 {_fmt(before.value)}件，相差 {_fmt(abs(now.value - before.value))}件")
    return Discrepancy(report.report_id, meta.title, meta.agency, meta.year, "year_to_year",
                       "本年“上年结转” = 上年“结转下年度继续办理”", description, now.value, before.value,
                       cells=now.cells + before.cells, other_report_id=previous.report_id)


def year_to_year(reports: Sequence[Report], facts: Sequence[Fact]) -> list[Discrepancy]:
    """Each report's 上年结转 against the previous year's 结转下年度继续办理 of the same agency, when both are indexed."""
    own = _by_report(facts)
    found = (carried_over(report, previous, own.get(report.report_id, []), own.get(previous.report_id, []))
             for report, previous in year_pairs(reports))
    return [d for d in found if d is not None]


def cross_checks(reports: Sequence[Report], facts: Sequence[Fact]) -> list[Discrepancy]:
    """Prose against tables for every report, then year to year, report by report."""
    data = load_data()
    own = _by_report(facts)
    found = [d for r in reports for d in prose_checks(r, own.get(r.report_id, []), data)]
    return found + year_to_year(reports, facts)
