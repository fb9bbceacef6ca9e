"""Index builds: incremental, written beside the live index and switched in atomically."""

from __future__ import annotations

import bisect
import dataclasses
import errno
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import faiss
import numpy as np

from assistant import segment
from assistant.analyse.facts import extract_facts
from assistant.config import Settings
from assistant.errors import (
    AssistantError,
    CacheDamagedError,
    DiskFullError,
    IndexCorruptError,
    IndexLockedError,
    IngestError,
)
from assistant.index.analysis import AnalysisSummary, live_store, start_analysis
from assistant.index.backends import (
    KEYWORD_DIR,
    KEYWORD_FILE,
    VECTORS_FILE,
    CarriedVectors,
    PassageRecord,
    prune_passage_indexes,
    publish_passage_index,
    write_passage_index,
)
from assistant.index.encoders import Encoder, load_encoder
from assistant.index.keyword import KeywordStore
from assistant.index.layout import (
    BUILDS_DIR,
    CURRENT_FILE,
    FORMAT_VERSION,
    check_manifest,
    live_build_dir,
    read_manifest,
)
from assistant.index.store import (
    CHECKED_SUFFIX,
    EmbeddingCache,
    Store,
    checked_database_problem,
    stamp_checked,
    text_hash,
    to_json,
)
from assistant.index.threads import threads, worker_pool
from assistant.index.tokens import cache_reader, cached_tokens
from assistant.index.vector import FaissVectorStore, carry_allowed, choose_kind, read_sidecar
from assistant.ingest import ParseLimits, check_size, ingest_file_bounded, scan_corpus
from assistant.records import Fact, Report

EXACT_KINDS = ("flat", "ivf", "hnsw")  # vector-index kinds that hold the vectors exactly (carried from a live build)
AUTO_WORKERS_MAX = 4  # parsing processes an automatic build starts at most (each holds its own jieba and parsers)
AUTO_WORKERS_MIN_FILES = 40  # files to parse below which an automatic build parses in its own process
KEEP_OLD_BUILDS = 1  # builds kept beside the live one, for readers that opened them
KEYS_RELATIVE = "relative-to-corpus"  # manifest "document_keys": paths relative to the resolved corpus

# progress(stage, done, total): stage is "解析" (files parsed), "向量化" (new passages embedded; absent when all
# are cached), "写入索引" (steps written) or "写入 Milvus" (rows, Milvus backend); each stage is first
# announced with done=0
Progress = Callable[[str, int, int], None]


