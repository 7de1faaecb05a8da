"""The built-in handler: deliver processed events to webhook subscriptions.

Staff define `Subscription`s (type pattern, target URL, secret). Processing an event POSTs it
to every active subscription whose pattern matches its type, signed per Standard Webhooks
(https://www.standardwebhooks.com/): `webhook-id` (the same for every attempt of one event to
one subscription, so receivers can deduplicate), `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the subscription's secret), computed by
the `standardwebhooks` library.

Each attempt is recorded as a `WebhookDelivery` (status code, duration, error). A non-2xx
answer, a timeout or a connection error fails the attempt; the event is then retried with
backoff, and a subscription that already got a 2xx for this event is not called again.

Targets: only public addresses, checked on the connected socket (events.webhook_targets);
environment proxies are not used, so the peer checked is the receiver itself. What the
receiver answered stays with staff (the delivery's error, in the admin): the event's
last_error, which its API consumer reads, gets the status code and a short reason only.
"""

from __future__ import annotations

import dataclasses
import http
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import requests
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from requests.adapters import HTTPAdapter
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from events.handlers import type_matches
from events.models import Event, Subscription, WebhookDelivery
from events.webhook_targets import InternalTargetError, connected_peer_check

logger = structlog.get_logger("events.webhooks")

USER_AGENT = "beo-automation-webhooks/1"
# How much of a failed answer's body is kept in the delivery's error.
ERROR_BODY_CHARS = 300

_local = threading.local()


class WebhookDeliveryError(Exception):
    """Some deliveries of this attempt failed; the event is retried."""


class _PeerCheckedMixin:
    """Refuse an internal peer once connected (DNS rebinding). For https the check runs once TLS
    is up: the receiver may have seen a ClientHello, never a request."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        try:
            connected_peer_check(self.sock)
        except InternalTargetError:
            self.close()  # type: ignore[attr-defined]
            raise


class _CheckedHTTPConnection(_PeerCheckedMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_PeerCheckedMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedTargetAdapter(HTTPAdapter):
    """requests' adapter whose new connections refuse an internal peer (DNS rebinding)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPPool,
            "https": _CheckedHTTPSPool,
        }


def _session() -> requests.Session:
    # One keep-alive session per thread: consecutive deliveries to one receiver reuse the
    # connection instead of a new TCP (and TLS) handshake each.
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # No HTTP(S)_PROXY from the environment: through a proxy the connected peer would be
        # the proxy, and the target check would check nothing.
        session.trust_env = False
        for prefix in ("http://", "https://"):
            session.mount(prefix, CheckedTargetAdapter())
        session.headers["User-Agent"] = USER_AGENT
        _local.session = session
    return session


@dataclasses.dataclass(frozen=True)
class Attempt:
    delivery: WebhookDelivery
    # For the event's API consumer: a status code and a short reason, never the receiver's
    # body or our connection internals.
    reason: str


def _status_reason(status_code: int) -> str:
    try:
        return f"HTTP {status_code} {http.HTTPStatus(status_code).phrase}"
    except ValueError:
        return f"HTTP {status_code}"


def subscriptions_set_active(*, subscriptions: QuerySet[Subscription], active: bool) -> int:
    """Activate or deactivate the subscriptions that are not already; returns how many changed.
    Each is saved, not bulk-updated, so the audit trail (auditlog's signals) records who changed
    which one."""
    changed = 0
    with transaction.atomic():
        for subscription in subscriptions.select_for_update().filter(is_active=not active):
            subscription.is_active = active
            subscription.save(update_fields=["is_active", "updated_at"])
            changed += 1
    return changed


def subscriptions_active() -> list[Subscription]:
    return list(Subscription.objects.filter(is_active=True).order_by("name"))


def subscriptions_matching(
    *, event_type: str, subscriptions: Sequence[Subscription]
) -> list[Subscription]:
    return [s for s in subscriptions if s.is_active and type_matches(s.type_pattern, event_type)]


def webhook_message_id(*, event_id: int, subscription_id: int) -> str:
    # Stable across attempts: Standard Webhooks receivers deduplicate on it.
    return f"msg_evt{event_id}_sub{subscription_id}"


