"""`iklim drill` on the running lab: a SIGKILL of the leader under a client write load reports a
recovery time and loses no acknowledged write; a drill killed with SIGKILL mid-fault leaves its
fault in the journal, and `iklim drill heal` brings the cluster back to healthy.

Each drill heals its member and waits for the cluster's status probe before returning, so later
tests get a healthy lab. About 10 s for etcd, 30 s for Redis and RabbitMQ (the killed member's
rejoin dominates), 30 s for Patroni (ttl 20 s), about 30 s for OpenBao (the restarted member is
unsealed from the lab's custody file, then the final read reads every secret back).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iklim.drill.journal import Journal
from iklim.drill.labdriver import LabDriver
from iklim.drill.runner import RunResult, run_once
from iklim.lab.context import LabContext

REPO = Path(__file__).resolve().parents[2]


def bound(lab: LabContext, cluster: str) -> float:
    """The upper bound a run must meet here, from the model's failover timings: the worst etcd
    election (2 x election timeout), Sentinel's down-after, Patroni's leader-key expiry (ttl +
    loop_wait); a quorum queue elects in well under 1 s. Generous (+8 to +15 s on a shared 2-core
    machine): a bound catches "never recovered" and gross regressions; the figures themselves are
    printed by the test and measured by `bench/bench_drill.py`."""
    svc = lab.env.services
    return {
        "etcd": 2 * svc.etcd.election_timeout_ms / 1000 + 8,
        "redis": svc.redis.sentinel.down_after_milliseconds / 1000 + 15,
        "patroni": svc.patroni.ttl + svc.patroni.loop_wait + 15,
        "rabbitmq": 10.0,
        "vault": 15.0,  # OpenBao performance_multiplier 1: 1.4-4.7 s measured here
    }[cluster]


def _drill(lab: LabContext, cluster: str, fault: str = "kill") -> RunResult:
    journal = Journal(lab.root / "drill")
    driver = LabDriver(lab)
    result = run_once(driver, journal, cluster, fault, 1)
    acc, rec = result.accounting, result.recovery
    print(
        f"{cluster}: {fault} of {result.member}, new leader {result.new_leader}; recovery {rec.recovery} s "
        f"(detection {rec.detection}, election {rec.election}, client {rec.client}); "
        f"{acc.attempted} writes at {result.rate_hz:.0f} Hz, {acc.acknowledged} acknowledged, {len(acc.lost)} lost"
    )
    assert journal.pending() == [], "the fault is healed and cleared from the journal"
    assert result.new_leader not in (None, result.member), f"{cluster}: a new leader was named"
    assert rec.recovery is not None, f"{cluster}: the clients never wrote again after the kill"
    assert 0 < rec.recovery < bound(lab, cluster), f"{cluster}: recovery {rec.recovery} s"
    assert rec.failed_during > 0 or rec.recovery > 0.5, f"{cluster}: the kill was not felt by the clients"
    assert result.rate_hz >= 45, f"{cluster}: {result.rate_hz:.0f} Hz before the fault (target 50)"
    assert acc.acknowledged > 100
    assert acc.lost == (), f"{cluster}: acknowledged writes lost: {acc.lost[:10]}"
    assert acc.unexpected == () and acc.duplicated == ()
    assert acc.read >= acc.acknowledged
    assert lab.supervisor.pid(result.member) is not None, "the member runs again"
    return result


def test_etcd_leader_kill_loses_no_acknowledged_write(lab: LabContext) -> None:
    _drill(lab, "etcd")


def test_redis_master_kill_loses_no_acknowledged_write(lab: LabContext) -> None:
    _drill(lab, "redis")


def test_patroni_primary_kill_loses_no_acknowledged_write(lab: LabContext) -> None:
    _drill(lab, "patroni")


def test_rabbitmq_quorum_queue_leader_kill_loses_no_confirmed_message(lab: LabContext) -> None:
    _drill(lab, "rabbitmq")


def test_openbao_active_kill_loses_no_acknowledged_write(lab: LabContext) -> None:
    """SIGKILL of the active node: a standby takes the Raft lead and becomes active; the writers on
    the standbys are forwarded to it. The heal restarts the member, which comes back sealed, and
    unseals it: every member serves again (the old active as a standby)."""
    import ssl
    import urllib.error
    import urllib.request

    from iklim.components.trust import ca_file
    from iklim.vault.plan import member_urls

    begin = time.monotonic()
    result = _drill(lab, "vault")
    assert result.recovery.election is not None, "the survivors named a new active"
    url = member_urls(lab.env, lab.target)[result.member]  # https: the model puts Vault on TLS
    context = ssl.create_default_context(cafile=ca_file(lab.env, lab.target, "vault"))
    try:
        with urllib.request.urlopen(f"{url}/v1/sys/health", timeout=5, context=context) as answer:
            state = answer.status
    except urllib.error.HTTPError as exc:
        state = exc.code
    assert state == 429, f"{result.member} is back as an unsealed standby (HTTP {state}; 503 is sealed)"
    assert time.monotonic() - begin < 60


def test_a_paused_redis_master_woken_after_the_failover_loses_no_acknowledged_write(lab: LabContext) -> None:
    """The zombie master: frozen past Sentinel's down-after, a replica is promoted, then it wakes
    (SIGCONT) still believing it is the master; min-replicas-to-write keeps it from acknowledging."""
    _drill(lab, "redis", "pause")


def test_a_graceful_stop_of_the_patroni_primary_loses_no_acknowledged_write(lab: LabContext) -> None:
    """SIGTERM: Patroni stops PostgreSQL and releases the leader key, so a replica takes over
    without waiting for the key's ttl."""
    result = _drill(lab, "patroni", "stop")
    assert result.recovery.recovery is not None and result.recovery.recovery < 20.0, "no ttl wait on a stop"


