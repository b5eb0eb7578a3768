"""APISIX keeps its configuration under the etcd prefix ``/apisix``, apart from Patroni's.

APISIX and Patroni share the DB nodes' etcd cluster. APISIX's ``deployment.etcd.prefix`` must
be the model's prefix (seed: ``/apisix``; APISIX's default when unset), and Patroni's
``namespace`` (default ``/service``) must not overlap it: neither key range may contain the other.

Failing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://etcd-01:2379"]
        prefix: /service

Passing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://etcd-01:2379"]
        prefix: /apisix
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.configs import apisix_etcd, patroni_namespaces
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def _overlap(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    prefixes: list[str] = []
    for client in apisix_etcd(docs):
        value = client.value("prefix")
        prefix = "/apisix" if value is None else value.text
        if prefix is None:  # ${{VAR}} without a default: apisix-interpolation says so
            continue
        prefixes.append(prefix)
        if prefix.rstrip("/") != policy.apisix_prefix.rstrip("/"):
            pos = client.section.pos if value is None else value.pos
            who = "APISIX Dashboard" if client.dashboard else "APISIX"
            shown = "" if value is None or value.raw == prefix else f" (it reads {prefix!r})"
            yield RULE.at(client.path, pos, f"set {who}'s etcd prefix to {policy.apisix_prefix!r}{shown}")
    apisix = prefixes or [policy.apisix_prefix]
    for ns in patroni_namespaces(docs, policy.patroni_namespace):
        for prefix in dict.fromkeys(apisix):
            if _overlap(ns.value, prefix):
                yield RULE.at(
                    ns.path,
                    ns.pos,
                    f"Patroni's namespace {ns.value!r} overlaps APISIX's etcd prefix "
                    f"{prefix!r}: use a separate namespace such as '/service'",
                )


RULE = Rule("etcd-prefix", Severity.ERROR, __doc__ or "", check)
