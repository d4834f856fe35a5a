-- The HTTP API for certificates (0.5.0), as PostgREST calls it: SET LOCAL
-- ROLE to the JWT's role and request.jwt.claims as a transaction-local
-- setting, RESET ROLE between blocks.  Anyone with a token of the program
-- verifies its certificates and reads its public keys (never another
-- program's); a member lists only their own certificates; only the admin of
-- the program revokes and rotates, audited with the JWT "sub".
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(28);

SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('verify_certificate', 'certificate_text', 'certificate_public_key',
                                     'my_certificates', 'revoke_certificate', 'rotate_signing_key')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin certificate_public_key', 'affiliate_admin certificate_text',
                'affiliate_admin revoke_certificate', 'affiliate_admin rotate_signing_key',
                'affiliate_admin verify_certificate',
                'affiliate_anon certificate_public_key', 'affiliate_anon certificate_text',
                'affiliate_anon verify_certificate',
                'affiliate_member certificate_public_key', 'affiliate_member certificate_text',
                'affiliate_member my_certificates', 'affiliate_member verify_certificate'],
          'certificate endpoints: anyone verifies, members list their own, admins revoke and rotate');

-- ===========================================================================
-- Data, as the superuser: programs A and B, ann and ben in A complete a
-- one-topic course; xena in B completes B's.
-- ===========================================================================
SELECT affiliate.create_program('Academy A', 'INR') AS pa \gset
SELECT affiliate.create_program('Academy B', 'EUR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:2') AS ben \gset
SELECT affiliate.add_member(:pb, 'tg:9') AS xena \gset
SELECT affiliate.create_course(:pa, 'Selling 101', NULL, 0, true) AS ca \gset
SELECT affiliate.add_module(:pa, :ca, 'Only', NULL, 0, true) AS ma \gset
SELECT affiliate.add_topic(:pa, :ma, 'Hello', 'youtube', 'dQw4w9WgXcQ', 60, NULL, 0, true) AS ta \gset
SELECT affiliate.create_course(:pb, 'B course', NULL, 0, true) AS cb \gset
SELECT affiliate.add_module(:pb, :cb, 'B module', NULL, 0, true) AS mb \gset
SELECT affiliate.add_topic(:pb, :mb, 'B topic', 'youtube', 'aqz-KE-bpKQ', 60, NULL, 0, true) AS tb \gset
SELECT affiliate.enroll(:pa, :ann, :ca) AND affiliate.enroll(:pa, :ben, :ca) AND affiliate.enroll(:pb, :xena, :cb) \g /dev/null
SELECT certificate_number AS n_ann FROM affiliate.record_progress(:pa, :ann, :ta, 60, true) \gset
SELECT certificate_number AS n_ben FROM affiliate.record_progress(:pa, :ben, :ta, 60, true) \gset
SELECT certificate_number AS n_xena FROM affiliate.record_progress(:pb, :xena, :tb, 60, true) \gset
SELECT ok(:'n_ann' <> '' AND :'n_ben' <> '' AND :'n_xena' <> '', 'three certificates issued');
SELECT affiliate.certificate_text(:pa, :'n_ann') AS text_ann \gset

-- ===========================================================================
-- anon: a site token of program A
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT is((SELECT row(valid, status, member_external_id, course_title)::text
             FROM affiliate_api.verify_certificate(:'n_ann')),
          row(true, 'valid', 'tg:1', 'Selling 101')::text, 'anon: verifies a certificate of its program');
SELECT is((SELECT status FROM affiliate_api.verify_certificate(lower(:'n_ann'))), 'valid',
          'anon: the number as a person types it');
SELECT is((SELECT row(valid, status, member_external_id)::text FROM affiliate_api.verify_certificate(:'n_xena')),
          row(false, 'not_found', NULL)::text, 'anon of A: a certificate of program B is not found');
