"""How to move a literal secret out of a stack file, as each image really reads it.

Advice is data: :data:`IMAGES` recognises an image family by its repository (registry and tag
stripped), and :data:`ADVICE` maps (family, variable pattern) to a sentence. The first row whose
family and pattern match wins; ``*`` matches any family. To re-key the table on another
recognition (a component kind), change :func:`family` only.

What the rows rely on (checked against each image's entrypoint):

- postgres (official): ``docker-entrypoint.sh`` reads ``POSTGRES_PASSWORD_FILE``,
  ``POSTGRES_USER_FILE``, ``POSTGRES_DB_FILE``, ``POSTGRES_INITDB_ARGS_FILE``; libpq reads no
  ``PGPASSWORD_FILE`` but a password file named by ``PGPASSFILE``.
- Spilo (``configure_spilo.py`` takes ``os.environ`` as is) and Patroni (``PATRONI_*``) read no
  ``*_FILE`` variant: the variable must be exported from the secret before the process starts.
- mongo (official): ``MONGO_INITDB_ROOT_USERNAME_FILE`` and ``MONGO_INITDB_ROOT_PASSWORD_FILE``.
- rabbitmq (official): the entrypoint *exits* when ``RABBITMQ_DEFAULT_PASS_FILE`` or
  ``RABBITMQ_DEFAULT_USER_FILE`` is set, and no ``RABBITMQ_ERLANG_COOKIE_FILE`` exists; the
  cookie is the file ``/var/lib/rabbitmq/.erlang.cookie`` (owner rabbitmq, mode 0400).
- redis (official): reads no password variable at all (``REDIS_PASSWORD`` does nothing);
  ``requirepass``/``masterauth`` come from redis.conf or the command line.
- grafana: every ``GF_*`` variable has a ``GF_*__FILE`` variant (two underscores).
- vault: the CLI reads ``VAULT_TOKEN`` (no ``_FILE``) or the token file ``~/.vault-token``.
- apisix: ``config.yaml`` expands ``${{VAR}}`` from the environment; no ``*_FILE`` variant.
"""

from __future__ import annotations

import fnmatch

#: (family, repositories): an image belongs to the first family listing its repository.
IMAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("spilo", ("*spilo*",)),
    ("postgres", ("postgres", "library/postgres", "postgis/postgis")),
    ("patroni", ("*patroni*",)),
    ("mongo", ("mongo", "library/mongo")),
    ("rabbitmq", ("rabbitmq", "library/rabbitmq")),
    ("redis", ("redis", "library/redis", "valkey/valkey")),
    ("grafana", ("grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise")),
    ("vault", ("hashicorp/vault", "vault", "library/vault")),
    ("apisix", ("apache/apisix",)),
)

_EXPORT = (
    "export it from the secret in a shell command before the process starts "
    "(sh -c 'export {name}=\"$(cat /run/secrets/<secret>)\"; exec ...')"
)

#: (family or "*", variable glob, advice); ``{name}`` is the variable or flag.
ADVICE: tuple[tuple[str, str, str], ...] = (
    ("postgres", "POSTGRES_*", "the postgres image reads {name}_FILE: set {name}_FILE=/run/secrets/<secret>"),
    ("*", "PGPASSWORD", "libpq reads no PGPASSWORD_FILE: mount a .pgpass secret and set PGPASSFILE to it"),
    ("spilo", "*", "Spilo reads {name} from the environment only (no *_FILE variant): " + _EXPORT),
    ("*", "PGPASSWORD_*", "Spilo reads {name} from the environment only (no *_FILE variant): " + _EXPORT),
    ("*", "PATRONI_*", "Patroni reads {name} from the environment only (no *_FILE variant): " + _EXPORT),
    (
        "mongo",
        "MONGO_INITDB_ROOT_*",
        "the mongo image reads {name}_FILE: set {name}_FILE=/run/secrets/<secret>",
    ),
    (
        "*",
        "RABBITMQ_ERLANG_COOKIE",
        "the rabbitmq image reads no RABBITMQ_ERLANG_COOKIE_FILE: install the secret as "
        "/var/lib/rabbitmq/.erlang.cookie (owner rabbitmq, mode 0400) before "
        "'exec docker-entrypoint.sh rabbitmq-server', and drop the variable",
    ),
    (
        "*",
        "RABBITMQ_DEFAULT_*",
        "the rabbitmq image exits when {name}_FILE is set: " + _EXPORT + ", or load definitions from a secret",
    ),
    (
        "redis",
        "*",
        "the redis image reads no password variable: keep requirepass/masterauth in a redis.conf "
        'from a Docker secret, or run redis-server --requirepass "$(cat /run/secrets/<secret>)" in sh -c',
    ),
    ("*", "GF_*", "Grafana reads {name}__FILE: set {name}__FILE=/run/secrets/<secret>"),
    (
        "*",
        "VAULT_TOKEN",
        "Vault reads no VAULT_TOKEN_FILE: " + _EXPORT + ", or write it to the token file ~/.vault-token",
    ),
    (
        "apisix",
        "*",
        "APISIX reads no *_FILE variant: reference ${{{{{name}}}}} in config.yaml and " + _EXPORT,
    ),
)

