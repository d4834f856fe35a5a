-- The HTTP API for badges and leaderboards (0.6.0, src/gamification.c)
-- through schema affiliate_api, as PostgREST calls it.  Every block does
-- what PostgREST does for a request: SET LOCAL ROLE to the JWT's role,
-- request.jwt.claims as a transaction-local setting; RESET ROLE between
-- blocks.  affiliate_anon (a site token naming the program) reads the
-- leaderboards only, with display names and no member ids or external ids;
-- affiliate_member reads their badges and sets their profile; affiliate_admin
-- manages the badge rules and the counters of the claimed program only.
-- Every refusal's SQLSTATE, that refused calls change nothing, and that the
-- audit rows carry the JWT "sub".
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(38);

-- ===========================================================================
-- Catalogs: the gamification endpoints and who may call them
-- ===========================================================================
SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('leaderboard', 'my_badges', 'set_my_profile', 'set_badge_rule',
                                     'set_badge_rule_active', 'badge_rules', 'member_badges', 'increment_counter')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin badge_rules', 'affiliate_admin increment_counter', 'affiliate_admin leaderboard',
                'affiliate_admin member_badges', 'affiliate_admin set_badge_rule',
                'affiliate_admin set_badge_rule_active',
                'affiliate_anon leaderboard',
                'affiliate_member leaderboard', 'affiliate_member my_badges', 'affiliate_member set_my_profile'],
          'anon reads leaderboards, members their badges and profile, admins manage rules and counters');
SELECT is(ARRAY(SELECT r || ' ' || c.relname FROM pg_class c
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE c.oid IN ('affiliate.leaderboard_entry'::regclass, 'affiliate.badge_rule'::regclass,
                                 'affiliate.member_badge'::regclass, 'affiliate.counter_increment'::regclass)
                   AND has_table_privilege(r, c.oid, 'SELECT')
                 ORDER BY 1),
          '{}'::text[], 'the HTTP roles read no gamification table directly');
SELECT is(ARRAY(SELECT p.proargnames::text FROM pg_proc p
                 WHERE p.oid = 'affiliate_api.leaderboard(text,text,integer)'::regprocedure),
          ARRAY['{metric,period,max_rows,rank,display_name,value}'],
          'the HTTP leaderboard returns rank, display name and value: no member id');

-- ===========================================================================
-- Data, as the superuser: programs A and B; in A ann (with a display name
-- set later), ben and their buyers; in B xena.  Earnings: ann 3000, ben 3000
-- (a tie), cat 1000.
-- ===========================================================================
SELECT affiliate.create_program('Game A', 'INR') AS pa \gset
SELECT affiliate.create_program('Game B', 'EUR') AS pb \gset
SELECT affiliate.add_member(:pa, 'ann@example.com') AS ann \gset
SELECT affiliate.add_member(:pa, 'ben@example.com') AS ben \gset
SELECT affiliate.add_member(:pa, 'cat@example.com') AS cat \gset
SELECT affiliate.add_member(:pa, 'buyer1', (SELECT code::text FROM affiliate.member WHERE id = :ann)) AS b1 \gset
SELECT affiliate.add_member(:pa, 'buyer2', (SELECT code::text FROM affiliate.member WHERE id = :ben)) AS b2 \gset
SELECT affiliate.add_member(:pa, 'buyer3', (SELECT code::text FROM affiliate.member WHERE id = :cat)) AS b3 \gset
SELECT affiliate.add_member(:pb, 'xena@example.com') AS xena \gset
SELECT affiliate.set_plan(:pa, 'plan', ARRAY[3000], 'amount') IS NOT NULL AS plan \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'o-1', :b1, 10000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'o-2', :b2, 10000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'o-3', :b3, 3334) \gset
SELECT affiliate.set_badge_rule(:pb, 'B rule', 'referrals', 1, 'gold') AS rb \gset

