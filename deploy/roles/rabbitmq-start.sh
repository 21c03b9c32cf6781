#!/bin/sh
# The broker's entrypoint in compose and in overlays/self-contained: writes the role definitions from the environment
# (rabbitmq-definitions.sh) into /tmp (a tmpfs / emptyDir; the root filesystem is read-only) and starts RabbitMQ,
# which imports them at boot (rabbitmq.conf: load_definitions). No default administrator is created.
set -eu
umask 077
mkdir -p /tmp/rabbitmq
sh "$(dirname "$0")/rabbitmq-definitions.sh" >/tmp/rabbitmq/definitions.json
exec docker-entrypoint.sh rabbitmq-server
