"""Which addresses a webhook may reach: public ones, unless WEBHOOK_ALLOW_PRIVATE_TARGETS.

A subscription's URL is chosen by staff, but a delivery is a request made from inside the
deployment: to 127.0.0.1, the cloud's metadata service (169.254.169.254, fd00:ec2::254) or a
private network it would reach services nobody exposed. So a target is refused when its host
is (or resolves to) a loopback, private, link-local, shared, reserved, multicast or
unspecified address, including IPv4 addresses wrapped in IPv6 (::ffff:127.0.0.1, 6to4, NAT64).

The rule is checked twice: when a subscription is saved (its host resolved now) and on every
delivery against the address the socket actually connected to, so a name that resolves
elsewhere later (DNS rebinding) is refused too. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class InternalTargetError(Exception):
    """A delivery would reach an internal address: it is not sent."""


def private_targets_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_TARGETS)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_internal(address: IPAddress) -> bool:
    """True for every address a webhook must not reach (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_is_internal(embedded)
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    )


def parse_address(text: str) -> IPAddress | None:
    """An address as the socket layer reports it (IPv6 may carry a %scope)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def webhook_target_problem(url: str) -> str | None:
    """Why `url` may not be a webhook target now, or None. Resolves its host: any internal
    address among the answers refuses it. A name that does not resolve (yet) passes here;
    delivery checks the address it connects to."""
    if private_targets_allowed():
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the URL cannot be parsed"
    if not host:
        return "the URL has no host"
    try:
        answers = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_, sockaddr in answers:
        address = parse_address(str(sockaddr[0]))
        if address is None or address_is_internal(address):
            return (
                f"{host} is an internal address ({sockaddr[0]}); webhooks may only target "
                "public addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS allows internal ones)"
            )
    return None


def connected_peer_check(sock: socket.socket) -> None:
    """Raise InternalTargetError when this freshly connected socket's peer is internal."""
    if private_targets_allowed():
        return
    peer = sock.getpeername()
    address = parse_address(str(peer[0]))
    if address is None or address_is_internal(address):
        raise InternalTargetError(
            f"Refused: the target resolved to the internal address {peer[0]} (set "
            "WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow internal targets)"
        )
