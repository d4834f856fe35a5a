-- The HTTP API (0.4.0): schema affiliate_api as PostgREST serves it.  Every
-- block does what PostgREST does for a request: SET LOCAL ROLE to the role of
-- the JWT, request.jwt.claims (and request.headers) as transaction-local
-- settings; RESET ROLE between blocks.  Each role is checked for what it may
-- and may not do: affiliate_anon (lookup_code, record_click and nothing
-- else), affiliate_member (their own rows only), affiliate_admin (the
-- program of the "program" claim only), affiliate_operator (the SQL API, every
-- program); then SECURITY DEFINER safety against a caller's search_path, and
-- the grants and function settings from the catalogs.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(213);

-- ===========================================================================
-- Catalogs: how the API is declared and who may use what.
-- ===========================================================================
SELECT functions_are('affiliate_api', ARRAY[
    'lookup_code', 'record_click',
    'join', 'me', 'my_tree', 'my_balance', 'my_transactions', 'request_withdrawal', 'cancel_withdrawal',
    'program_settings', 'update_program_settings', 'set_plan', 'add_member', 'set_member_status',
    'move_member', 'member_tree', 'record_conversion', 'refund_conversion', 'member_balance',
    'member_transactions', 'withdrawal_queue', 'withdrawal_totals', 'approve_withdrawal',
    'reject_withdrawal', 'complete_withdrawal', 'fail_withdrawal', 'adjust_balance', 'pay_from_wallet',
    'verify',
    -- courses (0.5.0, test/pgtap/courses_api.sql)
    'course_catalog', 'course_outline', 'enroll', 'record_progress', 'record_assessment', 'course_progress',
    'my_courses', 'create_course', 'add_module', 'add_topic', 'set_published', 'course_outline_all',
    'member_course_progress',
    -- certificates (0.5.0, test/pgtap/certificates_api.sql)
    'verify_certificate', 'certificate_text', 'certificate_public_key', 'my_certificates',
    'revoke_certificate', 'rotate_signing_key',
    -- loyalty (0.6.0, test/pgtap/loyalty_api.sql)
    'rewards', 'my_points', 'my_points_history', 'my_tier', 'redeem_reward', 'my_redemptions', 'record_bill',
    'refund_bill', 'award_points', 'deduct_points', 'set_points_rule', 'set_points_policy', 'member_points',
    'set_tier', 'set_tier_policy', 'set_member_tier', 'member_tier', 'review_tiers', 'add_reward', 'set_reward',
    -- notifications (0.6.0, test/pgtap/notifications_api.sql)
    'my_notifications', 'my_unread_count', 'mark_read', 'my_children', 'add_child', 'remove_child',
    'templates', 'set_template', 'remove_template',
    -- fraud flags (0.6.0, test/pgtap/fraud_api.sql)
    'run_fraud_checks', 'resolve_fraud_flag', 'block_member', 'unblock_member',
    -- promo campaigns (0.6.0, test/pgtap/campaigns_api.sql)
    'promo_offer', 'redeem_promo', 'my_promo_redemptions', 'create_campaign', 'set_campaign_status',
    'campaign_stats',
    -- birthday promo codes (0.6.0, test/pgtap/birthday_promo_api.sql)
    'set_birthday_campaign',
    -- badges and leaderboards (0.6.0, test/pgtap/gamification_api.sql)
    'leaderboard', 'my_badges', 'set_my_profile', 'set_badge_rule', 'set_badge_rule_active', 'badge_rules',
    'member_badges', 'increment_counter']);
SELECT views_are('affiliate_api', ARRAY['program', 'members', 'commissions', 'withdrawals', 'conversions',
                                        'purchases', 'plans', 'audit_log',
                                        'courses', 'enrollments', 'topic_progress', 'assessments',
                                        'fraud_flags']);
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'affiliate_api'
       AND (NOT p.prosecdef OR p.proconfig IS DISTINCT FROM ARRAY['search_path=""'])
$$, 'every affiliate_api function is SECURITY DEFINER with exactly search_path=""');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'affiliate_api' AND c.relkind = 'v'
       AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)
$$, 'every affiliate_api view runs as its caller (security_invoker=true)');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'affiliate_api'
       AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
$$, 'no affiliate_api function is executable by PUBLIC');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'affiliate_api'
       AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
$$, 'no affiliate_api view is open to PUBLIC');

-- EXECUTE in schema affiliate: only the claim helpers, for the roles whose
-- policies call them, and the public certificate checks (0.5.0), for every
-- role (anon has no USAGE on the schema: it reaches them only through
-- affiliate_api)
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate' AND has_function_privilege('affiliate_member', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate.certificate_public_key(bigint)', 'affiliate.certificate_text(bigint,text)',
                'affiliate.claimed_program()', 'affiliate.current_member()',
                'affiliate.verify_certificate(bigint,text)'],
          'affiliate_member executes nothing in schema affiliate but claimed_program, current_member and the certificate checks');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate' AND has_function_privilege('affiliate_admin', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate.certificate_public_key(bigint)', 'affiliate.certificate_text(bigint,text)',
                'affiliate.claimed_program()', 'affiliate.verify_certificate(bigint,text)'],
          'affiliate_admin executes nothing in schema affiliate but claimed_program and the certificate checks');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate' AND has_function_privilege('affiliate_anon', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate.certificate_public_key(bigint)', 'affiliate.certificate_text(bigint,text)',
                'affiliate.verify_certificate(bigint,text)'],
          'affiliate_anon executes nothing in schema affiliate but the certificate checks');
SELECT ok(NOT has_schema_privilege('affiliate_anon', 'affiliate', 'USAGE'),
          'affiliate_anon has no USAGE on schema affiliate');

-- EXECUTE in schema affiliate_api, per role
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate_api' AND has_function_privilege('affiliate_anon', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['certificate_public_key', 'certificate_text', 'course_catalog', 'course_outline',
                'leaderboard', 'lookup_code', 'promo_offer', 'record_click', 'rewards', 'verify_certificate'],
          'affiliate_anon executes lookup_code, promo_offer, record_click, the course catalog and outlines, certificate verification, the rewards catalog and the leaderboards only');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate_api' AND has_function_privilege('affiliate_member', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['add_child', 'cancel_withdrawal', 'certificate_public_key', 'certificate_text',
                'course_catalog', 'course_outline', 'course_progress', 'enroll', 'join', 'leaderboard',
                'lookup_code', 'mark_read', 'me', 'my_badges', 'my_balance', 'my_certificates', 'my_children',
                'my_courses', 'my_notifications', 'my_points', 'my_points_history', 'my_promo_redemptions',
                'my_redemptions', 'my_tier', 'my_transactions', 'my_tree', 'my_unread_count', 'promo_offer',
                'record_assessment', 'record_click', 'record_progress', 'redeem_promo', 'redeem_reward',
                'remove_child', 'request_withdrawal', 'rewards', 'set_my_profile', 'verify_certificate'],
          'affiliate_member executes the member and anon functions only');
SELECT is(ARRAY(SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'affiliate_api' AND has_function_privilege('affiliate_admin', p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['add_member', 'add_module', 'add_reward', 'add_topic', 'adjust_balance', 'approve_withdrawal',
                'award_points', 'badge_rules', 'block_member', 'campaign_stats', 'certificate_public_key',
                'certificate_text', 'complete_withdrawal', 'course_catalog', 'course_outline',
                'course_outline_all', 'create_campaign', 'create_course', 'deduct_points', 'fail_withdrawal',
                'increment_counter', 'leaderboard', 'lookup_code', 'member_badges', 'member_balance',
                'member_course_progress', 'member_points', 'member_tier', 'member_transactions', 'member_tree',
                'move_member', 'pay_from_wallet', 'program_settings', 'promo_offer', 'record_bill',
                'record_click', 'record_conversion', 'refund_bill', 'refund_conversion', 'reject_withdrawal',
                'remove_template', 'resolve_fraud_flag', 'review_tiers', 'revoke_certificate', 'rewards',
                'rotate_signing_key', 'run_fraud_checks', 'set_badge_rule', 'set_badge_rule_active',
                'set_birthday_campaign', 'set_campaign_status', 'set_member_status', 'set_member_tier',
                'set_plan', 'set_points_policy', 'set_points_rule', 'set_published', 'set_reward',
                'set_template', 'set_tier', 'set_tier_policy', 'templates', 'unblock_member',
                'update_program_settings', 'verify', 'verify_certificate', 'withdrawal_queue',
                'withdrawal_totals'],
          'affiliate_admin executes the admin and anon functions only');

-- SELECT on views and tables, per role; nobody writes them directly
SELECT is(ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname IN ('affiliate', 'affiliate_api') AND c.relkind IN ('r', 'v', 'S')
                   AND has_table_privilege('affiliate_anon', c.oid, 'SELECT')
                 ORDER BY 1),
          '{}'::text[], 'affiliate_anon selects no table or view');
SELECT is(ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname IN ('affiliate', 'affiliate_api') AND c.relkind IN ('r', 'v', 'S')
                   AND has_table_privilege('affiliate_member', c.oid, 'SELECT')
                 ORDER BY 1),
          ARRAY['affiliate.assessment', 'affiliate.commission', 'affiliate.course', 'affiliate.enrollment',
                'affiliate.program', 'affiliate.topic_progress',
                'affiliate_api.assessments', 'affiliate_api.commissions', 'affiliate_api.courses',
                'affiliate_api.enrollments', 'affiliate_api.members', 'affiliate_api.program',
                'affiliate_api.purchases', 'affiliate_api.topic_progress', 'affiliate_api.withdrawals'],
          'affiliate_member selects its nine views and the tables behind them (under row-level security)');
