"""The Streamlit app (AppTest, every page) and its streamlit-free helpers (ui_text, uploads, jobs)."""

from __future__ import annotations

import re
import shutil
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hst
from streamlit.testing.v1 import AppTest

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


def test_not_found_question_shows_the_not_found_text(app: AppTest) -> None:
    app.chat_input(key="chat_input").set_value(NOT_FOUND_QUESTION).run()
    assert not app.exception, app.exception
    assert "在已收录的报告中没有找到" in " ".join(_assistant_texts(app))


def test_sidebar_filters_list_the_indexed_reports(app: AppTest) -> None:
    assert app.sidebar.selectbox(key="filter_agency").options == [ui.ALL_AGENCIES, "青禾县人民政府办公室", "龙泉市"]
    assert app.sidebar.selectbox(key="filter_year").options == [ui.ALL_YEARS, "2021年", "2020年"]


def test_search_page_ranks_passages_and_the_agency_filter_narrows_them(app: AppTest) -> None:
    _go(app, ui.PAGE_SEARCH)
    app.number_input(key="search_k").set_value(12)
    app.text_input(key="search_query").input("政府信息公开申请 办理").run()
    assert not app.exception, app.exception
    headings = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert len(headings) == 12
    assert headings[0].startswith("**1\\. ")
    assert any(SEED_TITLE in h for h in headings) and any(QINGHE_TITLE in h for h in headings)
    app.sidebar.selectbox(key="filter_agency").set_value("龙泉市").run()
    narrowed = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert narrowed and all(SEED_TITLE in h for h in narrowed)
    app.sidebar.selectbox(key="filter_agency").set_value(ui.ALL_AGENCIES)
    app.sidebar.selectbox(key="filter_year").set_value("2021").run()
    by_year = [m.value for m in app.markdown if m.value.startswith("**") and "·" in m.value]
    assert by_year and all(QINGHE_TITLE in h for h in by_year)


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
    assert any("表格缺失" in w.value for w in app.warning)  # the seed lost its tables
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
    choice.select_index(choice.options.index(SEED_TITLE)).run()
    assert any("没有可提取的表格数据" in i.value for i in app.info)


def test_commitments_page_lists_commitments_with_status(app: AppTest) -> None:
    _go(app, ui.PAGE_COMMITMENTS)
    assert app.header[0].value == ui.PAGE_COMMITMENTS
    labels = [e.label for e in app.expander]
    assert any("进一步规范发布" in label and "暂无下一年度报告" in label for label in labels)
    assert sum("—— " in label for label in labels) == 6  # three for 龙泉市 2020, three for 青禾县 2021


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
