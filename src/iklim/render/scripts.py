"""The runbooks: ``init-infra-prod.sh``, ``init/vault/vault-bootstrap.sh`` and the DB-node
``DOCKER-USER`` rules. Each script is idempotent: every step reads the current state first."""

from __future__ import annotations

from iklim.components import apisix, grafana, mongodb, patroni, rabbitmq, redis
from iklim.components.base import header
from iklim.model.schema import Environment, Placement
from iklim.render.stacks import STACK_FILES
from iklim.render.terraform import db_host_ports

RUNBOOK_PATH = "init-infra-prod.sh"
VAULT_BOOTSTRAP_PATH = "init/vault/vault-bootstrap.sh"
DOCKER_USER_PATH = "init/hosts/db-docker-user.sh"
KEYFILE_BYTES = 756  # base64 of 756 bytes = 1008 characters: within MongoDB's 6..1024 limit
PASSWORD_BYTES = 32


def _secrets() -> list[tuple[str, int]]:
    names = [
        *patroni.SECRETS.values(), redis.PASSWORD, rabbitmq.COOKIE, rabbitmq.ADMIN_PASSWORD,
        mongodb.ROOT_PASSWORD, apisix.ADMIN_KEY, apisix.DASHBOARD_PASSWORD, apisix.DASHBOARD_JWT,
        grafana.ADMIN_PASSWORD,
    ]
    return [(mongodb.KEYFILE, KEYFILE_BYTES)] + [(n, PASSWORD_BYTES) for n in sorted(names)]


def _shebang(purpose: str) -> str:
    return "#!/usr/bin/env bash\n" + header("#") + purpose + "set -euo pipefail\n"


def runbook(env: Environment) -> str:
    grafana_volume = env.services.grafana.volume
    grafana_dir = grafana_volume.path if grafana_volume else ""
    db_nodes = [n for n in env.nodes if n.role is Placement.DB]
    labels = "".join(
        f"  label_node {n.name} {key} {value}\n" for n in env.nodes for key, value in sorted(n.labels.items())
    )
    secrets = "".join(f"  ensure_secret {name} {size}\n" for name, size in _secrets())
    mongo_node = env.node(env.services.mongodb.nodes[0])
    return (
        _shebang(
            "# Bring up the iklimco production infrastructure from a Swarm manager, from the repository root.\n"
            "# Idempotent: each step reads the current state first; rerun it after any interruption.\n"
            "#\n"
            "# Usage: ./init-infra-prod.sh\n"
            "#   SECRETS_DIR       files named after Docker secrets to import; a secret without a file is\n"
            "#                     generated at random and never printed (default: /root/iklim-secrets)\n"
            f"#   GRAFANA_DATA_DIR  Grafana's StorageBox data path (default: {grafana_dir})\n"
            "#   SSH_USER          user for the per-node steps over SSH (default: root)\n"
        )
        + 'cd "$(dirname "$0")"\n\n'
        + f"readonly INFRA_STACK={env.stacks.infra} VAULT_STACK={env.stacks.vault} OVERLAY={env.overlay.name}\n"
        + 'SECRETS_DIR="${SECRETS_DIR:-/root/iklim-secrets}"\n'
        + 'SSH_USER="${SSH_USER:-root}"\n'
        + f'GRAFANA_DATA_DIR="${{GRAFANA_DATA_DIR:-{grafana_dir}}}"\n'
        + "export GRAFANA_DATA_DIR\n\n"
        + "log() { printf '==> %s\\n' \"$*\" >&2; }\n"
        + "on_node() { local ip=$1; shift; ssh -o BatchMode=yes \"$SSH_USER@$ip\" \"$@\"; }\n\n"
        + "step_overlay() {\n"
        + '  if docker network inspect "$OVERLAY" >/dev/null 2>&1; then log "overlay $OVERLAY exists"; return; fi\n'
        + '  log "creating attachable overlay $OVERLAY (MTU ' + str(env.overlay.mtu) + ')"\n'
        + f"  docker network create --driver overlay --attachable --subnet {env.overlay.subnet} \\\n"
        + f'    --opt com.docker.network.driver.mtu={env.overlay.mtu} "$OVERLAY" >/dev/null\n'
        + "}\n\n"
        + "label_node() {\n"
        + "  local node=$1 key=$2 value=$3 current\n"
        + "  current=$(docker node inspect --format \"{{ index .Spec.Labels \\\"$key\\\" }}\" \"$node\")\n"
        + '  if [ "$current" = "$value" ]; then return; fi\n'
        + '  docker node update --label-add "$key=$value" "$node" >/dev/null\n'
        + '  log "labelled $node $key=$value"\n'
        + "}\n\n"
        + "step_labels() {\n" + labels + "}\n\n"
        + "step_host_firewall() {\n"
        + "  # Hetzner firewalls do not filter the private network: restrict host-mode DB ports per node.\n"
        + "  local ip\n"
        + f"  for ip in {' '.join(str(n.private_ip) for n in db_nodes)}; do\n"
        + '    log "DOCKER-USER rules on $ip"\n'
        + f"    on_node \"$ip\" 'bash -s' < {DOCKER_USER_PATH}\n"
        + "  done\n"
        + "}\n\n"
        + "ensure_secret() {\n"
        + "  local name=$1 bytes=$2\n"
        + '  if docker secret inspect "$name" >/dev/null 2>&1; then return; fi\n'
        + '  if [ -r "$SECRETS_DIR/$name" ]; then\n'
        + '    docker secret create "$name" "$SECRETS_DIR/$name" >/dev/null\n'
        + '    log "secret $name imported from $SECRETS_DIR"\n'
        + "  else\n"
        + "    openssl rand -base64 \"$bytes\" | tr -d '\\n' | docker secret create \"$name\" - >/dev/null\n"
        + '    log "secret $name generated"\n'
        + "  fi\n"
        + "}\n\n"
        + "step_secrets() {\n" + secrets + "}\n\n"
        + "step_vault() {\n"
        + '  log "deploying stack $VAULT_STACK"\n'
        + f'  docker stack deploy -c {STACK_FILES["vault"]} --with-registry-auth "$VAULT_STACK"\n'
        + f"  {VAULT_BOOTSTRAP_PATH}\n"
        + "}\n\n"
        + "step_infra() {\n"
        + '  log "deploying stack $INFRA_STACK"\n'
        + f'  docker stack deploy -c {STACK_FILES["infra"]} --with-registry-auth "$INFRA_STACK"\n'
        + "}\n\n"
        + "step_mongodb_replica_set() {\n"
        + "  local cid='' i\n"
        + "  for i in $(seq 1 60); do\n"
        + f"    cid=$(on_node {mongo_node.private_ip} docker ps -q -f "
        + '"label=com.docker.swarm.service.name=${INFRA_STACK}_mongodb-1" </dev/null)\n'
        + '    [ -n "$cid" ] && break\n'
        + '    log "waiting for mongodb-1 ($i/60)"; sleep 5\n'
        + "  done\n"
        + '  [ -n "$cid" ] || { log "mongodb-1 did not start"; exit 1; }\n'
        + f'  on_node {mongo_node.private_ip} docker exec "$cid" mongosh --quiet --file {mongodb.INIT_TARGET} </dev/null\n'
        + "}\n\n"
        + "main() {\n"
        + "  step_overlay\n  step_labels\n  step_host_firewall\n  step_secrets\n"
        + "  step_vault\n  step_infra\n  step_mongodb_replica_set\n"
        + '  log "done: docker stack ps $INFRA_STACK; docker stack ps $VAULT_STACK"\n'
        + "}\n\n"
        + 'main "$@"\n'
    )


