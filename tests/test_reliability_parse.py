"""Bounded parsing (issue 12): hostile files are skipped under named limits, every good file is indexed."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from attack_files import (
    gridspan_docx,
    huge_claim_docx,
    huge_paragraphs_docx,
    lying_size_docx,
    span_table_html,
    write_attacks,
)
from conftest import SAMPLE_FILES, SEED_FILE

from assistant.config import Settings, load_settings
from assistant.errors import CorruptFileError, IngestError, LimitExceededError
from assistant.index.build import build_index
from assistant.ingest import ParseLimits, ingest_file, ingest_file_bounded, scan_corpus
from assistant.ingest.bounded import parse_bounded

# attack file -> the setting its refusal must name (None: refused as a corrupt file)
EXPECTED_LIMIT = {
    "gridspan.docx": "ASSISTANT_MAX_SPAN",
    "span-table.html": "ASSISTANT_MAX_TABLE_CELLS",
    "huge-paragraphs.docx": "ASSISTANT_MAX_UNPACKED_MB",
    "lying-size.docx": None,
    "huge-claim.docx": "ASSISTANT_MAX_UNPACKED_MB",
}


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {p.name: p for p in write_attacks(tmp_path_factory.mktemp("attacks"))}


def test_attack_fixtures_are_what_the_issue_describes(attacks: dict[str, Path]) -> None:
    import zipfile

    assert attacks["gridspan.docx"].stat().st_size < 50_000
    assert b'w:gridSpan w:val="50000000"' in zipfile.ZipFile(attacks["gridspan.docx"]).read("word/document.xml")
    html = attacks["span-table.html"].read_text(encoding="utf-8")
    assert html.count("<tr>") == 60 and html.count('rowspan="200" colspan="200"') == 60 * 29
    (info,) = [i for i in zipfile.ZipFile(attacks["huge-paragraphs.docx"]).infolist() if i.filename == "word/document.xml"]
    assert info.file_size > 280 * 1024 * 1024 and attacks["huge-paragraphs.docx"].stat().st_size < 5 * 1024 * 1024
    (lie,) = [i for i in zipfile.ZipFile(attacks["lying-size.docx"]).infolist() if i.filename == "word/document.xml"]
    assert lie.file_size == 2048 and lie.compress_size > 100_000  # claims 2 KB, holds 120 MB


@pytest.mark.parametrize("name", sorted(EXPECTED_LIMIT))
def test_each_attack_is_refused_by_its_cap(attacks: dict[str, Path], name: str) -> None:
    outcome = parse_bounded(attacks[name], ParseLimits())
    assert outcome.report is None and outcome.error is not None
    message = str(outcome.error)
    assert name in message and "Traceback" not in message
    setting = EXPECTED_LIMIT[name]
    if setting is None:
        assert isinstance(outcome.error, CorruptFileError) and "CRC" in message
    else:
        # refused by the cheap cap itself, not by the time or memory backstop
        assert isinstance(outcome.error, LimitExceededError) and setting in message and "超过上限" in message


def test_build_skips_attacks_and_indexes_every_good_file(
    attacks: dict[str, Path], tmp_path: Path, samples_dir: Path, cache_dir: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = [SEED_FILE, *(samples_dir / n for n in SAMPLE_FILES)]
    for path in [*good, *attacks.values()]:
        shutil.copy(path, corpus)
    summary = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir))
    assert summary.reports == len(good) == 6
    assert sorted(summary.added) == sorted(p.name for p in good)
    refused = {Path(e.path).name: str(e) for e in summary.failures}
    assert set(refused) == set(attacks)
    for name, setting in EXPECTED_LIMIT.items():
        assert "已跳过" in refused[name] or "损坏" in refused[name]
        if setting:
            assert setting in refused[name]


def test_memory_and_time_backstops(attacks: dict[str, Path], samples_dir: Path) -> None:
    """With the caps opened wide, the worker's address-space limit and timeout still stop the parse."""
    wide = ParseLimits(max_unpacked_bytes=10**11, max_table_cells=10**12, memory_mb=300, timeout_s=120)
    for name in ("huge-paragraphs.docx", "span-table.html"):
        outcome = parse_bounded(attacks[name], wide)
        assert isinstance(outcome.error, LimitExceededError), name
        assert "ASSISTANT_PARSE_MEMORY_MB" in str(outcome.error) and "300 MB" in str(outcome.error)
    outcome = parse_bounded(samples_dir / "qinghe-county-2022.pdf", ParseLimits(timeout_s=0.01))
    assert isinstance(outcome.error, LimitExceededError) and "ASSISTANT_PARSE_TIMEOUT" in str(outcome.error)
    # the worker that was killed is replaced: the same file parses in full, and so does file after file
    for _ in range(3):
        again = parse_bounded(samples_dir / "qinghe-county-2022.pdf", ParseLimits())
        assert again.error is None and again.report == ingest_file(samples_dir / "qinghe-county-2022.pdf")


def test_bounded_parse_gives_the_same_report(samples_dir: Path) -> None:
    for name in SAMPLE_FILES:
        assert ingest_file_bounded(samples_dir / name, ParseLimits()) == ingest_file(samples_dir / name)
    with pytest.raises(IngestError, match="不存在"):
        ingest_file_bounded(samples_dir / "no-such-report.txt")


def test_parse_errors_survive_the_trip_from_the_worker() -> None:
    for error in (LimitExceededError("a.docx", "单元格跨度 9 超过上限 1"), CorruptFileError("b.pdf")):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), copy.path, copy.detail, str(copy)) == (type(error), error.path, error.detail, str(error))


