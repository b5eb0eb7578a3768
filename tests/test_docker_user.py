"""The DOCKER-USER host firewall scripts fail closed (issue 16, kind 8).

Each script runs against stub iptables tools (``tests/iptables_stub.py``) that fail at every call
position in turn, and once against the real ``iptables-restore`` inside a network namespace the
test creates. After every run the filter table of each family holds the previous rules, the new
rules, or a closed chain: never a private port open to a public source (IPv4) or to anyone (IPv6).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from iklim.render.tree import Tree

STUB = Path(__file__).with_name("iptables_stub.py")
TOOLS = ("iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "systemctl")
UTILITIES = ("bash", "cat", "chmod", "mkdir", "mktemp", "mv", "rm")
SCRIPTS = ("init/hosts/db-docker-user.sh", "init/hosts/app-docker-user.sh")
PUBLIC_SOURCE = "203.0.113.9"
PRIVATE_SOURCE = "10.0.1.50"
Tables = dict[str, list[str]]
State = dict[str, Tables]
EMPTY: Tables = {"INPUT": [], "FORWARD": [], "OUTPUT": []}


def ports_of(script: str) -> list[tuple[str, int]]:
    (word,) = re.findall(r"^readonly PORTS=(.*)$", script, re.M)
    (ports,) = shlex.split(word)
    return [(p.split("/")[0], int(p.split("/")[1])) for p in ports.split()]


def previous_version(script: str) -> str:
    """The same script as an older model rendered it: fewer ports, another overlay subnet."""
    script = re.sub(r"^readonly PORTS=.*$", "readonly PORTS='tcp/5432 tcp/8008'", script, flags=re.M)
    return re.sub(r"^readonly SOURCES=.*$", "readonly SOURCES='10.0.1.0/24 10.30.0.0/16'", script, flags=re.M)


#: The interface every evaluated packet arrives on: the network, not one of Docker's bridges.
NETWORK_INTERFACE = "eth0"


def _verdict(tables: Tables, chain: str, proto: str, source: str, port: int, depth: int = 0) -> str | None:
    """DROP/ACCEPT when ``chain`` decides the packet, None when it falls through or returns."""
    assert depth < 10, "jump loop"
    for rule in tables.get(chain, []):
        words = rule.split()
        opts = dict(zip(words[::2], words[1::2], strict=False))
        if "-p" in opts and opts["-p"] != proto:
            continue
        if "-s" in opts and ipaddress.ip_address(source) not in ipaddress.ip_network(opts["-s"]):
            continue
        if "--ctorigdstport" in opts and int(opts["--ctorigdstport"]) != port:
            continue
        if "-i" in opts and opts["-i"] != NETWORK_INTERFACE:  # e.g. a node's own Docker bridge
            continue
        target = opts["-j"]
        if target == "RETURN":
            return None
        if target in ("DROP", "REJECT", "ACCEPT"):
            return "ACCEPT" if target == "ACCEPT" else "DROP"
        decided = _verdict(tables, target, proto, source, port, depth + 1)
        if decided:
            return decided
    return None


def reachable(tables: Tables, family: str, proto: str, port: int, source: str) -> bool:
    """Whether a packet from ``source`` to a published ``port`` gets through: forwarded to a
    container (DOCKER-USER) or, over IPv6, delivered to docker-proxy on the host (INPUT)."""
    if "DOCKER-USER" not in tables:
        return True
    paths = ["DOCKER-USER", "INPUT"] if family == "6" else ["DOCKER-USER"]
    return any(_verdict(tables, chain, proto, source, port) != "DROP" for chain in paths)


def _dedup_input(tables: Tables) -> Tables:
    """``tables`` with a repeated INPUT jump counted once (harmless: the check before it failed)."""
    result = dict(tables)
    result["INPUT"] = list(dict.fromkeys(tables.get("INPUT", [])))
    return result


def assert_fail_closed(family: str, state: Tables, before: Tables, new: Tables, script: str, protected: bool) -> None:
    """The previous rules (when they protected the node), the new rules, or a closed chain."""
    if protected and state == before:
        return
    v6 = family == "6"
    for proto, port in ports_of(script):
        for source in ("2001:db8::9", "fd00::9") if v6 else (PUBLIC_SOURCE,):
            assert not reachable(state, family, proto, port, source), f"IPv{family} {port} open: {state}"
    if _dedup_input(state) == _dedup_input(new):
        return
    closed = all(not reachable(state, family, proto, port, PRIVATE_SOURCE) for proto, port in ports_of(script))
    assert closed, f"IPv{family}: neither the previous nor the new rules nor a closed chain: {state}"


@dataclass
class Node:
    """A simulated node: stub tools on PATH, their filter tables, and a root for persisted files."""

    tmp: Path

    def __post_init__(self) -> None:
        # PATH is this directory alone: the real iptables of the host can never be reached.
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nSTUB_TOOL={tool} exec {sys.executable} -S {STUB} "$@"\n')
            wrapper.chmod(0o755)
        for util in UTILITIES:
            found = shutil.which(util)
            assert found, util
            (self.bin / util).symlink_to(found)
        self.root = self.tmp / "root"
        self.state_file = self.tmp / "state.json"

    def set_state(self, state: State) -> None:
        self.state_file.write_text(json.dumps(state))

    def state(self) -> State:
        loaded: State = json.loads(self.state_file.read_text())
        return loaded

    def run(self, script: str, fail_at: str = "", fail_tool: str = "") -> subprocess.CompletedProcess[str]:
        counter = self.tmp / "counter"
        counter.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PATH": str(self.bin),
            "IKLIM_FIREWALL_ROOT": str(self.root),
            "STUB_STATE": str(self.state_file),
            "STUB_COUNTER": str(counter),
            "STUB_LOG": str(self.tmp / "calls.log"),
            "STUB_FAIL_AT": fail_at,
            "STUB_FAIL_TOOL": fail_tool,
        }
        shell = [str(self.bin / "bash"), "-s"]
        result = subprocess.run(shell, input=script, env=env, capture_output=True, text=True, timeout=60)
        self.calls = int(counter.read_text()) if counter.exists() else 0
        return result


def _fresh() -> State:
    return {"4": {k: list(v) for k, v in EMPTY.items()}, "6": {k: list(v) for k, v in EMPTY.items()}}


def _docker_started() -> State:
    """Docker running, DOCKER-USER as Docker creates it: no protection."""
    tables = {**EMPTY, "FORWARD": ["-j DOCKER-USER"], "DOCKER-USER": ["-j RETURN"]}
    return {"4": {k: list(v) for k, v in tables.items()}, "6": {k: list(v) for k, v in tables.items()}}


def _old_script_rules(script: str) -> State:
    """What the earlier, rule-by-rule script left: its chain jumped to first from Docker's DOCKER-USER."""
    chain = re.findall(r"^readonly CHAIN=(\S+)$", script, re.M)[0]
    rules = []
    for proto, port in ports_of(script):
        rules.append(f"-p {proto} -s 10.0.1.0/24 -m conntrack --ctorigdstport {port} --ctdir ORIGINAL -j RETURN")
        rules.append(f"-p {proto} -m conntrack --ctorigdstport {port} --ctdir ORIGINAL -j DROP")
    state = _docker_started()
    state["4"]["DOCKER-USER"] = [f"-j {chain}", "-j RETURN"]
    state["4"][chain] = [*rules, "-j RETURN"]
    return state


