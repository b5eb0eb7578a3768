"""Seed-breaking model edits that rendered a tree ``iklim check`` passed (issue 13) are refused by
the model: exit 2, ``file:line:col: message`` at the key, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()

DB2 = "{name: iklim-db-02, role: db, private_ip: 10.0.2.12, labels: {type: db}}"
DB3 = "{name: iklim-db-03, role: db, private_ip: 10.0.2.13, labels: {type: db}}"
APP2 = "{name: iklim-app-02, role: service, swarm_role: manager, private_ip: 10.0.1.12, labels: {type: service}}"
GRAFANA_PATH = "path: /mnt/storagebox/grafana/data}"
CERTS_PATH = "path: /mnt/storagebox/certs}"
MGMT = "      - 10.0.0.0/16              #"
APISIX = "    image: apache/apisix:3.11.0-debian\n    placement: service\n    members: 3\n"
VAULT = "    image: hashicorp/vault:1.18.3\n    placement: service           # choice: service nodes, one member pinned per node\n    members: 3\n"  # noqa: E501
LABEL = "the stacks place"
OUTSIDE = "outside the StorageBox mount /mnt/storagebox"

# (id, old, new, the text the finding points at (within `new`), message part)
CASES: list[tuple[str, str, str, str, str]] = [
    # issue 13: a DB node labelled type=service (service infrastructure could land on it, and the DB
    # member pinned there could never be scheduled)
    ("db-labelled-service", DB2, DB2.replace("{type: db}", "{type: service}"), "type: service}}", LABEL),
    ("db-labelled-other", DB3, DB3.replace("{type: db}", "{type: database}"), "type: database", LABEL),
    ("db-without-type", DB3, DB3.replace("{type: db}", "{zone: fsn1}"), "labels: {zone", "has no type label"),
    ("db-without-labels", DB3, DB3.replace(", labels: {type: db}", ""), "{name: iklim-db-03", "no type label"),
    ("service-labelled-db", APP2, APP2.replace("{type: service}", "{type: db}"), "type: db}}", "type=service"),
    ("service-named-db", "name: iklim-app-03", "name: iklim-db-04", "name: iklim-db-04", "must be named iklim-app-*"),
    # issue 13: Grafana's data path outside /mnt/storagebox (seed, "Monitoring Persistence")
    ("grafana-local-folder", GRAFANA_PATH, "path: /var/lib/grafana-data}", "path: /var", OUTSIDE),
    ("grafana-lookalike", GRAFANA_PATH, "path: /mnt/storagebox2/grafana}", "path: /mnt", OUTSIDE),
    ("grafana-other-storagebox", GRAFANA_PATH, "path: /mnt/storagebox/grafana}", "path: /mnt", "fixes Grafana"),
    ("certs-local-folder", CERTS_PATH, "path: /srv/certs}", "path: /srv", OUTSIDE),
    # issue 13: management_allow wider than the admin ranges (model/boundaries.py)
    ("mgmt-world", MGMT, "      - 0.0.0.0/0                #", "0.0.0.0/0", "neither a private range"),
    # member counts the seed states
    ("apisix-two", APISIX, APISIX.replace("members: 3", "members: 2"), "members: 2", "3 members, not 2"),
    ("apisix-five", APISIX, APISIX.replace("members: 3", "members: 5"), "members: 5", "3 members, not 5"),
    ("vault-five", VAULT, VAULT.replace("members: 3", "members: 5"), "members: 5", "3 members, not 5"),
]


@pytest.mark.parametrize(("old", "new", "at", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_seed_breaking_edit_is_refused_at_its_key(tmp_path: Path, old: str, new: str, at: str, message: str) -> None:
    assert old in PROD_TEXT, old
    text = PROD_TEXT.replace(old, new, 1)
    model = tmp_path / "model.yaml"
    model.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(model), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception)
    offset = text.index(at, text.index(new))
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    wanted = f"error: {model}:{line}:{column}: "
    assert any(e.startswith(wanted) and message in e for e in result.output.splitlines()), (wanted, result.output)
    assert not out.exists()


def test_the_bundled_model_keeps_the_seed_facts() -> None:
    """The seed's values themselves pass: a rule that refused them would refuse production."""
    from iklim.model.loader import parse_environment
    from iklim.model.seedfacts import seed_problems

    assert seed_problems(parse_environment(PROD_TEXT, "prod.yaml")) == []


ETCD = "    image: quay.io/coreos/etcd:v3.5.17\n    placement: db\n"
RABBITMQ = "    image: rabbitmq:3.13.7-management-alpine\n    placement: service\n    members: 3\n"
# Rules the component catalogue drives (placement and quorum nature): an entry's facts, not a list.
CATALOGUE_CASES: list[tuple[str, str, str, str, str]] = [
    (
        "etcd-on-service",
        ETCD,
        ETCD.replace("placement: db", "placement: service"),
        "placement: service",
        "iklim-db-* nodes",
    ),
    ("rabbitmq-even", RABBITMQ, RABBITMQ.replace("members: 3", "members: 4"), "members: 4", "odd member count"),
]


@pytest.mark.parametrize(
    ("old", "new", "at", "message"), [c[1:] for c in CATALOGUE_CASES], ids=[c[0] for c in CATALOGUE_CASES]
)
def test_catalogue_driven_rules_refuse_at_their_key(tmp_path: Path, old: str, new: str, at: str, message: str) -> None:
    test_seed_breaking_edit_is_refused_at_its_key(tmp_path, old, new, at, message)


ISSUE_CASES = [c for c in CASES if c[0] in ("db-labelled-service", "grafana-local-folder", "mgmt-world")]


@pytest.mark.parametrize(("old", "new"), [c[1:3] for c in ISSUE_CASES], ids=[c[0] for c in ISSUE_CASES])
def test_a_refused_edit_leaves_an_existing_tree_untouched(tmp_path: Path, old: str, new: str) -> None:
    """Over a tree rendered before, the refused edit changes no file and adds none (exit 2)."""
    model = tmp_path / "model.yaml"
    model.write_text(PROD_TEXT)
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(cli, ["render", "--env", str(model), "--out", str(out)]).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    model.write_text(PROD_TEXT.replace(old, new, 1))
    result = runner.invoke(cli, ["render", "--env", str(model), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
