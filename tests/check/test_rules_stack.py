"""Table tests for the compose-file rules: a bad and a good snippet per rule, in many YAML forms."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from iklim.check.engine import Result

Runner = Callable[..., Result]


def hits(result: Result, rule: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule)


DB = '["node.labels.type == db", "node.hostname == iklim-db-01"]'
ETCD_HC = "services:\n  etcd-2:\n    image: quay.io/coreos/etcd:v3.5.17\n    healthcheck:\n      test: "
SVC = '["node.labels.type == service", "node.hostname == iklim-app-01"]'

CASES: list[tuple[str, str, dict[str, str], list[int]]] = [
    # stack-split
    (
        "vault-in-infra",
        "stack-split",
        {"stack.yml": "services:\n  vault-1:\n    image: hashicorp/vault:1.18.3\n  redis: {image: redis:7.4.2}\n"},
        [2],
    ),
    (
        "non-vault-in-vault",
        "stack-split",
        {
            "docker-stack-vault.yml": (
                "services:\n  vault-1: {image: hashicorp/vault:1.18.3}\n  redis: {image: redis:7}\n"
            )
        },
        [3],
    ),
    ("vault-only", "stack-split", {"docker-stack-vault.yml": "services:\n  vault-1: {image: hashicorp/vault:1}\n"}, []),
    (
        "infra-missing-components",
        "stack-split",
        {
            "docker-stack-infra_db-prod.yml": (
                "version: '3.9'\nservices:\n  apisix: {image: apache/apisix:3.11.0-debian}\n"
            )
        },
        [2] * 12,
    ),
    # db-placement
    (
        "db-on-service",
        "db-placement",
        {
            "stack.yml": (
                "services:\n  patroni-1:\n    deploy:\n      placement:\n        constraints:\n"
                "          - node.labels.type == service\n"
            )
        },
        [6, 6],
    ),
    ("db-unpinned", "db-placement", {"stack.yml": "services:\n  mongodb-1:\n    image: mongo:7.0.16\n"}, [2]),
    (
        "db-no-spaces-upper-case",
        "db-placement",
        {"stack.yml": ("services:\n  etcd-1:\n    deploy: {placement: {constraints: ['node.labels.type==DB']}}\n")},
        [],
    ),
    (
        "db-pinned",
        "db-placement",
        {"stack.yml": f"services:\n  etcd-1:\n    deploy:\n      placement:\n        constraints: {DB}\n"},
        [],
    ),
    (
        "db-anchor",
        "db-placement",
        {
            "stack.yml": (
                "x-app: &app\n  placement:\n    constraints: [node.hostname == iklim-app-02]\n"
                "services:\n  patroni-1:\n    deploy:\n      <<: *app\n"
            )
        },
        [3, 3],
    ),
    # service-placement
    (
        "redis-on-db",
        "service-placement",
        {
            "stack.yml": (
                "services:\n  redis-1:\n    deploy:\n      placement:\n        constraints:\n"
                "          - node.labels.type == service\n          - node.hostname == iklim-db-01\n"
            )
        },
        [7],
    ),
    (
        "swag-no-label",
        "service-placement",
        {
            "stack.yml": (
                "services:\n  swag:\n    image: lscr.io/linuxserver/swag:3.1.0\n    deploy:\n      replicas: 1\n"
            )
        },
        [4],
    ),
    (
        "grafana-ok",
        "service-placement",
        {"stack.yml": f"services:\n  grafana:\n    deploy:\n      placement:\n        constraints: {SVC}\n"},
        [],
    ),
    ("by-image", "service-placement", {"stack.yml": "services:\n  cache:\n    image: redis:7.4.2-alpine\n"}, [2]),
    # overlay-only
    ("redis-short-port", "overlay-only", {"stack.yml": "services:\n  redis-1:\n    ports:\n      - 6379:6379\n"}, [4]),
    (
        "sentinel-long-port",
        "overlay-only",
        {
            "stack.yml": (
                "services:\n  redis-sentinel-1:\n    ports:\n      - target: 26379\n        published: 26379\n"
            )
        },
        [4],
    ),
    (
        "rabbitmq-host",
        "overlay-only",
        {"stack.yml": ("services:\n  rabbitmq-1:\n    ports: [{target: 5672, published: 5672, mode: host}]\n")},
        [3],
    ),
    (
        "rabbitmq-ingress-published",
        "overlay-only",
        {"stack.yml": ("services:\n  rabbitmq-1:\n    ports: [{target: 5672, published: 5672}]\n")},
        [3],
    ),
    ("redis-none", "overlay-only", {"stack.yml": "services:\n  redis-1:\n    networks: [iklim-overlay]\n"}, []),
    # db-host-mode
    ("db-short", "db-host-mode", {"stack.yml": 'services:\n  mongodb-1:\n    ports: ["27017:27017"]\n'}, [3]),
    (
        "db-long-default",
        "db-host-mode",
        {
            "stack.yml": (
                "services:\n  patroni-1:\n    ports:\n      - target: 5432\n        published: ${PG_PORT:-5432}\n"
            )
        },
        [4],
    ),
    (
        "db-host",
        "db-host-mode",
        {"stack.yml": ("services:\n  etcd-1:\n    ports:\n      - {target: 2379, published: 2379, mode: host}\n")},
        [],
    ),
    # replica-count
    ("apisix-global", "replica-count", {"stack.yml": "services:\n  apisix:\n    deploy:\n      mode: global\n"}, [4]),
    ("apisix-2", "replica-count", {"stack.yml": "services:\n  apisix:\n    deploy: {replicas: 2}\n"}, [3]),
    ("apisix-3", "replica-count", {"stack.yml": "services:\n  apisix:\n    deploy: {replicas: '3'}\n"}, []),
    ("etcd-two", "replica-count", {"stack.yml": "services:\n  etcd-1: {}\n  etcd-2: {}\n"}, [2]),
    (
        "etcd-member-2",
        "replica-count",
        {"stack.yml": ("services:\n  etcd-1: {}\n  etcd-2:\n    deploy:\n      replicas: 2\n")},
        [5],
    ),
    ("prometheus-one", "replica-count", {"stack.yml": "services:\n  prometheus:\n    deploy: {replicas: 1}\n"}, []),
    # prometheus-volume
    (
        "prom-davfs-bind",
        "prometheus-volume",
        {"stack.yml": ("services:\n  prometheus:\n    volumes:\n      - /mnt/storagebox/prometheus:/prometheus\n")},
        [4],
    ),
    (
        "prom-driver-opts",
        "prometheus-volume",
        {
            "stack.yml": (
                "services:\n  prometheus:\n    volumes: [prom:/prometheus]\nvolumes:\n  prom:\n    driver_opts:\n"
                "      type: davfs\n"
            )
        },
        [7],
    ),
    ("prom-none", "prometheus-volume", {"stack.yml": "services:\n  prometheus:\n    image: prom/prometheus:v2\n"}, [2]),
    (
        "prom-long-local",
        "prometheus-volume",
        {
            "stack.yml": (
                "services:\n  prometheus:\n    command: ['--storage.tsdb.path=/data']\n    volumes:\n"
                "      - {type: volume, source: prom, target: /data}\nvolumes:\n  prom: {}\n"
            )
        },
        [],
    ),
    # grafana-storage
    (
        "grafana-named",
        "grafana-storage",
        {"stack.yml": ("services:\n  grafana:\n    volumes:\n      - grafana-data:/var/lib/grafana\n")},
        [4],
    ),
    (
        "grafana-env",
        "grafana-storage",
        {"stack.yml": ("services:\n  grafana:\n    volumes:\n      - ${GRAFANA_DATA_DIR}:/var/lib/grafana\n")},
        [],
    ),
    (
        "grafana-default",
        "grafana-storage",
        {
            "stack.yml": (
                "services:\n  grafana:\n    volumes:\n      - type: bind\n"
                "        source: ${GRAFANA_DATA_DIR:-/mnt/storagebox/grafana/data}\n        target: /var/lib/grafana\n"
            )
        },
        [],
    ),
    (
        "grafana-other-bind",
        "grafana-storage",
        {"stack.yml": ("services:\n  grafana:\n    volumes: ['/srv/grafana:/var/lib/grafana']\n")},
        [3],
    ),
    # literal-secret
    (
        "secret-mapping",
        "literal-secret",
        {"stack.yml": ("services:\n  rabbitmq-1:\n    environment:\n      RABBITMQ_ERLANG_COOKIE: s3cr3t\n")},
        [4],
    ),
    (
        "secret-list",
        "literal-secret",
        {"stack.yml": ("services:\n  patroni-1:\n    environment:\n      - PATRONI_SUPERUSER_PASSWORD=hunter2\n")},
        [4],
    ),
    (
        "secret-anchor",
        "literal-secret",
        {
            "stack.yml": (
                "x-env: &env\n  VAULT_TOKEN: root\nservices:\n  vault-1:\n    environment:\n      <<: *env\n"
                "      OTHER: 1\n"
            )
        },
        [2],
    ),
    (
        "secret-default",
        "literal-secret",
        {
            "stack.yml": (
                "services:\n  mongodb-1:\n    environment:\n      MONGO_INITDB_ROOT_PASSWORD: ${MONGO_PW:-changeme}\n"
            )
        },
        [4],
    ),
    (
        "secret-file",
        "literal-secret",
        {
            "stack.yml": (
                "services:\n  mongodb-1:\n    environment:\n      MONGO_INITDB_ROOT_PASSWORD_FILE: /run/secrets/mongo\n"
                "      GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/x\n      API_KEY: ${API_KEY}\n"
                "      ETCD_INITIAL_CLUSTER_TOKEN: iklim-etcd-prod\n"
            )
        },
        [],
    ),
    # warnings
    (
        "image-latest",
        "image-pinned",
        {"stack.yml": "services:\n  a:\n    image: redis:latest\n  b:\n    image: x\n"},
        [3, 5],
    ),
    ("image-tagged", "image-pinned", {"stack.yml": "services:\n  a:\n    image: registry:5000/redis:7.4.2\n"}, []),
    ("healthcheck", "healthcheck", {"stack.yml": "services:\n  a: {image: x:1}\n  b:\n    healthcheck: {}\n"}, [2]),
    (
        "start-first",
        "stateful-update",
        {"stack.yml": ("services:\n  etcd-1:\n    deploy:\n      update_config:\n        order: start-first\n")},
        [5],
    ),
    (
        "stop-first",
        "stateful-update",
        {"stack.yml": ("services:\n  etcd-1:\n    deploy: {update_config: {order: stop-first}}\n")},
        [],
    ),
    ("spread-replicas", "spread", {"stack.yml": "services:\n  apisix:\n    deploy:\n      replicas: 3\n"}, [4]),
    (
        "spread-same-node",
        "spread",
        {
            "stack.yml": (
                "services:\n  etcd-1:\n    deploy: {placement: {constraints: [node.hostname == n1]}}\n"
                "  etcd-2:\n    deploy: {placement: {constraints: [node.hostname == n1]}}\n"
            )
        },
        [4],
    ),
    # healthcheck-quorum
    (
        "etcd-health-needs-quorum",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD", "etcdctl", "endpoint", "health"]' + "\n"},
        [5],
    ),
    (
        "etcd-health-cluster",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD-SHELL", "etcdctl endpoint health --cluster"]' + "\n"},
        [5],
    ),
    (
        "etcd-member-list",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD", "etcdctl", "member", "list"]' + "\n"},
        [5],
    ),
    (
        "etcd-client-port-status",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2379", "endpoint", "status"]' + "\n"},
        [5],
    ),
    ("etcd-default-endpoint", "healthcheck-quorum", {"stack.yml": ETCD_HC + '"etcdctl endpoint status"' + "\n"}, [5]),
    (
        "etcd-curl-client-health",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD-SHELL", "curl -f http://127.0.0.1:2379/health"]' + "\n"},
        [5],
    ),
    (
        "etcd-env-endpoints-peer",
        "healthcheck-quorum",
        {
            "stack.yml": ETCD_HC
            + '["CMD", "env", "ETCDCTL_ENDPOINTS=http://127.0.0.1:2380", "etcdctl", "endpoint", "status"]'
            + "\n"
        },
        [],
    ),
    (
        "etcd-own-peer-status",
        "healthcheck-quorum",
        {"stack.yml": ETCD_HC + '["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2380", "endpoint", "status"]' + "\n"},
        [],
    ),
    (
        "etcd-peers-by-address-client-status",
        "healthcheck-quorum",
        {
            "stack.yml": ETCD_HC
            + '["CMD", "etcdctl", "--endpoints=https://127.0.0.1:2379", "endpoint", "status"]\n'
            + "    environment:\n      ETCD_INITIAL_CLUSTER: a=https://10.0.2.11:2380,b=https://10.0.2.12:2380\n"
        },
        [],
    ),
    (
        "etcd-one-peer-by-name-client-status",
        "healthcheck-quorum",
        {
            "stack.yml": ETCD_HC
            + '["CMD", "etcdctl", "--endpoints=https://127.0.0.1:2379", "endpoint", "status"]\n'
            + "    environment:\n      ETCD_INITIAL_CLUSTER: a=https://10.0.2.11:2380,b=https://etcd-02:2380\n"
        },
        [5],
    ),
    (
        "etcd-peers-by-address-flag",
        "healthcheck-quorum",
        {
            "stack.yml": ETCD_HC
            + '["CMD", "etcdctl", "endpoint", "health"]\n'
            + '    command: ["etcd", "--initial-cluster=a=https://[fd00::1]:2380,b=https://10.0.2.12:2380"]\n'
        },
        [],
    ),
    (
        "etcd-moved-peer-port",
        "healthcheck-quorum",
        {
            "stack.yml": ETCD_HC
            + '"etcdctl --endpoints=http://127.0.0.1:2480 endpoint status"\n'
            + "    environment:\n      ETCD_LISTEN_PEER_URLS: http://0.0.0.0:2480\n"
        },
        [],
    ),
]


@pytest.mark.parametrize(("name", "rule", "files", "lines"), CASES, ids=[c[0] for c in CASES])
def test_rule_table(check_files: Runner, name: str, rule: str, files: dict[str, str], lines: list[int]) -> None:
    assert hits(check_files(files), rule) == lines
