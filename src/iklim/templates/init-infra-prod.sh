#!/usr/bin/env bash
@@header@@
# Bring up the iklimco production infrastructure from a Swarm manager, from the repository root.
# Idempotent: each step reads the current state first; rerun it after any interruption.
#
# Usage: ./init-infra-prod.sh
#   SECRETS_DIR       files named after Docker secrets to import; a secret without a file is
#                     generated at random and never printed (default: /root/iklim-secrets)
#   PKI_DIR           the environment CA folder, 0700, never in the repository (default:
#                     @@pki_dir_comment@@): `iklim pki init` creates the CA there once, `iklim pki
#                     issue --all` the member certificates; the tls_* files become Docker secrets
#   GRAFANA_DATA_DIR  Grafana's StorageBox data path (default: @@grafana_dir_comment@@)
#   SSH_USER          user for the per-node steps over SSH (default: root)
#   FORCE_DEPLOY=1    redeploy the stacks even when unchanged and converged
set -euo pipefail
cd "$(dirname "$0")"

readonly INFRA_STACK=@@infra_stack@@ VAULT_STACK=@@vault_stack@@ OVERLAY=@@overlay@@
readonly DEFAULT_GRAFANA_DATA_DIR=@@grafana_dir@@
SECRETS_DIR="${SECRETS_DIR:-/root/iklim-secrets}"
PKI_DIR="${PKI_DIR:-@@pki_dir@@}"
export PKI_DIR
SSH_USER="${SSH_USER:-root}"
GRAFANA_DATA_DIR="${GRAFANA_DATA_DIR:-$DEFAULT_GRAFANA_DATA_DIR}"
export GRAFANA_DATA_DIR
case $GRAFANA_DATA_DIR in
  */../*|*/..|*/./*|*/.) bad_grafana=1 ;;
  @@storagebox_mount@@/?*) bad_grafana=0 ;;
  *) bad_grafana=1 ;;
esac
if [ "$bad_grafana" = 1 ]; then
  printf '==> GRAFANA_DATA_DIR=%s is not a folder under the StorageBox (@@storagebox_mount_comment@@): a node-local folder is lost when Grafana moves\n' "$GRAFANA_DATA_DIR" >&2
  exit 2
fi

log() { printf '==> %s\n' "$*" >&2; }
on_node() { local ip=$1; shift; ssh -o BatchMode=yes "$SSH_USER@$ip" "$@"; }

# The model's tls.overlay choice: 1 = IPsec (ESP, AES-GCM) between the nodes for every container
# on the overlay (`--opt encrypted`; Docker's managers rotate its keys), empty = plaintext VXLAN.
readonly OVERLAY_ENCRYPTED=@@overlay_encrypted@@

step_overlay() {
  local opts
  if opts=$(docker network inspect --format '{{json .Options}}' "$OVERLAY" 2>/dev/null); then
    log "overlay $OVERLAY exists"
    case "$opts" in
      *'"encrypted"'*) [ -n "$OVERLAY_ENCRYPTED" ] || log "WARNING: $OVERLAY is encrypted; the model says plaintext" ;;
      *) [ -z "$OVERLAY_ENCRYPTED" ] || log "WARNING: $OVERLAY is NOT encrypted but the model says --opt encrypted:" \
           "an overlay's options cannot change; remove both stacks and the network, then run this again" ;;
    esac
    return
  fi
  local encrypted=()
  if [ -n "$OVERLAY_ENCRYPTED" ]; then encrypted=(--opt encrypted); fi
  log "creating attachable overlay $OVERLAY (MTU @@mtu@@${OVERLAY_ENCRYPTED:+, encrypted})"
  docker network create --driver overlay --attachable --subnet @@overlay_subnet@@ \
    --opt com.docker.network.driver.mtu=@@mtu@@ ${encrypted[@]+"${encrypted[@]}"} "$OVERLAY" >/dev/null
}

label_node() {
  # The labels are listed and compared as data: no label key or value is ever part of a template.
  local node=$1 key=$2 value=$3 current line
  # shellcheck disable=SC2016 # a Go template, not a shell expansion
  current=$(docker node inspect --format '{{ range $k, $v := .Spec.Labels }}{{ printf "%s=%s\n" $k $v }}{{ end }}' "$node")
  while IFS= read -r line; do
    if [ "$line" = "$key=$value" ]; then return; fi
  done <<<"$current"
  docker node update --label-add "$key=$value" "$node" >/dev/null
  log "labelled $node $key=$value"
}

