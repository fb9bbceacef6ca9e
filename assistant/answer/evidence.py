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

# Words the reports use for what a question asks in other words (only counted at a discount).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "收到": ("受理", "办理", "提交", "接收", "收"),
    "受理": ("收到", "办理", "接收"),
    "处理": ("办理", "办结"),
    "办理": ("处理", "办结"),
    "发布": ("公布", "印发", "公开"),
    "公布": ("发布", "公开"),
}
SYNONYM_CREDIT = 0.8
# words in nearly every sentence of a report: they count a little (they still tell 政府信息 from 行政执法)
_COMMON_TOKENS = {"政府": 0.5, "信息": 0.5, "公开": 0.5}
_NUMBER = re.compile(
    r"\d+(?:\.\d+)?%?(?:万|亿)?(?:余|多)?[件条人个次项份篇期场家名元户批类]?|[零〇一二两三四五六七八九十百千]{1,6}(?=[件条人个次项份篇期场家名])"
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_STOP_TOKENS = {
    "多少", "什么", "哪些", "哪个", "是", "的", "了", "吗", "呢", "有", "几", "件", "年", "在", "和", "与",
    "对", "中", "个", "为", "请问", "如何", "怎样", "怎么", "是否", "一共", "共", "应该", "哪里", "哪",
    "报告", "年报", "年度", "工作", "情况",
    "这个", "那个", "这", "那", "它", "其", "该", "此", "吧", "什么时候", "何时", "时候", "哪天",
}


@dataclass(frozen=True)
class Span:
    """A sentence of a hit, with its absolute offsets in the report's cleaned text."""

    hit: Hit
    text: str
    start: int
    end: int


def content_weights(question: str, ignore: Sequence[str] = ()) -> dict[str, float]:
    """Question tokens that carry meaning, weighted by length (longer words are more specific)."""
    ignored = set(ignore) | {token for term in ignore for token in segment.tokenize(term)}
    weights: dict[str, float] = {}
    for token in segment.tokenize(question):
        if token in _STOP_TOKENS or token in ignored or _DIGITS.fullmatch(token):
            continue
        weights[token] = _COMMON_TOKENS.get(token, float(min(len(token), 4)))
    return weights


def bigrams(token: str) -> set[str]:
    return {token[i : i + 2] for i in range(len(token) - 1)} or {token}


def overlap(weights: dict[str, float], text: str) -> float:
    """Share of the question's weight found in text; a word counts by the share of its bigrams present
    (so 政府信息公开申请 still mostly matches a report's typo 政府信息公开申)."""
    if not weights:
        return 0.0
    norm = segment.normalize(text)
    found = 0.0
    for token, weight in weights.items():
        if token in norm:
            found += weight
        elif any(other in norm for other in SYNONYMS.get(token, ())):
            found += weight * SYNONYM_CREDIT
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


def required_terms_present(weights: dict[str, float], text: str) -> bool:
    """Every specific (4+ character) word of the question is at least mostly in the text."""
    norm = segment.normalize(text)
    for token in weights:
        if len(token) >= 4 and token not in norm:
            grams = bigrams(token)
            if sum(1 for g in grams if g in norm) / len(grams) < 0.6:
                return False
    return True


