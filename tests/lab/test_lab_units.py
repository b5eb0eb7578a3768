"""The lab's pieces that need no running engine: address plan, same-template configs, supervisor."""

from __future__ import annotations

import signal
import time
from ipaddress import IPv4Network
from pathlib import Path

from iklim.components.patroni import member_config
from iklim.components.redis import redis_conf
from iklim.components.swag import rabbitmq_site
from iklim.components.target import LabTarget, ProductionTarget
from iklim.lab.supervisor import ProcessSpec, Supervisor
from iklim.model.schema import Environment


def test_lab_address_plan(prod_env: Environment, tmp_path: Path) -> None:
    lab = LabTarget(prod_env, tmp_path)
    assert [lab.host(f"etcd-{i}") for i in (1, 2, 3)] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    assert [lab.host(f"patroni-{i}") for i in (1, 2, 3)] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    assert [lab.host(f"redis-sentinel-{i}") for i in (1, 2, 3)] == ["127.0.2.1", "127.0.2.2", "127.0.2.3"]
    assert [lab.host(f"vault-{i}") for i in (1, 2, 3)] == ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
    assert lab.host("prometheus-1") == "127.0.2.2"  # the model pins Prometheus to iklim-app-02
    assert lab.host("swag-1") == "127.0.2.1"
    assert lab.trusted_cidr(IPv4Network("10.0.0.0/16")) == IPv4Network("127.0.0.0/16")
    assert lab.trusted_cidr(IPv4Network("198.51.100.0/28")) is None


def test_lab_patroni_config_differs_from_production_only_in_addresses_and_paths(
    prod_env: Environment, tmp_path: Path
) -> None:
    prod = member_config(prod_env, ProductionTarget(prod_env), "patroni-2")
    lab = member_config(prod_env, LabTarget(prod_env, tmp_path), "patroni-2")
    assert lab["bootstrap"] == prod["bootstrap"] and lab["scope"] == prod["scope"]
    assert lab["namespace"] == prod["namespace"] and lab["tags"] == prod["tags"]
    assert lab["postgresql"]["connect_address"] == "127.0.1.2:5432"
    assert lab["etcd3"]["hosts"] == "127.0.1.1:2379,127.0.1.2:2379,127.0.1.3:2379"
    assert lab["postgresql"]["data_dir"].startswith(str(tmp_path))


def test_lab_redis_config_announces_and_binds_its_own_address(prod_env: Environment, tmp_path: Path) -> None:
    text = redis_conf(prod_env, LabTarget(prod_env, tmp_path), "redis-3", "redis-1")
    assert "bind 127.0.2.3\nbind-source-addr 127.0.2.3\n" in text
    assert "replica-announce-ip 127.0.2.3\n" in text and "replicaof 127.0.2.1 6379\n" in text
    prod = redis_conf(prod_env, ProductionTarget(prod_env), "redis-3", "redis-1")
    assert "bind-source-addr" not in prod and "replicaof redis-1 6379\n" in prod


def test_lab_swag_site_keeps_the_allow_list_shape(prod_env: Environment, tmp_path: Path) -> None:
    site = rabbitmq_site(prod_env, LabTarget(prod_env, tmp_path))
    assert "listen 127.0.2.1:443 ssl;" in site
    assert "allow 127.0.0.0/16;\n    deny all;" in site
    assert "198.51.100" not in site


def _running(pid: str) -> bool:
    """True when ``pid`` exists and is not a zombie (an unreaped orphan has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_supervisor_starts_once_and_stops_the_whole_group(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    spec = ProcessSpec("sleeper", ("sh", "-c", "sleep 300 & sleep 300"), tmp_path)
    pid = sup.start(spec)
    assert sup.start(spec) == pid, "start must be idempotent"
    assert sup.pid("sleeper") == pid and not sup.exited("sleeper")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert sup.stop("sleeper", grace=5)
    assert sup.pid("sleeper") is None and not sup.pid_file("sleeper").exists()
    assert not any(_running(child) for child in children), "the process group survived"
    assert not sup.stop("sleeper")


def _ignores_term(pid: str) -> bool:
    """True once ``pid`` ignores SIGTERM (bit 15 of SigIgn in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def test_supervisor_stops_members_its_exited_leader_left_behind(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    pid = sup.start(ProcessSpec("leaver", ("sh", "-c", "sleep 300 & echo $! > child; exit 0"), tmp_path))
    deadline = time.monotonic() + 5
    while not (tmp_path / "child").exists() or not sup.exited("leaver"):
        assert time.monotonic() < deadline, "the leader did not exit"
        time.sleep(0.02)
    child = (tmp_path / "child").read_text().strip()
    assert _running(child), "the member should outlive its leader"
    assert sup.stop("leaver", grace=5), "a group whose leader exited still has a live member to stop"
    assert not _running(child) and not sup.pid_file("leaver").exists()
    assert pid > 0


def test_supervisor_waits_for_a_group_member_that_ignores_sigterm(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    spec = ProcessSpec("stubborn", ("sh", "-c", "(trap '' TERM; exec sleep 300) & exec sleep 300"), tmp_path)
    pid = sup.start(spec)
    deadline = time.monotonic() + 5
    while not (children := Path(f"/proc/{pid}/task/{pid}/children").read_text().split()) or not _ignores_term(
        children[0]
    ):
        assert time.monotonic() < deadline, "the group member never started ignoring SIGTERM"
        time.sleep(0.02)
    assert sup.stop("stubborn", grace=0.5)
    assert not any(_running(child) for child in children), "stop returned before the group was gone"


def test_supervisor_reports_an_exited_process_and_keeps_its_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.start(ProcessSpec("short", ("sh", "-c", "echo started; exit 3"), tmp_path))
    deadline = time.monotonic() + 5
    while not sup.exited("short") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sup.exited("short")
    assert sup.tail("short") == "started"
