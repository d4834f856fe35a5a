-- Promo campaigns and promo codes (issue 10 §1): create_campaign (vanity or
-- generated codes, unique per program whatever the case), every status
-- change allowed and refused, advance_campaigns by dates and used-up limits,
-- redeem_promo (windows, total and per-member limits, idempotency on
-- order_ref, percent/amount/credits/trial results), credits in the ledger
-- and their expiry, personal codes, a conversion carrying a promo code (the
-- coupon owner's upline is paid), analytics; every refusal has its SQLSTATE
-- and changes nothing; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a campaign call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.commission) AS commissions,
       (SELECT md5(coalesce(string_agg(v::text, ',' ORDER BY v.program_id, v.id), '')) FROM affiliate.conversion v) AS conversions,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.campaign c) AS campaigns,
       (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY u.program_id, u.id), '')) FROM affiliate.promo_member_use u) AS uses,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.program_id, r.id), '')) FROM affiliate.promo_redemption r) AS redemptions,
       (SELECT md5(coalesce(string_agg(z::text, ',' ORDER BY z.program_id, z.id), '')) FROM affiliate.campaign_conversion z) AS links;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'

-- the outcome of a statement: 'ok' or its SQLSTATE (rolled back either way)
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE stmt;
        RAISE EXCEPTION USING ERRCODE = 'ZZ000';
    EXCEPTION WHEN SQLSTATE 'ZZ000' THEN
        RETURN 'ok';
    WHEN OTHERS THEN
        RETURN SQLSTATE;
    END;
END
$$;

SELECT affiliate.create_program('Promo shop', 'INR', '{"hold_period": "1 day"}') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS q \gset
-- root <- owner <- fan; buyer (no sponsor), buyer2 (under root)
SELECT affiliate.add_member(:p, 'root') AS root \gset
SELECT affiliate.add_member(:p, 'owner', (SELECT code::text FROM affiliate.member WHERE id = :root)) AS owner \gset
SELECT affiliate.add_member(:p, 'fan', (SELECT code::text FROM affiliate.member WHERE id = :owner)) AS fan \gset
SELECT affiliate.add_member(:p, 'buyer') AS buyer \gset
SELECT affiliate.add_member(:p, 'buyer2', (SELECT code::text FROM affiliate.member WHERE id = :root)) AS buyer2 \gset
SELECT affiliate.add_member(:q, 'stranger') AS stranger \gset
SELECT affiliate.set_plan(:p, 'two levels', '{3000,1000}', 'amount') IS NOT NULL AS plan;

-- ---- create_campaign ------------------------------------------------------------
SELECT affiliate.create_campaign(:p, 'Summer sale', 'percent_off', 1500, now() - interval '1 day',
                                 now() + interval '30 days', 'Summer15', :owner, 3, 1, NULL, 'telegram') AS summer \gset
SELECT affiliate.create_campaign(:p, 'Flat 500', 'amount_off', 500, NULL, NULL, 'FLAT500') AS flat \gset
SELECT affiliate.create_campaign(:p, 'Welcome credits', 'credits', 250, NULL, NULL, NULL, NULL, NULL, 2,
                                 '30 days') AS welcome \gset
SELECT affiliate.create_campaign(:p, 'Trial', 'trial_days', 14, NULL, NULL, 'TRY14') AS trial \gset
SELECT CASE WHEN id = :welcome THEN '(generated)' ELSE code END AS code, name, owner_id = :owner AS owned, offer_type, value, total_limit, per_member_limit, used,
       credit_expiry, channel, status
  FROM affiliate.campaign WHERE program_id = :p ORDER BY id;
-- a generated code is a valid refcode
SELECT affiliate.refcode_is_valid(code) AS generated_is_refcode FROM affiliate.campaign WHERE id = :welcome;
SELECT action, detail->>'code' = c.code AS code_logged, detail->>'offer_type' AS offer_type, detail->'value' AS value
  FROM affiliate.audit_log a JOIN affiliate.campaign c ON c.id = (a.detail->>'campaign_id')::bigint
 WHERE a.program_id = :p AND a.action = 'create_campaign' ORDER BY a.id;
