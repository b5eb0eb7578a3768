#!/usr/bin/env bash
# apt_ensure PACKAGE...: install the Debian packages that are missing, without letting their
# maintainer scripts start system-wide services (the lab and the tests start their own).
# Sourced by install-deps.sh and install-lab.sh.

apt_ensure() {
  local pkg missing=() made_policy=0
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "==> apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
}
