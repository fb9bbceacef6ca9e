"""Build-time analysis, stored with the build: each report's section-五 commitments judged against its agency's next
report, its table checks and its cross-checks; reports whose inputs did not change carry their rows over."""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from assistant import segment
from assistant.analyse.checks import table_checks
from assistant.analyse.commitments import Ranker, SegmentCache, TokensOf, extract_commitments, judge
from assistant.analyse.crosschecks import (
    DATA_FILE,
    CrossCheckData,
    carried_over,
    load_data,
    prose_checks,
    year_pairs,
)
from assistant.errors import AssistantError
from assistant.index.keyword import KeywordStore
from assistant.index.layout import live_build_dir
from assistant.index.store import EmbeddingCache, Finding, Store, to_json
from assistant.index.threads import worker_pool
from assistant.index.tokens import CachedTokenizer, NewTokens, cache_reader
from assistant.records import Fact, Passage, Report, ReportMeta

# Part of every report's dependency hash: raise it when the analysis code changes what it finds, so that a
# rebuild recomputes the stored rows instead of carrying them over (crosscheck.toml's contents count as well).
ANALYSIS_VERSION = 1
PARALLEL_MIN = 40  # reports to analyse below which a build analyses them in its own process
_KEPT = 4  # decoded reports (and their facts, their keyword models) kept while the build walks the corpus


@dataclass
class AnalysisSummary:
    """What the build-time analysis did: reports analysed now, reports whose rows were carried over."""

    analysed: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
    seconds: float = 0.0


def keyword_ranker(tokens_of: Callable[[Report], Sequence[Sequence[str]]] | None = None,
                   query_tokens: TokensOf | None = None) -> Ranker:
    """A follow-up ranker: BM25 over the one report's passages (their keyword tokens from tokens_of, by default
    tokenised now), so a commitment's status depends only on it and the report it is judged against. The query's
    tokens come from query_tokens (a build passes its token cache), by default segmented now."""
    models: OrderedDict[str, KeywordStore] = OrderedDict()

    def rank(query: str, report: Report, k: int) -> list[tuple[Passage, float]]:
        model = models.get(report.report_id)
        if model is None:
            tokens = tokens_of(report) if tokens_of else [segment.tokenize(p.embedding_text()) for p in report.passages]
            if len(tokens) != len(report.passages):
                raise AssistantError(f"报告 {report.report_id} 的关键词数据与段落数不符，请重新运行 assistant build。")
            model = models[report.report_id] = KeywordStore()
            model.add(list(range(len(tokens))), tokens)
            while len(models) > _KEPT:
                models.popitem(last=False)
        text = segment.normalize(query)
        scores, ids = model.search(query_tokens([text])[0] if query_tokens else segment.tokenize(text), k)
        return [(report.passages[int(i)], float(s)) for s, i in zip(scores, ids, strict=True)]

    return rank


def analyse_report(report: Report, facts: Sequence[Fact], later: Report | None, previous: Report | None,
                   previous_facts: Sequence[Fact], ranker: Ranker, data: CrossCheckData | None = None,
                   cache: SegmentCache | None = None) -> list[tuple[str, Finding]]:
    """Everything stored about one report, as (kind, record) pairs (store.FINDINGS names the kinds): its problems
    and commitments (judged against `later`, its agency's next report), table checks, broken identities, prose
    figures its tables contradict, and its 上年结转 against `previous` (only its id and metadata are read)."""
    found: list[tuple[str, Finding]] = [(c.kind, judge(c, later, ranker, cache)) for c in extract_commitments(report)]
    checks, broken = table_checks(report, facts)
    found += [("table_check", c) for c in checks] + [("violation", v) for v in broken]
    found += [("discrepancy", d) for d in prose_checks(report, facts, data)]
    carried = carried_over(report, previous, facts, previous_facts) if previous is not None else None
    return found + ([("carried_over", carried)] if carried else [])


def _shell(report_id: str, meta: ReportMeta) -> Report:
    return Report(report_id=report_id, meta=meta, cleaned_text="", sections=(), tables=(), passages=())


