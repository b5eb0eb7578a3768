"""``iklim status --target prod --on-overlay`` on a real Swarm: the probe as a job on the overlay.

Runs on a private one-node Swarm (:mod:`private_swarm`: its own dockerd in network namespace
``iklovl``), never on the Swarm lab's engines. The node is labelled ``type=service`` as the
runbook labels service nodes; the overlay is created with the runbook's command; ``redis_password``
is a Docker secret; the six Redis and Sentinel services are the rendered stack's own (commands,
configs, secrets, healthchecks, aliases), deployed as stack ``iklimco`` with only the placement
relaxed to the one node and ``endpoint_mode: dnsrr`` (this kernel has no IPVS). Images come from
the Swarm lab's builder engine: the Redis stand-in and the tool image (``images/iklim``).

Every command runs inside the namespace with ``DOCKER_HOST`` at the node's engine, as an operator
on a production manager would run it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from iklim.model.loader import load_environment
from iklim.status.overlay import JOB_LABEL

sys.path.insert(0, str(Path(__file__).resolve().parent))
import private_swarm  # noqa: E402

pytestmark = pytest.mark.swarmlab

ROOT = Path(__file__).resolve().parents[2]
ENV = load_environment(ROOT / "environments/prod.yaml")
BUILDER = "unix:///run/iklim-swarmlab/builder.sock"
STACK = ENV.stacks.infra
REDIS_SERVICES = [f"redis-{i}" for i in (1, 2, 3)] + [f"redis-sentinel-{i}" for i in (1, 2, 3)]


@dataclass
class Swarm:
    client: docker.DockerClient
    password: str
    workdir: Path
    outputs: list[str] = field(default_factory=list)  # everything a command printed (leak check)


def _copy_images(refs: list[str]) -> None:
    save = subprocess.Popen(["docker", "-H", BUILDER, "save", *refs], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "-H", private_swarm.BASE_URL, "load", "-q"], stdin=save.stdout, capture_output=True, text=True
    )
    assert save.stdout is not None
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, f"image copy failed: {load.stderr.strip()}"


def _redis_stack(folder: Path) -> Path:
    """The rendered stack's Redis and Sentinel services, placed on any service node, dnsrr."""
    doc = yaml.safe_load((ROOT / "docker-stack-infra_db-prod.yml").read_text())
    services = {name: doc["services"][name] for name in REDIS_SERVICES}
    configs = {}
    for spec in services.values():
        spec["deploy"]["placement"]["constraints"] = ["node.labels.type == service"]
        spec["deploy"]["endpoint_mode"] = "dnsrr"
        for ref in spec.get("configs", []):
            source = dict(doc["configs"][ref["source"]])
            source["file"] = str(ROOT / source["file"])
            configs[ref["source"]] = source
    volumes = {v.split(":")[0]: doc["volumes"][v.split(":")[0]] for s in services.values() for v in s["volumes"]}
    out = {
        "version": doc["version"],
        "services": services,
        "configs": configs,
        "secrets": {"redis_password": {"external": True}},
        "volumes": volumes,
        "networks": doc["networks"],
    }
    path = folder / "redis-stack.yml"
    path.write_text(yaml.safe_dump(out, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    assert os.geteuid() == 0, "the private Swarm needs root (network namespaces, dockerd)"
    refs = ["redis:7.4.2-alpine", ENV.tooling.image]
    try:
        builder = docker.DockerClient(base_url=BUILDER, timeout=30)
        missing = [r for r in refs if not builder.images.list(name=r)]
    except docker.errors.DockerException as exc:
        pytest.fail(f"the Swarm lab's builder engine does not answer at {BUILDER} ({exc}): `iklim swarm-lab up`")
    assert not missing, f"not on the builder engine: {missing} (`iklim swarm-lab up` builds them)"
    begin = time.monotonic()
    client = private_swarm.up({"type": "service"})
    try:
        print(f"private Swarm up: {time.monotonic() - begin:.1f} s")
        _copy_images(refs)
        print(f"images copied: {time.monotonic() - begin:.1f} s")
        client.networks.create(
            ENV.overlay.name,
            driver="overlay",
            attachable=True,
            ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(ENV.overlay.subnet))]),
            options={"com.docker.network.driver.mtu": str(ENV.overlay.mtu)},
        )
        password = secrets.token_urlsafe(24)
        client.secrets.create(name="redis_password", data=password.encode())
        workdir = tmp_path_factory.mktemp("status-overlay")
        deploy = subprocess.run(
            ["docker", "-H", private_swarm.BASE_URL, "stack", "deploy", "-c", str(_redis_stack(workdir)), STACK],
            capture_output=True,
            text=True,
        )
        assert deploy.returncode == 0, deploy.stderr
        print(f"Redis stack deployed: {time.monotonic() - begin:.1f} s")
        yield Swarm(client, password, workdir)
    finally:
        begin = time.monotonic()
        left = private_swarm.down()
        print(f"private Swarm down: {time.monotonic() - begin:.1f} s")
        assert not left, f"the private Swarm left: {left}"


