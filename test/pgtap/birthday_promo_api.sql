-- The birthday campaign over HTTP (0.6.0), as PostgREST calls it: SET LOCAL
-- ROLE to the JWT's role and request.jwt.claims as a transaction-local
-- setting, RESET ROLE between blocks.  Only the admin names (or clears) the
-- template campaign of their program's birthday codes; another program's
-- campaign is PT404, a completed one PT409, a personal code 22023, and a
-- refused call changes nothing.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(17);

SELECT is(ARRAY(SELECT r FROM unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE has_function_privilege(r, 'affiliate_api.set_birthday_campaign(bigint)', 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin'], 'set_birthday_campaign: the admin only');
SELECT ok(NOT has_table_privilege(r, 'affiliate.birthday_policy', 'SELECT'),
          format('%s cannot read affiliate.birthday_policy', r))
  FROM unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r ORDER BY r;

-- ===========================================================================
-- Data, as the superuser: programs A and B, a member in A with a
-- personal code; in A a draft template and a completed campaign, in B a
-- template.
-- ===========================================================================
SELECT affiliate.create_program('Shop A', 'INR') AS pa \gset
SELECT affiliate.create_program('Shop B', 'EUR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.create_campaign(:pa, 'Birthday A', 'amount_off', 300, NULL, NULL, 'BDAY-A') AS ca \gset
SELECT affiliate.create_campaign(:pa, 'Old A', 'amount_off', 100, NULL, NULL, 'OLD-A') AS cold \gset
SELECT affiliate.set_campaign_status(:pa, :cold, 'scheduled') || affiliate.set_campaign_status(:pa, :cold, 'completed') \g /dev/null
SELECT affiliate.issue_promo_code(:pa, :ca, :ann, 'tap:ann') AS personal \gset
SELECT id AS cpersonal FROM affiliate.campaign WHERE program_id = :pa AND code = :'personal' \gset
SELECT affiliate.create_campaign(:pb, 'Birthday B', 'amount_off', 300, NULL, NULL, 'BDAY-B') AS cb \gset

-- ===========================================================================
-- anon and member: refused
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :ca), '42501', NULL,
                 'anon: cannot name a birthday campaign');
RESET ROLE;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :ca), '42501', NULL,
                 'member: cannot name a birthday campaign');
RESET ROLE;

-- ===========================================================================
-- admin of A
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "boss-a"}', :pa), true) \g /dev/null
SELECT lives_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :ca), 'admin: names A''s template');
RESET ROLE;
SELECT is((SELECT campaign_id FROM affiliate.birthday_policy WHERE program_id = :pa), :ca::bigint,
          'admin: the policy of the JWT''s program names it');
SELECT is((SELECT actor || ' ' || (detail->>'campaign_id') FROM affiliate.audit_log
            WHERE action = 'set_birthday_campaign' ORDER BY id DESC LIMIT 1),
          'boss-a ' || :ca, 'admin: audited with the JWT sub');
SELECT count(*) AS audits_before FROM affiliate.audit_log \gset
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "boss-a"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :cb), 'PT404', NULL,
                 'admin of A: B''s campaign is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :cold), 'PT409', NULL,
                 'admin: a completed campaign is PT409 (55000)');
SELECT throws_ok(format('SELECT affiliate_api.set_birthday_campaign(%s)', :cpersonal), '22023', NULL,
                 'admin: a personal code is 22023');
RESET ROLE;
SELECT is((SELECT campaign_id FROM affiliate.birthday_policy WHERE program_id = :pa), :ca::bigint,
          'refused calls left the policy as it was');
SELECT is((SELECT count(*) FROM affiliate.audit_log), :audits_before::bigint, 'refused calls wrote no audit row');
SELECT is((SELECT count(*) FROM affiliate.birthday_policy WHERE program_id = :pb), 0::bigint,
          'program B has no policy');
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "boss-a"}', :pa), true) \g /dev/null
SELECT lives_ok('SELECT affiliate_api.set_birthday_campaign(NULL)', 'admin: NULL turns birthday codes off');
RESET ROLE;
SELECT is((SELECT count(*) FROM affiliate.birthday_policy WHERE program_id = :pa), 0::bigint,
          'no policy left in program A');

SELECT * FROM finish();
ROLLBACK;
