-- The HTTP API for loyalty (0.6.0): points, tiers and rewards through
-- schema affiliate_api, as PostgREST calls it.  Every block does what
-- PostgREST does for a request: SET LOCAL ROLE to the JWT's role,
-- request.jwt.claims as a transaction-local setting; RESET ROLE between
-- blocks.  affiliate_anon (a site token naming the program) reads the
-- active reward catalog only; affiliate_member reads their own points,
-- history, tier and redemptions and redeems for themselves only;
-- affiliate_admin runs the claimed program's points, tiers and rewards
-- only.  Every refusal's SQLSTATE (P0002 -> PT404, 55000 -> PT409), that
-- refused calls change nothing, and that audit rows carry the JWT "sub".
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(74);

-- ===========================================================================
-- Catalog: the loyalty endpoints and who may call them
-- ===========================================================================
SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('rewards', 'my_points', 'my_points_history', 'my_tier', 'redeem_reward',
                                     'my_redemptions', 'record_bill', 'refund_bill', 'award_points',
                                     'deduct_points', 'set_points_rule', 'set_points_policy', 'member_points',
                                     'set_tier', 'set_tier_policy', 'set_member_tier', 'member_tier',
                                     'review_tiers', 'add_reward', 'set_reward')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin add_reward', 'affiliate_admin award_points', 'affiliate_admin deduct_points',
                'affiliate_admin member_points', 'affiliate_admin member_tier', 'affiliate_admin record_bill',
                'affiliate_admin refund_bill', 'affiliate_admin review_tiers', 'affiliate_admin rewards',
                'affiliate_admin set_member_tier', 'affiliate_admin set_points_policy',
                'affiliate_admin set_points_rule', 'affiliate_admin set_reward', 'affiliate_admin set_tier',
                'affiliate_admin set_tier_policy',
                'affiliate_anon rewards',
                'affiliate_member my_points', 'affiliate_member my_points_history',
                'affiliate_member my_redemptions', 'affiliate_member my_tier', 'affiliate_member redeem_reward',
                'affiliate_member rewards'],
          'the loyalty functions: anon reads the catalog, members their own points and redemptions, admins run the program');
SELECT is(ARRAY(SELECT r || ' ' || c.relname FROM pg_class c
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE c.relnamespace = 'affiliate'::regnamespace
                   AND c.relname IN ('points_rule', 'points_policy', 'points_lot', 'points_bill',
                                     'points_bill_refund', 'points_deduction', 'tier', 'tier_policy',
                                     'tier_member', 'tier_history', 'reward', 'reward_redemption')
                   AND has_table_privilege(r, c.oid, 'SELECT')
                 ORDER BY 1),
          ARRAY[]::text[],
          'no loyalty table is readable by an HTTP role: every endpoint is a function');

-- ===========================================================================
-- Data, as the superuser: programs A and B; in A ann, ben and cat (blocked
-- later), in B xena with ann's external id and B's reward.
-- ===========================================================================
SELECT affiliate.create_program('Shop A', 'INR') AS pa \gset
SELECT affiliate.create_program('Shop B', 'INR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:2') AS ben \gset
SELECT affiliate.add_member(:pa, 'tg:3') AS cat \gset
SELECT affiliate.add_member(:pb, 'tg:1') AS xena \gset
SELECT affiliate.set_points_rule(:pb, 'bill', 1, 100) \g /dev/null
SELECT affiliate.record_bill(:pb, 'xb-1', :xena, 50000) AS xena_points \gset
SELECT affiliate.add_reward(:pb, 'B mug', 100) AS rb \gset
SELECT affiliate.set_tier(:pb, 'B Silver', 1, 10, 'points', '12 months') AS tb \gset

-- everything of a program's loyalty an HTTP call could change, as one text
CREATE FUNCTION pg_temp.fingerprint(p bigint) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.event)) FROM affiliate.points_rule x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',')) FROM affiliate.points_policy x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.points_lot x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.points_bill x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.points_bill_refund x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.points_deduction x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.tier x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',')) FROM affiliate.tier_policy x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.member_id)) FROM affiliate.tier_member x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.tier_history x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.reward x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.reward_redemption x WHERE x.program_id = p),
        (SELECT count(*) FROM affiliate.journal j WHERE j.program_id = p),
        (SELECT count(*) FROM affiliate.audit_log a WHERE a.program_id = p))
$$;
SELECT pg_temp.fingerprint(:pb) AS b_before \gset

