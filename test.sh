#!/usr/bin/env bash
# Runs the whole test suite against real servers: starts the private PostgreSQL and
# RabbitMQ instances (tests/servers/start-servers.sh, installing them if needed), exports
# their connection settings, runs `dotnet test`, and stops the servers on exit.
# Extra arguments go to `dotnet test` (e.g. ./test.sh --filter FullyQualifiedName~Parity).
# ACTIVATIONS_KEEP_SERVERS=1 leaves the servers running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stop_servers() {
    if [ "${ACTIVATIONS_KEEP_SERVERS:-0}" != 1 ]; then
        tests/servers/stop-servers.sh || echo "test.sh: stopping the servers failed" >&2
    fi
}
trap stop_servers EXIT

tests/servers/start-servers.sh </dev/null
# shellcheck disable=SC1091
. "${ACTIVATIONS_SERVERS_DIR:-$PWD/.ci-state/servers}/env"

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
log=$(mktemp)
# --blame-hang-timeout: a test stuck on a server fault fails after 15 min instead of
# holding the run forever.
set +e
dotnet test Activations.sln -c Release \
    --logger "console;verbosity=normal" \
    --blame-hang-timeout 15m --blame-hang-dump-type none \
    "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One summary line over every test project, in the plain "N passed, N failed" form.
# awk alone: a grep that matches nothing (no skipped tests) would end the script under pipefail.
count() { awk -v key="$1:" '$1 == key && $2 ~ /^[0-9]+$/ && NF == 2 {s += $2} END {print s + 0}' "$log"; }
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
rm -f "$log"
echo "Tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
