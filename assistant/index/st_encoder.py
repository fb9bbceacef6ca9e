"""Encoder backed by a local sentence-transformers model (the only sentence_transformers user)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import AssistantError
from assistant.index.encoding import ST_PREFIX, ProgressCallback, encode_in_batches

# Query instruction of the bge-*-zh models (used when the model ships no "query" prompt).
BGE_ZH_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："


def _go_offline() -> None:
    """Nothing may be downloaded at run time; also keep library progress bars quiet."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _load_model(name_or_path: str, device: str = "cpu") -> Any:
    _go_offline()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise AssistantError(
            "未安装 sentence-transformers，无法使用该嵌入模型。请安装：pip install 'assistant[st]'"
        ) from exc
    is_local = Path(name_or_path).expanduser().exists()
    try:
        return SentenceTransformer(
            str(Path(name_or_path).expanduser()) if is_local else name_or_path,
            device=device,
            local_files_only=True,
        )
    except Exception as exc:  # the library raises OSError, ValueError, FileNotFoundError ...
        if is_local:
            raise AssistantError(f"无法从本地路径加载嵌入模型 {name_or_path}：{exc}") from exc
        raise AssistantError(
            f"嵌入模型 {name_or_path} 在本地不可用（离线运行，不会下载）。"
            f"请传入已下载模型的本地目录：--encoder {ST_PREFIX}/path/to/model"
        ) from exc


class SentenceTransformerEncoder:
    """A sentence-transformers model on `device` ("cpu", "cuda", "cuda:1", "mps"); uses the model's
    own query/document prompts. The device does not change the vectors' format or encoder id."""

    def __init__(self, name_or_path: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.name_or_path = name_or_path
        self.encoder_id = ST_PREFIX + name_or_path
        self.batch_size = batch_size
        self.device = device
        self._model = _load_model(name_or_path, device)
        # get_embedding_dimension since sentence-transformers 6, the older name before
        get_dim = getattr(self._model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            dim = int(np.asarray(self._model.encode(["dimension probe"])).shape[-1])
        self.dim = int(dim)
        self._prompts: dict[str, str] = dict(getattr(self._model, "prompts", None) or {})
        name = name_or_path.lower()
        self._query_prompt: str | None = None
        if not self._prompts.get("query") and "bge" in name and "zh" in name:
            self._query_prompt = BGE_ZH_QUERY_INSTRUCTION
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        options: dict[str, Any] = {
            "batch_size": self.batch_size,
            "normalize_embeddings": True,
            "convert_to_numpy": True,
            "show_progress_bar": False,
            "device": self.device,
        }
        if is_query and self._query_prompt is not None:
            options["prompt"] = self._query_prompt
        encode = getattr(self._model, "encode_query" if is_query else "encode_document", None)
        if encode is None:  # sentence-transformers < 5: pick the prompt by name ourselves
            encode = self._model.encode
            names = ("query",) if is_query else ("document", "passage", "corpus")
            prompt_name = next((n for n in names if self._prompts.get(n)), None)
            if prompt_name is not None and "prompt" not in options:
                options["prompt_name"] = prompt_name
        with self._lock:
            return np.asarray(encode(texts, **options), dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return encode_in_batches(lambda batch: self._encode(batch, True), texts, self.dim, self.batch_size)

    def encode_documents(self, texts: Sequence[str], on_batch: ProgressCallback | None = None) -> np.ndarray:
        return encode_in_batches(
            lambda batch: self._encode(batch, False), texts, self.dim, self.batch_size, on_batch
        )
