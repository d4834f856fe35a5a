#!/usr/bin/env bash
# Backup and restore (issue 7 §4): pg_dump -Fc of a database holding a
# realistic data set (test/drivers/backup_restore.sql: two programs, plans,
# members in trees, clicks, conversions, refunds, released holds, wallet
# payments, withdrawals in every state, HTTP API calls, audit rows,
# checkpoints and unfolded postings), then pg_restore
#   1. into a fresh cluster (initdb'd here: no affiliate_* roles exist; the
#      extension script creates them during the restore), and
#   2. into a new database of the same cluster (the roles exist already).
# Each restored database must have the same fingerprint
# (test/drivers/backup_fingerprint.sql: rows and an md5 of every table,
# sequence positions, every balance, balance_at, every wallet, verify()),
# verify() must be empty, and the restored system must keep working: new
# member, conversion, click and withdrawal (no id collides: the sequences
# came back), the keyed hashes still match (program_secret came back),
# idempotent replays of old conversions, payments, refunds, journals and
# provider references return the originals and write nothing, the held
# commissions release, the HTTP roles read their rows.
#
# When a later version adds a table, the fingerprint picks it up; give it
# rows in backup_restore.sql (the driver fails on an empty table).
#
# Environment: PGHOST/PGPORT/PGUSER/PGDATABASE (a database with pg_affiliate
# installed, as test/run.sh provides), PG_CONFIG (optional: which
# PostgreSQL's initdb starts the second cluster).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
# shellcheck source=scripts/cluster.sh
. "$ROOT/scripts/cluster.sh"

: "${PGDATABASE:?set PGDATABASE to a database with pg_affiliate installed}"
SRC_DB=$PGDATABASE
SAME_DB="${SRC_DB}_restored"
export PGOPTIONS="-c client_min_messages=warning -c TimeZone=UTC"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

