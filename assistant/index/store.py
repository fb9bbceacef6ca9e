"""SQLite storage of one index build: reports, passages, table facts and the build-time analysis; plus the
embedding cache."""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, overload

import numpy as np

from assistant.errors import CacheDamagedError, IndexCorruptError
from assistant.records import (
    Commitment,
    Discrepancy,
    Fact,
    Hit,
    ParseWarning,
    Passage,
    Report,
    ReportMeta,
    Section,
    Table,
    TableCell,
    TableCheck,
    Violation,
)

SCHEMA_VERSION = 1
# the serving cache of decoded reports: at most this many, and at most this much of their stored JSON
CACHE_REPORTS = 64
CACHE_JSON_BYTES = 8 * 2**20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY,
    source_file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    agency TEXT NOT NULL,
    year INTEGER,
    body TEXT NOT NULL            -- the whole Report as JSON
);
CREATE TABLE IF NOT EXISTS passages (
    vector_id INTEGER PRIMARY KEY, -- row id in the vector and keyword stores
    passage_id TEXT UNIQUE NOT NULL,
    report_id TEXT NOT NULL REFERENCES reports(report_id),
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (
    report_id TEXT NOT NULL REFERENCES reports(report_id),
    tbl TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_by_report ON facts(report_id);
CREATE INDEX IF NOT EXISTS passages_by_report ON passages(report_id);  -- a report's passages and tokens
CREATE TABLE IF NOT EXISTS report_meta (
    report_id TEXT PRIMARY KEY,    -- as in reports
    meta TEXT NOT NULL             -- the ReportMeta as JSON (read at open without the bodies)
);
CREATE TABLE IF NOT EXISTS passage_tokens (
    vector_id INTEGER PRIMARY KEY, -- as in passages
    tokens TEXT NOT NULL           -- segment.tokenize() of the passage, joined by spaces
);
CREATE TABLE IF NOT EXISTS analysis (  -- which reports the build analysed, and from what (index/analysis.py)
    report_id TEXT PRIMARY KEY REFERENCES reports(report_id),
    depends TEXT NOT NULL          -- hash of the inputs: the report, its agency's next and previous year's reports
);
CREATE TABLE IF NOT EXISTS findings (  -- the results, cited by passage id and span, so reading needs no retrieval
    report_id TEXT NOT NULL REFERENCES reports(report_id),
    what TEXT NOT NULL,            -- one of FINDINGS
    seq INTEGER NOT NULL,          -- order within the report and kind
    body TEXT NOT NULL             -- the record as JSON
);
CREATE INDEX IF NOT EXISTS findings_by_report ON findings(report_id, what);
"""

# findings.what -> the record stored: section-五 commitments (with their follow-up) and problems, each statutory
# table's check, broken template identities, prose-vs-table discrepancies, 上年结转 against last year's report
FINDINGS = ("commitment", "problem", "table_check", "violation", "discrepancy", "carried_over")
Finding = Commitment | TableCheck | Violation | Discrepancy


# copy_reports(): rows of the reports in temp.moves, from the attached build database `source`
_COPIES = (
    "INSERT INTO reports (report_id, source_file, sha256, title, agency, year, body) "
    "SELECT r.report_id, r.source_file, r.sha256, r.title, r.agency, r.year, r.body "
    "FROM temp.moves m JOIN source.reports r ON r.report_id = m.report_id ORDER BY m.seq",
    "INSERT INTO report_meta (report_id, meta) SELECT x.report_id, x.meta "
    "FROM temp.moves m JOIN source.report_meta x ON x.report_id = m.report_id ORDER BY m.seq",
    "INSERT INTO passages (vector_id, passage_id, report_id, section, kind, start, end, text) "
    "SELECT p.vector_id + m.shift, p.passage_id, p.report_id, p.section, p.kind, p.start, p.end, p.text "
    "FROM temp.moves m JOIN source.passages p ON p.report_id = m.report_id ORDER BY p.vector_id + m.shift",
    "INSERT INTO passage_tokens (vector_id, tokens) SELECT t.vector_id + m.shift, t.tokens "
    "FROM temp.moves m JOIN source.passages p ON p.report_id = m.report_id "
    "JOIN source.passage_tokens t ON t.vector_id = p.vector_id ORDER BY t.vector_id + m.shift",
    "INSERT INTO facts (report_id, tbl, body) SELECT f.report_id, f.tbl, f.body "
    "FROM temp.moves m JOIN source.facts f ON f.report_id = m.report_id ORDER BY m.seq, f.rowid",
)


def text_hash(text: str) -> str:
    """Content hash used to key cached embeddings."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def database_problem(path: Path, table: str = "reports") -> str | None:
    """Why the SQLite file at `path` cannot be trusted (missing, not a database, damaged pages, no
    `table`), or None when it passes SQLite's quick check."""
    if not path.is_file():
        return f"{path} 不存在"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA quick_check(1)").fetchone()
            if result is None or result[0] != "ok":
                return f"{path} 已损坏（{result[0] if result else '无结果'}）"
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is None:
                return f"{path} 中没有 {table} 表"
        finally:
            conn.close()
    except sqlite3.Error as err:
        return f"{path} 无法读取（{err}）"
    return None


CHECKED_SUFFIX = ".checked"  # beside a database: the file's state when it last passed the check (or was written)


def checked_database_problem(path: Path, table: str = "reports",
                             deeper: Callable[[Path], str | None] | None = None) -> str | None:
    """database_problem and then `deeper` (a check of the rows, say), without reading the file again when it is
    exactly as its stamp (stamp_checked) records it: same size, modification time, inode and SQLite change
    counter, and no journal left by an interrupted write. The quick check reads every page (about 1 s per GB); a
    stamp is one stat and 100 bytes."""
    stamp = _stamp_of(path)
    try:
        if (not path.with_name(path.name + "-journal").exists()
                and json.loads(stamp.read_text(encoding="utf-8")) == _file_state(path)):
            return None
    except (OSError, ValueError):
        pass
    problem = database_problem(path, table) or (deeper(path) if deeper else None)
    if problem is None:
        stamp_checked(path)
    return problem


def stamp_checked(path: Path) -> None:
    """Record the database file's state as trusted: call after it passed the check, or after this process wrote
    it and closed it cleanly."""
    try:
        stamp = _stamp_of(path)
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(json.dumps(_file_state(path)), encoding="utf-8")
        os.replace(tmp, stamp)
    except OSError:
        pass  # no stamp: the next reader checks the whole file


def _stamp_of(path: Path) -> Path:
    return path.with_name(path.name + CHECKED_SUFFIX)


def _file_state(path: Path) -> list[int]:
    """(size, modification time in ns, inode, SQLite file change counter) of a database file."""
    info = path.stat()
    with open(path, "rb") as handle:
        header = handle.read(100)
    counter = int.from_bytes(header[24:28], "big") if len(header) == 100 else -1
    return [info.st_size, info.st_mtime_ns, info.st_ino, counter]


# --- records <-> JSON -------------------------------------------------------------------------


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields_of(value: Any) -> dict[str, Any]:
    """A dataclass instance as the dict of its fields, for json.dumps to encode further (nested records come
    back here; tuples become lists): dataclasses.asdict's result, without its deep copy."""
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"{type(value).__name__} 不是记录类型，无法写入索引")
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return {name: getattr(value, name) for name in names}


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_fields_of)  # made once: a build encodes ~10^6 records


