"""Request metrics share the alerts' Redis keys (ALERTS_KEY_PREFIX): the same per-test isolation
and probe URLs as the alerts tests."""

from __future__ import annotations

from tests.alerts.conftest import alerts_isolated, probe_client

__all__ = ["alerts_isolated", "probe_client"]
