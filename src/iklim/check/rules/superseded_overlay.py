"""The base+prod overlay, the separate DB stack and Vault's host path are superseded.

Production deploys the root ``docker-stack-infra_db-prod.yml`` and ``docker-stack-vault.yml``.
Reported: a ``docker-stack-infra.prod.yml`` or ``docker-stack-db.prod.yml`` anywhere in the
tree, a script line that deploys or validates the overlay (``docker stack deploy|config -c
docker-stack-infra.yml -c docker-stack-infra.prod.yml``), and any use of the old Vault host
path ``/opt/iklimco/vault/data`` (Vault keeps Raft data on a volume in its own stack).

Failing example (init-infra-prod.sh)::

    docker stack deploy -c docker-stack-infra.yml -c docker-stack-infra.prod.yml iklimco

Passing example (init-infra-prod.sh)::

    docker stack deploy -c docker-stack-infra_db-prod.yml iklimco
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import Pos, YList, YMap

OPTIONS = {
    "files": ("docker-stack-infra.prod.yml", "docker-stack-db.prod.yml"),
    "vault_path": "/opt/iklimco/vault/data",
}
_DOCKER = re.compile(r"docker[-\s]+(?:stack\s+(?:deploy|config)|compose)\b")
_INFRA = re.compile(r"docker-stack-infra\.ya?ml\b")
_OPTIONS = ("-c", "--compose-file", "-f")


def _overlays(line: str) -> bool:
    """A docker stack/compose command given the infra stack file and then another compose file.

    Token by token, so the time stays linear in the line's length (no backtracking regex).
    """
    command = _DOCKER.search(line)
    if command is None:
        return False
    words = re.split(r"[\s=]+", line[command.end() :])
    infra = False
    for i, word in enumerate(words[:-1]):
        if not word.endswith(_OPTIONS):
            continue
        if infra:
            return True
        infra = _INFRA.search(words[i + 1]) is not None
    return False


def _strip_comment(line: str) -> str:
    return "" if line.lstrip().startswith(("#", "//")) else re.split(r"\s#", line, maxsplit=1)[0]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines (backslash continuations joined) with their first line number."""
    start, parts = 0, list[str]()
    for number, line in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        body = _strip_comment(line)
        if body.rstrip().endswith("\\"):
            parts.append(body.rstrip()[:-1])
            continue
        parts.append(body)
        yield start, " ".join(parts)
        parts = []
    if parts:
        yield start, " ".join(parts)


def _scalars(value: Any, pos: Pos, seen: set[int]) -> Iterator[tuple[str, Pos]]:
    if isinstance(value, str):
        yield value, pos
    elif isinstance(value, YMap | YList) and id(value) not in seen:
        seen.add(id(value))
        items = value.items() if isinstance(value, YMap) else enumerate(value)
        for key, item in items:
            yield from _scalars(item, value.at(key), seen)  # type: ignore[arg-type]


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    options = RULE.settings(policy)
    vault_path = str(options["vault_path"])
    for path in docs.superseded:
        yield RULE.at(path, (1, 1), "delete this superseded overlay: production uses the root stack files")
    for path, text in docs.scripts + docs.confs + docs.others:
        for number, line in _lines(text):
            if any(name in line for name in options["files"]) or _overlays(line):
                yield RULE.at(
                    path,
                    (number, 1),
                    "deploy or validate docker-stack-infra_db-prod.yml alone, not the superseded base+prod overlay",
                )
            elif vault_path in line:
                yield RULE.at(
                    path,
                    (number, line.index(vault_path) + 1),
                    f"remove {vault_path}: Vault keeps Raft data on its own stack's volume",
                )
    documents: list[tuple[str, Any]] = [(s.path, s.data) for s in docs.stacks] + docs.configs
    for path, data in documents:
        for value, pos in _scalars(data, (1, 1), set()):
            if vault_path in value:
                yield RULE.at(path, pos, f"remove {vault_path}: Vault keeps Raft data on its own stack's volume")
    for path, blocks in docs.terraform:
        text = docs.texts.get(path, "")
        for number, line in _lines(text):
            if vault_path in line:
                yield RULE.at(
                    path,
                    (number, line.index(vault_path) + 1),
                    f"remove {vault_path}: Vault keeps Raft data on its own stack's volume",
                )
        del blocks


RULE = Rule("superseded-overlay", Severity.ERROR, __doc__ or "", check, OPTIONS)
