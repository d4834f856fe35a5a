-- balance_at: exact at any past time, from a checkpoint plus a bounded scan.
-- a fresh extension per file: ids in the output do not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET pg_affiliate.checkpoint_interval = 10;

SELECT affiliate.create_program('History shop', 'INR') AS p \gset
-- members exist before their accounts (foreign key since 0.2.0); inserted directly,
-- not by add_member(), so no accounts are created and account ids stay as they were
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
SELECT :p, i, 'm' || i, affiliate.new_refcode() FROM unnest(ARRAY[1]) i;
CREATE TEMP TABLE moments (n int PRIMARY KEY, at timestamptz);

-- 40 journals, each in its own transaction (posted_at is the transaction
-- start), the fold job every 7; the time after each journal is recorded.
CREATE PROCEDURE pg_temp.history(prog bigint) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..40 LOOP
        PERFORM affiliate.post_journal(prog, 'sale', jsonb_build_array(
            jsonb_build_object('member', 1, 'kind', 'available', 'amount', i * 100),
            jsonb_build_object('kind', 'revenue', 'amount', -i * 100)));
        IF i % 4 = 0 THEN
            PERFORM affiliate.post_journal(prog, 'spend', jsonb_build_array(
                jsonb_build_object('member', 1, 'kind', 'available', 'amount', -150),
                jsonb_build_object('kind', 'payouts', 'amount', 150)));
        END IF;
        IF i % 7 = 0 THEN
            PERFORM affiliate.fold_balances(prog);
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.002);
        INSERT INTO moments VALUES (i, clock_timestamp());
        COMMIT;
    END LOOP;
END $$;
CALL pg_temp.history(:p);

SELECT affiliate.ensure_account(:p, 1, 'available') AS acct \gset
SELECT affiliate.ensure_account(:p, NULL, 'revenue') AS rev \gset
-- checkpoints were written for both the locked and the lock-free account
SELECT account_id = :acct AS member_account, count(*) > 0 AS has_checkpoints
  FROM affiliate.balance_checkpoint WHERE program_id = :p AND account_id IN (:acct, :rev)
 GROUP BY account_id ORDER BY 1;

-- at every recorded moment balance_at equals the sum of postings up to then
SELECT count(*) AS moments,
       count(*) FILTER (WHERE affiliate.balance_at(:p, :acct, m.at) =
           (SELECT coalesce(sum(amount), 0) FROM affiliate.posting
             WHERE program_id = :p AND account_id = :acct AND posted_at <= m.at)) AS member_exact,
       count(*) FILTER (WHERE affiliate.balance_at(:p, :rev, m.at) =
           (SELECT coalesce(sum(amount), 0) FROM affiliate.posting
             WHERE program_id = :p AND account_id = :rev AND posted_at <= m.at)) AS revenue_exact
  FROM moments m;
-- known values: after journal 10, member 1 holds 100*(1+...+10) - 2*150
SELECT affiliate.balance_at(:p, :acct, (SELECT at FROM moments WHERE n = 10)) AS after_10,
       100 * 55 - 2 * 150 AS expected;
-- before anything, and now
SELECT affiliate.balance_at(:p, :acct, '-infinity') AS at_start,
       affiliate.balance_at(:p, :acct, now()) = affiliate.account_balance(:p, :acct) AS now_is_current;

-- an unfolded posting is counted from the delta table, then from the
-- folded balance and checkpoints (late postings, committed after a
-- checkpoint that should hold them, are covered by test/specs/ledger_fold).
BEGIN;
SELECT now() AS t0 \gset
SELECT affiliate.post_journal(:p, 'sale',
    '[{"member": 1, "kind": "available", "amount": 7}, {"kind": "revenue", "amount": -7}]') IS NOT NULL AS posted;
COMMIT;
SELECT count(*) AS unfolded FROM affiliate.balance_delta
 WHERE program_id = :p AND account_id = :acct AND posted_at = :'t0';
-- exact: the unfolded delta is counted by balance_at
SELECT affiliate.balance_at(:p, :acct, :'t0') =
       (SELECT sum(amount) FROM affiliate.posting WHERE program_id = :p AND account_id = :acct AND posted_at <= :'t0') AS exact_before_fold;
SELECT affiliate.fold_balances(:p) > 0 AS folded;
SELECT affiliate.balance_at(:p, :acct, :'t0') =
       (SELECT sum(amount) FROM affiliate.posting WHERE program_id = :p AND account_id = :acct AND posted_at <= :'t0') AS exact_after_fold;
SELECT count(*) AS violations FROM affiliate.verify(:p);

-- errors
SELECT affiliate.balance_at(:p, 999999, now());
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.balance_at(:p, :acct, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.account_balance(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.fold_balances(:p, 0);
\echo :LAST_ERROR_SQLSTATE
