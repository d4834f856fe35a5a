#!/usr/bin/env bash
#
# bench/run.sh — what `make bench` runs.
#
# Same set-up as `make test`: missing packages installed, the extension built
# and installed, a throwaway cluster in a temp directory (settings printed
# below).  Then:
#   1. the data set (bench/setup.sql): BENCH_MEMBERS members (default
#      100 000) in a 4-ary referral tree (depth <= 9), a 2-level and a 5-level
#      plan, funded wallets; pgbench's TPC-B tables (scale BENCH_SCALE);
#   2. pgbench, BENCH_CLIENTS clients (default 8), BENCH_SECONDS each
#      (default 30): built-in TPC-B (the baseline), record_conversion on the
#      2-level and the 5-level plan, withdrawals (request + approve +
#      complete), add_member, the PL/pgSQL conversion (bench/plpgsql),
#      record_bill, redeem_promo of one coupon, and the 2-level conversion
#      again with an in-app template (an outbox row per beneficiary);
#   3. bulk conversions in one session (record_conversions); the release of
#      BENCH_RELEASE due commissions (default 1 000 000) by BENCH_RELEASE_JOBS
#      release_due jobs at once (default: one per core; the job is SKIP
#      LOCKED and made to run concurrently); the downline count of the root's
#      subtree (20 runs, median, right after the load); the top-10
#      leaderboard by earnings (20 runs, median); backend memory over
#      BENCH_MEMORY_CONVERSIONS conversions in one session (default 1 000 000);
#   4. verify() over everything the bench wrote: it must be empty;
#   5. the table, printed and written to bench/results.md.
# BENCH_SHARED_BUFFERS sets shared_buffers (default 1GB).
# Exits non-zero only when the bench could not run (or verify() is not
# empty); a figure that misses its target is marked MISSED in the table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"

MEMBERS=${BENCH_MEMBERS:-100000}
CLIENTS=${BENCH_CLIENTS:-8}
SECONDS_EACH=${BENCH_SECONDS:-30}
SCALE=${BENCH_SCALE:-20}
BULK=${BENCH_BULK:-200000}
RELEASE=${BENCH_RELEASE:-1000000}
MEMORY_CONVERSIONS=${BENCH_MEMORY_CONVERSIONS:-1000000}
RELEASE_JOBS=${BENCH_RELEASE_JOBS:-$(nproc 2>/dev/null || echo 2)}
THREADS=$(nproc 2>/dev/null || echo 2)
[ "$THREADS" -gt "$CLIENTS" ] && THREADS=$CLIENTS
RESULTS="$ROOT/bench/results.md"