def to_json(record: Any) -> str:
    """A record (a dataclass of records, tuples, strings and numbers) as JSON."""
    return _ENCODER.encode(record)


def meta_from_dict(d: dict[str, Any]) -> ReportMeta:
    return ReportMeta(**{**d, "aliases": tuple(d.get("aliases", ()))})


def report_from_dict(d: dict[str, Any]) -> Report:
    tables = tuple(
        Table(
            **{
                **t,
                "cells": tuple(
                    TableCell(
                        **{**c, "row_headers": tuple(c["row_headers"]), "col_headers": tuple(c["col_headers"])}
                    )
                    for c in t["cells"]
                ),
                "source_span": tuple(t["source_span"]) if t.get("source_span") else None,
            }
        )
        for t in d["tables"]
    )
    return Report(
        report_id=d["report_id"],
        meta=meta_from_dict(d["meta"]),
        cleaned_text=d["cleaned_text"],
        sections=tuple(Section(**s) for s in d["sections"]),
        tables=tables,
        passages=tuple(Passage(**{**p, "heading_path": tuple(p["heading_path"])}) for p in d["passages"]),
        warnings=tuple(ParseWarning(**w) for w in d["warnings"]),
    )


def fact_from_dict(d: dict[str, Any]) -> Fact:
    return Fact(**{**d, "row_path": tuple(d["row_path"])})