-- ===========================================================================
-- affiliate_admin of A: rules, tiers, rewards, bills, awards; audited with
-- the JWT sub
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:priya"}', :pa), true) \g /dev/null
SELECT is(affiliate_api.set_points_rule('bill', 1, 100)::text, '', 'admin: set_points_rule returns nothing (HTTP 204)');
SELECT is(affiliate_api.set_points_policy('12 months', 0)::text, '', 'admin: set_points_policy returns nothing');
SELECT affiliate_api.set_tier('Silver', 1, 100, 'points', '12 months', 12500, '{"free_delivery": true}') AS silver \gset
SELECT affiliate_api.set_tier('Gold', 2, 400, 'points', '12 months', 15000) AS gold \gset
SELECT is(affiliate_api.set_tier_policy('30 days')::text, '', 'admin: set_tier_policy returns nothing');
SELECT affiliate_api.add_reward('Coffee', 50, 2) AS coffee \gset
SELECT affiliate_api.add_reward('Tote bag', 500) AS tote \gset
SELECT affiliate_api.add_reward('Old offer', 10) AS old \gset
SELECT is(affiliate_api.set_reward(:old, 'Old offer', 10, NULL, NULL, NULL, NULL, false)::text, '',
          'admin: set_reward returns nothing (deactivates the old offer)');
SELECT is(affiliate_api.record_bill('a-1', :ann, 12000), 120::bigint,
          'admin: record_bill returns the points earned (1 per 100 paise)');
SELECT is(affiliate_api.record_bill('a-1', :ann, 12000), 120::bigint, 'admin: record_bill replayed returns the same points');
SELECT is((affiliate_api.member_tier(:ann)).tier, 'Silver', 'admin: the bill upgraded ann to Silver at once');
SELECT is(affiliate_api.record_bill('b-1', :ben, 3000), 30::bigint, 'admin: a bill for ben');
SELECT ok(affiliate_api.award_points(:ben, 80, 'survey', NULL, 'survey-ben') > 0, 'admin: award_points returns a lot id');
SELECT is((affiliate_api.member_tier(:ben)).tier, 'Silver', 'admin: the award upgraded ben at once (30 + 80 >= 100)');
SELECT ok(affiliate_api.deduct_points(:ben, 10, 'correction') > 0, 'admin: deduct_points returns a deduction id');
SELECT is(affiliate_api.refund_bill('b-1', 1000, 'rf-1'), 10::bigint, 'admin: refund_bill returns the points taken back');
SELECT is(ARRAY(SELECT row(balance, usable, pending, shortfall)::text FROM affiliate_api.member_points(:ben)),
          ARRAY[row(90, 90, 0, 0)::text], 'admin: member_points of ben: 30 + 80 - 10 - 10');
SELECT is(affiliate_api.set_member_tier(:cat, 'Gold')::text, '', 'admin: set_member_tier returns nothing');
SELECT is((affiliate_api.member_tier(:cat)).tier, 'Gold', 'admin: cat is Gold by hand');
SELECT is(affiliate_api.review_tiers(), 0::bigint, 'admin: review_tiers of the program: nothing due');
SELECT affiliate_api.record_bill('c-1', :cat, 10000) AS cat_points \gset
-- refusals: another program's ids do not exist (PT404); bad input 22023; replays with other inputs 23505
RESET ROLE;
SELECT pg_temp.fingerprint(:pa) AS a_before \gset
SET LOCAL ROLE affiliate_admin;
SELECT throws_ok(format('SELECT affiliate_api.record_bill(%L, %s, 100)', 'x-1', :xena), 'PT404',
                 format('member %s does not exist in program %s', :xena, :pa),
                 'admin of A: record_bill for B''s member is PT404');
SELECT throws_ok(format('SELECT affiliate_api.award_points(%s, 10, %L)', :xena, 'gift'), 'PT404', NULL,
                 'admin of A: award_points to B''s member is PT404');
SELECT throws_ok(format('SELECT affiliate_api.deduct_points(%s, 10, %L)', :xena, 'fee'), 'PT404', NULL,
                 'admin of A: deduct_points from B''s member is PT404');
SELECT throws_ok('SELECT affiliate_api.refund_bill(''xb-1'')', 'PT404', NULL,
                 'admin of A: refund_bill of B''s bill is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_reward(%s, %L, 1)', :rb, 'stolen'), 'PT404', NULL,
                 'admin of A: set_reward on B''s reward is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_points(%s)', :xena), 'PT404', NULL,
                 'admin of A: member_points of B''s member is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_tier(%s)', :xena), 'PT404', NULL,
                 'admin of A: member_tier of B''s member is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_member_tier(%s, %L)', :xena, 'Silver'), 'PT404', NULL,
                 'admin of A: set_member_tier of B''s member is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_member_tier(%s, %L)', :ann, 'B Silver'), 'PT404', NULL,
                 'admin of A: B''s tier name does not exist in A (PT404)');
