"""MongoDB: a 3-member replica set on DB nodes, keyfile auth, initiated once by the runbook.

Each member has a mongodb_exporter on the service nodes (the seed's boundary: only the databases
live on DB nodes), connecting directly to its member as the ``exporter`` user (clusterMonitor).
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
    host_ports,
    member_names,
    overlay,
    pinned_deploy,
    shell,
    spread_deploy,
)
from iklim.components.target import ProductionTarget, Target
from iklim.model.catalogue import engine_port
from iklim.model.ports import port_of
from iklim.model.schema import Component, Environment, Placement

INIT_PATH = f"{CONFIG_ROOT}/mongodb/rs-init.js"
INIT_TARGET = "/etc/mongo/rs-init.js"
KEYFILE = "mongodb_keyfile"
KEYFILE_BYTES = 756  # base64 of 756 bytes = 1008 characters: within MongoDB's 6..1024 limit
ROOT_PASSWORD = "mongodb_root_password"
EXPORTER = "mongodb-exporter"
EXPORTER_PORT = engine_port("mongodb", "exporter")  # not published: on the overlay only
EXPORTER_USER = "exporter"
EXPORTER_PASSWORD = "mongodb_exporter_password"
MONGO_UID = "999"


def mongod_args(env: Environment, target: Target, member: str, keyfile: str) -> list[str]:
    """``mongod``'s arguments for ``member``: the replica set, its address and the shared keyfile."""
    listen = target.listen(member)
    bind = ["--bind_ip_all"] if listen == "0.0.0.0" else ["--bind_ip", listen]
    spec = env.services.mongodb
    return ["--replSet", spec.replica_set, *bind, "--port", str(port_of(spec, "mongod")), "--keyFile", keyfile]


def rs_init(env: Environment, target: Target) -> str:
    """The idempotent replica-set initiation script (mongosh), run on the first member.

    It initiates the set once, waits for a primary, creates ``root`` through the localhost
    exception, then (authenticated as root) the least-privileged ``exporter`` user.
    """
    spec = env.services.mongodb
    names = member_names("mongodb", spec.members)
    hosts = [target.host(name) for name in names]
    root_file = target.path(names[0], f"/run/secrets/{ROOT_PASSWORD}")
    exporter_file = target.path(names[0], f"/run/secrets/{EXPORTER_PASSWORD}")
    port = port_of(spec, "mongod")
    members = ",\n".join(
        f"    {{ _id: {i}, host: '{host}:{port}', priority: {2 if i == 0 else 1} }}" for i, host in enumerate(hosts)
    )
    return (
        header("//")
        + "// Idempotent: initiates the replica set once, waits for a primary, creates the root user through\n"
        + "// the localhost exception, then the exporter's user. Each step looks at the real state first.\n"
        + "const fs = require('fs');\n"
        + f"const config = {{\n  _id: '{spec.replica_set}',\n  members: [\n{members}\n  ]\n}};\n"
        + "const hello = db.hello();\n"
        + "if (!hello.setName) {\n  rs.initiate(config);\n  print('replica set initiated');\n}\n"
        + "for (let i = 0; i < 120 && !db.hello().isWritablePrimary; i++) { sleep(1000); }\n"
        + "if (!db.hello().isWritablePrimary) { throw new Error('no primary after 120 s'); }\n"
        + "const admin = db.getSiblingDB('admin');\n"
        + "const secret = (path) => fs.readFileSync(path, 'utf8').trim();\n"
        + f"const rootPassword = secret('{root_file}');\n"
        + "try {\n"
        + "  admin.createUser({ user: 'root', pwd: rootPassword, roles: [{ role: 'root', db: 'admin' }] });\n"
        + "  print('root user created');\n"
        + "} catch (e) {\n"
        + "  // Unauthorized (13): users exist, so the localhost exception is closed; 51003: root exists.\n"
        + "  if (e.code !== 13 && e.code !== 51003) { throw e; }\n"
        + "  print('root user present');\n"
        + "}\n"
        + "admin.auth('root', rootPassword);\n"
        + "// The exporter's user follows its secret: created once, its password set again on every run.\n"
        + f"const exporter = {{ pwd: secret('{exporter_file}'), "
        + "roles: [{ role: 'clusterMonitor', db: 'admin' }, { role: 'read', db: 'local' }] };\n"
        + f"if (admin.getUser('{EXPORTER_USER}')) {{\n"
        + f"  admin.updateUser('{EXPORTER_USER}', exporter);\n"
        + f"  print('{EXPORTER_USER} user updated');\n"
        + "} else {\n"
        + f"  admin.createUser(Object.assign({{ user: '{EXPORTER_USER}' }}, exporter));\n"
        + f"  print('{EXPORTER_USER} user created');\n"
        + "}\n"
    )


def exporter_service(env: Environment, member: str) -> dict[str, Any]:
    """A mongodb_exporter for one member, on service nodes, password read from its secret at start."""
    spec = env.services.mongodb
    uri = f"mongodb://{ProductionTarget(env).host(member)}:{port_of(spec, 'mongod')}/admin"
    start = (
        f'export MONGODB_PASSWORD="$$(cat /run/secrets/{EXPORTER_PASSWORD})"; '
        f"exec /bin/mongodb_exporter --mongodb.uri={uri} --mongodb.user={EXPORTER_USER} --mongodb.direct-connect "
        f"--collector.replicasetstatus --collector.diagnosticdata --web.listen-address=:{EXPORTER_PORT}"
    )
    return {
        "image": spec.exporter_image,
        # The image's entrypoint is the exporter itself: replace it to read the password first.
        "entrypoint": shell(start),
        "networks": overlay(env),
        "healthcheck": healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{EXPORTER_PORT}/"]),
        "deploy": spread_deploy(Component(image=spec.exporter_image, placement=Placement.SERVICE, members=1)),
    }


def contribute(env: Environment) -> Contribution:
    spec = env.services.mongodb
    out = Contribution(secrets=[KEYFILE, ROOT_PASSWORD, EXPORTER_PASSWORD], secret_bytes={KEYFILE: KEYFILE_BYTES})
    names = member_names("mongodb", spec.members)
    out.files[INIT_PATH] = rs_init(env, ProductionTarget(env))
    for service, node in zip(names, spec.nodes, strict=True):
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.mounts[service] = [Mount(INIT_PATH, INIT_TARGET)]
        out.secret_mounts[service] = [
            SecretMount(KEYFILE, uid=MONGO_UID, mode=0o400),
            SecretMount(ROOT_PASSWORD),
            SecretMount(EXPORTER_PASSWORD),
        ]
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": ["mongod", *mongod_args(env, ProductionTarget(env), service, f"/run/secrets/{KEYFILE}")],
            "volumes": [f"{volume}:{spec.volume.target if spec.volume else '/data/db'}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(
                [
                    "CMD",
                    "mongosh",
                    "--quiet",
                    "--port",
                    str(port_of(spec, "mongod")),
                    "--eval",
                    "db.adminCommand('ping').ok",
                ]
            ),
            "stop_grace_period": "60s",
            "deploy": pinned_deploy(spec.placement, node),
        }
        exporter = service.replace("mongodb", EXPORTER, 1)
        out.secret_mounts[exporter] = [SecretMount(EXPORTER_PASSWORD)]
        out.services[exporter] = exporter_service(env, service)
    return out
