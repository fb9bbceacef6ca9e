"""Cell accuracy and check findings on real published reports (no index, no encoder: ingestion and analysis only).

Cells are matched by template row and column only, so the figure does not depend on the report's identity
(title, agency, year). Expected values: tests/data/real/tables/expected.json, typed from the published tables.

    .venv/bin/python benchmarks/real_tables.py [--json]

Prints, per report and in total: T3/T4 cells right / cells expected (a blank cell is right only when read as
blank); then, over the real table reports and the text exports whose tables are lost: Facts produced from lost
tables (must be 0), the status of every table check, the cross-check findings, and the time taken.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.analyse.checks import check_reports  # noqa: E402
from assistant.analyse.crosschecks import cross_checks  # noqa: E402
from assistant.analyse.facts import (  # noqa: E402
    T3_COLUMNS,
    T4_BLOCKS,
    T4_RESULTS,
    extract_facts,
    t3_template_rows,
    t4_column,
)
from assistant.ingest import ingest_file  # noqa: E402
from assistant.records import Fact, Report  # noqa: E402

REAL = ROOT / "tests" / "data" / "real"
GLUED = re.compile(r"申请数量\s*\d{4,}|尚未审结总计\d{5,}")  # run-together T3/T4 cells
LOST = [ROOT.parent / "shared" / "real" / f"pingtan-{y}.txt" for y in (2019, 2020, 2021)]


def _expected_cells(entry: dict[str, Any]) -> dict[tuple[str, tuple[str, ...], str], float | None]:
    cells: dict[tuple[str, tuple[str, ...], str], float | None] = {}
    for path, values in zip(t3_template_rows(entry["template"]), entry["t3"], strict=True):
        for column, value in zip(T3_COLUMNS, values, strict=True):
            cells[("T3", path, column)] = value
    names = [(block, t4_column(block, result)) for block in T4_BLOCKS for result in T4_RESULTS]
    for (block, column), value in zip(names, entry["t4"], strict=True):
        cells[("T4", block, column)] = value
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    expected = json.loads((REAL / "tables" / "expected.json").read_text(encoding="utf-8"))["reports"]
    reports: list[Report] = []
    facts: list[Fact] = []
    per_report: dict[str, tuple[int, int]] = {}
    for name, entry in expected.items():
        report = ingest_file(REAL / name)
        found, _ = extract_facts(report)
        reports.append(report)
        facts += found
        got = {(f.table, f.row_path, f.column): f.value for f in found}
        want = _expected_cells(entry)
        right = sum(1 for key, value in want.items() if key in got and got[key] == value)
        per_report[name] = (right, len(want))
    lost_facts = lost_passages = readable_with_cells = 0
    for path in LOST:
        report = ingest_file(path)
        found, _ = extract_facts(report)
        lost_facts += len(found)
        lost_passages += sum(p.kind == "lost_table" for p in report.passages)
        readable_with_cells += sum(p.kind == "text" and bool(GLUED.search(p.text)) for p in report.passages)
        reports.append(report)
        facts += found
    checks, violations = check_reports(reports, facts)
    discrepancies = cross_checks(reports, facts)
    seconds = time.perf_counter() - started
    right = sum(r for r, _ in per_report.values())
    total = sum(n for _, n in per_report.values())
    result = {
        "cells": {"right": right, "expected": total, "per_report": per_report},
        "facts_from_lost_tables": lost_facts,
        "lost_table_passages": lost_passages,
        "text_passages_with_run_together_cells": readable_with_cells,
        "table_checks": dict(Counter(f"{c.table}:{c.status}" for c in checks)),
        "violations": len(violations),
        "cross_checks": dict(Counter(d.kind for d in discrepancies)),
        "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print("T3/T4 cells read right on real reports (matched by template row and column):")
    for name, (r, n) in per_report.items():
        print(f"  {name}: {r}/{n}")
    print(f"  total: {right}/{total} = {right / total:.1%}")
    print(f"Text exports with run-together tables: {len(LOST)}; Facts produced from them: {lost_facts}; "
          f"passages marked lost_table: {lost_passages}; readable-text passages still holding run-together cells: "
          f"{readable_with_cells}")
    print("Table checks:", ", ".join(f"{k} {v}" for k, v in sorted(result["table_checks"].items())))
    print(f"Broken identities: {len(violations)}")
    print("Cross-check findings:", ", ".join(f"{k} {v}" for k, v in sorted(result["cross_checks"].items())) or "none")
    for d in discrepancies:
        print(f"  - {d.report_title}: {d.description[:90]}…")
    print(f"Time (ingest + facts + checks, {len(reports)} reports): {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