-- the same code in another program is fine
SELECT affiliate.create_campaign(:q, 'Their summer', 'percent_off', 1000, NULL, NULL, 'SUMMER15') IS NOT NULL AS other_program_code;

-- refused, nothing changes
:save
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'free_lunch', 1);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 0);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10001);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'trial_days', 3651);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'amount_off', 1000000000000001);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'credits', -5);  \echo :SQLSTATE
-- ends_at not later (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, now(), now());  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, 'infinity');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, now() + interval '200 years');  \echo :SQLSTATE
-- too short (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, 'ab');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, 'two words');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, '-dash');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, repeat('A', 33));  \echo :SQLSTATE
-- the code taken, in another case (23505)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, 'summer15');  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, :stranger);  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, 999999);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, NULL, 0);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, NULL, NULL, 0);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, NULL, NULL, 1000001);  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, NULL, NULL, NULL, '1 day');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'credits', 10, NULL, NULL, NULL, NULL, NULL, NULL, '-1 day');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'credits', 10, NULL, NULL, NULL, NULL, NULL, NULL, '0');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', 10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.create_campaign(:p, '', 'percent_off', 10);  \echo :SQLSTATE
-- (22004)
SELECT affiliate.create_campaign(:p, NULL, 'percent_off', 10);  \echo :SQLSTATE
-- (22004)
SELECT affiliate.create_campaign(:p, 'x', 'percent_off', NULL);  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.create_campaign(999999, 'x', 'percent_off', 10);  \echo :SQLSTATE
:unchanged

-- ---- every status change ------------------------------------------------------------
-- one campaign per status (window open now), then every change from each
SELECT affiliate.create_campaign(:p, 'S draft', 'percent_off', 10) AS s_draft \gset
SELECT affiliate.create_campaign(:p, 'S scheduled', 'percent_off', 10) AS s_scheduled \gset
SELECT affiliate.create_campaign(:p, 'S active', 'percent_off', 10) AS s_active \gset
SELECT affiliate.create_campaign(:p, 'S paused', 'percent_off', 10) AS s_paused \gset
SELECT affiliate.create_campaign(:p, 'S completed', 'percent_off', 10) AS s_completed \gset
SELECT affiliate.set_campaign_status(:p, id, 'scheduled') FROM affiliate.campaign
 WHERE id IN (:s_scheduled, :s_active, :s_paused, :s_completed) ORDER BY id;
SELECT affiliate.set_campaign_status(:p, id, 'active') FROM affiliate.campaign
 WHERE id IN (:s_active, :s_paused) ORDER BY id;
SELECT affiliate.set_campaign_status(:p, :s_paused, 'paused') AS was;
SELECT affiliate.set_campaign_status(:p, :s_completed, 'completed') AS was;
:save
SELECT c.status AS "from", t.status AS "to",
       pg_temp.try(format('SELECT affiliate.set_campaign_status(%s, %s, %L)', :p, c.id, t.status)) AS outcome
  FROM affiliate.campaign c
 CROSS JOIN (VALUES ('draft'), ('scheduled'), ('active'), ('paused'), ('completed')) t(status)
 WHERE c.id IN (:s_draft, :s_scheduled, :s_active, :s_paused, :s_completed)
 ORDER BY c.id, array_position(ARRAY['draft', 'scheduled', 'active', 'paused', 'completed'], t.status);
