"""Parsing the rate-limit and proxy settings at start-up, so a typo stops the process with a
message naming the variable instead of surfacing later as a 500 on the first request.

Pure functions with no Django imports: settings.py calls them while it is being loaded.
"""

from __future__ import annotations

import ipaddress
import re

# "<count>/<period>" where period is s, m, h or d, optionally with a multiplier ("100/5m" = 100
# per five minutes): django-ratelimit's syntax, which operators may know.
RATE_PATTERN = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)?([smhd])$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_rate(name: str, value: str) -> str:
    """Return the rate unchanged when it is one (RATE_PATTERN); ValueError naming `name`."""
    value = value.strip()
    if not RATE_PATTERN.fullmatch(value):
        raise ValueError(
            f"{name}={value!r} is not a rate: use <count>/<period> with period s, m, h or d, "
            'for example "100/m" or "1000/5m"'
        )
    return value


def parse_networks(name: str, values: list[str]) -> tuple[Network, ...]:
    """IP addresses or CIDR ranges (`10.0.0.0/8`, `::1`); ValueError naming `name`."""
    networks: list[Network] = []
    for raw in values:
        item = raw.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{name} contains {item!r}, which is neither an IP address nor a CIDR range "
                "(e.g. 10.0.0.5 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_split(rate: str) -> tuple[int, int]:
    """A rate parse_rate accepted, as (requests allowed, window in seconds): "1000/5m" is
    (1000, 300)."""
    match = RATE_PATTERN.fullmatch(rate.strip())
    if match is None:
        raise ValueError(f"{rate!r} is not a rate")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * PERIOD_SECONDS[unit]