TMP=""
DATADIR=""
STARTED=""
cleanup() {
    set +e
    if [ -n "$DATADIR" ] && [ -d "$DATADIR" ]; then
        pgc_stop "$DATADIR"
    fi
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section() { printf '\n========== %s ==========\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

section "dependencies"
bash "$ROOT/scripts/install-deps.sh"
section "build"
pgc_build_install "$ROOT"

section "cluster"
TMP=$(mktemp -d /tmp/pg_affiliate_bench.XXXXXX)
chmod 0755 "$TMP"
pgc_give_to_server "$TMP"
DATADIR="$TMP/data"
PORT=$(pgc_free_port "$TMP" /tmp/pg_affiliate_test.* /tmp/pg_affiliate_bench.* \
       "${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}")
# the only settings changed from PostgreSQL's defaults (besides socket, port,
# pg_cron and logging, as in make test); printed in the results
# shared_buffers: PostgreSQL's default (128 MB) is sized for a small
# machine; the data set (members, millions of postings and their indexes)
# outgrows it and every backend then writes out dirty buffers itself.  The
# TPC-B baseline runs on the same cluster with the same setting.
SETTINGS=("fsync = off" "timezone = 'UTC'" "shared_buffers = '${BENCH_SHARED_BUFFERS:-1GB}'")
pgc_create "$DATADIR" "$TMP" "$PORT" "" "${SETTINGS[@]}"
pgc_start "$DATADIR" "$TMP/server.log"
pgc_export_env "$TMP" "$PORT"
STARTED=1
DB=bench
pgc_psql -d postgres -c "CREATE DATABASE $DB"
pgc_psql -d "$DB" -c "CREATE EXTENSION pg_affiliate"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

section "data set: $MEMBERS members, TPC-B scale $SCALE"
t0=$(now)
PGOPTIONS="-c bench.members=$MEMBERS" pgc_psql -d "$DB" -f "$ROOT/bench/setup.sql"
t1=$(now)
echo "members loaded in $(elapsed "$t0" "$t1") s"
pgbench -i -q -s "$SCALE" "$DB" 2>&1 | tail -n 1
if [ -f "$ROOT/bench/plpgsql/schema.sql" ]; then
    pgc_psql -d "$DB" -f "$ROOT/bench/plpgsql/schema.sql" -f "$ROOT/bench/plpgsql/record_conversion.sql"
    q -c "SELECT bench_plpgsql.load_from_affiliate(1)" >/dev/null
fi
q -c "CHECKPOINT; ANALYZE"

section "downline count of the root's subtree (20 runs, median)"
SUBTREE=$(q -c "SELECT affiliate.team_size(1, 1)")
DOWNLINE_MS=$(q -f "$ROOT/bench/downline.sql")
echo "team_size of $SUBTREE members: median $DOWNLINE_MS ms"

# The work a run did, from the statistics views: rows written (inserted,
# updated, deleted), index entries written (each insert or non-HOT update
# writes one entry per index of its table) and WAL bytes.  "rows idx wal".
work_snapshot() {
    q -c "SELECT format('%s %s %s', sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del),
                        sum((s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd) * i.n),
                        pg_current_wal_lsn() - '0/0'::pg_lsn)
            FROM pg_stat_user_tables s
            CROSS JOIN LATERAL (SELECT count(*) AS n FROM pg_index x WHERE x.indrelid = s.relid) i"
}

# per_op BEFORE AFTER TRANSACTIONS — "rows / index entries / WAL bytes" per
# transaction between two snapshots
per_op() {
    awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        if (n > 0) printf "%.1f / %.1f / %.0f", (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n;
        else print "n/a" }'
}

# pgbench LABEL [args...] — runs pgbench with the common options and prints
# the tps (excluding connection time); leaves the work per transaction in
# $TMP/work.<LABEL>
run_pgbench() {
    local label=$1 out tps before after txns
    shift
    before=$(work_snapshot)
    out=$(pgbench -n -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_EACH" "$@" "$DB" 2>&1) || {
        echo "$out" >&2
        pgc_err "pgbench failed: $label"
        return 1
    }
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p')
    if [ -z "$tps" ]; then
        echo "$out" >&2
        pgc_err "no tps in pgbench output: $label"
        return 1
    fi
    echo "$(echo "$out" | grep -E 'number of (transactions actually processed|failed)' | tr '\n' ' ')" >&2
    # pgbench's sessions have ended, so their statistics are flushed
    after=$(work_snapshot)
    txns=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
    per_op "$before" "$after" "${txns:-0}" >"$TMP/work.$label"
    printf '%.0f' "$tps"
}
work() { cat "$TMP/work.$1" 2>/dev/null || echo "n/a"; }

section "pgbench: $CLIENTS clients, $THREADS threads, ${SECONDS_EACH}s each"
TPCB=$(run_pgbench TPC-B)
echo "TPC-B: $TPCB tps"
CONV2=$(run_pgbench conv2 -f "$ROOT/bench/pgbench/conversion.sql" \
        -D min_buyer=2 -D max_buyer="$MEMBERS" -D product="'basic'")
echo "record_conversion, 2 levels: $CONV2 tps"
CONV5=$(run_pgbench conv5 -f "$ROOT/bench/pgbench/conversion.sql" \
        -D min_buyer=2 -D max_buyer="$MEMBERS" -D product="'pro'")
echo "record_conversion, 5 levels: $CONV5 tps"
WD=$(run_pgbench withdrawals -f "$ROOT/bench/pgbench/withdrawal.sql" \
     -D max_funded="$((MEMBERS < 10001 ? MEMBERS : 10001))")
echo "withdrawals (request + approve + complete): $WD tps"
ADDM=$(run_pgbench add_member -f "$ROOT/bench/pgbench/add_member.sql" -D max_sponsor="$MEMBERS")
echo "add_member: $ADDM tps"
PLPG=""
if [ -f "$ROOT/bench/pgbench/plpgsql_conversion.sql" ] && [ -f "$ROOT/bench/plpgsql/schema.sql" ]; then
    PLPG=$(run_pgbench plpgsql -f "$ROOT/bench/pgbench/plpgsql_conversion.sql" \
           -D min_buyer=2 -D max_buyer="$MEMBERS" -D product="'basic'")
    echo "PL/pgSQL conversion, 2 levels: $PLPG tps"
fi

BILL=$(run_pgbench bills -f "$ROOT/bench/pgbench/bill.sql" -D max_member="$MEMBERS")
echo "record_bill: $BILL tps"
PROMO=$(run_pgbench promo -f "$ROOT/bench/pgbench/promo.sql" -D max_member="$MEMBERS")
echo "redeem_promo (one coupon, every client): $PROMO tps"
# the same 2-level conversions with an in-app template for commission_earned:
# one rendered outbox row per beneficiary, in the conversion's transaction
q -c "SELECT affiliate.set_template(1, 'commission_earned', 'in_app', 'Commission earned',
        'You earned {{amount}} {{currency}} (level {{level}}) on order {{order_ref}}.')" >/dev/null
