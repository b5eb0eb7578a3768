"""plaintext-listener: each plaintext listener is flagged at its line; the model's explicit
choice turns the finding into an info line with its reason, never into silence."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.engine import Result
from iklim.check.policy import Policy
from iklim.cli import cli

Runner = Callable[..., Result]
RULE = "plaintext-listener"
REPO = Path(__file__).resolve().parent.parent.parent

VAULT_PLAIN = 'listener "tcp" {\n  address = "0.0.0.0:8200"\n  tls_disable = true\n}\n'
VAULT_STRING = 'listener "tcp" {\n  address = "0.0.0.0:8200"\n  tls_disable = "true"\n}\n'
VAULT_TLS = (
    'listener "tcp" {\n  address = "0.0.0.0:8200"\n'
    '  tls_cert_file = "/run/secrets/c"\n  tls_key_file = "/run/secrets/k"\n}\n'
)
ETCD_ENV = "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n    environment:\n      {var}: {url}\n"
ETCD_TLS = (
    "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n    environment:\n"
    "      ETCD_LISTEN_CLIENT_URLS: https://0.0.0.0:2379\n{auth}"
)
ETCD_SPLIT = (
    "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n    command:\n"
    "      - etcd\n      - --listen-client-urls\n      - {url}\n{more}"
)
ETCD_CMD = (
    "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n    command:\n"
    "      - /usr/local/bin/etcd\n      - --advertise-client-urls={url}\n"
)
ETCD_HEAD = "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n"
SCRIPT = "mkdir -p /data && exec etcd --name etcd-1 --advertise-client-urls={url}\n"
APISIX = "deployment:\n  etcd:\n    host:\n      - {url}\n    prefix: /apisix\n"
PATRONI = (
    "scope: iklim-pg\nrestapi:\n  listen: 0.0.0.0:8008\n{cert}etcd3:\n  hosts: etcd-01:2379\n{protocol}"
    "postgresql:\n  listen: 0.0.0.0:5432\n{ssl}"
)
CERT = "  certfile: /run/secrets/c\n  keyfile: /run/secrets/k\n"
HTTPS = "  protocol: https\n  cacert: /run/secrets/ca\n"
SSL_ON = "  parameters:\n    ssl: 'on'\n"
DCS_HBA = (
    "bootstrap:\n  dcs:\n    postgresql:\n      pg_hba:\n        - hostssl all all 10.0.1.0/24 md5\n        - {rule}\n"
)
AUTH = "  authentication:\n    replication:\n      username: r\n      sslmode: {mode}\n"
HBA = "  pg_hba:\n    - local all all peer\n    - hostssl all all 10.0.1.0/24 scram-sha-256\n    - {rule}\n"


def patroni(cert: str = CERT, protocol: str = HTTPS, ssl: str = SSL_ON) -> str:
    return PATRONI.format(cert=cert, protocol=protocol, ssl=ssl)


CASES = [
    # (id, files, expected (line, cluster) of each finding)
    ("vault tls_disable", {"config/vault/v.hcl": VAULT_PLAIN}, [(3, "vault")]),
    ("vault tls_disable string", {"config/vault/v.hcl": VAULT_STRING}, [(3, "vault")]),
    ("vault tls", {"config/vault/v.hcl": VAULT_TLS}, []),
    (
        "etcd env http",
        {"stack.yml": ETCD_ENV.format(var="ETCD_ADVERTISE_CLIENT_URLS", url="http://etcd-01:2379")},
        [(5, "etcd")],
    ),
    (
        "etcd env https, no client cert auth: flagged at the service",
        {"stack.yml": ETCD_ENV.format(var="ETCD_ADVERTISE_CLIENT_URLS", url="https://etcd-01:2379")},
        [(2, "etcd")],
    ),
    (
        "etcd env loopback",
        {"stack.yml": ETCD_ENV.format(var="ETCD_LISTEN_CLIENT_URLS", url="http://127.0.0.1:2379")},
        [],
    ),
    (
        "etcd initial cluster",
        {"stack.yml": ETCD_ENV.format(var="ETCD_INITIAL_CLUSTER", url="a=https://a:2380,b=http://b:2380")},
        [(5, "etcd")],
    ),
    ("etcd other var", {"stack.yml": ETCD_ENV.format(var="ETCD_NAME", url="http://x")}, []),
    ("etcd flag http", {"stack.yml": ETCD_CMD.format(url="http://etcd-01:2379")}, [(6, "etcd")]),
    ("etcd flag https, no client cert auth", {"stack.yml": ETCD_CMD.format(url="https://etcd-01:2379")}, [(2, "etcd")]),
    (
        "etcd https with client cert auth",
        {"stack.yml": ETCD_TLS.format(auth="      ETCD_CLIENT_CERT_AUTH: 'true'\n      ETCD_TRUSTED_CA_FILE: /ca\n")},
        [],
    ),
    ("etcd https without client cert auth", {"stack.yml": ETCD_TLS.format(auth="")}, [(2, "etcd")]),
    (
        "etcd https with client cert auth false",
        {"stack.yml": ETCD_TLS.format(auth="      ETCD_CLIENT_CERT_AUTH: 'false'\n")},
        [(6, "etcd")],
    ),
    (
        "etcd flag and value apart, http",
        {"stack.yml": ETCD_SPLIT.format(url="http://0.0.0.0:2379", more="")},
        [(6, "etcd")],
    ),
    (
        "etcd flag and value apart, https with --client-cert-auth --trusted-ca-file=/ca",
        {
            "stack.yml": ETCD_SPLIT.format(
                url="https://0.0.0.0:2379", more="      - --client-cert-auth\n      - --trusted-ca-file=/ca\n"
            )
        },
        [],
    ),
    (
        "etcd flag beats the variable: --client-cert-auth=false",
        {
            "stack.yml": ETCD_TLS.format(
                auth="      ETCD_CLIENT_CERT_AUTH: 'true'\n    command: [etcd, --client-cert-auth=false]\n"
            )
        },
        [(7, "etcd")],
    ),
    (
        "etcd single-dash flag, http",
        {
            "stack.yml": ETCD_SPLIT.format(
                url="https://0.0.0.0:2379",
                more="      - -advertise-client-urls=http://a:2379\n      - --client-cert-auth\n"
                + "      - --trusted-ca-file=/ca\n",
            )
        },
        [(8, "etcd")],
    ),
    (
        "etcd upper-case HTTP scheme",
        {"stack.yml": ETCD_ENV.format(var="ETCD_LISTEN_CLIENT_URLS", url="HTTP://0.0.0.0:2379")},
        [(5, "etcd")],
    ),
    (
        "etcd command as one string",
        {
            "stack.yml": "services:\n  etcd-1:\n    image: quay.io/coreos/etcd:v3.5.17\n    command: etcd --listen-client-urls=http://0.0.0.0:2379\n"
        },
        [(4, "etcd")],
    ),
    (
        "etcd client cert auth '1' is Go's true",
        {"stack.yml": ETCD_TLS.format(auth="      ETCD_CLIENT_CERT_AUTH: '1'\n      ETCD_TRUSTED_CA_FILE: /ca\n")},
        [],
    ),
    (
        "etcd http-only client listener",
        {"stack.yml": ETCD_ENV.format(var="ETCD_LISTEN_CLIENT_HTTP_URLS", url="http://0.0.0.0:2380")},
        [(5, "etcd")],
    ),
    (
        "etcd flag in the entrypoint, its value in the command (one argument list): at the flag",
        {"stack.yml": ETCD_HEAD + "    entrypoint: [etcd, --listen-client-urls]\n    command: [http://0.0.0.0:2379]\n"},
        [(4, "etcd")],
    ),
    (
        "etcd flag inside a sh -c script",
        {
            "stack.yml": ETCD_HEAD
            + "    command:\n      - sh\n      - -c\n      - "
            + SCRIPT.format(url="http://etcd-01:2379")
        },
        [(7, "etcd")],
    ),
    (
        "etcd https inside a sh -c script, with --client-cert-auth --trusted-ca-file=/ca",
        {
            "stack.yml": ETCD_HEAD
            + "    entrypoint: [/bin/sh, -c]\n    command:\n      - "
            + SCRIPT.format(url="https://etcd-01:2379 --client-cert-auth --trusted-ca-file=/ca")
        },
        [],
    ),
    (
        "etcd https inside a script without client cert auth: flagged at the service",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, "
            + repr(SCRIPT.format(url="https://etcd-01:2379").strip())
            + "]\n"
        },
        [(2, "etcd")],
    ),
    (
        "a script that only prints an etcd command",
        {"stack.yml": ETCD_HEAD + "    command: [sh, -c, 'echo etcd --advertise-client-urls=http://etcd-01:2379']\n"},
        [],
    ),
    (
        'a script that execs etcd "$@": the words after its $0 are etcd\'s flags',
        {
            "stack.yml": ETCD_HEAD
            + "    entrypoint: [sh, -c, 'mkdir -p /data; exec etcd \"$$@\"', etcd]\n"
            + "    command: [--advertise-client-urls, http://etcd-01:2379]\n"
        },
        [(5, "etcd")],
    ),
    (
        'a script that execs etcd "$@" with https and client cert auth',
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec etcd \"$$@\"', etcd,"
            + " --advertise-client-urls=https://e:2379, --client-cert-auth, --trusted-ca-file=/ca]\n"
        },
        [],
    ),
    (
        "etcd's flags over backslash-newline continuation lines",
        {
            "stack.yml": ETCD_HEAD
            + "    command:\n      - sh\n      - -c\n      - |\n        exec etcd \\\n"
            + "          --name etcd-1 \\\n          --advertise-client-urls http://etcd-01:2379\n"
        },
        [(7, "etcd")],
    ),
    (
        "https on one continued line, --client-cert-auth --trusted-ca-file=/ca on the next: clean",
        {
            "stack.yml": ETCD_HEAD
            + "    command:\n      - sh\n      - -c\n      - |\n"
            + "        exec etcd --advertise-client-urls https://e:2379 \\\n"
            + "          --client-cert-auth --trusted-ca-file=/ca\n"
        },
        [],
    ),
    (
        "expansions, substitutions and a quoted ; do not end the etcd command",
        {
            "stack.yml": ETCD_HEAD
            + '    command: [sh, -c, \'exec etcd --name $${HOSTNAME} --initial-cluster-token "a;b" '
            + "--data-dir $$(mktemp -d) --advertise-client-urls http://$$(hostname):2379']\n"
        },
        [(4, "etcd")],
    ),
    (
        "combined shell options (sh -ec) run a script",
        {"stack.yml": ETCD_HEAD + "    command: [sh, -ec, 'exec etcd --advertise-client-urls http://etcd-01:2379']\n"},
        [(4, "etcd")],
    ),
    (
        "a script's exported ETCD_ variable",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'export ETCD_ADVERTISE_CLIENT_URLS=http://e:2379; exec etcd']\n"
        },
        [(4, "etcd")],
    ),
    (
        "an ETCD_ variable in front of etcd in a script",
        {"stack.yml": ETCD_HEAD + "    command: [sh, -c, 'ETCD_ADVERTISE_CLIENT_URLS=http://e:2379 exec etcd']\n"},
        [(4, "etcd")],
    ),
    (
        "a shell variable not exported is not etcd's",
        {"stack.yml": ETCD_HEAD + "    command: [sh, -c, 'ETCD_ADVERTISE_CLIENT_URLS=http://e:2379; exec etcd']\n"},
        [],
    ),
    (
        "a comment's flag is no flag",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec etcd --advertise-client-urls https://e:2379 --client-cert-auth"
            + " --trusted-ca-file=/ca"
            + " # was: --client-cert-auth=false']\n"
        },
        [],
    ),
    (
        "an apostrophe in a comment hides nothing",
        {
            "stack.yml": ETCD_HEAD
            + '    command: [sh, -c, "# etcd\'s data dir\\nexec etcd --listen-client-urls http://e:2379"]\n'
        },
        [(4, "etcd")],
    ),
    (
        'a wrapper script that execs "$@", etcd in the command',
        {
            "stack.yml": ETCD_HEAD
            + "    entrypoint: [sh, -c, 'chown -R 1000 /data && exec \"$$@\"', --]\n"
            + "    command: [etcd, --listen-client-urls, http://e:2379]\n"
        },
        [(5, "etcd")],
    ),
    (
        "a variable assigned, then exported by name",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'ETCD_LISTEN_CLIENT_URLS=http://e:2379;"
            + " export ETCD_LISTEN_CLIENT_URLS; exec etcd']\n"
        },
        [(4, "etcd")],
    ),
    (
        "set -a exports every assignment",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'set -a; ETCD_LISTEN_CLIENT_URLS=http://e:2379; exec etcd']\n"
        },
        [(4, "etcd")],
    ),
    (
        "a redirection inside the etcd command ends nothing",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec etcd --listen-client-urls https://e:2379 2>&1 --client-cert-auth"
            + " --trusted-ca-file=/ca']\n"
        },
        [],
    ),
    (
        "env with options before the variables and etcd",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec env -u HOME ETCD_LISTEN_CLIENT_URLS=http://e:2379 etcd']\n"
        },
        [(4, "etcd")],
    ),
    (
        "each branch's etcd is judged alone: the plaintext one is flagged",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'if [ -f /x ]; then exec etcd --listen-client-urls http://e:2379;"
            + " else exec etcd --listen-client-urls https://e:2379 --client-cert-auth --trusted-ca-file=/ca; fi']\n"
        },
        [(4, "etcd")],
    ),
    (
        "a later etcd without client cert auth is flagged though the first has it",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'etcd --listen-client-urls https://e:2379 --client-cert-auth"
            + " --trusted-ca-file=/ca;"
            + " exec etcd --listen-client-urls https://e:2379']\n"
        },
        [(2, "etcd")],
    ),
    (
        "a script's plain assignment replaces the service's exported variable",
        {
            "stack.yml": ETCD_HEAD
            + "    environment:\n      ETCD_CLIENT_CERT_AUTH: 'true'\n"
            + "    command: [sh, -c, 'ETCD_CLIENT_CERT_AUTH=false; exec etcd --listen-client-urls https://e:2379']\n"
        },
        [(6, "etcd")],
    ),
    (
        "unset in a script removes the service's variable",
        {
            "stack.yml": ETCD_HEAD
            + "    environment:\n      ETCD_LISTEN_CLIENT_URLS: http://e:2379\n"
            + "    command: [sh, -c, 'unset ETCD_LISTEN_CLIENT_URLS; exec etcd --listen-client-urls https://e:2379"
            + " --client-cert-auth --trusted-ca-file=/ca']\n"
        },
        [],
    ),
    (
        "a redirection to a file named by a substitution hides no etcd",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec 2>/var/log/etcd-$$(date +%s).log etcd --listen-client-urls http://e:2379']\n"
        },
        [(4, "etcd")],
    ),
    (
        "a script file's arguments are no script",
        {"stack.yml": ETCD_HEAD + "    command: [sh, /run.sh, -ec, 'etcd --listen-client-urls http://e:2379']\n"},
        [],
    ),
    (
        "client cert auth without a CA file: the system's public CAs check the client",
        {"stack.yml": ETCD_TLS.format(auth="      ETCD_CLIENT_CERT_AUTH: 'true'\n")},
        [(6, "etcd")],
    ),
    (
        "a CA file alone requires a client certificate (etcd turns client cert auth on)",
        {"stack.yml": ETCD_TLS.format(auth="      ETCD_TRUSTED_CA_FILE: /ca\n")},
        [],
    ),
    (
        "branch-dependent exports: the plaintext branch is judged",
        {
            "stack.yml": ETCD_HEAD
            + '    command: [sh, -c, \'if [ -n "$$DEV" ]; then export ETCD_LISTEN_CLIENT_URLS=http://e:2379;'
            + " else export ETCD_LISTEN_CLIENT_URLS=https://e:2379; fi; exec etcd --client-cert-auth"
            + " --trusted-ca-file=/ca']\n"
        },
        [(4, "etcd")],
    ),
    (
        "env -u removes the service's variable",
        {
            "stack.yml": ETCD_TLS.format(
                auth="      ETCD_TRUSTED_CA_FILE: /ca\n    command: [env, -u, ETCD_TRUSTED_CA_FILE, etcd]\n"
            )
        },
        [(2, "etcd")],
    ),
    (
        "declare -x exports",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [bash, -c, 'declare -x ETCD_LISTEN_PEER_URLS=http://e:2380; exec etcd']\n"
        },
        [(4, "etcd")],
    ),
    (
        "busybox sh -c runs a script",
        {
            "stack.yml": ETCD_HEAD
            + "    entrypoint: [busybox, sh, -c, 'exec etcd --listen-client-urls=http://e:2379']\n"
        },
        [(4, "etcd")],
    ),
    (
        "a script inside a script",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'exec su-exec etcd sh -c \"exec etcd --listen-client-urls=http://e:2379\"']\n"
        },
        [(4, "etcd")],
    ),
    (
        "su -c runs a script",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [su, etcd, -s, /bin/sh, -c, 'etcd --listen-peer-urls=http://e:2380']\n"
        },
        [(4, "etcd")],
    ),
    (
        "runuser, sudo and eval run etcd",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'runuser -u etcd -- etcd --listen-peer-urls=http://e:2380;"
            + " sudo -E -u etcd etcd --listen-client-urls=http://e:2379; eval exec etcd --advertise-client-urls=http://e:2379']\n"
        },
        [(4, "etcd")] * 3,
    ),
    (
        "a valued flag takes the next word even when it looks like a flag (Go's flag package)",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [etcd, --listen-client-urls=https://e:2379, --initial-cluster-token, --client-cert-auth]\n"
        },
        [(2, "etcd")],
    ),
    (
        "a boolean flag takes no word: the next flag is read",
        {"stack.yml": ETCD_HEAD + "    command: [etcd, --auto-tls, --listen-client-urls, http://e:2379]\n"},
        [(4, "etcd")],
    ),
    (
        "command -v etcd and etcd --version run no member",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [sh, -c, 'command -v etcd >/dev/null || exit 1; etcd --version; exec etcd"
            + " --listen-client-urls https://e:2379 --client-cert-auth --trusted-ca-file=/ca']\n"
        },
        [],
    ),
    (
        "export -n takes a variable back from etcd",
        {
            "stack.yml": ETCD_HEAD
            + "    command: [bash, -c, 'export ETCD_LISTEN_CLIENT_URLS=http://e:2379;"
            + " export -n ETCD_LISTEN_CLIENT_URLS; exec etcd']\n"
        },
        [],
    ),
    (
        "etcd --help serves nothing",
        {"stack.yml": ETCD_HEAD + "    command: [sh, -c, 'etcd --help --listen-client-urls http://e:2379; exit 0']\n"},
        [],
    ),
    (
        "etcd refuses ---flag (Go: bad flag syntax): not a setting",
        {"stack.yml": ETCD_HEAD + "    command: [etcd, ---advertise-client-urls=http://etcd-01:2379]\n"},
        [],
    ),
    ("apisix http", {"config/apisix/config.yaml": APISIX.format(url="http://etcd-01:2379")}, [(4, "etcd")]),
    ("apisix https", {"config/apisix/config.yaml": APISIX.format(url="https://etcd-01:2379")}, []),
    (
        "apisix does not verify etcd",
        {"config/apisix/config.yaml": APISIX.format(url="https://etcd-01:2379") + "    tls:\n      verify: false\n"},
        [(7, "etcd")],
    ),
    ("patroni all tls", {"config/patroni/p.yml": patroni()}, []),
    ("patroni etcd default http", {"config/patroni/p.yml": patroni(protocol="")}, [(6, "etcd")]),
    ("patroni etcd http", {"config/patroni/p.yml": patroni(protocol="  protocol: http\n")}, [(8, "etcd")]),
    ("patroni no certfile", {"config/patroni/p.yml": patroni(cert="")}, [(2, "patroni_api")]),
    ("patroni ssl missing", {"config/patroni/p.yml": patroni(ssl="")}, [(10, "postgresql")]),
    ("patroni ssl off", {"config/patroni/p.yml": patroni(ssl="  parameters:\n    ssl: 'off'\n")}, [(13, "postgresql")]),
    (
        "patroni hostssl only",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="hostssl all all 10.0.2.0/24 scram-sha-256"))},
        [],
    ),
    (
        "patroni host rule admits plaintext",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="host all all 10.0.2.0/24 scram-sha-256"))},
        [(17, "postgresql")],
    ),
    (
        "patroni ssl off and a host rule: one finding",
        {
            "config/patroni/p.yml": patroni(
                ssl="  parameters:\n    ssl: 'off'\n" + HBA.format(rule="host all all x md5")
            )
        },
        [(13, "postgresql")],
    ),
    (
        "patroni hostnossl rule",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="hostnossl all all 10.0.2.0/24 md5"))},
        [(17, "postgresql")],
    ),
    (
        "patroni bootstrap dcs host rule",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON) + DCS_HBA.format(rule="host all all 10.0.2.0/24 md5")},
        [(19, "postgresql")],
    ),
    (
        "patroni hostnossl reject refuses plaintext",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="hostnossl all all 0.0.0.0/0 reject"))},
        [],
    ),
    (
        "patroni hostnossl reject with an address and mask",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="hostnossl all all 0.0.0.0 0.0.0.0 reject"))},
        [],
    ),
    (
        "patroni host rule whose comment says reject",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="host all all 10.0.0.0/16 md5  # reject later"))},
        [(17, "postgresql")],
    ),
    (
        "patroni host rule for a host named reject",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="host all all reject md5"))},
        [(17, "postgresql")],
    ),
    (
        "patroni hostnogssenc rule",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + HBA.format(rule="hostnogssenc all all 10.0.2.0/24 md5"))},
        [(17, "postgresql")],
    ),
    (
        "patroni bootstrap pg_hba host rule",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON) + "bootstrap:\n  pg_hba:\n    - host all all 10.0.2.0/24 md5\n"},
        [(16, "postgresql")],
    ),
    (
        "patroni sslmode weakened by PATRONI_REPLICATION_SSLMODE",
        {
            "config/patroni/p.yml": patroni(ssl=SSL_ON + AUTH.format(mode="verify-full")),
            "stack.yml": "services:\n  patroni-1:\n    image: patroni\n    environment:\n"
            "      PATRONI_REPLICATION_SSLMODE: require\n",
        },
        [(17, "postgresql")],
    ),
    (
        "patroni replication verify-full",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + AUTH.format(mode="verify-full"))},
        [],
    ),
    (
        "patroni replication sslmode require",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + AUTH.format(mode="require"))},
        [(17, "postgresql")],
    ),
    (
        "patroni replication without sslmode (libpq prefer)",
        {"config/patroni/p.yml": patroni(ssl=SSL_ON + "  authentication:\n    replication:\n      username: r\n")},
        [(15, "postgresql")],
    ),
]


def _mine(result: Result) -> list[tuple[int, str]]:
    found = [f for f in result.findings if f.rule == RULE]
    return sorted((f.line, f.message.rsplit("tls.clusters.", 1)[1].rstrip(")").split(")")[0]) for f in found)


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_flagged_without_a_model_choice(
    check_files: Runner, files: dict[str, str], expected: list[tuple[int, str]]
) -> None:
    result = check_files(files)
    assert _mine(result) == expected, [f"{f.line} {f.message}" for f in result.findings]
    assert all(f.severity == "error" for f in result.findings if f.rule == RULE)


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]])
def test_the_models_choice_excuses_with_its_reason(
    check_files: Runner, files: dict[str, str], expected: list[tuple[int, str]]
) -> None:
    cluster = expected[0][1]
    policy = Policy(
        app_subnet="10.0.1.0/24", db_subnet="10.0.2.0/24", tls_plaintext={cluster: "lab only, see issue 17"}
    )
    result = check_files(files, policy)
    assert [f for f in result.findings if f.rule == RULE] == []
    reasons = [s.reason for s in result.suppressed if s.finding.rule == RULE]
    assert reasons == [f"model: tls.clusters.{cluster}: lab only, see issue 17"] * len(expected)


def test_another_clusters_choice_does_not_excuse(check_files: Runner) -> None:
    policy = Policy(tls_plaintext={"etcd": "pending"})
    result = check_files({"config/vault/v.hcl": VAULT_PLAIN}, policy)
    assert _mine(result) == [(3, "vault")]


def _tree(tmp_path: Path, choice: str) -> Path:
    """The production tree with the model's etcd choice replaced by ``choice``."""
    root = tmp_path / "tree"
    shutil.copytree(REPO / "config", root / "config")
    for name in ("docker-stack-infra_db-prod.yml", "docker-stack-vault.yml"):
        shutil.copy(REPO / name, root / name)
    model = (REPO / "environments" / "prod.yaml").read_text()
    assert TLS_ETCD in model
    (root / "environments").mkdir()
    (root / "environments" / "prod.yaml").write_text(model.replace(TLS_ETCD, choice, 1))
    return root


