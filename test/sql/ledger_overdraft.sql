-- Overdraft refusal: an account that does not allow a negative balance
-- refuses a debit beyond its balance with 23514, naming the account and the
-- shortfall, and nothing is written.
-- a fresh extension per file: ids in the output do not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.balance_delta) AS deltas,
       (SELECT md5(string_agg(account_id || ':' || balance, ',' ORDER BY account_id))
          FROM affiliate.account_balances) AS balances;

SELECT affiliate.create_program('Overdraft shop', 'INR') AS p \gset
-- members exist before their accounts (foreign key since 0.2.0); inserted directly,
-- not by add_member(), so no accounts are created and account ids stay as they were
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
SELECT :p, i, 'm' || i, affiliate.new_refcode() FROM unnest(ARRAY[1, 2, 3]) i;
SELECT affiliate.post_journal(:p, 'fund',
    '[{"member": 1, "kind": "available", "amount": 1000}, {"kind": "revenue", "amount": -1000}]') IS NOT NULL AS funded;
-- the credit took no lock: it waits as a delta until folded or debited
SELECT count(*) AS unfolded FROM affiliate.balance_delta WHERE program_id = :p;

SELECT * FROM fingerprint \gset before_
SELECT affiliate.post_journal(:p, 'withdraw',
    '[{"member": 1, "kind": "available", "amount": -1500}, {"kind": "payouts", "amount": 1500}]');
\echo :LAST_ERROR_SQLSTATE
-- inside a savepoint: the refusal rolls back to it and the rest goes on
BEGIN;
SAVEPOINT s;
SELECT affiliate.post_journal(:p, 'withdraw',
    '[{"member": 1, "kind": "available", "amount": -1001}, {"kind": "payouts", "amount": 1001}]');
ROLLBACK TO SAVEPOINT s;
COMMIT;
-- an account that never received anything
SELECT affiliate.post_journal(:p, 'withdraw',
    '[{"member": 2, "kind": "available", "amount": -1}, {"kind": "payouts", "amount": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_journals' = :'after_journals' AS same_journals,
       :'before_postings' = :'after_postings' AS same_postings,
       :'before_deltas' = :'after_deltas' AS same_deltas,
       :'before_balances' = :'after_balances' AS same_balances;

-- exactly the balance is fine; the debit folded the pending credit first
SELECT affiliate.post_journal(:p, 'withdraw',
    '[{"member": 1, "kind": "available", "amount": -1000}, {"kind": "payouts", "amount": 1000}]') IS NOT NULL AS posted;
SELECT member_id, kind, balance FROM affiliate.account_balances WHERE program_id = :p ORDER BY kind, member_id;
SELECT a.balance AS stored, (SELECT count(*) FROM affiliate.balance_delta d
                              WHERE d.program_id = a.program_id AND d.account_id = a.id) AS unfolded
  FROM affiliate.account a WHERE a.program_id = :p AND a.member_id = 1;

-- a net debit counts: +300 and -500 on one account in one journal is -200
SELECT affiliate.post_journal(:p, 'fund',
    '[{"member": 1, "kind": "available", "amount": 100}, {"kind": "revenue", "amount": -100}]') IS NOT NULL AS funded;
SELECT affiliate.post_journal(:p, 'mixed',
    '[{"member": 1, "kind": "available", "amount": 300}, {"member": 1, "kind": "available", "amount": -500},
      {"kind": "payouts", "amount": 200}]');
\echo :LAST_ERROR_SQLSTATE

-- system accounts and accounts created with allow_negative may go below zero
SELECT affiliate.ensure_account(:p, 3, 'credit_line', NULL, true) IS NOT NULL AS opened;
SELECT affiliate.post_journal(:p, 'advance',
    '[{"member": 3, "kind": "credit_line", "amount": -700}, {"member": 3, "kind": "available", "amount": 700}]') IS NOT NULL AS posted;
SELECT member_id, kind, allow_negative, balance FROM affiliate.account_balances
 WHERE program_id = :p ORDER BY kind, member_id;
SELECT * FROM affiliate.verify(:p);
