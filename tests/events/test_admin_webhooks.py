"""Subscriptions (validated, kept with their history) and read-only deliveries in the admin."""

from __future__ import annotations

import base64

import pytest

from events.models import Subscription, WebhookDelivery
from tests.factories import EventFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/admin/events/subscription/"
DELIVERIES = "/admin/events/webhookdelivery/"


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def subscription_form(**overrides) -> dict[str, str]:
    return {
        "name": "crm",
        "type_pattern": "beo.*",
        "target_url": "https://crm.example.com/hooks/beo",
        "secret": "whsec_" + base64.b64encode(b"k" * 32).decode(),
        "is_active": "on",
        **overrides,
    }


def test_staff_add_a_subscription(admin_client):
    response = admin_client.post(f"{SUBSCRIPTIONS}add/", subscription_form())
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert (subscription.name, subscription.type_pattern) == ("crm", "beo.*")
    assert subscription.is_active


def test_the_add_form_comes_with_a_generated_secret(admin_client):
    page = admin_client.get(f"{SUBSCRIPTIONS}add/")
    assert 'name="secret"' in page.text
    assert "whsec_" in page.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type_pattern", "beo created", "Use an event type"),
        ("target_url", "ftp://files.example.com/in", "Enter a valid URL."),
        ("secret", "not-a-secret", "The secret must start with"),
        ("secret", "whsec_!!!", "must be base64"),
        ("secret", "whsec_" + base64.b64encode(b"short").decode(), "24 to 64 random bytes"),
    ],
)
def test_a_bad_subscription_is_refused_with_the_reason(admin_client, field, value, message):
    response = admin_client.post(f"{SUBSCRIPTIONS}add/", subscription_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.text
    assert not Subscription.objects.exists()


def test_a_subscription_with_delivery_history_cannot_be_deleted(admin_client, user):
    subscription = SubscriptionFactory.create()
    WebhookDelivery.objects.create(
        event=EventFactory.create(owner=user), subscription=subscription, attempt=1, webhook_id="m"
    )
    assert admin_client.get(f"{SUBSCRIPTIONS}{subscription.pk}/delete/").status_code == 403
    assert Subscription.objects.filter(pk=subscription.pk).exists()


def test_a_subscription_without_deliveries_can_be_deleted(admin_client):
    subscription = SubscriptionFactory.create()
    response = admin_client.post(f"{SUBSCRIPTIONS}{subscription.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Subscription.objects.exists()


def test_deactivate_stops_a_subscription(admin_client):
    subscription = SubscriptionFactory.create(is_active=True)
    response = admin_client.post(
        SUBSCRIPTIONS,
        {"action": "deactivate", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert "Deactivated 1 subscription(s)." in response.text
    subscription.refresh_from_db()
    assert subscription.is_active is False


def test_deliveries_are_listed_and_searchable_by_event(admin_client, user):
    subscription = SubscriptionFactory.create(name="crm")
    wanted = EventFactory.create(owner=user)
    other = EventFactory.create(owner=user)
    for event, status in ((wanted, 503), (other, 200)):
        WebhookDelivery.objects.create(
            event=event,
            subscription=subscription,
            attempt=1,
            webhook_id=f"msg_evt{event.pk}",
            succeeded=status == 200,
            status_code=status,
            error="" if status == 200 else "HTTP 503: busy",
        )
    listing = admin_client.get(DELIVERIES)
    assert listing.status_code == 200
    assert "HTTP 503: busy" in listing.text
    found = admin_client.get(DELIVERIES, {"q": f"#{wanted.pk}"})
    assert f">#{other.pk}<" not in found.text
    assert f">#{wanted.pk}<" in found.text


def test_deliveries_are_read_only(admin_client, user):
    delivery = WebhookDelivery.objects.create(
        event=EventFactory.create(owner=user),
        subscription=SubscriptionFactory.create(),
        attempt=1,
        webhook_id="m",
    )
    assert admin_client.get(f"{DELIVERIES}add/").status_code == 403
    page = admin_client.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    assert admin_client.get(f"{DELIVERIES}{delivery.pk}/delete/").status_code == 403
