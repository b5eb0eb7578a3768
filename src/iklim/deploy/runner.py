"""Carry out a plan in cluster-aware order: :func:`run_deploy`.

For each stateful cluster, in :mod:`iklim.deploy.order`'s order (etcd, Patroni, MongoDB, Redis,
RabbitMQ, Vault):

1. ``hooks.before_cluster(cluster, services)``;
2. the current leader is read through the cluster's seam (:mod:`iklim.deploy.handover`); a cluster
   with a seam that names none within 30 s is not healthy and stops the deploy;
3. every changed data member but the leader, one at a time: ``before_apply`` (RabbitMQ: await
   quorum + 1, drain), ``applier.apply`` (the service converged: task running and healthy),
   ``after_apply`` (Vault: unseal), then the cluster must be healthy (``health``: the cluster's
   ``iklim status`` probe) within ``healthy_timeout`` seconds;
4. the leader, when its change restarts it: a verified hand-over (Vault: its own SIGTERM, verified
   after), the cluster healthy (not for RabbitMQ: its drained node is down for ``status`` until it
   restarts), then the former leader as in 3;
5. the companions (Redis Sentinel) one at a time as in 3; ``hooks.after_cluster``.

Then the stateless services in name order (each as its own ``update_config`` says: the applier).
Leader changes are counted by a :class:`~iklim.deploy.watch.LeaderWatch` over the whole deploy.

Any :class:`~iklim.deploy.api.DeployError` stops the deploy: a half-done hand-over is undone (a
drained RabbitMQ node revived), every service applied so far is rolled back in the same order
(``applier.rollback``; a restarted stateful member then gets its cluster's ``after_apply``: a
Vault member comes back sealed and is unsealed, a RabbitMQ node is revived) and the result carries
the error (``iklim deploy`` exits 4). Any other exception out of a hook or a seam is handled the
same way, its text withheld (it may carry a value). Nothing raises out of :func:`run_deploy` but
KeyboardInterrupt (after the rollback). A member that leads its cluster when its rollback comes
hands over first (:func:`_hand_over_before_rollback`); a refused hand-over is reported and the
rollback goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from iklim.deploy.api import DeployError, Hooks, ServiceApplier
from iklim.deploy.handover import Handover, MemberExec, handover_for
from iklim.deploy.measure import Measurement
from iklim.deploy.order import ClusterRoll, DeployOrder, Member, deploy_order, leader_last
from iklim.deploy.report import ClusterResult, DeployResult
from iklim.deploy.watch import LeaderWatch
from iklim.drill.labseams import Seam
from iklim.model.schema import Environment
from iklim.plan.diff import Plan

#: cluster -> (healthy, the reason in words); must not raise.
Health = Callable[[str], tuple[bool, str]]

#: Seconds a cluster may take to be healthy again after one member's apply.
HEALTHY_S = 120.0


class _Roll:
    """The state of one run: what was applied, for the rollback."""

    def __init__(self, applier: ServiceApplier, health: Health, progress: Callable[[str], None], timeout: float):
        self.applier, self.health, self.progress, self.timeout = applier, health, progress, timeout
        #: service -> (cluster, member) of the stateful services (set by :func:`run_deploy`).
        self.members: dict[str, tuple[str, Member]] = {}
        self.applied: list[str] = []
        #: Every service an update was sent to, the failed one included (a failed update leaves the
        #: service at its new spec: the rollback must put it back too).
        self.attempted: list[str] = []

    def apply(self, service: str) -> None:
        self.progress(f"apply {service}")
        self.attempted.append(service)
        self.applier.apply(service)
        self.applied.append(service)

    def wait_healthy(self, cluster: str, after: str) -> None:
        deadline, words = time.monotonic() + self.timeout, "not asked yet"
        while True:
            healthy, words = self.health(cluster)
            if healthy:
                return
            if time.monotonic() > deadline:
                raise DeployError(f"{cluster}: not healthy {self.timeout:.0f} s after {after}: {words}")
            time.sleep(1.0)


def _member(roll: _Roll, handover: Handover, item: Member, cluster: str) -> None:
    if item.restarts:
        handover.before_apply(item.member)
    roll.apply(item.service)
    if item.restarts:
        handover.after_apply(item.member)
    roll.wait_healthy(cluster, item.service)


def _cluster(
    roll: _Roll, plan: ClusterRoll, handover: Handover, hooks: Hooks, watch: LeaderWatch, result: ClusterResult
) -> None:
    hooks.before_cluster(plan.cluster, plan.services)
    leader: str | None = None
    if handover.by_name is not None:
        roll.progress(f"{plan.cluster}: {handover.by_name}")
        result.note = handover.by_name
    elif plan.cluster == "rabbitmq":
        leader = handover.leader()  # the measured queue's leader; None without a workload
    elif handover.seam is not None:
        leader = handover.require_leader()
    result.leader_before = leader
    if plan.cluster == "rabbitmq" and leader is None:
        result.note = "no measured queue: every node drained before its restart, by name"
    members = leader_last(plan, leader)
    updated: list[str] = []
    for item in members:
        is_leader = item.member == leader and item.restarts
        if is_leader and not handover.releases_on_stop:
            roll.progress(f"{plan.cluster}: hand over from {item.member}")
            began = time.monotonic()
            new = handover.hand_over(item.member, updated)
            result.handover_s = time.monotonic() - began
            roll.progress(f"{plan.cluster}: {new} leads now ({result.handover_s:.2f} s)")
            if handover.healthy_after_hand_over and not hooks.rejoin_blocked(plan.cluster):
                roll.wait_healthy(plan.cluster, f"the hand-over to {new}")
        began = time.monotonic()
        _member(roll, handover, item, plan.cluster)
        if is_leader and handover.releases_on_stop:
            new = handover.verify_moved(item.member)
            moved = watch.first_other_since(plan.cluster, item.member, began)
            result.handover_s = None if moved is None else moved - began
            roll.progress(f"{plan.cluster}: {new} active after {item.member}'s stop")
        updated.append(item.member)
    for item in plan.companions:
        _member(roll, Handover(plan.cluster, None), item, plan.cluster)
    result.leader_after = handover.leader() if handover.seam is not None else None
    hooks.after_cluster(plan.cluster, plan.services)


def run_deploy(
    env: Environment,
    plan: Plan,
    applier: ServiceApplier,
    hooks: Hooks,
    seams: Mapping[str, Seam],
    progress: Callable[[str], None],
    measure: bool = False,
    *,
    health: Health | None = None,
    member_exec: MemberExec | None = None,
    order: DeployOrder | None = None,
    healthy_timeout: float = HEALTHY_S,
) -> DeployResult:
    """Apply ``plan``'s changed services through ``applier`` in cluster-aware order (module docstring).

    ``seams``: cluster -> its drill seam in this target's context (the Swarm lab's seat: etcd,
    Patroni, Redis, RabbitMQ and Vault); ``health``: the clusters' health (default: each cluster's
    ``iklim status`` probe through the seam's context, :func:`iklim.deploy.seatseams.status_health`);
    ``member_exec``: how to run a command in a member's container (RabbitMQ's drain);
    ``measure``: run the drill workloads on every cluster of ``seams`` during the deploy.
    """
    began = time.monotonic()
    result = DeployResult()
    order = order or deploy_order(env, plan)
    if health is None:
        from iklim.deploy.seatseams import status_health

        health = status_health(env, seams)
    roll = _Roll(applier, health, progress, healthy_timeout)
    roll.members = member_index(order)
    try:
        handovers = {c.cluster: handover_for(c.cluster, seams.get(c.cluster), member_exec) for c in order.clusters}
    except DeployError as exc:
        result.error = str(exc)
        result.seconds = time.monotonic() - began
        return result
    measurement = Measurement(seams, progress) if measure else None
    watch: LeaderWatch | None = None
    try:
        if measurement is not None:
            measurement.start()
        watch = LeaderWatch(_readers(handovers, seams))
        watch.start()
        for cluster_plan in order.clusters:
            item = ClusterResult(cluster_plan.cluster, list(cluster_plan.services))
            result.clusters.append(item)
            started = time.monotonic()
            try:
                _cluster(roll, cluster_plan, handovers[cluster_plan.cluster], hooks, watch, item)
            finally:
                if measurement is not None:
                    measurement.window(cluster_plan.cluster, started, time.monotonic())
        for member in order.stateless:
            roll.apply(member.service)
    except DeployError as exc:
        result.error = str(exc)
        progress(f"deploy stopped: {exc}")
        _rollback(roll, result, progress, handovers, hooks)
    except Exception as exc:  # noqa: BLE001 - a hook's or a seam's own error must not skip the rollback
        result.error = f"unexpected {type(exc).__name__} (its text is not shown: it may carry a secret)"
        progress(f"deploy stopped: {result.error}")
        _rollback(roll, result, progress, handovers, hooks)
    except KeyboardInterrupt:
        result.error = "interrupted"
        _rollback(roll, result, progress, handovers, hooks)
        raise
    finally:
        ended = time.monotonic()
        if watch is not None:
            watch.stop()
            _leaders(result, watch, order)
        if measurement is not None:
            for name, measured in measurement.stop(began, ended).items():
                target = result.cluster(name)
                if target is None:
                    target = ClusterResult(name, note="not changed by this deploy")
                    result.clusters.append(target)
                target.measured = measured
        result.applied = list(roll.applied)
        result.seconds = time.monotonic() - began
    return result


def _readers(handovers: Mapping[str, Handover], seams: Mapping[str, Seam]) -> dict[str, Callable[[], str | None]]:
    """The leader reading of every cluster with a seam, changed by this deploy or not."""
    readers = {name: h.leader for name, h in handovers.items() if h.seam is not None}
    for name, seam in seams.items():
        if name not in readers:
            try:
                readers[name] = handover_for(name, seam).leader
            except DeployError:
                continue
    return readers


def _leaders(result: DeployResult, watch: LeaderWatch, order: DeployOrder) -> None:
    """Every watched cluster's leader history into its :class:`ClusterResult` (unchanged clusters too)."""
    for name in watch.readers:
        target = result.cluster(name)
        if target is None:
            target = ClusterResult(name, note="not changed by this deploy")
            result.clusters.append(target)
        target.leaders = watch.leaders(name)
        if target.leaders:
            target.leader_before = target.leader_before or target.leaders[0][1]
            target.leader_after = target.leaders[-1][1]