def _status(
    swarm: Swarm, *args: str, watch: list[dict[str, Any]] | None = None, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``iklim status --target prod ARGS`` inside the namespace (``extra``: more environment); with
    ``watch``, record every job service spec, container config and secret seen while it runs."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), **(extra or {}))
    command = private_swarm.enter(sys.executable, "-m", "iklim", "status", "--target", "prod", *args)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def record() -> None:
        while not done.is_set():
            label = {"label": JOB_LABEL}
            try:
                watch_list = watch if watch is not None else []
                watch_list += [s.attrs for s in swarm.client.services.list(filters=label)]
                watch_list += [c.attrs for c in swarm.client.containers.list(all=True, filters=label)]
                watch_list += [x.attrs for x in swarm.client.secrets.list(filters=label)]
            except docker.errors.DockerException:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=record, daemon=True)
    if watch is not None:
        thread.start()
    try:
        stdout, stderr = process.communicate(timeout=300)
    finally:
        done.set()
    swarm.outputs += [stdout, stderr]
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _redis_report(stdout: str) -> dict[str, Any]:
    report: dict[str, Any] = next(c for c in json.loads(stdout)["components"] if c["component"] == "redis")
    return report


@pytest.fixture(scope="module")
def healthy(swarm: Swarm) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]], float]:
    """The first ``--on-overlay`` run that finds Redis healthy (Sentinels need a few seconds to
    discover each other), the job specs seen during it, and the seconds it took."""
    deadline = time.monotonic() + 240
    last: subprocess.CompletedProcess[str] | None = None
    while time.monotonic() < deadline:
        seen: list[dict[str, Any]] = []
        begin = time.monotonic()
        last = _status(swarm, "--on-overlay", "-c", "redis", "--format", "json", watch=seen)
        seconds = time.monotonic() - begin
        if last.returncode == 0:
            print(f"Redis healthy on the overlay after {time.monotonic() - deadline + 240:.1f} s")
            return last, seen, seconds
        time.sleep(3)
    assert last is not None
    raise AssertionError(f"Redis not healthy on the overlay after 240 s: {last.returncode} {last.stdout} {last.stderr}")


def test_on_overlay_reports_redis_healthy_by_overlay_names(healthy: Any) -> None:
    done, _, seconds = healthy
    report = _redis_report(done.stdout)
    assert report["status"] == "healthy", report
    assert report["leader"] == "redis-1:6379"
    assert {m["name"] for m in report["members"] if m["ok"]} >= {"redis-sentinel-1", "redis-sentinel-2", "redis-1"}
    assert "3/3 Sentinels agree" in report["reason"] and "2/2 replicas linked" in report["reason"]
    assert "status job iklim-status-" in done.stderr and "complete" in done.stderr
    print(f"--on-overlay run: {seconds:.1f} s")


def test_the_same_command_without_the_overlay_cannot_reach_redis(swarm: Swarm, healthy: Any) -> None:
    done = _status(swarm, "-c", "redis", "--format", "json")
    assert done.returncode == 2
    report = _redis_report(done.stdout)
    assert report["status"] == "down"
    assert "no Sentinel answers" in report["reason"]