step_labels() {
@@label_calls@@
}

step_host_firewall() {
  # Hetzner firewalls do not filter the private network: restrict host-mode ports on each node.
  local ip
  for ip in @@db_node_ips@@; do
    log "DOCKER-USER rules on DB node $ip"
    on_node "$ip" 'bash -s' < @@db_docker_user_script@@
  done
  for ip in @@app_node_ips@@; do
    log "DOCKER-USER rules on service node $ip"
    on_node "$ip" 'bash -s' < @@app_docker_user_script@@
  done
}

step_storagebox() {
  # The cert services and Grafana bind-mount StorageBox folders on the service nodes. Swarm refuses
  # a task whose bind source is missing, and a folder made on the local disk would hide the data
  # from the other nodes, so the StorageBox must be mounted; then the folders are made.
  local ip cmd
  cmd="mkdir -p $(printf '%q ' @@storagebox_dirs@@ "$GRAFANA_DATA_DIR")"
  for ip in @@app_node_ips@@; do
    on_node "$ip" "mountpoint -q $(printf '%q' @@storagebox_mount@@)" </dev/null \
      || { log "node $ip: @@storagebox_mount_comment@@ is not a mount point (the StorageBox), or the node is unreachable"; exit 1; }
    on_node "$ip" "$cmd" </dev/null || { log "node $ip: the StorageBox folders could not be made"; exit 1; }
  done
  log "StorageBox folders present on the service nodes"
}

ensure_secret() {
  local name=$1 bytes=$2
  if docker secret inspect "$name" >/dev/null 2>&1; then return; fi
  if [ -r "$SECRETS_DIR/$name" ]; then
    docker secret create "$name" "$SECRETS_DIR/$name" >/dev/null
    log "secret $name imported from $SECRETS_DIR"
  else
    openssl rand -base64 "$bytes" | tr -d '\n' | docker secret create "$name" - >/dev/null
    log "secret $name generated"
  fi
}

step_secrets() {
@@secret_calls@@
}

ensure_file_secret() {
  # A certificate or key: imported from PKI_DIR, never generated, labelled with its content's
  # sha256 (10 digits, as iklim deploy names a secret's versions). Docker secrets are immutable: a
  # file re-issued since (a renewal by `iklim pki issue`) is only reported here; it reaches the
  # services by `iklim deploy --secrets-dir FOLDER` with the re-issued pair copied into FOLDER.
  local name=$1 digest current
  if [ ! -f "$PKI_DIR/$name" ]; then
    log "secret $name: $PKI_DIR/$name missing (iklim pki issue --dir \"$PKI_DIR\" --all)"
    exit 1
  fi
  digest=$(sha256sum "$PKI_DIR/$name" | cut -c1-10)
  if docker secret inspect "$name" >/dev/null 2>&1; then
    current=$(docker secret inspect -f '{{index .Spec.Labels "org.iklim.sha256"}}' "$name" 2>/dev/null || true)
    if [ "$current" != "$digest" ] && ! docker secret inspect "${name}_$digest" >/dev/null 2>&1; then
      log "secret $name: $PKI_DIR/$name is not the version deployed: roll it out with iklim deploy --secrets-dir (README: TLS, renewal)"
    fi
    return
  fi
  docker secret create --label "org.iklim.sha256=$digest" "$name" "$PKI_DIR/$name" >/dev/null
  log "secret $name imported from $PKI_DIR"
}

ensure_job_secret() {
  # The tool's own certificate or key (the `iklim status --on-overlay` job mounts it; no service
  # does): imported as ensure_file_secret does, and a re-issued file (a renewal) replaces it at
  # once, since no service holds it. A job running at that moment keeps it in use: reported, and
  # the next run of this script replaces it.
  local name=$1 digest current
  if [ -f "$PKI_DIR/$name" ] && docker secret inspect "$name" >/dev/null 2>&1; then
    digest=$(sha256sum "$PKI_DIR/$name" | cut -c1-10)
    current=$(docker secret inspect -f '{{index .Spec.Labels "org.iklim.sha256"}}' "$name" 2>/dev/null || true)
    if [ "$current" != "$digest" ]; then
      if docker secret rm "$name" >/dev/null 2>&1; then
        log "secret $name: the re-issued $PKI_DIR/$name replaces it (no service mounts it)"
      else
        log "secret $name: in use by a running status job; run this script again to replace it"
        return
      fi
    fi
  fi
  ensure_file_secret "$name"
}

