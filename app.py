"""Streamlit app (`streamlit run app.py`): chat, search, report library, commitments and staff pages."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from assistant.analyse.checks import FACT_FIELDS, fact_row, table_checks
from assistant.analyse.crosschecks import cross_checks
from assistant.api import Assistant
from assistant.config import Settings, load_settings
from assistant.errors import AssistantError, IndexMissingError, IngestError
from assistant.index.build import BuildSummary, build_index
from assistant.index.layout import live_build_dir
from assistant.index.threads import lower_priority
from assistant.ingest import ParseLimits, ingest_file_bounded
from assistant.ingest.injection import WARNING_CODE as INSTRUCTION_WARNING
from assistant.records import SECTION_KEYS, Citation, Discrepancy, Hit, Report
from assistant.search.retriever import Filters
from assistant.web import ui_text as ui
from assistant.web.admin_auth import ADMIN_LOGIN_NOTICE, client_id, shared_throttle
from assistant.web.corpus_admin import (
    REMOVED_DIR,
    corpus_reports,
    remove_report,
    replace_report,
    undo_replace,
)
from assistant.web.jobs import BuildJob
from assistant.web.preload import open_shared
from assistant.web.uploads import save_upload

# --- loading the index (once per process and build) -----------------------------------------


@st.cache_resource(show_spinner="正在加载索引和编码模型…", max_entries=3)
def open_assistant(index_dir: str, build_name: str, encoder: str, _settings: Settings) -> Assistant:
    """The Assistant over one build; cached per build folder, so a switched-in rebuild is loaded anew.
    It comes from open_shared, which serve.py's start-up preload has already filled (or is filling)."""
    return open_shared(Path(index_dir), build_name, _settings)


@st.cache_resource
def build_job(index_dir: str) -> BuildJob:
    """The one background rebuild of an index folder, shared by every session of this process."""
    return BuildJob()


def current_assistant(settings: Settings) -> tuple[Assistant | None, str | None]:
    """(assistant, None) for the live build, or (None, markdown saying what is wrong)."""
    try:
        build_name = live_build_dir(settings.index_dir).name
        return open_assistant(str(settings.index_dir), build_name, settings.encoder, settings), None
    except IndexMissingError:
        return None, ui.no_index_markdown(settings.index_dir, settings.corpus_dir)
    except AssistantError as err:
        return None, "索引无法打开：" + ui.escape_markdown(str(err))


@st.cache_data(max_entries=256, show_spinner=False)
def cached_search(
    build_id: str, query: str, k: int, year: int | None, agency: str | None, section: str | None, mode: str,
    _assistant: Assistant,
) -> list[Hit]:
    return _assistant.search(query, k=k, year=year, agency=agency, section=section, mode=mode)


# --- sidebar --------------------------------------------------------------------------------


def _select(label: str, options: list[str], key: str, format_func: Any = str) -> str:
    if st.session_state.get(key) not in options:  # the index changed under a stale choice
        st.session_state[key] = options[0]
    return str(st.sidebar.selectbox(label, options, key=key, format_func=format_func))


def sidebar_filters(assistant: Assistant) -> tuple[str | None, int | None]:
    """The agency and year chosen in the sidebar (None: all), with options from the index."""
    metas = assistant.corpus.values()  # metadata read at open: no report is decoded
    agencies = sorted({m.agency for m in metas if m.agency})
    years = sorted({str(m.year) for m in metas if m.year}, reverse=True)
    st.sidebar.subheader("筛选")
    agency = _select("机关", [ui.ALL_AGENCIES, *agencies], "filter_agency")
    year = _select("年度", [ui.ALL_YEARS, *years], "filter_year",
                   format_func=lambda y: y if y == ui.ALL_YEARS else f"{y}年")
    st.sidebar.caption(ui.index_caption(len(assistant.corpus), assistant.retriever.manifest.get("built_at")))
    with st.sidebar.expander(ui.STAFF_INDEX_HEADING):
        st.caption(ui.escape_markdown(f"索引版本：{assistant.build_id}"))
        st.caption(ui.escape_markdown(f"编码器：{assistant.retriever.manifest.get('encoder_id', '未知')}"))
    return (None if agency == ui.ALL_AGENCIES else agency), (None if year == ui.ALL_YEARS else int(year))