SELECT is(ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname IN ('affiliate', 'affiliate_api') AND c.relkind IN ('r', 'v', 'S')
                   AND has_table_privilege('affiliate_admin', c.oid, 'SELECT')
                 ORDER BY 1),
          ARRAY['affiliate.assessment', 'affiliate.audit_log', 'affiliate.commission', 'affiliate.conversion',
                'affiliate.course', 'affiliate.enrollment', 'affiliate.fraud_flag', 'affiliate.plan',
                'affiliate.program', 'affiliate.topic_progress', 'affiliate_api.assessments', 'affiliate_api.audit_log',
                'affiliate_api.commissions', 'affiliate_api.conversions', 'affiliate_api.courses',
                'affiliate_api.enrollments', 'affiliate_api.fraud_flags', 'affiliate_api.members', 'affiliate_api.plans', 'affiliate_api.program',
                'affiliate_api.topic_progress', 'affiliate_api.withdrawals'],
          'affiliate_admin selects its twelve views and the tables behind them (under row-level security)');
-- member and withdrawal: only the columns the views show (no keyed hashes)
SELECT is(ARRAY(SELECT r || ' ' || c.relname || '.' || a.attname
                  FROM unnest(ARRAY['affiliate_member', 'affiliate_admin']) r,
                       pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                 WHERE c.oid IN ('affiliate.member'::regclass, 'affiliate.withdrawal'::regclass)
                   AND a.attnum > 0 AND NOT a.attisdropped
                   AND has_column_privilege(r, c.oid, a.attnum, 'SELECT')
                   AND a.attname IN ('device_hash', 'ip_hash', 'destination_hash')
                 ORDER BY 1),
          '{}'::text[], 'the HTTP roles cannot select the keyed hashes of devices, IPs and payout destinations');
SELECT ok(has_column_privilege('affiliate_member', 'affiliate.withdrawal', 'destination_masked', 'SELECT')
          AND has_column_privilege('affiliate_admin', 'affiliate.member', 'external_id', 'SELECT'),
          'the HTTP roles select the other columns of member and withdrawal');
SELECT is_empty($$
    SELECT r.rolname || ' ' || n.nspname || '.' || c.relname || ' ' || p.priv
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN pg_roles r
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
     WHERE n.nspname IN ('affiliate', 'affiliate_api') AND c.relkind IN ('r', 'v')
       AND r.rolname IN ('affiliate_anon', 'affiliate_member', 'affiliate_admin')
       AND has_table_privilege(r.oid, c.oid, p.priv)
$$, 'no HTTP role may write any table or view of affiliate or affiliate_api');

-- ===========================================================================
-- Data, as the superuser: program A (a referral tree of five), program B
-- (three members, one with the same external id as a member of A), plans,
-- orders, a release, and withdrawals in every state.
-- ===========================================================================
SELECT affiliate.create_program('Shop A', 'INR', '{"hold_period": "1 day", "min_withdrawal": 100}') AS pa \gset
SELECT affiliate.create_program('Shop B', 'EUR', '{"hold_period": "1 day", "min_withdrawal": 100}') AS pb \gset
-- A:  root -- alice -- carol -- dan
--          \- bob
SELECT affiliate.add_member(:pa, 'tg:1001') AS a_root \gset
SELECT code AS a_root_code FROM affiliate.member WHERE program_id = :pa AND id = :a_root \gset
SELECT affiliate.add_member(:pa, 'tg:1002', :'a_root_code') AS a_alice \gset
SELECT code AS a_alice_code FROM affiliate.member WHERE program_id = :pa AND id = :a_alice \gset
SELECT affiliate.add_member(:pa, 'tg:1003', :'a_root_code') AS a_bob \gset
SELECT affiliate.add_member(:pa, 'tg:1004', :'a_alice_code') AS a_carol \gset
SELECT code AS a_carol_code FROM affiliate.member WHERE program_id = :pa AND id = :a_carol \gset
SELECT affiliate.add_member(:pa, 'tg:1005', :'a_carol_code') AS a_dan \gset
-- B:  xena -- yuri
--          \- bob (tg:1003, also a member of A)
SELECT affiliate.add_member(:pb, 'tg:2001') AS b_xena \gset
SELECT code AS b_xena_code FROM affiliate.member WHERE program_id = :pb AND id = :b_xena \gset
SELECT affiliate.add_member(:pb, 'tg:2002', :'b_xena_code') AS b_yuri \gset
SELECT affiliate.add_member(:pb, 'tg:1003', :'b_xena_code') AS b_bob \gset

-- A: 10% to the sponsor, 5% to theirs; B: 20% to the sponsor
SELECT affiliate.set_plan(:pa, 'A standard', ARRAY[1000, 500], 'amount') AS a_plan \gset
SELECT affiliate.set_plan(:pb, 'B standard', ARRAY[2000], 'amount') AS b_plan \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-1', :a_dan, 10000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-2', :a_carol, 20000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-3', :a_bob, 5000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-5', :a_alice, 3000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pb, 'B-1', :b_yuri, 10000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pb, 'B-2', :b_bob, 30000) \gset
SELECT affiliate.release_due(now() + interval '2 days') AS released \gset
-- still held: carol 400, alice 200
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-4', :a_dan, 4000) \gset
-- available now: root 1800, alice 2500, carol 1000; xena 8000

-- withdrawals
SELECT affiliate.request_withdrawal(:pa, :a_alice, 500, 'upi', 'alice@upi') AS w_al1 \gset
SELECT affiliate.request_withdrawal(:pa, :a_alice, 300, 'upi', 'alice@upi') AS w_al2 \gset
SELECT status AS s FROM affiliate.approve_withdrawal(:pa, :w_al2) \gset
SELECT affiliate.request_withdrawal(:pa, :a_root, 400, 'bank', '12345678') AS w_ro1 \gset
SELECT affiliate.request_withdrawal(:pa, :a_root, 200, 'bank', '12345678') AS w_ro2 \gset
SELECT affiliate.request_withdrawal(:pa, :a_root, 150, 'bank', '12345678') AS w_ro3 \gset
SELECT affiliate.request_withdrawal(:pa, :a_carol, 300, 'upi', 'carol@upi') AS w_ca1 \gset
SELECT status AS s FROM affiliate.approve_withdrawal(:pa, :w_ca1) \gset
SELECT affiliate.request_withdrawal(:pa, :a_carol, 100, 'upi', 'carol@upi') AS w_ca2 \gset
SELECT status AS s FROM affiliate.approve_withdrawal(:pa, :w_ca2) \gset
SELECT status AS s FROM affiliate.complete_withdrawal(:pa, :w_ca2, 'PAY-0') \gset
SELECT affiliate.request_withdrawal(:pb, :b_xena, 1000, 'sepa', 'DE89370400440532013000') AS w_b1 \gset
SELECT affiliate.request_withdrawal(:pb, :b_xena, 500, 'sepa', 'DE89370400440532013000') AS w_b2 \gset
SELECT status AS s FROM affiliate.approve_withdrawal(:pb, :w_b2) \gset

-- everything of a program an HTTP call could change, as one text value
CREATE FUNCTION pg_temp.fingerprint(p bigint) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT md5(string_agg(w::text, ',' ORDER BY w.id)) FROM affiliate.withdrawal w WHERE w.program_id = p),
        (SELECT md5(string_agg(m::text, ',' ORDER BY m.id)) FROM affiliate.member m WHERE m.program_id = p),
        (SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) FROM affiliate.commission c WHERE c.program_id = p),
        (SELECT md5(string_agg(v::text, ',' ORDER BY v.id)) FROM affiliate.conversion v WHERE v.program_id = p),
        (SELECT md5(string_agg(l::text, ',' ORDER BY l.id)) FROM affiliate.plan l WHERE l.program_id = p),
        (SELECT md5(string_agg(g::text, ',' ORDER BY g.id)) FROM affiliate.program g WHERE g.id = p),
        (SELECT count(*) FROM affiliate.journal j WHERE j.program_id = p),
        (SELECT count(*) FROM affiliate.audit_log a WHERE a.program_id = p))
