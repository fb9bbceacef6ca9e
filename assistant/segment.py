"""Chinese text normalisation and tokenisation for keyword search (the only jieba/opencc user)."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from importlib import resources
from typing import Any

# Bump when the tokenisation rules below change: it is part of dictionary_hash().
RULES_VERSION = "1"

# Frequency given to user-dictionary terms that do not state one; large enough that a
# term beats any split of itself into ordinary jieba words.
DEFAULT_TERM_FREQ = 200_000

_USERDICT = ("data", "userdict.txt")

# Spans kept as single tokens, tried in this order at each position.
_PROTECTED = re.compile(
    r"""
      [〔\[【(]?(?:19|20)\d{2}[〕\]】)]第?\d+号          # document numbers: 〔2020〕17号, 2020〕17号
    | [A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+  # e-mail addresses
    | (?:https?://|www\.)[A-Za-z0-9._~/?#=&%:-]*[A-Za-z0-9/]  # web addresses
    | (?<![A-Za-z0-9.])                                 # numbers, not glued to a word
      (?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.:/-]\d+)*)  # 1,234.5  612.45  0578-7262336  2021-01-31
      (?:万|亿)?%?                                       # 1.8万  50%
      (?![A-Za-z0-9])
    """,
    re.VERBOSE,
)
_SPACES = re.compile(r"\s+")

# Taiwan/Hong Kong wording mapped to mainland wording before t2s (traditional spellings only,
# so simplified text is never touched; each the same length as what replaces it).
_REGIONAL_TERMS = {"資訊": "信息"}

_lock = threading.Lock()
_tokenizer: Any = None
_converter: Any = None


def _userdict_bytes() -> bytes:
    return resources.files("assistant").joinpath(*_USERDICT).read_bytes()


def _user_terms() -> list[tuple[str, int, str | None]]:
    terms: list[tuple[str, int, str | None]] = []
    for raw in _userdict_bytes().decode("utf-8").splitlines():
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        freq = int(parts[1]) if len(parts) > 1 else DEFAULT_TERM_FREQ
        tag = parts[2] if len(parts) > 2 else None
        terms.append((parts[0], freq, tag))
    return terms


def user_words() -> list[str]:
    """The domain terms of the user dictionary (for analyzers outside this module, e.g. Milvus's jieba)."""
    return [word for word, _, _ in _user_terms()]


def _get_converter() -> Any:
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


def _get_tokenizer() -> Any:
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for word, freq, tag in _user_terms():
                    tokenizer.add_word(word, freq, tag)
                _tokenizer = tokenizer
    return _tokenizer


def _one_for_one(converter: Any, char: str) -> str:
    converted: str = converter.convert(char)
    return converted if len(converted) == 1 else char


def to_simplified(text: str) -> str:
    """Traditional characters (and regional wording) to simplified, one character for one.

    The result has the length of the text and its i-th character is the text's i-th converted, so an
    offset found in the result is the same offset in the text (matching runs on the result, quotes are
    cut from the text). OpenCC's t2s tables map every entry to one of the same length; a line that
    still comes out longer or shorter is converted character by character, and a character whose
    conversion is not one character is kept.
    """
    if not text:
        return text
    for regional, mainland in _REGIONAL_TERMS.items():
        text = text.replace(regional, mainland)
    converter = _get_converter()
    out = converter.convert(text)
    if len(out) == len(text):
        return out
    lines = []
    for line in text.split("\n"):
        converted = converter.convert(line)
        if len(converted) != len(line):
            converted = "".join(_one_for_one(converter, ch) for ch in line)
        lines.append(converted)
    return "\n".join(lines)


def normalize(text: str) -> str:
    """Traditional to simplified, full-width to half-width (NFKC), whitespace collapsed."""
    if not text:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", to_simplified(text))).strip()


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _cut(text: str) -> list[str]:
    return [t for t in _get_tokenizer().cut(text, cut_all=False, HMM=True) if _is_word(t)]


def tokenize(text: str) -> list[str]:
    """Normalised, lower-cased tokens: domain terms and numbers whole, no spaces or punctuation."""
    norm = normalize(text).lower()
    tokens: list[str] = []
    pos = 0
    for match in _PROTECTED.finditer(norm):
        tokens.extend(_cut(norm[pos : match.start()]))
        tokens.append(match.group())
        pos = match.end()
    tokens.extend(_cut(norm[pos:]))
    return tokens


def dictionary_hash() -> str:
    """sha256 over the user dictionary, the jieba version and the rules version (for index manifests)."""
    import jieba

    digest = hashlib.sha256(_userdict_bytes())
    digest.update(f"\0jieba={jieba.__version__}\0rules={RULES_VERSION}".encode())
    return digest.hexdigest()


def tokenizer_id() -> str:
    """dictionary_hash() with the versions of everything else tokenize() depends on (OpenCC, the Unicode
    tables of NFKC): what the cached tokens of a passage are keyed by."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        opencc_version = version("opencc")
    except PackageNotFoundError:
        opencc_version = "?"
    extra = f"\0opencc={opencc_version}\0unicode={unicodedata.unidata_version}"
    return hashlib.sha256((dictionary_hash() + extra).encode()).hexdigest()
