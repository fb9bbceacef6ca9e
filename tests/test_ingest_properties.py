"""Properties: passages are exact slices of the cleaned text and cover all of it, on generated reports and samples."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import SAMPLE_FILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.ingest import ingest_file
from assistant.records import SECTION_KEYS, Report

# Body text avoids the heading numerals so that the only headings are the generated ones.
BODY_CHARS = "政府信息公开工作申请办理答复年度报告全市县局部门平台建设监督保障培训人员文件条件万余个次主动依法规范解读"
DIGITS = "0123456789"
HEADINGS = {
    "一": ["总体情况", "政府信息公开工作总体情况"],
    "二": ["主动公开政府信息情况", "主动公开情况"],
    "三": ["收到和处理政府信息公开申请情况", "依申请公开和不予公开情况"],
    "四": ["政府信息公开行政复议、行政诉讼情况", "因政府信息公开申请行政复议、提起行政诉讼的情况"],
    "五": ["存在的主要问题及改进情况", "政府信息公开工作存在的主要问题及改进情况"],
    "六": ["其他需要报告的事项"],
}
CHROME = ["当前位置：首页 > 政务公开 > 年度报告 |", "打印 关闭 | ||||||||", "字号：大 中 小", "|||||||||||",
          "主办单位：某某县人民政府办公室 网站标识码：0000", "|"]
NUMBER_FORMS = ["{n}、", "{n}.", "{n}．", "第{n}部分 ", "{n}、 "]

sentences = st.builds(
    lambda body, number, end: body + number + end,
    st.text(alphabet=BODY_CHARS + "，、（）“”", min_size=1, max_size=60),
    st.text(alphabet=DIGITS, max_size=5),
    st.sampled_from(["。", "；", "！", "？", "", "，"]),
)
paragraphs = st.lists(sentences, min_size=1, max_size=8).map("".join)
pipe_rows = st.lists(
    st.tuples(st.sampled_from(["规章", "行政规范性文件", "行政许可", "行政处罚"]),
              st.lists(st.integers(0, 99999), min_size=1, max_size=4)),
    min_size=2, max_size=5,
).map(lambda rows: "\n".join(f"{label} | " + " | ".join(map(str, values)) + " |" for label, values in rows))


@st.composite
def report_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A scraped-looking report and the keys of the numbered headings it contains."""
    year = draw(st.integers(2019, 2024))
    lines = [draw(st.sampled_from(CHROME)), f"某某县人民政府{year}年政府信息公开工作年度报告 | ||||"]
    lines.append(draw(paragraphs))
    keys = draw(st.lists(st.sampled_from(SECTION_KEYS[1:]), unique=True).map(
        lambda ks: sorted(ks, key=SECTION_KEYS.index)))
    numbered: list[str] = []
    for key in keys:
        wording = draw(st.sampled_from(HEADINGS[key]))
        bare = draw(st.booleans()) and draw(st.booleans())
        heading = wording if bare else draw(st.sampled_from(NUMBER_FORMS)).format(n=key) + wording
        if not bare:
            numbered.append(key)
        body = draw(st.lists(st.one_of(paragraphs, pipe_rows, st.sampled_from(CHROME)), max_size=3))
        if bare or lines[-1] in CHROME or "|" in lines[-1] or draw(st.booleans()):
            lines.append(heading)
            lines.extend(body)
        else:  # inline, as in the seed: "…100余人。 二、主动公开政府信息情况 正文"
            prose = " ".join(b for b in body if b not in CHROME and "|" not in b)
            lines[-1] = f"{lines[-1]} {heading} {prose}".rstrip()
    lines.append(draw(st.sampled_from(CHROME)))
    return "\n".join(lines), numbered


def check_invariants(report: Report) -> None:
    text = report.cleaned_text
    sections = list(report.sections)
    assert [s.key for s in sections] == sorted((s.key for s in sections), key=SECTION_KEYS.index)
    for before, after in zip(sections, sections[1:], strict=False):
        assert before.end <= after.start
    covered = bytearray(len(text))
    previous_end = 0
    for ordinal, passage in enumerate(report.passages):
        assert passage.passage_id == f"{report.report_id}:p{ordinal}"
        assert passage.text == text[passage.start : passage.end] and passage.text.strip() == passage.text
        assert passage.start >= previous_end
        previous_end = passage.end
        section = report.section(passage.section)
        assert section is not None and section.start <= passage.start and passage.end <= section.end
        assert "||" not in passage.text
        if passage.kind == "table_row":
            assert "\n" not in passage.text and passage.table_id is not None
        covered[passage.start : passage.end] = b"\x01" * (passage.end - passage.start)
    headings = bytearray(len(text))
    for section in sections:
        headings[section.start : section.body_start] = b"\x01" * (section.body_start - section.start)
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i] and not headings[i]]
    assert not missed, text[missed[0] : missed[0] + 40]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report_texts(), st.sampled_from(["utf-8", "gbk", "utf-8-sig"]))
def test_generated_reports(generated: tuple[str, list[str]], encoding: str) -> None:
    source, numbered = generated
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.txt"
        path.write_bytes(source.encode(encoding))
        report = ingest_file(path)
    check_invariants(report)
    found = [s.key for s in report.sections if s.key != "preamble"]
    assert set(numbered) <= set(found)
    assert report.meta.title.startswith("某某县人民政府") and report.meta.agency == "某某县人民政府"


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_sample_invariants(name: str, sample_reports: dict[str, Report]) -> None:
    check_invariants(sample_reports[name])


def test_seed_invariants(seed_report: Report) -> None:
    check_invariants(seed_report)
