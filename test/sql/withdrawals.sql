-- The withdrawal state machine: requested -> approved -> paid | failed, or
-- requested -> rejected.  Every illegal step is refused (55000, naming both
-- states) and changes nothing; reject and fail give the money back; a paid
-- withdrawal confirmed again with the same provider_ref is a no-op; payout
-- destinations are kept only masked and as a keyed hash; every step writes
-- one journal and one audit row (actor: the JWT subject, else the role);
-- the admin listings; verify() catches withdrawals that disagree with the
-- ledger.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- everything a step could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT md5(string_agg(w::text, ',' ORDER BY w.program_id, w.id)) FROM affiliate.withdrawal w) AS withdrawals,
       (SELECT md5(string_agg(account_id || ':' || balance, ',' ORDER BY account_id))
          FROM affiliate.account_balances) AS balances;

SELECT affiliate.create_program('Payouts', 'INR', '{"hold_period": "0", "min_withdrawal": 1000}') AS p \gset
SELECT affiliate.add_member(:p, 'bob') AS bob \gset
SELECT affiliate.add_member(:p, 'alice') AS alice \gset
SELECT affiliate.add_member(:p, 'carol') AS carol \gset
SELECT affiliate.add_member(:p, 'dev') AS dev \gset
-- ₹1000 each to start with
SELECT count(affiliate.adjust_balance(:p, m, 100000, 'opening balance')) AS funded
  FROM unnest(ARRAY[:bob, :alice, :carol, :dev]::bigint[]) m;

-- ---------------------------------------------------------------------------
-- Requests: available -> withdrawing.  The destination is normalised (white
-- space removed, lower case) and kept masked and hashed.
-- ---------------------------------------------------------------------------
SELECT affiliate.request_withdrawal(:p, :bob, 10000, 'upi', 'Bob@UPI') AS w1 \gset
SELECT affiliate.request_withdrawal(:p, :alice, 20000, 'PayPal', 'alice@example.com') AS w2 \gset
SELECT affiliate.request_withdrawal(:p, :carol, 30000, 'bank', '1234 5678 9012') AS w3 \gset
SELECT affiliate.request_withdrawal(:p, :dev, 5000, 'bank', '123') AS w4 \gset
SELECT affiliate.request_withdrawal(:p, :bob, 7000, 'upi', '@upi') AS w5 \gset
SELECT affiliate.request_withdrawal(:p, :bob, 8000, 'UPI', E' BOB@upi\t') AS w6 \gset
CREATE TEMP TABLE wname (id bigint, name text);
INSERT INTO wname VALUES (:w1, 'w1'), (:w2, 'w2'), (:w3, 'w3'), (:w4, 'w4'), (:w5, 'w5'), (:w6, 'w6');

-- masking: first character and the domain for an @, else the last four
-- characters, and only **** for four characters or fewer
SELECT n.name, m.external_id, w.amount, w.status, w.method, w.destination_masked, w.debt_settled,
       w.decided_at IS NULL AS undecided
  FROM affiliate.withdrawal w JOIN wname n ON n.id = w.id
  JOIN affiliate.member m ON m.program_id = w.program_id AND m.id = w.member_id
 WHERE w.program_id = :p ORDER BY w.id;
SELECT m.external_id, b.* FROM affiliate.member m, affiliate.balance(:p, m.id) b
 WHERE m.program_id = :p ORDER BY m.id;

-- the hash: 32 bytes; the same destination in another case and spacing
-- hashes alike, another destination does not
SELECT bool_and(length(destination_hash) = 32) AS all_32_bytes FROM affiliate.withdrawal;
SELECT (SELECT destination_hash FROM affiliate.withdrawal WHERE id = :w1)
     = (SELECT destination_hash FROM affiliate.withdrawal WHERE id = :w6) AS bob_upi_same,
       (SELECT destination_hash FROM affiliate.withdrawal WHERE id = :w1)
     = (SELECT destination_hash FROM affiliate.withdrawal WHERE id = :w5) AS other_upi_same,
       (SELECT count(DISTINCT destination_hash) FROM affiliate.withdrawal WHERE program_id = :p) AS distinct_hashes;
