# shellcheck shell=bash
# Shared settings and helpers for the private test servers (PostgreSQL 15 and RabbitMQ).
# Sourced by start-servers.sh, stop-servers.sh, restart-postgres.sh and restart-rabbitmq.sh.
# Nothing here touches the system PostgreSQL cluster or the system RabbitMQ node: both
# private instances live in their own state folder and listen on their own ports.

SERVERS_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SERVERS_SCRIPTS/../.." && pwd)"
STATE="${ACTIVATIONS_SERVERS_DIR:-$REPO/.ci-state/servers}"

PG_PORT="${ACTIVATIONS_PG_PORT:-55432}"
PG_BIN="${ACTIVATIONS_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_USER=activations
PG_PASSWORD=activations
PG_DATABASE=activations

RMQ_PORT="${ACTIVATIONS_RABBITMQ_PORT:-55672}"
RMQ_DIST_PORT="${ACTIVATIONS_RABBITMQ_DIST_PORT:-55673}"
RMQ_MGMT_PORT="${ACTIVATIONS_RABBITMQ_MANAGEMENT_PORT:-55674}"
RMQ_TLS_PORT="${ACTIVATIONS_RABBITMQ_TLS_PORT:-$((RMQ_PORT + 3))}"
RMQ_NODE="${ACTIVATIONS_RABBITMQ_NODENAME:-activations-test@localhost}"
RMQ_USER=activations
RMQ_PASSWORD=activations
# Call the real scripts, not Debian's /usr/sbin wrappers: those switch to the rabbitmq user,
# reset HOME (so the Erlang cookie differs from ours) and drop our environment.
RMQ_BIN="${ACTIVATIONS_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

log() { printf '[servers %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
ensure_packages() {
    local missing=()
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && command -v psql >/dev/null && command -v pg_isready >/dev/null \
        || missing+=(postgresql postgresql-client)
    [ -x "$RMQ_BIN/rabbitmq-server" ] && [ -x "$RMQ_BIN/rabbitmqctl" ] || missing+=(rabbitmq-server)
    command -v curl >/dev/null || missing+=(curl)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}) and not root, cannot apt-get install them"
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -q </dev/null || die "apt-get update failed or timed out"
    # Debian's packages may start a system cluster/node on install; we leave those alone
    # (they use 5432 and 5672/25672, we do not).
    timeout 900 apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null \
        || die "apt-get install ${missing[*]} failed or timed out"
    [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb still missing after install (not PostgreSQL 15?)"
    [ -x "$RMQ_BIN/rabbitmq-server" ] || die "$RMQ_BIN/rabbitmq-server still missing after install"
}

# ---------------------------------------------------------------- TLS
# A private CA (made here, once per state folder, valid 30 days) and a server certificate for "localhost" only
# (not 127.0.0.1: the TLS tests dial the IP to see a host-name mismatch refused). RabbitMQ listens for amqps on
# RMQ_TLS_PORT with it; PostgreSQL offers TLS on its port (ssl = on; clients choose, as with any server).
tls_dir() { echo "$STATE/tls"; }

tls_make() {
    local d; d="$(tls_dir)"
    command -v openssl >/dev/null || die "openssl is needed for the TLS test servers"
    if [ -s "$d/server.pem" ] && openssl x509 -checkend 86400 -noout -in "$d/server.pem" >/dev/null 2>&1; then
        return 0
    fi
    log "making a private CA and a server certificate for localhost in $d"
    rm -rf "$d"; mkdir -p "$d"
    (
        cd "$d"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Activations test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.pem >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1
        printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.pem >/dev/null 2>&1
        chmod 0644 ca.pem server.pem
    ) || die "openssl could not make the test certificates"
}

# ---------------------------------------------------------------- PostgreSQL
# PostgreSQL refuses to run as root, so its folder belongs to the postgres user. When the postgres
# user cannot reach the state folder (a clone under a private folder, such as one made by mktemp -d
# or under /root), the cluster lives under /var/tmp instead, keyed by the state path.
pg_dir() {
    if id postgres >/dev/null 2>&1 && mkdir -p "$STATE" && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
        echo "/var/tmp/activations-pg-$(printf '%s' "$STATE" | md5sum | cut -c1-12)"
    else
        echo "$STATE/postgres"
    fi
}

# From /, so a working folder the postgres user cannot enter draws no warnings.
pg_as() { runuser -u postgres -- env -C / "$@"; }