TLS_ETCD = "etcd: {mode: tls}"
PENDING_ETCD = 'etcd: {mode: plaintext, reason: "TLS wiring pending (issue 17)"}'


def _patroni_etcd_over_http(root: Path) -> None:
    """A hand edit of one Patroni config back to plain HTTP towards etcd."""
    config = root / "config" / "patroni" / "patroni-1.yml"
    text = config.read_text()
    assert "  protocol: https\n" in text
    config.write_text(text.replace("  protocol: https\n", "  protocol: http\n", 1))


def _flagged(output: str) -> list[str]:
    return [line for line in output.splitlines() if " error plaintext-listener " in line]


def test_the_production_tree_is_clean_with_every_cluster_on_tls(tmp_path: Path) -> None:
    root = _tree(tmp_path, TLS_ETCD)
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 0, result.output
    assert "kept by the model" not in result.output and "plaintext-listener" not in result.output


def test_a_hand_edit_back_to_plaintext_etcd_fails(tmp_path: Path) -> None:
    root = _tree(tmp_path, TLS_ETCD)
    _patroni_etcd_over_http(root)
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 1, result.output
    flagged = _flagged(result.output)
    assert len(flagged) == 1 and "patroni-1.yml" in flagged[0] and "etcd" in flagged[0], flagged


