"""Evidence text utilities: sentences with offsets, question-term overlap, numbers, numbered items."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cn2an

from assistant import segment
from assistant.ingest.enumerations import SENTENCE_END
from assistant.ingest.injection import overlaps_instruction
from assistant.records import Citation, Hit
from assistant.understand.lexicon import lexicon

_NUMBER = re.compile(
    r"\d+(?:\.\d+)?%?(?:万|亿)?(?:余|多)?[件条人个次项份篇期场家名元户批类]?|[零〇一二两三四五六七八九十百千]{1,6}(?=[件条人个次项份篇期场家名])"
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Span:
    """A sentence of a hit, with its absolute offsets in the report's cleaned text."""

    hit: Hit
    text: str
    start: int
    end: int


def content_weights(question: str, ignore: Sequence[str] = ()) -> dict[str, float]:
    """Question tokens that carry meaning, weighted by length (longer words are more specific); the
    lexicon's common words (政府, 信息) count a little, its stop words not at all."""
    lex = lexicon()
    ignored = set(ignore) | {token for term in ignore for token in segment.tokenize(term)}
    weights: dict[str, float] = {}
    for token in segment.tokenize(question):
        if token in ignored or _DIGITS.fullmatch(token):
            continue
        if token in lex.common_words:
            weights[token] = lex.common_words[token]
        elif token not in lex.stop_words:
            weights[token] = float(min(len(token), 4))
    return weights


def bigrams(token: str) -> set[str]:
    return {token[i : i + 2] for i in range(len(token) - 1)} or {token}


def overlap(weights: dict[str, float], text: str) -> float:
    """Share of the question's weight found in text; a word counts by the share of its bigrams present
    (so 政府信息公开申请 still mostly matches a report's typo 政府信息公开申)."""
    if not weights:
        return 0.0
    norm = segment.normalize(text)
    lex = lexicon()
    found = 0.0
    for token, weight in weights.items():
        if token in norm:
            found += weight
        elif any(other in norm for other in lex.synonyms.get(token, ())):
            found += weight * lex.synonym_credit
        else:
            grams = bigrams(token)
            found += weight * sum(1 for g in grams if g in norm) / len(grams)
    return found / sum(weights.values())


def sentences(hit: Hit) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for match in SENTENCE_END.finditer(hit.text + "\n"):
        end = min(match.end(), len(hit.text))
        piece = hit.text[start:end]
        stripped = piece.strip()
        if len(stripped) >= 2 and not overlaps_instruction(hit.text, start, end):  # never quote an injection
            offset = start + piece.index(stripped)
            spans.append(Span(hit, stripped, hit.start + offset, hit.start + offset + len(stripped)))
        start = end
    return spans


_DATE_PART = re.compile(r"(?:19|20)\d{2}年|\d{1,2}月|\d{1,2}日|〔\d{4}〕|\d+号")


def has_number(text: str) -> bool:
    """Whether the text states a quantity (years, dates and document numbers do not count)."""
    for match in _NUMBER.finditer(_DATE_PART.sub("", text)):
        token = match.group(0)
        if _DIGITS.match(token):
            return True
        try:
            cn2an.cn2an(token, "smart")
            return True
        except (ValueError, KeyError):
            continue
    return False


# citation markers, list ordinals, table names (T3), report titles and the labelled computed parts
_NOT_STATED = re.compile(r"\[\d+\]|^\d+\.\s|(?<![A-Za-z0-9])T[234](?![0-9])|《[^》]*》", re.M)
COMPUTED_OPEN = "（计算："


def _without_computed(text: str) -> str:
    """The text without its labelled computations "（计算：…）" (which may hold brackets of their own)."""
    out, i = [], 0
    while (start := text.find(COMPUTED_OPEN, i)) >= 0:
        out.append(text[i:start])
        depth, j = 1, start + len(COMPUTED_OPEN)
        while j < len(text) and depth:
            depth += {"（": 1, "）": -1}.get(text[j], 0)
            j += 1
        i = j
    return "".join(out) + text[i:]


def numbers_in(text: str) -> list[str]:
    """Arabic numbers a text states as facts from the reports."""
    return _DIGITS.findall(_NOT_STATED.sub("", _without_computed(text)))


def unsupported_numbers(text: str, citations: Sequence[Citation]) -> list[str]:
    """The numbers an answer states that none of its citations holds (passage, cell or report title):
    every number must come from a cited passage or cell, or sit in a labelled computation. A number counts
    only whole (15 is not supported by 2015)."""
    cited = set(_DIGITS.findall(" ".join(f"{c.text} {c.quote or ''} {c.report_title}" for c in citations)))
    return [n for n in numbers_in(text) if n not in cited]


PREMISE_SHARE = 0.3  # weight kept by the words of a question's premise (they rank, they are not required)


def focus_weights(text: str, focus: str, ignore: Sequence[str] = ()) -> tuple[dict[str, float], frozenset[str]]:
    """The question's weights when a premise precedes the part that asks (focus): the premise's own words
    at a discount, and those words (returned apart) not required of a sentence."""
    weights = content_weights(text, ignore)
    if not focus:
        return weights, frozenset()
    own = content_weights(focus, ignore)
    premise = frozenset(t for t in weights if t not in own)
    return {t: w * PREMISE_SHARE if t in premise else w for t, w in weights.items()}, premise


def required_terms_present(weights: dict[str, float], text: str, optional: frozenset[str] = frozenset()) -> bool:
    """Every specific (4+ character) word of the question (but the optional ones) is mostly in the text."""
    norm = segment.normalize(text)
    for token in weights:
        if len(token) >= 4 and token not in norm and token not in optional:
            grams = bigrams(token)
            if sum(1 for g in grams if g in norm) / len(grams) < 0.6:
                return False
    return True


