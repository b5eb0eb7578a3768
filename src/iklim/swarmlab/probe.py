"""``swarm-lab probe-network``: TCP connects from every source to every target, beside the model's
expectation (:mod:`.netmatrix`).

Steps: the public side and the rendered Hetzner firewall (:mod:`.public`, idempotent; a mutated
``firewall.tf`` may be given instead), a FAKE sshd on every node, two probe containers on one
service node (one on the model's overlay, one on a throw-away attachable overlay
:data:`OTHER_OVERLAY`), then one :mod:`.probe_agent` per source, all in parallel, each in its
source's network namespace. Everything the probe starts is removed before it returns.

A cell is (source, target, port); sources never probe the node they sit on (traffic to one's own
address never crosses a network). :class:`Cell` keeps the observed state and the expectation.

A cell whose first attempt found it closed (or not the HTTP status the model says) where the model
says open is probed once more, after the whole pass, and keeps the second state (the first is kept
as ``first_state``), as a port scanner retransmits an unanswered probe (nmap's ``--max-retries``):
a burst of connections from every source at once can overflow a listener's accept queue (Patroni's
REST API listens with Python's default backlog of 5), and the SYN then dropped is retransmitted by
TCP only after the one-second initial RTO (RFC 6298), past the per-connection timeout. A
firewall's drop drops the second attempt too; a port found open where the model says closed is a
difference at once (never probed again).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from iklim.model.schema import Environment
from iklim.swarmlab import netmatrix, public
from iklim.swarmlab.netmatrix import Port, Source, Target
from iklim.swarmlab.nodes import LabError, LabNode, Progress, dockerd_pid

AGENT = Path(__file__).with_name("probe_agent.py")
OTHER_OVERLAY = "iklim-probe-other"
PROBE_LABEL = "org.iklim.swarmlab.probe"
PROBE_IMAGE = "iklim-lab-probe/sleep:1"
DEFAULT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Cell:
    """One probe: ``source`` name, ``target`` label, ``port``; ``state`` as the agent saw it
    (``open``, ``refused``, ``timeout``, ``unreachable``, ``unresolved``), ``ms`` its duration,
    ``expected`` the model's answer (True: the connection should succeed)."""

    source: str
    target: str
    port: Port
    state: str
    ms: float
    expected: bool
    kind: str = "tcp"  # "https": ``expected`` True means 200, False 403
    first_state: str = ""  # when the first attempt differed from the model: its state

    @property
    def reachable(self) -> bool:
        return self.state in ("open", "http:200")

    @property
    def ok(self) -> bool:
        if self.kind == "https" and self.state not in ("http:200", "http:403"):
            return False
        return self.reachable == self.expected

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.source, self.target, self.port.number)


@dataclass(frozen=True)
class ProbeSite:
    """Where one source's agent runs: its :class:`Source`, a network namespace path, the DNS."""

    source: Source
    netns: str
    dns: str | None = None


def node_sources(env: Environment, nodes: list[LabNode]) -> list[ProbeSite]:
    """The outside namespaces and the nodes as sources."""
    sites = []
    for out in public.outside(env):
        on_public = out.bridge == public.PUBLIC_BRIDGE
        src = Source(out.name, out.ip if on_public else None, None if on_public else out.ip)
        sites.append(ProbeSite(src, f"/run/netns/{out.namespace}"))
    for node in nodes:
        src = Source(node.hostname, str(public.public_address(node)), node.ip, node.hostname)
        sites.append(ProbeSite(src, str(node.netns_path)))
    return sites


def _sleep_image_tar() -> bytes:
    """A two-file image: ``/usr/bin/sleep`` and its C library (holds a network namespace open)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("/usr/bin/sleep", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
            tar.add(os.path.realpath(name), arcname=name.lstrip("/"))
    return buffer.getvalue()


@contextlib.contextmanager
def containers(env: Environment, host: LabNode) -> Iterator[list[ProbeSite]]:
    """Two containers on ``host`` (a manager): on the model's overlay and on :data:`OTHER_OVERLAY`;
    removed (with the extra overlay) on exit."""
    import docker

    client = docker.DockerClient(base_url=host.docker_host, timeout=60)
    made: list[object] = []
    try:
        cleanup(client)
        repo, tag = PROBE_IMAGE.split(":")
        client.api.import_image_from_data(_sleep_image_tar(), repository=repo, tag=tag)
        other = client.networks.create(OTHER_OVERLAY, driver="overlay", attachable=True, labels={PROBE_LABEL: "1"})
        sites = []
        for name, network in (("overlay", env.overlay.name), ("other-overlay", OTHER_OVERLAY)):
            box = client.containers.run(PROBE_IMAGE, ["/usr/bin/sleep", "300"], detach=True, network=network,
                                        name=f"iklim-probe-{name}", labels={PROBE_LABEL: "1"})  # fmt: skip
            made.append(box)
            box.reload()
            pid = int(box.attrs["State"]["Pid"])
            src = Source(name, str(public.public_address(host)), host.ip, host.hostname, name == "overlay")
            sites.append(ProbeSite(src, f"/proc/{pid}/ns/net", "127.0.0.11"))
        del other
        yield sites
    finally:
        cleanup(client)
        client.close()


def cleanup(client: object) -> None:
    """Remove the probe's containers and extra overlay from ``client``'s engine (idempotent)."""
    import docker

    assert isinstance(client, docker.DockerClient)
    for box in client.containers.list(all=True, filters={"label": PROBE_LABEL}):
        box.remove(force=True)
    for net in client.networks.list(names=[OTHER_OVERLAY]):
        with contextlib.suppress(docker.errors.APIError):
            net.remove()


@contextlib.contextmanager
def fake_sshd(nodes: list[LabNode]) -> Iterator[None]:
    """A FAKE sshd (accept and close) on port 22 in every node's namespace, for the probe only."""
    children = []
    try:
        for node in nodes:
            argv = ["nsenter", f"--net={node.netns_path}", sys.executable, str(AGENT), "listen",
                    str(netmatrix.SSH_PORT)]  # fmt: skip
            child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            children.append(child)
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "listening":
                raise LabError("the fake sshd did not start: is port 22 taken in a node's namespace?")
        yield
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
            child.wait(timeout=5)


