"""Dense vector stores: the VectorStore interface, its FAISS backend and the automatic choice of index kind."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from assistant.config import VECTOR_AUTO_THRESHOLD
from assistant.errors import AssistantError, IndexCorruptError

# faiss's bundled type stubs lack SearchParametersHNSW and keyword arguments of the params.
faiss: Any = _faiss

FORMAT_VERSION = 1
IVF_TARGET_RECALL = 0.97  # nprobe is the smallest that reaches this recall@10 on calibration queries
IVF_CALIBRATION_QUERIES = 200
# A memory-mapped file at least this big is checked against its sha256 in a background thread
# (hashing 1.5 GB takes 1.5-4 s of the open); its size is checked at once, and a search after a
# failed check raises IndexCorruptError.
DEFERRED_CHECK_BYTES = 256 * 2**20
IVF_POSTFILTER_SHARE = 0.02  # a filter keeping this share or more: unfiltered probe, then filtered
IVF_TRAIN_PER_LIST = 40  # training vectors per list (FAISS warns under 39)
IVF_TRAIN_ITERATIONS = 10
# A rebuild keeps the live IVF lists (their centroids untrained again) while the vectors added since training and
# the change in count both stay within this share of the vectors trained on; past it the index is trained afresh.
IVF_CARRY_SHARE = 0.1
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


def sorted_ids(ids: Any) -> np.ndarray:
    """Ids as a sorted array without repeats (a scope's ids usually are already: then no sort)."""
    array = np.asarray(ids, dtype=np.int64).reshape(-1)
    if array.size < 2 or bool(np.all(array[1:] > array[:-1])):
        return array
    return np.unique(array)


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


def choose_kind(setting: str, count: int, threshold: int = VECTOR_AUTO_THRESHOLD) -> str:
    """The index kind a build of `count` vectors gets: the setting itself, or for "auto" exact
    flat below `threshold` vectors and IVF from there on."""
    if setting == "auto":
        return "flat" if count < threshold else "ivf"
    if setting in FaissVectorStore.KINDS:
        return setting
    raise AssistantError(
        f"未知的向量索引类型 {setting!r}：可用 'auto'（默认：{threshold} 段以下精确，以上 IVF 近似）、"
        "'flat'（精确）、'ivf'（近似，倒排聚类）或 'hnsw'（近似，图索引）"
    )


def ivf_lists(count: int) -> int:
    """IVF list count for `count` vectors: about 2·sqrt(n), and at least IVF_TRAIN_PER_LIST
    vectors per list to train on. (4·sqrt(n) would need 4x the k-means work to train.)"""
    return max(1, min(round(2 * math.sqrt(count)), count // IVF_TRAIN_PER_LIST))


def nprobe_steps(nlist: int) -> list[int]:
    """The nprobe values tried when calibrating an IVF index: 8, 12, 16, 24, 32, ... then nlist."""
    steps = {base * 2**i for base in (8, 12) for i in range(20) if base * 2**i < nlist}
    return sorted(steps | {nlist})


def recall_at(truth: np.ndarray, found: np.ndarray) -> float:
    """Share of the exact results (rows of ids, -1 = none) that the approximate rows also hold."""
    hits = total = 0
    for expected, got in zip(truth, found, strict=True):
        wanted = set(expected[expected >= 0].tolist())
        hits += len(wanted & set(got.tolist()))
        total += len(wanted)
    return hits / total if total else 1.0


class FaissVectorStore(VectorStore):
    """FAISS inner-product index of one kind:

    - "flat": IndexIDMap2 over IndexFlatIP, exact; served memory-mapped.
    - "ivf": IndexIVFFlat (inverted lists of full vectors under k-means centroids), approximate.
      Trained at the first add on a sample (ivf_lists(n) lists), then nprobe is calibrated: the
      smallest number of lists probed that finds IVF_TARGET_RECALL of the exact top 10 for
      stored vectors used as queries. Served memory-mapped (the lists stay in the file; RAM holds
      the centroids, and once a filter needs it, an 8-byte-per-vector id -> (list, offset) map). A
      filter allowing at most `ivf_exact_limit` ids is searched exactly over its vectors, read
      from the lists (they keep the full vectors); a broader one through the usual probe asking for
      more results, or through more lists (see _ivf_filtered).
    - "hnsw": IndexIDMap2 over IndexHNSWFlat, approximate. HNSW cannot remove vectors, so it keeps
      a copy of ids and vectors in RAM and rebuilds its graph on delete or replace.

    Files: `path` holds the FAISS index (faiss.write_index); `path`.json holds {"backend":
    "faiss", "format": 1, "kind", "dim", "count", "sha256", "size"} (of `path`), for ivf also
    "nlist", "nprobe" and "calibrated_recall".
    """

    KINDS = ("flat", "ivf", "hnsw")
    # hnsw: a filter allowing at most this many ids is searched exactly (cheap, and the approximate
    # walk can miss most of a narrow subset: an agency's reports are 50-500 passages).
    exact_filter_limit = 20_000
    # ivf: up to this many allowed ids, exact over their vectors read from the lists (about 0.5 us
    # per id while the pages are cached; at 10^4 ids the widened probe is faster, benchmarks/ann.py)
    ivf_exact_limit = 5_000

    def __init__(self, dim: int, kind: str = "flat") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r}; expected one of {self.KINDS}")
        self.dim = int(dim)
        self.kind = kind
        self.nprobe = 1  # ivf only
        self.calibrated_recall: float | None = None  # ivf only
        self.read_only = False  # a memory-mapped index is served, not edited
        self._direct_map = False  # ivf: whether the id -> (list, offset) map is made
        self._map_lock = threading.Lock()
        self.verified = threading.Event()  # set once the file's checksum is known to match
        self.verified.set()
        self._damage: str | None = None  # a failed background check's message
        self.trained_count = 0  # ivf only: vectors the centroids were trained on
        self.added_since_training = 0  # ivf only: vectors added under those centroids by later rebuilds
        self._ids = np.zeros(0, dtype=np.int64)  # hnsw only: copy of the stored ids
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)  # hnsw only
        self._index = self._empty_index()

    def _empty_index(self, nlist: int = 1) -> Any:
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        if self.kind == "ivf":
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.cp.niter = IVF_TRAIN_ITERATIONS
            ivf.cp.seed = 1234
            return ivf
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

    def _writable(self) -> None:
        if self.read_only:
            raise AssistantError("向量索引以只读内存映射方式打开，不能修改；请用 assistant build 重建索引")

    def _verify_later(self, path: Path, expected: str) -> None:
        """Check the served file's sha256 in a daemon thread (see DEFERRED_CHECK_BYTES)."""
        self.verified.clear()

        def check() -> None:
            try:
                matches = _file_sha256(path) == expected
            except OSError as exc:
                self._damage = f"向量索引文件 {path} 无法读取（{exc}）。{_REBUILD}"
                return
            if matches:
                self.verified.set()
            else:
                self._damage = f"向量索引文件 {path} 已损坏（校验和不符）。{_REBUILD}"

        threading.Thread(target=check, name="vector-checksum", daemon=True).start()

    def _drop_direct_map(self) -> None:
        if self._direct_map:  # an array map cannot follow adds and removals; it is remade when needed
            self._index.set_direct_map_type(faiss.DirectMap.NoMap)
            self._direct_map = False

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
        self._writable()
        self._drop_direct_map()
        if self.kind == "ivf" and not self._index.is_trained:
            self._train(id_array, matrix)
            return
        if self.kind in ("flat", "ivf"):
            if len(self):
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

    def _train(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        """ivf: choose the list count, train the centroids on a sample, add, calibrate nprobe."""
        rng = np.random.default_rng(0)
        nlist = ivf_lists(len(matrix))
        self._index = self._empty_index(nlist)
        sample = min(len(matrix), max(nlist * IVF_TRAIN_PER_LIST, 10_000))
        rows = np.sort(rng.choice(len(matrix), sample, replace=False)) if sample < len(matrix) else slice(None)
        self._index.train(np.ascontiguousarray(matrix[rows]))
        self._index.add_with_ids(matrix, ids)
        self.trained_count, self.added_since_training = len(matrix), 0

        def exact(queries: np.ndarray, k: int) -> np.ndarray:
            return ids[faiss.knn(queries, matrix, k, metric=faiss.METRIC_INNER_PRODUCT)[1]]

        self.nprobe, self.calibrated_recall = self._calibrate(lambda n: matrix[rng.integers(0, len(matrix), n)], exact)
        self._index.nprobe = self.nprobe

    def carry_over(self, moves: Sequence[tuple[int, int, int]], ids: np.ndarray, vectors: np.ndarray) -> None:
        """ivf: turn the live build's index (loaded writable) into the next build's without training it again. The
        vectors of each move (first old id, count, shift) keep their lists with their ids shifted, the others are
        removed, the new ones are added under the same centroids, and nprobe is calibrated again."""
        self._writable()
        self._drop_direct_map()
        old_count = int(self._index.ntotal)
        new_of = np.full(old_count, -1, dtype=np.int64)
        for first, count, shift in moves:
            new_of[first : first + count] = np.arange(first + shift, first + shift + count)
        dropped = np.flatnonzero(new_of < 0)
        if len(dropped):
            self._index.remove_ids(faiss.IDSelectorBatch(dropped))
        lists = self._index.invlists
        for list_no in range(int(self._index.nlist)):  # every stored id is a carried one's old id now
            size = lists.list_size(list_no)
            if size:
                stored = faiss.rev_swig_ptr(lists.get_ids(list_no), size)
                stored[:] = new_of[stored]
        id_array, matrix = as_ids(ids), self._as_vectors(vectors)
        if len(id_array):
            self._index.add_with_ids(matrix, id_array)
        self.added_since_training += len(id_array)
        rng = np.random.default_rng(0)
        self.nprobe, self.calibrated_recall = self._calibrate(
            lambda n: self._stored_vectors(rng.integers(0, len(self), n)), self._exact_over_lists)
        self._index.nprobe = self.nprobe

    def _exact_over_lists(self, queries: np.ndarray, k: int) -> np.ndarray:
        """ivf: the ids of the queries' exact top k, by inner products with every list's full vectors (a matrix
        product per list: three times as fast as probing every list at 10^6)."""
        lists = self._index.invlists
        best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        best_ids = np.full((len(queries), k), -1, dtype=np.int64)
        for list_no in range(int(self._index.nlist)):
            size = lists.list_size(list_no)
            if not size:
                continue
            codes = faiss.rev_swig_ptr(lists.get_codes(list_no), size * self._index.code_size)
            scores = queries @ codes.view(np.float32).reshape(size, self.dim).T
            ids = np.broadcast_to(faiss.rev_swig_ptr(lists.get_ids(list_no), size), scores.shape)
            merged_scores = np.concatenate([best_scores, scores], axis=1)
            merged_ids = np.concatenate([best_ids, ids], axis=1)
            top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
            best_scores = np.take_along_axis(merged_scores, top, axis=1)
            best_ids = np.take_along_axis(merged_ids, top, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        return np.take_along_axis(best_ids, order, axis=1)

    def _stored_vectors(self, positions: np.ndarray) -> np.ndarray:
        """ivf: the stored vectors at these positions of the lists taken one after another."""
        lists = self._index.invlists
        sizes = np.array([lists.list_size(i) for i in range(int(self._index.nlist))], dtype=np.int64)
        ends = np.cumsum(sizes)
        which = np.searchsorted(ends, positions, side="right")
        found = np.empty((len(positions), self.dim), dtype=np.float32)
        for row, (list_no, position) in enumerate(zip(which, positions, strict=True)):
            offset = int(position - (ends[list_no] - sizes[list_no]))
            self._index.reconstruct_from_offset(int(list_no), offset, faiss.swig_ptr(found[row]))
        return found

    def _calibrate(self, stored: Callable[[int], np.ndarray],
                   exact: Callable[[np.ndarray, int], np.ndarray]) -> tuple[int, float]:
        """The smallest nprobe whose recall@10 against exact search (`exact`: the true top k ids of the queries)
        reaches IVF_TARGET_RECALL, on queries halfway between two random stored vectors (`stored(n)`: n of them):
        a proxy that measured slightly harder than real questions' embeddings (benchmarks/ann.py prints both)."""
        nlist = int(self._index.nlist)
        k = min(10, len(self))
        if nlist == 1:
            return 1, 1.0
        count = IVF_CALIBRATION_QUERIES
        queries = stored(count) + stored(count)
        queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
        truth = exact(queries, k)
        recall = 0.0
        for nprobe in nprobe_steps(nlist):
            _, found = self._index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=nprobe))
            recall = recall_at(truth, found)
            if recall >= IVF_TARGET_RECALL:
                return nprobe, recall
        return nlist, recall

    def delete(self, ids: np.ndarray) -> int:
        id_array = np.unique(np.asarray(ids, dtype=np.int64).reshape(-1))
        if not len(id_array) or not len(self):
            return 0
        self._writable()
        self._drop_direct_map()
        if self.kind in ("flat", "ivf"):
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
        if self._damage:
            raise IndexCorruptError(self._damage)
        matrix = self._as_vectors(queries)
        n = len(matrix)
        scores = np.full((n, max(k, 0)), -np.inf, dtype=np.float32)
        labels = np.full((n, max(k, 0)), -1, dtype=np.int64)
        allowed = None if allowed_ids is None else sorted_ids(allowed_ids)
        if k <= 0 or n == 0 or not len(self) or (allowed is not None and not len(allowed)):
            return scores, labels
        if allowed is not None and self.kind == "hnsw":
            rows = np.isin(self._ids, allowed)
            if rows.sum() <= self.exact_filter_limit:
                found_scores, found_ids = self._exact_search(matrix, k, self._ids[rows], self._vectors[rows])
            else:
                found_scores, found_ids = self._faiss_search(matrix, k, allowed)
                short = (found_ids >= 0).sum(axis=1) < min(k, int(rows.sum()))
                if short.any():  # a filter can starve the HNSW walk: redo those rows exactly
                    found_scores[short], found_ids[short] = self._exact_search(
                        matrix[short], k, self._ids[rows], self._vectors[rows])
        elif allowed is not None and self.kind == "ivf":
            found_scores, found_ids = self._ivf_filtered(matrix, k, allowed)
        else:
            found_scores, found_ids = self._faiss_search(matrix, k, allowed)
        hit = found_ids >= 0
        scores[hit], labels[hit] = found_scores[hit], found_ids[hit]
        return scores, labels

    def _ivf_filtered(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ivf under a filter keeping a share s of the vectors. Small: exact over its vectors, read
        from the lists. Broad (s >= IVF_POSTFILTER_SHARE, e.g. one year of ten): its top k sit about
        k/s deep in the unfiltered ranking, so the usual probe asks for 2k/s results and keeps the
        allowed ones. In between: the id selector over sqrt(1/s) times as many lists. A row left
        short probes every list through the selector."""
        if len(allowed) <= self.ivf_exact_limit:
            subset = self._reconstruct(allowed)
            if subset is not None:
                return self._exact_search(queries, k, allowed, subset)
        nlist, share = int(self._index.nlist), len(allowed) / len(self)
        if share >= IVF_POSTFILTER_SHARE:
            wide = min(len(self), math.ceil(2 * k / share))
            wide_scores, wide_ids = self._faiss_search(queries, wide, None)
            at = np.minimum(np.searchsorted(allowed, wide_ids), len(allowed) - 1)  # allowed is sorted
            keep = allowed[at] == wide_ids
            found_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
            found_ids = np.full((len(queries), k), -1, dtype=np.int64)
            for row, mask in enumerate(keep):
                chosen = np.flatnonzero(mask)[:k]
                found_scores[row, :len(chosen)], found_ids[row, :len(chosen)] = (
                    wide_scores[row, chosen], wide_ids[row, chosen])
        else:
            widened = min(nlist, math.ceil(self.nprobe * math.sqrt(1 / share)))
            found_scores, found_ids = self._faiss_search(queries, k, allowed, widened)
        short = (found_ids >= 0).sum(axis=1) < min(k, len(allowed))
        if short.any():
            found_scores[short], found_ids[short] = self._faiss_search(queries[short], k, allowed, nlist)
        return found_scores, found_ids

    def _reconstruct(self, ids: np.ndarray) -> np.ndarray | None:
        """ivf: the stored vectors of these ids, through the id -> (list, offset) map (an array when the
        ids are 0..n-1, as a build's are; else a hash table), made on first use; None if an id is absent."""
        with self._map_lock:  # searches may come from several threads
            if not self._direct_map:
                try:
                    self._index.make_direct_map(True)
                except RuntimeError:  # ids that are not 0..n-1
                    self._index.set_direct_map_type(faiss.DirectMap.Hashtable)
                self._direct_map = True
        try:
            vectors: np.ndarray = self._index.reconstruct_batch(ids)
        except RuntimeError:
            return None
        return vectors

    def _faiss_search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed)
        if self.kind == "flat":
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or self.nprobe)
        else:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_EF_SEARCH, 2 * k))
        found_scores, found_ids = self._index.search(queries, k, params=params)
        return found_scores, found_ids

    def _exact_search(
        self, queries: np.ndarray, k: int, subset_ids: np.ndarray, subset: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the given vectors."""
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        exact = queries @ subset.T
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        width = order.shape[1]
        scores[:, :width] = np.take_along_axis(exact, order, axis=1)
        ids[:, :width] = subset_ids[order]
        return scores, ids

    def save(self, path: Path) -> None:
        """Write the index file (through a temporary file, streamed by FAISS), then its sidecar."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            faiss.write_index(self._index, str(tmp))
        except RuntimeError as exc:  # FAISS reports a failed fwrite with strerror in the text
            tmp.unlink(missing_ok=True)
            if "No space left" in str(exc):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from exc
            raise
        digest = _file_sha256(tmp)
        meta: dict[str, Any] = {
            "backend": "faiss",
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "dim": self.dim,
            "count": len(self),
            "sha256": digest,
            "size": tmp.stat().st_size,
        }
        if self.kind == "ivf":
            meta.update(nlist=int(self._index.nlist), nprobe=self.nprobe, calibrated_recall=self.calibrated_recall,
                        trained_count=self.trained_count, added_since_training=self.added_since_training)
        os.replace(tmp, path)
        _write_atomic(sidecar_path(path), json.dumps(meta, indent=2).encode())

    @classmethod
    def load(cls, path: Path, mmap: bool = False) -> FaissVectorStore:
        """Open a saved store; mmap=True maps a flat index's vectors or an IVF index's lists from the
        file (read-only serving: pages load on demand and are shared between processes)."""
        path = Path(path)
        meta = read_sidecar(path)
        if meta.get("backend") != "faiss" or meta.get("kind") not in cls.KINDS:
            raise IndexCorruptError(f"向量索引 {path} 不是 FAISS flat/ivf/hnsw 索引。{_REBUILD}")
        if not isinstance(meta.get("dim"), int) or not isinstance(meta.get("count"), int):
            raise IndexCorruptError(f"向量索引描述文件 {sidecar_path(path)} 内容不完整。{_REBUILD}")
        kind = str(meta["kind"])
        flags = 0
        if mmap and kind in ("flat", "ivf"):
            flags = (faiss.IO_FLAG_MMAP_IFC if kind == "flat" else faiss.IO_FLAG_MMAP) | faiss.IO_FLAG_READ_ONLY
        try:
            size = path.stat().st_size
            deferred = bool(flags) and size >= DEFERRED_CHECK_BYTES
            if meta.get("size") not in (None, size):
                raise IndexCorruptError(f"向量索引文件 {path} 已损坏（大小不符，可能被截断）。{_REBUILD}")
            if not deferred and _file_sha256(path) != meta.get("sha256"):
                raise IndexCorruptError(f"向量索引文件 {path} 已损坏（校验和不符）。{_REBUILD}")
        except OSError as exc:
            raise IndexCorruptError(f"向量索引文件 {path} 无法读取（{exc}）。{_REBUILD}") from exc
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError as exc:
            raise IndexCorruptError(f"向量索引文件 {path} 无法解析（{exc}）。{_REBUILD}") from exc
        store = cls(int(meta["dim"]), kind)
        expected = faiss.IndexIVFFlat if kind == "ivf" else faiss.IndexIDMap2
        if not isinstance(index, expected) or index.d != store.dim or index.ntotal != meta.get("count"):
            raise IndexCorruptError(f"向量索引 {path} 与其描述文件不一致。{_REBUILD}")
        store._index = index
        store.read_only = bool(flags)
        if deferred:
            store._verify_later(path, str(meta.get("sha256")))
        if kind == "ivf":
            store.nprobe = int(meta.get("nprobe") or index.nprobe)
            store.calibrated_recall = meta.get("calibrated_recall")
            store.trained_count = int(meta.get("trained_count") or index.ntotal)  # older files: trained on all
            store.added_since_training = int(meta.get("added_since_training") or 0)
        if kind == "hnsw":
            store._ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            store._vectors = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
        return store


def carry_allowed(meta: dict[str, Any], count: int, added: int) -> bool:
    """Whether a rebuild to `count` vectors, `added` of them new, may keep the IVF lists that the sidecar `meta`
    describes (see IVF_CARRY_SHARE); files from before the carrying were trained on all their vectors."""
    if meta.get("kind") != "ivf" or not isinstance(meta.get("count"), int):
        return False
    trained = int(meta.get("trained_count") or meta["count"])
    since = int(meta.get("added_since_training") or 0)
    return since + added <= IVF_CARRY_SHARE * trained and abs(count - trained) <= IVF_CARRY_SHARE * trained


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


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def make_vector_store(kind: str, dim: int) -> VectorStore:
    """A new empty store of a resolved kind ("flat", "ivf", "hnsw"; see choose_kind for "auto")."""
    if kind in FaissVectorStore.KINDS:
        return FaissVectorStore(dim, kind)
    raise AssistantError(f"未知的向量索引类型 {kind!r}：可用 'flat'（精确）、'ivf' 或 'hnsw'（近似，适合大语料）")


def load_vector_store(path: Path, mmap: bool = False) -> VectorStore:
    """Open a saved store, choosing the backend named in its sidecar (mmap: see FaissVectorStore.load)."""
    backend = read_sidecar(Path(path)).get("backend")
    if backend == "faiss":
        return FaissVectorStore.load(Path(path), mmap=mmap)
    raise IndexCorruptError(f"向量索引 {path} 的后端 {backend!r} 不受支持。{_REBUILD}")
