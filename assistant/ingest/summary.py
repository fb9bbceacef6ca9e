"""What `assistant ingest` shows per file, as JSON-ready dicts and Chinese text (no printing here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.errors import IngestError
from assistant.records import Report, ReportMeta

SKIPPED_REASON = "不是报告文件（说明、目录、附属元数据等），已跳过"
# Short Chinese names of the identity warnings, for the one-line view.
IDENTITY_WARNINGS = {
    "identity_guessed": "身份按文件名推测",
    "agency_missing": "未写明机关",
    "agency_from_chrome": "机关取自发布机构栏",
    "agency_from_text": "机关取自正文",
    "year_missing": "年度未知",
    "year_mismatch": "标题与统计期限年度不一致",
    "year_from_publication": "年度按发布日期推定",
}
TABLE_NAMES = {"二": "表二", "三": "表三", "四": "表四"}


def report_identity(report: Report) -> dict[str, Any]:
    """What a report is, as the ingest identity line, `assistant reports --json` and the build show it."""
    return identity(report.report_id, report.meta, [t.section for t in report.tables],
                    [{"code": w.code, "message": w.message} for w in report.warnings])


def identity(report_id: str, meta: ReportMeta, table_sections: Sequence[str],
             warnings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """report_identity from the parts an index stores (Store.identities reads them without decoding reports)."""
    return {
        "report_id": report_id,
        "title": meta.title,
        "agency": meta.agency,
        "aliases": list(meta.aliases),
        "year": meta.year,
        "template_version": meta.template_version,
        "format": meta.format,
        "source_file": meta.source_file,
        "tables": [TABLE_NAMES.get(section, f"第{section}部分") for section in table_sections],
        "warnings": [{"code": w["code"], "message": w["message"]} for w in warnings],
    }


def identity_line(identity: dict[str, Any]) -> str:
    """One line: title ｜ agency ｜ year ｜ template ｜ tables ｜ warnings."""
    tables = identity["tables"]
    codes = [w["code"] for w in identity["warnings"]]
    named = [IDENTITY_WARNINGS[c] for c in codes if c in IDENTITY_WARNINGS]
    warned = f"警告 {len(codes)} 条" + (f"（{'、'.join(named)}）" if named else "")
    return "｜".join([
        identity["title"],
        f"机关：{identity['agency'] or '（未识别）'}",
        f"年度：{identity['year'] or '（未识别）'}",
        f"模板：{identity['template_version'] + '版' if identity['template_version'] else '（未识别）'}",
        f"表格：{len(tables)} 张" + (f"（{'、'.join(dict.fromkeys(tables))}）" if tables else ""),
        warned,
    ])


def report_summary(path: Path, report: Report) -> dict[str, Any]:
    """{"file", "ok": true, "report": {...}} for one parsed report."""
    table_rows = sum(1 for p in report.passages if p.kind == "table_row")
    identity = report_identity(report)
    return {
        "file": str(path),
        "ok": True,
        "identity": identity_line(identity),
        "report": {
            **{k: v for k, v in identity.items() if k not in ("tables", "warnings")},
            "source_url": report.meta.source_url,
            "sha256": report.meta.sha256,
            "cleaned_chars": len(report.cleaned_text),
            "sections": [
                {"key": s.key, "title": s.title, "start": s.start, "end": s.end, "chars": s.end - s.start,
                 "body_chars": s.end - s.body_start, "empty": s.empty}
                for s in report.sections
            ],
            "tables": [
                {"table_id": t.table_id, "section": t.section, "rows": t.n_rows, "cols": t.n_cols,
                 "origin": t.origin, "header_rows": t.header_rows, "start": t.start, "end": t.end}
                for t in report.tables
            ],
            "passage_count": len(report.passages),
            "table_row_passages": table_rows,
            "warnings": [{"code": w.code, "message": w.message, "section": w.section} for w in report.warnings],
        },
    }


def error_summary(path: Path, error: IngestError) -> dict[str, Any]:
    """{"file", "ok": false, "error", "error_type"} for a file that failed."""
    return {"file": str(path), "ok": False, "error": str(error), "error_type": type(error).__name__}


def skipped_summary(path: Path) -> dict[str, Any]:
    """A file named on the command line that is a sidecar or README, not a report."""
    return {"file": str(path), "ok": False, "skipped": True, "error": f"{path}: {SKIPPED_REASON}",
            "error_type": "SkippedFile"}


def format_report(summary: dict[str, Any]) -> str:
    """The human (Chinese) view of a report_summary."""
    r = summary["report"]
    lines = [
        f"== {summary['file']}",
        f"  身份：{summary['identity']}",
        f"  标题：{r['title']}",
        f"  机关：{r['agency'] or '（未识别）'}　年度：{r['year'] or '（未识别）'}　"
        f"模板：{r['template_version'] or '（未识别）'}版　格式：{r['format']}",
        f"  报告编号：{r['report_id']}　SHA-256：{r['sha256'][:16]}…　正文 {r['cleaned_chars']} 字",
    ]
    if r["aliases"]:
        lines.append(f"  别名：{'、'.join(r['aliases'])}")
    if r["source_url"]:
        lines.append(f"  来源：{r['source_url']}")
    lines.append("  章节：")
    for s in r["sections"]:
        flag = "（空）" if s["empty"] else ""
        lines.append(f"    {s['key']:<8} {s['title']}　{s['chars']} 字{flag}")
    if r["tables"]:
        lines.append("  表格：")
        for t in r["tables"]:
            lines.append(f"    {t['table_id']}　第{t['section']}部分　{t['rows']}行×{t['cols']}列　来源 {t['origin']}")
    else:
        lines.append("  表格：无")
    lines.append(f"  段落：{r['passage_count']} 个（其中表格行 {r['table_row_passages']} 个）")
    if r["warnings"]:
        lines.append("  警告：")
        lines.extend(f"    [{w['code']}] {w['message']}" for w in r["warnings"])
    return "\n".join(lines)
