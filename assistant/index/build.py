"""Index builds: incremental, written beside the live index and switched in atomically."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant import segment
from assistant.analyse.facts import extract_facts
from assistant.config import Settings
from assistant.errors import (
    AssistantError,
    IndexLockedError,
    IngestError,
)
from assistant.index.backends import (
    PassageRecord,
    prune_passage_indexes,
    publish_passage_index,
    write_passage_index,
)
from assistant.index.encoders import Encoder, load_encoder
from assistant.index.layout import (
    BUILDS_DIR,
    CURRENT_FILE,
    FORMAT_VERSION,
    check_manifest,
    live_build_dir,
    read_manifest,
)
from assistant.index.store import EmbeddingCache, Store, text_hash
from assistant.ingest import check_size, corpus_files, ingest_file
from assistant.records import Fact, Passage, Report

KEEP_OLD_BUILDS = 1  # builds kept beside the live one, for readers that opened them

# progress(stage, done, total): stage is "解析" (parsing), "向量化" (embedding) or "写入" (Milvus rows)
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
    seconds: float = 0.0
    build_dir: Path | None = None

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


def _previous(index_dir: Path) -> tuple[dict[str, str], dict[str, Report]]:
    """(source file -> file key, file key -> report) of the live build, if it is compatible."""
    try:
        build_dir = live_build_dir(index_dir)
        manifest = read_manifest(build_dir)
        check_manifest(manifest, None)
    except AssistantError:
        return {}, {}
    documents: dict[str, dict[str, Any]] = manifest.get("documents", {})
    store = Store(build_dir / "store.sqlite", readonly=True)
    try:
        by_id = {r.report_id: r for r in store.reports()}
    finally:
        store.close()
    keys = {path: doc["file_key"] for path, doc in documents.items()}
    reports = {doc["file_key"]: by_id[doc["report_id"]] for doc in documents.values() if doc["report_id"] in by_id}
    return keys, reports


def _embed(
    passages: list[Passage], encoder: Encoder, cache: EmbeddingCache, progress: Progress | None
) -> tuple[np.ndarray, int]:
    texts = [p.embedding_text() for p in passages]
    hashes = [text_hash(t) for t in texts]
    cached = cache.get_many(encoder.encoder_id, hashes)
    missing = sorted({h: i for i, h in enumerate(hashes) if h not in cached}.values())
    if missing:
        batch = 32
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            vectors = encoder.encode_documents([texts[i] for i in chunk])
            cache.put_many(encoder.encoder_id, ((hashes[i], v) for i, v in zip(chunk, vectors, strict=True)))
            cached.update({hashes[i]: v for i, v in zip(chunk, vectors, strict=True)})
            if progress:
                progress("向量化", min(start + batch, len(missing)), len(missing))
    matrix = np.stack([cached[h] for h in hashes]) if hashes else np.zeros((0, encoder.dim), np.float32)
    return matrix.astype(np.float32), len(missing)


def build_index(settings: Settings, progress: Progress | None = None) -> BuildSummary:
    """Build or update the index in settings.index_dir from settings.corpus_dir."""
    started = time.monotonic()
    index_dir = settings.index_dir
    if not settings.corpus_dir.is_dir():
        raise AssistantError(f"报告目录 {settings.corpus_dir} 不存在。请把报告文件放进该目录，或用 --corpus 指定。")
    with build_lock(index_dir):
        old_keys, old_reports = _previous(index_dir)
        files = corpus_files([settings.corpus_dir])
        summary = BuildSummary()
        reports: list[Report] = []
        documents: dict[str, dict[str, Any]] = {}
        seen_ids: dict[str, str] = {}
        for done, path in enumerate(files, 1):
            name = str(path)
            try:
                check_size(path, settings.max_file_bytes)  # before _file_key reads the whole file
                key = _file_key(path)
                report = old_reports.get(key) if old_keys.get(name) == key else None
                if report is None:
                    report = ingest_file(path, settings.max_file_bytes)
                if report.report_id in seen_ids:
                    raise IngestError(path, f"与 {seen_ids[report.report_id]} 内容相同，已跳过")
            except IngestError as err:
                summary.failures.append(err)
                continue
            finally:
                if progress:
                    progress("解析", done, len(files))
            seen_ids[report.report_id] = name
            reports.append(report)
            documents[name] = {"file_key": key, "sha256": report.meta.sha256, "report_id": report.report_id,
                               "title": report.meta.title, "passages": len(report.passages)}
            bucket = summary.unchanged if old_keys.get(name) == key else (
                summary.updated if name in old_keys else summary.added)
            bucket.append(name)
        summary.deleted.extend(sorted(set(old_keys) - {str(p) for p in files}))
        if not reports:
            raise AssistantError(
                f"{settings.corpus_dir} 中没有可以索引的报告（{len(summary.failures)} 个文件解析失败）。"
                "现有索引保持不变。"
            )
        build_dir = _write_build(settings, reports, documents, summary, progress)
        _publish(settings, build_dir)
        _switch(index_dir, build_dir)
        _prune(index_dir, keep=build_dir.name)
        _prune_backend(settings, index_dir)
    summary.reports = len(reports)
    summary.passages = sum(len(r.passages) for r in reports)
    summary.seconds = time.monotonic() - started
    summary.build_dir = build_dir
    return summary


def _write_build(
    settings: Settings,
    reports: list[Report],
    documents: dict[str, dict[str, Any]],
    summary: BuildSummary,
    progress: Progress | None,
) -> Path:
    builds = settings.index_dir / BUILDS_DIR
    builds.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%d-%H%M%S") + f"-{uuid.uuid4().hex[:8]}"
    tmp_dir = builds / f".tmp-{name}"
    tmp_dir.mkdir()
    encoder = load_encoder(settings.encoder)
    store = Store(tmp_dir / "store.sqlite")
    next_id = 0
    passages: list[Passage] = []
    for report in reports:
        report, facts = _with_facts(report)
        next_id = store.add_report(report, next_id)
        store.add_facts(facts)
        passages.extend(report.passages)
    store.commit()
    store.close()
    settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(settings.cache_path)
    try:
        vectors, embedded = _embed(passages, encoder, cache, progress)
    finally:
        cache.close()
    summary.embedded = embedded
    store_entry = _write_passage_index(settings, tmp_dir, name, reports, passages, vectors, progress)
    manifest = {
        "format_version": FORMAT_VERSION,
        "encoder_spec": settings.encoder,
        "encoder_id": encoder.encoder_id,
        "dim": encoder.dim,
        "vector_index": settings.vector_index,
        "store": store_entry,
        "dictionary_hash": segment.dictionary_hash(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": {"reports": len(reports), "passages": len(passages)},
        "documents": documents,
        "failures": [{"file": e.path, "error": str(e)} for e in summary.failures],
    }
    (tmp_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    final_dir = builds / name
    os.replace(tmp_dir, final_dir)
    return final_dir


# --- the passage-index backend (local files or Milvus), see index/backends.py -----------------


def _write_passage_index(
    settings: Settings, tmp_dir: Path, build_name: str, reports: list[Report], passages: list[Passage],
    vectors: np.ndarray, progress: Progress | None,
) -> dict[str, Any]:
    metas = {r.report_id: r.meta for r in reports}
    records = [PassageRecord(i, p, metas[p.report_id]) for i, p in enumerate(passages)]
    return write_passage_index(settings, tmp_dir, build_name, records, vectors, progress=progress)


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
    """Point CURRENT at the new build with one atomic rename."""
    tmp = index_dir / (CURRENT_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(build_dir.name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)


def _prune(index_dir: Path, keep: str) -> None:
    """Remove unfinished builds and all but the newest old ones."""
    builds = index_dir / BUILDS_DIR
    for stale in builds.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    old = sorted((d for d in builds.iterdir() if d.is_dir() and d.name != keep), key=lambda d: d.stat().st_mtime)
    for folder in old[: max(0, len(old) - KEEP_OLD_BUILDS)]:
        shutil.rmtree(folder, ignore_errors=True)
