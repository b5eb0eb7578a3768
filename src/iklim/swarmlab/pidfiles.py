"""Stale pid files a killed engine leaves behind, cleared before the engine starts again.

dockerd starts its own containerd and records its pid in ``<exec-root>/containerd/containerd.pid``.
When dockerd starts and that file names a live process, it takes the process for its containerd
("libcontainerd: containerd is still running") and waits for that containerd's socket; it only
checks that the pid is alive (moby ``libcontainerd/supervisor/remote_daemon.go``). After a kill of
the whole lab (a machine restart, ``kill -9`` of a session), the pid is soon reused by an
unrelated process, and every start of that engine then fails after its wait with "failed to start
containerd: timeout waiting for containerd to start". Seen on this machine: a node's dockerd
restarted 20 times in 8 minutes against pid 780, which was not a containerd.
"""

from __future__ import annotations

from pathlib import Path


def containerd_pidfile(exec_root: Path) -> Path:
    """The pid file dockerd's own containerd writes below ``exec_root``."""
    return exec_root / "containerd" / "containerd.pid"


def is_containerd_of(pid: int, exec_root: Path) -> bool:
    """True when process ``pid`` is alive and is a containerd whose command line names ``exec_root``.

    Reads ``/proc/<pid>/cmdline``; an unreadable entry (no such process, or one that just exited)
    is False.
    """
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(argv)
        and Path(argv[0].decode(errors="replace")).name == "containerd"
        and any(str(exec_root).encode() in arg for arg in argv[1:])
    )


def clear_stale_containerd(exec_root: Path) -> int | None:
    """Remove ``exec_root``'s containerd pid file unless it names that engine's own live containerd.

    Returns the pid the removed file named (None when nothing was removed: no file, or it names
    the engine's containerd, which dockerd then reuses as it is designed to). A file whose content
    is not a number is removed too (returns 0).
    """
    path = containerd_pidfile(exec_root)
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        pid = int(text)
    except ValueError:
        path.unlink(missing_ok=True)
        return 0
    if is_containerd_of(pid, exec_root):
        return None
    path.unlink(missing_ok=True)
    return pid
