"""`iklim vault bootstrap` against real OpenBao x3 clusters: fresh, rerun, interrupted, restarted."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.vault.bootstrap import KILL_POINTS, BootstrapError, bootstrap, unseal
from iklim.vault.custody import CustodyError
from iklim.vault.plan import VaultPlan

from .conftest import VaultCluster  # noqa: TID252


def assert_no_secret_leaked(cluster: VaultCluster) -> None:
    written = cluster.everything_written()
    leaked = [s[:6] + "..." for s in cluster.secrets() if s in written]
    assert not leaked, f"secrets found in captured output or logs: {leaked}"


def test_fresh_bootstrap_reaches_healthy_and_a_rerun_is_a_no_op(vault_cluster: VaultCluster) -> None:
    first = vault_cluster.drive("bootstrap")
    assert first.returncode == 0, first.stderr
    assert "init: initialised vault-1" in first.stderr and "day-one: kv-v2 secret/" in first.stderr
    lines = vault_cluster.healthy()
    assert "voters: 3; failure tolerance: 1; healthy: True" in lines[-1]
    assert stat.S_IMODE(vault_cluster.plan.custody.path.stat().st_mode) == 0o600
    second = vault_cluster.drive("bootstrap")
    assert second.returncode == 0, second.stderr
    for expected in (
        "init: already initialised",
        "vault-1 already unsealed",
        "vault-2 already a member",
        "vault-3 already a member",
        "day-one: already configured",
    ):
        assert expected in second.stderr
    assert "initialised vault-1" not in second.stderr and "joined and unsealed" not in second.stderr
    assert_no_secret_leaked(vault_cluster)


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_a_bootstrap_killed_mid_way_is_finished_by_a_rerun(vault_cluster: VaultCluster, kill_point: str) -> None:
    killed = vault_cluster.drive("bootstrap", kill_point)
    assert killed.returncode == -9, f"the drill did not stop at {kill_point}: {killed.stderr}"
    assert vault_cluster.plan.custody.exists(), "the keys must be in custody before anything else"
    rerun = vault_cluster.drive("bootstrap")
    assert rerun.returncode == 0, rerun.stderr
    assert "init: already initialised" in rerun.stderr, "a rerun must never initialise again"
    vault_cluster.healthy()
    assert_no_secret_leaked(vault_cluster)


def test_a_sigkilled_member_restarts_sealed_and_unseal_brings_it_back(vault_cluster: VaultCluster) -> None:
    assert vault_cluster.drive("bootstrap").returncode == 0
    vault_cluster.kill("vault-2")
    vault_cluster.start("vault-2")
    lines, ok = _status(vault_cluster.plan)
    assert not ok and any(line.startswith("vault-2") and "sealed" in line for line in lines), lines
    result = vault_cluster.drive("unseal", "vault-2")
    assert result.returncode == 0, result.stderr
    assert "vault-2: unsealed" in result.stderr
    vault_cluster.healthy()
    assert_no_secret_leaked(vault_cluster)


def _status(plan: VaultPlan) -> tuple[list[str], bool]:
    from iklim.vault.bootstrap import status_lines

    for _ in range(40):  # the restarted member answers within a moment
        lines, ok = status_lines(plan)
        if not any("unreachable" in line for line in lines):
            return lines, ok
        import time

        time.sleep(0.25)
    return status_lines(plan)


def test_clear_errors(vault_cluster: VaultCluster, tmp_path: object) -> None:
    assert vault_cluster.drive("bootstrap").returncode == 0
    plan, custody = vault_cluster.plan, vault_cluster.plan.custody
    original = custody.path.read_text()

    # A member that restarted sealed, and a keys file of another cluster: refused in words.
    vault_cluster.kill("vault-3")
    vault_cluster.start("vault-3")
    data = json.loads(original)
    data["keys_base64"] = [base64.b64encode(os.urandom(33)).decode() for _ in data["keys_base64"]]
    custody.path.write_text(json.dumps(data))
    custody.path.chmod(0o600)
    with pytest.raises(BootstrapError, match="vault-3 rejected the unseal keys"):
        unseal(plan, ["vault-3"], lambda line: None, timeout=30)

    # The keys file missing.
    custody.path.unlink()
    with pytest.raises(CustodyError, match="is missing"):
        unseal(plan, ["vault-3"], lambda line: None)

    # A keys file readable by others.
    custody.path.write_text(original)
    custody.path.chmod(0o644)
    with pytest.raises(CustodyError, match="readable by others"):
        unseal(plan, ["vault-3"], lambda line: None)
    custody.path.chmod(0o600)

    # A node of another cluster: the keys file recorded a different cluster id.
    custody.path.write_text(json.dumps(json.loads(original) | {"cluster_id": "another-cluster"}))
    custody.path.chmod(0o600)
    with pytest.raises(BootstrapError, match="belongs to cluster .* the keys file to another-cluster"):
        unseal(plan, ["vault-3"], lambda line: None, timeout=30)
    custody.path.write_text(original)
    custody.path.chmod(0o600)
    unseal(plan, ["vault-3"], lambda line: None, timeout=30)
    vault_cluster.healthy()

    # An unreachable member: a plan pointing at a closed port.
    broken = VaultPlan(
        ((plan.members[0][0], "http://127.0.4.9:8200"), *plan.members[1:]),
        plan.shares,
        plan.threshold,
        plan.pgp_keys,
        plan.stabilization_s,
        plan.day_one,
        plan.custody,
    )
    with pytest.raises(BootstrapError, match=r"vault-1 \(http://127.0.4.9:8200\) is unreachable"):
        bootstrap(broken, lambda line: None, timeout=2)


def test_vault_cli_reports_a_bad_keys_file_in_one_line(tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "init.json"
    bad.write_text("{not json")
    bad.chmod(0o600)
    result = CliRunner().invoke(cli, ["vault", "unseal", "--keys-file", str(bad), "--lab-root", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: keys file")
    assert "Traceback" not in result.output