def filters_caption(agency: str | None, year: int | None) -> str | None:
    parts = [p for p in (agency, f"{year}年" if year else None) if p]
    return "只看：" + " · ".join(parts) + "（在左侧栏修改）" if parts else None


# --- shared rendering -----------------------------------------------------------------------


def render_source(url: str | None, source_file: str | None, settings: Settings, key: str) -> None:
    """A link to the original web page, else a download of the source file, else its name."""
    link = ui.safe_url(url)
    if link:
        st.link_button("打开原文网页", link, key=key)
        st.caption(ui.escape_markdown(link))
        return
    path = ui.source_path(source_file, settings.corpus_dir)
    if path is not None:
        st.download_button(
            f"下载原文件 {path.name}", data=path.read_bytes, file_name=path.name,
            mime=ui.mime_type(path), key=key,
        )
    elif source_file:
        st.caption("来源文件：" + ui.escape_markdown(Path(source_file).name) + "（不在报告目录中，无法下载）")


def citation_label(c: Citation) -> str:
    label = f"[{c.n}] {c.report_title} · {ui.year_label(c.year)} · {ui.section_label(c.section)}"
    if c.table:
        label += f" · 表{c.table}"
    return ui.escape_markdown(label)


def render_citation(c: Citation, terms: tuple[str, ...], settings: Settings, key: str) -> None:
    with st.expander(citation_label(c)):
        st.caption(ui.escape_markdown(
            f"机关：{c.agency or '未识别'}　年度：{ui.year_label(c.year)}　部分：{ui.section_label(c.section)}"
        ))
        if c.table:
            st.caption(ui.escape_markdown(f"表格 {c.table}：{c.row or ''} / {c.column or ''}"))
        st.markdown(ui.highlight(c.text, terms))
        render_source(c.source_url, c.source_file, settings, key)


def hit_label(hit: Hit) -> str:
    return ui.escape_markdown(
        f"{hit.rank}. {hit.report_title} · {ui.year_label(hit.year)} · {ui.section_label(hit.section)}"
    )


def render_hit_body(hit: Hit, terms: tuple[str, ...], settings: Settings, key: str) -> None:
    st.caption(ui.escape_markdown(f"机关：{hit.agency or '未识别'}"))
    st.markdown(ui.highlight(hit.text, terms))
    render_source(hit.source_url, hit.source_file, settings, key)


# --- 问答 -----------------------------------------------------------------------------------


def ask(
    assistant: Assistant, question: str, history: list[ui.ChatTurn], filters: Filters | None, note: str | None = None,
) -> ui.ChatTurn:
    previous = [t.answer for t in history if t.answer is not None]
    terms = tuple(ui.highlight_terms(question))
    try:
        answer = assistant.ask(question, history=previous, filters=filters)
    except AssistantError as err:
        return ui.ChatTurn(question=question, error=str(err), terms=terms, note=note)
    return ui.ChatTurn(question=question, answer=answer, terms=terms, note=note)


def render_question(turn_question: str, note: str | None) -> None:
    with st.chat_message("user"):
        st.markdown(ui.escape_markdown(turn_question))
        if note:
            st.caption(ui.escape_markdown(note))


DEBUG_LABEL = "问题理解（调试）"


