"""Query understanding, done once: `understand(question, history, explicit_scope, corpus) -> Query`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assistant import segment
from assistant.records import Answer, ReportMeta
from assistant.search.retriever import Filters, validate
from assistant.understand.english import from_english
from assistant.understand.intent import TABLE_INTENTS, Reading, asked_unit, classify, counted_words
from assistant.understand.lexicon import Lexicon, lexicon
from assistant.understand.scope import (
    Scope,
    agencies,
    agency_names,
    agency_of,
    coverage_problem,
    find_agency,
    find_years,
    relative_years,
    reports_of,
    resolve_agency,
    strip_years,
    years_of,
)
from assistant.understand.tables import Cell, match_cells, subject_words

__all__ = ["Query", "Scope", "understand", "validate"]


@dataclass(frozen=True)
class Query:
    """What a question asks, decided once; nothing downstream parses the question again."""

    question: str  # as typed
    text: str  # normalised; with the previous topic merged in for a follow-up
    scope: Scope
    intent: str
    cells: tuple[Cell, ...] = ()
    slots: tuple[tuple[str, str], ...] = ()
    confidence: float = 0.0
    cues: tuple[str, ...] = ()
    follow_up: bool = False
    ignore_terms: tuple[str, ...] = field(default=(), compare=False)  # agency names: not content words
    focus: str = ""  # the part that asks, when a premise comes first ("…年报说要X，2021年检查了几次？")

    def slot(self, name: str) -> str | None:
        return next((v for k, v in self.slots if k == name), None)

    def slot_values(self, name: str) -> list[str]:
        return [v for k, v in self.slots if k == name]

    @property
    def filters(self) -> Filters:
        """The search filters of the scope (its reports; the agency is already resolved into them)."""
        return Filters(years=self.scope.years, section=self.scope.section, report_ids=self.scope.report_ids)

    def as_dict(self) -> dict[str, object]:
        return {"intent": self.intent, "scope": self.scope.as_dict(), "cues": list(self.cues),
                "confidence": self.confidence, "follow_up": self.follow_up, "text": self.text,
                "cells": [{"table": c.table, "row": " › ".join(c.row_path), "column": c.columns[0]}
                          for c in self.cells],
                "slots": [list(s) for s in self.slots], "focus": self.focus}


def _own_weight(text: str, names: set[str], lex: Lexicon) -> float:
    """Content weight of the question's own words (not years, agency names or stop words)."""
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "")
    tokens = [t for t in segment.tokenize(strip_years(text)) if t not in lex.stop_words and not t.isdigit()]
    return float(sum(min(len(t), 4) for t in tokens))


def _is_follow_up(text: str, names: set[str], lex: Lexicon) -> bool:
    if any(text.startswith(o) for o in lex.follow_up_openers):
        return True
    return _own_weight(text, names, lex) < lex.follow_up_min_weight


def _merge(previous: str, text: str, limit: int) -> str:
    """The previous topic (without its years) before the follow-up, within the length limit."""
    topic = strip_years(segment.normalize(previous)).rstrip("？?。! ")
    room = max(0, limit - len(text) - 1)
    return (topic[-room:] + " " + text).strip() if room else text


