"""The rendered tree: byte-stable, atomic, drift-checked, and holding the seed's boundary."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.schema import Environment
from iklim.render.stacks import STACK_FILES
from iklim.render.tree import Tree, render_tree
from iklim.render.writer import diff_tree, write_tree

REPO = Path(__file__).resolve().parent.parent
DB_SERVICES = ("etcd", "patroni", "mongodb")
STATEFUL = ("etcd", "patroni", "mongodb", "redis", "redis-sentinel", "rabbitmq", "vault")


def stack(tree: Tree, which: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(tree[STACK_FILES[which]].content)
    return data


def family(name: str) -> str:
    return re.sub(r"-\d+$", "", name)


def test_same_model_gives_same_bytes(prod_env: Environment, prod_tree: Tree) -> None:
    assert render_tree(prod_env) == prod_tree


def test_committed_tree_equals_render(prod_tree: Tree) -> None:
    assert diff_tree(REPO, prod_tree) == ""


def test_render_check_reports_drift_with_a_diff(rendered_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    shutil.copytree(rendered_dir, root)
    shutil.copytree(REPO / "environments", root / "environments")
    runner = CliRunner()
    clean = runner.invoke(cli, ["render", "--check", "--env", str(root / "environments/prod.yaml"), "--out", str(root)])
    assert clean.exit_code == 0, clean.output
    site = root / "config/swag/rabbitmq.subdomain.conf"
    site.write_text(site.read_text().replace("    deny all;\n", ""))
    (root / "config/stray.conf").write_text("x\n")
    drift = runner.invoke(cli, ["render", "--check", "--env", str(root / "environments/prod.yaml"), "--out", str(root)])
    assert drift.exit_code == 1
    assert "--- a/config/swag/rabbitmq.subdomain.conf" in drift.output
    assert "+    deny all;" in drift.output
    assert "stale config/stray.conf" in drift.output
    assert "deny all" not in site.read_text(), "--check must not write"


def test_render_writes_only_what_changed_and_leaves_no_temp_files(prod_tree: Tree, tmp_path: Path) -> None:
    assert len(write_tree(tmp_path, prod_tree)) == len(prod_tree)
    assert write_tree(tmp_path, prod_tree) == []
    (tmp_path / "docker-stack-vault.yml").write_text("changed\n")
    assert write_tree(tmp_path, prod_tree) == ["docker-stack-vault.yml"]
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]
    assert os.access(tmp_path / "init-infra-prod.sh", os.X_OK)


def test_superseded_files_are_never_rendered(prod_tree: Tree) -> None:
    assert "docker-stack-infra.prod.yml" not in prod_tree and "docker-stack-db.prod.yml" not in prod_tree
    for rel, rendered in prod_tree.items():
        assert b"/opt/iklimco/vault/data" not in rendered.content, rel
        assert b"docker-stack-infra.prod.yml" not in rendered.content, rel


def test_infra_stack_has_every_seed_component_and_no_vault(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    families = {family(n) for n in services}
    assert families == {
        "etcd",
        "patroni",
        "mongodb",
        "redis",
        "redis-sentinel",
        "rabbitmq",
        "apisix",
        "apisix-dashboard",
        "swag",
        "cert-reloader",
        "cert-distributor",
        "prometheus",
        "grafana",
        "alertmanager",  # the notification path (issue 15), the one service added to the seed's list
        "redis-exporter",
        "mongodb-exporter",
        "swag-exporter",
    }
    assert set(stack(prod_tree, "vault")["services"]) == {"vault-1", "vault-2", "vault-3"}


def test_db_services_are_pinned_to_db_nodes_with_host_ports(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    for name, svc in services.items():
        constraints = svc["deploy"]["placement"]["constraints"]
        if family(name) in DB_SERVICES:
            assert "node.labels.type == db" in constraints
            assert any(re.fullmatch(r"node\.hostname == iklim-db-0\d", c) for c in constraints), name
            assert svc["ports"] and all(p["mode"] == "host" for p in svc["ports"]), name
        else:
            assert "node.labels.type == service" in constraints, name
            assert not any("iklim-db" in c for c in constraints), name


def test_prometheus_scrapes_redis_and_sentinels_through_the_exporter(prod_tree: Tree) -> None:
    config = yaml.safe_load(prod_tree["config/prometheus/prometheus.yml"].content)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "redis")
    targets = job["static_configs"][0]["targets"]
    assert targets[:3] == ["redis://redis-1:6379", "redis://redis-2:6379", "redis://redis-3:6379"]
    assert targets[3:] == [f"redis://redis-sentinel-{i}:26379" for i in (1, 2, 3)]
    assert job["relabel_configs"][-1]["replacement"] == "redis-exporter:9121"
    exporter = stack(prod_tree, "infra")["services"]["redis-exporter"]
    assert exporter["secrets"] == ["redis_password"] and "environment" not in exporter
    script = exporter["entrypoint"][2]
    assert "--redis.password-file=/tmp/redis-passwords.json" in script
    assert "for t in redis://redis-1:6379 redis://redis-2:6379 redis://redis-3:6379;" in script


def test_prometheus_scrapes_every_component_and_exporters_stay_on_service_nodes(prod_tree: Tree) -> None:
    config = yaml.safe_load(prod_tree["config/prometheus/prometheus.yml"].content)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    seed = {"prometheus", "etcd", "patroni", "rabbitmq", "apisix", "vault", "grafana", "mongodb", "swag", "redis"}
    assert set(jobs) == seed | {"alertmanager"}
    assert jobs["mongodb"]["static_configs"][0]["targets"] == [f"mongodb-exporter-{i}:9216" for i in (1, 2, 3)]
    assert jobs["swag"]["static_configs"][0]["targets"] == ["swag-exporter:9113"]
    services = stack(prod_tree, "infra")["services"]
    for name in ("mongodb-exporter-1", "mongodb-exporter-2", "mongodb-exporter-3", "swag-exporter"):
        spec = services[name]
        assert spec["deploy"]["placement"]["constraints"] == ["node.labels.type == service"], name
        assert "ports" not in spec and "environment" not in spec, name
    mongo_exporter = services["mongodb-exporter-2"]
    assert mongo_exporter["secrets"] == ["mongodb_exporter_password"]
    assert "--mongodb.uri=mongodb://mongodb-2:27017/admin --mongodb.user=exporter" in mongo_exporter["entrypoint"][2]
    assert services["swag-exporter"]["command"][0] == "--nginx.scrape-uri=http://swag:8080/stub_status"
    init = prod_tree["config/mongodb/rs-init.js"].content.decode()
    assert "const exporter = { pwd: secret('/run/secrets/mongodb_exporter_password')" in init
    assert "{ role: 'clusterMonitor', db: 'admin' }, { role: 'read', db: 'local' }" in init
    assert init.index("admin.auth('root', rootPassword);") < init.index("admin.getUser('exporter')")
    status = prod_tree["config/swag/stub-status.conf"].content.decode()
    assert "listen 8080;" in status and "allow 10.20.0.0/16;\n        deny all;" in status


def test_mongodb_exporter_image_is_built_from_the_pinned_upstream(prod_env: Environment, prod_tree: Tree) -> None:
    dockerfile = (REPO / "images" / "mongodb-exporter" / "Dockerfile").read_text()
    image = prod_env.services.mongodb.exporter_image
    version = image.rsplit(":", 1)[1]
    assert f"FROM percona/mongodb_exporter:{version} AS exporter" in dockerfile
    assert f"docker build -t {image} images/mongodb-exporter" in dockerfile
    assert 'ENTRYPOINT ["/bin/mongodb_exporter"]' in dockerfile
    entrypoint = stack(prod_tree, "infra")["services"]["mongodb-exporter-1"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"] and "exec /bin/mongodb_exporter " in entrypoint[2]


def test_runbook_creates_exactly_the_secrets_the_stacks_use_before_deploying(prod_tree: Tree) -> None:
    used: set[str] = set()
    for which in ("infra", "vault"):
        doc = stack(prod_tree, which)
        declared = doc.get("secrets") or {}
        assert all(spec == {"external": True} for spec in declared.values()), "secrets come from the runbook"
        for name, service in doc["services"].items():
            refs = {ref if isinstance(ref, str) else ref["source"] for ref in service.get("secrets", [])}
            assert refs <= set(declared), f"{name} uses an undeclared secret: {refs - set(declared)}"
            used |= refs
    runbook = prod_tree["init-infra-prod.sh"].content.decode()
    ensured = set(re.findall(r"^  ensure_secret (\S+) \d+$", runbook, re.M))
    imported = set(re.findall(r"^  ensure_file_secret (\w+)$", runbook, re.M))  # from PKI_DIR
    # the tool's etcd client certificate: no service mounts it, the status job does (swarmjob);
    # imported too, and replaced when re-issued (ensure_job_secret)
    job_only = set(re.findall(r"^  ensure_job_secret (\S+)$", runbook, re.M))
    assert job_only == {"tls_iklim_etcd_client_crt", "tls_iklim_etcd_client_key"} and not job_only & used
    assert ensured | imported == used and not ensured & imported and not imported & job_only
    main = runbook[runbook.index("\nmain() {\n") :]
    steps = ("secrets", "pki", "vault", "infra")
    assert sorted(steps, key=lambda s: main.index(f"\n  step_{s}\n")) == list(steps)


def test_redis_sentinel_rabbitmq_publish_nothing(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    for name, svc in services.items():
        if family(name) in ("redis", "redis-sentinel", "rabbitmq"):
            assert "ports" not in svc, name


def test_swag_alone_is_public_in_host_mode(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    ports = [(p["published"], p["mode"]) for p in services["swag"]["ports"]]
    assert ports == [(80, "host"), (443, "host")]


def test_member_counts(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    counts: dict[str, int] = {}
    for name, svc in services.items():
        counts[family(name)] = counts.get(family(name), 0) + svc["deploy"]["replicas"]
    assert counts["apisix"] == 3 and services["apisix"]["deploy"]["placement"]["max_replicas_per_node"] == 1
    for name in ("etcd", "patroni", "mongodb", "rabbitmq", "redis-sentinel"):
        assert counts[name] == 3, name
    assert counts["prometheus"] == 1 and counts["grafana"] == 1


def test_stateful_members_follow_the_swarm_rules(prod_tree: Tree) -> None:
    services = {**stack(prod_tree, "infra")["services"], **stack(prod_tree, "vault")["services"]}
    hostnames = set()
    for name, svc in services.items():
        if family(name) not in STATEFUL:
            continue
        assert svc["deploy"]["replicas"] == 1, name
        update = svc["deploy"]["update_config"]
        assert (update["parallelism"], update["order"], update["failure_action"]) == (1, "stop-first", "pause")
        assert svc["healthcheck"]["test"], name
        assert any(c.startswith("node.hostname == ") for c in svc["deploy"]["placement"]["constraints"])
        assert len(svc["volumes"]) == 1 and svc["volumes"][0].startswith(f"{name}-data:"), name
        hostnames.add(svc["hostname"])
    assert len(hostnames) == 21  # 7 clusters x 3 members, each its own name


def test_images_are_pinned(prod_tree: Tree) -> None:
    for which in STACK_FILES:
        for name, svc in stack(prod_tree, which)["services"].items():
            image = svc["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), name


def test_no_secret_literals_in_environments(prod_tree: Tree) -> None:
    for which in STACK_FILES:
        for name, svc in stack(prod_tree, which)["services"].items():
            for key, value in (svc.get("environment") or {}).items():
                if re.search(r"PASS|SECRET|TOKEN|COOKIE|KEY", key) and not key.endswith("_FILE"):
                    pytest.fail(f"{name} sets {key} literally")
                if key.endswith("_FILE"):
                    assert value.startswith("/run/secrets/"), (name, key)


def test_overlay_network_is_external_and_shared(prod_tree: Tree, prod_env: Environment) -> None:
    for which in STACK_FILES:
        assert stack(prod_tree, which)["networks"] == {prod_env.overlay.name: {"external": True}}
    runbook = prod_tree["init-infra-prod.sh"].content.decode()
    assert "--attachable" in runbook and "com.docker.network.driver.mtu=1400" in runbook
    assert 'docker stack deploy -c "$file" --with-registry-auth "$stack"' in runbook
    assert "deploy_stack docker-stack-infra_db-prod.yml" in runbook
    assert runbook.index("deploy_stack docker-stack-vault.yml") < runbook.index("init/vault/vault-bootstrap.sh\n")
    assert runbook.index("init/vault/vault-bootstrap.sh\n") < runbook.index("deploy_stack docker-stack-infra")


def test_etcd_aliases_and_prefixes(prod_tree: Tree) -> None:
    services = stack(prod_tree, "infra")["services"]
    aliases = [services[f"etcd-{i}"]["networks"]["iklim-overlay"]["aliases"] for i in (1, 2, 3)]
    assert aliases == [["etcd-01"], ["etcd-02"], ["etcd-03"]]
    apisix = yaml.safe_load(prod_tree["config/apisix/config.yaml"].content)["deployment"]["etcd"]
    assert apisix["host"] == ["https://etcd-01:2379", "https://etcd-02:2379", "https://etcd-03:2379"]
    assert apisix["prefix"] == "/apisix"
    patroni = yaml.safe_load(prod_tree["config/patroni/patroni-2.yml"].content)
    assert patroni["namespace"] == "/service/" and patroni["name"] == "patroni-2"
    assert patroni["postgresql"]["connect_address"] == "patroni-2:5432"


def test_storage_of_prometheus_and_grafana(prod_tree: Tree) -> None:
    doc = stack(prod_tree, "infra")
    assert doc["services"]["prometheus"]["volumes"] == ["prometheus-data:/prometheus"]
    assert doc["volumes"]["prometheus-data"] == {"driver": "local"}
    grafana = ["${GRAFANA_DATA_DIR:-/mnt/storagebox/grafana/data}:/var/lib/grafana"]
    assert doc["services"]["grafana"]["volumes"] == grafana


def test_swag_site_allow_list_ends_in_deny_all(prod_tree: Tree, prod_env: Environment) -> None:
    site = prod_tree["config/swag/rabbitmq.subdomain.conf"].content.decode()
    rules = re.findall(r"^\s*(allow|deny)\s+([^;]+);", site, re.M)
    assert rules[-1] == ("deny", "all")
    assert [v for k, v in rules[:-1]] == [str(n) for n in prod_env.services.rabbitmq.management_allow]
    assert ("allow", "all") not in rules


def test_configs_are_content_addressed(prod_tree: Tree) -> None:
    configs = stack(prod_tree, "infra")["configs"]
    for key, entry in configs.items():
        path = entry["file"].removeprefix("./")
        assert path in prod_tree, key
        assert re.fullmatch(rf"iklimco_{re.escape(key)}_[0-9a-f]{{10}}", entry["name"]), entry


def _unquote(value: Any) -> Any:
    """python-hcl2 7 keeps the quotes of strings and keys; older releases drop them."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items()}
    return value