def run_agent(site: ProbeSite, items: list[list[object]], timeout: float) -> list[tuple[str, float]]:
    """Run the agent in ``site``'s namespace on ``items`` ([host, port] or [host, port, "https",
    name]); returns (state, ms) per item, in order."""
    request = json.dumps({"timeout": timeout, "dns": site.dns, "targets": items})
    argv = ["nsenter", f"--net={site.netns}", sys.executable, str(AGENT)]
    proc = subprocess.run(argv, input=request, capture_output=True, text=True, timeout=60 + timeout * len(items))
    if proc.returncode != 0:
        raise LabError(f"probe agent in {site.source.name}: {proc.stderr.strip().splitlines()[-1:]}")
    return [(str(state), float(ms)) for _, _, state, ms in json.loads(proc.stdout)["results"]]


def plan(env: Environment, sites: list[ProbeSite], tgts: list[Target]) -> dict[str, list[tuple[Target, Port]]]:
    """Source name -> the (target, port) pairs it probes (never the node it sits on)."""
    return {
        site.source.name: [(t, p) for t in tgts if netmatrix.probed(env, site.source, t) for p in t.ports]
        for site in sites
    }


def _item(target: Target, port: Port) -> list[object]:
    if target.server_name:
        return [target.host, port.number, "https", target.server_name]
    return [target.host, port.number]


def probe(env: Environment, nodes: list[LabNode], firewall_tf: Path, timeout: float,
          progress: Progress) -> tuple[list[Cell], dict[str, float]]:  # fmt: skip
    """The whole probe (see the module docstring); returns the cells and timings in seconds
    (``setup``, ``probe``, ``total``). Raises :class:`LabError` when the lab is not up."""
    began = time.monotonic()
    down = [n.hostname for n in nodes if dockerd_pid(n) is None]
    if down:
        raise LabError(f"the Swarm lab is not up ({', '.join(down)} not running): iklim swarm-lab up")
    public.ensure(nodes, env)
    counts = public.apply_firewall(nodes, firewall_tf)
    progress(f"Hetzner firewall from {firewall_tf}: " + ", ".join(f"{h} {c} rules" for h, c in counts.items()))
    tgts = netmatrix.targets(env, {n.hostname: str(public.public_address(n)) for n in nodes})
    host = [n for n in nodes if n.manager][-1]
    with fake_sshd(nodes), containers(env, host) as boxes:
        sites = node_sources(env, nodes) + boxes
        work = plan(env, sites, tgts)
        setup = time.monotonic() - began
        step = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(sites)) as pool:
            cells = _cells(env, sites, work, _pass(pool, sites, work, timeout))
            differing = to_probe_again(cells)
            redo = {n: [(t, p) for t, p in pairs if (n, t.label, p.number) in differing] for n, pairs in work.items()}
            redo = {name: pairs for name, pairs in redo.items() if pairs}
            again = [s for s in sites if s.source.name in redo]
            second = {c.key: c for c in _cells(env, again, redo, _pass(pool, again, redo, timeout))}
        probed = time.monotonic() - step
    cells = [replace(second[c.key], first_state=c.state) if c.key in second else c for c in cells]
    times = {"setup": round(setup, 2), "probe": round(probed, 2), "total": round(time.monotonic() - began, 2)}
    return cells, times


def to_probe_again(cells: list[Cell]) -> set[tuple[str, str, int]]:
    """The keys of the cells to probe a second time: found closed (or with another HTTP status)
    where the model says open. A port found open where the model says closed is a difference
    at once: an open port is proof, and a second attempt must not hide it."""
    return {c.key for c in cells if not c.ok and not c.reachable}


def _pass(
    pool: ThreadPoolExecutor, sites: list[ProbeSite], work: dict[str, list[tuple[Target, Port]]], timeout: float
) -> dict[str, list[tuple[str, float]]]:
    """One agent per site, all at once: source name -> (state, ms) per (target, port) in ``work``."""
    jobs = {
        s.source.name: pool.submit(run_agent, s, [_item(t, p) for t, p in work[s.source.name]], timeout) for s in sites
    }
    return {name: job.result() for name, job in jobs.items()}


def _cells(
    env: Environment, sites: list[ProbeSite], work: dict[str, list[tuple[Target, Port]]],
    seen: dict[str, list[tuple[str, float]]],
) -> list[Cell]:  # fmt: skip
    """The cells of one pass: each site's (target, port) beside the state its agent saw."""
    cells = []
    for site in sites:
        for (target, port), (state, ms) in zip(work[site.source.name], seen[site.source.name], strict=True):
            want = netmatrix.expected(env, site.source, target, port)
            kind = "https" if target.server_name else "tcp"
            cells.append(Cell(site.source.name, target.label, port, state, ms, want, kind))
    return cells
