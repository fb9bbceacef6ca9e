"""Extractive answers: pick the sentences of the top hits that answer the question, and cite them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cn2an

from assistant import segment
from assistant.records import Answer, Citation, Hit

NOT_FOUND_PREFIX = "在已收录的报告中没有找到"
MIN_OVERLAP = 0.34  # share of the question's content weight a chosen sentence must cover

_QUANTITY = re.compile(r"多少|几[件个次条项人名家]?|数量|金额|比例|多大|总数|百分之")
_LIST = re.compile(r"哪些|有什么|有何|哪几|措施|问题|举措|做法")
_CONTACT = re.compile(r"电话|邮箱|邮件|e-?mail|地址|邮编|邮政编码|联系方式|传真|联系", re.I)
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")
_NUMBER = re.compile(
    r"\d+(?:\.\d+)?%?(?:万|亿)?(?:余|多)?[件条人个次项份篇期场家名元户批类]?|[零〇一二两三四五六七八九十百千]{1,6}(?=[件条人个次项份篇期场家名])"
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_ENUM_MARK = re.compile(r"([一二三四五六七八九十])是|[（(]([一二三四五六七八九十])[)）]|(?<![\d.])(\d{1,2})[.、．](?!\d)")
_PATTERNS = {
    "phone": re.compile(r"(?<![\d-])(?:\d{3,4}-\d{7,8}|\d{7,8})(?![\d-])"),
    "email": re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "postcode": re.compile(r"(?<=邮编)[:：]?\s*\d{6}|(?<=邮政编码)[:：]?\s*\d{6}"),
    "address": re.compile(r"(?<=地址)[:：]\s*[^，,；;。)）\n]+"),
}
_STOP_TOKENS = {
    "多少", "什么", "哪些", "哪个", "是", "的", "了", "吗", "呢", "有", "几", "件", "年", "在", "和", "与",
    "对", "中", "个", "为", "请问", "如何", "怎样", "怎么", "是否", "一共", "共", "应该", "哪里", "哪",
    "报告", "年报", "年度", "工作", "情况", "政府", "信息", "公开",
}


@dataclass(frozen=True)
class Span:
    """A sentence of a hit, with its absolute offsets in the report's cleaned text."""

    hit: Hit
    text: str
    start: int
    end: int


def question_kind(question: str) -> str:
    """"contact", "quantity", "list" or "general"."""
    if _CONTACT.search(question) and not _QUANTITY.search(question):
        return "contact"
    if _QUANTITY.search(question):
        return "quantity"
    if _LIST.search(question):
        return "list"
    return "general"


def content_weights(question: str, ignore: Sequence[str] = ()) -> dict[str, float]:
    """Question tokens that carry meaning, weighted by length (longer words are more specific)."""
    ignored = set(ignore)
    weights: dict[str, float] = {}
    for token in segment.tokenize(question):
        if token in _STOP_TOKENS or token in ignored or _DIGITS.fullmatch(token):
            continue
        weights[token] = float(min(len(token), 4))
    return weights


def overlap(weights: dict[str, float], text: str) -> float:
    """Share of the question's weight whose tokens (or characters, for long words) occur in text."""
    if not weights:
        return 0.0
    norm = segment.normalize(text)
    total = sum(weights.values())
    hit = sum(w for token, w in weights.items() if token in norm)
    return hit / total


def sentences(hit: Hit) -> list[Span]:
    spans: list[Span] = []
    start = 0
    for match in _SENTENCE_END.finditer(hit.text + "\n"):
        end = min(match.end(), len(hit.text))
        piece = hit.text[start:end]
        stripped = piece.strip()
        if len(stripped) >= 2:
            offset = start + piece.index(stripped)
            spans.append(Span(hit, stripped, hit.start + offset, hit.start + offset + len(stripped)))
        start = end
    return spans


def has_number(text: str) -> bool:
    for match in _NUMBER.finditer(text):
        token = match.group(0)
        if _DIGITS.match(token):
            return True
        try:
            cn2an.cn2an(token, "smart")
            return True
        except (ValueError, KeyError):
            continue
    return False


def numbers_in(text: str) -> list[str]:
    """Arabic numbers in a text (the answer's [n] markers excluded)."""
    return _DIGITS.findall(re.sub(r"\[\d+\]", "", text))


def _citation(n: int, span: Span, quote: str | None = None) -> Citation:
    hit = span.hit
    return Citation(
        n=n, passage_id=hit.passage_id, report_title=hit.report_title, agency=hit.agency, year=hit.year,
        section=hit.section, text=quote or hit.text, start=hit.start, end=hit.end,
        source_file=hit.source_file, source_url=hit.source_url,
    )


def not_found(question: str, reason: str, related: Sequence[Hit] = ()) -> Answer:
    text = f"{NOT_FOUND_PREFIX}{reason}"
    if related:
        text += "\n可能相关的段落列在下方，供参考。"
    return Answer(question=question, found=False, text=text, related=tuple(related))


def _source_prefix(hit: Hit) -> str:
    return f"据《{hit.report_title}》，"


def _ranked_spans(weights: dict[str, float], hits: Sequence[Hit]) -> list[tuple[float, Span]]:
    scored: list[tuple[float, Span]] = []
    for hit in hits:
        prior = 0.15 / hit.rank
        for span in sentences(hit):
            scored.append((overlap(weights, span.text) + prior, span))
    scored.sort(key=lambda item: -item[0])
    return scored


