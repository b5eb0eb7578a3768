#!/usr/bin/env bash
# Install everything iklim and its tests need on a fresh Debian machine (run as root): the real
# tools the tests run, the lab's engines (scripts/install-lab.sh), then the package itself
# (editable, with its test extras). Idempotent and quick when all is present.
#
# Usage: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the real tools the tests run against the rendered tree.
#   nginx-light (nginx -t), shellcheck, prometheus (promtool), etcd-server + etcd-client (a real etcd
#   for `patroni --validate-config`), postgresql (the binaries Patroni's validator looks for), openssl.
#   prometheus-alertmanager (amtool check-config on the rendered Alertmanager config; the lab runs it).
#   iptables (the DOCKER-USER scripts run against the real iptables-restore in a network namespace).
#   tcpdump (the capture that proves the Vault bootstrap sends no unseal key or token in clear).
# shellcheck source=scripts/apt-ensure.sh
. scripts/apt-ensure.sh
apt_ensure nginx-light shellcheck prometheus prometheus-alertmanager etcd-server etcd-client postgresql openssl iptables tcpdump
if ! command -v docker >/dev/null 2>&1; then
  apt_ensure docker.io  # only the client is used: `docker stack config` needs no daemon
fi
if ! command -v node >/dev/null 2>&1; then
  apt_ensure nodejs  # `node --check` parses the rendered mongosh script
fi

bash scripts/install-lab.sh
bash scripts/install-swarm-lab.sh

# matplotlib: the drill's timeline pictures (Agg backend); also a dependency in pyproject.toml.
echo "==> pip install -e .[test]" >&2
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]" "matplotlib>=3.7"
