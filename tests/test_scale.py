"""Scale mechanics: no-change rebuilds, carried facts and tokens, parallel parsing, per-query threads."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import SAMPLE_FILES, SEED_FILE

from assistant import segment
from assistant.config import Settings, load_settings
from assistant.errors import ConfigError
from assistant.index import build
from assistant.index.build import Throughput, build_index
from assistant.index.layout import live_build_dir
from assistant.index.store import Store
from assistant.index.threads import lower_priority, set_threads, threads
from assistant.ingest import ParseLimits
from assistant.search.retriever import Retriever


def _corpus(folder: Path, files: list[Path]) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for file in files:
        shutil.copy(file, corpus / file.name)
    return corpus


def _stored(index: Path) -> tuple[list[tuple], list[str], list[str]]:
    store = Store(live_build_dir(index) / "store.sqlite", readonly=True)
    try:
        passages = store.conn.execute("SELECT passage_id, report_id, text FROM passages ORDER BY vector_id").fetchall()
        tokens = [t for (t,) in store.conn.execute("SELECT tokens FROM passage_tokens ORDER BY vector_id")]
        facts = sorted(b for (b,) in store.conn.execute("SELECT body FROM facts"))
    finally:
        store.close()
    return passages, tokens, facts


def _embedding_texts(index: Path) -> set[str]:
    store = Store(live_build_dir(index) / "store.sqlite", readonly=True)
    try:
        return {p.embedding_text() for rid in store.metas() if (r := store.report(rid)) for p in r.passages}
    finally:
        store.close()


def test_no_change_rebuild_keeps_the_live_build(tmp_path: Path, cache_dir: Path) -> None:
    settings = Settings(corpus_dir=_corpus(tmp_path, [SEED_FILE]), index_dir=tmp_path / "index", cache_dir=cache_dir)
    first = build_index(settings)
    again = build_index(settings)
    assert again.build_dir == first.build_dir and again.unchanged and not again.added
    assert (again.reports, again.passages) == (first.reports, first.passages)
    assert len(list((settings.index_dir / "builds").iterdir())) == 1
    rebuilt = build_index(settings.with_overrides(vector_index="hnsw"))  # a setting changed: a new build
    assert rebuilt.build_dir != first.build_dir


def test_add_one_carries_facts_and_tokens(tmp_path: Path, cache_dir: Path, samples_dir: Path) -> None:
    corpus = _corpus(tmp_path, [SEED_FILE])
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)
    build_index(settings)
    passages, tokens, facts = _stored(settings.index_dir)
    assert tokens == [" ".join(segment.tokenize(Retriever.open(settings.index_dir, settings).passages[i]
                                               .embedding_text())) for i in range(len(passages))]
    name = next(iter(SAMPLE_FILES))
    shutil.copy(samples_dir / name, corpus / name)
    summary = build_index(settings)
    assert summary.added == [name] and summary.unchanged == [SEED_FILE.name]
    after_passages, after_tokens, after_facts = _stored(settings.index_dir)
    seed_rows = [i for i, row in enumerate(after_passages) if row[1] == passages[0][1]]
    assert [after_passages[i] for i in seed_rows] == passages
    assert [after_tokens[i] for i in seed_rows] == tokens
    assert set(facts) <= set(after_facts) and len(after_facts) > len(facts)


def test_workers_build_the_same_index(tmp_path: Path, cache_dir: Path, samples_dir: Path) -> None:
    files = [SEED_FILE, *(samples_dir / n for n in list(SAMPLE_FILES)[:3])]
    one = Settings(corpus_dir=_corpus(tmp_path / "a", files), index_dir=tmp_path / "a" / "index", cache_dir=cache_dir)
    two = Settings(corpus_dir=_corpus(tmp_path / "b", files), index_dir=tmp_path / "b" / "index",
                   cache_dir=cache_dir, workers=2)
    assert build_index(one).reports == build_index(two).reports == 4
    a, b = _stored(one.index_dir), _stored(two.index_dir)
    assert a == b
    query = "政府信息公开申请数量"
    assert ([h.passage_id for h in Retriever.open(one.index_dir, one).search(query, k=5)]
            == [h.passage_id for h in Retriever.open(two.index_dir, two).search(query, k=5)])


def _fresh_token_cache(folder: Path, session_cache: Path) -> Path:
    """A copy of the session's cache with its vectors and without tokens (so nothing is embedded again)."""
    folder.mkdir()
    shutil.copy(session_cache / "cache.sqlite", folder / "cache.sqlite")
    conn = sqlite3.connect(folder / "cache.sqlite")
    conn.execute("DELETE FROM tokens")
    conn.commit()
    conn.close()
    return folder


