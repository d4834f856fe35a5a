#!/usr/bin/env bash
#
# test/run.sh — what `make test` runs.
#
#   bash test/run.sh [regress] [isolation] [pgtap] [drivers]
#
# 1. installs missing packages (scripts/install-deps.sh),
# 2. builds and installs the extension (make, make install),
# 3. starts a throwaway cluster in a temp directory (unix socket only,
#    pg_cron preloaded, fsync off),
# 4. runs the suites named on the command line (default: all of them):
#      regress    pg_regress:  test/sql/*.sql       vs test/expected/*.out
#      isolation  isolation:   test/specs/*.spec    vs test/expected/*.out
#      pgtap      pg_prove:    test/pgtap/*.sql     in database pgtap_tests
#      drivers    scripts:     test/drivers/*.sh    each in its own database
# 5. stops the cluster, removes the temp directory and prints as its last
#    line `N passed, N failed`.  Exit status 1 if anything failed or no test
#    ran at all.
#
# TEST_KEEP=1 leaves the cluster running and prints how to connect to it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"
EXT=$(pgc_extension_name "$ROOT")

usage() {
    echo "usage: bash test/run.sh [regress] [isolation] [pgtap] [drivers]" >&2
    exit 2
}

# ---- which suites ---------------------------------------------------------
ALL_SUITES=(regress isolation pgtap drivers)
declare -A WANT=()
if [ "$#" -eq 0 ]; then
    for s in "${ALL_SUITES[@]}"; do WANT[$s]=1; done
else
    for s in "$@"; do
        case "$s" in
            regress|isolation|pgtap|drivers) WANT[$s]=1 ;;
            -h|--help) usage ;;
            *) echo "unknown suite: $s" >&2; usage ;;
        esac
    done
fi
want() { [ -n "${WANT[$1]:-}" ]; }

PASS=0
FAIL=0
LAST_BAD=0
TMP=""
DATADIR=""
STARTED=""

