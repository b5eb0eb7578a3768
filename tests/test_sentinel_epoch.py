"""Real Redis Sentinels at the same config-epoch with different masters never converge, and the
remedy the RedisSentinelsDisagree alert gives (remove the disagreeing Sentinel's file, restart it)
makes them agree. Seen on the Swarm lab after the whole lab was killed: Sentinel 1 named redis-2,
Sentinels 2 and 3 named redis-3, all at config-epoch 10, for the 420 s a test waited; a Sentinel
adopts a peer's master only at a greater epoch (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/,
"Configuration propagation")."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HOST = "127.0.9.1"  # loopback: one address, a port per process
MASTER, REPLICA = 16391, 16392
SENTINELS = (26391, 26392, 26393)


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), *args], capture_output=True, text=True, timeout=5)
    return done.stdout.strip()


def _named(port: int) -> str:
    """The master's port Sentinel ``port`` names ("" when it does not answer)."""
    lines = _cli(port, "sentinel", "get-master-addr-by-name", "m").splitlines()
    return lines[1] if len(lines) == 2 else ""


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out)


def _sentinel_conf(master: int, epoch: bool) -> str:
    lines = [
        "port {port}",
        f"bind {HOST}",
        "dir {dir}",
        f"sentinel monitor m {HOST} {master} 2",
        "sentinel down-after-milliseconds m 2000",
        "sentinel failover-timeout m 60000",
    ]
    if epoch:
        lines += ["sentinel config-epoch m 10", "sentinel current-epoch 10", "sentinel leader-epoch m 10"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, dict[int, subprocess.Popen[bytes]]]]:
    """A master, its replica and three Sentinels: one names the replica at epoch 10, two the master."""
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for port, extra in ((MASTER, []), (REPLICA, ["--replicaof", HOST, str(MASTER)])):
            argv = ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--dir", str(tmp_path), *extra]
            procs[port] = _start(argv, tmp_path / f"{port}.log")
        for port in SENTINELS:
            _write_sentinel(tmp_path, port, REPLICA if port == SENTINELS[0] else MASTER, epoch=True)
            procs[port] = _start(["redis-sentinel", str(tmp_path / f"s{port}.conf")], tmp_path / f"s{port}.log")
        yield tmp_path, procs
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def _write_sentinel(folder: Path, port: int, master: int, epoch: bool) -> None:
    (folder / f"s{port}.conf").write_text(_sentinel_conf(master, epoch).format(port=port, dir=folder))


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return bool(predicate())


def test_equal_epochs_never_converge_and_a_fresh_file_does(
    cluster: tuple[Path, dict[int, subprocess.Popen[bytes]]],
) -> None:
    folder, procs = cluster
    first = SENTINELS[0]
    assert _wait(lambda: all(_named(p) for p in SENTINELS), 15), "the Sentinels did not answer"
    assert _wait(lambda: _cli(first, "sentinel", "sentinels", "m").count("name") >= 2, 15), "no peer heard"
    time.sleep(8)  # four hello periods: a greater epoch would have been adopted by now
    assert _named(first) == str(REPLICA), "a peer's view at the same epoch was adopted"
    assert [_named(p) for p in SENTINELS[1:]] == [str(MASTER)] * 2
    # A restart keeps its file (Sentinel rewrote it): it still names the replica.
    procs[first].kill()
    procs[first].wait()
    procs[first] = _start(["redis-sentinel", str(folder / f"s{first}.conf")], folder / f"s{first}.log")
    assert _wait(lambda: _named(first) != "", 15)
    time.sleep(6)
    assert _named(first) == str(REPLICA), "a plain restart made it agree"
    # The alert's remedy: remove its file (the stack's config, epoch 0, comes back) and restart it.
    procs[first].kill()
    procs[first].wait()
    _write_sentinel(folder, first, REPLICA, epoch=False)
    procs[first] = _start(["redis-sentinel", str(folder / f"s{first}.conf")], folder / f"s{first}.log")
    assert _wait(lambda: _named(first) == str(MASTER), 20), f"still names {_named(first)}"