def _cells(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "cells": tuple(fact_from_dict(f) for f in d["cells"])}


def finding_from_dict(what: str, d: dict[str, Any]) -> Finding:
    """A stored finding (FINDINGS names the kinds) decoded from its JSON fields."""
    if what in ("commitment", "problem"):
        return Commitment(**{**d, "evidence": tuple(Hit(**h) for h in d["evidence"]),
                             "quotes": tuple(tuple(q) for q in d.get("quotes", ()))})
    if what == "table_check":
        return TableCheck(**{**d, "blank_total_rows": tuple(d["blank_total_rows"])})
    if what == "violation":
        return Violation(**_cells(d))
    return Discrepancy(**_cells(d))


# --- the per-build database ---------------------------------------------------------------


class Store:
    """Read/write access to one build's SQLite database."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(path, check_same_thread=False)
                self.conn.executescript(_SCHEMA)
            self.conn.execute("SELECT count(*) FROM reports").fetchone()
        except sqlite3.DatabaseError as err:
            raise IndexCorruptError(f"无法读取索引数据库 {path}：{err}。请重新运行 assistant build。") from err

    def close(self) -> None:
        self.conn.close()

    def add_report(self, report: Report, first_vector_id: int, body: str | None = None) -> int:
        """Insert a report and its passages; returns the next free vector id. `body` is the
        report's JSON when already made (by a build's worker process)."""
        m = report.meta
        self.conn.execute(
            "INSERT INTO reports VALUES (?,?,?,?,?,?,?)",
            (report.report_id, m.source_file, m.sha256, m.title, m.agency, m.year, body or to_json(report)),
        )
        rows = [
            (first_vector_id + i, p.passage_id, p.report_id, p.section, p.kind, p.start, p.end, p.text)
            for i, p in enumerate(report.passages)
        ]
        self.conn.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)", rows)
        self.conn.execute("INSERT INTO report_meta VALUES (?,?)", (report.report_id, to_json(m)))
        return first_vector_id + len(rows)

    def add_facts(self, facts: Iterable[Fact]) -> None:
        self.conn.executemany(
            "INSERT INTO facts VALUES (?,?,?)", [(f.report_id, f.table, to_json(f)) for f in facts]
        )

    def add_fact_rows(self, report_id: str, rows: Sequence[tuple[str, str]]) -> None:
        """Facts already serialised: (table, JSON body) pairs."""
        self.conn.executemany("INSERT INTO facts VALUES (?,?,?)", [(report_id, tbl, body) for tbl, body in rows])

    def copy_reports(self, source: Path, moves: Sequence[tuple[str, int]]) -> None:
        """Copy these reports' rows (report, metadata, passages, tokens, facts) from the build
        database at `source`, in this order, each report's vector ids shifted by its amount: the
        rows are copied inside SQLite, never decoded."""
        self.conn.commit()  # ATTACH cannot run inside a transaction
        self.conn.execute("ATTACH DATABASE ? AS source", (f"file:{source}?mode=ro",))
        try:
            self.conn.execute("CREATE TEMP TABLE moves (seq INTEGER PRIMARY KEY, report_id TEXT UNIQUE, shift INTEGER)")
            self.conn.executemany("INSERT INTO temp.moves (report_id, shift) VALUES (?, ?)", moves)
            for statement in _COPIES:
                self.conn.execute(statement)
        finally:
            self.conn.execute("DROP TABLE IF EXISTS temp.moves")
            self.conn.commit()
            self.conn.execute("DETACH DATABASE source")

    def spans(self) -> dict[str, tuple[int, int]]:
        """report id -> (first vector id, passage count): for a rebuild that carries reports, and for serving
        (0.15 s at 10^6 passages, inside SQLite)."""
        rows = self.conn.execute("SELECT report_id, min(vector_id), count(*) FROM passages GROUP BY report_id")
        return {report_id: (int(first), int(count)) for report_id, first, count in rows}

    def rows_problem(self) -> str | None:
        """Why the report rows cannot be trusted (a body or metadata that is not JSON), or None;
        checked inside SQLite, so a rebuild can copy rows without decoding them."""
        for table, column in (("reports", "body"), ("report_meta", "meta")):
            row = self.conn.execute(f"SELECT report_id FROM {table} WHERE NOT json_valid({column}) LIMIT 1").fetchone()
            if row is not None:
                return f"索引数据库 {self.path} 中报告 {row[0]} 的 {table} 记录已损坏"
        return None

    def carried_tokens(self, moves: Sequence[tuple[int, int, int]]) -> list[list[str]]:
        """Stored tokens of the passages with vector ids first..first+count-1 of each move."""
        found: list[list[str]] = []
        for first, count, _ in moves:
            rows = self.conn.execute(
                "SELECT tokens FROM passage_tokens WHERE vector_id >= ? AND vector_id < ? ORDER BY vector_id",
                (first, first + count),
            ).fetchall()
            if len(rows) != count:
                raise IndexCorruptError(f"索引数据库 {self.path} 缺少段落的分词记录。请重新运行 assistant build。")
            found.extend(text.split(" ") if text else [] for (text,) in rows)
        return found

    def add_tokens(self, first_vector_id: int, token_lists: Sequence[Sequence[str]]) -> None:
        """Keyword tokens of consecutive passages (tokens never contain spaces)."""
        self.conn.executemany(
            "INSERT INTO passage_tokens VALUES (?,?)",
            [(first_vector_id + i, " ".join(tokens)) for i, tokens in enumerate(token_lists)],
        )

    def commit(self) -> None:
        self.conn.commit()

    # --- build-time analysis (written by index/analysis.py) --------------------------------

    def analysis_keys(self) -> dict[str, str]:
        """report id -> the dependency hash its stored findings were computed under (empty for a build
        from before the analysis was stored)."""
        try:
            return dict(self.conn.execute("SELECT report_id, depends FROM analysis"))
        except sqlite3.OperationalError:
            return {}

    def add_findings(self, report_id: str, depends: str, findings: Sequence[tuple[str, Finding]]) -> None:
        """One report's analysis: (kind, record) pairs in order, and the hash of what it depended on."""
        self.add_finding_rows(report_id, depends, [(what, to_json(record)) for what, record in findings])

    def add_finding_rows(self, report_id: str, depends: str, rows: Sequence[tuple[str, str]]) -> None:
        """Findings already serialised: (kind, JSON body) pairs in order, as finding_rows() gives them."""
        self.conn.execute("INSERT INTO analysis VALUES (?,?)", (report_id, depends))
        self.conn.executemany("INSERT INTO findings VALUES (?,?,?,?)",
                              [(report_id, what, seq, body) for seq, (what, body) in enumerate(rows)])

    def finding_rows(self, report_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """report id -> its (kind, JSON body) findings in order, read without decoding (to carry them over)."""
        found: dict[str, list[tuple[str, str]]] = {rid: [] for rid in report_ids}
        for start in range(0, len(report_ids), 500):
            chunk = list(report_ids[start : start + 500])
            for rid, what, body in self.conn.execute(
                f"SELECT report_id, what, body FROM findings WHERE report_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY report_id, seq", chunk
            ):
                found[rid].append((what, body))
        return found

    def tokens_of(self, report_id: str) -> list[list[str]]:
        """The stored keyword tokens of one report's passages, in passage order."""
        rows = self.conn.execute(
            "SELECT t.tokens FROM passages p JOIN passage_tokens t ON t.vector_id = p.vector_id "
            "WHERE p.report_id=? ORDER BY p.vector_id", (report_id,)
        ).fetchall()
        return [text.split(" ") if text else [] for (text,) in rows]

    # --- reads on demand ------------------------------------------------------------------

    def report(self, report_id: str) -> Report | None:
        return self.report_sized(report_id)[0]

    def report_sized(self, report_id: str) -> tuple[Report | None, int]:
        """The decoded report and the length of its stored JSON (0 when absent)."""
        try:
            row = self.conn.execute("SELECT body FROM reports WHERE report_id=?", (report_id,)).fetchone()
            return (report_from_dict(json.loads(row[0])), len(row[0])) if row else (None, 0)
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError) as err:
            raise self._damaged(err) from err

    def report_warnings(self, report_ids: Sequence[str]) -> dict[str, tuple[ParseWarning, ...]]:
        """Each report's parse warnings, read with SQLite's JSON functions (the report is not decoded)."""
        found: dict[str, tuple[ParseWarning, ...]] = {}
        try:
            for start in range(0, len(report_ids), 500):
                chunk = list(report_ids[start : start + 500])
                for report_id, warnings in self.conn.execute(
                    f"SELECT report_id, json_extract(body, '$.warnings') FROM reports WHERE report_id IN "
                    f"({','.join('?' * len(chunk))})", chunk,
                ):
                    found[report_id] = tuple(ParseWarning(**w) for w in json.loads(warnings or "[]"))
        except (sqlite3.Error, ValueError, KeyError, TypeError) as err:
            raise self._damaged(err) from err
        return found

    def report_summaries(self, report_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """report id -> {"sections": [(key, empty)], "tables": n, "warnings": [{code, message, section}]},
        read with SQLite's JSON functions so that listing many reports decodes none of them in Python."""
        found: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(report_ids), 500):
                chunk = list(report_ids[start : start + 500])
                rows = self.conn.execute(
                    "SELECT report_id, json_extract(body, '$.sections'), json_array_length(body, '$.tables'), "
                    f"json_extract(body, '$.warnings') FROM reports WHERE report_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for report_id, sections, tables, warnings in rows:
                    found[report_id] = {
                        "sections": [(s["key"], bool(s.get("empty"))) for s in json.loads(sections or "[]")],
                        "tables": int(tables or 0), "warnings": json.loads(warnings or "[]"),
                    }
        except (sqlite3.Error, ValueError, KeyError, TypeError) as err:
            raise self._damaged(err) from err
        return found

    def metas(self) -> dict[str, ReportMeta]:
        """Every report's metadata by report id, in (agency, year, title) order; bodies stay on disk."""
        try:  # sorted here: ordering in SQL would read the big report rows' pages (0.5 s at 10^6 passages)
            rows = self.conn.execute("SELECT report_id, meta FROM report_meta ORDER BY rowid").fetchall()
        except sqlite3.OperationalError:  # a build from before report_meta existed
            return {r.report_id: r.meta for r in self.reports()}
        decoded = [(report_id, meta_from_dict(json.loads(meta))) for report_id, meta in rows]
        decoded.sort(key=lambda item: (item[1].agency, item[1].year is not None, item[1].year or 0, item[1].title))
        return dict(decoded)

    def identities(self) -> Iterator[tuple[str, ReportMeta, list[str], list[dict[str, Any]]]]:
        """(report id, metadata, its tables' sections, its warnings) of every report, in (agency, year, title)
        order: SQLite reads the parts out of the stored JSON, so no report is decoded in Python (0.4 ms a report,
        against tens of ms for a whole one)."""
        sql = ("SELECT r.report_id, m.meta, json_extract(r.body, '$.warnings'), "
               "(SELECT json_group_array(json_extract(t.value, '$.section')) FROM json_each(r.body, '$.tables') t) "
               "FROM reports r JOIN report_meta m ON m.report_id = r.report_id "
               "ORDER BY r.agency, r.year, r.title, r.rowid")
        try:
            for report_id, meta, warnings, sections in self.conn.execute(sql):
                yield report_id, meta_from_dict(json.loads(meta)), json.loads(sections), json.loads(warnings)
        except sqlite3.OperationalError:  # a build from before report_meta existed
            for report in self.reports():
                yield (report.report_id, report.meta, [t.section for t in report.tables],
                       [{"code": w.code, "message": w.message} for w in report.warnings])
        except (sqlite3.Error, ValueError, KeyError, TypeError) as err:
            raise self._damaged(err) from err

    def sections(self) -> list[str]:
        """Every passage's section, in vector-id order (one scan of the table)."""
        return [section for (section,) in self.conn.execute("SELECT section FROM passages ORDER BY vector_id")]

    def passage_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM passages").fetchone()[0])

    def passage_row(self, vector_id: int) -> tuple[str, str, str, str, int, int, str] | None:
        """(passage_id, report_id, section, kind, start, end, text) of one passage."""
        row: tuple[str, str, str, str, int, int, str] | None = self.conn.execute(
            "SELECT passage_id, report_id, section, kind, start, end, text FROM passages WHERE vector_id=?",
            (int(vector_id),),
        ).fetchone()
        return row

    def vector_id_of(self, passage_id: str) -> int | None:
        row = self.conn.execute("SELECT vector_id FROM passages WHERE passage_id=?", (passage_id,)).fetchone()
        return int(row[0]) if row else None

    def facts_of(self, report_ids: Iterable[str], tables: Sequence[str] = ()) -> dict[str, list[Fact]]:
        """Facts of these reports (of these tables only, when given), by report id."""
        found: dict[str, list[Fact]] = {}
        ids = list(report_ids)
        only = f" AND tbl IN ({','.join('?' * len(tables))})" if tables else ""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.conn.execute(
                f"SELECT report_id, body FROM facts WHERE report_id IN ({','.join('?' * len(chunk))}){only} "
                "ORDER BY rowid", [*chunk, *tables],
            ).fetchall()
            for report_id, body in rows:
                found.setdefault(report_id, []).append(fact_from_dict(json.loads(body)))
        return found

    def findings(self, whats: Sequence[str], report_ids: Sequence[str] | None = None) -> list[Finding]:
        """The stored findings of these kinds (all reports, or these), kind by kind in the order given, each
        kind in report order (agency, year, title) and then as computed."""
        kinds = [what for what in whats if what in FINDINGS]
        ranks = " ".join(f"WHEN '{what}' THEN {i}" for i, what in enumerate(kinds))  # names from FINDINGS only
        # the report ids as one JSON array parameter: one query, and the order, for any number of them
        scope = "" if report_ids is None else "AND f.report_id IN (SELECT value FROM json_each(?))"
        sql = ("SELECT f.what, f.body FROM findings f JOIN reports r ON r.report_id = f.report_id "
               f"WHERE f.what IN ({','.join('?' * len(kinds))}) {scope} "
               f"ORDER BY CASE f.what {ranks} END, r.agency, r.year, r.title, r.rowid, f.seq")
        params = [*kinds, *([] if report_ids is None else [json.dumps(list(report_ids), ensure_ascii=False)])]
        try:
            rows = self.conn.execute(sql, params).fetchall() if kinds else []
            return [finding_from_dict(what, json.loads(body)) for what, body in rows]
        except (sqlite3.Error, ValueError, KeyError, TypeError) as err:
            raise self._damaged(err) from err

    def commitments(self, report_ids: Sequence[str] | None = None,
                    kinds: Sequence[str] = ("commitment", "problem")) -> list[Commitment]:
        """Stored commitments (with their follow-up) and problems, kind by kind, in report order."""
        return [c for c in self.findings(kinds, report_ids) if isinstance(c, Commitment)]

    def table_checks(self, report_ids: Sequence[str] | None = None) -> list[TableCheck]:
        """Stored checks of each report's statutory tables, in report order."""
        return [c for c in self.findings(("table_check",), report_ids) if isinstance(c, TableCheck)]

    def violations(self, report_ids: Sequence[str] | None = None) -> list[Violation]:
        """Stored broken template identities, in report order."""
        return [v for v in self.findings(("violation",), report_ids) if isinstance(v, Violation)]

    def discrepancies(self, report_ids: Sequence[str] | None = None) -> list[Discrepancy]:
        """Stored cross-check findings: prose against tables for every report, then 上年结转 year to year."""
        return [d for d in self.findings(("discrepancy", "carried_over"), report_ids) if isinstance(d, Discrepancy)]

    def _damaged(self, err: Exception) -> IndexCorruptError:
        return IndexCorruptError(
            f"索引数据库 {self.path} 的内容已损坏（{type(err).__name__}: {err}）。请重新运行 assistant build。"
        )

    def reports(self) -> list[Report]:
        try:
            rows = self.conn.execute("SELECT body FROM reports ORDER BY agency, year, title").fetchall()
            return [report_from_dict(json.loads(body)) for (body,) in rows]
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError) as err:
            raise self._damaged(err) from err

    def facts(self) -> list[Fact]:
        try:
            rows = self.conn.execute("SELECT body FROM facts").fetchall()
            return [fact_from_dict(json.loads(body)) for (body,) in rows]
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError) as err:
            raise self._damaged(err) from err