@pytest.mark.parametrize("path", SCRIPTS)
@pytest.mark.parametrize("start", ["fresh", "docker", "previous", "old-script"])
def test_a_failure_at_every_call_leaves_previous_or_closed_rules(
    prod_tree: Tree, tmp_path: Path, path: str, start: str
) -> None:
    script = prod_tree[path].content.decode()
    node = Node(tmp_path)
    if start == "previous":
        node.set_state(_fresh())
        assert node.run(previous_version(script)).returncode == 0
    else:
        node.set_state({"fresh": _fresh, "docker": _docker_started}.get(start, lambda: _old_script_rules(script))())
    before = node.state()
    protected = start in ("previous", "old-script")
    ok = node.run(script)
    assert ok.returncode == 0, ok.stderr
    new, total = node.state(), node.calls
    assert total >= 5
    for position in range(1, total + 1):
        node.set_state(before)
        result = node.run(script, fail_at=str(position))
        assert "Traceback" not in result.stderr
        after = node.state()
        for family in ("4", "6"):
            assert_fail_closed(family, after[family], before[family], new[family], script, protected)
        if result.returncode == 0:
            assert all(_dedup_input(after[f]) == _dedup_input(new[f]) for f in "46"), (position, result.stderr)
        else:
            assert "FAILED" in result.stderr, (position, result.stderr)


