"""Acceptance of the Swarm lab (issue 9): the real stacks on a real 6-node Swarm, checked through
Docker's Engine API (the ``docker`` SDK) and the engines' own clients, never through iklim.

The module brings the lab up with ``iklim swarm-lab up`` (idempotent: it reuses a running lab)
and leaves it running for the rest of the session; the session's last test module takes it down.
Clients run either inside a task's container (``docker exec``: the engine's own CLI with the
secret the task already holds) or in a throw-away container attached to the attachable overlay.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest
import yaml

from iklim.model.loader import load_environment
from iklim.model.paths import TOOL_ETCD_CLIENT_SECRETS
from iklim.model.ports import port_of
from iklim.swarmlab import paths

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments/prod.yaml")
HOSTNAMES = [n.name for n in ENV.nodes]
OVERLAY = ENV.overlay.name
#: The runbook runs on the first app node, a Swarm manager.
MANAGER = next(n.name for n in ENV.nodes if n.swarm_role == "manager")
T = TypeVar("T")


def _engine(hostname: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{paths.node_socket(hostname)}", timeout=60)


def _eventually(what: str, probe: Callable[[], T], timeout: float = 120.0, every: float = 2.0) -> T:
    """Poll ``probe`` until it returns a truthy value (gossip and elections take seconds)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - the probe's failure is reported below
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what}: not true after {timeout:.0f} s (last: {last!r})")


@pytest.fixture(scope="module")
def lab() -> Iterator[docker.DockerClient]:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    manager = _engine(MANAGER)
    yield manager
    manager.close()


def _hostnames_by_id(manager: docker.DockerClient) -> dict[str, str]:
    return {n.id: n.attrs["Description"]["Hostname"] for n in manager.nodes.list()}


def _running_task(manager: docker.DockerClient, service: str) -> tuple[str, str]:
    """(hostname, container id) of ``service``'s running task (``service`` without the stack)."""
    names = {f"{ENV.stacks.infra}_{service}", f"{ENV.stacks.vault}_{service}"}
    [svc] = [s for s in manager.services.list() if s.name in names]
    hosts = _hostnames_by_id(manager)
    for task in svc.tasks(filters={"desired-state": "running"}):
        if task["Status"]["State"] == "running":
            return hosts[task["NodeID"]], task["Status"]["ContainerStatus"]["ContainerID"]
    raise AssertionError(f"{service} has no running task")


def _exec(manager: docker.DockerClient, service: str, script: str) -> tuple[int, str]:
    """Run ``sh -c script`` inside ``service``'s running container; (exit code, output)."""
    host, cid = _running_task(manager, service)
    code, output = _engine(host).containers.get(cid).exec_run(["sh", "-c", script])
    return int(code), output.decode(errors="replace")


def _ok(manager: docker.DockerClient, service: str, script: str) -> str:
    code, output = _exec(manager, service, script)
    assert code == 0, f"{service}: {script!r} exited {code}: {output[-1500:]}"
    return output


def _constraint_holds(expr: str, hostname: str, labels: dict[str, str], role: str) -> bool:
    match = re.fullmatch(r"\s*([\w.]+)\s*(==|!=)\s*(\S+)\s*", expr)
    assert match, expr
    key, op, value = match.groups()
    if key == "node.hostname":
        actual = hostname
    elif key == "node.role":
        actual = role
    elif key.startswith("node.labels."):
        actual = labels.get(key.removeprefix("node.labels."), "")
    else:
        raise AssertionError(f"unexpected constraint {expr}")
    return (actual == value) == (op == "==")


def test_every_task_runs_where_its_constraints_allow(lab: docker.DockerClient) -> None:
    nodes = {n.id: n.attrs for n in lab.nodes.list()}
    placed = 0
    for svc in lab.services.list():
        constraints = svc.attrs["Spec"]["TaskTemplate"].get("Placement", {}).get("Constraints", [])
        for task in svc.tasks(filters={"desired-state": "running"}):
            node = nodes[task["NodeID"]]
            hostname, labels = node["Description"]["Hostname"], node["Spec"].get("Labels", {})
            for expr in constraints:
                assert _constraint_holds(expr, hostname, labels, node["Spec"]["Role"]), (svc.name, hostname, expr)
            db = "node.labels.type == db" in constraints
            assert hostname.startswith("iklim-db-") == db, (svc.name, hostname)
            assert labels.get("type") == ("db" if db else "service"), (svc.name, hostname, labels)
            placed += 1
    assert placed >= 20, f"only {placed} tasks running"


