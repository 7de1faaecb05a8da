"""The freshness rules: alerting on what did not happen (the dead-man's switch).

Built like alerts/rules.py's (a snapshot in, checks out; not measured changes nothing).

backup_age      Backup Overdue              high                      BACKUP_MAX_AGE_HOURS
verify_age      Backup Verification Overdue medium                    BACKUP_VERIFY_MAX_AGE_HOURS
beat            Beat Not Running            high                      BEAT_HEARTBEAT_MAX_AGE
workers         No Worker Answering         high (events waiting)     -
dead_letter     Dead-Letter Events          medium                    ALERT_DEAD_LETTER_EVENTS
channels        Notification Channel        high, one per channel     ALERT_CHANNEL_FAILING_AFTER
                Failing
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.conf import settings

from alerts.metrics import Freshness, NotMeasured
from alerts.models import Severity
from alerts.rules import THRESHOLD_RULES, Check, RuleFunc, RuleOutcome, Snapshot


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def freshness_age_hours(value: Freshness, *, now: datetime) -> float:
    """Hours since `value`'s last success (or since installation), as the rules judge it."""
    return _hours(value.age(now=now))


def freshness_overdue(value: Freshness, *, now: datetime, max_hours: float) -> bool:
    """The freshness rules' judgement (backup_age, verify_age; shared with the ops overview)."""
    return freshness_age_hours(value, now=now) > max_hours


@dataclasses.dataclass(frozen=True)
class FreshnessRule:
    """A job that must have succeeded within a number of hours (a setting)."""

    rule: str
    title: str
    name: str  # the alert's
    what: str  # in the message: "Last successful <what> …"
    attribute: str  # the Snapshot field holding its Freshness
    variable: str  # the setting with the hours
    severity: Severity

    @property
    def __name__(self) -> str:
        # A rule function's name: alerts.evaluation names the rules it could not run by it.
        return f"{self.rule}_rule"

    def __call__(self, s: Snapshot) -> RuleOutcome:
        value: Freshness | NotMeasured = getattr(s, self.attribute)
        if isinstance(value, NotMeasured):
            return RuleOutcome(self.rule, self.title, [], value.reason)
        max_hours = float(getattr(settings, self.variable))
        age = freshness_age_hours(value, now=s.now)
        last = value.last_success_at
        last_text = last.isoformat(timespec="seconds") if last else "never"
        if last is None:
            message = (
                f"No successful {self.what} since installation ({value.since:%Y-%m-%d %H:%M}, "
                f"{age:g} h ago; {self.variable} {max_hours:g} h)"
            )
        else:
            message = (
                f"Last successful {self.what} {age:g} h ago ({last_text}; "
                f"{self.variable} {max_hours:g} h)"
            )
        metadata = {
            "operation": value.operation,
            "last_success_at": last_text,
            "age_hours": age,
            "threshold_hours": max_hours,
        }
        overdue = freshness_overdue(value, now=s.now, max_hours=max_hours)
        firing = self.severity if overdue else None
        return RuleOutcome(
            self.rule,
            self.title,
            [Check(self.name, firing, message, age, max_hours, "h", metadata=metadata)],
        )


backup_age_rule = FreshnessRule(
    rule="backup_age",
    title="Last successful backup",
    name="Backup Overdue",
    what="backup (backup_db)",
    attribute="backup",
    variable="BACKUP_MAX_AGE_HOURS",
    severity=Severity.HIGH,
)
verify_age_rule = FreshnessRule(
    rule="verify_age",
    title="Last successful backup verification",
    name="Backup Verification Overdue",
    what="backup verification (verify_backup)",
    attribute="verify",
    variable="BACKUP_VERIFY_MAX_AGE_HOURS",
    severity=Severity.MEDIUM,
)