def _years(text: str, lex: Lexicon, covered: Sequence[int]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    absolute = list(find_years(text))
    relative = relative_years(text, lex)
    base = absolute[0] if absolute else (max(covered) if covered else None)
    resolved = [base + offset for _, offset in relative] if base is not None else []
    if absolute and relative and all(offset == 0 for _, offset in relative):
        resolved = []
    return tuple(dict.fromkeys(absolute + resolved)), tuple(w for w, _ in relative)


def understand(question: str, history: Sequence[Answer] | None, explicit: Filters | None,
               corpus: Mapping[str, ReportMeta], max_chars: int = 500) -> Query:
    """The one Query of a question: normalised text, scope, intent, slots, confidence and cues."""
    lex = lexicon()
    typed = validate(question, max_chars)
    text = segment.normalize(typed)
    english = from_english(text, corpus, lex)
    if english is not None and (english.places or english.ambiguous or find_agency(english.text, corpus, lex)[0]):
        text = english.text  # a place read or a Chinese name in it; else left English: out of scope
    explicit = explicit or Filters()
    found, unknown, named_by = find_agency(text, corpus, lex)
    q_agency = next(iter(found)) if len(found) == 1 else None
    names = set().union(*(agency_names(a) for a in found), {named_by}) if found else set()
    previous = history[-1] if history else None
    follow = previous is not None and not unknown and _is_follow_up(text, names, lex)

    # agency: question > explicit filter > conversation
    f_agency = resolve_agency(explicit.agency, corpus) if explicit.agency else None
    if explicit.agency and f_agency is None:
        f_agency = explicit.agency  # a name no report has: nothing will match, said below
    h_agency = _str(previous.filters.get("agency")) if previous is not None and follow else None
    conflict: list[str] = []
    if q_agency or unknown:
        agency, agency_from = q_agency, "question"
        if f_agency and q_agency != f_agency:
            conflict.append(f"筛选为{f_agency}，但问题问的是{q_agency or unknown}：按问题回答。")
    elif f_agency:
        agency, agency_from = f_agency, "filter"
    elif h_agency:
        agency, agency_from = h_agency, "conversation"
    else:
        agency, agency_from = None, ""

    covered = years_of(corpus, agency)
    q_years, rel_words = _years(text, lex, covered)
    if q_years and any(w in text for w in lex.plan_words):  # "2023年打算…": the plans are in the 2022 report
        q_years = tuple(y - 1 if y not in covered and y - 1 in covered else y for y in q_years)
    h_years = tuple(int(y) for y in _ints(previous.filters.get("years"))) if previous is not None and follow else ()
    if q_years:
        years, years_from = q_years, "question"
        if explicit.years and set(explicit.years) != set(q_years):
            conflict.append(f"筛选为{'、'.join(map(str, explicit.years))}年，但问题问的是"
                            f"{'、'.join(map(str, q_years))}年：按问题回答。")
    elif explicit.years:
        years, years_from = tuple(explicit.years), "filter"
    elif h_years:
        years, years_from = h_years, "conversation"
    else:
        years, years_from = (), ""

    problem = coverage_problem(corpus, agency, unknown if agency_from == "question" else None, years)
    if english is not None and english.ambiguous and not found:  # a pinyin two agencies' names share
        spoken, sounds = english.ambiguous
        problem = (f"“{spoken}”唯一所指的机关：它的拼音与{'、'.join(sounds)}相同。"
                   "请用中文写明机关名称，例如“" + sounds[0] + "…”。")
    if not problem and agency and agency not in agencies(corpus):
        problem = coverage_problem(corpus, None, agency, ())
    ids = tuple(reports_of(corpus, agency, years)) if not problem and not (unknown and not agency) else ()
    if len(found) > 1 and agency is None:  # a name several agencies share: only theirs, one line each
        ids = tuple(i for i in ids if agency_of(corpus[i]) in found)
    if explicit.report_ids:
        ids = tuple(i for i in ids if i in explicit.report_ids)
    scope = Scope(agency=agency, years=years, section=explicit.section, report_ids=ids, unknown_agency=unknown,
                  agency_from=agency_from, years_from=years_from, relative_years=rel_words,
                  conflict="".join(conflict), problem=problem)

    merged = _merge(previous.question, text, max_chars) if previous is not None and follow else text
    cells = match_cells(merged if follow else text, lex)
    reading = classify(merged if follow else text, cells, lex, len(years), bool(found or unknown))
    if english is not None and english.ambiguous and problem:  # said as not-found, whatever was asked
        reading = reading if reading.intent != "out_of_scope" else Reading("general", (), 0.3, ())
    elif english is not None and (not english.understood or reading.intent == "out_of_scope"):
        cues = tuple(f"english_unknown:{w}" for w in english.unknown) or reading.cues
        reading = Reading("out_of_scope", (("language", "en"),), reading.confidence, cues)
    if reading.intent not in TABLE_INTENTS:
        cells = ()
    slots = reading.slots
    unit = asked_unit(text, lex) if reading.intent in ("quantity", *TABLE_INTENTS) else None
    if unit:
        slots += (("unit", unit),)
    if reading.intent in ("quantity", *TABLE_INTENTS):
        slots += tuple(("counted", w) for w in counted_words(text, lex))
    slots += tuple(("subject", w) for w in dict.fromkeys(w for c in cells for w in subject_words(c, lex)))
    slots += tuple(("table", t) for t, words in sorted(lex.table_names.items()) if any(w in text for w in words))
    ignore = tuple(sorted(set().union(*(agency_names(a) for a in (agency,) if a)) | names))
    return Query(question=typed, text=merged, scope=scope, intent=reading.intent, cells=cells,
                 slots=slots, confidence=reading.confidence, cues=reading.cues, follow_up=follow,
                 ignore_terms=ignore, focus=_focus(text, lex))


def _focus(text: str, lex: Lexicon) -> str:
    """The last part of the question when only it asks and what comes before is a premise that states
    something (a commitment quoted, the context); "" for a question that asks throughout."""
    parts = [text]
    for mark in (*lex.clause_marks, *lex.soft_clause_marks):
        parts = [p for piece in parts for p in piece.split(mark)]
    parts = [p.strip() for p in parts if p.strip(" ？?。!！")]
    asking = [i for i, p in enumerate(parts) if any(w in p for w in lex.question_words)]
    if len(parts) < 2 or asking != [len(parts) - 1]:
        return ""
    premise = "".join(parts[:-1])
    return parts[-1] if len(strip_years(premise)) >= lex.premise_min_chars else ""


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _ints(value: object) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list | tuple) else []
