"""One source for every port (issue 13): a port's number comes from the model's ``ports`` by name.

The property: for every named port of the bundled model (and Vault's ``cluster_port``), changing
its number in the YAML text and rendering changes every consumer — stack ports, engine configs,
healthchecks, firewall.tf, the DOCKER-USER scripts, APISIX's etcd hosts, Prometheus targets, the
runbook — and leaves no occurrence of the old number anywhere in the tree. Read back with the new
number replaced by the old one, the changed render is the bundled render (apart from the
content-addressed config names), so nothing else moved and no consumer was added twice. The
changed tree also checks clean with ``iklim check``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.loader import ModelError, parse_environment
from iklim.model.ports import MissingPort, port_of
from iklim.model.schema import Component, Environment
from iklim.render.tree import render_tree

REPO = Path(__file__).resolve().parent.parent
PROD_TEXT = (REPO / "environments" / "prod.yaml").read_text()
# The seed fixes SWAG's public ports (80/443): changing them is refused, not rendered.
SEED_FIXED = {("swag", "http"), ("swag", "https")}
FIREWALL = "terraform/hetzner/prod/firewall.tf"
DB_DOCKER_USER = "init/hosts/db-docker-user.sh"
STACK = "docker-stack-infra_db-prod.yml"
# Consumers that must carry each port's new number (beyond "no old number left anywhere").
CONSUMERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("etcd", "client"): (
        STACK,  # published port, ETCD_LISTEN/ADVERTISE_CLIENT_URLS, the etcdctl healthcheck
        "config/apisix/config.yaml",
        "config/apisix-dashboard/conf.yaml",
        "config/patroni/patroni-1.yml",
        "config/prometheus/prometheus.yml",
        FIREWALL,
        DB_DOCKER_USER,
    ),
    ("etcd", "peer"): (STACK, FIREWALL, DB_DOCKER_USER),
    ("patroni", "postgres"): (STACK, "config/patroni/patroni-2.yml", FIREWALL, DB_DOCKER_USER),
    ("patroni", "patroni-api"): (
        STACK,
        "config/patroni/patroni-3.yml",
        "config/prometheus/prometheus.yml",
        FIREWALL,
        DB_DOCKER_USER,
    ),
    ("mongodb", "mongod"): (STACK, "config/mongodb/rs-init.js", "init-infra-prod.sh", FIREWALL, DB_DOCKER_USER),
    ("vault", "api"): (
        "docker-stack-vault.yml",
        "config/vault/vault-1.hcl",
        "config/prometheus/prometheus.yml",
        FIREWALL,
        "init/hosts/app-docker-user.sh",
    ),
    ("vault", "cluster_port"): ("config/vault/vault-2.hcl",),
}
DIGEST = re.compile(r"_[0-9a-f]{10}\b")


def _named_ports(env: Environment) -> list[tuple[str, str, int]]:
    found = [
        (name, port.name, port.port)
        for name, spec in env.services
        if isinstance(spec, Component)
        for port in spec.ports
    ]
    return found + [("vault", "cluster_port", env.services.vault.cluster_port)]


PROD_ENV = parse_environment(PROD_TEXT, "prod.yaml")
PORTS = _named_ports(PROD_ENV)
CHANGED = [p for p in PORTS if p[:2] not in SEED_FIXED]


def _tree(env: Environment) -> dict[str, str]:
    """The rendered tree as text, content-addressed config names made neutral."""
    return {path: DIGEST.sub("_DIGEST", f.content.decode()) for path, f in render_tree(env).items()}


BASE = _tree(PROD_ENV)


def _unused_number(start: int) -> int:
    """A port number that occurs in neither the model nor the bundled render."""
    everything = PROD_TEXT + "".join(BASE.values())
    number = start
    while re.search(rf"\b{number}\b", everything):
        number += 1
    return number


def _with_port(text: str, component: str, name: str, old: int, new: int) -> str:
    """``text`` with one named port's number changed (the YAML as an operator would edit it)."""
    needle = f"cluster_port: {old}" if name == "cluster_port" else f"{{name: {name}, port: {old}"
    assert text.count(needle) == 1, (component, needle)
    return text.replace(needle, needle.replace(str(old), str(new)))


def _occurs(number: int, tree: dict[str, str]) -> dict[str, int]:
    counts = {path: len(re.findall(rf"\b{number}\b", text)) for path, text in tree.items()}
    return {path: n for path, n in counts.items() if n}


def test_the_bundled_model_names_every_port_the_builders_read() -> None:
    assert {(c, n) for c, n, _ in PORTS} >= set(CONSUMERS) | SEED_FIXED
    assert set(CONSUMERS) == {p[:2] for p in CHANGED}, "every changeable port has its consumers listed"


