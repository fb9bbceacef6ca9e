"""BM25 keyword store on Chinese passages tokenised with segment.tokenize."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexCorruptError
from assistant.index.keyword import KeywordStore
from assistant.segment import tokenize

DOCS = {
    1: "本年新收政府信息公开申请15件，上年结转0件，予以公开10件，部分公开2件。",
    2: "2021年本机关未发生政府信息公开行政复议和行政诉讼案件。",
    3: "主动公开行政规范性文件3件，政策解读5篇，政府门户网站发布信息1.8万余条。",
    4: "联系电话：0578-7262336，地址：龙泉市人民政府办公室。",
    5: "本年度未收取信息处理费。",
}


@pytest.fixture()
def store() -> KeywordStore:
    kw = KeywordStore()
    kw.add(list(DOCS), [tokenize(text) for text in DOCS.values()])
    return kw


def ids_for(
    store: KeywordStore, query: str, k: int = 5, allowed_ids: list[int] | np.ndarray | None = None
) -> list[int]:
    _, ids = store.search(tokenize(query), k, allowed_ids=allowed_ids)
    return [int(i) for i in ids]


def test_ranking(store: KeywordStore) -> None:
    assert ids_for(store, "政府信息公开申请的数量")[0] == 1
    assert ids_for(store, "行政复议情况") == [2]
    assert ids_for(store, "政策解读")[0] == 3
    assert ids_for(store, "0578-7262336") == [4]
    assert ids_for(store, "收取信息处理費") == [5]  # traditional 費 normalised
    scores, ids = store.search(tokenize("件 未 信息 地址"), 10)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert list(scores) == sorted(scores, reverse=True) and (scores > 0).all()


def test_top_k_limits(store: KeywordStore) -> None:
    assert len(ids_for(store, "件", k=2)) == 2
    assert ids_for(store, "件", k=0) == []


def test_unknown_tokens_give_empty_results(store: KeywordStore) -> None:
    scores, ids = store.search(["火星", "量子"], 5)
    assert scores.shape == ids.shape == (0,)
    assert store.search([], 5)[1].size == 0
    assert KeywordStore().search(["公开"], 5)[1].size == 0


def test_delete(store: KeywordStore) -> None:
    assert ids_for(store, "行政诉讼") == [2]
    assert store.delete([2, 99]) == 1
    assert len(store) == 4 and 2 not in store
    assert ids_for(store, "行政诉讼") == []
    store.add([2], [tokenize("行政诉讼1件")])
    assert ids_for(store, "行政诉讼") == [2]


def test_add_replaces(store: KeywordStore) -> None:
    store.add([5], [tokenize("行政处罚决定")])
    assert len(store) == 5
    assert ids_for(store, "信息处理费") == []
    assert ids_for(store, "行政处罚") == [5]


def test_allowed_ids(store: KeywordStore) -> None:
    everything = ids_for(store, "件 未 信息 地址", k=10)
    assert len(everything) >= 3
    allowed = everything[1:3]
    assert ids_for(store, "件 未 信息 地址", k=10, allowed_ids=allowed) == allowed
    assert ids_for(store, "件 未 信息 地址", k=10, allowed_ids=np.array([], dtype=np.int64)) == []


def test_save_load_round_trip(store: KeywordStore, tmp_path: Path) -> None:
    path = tmp_path / "kw" / "keyword.json"
    store.save(path)
    loaded = KeywordStore.load(path)
    assert len(loaded) == len(store)
    assert loaded.tokens(4) == store.tokens(4)
    for query in ("政府信息公开申请", "行政诉讼", "件 未 信息 地址"):
        expected, got = store.search(tokenize(query), 5), loaded.search(tokenize(query), 5)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[0], expected[0])


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "keyword.json"
    path.write_text('{"format": 1, "docs": [', encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        KeywordStore.load(path)
    path.write_text('{"format": 1, "k1": 1.5, "b": 0.75, "count": 2, "docs": []}', encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        KeywordStore.load(path)
    with pytest.raises(IndexCorruptError):
        KeywordStore.load(tmp_path / "missing.json")


def _all_scores(store: KeywordStore, tokens: list[str]) -> dict[int, float]:
    scores, ids = store.search(tokens, len(store))
    return {int(i): float(s) for s, i in zip(scores, ids, strict=True)}


TEXTS = [*DOCS.values(), "", "政府信息公开 政府信息公开 政府信息公开申请", "件"]
QUERIES = ("政府信息公开申请的数量", "行政复议情况", "件 未 信息 地址", "联系电话", "行政诉讼")


def test_scores_are_bm25s_own() -> None:
    """The store counts terms in array operations; its scores must be those of bm25s's own index()."""
    import bm25s

    corpus = [tokenize(t) for t in TEXTS] * 7
    stock = bm25s.BM25(method="lucene")
    stock.index(corpus, show_progress=False)
    ours = KeywordStore()
    ours.add(range(len(corpus)), corpus)
    for query in QUERIES:
        tokens = [t for t in tokenize(query) if t in stock.vocab_dict]
        expected = {i: float(s) for i, s in enumerate(stock.get_scores(tokens)) if s > 0}
        got = _all_scores(ours, tokens)
        assert got.keys() == expected.keys() and expected
        np.testing.assert_allclose([got[i] for i in expected], list(expected.values()), rtol=1e-6)