# ---- cleanup: always stop the cluster and remove the temp dir -------------
cleanup() {
    set +e
    if [ -n "$STARTED" ] && [ "${TEST_KEEP:-0}" = 1 ]; then
        echo
        echo "TEST_KEEP=1: cluster left running in $TMP"
        echo "  connect:  psql -h $TMP -p $PGPORT -U $PGUSER contrib_regression"
        echo "  env:      export PGHOST=$TMP PGPORT=$PGPORT PGUSER=$PGUSER"
        echo "  log:      $TMP/server.log"
        echo "  stop:     ${PGC_AS_SERVER_HINT}$(pgc_bindir)/pg_ctl -D $DATADIR -m fast stop && rm -rf $TMP"
        echo "  (pg_cron stays attached to contrib_regression; to re-run pg_regress here use"
        echo "   DROP DATABASE contrib_regression WITH (FORCE) — or simply run test/run.sh again)"
    else
        if [ -n "$DATADIR" ] && [ -d "$DATADIR" ]; then
            pgc_stop "$DATADIR"
        fi
        if [ -n "$TMP" ] && [ -d "$TMP" ]; then
            rm -rf "$TMP"
        fi
    fi
    STARTED=""
    DATADIR=""
    TMP=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if pgc_is_root; then PGC_AS_SERVER_HINT="runuser -u postgres -- "; else PGC_AS_SERVER_HINT=""; fi

section() { printf '\n========== %s ==========\n' "$*"; }

# ---- 1-2. dependencies, build, install -------------------------------------
section "dependencies"
bash "$ROOT/scripts/install-deps.sh"

section "build"
pgc_build_install "$ROOT"

# ---- 3. throwaway cluster -------------------------------------------------
section "cluster"
# /tmp rather than $TMPDIR: the socket path must stay short and, under root,
# the postgres user must be able to reach it.
TMP=$(mktemp -d /tmp/pg_affiliate_test.XXXXXX)
chmod 0755 "$TMP"
pgc_give_to_server "$TMP"
DATADIR="$TMP/data"
# Also avoid ports of other test clusters (e.g. kept with TEST_KEEP=1) and
# of the demo, so a port number alone never names two clusters.
PORT=$(pgc_free_port "$TMP" /tmp/pg_affiliate_test.* "${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}")
pgc_create "$DATADIR" "$TMP" "$PORT" "" \
    "cron.database_name = 'contrib_regression'" \
    "fsync = off" \
    "timezone = 'UTC'"
pgc_start "$DATADIR" "$TMP/server.log"
pgc_export_env "$TMP" "$PORT"
STARTED=1
pgc_log "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER"

# ---- helpers for the suites -----------------------------------------------

# count_pg_regress LOGFILE — adds pg_regress/pg_isolation_regress results in
# LOGFILE to PASS/FAIL and sets LAST_BAD to the number of failures found.
#   PG <= 15:  "test name   ... ok   12 ms" / "     name ... FAILED   3 ms"
#              ("failed (ignored)" for ignored tests)
#   PG >= 16:  "ok 1   - name   12 ms" / "not ok 2  - name   3 ms"
count_pg_regress() {
    local log=$1 ok bad
    ok=$(grep -Ec '\.\.\. +ok( |$)|^ok [0-9]+' "$log" || true)
    bad=$(grep -Ec '\.\.\. +(FAILED|failed)|^not ok [0-9]+' "$log" || true)
    PASS=$((PASS + ok))
    FAIL=$((FAIL + bad))
    LAST_BAD=$bad
}

# createdb_with_ext DBNAME [EXT...] — (re)creates DBNAME and installs EXTs.
createdb_with_ext() {
    local db=$1 ext
    shift
    pgc_psql -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$db\"" &&
        pgc_psql -d postgres -c "CREATE DATABASE \"$db\"" || return 1
    for ext in "$@"; do
        pgc_psql -d "$db" -c "CREATE EXTENSION \"$ext\" CASCADE" || return 1
    done
}

# pgtap_file_ok FILE LOGFILE — true if pg_prove's LOGFILE has the line
# "FILE .. ok" (or "FILE .. skipped: ..."), compared literally.  When the
# file printed diagnostics (e.g. of a failing TODO test), pg_prove prints
# "FILE .. ", the "# ..." lines, and then the verdict on a line of its own.
pgtap_file_ok() {
    awk -v f="$1" '
        !after && substr($0, 1, length(f) + 1) == f " " {
            rest = substr($0, length(f) + 2)
            if (rest ~ /^\.+ (ok|skipped)/) { found = 1; exit }
            if (rest ~ /^\.+ *$/) after = 1
            next
        }
        after && /^#/ { next }
        after { if ($0 ~ /^(ok|skipped)/) found = 1; exit }
        END { exit !found }' "$2"
}

# run_installcheck LABEL DIFFS MAKE_OVERRIDE — one `make installcheck` run.
run_installcheck() {
    local label=$1 diffs=$2 override=$3 log rc=0 bad
    log="$TMP/$label.log"
    make -C "$ROOT" installcheck "$override" PG_CONFIG="$(command -v "${PG_CONFIG:-pg_config}")" \
        </dev/null 2>&1 | tee "$log" || rc=$?
    count_pg_regress "$log"
    bad=$LAST_BAD
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "make installcheck ($label) exited with status $rc but no failed test was reported; counting 1 failure"
        FAIL=$((FAIL + 1))
        bad=1
    fi
    if [ "$bad" -gt 0 ] && [ -s "$ROOT/$diffs" ]; then
        echo
        echo "---------- $diffs ----------"
        cat "$ROOT/$diffs"
        echo "---------- end of $diffs ----------"
    fi
}

shopt -s nullglob

# ---- 4a. pg_regress -------------------------------------------------------
if want regress; then
    section "regress (pg_regress)"
    regress_files=(test/sql/*.sql)
    if [ "${#regress_files[@]}" -eq 0 ]; then
        echo "no test/sql/*.sql; skipping"
    else
        # ISOLATION= on the command line empties the list: regress only.
        run_installcheck regress regression.diffs "ISOLATION="
    fi
fi

# ---- 4b. isolation --------------------------------------------------------
if want isolation; then
    section "isolation (pg_isolation_regress)"
    specs=(test/specs/*.spec)
    if [ "${#specs[@]}" -eq 0 ]; then
        echo "no test/specs/*.spec; skipping"
    else
        # REGRESS= on the command line empties the list: isolation only.
        run_installcheck isolation output_iso/regression.diffs "REGRESS="
    fi
fi

# ---- 4c. pgTAP ------------------------------------------------------------
if want pgtap; then
    section "pgTAP (pg_prove)"
    tap_files=(test/pgtap/*.sql)
    if [ "${#tap_files[@]}" -eq 0 ]; then
        echo "no test/pgtap/*.sql; skipping"
    elif ! createdb_with_ext pgtap_tests pgtap "$EXT"; then
        echo "could not set up database pgtap_tests; counting every pgTAP file as failed"
        FAIL=$((FAIL + ${#tap_files[@]}))
    else
        log="$TMP/pgtap.log"
        rc=0
        pg_prove -d pgtap_tests "${tap_files[@]}" </dev/null >"$log" 2>&1 || rc=$?
        cat "$log"
        bad=0
        # A file passed if pg_prove reported "<file> .. ok" (or skipped) for it.
        for f in "${tap_files[@]}"; do
            if pgtap_file_ok "$f" "$log"; then
                PASS=$((PASS + 1))
            else
                echo "pgTAP FAILED: $f"
                FAIL=$((FAIL + 1))
                bad=$((bad + 1))
            fi
        done
        if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
            echo "pg_prove exited with status $rc but every file reported ok; counting 1 failure"
            FAIL=$((FAIL + 1))
        fi
    fi
fi

# ---- 4d. driver scripts ---------------------------------------------------
if want drivers; then
    section "drivers"
    drivers=(test/drivers/*.sh)
    if [ "${#drivers[@]}" -eq 0 ]; then
        echo "no test/drivers/*.sh; skipping"
    fi
    for d in "${drivers[@]}"; do
        name=$(basename "$d" .sh)
        # Database name: driver_<basename>, lower case, [a-z0-9_] only.
        db="driver_$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_' '_')"
        echo "---------- $d (database $db) ----------"
        if ! createdb_with_ext "$db" "$EXT"; then
            echo "FAILED: $d (could not create database $db)"
            FAIL=$((FAIL + 1))
            continue
        fi
        rc=0
        PGDATABASE=$db bash "$d" </dev/null 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
            echo "ok: $d"
            PASS=$((PASS + 1))
        else
            echo "FAILED: $d (exit status $rc)"
            FAIL=$((FAIL + 1))
        fi
    done
fi

# ---- 5. summary -----------------------------------------------------------
# Stop the cluster first so the summary really is the last line printed.
section "done"
cleanup
if [ $((PASS + FAIL)) -eq 0 ]; then
    echo "no tests ran"
fi
echo "$PASS passed, $FAIL failed"
if [ "$FAIL" -gt 0 ] || [ $((PASS + FAIL)) -eq 0 ]; then
    exit 1
fi
exit 0
