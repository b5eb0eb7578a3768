"""Prometheus: one instance, TSDB on a local Docker volume, scraping every component.

Targets are per-member names on the overlay; APISIX replicas are found through Swarm's
``tasks.<service>`` DNS; Redis and Sentinel go through one multi-target redis_exporter; MongoDB
through one mongodb_exporter per member; SWAG through nginx-prometheus-exporter (stub_status).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iklim.components import alertmanager, mongodb, redis, swag
from iklim.components.alertrules import mount_path, rule_path
from iklim.components.alerts import rule_files
from iklim.components.apisix import METRICS_PORT
from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    SecretMount,
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
from iklim.components.trust import CA_SECRET, secret_names, secret_path, tls_on
from iklim.components.yamlout import dump_yaml
from iklim.model.catalogue import CATALOGUE
from iklim.model.ports import port_of
from iklim.model.schema import Environment

CONFIG_PATH = f"{CONFIG_ROOT}/prometheus/prometheus.yml"
#: Prometheus's one member, as targets name its files.
MEMBER = "prometheus-1"
VOLUME = "prometheus-data"


def _static(job: str, targets: list[str], **extra: Any) -> dict[str, Any]:
    return {"job_name": job, **extra, "static_configs": [{"targets": targets}]}


Job = Callable[[Environment, Target], dict[str, Any]]


def _hosts(target: Target, family: str, count: int, port: int) -> list[str]:
    return [f"{target.host(m)}:{port}" for m in member_names(family, count)]


def _redis(env: Environment, target: Target) -> dict[str, Any]:
    exporter = f"{target.host(redis.EXPORTER + '-1')}:{redis.EXPORTER_PORT}"
    return {
        "job_name": "redis",
        "metrics_path": "/scrape",
        "static_configs": [{"targets": redis.scrape_targets(env, target)}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": exporter},
        ],
    }


def _apisix(env: Environment, target: Target) -> dict[str, Any]:
    return {
        "job_name": "apisix",
        "metrics_path": "/apisix/prometheus/metrics",
        "dns_sd_configs": [{"names": [f"tasks.{env.stacks.infra}_apisix"], "type": "A", "port": METRICS_PORT}],
    }


#: The client certificate Prometheus presents to etcd (:data:`iklim.pki.members.ETCD_CLIENTS`):
#: etcd serves ``/metrics`` on its client listener, behind ``--client-cert-auth``.
ETCD_CLIENT = "prometheus-etcd-client"
#: The prom/prometheus image's user (``USER nobody``), owner of the mounted client key.
PROMETHEUS_UID = "65534"


def _tls(env: Environment, target: Target, cluster: str, client: str | None = None) -> dict[str, Any]:
    """A scrape job's TLS keys for a member of the TLS ``cluster`` (``tls.clusters``): https,
    verified with the environment CA (Prometheus's ``tls_config.ca_file``) and, with ``client``,
    presenting that member's client certificate (``cert_file``/``key_file``); empty when the model
    keeps it plaintext. The members' certificates name the overlay names scraped here."""
    if not tls_on(env, cluster):
        return {}
    config = {"ca_file": secret_path(target, MEMBER, CA_SECRET)}
    if client is not None:
        crt, key = secret_names(client)
        config |= {"cert_file": secret_path(target, MEMBER, crt), "key_file": secret_path(target, MEMBER, key)}
    return {"scheme": "https", "tls_config": config}


def _vault(env: Environment, target: Target) -> dict[str, Any]:
    vault = env.services.vault
    hosts = _hosts(target, "vault", vault.members, vault.api_port)
    tls = _tls(env, target, "vault")
    return _static("vault", hosts, metrics_path="/v1/sys/metrics", params={"format": ["prometheus"]}, **tls)


def _patroni(env: Environment, target: Target) -> dict[str, Any]:
    spec = env.services.patroni
    hosts = _hosts(target, "patroni", spec.members, port_of(spec, "patroni-api"))
    return _static("patroni", hosts, **_tls(env, target, "patroni_api"))


#: Catalogue key -> its scrape job (the registry of scrape jobs; a key without one declares why in
#: the catalogue's ``absent["scrape"]``). Jobs are rendered in catalogue order.
JOBS: dict[str, Job] = {
    "etcd": lambda env, target: _static(
        "etcd", client_endpoints(env, target), **_tls(env, target, "etcd", ETCD_CLIENT)
    ),
    "patroni": _patroni,
    "mongodb": lambda env, target: _static(
        "mongodb", _hosts(target, mongodb.EXPORTER, env.services.mongodb.members, mongodb.EXPORTER_PORT)
    ),
    "redis": _redis,
    "rabbitmq": lambda env, target: _static(
        "rabbitmq", _hosts(target, "rabbitmq", env.services.rabbitmq.members, RABBITMQ_METRICS)
    ),
    "apisix": _apisix,
    "swag": lambda env, target: _static("swag", [f"{target.host(swag.EXPORTER + '-1')}:{swag.EXPORTER_PORT}"]),
    "prometheus": lambda env, target: _static("prometheus", [f"{target.host('prometheus-1')}:{PROMETHEUS_PORT}"]),
    "grafana": lambda env, target: _static("grafana", [f"{target.host('grafana-1')}:{GRAFANA_PORT}"]),
    "alertmanager": lambda env, target: _static(
        "alertmanager", [f"{target.host('alertmanager-1')}:{alertmanager.HTTP_PORT}"]
    ),
    "vault": _vault,
}


def scrape_config(
    env: Environment,
    target: Target,
    available: frozenset[str] | None = None,
    rule_paths: list[str] | None = None,
) -> dict[str, Any]:
    """Prometheus's config: one job per catalogue entry that has one (:data:`JOBS`), in catalogue
    order; ``available`` limits the jobs (the lab's engines); ``rule_paths`` are the rule files as
    Prometheus sees them (``rule_files``, omitted when None)."""
    interval = f"{env.services.prometheus.scrape_interval_s}s"
    keys = [e.key for e in CATALOGUE if e.key in JOBS and (available is None or e.key in available)]
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "external_labels": {"env": env.name}},
    }
    if rule_paths is not None:
        config["rule_files"] = list(rule_paths)
    if "alertmanager" in keys:
        config["alerting"] = alertmanager.targets(env, target.host("alertmanager-1"))
    config["scrape_configs"] = [JOBS[key](env, target) for key in keys]
    return config


