"""The handler registry: event types → functions that process them.

    @registry.register("beo.created")
    def notify_kitchen(event: Event) -> dict: ...

    @registry.register("beo.*")          # wildcard: every beo.<anything>
    def audit(event: Event) -> dict: ...

A handler receives the claimed Event and returns a JSON-serialisable result (stored under its
name in event.result) or raises to fail the attempt; failed attempts are retried with backoff.
Handlers must be idempotent: an event is processed at least once.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from events.models import Event

HandlerFunc = Callable[["Event"], Any]


def type_matches(pattern: str, event_type: str) -> bool:
    """Exact names, or shell-style wildcards: `beo.*`, `*.created`, `*`."""
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(event_type, pattern)
    return pattern == event_type


@dataclasses.dataclass(frozen=True)
class Handler:
    name: str
    pattern: str
    func: HandlerFunc


class HandlerRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(
        self, pattern: str, *, name: str | None = None
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        def decorate(func: HandlerFunc) -> HandlerFunc:
            handler_name = name or f"{func.__module__}.{func.__qualname__}"
            self._handlers[handler_name] = Handler(name=handler_name, pattern=pattern, func=func)
            return func

        return decorate

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def handlers_for(self, event_type: str) -> list[Handler]:
        return [h for h in self._handlers.values() if type_matches(h.pattern, event_type)]

    def all(self) -> list[Handler]:
        return list(self._handlers.values())


registry = HandlerRegistry()
