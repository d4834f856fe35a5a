-- Loyalty and member status, and award upgrades (issue 9 §1-§3):
-- a blocked member's points are frozen like their wallet: a bill is recorded
-- but earns nothing (points_bill.withheld says why) and does not qualify for
-- tiers; award_points, deduct_points and redeem_reward are refused with 55000
-- and change nothing, but replays of calls made before the block still
-- answer; refund_bill still takes a refunded bill's points back; expiry goes
-- on; the tier job does not upgrade a blocked member.  An inactive member
-- earns and spends points like an active one.  award_points upgrades at once
-- when its points cross a threshold on the points basis.  verify() holds.
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
       (SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.id), '')) FROM affiliate.points_lot l) AS lots,
       (SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.id), '')) FROM affiliate.points_bill b) AS bills,
       (SELECT md5(coalesce(string_agg(d::text, ',' ORDER BY d.id), '')) FROM affiliate.points_deduction d) AS deductions,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM affiliate.reward r) AS rewards,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM affiliate.reward_redemption r) AS redemptions,
       (SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s.member_id), '')) FROM affiliate.tier_member s) AS states,
       (SELECT md5(coalesce(string_agg(h::text, ',' ORDER BY h.id), '')) FROM affiliate.tier_history h) AS history;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
\set history 'SELECT h.reason, f.name AS from_tier, t.name AS to_tier, h.qualifying_value FROM affiliate.tier_history h LEFT JOIN affiliate.tier f ON f.program_id = h.program_id AND f.id = h.from_tier_id LEFT JOIN affiliate.tier t ON t.program_id = h.program_id AND t.id = h.to_tier_id WHERE h.program_id = :p AND h.member_id = :who ORDER BY h.id;'
\set balance 'SELECT balance, usable, pending, shortfall FROM affiliate.points_balance(:p, :who);'

SELECT affiliate.create_program('Status shop', 'INR') AS p \gset
SELECT affiliate.add_member(:p, 'asha') AS asha \gset
SELECT affiliate.add_member(:p, 'ravi') AS ravi \gset
SELECT affiliate.add_member(:p, 'meera') AS meera \gset
SELECT affiliate.add_member(:p, 'kiran') AS kiran \gset
-- 1 point per ₹100 (10000 paise)
SELECT affiliate.set_points_rule(:p, 'bill', 1, 10000);
SELECT affiliate.set_tier(:p, 'Silver', 1, 100, 'points', '12 months', 12500) AS silver \gset
SELECT affiliate.set_tier(:p, 'Gold', 2, 300, 'points', '12 months', 15000) AS gold \gset
SELECT affiliate.set_tier(:p, 'Platinum', 3, 10000000, 'spend', '12 months', 20000) AS platinum \gset
SELECT affiliate.add_reward(:p, 'Coffee', 50, 10) AS coffee \gset

-- ---- award_points upgrades at once ---------------------------------------------
\set who :asha
SELECT affiliate.record_bill(:p, 'a-1', :asha, 600000) AS points;          -- 60 points: no tier
SELECT tier FROM affiliate.member_tier(:p, :asha);
BEGIN;
SELECT affiliate.award_points(:p, :asha, 50, 'welcome back') > 0 AS awarded; -- 110: Silver
-- in the award's own transaction
SELECT tier, qualifying_value FROM affiliate.member_tier(:p, :asha);
:history
COMMIT;
-- an award that crosses two thresholds lands in the highest it reaches
SELECT affiliate.award_points(:p, :asha, 200, 'anniversary', NULL, 'anniv-1') > 0 AS awarded;  -- 310: Gold
:history
-- its replay changes nothing and writes no history
SELECT count(*) AS history_rows FROM affiliate.tier_history WHERE program_id = :p AND member_id = :asha;
SELECT affiliate.award_points(:p, :asha, 200, 'anniversary', NULL, 'anniv-1') > 0 AS replayed;
SELECT count(*) AS history_rows FROM affiliate.tier_history WHERE program_id = :p AND member_id = :asha;
-- points never count towards a spend tier: no upgrade to Platinum
SELECT affiliate.award_points(:p, :asha, 100000, 'huge gift') > 0 AS awarded;
SELECT tier FROM affiliate.member_tier(:p, :asha);
-- a deduction or a redemption never demotes
SELECT affiliate.deduct_points(:p, :asha, 100000, 'gift taken back') > 0 AS deducted;
SELECT tier FROM affiliate.member_tier(:p, :asha);