def test_etcd_formed_one_leader_and_apisix_prefix_writable_through_aliases(lab: docker.DockerClient) -> None:
    """etcd on TLS (issue 17): a client on the overlay verifies each member by its alias with the
    environment CA and presents a CA-signed client certificate (the tool's); without one it is
    refused."""
    port = port_of(ENV.services.etcd, "client")
    endpoints = ",".join(f"https://{alias}:{port}" for alias in ENV.services.etcd.aliases)
    host, _ = _running_task(lab, "etcd-1")
    image = ENV.services.etcd.image
    prefix = ENV.services.apisix.etcd_prefix
    crt, key = TOOL_ETCD_CLIENT_SECRETS
    tls = ["--cacert=/pki/tls_ca_crt", f"--cert=/pki/{crt}", f"--key=/pki/{key}"]

    def run(args: list[str]) -> str:
        out = _engine(host).containers.run(
            image, args, network=OVERLAY, remove=True, volumes={str(paths.PKI_DIR): {"bind": "/pki", "mode": "ro"}}
        )
        return bytes(out).decode()

    status = _eventually(
        "etcd status through the aliases",
        lambda: run(["etcdctl", f"--endpoints={endpoints}", *tls, "endpoint", "status", "-w", "json"]),
    )
    members = yaml.safe_load(status)
    assert len(members) == 3
    leaders = {m["Status"]["leader"] for m in members}
    assert len(leaders) == 1 and 0 not in leaders, members
    key_name = f"{prefix}/iklim-acceptance"
    run(["etcdctl", f"--endpoints={endpoints}", *tls, "put", key_name, "written-through-aliases"])
    assert "written-through-aliases" in run(["etcdctl", f"--endpoints={endpoints}", *tls, "get", key_name])
    with pytest.raises(docker.errors.ContainerError):  # verified server, no client certificate
        run(["etcdctl", f"--endpoints={endpoints}", tls[0], "--command-timeout=5s", "get", key_name])


def _patroni_members(lab: docker.DockerClient) -> list[dict[str, Any]]:
    """``patronictl list`` (read from etcd) in the first Patroni task that runs and answers."""
    last = ""
    for i in range(1, ENV.services.patroni.members + 1):
        try:
            code, out = _exec(lab, f"patroni-{i}", "patronictl -c /etc/patroni/patroni.yml list -f json")
        except AssertionError as exc:  # no running task: a member being restarted
            last = str(exc)
            continue
        if code == 0:
            members: list[dict[str, Any]] = yaml.safe_load(out)
            return members
        last = out
    raise AssertionError(f"no Patroni member answered patronictl list: {last[-500:]}")


def _psql(lab: docker.DockerClient, service: str, sql: str) -> str:
    return _ok(
        lab,
        service,
        'PGPASSWORD="$(cat /run/secrets/postgres_superuser_password)" '
        f'psql -h 127.0.0.1 -U postgres -d postgres -Atc "{sql}"',
    )


def _leader_and_replicas(lab: docker.DockerClient) -> tuple[str, list[str]]:
    def ready() -> list[dict[str, Any]] | None:
        members = _patroni_members(lab)
        running = [m for m in members if m["State"] in ("running", "streaming")]
        leaders = [m for m in members if m["Role"] == "Leader" and m["State"] == "running"]
        return members if len(leaders) == 1 and len(running) == 3 else None

    members = _eventually("Patroni: one leader and two running replicas", ready, timeout=180)
    leader = next(m["Member"] for m in members if m["Role"] == "Leader")
    return leader, [m["Member"] for m in members if m["Role"] != "Leader"]


def _service_of_member(member: str) -> str:
    """Patroni's member name is its Swarm service's name (``name:`` in config/patroni/*.yml)."""
    return member


def test_patroni_row_written_on_leader_is_read_on_both_replicas(lab: docker.DockerClient) -> None:
    leader, replicas = _leader_and_replicas(lab)
    stamp = str(time.time_ns())
    _psql(
        lab,
        _service_of_member(leader),
        f"CREATE TABLE IF NOT EXISTS acceptance (v text); INSERT INTO acceptance VALUES ('{stamp}')",
    )
    for replica in replicas:
        _eventually(
            f"row on {replica}",
            lambda r=replica: stamp in _psql(lab, _service_of_member(r), "SELECT v FROM acceptance"),
            timeout=60,
        )


