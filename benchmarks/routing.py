"""Routing evaluator: intent confusion, scope, cells, refusals, answer accuracy and the answerability gate.

Question sets: tests/data/questions/dev.jsonl (tuned on), heldout.jsonl (looked at once, then labels
fixed), unseen.jsonl (written by the integrator after the rules were frozen, never tuned on) and fresh.jsonl
(written without reading the rules, half on reports added with it, measured once), over the seed, the samples,
../shared/real/ and the real reports gathered in tests/data/real/.

    .venv/bin/python benchmarks/routing.py [--index DIR] [--set dev|heldout|unseen|fresh|real|gathered|both] [--json]

Without --index it builds a fresh index of those reports in a temporary folder (about a minute).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.answer import extractive
from assistant.answer.evidence import unsupported_numbers
from assistant.api import Assistant
from assistant.config import Settings
from assistant.index.build import build_index
from assistant.records import Answer
from assistant.understand.scope import agency_of

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
QUESTIONS = ROOT / "tests" / "data" / "questions"
SOURCES = [ROOT / "corpus", SHARED / "samples", SHARED / "real", ROOT / "tests" / "data" / "real"]
SUFFIXES = (".txt", ".html", ".htm", ".pdf", ".docx")
GATES = (0.2, 0.28, 0.34, 0.4, 0.5, 0.6)


def squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def load(name: str) -> list[dict[str, Any]]:
    """Our dev, held-out or unseen set (unseen: written after the rules, never tuned on); "real": the questions of ../shared/real/; "gathered": those of
    tests/data/real/ (these two have no intent labels)."""
    path = {"real": SHARED / "real" / "questions.jsonl",
            "gathered": ROOT / "tests" / "data" / "real" / "questions.jsonl"}.get(name, QUESTIONS / f"{name}.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_index(folder: Path) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir()
    for source in SOURCES:
        if source.is_dir():
            for path in sorted(source.iterdir()):
                if path.suffix.lower() in SUFFIXES and path.name != "README.md":
                    shutil.copy(path, corpus / path.name)
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    build_index(settings)
    return settings.index_dir


def ask(assistant: Assistant, q: dict[str, Any]) -> Answer:
    history = [assistant.ask(h) for h in q.get("history", [])]
    return assistant.ask(q["question"], history=history or None)


def judge(assistant: Assistant, q: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """One question's verdicts."""
    answerable = q["kind"] != "unanswerable"
    # the evidence: one string, or alternatives (the prose sentence, or the table cell holding the same figure)
    evidence = [q["evidence"]] if isinstance(q["evidence"], str) else list(q["evidence"])
    evidence = [e for e in evidence if e]
    numbers_ok = not unsupported_numbers(answer.text, answer.citations)
    correct = answerable and answer.found and all(s in answer.text for s in q["expect_all"]) and (
        not evidence or any(squash(e) in squash(c.text) for e in evidence for c in answer.citations)) and numbers_ok
    metas = {r.report_id: r.meta for r in assistant.reports()}
    by_title = {m.title: m for m in metas.values()}
    expected = {q.get("agency")} | ({agency_of(by_title[q["report"]])} if q.get("report") in by_title else set())
    wrong_agency = bool(q.get("agency")) and answer.found and any(
        agency_of(by_title[c.report_title]) not in expected for c in answer.citations if c.report_title in by_title)
    scope = answer.understanding.get("scope", {})
    scope_ok = "agency" in q and scope.get("agency") == q.get("agency") and (
        not q.get("years") or sorted(scope.get("years", [])) == sorted(q["years"]))
    cell_question = q.get("intent") in ("table_cell", "table_sum") and answerable and answer.path == "facts"
    return {"id": q["id"], "answerable": answerable, "found": answer.found, "correct": correct,
            "wrong_agency": wrong_agency, "scope_ok": scope_ok, "intent": q.get("intent", "?"), "got": answer.intent,
            "cell_question": cell_question, "cell_ok": cell_question and correct, "text": answer.text[:160]}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    refused = [r for r in rows if not r["found"]]
    cells = [r for r in rows if r["cell_question"]]
    return {
        "questions": len(rows), "unanswerable": len(unanswerable),
        "intent_accuracy": round(sum(r["intent"] == r["got"] for r in rows) / len(rows), 3),
        "scope_accuracy": round(sum(r["scope_ok"] for r in rows) / len(rows), 3),
        "cell_accuracy": round(sum(r["cell_ok"] for r in cells) / len(cells), 3) if cells else None,
        "answer_accuracy": round(sum(r["correct"] for r in answerable) / max(1, len(answerable)), 3),
        "unanswerable_refused": round(sum(not r["found"] for r in unanswerable) / max(1, len(unanswerable)), 3),
        "refusal_precision": round(sum(not r["answerable"] for r in refused) / max(1, len(refused)), 3),
        "wrongly_answered": sum(r["found"] for r in unanswerable),
        "answered_wrong": sum(r["found"] and not r["correct"] for r in answerable),
        "wrong_agency_citations": sum(r["wrong_agency"] for r in rows),
    }


