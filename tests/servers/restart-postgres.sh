#!/usr/bin/env bash
# Restarts the private PostgreSQL instance (for fault tests), then waits until it accepts connections.
#   restart-postgres.sh [--kill] [seconds-down]
#   --kill        crash it (pg_ctl stop -m immediate) instead of a clean stop
#   seconds-down  stay down this long before starting again (default 0)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=clean
if [ "${1:-}" = --kill ]; then mode=kill; shift; fi
down="${1:-0}"
pg_stop "$mode"
[ "$down" = 0 ] || sleep "$down"
pg_start
