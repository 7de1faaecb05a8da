"""The system check that keeps Event free of save() logic and signal receivers, which the
hand-composed inserts (events.bulk_insert) would skip."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db.models.signals import post_init, post_save, pre_init, pre_save

from events.checks import event_inserts_bypass_nothing
from events.models import Event


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_the_project_passes_the_check():
    assert event_inserts_bypass_nothing() == []
    assert "events.E001" not in ids(run_checks())


@pytest.mark.parametrize("signal", [pre_save, post_save, pre_init, post_init])
def test_a_receiver_for_event_fails_the_check(signal):
    def receiver(**kwargs: Any) -> None:
        pass

    signal.connect(receiver, sender=Event, weak=False)
    try:
        assert ids(event_inserts_bypass_nothing()) == ["events.E002"]
        # Registered: `manage.py check` refuses to pass.
        with pytest.raises(SystemCheckError, match=r"events\.E002"):
            call_command("check")
    finally:
        signal.disconnect(receiver, sender=Event)
    assert event_inserts_bypass_nothing() == []


def test_a_receiver_for_every_model_fails_the_check_too():
    def receiver(**kwargs: Any) -> None:
        pass

    post_save.connect(receiver, weak=False)
    try:
        assert ids(event_inserts_bypass_nothing()) == ["events.E002"]
    finally:
        post_save.disconnect(receiver)


def test_a_save_override_fails_the_check(monkeypatch):
    def save(self: Event, *args: Any, **kwargs: Any) -> None:
        pass

    monkeypatch.setattr(Event, "save", save)

    assert ids(event_inserts_bypass_nothing()) == ["events.E001"]
    with pytest.raises(SystemCheckError, match=r"events\.E001"):
        call_command("check")
