"""Observed Vault state as immutable snapshots; the bootstrap reads these, then acts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from iklim.vault.api import VaultAnswerError, VaultError, VaultMember
from iklim.vault.health import health_state


@dataclass(frozen=True)
class MemberState:
    """One member as seen by ``/v1/sys/health`` (``error`` set when it did not answer)."""

    name: str
    reachable: bool
    initialized: bool = False
    sealed: bool = True
    standby: bool = False
    cluster_id: str = ""
    error: str = ""
    malformed: bool = False  # it answered, but not like the Vault API (``error`` says how)

    @property
    def role(self) -> str:
        if not self.reachable:
            return "unreachable"
        return health_state(self.initialized, self.sealed, self.standby)


@dataclass(frozen=True)
class ClusterState:
    members: tuple[MemberState, ...]

    @property
    def active(self) -> MemberState | None:
        return next((m for m in self.members if m.role == "active"), None)


def observe_member(member: VaultMember) -> MemberState:
    try:
        health = member.health()
    except VaultAnswerError as exc:
        return MemberState(member.name, reachable=False, error=str(exc), malformed=True)
    except VaultError as exc:
        return MemberState(member.name, reachable=False, error=str(exc))
    return MemberState(
        member.name,
        reachable=True,
        initialized=bool(health.get("initialized")),
        sealed=bool(health.get("sealed")),
        standby=bool(health.get("standby")),
        cluster_id=str(health.get("cluster_id") or ""),
    )


def observe(members: list[VaultMember]) -> ClusterState:
    """Every member's state, read in parallel."""
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return ClusterState(tuple(pool.map(observe_member, members)))
