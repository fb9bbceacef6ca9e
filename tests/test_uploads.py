"""Upload names within the file system's byte limit; removing and replacing reports; queued rebuilds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.ingest import corpus_files
from assistant.ingest.meta import META_SUFFIX
from assistant.web.corpus_admin import (
    REMOVED_DIR,
    corpus_reports,
    remove_report,
    replace_report,
    restore_report,
    undo_replace,
)
from assistant.web.jobs import BuildJob
from assistant.web.uploads import MAX_NAME_BYTES, UploadError, find_duplicate, sanitize_filename, save_upload

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"


# --- names in bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["长", "a", "𠀋", "长a"])
@pytest.mark.parametrize("suffix", ["docx", "txt", "html", "PDF"])
def test_long_names_fit_in_255_bytes_with_a_counter_and_a_sidecar(char: str, suffix: str) -> None:
    name = sanitize_filename(char * 300 + "." + suffix)
    assert name.endswith("." + suffix.lower())
    assert len((name.replace("." + suffix.lower(), "-999." + suffix.lower()) + META_SUFFIX).encode()) <= MAX_NAME_BYTES
    assert len(name.encode()) >= 200  # cut near the limit, not far below it


def test_a_300_character_chinese_name_is_saved(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    first = save_upload(corpus, "长" * 300 + ".txt", b"report one", max_bytes=100)
    second = save_upload(corpus, "长" * 300 + ".txt", b"report two", max_bytes=100)
    assert first.read_bytes() == b"report one" and second.name.endswith("-1.txt")
    (second.with_name(second.name + META_SUFFIX)).write_text("{}", encoding="utf-8")  # a sidecar fits too
    assert {len(p.name.encode()) <= MAX_NAME_BYTES for p in corpus.iterdir()} == {True}


def test_a_name_the_file_system_refuses_is_an_upload_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.web.uploads as uploads

    monkeypatch.setattr(uploads, "sanitize_filename", lambda name: "x" * 300 + ".txt")  # past NAME_MAX
    with pytest.raises(UploadError, match="无法保存"):
        save_upload(tmp_path, "any.txt", b"data", max_bytes=10)
    assert list(tmp_path.iterdir()) == []


# --- removing and replacing reports --------------------------------------------------------------


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "2021").mkdir(parents=True)
    (corpus / "a.txt").write_text("报告甲", encoding="utf-8")
    (corpus / ("a.txt" + META_SUFFIX)).write_text('{"agency": "甲"}', encoding="utf-8")
    (corpus / "2021" / "b.html").write_text("<p>报告乙</p>", encoding="utf-8")
    return corpus


def test_remove_moves_the_report_and_its_sidecar_out_of_the_build(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    assert corpus_reports(corpus) == ["2021/b.html", "a.txt"]
    moved = remove_report(corpus, "a.txt")
    assert moved.parent.parent == (corpus / REMOVED_DIR).resolve()
    assert moved.read_text(encoding="utf-8") == "报告甲" and (moved.parent / ("a.txt" + META_SUFFIX)).is_file()
    assert corpus_reports(corpus) == ["2021/b.html"]
    assert [p.name for p in corpus_files([corpus])] == ["b.html"]  # the build skips .removed/
    assert find_duplicate(corpus, "报告甲".encode()) is None  # so the same report can be uploaded again
    restore_report(moved, corpus, "a.txt")
    assert corpus_reports(corpus) == ["2021/b.html", "a.txt"] and (corpus / ("a.txt" + META_SUFFIX)).is_file()
    assert not moved.parent.exists()


@pytest.mark.parametrize("relative", ["../outside.txt", "/etc/passwd", "a.txt.meta.json", ".removed", "nope.txt"])
def test_remove_refuses_anything_but_a_report_of_the_corpus(tmp_path: Path, relative: str) -> None:
    corpus = _corpus(tmp_path)
    (tmp_path / "outside.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UploadError, match="不是报告目录中的报告文件"):
        remove_report(corpus, relative)
    assert (tmp_path / "outside.txt").exists() and corpus_reports(corpus) == ["2021/b.html", "a.txt"]


def test_replace_keeps_the_name_and_sidecar_and_can_be_undone(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    new, archived = replace_report(corpus, "a.txt", "新版本.txt", "报告甲（更正）".encode(), max_bytes=1000)
    assert new == (corpus / "a.txt").resolve() and new.read_text(encoding="utf-8") == "报告甲（更正）"
    assert archived.read_text(encoding="utf-8") == "报告甲" and (corpus / ("a.txt" + META_SUFFIX)).is_file()
    undo_replace(new, archived, corpus, "a.txt")
    assert (corpus / "a.txt").read_text(encoding="utf-8") == "报告甲"
    other_type, _ = replace_report(corpus, "2021/b.html", "b.docx", b"PK fake docx", max_bytes=1000)
    assert other_type == (corpus / "2021" / "b.docx").resolve() and corpus_reports(corpus) == ["2021/b.docx", "a.txt"]


def test_replace_refuses_bad_files_and_leaves_the_report(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    for name, data, why in [
        ("x.exe", b"data", "不支持的文件类型"),
        ("x.txt", b"", "为空"),
        ("x.txt", b"x" * 2000, "超过上限"),
        ("x.txt", "报告甲".encode(), "与要替换的报告内容完全相同"),
        ("x.txt", "<p>报告乙</p>".encode(), "与报告目录中已有的 b.html 内容完全相同"),
    ]:
        with pytest.raises(UploadError, match=why):
            replace_report(corpus, "a.txt", name, data, max_bytes=1000)
    assert (corpus / "a.txt").read_text(encoding="utf-8") == "报告甲" and not (corpus / REMOVED_DIR).exists()
    (corpus / "a.html").write_text("<p>另一份</p>", encoding="utf-8")
    with pytest.raises(UploadError, match="已有 a.html"):
        replace_report(corpus, "a.txt", "a.html", b"<p>new</p>", max_bytes=1000)
    assert (corpus / "a.txt").read_text(encoding="utf-8") == "报告甲"


# --- rebuild requests ----------------------------------------------------------------------------


class _Summary:
    failures: list[str] = []

    def __init__(self, n: int) -> None:
        self.n = n

    def line(self) -> str:
        return f"第 {self.n} 次"


def _wait(job: BuildJob) -> None:
    deadline = time.monotonic() + 10
    while job.snapshot()["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_requests_during_a_build_make_exactly_one_more_build() -> None:
    job = BuildJob()
    release = threading.Event()
    runs: list[int] = []

    def build(progress: Callable[[str, int, int], None]) -> _Summary:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            release.wait(5)
        return _Summary(len(runs))

    assert job.request(build)
    assert not job.request(build) and not job.request(build)  # the corpus changed twice during build 1
    assert job.snapshot()["queued"]
    assert not job.start(build)  # a plain start is refused, as before
    release.set()
    _wait(job)
    state = job.snapshot()
    assert runs == [1, 2] and state["summary_line"] == "第 2 次" and not state["queued"]
