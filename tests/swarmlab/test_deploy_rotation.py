"""Secret rotation on the running Swarm lab (issue 14): the PostgreSQL replication password, the
Redis password and the RabbitMQ admin password, each end to end.

Per secret: a new random value in a folder of its own; ``iklim plan --secrets-dir`` plans exactly
the services that mount it, as rolling restarts onto ``<base>_<sha256[:10]>``; then, inside the
drill seat (the overlay's namespace, production's addressing, as the drill's Swarm-lab driver
runs), the versioned secret is created, :class:`~iklim.deploy.rotation.SecretRotationHooks` run
around a test-local roll (each service's secret reference moved through the Docker SDK, one member
at a time, replicas first, the leader after a hand-over, then the companions and the stateless
services; each waits for its new task to run healthy), and the verification: the new value logs in
on every member and the old one is refused (psycopg replication connections; redis AUTH; the
RabbitMQ management API), the engines' on-disk copies hold the new value only (Patroni's pgpass,
the data directory's redis.conf and sentinel.conf), and a failover afterwards succeeds (Patroni
switchover, Sentinel failover) with the replicas streaming again. Back on the host: the unchanged
tree plans nothing (the live version is kept); then the original value is rotated back the same
way, the unused version removed, and the tree plans nothing again.

The roll is this test's (until ``iklim deploy``'s runner is merged); the hooks are the product.
Each secret is one pytest item (run one at a time under the lab lock; each < 10 min).
Run: ``flock /tmp/iklim-lab.lock python3 -m pytest -q -m swarmlab tests/swarmlab/test_deploy_rotation.py -k redis``.
This file is also the seated script (``python3 test_deploy_rotation.py rotate|restore ...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # the seated run is a plain script
    sys.path.insert(0, str(SRC))

from iklim.components.base import member_names  # noqa: E402
from iklim.model.loader import load_environment  # noqa: E402
from iklim.model.schema import Environment  # noqa: E402

pytestmark = pytest.mark.swarmlab

ENV_FILE = ROOT / "environments" / "prod.yaml"
PYENV = dict(os.environ, PYTHONPATH=str(SRC))
CLUSTERS = {
    "postgres_replication_password": "patroni",
    "redis_password": "redis",
    "rabbitmq_admin_password": "rabbitmq",
}
CONVERGE_S = 240.0


# --- the seated part: runs in the drill seat's network namespace ---------------------------------


def _log(line: str) -> None:
    print(f"[rotation] {line}", file=sys.stderr, flush=True)


class _Current:
    """The seat's context with one secret's value replaced by the value in effect now."""

    def __init__(self, ctx: Any, overrides: dict[str, str]) -> None:
        self.ctx, self.overrides = ctx, overrides
        self.env, self.target = ctx.env, ctx.target

    def secret(self, name: str) -> str:
        return self.overrides[name] if name in self.overrides else str(self.ctx.secret(name))


def _engine(hostname: str) -> Any:
    import docker

    from iklim.swarmlab import paths

    return docker.DockerClient(base_url=f"unix://{paths.node_socket(hostname)}", timeout=60)


def _converged(manager: Any, service: str, secret: str) -> bool:
    """One running task whose spec mounts ``secret`` and whose container is healthy; raises on a paused update."""
    inspected = manager.api.inspect_service(service)
    state = (inspected.get("UpdateStatus") or {}).get("State", "")
    if state in ("paused", "rollback_started", "rollback_completed", "rollback_paused"):
        raise RuntimeError(f"{service}: the update is {state}")
    tasks = manager.api.tasks(filters={"service": service, "desired-state": "running"})
    for task in tasks:
        refs = task["Spec"]["ContainerSpec"].get("Secrets") or []
        status = task.get("Status", {})
        cid = (status.get("ContainerStatus") or {}).get("ContainerID")
        if status.get("State") != "running" or not cid or not any(r["SecretName"] == secret for r in refs):
            continue
        node = manager.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
        client = _engine(node)
        try:
            health = (client.api.inspect_container(cid)["State"].get("Health") or {}).get("Status", "healthy")
        finally:
            client.close()
        return health == "healthy" and len(tasks) == 1
    return False


def roll(manager: Any, service: str, base: str, secret: str) -> float:
    """Move ``service``'s reference to ``base`` onto the secret ``secret`` and wait until converged; seconds."""
    began = time.monotonic()
    current = manager.services.get(service)
    template = current.attrs["Spec"]["TaskTemplate"]
    secret_id = manager.secrets.get(secret).id
    for ref in template["ContainerSpec"]["Secrets"]:
        if ref["File"]["Name"] == base:
            ref["SecretName"], ref["SecretID"] = secret, secret_id
    manager.api.update_service(current.id, current.version, task_template=template, fetch_current_spec=True)
    while not _converged(manager, service, secret):
        if time.monotonic() - began > CONVERGE_S:
            raise RuntimeError(f"{service}: not converged {CONVERGE_S:.0f} s after the update")
        time.sleep(1.0)
    _log(f"{service} now mounts {secret} ({time.monotonic() - began:.1f} s)")
    return time.monotonic() - began


