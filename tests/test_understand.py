"""Question understanding without an index: lexicon validation, cells from paraphrases, scope rules, intents."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from assistant.analyse.facts import T3_NEW, T3_RESULTS
from assistant.records import Answer, ReportMeta
from assistant.search.retriever import Filters
from assistant.understand.lexicon import INTENTS, LexiconError, lexicon, parse_lexicon
from assistant.understand.query import understand
from assistant.understand.tables import match_cells

QH, LX, ECO = "青禾县人民政府办公室", "澜溪市人民政府", "澜溪市生态环境局"


def meta(agency: str, year: int) -> ReportMeta:
    return ReportMeta(f"{agency}{year}年政府信息公开工作年度报告", agency, year, "2021", "txt", "x", "0")


CORPUS = {f"{a}-{y}": meta(a, y) for a, y in ((QH, 2021), (QH, 2022), (LX, 2021), (LX, 2022), (ECO, 2022))}


def raw_lexicon() -> dict[str, Any]:
    text = resources.files("assistant").joinpath("data", "lexicon.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def read(question: str, history: list[Answer] | None = None, filters: Filters | None = None) -> Any:
    return understand(question, history, filters, CORPUS)


# --- the lexicon -------------------------------------------------------------------------------------


def test_lexicon_loads_and_covers_every_intent() -> None:
    lex = lexicon()
    assert set(lex.cues) | {"table_cell", "table_sum"} == set(INTENTS)
    assert {r.label for r in lex.t4_results} == {"结果维持", "结果纠正", "其他结果", "尚未审结", "总计"}


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d["t3"]["rows"][0].update(row="一、本年新收申请"), "一、本年新收申请"),
    (lambda d: d["t3"]["columns"][1].update(words="企业"), "t3.columns"),
    (lambda d: d["intents"]["contact"]["cues"].update({"电话": -1}), "电话"),
    (lambda d: d["intents"].update(weather={"cues": {"天气": 1}, "examples": ["x"]}), "weather"),
    (lambda d: d["t2"]["rows"][0].update(default=["本年制发"]), "本年制发"),
])
def test_bad_lexicon_entries_are_named(edit: Any, named: str) -> None:
    data = raw_lexicon()
    edit(data)
    with pytest.raises(LexiconError, match=named):
        parse_lexicon(data)


def test_intent_examples_are_classified_as_their_intent() -> None:
    for intent, examples in lexicon().examples.items():
        for example in examples:
            got = read(example).intent
            assert got == intent or (intent == "quantity" and got.startswith("table")), (intent, example, got)


# --- generated paraphrases: every T3/T4 row and column word reaches its cell ----------------------

def _t3_cases() -> list[tuple[str, tuple[str, ...], str]]:
    lex = lexicon()
    cases = []
    for row in lex.t3_rows:
        for word in row.words:
            subject = "" if row.requires and any(r in word for r in row.requires) else "申请"
            cases.append((f"青禾县2021年{word}的{subject}有多少件？", row.path, "总计"))
    for column in lex.t3_columns:
        for word in column.words:
            cases.append((f"2021年{word}新收的申请有几件", (T3_NEW,), column.label))
    return cases


@pytest.mark.parametrize(("question", "row", "column"), _t3_cases())
def test_t3_paraphrases(question: str, row: tuple[str, ...], column: str) -> None:
    cells = match_cells(question)
    assert cells, question
    assert (cells[0].table, cells[0].row_path, cells[0].columns[0]) == ("T3", row, column), question


def _t4_cases() -> list[tuple[str, str]]:
    lex = lexicon()
    return [(f"青禾县2022年行政复议{word}的有几件", result.label) for result in lex.t4_results for word in result.words]


@pytest.mark.parametrize(("question", "result"), _t4_cases())
def test_t4_result_paraphrases(question: str, result: str) -> None:
    [cell] = match_cells(question)
    assert cell.row_path == ("行政复议",) and cell.columns == (f"行政复议·{result}",), question


@pytest.mark.parametrize("word", [w for b in lexicon().t4_blocks if b.label == "行政诉讼" for w in b.words])
def test_lawsuit_words_sum_both_kinds(word: str) -> None:
    [cell] = match_cells(f"2022年{word}有几件")
    assert cell.row_path == ("行政诉讼",) and cell.aggregate


def test_two_questions_in_one() -> None:
    cells = match_cells("行政复议有几件？其中纠正的几件？")
    assert [c.columns[0] for c in cells] == ["行政复议·总计", "行政复议·结果纠正"]
    both = match_cells("2022年收到多少件申请？其中个人提的有几件？")
    assert [(c.row_path, c.columns[0]) for c in both] == [((T3_NEW,), "总计"), ((T3_NEW,), "自然人")]
    comma = match_cells("青禾县2021年行政复议几件，纠正了几件")
    assert [c.columns[0] for c in comma] == ["行政复议·总计", "行政复议·结果纠正"]
    one = match_cells("青禾县，2021年行政复议几件")  # the part before the comma asks nothing: one question
    assert [c.columns[0] for c in one] == ["行政复议·总计"]
    item = match_cells("因为不掌握信息没法提供的有几件")[0]
    assert item.row_path == (T3_RESULTS, "（四）无法提供", "1.本机关不掌握相关政府信息")


# --- scope rules ---------------------------------------------------------------------------------------


def test_agency_short_forms_and_years() -> None:
    for question in ["青禾县2021年新收多少申请", "青禾2021年收到几件申请", "青禾县政府办2021年收到申请多少",
                     "青禾县府办二〇二一年收到申请多少", "青禾县２０２１年收到申請多少件"]:
        query = read(question)
        assert query.scope.agency == QH and query.scope.years == (2021,), question
        assert query.scope.report_ids == (f"{QH}-2021",)
    assert read("澜溪生态环境局22年被复议了几件").scope.agency == ECO
    assert read("澜溪市2022年行政复议几件").scope.agency == LX


def test_relative_years() -> None:
    assert read("青禾县去年新收申请多少件").scope.years == (2021,)  # latest year 2022, so 去年 is 2021
    assert read("青禾县今年新收申请多少件").scope.years == (2022,)
    assert set(read("青禾县2022年比上一年多收了多少申请").scope.years) == {2021, 2022}
    assert read("青禾县2021年有多少申请结转到下一年办").scope.years == (2021,)


def test_unknown_agency_or_year_is_not_found_naming_the_coverage() -> None:
    other = read("澜溪市教育局2022年联系电话是多少")
    assert other.scope.problem and "澜溪市生态环境局" in other.scope.problem and not other.scope.report_ids
    year = read("青禾县2019年收到多少申请")
    assert "2021、2022" in year.scope.problem and not year.scope.report_ids
    assert read("杭州市2021年申请有多少件").scope.unknown_agency == "杭州市"


def test_year_only_question_keeps_every_report_of_that_year() -> None:
    query = read("2022年各地收到多少件政府信息公开申请？")
    assert not query.scope.problem and query.scope.agency is None
    assert set(query.scope.report_ids) == {f"{QH}-2022", f"{LX}-2022", f"{ECO}-2022"}


def test_explicit_filters_lose_to_the_question_and_say_so() -> None:
    query = read("青禾县2021年新收申请多少件", filters=Filters(years=(2022,)))
    assert query.scope.years == (2021,) and "筛选为2022年，但问题问的是2021年：按问题回答" in query.scope.conflict
    plain = read("新收申请多少件", filters=Filters(years=(2022,), agency="青禾县"))
    assert plain.scope.agency == QH and plain.scope.years == (2022,) and not plain.scope.conflict


def previous(question: str, agency: str, years: list[int]) -> Answer:
    return Answer(question=question, found=True, text="…", filters={"agency": agency, "years": years})


def test_only_a_real_follow_up_inherits_the_conversation() -> None:
    first = previous("青禾县2021年被申请行政复议几件？", QH, [2021])
    follow = read("那2022年呢？", history=[first])
    assert follow.follow_up and follow.scope.agency == QH and follow.scope.years == (2022,)
    assert follow.intent == "table_cell" and follow.cells[0].row_path == ("行政复议",)
    fresh = read("澜溪市政府信息公开的联系电话是多少？", history=[first])
    assert not fresh.follow_up and fresh.scope.agency == LX and fresh.scope.years == ()
    owner = read("这个电话是哪个部门的？", history=[previous("青禾县2022年的联系电话是多少？", QH, [2022])])
    assert owner.follow_up and owner.intent == "contact_owner" and owner.scope.agency == QH


def test_merged_follow_up_stays_within_the_length_limit() -> None:
    long = "青禾县2021年" + "政府信息公开申请" * 60 + "多少件？"
    query = understand("那2022年呢？", [previous(long, QH, [2021])], None, CORPUS, max_chars=500)
    assert len(query.text) <= 500 and query.text.endswith("那2022年呢?")


@pytest.mark.parametrize(("question", "intent"), [
    ("青禾县2021年新收了多少件申请", "table_cell"),
    ("青禾县2021年不予公开的一共几件", "table_sum"),
    ("青禾县2022年比2021年新收申请多了多少", "compare_years"),
    ("青禾县2022年比2021年申请多了多少", "compare_years"),
    ("青禾县2022年比2021年申请少了多少", "compare_years"),
    ("哪一年青禾县被申请行政复议最多", "compare_years"),
    ("青禾县哪年收到的申请最多", "compare_years"),
    ("青禾县２０２２年有多少申請", "table_cell"),
    ("青禾县2022年一共几件申请", "table_cell"),
    ("哪个县申请最多", "rank_agencies"),
    ("澜溪市2022年表三对得上吗", "consistency"),
    ("青禾县2021年的承诺落实了吗", "follow_up"),
    ("龙泉市2020年承诺了哪些改进措施", "commitments"),
    ("青禾县2021年存在的主要问题", "problems"),
    ("青禾县2021年培训了多少人次", "quantity"),
    ("青禾县的联系电话", "contact"),
    ("这个电话是哪个部门的", "contact_owner"),
    ("青禾县年报什么时候发布的", "date"),
    ("那个通知的文号是什么", "doc_number"),
    ("明天天气怎么样", "out_of_scope"),
    ("How many requests did Qinghe receive?", "table_cell"),
    ("How many requests did Longquan receive?", "out_of_scope"),  # no Longquan report in this corpus
    ("Tell me a joke", "out_of_scope"),
])
def test_intents(question: str, intent: str) -> None:
    assert read(question).intent == intent


def _t2_cases() -> list[tuple[str, tuple[str, ...], str]]:
    lex = lexicon()
    cases = [(f"2022年{word}有多少？", row.path, row.default[0]) for row in lex.t2_rows for word in row.words]
    documents = next(r for r in lex.t2_rows if r.label == "行政规范性文件")
    cases += [(f"2022年{word}的行政规范性文件有多少件", documents.path, column.label)
              for column in lex.t2_columns if column.label in ("本年废止件数", "现行有效件数", "本年制发件数")
              for word in column.words]
    return cases


@pytest.mark.parametrize(("question", "row", "column"), _t2_cases())
def test_t2_paraphrases(question: str, row: tuple[str, ...], column: str) -> None:
    [cell] = match_cells(question)
    assert (cell.table, cell.row_path, cell.columns[0]) == ("T2", row, column), question


@pytest.mark.parametrize("group", lexicon().suffix_groups)
def test_every_suffix_form_names_the_agency(group: tuple[str, ...]) -> None:
    corpus = {"r": meta("青禾县" + group[0], 2021)}
    for suffix in group:
        query = understand(f"青禾县{suffix}2021年新收申请多少件", None, None, corpus)
        assert query.scope.report_ids == ("r",), suffix


@pytest.mark.parametrize(("short", "full"), sorted(lexicon().provinces.items()))
def test_province_short_forms(short: str, full: str) -> None:
    corpus = {"r": meta(full + "松江区人民政府", 2022)}
    query = understand(f"{short}松江区2022年新收申请多少件", None, None, corpus)
    assert query.scope.report_ids == ("r",), short


def test_an_agency_in_the_question_beats_the_filter_and_is_said() -> None:
    query = read("澜溪市2022年行政复议几件", filters=Filters(agency="青禾县"))
    assert query.scope.agency == LX and query.scope.agency_from == "question"
    assert f"筛选为{QH}，但问题问的是{LX}：按问题回答" in query.scope.conflict
    assert all(i.startswith(LX) for i in query.scope.report_ids)


def test_plans_for_a_year_are_read_from_the_report_before() -> None:
    query = read("澜溪市生态环境局2023年打算怎样让群众更容易看懂环境质量数据？")
    assert query.intent == "commitments" and query.scope.years == (2022,) and query.scope.report_ids


def test_english_naming_a_covered_agency_is_understood() -> None:
    query = read("How many requests did Qinghe receive in 2021?")
    assert query.intent == "table_cell" and query.scope.agency == QH and query.scope.years == (2021,)
    assert read("What is the weather in Shanghai?").intent == "out_of_scope"
    assert read("How many lawsuits did Qinghe lose?").cells[0].columns == ("结果纠正",)


# --- English questions: the lexicon's English words, agencies by the pinyin of the corpus's names ----

PINYIN_CORPUS = {**CORPUS, "pt-2024": meta("平潭综合实验区", 2024), "lq-2020": meta("龙泉市人民政府办公室", 2020)}


@pytest.mark.parametrize(("question", "agency", "years", "intent", "cell"), [
    ("How many information disclosure requests did Longquan receive in 2020?", "龙泉市人民政府办公室", (2020,),
     "table_cell", ("T3", T3_NEW, "总计")),
    ("How many requests did Longquan City receive in 2020?", "龙泉市人民政府办公室", (2020,), "table_cell",
     ("T3", T3_NEW, "总计")),
    ("Pingtan 2024 administrative reconsideration cases", "平潭综合实验区", (2024,), "table_cell",
     ("T4", "行政复议", "行政复议·总计")),
    ("How many administrative reconsideration cases did Ping Tan have in 2024?", "平潭综合实验区", (2024,),
     "table_cell", ("T4", "行政复议", "行政复议·总计")),
    ("How many requests from companies did Lanxi receive in 2022?", LX, (2022,), "table_cell",
     ("T3", T3_NEW, "商业企业")),
    ("How many requests did Qinghe County refuse to disclose in 2021?", QH, (2021,), "table_sum",
     ("T3", "（三）不予公开", "总计")),
    ("How many requests were carried over to next year by Lanxi in 2021?", LX, (2021,), "table_cell",
     ("T3", "四、结转下年度继续办理", "总计")),
    ("What is the phone number of Qinghe County government office?", QH, (), "contact", None),
    ("Lanxi's e-mail address", LX, (), "contact", None),
    ("What commitments did Qinghe make in 2021?", QH, (2021,), "commitments", None),
])
def test_english_paraphrases(question: str, agency: str, years: tuple[int, ...], intent: str,
                             cell: tuple[str, str, str] | None) -> None:
    query = understand(question, None, None, PINYIN_CORPUS)
    assert (query.scope.agency, query.scope.years, query.intent) == (agency, years, intent), query.as_dict()
    assert query.scope.report_ids, query.as_dict()
    if cell is not None:
        got = query.cells[0]
        assert (got.table, got.row_path[-1], got.columns[0]) == cell, query.as_dict()


@pytest.mark.parametrize("question", [
    "Tell me about Longquan's open government work",  # "open", "work": not in the lexicon
    "How many tourists visited Pingtan in 2024?",
    "Longquan 2020",  # a place and nothing asked
    "What is the weather in Pingtan?",
])
def test_english_not_understood_is_out_of_scope(question: str) -> None:
    query = understand(question, None, None, PINYIN_CORPUS)
    assert query.intent == "out_of_scope" and query.slot("language") == "en", query.as_dict()


def test_a_pinyin_two_agencies_share_is_never_guessed() -> None:
    corpus = {"a": meta("青禾县人民政府办公室", 2021), "b": meta("清河县人民政府", 2021), "c": meta("澜溪市人民政府", 2021)}
    query = understand("How many requests did Qinghe receive in 2021?", None, None, corpus)
    assert query.scope.problem and "青禾" in query.scope.problem and "清河" in query.scope.problem
    assert query.scope.agency is None and query.intent != "out_of_scope"
    # the Chinese names are not ambiguous, nor is a pinyin only one of them has
    assert understand("青禾县2021年收到多少件申请", None, None, corpus).scope.agency == "青禾县人民政府办公室"
    assert understand("How many requests did Lanxi receive in 2021?", None, None, corpus).scope.agency == LX


def _known_chinese() -> set[str]:
    lex = lexicon()
    words = {w for cues in lex.cues.values() for w in cues} | set(lex.domain) | set(lex.place_units)
    words |= set(lex.office_units) | {s for g in lex.suffix_groups for s in g} | set(lex.relative_years)
    for labels in (lex.t2_rows, lex.t2_columns, lex.t3_rows, lex.t3_columns, lex.t4_blocks, lex.t4_results):
        words |= {w for label in labels for w in (label.label, *label.words, *label.weak)}
    return words


@pytest.mark.parametrize(("english", "chinese"), sorted(lexicon().english.items()))
def test_every_english_entry_reads_as_chinese_the_lexicon_knows(english: str, chinese: str) -> None:
    assert any(w in chinese or chinese in w for w in _known_chinese()), (english, chinese)
    query = understand(f"How many {english} did Qinghe have in 2021?", None, None, CORPUS)
    assert chinese in query.text and english not in query.text, (english, query.text)


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d["english"]["words"].update({"Requests": "申请"}), "Requests"),
    (lambda d: d["english"]["words"].update({"requests": "requests"}), "requests"),
    (lambda d: d["english"].update(stop_words=["the", "of the"]), "of the"),
    (lambda d: d["english"].pop("words"), "english.words"),
])
def test_bad_english_entries_are_named(edit: Any, named: str) -> None:
    data = raw_lexicon()
    edit(data)
    with pytest.raises(LexiconError, match=named):
        parse_lexicon(data)


def test_an_english_place_name_is_the_place_with_its_unit() -> None:
    corpus = {**PINYIN_CORPUS, "sh": meta("上海市", 2022), "sho": meta("上海市人民政府办公厅", 2022),
              "yp": meta("上海市杨浦区人民政府", 2022)}
    shanghai = understand("How many requests did Shanghai receive in 2022?", None, None, corpus)
    assert shanghai.scope.agency == "上海市" and "上海市" in shanghai.text
    office = understand("How many requests did the Shanghai general office receive in 2022?", None, None, corpus)
    assert office.scope.agency == "上海市人民政府办公厅", office.as_dict()
    yangpu = understand("Yangpu District phone number", None, None, corpus)
    assert yangpu.scope.agency == "上海市杨浦区人民政府" and "杨浦区区" not in yangpu.text
    city = understand("How many requests did Longquan City receive in 2020?", None, None, corpus)
    assert "龙泉市" in city.text and "龙泉市市" not in city.text


def test_unknown_agency_after_a_lead_word_is_still_found() -> None:
    # the words before an agency (对, 请问, 关于, 想知道) are not part of it, and never hide it
    for lead in ("对", "请问", "关于", "我想知道", "麻烦问下"):
        query = read(f"{lead}松江县政府办公室2021年的政府信息公开工作有疑问，应该打什么电话？")
        assert query.scope.unknown_agency == "松江县政府办公室", lead
        assert query.scope.problem and not query.scope.report_ids, lead
        place = read(f"{lead}松江区2021年收到多少申请")
        assert place.scope.unknown_agency == "松江区", lead
    # a known agency's name is not cut into an unknown one (溪市… inside 澜溪市…)
    known = read("对澜溪市政府信息公开中心2022年的工作有疑问，找谁")
    assert known.scope.unknown_agency is None and known.scope.report_ids


# --- what the never-tuned "fresh" set found: general fixes, each with its paraphrases -------------------

JG, SJZ, MKT = "贵州省机关事务管理局", "石家庄市教育局", "澜溪市市场监督管理局"
FRESH_CORPUS = {**PINYIN_CORPUS, "jg": meta(JG, 2020), "sjz": meta(SJZ, 2021), "mkt": meta(MKT, 2022)}


def fresh(question: str) -> Any:
    return understand(question, None, None, FRESH_CORPUS)


@pytest.mark.parametrize("question", [
    "青禾县2021年办理了多少件12345热线交办事项？", "青禾县2021年热线电话接到几件咨询", "青禾县2021年热线回复了多少条留言"])
def test_a_count_of_things_is_not_a_contact_detail(question: str) -> None:
    assert read(question).intent == "quantity", read(question).as_dict()


@pytest.mark.parametrize("question", ["青禾县信息公开热线电话是多少", "青禾县的热线", "青禾县政府办公室的联系电话"])
def test_contact_questions_stay_contact(question: str) -> None:
    assert read(question).intent == "contact"


@pytest.mark.parametrize(("question", "agency", "intent"), [
    ("How many pieces of information did the Shijiazhuang Education Bureau (石家庄市教育局) publish in 2021?", SJZ,
     "quantity"),
    ("How many pieces of information did the Education Bureau (石家庄市教育局) publish in 2021?", SJZ, "quantity"),
    ("How much information did the Shijiazhuang Education Bureau publish in 2021?", SJZ, "quantity"),
    ("What is the phone number of the Qinghe County Government Office for disclosure questions?", QH, "contact"),
])
def test_english_naming_an_agency_in_chinese_or_by_its_opening_place(question: str, agency: str, intent: str) -> None:
    query = fresh(question)
    assert (query.scope.agency, query.intent) == (agency, intent), query.as_dict()
    assert query.text.count(agency) <= 1, query.text  # a Chinese gloss of a name already read is dropped


@pytest.mark.parametrize("question", ["How many requests did Shijiazhuang receive in 2021?",
                                      "How many requests did Guizhou receive in 2020?"])
def test_an_opening_place_alone_names_no_agency(question: str) -> None:
    query = fresh(question)
    assert query.scope.agency is None and query.intent == "out_of_scope", query.as_dict()


@pytest.mark.parametrize(("question", "agency"), [
    ("贵州省机关事务局的联系电话", JG), ("贵州省机关事务局2020年主动公开了多少条信息", JG),
    ("澜溪市市场监管局2022年收到多少申请", MKT), ("澜溪市市场监督局2022年收到多少申请", MKT),
    ("省机关事务管理局2020年政务微博发了几条", JG), ("省机关事务局2020年政务微博发了几条", JG),
])
def test_agency_contractions_and_level_names(question: str, agency: str) -> None:
    query = fresh(question)
    assert query.scope.agency == agency and query.scope.report_ids, query.as_dict()


@pytest.mark.parametrize("question", ["云南省机关事务管理局2020年政务微博发了几条", "云南省机关事务局的联系电话",
                                      "澜溪市机关事务局2022年收到多少申请"])
def test_a_contraction_or_level_name_never_names_another_body(question: str) -> None:
    query = fresh(question)
    assert query.scope.agency is None and not query.scope.report_ids, query.as_dict()


def test_a_short_form_that_is_another_reports_own_name_names_that_one() -> None:
    corpus = {"a": meta("澜溪市机关事务管理局", 2022), "b": meta("澜溪市机关事务局", 2022)}
    assert understand("澜溪市机关事务局2022年收到多少申请", None, None, corpus).scope.report_ids == ("b",)
    assert understand("澜溪市机关事务管理局2022年收到多少申请", None, None, corpus).scope.report_ids == ("a",)


def test_a_level_name_several_agencies_share_names_none() -> None:
    corpus = {"a": meta("青禾县人民政府办公室", 2021), "b": meta("龙游县人民政府办公室", 2021)}
    query = understand("县政府办公室2021年收到多少申请", None, None, corpus)
    assert query.scope.agency is None and set(query.scope.report_ids) == {"a", "b"}


@pytest.mark.parametrize(("pair", "named"), [(["局", "管理局"], "contractions"), (["管理局"], "contractions"),
                                             ("管理局", "contractions")])
def test_bad_contractions_are_named(pair: Any, named: str) -> None:
    data = raw_lexicon()
    data["agency"]["contractions"] = [pair]
    with pytest.raises(LexiconError, match=named):
        parse_lexicon(data)


@pytest.mark.parametrize(("question", "counted"), [
    ("贵州省机关事务管理局2020年微信公众号有多少粉丝", ("粉丝",)),
    ("平潭2022年收到多少政府信息公开申请？", ("政府信息公开申请",)),
    ("上海市政府办公厅2019年每季度检查多少家政府网站", ("网站",)),  # 政府: a stop word
    ("贵州省机关事务管理局2020年政务微博发了几条", ()),
    ("青禾县2021年培训了多少人次？", ()),
])
def test_the_thing_a_quantity_question_counts(question: str, counted: tuple[str, ...]) -> None:
    assert tuple(fresh(question).slot_values("counted")) == counted


@pytest.mark.parametrize(("question", "row", "column"), [
    ("平潭2023年老百姓申请的有多少件", (T3_NEW,), "自然人"),
    ("青禾县2021年企业申请的有几件", (T3_NEW,), "商业企业"),
    ("青禾县2022年的申请比2021年多了还是少了", (T3_NEW,), "总计"),
    ("高平市政府办公室2023年结转至下一年度办理的有几件", ("四、结转下年度继续办理",), "总计"),
])
def test_applicant_and_carried_over_paraphrases(question: str, row: tuple[str, ...], column: str) -> None:
    [cell] = match_cells(question)
    assert (cell.table, cell.row_path, cell.columns[0]) == ("T3", row, column), question


@pytest.mark.parametrize(("table", "word"), [(t, w) for t, ws in sorted(lexicon().table_names.items()) for w in ws])
def test_every_table_name_names_its_table(table: str, word: str) -> None:
    for question in (f"青禾县2021年的{word}对得上吗", f"{word}的数字有没有问题？青禾县2022年", f"澜溪市2022年{word}核对一下"):
        assert read(question).slot_values("table") == [table], question
