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
#: process of the member until healed, then SIGCONT: the frozen, then "zombie", leader).
FAULTS: tuple[str, ...] = ("kill", "stop", "pause")


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


class Driver(ABC):
    """A drill target: its clusters and how faults are applied and healed on it."""

    target: str = ""

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
