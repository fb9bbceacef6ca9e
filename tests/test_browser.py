"""End to end: `streamlit run serve.py` (the app, with the index opened as the server starts) served on a
free port, driven by headless Chromium via selenium.

The server is started from the repository root without settings flags, so the project's
.streamlit/config.toml is what it runs with (as with `make run`). Screenshots of the chat, the reports
page and the staff page are written to artifacts/ (the PNGs are committed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from assistant.config import Settings
from assistant.index.build import build_index

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
SEED = REPO_ROOT / "corpus" / "longquan-2020.txt"
SAMPLES = REPO_ROOT.parent / "shared" / "samples"
SEED_TITLE = "龙泉市2020年政府信息公开工作年度报告"
QINGHE_TITLE = "青禾县人民政府办公室2021年政府信息公开工作年度报告"
QUESTION = "龙泉市2020年办理了多少件政府信息公开申请？"
PASSWORD = "browser test password"
# Streamlit's own English that the public could see; the app hides or replaces each of them
ENGLISH = ("Deploy", "Press Enter", "Drag and drop", "per file", "Browse files", "Running...", "Stop",
           "Rerun", "Clear cache", "Settings", "Record a screencast", "Made with Streamlit")
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


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    corpus: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    """The app on a free port over a freshly built index (the seed, whose tables were lost, and one sample
    with tables), with the staff page enabled; always terminated afterwards."""
    if not SAMPLES.is_dir():
        pytest.fail(f"shared/samples not found beside the repository at {SAMPLES}")
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    shutil.copy(SAMPLES / "qinghe-county-2021.html", corpus / "qinghe-county-2021.html")
    cache_plugin = getattr(request.config, "cache", None)
    cache = Path(cache_plugin.mkdir("app-test-embeddings")) if cache_plugin else root / "cache"
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", cache_dir=cache)
    build_index(settings)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_ADMIN_PASSWORD"}
    env.update(ASSISTANT_INDEX_DIR=str(settings.index_dir), ASSISTANT_CORPUS_DIR=str(corpus),
               ASSISTANT_CACHE_DIR=str(cache), ASSISTANT_ADMIN_PASSWORD=PASSWORD)
    log = root / "streamlit.log"
    with open(log, "wb") as log_handle:  # headless, usage statistics and toolbar: from .streamlit/config.toml
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
            cwd=REPO_ROOT, env=env, stdout=log_handle, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process, log)
        yield Server(url, log, corpus)
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


def _waiter(driver: WebDriver) -> WebDriverWait[WebDriver]:
    """Waits that retry while Streamlit re-renders the element being looked at."""
    return WebDriverWait(driver, 180, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,))


def _body(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").text)


def _english_shown(driver: WebDriver) -> list[str]:
    """Streamlit's English strings that are on screen (text drawn at font-size 0 is not)."""
    shown = driver.execute_script(
        """
        const out = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
          const el = walker.currentNode.parentElement;
          const style = getComputedStyle(el);
          if (el.offsetParent !== null && parseFloat(style.fontSize) > 0 && style.visibility !== 'hidden')
            out.push(walker.currentNode.textContent);
        }
        return out.join('\\n');
        """
    )
    return [word for word in ENGLISH if word in shown]


def _after_content(driver: WebDriver, element: WebElement) -> str:
    return str(driver.execute_script("return getComputedStyle(arguments[0], '::after').content;", element))


def _go(driver: WebDriver, wait: WebDriverWait[WebDriver], page: str) -> None:
    choice = f'//*[@data-testid="stSidebar"]//label[.//p[text()="{page}"]]'
    wait.until(lambda d: d.find_element(By.XPATH, choice)).click()
    wait.until(lambda d: any(h.text == page for h in d.find_elements(By.CSS_SELECTOR, "h1, h2")))


def _screenshot(driver: WebDriver, name: str) -> None:
    time.sleep(1.0)  # let expanders and charts finish drawing
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / name))


def test_chat_answers_with_a_citation_in_chromium(server: Server, browser: WebDriver) -> None:
    browser.get(server.url)
    wait = _waiter(browser)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    assert "试试这些问题" in _body(browser)
    assert "更新于" in _body(browser)  # the sidebar shows when the index was updated, not its version id
    box.send_keys(QUESTION)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stChatMessage"] [data-testid="stExpander"]'))
    answer = _assistant_messages(browser)[-1]
    assert "15" in answer
    assert SEED_TITLE in answer  # the citation's expander label
    assert "\\" not in answer  # markdown escapes are interpreted, not shown
    expander = browser.find_element(By.CSS_SELECTOR, '[data-testid="stChatMessage"] [data-testid="stExpander"] summary')
    expander.click()
    wait.until(lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, '[data-testid="stDownloadButton"]')
                          if b.is_displayed() and "下载原文件" in b.text])
    _screenshot(browser, "browser-chat.png")


