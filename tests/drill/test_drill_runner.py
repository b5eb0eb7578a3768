"""The runner, journal, report and CLI against an in-memory FAKE target.

FAKE: ``FakeDriver`` stands for a cluster only to exercise the runner's control flow (heal on
Ctrl-C, journal before the fault, loss reaching the verdict); the real engines are drilled in
``tests/lab/test_lab_drill.py``. Its store can be told to drop acknowledged writes, which the
drill must report as lost.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.drill.driver import DrillError, Driver, Observation
from iklim.drill.history import Refused
from iklim.drill.journal import Entry, Journal, JournalError
from iklim.drill.report import SCHEMA, document, text, write_out
from iklim.drill.runner import Settings, heal_pending, run_once
from iklim.drill.workloads.base import Client, Workload

FAST = Settings(
    rate=200.0, workers=2, warmup=0.2, hold=0.2, window=5.0, settle=0.0, healthy_timeout=1.0, gate_timeout=1.0
)


class FakeStore:
    """FAKE cluster: a set of values; down between kill and a failover 0.3 s later."""

    def __init__(self, drop_every: int = 0) -> None:
        self.values: list[str] = []
        self.lock = threading.Lock()
        self.leader = "m1"
        self.down = False
        self.drop_every = drop_every  # > 0: every Nth acknowledged write is silently dropped
        self.count = 0


class FakeClient(Client):
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def write(self, value: str) -> None:
        with self.store.lock:
            if self.store.down:
                raise Refused("connection refused")
            self.store.count += 1
            if not (self.store.drop_every and self.store.count % self.store.drop_every == 0):
                self.store.values.append(value)

    def close(self) -> None:
        pass


class FakeWorkload(Workload):
    name = "fake"

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def setup(self) -> None:
        pass

    def client(self) -> Client:
        return FakeClient(self.store)

    def final_read(self) -> list[str]:
        with self.store.lock:
            return list(self.store.values)


class FakeDriver(Driver):
    target = "fake"

    def __init__(self, store: FakeStore, interrupt: bool = False) -> None:
        self.store, self.interrupt = store, interrupt
        self.applied: list[str] = []
        self.healed: list[str] = []
        self.journal_at_apply: list[Entry] = []
        self.journal: Journal | None = None

    def clusters(self) -> tuple[str, ...]:
        return ("fake",)

    def leader(self, cluster: str) -> str:
        return self.store.leader

    def observe(self, cluster: str, old_leader: str) -> Observation:
        if self.interrupt:
            raise KeyboardInterrupt
        return Observation(None if self.store.down else self.store.leader, self.store.down)

    def undo_of(self, cluster: str, fault: str, member: str) -> Mapping[str, Any]:
        return {"restart": [member]}

    def apply(self, cluster: str, fault: str, member: str) -> None:
        assert self.journal is not None
        self.journal_at_apply = self.journal.pending()
        self.applied.append(member)
        self.store.down = True

        def failover() -> None:
            self.store.leader, self.store.down = "m2", False

        threading.Timer(0.3, failover).start()

    def heal(self, entry: Entry) -> None:
        self.healed.append(entry.member)

    def wait_healthy(self, cluster: str, timeout: float) -> str:
        return "healthy"

    def workload(self, cluster: str, run_id: str) -> Workload:
        return FakeWorkload(self.store)


def _drive(tmp_path: Path, store: FakeStore, interrupt: bool = False) -> tuple[FakeDriver, Journal]:
    driver = FakeDriver(store, interrupt)
    driver.journal = Journal(tmp_path / "drill")
    return driver, driver.journal


def test_a_clean_run_recovers_and_is_journaled_before_the_fault(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore())
    result = run_once(driver, journal, "fake", "kill", 1, FAST)
    assert [e.member for e in driver.journal_at_apply] == ["m1"], "journaled before applied"
    assert journal.pending() == [] and driver.healed == ["m1"]
    assert result.passed and result.new_leader == "m2"
    assert result.recovery.recovery is not None and 0.25 < result.recovery.recovery < 3.0
    assert result.recovery.failed_during > 0
    assert result.accounting.lost == () and result.accounting.acknowledged > 20


def test_lost_acknowledged_writes_fail_the_run(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore(drop_every=7))
    result = run_once(driver, journal, "fake", "kill", 1, FAST)
    assert len(result.accounting.lost) >= 3
    assert not result.passed
    doc = document("fake", [result])
    assert doc["schema"] == SCHEMA and doc["ok"] is False
    assert doc["summary"][0]["lost"] == len(result.accounting.lost)
    assert "FAIL" in text(doc)


def test_ctrl_c_heals_before_it_propagates(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore(), interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        run_once(driver, journal, "fake", "kill", 1, FAST)
    assert driver.applied == ["m1"] and driver.healed == ["m1"]
    assert journal.pending() == []


def test_heal_pending_undoes_what_a_killed_drill_left(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore())
    journal.record(Entry.new("fake", "fake", "kill", "m3", {"restart": ["m3"]}))
    journal.record(Entry.new("other-target", "x", "kill", "y", {}))
    healed = heal_pending(driver, journal)
    assert [e.member for e in healed] == ["m3"] and driver.healed == ["m3"]
    assert [e.target for e in journal.pending()] == ["other-target"], "another target's fault is kept"


def test_a_heal_that_fails_keeps_the_entry(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore())

    def broken(cluster: str, timeout: float) -> str:
        raise DrillError("still unhealthy")

    driver.wait_healthy = broken  # type: ignore[method-assign]
    journal.record(Entry.new("fake", "fake", "kill", "m1", {"restart": ["m1"]}))
    with pytest.raises(DrillError):
        heal_pending(driver, journal)
    assert len(journal.pending()) == 1


def test_a_torn_or_foreign_journal_is_an_error_naming_the_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.path.write_text('{"schema": "iklim.drill-journal/v1", "faults": [')
    with pytest.raises(JournalError, match=r"journal\.json:1: unreadable"):
        journal.pending()
    journal.path.write_text('{"schema": "something/else", "faults": []}')
    with pytest.raises(JournalError, match="not an iklim.drill-journal/v1"):
        journal.pending()


def test_report_files_are_written(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore())
    result = run_once(driver, journal, "fake", "kill", 1, FAST)
    doc = document("fake", [result])
    write_out(tmp_path / "out", doc, [result])
    loaded = json.loads((tmp_path / "out" / "report.json").read_text())
    assert loaded["ok"] is True and loaded["runs"][0]["recovery"]["recovery_s"] > 0
    lines = (tmp_path / "out" / f"history-{result.run_id}.jsonl").read_text().splitlines()
    assert len(lines) == len(result.history) and json.loads(lines[0])["kind"] == "invoke"
    assert "fake kill x1: recovery p50" in (tmp_path / "out" / "report.txt").read_text()
    assert "| fake | kill | 1 |" in (tmp_path / "out" / "report.md").read_text()


def test_junit_marks_a_lossy_run_as_a_failure(tmp_path: Path) -> None:
    from xml.etree import ElementTree as ET

    from iklim.drill.formats import junit

    driver, journal = _drive(tmp_path, FakeStore())
    clean = run_once(driver, journal, "fake", "kill", 1, FAST)
    driver2, journal2 = _drive(tmp_path / "b", FakeStore(drop_every=5))
    lossy = run_once(driver2, journal2, "fake", "kill", 2, FAST)
    root = ET.fromstring(junit(document("fake", [clean, lossy])))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "acknowledged writes lost" in (failure.get("message") or "")


def test_cli_list_and_refusals(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["drill", "list"])
    assert listed.exit_code == 0 and "lab: clusters etcd, patroni, redis, rabbitmq, vault; faults kill" in listed.output
    assert "swarm-lab: clusters etcd, patroni, redis, rabbitmq; faults kill, stop, pause" in listed.output
    for args in (["--target", "prod"], ["--target", "swarm-lab", "--cluster", "mongo"], ["--cluster", "mongo"]):
        refused = runner.invoke(cli, ["drill", "run", "--root", str(tmp_path), *args])
        assert refused.exit_code == 2, args
    nolab = runner.invoke(cli, ["drill", "run", "--root", str(tmp_path), "--cluster", "etcd"])
    assert nolab.exit_code == 2 and "no lab was started" in nolab.output
    assert not (tmp_path / "drill").exists(), "nothing written before the refusal"
    (tmp_path / "components.json").write_text("{}\n")
    Journal(tmp_path / "drill").record(Entry.new("lab", "etcd", "kill", "etcd-1", {"restart": ["etcd-1"]}))
    blocked = runner.invoke(cli, ["drill", "run", "--root", str(tmp_path), "--cluster", "etcd"])
    assert blocked.exit_code == 2 and "iklim drill heal" in blocked.output
    (tmp_path / "drill" / "journal.json").write_text('{"torn')
    torn = runner.invoke(cli, ["drill", "run", "--root", str(tmp_path), "--cluster", "etcd"])
    assert torn.exit_code == 2 and "journal.json:1: unreadable fault journal" in torn.output
    assert torn.exception is None or isinstance(torn.exception, SystemExit), repr(torn.exception)
    torn_heal = runner.invoke(cli, ["drill", "heal", "--root", str(tmp_path)])
    assert torn_heal.exit_code == 2 and "unreadable fault journal" in torn_heal.output
    mistyped = runner.invoke(cli, ["drill", "heal", "--root", str(tmp_path / "nosuch")])
    assert mistyped.exit_code == 2 and "no lab state at" in mistyped.output
    for command in (["drill"], ["drill", "run"], ["drill", "heal"], ["drill", "list"]):
        shown = runner.invoke(cli, [*command, "--help"])
        assert shown.exit_code == 0 and "Example" in shown.output, command


def test_reading_an_absent_journal_creates_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "never" / "drill")
    assert journal.pending() == []
    assert not (tmp_path / "never").exists()
