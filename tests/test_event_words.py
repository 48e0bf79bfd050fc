"""Every history event has its own words wherever people read events: the alerts of
``quant-rollout watch`` and the dashboard. Iterating over :class:`Event` makes an event
added later without wording fail here."""

from __future__ import annotations

import pytest

from quant_rollout.dashboard.charts import EVENT_COLOURS
from quant_rollout.dashboard.model import EVENT_WORDS, event_words
from quant_rollout.engine import Event
from quant_rollout.storage.history import HistoryRecord
from quant_rollout.tools.watch import alert_for


def record(event: Event, **state: object) -> HistoryRecord:
    return HistoryRecord(
        seq=7,
        at="2026-05-01T12:00:00+00:00",
        event=event,
        from_stage=1,
        to_stage=2,
        reason="because",
        note="a note",
        actor="ana",
        metrics=None,
        state=dict(state),
        prev_hash="0" * 64,
        line_hash="a" * 64,
    )


@pytest.mark.parametrize("event", list(Event))
def test_every_event_has_an_alert_of_its_own(event: Event) -> None:
    alert = alert_for(record(event), "bot")
    # The fallback for an event this release does not know: "<event>: stage 1 -> 2".
    assert not alert.title.startswith(f"[bot] {event.value}:"), alert.title
    assert alert.level in {"info", "success", "warning", "failure"}


@pytest.mark.parametrize("event", list(Event))
def test_every_event_has_dashboard_words_and_a_colour(event: Event) -> None:
    assert event.value in EVENT_WORDS
    assert event_words(event) == EVENT_WORDS[event.value] != event.value
    assert event.value in EVENT_COLOURS


def test_the_newer_events_are_worded_for_people() -> None:
    told = alert_for(record(Event.ANNOUNCE), "bot")
    assert told.title == "[bot] Bot told to run stage 2 (it ran stage 1)"
    assert told.level == "success"
    killed = alert_for(record(Event.ANNOUNCE, kill_switch_tripped=True), "bot")
    assert killed.level == "failure"
    restored = alert_for(record(Event.RESTORE), "bot")
    assert restored.title == "[bot] State restored from the history by ana at stage 2"
    assert "Note: a note" in restored.body
    clock = alert_for(record(Event.ACCEPT_CLOCK), "bot")
    assert clock.title == "[bot] Clock accepted by ana: stage 1 -> 2"
    assert event_words("some_future_event") == "some_future_event"
