"""The Swarm-lab drill's parts that need no lab: the seat's command line (run for real against this
process's own network namespace), its secrets, and the driver's refusals and addressing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iklim.drill.driver import FAULTS, DrillError
from iklim.drill.labseams import SEAMS
from iklim.drill.swarmdriver import SWARM_FAULTS, SwarmLabDriver
from iklim.drill.swarmseat import SEAT_PID_VARIABLE, SeatContext, SeatError, check_seated, seat_argv, seated_pid
from iklim.model.loader import load_environment

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments" / "prod.yaml")


def test_the_seat_command_binds_its_resolver_privately(tmp_path: Path) -> None:
    """nsenter + unshare + bind mount, into our own network namespace: the command sees the seat's
    resolv.conf, and the host's stays as it was."""
    if os.geteuid() != 0:
        pytest.fail("the seat's command needs root (nsenter, unshare --mount), as the Swarm lab does")
    before = Path("/etc/resolv.conf").read_text()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.11\noptions ndots:0\n")
    argv = seat_argv(os.getpid(), resolv, [sys.executable, "-c", "print(open('/etc/resolv.conf').read())"])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nameserver 127.0.0.11\noptions ndots:0"
    assert Path("/etc/resolv.conf").read_text() == before


def test_the_seat_command_fails_for_a_process_that_is_gone(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.11\n")
    proc = subprocess.run(seat_argv(2**22 + 7, resolv, ["true"]), capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


def test_seated_pid_reads_only_a_number() -> None:
    assert seated_pid({SEAT_PID_VARIABLE: "4242"}) == 4242
    assert seated_pid({SEAT_PID_VARIABLE: "42; rm -rf /"}) is None
    assert seated_pid({}) is None


def test_a_stray_seat_variable_is_refused_outside_the_seat() -> None:
    """The host namespace must never send the drill's traffic: the variable alone is not trusted
    (another namespace's pid, a pid that is gone, or our own pid, which is no seat container)."""
    other = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        time.sleep(0.3)
        for pid in (other.pid, 2**22 + 7, os.getpid()):
            with pytest.raises(SeatError, match="not in the drill seat"):
                check_seated(pid, "iklim-app-01")
    finally:
        other.kill()
        other.wait()
    env = dict(os.environ, **{SEAT_PID_VARIABLE: str(os.getpid())}, PYTHONPATH=str(ROOT / "src"))
    argv = [sys.executable, "-m", "iklim", "drill", "heal", "--target", "swarm-lab"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "not in the drill seat" in proc.stderr


def test_secrets_come_from_the_seat_containers_run_secrets(tmp_path: Path) -> None:
    context = SeatContext(ENV, 1)
    context.secrets_dir = tmp_path
    (tmp_path / "redis_password").write_text("s3cret\n")
    assert context.secret("redis_password") == "s3cret"
    assert context.get("redis_password") == "s3cret"
    assert context.get("rabbitmq_admin_password") is None
    with pytest.raises(Exception, match="rabbitmq_admin_password") as caught:
        context.secret("rabbitmq_admin_password")
    assert "s3cret" not in str(caught.value)
    context.vault_keys = tmp_path / "init.json"
    context.vault_keys.write_text('{"keys_base64": ["k"], "root_token": "t0ken"}')
    assert context.get("vault_token") == "t0ken"
    context.vault_keys.write_text("{torn")
    assert context.get("vault_token") is None


def test_the_seams_address_members_as_production_does() -> None:
    """From the seat: host-mode ports on the node's private address, the others by overlay name."""
    driver = SwarmLabDriver(ENV, "iklim-app-01", SeatContext(ENV, 1))
    etcd = ENV.services.etcd
    assert driver.clusters() == tuple(SEAMS)
    node = ENV.node(etcd.nodes[0])
    assert driver.context.target.endpoint("etcd-1", "client").host == str(node.private_ip)
    assert driver.context.target.endpoint("redis-1", "redis").host == "redis-1"
    assert driver.context.target.erlang_node("rabbitmq-2") == "rabbit@rabbitmq-2"
    assert driver.service("patroni-2") == f"{ENV.stacks.infra}_patroni-2"
    assert driver.service("vault-3") == f"{ENV.stacks.vault}_vault-3"


def test_faults_the_swarm_lab_does_not_carry_out_are_refused_before_anything_is_touched() -> None:
    driver = SwarmLabDriver(ENV, "iklim-app-01", SeatContext(ENV, 1))
    assert set(SWARM_FAULTS) <= set(FAULTS)
    with pytest.raises(DrillError, match="not carried out"):
        driver.undo_of("etcd", "no-such-fault", "etcd-1")
    with pytest.raises(DrillError, match="not a member"):
        driver.undo_of("etcd", "kill", "etcd-9")
    with pytest.raises(DrillError, match="unknown cluster"):
        driver.leader("mongodb")
