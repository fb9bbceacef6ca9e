"""BM25 keyword store over pre-tokenised documents (the only bm25s user).

bm25s cannot add or remove documents, so the store keeps each document's tokens by id and
rebuilds the bm25s model lazily on the first search after a change (milliseconds for a few
thousand passages). On disk it is one UTF-8 JSON file:

    {"format": 1, "k1": 1.5, "b": 0.75, "count": N, "docs": [[id, ["token", ...]], ...]}

and load() rebuilds the model from it. save_index()/load_index() persist the bm25s model itself
in bm25s's own saved format (a folder of .npy arrays, memory-mapped on load, plus the vocabulary)
and the row -> id map, so a large index opens without re-indexing; such a store is read-only.

The model is built by a bm25s.BM25 subclass whose build_index_from_tokens (the override point
bm25s documents) counts terms for the whole corpus in array operations instead of one Python
loop step per document, with bm25s's own idf and tf scorers: the same scores, several times
faster at 10^5 passages.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import scipy.sparse as sp
from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

from assistant.errors import IndexCorruptError

FORMAT_VERSION = 1
_REBUILD = "请重新建立索引：assistant build"


class KeywordStore:
    """Token lists under int64 ids, ranked by BM25 (Lucene variant) for a tokenised query.

    search() returns (scores, ids): 1-D, best first, at most k long, only documents sharing
    at least one token with the query (so possibly empty).
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._docs: dict[int, list[str]] = {}
        self._model: Any = None
        self._row_ids = np.zeros(0, dtype=np.int64)  # model row -> id
        self._stale = True
        self._lock = threading.Lock()
        self._frozen = False  # loaded by load_index(): the model, without the token lists

    def __len__(self) -> int:
        return len(self._row_ids) if self._frozen else len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        if self._frozen:
            return isinstance(doc_id, int | np.integer) and bool(np.isin(doc_id, self._row_ids))
        return doc_id in self._docs

    def _check_writable(self) -> None:
        if self._frozen:
            raise TypeError("a keyword store opened with load_index() is read-only")

    def add(self, ids: Sequence[int] | np.ndarray, token_lists: Sequence[Sequence[str]]) -> None:
        """Insert documents; an id already present is replaced."""
        id_list = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        if len(id_list) != len(token_lists):
            raise ValueError(f"{len(id_list)} ids for {len(token_lists)} token lists")
        self._check_writable()
        with self._lock:
            for doc_id, tokens in zip(id_list, token_lists, strict=True):
                self._docs[doc_id] = list(map(str, tokens))
            self._stale = True

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove these ids (unknown ones are ignored); returns how many were removed."""
        self._check_writable()
        removed = 0
        with self._lock:
            for doc_id in np.asarray(ids, dtype=np.int64).reshape(-1):
                removed += self._docs.pop(int(doc_id), None) is not None
            self._stale = self._stale or removed > 0
        return removed

    def _ensure_model(self) -> tuple[Any, np.ndarray]:
        with self._lock:
            if self._stale:
                row_ids = sorted(self._docs)
                corpus = [self._docs[i] for i in row_ids]
                model = None
                if any(corpus):
                    model = _ArrayBM25(k1=self.k1, b=self.b, method="lucene")
                    model.index(corpus, show_progress=False)
                self._model, self._row_ids = model, np.asarray(row_ids, dtype=np.int64)
                self._stale = False
            return self._model, self._row_ids

    def search(
        self, query_tokens: Sequence[str], k: int, allowed_ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k documents for the query tokens; tokens unknown to the corpus are ignored."""
        empty = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        model, row_ids = self._ensure_model()
        if model is None or k <= 0:
            return empty
        known = [t for t in query_tokens if t and t in model.vocab_dict]
        if not known:
            return empty
        scores = np.asarray(model.get_scores(known), dtype=np.float32)
        candidate = scores > 0
        if allowed_ids is not None:
            candidate &= np.isin(row_ids, np.asarray(allowed_ids, dtype=np.int64))
        rows = np.flatnonzero(candidate)
        if not len(rows):
            return empty
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.lexsort((row_ids[rows], -scores[rows]))]  # score desc, then id asc
        return scores[rows], row_ids[rows]

    def tokens(self, doc_id: int) -> list[str]:
        """The stored tokens of one document."""
        return list(self._docs[int(doc_id)])

    def save(self, path: Path) -> None:
        """Write the JSON file described in the module docstring (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            docs = [[doc_id, self._docs[doc_id]] for doc_id in sorted(self._docs)]
        payload = {"format": FORMAT_VERSION, "k1": self.k1, "b": self.b, "count": len(docs), "docs": docs}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)

    def save_index(self, folder: Path) -> None:
        """Write the bm25s model in bm25s's format, the row -> id map and params, in `folder`."""
        self._check_writable()
        model, row_ids = self._ensure_model()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "row_ids.npy", row_ids)
        if model is not None:
            model.save(str(folder), show_progress=False)
        meta = {"format": FORMAT_VERSION, "k1": self.k1, "b": self.b, "count": int(len(row_ids)),
                "empty": model is None}
        tmp = folder / "keyword.meta.json.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, folder / "keyword.meta.json")

    @classmethod
    def load_index(cls, folder: Path, mmap: bool = True) -> KeywordStore:
        """Open a folder written by save_index() (read-only; arrays memory-mapped by default)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "keyword.meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError("unknown format")
            row_ids = np.load(folder / "row_ids.npy")
            if len(row_ids) != meta["count"]:
                raise ValueError("document count does not match")
            store = cls(k1=float(meta["k1"]), b=float(meta["b"]))
            if not meta["empty"]:
                store._model = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"关键词索引 {folder} 缺失或已损坏（{exc}）。{_REBUILD}") from exc
        store._row_ids = np.asarray(row_ids, dtype=np.int64)
        store._stale = False
        store._frozen = True
        return store

    @classmethod
    def load(cls, path: Path) -> KeywordStore:
        """Read a file written by save(); IndexCorruptError when it is missing or malformed."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
                raise ValueError("unknown format")
            docs = payload["docs"]
            if not isinstance(docs, list) or len(docs) != payload["count"]:
                raise ValueError("document count does not match")
            store = cls(k1=float(payload["k1"]), b=float(payload["b"]))
            for doc_id, tokens in docs:
                if not isinstance(doc_id, int) or not isinstance(tokens, list):
                    raise ValueError(f"bad entry for id {doc_id!r}")
                store._docs[doc_id] = [str(t) for t in tokens]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"关键词索引文件 {path} 缺失或已损坏（{exc}）。{_REBUILD}") from exc
        return store


