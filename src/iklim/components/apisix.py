"""APISIX (3 replicas, one per service node) and its Dashboard; config in etcd under /apisix."""

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
    shell,
    spread_deploy,
)
from iklim.components.etcd import client_endpoints
from iklim.components.trust import CA_SECRET, SECRETS_DIR, scheme, secret_names, tls_on
from iklim.components.yamlout import dump_yaml
from iklim.model.catalogue import engine_port
from iklim.model.schema import Environment

# Not published: the engine's own port, reached on the overlay only, so not a model key
# (published ports come from the model's `ports` by name, iklim.model.ports). One definition each.
GATEWAY_PORT = engine_port("apisix", "gateway")
ADMIN_PORT = engine_port("apisix", "admin")
METRICS_PORT = engine_port("apisix", "metrics")
#: The control API (``apisix.enable_control``), loopback only inside the container. APISIX 3.11
#: has no status server (``apisix.status``, ``/status/ready`` on :7085 arrived in 3.13: the
#: source at tag 3.11.0 has no ``apisix/status`` and its config-default.yaml no ``status``
#: section), so the healthcheck asks the control API's ``GET /v1/schema``, which answers 200 as
#: soon as the workers run (docs/en/latest/control-api.md at 3.11.0: "enabled by default and
#: listens to 127.0.0.1:9090"; the APISIX CLI test t/cli/test_control.sh checks it the same way).
CONTROL_PORT = engine_port("apisix", "control")
DASHBOARD_PORT = engine_port("apisix", "dashboard")
ADMIN_KEY = "apisix_admin_key"
DASHBOARD_PASSWORD = "apisix_dashboard_password"
DASHBOARD_JWT = "apisix_dashboard_jwt_secret"
#: The client certificate APISIX and its Dashboard present to etcd (:data:`iklim.pki.members.ETCD_CLIENTS`).
ETCD_CLIENT = "apisix-etcd-client"
#: The apache/apisix image's user (its Dockerfile: ``useradd --uid 636 apisix``, ``USER apisix``),
#: owner of the mounted client key.
APISIX_UID = "636"
CONFIG_PATH = f"{CONFIG_ROOT}/apisix/config.yaml"
DASHBOARD_PATH = f"{CONFIG_ROOT}/apisix-dashboard/conf.yaml"


def _client_files() -> tuple[str, str, str]:
    """(CA, certificate, key) paths of APISIX's etcd client certificate in the container."""
    crt, key = secret_names(ETCD_CLIENT)
    return f"{SECRETS_DIR}/{CA_SECRET}", f"{SECRETS_DIR}/{crt}", f"{SECRETS_DIR}/{key}"


def apisix_config(env: Environment, etcd_hosts: list[str]) -> dict[str, Any]:
    """APISIX 3 config.yaml; the admin key is read from the environment at start (``${{...}}``).

    With etcd on TLS: ``https`` hosts, ``deployment.etcd.tls`` (client certificate and key,
    ``verify: true``) and ``apisix.ssl.ssl_trusted_certificate`` (the CA APISIX verifies etcd
    with), as in APISIX 3.11's conf/config-default.yaml."""
    tls = tls_on(env, "etcd")
    ca, crt, key = _client_files()
    return {
        "apisix": {
            "node_listen": GATEWAY_PORT,
            "enable_ipv6": False,
            "enable_admin": True,
            "enable_control": True,
            "control": {"ip": "127.0.0.1", "port": CONTROL_PORT},
            **({"ssl": {"ssl_trusted_certificate": ca}} if tls else {}),
        },
        "deployment": {
            "role": "traditional",
            "role_traditional": {"config_provider": "etcd"},
            "admin": {
                "admin_listen": {"ip": "0.0.0.0", "port": ADMIN_PORT},
                "allow_admin": [str(env.overlay.subnet)],
                "admin_key": [{"name": "admin", "key": "${{APISIX_ADMIN_KEY}}", "role": "admin"}],
            },
            "etcd": {
                "host": [f"{scheme(env, 'etcd')}://{h}" for h in etcd_hosts],
                "prefix": env.services.apisix.etcd_prefix,
                "timeout": 30,
                **({"tls": {"cert": crt, "key": key, "verify": True}} if tls else {}),
            },
        },
        "plugin_attr": {"prometheus": {"export_addr": {"ip": "0.0.0.0", "port": METRICS_PORT}}},
    }


