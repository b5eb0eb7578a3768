"""Time from ``iklim deploy`` to converged for a config change, beside ``docker stack deploy`` + a wait.

Run (as root, the Swarm lab up, under the lab lock)::

    flock /tmp/iklim-lab.lock python bench/bench_deploy.py [--clusters redis,rabbitmq,...]

The change: in a copy of the tree, every config file the chosen clusters' services mount gets a
comment line with a run id (``%`` in RabbitMQ's Erlang-term files: a ``#`` there stops the node,
which the first run of this bench did -- the deploy paused on rabbitmq-1 and rolled back), and
its config object a new content-hashed name (as render names them); a member without a config
file (etcd) gets an environment variable instead. Then:

1. ``iklim deploy --tree COPY --yes`` (member by member, each waited for to converge), timed to its exit;
2. back to the real tree, the same change in reverse, by ``docker stack deploy`` through the lab's
   manager (``iklim swarm-lab shell iklim-app-01 -- <the lab's docker shim> stack deploy -c FILE
   ...``, the shim adds the lab override as the runbook's deploy does), then a wait until every
   service of the stacks runs tasks of its current spec, as many as its replicas (``GET
   /services``, ``GET /tasks``, every 0.5 s);
3. the verdict of ``iklim deploy``'s ``clusters-healthy`` check right after (Vault members
   restarted by Swarm come back sealed), then the heal: ``iklim swarm-lab up`` (its runbook
   unseals Vault) and ``iklim deploy --yes``, which should have nothing left to do.

With ``--skip-stack-deploy``, step 2 is ``iklim deploy --yes`` of the real tree instead.

Prints the figures; it is not a test. ``iklim deploy`` waits for each member's new task to run
healthy and its cluster to be healthy, then once, at the end, for Swarm's monitor windows of
every applied service (``update_config.monitor``, 80 s; 170 s for Patroni): all five clusters take
about 8 minutes on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"))
STACK_FILES = {"iklimco": "docker-stack-infra_db-prod.yml", "vault": "docker-stack-vault.yml"}
SHIM = "/var/lib/iklim-swarmlab/shim/docker"
MANAGER_SOCKET = "unix:///run/iklim-swarmlab/iklim-app-01.sock"
CLUSTERS = ("etcd", "patroni", "redis", "rabbitmq", "vault")


def changed_tree(target: Path, clusters: set[str], run_id: str, members: int = 0) -> dict[str, list[str]]:
    """Write the changed copy of the tree into ``target``; stack -> the services it changes
    (``members``: only the first N member services of each cluster, 0 for all)."""
    from iklim.model.loader import load_environment
    from iklim.plan.grace import service_components

    components = service_components(load_environment(REPO / "environments" / "prod.yaml"))
    for name in [*STACK_FILES.values(), "init-infra-prod.sh"]:
        shutil.copyfile(REPO / name, target / name)
    shutil.copytree(REPO / "config", target / "config")
    touched: dict[str, list[str]] = {}
    for stack, file in STACK_FILES.items():
        document = yaml.safe_load((target / file).read_text())
        renamed: set[str] = set()
        counted: dict[str, int] = {}
        for key, service in document["services"].items():
            component = components.get(f"{stack}_{key}")
            if component not in clusters or "exporter" in key:
                continue
            counted[component] = counted.get(component, 0) + 1
            if members and counted[component] > members:
                continue
            touched.setdefault(stack, []).append(f"{stack}_{key}")
            refs = [r if isinstance(r, str) else r["source"] for r in service.get("configs") or []]
            if not refs:
                service.setdefault("environment", {})["IKLIM_BENCH_RUN"] = run_id
            for ref in refs:
                if ref in renamed:
                    continue
                declared = document["configs"][ref]
                path = target / declared["file"]
                erlang = path.name == "enabled_plugins" or path.suffix == ".config"  # Erlang terms: % comments
                path.write_text(path.read_text() + f"\n{'%' if erlang else '#'} bench {run_id}\n")
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
                declared["name"] = re.sub(r"_[0-9a-f]{10}$", "", declared["name"]) + f"_{digest}"
                renamed.add(ref)
        (target / file).write_text(yaml.safe_dump(document, sort_keys=False))
    return touched


def iklim_deploy(tree: Path | None) -> tuple[float, int, str]:
    args = [sys.executable, "-m", "iklim", "deploy", "--yes", "--format", "json"]
    args += ["--tree", str(tree)] if tree else []
    began = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=ENV)
    took = time.monotonic() - began
    try:
        why = str(json.loads(proc.stdout).get("error") or "")
    except ValueError:
        why = proc.stderr[-1500:]
    return took, proc.returncode, why


def all_converged(client: Any, stacks: set[str]) -> bool:
    """Every service of ``stacks`` runs tasks of its current spec, as many as its replicas."""
    from iklim.deploy.converge import current

    for service in client.api.services():
        spec = service["Spec"]
        if (spec.get("Labels") or {}).get("com.docker.stack.namespace") not in stacks:
            continue
        if (service.get("UpdateStatus") or {}).get("State") in ("updating", "rollback_started"):
            return False
        tasks = [t for t in client.api.tasks(filters={"service": service["ID"]}) if t["DesiredState"] == "running"]
        replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", len(tasks)))
        if len(tasks) != replicas or any(
            t["Status"]["State"] != "running" or not current(t, spec["TaskTemplate"]) for t in tasks
        ):
            return False
    return True


def stack_deploy(tree: Path, stacks: list[str]) -> tuple[float, float]:
    """``docker stack deploy`` of ``stacks`` from ``tree`` through the manager; (command s, to converged s)."""
    began = time.monotonic()
    for stack in stacks:
        command = [SHIM, "stack", "deploy", "-c", str(tree / STACK_FILES[stack]), "--with-registry-auth", stack]
        subprocess.run(
            [sys.executable, "-m", "iklim", "swarm-lab", "shell", "iklim-app-01", "--", *command],
            check=True, cwd=tree, env=ENV, capture_output=True, text=True,
        )  # fmt: skip
    returned = time.monotonic() - began
    client = docker.DockerClient(base_url=MANAGER_SOCKET, timeout=60)
    try:
        time.sleep(1.0)  # the orchestrator picks the update up; then every task must run the new spec
        while not all_converged(client, set(stacks)):
            if time.monotonic() - began > 900:
                raise SystemExit("docker stack deploy: not converged within 900 s")
            time.sleep(0.5)
    finally:
        client.close()
    return returned, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", default=",".join(CLUSTERS), help="comma-separated clusters to change")
    parser.add_argument("--members", type=int, default=0, help="change only the first N members per cluster")
    parser.add_argument("--skip-stack-deploy", action="store_true", help="only time iklim deploy")
    args = parser.parse_args()
    clusters = {c for c in args.clusters.split(",") if c}
    run_id = uuid.uuid4().hex[:8]
    client = docker.DockerClient(base_url=MANAGER_SOCKET, timeout=60)
    try:  # a previous lock holder's updates may still be running: start from a settled Swarm
        began = time.monotonic()
        while not all_converged(client, set(STACK_FILES)) and time.monotonic() - began < 240:
            time.sleep(1.0)
        print(f"settled after {time.monotonic() - began:.1f} s")
    finally:
        client.close()
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tree = Path(tmp)
        touched = changed_tree(tree, clusters, run_id, args.members)
        members = sum(len(v) for v in touched.values())
        names = ", ".join(s for v in touched.values() for s in v)
        print(f"config change of {', '.join(sorted(clusters))}: {members} member service(s): {names} (run {run_id})")
        took, code, err = iklim_deploy(tree)
        print(f"iklim deploy (change)         : {took:7.1f} s  exit {code}")
        if code != 0:
            print(err)
        if args.skip_stack_deploy or code != 0:
            took, code, err = iklim_deploy(None)
            print(f"iklim deploy (restore)        : {took:7.1f} s  exit {code}")
            return
        # The way back is the same change in reverse (every touched config differs again): this
        # time by docker stack deploy of the real tree, as the seed's runbook does it.
        returned, converged = stack_deploy(REPO, sorted(touched))
        print(f"docker stack deploy (change)  : {returned:7.1f} s to return, {converged:7.1f} s to every task running")
        print(f"  right after it, clusters-healthy: {cluster_health()}")
        began = time.monotonic()
        up = subprocess.run(
            [sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True, cwd=REPO, env=ENV
        )  # fmt: skip
        print(f"swarm-lab up (heal: runbook, Vault unsealed): {time.monotonic() - began:7.1f} s  exit {up.returncode}")
        took, code, err = iklim_deploy(None)
        print(f"iklim deploy (nothing left)   : {took:7.1f} s  exit {code}")


def cluster_health() -> str:
    """The verdict and message of ``iklim deploy``'s ``clusters-healthy`` pre-flight check (``iklim
    status`` from the drill seat), read without deploying (no ``--yes``, no terminal: it stops
    after the pre-flight). Every Vault member restarted by ``docker stack deploy`` is sealed until
    someone unseals it; nothing in Swarm does."""
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "deploy", "--format", "json"],
        capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        checks = json.loads(proc.stdout)["plan"]["preflight"]
    except (ValueError, KeyError, TypeError):
        return f"unreadable: {proc.stderr.strip()[-200:]}"
    check = next((c for c in checks if c["name"] == "clusters-healthy"), None)
    return f"{check['verdict']}: {check.get('message', '')}" if check else "no clusters-healthy check"


if __name__ == "__main__":
    main()
