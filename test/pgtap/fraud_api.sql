-- The HTTP API for fraud flags (issue 10 §2), as PostgREST calls it: SET
-- LOCAL ROLE to the JWT's role and request.jwt.claims as a transaction-local
-- setting, RESET ROLE between blocks.  Only the admin of a program reads its
-- flags, runs the checks, resolves or dismisses, blocks and unblocks
-- (audited with the JWT "sub"); never another program's; members and anon
-- can do none of it.  A member with an open flag cannot request a
-- withdrawal (PT409, HTTP 409).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(34);

SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('run_fraud_checks', 'resolve_fraud_flag', 'block_member', 'unblock_member')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin block_member', 'affiliate_admin resolve_fraud_flag',
                'affiliate_admin run_fraud_checks', 'affiliate_admin unblock_member'],
          'fraud endpoints: the admin only');
SELECT is(ARRAY(SELECT r FROM unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE has_table_privilege(r, 'affiliate_api.fraud_flags', 'SELECT') ORDER BY 1),
          ARRAY['affiliate_admin'], 'fraud_flags: the admin only');

-- ===========================================================================
-- Data, as the superuser.  Program A (one member per device): sam, and
-- sam2 on sam's device under sam's code (self_referral on sam, and
-- shared_device on sam2); ann and ben on another device (shared_device on
-- ben).  Program B: xena and xena2 likewise (self_referral on xena).
-- ===========================================================================
SELECT affiliate.create_program('Shop A', 'INR', '{"fraud_device_members": 1}') AS pa \gset
SELECT affiliate.create_program('Shop B', 'INR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1', NULL, 'dev-sam') AS sam \gset
SELECT affiliate.add_member(:pa, 'tg:2', (SELECT code::text FROM affiliate.member WHERE id = :sam), 'dev-sam') AS sam2 \gset
SELECT affiliate.add_member(:pa, 'tg:3', NULL, 'dev-ab') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:4', NULL, 'dev-ab') AS ben \gset
SELECT affiliate.add_member(:pb, 'tg:9', NULL, 'dev-x') AS xena \gset
SELECT affiliate.add_member(:pb, 'tg:10', (SELECT code::text FROM affiliate.member WHERE id = :xena), 'dev-x') AS xena2 \gset
SELECT id AS f_sam FROM affiliate.fraud_flag WHERE program_id = :pa AND member_id = :sam \gset
SELECT id AS f_xena FROM affiliate.fraud_flag WHERE program_id = :pb AND member_id = :xena \gset
SELECT is(ARRAY(SELECT rule || ' ' || (member_id = :sam) FROM affiliate.fraud_flag WHERE program_id = :pa ORDER BY id),
          ARRAY['self_referral true', 'shared_device false', 'shared_device false'], 'program A: three flags at join');
SELECT affiliate.adjust_balance(:pa, :sam, 5000, 'opening') IS NOT NULL AS funded \g /dev/null

-- ===========================================================================
-- anon and members: nothing
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.fraud_flags', '42501', NULL, 'anon: cannot read fraud_flags');
SELECT throws_ok('SELECT * FROM affiliate.fraud_flag', '42501', NULL, 'anon: cannot read affiliate.fraud_flag');
SELECT throws_ok(format('SELECT * FROM affiliate_api.run_fraud_checks(%s)', :sam), '42501', NULL, 'anon: cannot run the checks');
SELECT throws_ok(format('SELECT affiliate_api.resolve_fraud_flag(%s, %L, %L)', :f_sam, 'dismissed', 'x'), '42501', NULL,
                 'anon: cannot resolve');
SELECT throws_ok(format('SELECT affiliate_api.block_member(%s, %L)', :sam, 'x'), '42501', NULL, 'anon: cannot block');
RESET ROLE;

SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.fraud_flags', '42501', NULL, 'member: cannot read fraud_flags (not even their own)');
SELECT throws_ok('SELECT * FROM affiliate.fraud_flag', '42501', NULL, 'member: cannot read affiliate.fraud_flag');
SELECT throws_ok(format('SELECT * FROM affiliate_api.run_fraud_checks(%s)', :sam), '42501', NULL, 'member: cannot run the checks');
SELECT throws_ok(format('SELECT affiliate_api.resolve_fraud_flag(%s, %L, %L)', :f_sam, 'dismissed', 'mine'), '42501', NULL,
                 'member: cannot dismiss their own flag');
