"""Uploaded reports: safe file names, duplicate checks and storing them in the corpus folder."""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from assistant.errors import AssistantError
from assistant.ingest.meta import META_SUFFIX
from assistant.web.ui_text import UPLOAD_TYPES, remove_quietly


class UploadError(AssistantError):
    """An uploaded file that cannot be stored (bad name, type, size or a duplicate)."""


MAX_NAME_BYTES = 255  # NAME_MAX of ext4, XFS, btrfs, APFS: a limit in bytes of the encoded name
# Room kept for what may be added to a stored name: the "-999" of a name taken and a FILE.meta.json sidecar.
_RESERVED_BYTES = len("-999") + len(META_SUFFIX)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")  # incl. rare place-name characters
_ALLOWED_ASCII = set(string.ascii_letters + string.digits + ".-_")


def _keep(ch: str) -> bool:
    return ch in _ALLOWED_ASCII or bool(_CJK.fullmatch(ch))


def sanitize_filename(name: str, allowed_suffixes: Sequence[str] = UPLOAD_TYPES) -> str:
    """A safe file name: no directories, only CJK letters, ASCII letters/digits and . - _, not hidden,
    with an allowed (lower-cased) suffix, at most MAX_NAME_BYTES in UTF-8 with a "-999" counter and a
    .meta.json sidecar suffix added; raises UploadError otherwise."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = suffix.lower()
    if suffix not in allowed_suffixes:
        raise UploadError(f"{name}：不支持的文件类型，仅支持 {'、'.join('.' + s for s in allowed_suffixes)}")
    cleaned = "".join(ch if _keep(ch) else "_" for ch in stem.replace(" ", "_"))
    cleaned = re.sub(r"_+", "_", re.sub(r"\.{2,}", ".", cleaned)).strip("._-")
    cleaned = truncate_utf8(cleaned, MAX_NAME_BYTES - _RESERVED_BYTES - len(suffix) - 1).rstrip("._-") or "report"
    return f"{cleaned}.{suffix}"


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of text whose UTF-8 encoding fits in max_bytes (never half a character)."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_duplicate(corpus_dir: Path, data: bytes) -> Path | None:
    """A report in the corpus with exactly these bytes, if any (hidden folders such as .removed/ excluded)."""
    if not corpus_dir.is_dir():
        return None
    wanted = hashlib.sha256(data).hexdigest()
    for path in sorted(corpus_dir.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(corpus_dir).parts):
            continue
        if path.is_file() and path.stat().st_size == len(data) and _sha256_file(path) == wanted:
            return path
    return None


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> Path:
    """Store an uploaded report under corpus_dir with a sanitised name, never overwriting a file
    (a -1, -2 ... suffix is added); raises UploadError for bad names, sizes and duplicates."""
    filename = sanitize_filename(name)
    if len(data) == 0:
        raise UploadError(f"{name}：文件为空")
    if len(data) > max_bytes:
        raise UploadError(f"{name}：文件大小 {len(data) / 1048576:.1f} MB，超过上限 {max_bytes / 1048576:.0f} MB")
    duplicate = find_duplicate(corpus_dir, data)
    if duplicate is not None:
        raise UploadError(f"{name}：与报告目录中已有的 {duplicate.name} 内容完全相同，未保存")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_dir.resolve()
    stem, _, suffix = filename.rpartition(".")
    for attempt in range(1000):
        candidate = root / (filename if attempt == 0 else f"{stem}-{attempt}.{suffix}")
        if candidate.parent != root:  # cannot happen after sanitising; belt and braces
            raise UploadError(f"{name}：文件名不合法")
        try:
            with open(candidate, "xb") as handle:  # exclusive create: never overwrite
                handle.write(data)
        except FileExistsError:
            continue
        except OSError as err:  # e.g. a file system with shorter names, or a full disk
            remove_quietly(candidate)  # a partial file of ours (the name was free: "xb")
            raise UploadError(f"{name}：无法保存到报告目录（{err.strerror or type(err).__name__}）") from err
        return candidate
    raise UploadError(f"{name}：同名文件过多，请改名后再上传")