-- it is keyed: not a plain hash of the destination
SELECT destination_hash <> sha256('bob@upi'::bytea) AND destination_hash <> sha256('Bob@UPI'::bytea)
       AND destination_hash <> sha512('bob@upi'::bytea) AS keyed
  FROM affiliate.withdrawal WHERE id = :w1;
-- and the key is the program's: the same destination in another program
-- hashes differently
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT affiliate.add_member(:p2, 'bob') AS bob2 \gset
SELECT affiliate.adjust_balance(:p2, :bob2, 1000, 'opening balance') IS NOT NULL AS funded;
SELECT affiliate.request_withdrawal(:p2, :bob2, 1000, 'upi', 'bob@upi') AS w_other \gset
SELECT (SELECT destination_hash FROM affiliate.withdrawal WHERE program_id = :p2 AND id = :w_other)
     = (SELECT destination_hash FROM affiliate.withdrawal WHERE program_id = :p AND id = :w1) AS same_across_programs;
-- the destination is never stored in clear: no column for it, and no
-- withdrawal, journal or audit row holds it
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'affiliate' AND table_name = 'withdrawal' AND column_name LIKE '%dest%' ORDER BY column_name;
SELECT count(*) AS withdrawals_with_clear_text FROM affiliate.withdrawal w
 WHERE (to_jsonb(w) - 'destination_hash')::text ~* '(bob@|alice@|1234 ?5678|example\.com.*alice)';
SELECT count(*) AS journals_with_clear_text FROM affiliate.journal j
 WHERE j.memo::text ~* '(bob@|alice@|1234 ?5678)';
SELECT count(*) AS audits_with_clear_text FROM affiliate.audit_log a
 WHERE a.detail::text ~* '(bob@|alice@|1234 ?5678)';

-- ---------------------------------------------------------------------------
-- The legal steps.
-- ---------------------------------------------------------------------------
-- w1: approved (still withdrawing: payable), then paid
SELECT status, decided_at IS NOT NULL AS decided, paid_at IS NULL AS unpaid, provider_ref, reason
  FROM affiliate.approve_withdrawal(:p, :w1);
SELECT * FROM affiliate.balance(:p, :bob);
SELECT status, paid_at IS NOT NULL AS paid, provider_ref, reason
  FROM affiliate.complete_withdrawal(:p, :w1, 'UTR-1001');
SELECT * FROM affiliate.balance(:p, :bob);
-- w2: rejected, the money goes back to available
SELECT * FROM affiliate.balance(:p, :alice);
SELECT status, decided_at IS NOT NULL AS decided, reason FROM affiliate.reject_withdrawal(:p, :w2, 'KYC incomplete');
SELECT * FROM affiliate.balance(:p, :alice);
-- w3: approved, then the bank bounces it: failed, the money goes back
SELECT status FROM affiliate.approve_withdrawal(:p, :w3);
SELECT * FROM affiliate.balance(:p, :carol);
SELECT status, failed_at IS NOT NULL AS failed, paid_at IS NULL AS unpaid, reason FROM affiliate.fail_withdrawal(:p, :w3, 'account closed');
SELECT * FROM affiliate.balance(:p, :carol);
-- w5: approved and left so; w4 and w6 stay requested
SELECT status FROM affiliate.approve_withdrawal(:p, :w5);
SELECT n.name, w.status FROM affiliate.withdrawal w JOIN wname n ON n.id = w.id ORDER BY w.id;
SELECT * FROM affiliate.verify();

