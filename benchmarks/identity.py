"""Report identity accuracy on the real published reports (tests/data/real and ../shared/real).

A file is right when its title, agency and year are the expected ones (tests/data/real/identity.jsonl);
a page without a title is right when it carries the expected warnings (identity_guessed, and
agency_missing where it never names its agency) and the expected agency and year. Run with the code to measure first on PYTHONPATH:

    PYTHONPATH=. .venv/bin/python benchmarks/identity.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from assistant.ingest import ingest_file

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"tests": ROOT / "tests" / "data" / "real", "shared": ROOT.parent / "shared" / "real"}


def _check(row: dict[str, Any]) -> tuple[bool, str]:
    path = FOLDERS[row["folder"]] / row["file"]
    report = ingest_file(path)
    meta = report.meta
    codes = {w.code for w in report.warnings}
    got = f"{meta.title}｜{meta.agency or '（无）'}｜{meta.year}"
    if row["title"] is None:  # no title on the page: right when it says so (and any agency named is right)
        right = set(row["warnings"]) <= codes and (meta.agency, meta.year) == (row["agency"], row["year"])
        return right, got + f"｜{sorted(codes & set(row['warnings']))}"
    return (meta.title, meta.agency, meta.year) == (row["title"], row["agency"], row["year"]), got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (FOLDERS["tests"] / "identity.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    started = time.monotonic()
    results = {folder: [(row["file"], *_check(row)) for row in rows if row["folder"] == folder] for folder in FOLDERS}
    seconds = time.monotonic() - started
    summary = {folder: {"right": sum(ok for _, ok, _ in items), "total": len(items)} for folder, items in results.items()}
    if args.json:
        print(json.dumps({"summary": summary, "seconds": round(seconds, 2),
                          "files": {f: {"right": ok, "got": got} for items in results.values() for f, ok, got in items}},
                         ensure_ascii=False, indent=2))
        return 0
    for folder, items in results.items():
        for name, ok, got in items:
            print(f"{'✓' if ok else '✗'} {folder}/{name}: {got}")
    for folder, figures in summary.items():
        print(f"{folder}/real: {figures['right']}/{figures['total']} right")
    print(f"ingested {sum(len(i) for i in results.values())} files in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