def test_sentinel_master_takes_a_write_that_a_replica_serves(lab: docker.DockerClient) -> None:
    name = ENV.services.redis.master_name
    auth = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" '
    addr = _ok(lab, "redis-sentinel-1", f"redis-cli -p 26379 sentinel get-master-addr-by-name {name}").split()
    master = addr[0]
    stamp = str(time.time_ns())
    assert "OK" in _ok(lab, "redis-1", f"{auth}redis-cli -h {master} -p {addr[1]} set iklim-acceptance {stamp}")
    replicas = _ok(lab, "redis-sentinel-1", f"redis-cli -p 26379 sentinel replicas {name}")
    ips = re.findall(r"^ip\n(\S+)$", replicas, flags=re.M)
    assert len(ips) == 2, replicas
    for ip in ips:
        _eventually(
            f"replica {ip} serves the write",
            lambda ip=ip: stamp in _ok(lab, "redis-1", f"{auth}redis-cli -h {ip} get iklim-acceptance"),
            timeout=30,
        )


#: An HTTP client on the overlay: Python's urllib in a Patroni task's container (the RabbitMQ
#: image has no curl; its management API is RabbitMQ's own client interface). The password comes
#: in through the exec's environment, never a command line.
_HTTP = """
import base64, json, os, sys, urllib.request
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
auth = base64.b64encode(("admin:" + os.environ["PW"]).encode()).decode()
req = urllib.request.Request(url, data=body.encode() or None, method=method,
    headers={"authorization": "Basic " + auth, "content-type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).read().decode())
"""


def _management(lab: docker.DockerClient, password: str, method: str, url: str, body: dict[str, Any]) -> str:
    host, cid = _running_task(lab, "patroni-1")
    code, out = (
        _engine(host)
        .containers.get(cid)
        .exec_run(["python3", "-c", _HTTP, method, url, json.dumps(body)], environment={"PW": password})
    )
    assert code == 0, out.decode(errors="replace")[-1500:]
    return bytes(out).decode()


