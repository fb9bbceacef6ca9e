"""Input at the edges (issue 12): bytes that are not UTF-8, bad environment values, years out of range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from assistant.config import Settings, load_settings
from assistant.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "assistant"]
BAD_QUERY = b"\xff\xfe" + "政府".encode()


def _run(args: list[str | bytes], stdin: bytes | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def _clear_failure(result: subprocess.CompletedProcess, *words: str) -> str:
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1, err
    assert err.count("错误：") >= 1 and "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("command", ["search", "ask"])
def test_invalid_utf8_argument(command: str, seed_index: Path) -> None:
    _clear_failure(_run([command, BAD_QUERY, "--index", str(seed_index)]), "UTF-8")


def test_invalid_utf8_agency_filter(seed_index: Path) -> None:
    _clear_failure(_run(["search", "政府", "--agency", b"\xc0\xaf", "--index", str(seed_index)]), "UTF-8", "agency")


@pytest.mark.parametrize("command", ["search", "ask"])
def test_stdin_batch_goes_on_after_a_line_that_is_not_utf8(command: str, seed_index: Path) -> None:
    lines = "电子邮箱\n".encode() + BAD_QUERY + b"\n" + "政府信息公开申请\n".encode()
    result = _run([command, "-", "--index", str(seed_index)], stdin=lines)
    assert result.returncode == 0, result.stderr.decode()
    out = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(out) == 3
    assert out[1] == {"line": 2, "error": out[1]["error"]} and "UTF-8" in out[1]["error"]
    for good in (out[0], out[2]):  # the lines around the bad one were answered
        assert isinstance(good, list) and good if command == "search" else "answer" in good
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("value", ["abc", "", "-5", "0", "nan", "inf", "1e999"])
def test_bad_environment_value(value: str, seed_index: Path) -> None:
    result = _run(["search", "政府", "--index", str(seed_index)], env={"ASSISTANT_MAX_FILE_MB": value})
    if value == "":  # an empty variable means unset
        assert result.returncode == 0, result.stderr.decode()
        return
    _clear_failure(result, "ASSISTANT_MAX_FILE_MB", value)


def test_every_numeric_setting_is_checked() -> None:
    numeric = [f.name for f in fields(Settings) if any(t in str(f.type) for t in ("int", "float"))]
    assert {"max_file_mb", "parse_timeout", "max_span"} <= set(numeric)
    for name in numeric:
        variable = f"ASSISTANT_{name.upper()}"
        with pytest.raises(ConfigError, match=variable):
            load_settings({variable: "abc"})
        with pytest.raises(ConfigError, match="大于 0|0 到 19 之间"):  # counts and sizes; nice values
            load_settings({variable: "-1"})
    assert load_settings({"ASSISTANT_MAX_TABLE_CELLS": " 500 "}).max_table_cells == 500


@pytest.mark.parametrize("year", ["0", "-2020", "20200", "abc", "二〇二〇"])
@pytest.mark.parametrize("command", ["search", "ask", "facts"])
def test_year_out_of_range(command: str, year: str, seed_index: Path) -> None:
    args = [command, "政府", "--year", year] if command != "facts" else [command, "--year", year]
    _clear_failure(_run([*args, "--index", str(seed_index)]), "年")


def test_usage_errors_exit_1_in_chinese() -> None:
    _clear_failure(_run(["search"]))
    _clear_failure(_run(["no-such-command"]))


def test_a_valid_year_still_filters(seed_index: Path) -> None:
    result = _run(["search", "政府信息公开", "--year", "2020", "--json", "--index", str(seed_index)])
    assert result.returncode == 0 and json.loads(result.stdout)
    result = _run(["search", "政府信息公开", "--year", "2019", "--json", "--index", str(seed_index)])
    assert result.returncode == 0 and json.loads(result.stdout) == []
