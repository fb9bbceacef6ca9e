"""Milvus passage index (the only pymilvus user): one collection per build, published by an alias.

Each build writes a new collection `<alias>_<build name>` with the passages as rows: the vector
id as primary key, scalar fields for filtering (report_id, agency, year, section), the dense
vector, and the text with Milvus's BM25 function and jieba analyzer filling a sparse field. When
the collection is complete the alias is switched to it and collections of builds no longer kept
are dropped, so a reader never sees a half-built index. A reader queries the collection named in
its build's manifest (not the alias), so its SQLite rows and its collection always match.

The same code runs against Milvus Lite (URI = a local file path, in-process) and against a
Milvus server (URI = http://host:19530).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant import segment
from assistant.config import Settings
from assistant.errors import AssistantError, IndexCorruptError
from assistant.index.backends import Allowed, PassageIndex, PassageRecord, Scope, allowed_array

if TYPE_CHECKING:
    from pymilvus import MilvusClient

LITE_FILE = "milvus.db"
WRITE_STAGE = "写入 Milvus"
INSERT_BATCH = 1000
TEXT_MAX_BYTES = 65_535
HNSW_PARAMS = {"M": 32, "efConstruction": 80}
_REBUILD = "请重新建立索引：assistant build"

_clients: dict[str, MilvusClient] = {}
_clients_lock = threading.Lock()


def milvus_uri(settings: Settings) -> str:
    """The configured URI; a Milvus Lite file in the index folder by default."""
    uri = settings.milvus_uri or str(settings.index_dir / LITE_FILE)
    if "://" in uri:
        return uri
    return str(Path(uri).expanduser().resolve())


def client_for(uri: str) -> MilvusClient:
    """One client per URI per process (Milvus Lite allows one process per file)."""
    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:
                raise AssistantError(
                    "未安装 pymilvus，无法使用 Milvus 后端。请安装：pip install 'assistant[milvus]'"
                ) from exc
            if "://" not in uri:
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                client = MilvusClient(uri)
            except Exception as exc:  # pymilvus raises MilvusException, lite raises its own on the lock
                raise AssistantError(
                    f"无法连接 Milvus（{uri}）：{exc}。Milvus Lite 文件同一时间只能由一个进程打开；"
                    "服务器地址请检查 ASSISTANT_MILVUS_URI。"
                ) from exc
            _clients[uri] = client
        return client


def analyzer_params() -> dict[str, Any]:
    """jieba in exact mode with the project's domain terms, as segment.tokenize cuts."""
    return {"tokenizer": {"type": "jieba", "dict": ["_default_", *segment.user_words()], "mode": "exact",
                          "hmm": True}}


def index_text(text: str) -> str:
    """The text Milvus analyses: normalised like segment.tokenize does before cutting."""
    return segment.normalize(text).lower()


def _clip(text: str) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= TEXT_MAX_BYTES else data[:TEXT_MAX_BYTES].decode("utf-8", "ignore")


def collection_name(settings: Settings, build_name: str) -> str:
    return f"{settings.milvus_collection}_{build_name}".replace("-", "_").replace(".", "_")


