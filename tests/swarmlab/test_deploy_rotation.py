"""Secret rotation through ``iklim deploy`` on the running Swarm lab (issue 14): the PostgreSQL
replication password, the Redis password and the RabbitMQ admin password, each end to end.

Per secret: a new random value in a folder of its own; ``iklim plan --secrets-dir`` plans exactly
the services that mount it, as rolling restarts onto ``<base>_<sha256[:10]>``; ``iklim deploy
--secrets-dir`` creates that version and rolls the services in cluster-aware order with
:class:`~iklim.deploy.rotation.SecretRotationHooks` around the cluster's roll. Then, inside the
drill seat (the overlay's namespace, production's addressing), the verification: the new value
logs in on every member and the old one is refused (psycopg replication connections; redis AUTH;
the RabbitMQ management API), the engines' on-disk copies hold the new value only (Patroni's
pgpass, the data directory's redis.conf and sentinel.conf), and a failover afterwards succeeds
(Patroni switchover, Sentinel failover) with the replicas streaming again. Back on the host: the
unchanged tree plans nothing (the live version is kept); then the original value is rotated back
by ``iklim deploy`` the same way, whose clean-up removes the version no service uses any more, and
the tree plans nothing again.

Each secret is one pytest item.
Run: ``flock /tmp/iklim-lab.lock python3 -m pytest -q -m swarmlab tests/swarmlab/test_deploy_rotation.py -k redis``.
This file is also the seated script (``python3 test_deploy_rotation.py verify|check BASE NEW OLD OUT``).
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

pytestmark = [pytest.mark.swarmlab, pytest.mark.deploy_acceptance]

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

    from iklim.components.trust import libpq_tls

    address = ctx.target.endpoint(member, "postgres")
    try:
        psycopg.connect(
            host=address.host, port=address.port, user="replicator", password=password,
            dbname="replication", replication="true", connect_timeout=5, **libpq_tls(ctx.env, ctx.target),
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


def seated(mode: str, base: str, new_file: Path, old_file: Path, out: Path) -> int:
    """verify: the logins, the on-disk copies, a failover and the logins again; check: the logins and
    the copies only. ``new_file``/``old_file`` hold the value that must work and the one that must not."""
    from iklim.deploy.rotation import password
    from iklim.drill.swarmdriver import SwarmLabDriver
    from iklim.drill.swarmseat import SeatContext, seated_pid
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import first_manager

    env = load_environment(ENV_FILE)
    pid = seated_pid()
    assert pid is not None, "not in the drill seat"
    seat = SeatContext(env, pid)
    driver = SwarmLabDriver(env, first_manager(lab_nodes(env)).hostname, seat)
    new, old = password(new_file.read_bytes()), password(old_file.read_bytes())
    ctx = _Current(seat, {base: new})
    result: dict[str, Any] = {"mode": mode}
    try:
        result["checks"] = verify(env, ctx, driver, base, new, old)
        if mode == "verify":
            result["failover"] = failover(env, ctx, base)
            result["checks_after_failover"] = verify(env, ctx, driver, base, new, old)
    finally:
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


def _in_seat(mode: str, base: str, new_file: Path, old_file: Path, out: Path) -> dict[str, Any]:
    from iklim.drill.swarmseat import run_in_seat
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    env = load_environment(ENV_FILE)
    argv = [sys.executable, str(Path(__file__).resolve()), mode, base, str(new_file), str(old_file), str(out)]
    with engine(first_manager(lab_nodes(env))) as client:
        code = run_in_seat(client, env, argv)
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    assert code == 0, f"the seated {mode} exited {code}: {result}"
    return result


def _deploy(folder: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "deploy", "--target", "swarm-lab", "--yes", "--format", "json",
         "--secrets-dir", str(folder)],
        capture_output=True, text=True, cwd=ROOT, env=PYENV, timeout=1800,
    )  # fmt: skip
    document: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert proc.returncode == 0, f"deploy exited {proc.returncode}: {document.get('error')}\n{proc.stderr[-4000:]}"
    return document


def _live_value(env: Environment, base: str) -> str:
    """The value in effect: ``/run/secrets/<base>`` of a running task that mounts it, read through
    the host's ``/proc/<pid>/root`` (a file read, no network; never printed)."""
    from iklim.deploy.rotation import password

    service = target_services(env, base)[0]["name"]
    with _manager(env) as client:
        for task in client.api.tasks(filters={"service": service, "desired-state": "running"}):
            cid = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if not cid:
                continue
            node = client.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
            engine = _engine(node)
            try:
                pid = engine.api.inspect_container(cid)["State"]["Pid"]
            finally:
                engine.close()
            return password(Path(f"/proc/{pid}/root/run/secrets/{base}").read_bytes())
    raise AssertionError(f"no running task of {service}")


