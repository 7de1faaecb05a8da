"""Webhook subscriptions: signed deliveries to a real local HTTP server, recorded and retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.handlers import registry
from events.models import Event, Status, WebhookDelivery, new_webhook_secret
from events.pipeline import NO_HANDLER_RESULT, events_process_batch
from tests.events.receiver import webhook_receiver
from tests.factories import EventFactory, SubscriptionFactory
from tests.subprocess_env import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_receivers(settings):
    """These receivers listen on 127.0.0.1, an internal address: allowed here only."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def make_due(event: Event) -> None:
    """Skip the backoff wait: the retry is due now."""
    Event.objects.filter(pk=event.pk).update(available_at=timezone.now())


def test_a_matching_subscription_receives_a_post_it_can_verify_with_its_secret(user):
    subscription = SubscriptionFactory.create(type_pattern="beo.*")
    with webhook_receiver(subscription.secret) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user, type="beo.created", payload={"beo": "BEO-7"})
        events_process_batch()
    [request] = receiver.requests
    assert request.verified
    assert request.path == "/hooks/beo"
    assert request.headers["webhook-id"] == f"msg_evt{event.pk}_sub{subscription.pk}"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.payload["type"] == "beo.created"
    assert request.payload["data"]["id"] == event.pk
    assert request.payload["data"]["payload"] == {"beo": "BEO-7"}
    assert request.payload["data"]["priority"] == "normal"


def test_the_delivered_event_completes_with_the_delivery_in_its_result(user):
    subscription = SubscriptionFactory.create(name="kitchen", type_pattern="beo.created")
    with webhook_receiver(subscription.secret) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user, type="beo.created")
        assert events_process_batch().completed == 1
    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert event.result == {
        "webhooks": {
            "kitchen": {
                "status_code": 200,
                "attempt": 1,
                "webhook_id": f"msg_evt{event.pk}_sub{subscription.pk}",
            }
        }
    }


def test_each_attempt_is_recorded_with_status_code_and_duration(user):
    subscription = SubscriptionFactory.create()
    with webhook_receiver(subscription.secret) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        events_process_batch()
    [delivery] = WebhookDelivery.objects.filter(event_id=event.pk)
    assert delivery.subscription == subscription
    assert delivery.succeeded is True
    assert delivery.status_code == 200
    assert delivery.attempt == 1
    assert delivery.duration_ms is not None
    assert delivery.duration_ms > 0
    assert delivery.error == ""


def test_a_receiver_with_another_secret_cannot_verify_and_the_attempt_fails(user):
    subscription = SubscriptionFactory.create(name="impostor-check")
    with webhook_receiver(new_webhook_secret()) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        assert events_process_batch().retried == 1
    assert receiver.requests[0].verified is False
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    assert delivery.status_code == 401
    assert delivery.error == "HTTP 401: receiver says no"


def test_inactive_and_non_matching_subscriptions_receive_nothing(user):
    inactive = SubscriptionFactory.create(type_pattern="beo.*", is_active=False)
    other = SubscriptionFactory.create(type_pattern="invoice.*")
    with webhook_receiver(inactive.secret) as receiver:
        for subscription in (inactive, other):
            subscription.target_url = receiver.url
            subscription.save()
        event = EventFactory.create(owner=user, type="beo.created")
        events_process_batch()
    assert receiver.requests == []
    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert event.result == NO_HANDLER_RESULT


def test_a_non_2xx_answer_fails_the_attempt_and_the_event_waits_for_a_retry(user):
    subscription = SubscriptionFactory.create(name="flaky")
    with webhook_receiver(subscription.secret, statuses=[503]) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        outcome = events_process_batch()
    assert outcome.retried == 1
    event.refresh_from_db()
    assert event.status == Status.PENDING
    assert event.attempts == 1
    assert event.available_at > timezone.now()
    assert event.last_error == (
        "WebhookDeliveryError: 1 of 1 webhook deliveries failed: "
        "flaky: HTTP 503 Service Unavailable"
    )
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    assert (delivery.succeeded, delivery.status_code) == (False, 503)


def test_a_retry_repeats_only_the_deliveries_that_failed(user):
    steady = SubscriptionFactory.create(name="steady")
    flaky = SubscriptionFactory.create(name="flaky")
    with (
        webhook_receiver(steady.secret) as steady_receiver,
        webhook_receiver(flaky.secret, statuses=[500, 200]) as flaky_receiver,
    ):
        steady.target_url = steady_receiver.url
        steady.save()
        flaky.target_url = flaky_receiver.url
        flaky.save()
        event = EventFactory.create(owner=user)
        assert events_process_batch().retried == 1
        make_due(event)
        assert events_process_batch().completed == 1
    assert len(steady_receiver.requests) == 1
    assert len(flaky_receiver.requests) == 2
    event.refresh_from_db()
    assert event.status == Status.COMPLETED
    assert event.result is not None
    assert event.result["webhooks"]["steady"]["attempt"] == 1
    assert event.result["webhooks"]["flaky"]["attempt"] == 2
    attempts = list(
        WebhookDelivery.objects.filter(event_id=event.pk, subscription=flaky)
        .order_by("attempt")
        .values_list("attempt", "succeeded", "status_code")
    )
    assert attempts == [(1, False, 500), (2, True, 200)]


