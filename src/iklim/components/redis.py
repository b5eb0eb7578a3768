"""Redis with Sentinel on service nodes: overlay-only, one master, replicas, 3 Sentinels.

Each member copies its rendered config into its data volume on first start, so the rewrites that
Sentinel makes after a failover (``replicaof``, known sentinels) survive restarts. The password is
written to a tmpfs include file at start and never reaches the rendered files or the command line.
"""

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
    spread_deploy,
)
from iklim.components.quoting import compose_sh
from iklim.components.target import ProductionTarget, Target
from iklim.model.catalogue import engine_port
from iklim.model.schema import Component, Environment

# Not published: the engine's own port, reached on the overlay only, so not a model key
# (published ports come from the model's `ports` by name, iklim.model.ports). One definition each.
REDIS_PORT = engine_port("redis", "redis")
SENTINEL_PORT = engine_port("redis", "sentinel")
EXPORTER = "redis-exporter"
EXPORTER_PORT = engine_port("redis", "exporter")
PASSWORD = "redis_password"
AUTH_INCLUDE = "/tmp/iklim-auth.conf"


def _network_lines(target: Target, member: str) -> list[str]:
    listen = target.listen(member)
    lines = [f"bind {listen}"]
    if listen != "0.0.0.0":
        # Several members share one host (the lab): without a source address, a replica or a
        # Sentinel connects from 127.0.0.1 and is known to the others by that address.
        lines.append(f"bind-source-addr {listen}")
    return lines


def redis_conf(env: Environment, target: Target, member: str, master: str) -> str:
    lines = [
        header("#").rstrip("\n"),
        f"port {REDIS_PORT}",
        *_network_lines(target, member),
        "protected-mode no",
        f"dir {target.data_dir(member, '/data')}",
        "appendonly yes",
        "appendfsync everysec",
        f"replica-announce-ip {target.host(member)}",
        f"replica-announce-port {REDIS_PORT}",
        "min-replicas-to-write 1",
        "min-replicas-max-lag 10",
        f"include {target.path(member, AUTH_INCLUDE)}",
    ]
    if member != master:
        lines.append(f"replicaof {target.host(master)} {REDIS_PORT}")
    return "\n".join(lines) + "\n"


#: Sentinel's own config rewrite can record the same ``known-replica`` twice, or the master as its
#: own replica, when it announces hostnames (seen on the Swarm lab after a restart: two lines
#: ``known-replica iklim-redis redis-1 6379`` while redis-1 was the master; upstream report:
#: valkey-io/valkey#4530). Sentinel then refuses its file at the next start ("Duplicate hostname
#: and port for replica") and crash-loops. Before each start, drop the duplicate lines and a
#: replica that is the monitored master; Sentinel learns the replicas again from the master's
#: INFO within one refresh (10 s). Epochs and known Sentinels are kept.
_REPAIR_KNOWN_REPLICAS = (
    'awk \'NR == FNR { if ($1 == "sentinel" && $2 == "monitor") m[$3] = $4 " " $5; next } '
    '$1 == "sentinel" && $2 == "known-replica" && (seen[$0]++ || m[$3] == $4 " " $5) { next } '
    "{ print }' /data/sentinel.conf /data/sentinel.conf > /data/sentinel.conf.new "
    "&& mv /data/sentinel.conf.new /data/sentinel.conf"
)


def sentinel_conf(env: Environment, target: Target, member: str, master: str) -> str:
    spec = env.services.redis
    sen = spec.sentinel
    monitor = spec.master_name
    return (
        "\n".join(
            [
                header("#").rstrip("\n"),
                f"port {SENTINEL_PORT}",
                *_network_lines(target, member),
                f"dir {target.data_dir(member, '/data')}",
                "sentinel resolve-hostnames yes",
                "sentinel announce-hostnames yes",
                f"sentinel announce-ip {target.host(member)}",
                f"sentinel announce-port {SENTINEL_PORT}",
                f"sentinel monitor {monitor} {target.host(master)} {REDIS_PORT} {sen.quorum}",
                f"sentinel down-after-milliseconds {monitor} {sen.down_after_milliseconds}",
                f"sentinel failover-timeout {monitor} {sen.failover_timeout_ms}",
                f"sentinel parallel-syncs {monitor} {sen.parallel_syncs}",
            ]
        )
        + "\n"
    )


def scrape_targets(env: Environment, target: Target) -> list[str]:
    """Every Redis and Sentinel member as a ``redis://`` target of the multi-target exporter."""
    spec = env.services.redis
    members = [(m, REDIS_PORT) for m in member_names("redis", spec.members)]
    members += [(m, SENTINEL_PORT) for m in member_names("redis-sentinel", spec.sentinel.members)]
    return [f"redis://{target.host(m)}:{port}" for m, port in members]


