# shellcheck shell=bash
#
# scripts/cluster.sh — shared helpers for test/run.sh and scripts/demo.sh.
#
# Source it; do not execute it.  Every function is prefixed `pgc_` and
# reports errors on stderr and through its return status (it never calls
# `exit`, so callers keep control of their cleanup).
#
# Privilege model
#   * Run as root: PostgreSQL refuses to run as root, so initdb, pg_ctl and
#     the server run as the `postgres` OS user (via `runuser -u postgres --`),
#     the data directory is owned by postgres and the bootstrap superuser is
#     `postgres` (initdb -U postgres).
#   * Run as anyone else: everything runs as the current user and the
#     bootstrap superuser is that user's name.
#   Clients (psql, pg_regress, pg_prove, drivers) always run as the invoking
#   user and connect through the unix socket with PGHOST/PGPORT/PGUSER, which
#   pgc_export_env sets.

# Port range searched by pgc_free_port.
PGC_PORT_FIRST=${PGC_PORT_FIRST:-55432}
PGC_PORT_TRIES=${PGC_PORT_TRIES:-200}

pgc_log() { printf '==> %s\n' "$*"; }
pgc_err() { printf 'error: %s\n' "$*" >&2; }

# True when the script runs as root.
pgc_is_root() { [ "$(id -u)" -eq 0 ]; }

# The OS user that owns and runs the server.
pgc_server_user() {
    if pgc_is_root; then echo postgres; else id -un; fi
}

# The database superuser created by initdb (same name as the server user).
pgc_superuser() { pgc_server_user; }

# Prints the directory holding initdb, pg_ctl, psql, ... (pg_config --bindir).
pgc_bindir() {
    local pgc=${PG_CONFIG:-pg_config}
    if ! command -v "$pgc" >/dev/null 2>&1; then
        pgc_err "pg_config not found (run: make deps)"
        return 1
    fi
    local dir
    dir=$("$pgc" --bindir) || return 1
    if [ ! -x "$dir/initdb" ] || [ ! -x "$dir/pg_ctl" ]; then
        pgc_err "no initdb/pg_ctl in $dir (is the postgresql server package installed?)"
        return 1
    fi
    echo "$dir"
}

