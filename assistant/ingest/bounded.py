"""Bounded parsing: one report file parsed in a worker process under time and memory limits."""

from __future__ import annotations

import multiprocessing
import resource
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from assistant.errors import CorruptFileError, IngestError, LimitExceededError
from assistant.ingest.limits import ParseLimits, using
from assistant.records import Report

_PAGE = resource.getpagesize()
_context: BaseContext | None = None
_context_lock = threading.Lock()


@dataclass(frozen=True)
class ParseOutcome:
    """What one bounded parse gave: the report or the error, its wall time and the worker's peak memory."""

    report: Report | None
    error: IngestError | None
    seconds: float
    peak_mb: float | None  # resident peak of the worker; None when it was killed


def _worker_context() -> BaseContext:
    """A forkserver context whose server has the parsers imported once (fast, thread-safe forks)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["assistant.ingest"])
            _context = context
        return _context


def _address_space() -> int:
    """Bytes of address space this process maps now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[0]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _memory_error(path: str, limits: ParseLimits) -> LimitExceededError:
    return LimitExceededError(path, f"解析所需内存超过上限 {limits.memory_mb} MB（ASSISTANT_PARSE_MEMORY_MB）")


def _parse_in_worker(conn: Connection, path: str, limits: ParseLimits) -> None:
    """Worker body: cap the address space, parse, send ("ok", report) or ("error", IngestError)."""
    from assistant.ingest import ingest_file

    extra = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + extra, resource.RLIM_INFINITY))
    message: tuple[str, Any, float] | None = None
    out_of_memory = False
    try:
        with using(limits):
            report = ingest_file(path, limits.max_file_bytes)
        message = ("ok", report, _peak_mb())
    except MemoryError:
        out_of_memory = True  # handled below, once the traceback and its big frames are gone
    except IngestError as err:
        message = ("error", err, _peak_mb())
    except Exception as err:  # a parser bug must not stop the other files
        message = ("error", CorruptFileError(path, f"解析时出现意外错误 {type(err).__name__}: {err}"), _peak_mb())
    if out_of_memory:
        message = ("error", _memory_error(path, limits), _peak_mb())
    try:
        conn.send(message)
    except MemoryError:
        conn.send(("error", _memory_error(path, limits), _peak_mb()))
    conn.close()


def parse_bounded(path: str | Path, limits: ParseLimits) -> ParseOutcome:
    """Parse one file in a worker process under `limits`; never raises for a bad file."""
    started = time.monotonic()
    name = str(path)
    context = _worker_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_parse_in_worker, args=(sender, name, limits), daemon=True)  # type: ignore[attr-defined]
    process.start()
    sender.close()
    error: IngestError | None = None
    report: Report | None = None
    peak: float | None = None
    try:
        if receiver.poll(limits.timeout_s):
            try:
                status, payload, peak = receiver.recv()
            except (EOFError, OSError):  # the worker died without a word: killed, or crashed
                process.join(5)
                error = LimitExceededError(
                    name,
                    f"解析进程异常退出（退出码 {process.exitcode}），可能超过内存上限 {limits.memory_mb} MB"
                    "（ASSISTANT_PARSE_MEMORY_MB）",
                )
            else:
                if status == "ok":
                    report = payload
                else:
                    error = payload
        else:
            error = LimitExceededError(name, f"解析超过时间上限 {limits.timeout_s:g} 秒（ASSISTANT_PARSE_TIMEOUT）")
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    return ParseOutcome(report, error, time.monotonic() - started, peak)


def ingest_file_bounded(path: str | Path, limits: ParseLimits | None = None) -> Report:
    """ingest_file in a worker process under `limits` (default ParseLimits()); raises the IngestError
    the parse gave, a LimitExceededError naming the limit for a file over one."""
    outcome = parse_bounded(path, limits or ParseLimits())
    if outcome.error is not None:
        raise outcome.error
    assert outcome.report is not None
    return outcome.report