$$;

-- how a call ends: "<n> rows" or its SQLSTATE (run as the caller)
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM (' || q || ') x' INTO n;
    RETURN n || ' rows';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;

-- the data is what the blocks below rely on
SELECT is(:released::bigint, 8::bigint, 'setup: eight commissions released');
SELECT results_eq(format($$SELECT m.external_id, b.asset, b.pending, b.available, b.withdrawing
                            FROM affiliate.member m, affiliate.balance(m.program_id, m.id) b
                           WHERE m.program_id IN (%s, %s) ORDER BY m.id$$, :pa, :pb),
    $$VALUES ('tg:1001', 'INR', 0::bigint, 1050::bigint, 750::bigint),
             ('tg:1002', 'INR', 200::bigint, 1700::bigint, 800::bigint),
             ('tg:1003', 'INR', 0::bigint, 0::bigint, 0::bigint),
             ('tg:1004', 'INR', 400::bigint, 600::bigint, 300::bigint),
             ('tg:1005', 'INR', 0::bigint, 0::bigint, 0::bigint),
             ('tg:2001', 'EUR', 0::bigint, 6500::bigint, 1500::bigint),
             ('tg:2002', 'EUR', 0::bigint, 0::bigint, 0::bigint),
             ('tg:1003', 'EUR', 0::bigint, 0::bigint, 0::bigint)$$,
    'setup: the wallets of both programs');

-- ===========================================================================
-- affiliate_anon: no JWT.  lookup_code and record_click, nothing else.
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.9, 10.0.0.1", "user-agent": "curl/8.5"}', true) \g /dev/null

SELECT is((SELECT row(l.program_name, l.valid, l.active, l.error)::text FROM affiliate_api.lookup_code(:pa, :'a_alice_code') l),
          row('Shop A', true, true, NULL::text)::text,
          'anon: lookup_code of an active member''s code: valid and active, with the program''s name');
SELECT is((SELECT row(l.program_name, l.valid, l.active, l.error IS NOT NULL)::text
             FROM affiliate_api.lookup_code(:pa, lower(:'a_alice_code')) l),
          row('Shop A', true, true, false)::text,
          'anon: lookup_code ignores case');
SELECT is((SELECT row(l.program_name, l.valid, l.active, l.error IS NOT NULL)::text
             FROM affiliate_api.lookup_code(:pa, 'AAAAAAAAA') l),
          row('Shop A', false, false, true)::text,
          'anon: lookup_code of a mistyped code: not valid, with the reason');
SELECT is((SELECT row(l.program_name, l.valid, l.active)::text FROM affiliate_api.lookup_code(:pa, :'b_xena_code') l),
          row('Shop A', true, false)::text,
          'anon: lookup_code of another program''s code: well formed but not active in this program');
SELECT throws_ok(format('SELECT * FROM affiliate_api.lookup_code(%s, %L)', :pb + 1000, :'a_alice_code'),
                 'PT404', NULL, 'anon: lookup_code in an unknown program is PT404 (HTTP 404)');

SELECT affiliate_api.record_click(:pa, :'a_alice_code', 'telegram', '/promo') AS click1 \gset
SELECT affiliate_api.record_click(:pa, :'a_alice_code', 'telegram', '/promo') AS click2 \gset
SELECT set_config('request.headers', '{"user-agent": "curl/8.5"}', true) \g /dev/null
SELECT affiliate_api.record_click(:pa, :'a_alice_code', 'mail') AS click3 \gset
SELECT throws_ok(format('SELECT affiliate_api.record_click(%s, %L)', :pb + 1000, :'a_alice_code'),
                 'PT404', NULL, 'anon: record_click in an unknown program is PT404');
SELECT throws_ok(format('SELECT affiliate_api.record_click(%s, %L)', :pb, :'a_alice_code'),
                 '22023', NULL, 'anon: record_click with a code of another program is refused (22023)');

-- no member or admin function, no view, no table.  The claims here name a
-- member of A, so a refusal can only come from the grants.
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s, "sub": "tg:1002"}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT affiliate_api.join()', '42501', NULL, 'anon cannot join');
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', NULL, 'anon cannot call me');
SELECT throws_ok('SELECT * FROM affiliate_api.my_balance()', '42501', NULL, 'anon cannot call my_balance');
SELECT throws_ok('SELECT * FROM affiliate_api.my_transactions()', '42501', NULL, 'anon cannot call my_transactions');
SELECT throws_ok('SELECT * FROM affiliate_api.my_tree()', '42501', NULL, 'anon cannot call my_tree');
SELECT throws_ok('SELECT affiliate_api.request_withdrawal(100, ''upi'', ''x@upi'')', '42501', NULL,
                 'anon cannot request a withdrawal');
SELECT throws_ok(format('SELECT * FROM affiliate_api.cancel_withdrawal(%s)', :w_al1), '42501', NULL,
                 'anon cannot cancel a withdrawal');
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_al1), '42501', NULL,
                 'anon cannot approve a withdrawal');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_balance(%s)', :a_alice), '42501', NULL,
                 'anon cannot read a member''s balance');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_conversion(%L, %s, 100)', 'A-anon', :a_dan), '42501', NULL,
                 'anon cannot record a conversion');
SELECT throws_ok('SELECT affiliate_api.program_settings()', '42501', NULL, 'anon cannot read the settings');
SELECT throws_ok('SELECT * FROM affiliate_api.program', '42501', 'permission denied for view program',
                 'anon cannot select affiliate_api.program');
SELECT throws_ok('SELECT * FROM affiliate_api.members', '42501', 'permission denied for view members',
                 'anon cannot select affiliate_api.members');
SELECT throws_ok('SELECT * FROM affiliate_api.commissions', '42501', 'permission denied for view commissions',
                 'anon cannot select affiliate_api.commissions');
SELECT throws_ok('SELECT * FROM affiliate_api.withdrawals', '42501', 'permission denied for view withdrawals',
                 'anon cannot select affiliate_api.withdrawals');
SELECT throws_ok('SELECT * FROM affiliate_api.conversions', '42501', 'permission denied for view conversions',
                 'anon cannot select affiliate_api.conversions');
SELECT throws_ok('SELECT * FROM affiliate_api.purchases', '42501', 'permission denied for view purchases',
                 'anon cannot select affiliate_api.purchases');
SELECT throws_ok('SELECT * FROM affiliate_api.plans', '42501', 'permission denied for view plans',
                 'anon cannot select affiliate_api.plans');
SELECT throws_ok('SELECT * FROM affiliate_api.audit_log', '42501', 'permission denied for view audit_log',
                 'anon cannot select affiliate_api.audit_log');
SELECT throws_ok('SELECT * FROM affiliate.member', '42501', NULL, 'anon cannot select affiliate.member');
SELECT throws_ok('SELECT * FROM affiliate.program', '42501', NULL, 'anon cannot select affiliate.program');
SELECT throws_ok('SELECT affiliate.claimed_program()', '42501', NULL, 'anon cannot call affiliate.claimed_program');
RESET ROLE;

-- the clicks, as the superuser: IP and user agent came from request.headers
SELECT results_eq(format($$SELECT member_id, channel, landing_page, ip_hash IS NOT NULL, ua_hash IS NOT NULL
                            FROM affiliate.click WHERE program_id = %s AND id IN (%s, %s, %s) ORDER BY id$$,
                         :pa, :click1, :click2, :click3),
    format($$VALUES (%1$s::bigint, 'telegram'::text, '/promo'::text, true, true),
                    (%1$s::bigint, 'telegram'::text, '/promo'::text, true, true),
                    (%1$s::bigint, 'mail'::text, NULL::text, false, true)$$, :a_alice),
    'anon clicks are recorded for the code''s owner; the IP hash is set only when X-Forwarded-For gave an IP');
SELECT is((SELECT count(DISTINCT ip_hash) FROM affiliate.click WHERE program_id = :pa AND id IN (:click1, :click2)),
          1::bigint, 'the same X-Forwarded-For address hashes alike');
SELECT ok((SELECT ip_hash <> sha256('203.0.113.9'::bytea) AND ip_hash <> sha256('10.0.0.1'::bytea)
             FROM affiliate.click WHERE program_id = :pa AND id = :click1),
          'the IP is kept as a keyed hash, not a plain one');

-- ===========================================================================
-- affiliate_member: alice (tg:1002) of program A.  Her own rows only.
-- ===========================================================================
-- what the superuser sees, to compare with
SELECT array_agg(id ORDER BY id) AS all_commissions, count(*) AS n_all_commissions FROM affiliate.commission \gset
SELECT array_agg(id ORDER BY id) AS alice_commissions FROM affiliate.commission
 WHERE program_id = :pa AND beneficiary_id = :a_alice \gset