def render_answer(index: int, turn: ui.ChatTurn, settings: Settings) -> None:
    if turn.error or turn.answer is None:
        st.warning(ui.escape_markdown(turn.error or "没有得到回答。"))
        return
    answer = turn.answer
    st.markdown(ui.answer_markdown(answer.text))
    scope: list[str] = []
    agency_used, years_used = answer.filters.get("agency"), answer.filters.get("years")
    if isinstance(agency_used, str) and agency_used:
        scope.append(agency_used)
    if isinstance(years_used, list | tuple) and years_used:
        scope.append("、".join(f"{y}年" for y in years_used))
    meta = [ui.PATH_LABELS.get(answer.path, answer.path)]
    if scope:
        meta.append("检索范围：" + " · ".join(scope))
    if answer.note:
        meta.append(answer.note)
    st.caption(ui.escape_markdown("；".join(meta)))
    for c in answer.citations:
        render_citation(c, turn.terms, settings, key=f"src-{index}-c{c.n}")
    if answer.related:
        st.markdown(f"**{ui.RELATED_HEADING}**")
        for hit in answer.related:
            with st.expander(hit_label(hit)):
                render_hit_body(hit, turn.terms, settings, key=f"src-{index}-r{hit.rank}")
    if answer.understanding:  # how the question was read: intent, scope (agency, years, reports), cues
        with st.expander(DEBUG_LABEL):
            st.json(answer.understanding, expanded=False)


def _queue_question(question: str) -> None:
    st.session_state["pending_question"] = question


def _restart() -> None:
    st.session_state["turns"] = []
    st.session_state.pop("pending_question", None)


def page_chat(assistant: Assistant, settings: Settings, agency: str | None, year: int | None) -> None:
    turns: list[ui.ChatTurn] = st.session_state.setdefault("turns", [])
    head, button = st.columns([5, 1], vertical_alignment="bottom")
    head.header(ui.PAGE_CHAT)
    if turns:
        button.button("重新开始", key="restart", on_click=_restart, help="清空对话，开始新的提问")
    caption = filters_caption(agency, year)
    if caption:
        st.caption(caption)
    for index, turn in enumerate(turns):
        render_question(turn.question, turn.note)
        with st.chat_message("assistant"):
            render_answer(index, turn, settings)
    # no max_chars: the browser would silently drop the rest of a long paste; it is cut below, with a note
    typed = st.chat_input(ui.CHAT_PLACEHOLDER, key="chat_input")
    question, note = ui.clip_question(typed or st.session_state.pop("pending_question", None) or "",
                                      settings.max_query_chars)
    if not turns and not question:
        st.markdown(ui.CHAT_INTRO)
        st.markdown("**试试这些问题：**")
        for i, example in enumerate(ui.EXAMPLE_QUESTIONS):
            st.button(example, key=f"example-{i}", on_click=_queue_question, args=(example,))
        return
    if not question:
        return
    filters = Filters(years=(year,) if year else (), agency=agency) if (agency or year) else None
    render_question(question, note)
    with st.chat_message("assistant"):
        with st.spinner("正在查找报告…"):
            turn = ask(assistant, question, turns, filters, note)
        render_answer(len(turns), turn, settings)
    turns.append(turn)


# --- 检索 -----------------------------------------------------------------------------------


def page_search(assistant: Assistant, settings: Settings, agency: str | None, year: int | None) -> None:
    st.header(ui.PAGE_SEARCH)
    st.caption("只检索、不生成回答：按相关度列出报告中的段落。")
    query = st.text_input("检索内容", key="search_query", placeholder="例如：政府信息公开申请 办理")
    left, middle, right = st.columns(3)
    sections = [ui.ALL_SECTIONS, *SECTION_KEYS]
    section = left.selectbox(
        "部分", sections, key="search_section",
        format_func=lambda s: s if s == ui.ALL_SECTIONS else ui.section_label(s),
    )
    k = middle.number_input("条数", min_value=1, max_value=50, value=5, step=1, key="search_k")
    mode_label = right.selectbox("检索方式", list(ui.SEARCH_MODES), key="search_mode")
    caption = filters_caption(agency, year)
    if caption:
        st.caption(caption)
    if not query.strip():
        st.info("输入检索内容后按回车。")
        return
    query, note = ui.clip_question(query, settings.max_query_chars)
    if note:
        st.caption(ui.escape_markdown(note))
    try:
        hits = cached_search(
            assistant.build_id, query, int(k), year, agency,
            None if section == ui.ALL_SECTIONS else section, ui.SEARCH_MODES[mode_label], _assistant=assistant,
        )
    except AssistantError as err:
        st.warning(ui.escape_markdown(str(err)))
        return
    if not hits:
        st.info("没有找到相关段落。可以换个说法，或放宽左侧栏的机关、年度筛选。")
        return
    st.caption(f"共 {len(hits)} 条结果")
    terms = tuple(ui.highlight_terms(query))
    for hit in hits:
        with st.container(border=True):
            st.markdown("**" + hit_label(hit) + "**")
            render_hit_body(hit, terms, settings, key=f"search-src-{hit.rank}")


