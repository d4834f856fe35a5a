-- Commission plans and conversions: the OTT shop of DESIGN 4.1 with its exact
-- figures, a 70/30 creator share, an 85/15 marketplace fee, a 20 % affiliate
-- plan that stops after 3 months, a three-level MLM with caps and a flat
-- level, per-product overrides, qualification, idempotent webhooks, the bulk
-- form, and every refused input (which changes nothing).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.conversion) AS conversions,
       (SELECT count(*) FROM affiliate.commission) AS commissions,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.plan) AS plans;

-- ---------------------------------------------------------------------------
-- The OTT shop: ₹135 plan, ₹42 cost, level 1 = 30 % of profit, level 2 = 10 %,
-- whole rupees (amounts in paise, rounding_unit 100), 24 h hold.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "rounding_unit": 100, "min_withdrawal": 50000}') AS ott \gset
SELECT affiliate.add_member(:ott, 'tg:1001') AS asha \gset
SELECT affiliate.add_member(:ott, 'tg:1002', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:ott, 'tg:1003', (SELECT lower(code::text) FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.set_plan(:ott, 'OTT referral', '{3000,1000}', 'profit') AS ott_plan \gset

-- Meena buys: Ravi (level 1) earns ₹28, Asha (level 2) earns ₹9
SELECT beneficiary_id = :ravi AS is_ravi, beneficiary_id = :asha AS is_asha, level, amount, status,
       hold_until = '2026-11-01 10:00+00'::timestamptz + interval '24 hours' AS held_24h
  FROM affiliate.record_conversion(:ott, 'order-1', :meena, 13500, 4200, '2026-11-01 10:00+00')
 ORDER BY level;
SELECT external_ref, amount, cost, referrer_id = :ravi AS referred_by_ravi, status
  FROM affiliate.conversion WHERE program_id = :ott;
-- one journal: commission_expense -> each beneficiary's pending
SELECT j.kind, a.kind AS account, coalesce(a.member_id = :ravi, false) AS ravi, p.amount
  FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
 WHERE j.program_id = :ott ORDER BY p.amount;

-- the webhook is retried: same inputs -> the same commissions, nothing new
SELECT * FROM fingerprint \gset before_
SELECT count(*) AS returned, sum(amount) AS total
  FROM affiliate.record_conversion(:ott, 'order-1', :meena, 13500, 4200, '2026-11-01 10:00+00');
-- a retry without occurred_at matches the recorded time
SELECT count(*) AS returned FROM affiliate.record_conversion(:ott, 'order-1', :meena, 13500, 4200);
SELECT * FROM fingerprint \gset after_
SELECT :'before_commissions' = :'after_commissions' AND :'before_journals' = :'after_journals' AS nothing_new;
-- same external_ref, different inputs: refused
SELECT * FROM affiliate.record_conversion(:ott, 'order-1', :meena, 13600, 4200);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'order-1', :meena, 13500, 4200, '2026-11-02 10:00+00');
\echo :LAST_ERROR_SQLSTATE

-- a member with no sponsor earns nothing for anyone; the platform keeps it all
SELECT count(*) AS commissions FROM affiliate.record_conversion(:ott, 'order-2', :asha, 13500, 4200);
-- Ravi buys: only Asha (his level 1) earns; there is no level 2 above her
SELECT beneficiary_id = :asha AS is_asha, level, amount
  FROM affiliate.record_conversion(:ott, 'order-3', :ravi, 13500, 4200);

-- qualification: a blocked beneficiary earns nothing, the others still do
SELECT affiliate.set_member_status(:ott, :ravi, 'blocked', 'duplicate UPI id') AS was;
SELECT beneficiary_id = :asha AS is_asha, level, amount
  FROM affiliate.record_conversion(:ott, 'order-4', :meena, 13500, 4200);
SELECT affiliate.set_member_status(:ott, :ravi, 'active');
SELECT action, detail->>'old_status' AS old, detail->>'new_status' AS new, detail->>'reason' AS reason
  FROM affiliate.audit_log WHERE program_id = :ott AND action = 'set_member_status' ORDER BY id;

-- per-product override: the annual plan pays 40 % / 5 % of profit
SELECT affiliate.set_plan(:ott, 'OTT annual', '{4000,500}', 'profit', product => 'annual') AS annual \gset
SELECT level, amount, plan_id = :annual AS annual_plan
  FROM affiliate.record_conversion(:ott, 'order-5', :meena, 99900, 30000, product => 'annual') ORDER BY level;
-- other products keep the general plan
SELECT level, amount, plan_id = :ott_plan AS general_plan
  FROM affiliate.record_conversion(:ott, 'order-6', :meena, 13500, 4200, product => 'monthly') ORDER BY level;
-- the newest plan is the active one: a new general plan replaces the old
SELECT affiliate.set_plan(:ott, 'OTT referral v2', '{2500,1500}') AS v2 \gset
SELECT level, amount, plan_id = :v2 AS v2 FROM affiliate.record_conversion(:ott, 'order-7', :meena, 13500, 4200) ORDER BY level;
-- every plan is audited with all its terms
SELECT detail->>'name' AS name, detail->'rates_bp' AS rates, detail->>'product' AS product
  FROM affiliate.audit_log WHERE program_id = :ott AND action = 'set_plan' ORDER BY id;
-- an empty plan stops paying
SELECT affiliate.set_plan(:ott, 'paused', '{}') IS NOT NULL AS paused;
SELECT count(*) AS commissions FROM affiliate.record_conversion(:ott, 'order-8', :meena, 13500, 4200);
SELECT count(*) AS conversions FROM affiliate.conversion WHERE program_id = :ott;

-- ---------------------------------------------------------------------------
-- Creator revenue share 70/30 and a marketplace fee 85/15: seller plans.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('Course platform', 'INR') AS cp \gset
SELECT affiliate.add_member(:cp, 'creator') AS creator \gset
SELECT affiliate.add_member(:cp, 'student') AS student \gset
SELECT affiliate.set_plan(:cp, 'creator share', '{7000}', 'amount', beneficiary => 'seller') IS NOT NULL AS plan;
-- ₹499.99: the creator gets 70 % rounded half up (34999.3 -> 34999), the platform keeps the rest
SELECT beneficiary_id = :creator AS is_creator, level, amount, 49999 - amount AS platform_keeps
  FROM affiliate.record_conversion(:cp, 'c-1', :student, 49999, seller_id => :creator);
-- without a seller, a seller plan pays nothing
SELECT count(*) AS commissions FROM affiliate.record_conversion(:cp, 'c-2', :student, 49999);

SELECT affiliate.create_program('Marketplace', 'INR') AS mk \gset
SELECT affiliate.add_member(:mk, 'vendor') AS vendor \gset
SELECT affiliate.add_member(:mk, 'shopper') AS shopper \gset
SELECT affiliate.set_plan(:mk, 'vendor payout', '{8500}', 'amount', beneficiary => 'seller') IS NOT NULL AS plan;
SELECT amount AS vendor_gets, 120050 - amount AS fee
  FROM affiliate.record_conversion(:mk, 'm-1', :shopper, 120050, seller_id => :vendor);

-- an upline plan and a seller plan on one conversion
SELECT affiliate.add_member(:cp, 'referred student', (SELECT code::text FROM affiliate.member WHERE id = :student)) AS s2 \gset
SELECT affiliate.set_plan(:cp, 'referral', '{1000}', 'amount') IS NOT NULL AS plan;
SELECT level, beneficiary_id = :creator AS creator, beneficiary_id = :student AS referrer, amount
  FROM affiliate.record_conversion(:cp, 'c-3', :s2, 10000, seller_id => :creator) ORDER BY amount DESC;
-- plans that together pay more than the amount are refused at the conversion
SELECT affiliate.set_plan(:cp, 'greedy referral', '{4000}', 'amount') IS NOT NULL AS plan;
SELECT * FROM fingerprint \gset before_
SELECT * FROM affiliate.record_conversion(:cp, 'c-4', :s2, 10000, seller_id => :creator);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_conversions' = :'after_conversions' AND :'before_commissions' = :'after_commissions'
       AND :'before_journals' = :'after_journals' AS nothing_written;

-- ---------------------------------------------------------------------------
-- SaaS affiliates: 20 % of the amount for 3 months after the first payment.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('SaaS', 'USD') AS saas \gset
SELECT affiliate.add_member(:saas, 'affiliate') AS aff \gset
SELECT affiliate.add_member(:saas, 'customer', (SELECT code::text FROM affiliate.member WHERE id = :aff)) AS cust \gset
SELECT affiliate.set_plan(:saas, 'affiliates', '{2000}', 'amount', recurring => '3 months') IS NOT NULL AS plan;
SELECT m AS month, (SELECT coalesce(sum(amount), 0) FROM affiliate.record_conversion(:saas, 'inv-' || m, :cust, 4900, 0,
                        '2026-01-15 00:00+00'::timestamptz + (m - 1) * interval '1 month')) AS paid
  FROM generate_series(1, 5) m;

-- ---------------------------------------------------------------------------
-- A three-level MLM: 10 % / 5 % / 2 % of the amount, level 1 capped at ₹50,
-- level 3 a flat ₹5; a beneficiary needs 2 direct referrals to earn (the
-- unqualified shares stay with the platform).
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('MLM courses', 'INR') AS mlm \gset
SELECT affiliate.add_member(:mlm, 'top') AS top \gset
SELECT affiliate.add_member(:mlm, 'mid', (SELECT code::text FROM affiliate.member WHERE id = :top)) AS mid \gset
SELECT affiliate.add_member(:mlm, 'mid2', (SELECT code::text FROM affiliate.member WHERE id = :top)) IS NOT NULL AS joined;
SELECT affiliate.add_member(:mlm, 'low', (SELECT code::text FROM affiliate.member WHERE id = :mid)) AS low \gset
SELECT affiliate.add_member(:mlm, 'buyer', (SELECT code::text FROM affiliate.member WHERE id = :low)) AS buyer \gset
SELECT affiliate.set_plan(:mlm, 'mlm', '{1000,500,200}', 'amount',
                          flat => '{NULL,NULL,500}', caps => '{5000,NULL,NULL}',
                          qualification => '{"min_direct": 2}') IS NOT NULL AS plan;
-- low and mid have one direct referral each: only top (two) earns, its flat ₹5
SELECT level, beneficiary_id = :top AS is_top, amount
  FROM affiliate.record_conversion(:mlm, 'mlm-1', :buyer, 100000) ORDER BY level;
-- low and mid recruit a second member each: now all three levels earn
SELECT affiliate.add_member(:mlm, 'low2', (SELECT code::text FROM affiliate.member WHERE id = :mid)) IS NOT NULL AS joined;
SELECT affiliate.add_member(:mlm, 'buyer2', (SELECT code::text FROM affiliate.member WHERE id = :low)) IS NOT NULL AS joined;
-- ₹1000: level 1 10 % = ₹100 capped at ₹50, level 2 5 % = ₹50, level 3 flat ₹5
SELECT level, amount FROM affiliate.record_conversion(:mlm, 'mlm-2', :buyer, 100000) ORDER BY level;
-- ₹200: ₹20, ₹10, ₹5
SELECT level, amount FROM affiliate.record_conversion(:mlm, 'mlm-3', :buyer, 20000) ORDER BY level;
-- ₹3: 30 paise, 15 paise, and the flat ₹5 is cut to what is left of the base (255 paise)
SELECT level, amount FROM affiliate.record_conversion(:mlm, 'mlm-4', :buyer, 300) ORDER BY level;

-- ---------------------------------------------------------------------------
-- The bulk form: same rules, set-based, all or nothing.
-- ---------------------------------------------------------------------------
SELECT count(*) AS commissions, sum(amount) AS total
  FROM affiliate.record_conversions(:ott, ARRAY[
        ('bulk-1', :meena, 13500, 4200, '2026-10-01 00:00+00', NULL, NULL),
        ('bulk-2', :meena, 27000, 8400, '2026-10-02 00:00+00', NULL, NULL),
        ('bulk-2', :meena, 27000, 8400, '2026-10-02 00:00+00', NULL, NULL),   -- repeated: once
        ('order-1', :meena, 13500, 4200, '2026-11-01 10:00+00', NULL, NULL)  -- recorded: replayed
       ]::affiliate.conversion_input[]);
SELECT count(*) FROM affiliate.conversion WHERE program_id = :ott AND external_ref LIKE 'bulk-%';
-- one bad row refuses the whole batch
SELECT * FROM fingerprint \gset before_
SELECT * FROM affiliate.record_conversions(:ott, ARRAY[
        ('bulk-3', :meena, 13500, 4200, NULL, NULL, NULL),
        ('bulk-4', :meena, -5, 0, NULL, NULL, NULL)]::affiliate.conversion_input[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversions(:ott, ARRAY[
        ('bulk-3', :meena, 13500, 4200, NULL, NULL, NULL),
        ('bulk-3', :meena, 13501, 4200, NULL, NULL, NULL)]::affiliate.conversion_input[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversions(:ott, ARRAY[
        ('bulk-3', :meena, 13500, 4200, NULL, NULL, NULL),
        ('bulk-1', :meena, 1, 0, NULL, NULL, NULL)]::affiliate.conversion_input[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_conversions' = :'after_conversions' AND :'before_commissions' = :'after_commissions'
       AND :'before_journals' = :'after_journals' AS nothing_written;

-- ---------------------------------------------------------------------------
-- Refused inputs: a clear error, nothing written.
-- ---------------------------------------------------------------------------
SELECT * FROM fingerprint \gset before_
SELECT * FROM affiliate.record_conversion(:ott, 'bad-1', :meena, -100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-2', :meena, 100, 101);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-3', :meena, 100, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-4', 999999, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-5', :creator, 100);   -- a member of another program
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-6', :meena, 100, seller_id => 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, '', :meena, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, NULL, :meena, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-7', :meena, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, 'bad-8', :meena, 100, occurred_at => 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(999999, 'bad-9', :meena, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_conversion(:ott, repeat('x', 201), :meena, 100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'too much', '{6000,5000}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'negative', '{-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'null level', '{1000,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'bad base', '{1000}', 'revenue');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'bad kind', '{1000}', beneficiary => 'sponsor');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'two seller levels', '{1000,1000}', beneficiary => 'seller');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'short caps', '{1000,1000}', caps => '{5}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'negative flat', '{1000}', flat => '{-5}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'zero recurring', '{1000}', recurring => '0 days');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'unknown rule', '{1000}', qualification => '{"min_tier": "gold"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(:ott, 'deep', array_fill(100, ARRAY[21]));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_plan(999999, 'nowhere', '{1000}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_conversions' = :'after_conversions' AND :'before_commissions' = :'after_commissions'
       AND :'before_journals' = :'after_journals' AND :'before_plans' = :'after_plans' AS nothing_written;

SELECT * FROM affiliate.verify();

-- The hot tables carry no foreign keys to each other (each would cost a
-- look-up and a row lock per row on every conversion); verify() checks
-- them.  Rows written behind the engines' back, as the superuser (rolled back):
BEGIN;
-- a conversion of a buyer who is not a member
INSERT INTO affiliate.conversion (program_id, external_ref, buyer_id, amount, cost, occurred_at)
VALUES (:ott, 'ghost-order', 999999, 100, 0, now());
-- a commission of a conversion that does not exist
INSERT INTO affiliate.commission (program_id, conversion_id, plan_id, beneficiary_id, level, amount,
                                  hold_until, journal_id)
SELECT :ott, 999999, plan_id, beneficiary_id, 1, 1, now(), journal_id FROM affiliate.commission LIMIT 1;
-- a posting of a journal that does not exist
INSERT INTO affiliate.posting (program_id, journal_id, account_id, amount, posted_at)
SELECT :ott, 999999, account_id, 1, now() FROM affiliate.posting LIMIT 1;
SELECT DISTINCT invariant FROM affiliate.verify()
 WHERE invariant IN ('conversion_buyer_exists', 'commission_conversion_exists', 'posting_journal_exists')
 ORDER BY 1;
ROLLBACK;
SELECT * FROM affiliate.verify();

-- Times and intervals far enough out to overflow timestamptz once a hold or
-- a window is added are refused up front (22023), and change nothing.
\set VERBOSITY terse
SELECT count(*) AS commissions_before FROM affiliate.commission \gset
SELECT affiliate.update_program_settings(:ott, '{"hold_period": "178000000 years"}');
SELECT affiliate.update_program_settings(:ott, '{"attribution_window": "101 years"}');
SELECT affiliate.set_plan(:ott, 'forever', '{3000}', 'profit', recurring => '101 years');
SELECT * FROM affiliate.record_conversion(:ott, 'far-future', (SELECT max(id) FROM affiliate.member WHERE program_id = :ott),
                                          13500, 4200, '294276-12-31 23:59:59+00');
SELECT * FROM affiliate.record_conversion(:ott, 'far-past', (SELECT max(id) FROM affiliate.member WHERE program_id = :ott),
                                          13500, 4200, now() - interval '101 years');
SELECT * FROM affiliate.record_conversions(:ott, ARRAY[ROW('far-batch', (SELECT max(id) FROM affiliate.member WHERE program_id = :ott),
                                          13500, 4200, '3000-01-01'::timestamptz, NULL, NULL)::affiliate.conversion_input]);
-- a seller id of 0 is no member (NULL says "no seller")
SELECT * FROM affiliate.record_conversion(:ott, 'seller-zero', (SELECT max(id) FROM affiliate.member WHERE program_id = :ott),
                                          13500, 4200, NULL, NULL, 0);
SELECT (SELECT count(*) FROM affiliate.commission) = :commissions_before AS nothing_recorded,
       (SELECT hold_period FROM affiliate.program WHERE id = :ott) < interval '100 years' AS hold_unchanged;
\set VERBOSITY default
