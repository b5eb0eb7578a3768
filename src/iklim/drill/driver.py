"""The seam a drill target implements: find the leader through the cluster's own API, apply a
fault, heal it, wait for health, and hand out the cluster's client workload.

One :class:`Driver` per target (``lab`` now; a Swarm-lab driver later carries out the same faults
with ``docker kill`` and namespaces). The runner (:mod:`iklim.drill.runner`) knows only this
interface; a driver knows nothing of histories or accounting.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iklim.drill.journal import Entry
from iklim.drill.workloads.base import Workload

#: The faults a driver may offer: ``kill`` (SIGKILL: a crash), ``stop`` (SIGTERM: a graceful
#: shutdown, the engine hands over as it does on ``docker stop``), ``pause`` (SIGSTOP of every
#: process of the member until healed, then SIGCONT: the frozen, then "zombie", leader),
#: ``isolate`` (the leader cut off from its peers and clients: a network partition, healed by
#: removing exactly the cut), ``etcd-leader`` (SIGKILL of etcd's leader while the measured cluster,
#: Patroni, keeps its leader key there), ``switchover`` (a planned hand-over through the cluster's
#: own API: Patroni ``/switchover``, ``SENTINEL FAILOVER``, etcd ``move-leader``, a graceful stop
#: of the quorum queue leader's RabbitMQ node).
FAULTS: tuple[str, ...] = ("kill", "stop", "pause", "isolate", "etcd-leader", "switchover")
#: Faults whose clock starts when the hand-over is requested (the request blocks until done).
PLANNED: tuple[str, ...] = ("switchover",)
#: Faults whose clock starts when they are requested, not when the request returns: the planned
#: hand-overs, and ``stop``, which waits for the member to exit while the member stops serving at
#: once (Patroni terminates every session on SIGTERM, then spends seconds on its shutdown checkpoint
#: and on handing the leader key over; measured from the exit, that outage fell before the fault).
CLOCK_AT_REQUEST: tuple[str, ...] = (*PLANNED, "stop")


#: The clusters with an intentionally unsafe configuration (``--unsafe-config``, with ``isolate``)
#: on which the loss checker is shown to catch loss.
UNSAFE_CLUSTERS: tuple[str, ...] = ("redis", "patroni")


class DrillError(Exception):
    """A drill cannot start or go on (no leader, unknown cluster, a heal that failed); one line."""


@dataclass(frozen=True)
class Observation:
    """What the cluster's own API says at one instant.

    ``leader``: the member it names as leader / primary / master (None: none named or none
    reachable); ``suspected``: it has itself flagged the old leader as failed (Sentinel's
    ``s_down``, an etcd follower naming no leader): the *detection* of the fault.
    """

    leader: str | None
    suspected: bool = False
    #: None: "a new leader is named" means elected; else the driver says so itself (the
    #: ``etcd-leader`` fault: etcd elected anew, the measured cluster should keep its leader).
    elected: bool | None = None


class Driver(ABC):
    """A drill target: its clusters and how faults are applied and healed on it."""

    target: str = ""
    #: Set by ``--unsafe-config``: faults that offer one run under an intentionally unsafe
    #: configuration (applied and restored through the journal) and are expected to lose writes.
    unsafe_config: bool = False

    def faults(self, cluster: str) -> tuple[str, ...]:
        """The faults offered for ``cluster`` (default: the three process faults)."""
        return FAULTS[:3]

    def victim(self, cluster: str, fault: str, leader: str) -> str:
        """The member ``fault`` is applied to when ``cluster`` is led by ``leader`` (default: the
        leader; ``etcd-leader``: etcd's)."""
        return leader

    def observe_fault(self, cluster: str, fault: str, old_leader: str) -> Observation:
        """:meth:`observe` as seen by ``fault`` (default: the same); never raises."""
        return self.observe(cluster, old_leader)

    def min_observe(self, cluster: str, fault: str) -> float:
        """Seconds a run observes at least after the fault (to see a late demotion); default 0."""
        return 0.0

    def unsafe_reason(self, cluster: str) -> str | None:
        """Why ``cluster`` runs an unsafe configuration now (a drill is then refused without
        ``--unsafe-config``); None: it does not, or the target cannot tell."""
        return None

    def sweep(self) -> list[str]:
        """Undo leftovers of faults whose journal is gone (``iklim drill heal``); what was undone."""
        return []

    @abstractmethod
    def clusters(self) -> tuple[str, ...]:
        """The clusters this target can drill, in drill order."""

    @abstractmethod
    def leader(self, cluster: str) -> str:
        """The current leader member; raises :class:`DrillError` when the cluster names none."""

    @abstractmethod
    def observe(self, cluster: str, old_leader: str) -> Observation:
        """One quick reading (well under a second) of who leads ``cluster`` now; never raises."""

    @abstractmethod
    def undo_of(self, cluster: str, fault: str, member: str) -> Mapping[str, Any]:
        """How the fault will be healed (stored in the journal before it is applied)."""

    @abstractmethod
    def apply(self, cluster: str, fault: str, member: str) -> None:
        """Apply ``fault`` to ``member``; raises :class:`DrillError` when it could not."""

    @abstractmethod
    def heal(self, entry: Entry) -> None:
        """Undo a journal entry (idempotent: healing twice, or a fault never applied, is fine)."""

    @abstractmethod
    def wait_healthy(self, cluster: str, timeout: float) -> str:
        """Block until ``cluster`` is healthy (its status probe); the probe's words, or
        :class:`DrillError` with the last reason after ``timeout`` seconds."""

    @abstractmethod
    def workload(self, cluster: str, run_id: str) -> Workload:
        """The client workload of ``cluster`` for one run (values and keys carry ``run_id``)."""