@dataclass
class BuildSummary:
    """What a build did, for the CLI and the app to show."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failures: list[IngestError] = field(default_factory=list)
    reports: int = 0
    passages: int = 0
    embedded: int = 0  # passages embedded now (the rest came from the cache)
    embed_seconds: float = 0.0  # time spent embedding (and reading cached vectors)
    seconds: float = 0.0
    build_dir: Path | None = None
    notices: list[str] = field(default_factory=list)  # what the build discarded or repaired, and why
    analysis: AnalysisSummary | None = None  # the stored commitments and checks: reports analysed or carried over

    def line(self) -> str:
        return (
            f"新增 {len(self.added)}，更新 {len(self.updated)}，删除 {len(self.deleted)}，"
            f"未变 {len(self.unchanged)}；失败 {len(self.failures)}；"
            f"共 {self.reports} 份报告、{self.passages} 个段落（新向量化 {self.embedded} 个），"
            f"用时 {self.seconds:.1f} 秒"
        )


# --- the build ------------------------------------------------------------------------------


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory; a second one fails at once with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"另一个构建正在使用索引目录 {index_dir}，请等它完成后再试。"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _file_key(path: Path) -> str:
    """Content hash of a report file and of the sidecars that can change its metadata."""
    digest = hashlib.sha256(path.read_bytes())
    for sidecar in (path.with_name(path.name + ".meta.json"), path.parent / "catalog.csv"):
        if sidecar.is_file():
            digest.update(sidecar.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Carried:
    """A report of the live build whose file has not changed. It is carried by reference: its rows
    are copied in SQL, its vectors and keyword counts taken from the live build's files, and it is
    never decoded."""

    report_id: str
    document: dict[str, Any]  # its manifest entry (file key, title, passages, content hash, ...)
    first: int  # its first vector id in the live build
    count: int  # its passages

    @property
    def content_hash(self) -> str:
        return str(self.document["content_hash"])


@dataclass(frozen=True)
class Live:
    """The live build a rebuild carries unchanged reports from."""

    build_dir: Path
    manifest: dict[str, Any]
    keys: dict[str, str]  # document key -> file key
    carried: dict[str, Carried]  # file key -> its report


def _previous(index_dir: Path, root: Path, notices: list[str]) -> Live | None:
    """The live build, when it can be trusted; otherwise None (the build starts afresh) and a
    notice saying why."""
    if not (index_dir / CURRENT_FILE).exists():
        builds = index_dir / BUILDS_DIR
        if builds.is_dir() and any(not d.name.startswith(".") for d in builds.iterdir()):
            notices.append(f"索引目录 {index_dir} 中有旧的构建但缺少 {CURRENT_FILE}，无法确定哪一个可信，本次从头重建。")
        return None
    try:
        build_dir = live_build_dir(index_dir)
        manifest = read_manifest(build_dir)
        check_manifest(manifest, None)
        _check_live(build_dir)
        documents = manifest["documents"]
        store = Store(build_dir / "store.sqlite", readonly=True)
        try:
            spans = store.spans()
            carried = {}
            for doc in documents.values():
                if doc["report_id"] not in spans or spans[doc["report_id"]][1] != doc["passages"]:
                    continue
                if "content_hash" not in doc:  # a build from before manifests kept it
                    old = store.report(doc["report_id"])
                    if old is None:
                        continue
                    doc = {**doc, "content_hash": _content_hash(old)}
                carried[str(doc["file_key"])] = Carried(str(doc["report_id"]), doc, *spans[doc["report_id"]])
        finally:
            store.close()
        relative = manifest.get("document_keys") == KEYS_RELATIVE
        keys = {_document_key(path, root, relative): str(doc["file_key"]) for path, doc in documents.items()}
    except AssistantError as err:
        notices.append(f"现有索引无法信任，已放弃沿用并从头重建：{err}")
        return None
    except (KeyError, TypeError, AttributeError, ValueError, sqlite3.Error) as err:
        notices.append(f"现有索引内容不完整，已放弃沿用并从头重建：{type(err).__name__}: {err}")
        return None
    return Live(build_dir, manifest, keys, carried)


def _check_live(build_dir: Path) -> None:
    """AssistantError when the live build's database, its report rows or its served files are damaged (the
    database and rows are not read again while the store is as the build that wrote it stamped it)."""
    problem = checked_database_problem(build_dir / "store.sqlite", deeper=_rows_problem)
    if problem:
        raise IndexCorruptError(problem)
    _check_served_files(build_dir)


def _rows_problem(path: Path) -> str | None:
    store = Store(path, readonly=True)
    try:
        return store.rows_problem()
    finally:
        store.close()


def _check_served_files(build_dir: Path) -> None:
    """IndexCorruptError when the live build's keyword or vector file is damaged. A build rewrites
    both anyway; this only lets it say that the served index was broken."""
    if not (build_dir / VECTORS_FILE).exists() and (read_manifest(build_dir).get("store") or {}).get("backend") == "milvus":
        return  # the passage index is a Milvus collection; a rebuild writes a new one anyway
    if (build_dir / KEYWORD_DIR).is_dir():
        KeywordStore.load_index(build_dir / KEYWORD_DIR)
    else:
        KeywordStore.load(build_dir / KEYWORD_FILE)
    vectors = build_dir / VECTORS_FILE
    if not vectors.is_file():
        raise IndexCorruptError(f"向量索引文件 {vectors} 不存在")
    expected = read_sidecar(vectors).get("sha256")
    digest = hashlib.sha256()
    with open(vectors, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise IndexCorruptError(f"向量索引文件 {vectors} 已损坏（校验和不符）")


def _document_key(path: str, root: Path, relative: bool) -> str:
    """A report's key in the manifest: its path relative to the resolved corpus folder, so a relative
    and an absolute --corpus name the same documents. Manifests before KEYS_RELATIVE stored the path
    as given; those keys are resolved against the current folder."""
    if relative:
        return path
    candidate = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    try:
        return candidate.resolve().relative_to(root).as_posix()
    except (ValueError, OSError):
        return path


class Throughput:
    """Items per second and seconds left of one progress stage, from the (done, total) it reports.

    For progress displays: meter = Throughput(); per_second, left = meter.update(done, total).
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first_done: int | None = None

    def update(self, done: int, total: int) -> tuple[float, float | None]:
        if self.first_done is None:
            self.first_done, self.started = done, time.monotonic()
            return 0.0, None
        elapsed = time.monotonic() - self.started
        per_second = (done - self.first_done) / elapsed if elapsed > 0 else 0.0
        left = (total - done) / per_second if per_second > 0 else None
        return per_second, left


def build_index(settings: Settings, progress: Progress | None = None) -> BuildSummary:
    """Build or update the index in settings.index_dir from settings.corpus_dir."""
    started = time.monotonic()
    index_dir = settings.index_dir
    if not settings.corpus_dir.is_dir():
        raise AssistantError(f"报告目录 {settings.corpus_dir} 不存在。请把报告文件放进该目录，或用 --corpus 指定。")
    root = settings.corpus_dir.resolve()
    with build_lock(index_dir), _reported_worker_failure():
        files, refused = scan_corpus([root])
        file_keys: dict[Path, str] = {}  # each file hashed once per build, whichever step needs it first
        unchanged = None if refused else _unchanged_live_build(settings, index_dir, root, files, file_keys, progress)
        if unchanged is not None:
            unchanged.seconds = time.monotonic() - started
            return unchanged
        try:
            summary, build_dir = _build_once(settings, root, files, file_keys, refused, progress)
        except CacheDamagedError as err:  # met while reading it: discard it and build again
            notice = _discard_cache(settings.cache_path, str(err))
            summary, build_dir = _build_once(settings, root, files, file_keys, refused, progress)
            summary.notices.insert(0, notice)
        _publish(settings, build_dir)
        _switch(index_dir, build_dir)
        _prune(index_dir, keep=build_dir.name)
        _prune_backend(settings, index_dir)
    summary.seconds = time.monotonic() - started
    summary.build_dir = build_dir
    return summary