def _wait(what: str, check: Callable[[], bool], timeout: float = 90.0) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - began


def _container_file(driver: Any, member: str, path: str) -> str:
    node, cid = driver.task_container(member)
    client = _engine(node)
    try:
        code, output = client.containers.get(cid).exec_run(["cat", path])
    finally:
        client.close()
    if code != 0:
        raise RuntimeError(f"{member}: cannot read {path}")
    return str(output.decode())


def _pg_login(ctx: Any, member: str, password: str) -> str:
    """``ok``, ``refused`` (password authentication failed) or the error's class, for a replication connection."""
    import psycopg

    address = ctx.target.endpoint(member, "postgres")
    try:
        psycopg.connect(
            host=address.host, port=address.port, user="replicator", password=password,
            dbname="replication", replication="true", connect_timeout=5,
        ).close()  # fmt: skip
        return "ok"
    except psycopg.OperationalError as exc:
        return "refused" if "password authentication failed" in str(exc) else type(exc).__name__


def _redis_login(ctx: Any, member: str, password: str) -> str:
    import redis

    address = ctx.target.endpoint(member, "redis")
    client = redis.Redis(address.host, address.port, password=password, socket_timeout=5.0)
    try:
        client.ping()
        return "ok"
    except redis.AuthenticationError:
        return "refused"
    except redis.RedisError as exc:
        return type(exc).__name__
    finally:
        client.close()


def _rabbit_login(ctx: Any, member: str, password: str) -> str:
    from iklim.deploy.rotationsteps import _accepted

    address = ctx.target.endpoint(member, "management")
    answer = _accepted(f"http://{address.host}:{address.port}", password)
    return {True: "ok", False: "refused", None: "unreachable"}[answer]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def verify(env: Environment, ctx: Any, driver: Any, base: str, new: str, old: str) -> dict[str, Any]:
    """Logins with the new and the old value on every member, and the engines' on-disk copies."""
    checks: dict[str, Any] = {}
    if base == "postgres_replication_password":
        for member in member_names("patroni", env.services.patroni.members):
            checks[f"{member} new"] = _pg_login(ctx, member, new)
            checks[f"{member} old"] = _pg_login(ctx, member, old)
            pgpass = _container_file(driver, member, "/tmp/pgpass")
            checks[f"{member} pgpass"] = "new" if new in pgpass and old not in pgpass else "stale"
    elif base == "redis_password":
        for member in member_names("redis", env.services.redis.members):
            checks[f"{member} new"] = _redis_login(ctx, member, new)
            checks[f"{member} old"] = _redis_login(ctx, member, old)
            conf = _container_file(driver, member, "/data/redis.conf")
            stale = old in conf or _sha(old) in conf
            checks[f"{member} /data/redis.conf"] = "new" if _sha(new) in conf and not stale else "stale"
        for member in member_names("redis-sentinel", env.services.redis.sentinel.members):
            conf = _container_file(driver, member, "/data/sentinel.conf")
            lines = [line.split() for line in conf.splitlines() if line.startswith("sentinel auth-pass")]
            values = {fields[-1].strip('"') for fields in lines}
            checks[f"{member} auth-pass"] = "new" if values == {new} else "stale"
    else:
        for member in member_names("rabbitmq", env.services.rabbitmq.members):
            checks[f"{member} new"] = _rabbit_login(ctx, member, new)
            checks[f"{member} old"] = _rabbit_login(ctx, member, old)
    return checks


def failover(env: Environment, ctx: Any, base: str) -> dict[str, Any]:
    """A planned failover through the cluster's own API and the cluster working after it."""
    from iklim.deploy.rotationsteps import patroni_replicas_streaming
    from iklim.drill.labseams import PatroniSeam, RedisSeam

    if base == "rabbitmq_admin_password":
        return {}
    seam = PatroniSeam(ctx) if base == "postgres_replication_password" else RedisSeam(ctx)
    leader = seam.observe(None).leader
    began = time.monotonic()
    seam.switchover(str(leader))
    _wait("a new leader", lambda: seam.observe(str(leader)).leader not in (None, leader))
    if isinstance(seam, PatroniSeam):
        patroni_replicas_streaming(ctx, _log, timeout=120)
    else:
        _wait("every replica linked", lambda: _redis_links_up(ctx, env, seam.observe(None).leader), 120)
    after = seam.observe(None).leader
    return {"from": leader, "to": after, "seconds": round(time.monotonic() - began, 1)}


