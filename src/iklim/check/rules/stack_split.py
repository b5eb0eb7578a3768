"""Vault runs in its own stack; every other seed component runs in the infra/DB stack.

The production split: ``docker-stack-infra_db-prod.yml`` holds APISIX, APISIX Dashboard, SWAG,
the cert services, Redis/Sentinel, RabbitMQ, Prometheus, Grafana, Patroni, MongoDB and etcd;
``docker-stack-vault.yml`` holds the Vault Raft cluster only. Reported when the infra stack has
a Vault service, a stack holding Vault also holds another seed component, or a component is
missing from the infra stack (or the infra stack itself is missing from a repository).
Components are recognised by what they run (:mod:`iklim.check.recognise`): a companion in the
Vault stack (a ``vault-ui`` nginx, an exporter) is not a seed component and may stay there.
The two file names are the seed's production split.

Failing example (docker-stack-vault.yml)::

    services:
      vault-1: {image: hashicorp/vault:1.18.3}
      redis-1: {image: redis:7.4.2-alpine}     # not Vault: move it to the infra stack

Passing example (docker-stack-vault.yml)::

    services:
      vault-1: {image: hashicorp/vault:1.18.3}
      vault-2: {image: hashicorp/vault:1.18.3}
      vault-3: {image: hashicorp/vault:1.18.3}
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from iklim.check.compose import DB_KINDS, LABELS, SERVICE_KINDS
from iklim.check.documents import INFRA_STACK, VAULT_STACK, Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for path in docs.missing_stacks:
        if path.endswith(INFRA_STACK):
            yield RULE.at(path, (1, 1), f"the infra/DB stack {INFRA_STACK} is missing: render it")
    present: dict[str, set[str]] = {}
    for ref in docs.services():
        present.setdefault(ref.stack.path, set()).add(ref.kind or "")
    for ref in docs.services():
        kinds = present[ref.stack.path]
        vault_file = os.path.basename(ref.stack.path) == VAULT_STACK or (ref.stack.role == "vault" and "vault" in kinds)
        mixed = "vault" in kinds and bool(kinds - {"vault", ""})
        if ref.kind == "vault" and (ref.stack.role == "infra" or (mixed and not vault_file)):
            yield RULE.on(ref, ref.key_pos, f"move Vault service {ref.name!r} to {VAULT_STACK}")
        elif vault_file and ref.kind not in (None, "vault"):
            yield RULE.on(ref, ref.key_pos, f"the vault stack holds Vault only: move {ref.name!r} to {INFRA_STACK}")
    for stack in docs.stacks:
        if stack.role != "infra":
            continue
        kinds = present.get(stack.path, set())
        services = stack.data.get("services")
        pos = stack.data.kpos.get("services", stack.data.pos) if services is not None else (1, 1)
        for kind in DB_KINDS + SERVICE_KINDS:
            if kind not in kinds:
                yield RULE.at(stack.path, pos, f"add the seed's {LABELS[kind]} to the infra/DB stack")


RULE = Rule("stack-split", Severity.ERROR, __doc__ or "", check)