:unchanged
-- (22023)
SELECT affiliate.set_campaign_status(:p, :s_active, 'ACTIVE');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.set_campaign_status(:p, :s_active, 'archived');  \echo :SQLSTATE
-- (22004)
SELECT affiliate.set_campaign_status(:p, :s_active, NULL);  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.set_campaign_status(:p, 999999, 'paused');  \echo :SQLSTATE
-- another program's (P0002)
SELECT affiliate.set_campaign_status(:q, :s_active, 'paused');  \echo :SQLSTATE
-- (55000)
SELECT affiliate.set_campaign_status(:p, :s_completed, 'active');  \echo :SQLSTATE
:unchanged
-- a real pause and resume, audited
SELECT affiliate.set_campaign_status(:p, :s_active, 'paused') AS was;
SELECT affiliate.set_campaign_status(:p, :s_active, 'active') AS was;
SELECT detail->>'from' AS "from", detail->>'to' AS "to" FROM affiliate.audit_log
 WHERE program_id = :p AND action = 'set_campaign_status' AND (detail->>'campaign_id')::bigint = :s_active ORDER BY id;

-- activating outside the window: a campaign that starts tomorrow, one that ended
SELECT affiliate.create_campaign(:p, 'Tomorrow', 'percent_off', 10, now() + interval '1 day',
                                 now() + interval '8 days', 'TOMORROW') AS tomorrow \gset
SELECT affiliate.create_campaign(:p, 'Last week', 'percent_off', 10, now() - interval '8 days',
                                 now() - interval '1 day', 'LASTWEEK') AS lastweek \gset
SELECT affiliate.set_campaign_status(:p, :tomorrow, 'scheduled'), affiliate.set_campaign_status(:p, :lastweek, 'scheduled');
:save
-- not started (55000)
SELECT affiliate.set_campaign_status(:p, :tomorrow, 'active');  \echo :SQLSTATE
-- ended (55000)
SELECT affiliate.set_campaign_status(:p, :lastweek, 'active');  \echo :SQLSTATE
:unchanged

-- ---- redeem_promo: windows, limits, results ----------------------------------------
SELECT affiliate.set_campaign_status(:p, id, 'scheduled') FROM affiliate.campaign WHERE id IN (:summer, :flat, :welcome, :trial) ORDER BY id;
SELECT affiliate.set_campaign_status(:p, id, 'active') FROM affiliate.campaign WHERE id IN (:summer, :flat, :welcome, :trial) ORDER BY id;

-- Summer15: 15 % (1500 bp), 3 uses in all, 1 per member; any case of the code
SELECT offer_type, value, discount, credits, credits_expire_at, trial_days, replayed
  FROM affiliate.redeem_promo(:p, 'summer15', :buyer, 'order-1', 9999);
SELECT offer_type, discount, replayed FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer2, 'order-2', 3);
-- the same order again: the same redemption, nothing written
:save
SELECT offer_type, discount, replayed, redemption_id = (SELECT id FROM affiliate.promo_redemption WHERE order_ref = 'order-1') AS same
  FROM affiliate.redeem_promo(:p, 'Summer15', :buyer, 'order-1', 9999);
