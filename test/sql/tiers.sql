-- Loyalty tiers (issue 9 §2): tiers on qualifying points or spend over a
-- rolling window; upgrade at once in the bill's transaction; the tier's
-- multiplier on the next bill; downgrade only by review_tiers() after the
-- grace period, never by spending points; history with reasons; manual
-- assignment; member_tier(); bad inputs refused with their SQLSTATE and
-- changing nothing; verify() holds and reports a tier that disagrees with
-- its history.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a tier call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.program_id, t.id), '')) FROM affiliate.tier t) AS tiers,
       (SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY p.program_id), '')) FROM affiliate.tier_policy p) AS policies,
       (SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s.program_id, s.member_id), '')) FROM affiliate.tier_member s) AS states,
       (SELECT md5(coalesce(string_agg(h::text, ',' ORDER BY h.program_id, h.id), '')) FROM affiliate.tier_history h) AS history;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
-- a member's tier history, by name
\set history 'SELECT h.reason, f.name AS from_tier, t.name AS to_tier, h.qualifying_value FROM affiliate.tier_history h LEFT JOIN affiliate.tier f ON f.program_id = h.program_id AND f.id = h.from_tier_id LEFT JOIN affiliate.tier t ON t.program_id = h.program_id AND t.id = h.to_tier_id WHERE h.program_id = :p AND h.member_id = :who ORDER BY h.id;'
\set tier 'SELECT tier, rank, multiplier_bp, benefits, next_tier, next_basis, qualifying_value, next_threshold FROM affiliate.member_tier(:p, :who);'