# --- 报告库 ---------------------------------------------------------------------------------


def render_report_text(report: Report) -> None:
    """The cleaned text section by section, and each table as a grid."""
    for i, section in enumerate(report.sections):
        title = ui.section_label(section.key) if section.key == "preamble" else section.title
        with st.expander(ui.escape_markdown(title), expanded=i == 0):
            body = report.cleaned_text[section.body_start : section.end].strip()
            if section.empty or not body:
                st.caption("（本部分没有正文，可能是表格在原文件中丢失）")
            else:
                st.markdown(ui.escape_markdown(body))
    for table in report.tables:
        label = f"表格 {table.index + 1}：{ui.section_label(table.section)}，{table.n_rows} 行 × {table.n_cols} 列"
        with st.expander(ui.escape_markdown(label)):
            grid = ui.table_grid(table.n_rows, table.n_cols, ((c.row, c.col, c.text) for c in table.cells))
            st.dataframe(grid, hide_index=True)


FACT_LABELS = {"agency": "机关", "year": "年度", "table": "表", "row": "行", "column": "列", "value": "数值",
               "raw": "原文", "unit": "单位", "table_id": "表格编号", "cell_row": "行号", "cell_col": "列号"}


def report_extras_hook(assistant: Assistant, report: Report) -> None:
    """Table facts of the chosen report, its arithmetic check results, CSV, and a row across years."""
    facts = assistant.retriever.facts_of([report.report_id])
    if not facts and ui.tables_lost(report):
        return  # the note above the report's text already says that its tables are missing
    st.subheader("表格数据（T2/T3/T4）")
    checks, problems = table_checks(report, facts)  # this report only, not every report of the index
    unchecked = [c for c in checks if c.status in ("not_filled", "unconfirmed", "lost")]
    discrepancies = own_cross_checks(assistant, report)
    for v in problems:
        st.error(ui.escape_markdown(f"勾稽关系不符（表{v.table}，{v.rule}）：{v.description}"))
    for c in unchecked:
        st.warning(ui.escape_markdown(f"未能完整核对：{c.message}"))
    for d in discrepancies:
        quote = f"（原文：“{d.quote}”）" if d.quote else ""
        st.warning(ui.escape_markdown(f"正文与表格不一致：{d.description}{quote}"))
    if facts and not (problems or unchecked or discrepancies):
        st.success("表格数据符合模板的勾稽关系，正文中的数字与表格一致。")
    if not facts:
        st.info("该报告没有可提取的表格数据（表格无法识别）。")
        return
    rows = [{FACT_LABELS[k]: ui.plain_value(v) for k, v in fact_row(f).items()} for f in facts]
    st.dataframe(rows, hide_index=True)
    data = ui.csv_bytes(rows, [FACT_LABELS[k] for k in FACT_FIELDS])
    st.download_button("下载 CSV", data, file_name=f"{report.report_id}-facts.csv",
                       mime="text/csv", key=f"facts-csv-{report.report_id}")
    st.markdown("**历年对比**（同一机关各年度的同一格）")
    cells = sorted({(f.table, " › ".join(f.row_path), f.column) for f in facts})
    chosen = st.selectbox("选择表格中的一格", cells, key=f"trend-{report.report_id}",
                          format_func=lambda c: f"表{c[0]} {c[1]} · {c[2]}")
    if chosen:
        table, row, column = chosen
        series = {f.year: f.value for f in assistant.facts(agency=report.meta.agency, table=table)
                  if " › ".join(f.row_path) == row and f.column == column and f.year is not None
                  and f.value is not None}
        if len(series) < 2:
            st.caption("只有一个年度的数据，无法比较。")
            return
        st.vega_lite_chart(
            {"年度": [str(y) for y in sorted(series)], "数值": [ui.plain_value(series[y]) for y in sorted(series)]},
            ui.year_bar_spec("年度", "数值"),
        )


