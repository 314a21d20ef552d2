"""The Gradio demo in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver. Uploads a generated WAV and reads the transcript, synthesises a
sentence and gets audio back, checks a bad input gets a message in the page and that the page
fetches nothing from beyond 127.0.0.1. A screenshot per tab goes to $SPEECHZOO_ARTIFACTS
(default: a pytest temporary folder)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver; .ci/run installs them)", allow_module_level=True)
pytest.importorskip("gradio", reason="the demo needs `pip install speechzoo[demo]`")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

import speechzoo  # noqa: E402
from speechzoo.text.espeak import synthesize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WAIT = 120  # seconds for a model to load and run on a busy machine


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SPEECHZOO_ARTIFACTS") or tmp_path_factory.mktemp("demo"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def demo_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "speechzoo.cli", "demo", "--port", str(port),
                             "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the demo did not start: {proc.stdout.read()[-2000:]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    log = proc.communicate(timeout=30)[0]
    # Gradio logs the messages it shows (gr.Error) with their tracebacks; nothing else failed.
    assert log.count("Traceback") == log.count("gradio.exceptions.Error:"), log[-3000:]


@pytest.fixture(scope="module")
def browser(demo_url):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1400", "--no-first-run", "--disable-extensions",
                 "--disable-background-networking", "--disable-component-update"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.get(demo_url)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "asr-run"))
    yield driver
    driver.quit()


def _requested(driver) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _tab(driver, name: str) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']"):
        if button.text.strip() == name:
            button.click()
            return
    raise AssertionError(f"no tab {name!r}")


def _upload(driver, elem_id: str, path: Path) -> None:
    field = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type='file']")
    field.send_keys(str(path))
    # The player appears once the upload is done.
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, f"#{elem_id} audio, #{elem_id} .waveform-container, "
        f"#{elem_id} [data-testid='waveform-Speech (upload or record)']"))


def test_speech_recognition_tab(browser, demo_url, artifacts, tmp_path):
    import soundfile as sf

    speech = synthesize("the quick brown fox jumps over the lazy dog")
    wav = tmp_path / "fox.wav"
    sf.write(wav, speech.waveform, speech.sample_rate)
    expected = speechzoo.load("ds2-en", device="cpu").transcribe(str(wav))
    _tab(browser, "Speech recognition")
    _upload(browser, "asr-audio", wav)
    browser.find_element(By.ID, "asr-run").click()
    box = browser.find_element(By.CSS_SELECTOR, "#asr-text textarea")
    WebDriverWait(browser, WAIT).until(lambda d: box.get_attribute("value"))
    assert box.get_attribute("value") == expected
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                                 "#asr-plot img"))
    browser.save_screenshot(str(artifacts / "demo-asr.png"))


def test_text_to_speech_tab(browser, demo_url, artifacts):
    import soundfile as sf

    _tab(browser, "Text to speech")
    box = browser.find_element(By.CSS_SELECTOR, "#tts-text textarea")
    box.clear()
    box.send_keys("Hello from the demo.")
    browser.find_element(By.ID, "tts-run").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                                 "#tts-plot img"))
    link = WebDriverWait(browser, WAIT).until(lambda d: [
        a for a in d.find_elements(By.CSS_SELECTOR, "#tts-audio a[download]")
        if (a.get_attribute("href") or "").startswith(demo_url)])
    with urllib.request.urlopen(link[0].get_attribute("href"), timeout=30) as r:
        audio, rate = sf.read(io.BytesIO(r.read()))
    assert rate == 22050 and len(audio) > rate // 2  # half a second of speech at least
    browser.save_screenshot(str(artifacts / "demo-tts.png"))


def test_pronunciation_tab(browser, artifacts):
    if "g2p" not in speechzoo.available_models().values():
        pytest.skip("no G2P bundle is installed (g2p-en): the demo hides its tab")
    expected = speechzoo.load("g2p-en", device="cpu").phonemize("brillig")
    _tab(browser, "Pronunciation")
    box = browser.find_element(By.CSS_SELECTOR, "#g2p-text textarea")
    box.clear()
    box.send_keys("Speech brillig speech")
    browser.find_element(By.ID, "g2p-run").click()
    WebDriverWait(browser, WAIT).until(lambda d: "brillig" in d.find_element(
        By.ID, "g2p-table").text)
    table = browser.find_element(By.ID, "g2p-table").text
    assert " ".join(expected) in table  # the network's beam-5 answer, as the API gives it
    assert table.count("speech") == 1  # one row per distinct word, lower-cased
    browser.save_screenshot(str(artifacts / "demo-g2p.png"))


def test_piano_tab(browser, demo_url, artifacts, tiny_piano_corpus):
    import pretty_midi

    from speechzoo.data.manifest import read_manifest

    if "piano" not in speechzoo.available_models().values():
        pytest.skip("no piano bundle is installed (onsets-frames): the demo hides its tab")
    piece = Path(read_manifest(tiny_piano_corpus / "test.jsonl")[0]["audio_filepath"])
    expected = speechzoo.load("onsets-frames", device="cpu").transcribe(str(piece))
    _tab(browser, "Piano transcription")
    field = browser.find_element(By.CSS_SELECTOR, "#piano-audio input[type='file']")
    field.send_keys(str(piece))
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                               "#piano-audio audio"))
    browser.find_element(By.ID, "piano-run").click()
    link = WebDriverWait(browser, WAIT).until(lambda d: [
        a for a in d.find_elements(By.CSS_SELECTOR, "#piano-midi a")
        if (a.get_attribute("href") or "").startswith(demo_url)])
    with urllib.request.urlopen(link[0].get_attribute("href"), timeout=30) as r:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(r.read()))
    # The upload reaches the model through Gradio's audio handling (re-encoded), so a few
    # near-threshold notes may differ from the direct call; most must match.
    got = {(n.pitch, round(n.start, 1)) for i in midi.instruments for n in i.notes}
    want = {(n.pitch, round(n.start, 1)) for i in expected.instruments for n in i.notes}
    assert want and len(got & want) >= 0.8 * len(want)
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                                 "#piano-roll img"))
    browser.save_screenshot(str(artifacts / "demo-piano.png"))


def test_bad_input_gets_a_message_in_the_page(browser):
    _tab(browser, "Text to speech")
    box = browser.find_element(By.CSS_SELECTOR, "#tts-text textarea")
    box.clear()
    box.send_keys("   ")
    browser.find_element(By.ID, "tts-run").click()
    WebDriverWait(browser, 30).until(lambda d: "Type some text to speak" in d.find_element(
        By.TAG_NAME, "body").text)
    assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text


def test_nothing_is_fetched_from_the_network(browser, demo_url):
    browser.get(demo_url)  # a fresh load, after the tabs above
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "asr-run"))
    time.sleep(1)
    outside = [u for u in _requested(browser)
               if not u.startswith((demo_url, "data:", "blob:", "ws://127.0.0.1"))]
    assert not outside, outside