def neighbours(metas: dict[str, ReportMeta]) -> tuple[dict[str, str], dict[str, str]]:
    """(report id -> its agency's next year's report, report id -> its agency's previous year's report for the
    上年结转 check), with metas in (agency, year, title) order: the first of several next-year reports is judged
    against, as analyse.commitments.next_report does; year_pairs says which previous one counts."""
    first: dict[tuple[str, int], str] = {}
    for rid, meta in metas.items():
        if meta.agency and meta.year:
            first.setdefault((meta.agency, meta.year), rid)
    later = {rid: first[(m.agency, m.year + 1)] for rid, m in metas.items()
             if m.agency and m.year and (m.agency, m.year + 1) in first}
    pairs = year_pairs([_shell(rid, meta) for rid, meta in metas.items()])
    return later, {report.report_id: previous.report_id for report, previous in pairs}


def _version() -> str:
    return hashlib.sha256(f"{ANALYSIS_VERSION}\n".encode() + DATA_FILE.read_bytes()).hexdigest()


def dependency_keys(metas: dict[str, ReportMeta]) -> dict[str, str]:
    """report id -> hash of everything its stored rows depend on: the analysis version, the report (its id, which
    hashes its bytes, and its metadata) and its neighbours() (their ids and metadata)."""
    later, previous = neighbours(metas)
    version = _version()
    own = {rid: f"{rid}\x1f{to_json(meta)}" for rid, meta in metas.items()}
    keys: dict[str, str] = {}
    for rid in metas:
        parts = (version, own[rid], own.get(later.get(rid, ""), ""), own.get(previous.get(rid, ""), ""))
        keys[rid] = hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()
    return keys


def live_store(index_dir: Path) -> Path | None:
    """The store.sqlite of the build served from index_dir, if there is one (a build analyses against it)."""
    try:
        return live_build_dir(index_dir) / "store.sqlite"
    except AssistantError:
        return None


