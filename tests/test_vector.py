"""FAISS vector store against brute force, persistence and corruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import AssistantError, IndexCorruptError
from assistant.index.vector import FaissVectorStore, load_vector_store, make_vector_store, sidecar_path

DIM = 32


def unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def brute_force(
    ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> np.ndarray:
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, vectors = ids[keep], vectors[keep]
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[order]


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    ids = rng.choice(10_000, size=300, replace=False).astype(np.int64)
    return ids, unit_rows(rng, 300), unit_rows(rng, 8)


def test_flat_equals_brute_force(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, queries = data
    store = make_vector_store("flat", DIM)
    store.add(ids, vectors)
    assert len(store) == 300
    scores, found = store.search(queries, 10)
    assert found.shape == scores.shape == (8, 10)
    np.testing.assert_array_equal(found, brute_force(ids, vectors, queries, 10))
    expected = np.sort(queries @ vectors.T, axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def test_flat_allowed_ids_and_delete(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, queries = data
    store = FaissVectorStore(DIM)
    store.add(ids, vectors)
    allowed = ids[::7]
    _, found = store.search(queries, 10, allowed_ids=allowed)
    np.testing.assert_array_equal(found, brute_force(ids, vectors, queries, 10, allowed))
    removed = ids[:100]
    assert store.delete(np.concatenate([removed, [99_999]])) == 100
    assert len(store) == 200
    _, found = store.search(queries, 10)
    np.testing.assert_array_equal(found, brute_force(ids[100:], vectors[100:], queries, 10))
    assert not np.isin(found, removed).any()


def test_padding_when_fewer_results(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, queries = data
    store = FaissVectorStore(DIM)
    store.add(ids[:3], vectors[:3])
    scores, found = store.search(queries[:2], 5)
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    _, found = store.search(queries[:2], 5, allowed_ids=np.array([ids[0]]))
    assert (found[:, 0] == ids[0]).all() and (found[:, 1:] == -1).all()
    empty = FaissVectorStore(DIM)
    assert (empty.search(queries, 4)[1] == -1).all()


def test_add_replaces_existing_id(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, queries = data
    for kind in ("flat", "ivf", "hnsw"):
        store = make_vector_store(kind, DIM)
        store.add(ids[:10], vectors[:10])
        store.add(ids[:1], queries[:1])
        assert len(store) == 10
        scores, found = store.search(queries[:1], 1)
        assert found[0, 0] == ids[0] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_hnsw_recall_at_10() -> None:
    rng = np.random.default_rng(11)
    ids = np.arange(2000, dtype=np.int64) * 3
    vectors, queries = unit_rows(rng, 2000, 384), unit_rows(rng, 50, 384)
    store = FaissVectorStore(384, "hnsw")
    store.add(ids, vectors)
    _, found = store.search(queries, 10)
    truth = brute_force(ids, vectors, queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.9

    narrow = ids[::50]  # few ids: searched exactly
    _, found = store.search(queries, 10, allowed_ids=narrow)
    np.testing.assert_array_equal(found, brute_force(ids, vectors, queries, 10, narrow))

    store.exact_filter_limit = 0  # force the FAISS selector path
    broad = ids[::2]
    _, found = store.search(queries, 10, allowed_ids=broad)
    assert np.isin(found, broad).all()
    truth = brute_force(ids, vectors, queries, 10, broad)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.9

    store.delete(ids[:1000])
    assert len(store) == 1000
    _, found = store.search(queries, 10)
    assert not np.isin(found, ids[:1000]).any()


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_save_load_round_trip(
    kind: str, tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    ids, vectors, queries = data
    store = make_vector_store(kind, DIM)
    store.add(ids, vectors)
    path = tmp_path / "sub" / "vectors.faiss"
    store.save(path)
    assert json.loads(sidecar_path(path).read_text())["kind"] == kind
    loaded = load_vector_store(path)
    assert isinstance(loaded, FaissVectorStore) and loaded.kind == kind and loaded.dim == DIM
    assert len(loaded) == len(store)
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], store.search(queries, 10)[1])
    loaded.delete(ids[:5])  # the restored store stays editable
    assert len(loaded) == 295


def test_corrupt_files_raise(tmp_path: Path, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, _ = data
    path = tmp_path / "vectors.faiss"
    store = FaissVectorStore(DIM)
    store.add(ids, vectors)
    store.save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="损坏"):
        FaissVectorStore.load(path)
    path.write_bytes(b"not a faiss index")
    meta = json.loads(sidecar_path(path).read_text())
    import hashlib

    meta["sha256"] = hashlib.sha256(b"not a faiss index").hexdigest()
    meta["size"] = len(b"not a faiss index")
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(IndexCorruptError, match="无法解析"):
        FaissVectorStore.load(path)
    sidecar_path(path).write_text("{oops")
    with pytest.raises(IndexCorruptError):
        FaissVectorStore.load(path)
    with pytest.raises(IndexCorruptError):
        FaissVectorStore.load(tmp_path / "missing.faiss")


def test_bad_input() -> None:
    with pytest.raises(AssistantError):
        make_vector_store("pq", DIM)
    store = FaissVectorStore(DIM)
    with pytest.raises(ValueError):
        store.add(np.array([1, 2]), np.zeros((2, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError):
        store.add(np.array([1, 1]), np.zeros((2, DIM), dtype=np.float32))
