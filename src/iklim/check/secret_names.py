"""Which names hold a secret and which values are literal: shared by every place a secret hides.

A name (environment variable, command-line flag without its dashes, ``key=value`` option) holds a
secret when one of its words is a secret word (``PASSWORD``, ``PASS``, ``SECRET``, ``TOKEN``,
``KEY``...), a word contains ``PASSWORD``/``PASSWD`` (Spilo's ``PGPASSWORD_SUPERUSER``),
or its last word is ``AUTH`` or ``COOKIE``. It does not when its last word names
a reference or a property (``*_FILE``, ``*_PATH``, ``*_ID``, ``*_URL``, ``*_TTL``...), when it
names a public half (``PUBLIC``/``PUB``), or when it is listed in ``not_secrets``.

A value is literal unless it is empty, a boolean, ``none``/``null``, a path (``/...``, ``./...``,
``~/...``: a file holding the secret, such as ``/run/secrets/x``), or is an interpolation and
nothing else (``${VAR}``, ``$VAR``, ``${VAR:?err}``, ``$(cat /run/secrets/x)`` in a shell command:
resolved at deploy or run time); ``S3cr3t$$Pw`` and ``hunter2$`` are literal. Names and values are words only:
every function here is linear in its input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, tuple[str, ...]] = {
    "secret_words": (
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "KEY",
        "APIKEY",
        "SECRETKEY",
        "AUTHTOKEN",
        "CREDENTIALS",
        "CREDENTIAL",
        "REQUIREPASS",
        "MASTERAUTH",
        "AUTHPASS",
    ),
    # A word that holds one of these is a secret word too (PGPASSWORD, DBPASSWORD, ADMINPASSWORD).
    "secret_parts": ("PASSWORD", "PASSWD"),
    # Secret only as the last word: REDIS_AUTH, --auth, RABBITMQ_ERLANG_COOKIE;
    # GF_AUTH_ANONYMOUS_ENABLED and GF_SECURITY_COOKIE_SAMESITE are not.
    "secret_tails": ("AUTH", "COOKIE"),
    "reference_words": (
        "FILE",
        "PATH",
        "DIR",
        "NAME",
        "ID",
        "URL",
        "URI",
        "ADDR",
        "TYPE",
        "LENGTH",
        "TTL",
        "PREFIX",
        "USER",
        "USERNAME",
        "ENABLED",
        "ENABLE",
        "REQUIRED",
        "MODE",
        "POLICY",
        "HEADER",
        "ALGORITHM",
        "SIZE",
        "BITS",
        "FORMAT",
        "EXPIRY",
        "EXPIRATION",
        "ROTATION",
        "VERSION",
        "CMD",
        "COMMAND",
        "ENDPOINT",
        "ISSUER",
        "AUDIENCE",
        "TIMEOUT",
        "LIFETIME",
        "DURATION",
        "AGE",
        "SECURE",
        "SAMESITE",
        "DOMAIN",
        "HOST",
        "PORT",
        "METHOD",
        "STDIN",
        "PROMPT",
    ),
    # A switch about a secret, not a secret: --no-password, --ask-pass, SKIP_PASSWORD_CHECK.
    "negations": ("NO", "ASK", "SKIP", "DISABLE", "WITHOUT"),
    "public_words": ("PUBLIC", "PUB"),
    # Identifiers, not secrets: the etcd cluster token only keeps clusters apart; PWD is a path.
    # MySQL's switches name a password without holding one; etcd's --auth-token is a token type;
    # etcd's --client-cert-auth and --peer-client-cert-auth are booleans (Go's 1, t, T too).
    "not_secrets": (
        "INITIAL_CLUSTER_TOKEN",
        "ETCD_AUTH_TOKEN",
        "CLIENT_CERT_AUTH",
        "PWD",
        "OLDPWD",
        "ASKPASS",
        "ALLOW_EMPTY_PASSWORD",
        "RANDOM_ROOT_PASSWORD",
        "ONETIME_PASSWORD",
    ),
    # Secrets although their last word says otherwise: Vault's dev-mode root token.
    "always_secrets": ("VAULT_DEV_ROOT_TOKEN_ID", "DEV_ROOT_TOKEN_ID"),
    "safe_values": ("", "true", "false", "yes", "no", "on", "off", "none", "null"),
}

_REFERENCE = re.compile(
    r"\$\{\{[A-Za-z_][A-Za-z0-9_]*\}\}|\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*"
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")
# Each attempt starts at a '://' and stops at the next '/', blank, quote or '@': linear time.
_USERINFO = re.compile(r"://[^/\s\"'@:]*:([^/\s\"'@]*)@")


def words(name: str) -> list[str]:
    """Upper-case words of a name: ``keyFile`` -> KEY FILE, ``--redis.password-file`` -> REDIS PASSWORD FILE."""
    return [w.upper() for w in _SPLIT.split(name) if w]


def is_secret_name(name: str, options: Mapping[str, Any] = DEFAULTS) -> bool:
    """Whether ``name`` (a variable, a flag without dashes, an option key) holds a secret."""
    parts = words(name)
    if not parts:
        return False
    joined = "_".join(parts)
    if any(joined == n or joined.endswith("_" + n) for n in options["always_secrets"]):
        return True
    if any(joined == n or joined.endswith("_" + n) for n in options["not_secrets"]):
        return False
    if parts[-1] in options["reference_words"] or parts[0] in options["negations"]:
        return False
    if any(w in options["public_words"] for w in parts):
        return False
    if parts[-1] in options["secret_tails"]:
        return True
    return any(w in options["secret_words"] or any(p in w for p in options["secret_parts"]) for w in parts)


def closing(text: str, start: int) -> int:
    """The index of the ``)`` closing the ``(`` before ``start``, -1 when unclosed. Linear."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def is_reference(text: str, shell: bool = True) -> bool:
    """Whether ``text`` is nothing but interpolations: ``${VAR}``, ``$VAR``, ``${VAR:?err}``,
    APISIX's ``${{VAR}}`` and, when ``shell``, command substitutions ``$(...)`` and backquotes.
    ``shell=False`` reads compose's raw text, where ``$$`` is a literal ``$``. Linear."""
    i, size = 0, len(text)
    while i < size:
        match = _REFERENCE.match(text, i)
        if match is not None:
            i = match.end()
        elif shell and text.startswith("$(", i):
            end = closing(text, i + 2)
            if end < 0:
                return False
            i = end + 1
        elif shell and text[i] == "`":
            end = text.find("`", i + 1)
            if end < 0:
                return False
            i = end + 1
        else:
            return False
    return size > 0


def is_literal(value: object, options: Mapping[str, Any] = DEFAULTS, raw: str | None = None) -> bool:
    """Whether a value written for a secret name is the secret itself.

    A ``$`` exempts the value only when the value IS an interpolation (:func:`is_reference`):
    ``S3cr3t$Pw`` and ``hunter2$`` are literal. ``raw`` is compose's text before interpolation
    (an environment value), read with ``$$`` as a literal ``$``."""
    if value is None or isinstance(value, bool):
        return False
    text = str(value).strip()
    if text.lower() in options["safe_values"] or text.startswith(("/", "./", "../", "~/")):
        return False
    if raw is not None and "$" in raw:
        return not is_reference(raw.strip(), shell=False)
    return not ("$" in text or "`" in text) or not is_reference(text)


def userinfo_password(text: str) -> str | None:
    """The password of a ``scheme://user:password@host`` URL in ``text``, None without one.

    A password holding ``$``, ``%`` or ``{`` (a variable, a format or template placeholder) is
    not literal.
    """
    for match in _USERINFO.finditer(text):
        password = match.group(1)
        if password and not any(c in password for c in "$%{"):
            return password
    return None