CONV2N=$(run_pgbench conv2n -f "$ROOT/bench/pgbench/conversion.sql" \
         -D min_buyer=2 -D max_buyer="$MEMBERS" -D product="'basic'")
q -c "SELECT affiliate.remove_template(1, 'commission_earned', 'in_app')" >/dev/null
echo "record_conversion, 2 levels, with an in-app template: $CONV2N tps"

section "bulk conversions: $BULK in one session (record_conversions, batches of 20 000)"
q -c "CREATE SCHEMA bench" -f "$ROOT/bench/session.sql"
t0=$(now)
q -c "CALL bench.bulk_conversions('bulk-', $BULK, 20000, 2, $MEMBERS, 'basic')"
t1=$(now)
BULK_S=$(elapsed "$t0" "$t1")
BULK_RATE=$(awk -v n="$BULK" -v s="$BULK_S" 'BEGIN { printf "%.0f", n / s }')
echo "$BULK conversions in $BULK_S s: $BULK_RATE /s"

section "hold release: $RELEASE due commissions, $RELEASE_JOBS jobs at once"
q -c "CALL bench.top_up_pending($RELEASE, 2, $MEMBERS)"
BEFORE=$(q -c "SELECT count(*) FROM affiliate.commission WHERE status = 'pending'")
q -c "CHECKPOINT"
# the release job is SKIP LOCKED and meant to run as several jobs at once:
# one per core, each releasing its share
t0=$(now)
pids=()
for ((j = 0; j < RELEASE_JOBS; j++)); do
    q -c "CALL bench.release_count($((RELEASE / RELEASE_JOBS)), 100000)" &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || { pgc_err "a release job failed"; exit 1; }
done
t1=$(now)
RELEASE_S=$(elapsed "$t0" "$t1")
AFTER=$(q -c "SELECT count(*) FROM affiliate.commission WHERE status = 'pending'")
PENDING=$((BEFORE - AFTER))
echo "released $PENDING commissions in $RELEASE_S s ($AFTER still pending)"

section "leaderboard: top 10 by earnings (this month and all time, 20 runs, median)"
LB_ENTRIES=$(q -c "SELECT count(*) FROM affiliate.leaderboard_entry WHERE program_id = 1 AND metric = 'earnings' AND period = 'all'")
LB_MS=$(q -f "$ROOT/bench/leaderboard.sql")
echo "leaderboard over $LB_ENTRIES members with earnings: median $LB_MS ms"

section "backend memory over $MEMORY_CONVERSIONS conversions in one session"
MEM=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -v n="$MEMORY_CONVERSIONS" -v members="$MEMBERS" \
      -f "$ROOT/bench/memory.sql")
RSS_BEFORE=$(echo "$MEM" | sed -n 's/^before \([0-9]*\)$/\1/p')
RSS_AFTER=$(echo "$MEM" | sed -n 's/^after \([0-9]*\)$/\1/p')
MEM_S=$(echo "$MEM" | sed -n 's/^seconds \([0-9.]*\)$/\1/p')
GROWTH_KB=$((RSS_AFTER - RSS_BEFORE))
echo "RssAnon before $RSS_BEFORE kB, after $RSS_AFTER kB: growth $GROWTH_KB kB ($MEMORY_CONVERSIONS conversions in $MEM_S s)"

section "verify() over everything the bench wrote"
t0=$(now)
BROKEN=$(q -c "SELECT count(*) FROM affiliate.verify()")
t1=$(now)
TOTALS=$(q -c "SELECT format('%s members, %s conversions, %s commissions, %s journals, %s postings, %s withdrawals',
                 (SELECT count(*) FROM affiliate.member), (SELECT count(*) FROM affiliate.conversion),
                 (SELECT count(*) FROM affiliate.commission), (SELECT count(*) FROM affiliate.journal),
                 (SELECT count(*) FROM affiliate.posting), (SELECT count(*) FROM affiliate.withdrawal))")
echo "verify(): $BROKEN broken invariants ($(elapsed "$t0" "$t1") s over $TOTALS)"
if [ "$BROKEN" != 0 ]; then
    q -c "SELECT * FROM affiliate.verify() LIMIT 20" >&2
    pgc_err "verify() is not empty: the figures above do not count"
    exit 1