def confusion(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for r in rows:
        table.setdefault(r["intent"], Counter())[r["got"]] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def gate_curve(assistant: Assistant, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Answered-correct vs wrongly-answered as the sentence gate (share of question words covered) moves."""
    saved = extractive.MIN_OVERLAP
    curve = []
    try:
        for gate in GATES:
            extractive.MIN_OVERLAP = gate
            rows = [judge(assistant, q, ask(assistant, q)) for q in questions]
            s = summary(rows)
            curve.append({"gate": gate, "answer_accuracy": s["answer_accuracy"],
                          "wrongly_answered": s["wrongly_answered"], "answered_wrong": s["answered_wrong"]})
    finally:
        extractive.MIN_OVERLAP = saved
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path)
    parser.add_argument("--set", choices=("dev", "heldout", "unseen", "fresh", "real", "gathered", "both"), default="both")
    parser.add_argument("--curve", action="store_true", help="also sweep the answerability gate")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", action="store_true", help="print every wrong question")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or make_index(Path(tmp))
        assistant = Assistant.open(index)
        names = ("dev", "heldout") if args.set == "both" else (args.set,)
        result: dict[str, Any] = {"reports": len(assistant.reports())}
        for name in names:
            rows = [judge(assistant, q, ask(assistant, q)) for q in load(name)]
            result[name] = {"summary": summary(rows), "confusion": confusion(rows)}
            if args.show:
                for r in rows:
                    if (r["answerable"] and not r["correct"]) or (not r["answerable"] and r["found"]) \
                            or r["intent"] != r["got"] or not r["scope_ok"] or r["wrong_agency"]:
                        print(name, r["id"], r["intent"], "->", r["got"], "scope_ok" if r["scope_ok"] else "SCOPE",
                              "ok" if r["correct"] or (not r["answerable"] and not r["found"]) else "WRONG",
                              r["text"].replace("\n", " | ")[:140])
        if args.curve:
            for name in names:
                result[f"gate_curve_{name}"] = gate_curve(assistant, load(name))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    print(f"{result['reports']} reports")
    for name in names:
        print(f"\n[{name}]")
        for key, value in result[name]["summary"].items():
            print(f"  {key:24s} {value}")
        print("  intent confusion (expected -> got):")
        for expected, got in result[name]["confusion"].items():
            print(f"    {expected:14s} {got}")
    for name in names:
        for point in result.get(f"gate_curve_{name}", []):
            print(f"  [{name}] gate {point['gate']:.2f}: answer accuracy {point['answer_accuracy']}, "
                  f"wrongly answered {point['wrongly_answered']}, answered wrong {point['answered_wrong']}")


if __name__ == "__main__":
    main()
