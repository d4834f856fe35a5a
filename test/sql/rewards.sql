-- Rewards (issue 9 §3): a catalog priced in points with stock, a validity
-- window and a per-member limit (add_reward, set_reward: admin, audited);
-- redeem_reward consumes usable points soonest-expiring first into
-- loyalty_redeemed, decrements the stock, is idempotent on request_ref;
-- every refusal has its SQLSTATE and changes nothing; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a rewards call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.program_id, r.id), '')) FROM affiliate.reward r) AS rewards,
       (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.program_id, x.id), '')) FROM affiliate.reward_redemption x) AS redemptions,
       (SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.program_id, l.id), '')) FROM affiliate.points_lot l) AS lots;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
\set lots 'SELECT id, points, remaining, reason FROM affiliate.points_lot WHERE program_id = :p AND member_id = :m ORDER BY id;'

SELECT affiliate.create_program('Reward shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT affiliate.add_member(:p, 'asha') AS m \gset
SELECT affiliate.add_member(:p, 'ravi') AS m2 \gset
SELECT affiliate.add_member(:p2, 'other') AS o \gset

-- ---- the catalog ----------------------------------------------------------------
SELECT affiliate.add_reward(:p, 'Coffee mug', 100) AS mug \gset
SELECT affiliate.add_reward(:p, 'Headphones', 300, 2, NULL, NULL, 1) AS phones \gset
SELECT affiliate.add_reward(:p, 'Summer voucher', 50, NULL, now() + interval '1 day', now() + interval '30 days') AS future \gset
SELECT affiliate.add_reward(:p, 'Spring voucher', 50, NULL, now() - interval '30 days', now() - interval '1 day') AS past \gset
SELECT affiliate.add_reward(:p2, 'Coffee mug', 10) AS other_mug \gset
SELECT name, cost_points, stock, per_member_limit, active FROM affiliate.reward WHERE program_id = :p ORDER BY id;
SELECT action, detail->>'name' AS name, detail->'stock' AS stock, detail->'per_member_limit' AS lim
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'add_reward' ORDER BY id;
-- refused: nothing changes
:save
SELECT affiliate.add_reward(:p, 'Coffee mug', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, 'Free', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, 'Neg stock', 10, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, 'No limit', 10, NULL, NULL, NULL, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, 'Backwards', 10, NULL, now(), now() - interval '1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, 'Forever', 10, NULL, NULL, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, '', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(:p, NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_reward(999999, 'Nowhere', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_reward(:p, :other_mug, 'x', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_reward(:p, :phones, 'Coffee mug', 10);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- points to spend ----------------------------------------------------------
-- three lots: 200 expiring in 60 days, 150 in 10 days, 100 in 30 days; the
-- one expiring soonest is consumed first
SELECT affiliate.award_points(:p, :m, 200, 'late', now() + interval '60 days') IS NOT NULL AS ok;
SELECT affiliate.award_points(:p, :m, 150, 'soon', now() + interval '10 days') IS NOT NULL AS ok;
SELECT affiliate.award_points(:p, :m, 100, 'middle', now() + interval '30 days') IS NOT NULL AS ok;
SELECT affiliate.award_points(:p, :m2, 1000, 'ravi') IS NOT NULL AS ok;
SELECT balance, usable FROM affiliate.points_balance(:p, :m);

-- ---- redeem ---------------------------------------------------------------------
SELECT affiliate.redeem_reward(:p, :m, :mug, 'req-1') AS r1 \gset
:lots
SELECT affiliate.redeem_reward(:p, :m, :phones, 'req-2') AS r2 \gset
-- 100 + 300 taken: soon (150) first, then middle (100), then 150 of late
:lots
SELECT balance, usable FROM affiliate.points_balance(:p, :m);
SELECT x.id = :r1 AS first, r.name, x.points, j.kind, j.memo->>'request_ref' AS ref
  FROM affiliate.reward_redemption x
  JOIN affiliate.reward r ON r.program_id = x.program_id AND r.id = x.reward_id
  JOIN affiliate.journal j ON j.program_id = x.program_id AND j.id = x.journal_id
 WHERE x.program_id = :p ORDER BY x.id;
SELECT b.kind, b.balance FROM affiliate.account_balances b
 WHERE b.program_id = :p AND b.asset = 'POINTS' AND b.member_id IS NULL ORDER BY b.kind;
SELECT stock FROM affiliate.reward WHERE program_id = :p AND id = :phones;

-- replays: the same id, nothing written
:save
SELECT affiliate.redeem_reward(:p, :m, :mug, 'req-1') = :r1 AS replay;
SELECT affiliate.redeem_reward(:p, :m, :phones, 'req-2') = :r2 AS replay_even_at_the_limit;
:unchanged
-- the same request_ref with other inputs: 23505
SELECT affiliate.redeem_reward(:p, :m2, :mug, 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, :m, :phones, 'req-1');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- refusals change nothing ----------------------------------------------------
-- per-member limit (1 headphones per member): 23514
SELECT affiliate.redeem_reward(:p, :m, :phones, 'req-3');
\echo :LAST_ERROR_SQLSTATE
-- not enough usable points (50 left, mug costs 100): 23514
SELECT affiliate.redeem_reward(:p, :m, :mug, 'req-4');
\echo :LAST_ERROR_SQLSTATE
-- outside the window: 55000
SELECT affiliate.redeem_reward(:p, :m2, :future, 'req-5');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, :m2, :past, 'req-6');
\echo :LAST_ERROR_SQLSTATE
-- unknown reward, reward of another program, member of another program: P0002
SELECT affiliate.redeem_reward(:p, :m2, 999999, 'req-7');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, :m2, :other_mug, 'req-8');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, :o, :mug, 'req-9');
\echo :LAST_ERROR_SQLSTATE
-- bad arguments
SELECT affiliate.redeem_reward(:p, :m2, :mug, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, :m2, :mug, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.redeem_reward(:p, NULL, :mug, 'req-10');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- the last unit goes to ravi; then out of stock: 55000
SELECT affiliate.redeem_reward(:p, :m2, :phones, 'req-11') IS NOT NULL AS redeemed;
SELECT stock FROM affiliate.reward WHERE program_id = :p AND id = :phones;
:save
SELECT affiliate.add_member(:p, 'kiran') AS m3 \gset
SELECT affiliate.award_points(:p, :m3, 500, 'kiran') IS NOT NULL AS ok;
:save
SELECT affiliate.redeem_reward(:p, :m3, :phones, 'req-12');
\echo :LAST_ERROR_SQLSTATE
:unchanged
-- the stock can never go negative
UPDATE affiliate.reward SET stock = -1 WHERE program_id = :p AND id = :phones;
\echo :LAST_ERROR_SQLSTATE

-- ---- set_reward: restock, raise the limit, deactivate ----------------------------
SELECT affiliate.set_reward(:p, :phones, 'Headphones', 300, 5, NULL, NULL, 2);
SELECT affiliate.redeem_reward(:p, :m3, :phones, 'req-13') IS NOT NULL AS redeemed;
SELECT name, cost_points, stock, per_member_limit, active FROM affiliate.reward WHERE program_id = :p AND id = :phones;
SELECT affiliate.set_reward(:p, :mug, 'Coffee mug', 100, NULL, NULL, NULL, NULL, false);
:save
SELECT affiliate.redeem_reward(:p, :m2, :mug, 'req-14');
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT action, detail->>'name' AS name, detail->'stock' AS stock, detail->'active' AS active
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_reward' ORDER BY id;
-- a redemption made before deactivation still replays
SELECT affiliate.redeem_reward(:p, :m, :mug, 'req-1') = :r1 AS replay_after_deactivation;

-- ---- pending and expired points do not count ------------------------------------
SELECT affiliate.add_member(:p, 'meena') AS m4 \gset
SELECT affiliate.set_points_rule(:p, 'bill', 1, 100);
SELECT affiliate.set_points_policy(:p, '12 months', 7);
SELECT affiliate.record_bill(:p, 'inv-1', :m4, 50000) AS points;
SELECT affiliate.set_reward(:p, :mug, 'Coffee mug', 100);
:save
SELECT affiliate.redeem_reward(:p, :m4, :mug, 'req-15');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- verify ---------------------------------------------------------------------
SELECT * FROM affiliate.verify();
SELECT count(*) AS redemptions, sum(points) AS points FROM affiliate.reward_redemption WHERE program_id = :p;
-- a redemption without its points in the ledger is reported
BEGIN;
UPDATE affiliate.reward_redemption SET points = points + 1 WHERE program_id = :p AND id = :r1;
SELECT invariant, detail FROM affiliate.verify();
ROLLBACK;
SELECT * FROM affiliate.verify();