def _carried_rows(live: Path | None, keys: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """The live store's rows of the reports whose dependency key is unchanged (nothing when there is no live
    build, it predates the stored analysis, or it cannot be read)."""
    if live is None:
        return {}
    try:
        old = Store(live, readonly=True)
    except AssistantError:
        return {}
    try:
        stored = old.analysis_keys()
        return old.finding_rows([rid for rid, key in keys.items() if stored.get(rid) == key])
    except sqlite3.Error:
        return {}
    finally:
        old.close()


def _analysed(store: Store, metas: dict[str, ReportMeta], todo: Sequence[str],
              tokens_of: TokensOf | None = None) -> Iterator[tuple[str, list[tuple[str, Finding]]]]:
    """(report id, its findings) for the reports in `todo`, in that order, read from `store` (a few kept decoded);
    the tokens of the reports' segments from tokens_of (the build's token cache), by default segmented now."""
    later_of, previous_of = neighbours(metas)
    reports: OrderedDict[str, Report] = OrderedDict()
    facts: OrderedDict[str, list[Fact]] = OrderedDict()

    def report(rid: str) -> Report:
        if rid not in reports:
            found = store.report(rid)
            if found is None:
                raise AssistantError(f"构建中缺少报告 {rid}")
            reports[rid] = found
            facts[rid] = store.facts_of([rid]).get(rid, [])
            while len(reports) > _KEPT:
                reports.popitem(last=False)
                facts.popitem(last=False)
        return reports[rid]

    ranker = keyword_ranker(lambda r: store.tokens_of(r.report_id), tokens_of)
    data = load_data()
    cache = SegmentCache(tokens_of) if tokens_of else SegmentCache()
    for rid in todo:
        own = report(rid)
        own_facts = facts[rid]
        later = report(later_of[rid]) if rid in later_of else None
        previous = _shell(previous_of[rid], metas[previous_of[rid]]) if rid in previous_of else None
        before = (facts.get(previous.report_id) or store.facts_of([previous.report_id]).get(previous.report_id, [])
                  if previous else [])
        yield rid, analyse_report(own, own_facts, later, previous, before, ranker, data, cache)
        cache.keep_only(reports)  # segments of reports no longer kept are forgotten


_opened: dict[str, tuple[Store, dict[str, ReportMeta]]] = {}  # an analysis worker's build store, opened once


def _analyse_chunk(store_path: Path, todo: list[str], cache_path: Path | None
                   ) -> tuple[list[tuple[str, list[tuple[str, str]]]], NewTokens]:
    """An analysis worker's share: the serialised findings of consecutive reports of the build being written, and
    the segment tokens it had to compute (for the main process to cache)."""
    if str(store_path) not in _opened:
        store = Store(store_path, readonly=True)
        _opened[str(store_path)] = (store, store.metas())
    store, metas = _opened[str(store_path)]
    tokens = CachedTokenizer(cache_reader(cache_path) if cache_path else None, segment.tokenizer_id())
    rows = [(rid, [(what, to_json(record)) for what, record in found])
            for rid, found in _analysed(store, metas, todo, tokens)]
    return rows, tokens.new


def _chunks(todo: list[str], workers: int) -> list[list[str]]:
    """Consecutive runs of report ids (an agency's years stay together, so a worker decodes each report about
    once), several per worker so that one slow run does not leave the others idle."""
    size = max(1, math.ceil(len(todo) / (workers * 8)))
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def analyse_build(store: Store, live: Path | None = None, workers: int = 1,
                  executor: Callable[[], Executor] | None = None, cache: EmbeddingCache | None = None) -> AnalysisSummary:
    """Store the analysis of every report in `store` (a build being written, committed): start_analysis, then
    PendingAnalysis.finish. Commits."""
    return start_analysis(store, live, workers, executor, cache).finish()


def start_analysis(store: Store, live: Path | None = None, workers: int = 1,
                   executor: Callable[[], Executor] | None = None, cache: EmbeddingCache | None = None
                   ) -> PendingAnalysis:
    """Start analysing every report in `store` (a build being written, committed): the rows of reports whose
    dependency key is unchanged are copied from `live` (the served build's store.sqlite) now; the rest are
    computed from the reports, facts and keyword tokens in `store`, in `workers` processes when there are at least
    PARALLEL_MIN of them (the build's own, from `executor`, when given), which work while the caller goes on.
    The segments' tokens are read from the build's `cache` when given."""
    started = time.monotonic()
    metas = store.metas()
    keys = dependency_keys(metas)
    summary = AnalysisSummary()
    for rid, rows in _carried_rows(live, keys).items():
        store.add_finding_rows(rid, keys[rid], rows)
        summary.carried.append(rid)
    carried = set(summary.carried)
    summary.analysed = [rid for rid in metas if rid not in carried]
    pending = PendingAnalysis(store, metas, keys, summary, started, cache)
    if workers > 1 and len(summary.analysed) >= PARALLEL_MIN:
        pool = executor() if executor else pending.closing.enter_context(worker_pool(workers))
        cache_path = cache.path if cache else None
        pending.tasks = [pool.submit(_analyse_chunk, store.path, chunk, cache_path)
                         for chunk in _chunks(summary.analysed, workers)]
    return pending


class PendingAnalysis:
    """An analysis start_analysis began: its workers' tasks run meanwhile; finish() stores their rows (or, without
    workers, analyses in this process), writes the segment tokens computed to the cache and commits."""

    def __init__(self, store: Store, metas: dict[str, ReportMeta], keys: dict[str, str], summary: AnalysisSummary,
                 started: float, cache: EmbeddingCache | None) -> None:
        self.store, self.metas, self.keys, self.summary, self.started, self.cache = (
            store, metas, keys, summary, started, cache)
        self.tasks: list[Future[tuple[list[tuple[str, list[tuple[str, str]]]], NewTokens]]] | None = None
        self.closing = ExitStack()  # a pool started for this analysis alone

    def finish(self) -> AnalysisSummary:
        store, keys = self.store, self.keys
        if self.tasks is not None:
            with self.closing:
                done = [task.result() for task in self.tasks]
            for rid, rows in (pair for part, _ in done for pair in part):  # written once every worker has read
                store.add_finding_rows(rid, keys[rid], rows)
            new = [pair for _, computed in done for pair in computed]
        else:
            tokens = CachedTokenizer(self.cache, segment.tokenizer_id())
            for rid, found in _analysed(store, self.metas, self.summary.analysed, tokens):
                store.add_findings(rid, keys[rid], found)
            new = tokens.new
        if self.cache is not None and new:
            self.cache.put_tokens(segment.tokenizer_id(), new)
        store.commit()
        self.summary.seconds = time.monotonic() - self.started
        return self.summary
