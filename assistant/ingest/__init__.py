"""Ingestion: report files (txt, HTML, PDF, DOCX) to Report records."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from assistant.errors import (
    CorruptFileError,
    EmptyFileError,
    FileTooLargeError,
    IngestError,
    LimitExceededError,
    UnsupportedFormatError,
)
from assistant.ingest.blocks import LoadedDocument
from assistant.ingest.docx import load_docx
from assistant.ingest.html import load_html
from assistant.ingest.limits import OverLimit, ParseLimits
from assistant.ingest.meta import is_sidecar, read_sidecars
from assistant.ingest.pdf import load_pdf
from assistant.ingest.report import build_report
from assistant.ingest.sections import has_content
from assistant.ingest.txt import load_txt
from assistant.records import Report

SUPPORTED_SUFFIXES = (".txt", ".html", ".htm", ".pdf", ".docx")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

Loader = Callable[[Path, bytes], LoadedDocument]
_LOADERS: dict[str, tuple[str, Loader]] = {
    ".txt": ("txt", load_txt),
    ".html": ("html", load_html),
    ".htm": ("html", load_html),
    ".pdf": ("pdf", load_pdf),
    ".docx": ("docx", load_docx),
}

__all__ = ["DEFAULT_MAX_BYTES", "SUPPORTED_SUFFIXES", "ParseLimits", "check_size", "corpus_files", "ingest_file",
           "ingest_file_bounded", "iter_ingest", "scan_corpus"]


def check_size(path: Path, max_bytes: int) -> int:
    """The file's size; FileTooLargeError over the limit, before anything reads the file."""
    size = path.stat().st_size
    if size > max_bytes:
        raise FileTooLargeError(path, f"{size} 字节，上限 {max_bytes} 字节")
    return size


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        if not path.is_file():
            raise IngestError(path, "文件不存在或不是普通文件")
        size = check_size(path, max_bytes)
        if size == 0:
            raise EmptyFileError(path, "0 字节")
        return path.read_bytes()
    except OSError as err:
        raise IngestError(path, f"无法读取：{err.strerror or err}") from err


def ingest_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """Parse one report file; raises an IngestError subclass naming the file and reason."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _LOADERS:
        raise UnsupportedFormatError(path, f"扩展名为“{suffix or '（无）'}”")
    fmt, loader = _LOADERS[suffix]
    data = _read(path, max_bytes)
    try:
        doc = loader(path, data)
    except RecursionError as err:
        raise CorruptFileError(path, "结构嵌套过深") from err
    except OverLimit as err:
        raise LimitExceededError(path, err.detail) from None
    overrides, problems = read_sidecars(path)
    doc.notes.extend(problems)
    try:
        report = build_report(
            doc, source_file=str(path), fmt=fmt, sha256=hashlib.sha256(data).hexdigest(), overrides=overrides
        )
    except OverLimit as err:
        raise LimitExceededError(path, err.detail) from None
    if not has_content(report.cleaned_text):
        raise EmptyFileError(path, "去除网页框架后没有正文")
    return report


def scan_corpus(paths: Iterable[str | Path]) -> tuple[list[Path], list[IngestError]]:
    """Expand folders into the report files below them (sidecars and hidden files excluded), sorted;
    plus a warning for each symbolic link under a folder that points outside it (not followed)."""
    found: set[Path] = set()
    refused: list[IngestError] = []
    for path in map(Path, paths):
        if not path.is_dir():
            if not is_sidecar(path):
                found.add(path)
            continue
        root = path.resolve()
        for folder, dirs, names in os.walk(path):  # does not descend into linked folders
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in [*dirs, *names]:
                child = here / name
                if name.startswith(".") or not child.is_symlink():
                    continue
                target = child.resolve()
                if not target.is_relative_to(root):
                    refused.append(IngestError(child, f"是指向报告目录以外（{target}）的符号链接，未读取"))
                elif target.is_dir():
                    refused.append(IngestError(child, "是指向文件夹的符号链接，未读取（请直接放入报告目录）"))
            for name in names:
                child = here / name
                if name.startswith(".") or is_sidecar(child) or not child.is_file():
                    continue
                if child.is_symlink() and not child.resolve().is_relative_to(root):
                    continue
                found.add(child)
    return sorted(found), refused


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """The report files of scan_corpus, without its warnings."""
    return scan_corpus(paths)[0]


def iter_ingest(
    paths: Iterable[str | Path], max_bytes: int = DEFAULT_MAX_BYTES, limits: ParseLimits | None = None
) -> Iterator[tuple[Path, Report | IngestError]]:
    """Ingest every file under the parse limits (default: ParseLimits with max_bytes), yielding
    (path, report) or (path, error); never stops at a bad file."""
    limits = limits or ParseLimits(max_file_bytes=max_bytes)
    for path in corpus_files(paths):
        try:
            yield path, ingest_file_bounded(path, limits)
        except IngestError as err:
            yield path, err
        except Exception as err:  # a parser bug must not stop the other files
            yield path, CorruptFileError(path, f"解析时出现意外错误 {type(err).__name__}: {err}")


from assistant.ingest.bounded import ingest_file_bounded  # noqa: E402  (uses ingest_file above)
