#!/usr/bin/env bash
# Starts the private PostgreSQL 15 and RabbitMQ instances the integration tests use
# (installing the packages with apt-get if missing). Idempotent: a second run while they
# are up changes nothing. Writes the connection settings to $STATE/env.
#   ACTIVATIONS_SERVERS_DIR (default <repo>/.ci-state/servers), ACTIVATIONS_PG_PORT (55432),
#   ACTIVATIONS_RABBITMQ_PORT (55672), ACTIVATIONS_RABBITMQ_DIST_PORT (55673),
#   ACTIVATIONS_RABBITMQ_MANAGEMENT_PORT (55674), ACTIVATIONS_RABBITMQ_TLS_PORT (amqps, RabbitMQ port + 3).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (PostgreSQL runs as user postgres via runuser)"
ensure_packages
mkdir -p "$STATE"
tls_make
t0=$SECONDS
pg_start
log "PostgreSQL ready ($((SECONDS - t0))s)"
t1=$SECONDS
( rmq_start )
log "RabbitMQ ready ($((SECONDS - t1))s)"
envfile="$(write_env)"
grep "^export ACTIVATIONS_TEST_" "$envfile"
echo "# source $envfile"
