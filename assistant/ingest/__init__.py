"""Ingestion: report files (txt, HTML, PDF, DOCX) to Report records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.errors import IngestError
from assistant.records import Report

SUPPORTED_SUFFIXES = (".txt", ".html", ".htm", ".pdf", ".docx")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def ingest_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Report:
    """Parse one report file; raises an IngestError subclass naming the file and reason."""
    raise NotImplementedError


def corpus_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into the report files below them (sidecars excluded), sorted."""
    raise NotImplementedError


def iter_ingest(
    paths: Iterable[str | Path], max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[Path, Report | IngestError]]:
    """Ingest every file, yielding (path, report) or (path, error); never stops at a bad file."""
    raise NotImplementedError