def _iklim(*args: str) -> list[str]:
    return [sys.executable, "-m", "iklim", *args]


def test_heal_after_iklim_was_killed_mid_fault(lab: LabContext) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    journal = Journal(lab.root / "drill")
    driver = LabDriver(lab)
    leader = driver.leader("etcd")
    drill = subprocess.Popen(
        _iklim("drill", "run", "--root", str(lab.root), "--cluster", "etcd"),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (journal.pending() and lab.supervisor.pid(leader) is None):  # journaled, then applied
            assert drill.poll() is None, f"the drill ended early: {drill.stderr.read() if drill.stderr else ''}"
            assert time.monotonic() < deadline, "the drill never applied its fault"
            time.sleep(0.05)
    finally:
        os.killpg(drill.pid, signal.SIGKILL)
        drill.wait(10)
    pending = journal.pending()
    assert [(e.cluster, e.fault, e.member) for e in pending] == [("etcd", "kill", leader)]
    assert lab.supervisor.pid(leader) is None, "the fault outlived iklim"
    begin = time.monotonic()
    healed = subprocess.run(
        _iklim("drill", "heal", "--root", str(lab.root)), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert healed.returncode == 0, healed.stderr
    assert f"healed: etcd kill {leader}" in healed.stdout
    assert journal.pending() == []
    assert lab.supervisor.pid(leader) is not None
    driver.wait_healthy("etcd", 5)  # heal returns only once the status probe says healthy
    assert time.monotonic() - begin < 60
    again = subprocess.run(
        _iklim("drill", "heal", "--root", str(lab.root)), cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "nothing to heal" in again.stdout


@pytest.mark.parametrize("target", ["prod", "swarm-lab"])
def test_targets_without_a_driver_are_refused(lab: LabContext, target: str) -> None:
    """prod: no flag; swarm-lab: a cluster it cannot drill (refused before any seat is opened, so
    this never starts a drill on a Swarm lab that happens to be up)."""
    extra = ["--cluster", "mongo"] if target == "swarm-lab" else []
    refused = subprocess.run(
        _iklim("drill", "run", "--root", str(lab.root), "--target", target, *extra),
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "error:" in refused.stderr
    assert Journal(lab.root / "drill").pending() == []
