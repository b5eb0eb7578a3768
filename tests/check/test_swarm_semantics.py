"""Table tests for Docker's and Swarm's own semantics: constraints as swarmkit reads them, the
``host`` network, ingress publication, floating image tags and duplicate merge keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from iklim.check.constraints import parse
from iklim.check.engine import INPUT_RULE, Result
from iklim.check.findings import InputError
from iklim.check.policy import Policy, from_model
from iklim.check.yamlload import load_yaml
from iklim.model.images import pin_problem

Runner = Callable[..., Result]


def hits(result: Result, rule: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule)


def svc(name: str, image: str, body: str = "", tail: str = "") -> dict[str, str]:
    """A one-service stack; ``body`` is indented under the service (line 4 on)."""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return {"stack.yml": f"services:\n  {name}:\n    image: {image}\n{lines}{tail}"}


def placed(name: str, image: str, *constraints: str) -> dict[str, str]:
    """A service whose constraints are written one per line from line 7."""
    items = "".join(f"\n    - {c}" for c in constraints)
    return svc(name, image, f"deploy:\n  placement:\n    constraints:{items}")


ETCD = "quay.io/coreos/etcd:v3.5.17"
PATRONI = "ghcr.io/iklimco/patroni:4.0.4-pg16"
MONGO = "mongo:7.0.16"
REDIS = "redis:7.4.2-alpine"
RABBIT = "rabbitmq:3.13.7-management-alpine"
GRAFANA = "grafana/grafana:11.4.0"
SENTINEL = "redis-sentinel-1", REDIS, "command: [redis-sentinel, /etc/sentinel.conf]\n"
EXT_HOST = "networks:\n  host:\n    external: true\n"
REDIS_EXP = "oliver006/redis_exporter:v1.67.0-alpine"
HOST4 = ("stack.yml", 4)

# Kind 2: Swarm's constraint semantics (swarmkit manager/constraint/constraint.go).
CONSTRAINTS: list[tuple[str, str, dict[str, str], list[int]]] = [
    ("label-upper-case", "db-placement", placed("patroni-1", PATRONI, "node.labels.type == DB"), []),
    ("hostname-upper-case", "db-placement", placed("etcd-1", ETCD, "NODE.HOSTNAME == IKLIM-DB-01"), []),
    ("prefix-mixed-case", "db-placement", placed("mongodb-1", MONGO, "Node.Labels.type==Db"), []),
    ("service-upper-case", "service-placement", placed("redis-1", REDIS, "node.labels.type == SERVICE"), []),
    ("service-on-db-upper", "service-placement", placed("redis-1", REDIS, "node.hostname == IKLIM-DB-02"), [7, 7]),
    ("db-on-service-mixed", "db-placement", placed("etcd-1", ETCD, "node.labels.type == Service"), [7, 7]),
    ("db-kept-off-upper", "db-placement", placed("patroni-1", PATRONI, "node.labels.type != DB"), [7, 7]),
    # 'node.hostname != iklim-db-01' keeps a member off one DB node, not off the DB nodes
    (
        "db-avoids-one-db-node",
        "db-placement",
        placed("patroni-2", PATRONI, "node.labels.type == db", "node.hostname != IKLIM-DB-01"),
        [],
    ),
    # the label name itself is case-sensitive: node.labels.Type is another label
    ("label-name-case", "db-placement", placed("etcd-1", ETCD, "node.labels.Type == db"), [7]),
    # quoted values are refused by the manager: never a pin, always a swarm-constraint error
    ("quoted-value", "db-placement", placed("etcd-1", ETCD, "'node.labels.type == \"db\"'"), [7]),
    ("quoted-value-error", "swarm-constraint", placed("etcd-1", ETCD, "'node.labels.type == \"db\"'"), [7]),
    ("single-quoted", "swarm-constraint", placed("etcd-1", ETCD, "\"node.labels.type == 'db'\""), [7]),
    ("quoted-no-spaces", "swarm-constraint", placed("etcd-1", ETCD, "'node.labels.type==\"db\"'"), [7]),
    ("quoted-key", "swarm-constraint", placed("etcd-1", ETCD, "'\"node.labels.type\" == db'"), [7]),
    ("one-equals", "swarm-constraint", placed("etcd-1", ETCD, "node.labels.type = db"), [7]),
    ("empty-value", "swarm-constraint", placed("etcd-1", ETCD, "'node.labels.type =='"), [7]),
    ("two-operators", "swarm-constraint", placed("etcd-1", ETCD, "node.labels.type == db == x"), [7]),
    ("not-a-string", "swarm-constraint", placed("etcd-1", ETCD, "42"), [7]),
    ("unknown-attribute", "swarm-constraint", placed("etcd-1", ETCD, "node.label.type == db"), [7]),
    ("unknown-attribute-no-pin", "db-placement", placed("etcd-1", ETCD, "node.label.type == db"), [7]),
    (
        "string-not-list",
        "swarm-constraint",
        svc("etcd-1", ETCD, "deploy:\n  placement:\n    constraints: node.labels.type == db"),
        [6],
    ),
    (
        "string-not-list-no-pin",
        "db-placement",
        svc("etcd-1", ETCD, "deploy:\n  placement:\n    constraints: 'node.labels.type == db'"),
        [6],
    ),
    (
        "mapping-not-list",
        "swarm-constraint",
        svc("etcd-1", ETCD, "deploy:\n  placement:\n    constraints: {node.labels.type: db}"),
        [6],
    ),
    (
        "valid-mixed-case",
        "swarm-constraint",
        placed("etcd-1", ETCD, "NODE.labels.type == DB", "node.hostname!=iklim-db-02", "node.role == manager"),
        [],
    ),
    ("interpolated-unknown", "swarm-constraint", placed("etcd-1", ETCD, "node.hostname == ${DB_HOST}"), []),
    ("interpolated-default", "db-placement", placed("etcd-1", ETCD, "node.labels.type == ${T:-DB}"), []),
    (
        "spread-same-node-case",
        "spread",
        {
            "stack.yml": (
                "services:\n  etcd-1:\n    image: " + ETCD + "\n"
                "    deploy: {placement: {constraints: [node.hostname == iklim-db-01]}}\n"
                "  etcd-2:\n    image: " + ETCD + "\n"
                "    deploy: {placement: {constraints: [node.hostname == IKLIM-DB-01]}}\n"
            )
        },
        [5],
    ),
]

# Kind 3: the host network publishes every port the service listens on, like host mode.
HOST_NETWORK: list[tuple[str, str, dict[str, str], list[int]]] = [
    ("redis-external-host", "overlay-only", svc("redis-1", REDIS, "networks: [host]", EXT_HOST), [4]),
    (
        "redis-named-host",
        "overlay-only",
        svc("redis-1", REDIS, "networks:\n  hostnet: {}", "networks:\n  hostnet: {external: true, name: host}\n"),
        [5],
    ),
    (
        "redis-external-name-host",
        "overlay-only",
        svc("redis-1", REDIS, "networks: [outside]", "networks:\n  outside:\n    external: {name: host}\n"),
        [4],
    ),
    ("sentinel-host", "overlay-only", svc(SENTINEL[0], SENTINEL[1], SENTINEL[2] + "networks: [host]", EXT_HOST), [5]),
    ("rabbitmq-host", "overlay-only", svc("rabbitmq-1", RABBIT, "networks: [host]", EXT_HOST), [4]),
    # a network the stack creates is <stack>_host, not the node's network
    (
        "stack-network-named-host-key",
        "overlay-only",
        svc("redis-1", REDIS, "networks: [host]", "networks:\n  host: {}\n"),
        [],
    ),
    # docker stack deploy ignores network_mode ("Ignoring unsupported options: network_mode")
    ("network-mode-ignored", "overlay-only", svc("redis-1", REDIS, "network_mode: host"), []),
    ("redis-overlay", "overlay-only", svc("redis-1", REDIS, "networks: [iklim-overlay]", EXT_HOST), []),
    # a DB member on the host network publishes in host mode: no ingress finding
    ("db-host-network", "db-host-mode", svc("mongodb-1", MONGO, "networks: [host]", EXT_HOST), []),
]

FW_DB = (
    'resource "hcloud_firewall" "db" {\n  name = "iklim-db"\n'
    '  rule {\n    direction = "in"\n    protocol = "tcp"\n    port = "2379"\n    source_ips = ["10.0.1.0/24"]\n  }\n'
    '  rule {\n    direction = "in"\n    protocol = "tcp"\n    port = "27018"\n    source_ips = ["0.0.0.0/0"]\n  }\n'
    "}\n"
)
FW_APP = 'resource "hcloud_firewall" "app" {\n  name = "iklim-app"\n}\n'
FIREWALL: list[tuple[str, dict[str, str], list[tuple[str, int]]]] = [
    # Mongo on the host network listens on 27017 and, by its command, 27018: both host-mode ports
    (
        "db-host-network-ports",
        {
            "fw.tf": FW_DB,
            **svc("mongodb-1", MONGO, "command: [mongod, --port, '27018']\nnetworks: [host]", EXT_HOST),
        },
        [("fw.tf", 13), ("stack.yml", 5)],
    ),
    (
        "grafana-host-network-no-rule",
        {"fw.tf": FW_APP, **svc("grafana", GRAFANA, "networks: [host]", EXT_HOST)},
        [("stack.yml", 4)],
    ),
    ("grafana-overlay", {"fw.tf": FW_APP, **svc("grafana", GRAFANA, "networks: [iklim-overlay]")}, []),
    # Redis on the host network gets overlay-only, never "add a firewall rule for 6379"
    ("redis-host-network-no-advice", {"fw.tf": FW_APP, **svc("redis-1", REDIS, "networks: [host]", EXT_HOST)}, []),
    (
        "expose-on-host-network",
        {"fw.tf": FW_APP, **svc("app", "nginx:1.27.3", "expose: ['8080']\nnetworks: [host]", EXT_HOST)},
        [("stack.yml", 5)],
    ),
    # issue 12: exporters on the host network open their metrics port like any listener
    (
        "redis-exporter-host",
        {"fw.tf": FW_APP, **svc("redis-exporter", REDIS_EXP, "networks: [host]", EXT_HOST)},
        [HOST4],
    ),
    (
        "mongodb-exporter-host",
        {"fw.tf": FW_APP, **svc("mongodb-exporter-1", "percona/mongodb_exporter:0.42.0", "networks: [host]", EXT_HOST)},
        [HOST4],
    ),
    (
        "swag-exporter-host",
        {
            "fw.tf": FW_APP,
            **svc("swag-exporter", "nginx/nginx-prometheus-exporter:1.3.0", "networks: [host]", EXT_HOST),
        },
        [HOST4],
    ),
    (
        "node-exporter-host",
        {
            "fw.tf": FW_APP,
            **svc("node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", "networks: [host]", EXT_HOST),
        },
        [HOST4],
    ),
    (
        "postgres-exporter-host",
        {
            "fw.tf": FW_APP,
            **svc("pg-exporter", "prometheuscommunity/postgres-exporter:v0.16.0", "networks: [host]", EXT_HOST),
        },
        [HOST4],
    ),
    (
        "exporter-moved-port",
        {
            "fw.tf": FW_APP,
            **svc("redis-exporter", REDIS_EXP, "command: ['--web.listen-address=:9999']\nnetworks: [host]", EXT_HOST),
        },
        [("stack.yml", 5)],
    ),
    ("redis-exporter-overlay", {"fw.tf": FW_APP, **svc("redis-exporter", REDIS_EXP, "networks: [iklim-overlay]")}, []),
]

# Kind 4: Redis, Sentinel and RabbitMQ publish nothing, in any mode.
INGRESS: list[tuple[str, dict[str, str], list[int]]] = [
    ("issue-rabbitmq-short", svc("rabbitmq-1", RABBIT, 'ports: ["15672:15672"]'), [4]),
    ("rabbitmq-long-default", svc("rabbitmq-1", RABBIT, "ports:\n  - target: 15672\n    published: 15672"), [5]),
    ("rabbitmq-host-address", svc("rabbitmq-1", RABBIT, "ports: ['127.0.0.1:15672:15672']"), [4]),
    ("rabbitmq-range", svc("rabbitmq-1", RABBIT, "ports: ['15670-15672:15670-15672/tcp']"), [4]),
    ("rabbitmq-target-only", svc("rabbitmq-1", RABBIT, "ports: ['15672']"), [4]),
    ("rabbitmq-published-only", svc("rabbitmq-1", RABBIT, "ports: [{published: 15672}]"), [4]),
    ("rabbitmq-integer", svc("rabbitmq-1", RABBIT, "ports: [5672]"), [4]),
    ("rabbitmq-two", svc("rabbitmq-1", RABBIT, "ports:\n  - 5672:5672\n  - {target: 15672, mode: ingress}"), [5, 6]),
    ("rabbitmq-host-mode", svc("rabbitmq-1", RABBIT, "ports: [{target: 5672, published: 5672, mode: host}]"), [4]),
    ("redis-ingress-long", svc("redis-1", REDIS, "ports: [{target: 6379, published: 6379, mode: ingress}]"), [4]),
    ("sentinel-short", svc(SENTINEL[0], SENTINEL[1], SENTINEL[2] + "ports: ['26379:26379/tcp']"), [5]),
    (
        "anchor",
        {
            "stack.yml": (
                f"x-p: &p\n  ports: ['15672:15672']\nservices:\n  rabbitmq-1:\n    <<: *p\n    image: {RABBIT}\n"
            )
        },
        [2],
    ),
    ("rabbitmq-none", svc("rabbitmq-1", RABBIT, "networks: [iklim-overlay]"), []),
]

# Kind 10: floating tags.
FLOATING = [
    "redis:alpine",
    "rabbitmq:management",
    "grafana/grafana:main",
    "redis:latest",
    "redis",
    "registry.example.com:5000/redis",
    "redis:7",
    "redis:7-alpine",
    "redis:7.4",
    "rabbitmq:3.13-management",
    "postgres:16",
    "traefik:v3",
    "redis:${REDIS_TAG}",
]
PINNED = [
    "redis:7.4.2-alpine",
    "rabbitmq:3.13.7-management-alpine",
    "registry.example.com:5000/redis:7.4.2",
    "quay.io/coreos/etcd:v3.5.17",
    "ghcr.io/iklimco/patroni:4.0.4-pg16",
    "postgres:16.4",
    "dpage/pgadmin4:8.12",
    "redis@sha256:" + "a" * 64,
    "redis:7.4@sha256:" + "b" * 64,
    "minio/minio:RELEASE.2024-10-02T17-50-41Z",
    "debian:bookworm-20240904",
]

# Kind 11: duplicate merge keys (Docker's go.yaml.in/yaml/v3 refuses them).
MERGES: list[tuple[str, str, int | None]] = [
    ("two-merges", "x-a: &a {image: redis:7.4.2}\nx-b: &b {init: true}\nservices:\n  r:\n    <<: *a\n    <<: *b\n", 6),
    ("merge-then-list", "x-a: &a {a: 1}\nx-b: &b {b: 1}\ns:\n  <<: *a\n  c: 1\n  <<: [*b]\n", 6),
    ("top-level", "x-a: &a {a: 1}\n<<: *a\n<<: *a\n", 3),
    ("flow-mapping", "x-a: &a {a: 1}\nm: {<<: *a, b: 2, <<: *a}\n", 2),
    ("quoted-and-merge", 'x-a: &a {a: 1}\nm:\n  "<<": 1\n  <<: *a\n', 4),
    ("plain-duplicate", "services:\n  a: {}\n  a: {}\n", 3),
    ("one-merge-list", "x-a: &a {a: 1}\nx-b: &b {b: 1}\nm:\n  <<: [*a, *b]\n", None),
    ("one-merge", "x-a: &a {a: 1}\nm:\n  <<: *a\n  b: 2\n", None),
]


@pytest.mark.parametrize(
    ("name", "rule", "files", "lines"), CONSTRAINTS + HOST_NETWORK, ids=[c[0] for c in CONSTRAINTS + HOST_NETWORK]
)
def test_stack_semantics(check_files: Runner, name: str, rule: str, files: dict[str, str], lines: list[int]) -> None:
    assert hits(check_files(files), rule) == lines


def test_rejected_constraint_says_docker_rejects_it(check_files: Runner) -> None:
    result = check_files(placed("etcd-1", ETCD, "'node.labels.type == \"db\"'"))
    (finding,) = [f for f in result.findings if f.rule == "swarm-constraint"]
    assert finding.severity == "error" and "Docker rejects" in finding.message and "quotes" in finding.message
    result = check_files(svc("etcd-1", ETCD, "deploy:\n  placement:\n    constraints: node.labels.type == db"))
    (finding,) = [f for f in result.findings if f.rule == "swarm-constraint"]
    assert "docker stack deploy rejects" in finding.message and "list of strings" in finding.message


@pytest.mark.parametrize(
    ("expr", "parsed"),
    [
        ("node.labels.type == db", ("node.labels.type", "==", "db")),
        ("node.labels.type!=DB", ("node.labels.type", "!=", "DB")),
        # '==' is looked for first, anywhere: swarmkit splits 'a != b == c' on '=='
        ("node.id != x == y", "key 'node.id != x' is invalid"),
        ("node.ip == 10.0.2.0/24", ("node.ip", "==", "10.0.2.0/24")),
        ("node.labels.zone == fsn1 dc", ("node.labels.zone", "==", "fsn1 dc")),
    ],
)
def test_parse_like_swarmkit(expr: str, parsed: object) -> None:
    assert parse(expr) == parsed


@pytest.mark.parametrize(("name", "files", "expected"), FIREWALL, ids=[c[0] for c in FIREWALL])
def test_host_network_in_firewall_rule(
    check_files: Runner, name: str, files: dict[str, str], expected: list[tuple[str, int]]
) -> None:
    result = check_files(files)
    assert sorted((f.path, f.line) for f in result.findings if f.rule == "firewall-host-ports") == expected


@pytest.mark.parametrize(("name", "files", "lines"), INGRESS, ids=[c[0] for c in INGRESS])
def test_overlay_only_publishes_nothing(
    check_files: Runner, name: str, files: dict[str, str], lines: list[int]
) -> None:
    assert hits(check_files(files), "overlay-only") == lines


@pytest.mark.parametrize("image", FLOATING)
def test_floating_tags(check_files: Runner, image: str) -> None:
    assert pin_problem(image) is not None
    assert hits(check_files(svc("a", image)), "image-pinned") == [3]


@pytest.mark.parametrize("image", PINNED)
def test_pinned_images(check_files: Runner, image: str) -> None:
    assert pin_problem(image) is None
    assert hits(check_files(svc("a", image)), "image-pinned") == []


@pytest.mark.parametrize(("name", "text", "line"), MERGES, ids=[c[0] for c in MERGES])
def test_duplicate_merge_keys(check_files: Runner, name: str, text: str, line: int | None) -> None:
    if line is None:
        load_yaml(text, "stack.yml", interp=True)
        assert hits(check_files({"compose.yml": text}), INPUT_RULE) == []
        return
    with pytest.raises(InputError, match="already defined") as caught:
        load_yaml(text, "stack.yml", interp=True)
    assert caught.value.line == line
    assert hits(check_files({"compose.yml": text}), INPUT_RULE) == [line]


def test_duplicate_merge_keys_in_a_config_file_are_read() -> None:
    """Config files are not read by Docker's YAML parser: two merge keys there are PyYAML's."""
    data = load_yaml("x-a: &a {a: 1}\nx-b: &b {b: 1}\nm:\n  <<: *a\n  <<: *b\n", "config.yaml")
    assert data["m"] == {"a": 1, "b": 1}


# Kind 12: constraints no node of the model satisfies (swarmkit's NodeMatches over the model's nodes).
MODEL = Path(__file__).resolve().parents[2] / "environments" / "prod.yaml"
APISIX = "apache/apisix:3.11.0-debian"
UNSATISFIABLE: list[tuple[str, dict[str, str], list[int]]] = [
    ("issue-unknown-host", placed("etcd-1", ETCD, "node.hostname == iklim-db-09"), [7]),
    (
        "issue-two-hosts",
        placed("etcd-1", ETCD, "node.hostname == iklim-db-01", "node.hostname == iklim-db-02"),
        [7],
    ),
    ("issue-glob", placed("etcd-1", ETCD, "node.hostname == iklim-db-*"), [7]),
    ("issue-service-label-db-ip", placed("apisix", APISIX, "node.labels.type == service", "node.ip == 10.0.2.11"), [7]),
    ("label-and-host-disagree", placed("etcd-1", ETCD, "node.labels.type == db", "node.hostname == iklim-app-01"), [7]),
    ("db-label-manager", placed("etcd-1", ETCD, "node.labels.type == db", "node.role == manager"), [7]),
    ("ip-outside-subnets", placed("apisix", APISIX, "node.ip == 10.0.3.0/24"), [7]),
    ("ip-malformed", placed("apisix", APISIX, "node.ip == not-an-ip"), [7]),
    ("label-nobody-has", placed("apisix", APISIX, "node.labels.zone == fsn1"), [7]),
    ("host-and-not-host", placed("etcd-1", ETCD, "node.hostname == iklim-db-01", "node.hostname != IKLIM-DB-01"), [7]),
    # satisfiable: case-insensitive values, subnets, roles, != and unknown attributes
    ("host-upper-case", placed("etcd-1", ETCD, "node.labels.type == DB", "node.hostname == IKLIM-DB-01"), []),
    ("service-ip", placed("apisix", APISIX, "node.labels.type == service", "node.ip == 10.0.1.11"), []),
    ("db-subnet", placed("etcd-1", ETCD, "node.labels.type == db", "node.ip == 10.0.2.0/24"), []),
    ("app-manager", placed("apisix", APISIX, "node.labels.type == service", "node.role == manager"), []),
    ("db-worker", placed("etcd-1", ETCD, "node.labels.type == db", "node.role != manager"), []),
    ("avoid-one", placed("etcd-2", ETCD, "node.labels.type == db", "node.hostname != iklim-db-01"), []),
    ("missing-label-not-equal", placed("apisix", APISIX, "node.labels.zone != fsn1"), []),
    ("unknown-to-model", placed("apisix", APISIX, "node.platform.arch == x86_64", "engine.labels.a == b"), []),
    ("unset-variable", placed("etcd-1", ETCD, "node.hostname == $DB_HOST"), []),
    ("no-constraints", svc("etcd-1", ETCD), []),
]


@pytest.mark.parametrize(("name", "files", "lines"), UNSATISFIABLE, ids=[c[0] for c in UNSATISFIABLE])
def test_constraints_no_model_node_satisfies(
    check_files: Runner, name: str, files: dict[str, str], lines: list[int]
) -> None:
    policy = from_model(Policy(), str(MODEL))
    found = [f for f in check_files(files, policy).findings if f.rule == "swarm-constraint"]
    assert sorted(f.line for f in found) == lines
    assert all(f.severity == "error" and "no node satisfies" in f.message for f in found)


@pytest.mark.parametrize(("name", "files", "lines"), UNSATISFIABLE, ids=[c[0] for c in UNSATISFIABLE])
def test_constraints_without_nodes_say_nothing_new(
    check_files: Runner, name: str, files: dict[str, str], lines: list[int]
) -> None:
    found = [f for f in check_files(files).findings if f.rule == "swarm-constraint"]
    assert not any("no node satisfies" in f.message for f in found)


def test_unsatisfiable_names_the_constraints(check_files: Runner) -> None:
    policy = from_model(Policy(), str(MODEL))
    result = check_files(placed("etcd-1", ETCD, "node.hostname == iklim-db-*"), policy)
    (finding,) = [f for f in result.findings if f.rule == "swarm-constraint"]
    assert "'node.hostname == iklim-db-*'" in finding.message and "does not glob" in finding.message


# Kind 13: what Docker's compose schema refuses in 'ports', and jobs as cluster members.
COMPOSE_SYNTAX: list[tuple[str, str, dict[str, str], list[int]]] = [
    ("issue-ports-string", "compose-syntax", svc("etcd-1", ETCD, 'ports: "2379:2379"'), [4]),
    ("issue-ports-mapping", "compose-syntax", svc("etcd-1", ETCD, "ports: {a: 1}"), [4]),
    ("issue-ports-null-item", "compose-syntax", svc("etcd-1", ETCD, "ports: [null]"), [4]),
    ("ports-integer", "compose-syntax", svc("app", "nginx:1.27.3", "ports: 8080"), [4]),
    ("ports-null", "compose-syntax", svc("app", "nginx:1.27.3", "ports:"), [4]),
    ("ports-nested-list", "compose-syntax", svc("app", "nginx:1.27.3", "ports: [[80, 81]]"), [4]),
    ("ports-boolean-item", "compose-syntax", svc("app", "nginx:1.27.3", "ports:\n  - '80:80'\n  - true"), [6]),
    ("ports-unknown-long-key", "compose-syntax", svc("app", "nginx:1.27.3", "ports: [{target: 80, host: x}]"), [4]),
    ("ports-short-and-long", "compose-syntax", svc("app", "nginx:1.27.3", "ports: ['80:80', 443, {target: 8080}]"), []),
    ("ports-empty-list", "compose-syntax", svc("app", "nginx:1.27.3", "ports: []"), []),
    ("no-ports", "compose-syntax", svc("app", "nginx:1.27.3"), []),
    ("issue-etcd-replicated-job", "replica-count", svc("etcd-1", ETCD, "deploy: {mode: replicated-job}"), [4]),
    ("issue-patroni-global-job", "replica-count", svc("patroni-1", PATRONI, "deploy:\n  mode: global-job"), [5]),
    ("mongodb-job", "replica-count", svc("mongodb-1", MONGO, "deploy: {mode: replicated-job, replicas: 1}"), [4]),
    ("redis-job", "replica-count", svc("redis-1", REDIS, "deploy: {mode: global-job}"), [4]),
    ("rabbitmq-job", "replica-count", svc("rabbitmq-1", RABBIT, "deploy: {mode: replicated-job}"), [4]),
    ("vault-job", "replica-count", svc("vault-1", "hashicorp/vault:1.18.3", "deploy: {mode: replicated-job}"), [4]),
    ("sentinel-job", "replica-count", svc(SENTINEL[0], SENTINEL[1], SENTINEL[2] + "deploy: {mode: global-job}"), [5]),
    # a companion job (a backup, a one-off client) may run to completion
    ("job-not-a-member", "replica-count", svc("seed", "busybox:1.37.0", "deploy: {mode: replicated-job}"), []),
]


@pytest.mark.parametrize(("name", "rule", "files", "lines"), COMPOSE_SYNTAX, ids=[c[0] for c in COMPOSE_SYNTAX])
def test_compose_syntax_and_jobs(
    check_files: Runner, name: str, rule: str, files: dict[str, str], lines: list[int]
) -> None:
    found = [f for f in check_files(files).findings if f.rule == rule]
    assert sorted(f.line for f in found) == lines
    assert all(f.severity == "error" for f in found)
    if rule == "compose-syntax":
        assert all("docker stack deploy rejects the file" in f.message for f in found)
    else:
        assert all("never a job" in f.message for f in found)