def _build_once(
    settings: Settings, root: Path, files: list[Path], file_keys: dict[Path, str], refused: list[IngestError],
    progress: Progress | None,
) -> tuple[BuildSummary, Path]:
    """Write a new build beside the live one (not yet switched to), with its own worker processes."""
    summary = BuildSummary()
    _remove_leftovers(settings.index_dir, summary.notices)
    live = _previous(settings.index_dir, root, summary.notices)
    summary.failures.extend(refused)
    old_keys = live.keys if live else {}
    summary.deleted.extend(sorted(set(old_keys) - {p.relative_to(root).as_posix() for p in files}))
    with _Workers(worker_count(settings)) as pool:
        build_dir = _commit_build(
            settings, lambda tmp: _write_build(settings, tmp, files, file_keys, root, live, summary, progress, pool)
        )
    return summary, build_dir


def _take_in(
    settings: Settings, files: list[Path], file_keys: dict[Path, str], root: Path, live: Live | None,
    intake: _Intake, summary: BuildSummary, progress: Progress | None, pool: _Workers,
) -> dict[str, dict[str, Any]]:
    """Read every file in corpus order and hand its report to `intake` as soon as it is parsed (or carried
    unchanged from the live build); failed and duplicate files go into summary.failures. Returns the
    manifest's documents."""
    limits = ParseLimits.from_settings(settings)
    old_keys = live.keys if live else {}
    parsed = _parse_in_workers(settings, files, root, old_keys, limits, file_keys, pool)
    documents: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}  # report id and normalised text hash -> document key
    tokenizer = segment.tokenizer_id()
    if progress:
        progress("解析", 0, len(files))
    for done, path in enumerate(files, 1):
        name = path.relative_to(root).as_posix()
        try:
            check_size(path, settings.max_file_bytes)  # before _file_key reads the whole file
            key = file_keys.get(path) or _file_key(path)
            carried = live.carried.get(key) if live and old_keys.get(name) == key else None
            ready = None
            if carried is not None:
                report_id, content = carried.report_id, carried.content_hash
            else:
                ready = parsed.take(name, path) or _prepare(path, limits, intake.cache, tokenizer)
                report_id, content = ready.report.report_id, ready.content_hash
            _check_duplicate(path, report_id, content, seen)
        except IngestError as err:
            summary.failures.append(err)
            continue
        except OSError as err:
            summary.failures.append(IngestError(path, f"无法读取：{err.strerror or err}"))
            continue
        finally:
            if progress:
                progress("解析", done, len(files))
        seen[report_id] = seen[content] = name
        if ready is None:
            assert carried is not None
            intake.carry(carried)
            documents[name] = carried.document
        else:
            report = ready.report
            documents[name] = {"file_key": key, "sha256": report.meta.sha256, "report_id": report.report_id,
                               "title": report.meta.title, "passages": len(report.passages), "content_hash": content}
            intake.add(ready)
        bucket = summary.unchanged if old_keys.get(name) == key else (
            summary.updated if name in old_keys else summary.added)
        bucket.append(name)
    intake.finish()
    return documents


# --- trust and repair: duplicates, leftovers, damaged caches, full disks, durable switching ----


def _content_hash(report: Report) -> str:
    """Hash of the cleaned text with Unicode forms and all white space normalised away: the same
    report saved in another encoding or under another name hashes the same."""
    text = "".join(unicodedata.normalize("NFKC", report.cleaned_text).split())
    return "text:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_duplicate(path: Path, report_id: str, content_hash: str, seen: dict[str, str]) -> None:
    """IngestError when an earlier file of this build has the same bytes or the same text."""
    for mark in (report_id, content_hash):
        if mark in seen:
            raise IngestError(path, f"与 {seen[mark]} 是同一份报告（内容相同），已跳过")


def _remove_leftovers(index_dir: Path, notices: list[str]) -> None:
    """Delete what failed or killed builds left behind. Called under the build lock, so no other
    build can be writing them."""
    builds = index_dir / BUILDS_DIR
    stale = sorted(builds.glob(".tmp-*")) if builds.is_dir() else []
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    (index_dir / (CURRENT_FILE + ".tmp")).unlink(missing_ok=True)
    if stale:
        notices.append(f"已删除 {len(stale)} 个中断的构建留下的临时文件夹。")


def _open_cache(path: Path, notices: list[str]) -> EmbeddingCache:
    """The embedding cache; a damaged one is discarded (its vectors are recomputed), saying so."""
    problem = checked_database_problem(path, table="embeddings") if path.exists() else None
    if problem is None:
        try:
            return EmbeddingCache(path)
        except sqlite3.DatabaseError as err:
            if _is_disk_full(err):
                raise  # a full disk is not a damaged cache: keep it
            problem = str(err)
    notices.append(_discard_cache(path, problem))
    return EmbeddingCache(path)


def _discard_cache(path: Path, problem: str) -> str:
    """Delete a damaged embedding cache (and its journal and stamp); returns the notice that says so."""
    for suffix in ("", "-journal", "-wal", CHECKED_SUFFIX):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return f"嵌入缓存 {path} 已损坏（{problem}），已丢弃，本次重新计算向量。"


def _usable_vectors(found: dict[str, np.ndarray], dim: int) -> dict[str, np.ndarray]:
    """Cached vectors of the right size with finite values; others are recomputed."""
    return {h: v for h, v in found.items() if v.shape == (dim,) and bool(np.isfinite(v).all())}


