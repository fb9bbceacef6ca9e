"""Hybrid retrieval over a built index: dense and BM25 legs of its passage index fused, with filters."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from assistant import segment
from assistant.config import Settings
from assistant.errors import QueryError
from assistant.index.backends import Allowed, PassageIndex, Scope, open_passage_index
from assistant.index.encoders import Encoder, load_encoder
from assistant.index.layout import check_manifest, live_build_dir, read_manifest
from assistant.index.store import LazyPassages, LazyReports, LazyVectorIds, Store
from assistant.index.threads import threads
from assistant.records import Fact, Hit, ParseWarning, Passage, ReportMeta
from assistant.search.fusion import rrf, weighted

CANDIDATES = 50  # how many hits each leg contributes before fusion
# Hybrid = min-max normalised dense and BM25 scores mixed half and half. On the 37 answerable eval
# questions it beat RRF (MRR 0.905 vs 0.838, hit@5 1.00 vs 0.95); weights 0.5-0.6 were best.
DENSE_WEIGHT = 0.5
_MEANINGFUL = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")


def validate(question: str, max_chars: int) -> str:
    """The question stripped, or a QueryError saying what is wrong with it."""
    text = (question or "").strip()
    if not text:
        raise QueryError("问题为空，请输入要查询的内容。")
    if not _MEANINGFUL.search(text):
        raise QueryError("问题里只有标点符号，请输入要查询的内容。")
    if len(text) > max_chars:
        raise QueryError(f"问题过长（{len(text)} 字），请精简到 {max_chars} 字以内。")
    return text


T = TypeVar("T")


class _Once(Generic[T]):
    """A value loaded on first use, once, by whichever thread asks first (the warm-up or a question); after that
    read without the lock."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._load()
        return self._value


@dataclass(frozen=True)
class Filters:
    """Restrictions on which passages a search may return (the agency as the corpus names it)."""

    years: tuple[int, ...] = ()
    agency: str | None = None
    section: str | None = None
    report_ids: tuple[str, ...] = ()


