"""A private one-node Docker Swarm for tests that must not share the Swarm lab's engines.

One dockerd (and the containerd it starts) in its own network namespace ``iklovl`` and UTS
namespace, with its socket, exec root and pid file under ``RUN`` (``/run/iklim-ovl``), its data
root under ``STATE`` (``/var/lib/iklim-ovl``), ``--cgroup-parent /iklim-ovl`` and its own empty
daemon config. The namespace has a loopback and a veth pair (both ends inside) with ``ADDRESS`` (10.98.0.1/24)
for ``swarm init --advertise-addr``; no route leaves it, so nothing reaches the host's networks,
and the host's iptables are never touched (the daemon's rules live in the namespace).

:func:`up` starts it (after removing any remains of an earlier run) and returns a client;
:func:`down` removes everything: containers, dockerd, containerd, mounts, namespace, cgroups and
state directories. :func:`leftovers` lists what remains (empty after ``down``).

Run by hand: ``python3 tests/swarmlab/private_swarm.py up|down|leftovers``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

NAMESPACE = "iklovl"
HOSTNAME = "iklovl-1"
DUMMY = "ovl0"
PEER = "ovl1"
ADDRESS = "10.98.0.1"
RUN = Path("/run/iklim-ovl")
STATE = Path("/var/lib/iklim-ovl")
SOCKET = RUN / "docker.sock"
PIDFILE = RUN / "dockerd.pid"
CGROUP = "iklim-ovl"
CGROUP_ROOT = Path("/sys/fs/cgroup")
BASE_URL = f"unix://{SOCKET}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _pids_under(folder: Path) -> list[int]:
    """Processes whose command line names ``folder`` (this engine's containerd and shims)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            out.append(int(proc.name))
    return out


def _mounts() -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith((str(RUN), str(STATE))) or point == f"/run/netns/{NAMESPACE}":
            found.append(point)
    return found


def _cgroups() -> list[Path]:
    return [p for p in CGROUP_ROOT.glob(f"*/{CGROUP}") if p.is_dir()]


def leftovers() -> list[str]:
    """Everything of the private Swarm still on this machine (empty when it is fully down)."""
    left = [f"process {p}" for p in ([_pid()] if _pid() else []) + _pids_under(RUN)]
    if NAMESPACE in _ip("netns", "list").stdout.split():
        left.append(f"namespace {NAMESPACE}")
    left += [f"mount {m}" for m in _mounts()]
    left += [f"cgroup {c}" for c in _cgroups()]
    left += [f"directory {d}" for d in (RUN, STATE) if d.exists()]
    return left


def _wait_gone(pids: list[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()]
        if not alive:
            return
        time.sleep(0.1)


def _remove_cgroup(path: Path) -> None:
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


def down() -> list[str]:
    """Stop and remove the private Swarm; return :func:`leftovers` (empty on success)."""
    if SOCKET.exists():
        with contextlib.suppress(Exception):
            client = docker.DockerClient(base_url=BASE_URL, timeout=20)
            for service in client.services.list():  # else Swarm restarts the containers removed below
                service.remove()
            with ThreadPoolExecutor(8) as pool:  # one by one takes seconds each on a loaded machine
                list(pool.map(lambda c: c.remove(force=True), client.containers.list(all=True)))
    pid = _pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        _wait_gone([pid], 30)
    rest = _pids_under(RUN)
    for other in rest:  # containerd and shims that outlived their dockerd
        with contextlib.suppress(OSError):
            os.kill(other, signal.SIGKILL)
    _wait_gone(rest, 10)
    for point in sorted(_mounts(), key=len, reverse=True):
        if point != f"/run/netns/{NAMESPACE}":
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    _ip("netns", "del", NAMESPACE, check=False)
    for cgroup in _cgroups():
        _remove_cgroup(cgroup)
    for folder in (RUN, STATE):
        if folder.exists() and not _mounts():
            shutil.rmtree(folder, ignore_errors=True)  # the data root: seconds for the image layers
    return leftovers()


def up(labels: dict[str, str] | None = None) -> docker.DockerClient:
    """Start the private one-node Swarm (a manager labelled ``labels``); return its client."""
    down()
    _ip("netns", "add", NAMESPACE)
    _ip("-n", NAMESPACE, "link", "set", "lo", "up")
    # This kernel has no dummy driver: a veth pair with both ends inside the namespace.
    _ip("-n", NAMESPACE, "link", "add", DUMMY, "type", "veth", "peer", "name", PEER)
    _ip("-n", NAMESPACE, "addr", "add", f"{ADDRESS}/24", "dev", DUMMY)
    _ip("-n", NAMESPACE, "link", "set", PEER, "up")
    _ip("-n", NAMESPACE, "link", "set", DUMMY, "up")
    for folder in (RUN / "exec", STATE / "data"):
        folder.mkdir(parents=True, exist_ok=True)
    config = RUN / "daemon.json"
    config.write_text("{}\n")
    log = open(STATE / "dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    daemon = (
        f"hostname {HOSTNAME}; exec dockerd --config-file {config} --data-root {STATE / 'data'} "
        f"--exec-root {RUN / 'exec'} --pidfile {PIDFILE} -H {BASE_URL} --cgroup-parent /{CGROUP} "
        "--log-opt max-size=10m"
    )
    subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{NAMESPACE}", "unshare", "--uts", "--", "sh", "-c", daemon],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            client = docker.DockerClient(base_url=BASE_URL, timeout=60)
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"private dockerd did not answer on {SOCKET}; see {STATE / 'dockerd.log'}") from None
            time.sleep(0.2)
    client.swarm.init(
        advertise_addr=ADDRESS,
        listen_addr=f"{ADDRESS}:2377",
        data_path_addr=ADDRESS,
        default_addr_pool=["10.128.0.0/16"],
    )
    node = client.nodes.list()[0]
    spec = dict(node.attrs["Spec"])
    spec["Labels"] = dict(labels or {})
    node.update(spec)
    return client


def enter(*command: str) -> list[str]:
    """``command`` as run inside the private Swarm's network namespace, with DOCKER_HOST set."""
    return ["nsenter", f"--net=/run/netns/{NAMESPACE}", "env", f"DOCKER_HOST={BASE_URL}", *command]


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "up":
        up({"type": "service"})
        print(f"up: DOCKER_HOST={BASE_URL}")
    elif action == "down":
        remaining = down()
        print("down" if not remaining else "left: " + ", ".join(remaining))
        sys.exit(1 if remaining else 0)
    elif action == "leftovers":
        print("\n".join(leftovers()) or "nothing")
    else:
        sys.exit("usage: private_swarm.py up|down|leftovers")
