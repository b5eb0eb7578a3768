"""The loopback lab as a drill target (``iklim lab``).

``kill``: SIGKILL the leader member's supervised process group (and, for Patroni, the postmaster,
which runs in a session of its own). ``stop``: SIGTERM to the supervised group only (the engine
shuts down as on ``docker stop``: Patroni stops its PostgreSQL and releases the leader key), then
wait until every process of the member is gone. ``pause``: SIGSTOP to every process group of the
member (Patroni and PostgreSQL alike: a frozen host), held until the heal sends SIGCONT; the
woken former leader must find out it no longer leads. The lab's supervisor does not restart anything by itself
(:mod:`iklim.lab.supervisor` starts and stops only), so the drill plays the restart policy: the
heal starts the killed member's processes again from its lab runner (``processes`` is
idempotent), and the runner waits until the cluster's status probe says healthy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from iklim.drill.driver import FAULTS, DrillError, Driver, Observation
from iklim.drill.journal import Entry
from iklim.drill.labseams import SEAMS, Seam
from iklim.drill.vaultseam import VaultSeam
from iklim.drill.workloads.base import Workload
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components, probe_reports

#: The lab's clusters, in drill order (OpenBao's seam lives in a module of its own).
LAB_SEAMS: dict[str, type[Seam]] = {**SEAMS, "vault": VaultSeam}


class LabDriver(Driver):
    target = "lab"

    def __init__(self, ctx: LabContext) -> None:
        self.ctx = ctx
        self.seams: dict[str, Seam] = {name: seam(ctx) for name, seam in LAB_SEAMS.items()}

    def _seam(self, cluster: str) -> Seam:
        try:
            return self.seams[cluster]
        except KeyError:
            raise DrillError(f"unknown cluster {cluster!r} (lab drills: {', '.join(self.seams)})") from None

    def clusters(self) -> tuple[str, ...]:
        return tuple(self.seams)

    def leader(self, cluster: str) -> str:
        observed = self._seam(cluster).observe(None)
        if observed.leader is None:
            raise DrillError(f"{cluster}: no leader named by the cluster's API (is the lab up and healthy?)")
        return observed.leader

    def observe(self, cluster: str, old_leader: str) -> Observation:
        try:
            return self._seam(cluster).observe(old_leader)
        except Exception:  # noqa: BLE001 - an observer must never stop a drill
            return Observation(None)

    def undo_of(self, cluster: str, fault: str, member: str) -> Mapping[str, Any]:
        if fault not in FAULTS:
            raise DrillError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        return {"resume": [member]} if fault == "pause" else {"restart": [member]}

    def _victims(self, cluster: str, member: str) -> list[int]:
        seam = self._seam(cluster)
        if member not in seam.members():
            raise DrillError(f"{cluster}: {member!r} is not a member")
        pid = self.ctx.supervisor.pid(member)
        if pid is None:
            raise DrillError(f"{cluster}: {member} is not running")
        return [pid, *seam.extra_pids(member)]

    def apply(self, cluster: str, fault: str, member: str) -> None:
        victims = self._victims(cluster, member)
        if fault == "pause":
            for victim in victims:
                _signal_group_of(victim, signal.SIGSTOP)
            _wait(lambda: all(_state(v) in ("T", "") for v in victims), 5.0, f"{cluster}: {member}: not stopped")
            return
        if fault == "stop":  # the supervised group only: the engine stops what it started itself
            _signal_group_of(victims[0], signal.SIGTERM)
            limit, why = _STOP_WAIT_S, f"still running {_STOP_WAIT_S:.0f} s after SIGTERM"
        else:
            for victim in victims:
                _signal_group_of(victim, signal.SIGKILL)
            limit, why = 5.0, "survived SIGKILL for 5 s"
        _wait(lambda: not any(_running(v) for v in victims), limit, f"{cluster}: {member}: {why}")

    def heal(self, entry: Entry) -> None:
        for name in (str(n) for n in entry.undo.get("resume", [])):
            with contextlib.suppress(DrillError):  # not running any more: nothing is paused
                for victim in self._victims(entry.cluster, name):
                    _signal_group_of(victim, signal.SIGCONT)
        names = [str(n) for n in entry.undo.get("restart", [])]
        if not names:
            return
        component = next((c for c in components() if c.name == self._seam(entry.cluster).component), None)
        if component is None:
            raise DrillError(f"{entry.cluster}: no lab runner")
        specs = {s.name: s for s in component.processes(self.ctx)}
        for name in names:
            if name not in specs:
                raise DrillError(f"{entry.cluster}: no process {name!r} to restart")
            self._wait_gone(name)
            self.ctx.supervisor.start(specs[name])
            self._seam(entry.cluster).restarted(name)

    def _wait_gone(self, name: str, seconds: float = 10.0) -> None:
        """A killed group may take a moment to release its ports (and a stale pid file is stale)."""
        deadline = time.monotonic() + seconds
        while self.ctx.supervisor.pid(name) is not None and not self.ctx.supervisor.exited(name):
            if time.monotonic() > deadline:
                return  # still alive: start() keeps it, the health wait decides
            time.sleep(0.05)

    def wait_healthy(self, cluster: str, timeout: float) -> str:
        component = self._seam(cluster).component
        deadline, words = time.monotonic() + timeout, "no probe answer"
        while True:
            report = probe_reports(self.ctx, {component}).get(component)
            if report is not None:
                words = report.reason
                if report.status == "healthy":
                    return words
            if time.monotonic() > deadline:
                raise DrillError(f"{cluster}: not healthy within {timeout:.0f} s: {words}")
            time.sleep(0.5)

    def workload(self, cluster: str, run_id: str) -> Workload:
        return self._seam(cluster).workload(run_id)


#: How long a graceful stop may take (Patroni: a checkpoint and PostgreSQL's shutdown).
_STOP_WAIT_S = 60.0


def _signal_group_of(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pid`` belongs to (a supervised member leads its own;
    Patroni's postmaster belongs to the group of the helper that started it), else ``pid`` alone."""
    try:
        os.killpg(os.getpgid(pid), sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait(done: Callable[[], bool], seconds: float, failure: str) -> None:
    """Poll ``done`` every 20 ms; raises :class:`DrillError` with ``failure`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise DrillError(failure)
        time.sleep(0.02)


def _state(pid: int) -> str:
    """The process state letter of ``pid`` (``T``: stopped, ``Z``: zombie), "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie holds no port and no file)."""
    state = _state(pid)
    if not state:
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # ours (the lab started in this process): reap it
        return False
    return True