def test_the_job_sees_only_secret_paths_never_values(swarm: Swarm, healthy: Any) -> None:
    done, seen, _ = healthy
    services = [s for s in seen if "Spec" in s and "TaskTemplate" in s["Spec"]]
    assert services, "no job service was seen while the job ran"
    container_spec = services[-1]["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert "IKLIM_REDIS_PASSWORD_FILE=/run/secrets/redis_password" in container_spec["Env"]
    assert [s["SecretName"] for s in container_spec["Secrets"]] == ["redis_password"]
    assert services[-1]["Spec"]["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    containers = [c for c in seen if "Config" in c]
    assert containers, "no job container was seen while the job ran"
    assert "IKLIM_REDIS_PASSWORD_FILE=/run/secrets/redis_password" in containers[-1]["Config"]["Env"]
    for text in [json.dumps(seen), *swarm.outputs]:
        assert swarm.password not in text


def test_the_job_and_what_it_made_are_removed(swarm: Swarm, healthy: Any) -> None:
    label = {"label": JOB_LABEL}
    assert swarm.client.services.list(filters=label) == []
    assert swarm.client.configs.list(filters=label) == []
    assert swarm.client.secrets.list(filters=label) == []
    assert {s.name for s in swarm.client.services.list()} == {f"{STACK}_{n}" for n in REDIS_SERVICES}


def test_a_vault_token_is_a_secret_for_the_job_only(swarm: Swarm, healthy: Any) -> None:
    token = "hvs." + secrets.token_urlsafe(18)
    seen: list[dict[str, Any]] = []
    done = _status(swarm, "--on-overlay", "-c", "vault", "--format", "json", watch=seen, extra={"VAULT_TOKEN": token})
    assert done.returncode == 2  # no Vault here: the probe ran and said so
    assert json.loads(done.stdout)["components"][0]["component"] == "vault"
    names = {
        x["Spec"]["Name"] for x in seen if "Spec" in x and "Data" not in x["Spec"] and "TaskTemplate" not in x["Spec"]
    }
    assert any(n.startswith("iklim-status-") and n.endswith("-vault-token") for n in names), names
    specs = [x["Spec"]["TaskTemplate"]["ContainerSpec"] for x in seen if "TaskTemplate" in x.get("Spec", {})]
    assert specs and "VAULT_TOKEN_FILE=/run/secrets/vault_token" in specs[-1]["Env"]
    for text in [json.dumps(seen), done.stdout, done.stderr]:
        assert token not in text
    assert swarm.client.secrets.list(filters={"label": JOB_LABEL}) == []


def test_a_missing_image_is_one_line_and_non_zero(swarm: Swarm, healthy: Any) -> None:
    text = (ROOT / "environments/prod.yaml").read_text().replace(ENV.tooling.image, "ghcr.io/iklimco/iklim:0.0.1")
    model = swarm.workdir / "missing-image.yaml"
    model.write_text(text)
    done = _status(swarm, "--on-overlay", "-c", "redis", "--env", str(model))
    assert done.returncode == 2
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors == done.stderr.strip().splitlines()[-1:]
    assert errors[0].startswith("error: the status job did not start:")
    assert "ghcr.io/iklimco/iklim:0.0.1" in errors[0]
    assert swarm.client.services.list(filters={"label": JOB_LABEL}) == []


def test_ctrl_c_removes_the_job(swarm: Swarm, healthy: Any) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = private_swarm.enter(sys.executable, "-m", "iklim", "status", "--target", "prod", "--on-overlay")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    label = {"label": JOB_LABEL}
    deadline = time.monotonic() + 30
    while not swarm.client.services.list(filters=label):
        assert time.monotonic() < deadline and process.poll() is None, "the job service never appeared"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted; the status job was removed"
    assert swarm.client.services.list(filters=label) == []
    assert swarm.client.configs.list(filters=label) == []
