"""Report identity on real published reports: title, agency (canonical and aliases), year, warnings."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main
from assistant.index.store import report_from_dict, to_json
from assistant.ingest import ingest_file
from assistant.ingest.agency import agency_aliases, forms, parse_agency, split_places, validate_forms
from assistant.ingest.meta import find_identity
from assistant.records import Report

REAL_DIR = Path(__file__).resolve().parent / "data" / "real"
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
FORMS_TOML = Path(__file__).resolve().parents[1] / "assistant" / "data" / "agency_forms.toml"
CORE = "政府信息公开工作年度报告"

# Expected identity of every real file: title and agency as the report itself gives them (identity.jsonl,
# shared with benchmarks/identity.py). "title": null marks a page that names neither title nor agency.
EXPECTED_ROWS = [json.loads(line) for line in (REAL_DIR / "identity.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
EXPECTED: dict[str, tuple[str, str, int, str | None]] = {
    r["file"]: (r["title"], r["agency"], r["year"], r["template_version"]) for r in EXPECTED_ROWS if r["title"]
}
# pages without a title: (agency or "" when never named, year, warnings they must carry)
UNTITLED = {r["file"]: (r["agency"], r["year"], set(r["warnings"])) for r in EXPECTED_ROWS if not r["title"]}
ALIASES: dict[str, tuple[set[str], set[str]]] = {
    r["file"]: (set(r.get("aliases_include", [])), set(r.get("aliases_exclude", [])))
    for r in EXPECTED_ROWS if "aliases_include" in r or "aliases_exclude" in r
}


def _path(name: str) -> Path:
    local = REAL_DIR / name
    return local if local.is_file() else SHARED_REAL / name


@pytest.fixture(scope="module")
def real_reports() -> dict[str, Report]:
    names = [*EXPECTED, *UNTITLED]
    missing = [n for n in names if not _path(n).is_file()]
    assert not missing, f"real report files missing: {missing}"
    return {name: ingest_file(_path(name)) for name in names}


def test_every_real_file_is_listed() -> None:
    on_disk = {p.name for d in (REAL_DIR, SHARED_REAL) for p in d.iterdir() if p.suffix in (".txt", ".html")}
    assert on_disk == set(EXPECTED) | set(UNTITLED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_identity(name: str, real_reports: dict[str, Report]) -> None:
    meta = real_reports[name].meta
    title, agency, year, template = EXPECTED[name]
    assert (meta.title, meta.agency, meta.year, meta.template_version) == (title, agency, year, template)
    codes = {w.code for w in real_reports[name].warnings}
    assert not codes & {"identity_guessed", "agency_missing", "year_missing", "year_mismatch"}, codes


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_real_aliases(name: str, real_reports: dict[str, Report]) -> None:
    must, must_not = ALIASES[name]
    aliases = set(real_reports[name].meta.aliases)
    assert must <= aliases, must - aliases
    assert not aliases & must_not, aliases & must_not
    assert real_reports[name].meta.agency not in aliases
    ordered = real_reports[name].meta.aliases  # names that stand alone before the in-report short forms
    local = [a[0] in forms().levels and parse_agency(a) is None for a in ordered]
    assert local == sorted(local)


def test_whole_city_and_office_are_different_agencies(real_reports: dict[str, Report]) -> None:
    city = real_reports["shanghai-city-2022.txt"].meta
    office = real_reports["shanghai-gov-office-2019.html"].meta
    assert city.agency != office.agency
    assert office.agency not in {city.agency, *city.aliases}
    assert city.agency not in {office.agency, *office.aliases}


@pytest.mark.parametrize("name", sorted(UNTITLED))
def test_pages_without_a_title_say_so(name: str, real_reports: dict[str, Report]) -> None:
    agency, year, codes = UNTITLED[name]
    meta = real_reports[name].meta
    assert (meta.title, meta.agency, meta.year) == (Path(name).stem, agency, year)
    assert codes <= {w.code for w in real_reports[name].warnings}
    assert bool(meta.aliases) == bool(agency)


def test_page_that_never_names_its_agency_says_so(real_reports: dict[str, Report]) -> None:
    report = real_reports["wenzhou-gov-office-2022.txt"]
    assert report.meta.agency == "" and report.meta.aliases == ()
    warnings = {w.code: w.message for w in report.warnings}
    assert "机关未能确定" in warnings["agency_missing"]
    guessed = warnings["identity_guessed"]
    assert "文件名" in guessed and "catalog.csv" in guessed and "wenzhou-gov-office-2022.txt.meta.json" in guessed


def test_questions_name_real_titles_and_their_evidence_is_in_a_passage(real_reports: dict[str, Report]) -> None:
    by_title = {r.meta.title: r for r in real_reports.values()}
    lines = (REAL_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    assert len(questions) >= 20
    for q in questions:
        report = by_title[q["report"]]
        alternatives = [q["evidence"]] if isinstance(q["evidence"], str) else q["evidence"]
        for evidence in filter(None, alternatives):  # each alternative (sentence or table row) is in the report
            assert any(evidence in p.text for p in report.passages), (q["id"], evidence)


def test_identity_sources_on_real_layouts() -> None:
    def source(name: str) -> tuple[str, str]:
        identity = find_identity(None, ingest_file(_path(name)).cleaned_text, name)
        return identity.title_source, identity.agency_source

    assert source("gaoping-gov-office-2022.txt") == ("two_lines", "title")
    assert source("xiaogan-gov-office-2020.txt") == ("two_lines", "title")
    assert source("qingxin-gov-office-2022.txt") == ("sentence", "sentence")
    assert source("guiyang-gov-2021.txt") == ("sentence", "sentence")
    assert source("pingtan-2019.txt") == ("chrome", "title")
    qingxin = find_identity(None, ingest_file(_path("qingxin-gov-office-2022.txt")).cleaned_text, "q.txt")
    assert "区政府办公室" in qingxin.aliases  # defined by the text: (以下简称区政府办公室)


def test_sidecar_fixes_a_guessed_identity(tmp_path: Path) -> None:
    copy = tmp_path / "wenzhou-gov-office-2022.txt"
    shutil.copy(REAL_DIR / copy.name, copy)
    (tmp_path / (copy.name + ".meta.json")).write_text(json.dumps(
        {"title": f"温州市人民政府办公室2022年{CORE}", "agency": "温州市人民政府办公室"}, ensure_ascii=False),
        encoding="utf-8")
    report = ingest_file(copy)
    assert (report.meta.title, report.meta.agency, report.meta.year) == (
        f"温州市人民政府办公室2022年{CORE}", "温州市人民政府办公室", 2022)
    assert {"温州市政府办公室", "市政府办公室"} <= set(report.meta.aliases)
    assert not {w.code for w in report.warnings} & {"identity_guessed", "agency_missing"}
    (tmp_path / (copy.name + ".meta.json")).unlink()
    (tmp_path / "catalog.csv").write_text(
        f"file,title,agency,year,aliases\n{copy.name},温州市政府办公室2022年年报,温州市人民政府办公室,2022,温州市府办、市府办\n",
        encoding="utf-8")
    report = ingest_file(copy)
    assert report.meta.agency == "温州市人民政府办公室" and {"温州市府办", "市府办"} <= set(report.meta.aliases)


def test_aliases_round_trip_through_the_store(real_reports: dict[str, Report]) -> None:
    for name in ("xiaogan-gov-office-2020.txt", "pingtan-2024.html"):
        report = real_reports[name]
        again = report_from_dict(json.loads(to_json(report)))
        assert again == report and isinstance(again.meta.aliases, tuple)


def test_cli_ingest_prints_one_identity_line_per_report(capsys: pytest.CaptureFixture[str]) -> None:
    files = [_path("xiaogan-gov-office-2020.txt"), REAL_DIR / "wenzhou-gov-office-2022.txt"]
    assert main(["ingest", *map(str, files)]) == 0
    out = capsys.readouterr().out
    overview = sorted(out.split("身份一览")[1].splitlines()[1:3], key=lambda line: "wenzhou" in line)
    assert overview[0].strip().startswith(f"xiaogan-gov-office-2020.txt：孝感市人民政府办公室2020年{CORE}｜"
                                         "机关：孝感市人民政府办公室｜年度：2020｜模板：2019版｜表格：1 张")
    assert "机关：（未识别）" in overview[1] and "身份按文件名推测" in overview[1] and "未写明机关" in overview[1]
    assert main(["ingest", str(files[0]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["report"]["aliases"][:1] and "孝感市人民政府办公室" in data[0]["identity"]


def test_cli_build_and_reports_json(tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = ["xiaogan-gov-office-2020.txt", "shanghai-city-2022.txt", "pingtan-2024.html",
             "wenzhou-gov-office-2022.txt"]
    for name in names:
        shutil.copy(_path(name), corpus / name)
    index = tmp_path / "index"
    monkeypatch.setenv("ASSISTANT_CACHE", str(cache_dir))
    assert main(["build", "--corpus", str(corpus), "--index", str(index), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["build", "--corpus", str(corpus), "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert sum(1 for line in out.splitlines() if "｜机关：" in line) == len(names)
    assert "注意：未能从报告内容中读出标题" in out and "wenzhou-gov-office-2022.txt.meta.json" in out
    assert main(["reports", "--index", str(index), "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert main(["reports", "--index", str(index)]) == 0
    human = capsys.readouterr().out
    by_file = {Path(r["source_file"]).name: r for r in listed}
    assert set(by_file) == set(names)
    for name in names[:3]:
        title, agency, year, template = EXPECTED[name]
        r = by_file[name]
        assert (r["title"], r["agency"], r["year"], r["template_version"]) == (title, agency, year, template)
    assert by_file["pingtan-2024.html"]["tables"] == ["表二", "表三", "表四"]
    assert "市政府办公室" in by_file["xiaogan-gov-office-2020.txt"]["aliases"]
    assert {w["code"] for w in by_file["wenzhou-gov-office-2022.txt"]["warnings"]} >= {"identity_guessed",
                                                                                        "agency_missing"}
    assert "别名：" in human and f"共 {len(names)} 份报告" in human


def test_reports_without_an_index_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reports", "--index", str(tmp_path / "none")]) == 1
    assert "assistant build" in capsys.readouterr().err


# --- the agency forms data: examples and paraphrases -------------------------------------------


@pytest.mark.parametrize("example", forms().examples, ids=lambda e: str(e["text"]))
def test_forms_examples_parse_as_written(example: dict[str, Any]) -> None:
    parsed = parse_agency(example["text"])
    assert parsed is not None
    assert parsed.kind == example["kind"] and list(parsed.places) == example["places"]
    assert parsed.canonical == example.get("canonical", example["text"])


# Real agency names, each in the layouts real reports use for their titles.
NAMES = ["孝感市人民政府办公室", "上海市杨浦区人民政府", "平潭综合实验区", "开平市农业农村局", "上海市",
         "荆州市荆州区人民政府办公室", "城口县人民政府机关", "清远市清新区人民政府办公室"]
LAYOUTS = [
    ("heading", "{a}{y}年政府信息公开工作年度报告\n一、总体情况\n{y}年，本机关…", None),
    ("heading", "{a}{y}年度政府信息公开工作年度报告\n一、总体情况", None),
    ("heading", "{y}年{a}政府信息公开工作年度报告\n一、总体情况", None),
    ("heading", "{a}{y}年 政府信息公开工作年度报告 一、总体情况 {y}年,本机关坚持…", None),
    ("two_lines", "{a}\n{y}年政府信息公开工作年度报告\n根据《条例》要求编制本报告。", None),
    ("three_lines", "{a}\n{y}年政府信息公开工作\n年度报告\n根据《条例》要求编制本报告。", None),
    ("chrome", "标题: {a}{y}年度政府信息公开工作年度报告\n发布机构: \n正文……", None),
    ("chrome", "名  称 {a}{y}年政府信息公开工作年度报告\n发布日期 2023-01-20\n", None),
    ("hint", "根据《条例》编制本报告。本报告所列数据统计期限为{y}年1月1日至12月31日。",
     "{a}{y}年政府信息公开工作年度报告_政府信息公开年报_某某网站"),
    ("sentence", "根据《中华人民共和国政府信息公开条例》规定，现公布{a}{y}年政府信息公开工作年度报告。", None),
    ("sentence", "根据规定，现公布《{a}{y}年政府信息公开工作年度报告》。本报告包括…", None),
    ("sentence", "…要求，本机关办公室编制了{a}{y}年度政府信息公开工作年度报告。", None),
    ("heading", "{a}政府信息公开工作年度报告（{y}年度）\n一、总体情况", None),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("source", "text", "hint"), LAYOUTS)
def test_identity_paraphrases(name: str, source: str, text: str, hint: str | None) -> None:
    parsed = parse_agency(name)
    assert parsed is not None
    identity = find_identity(hint.format(a=name, y=2022) if hint else None, text.format(a=name, y=2022), "x.txt")
    assert (identity.agency, identity.year) == (parsed.canonical, 2022)
    assert identity.title_source == source
    assert not identity.warnings


@pytest.mark.parametrize("text", [
    "根据《福建省人民政府办公厅关于编制公布2021年政府信息公开工作年度报告有关事项的通知》要求编制。",
    "根据规定，现将本机关2022年政府信息公开工作年度报告公布如下。",
    "2022年,市政府办公室坚持以习近平新时代中国特色社会主义思想为指导，编制2022年政府信息公开工作年度报告。",
])
def test_another_agency_or_no_agency_is_never_taken(text: str) -> None:
    identity = find_identity(None, text, "report-2022.txt")
    assert identity.agency == ""
    assert "agency_missing" in {w.code for w in identity.warnings}


def test_chrome_publisher_and_publication_date_are_last_resorts() -> None:
    text = "2021-02-09 发布:卓尼县人民政府办公室 点击数:\n一、总体情况\n全县各级各部门共制作信息5435条。"
    identity = find_identity(None, text, "zhuoni.txt")
    assert (identity.agency, identity.year, identity.title) == ("卓尼县人民政府办公室", None, "zhuoni")
    codes = {w.code for w in identity.warnings}
    assert {"agency_from_chrome", "identity_guessed", "year_missing"} <= codes
    dated = find_identity(None, "发布机构：卓尼县人民政府办公室　发布日期：2021-02-09\n一、总体情况", "zhuoni.txt")
    assert dated.year == 2020 and "year_from_publication" in {w.code for w in dated.warnings}
    # a publisher field that is only a short form (市政府办) is not taken as the agency
    assert find_identity(None, "发布机构 市政府办 发文日期 2018-02-28\n正文", "x.txt").agency == ""


def test_year_mismatch_is_reported() -> None:
    text = "某县人民政府2021年政府信息公开工作年度报告\n本报告所列数据统计期限为2020年1月1日至12月31日。"
    identity = find_identity(None, text, "x.txt")
    assert identity.year == 2021 and "year_mismatch" in {w.code for w in identity.warnings}


def test_alias_rules() -> None:
    office = parse_agency("孝感市人民政府办公室")
    area = parse_agency("上海市")
    government = parse_agency("上海市杨浦区政府")
    assert office and area and government
    assert set(agency_aliases(office)) == {"孝感市政府办公室", "市人民政府办公室", "市政府办公室"}
    assert set(agency_aliases(area)) == {"上海市人民政府", "上海市政府"}
    assert government.canonical == "上海市杨浦区人民政府"
    assert "上海市杨浦区" not in agency_aliases(government) and "杨浦区人民政府" in agency_aliases(government)
    assert split_places("荆州市荆州区") == ("荆州市", "荆州区")
    assert parse_agency("本机关") is None and parse_agency("市政府办公室") is None


def _raw_forms() -> dict[str, Any]:
    return tomllib.loads(FORMS_TOML.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("change", "message"), [
    (lambda raw: raw.pop("title_cores"), "title_cores"),
    (lambda raw: raw["bodies"].append({"suffix": "所", "kind": "bureau"}), "kind"),
    (lambda raw: raw["bodies"].insert(0, {"suffix": "局", "kind": "department"}), "重复"),
    (lambda raw: raw["bodies"].insert(0, {"suffix": "政府", "kind": "government"}), "重复"),
    (lambda raw: raw["places"]["suffixes"].insert(0, "区"), "suffixes"),
    (lambda raw: raw["places"].update(levels=["市区"]), "单字"),
    (lambda raw: raw["places"].update(government_body="人民公社"), "government_body"),
    (lambda raw: raw.update(version=2), "version"),
])
def test_forms_validation_rejects_broken_data(change: Any, message: str) -> None:
    raw = _raw_forms()
    validate_forms(raw)
    change(raw)
    with pytest.raises(ValueError, match=message):
        validate_forms(raw)


def test_stored_identities_are_the_reports_identities(full_index: Path) -> None:
    """`assistant build` and `assistant reports` read identities out of the stored JSON in SQLite (a 10^6 corpus
    holds ~20 GB of decoded reports); each is the same as the identity of the decoded report, in the same order."""
    from assistant.index.layout import live_build_dir
    from assistant.index.store import Store
    from assistant.ingest.summary import identity, report_identity

    store = Store(live_build_dir(full_index) / "store.sqlite", readonly=True)
    try:
        stored = [identity(*parts) for parts in store.identities()]
        decoded = [report_identity(r) for r in store.reports()]
    finally:
        store.close()
    assert len(stored) >= 6 and stored == decoded
    assert any(i["tables"] for i in stored) and any(i["warnings"] for i in stored)
