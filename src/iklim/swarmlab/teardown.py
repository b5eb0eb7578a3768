"""``swarm-lab down``: remove everything the lab made on this machine, and find what is left.

Order per node (in parallel): ``rm -f`` every container through the node's API (the shims would
otherwise re-parent to PID 1 and keep the namespace alive), stop dockerd by its pid (TERM, then
KILL), kill by pid any process still inside the node's network namespace, delete the namespace
(its veth goes with it) and the node's run files. Then the public side (:mod:`.public`: the
outside namespaces and the public bridge; the Hetzner firewall rules lived in the node namespaces),
the bridge, the empty cgroups named
``paths.CGROUP_PREFIX*``, and with ``wipe`` the state (never the image cache).

:func:`leftovers` lists what remains, for ``down``'s final check and the tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

from iklim.swarmlab import paths, public
from iklim.swarmlab.nodes import LabError, LabNode, Progress, dockerd_pid, link_exists, run

CGROUP_ROOT = Path("/sys/fs/cgroup")
_STOP_WAIT_S = 30.0


def _remove_containers(node: LabNode) -> int:
    if not node.socket.exists():
        return 0
    try:
        client = docker.DockerClient(base_url=node.docker_host, timeout=30)
    except docker.errors.DockerException:
        return 0
    removed = 0
    try:
        for container in client.containers.list(all=True):
            try:
                container.remove(force=True)
                removed += 1
            except docker.errors.APIError:
                pass
    except (docker.errors.DockerException, OSError):
        pass
    finally:
        client.close()
    return removed


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def namespace_pids(node: LabNode) -> list[int]:
    """Pids of processes whose network namespace is ``node``'s (the lab's own processes only)."""
    try:
        target = os.stat(node.netns_path).st_ino
    except OSError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino == target:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def stop_node(node: LabNode) -> str:
    """Stop and remove one node (see the module docstring); returns a one-line summary."""
    removed = _remove_containers(node)
    pid = dockerd_pid(node)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, _STOP_WAIT_S):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
    stray = namespace_pids(node)
    for other in stray:
        with contextlib.suppress(ProcessLookupError):
            os.kill(other, signal.SIGKILL)
    for other in stray:
        _wait_gone(other, 5.0)
    if node.netns_path.exists():
        run(["ip", "netns", "del", node.namespace], f"{node.hostname}: netns")
    if link_exists(paths.veth(node.index)):  # normally gone with the namespace (its peer was inside)
        run(["ip", "link", "del", paths.veth(node.index)], f"{node.hostname}: veth", check=False)
    shutil.rmtree(paths.exec_root(node.hostname), ignore_errors=True)
    for path in (node.socket, paths.pidfile(node.hostname), paths.resolver_pidfile(node.hostname)):
        path.unlink(missing_ok=True)
    return f"node {node.hostname}: {removed} containers removed, dockerd {'stopped' if pid else 'not running'}"


def lab_cgroups() -> list[Path]:
    """Every cgroup directory named ``paths.CGROUP_PREFIX*`` (any depth below a controller root), deepest first."""
    found: list[Path] = []
    if not CGROUP_ROOT.is_dir():
        return found
    for controller in CGROUP_ROOT.iterdir():
        for top in controller.glob(f"{paths.CGROUP_PREFIX}*") if controller.is_dir() else []:
            found.extend(p for p in top.rglob("*") if p.is_dir())
            found.append(top)
    if any(CGROUP_ROOT.glob(f"{paths.CGROUP_PREFIX}*")):  # cgroup v2 unified
        found.extend(CGROUP_ROOT.glob(f"{paths.CGROUP_PREFIX}*"))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def remove_cgroups() -> None:
    """rmdir the lab's (now empty) cgroups, deepest first; raises :class:`LabError` if one stays busy."""
    busy = []
    for group in lab_cgroups():
        try:
            group.rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            busy.append(f"{group}: {exc.strerror}")
    if busy:
        raise LabError(f"cgroups still in use: {busy[0]}")


def _builder_entry(text: str) -> bool:
    from iklim.swarmlab.builder import BUILDER_DATA, BUILDER_EXEC

    return str(BUILDER_DATA) in text or str(BUILDER_EXEC) in text or str(paths.BUILDER_SOCKET) in text


def lab_mounts() -> list[str]:
    """Host mount-table entries under the lab's paths or namespaces (``/proc/mounts`` mount points)."""
    roots = (f"{paths.STATE}/", f"{paths.RUN}/", f"/run/netns/{paths.NAMESPACE_PREFIX}")
    points = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1]
        if point.startswith(roots):
            points.append(point)
    return points


def lab_processes() -> list[str]:
    """``pid cmdline`` of every process whose command line names a lab path (dockerd, containerd, shims,
    the builder engine)."""
    markers = (str(paths.RUN).encode(), str(paths.STATE).encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            text = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"{entry.name} {text}")
    return found


def leftovers(nodes: list[LabNode], builder: bool = True) -> list[str]:
    """What the lab made that still exists: namespaces, links, processes, mounts, cgroups (empty = clean).

    ``builder=False`` leaves the image builder's engine out (it was not asked to stop).
    """
    left = [f"netns {n.namespace}" for n in nodes if n.netns_path.exists()]
    left += [f"link {name}" for name in [paths.BRIDGE, *(paths.veth(n.index) for n in nodes)] if link_exists(name)]
    left += [f"process {p}" for p in lab_processes() if builder or not _builder_entry(p)]
    left += [f"mount {m}" for m in lab_mounts() if builder or not _builder_entry(m)]
    left += [f"cgroup {g}" for g in lab_cgroups()]
    return left + public.leftovers()


def wipe_state() -> None:
    """Delete the lab's state (node data roots, secrets, Vault keys, the CA, logs, shims, overrides),
    not the image cache."""
    for path in (paths.NODES, paths.SECRETS_DIR, paths.VAULT_KEYS_FILE.parent, paths.PKI_DIR,
                 paths.STORAGEBOX, paths.HOSTS, paths.SHIM_DIR, paths.OVERRIDES, paths.LOGS):  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)
    (paths.STATE / "daemon.json").unlink(missing_ok=True)


def down(nodes: list[LabNode], progress: Progress, wipe: bool = False, builder: bool = True) -> list[str]:
    """Remove every node, the bridge, the cgroups and (with ``builder``) the image builder's engine;
    with ``wipe`` also the state, never the image cache. Returns :func:`leftovers`."""
    from iklim.swarmlab.builder import stop_builder

    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        for line in pool.map(stop_node, nodes):
            progress(line)
    for line in public.remove():  # before the mounts: each namespace is a bind mount under /run/netns
        progress(f"public side: {line} removed")
    if builder:
        stop_builder(progress)
    for point in sorted(lab_mounts(), key=len, reverse=True):  # e.g. an engine's netns/default bind mount
        if builder or not _builder_entry(point):
            run(["umount", "--lazy", point], f"unmount {point}", check=False)
            progress(f"unmounted {point}")
    if link_exists(paths.BRIDGE):
        run(["ip", "link", "del", paths.BRIDGE], "bridge")
    remove_cgroups()
    if wipe:
        wipe_state()
        progress(f"state under {paths.STATE} deleted (image cache kept)")
    return leftovers(nodes, builder)
