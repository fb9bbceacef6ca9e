"""The analysis a build stores (commitments with their follow-up, table checks, cross-checks): equal to computing it
directly, carried over for reports whose inputs did not change, and an old-format build asked to rebuild."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SAMPLE_FILES, SAMPLES_DIR, SEED_FILE, stored

from assistant.analyse.checks import check_reports
from assistant.analyse.commitments import DONE, NO_REPORT, PARTLY, extract_commitments, follow_up
from assistant.analyse.crosschecks import _occurrences, cross_checks
from assistant.analyse.facts import extract_facts
from assistant.api import Assistant
from assistant.config import Settings
from assistant.errors import IndexMismatchError
from assistant.index.analysis import keyword_ranker
from assistant.index.build import build_index
from assistant.index.layout import live_build_dir
from assistant.index.store import Store
from assistant.ingest import ingest_file
from assistant.records import Commitment, Fact, Report

QINGHE = "青禾县人民政府办公室"
REAL = REPO_ROOT / "tests" / "data" / "real"
PINGTAN = ("pingtan-2023.html", "pingtan-2024.html", "pingtan-2025.html")
PINGTAN_AGENCY = "平潭综合实验区"


def _with_facts(report: Report) -> tuple[Report, list[Fact]]:
    facts, warnings = extract_facts(report)
    return dataclasses.replace(report, warnings=report.warnings + tuple(w for w in warnings
                                                                      if w not in report.warnings)), facts


def _direct_commitments(reports: list[Report]) -> list[Commitment]:
    """What Assistant.commitments() returned before the build stored it: every report's commitments judged
    against its agency's next report, then every report's problems."""
    by_id = {r.report_id: r for r in reports}
    found = [c for r in reports for c in extract_commitments(r)]
    judged = follow_up([c for c in found if c.kind == "commitment"], by_id, keyword_ranker())
    return judged + [c for c in found if c.kind == "problem"]


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Report], list[Fact]]:
    """The seed, the samples and three years of one real agency (pingtan, its agency named alike in all three,
    with 2025's 上年结转 changed so that the year-to-year check has something to find), in report order."""
    files = [SEED_FILE, *(SAMPLES_DIR / n for n in SAMPLE_FILES), *(REAL / n for n in PINGTAN)]
    pairs = [_with_facts(ingest_file(path)) for path in files]
    pingtan = {r.report_id for r, _ in pairs[-3:]}
    reports = [dataclasses.replace(r, meta=dataclasses.replace(r.meta, agency=PINGTAN_AGENCY))
               if r.report_id in pingtan else r for r, _ in pairs]
    facts = [dataclasses.replace(f, agency=PINGTAN_AGENCY) if f.report_id in pingtan else f for _, fs in pairs for f in fs]
    last = pairs[-1][0].report_id
    facts = [dataclasses.replace(f, value=3.0) if f.report_id == last and f.column == "总计"
             and f.row_path == ("二、上年结转政府信息公开申请数量",) else f for f in facts]
    return sorted(reports, key=lambda r: (r.meta.agency, r.meta.year or 0, r.meta.title)), facts


def test_stored_analysis_equals_the_direct_computation(corpus: tuple[list[Report], list[Fact]],
                                                      tmp_path: Path) -> None:
    reports, facts = corpus
    store = stored(tmp_path, reports, facts)
    checks, violations = check_reports(reports, facts)
    direct = _direct_commitments(reports)
    assert store.commitments() == direct
    assert store.table_checks() == checks and store.violations() == violations
    assert store.discrepancies() == cross_checks(reports, facts)
    # the corpus exercises every kind of finding, so equality says something
    statuses = {c.status for c in direct}
    assert {DONE, PARTLY, NO_REPORT} <= statuses and violations
    assert {d.kind for d in store.discrepancies()} >= {"year_to_year"}
    # filtered by report ids, in report order
    qinghe = [r.report_id for r in reports if r.meta.agency == QINGHE]
    assert store.commitments(qinghe) == [c for c in direct if c.agency == QINGHE]
    assert store.table_checks(qinghe[1:]) == [c for c in checks if c.report_id == qinghe[1]]
    assert store.commitments([]) == []


def test_analysis_in_worker_processes_stores_the_same_rows(corpus: tuple[list[Report], list[Fact]], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.index.analysis as analysis

    reports, facts = corpus
    monkeypatch.setattr(analysis, "PARALLEL_MIN", 2)  # the test corpus is smaller than a parallel build's minimum
    alone, parallel = stored(tmp_path / "a", reports, facts), stored(tmp_path / "b", reports, facts, workers=2)

    def rows(store: Store) -> list[tuple[str, ...]]:
        return store.conn.execute("SELECT * FROM findings ORDER BY report_id, seq").fetchall()

    assert rows(parallel) == rows(alone) and len(rows(alone)) > 50
    assert parallel.summary.analysed == alone.summary.analysed == [r.report_id for r in reports]


def test_add_one_recomputes_the_changed_report_and_its_neighbours(corpus: tuple[list[Report], list[Fact]],
                                                                 tmp_path: Path) -> None:
    reports, facts = corpus
    qinghe_2022 = next(r for r in reports if r.meta.agency == QINGHE and r.meta.year == 2022)
    qinghe_2021 = next(r for r in reports if r.meta.agency == QINGHE and r.meta.year == 2021)
    before = [r for r in reports if r is not qinghe_2022]
    first = stored(tmp_path / "a", before, [f for f in facts if f.report_id != qinghe_2022.report_id])
    assert {c.status for c in first.commitments([qinghe_2021.report_id], ("commitment",))} == {NO_REPORT}
    assert not first.summary.carried and len(first.summary.analysed) == len(before)

    second = stored(tmp_path / "b", reports, facts, tmp_path / "a" / "store.sqlite")  # qinghe 2022 added
    assert set(second.summary.analysed) == {qinghe_2022.report_id, qinghe_2021.report_id}
    assert set(second.summary.carried) == {r.report_id for r in before} - {qinghe_2021.report_id}
    assert [c.status for c in second.commitments([qinghe_2021.report_id], ("commitment",))] == [DONE, PARTLY, DONE]
    assert second.commitments() == _direct_commitments(reports)  # carried rows and new ones: as if computed now
    assert second.discrepancies() == cross_checks(reports, facts)

    # pingtan 2024 changed (its metadata): 2023's commitments are judged against it, 2025's 上年结转 checked
    # against it, so those two are recomputed with it; nothing else
    pingtan = [r for r in reports if r.meta.agency == PINGTAN_AGENCY]
    changed = dataclasses.replace(pingtan[1], meta=dataclasses.replace(pingtan[1].meta, source_url="https://x.cn/a"))
    third = stored(tmp_path / "c", [changed if r is pingtan[1] else r for r in reports], facts,
                   tmp_path / "b" / "store.sqlite")
    assert set(third.summary.analysed) == {r.report_id for r in pingtan}
    assert len(third.summary.carried) == len(reports) - 3
    assert {h.source_url for c in third.commitments([pingtan[0].report_id]) for h in c.evidence} == {"https://x.cn/a"}


def test_analyse_imports_neither_search_nor_index() -> None:
    for path in (REPO_ROOT / "assistant" / "analyse").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [n for n in names if n.startswith(("assistant.search", "assistant.index", "assistant.answer"))], path


# --- through build_index, with the real encoder (embeddings cached across runs) -------------------------


@pytest.fixture(scope="module")
def embeddings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache_plugin = getattr(request.config, "cache", None)
    return Path(cache_plugin.mkdir("commitments-test-embeddings")) if cache_plugin else tmp_path_factory.mktemp("e")


def test_a_new_next_year_report_changes_last_years_statuses(tmp_path: Path, embeddings: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in (SEED_FILE, SAMPLES_DIR / "qinghe-county-2021.html", SAMPLES_DIR / "lanxi-city-2021.txt"):
        shutil.copy(path, corpus / path.name)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=embeddings)
    first = build_index(settings)
    assert first.analysis is not None and len(first.analysis.analysed) == 3 and not first.analysis.carried
    opened = Assistant.open(settings.index_dir, settings)
    statuses = [c.status for c in opened.commitments(agency="青禾县", year=2021) if c.kind == "commitment"]
    assert statuses == [NO_REPORT] * 3
    answer = opened.ask("青禾县2021年的承诺落实了吗？")
    assert answer.path == "commitments" and "已收录的报告中没有" in answer.text

    shutil.copy(SAMPLES_DIR / "qinghe-county-2022.pdf", corpus / "qinghe-county-2022.pdf")
    second = build_index(settings)
    assert second.analysis is not None
    reopened = Assistant.open(settings.index_dir, settings)
    ids = {(m.agency, m.year): rid for rid, m in reopened.retriever.metas.items()}
    assert set(second.analysis.analysed) == {ids[(QINGHE, 2021)], ids[(QINGHE, 2022)]}
    assert set(second.analysis.carried) == {ids[("龙泉市", 2020)], ids[("澜溪市人民政府", 2021)]}
    followed = [c for c in reopened.commitments(agency="青禾县", year=2021) if c.kind == "commitment"]
    assert [c.status for c in followed] == [DONE, PARTLY, DONE]
    assert all(h.report_id == ids[(QINGHE, 2022)] for c in followed for h in c.evidence)
    answer = reopened.ask("青禾县2021年的承诺落实了吗？")
    assert answer.text.count(DONE) == 2 and answer.text.count(PARTLY) == 1
    assert any("56.4%" in c.text and c.year == 2022 for c in answer.citations)
    from assistant import cli

    capsys.readouterr()
    assert cli.main(["commitments", "--index", str(settings.index_dir), "--agency", "青禾县", "--year", "2021"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.rsplit("—— ", 1)[1] for line in printed if line.startswith("[承诺]")] == [DONE, PARTLY, DONE]
    assert any(line.startswith("    依据：青禾县人民政府办公室2022年") for line in printed)
    assert sum(line.startswith("[问题] 青禾县人民政府办公室 2021年") for line in printed) == 3

    unchanged = build_index(settings)  # nothing changed: the live build is kept, nothing is analysed
    assert unchanged.analysis is None and unchanged.build_dir == live_build_dir(settings.index_dir)


def test_an_old_format_build_is_refused_with_the_rebuild_message(tmp_path: Path, embeddings: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILE, corpus / SEED_FILE.name)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=embeddings)
    build_index(settings)
    build = live_build_dir(settings.index_dir)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    (build / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}), encoding="utf-8")
    store = Store(build / "store.sqlite")
    store.conn.executescript("DROP TABLE findings; DROP TABLE analysis;")  # as a build before format 2 left it
    store.close()
    with pytest.raises(IndexMismatchError, match="assistant build"):
        Assistant.open(settings.index_dir, settings)
    from assistant import cli

    assert cli.main(["commitments", "--index", str(settings.index_dir)]) != 0
    rebuilt = build_index(settings)  # the rebuild it asks for works, and analyses everything afresh
    assert rebuilt.analysis is not None and len(rebuilt.analysis.analysed) == 1
    assert Assistant.open(settings.index_dir, settings).commitments(year=2020)


