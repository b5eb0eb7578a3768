"""Values production cannot or must not run are refused before anything is written (issue 16,
kinds 3, 9 and 10): exit 2, one ``file:line:col: message`` each, no traceback, no output tree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.schema import Environment
from iklim.render.terraform import server_ref
from iklim.render.tree import Tree

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()

ADMIN = "    - 198.51.100.10/32 "
MGMT = "      - 10.0.0.0/16              #"
HTTPS = "      - {name: https, port: 443, public: true}\n"
MONGOD = "      - {name: mongod, port: 27017}\n"
VAULT_API = "      - {name: api, port: 8200}"
OVERLAY = "  subnet: 10.20.0.0/16"
ALIASES = "    aliases: [etcd-01, etcd-02, etcd-03]"
RABBIT = "    cluster_name: iklim-rabbitmq\n"
REDIS = "    master_name: iklim-redis\n"
VAULT_VOL = "{kind: local, target: /vault/file}"
APISIX = "    etcd_prefix: /apisix\n"
PROM = "    scrape_interval_s: 15\n"
NOT_ADMITTED = "neither a private range nor inside admin_cidrs"
GRAFANA = "    image: grafana/grafana:11.4.0\n    placement: service\n    members: "
AM_AT = "    image: prom/alertmanager:v0.27.0\n    placement: service\n    members: 1\n"
AM_NEXT = "    group_wait_s: 30"
AM = AM_AT + AM_NEXT

# (id, old, new, needle on the reported line (None: the replacement's first line), message part)
CASES: list[tuple[str, str, str, str | None, str]] = [
    # admin_cidrs: nothing wider than /16
    ("admin-world", ADMIN, "    - 0.0.0.0/0 ", None, "too wide for SSH"),
    ("admin-slash8", ADMIN, "    - 10.0.0.0/8 ", None, "too wide for SSH"),
    ("admin-half", ADMIN, "    - 128.0.0.0/1 ", None, "too wide for SSH"),
    # SWAG: only 80 and 443 public
    ("swag-8443", HTTPS, HTTPS + "      - {name: alt, port: 8443, public: true}\n", "port: 8443", "only 80 and 443"),
    ("swag-http-moved", "{name: http, port: 80, public: true}", "{name: http, port: 8080, public: true}", None,
     "only 80"),
    # management_allow: RFC 1918, or inside admin_cidrs
    ("mgmt-world", MGMT, "      - 0.0.0.0/0                #", None, NOT_ADMITTED),
    ("mgmt-public", MGMT, "      - 8.8.8.0/24               #", None, NOT_ADMITTED),
    ("mgmt-testnet", MGMT, "      - 198.51.100.0/28          #", None, NOT_ADMITTED),
    ("mgmt-beside-172", MGMT, "      - 172.32.0.0/16            #", None, NOT_ADMITTED),
    ("mgmt-wider-than-admin", MGMT, "      - 198.51.100.8/29          #", None, "inside admin_cidrs"),
    # the same host port twice on one node
    ("swag-takes-vault-port", HTTPS, HTTPS + "      - {name: x, port: 8200}\n", VAULT_API, "already published by swag"),
    ("patroni-takes-etcd-port", "{name: postgres, port: 5432}", "{name: postgres, port: 2379}", None, "by etcd"),
    ("mongodb-twice", MONGOD, MONGOD + "      - {name: again, port: 27017}\n", "name: again", "by mongodb"),
    ("ingress-on-every-node", HTTPS, HTTPS + "      - {name: y, port: 27017, mode: ingress}\n", "name: y",
     "by mongodb"),
    # ssh and Swarm ports
    *(
        (f"db-port-{n}", MONGOD, f"      - {{name: mongod, port: {n}}}\n", None, f"cannot publish {n}")
        for n in (22, 2377, 7946, 4789)
    ),
    ("vault-on-gossip", VAULT_API, "      - {name: api, port: 7946}", None, "Swarm gossip"),
    # node addresses
    ("duplicate-ip", "private_ip: 10.0.2.12", "private_ip: 10.0.2.11", "iklim-db-02", "already the address of"),
    ("network-address", "private_ip: 10.0.2.13", "private_ip: 10.0.2.0", None, "network or broadcast"),
    ("broadcast-address", "private_ip: 10.0.2.13", "private_ip: 10.0.2.255", None, "network or broadcast"),
    ("outside-subnet", "private_ip: 10.0.2.13", "private_ip: 10.0.1.200", None, "outside the db subnet"),
    # the overlay against Docker's ranges and the private network
    ("overlay-docker0", OVERLAY, "  subnet: 172.17.0.0/16", None, "Docker's own range"),
    ("overlay-bridge-pool", OVERLAY, "  subnet: 172.25.0.0/16", None, "Docker's own range"),
    ("overlay-192-168", OVERLAY, "  subnet: 192.168.10.0/24", None, "Docker's own range"),
    ("overlay-ingress", OVERLAY, "  subnet: 10.0.0.0/24", None, "Docker's own range"),
    ("overlay-private", OVERLAY, "  subnet: 10.0.2.0/25", None, "overlaps the private network"),
    # etcd aliases
    ("alias-twice", ALIASES, "    aliases: [etcd-01, etcd-01, etcd-03]", None, "listed twice"),
    ("alias-is-a-service", ALIASES, "    aliases: [etcd-01, patroni-1, etcd-03]", None, "name of a service"),
    ("alias-is-apisix", ALIASES, "    aliases: [etcd-01, etcd-02, apisix]", None, "name of a service"),
    # keys the renderer ignores
    ("rabbitmq-ports", RABBIT, RABBIT + "    ports:\n      - {name: amqp, port: 5672, mode: ingress}\n",
     "    ports:\n      - {name: amqp", "rabbitmq.ports is not used"),
    ("redis-volume", REDIS, REDIS + "    volume: {kind: local, target: /x}\n", "target: /x",
     "redis.volume is not used"),
    ("vault-volume-storagebox", VAULT_VOL, "{kind: storagebox, target: /vault/file}", None, "use kind: local"),
    ("vault-volume-path", VAULT_VOL, "{kind: local, target: /vault/file, path: /srv}", None, "has no path"),
    ("apisix-nodes", APISIX, APISIX + "    nodes: [iklim-app-01]\n", "nodes: [iklim-app-01]\n",
     "apisix.nodes is not used"),
    ("prometheus-ports", PROM, PROM + "    ports:\n      - {name: web, port: 9090}\n",
     "    ports:\n      - {name: web", "prometheus.ports is not used"),
    ("grafana-two-members", GRAFANA + "1", GRAFANA + "2", "members: 2", "single instance"),
    # Alertmanager: one overlay-only instance; receivers Alertmanager accepts, tokens over TLS
    ("alertmanager-ports", AM, AM_AT + "    ports:\n      - {name: web, port: 9093}\n" + AM_NEXT,
     "    ports:\n      - {name: web, port: 9093}", "alertmanager.ports is not used"),
    ("alertmanager-volume", AM, AM_AT + "    volume: {kind: local, target: /alertmanager}\n" + AM_NEXT,
     "volume: {kind: local, target: /alertmanager}", "alertmanager.volume is not used"),
    ("alertmanager-two-members", AM, AM.replace("members: 1", "members: 2"), "members: 2", "single instance"),
    ("alertmanager-receiver-twice", "      - name: oncall-webhook", "      - name: ops-email",
     "  alertmanager:\n    image: prom/alertmanager", "is used twice"),
    ("alertmanager-token-over-http", 'url: "https://oncall', 'url: "http://oncall', "- name: oncall-webhook",
     "must be https://"),
    ("alertmanager-repeat-past-go", "    repeat_interval_s: 14400", "    repeat_interval_s: 10000000000", None,
     "less than or equal to 2592000"),
    ("alertmanager-wait-is-a-bool", "    group_wait_s: 30 ", "    group_wait_s: true ", None, "valid integer"),
    ("alertmanager-first-receiver-partial", "        severities: [critical, warning]", "        severities: [critical]",
     "  alertmanager:\n    image: prom/alertmanager", "both severities"),
    ("alertmanager-repeat-below-group", "    repeat_interval_s: 14400", "    repeat_interval_s: 60",
     "  alertmanager:\n    image: prom/alertmanager", "at least group_interval_s"),
]  # fmt: skip


def _render(tmp_path: Path, text: str) -> tuple[Any, Path, Path]:
    bad = tmp_path / "model.yaml"
    bad.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(out)])
    return result, bad, out


def _line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


@pytest.mark.parametrize(("old", "new", "needle", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_value_production_must_not_run_is_refused(
    tmp_path: Path, old: str, new: str, needle: str | None, message: str
) -> None:
    assert old in PROD_TEXT, old
    text = PROD_TEXT.replace(old, new, 1)
    result, bad, out = _render(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception)
    line = _line_of(text, needle if needle is not None else new.lstrip("\n").split("\n")[0].strip() or new)
    errors = [e for e in result.output.splitlines() if e.startswith("error: ")]
    assert errors, result.output
    assert any(re.match(rf"error: {re.escape(str(bad))}:{line}:\d+: .*{re.escape(message)}", e) for e in errors), (
        line,
        result.output,
    )
    assert not out.exists()


CLUSTERED = ["etcd", "patroni", "mongodb", "redis", "rabbitmq", "vault", "sentinel"]


@pytest.mark.parametrize("service", CLUSTERED)
def test_clustered_service_without_nodes_is_an_error_not_a_traceback(tmp_path: Path, service: str) -> None:
    """Issue 16 kind 3: render printed a traceback (exit 1) when a clustered service had no nodes."""
    start = PROD_TEXT.index("    sentinel:\n" if service == "sentinel" else f"\n  {service}:\n")
    at = PROD_TEXT.index("nodes: [", start)
    line_start = PROD_TEXT.rindex("\n", 0, at)
    text = PROD_TEXT[:line_start] + PROD_TEXT[PROD_TEXT.index("\n", at) :]
    result, bad, out = _render(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    header = "    sentinel:" if service == "sentinel" else f"  {service}:"
    line = _line_of(text, header + "\n")
    assert re.search(rf"error: {re.escape(str(bad))}:{line}:\d+: .*list 3 nodes", result.output), result.output
    assert not out.exists()


def test_documentation_admin_range_warns_but_renders(tmp_path: Path) -> None:
    result, bad, out = _render(tmp_path, PROD_TEXT)
    assert result.exit_code == 0, result.output
    line = _line_of(PROD_TEXT, ADMIN)
    assert re.search(rf"warning: {re.escape(str(bad))}:{line}:\d+: .*documentation range", result.output)
    for doc in ("192.0.2.7/32", "203.0.113.0/28"):
        result, _, _ = _render(tmp_path, PROD_TEXT.replace(ADMIN, f"    - {doc} ", 1))
        assert result.exit_code == 0 and "documentation range" in result.output
    result, _, _ = _render(tmp_path, PROD_TEXT.replace(ADMIN, "    - 95.216.10.1/32 ", 1))
    assert result.exit_code == 0 and "warning" not in result.output


def test_management_allow_inside_admin_cidrs_is_admitted(tmp_path: Path) -> None:
    """A public management entry is fine when it is one of the operators' own (admin) addresses."""
    text = PROD_TEXT.replace(ADMIN, "    - 95.216.10.0/28 ", 1).replace(MGMT, "      - 95.216.10.8/29           #", 1)
    result, _, out = _render(tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "allow 95.216.10.8/29;" in (out / "config/swag/rabbitmq.subdomain.conf").read_text()


def test_firewalls_are_attached_to_the_model_nodes(prod_tree: Tree, prod_env: Environment) -> None:
    """Issue 16 kind 9: the firewalls were attached by labels nothing set."""
    text = prod_tree["terraform/hetzner/prod/firewall.tf"].content.decode()
    assert "label_selector" not in text
    parsed = hcl2.loads(text)
    servers = {
        key.strip('"'): body["name"].strip('"') for d in parsed["data"] for key, body in d['"hcloud_server"'].items()
    }
    assert sorted(servers.values()) == sorted(n.name for n in prod_env.nodes)
    walls = {k.strip('"'): b for r in parsed["resource"] for k, b in r.get('"hcloud_firewall"', {}).items()}
    for key, role in (("db", "db"), ("app", "service")):
        attached = {a["server"].strip("${}") for a in walls[key]["apply_to"]}
        wanted = {f"data.hcloud_server.{server_ref(n.name)}.id" for n in prod_env.nodes if n.role == role}
        assert attached == wanted, (key, attached)
        for ref in attached:
            assert servers[ref.split(".")[2]] in {n.name for n in prod_env.nodes if n.role == role}
