"""Alertmanager, the notification path: its rendered config is valid for the real ``amtool``,
receivers come from the model with their credentials in Docker secrets, and ``iklim check``'s
policy (service nodes, overlay only) covers the service."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from iklim.check.documents import load
from iklim.check.engine import Result, run
from iklim.check.policy import Policy
from iklim.check.rules import RULES
from iklim.components.alertmanager import CONFIG_PATH, HTTP_PORT, config, secret_name
from iklim.model.schema import EmailReceiver, Environment, Receiver, WebhookReceiver
from iklim.render.scripts import RUNBOOK_PATH
from iklim.render.stacks import STACK_FILES
from iklim.render.tree import Tree

AMTOOL = shutil.which("amtool")


def _stack(prod_tree: Tree) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(prod_tree[STACK_FILES["infra"]].content)
    return data


def test_amtool_accepts_the_rendered_config(prod_tree: Tree, tmp_path: Path) -> None:
    assert AMTOOL, "amtool is not installed: run scripts/install-deps.sh (Debian prometheus-alertmanager)"
    path = tmp_path / "alertmanager.yml"
    path.write_bytes(prod_tree[CONFIG_PATH].content)
    done = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("auth_password_file", "auth_password_filename"))
    assert subprocess.run([AMTOOL, "check-config", str(broken)], capture_output=True, timeout=60).returncode != 0


def test_every_receiver_reads_its_credential_from_its_docker_secret(prod_env: Environment, prod_tree: Tree) -> None:
    service = _stack(prod_tree)["services"]["alertmanager"]
    runbook = prod_tree[RUNBOOK_PATH].content.decode()
    for index, receiver in enumerate(prod_env.services.alertmanager.receivers, start=1):
        name = secret_name(index, receiver)
        assert name in service["secrets"]
        assert f"ensure_secret {name} " in runbook
        assert f"/run/secrets/{name}" in prod_tree[CONFIG_PATH].content.decode()


def test_a_webhook_receiver_sends_its_token_from_a_file(prod_env: Environment, tmp_path: Path) -> None:
    hook = Receiver(name="pager", severities=["critical"], webhook=WebhookReceiver(url="https://hooks.iklim.co/am"))
    mail = prod_env.services.alertmanager.receivers[0]
    spec = prod_env.services.alertmanager.model_copy(update={"receivers": [mail, hook]})
    env = prod_env.model_copy(update={"services": prod_env.services.model_copy(update={"alertmanager": spec})})
    document = config(env)
    (second,) = [r for r in document["receivers"] if r["name"] == "pager"]
    auth = second["webhook_configs"][0]["http_config"]["authorization"]
    assert auth["credentials_file"] == f"/run/secrets/{secret_name(2, hook)}"
    assert document["route"]["routes"][1] == {
        "receiver": "pager",
        "matchers": ['severity=~"critical"'],
        "continue": True,
    }
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(document))
    assert AMTOOL
    done = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_receiver_needs_exactly_one_integration() -> None:
    with pytest.raises(ValueError, match="exactly one of email or webhook"):
        Receiver(name="x", severities=["warning"])
    mail = EmailReceiver(to="a@iklim.co", sender="b@iklim.co", smarthost="smtp.iklim.co:587", username="b")
    with pytest.raises(ValueError, match="exactly one"):
        Receiver(name="x", severities=["warning"], email=mail, webhook=WebhookReceiver(url="https://h.iklim.co/"))


def test_prometheus_sends_alerts_to_alertmanager_on_the_overlay(prod_tree: Tree) -> None:
    prometheus = yaml.safe_load(prod_tree["config/prometheus/prometheus.yml"].content)
    (target,) = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == f"alertmanager:{HTTP_PORT}"
    service = _stack(prod_tree)["services"]["alertmanager"]
    assert "ports" not in service
    assert "node.labels.type == service" in service["deploy"]["placement"]["constraints"]


def _with(prod_tree: Tree, change: dict[str, Any]) -> str:
    stack = _stack(prod_tree)
    stack["services"]["alertmanager"].update(change)
    return yaml.safe_dump(stack, sort_keys=False)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"ports": [{"target": HTTP_PORT, "published": HTTP_PORT, "mode": "host"}]}, "overlay-only"),
        ({"deploy": {"replicas": 1, "placement": {"constraints": ["node.labels.type == db"]}}}, "service-placement"),
    ],
)
def test_check_refuses_alertmanager_published_or_on_db_nodes(
    prod_tree: Tree, tmp_path: Path, change: dict[str, Any], rule: str
) -> None:
    def check(text: str) -> Result:
        path = tmp_path / "stack.yml"
        path.write_text(text)
        return run(load([str(path)]), Policy(app_subnet="10.0.1.0/24", db_subnet="10.0.2.0/24"), RULES)

    refused = [f for f in check(_with(prod_tree, change)).findings if f.rule == rule]
    assert refused and all("alertmanager" in f.message.lower() for f in refused), refused
    assert not [f for f in check(_with(prod_tree, {})).findings if f.rule == rule]
