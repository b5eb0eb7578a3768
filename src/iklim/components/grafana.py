"""Grafana: one instance whose data lives on the StorageBox path ``${GRAFANA_DATA_DIR}``.

Dashboards, plugins and the SQLite database survive a manual move between service nodes because
every service node mounts the same StorageBox path.
"""

from __future__ import annotations

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
from iklim.components.ports import PROMETHEUS_PORT
from iklim.components.target import ProductionTarget, Target
from iklim.components.yamlout import dump_yaml
from iklim.model.catalogue import engine_port
from iklim.model.schema import Environment

# Not published: the engine's own port, reached on the overlay only, so not a model key
# (published ports come from the model's `ports` by name, iklim.model.ports). One definition each.
HTTP_PORT = engine_port("grafana", "http")
ADMIN_PASSWORD = "grafana_admin_password"
DATASOURCE_PATH = f"{CONFIG_ROOT}/grafana/datasources.yml"


def settings(env: Environment, target: Target, member: str = "grafana") -> dict[str, str]:
    """Grafana's ``GF_*`` settings: admin user, password from a file, data path, no phoning home."""
    volume = env.services.grafana.volume
    assert volume is not None, "the model guarantees Grafana's StorageBox volume"
    return {
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": target.path(member, f"/run/secrets/{ADMIN_PASSWORD}"),
        "GF_PATHS_DATA": target.data_dir(member, volume.target),
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
    }


def datasources(env: Environment, target: Target) -> str:
    """Provisioning for the one Prometheus datasource, reached at the target's Prometheus address."""
    data = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": "prometheus",
                "access": "proxy",
                "url": f"http://{target.host('prometheus')}:{PROMETHEUS_PORT}",
                "isDefault": True,
                "editable": False,
            }
        ],
    }
    return header("#") + dump_yaml(data)


def contribute(env: Environment) -> Contribution:
    spec = env.services.grafana
    volume = spec.volume
    assert volume is not None and volume.env, "the model guarantees Grafana's StorageBox volume"
    out = Contribution(secrets=[ADMIN_PASSWORD])
    out.files[DATASOURCE_PATH] = datasources(env, ProductionTarget(env))
    out.mounts["grafana"] = [Mount(DATASOURCE_PATH, "/etc/grafana/provisioning/datasources/prometheus.yml")]
    out.secret_mounts["grafana"] = [SecretMount(ADMIN_PASSWORD)]
    out.services["grafana"] = {
        "image": spec.image,
        "environment": settings(env, ProductionTarget(env)),
        "volumes": [f"${{{volume.env}:-{volume.path}}}:{volume.target}"],
        "networks": overlay(env),
        "healthcheck": healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{HTTP_PORT}/api/health"]
        ),
        "deploy": single_deploy(spec),
    }
    return out
