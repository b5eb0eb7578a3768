"""``iklim deploy --target swarm-lab`` on the running Swarm lab (issue 14), through the real CLI and engines.

(a) The unchanged tree: exit 0 and no service's version index moves (read through the SDK before
and after). (b) A copy of the tree where one stateful member (etcd-3) runs an image that exists on
every node but whose process exits at once (``false`` under the member's own executable path,
imported the way the lab loads images), with the drill workload on every cluster (``--measure``):
the deploy fails on that member, rolls it back and exits 4, and no cluster lost an acknowledged write;
afterwards the plan of the real tree is empty again (the rolled-back spec is exactly the old one)
and every cluster is healthy (``iklim swarm-lab status``, and the pre-flight's ``clusters-healthy``
of the next deploy). (c) The unchanged tree is deployed again at the end, whatever happened.
Run under ``flock /tmp/iklim-lab.lock``; brings the lab up with ``iklim swarm-lab up`` (a running lab is reused).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
BAD_IMAGE = "iklim-lab-test/exits-at-once:1"
MEMBER = "etcd-3"
RUN = Path("/run/iklim-swarmlab")


def _deploy(*args: str, timeout: float = 480) -> tuple[int, dict[str, Any], str]:
    """Run ``iklim deploy --yes --format json``; at ``timeout`` it gets SIGTERM, which it forwards to
    the copy of itself in the seat (a SIGKILL would leave that copy deploying)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "iklim", "deploy", "--yes", "--format", "json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=120)
        pytest.fail(f"iklim deploy did not finish within {timeout:.0f} s: {err[-3000:]}")
    assert out, err[-3000:]
    document: dict[str, Any] = json.loads(out)
    return proc.returncode, document, err


def _plan_empty() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "plan", "--format", "json"], capture_output=True, text=True, cwd=ROOT, env=ENV
    )  # fmt: skip
    assert proc.stdout, f"iklim plan printed nothing (exit {proc.returncode}): {proc.stderr[-3000:]}"
    return bool(json.loads(proc.stdout)["empty"])


def _manager() -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{RUN / 'iklim-app-01.sock'}", timeout=60)


def _versions() -> dict[str, int]:
    client = _manager()
    try:
        return {s["Spec"]["Name"]: int(s["Version"]["Index"]) for s in client.api.services()}
    finally:
        client.close()


def _wait_clusters_healthy(timeout: float = 420.0) -> None:
    """Until deploy's ``clusters-healthy`` pre-flight passes: ``swarm-lab up`` returns once every
    task runs healthy, but a lab restarted on its kept data (every container killed) may still be
    recovering its clusters then (a Patroni replica rejoining, a RabbitMQ node syncing). Read
    with ``iklim deploy --format json`` and no ``--yes`` (no terminal: it stops after the plan)."""
    deadline, last = time.monotonic() + timeout, ""
    while True:
        proc = subprocess.run(
            [sys.executable, "-m", "iklim", "deploy", "--format", "json"],
            capture_output=True, text=True, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, timeout=300,
        )  # fmt: skip
        try:
            checks = json.loads(proc.stdout)["plan"]["preflight"]
            check = next(c for c in checks if c["name"] == "clusters-healthy")
            if check["verdict"] == "pass":
                return
            last = f"{check['message']}: {check.get('details')}"
        except (ValueError, KeyError, TypeError, StopIteration):
            last = proc.stderr[-1500:]
        if time.monotonic() > deadline:
            pytest.fail(f"the clusters were not healthy {timeout:.0f} s after swarm-lab up: {last}")
        time.sleep(10)


@pytest.fixture(scope="module")
def lab() -> Iterator[None]:
    """The lab as the tree deploys it; the unchanged tree is deployed again at the end (c)."""
    # The whole lab (stacks, runbook, seat), not just the nodes: this module may be the first
    # Swarm-lab test of a run on a machine whose lab is down or only half up (idempotent).
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True, cwd=ROOT)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    _wait_clusters_healthy()
    if not _plan_empty():  # a previous run left the lab off the tree: bring it back first
        code, document, err = _deploy()
        assert code == 0, (document.get("error"), err[-2000:])
    yield
    code, document, err = _deploy()
    assert code == 0, (document.get("error"), err[-2000:])


def test_a_the_unchanged_tree_changes_no_version(lab: None) -> None:
    before = _versions()
    code, document, err = _deploy()
    after = _versions()
    assert code == 0, (document["error"], err[-2000:])
    assert document["schema"] == "iklim.deploy/v1" and document["applied"] == []
    assert document["plan"]["empty"] is True
    seat = "iklim-drill-seat"
    assert {k: v for k, v in after.items() if k != seat} == {k: v for k, v in before.items() if k != seat}
    verdicts = {c["name"]: c["verdict"] for c in document["plan"]["preflight"]}
    assert verdicts["clusters-healthy"] == "pass", document["plan"]["preflight"]


def _load_exiting_image(executables: list[str]) -> None:
    """An image whose given executables are all ``false`` (exit 1 at once), into every node's engine."""
    libs = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in libs:
            tar.add(os.path.realpath(name), arcname=name.lstrip("/"))
        for path in {*executables, "/bin/sh"}:
            tar.add(os.path.realpath("/usr/bin/false"), arcname=path.lstrip("/"))
    for socket in sorted(RUN.glob("iklim-*.sock")):
        client = docker.DockerClient(base_url=f"unix://{socket}", timeout=60)
        try:
            client.api.import_image_from_data(buffer.getvalue(), repository=BAD_IMAGE.split(":")[0], tag="1")
        finally:
            client.close()


def test_b_a_member_whose_image_exits_is_rolled_back(lab: None, tmp_path: Path) -> None:
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml", "init-infra-prod.sh"):
        shutil.copyfile(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    stack = tmp_path / "docker-stack-infra_db-prod.yml"
    document = yaml.safe_load(stack.read_text())
    service = document["services"][MEMBER]
    argv = service.get("entrypoint") or service.get("command")
    first = argv[0] if isinstance(argv, list) else str(argv).split()[0]
    _load_exiting_image([first if first.startswith("/") else f"/bin/{first}"])
    service["image"] = BAD_IMAGE
    stack.write_text(yaml.safe_dump(document, sort_keys=False))
    client = _manager()
    try:
        old = client.api.inspect_service(f"iklimco_{MEMBER}")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    finally:
        client.close()

    code, result, err = _deploy("--tree", str(tmp_path), "--measure")
    assert code == 4, (result.get("error"), err[-3000:])
    assert result["outcome"] == "rolled-back"
    assert result["rolled_back"] == [f"iklimco_{MEMBER}"] and result["applied"] == []
    assert f"iklimco_{MEMBER}" in result["error"], result["error"]
    # The drill workload wrote to every cluster with a seam through the failed member and its rollback.
    measured = {c["cluster"]: c["measured"] for c in result["result"]["clusters"] if c["measured"] is not None}
    print("\n" + "\n".join(f"{k}: {v}" for k, v in sorted(measured.items())))
    assert {"etcd", "patroni", "redis", "rabbitmq", "vault"} <= set(measured), measured
    assert all(m["acknowledged"] > 0 and m["lost"] == 0 for m in measured.values()), measured

    client = _manager()
    try:
        now = client.api.inspect_service(f"iklimco_{MEMBER}")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    finally:
        client.close()
    assert now == old
    assert _plan_empty()
    status = subprocess.run(
        [sys.executable, "-m", "iklim", "swarm-lab", "status"], capture_output=True, text=True, cwd=ROOT, env=ENV
    )  # fmt: skip
    assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
