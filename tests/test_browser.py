"""The demo page in a real browser: Debian's headless Chromium driven by Playwright, against the
demo served over the fakes (tests/browser/fake_demo.py) on a free localhost port.

Checks a three-turn conversation with its annotations and plot, that a reload restores the
session, the crisis verdict, the error messages, the backend switch to an unreachable server, the
character editor and a phone-sized viewport; no browser console errors anywhere. Screenshots go to
test-artifacts/ (look at them).

Needs ``apt-get install -y chromium`` (the ``playwright`` package, not its browser download).
Run: ``.venv/bin/pytest -m browser tests/test_browser.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("KINDRED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]
TIMEOUT_MS = 30_000

if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo over the fakes, in its own process; yields its URL."""
    port, home = _free_port(), tmp_path_factory.mktemp("kindred-home")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.browser.fake_demo", "--port", str(port),
                             "--home", str(home)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, lines = time.monotonic() + 120, []
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail("the demo server exited:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("READY "):
                break
        else:
            pytest.fail("the demo server did not start in 120 s:\n" + "".join(lines))
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A browser tab on the demo that records console errors and failed requests."""

    def __init__(self, browser, url: str, *, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.url = url

    def open(self, url: str | None = None) -> None:
        self.page.goto(url or self.url)
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_selector("#kd-message textarea")
        # The load event has filled the character picker when the plot is drawn.
        self.page.wait_for_selector("#kd-plot img")
        self.page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')")

    def bot_messages(self) -> list[str]:
        return [t.strip() for t in self.page.locator("#kd-chat [data-testid='bot']").all_inner_texts()]

    def user_messages(self) -> list[str]:
        return [t.strip() for t in self.page.locator("#kd-chat [data-testid='user']").all_inner_texts()]

    def send(self, text: str, expect_reply: str | None = None) -> None:
        before = len(self.bot_messages())
        box = self.page.locator("#kd-message textarea")
        box.fill(text)
        box.press("Enter")
        if expect_reply is not None:
            self.page.locator("#kd-chat [data-testid='bot']").nth(before).filter(
                has_text=expect_reply).wait_for()
            # the turn is over when the caption stops saying "perceiving…"
            self.page.locator("#kd-mind-caption").filter(has_text="click another").wait_for()
            self.page.wait_for_function("() => !document.querySelector('.eta-bar')")

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    page = Page(browser, server)
    yield page
    page.close()
    assert not page.errors, "browser console errors:\n" + "\n".join(page.errors)


def test_three_turn_conversation_annotations_plot_and_reload(tab):
    tab.open()
    turns = [("I feel so sad today", "sad"),
             ("My sister moved away and I miss her", "content"),
             ("Talking helps, thank you", "content")]
    for text, emotion in turns:
        tab.send(text, expect_reply=f"I hear you: {text}")
        assert emotion in tab.text("#kd-emotion")
        cause = tab.text("#kd-cause")  # the fake cause finder marks the first 20 characters
        assert text[:20] in cause and "cause" in cause.lower()
    assert tab.user_messages() == [t for t, _ in turns]
    assert "Question" in tab.text("#kd-strategy") and "exploration" in tab.text("#kd-strategy")
    assert "no crisis" in tab.text("#kd-safety")
    assert tab.page.locator("#kd-plot img").count() == 1
    assert "now feels" in tab.text("#kd-feeling")
    assert "Turn 3" in tab.text("#kd-mind-caption")
    session = re.search(r"[?&]session=([\w-]+)", tab.page.url)
    assert session, f"the session id is not in the URL: {tab.page.url}"
    tab.shot("desktop-three-turns")

    # the second turn's annotations: the fake memory recalled the sister experience
    tab.page.locator("#kd-chat [data-testid='user']").nth(1).click()
    tab.page.locator("#kd-mind-caption").filter(has_text="Turn 2").wait_for()
    assert "sister" in tab.text("#kd-memories")

    tab.page.reload()
    tab.ready()
    tab.page.locator("#kd-chat [data-testid='user']").nth(2).wait_for()
    assert tab.user_messages() == [t for t, _ in turns]
    assert tab.bot_messages()[-1] == f"I hear you: {turns[-1][0]}"
    assert session.group(1) in tab.page.url
    assert "Question" in tab.text("#kd-strategy")
    assert "3 turns" in tab.page.locator("#kd-sessions input").input_value()
    tab.shot("desktop-after-reload")


def test_crisis_is_flagged_and_bad_input_is_reported(tab):
    tab.open()
    tab.send("KILL_SWITCH", expect_reply="988")
    crisis = tab.page.locator("#kd-safety [data-testid='crisis']")
    crisis.wait_for()
    assert "Crisis detected" in crisis.inner_text()
    tab.shot("desktop-crisis")

    tab.send("   ")
    tab.page.locator("#kd-status [role='alert']").filter(has_text="empty").wait_for()
    tab.send("x" * 4001)
    tab.page.locator("#kd-status [role='alert']").filter(has_text="too long").wait_for()
    assert len(tab.bot_messages()) == 1  # nothing was added by the refused messages
    tab.shot("desktop-errors")


def test_unreachable_backend_is_reported(tab):
    tab.open()
    tab.page.get_by_role("tab", name="Backend").click()
    tab.page.locator("#kd-backend").get_by_label("openai").check()
    tab.page.locator("#kd-base-url textarea, #kd-base-url input").first.fill("http://127.0.0.1:9/v1")
    tab.page.locator("#kd-connect").click()
    status = tab.page.locator("#kd-backend-status [role='alert']")
    status.filter(has_text="Unreachable").wait_for()
    assert "127.0.0.1:9" in status.inner_text() and "Still using" in status.inner_text()
    tab.shot("desktop-backend-unreachable")
    # the chat still works on the previous backend
    tab.page.get_by_role("tab", name="Conversation").click()
    tab.send("still there?", expect_reply="I hear you: still there?")


def test_character_editor_saves_a_new_character(tab):
    tab.open()
    tab.page.get_by_role("tab", name="Character").click()
    assert tab.page.locator("#kd-ed-name textarea, #kd-ed-name input").first.input_value() == "Ada"
    tab.page.locator("#kd-ed-new").click()
    tab.page.locator("#kd-ed-status").filter(has_text="Fill in the new character").wait_for()
    tab.page.locator("#kd-ed-name textarea, #kd-ed-name input").first.fill("Bo")
    tab.page.locator("#kd-ed-profile textarea").fill("A cheerful baker.")
    tab.page.locator("#kd-ed-experiences textarea").fill("proud: I won the village bake-off")
    tab.page.locator("#kd-ed-save").click()
    tab.page.locator("#kd-ed-status").filter(has_text="Saved Bo").wait_for()
    assert tab.page.locator("#kd-character input").input_value() == "Bo"
    tab.shot("desktop-character-editor")
    tab.page.get_by_role("tab", name="Conversation").click()
    tab.send("I baked bread and I am proud", expect_reply="I hear you: I baked bread")
    assert "bake-off" in tab.text("#kd-memories")


def test_phone_viewport(browser, server):
    phone = Page(browser, server, width=390, height=844)
    try:
        phone.open()
        phone.send("I feel sad and alone", expect_reply="I hear you: I feel sad and alone")
        overflow = phone.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
        assert phone.page.locator("#kd-send").is_visible()
        assert "sad" in phone.text("#kd-emotion")
        phone.page.locator("#kd-plot img").scroll_into_view_if_needed()
        phone.shot("phone-390x844")
        assert not phone.errors, "browser console errors:\n" + "\n".join(phone.errors)
    finally:
        phone.close()
