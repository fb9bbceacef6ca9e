"""Score fusion of the dense and BM25 legs: reciprocal rank fusion and min-max weighted mixing."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion: sum over legs of 1 / (k + rank), ranks from 1."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


def weighted(dense: Sequence[tuple[int, float]], keyword: Sequence[tuple[int, float]],
             dense_weight: float = 0.5) -> dict[int, float]:
    """Min-max normalised scores of each leg, mixed with dense_weight (the alternative to RRF)."""

    def scaled(leg: Sequence[tuple[int, float]]) -> dict[int, float]:
        if not leg:
            return {}
        low, high = min(s for _, s in leg), max(s for _, s in leg)
        return {i: (s - low) / (high - low) if high > low else 1.0 for i, s in leg}

    dense_scores, keyword_scores = scaled(dense), scaled(keyword)
    return {i: dense_weight * dense_scores.get(i, 0.0) + (1 - dense_weight) * keyword_scores.get(i, 0.0)
            for i in dense_scores.keys() | keyword_scores.keys()}
