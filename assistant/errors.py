"""Typed errors: every user-facing failure says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path


class AssistantError(Exception):
    """Base class for errors shown to users (the CLI prints them without a traceback)."""


class IngestError(AssistantError):
    """A report file could not be parsed; names the file and the reason."""

    reason = "无法解析该文件"

    def __init__(self, path: str | Path, detail: str = "") -> None:
        self.path = str(path)
        self.detail = detail
        message = f"{self.path}: {self.reason}"
        if detail:
            message += f"（{detail}）"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, str]]:
        # rebuilt from (path, detail), so the error survives the trip back from the parse worker
        return (type(self), (self.path, self.detail))


class LimitExceededError(IngestError):
    """A file that would cost more than a parse limit; the detail names the limit and its setting."""

    reason = "超过解析限制，已跳过"


class UnsupportedFormatError(IngestError):
    reason = "不支持的文件类型，仅支持 .txt .html .htm .pdf .docx"


class EmptyFileError(IngestError):
    reason = "文件为空或没有可读的文字"


class FileTooLargeError(IngestError):
    reason = "文件超过大小上限"


class DecodeError(IngestError):
    reason = "无法识别文本编码（支持 UTF-8、GBK、GB18030）"


class CorruptFileError(IngestError):
    reason = "文件已损坏或不是声称的格式"


class EncryptedPdfError(IngestError):
    reason = "PDF 已加密，请提供未加密的版本"


class NoTextLayerError(IngestError):
    reason = "PDF 没有文字层（可能是扫描件），暂不支持 OCR"


class IndexError_(AssistantError):
    """Base for index problems (named with a trailing underscore to avoid the builtin)."""


class IndexMissingError(IndexError_):
    def __init__(self, index_dir: str | Path) -> None:
        super().__init__(
            f"索引目录 {index_dir} 不存在或尚未建立。请先运行：assistant build --index {index_dir}"
        )


class IndexMismatchError(IndexError_):
    """The index on disk was built by other code or another encoder."""


class IndexCorruptError(IndexError_):
    """An index file is unreadable."""


class IndexLockedError(IndexError_):
    """Another build holds the lock."""


class DiskFullError(IndexError_):
    """The disk filled up while a build was written; the old index still serves."""


class CacheDamagedError(AssistantError):
    """The embedding cache turned out damaged while a build read it (the build discards it and starts again)."""


class ConfigError(AssistantError):
    """A setting (environment variable or flag) with a value that cannot be used."""


class InputError(AssistantError):
    """Command-line input that cannot be read (not UTF-8, a year out of range ...)."""


class QueryError(AssistantError):
    """A query that cannot be searched (empty, punctuation only, bad -k ...)."""
