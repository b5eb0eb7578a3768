"""Per cluster: what happens around the restart of a member, above all of the current leader.

The runner (:mod:`iklim.deploy.runner`) calls, for each data member it applies,
:meth:`Handover.before_apply`, the applier, then :meth:`Handover.after_apply`; for the current
leader it first calls :meth:`Handover.hand_over`, which hands the leadership to another healthy
member through the cluster's own API (the drill's seams, :mod:`iklim.drill.labseams`, in the
seat's context) and *verifies* it: the cluster names another member as leader within
:data:`VERIFY_S`. Anything else raises :class:`~iklim.deploy.api.DeployError` and the deploy
stops: a leader is never restarted without a hand-over.

==========  ======================================================================================
etcd        ``move-leader`` (``POST /v3/maintenance/transfer-leadership`` on the leader) to an
            already-updated member that answers ``maintenance/status`` (etcd.io/docs/v3.5/
            op-guide/maintenance/, ``etcdctl move-leader``).
patroni     ``POST /switchover`` (patroni.readthedocs.io/en/latest/rest_api.html#switchover-and-
            failover-endpoints) to a running replica with zero lag: the synchronous standby
            when there is one (in synchronous mode Patroni refuses any other candidate), else an
            updated replica; waits up to :data:`LAG_WAIT_S` for the lag to reach 0.
redis       the drill's safe hand-over (:func:`iklim.drill.labplanned.sentinel_switchover`:
            ``CLIENT PAUSE WRITE``, ``SENTINEL FAILOVER``, wait for the promoted replica,
            ``REPLICAOF`` on the old master, ``CLIENT UNPAUSE``; redis.io/docs/latest/operate/
            oss_and_stack/management/sentinel/), then every Sentinel must name the new master.
rabbitmq    before **every** node: ``rabbitmq-upgrade await_online_quorum_plus_one`` then
            ``rabbitmq-upgrade drain`` in the node's container (rabbitmq.com/docs/upgrade#
            maintenance-mode, rabbitmq.com/docs/man/rabbitmq-upgrade.8): the node hands its
            quorum-queue leaderships over and suspends its client listeners; the restarted
            node comes back undrained (and ``rabbitmq-upgrade revive``, a no-op then, is run
            once it is back, so a node that kept the flag serves again).
vault       standbys first; the active's own update is the hand-over: Swarm stops it with SIGTERM
            and it releases the HA lock (developer.hashicorp.com/vault/docs/upgrading: "DO NOT
            attempt to issue a step-down"); every restarted member is unsealed from the custody
            file (:meth:`iklim.drill.vaultseam.VaultSeam.restarted`) and the active must have
            moved to another member.
mongodb     no seam here (FAKE in the lab: no ``mongod``): members by name; mongod's own SIGTERM
            steps a primary down (``shutdownTimeoutMillisForSignaledShutdown``).
==========  ======================================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from iklim.deploy.api import DeployError
from iklim.drill import labplanned as planned
from iklim.drill.driver import DrillError
from iklim.drill.labseams import PROBE_TIMEOUT, Seam

#: Seconds a hand-over may take until the cluster names another leader.
VERIFY_S = 30.0
#: Seconds to wait for a Patroni candidate's replication lag to reach 0.
LAG_WAIT_S = 15.0
#: ``-t`` of ``rabbitmq-upgrade`` (seconds; the RabbitMQ cluster operator uses the grace period).
RABBIT_TIMEOUT_S = 60
#: Clusters rolled by member name without a hand-over, and why.
BY_NAME: dict[str, str] = {
    "mongodb": "no MongoDB seam here (FAKE in the lab: no mongod); members by name, mongod steps down on SIGTERM",
}

#: Runs ``argv`` in ``member``'s task container; (exit code, output). ``timeout`` in seconds.
MemberExec = Callable[[str, Sequence[str], float], tuple[int, str]]


def _wait(what: str, test: Callable[[], str | None], timeout: float, interval: float = 0.1) -> str:
    """Poll ``test`` (a non-empty string: done) until ``timeout``; DeployError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        done = test()
        if done:
            return done
        if time.monotonic() > deadline:
            raise DeployError(f"{what} not within {timeout:.0f} s")
        time.sleep(interval)