def beat_rule(s: Snapshot) -> RuleOutcome:
    title = "Beat heartbeat"
    if isinstance(s.beat, NotMeasured):
        return RuleOutcome("beat", title, [], s.beat.reason)
    b = s.beat
    last = b.last_heartbeat
    if last is None:
        return RuleOutcome("beat", title, [], "no beat heartbeat recorded yet")
    # Against the evaluation's clock (`now`), like every other rule.
    age = max(0.0, round((s.now - last).total_seconds(), 1))
    threshold = b.max_age_seconds
    message = (
        f"Last beat heartbeat {age:.0f} s ago ({last.isoformat(timespec='seconds')}; "
        f"BEAT_HEARTBEAT_MAX_AGE {threshold} s)"
    )
    if age > threshold:
        message += ": nothing scheduled runs (backups, sweeps, this evaluation). Is celery beat up?"
    metadata = {
        "last_heartbeat": last.isoformat(),
        "age_seconds": age,
        "threshold_seconds": threshold,
    }
    severity = Severity.HIGH if age > threshold else None
    return RuleOutcome(
        "beat",
        title,
        [Check("Beat Not Running", severity, message, age, threshold, "s", metadata=metadata)],
    )


def workers_rule(s: Snapshot) -> RuleOutcome:
    title = "Workers answering a ping"
    if isinstance(s.workers, NotMeasured):
        return RuleOutcome("workers", title, [], s.workers.reason)
    if isinstance(s.queue, NotMeasured):
        return RuleOutcome("workers", title, [], s.queue.reason)
    ping, waiting = s.workers, s.queue.claimable_since is not None
    answering = len(ping.workers)
    pinged = ping.at.isoformat(timespec="seconds") if ping.at else "never"
    metadata = {
        "answering": answering,
        "workers": list(ping.workers),
        "pinged_at": pinged,
        "pending": s.queue.stats.pending,
    }
    if answering:
        message = f"{answering} worker(s) answering ({', '.join(ping.workers)})"
        severity = None
    elif not waiting:
        message = "No worker answered a ping, and no event is waiting"
        severity = None
    else:
        message = (
            f"No worker answered a ping (at {pinged}, waiting "
            f"{settings.WORKERS_PING_TIMEOUT:g} s) while {s.queue.stats.pending} events are "
            "pending: nothing processes them. Start the Celery workers."
        )
        severity = Severity.HIGH
    return RuleOutcome(
        "workers",
        title,
        [
            Check(
                "No Worker Answering",
                severity,
                message,
                answering,
                unit="workers",
                metadata=metadata,
            )
        ],
    )


def dead_letter_rule(s: Snapshot) -> RuleOutcome:
    title = "Dead-letter (failed) events"
    if isinstance(s.dead_letter, NotMeasured):
        return RuleOutcome("dead_letter", title, [], s.dead_letter.reason)
    count, threshold = s.dead_letter, settings.ALERT_DEAD_LETTER_EVENTS
    message = (
        f"{count} failed events (ALERT_DEAD_LETTER_EVENTS {threshold}): retry or cancel them "
        "in the events admin"
        if count > threshold
        else f"{count} failed events (ALERT_DEAD_LETTER_EVENTS {threshold})"
    )
    severity = Severity.MEDIUM if count > threshold else None
    metadata = {"failed": count, "threshold": threshold}
    return RuleOutcome(
        "dead_letter",
        title,
        [
            Check(
                "Dead-Letter Events",
                severity,
                message,
                count,
                threshold,
                "events",
                metadata=metadata,
            )
        ],
    )


def channels_rule(s: Snapshot) -> RuleOutcome:
    title = "Notification channels delivering"
    if isinstance(s.channels, NotMeasured):
        return RuleOutcome("channels", title, [], s.channels.reason)
    threshold = settings.ALERT_CHANNEL_FAILING_AFTER
    checks = []
    for c in s.channels:
        if c.failing:
            message = (
                f"Notification channel {c.label} failed its last {c.consecutive_failures} "
                f"deliveries: alerts may reach nobody there ({c.last_error or 'no error text'})"
            )
        else:
            message = f"Notification channel {c.label} delivers"
        checks.append(
            Check(
                "Notification Channel Failing",
                Severity.HIGH if c.failing else None,
                message,
                c.consecutive_failures,
                threshold,
                "failures",
                labels={"channel": c.key},
                metadata={"channel": c.label, "consecutive_failures": c.consecutive_failures},
            )
        )
    return RuleOutcome("channels", title, checks)


FRESHNESS_RULES: list[RuleFunc] = [
    backup_age_rule,
    verify_age_rule,
    beat_rule,
    workers_rule,
    dead_letter_rule,
    channels_rule,
]
# Every rule evaluated once the database answers.
METRIC_RULES: list[RuleFunc] = THRESHOLD_RULES + FRESHNESS_RULES
