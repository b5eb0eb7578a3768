"""``iklim plan`` on the running Swarm lab: its time, and whether it predicts what a real deploy restarts.

Needs the lab up (``iklim swarm-lab up``); run it under the lab lock:

    flock /tmp/iklim-lab.lock python3 bench/bench_plan.py [--runs 5]

1. ``iklim plan --target swarm-lab`` ``--runs`` times on the unchanged tree: wall time of the
   command, and the snapshot / plan / pre-flight seconds it reports (all checks, every node's
   image list included).
2. A copy of the tree with three edits -- an etcd member's environment (rolling-restart), a
   RabbitMQ member's update delay (metadata-only) and Prometheus's config file (a new
   content-addressed config: rolling-restart) -- is planned, then deployed as the runbook deploys
   (``docker stack deploy`` from the first manager's namespace, with the lab override). Once every
   service has converged, the services whose running tasks were replaced are compared with the
   plan's rolling-restart set, and the unchanged ones' tasks must all still run.
3. The original tree is deployed again the same way (the same three services predicted and checked).

Prints one line per step; exits 1 when a prediction is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from iklim.model.loader import load_environment  # noqa: E402
from iklim.render.stacks import STACK_FILES, config_name  # noqa: E402
from iklim.swarmlab.override import override_path  # noqa: E402
from iklim.swarmlab.paths import node_socket  # noqa: E402

ENV = load_environment(ROOT / "environments" / "prod.yaml")
MANAGER = next(n.name for n in ENV.nodes if n.swarm_role == "manager")
PROCESS_ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def plan(tree: Path) -> tuple[int, dict[str, Any], float]:
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "iklim", "plan", "--format", "json", "--tree", str(tree)],
        capture_output=True, text=True, cwd=ROOT, env=PROCESS_ENV, timeout=120,
    )  # fmt: skip
    took = time.monotonic() - began
    if not proc.stdout:
        raise SystemExit(f"plan failed: {proc.stderr.strip()}")
    return proc.returncode, json.loads(proc.stdout), took


def running_tasks(client: docker.DockerClient) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for service in client.services.list():
        tasks = service.tasks(filters={"desired-state": "running"})
        found[service.name] = {t["ID"] for t in tasks if t["Status"]["State"] == "running"}
    return found


def converged(client: docker.DockerClient) -> bool:
    for service in client.services.list():
        spec = service.attrs["Spec"]
        state = (service.attrs.get("UpdateStatus") or {}).get("State", "completed")
        if state in ("updating", "rollback_started"):
            return False
        want = spec["Mode"].get("Replicated", {}).get("Replicas", 1)
        tasks = service.tasks(filters={"desired-state": "running"})
        if sum(1 for t in tasks if t["Status"]["State"] == "running") < want:
            return False
    return True


def deploy(tree: Path) -> None:
    """``docker stack deploy`` of both stacks from ``tree``, from the first manager's namespaces."""
    names = {"infra": ENV.stacks.infra, "vault": ENV.stacks.vault}
    for kind, file in STACK_FILES.items():
        command = (
            f"cd {tree} && docker stack deploy -c {file} -c {override_path(file)} --with-registry-auth {names[kind]}"
        )
        proc = subprocess.run(
            [sys.executable, "-m", "iklim", "swarm-lab", "shell", MANAGER, "--", "sh", "-c", command],
            capture_output=True, text=True, cwd=ROOT, env=PROCESS_ENV, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"deploy of {file} failed: {proc.stderr.strip()[-500:]}")


def copy_tree(into: Path) -> Path:
    for file in STACK_FILES.values():
        shutil.copyfile(ROOT / file, into / file)
    shutil.copytree(ROOT / "config", into / "config")
    return into


def edit(tree: Path) -> None:
    path = tree / STACK_FILES["infra"]
    document = yaml.safe_load(path.read_text())
    services = document["services"]
    services["etcd-2"]["environment"]["ETCD_AUTO_COMPACTION_RETENTION"] = "2h"
    services["rabbitmq-1"]["deploy"]["update_config"]["delay"] = "20s"
    rel = "config/prometheus/prometheus.yml"
    text = (tree / rel).read_text() + "# bench_plan: a changed config\n"
    (tree / rel).write_text(text)
    document["configs"]["prometheus_prometheus.yml"]["name"] = config_name(ENV.stacks.infra, rel, text)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def predicted(document: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["action"] for s in document["services"] if s["action"] != "unchanged"}


def deploy_and_compare(client: docker.DockerClient, tree: Path, label: str) -> bool:
    code, document, took = plan(tree)
    want = predicted(document)
    print(f"{label}: plan in {took:.2f} s (exit {code}): {json.dumps(want, sort_keys=True)}")
    before = running_tasks(client)
    began = time.monotonic()
    deploy(tree)
    time.sleep(3)
    while not converged(client):
        if time.monotonic() - began > 240:
            raise SystemExit(f"{label}: not converged after 240 s")
        time.sleep(2)
    after = running_tasks(client)
    replaced = sorted(n for n in before if before[n] and after.get(n) != before[n])
    restart = sorted(n for n, a in want.items() if a in ("rolling-restart", "recreate"))
    ok = replaced == restart
    print(
        f"{label}: deployed and converged in {time.monotonic() - began:.1f} s; tasks replaced: {replaced}; "
        f"predicted: {restart}; {'MATCH' if ok else 'MISMATCH'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times, reported = [], []
    for _ in range(args.runs):
        code, document, took = plan(ROOT)
        times.append(took)
        reported.append(document["seconds"])
        if code != 0 or not document["empty"]:
            print(f"unchanged tree: exit {code}, empty {document['empty']}: {predicted(document)}")
            return 1
    median = sorted(times)[len(times) // 2]
    worst = max(r["preflight"] for r in reported)
    print(f"unchanged tree: nothing to change; command {median:.2f} s median of {args.runs} "
          f"(snapshot {sorted(r['snapshot'] for r in reported)[len(reported) // 2]:.3f} s, "
          f"pre-flight incl. snapshot <= {worst:.3f} s)")  # fmt: skip
    client = docker.DockerClient(base_url=f"unix://{node_socket(MANAGER)}", timeout=60)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        changed = copy_tree(Path(folder))
        edit(changed)
        ok &= deploy_and_compare(client, changed, "three edits")
        ok &= deploy_and_compare(client, ROOT, "back to the tree")
    client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