SELECT affiliate.create_program('Tiered shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT affiliate.add_member(:p, 'asha') AS m \gset
SELECT affiliate.add_member(:p, 'ravi') AS m2 \gset
SELECT affiliate.add_member(:p, 'meera') AS m3 \gset
SELECT affiliate.add_member(:p2, 'other') AS o \gset
-- 1 point per ₹100 (10000 paise)
SELECT affiliate.set_points_rule(:p, 'bill', 1, 10000);

-- ---- tiers -------------------------------------------------------------------
SELECT affiliate.set_tier(:p, 'Silver', 1, 100, 'points', '12 months', 12500, '{"free_delivery": true}') AS silver \gset
SELECT affiliate.set_tier(:p, 'Gold', 2, 500, 'points', '12 months', 15000) AS gold \gset
SELECT affiliate.set_tier(:p, 'Platinum', 3, 5000000, 'spend', '6 months', 20000, '{"lounge": true}') AS platinum \gset
-- changing a tier keeps its id
SELECT affiliate.set_tier(:p, 'Gold', 2, 400, 'points', '12 months', 15000, '{"gift": "mug"}') = :gold AS same_id;
SELECT name, rank, threshold, basis, qualifying_window, multiplier_bp, benefits
  FROM affiliate.tier WHERE program_id = :p ORDER BY rank;
SELECT affiliate.set_tier_policy(:p, '30 days');
SELECT action, detail->>'name' AS name, detail->>'threshold' AS threshold
  FROM affiliate.audit_log WHERE program_id = :p AND action IN ('set_tier', 'set_tier_policy') ORDER BY id;

-- ---- upgrade at once, within the bill's transaction --------------------------
\set who :m
SELECT affiliate.record_bill(:p, 'b-1', :m, 800000) AS points;   -- 80 points: no tier yet
:tier
BEGIN;
SELECT affiliate.record_bill(:p, 'b-2', :m, 300000) AS points;   -- 110 points: Silver
-- the same transaction sees the new tier and its history row
SELECT t.name FROM affiliate.tier_member s JOIN affiliate.tier t ON t.program_id = s.program_id AND t.id = s.tier_id
 WHERE s.program_id = :p AND s.member_id = :m;
ROLLBACK;
-- rolled back: neither the bill nor the tier
SELECT count(*) AS states FROM affiliate.tier_member WHERE program_id = :p AND member_id = :m AND tier_id IS NOT NULL;
SELECT count(*) AS history FROM affiliate.tier_history WHERE program_id = :p;
BEGIN;
SELECT affiliate.record_bill(:p, 'b-2', :m, 300000) AS points;
:tier
COMMIT;
:history
-- a replayed bill changes nothing
:save
SELECT affiliate.record_bill(:p, 'b-2', :m, 300000) AS points;
:unchanged

-- ---- the multiplier on the next bill -----------------------------------------
-- ₹400 = 40 points × 1.25 (Silver) = 50
SELECT affiliate.record_bill(:p, 'b-3', :m, 400000) AS points;
:tier

-- ---- spending never demotes ---------------------------------------------------
SELECT affiliate.deduct_points(:p, :m, 160, 'voucher') IS NOT NULL AS deducted;
SELECT usable FROM affiliate.points_balance(:p, :m);
:save
SELECT affiliate.review_tiers() AS changed;
SELECT affiliate.review_tiers(now() + interval '11 months') AS changed;
:unchanged
:tier

-- ---- an award counts and upgrades at once; the job has nothing left to do -----
SELECT affiliate.award_points(:p, :m, 300, 'anniversary') IS NOT NULL AS awarded;
SELECT tier FROM affiliate.member_tier(:p, :m);
SELECT affiliate.review_tiers(now(), :p) AS changed;
:tier
:history

-- ---- manual -------------------------------------------------------------------
\set who :m3
SELECT affiliate.set_member_tier(:p, :m3, 'Gold');
:history
SELECT tier, round(extract(epoch FROM downgrade_possible_at - now()) / 86400) AS downgrade_in_days FROM affiliate.member_tier(:p, :m3);
SELECT action, detail->>'tier' AS tier FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_member_tier';
-- the same tier again: nothing changes
:save
SELECT affiliate.set_member_tier(:p, :m3, 'Gold');
:unchanged
SELECT affiliate.review_tiers(now() + interval '29 days', :p) AS changed;
SELECT affiliate.review_tiers(now() + interval '31 days', :p) AS changed;
:history
SELECT tier, downgrade_possible_at FROM affiliate.member_tier(:p, :m3);

-- ---- spend basis: straight to Platinum, then down after the grace period -----
\set who :m2
SELECT affiliate.record_bill(:p, 'r-1', :m2, 5000000) AS points;   -- ₹50 000: 500 points, spend 5 000 000
:tier
:history
-- qualifies for Platinum until 6 months from now; the grace period adds 30 days
SELECT t.downgrade_possible_at = b.occurred_at + interval '6 months' + interval '30 days' AS six_months_and_grace
  FROM affiliate.member_tier(:p, :m2) t, affiliate.points_bill b WHERE b.program_id = :p AND b.external_ref = 'r-1';
SELECT affiliate.review_tiers(now() + interval '6 months 29 days', :p) AS changed;
SELECT tier FROM affiliate.member_tier(:p, :m2);
-- past the grace period: down to the highest tier still qualified (Gold, on
-- 500 points over 12 months)
SELECT affiliate.review_tiers(now() + interval '6 months 31 days', :p) AS changed;
:history
SELECT s.since > now() + interval '6 months 30 days' AS since_the_review FROM affiliate.tier_member s WHERE s.program_id = :p AND s.member_id = :m2;

-- a review dated before the member's last change changes nothing
SELECT affiliate.review_tiers(now(), :p) AS changed;
-- ---- programs are separate ----------------------------------------------------
SELECT affiliate.set_points_rule(:p2, 'bill', 1, 100);
SELECT affiliate.record_bill(:p2, 'o-1', :o, 100000) AS points;   -- no tiers in p2: plain points
SELECT count(*) AS states FROM affiliate.tier_member WHERE program_id = :p2;
SELECT tier, multiplier_bp, next_tier FROM affiliate.member_tier(:p2, :o);

-- ---- bad inputs: the SQLSTATE, and nothing changes ----------------------------
\set VERBOSITY sqlstate
:save
SELECT affiliate.set_tier(:p, NULL, 4, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, '', 4, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, repeat('x', 65), 4, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', NULL, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', -1, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 1001, 1, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 4, -1, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1000000000000001, 'points', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'visits', '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, NULL, '1 month');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '0');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '-1 day');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '101 years');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', -1);
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', 1000001);
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', NULL);
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', 10000, '[]');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', 10000, '"gold"');
SELECT affiliate.set_tier(:p, 'Diamond', 4, 1, 'points', '1 month', 10000, NULL);
SELECT affiliate.set_tier(:p, 'Diamond', 2, 1, 'points', '1 month');   -- rank of Gold
SELECT affiliate.set_tier(-1, 'Diamond', 4, 1, 'points', '1 month');
SELECT affiliate.set_tier_policy(:p, '-1 day');
SELECT affiliate.set_tier_policy(:p, '101 years');
SELECT affiliate.set_tier_policy(:p, NULL);
SELECT affiliate.set_tier_policy(-1, '1 day');
SELECT affiliate.set_member_tier(:p, :m, 'Diamond');
SELECT affiliate.set_member_tier(:p, :m, NULL);
SELECT affiliate.set_member_tier(:p, :o, 'Gold');
SELECT affiliate.set_member_tier(:p2, :o, 'Gold');
SELECT affiliate.review_tiers(NULL);
SELECT affiliate.review_tiers('infinity');
SELECT affiliate.review_tiers(now(), -1);
SELECT * FROM affiliate.member_tier(:p, :o);
SELECT * FROM affiliate.member_tier(:p, NULL);
SELECT * FROM affiliate.member_tier(-1, :m);
\set VERBOSITY terse
:unchanged

-- ---- verify() -----------------------------------------------------------------
SELECT * FROM affiliate.verify();
-- a tier that disagrees with the history is reported
BEGIN;
UPDATE affiliate.tier_member SET tier_id = :silver WHERE program_id = :p AND member_id = :m2;
SELECT invariant FROM affiliate.verify(:p);
ROLLBACK;
