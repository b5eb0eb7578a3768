"""Render the whole production tree in memory: repo-relative path -> bytes (and mode)."""

from __future__ import annotations

from dataclasses import dataclass

from iklim.components import CONTRIBUTORS
from iklim.model.schema import Environment
from iklim.render import scripts, terraform
from iklim.render.stacks import STACK_FILES, stack_document


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    executable: bool = False


Tree = dict[str, RenderedFile]

#: Paths the seed retires. The renderer never writes them; `render` refuses to run beside them.
SUPERSEDED = ("docker-stack-infra.prod.yml", "docker-stack-db.prod.yml")


def render_tree(env: Environment) -> Tree:
    """Every file the model produces, keyed by its path relative to the repository root."""
    parts = [contribute(env) for contribute in CONTRIBUTORS]
    files: dict[str, str] = {}
    for part in parts:
        for path, text in part.files.items():
            if path in files:
                raise ValueError(f"two components render {path}")
            files[path] = text
    tree: Tree = {path: RenderedFile(text.encode()) for path, text in files.items()}
    for stack, path in STACK_FILES.items():
        tree[path] = RenderedFile(stack_document(env, stack, parts, files).encode())
    tree[terraform.NETWORK_PATH] = RenderedFile(terraform.network_tf(env).encode())
    tree[terraform.FIREWALL_PATH] = RenderedFile(terraform.firewall_tf(env).encode())
    for path, text in (
        (scripts.RUNBOOK_PATH, scripts.runbook(env, parts)),
        (scripts.VAULT_BOOTSTRAP_PATH, scripts.vault_bootstrap(env)),
        *((path, scripts.docker_user_rules(env, role)) for role, path in scripts.DOCKER_USER_PATHS.items()),
    ):
        tree[path] = RenderedFile(text.encode(), executable=True)
    return dict(sorted(tree.items()))
