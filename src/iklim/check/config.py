"""``.iklim-check.yaml``: per-rule configuration, as yamllint configures its rules.

The file is found upward from the first checked path (its folder, then each parent, stopping
after a folder holding ``.git`` or at the filesystem root), or given with ``--config FILE``::

    rules:
      healthcheck: disable              # the rule does not run
      spread: enable                    # the default
      image-pinned: {severity: error}   # every finding of the rule at this severity
      literal-secret:                   # declared options (``iklim explain RULE`` lists them)
        not_secrets: [ETCD_INITIAL_CLUSTER_TOKEN, GF_SECURITY_ADMIN_USER_KEY]
    policy:                             # policy parameters, as in a --policy file
      members: {apisix: 2}

A rule's setting is ``enable``, ``disable`` or a mapping of ``severity`` (``error`` or
``warning``), ``enabled`` (a boolean) and the rule's declared options; an option's value has its
default's type. ``policy:`` takes the keys of a ``--policy`` file and applies before it, so
``--policy FILE`` on the command line overrides the config file. Any problem (unknown rule ID,
unknown option, wrong type) is :class:`InputError` at ``file:line:col``: exit status 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from iklim.check.findings import InputError, Severity
from iklim.check.rules.base import Rule
from iklim.check.yamlload import Pos, YList, YMap
from iklim.model.paths import find_upward

CONFIG_FILE = ".iklim-check.yaml"
_SECTIONS = ("rules", "policy")


@dataclass(frozen=True)
class RuleSetting:
    """One rule's configuration: whether it runs, its severity (``None``: its own), its options."""

    enabled: bool = True
    severity: Severity | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckConfig:
    """A loaded config: its path (``None``: no file), rule settings by ID, its ``policy:`` map."""

    path: str | None = None
    rules: dict[str, RuleSetting] = field(default_factory=dict)
    policy: YMap | None = None

    def active(self, rules: Sequence[Rule]) -> tuple[Rule, ...]:
        """The rules that run (all but the disabled ones), each with its configured severity."""
        out = []
        for rule in rules:
            setting = self.rules.get(rule.id, RuleSetting())
            if setting.enabled:
                out.append(replace(rule, severity=setting.severity) if setting.severity else rule)
        return tuple(out)

    def severities(self) -> dict[str, Severity]:
        """Rule ID -> configured severity (for :func:`iklim.check.engine.run`)."""
        return {rule_id: s.severity for rule_id, s in self.rules.items() if s.severity is not None}

    def options(self) -> dict[str, dict[str, Any]]:
        """Rule ID -> configured options (for :attr:`Policy.rule_options`)."""
        return {rule_id: dict(s.options) for rule_id, s in self.rules.items() if s.options}


def find_config(paths: Sequence[str]) -> str | None:
    """``.iklim-check.yaml`` in the first path's folder or above, up to a ``.git`` folder's level."""
    return find_upward(paths, CONFIG_FILE, stop_at_git=True)


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "a boolean (true or false)"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, tuple | list):
        return "a list of strings"
    return "a string"


def _option(default: Any, value: Any) -> Any:
    """``value`` in the declared option's type (a list becomes a tuple), or ``None`` if it is wrong."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else None
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None
    if isinstance(default, tuple | list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else None
    return value if isinstance(value, str) else None


class _Reader:
    def __init__(self, path: str, rules: Sequence[Rule]) -> None:
        self.path = path
        self.rules = {rule.id: rule for rule in rules}

    def fail(self, pos: Pos, message: str) -> InputError:
        return InputError(self.path, pos[0], message, pos[1])

    def setting(self, rule: Rule, value: Any, pos: Pos) -> RuleSetting:
        if value in ("enable", "disable"):
            return RuleSetting(enabled=value == "enable")
        if not isinstance(value, YMap):
            raise self.fail(pos, f"rule {rule.id!r}: expected 'enable', 'disable' or a mapping of settings")
        enabled, severity, options = True, None, {}
        for key, item in value.items():
            kpos, vpos = value.kpos[key], value.at(key)
            if key == "enabled":
                if not isinstance(item, bool):
                    raise self.fail(vpos, f"rule {rule.id!r}: 'enabled' must be a boolean (true or false)")
                enabled = item
            elif key == "severity":
                if item not in ("error", "warning"):
                    raise self.fail(vpos, f"rule {rule.id!r}: 'severity' must be 'error' or 'warning'")
                severity = Severity(item)
            elif key in rule.options:
                converted = _option(rule.options[key], item)
                if converted is None:
                    wanted = _type_name(rule.options[key])
                    raise self.fail(vpos, f"rule {rule.id!r}: option {key!r} must be {wanted}")
                options[key] = converted
            else:
                known = ", ".join(["enabled", "severity", *rule.options])
                raise self.fail(kpos, f"rule {rule.id!r} has no option {key!r} (known: {known})")
        return RuleSetting(enabled, severity, options)

    def read(self, data: Any) -> CheckConfig:
        if data is None:
            return CheckConfig(self.path)
        if not isinstance(data, YMap):
            raise InputError(self.path, 1, "a check config must be a mapping with 'rules' and 'policy'", 1)
        for key in data:
            if key not in _SECTIONS:
                raise self.fail(data.kpos[key], f"unknown section {key!r} (known: {', '.join(_SECTIONS)})")
        section = data.get("rules")
        settings: dict[str, RuleSetting] = {}
        if section is not None and not isinstance(section, YMap):
            raise self.fail(data.at("rules"), "'rules' must map rule IDs to settings")
        for rule_id, value in (section or {}).items():
            rule = self.rules.get(rule_id)
            if rule is None:
                known = ", ".join(self.rules)
                raise self.fail(section.kpos[rule_id], f"unknown rule {rule_id!r} (known: {known})")  # type: ignore[union-attr]
            settings[rule_id] = self.setting(rule, value, section.at(rule_id))  # type: ignore[union-attr]
        policy = data.get("policy")
        if policy is not None and not isinstance(policy, YMap):
            raise self.fail(data.at("policy"), "'policy' must be a mapping of policy parameters")
        return CheckConfig(self.path, settings, policy)


def load_config(path: str, rules: Sequence[Rule]) -> CheckConfig:
    """Read and validate a check config against ``rules`` (their IDs and declared options).

    Raises :class:`InputError` (``file:line:col: message``) for an unreadable file, invalid YAML
    or any value the form above does not allow.
    """
    from iklim.check.documents import display, read_input
    from iklim.check.yamlload import load_yaml

    shown = display(path)
    return _Reader(shown, rules).read(load_yaml(read_input(path, shown), shown))


def resolve_config(paths: Sequence[str], explicit: str | None, rules: Sequence[Rule]) -> CheckConfig:
    """The config in force: ``explicit`` (``--config``), else the one found upward, else none."""
    path = explicit if explicit is not None else find_config(paths)
    return load_config(path, rules) if path is not None else CheckConfig()


def settings_table(options: Mapping[str, Any]) -> list[str]:
    """``name: default (type)`` lines for ``iklim explain``."""
    return [f"{key}: {_shown(value)}  ({_type_name(value)})" for key, value in options.items()]


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list | YList):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
