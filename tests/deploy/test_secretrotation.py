"""The rotation hooks' offline part: which secrets they carry out, the refusal of the others, the
value a container derives from a file. The engine steps run on the Swarm lab
(tests/swarmlab/test_deploy_rotation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iklim.components.target import ProductionTarget
from iklim.deploy.api import DeployError
from iklim.deploy.rotation import CLUSTER_OF, SecretRotationHooks, password, replication_user
from iklim.deploy.secretversions import SecretRotation
from iklim.model.loader import load_environment

ROOT = Path(__file__).resolve().parents[2]


def _rotation(base: str, tmp_path: Path) -> SecretRotation:
    path = tmp_path / base
    path.write_bytes(b"x" * 32 + b"\n")
    return SecretRotation(base, f"{base}_0123456789", path, ("iklimco_a",), True, "iklimco")


def test_the_three_engine_secrets_map_to_their_clusters() -> None:
    assert CLUSTER_OF == {
        "postgres_replication_password": "patroni",
        "redis_password": "redis",
        "rabbitmq_admin_password": "rabbitmq",
    }


def test_a_secret_without_a_procedure_is_refused_before_anything_changes(tmp_path: Path) -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    changes = [_rotation("redis_password", tmp_path), _rotation("postgres_superuser_password", tmp_path)]
    with pytest.raises(DeployError, match="no rotation procedure for postgres_superuser_password"):
        SecretRotationHooks(env, object(), changes)  # type: ignore[arg-type]


def test_hooks_do_nothing_for_a_cluster_without_a_rotation(tmp_path: Path) -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    hooks = SecretRotationHooks(env, object(), [_rotation("patroni_restapi_password", tmp_path)])  # type: ignore[arg-type]
    hooks.before_cluster("patroni", ["iklimco_patroni-1"])  # a restart is the whole rotation
    hooks.after_cluster("redis", ["iklimco_redis-1"])
    assert hooks.done == []


def test_the_password_is_what_cat_in_a_command_substitution_gives() -> None:
    assert password(b"abc\n\n") == "abc" and password(b" a b \n") == " a b "


def test_the_replication_user_is_the_rendered_one() -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    assert replication_user(env, ProductionTarget(env)) == "replicator"


def test_the_old_redis_password_is_retired_after_the_deploy_not_after_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter and other clients of the secret roll after the cluster: retiring the old value
    at the cluster's end refused them until then (about 11 s of failed scrapes on the Swarm lab)."""
    from iklim.deploy import rotationsteps

    calls: list[str] = []
    monkeypatch.setattr(rotationsteps, "redis_check", lambda ctx, new, progress: calls.append("check"))
    monkeypatch.setattr(rotationsteps, "redis_retire_old", lambda ctx, new, progress: calls.append("retire"))
    env = load_environment(ROOT / "environments" / "prod.yaml")
    hooks = SecretRotationHooks(env, object(), [_rotation("redis_password", tmp_path)])  # type: ignore[arg-type]
    hooks.after_cluster("redis", ["iklimco_redis-1"])
    assert calls == ["check"]
    hooks.after_deploy()
    assert calls == ["check", "retire"] and hooks.done == ["redis_password:after", "redis_password:retired"]


def test_a_value_that_is_not_text_is_refused_before_anything_changes(tmp_path: Path) -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    change = _rotation("redis_password", tmp_path)
    change.source.write_bytes(b"\xff\xfe-not-text")
    with pytest.raises(DeployError, match="redis_password: the new value is not UTF-8") as caught:
        SecretRotationHooks(env, object(), [change])  # type: ignore[arg-type]
    assert "not-text" not in str(caught.value)


