"""Table tests for the rules on terraform, APISIX/Patroni configs, SWAG sites and scripts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from iklim.check.engine import Result
from iklim.check.policy import Policy

Runner = Callable[..., Result]


def hits(result: Result, rule: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule)


def fw(name: str, *rules: str) -> str:
    """A firewall applied to the DB ("db") or service ("app") nodes by label, at the end of its body."""
    body = "".join(f'  rule {{\n    direction  = "in"\n    protocol   = "tcp"\n{r}  }}\n' for r in rules)
    label = {"db": "db", "app": "service"}.get(name, name)
    apply_to = f'  apply_to {{ label_selector = "type={label}" }}\n'
    return f'resource "hcloud_firewall" "{name}" {{\n  name = "iklim-{name}"\n{body}{apply_to}}}\n'


def rule(port: str, *sources: str) -> str:
    quoted = ", ".join(f'"{s}"' for s in sources)
    return f'    port       = "{port}"\n    source_ips = [{quoted}]\n'


ETCD_OK = rule("2379", "10.0.1.0/24")
APISIX_OK = 'deployment:\n  etcd:\n    host:\n      - "http://etcd-01:2379"\n    prefix: /apisix\n'
SITE_OK = (
    "server {\n  listen 443 ssl;\n  server_name rabbitmq.*;\n  allow 10.0.0.0/16;\n  deny all;\n"
    "  location / {\n    proxy_pass http://rabbitmq-1:15672;\n  }\n}\n"
)
ETCD_SVC = (
    "services:\n  etcd-1:\n    networks:\n      iklim-overlay:\n        aliases: [etcd-01]\n"
    "  etcd-2:\n    networks:\n      iklim-overlay: {aliases: [etcd-02]}\n"
    "  etcd-3:\n    networks: {iklim-overlay: {aliases: [etcd-03]}}\n"
)

CASES: list[tuple[str, str, dict[str, str], list[int]]] = [
    # firewall-etcd-client
    ("etcd-client-missing", "firewall-etcd-client", {"fw.tf": fw("db", rule("5432", "10.0.1.0/24"))}, [1]),
    ("etcd-client-wrong-source", "firewall-etcd-client", {"fw.tf": fw("db", rule("2379", "10.0.2.0/24"))}, [1]),
    ("etcd-client-range", "firewall-etcd-client", {"fw.tf": fw("db", rule("2379-2380", "10.0.0.0/16"))}, []),
    ("etcd-client-ok", "firewall-etcd-client", {"fw.tf": fw("db", ETCD_OK) + fw("app")}, []),
    # firewall-host-ports
    ("db-port-public", "firewall-host-ports", {"fw.tf": fw("db", ETCD_OK, rule("5432", "0.0.0.0/0"))}, [13]),
    ("db-any-public", "firewall-host-ports", {"fw.tf": fw("app", rule("any", "10.0.1.0/24", "::/0"))}, [7]),
    (
        "host-port-no-rule",
        "firewall-host-ports",
        {
            "fw.tf": fw("db", ETCD_OK),
            "stack.yml": "services:\n  mongodb-1:\n    ports:\n      - {target: 27017, published: 27017, mode: host}\n",
        },
        [4],
    ),
    (
        "host-port-ok",
        "firewall-host-ports",
        {
            "fw.tf": fw("db", ETCD_OK, rule("27017", "10.0.1.0/24")) + fw("app", rule("443", "0.0.0.0/0")),
            "stack.yml": (
                "services:\n  mongodb-1:\n    ports:\n      - {target: 27017, published: 27017, mode: host}\n"
                "  swag:\n    ports: [{target: 443, published: 443, mode: host}]\n"
            ),
        },
        [],
    ),
    # firewall-no-redis
    ("redis-port", "firewall-no-redis", {"fw.tf": fw("app", rule("6379", "10.0.1.0/24"))}, [6]),
    ("redis-range", "firewall-no-redis", {"fw.tf": fw("app", rule("26000-27000", "10.0.1.0/24"))}, [6]),
    ("redis-any", "firewall-no-redis", {"fw.tf": fw("app", rule("any", "10.0.1.0/24"))}, [6]),
    (
        "redis-out-ok",
        "firewall-no-redis",
        {
            "fw.tf": fw("app").replace(
                "}\n",
                '  rule {\n    direction = "out"\n    protocol = "tcp"\n    port = "any"\n'
                '    destination_ips = ["0.0.0.0/0"]\n  }\n}\n',
                1,
            )
        },
        [],
    ),
    # etcd-prefix
    ("apisix-prefix", "etcd-prefix", {"config/apisix/config.yaml": APISIX_OK.replace("/apisix", "/svc")}, [5]),
    ("apisix-prefix-ok", "etcd-prefix", {"config/apisix/config.yaml": APISIX_OK}, []),
    (
        "patroni-overlap",
        "etcd-prefix",
        {
            "config/apisix/config.yaml": APISIX_OK,
            "config/patroni/patroni-1.yml": "scope: pg\nnamespace: /apisix/pg\netcd3:\n  hosts: etcd-01:2379\n",
        },
        [2],
    ),
    (
        "patroni-env-overlap",
        "etcd-prefix",
        {
            "stack.yml": "services:\n  patroni-1:\n    environment:\n      - PATRONI_NAMESPACE=/apisix\n",
        },
        [4],
    ),
    (
        "patroni-ok",
        "etcd-prefix",
        {
            "config/apisix/config.yaml": APISIX_OK,
            "config/patroni/patroni-1.yml": "scope: pg\nnamespace: /service/\netcd3: {hosts: 'etcd-01:2379'}\n",
        },
        [],
    ),
    # etcd-aliases
    ("apisix-ip", "etcd-aliases", {"config/apisix/config.yaml": APISIX_OK.replace("etcd-01", "10.0.2.11")}, [4]),
    ("apisix-aliases-ok", "etcd-aliases", {"config/apisix/config.yaml": APISIX_OK, "stack.yml": ETCD_SVC}, []),
    (
        "etcd-list-networks",
        "etcd-aliases",
        {
            "stack.yml": ETCD_SVC.replace(
                "  etcd-3:\n    networks: {iklim-overlay: {aliases: [etcd-03]}}\n",
                "  etcd-3:\n    networks: [iklim-overlay]\n",
            )
        },
        [4],
    ),
    (
        "etcd-no-overlay",
        "etcd-aliases",
        {
            "stack.yml": ETCD_SVC.replace(
                "  etcd-3:\n    networks: {iklim-overlay: {aliases: [etcd-03]}}\n", "  etcd-3:\n    hostname: etcd-03\n"
            )
        },
        [4, 9],
    ),
    # rabbitmq-mgmt-ip
    (
        "site-open",
        "rabbitmq-mgmt-ip",
        {"config/swag/rabbitmq.subdomain.conf": SITE_OK.replace("  allow 10.0.0.0/16;\n  deny all;\n", "")},
        [4],
    ),
    (
        "site-allow-all",
        "rabbitmq-mgmt-ip",
        {"config/swag/rabbitmq.subdomain.conf": SITE_OK.replace("  allow 10.0.0.0/16;\n", "  allow all;\n")},
        [6],
    ),
    (
        "site-no-deny",
        "rabbitmq-mgmt-ip",
        {"config/swag/rabbitmq.subdomain.conf": SITE_OK.replace("  deny all;\n", "")},
        [5],
    ),
    (
        "site-location-override",
        "rabbitmq-mgmt-ip",
        {"config/swag/rmq.conf": SITE_OK.replace("    proxy_pass", "    allow all;\n    proxy_pass")},
        [6],
    ),
    ("site-ok", "rabbitmq-mgmt-ip", {"config/swag/rabbitmq.subdomain.conf": SITE_OK}, []),
    # issue 12: an allow-list that admits the public, or that satisfy any bypasses
    *[
        (f"site-{name}", "rabbitmq-mgmt-ip", {"config/swag/rabbitmq.subdomain.conf": text}, lines)
        for name, text, lines in [
            ("allow-any-v4", SITE_OK.replace("  allow 10.0.0.0/16;\n", "  allow 0.0.0.0/0;\n"), [6]),
            ("allow-any-v4-after", SITE_OK.replace("  deny all;\n", "  allow 0.0.0.0/0;\n  deny all;\n"), [7]),
            ("allow-any-v6", SITE_OK.replace("  deny all;\n", "  allow ::/0;\n  deny all;\n"), [7]),
            ("allow-v6-public", SITE_OK.replace("  deny all;\n", "  allow 2001:db8::/32;\n  deny all;\n"), [7]),
            ("allow-public", SITE_OK.replace("10.0.0.0/16", "8.8.8.0/24"), [6]),
            ("allow-public-host", SITE_OK.replace("10.0.0.0/16", "203.0.113.9"), [6]),
            ("allow-wider-than-private", SITE_OK.replace("10.0.0.0/16", "10.0.0.0/7"), [6]),
            ("allow-private-192", SITE_OK.replace("10.0.0.0/16", "192.168.10.0/24"), []),
            ("allow-private-172", SITE_OK.replace("10.0.0.0/16", "172.20.0.1"), []),
            ("satisfy-any", SITE_OK.replace("  deny all;\n", "  deny all;\n  satisfy any;\n"), [7]),
            ("satisfy-any-location", SITE_OK.replace("    proxy_pass", "    satisfy any;\n    proxy_pass"), [6]),
            ("satisfy-any-upper", SITE_OK.replace("  deny all;\n", "  deny all;\n  satisfy ANY;\n"), [7]),
            ("satisfy-all", SITE_OK.replace("  deny all;\n", "  deny all;\n  satisfy all;\n"), []),
            (
                "satisfy-any-location-overrides",
                SITE_OK.replace("  deny all;\n", "  deny all;\n  satisfy any;\n").replace(
                    "    proxy_pass", "    satisfy all;\n    proxy_pass"
                ),
                [],
            ),
        ]
    ],
    # superseded-overlay
    ("overlay-file", "superseded-overlay", {"docker-stack-infra.prod.yml": "services: {}\n"}, [1]),
    (
        "overlay-deploy",
        "superseded-overlay",
        {
            "init-infra-prod.sh": (
                "#!/bin/sh\n# docker-stack-infra.prod.yml is gone\ndocker stack deploy \\\n"
                "  -c docker-stack-infra.yml -c docker-stack-infra.prod.yml iklimco\n"
            )
        },
        [3],
    ),
    (
        "overlay-config",
        "superseded-overlay",
        {"init-infra-prod.sh": ("docker stack config -c docker-stack-infra.yml -c docker-stack-infra.override.yml\n")},
        [1],
    ),
    (
        "vault-path",
        "superseded-overlay",
        {"stack.yml": ("services:\n  vault-1:\n    volumes:\n      - /opt/iklimco/vault/data:/vault/data\n")},
        [4],
    ),
    (
        "deploy-ok",
        "superseded-overlay",
        {"init-infra-prod.sh": ("docker stack deploy -c docker-stack-infra_db-prod.yml iklimco\n")},
        [],
    ),
]


@pytest.mark.parametrize(
    ("allow", "admin", "lines"),
    [
        ("198.51.100.10/32", ("198.51.100.10/32",), []),  # the model's admin_cidrs
        ("198.51.100.10", ("198.51.100.0/28",), []),
        ("198.51.100.0/24", ("198.51.100.0/28",), [6]),  # wider than the admin range
        ("198.51.100.10/32", (), [6]),
    ],
)
def test_site_allows_admin_cidrs(check_files: Runner, allow: str, admin: tuple[str, ...], lines: list[int]) -> None:
    site = SITE_OK.replace("10.0.0.0/16", allow)
    policy = Policy(app_subnet="10.0.1.0/24", db_subnet="10.0.2.0/24", admin_cidrs=admin)
    result = check_files({"config/swag/rabbitmq.subdomain.conf": site}, policy)
    assert hits(result, "rabbitmq-mgmt-ip") == lines


@pytest.mark.parametrize(("name", "rule_id", "files", "lines"), CASES, ids=[c[0] for c in CASES])
def test_rule_table(check_files: Runner, name: str, rule_id: str, files: dict[str, str], lines: list[int]) -> None:
    assert hits(check_files(files), rule_id) == lines
