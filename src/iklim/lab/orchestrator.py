"""``lab up`` / ``down`` / ``status``: every available cluster, started in parallel.

Each component runs in its own thread: it waits for the components it needs, starts its
processes, then waits until it is healthy. A watcher fails a component as soon as one of its
processes exits, with the tail of that process's log.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from iklim.lab.components.base import LabComponent
from iklim.lab.context import LabContext, LabError
from iklim.lab.registry import runners
from iklim.status.report import Report

Progress = Callable[[str], None]


def components() -> tuple[LabComponent, ...]:
    """Every lab component, in start order (dependencies first), from the catalogue through
    :mod:`iklim.lab.registry`. Prometheus scrapes what runs.

    MongoDB and Grafana run when their binaries are on PATH (no package installs them here);
    APISIX and the cert services are only reported, with the catalogue's reason.
    """
    return runners()


@dataclass(frozen=True)
class ComponentState:
    name: str
    state: str  # healthy | unhealthy | stopped | not available
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"component": self.name, "state": self.state, "detail": self.detail}


def _run_component(
    ctx: LabContext,
    component: LabComponent,
    deadline: float,
    ready: dict[str, threading.Event],
    failed: dict[str, str],
    progress: Progress,
    started: dict[str, list[str]],
) -> None:
    name = component.name
    started.setdefault(name, [])  # attempted: recorded even if it fails before any process starts
    try:
        for need in component.needs:
            if need not in ready:
                raise LabError(name, f"cannot start: {need} is not available on this host")
            while not ready[need].wait(0.1):
                if need in failed:
                    raise LabError(name, f"cannot start: {need} failed")
                if time.monotonic() > deadline:
                    raise LabError(name, f"timed out waiting for {need}")
        begin = time.monotonic()
        specs = component.processes(ctx)
        started[name] = [s.name for s in specs]
        for spec in specs:
            ctx.supervisor.start(spec)
        progress(f"{name}: started {len(specs)} process(es)")
        detail = component.wait_ready(ctx, deadline)
        if name not in failed:
            progress(f"{name}: healthy in {time.monotonic() - begin:.1f} s ({detail})")
            ready[name].set()
    except (LabError, TimeoutError, OSError, ValueError) as exc:
        failed.setdefault(name, str(exc).removeprefix(f"{name}: "))
    except Exception as exc:  # noqa: BLE001 - a bug in one component must fail it, never hang `up`
        failed.setdefault(name, f"unexpected {type(exc).__name__}: {exc}")


def up(ctx: LabContext, progress: Progress, timeout: float = 180.0) -> list[ComponentState]:
    """Start every available component and wait until each is healthy; idempotent."""
    ctx.root.mkdir(parents=True, exist_ok=True)
    parts = components()
    runnable = [c for c in parts if c.missing() is None]
    states = [ComponentState(c.name, "not available", c.missing() or "") for c in parts if c.missing()]
    for state in states:
        progress(f"{state.name}: {state.detail}")
    ready = {c.name: threading.Event() for c in runnable}
    failed: dict[str, str] = {}
    started: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=len(runnable)) as pool:
        for component in runnable:
            pool.submit(_run_component, ctx, component, deadline, ready, failed, progress, started)
        while not all(ready[c.name].is_set() or c.name in failed for c in runnable):
            for component in runnable:  # fail fast when a process of a starting component exits
                if ready[component.name].is_set() or component.name in failed or component.restarts_members:
                    continue
                dead = [p for p in started.get(component.name, []) if ctx.supervisor.exited(p)]
                if dead:
                    failed[component.name] = f"{dead[0]} exited"
            time.sleep(0.2)
    _record(ctx, started, failed)
    for component in runnable:
        if component.name in failed:
            states.append(ComponentState(component.name, "unhealthy", failed[component.name]))
        else:
            states.append(ComponentState(component.name, "healthy", "ready"))
    return states


def _record(ctx: LabContext, started: dict[str, list[str]], failed: dict[str, str]) -> None:
    """The lab state ``iklim status`` and ``lab status`` read: what ``up`` attempted and what failed.

    ``components.json``: every component ``up`` tried -> its processes (empty when it failed
    before starting any); ``failed.json``: component -> why ``up`` failed it (``{}`` when none).
    """
    for name, text in (("components.json", started), ("failed.json", failed)):
        tmp = ctx.root / f".{name}.tmp"
        tmp.write_text(json.dumps(text, indent=2, sort_keys=True) + "\n")
        tmp.replace(ctx.root / name)


def failures(ctx: LabContext) -> dict[str, str]:
    """Component -> why the last ``up`` failed it (empty when it failed none, or never ran)."""
    try:
        recorded = json.loads((ctx.root / "failed.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def failure_logs(ctx: LabContext, component: str, lines: int = 15) -> dict[str, str]:
    """The log tail of each process of ``component`` (as recorded by the last ``up``)."""
    return {name: ctx.supervisor.tail(name, lines) for name in processes_of(ctx, component)}


def processes_of(ctx: LabContext, component: str) -> list[str]:
    try:
        recorded: dict[str, list[str]] = json.loads((ctx.root / "components.json").read_text())
    except (OSError, ValueError):
        return []
    return recorded.get(component, [])


def status(ctx: LabContext) -> list[ComponentState]:
    """A live reading of every component: healthy, unhealthy, stopped or not available.

    A component with a status probe is judged by it, exactly as ``iklim status --target lab``
    judges it (one implementation of "healthy"); a helper process without one (epmd, the
    exporters) by its runner's own quick check.
    """
    parts = components()
    failed = failures(ctx)
    running = {c.name for c in parts if c.missing() is None and _running(ctx, c.name)}
    reports = probe_reports(ctx, running)

    def read(component: LabComponent) -> ComponentState:
        reason = component.missing()
        if reason:
            return ComponentState(component.name, "not available", reason)
        if component.name not in running:
            if component.name in failed:
                return ComponentState(component.name, "unhealthy", f"lab up failed it: {failed[component.name]}")
            return ComponentState(component.name, "stopped", "no process running")
        report = reports.get(component.name)
        if report is not None:
            return ComponentState(
                component.name, "healthy" if report.status == "healthy" else "unhealthy", report.reason
            )
        ok, words = component.health(ctx)
        return ComponentState(component.name, "healthy" if ok else "unhealthy", words)

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return list(pool.map(read, parts))


def _running(ctx: LabContext, component: str) -> bool:
    names = processes_of(ctx, component)
    return bool(names) and any(ctx.supervisor.pid(n) is not None for n in names)


def probe_reports(ctx: LabContext, names: set[str], timeout: float = 2.0) -> dict[str, Report]:
    """The status probes' reports (``iklim status --target lab``) of the components in ``names``."""
    from iklim.status.planbuild import plan_of
    from iklim.status.runner import run_probes
    from iklim.status.secrets import LabSecrets
    from iklim.status.transport import NetTransport

    plan = plan_of(ctx.env, "lab", str(ctx.root))
    chosen = [c for c in plan.components if c.name in names]
    reports = run_probes(chosen, NetTransport(), LabSecrets(ctx.root), timeout)
    return {r.component: r for r in reports}


def down(ctx: LabContext, progress: Progress, wipe: bool = False) -> int:
    """Stop every lab process (by pid, waiting for exit); with ``wipe``, delete the lab's data."""
    stopped = 0
    remaining = set(ctx.supervisor.names())
    for component in reversed([c.name for c in components()]):  # clients first, the DCS last
        names = [n for n in processes_of(ctx, component) if n in remaining]
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            stopped += sum(pool.map(ctx.supervisor.stop, names))
        remaining -= set(names)
        if names:
            progress(f"{component}: stopped")
    with ThreadPoolExecutor(max_workers=max(1, len(remaining))) as pool:  # anything unrecorded
        stopped += sum(pool.map(ctx.supervisor.stop, sorted(remaining)))
    if wipe and ctx.root.exists():
        shutil.rmtree(ctx.root)
        progress(f"wiped {ctx.root}")
    return stopped
