from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The project package as an app: signal wiring, templates tags and local commands."""

    name = "beo_automation"
    verbose_name = "beo-automation"

    def ready(self) -> None:
        from beo_automation import checks, lockout, signals  # noqa: F401 - checks registers

        signals.connect()
        lockout.connect()

        from beo_automation import static_files  # noqa: F401 - registers its system check