def webhook_body(event: Event) -> str:
    """The JSON body: Standard Webhooks' {type, timestamp, data} envelope around the event."""
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.created_at.isoformat(),
            "data": {
                "id": event.pk,
                "type": event.type,
                "payload": event.payload,
                "priority": event.priority_name,
                "created_at": event.created_at.isoformat(),
                "attempt": event.attempts,
            },
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def webhook_deliver(*, event: Event, subscription: Subscription) -> Attempt:
    """POST one event to one subscription, once; the attempt is recorded and returned."""
    body = webhook_body(event)
    message_id = webhook_message_id(event_id=event.pk, subscription_id=subscription.pk)
    timeout = settings.WEBHOOK_TIMEOUT
    status_code: int | None = None
    error = reason = ""
    started = time.perf_counter()
    try:
        sent_at = datetime.now(tz=UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(subscription.secret).sign(message_id, sent_at, body),
        }
        # No redirects: a signed body is for the configured URL only, and a 3xx is not a 2xx.
        with _session().post(
            subscription.target_url,
            data=body.encode(),
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            status_code = response.status_code
            if not 200 <= status_code < 300:
                snippet = response.raw.read(ERROR_BODY_CHARS, decode_content=True) or b""
                text = snippet.decode("utf-8", "replace").strip()
                error = f"HTTP {status_code}" + (f": {text}" if text else "")
                reason = _status_reason(status_code)
            else:
                # Read (a bounded amount of) the answer so the connection can be reused.
                response.raw.read(64 * 1024, decode_content=True)
    except InternalTargetError as exc:
        error, reason = str(exc), "refused: the target is an internal address"
    except requests.Timeout:
        error = reason = f"Timed out after {timeout:g}s"
    except requests.exceptions.SSLError as exc:
        error, reason = f"SSLError: {exc}", "TLS handshake failed"
    except requests.RequestException as exc:
        error, reason = f"{type(exc).__name__}: {exc}", "connection failed"
    except Exception as exc:  # noqa: BLE001 - e.g. an unusable secret: recorded, retried
        error, reason = f"{type(exc).__name__}: {exc}", "delivery error"
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    # The answer is the receiver's text: PostgreSQL text cannot hold NUL characters.
    error = error.replace("\x00", "")
    delivery = WebhookDelivery.objects.create(
        event_id=event.pk,
        subscription=subscription,
        attempt=event.attempts,
        webhook_id=message_id,
        succeeded=not error,
        status_code=status_code,
        duration_ms=duration_ms,
        error=error[:1000],
    )
    log = logger.info if delivery.succeeded else logger.warning
    log(
        "Webhook delivered" if delivery.succeeded else "Webhook delivery failed",
        subscription=subscription.name,
        status_code=status_code,
        duration_ms=duration_ms,
        error=error or None,
    )
    return Attempt(delivery=delivery, reason=reason)


def webhooks_deliver(*, event: Event, subscriptions: Sequence[Subscription]) -> dict[str, Any]:
    """Deliver to each subscription that has not had a successful delivery of this event yet.

    Returns {subscription name: {status_code, attempt, webhook_id}}; raises
    WebhookDeliveryError naming every failed subscription and its short reason when any failed
    (the message becomes the event's last_error, which its API consumer reads).
    """
    delivered: dict[str, Any] = {}
    earlier: dict[int, dict[str, Any]] = {
        row["subscription_id"]: dict(row)
        for row in WebhookDelivery.objects.filter(
            event_id=event.pk, succeeded=True, subscription__in=subscriptions
        ).values("subscription_id", "status_code", "attempt", "webhook_id")
    }
    failures: list[str] = []
    for subscription in subscriptions:
        done = earlier.get(subscription.pk)
        if done is None:
            attempt = webhook_deliver(event=event, subscription=subscription)
            delivery = attempt.delivery
            if not delivery.succeeded:
                failures.append(f"{subscription.name}: {attempt.reason}")
                continue
            done = {
                "status_code": delivery.status_code,
                "attempt": delivery.attempt,
                "webhook_id": delivery.webhook_id,
            }
        delivered[subscription.name] = {
            "status_code": done["status_code"],
            "attempt": done["attempt"],
            "webhook_id": done["webhook_id"],
        }
    if failures:
        raise WebhookDeliveryError(
            f"{len(failures)} of {len(subscriptions)} webhook deliveries failed: "
            + "; ".join(failures)
        )
    return delivered
