"""Open each build once per process, shared by the server's start-up preload and every app session."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # the assistant stack is imported on first open, in the caller's thread
    from assistant.api import Assistant
    from assistant.config import Settings

_LOG = logging.getLogger(__name__)
MAX_BUILDS = 3  # as the app's st.cache_resource(max_entries=3): the live build and a couple switched out


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class OpenOnce(Generic[K, V]):
    """Values opened at most once per key and kept for the last `max_entries` keys used.

    A caller asking for a key whose open is under way waits for it and gets the same value; an open
    that raises is not remembered, so the next caller (or a waiting one) tries again."""

    def __init__(self, opener: Callable[[K], V], max_entries: int = MAX_BUILDS) -> None:
        self._opener = opener
        self._max_entries = max_entries
        self._lock = threading.Lock()  # guards the two dicts below
        self._opened: OrderedDict[K, V] = OrderedDict()
        self._opening: dict[K, threading.Lock] = {}  # one lock per key, held while it is being opened

    def get(self, key: K) -> V:
        """The value for `key`, opened now, or by the open another thread has under way, or earlier."""
        with self._lock:
            if key in self._opened:
                self._opened.move_to_end(key)
                return self._opened[key]
            key_lock = self._opening.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._opened:  # opened while this caller waited
                    self._opened.move_to_end(key)
                    return self._opened[key]
            value = self._opener(key)  # an exception leaves nothing behind: the next caller retries
            with self._lock:
                self._opened[key] = value
                while len(self._opened) > self._max_entries:
                    self._opened.popitem(last=False)
                self._opening.pop(key, None)
            return value

    def keys(self) -> list[K]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._opened)


_Key = tuple[Path, str, "Settings"]


def _open(key: _Key) -> Assistant:
    from assistant.api import Assistant

    index_dir, _build_name, settings = key
    return Assistant.open(index_dir, settings)


_SHARED: OpenOnce[_Key, Assistant] = OpenOnce(_open)


def open_shared(index_dir: Path, build_name: str, settings: Settings) -> Assistant:
    """The Assistant over the live build `build_name` of `index_dir`, opened once per process: a call
    while another thread opens the same build waits for that open; a failed open raises and is retried
    by the next call. A rebuild switched in has another name, so it is opened anew."""
    return _SHARED.get((Path(index_dir), build_name, settings))


def preload(settings: Settings) -> threading.Thread:
    """Start opening the live build of settings.index_dir in a daemon thread that ends once the index's
    warm-up (encoder, jieba, keyword model) is done. Errors are logged and otherwise dropped: the app
    meets the same problem when a visitor comes and shows it there."""
    thread = threading.Thread(target=_preload, args=(settings,), name="assistant-preload", daemon=True)
    thread.start()
    return thread


def _preload(settings: Settings) -> None:
    try:
        from assistant.index.layout import live_build_dir

        build_name = live_build_dir(settings.index_dir).name
        assistant = open_shared(settings.index_dir, build_name, settings)
        assistant.retriever.wait_until_warm()
    except Exception as err:  # the app reports it to the visitor
        _LOG.warning("启动时未能预先打开索引 %s：%s", settings.index_dir, err)
