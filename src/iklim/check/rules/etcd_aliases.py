"""APISIX reaches etcd through the overlay aliases ``etcd-01..03``, defined on the etcd services.

Every etcd host in APISIX's config must be one of the model's aliases (seed: ``etcd-01``,
``etcd-02``, ``etcd-03``), and the etcd services must define those aliases on the overlay
network (``networks: {iklim-overlay: {aliases: [etcd-01]}}``): Swarm does not resolve a
``hostname``, only service names and network aliases.

Failing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://10.0.2.11:2379"]

Passing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://etcd-01:2379", "http://etcd-02:2379", "http://etcd-03:2379"]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.compose import networks
from iklim.check.configs import apisix_etcd
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

_HOST = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*)")
_NAME = re.compile(r"\[[0-9A-Fa-f:.]*\]|[A-Za-z0-9_.-]+")


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    aliases = set(policy.etcd_aliases)
    for client in apisix_etcd(docs):
        hosts = client.hosts()
        if hosts is None:
            pos = client.section.at(client.hosts_key) if client.hosts_key in client.section else client.section.pos
            yield RULE.at(
                client.path,
                pos,
                f"list the etcd hosts by their overlay aliases "
                f"({', '.join(policy.etcd_aliases)}) under '{client.hosts_key}'",
            )
            continue
        for host in hosts:
            if host.text is None:  # ${{VAR}} without a default: apisix-interpolation says so
                continue
            match = _HOST.match(host.text.strip())
            name = match.group(1) if match else ""
            if name not in aliases:
                shown = name if _NAME.fullmatch(name) else host.text
                dashboard = client.dashboard and "${{" in host.text
                hint = " (the APISIX Dashboard does not expand ${{...}})" if dashboard else ""
                yield RULE.at(
                    client.path,
                    host.pos,
                    f"reach etcd by an overlay alias ({', '.join(policy.etcd_aliases)}), not {shown!r}{hint}",
                )
    defined: set[str] = set()
    etcd = [ref for ref in docs.services(("infra", "stack")) if ref.kind == "etcd"]
    for ref in etcd:
        nets = networks(ref.spec)
        if policy.overlay_network in nets:
            defined.update(nets[policy.overlay_network][0])
    for ref in etcd:
        nets = networks(ref.spec)
        if policy.overlay_network not in nets:
            pos = ref.spec.kpos.get("networks", ref.key_pos)
            yield RULE.on(
                ref, pos, f"attach {ref.name!r} to the overlay network {policy.overlay_network!r} with its etcd alias"
            )
    missing = [a for a in policy.etcd_aliases if a not in defined]
    if etcd and missing:
        ref = etcd[0]
        net = networks(ref.spec).get(policy.overlay_network)
        pos = net[1] if net else ref.spec.kpos.get("networks", ref.key_pos)
        net_name = policy.overlay_network
        yield RULE.on(
            ref,
            pos,
            f"define the alias(es) {', '.join(missing)} on the etcd services' {net_name!r} "
            f"network (networks: {{{net_name}: {{aliases: [...]}}}})",
        )


RULE = Rule("etcd-aliases", Severity.ERROR, __doc__ or "", check)