def own_cross_checks(assistant: Assistant, report: Report) -> list[Discrepancy]:
    """The report's figures stated twice that disagree, checked against its own agency's reports only."""
    same = [rid for rid, m in assistant.corpus.items() if m.agency == report.meta.agency]
    reports = [assistant.report(rid) for rid in same]
    return [d for d in cross_checks(reports, assistant.retriever.facts_of(same)) if d.report_id == report.report_id]


def page_reports(assistant: Assistant, settings: Settings, agency: str | None, year: int | None) -> None:
    st.header(ui.PAGE_REPORTS)
    metas = {
        rid: m for rid, m in assistant.corpus.items()
        if (agency is None or m.agency == agency) and (year is None or m.year == year)
    }
    caption = filters_caption(agency, year)
    if caption:
        st.caption(caption)
    if not metas:
        st.info("没有符合筛选条件的报告。")
        return
    summaries = assistant.retriever.summaries(list(metas))  # the listing decodes no report
    st.dataframe([ui.summary_row(m, **summaries[rid]) for rid, m in metas.items() if rid in summaries],
                 hide_index=True)
    chosen = st.selectbox("查看报告全文", list(metas), key="report_choice", format_func=lambda i: metas[i].title)
    report = assistant.report(str(chosen))  # only the report shown is decoded
    meta = report.meta
    st.subheader(ui.escape_markdown(meta.title))
    st.caption(ui.escape_markdown(
        f"机关：{meta.agency or '未识别'}　年度：{ui.year_label(meta.year)}　格式：{meta.format}　"
        f"模板：{meta.template_version or '未识别'}　文件：{Path(meta.source_file).name}"
    ))
    render_source(meta.source_url, meta.source_file, settings, key=f"report-src-{report.report_id}")
    notes = ui.report_notes(report)
    if notes:
        st.warning("  \n".join(ui.escape_markdown(n) for n in notes))
    render_report_text(report)
    report_extras_hook(assistant, report)


# --- 往年承诺 -------------------------------------------------------------------------------


def page_commitments(assistant: Assistant, settings: Settings, agency: str | None, year: int | None) -> None:
    """Section-五 commitments by agency and year, each with its status and evidence from both reports."""
    st.header(ui.PAGE_COMMITMENTS)
    st.caption("各报告第五部分提出的改进措施，以及下一年度报告对其落实情况的说明。")
    caption = filters_caption(agency, year)
    if caption:
        st.caption(caption)
    records = assistant.commitments(agency=agency, year=year)
    promised = [c for c in records if c.kind == "commitment"]
    if not promised:
        st.info("没有找到改进承诺（报告可能缺少第五部分，或筛选条件过窄）。")
        return
    titles = {rid: m.title for rid, m in assistant.corpus.items()}
    for report_id in dict.fromkeys(c.report_id for c in promised):
        st.subheader(ui.escape_markdown(titles.get(report_id, report_id)))
        for c in (c for c in promised if c.report_id == report_id):
            label = f"{c.index}. {c.title} —— {c.status or '未核对'}"
            with st.expander(ui.escape_markdown(label)):
                st.markdown(f"**承诺原文**（{c.year}年度报告，第五部分）")
                st.markdown(ui.escape_markdown(c.text))
                if not c.evidence:
                    st.caption("下一年度报告尚未收录，无法判断落实情况。" if c.status == "暂无下一年度报告"
                               else "下一年度报告中没有找到相关说明。")
                for hit in c.evidence:
                    st.markdown(f"**{hit_label(hit)}**")  # hit_label is escaped already
                    st.markdown(ui.escape_markdown(hit.text))
        problems = [p for p in records if p.kind == "problem" and p.report_id == report_id]
        if problems:
            with st.expander("报告指出的主要问题"):
                for p in problems:
                    st.markdown(ui.escape_markdown(f"{p.index}. {p.text}"))