step_pki() {
  # The environment CA, created once here on the manager (offline from Vault, which needs its
  # certificate before it exists); its key stays in PKI_DIR (0600) and is never a Docker secret.
  if ! command -v iklim >/dev/null 2>&1; then
    log "iklim is not installed on this manager: pip install the iklim repository first"
    exit 1
  fi
  if [ ! -e "$PKI_DIR/ca.key" ]; then
    iklim pki init --env @@model@@ --dir "$PKI_DIR" | sed 's/^/    /'
  fi
  iklim pki issue --env @@model@@ --dir "$PKI_DIR" --all | sed 's/^/    /'
@@file_secret_calls@@
}

stack_converged() {
  # Every service of the stack file exists in the stack (none removed by hand) and none has an
  # update paused or rolled back.
  local file=$1 stack=$2 want have svc state
  want=$(sed -n '/^services:/,/^[a-z]/s/^  \([A-Za-z0-9_.-]*\):$/\1/p' "$file" | sort)
  have=$(docker stack services --format '{{.Name}}' "$stack" | sed "s/^${stack}_//" | sort)
  [ -n "$want" ] && [ "$want" = "$have" ] || return 1
  for svc in $have; do
    state=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "${stack}_$svc")
    case $state in paused|rollback_*) return 1 ;; esac
  done
}

deploy_stack() {
  # `docker stack deploy` updates every service, changed or not (each service's version rises), so
  # a rerun deploys only when needed: the stack file, the files its configs read or GRAFANA_DATA_DIR
  # changed (a digest kept as the marker config iklim-deployed-<stack>-<digest>), a service is
  # missing or its update paused or rolled back, or FORCE_DEPLOY=1 (e.g. an image re-pushed under
  # the same tag, or a hand-made change to undo).
  local file=$1 stack=$2 digest marker old
  digest=$({ cat "$file"; sed -n 's/^ *file: *//p' "$file" | while IFS= read -r f; do cat "$f"; done
             printf '%s' "$GRAFANA_DATA_DIR"; } | sha256sum | cut -c1-16)
  marker="iklim-deployed-$stack-$digest"
  if [ "${FORCE_DEPLOY:-0}" != 1 ] && docker config inspect "$marker" >/dev/null 2>&1 \
      && stack_converged "$file" "$stack"; then
    log "stack $stack unchanged (digest $digest) and converged: not redeployed (FORCE_DEPLOY=1 to redeploy)"
    return
  fi
  log "deploying stack $stack (digest $digest)"
  docker stack deploy -c "$file" --with-registry-auth "$stack"
  for old in $(docker config ls -q --filter "label=org.iklim.deployed=$stack"); do docker config rm "$old" >/dev/null; done
  docker config create --label "org.iklim.deployed=$stack" "$marker" - <<<"$digest" >/dev/null
}

step_vault() {
  deploy_stack @@vault_stack_file@@ "$VAULT_STACK"
  @@vault_bootstrap@@
}

step_infra() {
  deploy_stack @@infra_stack_file@@ "$INFRA_STACK"
}

step_mongodb_replica_set() {
  local cid='' i replicas filter="label=com.docker.swarm.service.name=${INFRA_STACK}_@@mongo_service@@"
  # A first member scaled to 0 (e.g. by an override) runs nowhere: there is nothing to initiate.
  replicas=$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "${INFRA_STACK}_@@mongo_service@@")
  if [ "$replicas" = 0 ]; then log "@@mongo_service@@ is scaled to 0: replica set not initiated"; return; fi
  for i in $(seq 1 60); do
    cid=$(on_node @@mongo_node_ip@@ docker ps -q -f "$filter" </dev/null)
    [ -n "$cid" ] && break
    log "waiting for @@mongo_service@@ ($i/60)"; sleep 5
  done
  [ -n "$cid" ] || { log "@@mongo_service@@ did not start"; exit 1; }
  on_node @@mongo_node_ip@@ docker exec "$cid" mongosh --quiet --port @@mongo_port@@ --file @@mongo_init@@ </dev/null
}

main() {
  step_overlay
  step_labels
  step_host_firewall
  step_storagebox
  step_secrets
  step_pki
  step_vault
  step_infra
  step_mongodb_replica_set
  log "done: docker stack ps $INFRA_STACK; docker stack ps $VAULT_STACK"
}

main "$@"
