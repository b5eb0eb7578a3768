"""SWAG: the only public entry point (host-mode 80/443), the RabbitMQ management site, and
nginx's ``stub_status`` for ``swag-exporter`` (nginx-prometheus-exporter) on the overlay.

Host mode matters: through the ingress mesh nginx would see the mesh address instead of the
client's, and the management allow-list would be meaningless.
"""

from __future__ import annotations

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    header,
    healthcheck,
    host_ports,
    overlay,
    single_deploy,
    spread_deploy,
)
from iklim.components.quoting import nginx_word
from iklim.components.rabbitmq import CLIENT_ALIAS, MANAGEMENT_PORT
from iklim.components.target import ProductionTarget, Target
from iklim.model.catalogue import engine_port
from iklim.model.ports import port_of
from iklim.model.schema import Component, Environment

SITE_PATH = f"{CONFIG_ROOT}/swag/rabbitmq.subdomain.conf"
SITE_TARGET = "/config/nginx/site-confs/rabbitmq.subdomain.conf"
STATUS_SITE_PATH = f"{CONFIG_ROOT}/swag/stub-status.conf"
STATUS_SITE_TARGET = "/config/nginx/site-confs/stub-status.conf"
STATUS_PORT = engine_port("swag", "status")  # not published (stub_status on the overlay)
CONFIG_VOLUME = "swag-config"
EXPORTER = "swag-exporter"
EXPORTER_PORT = engine_port("swag", "exporter")  # not published: on the overlay only


def status_site(env: Environment, target: Target) -> str:
    """nginx's ``stub_status`` on an unpublished port, for the exporter on the overlay only."""
    listen = target.listen("swag-1")
    overlay_cidr = target.trusted_cidr(env.overlay.subnet)
    return (
        header("#")
        + "# nginx's connection counters for swag-exporter. The port is not published: only the overlay\n"
        + "# reaches it, and the allow-list admits the overlay alone.\n"
        + "server {\n"
        + f"    listen {STATUS_PORT if listen == '0.0.0.0' else f'{listen}:{STATUS_PORT}'};\n"
        + "    server_name _;\n"
        + "    access_log off;\n"
        + "    location = /stub_status {\n"
        + "        stub_status;\n"
        + f"        allow {nginx_word(overlay_cidr)};\n"
        + "        deny all;\n"
        + "    }\n"
        + "    location / {\n"
        + "        return 404;\n"
        + "    }\n"
        + "}\n"
    )


def exporter_args(target: Target) -> list[str]:
    """nginx-prometheus-exporter's flags, double-dash: 1.x (kingpin) needs it, 0.x (Go flag) accepts it."""
    return [
        f"--nginx.scrape-uri=http://{target.host('swag')}:{STATUS_PORT}/stub_status",
        f"--web.listen-address={target.listen(EXPORTER + '-1')}:{EXPORTER_PORT}",
    ]


def rabbitmq_site(env: Environment, target: Target) -> str:
    """The nginx server for RabbitMQ management: allow-list first, ``deny all`` last."""
    spec = env.services.rabbitmq
    allowed = [target.trusted_cidr(net) for net in spec.management_allow]
    allow = "".join(f"    allow {nginx_word(net)};\n" for net in allowed if net is not None)
    listen = target.listen("swag-1")
    https = port_of(env.services.swag, "https")
    listens = (
        f"    listen {https} ssl;\n    listen [::]:{https} ssl;\n"
        if listen == "0.0.0.0"
        else f"    listen {listen}:{https} ssl;\n"
    )
    config = target.path("swag-1", "/config")
    upstream = target.host(CLIENT_ALIAS)  # any member: the shared overlay alias in production
    return (
        header("#")
        + f"# RabbitMQ management, restricted by client address. SWAG publishes {https} in host mode, so\n"
        + "# $remote_addr is the real client. Order matters: the first matching allow/deny wins.\n"
        + "server {\n"
        + listens
        + f"    server_name {nginx_word(spec.management_host)};\n"
        + f"    include {nginx_word(config + '/nginx/ssl.conf')};\n"
        + "    client_max_body_size 0;\n"
        + "\n"
        + allow
        + "    deny all;\n"
        + "\n"
        + "    location / {\n"
        + f"        include {nginx_word(config + '/nginx/proxy.conf')};\n"
        + f"        include {nginx_word(config + '/nginx/resolver.conf')};\n"
        + f"        set $upstream_app {nginx_word(upstream)};\n"
        + f"        set $upstream_port {MANAGEMENT_PORT};\n"
        + "        proxy_pass http://$upstream_app:$upstream_port;\n"
        + "    }\n"
        + "}\n"
    )


def contribute(env: Environment) -> Contribution:
    spec = env.services.swag
    out = Contribution(volumes=[CONFIG_VOLUME])
    out.files[SITE_PATH] = rabbitmq_site(env, ProductionTarget(env))
    out.files[STATUS_SITE_PATH] = status_site(env, ProductionTarget(env))
    out.mounts["swag"] = [Mount(SITE_PATH, SITE_TARGET), Mount(STATUS_SITE_PATH, STATUS_SITE_TARGET)]
    host = env.services.rabbitmq.management_host
    subdomain = host.removesuffix("." + spec.domain)
    out.services["swag"] = {
        "image": spec.image,
        "environment": {
            "PUID": "1000",
            "PGID": "1000",
            "TZ": "Etc/UTC",
            "URL": spec.domain,
            "SUBDOMAINS": subdomain,
            "VALIDATION": spec.validation,
            "EMAIL": spec.email,
            "ONLY_SUBDOMAINS": "false",
        },
        "volumes": [f"{CONFIG_VOLUME}:{spec.volume.target if spec.volume else '/config'}"],
        "networks": overlay(env),
        "ports": host_ports(spec.ports),
        "healthcheck": healthcheck(["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1/ || exit 1"]),
        "deploy": single_deploy(spec),
    }
    out.services[EXPORTER] = {
        "image": spec.exporter_image,
        "command": exporter_args(ProductionTarget(env)),
        "networks": overlay(env),
        # The image is FROM scratch: no shell or HTTP client to probe with. Prometheus's `up` for
        # the swag job is its health.
        "healthcheck": {"disable": True},
        "deploy": spread_deploy(Component(image=spec.exporter_image, placement=spec.placement, members=1)),
    }
    return out