# --- 管理 -----------------------------------------------------------------------------------


def _password_token(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _client() -> str:
    """This visitor's address as Streamlit sees it (socket peer, else forwarding headers)."""
    try:
        return client_id(st.context.ip_address, dict(st.context.headers))
    except Exception:  # no request context (e.g. some test runners): the session and overall limits still hold
        return client_id(None)


def admin_login(settings: Settings) -> bool:
    """True when this session is logged in with the current password; otherwise shows the login form."""
    password = settings.admin_password or ""
    if st.session_state.get("admin_token") == _password_token(password):
        return True
    session = st.session_state.setdefault("admin_session", secrets.token_hex(8))
    throttle = shared_throttle(str(settings.index_dir))
    st.caption(ADMIN_LOGIN_NOTICE)
    with st.form("admin_login", clear_on_submit=True):
        typed = st.text_input("管理员密码", type="password", key="admin_password")
        st.caption(ui.LOGIN_HINT)
        submitted = st.form_submit_button("登录")
    if submitted:
        result = throttle.attempt(typed, password, session, _client())
        if result.ok:
            st.session_state["admin_token"] = _password_token(password)
            st.rerun()
        st.error(result.message())
    elif (pending := throttle.pending(session, _client())) is not None and pending.status == "locked":
        st.warning(pending.message())  # locked before this visit (e.g. from another session of the address)
    return False


def parse_preview(settings: Settings, name: str, path: Path) -> dict[str, Any]:
    """Parse a stored upload for the preview, in a worker under the build's limits (never in this process):
    {"ok": True, "row", "sections"} or {"ok": False, "error"}."""
    try:
        report = ingest_file_bounded(path, ParseLimits.from_settings(settings))
    except IngestError as err:
        return {"name": name, "ok": False, "error": f"{name}：{err.reason}" + (f"（{err.detail}）" if err.detail else "")}
    except Exception as err:  # a parser bug must not keep a broken file in the corpus
        return {"name": name, "ok": False, "error": f"{name}：解析时出现意外错误 {type(err).__name__}: {err}"}
    sections = [
        {"部分": ui.section_label(s.key), "标题": s.title, "字数": s.end - s.body_start, "为空": "是" if s.empty else ""}
        for s in report.sections
    ]
    flagged = [w.message for w in report.warnings if w.code == INSTRUCTION_WARNING]
    return {"name": name, "ok": True, "saved_as": path.name, "row": ui.report_row(report), "sections": sections,
            "flagged": flagged}


def process_upload(settings: Settings, name: str, data: bytes) -> dict[str, Any]:
    """Save one uploaded file into the corpus and parse it; a file that fails to parse is removed."""
    try:
        path = save_upload(settings.corpus_dir, name, data, settings.max_file_bytes)
    except AssistantError as err:
        return {"name": name, "ok": False, "error": str(err)}
    result = parse_preview(settings, name, path)
    if not result["ok"]:
        ui.remove_quietly(path)
    return result


def render_upload_result(result: dict[str, Any]) -> None:
    if not result["ok"]:
        st.error(ui.escape_markdown(result["error"]))
        return
    st.success(ui.escape_markdown(f"{result['name']} 已保存为 {result['saved_as']}，解析结果如下。"))
    for message in result.get("flagged", []):
        st.warning(ui.escape_markdown(message))
    st.dataframe([result["row"]], hide_index=True)
    st.dataframe(result["sections"], hide_index=True)


@st.fragment(run_every=1.0)
def build_progress(job: BuildJob) -> None:
    """Polls the running build; a full rerun once it is done shows the summary and the new index."""
    state = job.snapshot()
    if not state["running"]:
        st.rerun(scope="app")
    st.progress(ui.progress_fraction(state["done"], state["total"]),
                text=ui.stage_text(state["stage"], state["done"], state["total"]))


def render_build_result(job: BuildJob) -> None:
    state = job.snapshot()
    if state["running"]:
        build_progress(job)
    elif state["error"]:
        st.error("重建索引失败：" + ui.escape_markdown(state["error"]))
    elif state["summary_line"]:
        st.success("索引已重建并启用：" + ui.escape_markdown(state["summary_line"]))
        for failure in state["failures"]:
            st.warning("已跳过：" + ui.escape_markdown(failure))


def page_admin(settings: Settings, assistant: Assistant | None) -> None:
    st.header(ui.PAGE_ADMIN)
    if not settings.admin_password:
        st.info(ui.admin_disabled_markdown())
        return
    if not admin_login(settings):
        return
    if st.button("退出登录", key="admin_logout"):
        st.session_state.pop("admin_token", None)
        st.rerun()
    if assistant is not None:
        st.caption(f"当前索引：{assistant.build_id}，共 {len(assistant.corpus)} 份报告。")

    st.subheader("上传报告")
    st.caption(
        f"支持 {'、'.join('.' + t for t in ui.UPLOAD_TYPES)}，每个文件不超过 {settings.max_file_mb:g} MB。"
        f"文件保存到报告目录 {ui.escape_markdown(str(settings.corpus_dir))}，重建索引后才能被检索。"
    )
    # a new key empties the uploader: each file's outcome is listed below it, rejected files are not left in it
    round_ = st.session_state.setdefault("uploader_round", 0)
    uploads = st.file_uploader(
        "选择报告文件", type=list(ui.UPLOAD_TYPES), accept_multiple_files=True, key=f"uploader-{round_}",
        max_upload_size=max(1, math.ceil(settings.max_file_mb)),
    )
    results: dict[str, dict[str, Any]] = st.session_state.setdefault("upload_results", {})
    if uploads:
        for upload in uploads:
            if upload.file_id not in results:
                results[upload.file_id] = process_upload(settings, upload.name, upload.getvalue())
        st.session_state["uploader_round"] = round_ + 1
        st.rerun()
    for result in results.values():
        render_upload_result(result)
    with st.expander("报告目录中的文件"):
        listing = ui.corpus_listing(settings.corpus_dir)
        if listing:
            st.dataframe(listing, hide_index=True)
        else:
            st.caption("报告目录为空。")

    job = build_job(str(settings.index_dir))
    manage_reports(settings, job)

    st.subheader("重建索引")
    st.caption("新索引建在现有索引旁边，完成后一次性切换；重建期间其他页面照常回答。")
    if st.button("重建索引", key="rebuild", type="primary", disabled=job.snapshot()["running"]):
        if not job.start(lambda progress: rebuild(settings, progress)):
            st.info("已有一个重建任务在进行。")
    render_build_result(job)
    state = job.snapshot()
    if not state["running"] and state["finished_at"] and st.session_state.get("build_seen") != state["finished_at"]:
        st.session_state["build_seen"] = state["finished_at"]  # once per build: no rerun loop
        if _live_build_name(settings) != (assistant.build_id if assistant else None):
            st.rerun()  # the build finished during this run: show the new index everywhere, sidebar included


def rebuild(settings: Settings, progress: Callable[[str, int, int], None]) -> BuildSummary:
    """An index rebuild in the app's build thread, at the builds' lower CPU priority (that thread's only)."""
    lower_priority(settings.build_nice)
    return build_index(settings, progress)


def manage_reports(settings: Settings, job: BuildJob) -> None:
    """Remove a report from the corpus (kept in .removed/) or replace its file; either starts a rebuild."""
    st.subheader("删除或替换报告")
    for notice in st.session_state.pop("manage_notices", []):
        st.success(ui.escape_markdown(notice))
    reports = corpus_reports(settings.corpus_dir)
    if not reports:
        st.caption("报告目录中没有报告。")
        return
    if st.session_state.get("manage_choice") not in reports:
        st.session_state["manage_choice"] = reports[0]
    relative = str(st.selectbox("报告文件", reports, key="manage_choice"))
    st.caption(f"删除的文件移到报告目录下的 {REMOVED_DIR} 文件夹（不会被索引，需要时可移回）。删除或替换后自动重建索引。")
    remove_col, replace_col = st.columns(2)
    confirm = remove_col.checkbox("确认删除所选报告", key="manage_confirm")
    if remove_col.button("删除并重建索引", key="manage_remove", disabled=not confirm):
        try:
            moved = remove_report(settings.corpus_dir, relative)
        except AssistantError as err:
            st.error(ui.escape_markdown(str(err)))
        else:
            _after_corpus_change(settings, job, f"已删除 {relative}（移到 {moved.relative_to(settings.corpus_dir.resolve())}）。")
    replacement = replace_col.file_uploader("用新文件替换所选报告", type=list(ui.UPLOAD_TYPES), key="manage_file",
                                            max_upload_size=max(1, math.ceil(settings.max_file_mb)))
    if replacement is not None and replace_col.button("替换并重建索引", key="manage_replace"):
        try:
            new, archived = replace_report(settings.corpus_dir, relative, replacement.name, replacement.getvalue(),
                                           settings.max_file_bytes)
        except AssistantError as err:
            st.error(ui.escape_markdown(str(err)))
            return
        result = parse_preview(settings, replacement.name, new)
        if not result["ok"]:
            undo_replace(new, archived, settings.corpus_dir, relative)
            st.error(ui.escape_markdown(result["error"] + "；原报告保持不变。"))
            return
        _after_corpus_change(settings, job, f"已用 {replacement.name} 替换 {relative}（原文件移到 {REMOVED_DIR}）。")


def _after_corpus_change(settings: Settings, job: BuildJob, notice: str) -> None:
    started = job.request(lambda progress: rebuild(settings, progress))
    suffix = "正在重建索引。" if started else "当前重建完成后会再重建一次。"
    st.session_state["manage_notices"] = [notice + suffix]
    st.session_state.pop("manage_confirm", None)
    st.rerun()


def _live_build_name(settings: Settings) -> str | None:
    try:
        return live_build_dir(settings.index_dir).name
    except AssistantError:
        return None


# --- main -----------------------------------------------------------------------------------


PAGES = {
    ui.PAGE_CHAT: page_chat,
    ui.PAGE_SEARCH: page_search,
    ui.PAGE_REPORTS: page_reports,
    ui.PAGE_COMMITMENTS: page_commitments,
}


def main() -> None:
    st.set_page_config(page_title=ui.APP_TITLE, page_icon="📑", layout="wide")
    settings = load_settings()
    st.html(ui.chrome_css(settings.max_file_mb))
    st.sidebar.title(ui.APP_TITLE)
    page = st.sidebar.radio("页面", ui.PAGES, key="page", label_visibility="collapsed")
    assistant, problem = current_assistant(settings)
    agency, year = sidebar_filters(assistant) if assistant is not None else (None, None)
    if page == ui.PAGE_ADMIN:
        page_admin(settings, assistant)
        return
    if assistant is None:
        st.header(str(page))
        st.warning(problem or "")
        return
    try:
        PAGES[str(page)](assistant, settings, agency, year)
    except AssistantError as err:
        st.error(ui.escape_markdown(str(err)))


main()