def test_quorum_queue_message_crosses_rabbitmq_nodes(lab: docker.DockerClient) -> None:
    password = _ok(lab, "rabbitmq-1", "cat /run/secrets/rabbitmq_admin_password").strip()
    queue, stamp = "iklim-acceptance", str(time.time_ns())
    first, last = "http://rabbitmq-1:15672/api", "http://rabbitmq-3:15672/api"
    arguments = {"x-queue-type": "quorum"}
    _management(lab, password, "PUT", f"{first}/queues/%2F/{queue}", {"durable": True, "arguments": arguments})
    info = json.loads(_management(lab, password, "GET", f"{first}/queues/%2F/{queue}", {}))
    assert info.get("type") == "quorum" and len(info.get("members", [])) == 3, info
    published = _management(
        lab,
        password,
        "POST",
        f"{first}/exchanges/%2F/amq.default/publish",
        {"properties": {"delivery_mode": 2}, "routing_key": queue, "payload": stamp, "payload_encoding": "string"},
    )
    assert json.loads(published)["routed"] is True
    got = _management(
        lab,
        password,
        "POST",
        f"{last}/queues/%2F/{queue}/get",
        {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
    )
    assert [m["payload"] for m in json.loads(got)] == [stamp]


def test_vault_one_active_two_standby(lab: docker.DockerClient) -> None:
    modes = []
    for i in (1, 2, 3):
        out = _ok(lab, f"vault-{i}", "vault status -format=json")
        status = yaml.safe_load(out)
        assert status["initialized"] and not status["sealed"], status
        assert status["ha_enabled"] and status["storage_type"] == "raft", status
        modes.append(("active" if status.get("is_self") else "standby", status["leader_address"]))
    assert sorted(m for m, _ in modes) == ["active", "standby", "standby"], modes
    assert len({leader for _, leader in modes}) == 1, modes


def test_prometheus_has_every_available_target_up(lab: docker.DockerClient) -> None:
    unavailable = ("mongodb", "apisix", "grafana")

    def targets() -> list[dict[str, Any]]:
        out = _ok(lab, "prometheus", "wget -qO- http://127.0.0.1:9090/api/v1/targets?state=active")
        active: list[dict[str, Any]] = yaml.safe_load(out)["data"]["activeTargets"]
        wanted = [t for t in active if not t["labels"]["job"].startswith(unavailable)]
        down = [f"{t['labels']['job']}/{t['labels'].get('instance')}: {t['health']} {t.get('lastError', '')}"
                for t in wanted if t["health"] != "up"]  # fmt: skip
        if not wanted or down:  # named in the failure message
            raise AssertionError(f"targets not up: {down or 'no target configured'}")
        return wanted

    up = _eventually("every available Prometheus target up", targets, timeout=120, every=5)
    assert {t["labels"]["job"] for t in up} >= {"etcd", "patroni", "redis", "rabbitmq", "vault"}


def test_redis_and_rabbitmq_publish_no_port(lab: docker.DockerClient) -> None:
    for svc in lab.services.list():
        short = svc.name.split("_", 1)[1]
        if short.startswith(("redis", "rabbitmq")):
            assert not svc.attrs["Endpoint"].get("Ports"), svc.name
            assert not svc.attrs["Spec"].get("EndpointSpec", {}).get("Ports"), svc.name
    for hostname in HOSTNAMES:
        for container in _engine(hostname).containers.list():
            service = container.labels.get("com.docker.swarm.service.name", "")
            if "_redis" in service or "_rabbitmq" in service:
                assert not container.ports or all(not v for v in container.ports.values()), (hostname, service)


def _connects(namespace: str, address: str, port: int) -> bool:
    code = f"import socket,sys\ns=socket.create_connection(('{address}',{port}),timeout=3)\ns.close()\n"
    run = subprocess.run(["nsenter", f"--net=/run/netns/{namespace}", sys.executable, "-c", code], capture_output=True)
    return run.returncode == 0


def test_db_host_mode_ports_answer_on_the_nodes_private_address(lab: docker.DockerClient) -> None:
    nodes = {n.name: n for n in ENV.nodes}
    checked = 0
    for svc in lab.services.list():
        ports = [p for p in svc.attrs["Spec"].get("EndpointSpec", {}).get("Ports", []) if p["PublishMode"] == "host"]
        if not ports or not svc.tasks(filters={"desired-state": "running"}):
            continue
        short = svc.name.split("_", 1)[1]
        host, _ = _running_task(lab, short)
        if not host.startswith("iklim-db-"):
            continue
        address = str(nodes[host].private_ip)
        other = next(h for h in HOSTNAMES if h.startswith("iklim-db-") and h != host)
        source = paths.namespace(HOSTNAMES.index(other) + 1)  # another DB node: an allowed source
        for port in ports:
            if port["Protocol"] != "tcp":
                continue
            assert _eventually(
                f"{short} on {address}:{port['PublishedPort']}",
                lambda a=address, p=port["PublishedPort"], s=source: _connects(s, a, p),
                timeout=30,
            )
            checked += 1
    assert checked >= 6, checked


def _on_manager(*argv: str) -> subprocess.CompletedProcess[str]:
    """``iklim`` run as an operator would on ``iklim-app-01``: inside its namespaces (swarm-lab shell)."""
    env = str(ROOT / "environments/prod.yaml")
    cmd = [sys.executable, "-m", "iklim", "swarm-lab", "shell", MANAGER, "--", sys.executable, "-m", "iklim", *argv]
    return subprocess.run([*cmd, "--env", env], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_status_prod_from_the_manager_answers_for_every_available_component(lab: docker.DockerClient) -> None:
    """`iklim status --target prod --on-overlay` on the manager: the overlay-only clusters too."""
    run = _on_manager("status", "--target", "prod", "--on-overlay", "--format", "json", "--timeout", "3")
    assert run.returncode in (0, 1, 2), run.stderr[-2000:]
    report = json.loads(run.stdout)
    by_name = {c["component"]: c for c in report["components"]}
    for name in ("etcd", "patroni", "redis", "rabbitmq", "vault", "swag"):
        assert by_name[name]["status"] == "healthy", (name, by_name[name]["reason"])
    for name in ("mongodb", "apisix", "grafana"):  # scaled to 0 in the lab: not running
        assert by_name[name]["status"] == "down", (name, by_name[name]["reason"])
    assert "redis_password" not in run.stdout + run.stderr


def test_vault_status_prod_from_the_manager(lab: docker.DockerClient) -> None:
    run = _on_manager("vault", "status", "--target", "prod", "--keys-file", str(paths.VAULT_KEYS_FILE))
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    roles = sorted(line.split()[1] for line in lines if line.startswith("vault-"))
    assert roles == ["active", "standby", "standby"], run.stdout


def test_second_up_changes_nothing(lab: docker.DockerClient) -> None:
    before = {s.name: s.attrs["Version"]["Index"] for s in lab.services.list()}
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True)
    assert up.returncode == 0, up.stderr[-3000:]
    after = {s.name: s.attrs["Version"]["Index"] for s in lab.services.list()}
    assert after == before


def test_killing_the_patroni_leader_elects_another_and_the_old_one_rejoins(lab: docker.DockerClient) -> None:
    leader, _ = _leader_and_replicas(lab)
    host, cid = _running_task(lab, _service_of_member(leader))
    _engine(host).containers.get(cid).kill()
    _eventually(
        "a new Patroni leader",
        lambda: any(m["Role"] == "Leader" and m["Member"] != leader for m in _patroni_members(lab)),
        timeout=120,
    )
    new_leader, replicas = _leader_and_replicas(lab)
    assert new_leader != leader and leader in replicas
    assert socket.gethostname()  # the host itself was never touched by the drill
