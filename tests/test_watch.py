"""Tests of quant_rollout.tools.watch: alerts through Apprise to a local HTTP endpoint.

The endpoint is a real HTTP server on 127.0.0.1 started by the test; Apprise posts to
it with its ``json://`` notifier, so every alert goes through the real library and a
real socket. Restarts are real processes, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from _endpoint import Endpoint
from quant_rollout import Gate, KillSwitch, Rollout, Stage, TradeOutcome
from quant_rollout.clock import ManualClock
from quant_rollout.errors import AlertError, HistoryError
from quant_rollout.storage.history import read_history
from quant_rollout.tools.watch import (
    ALERTS_ENV,
    Alert,
    Cursor,
    alert_for,
    apprise_sender,
    cursor_path_for,
    read_cursor,
    urls_from_env,
    watch,
)

pytest.importorskip("apprise")

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------- a rollout


class Bot:
    """A real rollout on disk, driven through every kind of event."""

    def __init__(self, folder: Path) -> None:
        self.clock = ManualClock("2026-05-01T12:00:00Z")
        self.rollout = Rollout(
            [
                Stage(0, {"size": 1.0}),
                Stage(1, {"size": 2.0}, gate=Gate(min_n=3), name="canary"),
                Stage(2, {"size": 3.0}, gate=Gate(min_n=3)),
            ],
            KillSwitch(wr_lookback=5, wr_threshold=0.4),
            folder / "rollout_state.json",
            veto_window_seconds=600,
            clock=self.clock,
        )
        self.history = folder / "rollout_state.history.jsonl"
        self.wins = [
            TradeOutcome(pnl=1.0, size=5.0, timestamp=f"2026-05-01T11:0{i}:00Z") for i in range(3)
        ]

    def every_event(self) -> None:
        """start, veto_open, veto_expired, pause, resume, kill, clear_kill, promote, reset."""
        self.rollout.tick(self.wins)
        self.clock.advance(700)
        self.rollout.tick(self.wins)
        self.rollout.pause(note="waiting for the CPI print", actor="ana")
        self.rollout.resume(actor="ana")
        losses = [
            TradeOutcome(pnl=-1.0, size=5.0, timestamp=f"2026-05-01T12:3{i}:00Z") for i in range(5)
        ]
        self.clock.advance(60)
        self.rollout.tick(self.wins + losses)
        self.rollout.clear_kill_switch(note="checked the feed", actor="bo")
        self.rollout.promote(1, note="by hand", actor="bo")
        self.rollout.reset(note="start over", actor="bo")

    def more(self, count: int) -> None:
        for i in range(count):
            self.rollout.pause(note=f"pause {i}", actor="cy")
            self.rollout.resume(actor="cy")


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    return Bot(tmp_path)


# --------------------------------------------------------------------------- wording


def test_each_event_is_worded_with_its_reason_deadline_and_operator(bot: Bot) -> None:
    bot.every_event()
    alerts = {r.event: alert_for(r, "btc-bot") for r in read_history(bot.history)}

    assert alerts["kill"].level == "failure"
    assert alerts["kill"].title == "[btc-bot] KILLED at stage 1 -> 0"
    assert "Why: win_rate(5)=0.000 < 0.400" in alerts["kill"].body
    assert alerts["veto_open"].level == "warning"
    # Opened at 12:00 with a 600 s window.
    assert (
        alerts["veto_open"].title
        == "[btc-bot] Advance to stage 1 pending until 2026-05-01 12:10:00Z"
    )
    assert "quant-rollout veto" in alerts["veto_open"].body
    assert alerts["veto_expired"].title == "[btc-bot] Advanced: stage 0 -> 1"
    assert alerts["pause"].title == "[btc-bot] Paused by ana: stage 1 -> 1"
    assert "Note: waiting for the CPI print" in alerts["pause"].body
    assert alerts["promote"].title == "[btc-bot] Promoted by bo: stage 0 -> 1"
    assert alerts["reset"].title == "[btc-bot] Reset by bo: stage 1 -> 0"
    assert alerts["clear_kill"].title == "[btc-bot] Kill switch cleared by bo: stage 0 -> 0"
    for alert in alerts.values():
        assert f"hash {alert.line_hash[:12]}" in alert.body


# --------------------------------------------------------------------------- once


def test_once_sends_every_event_in_order_then_nothing_twice(bot: Bot, endpoint: Endpoint) -> None:
    bot.every_event()
    send = apprise_sender([endpoint.url])

    first = watch(bot.history, send)
    second = watch(bot.history, send)

    assert [a.seq for a in first.sent] == list(range(1, 10))
    assert endpoint.seqs() == list(range(1, 10))
    assert second.sent == ()
    assert first.failed is None
    assert endpoint.bodies[5]["type"] == "failure"  # the kill
    assert endpoint.bodies[5]["title"].startswith("[rollout_state] KILLED")
    cursor = read_cursor(cursor_path_for(bot.history))
    assert cursor == Cursor(9, read_history(bot.history)[-1].line_hash, None)


def test_a_failed_send_stops_there_and_is_retried(bot: Bot, endpoint: Endpoint) -> None:
    bot.every_event()
    send = apprise_sender([endpoint.url])
    endpoint.fail_next = 0
    watch(bot.history, send)  # 1..9 delivered
    bot.more(2)  # 10..13
    endpoint.fail_next = 1

    failed = watch(bot.history, send)

    assert failed.sent == ()
    assert failed.failed is not None
    assert failed.failed.seq == 10
    assert read_cursor(cursor_path_for(bot.history)) == failed.cursor
    assert failed.cursor == Cursor(9, failed.cursor.line_hash, sending=None)
    retried = watch(bot.history, send)
    assert [a.seq for a in retried.sent] == [10, 11, 12, 13]
    assert not any(a.repeat for a in retried.sent)
    assert endpoint.seqs() == list(range(1, 14))


def test_from_end_skips_what_is_there_then_sends_what_comes(bot: Bot) -> None:
    bot.every_event()
    got: List[int] = []

    def send(alert: Alert) -> bool:
        got.append(alert.seq)
        return True

    assert watch(bot.history, send, from_end=True).sent == ()
    bot.more(1)
    watch(bot.history, send, from_end=True)  # a cursor exists now: from_end changes nothing
    assert got == [10, 11]


def test_a_torn_last_line_waits_until_it_is_complete(bot: Bot) -> None:
    bot.every_event()
    complete = bot.history.read_bytes()
    lines = complete.split(b"\n")
    bot.history.write_bytes(b"\n".join(lines[:8]) + b"\n" + lines[8][:40])
    got: List[int] = []

    def send(alert: Alert) -> bool:
        got.append(alert.seq)
        return True

    watch(bot.history, send)
    bot.history.write_bytes(complete)
    watch(bot.history, send)
    assert got == list(range(1, 10))


def test_no_history_yet_sends_nothing_and_waits(tmp_path: Path) -> None:
    report = watch(tmp_path / "rollout_state.history.jsonl", lambda alert: True)
    assert report.sent == ()
    assert report.cursor == Cursor()


# --------------------------------------------------------------------------- follow


def test_follow_polls_with_the_injected_sleep_and_retries_failures(bot: Bot) -> None:
    bot.every_event()
    polls: List[float] = []
    got: List[int] = []
    failures = {11}

    def send(alert: Alert) -> bool:
        if alert.seq in failures:
            failures.discard(alert.seq)
            return False
        got.append(alert.seq)
        return True

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            bot.more(1)  # 10, 11: 11 fails once, is retried on the next poll

    report = watch(
        bot.history, send, follow=True, interval=30, sleep=sleep, keep_going=lambda: len(polls) < 3
    )

    assert got == list(range(1, 12))
    assert polls == [30, 30, 30]
    assert report.failed is None
    assert report.cursor.seq == 11


# --------------------------------------------------------------------------- refusals


def test_a_replaced_history_is_refused_and_nothing_is_sent(bot: Bot, tmp_path: Path) -> None:
    bot.every_event()
    watch(bot.history, lambda alert: True)
    other = Bot(tmp_path / "other")
    other.rollout.tick(other.wins)
    other.rollout.pause(actor="x")
    other.rollout.resume(actor="x")
    bot.history.write_bytes(other.history.read_bytes())  # a different rollout's history
    sent: List[int] = []

    with pytest.raises(HistoryError, match=r"the history was replaced"):
        watch(bot.history, lambda alert: bool(sent.append(alert.seq)) or True)
    other.more(5)
    bot.history.write_bytes(other.history.read_bytes())
    with pytest.raises(HistoryError, match=r"its event 9 is a different one"):
        watch(bot.history, lambda alert: bool(sent.append(alert.seq)) or True)
    assert sent == []


def test_a_broken_chain_stops_before_the_broken_line(bot: Bot) -> None:
    bot.every_event()
    lines = bot.history.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[6] = lines[6].replace("checked the feed", "checked the food")
    bot.history.write_text("".join(lines), encoding="utf-8")
    got: List[int] = []

    with pytest.raises(HistoryError, match=r"line 8: the hash chain breaks here"):
        watch(bot.history, lambda alert: bool(got.append(alert.seq)) or True)
    assert got == []  # checked before the first send of the pass: nothing half-sent


def test_a_damaged_cursor_is_refused(bot: Bot) -> None:
    bot.every_event()
    cursor_path_for(bot.history).write_text('{"seq": "nine"}')

    with pytest.raises(HistoryError, match=r"is not a watch cursor"):
        watch(bot.history, lambda alert: True)


# --------------------------------------------------------------------------- apprise setup


def test_bad_urls_are_named_by_position_and_scheme_never_echoed(endpoint: Endpoint) -> None:
    secret = "tgram://123456:SECRET-TOKEN-abc/"
    with pytest.raises(AlertError) as info:
        apprise_sender([endpoint.url, "nosuchservice://user:SECRET-TOKEN-abc@host/"])
    assert "alert URL 2 (nosuchservice://...)" in str(info.value)
    assert "SECRET" not in str(info.value)
    with pytest.raises(AlertError, match=rf"no alert URL: set {ALERTS_ENV}"):
        apprise_sender([])
    assert urls_from_env({ALERTS_ENV: f"{secret}, {endpoint.url}\njson://x"}) == [
        secret,
        endpoint.url,
        "json://x",
    ]


def test_urls_from_an_apprise_config_file(tmp_path: Path, bot: Bot, endpoint: Endpoint) -> None:
    config = tmp_path / "alerts.txt"
    config.write_text(f"# where alerts go\n{endpoint.url}\n", encoding="utf-8")
    bot.rollout.tick(bot.wins)

    watch(bot.history, apprise_sender(config_file=config))

    assert endpoint.seqs() == [1, 2]
    with pytest.raises(AlertError, match=r"no such alert configuration file"):
        apprise_sender(config_file=tmp_path / "missing.txt")


def test_without_apprise_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(AlertError, match=r"pip install 'quant-rollout\[alerts\]'"):
        apprise_sender(["json://127.0.0.1:1/"])


# --------------------------------------------------------------------------- processes

WATCHER = """
import os, sys
from quant_rollout.tools.watch import apprise_sender, watch
history, url, mode = sys.argv[1], sys.argv[2], sys.argv[3]
send = apprise_sender([url])
if mode == "die-after-send":
    # Deliver, then die before the cursor records it: the window at-least-once covers.
    def send_then_die(alert, _send=send):
        delivered = _send(alert)
        if alert.seq == int(sys.argv[4]):
            os._exit(9)
        return delivered
    watch(history, send_then_die)