SELECT throws_ok('SELECT affiliate_api.record_bill(''a-1'', ' || :ann || ', 99999)', '23505', NULL,
                 'admin: record_bill replayed with another amount is 23505');
SELECT throws_ok(format('SELECT affiliate_api.deduct_points(%s, 100000, %L)', :ann, 'too much'), '23514', NULL,
                 'admin: deducting more than the usable points is 23514');
SELECT throws_ok('SELECT affiliate_api.set_points_rule(''tweet'', 1)', '22023', NULL,
                 'admin: an unknown event is 22023');
SELECT throws_ok('SELECT affiliate_api.set_tier(''Bad'', 5, 1, ''visits'', ''1 month'')', '22023', NULL,
                 'admin: an unknown tier basis is 22023');
SELECT throws_ok('SELECT affiliate_api.add_reward(''Free'', 0)', '22023', NULL, 'admin: a reward costing 0 is 22023');
SELECT throws_ok('SELECT affiliate_api.refund_bill(''a-1'', 999999)', '22023', NULL,
                 'admin: refunding more than the bill is 22023');
-- an admin token is no member, and cannot reach the engine
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :coffee, 'adm-1'), '42501', NULL,
                 'admin cannot redeem (a member function)');
SELECT throws_ok('SELECT * FROM affiliate_api.my_points()', '42501', NULL, 'admin cannot call my_points');
SELECT throws_ok(format('SELECT affiliate.award_points(%s, %s, 1, %L)', :pa, :ann, 'direct'), '42501', NULL,
                 'admin cannot call the engine function affiliate.award_points');
SELECT throws_ok('SELECT count(*) FROM affiliate.points_lot', '42501', NULL, 'admin cannot read the lots table');
RESET ROLE;
SELECT is(pg_temp.fingerprint(:pa), :'a_before', 'admin: the refused calls changed nothing in A');
SELECT is(pg_temp.fingerprint(:pb), :'b_before', 'admin of A: program B is unchanged');
SELECT is(ARRAY(SELECT DISTINCT row(action, actor, db_role)::text FROM affiliate.audit_log
                 WHERE program_id = :pa
                   AND action IN ('set_points_rule', 'set_points_policy', 'set_tier', 'set_tier_policy', 'add_reward',
                                  'set_reward', 'award_points', 'deduct_points', 'set_member_tier')
                 ORDER BY 1),
          ARRAY[row('add_reward', 'admin:priya', 'affiliate_admin')::text,
                row('award_points', 'admin:priya', 'affiliate_admin')::text,
                row('deduct_points', 'admin:priya', 'affiliate_admin')::text,
                row('set_member_tier', 'admin:priya', 'affiliate_admin')::text,
                row('set_points_policy', 'admin:priya', 'affiliate_admin')::text,
                row('set_points_rule', 'admin:priya', 'affiliate_admin')::text,
                row('set_reward', 'admin:priya', 'affiliate_admin')::text,
                row('set_tier', 'admin:priya', 'affiliate_admin')::text,
                row('set_tier_policy', 'admin:priya', 'affiliate_admin')::text],
          'admin: every loyalty admin step is audited with the JWT sub and affiliate_admin');

-- ===========================================================================
-- affiliate_anon with a site token naming A: the active catalog only
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(reward_id, name, cost_points, stock)::text FROM affiliate_api.rewards()),
          ARRAY[row(:coffee, 'Coffee', 50, 2)::text, row(:tote, 'Tote bag', 500, NULL)::text],
          'anon: A''s active rewards, cheapest first (not the deactivated one, none of B''s)');
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :coffee, 'anon-1'), '42501', NULL,
                 'anon cannot redeem');
SELECT throws_ok('SELECT * FROM affiliate_api.my_points()', '42501', NULL, 'anon cannot read points');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_points(%s)', :ann), '42501', NULL,
                 'anon cannot read a member''s points');
SELECT throws_ok('SELECT affiliate_api.record_bill(''anon-bill'', 1, 100)', '42501', NULL, 'anon cannot record a bill');
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.rewards()', '42501', NULL,
                 'anon without a program claim gets no catalog (42501)');
RESET ROLE;

-- ===========================================================================
-- affiliate_member ann of A: her own points, history, tier; redeem
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(balance, usable, pending, shortfall)::text FROM affiliate_api.my_points()),
          ARRAY[row(120, 120, 0, 0)::text], 'member ann: my_points is her own 120 (not xena''s in B)');
