"""Text cleaning: site chrome, runs of "|", stray whitespace, and joining of wrapped lines."""

from __future__ import annotations

import re

from assistant.segment import to_simplified

# A line this long is content even if it mentions a footer word such as 主办单位.
MAX_CHROME_LINE_CHARS = 150

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PIPES = re.compile(r"\s*(?:\|\s*)+")
_BREADCRUMB = re.compile(
    r"^(?:当前位置|您现在的位置|您当前的位置|你现在的位置|您的位置|现在位置|所在位置)\s*[:：]?\s*"
    r"(?:[^\s>＞»→]{0,24}\s*[>＞»→]\s*)*(?:[^\s>＞»→]{0,24}(?:\s+|$))?"
)
_CHROME_TOKENS = re.compile(
    r"[【\[]?\s*字号\s*[:：]?\s*[【\[]?\s*大\s*[】\]]?\s*[【\[]?\s*中\s*[】\]]?\s*[【\[]?\s*小\s*[】\]]?\s*[】\]]?"
    r"|[【\[]?\s*打印(?:本页|此页)?\s*[】\]]?\s*[【\[]?\s*关闭(?:窗口|本页)?\s*[】\]]?"
    r"|浏览次数\s*[:：]\s*(?:\d+\s*次?)?(?=\s|$)"
    r"|访问量\s*[:：]\s*(?=\s|$)"
    r"|分享到\s*[:：]?(?:\s*(?:微信|微博|QQ空间|QQ))*"
)
_CHROME_WORDS = {
    "打印", "关闭", "分享", "收藏", "返回顶部", "返回", "【打印】", "【关闭】", "[打印]", "[关闭]",
    "打印本页", "关闭窗口", "【打印本页】", "【关闭窗口】", "扫一扫", "在手机上查看", "字号",
}
_FOOTER = re.compile(
    r"(?:主办单位|承办单位|技术支持|网站联系电话|维护单位)\s*[:：]|ICP[备证]|公网安备|网站标识码|版权所有|Copyright|©"
    r"|分辨率.{0,6}浏览|浏览.{0,10}分辨率"
)


def normalize_spaces(text: str) -> str:
    """Unify line ends, drop invisible characters, turn every space-like run into one space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text)


def is_chrome_line(line: str) -> bool:
    """A line that is nothing but site furniture: footer, toolbar words, an empty breadcrumb (in either script)."""
    if not line:
        return True
    simple = to_simplified(line)
    if len(line) <= MAX_CHROME_LINE_CHARS and _FOOTER.search(simple):
        return True
    return all(word in _CHROME_WORDS for word in simple.split())


def _cut(pattern: re.Pattern[str], replacement: str, line: str) -> str:
    """pattern.sub(replacement, line), matched on the simplified view (當前位置, 關閉 are chrome too) and
    cut from the line as published; the view has the line's offsets."""
    parts: list[str] = []
    at = 0
    for match in pattern.finditer(to_simplified(line)):
        parts += [line[at:match.start()], replacement]
        at = match.end()
    return "".join(parts) + line[at:] if parts else line


def clean_line(line: str) -> str:
    """One cleaned line of content, or "" when the line is chrome."""
    line = _PIPES.sub(" ", normalize_spaces(line)).strip()
    line = _cut(_BREADCRUMB, "", line).strip()
    line = _cut(_CHROME_TOKENS, " ", line)
    line = _SPACES.sub(" ", line).strip()
    return "" if is_chrome_line(line) else line


def clean_paragraph(text: str) -> list[str]:
    """The non-chrome lines of a paragraph block, each cleaned."""
    lines = (clean_line(part) for part in normalize_spaces(text).split("\n"))
    return [line for line in lines if line]


def _needs_space(left: str, right: str) -> bool:
    return left.isascii() and left.isalpha() and right.isascii() and right.isalpha()


def join_wrapped(lines: list[str]) -> str:
    """Join lines that wrapped mid-sentence: no space between Chinese characters, one between words."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if out and _needs_space(out[-1], line[0]):
            out += " "
        out += line
    return out


def cell_text(text: str) -> str:
    """A table cell's text on one line, wrapped lines joined."""
    return _SPACES.sub(" ", join_wrapped(normalize_spaces(text).split("\n"))).strip()
