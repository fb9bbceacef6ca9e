"""Answerers from the reports' prose: quantity, list, contact, date, document number, general."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.answer.citations import Citations
from assistant.answer.evidence import Span, content_weights, focus_weights
from assistant.answer.extractive import (
    DATE,
    DOC_NUMBER,
    answer_contact,
    answer_contact_owner,
    answer_general,
    answer_list,
    answer_negative,
    answer_quantity,
    best_quantity,
    figure_of,
    quote_of,
)
from assistant.records import Answer, Hit
from assistant.search.retriever import Filters, Retriever
from assistant.understand.lexicon import found_words, lexicon
from assistant.understand.query import Query

ASK_HITS = 8
MAX_REPORTS = 8  # per-report lines for a question that names no agency


@lru_cache(maxsize=256)
def _search(index: Retriever, text: str, filters: Filters, k: int) -> tuple[Hit, ...]:
    return tuple(index.search(text, k=k, filters=filters))


def hits_for(query: Query, index: Retriever, k: int = ASK_HITS) -> tuple[Hit, ...]:
    """The top hits of the query within its scope (memoised: several answerers look at the same hits)."""
    if not query.scope.report_ids:
        return ()
    return _search(index, query.text, query.filters, k)


def _weights(query: Query) -> dict[str, float]:
    return content_weights(query.text, query.ignore_terms)


def multi_report(query: Query, index: Retriever) -> bool:
    """No agency named and the scope holds several agencies' reports."""
    agencies = {index.metas[r].agency or index.metas[r].title for r in query.scope.report_ids if r in index.metas}
    return query.scope.agency is None and len(agencies) > 1


def _prose_only(hits: Sequence[Hit]) -> tuple[Hit, ...]:
    """Text passages only: a table row is quoted only by the table routes, whose gate matches its row and
    column to the question (a row quoted for its shared words states an unrelated cell), and a lost table's
    run-together cells are never a source of numbers."""
    return tuple(h for h in hits if h.kind == "text")


def _quantity_in(query: Query, hits: Sequence[Hit]) -> Answer | None:
    weights, premise = focus_weights(query.text, query.focus, query.ignore_terms)
    return answer_quantity(query.text, weights, _prose_only(hits), query.slot("unit"),
                           query.slot_values("subject"), premise, query.slot_values("counted"))


def _prose(query: Query, index: Retriever) -> tuple[Hit, ...]:
    return _prose_only(hits_for(query, index))


def multi_year(query: Query, index: Retriever) -> bool:
    """One agency and several of its years named ("2021、2022、2023年…各发了多少条"): each year's report answers."""
    years = {index.metas[r].year for r in query.scope.report_ids if r in index.metas}
    return query.scope.years_from == "question" and len(query.scope.years) > 1 and len(years) > 1


def quantity(query: Query, index: Retriever) -> Answer | None:
    """A sentence stating a number of the asked unit that covers the question's words (the gate).

    No agency named and several agencies in scope, or several years asked: one line per report that
    states it, each cited."""
    if not multi_report(query, index) and not multi_year(query, index):
        return _quantity_in(query, hits_for(query, index))
    found: list[Answer] = []
    for report_id in query.scope.report_ids[:MAX_REPORTS]:
        one = Filters(report_ids=(report_id,), section=query.scope.section)
        answer = _quantity_in(query, _search(index, query.text, one, 4))
        if answer is not None:
            found.append(answer)
    if len(found) <= 1:
        return found[0] if found else None
    cited = Citations()
    header = "不同报告的说法：" if multi_report(query, index) else "各年度报告的说法："
    lines = [header] + [f"《{a.citations[0].report_title}》：{a.citations[0].quote}{cited.add(a.citations[0])}"
                                  for a in found]
    return Answer(question=query.question, found=True, text="\n".join(lines), citations=cited.all())


@dataclass(frozen=True)
class Figure:
    """A number of a unit that one report's prose states for the question, and the sentence stating it."""

    value: float
    approximate: bool  # 1100余条
    span: Span
    quote: str


def _one_year_text(query: Query) -> str:
    """The question without its comparison words (比…多了还是少了, 各是多少): what each year's figure is."""
    text = query.text
    for cue in found_words(text, lexicon().cues["compare_years"]):
        text = text.replace(cue, " ")
    return text


def figure(query: Query, index: Retriever, report_id: str, unit: str, subject: Sequence[str] = ()) -> Figure | None:
    """The figure one report's prose states for the question (same gate as quantity: the key concept, the
    subject words of the table row asked, a number of this unit), for a year whose table was lost."""
    text = _one_year_text(query)
    weights = content_weights(text, query.ignore_terms)
    hits = _prose_only(_search(index, text, Filters(report_ids=(report_id,)), ASK_HITS))
    found = best_quantity(weights, hits, unit, subject)
    number = figure_of(found[1], unit) if found is not None else None
    if found is None or number is None:
        return None
    return Figure(number[0], number[1], found[0], quote_of(*found))


def negative(query: Query, index: Retriever) -> Answer | None:
    """"收了多少？" answered by "本年度未收取…"."""
    return answer_negative(query.text, _weights(query), _prose(query, index))


def listing(query: Query, index: Retriever) -> Answer | None:
    return answer_list(query.text, _weights(query), _prose(query, index))


def contact(query: Query, index: Retriever) -> Answer | None:
    """The contact details asked; for one agency with several reports, the latest report that gives them."""
    wanted = query.slot_values("field") or ["phone"]
    multi = multi_report(query, index)
    found = answer_contact(hits_for(query, index), query.text, wanted, multi)
    if found is not None or multi or len(query.scope.report_ids) < 2:
        return found
    for report_id in reversed(query.scope.report_ids[-MAX_REPORTS:]):  # sorted by year: latest first
        hits = _search(index, query.text, Filters(report_ids=(report_id,)), 4)
        if (found := answer_contact(hits, query.text, wanted, False)) is not None:
            return found
    return None


def contact_owner(query: Query, index: Retriever) -> Answer | None:
    return answer_contact_owner(hits_for(query, index), query.text)


def date(query: Query, index: Retriever) -> Answer | None:
    return answer_general(query.text, _weights(query), _prose(query, index), multi_report(query, index),
                          require=DATE)


def doc_number(query: Query, index: Retriever) -> Answer | None:
    return answer_general(query.text, _weights(query), _prose(query, index), multi_report(query, index),
                          require=DOC_NUMBER)


def general(query: Query, index: Retriever) -> Answer | None:
    return answer_general(query.text, _weights(query), _prose(query, index), multi_report(query, index))
