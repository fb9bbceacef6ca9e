"""Tokenisation: domain terms and numbers stay whole, variants normalise alike."""

from __future__ import annotations

import re

import pytest

from assistant.segment import dictionary_hash, normalize, tokenize

DOMAIN_TERMS = [
    "依申请公开",
    "政府信息公开申请",
    "政府信息公开",
    "予以公开",
    "部分公开",
    "不予公开",
    "无法提供",
    "不予处理",
    "行政复议",
    "行政诉讼",
    "规范性文件",
    "行政规范性文件",
    "政务公开",
    "主动公开",
    "信息处理费",
    "行政许可",
    "行政处罚",
    "行政强制",
    "行政事业性收费",
    "本年新收",
    "上年结转",
    "结转下年度",
    "政策解读",
    "政府门户网站",
    "年度报告",
    "三安全一稳定",
    "行政执法案卷",
    "过程性信息",
    "内部事务信息",
    "自然人",
    "商业企业",
    "科研机构",
    "社会公益组织",
    "法律服务机构",
    "法人或其他组织",
]


@pytest.mark.parametrize("term", DOMAIN_TERMS)
def test_domain_term_alone_is_one_token(term: str) -> None:
    assert tokenize(term) == [term]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("本年新收政府信息公开申请数量", ["本年新收", "政府信息公开申请", "数量"]),
        ("属于三类内部事务信息", ["属于", "三类", "内部事务信息"]),
        ("危及“三安全一稳定”", ["危及", "三安全一稳定"]),
        ("结转下年度继续办理", ["结转下年度继续办理"]),
        (
            "因政府信息公开申请行政复议、提起行政诉讼的情况",
            ["因", "政府信息公开申请", "行政复议", "提起", "行政诉讼", "的", "情况"],
        ),
    ],
)
def test_domain_terms_in_context(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("联系电话：0578-7262336。", "0578-7262336"),
        ("全年发布信息1.8万余条", "1.8万"),
        ("收取费用612.45元", "612.45"),
        ("同比增长50%，", "50%"),
        ("依据龙政办发〔2020〕17号文件", "〔2020〕17号"),
        ("依据2020〕17号文件", "2020〕17号"),
        ("邮箱 lqzwgk@163.com 受理", "lqzwgk@163.com"),
    ],
)
def test_numbers_stay_whole(text: str, whole: str) -> None:
    assert whole in tokenize(text)


def test_numbers_are_not_split_around_words() -> None:
    assert tokenize("T2 表格 GB18030") == ["t2", "表格", "gb18030"]
    assert tokenize("共12件、15件") == ["共", "12", "件", "15", "件"]


def test_traditional_tokenizes_like_simplified() -> None:
    assert tokenize("政府資訊公開") == tokenize("政府信息公开") == ["政府信息公开"]
    assert tokenize("龍泉市人民政府辦公室") == tokenize("龙泉市人民政府办公室")
    assert tokenize("依申請公開") == ["依申请公开"]


def test_full_width_like_half_width() -> None:
    assert tokenize("１５件") == tokenize("15件") == ["15", "件"]
    assert tokenize("电话：０５７８－７２６２３３６") == tokenize("电话:0578-7262336")
    assert tokenize("［2021］3号") == ["[2021]3号"]


def test_whitespace_and_punctuation_dropped() -> None:
    assert tokenize("  ，。！？、（）“”《》  ") == []
    assert tokenize("") == []
    assert all(t.strip() and t == t.strip() for t in tokenize("予以公开 ， 10 件\n\t部分公开"))


def test_normalize() -> None:
    assert normalize("（一）　予以公开：１５件") == "(一) 予以公开:15件"
    assert normalize("  a \n\n b  ") == "a b"
    assert normalize("政府信息公開") == "政府信息公开"


def test_dictionary_hash_is_stable_hex() -> None:
    digest = dictionary_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == dictionary_hash()


def test_userdict_ships_as_package_data() -> None:
    from importlib import resources

    text = resources.files("assistant").joinpath("data", "userdict.txt").read_text(encoding="utf-8")
    assert "依申请公开" in text.split()
