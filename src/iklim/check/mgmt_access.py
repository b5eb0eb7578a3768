"""What an nginx allow-list admits: public ranges and ``satisfy any`` (for ``rabbitmq-mgmt-ip``).

The model lets RabbitMQ's management allow-list hold only RFC 1918 ranges or ranges inside
``admin_cidrs`` (:mod:`iklim.model.boundaries`); a SWAG site allowing anything wider admits
the public, whatever the deny after it.
"""

from __future__ import annotations

import ipaddress

from iklim.check.nginx import Directive

RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def public(arg: str, trusted: tuple[str, ...]) -> str | None:
    """Why ``allow arg;`` admits the public (a sentence), None when ``arg`` lies inside RFC 1918
    or one of ``trusted`` (CIDRs) or is not an address (``unix:``, a variable)."""
    net = _network(arg)
    if net is None:
        return None
    if net.prefixlen == 0:
        return "admits every address: list the operators' ranges"
    for text in (*RFC1918, *trusted):
        inside = _network(text)
        if inside is not None and inside.version == net.version and net.subnet_of(inside):  # type: ignore[arg-type]
            return None
    return "is neither a private range nor inside admin_cidrs: admit operators through the bastion or VPN"


def _satisfy(block: tuple[Directive, ...] | None) -> str | None:
    found = [d for d in block or () if d.name == "satisfy" and d.args]
    return found[-1].args[0].lower() if found else None


def satisfy_any(target: Directive, server: Directive, rules: list[Directive]) -> str | None:
    """A problem sentence when ``satisfy any`` (in ``target``, else inherited from ``server``)
    applies next to the allow-list ``rules``: a client then passes by address OR by auth."""
    mode = _satisfy(target.block) if target is not server else None
    mode = mode or _satisfy(server.block)
    if mode == "any" and any(d.name == "allow" for d in rules):
        return "remove 'satisfy any;': it admits by authentication alone, past the allow-list"
    return None
