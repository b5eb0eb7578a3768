"""The model: the production file validates, and bad input gives one file:line error per problem."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.loader import ModelError, parse_environment
from iklim.model.schema import Environment
from iklim.model.semantics import etcd_paths_overlap

PROD_MODEL = Path(__file__).resolve().parent.parent / "environments" / "prod.yaml"

PROD_TEXT = PROD_MODEL.read_text()


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth occurrence of ``needle`` in ``text``."""
    start = -1
    for _ in range(nth):
        start = text.index(needle, start + 1)
    return text.count("\n", 0, start) + 1


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, old
    return text.replace(old, new, 1)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ModelError) as caught:
        parse_environment(text, "prod.yaml")
    return [str(p) for p in caught.value.problems]


def test_production_model_holds_the_seed(prod_env: Environment) -> None:
    svc = prod_env.services
    assert svc.apisix.etcd_prefix == "/apisix"
    assert not etcd_paths_overlap(svc.apisix.etcd_prefix, svc.patroni.namespace)
    assert svc.etcd.aliases == ["etcd-01", "etcd-02", "etcd-03"]
    assert {n.name for n in prod_env.nodes} == {f"iklim-{r}-0{i}" for r in ("db", "app") for i in (1, 2, 3)}
    assert all(n.labels.get("type") == "service" for n in prod_env.nodes if n.role == "service")
    for name in ("etcd", "patroni", "mongodb"):
        assert getattr(svc, name).placement == "db"
        assert all(p.mode == "host" for p in getattr(svc, name).ports)
    assert svc.redis.ports == [] and svc.redis.sentinel.ports == [] and svc.rabbitmq.ports == []
    assert svc.grafana.volume is not None and svc.grafana.volume.path == "/mnt/storagebox/grafana/data"
    assert svc.grafana.volume.env == "GRAFANA_DATA_DIR"
    assert svc.prometheus.volume is not None and svc.prometheus.volume.kind == "local"
    assert prod_env.overlay.mtu == 1400


def test_every_choice_in_the_model_is_commented() -> None:
    """Every failover timing carries a comment explaining it."""
    for key in (
        "ttl:",
        "retry_timeout:",
        "synchronous_mode:",
        "synchronous_mode_strict:",
        "heartbeat_interval_ms:",
        "down_after_milliseconds:",
        "performance_multiplier:",
    ):
        line = PROD_TEXT.splitlines()[line_of(PROD_TEXT, key) - 1]
        assert "#" in line, f"{key} has no comment"


def test_unknown_key_is_reported_at_its_line() -> None:
    text = replace_once(PROD_TEXT, "    scope: iklim-pg\n", "    scope: iklim-pg\n    scoop: typo\n")
    found = problems_of(text)
    assert found == [f"prod.yaml:{line_of(text, 'scoop')}:5: unknown key 'services.patroni.scoop'"]


def test_wrong_type_is_reported_at_its_line() -> None:
    text = replace_once(PROD_TEXT, "    ttl: 20 ", "    ttl: thirty ")
    (problem,) = problems_of(text)
    assert problem.startswith(f"prod.yaml:{line_of(text, 'ttl: thirty')}:")
    assert "services.patroni.ttl" in problem and "integer" in problem


def test_db_service_on_service_nodes_is_rejected() -> None:
    db_nodes = "    placement: db\n    members: 3\n    nodes: [iklim-db-01, iklim-db-02, iklim-db-03]\n    scope"
    app_nodes = (
        "    placement: service\n    members: 3\n    nodes: [iklim-app-01, iklim-app-02, iklim-app-03]\n    scope"
    )
    text = replace_once(PROD_TEXT, db_nodes, app_nodes)
    found = problems_of(text)
    assert any("services.patroni.placement" in p and "iklim-db-*" in p for p in found), found
    assert all(p.startswith("prod.yaml:") for p in found)


def test_db_member_pinned_to_a_service_node_is_rejected() -> None:
    text = replace_once(
        PROD_TEXT,
        "nodes: [iklim-db-01, iklim-db-02, iklim-db-03]\n    replica_set",
        "nodes: [iklim-db-01, iklim-app-02, iklim-db-03]\n    replica_set",
    )
    (problem,) = problems_of(text)
    assert "services.mongodb.nodes.1" in problem and "iklim-app-02 is a service node" in problem


