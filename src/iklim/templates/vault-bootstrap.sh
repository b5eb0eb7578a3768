#!/usr/bin/env bash
@@header@@
# Vault bootstrap, called by init-infra-prod.sh: initialise once, keep the keys in custody, unseal
# every member (members 2..n join through retry_join when unsealed). Idempotent: rerun it after any
# interruption. The unseal keys and root token go only to $VAULT_KEYS_FILE (mode 0600), never to
# output or logs.
#
# Usage: init/vault/vault-bootstrap.sh
#   VAULT_KEYS_FILE  custody file (default: /root/iklim-vault/init.json)
#   SSH_USER         user for the per-node steps over SSH (default: root)
set -euo pipefail

VAULT_KEYS_FILE="${VAULT_KEYS_FILE:-/root/iklim-vault/init.json}"
SSH_USER="${SSH_USER:-root}"
readonly STACK=@@stack@@ MEMBERS='@@members@@'
readonly SHARES=@@shares@@ THRESHOLD=@@threshold@@

log() { printf '==> %s\n' "$*" >&2; }

container() {
  ssh -n -o BatchMode=yes "$SSH_USER@$2" docker ps -q -f "label=com.docker.swarm.service.name=${STACK}_$1"
}

vault_on() {
  local service=$1 ip=$2 cid
  shift 2
  cid=$(container "$service" "$ip")
  [ -n "$cid" ] || return 3
  ssh -o BatchMode=yes "$SSH_USER@$ip" docker exec -i "$cid" vault "$@"
}

wait_api() {
  local i rc
  for i in $(seq 1 60); do
    rc=0; vault_on "$1" "$2" status >/dev/null 2>&1 </dev/null || rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; then return 0; fi
    log "waiting for $1 ($i/60)"; sleep 5
  done
  log "$1 did not answer"
  return 1
}

unseal_keys() {
  python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["unseal_keys_b64"]))' \
    "$VAULT_KEYS_FILE" | head -n "$THRESHOLD"
}

main() {
  local first=${MEMBERS%% *} member service ip key rc
  wait_api "${first%@*}" "${first#*@}"
  rc=0; vault_on "${first%@*}" "${first#*@}" operator init -status >/dev/null </dev/null || rc=$?
  if [ "$rc" -eq 2 ]; then
    [ ! -e "$VAULT_KEYS_FILE" ] || { log "$VAULT_KEYS_FILE exists but Vault is not initialised"; exit 1; }
    umask 077
    mkdir -p "$(dirname "$VAULT_KEYS_FILE")"
    vault_on "${first%@*}" "${first#*@}" operator init -key-shares="$SHARES" \
      -key-threshold="$THRESHOLD" -format=json </dev/null > "$VAULT_KEYS_FILE.tmp"
    mv "$VAULT_KEYS_FILE.tmp" "$VAULT_KEYS_FILE"
    log "initialised; keys in $VAULT_KEYS_FILE"
  elif [ "$rc" -ne 0 ]; then
    log "cannot read the init status"
    exit 1
  fi
  if [ ! -r "$VAULT_KEYS_FILE" ] && [ -s "$VAULT_KEYS_FILE.tmp" ]; then
    mv "$VAULT_KEYS_FILE.tmp" "$VAULT_KEYS_FILE"  # interrupted right after init: keep those keys
  fi
  [ -r "$VAULT_KEYS_FILE" ] || { log "Vault is initialised but $VAULT_KEYS_FILE is missing"; exit 1; }
  for member in $MEMBERS; do
    service=${member%@*} ip=${member#*@}
    wait_api "$service" "$ip"
    rc=0; vault_on "$service" "$ip" status >/dev/null 2>&1 </dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then log "$service unsealed"; continue; fi
    while read -r key; do
      printf '%s' "$key" | vault_on "$service" "$ip" operator unseal - >/dev/null
    done < <(unseal_keys)
    log "$service unsealed"
  done
}

main "$@"
