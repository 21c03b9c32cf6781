#!/bin/sh
# Makes the credentials a deployment needs, each a fresh random password (letters and digits, 32 characters), one per
# role, into files git ignores. Never overwrites a file that exists (delete it to rotate).
#
#   deploy/generate-secrets.sh compose [FILE]   deploy/.env (or FILE) from deploy/.env.example, every *_PASSWORD filled in
#   deploy/generate-secrets.sh k8s         deploy/k8s/overlays/self-contained/secrets/*.env (the self-contained overlay)
#
# For your own broker and database, write the base's secrets yourself (docs/security.md lists what each role needs).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"

random() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-32; }

write() { # file, then the content on stdin; a file that exists is kept
    if [ -e "$1" ]; then echo "kept $1"; cat >/dev/null; return 0; fi
    (umask 077; cat >"$1")
    echo "wrote $1"
}

case "${1:-}" in
compose)
    src="$here/.env.example"
    awk -v seed="$(random)$(random)$(random)$(random)$(random)$(random)" '
        BEGIN { n = 0 }
        /^[A-Z_]*_PASSWORD=/ { split($0, kv, "="); print kv[1] "=" substr(seed, 1 + 32 * n++, 32); next }
        { print }' "$src" | write "${2:-$here/.env}"
    ;;
k8s)
    dir="$here/k8s/overlays/self-contained/secrets"
    mkdir -p "$dir"
    admin=$(random); coordinator=$(random); worker=$(random); keda=$(random); pg=$(random); app=$(random)
    write "$dir/rabbitmq.env" <<ENV
RABBITMQ_ADMIN_USER=admin
RABBITMQ_ADMIN_PASSWORD=$admin
RABBITMQ_COORDINATOR_USER=coordinator
RABBITMQ_COORDINATOR_PASSWORD=$coordinator
RABBITMQ_WORKER_USER=worker
RABBITMQ_WORKER_PASSWORD=$worker
RABBITMQ_KEDA_USER=keda
RABBITMQ_KEDA_PASSWORD=$keda
ENV
    write "$dir/postgres.env" <<ENV
POSTGRES_USER=postgres
POSTGRES_PASSWORD=$pg
POSTGRES_DB=activations
APP_DB_USER=activations_app
APP_DB_PASSWORD=$app
ENV
    write "$dir/coordinator.env" <<ENV
ACTIVATIONS_RABBITMQ=amqp://coordinator:$coordinator@rabbitmq:5672/
ACTIVATIONS_POSTGRES=Host=postgres;Port=5432;Database=activations;Username=activations_app;Password=$app
HF_TOKEN=
ENV
    write "$dir/worker.env" <<ENV
ACTIVATIONS_RABBITMQ=amqp://worker:$worker@rabbitmq:5672/
HF_TOKEN=
ENV
    write "$dir/keda.env" <<ENV
host=http://keda:$keda@rabbitmq.activations.svc:15672/
ENV
    ;;
*)
    echo "usage: $0 compose|k8s" >&2
    exit 2
    ;;
esac