def dashboard_config(env: Environment, etcd_hosts: list[str]) -> dict[str, Any]:
    """Dashboard conf.yaml with placeholders that the start command fills from Docker secrets; with
    etcd on TLS, ``conf.etcd.mtls`` names the CA and APISIX's client certificate (apisix-dashboard
    api/conf/conf.yaml)."""
    ca, crt, key = _client_files()
    mtls = {"mtls": {"key_file": key, "cert_file": crt, "ca_file": ca}} if tls_on(env, "etcd") else {}
    return {
        "conf": {
            "listen": {"host": "0.0.0.0", "port": DASHBOARD_PORT},
            "allow_list": [str(env.overlay.subnet)],
            "etcd": {"endpoints": etcd_hosts, "prefix": env.services.apisix.etcd_prefix, **mtls},
            "log": {"error_log": {"level": "warn", "file_path": "/dev/stderr"}},
        },
        "authentication": {
            "secret": "@JWT_SECRET@",
            "expire_time": 3600,
            "users": [{"username": "admin", "password": "@ADMIN_PASSWORD@"}],
        },
    }


def contribute(env: Environment) -> Contribution:
    spec = env.services.apisix
    out = Contribution(secrets=[ADMIN_KEY, DASHBOARD_PASSWORD, DASHBOARD_JWT])
    hosts = client_endpoints(env)
    out.files[CONFIG_PATH] = header("#") + dump_yaml(apisix_config(env, hosts))
    out.mounts["apisix"] = [Mount(CONFIG_PATH, "/usr/local/apisix/conf/config.yaml")]
    out.secret_mounts["apisix"] = [SecretMount(ADMIN_KEY)]
    out.secret_mounts["apisix-dashboard"] = []
    if tls_on(env, "etcd"):
        crt, key = secret_names(ETCD_CLIENT)
        out.file_secrets += [crt, key]
        for service, uid in (("apisix", APISIX_UID), ("apisix-dashboard", "0")):
            out.secret_mounts[service] += [
                SecretMount(CA_SECRET, mode=0o444),
                SecretMount(crt, uid=uid, mode=0o444),
                SecretMount(key, uid=uid, mode=0o400),
            ]
    out.services["apisix"] = {
        "image": spec.image,
        "command": shell(
            f'export APISIX_ADMIN_KEY="$$(cat /run/secrets/{ADMIN_KEY})"; exec /docker-entrypoint.sh docker-start'
        ),
        "networks": overlay(env),
        "healthcheck": healthcheck(
            ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{CONTROL_PORT}/v1/schema"]
        ),
        "deploy": spread_deploy(spec),
    }
    dash = env.services.apisix_dashboard
    out.files[DASHBOARD_PATH] = header("#") + dump_yaml(dashboard_config(env, hosts))
    out.mounts["apisix-dashboard"] = [Mount(DASHBOARD_PATH, "/etc/apisix-dashboard/conf.yaml")]
    out.secret_mounts["apisix-dashboard"] += [SecretMount(DASHBOARD_PASSWORD), SecretMount(DASHBOARD_JWT)]
    fill = (
        "umask 077; "
        f'sed -e "s|@ADMIN_PASSWORD@|$$(cat /run/secrets/{DASHBOARD_PASSWORD})|" '
        f'-e "s|@JWT_SECRET@|$$(cat /run/secrets/{DASHBOARD_JWT})|" '
        "/etc/apisix-dashboard/conf.yaml > /usr/local/apisix-dashboard/conf/conf.yaml; "
        "cd /usr/local/apisix-dashboard && exec ./manager-api"
    )
    out.services["apisix-dashboard"] = {
        "image": dash.image,
        "command": shell(fill),
        "networks": overlay(env),
        "healthcheck": healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{DASHBOARD_PORT}/ping"]),
        "deploy": spread_deploy(dash),
    }
    return out
