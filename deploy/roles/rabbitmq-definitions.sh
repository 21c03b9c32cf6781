#!/bin/sh
# Prints RabbitMQ definitions (JSON) for the least-privilege users, one per role, from the environment:
#   RABBITMQ_ADMIN_USER/_PASSWORD              operators only (administrator tag); no application uses it
#   RABBITMQ_COORDINATOR_USER/_PASSWORD        declares and consumes each job's question-results-{job}, sends to capture-question-*
#   RABBITMQ_WORKER_USER/_PASSWORD             consumes capture-question-*, publishes results; no management access
#   RABBITMQ_KEDA_USER/_PASSWORD               management API, read-only (queue lengths); no AMQP rights (optional:
#                                              without it, no such user; Docker Compose has no KEDA)
#   RABBITMQ_VHOST (default /)
# The broker loads the output at boot (load_definitions; see deploy/docker-compose.yml and the self-contained
# overlay), and tests/Integration.Tests/SecurityTests imports it into a test vhost. POSIX sh only (the rabbitmq image
# has no jq); passwords must be JSON-safe: letters, digits, - and _ (deploy/generate-secrets.sh makes such).
set -eu

need() {
    eval "v=\${$1:-}"
    [ -n "$v" ] || { echo "rabbitmq-definitions.sh: $1 is not set" >&2; exit 1; }
    case "$v" in *[!A-Za-z0-9_.-]*) echo "rabbitmq-definitions.sh: $1 holds characters other than letters, digits, '.', '-' and '_'" >&2; exit 1;; esac
    printf '%s' "$v"
}

vhost="${RABBITMQ_VHOST:-/}"
admin="$(need RABBITMQ_ADMIN_USER)"; admin_pw="$(need RABBITMQ_ADMIN_PASSWORD)"
coord="$(need RABBITMQ_COORDINATOR_USER)"; coord_pw="$(need RABBITMQ_COORDINATOR_PASSWORD)"
worker="$(need RABBITMQ_WORKER_USER)"; worker_pw="$(need RABBITMQ_WORKER_PASSWORD)"
keda_user=""; keda_permissions=""
if [ -n "${RABBITMQ_KEDA_USER:-}" ]; then
    keda="$(need RABBITMQ_KEDA_USER)"; keda_pw="$(need RABBITMQ_KEDA_PASSWORD)"
    keda_user=",
    {\"name\": \"$keda\", \"password\": \"$keda_pw\", \"tags\": [\"management\"]}"
    keda_permissions=",
    {\"user\": \"$keda\", \"vhost\": \"$vhost\", \"configure\": \"^\$\", \"write\": \"^\$\", \"read\": \"^\$\"}"
fi

# Names MassTransit uses here: message-type exchanges (Activations.Contracts.*), fault exchanges (MassTransit:Fault…),
# the replies' exchange (Activations.Contracts.Replies), the per-model question queue and exchange
# (capture-question-{fingerprint}), each job's results queue (question-results-{job id, 32 hex}),
# and each queue's _error / _skipped companions.
messages='Activations\\.Contracts\\..*|MassTransit:Fault.*'
questions='capture-question-[0-9a-f]+'
results='question-results-[0-9a-f]{32}'

cat <<JSON
{
  "users": [
    {"name": "$admin", "password": "$admin_pw", "tags": ["administrator"]},
    {"name": "$coord", "password": "$coord_pw", "tags": []},
    {"name": "$worker", "password": "$worker_pw", "tags": []}$keda_user
  ],
  "vhosts": [{"name": "$vhost"}],
  "permissions": [
    {"user": "$admin", "vhost": "$vhost", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "$coord", "vhost": "$vhost",
     "configure": "^($results(_error|_skipped)?|$questions(_error|_skipped)?|$messages)\$",
     "write": "^($results(_error|_skipped)?|$questions(_error|_skipped)?|$messages)\$",
     "read": "^($results|$questions|$messages)\$"},
    {"user": "$worker", "vhost": "$vhost",
     "configure": "^($questions(_error|_skipped)?|$messages)\$",
     "write": "^($questions(_error|_skipped)?|$messages)\$",
     "read": "^($questions|Activations\\\\.Contracts\\\\.Messages:CaptureQuestion)\$"}$keda_permissions
  ]
}
JSON
