"""Dense vector stores: the VectorStore interface and its FAISS backend (threads.py sets FAISS threads)."""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from assistant.errors import AssistantError, IndexCorruptError

# faiss's bundled type stubs lack SearchParametersHNSW and keyword arguments of the params.
faiss: Any = _faiss

FORMAT_VERSION = 1
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64
_REBUILD = "请重新建立索引：assistant build"


def sidecar_path(path: Path) -> Path:
    """Where the JSON description of the store saved at `path` lives."""
    return path.with_name(path.name + ".json")


def as_ids(ids: Any) -> np.ndarray:
    """Ids as a 1-D int64 array of non-negative, distinct values."""
    array = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
    if array.size and array.min() < 0:
        raise ValueError("ids must be non-negative (-1 marks an empty result)")
    if np.unique(array).size != array.size:
        raise ValueError("ids must be distinct")
    return array


class VectorStore(ABC):
    """Vectors under int64 ids, searched by inner product (cosine for normalised vectors).

    search() returns (scores, ids), both of shape (n_queries, k), best first; slots without
    a result hold id -1 and score -inf. `allowed_ids` restricts the results to those ids.
    """

    kind: str
    dim: int

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors; an id already present is replaced."""

    @abstractmethod
    def delete(self, ids: np.ndarray) -> int:
        """Remove these ids (unknown ones are ignored); returns how many were removed."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> VectorStore: ...


