"""Vault: the separate 3-node Raft stack (``docker-stack-vault.yml``), one member per service node."""

from __future__ import annotations

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    SecretMount,
    header,
    healthcheck,
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
)
from iklim.components.quoting import hcl_string
from iklim.components.target import ProductionTarget, Target
from iklim.components.trust import CA_SECRET, SECRETS_DIR, scheme, secret_names, secret_path, tls_on
from iklim.model.schema import Environment

CONFIG_TARGET = "/vault/config/vault.hcl"
#: The official image's ``vault`` user (the entrypoint drops to it), which must read its key.
VAULT_UID = "100"


def _listener_tls(env: Environment, target: Target, member: str) -> str:
    """The API listener's TLS lines: the member's certificate and key (Docker secrets), or
    ``tls_disable`` when the model keeps Vault plaintext (``tls.clusters.vault``).

    Vault serves the API with these files and the Raft cluster port with certificates it issues
    itself (https://developer.hashicorp.com/vault/docs/configuration/listener/tcp#tls_cert_file).
    """
    if not tls_on(env, "vault"):
        return "  tls_disable     = true\n"
    crt, key = secret_names(member)
    return (
        f"  tls_cert_file   = {hcl_string(secret_path(target, member, crt))}\n"
        f"  tls_key_file    = {hcl_string(secret_path(target, member, key))}\n"
        '  tls_min_version = "tls12"\n'
    )


def _retry_join(env: Environment, target: Target, member: str) -> str:
    """One ``retry_join`` per peer; on TLS with the CA that verifies the leader's API certificate
    (https://developer.hashicorp.com/vault/docs/configuration/storage/raft#leader_ca_cert_file)."""
    spec = env.services.vault
    on = tls_on(env, "vault")
    ca = f"    leader_ca_cert_file = {hcl_string(secret_path(target, member, CA_SECRET))}\n" if on else ""
    pad = " " * 4 if on else ""
    url = f"{scheme(env, 'vault')}://{{}}:{spec.api_port}"
    return "".join(
        f'  retry_join {{\n    leader_api_addr{pad} = "{url.format(target.host(peer))}"\n{ca}  }}\n'
        for peer in member_names("vault", spec.members)
        if peer != member
    )


def vault_hcl(env: Environment, target: Target, member: str) -> str:
    spec = env.services.vault  # api_port is the model's `api` port (iklim.model.ports)
    data = target.data_dir(member, spec.volume.target if spec.volume else "/vault/data")
    host, listen = target.host(member), target.listen(member)
    joins = _retry_join(env, target, member)
    return (
        header("#")
        + "ui            = true\n"
        + "disable_mlock = true\n"
        + 'cluster_name  = "iklim-vault"\n'
        + f'api_addr      = "{scheme(env, "vault")}://{host}:{spec.api_port}"\n'
        + f'cluster_addr  = "https://{host}:{spec.cluster_port}"\n'
        + "\n"
        + 'listener "tcp" {\n'
        + f'  address         = "{listen}:{spec.api_port}"\n'
        + f'  cluster_address = "{listen}:{spec.cluster_port}"\n'
        + _listener_tls(env, target, member)
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


def _health_test(env: Environment) -> list[str]:
    """The container healthcheck: the API answers on loopback, whatever its seal state.

    Plaintext: ``/v1/sys/health`` with sealed and uninitialised mapped to 200. TLS: ``vault
    status`` with the environment's ``VAULT_ADDR``/``VAULT_CACERT`` (the certificate names
    127.0.0.1), which exits 0 unsealed, 2 sealed or uninitialised, 1 when it cannot ask
    (https://developer.hashicorp.com/vault/docs/commands/status); the image's busybox wget cannot
    be given a CA file.
    """
    port = env.services.vault.api_port
    if tls_on(env, "vault"):
        return ["CMD-SHELL", "vault status >/dev/null 2>&1 || [ $$? -eq 2 ]"]
    health = f"http://127.0.0.1:{port}/v1/sys/health?standbyok=true&sealedcode=200&uninitcode=200"
    return ["CMD", "wget", "-q", "-O", "/dev/null", health]


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
        environment = {"VAULT_ADDR": f"{scheme(env, 'vault')}://127.0.0.1:{spec.api_port}", "SKIP_SETCAP": "true"}
        if tls_on(env, "vault"):
            crt, key = secret_names(service)
            environment["VAULT_CACERT"] = f"{SECRETS_DIR}/{CA_SECRET}"
            out.file_secrets += [crt, key]
            out.secret_mounts[service] = [
                SecretMount(CA_SECRET, mode=0o444),
                SecretMount(crt, uid=VAULT_UID, mode=0o444),
                SecretMount(key, uid=VAULT_UID, mode=0o400),
            ]
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": ["vault", "server", f"-config={CONFIG_TARGET}"],
            "environment": environment,
            "volumes": [f"{volume}:{data}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(_health_test(env)),
            "stop_grace_period": "30s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