class Retriever:
    """An opened index: its SQLite store (read on demand), its passage index and the encoder."""

    def __init__(self, index_dir: Path, settings: Settings) -> None:
        self.settings = settings
        self.index_dir = index_dir
        self.build_dir = live_build_dir(index_dir)
        self.manifest = read_manifest(self.build_dir)
        check_manifest(self.manifest, settings.encoder)
        self.store = Store(self.build_dir / "store.sqlite", readonly=True)
        # Report bodies, passages and facts stay in SQLite until asked for; only the metadata is read
        # now. Each report's vector-id span and each passage's section are read in the warm-up thread
        # (or by the first search that needs them, whichever comes first).
        self.metas: dict[str, ReportMeta] = self.store.metas()
        self.reports = LazyReports(self.store, self.metas)  # a small LRU cache of decoded reports
        self._span_table = _Once(self.store.spans)
        self._section_array = _Once(lambda: np.asarray(self.store.sections(), dtype=object))
        self._meta_lookup = _Once(self._meta_index)
        self.passages: Sequence[Passage] = LazyPassages(self.reports, self._span_rows, self.store.passage_count())
        self.vector_id: Mapping[str, int] = LazyVectorIds(self.store, len(self.passages))
        self._facts: list[Fact] | None = None
        self.index: PassageIndex = open_passage_index(self.build_dir, self.manifest, settings)
        self._encoder: Encoder | None = None
        self._query_vectors: dict[str, np.ndarray] = {}
        self._warmed = threading.Thread(target=self.warm, name="retriever-warm", daemon=True)
        self._warmed.start()

    def wait_until_warm(self, timeout: float | None = None) -> None:
        """Block until the warm-up started at open has finished (or `timeout` seconds have passed)."""
        self._warmed.join(timeout)

    def warm(self) -> None:
        """Load the encoder, jieba and the keyword model and run one query through each (at open,
        in a background thread, so the first real question does not pay for it)."""
        try:
            segment.tokenize("政府信息公开")  # first: understanding a question needs it before anything else
            self._spans()
            self._meta_lookup.get()
            with threads(self.settings.query_threads):
                self.encoder.encode_queries(["政府信息公开"])
            self.index.warm()
            self._sections()  # only searches within one section need these
        except Exception:  # warming is best effort: a real problem reaches the first query, which reports
            pass  # it, and a store closed before warm-up ends (a test, a switched-out build) is no error

    def _spans(self) -> dict[str, tuple[int, int]]:
        """report id -> (first vector id, passage count), read once."""
        return self._span_table.get()

    def _sections(self) -> np.ndarray:
        """Each passage's section by vector id, read once."""
        return self._section_array.get()

    def _span_rows(self) -> list[tuple[str, int, int]]:
        return sorted(((rid, start, count) for rid, (start, count) in self._spans().items()), key=lambda r: r[1])

    @property
    def facts(self) -> list[Fact]:
        """Every table fact of the build (read from SQLite on first use and kept): for whole-corpus analyses
        only; serving paths read the facts of the reports in scope with facts_of."""
        if self._facts is None:
            self._facts = self.store.facts()
        return self._facts

    def facts_of(self, report_ids: Sequence[str], tables: Sequence[str] = ()) -> list[Fact]:
        """The facts of these reports only (of these tables, when given), read on demand."""
        found = self.store.facts_of(report_ids, tables)
        return [f for rid in report_ids for f in found.get(rid, [])]

    def facts_by_report(self, report_ids: Sequence[str], tables: Sequence[str] = ()) -> dict[str, list[Fact]]:
        """The facts of these reports (of these tables, when given) by report id, read on demand."""
        return self.store.facts_of(report_ids, tables)

    def passage_count(self, report_id: str) -> int:
        """How many passages the report has in the index."""
        return self._spans().get(report_id, (0, 0))[1]

    def summaries(self, report_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """report id -> {"sections": [(key, empty)], "tables": n, "passages": n, "warnings": (ParseWarning, ...)},
        for listing reports without decoding them."""
        found = self.store.report_summaries(report_ids)
        for report_id, summary in found.items():
            summary["passages"] = self.passage_count(report_id)
            summary["warnings"] = tuple(ParseWarning(**w) for w in summary["warnings"])
        return found

    def warnings_of(self, report_ids: Sequence[str]) -> dict[str, tuple[ParseWarning, ...]]:
        """The parse warnings of these reports by report id, without decoding them."""
        return self.store.report_warnings(report_ids)

    @classmethod
    def open(cls, index_dir: str | Path, settings: Settings | None = None) -> Retriever:
        return cls(Path(index_dir), settings or Settings(index_dir=Path(index_dir)))

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.manifest["encoder_spec"], self.settings.device)
        return self._encoder

    def allowed_ids(self, filters: Filters) -> np.ndarray | None:
        scope = self.scope(filters)
        return None if scope is None else scope.ids

    def scope(self, filters: Filters) -> Scope | None:
        """The passages the filters allow: reports matched on metadata, then their vector-id spans."""
        if not (filters.years or filters.agency or filters.section or filters.report_ids):
            return None
        if filters.report_ids and not (filters.years or filters.agency):
            report_ids = tuple(rid for rid in dict.fromkeys(filters.report_ids) if rid in self.metas)
        else:
            report_ids = self._matching(filters)
        spans = self._spans()
        ranges = [np.arange(start, start + count, dtype=np.int64)
                  for start, count in (spans[rid] for rid in report_ids if rid in spans)]
        ids = np.sort(np.concatenate(ranges)) if ranges else np.zeros(0, dtype=np.int64)
        if filters.section is not None:
            ids = ids[self._sections()[ids] == filters.section]
        return Scope(ids=ids, report_ids=report_ids, section=filters.section)

    def _matching(self, filters: Filters) -> tuple[str, ...]:
        """The reports whose metadata pass the filters' years, agency (as agency, title or alias) and report ids, in
        metadata order: looked up by year and by name, not by testing every report (49k at 10^6 passages)."""
        position, by_year, by_name = self._meta_lookup.get()
        found: set[str] | None = None
        if filters.years:
            found = {rid for year in filters.years for rid in by_year.get(year, ())}
        if filters.agency:
            named = by_name.get(filters.agency, set())
            found = named if found is None else found & named
        if filters.report_ids:
            found = set(filters.report_ids) if found is None else found & set(filters.report_ids)
        if found is None:
            return tuple(self.metas)
        return tuple(sorted((rid for rid in found if rid in position), key=position.__getitem__))

    def _meta_index(self) -> tuple[dict[str, int], dict[int, list[str]], dict[str, set[str]]]:
        """(report id -> position in metadata order, year -> report ids, agency / title / alias -> report ids)."""
        position = {rid: at for at, rid in enumerate(self.metas)}
        by_year: dict[int, list[str]] = {}
        by_name: dict[str, set[str]] = {}
        for rid, meta in self.metas.items():
            if meta.year is not None:
                by_year.setdefault(meta.year, []).append(rid)
            for name in {meta.agency, meta.title, *meta.aliases}:
                by_name.setdefault(name, set()).add(rid)
        return position, by_year, by_name

    def dense(self, text: str, allowed: Allowed, n: int = CANDIDATES) -> list[tuple[int, float]]:
        with threads(self.settings.query_threads):
            if text not in self._query_vectors:  # several answerers search the same question text
                if len(self._query_vectors) > 512:
                    self._query_vectors.clear()
                self._query_vectors[text] = self.encoder.encode_queries([text])
            return self.index.dense(self._query_vectors[text], n, allowed)

    def bm25(self, text: str, allowed: Allowed, n: int = CANDIDATES) -> list[tuple[int, float]]:
        return self.index.keyword(text, n, allowed)

    def search(
        self, query: str, k: int = 5, filters: Filters | None = None, mode: str = "hybrid"
    ) -> list[Hit]:
        """Top-k passages for the query text within the filters; mode is "hybrid" (weighted), "rrf",
        "dense" or "bm25". The query is not interpreted: its scope comes in the filters."""
        if k <= 0:
            raise QueryError(f"-k 必须是正整数（收到 {k}）。")
        text = segment.normalize(validate(query, self.settings.max_query_chars))
        allowed = self.scope(filters or Filters())
        if allowed is not None and len(allowed.ids) == 0:
            return []
        dense = self.dense(text, allowed) if mode != "bm25" else []
        keyword = self.bm25(text, allowed) if mode != "dense" else []
        if mode == "dense":
            fused = {i: s for i, s in dense}
        elif mode == "bm25":
            fused = {i: s for i, s in keyword}
        elif mode == "rrf":
            fused = rrf([[i for i, _ in dense], [i for i, _ in keyword]])
        else:
            fused = weighted(dense, keyword, DENSE_WEIGHT)
        dense_rank = {i: (r, s) for r, (i, s) in enumerate(dense, 1)}
        bm25_rank = {i: (r, s) for r, (i, s) in enumerate(keyword, 1)}
        ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [
            self._hit(rank, vector_id, score, dense_rank.get(vector_id), bm25_rank.get(vector_id))
            for rank, (vector_id, score) in enumerate(ordered, 1)
        ]

    def hit_for(self, passage: Passage, rank: int = 1, score: float = 1.0) -> Hit:
        return self._hit(rank, self.vector_id[passage.passage_id], score, None, None)

    def _hit(
        self, rank: int, vector_id: int, score: float,
        dense: tuple[int, float] | None, bm25: tuple[int, float] | None,
    ) -> Hit:
        row = self.store.passage_row(vector_id)  # one row, not the whole report
        if row is None:
            raise IndexError(vector_id)
        passage_id, report_id, section, kind, start, end, text = row
        meta = self.metas[report_id]
        return Hit(
            rank=rank, score=score, passage_id=passage_id, text=text,
            report_id=report_id, report_title=meta.title, agency=meta.agency, year=meta.year,
            section=section, start=start, end=end, kind=kind,
            dense_rank=dense[0] if dense else None, dense_score=dense[1] if dense else None,
            bm25_rank=bm25[0] if bm25 else None, bm25_score=bm25[1] if bm25 else None,
            source_file=meta.source_file, source_url=meta.source_url,
        )
