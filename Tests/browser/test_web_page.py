"""Browser test of the web page at / (Sources/MirrorGANServer/Resources/index.html).

Starts the real server, drives the page in headless Chromium (Debian's chromium + chromium-driver) and checks:
generation at 1280x900 and 375x800 (256x256 images, re-description, R-precision), attention maps, captioning of
an uploaded PNG and of a JPEG (converted to PNG by the page), no console errors, and no request to another origin.
Saves a screenshot of the desktop page after generating to docs/images/web_page.png.

Environment:
  MIRRORGAN_BIN         server binary (default .build/release/mirrorgan)
  MIRRORGAN_WEIGHTS     model directory (default Weights/synthbirds)
  MIRRORGAN_SCREENSHOT  where to save the screenshot (default docs/images/web_page.png; empty: none)
  CHROMIUM_BIN, CHROMEDRIVER_BIN  browser and driver (default /usr/bin/chromium, /usr/bin/chromedriver)

Run: make test-browser   (or: training/.venv/bin/python -m pytest -v Tests/browser)
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from selenium import webdriver  # installed by `make browser-deps`; a missing driver must fail, not skip
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MIRRORGAN_BIN") or os.path.join(ROOT, ".build", "release", "mirrorgan")
WEIGHTS = os.environ.get("MIRRORGAN_WEIGHTS") or os.path.join(ROOT, "Weights", "synthbirds")
SCREENSHOT = os.environ.get("MIRRORGAN_SCREENSHOT", os.path.join(ROOT, "docs", "images", "web_page.png"))
FIXTURE_PNG = os.path.join(os.path.dirname(__file__), "fixtures", "bird.png")
READY_TIMEOUT = 120
INFERENCE_TIMEOUT = 120
CAPTION = "this bird has a red crown and a white belly"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


@pytest.fixture(scope="module")
def server():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"server binary {BIN} not found: build it (swift build -c release) or set MIRRORGAN_BIN")
    if not os.path.isdir(WEIGHTS):
        pytest.fail(f"model directory {WEIGHTS} not found: set MIRRORGAN_WEIGHTS")
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="mirrorgan-browser-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [BIN, "serve", "--host", "127.0.0.1", "--port", str(port), "--weights", WEIGHTS, "--threads", "2"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"

    def tail():
        with open(log.name, errors="replace") as f:
            return f.read()[-4000:]

    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited with status {proc.returncode}:\n{tail()}")
        try:
            if _http_get(base + "/readyz", timeout=2)[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server not ready after {READY_TIMEOUT} s:\n{tail()}")
        time.sleep(0.25)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("server did not stop within 30 s of SIGTERM")
    log.close()
    os.unlink(log.name)
    assert proc.returncode == 0, f"server exited with status {proc.returncode} after SIGTERM"


@pytest.fixture(scope="module")
def driver():
    chromium = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    opts = Options()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Explicit driver path: Selenium Manager is not consulted (no download).
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


# ---------- helpers ----------

def set_viewport(drv, width, height):
    """Makes the page's viewport width x height CSS pixels (DevTools device emulation: Chrome windows cannot be
    narrower than 500 px; below 500 px the page is emulated as a mobile one)."""
    drv.set_window_size(max(width, 500), height)
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def open_page(drv, base, width, height):
    set_viewport(drv, width, height)
    drv.get(base + "/")
    WebDriverWait(drv, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
    drv.get_log("browser")  # start each check with an empty console log
    assert "MirrorGAN" in drv.title


def console_errors(drv):
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def foreign_requests(drv, base):
    """Resource URLs not on the server's origin (data: and blob: URLs are local)."""
    origin = urlsplit(base)
    urls = drv.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name));")
    bad = []
    for u in urls:
        p = urlsplit(u)
        if p.scheme in ("data", "blob"):
            continue
        if (p.scheme, p.hostname, p.port) != (origin.scheme, origin.hostname, origin.port):
            bad.append(u)
    return urls, bad


def clear_results(drv):
    drv.execute_script("document.getElementById('results').textContent = '';")


def generate(drv, caption, n, attention, seed=None):
    clear_results(drv)
    box = drv.find_element(By.ID, "caption")
    box.clear()
    box.send_keys(caption)
    n_input = drv.find_element(By.ID, "n")
    n_input.clear()
    n_input.send_keys(str(n))
    seed_input = drv.find_element(By.ID, "seed")
    seed_input.clear()
    if seed is not None:
        seed_input.send_keys(str(seed))
    check = drv.find_element(By.ID, "attention")
    if check.is_selected() != attention:
        check.click()
    drv.find_element(By.ID, "generate").click()
    # The progress indicator shows while the request runs.
    WebDriverWait(drv, 10).until(lambda d: d.find_element(By.ID, "gen-status").is_displayed()
                                 or d.find_elements(By.CSS_SELECTOR, "#results .card"))
    wait_for_cards(drv, n)


