"""The runbook applies the DOCKER-USER scripts to the nodes: the private network's only filter.

Hetzner Cloud firewalls do not filter the private network, so the host-mode ports (every DB
port, Vault's API) are kept to the private subnets by the DOCKER-USER rules of
``init/hosts/db-docker-user.sh`` and ``init/hosts/app-docker-user.sh``. A runbook
(``init-infra-prod.sh``) that never feeds them to the nodes leaves those ports open to anything
on the private network (shown with packets by ``iklim swarm-lab probe-network``).

Failing example (init-infra-prod.sh)::

    #!/usr/bin/env bash
    step_host_firewall() {
      # DOCKER-USER rules: nothing here
      :
    }

Passing example (init-infra-prod.sh)::

    #!/usr/bin/env bash
    step_host_firewall() {
      on_node 10.0.2.11 'bash -s' < init/hosts/db-docker-user.sh
      on_node 10.0.1.11 'bash -s' < init/hosts/app-docker-user.sh
    }
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

SCRIPTS = ("init/hosts/db-docker-user.sh", "init/hosts/app-docker-user.sh")


def _code(text: str) -> str:
    """The script without its comments (a line's text from an unquoted ``#`` on)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for path, text in docs.scripts:
        if not path.replace("\\", "/").endswith("init-infra-prod.sh"):
            continue
        code = _code(text)
        for script in SCRIPTS:
            if not re.search(rf"<\s*(\./)?{re.escape(script)}\b", code):
                yield RULE.at(
                    path,
                    (1, 1),
                    f"the runbook never runs {script} on the nodes: Hetzner firewalls do not filter the "
                    "private network, so its host-mode ports stay open to it",
                )


RULE = Rule("runbook-docker-user", Severity.ERROR, __doc__ or "", check)