:unchanged
-- refused, nothing changes
-- 1 per member (23514)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer, 'order-3', 100);  \echo :SQLSTATE
-- another code (23505)
SELECT * FROM affiliate.redeem_promo(:p, 'FLAT500', :buyer, 'order-1', 9999);  \echo :SQLSTATE
-- another member (23505)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer2, 'order-1', 9999);  \echo :SQLSTATE
-- another amount (23505)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer, 'order-1', 10000);  \echo :SQLSTATE
-- amount left out (23505)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer, 'order-1');  \echo :SQLSTATE
-- (P0002)
SELECT * FROM affiliate.redeem_promo(:p, 'NOSUCHCODE', :buyer, 'order-3');  \echo :SQLSTATE
-- not a member of p (P0002)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :stranger, 'order-3');  \echo :SQLSTATE
-- not a code of q (P0002)
SELECT * FROM affiliate.redeem_promo(:q, 'FLAT500', :stranger, 'order-3');  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :fan, 'order-3', -1);  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :fan, 'order-3', 1000000000000001);  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :fan, '', 100);  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :fan, repeat('x', 201), 100);  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.redeem_promo(:p, repeat('A', 33), :fan, 'order-3', 100);  \echo :SQLSTATE
-- (22004)
SELECT * FROM affiliate.redeem_promo(:p, NULL, :fan, 'order-3', 100);  \echo :SQLSTATE
-- (22004)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', NULL, 'order-3', 100);  \echo :SQLSTATE
-- scheduled (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'TOMORROW', :fan, 'order-3', 100);  \echo :SQLSTATE
-- scheduled, ended (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'LASTWEEK', :fan, 'order-3', 100);  \echo :SQLSTATE
-- (55000)
\set VERBOSITY sqlstate
SELECT r.* FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :fan, 'order-3', 100) r WHERE c.id = :s_draft;  \echo :SQLSTATE
\set VERBOSITY terse
-- (55000)
\set VERBOSITY sqlstate
SELECT r.* FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :fan, 'order-3', 100) r WHERE c.id = :s_paused;  \echo :SQLSTATE
\set VERBOSITY terse
-- (55000)
\set VERBOSITY sqlstate
SELECT r.* FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :fan, 'order-3', 100) r WHERE c.id = :s_completed;  \echo :SQLSTATE
\set VERBOSITY terse
:unchanged
-- the third and last use; then the code is used up (55000) and nothing changes
SELECT discount FROM affiliate.redeem_promo(:p, 'SUMMER15', :fan, 'order-3', 100);
:save
-- used up (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'SUMMER15', :root, 'order-4', 100);  \echo :SQLSTATE
:unchanged
-- a blocked member redeems nothing (55000); their earlier order still replays
SELECT affiliate.set_member_status(:p, :buyer2, 'blocked') AS was;
:save
SELECT offer_type, discount, replayed FROM affiliate.redeem_promo(:p, 'SUMMER15', :buyer2, 'order-2', 3);
:unchanged
-- blocked (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'FLAT500', :buyer2, 'order-blocked', 100);  \echo :SQLSTATE
:unchanged
SELECT affiliate.set_member_status(:p, :buyer2, 'active') AS was;
:save
SELECT used, total_limit FROM affiliate.campaign WHERE id = :summer;
SELECT m.external_id, u.used FROM affiliate.promo_member_use u JOIN affiliate.member m ON m.id = u.member_id
 WHERE u.campaign_id = :summer ORDER BY m.id;

-- amount_off: the discount is the amount, at most the order; no order amount: the offer only
SELECT offer_type, value, discount FROM affiliate.redeem_promo(:p, 'flat500', :buyer, 'order-5', 2000);
SELECT offer_type, value, discount FROM affiliate.redeem_promo(:p, 'flat500', :buyer, 'order-6', 300);
SELECT offer_type, value, discount FROM affiliate.redeem_promo(:p, 'flat500', :buyer, 'order-7');
SELECT offer_type, value, discount FROM affiliate.redeem_promo(:p, 'flat500', :buyer, 'order-8', 0);
-- trial_days
SELECT offer_type, value, discount, credits, trial_days FROM affiliate.redeem_promo(:p, 'try14', :buyer, 'order-9');
-- credits: 250, expiring 30 days after the redemption, 2 per member
SELECT r.offer_type, r.value, r.discount, r.credits, r.trial_days, r.credits_expire_at = now() + interval '30 days' AS expires_in_30_days
  FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :buyer, 'order-10') r WHERE c.id = :welcome;
SELECT credits FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :buyer, 'order-11') r WHERE c.id = :welcome;
SELECT credits FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :buyer2, 'order-12') r WHERE c.id = :welcome;
:save
-- (23514)
\set VERBOSITY sqlstate
SELECT credits FROM affiliate.campaign c, affiliate.redeem_promo(:p, c.code, :buyer, 'order-13') r WHERE c.id = :welcome;  \echo :SQLSTATE
\set VERBOSITY terse
:unchanged
SELECT m.external_id AS member, a.kind, a.balance FROM affiliate.account_balances a
  LEFT JOIN affiliate.member m ON m.id = a.member_id
 WHERE a.program_id = :p AND a.asset = 'CREDITS' ORDER BY a.kind, m.id;