SELECT array_agg(id ORDER BY id) AS alice_conversions FROM affiliate.conversion
 WHERE program_id = :pa AND buyer_id = :a_alice \gset
SELECT count(*) AS n_all_conversions FROM affiliate.conversion \gset
SELECT array_agg(id ORDER BY id) AS alice_withdrawals FROM affiliate.withdrawal
 WHERE program_id = :pa AND member_id = :a_alice \gset
SELECT count(*) AS n_all_withdrawals FROM affiliate.withdrawal \gset
SELECT count(*) AS n_all_members FROM affiliate.member \gset
SELECT array_agg(id ORDER BY id) AS bobb_conversions FROM affiliate.conversion
 WHERE program_id = :pb AND buyer_id = :b_bob \gset

SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1002"}', :pa), true) \g /dev/null
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.7", "user-agent": "AffApp/2"}', true) \g /dev/null

SELECT is((SELECT row(m.member_id, m.external_id, m.code, m.status, m.sponsor_code, m.direct_referrals, m.team_size)::text
             FROM affiliate_api.me() m),
          row(:a_alice::bigint, 'tg:1002', :'a_alice_code', 'active', :'a_root_code', 1::bigint, 2::bigint)::text,
          'member: me() is alice, with her sponsor''s code, one direct referral and a team of two');
SELECT is(affiliate_api.join(), :a_alice::bigint, 'member: join() as an existing member returns her id');
SELECT is(ARRAY(SELECT row(t.level, t.member_id, t.sponsor_id)::text FROM affiliate_api.my_tree() t),
          ARRAY[row(1, :a_carol::bigint, :a_alice::bigint)::text, row(2, :a_dan::bigint, :a_carol::bigint)::text],
          'member: my_tree() is her downline: carol (level 1) and dan (level 2)');
SELECT is(ARRAY(SELECT t.member_id FROM affiliate_api.my_tree(1) t), ARRAY[:a_carol::bigint],
          'member: my_tree(1) stops at her direct referrals');
SELECT ok(NOT (ARRAY(SELECT t.member_id FROM affiliate_api.my_tree() t) && ARRAY[:a_root, :a_bob, :a_alice]::bigint[]),
          'member: my_tree() shows neither her sponsor, nor her sibling, nor herself');
SELECT is(ARRAY(SELECT row(b.asset, b.pending, b.available, b.withdrawing)::text FROM affiliate_api.my_balance() b),
          ARRAY[row('INR', 200, 1700, 800)::text],
          'member: my_balance() is her wallet');
SELECT is(ARRAY(SELECT row(t.kind, t.amount, t.reference, t.withdrawal_id)::text
                  FROM affiliate_api.my_transactions() t ORDER BY t.journal_id),
          ARRAY[row('commission_earned', 500, 'A-1', NULL::bigint)::text,
                row('commission_earned', 2000, 'A-2', NULL::bigint)::text,
                row('commission_released', 2500, NULL::text, NULL::bigint)::text,
                row('commission_earned', 200, 'A-4', NULL::bigint)::text,
                row('withdrawal_requested', -500, NULL::text, :w_al1::bigint)::text,
                row('withdrawal_requested', -300, NULL::text, :w_al2::bigint)::text],
          'member: my_transactions() is her wallet history');
SELECT is((SELECT count(*) FROM affiliate_api.my_transactions(NULL, 2)), 2::bigint,
          'member: my_transactions(max_rows) limits the rows');

-- the views: her own rows only
SELECT is(ARRAY(SELECT member_id FROM affiliate_api.members), ARRAY[:a_alice::bigint],
          'member: affiliate_api.members is her own row only');
SELECT is(ARRAY(SELECT commission_id FROM affiliate_api.commissions ORDER BY 1), :'alice_commissions'::bigint[],
          'member: affiliate_api.commissions are the commissions she earns');
SELECT ok(cardinality(:'alice_commissions'::bigint[]) = 3 AND :n_all_commissions > 3,
          'member: (3 of the commissions the superuser sees)');
SELECT is(ARRAY(SELECT conversion_id FROM affiliate_api.purchases ORDER BY 1), :'alice_conversions'::bigint[],
          'member: affiliate_api.purchases are her own purchases');
SELECT throws_ok('SELECT * FROM affiliate_api.conversions', '42501', 'permission denied for view conversions',
                 'member: affiliate_api.conversions (with the shop''s cost and the attribution) is the admin''s');
SELECT throws_ok('SELECT cost FROM affiliate.conversion', '42501', NULL,
                 'member: the cost column of her own orders is not hers to read');
SELECT is(ARRAY(SELECT withdrawal_id FROM affiliate_api.withdrawals ORDER BY 1), :'alice_withdrawals'::bigint[],
          'member: affiliate_api.withdrawals are her own');
SELECT is(ARRAY(SELECT row(program_id, name, currency)::text FROM affiliate_api.program),
          ARRAY[row(:pa::bigint, 'Shop A', 'INR')::text], 'member: affiliate_api.program is her program only');
SELECT is((SELECT count(*) FROM affiliate.member), 1::bigint,
          'member: selecting affiliate.member directly shows her own row only (row-level security)');
SELECT is((SELECT count(*) FROM affiliate.withdrawal), 2::bigint,
          'member: selecting affiliate.withdrawal directly shows her own withdrawals only');

-- what she may not read or call
SELECT throws_ok('SELECT * FROM affiliate_api.plans', '42501', 'permission denied for view plans',
                 'member cannot select affiliate_api.plans');
SELECT throws_ok('SELECT * FROM affiliate_api.audit_log', '42501', 'permission denied for view audit_log',
                 'member cannot select affiliate_api.audit_log');
SELECT throws_ok('SELECT * FROM affiliate.account', '42501', NULL, 'member cannot select affiliate.account');
SELECT throws_ok('SELECT * FROM affiliate.posting', '42501', NULL, 'member cannot select affiliate.posting');
SELECT throws_ok('SELECT * FROM affiliate.click', '42501', NULL, 'member cannot select affiliate.click');
SELECT throws_ok(format('SELECT * FROM affiliate.balance(%s, %s)', :pa, :a_root), '42501', NULL,
                 'member cannot execute affiliate.balance() (another member''s wallet)');
SELECT throws_ok(format('SELECT * FROM affiliate.wallet_transactions(%s, %s)', :pa, :a_root), '42501', NULL,
                 'member cannot execute affiliate.wallet_transactions()');
SELECT throws_ok(format('SELECT * FROM affiliate.downline(%s, %s)', :pa, :a_root), '42501', NULL,
                 'member cannot execute affiliate.downline()');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_balance(%s)', :a_root), '42501', NULL,
                 'member cannot read another member''s balance (admin function)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_transactions(%s)', :a_root), '42501', NULL,
                 'member cannot read another member''s history (admin function)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_tree(%s)', :a_root), '42501', NULL,
                 'member cannot read another member''s tree (admin function)');
SELECT throws_ok('SELECT * FROM affiliate_api.withdrawal_queue()', '42501', NULL,
                 'member cannot list the program''s withdrawals (admin function)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_al1), '42501', NULL,
                 'member cannot approve her own withdrawal');
SELECT throws_ok(format('SELECT affiliate_api.adjust_balance(%s, 100000, %L)', :a_alice, 'gift'), '42501', NULL,
                 'member cannot credit herself');

-- withdrawals: request one, cancel her own, not another member's
SELECT affiliate_api.request_withdrawal(100, 'upi', 'alice@upi') AS w_al3 \gset
SELECT is(ARRAY(SELECT row(b.pending, b.available, b.withdrawing)::text FROM affiliate_api.my_balance() b),
          ARRAY[row(200, 1600, 900)::text], 'member: request_withdrawal moves available to withdrawing');
SELECT is((SELECT row(w.member_id, w.amount, w.status, w.destination_masked)::text
             FROM affiliate_api.cancel_withdrawal(:w_al1) w),
          row(:a_alice::bigint, 500::bigint, 'cancelled', 'a***@upi')::text,
          'member: cancel_withdrawal of her requested withdrawal returns it cancelled');
SELECT is(ARRAY(SELECT row(b.pending, b.available, b.withdrawing)::text FROM affiliate_api.my_balance() b),
          ARRAY[row(200, 2100, 400)::text], 'member: the cancelled amount is available again');
SELECT throws_ok(format('SELECT * FROM affiliate_api.cancel_withdrawal(%s)', :w_al2), 'PT409', NULL,
                 'member: cancelling her approved withdrawal is PT409 (HTTP 409)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.cancel_withdrawal(%s)', :w_ro3), 'PT404',
                 format('withdrawal %s does not exist', :w_ro3),
                 'member: cancelling another member''s withdrawal is PT404, as if it did not exist');
SELECT throws_ok(format('SELECT * FROM affiliate_api.cancel_withdrawal(%s)', :w_b1), 'PT404', NULL,
                 'member: cancelling a withdrawal of another program is PT404');
