#!/usr/bin/env bash
#
# test/crash/crash.sh — crash safety: clients call the API while the server
# is killed with SIGKILL and restarted (crash recovery) again and again;
# afterwards every acknowledged call must have survived, nothing may have
# been applied twice, and the ledger must equal a replay of what committed.
#
#   bash test/crash/crash.sh [--build]
#
#   --build   install missing packages and build + install the extension
#             first (what `make crashtest` does; the short form inside
#             `make test` runs after test/run.sh has built it)
#
# Environment (all optional):
#   CRASH_KILLS    crashes to survive (default 5, at least 1)
#   CRASH_SECONDS  how long the clients run (default 30)
#   CRASH_CLIENTS  concurrent clients (default 3)
#   SEED           seed of every random choice (printed; see below)
#   CRASH_SERVER_SETTINGS  extra postgresql.conf lines, ';'-separated (for
#                  experiments: 'synchronous_commit = off' must make it fail)
#   CRASH_KEEP=1   keep the temp directory (logs, data directory) after the
#                  run; the server is stopped either way
#
# What it does
#   1. initdb a throwaway cluster of its own in /tmp/pg_affiliate_crash.*
#      (never the cluster of test/run.sh: it kills the postmaster) with
#      fsync, full_page_writes and synchronous_commit on, creates a database
#      with the extension, a program (no hold, so release jobs have work;
#      minimum withdrawal 1.00) with a 2-level plan (30 % / 10 % of the
#      profit) and a seed tree of SEED_MEMBERS members.
#   2. starts CRASH_CLIENTS clients.  Each client is a bash loop; every call
#      is one psql session `BEGIN; <statements>; COMMIT` and counts as
#      acknowledged only when psql printed the server's COMMIT.  The mix:
#      joins (add_member), conversions (record_conversion, a new external_ref
#      each), duplicate webhooks (an acknowledged conversion sent again with
#      the same inputs), refunds (a partial one with its own refund_ref, or
#      a full one), release jobs (release_due), folds (fold_balances) and
#      withdrawals (request -> approve -> complete, or cancel / reject /
#      fail).  Each client appends one line per call to its own log:
#        ack      COMMIT seen: the call's effects must be in the database;
#        maybe    the call was sent but no COMMIT came back (the server went
#                 away): it may or may not have committed;
#        refused  an ERROR with a SQLSTATE: rolled back (the codes each
#                 operation may be refused with are listed in checks.sql).
#      A connection that could not be made at all is not logged (nothing was
#      sent) and is retried.  After a `maybe`, a client does what a real one
#      would: conversions, refunds and payouts are sent again with the same
#      key until acknowledged (they are idempotent); a join or a withdrawal
#      step is resolved by reading the committed row (an acknowledged read);
#      a withdrawal request (no client key) and a job are left as `maybe`.
#   3. a killer sleeps a random time, waits (at most ~1 s) until a client
#      statement is executing, then SIGKILLs the postmaster (pid from
#      postmaster.pid) together with every other process of this cluster
#      (the rest found by their working directory, the data directory) — a
#      power cut as far as the server is concerned — and restarts it with
#      pg_ctl, which runs crash recovery; it sleeps again once a client has
#      had a call acknowledged since; CRASH_KILLS times.
#   4. the clients stop; the logs are loaded into schema crash_check and the
#      checks of test/crash/checks.sql run (each a view listing violations):
#      the clients made progress (after every restart too), verify() empty,
#      every acknowledged conversion present once with the
#      commissions it returned, duplicates returned the original, no
#      commission released twice, no acknowledged withdrawal (or step) lost,
#      every refusal an expected one, the ledger equal to a replay of the
#      committed business rows for every member, the ledger equal to a
#      replay of the acknowledged log alone for every member no
#      unacknowledged call could have touched, the indexes intact (amcheck).
#   5. prints the figures (kills survived, recovery times, calls per op and
#      outcome, what became of the unacknowledged calls) and exits 0 only if
#      every check holds.  docs/reliability.md has the whole story.
#
# Reproducing: SEED fixes every random choice (the op mix, keys, amounts,
# members, the killer's sleeps), not the scheduler: the interleaving of the
# clients and the moment each kill lands differ between runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"
EXT=$(pgc_extension_name "$ROOT")

BUILD=0
for a in "$@"; do
    case "$a" in
        --build) BUILD=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
        *) echo "usage: bash test/crash/crash.sh [--build]" >&2; exit 2 ;;
    esac
done

