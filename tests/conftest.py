"""Shared fixtures: the production model, a rendered tree, and a real etcd on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iklim.model.loader import load_environment
from iklim.model.schema import Environment
from iklim.render.tree import Tree, render_tree
from iklim.render.writer import write_tree

if TYPE_CHECKING:
    from iklim.lab.context import LabContext

REPO = Path(__file__).resolve().parent.parent
PROD_MODEL = REPO / "environments" / "prod.yaml"


@pytest.fixture(scope="session")
def prod_env() -> Environment:
    return load_environment(PROD_MODEL)


@pytest.fixture(scope="session")
def prod_tree(prod_env: Environment) -> Tree:
    return render_tree(prod_env)


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory, prod_tree: Tree) -> Path:
    """The production tree rendered into a fresh directory (read-only for tests: copy to change)."""
    root = tmp_path_factory.mktemp("rendered")
    write_tree(root, prod_tree)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-member etcd on 127.0.0.1 (the Debian etcd-server package), for Patroni's validator."""
    binary = shutil.which("etcd")
    assert binary, "etcd is not installed: run scripts/install-deps.sh"
    data = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [
            binary,
            "--name",
            "test",
            "--data-dir",
            str(data),
            "--listen-client-urls",
            url,
            "--advertise-client-urls",
            url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"test=http://127.0.0.1:{peer}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(data / "etcd.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", client), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, (data / "etcd.log").read_text()
                time.sleep(0.1)
        else:
            raise AssertionError("etcd did not start within 20 s")
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that bring up a loopback lab of their own (marker ``own_lab``) run first, before the
    session's ``lab`` starts: two labs cannot share the loopback addresses. Otherwise the order is
    kept (a stable sort)."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("own_lab") else 1)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, prod_env: Environment) -> Iterator[LabContext]:
    """The whole lab, up once per test session from the production model, down and wiped after.

    Tests that stop a member must start it again (``ctx.supervisor.start``) and wait for the
    component to be healthy before they return: later tests expect a healthy lab.
    """
    import glob

    from iklim.lab.context import LabContext
    from iklim.lab.orchestrator import down, up

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert bins, "PostgreSQL is not installed: run scripts/install-lab.sh"
    # Not under pytest's tmp dir: that is mode 0700, and PostgreSQL runs as the lab user.
    root = Path(tempfile.mkdtemp(prefix="iklim-lab-"))
    os.chmod(root, 0o755)
    ctx = LabContext.create(prod_env, root, str(Path(bins[-1]).parent))
    lines: list[str] = []
    try:
        states = up(ctx, lines.append, timeout=240)
        failed = [s for s in states if s.state == "unhealthy"]
        assert not failed, f"lab up failed: {failed}\n" + "\n".join(lines) + _log_tails(root, failed)
        yield ctx
    finally:
        names = ctx.supervisor.names()
        pids = [(pid, _started(pid)) for pid in map(ctx.supervisor.pid, names) if pid]
        down(ctx, lines.append, wipe=True)
    # the same process (pid and start time): a busy machine may reuse a stopped member's pid
    alive = [pid for pid, started in pids if started is not None and _started(pid) == started]
    assert not alive, f"lab down left processes running: {alive}"
    listening = lab_listeners()
    assert not listening, f"lab down left listening ports: {listening}"


def _log_tails(root: Path, failed: list[Any]) -> str:
    """The last 40 lines of each failed component's member logs, so a CI failure can be read."""
    out: list[str] = []
    for state in failed:
        for log in sorted((root / "logs").glob(f"{state.name}-*.log")):
            tail = log.read_text(errors="replace").splitlines()[-40:]
            out += [f"--- {log.name} (last {len(tail)} lines)", *tail]
    return "\n" + "\n".join(out) if out else ""


def _started(pid: int) -> str | None:
    """The start time of process ``pid`` (``/proc/PID/stat`` field 22), None when it is gone.

    A zombie is gone: it has exited and holds no port or file. A member started by another iklim
    process (``iklim drill heal`` restarts one) is reparented to PID 1 when that process ends,
    and PID 1 in a container may never reap it.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def lab_listeners() -> list[str]:
    """Listening TCP sockets on the lab's addresses (127.0.1-3.x, and epmd's 127.0.0.1:4369)."""
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        if local.startswith(("127.0.1.", "127.0.2.", "127.0.3.")) or local.endswith(":4369"):
            found.append(local)
    return found