class Handover:
    """A cluster with a seam whose :meth:`Seam.switchover` is the verified hand-over (Redis)."""

    #: The hand-over is the leader's own stop (Vault): verified after its apply, not before.
    releases_on_stop = False
    #: Why the members go by name (None: a leader is found and handed over).
    by_name: str | None = None
    #: The cluster can be healthy between the hand-over and the former leader's restart (False for
    #: RabbitMQ: the drained node suspends its listeners until it restarts, so ``status`` cannot
    #: call the cluster healthy then; ``await_online_quorum_plus_one`` was the check).
    healthy_after_hand_over = True

    def __init__(self, cluster: str, seam: Seam | None) -> None:
        self.cluster, self.seam = cluster, seam

    def leader(self) -> str | None:
        """The member the cluster names as leader now (None: none named)."""
        if self.seam is None:
            return None
        try:
            return self.seam.observe(None).leader
        except Exception:  # noqa: BLE001 - an observation never stops the deploy by itself
            return None

    def require_leader(self) -> str:
        """:meth:`leader`, waiting up to :data:`VERIFY_S`; DeployError when none is named."""
        return _wait(f"{self.cluster}: a leader named by the cluster", lambda: self.leader() or "", VERIFY_S, 0.3)

    def before_apply(self, member: str) -> None:
        """Called before ``member``'s service is applied (nothing by default)."""
        return None

    def after_apply(self, member: str) -> None:
        """Called once ``member``'s new task has converged (nothing by default)."""
        return None

    def undo(self) -> list[str]:
        """Undo what a stopped deploy left half-done (RabbitMQ: a drained node not restarted);
        the errors, one line each (never raises)."""
        return []

    def hand_over(self, leader: str, updated: Sequence[str]) -> str:
        """Hand ``leader``'s role to another healthy member (``updated``: members already on the
        new spec, preferred); returns the new leader once verified. Raises DeployError."""
        try:
            self._request(leader, updated)
        except DrillError as exc:
            raise DeployError(f"{self.cluster}: hand-over from {leader} failed: {exc}") from None
        return self.verify_moved(leader)

    def _request(self, leader: str, updated: Sequence[str]) -> None:
        if self.seam is None:
            raise DrillError("no seam")
        self.seam.switchover(leader)

    def verify_moved(self, old: str) -> str:
        """Wait until the cluster names a leader other than ``old``; DeployError otherwise."""
        return _wait(
            f"{self.cluster}: leadership moved away from {old} (still {self.leader()})",
            lambda: (lambda now: now if now not in (None, old) else "")(self.leader()),
            VERIFY_S,
        )


class EtcdHandover(Handover):
    def _answers(self, member: str) -> bool:
        assert self.seam is not None
        try:
            planned.etcd_api(self.seam.ctx, member, "/v3/maintenance/status", t=PROBE_TIMEOUT * 3)
        except (OSError, DrillError, ValueError):
            return False
        return True

    def _request(self, leader: str, updated: Sequence[str]) -> None:
        assert self.seam is not None
        others = [m for m in self.seam.members() if m != leader]
        ranked = [m for m in others if m in updated] + [m for m in others if m not in updated]
        target = next((m for m in ranked if self._answers(m)), None)
        if target is None:
            raise DrillError(f"no healthy member to move the leadership of {leader} to")
        planned.etcd_move_leader(self.seam.ctx, leader, target)


def _lag(member: dict[str, Any]) -> int | None:
    lag = member.get("lag", "")
    return int(lag) if str(lag).isdigit() else None


class PatroniHandover(Handover):
    def _candidate(self, leader: str, updated: Sequence[str]) -> str | None:
        assert self.seam is not None
        cluster = planned.patroni_api(self.seam.ctx, leader, "/cluster")
        replicas = [
            m
            for m in cluster.get("members", [])
            if m.get("role") in ("replica", "sync_standby")
            and m.get("state") in ("streaming", "running")
            and not (m.get("tags") or {}).get("nofailover")
        ]
        sync = [m for m in replicas if m.get("role") == "sync_standby"]
        pool = sync or sorted(replicas, key=lambda m: str(m.get("name")) not in updated)
        ready = [m for m in pool if _lag(m) == 0]
        return str(ready[0]["name"]) if ready else None

    def _request(self, leader: str, updated: Sequence[str]) -> None:
        assert self.seam is not None
        try:
            candidate = _wait(
                f"patroni: a running replica of {leader} with zero lag",
                lambda: self._candidate(leader, updated) or "",
                LAG_WAIT_S,
                0.3,
            )
        except DeployError as exc:
            raise DrillError(str(exc)) from None
        try:
            body = {"leader": leader, "candidate": candidate}
            planned.patroni_api(self.seam.ctx, leader, "/switchover", "POST", body)
        except OSError as exc:
            raise DrillError(f"POST /switchover to {candidate}: {exc}") from None