-- ---------------------------------------------------------------------------
-- Every illegal step: 55000 naming both states, nothing changed.
-- ---------------------------------------------------------------------------
SELECT f::text AS f FROM fingerprint f \gset before_
-- from requested (w4)
SELECT * FROM affiliate.complete_withdrawal(:p, :w4, 'UTR-2004');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w4, 'too early');
\echo :LAST_ERROR_SQLSTATE
-- from approved (w5)
SELECT * FROM affiliate.approve_withdrawal(:p, :w5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w5, 'too late');
\echo :LAST_ERROR_SQLSTATE
-- from rejected (w2)
SELECT * FROM affiliate.approve_withdrawal(:p, :w2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w2, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w2, 'UTR-2002');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w2, 'again');
\echo :LAST_ERROR_SQLSTATE
-- from paid (w1)
SELECT * FROM affiliate.approve_withdrawal(:p, :w1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w1, 'too late');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w1, 'reversed by the bank');
\echo :LAST_ERROR_SQLSTATE
-- from failed (w3)
SELECT * FROM affiliate.approve_withdrawal(:p, :w3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w3, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w3, 'UTR-2003');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w3, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- ---------------------------------------------------------------------------
-- Confirming a payment again: the same provider_ref returns the row and
-- writes nothing; another provider_ref, or one that paid another
-- withdrawal, is refused.
-- ---------------------------------------------------------------------------
SELECT (SELECT count(*) FROM affiliate.journal WHERE memo->>'withdrawal_id' = :'w1') AS w1_journals,
       (SELECT count(*) FROM affiliate.audit_log WHERE detail->>'withdrawal_id' = :'w1') AS w1_audits;
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT id = :w1 AS w1, status, provider_ref, paid_at IS NOT NULL AS paid
  FROM affiliate.complete_withdrawal(:p, :w1, 'UTR-1001');
SELECT * FROM affiliate.complete_withdrawal(:p, :w1, 'UTR-9999');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w5, 'UTR-1001');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT (SELECT count(*) FROM affiliate.journal WHERE memo->>'withdrawal_id' = :'w1') AS w1_journals,
       (SELECT count(*) FROM affiliate.audit_log WHERE detail->>'withdrawal_id' = :'w1') AS w1_audits;

