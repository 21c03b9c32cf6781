#!/usr/bin/env bash
# Restarts the private RabbitMQ node (for fault tests), then waits until AMQP and the management API answer.
#   restart-rabbitmq.sh [--kill] [seconds-down]
#   --kill        crash it (SIGKILL the VM) instead of a clean stop
#   seconds-down  stay down this long before starting again (default 0)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=clean
if [ "${1:-}" = --kill ]; then mode=kill; shift; fi
down="${1:-0}"
rmq_stop "$mode"
[ "$down" = 0 ] || sleep "$down"
rmq_start
