"""The request-forgery guard of webhooks: which IP addresses a delivery may connect to, and the
resolution of a host name into addresses that have all been checked.

A delivery connects only to an address returned by ``resolve`` (never to the name again), so a
name that resolves to a public address when checked cannot point the connection elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from taskito.exceptions import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IPv6 prefix of NAT64 (RFC 6052), whose last 32 bits are an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedAddressError(Exception):
    """A webhook's host is, or resolves to, an address a delivery may not reach."""


@dataclass(frozen=True)
class CheckedAddress:
    """One address a delivery may connect to: what ``socket.connect`` takes, and its family."""

    family: socket.AddressFamily
    sockaddr: tuple[str, int] | tuple[str, int, int, int]
    ip: IPAddress


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address ("loopback", "private"...), or None.

    An IPv6 address that carries an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64) is
    refused when the IPv4 address inside it is; an IPv4-mapped one is judged by that alone.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is the IPv4 address itself, spoken over an IPv6 socket.
            reason = refusal_reason(ip.ipv4_mapped)
            return None if reason is None else f"{reason}, embedded in {ip}"
        for inner in _embedded_ipv4(ip):
            reason = refusal_reason(inner)
            if reason is not None:
                return f"{reason}, embedded in {ip}"
        if ip.is_site_local:
            return "site-local"
    flags = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for reason, flagged in flags:
        if flagged:
            return reason
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def literal_ip(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (as ``urlsplit(...).hostname`` gives it)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_literal(host: str) -> None:
    """Raise ``ConfigurationError`` (a ``ValueError``) when ``host`` is an IP literal that
    deliveries would refuse."""
    ip = literal_ip(host)
    reason = None if ip is None else refusal_reason(ip)
    if reason is not None:
        raise ConfigurationError(
            f"webhook host {host} is not a public address ({reason}); deliveries to it are "
            "refused unless allow_private=True"
        )


def resolve(host: str, port: int, *, allow_private: bool) -> list[CheckedAddress]:
    """Every TCP address of ``host``, in the resolver's order, all of them checked.

    Raises ``RefusedAddressError`` when any address is refused (a name that resolves to one
    private address among public ones is refused whole), and ``OSError`` when the name does not
    resolve. With ``allow_private`` nothing is refused.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    checked: list[CheckedAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = None if allow_private else refusal_reason(ip)
        if reason is not None:
            raise RefusedAddressError(
                f"{host} resolves to {ip}, which is not a public address ({reason}); "
                "deliveries to it are refused unless allow_private=True"
            )
        checked.append(CheckedAddress(family, sockaddr, ip))  # type: ignore[arg-type]
    if not checked:
        raise OSError(f"{host} has no IPv4 or IPv6 address")
    return checked


__all__ = [
    "CheckedAddress",
    "RefusedAddressError",
    "check_literal",
    "literal_ip",
    "refusal_reason",
    "resolve",
]
