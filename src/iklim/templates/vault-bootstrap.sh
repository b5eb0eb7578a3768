#!/usr/bin/env bash
@@header@@
# Vault bootstrap, called by init-infra-prod.sh: `iklim vault bootstrap --target prod` takes the
# fresh 3-node Raft cluster to initialised, unsealed, fully voting and configured (audit device,
# KV v2, policies, auth methods from the model). Idempotent: rerun it after any interruption.
# The unseal keys and root token go only to $VAULT_KEYS_FILE (mode 0600), never to output or logs.
#
# Usage: init/vault/vault-bootstrap.sh [iklim vault bootstrap options]
#   VAULT_KEYS_FILE  custody file (default: @@keys_file_comment@@)
#   VAULT_CACERT     the CA the members' API certificates are verified with (default:
#                    $PKI_DIR/tls_ca_crt; PKI_DIR default: @@pki_dir_comment@@)
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly DEFAULT_VAULT_KEYS_FILE=@@keys_file@@
VAULT_KEYS_FILE="${VAULT_KEYS_FILE:-$DEFAULT_VAULT_KEYS_FILE}"
PKI_DIR="${PKI_DIR:-@@pki_dir@@}"
export VAULT_CACERT="${VAULT_CACERT:-$PKI_DIR/tls_ca_crt}"

if ! command -v iklim >/dev/null 2>&1; then
  printf '==> %s\n' "iklim is not installed on this manager: pip install the iklim repository first" >&2
  exit 1
fi
exec iklim vault bootstrap --target prod --env @@model@@ --keys-file "$VAULT_KEYS_FILE" "$@"
