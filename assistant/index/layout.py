"""Index layout, read side: where the live build is, and whether its manifest fits this code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant import segment
from assistant.errors import IndexMismatchError, IndexMissingError

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
BUILDS_DIR = "builds"



def live_build_dir(index_dir: Path) -> Path:
    """The folder of the build being served; IndexMissingError when there is none."""
    try:
        name = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        raise IndexMissingError(index_dir) from None
    build_dir = index_dir / BUILDS_DIR / name
    if not name or not build_dir.is_dir():
        raise IndexMissingError(index_dir)
    return build_dir


def read_manifest(build_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise IndexMismatchError(
            f"索引清单 {build_dir / 'manifest.json'} 无法读取（{err}）。请重新运行 assistant build。"
        ) from err
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