def test_every_attempt_of_an_event_carries_the_same_webhook_id(user):
    subscription = SubscriptionFactory.create()
    with webhook_receiver(subscription.secret, statuses=[502, 200]) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        events_process_batch()
        make_due(event)
        events_process_batch()
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 2
    assert ids == {f"msg_evt{event.pk}_sub{subscription.pk}"}


def test_a_slow_receiver_times_out_and_fails_the_attempt(user, settings):
    settings.WEBHOOK_TIMEOUT = 0.3
    subscription = SubscriptionFactory.create(name="slow")
    with webhook_receiver(subscription.secret, delay=2) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        assert events_process_batch().retried == 1
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    assert delivery.succeeded is False
    assert delivery.status_code is None
    assert delivery.error == "Timed out after 0.3s"
    assert delivery.duration_ms is not None
    assert delivery.duration_ms < 2000
    event.refresh_from_db()
    assert "slow: Timed out after 0.3s" in event.last_error


def test_an_unreachable_target_is_recorded_as_a_connection_error(user):
    subscription = SubscriptionFactory.create(
        target_url=f"http://127.0.0.1:{free_port()}/nobody-home"
    )
    event = EventFactory.create(owner=user)
    assert events_process_batch().retried == 1
    delivery = WebhookDelivery.objects.get(event_id=event.pk)
    assert delivery.status_code is None
    assert delivery.error.startswith("ConnectionError:")
    assert delivery.subscription == subscription


def test_a_redirect_is_not_followed_and_fails_the_attempt(user):
    subscription = SubscriptionFactory.create(name="moved")
    with webhook_receiver(subscription.secret, statuses=[301]) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        assert events_process_batch().retried == 1
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(event_id=event.pk).status_code == 301


def test_the_last_failed_attempt_dead_letters_the_event_naming_the_subscription(user):
    subscription = SubscriptionFactory.create(name="always-down")
    with webhook_receiver(subscription.secret, statuses=[500]) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user, attempts=4, max_attempts=5)
        assert events_process_batch().failed == 1
    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert "always-down: HTTP 500" in event.last_error


def test_registered_handlers_and_webhooks_both_run_for_one_event(user):
    registry.register("beo.*", name="kitchen-printer")(lambda event: {"printed": event.pk})
    try:
        subscription = SubscriptionFactory.create(name="crm")
        with webhook_receiver(subscription.secret) as receiver:
            subscription.target_url = receiver.url
            subscription.save()
            event = EventFactory.create(owner=user, type="beo.created")
            events_process_batch()
    finally:
        registry.unregister("kitchen-printer")
    event.refresh_from_db()
    assert event.result is not None
    assert event.result["kitchen-printer"] == {"printed": event.pk}
    assert event.result["webhooks"]["crm"]["status_code"] == 200
    assert len(receiver.requests) == 1


def test_a_failing_handler_does_not_keep_the_webhooks_from_being_delivered(user):
    def broken(event):
        raise RuntimeError("printer jammed")

    registry.register("beo.*", name="broken-printer")(broken)
    try:
        subscription = SubscriptionFactory.create(name="crm")
        with webhook_receiver(subscription.secret) as receiver:
            subscription.target_url = receiver.url
            subscription.save()
            event = EventFactory.create(owner=user, type="beo.created")
            assert events_process_batch().retried == 1
    finally:
        registry.unregister("broken-printer")
    assert len(receiver.requests) == 1
    event.refresh_from_db()
    assert event.last_error == "RuntimeError: printer jammed"
    assert WebhookDelivery.objects.get(event_id=event.pk).succeeded is True


def test_retries_are_spaced_by_the_backoff(user, settings):
    settings.EVENT_RETRY_BACKOFF_BASE = 10
    subscription = SubscriptionFactory.create()
    with webhook_receiver(subscription.secret, statuses=[500]) as receiver:
        subscription.target_url = receiver.url
        subscription.save()
        event = EventFactory.create(owner=user)
        before = timezone.now()
        events_process_batch()
        # Not due yet: a second batch right away must not call the receiver again.
        assert events_process_batch().claimed == 0
    assert len(receiver.requests) == 1
    event.refresh_from_db()
    assert before + timedelta(seconds=5) <= event.available_at <= before + timedelta(seconds=11)
