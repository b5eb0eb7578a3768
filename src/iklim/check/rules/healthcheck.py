"""Warning: every service defines a healthcheck (or disables it with a reason).

Swarm's rolling updates and restarts wait for a task to be healthy only when it has a
healthcheck; without one a broken member counts as running.

Failing example::

    services:
      mongodb-1:
        image: mongo:7.0.16

Passing example::

    services:
      mongodb-1:
        image: mongo:7.0.16
        healthcheck:
          test: ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping')"]
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if "healthcheck" not in ref.spec:
            yield RULE.on(
                ref, ref.key_pos, f"add a healthcheck to {ref.name!r} so updates and restarts wait for a healthy task"
            )


RULE = Rule("healthcheck", Severity.WARNING, __doc__ or "", check)
