"""Run inside the drill seat by ``test_deploy_rolling.py``: a rolling change of every stateful
cluster's services through :func:`iklim.deploy.runner.run_deploy`, measured, then the original
specs put back through :func:`run_deploy` again; both results as JSON to ``argv[1]``.

The applier here is the test's own minimal one (until deploy-core's Engine-API applier is merged):
``POST /services/{id}/update`` of the inspected spec with one harmless change (an environment
variable ``IKLIM_DEPLOY_TEST=<nonce>`` in ``TaskTemplate.ContainerSpec.Env``, which Swarm rolls as a
restart), then a wait until the service runs exactly one task of that spec, its container
``healthy`` (the stack's healthcheck) per its node's engine. ``rollback`` and the restore post the
spec inspected before the first change.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from iklim.deploy.api import DeployError, Hooks, ServiceApplier
from iklim.deploy.order import cluster_entries
from iklim.deploy.report import render_text
from iklim.deploy.runner import run_deploy
from iklim.deploy.seatseams import engine_exec, seat_seams
from iklim.drill.swarmseat import SeatContext, SeatError, check_seated, seated_pid
from iklim.model.loader import load_environment
from iklim.plan.diff import Plan, ServicePlan
from iklim.plan.grace import service_components
from iklim.swarmlab import paths

ROOT = Path(__file__).resolve().parents[2]
MARKER = "IKLIM_DEPLOY_TEST"
CONVERGE_S = 240.0


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


class LabSecrets(SeatContext):
    """The seat's secrets, plus those only the members hold (Patroni's REST password): read from a
    running member container's ``/run/secrets`` through ``/proc/<pid>/root`` (never printed)."""

    def __init__(self, env: Any, pid: int, manager: docker.DockerClient) -> None:
        super().__init__(env, pid)
        self.manager = manager

    def secret(self, name: str) -> str:
        try:
            return super().secret(name)
        except SeatError:
            pass
        for task in self.manager.api.tasks(filters={"desired-state": "running"}):
            names = [s.get("SecretName") for s in task.get("Spec", {}).get("ContainerSpec", {}).get("Secrets") or []]
            cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
            if name not in names or not cid:
                continue
            node = self.manager.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
            engine = docker.DockerClient(base_url=f"unix://{paths.node_socket(node)}", timeout=30)
            try:
                pid = engine.api.inspect_container(cid)["State"]["Pid"]
            finally:
                engine.close()
            return Path(f"/proc/{pid}/root/run/secrets/{name}").read_text().strip()
        raise SeatError(f"secret {name!r} not held by the seat or any running task")


