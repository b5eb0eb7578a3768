"""The deploy's view of the Swarm lab from the drill seat: seams (Vault's too), exec, health.

- :class:`SeatVaultSeam`: the drill's OpenBao seam (:class:`~iklim.drill.vaultseam.VaultSeam`:
  ``sys/leader`` of every member, the KV workload, ``restarted`` = unseal) addressed as production
  (each member's API in host mode on its node's private address; the ``leader_address`` a standby
  names is the active's ``api_addr``, its overlay name, mapped back) with the custody file given
  (the Swarm lab's ``VAULT_KEYS_FILE``, the runbook's bootstrap result); its ``switchover`` is
  refused: the deploy's hand-over is Swarm's own SIGTERM of the active.
- :func:`engine_exec`: run a command in a member's running task container through the Engine API
  of the node that runs it (``POST /containers/{id}/exec``, ``/exec/{id}/start``; the node's
  socket ``/run/iklim-swarmlab/<hostname>.sock``; the container found by
  :meth:`~iklim.drill.swarmdriver.SwarmLabDriver.task_container`), as ``docker -H <node> exec``.
- :func:`status_health`: a cluster is healthy when its ``iklim status`` probe says so (production
  addressing, the seat's Docker secrets), as the drill's ``wait_healthy`` asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException

from iklim.components.trust import verify
from iklim.deploy.handover import MemberExec
from iklim.drill.driver import DrillError
from iklim.drill.labseams import SEAMS, Seam, SeamContext
from iklim.drill.vaultseam import VaultSeam
from iklim.model.schema import Environment
from iklim.vault.plan import VaultPlan, member_urls, vault_plan


class SeatVaultSeam(VaultSeam):
    """:class:`VaultSeam` for a production-addressed context (the seat) and a custody file."""

    def __init__(self, ctx: SeamContext, keys_file: Path) -> None:
        Seam.__init__(self, ctx)
        self.keys_file = keys_file
        self.urls = member_urls(ctx.env, ctx.target)
        self.verify = verify(ctx.env, ctx.target, "vault")

    def _plan(self) -> VaultPlan:
        return vault_plan(self.ctx.env, self.ctx.target, self.keys_file)

    def _leader_of(self, member: str, url: str) -> dict[str, Any] | None:
        """``sys/leader`` with the ``leader_address`` a standby names (the active's ``api_addr``,
        ``http://vault-N:8200``: its overlay name) put in this seam's addressing."""
        answer = super()._leader_of(member, url)
        address = str((answer or {}).get("leader_address") or "")
        host = urlsplit(address).hostname or ""
        if answer is not None and host in self.urls:
            answer = dict(answer, leader_address=self.urls[host])
        return answer

    def switchover(self, member: str) -> None:
        raise DrillError("vault: the deploy's hand-over is Swarm's SIGTERM of the active (never step-down)")


def seat_seams(ctx: SeamContext, vault_keys: Path | None) -> dict[str, Seam]:
    """The drill's seams (etcd, Patroni, Redis, RabbitMQ) in ``ctx``, plus Vault's with ``vault_keys``."""
    seams: dict[str, Seam] = {name: kind(ctx) for name, kind in SEAMS.items()}
    if vault_keys is not None:
        seams["vault"] = SeatVaultSeam(ctx, vault_keys)
    return seams


def engine_exec(env: Environment, manager: str, ctx: Any) -> MemberExec:
    """A :data:`MemberExec` through the node engines of the Swarm lab (``manager``: a manager's hostname;
    ``ctx``: the seat's context). The command's output is returned, never printed."""
    from iklim.drill.swarmdriver import SwarmLabDriver
    from iklim.swarmlab import paths

    driver = SwarmLabDriver(env, manager, ctx)

    def run(member: str, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        try:
            node, cid = driver.task_container(member)
        except DrillError as exc:
            return 125, str(exc)
        client = docker.DockerClient(base_url=f"unix://{paths.node_socket(node)}", timeout=int(timeout))
        try:
            code, output = client.containers.get(cid).exec_run(list(argv))
        except DockerException as exc:
            return 125, f"exec on {node}: {exc}"
        finally:
            client.close()
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        return int(code if code is not None else 125), text

    return run


def status_health(env: Environment, seams: Mapping[str, Seam]) -> Callable[[str], tuple[bool, str]]:
    """cluster -> (healthy, words) by its ``iklim status`` probe (``--target prod`` addressing) with
    the secrets of its seam's context; a cluster without a seam or a probe is taken as healthy
    (the applier's convergence is then all there is: said in the words)."""
    from iklim.status.planbuild import plan_of
    from iklim.status.runner import run_probes
    from iklim.status.transport import NetTransport

    components = {c.name: c for c in plan_of(env, "prod").components}

    def health(cluster: str) -> tuple[bool, str]:
        seam = seams.get(cluster)
        if seam is None or cluster not in components:
            return True, "no probe here: the applier's convergence only"
        try:
            reports = run_probes([components[cluster]], NetTransport(), seam.ctx, 3.0)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a probe that cannot run is an unhealthy answer
            return False, f"probe failed: {exc}"
        if not reports:
            return False, "no probe report"
        return reports[0].status == "healthy", reports[0].reason

    return health
