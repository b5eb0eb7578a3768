"""``iklim plan`` predicts exactly which services ``iklim deploy`` restarts (issue 14), in scripted scenarios.

Each scenario edits a copy of the rendered tree (one kind of change: image, environment,
config content, placement, port, update policy, deploy labels, resources, healthcheck, container
labels; secret rotation is ``test_deploy_rotation.py``, whose plan must name exactly the services
that mount the secret), asks ``iklim plan --format json`` for the services it would
restart (action ``rolling-restart`` or ``recreate``) and the ones it would only touch
(``metadata-only``), runs ``iklim deploy --yes`` and then reads, through the Engine API of the
lab's manager, which services got a new task (the set of running task IDs changed) and which got
a new spec. The scenarios are chained (each edits the tree the previous one deployed),
the unchanged tree is deployed once in the middle (no service's spec may change; the version
index itself is ``test_deploy_apply.py``'s, on a settled lab) and the
original tree is deployed at the end, so the lab is left as the rendered tree makes it.

The services edited are ones without state that run in the lab (exporters, Alertmanager, the cert
reloader; a restart is observed on running tasks, so not the MongoDB exporters, scaled to 0 with
the FAKE MongoDB, except for a deploy-label change, which restarts nothing anyway): the
restart of stateful members is the subject of ``test_deploy_stateful.py``. Deploys use
``--no-settle``: the monitor windows (80 s per deploy) decide nothing here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from iklim.swarmlab import paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from treeedit import INFRA, append_to_config, copy_tree  # noqa: E402

pytestmark = [pytest.mark.swarmlab, pytest.mark.deploy_acceptance]

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
STACK = "iklimco"
MANAGER = "iklim-app-01"
NODES = ("iklim-app-01", "iklim-app-02", "iklim-app-03", "iklim-db-01", "iklim-db-02", "iklim-db-03")
#: A second tag of the exporter's image, made on every node that holds it: an image change the nodes can run.
EXPORTER_IMAGE = "nginx/nginx-prometheus-exporter:1.3.0"
EXPORTER_RETAG = "nginx/nginx-prometheus-exporter:1.3.0-iklim-scenario"

Edit = Callable[[dict[str, Any], Path], None]


def _service(document: dict[str, Any], name: str) -> dict[str, Any]:
    service: dict[str, Any] = document["services"][name]
    return service


def _image(document: dict[str, Any], tree: Path) -> None:
    _service(document, "swag-exporter")["image"] = EXPORTER_RETAG


def _env(document: dict[str, Any], tree: Path) -> None:
    _service(document, "cert-reloader")["environment"]["IKLIM_SCENARIO"] = "env"


def _config(document: dict[str, Any], tree: Path) -> None:
    # The config's name is the hash of its content (render): a new name, so a new config object.
    append_to_config(tree, INFRA, document, "alertmanager_alertmanager.yml", "# scenario: a changed config\n")


def _placement(document: dict[str, Any], tree: Path) -> None:
    # A constraint every running task's node still satisfies: Swarm keeps the task (swarmkit
    # IsTaskDirtyPlacementConstraintsOnly), so the plan says metadata-only.
    _service(document, "swag-exporter")["deploy"]["placement"]["constraints"].append("node.platform.os == linux")


def _port(document: dict[str, Any], tree: Path) -> None:
    port = {"target": 9999, "published": 19999, "protocol": "tcp", "mode": "host"}
    _service(document, "cert-reloader")["ports"] = [port]


def _update_policy(document: dict[str, Any], tree: Path) -> None:
    _service(document, "redis-exporter")["deploy"]["update_config"]["delay"] = "11s"


def _deploy_labels(document: dict[str, Any], tree: Path) -> None:
    _service(document, "mongodb-exporter-1")["deploy"]["labels"] = {"org.iklim.scenario": "labels"}


def _resources(document: dict[str, Any], tree: Path) -> None:
    _service(document, "cert-reloader")["deploy"]["resources"] = {"limits": {"memory": "96M"}}


def _healthcheck(document: dict[str, Any], tree: Path) -> None:
    _service(document, "redis-exporter")["healthcheck"]["retries"] = 6


def _container_labels(document: dict[str, Any], tree: Path) -> None:
    _service(document, "alertmanager").setdefault("labels", {})["org.iklim.scenario"] = "container-labels"


#: (name, edit, the services that must restart, the services only touched (metadata-only)).
SCENARIOS: list[tuple[str, Edit, set[str], set[str]]] = [
    ("image", _image, {"swag-exporter"}, set()),
    ("environment", _env, {"cert-reloader"}, set()),
    ("config content", _config, {"alertmanager"}, set()),
    ("placement still satisfied", _placement, set(), {"swag-exporter"}),
    ("host-mode port", _port, {"cert-reloader"}, set()),
    ("update policy", _update_policy, set(), {"redis-exporter"}),
    ("deploy labels", _deploy_labels, set(), {"mongodb-exporter-1"}),
    ("resources", _resources, {"cert-reloader"}, set()),
    ("healthcheck", _healthcheck, {"redis-exporter"}, set()),
    ("container labels", _container_labels, {"alertmanager"}, set()),
]


def _engine(hostname: str) -> docker.DockerClient:
    return docker.DockerClient(base_url=f"unix://{paths.node_socket(hostname)}", timeout=60)


@pytest.fixture(scope="module")
def lab() -> Iterator[docker.DockerClient]:
    up = subprocess.run([sys.executable, "-m", "iklim", "swarm-lab", "up"], capture_output=True, text=True, cwd=ROOT)
    assert up.returncode == 0, f"swarm-lab up failed:\n{up.stderr[-4000:]}"
    tagged = []
    for node in NODES:  # the image scenario's second tag, on every node that holds the image
        with closing(_engine(node)) as client:  # (the service nodes: the exporter's placement)
            try:
                client.images.get(EXPORTER_IMAGE).tag(EXPORTER_RETAG)
            except docker.errors.ImageNotFound:
                continue
            tagged.append(node)
    assert tagged, f"{EXPORTER_IMAGE} is on no node"
    manager = _engine(MANAGER)
    try:
        yield manager
    finally:
        _deploy(ROOT)
        for node in tagged:
            with closing(_engine(node)) as client:
                client.images.remove(EXPORTER_RETAG, noprune=True)
        manager.close()


def _run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iklim", *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout
    )


def _plan(tree: Path, *extra: str) -> dict[str, str]:
    proc = _run("plan", "--target", "swarm-lab", "--format", "json", "--tree", str(tree), *extra, timeout=120)
    assert proc.returncode in (0, 2), f"plan exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    document = json.loads(proc.stdout)
    return {str(s["name"]): str(s["action"]) for s in document["services"]}


def _short(planned: dict[str, str], actions: tuple[str, ...]) -> set[str]:
    """The short names (stack prefix removed) of the planned services whose action is one of ``actions``."""
    return {s.removeprefix(f"{STACK}_") for s, a in planned.items() if a in actions}


def _deploy(tree: Path, *extra: str) -> None:
    proc = _run("deploy", "--target", "swarm-lab", "--tree", str(tree), "--yes", "--no-settle", *extra)
    assert proc.returncode == 0, f"deploy exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


def _observe(manager: docker.DockerClient) -> dict[str, tuple[str, frozenset[str]]]:
    """Service short name -> (its spec as canonical JSON, the IDs of its running tasks).

    The spec, not the version index: with ``--no-settle`` Swarm still ends the previous scenario's
    monitor window meanwhile, and writing ``UpdateStatus`` ``completed`` moves the index of a
    service nobody changed (found on the Swarm lab: scenario 3 saw scenario 1's exporter move)."""
    seen: dict[str, tuple[str, frozenset[str]]] = {}
    for service in manager.api.services(filters={"label": f"com.docker.stack.namespace={STACK}"}):
        name = str(service["Spec"]["Name"]).removeprefix(f"{STACK}_")
        tasks = manager.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
        seen[name] = (json.dumps(service["Spec"], sort_keys=True), frozenset(str(t["ID"]) for t in tasks))
    return seen


Seen = dict[str, tuple[str, frozenset[str]]]


def _restarted(before: Seen, after: Seen) -> set[str]:
    return {name for name, (_, tasks) in after.items() if before.get(name, ("", frozenset()))[1] != tasks}


def _bumped(before: Seen, after: Seen) -> set[str]:
    """The services whose spec changed."""
    return {name for name, (spec, _) in after.items() if before.get(name, ("", frozenset()))[0] != spec}


def test_plan_predicts_what_deploy_restarts(lab: docker.DockerClient, tmp_path: Path) -> None:
    tree = copy_tree(ROOT, tmp_path)
    stack_file = tree / INFRA
    results: list[str] = []
    for index, (name, edit, restart, touched) in enumerate(SCENARIOS):
        document = yaml.safe_load(stack_file.read_text())
        edit(document, tree)
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        planned = _plan(tree)
        predicted_restart = _short(planned, ("rolling-restart", "recreate"))
        predicted_touch = _short(planned, ("metadata-only",))
        assert (predicted_restart, predicted_touch) == (restart, touched), f"scenario {index + 1} ({name}): plan"
        before = _observe(lab)
        _deploy(tree)
        after = _observe(lab)
        assert _restarted(before, after) == predicted_restart, f"scenario {index + 1} ({name}): restarted"
        assert _bumped(before, after) == predicted_restart | predicted_touch, f"scenario {index + 1} ({name}): specs"
        results.append(f"{index + 1}. {name}: restarted {sorted(predicted_restart)}, touched {sorted(predicted_touch)}")
    # The unchanged tree: nothing planned, no service's spec changes.
    assert set(_plan(tree).values()) == {"unchanged"}
    before = _observe(lab)
    _deploy(tree)
    assert _bumped(before, _observe(lab)) == set(), "the unchanged tree changed a service's spec"
    # Back to the rendered tree: the plan's restart set is again what the deploy restarts.
    planned = _plan(ROOT)
    predicted = _short(planned, ("rolling-restart", "recreate"))
    before = _observe(lab)
    _deploy(ROOT)
    assert _restarted(before, _observe(lab)) == predicted, "restoring the rendered tree"
    print("\n".join(results))
