#!/bin/bash
# The upstream rabbitmq (3.9+) entrypoint's behaviour (written for the lab): `rabbitmq*` started as
# root chowns the data dir and re-runs itself as rabbitmq; the *_FILE variables removed in 3.9
# are refused; long names when the hostname is a FQDN. RABBITMQ_DEFAULT_USER/PASS/VHOST and
# RABBITMQ_ERLANG_COOKIE are read by rabbitmq-server itself.
set -euo pipefail
if [[ "$1" == rabbitmq* ]] && [ "$(id -u)" = 0 ]; then
    if [ "$1" = rabbitmq-server ]; then
        find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq '{}' +
    fi
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "${BASH_SOURCE[0]}" "$@"
fi
old=
for v in RABBITMQ_DEFAULT_PASS_FILE RABBITMQ_DEFAULT_USER_FILE RABBITMQ_MANAGEMENT_SSL_CACERTFILE \
         RABBITMQ_MANAGEMENT_SSL_CERTFILE RABBITMQ_MANAGEMENT_SSL_KEYFILE RABBITMQ_SSL_CACERTFILE \
         RABBITMQ_SSL_CERTFILE RABBITMQ_SSL_KEYFILE RABBITMQ_VM_MEMORY_HIGH_WATERMARK; do
    if [ -n "${!v:-}" ]; then echo "error: $v is set but deprecated" >&2; old=1; fi
done
if [ -n "$old" ]; then echo 'error: deprecated environment variables detected; use a configuration file' >&2; exit 1; fi
if [ -z "${RABBITMQ_USE_LONGNAME:-}" ] && [ "$(hostname)" != "$(hostname -s)" ]; then
    export RABBITMQ_USE_LONGNAME=true
fi
exec "$@"
