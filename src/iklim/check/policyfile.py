"""``iklim check --policy FILE``: policy parameters from a YAML file, each value validated, and
:func:`resolve`, the policy in force: seed, model, tree, check config, then that file.

A value of the wrong shape (a port that is not a number in 1-65535, a subnet that is not a
CIDR, a member count that is not a non-negative integer, ...) is :class:`InputError` at its
``file:line``, never a crash inside a rule.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from iklim.check.documents import Documents
from iklim.check.findings import InputError
from iklim.check.policy import SEED_MEMBERS, Policy, find_model, from_model, from_tree

if TYPE_CHECKING:
    from iklim.check.config import CheckConfig

_CIDRS = {"app_subnet", "db_subnet"}
_CIDR_LISTS = {"private_cidrs", "admin_cidrs"}
_PORTS = {"redis_ports", "db_ports"}
_NAME_LISTS = {"etcd_aliases", "db_hosts", "app_hosts"}
_NOT_PARAMETERS = {
    "rule_options",
    "nodes",
    "tls_plaintext",
}  # rules: of the check config; the model's nodes; its tls choices
#: A node label constraint key, as swarmkit accepts one: ``node.labels.<key>``.
_LABEL_KEY = re.compile(r"node\.labels\.[A-Za-z0-9_][A-Za-z0-9_.-]*")
_NAME = re.compile(r"[^\s=!]+")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cidr(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return True


def _port(value: object) -> bool:
    return _is_int(value) and 1 <= value <= 65535  # type: ignore[operator]


def _names(value: object) -> bool:
    """A non-empty list of names (non-empty strings without blanks, ``=`` or ``!``)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and _NAME.fullmatch(v) is not None for v in value)
    )


def _members(policy: Policy, value: Any, fail: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and _is_int(v) and 0 <= v <= 1000 for k, v in value.items()
    ):
        raise fail("members must map a component to a member count (0-1000)")
    known = sorted(set(policy.members) | set(SEED_MEMBERS) | {"redis"})
    unknown = [k for k in value if k not in known]
    if unknown:
        raise fail(f"members: unknown component {unknown[0]!r} (known: {', '.join(known)})")
    return {**policy.members, **value}


def _value(policy: Policy, key: str, value: Any, fail: Any) -> Any:
    """``value`` for parameter ``key`` in the shape :class:`Policy` holds, or ``fail(message)``.

    Every parameter has a declared shape: a member map, a CIDR, a list of CIDRs, a list of ports,
    a port, a list of names (``db_hosts: [iklim-db-01, iklim-db-02]``), a label key, or a string.
    """
    if key == "members":
        return _members(policy, value, fail)
    if key in _CIDRS:
        if value is not None and not _cidr(value):
            raise fail(f"{key} must be a CIDR such as 10.0.1.0/24")
        return value
    if key in _CIDR_LISTS:
        if not isinstance(value, list) or not all(_cidr(v) for v in value):
            raise fail(f"{key} must be a list of CIDRs such as 10.0.0.0/16")
        return tuple(str(v).strip() for v in value)
    if key in _PORTS:
        if not isinstance(value, list) or not all(_port(v) for v in value):
            raise fail(f"{key} must be a list of port numbers (1-65535)")
        return tuple(value)
    if key == "etcd_client_port":
        if not _port(value):
            raise fail(f"{key} must be a port number (1-65535)")
        return value
    if key in _NAME_LISTS:
        if not _names(value):
            raise fail(f"{key} must be a non-empty list of names such as [{_EXAMPLES.get(key, 'a, b')}]")
        return tuple(value)
    if key == "type_label":
        if not isinstance(value, str) or _LABEL_KEY.fullmatch(value) is None:
            raise fail(f"{key} must be a node label key such as node.labels.type")
        return value
    if not isinstance(value, str) or not value:
        raise fail(f"{key} must be a non-empty string")
    return value


_EXAMPLES = {"db_hosts": "iklim-db-01, iklim-db-02", "app_hosts": "iklim-app-01, iklim-app-02"}


def from_file(policy: Policy, path: str) -> Policy:
    """Override parameters from a YAML policy file whose keys are :class:`Policy` fields.

    Raises :class:`InputError` (``file:line:col: message``) for an unreadable file, invalid YAML,
    an unknown parameter or a value of the wrong shape.
    """
    from iklim.check.documents import display, read_input
    from iklim.check.yamlload import load_yaml

    shown = display(path)
    data = load_yaml(read_input(path, shown), shown)
    if data is None:
        return policy
    return from_mapping(policy, data, shown)


def from_mapping(policy: Policy, data: Any, shown: str) -> Policy:
    """Override parameters from a parsed mapping (a policy file, or a check config's ``policy:``).

    Raises :class:`InputError` at ``shown:line:col`` as :func:`from_file` does.
    """
    from iklim.check.yamlload import YMap

    if not isinstance(data, YMap):
        line, column = getattr(data, "pos", (1, 1))
        raise InputError(shown, line, "a policy must be a mapping of parameters", column)
    fields = [f.name for f in dataclasses.fields(Policy) if f.name not in _NOT_PARAMETERS]
    changes: dict[str, Any] = {}
    for key, value in data.items():
        line, column = data.kpos[key]
        if key not in fields:
            raise InputError(shown, line, f"unknown policy parameter {key!r} (known: {', '.join(fields)})", column)

        def fail(message: str, where: tuple[int, int] = data.at(key)) -> InputError:
            return InputError(shown, where[0], message, where[1])

        changes[key] = _value(policy, key, value, fail)
    return replace(policy, **changes)


def resolve(
    paths: list[str],
    docs: Documents,
    policy_file: str | None,
    config: CheckConfig | None = None,
    model: str | None = None,
) -> Policy:
    """The seed, then the model, the tree, the check config (``policy:``, rule options), ``--policy``.

    ``model`` is the model file to read parameters from (``iklim render`` passes the one it
    renders); without it, ``environments/prod.yaml`` in the first path's folder or above."""
    policy = Policy()
    model = model if model is not None else find_model(paths)
    if model is not None:
        policy = from_model(policy, model)
    policy = from_tree(policy, docs)
    if config is not None:
        if config.policy is not None:
            policy = from_mapping(policy, config.policy, config.path or "")
        policy = replace(policy, rule_options=config.options())
    if policy_file is not None:
        policy = from_file(policy, policy_file)
    return policy