def docker_user_rules(env: Environment) -> str:
    sources = [str(env.network.app_subnet), str(env.network.db_subnet), str(env.overlay.subnet)]
    ports = " ".join(f"{proto}/{port}" for proto, port in db_host_ports(env))
    return (
        _shebang(
            "# Restrict the host-mode DB ports of a DB node to the private subnets (and the overlay), in\n"
            "# the DOCKER-USER chain that Docker consults before its own rules. Hetzner firewalls do not\n"
            "# filter the private network. Idempotent: rebuilds its own chain and jumps to it once.\n"
        )
        + "readonly CHAIN=IKLIM-DB\n"
        + f"readonly PORTS='{ports}'\n"
        + f"readonly SOURCES='{' '.join(sources)}'\n\n"
        + 'iptables -N "$CHAIN" 2>/dev/null || true\n'
        + 'iptables -F "$CHAIN"\n'
        + "for entry in $PORTS; do\n"
        + '  proto=${entry%/*} port=${entry#*/}\n'
        + "  for source in $SOURCES; do\n"
        + '    iptables -A "$CHAIN" -p "$proto" -s "$source" -m conntrack --ctorigdstport "$port" --ctdir ORIGINAL -j RETURN\n'
        + "  done\n"
        + '  iptables -A "$CHAIN" -p "$proto" -m conntrack --ctorigdstport "$port" --ctdir ORIGINAL -j DROP\n'
        + "done\n"
        + 'iptables -A "$CHAIN" -j RETURN\n'
        + 'iptables -C DOCKER-USER -j "$CHAIN" 2>/dev/null || iptables -I DOCKER-USER 1 -j "$CHAIN"\n'
    )


