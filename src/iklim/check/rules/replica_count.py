"""Each component has the model's member count, and no counted service runs in global mode.

Members are counted across a component's services (``etcd-1..3`` with one replica each, or
``apisix`` with ``replicas: 3``). The counts come from the model (``services.<name>.members``;
seed: APISIX 3, RabbitMQ 3, Sentinel 3, Patroni 3, MongoDB 3, etcd 3, Vault 3, Prometheus 1,
Grafana 1). ``deploy.mode: global`` runs one task per node, so it never fits a count. A job
(``deploy.mode: replicated-job`` or ``global-job``) runs to completion: a stateful cluster member
(etcd, Patroni, MongoDB, Redis, Sentinel, RabbitMQ, Vault) is never one.

Failing example::

    services:
      apisix:
        image: apache/apisix:3.11.0-debian
        deploy: {mode: global}

Passing example::

    services:
      apisix:
        image: apache/apisix:3.11.0-debian
        deploy: {replicas: 3, placement: {max_replicas_per_node: 1}}
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.compose import LABELS, get_map, replicas
from iklim.check.documents import Documents, ServiceRef
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import Pos

JOB_MODES = ("replicated-job", "global-job")
STATEFUL = ("etcd", "patroni", "mongodb", "redis", "sentinel", "rabbitmq", "vault")


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    groups: dict[str, list[tuple[ServiceRef, int | None, Pos]]] = {}
    for ref in docs.services():
        if ref.kind is None:
            continue
        count, mode, pos = replicas(ref.spec)
        label = LABELS.get(ref.kind, ref.kind)
        if ref.kind in STATEFUL and mode in JOB_MODES:
            deploy = get_map(ref.spec, "deploy")
            yield RULE.on(
                ref,
                deploy.at("mode") if deploy is not None else pos,
                f"{label} is a cluster member, never a job: a '{mode}' task runs to completion and is not "
                "restarted; use 'mode: replicated'",
            )
            continue
        if ref.kind not in policy.members:
            continue
        if mode == "global":
            yield RULE.on(
                ref,
                pos,
                f"{label} runs {policy.members[ref.kind]} member(s): replace "
                "'mode: global' with 'mode: replicated' and a replica count",
            )
            count = None
        elif mode != "replicated":
            count = None
        groups.setdefault(ref.kind, []).append((ref, count, pos))
    for kind, members in groups.items():
        if any(count is None for _, count, _ in members):
            continue
        expected = policy.members[kind]
        total = sum(count or 0 for _, count, _ in members)
        label = LABELS.get(kind, kind)
        if total == expected and (len(members) == 1 or all(count == 1 for _, count, _ in members)):
            continue
        if len(members) == 1:
            ref, count, pos = members[0]
            yield RULE.on(ref, pos, f"set {label} replicas to {expected} (the model's member count), not {count}")
            continue
        for ref, count, pos in members:
            if count != 1:
                yield RULE.on(
                    ref, pos, f"{label} member {ref.name!r} runs {count} replicas: each member service runs exactly 1"
                )
        if all(count == 1 for _, count, _ in members):
            ref = members[-1][0] if len(members) > expected else members[0][0]
            yield RULE.on(
                ref,
                ref.key_pos,
                f"{label} has {total} members: the model has {expected}; "
                f"{'remove' if total > expected else 'add'} member services",
            )


RULE = Rule("replica-count", Severity.ERROR, __doc__ or "", check)