def wait_for_cards(drv, n):
    script = """
      const cards = [...document.querySelectorAll('#results .card')];
      return cards.map(c => {
        const img = c.querySelector('img.generated');
        return {w: img ? img.naturalWidth : 0, h: img ? img.naturalHeight : 0, complete: img ? img.complete : false,
                cw: img ? img.getBoundingClientRect().width : 0,
                redescription: (c.querySelector('.redescription') || {}).textContent || '',
                seed: (c.querySelector('.seed') || {}).textContent || '',
                rp: (c.querySelector('.rprecision') || {}).textContent || ''};
      });"""

    def ready(d):
        err = d.find_element(By.ID, "gen-error").text.strip()
        if err:
            raise AssertionError(f"the page shows an error: {err}")
        cards = d.execute_script(script)
        if len(cards) == n and all(c["complete"] and c["w"] == 256 and c["h"] == 256 and c["redescription"].strip()
                                   for c in cards):
            return cards
        return False

    try:
        return WebDriverWait(drv, INFERENCE_TIMEOUT, poll_frequency=0.25).until(ready)
    except TimeoutException:
        pytest.fail(f"no {n} generated image(s) within {INFERENCE_TIMEOUT} s; page: "
                    f"{drv.find_element(By.ID, 'results-section').text[:500]}")


def upload_and_wait(drv, path):
    drv.find_element(By.ID, "file").send_keys(path)

    def done(d):
        err = d.find_element(By.ID, "cap-error").text.strip()
        if err:
            raise AssertionError(f"the page shows an error: {err}")
        out = d.find_element(By.ID, "cap-out")
        text = d.find_element(By.ID, "cap-text").text.strip()
        return text if out.is_displayed() and text else False

    try:
        return WebDriverWait(drv, INFERENCE_TIMEOUT, poll_frequency=0.25).until(done)
    except TimeoutException:
        pytest.fail(f"no caption within {INFERENCE_TIMEOUT} s")


def check_clean(drv, base):
    errors = console_errors(drv)
    assert not errors, f"console errors: {json.dumps(errors, indent=1)}"
    urls, bad = foreign_requests(drv, base)
    assert not bad, f"requests to other origins: {bad}"
    assert any(u.endswith("/v1/images/generations") or u.endswith("/v1/captions") for u in urls), urls


def save_full_page_screenshot(drv, path, width):
    height = drv.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    set_viewport(drv, width, min(max(height, 600), 3000))
    time.sleep(0.3)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert drv.save_screenshot(path), f"could not save {path}"


# ---------- tests ----------

def test_root_serves_the_page(server):
    status, ctype, body = _http_get(server + "/")
    assert status == 200
    assert ctype.startswith("text/html"), f"GET / answered {ctype}: is index.html in the resource bundle?"
    html = body.decode()
    assert "<title>" in html and "/v1/images/generations" in html
    # Self-contained: nothing loaded from another host.
    for needle in ("http://", "https://"):
        assert needle not in html.lower(), f"index.html mentions {needle!r}"


def test_generate_desktop_with_attention(server, driver):
    open_page(driver, server, 1280, 900)
    generate(driver, CAPTION, n=2, attention=True, seed=42)
    cards = wait_for_cards(driver, 2)
    assert [c["seed"] for c in cards] == ["42", "43"]
    for c in cards:
        assert c["cw"] == 256, "the image is not shown at its natural 256 px"
        assert "rank" in c["rp"] and "of 100" in c["rp"] and "cosine" in c["rp"], c["rp"]
        assert "✓" in c["rp"] or "✗" in c["rp"]
    # One attention map per caption word, labelled and drawn.
    words = driver.execute_script("""
      return [...document.querySelectorAll('#results .card')].map(c =>
        [...c.querySelectorAll('.att span')].map(s => s.textContent));""")
    assert words == [CAPTION.split()] * 2, words
    WebDriverWait(driver, 10).until(lambda d: all(all(x["drawn"]) for x in d.execute_script("""
      return [...document.querySelectorAll('#results .card')].map(c => ({drawn: [...c.querySelectorAll('.att canvas')]
        .map(cv => { const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
                     let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s > 0; })}));""")))
    # Pressing a word overlays its map on the image; pressing again hides it.
    first = driver.find_element(By.CSS_SELECTOR, "#results .card .att")
    first.click()
    overlay = driver.find_element(By.CSS_SELECTOR, "#results .card canvas.overlay")
    WebDriverWait(driver, 5).until(lambda d: overlay.is_displayed())
    assert first.get_attribute("aria-pressed") == "true"
    first.click()
    WebDriverWait(driver, 5).until(lambda d: not overlay.is_displayed())
    # Keyboard: Enter in the caption box submits (n=1, no attention).
    driver.find_element(By.ID, "n").clear()
    driver.find_element(By.ID, "n").send_keys("1")
    driver.find_element(By.ID, "attention").click()
    clear_results(driver)
    box = driver.find_element(By.ID, "caption")
    box.clear()
    box.send_keys("a small yellow bird with black wings and a short black beak")
    box.send_keys(Keys.ENTER)
    cards = wait_for_cards(driver, 1)
    assert not driver.find_elements(By.CSS_SELECTOR, "#results .att")
    # Screenshot for the README: generated with attention maps on, at desktop width.
    generate(driver, CAPTION, n=3, attention=True, seed=7)
    upload_and_wait(driver, FIXTURE_PNG)
    check_clean(driver, server)
    if SCREENSHOT:
        driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
        save_full_page_screenshot(driver, SCREENSHOT, 1280)
        set_viewport(driver, 1280, 900)