def test_passage_tokens_come_from_the_cache_once_computed(
    tmp_path: Path, cache_dir: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [SEED_FILE, *(samples_dir / n for n in list(SAMPLE_FILES)[:2])]
    build_index(Settings(corpus_dir=_corpus(tmp_path / "warm", files), index_dir=tmp_path / "warm" / "index",
                         cache_dir=cache_dir))  # the session cache has these passages' vectors
    cache = _fresh_token_cache(tmp_path / "cache", cache_dir)
    settings = [Settings(corpus_dir=_corpus(tmp_path / n, files), index_dir=tmp_path / n / "index", cache_dir=cache)
                for n in ("a", "b", "c", "d")]
    tokenised: list[str] = []
    real_tokenize = segment.tokenize

    def counting(text: str) -> list[str]:
        tokenised.append(text)
        return real_tokenize(text)

    monkeypatch.setattr(segment, "tokenize", counting)
    build_index(settings[0])
    passages = _embedding_texts(settings[0].index_dir)
    assert passages <= set(tokenised)  # the first build tokenised every passage
    assert set(tokenised) - passages  # and the segments its analysis weighs commitments' follow-ups with
    tokenised.clear()
    build_index(settings[1])
    assert not tokenised  # the second read them all from the cache: the passages', and the analysis's segments'
    assert _stored(settings[0].index_dir) == _stored(settings[1].index_dir)

    conn = sqlite3.connect(cache / "cache.sqlite")
    conn.execute("UPDATE tokens SET tokens = 'not json' WHERE rowid % 2 = 0")  # damaged values are recomputed
    conn.commit()
    conn.close()
    tokenised.clear()
    build_index(settings[2])
    assert 0 < len(passages & set(tokenised)) < len(passages)
    assert _stored(settings[2].index_dir) == _stored(settings[0].index_dir)

    monkeypatch.setattr(segment, "tokenizer_id", lambda: "another dictionary")  # a new dictionary: all again
    tokenised.clear()
    build_index(settings[3])
    assert passages <= set(tokenised)


def test_a_dead_worker_process_is_a_clear_error() -> None:
    from concurrent.futures.process import BrokenProcessPool

    from assistant.errors import AssistantError
    from assistant.index.build import _reported_worker_failure

    with pytest.raises(AssistantError, match="工作进程意外退出.*现有索引保持不变"):
        with _reported_worker_failure():
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")


def test_threads_are_per_calling_thread() -> None:
    set_threads(2)
    seen: list[int] = []

    def query() -> None:
        with threads(1):
            seen.append(faiss.omp_get_max_threads())
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=query)
    worker.start()
    worker.join()
    assert seen[0] == 1
    assert faiss.omp_get_max_threads() == 2  # the other thread's limit did not leak here


