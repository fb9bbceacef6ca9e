"""Chat and search assistant over government information disclosure annual reports."""

from __future__ import annotations

__version__ = "0.1.0"
