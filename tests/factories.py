"""factory_boy factories shared by the suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from events.models import Event, Priority, Status, Subscription


class UserFactory(factory.django.DjangoModelFactory[AbstractUser]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-only-123")


class EventFactory(factory.django.DjangoModelFactory[Event]):
    class Meta:
        model = Event

    owner = factory.SubFactory(UserFactory)
    type = "beo.created"
    payload = factory.LazyFunction(lambda: {"beo": "BEO-1", "guests": 120})
    priority = Priority.NORMAL
    status = Status.PENDING
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyAttribute(lambda o: o.created_at)
    available_at = factory.LazyAttribute(lambda o: o.created_at)


class SubscriptionFactory(factory.django.DjangoModelFactory[Subscription]):
    class Meta:
        model = Subscription

    name = factory.Sequence(lambda n: f"subscription-{n}")
    type_pattern = "beo.*"
    target_url = "http://127.0.0.1:9/hook"