class FaissVectorStore(VectorStore):
    """FAISS IndexIDMap2 over IndexFlatIP ("flat", exact) or IndexHNSWFlat ("hnsw", approximate).

    Files: `path` holds faiss.serialize_index bytes; `path`.json holds
    {"backend": "faiss", "format": 1, "kind", "dim", "count", "sha256"} (sha256 of `path`).
    HNSW cannot remove vectors, so the hnsw kind keeps a copy of ids and vectors and
    rebuilds its graph on delete or replace.
    """

    KINDS = ("flat", "hnsw")
    # hnsw: a filter allowing at most this many stored ids is searched exactly over them
    # (cheap, and HNSW recall drops under narrow filters).
    exact_filter_limit = 20_000

    def __init__(self, dim: int, kind: str = "flat") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r}; expected one of {self.KINDS}")
        self.dim = int(dim)
        self.kind = kind
        self._ids = np.zeros(0, dtype=np.int64)  # hnsw only: copy of the stored ids
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)  # hnsw only
        self._index = self._empty_index()

    def _empty_index(self) -> Any:
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        graph = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap2(graph)

    def _as_vectors(self, vectors: Any) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {array.shape}")
        return np.ascontiguousarray(array)

    def _rebuild(self) -> None:
        self._index = self._empty_index()
        if len(self._ids):
            self._index.add_with_ids(self._vectors, self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        id_array, matrix = as_ids(ids), self._as_vectors(vectors)
        if len(id_array) != len(matrix):
            raise ValueError(f"{len(id_array)} ids for {len(matrix)} vectors")
        if not len(id_array):
            return
        if self.kind == "flat":
            self._index.remove_ids(faiss.IDSelectorBatch(id_array))
            self._index.add_with_ids(matrix, id_array)
            return
        replaced = np.isin(self._ids, id_array)
        self._ids = np.concatenate([self._ids[~replaced], id_array])
        self._vectors = np.concatenate([self._vectors[~replaced], matrix])
        if replaced.any():
            self._rebuild()
        else:
            self._index.add_with_ids(matrix, id_array)

    def delete(self, ids: np.ndarray) -> int:
        id_array = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        if not len(id_array) or not len(self):
            return 0
        if self.kind == "flat":
            return int(self._index.remove_ids(faiss.IDSelectorBatch(id_array)))
        removed = np.isin(self._ids, id_array)
        if removed.any():
            self._ids, self._vectors = self._ids[~removed], self._vectors[~removed]
            self._rebuild()
        return int(removed.sum())

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = self._as_vectors(queries)
        n = len(matrix)
        scores = np.full((n, max(k, 0)), -np.inf, dtype=np.float32)
        labels = np.full((n, max(k, 0)), -1, dtype=np.int64)
        allowed = None if allowed_ids is None else np.unique(np.asarray(allowed_ids, dtype=np.int64))
        if k <= 0 or n == 0 or not len(self) or (allowed is not None and not len(allowed)):
            return scores, labels
        if allowed is not None and self.kind == "hnsw":
            rows = np.isin(self._ids, allowed)
            if rows.sum() <= self.exact_filter_limit:
                found_scores, found_ids = self._exact_search(matrix, k, rows)
            else:
                found_scores, found_ids = self._faiss_search(matrix, k, allowed)
                short = (found_ids >= 0).sum(axis=1) < min(k, int(rows.sum()))
                if short.any():  # a filter can starve the HNSW walk: redo those rows exactly
                    found_scores[short], found_ids[short] = self._exact_search(matrix[short], k, rows)
        else:
            found_scores, found_ids = self._faiss_search(matrix, k, allowed)
        hit = found_ids >= 0
        scores[hit], labels[hit] = found_scores[hit], found_ids[hit]
        return scores, labels

    def _faiss_search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed)
        if self.kind == "flat":
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        else:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, 2 * k))
        found_scores, found_ids = self._index.search(queries, k, params=params)
        return found_scores, found_ids

    def _exact_search(self, queries: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the kept copy, restricted to `rows` (hnsw only)."""
        subset_ids, subset = self._ids[rows], self._vectors[rows]
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        exact = queries @ subset.T
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        width = order.shape[1]
        scores[:, :width] = np.take_along_axis(exact, order, axis=1)
        ids[:, :width] = subset_ids[order]
        return scores, ids

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self._index).tobytes()
        meta = {
            "backend": "faiss",
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "dim": self.dim,
            "count": len(self),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        _write_atomic(path, data)
        _write_atomic(sidecar_path(path), json.dumps(meta, indent=2).encode())

    @classmethod
    def load(cls, path: Path, mmap: bool = False) -> FaissVectorStore:
        """Open a saved store; mmap=True maps a flat index's vectors from the file (read-only
        serving: pages load on demand and are shared between processes)."""
        path = Path(path)
        meta = read_sidecar(path)
        if meta.get("backend") != "faiss" or meta.get("kind") not in cls.KINDS:
            raise IndexCorruptError(f"向量索引 {path} 不是 FAISS flat/hnsw 索引。{_REBUILD}")
        if not isinstance(meta.get("dim"), int) or not isinstance(meta.get("count"), int):
            raise IndexCorruptError(f"向量索引描述文件 {sidecar_path(path)} 内容不完整。{_REBUILD}")
        mapped = mmap and meta["kind"] == "flat"
        try:
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            data = None if mapped else path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(f"向量索引文件 {path} 无法读取（{exc}）。{_REBUILD}") from exc
        if digest != meta.get("sha256"):
            raise IndexCorruptError(f"向量索引文件 {path} 已损坏（校验和不符）。{_REBUILD}")
        try:
            if data is None:
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
            else:
                index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise IndexCorruptError(f"向量索引文件 {path} 无法解析（{exc}）。{_REBUILD}") from exc
        store = cls(int(meta["dim"]), str(meta["kind"]))
        if index.d != store.dim or index.ntotal != meta.get("count"):
            raise IndexCorruptError(f"向量索引 {path} 与其描述文件不一致。{_REBUILD}")
        store._index = index
        if store.kind == "hnsw":
            store._ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            store._vectors = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
        return store


def read_sidecar(path: Path) -> dict[str, Any]:
    """The JSON description saved next to a vector store file."""
    meta_path = sidecar_path(Path(path))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise ValueError("unexpected content")
        return meta
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"向量索引描述文件 {meta_path} 缺失或无法读取（{exc}）。{_REBUILD}") from exc


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_vector_store(kind: str, dim: int) -> VectorStore:
    """A new empty store: "flat" (exact) or "hnsw" (approximate); other backends plug in here."""
    if kind in FaissVectorStore.KINDS:
        return FaissVectorStore(dim, kind)
    raise AssistantError(f"未知的向量索引类型 {kind!r}：可用 'flat'（精确）或 'hnsw'（近似，适合大语料）")


def load_vector_store(path: Path, mmap: bool = False) -> VectorStore:
    """Open a saved store, choosing the backend named in its sidecar (mmap: see FaissVectorStore.load)."""
    backend = read_sidecar(Path(path)).get("backend")
    if backend == "faiss":
        return FaissVectorStore.load(Path(path), mmap=mmap)
    raise IndexCorruptError(f"向量索引 {path} 的后端 {backend!r} 不受支持。{_REBUILD}")