SELECT j.kind, j.memo->>'order_ref' AS order_ref,
       (SELECT count(*) FROM affiliate.posting x WHERE x.program_id = j.program_id AND x.journal_id = j.id) AS legs
  FROM affiliate.journal j WHERE j.program_id = :p AND j.kind = 'promo_credits' ORDER BY j.id;
SELECT order_ref, journal_id IS NOT NULL AS posted FROM affiliate.promo_redemption
 WHERE program_id = :p AND offer_type = 'credits' ORDER BY id;

-- ---- credit expiry ----------------------------------------------------------------
-- a credits campaign without expiry: never expires
SELECT affiliate.create_campaign(:p, 'Forever credits', 'credits', 40, NULL, NULL, 'FOREVER') AS forever \gset
SELECT affiliate.set_campaign_status(:p, :forever, 'scheduled'), affiliate.set_campaign_status(:p, :forever, 'active');
SELECT credits, credits_expire_at FROM affiliate.redeem_promo(:p, 'FOREVER', :buyer, 'order-14');
-- buyer spends 100 of their credits (the operator's journal; the shop's spend)
SELECT affiliate.post_journal(:p, 'credits_spend',
    format('[{"member": %s, "kind": "promo_credits", "asset": "CREDITS", "amount": -100}, {"kind": "credits_spent", "asset": "CREDITS", "amount": 100}]', :buyer)::jsonb) IS NOT NULL AS spent;
-- not yet due
SELECT affiliate.expire_promo_credits(now() + interval '29 days') AS expired;
-- due: buyer's two grants (500, of which 100 spent: the first takes 250, the
-- second what is left, 150), buyer2's 250
SELECT affiliate.expire_promo_credits(now() + interval '31 days') AS expired;
SELECT order_ref, credits, credits_expired, credits_expired_at IS NOT NULL AS done FROM affiliate.promo_redemption
 WHERE program_id = :p AND credits > 0 ORDER BY id;
SELECT m.external_id AS member, a.kind, a.balance FROM affiliate.account_balances a
  LEFT JOIN affiliate.member m ON m.id = a.member_id
 WHERE a.program_id = :p AND a.asset = 'CREDITS' ORDER BY a.kind, m.id;
-- once only
:save
SELECT affiliate.expire_promo_credits(now() + interval '1000 days') AS expired;
:unchanged
-- (22023)
SELECT affiliate.expire_promo_credits('infinity');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.expire_promo_credits(now(), 0);  \echo :SQLSTATE
-- (22004)
SELECT affiliate.expire_promo_credits(NULL);  \echo :SQLSTATE
SELECT * FROM affiliate.verify();

-- ---- windows over time, and idempotency after the end --------------------------------
SELECT affiliate.create_campaign(:p, 'Flash', 'amount_off', 100, now() - interval '1 hour',
                                 clock_timestamp() + interval '1 second', 'FLASH') AS flash \gset
SELECT affiliate.set_campaign_status(:p, :flash, 'scheduled'), affiliate.set_campaign_status(:p, :flash, 'active');
SELECT discount, replayed FROM affiliate.redeem_promo(:p, 'FLASH', :buyer, 'flash-1', 1000);
SELECT pg_sleep(1.2);
SELECT status FROM affiliate.campaign WHERE id = :flash;
:save
-- ended (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'FLASH', :buyer2, 'flash-2', 1000);  \echo :SQLSTATE
:unchanged
-- the order redeemed before the end replays, whatever the campaign is now
SELECT discount, replayed FROM affiliate.redeem_promo(:p, 'FLASH', :buyer, 'flash-1', 1000);

-- ---- advance_campaigns --------------------------------------------------------------
SELECT affiliate.create_campaign(:p, 'Used up', 'percent_off', 10, NULL, NULL, 'USEDUP', NULL, 1) AS usedup \gset
SELECT affiliate.set_campaign_status(:p, :usedup, 'scheduled'), affiliate.set_campaign_status(:p, :usedup, 'active');
SELECT discount FROM affiliate.redeem_promo(:p, 'USEDUP', :buyer, 'usedup-1', 1000);
SELECT affiliate.create_campaign(:p, 'Paused, ended', 'percent_off', 10, now() - interval '1 hour',
                                 clock_timestamp() + interval '1 second', 'PAUSEDEND') AS pausedend \gset
