"""The ``isolate`` fault without the lab: the rules it builds, what it journals, and a real cut of a
real process (a TCP echo member on its own loopback address) with iptables, healed by its tag.

Needs iptables and root, as the lab does (scripts/install-lab.sh).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from iklim.drill import isolate
from iklim.drill.isolate import Plan, build_rules, tagged_rules
from iklim.drill.labdriver import LabDriver


def test_proc_net_tcp_addresses_decode() -> None:
    assert isolate._endpoint("0101007F:0959") == ("127.0.1.1", 2393)
    assert isolate._endpoint("0000000000000000FFFF00000100007F:1538") == ("127.0.0.1", 5432)
    assert isolate._endpoint("00000000000000000000000000000000:1538") == ("::", 5432)
    assert isolate._endpoint("00000000000000000000000001000000:1538") == ("", 5432), "::1 is no IPv4 endpoint"


def test_rules_drop_both_directions_of_every_endpoint_and_new_dials_carrying_the_tag() -> None:
    rules = build_rules("iklim-drill:t1", [("127.0.1.1", 2379), ("127.0.0.1", 40000)], "iklim-drill-t1")
    assert rules == (
        "-A INPUT -p tcp -s 127.0.0.1/32 -m tcp --sport 40000 -m comment --comment iklim-drill:t1 -j DROP",
        "-A INPUT -p tcp -d 127.0.0.1/32 -m tcp --dport 40000 -m comment --comment iklim-drill:t1 -j DROP",
        "-A INPUT -p tcp -s 127.0.1.1/32 -m tcp --sport 2379 -m comment --comment iklim-drill:t1 -j DROP",
        "-A INPUT -p tcp -d 127.0.1.1/32 -m tcp --dport 2379 -m comment --comment iklim-drill:t1 -j DROP",
        "-A OUTPUT -m cgroup --path iklim-drill-t1 -m comment --comment iklim-drill:t1 -j DROP",
    )


def test_kept_clients_are_accepted_before_any_drop_and_a_wildcard_listener_has_no_address() -> None:
    rules = build_rules("iklim-drill:t2", [("0.0.0.0", 6379)], clients=[(("127.0.0.1", 50000), ("127.0.2.1", 6379))])
    assert [r.split(" -j ")[1] for r in rules] == ["ACCEPT", "ACCEPT", "DROP", "DROP"]
    assert "--sport 50000 --dport 6379" in rules[0] and "--sport 6379 --dport 50000" in rules[1]
    assert rules[2] == "-A INPUT -p tcp -m tcp --sport 6379 -m comment --comment iklim-drill:t2 -j DROP"


def test_a_plan_survives_the_journal_round_trip() -> None:
    cut = Plan("iklim-drill:x", ("-A INPUT -j DROP",), (12, 13), "iklim-drill-x", "/sys/fs/cgroup", "/a")
    assert Plan.from_dict(cut.as_dict()) == cut


def test_isolate_journals_its_rules_before_it_is_applied() -> None:
    driver = LabDriver.__new__(LabDriver)
    driver._next_cut = None
    driver._victims = lambda cluster, member: [os.getpid()]  # type: ignore[method-assign]
    undo = driver.undo_of("etcd", "isolate", "etcd-1")
    cut = Plan.from_dict(undo["isolate"])
    assert cut.tag.startswith("iklim-drill:etcd-") and os.getpid() in cut.pids
    assert cut.rules and all(f"--comment {cut.tag} " in r for r in cut.rules)
    assert tagged_rules(cut.tag, exact=True) == [], "planning applies nothing"


@pytest.fixture()
def member() -> Iterator[tuple[subprocess.Popen[bytes], tuple[str, int]]]:
    """A member: a process group serving TCP echo on 127.0.9.1 (its own loopback address)."""
    code = (
        "import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.9.1', 0)); s.listen(8); print(s.getsockname()[1], flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.sendall(c.recv(64)); c.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    yield child, ("127.0.9.1", port)
    child.kill()
    child.wait()


def _echo(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5) as conn:
            conn.sendall(b"ping")
            return conn.recv(64) == b"ping"
    except OSError:
        return False


def test_a_real_cut_blocks_the_member_and_its_heal_removes_exactly_its_rules(
    member: tuple[subprocess.Popen[bytes], tuple[str, int]],
) -> None:
    child, address = member
    assert _echo(address)
    other = f"iklim-drill:bystander-{uuid.uuid4().hex[:6]}"  # another drill's rule stays
    bystander = build_rules(other, [("127.0.9.9", 9)])
    isolate._restore([r.replace("-A ", "-I ", 1) for r in bystander])
    cut = isolate.plan(f"iklim-drill:test-{uuid.uuid4().hex[:6]}", [os.getpgid(child.pid)])
    try:
        assert any(f"--dport {address[1]}" in r for r in cut.rules)
        isolate.apply(cut)
        assert len(tagged_rules(cut.tag, exact=True)) == len(cut.rules)
        assert not _echo(address), "the member still answers through the cut"
        if cut.cgroup:
            procs = (isolate.Path(cut.cgroup_root) / cut.cgroup / "cgroup.procs").read_text().split()
            assert str(child.pid) in procs
        assert isolate.heal(cut) == len(cut.rules)
        assert tagged_rules(cut.tag, exact=True) == []
        assert len(tagged_rules(other, exact=True)) == len(bystander), "only the cut's own rules were removed"
        assert isolate.heal(cut) == 0, "a second heal is a no-op"
        deadline = time.monotonic() + 5
        while not _echo(address):
            assert time.monotonic() < deadline, "the member does not answer after the heal"
        assert not cut.cgroup or not (isolate.Path(cut.cgroup_root) / cut.cgroup).exists()
    finally:
        isolate.heal(cut)
        isolate.heal(Plan(other, ()))
    assert tagged_rules(other, exact=True) == []
