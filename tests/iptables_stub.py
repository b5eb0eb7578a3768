#!/usr/bin/env python3
"""A stand-in for iptables, ip6tables, iptables-restore, ip6tables-restore and systemctl.

Installed under those names (wrappers setting ``$STUB_TOOL``) in the only directory on PATH. The filter table of
each family lives in the JSON file ``$STUB_STATE`` as ``{"4": {chain: [rule, ...]}, "6": ...}``.
Every call is counted in ``$STUB_COUNTER``; the calls numbered in ``$STUB_FAIL_AT`` (spaces
between) and every call of the tool ``$STUB_FAIL_TOOL`` fail (exit 1) without changing anything.
``*-restore`` is atomic like the real tool: all of its input is applied, or nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

Tables = dict[str, list[str]]
BUILTIN = ("INPUT", "FORWARD", "OUTPUT")
TARGETS = ("ACCEPT", "DROP", "RETURN", "REJECT")


class Refused(Exception):
    """The command is invalid for the current state (the real tool exits 1 or 2)."""


def _rule(chain: str, words: list[str], tables: Tables) -> str:
    if chain not in tables:
        raise Refused(f"no chain {chain}")
    if "-j" in words:
        target = words[words.index("-j") + 1]
        if target not in TARGETS and target not in tables:
            raise Refused(f"no chain/target {target}")
    return " ".join(words)


def command(tables: Tables, args: list[str], out: list[str]) -> int:
    """One iptables command against ``tables``, in place; its exit code (``out`` gets -S lines)."""
    op, chain, rest = args[0], args[1] if len(args) > 1 else "", args[2:]
    if op == "-N":
        if chain in tables:
            raise Refused("chain exists")
        tables[chain] = []
    elif op == "-F":
        if chain not in tables:
            raise Refused("no chain")
        tables[chain] = []
    elif op == "-X":
        if chain in BUILTIN or tables.get(chain):
            raise Refused("cannot delete")
        tables.pop(chain, None)
    elif op == "-A":
        tables[chain].append(_rule(chain, rest, tables))
    elif op == "-I":
        index = int(rest.pop(0)) - 1 if rest and rest[0].isdigit() else 0
        tables[chain].insert(index, _rule(chain, rest, tables))
    elif op in ("-C", "-D"):
        rule = _rule(chain, rest, tables)
        if rule not in tables[chain]:
            return 1
        if op == "-D":
            tables[chain].remove(rule)
    elif op == "-S":
        out.extend(f"-N {c}" for c in tables if c not in BUILTIN)
        out.extend(f"-A {c} {r}" for c in tables for r in tables[c])
    else:
        raise Refused(f"unsupported {op}")
    return 0


def restore(tables: Tables, text: str, noflush: bool) -> Tables:
    """The tables after ``iptables-restore`` of ``text`` (filter table only); raises on any error."""
    work = {c: list(r) for c, r in tables.items()}
    if not noflush:
        work = {c: [] for c in BUILTIN}
    committed = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "*filter":
            continue
        if line == "COMMIT":
            committed = True
            continue
        if line.startswith(":"):
            work[line[1:].split()[0]] = []
            continue
        words = line.split()
        command(work, words, [])
    if not committed:
        raise Refused("no COMMIT")
    return work


def main() -> int:
    tool = os.environ["STUB_TOOL"]
    args = sys.argv[1:]
    counter = Path(os.environ["STUB_COUNTER"])
    number = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(number))
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(f"{number} {tool} {' '.join(args)}\n")
    failing = os.environ.get("STUB_FAIL_AT", "").split()
    if str(number) in failing or tool == os.environ.get("STUB_FAIL_TOOL"):
        print(f"{tool}: injected failure at call {number}", file=sys.stderr)
        return 1
    if tool == "systemctl":
        return 0
    state_path = Path(os.environ["STUB_STATE"])
    state: dict[str, Tables] = json.loads(state_path.read_text())
    family = "6" if tool.startswith("ip6") else "4"
    out: list[str] = []
    try:
        if tool.endswith("-restore"):
            state[family] = restore(state[family], sys.stdin.read(), "--noflush" in args)
            code = 0
        else:
            code = command(state[family], args, out)
    except (Refused, IndexError, KeyError, ValueError) as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return 2
    if out:
        print("\n".join(out))
    tmp = state_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(state_path)
    return code


if __name__ == "__main__":
    sys.exit(main())
