"""The question lexicon (assistant/data/lexicon.toml): loaded once, validated, with weighted term matching."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from assistant.analyse.facts import (
    T2_COLUMNS,
    T2_ROWS,
    T3_BLOCKS,
    T3_CARRIED_IN,
    T3_CARRIED_OUT,
    T3_COLUMNS,
    T3_NEW,
    T3_RESULTS,
    T4_RESULTS,
)
from assistant.errors import AssistantError

INTENTS = ("table_cell", "table_sum", "compare_years", "rank_agencies", "consistency", "commitments", "follow_up",
           "problems", "quantity", "list", "contact", "contact_owner", "date", "doc_number", "general",
           "out_of_scope")
# intents that come from cue words (the table intents also need a matched cell)
CUE_INTENTS = ("quantity", "compare_years", "rank_agencies", "consistency", "commitments", "follow_up", "problems",
               "list", "contact", "contact_owner", "date", "doc_number", "general", "out_of_scope")


WEAK = 0.5  # score of a weak word: below any real word
_ENGLISH = re.compile(r"[a-z]+(?:['-][a-z]+)*(?: [a-z]+(?:['-][a-z]+)*)*")


class LexiconError(AssistantError):
    """The lexicon file has an entry that cannot be used."""


@dataclass(frozen=True)
class Label:
    """A template label (row, column, block or result) with the words people use for it."""

    label: str  # canonical template label
    path: tuple[str, ...]  # full row path (rows) or the label itself
    words: tuple[str, ...]
    requires: tuple[str, ...] = ()
    default: tuple[str, ...] = ()  # T2 rows: columns to use when the question names none
    also: tuple[str, ...] = ()  # T2 rows: the row's label in older template versions
    weak: tuple[str, ...] = ()  # words that pick the label only when nothing else is named


@dataclass(frozen=True)
class Lexicon:
    """Everything the understanding stage knows about how people ask."""

    cues: Mapping[str, Mapping[str, float]]  # intent -> cue -> weight
    examples: Mapping[str, tuple[str, ...]]
    domain: tuple[str, ...]
    table_names: Mapping[str, tuple[str, ...]]  # T2/T3/T4 -> the words that name the whole table
    relative_years: Mapping[str, int]
    not_before: tuple[str, ...]
    not_after: tuple[str, ...]
    plan_words: tuple[str, ...]
    suffix_groups: tuple[tuple[str, ...], ...]
    short_form_min: int
    place_units: tuple[str, ...]
    area_kinds: tuple[str, ...]
    office_units: tuple[str, ...]
    not_place: tuple[str, ...]
    lead_words: tuple[str, ...]
    provinces: Mapping[str, str]
    generic_places: tuple[str, ...]
    follow_up_openers: tuple[str, ...]
    follow_up_min_weight: float
    stop_words: frozenset[str]
    common_words: Mapping[str, float]  # words in nearly every sentence of a report: they count a little
    synonyms: Mapping[str, tuple[str, ...]]  # a question's word -> the words reports use for it
    synonym_credit: float  # share of a word's weight that a synonym earns
    unit_askers: tuple[str, ...]
    clause_marks: tuple[str, ...]
    soft_clause_marks: tuple[str, ...]
    question_words: tuple[str, ...]
    premise_min_chars: int  # a part before the asking one this long (without years) is a premise
    superlatives: tuple[str, ...]
    english: Mapping[str, str]  # English words and phrases -> Chinese (places come from the corpus's pinyin)
    english_stop_words: frozenset[str]  # English words that carry no content (did, the, in)
    units: tuple[str, ...]
    money: tuple[str, ...]
    t3_rows: tuple[Label, ...]
    t3_columns: tuple[Label, ...]
    t4_blocks: tuple[Label, ...]
    t4_results: tuple[Label, ...]
    t2_rows: tuple[Label, ...]
    t2_columns: tuple[Label, ...]
    contractions: tuple[tuple[str, str], ...] = ()  # (long, short) inside an agency's name: 管理局 -> 局


def found_words(text: str, words: Iterable[str]) -> list[str]:
    """The words present in text, without those only present inside a longer found word."""
    present = sorted({w for w in words if w and w in text}, key=len, reverse=True)
    covered: list[tuple[int, int]] = []
    kept: list[str] = []
    for word in present:
        start = text.find(word)
        spans = []
        while start >= 0:
            spans.append((start, start + len(word)))
            start = text.find(word, start + 1)
        free = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in covered)]
        if free:
            kept.append(word)
            covered += free
    return kept


def score(text: str, weights: Mapping[str, float]) -> tuple[float, list[str]]:
    """Weighted term overlap: the summed weight of the cues present (longest matches first)."""
    hits = found_words(text, weights)
    return sum(weights[w] for w in hits), hits


def best_label(text: str, labels: Iterable[Label]) -> tuple[Label | None, float, str]:
    """The label whose words best match (length of the longest word found), with that word."""
    best: tuple[Label | None, float, str] = (None, 0.0, "")
    for label in labels:
        if label.requires and not any(r in text for r in label.requires):
            continue
        hits = [w for w in label.words if w in text]
        if hits:
            word = max(hits, key=len)
            if len(word) > best[1]:
                best = (label, float(len(word)), word)
        elif best[0] is None and (weak := [w for w in label.weak if w in text]):
            best = (label, WEAK, weak[0])
    return best


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LexiconError(f"词表条目 {where} 应为非空字符串列表，实际为 {value!r}")
    return tuple(value)


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise LexiconError(f"词表条目 {where} 应为正整数，实际为 {value!r}")
    return value


def _weights(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise LexiconError(f"词表条目 {where} 应为“词 = 权重”的表")
    for word, weight in value.items():
        if not word or not isinstance(weight, int | float) or weight <= 0:
            raise LexiconError(f"词表条目 {where}.{word!r} 的权重应为正数，实际为 {weight!r}")
    return {k: float(v) for k, v in value.items()}


_T3_ROW_PATHS: dict[str, tuple[str, ...]] = {T3_NEW: (T3_NEW,), T3_CARRIED_IN: (T3_CARRIED_IN,),
                                            T3_CARRIED_OUT: (T3_CARRIED_OUT,)}
for _block, _, _items in T3_BLOCKS:
    _T3_ROW_PATHS[_block] = (T3_RESULTS, _block)
    for _item, _ in _items:
        _T3_ROW_PATHS.setdefault(_item, (T3_RESULTS, _block, _item))
_T2_ROW_PATHS = {label: (block, label) for block, label, _ in T2_ROWS}
_T2_COLUMN_NAMES = {c for c, _ in T2_COLUMNS}
_T4_BLOCK_NAMES = {"行政复议", "行政诉讼", "未经复议直接起诉", "复议后起诉"}


def _labels(entries: Any, where: str, key: str, known: Mapping[str, tuple[str, ...]] | set[str]) -> tuple[Label, ...]:
    if not isinstance(entries, list) or not entries:
        raise LexiconError(f"词表缺少 [[{where}]] 条目")
    out = []
    for n, entry in enumerate(entries, 1):
        name = entry.get(key) if isinstance(entry, dict) else None
        place = f"[[{where}]] 第{n}条（{name}）"
        if not isinstance(name, str) or name not in known:
            raise LexiconError(f"{place}：“{name}”不是模板中的{key}名称")
        path = known[name] if isinstance(known, Mapping) else (name,)
        default = _strings(entry["default"], place + ".default") if "default" in entry else ()
        if bad := [c for c in default if c not in _T2_COLUMN_NAMES]:
            raise LexiconError(f"{place}：default 中的“{bad[0]}”不是表二的列名")
        requires = _strings(entry["requires"], place + ".requires") if "requires" in entry else ()
        also = _strings(entry["also"], place + ".also") if "also" in entry else ()
        weak = _strings(entry["weak"], place + ".weak") if "weak" in entry else ()
        out.append(Label(name, path, _strings(entry.get("words"), place + ".words"), requires, default, also, weak))
    return tuple(out)


def _contractions(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise LexiconError("词表条目 agency.contractions 应为 [全称, 简称] 的列表")
    pairs = []
    for n, pair in enumerate(value, 1):
        long, short = _strings(pair, f"agency.contractions[{n}]") if isinstance(pair, list) and len(pair) == 2 \
            else (None, None)
        if long is None or short is None or len(short) >= len(long):
            raise LexiconError(f"词表条目 agency.contractions 第{n}项应为 [全称, 更短的简称]，实际为 {pair!r}")
        pairs.append((long, short))
    return tuple(pairs)


def _english(table: Mapping[str, Any]) -> dict[str, str]:
    words = table.get("words")
    if not isinstance(words, dict) or not words or not all(isinstance(v, str) and v for v in words.values()):
        raise LexiconError("词表条目 english.words 应为“英文 = 中文”的表")
    for word, chinese in words.items():
        if not _ENGLISH.fullmatch(word):
            raise LexiconError(f"词表条目 english.words 的“{word}”应为小写英文单词或词组")
        if not any("\u4e00" <= c <= "\u9fff" for c in chinese):
            raise LexiconError(f"词表条目 english.words.{word!r} 应译为中文，实际为 {chinese!r}")
    return dict(words)


def _english_stop_words(table: Mapping[str, Any]) -> frozenset[str]:
    words = _strings(table.get("stop_words"), "english.stop_words")
    if bad := [w for w in words if not _ENGLISH.fullmatch(w) or " " in w]:
        raise LexiconError(f"词表条目 english.stop_words 的“{bad[0]}”应为一个小写英文单词")
    return frozenset(words)


def _evidence(table: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, tuple[str, ...]], float]:
    common = _weights(table.get("common_words"), "evidence.common_words")
    synonyms = table.get("synonyms")
    if not isinstance(synonyms, dict) or not synonyms:
        raise LexiconError("词表缺少 evidence.synonyms（“词 = [报告中的说法]”的表）")
    credit = table.get("synonym_credit")
    if not isinstance(credit, int | float) or not 0 < credit <= 1:
        raise LexiconError(f"词表条目 evidence.synonym_credit 应为 0 到 1 之间的数，实际为 {credit!r}")
    return common, {k: _strings(v, f"evidence.synonyms.{k}") for k, v in synonyms.items()}, float(credit)


def parse_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """A Lexicon from the parsed TOML, or LexiconError naming the first bad entry."""
    intents = data.get("intents", {})
    if unknown := sorted(set(intents) - set(CUE_INTENTS)):
        raise LexiconError(f"词表中的意图“{unknown[0]}”不在意图表中：{'、'.join(CUE_INTENTS)}")
    if missing := [i for i in CUE_INTENTS if i not in intents]:
        raise LexiconError(f"词表缺少意图 [intents.{missing[0]}]")
    cues = {name: _weights(spec.get("cues"), f"intents.{name}.cues") for name, spec in intents.items()}
    examples = {name: _strings(spec.get("examples"), f"intents.{name}.examples") for name, spec in intents.items()}
    years, agency = data.get("years", {}), data.get("agency", {})
    relative = years.get("relative")
    if not isinstance(relative, dict) or not all(isinstance(v, int) for v in relative.values()):
        raise LexiconError("词表条目 years.relative 应为“词 = 年份偏移（整数）”的表")
    groups = agency.get("suffix_groups")
    if not isinstance(groups, list) or not groups:
        raise LexiconError("词表缺少 agency.suffix_groups")
    provinces = agency.get("provinces", {})
    if not isinstance(provinces, dict) or not all(isinstance(v, str) and v for v in provinces.values()):
        raise LexiconError("词表条目 agency.provinces 应为“简称 = 全称”的表")
    minimum = agency.get("follow_up_min_weight")
    if not isinstance(minimum, int | float):
        raise LexiconError("词表条目 agency.follow_up_min_weight 应为数字")
    tables = {k: data.get(k, {}) for k in ("t2", "t3", "t4")}
    common, synonyms, credit = _evidence(data.get("evidence", {}))
    return Lexicon(
        cues=cues, examples=examples, domain=_strings(data.get("domain", {}).get("words"), "domain.words"),
        table_names=_table_names(data.get("table_names", {})),
        relative_years=dict(relative), not_before=_strings(years.get("not_before"), "years.not_before"),
        not_after=_strings(years.get("not_after"), "years.not_after"),
        plan_words=_strings(years.get("plan_words"), "years.plan_words"),
        suffix_groups=tuple(_strings(g, f"agency.suffix_groups[{i}]") for i, g in enumerate(groups)),
        short_form_min=int(agency.get("short_form_min", 2)),
        place_units=_strings(agency.get("place_units"), "agency.place_units"),
        area_kinds=_strings(agency.get("area_kinds"), "agency.area_kinds"),
        office_units=_strings(agency.get("office_units"), "agency.office_units"),
        not_place=_strings(agency.get("not_place"), "agency.not_place"),
        lead_words=_strings(agency.get("lead_words"), "agency.lead_words"),
        provinces=dict(provinces), generic_places=_strings(agency.get("generic_places"), "agency.generic_places"),
        follow_up_openers=_strings(agency.get("follow_up_openers"), "agency.follow_up_openers"),
        follow_up_min_weight=float(minimum), contractions=_contractions(agency.get("contractions", [])),
        unit_askers=_strings(data.get("units", {}).get("askers"), "units.askers"),
        units=_strings(data.get("units", {}).get("words"), "units.words"),
        money=_strings(data.get("units", {}).get("money"), "units.money"),
        clause_marks=_strings(data.get("clauses", {}).get("marks"), "clauses.marks"),
        soft_clause_marks=_strings(data.get("clauses", {}).get("soft_marks"), "clauses.soft_marks"),
        question_words=_strings(data.get("clauses", {}).get("question_words"), "clauses.question_words"),
        premise_min_chars=_positive_int(data.get("clauses", {}).get("premise_min_chars"), "clauses.premise_min_chars"),
        english=_english(data.get("english", {})),
        english_stop_words=_english_stop_words(data.get("english", {})),
        superlatives=_strings(data.get("ranking", {}).get("superlatives"), "ranking.superlatives"),
        stop_words=frozenset(_strings(data.get("stop_words", {}).get("words"), "stop_words.words")),
        common_words=common, synonyms=synonyms, synonym_credit=credit,
        t3_rows=_labels(tables["t3"].get("rows"), "t3.rows", "row", _T3_ROW_PATHS),
        t3_columns=_labels(tables["t3"].get("columns"), "t3.columns", "column", set(T3_COLUMNS)),
        t4_blocks=_labels(tables["t4"].get("blocks"), "t4.blocks", "block", _T4_BLOCK_NAMES),
        t4_results=_labels(tables["t4"].get("results"), "t4.results", "result", set(T4_RESULTS)),
        t2_rows=_labels(tables["t2"].get("rows"), "t2.rows", "row", _T2_ROW_PATHS),
        t2_columns=_labels(tables["t2"].get("columns"), "t2.columns", "column", _T2_COLUMN_NAMES),
    )


def parse_text(text: str) -> Lexicon:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LexiconError(f"词表文件不是有效的 TOML：{err}") from err
    return parse_lexicon(data)


@cache
def lexicon() -> Lexicon:
    """The packaged lexicon, loaded and validated once."""
    return parse_text(resources.files("assistant").joinpath("data", "lexicon.toml").read_text(encoding="utf-8"))


def _table_names(raw: object) -> dict[str, tuple[str, ...]]:
    """T2/T3/T4 and the words naming each whole table; an unknown table or an empty list is an error."""
    if not isinstance(raw, dict):
        raise LexiconError("词表条目 table_names 应为表格到词语列表的映射")
    found: dict[str, tuple[str, ...]] = {}
    for table, words in raw.items():
        if table not in ("T2", "T3", "T4"):
            raise LexiconError(f"词表条目 table_names 中的表格 {table} 不存在（只有 T2、T3、T4）")
        found[table] = _strings(words, f"table_names.{table}")
        if not found[table]:
            raise LexiconError(f"词表条目 table_names.{table} 为空")
    return found