def test_carried_counts_index_like_the_token_lists(tmp_path: Path) -> None:
    """A store carried from a saved index (some documents left out, ids shifted, new ones added)
    ranks exactly like one indexed from the same documents' token lists."""
    corpus = {i: tokenize(t) for i, t in enumerate(TEXTS * 3)}  # ids 0..23
    old = KeywordStore()
    old.add(list(corpus), list(corpus.values()))
    old.save_index(tmp_path / "bm25")
    # keep ids 0..9 as they are, drop 10..13, move 14..23 to 104..113; add two new documents
    carried = KeywordStore.carry(tmp_path / "bm25", [(0, 10, 0), (14, 10, 90)])
    assert carried is not None and len(carried) == 20 and 104 in carried and 12 not in carried
    new = {200: tokenize("新增的报告：行政复议 纠正 2件"), 201: tokenize("火星 上 没有 政府信息公开")}
    carried.add(list(new), list(new.values()))
    fresh = KeywordStore()
    kept = {**{i: corpus[i] for i in range(10)}, **{i + 90: corpus[i] for i in range(14, 24)}, **new}
    fresh.add(list(kept), list(kept.values()))
    for query in (*QUERIES, "火星 纠正"):
        expected = _all_scores(fresh, tokenize(query))
        got = _all_scores(carried, tokenize(query))
        assert got.keys() == expected.keys()
        np.testing.assert_allclose([got[i] for i in expected], list(expected.values()), rtol=1e-6)
    assert carried.delete([104, 999]) == 1 and 104 not in carried
    with pytest.raises(TypeError):
        carried.save(tmp_path / "keyword.json")  # carried documents have no token lists
    carried.save_index(tmp_path / "again")
    assert KeywordStore.carry(tmp_path / "again", [(0, 300, 0)]) is not None
    (tmp_path / "bm25" / "term_counts.npy").unlink()  # an index saved before counts were kept
    assert KeywordStore.carry(tmp_path / "bm25", [(0, 10, 0)]) is None


def test_carried_counts_added_after_new_documents_rank_the_same(tmp_path: Path) -> None:
    """A build adds its new documents first and the carried ones at the end (add_carried): the ranking is the same
    as carrying first; a second carry, or ids held already, are refused."""
    corpus = {i: tokenize(t) for i, t in enumerate(TEXTS * 3)}
    old = KeywordStore()
    old.add(list(corpus), list(corpus.values()))
    old.save_index(tmp_path / "bm25")
    new = {200: tokenize("新增的报告：行政复议 纠正 2件"), 201: tokenize("火星 上 没有 政府信息公开")}
    moves = [(0, 10, 0), (14, 10, 90)]
    first = KeywordStore.carry(tmp_path / "bm25", moves)
    assert first is not None
    first.add(list(new), list(new.values()))
    later = KeywordStore()
    later.add(list(new), list(new.values()))
    assert later.add_carried(tmp_path / "bm25", moves)
    assert len(later) == len(first) == 22
    for query in (*QUERIES, "火星 纠正"):
        expected = _all_scores(first, tokenize(query))
        got = _all_scores(later, tokenize(query))
        assert got.keys() == expected.keys() and expected
        np.testing.assert_allclose([got[i] for i in expected], list(expected.values()), rtol=1e-6)
    with pytest.raises(ValueError):
        later.add_carried(tmp_path / "bm25", [(0, 1, 500)])  # carried once per store
    clash = KeywordStore()
    clash.add([3], [tokenize("火星")])
    with pytest.raises(ValueError):
        clash.add_carried(tmp_path / "bm25", [(0, 10, 0)])  # id 3 is held already
    (tmp_path / "bm25" / "term_counts.npy").unlink()
    assert not KeywordStore().add_carried(tmp_path / "bm25", moves)  # no counts: the build adds stored tokens
