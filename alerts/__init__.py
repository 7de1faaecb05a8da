"""Alerts, incidents and notifications.

The modules are layered: each imports only from the layers below it, never from above
(pyproject's [tool.importlinter] contracts, checked by `make lint`, function-level imports
included). From the top:

- tasks, admin, api, management: entry points (Celery, staff screens, REST, commands).
- evaluation, escalation: the jobs: measure and apply the rules; escalate overdue incidents.
- services: send_alert / alert_raise (store, or hold when the database is down), acknowledge.
- holding: alerts held while the database is down, stored once it is back.
- occurrences: the occurrence rule (fingerprint, merge into the open alert, when to notify),
  one function for stored and held alerts alike.
- incidents: the incident procedure (a critical occurrence opens or joins one).
- resolution, postmortem: resolving an alert (acknowledging an incident resolves its
  "response overdue" alert); the post-mortem template and check.
- notifications (queue and deliver, the task enqueued by name), silences, selectors (reads).
- notifiers (Apprise channels), rules (thresholds); models, redis_client at the bottom.
"""
