"""``swarm-lab down`` leaves nothing: no namespace, link, engine, containerd, shim, mount or cgroup.

The check does not trust :func:`teardown.leftovers` alone: it reads ``ip netns``, ``ip link``,
``/proc`` and ``/proc/mounts`` and the cgroup tree itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker

from iklim.swarmlab import paths
from iklim.swarmlab.nodes import LabNode, dockerd_pid

from .conftest import load_sleep_image

REPO = Path(__file__).resolve().parents[2]


def _cmdlines() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return found


def _cgroups() -> list[str]:
    return [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{paths.CGROUP_PREFIX}*")] + [
        str(p) for p in Path("/sys/fs/cgroup").glob(f"{paths.CGROUP_PREFIX}*")
    ]


def test_down_leaves_nothing(swarm_nodes: list[LabNode]) -> None:
    node = swarm_nodes[0]
    image = load_sleep_image(node)
    client = docker.DockerClient(base_url=node.docker_host)
    try:
        container = client.containers.run(image, ["/usr/bin/sleep", "600"], detach=True)
        container.reload()
        assert container.status == "running"
    finally:
        client.close()
    # the container runs under the node's cgroup parent, with a shim outside dockerd's process tree
    assert any(container.id in str(p) for p in Path("/sys/fs/cgroup/memory").glob(f"{paths.CGROUP_PREFIX}1/*"))
    assert any("containerd-shim" in c and str(paths.exec_root(node.hostname)) in c for c in _cmdlines())
    assert all(dockerd_pid(n) is not None for n in swarm_nodes)

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "down"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "nothing left" in proc.stderr

    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert paths.NAMESPACE_PREFIX not in netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert paths.BRIDGE not in links and paths.VETH_PREFIX not in links
    assert [c for c in _cmdlines() if str(paths.RUN) in c or str(paths.STATE) in c] == []
    assert not any("sleep 600" in c for c in _cmdlines())
    mounts = Path("/proc/mounts").read_text()
    assert str(paths.STATE) not in mounts and str(paths.RUN) not in mounts and "/run/netns/ikl-" not in mounts
    assert _cgroups() == []
    assert not any(paths.RUN.glob("iklim-*"))
    # state is kept without --wipe: the node's data root survives for a fast next `up`
    assert paths.data_root(node.hostname).is_dir()