def test_the_models_plaintext_choice_excuses_it_with_its_reason(tmp_path: Path) -> None:
    root = _tree(tmp_path, PENDING_ETCD)
    _patroni_etcd_over_http(root)
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 0, result.output
    assert "kept by the model: tls.clusters.etcd: TLS wiring pending (issue 17)" in result.output
    assert "tls.clusters.vault" not in result.output  # production's Vault is on TLS: nothing to keep


def test_a_hand_edit_dropping_client_certificate_auth_fails(tmp_path: Path) -> None:
    """Production's etcd members ask for a client certificate their CA signed. Turning
    ``ETCD_CLIENT_CERT_AUTH`` off alone changes nothing (etcd: the CA file alone requires a client
    certificate); removing both is caught at that member, and removing the CA file alone leaves
    the public CAs checking the client: caught too."""
    root = _tree(tmp_path, TLS_ETCD)
    stack = root / "docker-stack-infra_db-prod.yml"
    text = stack.read_text()
    auth, ca = "      ETCD_CLIENT_CERT_AUTH: 'true'\n", "      ETCD_TRUSTED_CA_FILE: /run/secrets/tls_ca_crt\n"
    assert text.count(auth) == 3 and text.count(ca) == 3, "the production members ask for client certificates"
    off = auth.replace("'true'", "'false'")
    for edited, flagged_words, code in (
        (text.replace(auth, off, 1), [], 0),
        (text.replace(auth, off, 1).replace(ca, "", 1), ["etcd-1", "ETCD_CLIENT_CERT_AUTH", "takes any TLS client"], 1),
        (text.replace(ca, "", 1), ["etcd-1", "ETCD_TRUSTED_CA_FILE", "public CAs"], 1),
    ):
        stack.write_text(edited)
        result = CliRunner().invoke(cli, ["check", str(root)])
        assert result.exit_code == code, result.output
        flagged = _flagged(result.output)
        assert len(flagged) == (1 if flagged_words else 0), flagged
        assert all(word in flagged[0] for word in flagged_words), flagged


