#!/usr/bin/env bash
#
# scripts/demo.sh — a long-running demo cluster (`make demo`, `make demo-stop`).
#
#   bash scripts/demo.sh start    deps, build, install, then (re)create the
#                                 cluster, database `demo` with pg_affiliate
#                                 and demo/demo.sql loaded if it exists
#   bash scripts/demo.sh stop     stop the cluster and remove its directory
#   bash scripts/demo.sh status   say whether it runs and how to connect
#
# Settings (environment):
#   PG_AFFILIATE_DEMO_DIR    default /tmp/pg_affiliate_demo
#                            (socket dir; data in ./data, log in ./server.log)
#   PG_AFFILIATE_DEMO_PORT   default 54329 (unix socket and localhost TCP)
#
# Authentication is `trust` for the unix socket and localhost only: this is a
# demo, not a deployment.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"
EXT=$(pgc_extension_name "$ROOT")

DEMO_DIR=${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}
DEMO_PORT=${PG_AFFILIATE_DEMO_PORT:-54329}
DB=demo

die() { pgc_err "$*"; exit 1; }

# Normalise the directory to an absolute path without a trailing slash.
case "$DEMO_DIR" in
    /*) ;;
    *) DEMO_DIR="$PWD/$DEMO_DIR" ;;
esac
DEMO_DIR=${DEMO_DIR%/}
DATADIR="$DEMO_DIR/data"
LOGFILE="$DEMO_DIR/server.log"
MARKER="$DEMO_DIR/.pg_affiliate_demo"   # proves the directory is ours to wipe
if [ -z "$DEMO_DIR" ] || [ "$DEMO_DIR" = / ]; then
    die "refusing to use / as the demo directory"
fi
case "$DEMO_PORT" in
    ''|*[!0-9]*) die "PG_AFFILIATE_DEMO_PORT must be a number (got '$DEMO_PORT')" ;;
esac

print_connect() {
    local user
    user=$(pgc_superuser)
    echo "Connect with:"
    echo "  psql -h $DEMO_DIR -p $DEMO_PORT -U $user $DB"
    echo "  psql -h localhost -p $DEMO_PORT -U $user $DB        # TCP"
    echo "Server log: $LOGFILE"
    echo "Stop with:  make demo-stop   (or: bash scripts/demo.sh stop)"
}

# Stops the demo server (if running) and removes the demo directory, but only
# if the directory is one this script created.
demo_stop() {
    if [ ! -e "$DEMO_DIR" ]; then
        pgc_log "no demo at $DEMO_DIR"
        return 0
    fi
    if [ ! -f "$MARKER" ]; then
        die "$DEMO_DIR exists but was not created by scripts/demo.sh; not touching it"
    fi
    if [ -d "$DATADIR" ]; then
        pgc_stop "$DATADIR" || die "could not stop the demo server in $DATADIR"
    fi
    rm -rf "$DEMO_DIR"
    pgc_log "demo stopped and $DEMO_DIR removed"
}

demo_start() {
    bash "$ROOT/scripts/install-deps.sh"
    pgc_build_install "$ROOT"

    # A running (or left-over) demo is replaced by a fresh one.
    if [ -e "$DEMO_DIR" ]; then
        pgc_log "replacing the existing demo in $DEMO_DIR"
        demo_stop
    fi

    if pgc_port_in_use "$DEMO_PORT" || pgc_tcp_port_in_use "$DEMO_PORT"; then
        die "port $DEMO_PORT is already in use; choose another with PG_AFFILIATE_DEMO_PORT=..."
    fi

    # The directory holds the socket and the log, so the server user must be
    # able to write to it; initdb creates ./data itself (owned by that user).
    mkdir -p "$DEMO_DIR"
    touch "$MARKER"
    chmod 0755 "$DEMO_DIR"
    pgc_give_to_server "$DEMO_DIR"

    # On any failure from here on, do not leave a half-built demo running
    # (see on_exit).
    STARTING=1

    pgc_create "$DATADIR" "$DEMO_DIR" "$DEMO_PORT" "localhost" \
        "cron.database_name = '$DB'"
    pgc_start "$DATADIR" "$LOGFILE"
    pgc_export_env "$DEMO_DIR" "$DEMO_PORT"

    pgc_log "creating database $DB with $EXT"
    pgc_psql -d postgres -c "CREATE DATABASE $DB"
    pgc_psql -d "$DB" -c "CREATE EXTENSION \"$EXT\" CASCADE"

    if [ -f "$ROOT/demo/demo.sql" ]; then
        pgc_log "loading demo/demo.sql"
        (cd "$ROOT" && pgc_psql -d "$DB" -f demo/demo.sql)
    else
        pgc_log "no demo/demo.sql; the database has the extension only"
    fi
    STARTING=0

    echo
    pgc_log "demo running on port $DEMO_PORT"
    print_connect
}

demo_status() {
    if [ -d "$DATADIR" ] && pgc_running "$DATADIR"; then
        pgc_log "demo running in $DEMO_DIR on port $DEMO_PORT"
        print_connect
    else
        pgc_log "demo not running ($DEMO_DIR)"
        return 3
    fi
}

# If `start` dies half way (set -e), stop and remove what it created.
STARTING=0
on_exit() {
    local rc=$?
    if [ "$STARTING" = 1 ]; then
        STARTING=0
        pgc_err "demo start failed; cleaning up (server log was: $LOGFILE)"
        [ -f "$LOGFILE" ] && tail -n 20 "$LOGFILE" >&2
        demo_stop >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "${1:-}" in
    start) demo_start ;;
    stop) demo_stop ;;
    status) demo_status ;;
    *)
        echo "usage: bash scripts/demo.sh start|stop|status" >&2
        exit 2
        ;;
esac
