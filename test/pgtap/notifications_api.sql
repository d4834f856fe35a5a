-- The HTTP API for notifications (issue 10 §3), as PostgREST calls it: SET
-- LOCAL ROLE to the JWT's role and request.jwt.claims as a
-- transaction-local setting, RESET ROLE between blocks.  A member reads and
-- marks their own inbox (never another member's) and keeps their children;
-- the admin keeps the templates of their program only (audited with the JWT
-- "sub"); senders are not HTTP roles (claim_outbox is operator SQL); no HTTP
-- role reads the notification tables directly.
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
                   AND p.proname IN ('my_notifications', 'my_unread_count', 'mark_read', 'my_children',
                                     'add_child', 'remove_child', 'templates', 'set_template', 'remove_template')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin remove_template', 'affiliate_admin set_template', 'affiliate_admin templates',
                'affiliate_member add_child', 'affiliate_member mark_read', 'affiliate_member my_children',
                'affiliate_member my_notifications', 'affiliate_member my_unread_count',
                'affiliate_member remove_child'],
          'notification endpoints: members their inbox and children, admins the templates, anon nothing');
SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate'::regnamespace
                   AND p.proname IN ('claim_outbox', 'mark_sent', 'mark_failed', 'queue_birthdays',
                                     'queue_points_expiring', 'set_template', 'notifications', 'mark_read')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')),
          '{}'::text[], 'the sender API and the jobs are not for HTTP roles');

-- ===========================================================================
-- Data, as the superuser: programs A and B; in A ann sponsors ben, so ann's
-- inbox gets a referral_joined message; xena in B gets one from yuri.
-- ===========================================================================
SELECT affiliate.create_program('Inbox A', 'INR') AS pa \gset
SELECT affiliate.create_program('Inbox B', 'EUR') AS pb \gset
SELECT affiliate.set_template(:pa, 'referral_joined', 'in_app', 'New referral', '{{referral_name}} joined') \g /dev/null
SELECT affiliate.set_template(:pa, 'referral_joined', 'sms', NULL, '{{referral_name}} joined') \g /dev/null
SELECT affiliate.set_template(:pb, 'referral_joined', 'in_app', 'Neu', '{{referral_name}} ist da') \g /dev/null
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:2', (SELECT code::text FROM affiliate.member WHERE id = :ann)) AS ben \gset
SELECT affiliate.add_member(:pa, 'tg:3', (SELECT code::text FROM affiliate.member WHERE id = :ann)) AS cy \gset
SELECT affiliate.add_member(:pb, 'tg:9') AS xena \gset
SELECT affiliate.add_member(:pb, 'tg:8', (SELECT code::text FROM affiliate.member WHERE id = :xena)) AS yuri \gset
SELECT id AS ann_sms FROM affiliate.outbox WHERE program_id = :pa AND channel = 'sms' LIMIT 1 \gset
SELECT id AS xena_msg FROM affiliate.outbox WHERE program_id = :pb LIMIT 1 \gset
SELECT affiliate.add_member_child(:pb, :xena, 'Kai', '2015-05-05') AS kai \gset
SELECT is((SELECT count(*) FROM affiliate.outbox WHERE program_id = :pa AND channel = 'in_app' AND member_id = :ann),
          2::bigint, 'ann has two in-app messages (ben and cy joined)');

-- ===========================================================================
-- anon: nothing
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.my_notifications()', '42501', NULL, 'anon: no inbox');
SELECT throws_ok('SELECT * FROM affiliate_api.templates()', '42501', NULL, 'anon: no templates');
SELECT throws_ok('SELECT * FROM affiliate.outbox', '42501', NULL, 'anon: cannot read affiliate.outbox');
RESET ROLE;

-- ===========================================================================
-- members: their own inbox and children
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT body FROM affiliate_api.my_notifications()), ARRAY['tg:3 joined', 'tg:2 joined'],
          'ann: her in-app messages, newest first (the sms is not in the inbox)');