def _firewall_rules(prod_tree: Tree) -> dict[str, list[dict[str, Any]]]:
    parsed = _unquote(hcl2.loads(prod_tree["terraform/hetzner/prod/firewall.tf"].content.decode()))
    rules = {}
    for resource in parsed["resource"]:
        for key, body in resource["hcloud_firewall"].items():
            rules[key] = body["rule"]
    return rules


def test_firewall_model(prod_tree: Tree, prod_env: Environment) -> None:
    rules = _firewall_rules(prod_tree)
    app, db = str(prod_env.network.app_subnet), str(prod_env.network.db_subnet)
    private = {app, db}
    assert any(r["port"] == "2379" and app in r["source_ips"] for r in rules["db"])
    for side in ("db", "app"):
        for rule in rules[side]:
            assert rule["port"] not in ("6379", "26379"), rule
            if rule["port"] in ("2377", "7946", "4789"):
                assert set(rule["source_ips"]) <= private, rule
            if "0.0.0.0/0" in rule["source_ips"]:
                assert side == "app" and rule["port"] in ("80", "443"), rule
    opened = {r["port"] for r in rules["db"]}
    assert {"2379", "2380", "5432", "8008", "27017"} <= opened
    for rule in rules["db"]:
        if rule["port"] != "22":
            assert set(rule["source_ips"]) <= private, rule
    assert {"5672", "25672"} <= {r["port"] for r in rules["app"]}
    network = prod_tree["terraform/hetzner/prod/network.tf"].content.decode()
    assert f'ip_range     = "{app}"' in network and f'ip_range     = "{db}"' in network