# Runs a command as the server user.  Under root that is `runuser -u postgres`;
# the command runs from / so that a cwd postgres cannot read (e.g. /root)
# does not upset initdb or the postmaster.
pgc_as_server() {
    if pgc_is_root; then
        if ! id postgres >/dev/null 2>&1; then
            pgc_err "running as root but there is no 'postgres' OS user (install postgresql-<major>)"
            return 1
        fi
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Makes a directory usable by the server user (socket dir, log dir, the
# parent of the data directory).  A no-op when not root.
pgc_give_to_server() {
    if pgc_is_root; then
        chown postgres: "$@" || return 1
    fi
}

# pgc_port_in_use PORT [SOCKDIR...]
# True if some server already has a unix socket for PORT in one of SOCKDIRs,
# /var/run/postgresql or /tmp (a lock file counts too).
pgc_port_in_use() {
    local port=$1 dir
    shift
    for dir in "$@" /var/run/postgresql /tmp; do
        [ -n "$dir" ] || continue
        if [ -e "$dir/.s.PGSQL.$port" ] || [ -e "$dir/.s.PGSQL.$port.lock" ]; then
            return 0
        fi
    done
    return 1
}

# pgc_tcp_port_in_use PORT — true if something listens on localhost:PORT.
# Only relevant for clusters that listen on TCP (the demo).
pgc_tcp_port_in_use() {
    local port=$1
    # A successful connect means the port is taken.  Run in a subshell so the
    # file descriptor is closed again straight away.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# pgc_free_port SOCKDIR... — prints the first port from PGC_PORT_FIRST up
# that has no socket in any SOCKDIR (nor in /var/run/postgresql, /tmp).
pgc_free_port() {
    local port i
    for ((i = 0; i < PGC_PORT_TRIES; i++)); do
        port=$((PGC_PORT_FIRST + i))
        if ! pgc_port_in_use "$port" "$@"; then
            echo "$port"
            return 0
        fi
    done
    pgc_err "no free port in $PGC_PORT_FIRST..$((PGC_PORT_FIRST + PGC_PORT_TRIES - 1))"
    return 1
}

# Prints the locale for initdb: C.UTF-8 when the system has it (byte-order
# collation, UTF-8 ctype, deterministic everywhere), else plain C.
pgc_locale() {
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
        echo C.UTF-8
    else
        echo C
    fi
}

# pgc_create DATADIR SOCKDIR PORT LISTEN [SETTING...]
# Runs initdb in DATADIR (which must not exist yet; its parent must be
# writable by the server user) and appends the common configuration plus any
# extra `name = value` SETTINGs to postgresql.conf.  LISTEN is the value for
# listen_addresses ('' = unix socket only).
pgc_create() {
    local datadir=$1 sockdir=$2 port=$3 listen=$4
    shift 4
    local bindir user
    bindir=$(pgc_bindir) || return 1
    user=$(pgc_superuser)

    if [ -e "$datadir" ]; then
        pgc_err "data directory $datadir already exists"
        return 1
    fi
    # The socket path must fit in sun_path (107 bytes).
    if [ $((${#sockdir} + 20)) -gt 107 ]; then
        pgc_err "socket directory path too long for a unix socket: $sockdir"
        return 1
    fi

    pgc_log "initdb $datadir (superuser $user)"
    if ! pgc_as_server "$bindir/initdb" -D "$datadir" -U "$user" \
            --auth=trust --encoding=UTF8 --locale="$(pgc_locale)" \
            --no-instructions >"$datadir.initdb.log" 2>&1; then
        cat "$datadir.initdb.log" >&2
        pgc_err "initdb failed"
        return 1
    fi
    rm -f "$datadir.initdb.log"

    # Appending keeps the file's owner (postgres) even when root writes it.
    {
        echo ""
        echo "# ---- added by scripts/cluster.sh ----"
        echo "port = $port"
        echo "listen_addresses = '$listen'"
        echo "unix_socket_directories = '$sockdir'"
        echo "shared_preload_libraries = 'pg_cron'"
        # pg_cron runs jobs over libpq; with no TCP listener it must use the socket.
        echo "cron.host = '$sockdir'"
        echo "max_prepared_transactions = 10"
        echo "log_min_messages = warning"
        echo "lc_messages = 'C'"
        local s
        for s in "$@"; do
            echo "$s"
        done
    } >>"$datadir/postgresql.conf" || return 1
}

# pgc_start DATADIR LOGFILE — starts the server and waits until it accepts
# connections.  LOGFILE must be writable by the server user.
pgc_start() {
    local datadir=$1 logfile=$2 bindir
    bindir=$(pgc_bindir) || return 1
    pgc_log "starting server (log: $logfile)"
    if ! pgc_as_server "$bindir/pg_ctl" -D "$datadir" -l "$logfile" -w -t 60 start >/dev/null; then
        pgc_err "server failed to start; last lines of $logfile:"
        tail -n 30 "$logfile" >&2 2>/dev/null || true
        return 1
    fi
}

# pgc_running DATADIR — true if a server runs on DATADIR.
pgc_running() {
    local datadir=$1 bindir
    [ -f "$datadir/postmaster.pid" ] || return 1
    bindir=$(pgc_bindir) || return 1
    pgc_as_server "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1
}

# pgc_stop DATADIR — fast shutdown, falling back to immediate.  Succeeds
# if nothing was running.
pgc_stop() {
    local datadir=$1 bindir
    pgc_running "$datadir" || return 0
    bindir=$(pgc_bindir) || return 1
    pgc_log "stopping server ($datadir)"
    if pgc_as_server "$bindir/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >/dev/null 2>&1; then
        return 0
    fi
    pgc_err "fast shutdown failed; trying immediate"
    pgc_as_server "$bindir/pg_ctl" -D "$datadir" -m immediate -w -t 60 stop >/dev/null 2>&1
}

# pgc_export_env SOCKDIR PORT — points libpq clients at the cluster and
# clears variables that would send them elsewhere.  Also puts the cluster's
# bindir first in PATH so psql matches the server.
pgc_export_env() {
    local bindir
    bindir=$(pgc_bindir) || return 1
    export PGHOST=$1 PGPORT=$2
    PGUSER=$(pgc_superuser)
    export PGUSER
    unset PGHOSTADDR PGSERVICE PGDATABASE PGPASSWORD PGSSLMODE PGTARGETSESSIONATTRS
    case ":$PATH:" in
        *":$bindir:"*) ;;
        *) export PATH="$bindir:$PATH" ;;
    esac
}

# pgc_psql [psql args...] — psql with no psqlrc, stopping on the first error.
pgc_psql() {
    psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# pgc_extension_name REPO_ROOT — the extension's name: the basename of the
# single *.control file in REPO_ROOT (pg_affiliate here).
pgc_extension_name() {
    local f
    for f in "$1"/*.control; do
        if [ -f "$f" ]; then
            basename "$f" .control
            return 0
        fi
    done
    echo pg_affiliate
}

# pgc_build_install REPO_ROOT — `make` then `make install` (install with
# sudo when not root and the PostgreSQL directories are not writable).
pgc_build_install() {
    local root=$1 pgc
    pgc=$(command -v "${PG_CONFIG:-pg_config}") || {
        pgc_err "pg_config not found (run: make deps)"
        return 1
    }
    pgc_log "building (make)"
    if ! make -C "$root" PG_CONFIG="$pgc"; then
        pgc_err "build failed"
        return 1
    fi
    pgc_log "installing (make install)"
    local -a sudo=()
    if ! pgc_is_root; then
        if [ ! -w "$("$pgc" --pkglibdir)" ] || [ ! -w "$("$pgc" --sharedir)/extension" ]; then
            if ! command -v sudo >/dev/null 2>&1; then
                pgc_err "make install needs root and sudo is not installed"
                return 1
            fi
            sudo=(sudo)
        fi
    fi
    if ! "${sudo[@]}" make -C "$root" PG_CONFIG="$pgc" install; then
        pgc_err "make install failed"
        return 1
    fi
}
