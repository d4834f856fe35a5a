-- The posting function: balanced journals, accounts found or created,
-- malformed legs refused without changing anything.
-- a fresh extension per file: ids in the output do not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.account) AS accounts,
       (SELECT count(*) FROM affiliate.audit_log) AS audit_rows,
       (SELECT md5(string_agg(account_id || ':' || balance, ',' ORDER BY account_id))
          FROM affiliate.account_balances) AS balances;

SELECT affiliate.create_program('Ledger shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'USD') AS q \gset
-- members exist before their accounts (foreign key since 0.2.0); inserted directly,
-- not by add_member(), so no accounts are created and account ids stay as they were
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
SELECT :p, i, 'm' || i, affiliate.new_refcode() FROM unnest(ARRAY[7, 8]) i;

-- system accounts (member NULL) may go negative; member accounts may not
SELECT affiliate.ensure_account(:p, NULL, 'revenue') AS revenue \gset
SELECT affiliate.ensure_account(:p, 7, 'available') AS avail7 \gset
SELECT affiliate.ensure_account(:p, NULL, 'revenue') = :revenue AS same_id_again;
SELECT member_id, asset, kind, allow_negative, balance
  FROM affiliate.account_balances WHERE program_id = :p ORDER BY account_id;

-- a simple journal: revenue -> member 7
SELECT affiliate.post_journal(:p, 'manual_credit',
    '[{"member": 7, "kind": "available", "amount": 50000}, {"kind": "revenue", "amount": -50000}]') AS j1 \gset
SELECT kind, idempotency_key, memo FROM affiliate.journal WHERE program_id = :p AND id = :j1;
SELECT a.member_id, a.kind, p.amount
  FROM affiliate.posting p JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
 WHERE p.program_id = :p AND p.journal_id = :j1 ORDER BY p.id;

-- legs by account id; several assets in one journal, each balanced
SELECT affiliate.post_journal(:p, 'bonus', jsonb_build_array(
    jsonb_build_object('account', :avail7, 'amount', 1000),
    jsonb_build_object('account', :revenue, 'amount', -1000),
    '{"member": 7, "kind": "points", "asset": "POINTS", "amount": 250}'::jsonb,
    '{"kind": "points_issued", "asset": "POINTS", "amount": -250}'::jsonb),
    NULL, '{"reason": "welcome bonus"}') IS NOT NULL AS posted;
-- the same account twice in one journal nets out
SELECT affiliate.post_journal(:p, 'netting',
    '[{"member": 7, "kind": "available", "amount": -300}, {"member": 7, "kind": "available", "amount": 200},
      {"kind": "revenue", "amount": 100}]') IS NOT NULL AS posted;
SELECT member_id, asset, kind, balance
  FROM affiliate.account_balances WHERE program_id = :p ORDER BY asset, kind, member_id;
SELECT * FROM affiliate.verify(:p);

-- the admin journal is audited with its legs
SELECT action, detail->>'kind' AS kind, jsonb_array_length(detail->'legs') AS legs
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'post_journal' ORDER BY id;

-- malformed journals are refused and change nothing
SELECT affiliate.ensure_account(:q, NULL, 'revenue') AS q_revenue \gset
SELECT * FROM fingerprint \gset before_
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 100}, {"kind": "revenue", "amount": -99}]');
\echo :LAST_ERROR_SQLSTATE
-- balanced in total but not per asset
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 100}, {"kind": "points_issued", "asset": "POINTS", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 0}, {"kind": "revenue", "amount": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '{"member": 7}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available"}, {"kind": "revenue", "amount": -1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 1.5}, {"kind": "revenue", "amount": -1.5}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": "100"}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "amount": 100, "note": "hi"}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"account": 1, "kind": "available", "amount": 100}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "amount": 100}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "Available", "amount": 100}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"member": 7, "kind": "available", "asset": "inr", "amount": 100}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'Bad Kind', '[{"member": 7, "kind": "available", "amount": 100}, {"kind": "revenue", "amount": -100}]');
\echo :LAST_ERROR_SQLSTATE
-- an account of another program, an unknown account, an unknown program
SELECT affiliate.post_journal(:p, 'x', jsonb_build_array(jsonb_build_object('account', :q_revenue, 'amount', -100), '{"member": 7, "kind": "available", "amount": 100}'::jsonb));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"account": 999999, "amount": -100}, {"member": 7, "kind": "available", "amount": 100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(-5, 'x', '[{"kind": "revenue", "amount": -100}, {"member": 7, "kind": "available", "amount": 100}]');
\echo :LAST_ERROR_SQLSTATE
-- amounts whose sum overflows bigint
SELECT affiliate.post_journal(:p, 'x', '[{"kind": "revenue", "amount": 9223372036854775807}, {"kind": "revenue", "amount": 1}, {"member": 7, "kind": "available", "amount": -1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, 'x', '[{"kind": "revenue", "amount": 9223372036854775808}, {"member": 7, "kind": "available", "amount": -1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(:p, NULL, '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_journals' = :'after_journals' AS same_journals,
       :'before_postings' = :'after_postings' AS same_postings,
       :'before_accounts' = :'after_accounts' AS same_accounts,
       :'before_audit_rows' = :'after_audit_rows' AS same_audit,
       :'before_balances' = :'after_balances' AS same_balances;

-- ensure_account: allow_negative is fixed at creation
SELECT affiliate.ensure_account(:p, 8, 'credit_line', NULL, true) AS credit8 \gset
SELECT affiliate.ensure_account(:p, 8, 'credit_line', NULL, true) = :credit8 AS same;
SELECT affiliate.ensure_account(:p, 8, 'credit_line', NULL, false);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.ensure_account(:p, 8, 'credit_line', 'points');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.ensure_account(:p, 8, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.ensure_account(-1, 8, 'available');
\echo :LAST_ERROR_SQLSTATE

-- a member that does not exist in the program (member 7 exists in :p only):
-- its account cannot be created (23503) and nothing is written.  Last in the
-- file: the refused account insert uses up an account id.
SELECT * FROM fingerprint \gset before_
SELECT affiliate.post_journal(:p, 'x', '[{"kind": "revenue", "amount": -100}, {"member": 9, "kind": "available", "amount": 100}]');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.ensure_account(:q, 7, 'available');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_journals' = :'after_journals' AS same_journals,
       :'before_postings' = :'after_postings' AS same_postings,
       :'before_accounts' = :'after_accounts' AS same_accounts,
       :'before_audit_rows' = :'after_audit_rows' AS same_audit,
       :'before_balances' = :'after_balances' AS same_balances;

SELECT count(*) AS violations FROM affiliate.verify();
