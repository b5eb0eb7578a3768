"""The ``isolate`` fault on one host: cut a member off from its peers and clients with iptables.

Generic by member: a member is its processes (pids) and its listening addresses; the vault
seam, or any other, uses it with its own. On the loopback lab every member listens on its own
address (DB nodes 127.0.1.N, service nodes 127.0.2.N, Vault 127.0.3.N) but several members share
a node's address and most engines dial their peers from 127.0.0.1, so the cut is made of:

- one pair of rules per local TCP endpoint of the member's sockets at the time of the cut
  (listeners, accepted and dialled connections; read from ``/proc/<pid>/fd`` and
  ``/proc/net/tcp``): every packet to or from that endpoint is dropped on ``INPUT`` (lost in
  transit: the peers time out, nothing is refused);
- the member's processes moved into a cgroup v2 group of their own and one ``OUTPUT`` rule
  (``-m cgroup --path``) dropping every packet of a socket they open later (a new dial);
- with ``keep_clients``: ``ACCEPT`` rules first for the clients' connections already open to the
  member (the caller's own process): the partition in which the clients sit with the old leader,
  the unsafe configurations' loss scenario.

Every rule carries ``-m comment --comment <tag>`` (``iklim-drill:<id>``); :func:`plan` builds the
rules (journalled by the caller before :func:`apply` loads them, atomically, with
``iptables-restore --noflush``); :func:`heal` deletes the rules carrying the tag (read back from
``iptables-save``, so a rule is never deleted by position) and moves the processes back; both are
idempotent. :func:`sweep` removes every rule and group with the ``iklim-drill`` prefix, for a heal
whose journal is gone. Sources: iptables-extensions(8) ``comment``, ``cgroup``;
proc(5) ``/proc/net/tcp``; Documentation/admin-guide/cgroup-v2.rst (``cgroup.procs``).

Errors: :class:`IsolateError` (one line) when iptables refuses a rule or a group cannot be made.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "iklim-drill"
#: TCP states of /proc/net/tcp worth a rule (all but TIME_WAIT 06 and CLOSE 07: no process owns those).
_LIVE_STATES = {"01", "02", "03", "04", "05", "08", "09", "0A", "0B"}
Endpoint = tuple[str, int]


class IsolateError(Exception):
    """The cut could not be made or undone; one line naming the step."""


@dataclass(frozen=True)
class Plan:
    """Everything needed to apply and to heal one cut (the ``undo`` of a journal entry).

    ``tag``: the rules' comment; ``rules``: iptables-restore lines (without the table header);
    ``pids``: the member's processes to move into ``cgroup`` (a directory under the cgroup v2
    root ``cgroup_root``, or "" when the host has none: new dials then stay uncut); ``home``: the
    group they came from (relative to ``cgroup_root``).
    """

    tag: str
    rules: tuple[str, ...]
    pids: tuple[int, ...] = ()
    cgroup: str = ""
    cgroup_root: str = ""
    home: str = "/"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "rules": list(self.rules),
            "pids": list(self.pids),
            "cgroup": self.cgroup,
            "cgroup_root": self.cgroup_root,
            "home": self.home,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            str(data["tag"]),
            tuple(str(r) for r in data.get("rules", [])),
            tuple(int(p) for p in data.get("pids", [])),
            str(data.get("cgroup", "")),
            str(data.get("cgroup_root", "")),
            str(data.get("home", "/")),
        )


def _endpoint(hex_addr: str) -> Endpoint:
    """``0100007F:0959`` -> ("127.0.0.1", 2393); an IPv4-mapped IPv6 address maps to its IPv4, the
    IPv6 wildcard to "::", any other IPv6 address to "" (skipped)."""
    addr, port = hex_addr.split(":")
    if len(addr) == 32:  # tcp6: four host-order words; ::ffff:a.b.c.d keeps a.b.c.d in the last
        if addr == "0" * 32:
            return ("::", int(port, 16))  # the dual-stack wildcard: IPv4 reaches it too
        if addr[:24] != "0000000000000000FFFF0000":
            return ("", int(port, 16))  # IPv6 proper: no IPv4 rule can cut it (the lab has none)
        addr = addr[24:]
    raw = bytes.fromhex(addr)[::-1]
    return (".".join(str(b) for b in raw), int(port, 16))


def tcp_sockets(proc: Path = Path("/proc")) -> dict[int, tuple[Endpoint, Endpoint]]:
    """Socket inode -> (local, remote) endpoint for every live TCP socket of this namespace."""
    table: dict[int, tuple[Endpoint, Endpoint]] = {}
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / "net" / name).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] in _LIVE_STATES and fields[9] != "0":
                    local, remote = _endpoint(fields[1]), _endpoint(fields[2])
                    if local[0]:
                        table[int(fields[9])] = (local, remote)
    return table


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    """The socket inodes ``pid`` holds open (none when it is gone)."""
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in (proc / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def group_members(pgids: Iterable[int], proc: Path = Path("/proc")) -> list[int]:
    """Every process whose process group is one of ``pgids`` (a member and all it forked)."""
    wanted, found = set(pgids), []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) in wanted:
                    found.append(int(entry.name))
    return sorted(found)


def _rule(chain: str, match: str, tag: str, verdict: str) -> str:
    return f"-A {chain} {match} -m comment --comment {tag} -j {verdict}"


def _side(flag: str, endpoint: Endpoint) -> str:
    """``-s ADDR --sport P`` (flag "s") / ``-d ADDR --dport P``; no address for a wildcard listener."""
    addr, port = endpoint
    where = "" if addr in ("0.0.0.0", "::") else f"-{flag} {addr}/32 "
    return f"-p tcp {where}-m tcp --{flag}port {port}"


def build_rules(
    tag: str, endpoints: Iterable[Endpoint], cgroup: str = "", clients: Iterable[tuple[Endpoint, Endpoint]] = ()
) -> tuple[str, ...]:
    """The iptables-restore lines of one cut, in order: client exemptions, endpoint drops, the
    cgroup drop. ``clients`` are (client's local, member's) endpoint pairs kept open."""
    rules: list[str] = []
    for (ca, cp), (ma, mp) in sorted(set(clients)):
        rules.append(_rule("INPUT", f"-s {ca}/32 -d {ma}/32 -p tcp -m tcp --sport {cp} --dport {mp}", tag, "ACCEPT"))
        rules.append(_rule("INPUT", f"-s {ma}/32 -d {ca}/32 -p tcp -m tcp --sport {mp} --dport {cp}", tag, "ACCEPT"))
    for endpoint in sorted(set(endpoints)):
        rules.append(_rule("INPUT", _side("s", endpoint), tag, "DROP"))
        rules.append(_rule("INPUT", _side("d", endpoint), tag, "DROP"))
    if cgroup:
        rules.append(_rule("OUTPUT", f"-m cgroup --path {cgroup}", tag, "DROP"))
    return tuple(rules)


def cgroup2_root(mounts: Path = Path("/proc/self/mounts")) -> str:
    """Where the cgroup v2 hierarchy is mounted ("" when the host has none)."""
    with contextlib.suppress(OSError):
        for line in mounts.read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return fields[1]
    return ""


def _home(pid: int) -> str:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:] or "/"
    return "/"


def plan(
    tag: str, pgids: Sequence[int], listen: Iterable[Endpoint] = (), keep_clients: bool = False, client_pid: int = 0
) -> Plan:
    """The cut of the member whose processes lead ``pgids`` (plus ``listen``: its model endpoints,
    cut even while nothing listens there). ``keep_clients``: the connections ``client_pid``
    (default: this process) has open to the member stay up."""
    pids = group_members(pgids)
    sockets = tcp_sockets()
    endpoints = set(listen)
    for pid in pids:
        endpoints.update(sockets[i][0] for i in socket_inodes(pid) if i in sockets)
    clients: list[tuple[Endpoint, Endpoint]] = []
    if keep_clients:
        for inode in socket_inodes(client_pid or os.getpid()):
            if inode in sockets and sockets[inode][1] in endpoints:
                clients.append(sockets[inode])
    root = cgroup2_root()
    group = f"{tag.replace(':', '-')}" if root else ""
    rules = build_rules(tag, endpoints, group, clients)
    return Plan(tag, rules, tuple(pids), group, root, _home(pids[0]) if pids else "/")


def _iptables(args: Sequence[str], stdin: str = "") -> str:
    try:
        proc = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IsolateError(f"{args[0]}: {exc}") from None
    if proc.returncode != 0:
        raise IsolateError(f"{' '.join(args)}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return proc.stdout


def _restore(lines: Sequence[str]) -> None:
    if lines:
        _iptables(["iptables-restore", "--noflush"], "*filter\n" + "\n".join(lines) + "\nCOMMIT\n")


def apply(cut: Plan) -> None:
    """Move the processes into the cut's group, then load every rule in one transaction."""
    if cut.cgroup:
        group = Path(cut.cgroup_root) / cut.cgroup
        try:
            group.mkdir(exist_ok=True)
        except OSError as exc:
            raise IsolateError(f"cannot make the cgroup {group}: {exc.strerror}") from None
        for pid in cut.pids:
            with contextlib.suppress(ProcessLookupError, OSError):  # exited meanwhile
                (group / "cgroup.procs").write_text(str(pid))
    # -A lines become inserts at the top of the chain, in order: they precede anything there.
    position: dict[str, int] = {}
    inserts = []
    for line in cut.rules:
        chain = line.split()[1]
        position[chain] = position.get(chain, 0) + 1
        inserts.append(line.replace(f"-A {chain} ", f"-I {chain} {position[chain]} ", 1))
    _restore(inserts)


