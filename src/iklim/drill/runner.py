"""One drill run: healthy gate, workload, journaled fault, observation, heal, settle, final read.

Timeline of :func:`run_once` (monotonic seconds):

1. the cluster's status probe must say healthy (else :class:`DrillError`, nothing applied);
2. the leader is read from the cluster's own API; writers start (``rate`` Hz in total) and run
   ``warmup`` seconds;
3. the fault is written to the journal, then applied (``fault_at`` = when it returned, or when it
   was requested for a planned hand-over and a graceful stop);
4. the cluster is observed ~10 times a second (detection, election) until the clients have
   written successfully for ``hold`` seconds after the last failure and a new leader is named, or
   ``window`` seconds passed;
5. the fault is healed (the journal entry is cleared only once the cluster is healthy again);
   the writers keep writing through the heal, then stop; after ``settle`` seconds one final read.

A Ctrl-C (KeyboardInterrupt) or any error after step 3 heals before it propagates; a SIGKILL of
iklim leaves the journal entry for ``iklim drill heal``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from iklim.drill.accounting import Accounting, account
from iklim.drill.driver import CLOCK_AT_REQUEST, PLANNED, DrillError, Driver
from iklim.drill.history import History, Op
from iklim.drill.journal import Entry, Journal
from iklim.drill.recovery import Recovery, recovery_of
from iklim.drill.workloads.base import Writers


@dataclass(frozen=True)
class Settings:
    """Drill timings (seconds) and load; the defaults suit the lab on 2 cores."""

    rate: float = 50.0
    # 8 writers share the 50 Hz, each allowed 160 ms a write: with 4, a write slower than 80 ms (a
    # Vault write forwarded over TLS and committed through Raft on a busy 2-core machine) already
    # held the total under the target (lab: 40-44 Hz with 4 workers)
    workers: int = 8
    warmup: float = 2.0
    hold: float = 1.0
    window: float = 90.0
    settle: float = 1.0
    healthy_timeout: float = 120.0  # after a heal
    gate_timeout: float = 20.0  # before the fault: a cluster not healthy by then is not drilled


@dataclass(frozen=True)
class RunResult:
    """One run's outcome; ``leaders`` is every change of the named leader as (seconds since the
    fault, member or None); ``rate_hz`` is the write rate achieved before the fault."""

    cluster: str
    fault: str
    run: int
    run_id: str
    member: str
    new_leader: str | None
    accounting: Accounting
    recovery: Recovery
    rate_hz: float
    duration_s: float
    leaders: tuple[tuple[float, str | None], ...]
    history: tuple[Op, ...] = field(repr=False)
    heal_s: float | None = None  # seconds since the fault when the heal began (the fault window's end)
    #: Run under ``--unsafe-config``: loss is the expected outcome (the checker is shown to catch it).
    unsafe: bool = False

    @property
    def leader_changed(self) -> bool:
        """The measured cluster named another leader (or none) at some point after the fault
        (``etcd-leader``: whether the Patroni primary demoted)."""
        return any(who != self.leaders[0][1] for _, who in self.leaders[1:])

    @property
    def passed(self) -> bool:
        """Recovered and nothing acknowledged lost; under ``--unsafe-config``: recovered and the
        checker caught acknowledged writes lost (a run that lost nothing failed to demonstrate)."""
        if self.recovery.recovery is None:
            return False
        return bool(self.accounting.lost) if self.unsafe else self.accounting.valid

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "fault": self.fault,
            "run": self.run,
            "run_id": self.run_id,
            "member": self.member,
            "new_leader": self.new_leader,
            "rate_hz": round(self.rate_hz, 1),
            "duration_s": round(self.duration_s, 3),
            "accounting": self.accounting.as_dict(),
            "recovery": self.recovery.as_dict(),
            "leaders": [{"t_s": round(t, 3), "leader": who} for t, who in self.leaders],
            "heal_s": None if self.heal_s is None else round(self.heal_s, 3),
            "leader_changed": self.leader_changed,
            "unsafe_config": self.unsafe,
            "passed": self.passed,
        }


def run_once(
    driver: Driver, journal: Journal, cluster: str, fault: str, run: int, settings: Settings = Settings()
) -> RunResult:
    """One drill of ``fault`` on ``cluster``'s leader; raises :class:`DrillError` when it cannot."""
    driver.wait_healthy(cluster, settings.gate_timeout)
    run_id = f"{cluster}-{uuid.uuid4().hex[:8]}"
    workload = driver.workload(cluster, run_id)
    try:
        workload.setup()
    except Exception as exc:  # noqa: BLE001 - any client error: the drill cannot start
        raise DrillError(f"{cluster}: workload set-up failed: {exc}") from None
    old = driver.leader(cluster)  # after set-up: a queue's leader exists once the queue does
    history = History()
    writers = Writers(workload, history, run_id, settings.rate, settings.workers)
    writers.start()  # returns once the writers' clients are connected: the rate starts here
    begin = time.monotonic()
    entry: Entry | None = None
    member = driver.victim(cluster, fault, old)
    try:
        time.sleep(settings.warmup)
        entry = Entry.new(driver.target, cluster, fault, member, driver.undo_of(cluster, fault, member))
        journal.record(entry)
        requested_at = time.monotonic()
        driver.apply(cluster, fault, member)
        # A planned hand-over's or a graceful stop's clock starts at the request (the cluster knows
        # from then on: :data:`~iklim.drill.driver.CLOCK_AT_REQUEST`).
        fault_at = requested_at if fault in CLOCK_AT_REQUEST else time.monotonic()
        warm_ops = sum(1 for o in history.ops() if o.kind == "invoke" and o.time < fault_at)
        detected_at, elected_at, leaders = _observe(
            driver, history, cluster, fault, old, fault_at, settings, requested_at if fault in PLANNED else None
        )
        heal_at = time.monotonic()
        _heal(driver, journal, entry, settings)
        entry = None
    finally:
        if entry is not None:  # interrupted or failed after the journal entry: heal, then propagate
            _heal(driver, journal, entry, settings)
        writers.stop()
    end = time.monotonic()
    time.sleep(settings.settle)
    try:
        final = workload.final_read()
    except Exception as exc:  # noqa: BLE001 - the final read is the whole point: say why it failed
        raise DrillError(f"{cluster}: final read failed: {exc}") from None
    ops = history.ops()
    recovery = recovery_of(ops, fault_at, heal_at, detected_at, elected_at)
    return RunResult(
        cluster,
        fault,
        run,
        run_id,
        member,
        next((who for _, who in reversed(leaders) if who is not None), None),
        account(ops, final),
        recovery,
        warm_ops / max(fault_at - begin, 1e-9),
        end - begin,
        tuple(leaders),
        ops,
        heal_at - fault_at,
        driver.unsafe_config,
    )


