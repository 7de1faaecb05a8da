"""Send a test notification to every channel and say which ones work."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError, CommandParser

from beo_automation.command_arguments import text
from beo_automation.operator_commands import OperatorCommand
from maintenance.services.run_records import command_context


class Command(OperatorCommand):
    help = (
        "Send a test notification to every channel of ALERT_NOTIFY_URLS, one attempt each, "
        "and report per channel whether it was delivered. Exits 1 if any channel failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--message",
            type=text(max_length=2000),
            default="",
            help="Text of the test notification.",
        )

    def handle(self, *args: Any, **options: Any) -> str:
        from alerts.notifiers import configured_channels, invalid_channels

        invalid = invalid_channels()
        for channel in invalid:
            self.stdout.write(
                self.style.ERROR(
                    f"✗ URL {channel.position} ({channel.label}): not a valid Apprise URL"
                )
            )
        if not configured_channels():
            raise CommandError(
                "No usable notification channel: set ALERT_NOTIFY_URLS to one or more Apprise "
                "URLs separated by spaces or commas, e.g. "
                "'slacks://TokenA/TokenB/TokenC/#alerts json://hooks.example.com/beo' "
                "(https://github.com/caronc/apprise/wiki)."
            )
        from alerts import jobs

        started = time.perf_counter()
        results = jobs.send_test_alert(
            context=command_context(command="send_test_alert"),
            message=options["message"],
            invalid_urls=len(invalid),
        )
        for result in results:
            note = "" if result.recorded else " (not recorded: database unavailable)"
            if result.ok:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"✓ {result.label}: delivered in {result.duration_ms:.0f} ms{note}"
                    )
                )
            else:
                self.stdout.write(self.style.ERROR(f"✗ {result.label}: {result.error}{note}"))
        ok = sum(r.ok for r in results)
        total = len(results) + len(invalid)
        summary = (
            f"Test alert delivered to {ok} of {total} channels in "
            f"{time.perf_counter() - started:.2f} s"
        )
        if ok < total:
            raise CommandError(f"{summary}; {total - ok} failed (see above)")
        return summary
