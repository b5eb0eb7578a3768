"""Listeners on the private network speak TLS, unless the model says why not (issue 17).

Hetzner private networks are isolated but not encrypted: anyone on them, or any container on
the attachable overlay, can read or alter plaintext traffic (Vault unseal shares and tokens,
Patroni's leader key in etcd, PostgreSQL replication). Flagged, by the model's cluster key:

- ``vault``: a ``listener "tcp"`` with ``tls_disable = true`` in a Vault config (``*.hcl``;
  https://developer.hashicorp.com/vault/docs/configuration/listener/tcp#tls_disable);
- ``etcd``: on each member's effective settings (its ``ETCD_*`` variables, overridden by its
  command-line flags, read as etcd's Go flag parser does: ``-flag`` or ``--flag``, ``=value`` or
  the next word; the ``entrypoint`` and ``command`` as one argument list, each a list or one
  string, or the ``etcd`` commands of a ``sh -c`` script with the ``ETCD_*`` variables it exports
  or puts in front of them and ``"$@"`` as the words after its ``$0``), an ``http://`` URL (not
  loopback, any case)
  in ``listen-client-urls``, ``listen-client-http-urls``, ``advertise-client-urls``,
  ``listen-peer-urls``, ``initial-advertise-peer-urls`` or ``initial-cluster`` (not
  ``listen-metrics-urls``: metrics and health only, no keys), or ``https://`` client (peer) URLs while
  neither ``client-cert-auth`` (``peer-client-cert-auth``) is true in Go's words (``1``, ``t``,
  ``true``...) nor ``trusted-ca-file`` (``peer-trusted-ca-file``) is set (etcd requires a client
  certificate when either is): any TLS client may then read and write every prefix; or
  ``client-cert-auth`` without ``trusted-ca-file``: the client's certificate is then checked
  against the system's public CAs; each etcd command of a script judged alone, with every value
  an exported variable may hold there (control flow is not followed); APISIX's
  ``deployment.etcd.host``, or its ``deployment.etcd.tls.verify: false``; Patroni's
  ``etcd3``/``etcd`` section with ``protocol: http`` or no protocol (Patroni's default is http)
  or ``http://`` hosts (https://etcd.io/docs/v3.5/op-guide/security/,
  .../op-guide/configuration/);
- ``postgresql``: a Patroni config whose ``postgresql.parameters.ssl`` (or the bootstrap DCS's)
  is not ``on``: PostgreSQL's default is off (https://www.postgresql.org/docs/16/ssl-tcp.html);
  or, with ssl on, a ``pg_hba`` rule (in ``postgresql``, ``bootstrap.dcs.postgresql`` or
  ``bootstrap``) of type ``host`` or ``hostnogssenc``, which also admit a client without TLS, or
  ``hostnossl``, which admits only those, unless its method is ``reject`` (``hostssl`` admits
  only TLS: https://www.postgresql.org/docs/16/auth-pg-hba-conf.html), or a connection Patroni
  makes itself (``postgresql.authentication.<user>`` or ``PATRONI_<USER>_SSLMODE``, for
  replication, rewind and its superuser) whose ``sslmode`` is not ``verify-full``/``verify-ca``
  (libpq's default ``prefer`` falls back to plaintext);
- ``patroni_api``: a Patroni ``restapi`` without ``certfile`` (nor ``PATRONI_RESTAPI_CERTFILE``
  on a Patroni service): the REST API then serves plain HTTP.

A model that keeps a cluster plaintext on purpose says so in ``tls.clusters.<cluster>``
(``mode: plaintext`` with a ``reason``); its findings are then reported as kept by the model,
with that reason, and do not fail the check. An inline ``iklim: ignore`` comment cannot excuse
them: the choice and its reason belong in the model (a check config may still turn the whole rule
off or down, as for any rule, in a file that is itself reviewed).

Failing example (config/vault/vault-1.hcl)::

    listener "tcp" {
      address     = "0.0.0.0:8200"
      tls_disable = true
    }

Passing example (config/vault/vault-1.hcl)::

    listener "tcp" {
      address       = "0.0.0.0:8200"
      tls_cert_file = "/run/secrets/tls_vault_1_crt"
      tls_key_file  = "/run/secrets/tls_vault_1_key"
    }

Failing example (config/patroni/patroni-1.yml)::

    scope: iklim-pg
    restapi:
      listen: 0.0.0.0:8008
    etcd3:
      hosts: etcd-01:2379
      protocol: http
    postgresql:
      listen: 0.0.0.0:5432
      parameters:
        ssl: 'off'

Passing example (config/patroni/patroni-1.yml)::

    scope: iklim-pg
    restapi:
      listen: 0.0.0.0:8008
      certfile: /run/secrets/tls_patroni_1_crt
      keyfile: /run/secrets/tls_patroni_1_key
    etcd3:
      hosts: etcd-01:2379
      protocol: https
      cacert: /run/secrets/tls_ca_crt
    postgresql:
      listen: 0.0.0.0:5432
      parameters:
        ssl: 'on'

Failing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        environment:
          ETCD_ADVERTISE_CLIENT_URLS: http://etcd-01:2379

Passing example::

    services:
      etcd-1:
        image: quay.io/coreos/etcd:v3.5.17
        environment:
          ETCD_ADVERTISE_CLIENT_URLS: https://etcd-01:2379
          ETCD_CLIENT_CERT_AUTH: 'true'
          ETCD_TRUSTED_CA_FILE: /run/secrets/tls_ca_crt
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from iklim.check.compose import environment, get_list, get_map
from iklim.check.configs import apisix_etcd
from iklim.check.documents import Documents, ServiceRef
from iklim.check.etcdflags import GO_TRUE, MAX_VARIANTS, Setting, member_settings
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule
from iklim.check.yamlload import Pos, YMap

#: etcd's settings whose value holds URLs, by flag name (the variable is ``ETCD_`` + upper case).
_ETCD_URL_KEYS = (
    "listen-client-urls",
    "listen-client-http-urls",
    "advertise-client-urls",
    "listen-peer-urls",
    "initial-advertise-peer-urls",
    "initial-cluster",
)
#: listener -> (its URL settings, the boolean setting that makes it ask for a CA-signed client
#: certificate).
_CERT_AUTH = {
    "client": (("listen-client-urls", "advertise-client-urls"), "client-cert-auth", "trusted-ca-file"),
    "peer": (("listen-peer-urls", "initial-advertise-peer-urls"), "peer-client-cert-auth", "peer-trusted-ca-file"),
}
#: Characters of a URL shown in a message at most (an ``initial-cluster`` may be long).
_SHOWN = 100
#: A non-loopback ``http://`` URL, ended by a blank, a comma or what closes a ``${VAR:-URL}`` or a
#: quote around it.
_PLAIN_URL = re.compile(
    r"""http://(?!(?:127\.[0-9.]+|localhost|\[::1\])(?::|/|,|[}"')]|$))[^\s,}"')]+""", re.IGNORECASE
)
_ON = {"on", "true", "yes", "1"}
#: libpq sslmodes that check the server's certificate (https://www.postgresql.org/docs/16/libpq-ssl.html).
_VERIFYING = ("verify-full", "verify-ca")


