"""Mutations of a copy of the rendered tree, to show that the probe (and ``iklim check``) sees a
broken boundary: issue 10's acceptance.

- :func:`drop_source`: remove one source from the ``source_ips`` of every rule of one port in
  one firewall (``drop_source(text, "db", 2379, "10.0.1.0/24")``: the app-subnet etcd rule);
- :func:`widen`: set the ``source_ips`` of that port's rules in that firewall to
  ``["0.0.0.0/0"]`` (a DB port opened to the world);
- :func:`copy_tree`: the files ``iklim check`` reads, copied to a folder (the rendered tree
  stays untouched).

- :func:`drop_docker_user`: the runbook without its DOCKER-USER step (for ``iklim check``; on the
  lab the same mutation unhooks the rules on the nodes, without redeploying the stacks).

Each edit works on the rendered text (one ``rule { ... }`` block at a time, found by its
``port``) and raises :class:`ValueError` when nothing matched, so a test never passes on a
mutation that did not happen.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: What ``iklim check`` reads in a tree (see ``iklim check --help``), relative to the root.
TREE = ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml", "config", "init-infra-prod.sh", "init",
        "terraform", "environments")  # fmt: skip

_RULE = re.compile(r"(?ms)^  rule \{\n.*?^  \}\n")


def _firewall_span(text: str, firewall: str) -> tuple[int, int]:
    start = text.find(f'resource "hcloud_firewall" "{firewall}" {{')
    if start < 0:
        raise ValueError(f"no hcloud_firewall {firewall!r}")
    end = text.find("\n}\n", start)
    return start, end if end > 0 else len(text)


def _edit(text: str, firewall: str, port: int, change: str, source: str = "") -> str:
    start, end = _firewall_span(text, firewall)
    body, hits = text[start:end], 0

    def one(match: re.Match[str]) -> str:
        nonlocal hits
        block = match.group(0)
        if not re.search(rf'^\s+port\s+= "{port}"$', block, re.M) or 'protocol    = "tcp"' not in block:
            return block
        line = re.search(r"^(\s+source_ips\s+= )\[(.*)\]$", block, re.M)
        if line is None:
            return block
        items = [s.strip() for s in line.group(2).split(",") if s.strip()]
        if change == "drop":
            if f'"{source}"' not in items:
                return block
            items.remove(f'"{source}"')
        else:
            items = ['"0.0.0.0/0"']
        hits += 1
        return block[: line.start()] + line.group(1) + "[" + ", ".join(items) + "]" + block[line.end() :]

    body = _RULE.sub(one, body)
    if not hits:
        raise ValueError(f"firewall {firewall!r}: no tcp rule for port {port}" + (f" from {source}" if source else ""))
    return text[:start] + body + text[end:]


def drop_source(text: str, firewall: str, port: int, source: str) -> str:
    """``text`` with ``source`` removed from the tcp ``port`` rules of ``firewall``."""
    return _edit(text, firewall, port, "drop", source)


def widen(text: str, firewall: str, port: int) -> str:
    """``text`` with the tcp ``port`` rules of ``firewall`` open to ``0.0.0.0/0``."""
    return _edit(text, firewall, port, "widen")


def drop_docker_user(runbook: str) -> str:
    """The runbook's text without the lines that feed ``init/hosts/*-docker-user.sh`` to the nodes."""
    kept = [
        line for line in runbook.splitlines(keepends=True) if not re.search(r"<\s*init/hosts/\w+-docker-user\.sh", line)
    ]
    if len(kept) == len(runbook.splitlines(keepends=True)):
        raise ValueError("the runbook runs no init/hosts/*-docker-user.sh")
    return "".join(kept)


def copy_tree(repo: Path, target: Path) -> Path:
    """Copy what ``iklim check`` reads from ``repo`` into ``target`` (created); returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in TREE:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, target / name)
    return target
