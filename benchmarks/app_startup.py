"""App cold start and first-answer time: the app's own first chat answer after `streamlit run`, in Chromium.

Two server entries are timed in the same run, alternately: `streamlit run app.py` (the baseline: the
index is opened when the first visitor arrives) and `streamlit run serve.py` (the index is opened and
warmed as the server starts). Figures, each measured in a fresh process so that nothing is warm:

1. server: each entry on a free port until /_stcore/health answers;
2. api: import + Assistant.open + the first ask (loads the encoder), then a second, warm ask;
3. apptest: the app's first script run (index and encoder load) and its first chat answer, via AppTest,
   timed from the start of its process;
4. browser (the target, <= 5 s): headless Chromium (already running, as a visitor's browser is) opens the
   page the moment the server is healthy, types the question as soon as the chat box is shown and waits
   for the answer with its citation; timed from spawning the server, with the server's RSS after the
   answer; serve.py's time as a ratio of app.py's. Needs /usr/bin/chromium and chromedriver
   (scripts/install-browser.sh); skipped with a note when they are missing;
5. late visitor: the same, the page opened --late seconds (10) after the server is healthy, timed from
   opening the page: what serve.py's preload saves a visitor who comes once the server has settled.

    .venv/bin/python benchmarks/app_startup.py [--index index] [--corpus corpus] [--repeat 3] [--late 10] [--json]

When --index holds no built index, a temporary one is built from --corpus first (its time is shown too).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "龙泉市2020年办理了多少件政府信息公开申请？"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FOLLOW_UP = "2020年龙泉市在政府网站上主动公开了多少条信息？"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(index_dir: Path, corpus_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ASSISTANT_INDEX_DIR=str(index_dir), ASSISTANT_CORPUS_DIR=str(corpus_dir))
    return env


ENTRIES = ("app.py", "serve.py")  # the baseline first


def spawn_server(entry: str, index_dir: Path, corpus_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / entry), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return subprocess.Popen(command, cwd=ROOT, env=app_env(index_dir, corpus_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(process: subprocess.Popen[bytes], port: int, started: float, timeout: float = 180.0) -> float:
    """Seconds from `started` until /_stcore/health returns 200."""
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"streamlit did not become healthy within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def time_server_start(entry: str, index_dir: Path, corpus_dir: Path) -> float:
    """Seconds from spawning `streamlit run ENTRY` until /_stcore/health returns 200."""
    port = free_port()
    started = time.perf_counter()
    process = spawn_server(entry, index_dir, corpus_dir, port)
    try:
        return wait_healthy(process, port, started)
    finally:
        stop(process)


def rss_mb(pid: int) -> dict[str, float]:
    """A process's resident memory in MB, all and anonymous (from /proc/PID/smaps_rollup)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            fields[name] = int(rest.split()[0]) / 1024
    return {"rss": fields.get("Rss", 0.0), "anon": fields.get("Anonymous", 0.0)}


