"""Report metadata: title, agency, year and template version, with sidecar overrides."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CATALOG_NAME = "catalog.csv"
META_SUFFIX = ".meta.json"
OVERRIDABLE = ("title", "agency", "year", "source_url")

_TITLE = re.compile(
    r"(?P<agency>[\u4e00-\u9fff（）()]{2,40}?)(?:关于)?(?P<year>(?:19|20)\d{2})\s*年度?"
    r"(?P<rest>[\u4e00-\u9fff]{0,24}?报告)"
)
_AGENCY_END = re.compile(r"(?:19|20)\d{2}|关于|政府信息公开|政务公开")
_PERIOD_YEAR = re.compile(r"统计(?:期限|时限|时间|区间)[^。\n]{0,12}?((?:19|20)\d{2})\s*年\s*1\s*月\s*1\s*日")
_ANY_YEAR = re.compile(r"((?:19|20)\d{2})\s*年度?[^。\n]{0,10}?(?:政府信息公开|政务公开)")
_MARKS_2021 = ("本年制发件数", "本年废止件数", "现行有效件数", "逾期不补正", "逾期未按收费通知")
_MARKS_2019 = ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "本年增/减", "采购总金额")


def find_title(hint: str | None, lines: Iterable[str]) -> tuple[str, str, int | None] | None:
    """(title, agency, year) from the loader's hint or the first short lines of the text."""
    candidates = [hint] if hint else []
    for i, line in enumerate(lines):
        if i >= 12:
            break
        if len(line) <= 80:
            candidates.append(line)
    for text in candidates:
        match = _TITLE.search(text.replace(" ", ""))
        if match and "公开" in match.group("rest"):
            return match.group(0), match.group("agency").removeprefix("关于"), int(match.group("year"))
    for text in candidates:  # e.g. 某某局政府信息公开工作年度报告（2020年度）
        compact = text.replace(" ", "")
        if "公开" in compact and compact.endswith(("报告", "）", ")")) and "报告" in compact and len(compact) <= 60:
            agency = _AGENCY_END.split(compact, maxsplit=1)[0]
            year = re.search(r"(?:19|20)\d{2}", compact)
            return compact, agency, int(year.group(0)) if year else None
    return None


def find_year(text: str) -> int | None:
    """The year reported on, from the statistics period or a '2020年政府信息公开' phrase."""
    for pattern in (_PERIOD_YEAR, _ANY_YEAR):
        match = pattern.search(text[:5000])
        if match:
            return int(match.group(1))
    return None


def template_version(header_texts: Iterable[str], year: int | None) -> str | None:
    """'2021' or '2019' from T2 column headers / T3 rows, else from the year; None when unknown."""
    texts = list(header_texts)
    if any(mark in t for t in texts for mark in _MARKS_2021):
        return "2021"
    if any(mark in t for t in texts for mark in _MARKS_2019):
        return "2019"
    if year is None:
        return None
    return "2019" if year <= 2020 else "2021"


def _clean_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in OVERRIDABLE:
        value = raw.get(key)
        if value in (None, ""):
            continue
        if key == "year":
            out[key] = int(str(value).strip())
        else:
            out[key] = str(value).strip()
    return out


def read_sidecars(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Overrides from catalog.csv (same folder) then FILE.meta.json; plus problems found in them."""
    overrides: dict[str, Any] = {}
    problems: list[str] = []
    catalog = path.parent / CATALOG_NAME
    if catalog.is_file():
        try:
            with catalog.open(encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle):
                    if (row.get("file") or "").strip() in (path.name, str(path)):
                        overrides.update(_clean_overrides(row))
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as err:
            problems.append(f"{catalog} 无法读取：{err}")
    for sidecar in (path.with_name(path.name + META_SUFFIX), path.with_name(path.stem + META_SUFFIX)):
        if sidecar.is_file():
            try:
                data = json.loads(sidecar.read_text(encoding="utf-8-sig"))
                if not isinstance(data, dict):
                    raise ValueError("不是 JSON 对象")
                overrides.update(_clean_overrides(data))
            except (OSError, UnicodeDecodeError, ValueError) as err:
                problems.append(f"{sidecar} 无法读取：{err}")
            break
    return overrides, problems


def is_sidecar(path: Path) -> bool:
    """Files beside the reports that are not reports: sidecars, catalogs, READMEs, notes, hidden files."""
    name = path.name.lower()
    return (
        name.startswith(".")
        or name.endswith(META_SUFFIX)
        or name == CATALOG_NAME
        or name.startswith("readme")
        or path.suffix.lower() in (".md", ".jsonl")
    )