def comment_of(line: str) -> str:
    """The ``--comment`` of an iptables-save line ("" when none; iptables-save may quote it)."""
    with contextlib.suppress(ValueError):
        words = shlex.split(line)
        if "--comment" in words[:-1]:
            return words[words.index("--comment") + 1]
    return ""


def tagged_rules(prefix: str, exact: bool = False) -> list[str]:
    """The filter table's rules (``-A ...`` lines) whose comment starts with ``prefix`` (or,
    ``exact``, is ``prefix``)."""
    lines = _iptables(["iptables-save", "-t", "filter"]).splitlines()
    found = []
    for line in lines:
        comment = comment_of(line) if line.startswith("-A ") else ""
        if comment and (comment == prefix if exact else comment.startswith(prefix)):
            found.append(line)
    return found


def _release(root: str, group: str, home: str) -> None:
    """Move every process of ``root/group`` back to ``home`` and remove the group (idempotent)."""
    path = Path(root) / group
    if not root or not group or not path.is_dir():
        return
    target = Path(root) / home.lstrip("/") / "cgroup.procs"
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                target.write_text(pid)
    with contextlib.suppress(OSError):
        path.rmdir()


def heal(cut: Plan) -> int:
    """Delete the rules tagged ``cut.tag`` (exactly, read back) and release the group; returns
    how many rules were deleted (0 when already healed)."""
    rules = tagged_rules(cut.tag, exact=True)
    _restore([r.replace("-A ", "-D ", 1) for r in rules])
    _release(cut.cgroup_root, cut.cgroup, cut.home)
    return len(rules)


def sweep() -> int:
    """Delete every rule whose comment starts with ``iklim-drill`` and release every
    ``iklim-drill-*`` group (a heal without a journal); returns how many rules were deleted."""
    rules = tagged_rules(PREFIX)
    _restore([r.replace("-A ", "-D ", 1) for r in rules])
    root = cgroup2_root()
    if root:
        for group in Path(root).glob(f"{PREFIX}-*"):
            _release(root, group.name, "/")
    return len(rules)
