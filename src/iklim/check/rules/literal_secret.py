"""Passwords, tokens, keys and Erlang cookies never appear as literals in a service's environment.

A variable whose name says it holds a secret (a ``PASSWORD``, ``PASS``, ``SECRET``, ``TOKEN``,
``KEY`` or ``COOKIE`` word) must not carry a literal value, in list or mapping form, through an
anchor or a merge key. Use a Docker secret and the image's ``*_FILE`` variable
(``/run/secrets/...``), or a stack variable without a literal default (``${VAR}``). The
message never repeats the value.

Failing example::

    services:
      rabbitmq-1:
        image: rabbitmq:3.13.7-management-alpine
        environment:
          RABBITMQ_ERLANG_COOKIE: s3cr3t-cookie

Passing example::

    services:
      rabbitmq-1:
        image: rabbitmq:3.13.7-management-alpine
        environment:
          RABBITMQ_ERLANG_COOKIE_FILE: /run/secrets/rabbitmq_erlang_cookie
        secrets: [rabbitmq_erlang_cookie]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from iklim.check.compose import environment
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule

OPTIONS = {
    "secret_words": (
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "SECRET",
        "TOKEN",
        "KEY",
        "APIKEY",
        "COOKIE",
        "CREDENTIALS",
        "CREDENTIAL",
    ),
    "reference_words": ("FILE", "PATH", "DIR", "NAME", "ID", "URL", "ADDR", "TYPE", "LENGTH", "TTL", "PREFIX"),
    # Identifiers, not secrets: the etcd cluster token only keeps clusters apart.
    "not_secrets": ("ETCD_INITIAL_CLUSTER_TOKEN",),
    # flags, not secrets (bitnami: ALLOW_EMPTY_PASSWORD: "no")
    "safe_values": ("", "true", "false", "yes", "no", "on", "off", "none", "null"),
}
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")
_BARE_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?:(?::?\?)[^}]*)?\}?")


def is_secret_name(name: str, options: Mapping[str, Any] = OPTIONS) -> bool:
    if name.upper() in options["not_secrets"]:
        return False
    words = [w.upper() for w in _SPLIT.split(name) if w]
    if not words or words[-1] in options["reference_words"]:
        return False
    return any(w in options["secret_words"] for w in words)


def is_literal(value: object, raw: str | None, options: Mapping[str, Any] = OPTIONS) -> bool:
    """A literal secret: not empty, not a bare variable, not a secret file path."""
    if value is None or isinstance(value, bool):
        return False
    text = str(value).strip()
    if text.lower() in options["safe_values"] or text.startswith("/run/secrets/"):
        return False
    source = raw if raw is not None else text
    return _BARE_VAR.fullmatch(source.strip()) is None and _BARE_VAR.fullmatch(text) is None


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    options = RULE.settings(policy)
    for ref in docs.services():
        for name, value, raw, pos in environment(ref.spec):
            if is_secret_name(name, options) and is_literal(value, raw, options):
                yield RULE.on(
                    ref,
                    pos,
                    f"{name} is a literal secret: move it to a Docker secret and set "
                    f"{name}_FILE=/run/secrets/<name> (or use ${{{name}}} without a default)",
                )


RULE = Rule("literal-secret", Severity.ERROR, __doc__ or "", check, OPTIONS)
