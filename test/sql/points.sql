-- Loyalty points (issue 9 §1): earning rules, bills (idempotent on
-- external_ref, pending period, lifetime), admin awards and deductions
-- (idempotent on source_ref, audited), consumption soonest-expiring first
-- across several lots, the expiry job, refunds of a partly spent bill with
-- the shortfall recorded, points_balance; every bad input is refused with
-- its SQLSTATE and changes nothing; verify() holds throughout.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a points call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.program_id, r.event), '')) FROM affiliate.points_rule r) AS rules,
       (SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY p.program_id), '')) FROM affiliate.points_policy p) AS policies,
       (SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.program_id, l.id), '')) FROM affiliate.points_lot l) AS lots,
       (SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.program_id, b.id), '')) FROM affiliate.points_bill b) AS bills,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.program_id, r.id), '')) FROM affiliate.points_bill_refund r) AS refunds,
       (SELECT md5(coalesce(string_agg(d::text, ',' ORDER BY d.program_id, d.id), '')) FROM affiliate.points_deduction d) AS deductions;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
-- the lots of a member: points, remaining, expired, state
\set lots 'SELECT id, points, remaining, expired_points, reason, source_ref FROM affiliate.points_lot WHERE program_id = :p AND member_id = :m ORDER BY id;'

SELECT affiliate.create_program('Loyal shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT affiliate.add_member(:p, 'asha') AS m \gset
SELECT affiliate.add_member(:p, 'ravi') AS m2 \gset
SELECT affiliate.add_member(:p2, 'other') AS o \gset

-- ---- rules and policy -------------------------------------------------------
-- 1 point per ₹100 (10000 paise); bills pending for 7 days; lots live 12 months
SELECT affiliate.set_points_rule(:p, 'bill', 1, 10000);
SELECT affiliate.set_points_rule(:p, 'signup', 50);
SELECT affiliate.set_points_rule(:p, 'signup', 100);
SELECT affiliate.set_points_policy(:p, '12 months', 7);
SELECT event, points, per_amount FROM affiliate.points_rule WHERE program_id = :p ORDER BY event;
SELECT action, detail FROM affiliate.audit_log WHERE program_id = :p AND action LIKE 'set_points%' ORDER BY id;

-- ---- bills --------------------------------------------------------------------
-- ₹2,599.99: 25 points, pending for 7 days from the bill
SELECT affiliate.record_bill(:p, 'inv-1', :m, 259999, now()) AS points;
-- a bill of 10 days ago: usable (pending over), expires 12 months after the bill
SELECT affiliate.record_bill(:p, 'inv-old', :m, 500000, now() - interval '10 days') AS points;
-- below one point: the bill is recorded, no lot
SELECT affiliate.record_bill(:p, 'inv-small', :m, 9999) AS points;
SELECT external_ref, amount, points, lot_id IS NOT NULL AS has_lot FROM affiliate.points_bill WHERE program_id = :p ORDER BY id;
SELECT l.source_ref, l.points, l.usable_from = b.occurred_at + interval '7 days' AS pending_7_days,
       l.expires_at = b.occurred_at + interval '12 months' AS lifetime
  FROM affiliate.points_lot l JOIN affiliate.points_bill b ON b.program_id = l.program_id AND b.lot_id = l.id
 WHERE l.program_id = :p ORDER BY l.id;
SELECT * FROM affiliate.points_balance(:p, :m);
-- replays: the same points, nothing written
:save
SELECT affiliate.record_bill(:p, 'inv-1', :m, 259999) AS replay_without_time;
SELECT affiliate.record_bill(:p, 'inv-old', :m, 500000, (SELECT occurred_at FROM affiliate.points_bill WHERE program_id = :p AND external_ref = 'inv-old')) AS replay_with_time;
:unchanged
-- different inputs: 23505
SELECT affiliate.record_bill(:p, 'inv-1', :m, 259998);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-1', :m2, 259999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-1', :m, 259999, now() - interval '1 day');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- awards ---------------------------------------------------------------------
-- three lots with different expiries, given out of order
SELECT now() + interval '90 days' AS late \gset
SELECT affiliate.award_points(:p, :m, 30, 'late lot', :'late', 'aw-late') AS lot_late \gset
SELECT affiliate.award_points(:p, :m, 20, 'soon lot', now() + interval '10 days', 'aw-soon') AS lot_soon \gset
SELECT affiliate.award_points(:p, :m, 40, 'middle lot', now() + interval '20 days', 'aw-mid') AS lot_mid \gset
SELECT affiliate.award_points(:p, :m, 5, 'no source ref') IS NOT NULL AS awarded;
:save
SELECT affiliate.award_points(:p, :m, 30, 'late lot', :'late', 'aw-late') = :lot_late AS replay_same_lot;
SELECT affiliate.award_points(:p, :m, 30, 'late lot', NULL, 'aw-late') = :lot_late AS replay_without_expiry;
:unchanged
SELECT affiliate.award_points(:p, :m, 31, 'late lot', :'late', 'aw-late');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 30, 'late lot', now() + interval '91 days', 'aw-late');
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT * FROM affiliate.points_balance(:p, :m);
SELECT count(*) AS award_audits FROM affiliate.audit_log WHERE program_id = :p AND action = 'award_points';

