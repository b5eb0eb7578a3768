"""``isolate`` on the Swarm lab: cut one task container off from its peers and its clients by
iptables rules inside **its own** network namespace, each carrying a unique comment.

Two rules, inserted first: ``INPUT ! -i lo -j DROP`` and ``OUTPUT ! -o lo -j DROP``. Everything
the member sends or receives over the overlay, and what reaches it through a host-mode published
port (Docker DNATs it to the container's gateway-bridge address, so it passes the container's
INPUT chain), is dropped, established connections included; loopback stays, so the stack's own
healthcheck (``127.0.0.1``) keeps passing and Swarm does not replace the task: the member is
partitioned, not dead. Nothing outside that namespace changes: the host's and the node's
iptables are untouched, and the rules vanish with the container.

The heal deletes the rules by their comment (idempotent: a rule already gone, or a container gone
with its namespace, is nothing to do). Runs ``nsenter --net=/proc/<pid>/ns/net iptables -w``;
raises :class:`IsolateError` (one line) when a rule cannot be inserted.
Source: iptables(8), iptables-extensions(8) ``comment``; nsenter(1).
"""

from __future__ import annotations

import subprocess

#: Every isolate rule's comment starts so (``iklim-drill-isolate-<fault>``).
COMMENT_PREFIX = "iklim-drill-isolate-"


class IsolateError(Exception):
    """An isolate rule could not be inserted; one line."""


def rules(comment: str) -> list[list[str]]:
    """The rule specifications (chain first) that isolate a namespace, tagged ``comment``."""
    tag = ["-m", "comment", "--comment", comment, "-j", "DROP"]
    return [["INPUT", "!", "-i", "lo", *tag], ["OUTPUT", "!", "-o", "lo", *tag]]


def _iptables(pid: int, args: list[str]) -> subprocess.CompletedProcess[str]:
    argv = ["nsenter", f"--net=/proc/{pid}/ns/net", "--", "iptables", "-w", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def isolate(pid: int, comment: str) -> None:
    """Insert the rules into the network namespace of ``pid``; on failure, remove what was inserted."""
    for rule in rules(comment):
        proc = _iptables(pid, ["-I", rule[0], "1", *rule[1:]])
        if proc.returncode != 0:
            unisolate(pid, comment)
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise IsolateError(f"iptables in the namespace of pid {pid}: {detail[-1] if detail else 'failed'}")


def unisolate(pid: int, comment: str) -> int:
    """Delete every copy of the rules tagged ``comment`` in ``pid``'s namespace; returns how many."""
    removed = 0
    for rule in rules(comment):
        for _ in range(16):  # a rule inserted twice (a retried fault) is deleted twice
            if _iptables(pid, ["-D", *rule]).returncode != 0:
                break
            removed += 1
    return removed


def listed(pid: int) -> list[str]:
    """The rules (``iptables -S``) of ``pid``'s namespace that carry :data:`COMMENT_PREFIX`."""
    proc = _iptables(pid, ["-S"])
    return [line for line in proc.stdout.splitlines() if COMMENT_PREFIX in line]
