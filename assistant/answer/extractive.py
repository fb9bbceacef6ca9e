"""Extractive answers: pick the sentences of the top hits that answer the question, and cite them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.answer.evidence import (
    ENUM_MARK,
    SENTENCE_END,
    Span,
    content_weights,
    enumerations,
    has_number,
    overlap,
    required_terms_present,
    sentences,
)
from assistant.records import Answer, Citation, Hit

NOT_FOUND_PREFIX = "在已收录的报告中没有找到"
MIN_OVERLAP = 0.34  # share of the question's content weight a chosen sentence must cover

_QUANTITY = re.compile(r"多少|几[件个次条项人名家]?|数量|金额|比例|多大|总数|百分之")
_LIST = re.compile(r"哪些|有什么|有何|哪几|措施|问题|举措|做法")
_CONTACT = re.compile(r"电话|邮箱|邮件|e-?mail|地址|邮编|邮政编码|联系方式|传真", re.I)
_WHO = re.compile(r"哪个部门|哪个单位|哪个机构|谁")
_WHEN = re.compile(r"什么时候|何时|哪天|哪一天|什么时间|日期|期限")
_DATE = re.compile(r"\d{1,2}月|\d{1,2}日")  # a "when" question wants a month or a day, not just a year
_NEGATION = re.compile(r"未|没有|无|均不|不存在")
_PATTERNS = {
    "phone": re.compile(r"(?<![\d-])(?:\d{3,4}-\d{7,8}|\d{7,8})(?![\d-])"),
    "email": re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "postcode": re.compile(r"(?<=邮编)[:：]?\s*\d{6}|(?<=邮政编码)[:：]?\s*\d{6}"),
    "address": re.compile(r"(?<=地址)[:：]\s*[^，,；;。)）\n]+"),
}
def question_kind(question: str) -> str:
    """"contact", "contact_owner", "quantity", "date", "list" or "general"."""
    if _CONTACT.search(question):
        return "contact_owner" if _WHO.search(question) else "contact"
    if _QUANTITY.search(question):
        return "quantity"
    if _WHEN.search(question):
        return "date"
    if _LIST.search(question):
        return "list"
    return "general"


def _citation(n: int, span: Span) -> Citation:
    hit = span.hit
    return Citation(
        n=n, passage_id=hit.passage_id, report_title=hit.report_title, agency=hit.agency, year=hit.year,
        section=hit.section, text=hit.text, start=hit.start, end=hit.end,
        source_file=hit.source_file, source_url=hit.source_url, quote=span.text,
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


_CONTACT_WORDS = (("email", ("邮箱", "邮件", "mail")), ("postcode", ("邮编", "邮政编码")),
                  ("address", ("地址", "在哪")), ("phone", ("电话", "传真")))


def _answer_contact(hits: Sequence[Hit], question: str, multi_report: bool) -> Answer | None:
    """Phone, e-mail, postcode or address; with multi_report, one per report among the top hits."""
    lowered = question.lower()
    wanted = [name for name, words in _CONTACT_WORDS if any(w in lowered for w in words)] or ["phone"]
    found: dict[str, tuple[str, Span]] = {}
    for name in wanted:
        for hit in hits[: 4 if multi_report else len(hits)]:
            if hit.report_id in found:
                continue
            first = next(((m, sp) for sp in sentences(hit) if (m := _PATTERNS[name].search(sp.text))), None)
            if first:
                match, span = first
                found[hit.report_id] = (match.group(0).lstrip(":： "), span)
                if not multi_report:
                    break
        if found:
            break
    if not found:
        return None
    items = list(found.values())[:3]
    if len(items) == 1:
        value, span = items[0]
        return Answer(question, True, f"{_source_prefix(span.hit)}{value}[1]（原文：{span.text}）",
                      (_citation(1, span),))
    lines = ["不同报告的说法："] + [f"《{span.hit.report_title}》：{value}[{n}]" for n, (value, span) in enumerate(items, 1)]
    return Answer(question, True, "\n".join(lines), tuple(_citation(n, sp) for n, (_, sp) in enumerate(items, 1)))


_CONTACT_OWNER = re.compile(r"(?:请与|可与|与|向)([\u4e00-\u9fff（）()]{2,40}?)(?:联系|咨询)")


def _answer_contact_owner(hits: Sequence[Hit], question: str) -> Answer | None:
    """"这个电话是哪个部门的？": the office named where the report gives its contact details."""
    for hit in hits:
        for span in sentences(hit):
            match = _CONTACT_OWNER.search(span.text)
            if match:
                text = f"{_source_prefix(hit)}联系部门是{match.group(1)}[1]（原文：{span.text}）"
                return Answer(question, True, text, (_citation(1, span),))
    return None


def _number_windows(span: Span) -> list[str]:
    """Each clause holding a number, joined to the clause before it (the subject often sits there)."""
    clauses = [c for c in re.split(r"(?<=[，,：:、])", span.text) if c]
    return ["".join(clauses[max(0, i - 1): i + 1]) for i, c in enumerate(clauses) if has_number(c)]


def _answer_quantity(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    best: tuple[float, Span, str] | None = None
    for hit in hits:
        prior = 0.15 / hit.rank
        for span in sentences(hit):
            sentence_score = overlap(weights, span.text)
            if not required_terms_present(weights, span.text):
                continue
            for window in _number_windows(span):
                score = 0.7 * overlap(weights, window) + 0.3 * sentence_score
                if score >= MIN_OVERLAP and (best is None or score + prior > best[0]):
                    best = (score + prior, span, window)
    if best is None:
        return None
    _, span, window = best
    quote = span.text if len(span.text) <= 120 else window.strip("，,、：: ")
    return Answer(question, True, f"{_source_prefix(span.hit)}{quote}[1]", (_citation(1, span),))


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
    lines = [f"{_source_prefix(hit)}有以下几项："]
    citations = []
    for n, (start, end) in enumerate(items, 1):
        item_text = hit.text[start:end].strip()
        span = Span(hit, item_text, hit.start + start, hit.start + end)
        citations.append(_citation(n, span))
        lines.append(f"{n}. {item_text}[{n}]")
    return Answer(question, True, "\n".join(lines), tuple(citations))


def _answer_negative(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    """"收了多少？" answered by "本年度未收取…": a closely matching sentence that says there was none."""
    for score, span in _ranked_spans(weights, hits):
        if score - 0.15 / span.hit.rank < 0.6:
            break
        if _NEGATION.search(span.text) and required_terms_present(weights, span.text):
            return Answer(question, True, f"{_source_prefix(span.hit)}{span.text}[1]", (_citation(1, span),))
    return None


def _whole_item(span: Span) -> Span:
    """A sentence that only opens a numbered item (二是进一步加强解读。) grows to the whole item."""
    if len(span.text) >= 30:
        return span
    hit = span.hit
    local = span.start - hit.start
    following = ENUM_MARK.search(hit.text, local + 2)
    limit = min(following.start() if following else len(hit.text), local + 300)
    ends = [m.end() for m in SENTENCE_END.finditer(hit.text, local, limit)]
    end = max(ends) if ends and limit < len(hit.text) else limit
    text = hit.text[local:end].strip()
    return Span(hit, text, span.start, span.start + len(text))


def _answer_general(
    question: str, weights: dict[str, float], hits: Sequence[Hit], multi_report: bool = False,
    require: re.Pattern[str] | None = None,
) -> Answer | None:
    ranked = [(s, span) for s, span in _ranked_spans(weights, hits) if s - 0.15 / span.hit.rank >= MIN_OVERLAP
              and (require is None or require.search(span.text))]
    if not ranked:
        return None
    top_score, top = ranked[0]
    if multi_report:  # no agency named: show what each of the best-matching reports says
        per_report: dict[str, Span] = {}
        for score, span in ranked:
            if score >= 0.8 * top_score and span.hit.report_id not in per_report and len(per_report) < 3:
                per_report[span.hit.report_id] = _whole_item(span)
        if len(per_report) > 1:
            lines = ["不同报告的说法："]
            for n, span in enumerate(per_report.values(), 1):
                lines.append(f"《{span.hit.report_title}》：{span.text}[{n}]")
            return Answer(question, True, "\n".join(lines),
                          tuple(_citation(n, sp) for n, sp in enumerate(per_report.values(), 1)))
    chosen = [_whole_item(top)]
    if len(ranked) > 1 and ranked[1][0] >= top_score * 0.8 and ranked[1][1].hit.report_id == top.hit.report_id:
        second = _whole_item(ranked[1][1])
        if second.text not in chosen[0].text and chosen[0].text not in second.text:
            chosen.append(second)
    parts = [f"{span.text}[{n}]" for n, span in enumerate(chosen, 1)]
    citations = tuple(_citation(n, span) for n, span in enumerate(chosen, 1))
    return Answer(question, True, _source_prefix(top.hit) + "".join(parts), citations)


def extract_answer(
    question: str, hits: Sequence[Hit], ignore_terms: Sequence[str] = (), multi_report: bool = False
) -> Answer:
    """An extractive answer from the hits, or a not-found answer listing them as related.

    multi_report: the question names no agency and the corpus has several, so a general answer
    shows what each of the best-matching reports says.
    """
    if not hits:
        return not_found(question, "与该问题相关的内容。")
    weights = content_weights(question, ignore_terms)
    kind = question_kind(question)
    answer: Answer | None = None
    if kind == "contact":
        answer = _answer_contact(hits, question, multi_report)
    elif kind == "contact_owner":
        answer = _answer_contact_owner(hits, question)
    elif kind == "quantity":
        answer = _answer_quantity(question, weights, hits) or _answer_negative(question, weights, hits)
        if answer is None:
            return not_found(question, "能回答这个数量问题的内容：报告中没有与之对应的数字。", hits[:3])
    elif kind == "date":
        answer = _answer_general(question, weights, hits, multi_report, require=_DATE)
        if answer is None:
            return not_found(question, "这个时间的说明。", hits[:3])
    elif kind == "list":
        answer = _answer_list(question, weights, hits)
    if answer is None:
        answer = _answer_general(question, weights, hits, multi_report)
    return answer or not_found(question, "与该问题直接相关的内容。", hits[:3])
