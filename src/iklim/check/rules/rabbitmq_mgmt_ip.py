"""RabbitMQ management is published through SWAG behind an IP allow-list ending in ``deny all``.

The SWAG site that proxies to RabbitMQ's management UI (a server whose ``proxy_pass`` or
``set`` names the management port 15672, RabbitMQ's own, or a RabbitMQ service of the
stacks, recognised by its image; the file's name does not matter) must restrict every
proxied location: ``allow CIDR;`` lines followed by ``deny all;`` as the last access rule.
An ``allow all;`` before the deny lets everyone in. Rules in a ``location`` replace the server's, as in nginx.
Every allowed range must lie inside the RFC 1918 ranges, the policy's private subnets or its
``admin_cidrs`` (the model's ``management_allow`` may hold nothing else): ``allow 0.0.0.0/0;``,
``allow ::/0;`` or ``allow 8.8.8.0/24;`` admit the public. ``satisfy any;`` where the allow-list
applies lets a client in by IP *or* by authentication: the list no longer restricts.

Failing example (config/swag/rabbitmq.subdomain.conf)::

    server {
        listen 443 ssl;
        server_name rabbitmq.*;
        location / { proxy_pass http://rabbitmq-1:15672; }
    }

Passing example (config/swag/rabbitmq.subdomain.conf)::

    server {
        listen 443 ssl;
        server_name rabbitmq.*;
        allow 10.0.0.0/16;
        deny all;
        location / { proxy_pass http://rabbitmq-1:15672; }
    }
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.compose import networks
from iklim.check.configs import nginx_confs
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.mgmt_access import public, satisfy_any
from iklim.check.nginx import Directive, parse
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

OPTIONS = {"management_port": "15672"}


def _access(block: tuple[Directive, ...]) -> list[Directive]:
    return [d for d in block if d.name in ("allow", "deny")]


def _problem(rules: list[Directive], trusted: tuple[str, ...] = ()) -> str | None:
    """What is wrong with an access list (``allow``/``deny`` in order), None when nothing is;
    ``trusted``: the CIDRs an ``allow`` may name besides RFC 1918."""
    if not rules:
        return "add 'allow <CIDR>;' lines and a final 'deny all;'"
    if any(d.name == "allow" and d.args == ("all",) for d in rules):
        return "remove 'allow all;': it admits everyone before the deny"
    for d in rules:
        if d.name == "allow" and d.args:
            wide = public(d.args[0], trusted)
            if wide is not None:
                return f"'allow {d.args[0]};' {wide}"
    if rules[-1].name != "deny" or rules[-1].args != ("all",):
        return "end the allow-list with 'deny all;'"
    if not any(d.name == "allow" for d in rules):
        return "allow the operators' CIDRs before 'deny all;'"
    return None


_WORD = re.compile(r"[A-Za-z0-9_.-]+")


def _is_rabbitmq(servers: list[Directive], hosts: set[str], port: str = OPTIONS["management_port"]) -> bool:
    """A server proxying to the management ``port`` or to a RabbitMQ service (``hosts``: its names)."""
    names = hosts | {port}
    for server in servers:
        for location in server.find("location"):
            for proxy in location.find("proxy_pass") + location.find("set"):
                if any(word in names for arg in proxy.args for word in _WORD.findall(arg)):
                    return True
    return False


def _rabbitmq_hosts(docs: Documents) -> set[str]:
    """The names and network aliases of the RabbitMQ services, as other services reach them."""
    hosts: set[str] = set()
    for ref in docs.services():
        if ref.kind == "rabbitmq":
            hosts.add(ref.name)
            hosts.update(alias for aliases, _ in networks(ref.spec).values() for alias in aliases)
    return hosts


def _servers(top: tuple[Directive, ...]) -> list[Directive]:
    out = []
    for d in top:
        if d.name == "server" and d.block is not None:
            out.append(d)
        elif d.name == "http" and d.block is not None:
            out.extend(_servers(d.block))
    return out


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    hosts = _rabbitmq_hosts(docs)
    for path, text in nginx_confs(docs):
        servers = _servers(parse(text, path))
        if not servers or not _is_rabbitmq(servers, hosts, RULE.settings(policy)["management_port"]):
            continue
        for server in servers:
            if not server.find("location") and not server.find("proxy_pass"):
                continue
            inherited = _access(server.block or ())
            locations = [loc for loc in server.find("location") if loc.find("proxy_pass") or loc.find("include")]
            targets = locations or [server]
            trusted = (*policy.private(), *policy.admin_cidrs)
            for target in targets:
                rules = _access(target.block or ()) or inherited
                problem = _problem(rules, trusted) or satisfy_any(target, server, rules)
                if problem is not None:
                    where = " ".join(target.args) or "server"
                    yield RULE.at(
                        path, (target.line, 1), f"RabbitMQ management ({where}) must be IP-restricted: {problem}"
                    )


RULE = Rule("rabbitmq-mgmt-ip", Severity.ERROR, __doc__ or "", check, OPTIONS)