class _Index:
    """What the consistency answerer reads from a retriever: reports, their facts, and the store it analysed."""

    def __init__(self, reports: list[Report], facts: list[Fact], folder: Path) -> None:
        self.reports = {r.report_id: r for r in reports}
        self.metas = {r.report_id: r.meta for r in reports}
        self.store = stored(folder, reports, facts)
        self._facts = facts

    def facts_of(self, report_ids: list[str]) -> list[Fact]:
        return [f for f in self._facts if f.report_id in report_ids]


def test_consistency_answer_cites_last_years_cell_to_last_years_report(corpus: tuple[list[Report], list[Fact]],
                                                                        tmp_path: Path) -> None:
    from assistant.answer.from_checks import consistency
    from assistant.understand.query import understand

    reports, facts = corpus
    index = _Index(reports, facts, tmp_path)
    query = understand("平潭综合实验区2025年的表三数字对得上吗？", None, None, index.metas)
    answer = consistency(query, index)  # type: ignore[arg-type]
    assert answer is not None and "2025年报告表三“二、上年结转”为 3件" in answer.text
    carried = [c for c in answer.citations if c.row and "结转" in c.row]
    assert {(c.year, c.report_title) for c in carried} == {
        (r.meta.year, r.meta.title) for r in reports if r.meta.agency == PINGTAN_AGENCY and r.meta.year in (2024, 2025)}


