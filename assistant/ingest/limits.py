"""Parse limits: the caps every loader checks before it allocates, and the worker's time and memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.config import Settings


@dataclass(frozen=True)
class ParseLimits:
    """How much one report file may cost to parse; each field has an ASSISTANT_* setting."""

    max_file_bytes: int = 50 * 1024 * 1024  # ASSISTANT_MAX_FILE_MB
    timeout_s: float = 60.0  # ASSISTANT_PARSE_TIMEOUT: wall time of one file's parse
    memory_mb: int = 1024  # ASSISTANT_PARSE_MEMORY_MB: address space the parse may add
    max_unpacked_bytes: int = 200 * 1024 * 1024  # ASSISTANT_MAX_UNPACKED_MB: a DOCX unpacked
    max_table_cells: int = 100_000  # ASSISTANT_MAX_TABLE_CELLS: grid slots (rows x columns) of one table
    max_span: int = 1000  # ASSISTANT_MAX_SPAN: rowspan / colspan / gridSpan of one cell

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        return cls(
            max_file_bytes=settings.max_file_bytes,
            timeout_s=settings.parse_timeout,
            memory_mb=settings.parse_memory_mb,
            max_unpacked_bytes=int(settings.max_unpacked_mb * 1024 * 1024),
            max_table_cells=settings.max_table_cells,
            max_span=settings.max_span,
        )


class OverLimit(Exception):
    """Raised by a loader over a limit; ingest_file turns it into LimitExceededError naming the file."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


_DEFAULT = ParseLimits()
_CURRENT: ContextVar[ParseLimits | None] = ContextVar("parse_limits", default=None)


def current() -> ParseLimits:
    """The limits of the parse under way (the defaults outside `using`)."""
    return _CURRENT.get() or _DEFAULT


@contextmanager
def using(limits: ParseLimits) -> Iterator[None]:
    """Make `limits` the ones the loaders check, for the duration of the block."""
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def check_span(span: int) -> int:
    """The span itself; OverLimit above max_span."""
    limit = current().max_span
    if span > limit:
        raise OverLimit(f"单元格跨度 {span} 超过上限 {limit}（ASSISTANT_MAX_SPAN）")
    return span


def check_cells(cells: int) -> None:
    """OverLimit when a table grid would have more than max_table_cells slots."""
    limit = current().max_table_cells
    if cells > limit:
        raise OverLimit(f"表格单元格数 {cells} 超过上限 {limit}（ASSISTANT_MAX_TABLE_CELLS）")


def check_unpacked(what: str, size: int) -> None:
    """OverLimit when a packed part would unpack to more than max_unpacked_bytes."""
    limit = current().max_unpacked_bytes
    if size > limit:
        raise OverLimit(
            f"{what}解压后 {size / 1048576:.1f} MB，超过上限 {limit / 1048576:.0f} MB（ASSISTANT_MAX_UNPACKED_MB）"
        )