def needs_ca(config: dict[str, Any]) -> bool:
    """Whether a scrape config (:func:`scrape_config`) has a job that verifies with the environment
    CA, so Prometheus must mount ``tls_ca_crt``: derived from the jobs, never listed twice."""
    return any(job.get("scheme") == "https" for job in config["scrape_configs"])


def tls_files(config: dict[str, Any]) -> list[str]:
    """The Docker secret names (file names) every job's ``tls_config`` reads, CA first: what
    Prometheus must mount, derived from the jobs."""
    names = {
        path.rsplit("/", 1)[-1]
        for job in config["scrape_configs"]
        for path in job.get("tls_config", {}).values()
        if isinstance(path, str)
    }
    return sorted(names, key=lambda n: (n != CA_SECRET, n))


def contribute(env: Environment) -> Contribution:
    spec = env.services.prometheus
    out = Contribution(volumes=[VOLUME])
    rules = rule_files(env)
    config = scrape_config(env, ProductionTarget(env), rule_paths=[mount_path(key) for key in rules])
    out.files[CONFIG_PATH] = header("#") + dump_yaml(config)
    out.mounts["prometheus"] = [Mount(CONFIG_PATH, "/etc/prometheus/prometheus.yml")]
    for key, text in rules.items():
        out.files[rule_path(key)] = text
        out.mounts["prometheus"].append(Mount(rule_path(key), mount_path(key)))
    mounts = []
    for name in tls_files(config):
        private = name.endswith("_key")
        mounts.append(SecretMount(name, uid=PROMETHEUS_UID if private else None, mode=0o400 if private else 0o444))
        if name != CA_SECRET:
            out.file_secrets.append(name)
    if mounts:
        out.secret_mounts["prometheus"] = mounts
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
