#!/usr/bin/env bash
@@header@@
# Host firewall of a @@role@@ node: only the private subnets (and the overlay) reach its private
# host-mode ports, in the DOCKER-USER chain that Docker consults before its own rules. Hetzner
# firewalls do not filter the private network. Run as root on the node; the runbook does
# `ssh root@NODE 'bash -s' < this-file`. Idempotent.
#
# Atomic, fail closed: the whole ruleset (DOCKER-USER, which this script owns on iklim nodes, and
# the chain @@chain@@) is built first, then committed in one `iptables-restore --noflush`
# transaction: a failure at any point leaves the previous rules in place. A node that had no
# rules yet gets a closed chain instead (every private port dropped from every source), so a
# private port is never left open; the script then exits non-zero and the runbook stops.
#
# IPv6: the private network is IPv4 only, so over IPv6 the private ports are dropped from every
# source, forwarded to a container (DOCKER-USER) or delivered to docker-proxy on the host (INPUT).
#
# Reboots: once the rules are live, the script installs what applies them again at boot: the
# applier /usr/local/sbin/iklim-docker-user (this script's functions and values) and the systemd
# unit iklim-docker-user.service, ordered Before= and RequiredBy= docker.service, so the rules are
# in place before Docker publishes a port, and Docker does not start when they cannot be applied.
# A unit of our own rather than iptables-persistent's /etc/iptables/rules.v4: that file is a
# full-table dump that would also freeze Docker's own chains, and `netfilter-persistent save`
# overwrites it with whatever is live.
set -euo pipefail

readonly CHAIN=@@chain@@
readonly PORTS=@@ports@@
readonly SOURCES=@@sources@@
# Test hook only: a directory standing in for / (the tests install into a temporary tree).
readonly ROOT="${IKLIM_FIREWALL_ROOT:-}"
readonly UNIT_NAME=iklim-docker-user.service
readonly APPLIER_PATH=/usr/local/sbin/iklim-docker-user

log() { printf 'docker-user: %s\n' "$*" >&2; }

# ruleset FAMILY MODE: the restore payload for IPv4 (4) or IPv6 (6). MODE "rules" admits the
# private sources over IPv4; MODE "closed" drops every private port from every source.
ruleset() {
  local family=$1 mode=$2 entry proto port source
  printf '*filter\n:DOCKER-USER - [0:0]\n:%s - [0:0]\n' "$CHAIN"
  printf -- '-A DOCKER-USER -j %s\n-A DOCKER-USER -j RETURN\n' "$CHAIN"
  if [ "$family" = 6 ] && ! ip6tables -C INPUT -j "$CHAIN" >/dev/null 2>&1; then
    printf -- '-I INPUT 1 -j %s\n' "$CHAIN"
  fi
  # A packet entering from this node's own Docker bridges comes from one of its containers going
  # out (e.g. to Vault's API on another node, which applies its own rules to this node's
  # address); the port rules below guard what arrives from the network. Without these, a
  # container here could reach no other node's protected port (found on the Swarm lab).
  printf -- '-A %s -i docker_gwbridge -j RETURN\n-A %s -i docker0 -j RETURN\n' "$CHAIN" "$CHAIN"
  for entry in $PORTS; do
    proto=${entry%/*} port=${entry#*/}
    if [ "$family" = 4 ] && [ "$mode" = rules ]; then
      for source in $SOURCES; do
        printf -- '-A %s -p %s -s %s -m conntrack --ctorigdstport %s --ctdir ORIGINAL -j RETURN\n' \
          "$CHAIN" "$proto" "$source" "$port"
      done
    fi
    printf -- '-A %s -p %s -m conntrack --ctorigdstport %s --ctdir ORIGINAL -j DROP\n' "$CHAIN" "$proto" "$port"
  done
  printf -- '-A %s -j RETURN\nCOMMIT\n' "$CHAIN"
}

# apply FAMILY: commit the new rules in one transaction; on failure keep the previous rules, or
# install a closed chain when there were none. Returns non-zero when the new rules are not live.
apply() {
  local family=$1 tables=iptables payload
  [ "$family" = 4 ] || tables=ip6tables
  if payload=$(ruleset "$family" rules) && "$tables-restore" --noflush <<<"$payload"; then
    return 0
  fi
  log "IPv$family: the new rules were not applied"
  if "$tables" -C DOCKER-USER -j "$CHAIN" >/dev/null 2>&1; then
    log "IPv$family: the previous rules stay in place"
  elif payload=$(ruleset "$family" closed) && "$tables-restore" --noflush <<<"$payload"; then
    log "IPv$family: no previous rules: installed a closed chain (every private port dropped)"
  else
    log "IPv$family: not even a closed chain could be installed: check iptables on this node"
  fi
  return 1
}

apply_all() {
  local failed=0
  apply 4 || failed=1
  apply 6 || failed=1
  return "$failed"
}

# install PATH MODE: write stdin to $ROOT/PATH atomically (temporary file, then rename).
install_file() {
  local target=$ROOT$1 mode=$2 tmp
  mkdir -p "${target%/*}" || return 1
  tmp=$(mktemp "$target.XXXXXX") || return 1
  if cat >"$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$target"; then
    return 0
  fi
  rm -f "$tmp"
  return 1
}

# persist: apply the live rules again at every boot, before Docker starts.
persist() {
  {
    printf '#!/usr/bin/env bash\n# Written by the iklim DOCKER-USER script: rerun that script to change it.\n'
    printf 'set -euo pipefail\n'
    declare -p CHAIN PORTS SOURCES
    declare -f log ruleset apply apply_all
    printf 'apply_all\n'
  } | install_file "$APPLIER_PATH" 0755 || return 1
  install_file "/etc/systemd/system/$UNIT_NAME" 0644 <<UNIT || return 1
[Unit]
Description=iklim DOCKER-USER rules ($CHAIN: private host-mode ports)
After=netfilter-persistent.service
Before=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$APPLIER_PATH

[Install]
WantedBy=multi-user.target
RequiredBy=docker.service
UNIT
  systemctl daemon-reload && systemctl enable --quiet "$UNIT_NAME"
}

main() {
  if ! apply_all; then
    log "FAILED: $CHAIN was not replaced; nothing was persisted"
    exit 1
  fi
  if ! persist; then
    log "FAILED: the rules are live but not persisted across reboots ($UNIT_NAME)"
    exit 1
  fi
  log "$CHAIN in place for IPv4 and IPv6, applied again at boot by $UNIT_NAME"
}

main "$@"
