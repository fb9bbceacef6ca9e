"""Answers from table facts as Chinese sentences naming the table: cells, sums, years compared, agencies ranked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

from assistant.analyse.checks import format_number, query_facts, sum_facts
from assistant.analyse.facts import T3_CARRIED_IN, T3_CARRIED_OUT, T3_NEW, T3_TOTAL_ROW, TABLE_SECTIONS
from assistant.answer import from_text
from assistant.answer.citations import Citations
from assistant.answer.extractive import not_found
from assistant.records import Answer, Fact, ParseWarning, Report, ReportMeta
from assistant.search.retriever import Filters, Retriever
from assistant.understand.lexicon import lexicon
from assistant.understand.query import Query
from assistant.understand.scope import named_agencies
from assistant.understand.tables import Cell, subject_words

COMPUTED = "计算"  # label of numbers derived from cited cells (sum, difference, percentage, ranking)
TABLE_NAMES = {"T2": "表二", "T3": "表三", "T4": "表四"}
MAX_REPORT_LINES = 8  # more candidate reports than this: ask which agency is meant
_CHUNK = 64  # reports whose warnings and facts are read at a time
LOST_TABLE = "该报告的表格无法读取，以下是相关章节"
_LOST_CODES = ("table_unreadable", "facts_missing", "table_missing")
_T4_PHRASES = {("行政复议",): "因政府信息公开被申请行政复议", ("行政诉讼",): "因政府信息公开被提起行政诉讼",
               ("行政诉讼", "未经复议直接起诉"): "因政府信息公开被直接提起行政诉讼（未经复议）",
               ("行政诉讼", "复议后起诉"): "因政府信息公开在复议后被提起行政诉讼"}


def _who(meta: ReportMeta) -> str:
    return f"{meta.agency or meta.title}{meta.year}年" if meta.year else (meta.agency or meta.title)


def _applicant(column: str) -> str:
    return "" if column == "总计" else f"{column}提出的"


def _item(row_path: tuple[str, ...]) -> str:
    """（三）不予公开 › 1.属于国家秘密 -> 不予公开（属于国家秘密）."""
    def bare(label: str) -> str:
        return label.split("（区分")[0].lstrip("（）一二三四五六七八九十0123456789.")
    if len(row_path) == 3:
        return f"{bare(row_path[1])}（{bare(row_path[2])}）"
    return bare(row_path[-1])


def phrase(cell: Cell, column: str) -> str:
    """What the cell counts, as a sentence part: "新收自然人提出的政府信息公开申请"."""
    if cell.table == "T3":
        who = _applicant(column)
        if cell.row_path == (T3_NEW,):
            return f"新收{who}政府信息公开申请"
        if cell.row_path == (T3_CARRIED_IN,):
            return f"上年结转{who}政府信息公开申请"
        if cell.row_path == (T3_CARRIED_OUT,):
            return f"结转下年度继续办理{who}政府信息公开申请"
        if cell.row_path == T3_TOTAL_ROW:
            return f"办理完毕{who}政府信息公开申请（办理结果总计）"
        return f"{who}政府信息公开申请中办理结果为“{_item(cell.row_path)}”的"
    if cell.table == "T4":
        block = cell.row_path
        result = column.split("·")[-1]
        base = _T4_PHRASES.get(block, "·".join(block))
        return base if result == "总计" else f"{base}、{result}的"
    return f"{cell.row_path[-1]}{column}"


def table_lost(report: Report, table: str, facts: Sequence[Fact]) -> bool:
    """Whether this report's table cannot be read (lost when parsed, or no cell of it was extracted)."""
    return _lost(report.warnings, table, facts)


def _lost(warnings: Sequence[ParseWarning], table: str, facts: Sequence[Fact]) -> bool:
    section = TABLE_SECTIONS[table]
    if any(w.code in _LOST_CODES and (w.code == "table_unreadable" or table in w.message or w.section == section)
           for w in warnings):
        return True
    return not any(f.table == table for f in facts)


def _scope_ids(query: Query, index: Retriever) -> list[str]:
    return [r for r in query.scope.report_ids if r in index.metas]


def _read_tables(index: Retriever, report_ids: Sequence[str], tables: Sequence[str],
                 lost: bool = False) -> Iterator[tuple[str, list[Fact]]]:
    """The reports (in order) whose tables are all read (with lost: those with one lost), each with its facts
    of those tables; warnings and facts are read a chunk of reports at a time and no report is decoded."""
    for start in range(0, len(report_ids), _CHUNK):
        chunk = list(report_ids[start : start + _CHUNK])
        warnings = index.warnings_of(chunk)
        facts = index.facts_by_report(chunk, tables)
        for report_id in chunk:
            own = facts.get(report_id, [])
            if any(_lost(warnings.get(report_id, ()), t, own) for t in tables) == lost:
                yield report_id, own


def _value(cell: Cell, facts: Sequence[Fact]) -> tuple[float | None, list[Fact], str]:
    """The cell's value in these facts (a sum for a block of rows), the cells used and the column."""
    query = cell.fact_query(facts)
    cells = query_facts(query, facts)
    if not cells:
        return None, [], query.column
    if query.aggregate and not (len(cells) == 1 and cells[0].row_path == query.row_path):
        return sum_facts(cells), cells, query.column
    return cells[0].value, cells[:1], query.column