def test_limits_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings({"ASSISTANT_MAX_SPAN": "5", "ASSISTANT_MAX_TABLE_CELLS": "40",
                              "ASSISTANT_PARSE_TIMEOUT": "7.5", "ASSISTANT_PARSE_MEMORY_MB": "512",
                              "ASSISTANT_MAX_UNPACKED_MB": "3"})
    limits = ParseLimits.from_settings(settings)
    assert (limits.max_span, limits.max_table_cells, limits.timeout_s, limits.memory_mb) == (5, 40, 7.5, 512)
    assert limits.max_unpacked_bytes == 3 * 1024 * 1024
    outcome = parse_bounded(gridspan_docx(tmp_path / "g.docx", span=6), limits)
    assert isinstance(outcome.error, LimitExceededError) and "上限 5" in str(outcome.error)
    outcome = parse_bounded(span_table_html(tmp_path / "t.html", rows=10, cols=5, span=1), limits)
    assert isinstance(outcome.error, LimitExceededError) and "上限 40" in str(outcome.error)
    assert parse_bounded(huge_claim_docx(tmp_path / "c.docx", claimed=4 * 1024 * 1024), limits).error is not None
    ok = parse_bounded(span_table_html(tmp_path / "small.html", rows=4, cols=5, span=1), limits)
    assert ok.error is None and ok.report is not None


def test_huge_html_span_value_is_refused_without_parsing_the_number(tmp_path: Path) -> None:
    path = span_table_html(tmp_path / "s.html", rows=3, cols=3, span=10**40)
    outcome = parse_bounded(path, ParseLimits())
    assert isinstance(outcome.error, LimitExceededError) and "ASSISTANT_MAX_SPAN" in str(outcome.error)


def test_lying_and_bomb_generators_vary(tmp_path: Path) -> None:
    """The fake-size check compares real and declared sizes, so a lie in either direction is caught."""
    small_lie = parse_bounded(lying_size_docx(tmp_path / "l.docx", claimed=10, unpacked_mb=2), ParseLimits())
    assert isinstance(small_lie.error, CorruptFileError)
    bomb = parse_bounded(huge_paragraphs_docx(tmp_path / "b.docx", unpacked_mb=2),
                         ParseLimits(max_unpacked_bytes=1024 * 1024))
    assert isinstance(bomb.error, LimitExceededError) and "ASSISTANT_MAX_UNPACKED_MB" in str(bomb.error)


# --- paths: symlinks, relative and absolute corpus, duplicates -----------------------------


def test_symlinks_out_of_the_corpus_are_not_followed(tmp_path: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    shutil.copy(SEED_FILE, corpus)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("政府信息公开工作年度报告 秘密 " * 50, encoding="utf-8")
    os.symlink("/etc/passwd", corpus / "passwd.txt")
    os.symlink(outside / "secret.txt", corpus / "sub" / "secret.txt")
    os.symlink(outside, corpus / "linked-folder")
    os.symlink(corpus / SEED_FILE.name, corpus / "inside-link.txt")  # inside: allowed (then a duplicate)
    files, refused = scan_corpus([corpus])
    assert [p.name for p in files] == ["inside-link.txt", SEED_FILE.name]
    assert sorted(Path(e.path).name for e in refused) == ["linked-folder", "passwd.txt", "secret.txt"]
    assert all("符号链接" in str(e) for e in refused)
    summary = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir))
    assert summary.reports == 1
    messages = " ".join(str(e) for e in summary.failures)
    assert "passwd.txt" in messages and "报告目录以外" in messages and "同一份报告" in messages


def test_relative_and_absolute_corpus_are_the_same(tmp_path: Path, cache_dir: Path, samples_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (SEED_FILE, samples_dir / "lanxi-city-2021.txt"):
        shutil.copy(path, corpus)
    index = tmp_path / "index"
    first = build_index(Settings(corpus_dir=corpus, index_dir=index, cache_dir=cache_dir))
    assert len(first.added) == 2
    monkeypatch.chdir(tmp_path)
    second = build_index(Settings(corpus_dir=Path("corpus"), index_dir=index, cache_dir=cache_dir))
    assert (second.added, second.deleted, second.updated, len(second.unchanged)) == ([], [], [], 2)
    monkeypatch.chdir(corpus)
    third = build_index(Settings(corpus_dir=Path("."), index_dir=index, cache_dir=cache_dir))
    assert (third.added, third.deleted, len(third.unchanged)) == ([], [], 2)


def test_same_report_in_another_encoding_or_name_is_a_duplicate(tmp_path: Path, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = SEED_FILE.read_text(encoding="utf-8")
    (corpus / "a-longquan.txt").write_text(text, encoding="utf-8")
    (corpus / "b-longquan-gbk.txt").write_bytes(text.encode("gb18030"))
    (corpus / "c-longquan-crlf.txt").write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"))
    (corpus / "d-copy.txt").write_text(text, encoding="utf-8")
    summary = build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir))
    assert summary.reports == 1 and summary.added == ["a-longquan.txt"]
    skipped = sorted(Path(e.path).name for e in summary.failures)
    assert skipped == ["b-longquan-gbk.txt", "c-longquan-crlf.txt", "d-copy.txt"]
    assert all("与 a-longquan.txt 是同一份报告" in str(e) for e in summary.failures)