def _answer_contact(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    wanted = [name for name, words in (("email", "邮箱邮件mail"), ("postcode", "邮编邮政"),
                                       ("address", "地址"), ("phone", "电话联系传真"))
              if any(w in question.lower() for w in (words[i:i + 2] for i in range(0, len(words), 2)))]
    for hit in hits:
        for span in sentences(hit):
            for name in wanted or ["phone"]:
                match = _PATTERNS[name].search(span.text)
                if match:
                    value = match.group(0).lstrip(":： ")
                    text = f"{_source_prefix(hit)}{value}[1]（原文：{span.text}）"
                    return Answer(question, True, text, (_citation(1, span),))
    return None


def _clause_with_number(span: Span, weights: dict[str, float]) -> str:
    """The sentence itself when short; otherwise the best clauses around its number."""
    if len(span.text) <= 120:
        return span.text
    clauses = re.split(r"(?<=[，,：:])", span.text)
    best = max(range(len(clauses)), key=lambda i: (has_number(clauses[i]), overlap(weights, clauses[i])))
    return "".join(clauses[max(0, best - 1): best + 1]).strip("，,")


def _answer_quantity(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    for score, span in _ranked_spans(weights, hits):
        if score - 0.15 / span.hit.rank < MIN_OVERLAP:
            break
        if has_number(span.text):
            text = f"{_source_prefix(span.hit)}{_clause_with_number(span, weights)}[1]"
            return Answer(question, True, text, (_citation(1, span),))
    return None


def enumerations(text: str) -> list[tuple[int, list[tuple[int, int]]]]:
    """Groups of numbered items (一是…二是…, （一）…, 1. …) as (lead-in start, [(start, end)])."""
    marks = [(m.start(), m.group(1) or m.group(2) or m.group(3)) for m in _ENUM_MARK.finditer(text)]
    groups: list[tuple[int, list[tuple[int, int]]]] = []
    current: list[int] = []
    expected = 1
    for position, label in marks:
        number = int(label) if label.isdigit() else int(cn2an.cn2an(label, "smart"))
        if number == 1:
            if len(current) >= 2:
                groups.append((current[0], _item_spans(text, current)))
            current, expected = [position], 2
        elif number == expected and current:
            current.append(position)
            expected += 1
    if len(current) >= 2:
        groups.append((current[0], _item_spans(text, current)))
    return groups


def _item_spans(text: str, starts: list[int]) -> list[tuple[int, int]]:
    spans = []
    for i, start in enumerate(starts):
        limit = starts[i + 1] if i + 1 < len(starts) else len(text)
        end_match = _SENTENCE_END.search(text, start, limit)
        end = end_match.start() if end_match else limit
        spans.append((start, end))
    return spans


def _answer_list(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    best: tuple[float, Hit, list[tuple[int, int]]] | None = None
    for hit in hits:
        for lead_start, items in enumerations(hit.text):
            context = hit.text[max(0, lead_start - 60): items[-1][1]]
            score = overlap(weights, context) + 0.15 / hit.rank
            if best is None or score > best[0]:
                best = (score, hit, items)
    if best is None or best[0] - 0.15 / best[1].rank < MIN_OVERLAP:
        return None
    _, hit, items = best
    lines = [f"{_source_prefix(hit)}共 {len(items)} 项："]
    citations = []
    for n, (start, end) in enumerate(items, 1):
        item_text = hit.text[start:end].strip()
        span = Span(hit, item_text, hit.start + start, hit.start + end)
        citations.append(_citation(n, span))
        lines.append(f"{n}. {item_text}[{n}]")
    return Answer(question, True, "\n".join(lines), tuple(citations))


def _answer_general(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    ranked = _ranked_spans(weights, hits)
    chosen = [(s, span) for s, span in ranked[:2] if s - 0.15 / span.hit.rank >= MIN_OVERLAP]
    if not chosen:
        return None
    if len(chosen) == 2 and chosen[1][0] < chosen[0][0] * 0.8:
        chosen = chosen[:1]
    parts, citations = [], []
    for n, (_, span) in enumerate(chosen, 1):
        citations.append(_citation(n, span))
        parts.append(f"{span.text}[{n}]")
    return Answer(question, True, _source_prefix(chosen[0][1].hit) + "".join(parts), tuple(citations))


def extract_answer(question: str, hits: Sequence[Hit], ignore_terms: Sequence[str] = ()) -> Answer:
    """An extractive answer from the hits, or a not-found answer listing them as related."""
    if not hits:
        return not_found(question, "与该问题相关的内容。")
    weights = content_weights(question, ignore_terms)
    kind = question_kind(question)
    answer: Answer | None = None
    if kind == "contact":
        answer = _answer_contact(question, weights, hits)
    elif kind == "quantity":
        answer = _answer_quantity(question, weights, hits)
        if answer is None:
            return not_found(question, "能回答这个数量问题的内容：报告中没有与之对应的数字。", hits[:3])
    elif kind == "list":
        answer = _answer_list(question, weights, hits) or _answer_general(question, weights, hits)
    if answer is None:
        answer = _answer_general(question, weights, hits)
    return answer or not_found(question, "与该问题直接相关的内容。", hits[:3])
