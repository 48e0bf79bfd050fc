"""The dashboard in a real browser: the real command starts a real server on a free
port against real state files, and headless Chromium opens the fleet, opens a rollout,
vetoes its pending advance with the action token, and the history file records it;
without the token the button is not there.

Skipped, with the reason, when the dashboard extra, Playwright or Chromium is missing;
``.ci/run`` installs all three (Chromium from Debian: ``playwright install`` is never
used) and sets ``QUANT_ROLLOUT_REQUIRE_BROWSER``, which turns the skip into a
failure. Screenshots go to ``$QUANT_ROLLOUT_SCREENSHOTS`` when set, else to the test's
temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from quant_rollout.storage.history import read_history

sys.path.insert(0, str(Path(__file__).parent))
from _dashboard_world import World, build_killed, build_world

SRC = Path(__file__).resolve().parent.parent / "src"
TOKEN = "a-long-random-action-token-for-the-browser-test"
CHROMIUM = (
    os.environ.get("QUANT_ROLLOUT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)


def _missing() -> Optional[str]:
    if importlib.util.find_spec("streamlit") is None:
        return "the dashboard extra is not installed: pip install -e '.[dashboard-test]'"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: pip install -e '.[dashboard-test]'"
    if not Path(CHROMIUM).is_file():
        return (
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set QUANT_ROLLOUT_CHROMIUM)"
        )
    return None


REQUIRED = bool(os.environ.get("QUANT_ROLLOUT_REQUIRE_BROWSER"))
"""Set by .ci/run: there, a missing browser or extra is a failure, not a skip."""

pytestmark = pytest.mark.skipif(_missing() is not None and not REQUIRED, reason=str(_missing()))


@pytest.fixture(autouse=True)
def _required() -> None:
    if REQUIRED and _missing() is not None:
        pytest.fail(f"QUANT_ROLLOUT_REQUIRE_BROWSER is set but {_missing()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Server:
    """``quant-rollout dashboard`` as a child process, stopped by its own PID."""

    def __init__(self, args: List[str], log: Path, env: dict) -> None:  # type: ignore[type-arg]
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quant_rollout", "dashboard", *args, "--port", str(self.port)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the dashboard exited ({self.proc.returncode}):\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.2)  # polling a child process's readiness, not timing a result
        pytest.fail(f"the dashboard did not answer /_stcore/health:\n{self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._out.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QUANT_ROLLOUT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def worlds(tmp_path: Path) -> List[World]:
    return [build_world(tmp_path / "polybot"), build_killed(tmp_path / "sniper")]


def _serve(tmp_path: Path, worlds: List[World], token_file: Optional[Path], name: str) -> _Server:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("QUANT_ROLLOUT_DASHBOARD_TOKEN", None)
    env.pop("QUANT_ROLLOUT_NOW", None)
    args = [str(w.config) for w in worlds]
    for w in worlds:
        args += ["--trades", f"{w.config.stem}={w.trades}"]
    args += ["--name", "browser", "--refresh", "3"]
    if token_file is not None:
        args += ["--token-file", str(token_file)]
    server = _Server(args, tmp_path / f"{name}.log", env)
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield b
        finally:
            b.close()


def _no_exception(page: Any) -> None:
    shown = page.get_by_test_id("stException")
    if shown.count():
        pytest.fail(f"a Python exception is shown on the page:\n{shown.first.inner_text()}")


def _open_rollout(page: Any, url: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.get_by_role("heading", name="Rollouts")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("veto pending: → 2 (full_size)")).to_be_visible()
    _no_exception(page)
    page.get_by_role("button", name=f"Open {key}").click()
    expect(page.get_by_role("heading", name=key)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=30_000)
    _no_exception(page)


def test_veto_from_a_browser_with_the_token(
    tmp_path: Path, worlds: List[World], browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    polybot = worlds[0]
    events = len(read_history(polybot.history))
    server = _serve(tmp_path, worlds, token_file, "with-token")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.url)
        expect(page.get_by_role("heading", name="Rollouts")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("killed: kill switch latched")).to_be_visible()
        expect(page.get_by_text("veto pending: → 2 (full_size)")).to_be_visible()
        _no_exception(page)
        page.screenshot(path=str(shots / "fleet.png"))

        _open_rollout(page, server.url, "polybot")
        # The token is configured but not typed: no veto button.
        expect(page.get_by_text("Type the action token in the sidebar")).to_be_visible()
        assert page.get_by_role("button", name="Veto the pending advance").count() == 0

        page.get_by_label("Action token").fill(TOKEN)
        page.get_by_label("Action token").press("Enter")
        expect(page.get_by_text("actions unlocked")).to_be_visible(timeout=30_000)
        veto = page.get_by_role("button", name="Veto the pending advance")
        expect(veto).to_be_visible(timeout=30_000)
        page.get_by_label("Note, recorded in the history with your action").fill(
            "spreads too wide tonight"
        )
        page.get_by_label("Note, recorded in the history with your action").press("Enter")
        page.set_viewport_size({"width": 1280, "height": 1900})
        expect(page.get_by_text("hash chain verified: 8 events")).to_be_visible()
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2)
        for table in page.get_by_test_id("stDataFrame").all():
            expect(table.locator("canvas").first).to_be_attached()
        page.screenshot(path=str(shots / "rollout.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

        veto.click()
        expect(page.get_by_text("vetoed").first).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Veto the pending advance")).to_have_count(0)
        _no_exception(page)
        page.screenshot(path=str(shots / "vetoed.png"))
        history = read_history(polybot.history)
        assert len(history) == events + 1
        last = history[-1]
        assert (last.event, last.actor, last.note) == (
            "veto",
            "dashboard:browser",
            "spreads too wide tonight",
        )

        # Another visitor, who does not have the token, gets no button.
        other = browser.new_context().new_page()
        other.goto(server.url + "/?rollout=sniper")
        expect(other.get_by_role("heading", name="sniper")).to_be_visible(timeout=30_000)
        expect(other.get_by_text("Type the action token in the sidebar")).to_be_visible()
        assert other.get_by_role("button", name="Clear the kill switch").count() == 0
        _no_exception(other)
    finally:
        server.stop()
    assert len(read_history(polybot.history)) == events + 1


def test_without_a_token_the_browser_gets_a_read_only_page(
    tmp_path: Path, worlds: List[World], browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    polybot = worlds[0]
    before = polybot.history.read_bytes()
    server = _serve(tmp_path, worlds, None, "read-only")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _open_rollout(page, server.url, "polybot")
        expect(page.get_by_text("Read-only: no action token is configured")).to_be_visible()
        assert page.get_by_role("button", name="Veto the pending advance").count() == 0
        assert page.get_by_label("Action token").count() == 0
        page.screenshot(path=str(shots / "read-only.png"))
    finally:
        server.stop()
    assert polybot.history.read_bytes() == before
    # Stopping the command's PID stopped the server it started (SIGTERM passed on).
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", server.port))