elif mode == "follow":
    watch(history, send, follow=True, interval=0.02, on_sent=lambda a: print(a.seq, flush=True))
else:
    watch(history, send)
"""


def run_watcher(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WATCHER, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )


def wait_for(condition: Any, what: str, limit: float = 60.0) -> None:
    """Wait for a real process to get somewhere (bounded; not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_killed_follower_restarted_delivers_every_event_exactly_once(
    bot: Bot, endpoint: Endpoint
) -> None:
    bot.every_event()  # 1..9
    follower = run_watcher(str(bot.history), endpoint.url, "follow")
    try:
        wait_for(lambda: len(endpoint.seqs()) >= 9, "the first nine alerts")
        cursor = cursor_path_for(bot.history)
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 9, "the cursor at 9")
        bot.more(2)  # 10..13 arrive while it follows
        wait_for(lambda: len(endpoint.seqs()) >= 13, "alerts 10..13")
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 13, "the cursor at 13")
    finally:
        follower.send_signal(signal.SIGKILL)
        follower.communicate(timeout=30)
    assert follower.returncode == -signal.SIGKILL
    bot.more(3)  # 14..19 happen while no watcher runs

    restarted = run_watcher(str(bot.history), endpoint.url, "follow")
    try:
        wait_for(lambda: len(endpoint.seqs()) >= 19, "alerts 14..19")
        wait_for(lambda: (read_cursor(cursor) or Cursor()).seq == 19, "the cursor at 19")
    finally:
        restarted.send_signal(signal.SIGKILL)
        restarted.communicate(timeout=30)

    assert endpoint.seqs() == list(range(1, 20))  # each exactly once, in order
    assert not any("Possibly sent before" in b["message"] for b in endpoint.bodies)


def test_death_between_send_and_record_resends_that_one_marked_as_repeat(
    bot: Bot, endpoint: Endpoint
) -> None:
    bot.every_event()
    dying = run_watcher(str(bot.history), endpoint.url, "die-after-send", "6")
    dying.communicate(timeout=60)
    assert dying.returncode == 9
    assert endpoint.seqs() == [1, 2, 3, 4, 5, 6]
    assert read_cursor(cursor_path_for(bot.history)) == Cursor(
        5, read_history(bot.history)[4].line_hash, sending=6
    )

    again = run_watcher(str(bot.history), endpoint.url, "once")
    _, errors = again.communicate(timeout=60)
    assert again.returncode == 0, errors[-2000:]

    # Nothing lost; only the event in flight at the crash came twice, and says so.
    assert endpoint.seqs() == [1, 2, 3, 4, 5, 6, 6, 7, 8, 9]
    assert "Possibly sent before" in endpoint.bodies[6]["message"]
    assert sum("Possibly sent before" in b["message"] for b in endpoint.bodies) == 1