def _plain_urls(value: Any) -> list[str]:
    """The non-loopback ``http://`` URLs in a value (a comma-separated list or ``name=url`` pairs)."""
    return _PLAIN_URL.findall(str(value)) if isinstance(value, str) else []


def _finding(policy: Policy, cluster: str, path: str, pos: Pos, message: str, service: str | None = None) -> Finding:
    reason = policy.tls_plaintext.get(cluster, "")
    excused = f"tls.clusters.{cluster}: {reason}" if reason else ""
    where = f"{message} (model key tls.clusters.{cluster})"
    return Finding(path, pos[0], pos[1], RULE.id, RULE.severity, where, service, 0, excused)


def _vault(docs: Documents, policy: Policy) -> Iterator[Finding]:
    from iklim.check.hcl import load_hcl

    for path, text in docs.others:
        if not path.endswith(".hcl") or "listener" not in text:
            continue
        for block in load_hcl(text, path):
            if block.type != "listener" or block.labels[:1] != ("tcp",):
                continue
            value = block.attrs.get("tls_disable")
            if value is True or str(value).lower() in _ON:
                yield _finding(
                    policy, "vault", path, block.attrs.at("tls_disable"), "Vault listener has tls_disable = true"
                )


def _etcd_services(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        if ref.kind != "etcd":
            continue
        seen: set[tuple[int, str]] = set()
        members = member_settings(ref.spec)
        for settings in members.settings:  # each etcd command a script may run, alone
            for finding in _etcd_member(policy, ref, settings):
                key = (finding.line, finding.message)
                if key not in seen:
                    seen.add(key)
                    yield finding
        if members.partial:  # a bound on the work must not pass a script silently
            message = (
                f"etcd's script asks for more than {MAX_VARIANTS} settings to judge (etcd commands times the "
                "values their variables may hold): only part were judged; simplify the script"
            )
            yield _finding(policy, "etcd", ref.stack.path, ref.key_pos, message, ref.name)


def _etcd_member(policy: Policy, ref: ServiceRef, settings: dict[str, Setting]) -> Iterator[Finding]:
    """The findings on one etcd's effective ``settings``: plaintext URLs; a TLS listener that
    does not require client certificates, or checks them against the system's public CAs.

    etcd requires and verifies a client certificate when ``--client-cert-auth`` is true **or**
    ``--trusted-ca-file`` is set (the CA file alone turns it on: etcd
    ``client/pkg/transport/listener.go``, etcd-io/website#724; seen with etcd 3.4.23 here: a
    client without a certificate is refused with ``bad certificate``). With
    ``--client-cert-auth`` and no CA file, Go's TLS server verifies the client's chain against
    the system roots (``tls.Config.ClientCAs`` nil), so a certificate any public CA issued is
    accepted. The same for the peer listener with the ``peer-`` flags."""
    for key in _ETCD_URL_KEYS:
        setting = settings.get(key)
        urls = _plain_urls(setting.value) if setting else []
        if setting and urls:
            url = urls[0] if len(urls[0]) <= _SHOWN else urls[0][:_SHOWN] + "..."
            message = f"etcd speaks plaintext: {setting.shown} has {url}"
            yield _finding(policy, "etcd", ref.stack.path, setting.pos, message, ref.name)
    for listener, (url_keys, auth, ca) in _CERT_AUTH.items():
        tls = any("https://" in settings[k].value.lower() for k in url_keys if k in settings)
        on, trusted = settings.get(auth), settings.get(ca)
        if not tls or trusted is not None and trusted.value.strip():
            continue
        if on is not None and on.value in GO_TRUE:
            message = f"etcd's {listener} listener checks client certificates against the system's public CAs"
            yield _finding(policy, "etcd", ref.stack.path, on.pos, f"{message}: {_either(ca)} is not set", ref.name)
            continue
        why = f"{on.shown} is not true and {_either(ca)} is not set" if on else f"{_either(auth, ca)} is set"
        pos = on.pos if on else ref.key_pos
        yield _finding(
            policy, "etcd", ref.stack.path, pos, f"etcd's {listener} listener takes any TLS client: {why}", ref.name
        )


def _either(*flags: str) -> str:
    """``--trusted-ca-file (ETCD_TRUSTED_CA_FILE)``; two flags: ``neither A nor B``."""
    named = [f"--{flag} ({'ETCD_' + flag.upper().replace('-', '_')})" for flag in flags]
    return named[0] if len(named) == 1 else f"neither {named[0]} nor {named[1]}"


def _apisix(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for client in apisix_etcd(docs):
        for host in client.hosts() or []:
            for url in _plain_urls(host.text):
                yield _finding(policy, "etcd", client.path, host.pos, f"APISIX reaches etcd over plaintext {url}")
        tls = get_map(client.section, "tls")
        if not client.dashboard and tls is not None and str(tls.get("verify", True)).lower() in ("false", "no", "off"):
            yield _finding(policy, "etcd", client.path, tls.at("verify"), "APISIX does not verify etcd's certificate")


def _patroni_env(docs: Documents) -> dict[str, str]:
    found: dict[str, str] = {}
    for ref in docs.services():
        if ref.kind == "patroni":
            for name, value, _, _ in environment(ref.spec):
                if value is not None and not isinstance(value, YMap):
                    found.setdefault(name, str(value))
    return found


def _patroni(docs: Documents, policy: Policy) -> Iterator[Finding]:
    env = None
    for path, data in docs.configs:
        if not isinstance(data, YMap) or "restapi" not in data or "postgresql" not in data:
            continue
        env = _patroni_env(docs) if env is None else env
        dcs_key = "etcd3" if get_map(data, "etcd3") is not None else "etcd"
        dcs = get_map(data, dcs_key)
        if dcs is not None:
            protocol = str(env.get("PATRONI_ETCD3_PROTOCOL", dcs.get("protocol", "http"))).lower()
            hosts = [str(dcs.get(k, "")) for k in ("host", "hosts", "url", "urls", "proxy")]
            if protocol != "https" or any(_plain_urls(h) for h in hosts):
                pos = dcs.at("protocol") if "protocol" in dcs else data.kpos.get(dcs_key, dcs.pos)
                yield _finding(policy, "etcd", path, pos, f"Patroni reaches etcd over {protocol or 'http'}")
        restapi = get_map(data, "restapi")
        if restapi is not None and "certfile" not in restapi and "PATRONI_RESTAPI_CERTFILE" not in env:
            pos = data.kpos.get("restapi", restapi.pos)
            yield _finding(policy, "patroni_api", path, pos, "Patroni's REST API has no certfile: plain HTTP")
        local = get_map(get_map(data, "postgresql"), "parameters")
        shared = get_map(get_map(get_map(get_map(data, "bootstrap"), "dcs"), "postgresql"), "parameters")
        where = next((p for p in (local, shared) if p is not None and "ssl" in p), None)
        ssl = str(where.get("ssl")).lower() if where is not None else "off"
        if ssl not in _ON:
            pos = where.at("ssl") if where is not None else data.kpos.get("postgresql", data.pos)
            shown = "is missing (PostgreSQL's default is off)" if where is None else f"is {where.get('ssl')!r}"
            yield _finding(policy, "postgresql", path, pos, f"PostgreSQL ssl {shown}")
            continue
        yield from _postgresql_tls(path, data, policy, env)


#: pg_hba connection types that admit a TCP client without TLS (``hostnossl``, ``hostnogssenc``:
#: only or also such clients; https://www.postgresql.org/docs/16/auth-pg-hba-conf.html).
_PLAIN_HBA = {"host": "a client without TLS", "hostnossl": "only clients without TLS",
              "hostnogssenc": "a client without TLS"}  # fmt: skip


def _hba_method(words: list[str]) -> str:
    """The auth method of a host-type pg_hba rule split into words (``type database user address
    [mask] method [options]``: a bare IP address is followed by its mask), "" when missing."""
    import ipaddress

    at = 4
    if len(words) > 5:
        try:
            ipaddress.ip_address(words[3])
            ipaddress.ip_address(words[4])
            at = 5
        except ValueError:
            pass
    return words[at] if len(words) > at else ""


def _postgresql_tls(path: str, data: YMap, policy: Policy, env: dict[str, str]) -> Iterator[Finding]:
    """With ssl on: pg_hba rules of a :data:`_PLAIN_HBA` type that do not ``reject`` (in
    ``postgresql``, ``bootstrap.dcs.postgresql`` and ``bootstrap``, which Patroni writes when the
    first has none), and Patroni's own connections (``postgresql.authentication.<user>``, or its
    ``PATRONI_<USER>_SSLMODE`` variable, which wins) that do not verify the server."""
    bootstrap = get_map(data, "bootstrap")
    dcs_pg = get_map(get_map(bootstrap, "dcs"), "postgresql")
    for hba in (
        get_list(get_map(data, "postgresql"), "pg_hba"),
        get_list(dcs_pg, "pg_hba"),
        get_list(bootstrap, "pg_hba"),
    ):
        for index, rule in enumerate(hba or []):
            words = str(rule).split("#", 1)[0].split()  # PostgreSQL: "#" starts a comment
            admits = _PLAIN_HBA.get(words[0]) if words else None
            if hba is not None and admits and _hba_method(words) != "reject":
                yield _finding(
                    policy, "postgresql", path, hba.at(index), f"pg_hba rule {str(rule)!r} admits {admits}: use hostssl"
                )
    auth = get_map(get_map(data, "postgresql"), "authentication")
    for user, spec in (auth or {}).items():
        if auth is None or not isinstance(spec, YMap):
            continue
        variable = f"PATRONI_{str(user).upper()}_SSLMODE"
        mode = env.get(variable, str(spec.get("sslmode", "prefer")))  # libpq's default: prefer
        if mode not in _VERIFYING:
            pos = spec.at("sslmode") if "sslmode" in spec else auth.kpos.get(user, spec.pos)
            said = f"{variable}={mode}" if variable in env else f"sslmode={mode}"
            message = f"Patroni's {user} connection has {said}: it does not verify the server"
            yield _finding(policy, "postgresql", path, pos, message)


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    yield from _vault(docs, policy)
    yield from _etcd_services(docs, policy)
    yield from _apisix(docs, policy)
    yield from _patroni(docs, policy)


RULE = Rule("plaintext-listener", Severity.ERROR, __doc__ or "", check)
