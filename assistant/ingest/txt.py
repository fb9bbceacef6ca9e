"""Plain-text loader: lines as paragraphs, collapsed pipe tables recovered into grids."""

from __future__ import annotations

from pathlib import Path

from assistant.ingest.blocks import Block, LoadedDocument
from assistant.ingest.decode import decode_bytes
from assistant.ingest.pipes import find_pipe_tables


def load_txt(path: str | Path, data: bytes) -> LoadedDocument:
    """Decode a text file and split it into line blocks and recovered tables."""
    text, _ = decode_bytes(data, path)
    blocks: list[Block] = []
    pos = 0
    for start, end, table in find_pipe_tables(text):
        blocks.extend(text[pos:start].splitlines())
        blocks.append(table)
        pos = end
    blocks.extend(text[pos:].splitlines())
    return LoadedDocument(blocks=blocks)