# Unix socket folder: inside the state folder, unless that path is too long for a socket
# name (sun_path holds 107 bytes), then a short folder under /tmp keyed by the state path.
pg_sock_dir() {
    local d; d="$(pg_dir)/run"
    if [ $(( ${#d} + ${#PG_PORT} + 10 )) -gt 100 ]; then
        d="/tmp/activations-pg-$(printf '%s' "$STATE" | md5sum | cut -c1-12)"
    fi
    echo "$d"
}

pg_running() {
    [ -f "$(pg_dir)/data/PG_VERSION" ] || return 1
    timeout 15 runuser -u postgres -- env -C / "$PG_BIN/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1
}

pg_ready() {
    timeout 5 pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DATABASE" </dev/null
}

pg_wait_ready() {
    local deadline=$((SECONDS + ${1:-60}))
    until pg_ready; do
        [ $SECONDS -lt $deadline ] || { tail -n 30 "$(pg_dir)/postgres.log" >&2 || true; die "PostgreSQL not ready on 127.0.0.1:$PG_PORT"; }
        sleep 0.3
    done
}

pg_init() {
    local dir; dir="$(pg_dir)"
    id postgres >/dev/null 2>&1 || die "user postgres does not exist (is the postgresql package installed?)"
    local sock; sock="$(pg_sock_dir)"
    mkdir -p "$dir" "$sock"
    chown postgres: "$dir" "$sock"
    chmod 0700 "$sock"
    pg_as test -w "$dir" || die "user postgres cannot write $dir (a parent folder is not traversable?)"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        log "initdb into $dir/data"
        rm -rf "$dir/data"
        timeout 120 runuser -u postgres -- env -C / "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 </dev/null \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        echo "include_if_exists = 'activations.conf'" >>"$dir/data/postgresql.conf"
        touch "$dir/data/.needs-bootstrap"
    fi
    # Rewritten on every start so a changed port or folder takes effect.
    cat >"$dir/data/activations.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$(pg_sock_dir)'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
password_encryption = scram-sha-256
log_min_messages = warning
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
CONF
    # PostgreSQL insists that its key belongs to it and nobody else can read it.
    install -o postgres -g postgres -m 0644 "$(tls_dir)/server.pem" "$dir/data/server.pem"
    install -o postgres -g postgres -m 0600 "$(tls_dir)/server.key" "$dir/data/server.key"
    chown postgres: "$dir/data/activations.conf"
}

pg_start() {
    local dir; dir="$(pg_dir)"
    if pg_running; then
        log "PostgreSQL already running ($dir/data)"
    else
        pg_init
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # pg_ctl detaches the postmaster (setsid, stdio to the log file), so nothing it
        # starts holds our caller's pipes.
        timeout 90 runuser -u postgres -- env -C / "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
            >/dev/null </dev/null || { tail -n 30 "$dir/postgres.log" >&2 || true; die "pg_ctl start failed"; }
    fi
    pg_wait_ready_socket
    if [ -f "$dir/data/.needs-bootstrap" ]; then
        log "creating role and database $PG_USER"
        timeout 30 runuser -u postgres -- env -C / psql -v ON_ERROR_STOP=1 -q -h "$(pg_sock_dir)" -p "$PG_PORT" -U postgres -d postgres </dev/null \
            -c "CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD'" \
            -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER" || die "bootstrap of role/database failed"
        rm -f "$dir/data/.needs-bootstrap"
    fi
    pg_wait_ready 60
}

# Readiness through the unix socket (needed before the role exists).
pg_wait_ready_socket() {
    local deadline=$((SECONDS + 60))
    until timeout 5 pg_isready -q -h "$(pg_sock_dir)" -p "$PG_PORT" </dev/null; do
        [ $SECONDS -lt $deadline ] || { tail -n 30 "$(pg_dir)/postgres.log" >&2 || true; die "PostgreSQL socket not ready"; }
        sleep 0.3
    done
}

pg_stop() {
    local dir; dir="$(pg_dir)"
    [ -f "$dir/data/PG_VERSION" ] || { log "PostgreSQL: no private cluster in $dir"; return 0; }
    if ! pg_running; then log "PostgreSQL not running"; return 0; fi
    local mode=fast
    [ "${1:-}" = kill ] && mode=immediate   # no shutdown checkpoint, clients cut off: a crash
    log "stopping PostgreSQL ($mode)"
    if ! timeout 45 runuser -u postgres -- env -C / "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null </dev/null; then
        log "fast stop failed, trying immediate"
        timeout 30 runuser -u postgres -- env -C / "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 20 stop >/dev/null </dev/null || true
        local pid; pid="$(head -n1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            log "killing postmaster $pid"; kill -9 "$pid" || true
        fi
    fi
}

# ---------------------------------------------------------------- RabbitMQ
rmq_dir() { echo "$STATE/rabbitmq"; }

rmq_env() {
    local dir; dir="$(rmq_dir)"
    export HOME="$dir/home"                         # the Erlang cookie lives here, for node and CLI alike
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_USE_LONGNAME=false
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$RMQ_PORT"
    export RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"   # not /etc/rabbitmq/rabbitmq-env.conf
    export RABBITMQ_GENERATED_CONFIG_DIR="$dir/config"
    export RABBITMQ_SCHEMA_DIR="$dir/schema"
    export RABBITMQ_PLUGINS_EXPAND_DIR="$dir/plugins-expand"
    # Keep the CLI's own distribution ports next to ours rather than at DIST_PORT+10000.
    export RABBITMQ_CTL_DIST_PORT_MIN=$((RMQ_DIST_PORT + 100))
    export RABBITMQ_CTL_DIST_PORT_MAX=$((RMQ_DIST_PORT + 150))
}

rmqctl() { timeout "${RMQ_CTL_TIMEOUT:-60}" "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@" </dev/null; }

rmq_pid() { cat "$(rmq_dir)/rabbitmq.pid" 2>/dev/null || true; }

# Running = the Erlang VM answers; cheap check first (the pid file), then ask the node.
rmq_running() {
    local pid; pid="$(rmq_pid)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    RMQ_CTL_TIMEOUT=30 rmqctl status >/dev/null 2>&1
}

rmq_prepare() {
    local dir; dir="$(rmq_dir)"
    mkdir -p "$dir/home" "$dir/mnesia" "$dir/log" "$dir/config" "$dir/schema"
    if [ ! -s "$dir/home/.erlang.cookie" ]; then
        (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$dir/home/.erlang.cookie")
    fi
    chmod 0400 "$dir/home/.erlang.cookie"
    : >"$dir/rabbitmq-env.conf"
    echo '[rabbitmq_management].' >"$dir/enabled_plugins"
    # Erlang distribution on loopback only (the default listens on all interfaces).
    echo '[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].' >"$dir/advanced.config"
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RMQ_PORT
management.tcp.port = $RMQ_MGMT_PORT
management.tcp.ip = 127.0.0.1
listeners.ssl.default = 127.0.0.1:$RMQ_TLS_PORT
ssl_options.cacertfile = $(tls_dir)/ca.pem
ssl_options.certfile = $(tls_dir)/server.pem
ssl_options.keyfile = $(tls_dir)/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
# The first boot creates this user instead of guest.
default_user = $RMQ_USER
default_pass = $RMQ_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users.guest = true
log.console = false
log.file.level = info
disk_free_limit.absolute = 50MB
CONF
}

rmq_start() {
    local dir; dir="$(rmq_dir)"
    rmq_env
    if rmq_running; then
        log "RabbitMQ node $RMQ_NODE already running"
    else
        rmq_prepare
        local pid; pid="$(rmq_pid)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            log "stale RabbitMQ VM $pid does not answer, killing it"; kill -9 "$pid" || true; sleep 1
        fi
        rm -f "$dir/rabbitmq.pid"
        log "starting RabbitMQ node $RMQ_NODE on 127.0.0.1:$RMQ_PORT (management $RMQ_MGMT_PORT, dist $RMQ_DIST_PORT)"
        # Own session, all stdio to files: the node must outlive whoever called us
        # (a test process) and must not hold that caller's pipes open.
        setsid nohup "$RMQ_BIN/rabbitmq-server" </dev/null >>"$dir/log/console.log" 2>&1 &
        local starter=$!
        disown "$starter" 2>/dev/null || true
        # Wait for the pid file, then for the node to boot, then for it to answer.
        local deadline=$((SECONDS + 120))
        until [ -s "$dir/rabbitmq.pid" ]; do
            kill -0 "$starter" 2>/dev/null || { tail -n 40 "$dir/log/console.log" >&2; die "rabbitmq-server exited during start"; }
            [ $SECONDS -lt $deadline ] || die "RabbitMQ wrote no pid file"
            sleep 0.3
        done
        RMQ_CTL_TIMEOUT=$((deadline - SECONDS > 10 ? deadline - SECONDS : 10)) \
            rmqctl wait --timeout 100 "$dir/rabbitmq.pid" >/dev/null 2>&1 \
            || { tail -n 40 "$dir/log/console.log" >&2; die "RabbitMQ did not start (see $dir/log)"; }
        rmqctl await_startup --timeout 60 >/dev/null || die "RabbitMQ await_startup failed"
    fi
    # Idempotent; also covers an old mnesia that predates default_user.
    if ! rmqctl list_users --silent 2>/dev/null | awk '{print $1}' | grep -qx "$RMQ_USER"; then
        rmqctl add_user "$RMQ_USER" "$RMQ_PASSWORD" >/dev/null
        rmqctl set_user_tags "$RMQ_USER" administrator >/dev/null
        rmqctl set_permissions -p / "$RMQ_USER" '.*' '.*' '.*' >/dev/null
    fi
    rmq_wait_amqp 60
    rmq_wait_management 60
}

rmq_wait_amqp() {
    local deadline=$((SECONDS + ${1:-60}))
    until timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RMQ_PORT" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "RabbitMQ AMQP port $RMQ_PORT not open"
        sleep 0.3
    done
}

rmq_wait_management() {
    local deadline=$((SECONDS + ${1:-60}))
    until timeout 5 curl -fsS -o /dev/null -u "$RMQ_USER:$RMQ_PASSWORD" "http://127.0.0.1:$RMQ_MGMT_PORT/api/overview" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "RabbitMQ management API on $RMQ_MGMT_PORT not answering"
        sleep 0.5
    done
}

rmq_stop() {
    local dir; dir="$(rmq_dir)"
    rmq_env
    local pid; pid="$(rmq_pid)"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then log "RabbitMQ not running"; rm -f "$dir/rabbitmq.pid"; return 0; fi
    if [ "${1:-}" = kill ]; then
        log "killing RabbitMQ node $RMQ_NODE (pid $pid, SIGKILL: a crash)"
        kill -9 "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        rm -f "$dir/rabbitmq.pid"
        return 0
    fi
    log "stopping RabbitMQ node $RMQ_NODE (pid $pid)"
    # 'stop <pidfile>' returns once the VM has exited (a clean stop takes ~7 s: the
    # management plugin waits 5 s for its statistics collector).
    if ! RMQ_CTL_TIMEOUT=60 rmqctl stop "$dir/rabbitmq.pid" >/dev/null 2>&1; then
        log "rabbitmqctl stop failed; terminating VM $pid"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
        kill -0 "$pid" 2>/dev/null && { log "killing VM $pid"; kill -9 "$pid" || true; }
    fi
    rm -f "$dir/rabbitmq.pid"
}

# ---------------------------------------------------------------- env file
write_env() {
    local f="$STATE/env"
    cat >"$f" <<ENV
# Written by tests/servers/start-servers.sh; source it.
export ACTIVATIONS_SERVERS_DIR="$STATE"
export ACTIVATIONS_PG_PORT=$PG_PORT
export ACTIVATIONS_RABBITMQ_PORT=$RMQ_PORT
export ACTIVATIONS_RABBITMQ_DIST_PORT=$RMQ_DIST_PORT
export ACTIVATIONS_RABBITMQ_MANAGEMENT_PORT=$RMQ_MGMT_PORT
export ACTIVATIONS_RABBITMQ_NODENAME=$RMQ_NODE
export ACTIVATIONS_TEST_RABBITMQ=amqp://$RMQ_USER:$RMQ_PASSWORD@127.0.0.1:$RMQ_PORT/
export ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT=http://127.0.0.1:$RMQ_MGMT_PORT
export ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_USER=$RMQ_USER
export ACTIVATIONS_TEST_RABBITMQ_MANAGEMENT_PASSWORD=$RMQ_PASSWORD
# Plain (SSL Mode=Disable): the server offers TLS for the TLS tests, the other tests keep the unencrypted path they had.
export ACTIVATIONS_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$PG_DATABASE;SSL Mode=Disable"
# TLS: amqps on its own port and PostgreSQL with VerifyFull, both trusting only the private CA (tests/servers/common.sh tls_make).
export ACTIVATIONS_TEST_TLS_CA="$(tls_dir)/ca.pem"
export ACTIVATIONS_TEST_RABBITMQ_TLS=amqps://$RMQ_USER:$RMQ_PASSWORD@localhost:$RMQ_TLS_PORT/
export ACTIVATIONS_TEST_POSTGRES_TLS="Host=localhost;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$PG_DATABASE;SSL Mode=VerifyFull;Root Certificate=$(tls_dir)/ca.pem"
# Fault tests run these: "<script> [--kill] [seconds-down]" (clean stop, or SIGKILL/immediate
# with --kill; stay down that long; start; return once the server answers again).
export ACTIVATIONS_TEST_RESTART_RABBITMQ="$SERVERS_SCRIPTS/restart-rabbitmq.sh"
export ACTIVATIONS_TEST_RESTART_POSTGRES="$SERVERS_SCRIPTS/restart-postgres.sh"
ENV
    echo "$f"
}
