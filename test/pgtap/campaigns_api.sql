-- The HTTP API for promo campaigns (0.6.0), as PostgREST calls it: SET LOCAL
-- ROLE to the JWT's role and request.jwt.claims as a transaction-local
-- setting, RESET ROLE between blocks.  anon reads a public code's offer
-- (never a draft's or a personal code's); a member redeems a code for
-- themselves and lists their own redemptions; the admin creates campaigns,
-- changes their status and reads their stats, for the program of the JWT
-- only (another program's campaign is PT404, a refused change PT409).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(52);

SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('promo_offer', 'redeem_promo', 'my_promo_redemptions', 'create_campaign',
                                     'set_campaign_status', 'campaign_stats')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin campaign_stats', 'affiliate_admin create_campaign', 'affiliate_admin promo_offer',
                'affiliate_admin set_campaign_status',
                'affiliate_anon promo_offer',
                'affiliate_member my_promo_redemptions', 'affiliate_member promo_offer',
                'affiliate_member redeem_promo'],
          'campaign endpoints: anyone reads an offer, members redeem and list theirs, admins manage');
SELECT ok(NOT has_table_privilege(r, t, 'SELECT'),
          format('%s cannot read %s', r, t))
  FROM unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r,
       unnest(ARRAY['affiliate.campaign', 'affiliate.promo_redemption']) t
 ORDER BY r, t;

-- ===========================================================================
-- Data, as the superuser: programs A and B; in A ann (owner of a coupon),
-- ben and cy; in B xena.  A has an active coupon of ann's (credits), a draft,
-- and a template's personal code for ben; B has an active code.
-- ===========================================================================
SELECT affiliate.create_program('Shop A', 'INR') AS pa \gset
SELECT affiliate.create_program('Shop B', 'EUR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:2') AS ben \gset
SELECT affiliate.add_member(:pa, 'tg:3') AS cy \gset
SELECT affiliate.add_member(:pb, 'tg:9') AS xena \gset
SELECT affiliate.create_campaign(:pa, 'Ann''s coupon', 'credits', 200, NULL, NULL, 'ANN200', :ann, 10, 1,
                                 '30 days', 'instagram') AS ca \gset
SELECT affiliate.set_campaign_status(:pa, :ca, 'scheduled') || affiliate.set_campaign_status(:pa, :ca, 'active') \g /dev/null
SELECT affiliate.create_campaign(:pa, 'Not yet', 'percent_off', 1000, NULL, NULL, 'NOTYET') AS cdraft \gset
SELECT affiliate.create_campaign(:pa, 'Template', 'amount_off', 300, NULL, NULL, 'TEMPLATE300') AS ctemplate \gset
SELECT affiliate.issue_promo_code(:pa, :ctemplate, :ben, 'tap:ben') AS personal \gset
SELECT affiliate.create_campaign(:pb, 'B sale', 'percent_off', 500, NULL, NULL, 'BSALE') AS cb \gset
SELECT affiliate.set_campaign_status(:pb, :cb, 'scheduled') || affiliate.set_campaign_status(:pb, :cb, 'active') \g /dev/null

-- ===========================================================================
-- anon: the public offer of a code of the program in the landing page's URL
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT is((SELECT row(known, redeemable, offer_type, value)::text FROM affiliate_api.promo_offer(:pa, 'ann200')),
          row(true, true, 'credits', 200::bigint)::text, 'anon: an active code''s offer, any case');
SELECT is((SELECT row(known, redeemable, offer_type)::text FROM affiliate_api.promo_offer(:pa, 'NOTYET')),
          row(false, false, NULL::text)::text, 'anon: a draft is not public');
SELECT is((SELECT row(known, redeemable, offer_type)::text FROM affiliate_api.promo_offer(:pa, :'personal')),
          row(false, false, NULL::text)::text, 'anon: a personal code is not public');
SELECT is((SELECT row(known, redeemable)::text FROM affiliate_api.promo_offer(:pa, 'BSALE')),
          row(false, false)::text, 'anon: a code of program B is unknown in A');