SELECT affiliate.set_campaign_status(:p, :pausedend, 'scheduled'), affiliate.set_campaign_status(:p, :pausedend, 'active'),
       affiliate.set_campaign_status(:p, :pausedend, 'paused');
SELECT affiliate.create_campaign(:p, 'Draft ended', 'percent_off', 10, now() - interval '2 days', now() - interval '1 day') AS draftended \gset
SELECT pg_sleep(1.2);
-- now: S scheduled (started) becomes active, Tomorrow stays scheduled; Last
-- week (scheduled, ended), Summer sale and Used up (their total limit used
-- up), Flash (ended) and Paused, ended complete; drafts never move
SELECT affiliate.advance_campaigns() AS moved;
SELECT name, status FROM affiliate.campaign WHERE program_id = :p AND name NOT LIKE 'S %' ORDER BY id;
-- tomorrow + 2 days: Tomorrow becomes active; in 9 days it completes
SELECT affiliate.advance_campaigns(now() + interval '2 days') AS moved;
SELECT status FROM affiliate.campaign WHERE id = :tomorrow;
SELECT affiliate.advance_campaigns(now() + interval '9 days') AS moved;
SELECT status FROM affiliate.campaign WHERE id = :tomorrow;
SELECT detail->>'from' AS "from", detail->>'to' AS "to", c.name FROM affiliate.audit_log a
  JOIN affiliate.campaign c ON c.id = (a.detail->>'campaign_id')::bigint
 WHERE a.program_id = :p AND a.action = 'advance_campaign' ORDER BY a.id;
-- a scheduled campaign whose window has passed entirely completes at once
SELECT affiliate.create_campaign(:p, 'Missed', 'percent_off', 10, now() + interval '1 day', now() + interval '2 days') AS missed \gset
SELECT affiliate.set_campaign_status(:p, :missed, 'scheduled');
SELECT affiliate.advance_campaigns(now() + interval '3 days') AS moved;
SELECT status FROM affiliate.campaign WHERE id = :missed;
-- (22023)
SELECT affiliate.advance_campaigns('infinity');  \echo :SQLSTATE
-- (22004)
SELECT affiliate.advance_campaigns(NULL);  \echo :SQLSTATE
SELECT jobname, schedule, command FROM affiliate.job_definitions()
 WHERE command LIKE '%campaign%' OR command LIKE '%promo%' ORDER BY jobname;

-- ---- personal codes ----------------------------------------------------------------
-- a template kept in draft (never redeemable itself), 20 % off for 7 days
SELECT affiliate.create_campaign(:p, 'Birthday', 'percent_off', 2000, now(), now() + interval '7 days',
                                 'BDAYTEMPLATE', NULL, NULL, NULL, NULL, 'birthday') AS bday \gset
SELECT affiliate.issue_promo_code(:p, :bday, :buyer, 'birthday:buyer:2026') AS pcode \gset
SELECT affiliate.issue_promo_code(:p, :bday, :buyer, 'birthday:buyer:2026') = :'pcode' AS same_code;
SELECT affiliate.issue_promo_code(:p, :bday, :buyer, 'birthday:buyer:2027') <> :'pcode' AS next_year_new_code;
SELECT affiliate.refcode_is_valid(code) AS is_refcode, offer_type, value, total_limit, per_member_limit, status,
       personal_member_id = :buyer AS personal, template_id = :bday AS from_template, channel,
       ends_at - starts_at AS lasts, starts_at <= now() AS started
  FROM affiliate.campaign WHERE program_id = :p AND code = :'pcode';
