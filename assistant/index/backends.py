"""The passage-index stage: one interface for dense + keyword search over a build, and its factory.

A backend stores every passage of a build under its vector id (its row in store.sqlite) and
answers the two legs of hybrid search; the retriever fuses them. "local" keeps a FAISS file and
a bm25s index in the build folder; "milvus" keeps one Milvus collection per build (see
milvus_store.py). Reports, sections and facts stay in store.sqlite for every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant import segment
from assistant.config import Settings
from assistant.errors import AssistantError, IndexCorruptError
from assistant.index.keyword import KeywordStore
from assistant.index.threads import threads
from assistant.index.vector import (
    FaissVectorStore,
    VectorStore,
    choose_kind,
    load_vector_store,
    make_vector_store,
)
from assistant.records import Passage, ReportMeta

BACKENDS = ("local", "milvus")
VECTORS_FILE = "vectors.faiss"
KEYWORD_FILE = "keyword.json"
KEYWORD_DIR = "bm25"


@dataclass(frozen=True)
class Scope:
    """Which passages a search may return: their vector ids, and when known the reports and section
    they were chosen by (a backend with scalar fields filters on those instead of on ids)."""

    ids: np.ndarray
    report_ids: tuple[str, ...] = ()
    section: str | None = None


Allowed = Scope | np.ndarray | None


def allowed_array(allowed: Allowed) -> np.ndarray | None:
    """The vector ids of a scope (or the array itself)."""
    return allowed.ids if isinstance(allowed, Scope) else allowed


@dataclass(frozen=True)
class PassageRecord:
    """What a backend stores per passage besides the vector: the text and the filter fields."""

    vector_id: int
    passage: Passage
    meta: ReportMeta


class PassageIndex(ABC):
    """Dense and keyword search over one build; both return [(vector id, score)], best first."""

    backend: str

    @abstractmethod
    def dense(self, query_vector: np.ndarray, n: int, allowed: Allowed = None) -> list[tuple[int, float]]: ...

    @abstractmethod
    def keyword(self, text: str, n: int, allowed: Allowed = None) -> list[tuple[int, float]]: ...

    def warm(self) -> None:
        """Load lazily built parts now (off the request path)."""
        self.keyword("政府信息公开", 1)

    def close(self) -> None:
        return None


class LocalPassageIndex(PassageIndex):
    """FAISS (dense) and bm25s (keyword) files in the build folder."""

    backend = "local"

    def __init__(self, vectors: VectorStore, keywords: KeywordStore) -> None:
        self.vectors = vectors
        self.keywords = keywords

    @classmethod
    def open(cls, build_dir: Path) -> LocalPassageIndex:
        keyword_dir = build_dir / KEYWORD_DIR
        keywords = (KeywordStore.load_index(keyword_dir) if keyword_dir.is_dir()
                    else KeywordStore.load(build_dir / KEYWORD_FILE))
        return cls(load_vector_store(build_dir / VECTORS_FILE, mmap=True), keywords)

    def dense(self, query_vector: np.ndarray, n: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        scores, ids = self.vectors.search(query_vector, n, allowed_array(allowed))
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def keyword(self, text: str, n: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        scores, ids = self.keywords.search(segment.tokenize(text), n, allowed_array(allowed))
        return [(int(i), float(s)) for s, i in zip(scores, ids, strict=True) if i >= 0]


# --- the factory: writing a build's passage index, publishing it, opening it -----------------------


def check_backend(settings: Settings) -> str:
    if settings.store not in BACKENDS:
        raise AssistantError(f"未知的存储后端 {settings.store!r}：可用 'local'（FAISS + BM25 文件）或 'milvus'")
    return settings.store


def write_passage_index(
    settings: Settings,
    build_dir: Path,
    build_name: str,
    records: Sequence[PassageRecord],
    vectors: np.ndarray,
    progress: Callable[[str, int, int], None] | None = None,
    keywords: KeywordStore | None = None,
    carried: CarriedVectors | None = None,
) -> dict[str, Any]:
    """Store the build's passages in the configured backend; returns the manifest's "store" entry.
    records[i].vector_id is i.

    `keywords` (a keyword store already holding every record, as the build makes it from tokens
    and from what it carries) spares the local backend tokenising and reading the records;
    Milvus analyses the text itself. With `carried` (local only), `vectors` are only the new
    passages' (of carried.ids), added to the live build's IVF lists carried over.
    """
    if check_backend(settings) == "milvus":
        from assistant.index.milvus_store import write_collection

        return write_collection(settings, build_name, records, vectors, progress)
    ids = np.arange(len(records), dtype=np.int64)
    if carried is not None:
        kind = carry_vectors(settings, build_dir / VECTORS_FILE, carried, vectors, len(ids))
    else:
        kind = write_vectors(settings, build_dir / VECTORS_FILE, ids, vectors)
    if keywords is None:
        keywords = KeywordStore()
        keywords.add(ids, [segment.tokenize(r.passage.embedding_text()) for r in records])
    keywords.save_index(build_dir / KEYWORD_DIR)
    return {"backend": "local", "vector_index": kind}


def write_vectors(settings: Settings, path: Path, ids: np.ndarray, vectors: np.ndarray) -> str:
    """Write the local backend's vector file, of the kind the setting and the count choose
    (vector.choose_kind), with the build's threads; returns that kind."""
    kind = choose_kind(settings.vector_index, len(ids), settings.vector_auto_threshold)
    with threads(settings.build_threads):
        vector_store = make_vector_store(kind, int(vectors.shape[1]))
        vector_store.add(ids, vectors)
        vector_store.save(path)
    return kind


@dataclass
class CarriedVectors:
    """The live build's IVF index, loaded to become the next build's (FaissVectorStore.carry_over): the moves of
    the carried reports' vector ids (first old id, count, shift) and the new passages' vector ids."""

    store: FaissVectorStore
    moves: list[tuple[int, int, int]]
    ids: np.ndarray


def carry_vectors(settings: Settings, path: Path, carried: CarriedVectors, vectors: np.ndarray, count: int) -> str:
    """Write the local backend's vector file from the carried IVF index and the new vectors; returns its kind."""
    with threads(settings.build_threads):
        carried.store.carry_over(carried.moves, carried.ids, vectors)
        if len(carried.store) != count:
            raise IndexCorruptError(f"沿用的向量索引有 {len(carried.store)} 个向量，应为 {count} 个。请重新运行 assistant build。")
        carried.store.save(path)
    return carried.store.kind


def publish_passage_index(settings: Settings, entry: dict[str, Any]) -> None:
    """Make the new build's index the published one (Milvus: swap the alias); before CURRENT moves."""
    if entry.get("backend") == "milvus":
        from assistant.index.milvus_store import swap_alias

        swap_alias(settings, entry)


def prune_passage_indexes(settings: Settings, kept: Sequence[dict[str, Any]]) -> None:
    """Drop backend data of builds no longer kept (Milvus collections; local files go with their folder)."""
    if settings.store == "milvus":
        from assistant.index.milvus_store import drop_unkept

        drop_unkept(settings, [e["collection"] for e in kept if e.get("backend") == "milvus"])


def open_passage_index(build_dir: Path, manifest: dict[str, Any], settings: Settings) -> PassageIndex:
    """Open the passage index a build's manifest names."""
    entry: dict[str, Any] = manifest.get("store") or {"backend": "local"}
    if entry.get("backend") == "milvus":
        from assistant.index.milvus_store import MilvusPassageIndex

        return MilvusPassageIndex.open(settings, entry)
    return LocalPassageIndex.open(build_dir)
