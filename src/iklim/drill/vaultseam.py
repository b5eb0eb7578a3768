"""The lab's OpenBao cluster (``vault``, 3 Raft members on 127.0.3.N) as the drill sees it.

Leader: the active node. Every member is asked ``GET /v1/sys/leader`` (unauthenticated, served by
standbys too; openbao.org/api-docs/system/leader): the active answers ``is_self: true``, a standby
names the active by its ``leader_address`` (its ``api_addr``), or ``""`` while it knows of none.
During a failover the Raft HA lock has no holder and a standby's ``leader_address`` is empty
(the lock's value is the Raft leader's); the *detection* is a survivor naming no active, or
naming another than the old one; the *election* is a new active named by the survivors.

Faults are those of every lab cluster (:mod:`iklim.drill.labdriver`). A restarted member comes
back **sealed** (the lab's OpenBao has a Shamir seal, as production), and a sealed member cannot
be a standby (openbao.org/docs/internals/high-availability): after the heal restarts it,
:meth:`VaultSeam.restarted` unseals it with the lab's custody file (``iklim vault unseal``), as an
operator does after a container restart in production. ``switchover`` is the vendor's planned
handover for an upgrade: SIGTERM of the active (it seals itself, steps down and exits; a standby
takes over), not ``operator step-down`` (developer.hashicorp.com/vault/docs/upgrading); the heal
starts it again and unseals it.

Known gap (measured on OpenBao 2.7.2 in the lab): after a ``pause`` (SIGSTOP, then SIGCONT) the
woken former active's Raft steps down, but it keeps answering ``sys/health`` as active for over a
minute, so the heal's health wait fails ("2 nodes claim to be active") and the journal keeps the
entry; restarting that member clears it.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any

from iklim.components.base import member_names
from iklim.components.trust import verify
from iklim.drill.driver import DrillError, Observation
from iklim.drill.labplanned import stop_gracefully
from iklim.drill.labseams import PROBE_TIMEOUT, Seam
from iklim.drill.workloads.base import Workload
from iklim.drill.workloads.vault import VaultWorkload
from iklim.lab.context import LabContext
from iklim.vault.bootstrap import unseal
from iklim.vault.custody import CustodyError
from iklim.vault.errors import BootstrapError
from iklim.vault.plan import VaultPlan, lab_plan, member_urls

#: Seconds a SIGTERM'ed active may take to seal and exit (production's stop_grace_period is 30 s).
STOP_WAIT_S = 30.0


class VaultSeam(Seam):
    component = "vault"
    #: The planned hand-over stops the old active (SIGTERM): the heal starts it again and unseals it
    #: (read by the lab driver's switchover, from the faults branch's ``Seam``).
    switchover_restarts = True

    def __init__(self, ctx: LabContext) -> None:
        super().__init__(ctx)
        self.lab = ctx  # the lab's own context: its root and supervisor (a lab-only seam)
        self.urls = member_urls(ctx.env, ctx.target)
        self.verify = verify(ctx.env, ctx.target, "vault")

    def members(self) -> list[str]:
        return member_names("vault", self.ctx.env.services.vault.members)

    def _leader_of(self, member: str, url: str) -> dict[str, Any] | None:
        try:
            context = ssl.create_default_context(cafile=self.verify) if isinstance(self.verify, str) else None
            with urllib.request.urlopen(f"{url}/v1/sys/leader", timeout=PROBE_TIMEOUT, context=context) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except (OSError, ValueError) as exc:
            self._asked(member, exc)
            return None
        self._asked(member)
        return answer

    def observe(self, old_leader: str | None) -> Observation:
        """Who is active now, by ``sys/leader`` of every member but the old active (a dead or frozen
        member cannot vouch for itself; before the fault every member is asked)."""
        by_address = {url.rstrip("/"): m for m, url in self.urls.items()}
        named: list[str | None] = []
        self.last_error, self._answered = "", False
        for member, url in self.urls.items():
            if member == old_leader:
                continue
            answer = self._leader_of(member, url)
            if answer is None:
                continue
            if answer.get("is_self"):
                named.append(member)
            else:
                named.append(by_address.get(str(answer.get("leader_address") or "").rstrip("/")))
        leaders = set(named)
        leader = next(iter(leaders)) if len(leaders) == 1 else None
        suspected = old_leader is not None and any(n != old_leader for n in named)
        return Observation(leader, suspected)

    def workload(self, run_id: str) -> Workload:
        mounts = self.ctx.env.services.vault.day_one.kv_mounts
        if not mounts:
            raise DrillError("vault: the model mounts no KV v2 engine (services.vault.day_one.kv_mounts)")
        return VaultWorkload(list(self.urls.values()), self._token(), mounts[0], run_id, verify=self.verify)

    def _token(self) -> str:
        """The lab's root token from its custody file (never printed)."""
        try:
            return self._plan().custody.root_token()
        except CustodyError as exc:
            raise DrillError(f"vault: {exc}") from None

    def _plan(self) -> VaultPlan:
        return lab_plan(self.lab.env, self.lab.root, target=self.lab.target)

    def restarted(self, member: str) -> None:
        """Unseal ``member`` after the heal started it again; raises DrillError when it cannot."""
        try:
            unseal(self._plan(), [member], lambda line: None, timeout=60.0)
        except (BootstrapError, CustodyError) as exc:
            raise DrillError(f"vault: {member} restarted but not unsealed: {exc}") from None

    def switchover(self, member: str) -> None:
        """SIGTERM the active ``member``'s process group and wait until it has exited (it seals and
        hands over on the way out); raises DrillError when it is not running or outlives the wait."""
        try:
            stop_gracefully(self.lab, member, STOP_WAIT_S)
        except DrillError as exc:
            raise DrillError(f"vault: {exc}") from None
