"""Real reports whose tables were lost: comparisons and carried-over counts fall back to cited prose figures,
several years asked answer per year, and a quantity answer counts the thing asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, _build

from assistant.answer.evidence import unsupported_numbers
from assistant.answer.from_tables import LOST_TABLE
from assistant.api import Assistant

REAL = REPO_ROOT / "tests" / "data" / "real"
FILES = ["gaoping-gov-office-2021.txt", "gaoping-gov-office-2022.txt", "gaoping-gov-office-2023.txt",
         "guizhou-jgsw-2020.txt", "pingtan-2022.txt", "pingtan-2023.html"]
GP, PT = "高平市人民政府办公室", "平潭综合实验区"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Assistant:
    return Assistant.open(_build(tmp_path_factory.mktemp("prose"), [REAL / f for f in FILES], cache_dir))


def _cited_years(answer: object) -> list[int | None]:
    return sorted(c.year for c in answer.citations)  # type: ignore[attr-defined]


@pytest.mark.parametrize("question", ["高平市政府办公室2023年比2022年收到的申请少了几件？",
                                      "高平市政府办公室2022年和2023年收到的申请哪年多？",
                                      "高平市政府办2023年的申请比2022年多了还是少了"])
def test_two_lost_tables_compare_by_their_cited_prose(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.found and answer.path == "facts", answer.text
    assert "12件" in answer.text and "9件" in answer.text and "正文" in answer.text, answer.text
    assert _cited_years(answer) == [2022, 2023] and all(c.agency == GP for c in answer.citations)
    assert not unsupported_numbers(answer.text, answer.citations), answer.text


def test_a_difference_of_prose_figures_is_a_labelled_computation(assistant: Assistant) -> None:
    answer = assistant.ask("高平市政府办公室2023年比2022年收到的申请少了几件？")
    assert "（计算：2023年比2022年减少3件）" in answer.text, answer.text


def test_a_readable_year_and_a_lost_year_are_compared_saying_which_is_prose(assistant: Assistant) -> None:
    answer = assistant.ask("平潭2022年和2023年收到的申请各是多少？")
    assert answer.found and "75件" in answer.text and "81件" in answer.text, answer.text
    assert "（表三）" in answer.text and "2022年的表格无法读取" in answer.text, answer.text
    assert "2023年的表格" not in answer.text
    assert {c.table for c in answer.citations} == {None, "T3"} and _cited_years(answer) == [2022, 2023]


def test_a_lost_year_without_the_figure_in_its_prose_is_not_made_up(assistant: Assistant) -> None:
    answer = assistant.ask("高平市政府办公室2022年和2023年行政复议各几件？")
    assert not answer.found or all(c.year in (2022, 2023) and c.table is None for c in answer.citations)
    assert not unsupported_numbers(answer.text, answer.citations)


def test_several_years_of_a_prose_quantity_answer_one_line_each(assistant: Assistant) -> None:
    answer = assistant.ask("高平政府办2021、2022、2023年微信公众号各发了多少条信息？")
    assert answer.found and all(n in answer.text for n in ("2763", "2901", "2920")), answer.text
    assert _cited_years(answer) == [2021, 2022, 2023]


def test_a_lost_table_cell_is_read_from_the_prose_first(assistant: Assistant) -> None:
    answer = assistant.ask("高平市政府办公室2023年结转到下一年办理的申请有几件？")
    assert answer.found and LOST_TABLE not in answer.text, answer.text
    assert any("结转至下一年度办理2件" in (c.quote or c.text) for c in answer.citations)
    lost = assistant.ask("高平市政府办公室2023年行政诉讼多少件？")  # the prose never says: the table is lost
    assert not lost.found and LOST_TABLE in lost.text


def test_the_counted_thing_must_be_what_the_sentence_counts(assistant: Assistant) -> None:
    weibo = assistant.ask("贵州省机关事务管理局2020年政务微博发了几条")
    assert weibo.found and "63条" in weibo.text and "411" not in weibo.text, weibo.text
    followers = assistant.ask("贵州省机关事务管理局2020年微信公众号有多少粉丝")
    assert not followers.found, followers.text  # it says 公布信息230条, not how many follow it
    posts = assistant.ask("贵州省机关事务管理局2020年微信公众号发了多少条信息")
    assert posts.found and "230条" in posts.text, posts.text