class RabbitHandover(Handover):
    """Drains every node before its restart; the measured leader is the run's quorum queue's."""

    healthy_after_hand_over = False

    def __init__(self, cluster: str, seam: Seam | None, member_exec: MemberExec | None) -> None:
        super().__init__(cluster, seam)
        self.member_exec = member_exec
        self.drained: set[str] = set()

    def _run(self, member: str, *argv: str) -> None:
        if self.member_exec is None:
            raise DeployError(f"rabbitmq: no way to run rabbitmq-upgrade in {member}'s container on this target")
        code, output = self.member_exec(member, list(argv), RABBIT_TIMEOUT_S + 30)
        if code != 0:
            last = (output.strip().splitlines() or ["no output"])[-1][:200]
            raise DeployError(f"rabbitmq: {' '.join(argv[:2])} on {member} exited {code}: {last}")

    def before_apply(self, member: str) -> None:
        """``await_online_quorum_plus_one`` (refuses while a quorum queue would lose its majority),
        then ``drain`` (maintenance mode: leaderships transferred, listeners suspended)."""
        if member in self.drained:
            return
        timeout = str(RABBIT_TIMEOUT_S)
        self._run(member, "rabbitmq-upgrade", "await_online_quorum_plus_one", "-t", timeout)
        self._run(member, "rabbitmq-upgrade", "drain", "-t", timeout)
        self.drained.add(member)

    def after_apply(self, member: str) -> None:
        """``revive`` the restarted node (a no-op unless it kept maintenance mode) and forget its drain.

        A node the healthcheck already calls up may still be loading its tables (measured: ``revive``
        answered ``{:aborted, {:no_exists, [:rabbit_queue, ...]}}``), so it is retried every 2 s
        for up to :data:`RABBIT_TIMEOUT_S`."""
        deadline = time.monotonic() + RABBIT_TIMEOUT_S
        while True:
            try:
                self._run(member, "rabbitmq-upgrade", "revive")
                break
            except DeployError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2.0)
        self.drained.discard(member)

    def hand_over(self, leader: str, updated: Sequence[str]) -> str:
        self.before_apply(leader)
        return self.verify_moved(leader)

    def undo(self) -> list[str]:
        """``revive`` every node drained and not restarted (a deploy stopped in between): measured,
        a drained node otherwise stays out of service and every later ``await_online_quorum_plus_one``
        times out."""
        errors = []
        for member in sorted(self.drained):
            try:
                self._run(member, "rabbitmq-upgrade", "revive")
                self.drained.discard(member)
            except DeployError as exc:
                errors.append(str(exc))
        return errors


class VaultHandover(Handover):
    """Standbys first; the active hands over by being stopped (SIGTERM) by its own update."""

    releases_on_stop = True

    def after_apply(self, member: str) -> None:
        if self.seam is None:
            raise DeployError(f"vault: {member} restarted sealed and no seam can unseal it")
        try:
            self.seam.restarted(member)
        except (DrillError, Exception) as exc:  # noqa: BLE001 - the seat's secrets raise their own type
            raise DeployError(f"vault: {member} restarted but not unsealed: {exc}") from None

    def hand_over(self, leader: str, updated: Sequence[str]) -> str:
        raise DeployError("vault: the active hands over on SIGTERM; step-down is never used")


class ByName(Handover):
    def __init__(self, cluster: str, reason: str) -> None:
        super().__init__(cluster, None)
        self.by_name = reason


_KINDS: dict[str, type[Handover]] = {
    "etcd": EtcdHandover,
    "patroni": PatroniHandover,
    "redis": Handover,
    "vault": VaultHandover,
}


def handover_for(cluster: str, seam: Seam | None, member_exec: MemberExec | None = None) -> Handover:
    """The :class:`Handover` of ``cluster`` given its seam (None: the target has none).

    Raises DeployError for a cluster that needs a leader hand-over but has no seam (its members
    would be restarted blind), except the :data:`BY_NAME` ones.
    """
    if cluster in BY_NAME:
        return ByName(cluster, BY_NAME[cluster])
    if cluster == "rabbitmq":
        return RabbitHandover(cluster, seam, member_exec)
    if seam is None or cluster not in _KINDS:
        raise DeployError(f"{cluster}: no seam to find its leader and hand it over: refusing to restart its members")
    return _KINDS[cluster](cluster, seam)