RESET ROLE;

SELECT results_eq(format('SELECT member_id, amount, status FROM affiliate.withdrawal WHERE program_id = %s AND id IN (%s, %s, %s) ORDER BY id',
                         :pa, :w_al1, :w_al3, :w_ro3),
    format('VALUES (%s::bigint, 500::bigint, %L::text), (%s::bigint, 150::bigint, %L::text), (%s::bigint, 100::bigint, %L::text)',
           :a_alice, 'cancelled', :a_root, 'requested', :a_alice, 'requested'),
    'member: her request is hers, her cancel took effect, root''s withdrawal is still requested');
SELECT is((SELECT row(actor, db_role, detail->>'withdrawal_id')::text FROM affiliate.audit_log
            WHERE program_id = :pa AND action = 'cancel_withdrawal'),
          row('tg:1002', 'affiliate_member', :'w_al1')::text,
          'member: the cancel is audited with the JWT sub as actor');
SELECT is((SELECT count(*) FROM affiliate.withdrawal WHERE program_id = :pb AND status = 'cancelled'), 0::bigint,
          'member: nothing of program B was cancelled');

-- the claims decide who the member is
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": "%s", "sub": "tg:1002"}', :pa), true) \g /dev/null
SELECT is((SELECT member_id FROM affiliate_api.me()), :a_alice::bigint,
          'member: the program claim may be a string of digits');
SELECT set_config('request.jwt.claims', '{"role": "affiliate_member", "sub": "tg:1002"}', true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', 'the request names no program',
                 'member: claims without "program" are refused (me)');
SELECT throws_ok('SELECT * FROM affiliate_api.members', '42501', NULL,
                 'member: claims without "program" are refused (members view)');
SELECT throws_ok('SELECT affiliate_api.join()', '42501', NULL,
                 'member: claims without "program" cannot join');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.my_balance()', '42501', 'the request names no member',
                 'member: claims without "sub" are refused');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": 0, "sub": "tg:1002"}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', NULL, 'member: program 0 is no program');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1002"}', :pb), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', format('the caller is not a member of program %s', :pb),
                 'member: claims naming program B, where the sub is not a member, are refused (me)');
SELECT throws_ok('SELECT * FROM affiliate_api.my_balance()', '42501', NULL,
                 'member: ... (my_balance)');
SELECT throws_ok('SELECT * FROM affiliate_api.my_tree()', '42501', NULL,
                 'member: ... (my_tree)');
SELECT throws_ok('SELECT * FROM affiliate_api.withdrawals', '42501', NULL,
                 'member: ... (withdrawals view)');
SELECT throws_ok('SELECT * FROM affiliate_api.commissions', '42501', NULL,
                 'member: ... (commissions view)');
SELECT throws_ok('SELECT affiliate_api.request_withdrawal(100, ''upi'', ''alice@upi'')', '42501', NULL,
                 'member: ... (request_withdrawal)');
SELECT set_config('request.jwt.claims', '', true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', NULL, 'member: no claims at all are refused (me)');
SELECT throws_ok('SELECT * FROM affiliate_api.members', '42501', NULL, 'member: no claims at all are refused (members view)');
SELECT throws_ok('SELECT * FROM affiliate_api.program', '42501', NULL, 'member: no claims at all are refused (program view)');
-- bob (tg:1003) is a member of both programs: the program claim picks one
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1003"}', :pb), true) \g /dev/null
SELECT is((SELECT row(member_id, sponsor_code)::text FROM affiliate_api.me()), row(:b_bob::bigint, :'b_xena_code')::text,
          'member: bob with program B claims is bob of program B');
SELECT is(ARRAY(SELECT conversion_id FROM affiliate_api.purchases), :'bobb_conversions'::bigint[],
          'member: bob of program B sees his purchase in B, not the one he made in A');
RESET ROLE;

-- joining
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.8", "user-agent": "AffApp/2"}', true) \g /dev/null
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1006"}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', NULL, 'member: before joining, tg:1006 is not a member');
SELECT affiliate_api.join() AS j1 \gset
SELECT is(affiliate_api.join(), :j1::bigint, 'member: joining again returns the same id');
SELECT is((SELECT row(member_id, external_id, sponsor_code, team_size)::text FROM affiliate_api.me()),
          row(:j1::bigint, 'tg:1006', NULL::text, 0::bigint)::text,
          'member: after join() without a code, me() is the new member without a sponsor');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1007"}', :pa), true) \g /dev/null
SELECT affiliate_api.join(lower(:'a_carol_code')) AS j2 \gset
SELECT is((SELECT row(member_id, sponsor_code)::text FROM affiliate_api.me()), row(:j2::bigint, :'a_carol_code')::text,
          'member: join(referral_code) makes the code''s owner the sponsor');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1008"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.join(%L)', :'b_xena_code'), '22023', NULL,
                 'member: join() with another program''s code is refused');
RESET ROLE;
SELECT results_eq(format('SELECT external_id, sponsor_id, upline, ip_hash IS NOT NULL FROM affiliate.member WHERE program_id = %s AND id IN (%s, %s) ORDER BY id',
                         :pa, :j1, :j2),
    format($$VALUES ('tg:1006'::text, NULL::bigint, '{}'::bigint[], true),
                    ('tg:1007'::text, %s::bigint, ARRAY[%s, %s, %s]::bigint[], true)$$, :a_carol, :a_carol, :a_alice, :a_root),
    'member: joined members sit in program A with their sponsor, upline and hashed IP');
SELECT is((SELECT count(*) FROM affiliate.member WHERE external_id IN ('tg:1006', 'tg:1007', 'tg:1008')), 2::bigint,
          'member: each sub joined once, and only program A');

-- ===========================================================================
-- affiliate_admin of program A: A's rows only; B's ids do not exist.
-- ===========================================================================
SELECT array_agg(id ORDER BY id) AS a_members FROM affiliate.member WHERE program_id = :pa \gset
SELECT array_agg(id ORDER BY id) AS a_commissions FROM affiliate.commission WHERE program_id = :pa \gset
SELECT array_agg(id ORDER BY id) AS a_withdrawals FROM affiliate.withdrawal WHERE program_id = :pa \gset
SELECT array_agg(id ORDER BY id) AS a_conversions FROM affiliate.conversion WHERE program_id = :pa \gset
SELECT array_agg(id ORDER BY id) AS a_plans FROM affiliate.plan WHERE program_id = :pa \gset
SELECT array_agg(id ORDER BY id) AS a_audit FROM affiliate.audit_log WHERE program_id = :pa \gset
SELECT (SELECT count(*) FROM affiliate.member WHERE program_id = :pb) AS n_b_members,
       (SELECT count(*) FROM affiliate.commission WHERE program_id = :pb) AS n_b_commissions,
       (SELECT count(*) FROM affiliate.withdrawal WHERE program_id = :pb) AS n_b_withdrawals,
       (SELECT count(*) FROM affiliate.conversion WHERE program_id = :pb) AS n_b_conversions,
       (SELECT count(*) FROM affiliate.plan WHERE program_id = :pb) AS n_b_plans,
       (SELECT count(*) FROM affiliate.audit_log WHERE program_id = :pb) AS n_b_audit \gset
SELECT ok(:n_b_members > 0 AND :n_b_commissions > 0 AND :n_b_withdrawals > 0 AND :n_b_conversions > 0
          AND :n_b_plans > 0 AND :n_b_audit > 0,
          'admin: (program B has rows of every kind the admin of A must not see)');
SELECT pg_temp.fingerprint(:pb) AS fp_b \gset

SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.headers', '{"x-forwarded-for": "192.0.2.1", "user-agent": "admin-console"}', true) \g /dev/null
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin-a@shop"}', :pa), true) \g /dev/null

SELECT is(ARRAY(SELECT row(program_id, name, currency)::text FROM affiliate_api.program),
          ARRAY[row(:pa::bigint, 'Shop A', 'INR')::text], 'admin: affiliate_api.program is program A only');
SELECT is(ARRAY(SELECT member_id FROM affiliate_api.members ORDER BY 1), :'a_members'::bigint[],
          'admin: affiliate_api.members are A''s members');
SELECT is(ARRAY(SELECT commission_id FROM affiliate_api.commissions ORDER BY 1), :'a_commissions'::bigint[],
          'admin: affiliate_api.commissions are A''s');
SELECT is(ARRAY(SELECT withdrawal_id FROM affiliate_api.withdrawals ORDER BY 1), :'a_withdrawals'::bigint[],
          'admin: affiliate_api.withdrawals are A''s');
SELECT is(ARRAY(SELECT conversion_id FROM affiliate_api.conversions ORDER BY 1), :'a_conversions'::bigint[],
          'admin: affiliate_api.conversions are A''s');
