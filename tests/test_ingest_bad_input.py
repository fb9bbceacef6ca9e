"""Bad input: every kind of unusable file fails with its typed error, naming the file, within seconds."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from reportlab.lib import pdfencrypt
from reportlab.pdfgen import canvas

from assistant.errors import (
    CorruptFileError,
    DecodeError,
    EmptyFileError,
    EncryptedPdfError,
    FileTooLargeError,
    IngestError,
    NoTextLayerError,
    UnsupportedFormatError,
)
from assistant.ingest import ingest_file, iter_ingest
from assistant.records import Report


def _random_bytes(n: int, low: int = 0, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(low, 256) for _ in range(n))


def _expect(error: type[IngestError], path: Path, **kwargs: int) -> IngestError:
    started = time.monotonic()
    with pytest.raises(error) as info:
        ingest_file(path, **kwargs)
    assert time.monotonic() - started < 10
    assert str(path) in str(info.value) and info.value.path == str(path)
    return info.value


@pytest.mark.parametrize("suffix", [".txt", ".html", ".pdf", ".docx"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    _expect(EmptyFileError, path)


def test_whitespace_only_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text(" \n\t\n|||| |\n", encoding="utf-8")
    _expect(EmptyFileError, path)


def test_html_with_only_chrome(tmp_path: Path) -> None:
    path = tmp_path / "chrome.html"
    path.write_text(
        "<html><body><div class='nav'>首页</div><script>var a = 1;</script>"
        "<div class='footer'>主办单位：某某</div></body></html>", encoding="utf-8"
    )
    _expect(EmptyFileError, path)


def test_random_bytes_named_pdf(tmp_path: Path) -> None:
    path = tmp_path / "random.pdf"
    path.write_bytes(_random_bytes(4000))
    _expect(CorruptFileError, path)


def test_pdf_header_with_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pdf"
    path.write_bytes(b"%PDF-1.4\n" + _random_bytes(4000) + b"\n%%EOF\n")
    _expect(CorruptFileError, path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_pdf(tmp_path: Path, samples_dir: Path, keep: float) -> None:
    data = (samples_dir / "qinghe-county-2022.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: int(len(data) * keep)])
    error = _expect(CorruptFileError, path)
    assert "不完整" in str(error)


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.pdf"
    pdf = canvas.Canvas(str(path), encrypt=pdfencrypt.StandardEncryption("secret", ownerPassword="owner"))
    pdf.drawString(72, 720, "2021 annual report")
    pdf.save()
    _expect(EncryptedPdfError, path)


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.line(50, 50, 500, 700)
    pdf.rect(100, 100, 200, 300, fill=1)
    pdf.showPage()
    pdf.line(10, 10, 20, 20)
    pdf.save()
    error = _expect(NoTextLayerError, path)
    assert "OCR" in str(error)


def test_random_bytes_named_docx(tmp_path: Path) -> None:
    path = tmp_path / "random.docx"
    path.write_bytes(_random_bytes(3000))
    _expect(CorruptFileError, path)


def test_undecodable_text(tmp_path: Path) -> None:
    path = tmp_path / "high.txt"
    path.write_bytes(_random_bytes(3000, low=0x80))
    _expect(DecodeError, path)


def test_binary_garbage_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(_random_bytes(3000))
    _expect(DecodeError, path)


def test_undecodable_html(tmp_path: Path) -> None:
    path = tmp_path / "high.html"
    path.write_bytes(b"<html><body>" + _random_bytes(3000, low=0x80) + b"</body></html>")
    _expect(DecodeError, path)


@pytest.mark.parametrize("name", ["report.xyz", "report", "README.md", "notes.jsonl"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("龙泉市2020年政府信息公开工作年度报告", encoding="utf-8")
    _expect(UnsupportedFormatError, path)


def test_over_size_limit(tmp_path: Path, samples_dir: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes((samples_dir / "lanxi-city-2021.txt").read_bytes())
    error = _expect(FileTooLargeError, path, max_bytes=1000)
    assert "1000" in str(error)
    assert ingest_file(path, max_bytes=path.stat().st_size).meta.year == 2021


def test_200_mb_file_is_refused_by_the_default_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with open(path, "wb") as handle:  # sparse: 200 MB on paper, nothing on disk
        handle.truncate(200 * 1024 * 1024)
    error = _expect(FileTooLargeError, path)
    assert "huge.pdf" in str(error)


def test_pdf_with_too_many_pages_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.pdf"
    pdf = canvas.Canvas(str(path))
    for _ in range(501):
        pdf.showPage()
    pdf.save()
    error = _expect(FileTooLargeError, path)
    assert "501" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    _expect(IngestError, tmp_path / "nowhere.txt")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-16"])
def test_text_encodings_decode(tmp_path: Path, samples_dir: Path, encoding: str) -> None:
    text = (samples_dir / "lanxi-city-2021.txt").read_text(encoding="utf-8")
    path = tmp_path / f"lanxi-{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    report = ingest_file(path)
    assert report.meta.title == "澜溪市人民政府2021年政府信息公开工作年度报告"
    assert "澜溪市滨江路1号市行政中心A座7楼" in report.cleaned_text
    assert len(report.tables) == 3


def test_short_gbk_text(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_bytes("龙泉市2020年政府信息公开工作年度报告\n一、总体情况\n无。".encode("gbk"))
    report = ingest_file(path)
    assert report.meta.agency == "龙泉市" and report.section("一") is not None


def test_gb2312_meta_charset_html(tmp_path: Path) -> None:
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
            "<body><h1>青禾县2020年政府信息公开工作年度报告</h1><p>一、总体情况</p><p>全年公开信息100条。</p></body></html>")
    path = tmp_path / "old.htm"
    path.write_bytes(html.encode("gb18030"))
    report = ingest_file(path)
    assert report.meta.title == "青禾县2020年政府信息公开工作年度报告" and report.meta.year == 2020
    assert "全年公开信息100条。" in report.cleaned_text


def test_pathological_inputs_finish_quickly(tmp_path: Path) -> None:
    pipes = tmp_path / "pipes.txt"
    pipes.write_text(("a | 1 |" + "|" * 5000 + "\n") * 300 + "|" * 2_000_000, encoding="utf-8")
    nested = tmp_path / "nested.html"
    nested.write_text("<div>" * 20000 + "文字" + "</div>" * 20000, encoding="utf-8")
    wide = tmp_path / "wide.html"
    wide.write_text('<table><tr><td colspan="100000" rowspan="100000">1</td><td>2</td></tr></table>', encoding="utf-8")
    for path in (pipes, nested, wide):
        started = time.monotonic()
        try:
            ingest_file(path)
        except IngestError:
            pass
        assert time.monotonic() - started < 10, path.name


def test_folder_with_good_and_bad_files(tmp_path: Path, samples_dir: Path) -> None:
    (tmp_path / "good.html").write_bytes((samples_dir / "lanxi-city-2022.html").read_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "good.docx").write_bytes((samples_dir / "lanxi-city-eco-2022.docx").read_bytes())
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "random.pdf").write_bytes(_random_bytes(2000))
    (tmp_path / "report.xyz").write_text("x", encoding="utf-8")
    (tmp_path / "README.md").write_text("# notes", encoding="utf-8")
    (tmp_path / "good.html.meta.json").write_text('{"source_url": "https://example.org/r"}', encoding="utf-8")
    results = {path.name: result for path, result in iter_ingest([tmp_path])}
    assert set(results) == {"good.html", "good.docx", "empty.txt", "random.pdf", "report.xyz"}
    good = results["good.html"]
    assert isinstance(good, Report) and good.meta.source_url == "https://example.org/r"
    assert isinstance(results["good.docx"], Report)
    assert isinstance(results["empty.txt"], EmptyFileError)
    assert isinstance(results["random.pdf"], CorruptFileError)
    assert isinstance(results["report.xyz"], UnsupportedFormatError)