@contextmanager
def _value_folder(base: str, value: str | None = None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="iklim-rotate-") as folder:
        path = Path(folder) / base
        path.write_text(value if value is not None else secrets.token_urlsafe(32))
        path.chmod(0o600)
        yield path


def _expected(check: str) -> str:
    return "refused" if check.endswith(" old") else "ok" if check.endswith(" new") else "new"


@pytest.fixture(scope="module")
def lab() -> None:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True, cwd=ROOT)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    assert _secret_moves(_plan()) == set(), "the lab's secret references differ from the tree's"


@pytest.mark.parametrize("base", list(CLUSTERS))
def test_a_rotated_secret_is_in_effect_everywhere_and_a_failover_still_works(
    lab: None, base: str, tmp_path: Path
) -> None:
    env = load_environment(ENV_FILE)
    mounting = {s["name"] for s in target_services(env, base)}
    original = tmp_path / "original"
    original.write_text(_live_value(env, base))
    original.chmod(0o600)
    with _value_folder(base) as value_file:
        planned = _plan("--secrets-dir", str(value_file.parent))
        name = f"{base}_{hashlib.sha256(value_file.read_bytes()).hexdigest()[:10]}"
        assert _changed(planned) == dict.fromkeys(mounting, "rolling-restart")
        assert _secret_moves(planned) == mounting
        assert planned["secrets"][name] == "create"
        assert value_file.read_text() not in json.dumps(planned)
        try:
            deployed = _deploy(value_file.parent)
            assert set(deployed["applied"]) == mounting and name in deployed["created"]["secrets"]
            assert value_file.read_text() not in json.dumps(deployed)
            result = _in_seat("verify", base, value_file, original, tmp_path / "verify.json")
            for check, verdict in {**result["checks"], **result["checks_after_failover"]}.items():
                assert verdict == _expected(check), (check, verdict)
            if base != "rabbitmq_admin_password":
                assert result["failover"]["to"] != result["failover"]["from"]
            assert _secret_moves(_plan()) == set(), "the unchanged tree must keep the live version"
        finally:
            with _value_folder(base, original.read_text()) as back:
                restored = _deploy(back.parent)
        # Removed by the deploy's clean-up, or (a version the drill seat mounted while it ran) by
        # the pass after the seat closed: either way no secret of that name is left on the Swarm.
        with _manager(env) as client:
            assert not client.secrets.list(filters={"name": name}), restored["cleanup"]
        checked = _in_seat("check", base, original, value_file, tmp_path / "check.json")
        for check, verdict in checked["checks"].items():
            assert verdict == _expected(check), ("after the restore", check, verdict)
        final = _plan()
        assert _secret_moves(final) == set() and name not in final["secrets"]


@contextmanager
def _manager(env: Environment) -> Iterator[Any]:
    from iklim.swarmlab.nodes import lab_nodes
    from iklim.swarmlab.swarm import engine, first_manager

    with engine(first_manager(lab_nodes(env))) as client:
        yield client


if __name__ == "__main__":
    sys.exit(seated(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5])))
