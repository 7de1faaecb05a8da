"""Webhook targets: internal addresses refused when saved and when connected; a receiver's
answer stays with staff (the delivery in the admin), its API consumer sees a status only."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from events.models import Event, Status, Subscription, WebhookDelivery
from events.pipeline import events_process_batch
from events.webhook_targets import address_is_internal
from tests.events.receiver import webhook_receiver
from tests.events.test_admin_webhooks import SUBSCRIPTIONS, subscription_form
from tests.factories import EventFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

INTERNAL = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",  # noqa: S104 - the point of the test
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier NAT, Alibaba's metadata at 100.100.100.200)
    "169.254.169.254",  # cloud metadata
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "ff02::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::"]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_internal(address):
    assert address_is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not(address):
    assert not address_is_internal(ipaddress.ip_address(address))


REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:6379/",
    "http://localhost:8000/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://10.0.0.5/hook",
    "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_subscription_to_an_internal_address_is_refused(url):
    subscription = Subscription(name="x", type_pattern="beo.*", target_url=url)

    with pytest.raises(ValidationError) as excinfo:
        subscription.full_clean()

    (message,) = excinfo.value.message_dict["target_url"]
    assert message.startswith("Refused: ")
    assert "is an internal address" in message
    assert "WEBHOOK_ALLOW_PRIVATE_TARGETS" in message


@pytest.mark.parametrize(
    "url", ["http://2130706433/hook", "http://0177.0.0.1/hook", "http://0x7f.1/hook"]
)
def test_decimal_octal_and_hex_spellings_of_an_address_are_refused(url):
    """Django's URL validator refuses them before they could reach inet_aton's lenience."""
    subscription = Subscription(name="x", type_pattern="beo.*", target_url=url)

    with pytest.raises(ValidationError) as excinfo:
        subscription.full_clean()

    assert "target_url" in excinfo.value.message_dict


def test_a_public_address_is_accepted():
    Subscription(name="x", type_pattern="beo.*", target_url="https://8.8.8.8/hook").full_clean()


def test_internal_targets_are_accepted_when_the_setting_allows_them(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    Subscription(name="x", type_pattern="beo.*", target_url="http://127.0.0.1/h").full_clean()


def test_the_admin_refuses_an_internal_target_with_the_reason(client, superuser):
    client.force_login(superuser)
    form = subscription_form(target_url="http://169.254.169.254/latest/meta-data/")

    response = client.post(f"{SUBSCRIPTIONS}add/", form)

    assert response.status_code == 200
    assert "Refused: 169.254.169.254 is an internal address" in response.text
    assert not Subscription.objects.exists()


def deliver_once(user, subscription):
    event = EventFactory.create(owner=user)
    events_process_batch()
    event.refresh_from_db()
    return event, WebhookDelivery.objects.get(event_id=event.pk, subscription=subscription)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_stored_target_that_connects_to_an_internal_address_gets_nothing(user, host):
    """As after DNS rebinding: the name was public when saved, it is internal when used (here
    the subscription is written without its checks); the connected peer decides."""
    subscription = SubscriptionFactory.create(name="rebound")
    with webhook_receiver(subscription.secret) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        Subscription.objects.filter(pk=subscription.pk).update(
            target_url=f"http://{host}:{port}/hooks/beo"
        )
        event, delivery = deliver_once(user, subscription)

    assert receiver.requests == []
    assert not delivery.succeeded
    assert delivery.status_code is None
    assert delivery.error.startswith("Refused: the target resolved to the internal address")
    assert event.status == Status.PENDING
    assert event.last_error == (
        "WebhookDeliveryError: 1 of 1 webhook deliveries failed: rebound: refused: the target "
        "is an internal address"
    )


def test_with_the_setting_a_local_receiver_gets_the_delivery(user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscription = SubscriptionFactory.create()
    with webhook_receiver(subscription.secret) as receiver:
        Subscription.objects.filter(pk=subscription.pk).update(target_url=receiver.url)
        event, delivery = deliver_once(user, subscription)

    assert len(receiver.requests) == 1
    assert delivery.succeeded
    assert event.status == Status.COMPLETED


def test_a_receivers_error_page_is_shown_to_staff_but_not_to_the_api_consumer(
    user, settings, auth_client, client, superuser
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscription = SubscriptionFactory.create(name="crm")
    with webhook_receiver(subscription.secret, statuses=[500]) as receiver:
        Subscription.objects.filter(pk=subscription.pk).update(target_url=receiver.url)
        event, delivery = deliver_once(user, subscription)

    detail = auth_client.get(f"/api/events/{event.pk}/")
    assert detail.status_code == 200
    assert detail.json()["last_error"] == (
        "WebhookDeliveryError: 1 of 1 webhook deliveries failed: crm: HTTP 500 Internal Server "
        "Error"
    )
    assert "receiver says no" not in detail.text
    assert delivery.error == "HTTP 500: receiver says no"
    client.force_login(superuser)
    page = client.get(f"/admin/events/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "receiver says no" in page.text


def test_a_connection_failure_tells_the_consumer_no_address(user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscription = SubscriptionFactory.create(name="gone", target_url="http://127.0.0.1:9/hook")

    event, delivery = deliver_once(user, subscription)

    assert delivery.error.startswith("ConnectionError:")
    assert "127.0.0.1" in delivery.error
    assert event.last_error.endswith("gone: connection failed")
    assert Event.objects.get(pk=event.pk).last_error == event.last_error
