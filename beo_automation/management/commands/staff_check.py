"""First run on the real stack: say how to create the first staff user when there is none."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from beo_automation.operator_commands import OperatorCommand

FIRST_STAFF_HINT = (
    'No staff user yet: create the first with `make manage ARGS="createsuperuser"` '
    "(or `.venv/bin/python manage.py createsuperuser`), then log in at /admin/."
)


class Command(OperatorCommand):
    help = (
        "Print how to create the first staff user when no active staff user exists (`make run` "
        "runs it after migrate on the real stack). Prints nothing otherwise."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not get_user_model().objects.filter(is_staff=True, is_active=True).exists():
            self.stdout.write(self.style.WARNING(FIRST_STAFF_HINT))
