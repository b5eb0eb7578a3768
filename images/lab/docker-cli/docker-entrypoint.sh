#!/bin/sh
# The upstream docker:cli entrypoint's behaviour (written for the lab): flags or a docker
# subcommand get `docker` in front; anything else (the stack's `sh -c ...`) runs as given.
set -e
if [ "${1#-}" != "$1" ]; then set -- docker "$@"
elif [ -n "${1:-}" ] && docker help "$1" >/dev/null 2>&1; then set -- docker "$@"
fi
exec "$@"
