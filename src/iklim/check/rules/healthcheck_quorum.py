"""An etcd member's healthcheck must not need the cluster's quorum.

Swarm adds a task to Docker's DNS (its service name, aliases and hostname) only once the task's
healthcheck has passed. An etcd member finds its peers by those names, so a healthcheck that
needs quorum (``etcdctl endpoint health`` makes a linearizable read; ``--cluster`` and
``member list`` ask the peers) can never pass while the cluster forms: every member waits for
names that are published only when quorum exists, is killed as unhealthy, and starts again,
forever. Ask the member itself (``endpoint status`` against its own URL), which answers
without quorum. Source: Docker's service discovery publishes healthy tasks only
(docs.docker.com/engine/swarm/networking); etcd's ``endpoint health`` runs a quorum ``Get``
(etcd ``etcdctl/ctlv3/command/ep_command.go``).

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        healthcheck:
          test: ["CMD", "etcdctl", "endpoint", "health"]

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        healthcheck:
          test: ["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2379", "endpoint", "status"]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.compose import get_map
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

#: etcdctl sub-commands and flags whose answer needs the peers (quorum or every member).
_NEEDS_QUORUM = re.compile(r"\bendpoint\s+(?:health|hashkv)\b|--cluster\b|\bmember\s+list\b")


def _test_text(healthcheck: object) -> str:
    test = healthcheck.get("test") if isinstance(healthcheck, dict) else None
    if isinstance(test, list):
        return " ".join(str(item) for item in test)
    return str(test or "")


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind != "etcd":
            continue
        healthcheck = get_map(ref.spec, "healthcheck")
        if healthcheck is None:
            continue
        found = _NEEDS_QUORUM.search(_test_text(healthcheck))
        if found:
            pos = healthcheck.at("test") if "test" in healthcheck else ref.key_pos
            yield RULE.on(
                ref,
                pos,
                f"the healthcheck's `{found.group(0)}` needs quorum, which needs the peers' names, which Swarm "
                "publishes only for healthy tasks: the cluster can never form; ask the member itself "
                "(`etcdctl --endpoints=<its own URL> endpoint status`)",
            )


RULE = Rule("healthcheck-quorum", Severity.ERROR, __doc__ or "", check)
