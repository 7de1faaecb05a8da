"""The recovery bound the README states is the one `make chaos` holds runs to."""

from __future__ import annotations

import re
from pathlib import Path

from events.recovery import recovery_bound_seconds

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_bound_grows_with_the_longer_of_the_two_timeouts() -> None:
    assert recovery_bound_seconds(processing_timeout=30, requeue_after=30) == 100
    assert recovery_bound_seconds(processing_timeout=30, requeue_after=200) == 270
    assert recovery_bound_seconds(processing_timeout=300, requeue_after=60) == 370


def test_the_readme_states_the_default_bound(settings) -> None:
    settings.EVENT_PROCESSING_TIMEOUT = 300
    settings.EVENT_REQUEUE_AFTER = 60
    stated = re.search(r"\*\*(\d+) minutes\*\* with the defaults", README.read_text())
    assert stated, "README no longer states the worst-case recovery"
    assert int(stated.group(1)) * 60 >= recovery_bound_seconds() > (int(stated.group(1)) - 1) * 60
