"""Staff changes to the corpus folder: remove a report (kept in corpus/.removed/) or replace it with a new file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from assistant.ingest import corpus_files
from assistant.ingest.meta import META_SUFFIX
from assistant.web.uploads import UploadError, find_duplicate, sanitize_filename

REMOVED_DIR = ".removed"  # hidden: corpus_files, the build and the duplicate check skip it


def corpus_reports(corpus_dir: Path) -> list[str]:
    """The report files a build would read, as paths relative to corpus_dir."""
    if not corpus_dir.is_dir():
        return []
    root = corpus_dir.resolve()
    return [str(p.relative_to(root)) for p in corpus_files([root])]


def _report_path(corpus_dir: Path, relative: str) -> Path:
    """The report named by relative, only if it is one of corpus_reports (never a path outside the corpus)."""
    if relative not in corpus_reports(corpus_dir):
        raise UploadError(f"{relative}：不是报告目录中的报告文件")
    return corpus_dir.resolve() / relative


def _sidecars(path: Path) -> list[Path]:
    return [p for p in (path.with_name(path.name + META_SUFFIX), path.with_name(path.stem + META_SUFFIX))
            if p.is_file()]


def _archive_folder(corpus_dir: Path) -> Path:
    """A new folder under corpus/.removed/ named by the time (never reused)."""
    base = corpus_dir.resolve() / REMOVED_DIR
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        folder = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            continue
        return folder
    raise UploadError("无法在报告目录中创建 .removed 文件夹")


def remove_report(corpus_dir: Path, relative: str, with_sidecars: bool = True) -> Path:
    """Move one report (and its .meta.json sidecars) to corpus/.removed/TIME/; returns its new path.

    The file is kept, not deleted, so a mistaken removal can be undone by moving it back.
    """
    path = _report_path(corpus_dir, relative)
    folder = _archive_folder(corpus_dir)
    moved = folder / path.name
    try:
        os.replace(path, moved)
        for sidecar in _sidecars(path) if with_sidecars else []:
            os.replace(sidecar, folder / sidecar.name)
    except OSError as err:
        raise UploadError(f"{relative}：无法移出报告目录（{err.strerror or type(err).__name__}）") from err
    return moved


def restore_report(archived: Path, corpus_dir: Path, relative: str) -> None:
    """Undo remove_report: move the file (and the sidecars moved with it) back to where it was."""
    target = corpus_dir.resolve() / relative
    os.replace(archived, target)
    for sidecar in archived.parent.glob("*" + META_SUFFIX):
        os.replace(sidecar, target.parent / sidecar.name)
    try:
        archived.parent.rmdir()
    except OSError:
        pass


def undo_replace(new: Path, archived: Path, corpus_dir: Path, relative: str) -> None:
    """Undo replace_report (e.g. the new file cannot be parsed): drop the new file, put the old one back."""
    new.unlink(missing_ok=True)
    restore_report(archived, corpus_dir, relative)


def replace_report(corpus_dir: Path, relative: str, upload_name: str, data: bytes, max_bytes: int
                   ) -> tuple[Path, Path]:
    """Put data in place of the report at relative; the old file goes to corpus/.removed/.

    The new file keeps the old name (with the new file's type); sidecars stay, as they describe the report.
    Returns (new path, archived old path); raises UploadError for a bad type, size or a duplicate.
    """
    old = _report_path(corpus_dir, relative)
    suffix = sanitize_filename(upload_name).rpartition(".")[2]
    if not data:
        raise UploadError(f"{upload_name}：文件为空")
    if len(data) > max_bytes:
        raise UploadError(f"{upload_name}：文件大小 {len(data) / 1048576:.1f} MB，超过上限 {max_bytes / 1048576:.0f} MB")
    duplicate = find_duplicate(corpus_dir, data)
    if duplicate is not None:
        same = "要替换的报告" if duplicate.resolve() == old else f"报告目录中已有的 {duplicate.name} "
        raise UploadError(f"{upload_name}：与{same}内容完全相同，未替换")
    archived = remove_report(corpus_dir, relative, with_sidecars=False)
    new = old.with_name(f"{old.stem}.{suffix}")
    try:
        with open(new, "xb") as handle:
            handle.write(data)
    except FileExistsError as err:  # e.g. a.pdf replaced by a .docx while a.docx exists
        restore_report(archived, corpus_dir, relative)
        raise UploadError(f"{upload_name}：报告目录中已有 {new.name}，未替换") from err
    except OSError as err:
        undo_replace(new, archived, corpus_dir, relative)
        raise UploadError(f"{upload_name}：无法写入报告目录（{err.strerror or type(err).__name__}）") from err
    return new, archived
