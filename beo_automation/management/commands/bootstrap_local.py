"""First-run convenience for the embedded default: a local superuser to open /admin/ with."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from beo_automation.command_arguments import text
from beo_automation.operator_commands import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Create a local superuser on first run and print its login (DEBUG only). "
        "Does nothing when any superuser exists."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--username", type=text(max_length=150, allow_empty=False), default="admin"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "bootstrap_local only runs with DEBUG=true; in production create staff users "
                'with `make manage ARGS="createsuperuser"`.'
            )
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                f"Admin: http://127.0.0.1:{self._port()}/admin/ (existing superuser; "
                '`make manage ARGS="changepassword <name>"` resets a password)'
            )
            return
        username = options["username"]
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(
            username=username, email=f"{username}@localhost", password=password
        )
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{bar}\nCreated a local superuser for the admin — shown only this once:\n"
                f"  URL:      http://127.0.0.1:{self._port()}/admin/\n"
                f"  username: {username}\n  password: {password}\n{bar}"
            )
        )

    @staticmethod
    def _port() -> str:
        return os.environ.get("PORT", "8000")