def _rollback(
    roll: _Roll,
    result: DeployResult,
    progress: Callable[[str], None],
    handovers: Mapping[str, Handover],
    hooks: Hooks,
) -> None:
    """Undo the hooks' changes inside the engines (a rotated password put back), half-done
    hand-overs (a drained RabbitMQ node), then roll back every service an update was sent to (the
    one that failed included), in the order applied; errors are collected, not raised."""
    result.rollback_errors.extend(hooks.undo())
    for handover in handovers.values():
        result.rollback_errors.extend(handover.undo())
    rolled, errors = roll_back(roll.applier, list(roll.attempted), roll.members, handovers, progress)
    result.rolled_back.extend(rolled)
    result.rollback_errors.extend(errors)


def roll_back(
    applier: ServiceApplier,
    services: Sequence[str],
    members: Mapping[str, tuple[str, Member]],
    handovers: Mapping[str, Handover],
    progress: Callable[[str], None],
) -> tuple[list[str], list[str]]:
    """Put ``services`` back to their previous specs in this order; after each stateful member whose
    rollback restarts it, its cluster's ``after_apply`` runs as after an apply (Vault: unseal the
    member, which comes back sealed; RabbitMQ: ``revive``). A member that leads its cluster when its
    turn comes hands over first (:func:`_hand_over_before_rollback`). ``members``: service ->
    (cluster, its :class:`Member`). Returns (rolled back, errors one line each); raises nothing
    but KeyboardInterrupt: any error of one service (a cluster API that refuses the connection,
    an Engine error) is reported and the next service is rolled back."""
    rolled: list[str] = []
    errors: list[str] = []
    for service in services:
        progress(f"roll back {service}")
        error = _hand_over_before_rollback(service, services, rolled, members, handovers, progress)
        if error:
            errors.append(error)
        try:
            applier.rollback(service)
        except Exception as exc:  # noqa: BLE001 - the rollback of the others must go on
            errors.append(_error_line(service, "rollback", exc))
            continue
        rolled.append(service)
        cluster, item = members.get(service, ("", None))
        handover = handovers.get(cluster)
        if item is not None and item.restarts and handover is not None:
            try:
                handover.after_apply(item.member)
            except Exception as exc:  # noqa: BLE001 - as above
                errors.append(_error_line(service, "after its rollback", exc))
    return rolled, errors


