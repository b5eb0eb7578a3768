"""The lab's six Swarm nodes: one dockerd per network + UTS + mount namespace on the lab bridge.

Each node is named and addressed exactly as the model's node (``environments/prod.yaml``):
hostname, private address (with the private network's prefix, so app and DB subnets reach each
other over the bridge as they do over Hetzner's private network), Swarm role. Its dockerd has its
own data root, exec root, sockets, pid file, log and ``--cgroup-parent`` (see :mod:`.paths`).

The dockerd runs in a private mount namespace in which:

- ``/mnt/storagebox`` is the lab's shared StorageBox (:data:`paths.STORAGEBOX`), so the stacks'
  ``/mnt/storagebox/...`` bind mounts resolve as on a production node;
- ``/etc/systemd/system``, ``/usr/local/sbin`` and ``systemctl`` are the node's own (:mod:`.nodefs`);
- ``/run`` is a fresh tmpfs (with :data:`paths.RUN` bound back), so the node's own engine also
  listens on ``/var/run/docker.sock`` (the cert reloader's bind mount) without touching the host's
  ``/run``; the containers' overlay mounts stay out of the host's mount table and vanish with the
  namespace.

The host gets only the bridge (address in :data:`paths.LAB_NET`) and one veth per node; no address
of the production plan, no route, no iptables rule (each dockerd manages its own namespace's).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from iklim.model.schema import Environment
from iklim.swarmlab import nodefs, paths
from iklim.swarmlab.pidfiles import clear_stale_containerd

Progress = Callable[[str], None]

#: Swarm's own pool for the overlays it allocates (ingress): away from the stacks' 10.20.0.0/16
#: and from this machine's resolver (10.255.255.53).
DEFAULT_ADDR_POOL = "10.128.0.0/16"
_API_WAIT_S = 60.0


class LabError(RuntimeError):
    """A lab step failed; the message is one line naming the step and the cause."""


@dataclass(frozen=True)
class LabNode:
    """One lab node, from one model node.

    ``index``: 1-based position in the model's ``nodes`` list (names the namespace, veth and
    cgroup). ``address``: the private address with the private network's prefix length.
    """

    index: int
    hostname: str
    address: IPv4Interface
    manager: bool
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        """The node's private address, e.g. ``10.0.1.11`` (advertise, listen and data-path addr)."""
        return str(self.address.ip)

    @property
    def namespace(self) -> str:
        return paths.namespace(self.index)

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.namespace

    @property
    def socket(self) -> Path:
        return paths.node_socket(self.hostname)

    @property
    def docker_host(self) -> str:
        """``DOCKER_HOST`` for this node's engine, e.g. ``unix:///run/iklim-swarmlab/iklim-app-01.sock``."""
        return f"unix://{self.socket}"

    @property
    def lab_address(self) -> IPv4Interface:
        """The node's second address on the bridge, in :data:`paths.LAB_NET` (host <-> node only)."""
        net = IPv4Network(paths.LAB_NET)
        return IPv4Interface(f"{net.network_address + 10 + self.index}/{net.prefixlen}")


def lab_nodes(env: Environment) -> list[LabNode]:
    """The lab nodes of ``env``, in model order (managers are the model's ``swarm_role: manager``)."""
    prefix = env.network.ip_range.prefixlen
    return [
        LabNode(
            index=i,
            hostname=node.name,
            address=IPv4Interface(f"{node.private_ip}/{prefix}"),
            manager=node.swarm_role == "manager",
            labels=dict(node.labels),
        )
        for i, node in enumerate(env.nodes, start=1)
    ]


def run(argv: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return it; with ``check`` a failure raises :class:`LabError` (``what``: the step)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"{what}: {shlex.join(argv)} exited {proc.returncode}: {detail[-1] if detail else ''}")
    return proc


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], "ip link", check=False).returncode == 0