def test_streamlit_is_private_and_chinese(server: Server, browser: WebDriver) -> None:
    browser.get(server.url)
    wait = _waiter(browser)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    assert "Collecting usage statistics" not in server.log.read_text(errors="replace")
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAppDeployButton"]')
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMainMenu"]')  # no developer menu
    assert not _english_shown(browser)
    _go(browser, wait, "检索")
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stTextInput"] input'))
    box.send_keys("政府信息公开申请 办理")  # typed, not yet applied: Streamlit would say "Press Enter to apply"
    time.sleep(0.5)
    assert not _english_shown(browser)
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: "共 5 条结果" in _body(d))
    assert "相关度" not in _body(browser).replace("按相关度列出", "")
    assert not _english_shown(browser)


def test_a_long_paste_is_answered_with_a_note(server: Server, browser: WebDriver) -> None:
    browser.get(server.url)
    wait = _waiter(browser)
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'))
    pasted = QUESTION + "附上报告原文：" + " ".join(SEED.read_text(encoding="utf-8").split())[:700]
    browser.execute_script(  # a paste, as the clipboard delivers it (send_keys would type key by key)
        """
        const box = arguments[0], data = new DataTransfer();
        data.setData('text/plain', arguments[1]);
        box.focus();
        box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        """, box, pasted)
    if len(box.get_attribute("value") or "") < len(pasted):  # the browser did not insert it: type it
        box.clear()
        box.send_keys(pasted)
    assert box.get_attribute("value") == pasted  # nothing was dropped at 500 characters
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: len(_assistant_messages(d)) == 1 and "正在查找" not in _assistant_messages(d)[0])
    assert f"问题过长（共 {len(pasted)} 字），已截取前 500 字进行查询。" in _body(browser)
    assert _assistant_messages(browser)[0].strip()


def test_reports_page_in_chromium(server: Server, browser: WebDriver) -> None:
    browser.get(server.url)
    wait = _waiter(browser)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]'))
    _go(browser, wait, "报告库")
    wait.until(lambda d: QINGHE_TITLE in _body(d) and "符合模板的勾稽关系" in _body(d) and "下载 CSV" in _body(d))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '.st-key-report_choice input[role="combobox"]')).click()
    option = wait.until(lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, '[role="option"]') if o.text == SEED_TITLE])
    option[0].click()
    wait.until(lambda d: any(h.text == SEED_TITLE for h in d.find_elements(By.CSS_SELECTOR, "h3")))

    def alerts(driver: WebDriver) -> list[str]:
        return [a.text for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]')]

    wait.until(lambda d: "符合模板的勾稽关系" not in " ".join(alerts(d)))  # the previous report's run is gone
    time.sleep(1.0)
    notes = alerts(browser)
    assert len(notes) == 1 and "第二、三、四部分的表格缺失" in notes[0], notes  # one note, not six warnings
    assert "table missing" not in _body(browser) and "没有可提取的表格数据" not in _body(browser)
    assert not _english_shown(browser)
    _screenshot(browser, "browser-reports.png")


def test_staff_page_in_chromium(server: Server, browser: WebDriver, tmp_path: Path) -> None:
    browser.get(server.url)
    wait = _waiter(browser)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]'))
    _go(browser, wait, "管理")
    password = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type="password"]'))
    password.send_keys(PASSWORD)
    time.sleep(0.5)
    assert not _english_shown(browser)  # no "Press Enter to submit form"
    assert "输入密码后按回车键" in _body(browser)
    password.send_keys(Keys.ENTER)
    dropzone = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stFileUploaderDropzone"]'))
    label = dropzone.find_element(By.CSS_SELECTOR, 'button [data-testid="stMarkdownContainer"] p')
    assert _after_content(browser, label) == '"选择文件"'
    hint = dropzone.find_element(By.CSS_SELECTOR, '[data-testid="stFileUploaderDropzoneInstructions"] span')
    assert _after_content(browser, hint).startswith('"或把文件拖放到这里。每个文件不超过 50 MB')
    assert not _english_shown(browser)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    files = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stFileUploaderDropzoneInput"]'))
    files.send_keys(f"{SAMPLES / 'lanxi-city-2021.txt'}\n{broken}")
    wait.until(lambda d: "已保存为 lanxi-city-2021.txt" in _body(d) and "broken.pdf" in _body(d))
    time.sleep(1.0)
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stFileUploaderFile"]')  # emptied
    assert any("broken.pdf" in a.text for a in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]'))
    assert sorted(p.name for p in server.corpus.iterdir()) == sorted(
        [SEED.name, "qinghe-county-2021.html", "lanxi-city-2021.txt"])  # the broken file was not kept
    assert not _english_shown(browser)
    _screenshot(browser, "browser-staff.png")
