-- Journals and postings are append-only; the extension's objects are not
-- open to PUBLIC.
-- a fresh extension per file: ids in the output do not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default

SELECT affiliate.create_program('Append shop', 'INR') AS p \gset
-- members exist before their accounts (foreign key since 0.2.0); inserted directly,
-- not by add_member(), so no accounts are created and account ids stay as they were
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
SELECT :p, i, 'm' || i, affiliate.new_refcode() FROM unnest(ARRAY[1, 2]) i;
SELECT affiliate.post_journal(:p, 'fund',
    '[{"member": 1, "kind": "available", "amount": 500}, {"kind": "revenue", "amount": -500}]') AS j \gset

-- even the owner cannot rewrite history
UPDATE affiliate.posting SET amount = 5000 WHERE program_id = :p;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM affiliate.posting WHERE program_id = :p;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE affiliate.posting;
\echo :LAST_ERROR_SQLSTATE
UPDATE affiliate.journal SET kind = 'other' WHERE program_id = :p;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM affiliate.journal WHERE program_id = :p;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE affiliate.journal CASCADE;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS postings, sum(amount) AS total FROM affiliate.posting WHERE program_id = :p;

-- a reversing journal is how a mistake is corrected
SELECT affiliate.post_journal(:p, 'reversal',
    '[{"member": 1, "kind": "available", "amount": -500}, {"kind": "revenue", "amount": 500}]',
    NULL, jsonb_build_object('reverses', :j)) IS NOT NULL AS reversed;
SELECT member_id, kind, balance FROM affiliate.account_balances WHERE program_id = :p ORDER BY kind;

-- nothing is granted to PUBLIC
CREATE ROLE affiliate_test_nobody NOLOGIN;
SET ROLE affiliate_test_nobody;
SELECT affiliate.create_program('Sneaky', 'INR');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.posting;
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.post_journal(1, 'x', '[]');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- affiliate_operator calls the API (SECURITY DEFINER) and reads, but cannot write tables directly
CREATE ROLE affiliate_test_admin NOLOGIN IN ROLE affiliate_operator;
SET ROLE affiliate_test_admin;
SELECT affiliate.post_journal(:p, 'fund',
    '[{"member": 2, "kind": "available", "amount": 70}, {"kind": "revenue", "amount": -70}]') IS NOT NULL AS posted;
SELECT actor, db_role, action FROM affiliate.audit_log WHERE program_id = :p ORDER BY id DESC LIMIT 1;
INSERT INTO affiliate.posting (program_id, journal_id, account_id, amount, posted_at) VALUES (:p, :j, 1, 1, now());
\echo :LAST_ERROR_SQLSTATE
UPDATE affiliate.account SET balance = 1000000 WHERE program_id = :p;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE affiliate_test_nobody;
DROP ROLE affiliate_test_admin;

-- every SECURITY DEFINER function pins its search_path
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'affiliate' AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');
SELECT count(*) AS violations FROM affiliate.verify();