fi

section "results"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mark() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "met" : "MISSED" }'; }
PGV=$(q -c "SHOW server_version")
CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
MEMTOTAL=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
R2=$(ratio "$CONV2" "$TPCB"); R5=$(ratio "$CONV5" "$TPCB")
RB=$(ratio "$BILL" "$TPCB"); RP=$(ratio "$PROMO" "$TPCB"); R2N=$(ratio "$CONV2N" "$TPCB")
RW=$(ratio "$WD" "$TPCB"); RA=$(ratio "$ADDM" "$TPCB")
{
    echo "# make bench — results"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $PGV, $(nproc) cores ($CPU), $MEMTOTAL;"
    echo "settings changed from the defaults: ${SETTINGS[*]}; pgbench $CLIENTS clients, $THREADS threads, ${SECONDS_EACH} s per run."
    echo "Data: $TOTALS after the bench; verify() empty."
    echo
    echo "| figure | measured | ratio to TPC-B | target | | rows / index entries / WAL bytes written per transaction |"
    echo "| --- | --- | --- | --- | --- | --- |"
    echo "| pgbench built-in TPC-B (baseline, scale $SCALE) | $TPCB tps | 1.00 | | | $(work TPC-B) |"
    echo "| conversions/s, record_conversion, 2-level plan | $CONV2 /s | $R2 | ≥ 1.0 × TPC-B | $(mark "$R2" '>=' 1.0) | $(work conv2) |"
    echo "| conversions/s, record_conversion, 5-level plan | $CONV5 /s | $R5 | ≥ 0.8 × TPC-B | $(mark "$R5" '>=' 0.8) | $(work conv5) |"
    echo "| bulk conversions/s, record_conversions, one session, $BULK | $BULK_RATE /s | | ≥ 20 000 /s | $(mark "$BULK_RATE" '>=' 20000) | |"
    echo "| hold release of $PENDING due commissions, $RELEASE_JOBS release_due jobs at once | $RELEASE_S s | | ≤ 15 s | $(mark "$RELEASE_S" '<=' 15) | |"
    echo "| withdrawals/s (request + approve + complete) | $WD /s | $RW | ≥ 0.5 × TPC-B | $(mark "$RW" '>=' 0.5) | $(work withdrawals) |"
    echo "| add_member/s with materialised upline | $ADDM /s | $RA | ≥ 1.0 × TPC-B | $(mark "$RA" '>=' 1.0) | $(work add_member) |"
    echo "| downline count of a $SUBTREE-member subtree, median of 20 | $DOWNLINE_MS ms | | ≤ 50 ms | $(mark "$DOWNLINE_MS" '<=' 50) | |"
    echo "| leaderboard top 10 by earnings over $LB_ENTRIES members, median of 20 | $LB_MS ms | | | | |"
    echo "| backend memory growth over $MEMORY_CONVERSIONS conversions (RssAnon) | $((GROWTH_KB / 1024)) MB ($GROWTH_KB kB) | | ≤ 10 MB | $(mark "$GROWTH_KB" '<=' 10240) | |"
    echo "| conversions/s, 2-level plan, with an in-app template (2 outbox rows each) | $CONV2N /s | $R2N | | | $(work conv2n) |"
    echo "| bills/s, record_bill (points lot, ledger, tier check) | $BILL /s | $RB | | | $(work bills) |"
    echo "| promo redemptions/s, redeem_promo, one coupon for every client | $PROMO /s | $RP | | | $(work promo) |"
    if [ -n "$PLPG" ]; then
        echo
        echo "The same conversion written in plain PL/pgSQL (bench/plpgsql, 2-level plan): $PLPG /s"
        echo "($(work plpgsql) rows / index entries / WAL bytes per conversion);"
        echo "the C path does $(ratio "$CONV2" "$PLPG") × as many."
    fi
    echo
    echo "The last column is the work each transaction did, from pg_stat_user_tables and the WAL"
    echo "position: rows inserted, updated or deleted; index entries written (one per index for"
    echo "each insert or non-HOT update); WAL bytes."
    echo
    echo "Reproduce: \`make bench\` (BENCH_MEMBERS, BENCH_CLIENTS, BENCH_SECONDS, BENCH_SCALE, BENCH_BULK,"
    echo "BENCH_RELEASE, BENCH_RELEASE_JOBS, BENCH_MEMORY_CONVERSIONS change the sizes)."
} >"$RESULTS"
cat "$RESULTS"