def _observe(
    driver: Driver,
    history: History,
    cluster: str,
    fault: str,
    old: str,
    fault_at: float,
    settings: Settings,
    detected_at: float | None = None,
) -> tuple[float | None, float | None, list[tuple[float, str | None]]]:
    """Poll the cluster until recovered and a new leader is named (or the window ends);
    ``detected_at`` given: detection is already known (a planned hand-over's request)."""
    elected_at: float | None = None
    leaders: list[tuple[float, str | None]] = [(0.0, old)]
    at_least = driver.min_observe(cluster, fault)
    while True:
        seen = driver.observe_fault(cluster, fault, old)
        now = time.monotonic()
        if seen.leader != leaders[-1][1]:
            leaders.append((now - fault_at, seen.leader))
        if detected_at is None and (seen.suspected or seen.leader != old):
            detected_at = now
        elected = seen.leader not in (None, old) if seen.elected is None else seen.elected
        if elected_at is None and elected:
            elected_at = now
        rec = recovery_of(history.ops(), fault_at, now)
        steady = rec.recovered_at is not None and now - rec.recovered_at >= settings.hold
        if (steady and elected_at is not None and now - fault_at >= at_least) or now - fault_at > settings.window:
            return detected_at, elected_at, leaders
        time.sleep(0.1)


def _heal(driver: Driver, journal: Journal, entry: Entry, settings: Settings) -> None:
    """Undo ``entry`` and clear it once the cluster is healthy again (else it stays journaled)."""
    driver.heal(entry)
    driver.wait_healthy(entry.cluster, settings.healthy_timeout)
    journal.clear(entry.fault_id)


def heal_pending(driver: Driver, journal: Journal, timeout: float = 120.0) -> list[Entry]:
    """Heal every journaled fault of ``driver``'s target (``iklim drill heal``); returns them.

    Raises :class:`DrillError` naming the first fault that could not be healed (it stays in the
    journal, so the command can be run again).
    """
    healed = []
    for entry in journal.pending():
        if entry.target != driver.target:
            continue
        _heal(driver, journal, entry, Settings(healthy_timeout=timeout))
        healed.append(entry)
    return healed