SELECT count(*) AS issue_audits FROM affiliate.audit_log WHERE program_id = :p AND action = 'issue_promo_code';
:save
-- another member (23505)
SELECT affiliate.issue_promo_code(:p, :bday, :buyer2, 'birthday:buyer:2026');  \echo :SQLSTATE
-- completed template (55000)
SELECT affiliate.issue_promo_code(:p, :s_completed, :buyer, 'x');  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.issue_promo_code(:p, 999999, :buyer, 'x');  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.issue_promo_code(:p, :bday, :stranger, 'x');  \echo :SQLSTATE
-- (P0002)
SELECT affiliate.issue_promo_code(:q, :bday, :buyer, 'x');  \echo :SQLSTATE
-- (22023)
SELECT affiliate.issue_promo_code(:p, :bday, :buyer, '');  \echo :SQLSTATE
-- (22004)
SELECT affiliate.issue_promo_code(:p, :bday, :buyer, NULL);  \echo :SQLSTATE
-- the template itself is a draft; the personal code is the member's only, once
-- (55000)
SELECT * FROM affiliate.redeem_promo(:p, 'BDAYTEMPLATE', :buyer, 'bday-order-0', 1000);  \echo :SQLSTATE
-- not theirs (23514)
\set VERBOSITY sqlstate
SELECT * FROM affiliate.redeem_promo(:p, :'pcode', :buyer2, 'bday-order-1', 1000);  \echo :SQLSTATE
\set VERBOSITY terse
:unchanged
SELECT offer_type, value, discount FROM affiliate.redeem_promo(:p, lower(:'pcode'), :buyer, 'bday-order-2', 1000);
:save
-- once (23514)
\set VERBOSITY sqlstate
SELECT * FROM affiliate.redeem_promo(:p, :'pcode', :buyer, 'bday-order-3', 1000);  \echo :SQLSTATE
\set VERBOSITY terse
:unchanged

-- ---- a conversion carrying a promo code ----------------------------------------------
-- buyer has no sponsor: without a code nobody earns; with Summer15 (owner's
-- coupon) the owner earns level 1 and the owner's sponsor (root) level 2
SELECT count(*) AS commissions FROM affiliate.record_conversion(:p, 'sale-0', :buyer, 10000);
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-1', :buyer, 10000, 0, NULL, NULL, NULL, 'summer15') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
SELECT v.external_ref, r.external_id AS referrer, z.campaign_id = :summer AS linked
  FROM affiliate.conversion v LEFT JOIN affiliate.member r ON r.id = v.referrer_id
  LEFT JOIN affiliate.campaign_conversion z ON z.program_id = v.program_id AND z.conversion_id = v.id
 WHERE v.program_id = :p ORDER BY v.id;
-- the same webhook again: the same commissions, nothing written
:save
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-1', :buyer, 10000, 0, NULL, NULL, NULL, 'SUMMER15') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
:unchanged
-- refused, nothing changes
-- code left out (23505)
SELECT * FROM affiliate.record_conversion(:p, 'sale-1', :buyer, 10000);  \echo :SQLSTATE
-- another code (23505)
SELECT * FROM affiliate.record_conversion(:p, 'sale-1', :buyer, 10000, 0, NULL, NULL, NULL, 'FLAT500');  \echo :SQLSTATE
-- added later (23505)
SELECT * FROM affiliate.record_conversion(:p, 'sale-0', :buyer, 10000, 0, NULL, NULL, NULL, 'SUMMER15');  \echo :SQLSTATE
-- (P0002)
SELECT * FROM affiliate.record_conversion(:p, 'sale-2', :buyer, 10000, 0, NULL, NULL, NULL, 'NOSUCHCODE');  \echo :SQLSTATE
-- (22023)
SELECT * FROM affiliate.record_conversion(:p, 'sale-2', :buyer, 10000, 0, NULL, NULL, NULL, 'a b');  \echo :SQLSTATE
-- not q's (P0002)
SELECT * FROM affiliate.record_conversion(:q, 'sale-2', :stranger, 10000, 0, NULL, NULL, NULL, 'FLAT500');  \echo :SQLSTATE
:unchanged
-- a code without an owner (FLAT500): the buyer's own sponsor is paid, the order is linked
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-3', :buyer2, 20000, 0, NULL, NULL, NULL, 'FLAT500') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
-- the owner using their own coupon: no self-referral, their sponsor chain as usual
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-4', :owner, 10000, 0, NULL, NULL, NULL, 'SUMMER15') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
-- root (the owner's sponsor) buying with the owner's coupon: the owner earns,
-- the chain stops before root (nobody earns on their own order)
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-5', :root, 10000, 0, NULL, NULL, NULL, 'SUMMER15') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
-- a completed campaign still attributes (the webhook may come after the end)
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:p, 'sale-6', :fan, 5000, 0, NULL, NULL, NULL, 'USEDUP') c
  JOIN affiliate.member m ON m.id = c.beneficiary_id ORDER BY c.level;
