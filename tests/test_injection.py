"""Injection from the model (issue 16, kind 1): a model string that could change the meaning of a
rendered script, Terraform file, nginx site or stack is refused at load with file:line:col, exit
code 2 and nothing written. ``test_injection_fuzz.py`` fuzzes every string field of the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.cli import cli
from iklim.model.loader import Problem

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()
DB01 = "{name: iklim-db-01, role: db, private_ip: 10.0.2.11, labels: {type: db}}"
GRAFANA_VOLUME = (
    "volume: {kind: storagebox, target: /var/lib/grafana, env: GRAFANA_DATA_DIR, path: /mnt/storagebox/grafana/data}"
)

# (old text, new text, the key whose line and column the error must point at, the key path named)
CASES = {
    # The reproducers.
    "label value runs a command": (
        DB01,
        DB01.replace("{type: db}", '{type: db, zone: "$(touch /tmp/x)"}'),
        "zone:",
        "nodes.0.labels.zone",
    ),
    "keys_file with a newline": (
        "keys_file: /root/iklim-vault/init.json",
        'keys_file: "/root/iklim-vault/init.json\\ntouch /tmp/x"',
        "keys_file:",
        "services.vault.keys_file",
    ),
    "grafana path with a newline": (
        GRAFANA_VOLUME,
        GRAFANA_VOLUME.replace("path: /mnt/storagebox/grafana/data", 'path: "/mnt/g\\n$(touch /tmp/x)"'),
        "path:",
        "services.grafana.volume.path",
    ),
    "network_zone adds a resource": (
        "network_zone: eu-central",
        'network_zone: "eu-central\\"\\n}\\nresource \\"hcloud_server\\" \\"x\\" {\\n  a = \\""',
        "network_zone:",
        "network.network_zone",
    ),
    "management_host adds allow all": (
        "management_host: rabbitmq.iklim.co",
        'management_host: "rabbitmq.iklim.co;\\nallow all;"',
        "management_host:",
        "services.rabbitmq.management_host",
    ),
    # Variants: every kind of string, each in the language it lands in.
    "label key runs a command": (
        DB01,
        DB01.replace("{type: db}", '{type: db, "$(id)": x}'),
        '"$(id)":',
        "nodes.0.labels.$(id).[key]",
    ),
    "label value with a quote": (DB01, DB01.replace("{type: db}", '{type: "db\'"}'), "type:", "nodes.0.labels.type"),
    "label value with a backtick": (DB01, DB01.replace("{type: db}", '{type: "`id`"}'), "type:", "nodes.0.labels.type"),
    "node name with a semicolon": (DB01, DB01.replace("iklim-db-01,", '"iklim-db-01;id",'), "name:", "nodes.0.name"),
    "keys_file relative": (
        "keys_file: /root/iklim-vault/init.json",
        "keys_file: root/init.json",
        "keys_file:",
        "services.vault.keys_file",
    ),
    "keys_file through a parent": (
        "keys_file: /root/iklim-vault/init.json",
        "keys_file: /root/../etc/init.json",
        "keys_file:",
        "services.vault.keys_file",
    ),
    "volume target with a space and semicolon": (
        "volume: {kind: storagebox, target: /certs, path: /mnt/storagebox/certs}",
        'volume: {kind: storagebox, target: "/certs; rm -rf /", path: /mnt/storagebox/certs}',
        "target:",
        "services.cert_distributor.volume.target",
    ),
    "volume target with a colon (a second mount)": (
        "volume: {kind: local, target: /prometheus}",
        "volume: {kind: local, target: '/prometheus:/etc'}",
        "target:",
        "services.prometheus.volume.target",
    ),
    "grafana env breaks the interpolation": (
        GRAFANA_VOLUME,
        GRAFANA_VOLUME.replace("env: GRAFANA_DATA_DIR", "env: 'X}:/etc:${Y'"),
        "env:",
        "services.grafana.volume.env",
    ),
    "network name closes the string": (
        "  name: iklim-private",
        '  name: "iklim-private\\" # x"',
        "name:",
        "network.name",
    ),
    "domain with a newline": ("domain: iklim.co", 'domain: "iklim.co\\n"', "domain:", "services.swag.domain"),
    "domain with upper-case and an underscore": (
        "domain: iklim.co",
        "domain: Iklim_co",
        "domain:",
        "services.swag.domain",
    ),
    "email with a quote": ("email: ops@iklim.co", "email: 'ops\"@iklim.co'", "email:", "services.swag.email"),
    "email with a dollar": ("email: ops@iklim.co", "email: ops$HOME@iklim.co", "email:", "services.swag.email"),
    "management_host closes the block": (
        "management_host: rabbitmq.iklim.co",
        "management_host: 'x } server { listen 1'",
        "management_host:",
        "services.rabbitmq.management_host",
    ),
    "audit path closes the HCL string": (
        "audit_file_path: stdout",
        'audit_file_path: "/var/log/vault\\"\\n}"',
        "audit_file_path:",
        "services.vault.day_one.audit_file_path",
    ),
    "policy with a control character": (
        "iklim-apps-read: |",
        'iklim-apps-read: "path \\"secret/*\\" { capabilities = [\\"read\\"] }\\a"\n        x-unused: |',
        "iklim-apps-read:",
        "services.vault.day_one.policies.iklim-apps-read",
    ),
    "pgp key that is not base64": ("pgp_keys: []", "pgp_keys: ['not base64!']", "'not", "services.vault.pgp_keys.0"),
    "pgp key with a newline": ("pgp_keys: []", 'pgp_keys: ["QUJD\\n"]', '"QUJD', "services.vault.pgp_keys.0"),
    "image with a YAML key": (
        "image: mongo:7.0.16",
        'image: "mongo:7.0.16\\n    privileged: true"',
        'image: "mongo',
        "services.mongodb.image",
    ),
    "etcd alias with a semicolon": (
        "aliases: [etcd-01, etcd-02, etcd-03]",
        "aliases: ['etcd-01;x', etcd-02, etcd-03]",
        "'etcd-01;x'",
        "services.etcd.aliases.0",
    ),
    "retention in non-ASCII digits": (
        "retention: 30d",
        "retention: \u0663\u0660d",
        "retention:",
        "services.prometheus.retention",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_model_string_is_refused_at_its_key_and_nothing_is_written(case: str, tmp_path: Path) -> None:
    old, new, key, loc = CASES[case]
    assert PROD_TEXT.count(old) >= 1, old
    text = PROD_TEXT.replace(old, new, 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    offset = text.index(new) + new.index(key)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines and all(line_.startswith(f"error: {bad}:") for line_ in lines), result.output
    assert f"error: {bad}:{line}:{column}: {loc}:" in result.output, (line, column, result.output)
    assert "Traceback" not in result.output
    assert not out.exists()


def test_the_bundled_model_still_renders(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def test_a_problem_is_always_one_line() -> None:
    problem = Problem("a\nb.yaml", 1, 2, "value 'x\ny' \x1b[31m\u2028")
    assert "\n" not in str(problem) and "\x1b" not in str(problem) and "\u2028" not in str(problem)
    assert str(problem) == "a\\nb.yaml:1:2: value 'x\\ny' \\x1b[31m\\u2028"