SELECT is((SELECT row(known, redeemable)::text FROM affiliate_api.promo_offer(:pa, 'NOSUCH')),
          row(false, false)::text, 'anon: an unknown code');
SELECT throws_ok(format('SELECT * FROM affiliate_api.promo_offer(%s, %L)', :pb + 1000, 'ANN200'), 'PT404', NULL,
                 'anon: an unknown program is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.promo_offer(%s, %L)', :pa, repeat('x', 2001)), '22023', NULL,
                 'anon: a code longer than 32 bytes is refused (22023)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.redeem_promo(%L, %L)', 'ANN200', 'anon-1'), '42501', NULL,
                 'anon: cannot redeem');
SELECT throws_ok('SELECT * FROM affiliate_api.campaign_stats()', '42501', NULL, 'anon: no stats');
RESET ROLE;

-- ===========================================================================
-- members: redeem for themselves, list their own
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:2"}', :pa), true) \g /dev/null
SELECT is((SELECT row(offer_type, value, credits, replayed)::text FROM affiliate_api.redeem_promo('ANN200', 'ben-order-1')),
          row('credits', 200::bigint, 200::bigint, false)::text, 'member ben: redeems ANN200 for his order');
SELECT is((SELECT row(offer_type, credits, replayed)::text FROM affiliate_api.redeem_promo('ann200', 'ben-order-1')),
          row('credits', 200::bigint, true)::text, 'member ben: the same order again replays');
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('ANN200', 'ben-order-2')$$, '23514', NULL,
                 'member ben: the per-member limit (1) is 23514');
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('NOTYET', 'ben-order-3')$$, 'PT409', NULL,
                 'member ben: a draft campaign''s code is PT409 (55000)');
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('BSALE', 'ben-order-3')$$, 'PT404', NULL,
                 'member ben: a code of program B is PT404');
SELECT is((SELECT row(offer_type, value, discount)::text FROM affiliate_api.redeem_promo(:'personal', 'ben-order-4', 1000)),
          row('amount_off', 300::bigint, 300::bigint)::text, 'member ben: his personal code');
SELECT is(ARRAY(SELECT order_ref || ' ' || offer_type || ' ' || coalesce(credits, 0) || ' ' || coalesce(discount::text, '-')
                  FROM affiliate_api.my_promo_redemptions()),
          ARRAY['ben-order-1 credits 200 -', 'ben-order-4 amount_off 0 300'],
          'member ben: lists his own two redemptions');
SELECT is((SELECT code FROM affiliate_api.my_promo_redemptions() WHERE order_ref = 'ben-order-1'), 'ANN200',
          'member ben: with the code');
SELECT throws_ok('SELECT * FROM affiliate.campaign', '42501', NULL, 'member: cannot read affiliate.campaign');
SELECT throws_ok($$SELECT affiliate_api.create_campaign('x', 'percent_off', 10)$$, '42501', NULL,
                 'member: cannot create campaigns');
SELECT throws_ok(format('SELECT affiliate.redeem_promo(%s, %L, %s, %L)', :pa, 'ANN200', :cy, 'x'), '42501', NULL,
                 'member: cannot call the SQL engine for another member');
-- cy cannot use ben's personal code, nor his order_ref
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:3"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT * FROM affiliate_api.redeem_promo(%L, %L)', :'personal', 'cy-order-1'), '23514', NULL,
                 'member cy: ben''s personal code is refused (23514)');
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('ANN200', 'ben-order-1')$$, '23505', NULL,
                 'member cy: ben''s order_ref is refused (23505), not replayed to her');
SELECT is((SELECT count(*) FROM affiliate_api.my_promo_redemptions()), 0::bigint, 'member cy: sees none of ben''s');
-- a token without a member
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "nobody"}', :pa), true) \g /dev/null
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('ANN200', 'nobody-1')$$, '42501', NULL,
                 'a sub that is no member redeems nothing');
SELECT throws_ok('SELECT * FROM affiliate_api.my_promo_redemptions()', '42501', NULL,
                 'a sub that is no member lists nothing: 42501');
