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
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import scipy.sparse as sp
from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

from assistant.errors import IndexCorruptError

FORMAT_VERSION = 1
TF_FILE = "term_counts.npy"  # per stored (document, term) score: the term's count, in bm25s's CSC order
LENGTHS_FILE = "doc_lengths.npy"  # tokens per document, by model row
_REBUILD = "请重新建立索引：assistant build"


@dataclass(frozen=True)
class _Counts:
    """Term counts of documents carried from a saved index: per document its id and length, per
    (document, term) pair its document row, term (into `vocab`) and count."""

    ids: np.ndarray
    lengths: np.ndarray
    rows: np.ndarray
    terms: np.ndarray
    tf: np.ndarray
    vocab: list[str]


class KeywordStore:
    """Token lists under int64 ids, ranked by BM25 (Lucene variant) for a tokenised query.

    search() returns (scores, ids): 1-D, best first, at most k long, only documents sharing
    at least one token with the query (so possibly empty). A store made by carry() also holds
    documents as term counts only (no token lists: tokens() and save() refuse them).
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._docs: dict[int, list[str]] = {}
        self._carried: _Counts | None = None
        self._carried_ids: set[int] = set()  # carried documents not replaced or deleted since
        self._model: Any = None
        self._row_ids = np.zeros(0, dtype=np.int64)  # model row -> id
        self._stale = True
        self._lock = threading.Lock()
        self._frozen = False  # loaded by load_index(): the model, without the token lists

    def __len__(self) -> int:
        return len(self._row_ids) if self._frozen else len(self._docs) + len(self._carried_ids)

    def __contains__(self, doc_id: object) -> bool:
        if self._frozen:
            return isinstance(doc_id, int | np.integer) and bool(np.isin(doc_id, self._row_ids))
        return doc_id in self._docs or doc_id in self._carried_ids

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
                self._docs[doc_id] = list(map(sys.intern, map(str, tokens)))  # each word held once
                self._carried_ids.discard(doc_id)
            self._stale = True

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove these ids (unknown ones are ignored); returns how many were removed."""
        self._check_writable()
        removed = 0
        with self._lock:
            for doc_id in np.asarray(ids, dtype=np.int64).reshape(-1):
                found = self._docs.pop(int(doc_id), None) is not None or int(doc_id) in self._carried_ids
                self._carried_ids.discard(int(doc_id))
                removed += found
            self._stale = self._stale or removed > 0
        return removed

    @classmethod
    def carry(cls, folder: Path, moves: Sequence[tuple[int, int, int]]) -> KeywordStore | None:
        """A writable store holding documents of the index saved in `folder` by save_index(), as
        term counts: each move (first id, count, shift) carries the saved ids first..first+count-1
        under id + shift; the rest are left out. None when that index has no term counts (saved
        before they were kept) or they do not fit it; IndexCorruptError when it is unreadable."""
        folder = Path(folder)
        source = cls.load_index(folder)
        try:
            tf = np.load(folder / TF_FILE, mmap_mode="r")
            lengths = np.load(folder / LENGTHS_FILE, mmap_mode="r")
        except (OSError, ValueError):
            return None
        model, row_ids = source._model, source._row_ids
        store = cls(k1=source.k1, b=source.b)
        if model is None or len(lengths) != len(row_ids):
            return store if model is None and not len(row_ids) else None
        indices, indptr = np.asarray(model.scores["indices"]), np.asarray(model.scores["indptr"])
        if len(tf) != len(indices):
            return None
        new_ids = np.full(len(row_ids), -1, dtype=np.int64)
        for first, count, shift in moves:
            lo, hi = np.searchsorted(row_ids, [first, first + count])
            new_ids[lo:hi] = row_ids[lo:hi] + shift
        kept = new_ids >= 0
        vocab = [""] * (len(indptr) - 1)
        for token, column in model.vocab_dict.items():
            if column < len(vocab):
                vocab[column] = token
        terms = np.repeat(np.arange(len(vocab), dtype=np.int64), np.diff(indptr))
        pairs = kept[indices]
        ids = new_ids[kept]
        order = np.full(len(row_ids), -1, dtype=np.int64)
        order[kept] = np.arange(len(ids))
        store._carried = _Counts(ids=ids, lengths=np.asarray(lengths[kept], dtype=np.int64),
                                 rows=order[indices[pairs]], terms=terms[pairs],
                                 tf=np.asarray(tf[pairs], dtype=np.int64), vocab=vocab)
        store._carried_ids = set(ids.tolist())
        return store

    def add_carried(self, folder: Path, moves: Sequence[tuple[int, int, int]]) -> bool:
        """Add documents of the index saved in `folder` as term counts, as carry() selects them (their ids must
        not be held here yet). False, adding nothing, when that index has no term counts or they do not fit."""
        source = KeywordStore.carry(folder, moves)
        if source is None:
            return False
        self._check_writable()
        with self._lock:
            if self._carried is not None or source._carried_ids & self._docs.keys():
                raise ValueError("carried documents are added once, under ids not held yet")
            self._carried, self._carried_ids = source._carried, source._carried_ids
            self._stale = True
        return True

    def _ensure_model(self) -> tuple[Any, np.ndarray]:
        with self._lock:
            if self._stale:
                self._model, self._row_ids = self._index()
                self._stale = False
            return self._model, self._row_ids

    def _index(self) -> tuple[Any, np.ndarray]:
        """The bm25s model of every document (token lists and carried counts) and its row -> id map."""
        carried = self._carried
        vocab: dict[str, int] = {token: i for i, token in enumerate(carried.vocab)} if carried else {}
        own_ids = sorted(self._docs)
        corpus = [self._docs[i] for i in own_ids]
        for token in sorted(set().union(*corpus) - vocab.keys()):
            vocab[token] = len(vocab)
        own_lengths = np.fromiter(map(len, corpus), dtype=np.int64, count=len(corpus))
        own_terms = np.fromiter(map(vocab.__getitem__, chain.from_iterable(corpus)), dtype=np.int64,
                                count=int(own_lengths.sum()))
        own_rows = np.repeat(np.arange(len(corpus), dtype=np.int64), own_lengths)
        own_tf = np.ones(len(own_terms), dtype=np.int64)
        ids, lengths = np.asarray(own_ids, dtype=np.int64), own_lengths
        rows, terms, tf = own_rows, own_terms, own_tf
        if carried is not None and self._carried_ids:
            alive = np.isin(carried.ids, np.fromiter(self._carried_ids, dtype=np.int64))
            slot = np.cumsum(alive) - 1 + len(corpus)
            pairs = alive[carried.rows]
            ids = np.concatenate([ids, carried.ids[alive]])
            lengths = np.concatenate([lengths, carried.lengths[alive]])
            rows = np.concatenate([rows, slot[carried.rows[pairs]]])
            terms, tf = np.concatenate([terms, carried.terms[pairs]]), np.concatenate([tf, carried.tf[pairs]])
        if not len(terms):
            return None, np.sort(ids)
        order = np.argsort(ids, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        counts = sp.csc_matrix((tf, (rank[rows], terms)), shape=(len(ids), len(vocab)))
        counts.sum_duplicates()
        used = np.flatnonzero(np.diff(counts.indptr))  # terms of removed documents leave the vocabulary
        if len(used) < len(vocab):
            counts = counts[:, used]
        names = list(vocab)
        model = _ArrayBM25(k1=self.k1, b=self.b, method="lucene")
        model.index_counts(counts, lengths[order], [names[i] for i in used])
        return model, ids[order]

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
        if self._carried_ids:
            raise TypeError("documents carried as term counts have no token lists to save")
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
            np.save(folder / TF_FILE, model.term_counts)
            np.save(folder / LENGTHS_FILE, model.doc_lengths)
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
    """bm25s.BM25 indexed from a (documents x terms) count matrix in array operations, with bm25s's
    own idf and tf scorers (same scores and saved format as index(); for the scoring methods without
    a non-occurrence term: lucene, robertson, atire). Keeps the counts, so a later build can carry them."""

    term_counts: np.ndarray
    doc_lengths: np.ndarray

    def index_counts(self, counts: sp.csc_matrix, lengths: np.ndarray, vocab: list[str]) -> None:
        """Index documents given as term counts (CSC, one column per vocab entry, rows sorted)."""
        counts.sort_indices()
        n_docs, n_vocab = counts.shape
        frequencies = np.diff(counts.indptr)  # documents containing each term
        idf_of = _select_idf_scorer(self.idf_method)
        idf = np.array([idf_of(int(df), N=n_docs) for df in frequencies], dtype=np.float64).astype(self.dtype)
        tf = counts.data.astype(self.dtype)
        tfc = _select_tfc_scorer(self.method)(
            tf_array=tf, l_d=lengths[counts.indices], l_avg=np.float64(lengths.mean()), k1=self.k1, b=self.b,
            delta=self.delta,
        )
        column = np.repeat(np.arange(n_vocab), frequencies)
        self.scores = {"data": (idf[column] * tfc).astype(self.dtype), "indices": counts.indices.astype(self.int_dtype),
                       "indptr": counts.indptr.astype(np.int64), "num_docs": n_docs}
        self.nonoccurrence_array = None
        self.vocab_dict = {token: i for i, token in enumerate(vocab)}
        self.vocab_dict.setdefault("", len(vocab))  # as index() adds it (create_empty_token)
        self.unique_token_ids_set = set(self.vocab_dict.values())
        self.term_counts = counts.data.astype(np.int32)
        self.doc_lengths = np.asarray(lengths, dtype=np.int32)