class EnvApplier(ServiceApplier):
    """Adds ``MARKER=<nonce>`` to a service's environment (``restore``: puts the original spec back)."""

    def __init__(self, manager: docker.DockerClient, nonce: str, originals: dict[str, dict[str, Any]]) -> None:
        self.manager, self.nonce, self.originals = manager, nonce, originals
        self.restore = False

    def _spec(self, service: str) -> tuple[str, int, dict[str, Any]]:
        found = self.manager.api.inspect_service(service)
        self.originals.setdefault(service, json.loads(json.dumps(found["Spec"])))
        return found["ID"], int(found["Version"]["Index"]), found["Spec"]

    def _post(self, sid: str, version: int, spec: dict[str, Any]) -> None:
        api = self.manager.api
        url = api._url("/services/{0}/update", sid)
        api._raise_for_status(api._post_json(url, data=spec, params={"version": version}))

    def _desired(self, service: str) -> dict[str, Any]:
        spec = json.loads(json.dumps(self.originals[service]))
        if not self.restore:
            container = spec["TaskTemplate"]["ContainerSpec"]
            container["Env"] = [*(container.get("Env") or []), f"{MARKER}={self.nonce}"]
        return spec

    def marked(self, service: str) -> bool:
        """True when ``service``'s live spec carries this test's change."""
        env = self.manager.api.inspect_service(service)["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env") or []
        return any(e.startswith(f"{MARKER}=") for e in env)

    def apply(self, service: str) -> int:
        sid, version, _ = self._spec(service)
        desired = self._desired(service)
        self._post(sid, version, desired)
        return self._converge(service, desired)

    def rollback(self, service: str) -> None:
        sid, version, _ = self._spec(service)
        self._post(sid, version, self.originals[service])
        self._converge(service, self.originals[service])

    def _converge(self, service: str, desired: dict[str, Any]) -> int:
        env = sorted(desired["TaskTemplate"]["ContainerSpec"].get("Env") or [])
        deadline, why = time.monotonic() + CONVERGE_S, "no task yet"
        while time.monotonic() < deadline:
            found = self.manager.api.inspect_service(service)
            state = (found.get("UpdateStatus") or {}).get("State", "")
            if state in ("paused", "rollback_started", "rollback_paused", "rollback_completed"):
                raise DeployError(f"{service}: Swarm's update is {state}: {found['UpdateStatus'].get('Message', '')}")
            tasks = self.manager.api.tasks(filters={"service": service, "desired-state": "running"})
            new = [t for t in tasks if sorted(t["Spec"]["ContainerSpec"].get("Env") or []) == env]
            running = [t for t in new if t["Status"]["State"] == "running"]
            if len(tasks) == 1 and running:
                health = self._health(running[0])
                if health in ("healthy", "none"):
                    return int(found["Version"]["Index"])
                why = f"container {health}"
            else:
                why = f"{len(tasks)} task(s) to run, {len(running)} of the new spec running"
            time.sleep(0.5)
        raise DeployError(f"{service}: not converged within {CONVERGE_S:.0f} s: {why}")

    def _health(self, task: dict[str, Any]) -> str:
        node = self.manager.api.inspect_node(task["NodeID"])["Description"]["Hostname"]
        engine = docker.DockerClient(base_url=f"unix://{paths.node_socket(node)}", timeout=30)
        try:
            state = engine.api.inspect_container(task["Status"]["ContainerStatus"]["ContainerID"])["State"]
        finally:
            engine.close()
        return str((state.get("Health") or {}).get("Status", "none"))


def main(out: Path) -> int:
    env = load_environment(ROOT / "environments" / "prod.yaml")
    manager_name = next(n.name for n in env.nodes if n.swarm_role == "manager")
    pid = seated_pid()
    if pid is None:
        raise SystemExit("not in the seat")
    check_seated(pid, manager_name)
    manager = docker.DockerClient(base_url=f"unix://{paths.node_socket(manager_name)}", timeout=60)
    ctx = LabSecrets(env, pid, manager)
    seams = seat_seams(ctx, paths.VAULT_KEYS_FILE)
    clusters = {e.key for e in cluster_entries(env)}
    if os.environ.get("IKLIM_DEPLOY_TEST_CLUSTERS"):  # a smoke run on some clusters only
        clusters &= set(os.environ["IKLIM_DEPLOY_TEST_CLUSTERS"].split(","))
    components = service_components(env)
    running = {
        s.name for s in manager.services.list() if (s.attrs["Spec"]["Mode"].get("Replicated") or {}).get("Replicas", 1)
    }
    names = sorted(n for n, key in components.items() if key in clusters and n in running and "exporter" not in n)
    plan = Plan(services=[ServicePlan(n, n.split("_", 1)[0], "rolling-restart") for n in names])
    _log(f"changing {len(names)} services: {', '.join(names)}")
    applier = EnvApplier(manager, uuid.uuid4().hex[:8], {})
    member_exec = engine_exec(env, manager_name, ctx)
    results: dict[str, Any] = {"services": names}
    try:
        forward = run_deploy(env, plan, applier, Hooks(), seams, _log, measure=True, member_exec=member_exec)
        results["deploy"] = forward.as_dict()
        _log(render_text(forward))
    finally:
        applier.restore = True
        changed = [n for n in names if applier.marked(n)]  # what is still changed (a rollback put some back)
        back = Plan(services=[ServicePlan(n, n.split("_", 1)[0], "rolling-restart") for n in changed])
        _log(f"restoring {len(changed)} services: {', '.join(changed)}")
        restored = run_deploy(env, back, applier, Hooks(), seams, _log, member_exec=member_exec)
        results["restore"] = restored.as_dict()
        _log(render_text(restored))
        out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
