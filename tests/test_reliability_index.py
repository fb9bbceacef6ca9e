"""An index that always repairs (issue 12): damaged states, full disks, killed builds, durable switching."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SEED_FILE

from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import AssistantError, DiskFullError, IndexMissingError
from assistant.index import build as build_module
from assistant.index import vector as vector_module
from assistant.index.build import build_index
from assistant.index.keyword import KeywordStore
from assistant.index.layout import live_build_dir
from assistant.index.store import EmbeddingCache, Store

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["电子邮箱", "主动公开政府信息多少条", "行政复议"]
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _live(index: Path, name: str) -> Path:
    return live_build_dir(index) / name


def _rewrite_manifest(index: Path, change: Callable[[dict], object]) -> None:
    path = _live(index, "manifest.json")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(change(manifest), ensure_ascii=False), encoding="utf-8")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _sql(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(statement)
    conn.commit()
    conn.close()


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 400)


# Each damage leaves a state an unlucky operator or a crash can produce. The flag says whether the
# served index itself is damaged (so reading must fail clearly) or only the shared embedding cache.
DAMAGES: dict[str, tuple[Callable[[Path], None], bool]] = {
    "current-deleted": (lambda i: (i / "CURRENT").unlink(), True),
    "current-empty": (lambda i: (i / "CURRENT").write_text(""), True),
    "current-garbage": (lambda i: (i / "CURRENT").write_bytes(b"\xff\xfe\x00\x01"), True),
    "current-names-missing-build": (lambda i: (i / "CURRENT").write_text("20990101-000000-deadbeef\n"), True),
    "live-build-deleted": (lambda i: shutil.rmtree(live_build_dir(i)), True),
    "manifest-deleted": (lambda i: _live(i, "manifest.json").unlink(), True),
    "manifest-truncated": (lambda i: _truncate(_live(i, "manifest.json")), True),
    "manifest-empty-list": (lambda i: _live(i, "manifest.json").write_text("[]"), True),
    "manifest-documents-list": (lambda i: _rewrite_manifest(i, lambda m: {**m, "documents": []}), True),
    "manifest-document-entry-broken": (lambda i: _rewrite_manifest(i, lambda m: {**m, "documents": {"x": {}}}), True),
    "manifest-fields-missing": (lambda i: _rewrite_manifest(i, lambda m: {"documents": m["documents"]}), True),
    "store-deleted": (lambda i: _live(i, "store.sqlite").unlink(), True),
    "store-truncated": (lambda i: _truncate(_live(i, "store.sqlite")), True),
    "store-empty-file": (lambda i: _live(i, "store.sqlite").write_bytes(b""), True),
    "store-garbage": (lambda i: _garbage(_live(i, "store.sqlite")), True),
    "store-report-row-broken": (lambda i: _sql(_live(i, "store.sqlite"), "UPDATE reports SET body='{\"x'"), True),
    "vectors-truncated": (lambda i: _truncate(_live(i, "vectors.faiss")), True),
    "vectors-deleted": (lambda i: _live(i, "vectors.faiss").unlink(), True),
    "keyword-garbage": (lambda i: _garbage(_live(i, "bm25") / "keyword.meta.json"), True),
    "cache-garbage": (lambda i: _garbage(i / "cache.sqlite"), False),
    "cache-truncated": (lambda i: _truncate(i / "cache.sqlite"), False),
    "cache-wrong-vectors": (lambda i: _sql(i / "cache.sqlite", "UPDATE embeddings SET vector = x'00000000'"), False),
}


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """(corpus, index with its cache inside, search results) of the seed report."""
    folder = tmp_path_factory.mktemp("base")
    corpus = folder / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILE, corpus)
    index = folder / "index"
    build_index(Settings(corpus_dir=corpus, index_dir=index))
    return corpus, index, _results(index)


def _results(index: Path) -> list:
    assistant = Assistant.open(index)
    assistant.reports()  # serving decodes report bodies only on demand: read every one here
    return [[(h.report_title, h.text) for h in assistant.search(q, k=3)] for q in QUERIES]


@pytest.mark.parametrize("state", sorted(DAMAGES))
def test_damaged_state_reads_clearly_and_build_repairs(
    state: str, base_index: tuple[Path, Path, list], tmp_path: Path
) -> None:
    corpus, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    damage, served_index_damaged = DAMAGES[state]
    damage(index)
    if served_index_damaged:
        with pytest.raises(AssistantError) as caught:
            _results(index)
        message = str(caught.value)
        assert "assistant build" in message and _CJK.search(message), message
    else:
        assert _results(index) == expected  # the cache is not needed to read
    summary = build_index(Settings(corpus_dir=corpus, index_dir=index))
    assert summary.reports == 1 and not summary.failures
    if state not in ("cache-wrong-vectors",):
        assert summary.notices, "a repair must say what it discarded"
    assert _results(index) == expected
    again = build_index(Settings(corpus_dir=corpus, index_dir=index))  # and the repaired index is trusted
    assert len(again.unchanged) == 1 and again.embedded == 0 and not again.notices


def test_damage_states_cover_the_issue() -> None:
    assert len(DAMAGES) >= 18


def test_cli_build_repairs_and_says_so(base_index: tuple[Path, Path, list], tmp_path: Path) -> None:
    corpus, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    _live(index, "store.sqlite").unlink()
    cli = [sys.executable, "-m", "assistant"]
    read = subprocess.run([*cli, "search", "电子邮箱", "--index", str(index)], capture_output=True, text=True, cwd=ROOT)
    assert read.returncode == 1 and "assistant build" in read.stderr and "Traceback" not in read.stderr
    built = subprocess.run([*cli, "build", "--corpus", str(corpus), "--index", str(index), "--quiet"],
                           capture_output=True, text=True, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    assert "注意：现有索引无法信任" in built.stderr and "从头重建" in built.stderr
    assert _results(index) == expected


def test_missing_index_says_build_first(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="assistant build"):
        Assistant.open(tmp_path / "never-built")


# --- full disk ----------------------------------------------------------------------------


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _sqlite_full(self: object, *args: object) -> None:
    raise sqlite3.OperationalError("database or disk is full")


DISK_FULL_WRITERS: dict[str, tuple[object, str, Callable[..., None]]] = {
    "vectors": (vector_module.make_vector_store, "", _enospc),  # patched below on the returned class
    "keyword": (KeywordStore, "save_index", _enospc),
    "store": (Store, "commit", _sqlite_full),
    "cache": (EmbeddingCache, "put_many", _sqlite_full),  # a full disk must not be taken for a damaged cache
}


@pytest.mark.parametrize("writer", sorted(DISK_FULL_WRITERS))
def test_disk_full_is_clear_and_leaves_the_old_index_serving(
    writer: str, base_index: tuple[Path, Path, list], tmp_path: Path, samples_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus_base, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_base, corpus)
    shutil.copy(samples_dir / "lanxi-city-2021.txt", corpus)  # something new to write
    if writer == "vectors":
        from assistant.index import vector

        monkeypatch.setattr(vector, "_write_atomic", _enospc)
    else:
        target, attribute, fake = DISK_FULL_WRITERS[writer]
        monkeypatch.setattr(target, attribute, fake)
    with pytest.raises(DiskFullError) as caught:
        build_index(Settings(corpus_dir=corpus, index_dir=index))
    message = str(caught.value)
    assert "磁盘空间不足" in message and "现有索引保持不变" in message
    assert not list((index / "builds").glob(".tmp-*"))
    assert _results(index) == expected
    monkeypatch.undo()
    assert (index / "cache.sqlite").stat().st_size > 0  # the cache survived
    after = build_index(Settings(corpus_dir=corpus, index_dir=index))
    assert after.reports == 2 and not after.notices


def test_disk_full_on_switch_keeps_current(base_index: tuple[Path, Path, list], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    corpus, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    before = (index / "CURRENT").read_text()
    real_open = open

    def full_for_current(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith("CURRENT.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", full_for_current)
    with pytest.raises(DiskFullError, match="磁盘空间不足"):  # hnsw: a changed setting, so a build that switches
        build_index(Settings(corpus_dir=corpus, index_dir=index, vector_index="hnsw"))
    monkeypatch.undo()
    assert (index / "CURRENT").read_text() == before and _results(index) == expected


# --- killed builds ------------------------------------------------------------------------


def test_sigkilled_build_leftovers_are_removed_at_the_next_build_start(
    base_index: tuple[Path, Path, list], tmp_path: Path, samples_dir: Path
) -> None:
    corpus_base, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_base, corpus)
    for name in ("lanxi-city-2021.txt", "lanxi-city-2022.html", "qinghe-county-2021.html"):
        shutil.copy(samples_dir / name, corpus)
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(tmp_path / "cold-cache")}  # so embedding takes a while
    leftovers: list[set[Path]] = []
    for _ in range(2):
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "build", "--corpus", str(corpus), "--index", str(index)],
            cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        assert process.stderr is not None
        seen, deadline = "", time.monotonic() + 300
        while "向量化" not in seen and time.monotonic() < deadline and process.poll() is None:
            seen += process.stderr.read(1)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert "向量化" in seen, "the build never reached the embedding stage"
        leftovers.append(set((index / "builds").glob(".tmp-*")))
    # each killed build leaves its folder; the next build's start removed the one before
    assert len(leftovers[0]) == len(leftovers[1]) == 1 and leftovers[0] != leftovers[1]
    assert _results(index) == expected  # the old index still serves
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AssistantError, match="没有可以索引的报告"):  # a build that fails after its start ...
        build_index(Settings(corpus_dir=empty, index_dir=index))
    assert not list((index / "builds").glob(".tmp-*"))  # ... still removed the leftovers
    assert _results(index) == expected


def test_leftovers_of_a_running_build_are_not_touched(base_index: tuple[Path, Path, list], tmp_path: Path) -> None:
    corpus, base, _ = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    running = index / "builds" / ".tmp-running"
    running.mkdir()
    from assistant.errors import IndexLockedError

    with build_module.build_lock(index), pytest.raises(IndexLockedError):
        build_index(Settings(corpus_dir=corpus, index_dir=index))  # refused before touching anything
    assert running.is_dir()


# --- durability ---------------------------------------------------------------------------


def test_build_files_and_folders_are_flushed_before_current_switches(
    base_index: tuple[Path, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, base, _ = base_index
    index = tmp_path / "index"
    events: list[tuple[str, str]] = []
    names: dict[int, str] = {}
    real_open, real_fsync, real_replace = os.open, os.fsync, os.replace

    def spy_open(path: object, *args: object, **kwargs: object) -> int:
        fd = real_open(path, *args, **kwargs)  # type: ignore[arg-type]
        names[fd] = str(path)
        return fd

    def spy_fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", names.get(fd, f"fd:{fd}")))

    def spy_replace(src: object, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        events.append(("replace", f"{src}->{dst}"))

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    build_index(Settings(corpus_dir=corpus, index_dir=index))
    monkeypatch.undo()
    build_dir = live_build_dir(index)
    switch = next(i for i, (kind, what) in enumerate(events) if kind == "replace" and what.endswith("/CURRENT"))
    flushed_before = {Path(what).name for kind, what in events[:switch] if kind == "fsync"}
    assert {p.name for p in build_dir.iterdir()} <= flushed_before  # every file of the build
    tmp_name = ".tmp-" + build_dir.name
    assert tmp_name in flushed_before and "builds" in flushed_before  # the build folder and its parent
    rename = next(i for i, (kind, what) in enumerate(events) if kind == "replace" and tmp_name in what)
    assert rename < switch
    assert events[switch - 1][0] == "fsync"  # CURRENT.tmp flushed before the rename
    assert ("fsync", str(index)) in events[switch + 1 :]  # and the folder after it


def test_checked_databases_are_not_read_whole_again(
    base_index: tuple[Path, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build stamps the cache and its store as it closed them, so the next build trusts them after a stat and a
    header read instead of SQLite's quick check over every page; any write by someone else brings the check back."""
    import assistant.index.store as store_module

    corpus, base, _ = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)  # new inodes: the stamps no longer match
    checked: list[str] = []
    whole_check = store_module.database_problem

    def counted(path: Path, table: str = "reports") -> str | None:
        checked.append(path.name)
        return whole_check(path, table)

    monkeypatch.setattr(store_module, "database_problem", counted)
    settings = Settings(corpus_dir=corpus, index_dir=index)
    assert build_index(settings).unchanged  # no change, but the copied files are checked whole, then stamped
    assert sorted(checked) == ["cache.sqlite", "store.sqlite"]
    checked.clear()
    assert build_index(settings).unchanged and checked == []  # both stamped: nothing read whole
    _sql(index / "cache.sqlite", "DELETE FROM tokens")  # another writer
    assert build_index(settings).unchanged and checked == ["cache.sqlite"]
    checked.clear()
    (corpus / "extra.txt").write_text(SEED_FILE.read_text(encoding="utf-8") + "\n附：副本。\n", encoding="utf-8")
    try:
        summary = build_index(settings)  # a real build: stamps its own new store and the cache it wrote
        assert summary.added == ["extra.txt"] and checked == []
        assert build_index(settings).unchanged and checked == []
    finally:
        (corpus / "extra.txt").unlink()