-- everything of a program's gamification an HTTP call could change, as one text
CREATE FUNCTION pg_temp.fingerprint(p bigint) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.metric, x.period, x.period_start, x.member_id), '')) FROM affiliate.leaderboard_entry x
          WHERE x.program_id = p),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM affiliate.badge_rule x
          WHERE x.program_id = p),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM affiliate.member_badge x
          WHERE x.program_id = p),
        (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x.id), '')) FROM affiliate.counter_increment x
          WHERE x.program_id = p),
        (SELECT md5(coalesce(string_agg(x.display_name || x.birth_date, ',' ORDER BY x.id), '')) FROM affiliate.member x
          WHERE x.program_id = p),
        (SELECT count(*) FROM affiliate.audit_log a WHERE a.program_id = p))
$$;
SELECT pg_temp.fingerprint(:pb) AS b_before \gset

-- ===========================================================================
-- affiliate_admin of A: badge rules and counters; audit rows carry the sub
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:priya"}', :pa), true) \g /dev/null
SELECT affiliate_api.set_badge_rule('Earner', 'earnings', 3000, 'silver') AS r_earn \gset
SELECT affiliate_api.set_badge_rule('Fan', 'counter:likes', 5, 'bronze') AS r_fan \gset
SELECT is(ARRAY(SELECT row(name, metric, threshold, level, active, awarded)::text FROM affiliate_api.badge_rules()),
          ARRAY[row('Fan', 'counter:likes', 5, 'bronze', true, 0)::text,
                row('Earner', 'earnings', 3000, 'silver', true, 0)::text],
          'admin of A: badge_rules lists A''s rules (none of B''s), none awarded yet');
SELECT is(affiliate_api.increment_counter(:ben, 'likes', 3, 'like-1'), 3::bigint,
          'admin: increment_counter returns the new total');
SELECT is(affiliate_api.increment_counter(:ben, 'likes', 3, 'like-1'), 3::bigint,
          'admin: the same source_ref replays the total');
SELECT is(affiliate_api.increment_counter(:ben, 'likes', 2), 5::bigint, 'admin: a second increment adds up');
SELECT is(ARRAY(SELECT row(name, level, value)::text FROM affiliate_api.member_badges(:ben)),
          ARRAY[row('Fan', 'bronze', 5)::text], 'admin: ben crossed 5 likes and holds Fan');
SELECT is(affiliate_api.set_badge_rule_active('Fan', false)::text, '',
          'admin: set_badge_rule_active returns nothing (HTTP 204)');
SELECT is((SELECT active FROM affiliate_api.badge_rules() WHERE name = 'Fan'), false, 'admin: the rule is inactive');
RESET ROLE;
SELECT pg_temp.fingerprint(:pa) AS a_before \gset
SET LOCAL ROLE affiliate_admin;
SELECT throws_ok(format('SELECT affiliate_api.increment_counter(%s, %L)', :xena, 'likes'), 'PT404',
                 format('member %s does not exist in program %s', :xena, :pa),
                 'admin of A: increment_counter of B''s member is PT404 (HTTP 404)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_badges(%s)', :xena), 'PT404', NULL,
                 'admin of A: member_badges of B''s member is PT404');
SELECT throws_ok('SELECT affiliate_api.set_badge_rule_active(''B rule'', false)', 'PT404', NULL,
                 'admin of A: B''s rule does not exist for A (PT404)');
SELECT throws_ok('SELECT affiliate_api.set_badge_rule(''Bad'', ''clicks'', 1, ''gold'')', '22023', NULL,
                 'admin: an unknown metric is 22023');
SELECT throws_ok('SELECT affiliate_api.set_badge_rule(''Bad'', ''referrals'', 1, ''wood'')', '22023', NULL,
                 'admin: an unknown level is 22023');
SELECT throws_ok(format('SELECT affiliate_api.increment_counter(%s, %L, 0)', :ben, 'likes'), '22023', NULL,
                 'admin: an increment of 0 is 22023');
SELECT throws_ok(format('SELECT affiliate_api.increment_counter(%s, %L, 4, %L)', :ben, 'likes', 'like-1'), '23505', NULL,
                 'admin: a source_ref replayed with another amount is 23505');
SELECT throws_ok('SELECT * FROM affiliate_api.my_badges()', '42501', NULL,
                 'admin cannot call my_badges (a member function)');
SELECT throws_ok(format('SELECT affiliate.increment_counter(%s, %s, %L)', :pa, :ben, 'likes'), '42501', NULL,
                 'admin cannot call the engine function affiliate.increment_counter');
