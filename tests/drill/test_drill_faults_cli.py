"""The new faults' refusals, a planned hand-over's clock, and how an ``--unsafe-config`` run is
judged and marked, against the in-memory FAKE target of ``test_drill_runner`` (no lab)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.drill.formats import markdown
from iklim.drill.report import document, text
from iklim.drill.runner import run_once
from tests.drill.test_drill_runner import FAST, FakeStore, _drive


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cluster", "etcd", "--fault", "isolate", "--unsafe-config"], "--unsafe-config is offered with"),
        (["--cluster", "redis", "--fault", "kill", "--unsafe-config"], "--unsafe-config is offered with"),
        (["--cluster", "redis", "--fault", "etcd-leader"], "fault 'etcd-leader' is not offered"),
    ],
)
def test_a_fault_or_unsafe_configuration_not_offered_is_refused_in_one_line(
    tmp_path: Path, args: list[str], words: str
) -> None:
    (tmp_path / "components.json").write_text("{}\n")
    refused = CliRunner().invoke(cli, ["drill", "run", "--root", str(tmp_path), *args])
    assert refused.exit_code == 2
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], refused.output
    assert not (tmp_path / "drill").exists(), "nothing journalled"


def test_list_names_each_clusters_faults() -> None:
    listed = CliRunner().invoke(cli, ["drill", "list"])
    assert "lab: patroni: faults kill, stop, pause, isolate, switchover, etcd-leader" in listed.output
    assert "lab: redis: faults kill, stop, pause, isolate, switchover\n" in listed.output
    assert "--unsafe-config: --fault isolate on redis, patroni" in listed.output


def test_a_switchover_is_timed_from_its_request(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore())
    result = run_once(driver, journal, "fake", "switchover", 1, FAST)
    assert result.recovery.detection == 0.0, "detection is the request"
    assert result.recovery.election is not None and result.recovery.election > 0.25


def test_an_unsafe_run_passes_when_the_checker_catches_its_loss_and_is_marked(tmp_path: Path) -> None:
    driver, journal = _drive(tmp_path, FakeStore(drop_every=7))
    driver.unsafe_config = True
    lossy = run_once(driver, journal, "fake", "isolate", 1, FAST)
    assert lossy.unsafe and lossy.accounting.lost and lossy.passed
    doc = document("fake", [lossy])
    assert doc["ok"] is True and doc["unsafe_config"] is True and doc["runs"][0]["unsafe_config"] is True
    assert text(doc).startswith("UNSAFE CONFIGURATION") and "loss caught (unsafe)" in text(doc)
    assert "**UNSAFE CONFIGURATION**" in markdown(doc)
    driver2, journal2 = _drive(tmp_path / "b", FakeStore())
    driver2.unsafe_config = True
    clean = run_once(driver2, journal2, "fake", "isolate", 1, FAST)
    assert not clean.passed, "an unsafe run that lost nothing did not demonstrate the checker"
    assert document("fake", [clean])["ok"] is False and "FAIL (unsafe)" in text(document("fake", [clean]))
