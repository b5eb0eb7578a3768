"""The lab driver's signals, on real processes standing in for a member (no lab needed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from iklim.drill.driver import FAULTS, DrillError
from iklim.drill.labdriver import LabDriver, _running, _signal_group_of, _state, _wait


@pytest.fixture()
def member() -> Iterator[subprocess.Popen[bytes]]:
    """A process group led by a sleeping child, as the supervisor starts a member."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield child
    child.kill()
    child.wait()


def test_pause_stops_the_group_until_it_is_continued(member: subprocess.Popen[bytes]) -> None:
    _signal_group_of(member.pid, signal.SIGSTOP)
    _wait(lambda: _state(member.pid) == "T", 5.0, "not stopped")
    assert _running(member.pid)  # paused is not gone: it holds its ports, the zombie leader to be
    _signal_group_of(member.pid, signal.SIGCONT)
    _wait(lambda: _state(member.pid) in ("S", "R"), 5.0, "not continued")


def test_stop_is_a_sigterm_the_member_may_handle(member: subprocess.Popen[bytes]) -> None:
    _signal_group_of(member.pid, signal.SIGTERM)
    assert member.wait(timeout=5) == -signal.SIGTERM
    assert not _running(member.pid)


def test_a_wait_that_never_holds_names_its_failure() -> None:
    with pytest.raises(DrillError, match="etcd: etcd-1: still running"):
        _wait(lambda: False, 0.05, "etcd: etcd-1: still running")


@pytest.mark.parametrize(("fault", "undo"), [("kill", "restart"), ("stop", "restart"), ("pause", "resume")])
def test_each_fault_journals_how_it_is_healed(fault: str, undo: str) -> None:
    driver = LabDriver.__new__(LabDriver)  # undo_of reads no lab state
    assert driver.undo_of("etcd", fault, "etcd-2") == {undo: ["etcd-2"]}
    assert fault in FAULTS


def test_an_unknown_fault_is_refused_before_anything_is_journaled() -> None:
    with pytest.raises(DrillError, match="unknown fault 'partition'"):
        LabDriver.__new__(LabDriver).undo_of("etcd", "partition", "etcd-2")