@pytest.mark.parametrize("position", ["7", "2", "12"])
def test_issue_reproducer_a_rerun_failing_at_the_seventh_call(prod_tree: Tree, tmp_path: Path, position: str) -> None:
    """The issue: a rerun over existing rules failing at the seventh rule left 5432, 8008 and
    27017 open to any source."""
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    node = Node(tmp_path)
    node.set_state(_old_script_rules(script))
    before = node.state()
    assert node.run(script).returncode == 0
    new = node.state()
    node.set_state(before)
    node.run(script, fail_at=position)
    after = node.state()
    for family in ("4", "6"):
        assert_fail_closed(family, after[family], before[family], new[family], script, protected=True)


@pytest.mark.parametrize("tool", ["iptables-restore", "ip6tables-restore", "systemctl"])
def test_a_tool_that_always_fails_stops_the_run(prod_tree: Tree, tmp_path: Path, tool: str) -> None:
    """Nothing can be changed: exit non-zero (the runbook stops before any stack is deployed),
    and whatever was installed is the previous or a closed ruleset."""
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    node = Node(tmp_path)
    node.set_state(_docker_started())
    result = node.run(script, fail_tool=tool)
    assert result.returncode == 1 and "FAILED" in result.stderr
    family = "6" if tool.startswith("ip6") else "4"
    if tool != "systemctl":
        assert node.state()[family] == _docker_started()[family]


def test_first_restore_and_its_fallback_fail_then_rerun_converges(prod_tree: Tree, tmp_path: Path) -> None:
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    node = Node(tmp_path)
    node.set_state(_fresh())
    assert node.run(script, fail_at="1 3").returncode == 1
    assert node.run(script).returncode == 0
    state = node.state()
    assert not any(reachable(state["4"], "4", p, n, PUBLIC_SOURCE) for p, n in ports_of(script))
    assert all(reachable(state["4"], "4", p, n, PRIVATE_SOURCE) for p, n in ports_of(script))
    assert not any(reachable(state["6"], "6", p, n, "2001:db8::1") for p, n in ports_of(script))


@pytest.mark.parametrize("path", SCRIPTS)
def test_rules_are_applied_again_at_boot_before_docker(prod_tree: Tree, tmp_path: Path, path: str) -> None:
    script = prod_tree[path].content.decode()
    node = Node(tmp_path)
    node.set_state(_fresh())
    assert node.run(script).returncode == 0
    live = node.state()
    unit = (node.root / "etc/systemd/system/iklim-docker-user.service").read_text()
    assert "Before=docker.service" in unit and "RequiredBy=docker.service" in unit
    assert "ExecStart=/usr/local/sbin/iklim-docker-user" in unit
    assert "systemctl enable --quiet iklim-docker-user.service" in (tmp_path / "calls.log").read_text()
    applier = (node.root / "usr/local/sbin/iklim-docker-user").read_text()
    assert os.access(node.root / "usr/local/sbin/iklim-docker-user", os.X_OK)
    node.set_state(_fresh())  # a reboot: empty tables
    assert node.run(applier).returncode == 0
    assert node.state() == live
    node.set_state(_fresh())  # a reboot where iptables fails: the unit fails, so Docker does not start
    assert node.run(applier, fail_tool="iptables-restore").returncode != 0


def test_ipv6_drops_private_ports_from_every_source(prod_tree: Tree, tmp_path: Path) -> None:
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    node = Node(tmp_path)
    node.set_state(_docker_started())
    assert node.run(script).returncode == 0
    v6 = node.state()["6"]
    for proto, port in ports_of(script):
        for source in ("2001:db8::1", "fd00::1", "::1"):
            assert not reachable(v6, "6", proto, port, source)
    assert reachable(v6, "6", "tcp", 443, "2001:db8::1")  # ports that are not private stay as they were