def time_browser_answer(entry: str, index_dir: Path, corpus_dir: Path, arrive_after: float = 0.0) -> dict[str, Any] | None:
    """The app's first chat answer in Chromium, timed from spawning the server, the page opened `arrive_after`
    seconds after the server is healthy (None without Chromium)."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        return None
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory(prefix="app-startup-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                         "--window-size=1400,1800", f"--user-data-dir={profile}"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        port = free_port()
        try:
            started = time.perf_counter()
            process = spawn_server(entry, index_dir, corpus_dir, port)
            try:
                healthy = wait_healthy(process, port, started)
                time.sleep(arrive_after)
                opened = time.perf_counter() - started
                driver.get(f"http://127.0.0.1:{port}")
                wait = WebDriverWait(driver, 300, poll_frequency=0.05,
                                     ignored_exceptions=(StaleElementReferenceException,))
                box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
                shown = time.perf_counter() - started
                box.send_keys(QUESTION)
                box.send_keys(Keys.ENTER)
                typed = time.perf_counter() - started
                wait.until(lambda d: d.find_elements(
                    By.CSS_SELECTOR, '[data-testid="stChatMessage"] [data-testid="stExpander"]'))
                answered = time.perf_counter() - started
                texts = [m.text for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')]
                memory = rss_mb(process.pid)
            finally:
                stop(process)
        finally:
            driver.quit()
    return {"server_healthy_s": healthy, "page_opened_s": opened, "chat_box_shown_s": shown, "question_sent_s": typed,
            "first_answer_s": answered, "answer_after_sending_s": answered - typed,
            "answer_after_opening_s": answered - opened,
            "answer_has_15": any("15" in t for t in texts[1:]), "server_rss_mb": memory["rss"],
            "server_anon_mb": memory["anon"]}


# --- measured in child processes (cold) -----------------------------------------------------


def child_api(index_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    from assistant.api import Assistant
    from assistant.config import load_settings

    imported = time.perf_counter()
    settings = load_settings(index_dir=index_dir)
    assistant = Assistant.open(index_dir, settings)
    opened = time.perf_counter()
    first = assistant.ask(QUESTION)
    answered = time.perf_counter()
    assistant.ask(FOLLOW_UP)
    warm = time.perf_counter()
    return {
        "import_s": imported - started, "open_s": opened - imported, "first_ask_s": answered - opened,
        "warm_ask_s": warm - answered, "total_to_first_answer_s": answered - started,
        "first_answer_found": first.found, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_apptest() -> dict[str, Any]:
    started = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    first_run = time.perf_counter()
    if at.exception:
        raise SystemExit(f"app raised: {at.exception}")
    at.chat_input(key="chat_input").set_value(QUESTION).run()
    answered = time.perf_counter()
    texts = [m.value for msg in at.chat_message if msg.name == "assistant" for m in msg.markdown]
    return {
        "first_run_s": first_run - started, "first_answer_s": answered - first_run,
        "total_to_first_answer_s": answered - started, "answer_has_15": any("15" in t for t in texts),
    }


def run_child(kind: str, index_dir: Path, corpus_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--index", str(index_dir), "--corpus", str(corpus_dir)],
        cwd=ROOT, env=app_env(index_dir, corpus_dir), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{result.stderr[-2000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


# --- main -----------------------------------------------------------------------------------


def ensure_index(index_dir: Path, corpus_dir: Path, workdir: Path) -> tuple[Path, float | None]:
    """The index to serve, building a temporary one from corpus_dir when index_dir has none."""
    from assistant.config import load_settings
    from assistant.errors import IndexMissingError
    from assistant.index.build import build_index
    from assistant.index.layout import live_build_dir

    try:
        live_build_dir(index_dir)
        return index_dir, None
    except IndexMissingError:
        pass
    temp_index = workdir / "index"
    print(f"{index_dir} 中没有索引，从 {corpus_dir} 建立临时索引 {temp_index} …", file=sys.stderr)
    started = time.perf_counter()
    build_index(load_settings(index_dir=temp_index, corpus_dir=corpus_dir, cache_dir=workdir))
    return temp_index, time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def median_run(runs: list[dict[str, Any]], figure: str) -> dict[str, Any]:
    """The browser run with the median value of `figure`, with every run's value added as runs_s."""
    middle = median([r[figure] for r in runs])
    return {**min(runs, key=lambda r: abs(r[figure] - middle)), "runs_s": [r[figure] for r in runs]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None, help="built index (default: ASSISTANT_INDEX_DIR or index/)")
    parser.add_argument("--corpus", type=Path, default=None, help="report folder (default: ASSISTANT_CORPUS_DIR or corpus/)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="server starts and browser sessions to time per entry (median reported)")
    parser.add_argument("--late", type=float, default=10.0,
                        help="also time a visitor who opens the page this many seconds after the server is "
                             "healthy (0: not)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", choices=["api", "apptest"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        measured = child_api(args.index) if args.child == "api" else child_apptest()
        print(json.dumps(measured))
        return 0

    from assistant.config import load_settings

    settings = load_settings()
    index_dir = (args.index or settings.index_dir).resolve()
    corpus_dir = (args.corpus or settings.corpus_dir).resolve()
    repeat = max(1, args.repeat)
    with tempfile.TemporaryDirectory(prefix="app-startup-") as tmp:
        index_dir, build_seconds = ensure_index(index_dir, corpus_dir, Path(tmp))
        server: dict[str, list[float]] = {entry: [] for entry in ENTRIES}
        for _ in range(repeat):  # the entries alternate, so a change in the machine's load hits both
            for entry in ENTRIES:
                server[entry].append(time_server_start(entry, index_dir, corpus_dir))
        api = run_child("api", index_dir, corpus_dir)
        apptest = run_child("apptest", index_dir, corpus_dir)
        runs: dict[str, list[dict[str, Any]]] = {entry: [] for entry in ENTRIES}
        late_runs: dict[str, list[dict[str, Any]]] = {entry: [] for entry in ENTRIES}
        for _ in range(repeat):
            for entry in ENTRIES:
                for found, arrive_after in ((runs, 0.0), (late_runs, args.late)):
                    if found is late_runs and args.late <= 0:
                        continue
                    timed = time_browser_answer(entry, index_dir, corpus_dir, arrive_after)
                    if timed:
                        found[entry].append(timed)
    browser = {entry: median_run(found, "first_answer_s") for entry, found in runs.items() if found}
    late = {entry: median_run(found, "answer_after_opening_s") for entry, found in late_runs.items() if found}
    figures = {
        "index": str(index_dir),
        "temporary_index_build_s": build_seconds,
        "server_health_s": {entry: {"median": median(times), "runs": times} for entry, times in server.items()},
        "api": api,
        "apptest": apptest,
        "browser": browser or None,
        "browser_first_answer_ratio_serve_to_app": (
            browser["serve.py"]["first_answer_s"] / browser["app.py"]["first_answer_s"] if browser else None),
        "late_visitor_after_s": args.late if late else None,
        "browser_late_visitor": late or None,
        "late_visitor_answer_ratio_serve_to_app": (
            late["serve.py"]["answer_after_opening_s"] / late["app.py"]["answer_after_opening_s"] if late else None),
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0
    print(f"索引：{index_dir}" + (f"（临时建立，用时 {build_seconds:.1f} 秒）" if build_seconds else ""))
    for entry, times in server.items():
        print(f"服务冷启动（streamlit run {entry} 到 /_stcore/health 就绪）：中位数 {median(times):.2f} 秒，"
              f"各次 {', '.join(f'{t:.2f}' for t in times)}")
    print(f"进程内：导入 {api['import_s']:.2f} 秒，Assistant.open {api['open_s']:.2f} 秒，"
          f"首次回答 {api['first_ask_s']:.2f} 秒（含加载编码器），再次回答 {api['warm_ask_s']:.2f} 秒；"
          f"从启动到首个回答共 {api['total_to_first_answer_s']:.2f} 秒，峰值内存 {api['max_rss_mb']:.0f} MB")
    print(f"AppTest：首次运行页面 {apptest['first_run_s']:.2f} 秒，首个聊天回答 {apptest['first_answer_s']:.2f} 秒，"
          f"合计 {apptest['total_to_first_answer_s']:.2f} 秒（回答含 15：{'是' if apptest['answer_has_15'] else '否'}）")
    if not browser:
        print("浏览器：未找到 Chromium/ChromeDriver（运行 bash scripts/install-browser.sh），未测量应用的首个聊天回答。")
        return 0
    for entry, run in browser.items():
        print(f"浏览器 streamlit run {entry}（Chromium，中位数一次；各次首个回答 "
              f"{', '.join(f'{t:.2f}' for t in run['runs_s'])} 秒）：服务就绪 {run['server_healthy_s']:.2f} 秒，"
              f"聊天框出现 {run['chat_box_shown_s']:.2f} 秒，首个聊天回答 {run['first_answer_s']:.2f} 秒"
              f"（发送后 {run['answer_after_sending_s']:.2f} 秒；回答含 15：{'是' if run['answer_has_15'] else '否'}）；"
              f"回答后服务进程内存 {run['server_rss_mb']:.0f} MB（其中匿名 {run['server_anon_mb']:.0f} MB）")
    print(f"serve.py 与 app.py 之比（首个聊天回答，中位数）：{figures['browser_first_answer_ratio_serve_to_app']:.2f}")
    for entry, run in late.items():
        print(f"浏览器 streamlit run {entry}，服务就绪 {args.late:.0f} 秒后才打开页面（中位数一次；各次从打开页面到首个回答 "
              f"{', '.join(f'{t:.2f}' for t in run['runs_s'])} 秒）：聊天框在打开后 "
              f"{run['chat_box_shown_s'] - run['page_opened_s']:.2f} 秒出现，首个聊天回答在打开后 "
              f"{run['answer_after_opening_s']:.2f} 秒（发送后 {run['answer_after_sending_s']:.2f} 秒）")
    if late:
        print(f"serve.py 与 app.py 之比（晚到的访客，从打开页面到首个回答）：{figures['late_visitor_answer_ratio_serve_to_app']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