def test_docker_user_rules_cover_every_private_host_port(prod_tree: Tree) -> None:
    script = prod_tree["init/hosts/db-docker-user.sh"].content.decode()
    assert "readonly PORTS='tcp/2379 tcp/2380 tcp/5432 tcp/8008 tcp/27017'" in script
    assert "DOCKER-USER" in script and "10.0.1.0/24 10.0.2.0/24" in script
    app = prod_tree["init/hosts/app-docker-user.sh"].content.decode()
    assert "readonly PORTS=tcp/8200" in app and "readonly CHAIN=IKLIM-APP" in app
    runbook = prod_tree["init-infra-prod.sh"].content.decode()
    assert "< init/hosts/db-docker-user.sh" in runbook and "< init/hosts/app-docker-user.sh" in runbook


def test_vault_api_is_host_mode_and_private(prod_tree: Tree, prod_env: Environment) -> None:
    for i in (1, 2, 3):
        ports = stack(prod_tree, "vault")["services"][f"vault-{i}"]["ports"]
        assert ports == [{"target": 8200, "published": 8200, "protocol": "tcp", "mode": "host"}]
    rule = next(r for r in _firewall_rules(prod_tree)["app"] if r["port"] == "8200")
    assert set(rule["source_ips"]) == {str(prod_env.network.app_subnet), str(prod_env.network.db_subnet)}
