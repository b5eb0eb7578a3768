"""Edits of a copy of the rendered tree, for the deploy tests (issue 14).

A config object's name is ``<stack>_<key>_<sha256(content)[:10]>`` (``iklim render``), so a
changed config file also gets a new name in the stack file, as a re-render would give it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import yaml

INFRA = "docker-stack-infra_db-prod.yml"
VAULT = "docker-stack-vault.yml"
#: Stack file -> stack name (environments/prod.yaml ``stacks``).
STACKS = {INFRA: "iklimco", VAULT: "vault"}
#: The stateful members whose configuration :func:`change_stateful_configs` changes.
STATEFUL = ("etcd", "patroni", "redis", "rabbitmq", "vault")


def copy_tree(root: Path, target: Path) -> Path:
    """Copy the stacks, the runbook and ``config/`` of the tree at ``root`` into ``target``; returns ``target``."""
    for name in (INFRA, VAULT, "init-infra-prod.sh"):
        shutil.copyfile(root / name, target / name)
    shutil.copytree(root / "config", target / "config", dirs_exist_ok=True)
    return target


def load(tree: Path, stack_file: str) -> dict[str, Any]:
    """The stack file ``stack_file`` of ``tree`` as a mapping."""
    document: dict[str, Any] = yaml.safe_load((tree / stack_file).read_text())
    return document


def save(tree: Path, stack_file: str, document: dict[str, Any]) -> None:
    """Write ``document`` back as ``tree``'s ``stack_file``."""
    (tree / stack_file).write_text(yaml.safe_dump(document, sort_keys=False))


def append_to_config(tree: Path, stack_file: str, document: dict[str, Any], key: str, text: str) -> None:
    """Append ``text`` to the file of config ``key`` and rename the config object after its new content."""
    declared = document["configs"][key]
    path = tree / declared["file"]
    path.write_text(path.read_text() + text)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    declared["name"] = f"{STACKS[stack_file]}_{key}_{digest}"


def change_stateful_configs(tree: Path, mark: str, clusters: tuple[str, ...] = STATEFUL) -> list[str]:
    """Change the configuration of every member of ``clusters`` (etcd, Patroni, Redis with its
    Sentinels, RabbitMQ, Vault) in ``tree``: a comment line naming ``mark`` in each config file; etcd,
    which has no config file, gets an environment variable. Returns the short names of the services changed."""
    changed: list[str] = []
    for stack_file in (INFRA, VAULT):
        document = load(tree, stack_file)
        done: set[str] = set()
        for name, service in document["services"].items():
            if name.split("-")[0] not in clusters or "exporter" in name:
                continue
            for ref in service.get("configs") or []:
                source = ref["source"] if isinstance(ref, dict) else ref
                if source not in done and not source.endswith("enabled_plugins"):
                    append_to_config(tree, stack_file, document, source, f"\n# deploy test: {mark}\n")
                    done.add(source)
            if not service.get("configs"):
                service.setdefault("environment", {})["IKLIM_DEPLOY_TEST"] = mark
            changed.append(name)
        save(tree, stack_file, document)
    return changed
