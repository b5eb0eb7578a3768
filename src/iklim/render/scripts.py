"""The runbooks: ``init-infra-prod.sh``, ``init/vault/vault-bootstrap.sh`` and the DB-node
``DOCKER-USER`` rules, filled from templates. Each script is idempotent: every step reads the
current state first."""

from __future__ import annotations

from collections.abc import Sequence

from iklim.components import mongodb
from iklim.components.base import PASSWORD_BYTES, Contribution, header
from iklim.components.quoting import sh, sh_comment
from iklim.components.target import node_of
from iklim.components.trust import CA_SECRET
from iklim.model.paths import DEFAULT_ENV, TOOL_ETCD_CLIENT_SECRETS
from iklim.model.ports import port_of
from iklim.model.schema import Environment, Placement, VolumeKind
from iklim.model.seedfacts import STORAGEBOX
from iklim.render.stacks import STACK_FILES
from iklim.render.templates import fill
from iklim.render.terraform import private_host_ports

RUNBOOK_PATH = "init-infra-prod.sh"
VAULT_BOOTSTRAP_PATH = "init/vault/vault-bootstrap.sh"
DOCKER_USER_PATHS = {Placement.DB: "init/hosts/db-docker-user.sh", Placement.SERVICE: "init/hosts/app-docker-user.sh"}


def secret_sizes(parts: Sequence[Contribution]) -> list[tuple[str, int]]:
    """Every Docker secret the components declare (``Contribution.secrets``), with the random
    bytes the runbook generates for it: those with a declared size first, then the passwords,
    each group sorted by name. ValueError when two components declare one secret two sizes."""
    sizes: dict[str, int] = {}
    for part in parts:
        for name in part.secrets:
            size = part.secret_bytes.get(name, PASSWORD_BYTES)
            if sizes.setdefault(name, size) != size:
                raise ValueError(f"secret {name!r} is declared with {sizes[name]} and {size} bytes")
    return sorted(sizes.items(), key=lambda item: (item[1] == PASSWORD_BYTES, item[0]))


def file_secrets(parts: Sequence[Contribution]) -> list[str]:
    """The CA certificate, then every certificate and key the components mount (each once, sorted):
    the secrets the runbook imports from ``PKI_DIR`` (``Contribution.file_secrets``)."""
    names = sorted({name for part in parts for name in part.file_secrets} - {CA_SECRET})
    return [CA_SECRET, *names]


def storagebox_folders(env: Environment) -> list[str]:
    """The StorageBox paths of every bind-mounted volume (sorted, each once), except those whose
    path an environment variable overrides (the runbook passes the variable's value)."""
    found = set()
    for name in type(env.services).model_fields:
        spec = getattr(env.services, name)
        volume = getattr(spec, "volume", None)
        if volume is not None and volume.kind is VolumeKind.STORAGEBOX and volume.path and not volume.env:
            found.add(str(volume.path))
    return sorted(found)


def runbook(env: Environment, parts: Sequence[Contribution]) -> str:
    """``init-infra-prod.sh`` for the components' ``parts``; every model value is one shell word
    (:func:`sh`), whatever it holds."""
    grafana_volume = env.services.grafana.volume
    grafana_dir = grafana_volume.path or "" if grafana_volume else ""
    first = node_of(env, "mongodb-1")
    assert first is not None, "mongodb members are pinned (model semantics)"
    mongo_node = env.node(first)
    return fill(
        "init-infra-prod.sh",
        header=header("#").rstrip("\n"),
        grafana_dir_comment=sh_comment(grafana_dir),
        grafana_dir=sh(grafana_dir),
        infra_stack=sh(env.stacks.infra),
        vault_stack=sh(env.stacks.vault),
        overlay=sh(env.overlay.name),
        overlay_subnet=sh(env.overlay.subnet),
        mtu=str(env.overlay.mtu),  # an int from 1280 to 1450: never needs quoting
        overlay_encrypted="1" if env.tls.overlay.encrypted() else "",
        label_calls="\n".join(
            f"  label_node {sh(n.name)} {sh(key)} {sh(value)}"
            for n in env.nodes
            for key, value in sorted(n.labels.items())
        ),
        db_node_ips=" ".join(sh(n.private_ip) for n in env.nodes if n.role is Placement.DB),
        app_node_ips=" ".join(sh(n.private_ip) for n in env.nodes if n.role is Placement.SERVICE),
        storagebox_mount=sh(STORAGEBOX),
        storagebox_mount_comment=sh_comment(str(STORAGEBOX)),
        storagebox_dirs=" ".join(sh(d) for d in storagebox_folders(env)) or "''",
        db_docker_user_script=sh(DOCKER_USER_PATHS[Placement.DB]),
        app_docker_user_script=sh(DOCKER_USER_PATHS[Placement.SERVICE]),
        secret_calls="\n".join(f"  ensure_secret {sh(name)} {sh(size)}" for name, size in secret_sizes(parts)),
        pki_dir=sh(env.tls.pki_dir),
        pki_dir_comment=sh_comment(env.tls.pki_dir),
        model=sh(DEFAULT_ENV),
        file_secret_calls="\n".join(
            f"  {'ensure_job_secret' if name in TOOL_ETCD_CLIENT_SECRETS else 'ensure_file_secret'} {sh(name)}"
            for name in file_secrets(parts)
        ),
        vault_stack_file=sh(STACK_FILES["vault"]),
        infra_stack_file=sh(STACK_FILES["infra"]),
        vault_bootstrap=sh(VAULT_BOOTSTRAP_PATH),
        mongo_service="mongodb-1",
        mongo_node_ip=sh(mongo_node.private_ip),
        mongo_init=sh(mongodb.INIT_TARGET),
        mongo_port=str(port_of(env.services.mongodb, "mongod")),  # an int from 1 to 65535: one word
    )


def docker_user_rules(env: Environment, placement: Placement) -> str:
    """The DOCKER-USER rules of one node role: its private host-mode ports, private sources only."""
    sources = [env.network.app_subnet, env.network.db_subnet, env.overlay.subnet]
    return fill(
        "docker-user.sh",
        header=header("#").rstrip("\n"),
        role="DB" if placement is Placement.DB else "service",
        chain="IKLIM-DB" if placement is Placement.DB else "IKLIM-APP",
        ports=sh(" ".join(f"{proto}/{port}" for proto, port in private_host_ports(env, placement))),
        sources=sh(" ".join(str(s) for s in sources)),
    )


def vault_bootstrap(env: Environment) -> str:
    """``init/vault/vault-bootstrap.sh``; the custody path is one shell word, whatever it holds."""
    keys_file = env.services.vault.keys_file
    return fill(
        "vault-bootstrap.sh",
        header=header("#").rstrip("\n"),
        keys_file_comment=sh_comment(keys_file),
        keys_file=sh(keys_file),
        pki_dir=sh(env.tls.pki_dir),
        pki_dir_comment=sh_comment(env.tls.pki_dir),
        model=sh(DEFAULT_ENV),
    )