RESET ROLE;
SELECT is(pg_temp.fingerprint(:pa), :'a_before', 'the refused admin calls changed nothing in A');
SELECT is(ARRAY(SELECT row(action, actor, db_role)::text FROM affiliate.audit_log
                 WHERE program_id = :pa AND action IN ('set_badge_rule', 'set_badge_rule_active') ORDER BY id),
          ARRAY[row('set_badge_rule', 'admin:priya', 'affiliate_admin')::text,
                row('set_badge_rule', 'admin:priya', 'affiliate_admin')::text,
                row('set_badge_rule_active', 'admin:priya', 'affiliate_admin')::text],
          'admin: every rule change is audited with the JWT sub as actor');
SELECT is(pg_temp.fingerprint(:pb), :'b_before', 'admin of A: program B is unchanged');

-- ===========================================================================
-- affiliate_member ann: her profile and badges
-- ===========================================================================
-- the Earner rule came after ann's 3000: she gets it at her next conversion
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'o-4', :b1, 100) \gset
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "ann@example.com"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(name, level, metric, threshold, value)::text FROM affiliate_api.my_badges()),
          ARRAY[row('Earner', 'silver', 'earnings', 3000, 3030)::text], 'member: my_badges shows the caller''s badge');
SELECT is(affiliate_api.set_my_profile('Ann the Great', '1990-05-04')::text, '',
          'member: set_my_profile returns nothing (HTTP 204)');
RESET ROLE;
SELECT pg_temp.fingerprint(:pa) AS a_before \gset
SET LOCAL ROLE affiliate_member;
SELECT throws_ok('SELECT affiliate_api.set_my_profile('''', NULL)', '22023', NULL,
                 'member: an empty display name is 22023');
SELECT throws_ok(format('SELECT affiliate_api.increment_counter(%s, %L)', :ann, 'likes'), '42501', NULL,
                 'member cannot increment counters (an admin function)');
SELECT throws_ok('SELECT affiliate_api.set_badge_rule(''Mine'', ''referrals'', 1, ''gold'')', '42501', NULL,
                 'member cannot set badge rules');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_badges(%s)', :ben), '42501', NULL,
                 'member cannot read another member''s badges');
RESET ROLE;
SELECT is(pg_temp.fingerprint(:pa), :'a_before', 'the refused member calls changed nothing');
SELECT is((SELECT row(display_name, birth_date)::text FROM affiliate.member WHERE id = :ann),
          row('Ann the Great', '1990-05-04'::date)::text, 'member: the profile is the caller''s');

-- ===========================================================================
-- affiliate_anon with a site token naming program A: the leaderboards
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(rank, display_name, value)::text FROM affiliate_api.leaderboard('earnings', 'all')),
          ARRAY[row(1, 'Ann the Great', 3030)::text, row(2, 'Member ' || :ben, 3000)::text,
                row(3, 'Member ' || :cat, 1000)::text],
          'anon: the all-time earnings board with display names, "Member <id>" without one');
SELECT is((SELECT count(*) FROM affiliate_api.leaderboard('earnings', 'day') l WHERE l.display_name LIKE '%@%'),
          0::bigint, 'anon: no external id (an email) is ever shown');
SELECT is(ARRAY(SELECT row(rank, value)::text FROM affiliate_api.leaderboard('referrals', 'month', 2)),
          ARRAY[row(1, 2)::text, row(2, 1)::text], 'anon: max_rows cuts the list');
SELECT throws_ok('SELECT * FROM affiliate_api.leaderboard(''clicks'')', '22023', NULL,
                 'anon: an unknown metric is 22023');
SELECT throws_ok('SELECT * FROM affiliate_api.my_badges()', '42501', NULL, 'anon cannot call my_badges');
SELECT throws_ok(format('SELECT affiliate_api.increment_counter(%s, %L)', :ann, 'likes'), '42501', NULL,
                 'anon cannot increment counters');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pb), true) \g /dev/null
SELECT is((SELECT count(*) FROM affiliate_api.leaderboard('earnings', 'all')), 0::bigint,
          'anon with B''s token: B''s board, none of A''s members');
RESET ROLE;

SELECT is_empty('SELECT * FROM affiliate.verify()', 'verify() is empty after everything');

SELECT * FROM finish();
ROLLBACK;
