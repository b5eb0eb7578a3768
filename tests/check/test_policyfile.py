"""Policy parameters from ``--policy`` / ``policy:``: each key is checked against its declared shape."""

from __future__ import annotations

import dataclasses

import pytest

from iklim.check.findings import InputError
from iklim.check.policy import Policy
from iklim.check.policyfile import from_mapping
from iklim.check.yamlload import load_yaml


def parsed(text: str) -> Policy:
    return from_mapping(Policy(), load_yaml(text, "policy.yml"), "policy.yml")


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        # issue 12: the correct list form was refused
        ("db_hosts: [iklim-db-01, iklim-db-02]\n", "db_hosts", ("iklim-db-01", "iklim-db-02")),
        ("app_hosts:\n  - iklim-app-01\n  - iklim-app-02\n", "app_hosts", ("iklim-app-01", "iklim-app-02")),
        ("etcd_aliases: [etcd-a, etcd-b]\n", "etcd_aliases", ("etcd-a", "etcd-b")),
        ("admin_cidrs: [203.0.113.7/32]\n", "admin_cidrs", ("203.0.113.7/32",)),
        ("type_label: node.labels.role\n", "type_label", "node.labels.role"),
        ("type_label: node.labels.iklim.co-tier\n", "type_label", "node.labels.iklim.co-tier"),
        ("members: {redis: 5}\n", "members", {**Policy().members, "redis": 5}),
        ("db_label: database\n", "db_label", "database"),
    ],
)
def test_accepted(text: str, field: str, value: object) -> None:
    assert getattr(parsed(text), field) == value


def test_db_hosts_list_decides_placement() -> None:
    policy = parsed("db_hosts: [node-a, node-b]\napp_hosts: [node-c]\n")
    assert policy.db_host("NODE-A") and not policy.db_host("node-c") and not policy.db_host("n")
    assert policy.app_host("node-c") and not policy.app_host("node-a")


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        # issue 12: a string was accepted and compared character by character
        ("db_hosts: iklim-db-01\n", (1, 11), "db_hosts must be a non-empty list of names"),
        ("app_hosts: iklim-app-01\n", (1, 12), "app_hosts must be a non-empty list of names"),
        ("db_hosts: []\n", (1, 11), "non-empty list"),
        ("db_hosts: [iklim-db-01, 3]\n", (1, 11), "list of names"),
        ("db_hosts: ['iklim db 01']\n", (1, 11), "list of names"),
        ("db_hosts: {a: 1}\n", (1, 11), "list of names"),
        ("etcd_aliases: etcd-01\n", (1, 15), "etcd_aliases must be a non-empty list of names"),
        # issue 12: an unknown component in members
        ("members: {nonexist: 3}\n", (1, 10), "unknown component 'nonexist'"),
        ("members: {apisix: 3, etcdd: 3}\n", (1, 10), "unknown component 'etcdd'"),
        ("members: {apisix: -1}\n", (1, 10), "member count"),
        # issue 12: type_label must be a label key
        ('type_label: "x == y"\n', (1, 13), "type_label must be a node label key"),
        ("type_label: type\n", (1, 13), "node label key"),
        ("type_label: node.labels.\n", (1, 13), "node label key"),
        ("type_label: [node.labels.type]\n", (1, 13), "node label key"),
        ("admin_cidrs: 203.0.113.7/32\n", (1, 14), "admin_cidrs must be a list of CIDRs"),
        ("admin_cidrs: [nope]\n", (1, 14), "list of CIDRs"),
        ("db_label: [db]\n", (1, 11), "db_label must be a non-empty string"),
        ("etcd_client_port: '2379'\n", (1, 19), "port number"),
    ],
)
def test_refused_at_the_value(text: str, where: tuple[int, int], words: str) -> None:
    with pytest.raises(InputError) as info:
        parsed(text)
    assert (info.value.line, info.value.column) == where and words in str(info.value)


def test_every_parameter_has_a_declared_shape() -> None:
    """A str-typed check is the fallback: every non-str field must have its own validation."""
    for field in dataclasses.fields(Policy):
        if field.name == "rule_options" or field.type in ("str", "str | None"):
            continue
        with pytest.raises(InputError):
            parsed(f"{field.name}: just-a-word\n")
