"""Extractive answers: pick the sentences of the top hits that answer the question, and cite them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant import segment
from assistant.answer.citations import Citations, of_span
from assistant.answer.evidence import (
    Span,
    bigrams,
    has_number,
    overlap,
    required_terms_present,
    sentences,
)
from assistant.ingest.enumerations import ENUM_MARK, SENTENCE_END, enumerations
from assistant.records import Answer, Hit

NOT_FOUND_PREFIX = "在已收录的报告中没有找到"
MIN_OVERLAP = 0.34  # share of the question's content weight a chosen sentence must cover

DATE = re.compile(r"\d{1,2}月|\d{1,2}日")  # a "when" question wants a month or a day, not just a year
DOC_NUMBER = re.compile(r"〔(?:19|20)\d{2}〕\d+号|\[(?:19|20)\d{2}\]\d+号")
_NEGATION = re.compile(r"未|没有|无|均不|不存在")
# a long run of digits is a table whose cells ran together: never a source of numbers
_COLLAPSED_TABLE = re.compile(r"\d{7,}")
_PATTERNS = {
    "phone": re.compile(r"(?<![\d-])(?:\d{3,4}[-—－]\d{7,8}|\d{7,8})(?![\d-])"),
    "email": re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "postcode": re.compile(r"(?<=邮编)[:：]?\s*\d{6}|(?<=邮政编码)[:：]?\s*\d{6}"),
    "address": re.compile(r"(?<=地址)[:：]\s*[^，,；;。)）\n]+"),
}


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


_FIELD_NAMES = {"phone": "电话", "email": "电子邮箱", "postcode": "邮编", "address": "地址"}


def _first_contact(hit: Hit, name: str) -> tuple[str, Span] | None:
    for span in sentences(hit):
        if match := _PATTERNS[name].search(span.text):
            return match.group(0).lstrip(":： "), span
    return None


def answer_contact(hits: Sequence[Hit], question: str, wanted: Sequence[str], multi_report: bool) -> Answer | None:
    """Phone, e-mail, postcode or address (every field wanted); with multi_report, one line per report."""
    per_report: dict[str, list[tuple[str, str, Span]]] = {}
    for hit in hits[: 4 if multi_report else len(hits)]:
        if not multi_report and per_report and hit.report_id not in per_report:
            continue  # one report answers: its own details only
        mine = per_report.setdefault(hit.report_id, [])
        for name in wanted:
            if any(n == name for n, _, _ in mine):
                continue
            if (first := _first_contact(hit, name)) is not None:
                mine.append((name, first[0], first[1]))
        if not mine:
            del per_report[hit.report_id]
    if not per_report:
        return None
    cited = Citations()
    mark = cited.span
    rows = list(per_report.values())[:3]
    if len(rows) == 1:
        only = rows[0]
        if len(only) == 1:
            value, span = only[0][1], only[0][2]
            text = f"{_source_prefix(span.hit)}{value}{mark(span)}（原文：{span.text}）"
        else:
            text = _source_prefix(only[0][2].hit) + "；".join(
                f"{_FIELD_NAMES[n]}：{value}{mark(span)}" for n, value, span in only)
        return Answer(question, True, text, cited.all())
    lines = ["不同报告的说法："] + [
        f"《{row[0][2].hit.report_title}》：" + "；".join(f"{_FIELD_NAMES[n]} {v}{mark(sp)}" for n, v, sp in row)
        for row in rows]
    return Answer(question, True, "\n".join(lines), cited.all())


_CONTACT_OWNER = re.compile(r"(?:请与|可与|与|向)([\u4e00-\u9fff（）()]{2,40}?)(?:联系|咨询)")


def answer_contact_owner(hits: Sequence[Hit], question: str) -> Answer | None:
    """"这个电话是哪个部门的？": the office named where the report gives its contact details."""
    for hit in hits:
        for span in sentences(hit):
            match = _CONTACT_OWNER.search(span.text)
            if match:
                text = f"{_source_prefix(hit)}联系部门是{match.group(1)}[1]（原文：{span.text}）"
                return Answer(question, True, text, (of_span(1, span),))
    return None


def _collapsed(text: str) -> bool:
    """Cells of a lost table run together (…总计000000000…) and no phone number or date explains it."""
    return any(not _PATTERNS["phone"].fullmatch(m.group(0)) or len(m.group(0)) > 8
               for m in _COLLAPSED_TABLE.finditer(text))


def _number_windows(span: Span) -> list[tuple[str, str]]:
    """Each clause holding a number, joined to the clause before it (the subject often sits there), with
    the clause itself (what the number counts)."""
    clauses = [c for c in re.split(r"(?<=[，,：:、])", span.text) if c]
    return [("".join(clauses[max(0, i - 1): i + 1]), c) for i, c in enumerate(clauses) if has_number(c)]


OWN_CLAUSE = 0.1  # rank bonus for the question's words in the number's own clause (not in the gate)


def _counts_the_thing(text: str, counted: Sequence[str]) -> bool:
    """The thing the question counts ("多少粉丝": 粉丝) is in the sentence, whole or by its head (the last
    two characters of a compound: 政府信息公开申请 -> 申请, or cut before the number as in 公开申15件); no such
    thing asked: True."""
    norm = segment.normalize(text)
    return not counted or _names_subject(text, counted) or any(t[-2:] in norm for t in counted)


def _has_unit(window: str, unit: str | None) -> bool:
    """Whether the window states a number of this unit (四次, 1.8万余条); any number when unit is None."""
    if unit is None:
        return True
    return re.search(rf"(?:\d|[零〇一二两三四五六七八九十百千])(?:万|亿)?(?:余|多)?{re.escape(unit)}", window) is not None


def _key_concept_present(weights: dict[str, float], text: str) -> bool:
    """The question's heaviest word (访问量, 新闻发布会) is at least half there (by its bigrams)."""
    if not weights:
        return True
    top = max(weights.values())
    norm = segment.normalize(text)
    for token in (t for t, w in weights.items() if w == top and w >= 3):
        grams = bigrams(token)
        if token not in norm and sum(1 for g in grams if g in norm) / len(grams) < 0.5:
            return False
    return True


