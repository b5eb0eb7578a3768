"""``isolate`` rules for the Swarm lab, applied for real to a throw-away network namespace
(``unshare --net``): inserted with their comment, packets really dropped, healed by comment, and
the host's own iptables never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from iklim.drill.nsisolate import COMMENT_PREFIX, isolate, listed, rules, unisolate


def _namespace() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    for _ in range(100):  # until the child has its own namespace
        if os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
            break
        time.sleep(0.02)
    return proc


def _in(pid: int, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *argv], capture_output=True, check=False)


@pytest.fixture
def pair() -> Iterator[tuple[int, int]]:
    """(member, peer): two namespaces joined by a veth pair, 192.0.2.1 and 192.0.2.2."""
    if os.geteuid() != 0:
        pytest.fail("isolate needs root (nsenter, iptables), as the Swarm lab does")
    member, peer = _namespace(), _namespace()
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        assert (
            _in(member.pid, "ip", "link", "add", "m0", "type", "veth", "peer", "p0", "netns", str(peer.pid)).returncode
            == 0
        )
        for pid, dev, address in ((member.pid, "m0", "192.0.2.1/24"), (peer.pid, "p0", "192.0.2.2/24")):
            assert _in(pid, "ip", "addr", "add", address, "dev", dev).returncode == 0
            assert _in(pid, "ip", "link", "set", dev, "up").returncode == 0
            assert _in(pid, "ip", "link", "set", "lo", "up").returncode == 0
        listeners += [
            subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", _LISTEN])
            for pid in (member.pid, peer.pid)
        ]
        time.sleep(0.5)
        yield member.pid, peer.pid
    finally:
        for proc in (*listeners, member, peer):
            proc.kill()
            proc.wait()


def _host_rules() -> str:
    return subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=False).stdout


_LISTEN = "import socket, time; s = socket.create_server(('0.0.0.0', 8000)); time.sleep(60)"
_CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], 8000), timeout=1).close()"


def _reach(pid: int, address: str) -> bool:
    """A TCP connect from ``pid``'s namespace to ``address``:8000 (a listener runs in each)."""
    return _in(pid, sys.executable, "-c", _CONNECT, address).returncode == 0


def test_isolate_and_heal_by_comment(pair: tuple[int, int]) -> None:
    member, peer = pair
    host_before = _host_rules()
    assert _reach(peer, "192.0.2.1") and _reach(member, "192.0.2.2")
    comment = f"{COMMENT_PREFIX}test"
    isolate(member, comment)
    assert len(listed(member)) == 2 and all(comment in line for line in listed(member))
    assert not _reach(peer, "192.0.2.1")  # a client or peer cannot reach the member
    assert not _reach(member, "192.0.2.2")  # nor the member them
    assert _reach(member, "127.0.0.1")  # loopback stays (the stack's healthcheck)
    assert listed(peer) == [] and _host_rules() == host_before  # only the member's namespace changed
    assert unisolate(member, comment) == 2
    assert listed(member) == []
    assert _reach(peer, "192.0.2.1")
    assert unisolate(member, comment) == 0  # idempotent


def test_rules_drop_everything_but_loopback() -> None:
    [inbound, outbound] = rules("c")
    assert inbound[:4] == ["INPUT", "!", "-i", "lo"] and outbound[:4] == ["OUTPUT", "!", "-o", "lo"]
    assert all(r[-2:] == ["-j", "DROP"] and "c" in r for r in (inbound, outbound))