SELECT v.external_ref, r.external_id AS referrer, c.code
  FROM affiliate.conversion v LEFT JOIN affiliate.member r ON r.id = v.referrer_id
  LEFT JOIN affiliate.campaign_conversion z ON z.program_id = v.program_id AND z.conversion_id = v.id
  LEFT JOIN affiliate.campaign c ON c.program_id = z.program_id AND c.id = z.campaign_id
 WHERE v.program_id = :p ORDER BY v.id;
-- a partial refund lowers the campaign's revenue
SELECT count(*) AS reversed FROM affiliate.refund_conversion(:p, 'sale-1', 'damaged', 2500, 'refund-1');
-- the bulk form takes no promo code (conversion_input has none): the sponsor chain
SELECT count(*) AS commissions FROM affiliate.record_conversions(:p,
    ARRAY[ROW('sale-7', :buyer, 10000, 0, NULL, NULL, NULL)::affiliate.conversion_input]);

-- ---- analytics ----------------------------------------------------------------------
-- clicks: Summer15 counts clicks on channel telegram through the owner's link in its window
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'telegram') IS NOT NULL AS click;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'telegram') IS NOT NULL AS click;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'telegram') IS NOT NULL AS click;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'telegram') IS NOT NULL AS click;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'telegram', NULL, NULL,
                              now() - interval '2 days') IS NOT NULL AS click_before_window;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :owner), 'mail') IS NOT NULL AS click_other_channel;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :root), 'telegram') IS NOT NULL AS click_other_member;
SELECT affiliate.record_click(:p, (SELECT code::text FROM affiliate.member WHERE id = :root), 'birthday') IS NOT NULL AS click_birthday;
-- Summer15: 4 clicks (telegram, through the owner's link, in its window); 3
-- redemptions; conversions sale-1, sale-4, sale-5; rate 3/4; revenue
-- 10000 - 2500 + 10000 + 10000.  Birthday (no owner): any member's birthday click
SELECT CASE WHEN campaign_id = :welcome THEN '(generated)' ELSE code END AS code, name, channel, status, clicks, redemptions, conversions, conversion_rate, revenue
  FROM affiliate.campaign_stats(:p) WHERE campaign_id IN (:summer, :flat, :welcome, :trial, :usedup, :bday) ORDER BY campaign_id;
SELECT code, clicks, redemptions, conversions, revenue FROM affiliate.campaign_stats(:p, :flat);
SELECT count(*) AS none FROM affiliate.campaign_stats(:p, 999999);
SELECT count(*) AS other_program FROM affiliate.campaign_stats(:q, :summer);
-- per channel: clicks with that channel in the program
SELECT channel, campaigns, clicks, redemptions, conversions, conversion_rate, revenue
  FROM affiliate.campaign_channel_stats(:p);

-- ---- the end: counters, credits and links agree --------------------------------------
SELECT CASE WHEN c.id = :welcome OR c.personal_member_id IS NOT NULL THEN '(generated)' ELSE c.code END AS code,
       c.used, (SELECT count(*) FROM affiliate.promo_redemption r WHERE r.campaign_id = c.id) AS redemptions
  FROM affiliate.campaign c WHERE c.program_id = :p AND c.used > 0 ORDER BY c.id;
SELECT * FROM affiliate.verify();