@pytest.mark.parametrize(("component", "name", "old"), CHANGED, ids=[f"{c}.{n}" for c, n, _ in CHANGED])
def test_changing_a_port_changes_every_consumer(tmp_path: Path, component: str, name: str, old: int) -> None:
    new = _unused_number(40000 + old % 1000)
    text = _with_port(PROD_TEXT, component, name, old, new)
    changed = _tree(parse_environment(text, "prod.yaml"))
    assert set(changed) == set(BASE)
    # No consumer is left on the old number (it occurred nowhere else in the bundled render).
    assert _occurs(old, changed) == {}, f"{component}.{name}: {old} still rendered"
    # Every consumer moved: each named file carries the new number.
    carriers = _occurs(new, changed)
    missing = [path for path in CONSUMERS[(component, name)] if path not in carriers]
    assert not missing, f"{component}.{name}: {new} missing from {missing}"
    # Nothing else changed, and no consumer was added or doubled: read back, it is the bundled render.
    for path, body in changed.items():
        assert re.sub(rf"\b{new}\b", str(old), body) == BASE[path], f"{path} differs beyond {old} -> {new}"
    # The tree rendered from the changed model checks clean, against that model.
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "prod.yaml").write_text(text)
    runner = CliRunner()
    rendered = runner.invoke(
        cli, ["render", "--env", str(tmp_path / "environments" / "prod.yaml"), "--out", str(tmp_path)]
    )
    assert rendered.exit_code == 0, rendered.output
    checked = runner.invoke(cli, ["check", str(tmp_path)])
    assert checked.exit_code == 0, checked.output


def test_the_issue_example_etcd_client_2479(tmp_path: Path) -> None:
    """The issue's reproducer: etcd client 2379 -> 2479 moves etcd, its healthcheck (a TLS
    client on the member's own client port), APISIX and exactly one DB firewall rule."""
    text = _with_port(PROD_TEXT, "etcd", "client", 2379, 2479)
    tree = _tree(parse_environment(text, "prod.yaml"))
    stack = tree[STACK]
    assert "ETCD_LISTEN_CLIENT_URLS: https://0.0.0.0:2479" in stack
    assert "ETCD_ADVERTISE_CLIENT_URLS: https://etcd-01:2479" in stack
    assert "--endpoints=https://127.0.0.1:2479" in stack and "2379" not in stack
    assert "https://etcd-03:2479" in tree["config/apisix/config.yaml"]
    firewall = tree[FIREWALL]
    assert firewall.count('port        = "2479"') == 1 and "2379" not in firewall
    assert "tcp/2479" in tree[DB_DOCKER_USER]


@pytest.mark.parametrize(("name", "old"), [("http", 80), ("https", 443)])
def test_seed_fixed_public_ports_are_refused_not_rendered(name: str, old: int) -> None:
    text = _with_port(PROD_TEXT, "swag", name, old, 8443)
    with pytest.raises(ModelError) as caught:
        parse_environment(text, "prod.yaml")
    line = text.count("\n", 0, text.index(f"{{name: {name}, port: 8443")) + 1
    assert any(str(p).startswith(f"prod.yaml:{line}:") and "80 and 443" in str(p) for p in caught.value.problems)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("{name: client, port: 2379}", "{name: clients, port: 2379}", "etcd needs a port named client"),
        ("{name: peer, port: 2380}", "{name: client, port: 2380}", "port named 'client' twice"),
        ("{name: patroni-api, port: 8008}", "{name: rest, port: 8008}", "patroni needs a port named patroni-api"),
        ("{name: mongod, port: 27017}", "{name: mongo, port: 27017}", "mongodb needs a port named mongod"),
        ("{name: api, port: 8200}", "{name: http, port: 8200}", "vault needs a port named api"),
    ],
)
def test_a_port_name_the_builders_read_must_be_there(tmp_path: Path, old: str, new: str, message: str) -> None:
    """A missing or doubled port name is one file:line:col line, exit 2, nothing written."""
    text = PROD_TEXT.replace(old, new, 1)
    model = tmp_path / "prod.yaml"
    model.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(model), "--out", str(out)])
    assert result.exit_code == 2
    # a missing name is reported at the component's `ports` key, a doubled one at its entry
    at = text.index(new) if "twice" in message else text.rindex("ports:", 0, text.index(new))
    line = text.count("\n", 0, at) + 1
    assert re.search(rf"prod\.yaml:{line}:\d+: .*{re.escape(message)}", result.output), result.output
    assert "Traceback" not in result.output and not out.exists()


def test_port_of_names_what_there_is() -> None:
    assert port_of(PROD_ENV.services.etcd, "peer") == 2380
    with pytest.raises(MissingPort, match=r"no port named 'metrics'.*listed: client, peer"):
        port_of(PROD_ENV.services.etcd, "metrics")


@pytest.mark.parametrize(("value", "accepted"), [(8200, True), (8300, False)])
def test_an_old_model_api_port_is_accepted_only_when_it_equals_ports_api(value: int, accepted: bool) -> None:
    """``vault.api_port`` stays a valid key for models written before ``ports: api`` was its one source."""
    at = PROD_TEXT.index("    cluster_port:")
    text = PROD_TEXT[:at] + f"    api_port: {value}\n" + PROD_TEXT[at:]
    if accepted:
        assert parse_environment(text, "prod.yaml").services.vault.api_port == 8200
        return
    with pytest.raises(ModelError) as raised:
        parse_environment(text, "prod.yaml")
    line = text[:at].count("\n") + 1
    assert any(p.line == line and "differs from the vault port named 'api'" in p.message for p in raised.value.problems)