def ensure_bridge() -> None:
    """Create the lab bridge with its :data:`paths.LAB_NET` address (idempotent)."""
    if link_exists(paths.BRIDGE):
        return
    net = IPv4Network(paths.LAB_NET)
    run(["ip", "link", "add", paths.BRIDGE, "type", "bridge"], "bridge")
    run(["ip", "addr", "add", f"{net.network_address + 1}/{net.prefixlen}", "dev", paths.BRIDGE], "bridge")
    run(["ip", "link", "set", paths.BRIDGE, "up"], "bridge")


def ensure_namespace(node: LabNode) -> None:
    """Create ``node``'s network namespace and veth with its addresses (idempotent); no default route."""
    ns, host_end = node.namespace, paths.veth(node.index)
    if node.netns_path.exists() and link_exists(host_end):
        return
    if not node.netns_path.exists():
        run(["ip", "netns", "add", ns], f"{node.hostname}: netns")
    if not link_exists(host_end):
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", f"{host_end}n"], f"{node.hostname}: veth")
        run(["ip", "link", "set", f"{host_end}n", "netns", ns], f"{node.hostname}: veth")
        run(["ip", "-n", ns, "link", "set", f"{host_end}n", "name", "eth0"], f"{node.hostname}: veth")
        run(["ip", "link", "set", host_end, "master", paths.BRIDGE, "up"], f"{node.hostname}: veth")
    for addr in (node.address, node.lab_address):
        run(["ip", "-n", ns, "addr", "replace", str(addr), "dev", "eth0"], f"{node.hostname}: address")
    run(["ip", "-n", ns, "link", "set", "eth0", "up"], f"{node.hostname}: link")
    run(["ip", "-n", ns, "link", "set", "lo", "up"], f"{node.hostname}: link")


def dockerd_argv(node: LabNode, binds: list[tuple[str, str]] | None = None) -> list[str]:
    """The command that starts ``node``'s dockerd in its namespaces (see the module docstring).

    ``binds``: extra (source, target) bind mounts in the node's mount namespace (:mod:`.nodefs`).
    """
    run_dir, state = str(paths.RUN), str(paths.STATE)
    dockerd = [
        "dockerd",
        f"--config-file={paths.STATE / 'daemon.json'}",
        f"--data-root={paths.data_root(node.hostname)}",
        f"--exec-root={paths.exec_root(node.hostname)}",
        f"--pidfile={paths.pidfile(node.hostname)}",
        f"--host={node.docker_host}",
        "--host=unix:///var/run/docker.sock",
        f"--cgroup-parent={paths.cgroup_parent(node.index)}",
        "--log-opt=max-size=10m",
        # names Docker's embedded DNS does not know go to the node's NXDOMAIN resolver (resolver.py)
        f"--dns={node.lab_address.ip}",
    ]
    q = shlex.quote
    script = "; ".join(
        [
            "set -e",
            f"hostname {q(node.hostname)}",
            "mount -t tmpfs -o mode=755 iklim-swarmlab /mnt",
            "mkdir -p /mnt/storagebox /mnt/.lab-run",
            f"mount --bind {q(str(paths.STORAGEBOX))} /mnt/storagebox",
            f"mount --rbind {q(run_dir)} /mnt/.lab-run",
            "mount -t tmpfs -o mode=755 iklim-swarmlab /run",
            f"mkdir -p {q(run_dir)}",
            f"mount --move /mnt/.lab-run {q(run_dir)}",
            "rmdir /mnt/.lab-run",
            *(f"mount --bind {q(source)} {q(target)}" for source, target in binds or []),
            f"cd {q(state)}",
            "exec " + shlex.join(dockerd),
        ]
    )
    return [
        "nsenter",
        f"--net={node.netns_path}",
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
    ]


