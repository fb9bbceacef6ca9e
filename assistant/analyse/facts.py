"""Statutory tables (T2/T3/T4) of a report mapped onto the national template, one Fact per data cell."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from itertools import takewhile

import cn2an

from assistant.records import Fact, ParseWarning, Report, Table, TableCell

T3_NEW, T3_CARRIED_IN = "一、本年新收政府信息公开申请数量", "二、上年结转政府信息公开申请数量"
T3_RESULTS, T3_CARRIED_OUT = "三、本年度办理结果", "四、结转下年度继续办理"
T3_TOTAL_ROW = (T3_RESULTS, "（七）总计")
# (block label, keyword pattern, items as (label, pattern)); the (六) items exist in the 2021 revision only.
T3_BLOCKS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("（一）予以公开", "予以公开", ()),
    ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", "部分公开", ()),
    ("（三）不予公开", "不予公开", (
        ("1.属于国家秘密", "国家秘密"), ("2.其他法律行政法规禁止公开", "禁止公开"),
        ("3.危及“三安全一稳定”", "三安全|一稳定"), ("4.保护第三方合法权益", "第三方"),
        ("5.属于三类内部事务信息", "内部事务"), ("6.属于四类过程性信息", "过程性"),
        ("7.属于行政执法案卷", "执法案卷"), ("8.属于行政查询事项", "行政查询|查询事项"))),
    ("（四）无法提供", "无法提供", (
        ("1.本机关不掌握相关政府信息", "不掌握"), ("2.没有现成信息需要另行制作", "另行制作|现成信息"),
        ("3.补正后申请内容仍不明确", "仍不明确|补正后"))),
    ("（五）不予处理", "不予处理", (
        ("1.信访举报投诉类申请", "信访|举报|投诉"), ("2.重复申请", "重复申请"),
        ("3.要求提供公开出版物", "出版物"), ("4.无正当理由大量反复申请", "大量反复"),
        ("5.要求行政机关确认或重新出具已获取信息", "重新出具|确认"))),
    ("（六）其他处理", "其他处理", (
        ("1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", "不补正"),
        ("2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", "缴纳费用|收费通知"),
        ("3.其他", "^其他$"))),
    ("（七）总计", "总计|合计", ()),
)
T3_COLUMNS = ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计")
T3_COLUMN_KEYS = ("自然人", "商业企业", "科研机构", "公益", "法律服务", "^其他", "总计|合计")
T4_BLOCKS = (("行政复议",), ("行政诉讼", "未经复议直接起诉"), ("行政诉讼", "复议后起诉"))
T4_RESULTS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
T4_RESULT_KEYS = ("维持", "纠正", "其他", "未审结|尚未", "总计|合计")
# T2 rows as (block, canonical label, pattern); 其他对外管理服务事项 and 政府集中采购 are 2019 rows.
T2_ROWS = (("第二十条第（一）项", "规章", "规章"), ("第二十条第（一）项", "行政规范性文件", "规范性文件"),
           ("第二十条第（五）项", "行政许可", "行政许可"), ("第二十条第（五）项", "其他对外管理服务事项", "对外管理"),
           ("第二十条第（六）项", "行政处罚", "行政处罚"), ("第二十条第（六）项", "行政强制", "行政强制"),
           ("第二十条第（八）项", "行政事业性收费", "收费"), ("第二十条第（九）项", "政府集中采购", "采购"))
T2_COLUMNS = (("本年制发件数", "制发"), ("本年废止件数", "废止"), ("现行有效件数", "现行有效"),
              ("本年新制作数量", "新制作"), ("本年新公开数量", "新公开"), ("对外公开总数量", "对外公开总"),
              ("上一年项目数量", "上一年"), ("本年增/减", "增.?减"), ("本年处理决定数量", "本年处理决定"),
              ("处理决定数量", "处理决定"), ("本年收费金额", "收费金额"), ("采购项目数量", "采购项目"),
              ("采购总金额", "总金额"))
MONEY_COLUMNS = ("本年收费金额", "采购总金额")
TABLE_SECTIONS = {"T2": "二", "T3": "三", "T4": "四"}
BLANKS = {"", "-", "--", "—", "——", "–", "/", "\\", "无", "空"}
_NUMBER = re.compile(r"^([+\-−]?\d[\d,]*(?:\.\d+)?)(?:件|万元|元|项|个|条)?$")
_NUMBERING = re.compile(r"^(?:[一二三四五六七八九十]+[、.]|\([一二三四五六七八九十\d]+\)|\d+[.、)])+")


def normalize(text: str) -> str:
    """Text for matching: NFKC (full- to half-width), no whitespace, no quotes."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s\"'“”‘’「」『』]+", "", text)


