"""The Encoder interface and the batching and normalisation every encoder backend shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

ProgressCallback = Callable[[int, int], None]

ST_PREFIX = "sentence-transformers:"


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 rows of shape (n, dim); (0, dim) for no texts."""

    encoder_id: str  # recorded in the index manifest; a different id means re-embedding
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(
        self, texts: Sequence[str], on_batch: ProgressCallback | None = None
    ) -> np.ndarray: ...


def normalize_rows(vectors: Any, dim: int) -> np.ndarray:
    """Float32, C-contiguous, shape (n, dim), each non-zero row scaled to unit length."""
    array = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def encode_in_batches(
    encode: Callable[[list[str]], Any],
    texts: Sequence[str],
    dim: int,
    batch_size: int,
    on_batch: ProgressCallback | None = None,
) -> np.ndarray:
    """Apply `encode` to slices of `texts`, reporting (done, total) after each slice."""
    total = len(texts)
    parts: list[np.ndarray] = []
    for start in range(0, total, batch_size):
        batch = list(texts[start : start + batch_size])
        parts.append(normalize_rows(encode(batch), dim))
        if on_batch is not None:
            on_batch(start + len(batch), total)
    if not parts:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
