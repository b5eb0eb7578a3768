"""Content-hashed secret versions (:mod:`iklim.plan.secretnames`, :mod:`iklim.deploy.secretversions`), offline.

The live side is the plan tests' snapshot of the Swarm lab (``tests/plan/fixtures/swarm_lab/``,
read through the Engine API; secrets without data), edited here as a rotation would leave it: a
FAKE of the Swarm's state after a deploy, not of an engine's behaviour.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.deploy.secretversions import (
    SecretVersionError,
    remove_versions,
    resolve_secret_versions,
    secret_states,
    unused_versions,
    version_of,
    versioned_name,
)
from iklim.plan.compose import Desired, desired_state
from iklim.plan.diff import Plan, plan
from iklim.plan.targets import lab_overrides

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "plan" / "fixtures" / "swarm_lab"
STACKS = {"iklimco": "docker-stack-infra_db-prod.yml", "vault": "docker-stack-vault.yml"}
NEW = b"a-new-value-for-the-test-0123456789\n"


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "snapshot.json").read_text())
    return data


@pytest.fixture(scope="module")
def desired() -> Desired:
    documents = {stack: yaml.safe_load((FIXTURE / file).read_text()) for stack, file in STACKS.items()}
    hashes: dict[str, str] = json.loads((FIXTURE / "config_sha256.json").read_text())
    return desired_state(documents, hashes, {}, lab_overrides(documents))


def _mounting(desired: Desired, base: str) -> set[str]:
    return {n for n, spec in desired.services.items() if any(r["name"] == base for r in spec["secrets"])}


def _changed(result: Plan) -> dict[str, tuple[str, list[str]]]:
    return {s.name: (s.action, [c.field for c in s.changes]) for s in result.changed}


def _rotated_snapshot(snapshot: dict[str, Any], base: str, name: str) -> dict[str, Any]:
    """The snapshot as the Swarm looks after every service mounting ``base`` moved to ``name``."""
    after = copy.deepcopy(snapshot)
    labels = {"com.docker.stack.namespace": "iklimco"}
    after["secrets"].append({"id": "fakeid" + name[-10:], "name": name, "labels": labels})
    for service in after["services"]:
        for ref in service["spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []:
            if ref["SecretName"] == base:
                ref["SecretName"], ref["SecretID"] = name, "fakeid" + name[-10:]
    return after


def test_the_name_is_the_base_and_ten_hex_digits_of_the_values_sha256() -> None:
    name = versioned_name("redis_password", NEW)
    assert name == "redis_password_" + hashlib.sha256(NEW).hexdigest()[:10]
    assert version_of(name, "redis_password") and version_of("redis_password", "redis_password")
    assert not version_of("redis_password_exporter", "redis_password")
    assert not version_of(name, "redis")


def test_without_value_files_the_unchanged_tree_plans_nothing(desired: Desired, snapshot: dict[str, Any]) -> None:
    resolved, rotations = resolve_secret_versions(desired, snapshot, None)
    assert rotations == []
    assert resolved.services == desired.services
    result = plan(resolved, snapshot)
    assert _changed(result) == {} and result.empty


def test_a_new_value_moves_exactly_the_services_that_mount_it(
    desired: Desired, snapshot: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "redis_password").write_bytes(NEW)
    resolved, rotations = resolve_secret_versions(desired, snapshot, tmp_path)
    name = versioned_name("redis_password", NEW)
    mounting = _mounting(desired, "redis_password")
    assert {"iklimco_redis-1", "iklimco_redis-sentinel-3", "iklimco_redis-exporter"} <= mounting
    assert [(r.base, r.name, set(r.services), r.create, r.stack) for r in rotations] == [
        ("redis_password", name, mounting, True, "iklimco")
    ]
    result = plan(resolved, snapshot)
    assert _changed(result) == {n: ("rolling-restart", ["secrets"]) for n in mounting}
    for service in result.changed:
        (change,) = service.changes
        assert change.detail == f"secrets: redis_password: redis_password -> {name}"
    # the target file keeps the base name: no entrypoint reads another path
    for service in mounting:
        refs = {r["target"]: r["name"] for r in resolved.services[service]["secrets"]}
        assert refs["redis_password"] == name
    assert "redis_password" not in resolved.secrets and sorted(resolved.secrets[name]) == sorted(mounting)
    states = secret_states(result.secrets, rotations)
    assert result.secrets[name] == "missing" and states[name] == "create"
    assert desired.services["iklimco_redis-1"]["secrets"][0]["name"] == "redis_password"  # not changed in place


def test_after_the_rotation_the_tree_keeps_the_live_version(
    desired: Desired, snapshot: dict[str, Any], tmp_path: Path
) -> None:
    name = versioned_name("postgres_replication_password", NEW)
    after = _rotated_snapshot(snapshot, "postgres_replication_password", name)
    resolved, rotations = resolve_secret_versions(desired, after, None)
    assert rotations == [] and _changed(plan(resolved, after)) == {}
    # the same value again: the version exists and is mounted, nothing to do
    (tmp_path / "postgres_replication_password").write_bytes(NEW)
    resolved, rotations = resolve_secret_versions(desired, after, tmp_path)
    assert [r.create for r in rotations] == [False]
    assert _changed(plan(resolved, after)) == {}
    # rotating back to another value plans the Patroni members again
    (tmp_path / "postgres_replication_password").write_bytes(b"back")
    resolved, _ = resolve_secret_versions(desired, after, tmp_path)
    assert set(_changed(plan(resolved, after))) == _mounting(desired, "postgres_replication_password")


def test_a_service_not_yet_live_mounts_its_siblings_version(desired: Desired, snapshot: dict[str, Any]) -> None:
    name = versioned_name("rabbitmq_admin_password", NEW)
    after = _rotated_snapshot(snapshot, "rabbitmq_admin_password", name)
    after["services"] = [s for s in after["services"] if s["name"] != "iklimco_rabbitmq-3"]
    resolved, _ = resolve_secret_versions(desired, after, None)
    refs = {r["target"]: r["name"] for r in resolved.services["iklimco_rabbitmq-3"]["secrets"]}
    assert refs["rabbitmq_admin_password"] == name and refs["rabbitmq_erlang_cookie"] == "rabbitmq_erlang_cookie"


def test_a_file_named_after_no_secret_is_refused(desired: Desired, snapshot: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "redis_pasword").write_bytes(NEW)
    with pytest.raises(SecretVersionError, match="redis_pasword") as caught:
        resolve_secret_versions(desired, snapshot, tmp_path)
    assert NEW.decode().strip() not in str(caught.value)


def test_an_empty_value_is_refused(desired: Desired, snapshot: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "redis_password").write_bytes(b"\n")
    with pytest.raises(SecretVersionError, match="empty"):
        resolve_secret_versions(desired, snapshot, tmp_path)


def test_unused_versions_are_the_versioned_names_no_service_mounts(snapshot: dict[str, Any]) -> None:
    name = versioned_name("redis_password", NEW)
    old = versioned_name("redis_password", b"old")
    after = _rotated_snapshot(snapshot, "redis_password", name)
    after["secrets"].append({"id": "x", "name": old, "labels": {}})
    assert unused_versions(after, ["redis_password"]) == [old]  # never the base, never the mounted one
    assert unused_versions(snapshot, ["redis_password"]) == []


class _FakeSecret:
    def __init__(self, name: str, refused: int | None = None) -> None:
        self.name, self.refused, self.removed = name, refused, False

    def remove(self) -> None:
        from docker.errors import APIError

        if self.refused:
            response = type("R", (), {"status_code": self.refused, "reason": "in use"})()
            raise APIError("in use", response=response, explanation="secret is in use")  # type: ignore[arg-type]
        self.removed = True


def test_remove_versions_keeps_a_secret_the_engine_says_is_in_use() -> None:
    """FAKE client (the Engine's 409 for a mounted secret is exercised by the Swarm-lab test)."""
    gone, used = _FakeSecret("a_0123456789"), _FakeSecret("b_0123456789", refused=409)
    client = type("C", (), {"secrets": type("S", (), {"list": staticmethod(lambda: [gone, used])})()})()
    assert remove_versions(client, ["a_0123456789", "b_0123456789", "absent_0123456789"]) == ["a_0123456789"]
    assert gone.removed and not used.removed


def test_plan_cli_refuses_a_bad_secrets_dir_before_any_engine(tmp_path: Path) -> None:
    (tmp_path / "not_a_secret").write_text("value-that-must-not-be-printed")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), DOCKER_HOST="unix:///nonexistent/iklim-test.sock")
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "plan", "--target", "prod", "--secrets-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not_a_secret" in errors[0] and proc.stdout == ""
    assert "value-that-must-not-be-printed" not in proc.stdout + proc.stderr


def test_a_value_entry_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    import os

    from iklim.plan.secretnames import SecretVersionError, value_files

    (tmp_path / "redis_password").mkdir()
    with pytest.raises(SecretVersionError, match="not a regular file: redis_password"):
        value_files(tmp_path, ["redis_password"])
    (tmp_path / "redis_password").rmdir()
    os.mkfifo(tmp_path / "redis_password")
    with pytest.raises(SecretVersionError, match="not a regular file"):
        value_files(tmp_path, ["redis_password"])
    (tmp_path / "redis_password").unlink()
    (tmp_path / "redis_password").write_text("value")
    assert value_files(tmp_path, ["redis_password"]) == {"redis_password": tmp_path / "redis_password"}