-- ---- blocked: points frozen ------------------------------------------------------
\set who :ravi
SELECT affiliate.record_bill(:p, 'r-1', :ravi, 900000) AS points;           -- 90 points
SELECT affiliate.award_points(:p, :ravi, 20, 'survey', NULL, 'survey-r') > 0 AS awarded;   -- 110: Silver
SELECT affiliate.deduct_points(:p, :ravi, 5, 'correction', 'corr-r') > 0 AS deducted;
SELECT affiliate.redeem_reward(:p, :ravi, :coffee, 'coffee-r') > 0 AS redeemed;
:balance
SELECT tier FROM affiliate.member_tier(:p, :ravi);
SELECT affiliate.set_member_status(:p, :ravi, 'blocked', 'fraud review');
:save
-- a bill is recorded but earns nothing, and says why
SELECT affiliate.record_bill(:p, 'r-2', :ravi, 5000000) AS points;
SELECT external_ref, amount, points, lot_id, withheld FROM affiliate.points_bill
 WHERE program_id = :p AND member_id = :ravi ORDER BY id;
-- its replay returns the recorded 0
SELECT affiliate.record_bill(:p, 'r-2', :ravi, 5000000) AS points;
:balance
-- award, deduct and redeem: 55000, nothing changes
:save
SELECT affiliate.award_points(:p, :ravi, 10, 'gift');
SELECT affiliate.award_points(:p, :ravi, 10, 'gift', NULL, 'gift-r');
SELECT affiliate.deduct_points(:p, :ravi, 5, 'fee');
SELECT affiliate.deduct_points(:p, :ravi, 5, 'fee', 'fee-r');
SELECT affiliate.redeem_reward(:p, :ravi, :coffee, 'coffee-r2');
:unchanged
-- but the replays of calls made before the block still answer
SELECT affiliate.award_points(:p, :ravi, 20, 'survey', NULL, 'survey-r') > 0 AS award_replayed;
SELECT affiliate.deduct_points(:p, :ravi, 5, 'correction', 'corr-r') > 0 AS deduction_replayed;
SELECT affiliate.redeem_reward(:p, :ravi, :coffee, 'coffee-r') > 0 AS redemption_replayed;
:unchanged
-- a refund takes the refunded bill's points back (the balance is frozen, not protected)
SELECT affiliate.refund_bill(:p, 'r-1', 300000, 'rr-1') AS taken;
:balance
-- the withheld bill refunded: nothing to take back
SELECT affiliate.refund_bill(:p, 'r-2') AS taken;
-- the withheld bill does not qualify: no spend tier from its 50 lakh
SELECT tier, next_tier, qualifying_value FROM affiliate.member_tier(:p, :ravi);
-- the tier job does not upgrade a blocked member either
SELECT affiliate.set_tier(:p, 'Silver', 1, 50, 'points', '12 months', 12500) = :silver AS silver_lowered;
SELECT affiliate.set_tier(:p, 'Gold', 2, 60, 'points', '12 months', 15000) = :gold AS gold_lowered;
SELECT affiliate.review_tiers(now(), :p) AS changed;
SELECT tier FROM affiliate.member_tier(:p, :ravi);
-- ... while asha (already Gold) and meera (no bills) are untouched; active again: the job upgrades ravi
SELECT affiliate.set_member_status(:p, :ravi, 'active', 'cleared');
SELECT affiliate.review_tiers(now(), :p) AS changed;
:history
SELECT affiliate.set_tier(:p, 'Silver', 1, 100, 'points', '12 months', 12500) = :silver AS silver_restored;
SELECT affiliate.set_tier(:p, 'Gold', 2, 300, 'points', '12 months', 15000) = :gold AS gold_restored;

-- expiry goes on for a blocked member
\set who :meera
SELECT affiliate.award_points(:p, :meera, 40, 'short-lived', now() + interval '1 day') > 0 AS awarded;
SELECT affiliate.set_member_status(:p, :meera, 'blocked', NULL);
SELECT affiliate.expire_points(now() + interval '2 days', 100, :p) AS lots_retired;
:balance

-- ---- inactive: like active -------------------------------------------------------
\set who :kiran
SELECT affiliate.set_member_status(:p, :kiran, 'inactive', 'moved away');
SELECT affiliate.record_bill(:p, 'k-1', :kiran, 1200000) AS points;         -- 120: Silver at once
SELECT tier FROM affiliate.member_tier(:p, :kiran);
SELECT affiliate.award_points(:p, :kiran, 10, 'survey') > 0 AS awarded;
SELECT affiliate.deduct_points(:p, :kiran, 5, 'fee') > 0 AS deducted;
SELECT affiliate.redeem_reward(:p, :kiran, :coffee, 'coffee-k') > 0 AS redeemed;
:balance
SELECT withheld IS NULL AS not_withheld FROM affiliate.points_bill WHERE program_id = :p AND external_ref = 'k-1';

SELECT * FROM affiliate.verify();
