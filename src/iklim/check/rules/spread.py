"""Warning: the members of a 3-member component run on different nodes.

A replicated service with several replicas sets ``deploy.placement.max_replicas_per_node: 1``;
a component made of one service per member pins each member to its own node
(``node.hostname == ...``), so losing a node loses one member only.

Failing example::

    services:
      apisix:
        image: apache/apisix:3.11.0-debian
        deploy: {replicas: 3}

Passing example::

    services:
      apisix:
        image: apache/apisix:3.11.0-debian
        deploy:
          replicas: 3
          placement: {max_replicas_per_node: 1}
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import constraints, get_map, replicas
from iklim.check.constraints import fold
from iklim.check.documents import Documents, ServiceRef
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def _hostname(ref: ServiceRef) -> str | None:
    for c in constraints(ref.spec):
        if c.key == "node.hostname" and c.op == "==":
            return fold(c.value)  # Swarm compares hostnames case-insensitively
    return None


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[ServiceRef]] = {}
    for ref in docs.services():
        count, mode, pos = replicas(ref.spec)
        if mode == "replicated" and count is not None and count > 1:
            placement = get_map(get_map(ref.spec, "deploy"), "placement")
            if placement is None or placement.get("max_replicas_per_node") != 1:
                yield RULE.on(
                    ref,
                    pos,
                    f"spread the {count} replicas of {ref.name!r}: set deploy.placement.max_replicas_per_node: 1",
                )
        elif ref.kind is not None and count == 1 and policy.members.get(ref.kind, 0) > 1:
            groups.setdefault((ref.stack.path, ref.kind), []).append(ref)
    for members in groups.values():
        if len(members) < 2:
            continue
        seen: dict[str, str] = {}
        for ref in members:
            host = _hostname(ref)
            if host is None:
                yield RULE.on(ref, ref.key_pos, f"pin member {ref.name!r} to its own node with 'node.hostname == ...'")
            elif host in seen:
                yield RULE.on(
                    ref,
                    ref.key_pos,
                    f"{ref.name!r} runs on {host} like {seen[host]!r}: pin each member to a different node",
                )
            else:
                seen[host] = ref.name


RULE = Rule("spread", Severity.WARNING, __doc__ or "", check)