def _error_line(service: str, step: str, exc: Exception) -> str:
    """A DeployError's own line; any other error by its type only (its text may carry a value)."""
    if isinstance(exc, DeployError):
        return str(exc)
    return f"{service}: {step}: unexpected {type(exc).__name__}"


def _hand_over_before_rollback(
    service: str,
    services: Sequence[str],
    rolled: Sequence[str],
    members: Mapping[str, tuple[str, Member]],
    handovers: Mapping[str, Handover],
    progress: Callable[[str], None],
) -> str:
    """When ``service`` is a stateful member whose rollback restarts it and its cluster names it
    leader now (after the deploy's own hand-over, the leader is an updated member), hand the role
    over first, preferring a member already on its previous spec (rolled back, or never changed).
    Vault's active hands over on its own SIGTERM, and members by name have no leader: nothing to
    do. A failed hand-over, or a leader that cannot be read, does not stop the rollback: the
    member then restarts as on a crash, and the line returned says so ("" when nothing failed)."""
    cluster, item = members.get(service, ("", None))
    handover = handovers.get(cluster)
    if item is None or not item.restarts or handover is None or handover.seam is None:
        return ""
    if handover.releases_on_stop or handover.by_name is not None:
        return ""
    leader = handover.leader()  # never raises: None when the cluster names none or cannot be read
    if leader is None and cluster != "rabbitmq":  # RabbitMQ: the measured queue's, None without a workload
        return f"{cluster}: no leader named before {item.member}'s rollback (rolled back without a hand-over)"
    if leader != item.member:
        return ""
    pending = {m.member for s, (c, m) in members.items() if c == cluster and s in services and s not in rolled}
    try:  # members on their previous spec: rolled back already, or never changed by this deploy
        previous = [m for m in handover.seam.members() if m != item.member and m not in pending]
    except Exception:  # noqa: BLE001 - a preference only
        previous = []
    progress(f"{cluster}: hand over from {item.member} before its rollback")
    try:
        new = handover.hand_over(item.member, previous)
    except Exception as exc:  # noqa: BLE001 - the rollback goes on
        return f"{_error_line(service, 'hand-over', exc)} (rolled back without a hand-over)"
    progress(f"{cluster}: {new} leads now")
    return ""


def member_index(order: DeployOrder) -> dict[str, tuple[str, Member]]:
    """Service -> (cluster, :class:`Member`) for every stateful member and companion of ``order``."""
    return {m.service: (c.cluster, m) for c in order.clusters for m in (*c.members, *c.companions)}
