"""Components are recognised by what they run (image, command, mounted config), never by a
name substring; names the model chose (the overlay network's, node names) are not policy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iklim.check.engine import Result
from iklim.check.policy import Policy
from iklim.check.recognise import kind_of, recognise, repository
from iklim.check.yamlload import load_yaml
from iklim.cli import cli

Runner = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]
SVC = "deploy: {placement: {constraints: [node.labels.type == service]}}"
DB = "deploy: {placement: {constraints: [node.labels.type == db]}}"


def spec(text: str) -> Any:
    return load_yaml(text, "spec.yml", interp=True)


# (case, service YAML, expected kind, expected role)
RECOGNISED: list[tuple[str, str, str | None, str]] = [
    ("etcd-quay", "image: quay.io/coreos/etcd:v3.5.17", "etcd", "member"),
    ("etcd-bitnami", "image: bitnami/etcd:3.5.17", "etcd", "member"),
    ("etcd-digest", "image: gcr.io/etcd-development/etcd@sha256:" + "a" * 64, "etcd", "member"),
    ("spilo", "image: ghcr.io/zalando/spilo-16:3.3-p1", "patroni", "member"),
    ("spilo-zalan", "image: registry.opensource.zalan.do/acid/spilo-15:3.0-p1", "patroni", "member"),
    ("postgres", "image: postgres:16.4-alpine", "patroni", "member"),
    ("patroni-registry-port", "image: registry.local:5000/team/patroni:4.0.4", "patroni", "member"),
    ("mongo", "image: mongo:7.0.16", "mongodb", "member"),
    ("mongo-library", "image: docker.io/library/mongo:7.0.16", "mongodb", "member"),
    ("mongodb-bitnami", "image: bitnami/mongodb:7.0.15", "mongodb", "member"),
    ("mongodb-community", "image: mongodb/mongodb-community-server:7.0.14-ubi8", "mongodb", "member"),
    ("redis", "image: redis:7.4.2-alpine", "redis", "member"),
    ("valkey", "image: valkey/valkey:8.0.1", "redis", "member"),
    ("sentinel-command", "image: redis:7.4.2\ncommand: [redis-sentinel, /data/sentinel.conf]", "sentinel", "member"),
    ("sentinel-flag", "image: valkey/valkey:8.0.1\ncommand: redis-server /s.conf --sentinel", "sentinel", "member"),
    (
        "sentinel-script",
        "image: redis:7.4.2\ncommand: [sh, -c, 'cp /etc/s.conf /data/s.conf; exec redis-sentinel /data/s.conf']",
        "sentinel",
        "member",
    ),
    (
        "sentinel-config",
        "image: redis:7.4.2\nconfigs: [{source: s, target: /usr/local/etc/redis/sentinel.conf}]",
        "sentinel",
        "member",
    ),
    ("sentinel-bitnami", "image: bitnami/redis-sentinel:7.4.1", "sentinel", "member"),
    ("rabbitmq", "image: rabbitmq:3.13.7-management-alpine", "rabbitmq", "member"),
    ("vault", "image: hashicorp/vault:1.18.3", "vault", "member"),
    ("openbao", "image: quay.io/openbao/openbao:2.1.0", "vault", "member"),
    ("apisix", "image: apache/apisix:3.11.0-debian", "apisix", "member"),
    ("dashboard", "image: apache/apisix-dashboard:3.0.1-alpine", "dashboard", "member"),
    ("swag", "image: lscr.io/linuxserver/swag:3.1.0", "swag", "member"),
    ("prometheus", "image: quay.io/prometheus/prometheus:v2.55.1", "prometheus", "member"),
    ("grafana-oss", "image: grafana/grafana-oss:11.4.0", "grafana", "member"),
    ("cert", "image: alpine:3.21.0\nvolumes: ['/mnt/storagebox/certs:/certs']", "cert", "member"),
    # companions: never members
    ("pgadmin", "image: dpage/pgadmin4:8.12", None, "companion"),
    ("vaultwarden", "image: vaultwarden/server:1.32.1", None, "companion"),
    ("redis-commander", "image: rediscommander/redis-commander:0.9.0", None, "companion"),
    ("redis-exporter", "image: oliver006/redis_exporter:v1.67.0", None, "companion"),
    ("pg-exporter", "image: quay.io/prometheuscommunity/postgres-exporter:v0.16.0", None, "companion"),
    ("mongo-express", "image: mongo-express:1.0.2", None, "companion"),
    ("pg-backup", "image: prodrigestivill/postgres-backup-local:16", None, "companion"),
    (
        "pg-dump-job",
        "image: postgres:16.4\n"
        "command: [sh, -c, 'while true; do pg_dump -h db -U postgres app > /b/a.sql; sleep 86400; done']",
        None,
        "companion",
    ),
    (
        "pg-dump-entrypoint-shell",
        "image: postgres:16.4\nentrypoint: [/bin/sh, -c]\ncommand: ['while :; do pg_dumpall -h db > /b/all.sql; done']",
        None,
        "companion",
    ),
    ("sentinel-options-only", "image: redis:7.4.2\ncommand: [/s.conf, --sentinel]", "sentinel", "member"),
    ("sentinel-flags-only", "image: redis:7.4.2\ncommand: [--port, '26379', --sentinel]", "sentinel", "member"),
    ("etcd-snapshot", "image: bitnami/etcd:3.5.17\ncommand: [etcdctl, snapshot, save, /b/s.db]", None, "companion"),
    ("vault-agent", "image: hashicorp/vault:1.18.3\ncommand: [vault, agent, -config=/a.hcl]", None, "companion"),
    (
        "mongo-init",
        "image: mongo:7.0.16\nentrypoint: [mongosh, --host, mongodb-1, --eval, 'rs.initiate()']",
        None,
        "companion",
    ),
    ("redis-cli-job", "image: redis:7.4.2\ncommand: redis-cli -h redis-1 ping", None, "companion"),
    # recognised by command or mounted config when the image says nothing
    ("custom-patroni-command", "image: ghcr.io/acme/db:1.2\ncommand: [patroni, /etc/p.yml]", "patroni", "member"),
    (
        "custom-mongod",
        "image: ghcr.io/acme/store:1.2\ncommand: [sh, -c, 'exec mongod --replSet rs0']",
        "mongodb",
        "member",
    ),
    (
        "custom-patroni-config",
        "image: ghcr.io/acme/db:1.2\nconfigs: [{source: p, target: /etc/patroni/patroni.yml}]",
        "patroni",
        "member",
    ),
    ("custom-vault-server", "image: ghcr.io/acme/secrets:1\ncommand: [bao, server, -config=/c.hcl]", "vault", "member"),
    # not seed components
    ("nginx", "image: nginx:1.27.3", None, "unknown"),
    ("kafka", "image: confluentinc/cp-kafka:7.7.1", None, "unknown"),
    ("alpine-no-certs", "image: alpine:3.21.0\ncommand: [sleep, infinity]", None, "unknown"),
    ("grafana-loki", "image: grafana/loki:3.3.2", None, "unknown"),
    ("apisix-ingress", "image: apache/apisix-ingress-controller:1.8.0", None, "companion"),
]


@pytest.mark.parametrize(("text", "kind", "role"), [c[1:] for c in RECOGNISED], ids=[c[0] for c in RECOGNISED])
def test_recognised_by_what_it_runs(text: str, kind: str | None, role: str) -> None:
    found = recognise(spec(text))
    assert (found.kind, found.role) == (kind, role), found


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("vault-ui", "image: nginx:1.27.3", None),  # a name containing a component's is no member
        ("vault-ui", "{}", None),
        ("vaultwarden", "image: vaultwarden/server:1.32.1", None),
        ("pgadmin", "image: dpage/pgadmin4:8.12", None),
        ("redis-commander", "{}", None),
        ("etcd-1", "image: nginx:1.27.3", None),  # with an image, the name is never read
        ("cache", "image: redis:7.4.2", "redis"),
        ("redis-1", "{}", "redis"),  # a snippet without an image: its whole name
        ("redis-sentinel-2", "{}", "sentinel"),
        ("postgres", "{}", "patroni"),
        ("apisix-dashboard", "{}", "dashboard"),
        ("db", "image: ${DB_IMAGE}", None),
    ],
)
def test_name_is_read_only_for_snippets_without_an_image(name: str, text: str, kind: str | None) -> None:
    assert kind_of(name, spec(text)) == kind


def test_repository_strips_registry_tag_and_digest() -> None:
    assert repository("ghcr.io/zalando/spilo-16:3.3-p1") == "zalando/spilo-16"
    assert repository("localhost:5000/etcd:v3@sha256:00") == "etcd"
    assert repository("library/redis") == "redis"
    assert repository("${IMAGE}") is None


def hits(result: Result, rule: str) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == rule)


def rules_hit(result: Result) -> set[str]:
    return {f.rule for f in result.findings if f.severity.value == "error"}


COMPANIONS = (
    "services:\n"
    f"  pgadmin:\n    image: dpage/pgadmin4:8.12\n    {SVC}\n"
    f"  vaultwarden:\n    image: vaultwarden/server:1.32.1\n    {SVC}\n"
    f"  redis-commander:\n    image: rediscommander/redis-commander:0.9.0\n    {SVC}\n"
    f"  postgres-exporter:\n    image: prometheuscommunity/postgres-exporter:v0.16.0\n    {SVC}\n"
)


def test_companions_on_service_nodes_have_no_db_or_vault_findings(check_files: Runner) -> None:
    result = check_files({"stack.yml": COMPANIONS})
    assert rules_hit(result) == set(), [str(f.message) for f in result.findings]


def test_vault_ui_in_the_vault_stack_is_not_a_member(check_files: Runner) -> None:
    members = "".join(
        f"  vault-{i}:\n    image: hashicorp/vault:1.18.3\n"
        f"    deploy: {{placement: {{constraints: [node.labels.type == service, node.hostname == iklim-app-0{i}]}}}}\n"
        for i in (1, 2, 3)
    )
    stack = f"services:\n{members}  vault-ui:\n    image: nginx:1.27.3\n    {SVC}\n"
    result = check_files({"docker-stack-vault.yml": stack})
    assert hits(result, "replica-count") == [] and hits(result, "stack-split") == []


def test_a_vaultwarden_stack_is_not_the_vault_stack(check_files: Runner) -> None:
    stack = f"services:\n  vaultwarden:\n    image: vaultwarden/server:1.32.1\n    {SVC}\n"
    stack += "  cache:\n    image: redis:7.4.2\n"
    assert hits(check_files({"docker-compose.vaultwarden.yml": stack}), "stack-split") == []


@pytest.mark.parametrize(
    ("name", "service", "lines"),
    [
        ("kafka-on-db", f"  kafka:\n    image: confluentinc/cp-kafka:7.7.1\n    {DB}\n", [4, 4]),
        (
            "kafka-on-db-host",
            "  kafka:\n    image: confluentinc/cp-kafka:7.7.1\n"
            "    deploy: {placement: {constraints: [node.hostname == iklim-db-02]}}\n",
            [4, 4],
        ),
        ("kafka-unplaced", "  kafka:\n    image: confluentinc/cp-kafka:7.7.1\n", [2]),
        (
            "exporter-on-db",
            f"  pg-metrics:\n    image: prometheuscommunity/postgres-exporter:v0.16.0\n    {DB}\n",
            [4, 4],
        ),
        ("pgadmin-on-db", f"  pgadmin:\n    image: dpage/pgadmin4:8.12\n    {DB}\n", [4, 4]),
        ("backup-job-on-db", f"  backup:\n    image: postgres:16.4\n    command: [pg_dumpall]\n    {DB}\n", [5, 5]),
        ("kafka-on-service", f"  kafka:\n    image: confluentinc/cp-kafka:7.7.1\n    {SVC}\n", []),
    ],
)
def test_every_non_db_service_stays_off_db_nodes(
    check_files: Runner, name: str, service: str, lines: list[int]
) -> None:
    result = check_files({"stack.yml": "services:\n" + service})
    assert hits(result, "service-placement") == lines
    assert hits(result, "db-placement") == []


def test_db_components_by_image_need_db_nodes(check_files: Runner) -> None:
    stack = f"services:\n  main:\n    image: ghcr.io/zalando/spilo-16:3.3-p1\n    {SVC}\n"
    result = check_files({"stack.yml": stack})
    assert hits(result, "db-placement") == [4, 4] and hits(result, "service-placement") == []


def test_db_nodes_are_the_models_nodes(check_files: Runner) -> None:
    stack = (
        "services:\n  pg:\n    image: postgres:16.4\n"
        "    deploy: {placement: {constraints: [node.hostname == store-1]}}\n"
    )
    policy = Policy(db_hosts=("store-1",), app_hosts=("web-1",))
    assert hits(check_files({"stack.yml": stack}, policy), "db-placement") == []
    assert hits(check_files({"stack.yml": stack}), "db-placement") == [4]


def test_sentinel_and_redis_counted_apart(check_files: Runner) -> None:
    redis = "".join(f"  cache-{i}:\n    image: redis:7.4.2\n    command: [redis-server]\n" for i in (1, 2, 3))
    sentinel = "".join(
        f"  watch-{i}:\n    image: redis:7.4.2\n    command: [redis-server, /s.conf, --sentinel]\n" for i in (1, 2, 3)
    )
    policy = Policy(members={"redis": 3, "sentinel": 3})
    assert hits(check_files({"stack.yml": "services:\n" + redis + sentinel}, policy), "replica-count") == []


ETCD = "".join(
    f"  kv-{i}:\n    image: quay.io/coreos/etcd:v3.5.17\n    networks: {{NET: {{aliases: [etcd-0{i}]}}}}\n"
    for i in (1, 2, 3)
)


@pytest.mark.parametrize(
    ("name", "apisix_net", "etcd_net", "top", "lines"),
    [
        ("same-renamed", "iklimco-net", "iklimco-net", "", []),
        ("apart", "front", "back", "", [4, 4, 7, 10]),
        (
            "external-name",
            "edge",
            "core",
            "networks:\n  edge: {external: true, name: core}\n  core: {external: true}\n",
            [],
        ),
    ],
)
def test_etcd_aliases_on_a_network_shared_with_apisix(
    check_files: Runner, name: str, apisix_net: str, etcd_net: str, top: str, lines: list[int]
) -> None:
    stack = (
        "services:\n"
        + ETCD.replace("NET", etcd_net)
        + f"  gateway:\n    image: apache/apisix:3.11.0-debian\n    networks: [{apisix_net}]\n"
        + top
    )
    assert hits(check_files({"stack.yml": stack}), "etcd-aliases") == lines


def test_rabbitmq_site_found_by_its_upstream_not_its_file_name(check_files: Runner) -> None:
    site = "server {\n  listen 443 ssl;\n  location / {\n    proxy_pass http://mq:15673;\n  }\n}\n"
    stack = "services:\n  mq:\n    image: rabbitmq:3.13.7-management-alpine\n"
    assert hits(check_files({"config/swag/admin.conf": site, "stack.yml": stack}), "rabbitmq-mgmt-ip") == [3]
    other = "server {\n  listen 443 ssl;\n  location / {\n    proxy_pass http://grafana:3000;\n  }\n}\n"
    assert hits(check_files({"config/swag/rabbitmq.subdomain.conf": other}), "rabbitmq-mgmt-ip") == []


def test_rendered_tree_with_renamed_overlay_checks_clean(tmp_path: Path) -> None:
    """The model says ``iklim-overlay``; the stacks call it ``iklimco-net``: still correct."""
    assert (REPO / "docker-stack-infra_db-prod.yml").is_file(), "render the tree first"
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml", "init-infra-prod.sh"):
        text = (REPO / name).read_text().replace("iklim-overlay", "iklimco-net")
        assert "iklimco-net" in text or name.endswith(".sh")
        (tmp_path / name).write_text(text)
    for folder in ("config", "environments", "init", "terraform"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, tmp_path / folder)
    result = CliRunner().invoke(cli, ["check", str(tmp_path), "--format", "json"])
    assert json.loads(result.stdout)["findings"] == [] and result.exit_code == 0