SELECT is(ARRAY(SELECT plan_id FROM affiliate_api.plans ORDER BY 1), :'a_plans'::bigint[],
          'admin: affiliate_api.plans are A''s');
SELECT is(ARRAY(SELECT audit_id FROM affiliate_api.audit_log ORDER BY 1), :'a_audit'::bigint[],
          'admin: affiliate_api.audit_log is A''s');
SELECT is(ARRAY(SELECT withdrawal_id FROM affiliate_api.withdrawal_queue('requested')),
          ARRAY[:w_ro1, :w_ro2, :w_ro3, :w_al3]::bigint[], 'admin: withdrawal_queue(requested) lists A''s requests');
SELECT is(affiliate_api.program_settings()->>'min_withdrawal', '100', 'admin: program_settings() are A''s');
SELECT is_empty('SELECT * FROM affiliate_api.verify()', 'admin: verify() finds nothing broken in A');
SELECT is(ARRAY(SELECT row(b.asset, b.available, b.withdrawing)::text FROM affiliate_api.member_balance(:a_root) b),
          ARRAY[row('INR', 1050, 750)::text], 'admin: member_balance() of an A member');
SELECT is(ARRAY(SELECT t.member_id FROM affiliate_api.member_tree(:a_alice) t ORDER BY t.level, t.member_id),
          ARRAY[:a_carol, :a_dan, :j2]::bigint[], 'admin: member_tree() of an A member');

-- the state machine on A's withdrawals
SELECT is((SELECT row(w.withdrawal_id, w.status)::text FROM affiliate_api.approve_withdrawal(:w_ro1) w),
          row(:w_ro1::bigint, 'approved')::text, 'admin: approve_withdrawal returns the approved row');
SELECT is((SELECT row(w.status, w.provider_ref)::text FROM affiliate_api.complete_withdrawal(:w_ro1, 'PAY-1') w),
          row('paid', 'PAY-1')::text, 'admin: complete_withdrawal returns the paid row');
SELECT is((SELECT row(w.status, w.reason)::text FROM affiliate_api.reject_withdrawal(:w_ro2, 'duplicate') w),
          row('rejected', 'duplicate')::text, 'admin: reject_withdrawal returns the rejected row');
SELECT is((SELECT row(w.status, w.reason)::text FROM affiliate_api.fail_withdrawal(:w_ca1, 'bank bounced') w),
          row('failed', 'bank bounced')::text, 'admin: fail_withdrawal returns the failed row');
SELECT throws_ok(format('SELECT * FROM affiliate_api.complete_withdrawal(%s, %L)', :w_ro3, 'PAY-3'), 'PT409', NULL,
                 'admin: completing a requested withdrawal is PT409');
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_ro2), 'PT409', NULL,
                 'admin: approving a rejected withdrawal is PT409');
SELECT throws_ok('SELECT * FROM affiliate_api.approve_withdrawal(999999999)', 'PT404', NULL,
                 'admin: approving an unknown withdrawal is PT404');

-- orders
SELECT results_eq(format('SELECT member_id, level, amount, status FROM affiliate_api.record_conversion(%L, %s, 6000)', 'A-6', :a_dan),
    format('VALUES (%s::bigint, 1, 600::bigint, %L::text), (%s::bigint, 2, 300::bigint, %L::text)',
           :a_carol, 'pending', :a_alice, 'pending'),
    'admin: record_conversion returns the new commissions');
SELECT results_eq(format('SELECT member_id, level, amount, status FROM affiliate_api.refund_conversion(%L)', 'A-6'),
    format('VALUES (%s::bigint, 1, 600::bigint, %L::text), (%s::bigint, 2, 300::bigint, %L::text)',
           :a_carol, 'reversed', :a_alice, 'reversed'),
    'admin: refund_conversion returns the reversed commissions');
SELECT is(affiliate_api.set_member_status(:a_bob, 'inactive', 'paused'), 'active',
          'admin: set_member_status on an A member returns the old status');

-- B's ids do not exist for the admin of A
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_b1), 'PT404',
                 format('withdrawal %s does not exist in program %s', :w_b1, :pa),
                 'admin of A: approving a withdrawal of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.reject_withdrawal(%s, %L)', :w_b1, 'no'), 'PT404', NULL,
                 'admin of A: rejecting a withdrawal of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.complete_withdrawal(%s, %L)', :w_b2, 'PAY-B'), 'PT404', NULL,
                 'admin of A: completing a withdrawal of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.fail_withdrawal(%s, %L)', :w_b2, 'no'), 'PT404', NULL,
                 'admin of A: failing a withdrawal of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_balance(%s)', :b_xena), 'PT404', NULL,
                 'admin of A: the balance of a member of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_transactions(%s)', :b_xena), 'PT404', NULL,
                 'admin of A: the history of a member of B is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_member_status(%s, %L)', :b_yuri, 'blocked'), 'PT404', NULL,
                 'admin of A: blocking a member of B is PT404');
SELECT throws_ok(format('SELECT affiliate_api.move_member(%s, %s)', :b_yuri, :a_root), 'PT404', NULL,
                 'admin of A: moving a member of B is PT404');
SELECT throws_ok(format('SELECT affiliate_api.move_member(%s, %s)', :a_dan, :b_xena), 'PT404', NULL,
                 'admin of A: moving an A member under a member of B is PT404');
SELECT throws_ok(format('SELECT affiliate_api.adjust_balance(%s, 100, %L)', :b_xena, 'bonus'), 'PT404', NULL,
                 'admin of A: crediting a member of B is PT404');
SELECT throws_ok(format('SELECT affiliate_api.pay_from_wallet(%s, 100, %L)', :b_xena, 'ORDER-B'), 'PT404', NULL,
                 'admin of A: charging a member of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_conversion(%L, %s, 1000)', 'A-B', :b_yuri), 'PT404', NULL,
                 'admin of A: an order bought by a member of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_conversion(%L, %s, 1000, 0, NULL, NULL, %s)', 'A-S', :a_dan, :b_xena),
                 'PT404', NULL, 'admin of A: an order sold by a member of B is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.refund_conversion(%L)', 'B-1'), 'PT404', NULL,
                 'admin of A: refunding an order of B is PT404');
SELECT ok(pg_temp.outcome(format('SELECT * FROM affiliate_api.member_tree(%s)', :b_xena)) IN ('0 rows', 'PT404'),
          'admin of A: the tree of a member of B is not shown (no rows, or PT404)');
SELECT throws_ok(format('SELECT affiliate_api.add_member(%L, %L)', 'tg:3001', :'b_xena_code'), '22023', NULL,
                 'admin of A: a referral code of B is unknown in A');

-- what the admin may not do
SELECT throws_ok('SELECT * FROM affiliate_api.me()', '42501', 'permission denied for function me',
                 'admin cannot call member functions');
SELECT throws_ok(format('SELECT * FROM affiliate.approve_withdrawal(%s, %s)', :pa, :w_ro3), '42501', NULL,
                 'admin cannot execute affiliate.approve_withdrawal');
SELECT throws_ok(format($$SELECT affiliate.post_journal(%s, 'fund', '[{"member": %s, "kind": "available", "amount": 5}, {"kind": "revenue", "amount": -5}]')$$,
                        :pa, :a_alice), '42501', NULL, 'admin cannot execute affiliate.post_journal');
SELECT throws_ok(format('SELECT * FROM affiliate.balance(%s, %s)', :pa, :a_alice), '42501', NULL,
                 'admin cannot execute affiliate.balance');
SELECT throws_ok('SELECT affiliate.current_member()', '42501', 'permission denied for function current_member',
                 'admin cannot execute affiliate.current_member');
SELECT throws_ok('SELECT * FROM affiliate.program_secret', '42501', NULL, 'admin cannot read affiliate.program_secret');
SELECT throws_ok('SELECT * FROM affiliate.account', '42501', NULL, 'admin cannot read affiliate.account');
SELECT throws_ok('SELECT * FROM affiliate.journal', '42501', NULL, 'admin cannot read affiliate.journal');
SELECT throws_ok(format('UPDATE affiliate.withdrawal SET status = %L WHERE id = %s', 'paid', :w_ro3), '42501', NULL,
                 'admin cannot UPDATE affiliate.withdrawal');
SELECT throws_ok(format('DELETE FROM affiliate.commission WHERE program_id = %s', :pa), '42501', NULL,
                 'admin cannot DELETE FROM affiliate.commission');
SELECT throws_ok(format($$INSERT INTO affiliate.audit_log (program_id, actor, db_role, action) VALUES (%s, 'x', 'x', 'x')$$, :pa),
                 '42501', NULL, 'admin cannot INSERT INTO affiliate.audit_log');
SELECT throws_ok(format('UPDATE affiliate.member SET sponsor_id = NULL WHERE id = %s', :a_alice), '42501', NULL,
                 'admin cannot UPDATE affiliate.member');