# --- the real iptables-restore, in a network namespace of the test's own -----------------------

WRAPPER = """#!/bin/sh
n=$(( $(cat "$STUB_COUNTER" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$STUB_COUNTER"
for f in $STUB_FAIL_AT; do [ "$f" = "$n" ] && { echo "injected failure at call $n" >&2; exit 1; }; done
{real}
"""

DRIVER = """
export PATH="$WRAPPERS:$PATH" IKLIM_FIREWALL_ROOT STUB_COUNTER
if [ -n "$PREVIOUS" ]; then STUB_FAIL_AT='' bash -s < "$PREVIOUS" 2>/dev/null; fi
rm -f "$STUB_COUNTER"
rc=0
if [ -n "$SCRIPT" ]; then STUB_FAIL_AT="$FAIL_AT" bash -s < "$SCRIPT" 2>/dev/null || rc=$?; fi
echo "rc=$rc calls=$(cat "$STUB_COUNTER" 2>/dev/null || echo 0)"
echo "== 4"; /usr/sbin/iptables -S; echo "== 6"; /usr/sbin/ip6tables -S
"""


def _parse_dump(text: str) -> tuple[int, int, State]:
    head, rest = text.split("\n", 1)
    rc, calls = (int(x.split("=")[1]) for x in head.split())
    state: State = {}
    family = ""
    for line in rest.splitlines():
        if line.startswith("== "):
            family = line[3:]
            state[family] = {}
        elif line.startswith(("-P ", "-N ")):
            state[family].setdefault(line.split()[1], [])
        elif line.startswith("-A "):
            chain, rule = line[3:].split(" ", 1)
            state[family][chain].append(rule)
    return rc, calls, state


def _netns_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("iptables-restore") or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-n", "iptables", "-S"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _netns_available(), reason="needs root, unshare and iptables (scripts/install-deps.sh)")
@pytest.mark.parametrize("previous", [False, True])
def test_real_iptables_in_a_network_namespace(prod_tree: Tree, tmp_path: Path, previous: bool) -> None:
    """Each run is a fresh `unshare -n` namespace (gone when its process exits): the real tools
    apply the scripts, wrappers fail the Nth call, `iptables -S` records the result."""
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    for tool in TOOLS:
        real = "exit 0" if tool == "systemctl" else f'exec {shutil.which(tool)} "$@"'
        (wrappers / tool).write_text(WRAPPER.replace("{real}", real))
        (wrappers / tool).chmod(0o755)
    (tmp_path / "new.sh").write_text(script)
    (tmp_path / "previous.sh").write_text(previous_version(script))
    driver = tmp_path / "driver.sh"
    driver.write_text(DRIVER)

    def run(fail_at: str, with_previous: bool, with_script: bool = True) -> tuple[int, int, State]:
        env = {
            **os.environ,
            "WRAPPERS": str(wrappers),
            "IKLIM_FIREWALL_ROOT": str(tmp_path / "root"),
            "STUB_COUNTER": str(tmp_path / "counter"),
            "PREVIOUS": str(tmp_path / "previous.sh") if with_previous else "",
            "SCRIPT": str(tmp_path / "new.sh") if with_script else "",
            "FAIL_AT": fail_at,
        }
        argv = ["unshare", "-n", "bash", str(driver)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return _parse_dump(out.stdout)

    _, _, before = run("", previous, with_script=False)
    assert ("DOCKER-USER" in before["4"]) is previous
    rc, total, new = run("", previous)
    assert rc == 0 and total >= 5
    assert not reachable(new["4"], "4", "tcp", 5432, PUBLIC_SOURCE)
    assert reachable(new["4"], "4", "tcp", 5432, PRIVATE_SOURCE)
    assert not reachable(new["6"], "6", "tcp", 5432, "2001:db8::9")
    for position in range(1, total + 1):
        rc, _, after = run(str(position), previous)
        for family in ("4", "6"):
            assert_fail_closed(family, after[family], before[family], new[family], script, previous)