def test_a_build_thread_runs_at_a_lower_priority_and_passes_it_on() -> None:
    caller = threading.get_native_id()
    base = os.getpriority(os.PRIO_PROCESS, caller)
    seen: dict[str, int] = {}

    def build() -> None:
        lower_priority(10)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                               capture_output=True, text=True, check=True)
        seen["child"] = int(child.stdout)
        lower_priority(10)  # the app's build thread runs queued builds: the value is a floor, not a step
        seen["again"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    assert seen == dict.fromkeys(("thread", "child", "again"), max(base, 10))
    assert os.getpriority(os.PRIO_PROCESS, caller) == base  # the serving threads keep their priority
    assert load_settings({"ASSISTANT_BUILD_NICE": "5"}).build_nice == 5 and load_settings({}).build_nice == 10
    with pytest.raises(ConfigError, match="ASSISTANT_BUILD_NICE"):
        load_settings({"ASSISTANT_BUILD_NICE": "20"})


def test_settings_for_devices_and_workers() -> None:
    settings = load_settings({"ASSISTANT_DEVICE": "cuda", "ASSISTANT_ENCODE_BATCH": "256", "ASSISTANT_WORKERS": "4",
                              "ASSISTANT_STORE": "milvus", "ASSISTANT_MILVUS_URI": "http://127.0.0.1:19530"})
    assert (settings.device, settings.encode_batch, settings.workers) == ("cuda", 256, 4)
    assert (settings.store, settings.milvus_uri) == ("milvus", "http://127.0.0.1:19530")


def test_throughput_numbers() -> None:
    meter = Throughput()
    assert meter.update(0, 100) == (0.0, None)
    meter.started -= 2.0  # two seconds ago
    per_second, left = meter.update(50, 100)
    assert per_second == pytest.approx(25, rel=0.05) and left == pytest.approx(2.0, rel=0.05)


def test_memory_mapped_faiss_gives_the_same_results(tmp_path: Path) -> None:
    from assistant.index.vector import FaissVectorStore, load_vector_store

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = FaissVectorStore(16)
    store.add(np.arange(300) * 3, vectors)
    store.save(tmp_path / "v.faiss")
    mapped = load_vector_store(tmp_path / "v.faiss", mmap=True)
    queries = vectors[:5] + 0.01
    for allowed in (None, np.arange(0, 900, 9)):
        expected, got = store.search(queries, 7, allowed), mapped.search(queries, 7, allowed)
        assert np.array_equal(expected[1], got[1]) and np.allclose(expected[0], got[0])


def test_bm25s_saved_format_round_trip(tmp_path: Path) -> None:
    from assistant.index.keyword import KeywordStore

    store = KeywordStore()
    docs = ["依申请公开 政府 信息 申请 数量", "行政复议 行政诉讼 情况", "主动公开 政府 信息 条", "政府 网站 信息"]
    store.add([10, 20, 30, 40], [d.split() for d in docs])
    store.save_index(tmp_path / "bm25")
    loaded = KeywordStore.load_index(tmp_path / "bm25")
    for query in (["政府", "信息"], ["行政复议"], ["没有"]):
        for allowed in (None, [10, 40]):
            a, b = store.search(query, 3, allowed), loaded.search(query, 3, allowed)
            assert list(a[1]) == list(b[1]) and np.allclose(a[0], b[0])
    assert len(loaded) == 4 and 30 in loaded and 31 not in loaded
    with pytest.raises(TypeError):
        loaded.add([50], [["新"]])


def _everything(index: Path, corpus: Path) -> dict[str, str]:
    """Every row, vector and keyword ranking of the live build (corpus paths masked), to compare builds."""
    from assistant.index.keyword import KeywordStore

    build = live_build_dir(index)
    store = Store(build / "store.sqlite", readonly=True)
    try:
        rows = {table: store.conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                for table, order in (("reports", "report_id"), ("report_meta", "report_id"),
                                     ("passages", "vector_id"), ("passage_tokens", "vector_id"),
                                     ("facts", "report_id, rowid"))}
    finally:
        store.close()
    flat = faiss.read_index(str(build / "vectors.faiss"))
    if isinstance(flat, faiss.IndexIVF):
        flat.make_direct_map()
    keywords = KeywordStore.load_index(build / "bm25")
    rankings = {q: [(int(i), round(float(s), 5)) for s, i in zip(*keywords.search(segment.tokenize(q), 20),
                                                                  strict=True)]
                for q in ("政府信息公开申请", "行政复议 纠正", "主动公开 规范性文件", "联系电话")}
    parts = {**rows, "vectors": flat.reconstruct_batch(np.arange(flat.ntotal)).round(6).tolist(), "rankings": rankings}
    return {k: json.dumps(v, ensure_ascii=False).replace(str(corpus), "<corpus>") for k, v in parts.items()}


@pytest.mark.parametrize("vector_index", ["flat", "ivf"])
def test_a_rebuild_that_carries_equals_a_fresh_build(
    vector_index: str, tmp_path: Path, cache_dir: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Add one, change one, remove one: the carried report's rows, vectors and keyword counts are
    copied with shifted ids, never decoded, and the result is the build made from scratch."""
    from assistant.index import store as store_module

    first = [SEED_FILE, samples_dir / "lanxi-city-2021.txt", samples_dir / "qinghe-county-2021.html"]
    corpus = _corpus(tmp_path / "inc", first)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "inc" / "index", cache_dir=cache_dir,
                        vector_index=vector_index)
    build_index(settings)
    (corpus / "qinghe-county-2021.html").unlink()
    shutil.copy(samples_dir / "lanxi-city-eco-2022.docx", corpus)  # sorts before the seed: its ids shift
    changed = corpus / "lanxi-city-2021.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n本报告所列数据的统计期限为全年。\n", encoding="utf-8")

    decoded: list[str] = []
    decode = store_module.report_from_dict

    def recording(fields: dict) -> object:
        decoded.append(fields["report_id"])
        return decode(fields)

    monkeypatch.setattr(store_module, "report_from_dict", recording)
    summary = build_index(settings)
    monkeypatch.undo()
    seed_id = json.loads((live_build_dir(settings.index_dir) / "manifest.json").read_text(encoding="utf-8"))[
        "documents"][SEED_FILE.name]["report_id"]
    assert seed_id not in decoded  # the build-time analysis decodes only the reports it analyses again
    assert summary.unchanged == [SEED_FILE.name] and summary.added == ["lanxi-city-eco-2022.docx"]
    assert summary.updated == ["lanxi-city-2021.txt"] and summary.deleted == ["qinghe-county-2021.html"]
    fresh = Settings(corpus_dir=_corpus(tmp_path / "fresh", sorted(corpus.iterdir())),
                     index_dir=tmp_path / "fresh" / "index", cache_dir=cache_dir, vector_index=vector_index)
    build_index(fresh)
    carried, rebuilt = _everything(settings.index_dir, corpus), _everything(fresh.index_dir, fresh.corpus_dir)
    assert carried.keys() == rebuilt.keys()
    for part in carried:
        assert carried[part] == rebuilt[part], part
    manifest = json.loads((live_build_dir(settings.index_dir) / "manifest.json").read_text(encoding="utf-8"))
    again = json.loads((live_build_dir(fresh.index_dir) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["documents"] == again["documents"] and manifest["counts"] == again["counts"]


def test_a_live_build_without_term_counts_carries_its_stored_tokens(
    tmp_path: Path, cache_dir: Path, samples_dir: Path
) -> None:
    """A live bm25 index saved before term counts were kept: the rebuild reads the carried passages'
    stored tokens instead, with the same result as a fresh build."""
    corpus = _corpus(tmp_path / "inc", [SEED_FILE])
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "inc" / "index", cache_dir=cache_dir)
    build_index(settings)
    (live_build_dir(settings.index_dir) / "bm25" / "term_counts.npy").unlink()
    shutil.copy(samples_dir / "lanxi-city-2021.txt", corpus)
    assert build_index(settings).unchanged == [SEED_FILE.name]
    fresh = Settings(corpus_dir=_corpus(tmp_path / "fresh", sorted(corpus.iterdir())),
                     index_dir=tmp_path / "fresh" / "index", cache_dir=cache_dir)
    build_index(fresh)
    assert _everything(settings.index_dir, corpus) == _everything(fresh.index_dir, fresh.corpus_dir)


def test_automatic_workers_parse_in_processes_only_for_many_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:

    assert Settings().workers == 0  # automatic by default
    with pytest.raises(ConfigError):
        load_settings({"ASSISTANT_WORKERS": "-1"})
    started: list[int] = []

    class Pool:  # records how many processes a build would start, parses nothing
        def __init__(self, max_workers: int, **options: object) -> None:
            started.append(max_workers)

        def __enter__(self) -> Pool:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def submit(self, fn: object, *args: object) -> None:
            return None

    monkeypatch.setattr("assistant.index.threads.ProcessPoolExecutor", Pool)
    monkeypatch.setattr(build.os, "cpu_count", lambda: 2)
    files = []
    for i in range(build.AUTO_WORKERS_MIN_FILES):
        files.append(tmp_path / f"r{i}.txt")
        files[-1].write_text(f"报告{i}", encoding="utf-8")
    limits = ParseLimits.from_settings(Settings())

    def run(workers: int, count: int) -> list[int]:
        started.clear()
        settings = Settings(workers=workers)
        build._parse_in_workers(settings, files[:count], tmp_path, {}, limits, {}, build._Workers(build.worker_count(settings)))
        return list(started)

    assert run(0, build.AUTO_WORKERS_MIN_FILES - 1) == []  # a few files: parsed in the build's own process
    assert run(0, build.AUTO_WORKERS_MIN_FILES) == [2]  # many files: one process per core
    assert run(1, build.AUTO_WORKERS_MIN_FILES) == []
    assert run(3, 5) == [3]  # an explicit count is kept


def test_parsed_reports_are_handed_over_as_they_come(tmp_path: Path) -> None:
    """The workers parse only a few tasks ahead of the build storing their reports, so a big corpus is never held
    parsed in memory at once; results come in corpus order, a file the build passes over is dropped, and a file
    that was not given to the workers gets None (the build parses it itself)."""
    text = SEED_FILE.read_text(encoding="utf-8")
    files = []
    for i in range(60):
        files.append(tmp_path / f"r{i:02d}.txt")
        files[-1].write_text(text + f"\n附：第{i}份副本。\n", encoding="utf-8")
    settings = Settings(workers=2, cache_dir=tmp_path / "cache")
    limits = ParseLimits.from_settings(settings)
    with build._Workers(build.worker_count(settings)) as pool:
        parsed = build._parse_in_workers(settings, files[1:], tmp_path, {}, limits, {}, pool)
        assert parsed.take("r00.txt", files[0]) is None
        in_flight = len(parsed._running) * parsed.CHUNK
        assert 0 < in_flight <= pool.count * parsed.AHEAD * parsed.CHUNK < len(files) - 1
        first = parsed.take("r01.txt", files[1])
        assert first is not None and "第1份副本" in first.report.cleaned_text
        assert len(first.hashes) == len(first.tokens) == len(first.report.passages)
        later = parsed.take("r07.txt", files[7])  # r02..r06 passed over
        assert later is not None and "第7份副本" in later.report.cleaned_text
        assert len(parsed._running) * parsed.CHUNK <= in_flight  # taking one lets one more task start, no more


def _descendants(pid: int) -> set[int]:
    """The living (not zombie) processes below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            children.setdefault(int(parent), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_killed_build_leaves_no_worker_processes(tmp_path: Path, cache_dir: Path) -> None:
    """A build killed while its workers parse (as by the out-of-memory killer) leaves no orphaned workers or parse
    servers idling on: each ends itself when the build that started it is gone."""
    text = SEED_FILE.read_text(encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(120):
        (corpus / f"r{i:03d}.txt").write_text(text + f"\n附：第{i}份副本。\n", encoding="utf-8")
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(cache_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "build", "--workers", "2", "--corpus", str(corpus), "--index",
         str(tmp_path / "index")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(_descendants(process.pid)) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # two workers, each with its parse server
    below = _descendants(process.pid)
    process.kill()
    process.wait()
    assert len(below) >= 4, "the build never started its workers"
    deadline = time.monotonic() + 20
    while any(map(_alive, below)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(_alive, below)), "worker processes outlived the killed build"
