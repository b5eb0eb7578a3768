"""RabbitMQ: a 3-node cluster on service nodes, overlay-only, classic peer discovery."""

from __future__ import annotations

from iklim.components.base import (
    CONFIG_ROOT,
    Contribution,
    Mount,
    SecretMount,
    header,
    healthcheck,
    member_names,
    overlay,
    pinned_deploy,
    shell,
)
from iklim.components.target import ProductionTarget, Target
from iklim.model.catalogue import engine_port
from iklim.model.schema import Environment

# Not published: the engine's own port, reached on the overlay only, so not a model key
# (published ports come from the model's `ports` by name, iklim.model.ports). One definition each.
AMQP_PORT = engine_port("rabbitmq", "amqp")
MANAGEMENT_PORT = engine_port("rabbitmq", "management")
PROMETHEUS_PORT = engine_port("rabbitmq", "metrics")
DIST_PORT = engine_port("rabbitmq", "dist")
EPMD_PORT = engine_port("rabbitmq", "epmd")
CLIENT_ALIAS = "rabbitmq"
COOKIE = "rabbitmq_erlang_cookie"
ADMIN_PASSWORD = "rabbitmq_admin_password"
CONF_PATH = f"{CONFIG_ROOT}/rabbitmq/rabbitmq.conf"
PLUGINS_PATH = f"{CONFIG_ROOT}/rabbitmq/enabled_plugins"


def rabbitmq_conf(env: Environment, target: Target, member: str) -> str:
    """The member's rabbitmq.conf; in production every member's is the same shared file."""
    spec = env.services.rabbitmq
    listen = target.listen(member)
    nodes = [target.erlang_node(m) for m in member_names("rabbitmq", spec.members)]
    if listen == "0.0.0.0":
        listeners = [f"listeners.tcp.default = {AMQP_PORT}"]
    else:
        listeners = [
            f"listeners.tcp.1 = {listen}:{AMQP_PORT}",
            f"management.tcp.ip = {listen}",
            f"prometheus.tcp.ip = {listen}",
        ]
    lines = [
        header("#").rstrip("\n"),
        f"cluster_name = {spec.cluster_name}",
        f"cluster_partition_handling = {spec.partition_handling}",
        "cluster_formation.peer_discovery_backend = classic_config",
        *(f"cluster_formation.classic_config.nodes.{i} = {n}" for i, n in enumerate(nodes, 1)),
        *listeners,
        f"management.tcp.port = {MANAGEMENT_PORT}",
        f"prometheus.tcp.port = {PROMETHEUS_PORT}",
        "loopback_users.guest = true",
        "default_user = admin",
        "vm_memory_high_watermark.relative = 0.6",
        "disk_free_limit.absolute = 2GB",
        "queue_leader_locator = balanced",
    ]
    return "\n".join(lines) + "\n"


#: How long a blank member waits for the seed before booting anyway (seconds). With the boot that
#: follows it must fit the healthcheck's window (``start_period`` :data:`START_PERIOD_S` plus five
#: failed probes 10 s apart), or Swarm replaces the waiting task and the wait starts over.
SEED_WAIT_S = 90
#: The healthcheck's ``start_period`` (seconds): the seed wait plus a boot fit before the retries.
START_PERIOD_S = 90
#: Seconds one ``rabbitmq-diagnostics ping`` of the seed may take (its default is 60).
PING_TIMEOUT_S = 5


def wait_for_seed(member: str, seed: str) -> str:
    """The start command's wait (``sh``, ``$$``-escaped for the stack): a blank member other than
    ``seed`` (no ``mnesia`` folder of its own yet) boots only once ``seed`` answers
    ``rabbitmq-diagnostics ping``, for at most :data:`SEED_WAIT_S` by the clock (each ping at most
    :data:`PING_TIMEOUT_S`); empty for the seed itself.

    Why: with classic peer discovery a blank node that reaches none of its listed peers boots as a
    cluster of its own (https://www.rabbitmq.com/docs/cluster-formation). On Swarm a peer is
    reachable only once its task is healthy (the service's VIP has no backend before), so three
    blank members started together can form two clusters; found on a fresh Swarm lab:
    rabbitmq-3 formed its own while rabbitmq-1 and -2 clustered. Waiting for one fixed seed makes
    the formation deterministic. A member with data restarts at once (it knows its cluster), and
    the wait ends anyway so a lost seed cannot keep the others down. The CLI reads the cookie the
    command installed under ``HOME=/var/lib/rabbitmq``.
    """
    if member == seed:
        return ""
    ping = f"HOME=/var/lib/rabbitmq rabbitmq-diagnostics -q -t {PING_TIMEOUT_S} -n rabbit@{seed} ping >/dev/null 2>&1"
    return (
        f"if [ ! -d /var/lib/rabbitmq/mnesia/rabbit@{member} ]; then "
        f"end=$$(($$(date +%s)+{SEED_WAIT_S})); "
        f"until {ping} || [ $$(date +%s) -ge $$end ]; do sleep 5; done; fi; "
    )


def contribute(env: Environment) -> Contribution:
    spec = env.services.rabbitmq
    out = Contribution(secrets=[COOKIE, ADMIN_PASSWORD])
    names = member_names("rabbitmq", spec.members)
    out.files[CONF_PATH] = rabbitmq_conf(env, ProductionTarget(env), names[0])
    out.files[PLUGINS_PATH] = "[rabbitmq_management,rabbitmq_prometheus].\n"
    for service, node in zip(names, spec.nodes, strict=True):
        start = (
            f"install -m 0400 -o rabbitmq -g rabbitmq /run/secrets/{COOKIE} /var/lib/rabbitmq/.erlang.cookie; "
            f'export RABBITMQ_DEFAULT_PASS="$$(cat /run/secrets/{ADMIN_PASSWORD})"; '
            f"{wait_for_seed(service, names[0])}"
            "exec docker-entrypoint.sh rabbitmq-server"
        )
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.mounts[service] = [
            Mount(CONF_PATH, "/etc/rabbitmq/rabbitmq.conf"),
            Mount(PLUGINS_PATH, "/etc/rabbitmq/enabled_plugins"),
        ]
        out.secret_mounts[service] = [SecretMount(COOKIE), SecretMount(ADMIN_PASSWORD)]
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "environment": {"RABBITMQ_NODENAME": f"rabbit@{service}", "RABBITMQ_USE_LONGNAME": "false"},
            "command": shell(start),
            "volumes": [f"{volume}:{spec.volume.target if spec.volume else '/var/lib/rabbitmq'}"],
            "networks": overlay(env, CLIENT_ALIAS),
            "healthcheck": healthcheck(
                ["CMD", "rabbitmq-diagnostics", "-q", "ping"], start_period=f"{START_PERIOD_S}s"
            ),
            "stop_grace_period": "60s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
