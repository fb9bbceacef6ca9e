"""Keyword tokens of texts, read from the build cache where it holds them (keyed by tokenizer id and text hash)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant import segment
from assistant.index.store import EmbeddingCache, text_hash

NewTokens = list[tuple[str, list[str]]]  # (text hash, tokens) computed now, for the cache


def cached_tokens(
    texts: Sequence[str], cache: EmbeddingCache | None, tokenizer: str
) -> tuple[list[list[str]], list[str], NewTokens]:
    """The texts' tokens (from the cache where it holds them, segmented now where not, all of them when the cache
    cannot be read: the build discards a damaged cache once it meets it itself), their text hashes, and the (text
    hash, tokens) pairs computed now. A token that recurs is one string object (tokens pickled from a worker then
    carry each word once, and the build holds them once)."""
    hashes = [text_hash(t) for t in texts]
    try:
        found = cache.tokens_many(tokenizer, hashes) if cache is not None else {}
    except sqlite3.Error:
        found = {}
    new: NewTokens = []
    for key, text in zip(hashes, texts, strict=True):
        if key not in found:
            found[key] = segment.tokenize(text)
            new.append((key, found[key]))
    return [[sys.intern(token) for token in found[key]] for key in hashes], hashes, new


class CachedTokenizer:
    """texts -> their tokens through the cache (cached_tokens); what it segments is kept in `new` for the process
    that writes the cache."""

    def __init__(self, cache: EmbeddingCache | None, tokenizer: str) -> None:
        self.cache, self.tokenizer = cache, tokenizer
        self.new: NewTokens = []

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        tokens, _, new = cached_tokens(texts, self.cache, self.tokenizer)
        self.new += new
        return tokens


_readers: dict[str, EmbeddingCache | None] = {}  # a worker process's read-only cache, opened once


def cache_reader(path: Path) -> EmbeddingCache | None:
    """The cache at path opened read-only, once per process (None when it is missing or cannot be opened)."""
    if str(path) not in _readers:
        try:
            _readers[str(path)] = EmbeddingCache(path, readonly=True) if path.is_file() else None
        except sqlite3.Error:
            _readers[str(path)] = None
    return _readers[str(path)]