def _amount(value: float | None, unit: str) -> str:
    return "为空（表中该格未填）" if value is None else f"{format_number(value)}{unit}"


class _Lines:
    """Answer lines with numbered citations."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cited = Citations()

    def cite(self, report: Report, facts: Sequence[Fact]) -> str:
        return "".join(self.cited.cell(report, fact) for fact in facts)


def _report_sentence(out: _Lines, report: Report, cells: Sequence[Cell], facts: Sequence[Fact]) -> bool:
    """One sentence for one report answering every cell ("…X件，其中结果纠正Y件（表四）[1][2]")."""
    parts: list[str] = []
    tables: list[str] = []
    first_block: tuple[str, ...] | None = None
    for cell in cells:
        value, used, column = _value(cell, facts)
        if not used:
            continue
        unit = used[0].unit
        if len(used) > 1:  # a block of rows: show its items, label the sum as computed
            items = "；".join(f"{f.row_path[-1].lstrip('0123456789.')} {format_number(f.value)}"
                             + out.cite(report, [f]) for f in used)
            text = f"{phrase(cell, column)}各项为：{items}（{COMPUTED}：合计{_amount(value, unit)}）"
        else:
            result = column.split("·")[-1]
            same = first_block is not None and cell.table == "T4" and cell.row_path == first_block
            if same and result != "总计":
                text = f"其中{result}{_amount(value, unit)}{out.cite(report, used)}"
            else:
                text = f"{phrase(cell, column)}{_amount(value, unit)}{out.cite(report, used)}"
        if first_block is None:
            first_block = cell.row_path
        parts.append(text)
        tables.append(TABLE_NAMES[cell.table])
    if not parts:
        return False
    out.lines.append(f"{_who(report.meta)}{'，'.join(parts)}（{'、'.join(dict.fromkeys(tables))}）")
    return True


def agencies_of(metas: Sequence[ReportMeta]) -> list[str]:
    return sorted({m.agency or m.title for m in metas})


def ask_which(query: Query, metas: Sequence[ReportMeta]) -> Answer:
    """Too many candidate reports: ask which agency is meant, listing them (the first scope.MAX_NAMED)."""
    names = agencies_of(metas)
    text = (f"问题没有指明机关，已收录的报告中有{len(names)}个机关可以回答：{named_agencies(names)}。"
            "请在问题中指明机关（例如“" + names[0] + "…”），或在筛选中选择机关。")
    return Answer(question=query.question, found=False, text=text, path="clarify")


def _tables(cells: Sequence[Cell]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.table for c in cells))


def cell(query: Query, index: Retriever) -> Answer | None:
    """The cell(s) asked, one sentence per report in scope (several when no agency is named)."""
    ids = _scope_ids(query, index)
    if not ids or not query.cells:
        return None
    readable = list(islice(_read_tables(index, ids, _tables(query.cells)), MAX_REPORT_LINES + 1))
    if not readable:
        return None  # the prose may still say it; else lost_table
    if len(readable) > MAX_REPORT_LINES:  # the candidates are named from their metadata: none is decoded
        return ask_which(query, [index.metas[r] for r in ids])
    out = _Lines()
    missing = []
    for report_id, facts in readable:
        report = index.reports[report_id]
        if not _report_sentence(out, report, query.cells, facts):
            missing.append(report)
    if not out.lines:
        report = missing[0]
        labels = "、".join(c.label for c in query.cells)
        return not_found(query.question, f"《{report.meta.title}》{TABLE_NAMES[query.cells[0].table]}中"
                                         f"“{labels}”这一项的数据（该报告的表格没有这一项）。")
    return Answer(question=query.question, found=True, text="\n".join(out.lines), citations=out.cited.all(),
                  path="facts")


def _change(earlier: float, later: float, unit: str, percent: bool) -> str:
    diff = later - earlier
    text = "持平" if diff == 0 else f"{'增加' if diff > 0 else '减少'}{format_number(abs(diff))}{unit}"
    if percent and earlier and diff:
        text += f"，{diff / earlier * 100:+.1f}%"
    return text


def _readable(index: Retriever, report_ids: Sequence[str], cell: Cell
              ) -> Iterator[tuple[str, list[Fact], float | None, list[Fact]]]:
    """For each report whose table of the cell was read: its facts, the cell's value and the cells used."""
    for report_id, facts in _read_tables(index, report_ids, (cell.table,)):
        value, used, _ = _value(cell, facts)
        yield report_id, facts, value, used


