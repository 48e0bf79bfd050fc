"""Follow a rollout's history and send each new event where people read them.

:func:`watch` reads the history (the audit log a rollout appends one line to per
event) and hands every event it has not sent yet, in order, to a sender: normally
:func:`apprise_sender`, which posts it through `Apprise <https://github.com/caronc/apprise>`_
to Telegram, Slack, Discord, e-mail, a webhook... (the ``alerts`` extra:
``pip install 'quant-rollout[alerts]'``). ``quant-rollout watch`` runs it from a shell,
once (for cron) or following the file.

Each event becomes one :class:`Alert`: an advance, a veto window opening with the
time it closes, a kill with its reason, every operator action with who ran it and
their note.

What has been sent is remembered in a small **cursor** file, by default beside the
history (``<history>.watch-cursor.json``): the sequence number and hash of the last
event delivered. It is replaced atomically (a crash leaves the old or the new one),
so a watcher that is stopped, killed or rebooted carries on where it left off:

* no event is lost: an event is recorded as sent only after the sender said it was
  delivered; a failed send is retried (the next poll, or the next ``--once`` run),
  and events are never sent out of order;
* no event is repeated, with one exception that cannot be closed from this side: if
  the watcher dies after the channel accepted an event but before the cursor was
  replaced (a window of one file write), that event is sent again on restart. The
  cursor notes which event was in flight, so the repeat says "possibly sent before".
  This is at-least-once delivery; exactly-once would need the channel to drop
  duplicates, which Telegram, Slack or e-mail do not. Each alert carries its event's
  hash, so a webhook receiver can drop the repeat itself.
* with several channels (URLs), a send counts as delivered only if every channel
  took it; after a partial failure the event is sent again to all of them.

The cursor is checked against the history: if the event it names is not in the
history any more (the history was replaced, or the cursor belongs to another
rollout), nothing is sent and :class:`~quant_rollout.errors.HistoryError` says so;
the watcher never silently starts over. Delete the cursor to send the whole history
again, or start with ``from_end=True`` to skip what is there.

This module reads the history and writes only the cursor; it never takes the
rollout's lock, so it cannot slow the bot down.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._files import write_atomic
from ..errors import AlertError, HistoryError
from ..storage.history import GENESIS_HASH, HistoryRecord, parse_line

__all__ = [
    "ALERTS_ENV",
    "Alert",
    "Cursor",
    "Sender",
    "WatchReport",
    "alert_for",
    "apprise_sender",
    "cursor_path_for",
    "read_cursor",
    "urls_from_env",
    "watch",
]

ALERTS_ENV = "QUANT_ROLLOUT_ALERTS"
"""Environment variable holding the Apprise URLs to send to, separated by spaces,
commas or new lines (e.g. ``tgram://TOKEN/CHAT_ID``)."""

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Alert:
    """One history event, worded for a person.

    Attributes:
        seq: the event's sequence number in the history.
        event: the history's event name (``kill``, ``veto_open``, ``advance``...).
        level: ``"failure"`` (a kill), ``"warning"`` (a veto window opened, a pending
            advance dropped), ``"success"`` (an advance) or ``"info"``; Apprise's
            notification types have the same names.
        title: one short line, e.g. ``KILLED at stage 2 -> 0``.
        body: the details: the reason, the veto deadline, who did it and their note,
            when, and the event's hash.
        line_hash: SHA-256 of the event's line in the history (a receiver can drop a
            repeated alert by it).
        repeat: the watcher stopped while sending this event before, so it may have
            been delivered already.
    """

    seq: int
    event: str
    level: str
    title: str
    body: str
    line_hash: str
    repeat: bool = False


Sender = Callable[[Alert], bool]
"""Delivers one alert; returns True only when it was delivered."""


@dataclass(frozen=True)
class Cursor:
    """What the watcher has sent: the last event delivered and any event in flight.

    Attributes:
        seq: the last event delivered (0: none yet).
        line_hash: its hash (the genesis hash, all zeros, for none).
        sending: the event being sent when the cursor was last written, or None. Set
            just before a send and cleared once it returned: found set on start, it
            means the watcher died during that send.
    """

    seq: int = 0
    line_hash: str = GENESIS_HASH
    sending: Optional[int] = None

    def to_json(self) -> str:
        data = {
            "watch_cursor": CURSOR_VERSION,
            "seq": self.seq,
            "line_hash": self.line_hash,
            "sending": self.sending,
        }
        return json.dumps(data, indent=2) + "\n"


@dataclass(frozen=True)
class WatchReport:
    """What one :func:`watch` call did.

    Attributes:
        sent: the alerts delivered, in order.
        failed: the alert whose send failed (the watcher stopped there; it is retried
            next time), or None.
        cursor: the cursor as it was left.
    """

    sent: Tuple[Alert, ...]
    failed: Optional[Alert]
    cursor: Cursor


# ----------------------------------------------------------------------------- words

_OPERATOR_VERBS = {
    "veto": "Veto",
    "clear_kill": "Kill switch cleared",
    "promote": "Promoted",
    "pause": "Paused",
    "resume": "Resumed",
    "reset": "Reset",
    "accept_clock": "Clock accepted",
    "promote_arm": "Arm promoted",
    "change_weights": "Weights changed",
}


def _when(unix: object) -> Optional[str]:
    if isinstance(unix, bool) or not isinstance(unix, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(float(unix), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def alert_for(record: HistoryRecord, label: str = "rollout") -> Alert:
    """Word one history event as an alert; ``label`` names the rollout in the title."""
    state: Mapping[str, Any] = record.state
    moved = f"stage {record.from_stage} -> {record.to_stage}"
    details: List[str] = []
    level = "info"
    event = record.event
    if event == "kill":
        level = "failure"
        title = f"KILLED at stage {record.from_stage} -> {record.to_stage}"
        details.append(f"Why: {record.reason}")
        details.append("Clear it with: quant-rollout clear-kill --note '...'")
    elif event == "veto_open":
        level = "warning"
        target = state.get("advance_pending_to", record.to_stage)
        deadline = _when(state.get("advance_veto_deadline_unix"))
        title = f"Advance to stage {target} pending" + (f" until {deadline}" if deadline else "")
        details.append(f"Why: {record.reason}")
        if deadline:
            details.append(f"It lands at {deadline} unless vetoed: quant-rollout veto --note '...'")
    elif event in ("advance", "veto_expired"):
        level = "success"
        title = f"Advanced: {moved}"
        details.append(f"Why: {record.reason}")
    elif event == "advance_dropped":
        level = "warning"
        title = f"Pending advance dropped at stage {record.to_stage}"
        details.append(f"Why: {record.reason}")
    elif event == "drop_arm":
        level = "warning"
        who = f" by {record.actor}" if record.actor else ""
        title = f"Arm dropped{who} at stage {record.to_stage}"
        details.append(f"Why: {record.reason}")
        if record.note:
            details.append(f"Note: {record.note}")
    elif event == "srm_alarm":
        level = "failure"
        title = f"Experiment STOPPED at stage {record.to_stage}: the split is broken"
        details.append(f"Why: {record.reason}")
        details.append("End it by hand: quant-rollout promote-arm NAME, or quant-rollout reset")
    elif event == "start":
        title = f"Rollout started at stage {record.to_stage}"
        if record.reason:
            details.append(record.reason)
    elif event == "announce":
        # The bot's tick was told a stage it had not been told: its params change now.
        level = "failure" if state.get("kill_switch_tripped") else "success"
        title = f"Bot told to run stage {record.to_stage} (it ran stage {record.from_stage})"
        details.append(f"Why: {record.reason}")
    elif event == "restore":
        level = "warning"
        who = record.actor or "an operator"
        title = f"State restored from the history by {who} at stage {record.to_stage}"
        if record.note:
            details.append(f"Note: {record.note}")
        if record.reason:
            details.append(record.reason)
    elif event in _OPERATOR_VERBS:
        who = record.actor or "an operator"
        title = f"{_OPERATOR_VERBS[event]} by {who}: {moved}"
        if record.note:
            details.append(f"Note: {record.note}")
        if record.reason:
            details.append(record.reason)
    else:  # an event this release does not know: say what the history says
        title = f"{event}: {moved}"
        if record.actor:
            details.append(f"By: {record.actor}")
        if record.note:
            details.append(f"Note: {record.note}")
        if record.reason:
            details.append(f"Why: {record.reason}")
    details.append(f"At {record.at}; history event {record.seq}, hash {record.line_hash[:12]}")
    return Alert(
        seq=record.seq,
        event=event,
        level=level,
        title=f"[{label}] {title}",
        body="\n".join(details),
        line_hash=record.line_hash,
    )


# ----------------------------------------------------------------------------- cursor


def cursor_path_for(history: Union[str, os.PathLike[str]]) -> Path:
    """The default cursor file: ``<history file name>.watch-cursor.json`` beside it."""
    path = Path(history)
    return path.with_name(path.name + ".watch-cursor.json")


def read_cursor(path: Union[str, os.PathLike[str]]) -> Optional[Cursor]:
    """The cursor at ``path``, or None when there is none yet.

    Raises:
        HistoryError: the file exists but is not a cursor this release can read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read the watch cursor ({_reason(exc)})") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if (
        not isinstance(data, dict)
        or data.get("watch_cursor") != CURSOR_VERSION
        or not _is_count(data.get("seq"))
        or not isinstance(data.get("line_hash"), str)
        or not re.fullmatch(r"[0-9a-f]{64}", data["line_hash"])
        or not (data.get("sending") is None or _is_count(data.get("sending")))
    ):
        raise HistoryError(
            f"{path}: is not a watch cursor (version {CURSOR_VERSION}); delete it to send "
            "the whole history again, or start from the end of the history"
        )
    return Cursor(seq=data["seq"], line_hash=data["line_hash"], sending=data["sending"])


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


# ----------------------------------------------------------------------------- history


def _records_after(history: Path, cursor: Cursor) -> Tuple[List[HistoryRecord], int]:
    """The events after the cursor, checked against it, and the history's length."""
    try:
        data = history.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise HistoryError(f"{history}: cannot read the history ({_reason(exc)})") from None
    lines = data.split(b"\n")
    # The last piece is b"" after a complete line, or a line still being written
    # (torn): never read it; it is complete on a later poll or removed by the next tick.
    lines.pop()
    if cursor.seq > len(lines):
        raise _replaced(history, cursor, f"it has only {len(lines)} events")
    previous = GENESIS_HASH
    if cursor.seq:
        known = _parse(lines[cursor.seq - 1], history, cursor.seq)
        if known.line_hash != cursor.line_hash or known.seq != cursor.seq:
            raise _replaced(history, cursor, f"its event {cursor.seq} is a different one")
        previous = known.line_hash
    records = []
    for number in range(cursor.seq + 1, len(lines) + 1):
        record = _parse(lines[number - 1], history, number)
        if record.seq != number or record.prev_hash != previous:
            raise HistoryError(
                f"{history}, line {number}: the hash chain breaks here (a line was edited, "
                "removed or reordered); nothing from it on was sent. Check it with "
                "quant-rollout history --verify"
            )
        records.append(record)
        previous = record.line_hash
    return records, len(lines)


def _parse(raw: bytes, history: Path, number: int) -> HistoryRecord:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HistoryError(f"{history}, line {number}: not UTF-8 text") from None
    return parse_line(line, f"{history}, line {number}")


def _replaced(history: Path, cursor: Cursor, what: str) -> HistoryError:
    return HistoryError(
        f"{history}: the watch cursor says event {cursor.seq} (hash "
        f"{cursor.line_hash[:12]}) was the last sent, but {what}: the history was replaced "
        "or the cursor belongs to another rollout. Nothing was sent. Delete the cursor to "
        "send the whole history, or start from the end of the history to skip it"
    )


# ----------------------------------------------------------------------------- watch


def watch(
    history: Union[str, os.PathLike[str]],
    send: Sender,
    *,
    cursor: Union[str, os.PathLike[str], None] = None,
    follow: bool = False,
    interval: float = 10.0,
    from_end: bool = False,
    label: Optional[str] = None,
    sleep: Callable[[float], None] = time.sleep,
    keep_going: Callable[[], bool] = lambda: True,
    on_sent: Optional[Callable[[Alert], None]] = None,
) -> WatchReport:
    """Send the history's events that were not sent yet, in order; optionally keep following.

    Args:
        history: the rollout's history file (``<state>.history.jsonl``). A missing
            file is an empty history: the rollout has not started yet.
        send: delivers one alert, returning True when delivered (:func:`apprise_sender`).
        cursor: the cursor file; default :func:`cursor_path_for` the history. Its
            folder must be writable.
        follow: keep polling the history every ``interval`` seconds until
            ``keep_going()`` returns False (checked after each poll). Without it, one
            pass (``--once``): send what is new and return.
        interval: seconds between polls when following, and before retrying a
            failed send.
        from_end: with no cursor yet, record the history's current end as sent, so
            only later events are sent. Default: a first run sends the whole history.
        label: names the rollout in alert titles; default the history file's name
            without ``.history.jsonl``.
        sleep: how to wait (injected by tests; ``time.sleep`` by default).
        keep_going: polled after each pass when following.
        on_sent: called with each alert after it was delivered and recorded.

    Returns:
        A :class:`WatchReport`. Once mode stops at the first failed send; follow mode
        retries it after ``interval`` and reports the last failure only if it stops
        before the retry succeeded.

    Raises:
        HistoryError: the history cannot be read, its hash chain breaks, or it does
            not hold the event the cursor names (see the module documentation).
        OSError: the cursor cannot be written.
    """
    history = Path(history)
    cursor_file = cursor_path_for(history) if cursor is None else Path(cursor)
    name = history.name
    if label is None:
        label = name[: -len(".history.jsonl")] if name.endswith(".history.jsonl") else name
    current = read_cursor(cursor_file)
    if current is None:
        current = Cursor()
        if from_end:
            records, _ = _records_after(history, current)
            if records:
                current = Cursor(records[-1].seq, records[-1].line_hash)
        write_atomic(cursor_file, current.to_json())
    sent: List[Alert] = []
    failed: Optional[Alert] = None
    while True:
        current, failed = _deliver(history, cursor_file, current, send, label, sent, on_sent)
        if not follow or not keep_going():
            return WatchReport(tuple(sent), failed, current)
        sleep(interval)


def _deliver(
    history: Path,
    cursor_file: Path,
    current: Cursor,
    send: Sender,
    label: str,
    sent: List[Alert],
    on_sent: Optional[Callable[[Alert], None]],
) -> Tuple[Cursor, Optional[Alert]]:
    records, _ = _records_after(history, current)
    for record in records:
        alert = alert_for(record, label)
        if current.sending == record.seq:
            alert = replace(
                alert,
                repeat=True,
                body=alert.body + "\n(Possibly sent before: the watcher stopped while sending it.)",
            )
        # Note the send before making it: a crash during it shows up as a repeat.
        write_atomic(cursor_file, replace(current, sending=record.seq).to_json())
        try:
            delivered = bool(send(alert))
        except Exception:
            write_atomic(cursor_file, current.to_json())
            raise
        if not delivered:
            write_atomic(cursor_file, current.to_json())
            return current, alert
        current = Cursor(record.seq, record.line_hash)
        write_atomic(cursor_file, current.to_json())
        sent.append(alert)
        if on_sent is not None:
            on_sent(alert)
    return current, None


# ----------------------------------------------------------------------------- apprise


def urls_from_env(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The URLs in :data:`ALERTS_ENV`, split on spaces, commas and new lines."""
    text = (os.environ if environ is None else environ).get(ALERTS_ENV, "")
    return [part for part in re.split(r"[\s,]+", text) if part]


def _scheme(url: str) -> str:
    """``tgram://…`` for a message: the scheme only, never the tokens after it."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]{0,20})://", url)
    return f"{match.group(1)}://..." if match else "a text that is not a URL"


def apprise_sender(
    urls: Sequence[str] = (),
    *,
    config_file: Union[str, os.PathLike[str], None] = None,
    timeout: Optional[float] = None,
) -> Sender:
    """A sender posting each alert through Apprise to every URL given.

    Args:
        urls: Apprise URLs (``tgram://TOKEN/CHAT``, ``slack://...``, ``discord://...``,
            ``mailtos://...``, ``json://host:port/path`` for a webhook receiving JSON).
        config_file: an Apprise configuration file (one URL per line, or Apprise's
            YAML), read in addition to ``urls``; keeps tokens off the command line.
        timeout: seconds to wait for each channel, where the channel supports it.

    Raises:
        AlertError: Apprise is not installed, a URL is not one Apprise can use, the
            file cannot be read, or there is no URL at all. Messages name the URL by
            its position and scheme only: URLs hold secrets.
    """
    try:
        import apprise
    except ImportError:
        raise AlertError(
            "sending alerts needs Apprise: pip install 'quant-rollout[alerts]'"
        ) from None
    # Apprise logs failed sends; with no handler Python would print them on stderr,
    # where a URL's host or path could show. Callers learn of failures from the result.
    logging.getLogger("apprise").addHandler(logging.NullHandler())
    notifier = apprise.Apprise()
    for position, url in enumerate(urls, start=1):
        if not isinstance(url, str) or not notifier.add(url):
            raise AlertError(
                f"alert URL {position} ({_scheme(url) if isinstance(url, str) else 'not text'}) "
                "is not one Apprise can use; check it (it is not shown here: URLs hold tokens)"
            )
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise AlertError(f"{path}: no such alert configuration file")
        config = apprise.AppriseConfig()
        if not config.add(str(path)):
            raise AlertError(f"{path}: Apprise cannot read this configuration file")
        notifier.add(config)
    if len(notifier) == 0:
        raise AlertError(
            f"no alert URL: set {ALERTS_ENV} (e.g. tgram://TOKEN/CHAT_ID) or give an "
            "Apprise configuration file"
        )
    if timeout is not None:
        for server in notifier:
            for attribute in ("socket_connect_timeout", "socket_read_timeout"):
                if hasattr(server, attribute):
                    setattr(server, attribute, timeout)
    types: Dict[str, Any] = {
        "info": apprise.NotifyType.INFO,
        "success": apprise.NotifyType.SUCCESS,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }

    def send(alert: Alert) -> bool:
        return bool(
            notifier.notify(
                title=alert.title,
                body=alert.body,
                notify_type=types.get(alert.level, apprise.NotifyType.INFO),
            )
        )

    return send
