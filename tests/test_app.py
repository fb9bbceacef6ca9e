"""The Streamlit app (AppTest, every page), its streamlit-free helpers (ui_text, uploads, jobs), and the
command line's edges the public meets (help, long questions, exit codes, progress, `make run`)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import string
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hst
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from assistant.analyse.checks import FACT_FIELDS, fact_row
from assistant.api import Assistant
from assistant.cli import main as cli_main
from assistant.cli import translate_error, wrap_columns
from assistant.config import Settings
from assistant.errors import AssistantError
from assistant.index.build import build_index
from assistant.index.layout import live_build_dir
from assistant.ingest import ingest_file
from assistant.web import ui_text as ui
from assistant.web.jobs import BuildJob
from assistant.web.uploads import UploadError, sanitize_filename, save_upload

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "app.py")
SEED = REPO_ROOT / "corpus" / "longquan-2020.txt"
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
SEED_TITLE = "龙泉市2020年政府信息公开工作年度报告"
QINGHE_TITLE = "青禾县人民政府办公室2021年政府信息公开工作年度报告"
DEV_QUESTION = "龙泉市2020年办理了多少件政府信息公开申请？"
NOT_FOUND_QUESTION = "龙泉市2020年因政府信息公开被申请行政复议后结果纠正的有几件？"
PASSWORD = "correct horse battery"
SEARCH_QUERY = "政府信息公开申请 办理"
ENGLISH_HELP = ("usage:", "options:", "positional arguments", "optional arguments", "show this help")


@dataclass(frozen=True)
class BuiltIndex:
    corpus_dir: Path
    index_dir: Path
    cache_dir: Path


def _samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"shared/samples not found beside the repository at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> BuiltIndex:
    """A small index (the seed and one sample) built once for this module; embeddings cached across runs."""
    root = tmp_path_factory.mktemp("app")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    shutil.copy(_samples() / "qinghe-county-2021.html", corpus / "qinghe-county-2021.html")
    cache_plugin = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = Path(cache_plugin.mkdir("app-test-embeddings")) if cache_plugin else root / "cache"
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=cache)
    summary = build_index(settings)
    assert summary.reports == 2, summary.line()
    return BuiltIndex(corpus, settings.index_dir, cache)


@pytest.fixture(scope="module")
def qinghe_pair(tmp_path_factory: pytest.TempPathFactory, built: BuiltIndex) -> BuiltIndex:
    """青禾县 2021 and 2022: commitments of 2021 with their follow-up in the 2022 report."""
    root = tmp_path_factory.mktemp("pair")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in ("qinghe-county-2021.html", "qinghe-county-2022.pdf"):
        shutil.copy(_samples() / name, corpus / name)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=built.cache_dir)
    assert build_index(settings).reports == 2
    return BuiltIndex(corpus, settings.index_dir, built.cache_dir)


def _point_at(monkeypatch: pytest.MonkeyPatch, index: BuiltIndex, password: str | None = None) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(index.index_dir))
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(index.corpus_dir))
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(index.cache_dir))
    if password is None:
        monkeypatch.delenv("ASSISTANT_ADMIN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("ASSISTANT_ADMIN_PASSWORD", password)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, built: BuiltIndex) -> AppTest:
    _point_at(monkeypatch, built)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _go(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, at.exception
    return at


def _assistant_texts(at: AppTest) -> list[str]:
    return [m.value for msg in at.chat_message if msg.name == "assistant" for m in msg.markdown]


def _unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown.replace("  \n", "\n"))


# --- helpers: escaping and highlighting -----------------------------------------------------


def test_escape_markdown_escapes_every_markdown_character() -> None:
    text = "# 标题 *粗* _斜_ `码` [链接](http://x) <b>html</b> $x$ :red[红] ~删~ | 表 | 1. 列 > 引"
    escaped = ui.escape_markdown(text)
    for ch in "#*_`[]()<>$:~|.":
        assert re.search(rf"(?<!\\){re.escape(ch)}", escaped) is None, ch
    assert _unescape(escaped) == text


def test_escape_markdown_keeps_lines_and_drops_indentation() -> None:
    escaped = ui.escape_markdown("第一行\n    缩进的第二行\r\n第三行")
    assert escaped == "第一行  \n缩进的第二行  \n第三行"


@given(hst.text(alphabet=string.printable + "政府信息公开年报（）〔〕：；，。", max_size=80))
def test_escape_markdown_round_trips(text: str) -> None:
    escaped = ui.escape_markdown(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert _unescape(escaped) == "\n".join(line.strip(" \t") for line in lines)
    unescaped_punctuation = re.sub(r"\\.", "", escaped.replace("  \n", "\n"))
    assert not set(unescaped_punctuation) & set(string.punctuation)


def test_highlight_wraps_terms_and_escapes_the_rest() -> None:
    marked = ui.highlight("办理政府信息公开申请15件*（含[补正]）", ["政府信息公开申请", "补正", "没有"])
    assert marked == (
        "办理:orange-background[**政府信息公开申请**]15件\\*（含\\[:orange-background[**补正**]\\]）"
    )
    assert ui.highlight("a*b", []) == "a\\*b"
    assert ui.highlight("Email：X@Y.org", ["email"]) == ":orange-background[**Email**]：X\\@Y\\.org"


def test_highlight_tolerates_a_missing_last_character() -> None:
    assert ui.highlight("提交的政府信息公开申15件", ["政府信息公开申请"]) == (
        "提交的:orange-background[**政府信息公开申**]15件"
    )


def test_highlight_terms_drop_question_words() -> None:
    terms = ui.highlight_terms(DEV_QUESTION)
    assert "龙泉市" in terms and "2020" in terms
    assert not {"多少", "了", "件", "政府信息公开"} & set(terms)


def test_answer_markdown_marks_citation_markers() -> None:
    assert ui.answer_markdown("共15件[1][2]") == "共15件:blue-background[\\[1\\]]:blue-background[\\[2\\]]"


def test_clip_question_cuts_long_pastes_and_says_so() -> None:
    assert ui.clip_question("  电话是多少？ ", 500) == ("电话是多少？", None)
    text, note = ui.clip_question("问" * 501, 500)
    assert text == "问" * 500 and note == "问题过长（共 501 字），已截取前 500 字进行查询。"
    assert ui.clip_question("问" * 500, 500) == ("问" * 500, None)


def test_index_caption_and_stage_text() -> None:
    assert ui.index_caption(3, "2026-12-01T09:05:07+0000") == "已收录 3 份报告 · 更新于 2026年12月1日"
    assert ui.index_caption(3, "not a date") == "已收录 3 份报告"
    assert ui.stage_text("解析", 3, 12) == "解析报告文件：3/12 个文件"
    assert ui.stage_text("向量化", 32, 37) == "向量化新段落：32/37 个新段落"
    assert ui.stage_text("写入索引", 0, 0) == "写入索引…"


def test_chrome_css_replaces_streamlits_english_hints() -> None:
    css = ui.chrome_css(50)
    assert css.startswith("<style>") and css.endswith("</style>")
    assert '[data-testid="InputInstructions"] { display: none; }' in css
    assert '"选择文件"' in css and '"或把文件拖放到这里。每个文件不超过 50 MB，支持 TXT、HTML、PDF、DOCX"' in css
    assert "12.5 MB" in ui.chrome_css(12.5)


def test_safe_url_and_source_path(tmp_path: Path) -> None:
    assert ui.safe_url("https://www.example.org/a?b=1") == "https://www.example.org/a?b=1"
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "http://", None, "http://a b"):
        assert ui.safe_url(bad) is None
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("x", encoding="utf-8")
    assert ui.source_path(str(corpus / "a.txt"), corpus) == (corpus / "a.txt").resolve()
    assert ui.source_path(str(tmp_path / "secret.txt"), corpus) is None
    assert ui.source_path(str(corpus / ".." / "secret.txt"), corpus) is None
    assert ui.source_path(None, corpus) is None


# --- helpers: uploads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\龙泉 年报 2021.PDF", "龙泉_年报_2021.pdf"),
        (".hidden.html", "hidden.html"),
        ("..docx", "report.docx"),
        ("a<b>|c;rm -rf.htm", "a_b_c_rm_-rf.htm"),
        ("报告.tar.txt", "报告.tar.txt"),
        ("ｆｕｌｌ１.txt", "full1.txt"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize("name", ["evil.exe", "noext", "report.txt.sh", "x.meta.json"])
def test_sanitize_filename_refuses_other_types(name: str) -> None:
    with pytest.raises(UploadError):
        sanitize_filename(name)


def test_save_upload_stores_under_corpus_and_never_overwrites(tmp_path: Path) -> None:
    data = (_samples() / "lanxi-city-2021.txt").read_bytes()
    corpus = tmp_path / "corpus"
    saved = save_upload(corpus, "../uploads/lanxi-city-2021.txt", data, max_bytes=len(data))
    assert saved == (corpus / "lanxi-city-2021.txt").resolve()
    assert saved.read_bytes() == data
    assert ingest_file(saved).meta.title == "澜溪市人民政府2021年政府信息公开工作年度报告"
    other = data.replace("澜溪".encode(), "兰溪".encode())
    second = save_upload(corpus, "lanxi-city-2021.txt", other, max_bytes=len(other))
    assert second.name == "lanxi-city-2021-1.txt"
    assert saved.read_bytes() == data  # the first file is untouched
    with pytest.raises(UploadError, match="内容完全相同"):
        save_upload(corpus, "copy.txt", data, max_bytes=len(data))
    with pytest.raises(UploadError, match="超过上限"):
        save_upload(corpus, "big.txt", data + b"x", max_bytes=len(data))
    with pytest.raises(UploadError, match="为空"):
        save_upload(corpus, "empty.txt", b"", max_bytes=10)
    assert sorted(p.name for p in corpus.iterdir()) == ["lanxi-city-2021-1.txt", "lanxi-city-2021.txt"]
    assert not (tmp_path / "uploads").exists()


def test_build_job_reports_progress_and_errors() -> None:
    job = BuildJob()

    class Summary:
        failures: list[str] = []

        def line(self) -> str:
            return "共 1 份报告"

    def build(progress: Callable[[str, int, int], None]) -> Summary:
        progress("解析", 1, 2)
        return Summary()

    assert job.start(build)
    for _ in range(100):
        if not job.snapshot()["running"]:
            break
        time.sleep(0.05)
    state = job.snapshot()
    assert (state["stage"], state["done"], state["total"], state["summary_line"]) == ("解析", 1, 2, "共 1 份报告")

    def failing(progress: Callable[[str, int, int], None]) -> Summary:
        raise AssistantError("坏了")

    assert job.start(failing)
    for _ in range(100):
        if not job.snapshot()["running"]:
            break
        time.sleep(0.05)
    assert job.snapshot()["error"] == "坏了"


# --- the app --------------------------------------------------------------------------------


def test_no_index_shows_build_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _point_at(monkeypatch, BuiltIndex(tmp_path / "corpus", tmp_path / "no-index", tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("assistant build" in w.value and "还没有可用的索引" in w.value for w in at.warning)
    for page in (ui.PAGE_SEARCH, ui.PAGE_REPORTS):
        assert any("assistant build" in w.value for w in _go(at, page).warning)
    assert any("ASSISTANT_ADMIN_PASSWORD" in i.value for i in _go(at, ui.PAGE_ADMIN).info)  # staff page still works


def test_chat_landing_page_answers_a_dev_question_with_citations(app: AppTest) -> None:
    assert [b.label for b in app.button if b.key and b.key.startswith("example-")] == list(ui.EXAMPLE_QUESTIONS)
    app.chat_input(key="chat_input").set_value(DEV_QUESTION).run()
    assert not app.exception, app.exception
    answer = " ".join(_assistant_texts(app))
    assert "15" in answer
    assistant_msg = [m for m in app.chat_message if m.name == "assistant"][0]
    labels = [e.label for e in assistant_msg.expander if e.label != "问题理解（调试）"]  # the debug expander
    assert labels and all(SEED_TITLE in label for label in labels)
    assert labels[0].startswith("\\[1\\]")
    assert any(":blue-background[\\[1\\]]" in m.value for m in assistant_msg.markdown)
    assert any(":orange-background[" in m.value for m in assistant_msg.markdown)  # terms highlighted
    assert any(d.label.startswith("下载原文件") for d in app.download_button)  # source on disk


def test_example_button_follow_up_and_restart(app: AppTest) -> None:
    app.button(key="example-0").click().run()
    assert [m.markdown[0].value for m in app.chat_message if m.name == "user"] == [DEV_QUESTION]
    app.chat_input(key="chat_input").set_value("那2021年呢？").run()
    assert not app.exception, app.exception
    users = [m.markdown[0].value for m in app.chat_message if m.name == "user"]
    assert users == [DEV_QUESTION, "那2021年呢？"]
    last = [m for m in app.chat_message if m.name == "assistant"][-1]
    assert "2021" in " ".join(m.value for m in last.markdown)  # the follow-up kept 龙泉市 and asked for 2021
    assert len(app.session_state["turns"]) == 2
    app.button(key="restart").click().run()
    assert not app.chat_message
    assert app.button(key="example-0").label == DEV_QUESTION


def test_a_long_paste_is_answered_and_the_cut_is_said(app: AppTest) -> None:
    pasted = DEV_QUESTION + "以下是我复制的报告原文：" + SEED.read_text(encoding="utf-8")[:900]
    assert len(pasted) > 900
    app.chat_input(key="chat_input").set_value(pasted).run()
    assert not app.exception, app.exception
    user = [m for m in app.chat_message if m.name == "user"][0]
    assert [c.value for c in user.caption] == [
        ui.escape_markdown(f"问题过长（共 {len(pasted.strip())} 字），已截取前 500 字进行查询。")
    ]
    assert _unescape(user.markdown[0].value) == pasted.strip()[:500].rstrip()
    reply = [m for m in app.chat_message if m.name == "assistant"][0]
    assert reply.markdown and not reply.warning  # answered (found or not), not refused
    assert app.session_state["turns"][0].note  # the note stays with the turn on later reruns
    app.chat_input(key="chat_input").set_value("那2021年呢？").run()
    assert [c.value for m in app.chat_message if m.name == "user" for c in m.caption][0].startswith("问题过长")


def test_not_found_question_shows_the_not_found_text(app: AppTest) -> None:
    app.chat_input(key="chat_input").set_value(NOT_FOUND_QUESTION).run()
    assert not app.exception, app.exception
    assert "在已收录的报告中没有找到" in " ".join(_assistant_texts(app))


def test_sidebar_filters_list_the_indexed_reports(app: AppTest) -> None:
    assert app.sidebar.selectbox(key="filter_agency").options == [ui.ALL_AGENCIES, "青禾县人民政府办公室", "龙泉市"]
    assert app.sidebar.selectbox(key="filter_year").options == [ui.ALL_YEARS, "2021年", "2020年"]


def test_sidebar_shows_reports_and_update_date_with_the_build_id_for_staff(app: AppTest, built: BuiltIndex) -> None:
    build_id = live_build_dir(built.index_dir).name
    built_at = json.loads((live_build_dir(built.index_dir) / "manifest.json").read_text(encoding="utf-8"))["built_at"]
    day = time.strptime(built_at, "%Y-%m-%dT%H:%M:%S%z")
    public = [c.value for c in app.sidebar.caption if c.value.startswith("已收录")]
    assert public == [f"已收录 2 份报告 · 更新于 {day.tm_year}年{day.tm_mon}月{day.tm_mday}日"]
    staff = next(e for e in app.sidebar.expander if e.label == ui.STAFF_INDEX_HEADING)
    assert any(ui.escape_markdown(build_id) in c.value for c in staff.caption)
    outside = [c.value for c in app.sidebar.caption if c not in staff.caption]
    assert not any(ui.escape_markdown(build_id) in v or build_id in v for v in outside)


def test_search_page_ranks_passages_and_the_agency_filter_narrows_them(app: AppTest) -> None:
    _go(app, ui.PAGE_SEARCH)
    app.number_input(key="search_k").set_value(12)
    app.text_input(key="search_query").input(SEARCH_QUERY).run()
    assert not app.exception, app.exception
    headings = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert len(headings) == 12
    assert headings[0].startswith("**1\\. ")
    assert not [c.value for c in app.caption if "相关度：" in c.value]  # fused scores mean nothing to a reader
    assert any(SEED_TITLE in h for h in headings) and any(QINGHE_TITLE in h for h in headings)
    app.sidebar.selectbox(key="filter_agency").set_value("龙泉市").run()
    narrowed = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert narrowed and all(SEED_TITLE in h for h in narrowed)
    app.sidebar.selectbox(key="filter_agency").set_value(ui.ALL_AGENCIES)
    app.sidebar.selectbox(key="filter_year").set_value("2021").run()
    by_year = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert by_year and all(QINGHE_TITLE in h for h in by_year)


def test_a_bare_section_heading_does_not_rank_first(app: AppTest, built: BuiltIndex) -> None:
    _go(app, ui.PAGE_SEARCH)
    app.text_input(key="search_query").input(SEARCH_QUERY).run()
    markdown = [m.value for m in app.markdown]
    first = _unescape(markdown[markdown.index(next(v for v in markdown if v.startswith("**1\\. "))) + 1])
    assert "。" in first and len(first) > 40, first  # a passage, not the bare heading "三、收到和处理…"
    # headings belong to the passage they head: none is a passage of its own
    for name in (SEED.name, "qinghe-county-2021.html"):
        report = ingest_file(built.corpus_dir / name)
        sections = {section.key: section for section in report.sections}
        for passage in report.passages:
            section = sections[passage.section]
            assert passage.end > section.body_start, passage.text  # never the heading alone
        one = next(p for p in report.passages if p.section == "一")
        assert one.text.startswith("一、总体情况") and len(one.text) > 40
        assert not [p for p in report.passages if p.text == "三、收到和处理政府信息公开申请情况"]


def test_reports_page_lists_reports_and_shows_a_report_by_section(app: AppTest) -> None:
    _go(app, ui.PAGE_REPORTS)
    table = app.dataframe[0].value
    assert sorted(table["标题"]) == sorted([SEED_TITLE, QINGHE_TITLE])
    assert set(table.columns) >= {"标题", "机关", "年度", "格式", "已识别部分", "表格数", "警告"}
    choice = app.selectbox(key="report_choice")
    assert sorted(choice.options) == sorted([SEED_TITLE, QINGHE_TITLE])
    choice.select_index(choice.options.index(SEED_TITLE)).run()
    assert any(SEED_TITLE in s.value for s in app.subheader)
    labels = [e.label for e in app.expander]
    assert labels[0] == "前言" and any("总体情况" in label for label in labels)
    notes = [w.value for w in app.warning]  # the seed lost its three tables: one note says so, in Chinese
    assert len(notes) == 1 and "第二、三、四部分的表格缺失" in notes[0], notes
    assert not re.search(r"[A-Za-z]", notes[0])
    seed_row = next(r for _, r in app.dataframe[0].value.iterrows() if r["标题"] == SEED_TITLE)
    assert seed_row["警告"].count("表格缺失") == 1 and "table" not in seed_row["警告"]
    app.selectbox(key="report_choice").select_index(choice.options.index(QINGHE_TITLE)).run()
    assert any(QINGHE_TITLE in s.value for s in app.subheader)
    assert any(e.label.startswith("表格") for e in app.expander)  # the HTML report's tables as grids


def test_reports_page_shows_table_facts_and_checks(app: AppTest) -> None:
    _go(app, ui.PAGE_REPORTS)
    choice = app.selectbox(key="report_choice")
    choice.select_index(choice.options.index(QINGHE_TITLE)).run()
    facts = app.dataframe[-1].value
    new_requests = facts[(facts["表"] == "T3") & (facts["行"].str.contains("本年新收")) & (facts["列"] == "总计")]
    assert list(new_requests["原文"]) == ["63"]
    assert any("符合模板的勾稽关系" in m.value for m in app.success)
    assert any(b.label == "下载 CSV" for b in app.get("download_button"))
    assert not app.get("vega_lite_chart") and any("只有一个年度" in c.value for c in app.caption)  # nothing to compare
    choice.select_index(choice.options.index(SEED_TITLE)).run()
    assert not app.info and len(app.warning) == 1  # the lost tables are said once, not again below the text


def test_facts_csv_writes_counts_as_integers(built: BuiltIndex) -> None:
    assistant = Assistant.open(built.index_dir, Settings(index_dir=built.index_dir, cache_dir=built.cache_dir))
    rows = [fact_row(f) for f in assistant.facts(agency="青禾县")]
    assert rows and all(isinstance(r["value"], float) for r in rows if r["value"] is not None)  # as stored
    data = ui.csv_bytes(rows, list(FACT_FIELDS))
    assert data.startswith("\ufeff".encode())  # opens as UTF-8 in spreadsheet programs
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(table) == len(rows)
    assert all(re.fullmatch(r"-?\d+", r["value"]) for r in table if r["raw"].isdigit())
    new_requests = next(r for r in table if r["table"] == "T3" and "本年新收" in r["row"] and r["column"] == "总计")
    assert new_requests["value"] == "63"
    assert ui.plain_value(2.5) == 2.5 and ui.plain_value(None) is None and ui.plain_value("0.0") == "0.0"


def test_commitments_page_lists_commitments_with_status(app: AppTest) -> None:
    _go(app, ui.PAGE_COMMITMENTS)
    assert app.header[0].value == ui.PAGE_COMMITMENTS
    labels = [e.label for e in app.expander]
    assert any("进一步规范发布" in label and "暂无下一年度报告" in label for label in labels)
    assert sum("—— " in label for label in labels) == 6  # three for 龙泉市 2020, three for 青禾县 2021


def test_commitment_evidence_headings_are_escaped_once(monkeypatch: pytest.MonkeyPatch, qinghe_pair: BuiltIndex) -> None:
    _point_at(monkeypatch, qinghe_pair)
    at = _go(AppTest.from_file(APP, default_timeout=120).run(), ui.PAGE_COMMITMENTS)
    evidence = [m.value for e in at.expander for m in e.markdown if m.value.startswith("**") and "·" in m.value]
    assert evidence, "no follow-up evidence shown"
    for heading in evidence:
        assert "\\\\" not in heading, heading  # "1\\." would show as "1\." in the page
        assert re.match(r"\*\*\d+\\\. ", heading), heading
        assert _unescape(heading.strip("*")).split(" ")[0].rstrip(".").isdigit()


def test_reports_page_compares_a_cell_across_years(monkeypatch: pytest.MonkeyPatch, qinghe_pair: BuiltIndex) -> None:
    _point_at(monkeypatch, qinghe_pair)
    at = _go(AppTest.from_file(APP, default_timeout=120).run(), ui.PAGE_REPORTS)
    chart = at.get("vega_lite_chart")[0].proto
    spec = json.loads(chart.spec)
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == 0  # year labels written horizontally
    bars = convert_arrow_bytes_to_pandas_df(chart.data.data)
    assert list(bars["年度"]) == ["2021", "2022"] and bars["数值"].notna().all()
    assert "只有一个年度" not in " ".join(c.value for c in at.caption)


def test_admin_page_explains_how_to_enable_it(app: AppTest) -> None:
    _go(app, ui.PAGE_ADMIN)
    assert any("ASSISTANT_ADMIN_PASSWORD" in i.value for i in app.info)
    assert not app.file_uploader


def test_admin_upload_preview_and_rebuild(
    monkeypatch: pytest.MonkeyPatch, built: BuiltIndex, tmp_path: Path
) -> None:
    own = BuiltIndex(tmp_path / "corpus", tmp_path / "index", built.cache_dir)  # keep the module index intact
    shutil.copytree(built.corpus_dir, own.corpus_dir)
    shutil.copytree(built.index_dir, own.index_dir)
    old_build = live_build_dir(own.index_dir).name
    _point_at(monkeypatch, own, password=PASSWORD)
    at = AppTest.from_file(APP, default_timeout=120).run()
    _go(at, ui.PAGE_ADMIN)
    assert ui.escape_markdown(ui.LOGIN_HINT) in [c.value for c in at.caption]
    at.text_input(key="admin_password").input("wrong password")
    at.button[0].click().run()
    assert any("密码错误" in e.value for e in at.error)
    assert not at.file_uploader
    at.text_input(key="admin_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    uploader = at.file_uploader[0]
    data = (_samples() / "lanxi-city-2021.txt").read_bytes()
    uploader.upload("../lanxi-city-2021.txt", data, "text/plain")
    uploader.upload("broken.pdf", b"%PDF-1.4 this is not a pdf", "application/pdf")
    at.run()
    assert not at.exception, at.exception
    assert any("已保存为 lanxi\\-city\\-2021\\.txt" in s.value for s in at.success)
    assert any("broken\\.pdf" in e.value for e in at.error)
    assert [u.key for u in at.file_uploader if u.key.startswith("uploader-")] == ["uploader-1"]  # emptied: the rejected file is not left in it
    assert not at.session_state["uploader-1"]
    at.run()
    assert any("broken\\.pdf" in e.value for e in at.error)  # the outcome stays listed below the uploader
    assert len([s for s in at.success if "已保存为" in s.value]) == 1  # and nothing is processed twice
    assert sorted(p.name for p in own.corpus_dir.iterdir()) == sorted(
        [SEED.name, "qinghe-county-2021.html", "lanxi-city-2021.txt"]
    )
    preview = at.dataframe[0].value
    assert list(preview["标题"]) == ["澜溪市人民政府2021年政府信息公开工作年度报告"]

    at.button(key="rebuild").click().run()
    deadline = time.monotonic() + 600
    while not any("索引已重建" in s.value for s in at.success):
        failed = [e.value for e in at.error if "重建索引失败" in e.value]
        assert not failed, failed
        assert time.monotonic() < deadline, "rebuild did not finish"
        time.sleep(1)
        at.run()
    assert any("共 3 份报告" in s.value for s in at.success)
    assert live_build_dir(own.index_dir).name != old_build
    assert "澜溪市人民政府" in at.sidebar.selectbox(key="filter_agency").options  # switched to the new build

    other = AppTest.from_file(APP, default_timeout=120).run()  # a second visitor gets the new index too
    other.chat_input(key="chat_input").set_value("澜溪市2021年作出了多少件行政许可决定？").run()
    assert not other.exception, other.exception
    assert any("澜溪市人民政府2021年" in e.label for m in other.chat_message for e in m.expander)


# --- the command line and `make run` --------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["ingest"], ["build"], ["search"], ["ask"], ["check"], ["facts"],
                                     ["commitments"]])
def test_cli_help_is_chinese(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli_main([*command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：assistant") and "显示本帮助并退出" in out and "选项：" in out
    assert not [word for word in ENGLISH_HELP if word in out.lower()], out
    usage = out.split("\n\n")[0]
    assert not re.search(r"[A-Z]{2,}", usage), usage  # Chinese placeholders, not CORPUS, INDEX, QUERY...
    assert not [line for line in out.splitlines() if line and line[0] in "，。、；：）"], out  # no line starts with "，"


def test_cli_ingest_help_states_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["ingest", "-h"])
    assert "有任何文件解析失败或被跳过（不支持的类型）为1" in "".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search"], "缺少必需的参数：查询"),
        (["search", "公开", "-k", "x"], "参数 -k 需要一个整数，收到的是 'x'"),
        (["build", "--vector-index", "pq"], "参数 --vector-index 的值 'pq' 无效，可选：'auto', 'flat', 'ivf', 'hnsw'"),
        (["facts", "--json", "--csv"], "参数 --csv 不能与 --json 同时使用"),
        (["nope"], "参数 <命令> 的值 'nope' 无效"),
        (["check", "--bogus"], "无法识别的参数：--bogus"),
    ],
)
def test_cli_usage_errors_are_chinese(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli_main(argv)
    assert stop.value.code == 1  # usage errors exit 1, like every other user error
    err = capsys.readouterr().err
    assert err.startswith("用法：") and expected in err and "error:" not in err and "usage:" not in err


def test_translate_error_and_wrap_columns() -> None:
    assert translate_error("something new") == "something new"  # unknown messages pass through
    assert translate_error("argument --year: expected one argument") == "参数 --year 后面需要一个值"
    lines = wrap_columns("环境变量：ASSISTANT_INDEX（索引目录，默认 index/）、ASSISTANT_CORPUS（报告目录）", 30)
    assert all(len(line) + sum(ord(ch) > 0x2E80 for ch in line) <= 30 for line in lines)
    assert "".join(lines).replace(" ", "") == "环境变量：ASSISTANT_INDEX（索引目录，默认index/）、ASSISTANT_CORPUS（报告目录）"
    assert any("ASSISTANT_INDEX" in line for line in lines)  # an ASCII word is never split


def test_cli_ingest_exits_non_zero_when_any_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    assert cli_main(["ingest", str(SEED)]) == 0
    assert cli_main(["ingest", str(SEED), str(broken)]) == 1
    assert cli_main(["ingest", str(SEED), str(tmp_path / "notes.xyz")]) == 1  # named but skipped
    out = capsys.readouterr().out
    assert "成功 1 个，失败 1 个" in out


def test_cli_long_question_is_cut_and_said(built: BuiltIndex, capsys: pytest.CaptureFixture[str]) -> None:
    pasted = DEV_QUESTION + "。" + "我把报告的一段话也贴在这里" * 60
    assert cli_main(["ask", pasted, "--index", str(built.index_dir), "--json"]) == 0
    out, err = capsys.readouterr()
    assert f"提示：问题过长（共 {len(pasted)} 字），已截取前 500 字进行查询。" in err
    answer = json.loads(out)
    assert answer["question"] == pasted[:500] and "15" in answer["answer"]
    assert cli_main(["search", pasted, "--index", str(built.index_dir), "--json"]) == 0
    assert "已截取前 500 字" in capsys.readouterr().err


def test_build_progress_says_what_it_does(
    built: BuiltIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(corpus_dir=built.corpus_dir, index_dir=tmp_path / "index", cache_dir=built.cache_dir)
    calls: list[tuple[str, int, int]] = []
    build_index(settings, lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages in (["解析", "写入索引"], ["解析", "向量化", "写入索引"])  # embeddings may all be cached
    assert calls[0] == ("解析", 0, 2) and ("解析", 2, 2) in calls
    assert calls[-1] == ("写入索引", 3, 3) and ("写入索引", 0, 3) in calls
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(built.cache_dir))
    code = cli_main(["build", "--corpus", str(built.corpus_dir), "--index", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert code == 0
    assert "解析 2 个文件" in err and "写入索引" not in err  # nothing changed: the live build is kept
    assert "向量化" not in err  # nothing changed: no passage is embedded again
    assert "/s" not in err and "个/s" not in err and "it/s" not in err  # no rates for work that was not done


def test_make_run_does_not_reinstall_an_up_to_date_environment(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(shutil.which("python3") or "/usr/bin/python3")

    def plan(target: str) -> str:
        result = subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True)
        return result.stdout

    assert "pip install" in plan("install")  # a new environment is installed
    (venv / ".installed").touch()
    assert "pip install" not in plan("install")
    assert "pip install" not in plan("run") and "streamlit run serve.py" in plan("run")
    (venv / ".installed-dev").touch()
    assert "pip install" not in plan("install-dev")
    stale = (REPO_ROOT / "pyproject.toml").stat().st_mtime - 60
    os.utime(venv / ".installed", (stale, stale))  # pyproject.toml changed since: install again
    assert "pip install" in plan("install")
