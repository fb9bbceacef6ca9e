"""Index layout, read side: where the live build is, and whether its manifest fits this code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant import segment
from assistant.errors import IndexCorruptError, IndexMismatchError, IndexMissingError

FORMAT_VERSION = 2  # 2: store.sqlite holds the build-time analysis (index/analysis.py)
CURRENT_FILE = "CURRENT"
BUILDS_DIR = "builds"
# every build has these; the passage index's own files depend on its backend (index/backends.py checks them)
BUILD_FILES = ("manifest.json", "store.sqlite")
_REBUILD = "请重新运行 assistant build（它会丢弃损坏的部分并重建）。"
# manifest field -> the JSON types it must have
_MANIFEST_FIELDS: dict[str, tuple[type, ...]] = {
    "format_version": (int,), "encoder_spec": (str,), "dictionary_hash": (str,), "documents": (dict,),
    "counts": (dict,),
}


def live_build_dir(index_dir: Path) -> Path:
    """The folder of the build being served: IndexMissingError when no index was built here,
    IndexCorruptError when CURRENT is unreadable or names a build that is not there whole."""
    current = index_dir / CURRENT_FILE
    if not current.exists() and not current.is_symlink():
        raise IndexMissingError(index_dir)
    try:
        name = current.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise IndexCorruptError(f"索引目录 {index_dir} 中的 {CURRENT_FILE} 无法读取（{err}）。{_REBUILD}") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorruptError(f"索引目录 {index_dir} 中的 {CURRENT_FILE} 内容无效（“{name[:40]}”）。{_REBUILD}")
    build_dir = index_dir / BUILDS_DIR / name
    if not build_dir.is_dir():
        raise IndexCorruptError(f"{CURRENT_FILE} 指向的构建 {build_dir} 不存在，索引已损坏。{_REBUILD}")
    missing = [f for f in BUILD_FILES if not (build_dir / f).is_file()]
    if missing:
        raise IndexCorruptError(f"构建 {build_dir} 缺少文件 {'、'.join(missing)}，索引已损坏。{_REBUILD}")
    return build_dir


def read_manifest(build_dir: Path) -> dict[str, Any]:
    """The build's manifest; IndexCorruptError when it is unreadable or lacks a field of the right type."""
    path = build_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexCorruptError(f"索引清单 {path} 无法读取（{err}）。{_REBUILD}") from err
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"索引清单 {path} 不是一个 JSON 对象。{_REBUILD}")
    wrong = [k for k, kinds in _MANIFEST_FIELDS.items() if not isinstance(manifest.get(k), kinds)]
    if wrong:
        raise IndexCorruptError(f"索引清单 {path} 缺少或损坏了字段 {'、'.join(wrong)}。{_REBUILD}")
    documents = manifest["documents"]
    if not documents or not all(isinstance(d, dict) and {"file_key", "report_id"} <= set(d) for d in documents.values()):
        raise IndexCorruptError(f"索引清单 {path} 中的文档记录为空或不完整。{_REBUILD}")
    return manifest


def check_manifest(manifest: dict[str, Any], encoder_spec: str | None) -> None:
    """Refuse an index built by other code or with another encoder than the one configured."""
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"索引格式版本为 {version}，当前程序需要 {FORMAT_VERSION}。请运行 assistant build 重建索引。"
        )
    if manifest.get("dictionary_hash") != segment.dictionary_hash():
        raise IndexMismatchError(
            "索引建立时使用的分词词典与当前程序不同（关键词检索会不准确）。请运行 assistant build 重建索引。"
        )
    built_with = manifest.get("encoder_spec")
    if encoder_spec is not None and built_with != encoder_spec:
        raise IndexMismatchError(
            f"索引由编码器 {built_with} 建立，而当前配置的编码器是 {encoder_spec}。"
            f"请设置 ASSISTANT_ENCODER={built_with}，或运行 assistant build 用当前编码器重建索引。"
        )
