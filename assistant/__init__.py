"""Chat and search assistant over government information disclosure annual reports."""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`from assistant import Assistant` without importing the heavy stack at package import."""
    if name == "Assistant":
        from assistant.api import Assistant

        return Assistant
    raise AttributeError(name)