-- ---- deductions: soonest-expiring first --------------------------------------
-- usable: inv-old 50 (expires in ~12 months), late 30, soon 20, mid 40, 5 (12 months)
-- 70 points: soon (20), mid (40), then 10 of late
SELECT affiliate.deduct_points(:p, :m, 70, 'gift card', 'ded-1') AS d1 \gset
:lots
SELECT * FROM affiliate.points_balance(:p, :m);
-- replay: same deduction, nothing changes
:save
SELECT affiliate.deduct_points(:p, :m, 70, 'gift card', 'ded-1') = :d1 AS replay_same_deduction;
:unchanged
SELECT affiliate.deduct_points(:p, :m, 71, 'gift card', 'ded-1');
\echo :LAST_ERROR_SQLSTATE
-- more than usable (pending points do not count): 23514, nothing changes
SELECT affiliate.deduct_points(:p, :m, 96, 'too much');
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT count(*) AS deduct_audits FROM affiliate.audit_log WHERE program_id = :p AND action = 'deduct_points';

-- ---- expiry -----------------------------------------------------------------------
SELECT affiliate.expire_points(now() + interval '1 day') AS lots_expired_none;
-- in 100 days: late (20 left) expires
SELECT affiliate.expire_points(now() + interval '100 days') AS lots_expired;
SELECT affiliate.expire_points(now() + interval '100 days') AS lots_expired_again;
:lots
SELECT j.kind, p.amount FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
 WHERE j.program_id = :p AND j.kind = 'points_expiry' AND a.member_id IS NULL;
SELECT * FROM affiliate.points_balance(:p, :m);

-- ---- refunds of a partly spent bill ----------------------------------------------
-- Asha spends 30: the soonest-expiring lot is inv-old's (50 -> 20 left)
SELECT affiliate.deduct_points(:p, :m, 30, 'voucher', 'ded-2') IS NOT NULL AS spent;
:lots
-- half of inv-old refunded (25 points due): the 20 left in its own lot first,
-- then 5 from the lot expiring next (inv-1's, pending points count here)
SELECT affiliate.refund_bill(:p, 'inv-old', 250000, 'rf-1') AS taken;
:lots
SELECT * FROM affiliate.points_balance(:p, :m);
-- Ravi: a bill of 10 days ago (10 usable points), 8 spent, then refunded in
-- two parts: 5 due, 2 taken and 3 short; the rest (5 due), all short
SELECT affiliate.record_bill(:p, 'inv-r', :m2, 100000, now() - interval '10 days') AS points;
SELECT affiliate.deduct_points(:p, :m2, 8, 'coffee') IS NOT NULL AS spent;
SELECT affiliate.refund_bill(:p, 'inv-r', 50000, 'rf-r1') AS taken;
SELECT affiliate.refund_bill(:p, 'inv-r') AS taken_rest;
SELECT b.external_ref, r.refund_ref, r.amount, r.points, r.taken, r.shortfall
  FROM affiliate.points_bill_refund r JOIN affiliate.points_bill b ON b.program_id = r.program_id AND b.id = r.bill_id
 WHERE r.program_id = :p ORDER BY r.id;
SELECT external_ref, amount, refunded_amount FROM affiliate.points_bill WHERE program_id = :p ORDER BY id;
SELECT * FROM affiliate.points_balance(:p, :m2);
-- replays and refusals
:save
SELECT affiliate.refund_bill(:p, 'inv-old', 250000, 'rf-1') AS replay_taken;
SELECT affiliate.refund_bill(:p, 'inv-old', NULL, 'rf-1') AS replay_without_amount;
:unchanged
SELECT affiliate.refund_bill(:p, 'inv-old', 250001, 'rf-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'inv-1', 250000, 'rf-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'inv-r');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'inv-old', 250001);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'no-such-bill');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p2, 'inv-1');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- bad inputs: each refused with its SQLSTATE, nothing changes ------------------
SELECT affiliate.set_points_rule(:p, 'lottery', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_rule(:p, 'bill', -1, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_rule(:p, 'bill', 1, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_rule(:p, 'signup', 1, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_rule(:p, NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_rule(0, 'bill', 1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_policy(:p, '0 days', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_policy(:p, '-1 day', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_policy(:p, '101 years', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_policy(:p, '1 year', 366);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_points_policy(:p, '1 year', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-bad', :m, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-bad', :m, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-bad', :m, 1000000000000001);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, '', :m, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, repeat('x', 201), :m, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-bad', :o, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, 'inv-bad', :m, 100, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(:p, NULL, :m, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_bill(12345, 'inv-bad', :m, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'inv-1', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.refund_bill(:p, 'inv-1', NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 0, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 1000000000000001, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 10, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 10, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 10, 'past', now() - interval '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :o, 10, 'other program member');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.award_points(:p, :m, 10, 'x', NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.deduct_points(:p, :m, 0, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.deduct_points(:p, :m, -3, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.deduct_points(:p, :m2, 3, 'more than left');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.deduct_points(:p, 0, 1, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.expire_points(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.expire_points(now(), 0);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- the other program is untouched; verify() holds
SELECT count(*) AS other_program_lots FROM affiliate.points_lot WHERE program_id = :p2;
SELECT * FROM affiliate.verify();
-- verify() sees a lot that disagrees with the ledger
BEGIN;
UPDATE affiliate.points_lot SET remaining = remaining + 1 WHERE program_id = :p AND id = :lot_late;
SELECT invariant FROM affiliate.verify();
ROLLBACK;

-- the job's procedure, called directly (tests never wait on the worker):
-- two lots made due by hand are retired, one committed batch at a time
UPDATE affiliate.points_lot SET expires_at = now() - interval '1 second'
 WHERE (program_id, id) IN (SELECT program_id, id FROM affiliate.points_lot
                             WHERE remaining > 0 AND expires_at > now() ORDER BY id LIMIT 2);
SELECT count(*) AS due_lots FROM affiliate.points_lot WHERE remaining > 0 AND expires_at <= now();
CALL affiliate.expire_all_points(1);
SELECT count(*) AS due_lots_after FROM affiliate.points_lot WHERE remaining > 0 AND expires_at <= now();
SELECT * FROM affiliate.verify();
