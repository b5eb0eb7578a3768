"""Cert services: the distributor and the reloader around SWAG's certificates.

- cert-distributor runs beside SWAG (same node, SWAG's local config volume read-only) and copies
  the live certificates to the StorageBox, where consumers on other service nodes read them.
- cert-reloader watches that copy and force-updates the consumer services when it changes; it
  talks to the Swarm API, so it runs on a manager node.
"""

from __future__ import annotations

from iklim.components.base import Contribution, healthcheck, overlay, shell, single_deploy
from iklim.components.quoting import compose_sh
from iklim.components.swag import CONFIG_VOLUME
from iklim.model.schema import Environment

CHECK_SECONDS = 3600


def contribute(env: Environment) -> Contribution:
    dist = env.services.cert_distributor
    store = dist.volume.path if dist.volume and dist.volume.path else "/mnt/storagebox/certs"
    target = dist.volume.target if dist.volume else "/certs"
    quoted = compose_sh(target)  # one shell word inside the compose command
    out = Contribution()
    copy = (
        "umask 077; while true; do "
        "if [ -d /swag/etc/letsencrypt/live ]; then "
        f"cp -RL /swag/etc/letsencrypt/live/. {quoted}/; fi; "
        f"sleep {CHECK_SECONDS}; done"
    )
    out.services["cert-distributor"] = {
        "image": dist.image,
        "command": shell(copy),
        "volumes": [f"{CONFIG_VOLUME}:/swag:ro", f"{store}:{target}"],
        "networks": overlay(env),
        # Healthy when there is nothing to copy yet, or the copy on the StorageBox exists.
        "healthcheck": healthcheck(
            ["CMD-SHELL", f'test ! -d /swag/etc/letsencrypt/live || test -n "$$(ls -A {quoted})"'], "60s"
        ),
        "deploy": single_deploy(dist),
    }
    rel = env.services.cert_reloader
    consumers = f"{env.stacks.infra}_apisix"
    watch = (
        "last=; while true; do "
        f"now=$$(cat {quoted}/*/fullchain.pem 2>/dev/null | sha256sum); "
        'if [ -n "$$last" ] && [ "$$now" != "$$last" ]; then '
        'for s in $$CERT_CONSUMERS; do docker service update --force --detach "$$s"; done; fi; '
        f'last="$$now"; sleep {CHECK_SECONDS}; done'
    )
    out.services["cert-reloader"] = {
        "image": rel.image,
        "command": shell(watch),
        "environment": {"CERT_CONSUMERS": consumers},
        "volumes": [f"{store}:{target}:ro", "/var/run/docker.sock:/var/run/docker.sock"],
        "networks": overlay(env),
        # Its one dependency: the Swarm API through the socket (it must be a manager).
        "healthcheck": healthcheck(["CMD", "docker", "node", "ls", "-q"]),
        "deploy": single_deploy(rel, extra=("node.role == manager",)),
    }
    return out
