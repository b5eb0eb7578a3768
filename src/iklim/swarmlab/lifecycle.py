"""``swarm-lab up`` step by step: install check, images, nodes + Swarm, image copies, runbook, health.

Each step reports through ``progress`` with its duration; :class:`UpTimes` keeps the numbers for
the report and the benchmark.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from iklim.model.schema import Environment
from iklim.swarmlab import images, override, public, shims, standins
from iklim.swarmlab.hcloud_fw import FirewallError
from iklim.swarmlab.nodes import LabError, LabNode, Progress
from iklim.swarmlab.placement import images_per_node
from iklim.swarmlab.runbook import run_runbook
from iklim.swarmlab.services import ServiceState, wait_healthy
from iklim.swarmlab.swarm import first_manager, nodes_up

#: What ``up`` needs on this machine (installed by ``scripts/install-swarm-lab.sh``).
REQUIRED_TOOLS = ("dockerd", "containerd", "docker", "ip", "nsenter", "unshare", "iptables", "bash", "openssl")


@dataclass
class UpTimes:
    """Seconds per step of ``up`` (``steps``: name -> seconds, in order)."""

    steps: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, began: float) -> float:
        self.steps[name] = round(time.monotonic() - began, 1)
        return self.steps[name]


def install_check() -> None:
    """Raise :class:`LabError` unless we are root and every tool of :data:`REQUIRED_TOOLS` is on PATH."""
    if os.geteuid() != 0:
        raise LabError("the Swarm lab creates namespaces and engines: run it as root")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing {', '.join(missing)}: run scripts/install-swarm-lab.sh")


def copy_images(
    nodes: list[LabNode], repo: Path, progress: Progress, tool_ref: str | None = None
) -> dict[str, list[str]]:
    """Load into each node the images its services' constraints allow there (in parallel), and the
    tool image (``tool_ref``, ``iklim status --on-overlay``'s job) into the service nodes, where
    that job is placed (``node.labels.type == service``); returns the plan."""
    plan = images_per_node(override.stack_documents(repo), nodes)
    if tool_ref:
        for node in nodes:
            if node.labels.get("type") == "service":
                plan[node.hostname] = sorted({*plan[node.hostname], tool_ref})
    by_host = {node.hostname: node for node in nodes}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        jobs = [pool.submit(images.load_into, by_host[host].socket, refs, progress) for host, refs in plan.items()]
        for job in jobs:
            job.result()
    return plan


def _images_step(name: str, step: Callable[[], object]) -> None:
    """Run an image step; any failure (build, builder engine, copy, a broken engine stream) becomes
    one :class:`LabError` line."""
    try:
        step()
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - every cause is reported, in one line
        detail = str(exc).strip().splitlines()
        raise LabError(f"{name}: {type(exc).__name__}: {detail[-1] if detail else ''}") from exc


def up(
    nodes: list[LabNode],
    repo: Path,
    progress: Progress,
    timeout: float,
    runbook: bool = True,
    tool_ref: str | None = None,
    env: Environment | None = None,
) -> list[ServiceState]:
    """The whole ``up``; returns the services not healthy after ``timeout`` seconds (empty = success).

    ``tool_ref``: the model's ``tooling.image``, built from ``images/iklim`` and copied to the
    service nodes so ``iklim status --target prod --on-overlay`` runs in the lab as in production.

    ``env``: the model; when given, each node also gets its public address and the rendered
    Hetzner firewall on it, and the outside namespaces are made (:mod:`.public`).

    With ``runbook=False`` it stops after the nodes and the image copies (the tests' fixture).
    Raises :class:`LabError` for a failed step.
    """
    times = UpTimes()
    began = time.monotonic()
    install_check()
    step = time.monotonic()
    extra = [standins.tool_image(tool_ref)] if tool_ref else []
    _images_step("images", lambda: images.ensure_images(progress, extra))
    progress(f"images ready in {times.timed('images', step)} s")
    step = time.monotonic()
    nodes_up(nodes, progress)
    progress(f"{len(nodes)} nodes up and in the Swarm in {times.timed('nodes', step)} s")
    if env is not None:
        public.ensure(nodes, env)
        try:
            counts = public.apply_firewall(nodes, repo / public.FIREWALL_TF)
        except FirewallError as exc:
            raise LabError(f"Hetzner firewall: {exc}") from exc
        progress(f"public addresses and the Hetzner firewall: {sum(counts.values())} rules on {len(counts)} nodes")
    override.write_overrides(repo)
    shims.write_shims(nodes)
    step = time.monotonic()
    _images_step("image copies", lambda: copy_images(nodes, repo, progress, tool_ref))
    progress(f"images copied to the nodes in {times.timed('copy', step)} s")
    if not runbook:
        return []
    step = time.monotonic()
    run_runbook(first_manager(nodes), repo, progress)
    progress(f"runbook done in {times.timed('runbook', step)} s")
    step = time.monotonic()
    bad = wait_healthy(nodes, timeout, progress)
    times.timed("healthy", step)
    progress(f"up: {times.timed('total', began)} s in all ({', '.join(f'{k} {v} s' for k, v in times.steps.items())})")
    return bad
