"""``swarm-lab status``: the nodes, the services and the images of the running lab, as data.

Nodes as the Swarm lists them (hostname, role, address, labels, state, manager status), each
node's dockerd/containerd memory and its cgroup's memory; services from :mod:`.services`; images:
every reference the stacks name, beside what the lab really runs under it
(``images.real_versions``), or the reason it is not available here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker

from iklim.swarmlab import paths
from iklim.swarmlab.nodes import LabNode, api_ready, dockerd_pid
from iklim.swarmlab.services import service_states
from iklim.swarmlab.standins import UNAVAILABLE
from iklim.swarmlab.swarm import engine, first_manager

RealVersions = Callable[[Path], Mapping[str, str]]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def daemon_memory_mib(node: LabNode) -> float:
    """RSS of ``node``'s dockerd plus its containerd (its direct child), MiB; 0 when not running."""
    pid = dockerd_pid(node)
    if pid is None:
        return 0.0
    total = _rss_kib(pid)
    for child in _children(pid):
        comm = Path(f"/proc/{child}/comm").read_text().strip() if Path(f"/proc/{child}/comm").exists() else ""
        if comm == "containerd":
            total += _rss_kib(child)
    return round(total / 1024, 1)


def cgroup_memory_mib(node: LabNode) -> float:
    """Memory of ``node``'s containers (its ``--cgroup-parent``), MiB, as ``docker stats`` counts it:
    usage minus inactive page cache; cgroup v1 or v2; 0 when absent."""
    name = paths.cgroup_parent(node.index).lstrip("/")
    for folder, usage_file, inactive_key in (
        (Path("/sys/fs/cgroup/memory") / name, "memory.usage_in_bytes", "total_inactive_file"),
        (Path("/sys/fs/cgroup") / name, "memory.current", "inactive_file"),
    ):
        try:
            usage = int((folder / usage_file).read_text())
            stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            continue
        return round((usage - int(stat.get(inactive_key, 0))) / 2**20, 1)
    return 0.0


def node_rows(nodes: list[LabNode]) -> list[dict[str, Any]]:
    """One row per model node: what the Swarm says about it, or ``state: down`` when its engine is not up."""
    listed: dict[str, dict[str, Any]] = {}
    manager = first_manager(nodes)
    if api_ready(manager):
        with engine(manager, timeout=10) as client:
            for n in client.nodes.list():
                listed[n.attrs["Description"]["Hostname"]] = n.attrs
    rows = []
    for node in nodes:
        attrs = listed.get(node.hostname)
        row: dict[str, Any] = {
            "hostname": node.hostname,
            "role": "manager" if node.manager else "worker",
            "address": node.ip,
            "labels": {},
            "state": "down" if not api_ready(node) else "not in swarm",
            "leader": False,
            "daemon_mib": daemon_memory_mib(node),
            "containers_mib": cgroup_memory_mib(node),
        }
        if attrs is not None:
            row.update(
                role=attrs["Spec"].get("Role", row["role"]),
                address=attrs["Status"].get("Addr", node.ip),
                labels=dict(attrs["Spec"].get("Labels") or {}),
                state=f"{attrs['Status']['State']}/{attrs['Spec'].get('Availability', '?')}",
                leader=bool(attrs.get("ManagerStatus", {}).get("Leader", False)),
            )
        rows.append(row)
    return rows


def service_rows(nodes: list[LabNode]) -> list[dict[str, Any]]:
    """One row per Swarm service (empty when the manager is down)."""
    manager = first_manager(nodes)
    if not api_ready(manager):
        return []
    with engine(manager, timeout=30) as client:
        states = service_states(client)
    return [
        {
            "service": s.name,
            "image": s.image,
            "running": s.running,
            "desired": s.desired,
            "healthy": s.ok,
            "nodes": list(s.nodes),
            "error": s.error,
            "note": UNAVAILABLE.get(s.image, ""),
        }
        for s in states
    ]


def image_rows(nodes: list[LabNode], refs: list[str], real_versions: RealVersions) -> list[dict[str, str]]:
    """Each stack image reference beside the real contents of its stand-in (merged over the nodes' engines)."""
    real: dict[str, str] = {}
    for node in nodes:
        if api_ready(node):
            try:
                real.update(real_versions(node.socket))
            except (docker.errors.DockerException, OSError):
                continue
    rows = []
    for ref in refs:
        if ref in UNAVAILABLE:
            rows.append({"image": ref, "real": UNAVAILABLE[ref]})
        else:
            rows.append({"image": ref, "real": real.get(ref, "not loaded on any node")})
    return rows


def render_text(report: Mapping[str, Any]) -> str:
    """The human form of :func:`report`-shaped data (``nodes``, ``services``, ``images``)."""
    out = ["NODES"]
    for r in report["nodes"]:
        labels = ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())) or "-"
        role = r["role"] + (" (leader)" if r["leader"] else "")
        out.append(
            f"  {r['hostname']:<13} {role:<17} {r['address']:<10} {labels:<13} {r['state']:<13}"
            f" dockerd+containerd {r['daemon_mib']} MiB, containers {r['containers_mib']} MiB"
        )
    out.append("SERVICES")
    for s in report["services"]:
        mark = "ok" if s["healthy"] else "NOT HEALTHY"
        extra = s["note"] or ("" if s["healthy"] else s["error"])
        out.append(f"  {s['service']:<28} {s['running']}/{s['desired']:<3} {mark:<11} {extra}")
    out.append("IMAGES")
    for i in report["images"]:
        out.append(f"  {i['image']:<45} {i['real']}")
    return "\n".join(out)