def strip_numbering(text: str) -> str:
    """A normalized label without its leading numerals: "(三)不予公开" -> "不予公开"."""
    return _NUMBERING.sub("", normalize(text))


@lru_cache(maxsize=8192)  # a corpus prints the same few cell texts ("0", "12", "—") again and again
def parse_value(text: str) -> float | None:
    """The number printed in a cell; None for blank, dashes, "/" or anything unreadable."""
    t = normalize(text).rstrip("。")
    if t in BLANKS:
        return None
    if m := _NUMBER.match(t):
        return float(m.group(1).replace(",", "").replace("−", "-"))
    try:
        return float(cn2an.cn2an(t.rstrip("件项个"), "smart"))
    except (ValueError, KeyError, TypeError):
        return None


def is_value_text(text: str) -> bool:
    """True for a cell that holds a number or a blank marker rather than a label."""
    return normalize(text) in BLANKS or parse_value(text) is not None


def t3_template_rows(version: str = "2021") -> list[tuple[str, ...]]:
    """The canonical T3 row paths of a template version ("2019" or "2021"), in order."""
    rows: list[tuple[str, ...]] = [(T3_NEW,), (T3_CARRIED_IN,)]
    for label, _, items in T3_BLOCKS:
        if items and not (version == "2019" and label.startswith("（六）")):
            rows += [(T3_RESULTS, label, item) for item, _ in items]
        else:
            rows.append((T3_RESULTS, label))
    return rows + [(T3_CARRIED_OUT,)]


def t4_column(block: tuple[str, ...], result: str) -> str:
    """The canonical T4 column name, e.g. "行政复议·总计"."""
    return "·".join((*block, result))


