"""Issue 10 without the lab: the rendered firewall read as iptables rules, the expected matrix
derived from the model, and the mutations (with ``iklim check`` flagging them statically)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from iklim.model.loader import load_environment
from iklim.swarmlab import hcloud_fw, mutations, netmatrix, public
from iklim.swarmlab.netmatrix import Source, expected
from iklim.swarmlab.nodes import lab_nodes

REPO = Path(__file__).resolve().parents[1]
ENV = load_environment(REPO / "environments" / "prod.yaml")
NODES = lab_nodes(ENV)
LABELS = {n.hostname: dict(n.labels) for n in NODES}
FIREWALL = REPO / public.FIREWALL_TF
PUBLIC = {n.hostname: str(public.public_address(n)) for n in NODES}
TARGETS = {t.label: t for t in netmatrix.targets(ENV, PUBLIC)}

INTERNET = Source("internet", "203.0.113.200", None)
OPERATOR = Source("operator", str(public.operator_address(ENV)), None)
PRIVATE_OTHER = Source("private-other", None, str(public.private_other_address(ENV).ip))
APP1 = Source("iklim-app-01", PUBLIC["iklim-app-01"], "10.0.1.11", "iklim-app-01")
DB2 = Source("iklim-db-02", PUBLIC["iklim-db-02"], "10.0.2.12", "iklim-db-02")
OVERLAY = Source("overlay", PUBLIC["iklim-app-03"], "10.0.1.13", "iklim-app-03", overlay=True)
OTHER = Source("other-overlay", PUBLIC["iklim-app-03"], "10.0.1.13", "iklim-app-03")


def _port(number: int) -> netmatrix.Port:
    return next(p for p in netmatrix.node_ports(ENV) if p.number == number)


def _want(source: Source, target: str, number: int) -> bool:
    t = TARGETS[target]
    return expected(ENV, source, t, next(p for p in t.ports if p.number == number))


def test_firewalls_apply_to_their_role_nodes_with_every_rule() -> None:
    fws = {fw.name: fw for fw in hcloud_fw.read_firewalls(FIREWALL, LABELS)}
    assert fws["db"].servers == {"iklim-db-01", "iklim-db-02", "iklim-db-03"}
    assert fws["app"].servers == {"iklim-app-01", "iklim-app-02", "iklim-app-03"}
    text = FIREWALL.read_text()
    assert sum(len(fw.rules) for fw in fws.values()) == text.count("  rule {")
    etcd = [r for r in fws["db"].rules if r.ports == (2379, 2379)]
    assert [r.sources for r in etcd] == [("10.0.1.0/24", "10.0.2.0/24")]
    https = next(r for r in fws["app"].rules if r.ports == (443, 443))
    assert https.sources == ("0.0.0.0/0",)  # ::/0 left out: the lab is IPv4


def test_rules_decide_like_hetzner() -> None:
    rules = hcloud_fw.rules_for("iklim-db-01", hcloud_fw.read_firewalls(FIREWALL, LABELS))
    assert rules is not None

    def allowed(source: str, port: int, protocol: str = "tcp") -> bool:
        return any(r.allows(source, protocol, port) for r in rules)

    assert allowed("10.0.1.5", 2379) and allowed("10.0.2.5", 2379)
    assert not allowed("10.0.1.5", 2380) and allowed("10.0.2.5", 2380)  # etcd peer: DB subnet only
    assert allowed(str(public.operator_address(ENV)), 22) and not allowed("203.0.113.200", 22)
    assert not allowed("203.0.113.200", 5432) and not allowed("203.0.113.12", 5432)
    assert allowed("10.0.2.5", 7946, "udp") and not allowed("10.0.2.5", 7946, "sctp")
    assert hcloud_fw.rules_for("not-a-node", []) is None


def test_label_selector_and_unreadable_firewalls(tmp_path: Path) -> None:
    tf = tmp_path / "fw.tf"
    tf.write_text(
        'resource "hcloud_firewall" "x" {\n  apply_to {\n    label_selector = "type=db"\n  }\n'
        '  rule {\n    direction = "in"\n    protocol = "tcp"\n    port = "100-200"\n'
        '    source_ips = ["192.0.2.0/24"]\n  }\n}\n'
    )
    (fw,) = hcloud_fw.read_firewalls(tf, LABELS)
    assert fw.servers == {"iklim-db-01", "iklim-db-02", "iklim-db-03"}
    assert fw.rules[0].ports == (100, 200)
    assert "--dport 100:200" in hcloud_fw.restore_payload(list(fw.rules))
    tf.write_text('resource "hcloud_firewall" "x" {\n  rule {\n    port = var.nope\n  }\n}\n')
    with pytest.raises(hcloud_fw.FirewallError, match=r"fw.tf:\d+"):
        hcloud_fw.read_firewalls(tf, LABELS)
    tf.write_text('resource "hcloud_firewall" "x" {\n')
    with pytest.raises(hcloud_fw.FirewallError, match=r"fw.tf:1"):
        hcloud_fw.read_firewalls(tf, LABELS)


@pytest.mark.skipif(shutil.which("iptables-restore") is None or shutil.which("unshare") is None, reason="no iptables")
def test_payload_is_accepted_by_iptables_in_a_private_namespace() -> None:
    """The real iptables-restore takes the payload (in a throw-away network namespace)."""
    rules = hcloud_fw.rules_for("iklim-app-01", hcloud_fw.read_firewalls(FIREWALL, LABELS))
    assert rules is not None
    payload = hcloud_fw.restore_payload(rules)
    script = "iptables-restore --noflush && iptables -t mangle -S " + hcloud_fw.CHAIN
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], input=payload, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.splitlines()
    assert len([line for line in listed if line.startswith("-A ")]) == payload.count("\n-A ")
    assert listed[-1].endswith("-j DROP")
    assert any("--dport 443" in line and "0.0.0.0/0" not in line for line in listed)  # iptables omits 0/0


def test_expected_matrix_follows_the_policy() -> None:
    assert _want(INTERNET, "iklim-app-01 public", 443) and _want(OPERATOR, "iklim-app-01 public", 80)
    assert not _want(INTERNET, "iklim-app-02 public", 443)  # SWAG runs on iklim-app-01 only
    assert _want(OPERATOR, "iklim-db-01 public", 22) and not _want(INTERNET, "iklim-db-01 public", 22)
    assert not _want(APP1, "iklim-db-01 public", 2379)  # a public source never matches a private rule
    assert _want(APP1, "iklim-db-01 private", 2379) and _want(APP1, "iklim-db-01 private", 2380)
    assert not _want(PRIVATE_OTHER, "iklim-db-01 private", 5432)  # DOCKER-USER
    assert not _want(PRIVATE_OTHER, "iklim-app-01 private", 8200)
    assert _want(PRIVATE_OTHER, "iklim-app-01 private", 2377)  # nothing filters the private network
    assert _want(DB2, "iklim-app-02 private", 2377) and not _want(DB2, "iklim-db-01 private", 2377)
    assert not _want(INTERNET, "iklim-db-01 private", 2379)  # no route to the private network
    assert _want(OVERLAY, "redis-1", 6379) and _want(OVERLAY, "redis-sentinel-2", 26379)
    assert not _want(OTHER, "redis-1", 6379) and not _want(APP1, "rabbitmq-1", 15672)
    assert not any(_want(s, "iklim-app-01 private", 6379) for s in (APP1, OVERLAY, PRIVATE_OTHER))
    assert not _want(APP1, "iklim-db-01 private", 27017)  # the lab runs no mongod: a named gap
    assert any("27017" in gap for gap in netmatrix.lab_gaps(ENV))


def test_expected_matrix_moves_with_the_model() -> None:
    """The expectation is derived: another admin CIDR moves the SSH cells."""
    other = ENV.model_copy(
        update={"network": ENV.network.model_copy(update={"admin_cidrs": [IPv4Network("192.0.2.0/24")]})}
    )
    t = TARGETS["iklim-db-01 public"]
    assert not expected(other, OPERATOR, t, _port(22))
    assert expected(other, Source("b", "192.0.2.7", None), t, _port(22))


def test_mutations_change_the_firewall_and_check_flags_them(tmp_path: Path) -> None:
    text = FIREWALL.read_text()
    dropped = mutations.drop_source(text, "db", 2379, "10.0.1.0/24")
    widened = mutations.widen(text, "db", 5432)
    for name, mutated, finding in (("etcd", dropped, "firewall-etcd-client"), ("wide", widened, "firewall-host-ports")):
        tree = mutations.copy_tree(REPO, tmp_path / name)
        (tree / public.FIREWALL_TF).write_text(mutated)
        fws = {fw.name: fw for fw in hcloud_fw.read_firewalls(tree / public.FIREWALL_TF, LABELS)}
        rules = [r for r in fws["db"].rules if r.ports in ((2379, 2379), (5432, 5432))]
        check = subprocess.run([sys.executable, "-m", "iklim", "check", str(tree)], capture_output=True, text=True)
        assert check.returncode == 1 and finding in check.stdout, check.stdout
        if name == "etcd":
            assert not any(r.allows("10.0.1.5", "tcp", 2379) for r in rules)
        else:
            assert any(r.allows("203.0.113.200", "tcp", 5432) for r in rules)
    with pytest.raises(ValueError, match="no tcp rule"):
        mutations.drop_source(text, "app", 2379, "10.0.1.0/24")


@pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare")
def test_agent_tells_open_refused_unreachable_unresolved() -> None:
    """The agent in a throw-away network namespace (loopback only): its own FAKE sshd listener."""
    agent = Path(public.__file__).with_name("probe_agent.py")
    request = (
        '{"timeout": 0.5, "dns": null, "targets": [["127.0.0.1", 2222], ["127.0.0.1", 2223], '
        '["192.0.2.1", 80], ["redis-1", 6379]]}'
    )
    script = (
        f"ip link set lo up; timeout 20 {sys.executable} {agent} listen 2222 >/dev/null & L=$!; sleep 0.5; "
        f"echo '{request}' | {sys.executable} {agent}; kill $L"
    )
    proc = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    results = {(h, p): state for h, p, state, _ in json.loads(proc.stdout.splitlines()[-1])["results"]}
    assert results == {
        ("127.0.0.1", 2222): "open",
        ("127.0.0.1", 2223): "refused",
        ("192.0.2.1", 80): "unreachable",
        ("redis-1", 6379): "unresolved",
    }


def test_dropping_the_docker_user_step_is_flagged_by_check(tmp_path: Path) -> None:
    tree = mutations.copy_tree(REPO, tmp_path / "tree")
    runbook = tree / "init-infra-prod.sh"
    clean = subprocess.run([sys.executable, "-m", "iklim", "check", str(tree)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    runbook.write_text(mutations.drop_docker_user(runbook.read_text()))
    check = subprocess.run([sys.executable, "-m", "iklim", "check", str(tree)], capture_output=True, text=True)
    assert check.returncode == 1
    assert check.stdout.count("runbook-docker-user") == 2, check.stdout
    with pytest.raises(ValueError, match="no init/hosts"):
        mutations.drop_docker_user(runbook.read_text())


def test_rabbitmq_management_through_swag_answers_by_source() -> None:
    host = ENV.services.rabbitmq.management_host
    pub, priv = TARGETS[f"{host} via iklim-app-01 public"], TARGETS[f"{host} via iklim-app-01 private"]
    app2 = Source("iklim-app-02", PUBLIC["iklim-app-02"], "10.0.1.12", "iklim-app-02")
    for source, target, probed, ok in (
        (INTERNET, pub, True, False),  # 403: outside management_allow
        (OPERATOR, pub, True, False),
        (app2, pub, True, False),  # a node through the public address comes from a public address
        (app2, priv, True, True),  # 200
        (OVERLAY, priv, True, True),
        (PRIVATE_OTHER, priv, True, True),  # inside 10.0.0.0/16: the allow-list is wider than the subnets
        (INTERNET, priv, False, False),  # no route: not probed
        (APP1, pub, False, False),  # SWAG's own node
    ):
        assert netmatrix.probed(ENV, source, target) is probed, (source.name, target.label)
        if probed:
            assert expected(ENV, source, target, target.ports[0]) is ok, (source.name, target.label)


def test_a_cell_probed_twice_shows_both_states_and_counts_by_the_second() -> None:
    from iklim.swarmlab.probe import Cell
    from iklim.swarmlab.probe_report import as_json, as_text

    patroni = _port(8008)
    transient = Cell("overlay", "iklim-db-01 private", patroni, "open", 3.0, True, first_state="timeout")
    real = Cell("iklim-db-02", "iklim-db-01 private", patroni, "timeout", 1000.0, True, first_state="timeout")
    once = Cell("operator", "iklim-db-01 public", patroni, "timeout", 1000.0, False)
    cells = [transient, real, once]
    report = json.loads(as_json(cells, 1.0, {"total": 1.0}, []))
    assert [r["first_state"] for r in report["cells"]] == ["timeout", "timeout", ""]
    assert [(r["source"], r["first_state"]) for r in report["differences"]] == [("iklim-db-02", "timeout")]
    text = as_text(cells, 1.0, {"total": 1.0}, [])
    assert "PROBED AGAIN overlay -> iklim-db-01 private 8008/tcp (patroni patroni-api): timeout, then open\n" in text
    assert (
        "PROBED AGAIN iklim-db-02 -> iklim-db-01 private 8008/tcp (patroni patroni-api): timeout, then timeout (a"
        in text
    )
    assert "PROBED AGAIN operator" not in text


def test_only_a_closed_cell_the_model_says_open_is_probed_again() -> None:
    from iklim.swarmlab.probe import Cell, to_probe_again

    patroni = _port(8008)
    hole = Cell("internet", "iklim-db-01 public", patroni, "open", 2.0, False)  # a firewall hole: proof
    dropped = Cell("overlay", "iklim-db-01 private", patroni, "timeout", 1000.0, True)  # maybe a dropped SYN
    refused = Cell("iklim-db-02", "iklim-db-01 private", patroni, "refused", 1.0, True)
    closed = Cell("operator", "iklim-db-01 public", patroni, "timeout", 1000.0, False)  # as the model says
    opened = Cell("iklim-db-03", "iklim-db-01 private", patroni, "open", 1.0, True)
    assert to_probe_again([hole, dropped, refused, closed, opened]) == {dropped.key, refused.key}