def _is_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(err, sqlite3.Error):
        return getattr(err, "sqlite_errorcode", None) == 13 or "disk is full" in str(err)  # SQLITE_FULL
    return "No space left on device" in str(err)


def _commit_build(settings: Settings, write: Callable[[Path], None]) -> Path:
    """Run write(tmp folder), make it durable and give it its final name; on any failure remove the
    temporary folder and leave the live index as it was (a full disk gets its own message)."""
    builds = settings.index_dir / BUILDS_DIR
    name = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:8]}"
    tmp_dir = builds / f".tmp-{name}"
    try:
        builds.mkdir(parents=True, exist_ok=True)
        tmp_dir.mkdir()
        write(tmp_dir)
        _fsync_tree(tmp_dir)
        final_dir = builds / name
        os.replace(tmp_dir, final_dir)
        _fsync_dir(builds)
    except BaseException as err:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if _is_disk_full(err) or (err.__cause__ is not None and _is_disk_full(err.__cause__)):
            raise DiskFullError(
                f"磁盘空间不足，无法写入新索引（{err}）。已删除本次未完成的临时文件；现有索引保持不变，"
                f"继续提供服务。请释放 {settings.index_dir.resolve()} 所在磁盘的空间后重新运行 assistant build。"
            ) from err
        if isinstance(err, OSError):
            raise AssistantError(
                f"无法写入索引目录 {settings.index_dir}：{err.strerror or err}。现有索引保持不变。"
            ) from err
        raise
    return final_dir


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_tree(folder: Path) -> None:
    """Flush every file below `folder` and the folders themselves to disk."""
    for here, _, names in os.walk(folder):
        for name in names:
            descriptor = os.open(Path(here) / name, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        _fsync_dir(Path(here))


def _write_build(
    settings: Settings, tmp_dir: Path, files: list[Path], file_keys: dict[Path, str], root: Path, live: Live | None,
    summary: BuildSummary, progress: Progress | None, pool: _Workers,
) -> None:
    """The whole build, in tmp_dir: reports stored as they are parsed, then the analysis, the vectors, the
    passage index and the manifest."""
    encoder = load_encoder(settings.encoder, settings.device, settings.encode_batch)
    settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as closing:
        store = Store(tmp_dir / "store.sqlite")
        closing.callback(store.close)
        old_store = Store(live.build_dir / "store.sqlite", readonly=True) if live else None
        if old_store is not None:
            closing.callback(old_store.close)
        cache = _open_cache(settings.cache_path, summary.notices)  # before the workers read it
        closing.callback(cache.close)
        keywords = KeywordStore() if settings.store == "local" else None
        intake = _Intake(store, old_store, cache, keywords)
        documents = _take_in(settings, files, file_keys, root, live, intake, summary, progress, pool)
        if not documents:
            raise AssistantError(
                f"{settings.corpus_dir} 中没有可以索引的报告（{len(summary.failures)} 个文件解析失败）。"
                "现有索引保持不变。"
            )
        summary.reports, summary.passages = len(documents), intake.next_id
        # the workers analyse while this process gathers the vectors and writes the passage index
        analysis = start_analysis(store, live_store(settings.index_dir), pool.count, pool.executor, cache)
        started = time.monotonic()
        carried = _ivf_to_carry(settings, live, intake, encoder) if keywords is not None else None
        with threads(settings.build_threads):
            if carried is not None:  # only the new passages' vectors: the carried ones stay in the IVF lists
                vectors, summary.embedded = _fresh_vectors(store, intake, encoder, cache, progress,
                                                           settings.encode_batch)
            else:
                vectors, summary.embedded = _vectors(store, intake, live, encoder, cache, progress,
                                                     settings.encode_batch)
        summary.embed_seconds = time.monotonic() - started
        if progress:
            progress("写入索引", 0, 3)
        if keywords is not None and intake.moves:
            _carry_keywords(keywords, live, intake.moves, old_store)
        records = _Records(store, intake.spans, intake.next_id)
        store_entry = write_passage_index(settings, tmp_dir, tmp_dir.name.removeprefix(".tmp-"), records, vectors,
                                          progress=progress, keywords=keywords, carried=carried)
        summary.analysis = analysis.finish()
    stamp_checked(settings.cache_path)  # both closed cleanly after this build's own writes: the next build
    stamp_checked(tmp_dir / "store.sqlite")  # need not read them whole to trust them
    if progress:
        progress("写入索引", 2, 3)
    _write_manifest(tmp_dir, settings, encoder, store_entry, len(documents), intake.next_id, documents, summary)
    if progress:
        progress("写入索引", 3, 3)


class _Intake:
    """Writes the build's reports to its store as they come, in corpus order: carried ones copied in SQL, parsed
    ones inserted with their facts and tokens (the tokens also go into the keyword store, new ones into the
    token cache). Per report it keeps only what the later stages need, so the build holds about its passages'
    vector ids and text hashes, never the parsed corpus."""

    TOKEN_FLUSH = 20_000  # new passages' tokens written to the cache at a time

    def __init__(self, store: Store, old_store: Store | None, cache: EmbeddingCache,
                 keywords: KeywordStore | None) -> None:
        self.store, self.old_store, self.cache, self.keywords = store, old_store, cache, keywords
        self.next_id = 0
        self.spans: list[tuple[str, int, int]] = []  # (report id, first vector id, passages), in vector-id order
        self.moves: list[tuple[int, int, int]] = []  # (first old vector id, count, shift) of carried reports
        self.fresh: dict[str, tuple[int, list[str]]] = {}  # parsed report id -> (first vector id, text hashes)
        self._pending: list[tuple[str, int]] = []  # carried reports not yet copied: (report id, vector-id shift)
        self._unseen: list[tuple[str, list[str]]] = []  # tokens not yet in the cache
        self._tokenizer = segment.tokenizer_id()

    def carry(self, report: Carried) -> None:
        shift = self.next_id - report.first
        self.moves.append((report.first, report.count, shift))
        self._pending.append((report.report_id, shift))
        self.spans.append((report.report_id, self.next_id, report.count))
        self.next_id += report.count

    def add(self, ready: Prepared) -> None:
        self._copy_pending()
        report = ready.report
        first = self.next_id
        self.next_id = self.store.add_report(report, first, ready.body)
        self.store.add_fact_rows(report.report_id, ready.fact_rows)
        self.store.add_tokens(first, ready.tokens)
        if self.keywords is not None:
            self.keywords.add(np.arange(first, self.next_id), ready.tokens)
        self.spans.append((report.report_id, first, self.next_id - first))
        self.fresh[report.report_id] = (first, ready.hashes)
        self._unseen += ready.new_tokens
        if len(self._unseen) >= self.TOKEN_FLUSH:
            self._flush_tokens()

    def finish(self) -> None:
        """Copy the last carried reports, commit, and write the remaining new tokens to the cache."""
        self._copy_pending()
        self.store.commit()
        self._flush_tokens()

    def _copy_pending(self) -> None:
        if self._pending and self.old_store is not None:
            self.store.copy_reports(self.old_store.path, self._pending)
        self._pending = []

    def _flush_tokens(self) -> None:
        if self._unseen:
            self.cache.put_tokens(self._tokenizer, self._unseen)
        self._unseen = []


def _write_manifest(
    tmp_dir: Path, settings: Settings, encoder: Encoder, store_entry: dict[str, Any], reports: int, passages: int,
    documents: dict[str, dict[str, Any]], summary: BuildSummary,
) -> None:
    manifest = {
        "format_version": FORMAT_VERSION,
        "encoder_spec": settings.encoder,
        "encoder_id": encoder.encoder_id,
        "dim": encoder.dim,
        "vector_index": settings.vector_index,
        "store": store_entry,
        "dictionary_hash": segment.dictionary_hash(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": {"reports": reports, "passages": passages},
        "document_keys": KEYS_RELATIVE,
        "documents": documents,
        "failures": [{"file": e.path, "error": str(e)} for e in summary.failures],
    }
    (tmp_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


class _Records(Sequence[PassageRecord]):
    """The build's passages in vector-id order, for the passage-index backend, decoded from the new build's store
    one report at a time, only when asked for (the local backend never asks)."""

    def __init__(self, store: Store, spans: list[tuple[str, int, int]], total: int) -> None:
        self._store = store
        self._ids = [report_id for report_id, _, _ in spans]
        self._starts = [start for _, start, _ in spans]
        self._total = total
        self._decoded: tuple[str, Report] | None = None

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, index: int) -> PassageRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[PassageRecord]: ...

    def __getitem__(self, index: int | slice) -> PassageRecord | list[PassageRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._total))]
        if not 0 <= index < self._total:
            raise IndexError(index)
        slot = bisect.bisect_right(self._starts, index) - 1
        report = self._report(self._ids[slot])
        return PassageRecord(index, report.passages[index - self._starts[slot]], report.meta)

    def _report(self, report_id: str) -> Report:
        if self._decoded is None or self._decoded[0] != report_id:
            self._decoded = (report_id, _stored_report(self._store, report_id))
        return self._decoded[1]


