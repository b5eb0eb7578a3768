"""``iklim vault bootstrap``: from a fresh 3-node Raft cluster to a healthy, configured one.

Each step observes the real state first and acts only on what is missing, so a rerun is a no-op
on a healthy cluster and finishes an interrupted one:

1. ``api``       every member answers
2. ``init``      initialise once (or find the cluster initialised and the keys file matching)
3. ``unseal``    unseal the initialised members
4. ``join``      every other member joins the Raft cluster and is unsealed
5. ``autopilot`` autopilot healthy, all members voters, failure tolerance >= 1
6. ``day-one``   audit device, KV v2 mounts, policies and auth methods from the model

For interruption drills, ``stop_after`` (or IKLIM_VAULT_KILL_AFTER) SIGKILLs this process right
after the named step: ``init``, ``unseal-first``, ``join-one`` or ``autopilot``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from iklim.vault.api import VaultAnswerError, VaultError, VaultMember
from iklim.vault.autopilot import ensure_autopilot
from iklim.vault.custody import CustodyError
from iklim.vault.dayone import apply_day_one
from iklim.vault.errors import AnswerError, BootstrapError
from iklim.vault.plan import VaultPlan
from iklim.vault.snapshot import ClusterState, MemberState, observe, observe_member
from iklim.vault.waiting import wait

Progress = Callable[[str], None]
__all__ = ["KILL_POINTS", "AnswerError", "BootstrapError", "apply_day_one", "bootstrap", "status_lines", "unseal"]
KILL_POINTS = ("init", "unseal-first", "join-one", "autopilot")
#: Seconds a member gets to join through its own retry_join before an explicit join.
JOIN_GRACE_S = 15
#: Words of the engine's answer when it refuses unseal keys.
REJECTION_WORDS = ("invalid key", "authentication failed", "already been provided")
#: Refusals (not necessarily in a row) before the keys are called wrong, and the seconds between offers.
REJECTIONS = 3
REJECTION_SPACING_S = 2.5


class KeysRejected(BootstrapError):
    """A member refused the unseal keys: another cluster's member or a wrong keys file.

    ``repeated`` is True when the refusal came :data:`REJECTIONS` times (final), False when one
    or two refusals were followed by the deadline of the call (final only if that deadline is the
    bootstrap's own: a shorter grace period is no proof)."""

    def __init__(self, message: str, repeated: bool) -> None:
        super().__init__(message)
        self.repeated = repeated


def _checkpoint(step: str, stop_after: str | None) -> None:
    if stop_after == step:
        os.kill(os.getpid(), signal.SIGKILL)


def wait_for_api(plan: VaultPlan, deadline: float) -> ClusterState:
    """Every member's state once all answer; AnswerError at once when one is not the Vault API."""

    def answered() -> ClusterState | None:
        state = observe(plan.clients())
        _refuse_malformed(state)
        return state if all(m.reachable for m in state.members) else None

    try:
        return wait(answered, deadline, "every member's API")
    except AnswerError:
        raise
    except BootstrapError:
        down = [m.error for m in observe(plan.clients()).members if not m.reachable]
        raise BootstrapError("; ".join(down) or "a member did not answer") from None


def _refuse_malformed(state: ClusterState) -> None:
    malformed = [m.error for m in state.members if m.malformed]
    if malformed:
        raise AnswerError(malformed[0])


def ensure_initialised(plan: VaultPlan, state: ClusterState, progress: Progress) -> str:
    """The name of an initialised member, initialising the first member if none is."""
    initialised = [m for m in state.members if m.initialized]
    if initialised:
        plan.custody.unseal_keys(plan.threshold)  # the keys file must be there and readable
        progress(f"init: already initialised ({', '.join(m.name for m in initialised)})")
        return initialised[0].name
    if plan.custody.exists():
        raise BootstrapError(
            f"no member is initialised but {plan.custody.path} exists: it belongs to another cluster; "
            "move it away before initialising this one"
        )
    plan.custody.prove_writable()  # the shares exist only in init's answer: refuse if they cannot be kept
    first_name = plan.members[0][0]
    result = plan.member(first_name, timeout=120).initialize(plan.shares, plan.threshold, list(plan.pgp_keys) or None)
    plan.custody.save_init(result)  # durable, or rescued to a named 0600 file: never lost
    progress(
        f"init: initialised {first_name} ({plan.shares} shares, threshold {plan.threshold}); "
        f"keys in {plan.custody.path} (0600)"
    )
    return first_name


def unseal_member(member: VaultMember, keys: list[str], deadline: float) -> None:
    """Unseal one member; a member still joining (no Raft challenge yet) is retried.

    A rejection of the keys is final only when it repeats. A member joining through
    ``retry_join`` fetches a new challenge every 2 s and races the unseal call that answers it
    (OpenBao ``vault/raft.go`` JoinRaftCluster, ``core.go`` unsealWithRaft); one CI run under
    load saw a joining member refuse the right keys once. So after a refusal the keys are
    offered again from a reset, at least :data:`REJECTION_SPACING_S` s later, and
    :class:`KeysRejected` (with the engine's words) comes after :data:`REJECTIONS` refusals,
    or at ``deadline`` when there was one; :class:`BootstrapError` at ``deadline`` otherwise.
    """
    rejections: list[str] = []
    not_before = [0.0]

    def attempt() -> bool:
        if time.monotonic() < not_before[0]:
            return False
        status = member.seal_status()
        if not status.get("sealed"):
            return True
        if not status.get("initialized"):
            return False  # retry_join has not fetched the challenge yet
        member.reset_unseal()
        for key in keys:
            try:
                result = member.unseal(key)
            except VaultError as exc:
                words = str(exc).lower()
                if not any(w in words for w in REJECTION_WORDS):
                    raise
                rejections.append(str(exc))
                if len(rejections) >= REJECTIONS:
                    raise KeysRejected(
                        f"{member.name} rejected the unseal keys {len(rejections)} times: it belongs to "
                        f"another cluster, or the keys file is wrong ({rejections[-1]})",
                        repeated=True,
                    ) from None
                not_before[0] = time.monotonic() + REJECTION_SPACING_S
                return False
            if not result.get("sealed"):
                return True
        return False

    try:
        wait(attempt, deadline, f"{member.name} to unseal", interval=0.5)
    except (KeysRejected, AnswerError):
        raise  # final, or not the Vault API: never relabelled
    except BootstrapError:
        if rejections:
            raise KeysRejected(
                f"{member.name} rejected the unseal keys: it belongs to another cluster, or the keys file "
                f"is wrong ({rejections[-1]})",
                repeated=False,
            ) from None
        raise


def check_cluster(plan: VaultPlan, state: MemberState) -> None:
    """An unsealed member must belong to the cluster the keys file recorded."""
    known = plan.custody.cluster_id()
    if known is None:
        if state.cluster_id:  # unknown until the member is unsealed and a leader is elected
            plan.custody.record_cluster(state.cluster_id)
    elif state.cluster_id and state.cluster_id != known:
        raise BootstrapError(
            f"{state.name} belongs to cluster {state.cluster_id}, the keys file to {known}: "
            "a node of another cluster is in the member list"
        )


def unseal_and_join(plan: VaultPlan, seed: str, deadline: float, progress: Progress, stop_after: str | None) -> None:
    keys = plan.custody.unseal_keys(plan.threshold)
    clients = {m.name: m for m in plan.clients()}
    seed_member = clients[seed]
    before = observe_member(seed_member)
    unseal_member(seed_member, keys, deadline)
    after = observe_member(seed_member)
    check_cluster(plan, after)
    progress(f"unseal: {seed} {'already unsealed' if not before.sealed else 'unsealed'}")
    _checkpoint("unseal-first", stop_after)
    leader_url = plan.url(seed)
    others = [name for name in clients if name != seed]

    def join(name: str) -> str:
        member = clients[name]
        state = observe_member(member)
        if state.sealed and not state.initialized:
            # retry_join in the config joins by itself once keys are offered; join explicitly only
            # when it has not fetched its challenge within a grace period (a config without it).
            # A refusal that has not repeated by the end of the grace period is no proof of wrong
            # keys (retry_join holds a challenge): the unseal below, with the whole deadline, decides.
            try:
                unseal_member(member, keys, min(deadline, time.monotonic() + JOIN_GRACE_S))
            except KeysRejected as exc:
                if exc.repeated:
                    raise
            except BootstrapError:
                try:
                    member.join(leader_url)
                except VaultError as exc:
                    if "already" not in str(exc).lower():
                        raise
        if state.sealed:
            unseal_member(member, keys, deadline)
        check_cluster(plan, observe_member(member))
        done = "joined and unsealed" if not state.initialized else "unsealed" if state.sealed else "already a member"
        return f"{name} {done}"

    for i, name in enumerate(others):
        progress(f"join: {join(name)}")
        if i == 0:
            _checkpoint("join-one", stop_after)


def bootstrap(plan: VaultPlan, progress: Progress, timeout: float = 180.0, stop_after: str | None = None) -> None:
    """Run every step; raise :class:`BootstrapError` or :class:`CustodyError` with a one-line reason."""
    stop_after = stop_after or os.environ.get("IKLIM_VAULT_KILL_AFTER") or None
    deadline = time.monotonic() + timeout
    try:
        state = wait_for_api(plan, deadline)
        progress(f"api: {len(state.members)} members answer ({', '.join(m.role for m in state.members)})")
        seed = ensure_initialised(plan, state, progress)
        _checkpoint("init", stop_after)
        unseal_and_join(plan, seed, deadline, progress, stop_after)
        ensure_autopilot(plan, deadline, progress)
        _checkpoint("autopilot", stop_after)
        apply_day_one(plan, progress, deadline)
    except VaultAnswerError as exc:
        raise AnswerError(str(exc)) from None
    except VaultError as exc:
        raise BootstrapError(str(exc)) from None


def unseal(plan: VaultPlan, names: list[str], progress: Progress, timeout: float = 60.0) -> None:
    """Unseal the named members (all when empty), e.g. one that restarted sealed."""
    deadline = time.monotonic() + timeout
    keys = plan.custody.unseal_keys(plan.threshold)
    for member in plan.clients():
        if names and member.name not in names:
            continue
        state = observe_member(member)
        while not state.reachable and not state.malformed and time.monotonic() < deadline:
            time.sleep(0.25)  # a member restarting answers soon
            state = observe_member(member)
        if state.malformed:
            raise AnswerError(state.error)
        if not state.reachable:
            raise BootstrapError(state.error)
        if not state.sealed:
            progress(f"{member.name}: already unsealed")
            continue
        unseal_member(member, keys, deadline)
        check_cluster(plan, observe_member(member))
        progress(f"{member.name}: unsealed")


def status_lines(plan: VaultPlan) -> tuple[list[str], bool]:
    """Init/seal/leader/voters at a glance, and whether the cluster is healthy.

    Raises AnswerError when a member answers something that is not the Vault API.
    """
    state = observe(plan.clients())
    _refuse_malformed(state)
    lines = [f"{m.name:<10} {m.role}" + (f" ({m.error})" if m.error else "") for m in state.members]
    healthy = all(m.role in ("active", "standby") for m in state.members)
    try:
        token = plan.custody.root_token()
    except CustodyError:
        lines.append("autopilot: unknown (no keys file with a token)")
        return lines, healthy
    active = state.active
    if active is None:
        return [*lines, "leader: none"], False
    leader = plan.member(active.name, token)
    try:
        auto = leader.data("/v1/sys/storage/raft/autopilot/state")
    except VaultAnswerError as exc:
        raise AnswerError(str(exc)) from None
    except VaultError as exc:
        return [*lines, f"autopilot: {exc}"], False
    voters = auto.get("voters") or []
    lines.append(
        f"leader: {auto.get('leader')}; voters: {len(voters)}; failure tolerance: "
        f"{auto.get('failure_tolerance')}; healthy: {auto.get('healthy')}"
    )
    return lines, healthy and bool(auto.get("healthy")) and int(auto.get("failure_tolerance", 0)) >= 1
