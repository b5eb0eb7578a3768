"""Step 5 of ``iklim vault bootstrap``: autopilot healthy, every member a voter, failure
tolerance >= 1, and the model's server stabilization time in place.

While a fresh cluster forms, the stabilization time is lowered to
:data:`BOOTSTRAP_STABILIZATION_S` so members that just joined are promoted quickly; the model's
value is put back once every member votes. Reads and writes go to the member active now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iklim.vault.api import VaultMember
from iklim.vault.plan import VaultPlan
from iklim.vault.waiting import on_active, wait, wait_for_active

Progress = Callable[[str], None]

#: Server stabilization while a fresh cluster forms: members that just joined an empty cluster
#: are promoted after this many seconds healthy instead of the steady-state value from the model,
#: which is put back as soon as every member votes.
BOOTSTRAP_STABILIZATION_S = 2


def _set_stabilization(leader: VaultMember, seconds: int) -> bool:
    config = leader.data("/v1/sys/storage/raft/autopilot/configuration")
    if _seconds(config.get("server_stabilization_time")) == seconds:
        return False
    leader.post(
        "/v1/sys/storage/raft/autopilot/configuration",
        {"server_stabilization_time": f"{seconds}s", "cleanup_dead_servers": False},
    )
    return True


AUTOPILOT_STATE = "/v1/sys/storage/raft/autopilot/state"


def ensure_autopilot(plan: VaultPlan, deadline: float, progress: Progress) -> dict[str, Any]:
    """The autopilot state once every member is a healthy voter and failure tolerance >= 1.

    Raises BootstrapError at the deadline, AnswerError when a member is not the Vault API and
    CustodyError when the keys file cannot give the root token.
    """
    token = plan.custody.root_token()
    members = [m.with_token(token) for m in plan.clients()]

    def state() -> dict[str, Any]:
        # The leader may change while autopilot settles (every member just restarted): ask the
        # member that is active now, waiting for an election when there is none yet.
        return wait_for_active(members, deadline).data(AUTOPILOT_STATE)

    def healthy() -> dict[str, Any] | None:
        current = state()
        voters = current.get("voters") or []
        ok = current.get("healthy") and len(voters) == len(members) and int(current.get("failure_tolerance", 0)) >= 1
        return current if ok else None

    def stabilization(seconds: int) -> bool:
        what = "autopilot's server stabilization time to be set"
        return on_active(members, deadline, what, lambda leader: _set_stabilization(leader, seconds))

    first = on_active(members, deadline, "the autopilot state", lambda leader: leader.data(AUTOPILOT_STATE))
    if len(first.get("voters") or []) < len(members):
        stabilization(min(BOOTSTRAP_STABILIZATION_S, plan.stabilization_s))
    current = wait(healthy, deadline, "autopilot to report every member a healthy voter", interval=0.5)
    if stabilization(plan.stabilization_s):
        progress(f"autopilot: server stabilization time {plan.stabilization_s}s (the model's)")
    progress(f"autopilot: healthy, {len(current['voters'])} voters, failure tolerance {current['failure_tolerance']}")
    return current


def _seconds(value: Any) -> int | None:
    if isinstance(value, (int, float)):
        return int(value / 1e9) if value > 10_000 else int(value)
    if isinstance(value, str) and value.endswith("s") and value[:-1].isdigit():
        return int(value[:-1])
    return None
