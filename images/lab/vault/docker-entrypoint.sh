#!/bin/bash
# The upstream hashicorp/vault entrypoint's behaviour (written for the lab, not copied): a bare
# `server`/`version`/flag becomes `vault ...`; when running `vault` as root, chown the config dir
# (unless SKIP_CHOWN), setcap IPC_LOCK (unless SKIP_SETCAP), then drop to the `vault` user.
set -e
ulimit -c 0
VAULT_CONFIG_DIR=/vault/config
if [ "${1:0:1}" = '-' ]; then set -- vault "$@"; fi
if [ "$1" = server ]; then
    shift
    set -- vault server -config="$VAULT_CONFIG_DIR" \
        -dev-root-token-id="${VAULT_DEV_ROOT_TOKEN_ID:-}" \
        -dev-listen-address="${VAULT_DEV_LISTEN_ADDRESS:-0.0.0.0:8200}" "$@"
elif [ "$1" = version ]; then
    set -- vault "$@"
fi
# Lab only (OpenBao, not Vault): OpenBao takes audit devices only from its configuration and
# refuses `sys/audit` through the API, which is how `iklim vault bootstrap` enables the model's
# file audit device on HashiCorp Vault. So a `vault server -config=...` (not -dev) also reads
# /etc/iklim-lab/audit.hcl, which declares that device (file_path: $IKLIM_LAB_AUDIT_FILE_PATH,
# default stdout, the model's value); the bootstrap then finds it enabled and moves on.
if [ "$1" = vault ] && [ "${2:-}" = server ] && [[ " $* " == *" -config="* ]] && [[ " $* " != *" -dev "* ]]; then
    printf 'audit "file" "file" {\n  options {\n    file_path = "%s"\n  }\n}\n' \
        "${IKLIM_LAB_AUDIT_FILE_PATH:-stdout}" > /etc/iklim-lab/audit.hcl
    set -- "$@" -config=/etc/iklim-lab/audit.hcl
fi
if [ "$1" = vault ]; then
    if [ -z "${SKIP_CHOWN:-}" ]; then
        for d in /vault/config /vault/logs /vault/file; do
            if [ -d "$d" ] && [ "$(stat -c %u "$d")" != "$(id -u vault)" ]; then
                chown -R vault:vault "$d" || echo "Could not chown $d (perhaps it's read-only?)"
            fi
        done
    fi
    if [ -z "${SKIP_SETCAP:-}" ]; then
        setcap cap_ipc_lock=+ep "$(readlink -f /bin/vault)"
        if ! vault -version >/dev/null 2>&1; then
            echo "Couldn't start vault with IPC_LOCK. Disabling IPC_LOCK, please use --cap-add IPC_LOCK" >&2
            setcap cap_ipc_lock=-ep "$(readlink -f /bin/vault)"
        fi
    fi
    if [ "$(id -u)" = 0 ]; then
        set -- setpriv --reuid=vault --regid=vault --init-groups "$@"
    fi
fi
exec "$@"