SELECT is((affiliate_api.my_tier()).tier, 'Silver', 'member ann: my_tier is Silver');
SELECT is((affiliate_api.my_tier()).next_tier, 'Gold', 'member ann: the next tier is Gold');
SELECT is(ARRAY(SELECT name FROM affiliate_api.rewards()), ARRAY['Coffee', 'Tote bag'], 'member: the same catalog');
SELECT affiliate_api.redeem_reward(:coffee, 'ann-coffee-1') AS red1 \gset
SELECT is(affiliate_api.redeem_reward(:coffee, 'ann-coffee-1'), :red1::bigint,
          'member ann: redeem_reward replayed returns the same redemption');
SELECT is(ARRAY(SELECT row(reward_id, reward_name, points, request_ref)::text FROM affiliate_api.my_redemptions()),
          ARRAY[row(:coffee, 'Coffee', 50, 'ann-coffee-1')::text], 'member ann: my_redemptions');
SELECT is(ARRAY(SELECT row(kind, points, reference)::text FROM affiliate_api.my_points_history()),
          ARRAY[row('reward_redemption', -50, 'ann-coffee-1')::text, row('points_bill', 120, 'a-1')::text],
          'member ann: my_points_history, newest first');
SELECT is(ARRAY(SELECT kind FROM affiliate_api.my_points_history(1,
                  (SELECT journal_id FROM affiliate_api.my_points_history(1)))),
          ARRAY['points_bill'], 'member ann: the next page with before = the last journal_id');
SELECT throws_ok('SELECT * FROM affiliate_api.my_points_history(0)', '22023', NULL, 'member: max_rows 0 is 22023');
RESET ROLE;
SELECT pg_temp.fingerprint(:pa) AS a_before \gset
SET LOCAL ROLE affiliate_member;
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :tote, 'ann-tote'), '23514', NULL,
                 'member ann: too few points for the tote bag is 23514');
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :old, 'ann-old'), 'PT409', NULL,
                 'member ann: an inactive reward is PT409');
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :rb, 'ann-b'), 'PT404', NULL,
                 'member ann: B''s reward does not exist in A (PT404)');
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :tote, 'ann-coffee-1'), '23505', NULL,
                 'member ann: a request_ref reused for another reward is 23505');
SELECT throws_ok(format('SELECT affiliate_api.award_points(%s, 1000, %L)', :ann, 'self-service'), '42501', NULL,
                 'member cannot award herself points');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_points(%s)', :ben), '42501', NULL,
                 'member ann cannot read ben''s points (an admin function)');
SELECT throws_ok('SELECT count(*) FROM affiliate.reward_redemption', '42501', NULL,
                 'member cannot read the redemptions table');
RESET ROLE;
SELECT is(pg_temp.fingerprint(:pa), :'a_before', 'member: the refused calls changed nothing');

-- member ben sees only his own
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:2"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT balance FROM affiliate_api.my_points()), ARRAY[90::bigint], 'member ben: his own 90 points');
SELECT is(ARRAY(SELECT redemption_id FROM affiliate_api.my_redemptions()), ARRAY[]::bigint[],
          'member ben: none of ann''s redemptions');
SELECT ok(NOT EXISTS (SELECT 1 FROM affiliate_api.my_points_history() WHERE reference = 'ann-coffee-1'),
          'member ben: none of ann''s history');
-- xena: ann's external id in B sees B's points only
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT balance FROM affiliate_api.my_points()), ARRAY[:xena_points::bigint],
          'member xena of B: B''s points only');
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :coffee, 'x-coffee'), 'PT404', NULL,
                 'member xena of B: A''s reward does not exist in B (PT404)');
RESET ROLE;

-- a blocked member: redeeming is PT409 and changes nothing
SELECT affiliate.set_member_status(:pa, :cat, 'blocked', 'review') \g /dev/null
SELECT pg_temp.fingerprint(:pa) AS a_before \gset
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:3"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.redeem_reward(%s, %L)', :coffee, 'cat-coffee'), 'PT409',
                 format('member %s is blocked', :cat), 'member cat, blocked: redeem_reward is PT409');
SELECT is(ARRAY(SELECT balance FROM affiliate_api.my_points()), ARRAY[:cat_points::bigint],
          'member cat, blocked: still reads her frozen points');
RESET ROLE;
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:priya"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.award_points(%s, 10, %L)', :cat, 'gift'), 'PT409', NULL,
                 'admin: award_points to a blocked member is PT409');
SELECT is(affiliate_api.record_bill('c-2', :cat, 10000), 0::bigint, 'admin: a blocked member''s bill earns 0 points');
RESET ROLE;
SELECT is((SELECT withheld FROM affiliate.points_bill WHERE program_id = :pa AND external_ref = 'c-2'), 'member_blocked',
          'the withheld bill says why');

SELECT is_empty('SELECT * FROM affiliate.verify()', 'verify() is empty after everything');

SELECT * FROM finish();
ROLLBACK;
