"""Reliability soak (issue 12): hostile files, damaged indexes, real full disks and SIGKILLed builds.

Prints the figures quoted in docs/reliability.md. Run from the repository root:

    python benchmarks/reliability.py                 # everything (about 10 minutes on 2 busy cores)
    python benchmarks/reliability.py --only attacks  # one part: real, attacks, damage, diskfull, sigkill
    python benchmarks/reliability.py --kill-trials 4 # SIGKILL at 5 points x 4 trials

The full-disk part mounts small tmpfs file systems (needs root); without that it says so and skips.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attack_files import write_attacks  # noqa: E402
from conftest import SAMPLE_FILES, SAMPLES_DIR, SEED_FILE  # noqa: E402

from assistant.api import Assistant  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.errors import AssistantError, DiskFullError  # noqa: E402
from assistant.index.build import build_index  # noqa: E402
from assistant.ingest import ParseLimits, ingest_file  # noqa: E402
from assistant.ingest.bounded import parse_bounded  # noqa: E402
from tests.test_reliability_index import DAMAGES  # noqa: E402

QUERIES = ["电子邮箱", "主动公开政府信息多少条", "行政复议", "政府信息公开申请"]
GOOD = [SEED_FILE, *(SAMPLES_DIR / n for n in SAMPLE_FILES)]
_CJK = re.compile(r"[\u4e00-\u9fff]")


def results(index: Path) -> list[list[tuple[str, str]]]:
    assistant = Assistant.open(index)
    return [[(h.report_title, h.text) for h in assistant.search(q, k=3)] for q in QUERIES]


def corpus_of(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, folder)
    return folder


def timed(action: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    value = action()
    return value, time.perf_counter() - started


# --- hostile files ------------------------------------------------------------------------


def bench_attacks(work: Path) -> None:
    print("== hostile files (default limits) ==")
    attacks = write_attacks(work / "attacks")
    parse_bounded(SEED_FILE, ParseLimits())  # start the parse server, so the figures are per file
    for path in attacks:
        outcome = parse_bounded(path, ParseLimits())
        limit = re.search(r"（(ASSISTANT_[A-Z_]+)）", str(outcome.error)) if outcome.error else None
        why = limit.group(1) if limit else (type(outcome.error).__name__ if outcome.error else "parsed!")
        print(f"{path.name:22} {path.stat().st_size / 1024:8.0f} KB  skipped in {outcome.seconds:5.2f} s "
              f"at {outcome.peak_mb or 0:5.0f} MB peak  by {why}")
    print("-- backstops with the caps opened wide (worker memory and time limits alone) --")
    wide = ParseLimits(max_unpacked_bytes=10**11, max_table_cells=10**12, max_span=10**12)
    for name in ("huge-paragraphs.docx", "span-table.html", "gridspan.docx"):
        outcome = parse_bounded(work / "attacks" / name, wide)
        print(f"{name:22} {outcome.seconds:6.2f} s  peak {outcome.peak_mb or 0:5.0f} MB  -> {outcome.error}")
    cache = work / "attack-cache"
    warm = corpus_of(work / "good-only", GOOD)
    build_index(Settings(corpus_dir=warm, index_dir=work / "warmup", cache_dir=cache))  # embeddings cached
    good_only, base_s = timed(lambda: build_index(Settings(corpus_dir=warm, index_dir=work / "good", cache_dir=cache)))
    corpus = corpus_of(work / "mixed", [*GOOD, *attacks])
    summary, mixed_s = timed(lambda: build_index(Settings(corpus_dir=corpus, index_dir=work / "mixed-index",
                                                          cache_dir=cache)))
    assert isinstance(summary, type(good_only))
    print(f"build of {len(GOOD)} good + {len(attacks)} hostile files: {summary.reports} of {len(GOOD)} good "
          f"indexed, {len(summary.failures)} of {len(attacks)} hostile skipped, {mixed_s:.1f} s "
          f"(good files alone: {base_s:.1f} s, ratio {mixed_s / base_s:.2f})")


def bench_real() -> None:
    print("== real and sample reports under the default limits ==")
    files = [*sorted((ROOT.parent / "shared" / "real").glob("*.txt")), *GOOD]
    parse_bounded(SEED_FILE, ParseLimits())  # start the parse server
    outcomes, bounded_s = timed(lambda: [parse_bounded(path, ParseLimits()) for path in files])
    assert isinstance(outcomes, list)
    _, in_process_s = timed(lambda: [ingest_file(path) for path in files])
    ok = [o for o in outcomes if o.report is not None]
    print(f"{len(ok)} of {len(files)} parsed; slowest {max(o.seconds for o in outcomes):.2f} s, "
          f"highest worker peak {max(o.peak_mb or 0 for o in outcomes):.0f} MB "
          f"(limits: {ParseLimits().timeout_s:g} s, {ParseLimits().memory_mb} MB)")
    print(f"all {len(files)} in workers: {bounded_s:.2f} s; in this process (unbounded): {in_process_s:.2f} s; "
          f"ratio {bounded_s / in_process_s:.2f}")


# --- damaged indexes ----------------------------------------------------------------------


def bench_damage(work: Path) -> None:
    print("== damaged index states ==")
    corpus = corpus_of(work / "damage-corpus", [SEED_FILE])
    base = work / "damage-base"
    build_index(Settings(corpus_dir=corpus, index_dir=base))
    expected = results(base)
    clear = repaired = 0
    for state, (damage, served) in sorted(DAMAGES.items()):
        index = work / f"damage-{state}"
        shutil.copytree(base, index)
        damage(index)
        try:
            ok_read = results(index) == expected and not served
        except AssistantError as err:
            ok_read = served and "assistant build" in str(err) and bool(_CJK.search(str(err)))
        except Exception as err:  # a traceback is what this counts against
            print(f"  {state}: unexpected {type(err).__name__}: {err}")
            ok_read = False
        try:
            summary, seconds = timed(lambda i=index: build_index(Settings(corpus_dir=corpus, index_dir=i)))
            ok_build = results(index) == expected
        except Exception as err:
            print(f"  {state}: build failed: {type(err).__name__}: {err}")
            ok_build, seconds = False, 0.0
        clear += ok_read
        repaired += ok_build
        print(f"  {state:32} read: {'clear' if ok_read else 'BAD':5}  build: {'repaired' if ok_build else 'BAD'} "
              f"in {seconds:.1f} s")
    print(f"damaged states: {clear} of {len(DAMAGES)} clear message (or still served), "
          f"{repaired} of {len(DAMAGES)} repaired by a build")


# --- real full disks ----------------------------------------------------------------------


def bench_diskfull(work: Path) -> None:
    print("== real full disk (tmpfs) ==")
    mount = work / "tmpfs"
    mount.mkdir()
    size_mb = 64
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        print("cannot mount tmpfs here (needs root): skipped")
        return
    try:
        corpus = corpus_of(mount / "corpus", [SEED_FILE])
        index = mount / "index"
        build_index(Settings(corpus_dir=corpus, index_dir=index))
        expected = results(index)
        corpus_of(corpus, GOOD[1:])
        full = clear = 0
        for free_kb in (8, 64, 256, 1024, 2048):
            filler = mount / "filler"
            stat = os.statvfs(mount)
            free = stat.f_bavail * stat.f_frsize
            with open(filler, "wb") as handle:
                handle.write(b"\0" * max(0, free - free_kb * 1024))
            try:
                build_index(Settings(corpus_dir=corpus, index_dir=index))
                outcome = "built (the space was enough)"
            except DiskFullError as err:
                outcome = "clear DiskFullError" if "磁盘空间不足" in str(err) else f"unclear: {err}"
            except Exception as err:
                outcome = f"UNCLEAR {type(err).__name__}: {err}"
            filler.unlink()
            if outcome.startswith("built"):
                print(f"  {free_kb:5} KB free: {outcome}")
                break
            full += 1
            leftovers = list((index / "builds").glob(".tmp-*"))
            served = results(index) == expected
            clear += outcome.startswith("clear") and not leftovers and served
            print(f"  {free_kb:5} KB free: {outcome}; temporary folders left: {len(leftovers)}; "
                  f"old index served: {served}")
        after = build_index(Settings(corpus_dir=corpus, index_dir=index))
        print(f"real full disk: {clear} of {full} builds that hit it gave the clear message, left no temporary "
              f"folder and kept the old index serving; after freeing space the build indexed {after.reports} reports")
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


# --- SIGKILL soak -------------------------------------------------------------------------


def bench_sigkill(work: Path, trials: int) -> None:
    print("== SIGKILL during builds ==")
    corpus = corpus_of(work / "kill-corpus", [SEED_FILE])
    base = work / "kill-base"
    cache = work / "kill-warm-cache"
    build_index(Settings(corpus_dir=corpus, index_dir=base, cache_dir=cache))
    expected = results(base)
    corpus_of(corpus, GOOD[1:4])
    clean = work / "kill-clean"
    build_index(Settings(corpus_dir=corpus, index_dir=clean, cache_dir=cache))
    want_after = results(clean)
    cmd = [sys.executable, "-m", "assistant", "build", "--corpus", str(corpus), "--quiet"]
    cold = work / "kill-timing-cache"
    probe = work / "kill-probe"
    shutil.copytree(base, probe)
    _, full_s = timed(lambda: subprocess.run([*cmd, "--index", str(probe)], cwd=ROOT, check=True,
                                             env={**os.environ, "ASSISTANT_CACHE_DIR": str(cold)},
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    print(f"an uninterrupted build (cold cache) takes {full_s:.1f} s; killing at 5 points across it")
    rng = random.Random(12)
    served = equal = finished = total = 0
    for trial in range(trials):
        for point in (0.05, 0.25, 0.5, 0.75, 0.95):
            total += 1
            index = work / f"kill-{trial}-{point}"
            shutil.copytree(base, index)
            cold_cache = work / f"kill-cache-{trial}-{point}"
            delay = full_s * point * rng.uniform(0.9, 1.1)
            process = subprocess.Popen([*cmd, "--index", str(index)], cwd=ROOT,
                                       env={**os.environ, "ASSISTANT_CACHE_DIR": str(cold_cache)},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            process.wait()
            now = results(index)
            if now == want_after:
                finished += 1  # the build had switched before the kill: the new index, complete
                served += 1
            elif now == expected:
                served += 1
            build_index(Settings(corpus_dir=corpus, index_dir=index, cache_dir=cold_cache))
            equal += results(index) == want_after and not list((index / "builds").glob(".tmp-*"))
            shutil.rmtree(index)
            shutil.rmtree(cold_cache, ignore_errors=True)
    print(f"SIGKILL at 5 points x {trials} trials: {served} of {total} left a complete index serving "
          f"(old, or new where the switch had happened: {finished}); {equal} of {total} next builds equal to a "
          f"clean build with no temporary folders left")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["real", "attacks", "damage", "diskfull", "sigkill"])
    parser.add_argument("--kill-trials", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="reliability-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        parts: dict[str, Callable[[], None]] = {
            "real": bench_real,
            "attacks": lambda: bench_attacks(work),
            "damage": lambda: bench_damage(work),
            "diskfull": lambda: bench_diskfull(work),
            "sigkill": lambda: bench_sigkill(work, args.kill_trials),
        }
        for name, run in parts.items():
            if args.only in (None, name):
                started = time.perf_counter()
                run()
                print(f"({name}: {time.perf_counter() - started:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
