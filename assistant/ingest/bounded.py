"""Bounded parsing: one report file parsed in a worker process under time and memory limits.

A small parse server (a fresh interpreter with the parsers imported once, see main()) forks one worker per file. The worker caps its address space and CPU time
with `resource` limits and sends back the pickled Report or IngestError; the server enforces the
wall-time limit, kills a worker over it and always answers. The caller's own process (the CLI, the
app server with its threads) never parses and never forks.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from assistant.errors import CorruptFileError, IngestError, LimitExceededError
from assistant.ingest.limits import ParseLimits, using
from assistant.records import Report

_PAGE = resource.getpagesize()


@dataclass(frozen=True)
class ParseOutcome:
    """What one bounded parse gave: the report or the error, its wall time and the worker's peak memory."""

    report: Report | None
    error: IngestError | None
    seconds: float
    peak_mb: float | None  # resident peak of the worker; None when it was killed


# --- the worker (a forked child of the server) ----------------------------------------------


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


def _work(path: str, limits: ParseLimits) -> bytes:
    """Parse under the limits; the pickled ("ok", report, peak) or ("error", IngestError, peak)."""
    from assistant.ingest import ingest_file

    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + limits.memory_mb * 1024 * 1024, resource.RLIM_INFINITY))
    cpu = math.ceil(limits.timeout_s) + 5  # CPU time <= wall time: only a worker nobody times out meets it
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    message: tuple[str, Any, float] | None = None  # stays None after a MemoryError
    try:
        with using(limits):
            report = ingest_file(path, limits.max_file_bytes)
        message = ("ok", report, _peak_mb())
    except MemoryError:
        pass  # answered below, once the traceback and its big frames are gone
    except IngestError as err:
        message = ("error", err, _peak_mb())
    except Exception as err:  # a parser bug must not stop the other files
        message = ("error", CorruptFileError(path, f"解析时出现意外错误 {type(err).__name__}: {err}"), _peak_mb())
    try:
        if message is not None:
            return pickle.dumps(message)
    except MemoryError:
        pass
    return pickle.dumps(("error", _memory_error(path, limits), _peak_mb()))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _run_worker(path: str, limits: ParseLimits) -> bytes:
    """Fork a worker for one file and collect its answer within the time limit (server side)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_end)
        try:
            _write_all(write_end, _work(path, limits))
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + limits.timeout_s
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                timed_out = True
                break
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        error: IngestError = LimitExceededError(
            path, f"解析超过时间上限 {limits.timeout_s:g} 秒（ASSISTANT_PARSE_TIMEOUT）"
        )
        return pickle.dumps(("error", error, None))
    if not chunks:  # died without a word: killed by the kernel (memory, CPU) or crashed
        error = LimitExceededError(
            path, f"解析进程异常退出（{_exit_text(status)}），可能超过内存上限 {limits.memory_mb} MB"
            "（ASSISTANT_PARSE_MEMORY_MB）",
        )
        return pickle.dumps(("error", error, None))
    return b"".join(chunks)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"信号 {os.WTERMSIG(status)}"
    return f"退出码 {os.waitstatus_to_exitcode(status)}"


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The parse server's loop: (path, limits) pickles in, one answer pickle out per request, until EOF."""
    while True:
        try:
            path, limits = pickle.load(requests)
        except EOFError:
            return
        reply = _run_worker(path, limits)
        replies.write(len(reply).to_bytes(8, "big") + reply)
        replies.flush()


# --- the caller's side -----------------------------------------------------------------------


class _Server:
    """One parse server per calling process, started on first use, restarted if it dies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from assistant.ingest.bounded import main; main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                start_new_session=True,  # a Ctrl-C meant for the CLI reaches it through the closed pipe
            )
        return self.process

    def ask(self, path: str, limits: ParseLimits) -> tuple[str, Any, float | None]:
        with self.lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(pickle.dumps((path, limits)))
                process.stdin.flush()
                size = int.from_bytes(_read_exactly(process.stdout, 8), "big")
                answer: tuple[str, Any, float | None] = pickle.loads(_read_exactly(process.stdout, size))
            except (OSError, EOFError, pickle.UnpicklingError) as err:
                process.kill()
                process.wait()
                self.process = None
                error = CorruptFileError(path, f"解析服务进程意外退出（{type(err).__name__}），请重试")
                return ("error", error, None)
            return answer


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("parse server closed its output")
    return data


_server = _Server()


def parse_bounded(path: str | Path, limits: ParseLimits) -> ParseOutcome:
    """Parse one file in a worker process under `limits`; never raises for a bad file."""
    started = time.monotonic()
    status, payload, peak = _server.ask(str(path), limits)
    seconds = time.monotonic() - started
    if status == "ok":
        return ParseOutcome(payload, None, seconds, peak)
    return ParseOutcome(None, payload, seconds, peak)


def ingest_file_bounded(path: str | Path, limits: ParseLimits | None = None) -> Report:
    """ingest_file in a worker process under `limits` (default ParseLimits()); raises the IngestError
    the parse gave, a LimitExceededError naming the limit for a file over one."""
    outcome = parse_bounded(path, limits or ParseLimits())
    if outcome.error is not None:
        raise outcome.error
    assert outcome.report is not None
    return outcome.report


_WARM_UP_TEXT = (
    "某县人民政府办公室2020年政府信息公开工作年度报告\n一、总体情况\n本年度主动公开信息100条。\n"
    "二、主动公开政府信息情况\n| 信息内容 | 本年制发件数 | 本年废止件数 | 现行有效件数 |\n| 规章 | 0 | 0 | 0 |\n"
    "三、收到和处理政府信息公开申请情况\n本年新收政府信息公开申请12件。\n四、政府信息公开行政复议、行政诉讼情况\n"
    "五、存在的主要问题及改进情况\n一是公开不够及时。2021年将加强培训。\n六、其他需要报告的事项\n无。\n"
)


def _warm_up() -> None:
    """Parse a small made-up report in each text format once, so the regexes, lexicons and converters that
    parsers set up on first use are ready before the server forks (every worker would redo them), then
    freeze the heap so the workers' garbage collector does not copy the server's pages."""
    import gc
    import tempfile

    from assistant.ingest import ingest_file

    with tempfile.TemporaryDirectory(prefix="assistant-warm-") as folder:
        text = Path(folder, "warm.txt")
        text.write_text(_WARM_UP_TEXT, encoding="utf-8")
        page = Path(folder, "warm.html")
        rows = "".join(f"<p>{line}</p>" for line in _WARM_UP_TEXT.splitlines() if not line.startswith("|"))
        page.write_text(f"<html><body>{rows}<table><tr><td>规章</td><td>0</td></tr></table></body></html>",
                        encoding="utf-8")
        for path in (text, page):
            try:
                ingest_file(path)
            except (IngestError, OSError):
                pass  # only the side effects matter
    gc.freeze()


def main() -> None:
    """Entry point of the parse server process."""
    _warm_up()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a parser prints goes to stderr, never into the replies
    try:
        serve(sys.stdin.buffer, replies)
    except BrokenPipeError:  # the caller went away
        pass
