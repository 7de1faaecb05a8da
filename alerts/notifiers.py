"""Notification channels: the Apprise URLs of ALERT_NOTIFY_URLS, and sending one message to one.

Apprise speaks Slack, PagerDuty, e-mail, Discord, Teams, generic JSON/form webhooks and many
more; each URL in ALERT_NOTIFY_URLS is one channel. A channel is identified by a hash of its URL
(`key`) and shown by Apprise's privacy-masked URL (`label`): the URL itself carries tokens and is
never stored or logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import apprise

MAX_ERROR_CHARS = 2000


@dataclasses.dataclass(frozen=True)
class Channel:
    key: str
    label: str
    service: str
    url: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class InvalidChannel:
    """A configured URL Apprise does not understand (reported by `manage.py check`)."""

    position: int
    label: str


@dataclasses.dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str
    duration_ms: float


def channel_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _mask(url: str) -> str:
    # Unparseable URLs are shown by scheme only: they may still contain a token.
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme}://…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # Apprise loads plugins lazily; apprise.utils.pgp imports `imghdr`, deprecated since
    # Python 3.11: their warning, not ours, and it must not reach our logs or tests.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*imghdr.*", category=DeprecationWarning)
        yield


def _apprise() -> Any:
    """The apprise module, imported on first use (it loads ~100 plugins)."""
    with _quiet():
        import apprise
        import apprise.utils.parse  # noqa: F401 - loads the submodule _parse reads
    return apprise


def _instantiate(url: str) -> Any:
    with _quiet():
        return _apprise().Apprise.instantiate(url, suppress_exceptions=True)


@functools.lru_cache(maxsize=8)
def _parse(raw: str) -> tuple[tuple[Channel, ...], tuple[InvalidChannel, ...]]:
    if not raw.strip():
        return (), ()  # no channels: do not even import Apprise
    parse_urls = _apprise().utils.parse.parse_urls

    channels: list[Channel] = []
    invalid: list[InvalidChannel] = []
    seen: set[str] = set()
    for position, url in enumerate(parse_urls(raw), start=1):
        key = channel_key(url)
        if key in seen:
            continue
        seen.add(key)
        instance = _instantiate(url)
        if instance is None:
            invalid.append(InvalidChannel(position=position, label=_mask(url)))
            continue
        # The masked URL without its query string: short, and free of secrets.
        label = str(instance.url(privacy=True)).split("?", 1)[0]
        service = str(getattr(instance, "service_name", "") or type(instance).__name__)
        channels.append(Channel(key=key, label=label, service=service, url=url))
    return tuple(channels), tuple(invalid)


def configured_channels() -> list[Channel]:
    """The valid channels of ALERT_NOTIFY_URLS, in order, without duplicates."""
    return list(_parse(settings.ALERT_NOTIFY_URLS)[0])


def invalid_channels() -> list[InvalidChannel]:
    return list(_parse(settings.ALERT_NOTIFY_URLS)[1])


def channel_by_key(key: str) -> Channel | None:
    return next((c for c in configured_channels() if c.key == key), None)


def apprise_notify_type(name: str) -> apprise.NotifyType:
    return _apprise().NotifyType(name)


def channel_send(channel: Channel, *, title: str, body: str, notify_type: str) -> SendResult:
    """One delivery attempt to one channel. Never raises: the outcome says what happened."""
    apprise = _apprise()
    started = time.perf_counter()
    error = ""
    try:
        client = apprise.Apprise()
        with _quiet():
            if not client.add(channel.url):
                return SendResult(False, "not a valid Apprise URL", 0.0)
            result = client.notify(
                body=body, title=title, notify_type=apprise_notify_type(notify_type)
            )
        ok = bool(result)
        if not ok:
            # Apprise's result keeps the service's own log lines: the reason is there.
            error = "; ".join(
                entry.message
                for entry in result.logs()
                if entry.level in {"WARNING", "ERROR", "CRITICAL"}
            )
    except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the delivery task
        ok = False
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    if not ok and not error:
        error = "delivery failed"
    return SendResult(ok, error[:MAX_ERROR_CHARS], duration_ms)
