"""A containerd pid file a killed engine left behind is removed unless it names that engine's own
containerd: dockerd would otherwise take any live process for its containerd and time out waiting
for it (seen in CI after a machine restart: pid 780, not a containerd, 20 failed starts)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iklim.swarmlab.pidfiles import clear_stale_containerd, containerd_pidfile, is_containerd_of

SLEEPER = "import time; time.sleep(60)"


@pytest.fixture
def exec_root(tmp_path: Path) -> Path:
    """An engine's exec root with an empty containerd folder."""
    containerd_pidfile(tmp_path).parent.mkdir(parents=True)
    return tmp_path


@contextlib.contextmanager
def _named(argv0: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose argv[0] is ``argv0`` (bash's ``exec -a``), killed afterwards."""
    quoted = " ".join(f"'{a}'" for a in args)
    child = subprocess.Popen(["bash", "-c", f"exec -a {argv0} {sys.executable} -c '{SLEEPER}' {quoted}"])
    try:
        for _ in range(100):  # until bash has exec'd (argv[0] changed)
            try:
                if Path(f"/proc/{child.pid}/cmdline").read_bytes().startswith(argv0.encode()):
                    break
            except OSError:
                pass
            subprocess.run(["sleep", "0.02"], check=True)
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_live_process_that_is_no_containerd_is_stale(exec_root: Path) -> None:
    containerd_pidfile(exec_root).write_text(f"{os.getpid()}\n")
    assert clear_stale_containerd(exec_root) == os.getpid()
    assert not containerd_pidfile(exec_root).exists()


def test_a_dead_pid_is_stale(exec_root: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    containerd_pidfile(exec_root).write_text(f"{child.pid}\n")
    assert clear_stale_containerd(exec_root) == child.pid
    assert not containerd_pidfile(exec_root).exists()


def test_garbage_is_stale(exec_root: Path) -> None:
    containerd_pidfile(exec_root).write_text("not a pid\n")
    assert clear_stale_containerd(exec_root) == 0
    assert not containerd_pidfile(exec_root).exists()


def test_no_file_is_nothing_to_do(exec_root: Path) -> None:
    assert clear_stale_containerd(exec_root) is None


def test_the_engines_own_containerd_is_kept(exec_root: Path) -> None:
    with _named("containerd", "--config", str(exec_root / "containerd" / "containerd.toml")) as child:
        assert is_containerd_of(child.pid, exec_root)
        containerd_pidfile(exec_root).write_text(f"{child.pid}\n")
        assert clear_stale_containerd(exec_root) is None
        assert containerd_pidfile(exec_root).read_text().strip() == str(child.pid)


def test_another_engines_containerd_is_stale(exec_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other-engine")
    with _named("containerd", "--config", str(other / "containerd" / "containerd.toml")) as child:
        assert not is_containerd_of(child.pid, exec_root)
        containerd_pidfile(exec_root).write_text(f"{child.pid}\n")
        assert clear_stale_containerd(exec_root) == child.pid