RESET ROLE;
SELECT is((SELECT used FROM affiliate.campaign WHERE id = :ca), 1::bigint, 'ANN200 was used once');
SELECT is((SELECT count(*) FROM affiliate.promo_redemption WHERE program_id = :pa), 2::bigint, 'two redemptions in A');

-- ===========================================================================
-- admin of A: create, change status, stats; never program B's
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "boss-a"}', :pa), true) \g /dev/null
SELECT affiliate_api.create_campaign('Diwali', 'percent_off', 2000, NULL, now() + interval '10 days', 'DIWALI20',
                                     NULL, 100, 1, NULL, 'whatsapp') AS cdiwali \gset
SELECT is((SELECT row(code, status, channel)::text FROM affiliate_api.campaign_stats(:cdiwali)),
          row('DIWALI20', 'draft', 'whatsapp')::text, 'admin: created a draft in program A');
RESET ROLE;
SELECT is((SELECT program_id FROM affiliate.campaign WHERE id = :cdiwali), :pa::bigint,
          'admin: the campaign is in the JWT''s program');
SELECT is((SELECT actor FROM affiliate.audit_log WHERE action = 'create_campaign' ORDER BY id DESC LIMIT 1), 'boss-a',
          'admin: audited with the JWT sub');
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "boss-a"}', :pa), true) \g /dev/null
SELECT is(affiliate_api.set_campaign_status(:cdiwali, 'scheduled'), 'draft', 'admin: draft -> scheduled');
SELECT is(affiliate_api.set_campaign_status(:cdiwali, 'active'), 'scheduled', 'admin: scheduled -> active');
SELECT throws_ok(format('SELECT affiliate_api.set_campaign_status(%s, %L)', :cdiwali, 'draft'), 'PT409', NULL,
                 'admin: active -> draft is PT409 (55000)');
SELECT throws_ok(format('SELECT affiliate_api.set_campaign_status(%s, %L)', :cdiwali, 'gone'), '22023', NULL,
                 'admin: an unknown status is 22023');
SELECT throws_ok(format('SELECT affiliate_api.set_campaign_status(%s, %L)', :cb, 'paused'), 'PT404', NULL,
                 'admin of A: B''s campaign is PT404');
SELECT throws_ok(format('SELECT affiliate_api.create_campaign(%L, %L, 10, NULL, NULL, NULL, %s)', 'x', 'percent_off', :xena),
                 'PT404', NULL, 'admin of A: an owner of program B is PT404');
SELECT throws_ok($$SELECT affiliate_api.create_campaign('x', 'percent_off', 10, NULL, NULL, 'ann200')$$, '23505', NULL,
                 'admin: a code taken (any case) is 23505');
SELECT is(ARRAY(SELECT code || ' ' || status || ' ' || redemptions FROM affiliate_api.campaign_stats() ORDER BY campaign_id),
          ARRAY['ANN200 active 1', 'NOTYET draft 0', 'TEMPLATE300 draft 0', :'personal' || ' active 1', 'DIWALI20 active 0'],
          'admin: the stats of program A''s campaigns only');
SELECT is((SELECT redemptions FROM affiliate_api.campaign_stats(:ca)), 1::bigint, 'admin: one campaign''s stats');
SELECT is((SELECT count(*) FROM affiliate_api.campaign_stats(:cb)), 0::bigint, 'admin of A: B''s campaign has no stats here');
SELECT throws_ok($$SELECT * FROM affiliate_api.redeem_promo('ANN200', 'admin-1')$$, '42501', NULL,
                 'admin: does not redeem as a member');
SELECT throws_ok('SELECT * FROM affiliate.promo_redemption', '42501', NULL, 'admin: cannot read the table directly');
RESET ROLE;
-- operator: the SQL API, every program
SET LOCAL ROLE affiliate_operator;
SELECT is((SELECT count(*) FROM affiliate.campaign), 6::bigint, 'operator: reads every program''s campaigns (5 of A, 1 of B)');
SELECT is((SELECT count(*) FROM affiliate.campaign_stats(:pb)), 1::bigint, 'operator: stats of program B');
RESET ROLE;
SELECT is_empty('SELECT * FROM affiliate.verify()', 'verify() holds');

SELECT * FROM finish();
ROLLBACK;
