#!/usr/bin/env bash
@@header@@
# Restrict the private host-mode ports of a @@role@@ node to the private subnets (and the overlay), in
# the DOCKER-USER chain that Docker consults before its own rules. Hetzner firewalls do not filter
# the private network. Idempotent: rebuilds its own chain and jumps to it once.
set -euo pipefail

readonly CHAIN=@@chain@@
readonly PORTS='@@ports@@'
readonly SOURCES='@@sources@@'

iptables -N "$CHAIN" 2>/dev/null || true
iptables -F "$CHAIN"
for entry in $PORTS; do
  proto=${entry%/*} port=${entry#*/}
  for source in $SOURCES; do
    iptables -A "$CHAIN" -p "$proto" -s "$source" -m conntrack --ctorigdstport "$port" --ctdir ORIGINAL -j RETURN
  done
  iptables -A "$CHAIN" -p "$proto" -m conntrack --ctorigdstport "$port" --ctdir ORIGINAL -j DROP
done
iptables -A "$CHAIN" -j RETURN
iptables -C DOCKER-USER -j "$CHAIN" 2>/dev/null || iptables -I DOCKER-USER 1 -j "$CHAIN"