def _stored_report(store: Store, report_id: str) -> Report:
    report = store.report(report_id)
    if report is None:
        raise IndexCorruptError(f"索引中缺少报告 {report_id}。请重新运行 assistant build。")
    return report


def _vectors(
    store: Store, intake: _Intake, live: Live | None, encoder: Encoder, cache: EmbeddingCache,
    progress: Progress | None, batch: int,
) -> tuple[np.ndarray, int]:
    """Every passage's vector, in vector-id order, and how many were embedded now: carried ones read from the
    live build's vector file when it holds them exactly (same encoder), the others from the embedding cache or
    the encoder."""
    vectors = np.empty((intake.next_id, encoder.dim), dtype=np.float32)
    carried = _carried_vectors(live, intake.moves, encoder) if intake.moves else None
    if carried is not None:
        vectors[_carried_rows(intake.moves)] = carried
        spans = [(report_id, start) for report_id, (start, _) in intake.fresh.items()]
    else:  # everything through the cache (a new encoder, a lossy vector index, Milvus)
        spans = [(report_id, start) for report_id, start, _ in intake.spans]

    def hashes_of(report_id: str) -> list[str]:
        own = intake.fresh.get(report_id)
        return own[1] if own else [text_hash(p.embedding_text()) for p in _stored_report(store, report_id).passages]

    rows = ((start + i, report_id, i, key) for report_id, start in spans for i, key in enumerate(hashes_of(report_id)))
    return vectors, _embed_into(vectors, rows, store, encoder, cache, progress, batch)


def _fresh_ids(intake: _Intake) -> np.ndarray:
    spans = [np.arange(first, first + len(hashes)) for first, hashes in intake.fresh.values()]
    return np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)