# --- the embedding cache, shared by all builds ----------------------------------------------


class EmbeddingCache:
    """Work per passage keyed by the hash of the passage's text, so a build redoes only what is new: vectors per
    encoder id, keyword tokens per tokenizer id (segment.tokenizer_id). A build's parse workers read it."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            return
        self.conn = sqlite3.connect(path, timeout=30)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (encoder TEXT, text_hash TEXT, dim INTEGER, "
            "vector BLOB, PRIMARY KEY (encoder, text_hash))"
        )
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS tokens (tokenizer TEXT, text_hash TEXT, tokens TEXT, "
            "PRIMARY KEY (tokenizer, text_hash))"
        )

    def _rows(self, sql: str, key: str, hashes: Sequence[str]) -> Iterator[tuple[str, Any]]:
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), [key, *chunk])

    @contextmanager
    def _damage_reported(self) -> Iterator[None]:
        """A damaged page met while reading or writing as CacheDamagedError; the cache's stamp is removed, so the
        next build checks the whole file (and discards it)."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            if getattr(err, "sqlite_errorcode", None) not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise
            _stamp_of(self.path).unlink(missing_ok=True)
            raise CacheDamagedError(f"嵌入缓存 {self.path} 已损坏（{err}）") from err

    def get_many(self, encoder_id: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        sql = "SELECT text_hash, vector FROM embeddings WHERE encoder=? AND text_hash IN ({marks})"
        with self._damage_reported():
            return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in self._rows(sql, encoder_id, hashes)}

    def put_many(self, encoder_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with self._damage_reported():
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?)",
                [(encoder_id, h, int(v.shape[0]), np.asarray(v, np.float32).tobytes()) for h, v in items],
            )
            self.conn.commit()

    def tokens_many(self, tokenizer: str, hashes: Sequence[str]) -> dict[str, list[str]]:
        """The cached tokens of these text hashes; a value that is not a JSON list of strings is left out
        (recomputed), as is everything when the cache predates the tokens table."""
        sql = "SELECT text_hash, tokens FROM tokens WHERE tokenizer=? AND text_hash IN ({marks})"
        found: dict[str, list[str]] = {}
        with self._damage_reported():
            try:
                for text_key, value in self._rows(sql, tokenizer, hashes):
                    try:
                        tokens = json.loads(value)
                    except (TypeError, ValueError):
                        continue
                    if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
                        found[text_key] = tokens
            except sqlite3.OperationalError:  # no tokens table yet (read-only opening of an older cache)
                return {}
        return found

    def put_tokens(self, tokenizer: str, items: Iterable[tuple[str, list[str]]]) -> None:
        with self._damage_reported():
            self.conn.executemany(
                "INSERT OR REPLACE INTO tokens VALUES (?,?,?)",
                [(tokenizer, h, json.dumps(tokens, ensure_ascii=False)) for h, tokens in items],
            )
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()


