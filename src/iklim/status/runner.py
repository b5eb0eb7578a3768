"""Run every probe at once, each in its own thread with its own deadline, then evaluate in order.

A probe that has not finished observing by its deadline (plus a small grace for the thread to
notice) is reported ``down`` with "no answer within N s"; its thread is a daemon, so it never
holds the process open.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iklim.status.plan import ComponentPlan, Plan
from iklim.status.probes import PROBES, Probe, ProbeContext
from iklim.status.report import Report, Skipped
from iklim.status.secrets import Secrets
from iklim.status.transport import ProbeError, Transport

GRACE = 0.05


def lab_selection(plan: Plan) -> tuple[list[ComponentPlan], list[Skipped]]:
    """The components the lab attempted (its ``components.json`` and ``failed.json``); the others
    are skipped, with why. A component ``lab up`` tried and failed is probed, never skipped."""
    import json

    recorded = Path(plan.root) / "components.json"
    try:
        running = set(json.loads(recorded.read_text()))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"no lab state at {plan.root} (run `iklim lab up`)") from exc
    running |= set(lab_failures(plan))
    chosen, skipped = [], []
    for comp in plan.components:
        if comp.name in running:
            chosen.append(comp)
        elif comp.lab_binary and shutil.which(comp.lab_binary):
            why = f"not started by this lab ({comp.lab_binary} is installed: `iklim lab up`)"
            skipped.append(Skipped(comp.name, why))
        elif comp.lab_binary:
            skipped.append(Skipped(comp.name, f"not run in the lab ({comp.lab_binary} not installed)"))
        else:
            skipped.append(Skipped(comp.name, "not started by the lab (not available on this host)"))
    return chosen, skipped


def lab_failures(plan: Plan) -> dict[str, str]:
    """Component -> why the last ``lab up`` failed it (``failed.json``; empty when none or absent)."""
    import json

    try:
        recorded = json.loads((Path(plan.root) / "failed.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def mark_lab_failures(reports: Sequence[Report], failures: dict[str, str]) -> list[Report]:
    """A component the lab tried and failed to start is ``down`` unless it is healthy now."""
    marked = []
    for report in reports:
        why = failures.get(report.component)
        if why is not None and report.status != "healthy":
            report = Report(
                report.component,
                "down",
                f"lab up failed to start it ({why}); {report.reason}",
                report.leader,
                report.tolerates,
                report.members,
                report.seconds,
            )
        marked.append(report)
    return marked


def run_probes(
    components: Sequence[ComponentPlan],
    transport: Transport,
    secrets: Secrets,
    timeout: float,
    probes: Sequence[Probe[Any]] = PROBES,
) -> list[Report]:
    """Observe every planned component in parallel, then evaluate each in ``probes`` order."""
    wanted = {c.name: c for c in components}
    chosen = [p for p in probes if p.name in wanted]
    snapshots: dict[str, Any] = {}
    failures: dict[str, str] = {}
    took: dict[str, float] = {}
    start = time.monotonic()

    def observe(probe: Probe[Any]) -> None:
        begin = time.monotonic()
        ctx = ProbeContext(transport, wanted[probe.name], secrets, begin + timeout)
        try:
            snapshots[probe.name] = probe.observe(ctx)
        except ProbeError as exc:
            failures[probe.name] = str(exc)
        except Exception as exc:  # a bug in one probe must not hide the others  # noqa: BLE001
            failures[probe.name] = f"probe failed: {type(exc).__name__}: {exc}"
        took[probe.name] = time.monotonic() - begin

    threads = {p.name: threading.Thread(target=observe, args=(p,), daemon=True, name=p.name) for p in chosen}
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(max(0.0, start + timeout + GRACE - time.monotonic()))
    reports: list[Report] = []
    peers: dict[str, Report] = {}
    for probe in chosen:
        name = probe.name
        if name in snapshots:
            report = probe.evaluate(snapshots[name], wanted[name], peers)
        else:
            why = failures.get(name, f"no answer within {timeout:g} s")
            report = Report(name, "down", why)
        report = report.with_seconds(took.get(name, timeout))
        peers[name] = report
        reports.append(report)
    return reports