posint() {  # posint NAME VALUE MIN
    case "$2" in ''|*[!0-9]*) echo "crash: $1 must be a whole number (got '$2')" >&2; exit 2 ;; esac
    if [ "$2" -lt "$3" ]; then echo "crash: $1 must be at least $3 (got $2)" >&2; exit 2; fi
}
KILLS=${CRASH_KILLS:-5};       posint CRASH_KILLS "$KILLS" 1
SECONDS_RUN=${CRASH_SECONDS:-30}; posint CRASH_SECONDS "$SECONDS_RUN" 5
CLIENTS=${CRASH_CLIENTS:-3};   posint CRASH_CLIENTS "$CLIENTS" 1
SEED=${SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 + 1 ))}; posint SEED "$SEED" 1
SEED_MEMBERS=12
# Every loop is bounded: a client makes at most MAX_OPS calls, and sends one
# call again at most RETRIES times (a connection refused while the server
# is down sleeps 0.1 s and counts as a try too).
MAX_OPS=100000
RETRIES=900

echo "crash: seed $SEED, $KILLS kills, $CLIENTS clients, ${SECONDS_RUN}s (replay the choices with SEED=$SEED)"

TMP=""
DATADIR=""
BG_PIDS=()

# Every process of this cluster: the postmaster chdirs to its data
# directory and its children inherit it.  Matching the link exactly names
# no process of any other cluster.
cluster_pids() {
    [ -n "$DATADIR" ] || return 0
    find /proc -mindepth 2 -maxdepth 2 -name cwd -lname "$DATADIR" 2>/dev/null |
        awk -F/ '{ print $3 }'
}

cleanup() {
    local rc=$? p i
    local -a left
    set +e
    trap - EXIT INT TERM
    [ -n "$TMP" ] && [ -d "$TMP" ] && touch "$TMP/stop"
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ -n "$DATADIR" ] && [ -d "$DATADIR" ]; then
        # A fast shutdown; and if the run stopped in the middle of a crash
        # (a restart may still be on its way), SIGKILL whatever process of
        # this cluster is left — ours, found by the data directory — until
        # none is.
        for ((i = 0; i < 20; i++)); do
            # (not on a zombie postmaster: pg_ctl would wait for it in vain)
            p=$(head -n 1 "$DATADIR/postmaster.pid" 2>/dev/null)
            if [ -n "$p" ] && [ -e "/proc/$p" ] && [[ $(</proc/"$p"/stat) != *") Z "* ]]; then
                pgc_stop "$DATADIR" >/dev/null 2>&1
            fi
            mapfile -t left < <(cluster_pids)
            [ "${#left[@]}" -gt 0 ] || break
            kill -9 "${left[@]}" 2>/dev/null
            sleep 0.5
        done
    fi
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        if [ "${CRASH_KEEP:-0}" = 1 ]; then
            echo "crash: CRASH_KEEP=1: logs and data directory kept in $TMP (the server is stopped)"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$BUILD" = 1 ]; then
    bash "$ROOT/scripts/install-deps.sh"
    pgc_build_install "$ROOT"
fi

# ---- 1. the cluster and the program ---------------------------------------
TMP=$(mktemp -d /tmp/pg_affiliate_crash.XXXXXX)
chmod 0755 "$TMP"
pgc_give_to_server "$TMP"
DATADIR="$TMP/data"
LOGDIR="$TMP/logs"
mkdir -p "$LOGDIR"
SERVERLOG="$TMP/server.log"
PORT=$(pgc_free_port "$TMP" /tmp/pg_affiliate_test.* /tmp/pg_affiliate_crash.* \
       "${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}")
# CRASH_SERVER_SETTINGS: extra postgresql.conf lines separated by ';', for
# experiments — e.g. 'synchronous_commit = off' acknowledges commits before
# their WAL is written, and the checks must then report lost conversions.
IFS=';' read -r -a EXTRA_SETTINGS <<<"${CRASH_SERVER_SETTINGS:-}"
# Crash safety is only meaningful with durable commits: fsync and
# full_page_writes on (test/run.sh turns fsync off for speed), every commit
# flushed before it is acknowledged.  Frequent checkpoints so that some
# crashes land during or just after one.
pgc_create "$DATADIR" "$TMP" "$PORT" "" \
    "fsync = on" \
    "full_page_writes = on" \
    "synchronous_commit = on" \
    "checkpoint_timeout = 30s" \
    "max_wal_size = 64MB" \
    "restart_after_crash = on" \
    "timezone = 'UTC'" \
    "${EXTRA_SETTINGS[@]}" >/dev/null