SELECT throws_ok(format('UPDATE affiliate_api.withdrawals SET status = %L WHERE withdrawal_id = %s', 'paid', :w_ro3), '42501', NULL,
                 'admin cannot UPDATE the affiliate_api.withdrawals view');
SELECT throws_ok(format('DELETE FROM affiliate_api.members WHERE member_id = %s', :a_dan), '42501', NULL,
                 'admin cannot DELETE FROM the affiliate_api.members view');
SELECT set_config('request.jwt.claims', '{"role": "affiliate_admin", "sub": "admin-a@shop"}', true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.withdrawal_queue()', '42501', 'the request names no program',
                 'admin: claims without "program" are refused (withdrawal_queue)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_ro3), '42501', NULL,
                 'admin: claims without "program" are refused (approve_withdrawal)');
SELECT throws_ok('SELECT * FROM affiliate_api.members', '42501', NULL,
                 'admin: claims without "program" are refused (members view)');
-- an audited step needs a "sub" that can name the actor
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_admin', 'program', :pa,
                                                          'sub', repeat('x', 201))::text, true) \g /dev/null
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_ro3), '42501',
                 'the request''s "sub" claim cannot name the actor',
                 'admin: a "sub" longer than 200 characters is refused for an audited step');
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_admin', 'program', :pa,
                                                          'sub', json_build_object('id', 'x'))::text, true) \g /dev/null
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_ro3), '42501',
                 'the request''s "sub" claim cannot name the actor',
                 'admin: a "sub" that is a JSON object is refused for an audited step');
RESET ROLE;

SELECT is(pg_temp.fingerprint(:pb), :'fp_b', 'admin of A: nothing of program B changed');
SELECT results_eq(format($$SELECT action, actor, db_role, (detail->>'withdrawal_id')::bigint
                            FROM affiliate.audit_log
                           WHERE program_id = %s AND db_role = 'affiliate_admin' AND action LIKE '%%_withdrawal'
                           ORDER BY id$$, :pa),
    format($$VALUES ('approve_withdrawal'::text, 'admin-a@shop'::text, 'affiliate_admin'::text, %s::bigint),
                    ('complete_withdrawal', 'admin-a@shop', 'affiliate_admin', %s),
                    ('reject_withdrawal', 'admin-a@shop', 'affiliate_admin', %s),
                    ('fail_withdrawal', 'admin-a@shop', 'affiliate_admin', %s)$$, :w_ro1, :w_ro1, :w_ro2, :w_ca1),
    'admin: each withdrawal step wrote an audit row whose actor is the JWT sub');
SELECT results_eq(format('SELECT id, status FROM affiliate.withdrawal WHERE program_id = %s AND id IN (%s, %s, %s, %s) ORDER BY id',
                         :pa, :w_ro1, :w_ro2, :w_ro3, :w_ca1),
    format('VALUES (%s::bigint, %L::text), (%s, %L), (%s, %L), (%s, %L)',
           :w_ro1, 'paid', :w_ro2, 'rejected', :w_ro3, 'requested', :w_ca1, 'failed'),
    'admin: A''s withdrawals are paid, rejected, still requested, failed');

-- ===========================================================================
-- affiliate_operator (trusted SQL): every program, the SQL API; the claims of
-- a request do not narrow it.
-- ===========================================================================
SELECT count(*) AS n_members_now FROM affiliate.member \gset
SELECT count(*) AS n_withdrawals_now FROM affiliate.withdrawal \gset
SET LOCAL ROLE affiliate_operator;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin-a@shop"}', :pa), true) \g /dev/null
SELECT is((SELECT count(*) FROM affiliate.member), :n_members_now::bigint,
          'operator: sees the members of every program, whatever the claims');
SELECT is((SELECT count(*) FROM affiliate.withdrawal), :n_withdrawals_now::bigint,
          'operator: sees the withdrawals of every program');
SELECT set_config('request.jwt.claims', '', true) \g /dev/null
SELECT is(ARRAY(SELECT row(b.asset, b.available, b.withdrawing)::text FROM affiliate.balance(:pb, :b_xena) b),
          ARRAY[row('EUR', 6500, 1500)::text], 'operator: affiliate.balance() of a member of B');
SELECT is(ARRAY(SELECT q.withdrawal_id FROM affiliate.withdrawals(:pb) q), ARRAY[:w_b1, :w_b2]::bigint[],
          'operator: affiliate.withdrawals() of program B');
SELECT is((SELECT status FROM affiliate.approve_withdrawal(:pb, :w_b1)), 'approved',
          'operator: affiliate.approve_withdrawal() in program B');
SELECT throws_ok(format('SELECT * FROM affiliate_api.approve_withdrawal(%s)', :w_b1), '42501', NULL,
                 'operator: the HTTP API is not the operator''s');
RESET ROLE;
SELECT is((SELECT row(actor, db_role)::text FROM affiliate.audit_log
            WHERE program_id = :pb AND action = 'approve_withdrawal' AND (detail->>'withdrawal_id')::bigint = :w_b1),
          row('affiliate_operator', 'affiliate_operator')::text,
          'operator: without claims the audit actor is the database role');

-- ===========================================================================
-- SECURITY DEFINER safety: a member who may create objects in a schema on
-- their search_path cannot make the API run them.  The trap is armed (the
-- same names hijack the member's own unqualified SQL), the API still answers
-- right and never touches it.
-- ===========================================================================
CREATE SCHEMA evil;
GRANT USAGE, CREATE ON SCHEMA evil TO affiliate_member;
SELECT b.available AS alice_available, b.withdrawing AS alice_withdrawing
  FROM affiliate.balance(:pa, :a_alice) b \gset
SELECT count(*) AS alice_tx FROM affiliate.wallet_transactions(:pa, :a_alice) \gset

SET LOCAL ROLE affiliate_member;
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.9"}', true) \g /dev/null
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1002"}', :pa), true) \g /dev/null
CREATE TABLE evil.hits (what text NOT NULL);
CREATE FUNCTION evil.hit(what text) RETURNS void LANGUAGE sql AS $$ INSERT INTO evil.hits VALUES (what) $$;
-- functions that shadow pg_catalog's
CREATE FUNCTION evil.format(fmt text, arg bigint) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('format'); RETURN 'hijacked'; END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('now'); RETURN '2000-01-01 00:00:00+00'; END $$;
CREATE FUNCTION evil.current_setting(name text, missing_ok boolean) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('current_setting'); RETURN '{"program": 1, "sub": "tg:1001"}'; END $$;
-- operators that shadow pg_catalog's: every comparison is true
CREATE FUNCTION evil.eq_int8(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('= bigint'); RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_int8);
CREATE FUNCTION evil.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN PERFORM evil.hit('= text'); RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_text);
-- tables that shadow affiliate's: alice as someone else
CREATE TABLE evil.member (program_id bigint, id bigint, external_id text, code text, sponsor_id bigint,
                          upline bigint[], status text);
INSERT INTO evil.member VALUES (:pa, -1, 'tg:1002', 'EVIL', -2, '{-2}', 'active');
CREATE TABLE evil.withdrawal (program_id bigint, id bigint, member_id bigint, status text);
INSERT INTO evil.withdrawal VALUES (:pa, :w_ro3, :a_alice, 'requested');

-- the caller's search path, as in the brief: evil first (pg_catalog implicitly before it)
SET LOCAL search_path = evil, public;
SELECT format('%s', 1::bigint) AS ctl1_format, (SELECT count(*) FROM member) AS ctl1_member \gset
SELECT m.member_id AS ev1_me, m.code AS ev1_code FROM affiliate_api.me() m \gset
SELECT array_agg(member_id) AS ev1_members FROM affiliate_api.members \gset
-- and worse: evil even before pg_catalog
SET LOCAL search_path = evil, pg_catalog, public;
SELECT now() AS ctl2_now, (1::bigint = 2::bigint) AS ctl2_eq_int8, ('a'::text = 'b'::text) AS ctl2_eq_text,
       current_setting('request.jwt.claims', true) AS ctl2_claims \gset
SELECT count(*) AS ctl_hits FROM evil.hits \gset
SELECT m.member_id AS ev_me, m.code AS ev_code, m.sponsor_code AS ev_sponsor, m.team_size AS ev_team
  FROM affiliate_api.me() m \gset
SELECT array_agg(t.member_id ORDER BY t.level, t.member_id) AS ev_tree FROM affiliate_api.my_tree() t \gset
SELECT b.available AS ev_available, b.withdrawing AS ev_withdrawing FROM affiliate_api.my_balance() b \gset
SELECT count(*) AS ev_tx FROM affiliate_api.my_transactions() \gset
SELECT affiliate_api.join() AS ev_join \gset
SELECT affiliate_api.request_withdrawal(100, 'upi', 'alice@upi') AS ev_wd \gset
SELECT w.member_id AS ev_cancel_member, w.status AS ev_cancel_status FROM affiliate_api.cancel_withdrawal(:ev_wd) w \gset
SELECT l.program_name AS ev_lookup_name, l.valid AS ev_lookup_valid, l.active AS ev_lookup_active
  FROM affiliate_api.lookup_code(:pa, :'a_root_code') l \gset
