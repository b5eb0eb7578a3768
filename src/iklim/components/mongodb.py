"""MongoDB: a 3-member replica set on DB nodes, keyfile auth, initiated once by the runbook."""

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
from iklim.components.target import ProductionTarget, Target
from iklim.model.schema import Environment

PORT = 27017
INIT_PATH = f"{CONFIG_ROOT}/mongodb/rs-init.js"
INIT_TARGET = "/etc/mongo/rs-init.js"
KEYFILE = "mongodb_keyfile"
ROOT_PASSWORD = "mongodb_root_password"
MONGO_UID = "999"


def mongod_args(env: Environment, target: Target, member: str, keyfile: str) -> list[str]:
    """``mongod``'s arguments for ``member``: the replica set, its address and the shared keyfile."""
    listen = target.listen(member)
    bind = ["--bind_ip_all"] if listen == "0.0.0.0" else ["--bind_ip", listen]
    return ["--replSet", env.services.mongodb.replica_set, *bind, "--port", str(PORT), "--keyFile", keyfile]


def rs_init(env: Environment, target: Target) -> str:
    """The idempotent replica-set initiation script (mongosh), run on the first member."""
    spec = env.services.mongodb
    names = member_names("mongodb", spec.members)
    hosts = [target.host(name) for name in names]
    password_file = target.path(names[0], f"/run/secrets/{ROOT_PASSWORD}")
    members = ",\n".join(
        f"    {{ _id: {i}, host: '{host}:{PORT}', priority: {2 if i == 0 else 1} }}" for i, host in enumerate(hosts)
    )
    return (
        header("//")
        + "// Idempotent: initiates the replica set once, waits for a primary, then creates the root user\n"
        + "// through the localhost exception. Safe to rerun: each step looks at the real state first.\n"
        + "const fs = require('fs');\n"
        + f"const config = {{\n  _id: '{spec.replica_set}',\n  members: [\n{members}\n  ]\n}};\n"
        + "const hello = db.hello();\n"
        + "if (!hello.setName) {\n  rs.initiate(config);\n  print('replica set initiated');\n}\n"
        + "for (let i = 0; i < 120 && !db.hello().isWritablePrimary; i++) { sleep(1000); }\n"
        + "if (!db.hello().isWritablePrimary) { throw new Error('no primary after 120 s'); }\n"
        + "const admin = db.getSiblingDB('admin');\n"
        + "try {\n"
        + f"  const pwd = fs.readFileSync('{password_file}', 'utf8').trim();\n"
        + "  admin.createUser({ user: 'root', pwd: pwd, roles: [{ role: 'root', db: 'admin' }] });\n"
        + "  print('root user created');\n"
        + "} catch (e) {\n"
        + "  // Unauthorized (13) or already exists (51003): the localhost exception is closed, users exist.\n"
        + "  if (e.code !== 13 && e.code !== 51003) { throw e; }\n"
        + "  print('root user present');\n"
        + "}\n"
    )


def contribute(env: Environment) -> Contribution:
    spec = env.services.mongodb
    out = Contribution(secrets=[KEYFILE, ROOT_PASSWORD])
    names = member_names("mongodb", spec.members)
    out.files[INIT_PATH] = rs_init(env, ProductionTarget(env))
    for service, node in zip(names, spec.nodes, strict=True):
        volume = f"{service}-data"
        out.volumes.append(volume)
        out.mounts[service] = [Mount(INIT_PATH, INIT_TARGET)]
        out.secret_mounts[service] = [
            SecretMount(KEYFILE, uid=MONGO_UID, mode=0o400),
            SecretMount(ROOT_PASSWORD),
        ]
        out.services[service] = {
            "image": spec.image,
            "hostname": service,
            "command": ["mongod", *mongod_args(env, ProductionTarget(env), service, f"/run/secrets/{KEYFILE}")],
            "volumes": [f"{volume}:{spec.volume.target if spec.volume else '/data/db'}"],
            "networks": overlay(env),
            "ports": host_ports(spec.ports),
            "healthcheck": healthcheck(["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]),
            "stop_grace_period": "60s",
            "deploy": pinned_deploy(spec.placement, node),
        }
    return out