pgc_start "$DATADIR" "$SERVERLOG" >/dev/null
pgc_export_env "$TMP" "$PORT"
export PGDATABASE=crash
export PGCONNECT_TIMEOUT=5
export PGOPTIONS="-c client_min_messages=warning -c statement_timeout=50s"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

q -d postgres -c "CREATE DATABASE crash"
q -c "CREATE EXTENSION $EXT" -c "CREATE EXTENSION amcheck"
PROG=$(q -At -c "select affiliate.create_program('crash test', 'INR',
                   '{\"hold_period\": \"0 seconds\", \"min_withdrawal\": 100, \"rounding_unit\": 1}')")
q -At -c "select affiliate.set_plan($PROG, 'two levels', '{3000,1000}', 'profit')" >/dev/null
# The seed tree: member 1 is the root, member i joins with the code of a
# random earlier member (chosen from SEED, like everything else).
RANDOM=$SEED
q -At -c "select affiliate.add_member($PROG, 'seed-1')" >/dev/null
for ((i = 2; i <= SEED_MEMBERS; i++)); do
    s=$((RANDOM % (i - 1) + 1))
    q -At -c "select affiliate.add_member($PROG, 'seed-$i',
                (select code::text from affiliate.member where program_id = $PROG and id = $s))" >/dev/null
done
n=$(q -At -c "select count(*) from affiliate.member where program_id = $PROG and id between 1 and $SEED_MEMBERS")
if [ "$n" != "$SEED_MEMBERS" ]; then
    echo "crash: expected seed members 1..$SEED_MEMBERS, found $n" >&2
    exit 1
fi

# ---- 2. the clients ---------------------------------------------------------
STOP="$TMP/stop"

# sql_call STATEMENT... — one session: BEGIN; STATEMENT...; COMMIT.
# Returns 0 acknowledged (psql printed BEGIN ... COMMIT; the rows in
# between are in OUT), 1 refused (an ERROR with SQLSTATE CODE; rolled back),
# 2 maybe (sent, no COMMIT seen), 3 down (no connection was made: nothing
# was sent).
sql_call() {
    local -a args=(-c BEGIN) lines
    local s rc=0 raw err
    for s in "$@"; do args+=(-c "$s"); done
    args+=(-c COMMIT)
    OUT=()
    CODE=""
    CALL_T=$EPOCHREALTIME
    raw=$(timeout 60 psql -X -A -t -F $'\t' -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
          "${args[@]}" 2>"$ERRF") || rc=$?
    mapfile -t lines <<<"$raw"
    if [ "$rc" -eq 0 ] && [ "${#lines[@]}" -ge 2 ] &&
       [ "${lines[0]}" = BEGIN ] && [ "${lines[-1]}" = COMMIT ]; then
        OUT=("${lines[@]:1:${#lines[@]}-2}")
        return 0
    fi
    err=$(<"$ERRF")
    if [[ $err == "psql: error: connection to server"* ]]; then
        return 3
    fi
    # psql exits 1 for an error of a -c command (3 for one in a script)
    if { [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; } && [[ $err =~ ERROR:\ +([0-9A-Z]{5}) ]]; then
        CODE=${BASH_REMATCH[1]}
        case "$CODE" in
            08*|57P*) return 2 ;;   # the connection or the server went away
        esac
        printf '%s\n' "$err" >>"$ERRLOG"
        return 1
    fi
    return 2
}

