"""Post-mortems: a draft pre-filled from the incident and its timeline, and the check that
one is written (critical and high incidents close only through it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from alerts.models import Incident

PLACEHOLDER = "_(to be written)_"


def postmortem_problem(text: str) -> str | None:
    """Why this post-mortem is not written yet, or None when it is."""
    if not text.strip():
        return "Write the post-mortem (summary, impact, root cause, resolution) before closing"
    if PLACEHOLDER in text:
        return (
            f"The post-mortem still has unwritten sections marked {PLACEHOLDER}: write or "
            "remove them before closing"
        )
    return None


def duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def incident_postmortem_template(incident: Incident, *, now: datetime | None = None) -> str:
    """A post-mortem draft: facts filled in from the incident and its timeline, the analysis
    left to write."""
    now = now or timezone.now()
    fmt = "%Y-%m-%d %H:%M:%S %Z"

    def since(at: datetime | None) -> str:
        if at is None:
            return "—"
        return f"{at:{fmt}} (after {duration_text(at - incident.detected_at)})"

    commander = incident.commander.get_username() if incident.commander else "—"
    lines = [
        f"# Post-mortem: {incident.title} (incident #{incident.pk})",
        "",
        f"- Severity: {incident.severity}",
        f"- Detected: {incident.detected_at:{fmt}}",
        f"- Response due: {incident.response_due_at:{fmt}}",
        f"- Acknowledged: {since(incident.acknowledged_at)}",
        f"- Escalated: {since(incident.escalated_at)}",
        # A draft written before the end must not claim it is over.
        "- Resolved: "
        + (
            since(incident.resolved_at)
            if incident.resolved_at
            else f"not yet (unresolved as of {now:{fmt}})"
        ),
        f"- Commander: {commander}",
        "",
        "## Summary",
        PLACEHOLDER,
        "",
        "## Impact",
        PLACEHOLDER,
        "",
        "## Timeline",
    ]
    for entry in incident.timeline.select_related("actor").order_by("at", "id"):
        lines.append(f"- {entry.at:{fmt}} — {entry.actor_name} — {entry.text}")
    alerts = list(incident.alerts.order_by("first_seen", "id"))
    if alerts:
        lines += ["", "## Alerts"]
        lines += [
            f"- #{a.pk} {a.name} ({a.severity}, {a.status}): {a.occurrences} occurrence(s), "
            f"first {a.first_seen:{fmt}}, last {a.last_seen:{fmt}}"
            for a in alerts
        ]
    for section in ("Root cause", "Resolution", "Action items", "Lessons learned"):
        lines += ["", f"## {section}", PLACEHOLDER]
    return "\n".join(lines) + "\n"
