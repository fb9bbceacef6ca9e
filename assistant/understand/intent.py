"""One intent per question, from the lexicon's cue words (weighted overlap) and the cells it names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant import segment
from assistant.understand.lexicon import Lexicon, score
from assistant.understand.tables import Cell

TABLE_INTENTS = ("table_cell", "table_sum", "compare_years", "rank_agencies")
# intents decided by the strongest of their cues when no specific intent fired
_RESIDUAL = ("quantity", "doc_number", "date", "list", "general")
_CONTACT_FIELDS = (("email", ("邮箱", "邮件", "mail")), ("postcode", ("邮编", "邮政编码")),
                   ("address", ("地址", "在哪")), ("phone", ("电话", "传真", "热线", "phone")))


@dataclass(frozen=True)
class Reading:
    """The intent of a question with its slots, confidence and the cues that fired."""

    intent: str
    slots: tuple[tuple[str, str], ...]
    confidence: float
    cues: tuple[str, ...]


def is_english(text: str) -> bool:
    """Mostly Latin letters (what is left after the lexicon's English words are replaced is Chinese)."""
    letters = sum(c.isascii() and c.isalpha() for c in text)
    han = sum("\u4e00" <= c <= "\u9fff" for c in text)
    return letters > 3 * max(han, 1)


def asked_unit(text: str, lex: Lexicon) -> str | None:
    """The unit a quantity question asks in: 多少件 -> 件, 几次 -> 次 (longest unit first)."""
    units = sorted(lex.units, key=len, reverse=True)
    for asker in lex.unit_askers:
        start = text.find(asker)
        while start >= 0:
            after = text[start + len(asker):]
            unit = next((u for u in units if after.startswith(u)), None)
            if unit:
                return unit
            if any(after.startswith(m) for m in lex.money):
                return "元"
            start = text.find(asker, start + 1)
    return None


_COUNTED_END = re.compile(r"[\s，,。？?！!；;：:、（）()“”\"]|[呢吗啊呀吧]")
COUNTED_CHARS = 8  # how far after 多少/几 the thing counted is read


def counted_words(text: str, lex: Lexicon) -> tuple[str, ...]:
    """The words of the thing a quantity question counts, right after its asker and unit ("有多少粉丝" ->
    粉丝, "收到多少件政府信息公开申请" -> 政府信息公开申请); () when nothing follows ("发了几条")."""
    units = sorted((*lex.units, *lex.money), key=len, reverse=True)
    words: list[str] = []
    for asker in lex.unit_askers:
        start = text.find(asker)
        while start >= 0:
            after = text[start + len(asker):]
            after = after[len(next((u for u in units if after.startswith(u)), "")):]
            thing = _COUNTED_END.split(after, maxsplit=1)[0][:COUNTED_CHARS]
            words += [t for t in segment.tokenize(thing) if t not in lex.stop_words and not t.isdigit()
                      and t not in lex.units and not any(t.startswith(a) for a in lex.unit_askers)]
            start = text.find(asker, start + 1)
    return tuple(dict.fromkeys(words))


def classify(text: str, cells: tuple[Cell, ...], lex: Lexicon, n_years: int, agency_named: bool) -> Reading:
    """The intent of the normalised question text."""
    lowered = text.lower()
    scores: dict[str, float] = {}
    fired: dict[str, list[str]] = {}
    for name, weights in lex.cues.items():
        scores[name], fired[name] = score(lowered, weights)

    def reading(intent: str, *extra: str, slots: tuple[tuple[str, str], ...] = ()) -> Reading:
        total = sum(scores.values()) or 1.0
        mine = scores.get(intent, 0.0) + sum(scores.get(e, 0.0) for e in extra)
        cues = [f"{intent}:{c}" for c in fired.get(intent, [])]
        cues += [f"{e}:{c}" for e in extra for c in fired.get(e, [])]
        cues += [f"cell:{w}" for cell in cells for w in cell.words] if intent in TABLE_INTENTS else []
        confidence = round(min(1.0, mine / total), 2) if mine else 0.3
        return Reading(intent, slots, confidence, tuple(dict.fromkeys(cues)))

    domain = any(w in text for w in lex.domain)
    if scores["out_of_scope"] and not (domain and agency_named):
        return reading("out_of_scope")
    if is_english(text) and not agency_named:
        return reading("out_of_scope", slots=(("language", "en"),))
    specific = any(v for k, v in scores.items() if k not in ("general", "out_of_scope"))
    if not domain and not agency_named and not cells and not specific:
        return reading("out_of_scope")
    if scores["consistency"]:
        return reading("consistency")
    if scores["follow_up"] and (scores["commitments"] or "承诺" in text or "措施" in text):
        return reading("follow_up", "commitments")
    # "办理了多少件12345热线交办事项": a count of things (件, 条) is not a contact detail
    if scores["contact"] and asked_unit(lowered, lex) is None:
        fields = [name for name, words in _CONTACT_FIELDS if any(w in lowered for w in words)] or ["phone"]
        if scores["contact_owner"]:
            return reading("contact_owner", "contact")
        return reading("contact", slots=tuple(("field", f) for f in fields))
    asks_number = bool(scores["quantity"] or scores["compare_years"])
    ranking = bool(scores["rank_agencies"]) and any(w in text for w in lex.superlatives) and not (
        scores["compare_years"] and n_years != 1)
    bare = not any(scores.values())  # "平潭2024年行政复议案件": a table cell named and nothing else asked
    if cells and (asks_number or ranking or bare) and not scores["commitments"]:
        if ranking:
            mode = "min" if "最少" in text else "max"
            return reading("rank_agencies", "quantity", slots=(("rank", mode),))
        if scores["compare_years"] or n_years >= 2:
            percent = any(w in text for w in ("百分", "%", "比例", "幅度", "增长率", "增幅", "降幅"))
            mode = "max" if "最多" in text else "min" if "最少" in text else "diff"
            return reading("compare_years", "quantity",
                           slots=(("compare", mode), ("percent", "yes" if percent else "no")))
        intent = "table_sum" if any(c.aggregate for c in cells) else "table_cell"
        return reading(intent, "quantity")
    if scores["problems"] and not scores["commitments"]:
        return reading("problems")
    if scores["commitments"]:
        return reading("commitments")
    if scores["contact_owner"] and ("电话" in text or "这个" in text):
        return reading("contact_owner")
    best = max(_RESIDUAL, key=lambda name: (scores[name], -_RESIDUAL.index(name)))
    return reading(best if scores[best] else "general")
