"""Job runs of the alerts jobs (read-only), with the evaluation's measurements as a table."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from alerts.admin.common import ReadOnlyAdmin
from alerts.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """Every run of an alerts job, by beat or an operator: who, when, how long, how it ended."""

    list_display = (
        "started_at",
        "job",
        "trigger",
        "triggered_by",
        "duration_ms",
        "succeeded",
        "headline",
    )
    list_filter = ("job", "trigger", "succeeded")
    search_fields = ("triggered_by", "error")
    readonly_fields = ("measurements_table",)

    @admin.display(description="summary")
    def headline(self, run: JobRun) -> str:
        if run.error:
            return run.error[:120]
        if "summary" in run.summary:
            return str(run.summary["summary"])
        return ", ".join(f"{k}: {v}" for k, v in run.summary.items())[:200]

    @admin.display(description="measurements")
    def measurements_table(self, run: JobRun) -> SafeString | str:
        measurements = run.summary.get("measurements") or {}
        if not measurements:
            return "—"
        rows: Iterable[tuple[str, str, str]] = (
            (
                rule,
                "not measured: " + data["not_measured"] if data.get("not_measured") else "",
                "; ".join(
                    ("✗ " if c["firing"] else "✓ ") + c["message"] for c in data.get("checks", [])
                ),
            )
            for rule, data in measurements.items()
        )
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows),
        )