# --- on-demand views of an opened build (what the retriever serves from) --------------------


class LazyReports(Mapping[str, Report]):
    """report id -> Report, decoded from SQLite on first use and kept in a small LRU cache bounded both by
    count and by the size of the reports' stored JSON (a decoded report takes a few times that in memory),
    so that a long-running server holds a few recently used reports, never the corpus."""

    def __init__(self, store: Store, metas: Mapping[str, ReportMeta], cache_size: int = CACHE_REPORTS,
                 cache_bytes: int = CACHE_JSON_BYTES) -> None:
        self._store = store
        self._metas = metas
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[Report, int]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self._held = 0  # JSON length of the cached reports
        self.decoded = 0  # reports decoded from SQLite so far (tests and benchmarks read it)

    def __getitem__(self, report_id: str) -> Report:
        with self._lock:
            cached = self._cache.get(report_id)
            if cached is not None:
                self._cache.move_to_end(report_id)
                return cached[0]
        if report_id not in self._metas:
            raise KeyError(report_id)
        with self._lock:
            report, size = self._store.report_sized(report_id)
            if report is None:
                raise KeyError(report_id)
            self.decoded += 1
            if report_id not in self._cache:
                self._cache[report_id] = (report, size)
                self._held += size
            while self._cache and (len(self._cache) > self._cache_size or self._held > self._cache_bytes):
                _, (_, dropped) = self._cache.popitem(last=False)
                self._held -= dropped
        return report

    @property
    def cached(self) -> int:
        """How many decoded reports the cache holds now."""
        return len(self._cache)

    def __iter__(self) -> Iterator[str]:
        return iter(self._metas)

    def __len__(self) -> int:
        return len(self._metas)

    def __contains__(self, report_id: object) -> bool:
        return report_id in self._metas


