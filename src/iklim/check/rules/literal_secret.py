"""Passwords, tokens, keys and Erlang cookies never appear as literals in a stack or APISIX config.

Looked at: a service's ``environment`` (list or mapping form, through anchors and merge keys)
under the names the engines' images use (``POSTGRES_PASSWORD``, Spilo's ``PGPASSWORD_SUPERUSER``,
``PATRONI_*_PASSWORD``, ``MONGO_INITDB_ROOT_PASSWORD``, ``RABBITMQ_DEFAULT_PASS``,
``RABBITMQ_ERLANG_COOKIE``, ``REDIS_PASSWORD``, ``GF_SECURITY_ADMIN_PASSWORD``, ``VAULT_TOKEN``,
and any name whose words say ``PASSWORD``/``PASS``/``SECRET``/``TOKEN``/``KEY``/``COOKIE``);
``command``, ``entrypoint`` and ``healthcheck.test`` in list or string form, ``sh -c`` scripts
included (``--requirepass x``, ``--masterauth``, ``--password``, ``--auth``, ``redis-cli -a``,
``mongosh -p``, ``export X_PASSWORD=x``, ``echo "requirepass x"``); URLs with a password; volume
``driver_opts`` (``o: "username=u,password=x"`` of a cifs mount); APISIX admin keys in
``config.yaml``.

Not secrets: ``*_FILE``/``*_PATH``/``*_ID``/``*_URL``/``*_USER`` names (``mongod --keyFile`` names a
file), public keys, empty values, booleans, paths (``/run/secrets/x``), and values that are an
interpolation and nothing else (``${VAR}``, ``${VAR:?err}`` resolved at deploy time,
``"$(cat /run/secrets/x)"`` in a shell command at run time); ``"S3cr3t$$Pw"`` and ``hunter2$``
are literals. A default
(``${PW:-changeme}``, ``${{KEY:=x}}``) is a literal. The message never repeats the value; its
advice is what the image in question actually reads (:mod:`iklim.check.secret_advice`: the
rabbitmq image has no ``RABBITMQ_ERLANG_COOKIE_FILE``, redis reads no password variable).

Failing example::

    services:
      redis-1:
        image: redis:7.4.1-alpine
        command: [redis-server, --requirepass, s3cr3t]
      rabbitmq-1:
        image: rabbitmq:3.13.7-management-alpine
        environment:
          RABBITMQ_ERLANG_COOKIE: s3cr3t-cookie

Passing example::

    services:
      redis-1:
        image: redis:7.4.1-alpine
        command: [sh, -c, 'exec redis-server --requirepass "$$(cat /run/secrets/redis_password)"']
        secrets: [redis_password]
      grafana:
        image: grafana/grafana:11.3.0
        environment:
          GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password
        secrets: [grafana_admin_password]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from iklim.check import secret_advice
from iklim.check.compose import environment, get_map
from iklim.check.configs import apisix_admin_keys
from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.secret_args import scan, scan_healthcheck
from iklim.check.secret_names import DEFAULTS, is_literal, is_secret_name, userinfo_password, words
from iklim.check.yamlload import YList, YMap

OPTIONS = DEFAULTS


def _services(docs: Documents, options: Mapping[str, Any]) -> Iterator[Finding]:
    for ref in docs.services():
        image = ref.spec.get("image")
        for name, value, raw, pos in environment(ref.spec):
            if is_secret_name(name, options) and is_literal(value, options, raw):
                advice = secret_advice.for_variable(image, name)
                yield RULE.on(ref, pos, f"{name} is a literal secret: {advice}")
            elif isinstance(value, str) and words(name)[-1:] in (["ARGS"], ["OPTS"], ["OPTIONS"], ["FLAGS"]):
                for hit in scan(value, options):  # REDIS_ARGS="--requirepass x" (redis-stack)
                    advice = secret_advice.for_command(image, hit.label, hit.variable)
                    yield RULE.on(ref, pos, f"{hit.label} in {name} is given a literal secret: {advice}")
            elif isinstance(value, str) and userinfo_password(value) is not None:
                advice = secret_advice.GENERIC.format(name=name)
                yield RULE.on(ref, pos, f"{name} holds a URL with a literal password: {advice}")
        for key in ("command", "entrypoint"):
            value = ref.spec.get(key)
            for hit in scan(value, options):
                pos = value.at(hit.index) if isinstance(value, YList) and hit.index >= 0 else ref.spec.at(key)
                advice = secret_advice.for_command(image, hit.label, hit.variable)
                yield RULE.on(ref, pos, f"{hit.label} in '{key}' is given a literal secret: {advice}")
        health = get_map(ref.spec, "healthcheck")
        test = health.get("test") if health is not None else None
        for hit in scan_healthcheck(test, options):
            assert health is not None
            pos = test.at(hit.index) if isinstance(test, YList) and hit.index >= 0 else health.at("test")
            advice = secret_advice.for_command(image, hit.label, hit.variable)
            yield RULE.on(ref, pos, f"{hit.label} in the healthcheck is given a literal secret: {advice}")


def _volumes(docs: Documents, options: Mapping[str, Any]) -> Iterator[Finding]:
    for stack in docs.stacks:
        volumes = get_map(stack.data, "volumes")
        for volume, spec in (volumes or YMap((1, 1))).items():
            opts = get_map(spec, "driver_opts")
            for key, value in (opts or YMap((1, 1))).items():
                assert opts is not None
                found = [key] if is_secret_name(key, options) and is_literal(value, options) else []
                for option in str(value).split(",") if isinstance(value, str) else ():
                    name, sep, text = option.partition("=")
                    if sep and is_secret_name(name.strip(), options) and is_literal(text, options):
                        found.append(f"{key}: {name.strip()}=")
                if isinstance(value, str) and userinfo_password(value) is not None:
                    found.append(f"{key} (a URL with a password)")
                for what in found:
                    advice = secret_advice.VOLUME.format()
                    yield RULE.at(
                        stack.path, opts.at(key), f"volume {volume!r} driver_opts {what} is a literal secret: {advice}"
                    )


def _apisix(docs: Documents, options: Mapping[str, Any]) -> Iterator[Finding]:
    for path, key, pos in apisix_admin_keys(docs):
        if key is not None and is_literal(key, options):
            yield RULE.at(
                path,
                pos,
                "the APISIX admin key is a literal secret: write key: ${{ADMIN_KEY}} and export ADMIN_KEY "
                "from a Docker secret in the APISIX command (APISIX reads no *_FILE variant)",
            )


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    options = RULE.settings(policy)  # the declared options, as a config file may set them
    yield from _services(docs, options)
    yield from _volumes(docs, options)
    yield from _apisix(docs, options)


RULE = Rule("literal-secret", Severity.ERROR, __doc__ or "", check, OPTIONS)