def _schema(client: MilvusClient, dim: int) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("passage_id", DataType.VARCHAR, max_length=256)
    schema.add_field("report_id", DataType.VARCHAR, max_length=256)
    schema.add_field("agency", DataType.VARCHAR, max_length=512)
    schema.add_field("year", DataType.INT64)  # 0 when the report's year is unknown
    schema.add_field("section", DataType.VARCHAR, max_length=64)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                     analyzer_params=analyzer_params())
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def write_collection(
    settings: Settings, build_name: str, records: Sequence[PassageRecord], vectors: np.ndarray,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Create and fill this build's collection; returns the manifest's "store" entry.
    progress("写入 Milvus", done, total) is called after creating it and after each batch."""
    uri = milvus_uri(settings)
    client = client_for(uri)
    name = collection_name(settings, build_name)
    dim = int(vectors.shape[1])
    if client.has_collection(name):
        client.drop_collection(name)
    index_params = client.prepare_index_params()
    if settings.vector_index == "hnsw":
        index_params.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW_PARAMS)
    else:
        index_params.add_index("dense", index_type="FLAT", metric_type="IP")
    index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=_schema(client, dim), index_params=index_params)
    if progress:
        progress(WRITE_STAGE, 0, len(records))
    for start in range(0, len(records), INSERT_BATCH):
        rows = [
            {
                "id": r.vector_id, "passage_id": r.passage.passage_id, "report_id": r.passage.report_id,
                "agency": r.meta.agency, "year": int(r.meta.year or 0), "section": r.passage.section,
                "text": _clip(index_text(r.passage.embedding_text())),
                "dense": vectors[start + offset].tolist(),
            }
            for offset, r in enumerate(records[start : start + INSERT_BATCH])
        ]
        client.insert(name, rows)
        if progress:
            progress(WRITE_STAGE, start + len(rows), len(records))
    client.flush(name)
    client.load_collection(name)
    return {"backend": "milvus", "uri": uri, "collection": name, "alias": settings.milvus_collection,
            "count": len(records)}


def swap_alias(settings: Settings, entry: dict[str, Any]) -> None:
    """Point the alias at this build's collection (create it on the first build)."""
    client = client_for(milvus_uri(settings))
    alias, name = entry["alias"], entry["collection"]
    if _alias_target(client, alias) is None:
        client.create_alias(name, alias)
    else:
        client.alter_alias(name, alias)


def _alias_target(client: MilvusClient, alias: str) -> str | None:
    """The collection behind the alias, None when there is no such alias."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    target = client.describe_alias(alias).get("collection_name")
    return str(target) if target else None


def drop_unkept(settings: Settings, kept: Sequence[str]) -> None:
    """Drop this index's collections that no kept build uses (also those of killed builds)."""
    client = client_for(milvus_uri(settings))
    prefix = settings.milvus_collection + "_"
    live = _alias_target(client, settings.milvus_collection)
    for name in client.list_collections():
        if name.startswith(prefix) and name not in kept and name != live:
            client.drop_collection(name)


def _expression(allowed: Allowed) -> str | None:
    """A Milvus filter: by report and section when the scope says so, else by vector id."""
    if allowed is None:
        return None
    if isinstance(allowed, Scope) and allowed.report_ids:
        expr = f"report_id in {json.dumps(list(allowed.report_ids), ensure_ascii=False)}"
        if allowed.section is not None:
            expr += f" and section == {json.dumps(allowed.section, ensure_ascii=False)}"
        return expr
    ids = allowed_array(allowed)
    return f"id in {[int(i) for i in np.asarray(ids).reshape(-1)]}"


class MilvusPassageIndex(PassageIndex):
    """Searches one build's collection: dense by inner product, keyword by Milvus BM25."""

    backend = "milvus"

    def __init__(self, client: MilvusClient, collection: str) -> None:
        self.client = client
        self.collection = collection

    @classmethod
    def open(cls, settings: Settings, entry: dict[str, Any]) -> MilvusPassageIndex:
        uri = settings.milvus_uri and milvus_uri(settings) or str(entry["uri"])
        client = client_for(uri)
        name = str(entry["collection"])
        if not client.has_collection(name):
            raise IndexCorruptError(f"Milvus（{uri}）中没有本索引的集合 {name}。{_REBUILD}")
        client.load_collection(name)
        return cls(client, name)

    def _search(self, data: list[Any], field: str, metric: str, n: int,
                allowed: Allowed) -> list[tuple[int, float]]:
        ids = allowed_array(allowed)
        if n <= 0 or (ids is not None and not len(ids)):
            return []
        expr = _expression(allowed)
        found = self.client.search(self.collection, data=data, anns_field=field, limit=n,
                                   filter=expr or "", search_params={"metric_type": metric},
                                   output_fields=["id"])
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def dense(self, query_vector: np.ndarray, n: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1).tolist()
        return self._search([vector], "dense", "IP", n, allowed)

    def keyword(self, text: str, n: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        query = index_text(text)
        if not any(ch.isalnum() for ch in query):
            return []
        # BM25 scores are non-negative; Milvus Lite reports them negated, hence abs().
        return [(i, abs(s)) for i, s in self._search([query], "sparse", "BM25", n, allowed)]


def close_client(uri: str) -> None:
    """Close this process's client for `uri`; for Milvus Lite also stop its in-process server,
    releasing the file's lock so another process can open it."""
    with _clients_lock:
        client = _clients.pop(uri, None)
    if client is not None:
        client.close()
    if "://" not in uri:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)