def test_the_vault_files_fail_when_they_disable_tls(tmp_path: Path) -> None:
    """Production's Vault configs are on TLS; a hand edit back to ``tls_disable`` is caught."""
    root = _tree(tmp_path, TLS_ETCD)
    hcl = root / "config" / "vault" / "vault-2.hcl"
    text = hcl.read_text()
    assert "tls_cert_file" in text and "tls_disable" not in text
    hcl.write_text(text.replace('  tls_min_version = "tls12"\n', "  tls_disable     = true\n"))
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 1, result.output
    flagged = _flagged(result.output)
    assert len(flagged) == 1 and "vault-2.hcl" in flagged[0], flagged


def test_a_check_config_cannot_excuse(tmp_path: Path) -> None:
    root = _tree(tmp_path, "etcd: {mode: tls}")
    (root / ".iklim-check.yaml").write_text("policy:\n  tls_plaintext: {etcd: because}\n")
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 2 and "tls_plaintext" in result.output + (result.stderr or ""), result.output


def test_a_default_value_url_is_shown_without_the_brace(check_files: Runner) -> None:
    """``${ADV:-http://e:2379}``: the finding names the URL, not ``http://e:2379}``."""
    files = {"stack.yml": ETCD_HEAD + "    command: [etcd, '--advertise-client-urls=${ADV:-http://e:2379}']\n"}
    messages = [f.message for f in check_files(files).findings if f.rule == RULE]
    assert len(messages) == 1 and "has http://e:2379 " in messages[0] + " ", messages