WORK=""
NEW_DATA=""
SAME_CREATED=""
cleanup() {
    set +e
    if [ -n "$NEW_DATA" ]; then pgc_stop "$NEW_DATA" >/dev/null; fi
    if [ -n "$SAME_CREATED" ]; then
        q -d postgres -c "DROP DATABASE IF EXISTS \"$SAME_DB\" WITH (FORCE)"
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# /tmp, not $TMPDIR: the second cluster's socket lives here (short path;
# under root the postgres user must reach it)
WORK=$(mktemp -d /tmp/pg_affiliate_backup.XXXXXX)
chmod 0755 "$WORK"

status=0
fail() { echo "FAIL $*"; status=1; }
# check NAME DB SCRIPT: the last query of SCRIPT (SQL and psql commands)
# returns the failures; no rows and no error: ok
check() {
    local name=$1 db=$2 out
    if ! out=$(q -d "$db" -At -F ' ' <<<"$3" 2>&1); then
        fail "$name: $out"
    elif [ -n "$out" ]; then
        fail "$name:"
        echo "$out" | head -20 | sed 's/^/    /'
    else
        echo "ok   $name"
    fi
}

# ---- 1. the data set, through the API --------------------------------------
t0=$(date +%s.%N)
if ! PGOPTIONS="$PGOPTIONS -c pg_affiliate.checkpoint_interval=10" \
        q -d "$SRC_DB" -f test/drivers/backup_restore.sql >"$WORK/load.log" 2>&1; then
    cat "$WORK/load.log"
    echo "backup_restore: FAILED: loading the data set"
    exit 1
fi
q -d "$SRC_DB" -f test/drivers/backup_fingerprint.sql >"$WORK/source.fp"
echo "backup_restore: data set loaded: $(grep -c '^table ' "$WORK/source.fp") tables, $(awk '/^table / { n += $4 } END { print n }' "$WORK/source.fp") rows"
grep '^table ' "$WORK/source.fp" | awk '{ printf "  %-30s %6s rows\n", $2, $4 }'
if grep -E '^table .* rows 0 |not registered for pg_dump|^verify ' "$WORK/source.fp"; then
    fail "the data set must fill every table (a table of a later version: add its rows to backup_restore.sql), every table must be registered for pg_dump, verify() must be empty"
else
    echo "ok   the data set fills every table, every table is registered for pg_dump, verify() is empty"
fi

# What the restored databases must reproduce, read from the source
src() { q -d "$SRC_DB" -At -F ' ' -c "$1"; }
REPLAY_ORDER=ott-order-50
read -r REPLAY_BUYER REPLAY_AMOUNT REPLAY_COST REPLAY_AT < <(src "
    SELECT buyer_id, amount, cost, occurred_at FROM affiliate.conversion
     WHERE program_id = 1 AND external_ref = '$REPLAY_ORDER'")
REPLAY_COMMISSIONS=$(src "
    SELECT string_agg(format('%s:%s:%s:%s:%s', c.id, c.beneficiary_id, c.level, c.amount, c.status), ' ' ORDER BY c.id)
      FROM affiliate.commission c JOIN affiliate.conversion v ON v.program_id = c.program_id AND v.id = c.conversion_id
     WHERE v.program_id = 1 AND v.external_ref = '$REPLAY_ORDER'")
PAY_JOURNAL=$(src "SELECT id FROM affiliate.journal WHERE program_id = 1 AND idempotency_key = 'wallet_payment:upgrade-7781'")
POINTS_JOURNAL=$(src "SELECT id FROM affiliate.journal WHERE program_id = 1 AND idempotency_key = 'points-award-1'")
PAID_WITHDRAWAL=$(src "SELECT id FROM affiliate.withdrawal WHERE program_id = 1 AND provider_ref = 'UTR-431907556218'")
MEMBER_SEQ=$(src "SELECT last_value FROM pg_sequences WHERE schemaname = 'affiliate' AND sequencename = 'member_id_seq'")
COURSE_FIGURES=$(src "
    SELECT string_agg(format('%s/%s/%s:%s,%s,%s,%s,%s,%s', e.program_id, e.member_id, e.course_id, f.topics_done,
                             f.topics_total, f.percent, f.assessments_passed, f.assessments_required, f.completed),
                      ' ' ORDER BY e.program_id, e.member_id, e.course_id)
      FROM affiliate.enrollment e, LATERAL affiliate.course_progress(e.program_id, e.member_id, e.course_id) f")
MAX_MEMBER=$(src "SELECT max(id) FROM affiliate.member")
# every certificate with what verify_certificate says of it (valid, revoked)
CERTS=$(src "
    SELECT string_agg(format('%s:%s:%s', c.number, v.status, v.key_id), ' ' ORDER BY c.program_id, c.id)
      FROM affiliate.certificate c, LATERAL affiliate.verify_certificate(c.program_id, c.number) v")
CERT_KEY=$(src "SELECT id FROM affiliate.signing_key WHERE program_id = 2 AND retired_at IS NULL")
for v in REPLAY_BUYER REPLAY_AT REPLAY_COMMISSIONS PAY_JOURNAL POINTS_JOURNAL PAID_WITHDRAWAL MEMBER_SEQ MAX_MEMBER \
         COURSE_FIGURES CERTS CERT_KEY; do
    if [ -z "${!v}" ]; then echo "backup_restore: FAILED: the data set has no $v"; exit 1; fi
done
if [ "$MEMBER_SEQ" -le "$MAX_MEMBER" ]; then
    fail "the data set should leave member_id_seq ($MEMBER_SEQ) ahead of the largest member id ($MAX_MEMBER)"
fi

# ---- 2. pg_dump ------------------------------------------------------------
pg_dump -Fc -d "$SRC_DB" -f "$WORK/db.dump" 2>"$WORK/dump.err" || {
    cat "$WORK/dump.err"; echo "backup_restore: FAILED: pg_dump"; exit 1; }
# pg_dump warns about member's foreign key to itself (the sponsor); the rows
# load in one COPY, and the key is checked at its end
grep -v -e 'circular foreign-key constraints' -e 'detail: member$' \
        -e 'You might not be able to restore' -e 'Consider using a full dump' "$WORK/dump.err" || true
echo "backup_restore: pg_dump -Fc: $(stat -c %s "$WORK/db.dump") bytes;" \
     "$(pg_restore -l "$WORK/db.dump" | grep -c ' TABLE DATA affiliate ') tables and" \
     "$(pg_restore -l "$WORK/db.dump" | grep -c ' SEQUENCE SET affiliate ') sequences with data"

# ---- 3. the checks on a restored database ----------------------------------
# verify_restored LABEL -- PGHOST/PGPORT/PGDATABASE name the restored database
verify_restored() {
    local label=$1 db=$PGDATABASE
    echo "---- $label"
    q -d "$db" -f test/drivers/backup_fingerprint.sql >"$WORK/$label.fp"
    if diff -u "$WORK/source.fp" "$WORK/$label.fp" >"$WORK/$label.diff"; then
        echo "ok   fingerprint identical ($(wc -l <"$WORK/$label.fp") lines: tables, sequences, balances, balance_at, wallets, verify)"
    else
        fail "fingerprint differs from the source:"
        head -40 "$WORK/$label.diff" | sed 's/^/    /'
    fi
    check "verify() is empty" "$db" "SELECT invariant || ': ' || detail FROM affiliate.verify()"

    # replays first, while the data is as dumped: the originals come back and
    # nothing is written
    check "replayed conversion $REPLAY_ORDER returns the original commissions and writes nothing" "$db" "
        WITH before AS (SELECT count(*) AS j FROM affiliate.journal),
             r AS (SELECT string_agg(format('%s:%s:%s:%s:%s', c.id, c.beneficiary_id, c.level, c.amount, c.status), ' ' ORDER BY c.id) AS s
                     FROM affiliate.record_conversion(1, '$REPLAY_ORDER', $REPLAY_BUYER, $REPLAY_AMOUNT, $REPLAY_COST,
                                                      '$REPLAY_AT') c)
        SELECT 'replay returned ' || coalesce(r.s, 'nothing') || ', expected $REPLAY_COMMISSIONS'
          FROM r WHERE r.s IS DISTINCT FROM '$REPLAY_COMMISSIONS'
        UNION ALL
        SELECT 'journals ' || before.j || ' -> ' || (SELECT count(*) FROM affiliate.journal)
          FROM before WHERE before.j <> (SELECT count(*) FROM affiliate.journal)"
    check "replayed wallet payment, manual journal, refund and provider reference return the originals" "$db" "
        SELECT 'pay_from_wallet replay: journal ' || j FROM affiliate.pay_from_wallet(1, 3, 6400, 'upgrade-7781') j
         WHERE j <> $PAY_JOURNAL
        UNION ALL
        SELECT 'post_journal replay: journal ' || j
          FROM affiliate.post_journal(1, 'points_award',
                 '[{\"kind\": \"points_issued\", \"asset\": \"POINTS\", \"amount\": -250},
                   {\"member\": 6, \"kind\": \"points\", \"asset\": \"POINTS\", \"amount\": 250}]',
                 'points-award-1', '{\"reason\": \"quiz\"}') j
         WHERE j <> $POINTS_JOURNAL
        UNION ALL
        SELECT 'complete_withdrawal replay: ' || w.status || ' ' || w.provider_ref
          FROM affiliate.complete_withdrawal(1, $PAID_WITHDRAWAL, 'UTR-431907556218') w
         WHERE w.status <> 'paid'
        UNION ALL
        -- (what it returns is the commissions as they are; that it wrote
        -- nothing is checked by the fingerprint below)
        SELECT 'refund replay returned ' || r.n || ' commissions'
          FROM (SELECT count(*) AS n FROM affiliate.refund_conversion(1, 'ott-order-3', 'partial', 6750, 'rf-3-a')) r
         WHERE r.n < 0"
    # (a replay may draw a sequence value before it finds the original, as
    # any INSERT ... ON CONFLICT does: ids have gaps; the rows must not change)
    q -d "$db" -f test/drivers/backup_fingerprint.sql | grep -v '^sequence ' >"$WORK/$label.after-replay.fp"
    if grep -v '^sequence ' "$WORK/source.fp" | diff -u - "$WORK/$label.after-replay.fp" >"$WORK/$label.replay.diff"; then
        echo "ok   the replays wrote nothing (fingerprint unchanged but for sequence positions)"
    else
        fail "the replays changed the data:"
        head -20 "$WORK/$label.replay.diff" | sed 's/^/    /'
    fi
    check "the same order id with another amount is still refused (23505)" "$db" "
        DO \$\$ BEGIN
            PERFORM affiliate.record_conversion(1, '$REPLAY_ORDER', $REPLAY_BUYER, $REPLAY_AMOUNT + 1, $REPLAY_COST);
            RAISE EXCEPTION 'accepted';
        EXCEPTION WHEN unique_violation THEN NULL; END \$\$;"

    # new activity: the sequences continue where the source stopped, the
    # program's hash key is the source's
    check "new member, click, conversion, withdrawal and payment succeed with fresh ids; old hashes match" "$db" "
        CREATE TEMP TABLE seq_before AS
            SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'affiliate';
        SELECT affiliate.add_member(1, 'ott:after-restore',
                                    (SELECT code::text FROM affiliate.member WHERE program_id = 1 AND id = 40),
                                    'device-3', '10.1.0.3') AS m \\gset
        SELECT affiliate.record_click(1, (SELECT code::text FROM affiliate.member WHERE id = :m), 'email',
                                      '192.0.2.4', 'Mozilla/5.0', now(), 'visitor-4') AS k \\gset
        SELECT affiliate.add_member(1, 'ott:after-restore-2',
                                    (SELECT code::text FROM affiliate.member WHERE id = :m)) AS m2 \\gset
        CREATE TEMP TABLE new_commissions AS
            SELECT * FROM affiliate.record_conversion(1, 'ott-order-after-restore', :m2, 13500, 4200);
        SELECT affiliate.request_withdrawal(1, 1, 10000, 'upi', 'asha@okaxis') AS w \\gset
        SELECT status FROM affiliate.approve_withdrawal(1, :w) \\gset
        SELECT status FROM affiliate.complete_withdrawal(1, :w, 'UTR-after-restore') \\gset
        SELECT affiliate.pay_from_wallet(1, 2, 1000, 'after-restore-1') AS pj \\gset
        SELECT 'member ' || :m || ' is not the source sequence $MEMBER_SEQ + 1' WHERE :m <> $MEMBER_SEQ + 1
        UNION ALL
        SELECT 'sequence ' || s.sequencename || ' moved back: ' || b.last_value || ' -> ' || s.last_value
          FROM pg_sequences s JOIN seq_before b USING (sequencename)
         WHERE s.schemaname = 'affiliate' AND s.last_value < b.last_value
        UNION ALL
        SELECT 'new conversion paid ' || count(*) || ' commissions to ' || string_agg(beneficiary_id::text, ',')
          FROM new_commissions HAVING count(*) <> 2 OR array_agg(beneficiary_id ORDER BY level) <> ARRAY[:m, 40]::bigint[]
        UNION ALL
        SELECT 'withdrawal ' || :w || ' ' || :'status'::text WHERE :'status'::text <> 'paid'
        UNION ALL
        SELECT 'device/IP hash of the new member differs from member 3''s (same device and IP)'
          FROM affiliate.member a, affiliate.member b
         WHERE a.program_id = 1 AND a.id = :m AND b.program_id = 1 AND b.id = 3
           AND (a.device_hash IS DISTINCT FROM b.device_hash OR a.ip_hash IS DISTINCT FROM b.ip_hash)
        UNION ALL
        SELECT 'no old click has the IP and device hashes of the new click from the same IP and device'
         WHERE NOT EXISTS (
            SELECT 1 FROM affiliate.click a JOIN affiliate.click b ON b.program_id = a.program_id AND b.id <> a.id
                                                                  AND b.ip_hash = a.ip_hash AND b.device_hash = a.device_hash
             WHERE a.program_id = 1 AND a.id = :k)
        UNION ALL
        SELECT 'destination hash of asha@okaxis differs from the old withdrawal''s'
          FROM affiliate.withdrawal a
         WHERE a.program_id = 1 AND a.id = :w
           AND a.destination_hash IS DISTINCT FROM (SELECT b.destination_hash FROM affiliate.withdrawal b
                                                     WHERE b.program_id = 1 AND b.member_id = 1 AND b.id <> :w
                                                     ORDER BY b.id LIMIT 1)"
    check "the held commissions release, the fold runs, verify() stays empty" "$db" "
        CREATE TEMP TABLE held AS SELECT count(*) AS n FROM affiliate.commission WHERE status = 'pending';
        SELECT affiliate.release_due(now() + interval '8 days') AS released \\gset
        SELECT affiliate.fold_balances() IS NULL AS folded \\gset
        SELECT 'released ' || :released || ' of ' || n || ' held commissions' FROM held WHERE n <> :released OR n = 0
        UNION ALL
        SELECT 'verify: ' || invariant || ': ' || detail FROM affiliate.verify()"
    check "courses: every enrollment's figures as in the source; progress continues without rewinding; a new course gets a fresh id" "$db" "
        SELECT string_agg(format('%s/%s/%s:%s,%s,%s,%s,%s,%s', e.program_id, e.member_id, e.course_id, f.topics_done,
                                 f.topics_total, f.percent, f.assessments_passed, f.assessments_required, f.completed),
                          ' ' ORDER BY e.program_id, e.member_id, e.course_id) AS figures
          FROM affiliate.enrollment e, LATERAL affiliate.course_progress(e.program_id, e.member_id, e.course_id) f \\gset
        SELECT p.program_id, p.member_id, p.topic_id, p.watched_seconds AS before_seconds
          FROM affiliate.topic_progress p WHERE p.completed_at IS NULL ORDER BY 1, 2, 3 LIMIT 1 \\gset
        SELECT r.watched_seconds AS after_seconds, r.completed AS after_completed
          FROM affiliate.record_progress(:program_id, :member_id, :topic_id, 1) r \\gset
        SELECT max(id) AS max_course FROM affiliate.course \\gset
        SELECT affiliate.create_course(:program_id, 'After the restore') AS new_course \\gset
        SELECT 'figures ' || :'figures' || ' <> source $COURSE_FIGURES' WHERE :'figures' <> '$COURSE_FIGURES'
        UNION ALL
        SELECT 'progress rewound: ' || :before_seconds || ' -> ' || :after_seconds || ' ' || :'after_completed'
         WHERE :after_seconds <> :before_seconds OR :'after_completed'::boolean
        UNION ALL
        SELECT 'new course id ' || :new_course || ' not after ' || :max_course WHERE :new_course <= :max_course"
    # (after the course figures: this completes a course) the certificates
    # verify as they did (the signing keys came back; the
    # restore made no key or certificate of its own), and a completion
    # issues a new one signed with the source's active key
    check "restored certificates verify as in the source; a new one is signed with the restored key" "$db" "
        SELECT string_agg(format('%s:%s:%s', c.number, v.status, v.key_id), ' ' ORDER BY c.program_id, c.id) AS certs
          FROM affiliate.certificate c, LATERAL affiliate.verify_certificate(c.program_id, c.number) v \\gset
        SELECT count(*) AS progress
          FROM affiliate.member m, affiliate.topic t,
               LATERAL affiliate.record_progress(2, m.id, t.id, 300, true) r
         WHERE m.program_id = 2 AND m.external_id = 'student:3' AND t.program_id = 2
           AND t.module_id IN (SELECT id FROM affiliate.course_module WHERE program_id = 2 AND title = 'Basics'
                                                                          AND course_id = (SELECT id FROM affiliate.course WHERE program_id = 2 AND title = 'Certified SQL')) \\gset
        SELECT passed FROM affiliate.record_assessment(2,
            (SELECT id FROM affiliate.member WHERE program_id = 2 AND external_id = 'student:3'),
            (SELECT id FROM affiliate.course_module WHERE program_id = 2 AND title = 'Quiz'
                AND course_id = (SELECT id FROM affiliate.course WHERE program_id = 2 AND title = 'Certified SQL')), 10, 10) \\gset
        SELECT count(*) AS progress
          FROM affiliate.member m, affiliate.topic t,
               LATERAL affiliate.record_progress(2, m.id, t.id, 300, true) r
         WHERE m.program_id = 2 AND m.external_id = 'student:3' AND t.program_id = 2
           AND t.module_id = (SELECT id FROM affiliate.course_module WHERE program_id = 2 AND title = 'Quiz'
                AND course_id = (SELECT id FROM affiliate.course WHERE program_id = 2 AND title = 'Certified SQL')) \\gset
        SELECT 'certificates after the restore: ' || :'certs' || ' (source: $CERTS)' WHERE :'certs' <> '$CERTS'
        UNION ALL
        SELECT 'student:3 got ' || count(*) || ' certificates' || coalesce(', status ' || string_agg(v.status, ','), '')
               || coalesce(', key ' || string_agg(v.key_id::text, ','), '')
          FROM affiliate.certificate c JOIN affiliate.member m ON m.program_id = c.program_id AND m.id = c.member_id,
               LATERAL affiliate.verify_certificate(c.program_id, c.number) v
         WHERE m.program_id = 2 AND m.external_id = 'student:3'
        HAVING count(*) <> 1 OR bool_or(v.status <> 'valid') OR bool_or(v.key_id <> $CERT_KEY)
        UNION ALL
        SELECT 'program ' || program_id || ' has ' || count(*) || ' active signing keys'
          FROM affiliate.signing_key WHERE retired_at IS NULL GROUP BY program_id HAVING count(*) <> 1"
    check "the HTTP roles work: a member reads their balance, an admin the withdrawal queue" "$db" "
        BEGIN;
        SET LOCAL ROLE affiliate_member;
        SELECT set_config('request.jwt.claims', '{\"role\": \"affiliate_member\", \"program\": 1, \"sub\": \"ott:7\"}', true) IS NULL AS x \\gset
        CREATE TEMP TABLE api_balance AS SELECT * FROM affiliate_api.my_balance();
        COMMIT;
        BEGIN;
        SET LOCAL ROLE affiliate_admin;
        SELECT set_config('request.jwt.claims', '{\"role\": \"affiliate_admin\", \"program\": 1, \"sub\": \"ops@ott\"}', true) IS NULL AS x \\gset
        SELECT count(*) AS queued FROM affiliate_api.withdrawal_queue('approved') \\gset
        COMMIT;
        SELECT format('my_balance %s %s %s <> balance %s %s %s', a.pending, a.available, a.withdrawing,
                      b.pending, b.available, b.withdrawing)
          FROM api_balance a FULL JOIN affiliate.balance(1, 7) b USING (asset)
         WHERE (a.pending, a.available, a.withdrawing) IS DISTINCT FROM (b.pending, b.available, b.withdrawing)
        UNION ALL
        SELECT 'my_balance returned nothing' WHERE NOT EXISTS (SELECT 1 FROM api_balance)
        UNION ALL
        SELECT 'admin sees ' || :queued || ' approved withdrawals, the table holds ' || count(*)
          FROM affiliate.withdrawal WHERE program_id = 1 AND status = 'approved' HAVING count(*) <> :queued OR count(*) = 0"
}

# ---- 4. restore into a fresh cluster ----------------------------------------
pgc_give_to_server "$WORK"
NEW_PORT=$(pgc_free_port "$WORK" /tmp/pg_affiliate_test.* /tmp/pg_affiliate_backup.* \
           "${PG_AFFILIATE_DEMO_DIR:-/tmp/pg_affiliate_demo}")
pgc_create "$WORK/data" "$WORK" "$NEW_PORT" "" "fsync = off" "timezone = 'UTC'" >/dev/null
NEW_DATA="$WORK/data"
pgc_start "$NEW_DATA" "$WORK/server.log" >/dev/null
# (each restore runs in a subshell with its own PGHOST/PGPORT/PGDATABASE)
# shellcheck disable=SC2030,SC2031
(
    export PGHOST=$WORK PGPORT=$NEW_PORT PGDATABASE=restored
    roles=$(q -d postgres -At -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'affiliate\\_%'")
    echo "backup_restore: fresh cluster on port $NEW_PORT: $roles affiliate_* roles before the restore"
    [ "$roles" = 0 ] || { echo "FAIL the fresh cluster already has affiliate_* roles"; exit 1; }
    q -d postgres -c "CREATE DATABASE restored"
    t=$(date +%s.%N)
    pg_restore --exit-on-error -d restored "$WORK/db.dump"
    echo "backup_restore: pg_restore into the fresh cluster: $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s;" \
         "roles now: $(q -d postgres -At -c "SELECT string_agg(rolname, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'affiliate\\_%'")"
    status=0
    verify_restored fresh_cluster
    exit "$status"
) || status=1

# ---- 5. restore into a new database of the same cluster ---------------------
q -d postgres -c "DROP DATABASE IF EXISTS \"$SAME_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$SAME_DB\""
SAME_CREATED=1
# shellcheck disable=SC2030,SC2031
(
    export PGDATABASE=$SAME_DB
    pg_restore --exit-on-error -d "$SAME_DB" "$WORK/db.dump"
    status=0
    verify_restored same_cluster
    exit "$status"
) || status=1

elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "  runtime: ${elapsed}s"
if [ "$status" != 0 ]; then echo "backup_restore: FAILED"; exit 1; fi
echo "backup_restore: passed"
