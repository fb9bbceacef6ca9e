"""Shared test fixtures: where shared/ lives (beside the repo), the seed and the sample reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.ingest import ingest_file
from assistant.records import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
SAMPLES_DIR = SHARED_DIR / "samples"
SEED_FILE = REPO_ROOT / "corpus" / "longquan-2020.txt"

SAMPLE_FILES = {
    "qinghe-county-2021.html": ("青禾县人民政府办公室2021年政府信息公开工作年度报告", "青禾县人民政府办公室", 2021, "html"),
    "qinghe-county-2022.pdf": ("青禾县人民政府办公室2022年政府信息公开工作年度报告", "青禾县人民政府办公室", 2022, "pdf"),
    "lanxi-city-eco-2022.docx": ("澜溪市生态环境局2022年政府信息公开工作年度报告", "澜溪市生态环境局", 2022, "docx"),
    "lanxi-city-2021.txt": ("澜溪市人民政府2021年政府信息公开工作年度报告", "澜溪市人民政府", 2021, "txt"),
    "lanxi-city-2022.html": ("澜溪市人民政府2022年政府信息公开工作年度报告", "澜溪市人民政府", 2022, "html"),
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-empty line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared/ not found beside the repository at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def samples_dir(shared_dir: Path) -> Path:
    return shared_dir / "samples"


@pytest.fixture(scope="session")
def seed_report() -> Report:
    return ingest_file(SEED_FILE)


@pytest.fixture(scope="session")
def sample_reports(samples_dir: Path) -> dict[str, Report]:
    """Every sample report, parsed once, by file name."""
    return {name: ingest_file(samples_dir / name) for name in SAMPLE_FILES}


@pytest.fixture(scope="session")
def reports_by_title(sample_reports: dict[str, Report], seed_report: Report) -> dict[str, Report]:
    return {r.meta.title: r for r in [*sample_reports.values(), seed_report]}


@pytest.fixture(scope="session")
def dev_questions(shared_dir: Path) -> list[dict[str, Any]]:
    """The seed's dev questions (shared/eval/dev_questions.jsonl)."""
    return read_jsonl(shared_dir / "eval" / "dev_questions.jsonl")


@pytest.fixture(scope="session")
def sample_questions(samples_dir: Path) -> list[dict[str, Any]]:
    """The samples' questions (shared/samples/questions.jsonl)."""
    return read_jsonl(samples_dir / "questions.jsonl")


# --- built indexes (real encoder, real FAISS and BM25), shared by the tests that search ----------


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the whole test session, so each passage is embedded once."""
    return tmp_path_factory.mktemp("embedding-cache")


def _build(folder: Path, files: list[Path], cache: Path) -> Path:
    from assistant.config import Settings
    from assistant.index.build import build_index

    corpus = folder / "corpus"
    corpus.mkdir()
    for file in files:
        (corpus / file.name).write_bytes(file.read_bytes())
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index", cache_dir=cache)
    build_index(settings)
    return settings.index_dir


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """An index of corpus/ (the real seed report)."""
    return _build(tmp_path_factory.mktemp("seed"), [SEED_FILE], cache_dir)


@pytest.fixture(scope="session")
def full_index(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, samples_dir: Path) -> Path:
    """An index of the seed and the five sample reports."""
    return _build(tmp_path_factory.mktemp("full"), [SEED_FILE, *(samples_dir / n for n in SAMPLE_FILES)], cache_dir)


def stored(folder: Path, reports: list[Report], facts: list[Any], live: Path | None = None, workers: int = 1) -> Any:
    """A build's store.sqlite in `folder` holding these reports (with their keyword tokens) and facts, analysed as
    a build analyses them (index/analysis.py, carrying rows over from the `live` store.sqlite when given); no
    vectors. Returns the open Store; what the analysis did is in its `summary` attribute."""
    from assistant import segment
    from assistant.index.analysis import analyse_build
    from assistant.index.store import Store

    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "store.sqlite")
    next_id = 0
    for report in reports:
        store.add_tokens(next_id, [segment.tokenize(p.embedding_text()) for p in report.passages])
        next_id = store.add_report(report, next_id)
    store.add_facts(facts)
    store.commit()
    store.summary = analyse_build(store, live, workers)
    return store