def dockerd_pid(node: LabNode) -> int | None:
    """The pid of ``node``'s dockerd when it is alive (from its pid file), else None."""
    try:
        pid = int(paths.pidfile(node.hostname).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if cmdline and cmdline[0].endswith(b"dockerd") else None


def api_ready(node: LabNode) -> bool:
    """True when ``node``'s engine answers ``/_ping`` on its socket."""
    import docker

    try:
        client = docker.DockerClient(base_url=node.docker_host, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def resolver_pid(node: LabNode) -> int | None:
    """The pid of ``node``'s NXDOMAIN resolver (:mod:`.resolver`) when it is alive, else None."""
    try:
        pid = int(paths.resolver_pidfile(node.hostname).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start_resolver(node: LabNode) -> None:
    """Start ``node``'s NXDOMAIN resolver in its namespace on its lab address, unless it runs."""
    if resolver_pid(node) is not None:
        return
    src = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    argv = ["ip", "netns", "exec", paths.namespace(node.index), sys.executable, "-m", "iklim.swarmlab.resolver"]
    log = open(paths.log_file(f"{node.hostname}-resolver"), "ab")  # noqa: SIM115 - handed to the child
    try:
        child = subprocess.Popen(
            [*argv, str(node.lab_address.ip)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()
    paths.resolver_pidfile(node.hostname).write_text(f"{child.pid}\n")


def start_node(node: LabNode) -> subprocess.Popen[bytes] | None:
    """Start ``node``'s dockerd unless it already runs (returns None then); does not wait.

    A containerd pid file the node's last dockerd left, naming a process that is not its
    containerd, is removed first (:mod:`.pidfiles`).
    """
    if dockerd_pid(node) is not None:
        return None
    ensure_namespace(node)
    for folder in (paths.data_root(node.hostname), paths.exec_root(node.hostname), paths.LOGS, paths.STORAGEBOX):
        folder.mkdir(parents=True, exist_ok=True)
    config = paths.STATE / "daemon.json"
    if not config.exists():
        config.write_text("{}\n")
    binds = nodefs.prepare(node.hostname)
    paths.pidfile(node.hostname).unlink(missing_ok=True)
    stale = clear_stale_containerd(paths.exec_root(node.hostname))
    log = open(paths.log_file(node.hostname), "ab")  # noqa: SIM115 - handed to the child
    if stale is not None:
        log.write(f"iklim: removed a stale containerd pid file (pid {stale} is not this node's containerd)\n".encode())
        log.flush()
    try:
        return subprocess.Popen(
            dockerd_argv(node, binds), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()


def wait_ready(node: LabNode, child: subprocess.Popen[bytes] | None, timeout: float = _API_WAIT_S) -> None:
    """Wait until ``node``'s API answers; raises :class:`LabError` with the log's last line if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api_ready(node):
            return
        if child is not None and child.poll() is not None:
            break
        time.sleep(0.1)
    tail = _last_line(paths.log_file(node.hostname))
    raise LabError(f"{node.hostname}: dockerd did not answer on {node.socket}: {tail}")


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def start_nodes(nodes: list[LabNode], progress: Progress) -> list[LabNode]:
    """Bridge, namespaces and every dockerd (started in parallel, reused when running); waits for each API.

    Returns the nodes whose dockerd this call started (the others were already running).
    """
    paths.RUN.mkdir(parents=True, exist_ok=True)
    paths.STATE.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.STATE, 0o700)
    ensure_bridge()
    children = {node.hostname: start_node(node) for node in nodes}
    for node in nodes:
        start_resolver(node)
    for node in nodes:
        wait_ready(node, children[node.hostname])
        state = "reused" if children[node.hostname] is None else "started"
        progress(f"node {node.hostname} {node.ip} ({'manager' if node.manager else 'worker'}): dockerd {state}")
    return [node for node in nodes if children[node.hostname] is not None]


def node_by_name(nodes: list[LabNode], name: str) -> LabNode:
    """The node called ``name`` (hostname, or its private address); raises :class:`LabError` naming the choices."""
    for node in nodes:
        if name in (node.hostname, node.ip):
            return node
    raise LabError(f"no lab node {name!r}: one of {', '.join(n.hostname for n in nodes)}")


def all_addresses(nodes: list[LabNode]) -> set[IPv4Address]:
    """The private addresses of ``nodes``."""
    return {node.address.ip for node in nodes}
