"""Opening a build once per process (assistant/web/preload.py): the locking, then a real index."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.index.layout import CURRENT_FILE, live_build_dir
from assistant.web.preload import OpenOnce, open_shared, preload

# --- the locking logic, with an opener that counts its calls ---------------------------------


class Opener:
    """Counts opens per key; the first open of a key can be held until released, or made to fail."""

    def __init__(self, fail_first: bool = False, hold: bool = False) -> None:
        self.calls: list[str] = []
        self.fail_first = fail_first
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, key: str) -> object:
        self.calls.append(key)
        self.entered.set()
        assert self.release.wait(10)
        if self.fail_first and len(self.calls) == 1:
            raise OSError("index unreadable")
        return object()


def _in_thread(shared: OpenOnce[str, object], key: str, out: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            out.append(shared.get(key))
        except OSError as err:
            out.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_blocked(thread: threading.Thread) -> None:
    """Give a started thread time to reach the open in progress and wait on it."""
    time.sleep(0.2)
    assert thread.is_alive()


def test_two_callers_at_once_open_once_and_share_the_value() -> None:
    opener = Opener(hold=True)
    shared: OpenOnce[str, object] = OpenOnce(opener)
    first: list[object] = []
    second: list[object] = []
    a = _in_thread(shared, "build-1", first)
    assert opener.entered.wait(10)
    b = _in_thread(shared, "build-1", second)
    _wait_blocked(b)  # waits for a's open instead of opening again
    opener.release.set()
    a.join(10)
    b.join(10)
    assert opener.calls == ["build-1"]
    assert first[0] is second[0]
    assert shared.get("build-1") is first[0]  # and later callers get it too, without an open
    assert opener.calls == ["build-1"]


def test_a_caller_does_not_wait_for_another_build() -> None:
    opener = Opener(hold=True)
    shared: OpenOnce[str, object] = OpenOnce(opener)
    first: list[object] = []
    a = _in_thread(shared, "old", first)
    assert opener.entered.wait(10)
    opener.release.set()
    assert shared.get("new") is not None
    a.join(10)
    assert sorted(opener.calls) == ["new", "old"]


def test_a_failed_open_is_not_kept_and_the_next_caller_opens_again() -> None:
    opener = Opener(fail_first=True)
    shared: OpenOnce[str, object] = OpenOnce(opener)
    with pytest.raises(OSError):
        shared.get("build-1")
    assert shared.keys() == []
    value = shared.get("build-1")
    assert opener.calls == ["build-1", "build-1"]
    assert shared.get("build-1") is value


def test_a_caller_waiting_on_an_open_that_fails_opens_itself() -> None:
    opener = Opener(fail_first=True, hold=True)
    shared: OpenOnce[str, object] = OpenOnce(opener)
    first: list[object] = []
    second: list[object] = []
    a = _in_thread(shared, "build-1", first)
    assert opener.entered.wait(10)
    b = _in_thread(shared, "build-1", second)
    _wait_blocked(b)
    opener.release.set()
    a.join(10)
    b.join(10)
    assert isinstance(first[0], OSError)
    assert not isinstance(second[0], OSError)
    assert opener.calls == ["build-1", "build-1"]


def test_only_the_builds_used_last_are_kept() -> None:
    opener = Opener()
    shared: OpenOnce[str, object] = OpenOnce(opener, max_entries=2)
    a = shared.get("a")
    shared.get("b")
    assert shared.get("a") is a  # a used again: b is now the oldest
    shared.get("c")
    assert shared.keys() == ["a", "c"]
    shared.get("b")
    assert opener.calls == ["a", "b", "c", "b"]


# --- a real index, real encoder ---------------------------------------------------------------


@pytest.fixture
def index_copy(seed_index: Path, tmp_path: Path) -> Path:
    """A private copy of the seed index, so a build can be switched in without touching the shared one."""
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy, ignore=shutil.ignore_patterns("cache.sqlite*"))
    return copy


def test_preload_opens_and_warms_the_live_build_that_the_app_then_reuses(index_copy: Path) -> None:
    settings = Settings(index_dir=index_copy)
    thread = preload(settings)
    assert thread.daemon
    thread.join(120)
    assert not thread.is_alive()
    build_name = live_build_dir(index_copy).name
    assistant = open_shared(index_copy, build_name, settings)
    assert assistant is open_shared(index_copy, build_name, Settings(index_dir=index_copy))
    assert assistant.build_id == build_name
    retriever = assistant.retriever
    assert retriever._encoder is not None and retriever._span_table.loaded  # warmed before any question
    answer = assistant.ask("龙泉市2020年办理了多少件政府信息公开申请？")
    assert answer.found and "15" in answer.text


def test_a_build_switched_in_later_is_opened_anew(index_copy: Path) -> None:
    settings = Settings(index_dir=index_copy)
    preload(settings).join(120)
    old_name = live_build_dir(index_copy).name
    old = open_shared(index_copy, old_name, settings)
    new_name = old_name + "-rebuilt"
    shutil.copytree(index_copy / "builds" / old_name, index_copy / "builds" / new_name)
    (index_copy / CURRENT_FILE).write_text(new_name, encoding="utf-8")
    new = open_shared(index_copy, live_build_dir(index_copy).name, settings)
    assert new is not old
    assert (old.build_id, new.build_id) == (old_name, new_name)
    assert open_shared(index_copy, old_name, settings) is old  # still kept for sessions mid-answer


def test_preload_of_a_missing_index_logs_and_leaves_the_error_to_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(index_dir=tmp_path / "no-index")
    with caplog.at_level(logging.WARNING, logger="assistant.web.preload"):
        thread = preload(settings)
        thread.join(30)
    assert not thread.is_alive()
    assert any(str(settings.index_dir) in r.getMessage() for r in caplog.records)
