"""Vault: the separate 3-node Raft stack (``docker-stack-vault.yml``), one member per service node."""

from __future__ import annotations

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    header,
    healthcheck,
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
)
from iklim.components.quoting import hcl_string
from iklim.components.target import ProductionTarget, Target
from iklim.model.schema import Environment

CONFIG_TARGET = "/vault/config/vault.hcl"


def vault_hcl(env: Environment, target: Target, member: str) -> str:
    spec = env.services.vault  # api_port is the model's `api` port (iklim.model.ports)
    data = target.data_dir(member, spec.volume.target if spec.volume else "/vault/data")
    host, listen = target.host(member), target.listen(member)
    joins = "".join(
        f'  retry_join {{\n    leader_api_addr = "http://{target.host(peer)}:{spec.api_port}"\n  }}\n'
        for peer in member_names("vault", spec.members)
        if peer != member
    )
    return (
        header("#")
        + "ui            = true\n"
        + "disable_mlock = true\n"
        + 'cluster_name  = "iklim-vault"\n'
        + f'api_addr      = "http://{host}:{spec.api_port}"\n'
        + f'cluster_addr  = "https://{host}:{spec.cluster_port}"\n'
        + "\n"
        + 'listener "tcp" {\n'
        + f'  address         = "{listen}:{spec.api_port}"\n'
        + f'  cluster_address = "{listen}:{spec.cluster_port}"\n'
        + "  tls_disable     = true\n"
        + "  telemetry {\n    unauthenticated_metrics_access = true\n  }\n"
        + "}\n"
        + "\n"
        + 'storage "raft" {\n'
        + f"  path                   = {hcl_string(data)}\n"
        + f"  node_id                = {hcl_string(member)}\n"
        + f"  performance_multiplier = {spec.performance_multiplier}\n"
        + joins
        + "}\n"
        + "\n"
        + 'telemetry {\n  prometheus_retention_time = "24h"\n  disable_hostname          = true\n}\n'
        + _declared_audit(env, target)
    )


def _declared_audit(env: Environment, target: Target) -> str:
    """OpenBao takes audit devices only from its config; HashiCorp Vault gets it through the API
    (``iklim vault bootstrap``'s day-one step), so production's file has no such stanza."""
    if target.vault_engine != "openbao":
        return ""
    path = env.services.vault.day_one.audit_file_path
    return f'\naudit "file" "file" {{\n  options {{\n    file_path = {hcl_string(path)}\n  }}\n}}\n'


def contribute(env: Environment) -> Contribution:
    spec = env.services.vault
    out = Contribution(stack="vault")
    names = member_names("vault", spec.members)
    data = spec.volume.target if spec.volume else "/vault/data"
    for service, node in zip(names, spec.nodes, strict=True):
        path = f"{CONFIG_ROOT}/vault/{service}.hcl"
        out.files[path] = vault_hcl(env, ProductionTarget(env), service)
        out.mounts[service] = [Mount(path, CONFIG_TARGET)]
        volume = f"{service}-data"
        out.volumes.append(volume)
        health = f"http://127.0.0.1:{spec.api_port}/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200"
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": ["vault", "server", f"-config={CONFIG_TARGET}"],
            "environment": {"VAULT_ADDR": f"http://127.0.0.1:{spec.api_port}", "SKIP_SETCAP": "true"},
            "volumes": [f"{volume}:{data}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", health]),
            "stop_grace_period": "30s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