SELECT throws_ok(format('SELECT affiliate_api.block_member(%s, %L)', :ann, 'x'), '42501', NULL, 'member: cannot block');
SELECT throws_ok(format('SELECT affiliate_api.unblock_member(%s, %L)', :sam, 'x'), '42501', NULL, 'member: cannot unblock');
-- the hold, over HTTP: 409 with the flag named
SELECT throws_ok('SELECT affiliate_api.request_withdrawal(1000, ''upi'', ''sam@upi'')', 'PT409',
                 format('member %s has an open fraud flag', :sam), 'member: a withdrawal request under an open flag is PT409');
RESET ROLE;
SELECT is((SELECT count(*) FROM affiliate.withdrawal WHERE program_id = :pa), 0::bigint, 'no withdrawal was written');

-- ===========================================================================
-- the admin of program A
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin@a"}', :pa), true) \g /dev/null
SELECT is((SELECT count(*) FROM affiliate_api.fraud_flags), 3::bigint, 'admin: the program''s flags');
SELECT is((SELECT count(*) FROM affiliate_api.fraud_flags WHERE flag_id = :f_xena), 0::bigint,
          'admin: not another program''s flag');
SELECT is((SELECT rule FROM affiliate_api.fraud_flags WHERE status = 'open' AND member_id = :sam), 'self_referral',
          'admin: filter by status and member');
SELECT is((SELECT count(*) FROM affiliate.fraud_flag), 3::bigint, 'admin: affiliate.fraud_flag under row-level security');
-- ann shares ben's device: the check on demand flags ann too
SELECT is(ARRAY(SELECT rule || ' ' || status || ' ' || source FROM affiliate_api.run_fraud_checks(:ann)),
          ARRAY['shared_device open run_fraud_checks'], 'admin: run_fraud_checks returns the flag raised');
SELECT is((SELECT count(*) FROM affiliate_api.run_fraud_checks(:ann)), 0::bigint, 'admin: nothing twice');
SELECT throws_ok(format('SELECT * FROM affiliate_api.run_fraud_checks(%s)', :xena), 'PT404', NULL,
                 'admin: a member of another program is PT404');
SELECT is((SELECT row(status, actor, note)::text FROM affiliate_api.resolve_fraud_flag(:f_sam, 'dismissed', 'second phone')),
          row('dismissed', 'admin@a', 'second phone')::text, 'admin: dismiss, the actor is the JWT sub');
SELECT throws_ok(format('SELECT affiliate_api.resolve_fraud_flag(%s, %L, %L)', :f_sam, 'resolved', 'again'), 'PT409', NULL,
                 'admin: a decided flag is PT409');
SELECT throws_ok(format('SELECT affiliate_api.resolve_fraud_flag(%s, %L, %L)', :f_xena, 'dismissed', 'x'), 'PT404', NULL,
                 'admin: another program''s flag is PT404');
SELECT throws_ok(format('SELECT affiliate_api.resolve_fraud_flag(%s, %L, %L)', :f_sam, 'ignored', 'x'), '22023', NULL,
                 'admin: an unknown decision is 22023');
SELECT is(affiliate_api.block_member(:ben, 'device farm'), 'active', 'admin: block returns the old status');
SELECT throws_ok(format('SELECT affiliate_api.block_member(%s, %L)', :ben, 'again'), 'PT409', NULL,
              'admin: blocking a blocked member is PT409');
SELECT is(affiliate_api.unblock_member(:ben, 'appeal'), 'blocked', 'admin: unblock returns the old status');
SELECT throws_ok(format('SELECT affiliate_api.block_member(%s, %L)', :xena, 'x'), 'PT404', NULL,
                 'admin: a member of another program is PT404');
RESET ROLE;

SELECT is(ARRAY(SELECT action || ' ' || actor FROM affiliate.audit_log
                 WHERE program_id = :pa AND action IN ('run_fraud_checks', 'resolve_fraud_flag', 'block_member', 'unblock_member')
                 ORDER BY id),
          ARRAY['run_fraud_checks admin@a', 'run_fraud_checks admin@a', 'resolve_fraud_flag admin@a',
                'block_member admin@a', 'unblock_member admin@a'], 'audited with the JWT sub');
SELECT is((SELECT row(status, actor)::text FROM affiliate.fraud_flag WHERE program_id = :pb AND id = :f_xena),
          row('open', NULL)::text, 'program B''s flag is untouched');
SELECT is((SELECT count(*) FROM affiliate.verify()), 0::bigint, 'verify() is empty');

SELECT * FROM finish();
ROLLBACK;
