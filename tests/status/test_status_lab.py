"""``iklim status`` against the real lab: healthy when fresh; one member stopped -> only its
component degraded, with the reason naming it; two of three etcd members stopped -> etcd down.

Every test that stops a member starts it again and waits until ``iklim status`` is all healthy
before it returns, because the lab is shared by the whole session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iklim.components.trust import ca_file
from iklim.lab.context import LabContext
from iklim.lab.orchestrator import components
from iklim.lab.probes import http_json
from iklim.status.output import JSON_SCHEMA
from iklim.vault.plan import member_urls

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "environments" / "prod.yaml"
CLUSTERS = {"etcd", "patroni", "redis", "rabbitmq", "vault"}


def run_status(lab: LabContext, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, as a separate process, against the session's lab."""
    argv = [
        sys.executable,
        "-c",
        "from iklim.cli import main; main()",
        "status",
        "--env",
        str(MODEL),
        "--root",
        str(lab.root),
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO)


def status_json(lab: LabContext, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_status(lab, "--format", "json", *args)
    assert done.returncode in (0, 1, 2), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(data, JSON_SCHEMA)
    return done.returncode, data


def by_component(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["component"]: c for c in data["components"]}


def wait_for_status(
    lab: LabContext, accept: Callable[[int, dict[str, Any]], bool], timeout: float, what: str
) -> tuple[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    code, data = status_json(lab)
    while not accept(code, data):
        if time.monotonic() > deadline:
            summary = {n: (c["status"], c["reason"]) for n, c in by_component(data).items()}
            pytest.fail(f"{what} not reached within {timeout} s; last status: {summary}")
        time.sleep(0.5)
        code, data = status_json(lab)
    return code, data


def all_healthy(code: int, data: dict[str, Any]) -> bool:
    return code == 0 and all(c["status"] == "healthy" for c in data["components"])


def restore(lab: LabContext, component: str) -> None:
    """Start the component's stopped processes (running ones are kept) and wait until it is ready."""
    comp = next(c for c in components() if c.name == component)
    for spec in comp.processes(lab):
        lab.supervisor.start(spec)
    comp.wait_ready(lab, time.monotonic() + 120)
    wait_for_status(lab, all_healthy, 60, f"all healthy after restarting {component}")


def test_fresh_lab_is_all_healthy_in_every_format(lab: LabContext) -> None:
    code, data = wait_for_status(lab, all_healthy, 30, "all healthy")
    assert data["target"] == "lab" and data["status"] == "healthy"
    found = by_component(data)
    assert CLUSTERS | {"prometheus"} <= set(found)
    for name in CLUSTERS:
        assert found[name]["leader"] or name == "rabbitmq", found[name]
        assert found[name]["tolerates"] >= 1 and "tolerates" in found[name]["reason"], found[name]
        assert all(m["ok"] for m in found[name]["members"]), found[name]
    assert "autopilot not checked" not in found["vault"]["reason"]  # the lab's token is used
    assert found["etcd"]["reason"].startswith("3/3 members, leader etcd-")
    skipped = {s["component"] for s in data["skipped"]}
    assert not skipped & set(found)
    text = run_status(lab)
    assert text.returncode == 0 and "etcd" in text.stdout and "healthy" in text.stdout
    exposition = run_status(lab, "--format", "prometheus")
    assert exposition.returncode == 0
    for name in CLUSTERS:
        assert f'iklim_component_status{{component="{name}",target="lab"}} 0' in exposition.stdout


def test_status_answers_in_under_a_second(lab: LabContext) -> None:
    begin = time.monotonic()
    done = run_status(lab, "--format", "json")
    took = time.monotonic() - begin
    assert done.returncode == 0, done.stdout
    assert took < 1.0, f"iklim status took {took:.2f} s"


def test_output_never_contains_a_secret(lab: LabContext) -> None:
    secrets = [p.read_text().strip() for p in (lab.root / "secrets").iterdir() if p.is_file() and p.suffix != ".json"]
    custody = json.loads((lab.root / "secrets" / "vault-init.json").read_text())
    secrets += [custody["root_token"], *custody.get("keys", []), *custody.get("keys_base64", [])]
    assert len(secrets) > 5
    for fmt in ("text", "json", "prometheus"):
        done = run_status(lab, "--format", fmt)
        for secret in secrets:
            assert secret not in done.stdout + done.stderr, f"a secret leaked in --format {fmt}"


# --- one member of each cluster stopped in turn ---------------------------------------------------


def patroni_replica(lab: LabContext) -> str:
    patroni = next(c for c in components() if c.name == "patroni")
    cluster: Any = patroni.cluster(lab)  # type: ignore[attr-defined]  # https with the lab CA
    return str(next(m["name"] for m in cluster["members"] if m["role"] != "leader"))


def redis_replica(lab: LabContext) -> str:
    import redis

    sentinel = redis.Redis(lab.target.host("redis-sentinel-1"), 26379, socket_timeout=2)
    try:
        master = sentinel.sentinel_master(lab.env.services.redis.master_name)
    finally:
        sentinel.close()
    return next(f"redis-{i}" for i in (1, 2, 3) if lab.target.host(f"redis-{i}") != master["ip"])


def vault_standby(lab: LabContext) -> str:
    import urllib.error

    for i in (1, 2, 3):
        try:
            url = member_urls(lab.env, lab.target)[f"vault-{i}"]
            http_json(f"{url}/v1/sys/health", ca_file=ca_file(lab.env, lab.target, "vault"))
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                return f"vault-{i}"
    raise AssertionError("no Vault standby")


VICTIMS: dict[str, Callable[[LabContext], str]] = {
    "etcd": lambda lab: "etcd-2",
    "patroni": patroni_replica,
    "redis": redis_replica,
    "rabbitmq": lambda lab: "rabbitmq-3",
    "vault": vault_standby,
}


@pytest.mark.parametrize("component", sorted(VICTIMS))
def test_one_member_stopped_degrades_only_its_component(lab: LabContext, component: str) -> None:
    wait_for_status(lab, all_healthy, 60, "all healthy before the drill")
    member = VICTIMS[component](lab)
    lab.supervisor.stop(member)
    try:
        code, data = wait_for_status(
            lab,
            lambda code, data: by_component(data)[component]["status"] != "healthy",
            15,
            f"{component} to notice {member} stopped",
        )
        found = by_component(data)
        assert code == 1, found
        assert found[component]["status"] == "degraded", found[component]
        assert member in found[component]["reason"], found[component]["reason"]
        others = {n: (c["status"], c["reason"]) for n, c in found.items() if n != component}
        assert all(s == "healthy" for s, _ in others.values()), others
        assert any(not m["ok"] and member in m["name"] for m in found[component]["members"]) or component == "redis"
    finally:
        restore(lab, component)


def test_two_of_three_etcd_members_stopped_is_down(lab: LabContext) -> None:
    wait_for_status(lab, all_healthy, 60, "all healthy before the drill")
    try:
        for member in ("etcd-2", "etcd-3"):
            lab.supervisor.stop(member)
        code, data = status_json(lab, "-c", "etcd")
        etcd = by_component(data)["etcd"]
        assert code == 2 and etcd["status"] == "down", etcd
        assert "quorum (2) lost" in etcd["reason"] and "leader none" in etcd["reason"], etcd["reason"]
        assert "etcd-2" in etcd["reason"] and "etcd-3" in etcd["reason"]
    finally:
        restore(lab, "etcd")
        restore(lab, "patroni")  # Patroni rides out a short DCS outage; wait until it has


def test_an_etcd_alarm_degrades_etcd_and_names_the_alarm(lab: LabContext) -> None:
    """A NOSPACE alarm (raised through the v3 API, as etcd raises it when the quota is exceeded)
    makes ``/health`` false on every member: etcd is degraded with the alarm named, not down."""
    from iklim.drill.labplanned import etcd_api

    wait_for_status(lab, all_healthy, 60, "all healthy before the alarm")
    member_id = etcd_api(lab, "etcd-1", "/v3/maintenance/status")["header"]["member_id"]
    alarm = {"memberID": member_id, "alarm": "NOSPACE"}
    try:
        etcd_api(lab, "etcd-1", "/v3/maintenance/alarm", {"action": "ACTIVATE", **alarm})
        code, data = status_json(lab, "-c", "etcd")
        etcd = by_component(data)["etcd"]
        assert code == 1 and etcd["status"] == "degraded", etcd
        assert f"NOSPACE on {member_id}" in etcd["reason"] and "3/3 members" in etcd["reason"], etcd["reason"]
    finally:
        etcd_api(lab, "etcd-1", "/v3/maintenance/alarm", {"action": "DEACTIVATE", **alarm})
    wait_for_status(lab, all_healthy, 60, "all healthy after the alarm is cleared")