SELECT is(affiliate_api.my_unread_count(), 2::bigint, 'ann: two unread');
SELECT ARRAY(SELECT id FROM affiliate_api.my_notifications() ORDER BY id LIMIT 1) AS first \gset
SELECT is(affiliate_api.mark_read(:'first'), 1, 'ann: marks one read');
SELECT is(affiliate_api.my_unread_count(), 1::bigint, 'ann: one unread left');
SELECT is(ARRAY(SELECT body FROM affiliate_api.my_notifications(true)), ARRAY['tg:3 joined'], 'ann: unread only');
SELECT throws_ok(format('SELECT affiliate_api.mark_read(ARRAY[%s]::bigint[])', :xena_msg), 'PT404', NULL,
                 'ann: a message of another program''s member is not found');
SELECT throws_ok(format('SELECT affiliate_api.mark_read(ARRAY[%s]::bigint[])', :ann_sms), 'PT404', NULL,
                 'ann: an sms is not an inbox message');
SELECT throws_ok('SELECT * FROM affiliate.outbox', '42501', NULL, 'member: cannot read affiliate.outbox');
SELECT throws_ok('SELECT * FROM affiliate.member_child', '42501', NULL, 'member: cannot read affiliate.member_child');
SELECT ok(affiliate_api.add_child('Mia', '2016-12-31') > 0, 'ann: adds a child');
SELECT is(ARRAY(SELECT name || ' ' || birth_date FROM affiliate_api.my_children()), ARRAY['Mia 2016-12-31'],
          'ann: her children');
SELECT throws_ok(format('SELECT affiliate_api.remove_child(%s)', :kai), 'PT404', NULL,
                 'ann: another member''s child is not found');
SELECT throws_ok('SELECT affiliate_api.add_child(''Baby'', current_date + 1)', '22023', NULL,
                 'ann: a birth date in the future is refused');
SELECT throws_ok('SELECT affiliate_api.set_template(''birthday'', ''in_app'', NULL, ''x'')', '42501', NULL,
                 'member: cannot set templates');
SELECT throws_ok('SELECT * FROM affiliate.claim_outbox(''sms'', 10)', '42501', NULL, 'member: cannot claim the outbox');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:9"}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT body FROM affiliate_api.my_notifications()), ARRAY['tg:8 ist da'], 'xena (program B): her inbox only');
SELECT is(ARRAY(SELECT name FROM affiliate_api.my_children()), ARRAY['Kai'], 'xena: her child only');
SELECT lives_ok(format('SELECT affiliate_api.remove_child(%s)', :kai), 'xena: removes her child');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:404"}', :pa), true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.my_notifications()', '42501', NULL, 'a sub that is no member: refused');
RESET ROLE;

-- ===========================================================================
-- admins: the templates of their program, audited
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:a"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT event || '/' || channel FROM affiliate_api.templates()),
          ARRAY['referral_joined/in_app', 'referral_joined/sms'], 'admin of A: the templates of A only');
SELECT ok(affiliate_api.set_template('birthday', 'email', 'Happy birthday {{person_name}}', '<p>{{age}} today</p>') > 0,
          'admin of A: sets a template');
SELECT throws_ok('SELECT affiliate_api.set_template(''birthday'', ''sms'', NULL, ''{{amount}}'')', '22023', NULL,
                 'admin: a variable the event does not have is refused when saved');
SELECT lives_ok('SELECT affiliate_api.remove_template(''referral_joined'', ''sms'')', 'admin of A: removes a template');
SELECT throws_ok('SELECT affiliate_api.remove_template(''referral_joined'', ''sms'')', 'PT404', NULL,
                 'admin: removing a template that is not there is not found');
SELECT throws_ok('SELECT * FROM affiliate_api.my_notifications()', '42501', NULL, 'admin: no inbox of their own');
RESET ROLE;
SELECT is(ARRAY(SELECT action || ' ' || actor || ' ' || db_role FROM affiliate.audit_log
                 WHERE program_id = :pa AND action IN ('set_template', 'remove_template') AND actor = 'admin:a' ORDER BY id),
          ARRAY['set_template admin:a affiliate_admin', 'remove_template admin:a affiliate_admin'],
          'template changes are audited with the JWT sub');
SELECT is((SELECT count(*) FROM affiliate.notification_template WHERE program_id = :pb), 1::bigint,
          'program B''s templates are untouched');
SELECT is((SELECT count(*) FROM affiliate.verify()), 0::bigint, 'verify() is empty');

SELECT * FROM finish();
ROLLBACK;
