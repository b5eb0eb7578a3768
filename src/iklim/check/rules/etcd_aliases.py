"""APISIX reaches etcd through the aliases ``etcd-01..03``, on a network the etcd services share with it.

Every etcd host in APISIX's config must be one of the model's aliases (seed policy: ``etcd-01``,
``etcd-02``, ``etcd-03``), and the etcd services must define those aliases on a network APISIX
is also attached to (``networks: {<overlay>: {aliases: [etcd-01]}}``), whatever that network
is called: Swarm does not resolve a ``hostname``, only service names and network aliases.
Networks are compared by the name Docker gives them (an external or ``name:``d network by that
name, a stack's own network per file). With no APISIX service in the input, the etcd members
must share the network they alias themselves on.

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

from iklim.check.compose import get_map, networks
from iklim.check.configs import apisix_etcd
from iklim.check.documents import Documents, ServiceRef, Stack
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import Pos

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
    apisix = [ref for ref in docs.services() if ref.kind == "apisix"]
    etcd = [ref for ref in docs.services(("infra", "stack")) if ref.kind == "etcd"]
    attached = {id(ref): _networks(ref) for ref in apisix + etcd}
    wanted = {net for ref in apisix for net in attached[id(ref)]}
    if not wanted:  # no APISIX service here: the networks the etcd members alias themselves on
        wanted = {net for ref in etcd for net, (names, _, _) in attached[id(ref)].items() if names}
    if not wanted:
        wanted = {net for ref in etcd for net in attached[id(ref)]}
    shown = sorted({key for ref in apisix + etcd for net, (_, _, key) in attached[id(ref)].items() if net in wanted})
    who = "APISIX" if apisix else "the other etcd members"
    defined: set[str] = set()
    for ref in etcd:
        shared = {net: spec for net, spec in attached[id(ref)].items() if net in wanted}
        for names, _, _ in shared.values():
            defined.update(names)
        if not shared:
            pos = ref.spec.kpos.get("networks", ref.key_pos)
            yield RULE.on(
                ref,
                pos,
                f"attach {ref.name!r} to a network {who} is on ({', '.join(shown)}) with its etcd alias",
            )
    missing = [a for a in policy.etcd_aliases if a not in defined]
    if etcd and missing:
        ref = etcd[0]
        first = [spec for net, spec in attached[id(ref)].items() if net in wanted]
        pos = first[0][1] if first else ref.spec.kpos.get("networks", ref.key_pos)
        net_name = first[0][2] if first else (shown[0] if shown else "<network>")
        yield RULE.on(
            ref,
            pos,
            f"define the alias(es) {', '.join(missing)} on the network the etcd services share with "
            f"{'APISIX' if apisix else 'each other'} (networks: {{{net_name}: {{aliases: [...]}}}})",
        )


def _networks(ref: ServiceRef) -> dict[str, tuple[list[str], Pos, str]]:
    """Network identity -> (aliases, position, key as written) of a service; a service listing
    no networks is on its stack's ``default`` network."""
    nets = networks(ref.spec)
    if "networks" not in ref.spec:
        nets = {"default": ([], ref.key_pos)}
    return {_identity(ref.stack, key): (aliases, pos, key) for key, (aliases, pos) in nets.items()}


def _identity(stack: Stack, key: str) -> str:
    """A network as Docker names it: its declared or external name, else stack-scoped by file."""
    top = get_map(get_map(stack.data, "networks"), key)
    if top is not None:
        external = top.get("external")
        if isinstance(external, dict) and isinstance(external.get("name"), str):
            return str(external["name"])
        if isinstance(top.get("name"), str) and top["name"]:
            return str(top["name"])
        if external is True:
            return key
    return f"{stack.path}:{key}"


RULE = Rule("etcd-aliases", Severity.ERROR, __doc__ or "", check)