@pytest.mark.parametrize(("question", "tables"), [
    ("平潭综合实验区2024年的表三对得上吗？", {"表三"}),
    ("平潭2024年依申请公开情况表的数字能对上吗", {"表三"}),
    ("平潭综合实验区2024年表四核对一下对不对得上", {"表四"}),
    ("平潭综合实验区2024年的年报数字对得上吗？", {"表三", "表四"}),
])
def test_a_consistent_table_is_shown_with_its_numbers(corpus: tuple[list[Report], list[Fact]], tmp_path: Path,
                                                      question: str, tables: set[str]) -> None:
    from assistant.answer.evidence import unsupported_numbers
    from assistant.answer.from_checks import consistency
    from assistant.understand.query import understand

    reports, facts = corpus
    index = _Index(reports, facts, tmp_path)
    answer = consistency(understand(question, None, None, index.metas), index)  # type: ignore[arg-type]
    assert answer is not None and "都对得上" in answer.text, question
    shown = {name for name in ("表三", "表四") if f"- {name}" in answer.text}
    assert shown == tables, answer.text
    if "表三" in tables:  # T3 of 平潭 2024: 新收 218 + 上年结转 0 = 办理总计 218 + 结转下年 0
        assert "一 + 二 = 218 + 0 = 218 = 三（七）+ 四 = 218 + 0 = 218" in answer.text
    assert answer.citations and all(c.row for c in answer.citations)
    assert unsupported_numbers(answer.text, answer.citations) == [], answer.text


@pytest.mark.parametrize("cue, text", [
    ("受理", "本年受理申请12件，受理率100%"), ("aa", "aaaa a aaa"), ("申请", "无"), ("件", "件"), ("", "ab"),
])
def test_cue_occurrences_are_where_a_literal_regex_finds_them(cue: str, text: str) -> None:
    assert list(_occurrences(cue, text)) == [m.start() for m in re.finditer(re.escape(cue), text)]