def test_unknown_words_and_errors_are_shown(server, driver):
    open_page(driver, server, 1280, 900)
    generate(driver, "this bird has a zyzzyvaqq crown", n=1, attention=False, seed=1)
    info = driver.find_element(By.ID, "results-info").text
    assert "zyzzyvaqq" in info, info
    # A caption with no known word: the server's 422 message is shown (Chrome logs the failed request itself
    # as a console error, which is expected here, so the log is not checked).
    box = driver.find_element(By.ID, "caption")
    box.clear()
    box.send_keys("qwertyuiop asdfghjkl")
    driver.find_element(By.ID, "generate").click()
    WebDriverWait(driver, INFERENCE_TIMEOUT).until(lambda d: d.find_element(By.ID, "gen-error").text.strip())
    err = driver.find_element(By.ID, "gen-error").text
    assert "Error" in err and "422" in err, err
    driver.get_log("browser")


def test_caption_upload_png_and_jpeg(server, driver, tmp_path):
    open_page(driver, server, 1280, 900)
    caption = upload_and_wait(driver, FIXTURE_PNG)
    assert caption.strip("“”\"").strip(), caption
    assert "PNG 192×192" in driver.find_element(By.ID, "cap-meta").text
    Image = pytest.importorskip("PIL.Image")
    jpeg = tmp_path / "bird.jpg"
    Image.open(FIXTURE_PNG).convert("RGB").save(jpeg, quality=90)
    driver.execute_script("document.getElementById('cap-out').hidden = true;"
                          "document.getElementById('cap-text').textContent = '';")
    caption = upload_and_wait(driver, str(jpeg))
    assert caption.strip("“”\"").strip()
    assert "→ PNG 192×192" in driver.find_element(By.ID, "cap-meta").text, "the JPEG was not converted to PNG"
    check_clean(driver, server)


def test_mobile_width(server, driver):
    open_page(driver, server, 375, 800)
    width = driver.execute_script("return window.innerWidth")
    assert width == 375, f"viewport is {width} px wide"
    generate(driver, "this bird is blue with a white throat and a long tail", n=1, attention=True)
    cards = wait_for_cards(driver, 1)
    assert cards[0]["cw"] == 256
    overflow = driver.execute_script("""
      const w = document.documentElement.clientWidth;
      const out = [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && (r.right > w + 0.5 || r.left < -0.5) && getComputedStyle(e).position !== 'absolute';
      }).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
      return {scroll: document.documentElement.scrollWidth, width: w, out: out.slice(0, 10)};""")
    assert overflow["scroll"] <= overflow["width"], f"horizontal overflow at 375 px: {overflow}"
    assert not overflow["out"], f"elements past the right edge at 375 px: {overflow}"
    check_clean(driver, server)
    if SCREENSHOT:
        save_full_page_screenshot(driver, os.path.join(tempfile.gettempdir(), "web_page_375.png"), 375)
        set_viewport(driver, 1280, 900)


def test_controls_are_labelled_and_announced(server, driver):
    open_page(driver, server, 1280, 900)
    unlabelled = driver.execute_script("""
      return [...document.querySelectorAll('input, textarea, select, button')].filter(e =>
        !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim())).map(e => e.outerHTML);""")
    assert not unlabelled, f"controls without an accessible name: {unlabelled}"
    assert driver.find_element(By.ID, "results-section").get_attribute("aria-live") == "polite"
    assert driver.find_element(By.ID, "gen-error").get_attribute("role") == "alert"
    assert driver.find_element(By.ID, "cap-error").get_attribute("role") == "alert"
    # Focus is visible: the focused control gets an outline.
    driver.find_element(By.ID, "caption").send_keys(Keys.TAB)
    outline = driver.execute_script("const e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle];")
    assert outline[1] != "none", f"no focus outline on {outline[0]}"
    check_errors = console_errors(driver)
    assert not check_errors, check_errors