# client C — runs until $STOP exists.  Log lines (tab-separated):
#   calls.C: client seq op outcome code key id member amount extra t
#   rows.C:  client seq commission_id conversion_id beneficiary level amount reversed
client() {
    local c=$1
    RANDOM=$(( (SEED * 7919 + c * 104729) % 32768 ))
    export PGAPPNAME=crash-client
    ERRF="$LOGDIR/err.$c.tmp"
    ERRLOG="$LOGDIR/refusals.$c"
    local calls="$LOGDIR/calls.$c" rowsf="$LOGDIR/rows.$c"
    local seq=0 nconv=0 njoin=0 i r rc
    local -a members=() convs=()
    local -A cbuyer=() camount=() ccost=() crefund=()
    local wid="" wstate="" wmember="" wamount=""

    logcall() {  # op outcome key id member amount extra (+ the time the call started)
        seq=$((seq + 1))
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$c" "$seq" "$1" "$2" "$CODE" "$3" "$4" "$5" "$6" "$7" "$CALL_T" >>"$calls"
    }
    logrows() {  # rows of OUT tagged R, for the call just logged
        local l
        for l in "${OUT[@]}"; do
            [[ $l == R$'\t'* ]] && printf '%s\t%s\t%s\n' "$c" "$seq" "${l#R$'\t'}" >>"$rowsf"
        done
        return 0
    }
    outval() {  # outval TAG FIELD — field FIELD (1 = after the tag) of the first OUT row tagged TAG
        local l
        local -a f
        VAL=""
        for l in "${OUT[@]}"; do
            if [[ $l == "$1"$'\t'* ]]; then
                IFS=$'\t' read -r -a f <<<"$l"
                VAL=${f[$2]}
                return 0
            fi
        done
        return 1
    }
    pick_member() {  # PICK: a seed member or one this client joined
        local k=$((RANDOM % (SEED_MEMBERS + ${#members[@]})))
        if [ "$k" -lt "$SEED_MEMBERS" ]; then PICK=$((k + 1)); else PICK=${members[k - SEED_MEMBERS]}; fi
    }
    outcome() {  # outcome RC -> ack|refused|maybe
        case "$1" in 0) echo ack ;; 1) echo refused ;; *) echo maybe ;; esac
    }

    # conversion OP KEY: record_conversion, sent again until acknowledged
    # (OP conv: the first sending; dup: a duplicate webhook)
    conversion() {
        local op=$1 key=$2 t
        for ((t = 0; t < RETRIES; t++)); do
            rc=0
            sql_call "select 'R', id, conversion_id, beneficiary_id, level, amount, reversed
                        from affiliate.record_conversion($PROG, '$key', ${cbuyer[$key]}, ${camount[$key]}, ${ccost[$key]})" \
                     "select 'C', id from affiliate.conversion where program_id = $PROG and external_ref = '$key'" || rc=$?
            [ "$rc" -eq 3 ] && { sleep 0.1; continue; }
            outval C 1 || VAL=""
            logcall "$op" "$(outcome $rc)" "$key" "$VAL" "${cbuyer[$key]}" "${camount[$key]}" ""
            [ "$rc" -eq 0 ] && { logrows; return 0; }
            [ "$rc" -eq 1 ] && return 1
            sleep 0.1
        done
        return 1
    }
    # refund KEY AMOUNT|NULL REF|NULL: refund_conversion, sent again until acknowledged
    refund() {
        local key=$1 amt=$2 ref=$3 t sqlref
        if [ "$ref" = NULL ]; then sqlref=NULL; else sqlref="'$ref'"; fi
        for ((t = 0; t < RETRIES; t++)); do
            rc=0
            sql_call "select 'R', id, conversion_id, beneficiary_id, level, amount, reversed
                        from affiliate.refund_conversion($PROG, '$key', 'crash test', $amt, $sqlref)" \
                     "select 'C', id from affiliate.conversion where program_id = $PROG and external_ref = '$key'" || rc=$?
            [ "$rc" -eq 3 ] && { sleep 0.1; continue; }
            outval C 1 || VAL=""
            logcall refund "$(outcome $rc)" "$key" "$VAL" "" "$([ "$amt" = NULL ] || echo "$amt")" \
                "$([ "$ref" = NULL ] && echo full || echo "$ref")"
            [ "$rc" -eq 0 ] && { logrows; return 0; }
            [ "$rc" -eq 1 ] && return 1
            sleep 0.1
        done
        return 1
    }
    # readback OP SQL: after a maybe, read the committed state (sent again until acknowledged)
    readback() {
        local t
        for ((t = 0; t < RETRIES; t++)); do
            rc=0
            sql_call "$2" || rc=$?
            [ "$rc" -eq 0 ] && return 0
            sleep 0.1
        done
        return 1
    }
    # wstep OP FUNCTION-CALL: one step of the client's withdrawal
    wstep() {
        local op=$1 call=$2 t
        for ((t = 0; t < RETRIES; t++)); do
            rc=0
            sql_call "select 'S', id, status from $call" || rc=$?
            [ "$rc" -eq 3 ] && { sleep 0.1; continue; }
            break
        done
        if [ "$rc" -eq 0 ]; then
            outval S 2 || VAL=""
            wstate=$VAL
            logcall "$op" ack "" "$wid" "$wmember" "$wamount" "$wstate"
        else
            logcall "$op" "$(outcome $rc)" "" "$wid" "$wmember" "$wamount" ""
            if [ "$rc" -ne 1 ]; then
                # the step may have committed: read what did
                readback wstate "select 'S', id, status from affiliate.withdrawal
                                   where program_id = $PROG and id = $wid" || return 1
                outval S 2 || VAL=""
                wstate=$VAL
                CODE=""
                logcall wstate ack "" "$wid" "$wmember" "$wamount" "$wstate"
            fi
        fi
        case "$wstate" in requested|approved) ;; *) wid="" ;; esac
        return 0
    }

    for ((i = 0; i < MAX_OPS; i++)); do
        [ -e "$STOP" ] && break
        r=$((RANDOM % 100))
        CODE=""
        if [ "$r" -lt 10 ]; then                                    # join
            njoin=$((njoin + 1))
            local key="j$c-$njoin"
            pick_member
            rc=3
            for ((t = 0; t < RETRIES && rc == 3; t++)); do
                rc=0
                sql_call "select 'M', affiliate.add_member($PROG, '$key',
                            (select code::text from affiliate.member where program_id = $PROG and id = $PICK))" || rc=$?
                [ "$rc" -eq 3 ] && sleep 0.1
            done
            outval M 1 || VAL=""
            logcall join "$(outcome $rc)" "$key" "$VAL" "$PICK" "" ""
            if [ "$rc" -eq 0 ]; then
                members+=("$VAL")
            elif [ "$rc" -eq 2 ]; then
                readback join "select 'M', id from affiliate.member
                                where program_id = $PROG and external_id = '$key'" || continue
                if outval M 1; then
                    CODE=""
                    logcall join_read ack "$key" "$VAL" "$PICK" "" ""
                    members+=("$VAL")
                fi
            fi
        elif [ "$r" -lt 45 ]; then                                  # conversion
            nconv=$((nconv + 1))
            local key="o$c-$nconv"
            pick_member
            cbuyer[$key]=$PICK
            camount[$key]=$((1000 + RANDOM % 20000))
            ccost[$key]=$((camount[$key] * (RANDOM % 60) / 100))
            crefund[$key]=0
            if conversion conv "$key"; then convs+=("$key"); fi
        elif [ "$r" -lt 55 ]; then                                  # duplicate webhook
            [ "${#convs[@]}" -gt 0 ] || continue
            conversion dup "${convs[RANDOM % ${#convs[@]}]}" || true
        elif [ "$r" -lt 65 ]; then                                  # refund
            [ "${#convs[@]}" -gt 0 ] || continue
            local key=${convs[RANDOM % ${#convs[@]}]}
            case "${crefund[$key]}" in
                0)  if [ $((RANDOM % 2)) -eq 0 ]; then
                        refund "$key" $((camount[$key] / 3)) part1 && crefund[$key]=1
                    else
                        refund "$key" NULL NULL && crefund[$key]=2
                    fi ;;
                1)  refund "$key" NULL NULL && crefund[$key]=2 ;;
                *)  continue ;;
            esac
        elif [ "$r" -lt 75 ]; then                                  # jobs
            local op=release sql="select 'N', affiliate.release_due(now(), 20, $PROG)"
            if [ $((RANDOM % 4)) -eq 0 ]; then op=fold; sql="select 'N', affiliate.fold_balances($PROG, 200)"; fi
            rc=3
            for ((t = 0; t < RETRIES && rc == 3; t++)); do
                rc=0; sql_call "$sql" || rc=$?
                [ "$rc" -eq 3 ] && sleep 0.1
            done
            outval N 1 || VAL=""
            logcall "$op" "$(outcome $rc)" "" "$VAL" "" "" ""
        else                                                        # withdrawals
            r=$((RANDOM % 100))
            if [ -z "$wid" ]; then
                pick_member
                [ "$PICK" -le "$SEED_MEMBERS" ] || PICK=$((RANDOM % SEED_MEMBERS + 1))
                rc=3
                for ((t = 0; t < RETRIES && rc == 3; t++)); do
                    rc=0
                    # each member's own destination (one shared by members
                    # raises a fraud flag that holds them: docs/fraud.md)
                    sql_call "select 'W', affiliate.request_withdrawal($PROG, $PICK, b.available / 2, 'upi', 'crash-m$PICK@okaxis'),
                                     b.available / 2
                                from affiliate.balance($PROG, $PICK) b where b.available >= 400" || rc=$?
                    [ "$rc" -eq 3 ] && sleep 0.1
                done
                if [ "$rc" -eq 0 ]; then
                    outval W 1 || continue      # too little to withdraw: nothing was called
                    wid=$VAL; wmember=$PICK; outval W 2; wamount=$VAL; wstate=requested
                    logcall wreq ack "" "$wid" "$wmember" "$wamount" requested
                else
                    logcall wreq "$(outcome $rc)" "" "" "$PICK" "" ""
                fi
            elif [ "$wstate" = requested ]; then
                if [ "$r" -lt 70 ]; then
                    wstep wapprove "affiliate.approve_withdrawal($PROG, $wid)" || true
                elif [ "$r" -lt 85 ]; then
                    wstep wcancel "affiliate.cancel_withdrawal($PROG, $wid)" || true
                else
                    wstep wreject "affiliate.reject_withdrawal($PROG, $wid, 'crash test')" || true
                fi
            else
                if [ "$r" -lt 85 ]; then
                    # the payout webhook: idempotent on provider_ref, sent again until acknowledged
                    local t
                    for ((t = 0; t < RETRIES; t++)); do
                        rc=0
                        sql_call "select 'S', id, status from affiliate.complete_withdrawal($PROG, $wid, 'utr-$c-$wid')" || rc=$?
                        [ "$rc" -eq 3 ] && { sleep 0.1; continue; }
                        outval S 2 || VAL=""
                        logcall wcomplete "$(outcome $rc)" "" "$wid" "$wmember" "$wamount" "$VAL"
                        [ "$rc" -eq 0 ] && { wid=""; break; }
                        [ "$rc" -eq 1 ] && break
                        sleep 0.1
                    done
                else
                    wstep wfail "affiliate.fail_withdrawal($PROG, $wid, 'account closed')" || true
                fi
            fi
        fi
    done
    rm -f "$ERRF"
}