def test_a_long_generated_script_is_judged_in_bounded_work() -> None:
    """1500 etcd commands after 600 values of one variable, within the 20,000 characters read:
    the settings judged stay bounded (such a script took 30 s and 1.9 GB: one dict per command
    and earlier value)."""
    from iklim.check.etcdflags import MAX_VARIANTS, member_settings
    from iklim.check.yamlload import load_yaml

    script = "export " + " ".join(f"ETCD_NAME=n{i}" for i in range(600)) + "; " + "etcd;" * 1500
    assert len(script) < 20_000
    members = member_settings(load_yaml(f"command: [sh, -c, '{script}']\n", "x.yml"))
    assert 1 <= len(members.settings) <= MAX_VARIANTS + 1
    assert {s["name"].value for s in members.settings} >= {"n0", "n599"}
    assert members.partial


PLAIN_ETCD = "etcd --listen-client-urls=http://10.0.2.5:2379 --advertise-client-urls=http://10.0.2.5:2379"


def _etcd_script_messages(check_files: Runner, script: str) -> list[str]:
    files = {"stack.yml": ETCD_HEAD + f"    command: [sh, -c, '{script}']\n"}
    return [f.message for f in check_files(files).findings if f.rule == RULE]


def test_past_the_bound_the_last_etcd_is_still_judged_and_the_cut_is_said(check_files: Runner) -> None:
    """300 secure etcd commands, then the exec'd plaintext one: the bound on the work keeps the
    last command (the one that serves) and says that part was left out."""
    secure = "".join(f"etcd --name=x{i} --client-cert-auth --trusted-ca-file=/ca; " for i in range(300))
    messages = _etcd_script_messages(check_files, secure + "exec " + PLAIN_ETCD)
    assert any("http://10.0.2.5:2379" in m for m in messages), messages
    assert any("only part were judged" in m for m in messages), messages


