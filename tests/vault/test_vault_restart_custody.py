"""Real OpenBao x3 (issue 16): every member restarted with its data kept (production's "all Vault
members restarted", which failed with "unexpected StopIteration" before a leader was elected),
and key custody around a real `sys/init`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from iklim.vault.bootstrap import bootstrap, unseal
from iklim.vault.custody import CustodyError, KeyCustody
from iklim.vault.dayone import apply_day_one
from iklim.vault.plan import VaultPlan
from iklim.vault.snapshot import observe

from .conftest import VaultCluster  # noqa: TID252
from .test_vault_bootstrap import assert_no_secret_leaked  # noqa: TID252

MEMBERS = ("vault-1", "vault-2", "vault-3")


def _restart_all(cluster: VaultCluster) -> None:
    for member in MEMBERS:
        cluster.ctx.supervisor.stop(member, grace=10)
    for member in MEMBERS:
        cluster.start(member)


def test_every_member_restarted_with_data_kept_rebootstraps_to_healthy(vault_cluster: VaultCluster) -> None:
    assert vault_cluster.drive("bootstrap").returncode == 0
    for _ in range(2):
        _restart_all(vault_cluster)
        result = vault_cluster.drive("bootstrap")
        assert result.returncode == 0, result.stderr
        assert "StopIteration" not in result.stderr and "init: already initialised" in result.stderr
        vault_cluster.healthy()
    assert_no_secret_leaked(vault_cluster)


def test_day_one_right_after_an_unseal_of_every_restarted_member_waits_for_a_leader(
    vault_cluster: VaultCluster,
) -> None:
    assert vault_cluster.drive("bootstrap").returncode == 0
    _restart_all(vault_cluster)
    unseal(vault_cluster.plan, [], lambda line: None)  # no leader elected yet at this moment
    assert apply_day_one(vault_cluster.plan, lambda line: None) == []  # found configured, no StopIteration
    vault_cluster.healthy()


def _with_custody(plan: VaultPlan, path: Path) -> VaultPlan:
    return dataclasses.replace(plan, custody=KeyCustody(path, plan.custody.pgp))


def test_an_unwritable_keys_path_is_refused_before_init_and_the_cluster_stays_uninitialised(
    vault_cluster: VaultCluster, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where the keys folder goes")
    plan = _with_custody(vault_cluster.plan, tmp_path / "blocker" / "vault-init.json")
    with pytest.raises(CustodyError, match="cannot be written .*refusing to initialise Vault"):
        bootstrap(plan, lambda line: None, timeout=60)
    assert not any(m.initialized for m in observe(plan.clients()).members), "init must not have run"
    result = vault_cluster.drive("bootstrap")  # the default, writable path: the same cluster forms
    assert result.returncode == 0, result.stderr
    vault_cluster.healthy()


def test_a_keys_write_failing_after_init_rescues_the_shares_and_a_rerun_finishes(
    vault_cluster: VaultCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iklim.vault.safewrite import write_atomic as real_write

    calls: list[Path] = []

    def fails_once(path: Path, data: bytes, mode: int = 0o600) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data, mode)

    monkeypatch.setattr("iklim.vault.custody.write_atomic", fails_once)
    plan = vault_cluster.plan
    with pytest.raises(CustodyError, match="Vault is initialised but its keys file .* could not be written") as caught:
        bootstrap(plan, lambda line: None, timeout=60)
    (rescued,) = plan.custody.path.parent.glob("vault-init.rescue-*.json")
    assert str(rescued) in str(caught.value)
    data: dict[str, Any] = json.loads(rescued.read_text())
    assert not any(secret in str(caught.value) for secret in [*data["keys_base64"], data["root_token"]])
    rescued.rename(plan.custody.path)  # what the message says to do
    result = vault_cluster.drive("bootstrap")
    assert result.returncode == 0, result.stderr
    assert "init: already initialised" in result.stderr
    vault_cluster.healthy()