@pytest.mark.parametrize("port", [8201, 8202])
def test_vault_cluster_port_differs_from_its_published_ports(port: int) -> None:
    """A fresh user's find: the API moved onto the cluster port rendered a Vault that cannot bind."""
    text = PROD_TEXT.replace("{name: api, port: 8200}", f"{{name: api, port: {port}}}", 1)
    assert text != PROD_TEXT
    cluster = PROD_ENV.services.vault.cluster_port
    if port != cluster:
        assert parse_environment(text, "prod.yaml").services.vault.api_port == port
        return
    with pytest.raises(ModelError) as raised:
        parse_environment(text, "prod.yaml")
    assert any("the API and the cluster (Raft) listener need two ports" in p.message for p in raised.value.problems)


# --- The lab and the probes: the same model port reaches the lab's configs and every endpoint. ---


def _lab_and_probe_texts(text: str, tmp_path: Path) -> dict[str, str]:
    """What the lab runners and the status probes use, as text: the lab's engine configs (built
    by the production builders with the lab target), the lab's Prometheus config, every status
    endpoint in the lab and in production, and the Vault bootstrap's member URLs."""
    from iklim.components import etcd, mongodb, patroni, vault
    from iklim.components.prometheus import scrape_config
    from iklim.components.target import LabTarget
    from iklim.components.yamlout import dump_yaml
    from iklim.status.planbuild import build_plan
    from iklim.vault.plan import lab_plan, prod_plan

    tmp_path.mkdir(parents=True, exist_ok=True)
    model = tmp_path / "model.yaml"
    model.write_text(text)
    env = parse_environment(text, "prod.yaml")
    target = LabTarget(env, tmp_path / "lab")
    svc = env.services
    texts = {
        "lab etcd": repr([etcd.member_settings(env, target, f"etcd-{i}") for i in range(1, svc.etcd.members + 1)]),
        "lab patroni": "".join(patroni.render_config(env, target, f"patroni-{i}") for i in (1, 2, 3)),
        "lab mongod": repr(mongodb.mongod_args(env, target, "mongodb-1", "/k")) + mongodb.rs_init(env, target),
        "lab vault": "".join(vault.vault_hcl(env, target, f"vault-{i}") for i in (1, 2, 3)),
        "lab prometheus": dump_yaml(scrape_config(env, target)),
        "vault bootstrap urls": repr(lab_plan(env, tmp_path / "lab").members + prod_plan(env).members),
    }
    for name in ("lab", "prod"):
        plan = build_plan(model, name, str(tmp_path / "lab"))
        texts[f"status {name} endpoints"] = " ".join(
            f"{c.name}:{e.member}@{e.address}" for c in plan.components for e in c.endpoints
        )
    return texts


LAB_CONSUMERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("etcd", "client"): ("lab etcd", "lab patroni", "lab prometheus", "status lab endpoints", "status prod endpoints"),
    ("etcd", "peer"): ("lab etcd",),
    ("patroni", "postgres"): ("lab patroni",),
    ("patroni", "patroni-api"): ("lab patroni", "lab prometheus", "status lab endpoints", "status prod endpoints"),
    ("mongodb", "mongod"): ("lab mongod", "status lab endpoints", "status prod endpoints"),
    ("vault", "api"): (
        "lab vault",
        "lab prometheus",
        "vault bootstrap urls",
        "status lab endpoints",
        "status prod endpoints",
    ),
    ("vault", "cluster_port"): ("lab vault",),
}


def test_every_changeable_port_has_its_lab_and_probe_consumers_listed() -> None:
    assert set(LAB_CONSUMERS) == {p[:2] for p in CHANGED}


@pytest.mark.parametrize(("component", "name", "old"), CHANGED, ids=[f"{c}.{n}" for c, n, _ in CHANGED])
def test_changing_a_port_moves_the_lab_and_the_probes(tmp_path: Path, component: str, name: str, old: int) -> None:
    """The lab's configs, its Prometheus, every status endpoint (lab and production) and the Vault
    bootstrap's URLs follow a changed model port, and none keeps the old number."""
    new = _unused_number(40000 + old % 1000)
    base = _lab_and_probe_texts(PROD_TEXT, tmp_path / "base")
    changed = _lab_and_probe_texts(_with_port(PROD_TEXT, component, name, old, new), tmp_path / "changed")
    for key, text in changed.items():
        assert not re.search(rf"\b{old}\b", text), f"{component}.{name}: {old} still in {key}"
        assert re.sub(rf"\b{new}\b", str(old), text).replace(str(tmp_path / "changed"), "") == base[key].replace(
            str(tmp_path / "base"), ""
        ), f"{key} differs beyond {old} -> {new}"
    missing = [key for key in LAB_CONSUMERS[(component, name)] if not re.search(rf"\b{new}\b", changed[key])]
    assert not missing, f"{component}.{name}: {new} missing from {missing}"