def _key(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _t3_row(labels: list[str], block: str | None) -> tuple[tuple[str, ...] | None, str | None]:
    """Canonical T3 row path for a row's label cells, and the block it is in (kept for the next row)."""
    texts = [strip_numbering(t) for t in labels if normalize(t)]
    if not texts:
        return None, block
    for pattern, top in (("新收", T3_NEW), ("上年结转", T3_CARRIED_IN), ("结转下年|下年度", T3_CARRIED_OUT)):
        if _key(pattern, "|".join(texts)):
            return (top,), None
    leaf = texts[-1]
    own = next((b for t in (*texts[:-1], leaf) for b in T3_BLOCKS if _key(b[1], t)), None)
    if own is not None:  # the row names its block: an item of it, or the block's own row
        item = next((i for i, p in own[2] if _key(p, leaf)), None)
        if item or _key(own[1], leaf):
            return ((T3_RESULTS, own[0], item) if item else (T3_RESULTS, own[0])), own[0]
        return None, own[0]
    # No block on this row (its rowspan was lost): the block of the rows above, else any block's item.
    ordered = sorted(T3_BLOCKS, key=lambda b: b[0] != block)
    for label, _, items in ordered:
        item = next((i for i, p in items if _key(p, leaf) and (label == block or p != "^其他$")), None)
        if item:
            return (T3_RESULTS, label, item), label
    return None, block


def _t3_column(path: list[str]) -> str | None:
    """The applicant column a header path names; a header word printed over two or three stacked cells
    ("社会公益" over "组织") is read joined."""
    for size in (1, 2, 3):
        if len(path) < size:
            break
        leaf = normalize("".join(path[-size:])).replace("法人或其他组织", "")
        found = next((c for c, k in zip(T3_COLUMNS, T3_COLUMN_KEYS, strict=True) if _key(k, leaf)), None)
        if found:
            return found
    return None


def _t4_column(path: list[str]) -> str | None:
    joined, leaf = normalize("|".join(path)), normalize(path[-1]) if path else ""
    blocks = (("复议后", T4_BLOCKS[2]), ("未经复议|直接起诉", T4_BLOCKS[1]), ("行政复议", T4_BLOCKS[0]))
    block = next((b for k, b in blocks if _key(k, joined)), None)
    result = next((r for r, k in zip(T4_RESULTS, T4_RESULT_KEYS, strict=True) if _key(k, leaf)), None)
    return t4_column(block, result) if block and result else None


def _t2_column(text: str) -> str | None:
    return next((c for c, k in T2_COLUMNS if _key(k, normalize(text))), None)


class _Grid:
    """Position lookup over a Table's cells, spans resolved."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.at: dict[tuple[int, int], TableCell] = {}
        for c in table.cells:
            for r in range(c.row, c.row + c.rowspan):
                for k in range(c.col, c.col + c.colspan):
                    self.at[(r, k)] = c

    def texts(self, row: int, cols: Iterable[int]) -> list[str]:
        """Texts of the distinct cells covering these columns of a row, in order."""
        seen: list[TableCell] = []
        for k in cols:
            c = self.at.get((row, k))
            if c is not None and c not in seen and c.text.strip():
                seen.append(c)
        return [c.text for c in seen]

    def first_data_row(self) -> int:
        for r in range(self.table.n_rows):
            if any(parse_value(c.text) is not None for k in range(self.table.n_cols)
                   if (c := self.at.get((r, k))) is not None and c.row == r):
                return r
        return self.table.n_rows

    def column_paths(self, header_rows: int) -> dict[int, list[str]]:
        paths: dict[int, list[str]] = {}
        for k in range(self.table.n_cols):
            path = [t for r in range(header_rows) for t in self.texts(r, [k])]
            cell = self.at.get((header_rows, k))
            paths[k] = [t for i, t in enumerate(path) if i == 0 or t != path[i - 1]] or (
                list(cell.col_headers) if cell is not None else [])
        return paths

    def value_cell(self, row: int, col: int) -> TableCell | None:
        c = self.at.get((row, col))
        return c if c is not None and c.row == row and c.col == col else None


def _sum_score(groups: Iterable[list[float | None]]) -> tuple[int, int]:
    """(groups that can tell, groups that pass): a group tells when it is filled and not all zeros, and passes when
    its last value is the sum of the others."""
    told = passed = 0
    for values in groups:
        if len(values) < 2 or any(v is None for v in values) or not any(values):
            continue
        numbers = [v or 0.0 for v in values]
        told += 1
        passed += abs(sum(numbers[:-1]) - numbers[-1]) < 1e-6
    return told, passed


def _t3_confirms(grid: _Grid, columns: dict[int, str]) -> tuple[int, int]:
    """The row check of T3: the six applicant columns add up to 总计 (in most rows that can tell)."""
    order = sorted(columns, key=lambda k: T3_COLUMNS.index(columns[k]))
    rows = []
    for r in range(grid.first_data_row(), grid.table.n_rows):
        cells = [grid.value_cell(r, k) for k in order]
        rows.append([parse_value(c.text) if c is not None else None for c in cells])
    return _sum_score(rows)


def _t4_confirms(grid: _Grid, columns: dict[int, str]) -> tuple[int, int]:
    """The T4 check: each block's 总计 is the sum of the four results before it."""
    by_name = {name: k for k, name in columns.items()}
    groups = []
    for r in range(grid.first_data_row(), grid.table.n_rows):
        for block in T4_BLOCKS:
            cells = [grid.value_cell(r, by_name[t4_column(block, x)]) if t4_column(block, x) in by_name else None
                     for x in T4_RESULTS]
            groups.append([parse_value(c.text) if c is not None else None for c in cells])
    return _sum_score(groups)


Confirm = Callable[[_Grid, dict[int, str]], tuple[int, int]]


def _column_map(grid: _Grid, names: Sequence[str], namer: Callable[[list[str]], str | None],
                confirm: Confirm) -> tuple[dict[int, str], str]:
    """Data columns of a T3/T4 grid and how they were confirmed by the sums (row cells add up to 总计):
    "header" (the header words name every column and the sums do not favour another reading), "position" (read
    from the right: the sums agree with it better than with the header words, or the words name too few columns)
    or "unconfirmed" (no reading that most sums support: the table is kept as text only)."""
    first = grid.first_data_row()
    by_header = {k: n for k, p in grid.column_paths(first).items() if (n := namer(p))}
    width = grid.table.n_cols
    complete = sorted(by_header.values()) == sorted(names) and all(
        is_value_text(grid.at[(first, k)].text) for k in by_header if (first, k) in grid.at)
    told, passed = confirm(grid, by_header) if complete else (0, 0)
    if complete and passed == told:
        return by_header, "header"
    by_position = dict(zip(range(width - len(names), width), names, strict=True)) if width >= len(names) else {}
    if by_position and by_position != by_header:
        p_told, p_passed = confirm(grid, by_position)
        if p_passed * 2 >= p_told > 0 and p_told - p_passed < (told - passed if complete else p_told + 1):
            return by_position, "position"
    if complete and passed * 2 >= told:
        return by_header, "header"  # a few sums fail under every reading: the report's own errors, checked later
    return {}, "unconfirmed"


def _mapping_warning(kind: str, how: str) -> ParseWarning | None:
    section = TABLE_SECTIONS[kind]
    if how == "position":
        return ParseWarning("table_columns_by_position",
                            f"表{kind}的表头未能逐列识别，已按列的位置读取，并经“各列之和等于总计”核对确认", section)
    if how == "unconfirmed":
        return ParseWarning("table_unconfirmed",
                            f"表{kind}的列无法确认（按表头或按位置读取，各行之和都与总计不符），"
                            "该表只作为文本保留，不从中提取数字", section)
    return None


def _table_kind(table: Table) -> str | None:
    text = normalize(" ".join(c.text for c in table.cells))
    if _key("新收|予以公开|不予公开|无法提供|自然人", text):
        return "T3"
    if _key("行政复议", text) and _key("维持|行政诉讼", text):
        return "T4"
    if _key("第二十条|制发|新制作|行政许可|行政处罚|规范性文件", text):
        return "T2"
    return None


def _rows_t3(grid: _Grid, state: dict[str, str | None],
             warnings: list[ParseWarning]) -> Iterable[tuple[tuple[str, ...], str, TableCell, str]]:
    columns, how = _column_map(grid, T3_COLUMNS, _t3_column, _t3_confirms)
    if (warning := _mapping_warning("T3", how)) is not None:
        warnings.append(warning)
    if how == "unconfirmed":
        return
    label_cols = range(min(columns, default=0))
    for r in range(grid.first_data_row(), grid.table.n_rows):
        picked = {name: grid.value_cell(r, k) for k, name in columns.items()}
        if picked and all(c is not None and is_value_text(c.text) for c in picked.values()):
            labels = grid.texts(r, label_cols) or list(next(
                (c.row_headers for c in picked.values() if c is not None), ()))
        else:  # a row out of line with the header (e.g. lost rowspans): its trailing numbers, right-aligned
            own = [c for k in range(grid.table.n_cols) if (c := grid.value_cell(r, k)) is not None]
            tail = list(takewhile(lambda c: is_value_text(c.text), reversed(own)))[::-1]
            if len(tail) < len(T3_COLUMNS):
                continue
            picked = dict(zip(T3_COLUMNS, tail[-len(T3_COLUMNS):], strict=True))
            labels = [c.text for c in own[: len(own) - len(tail)]]
            told, passed = _sum_score([[parse_value(c.text) for c in tail[-len(T3_COLUMNS):]]])
            if told > passed:  # read by position, and the row's sum does not confirm it
                warnings.append(ParseWarning("table_row_unconfirmed",
                                             f"表T3 的行“{' / '.join(labels)}”与表头错位且各列之和不等于总计，未提取", "三"))
                continue
        path, state["block"] = _t3_row(labels, state.get("block"))
        if path is None:
            warnings.append(ParseWarning("facts_row_unmatched", f"表T3 未识别的行：{' / '.join(labels)}", "三"))
        for name, cell in picked.items():
            if path and cell is not None:
                yield path, name, cell, "件"


def _rows_t4(grid: _Grid, warnings: list[ParseWarning]) -> Iterable[tuple[tuple[str, ...], str, TableCell, str]]:
    names = [t4_column(b, r) for b in T4_BLOCKS for r in T4_RESULTS]
    columns, how = _column_map(grid, names, _t4_column, _t4_confirms)
    if (warning := _mapping_warning("T4", how)) is not None:
        warnings.append(warning)
    for r in range(grid.first_data_row(), grid.table.n_rows):
        for k, name in columns.items():
            if (cell := grid.value_cell(r, k)) is not None and is_value_text(cell.text):
                yield tuple(name.split("·")[:-1]), name, cell, "件"


def _rows_t2(grid: _Grid) -> Iterable[tuple[tuple[str, ...], str, TableCell, str]]:
    headers: dict[int, tuple[str, bool]] = {}
    for r in range(grid.table.n_rows):
        cells = [c for k in range(grid.table.n_cols) if (c := grid.value_cell(r, k)) is not None]
        label = strip_numbering(cells[0].text) if cells else ""
        row = next((x for x in T2_ROWS if _key(x[2], label)), None)
        if row is None and any(_t2_column(c.text) for c in cells[1:]):
            headers = {k: (n, "万元" in c.text) for c in cells[1:] if (n := _t2_column(c.text))
                       for k in range(c.col, c.col + c.colspan)}
        elif row is not None:
            version_2019 = any(n in ("本年新制作数量", "对外公开总数量") for n, _ in headers.values())
            name = "规范性文件" if version_2019 and row[1] == "行政规范性文件" else row[1]
            for c in cells[1:]:
                if c.col in headers:
                    column, money = headers[c.col]
                    yield (row[0], name), column, c, _t2_unit(c.text, column, money)


def _t2_unit(text: str, column: str, money_header: bool) -> str:
    """件 for counts; for amounts 万元 (the template's unit) unless the cell itself says 元 ("251000元")."""
    printed = normalize(text)
    if printed.endswith("元") and not printed.endswith("万元"):
        return "元"
    return "万元" if money_header or column in MONEY_COLUMNS else "件"


def extract_facts(report: Report) -> tuple[list[Fact], list[ParseWarning]]:
    """Every data cell of the report's T2/T3/T4 as a Fact; a warning per table that yields none."""
    passages = {(p.table_id, p.table_row): p.passage_id for p in report.passages if p.kind == "table_row"}
    facts: dict[tuple[str, tuple[str, ...], str], Fact] = {}
    warnings: list[ParseWarning] = []
    state: dict[str, str | None] = {}
    for table in report.tables:
        kind, grid = _table_kind(table), _Grid(table)
        if kind is None:
            continue
        rows = _rows_t3(grid, state, warnings) if kind == "T3" else _rows_t4(grid, warnings) if kind == "T4" else _rows_t2(grid)
        for path, column, cell, unit in rows:
            key = (kind, path, column)
            if key in facts:
                warnings.append(ParseWarning("facts_duplicate", f"{kind} {'/'.join(path)} {column} 重复，保留首个",
                                             TABLE_SECTIONS[kind]))
                continue
            facts[key] = Fact(report.report_id, report.meta.agency, report.meta.year, kind, path, column,
                              parse_value(cell.text), cell.text.strip(), unit, table.table_id, cell.row, cell.col,
                              passages.get((table.table_id, cell.row)))
    for kind, section in TABLE_SECTIONS.items():
        if not any(f.table == kind for f in facts.values()):
            warnings.append(ParseWarning("facts_missing", f"未找到表{kind}（第{section}部分）的数据", section))
    return list(facts.values()), warnings