class LazyPassages(Sequence[Passage]):
    """vector id -> Passage, taken from its (lazily decoded) report; the reports' vector-id spans are
    asked for on first use (`spans`: (report id, first vector id, count) in vector-id order)."""

    def __init__(self, reports: Mapping[str, Report], spans: Callable[[], list[tuple[str, int, int]]],
                 total: int) -> None:
        self._reports = reports
        self._spans = spans
        self._slots: tuple[list[str], list[int]] | None = None
        self._total = total

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, index: int) -> Passage: ...

    @overload
    def __getitem__(self, index: slice) -> list[Passage]: ...

    def __getitem__(self, index: int | slice) -> Passage | list[Passage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._total))]
        if index < 0:
            index += self._total
        if not 0 <= index < self._total:
            raise IndexError(index)
        if self._slots is None:
            spans = self._spans()
            self._slots = [report_id for report_id, _, _ in spans], [start for _, start, _ in spans]
        report_ids, starts = self._slots
        slot = bisect.bisect_right(starts, index) - 1
        return self._reports[report_ids[slot]].passages[index - starts[slot]]


class LazyVectorIds(Mapping[str, int]):
    """passage id -> vector id, looked up in SQLite."""

    def __init__(self, store: Store, count: int) -> None:
        self._store = store
        self._count = count

    def __getitem__(self, passage_id: str) -> int:
        found = self._store.vector_id_of(passage_id)
        if found is None:
            raise KeyError(passage_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return (pid for (pid,) in self._store.conn.execute("SELECT passage_id FROM passages ORDER BY vector_id"))

    def __len__(self) -> int:
        return self._count