def _fresh_vectors(
    store: Store, intake: _Intake, encoder: Encoder, cache: EmbeddingCache, progress: Progress | None, batch: int,
) -> tuple[np.ndarray, int]:
    """The vectors of the passages parsed now, in the order of _fresh_ids, and how many were embedded now."""
    vectors = np.empty((sum(len(hashes) for _, hashes in intake.fresh.values()), encoder.dim), dtype=np.float32)
    keyed = ((report_id, i, key) for report_id, (_, hashes) in intake.fresh.items() for i, key in enumerate(hashes))
    rows = ((row, report_id, i, key) for row, (report_id, i, key) in enumerate(keyed))
    return vectors, _embed_into(vectors, rows, store, encoder, cache, progress, batch)


def _ivf_to_carry(settings: Settings, live: Live | None, intake: _Intake, encoder: Encoder) -> CarriedVectors | None:
    """The live build's IVF index, loaded (and checked) to be carried into this build, when this build gets an IVF
    index too, of the same encoder, and changes few enough vectors (vector.IVF_CARRY_SHARE); else None, and the
    index is trained afresh."""
    if live is None or not intake.moves or live.manifest.get("encoder_id") != encoder.encoder_id \
            or live.manifest.get("dim") != encoder.dim:
        return None
    if choose_kind(settings.vector_index, intake.next_id, settings.vector_auto_threshold) != "ivf":
        return None
    path = live.build_dir / VECTORS_FILE
    ids = _fresh_ids(intake)
    try:
        if not carry_allowed(read_sidecar(path), intake.next_id, len(ids)):
            return None
        with threads(settings.build_threads):
            index = FaissVectorStore.load(path)
    except (AssistantError, RuntimeError, OSError):
        return None
    return CarriedVectors(index, intake.moves, ids) if index.kind == "ivf" and index.dim == encoder.dim else None


def _embed_into(
    vectors: np.ndarray, rows: Iterator[tuple[int, str, int, str]], store: Store, encoder: Encoder,
    cache: EmbeddingCache, progress: Progress | None, batch: int, lookup: int = 4096,
) -> int:
    """Fill vectors[row] for each (row, report id, passage index, text hash): from the cache in chunks, then each
    missing text embedded once (its text decoded from the store) and cached. Returns how many were embedded."""
    missing: dict[str, list[int]] = {}  # text hash -> rows, in first-row order
    where: dict[str, tuple[str, int]] = {}  # text hash -> (report id, passage index) of its text
    while chunk := list(itertools.islice(rows, lookup)):
        found = _usable_vectors(cache.get_many(encoder.encoder_id, [key for *_, key in chunk]), encoder.dim)
        for row, report_id, index, key in chunk:
            vector = found.get(key)
            if vector is not None:
                vectors[row] = vector
            else:
                missing.setdefault(key, []).append(row)
                where.setdefault(key, (report_id, index))
    if not missing:
        return 0
    if progress:
        progress("向量化", 0, len(missing))
    keys = list(missing)
    decoded: tuple[str, Report] | None = None
    for start in range(0, len(keys), batch):
        chunk_keys = keys[start : start + batch]
        texts = []
        for key in chunk_keys:
            report_id, index = where[key]
            if decoded is None or decoded[0] != report_id:
                decoded = (report_id, _stored_report(store, report_id))
            texts.append(decoded[1].passages[index].embedding_text())
        encoded = encoder.encode_documents(texts)
        cache.put_many(encoder.encoder_id, zip(chunk_keys, encoded, strict=True))
        for key, vector in zip(chunk_keys, encoded, strict=True):
            vectors[missing[key]] = vector
        if progress:
            progress("向量化", min(start + batch, len(keys)), len(keys))
    return len(keys)


def _carried_rows(moves: list[tuple[int, int, int]]) -> np.ndarray:
    """The new vector ids of carried passages, in the order of their old ids per move."""
    if not moves:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(first + shift, first + shift + count) for first, count, shift in moves])


def _carried_vectors(live: Live | None, moves: list[tuple[int, int, int]], encoder: Encoder) -> np.ndarray | None:
    """The carried passages' vectors from the live build's FAISS file (already checked against its
    checksum), or None when that file does not hold them exactly for this encoder."""
    if live is None or live.manifest.get("encoder_id") != encoder.encoder_id or live.manifest.get("dim") != encoder.dim:
        return None
    path = live.build_dir / VECTORS_FILE
    try:
        if read_sidecar(path).get("kind") not in EXACT_KINDS:
            return None
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        if read_sidecar(path).get("kind") == "ivf":  # IVF-flat lists hold full vectors; reconstructing needs the map
            faiss.extract_index_ivf(index).make_direct_map()
        keys = np.concatenate([np.arange(first, first + count) for first, count, _ in moves])
        found: np.ndarray = index.reconstruct_batch(keys)
    except (AssistantError, RuntimeError, OSError):
        return None
    return found.astype(np.float32, copy=False) if found.shape == (len(keys), encoder.dim) else None


def _carry_keywords(
    keywords: KeywordStore, live: Live | None, moves: list[tuple[int, int, int]], old_store: Store | None
) -> None:
    """Add the carried passages to the local backend's keyword store: as the live build's term counts or, for an
    index saved before those were kept, as their stored tokens."""
    if live is not None and (live.build_dir / KEYWORD_DIR).is_dir() and keywords.add_carried(
            live.build_dir / KEYWORD_DIR, moves):
        return
    if old_store is not None:
        keywords.add(_carried_rows(moves), old_store.carried_tokens(moves))