class _ArrayBM25(bm25s.BM25):
    """bm25s.BM25 with the corpus's term counts taken in array operations (same saved format).
    For the scoring methods without a non-occurrence term (lucene, robertson, atire)."""

    def build_index_from_tokens(
        self, corpus_tokens: Sequence[Sequence[str]], show_progress: bool = True, leave_progress: bool = False
    ) -> tuple[dict[str, Any], dict[str, int]]:
        vocab = {token: i for i, token in enumerate(sorted(set().union(*corpus_tokens)))}
        lengths = np.fromiter(map(len, corpus_tokens), dtype=np.int64, count=len(corpus_tokens))
        term = np.fromiter(map(vocab.__getitem__, chain.from_iterable(corpus_tokens)), dtype=np.int64,
                           count=int(lengths.sum()))
        n_docs, n_vocab = len(lengths), len(vocab)
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        # (doc, term) -> term frequency, as a sparse matrix in CSC order: one column per term
        counts = sp.csc_matrix((np.ones(len(term), dtype=np.float64), (doc, term)), shape=(n_docs, n_vocab))
        counts.sum_duplicates()
        counts.sort_indices()
        frequencies = np.diff(counts.indptr)  # documents containing each term
        idf_of = _select_idf_scorer(self.idf_method)
        idf = np.array([idf_of(int(df), N=n_docs) for df in frequencies], dtype=np.float64).astype(self.dtype)
        tfc = _select_tfc_scorer(self.method)(
            tf_array=counts.data, l_d=lengths[counts.indices], l_avg=float(lengths.mean()), k1=self.k1, b=self.b,
            delta=self.delta,
        )
        column = np.repeat(np.arange(n_vocab), frequencies)
        data = (idf[column].astype(np.float64) * tfc).astype(self.dtype)
        self.nonoccurrence_array = None
        return {"data": data, "indices": counts.indices.astype(self.int_dtype),
                "indptr": counts.indptr.astype(np.int64), "num_docs": n_docs}, vocab