@pytest.mark.parametrize("component", ["etcd", "patroni", "mongodb", "rabbitmq", "vault"])
def test_even_member_count_of_a_quorum_cluster_is_rejected(component: str) -> None:
    start = PROD_TEXT.index(f"\n  {component}:\n")
    members = PROD_TEXT.index("    members: 3\n", start)
    text = PROD_TEXT[:members] + "    members: 4\n" + PROD_TEXT[members + len("    members: 3\n") :]
    found = problems_of(text)
    quorum = [p for p in found if f"services.{component}.members" in p and "odd member count" in p]
    assert quorum, found
    assert quorum[0].startswith(f"prod.yaml:{text.count(chr(10), 0, members) + 1}:")


def test_colliding_etcd_prefixes_are_rejected() -> None:
    text = replace_once(PROD_TEXT, "    namespace: /service ", "    namespace: /apisix/patroni ")
    (problem,) = problems_of(text)
    assert f":{line_of(text, 'namespace: /apisix/patroni')}:" in problem
    assert "collides with APISIX's prefix /apisix" in problem


def test_redis_with_ports_is_rejected() -> None:
    text = replace_once(
        PROD_TEXT,
        "    master_name: iklim-redis\n",
        "    master_name: iklim-redis\n    ports:\n      - {name: redis, port: 6379}\n",
    )
    found = problems_of(text)
    assert any("services.redis.ports.0" in p and "overlay" in p for p in found), found


def test_latest_image_is_rejected() -> None:
    text = replace_once(PROD_TEXT, "image: mongo:7.0.16", "image: mongo:latest")
    (problem,) = problems_of(text)
    assert "':latest'" in problem and f":{line_of(text, 'mongo:latest')}:" in problem


def test_several_problems_are_all_reported() -> None:
    text = replace_once(PROD_TEXT, "    ttl: 20 ", "    ttl: thirty ")
    text = replace_once(text, "  etcd:\n", "  etcd:\n    colour: blue\n")
    assert len(problems_of(text)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", r"prod\.yaml:\d+:\d+: invalid YAML"),
        ("", r"prod\.yaml:1:1: the model file is empty"),
        ("- a\n- b\n", r"prod\.yaml:1:1: the model must be a mapping"),
        ("name: a\nname: b\n", r"prod\.yaml:2:1: duplicate key 'name'"),
    ],
)
def test_unreadable_yaml_is_one_clear_error(text: str, expected: str) -> None:
    (problem,) = problems_of(text)
    assert re.match(expected, problem), problem


def test_render_with_a_bad_model_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(replace_once(PROD_TEXT, "    namespace: /service ", "    namespace: /apisix "))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert f"error: {bad}:{line_of(bad.read_text(), 'namespace: /apisix')}:" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_render_with_a_missing_model_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["render", "--env", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot read model" in result.output
    assert list(tmp_path.iterdir()) == []


def test_schema_command_prints_a_json_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) >= {"nodes", "network", "overlay", "services"}
    assert "Patroni" in schema["$defs"] and schema["$defs"]["Patroni"]["properties"]["ttl"]["minimum"] == 20


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a: " + "[" * 1000 + "]" * 1000 + "\n", "prod.yaml:1:", "nested more than"),
        ("a: " + "[" * 25000 + "]" * 25000 + "\n", "prod.yaml:1:", "nested more than"),
        (
            "a: &a [1,1,1,1,1,1,1,1,1]\n"
            + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
            "prod.yaml:",
            "expands to more than",
        ),
        ("project: " + "9" * 5000 + "\n", "prod.yaml:1:10:", "number too large"),
        ("project: a\x00b\n", "prod.yaml:1:11:", "control character"),
        ("project: !!binary 'not base64!'\n", "prod.yaml:1:10:", "invalid value"),
        ("project: !custom x\n", "prod.yaml:1:10:", "invalid value"),
    ],
    ids=["deep-1000", "deep-25000", "alias-bomb", "big-int", "nul", "bad-binary", "unknown-tag"],
)
def test_hostile_model_text_is_one_line_error(text: str, where: str, words: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1 and problems[0].startswith(where) and words in problems[0], problems


@pytest.mark.parametrize("kind", ["invalid-utf8", "fifo", "dev-zero", "directory"])
def test_render_refuses_unreadable_models(tmp_path: Path, kind: str) -> None:
    import os

    model = tmp_path / "model.yaml"
    if kind == "invalid-utf8":
        model.write_bytes(b"project: \xff\n")
    elif kind == "fifo":
        os.mkfifo(model)
    elif kind == "dev-zero":
        model.symlink_to("/dev/zero")
    else:
        model.mkdir()
    result = CliRunner().invoke(cli, ["render", "--env", str(model), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "model.yaml" in result.output and not (tmp_path / "out").exists()