def _names_subject(text: str, subject: Sequence[str]) -> bool:
    """One subject word is there, or its start right before the number (the report's typo 公开申15件)."""
    norm = segment.normalize(text)
    return any(s in norm or (len(s) >= 2 and re.search(re.escape(s[:-1]) + r"\d", norm)) for s in subject)


def best_quantity(weights: dict[str, float], hits: Sequence[Hit], unit: str | None = None,
                  subject: Sequence[str] = (), optional: frozenset[str] = frozenset(),
                  counted: Sequence[str] = ()) -> tuple[Span, str] | None:
    """The sentence stating a number of the unit asked for, whose words cover the question's (the gate):
    with its key concept, the thing counted, and one of the subject words when the question names a table
    row (申请, 复议). Optional words (a premise's) need not be there. Returns the sentence and the window
    holding the number; of equal windows, the one whose own clause holds more of the question wins."""
    best: tuple[float, Span, str] | None = None
    for hit in hits:
        prior = 0.15 / hit.rank
        for span in sentences(hit):
            sentence_score = overlap(weights, span.text)
            if not required_terms_present(weights, span.text, optional) or _collapsed(span.text) \
                    or not _key_concept_present(weights, span.text) \
                    or (subject and not _names_subject(span.text, subject)) \
                    or not _counts_the_thing(span.text, counted):
                continue
            for window, own in _number_windows(span):
                if not _has_unit(window, unit):
                    continue
                score = 0.7 * overlap(weights, window) + 0.3 * sentence_score
                rank = score + prior + OWN_CLAUSE * overlap(weights, own)
                if score >= MIN_OVERLAP and (best is None or rank > best[0]):
                    best = (rank, span, window)
    return None if best is None else (best[1], best[2])


def quote_of(span: Span, window: str) -> str:
    """What an answer quotes: the sentence, or only the window holding the number when the sentence is long."""
    return span.text if len(span.text) <= 120 else window.strip("，,、：: ")


_FIGURE = r"(\d+(?:\.\d+)?)(万|亿)?(余|多)?"


def figure_of(window: str, unit: str) -> tuple[float, bool] | None:
    """The last number of this unit the window states (1.8万条 -> 18000), and whether it is approximate (余, 多)."""
    matches = list(re.finditer(_FIGURE + re.escape(unit), window))
    if not matches:
        return None
    number, scale, about = matches[-1].groups()
    value = float(number) * {"万": 1e4, "亿": 1e8}.get(scale or "", 1)
    return value, bool(about)


def answer_quantity(question: str, weights: dict[str, float], hits: Sequence[Hit],
                    unit: str | None = None, subject: Sequence[str] = (),
                    optional: frozenset[str] = frozenset(), counted: Sequence[str] = ()) -> Answer | None:
    """The best sentence (best_quantity) as a cited answer."""
    found = best_quantity(weights, hits, unit, subject, optional, counted)
    if found is None:
        return None
    span, window = found
    return Answer(question, True, f"{_source_prefix(span.hit)}{quote_of(span, window)}[1]", (of_span(1, span),))


def answer_list(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
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
    cited = Citations()
    for n, (start, end) in enumerate(items, 1):
        item_text = hit.text[start:end].strip()
        lines.append(f"{n}. {item_text}{cited.span(Span(hit, item_text, hit.start + start, hit.start + end))}")
    return Answer(question, True, "\n".join(lines), cited.all())


def answer_negative(question: str, weights: dict[str, float], hits: Sequence[Hit]) -> Answer | None:
    """"收了多少？" answered by "本年度未收取…": a closely matching sentence that says there was none."""
    for score, span in _ranked_spans(weights, hits):
        if score - 0.15 / span.hit.rank < 0.6:
            break
        if _NEGATION.search(span.text) and required_terms_present(weights, span.text) and not _collapsed(span.text):
            return Answer(question, True, f"{_source_prefix(span.hit)}{span.text}[1]", (of_span(1, span),))
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


def answer_general(
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
            cited = Citations()
            lines = ["不同报告的说法："] + [f"《{span.hit.report_title}》：{span.text}{cited.span(span)}"
                                          for span in per_report.values()]
            return Answer(question, True, "\n".join(lines), cited.all())
    chosen = [_whole_item(top)]
    if len(ranked) > 1 and ranked[1][0] >= top_score * 0.8 and ranked[1][1].hit.report_id == top.hit.report_id:
        second = _whole_item(ranked[1][1])
        if second.text not in chosen[0].text and chosen[0].text not in second.text:
            chosen.append(second)
    cited = Citations()
    parts = [f"{span.text}{cited.span(span)}" for span in chosen]
    return Answer(question, True, _source_prefix(top.hit) + "".join(parts), cited.all())
