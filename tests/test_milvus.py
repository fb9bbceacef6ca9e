"""Milvus backend (Milvus Lite, a local file): same results as FAISS + bm25s, alias switch, killed builds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES, SEED_FILE

from assistant.config import Settings
from assistant.index.build import build_index
from assistant.index.layout import live_build_dir, read_manifest
from assistant.index.milvus_store import client_for, close_client, milvus_uri
from assistant.search.retriever import Filters, Retriever

ROOT = Path(__file__).resolve().parents[1]


def _corpus(folder: Path, files: list[Path]) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, corpus / file.name)
    return corpus


def _milvus_settings(index: Path, corpus: Path, cache: Path) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, cache_dir=cache, store="milvus")


@pytest.fixture(scope="module")
def both_indexes(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, samples_dir: Path):
    folder = tmp_path_factory.mktemp("milvus-vs-faiss")
    corpus = _corpus(folder, [SEED_FILE, *(samples_dir / n for n in SAMPLE_FILES)])
    local = Settings(corpus_dir=corpus, index_dir=folder / "local", cache_dir=cache_dir)
    milvus = _milvus_settings(folder / "milvus", corpus, cache_dir)
    build_index(local)
    summary = build_index(milvus)
    assert summary.embedded == 0  # the vectors are the very same, from the shared cache
    yield Retriever.open(local.index_dir, local), Retriever.open(milvus.index_dir, milvus)
    close_client(milvus_uri(milvus))


def _queries(sample_questions: list[dict], reports: dict) -> list[tuple[str, Filters]]:
    by_title = {r.meta.title: r for r in reports.values()}
    out = []
    for q in sample_questions:
        report = by_title.get(q.get("report", ""))
        if report is not None and report.meta.year is not None:
            out.append((q["question"], Filters(agency=report.meta.agency, years=(report.meta.year,))))
    return out


def test_milvus_collection_is_behind_the_alias(both_indexes) -> None:
    _, milvus = both_indexes
    entry = milvus.manifest["store"]
    assert entry["backend"] == "milvus" and entry["count"] == len(milvus.passages)
    client = client_for(entry["uri"])
    assert client.describe_alias(entry["alias"])["collection_name"] == entry["collection"]
    assert client.get_collection_stats(entry["collection"])["row_count"] == len(milvus.passages)


def test_dense_leg_is_identical(both_indexes, sample_questions: list[dict]) -> None:
    local, milvus = both_indexes
    for query, filters in _queries(sample_questions, local.reports):
        got_local = local.search(query, k=5, filters=filters, mode="dense")
        got_milvus = milvus.search(query, k=5, filters=filters, mode="dense")
        assert [h.passage_id for h in got_milvus] == [h.passage_id for h in got_local], query
        assert all(h.agency == filters.agency and h.year in filters.years for h in got_milvus)


def test_hybrid_filtered_top_results_match_faiss(both_indexes, sample_questions: list[dict]) -> None:
    local, milvus = both_indexes
    queries = _queries(sample_questions, local.reports)
    assert len(queries) >= 10
    same_top1 = overlap = 0
    for query, filters in queries:
        got_local = [h.passage_id for h in local.search(query, k=5, filters=filters)]
        got_milvus = milvus.search(query, k=5, filters=filters)
        assert all(h.agency == filters.agency and h.year in filters.years for h in got_milvus), query
        ids = [h.passage_id for h in got_milvus]
        same_top1 += ids[:1] == got_local[:1]
        overlap += len(set(ids[:3]) & set(got_local[:3]))
    # jieba inside Milvus and the project's tokeniser cut a few numbers and names differently
    print(f"milvus vs faiss: top-1 same {same_top1}/{len(queries)}, top-3 overlap {overlap}/{3 * len(queries)}")
    assert same_top1 >= 0.9 * len(queries), (same_top1, len(queries))
    assert overlap >= 0.8 * 3 * len(queries), (overlap, len(queries))


def test_bm25_leg_finds_exact_terms(both_indexes) -> None:
    _, milvus = both_indexes
    hits = milvus.search("lqsfb@lishui.gov.cn", k=3, mode="bm25")
    assert hits and hits[0].bm25_score is not None and hits[0].bm25_score > 0
    only_five = milvus.search("问题", k=5, mode="bm25", filters=Filters(section="五"))
    assert only_five and all(h.section == "五" for h in only_five)


def test_killed_milvus_build_leaves_old_collection_serving(tmp_path: Path, cache_dir: Path, samples_dir: Path) -> None:
    corpus = _corpus(tmp_path, [SEED_FILE])
    index = tmp_path / "index"
    settings = _milvus_settings(index, corpus, cache_dir)
    build_index(settings)
    uri = milvus_uri(settings)
    before = [h.passage_id for h in Retriever.open(index, settings).search("电子邮箱", k=3)]
    old_collection = read_manifest(live_build_dir(index))["store"]["collection"]
    close_client(uri)  # Milvus Lite: one process per file; let the builder have it
    for name in SAMPLE_FILES:
        shutil.copy(samples_dir / name, corpus)
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(cache_dir), "ASSISTANT_STORE": "milvus",
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "build", "--corpus", str(corpus), "--index", str(index)],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    seen = ""
    while "写入 Milvus" not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert "写入 Milvus" in seen, f"the build never reached the Milvus insert stage: {seen[-500:]}"
    client = client_for(uri)
    orphans = [c for c in client.list_collections() if c != old_collection]
    assert orphans, "the killed build should have left its half-written collection"
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == old_collection
    retriever = Retriever.open(index, settings)
    assert [h.passage_id for h in retriever.search("电子邮箱", k=3)] == before
    summary = build_index(settings)
    assert summary.reports == 6
    live = read_manifest(live_build_dir(index))["store"]["collection"]
    assert set(client.list_collections()) == {old_collection, live}  # one old build kept, orphans dropped
    assert client.describe_alias(settings.milvus_collection)["collection_name"] == live
    assert json.loads((live_build_dir(index) / "manifest.json").read_text())["counts"]["reports"] == 6
    close_client(uri)
