#!/usr/bin/env bash
# Upgrades with data (issue 7 §4).  For each released version V (0.1.0,
# 0.2.0, 0.3.0, 0.4.0, 0.5.0), in the driver's database:
#   1. CREATE EXTENSION pg_affiliate VERSION 'V' (its frozen script) and load
#      a data set through V's API (test/drivers/upgrade_data_V.sql);
#   2. record every row of every table and view, and every account's
#      balance_at (test/drivers/upgrade_data_check.sql), and what the
#      idempotent calls returned;
#   3. ALTER EXTENSION pg_affiliate UPDATE (to the default version);
#   4. every recorded row is still there, unchanged (new columns aside);
#      verify() is empty; replays of old keyed journals, conversions,
#      refunds, payments and payout references return the originals and
#      write nothing;
#   5. the features of the versions after V work on the old data
#      (test/drivers/upgrade_data_new_api.sql: members join under old
#      members, a plan pays them, release, refund, the old member's wallet
#      and withdrawals, the HTTP API as the old member and as the admin);
#   6. the pgTAP suites (test/pgtap/*.sql: the catalog, grants, row-level
#      security and every HTTP endpoint, 235 tests, each file in a rolled-
#      back transaction) run on the upgraded database — the part of the
#      suite that can run on a database holding data: the pg_regress tests
#      drop and recreate the extension, and the isolation specs start from
#      an empty one;
#   7. pg_dump of the upgraded database restores into a new database with the
#      same fingerprint (test/drivers/backup_fingerprint.sql): an updated
#      install is registered for pg_dump like a fresh one.
# Also: a 0.1.0 member with several accounts (pending and available) updates
# to one member (the 0.1.0 -> 0.2.0 script once drew a volatile code inside
# its DISTINCT and inserted such a member twice).
#
# Environment: PGHOST/PGPORT/PGUSER/PGDATABASE (a database with pg_affiliate
# installed, as test/run.sh provides; the driver drops and recreates the
# extension in it), pgTAP and pg_prove (scripts/install-deps.sh installs
# them).
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${PGDATABASE:?set PGDATABASE to a database with pg_affiliate installed}"
DB=$PGDATABASE
COPY_DB="${DB}_dump"
export PGOPTIONS="-c client_min_messages=warning -c TimeZone=UTC"
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
one() { q -At -F ' ' -c "$1"; }
TARGET=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" pg_affiliate.control)