def password_targets(env: Environment, target: Target) -> list[str]:
    """The exporter targets that need the password (Redis members; Sentinels have none)."""
    return [t for t in scrape_targets(env, target) if t.endswith(f":{REDIS_PORT}")]


def exporter_password_map(env: Environment, target: Target, password: str) -> str:
    """The exporter's ``--redis.password-file``: JSON, target URI -> password."""
    import json

    return json.dumps({uri: password for uri in password_targets(env, target)})


def _start(conf: str, binary: str, auth: str) -> list[str]:
    return shell(
        f"umask 077; {auth}; "
        f"test -f /data/{conf} || cp /usr/local/etc/redis/{conf} /data/{conf}; "
        f"exec {binary} /data/{conf}"
    )


def contribute(env: Environment) -> Contribution:
    spec = env.services.redis
    target = ProductionTarget(env)
    out = Contribution(secrets=[PASSWORD])
    redis_names = member_names("redis", spec.members)
    master = redis_names[0]
    write_auth = (
        f'pw="$$(cat /run/secrets/{PASSWORD})"; '
        f'printf \'requirepass %s\\nmasterauth %s\\n\' "$$pw" "$$pw" > {AUTH_INCLUDE}'
    )
    cli_auth = f'REDISCLI_AUTH="$$(cat /run/secrets/{PASSWORD})"'
    for service, node in zip(redis_names, spec.nodes, strict=True):
        path = f"{CONFIG_ROOT}/redis/{service}.conf"
        out.files[path] = redis_conf(env, target, service, master)
        out.mounts[service] = [Mount(path, "/usr/local/etc/redis/redis.conf")]
        out.secret_mounts[service] = [SecretMount(PASSWORD)]
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": _start("redis.conf", "redis-server", write_auth),
            "volumes": [f"{volume}:/data"],
            "networks": overlay(env),
            "healthcheck": healthcheck(["CMD-SHELL", f"{cli_auth} redis-cli ping | grep -q PONG"]),
            "deploy": pinned_deploy(spec.placement, node),
        }
    sen = spec.sentinel
    sentinel_auth = (
        "test -f /data/sentinel.conf || { cp /usr/local/etc/redis/sentinel.conf /data/sentinel.conf; "
        f"printf 'sentinel auth-pass %s %s\\n' {compose_sh(spec.master_name)} \"$$(cat /run/secrets/{PASSWORD})\" "
        ">> /data/sentinel.conf; }"
    )
    out.secret_mounts[EXPORTER] = [SecretMount(PASSWORD)]
    sentinel_repair = _REPAIR_KNOWN_REPLICAS.replace("$", "$$")
    passwords = "/tmp/redis-passwords.json"
    build_map = (
        f'umask 077; pw="$$(cat /run/secrets/{PASSWORD})"; sep=; {{ printf "{{"; '
        f"for t in {' '.join(password_targets(env, target))}; do "
        'printf \'%s"%s":"%s"\' "$$sep" "$$t" "$$pw"; sep=,; done; printf "}"; }'
        f" > {passwords}; exec /redis_exporter --redis.password-file={passwords} --web.listen-address=:{EXPORTER_PORT}"
    )
    out.services[EXPORTER] = {
        "image": spec.exporter_image,
        # The image's entrypoint is the exporter itself: replace it to build the password map first.
        "entrypoint": shell(build_map),
        "networks": overlay(env),
        "healthcheck": healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{EXPORTER_PORT}/health"]
        ),
        "deploy": spread_deploy(Component(image=spec.exporter_image, placement=spec.placement, members=1)),
    }
    for service, node in zip(member_names("redis-sentinel", sen.members), sen.nodes, strict=True):
        path = f"{CONFIG_ROOT}/redis/{service}.conf"
        out.files[path] = sentinel_conf(env, target, service, master)
        out.mounts[service] = [Mount(path, "/usr/local/etc/redis/sentinel.conf")]
        out.secret_mounts[service] = [SecretMount(PASSWORD)]
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.services[service] = {
            "image": sen.image,
            "hostname": service,
            "command": shell(f"umask 077; {sentinel_auth}; {sentinel_repair}; exec redis-sentinel /data/sentinel.conf"),
            "volumes": [f"{volume}:/data"],
            "networks": overlay(env),
            "healthcheck": healthcheck(["CMD-SHELL", f"redis-cli -p {SENTINEL_PORT} ping | grep -q PONG"]),
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
