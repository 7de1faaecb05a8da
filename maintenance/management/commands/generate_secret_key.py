"""Print a strong random secret (the operations guide's `openssl rand` step)."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from beo_automation.command_arguments import bounded_int, checked
from beo_automation.secret_key import MIN_LENGTH

BYTES = bounded_int(1, 1024)


class Command(BaseCommand):
    help = "Print a random secret suitable for SECRET_KEY or JWT_SIGNING_KEY."

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--bytes",
            type=BYTES,
            default=48,
            help="Random bytes before encoding (default 48 → 64 characters).",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        size = checked(BYTES, options["bytes"], option="--bytes")
        key = secrets.token_urlsafe(size)
        if len(key) < MIN_LENGTH:
            raise CommandError(
                f"--bytes {options['bytes']} gives fewer than {MIN_LENGTH} characters"
            )
        return key
