"""Foundation commands: generate_secret_key and the local first-run superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from beo_automation.secret_key import secret_key_problem


def test_generate_secret_key_prints_a_key_production_accepts(capsys):
    call_command("generate_secret_key")
    key = capsys.readouterr().out.strip()
    assert secret_key_problem(key) is None
    call_command("generate_secret_key")
    assert capsys.readouterr().out.strip() != key


def test_generate_secret_key_refuses_too_few_bytes():
    with pytest.raises(CommandError, match="fewer than 50 characters"):
        call_command("generate_secret_key", "--bytes", "8")


@pytest.mark.django_db
def test_bootstrap_local_creates_a_superuser_once_and_prints_its_login(settings, capsys):
    settings.DEBUG = True
    call_command("bootstrap_local")
    out = capsys.readouterr().out
    assert "username: admin" in out
    password = out.split("password: ")[1].split()[0]
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser
    assert user.check_password(password)

    call_command("bootstrap_local")
    again = capsys.readouterr().out
    assert "password:" not in again
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_bootstrap_local_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=true"):
        call_command("bootstrap_local")
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_staff_check_says_how_to_create_the_first_staff_user(capsys):
    call_command("staff_check")
    out = capsys.readouterr().out
    assert 'make manage ARGS="createsuperuser"' in out


@pytest.mark.django_db
def test_staff_check_is_silent_once_a_staff_user_exists(capsys, staff_user):
    call_command("staff_check")
    assert capsys.readouterr().out == ""
