"""The one retry-delay rule both event handlers and alert notifications back off by."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from beo_automation.backoff import backoff_seconds


@given(
    attempt=st.integers(min_value=-3, max_value=200),
    base=st.floats(min_value=0.001, max_value=600),
    ceiling=st.floats(min_value=0.001, max_value=86_400),
)
def test_a_delay_is_in_the_upper_half_of_the_capped_exponential(attempt, base, ceiling):
    nominal = min(ceiling, base * 2 ** max(0, attempt - 1))
    delay = backoff_seconds(attempt=attempt, base=base, ceiling=ceiling)
    assert nominal / 2 <= delay <= nominal


def test_delays_double_until_the_ceiling_and_are_jittered():
    firsts = [backoff_seconds(attempt=1, base=10, ceiling=300) for _ in range(50)]
    assert all(5 <= d <= 10 for d in firsts)
    assert len(set(firsts)) > 1  # jittered: retries of many failures do not arrive together
    assert all(20 <= backoff_seconds(attempt=3, base=10, ceiling=300) <= 40 for _ in range(20))
    assert all(150 <= backoff_seconds(attempt=30, base=10, ceiling=300) <= 300 for _ in range(20))
