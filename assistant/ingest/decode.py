"""Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, GBK/GB18030, then a guess."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from pathlib import Path

from charset_normalizer import from_bytes

from assistant.errors import DecodeError
from assistant.segment import to_simplified

# Share of a decoded sample that must be ordinary characters for the decoding to be believed.
MIN_PLAUSIBLE_RATIO = 0.8
SAMPLE_CHARS = 20000

_GB_ALIASES = {"gbk", "gb2312", "gb_2312", "gb_2312-80", "x-gbk", "gb18030", "cp936", "euc-cn", "hz-gb-2312"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_COMMON_SYMBOLS = set("，。、；：？！“”‘’（）《》〔〕【】—…·％　－～＞＜")


def _is_common_char(ch: str) -> bool:
    if ch.isascii():
        return ch.isprintable() or ch in "\r\n\t"
    if ch in _COMMON_SYMBOLS or "\uff01" <= ch <= "\uff5e":
        return True
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def is_plausible_text(text: str) -> bool:
    """True when a decoded sample looks like real (simplified or traditional) Chinese or ASCII text."""
    sample = text[:SAMPLE_CHARS]
    if not sample.strip():
        return True
    if "\x00" in sample:
        return False
    if _common_share(sample) >= MIN_PLAUSIBLE_RATIO:
        return True
    return _common_share(to_simplified(sample)) >= MIN_PLAUSIBLE_RATIO


def _common_share(text: str) -> float:
    """Share of the characters of text that are ordinary ones (each distinct character judged once)."""
    common = sum(count for ch, count in Counter(text).items() if _is_common_char(ch))
    return common / len(text)


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return b"\x00" in head or controls > len(head) * 0.05


def _try(data: bytes, encoding: str) -> str | None:
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    return text if is_plausible_text(text) else None


def decode_bytes(data: bytes, path: str | Path, declared: str | None = None) -> tuple[str, str]:
    """Decode report bytes; returns (text, encoding used). Raises DecodeError naming the file."""
    if data.startswith(codecs.BOM_UTF8):
        text = _try(data[len(codecs.BOM_UTF8) :], "utf-8")
        if text is not None:
            return text, "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _try(data, "utf-16")
        if text is not None:
            return text, "utf-16"
    if _looks_binary(data):
        raise DecodeError(path, "内容是二进制数据，不是文本")
    order = ["utf-8", "gb18030"]
    if declared:
        name = declared.lower()
        order.insert(0, "gb18030" if name in _GB_ALIASES else name)
    for encoding in dict.fromkeys(order):
        text = _try(data, encoding)
        if text is not None:
            return text, encoding
    best = from_bytes(data[:200_000]).best()
    if best is not None and best.encoding:
        text = _try(data, best.encoding)
        if text is not None:
            return text, best.encoding
    raise DecodeError(path, "既不是 UTF-8 也不是 GBK/GB18030，且无法可靠识别")


def declared_html_charset(data: bytes) -> str | None:
    """The charset named by a <meta> tag in the first few kilobytes of an HTML file, if any."""
    match = _META_CHARSET.search(data[:8192])
    return match.group(1).decode("ascii").lower() if match else None
