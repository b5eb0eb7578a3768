"""Prometheus: one instance, TSDB on a local Docker volume, scraping every component.

Targets are per-member names on the overlay; APISIX replicas are found through Swarm's
``tasks.<service>`` DNS; Redis and Sentinel go through one multi-target redis_exporter; MongoDB
through one mongodb_exporter per member; SWAG through nginx-prometheus-exporter (stub_status).
"""

from __future__ import annotations

from typing import Any

from iklim.components import mongodb, redis, swag
from iklim.components.apisix import METRICS_PORT
from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    header,
    healthcheck,
    member_names,
    overlay,
    single_deploy,
)
from iklim.components.etcd import client_endpoints
from iklim.components.grafana import HTTP_PORT as GRAFANA_PORT
from iklim.components.ports import PROMETHEUS_PORT
from iklim.components.rabbitmq import PROMETHEUS_PORT as RABBITMQ_METRICS
from iklim.components.target import ProductionTarget, Target
from iklim.components.yamlout import dump_yaml
from iklim.model.ports import port_of
from iklim.model.schema import Environment

CONFIG_PATH = f"{CONFIG_ROOT}/prometheus/prometheus.yml"
VOLUME = "prometheus-data"


def _static(job: str, targets: list[str], **extra: Any) -> dict[str, Any]:
    return {"job_name": job, **extra, "static_configs": [{"targets": targets}]}


def scrape_config(env: Environment, target: Target, available: frozenset[str] | None = None) -> dict[str, Any]:
    """Prometheus's config: one job per component; ``available`` limits the jobs (the lab's engines)."""
    svc = env.services
    interval = f"{svc.prometheus.scrape_interval_s}s"

    def hosts(family: str, count: int, port: int) -> list[str]:
        return [f"{target.host(m)}:{port}" for m in member_names(family, count)]

    vault = svc.vault
    exporter = f"{target.host(redis.EXPORTER + '-1')}:{redis.EXPORTER_PORT}"
    jobs = {
        "prometheus": _static("prometheus", [f"{target.host('prometheus-1')}:{PROMETHEUS_PORT}"]),
        "etcd": _static("etcd", client_endpoints(env, target)),
        "patroni": _static("patroni", hosts("patroni", svc.patroni.members, port_of(svc.patroni, "patroni-api"))),
        "rabbitmq": _static("rabbitmq", hosts("rabbitmq", svc.rabbitmq.members, RABBITMQ_METRICS)),
        "apisix": {
            "job_name": "apisix",
            "metrics_path": "/apisix/prometheus/metrics",
            "dns_sd_configs": [{"names": [f"tasks.{env.stacks.infra}_apisix"], "type": "A", "port": METRICS_PORT}],
        },
        "vault": _static(
            "vault",
            hosts("vault", vault.members, vault.api_port),
            metrics_path="/v1/sys/metrics",
            params={"format": ["prometheus"]},
        ),
        "grafana": _static("grafana", [f"{target.host('grafana-1')}:{GRAFANA_PORT}"]),
        "mongodb": _static("mongodb", hosts(mongodb.EXPORTER, svc.mongodb.members, mongodb.EXPORTER_PORT)),
        "swag": _static("swag", [f"{target.host(swag.EXPORTER + '-1')}:{swag.EXPORTER_PORT}"]),
        "redis": {
            "job_name": "redis",
            "metrics_path": "/scrape",
            "static_configs": [{"targets": redis.scrape_targets(env, target)}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": exporter},
            ],
        },
    }
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "external_labels": {"env": env.name}},
        "scrape_configs": [job for name, job in jobs.items() if available is None or name in available],
    }


def contribute(env: Environment) -> Contribution:
    spec = env.services.prometheus
    out = Contribution(volumes=[VOLUME])
    out.files[CONFIG_PATH] = header("#") + dump_yaml(scrape_config(env, ProductionTarget(env)))
    out.mounts["prometheus"] = [Mount(CONFIG_PATH, "/etc/prometheus/prometheus.yml")]
    out.services["prometheus"] = {
        "image": spec.image,
        "command": [
            "--config.file=/etc/prometheus/prometheus.yml",
            f"--storage.tsdb.path={spec.volume.target if spec.volume else '/prometheus'}",
            f"--storage.tsdb.retention.time={spec.retention}",
            "--web.enable-lifecycle",
        ],
        "volumes": [f"{VOLUME}:{spec.volume.target if spec.volume else '/prometheus'}"],
        "networks": overlay(env),
        "healthcheck": healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"]
        ),
        "deploy": single_deploy(spec),
    }
    return out
