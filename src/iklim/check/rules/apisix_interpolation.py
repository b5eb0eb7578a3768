"""APISIX's etcd hosts and prefix can be evaluated: every ``${{VAR}}`` in them has a default.

APISIX expands ``${{VAR}}`` and ``${{VAR:=default}}`` in ``config.yaml`` from its environment
at start (``apisix/cli/file.lua``). The check resolves a variable with the value an APISIX
service of the checked stacks sets literally, else with its default, and then checks the result
(``etcd-aliases``, ``etcd-prefix``). A variable with neither cannot be evaluated here, so those
rules cannot check the value: this warning says so, where it is written. (APISIX itself refuses
to start when such a variable is unset.)

Failing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://${{ETCD_HOST_1}}:2379"]

Passing example (config/apisix/config.yaml)::

    deployment:
      etcd:
        host: ["http://${{ETCD_HOST_1:=etcd-01}}:2379"]
        prefix: "${{APISIX_PREFIX:=/apisix}}"
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.configs import Value, apisix_etcd
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for client in apisix_etcd(docs):
        values: list[tuple[str, Value]] = []
        prefix = client.value("prefix")
        if prefix is not None:
            values.append(("etcd prefix", prefix))
        values += [("etcd host", host) for host in client.hosts() or ()]
        for what, value in values:
            if value.text is not None:
                continue
            names = ", ".join(value.unset)
            yield RULE.at(
                client.path,
                value.pos,
                f"cannot evaluate the {what}: ${{{{{value.unset[0]}}}}} has no default and no APISIX "
                f"service sets {names}; write ${{{{{value.unset[0]}:=...}}}} so it can be checked",
            )


RULE = Rule("apisix-interpolation", Severity.WARNING, __doc__ or "", check)