def _redis_links_up(ctx: Any, env: Environment, master: str | None) -> bool:
    """Every member but the master Sentinel names reports ``master_link_status:up`` (it authenticated)."""
    import redis

    from iklim.deploy.rotationsteps import _redis

    if master is None:
        return False
    for member in member_names("redis", env.services.redis.members):
        if member == master:
            continue
        client = _redis(ctx, member, [ctx.secret("redis_password")])
        try:
            if client.info("replication").get("master_link_status") != "up":
                return False
        except redis.RedisError:
            return False
        finally:
            client.close()
    return True


def _order(env: Environment, ctx: Any, cluster: str, services: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(members with the leader last, companions, stateless) of ``services``."""
    import re

    from iklim.drill.labseams import SEAMS

    stack = env.stacks.infra
    members = [s for s in services if re.fullmatch(rf"{stack}_{cluster}-\d+", s)]
    companions = [s for s in services if re.fullmatch(rf"{stack}_redis-sentinel-\d+", s)]
    stateless = [s for s in services if s not in members and s not in companions]
    leader = SEAMS[cluster](ctx).observe(None).leader if cluster != "rabbitmq" else None
    members.sort(key=lambda s: (s == f"{stack}_{leader}", s))
    return members, companions, stateless


def seated(mode: str, base: str, value_file: Path, out: Path) -> int:
    """rotate: ``value_file`` holds the new value (the seat's secret is the old); restore: it holds
    the rotated value, and the original (the seat's base secret) is put back under the base name."""
    from iklim.deploy.rotation import SecretRotationHooks, password
    from iklim.deploy.secretversions import SecretRotation, create_versions
    from iklim.drill.labseams import SEAMS
    from iklim.drill.swarmdriver import SwarmLabDriver
    from iklim.drill.swarmseat import SeatContext, seated_pid
    from iklim.plan.run import desired_and_rotations
    from iklim.plan.targets import swarm_lab_target
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import first_manager

    env = load_environment(ENV_FILE)
    pid = seated_pid()
    assert pid is not None, "not in the drill seat"
    seat = SeatContext(env, pid)
    manager_name = first_manager(lab_nodes(env)).hostname
    driver = SwarmLabDriver(env, manager_name, seat)
    cluster = CLUSTERS[base]
    # The value in effect before the rotation, as a member's container holds it (the seat mounts
    # only the application's secrets); kept beside the new value (a hidden file: not a rotation)
    # for the restore, and removed with the folder.
    keep = value_file.parent / ".original"
    if mode == "rotate":
        member = member_names(cluster, getattr(env.services, cluster).members)[0]
        keep.write_text(password(_container_file(driver, member, f"/run/secrets/{base}").encode()))
        keep.chmod(0o600)
    original = keep.read_text()
    given = password(value_file.read_bytes())
    with tempfile.TemporaryDirectory(prefix="iklim-rotation-") as folder:
        if mode == "rotate":
            new, old = given, original
            target = swarm_lab_target(env)
            try:
                snapshot = target.snapshot()
            finally:
                target.close()
            _, rotations = desired_and_rotations(env, ROOT, True, secrets_dir=value_file.parent, snapshot=snapshot)
            (change,) = rotations
        else:
            new, old = original, given
            source = Path(folder) / base
            source.write_text(original)
            services = [s["name"] for s in target_services(env, base)]
            change = SecretRotation(base, base, source, tuple(services), False, env.stacks.infra)
        ctx = _Current(seat, {base: old})
        manager = _engine(manager_name)
        result: dict[str, Any] = {"mode": mode, "secret": change.name, "rolled": []}
        try:
            create_versions(manager, [change])
            hooks = SecretRotationHooks(env, ctx, [change], _log)
            members, companions, stateless = _order(env, ctx, cluster, list(change.services))
            began = time.monotonic()
            hooks.before_cluster(cluster, [*members, *companions])
            seam = SEAMS[cluster](ctx)
            for service in members:
                member = service.split("_", 1)[1]
                if cluster != "rabbitmq" and seam.observe(None).leader == member:
                    _log(f"{cluster}: hand-over from {member} before its restart")
                    seam.switchover(member)
                    _wait("the hand-over", lambda m=member: seam.observe(m).leader not in (None, m))
                roll(manager, service, base, change.name)
                result["rolled"].append(service)
            for service in companions:
                roll(manager, service, base, change.name)
                result["rolled"].append(service)
            ctx.overrides[base] = new
            hooks.after_cluster(cluster, [*members, *companions])
            for service in stateless:
                roll(manager, service, base, change.name)
                result["rolled"].append(service)
            result["roll_seconds"] = round(time.monotonic() - began, 1)
            result["checks"] = verify(env, ctx, driver, base, new, old)
            result["failover"] = failover(env, ctx, base) if mode == "rotate" else {}
            if mode == "rotate":
                result["checks_after_failover"] = verify(env, ctx, driver, base, new, old)
        finally:
            manager.close()
            out.write_text(json.dumps(result, indent=2))
    return 0


def target_services(env: Environment, base: str) -> list[dict[str, Any]]:
    """The live services that mount ``base`` or a version of it."""
    from iklim.plan.secretnames import version_of
    from iklim.plan.targets import swarm_lab_target

    target = swarm_lab_target(env)
    try:
        snapshot = target.snapshot()
    finally:
        target.close()
    return [
        s
        for s in snapshot["services"]
        if any(
            version_of(r["SecretName"], base) for r in s["spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []
        )
        and s["name"] != "iklim-drill-seat"
    ]


# --- the host part (pytest) ----------------------------------------------------------------------


def _plan(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "plan", "--target", "swarm-lab", "--format", "json", *args],
        capture_output=True, text=True, cwd=ROOT, env=PYENV, timeout=120,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def _changed(document: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["action"] for s in document["services"] if s["action"] != "unchanged"}


def _secret_moves(document: dict[str, Any]) -> set[str]:
    """The services whose plan includes a change of their secret references."""
    return {s["name"] for s in document["services"] if any(c["field"] == "secrets" for c in s["changes"])}


def _in_seat(mode: str, base: str, value_file: Path, out: Path) -> dict[str, Any]:
    from iklim.drill.swarmseat import run_in_seat
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    env = load_environment(ENV_FILE)
    argv = [sys.executable, str(Path(__file__).resolve()), mode, base, str(value_file), str(out)]
    with engine(first_manager(lab_nodes(env))) as client:
        code = run_in_seat(client, env, argv)
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    assert code == 0, f"the seated {mode} exited {code}: {result}"
    return result


@contextmanager
def _value_folder(base: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="iklim-rotate-") as folder:
        path = Path(folder) / base
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
        yield path


@pytest.fixture(scope="module")
def lab() -> None:
    from iklim.swarmlab.nodes import api_ready, lab_nodes
    from iklim.swarmlab.swarm import first_manager

    assert api_ready(first_manager(lab_nodes(load_environment(ENV_FILE)))), "the Swarm lab is not up"
    assert _secret_moves(_plan()) == set(), "the lab's secret references differ from the tree's"


@pytest.mark.parametrize("base", list(CLUSTERS))
def test_a_rotated_secret_is_in_effect_everywhere_and_a_failover_still_works(
    lab: None, base: str, tmp_path: Path
) -> None:
    env = load_environment(ENV_FILE)
    mounting = {s["name"] for s in target_services(env, base)}
    # Another change a shared lab may hold meanwhile (not this test's) is carried through unchanged.
    baseline = _changed(_plan())
    with _value_folder(base) as value_file:
        planned = _plan("--secrets-dir", str(value_file.parent))
        name = f"{base}_{hashlib.sha256(value_file.read_bytes()).hexdigest()[:10]}"
        assert _changed(planned) == {**baseline, **dict.fromkeys(mounting, "rolling-restart")}
        assert _secret_moves(planned) == mounting
        assert planned["secrets"][name] == "create"
        assert value_file.read_text() not in json.dumps(planned)
        try:
            result = _in_seat("rotate", base, value_file, tmp_path / "rotate.json")
            assert set(result["rolled"]) == mounting and result["secret"] == name
            for check, verdict in {**result["checks"], **result["checks_after_failover"]}.items():
                expected = "refused" if check.endswith(" old") else "ok" if check.endswith(" new") else "new"
                assert verdict == expected, (check, verdict)
            if base != "rabbitmq_admin_password":
                assert result["failover"]["to"] != result["failover"]["from"]
            assert _secret_moves(_plan()) == set(), "the unchanged tree must keep the live version"
        finally:
            restored = _in_seat("restore", base, value_file, tmp_path / "restore.json")
            from iklim.deploy.secretversions import remove_versions, unused_versions
            from iklim.plan.targets import swarm_lab_target

            target = swarm_lab_target(env)
            try:
                unused = unused_versions(target.snapshot(), [base])
            finally:
                target.close()
            with _manager(env) as client:
                removed = remove_versions(client, unused)
        for check, verdict in restored["checks"].items():
            expected = "refused" if check.endswith(" old") else "ok" if check.endswith(" new") else "new"
            assert verdict == expected, ("after the restore", check, verdict)
        assert name in removed
        final = _plan()
        assert _secret_moves(final) == set() and name not in final["secrets"]


@contextmanager
def _manager(env: Environment) -> Iterator[Any]:
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    with engine(first_manager(lab_nodes(env))) as client:
        yield client


if __name__ == "__main__":
    sys.exit(seated(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