# ---- 3. the killer ----------------------------------------------------------
# The killer's moment: once its random sleep is over, a server-side loop
# (at most ~1 s) waits until some client is executing a statement — often a
# COMMIT — and returns the pids of every server process right then, so the
# SIGKILL lands inside a transaction rather than between two calls.
STRIKE_SQL="create function pg_temp.strike() returns setof int language plpgsql as \$\$
begin
    for i in 1..800 loop
        perform pg_stat_clear_snapshot();
        exit when exists (select 1 from pg_stat_activity
                           where application_name = 'crash-client' and state = 'active');
        perform pg_sleep(0.001);
    end loop;
    return query select pid from pg_stat_activity where pid <> pg_backend_pid();
end \$\$"

# kill_cluster PID... — SIGKILL the postmaster (from postmaster.pid) and the
# given processes of the cluster at once, then every process of the cluster
# that is still there, until none is left.
kill_cluster() {
    local pm i
    local -a pids
    pm=$(head -n 1 "$DATADIR/postmaster.pid" 2>/dev/null) || pm=""
    if [ -z "$pm" ] || ! kill -0 "$pm" 2>/dev/null; then
        echo "no running postmaster in $DATADIR/postmaster.pid" >&2
        return 1
    fi
    kill -9 "$pm" "$@" 2>/dev/null || true
    KILLED=$((1 + $#))
    # A backend forked since is an orphan now: kill whatever is left.  Then
    # wait until the postmaster is gone from the process table: until its
    # parent (init, after pg_ctl exited) has reaped it, kill(pid, 0) succeeds
    # on the zombie, and a new postmaster takes postmaster.pid for a live
    # one and refuses to start.
    for ((i = 0; i < 600; i++)); do
        mapfile -t pids < <(cluster_pids)
        if [ "${#pids[@]}" -gt 0 ]; then
            kill -9 "${pids[@]}" 2>/dev/null || true
            KILLED=$((KILLED + ${#pids[@]}))
        elif [ ! -e "/proc/$pm" ]; then
            return 0
        fi
        sleep 0.1
    done
    echo "the cluster did not go away within 60 s of SIGKILL: postmaster $pm, processes: ${pids[*]}" >&2
    return 1
}

killer() {
    RANDOM=$(( (SEED * 31 + 17) % 32768 ))
    local k i gap_ms sleep_ms t0 t1 tk rec_ms gone_ms ready
    local -a pids
    gap_ms=$((SECONDS_RUN * 1000 / (KILLS + 1)))
    for ((k = 1; k <= KILLS; k++)); do
        # uniform in [gap/2, 3*gap/2): kills land at random moments, on average
        # spread over the run
        sleep_ms=$((gap_ms / 2 + (RANDOM * 32768 + RANDOM) % gap_ms))
        sleep "$((sleep_ms / 1000)).$(printf '%03d' $((sleep_ms % 1000)))"
        mapfile -t pids < <(PGAPPNAME=crash-killer psql -X -q -A -t -c "$STRIKE_SQL" \
                                -c "select * from pg_temp.strike()" 2>/dev/null || true)
        tk=${EPOCHREALTIME/./}
        kill_cluster "${pids[@]}" || return 1
        t0=${EPOCHREALTIME/./}
        # (pg_ctl says "another server might be running" on every restart
        # after a crash: postmaster.pid is left behind, as it should be)
        if ! pgc_start "$DATADIR" "$SERVERLOG" >/dev/null 2>"$LOGDIR/pg_ctl.err"; then
            cat "$LOGDIR/pg_ctl.err" >&2
            return 1
        fi
        t1=${EPOCHREALTIME/./}
        ready=$EPOCHREALTIME
        rec_ms=$(((t1 - t0) / 1000))
        gone_ms=$(((t0 - tk) / 1000))
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$k" "$sleep_ms" "$KILLED" "$rec_ms" "$gone_ms" "$ready" >>"$LOGDIR/kills"
        echo "crash: kill $k after ${sleep_ms} ms: SIGKILL to $KILLED processes, all gone in ${gone_ms} ms, back up (pg_ctl start: crash recovery) in ${rec_ms} ms"
        # The next sleep starts once a client has had a call acknowledged
        # since the restart: the clients must get through every outage, and
        # no kill may fall on a server nobody has used since the last one.
        for ((i = 0; i < 300; i++)); do
            if awk -F'\t' -v r="$ready" '$4 == "ack" && $11 + 0 > r + 0 { found = 1; exit }
                                         END { exit !found }' "$LOGDIR"/calls.* 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
        if [ "$i" -ge 300 ]; then
            echo "no client had a call acknowledged within 30 s of restart $k" >&2
            return 1
        fi
    done
}

T_START=${EPOCHREALTIME/./}
for ((c = 1; c <= CLIENTS; c++)); do
    client "$c" &
    BG_PIDS+=($!)
done
killer &
KILLER=$!
BG_PIDS+=("$KILLER")

if ! wait "$KILLER"; then
    touch "$STOP"
    echo "crash: the killer failed (see above); the server log ends:"
    tail -n 30 "$SERVERLOG"
    exit 1
fi
status=0
# run on until CRASH_SECONDS are over, and at least 2 s after the last restart
now=${EPOCHREALTIME/./}
left_ms=$(( SECONDS_RUN * 1000 - (now - T_START) / 1000 ))
[ "$left_ms" -ge 2000 ] || left_ms=2000
sleep "$((left_ms / 1000)).$(printf '%03d' $((left_ms % 1000)))"
touch "$STOP"
for p in "${BG_PIDS[@]}"; do
    [ "$p" = "$KILLER" ] && continue
    wait "$p" || { echo "crash: client (pid $p) failed"; status=1; }
done
BG_PIDS=()
T_END=${EPOCHREALTIME/./}
[ "$status" = 0 ] || exit 1

# ---- 4. the checks ----------------------------------------------------------
if ! pgc_running "$DATADIR"; then
    echo "crash: the server is not running after the last restart" >&2
    exit 1
fi
cat "$LOGDIR"/calls.* >"$LOGDIR/calls.tsv" 2>/dev/null || : >"$LOGDIR/calls.tsv"
cat "$LOGDIR"/rows.* >"$LOGDIR/rows.tsv" 2>/dev/null || : >"$LOGDIR/rows.tsv"
q -f test/crash/checks.sql -v prog="$PROG"
q -c "\\copy crash_check.calls from '$LOGDIR/calls.tsv' with (format csv, delimiter E'\\t')" \
  -c "\\copy crash_check.rows from '$LOGDIR/rows.tsv' with (format csv, delimiter E'\\t')" \
  -c "\\copy crash_check.kills from '$LOGDIR/kills' with (format csv, delimiter E'\\t')"

echo
echo "crash: figures (seed $SEED)"
kills_done=$(wc -l <"$LOGDIR/kills" 2>/dev/null || echo 0)
recoveries=$(grep -c 'not properly shut down; automatic recovery in progress' "$SERVERLOG" || true)
echo "  kills survived:      $kills_done of $KILLS (crash recoveries in the server log: $recoveries)"
awk -F'\t' '{ n++; s += $4; g += $5; if (min == "" || $4 < min) min = $4; if ($4 > max) max = $4 }
    END { if (n) printf "  crash recovery:      pg_ctl start took min %d ms, mean %d ms, max %d ms (after the kill, %d ms on average until every process was gone)\n", min, s / n, max, g / n }' \
    "$LOGDIR/kills"
echo "  run:                 $(( (T_END - T_START) / 1000000 )) s, $CLIENTS clients"
q -At -F ' ' -c "select rpad(op, 10), string_agg(outcome || ' ' || n, ', ' order by outcome)
                   from (select op, case when outcome = 'refused' then 'refused(' || code || ')' else outcome end outcome,
                                count(*) n
                           from crash_check.calls group by 1, 2) x group by op order by op" | sed 's/^/  calls /'
q -At -F ' ' -c "select 'conversions ' || (select count(*) from affiliate.conversion where program_id = $PROG)
                   || ', commissions ' || (select count(*) from affiliate.commission where program_id = $PROG)
                   || ' (released ' || (select count(*) from affiliate.commission where program_id = $PROG and released is not null)
                   || '), refunds ' || (select count(*) from affiliate.refund where program_id = $PROG)
                   || ', withdrawals ' || (select count(*) from affiliate.withdrawal where program_id = $PROG)
                   || ', members ' || (select count(*) from affiliate.member where program_id = $PROG)
                   || ', journals ' || (select count(*) from affiliate.journal where program_id = $PROG)" | sed 's/^/  in the database:     /'
q -At -c "select format('  after a restart:     the first acknowledged call started %s ms after the server was ready on average (max %s ms)',
                        round(avg(d) * 1000), round(max(d) * 1000))
            from (select (select min(c.t) from crash_check.calls c where c.outcome = 'ack' and c.t > k.ready_t) - k.ready_t d
                    from crash_check.kills k) x"
q -At -c "select format('  unacknowledged:      %s %s of %s had committed, the rest had not',
                        rpad(op, 6), count(*) filter (where committed), count(*))
            from crash_check.maybe_fate group by op order by op"
q -At -c "select format('  log replay:          %s members compared with the acknowledged log alone, %s left to the committed-rows replay (an unacknowledged call may have touched them)',
                        count(*) filter (where not tainted), count(*) filter (where tainted))
            from crash_check.member_log_replay"

echo
echo "crash: checks"
fails=0
[ "$kills_done" -ge "$KILLS" ] || { echo "FAIL only $kills_done of $KILLS kills happened"; fails=$((fails + 1)); }
[ "$recoveries" -ge "$kills_done" ] || {
    echo "FAIL the server log shows $recoveries crash recoveries for $kills_done kills"; fails=$((fails + 1)); }
mapfile -t views < <(q -At -c "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                                  where n.nspname = 'crash_check' and c.relkind = 'v' and c.relname like 'check\_%'
                                  order by 1")
[ "${#views[@]}" -gt 0 ] || { echo "FAIL no checks found in crash_check"; fails=$((fails + 1)); }
run_check() {  # runs one view; prints ok or FAIL with up to 20 violations
    local v=$1 desc out
    desc=$(q -At -c "select obj_description('crash_check.$v'::regclass, 'pg_class')")
    if ! out=$(q -At -F ' | ' -c "select * from crash_check.$v limit 20" 2>&1); then
        echo "FAIL $desc: the check itself failed:"; echo "$out" | sed 's/^/       /'
        return 1
    fi
    if [ -n "$out" ]; then
        echo "FAIL $desc:"; echo "$out" | sed 's/^/       /'
        return 1
    fi
    echo "ok   $desc"
}
for v in "${views[@]}"; do
    run_check "$v" || fails=$((fails + 1))
done
# the same checks once more after folding every balance delta: a fold after
# the crashes must not change a balance
q -At -c "select affiliate.fold_balances($PROG, 100000)" >/dev/null
for v in check_01_verify check_10_db_replay check_11_log_replay; do
    out=$(q -At -F ' | ' -c "select * from crash_check.$v limit 20" 2>&1) || true
    if [ -n "$out" ]; then
        echo "FAIL after fold_balances: $v:"; echo "$out" | sed 's/^/       /'; fails=$((fails + 1))
    else
        echo "ok   after fold_balances: $v"
    fi
done
if compgen -G "$LOGDIR/refusals.*" >/dev/null; then
    echo "  refusal messages (count, message):"
    { grep -ho 'ERROR: .*' "$LOGDIR"/refusals.* || true; } |
        awk '{ code = $2; $1 = $2 = ""; gsub(/[0-9]+/, "N"); print code $0 }' | sort | uniq -c | sort -rn |
        head -n 8 | sed 's/^/    /'
fi

if [ "$fails" -gt 0 ]; then
    echo "crash: FAILED ($fails checks; seed $SEED; CRASH_KEEP=1 keeps the logs)"
    exit 1
fi
echo "crash: passed ($kills_done kills survived, seed $SEED)"