def test_a_plaintext_value_past_the_bound_is_said_not_passed(check_files: Runner) -> None:
    """300 values of one variable (within the 20,000 characters read), the 281st plaintext, the
    last https: beyond the bound the rule says that part was not judged rather than passing."""
    values = [f"https://10.0.2.5:{2000 + i}" for i in range(300)]
    values[280] = "http://10.0.2.5:2379"
    exports = "".join(f"export ETCD_LISTEN_CLIENT_URLS={v}; " for v in values)
    messages = _etcd_script_messages(check_files, exports + "exec etcd --client-cert-auth --trusted-ca-file=/ca")
    assert any("only part were judged" in m for m in messages), messages


def test_export_n_with_a_value_still_assigns_it(check_files: Runner) -> None:
    """bash: ``export -n X=v`` sets X unexported; a later ``export X`` passes v on."""
    script = "export -n ETCD_LISTEN_CLIENT_URLS=http://10.0.2.5:2379; export ETCD_LISTEN_CLIENT_URLS; exec etcd"
    messages = _etcd_script_messages(check_files, script)
    assert any("http://10.0.2.5:2379" in m for m in messages), messages


def test_a_help_flag_taken_as_a_value_is_no_report(check_files: Runner) -> None:
    """Go's flag package: ``--name -h`` names the member ``-h``; etcd serves, and is judged."""
    messages = _etcd_script_messages(check_files, "exec etcd --name -h " + PLAIN_ETCD[5:])
    assert any("http://10.0.2.5:2379" in m for m in messages), messages
    assert not _etcd_script_messages(check_files, "etcd -h; etcd --version=true; exit 0")


def test_numactl_long_options_take_their_value(check_files: Runner) -> None:
    messages = _etcd_script_messages(check_files, "exec numactl --physcpubind 0 --preferred 1 " + PLAIN_ETCD)
    assert any("http://10.0.2.5:2379" in m for m in messages), messages