SELECT is(affiliate_api.certificate_text(:'n_ann'), :'text_ann', 'anon: the canonical text');
SELECT is((SELECT count(*) FROM affiliate_api.certificate_public_key()), 1::bigint, 'anon: one public key');
SELECT ok((SELECT length(decode(public_key_base64, 'base64')) = 32 AND algorithm = 'ed25519'
             FROM affiliate_api.certificate_public_key()), 'anon: a 32-byte Ed25519 key in base64');
SELECT throws_ok('SELECT * FROM affiliate_api.my_certificates()', '42501', NULL, 'anon: no certificate list');
SELECT throws_ok(format('SELECT affiliate_api.revoke_certificate(%L, %L)', :'n_ann', 'x'), '42501', NULL,
                 'anon: cannot revoke');
SELECT throws_ok('SELECT * FROM affiliate.certificate', '42501', NULL, 'anon: cannot read affiliate.certificate');
SELECT throws_ok('SELECT * FROM affiliate.signing_key', '42501', NULL, 'anon: cannot read the signing keys');
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT throws_ok(format('SELECT * FROM affiliate_api.verify_certificate(%L)', :'n_ann'), '42501',
                 'the request names no program', 'anon: a token without a program verifies nothing');
RESET ROLE;

-- ===========================================================================
-- members: their own certificates only
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT number || ' ' || course_title FROM affiliate_api.my_certificates()),
          ARRAY[:'n_ann' || ' Selling 101'], 'ann: her certificate, not ben''s');
SELECT is((SELECT status FROM affiliate_api.verify_certificate(:'n_ben')), 'valid',
          'ann: verifies ben''s certificate like anyone (the public facts)');
SELECT throws_ok(format('SELECT affiliate_api.revoke_certificate(%L, %L)', :'n_ben', 'x'), '42501', NULL,
                 'member: cannot revoke');
SELECT throws_ok('SELECT affiliate_api.rotate_signing_key()', '42501', NULL, 'member: cannot rotate');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:9"}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT number FROM affiliate_api.my_certificates()), ARRAY[:'n_xena'],
          'xena (program B): her certificate only');
RESET ROLE;

-- ===========================================================================
-- admins: revoke and rotate in their program only, audited
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:b"}', :pb), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.revoke_certificate(%L, %L)', :'n_ann', 'fraud'), 'PT404', NULL,
                 'admin of B: a certificate of A is not found');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:a"}', :pa), true) \g /dev/null
SELECT ok(affiliate_api.revoke_certificate(:'n_ben', 'copied the exam') IS NOT NULL, 'admin of A: revokes ben''s certificate');
SELECT is((SELECT row(valid, status, revoke_reason)::text FROM affiliate_api.verify_certificate(:'n_ben')),
          row(false, 'revoked', 'copied the exam')::text, 'verification then says revoked, with the reason');
SELECT throws_ok(format('SELECT affiliate_api.revoke_certificate(%L, %L)', :'n_ben', 'again'), 'PT409', NULL,
                 'admin: revoking twice is a conflict');
SELECT throws_ok(format('SELECT affiliate_api.revoke_certificate(%L, %L)', '0000000000', 'x'), 'PT404', NULL,
                 'admin: an unknown number is not found');
SELECT ok(affiliate_api.rotate_signing_key() > 0, 'admin of A: rotates the signing key');
SELECT is((SELECT count(*) FROM affiliate_api.certificate_public_key()), 2::bigint,
          'after the rotation: two public keys, the old one retired');
SELECT is((SELECT status FROM affiliate_api.verify_certificate(:'n_ann')), 'valid',
          'a certificate signed with the retired key still verifies');
RESET ROLE;
SELECT is(ARRAY(SELECT action || ' ' || actor || ' ' || db_role FROM affiliate.audit_log
                 WHERE program_id = :pa AND action IN ('revoke_certificate', 'rotate_signing_key') ORDER BY id),
          ARRAY['revoke_certificate admin:a affiliate_admin', 'rotate_signing_key admin:a affiliate_admin'],
          'the revoke and the rotation are audited with the JWT sub');
SELECT is((SELECT count(*) FROM affiliate.verify()), 0::bigint, 'verify() is empty');

SELECT * FROM finish();
ROLLBACK;