SELECT affiliate_api.record_click(:pa, :'a_root_code', 'evil') AS ev_click \gset
SELECT array_agg(member_id) AS ev_members FROM affiliate_api.members \gset
SELECT array_agg(withdrawal_id ORDER BY withdrawal_id) AS ev_withdrawals FROM affiliate_api.withdrawals \gset
RESET search_path;
RESET ROLE;

SELECT is(:'ctl1_format'::text, 'hijacked', 'evil: (the trap is armed: evil.format() takes the caller''s unqualified format())');
SELECT is(:ctl1_member::bigint, 1::bigint, 'evil: (the trap is armed: the caller''s unqualified member is evil.member)');
SELECT ok(:'ctl2_now'::timestamptz = '2000-01-01 00:00:00+00' AND :'ctl2_eq_int8'::boolean AND :'ctl2_eq_text'::boolean
          AND :'ctl2_claims' = '{"program": 1, "sub": "tg:1001"}',
          'evil: (the trap is armed: now(), = and current_setting() are evil''s for the caller)');
SELECT is(:ev1_me::bigint, :a_alice::bigint, 'evil, public: me() is still alice');
SELECT is(:'ev1_code'::text, :'a_alice_code', 'evil, public: me() returns her real code');
SELECT is(:'ev1_members'::bigint[], ARRAY[:a_alice]::bigint[], 'evil, public: the members view is still her own row');
SELECT is(row(:ev_me::bigint, :'ev_code', :'ev_sponsor', :ev_team::bigint)::text,
          row(:a_alice::bigint, :'a_alice_code', :'a_root_code', 3::bigint)::text,
          'evil, pg_catalog: me() is still alice, with her real sponsor and team');
SELECT is(:'ev_tree'::bigint[], ARRAY[:a_carol, :a_dan, :j2]::bigint[], 'evil, pg_catalog: my_tree() is still her downline');
SELECT is(row(:ev_available::bigint, :ev_withdrawing::bigint)::text,
          row(:alice_available::bigint, :alice_withdrawing::bigint)::text,
          'evil, pg_catalog: my_balance() is still her wallet');
SELECT is(:ev_tx::bigint, :alice_tx::bigint, 'evil, pg_catalog: my_transactions() is still her history');
SELECT is(:ev_join::bigint, :a_alice::bigint, 'evil, pg_catalog: join() still returns her id');
SELECT is(row(:ev_cancel_member::bigint, :'ev_cancel_status')::text, row(:a_alice::bigint, 'cancelled')::text,
          'evil, pg_catalog: request_withdrawal() and cancel_withdrawal() still act on her own withdrawal');
SELECT is(row(:'ev_lookup_name', :'ev_lookup_valid'::boolean, :'ev_lookup_active'::boolean)::text,
          row('Shop A', true, true)::text, 'evil, pg_catalog: lookup_code() still answers right');
SELECT is((SELECT row(member_id, channel, at = now())::text FROM affiliate.click WHERE program_id = :pa AND id = :ev_click),
          row(:a_root::bigint, 'evil', true)::text,
          'evil, pg_catalog: record_click() still records the code''s owner at the real now()');
SELECT is(:'ev_members'::bigint[], ARRAY[:a_alice]::bigint[], 'evil, pg_catalog: the members view is still her own row');
SELECT is(:'ev_withdrawals'::bigint[],
          ARRAY(SELECT id FROM affiliate.withdrawal WHERE program_id = :pa AND member_id = :a_alice ORDER BY id),
          'evil, pg_catalog: the withdrawals view is still her own withdrawals');
SELECT is((SELECT count(*) FROM evil.hits), :ctl_hits::bigint,
          'evil: no evil function or operator ran inside the API (only the caller''s own calls above)');
SELECT is((SELECT count(*) FROM affiliate.withdrawal WHERE program_id = :pa AND id = :w_ro3 AND status = 'requested'),
          1::bigint, 'evil: root''s withdrawal was not touched');

-- With search_path = '' the session's temporary schema is still searched
-- first for type (and relation) names, so the API's bodies qualify every type
-- that is not an SQL keyword (pg_catalog.text, ...).  A caller's domains in
-- pg_temp that would shadow them are never used: their CHECK never runs.
CREATE TEMP TABLE temp_hits (what text NOT NULL);
GRANT INSERT, SELECT ON temp_hits TO affiliate_member, affiliate_anon, affiliate_admin;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1002"}', :pa), true) \g /dev/null
CREATE FUNCTION pg_temp.trap(v text) RETURNS boolean LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO pg_temp.temp_hits VALUES (current_user || ':' || coalesce(v, '?')); RETURN true; END $$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.trap(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.trap(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.inet AS pg_catalog.inet CHECK (pg_temp.trap(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (pg_temp.trap(VALUE::pg_catalog.text));
SELECT m.member_id AS tmp_me FROM affiliate_api.me() m \gset
SELECT affiliate_api.join() AS tmp_join \gset
SELECT count(*) AS tmp_tree FROM affiliate_api.my_tree() \gset
SELECT count(*) AS tmp_tx FROM affiliate_api.my_transactions() \gset
SELECT affiliate_api.request_withdrawal(100, 'upi', 'alice@upi') AS tmp_wd \gset
SELECT w.status AS tmp_cancel FROM affiliate_api.cancel_withdrawal(:tmp_wd) w \gset
SELECT affiliate_api.record_click(:pa, :'a_root_code', 'temp') AS tmp_click \gset
SELECT l.valid AS tmp_valid FROM affiliate_api.lookup_code(:pa, :'a_root_code') l \gset
-- (read the log and drop the traps before the test's own queries use text)
SELECT count(*) AS tmp_hits FROM pg_temp.temp_hits \gset
DROP DOMAIN pg_temp.text, pg_temp.jsonb, pg_temp.inet, pg_temp.timestamptz;
RESET ROLE;
SELECT is(row(:tmp_me::bigint, :tmp_join::bigint, :'tmp_cancel', :'tmp_valid'::boolean)::text,
          row(:a_alice::bigint, :a_alice::bigint, 'cancelled', true)::text,
          'pg_temp domains: the member API still answers right');
SELECT is(:tmp_hits::bigint, 0::bigint,
          'pg_temp domains named like pg_catalog types are never used by the API (their CHECK never ran)');
SELECT ok((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'affiliate_api'
              AND p.prosrc ~ '(::|\s)(text|jsonb|inet|timestamptz|numeric|bytea)\M'
              AND p.prosrc !~ 'pg_catalog\.(text|jsonb)') = 0,
          'no affiliate_api body names text, jsonb, inet, timestamptz, numeric or bytea unqualified');

-- ===========================================================================
-- The client address behind proxies: X-Forwarded-For is read from the end,
-- past pg_affiliate.trusted_proxies proxies (default 1); what the client
-- wrote before that is ignored.
-- ===========================================================================
SELECT set_config('request.headers', '{"x-forwarded-for": "198.51.100.77, 203.0.113.9", "user-agent": "curl/8"}', true) \g /dev/null
SELECT is((SELECT row(ip, user_agent)::text FROM affiliate.request_client()), row('203.0.113.9'::inet, 'curl/8')::text,
          'client: one trusted proxy: the last X-Forwarded-For entry, not the client''s own claim');
SET LOCAL pg_affiliate.trusted_proxies = 2;
SELECT is((SELECT ip FROM affiliate.request_client()), '198.51.100.77'::inet,
          'client: two trusted proxies: the second entry from the end');
SET LOCAL pg_affiliate.trusted_proxies = 3;
SELECT is((SELECT ip FROM affiliate.request_client()), NULL::inet,
          'client: fewer entries than trusted proxies: no address');
SET LOCAL pg_affiliate.trusted_proxies = 0;
SELECT is((SELECT ip FROM affiliate.request_client()), NULL::inet,
          'client: no trusted proxy: X-Forwarded-For is not believed');
RESET pg_affiliate.trusted_proxies;
SELECT set_config('request.headers', '{"x-real-ip": "2001:db8::7"}', true) \g /dev/null
SELECT is((SELECT ip FROM affiliate.request_client()), '2001:db8::7'::inet,
          'client: without X-Forwarded-For, X-Real-IP');
SELECT set_config('request.headers', '{"x-forwarded-for": "203.0.113.9, not-an-ip", "user-agent": ""}', true) \g /dev/null
SELECT is((SELECT row(ip, user_agent)::text FROM affiliate.request_client()), row(NULL::inet, NULL::text)::text,
          'client: an entry that is not an address gives no address; an empty user agent none');

SELECT * FROM finish();
ROLLBACK;
