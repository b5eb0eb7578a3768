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
packages=(nginx-light shellcheck prometheus etcd-server etcd-client postgresql openssl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! command -v docker >/dev/null 2>&1; then
  missing+=(docker.io)  # only the client is used: `docker stack config` needs no daemon
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts may try to start services; there is no init system here, and none is needed.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
fi

bash scripts/install-lab.sh

echo "==> pip install -e .[test]" >&2
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]"
