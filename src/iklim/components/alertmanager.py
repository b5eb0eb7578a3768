"""Alertmanager: the notification path of the alerts Prometheus evaluates (issue 15).

Why Alertmanager: Prometheus evaluates rules but sends nothing itself; it pushes firing alerts to
an Alertmanager (``alerting.alertmanagers`` in prometheus.yml), which groups, silences and routes
them to receivers. It is the one piece the Prometheus ecosystem uses for this, so it is the one
service added to the seed's list (Grafana alerting would duplicate every rule in a second format).

One instance on a service node, on the overlay only (nothing published): Prometheus reaches it by
its service name. Its config is rendered from the model's ``services.alertmanager`` (route timings
and receivers); a receiver's credential is a Docker secret read through the config's ``*_file``
fields (``auth_password_file`` for email, ``http_config.authorization.credentials_file`` for a
webhook: Alertmanager docs, "Configuration"), never a literal in the rendered file.
"""

from __future__ import annotations

from typing import Any

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    SecretMount,
    header,
    healthcheck,
    overlay,
    single_deploy,
)
from iklim.components.yamlout import dump_yaml
from iklim.model.catalogue import engine_port
from iklim.model.schema import Environment, Receiver

HTTP_PORT = engine_port("alertmanager", "http")
CONFIG_PATH = f"{CONFIG_ROOT}/alertmanager/alertmanager.yml"
CONFIG_TARGET = "/etc/alertmanager/alertmanager.yml"
#: Labels alerts are grouped by into one notification.
GROUP_BY = ("alertname", "component", "severity")


def secret_name(index: int, receiver: Receiver) -> str:
    """The Docker secret holding the credential (SMTP password or webhook token) of ``receiver``,
    the model's receiver number ``index`` (from 1): named by position and kind, so no model
    string ever becomes a secret (a YAML key and a shell word in the runbook)."""
    kind = "smtp_password" if receiver.email is not None else "webhook_token"
    return f"alertmanager_receiver{index}_{kind}"


def secret_names(env: Environment) -> list[str]:
    """Every receiver's secret, in model order."""
    return [secret_name(i, r) for i, r in enumerate(env.services.alertmanager.receivers, start=1)]


def _receiver(index: int, receiver: Receiver, secrets_dir: str) -> dict[str, Any]:
    credential = f"{secrets_dir}/{secret_name(index, receiver)}"
    if receiver.email is not None:
        mail = receiver.email
        return {
            "name": receiver.name,
            "email_configs": [
                {
                    "to": mail.to,
                    "from": mail.sender,
                    "smarthost": mail.smarthost,
                    "auth_username": mail.username,
                    "auth_password_file": credential,
                    "send_resolved": True,
                }
            ],
        }
    assert receiver.webhook is not None, "the model guarantees an email or a webhook"
    return {
        "name": receiver.name,
        "webhook_configs": [
            {
                "url": receiver.webhook.url,
                "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials_file": credential}},
            }
        ],
    }


def config(env: Environment, secrets_dir: str = "/run/secrets") -> dict[str, Any]:
    """Alertmanager's config: every receiver gets the severities the model routes to it; alerts
    no route matches go to the first receiver. ``secrets_dir``: where the credential files are."""
    spec = env.services.alertmanager
    return {
        "route": {
            "receiver": spec.receivers[0].name,
            "group_by": list(GROUP_BY),
            "group_wait": f"{spec.group_wait_s}s",
            "group_interval": f"{spec.group_interval_s}s",
            "repeat_interval": f"{spec.repeat_interval_s}s",
            "routes": [
                {
                    "receiver": r.name,
                    "matchers": [f'severity=~"{"|".join(r.severities)}"'],
                    "continue": True,
                }
                for r in spec.receivers
            ],
        },
        # A critical alert silences the warnings of the same component that it explains.
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["component"],
            }
        ],
        "receivers": [_receiver(i, r, secrets_dir) for i, r in enumerate(spec.receivers, start=1)],
    }


def targets(env: Environment, host: str) -> dict[str, Any]:
    """prometheus.yml's ``alerting`` section: the one Alertmanager at ``host``."""
    return {"alertmanagers": [{"static_configs": [{"targets": [f"{host}:{HTTP_PORT}"]}]}]}


def contribute(env: Environment) -> Contribution:
    spec = env.services.alertmanager
    names = secret_names(env)
    out = Contribution(secrets=names)
    out.files[CONFIG_PATH] = header("#") + dump_yaml(config(env))
    out.mounts["alertmanager"] = [Mount(CONFIG_PATH, CONFIG_TARGET)]
    out.secret_mounts["alertmanager"] = [SecretMount(n) for n in names]
    out.services["alertmanager"] = {
        "image": spec.image,
        "command": [
            f"--config.file={CONFIG_TARGET}",
            "--storage.path=/alertmanager",
            # One instance: no gossip cluster, so the cluster port is not opened at all.
            "--cluster.listen-address=",
        ],
        "networks": overlay(env),
        "healthcheck": healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HTTP_PORT}/-/healthy"]),
        "deploy": single_deploy(spec),
    }
    return out
