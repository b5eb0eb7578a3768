"""A service's ``ports`` is one Docker's compose schema accepts.

``docker stack deploy`` validates the file against the compose schema
(``config_schema_v3.*.json``) before it deploys anything: ``ports`` is a list whose items are
a number, a string (``"2379:2379"``) or a long-syntax mapping with only ``target``,
``published``, ``protocol`` and ``mode``. A single string (``ports: "2379:2379"``), a mapping
(``ports: {a: 1}``), an empty item (``ports: [null]``), a nested list or a boolean is refused,
and so is a long-syntax key the schema does not know: the whole stack is rejected.

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        ports: "2379:2379"

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        ports:
          - {target: 2379, published: 2379, protocol: tcp, mode: host}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import YList, YMap

_LONG_KEYS = ("target", "published", "protocol", "mode")
_REJECTS = "docker stack deploy rejects the file"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if "ports" not in ref.spec:
            continue
        items = ref.spec["ports"]
        if not isinstance(items, YList):
            hint = (
                f" (write ports: [{items!r}])" if isinstance(items, str | int) and not isinstance(items, bool) else ""
            )
            yield RULE.on(ref, ref.spec.at("ports"), f"{_REJECTS}: 'ports' must be a list, not {_kind(items)}{hint}")
            continue
        for index, item in enumerate(items):
            pos = items.at(index)
            if isinstance(item, YMap):
                unknown = [k for k in item if k not in _LONG_KEYS]
                if unknown:
                    known = ", ".join(_LONG_KEYS)
                    yield RULE.on(ref, pos, f"{_REJECTS}: port key(s) {', '.join(unknown)} unknown (known: {known})")
            elif item is None or isinstance(item, bool | list | dict) or not isinstance(item, str | int | float):
                yield RULE.on(
                    ref, pos, f"{_REJECTS}: a port must be a number, a string or a mapping, not {_kind(item)}"
                )


RULE = Rule("compose-syntax", Severity.ERROR, __doc__ or "", check)