# --- work proportional to change: no-change builds, carried facts and tokens, parallel parsing --


@dataclass(frozen=True)
class Prepared:
    """A report ready to store (made in a worker process, or in the build's own): with its fact warnings, its
    passages' tokens and text hashes, its stored JSON, its facts' (table, JSON) rows and its content hash, so the
    main process only inserts."""

    report: Report
    tokens: list[list[str]]
    hashes: list[str]  # text_hash of each passage's embedding text (the embedding cache's key)
    body: str
    fact_rows: list[tuple[str, str]]
    content_hash: str
    new_tokens: list[tuple[str, list[str]]]  # (text hash, tokens) of passages the token cache did not hold


def _unchanged_live_build(
    settings: Settings, index_dir: Path, root: Path, files: list[Path], file_keys: dict[Path, str],
    progress: Progress | None = None,
) -> BuildSummary | None:
    """The live build's summary when nothing it was built from or with has changed, else None. The files' keys it
    computes go into `file_keys`."""
    try:
        build_dir = live_build_dir(index_dir)
        manifest = read_manifest(build_dir)
        check_manifest(manifest, settings.encoder)
        if manifest.get("document_keys") != KEYS_RELATIVE:
            return None
    except (AssistantError, OSError, sqlite3.Error):
        return None
    entry = manifest.get("store") or {"backend": "local"}
    if (manifest.get("failures") or manifest.get("vector_index") != settings.vector_index
            or entry.get("backend") != settings.store):
        return None
    built_kind, passages = entry.get("vector_index"), int(manifest.get("counts", {}).get("passages", 0))
    if built_kind and built_kind != choose_kind(settings.vector_index, passages, settings.vector_auto_threshold):
        return None  # e.g. the automatic choice's threshold moved past this corpus's size
    documents: dict[str, dict[str, Any]] = manifest.get("documents", {})
    names = {path.relative_to(root).as_posix(): path for path in files}
    if set(documents) != set(names):
        return None
    if progress:
        progress("解析", 0, len(names))
    for done, (name, path) in enumerate(names.items(), 1):
        try:
            check_size(path, settings.max_file_bytes)
            file_keys[path] = _file_key(path)
            if file_keys[path] != documents[name]["file_key"]:
                return None
            if progress:
                progress("解析", done, len(names))
        except (IngestError, OSError):
            return None
    if not _trusted(settings, build_dir):
        return None  # a real build repairs and says what it discarded
    counts = manifest.get("counts", {})
    return BuildSummary(unchanged=sorted(documents), reports=int(counts.get("reports", 0)),
                        passages=int(counts.get("passages", 0)), build_dir=build_dir)


def _trusted(settings: Settings, build_dir: Path) -> bool:
    """Whether the live build's database, served files and the embedding cache read cleanly."""
    try:
        _check_live(build_dir)
        if settings.cache_path.exists() and checked_database_problem(settings.cache_path, table="embeddings"):
            return False
    except (AssistantError, OSError, ValueError, sqlite3.Error):
        return False
    return True


def _prepare(path: Path, limits: ParseLimits, cache: EmbeddingCache | None, tokenizer: str) -> Prepared:
    """Parse one file, extract its facts and tokenise its passages (tokens of passages seen before come from the
    cache); IngestError when the file cannot be parsed."""
    report, facts = _with_facts(ingest_file_bounded(path, limits))
    tokens, hashes, new = cached_tokens([p.embedding_text() for p in report.passages], cache, tokenizer)
    return Prepared(report, tokens, hashes, to_json(report), [(f.table, to_json(f)) for f in facts],
                    _content_hash(report), new)


def _prepare_files(
    paths: list[Path], limits: ParseLimits, cache_path: Path, tokenizer: str
) -> list[Prepared | tuple[type[IngestError], str]]:
    """_prepare for a few files, in a worker process (which reads the build cache; only the main process writes
    it); a file's IngestError comes back as (its type, its detail)."""
    results: list[Prepared | tuple[type[IngestError], str]] = []
    for path in paths:
        try:
            results.append(_prepare(path, limits, cache_reader(cache_path), tokenizer))
        except IngestError as err:
            results.append((type(err), err.detail))
    return results


def worker_count(settings: Settings) -> int:
    """The build's processes for parsing and analysis: settings.workers, or for 0 one per core, at most
    AUTO_WORKERS_MAX."""
    return settings.workers or min(os.cpu_count() or 1, AUTO_WORKERS_MAX)


@contextmanager
def _reported_worker_failure() -> Iterator[None]:
    """A worker process that died (the kernel's out-of-memory killer, a signal) as an error the CLI and the app
    show; the temporary build is already removed and the live index untouched."""
    try:
        yield
    except BrokenProcessPool as err:
        raise AssistantError(
            "建立索引的工作进程意外退出（可能因内存不足被系统终止）。现有索引保持不变；"
            "请关闭其他占用内存的程序，或用 --workers 1 重试。"
        ) from err


