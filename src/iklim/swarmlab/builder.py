"""The Swarm lab's builder engine: a dockerd in the host network namespace used only for builds.

It never touches the host's network: ``--bridge=none --iptables=false --ip-forward=false
--ip-masq=false`` (no docker0, no NAT, no chains, ``ip_forward`` left alone); builds run with
``network_mode="host"`` so apt and pip reach the Debian mirror and PyPI directly. It has its own
data root (``STATE/builder``), exec root and pid file (``RUN/builder``, ``RUN/builder.pid``), an
empty config file (the host's ``/etc/docker/daemon.json`` is not read) and the socket
``BUILDER_SOCKET``. Its image store is the lab's image cache: it survives ``stop_builder``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

from iklim.swarmlab.paths import BUILDER_SOCKET, IMAGE_CACHE, LOGS, RUN, STATE
from iklim.swarmlab.pidfiles import clear_stale_containerd

Progress = Callable[[str], None]

BUILDER_DATA = STATE / "builder"
BUILDER_EXEC = RUN / "builder"
BUILDER_PIDFILE = RUN / "builder.pid"
BUILDER_CONFIG = STATE / "builder-daemon.json"
BUILDER_LOG = LOGS / "builder.log"
#: Held shared while the builder is in use (builds, copies), exclusive by ``stop_builder``; under
#: the image cache, which no teardown deletes.
BUILDER_LOCK = IMAGE_CACHE / "builder.lock"
#: Seconds to wait for the engine's API after starting it, and for its exit after SIGTERM.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class BuilderError(RuntimeError):
    """The builder engine did not start or stop; the message ends with its log's last lines."""


def _log_tail(lines: int = 5) -> str:
    try:
        text = BUILDER_LOG.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:])


def builder_client(timeout: int = 600) -> docker.DockerClient:
    """A Docker SDK client for the builder's socket (``timeout``: seconds per API call)."""
    return docker.DockerClient(base_url=f"unix://{BUILDER_SOCKET}", timeout=timeout)


def _answers() -> bool:
    if not BUILDER_SOCKET.exists():
        return False
    try:
        client = builder_client(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, OSError):
        return False


def builder_pid() -> int | None:
    """The builder dockerd's pid if it runs (from its pid file), else None."""
    try:
        pid = int(BUILDER_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def start_builder(progress: Progress | None = None) -> None:
    """Start the builder engine unless it already answers (idempotent).

    Raises :class:`BuilderError` if ``dockerd`` is missing or its API does not answer within
    ``START_TIMEOUT`` seconds.
    """
    if _answers():
        return
    if builder_pid() is None:
        for d in (BUILDER_DATA, BUILDER_EXEC, LOGS):
            d.mkdir(parents=True, exist_ok=True)
        if not BUILDER_CONFIG.exists():
            BUILDER_CONFIG.write_text("{}\n")
        with contextlib.suppress(FileNotFoundError):
            BUILDER_SOCKET.unlink()
        clear_stale_containerd(BUILDER_EXEC)
        cmd = [
            "dockerd",
            f"--config-file={BUILDER_CONFIG}",
            f"--data-root={BUILDER_DATA}",
            f"--exec-root={BUILDER_EXEC}",
            f"--pidfile={BUILDER_PIDFILE}",
            f"--host=unix://{BUILDER_SOCKET}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--storage-driver=overlay2",
        ]
        if progress:
            progress(f"starting the builder engine (socket {BUILDER_SOCKET})")
        with BUILDER_LOG.open("ab") as log:
            try:
                subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
                )
            except FileNotFoundError as exc:
                raise BuilderError("dockerd not found: run scripts/install-swarm-lab.sh") from exc
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers():
            return
        time.sleep(0.2)
    raise BuilderError(f"the builder engine did not answer on {BUILDER_SOCKET} in {START_TIMEOUT:.0f}s: {_log_tail()}")


def _containerd_pids() -> list[int]:
    """Pids of containerd processes started under the builder's exec root (they outlive a crash)."""
    pids: list[int] = []
    marker = str(BUILDER_EXEC).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"containerd") and marker in cmdline:
            pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def _lock(mode: int, progress: Progress | None = None, waiting: str = "") -> Iterator[None]:
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with BUILDER_LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress and waiting:
                progress(waiting)
            fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_held = 0  # builder_in_use depth in this process (flock would deadlock a stop from inside one)


@contextlib.contextmanager
def builder_in_use(progress: Progress | None = None) -> Iterator[None]:
    """Hold the builder for a build or a copy: ``stop_builder`` waits until every holder is done."""
    global _held
    with _lock(fcntl.LOCK_SH, progress, "waiting for the builder engine to finish stopping"):
        _held += 1
        try:
            yield
        finally:
            _held -= 1


def stop_builder(progress: Progress | None = None) -> None:
    """Stop the builder engine (SIGTERM, then wait); a no-op when it is not running.

    Waits first for builds and copies in progress (:func:`builder_in_use`) to finish. Its data
    root (the built images) stays on disk. Raises :class:`BuilderError` if it has not exited
    ``STOP_TIMEOUT`` seconds after SIGTERM, or when called from inside ``builder_in_use``.
    """
    if _held:
        raise BuilderError("stop_builder called while this process is building or copying images")
    with _lock(fcntl.LOCK_EX, progress, "waiting for an image build or copy in progress to finish"):
        _stop(progress)


def _stop(progress: Progress | None) -> None:
    pid = builder_pid()
    if pid is not None:
        if progress:
            progress(f"stopping the builder engine (pid {pid})")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while builder_pid() == pid and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
            time.sleep(0.2)
        if builder_pid() == pid:
            raise BuilderError(f"the builder engine (pid {pid}) did not exit in {STOP_TIMEOUT:.0f}s: {_log_tail()}")
    for cpid in _containerd_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(cpid, signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        BUILDER_SOCKET.unlink()
