"""Background index rebuilds for the app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.errors import AssistantError


@dataclass
class BuildJob:
    """One index rebuild running in a background thread; read by the staff page while it runs."""

    stage: str = ""
    done: int = 0
    total: int = 0
    running: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    summary_line: str = ""
    failures: list[str] = field(default_factory=list)
    error: str = ""
    queued: Callable[[Callable[[str, int, int], None]], Any] | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, stage: str, done: int, total: int) -> None:
        with self.lock:
            self.stage, self.done, self.total = stage, done, total

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "stage": self.stage, "done": self.done, "total": self.total, "running": self.running,
                "finished_at": self.finished_at, "summary_line": self.summary_line, "failures": list(self.failures),
                "error": self.error, "queued": self.queued is not None,
                "seconds": (self.finished_at or time.monotonic()) - self.started_at if self.started_at else 0.0,
            }

    def start(self, build: Callable[[Callable[[str, int, int], None]], Any]) -> bool:
        """Run build(progress) in a thread; False when a build is already running."""
        return self._launch(build, queue=False)

    def request(self, build: Callable[[Callable[[str, int, int], None]], Any]) -> bool:
        """Run build now, or right after the running build (which may have read the corpus before a change).

        True when it started now; several requests during one build make one more build.
        """
        return self._launch(build, queue=True)

    def _launch(self, build: Callable[[Callable[[str, int, int], None]], Any], queue: bool) -> bool:
        with self.lock:
            if self.running:
                if queue:
                    self.queued = build
                return False
            self._begin()
        threading.Thread(target=self._run, args=(build,), name="index-build", daemon=True).start()
        return True

    def _begin(self) -> None:
        self.running, self.stage, self.done, self.total = True, "准备", 0, 0
        self.summary_line, self.error, self.failures = "", "", []
        self.started_at, self.finished_at = time.monotonic(), 0.0

    def _run(self, build: Callable[[Callable[[str, int, int], None]], Any]) -> None:
        while True:
            summary_line, failures, error = "", [], ""
            try:
                summary = build(self.progress)
                summary_line = summary.line()
                failures = [str(f) for f in getattr(summary, "failures", [])]
            except AssistantError as err:
                error = str(err)
            except Exception as err:  # shown to staff instead of dying silently in the thread
                error = f"重建索引时出现意外错误 {type(err).__name__}: {err}"
            with self.lock:
                if self.queued is not None:  # the corpus changed while this build ran: build again
                    build, self.queued = self.queued, None
                    self._begin()
                    continue
                self.summary_line, self.failures, self.error = summary_line, failures, error
                self.running, self.finished_at = False, time.monotonic()
                return
