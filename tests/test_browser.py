"""End to end: `streamlit run app.py` served on a free port, driven by headless Chromium via selenium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from assistant.config import Settings
from assistant.index.build import build_index

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
SEED = REPO_ROOT / "corpus" / "longquan-2020.txt"
SEED_TITLE = "龙泉市2020年政府信息公开工作年度报告"
QUESTION = "龙泉市2020年办理了多少件政府信息公开申请？"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "Chromium/ChromeDriver missing: run `bash scripts/install-browser.sh` (make test does)."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer {url}/_stcore/health within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """The app on a free port over a freshly built seed index; always terminated afterwards."""
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    cache_plugin = getattr(request.config, "cache", None)
    cache = Path(cache_plugin.mkdir("app-test-embeddings")) if cache_plugin else root / "cache"
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=cache)
    build_index(settings)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_ADMIN_PASSWORD"}
    env.update(ASSISTANT_INDEX_DIR=str(settings.index_dir), ASSISTANT_CORPUS_DIR=str(corpus),
               ASSISTANT_CACHE_DIR=str(cache))
    log = root / "streamlit.log"
    with open(log, "wb") as log_handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO_ROOT, env=env, stdout=log_handle, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(INSTALL_HINT)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                     "--window-size=1400,1800", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as err:
        pytest.fail(f"{INSTALL_HINT}\n{err}")
    try:
        yield driver
    finally:
        driver.quit()


def _assistant_messages(driver: WebDriver) -> list[str]:
    messages = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"]')
    return [m.text for m in messages if m.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessageAvatarAssistant"]')]


def test_chat_answers_with_a_citation_in_chromium(server: str, browser: WebDriver) -> None:
    browser.get(server)
    wait = WebDriverWait(browser, 180, poll_frequency=0.5)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    assert "试试这些问题" in browser.find_element(By.TAG_NAME, "body").text
    box.send_keys(QUESTION)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"] [data-testid="stExpander"]'))
    answer = _assistant_messages(browser)[-1]
    assert "15" in answer
    assert SEED_TITLE in answer  # the citation's expander label
    assert "\\" not in answer  # markdown escapes are interpreted, not shown
    expander = browser.find_element(By.CSS_SELECTOR, '[data-testid="stChatMessage"] [data-testid="stExpander"] summary')
    expander.click()
    download = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stDownloadButton"]'))
    wait.until(lambda d: download.is_displayed())
    time.sleep(1.0)  # let the expander finish opening before the screenshot
    assert "下载原文件" in download.text
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "browser-chat.png"))
