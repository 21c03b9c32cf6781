#!/usr/bin/env bash
# Stops the private PostgreSQL and RabbitMQ instances started by start-servers.sh
# (bounded waits, escalating to kill). The system cluster/node, if any, is left alone.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rc=0
( rmq_stop ) || rc=1
( pg_stop ) || rc=1
exit $rc
