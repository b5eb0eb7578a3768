#!/bin/sh
# The upstream redis entrypoint's behaviour (written for the lab): flags or a *.conf first argument
# mean `redis-server ...`; `redis-server` started as root chowns the working dir and drops to
# `redis`; anything else (the stack's `sh -c ...`) runs as given.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
um="$(umask)"
if [ "$um" = 0022 ]; then umask 0077; fi
exec "$@"
