"""Which provider endpoints Tollgate may connect to (the SSRF guard).

An endpoint is an http(s) URL whose host resolves only to public addresses. Link-local and
cloud-metadata addresses and names are always refused; private, loopback and other non-public
networks only when listed in `TOLLGATE_ALLOW_PRIVATE_ENDPOINTS` (comma-separated CIDRs or host
names). Hosts are normalised the way resolvers read them (`127.1`, `2130706433`, `0x7f.0.0.1`,
`::ffff:127.0.0.1` are all loopback). The same guard runs at create/update (`check_url`) and at
connect time (`resolve_checked`, used by the transports' resolvers), so DNS rebinding between
the two is caught. Pure except `resolve_checked`/`check_url`, which await the resolver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Refused whatever the allow list says: link-local (cloud metadata lives there), the metadata
# services' other addresses, "this network", multicast and the unspecified addresses.
ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "ff00::/8",
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.platformequinix.com",
    }
)
ALLOW_HINT = "TOLLGATE_ALLOW_PRIVATE_ENDPOINTS"


class EndpointRefused(ValueError):
    """The endpoint is not one Tollgate may connect to (message safe to show)."""


def _ipv4_lenient(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton's reading of `host` (1-4 parts, each decimal, 0x-hex or 0-octal), or None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    nums: list[int] = []
    for p in parts:
        try:
            if p[:2].lower() == "0x":
                n = int(p[2:] or "0", 16)
            elif len(p) > 1 and p.startswith("0"):
                n = int(p, 8)
            else:
                n = int(p, 10) if p.isdigit() else -1
        except ValueError:
            return None
        if n < 0:
            return None
        nums.append(n)
    *head, last = nums
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def normalise_host(host: str) -> tuple[str, IP | None]:
    """(lower-case name without trailing dot, the IP it spells or None). Pure."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if "%" in h:  # IPv6 zone id
        h = h.split("%", 1)[0]
    try:
        ip: IP | None = ipaddress.ip_address(h)
    except ValueError:
        ip = _ipv4_lenient(h)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return h, ip


class AllowList:
    """Networks and host names where non-public endpoints are allowed (default: none)."""

    def __init__(self, spec: str | Iterable[str] = "") -> None:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        for raw in (i.strip() for i in items):
            if not raw:
                continue
            try:
                self.networks.append(ipaddress.ip_network(raw, strict=False))
            except ValueError:
                name, ip = normalise_host(raw)
                if ip is not None:
                    self.networks.append(ipaddress.ip_network(ip))
                else:
                    self.hosts.add(name)

    def allows(self, name: str, ip: IP | None) -> bool:
        if name in self.hosts:
            return True
        return ip is not None and any(ip in n for n in self.networks)


def classify(ip: IP) -> str:
    """ "metadata" (never allowed), "private" (allowed only when listed) or "public". Pure."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in n for n in ALWAYS_REFUSED if n.version == ip.version):
        return "metadata"
    if ip.is_global and not ip.is_multicast:
        return "public"
    return "private"


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (awaits DNS; raises OSError)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(i[4][0] for i in infos))


class EndpointGuard:
    """Checks endpoints against the rules above; `resolver` is injectable for tests."""

    def __init__(
        self, allow: str | Iterable[str] = "", resolver: Resolver | None = None, resolve_timeout_s: float = 3.0
    ) -> None:
        self.allow = allow if isinstance(allow, AllowList) else AllowList(allow)
        self.resolver = resolver or system_resolver
        self.resolve_timeout_s = resolve_timeout_s

    @classmethod
    def from_settings(cls, settings, resolver: Resolver | None = None) -> EndpointGuard:
        return cls(getattr(settings, "allow_private_endpoints", "") or "", resolver)

    def check_address(self, host: str, ip: IP) -> None:
        """Raise EndpointRefused unless `ip` (what `host` resolved to) may be connected to."""
        name, _ = normalise_host(host)
        kind = classify(ip)
        if kind == "metadata":
            raise EndpointRefused(
                f"endpoint host {name} is refused: link-local and cloud-metadata addresses are never allowed"
            )
        if kind == "private" and not self.allow.allows(name, ip):
            raise EndpointRefused(
                f"endpoint host {name} is refused: it is a private, loopback or otherwise "
                f"non-public address; list it in {ALLOW_HINT} to allow it"
            )

    def check_host(self, host: str) -> IP | None:
        """Static check of a host name or literal; the IP when it spells one. Pure."""
        name, ip = normalise_host(host)
        if not name:
            raise EndpointRefused("endpoint host is refused: the endpoint must name a host")
        if name in METADATA_HOSTS or name.endswith(".metadata.google.internal"):
            raise EndpointRefused(f"endpoint host {name} is refused: cloud-metadata hosts are never allowed")
        if ip is not None:
            self.check_address(name, ip)
        return ip

    async def resolve_checked(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, every one checked (connect time; raises EndpointRefused
        when any is refused, OSError when the name does not resolve)."""
        ip = self.check_host(host)
        if ip is not None:
            return [str(ip)]
        async with asyncio.timeout(self.resolve_timeout_s):
            addrs = await self.resolver(host, port)
        if not addrs:
            raise OSError(f"no address for {host}")
        for a in addrs:
            self.check_address(host, ipaddress.ip_address(a.split("%", 1)[0]))
        return addrs

    async def check_url(self, url: str) -> None:
        """Create/update-time check of an endpoint URL. A host that does not resolve now is
        accepted (the connect-time check decides then); a refused one raises EndpointRefused."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise EndpointRefused("endpoint must be an http(s) URL")
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            await self.resolve_checked(parts.hostname, port)
        except EndpointRefused:
            raise
        except (OSError, TimeoutError, UnicodeError, ValueError):
            return
