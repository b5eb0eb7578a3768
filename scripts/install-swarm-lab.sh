#!/usr/bin/env bash
# Install what the Swarm lab (`iklim swarm-lab`) needs on a fresh Debian machine (run as root).
# Idempotent. From Debian only:
#   docker.io (dockerd 20.10 + containerd + runc: the nodes' engines and the builder engine),
#   debootstrap (the lab's base image, no registry needed), iptables (each node's own rules),
#   iproute2 (namespaces, veths, the lab bridge), util-linux (nsenter, unshare), tar, ca-certificates.
# No system dockerd/containerd is started or enabled: apt_ensure blocks service start-up
# (policy-rc.d) and the lab starts its own engines with their own sockets and data roots.
#
# Usage: bash scripts/install-swarm-lab.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/apt-ensure.sh
. scripts/apt-ensure.sh
had_docker=0
dpkg-query -W -f='${Status}' docker.io 2>/dev/null | grep -q "install ok installed" && had_docker=1
apt_ensure docker.io debootstrap iptables iproute2 util-linux tar ca-certificates

# When this script installed docker.io, its postinst enabled the system units (policy-rc.d kept
# them from starting): disable them, the lab never uses the system daemon. A docker.io that was
# already here is left as its owner set it up.
if [ "$had_docker" -eq 0 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
fi