def test_cache_damage_the_stamp_cannot_see_is_met_on_read_and_repaired(
    base_index: tuple[Path, Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of the cache overwritten in place with its size and time kept (a disk error): the stamp still
    matches, so the build meets the damage when it reads, discards the cache, builds again and says so."""
    corpus, base, expected = base_index
    index = tmp_path / "index"
    shutil.copytree(base, index)
    (corpus / "extra.txt").write_text(SEED_FILE.read_text(encoding="utf-8") + "\n附：副本。\n", encoding="utf-8")
    try:
        settings = Settings(corpus_dir=corpus, index_dir=index)
        build_index(settings)  # stamps the cache
        cache = index / "cache.sqlite"
        before = cache.stat()
        data = bytearray(cache.read_bytes())
        data[4096:] = b"\xa5" * (len(data) - 4096)  # every page after the header's
        cache.write_bytes(bytes(data))
        os.utime(cache, ns=(before.st_atime_ns, before.st_mtime_ns))
        (corpus / "extra.txt").write_text(SEED_FILE.read_text(encoding="utf-8") + "\n附：另一副本。\n",
                                          encoding="utf-8")
        attempts: list[int] = []
        once = build_module._build_once
        monkeypatch.setattr(build_module, "_build_once", lambda *a: attempts.append(1) or once(*a))
        summary = build_index(settings)
        assert len(attempts) == 2  # the first attempt met the damage while reading
        assert summary.updated == ["extra.txt"] and not summary.failures
        assert any("嵌入缓存" in n and "已损坏" in n for n in summary.notices), summary.notices
        assert summary.embedded > 0  # the changed report's vectors recomputed (the other's carried)
    finally:
        (corpus / "extra.txt").unlink()
    build_index(Settings(corpus_dir=corpus, index_dir=index))
    assert _results(index) == expected
