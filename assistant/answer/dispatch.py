"""The route table: one intent -> its answerers, tried in order; the only place where that order lives."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from assistant.answer import from_checks, from_commitments, from_tables, from_text
from assistant.answer.extractive import NOT_FOUND_PREFIX, not_found
from assistant.records import Answer
from assistant.search.retriever import Retriever
from assistant.understand.lexicon import INTENTS
from assistant.understand.query import Query
from assistant.understand.scope import agency_of, named_agencies

Answerer = Callable[[Query, Retriever], Answer | None]
COVERED = ("本助手回答已收录的政府信息公开工作年度报告中的问题：申请的收到和办理情况（表三）、行政复议和诉讼（表四）、"
           "主动公开的数字（表二）、联系方式、工作措施、存在的问题和改进承诺等。")
COVERED_EN = ("This assistant answers questions about the Chinese government information disclosure annual reports "
              "it holds (requests received and handled, reconsiderations and lawsuits, contacts, commitments); "
              "please ask in Chinese, naming the agency and the year.")


def out_of_scope(query: Query, index: Retriever) -> Answer:
    """Say what the assistant covers, naming the agencies collected."""
    agencies = sorted({agency_of(meta) for meta in index.metas.values()} - {""})
    text = (f"{NOT_FOUND_PREFIX}与这个问题有关的内容。{COVERED}已收录的机关有：{named_agencies(agencies)}。"
            "请用中文提问，并写明机关和年度。")
    if query.slot("language") == "en":
        text += f"\n{COVERED_EN}"
    return Answer(question=query.question, found=False, text=text, path="out_of_scope")


_QUANTITY_TEXT: tuple[Answerer, ...] = (from_text.quantity, from_text.negative)

ROUTES: Mapping[str, tuple[Answerer, ...]] = {
    "table_cell": (from_tables.cell, *_QUANTITY_TEXT, from_tables.lost_table),
    "table_sum": (from_tables.cell, *_QUANTITY_TEXT, from_tables.lost_table),
    "compare_years": (from_tables.compare, *_QUANTITY_TEXT, from_tables.lost_table),
    "rank_agencies": (from_tables.rank, from_tables.lost_table),
    "consistency": (from_checks.consistency, from_tables.lost_table),
    "commitments": (from_commitments.answer, from_text.general),
    "follow_up": (from_commitments.answer,),
    "problems": (from_commitments.answer, from_text.listing),
    "quantity": _QUANTITY_TEXT,
    "list": (from_text.listing, from_text.general),
    "contact": (from_text.contact,),
    "contact_owner": (from_text.contact_owner,),
    "date": (from_text.date,),
    "doc_number": (from_text.doc_number, from_text.general),
    "general": (from_text.general,),
    "out_of_scope": (out_of_scope,),
}
assert set(ROUTES) == set(INTENTS), "every intent has a route"

_REASONS = {"quantity": "能回答这个数量问题的内容：报告中没有与之对应的数字。", "date": "这个时间的说明。",
            "contact": "所问的联系方式。", "contact_owner": "联系方式所属的部门。"}


def dispatch(query: Query, index: Retriever) -> Answer:
    """The first answer of the query's route, or not-found with related passages."""
    for answerer in ROUTES[query.intent]:
        answer = answerer(query, index)
        if answer is not None:
            return answer
    related = from_text.hits_for(query, index)[:3]
    return not_found(query.question, _REASONS.get(query.intent, "与该问题直接相关的内容。"), related)
