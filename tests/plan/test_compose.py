"""The compose -> service spec conversion (docker stack deploy's rules) and its inputs: durations, interpolation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from iklim.model.loader import load_environment
from iklim.plan.compose import desired_state
from iklim.plan.durations import to_ns
from iklim.plan.interpolate import ComposeError, interpolate, merge
from iklim.plan.targets import stack_documents

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return stack_documents(REPO, load_environment(REPO / "environments" / "prod.yaml"))


def _hashes(documents: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {c["file"]: "0" * 64 for d in documents.values() for c in (d.get("configs") or {}).values()}


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10s", 10 * 10**9),
        ("1m30s", 90 * 10**9),
        ("500ms", 5 * 10**8),
        ("1.5s", 15 * 10**8),
        ("0", 0),
        ("2h", 7200 * 10**9),
    ],
)
def test_durations_in_go_syntax(text: str, ns: int) -> None:
    assert to_ns(text) == ns


@pytest.mark.parametrize("text", ["10", "-1s", "", "1 minute", "s"])
def test_durations_refuse_what_go_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        to_ns(text)


def test_interpolation_as_the_cli_does() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("a $$b ${SET} $SET", env) == "a $b v v"
    assert interpolate("${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}", env) == "d d  d"
    with pytest.raises(ComposeError):
        interpolate("${UNSET:?needed}", env)


def test_merge_is_composes_override() -> None:
    base = {"services": {"a": {"deploy": {"replicas": 1, "mode": "replicated"}, "ports": [1]}}}
    out = merge(base, {"services": {"a": {"deploy": {"replicas": 0}, "ports": [2]}}})
    assert out["services"]["a"] == {"deploy": {"replicas": 0, "mode": "replicated"}, "ports": [2]}


def test_the_etcd_member_converts_as_stack_deploy_would(documents: dict[str, dict[str, Any]]) -> None:
    desired = desired_state(documents, _hashes(documents), {})
    spec = desired.services["iklimco_etcd-1"]
    assert spec["image"] == "quay.io/coreos/etcd:v3.5.17"
    assert spec["args"][0] == "/usr/local/bin/etcd" and spec["command"] is None  # command -> Args
    assert "ETCD_NAME=etcd-01" in spec["env"] and spec["env"] == sorted(spec["env"])
    assert spec["networks"] == [{"target": "iklim-overlay", "aliases": ["etcd-01", "etcd-1"]}]
    assert spec["mounts"] == [
        {
            "type": "volume",
            "source": "iklimco_etcd-1-data",
            "target": "/etcd-data",
            "read_only": False,
            "driver": "local",
        }
    ]
    assert {p["mode"] for p in spec["ports"]} == {"host"}
    assert spec["update_config"]["monitor"] == 80 * 10**9 and spec["update_config"]["order"] == "stop-first"
    assert spec["labels"] == {"com.docker.stack.namespace": "iklimco"}
    assert spec["stop_grace_period"] == 30 * 10**9
    assert spec["endpoint_mode"] == "vip" and spec["replicas"] == 1


def test_shell_dollars_are_unescaped(documents: dict[str, dict[str, Any]]) -> None:
    """The stacks write ``$$`` for a shell's ``$``; the service spec gets one ``$`` (compose interpolation)."""
    desired = desired_state(documents, _hashes(documents), {})
    args = [a for s in desired.services.values() for a in (s["args"] or [])]
    raw = [a for d in documents.values() for s in d["services"].values() for a in (s.get("command") or [])]
    assert any("$$" in a for a in raw)
    assert not any("$$" in a for a in args)


def test_configs_are_named_by_content_hash_and_secrets_are_external(documents: dict[str, dict[str, Any]]) -> None:
    desired = desired_state(documents, _hashes(documents), {})
    vault = desired.services["vault_vault-1"]["configs"]
    assert vault == [
        {"name": documents["vault"]["configs"]["vault_vault-1.hcl"]["name"], "target": "/vault/config/vault.hcl",
         "uid": "0", "gid": "0", "mode": 0o444}
    ]  # fmt: skip
    assert "redis_password" in desired.secrets
    assert all(name in desired.configs for s in desired.services.values() for name in (c["name"] for c in s["configs"]))


def test_lab_override_sets_dnsrr_and_scales_unavailable_images(documents: dict[str, dict[str, Any]]) -> None:
    from iklim.plan.targets import lab_overrides

    desired = desired_state(documents, _hashes(documents), {}, lab_overrides(documents))
    assert {s["endpoint_mode"] for s in desired.services.values()} == {"dnsrr"}
    assert desired.services["iklimco_mongodb-1"]["replicas"] == 0
    assert desired.services["iklimco_etcd-1"]["replicas"] == 1


def test_an_unmodelled_key_is_refused(documents: dict[str, dict[str, Any]]) -> None:
    """A key the conversion does not model would make the plan blind to it: refused, naming it."""
    changed = copy.deepcopy(documents)
    changed["iklimco"]["services"]["etcd-1"]["cap_add"] = ["NET_ADMIN"]
    with pytest.raises(ComposeError, match="etcd-1.*cap_add"):
        desired_state(changed, _hashes(changed), {})


def test_an_undeclared_secret_is_refused(documents: dict[str, dict[str, Any]]) -> None:
    changed = copy.deepcopy(documents)
    changed["iklimco"]["services"]["redis-1"]["secrets"].append("no_such_secret")
    with pytest.raises(ComposeError, match="no_such_secret"):
        desired_state(changed, _hashes(changed), {})
