"""literal-secret: credentials in variables, command lines and volume options, with advice that
is true for the image; and no false positive on references, files, switches and public halves."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from iklim.check.engine import Result
from iklim.check.secret_advice import family, for_variable
from iklim.check.secret_args import scan, scan_healthcheck
from iklim.check.secret_names import is_secret_name

Runner = Callable[..., Result]


def lines(result: Result) -> list[int]:
    return sorted(f.line for f in result.findings if f.rule == "literal-secret")


def svc(body: str, image: str = "example/app:1.0") -> dict[str, str]:
    """A one-service stack; ``body`` is indented under the service (its first line is line 4)."""
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return {"stack.yml": f"services:\n  app:\n    image: {image}\n{indented}"}


CASES: list[tuple[str, dict[str, str], list[int]]] = [
    # the reproducers
    ("spilo-superuser", svc("environment:\n  PGPASSWORD_SUPERUSER: x", "ghcr.io/zalando/spilo-16:3.2-p2"), [5]),
    ("redis-requirepass-list", svc("command: [redis-server, --requirepass, x]", "redis:7.4.1"), [4]),
    # engine variable names
    ("spilo-standby-list", svc("environment:\n  - PGPASSWORD_STANDBY=rep"), [5]),
    ("patroni-password", svc("environment:\n  PATRONI_REPLICATION_PASSWORD: rep"), [5]),
    ("postgres-password", svc("environment:\n  POSTGRES_PASSWORD: postgres", "postgres:16.4"), [5]),
    ("mongo-root", svc("environment:\n  MONGO_INITDB_ROOT_PASSWORD: example", "mongo:7.0.16"), [5]),
    ("rabbit-pass", svc("environment:\n  RABBITMQ_DEFAULT_PASS: guest2", "rabbitmq:3.13.7"), [5]),
    ("rabbit-cookie", svc("environment:\n  RABBITMQ_ERLANG_COOKIE: c00kie", "rabbitmq:3.13.7"), [5]),
    ("redis-password", svc("environment:\n  REDIS_PASSWORD: '123456'"), [5]),
    ("redis-password-int", svc("environment:\n  REDIS_PASSWORD: 123456"), [5]),
    ("grafana-admin", svc("environment:\n  GF_SECURITY_ADMIN_PASSWORD: admin", "grafana/grafana:11.3.0"), [5]),
    ("vault-token", svc("environment:\n  VAULT_TOKEN: root", "hashicorp/vault:1.18.3"), [5]),
    ("vault-dev-root", svc("environment:\n  VAULT_DEV_ROOT_TOKEN_ID: myroot"), [5]),
    ("apisix-admin-env", svc("environment:\n  APISIX_ADMIN_KEY: edd1c9f034335f136f87ad84b625c8f1"), [5]),
    ("mongo-express", svc("environment:\n  ME_CONFIG_MONGODB_ADMINPASSWORD: pass"), [5]),
    ("generic-secret", svc("environment:\n  AWS_SECRET_ACCESS_KEY: abc\n  APP_API_TOKEN: t0k"), [5, 6]),
    ("auth-tail", svc("environment:\n  SENTINEL_AUTH: x"), [5]),
    ("compose-default", svc("environment:\n  DB_PASSWORD: ${DB_PASSWORD:-changeme}"), [5]),
    ("url-password", svc("environment:\n  DATABASE_URL: postgres://app:s3cret@db:5432/app"), [5]),
    # issue 12: a '$' inside a literal does not make it a reference
    ("dollar-escaped", svc('environment:\n  GF_SECURITY_ADMIN_PASSWORD: "S3cr3t$$Pw"', "grafana/grafana:11.3.0"), [5]),
    ("dollar-trailing", svc('environment:\n  REDIS_PASSWORD: "hunter2$"'), [5]),
    ("dollar-escaped-leading", svc('environment:\n  DB_PASSWORD: "$$ecret"'), [5]),
    ("dollar-escaped-list", svc("environment:\n  - DB_PASSWORD=pa$$word"), [5]),
    ("dollar-ref-and-text", svc("environment:\n  DB_PASSWORD: x${PW}"), [5]),
    ("dollar-health", svc("healthcheck: {test: [CMD, redis-cli, -a, 'hun$$ter2', ping]}", "redis:7.4.1"), [4]),
    ("dollar-command", svc("command: [redis-server, --requirepass, 'pa$$w0rd']", "redis:7.4.1"), [4]),
    ("dollar-shell", svc("command: [sh, -c, 'exec redis-server --requirepass pa$$w0rd']", "redis:7.4.1"), [4]),
    ("dollar-sub-then-text", svc("command: [sh, -c, 'redis-server --requirepass \"$$(cat /s)x\"']"), [4]),
    ("redis-url-no-user", svc("environment:\n  CACHE: redis://:s3cret@redis:6379/0"), [5]),
    ("args-variable", svc("environment:\n  REDIS_ARGS: --requirepass x --appendonly yes"), [5]),
    # command lines
    ("string-command", svc("command: redis-server --appendonly yes --requirepass x", "redis:7.4.1"), [4]),
    ("attached-flag", svc("command: [redis-server, --masterauth=x]"), [4]),
    ("entrypoint-list", svc("entrypoint: [redis-server, --requirepass, x]"), [4]),
    ("args-only", svc("command: [--requirepass, x]", "redis:7.4.1"), [4]),
    ("sh-c-flag", svc("command: [sh, -c, 'exec redis-server --requirepass x']"), [4]),
    ("bash-ec-string", svc('command: bash -ec "redis-server --masterauth x"'), [4]),
    (
        "sh-c-config-line",
        svc(
            "command:\n  - sh\n  - -c\n  - |\n    echo 'requirepass x' > /tmp/r.conf\n    exec redis-server /tmp/r.conf"
        ),
        [7],
    ),
    ("printf-config-line", svc("command: [sh, -c, \"printf 'port 6379\\\\nmasterauth x\\\\n' > /r.conf\"]"), [4]),
    ("sentinel-auth-pass", svc("command: [sh, -c, 'echo \"sentinel auth-pass mymaster x\" >> /s.conf']"), [4]),
    ("sh-c-export", svc("command: [sh, -c, 'export PATRONI_SUPERUSER_PASSWORD=x; exec patroni /p.yml']"), [4]),
    ("sh-c-prefix-var", svc("command: [sh, -c, 'PGPASSWORD=pw psql -h db -c \"select 1\"']"), [4]),
    ("nested-shell", svc("command: [sh, -c, \"sh -c 'redis-server --requirepass x'\"]"), [4]),
    ("mongosh-p", svc("healthcheck:\n  test: [CMD, mongosh, -u, root, -p, example, --eval, 'db.ping']"), [5]),
    ("redis-cli-a", svc("healthcheck:\n  test: [CMD-SHELL, 'redis-cli -h localhost -a x ping | grep PONG']"), [5]),
    ("health-string", svc("healthcheck:\n  test: redis-cli -a x ping"), [5]),
    ("mysql-p", svc("healthcheck:\n  test: [CMD, mysqladmin, ping, -uroot, -proot]"), [5]),
    ("curl-cluster", svc("healthcheck:\n  test: [CMD, curl, -fsu, 'admin:pw', http://localhost/]"), [5]),
    ("curl-u", svc("healthcheck:\n  test: [CMD, curl, -u, 'admin:pw', http://localhost/]"), [5]),
    ("rabbitmqctl-add-user", svc("command: [sh, -c, 'rabbitmqctl add_user bob bobpw']"), [4]),
    ("vault-login", svc("command: [vault, login, s.abc]"), [4]),
    ("url-in-flag", svc("command: [app, --mongodb.uri=mongodb://u:p@mongo:27017/admin]"), [4]),
    ("generic-long-flag", svc("command: [exporter, --redis.password, x]"), [4]),
    # volume driver options
    (
        "cifs-password",
        {
            "stack.yml": "services:\n  app: {image: x:1}\nvolumes:\n  share:\n    driver: local\n    driver_opts:\n"
            '      type: cifs\n      o: "username=u,password=x,vers=3.0"\n      device: //nas/share\n'
        },
        [8],
    ),
    (
        "driver-opt-key",
        {
            "stack.yml": "services: {}\nvolumes:\n  s:\n    driver: vieux/sshfs\n"
            "    driver_opts: {sshcmd: u@h:/p, password: x}\n"
        },
        [5],
    ),
    # APISIX admin key in config.yaml
    (
        "apisix-admin-key",
        {
            "config/apisix/config.yaml": "deployment:\n  admin:\n    admin_key:\n"
            "      - {name: admin, key: edd1c9f0, role: admin}\n"
        },
        [4],
    ),
    (
        "apisix-admin-key-default",
        {"config/apisix/config.yaml": "deployment:\n  admin:\n    admin_key:\n      - key: '${{K:=edd1c9f0}}'\n"},
        [4],
    ),
    # no false positives
    (
        "file-variants",
        svc(
            "environment:\n  POSTGRES_PASSWORD_FILE: /run/secrets/pg\n"
            "  GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/gf\n"
            "  REDIS_PASSWORD_PATH: /run/secrets/r\n  MONGO_INITDB_ROOT_PASSWORD_FILE: /run/secrets/m"
        ),
        [],
    ),
    (
        "interpolated",
        svc(
            "environment:\n  DB_PASSWORD: ${DB_PASSWORD}\n  API_TOKEN: ${API_TOKEN:?set it}\n  URL: postgres://u:${PW}@db/x"
        ),
        [],
    ),
    ("empty-and-bool", svc("environment:\n  REDIS_PASSWORD: ''\n  SECRET_KEY:\n  AUTH_TOKEN: false"), []),
    (
        "mysql-switches",
        svc("environment:\n  MYSQL_RANDOM_ROOT_PASSWORD: 'yes'\n  MYSQL_ALLOW_EMPTY_PASSWORD: '1'"),
        [],
    ),
    (
        "ids-users-public",
        svc(
            "environment:\n  AWS_ACCESS_KEY_ID: AKIAEXAMPLE\n  JWT_PUBLIC_KEY: MFkw\n  PGUSER_SUPERUSER: postgres\n"
            "  RABBITMQ_DEFAULT_USER: admin\n  GF_AUTH_ANONYMOUS_ORG_ROLE: Viewer\n"
            "  GF_AUTH_ANONYMOUS_ENABLED: 'true'\n"
            "  POSTGRES_HOST_AUTH_METHOD: scram-sha-256\n  TOKEN_TTL: 3600\n  SSL_KEY: /etc/ssl/private/key.pem\n"
            "  ETCD_INITIAL_CLUSTER_TOKEN: iklim-etcd\n  ETCD_AUTH_TOKEN: simple"
        ),
        [],
    ),
    (
        "etcd-cert-auth-booleans",
        svc(
            "environment:\n  ETCD_CLIENT_CERT_AUTH: '1'\n  ETCD_PEER_CLIENT_CERT_AUTH: T\n"
            "command: [etcd, --client-cert-auth=t, --peer-client-cert-auth=1]"
        ),
        [],
    ),
    (
        "secret-from-docker-secret",
        svc(
            'command: [sh, -c, \'export RABBITMQ_DEFAULT_PASS="$$(cat /run/secrets/pw)"; '
            "exec docker-entrypoint.sh rabbitmq-server']\nsecrets: [pw]"
        ),
        [],
    ),
    ("redis-secret-flag", svc("command: [sh, -c, 'exec redis-server --requirepass \"$$(cat /run/secrets/r)\"']"), []),
    ("redis-var-flag", svc("command: [redis-server, --requirepass, '${REDIS_PASSWORD}']"), []),
    ("redis-var-required", svc("environment:\n  DB_PASSWORD: ${DB_PASSWORD:?set it}"), []),
    ("redis-bare-var", svc("environment:\n  DB_PASSWORD: $DB_PASSWORD"), []),
    ("redis-two-vars", svc("environment:\n  DB_PASSWORD: ${A}${B}"), []),
    ("unquoted-substitution", svc("command: [sh, -c, 'exec redis-server --requirepass $$(cat /run/secrets/r)']"), []),
    ("backquote-substitution", svc("command: [sh, -c, 'exec redis-server --requirepass `cat /run/secrets/r`']"), []),
    ("shell-var", svc("command: [sh, -c, 'exec redis-server --requirepass \"$$REDIS_PW\"']"), []),
    ("printf-placeholder", svc('command: [sh, -c, "printf \'requirepass %s\\\\n\' \\"$$pw\\" > /r.conf"]'), []),
    ("mongod-keyfile-auth", svc("command: [mongod, --auth, --keyFile, /run/secrets/kf, --replSet, rs0]"), []),
    ("mongod-auth-args", svc("command: [--auth, --bind_ip_all]", "mongo:7.0.16"), []),
    (
        "password-file-flag",
        svc("command: [/redis_exporter, --redis.password-file=/tmp/p.json, --web.listen-address=:9121]"),
        [],
    ),
    ("etcd-flags", svc("command: [etcd, --initial-cluster-token=t, --auth-token, simple, --client-cert-auth]"), []),
    (
        "redis-cli-env",
        svc("healthcheck:\n  test: [CMD-SHELL, 'REDISCLI_AUTH=\"$$(cat /run/secrets/r)\" redis-cli ping']"),
        [],
    ),
    ("redis-cli-port", svc("healthcheck:\n  test: [CMD, redis-cli, -p, '6379', ping]"), []),
    ("psql-port", svc("healthcheck:\n  test: [CMD, psql, -p, '5432', -U, postgres]"), []),
    (
        "grep-requirepass",
        svc("command: [sh, -c, \"grep requirepass /etc/redis.conf; sed -i 's/requirepass .*/x/' /c\"]"),
        [],
    ),
    ("login-stdin", svc("command: [sh, -c, 'cat /run/secrets/p | docker login -u me --password-stdin reg.io']"), []),
    ("psql-no-password", svc("healthcheck:\n  test: [CMD, psql, --no-password, app]"), []),
    ("url-no-password", svc("command: [app, --mongodb.uri=mongodb://mongo:27017/admin, --mongodb.user=exporter]"), []),
    (
        "cifs-credentials",
        {
            "stack.yml": "services: {}\nvolumes:\n  s:\n    driver_opts:\n"
            '      {type: cifs, o: "credentials=/root/.smb,vers=3.0", device: //nas/s}\n'
        },
        [],
    ),
    ("unclosed-quote", svc('command: "sh -c \'redis-server --requirepass"'), []),
]


@pytest.mark.parametrize(("name", "files", "expected"), CASES, ids=[c[0] for c in CASES])
def test_literal_secret(check_files: Runner, name: str, files: dict[str, str], expected: list[int]) -> None:
    assert lines(check_files(files)) == expected


def test_message_never_repeats_the_value(check_files: Runner) -> None:
    result = check_files(
        svc("environment:\n  PGPASSWORD_SUPERUSER: hunter2zz\ncommand: [redis-server, --requirepass, pw9q]")
    )
    messages = [f.message for f in result.findings if f.rule == "literal-secret"]
    assert len(messages) == 2
    assert not any("hunter2zz" in m or "pw9q" in m for m in messages)


# (image, variable, words the advice must hold, words it must not)
ADVICE: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("rabbitmq:3.13.7-management-alpine", "RABBITMQ_ERLANG_COOKIE", ("/var/lib/rabbitmq/.erlang.cookie",), ("_FILE=",)),
    ("rabbitmq:4.0", "RABBITMQ_DEFAULT_PASS", ("exits", "export"), ("set RABBITMQ_DEFAULT_PASS_FILE",)),
    ("postgres:16.4", "POSTGRES_PASSWORD", ("POSTGRES_PASSWORD_FILE=/run/secrets/",), ()),
    ("mongo:7.0.16", "MONGO_INITDB_ROOT_PASSWORD", ("MONGO_INITDB_ROOT_PASSWORD_FILE=",), ()),
    ("grafana/grafana:11.3.0", "GF_SECURITY_ADMIN_PASSWORD", ("GF_SECURITY_ADMIN_PASSWORD__FILE=",), ()),
    ("redis:7.4.1", "REDIS_PASSWORD", ("redis.conf", "requirepass"), ("_FILE",)),
    ("ghcr.io/zalando/spilo-16:3.2-p2", "PGPASSWORD_SUPERUSER", ("export",), ("PGPASSWORD_SUPERUSER_FILE",)),
    ("registry.example.com:5000/acid/spilo-15:3.0", "PGPASSWORD_STANDBY", ("Spilo",), ()),
    ("hashicorp/vault:1.18.3", "VAULT_TOKEN", ("export",), ("VAULT_TOKEN_FILE=",)),
    ("example/app:1", "APP_PASSWORD", ("APP_PASSWORD_FILE", "if the image reads"), ()),
]


@pytest.mark.parametrize(("image", "name", "has", "lacks"), ADVICE)
def test_advice_is_true_for_the_image(image: str, name: str, has: tuple[str, ...], lacks: tuple[str, ...]) -> None:
    text = for_variable(image, name)
    assert all(word in text for word in has), text
    assert not any(word in text for word in lacks), text


def test_family_strips_registry_and_tag() -> None:
    assert family("docker.io/library/redis:7.4@sha256:abc") == "redis"
    assert family("localhost:5000/rabbitmq:3.13") == "rabbitmq"
    assert family("bitnami/redis:7.4") is None
    assert family(None) is None


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PGPASSWORD_SUPERUSER", True),
        ("requirepass", True),
        ("mongodb.password", True),
        ("keyFile", False),
        ("redis.password-file", False),
        ("initial-cluster-token", False),
        ("GF_AUTH_BASIC_ENABLED", False),
        ("publicKey", False),
        ("no-password", False),
        ("password-stdin", False),
        ("GF_SECURITY_COOKIE_SAMESITE", False),
        ("RABBITMQ_ERLANG_COOKIE", True),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_scans_are_linear() -> None:
    start = time.monotonic()
    list(scan("x " * 100_000 + "--password"))
    list(scan(["sh", "-c", "a://" * 100_000 + "'" * 3]))
    list(scan_healthcheck("requirepass " * 50_000))
    list(scan(["sh", "-c", "echo " + "\\n" * 100_000 + "requirepass"]))
    assert time.monotonic() - start < 10
