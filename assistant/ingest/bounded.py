"""Bounded parsing: one report file parsed in a worker process under time and memory limits.

A small parse server (a fresh interpreter with the parsers imported and warmed once, see main()) forks a worker
that parses file after file. For each file the worker caps its address space and CPU time with `resource` limits,
counted from where it stands, and sends back the pickled Report or IngestError; it ends itself after a failed
parse and now and then otherwise, so no file is parsed by a worker that has seen a bad one. The server enforces
the wall-time limit, kills a worker over it, forks a fresh one for the next file and always answers. The caller's
own process (the CLI, the app server with its threads) never parses and never forks.
"""

from __future__ import annotations

import itertools
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


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _work(path: str, limits: ParseLimits) -> tuple[bool, bytes]:
    """Parse under the limits, counted from now: (whether it parsed, the pickled ("ok", report, peak) or
    ("error", IngestError, peak))."""
    from assistant.ingest import ingest_file

    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + limits.memory_mb * 1024 * 1024, resource.RLIM_INFINITY))
    cpu = math.ceil(_cpu_seconds() + limits.timeout_s) + 5  # CPU time <= wall time: only a worker nobody times out
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))  # meets it (SIGXCPU ends the worker)
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
            return message[0] == "ok", pickle.dumps(message)
    except MemoryError:
        pass
    return False, pickle.dumps(("error", _memory_error(path, limits), _peak_mb()))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_KEEP, _LAST = b"k", b"x"  # a worker's answer is followed by more answers, or it is its last
RECYCLE_AFTER = 64  # files a worker parses before it exits and the server forks a fresh one


def _worker_loop(requests: IO[bytes], replies: int) -> None:
    """A forked worker: parse the files the server sends, one answer each, until it ends itself (after a
    failed parse, after RECYCLE_AFTER files, or grown by half its memory limit) or the server closes the pipe."""
    start = _address_space()
    for served in itertools.count(1):
        try:
            path, limits = pickle.load(requests)
        except EOFError:
            return
        parsed, answer = _work(path, limits)
        last = not parsed or served >= RECYCLE_AFTER or _address_space() - start > limits.memory_mb * 2**19
        _write_all(replies, (_LAST if last else _KEEP) + len(answer).to_bytes(8, "big") + answer)
        if last:
            return


class _Worker:
    """The server's handle on one forked worker: its pid and the two pipes."""

    def __init__(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(request_write)
            os.close(reply_read)
            try:
                _worker_loop(os.fdopen(request_read, "rb"), reply_write)
            finally:
                os._exit(0)
        os.close(request_read)
        os.close(reply_write)
        self.pid, self.requests, self.replies = pid, request_write, reply_read

    def _read(self, size: int, deadline: float) -> bytes | None:
        """`size` bytes of the reply, or None when the deadline passed (None, too, with fewer at end of file)."""
        chunks: list[bytes] = []
        while size > 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                return None
            chunk = os.read(self.replies, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def ask(self, path: str, limits: ParseLimits) -> tuple[bytes | None, bool]:
        """(the answer or None when the worker timed out or died, whether the worker is still there)."""
        try:
            _write_all(self.requests, pickle.dumps((path, limits)))
        except OSError:  # it had died
            return None, False
        deadline = time.monotonic() + limits.timeout_s
        head = self._read(9, deadline)
        if head is None:
            return None, False
        answer = self._read(int.from_bytes(head[1:], "big"), deadline)
        return answer, answer is not None and head[:1] == _KEEP

    def end(self, kill: bool) -> int:
        """Stop the worker (killed, or left to exit on the closed pipe) and return its exit status."""
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        os.close(self.requests)
        os.close(self.replies)
        return os.waitpid(self.pid, 0)[1]


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"信号 {os.WTERMSIG(status)}"
    return f"退出码 {os.waitstatus_to_exitcode(status)}"


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The parse server's loop: (path, limits) pickles in, one answer pickle out per request, until EOF.
    A worker parses file after file; one that timed out or died is replaced by a fresh fork."""
    worker: _Worker | None = None
    while True:
        try:
            path, limits = pickle.load(requests)
        except EOFError:
            if worker is not None:
                worker.end(kill=False)
            return
        worker = worker or _Worker()
        started = time.monotonic()
        answer, kept = worker.ask(path, limits)
        if not kept:
            status = worker.end(kill=answer is None)
            worker = None
        if answer is None:
            error: IngestError
            if time.monotonic() - started >= limits.timeout_s:
                error = LimitExceededError(path, f"解析超过时间上限 {limits.timeout_s:g} 秒（ASSISTANT_PARSE_TIMEOUT）")
            else:  # died without a word: killed by the kernel (memory, CPU) or crashed
                error = LimitExceededError(
                    path, f"解析进程异常退出（{_exit_text(status)}），可能超过内存上限 {limits.memory_mb} MB"
                    "（ASSISTANT_PARSE_MEMORY_MB）",
                )
            answer = pickle.dumps(("error", error, None))
        replies.write(len(answer).to_bytes(8, "big") + answer)
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
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a parser prints goes to stderr, never into the replies (the warm-up's included)
    _warm_up()
    try:
        serve(sys.stdin.buffer, replies)
    except BrokenPipeError:  # the caller went away
        pass