def compare(query: Query, index: Retriever) -> Answer | None:
    """One agency's cell over the years in scope (all its years when none is named), with the change."""
    ids = sorted(_scope_ids(query, index), key=lambda r: index.metas[r].year or 0)
    if not ids or not query.cells:
        return None
    agencies = agencies_of([index.metas[r] for r in ids])
    if len(agencies) > 1:
        return cell(query, index)  # several agencies: each one's figures, no cross-agency change
    if query.scope.years_from != "question":  # "历年…": every year of the agency
        ids = sorted((rid for rid, m in index.metas.items() if (m.agency or m.title) == agencies[0]),
                     key=lambda r: index.metas[r].year or 0)
    first = query.cells[0]
    out = _Lines()
    series: list[tuple[Report, float | None, str]] = []
    from_prose: list[Report] = []
    readable = {rid: (facts, value, used) for rid, facts, value, used in _readable(index, ids, first)}
    for report_id in ids:
        facts, value, used = readable.get(report_id, ([], None, []))
        report = index.reports[report_id]
        if used and _report_sentence(out, report, [first], facts):
            series.append((report, value, used[0].unit))
        elif (prose := _prose_year(out, query, index, report, first)) is not None:
            series.append(prose)
            from_prose.append(report)
    if not series:
        return None
    known = [(r, v, u) for r, v, u in series if v is not None]
    mode = query.slot("compare") or "diff"
    if len(known) >= 2:
        if mode in ("max", "min"):
            pick = (max if mode == "max" else min)(known, key=lambda item: item[1] or 0)
            word = "最多" if mode == "max" else "最少"
            out.lines.append(f"（{COMPUTED}：{pick[0].meta.year}年{word}，为{format_number(pick[1])}{pick[2]}）")
        else:
            (r0, v0, unit), (r1, v1, _) = known[0], known[-1]
            change = _change(v0 or 0, v1 or 0, unit, query.slot("percent") == "yes")
            out.lines.append(f"（{COMPUTED}：{r1.meta.year}年比{r0.meta.year}年{change}）")
    if from_prose:
        years = "、".join(f"{r.meta.year}年" for r in from_prose)
        out.lines.append(f"（{years}的表格无法读取或没有这一项，{'这一年' if len(from_prose) == 1 else '这几年'}的数字引自报告正文）")
    return Answer(question=query.question, found=True, text="\n".join(out.lines), citations=out.cited.all(),
                  path="facts")


def _prose_year(out: _Lines, query: Query, index: Retriever, report: Report, cell: Cell
                ) -> tuple[Report, float | None, str] | None:
    """A year whose table is lost or lacks the cell: the figure its prose states for the same concept and
    unit (the quantity gate), as a cited line; an approximate figure (1100余条) is shown, not computed with."""
    unit = query.slot("unit") or ("件" if cell.table in ("T3", "T4") else None)
    if unit is None:
        return None
    found = from_text.figure(query, index, report.report_id, unit, subject_words(cell, lexicon()))
    if found is None:
        return None
    out.lines.append(f"{_who(report.meta)}：{found.quote}{out.cited.span(found.span)}（正文）")
    return report, None if found.approximate else found.value, unit


def rank(query: Query, index: Retriever) -> Answer | None:
    """The cell across agencies (latest report of each unless a year is named), ordered."""
    ids = _scope_ids(query, index)
    if not ids or not query.cells:
        return None
    if query.scope.years_from != "question":
        latest: dict[str, str] = {}
        for r in ids:
            meta = index.metas[r]
            key = meta.agency or meta.title
            if key not in latest or (meta.year or 0) > (index.metas[latest[key]].year or 0):
                latest[key] = r
        ids = list(latest.values())
    first = query.cells[0]
    values = [(value, report_id, facts) for report_id, facts, value, used in _readable(index, ids, first)
              if used and value is not None]
    if not values:
        return None
    values.sort(key=lambda item: (-item[0] if query.slot("rank") != "min" else item[0], _who(index.metas[item[1]])))
    out = _Lines()
    for _, report_id, facts in values[:MAX_REPORT_LINES]:  # only the reports quoted are decoded
        _report_sentence(out, index.reports[report_id], [first], facts)
    top = index.metas[values[0][1]]
    word = "最少" if query.slot("rank") == "min" else "最多"
    skipped = len(ids) - len(values)
    note = f"；另有{skipped}份报告的表格无法读取，未参与比较" if skipped else ""
    out.lines.append(f"（{COMPUTED}：在{len(values)}份可读取表格的报告中，{_who(top)}{word}{note}）")
    return Answer(question=query.question, found=True, text="\n".join(out.lines), citations=out.cited.all(),
                  path="facts")


def lost_table(query: Query, index: Retriever) -> Answer | None:
    """A cell asked of a report whose table is unreadable: say so, with that report's section as related."""
    scope = _scope_ids(query, index)
    if not scope or not query.cells:
        return None
    table = query.cells[0].table
    ids = tuple(r for r, _ in _read_tables(index, scope, (table,), lost=True))
    if not ids:
        return None
    section = TABLE_SECTIONS[table]
    related = index.search(query.text, k=3, filters=Filters(report_ids=ids, section=section)) or index.search(
        query.text, k=3, filters=Filters(report_ids=ids))
    titles = "、".join(f"《{index.metas[r].title}》" for r in ids[:3])
    return not_found(query.question, f"{titles}{TABLE_NAMES[table]}中的这一数字：{LOST_TABLE}。", related)