def test_a_rolled_back_rotation_puts_the_old_value_back_and_skips_only_the_blocked_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found on the Swarm lab: after a failed Patroni rotation the rolled-back replicas (old value)
    could not stream, because the role kept the new one; and the demoted primary cannot stream
    between the hand-over and its own restart, which the runner's health wait required."""
    from iklim.deploy import rotationsteps

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(rotationsteps, "patroni_alter_role", lambda ctx, user, new, p: calls.append(("role", new)))
    monkeypatch.setattr(rotationsteps, "rabbit_change_password", lambda ctx, cur, new, p: calls.append(("rabbit", new)))

    class Context:  # as the drill seat's: overrides win over the mounted (old) version
        target = ProductionTarget(load_environment(ROOT / "environments" / "prod.yaml"))
        overrides: dict[str, str] = {}

        def secret(self, name: str) -> str:
            return self.overrides.get(name, f"old-{name}")

    env = load_environment(ROOT / "environments" / "prod.yaml")
    changes = [_rotation("postgres_replication_password", tmp_path), _rotation("rabbitmq_admin_password", tmp_path)]
    ctx = Context()
    hooks = SecretRotationHooks(env, ctx, changes)  # type: ignore[arg-type]
    assert hooks.rejoin_blocked("patroni") and not hooks.rejoin_blocked("rabbitmq")
    hooks.before_cluster("patroni", ["iklimco_patroni-1"])
    hooks.before_cluster("rabbitmq", ["iklimco_rabbitmq-1"])
    new = "x" * 32
    assert calls == [("role", new), ("rabbit", new)]
    assert ctx.secret("rabbitmq_admin_password") == new, "the health probes log in with the value in effect"
    assert hooks.undo() == []
    assert ctx.secret("rabbitmq_admin_password") == "old-rabbitmq_admin_password"
    assert calls[2:] == [("rabbit", "old-rabbitmq_admin_password"), ("role", "old-postgres_replication_password")]


def _pair(tmp_path: Path, member: str) -> list[SecretRotation]:
    """A real pair of ``member`` issued by a fresh CA, as value files."""
    from datetime import UTC, datetime

    from iklim.pki.ca import create_ca, issue
    from iklim.pki.members import member as member_of

    env = load_environment(ROOT / "environments" / "prod.yaml")
    now = datetime.now(UTC)
    one = member_of(env, member)
    pem = issue(one, create_ca("test CA", 30, now), 10, now)
    out = []
    for base, data in ((one.crt_name, pem.cert), (one.key_name, pem.key)):
        (tmp_path / base).write_bytes(data)
        out.append(SecretRotation(base, f"{base}_0123456789", tmp_path / base, ("vault_a",), True, "vault"))
    return out


def test_a_member_certificate_renewal_is_a_restart_but_a_new_ca_is_refused(tmp_path: Path) -> None:
    """Issue 17: a member's certificate and key are read when its container starts (a renewal is
    a new version and the member's restart); the CA is trusted by every member and client."""
    env = load_environment(ROOT / "environments" / "prod.yaml")
    hooks = SecretRotationHooks(env, object(), _pair(tmp_path, "vault-2"))  # type: ignore[arg-type]
    hooks.before_cluster("vault", ["vault_vault-2"])  # nothing to do inside the engine
    with pytest.raises(DeployError, match="no rotation procedure for tls_ca_crt"):
        SecretRotationHooks(env, object(), [_rotation("tls_ca_crt", tmp_path)])  # type: ignore[arg-type]


def test_a_renewal_needs_both_files_of_a_matching_pair(tmp_path: Path) -> None:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    (tmp_path / "a").mkdir()
    crt, key = _pair(tmp_path / "a", "vault-2")
    with pytest.raises(DeployError, match="tls_vault_2_crt and tls_vault_2_key renew together"):
        SecretRotationHooks(env, object(), [crt])  # type: ignore[arg-type]
    (tmp_path / "b").mkdir()
    _, other_key = _pair(tmp_path / "b", "vault-2")
    with pytest.raises(DeployError, match="tls_vault_2_key is not the key of tls_vault_2_crt"):
        SecretRotationHooks(env, object(), [crt, other_key])  # type: ignore[arg-type]
    crt.source.write_bytes(b"garbage, not a certificate\n")
    with pytest.raises(DeployError, match="tls_vault_2_crt: not a PEM certificate"):
        SecretRotationHooks(env, object(), [crt, key])  # type: ignore[arg-type]
