"""System checks for what the hand-composed inserts (events.bulk_insert) rely on.

event_insert and events_insert_like write Event rows without Model.save() and without sending
model signals. Logic added to Event.save() or to a pre_save/post_save receiver would silently
not run for events created through the API; a pre_init/post_init receiver would see instances
the ORM never finished. These checks make `manage.py check` (and so every deploy, test run and
runserver) fail instead.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import models
from django.db.models.signals import post_init, post_save, pre_init, pre_save

INSERT_MODULE = "events.bulk_insert"
SIGNALS = {
    "pre_init": pre_init,
    "post_init": post_init,
    "pre_save": pre_save,
    "post_save": post_save,
}


@register()
def event_inserts_bypass_nothing(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from events.models import Event

    errors: list[CheckMessage] = []
    if Event.save is not models.Model.save:
        errors.append(
            Error(
                "Event overrides save(), which API creates never call.",
                hint=f"Put the logic in events.services, or teach {INSERT_MODULE} about it.",
                obj=Event,
                id="events.E001",
            )
        )
    for name, signal in SIGNALS.items():
        if signal.has_listeners(sender=Event):
            errors.append(
                Error(
                    f"A {name} receiver is connected for Event; API creates send no signals.",
                    hint=f"Call the logic from events.services, or teach {INSERT_MODULE} about it.",
                    obj=Event,
                    id="events.E002",
                )
            )
    return errors