class _Workers:
    """The build's worker processes (spawned, so each imports the assistant afresh), started when first asked for
    and shared by the parsing and the analysis, stopped when the build ends."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None

    def executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = worker_pool(self.count)
        return self._pool

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _Parsed:
    """Files parsed in the build's worker processes, handed over in corpus order as the build asks for them. A
    few chunks of files are in flight at a time, so a parsed report waits in memory only until it is stored."""

    CHUNK = 4  # files per task
    AHEAD = 4  # tasks in flight per worker

    def __init__(self, pool: _Workers | None = None, todo: Sequence[Path] = (), root: Path = Path(),
                 task: tuple[Any, ...] = ()) -> None:
        self._pool, self._root, self._task = pool, root, task
        self._chunks = iter([list(todo[i : i + self.CHUNK]) for i in range(0, len(todo), self.CHUNK)])
        self._todo = {path.relative_to(root).as_posix() for path in todo}
        self._running: deque[tuple[list[Path], Future[list[Prepared | tuple[type[IngestError], str]]]]] = deque()
        self._ready: deque[tuple[str, Prepared | tuple[type[IngestError], str]]] = deque()
        if pool is not None:
            for _ in range(pool.count * self.AHEAD):
                self._submit()

    def _submit(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is not None and self._pool is not None:
            self._running.append((chunk, self._pool.executor().submit(_prepare_files, chunk, *self._task)))

    def take(self, name: str, path: Path) -> Prepared | None:
        """The report a worker parsed for document `name`, or its error raised here; None when it was not given to
        the workers. Results of files the build skipped before asking are dropped."""
        if name not in self._todo:
            return None
        while True:
            if not self._ready:
                chunk, future = self._running.popleft()
                results = future.result()
                self._submit()
                self._ready.extend(zip((p.relative_to(self._root).as_posix() for p in chunk), results, strict=True))
            done, result = self._ready.popleft()
            if done == name:
                break
        if isinstance(result, Prepared):
            return result
        error_type, detail = result
        raise error_type(path, detail)


def _parse_in_workers(
    settings: Settings, files: list[Path], root: Path, old_keys: dict[str, str], limits: ParseLimits,
    file_keys: dict[Path, str], pool: _Workers,
) -> _Parsed:
    """With more than one worker: start parsing the new and changed files in that many processes (keyed by
    document key, the path relative to the corpus); the files' keys go into `file_keys`. settings.workers 0 means
    one process per core (at most AUTO_WORKERS_MAX) when at least AUTO_WORKERS_MIN_FILES files need parsing:
    each worker starts its own Python, jieba and parsers (about 2 s), which only pays off on many files."""
    if pool.count <= 1:
        return _Parsed()
    todo = []
    for path in files:
        try:
            check_size(path, settings.max_file_bytes)
            file_keys[path] = file_keys.get(path) or _file_key(path)
            if old_keys.get(path.relative_to(root).as_posix()) != file_keys[path]:
                todo.append(path)
        except (IngestError, OSError):
            continue  # the main loop reports it
    if len(todo) < 2 or (settings.workers == 0 and len(todo) < AUTO_WORKERS_MIN_FILES):
        return _Parsed()
    return _Parsed(pool, todo, root, (limits, settings.cache_path, segment.tokenizer_id()))


# --- the passage-index backend (local files or Milvus), see index/backends.py -----------------


def _publish(settings: Settings, build_dir: Path) -> None:
    """Publish the new build's backend data (Milvus: alias swap) before CURRENT points at it."""
    publish_passage_index(settings, read_manifest(build_dir).get("store") or {"backend": "local"})


def _prune_backend(settings: Settings, index_dir: Path) -> None:
    """Drop backend data of builds that _prune removed (and of killed builds)."""
    kept = []
    for folder in (index_dir / BUILDS_DIR).iterdir():
        if folder.is_dir() and not folder.name.startswith(".tmp-"):
            try:
                kept.append(read_manifest(folder).get("store") or {})
            except AssistantError:
                continue
    prune_passage_indexes(settings, kept)


def _with_facts(report: Report) -> tuple[Report, list[Fact]]:
    """The report's table facts, and the report with the fact warnings added to its own."""
    facts, warnings = extract_facts(report)
    known = set(report.warnings)
    extra = tuple(w for w in warnings if w not in known)
    return (dataclasses.replace(report, warnings=report.warnings + extra) if extra else report), facts


def _switch(index_dir: Path, build_dir: Path) -> None:
    """Point CURRENT at the new (already flushed) build: temporary file, fsync, one atomic rename,
    fsync of the folder, so a power cut leaves CURRENT naming the old build or the new one."""
    tmp = index_dir / (CURRENT_FILE + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(build_dir.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, index_dir / CURRENT_FILE)
        _fsync_dir(index_dir)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        what = "磁盘空间不足" if _is_disk_full(err) else (err.strerror or str(err))
        raise (DiskFullError if _is_disk_full(err) else AssistantError)(
            f"无法切换到新索引（{what}）。现有索引保持不变，继续提供服务；请处理后重新运行 assistant build。"
        ) from err


def _prune(index_dir: Path, keep: str) -> None:
    """Remove unfinished builds and all but the newest old ones."""
    builds = index_dir / BUILDS_DIR
    for stale in builds.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = sorted((d for d in builds.iterdir() if d.is_dir() and d.name != keep), key=lambda d: d.stat().st_mtime)
    for folder in old[: max(0, len(old) - KEEP_OLD_BUILDS)]:
        shutil.rmtree(folder, ignore_errors=True)
