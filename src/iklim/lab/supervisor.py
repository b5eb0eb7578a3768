"""A small process supervisor: each process in its own session, a pid file and a log each.

``start`` is idempotent (a live process from an earlier ``up`` is kept); ``stop`` signals the
whole process group by pid, waits for it to exit, and escalates to SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProcessSpec:
    """One lab process: what to run, as whom, and where its pid file and log live."""

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None


class Supervisor:
    """Starts and stops :class:`ProcessSpec` processes under ``root/run`` and ``root/logs``."""

    def __init__(self, root: Path) -> None:
        self.run_dir = root / "run"
        self.log_dir = root / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` when it is running, else None (a stale pid file is removed)."""
        path = self.pid_file(name)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid):
            return pid
        path.unlink(missing_ok=True)
        return None

    def start(self, spec: ProcessSpec) -> int:
        """Start ``spec`` unless it already runs; return its pid."""
        running = self.pid(spec.name)
        if running is not None:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **spec.env}
        user = group = None
        if spec.user and os.geteuid() == 0:
            entry = pwd.getpwnam(spec.user)
            user, group = entry.pw_uid, entry.pw_gid
            environ.setdefault("HOME", entry.pw_dir)
        with self.log_file(spec.name).open("ab") as log:
            self._start_mark(spec.name).write_text(f"{log.tell()}\n")
            proc = subprocess.Popen(
                list(spec.argv),
                cwd=spec.cwd,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                group=group,
                extra_groups=[] if user is not None else None,
            )
        self.pid_file(spec.name).write_text(f"{proc.pid}\n")
        return proc.pid

    def exited(self, name: str) -> bool:
        """True when ``name`` has a pid file but its process is gone (False before it starts)."""
        try:
            pid = int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return False
        return not _alive(pid)

    def stop(self, name: str, grace: float = 20.0, kill_wait: float = 10.0) -> bool:
        """Stop ``name`` and its process group; True when something was stopped.

        The group is signalled even when its leader has already exited, so members it left
        behind are stopped too. SIGTERM first, SIGKILL after ``grace``; a group that survives
        SIGKILL for ``kill_wait`` (a process in uninterruptible sleep) keeps its pid file, so
        a later ``stop`` tries again, and False is returned.
        """
        path = self.pid_file(name)
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return False
        if not _group_alive(pid):
            path.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, grace):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(pid, kill_wait):
                return False
        path.unlink(missing_ok=True)
        return True

    def names(self) -> list[str]:
        """Every process that has a pid file."""
        if not self.run_dir.is_dir():
            return []
        return sorted(p.stem for p in self.run_dir.glob("*.pid"))

    def _start_mark(self, name: str) -> Path:
        return self.run_dir / f"{name}.logstart"

    def logged_since_start(self, name: str, limit: int = 1 << 20) -> str:
        """What ``name`` has logged since its last start (at most ``limit`` bytes; "" if unknown)."""
        try:
            offset = int(self._start_mark(name).read_text().strip())
            with self.log_file(name).open("rb") as log:
                log.seek(offset)
                return log.read(limit).decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.log_file(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours has exited: reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        stat = Path(f"/proc/{pid}/stat")
        try:
            return stat.read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False


def _wait_gone(pgid: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for process group ``pgid`` to be gone; True when it is."""
    deadline = time.monotonic() + seconds
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _group_alive(pgid: int) -> bool:
    """True while the leader or any live (non-zombie) member of process group ``pgid`` remains.

    Orphaned members are reparented to PID 1, which in a container may never reap them: a zombie
    has exited and holds no port or file, so it does not count.
    """
    if _alive(pgid):
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)
