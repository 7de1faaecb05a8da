"""argparse converters for operator input: a bad value is refused with one line that says what
is wrong (through call_command a CommandError; on the command line argparse's usage error),
before the command does anything.

Numbers are bounded (no NaN, no infinity, nothing that overflows a date or a sleep) and text
holds no NUL character (PostgreSQL text and JSON cannot store one).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError


def no_nul(value: str, *, what: str = "the value") -> str:
    if "\x00" in value:
        raise argparse.ArgumentTypeError(f"{what} contains a NUL character (\\x00)")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(no_nul(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, not {value}")
        return value

    return convert


def bounded_seconds(
    low: float, high: float, *, low_inclusive: bool = True
) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(no_nul(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        too_low = value < low if low_inclusive else value <= low
        if not math.isfinite(value) or too_low or value > high:
            bound = "at least" if low_inclusive else "more than"
            raise argparse.ArgumentTypeError(
                f"must be {bound} {low:g} and at most {high:g} seconds, not {text}"
            )
        return value

    return convert


def text(*, max_length: int, allow_empty: bool = True) -> Callable[[str], str]:
    def convert(value: str) -> str:
        no_nul(value)
        if not allow_empty and not value.strip():
            raise argparse.ArgumentTypeError("must not be empty")
        if len(value) > max_length:
            raise argparse.ArgumentTypeError(
                f"is {len(value):,} characters long; at most {max_length:,} are allowed"
            )
        return value

    return convert


def checked(convert: Callable[[str], Any], value: Any, *, option: str) -> Any:
    """Apply `convert` to a value that did not come through argparse (call_command's keyword
    options skip the `type=` converter): the same rule, the same message."""
    if value is None:
        return None
    try:
        return convert(str(value))
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"{option} {exc}") from None