def vault_bootstrap(env: Environment) -> str:
    spec = env.services.vault
    members = [env.node(n) for n in spec.nodes]
    pairs = " ".join(f"vault-{i}@{node.private_ip}" for i, node in enumerate(members, 1))
    return (
        _shebang(
            "# Vault bootstrap, called by init-infra-prod.sh: initialise once, keep the keys in custody,\n"
            "# unseal every member (members 2..n join through retry_join when unsealed). Idempotent.\n"
            "# The unseal keys and root token go only to $VAULT_KEYS_FILE (mode 0600), never to output.\n"
            "#\n"
            "# Usage: init/vault/vault-bootstrap.sh\n"
            "#   VAULT_KEYS_FILE  custody file (default: /root/iklim-vault/init.json)\n"
            "#   SSH_USER         user for the per-node steps over SSH (default: root)\n"
        )
        + 'VAULT_KEYS_FILE="${VAULT_KEYS_FILE:-/root/iklim-vault/init.json}"\n'
        + 'SSH_USER="${SSH_USER:-root}"\n'
        + f"readonly STACK={env.stacks.vault} MEMBERS='{pairs}'\n"
        + f"readonly SHARES={spec.key_shares} THRESHOLD={spec.key_threshold}\n\n"
        + "log() { printf '==> %s\\n' \"$*\" >&2; }\n"
        + "container() {\n"
        + "  ssh -n -o BatchMode=yes \"$SSH_USER@$2\" docker ps -q -f \"label=com.docker.swarm.service.name=${STACK}_$1\"\n"
        + "}\n"
        + "vault_on() {\n"
        + "  local service=$1 ip=$2 cid; shift 2\n"
        + '  cid=$(container "$service" "$ip")\n'
        + '  [ -n "$cid" ] || return 3\n'
        + '  ssh -o BatchMode=yes "$SSH_USER@$ip" docker exec -i "$cid" vault "$@"\n'
        + "}\n"
        + "wait_api() {\n"
        + "  local i rc\n"
        + "  for i in $(seq 1 60); do\n"
        + '    rc=0; vault_on "$1" "$2" status >/dev/null 2>&1 || rc=$?\n'
        + '    if [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; then return 0; fi\n'
        + '    log "waiting for $1 ($i/60)"; sleep 5\n'
        + "  done\n"
        + '  log "$1 did not answer"; return 1\n'
        + "}\n"
        + "unseal_keys() {\n"
        + "  python3 -c 'import json,sys; print(\"\\n\".join(json.load(open(sys.argv[1]))[\"unseal_keys_b64\"]))' \\\n"
        + '    "$VAULT_KEYS_FILE" | head -n "$THRESHOLD"\n'
        + "}\n\n"
        + "main() {\n"
        + "  local first=${MEMBERS%% *} member service ip key rc\n"
        + '  wait_api "${first%@*}" "${first#*@}"\n'
        + '  rc=0; vault_on "${first%@*}" "${first#*@}" operator init -status >/dev/null || rc=$?\n'
        + '  if [ "$rc" -eq 2 ]; then\n'
        + '    [ ! -e "$VAULT_KEYS_FILE" ] || { log "$VAULT_KEYS_FILE exists but Vault is not initialised"; exit 1; }\n'
        + '    umask 077; mkdir -p "$(dirname "$VAULT_KEYS_FILE")"\n'
        + '    vault_on "${first%@*}" "${first#*@}" operator init -key-shares="$SHARES" \\\n'
        + '      -key-threshold="$THRESHOLD" -format=json > "$VAULT_KEYS_FILE.tmp"\n'
        + '    mv "$VAULT_KEYS_FILE.tmp" "$VAULT_KEYS_FILE"\n'
        + '    log "initialised; keys in $VAULT_KEYS_FILE"\n'
        + '  elif [ "$rc" -ne 0 ]; then log "cannot read the init status"; exit 1; fi\n'
        + '  [ -r "$VAULT_KEYS_FILE" ] || { log "Vault is initialised but $VAULT_KEYS_FILE is missing"; exit 1; }\n'
        + "  for member in $MEMBERS; do\n"
        + '    service=${member%@*} ip=${member#*@}\n'
        + '    wait_api "$service" "$ip"\n'
        + '    rc=0; vault_on "$service" "$ip" status >/dev/null 2>&1 || rc=$?\n'
        + '    if [ "$rc" -eq 0 ]; then log "$service unsealed"; continue; fi\n'
        + "    while read -r key; do\n"
        + "      printf '%s' \"$key\" | vault_on \"$service\" \"$ip\" operator unseal - >/dev/null\n"
        + "    done < <(unseal_keys)\n"
        + '    log "$service unsealed"\n'
        + "  done\n"
        + "}\n\n"
        + 'main "$@"\n'
    )