WORK=$(mktemp -d)
cleanup() {
    set +e
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$COPY_DB\" WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

status=0
fail() { echo "FAIL $*"; status=1; }
ok() { echo "ok   $*"; }
# check_eq GOT WANT OK_MESSAGE FAIL_MESSAGE
check_eq() {
    if [ "$1" = "$2" ]; then ok "$3"; else fail "$4"; fi
}
# check_empty OUTPUT MESSAGE: OUTPUT lists failures
check_empty() {
    if [ -z "$1" ]; then ok "$2"; else fail "$2:"; echo "$1" | head -20 | sed 's/^/    /'; fi
}
t0=$(date +%s.%N)

fresh_extension() {  # VERSION
    q -c "DROP EXTENSION IF EXISTS pg_affiliate CASCADE" -c "CREATE EXTENSION pg_affiliate VERSION '$1'"
}

# ---- a 0.1.0 member with two accounts ----------------------------------------
fresh_extension 0.1.0
one "SELECT affiliate.create_program('two accounts', 'INR')" >/dev/null
one "SELECT affiliate.post_journal(1, 'sale', '[{\"kind\": \"commission_expense\", \"amount\": -900}, {\"member\": 1, \"kind\": \"pending\", \"amount\": 900}]', 'sale-1')" >/dev/null
one "SELECT affiliate.post_journal(1, 'hold_end', '[{\"member\": 1, \"kind\": \"pending\", \"amount\": -900}, {\"member\": 1, \"kind\": \"available\", \"amount\": 900}]', 'hold-1')" >/dev/null
if out=$(q -c "ALTER EXTENSION pg_affiliate UPDATE" 2>&1); then
    check_eq "$(one "SELECT count(*) || ' ' || string_agg(external_id, ',') FROM affiliate.member")" "1 legacy:1" \
        "a 0.1.0 member with two accounts updates to one member" \
        "a 0.1.0 member with two accounts: members after the update: $(one "SELECT string_agg(id || ':' || external_id, ',') FROM affiliate.member")"
    check_eq "$(one "SELECT count(*) FROM affiliate.verify()")" "0" \
        "verify() empty after updating a member with two accounts" "verify() not empty after updating a member with two accounts"
else
    fail "the update of a 0.1.0 member with two accounts failed: $out"
fi

for FROM in 0.1.0 0.2.0 0.3.0 0.4.0 0.5.0; do
    echo "---- from $FROM to $TARGET"
    fresh_extension "$FROM"
    if ! PGOPTIONS="$PGOPTIONS -c pg_affiliate.checkpoint_interval=10" \
            q -f "test/drivers/upgrade_data_$FROM.sql" >"$WORK/load-$FROM.log" 2>&1; then
        cat "$WORK/load-$FROM.log"
        fail "loading the $FROM data set"
        continue
    fi
    echo "  $FROM data: $(one "SELECT string_agg(format('%s %s', c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM affiliate.%I', c.relname), false, true, '')))[1]), ', ' ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'affiliate'::regnamespace AND c.relkind = 'r'")"
    bad=$(one "SELECT count(*) FROM affiliate.verify()")
    [ "$bad" = 0 ] || fail "verify() before the update: $bad rows"

    # what the idempotent calls return before the update
    if [ "$FROM" = 0.1.0 ]; then
        OLD_EXT=legacy:1
        KEY=bonus-7
        REPLAY_JOURNAL="SELECT affiliate.post_journal(1, 'bonus', jsonb_build_array(
                            jsonb_build_object('kind', 'marketing', 'amount', -7000),
                            jsonb_build_object('member', 8, 'kind', 'available', 'amount', 7000)),
                            'bonus-7', jsonb_build_object('campaign', 'launch', 'n', 7))"
    else
        OLD_EXT=m1
        KEY=points-award-1
        REPLAY_JOURNAL="SELECT affiliate.post_journal(1, 'points_award',
                            '[{\"kind\": \"points_issued\", \"asset\": \"POINTS\", \"amount\": -250},
                              {\"member\": 6, \"kind\": \"points\", \"asset\": \"POINTS\", \"amount\": 250}]',
                            'points-award-1', '{\"reason\": \"quiz\"}')"
        ORD_CALL=$(one "SELECT format('affiliate.record_conversion(1, %L, %s, %s, %s, %L, %L)',
                                      external_ref, buyer_id, amount, cost, occurred_at, product)
                          FROM affiliate.conversion WHERE program_id = 1 AND external_ref = 'ord-10'")
        ORD_COMMISSIONS=$(one "SELECT string_agg(format('%s:%s:%s:%s', id, beneficiary_id, level, amount), ' ' ORDER BY id)
                                 FROM affiliate.commission WHERE program_id = 1
                                  AND conversion_id = (SELECT id FROM affiliate.conversion WHERE program_id = 1 AND external_ref = 'ord-10')")
    fi
    KEY_JOURNAL=$(one "SELECT id FROM affiliate.journal WHERE program_id = 1 AND idempotency_key = '$KEY'")

    q -v before=true -f test/drivers/upgrade_data_check.sql | sed 's/^/  /'
    q -c "ALTER EXTENSION pg_affiliate UPDATE"
    version=$(one "SELECT extversion FROM pg_extension WHERE extname = 'pg_affiliate'")
    check_eq "$version" "$TARGET" "ALTER EXTENSION pg_affiliate UPDATE: $FROM -> $version" \
        "ALTER EXTENSION pg_affiliate UPDATE left version $version, not $TARGET"
    q -v before=false -f test/drivers/upgrade_data_check.sql >"$WORK/check-$FROM.out"
    if grep -q '^missing or changed' "$WORK/check-$FROM.out"; then
        fail "the update changed or lost old rows:"
        sed 's/^/    /' "$WORK/check-$FROM.out"
    else
        gained=$(sed -n 's/^gained: //p' "$WORK/check-$FROM.out" | paste -sd, -)
        ok "every old row and balance_at is unchanged${gained:+ (the update added: $gained)}"
    fi
    check_empty "$(one "SELECT invariant || ': ' || detail FROM affiliate.verify()")" "verify() is empty after the update"

    # replays: the originals come back, nothing is written
    journals=$(one "SELECT count(*) FROM affiliate.journal")
    got=$(one "$REPLAY_JOURNAL")
    check_eq "$got" "$KEY_JOURNAL" "replay of the old keyed journal $KEY returns journal $got" \
        "replay of the old keyed journal $KEY returned $got, not $KEY_JOURNAL"
    if [ "$FROM" != 0.1.0 ]; then
        got=$(one "SELECT string_agg(format('%s:%s:%s:%s', id, beneficiary_id, level, amount), ' ' ORDER BY id)
                     FROM $ORD_CALL")
        check_eq "$got" "$ORD_COMMISSIONS" "replay of the old conversion ord-10 returns its commissions ($got)" \
            "replay of the old conversion ord-10 returned '$got', not '$ORD_COMMISSIONS'"
        one "SELECT count(*) FROM affiliate.refund_conversion(1, 'ord-3', 'partial', 6750, 'rf-3-a')" >/dev/null
    fi
    if [ "$FROM" = 0.3.0 ] || [ "$FROM" = 0.4.0 ] || [ "$FROM" = 0.5.0 ]; then
        got=$(one "SELECT affiliate.pay_from_wallet(1, 3, 6400, 'upgrade-7781') =
                          (SELECT id FROM affiliate.journal WHERE program_id = 1 AND idempotency_key = 'wallet_payment:upgrade-7781')")
        check_eq "$got" t "replay of the old wallet payment returns its journal" "replay of the old wallet payment: $got"
        got=$(one "SELECT w.status FROM affiliate.withdrawal x, affiliate.complete_withdrawal(1, x.id, 'UTR-431907556218') w
                    WHERE x.program_id = 1 AND x.provider_ref = 'UTR-431907556218'")
        check_eq "$got" paid "replay of the old payout reference is a no-op" "replay of the old payout reference: $got"
    fi
    after=$(one "SELECT count(*) FROM affiliate.journal")
    check_eq "$after" "$journals" "the replays wrote no journal" "the replays wrote $((after - journals)) journals"

    # the later versions' features on the old data
    if q -v p=1 -v old=1 -v old_ext="$OLD_EXT" -f test/drivers/upgrade_data_new_api.sql >"$WORK/new-$FROM.out" 2>&1; then
        ok "the API of $TARGET on the old data: $(grep -c '^ok' "$WORK/new-$FROM.out") checks (upgrade_data_new_api.sql)"
    else
        sed 's/^/    /' "$WORK/new-$FROM.out"
        fail "the API of $TARGET on the old data"
    fi

    # the pgTAP suites on the upgraded database; api.sql counts what its
    # release_due(now() + 2 days) releases in every program, so the old
    # data's held commissions are released first
    one "SELECT affiliate.release_due(now() + interval '8 days')" >/dev/null
    q -c "CREATE EXTENSION IF NOT EXISTS pgtap"
    if pg_prove -d "$DB" test/pgtap/*.sql >"$WORK/pgtap-$FROM.out" 2>&1; then
        ok "pgTAP on the upgraded database: $(grep -o 'Tests=[0-9]*' "$WORK/pgtap-$FROM.out") ($(cd test/pgtap && echo *.sql))"
    else
        sed 's/^/    /' "$WORK/pgtap-$FROM.out"
        fail "pgTAP on the upgraded database"
    fi
    check_empty "$(one "SELECT invariant || ': ' || detail FROM affiliate.verify()")" "verify() is empty at the end"

    # a dump of the upgraded database carries its data
    q -f test/drivers/backup_fingerprint.sql >"$WORK/fp-$FROM"
    # (pg_dump warns about member's foreign key to itself: see backup_restore.sh)
    pg_dump -Fc -d "$DB" -f "$WORK/dump-$FROM" 2>"$WORK/dump-$FROM.err" || { cat "$WORK/dump-$FROM.err"; exit 1; }
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$COPY_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$COPY_DB\""
    pg_restore --exit-on-error -d "$COPY_DB" "$WORK/dump-$FROM"
    psql -X -q -v ON_ERROR_STOP=1 -d "$COPY_DB" -f test/drivers/backup_fingerprint.sql >"$WORK/fp-$FROM-restored"
    if diff -u "$WORK/fp-$FROM" "$WORK/fp-$FROM-restored" >"$WORK/fp-$FROM.diff"; then
        ok "pg_dump / pg_restore of the upgraded database: same fingerprint ($(wc -l <"$WORK/fp-$FROM") lines)"
    else
        fail "pg_dump / pg_restore of the upgraded database lost data:"
        head -30 "$WORK/fp-$FROM.diff" | sed 's/^/    /'
    fi
done

# leave the driver's database as test/run.sh made it
q -c "DROP EXTENSION IF EXISTS pgtap" -c "DROP EXTENSION pg_affiliate CASCADE" -c "CREATE EXTENSION pg_affiliate"
echo "  runtime: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
if [ "$status" != 0 ]; then echo "upgrade_data: FAILED"; exit 1; fi
echo "upgrade_data: passed"