GENERIC = (
    "move it to a Docker secret: set {name}_FILE=/run/secrets/<secret> if the image reads that "
    "variant, else " + _EXPORT + " (or use ${{{name}}} without a default)"
)

_REDIS_CONF = (
    "keep requirepass/masterauth in a redis.conf from a Docker secret, or write that line from "
    "the secret at start (printf 'requirepass %s\\n' \"$(cat /run/secrets/<secret>)\" > /tmp/auth.conf)"
)

#: Advice for a secret on a command line: (label glob, advice), first match wins.
COMMAND: tuple[tuple[str, str], ...] = (
    ("-a", "redis-cli reads REDISCLI_AUTH: [CMD-SHELL, 'REDISCLI_AUTH=\"$(cat /run/secrets/<s>)\" redis-cli ...']"),
    ("--requirepass", _REDIS_CONF + ', or run redis-server {name} "$(cat /run/secrets/<secret>)" in sh -c'),
    ("--masterauth", _REDIS_CONF + ', or run redis-server {name} "$(cat /run/secrets/<secret>)" in sh -c'),
    ("redis *", _REDIS_CONF),
    ("rabbitmqctl *", 'read it in sh -c: rabbitmqctl ... "$(cat /run/secrets/<secret>)"'),
    ("vault login", "read it in sh -c: vault login - < /run/secrets/<secret> (or VAULT_TOKEN exported from it)"),
    ("*URL*", 'build the URL in sh -c from a Docker secret ("...:$(cat /run/secrets/<secret>)@...")'),
    (
        "*",
        "read it from a Docker secret at start: sh -c '... {name} \"$(cat /run/secrets/<secret>)\"', "
        "or use the program's password-file option",
    ),
)

#: Advice for a secret in a volume's driver options.
VOLUME = (
    "keep it out of the stack file: name a credentials file on the node instead (cifs: "
    "o: credentials=/root/.smb-credentials) or interpolate it at deploy (${{SMB_PASSWORD}} without a default)"
)


def _repository(image: str) -> str:
    text = image.strip().lower().split("@", 1)[0]
    head, sep, tail = text.rpartition(":")
    if sep and "/" not in tail:
        text = head
    parts = text.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    return "/".join(parts)


def family(image: object) -> str | None:
    """The image family of :data:`IMAGES` an ``image:`` value belongs to, None when unknown."""
    if not isinstance(image, str) or not image.strip():
        return None
    repo = _repository(image)
    for name, patterns in IMAGES:
        if any(fnmatch.fnmatchcase(repo, p) for p in patterns):
            return name
    return None


def for_variable(image: object, name: str) -> str:
    """The advice for a literal secret in variable ``name`` of a service running ``image``."""
    kind = family(image)
    upper = name.upper()
    for row_family, pattern, text in ADVICE:
        if row_family in ("*", kind) and fnmatch.fnmatchcase(upper, pattern):
            return text.format(name=name)
    return GENERIC.format(name=name)


def for_command(image: object, label: str, variable: bool = False) -> str:
    """The advice for a literal secret carried by ``label`` on a command line; ``variable``: the
    label is a variable assigned there (``export X_PASSWORD=x``)."""
    if variable:
        return for_variable(image, label)
    for pattern, text in COMMAND:
        if fnmatch.fnmatchcase(label, pattern):
            return text.format(name=label)
    return ""