-- ---------------------------------------------------------------------------
-- Bad arguments: nothing changed.
-- ---------------------------------------------------------------------------
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT * FROM affiliate.approve_withdrawal(NULL, :w4);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.approve_withdrawal(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.approve_withdrawal(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.approve_withdrawal(999999, :w4);
\echo :LAST_ERROR_SQLSTATE
-- a withdrawal of another program
SELECT * FROM affiliate.approve_withdrawal(:p2, :w4);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w4, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w4, '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.reject_withdrawal(:p, :w4, repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w5, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.fail_withdrawal(:p, :w5, '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w5, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w5, '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, :w5, repeat('x', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.complete_withdrawal(:p, 999999, 'UTR-3000');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- ---------------------------------------------------------------------------
-- One journal and one audit row per step.
-- ---------------------------------------------------------------------------
SELECT n.name, j.kind, j.idempotency_key, a.kind AS account, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.journal j
  JOIN wname n ON n.id = (j.memo->>'withdrawal_id')::bigint
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE j.program_id = :p AND j.kind LIKE 'withdrawal%'
 ORDER BY n.name, j.id, p.amount;
SELECT n.name, l.action, l.actor = current_user AS by_current_user, l.db_role = current_user AS db_role,
       (l.detail->>'member_id')::bigint = w.member_id AS member, l.detail->>'amount' AS amount,
       l.detail->>'from' AS from_status, l.detail->>'to' AS to_status,
       l.detail->>'reason' AS reason, l.detail->>'provider_ref' AS provider_ref,
       l.detail->>'method' AS method, l.detail->>'destination' AS destination
  FROM affiliate.audit_log l
  JOIN wname n ON n.id = (l.detail->>'withdrawal_id')::bigint
  JOIN affiliate.withdrawal w ON w.program_id = l.program_id AND w.id = n.id
 WHERE l.program_id = :p AND l.action LIKE '%withdrawal'
 ORDER BY n.name, l.id;
-- journals and audit rows pair up, step by step
SELECT n.name, w.status,
       (SELECT count(*) FROM affiliate.journal j WHERE j.program_id = :p AND j.memo->>'withdrawal_id' = n.id::text) AS journals,
       (SELECT count(*) FROM affiliate.audit_log l WHERE l.program_id = :p AND l.detail->>'withdrawal_id' = n.id::text) AS audits
  FROM wname n JOIN affiliate.withdrawal w ON w.program_id = :p AND w.id = n.id ORDER BY n.name;
-- in the wallet history the reject and the fail are "withdrawal_returned"
-- with the reason; the approval is not listed
SELECT kind, amount, available_balance, withdrawing_balance, reference, withdrawal_id = :w2 AS w2
  FROM affiliate.wallet_transactions(:p, :alice);
SELECT kind, amount, available_balance, withdrawing_balance, reference, withdrawal_id = :w3 AS w3
  FROM affiliate.wallet_transactions(:p, :carol);

-- ---------------------------------------------------------------------------
-- The actor is the JWT subject when PostgREST sets the claims, else the
-- database role.
-- ---------------------------------------------------------------------------
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"admin-7"}', true);
SELECT affiliate.request_withdrawal(:p, :dev, 2000, 'upi', 'dev@okicici') AS w7 \gset
SELECT status FROM affiliate.approve_withdrawal(:p, :w7);
COMMIT;
INSERT INTO wname VALUES (:w7, 'w7');
SELECT status, provider_ref FROM affiliate.complete_withdrawal(:p, :w7, 'UTR-1007');
SELECT action, CASE WHEN actor = current_user THEN 'current_user' ELSE actor END AS actor,
       db_role = current_user AS db_role, detail->>'to' AS to_status
  FROM affiliate.audit_log WHERE program_id = :p AND detail->>'withdrawal_id' = :'w7' ORDER BY id;

-- ---------------------------------------------------------------------------
-- Admin listings: oldest first, by status; totals per status.
-- ---------------------------------------------------------------------------
SELECT n.name, l.external_id, l.member_status, l.asset, l.amount, l.withdrawal_status, l.method,
       l.destination_masked, l.decided_at IS NOT NULL AS decided, l.paid_at IS NOT NULL AS paid,
       l.failed_at IS NOT NULL AS failed, l.provider_ref, l.reason
  FROM affiliate.withdrawals(:p) l JOIN wname n ON n.id = l.withdrawal_id;
SELECT bool_and(requested_at >= prev) AS oldest_first
  FROM (SELECT requested_at, lag(requested_at) OVER () AS prev FROM affiliate.withdrawals(:p)) x
 WHERE prev IS NOT NULL;
SELECT n.name, l.amount FROM affiliate.withdrawals(:p, 'requested') l JOIN wname n ON n.id = l.withdrawal_id;
SELECT n.name, l.amount FROM affiliate.withdrawals(:p, 'approved') l JOIN wname n ON n.id = l.withdrawal_id;
SELECT n.name, l.amount, l.provider_ref FROM affiliate.withdrawals(:p, 'paid') l JOIN wname n ON n.id = l.withdrawal_id;
SELECT n.name, l.amount FROM affiliate.withdrawals(:p, max_rows => 2) l JOIN wname n ON n.id = l.withdrawal_id;
-- a blocked member is shown as such
SELECT affiliate.set_member_status(:p, :dev, 'blocked', 'chargebacks') AS was;
SELECT n.name, l.external_id, l.member_status FROM affiliate.withdrawals(:p, 'requested') l JOIN wname n ON n.id = l.withdrawal_id;
SELECT affiliate.set_member_status(:p, :dev, 'active') AS was;
SELECT t.status, t.asset, t.withdrawals, t.amount, t.members,
       t.oldest = (SELECT min(requested_at) FROM affiliate.withdrawal w WHERE w.program_id = :p AND w.status = t.status) AS oldest
  FROM affiliate.withdrawal_totals(:p) t;
SELECT * FROM affiliate.withdrawals(:p, 'pending');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.withdrawals(:p, max_rows => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.withdrawals(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.withdrawals(999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.withdrawal_totals(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.withdrawal_totals(999999);
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- A blocked member's money is frozen: their withdrawals are not approved or
-- paid (55000, nothing changed), but they can be rejected or failed, which
-- returns the money to the frozen available balance.
-- ---------------------------------------------------------------------------
SELECT affiliate.request_withdrawal(:p, :dev, 2000, 'upi', 'dev@okicici') AS w8 \gset
SELECT affiliate.request_withdrawal(:p, :dev, 3000, 'upi', 'dev@okicici') AS w9 \gset
SELECT status FROM affiliate.approve_withdrawal(:p, :w9);
SELECT affiliate.set_member_status(:p, :dev, 'blocked', 'chargebacks') AS was;
SELECT * FROM affiliate.balance(:p, :dev);
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT status FROM affiliate.approve_withdrawal(:p, :w8);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM affiliate.complete_withdrawal(:p, :w9, 'UTR-BLOCKED');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT status, reason FROM affiliate.reject_withdrawal(:p, :w8, 'member blocked');
SELECT status, reason FROM affiliate.fail_withdrawal(:p, :w9, 'member blocked');
SELECT * FROM affiliate.balance(:p, :dev);
SELECT affiliate.set_member_status(:p, :dev, 'active') AS was;

-- ---------------------------------------------------------------------------
-- The member takes back a withdrawal still requested: cancelled, the money
-- returns to available; one journal, one audit row; nothing else goes from
-- or to cancelled.
-- ---------------------------------------------------------------------------
SELECT * FROM affiliate.balance(:p, :alice);
SELECT affiliate.request_withdrawal(:p, :alice, 4000, 'upi', 'alice@okhdfc') AS w10 \gset
SELECT affiliate.request_withdrawal(:p, :alice, 3000, 'upi', 'alice@okhdfc') AS w11 \gset
SELECT status FROM affiliate.approve_withdrawal(:p, :w11);
SELECT * FROM affiliate.balance(:p, :alice);
SELECT status, decided_at IS NOT NULL AS decided, reason FROM affiliate.cancel_withdrawal(:p, :w10);
SELECT * FROM affiliate.balance(:p, :alice);
SELECT j.kind, j.idempotency_key = 'withdrawal:' || :w10 || ':cancelled' AS key, a.kind AS account, p.amount
  FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
 WHERE j.program_id = :p AND j.kind = 'withdrawal_cancel' ORDER BY p.amount;
SELECT action, detail->>'from' AS from_status, detail->>'to' AS to_status
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'cancel_withdrawal';
SELECT kind, amount, available_balance, withdrawing_balance, reference, withdrawal_id = :w10 AS w10
  FROM affiliate.wallet_transactions(:p, :alice, max_rows => 1);
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT status FROM affiliate.cancel_withdrawal(:p, :w10);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM affiliate.approve_withdrawal(:p, :w10);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM affiliate.cancel_withdrawal(:p, :w11);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM affiliate.cancel_withdrawal(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT status FROM affiliate.cancel_withdrawal(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT withdrawal_id = :w10 AS w10, withdrawal_status FROM affiliate.withdrawals(:p, 'cancelled');
SELECT status, withdrawals, amount FROM affiliate.withdrawal_totals(:p) WHERE status IN ('cancelled', 'approved');
SELECT status FROM affiliate.fail_withdrawal(:p, :w11, 'test over');

-- the wallets at the end
SELECT m.external_id, b.* FROM affiliate.member m, affiliate.balance(:p, m.id) b
 WHERE m.program_id = :p ORDER BY m.id;
SELECT * FROM affiliate.verify();

-- ---------------------------------------------------------------------------
-- verify() catches withdrawals that disagree with the ledger (tampering as
-- the superuser, rolled back).
-- ---------------------------------------------------------------------------
-- a requested withdrawal's amount: dev's withdrawing account holds 5000
BEGIN;
UPDATE affiliate.withdrawal SET amount = amount + 1 WHERE program_id = :p AND id = :w4;
SELECT * FROM affiliate.verify(:p);
ROLLBACK;
-- an approved withdrawal's amount: bob's payable account holds 7000
BEGIN;
UPDATE affiliate.withdrawal SET amount = amount + 1 WHERE program_id = :p AND id = :w5;
SELECT * FROM affiliate.verify(:p);
ROLLBACK;
-- a paid withdrawal's amount: 12000 went to payouts
BEGIN;
UPDATE affiliate.withdrawal SET amount = amount + 1 WHERE program_id = :p AND id = :w1;
SELECT * FROM affiliate.verify(:p);
ROLLBACK;
-- a requested withdrawal marked rejected without its journal
BEGIN;
UPDATE affiliate.withdrawal SET status = 'rejected', decided_at = now(), reason = 'by hand'
 WHERE program_id = :p AND id = :w6;
SELECT * FROM affiliate.verify(:p);
ROLLBACK;
-- a paid withdrawal put back to approved
BEGIN;
UPDATE affiliate.withdrawal SET status = 'approved', paid_at = NULL, provider_ref = NULL
 WHERE program_id = :p AND id = :w1;
SELECT * FROM affiliate.verify(:p);
ROLLBACK;
SELECT * FROM affiliate.verify();
