-- Certificates: a signing key per program (made with the program, or when
-- first needed), a certificate issued exactly once when a member completes
-- a course (last published topic and required assessments), the canonical
-- text v1, verification of a good, a tampered (each certified fact and the
-- key changed in the row) and a revoked certificate, rotation (old
-- certificates still verify, new ones use the new key), the public keys,
-- secret keys unreadable for every role but the owner, audit rows, and
-- every refusal with its SQLSTATE, changing nothing.  (The signature is
-- checked independently of this extension's C code, with a program built
-- against libsodium, by test/drivers/certificate_offline.sh.)
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
DROP ROLE IF EXISTS cert_operator, cert_reader;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a certificate call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT md5(coalesce(string_agg(k::text, ',' ORDER BY k.program_id, k.id), '')) FROM affiliate.signing_key k) AS keys,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.certificate c) AS certificates;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'

-- ---------------------------------------------------------------------------
-- Keys: every new program gets one active key (in clear: this cluster has
-- no root key), 32-byte public and 64-byte secret; the secret key's second
-- half is the public key (Ed25519).
SELECT affiliate.create_program('Academy', 'INR') AS p \gset
SELECT affiliate.create_program('Other academy', 'INR') AS q \gset
SELECT program_id = :p AS is_p, length(public_key) AS pk_bytes, length(secret_key) AS sk_bytes,
       sealed_key IS NULL AND root_key_id IS NULL AS in_clear, retired_at IS NULL AS active,
       substr(secret_key, 33) = public_key AS sk_holds_pk
  FROM affiliate.signing_key WHERE program_id IN (:p, :q) ORDER BY program_id;
SELECT id AS key1 FROM affiliate.signing_key WHERE program_id = :p \gset

-- the public key: the same key, in base64 too
SELECT key_id = :key1 AS same_key, algorithm, length(public_key) AS bytes,
       decode(public_key_base64, 'base64') = public_key AS base64_round_trip,
       public_key = (SELECT k.public_key FROM affiliate.signing_key k WHERE k.program_id = :p AND k.id = :key1) AS stored_key,
       retired_at IS NULL AS active
  FROM affiliate.certificate_public_key(:p);

-- ---------------------------------------------------------------------------
-- A course: module 'Basics' (two topics, no assessment) and module 'Exam'
-- (one topic, pass mark 60); an unpublished topic does not count.
SELECT affiliate.add_member(:p, 'ann') AS ann \gset
SELECT affiliate.add_member(:p, 'ben') AS ben \gset
SELECT affiliate.add_member(:p, 'cat') AS cat \gset
SELECT affiliate.create_course(:p, 'Selling 101', NULL, 0, true) AS c \gset
SELECT affiliate.create_course(:p, 'Selling 201', NULL, 1, true) AS c2 \gset
SELECT affiliate.add_module(:p, :c, 'Basics', NULL, 0, true) AS basics \gset
SELECT affiliate.add_module(:p, :c, 'Exam', NULL, 1, true, 60) AS exam \gset
SELECT affiliate.add_topic(:p, :basics, 'Hello', 'youtube', 'dQw4w9WgXcQ', 60, NULL, 0, true) AS t1 \gset
SELECT affiliate.add_topic(:p, :basics, 'Pitch', 'vimeo', '76979871', 60, NULL, 1, true) AS t2 \gset
SELECT affiliate.add_topic(:p, :exam, 'Review', 'url', 'https://example.com/r.mp4', 60, NULL, 0, true) AS t3 \gset
SELECT affiliate.add_topic(:p, :basics, 'Draft', 'url', 'https://example.com/d.mp4', 60, NULL, 2, false) AS draft \gset
SELECT affiliate.add_module(:p, :c2, 'Only', NULL, 0, true) AS only \gset
SELECT affiliate.add_topic(:p, :only, 'One', 'youtube', 'abcdefghijk', 30, NULL, 0, true) AS t4 \gset
SELECT affiliate.enroll(:p, :ann, :c), affiliate.enroll(:p, :ben, :c), affiliate.enroll(:p, :ann, :c2);

-- ---------------------------------------------------------------------------
-- Issue: nothing until the last published topic and the assessment are done
SELECT completed FROM affiliate.record_progress(:p, :ann, :t1, 60, true);
SELECT completed FROM affiliate.record_progress(:p, :ann, :t2, 30);
SELECT completed FROM affiliate.record_progress(:p, :ann, :t3, 60, true);
SELECT passed FROM affiliate.record_assessment(:p, :ann, :exam, 5, 10);
SELECT count(*) AS certificates FROM affiliate.certificate;
-- the last topic completes the course (the assessment is passed first)
SELECT passed FROM affiliate.record_assessment(:p, :ann, :exam, 6, 10);
SELECT count(*) AS certificates FROM affiliate.certificate;
SELECT completed FROM affiliate.record_progress(:p, :ann, :t2, 60, true);
SELECT count(*) AS certificates, bool_and(member_id = :ann AND course_id = :c) AS ann_selling_101
  FROM affiliate.certificate;
SELECT number AS n1, issued_at AS issued1 FROM affiliate.certificate WHERE member_id = :ann AND course_id = :c \gset
-- the facts as certified, the current key, a well-formed number
SELECT member_external_id, course_title, key_id = :key1 AS key1, length(signature) AS sig_bytes,
       affiliate.refcode_is_valid(number) AND length(number) = 11 AS number_ok,
       revoked_at IS NULL AS not_revoked
  FROM affiliate.certificate WHERE number = :'n1';
-- once per member and course: more progress, another passed attempt, a
-- second completion of every topic issue nothing more
SELECT completed FROM affiliate.record_progress(:p, :ann, :t1, 120, true);
SELECT passed FROM affiliate.record_assessment(:p, :ann, :exam, 10, 10);
SELECT count(*) AS certificates FROM affiliate.certificate;
-- the trigger issues in the same transaction: a rolled back completion
-- leaves nothing
BEGIN;
SELECT completed FROM affiliate.record_progress(:p, :ann, :t4, 30, true);
SELECT count(*) AS in_transaction FROM affiliate.certificate WHERE member_id = :ann AND course_id = :c2;
ROLLBACK;
SELECT count(*) AS after_rollback FROM affiliate.certificate WHERE member_id = :ann AND course_id = :c2;
-- free-text facts are escaped: a title with a line break (and a backslash)
-- cannot add a line that reads as another fact
SELECT affiliate.create_course(:p, E'Part 1\ncourse: 999 \\ more', NULL, 2, true) AS c3 \gset
SELECT affiliate.add_module(:p, :c3, 'M', NULL, 0, true) AS m3 \gset
SELECT affiliate.add_topic(:p, :m3, 'T', 'youtube', 'abcdefghijk', 30, NULL, 0, true) AS t5 \gset
SELECT affiliate.enroll(:p, :ann, :c3);
SELECT certificate_number AS n3 FROM affiliate.record_progress(:p, :ann, :t5, 30, true) \gset
SELECT array_length(string_to_array(rtrim(affiliate.certificate_text(:p, :'n3'), E'\n'), E'\n'), 1) AS lines,
       affiliate.certificate_text(:p, :'n3') LIKE E'%\ncourse_title: Part 1\\\\ncourse: 999 \\\\\\\\ more\n%' AS escaped,
       (SELECT status FROM affiliate.verify_certificate(:p, :'n3')) AS status;

-- ---------------------------------------------------------------------------
-- The canonical text v1, exactly
SELECT affiliate.certificate_text(:p, :'n1') =
       format(E'pg_affiliate certificate v1\nprogram: %s\nnumber: %s\nmember: %s\nmember_external_id: ann\ncourse: %s\ncourse_title: Selling 101\nissued_at: %s\nkey: %s\n',
              :p, :'n1', :ann, :c, to_char(:'issued1'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), :key1)
       AS canonical_v1;
-- the time is always written in UTC with six fraction digits
SET timezone = 'Asia/Kolkata';
SELECT affiliate.certificate_text(:p, :'n1') ~ E'\nissued_at: \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\n'
       AND affiliate.certificate_text(:p, :'n1') LIKE '%issued_at: ' || to_char(:'issued1'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || 'Z%'
       AS utc_whatever_the_session_zone;
SET timezone = 'UTC';

-- ---------------------------------------------------------------------------
-- Verification: valid, with the certified facts; typed in lower case or
-- with confusable characters the number is still found
SELECT valid, status, number = :'n1' AS number, member_external_id, course_title,
       issued_at = :'issued1' AS issued_at, key_id = :key1 AS key1, revoked_at, revoke_reason
  FROM affiliate.verify_certificate(:p, :'n1');
SELECT status FROM affiliate.verify_certificate(:p, lower(:'n1'));
SELECT status FROM affiliate.verify_certificate(:p, replace(replace(:'n1', '0', 'o'), '1', 'l'));
-- not found: an unknown number, text that is no number, another program
SELECT valid, status, number, member_external_id FROM affiliate.verify_certificate(:p, '0000000000');
SELECT valid, status, number FROM affiliate.verify_certificate(:p, 'not a number; DROP TABLE x');
SELECT status FROM affiliate.verify_certificate(:q, :'n1');
SELECT count(*) AS broken FROM affiliate.verify();

-- ---------------------------------------------------------------------------
-- Tampering (as the superuser, each change rolled back): every certified
-- fact, the key and the signature are covered; verification says invalid
-- and shows no fact; verify() reports it
CREATE FUNCTION pg_temp.tampered(what text, change text, p bigint, n text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    BEGIN
        EXECUTE format('UPDATE affiliate.certificate SET %s WHERE program_id = %s AND number = %L', change, p, n);
        SELECT format('%s: %s, facts shown %s, verify() reports %s', what, v.status,
                      v.member_external_id IS NOT NULL OR v.course_title IS NOT NULL OR v.issued_at IS NOT NULL,
                      EXISTS (SELECT 1 FROM affiliate.verify(p) x WHERE x.invariant = 'certificate_signature_valid'))
          INTO result FROM affiliate.verify_certificate(p, n) v;
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = result;
    EXCEPTION WHEN raise_exception THEN
        RETURN SQLERRM;
    END;
END $$;
SELECT pg_temp.tampered('member_id', format('member_id = %s', :ben), :p, :'n1');
SELECT pg_temp.tampered('course_id', format('course_id = %s', :c2), :p, :'n1');
SELECT pg_temp.tampered('course_title', $$course_title = 'Selling 999'$$, :p, :'n1');
SELECT pg_temp.tampered('member_external_id', $$member_external_id = 'ben'$$, :p, :'n1');
SELECT pg_temp.tampered('issued_at', $$issued_at = issued_at - interval '1 microsecond'$$, :p, :'n1');
SELECT pg_temp.tampered('signature', $$signature = set_byte(signature, 0, get_byte(signature, 0) # 1)$$, :p, :'n1');
-- ... and, untouched, it is valid again
SELECT status FROM affiliate.verify_certificate(:p, :'n1');

-- ---------------------------------------------------------------------------
-- Rotation: the old key is retired and keeps verifying what it signed; the
-- new one signs from now on
:save
SELECT affiliate.rotate_signing_key(:p) AS key2 \gset
SELECT :key2 > :key1 AS new_key;
SELECT key_id = :key1 AS is_key1, retired_at IS NOT NULL AS retired FROM affiliate.certificate_public_key(:p) ORDER BY key_id;
SELECT count(*) FILTER (WHERE retired_at IS NULL) AS active_keys, count(*) AS keys
  FROM affiliate.signing_key WHERE program_id = :p;
SELECT action, detail = jsonb_build_object('old_key_id', :key1, 'new_key_id', :key2) AS detail_ok
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'rotate_signing_key';
SELECT valid, status, key_id = :key1 AS signed_by_key1 FROM affiliate.verify_certificate(:p, :'n1');
-- ben completes: his certificate is signed with the new key
SELECT completed FROM affiliate.record_progress(:p, :ben, :t1, 60, true);
SELECT completed FROM affiliate.record_progress(:p, :ben, :t2, 60, true);
SELECT completed FROM affiliate.record_progress(:p, :ben, :t3, 60, true);
SELECT passed FROM affiliate.record_assessment(:p, :ben, :exam, 9, 10);
SELECT number AS n2 FROM affiliate.certificate WHERE member_id = :ben AND course_id = :c \gset
SELECT valid, status, member_external_id, key_id = :key2 AS signed_by_key2 FROM affiliate.verify_certificate(:p, :'n2');
SELECT :'n2' <> :'n1' AS different_numbers;
-- a certificate moved to the other key (the key id changed in the row) is invalid
SELECT pg_temp.tampered('key_id', format('key_id = %s', :key2), :p, :'n1');
SELECT pg_temp.tampered('key_id', format('key_id = %s', :key1), :p, :'n2');
-- the other program's key is untouched
SELECT count(*) AS q_keys FROM affiliate.signing_key WHERE program_id = :q;

-- ---------------------------------------------------------------------------
-- Publishing a new topic later does not revoke anything: the course is no
-- longer complete for ann, her certificate stays valid
SELECT affiliate.set_published(:p, 'topic', :draft, true);
SELECT completed, topics_done, topics_total FROM affiliate.course_progress(:p, :ann, :c);
SELECT valid, status FROM affiliate.verify_certificate(:p, :'n1');
-- completing the new topic issues no second certificate
SELECT completed FROM affiliate.record_progress(:p, :ann, :draft, 60, true);
SELECT count(*) AS ann_certificates FROM affiliate.certificate WHERE member_id = :ann AND course_id = :c;

-- ---------------------------------------------------------------------------
-- Revocation (audited): verification says revoked, with when and why, and
-- still checks the signature
:save
SELECT affiliate.revoke_certificate(:p, :'n1', 'shared answers') AS revoked1 \gset
SELECT :'revoked1'::timestamptz <= now() AS revoked_before_now;
SELECT valid, status, member_external_id, revoked_at = :'revoked1' AS revoked_at, revoke_reason
  FROM affiliate.verify_certificate(:p, :'n1');
SELECT action, detail = jsonb_build_object('number', :'n1', 'member_id', :ann, 'course_id', :c,
                                           'reason', 'shared answers') AS detail_ok, db_role = current_user AS actor
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'revoke_certificate';
SELECT pg_temp.tampered('course_title of a revoked one', $$course_title = 'X'$$, :p, :'n1');
SELECT count(*) AS broken FROM affiliate.verify();
:save
-- refusals: twice (55000), unknown (P0002), no such number text (P0002),
-- bad reasons (22023, 22004), null number (22004), unknown program (P0002)
CREATE FUNCTION pg_temp.refused(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RETURN 'accepted: ' || call;
EXCEPTION WHEN OTHERS THEN
    -- (certificate numbers are random: masked)
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '"[0-9A-Z]{11}"', '"<number>"');
END $$;
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, :'n1', 'again'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, '0000000000', 'unknown'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, 'garbage!', 'unknown'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :q, :'n2', 'another program'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, :'n2', ''));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, :'n2', repeat('x', 2001)));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, NULL)', :p, :'n2'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, NULL, %L)', :p, 'why'));
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(-1, %L, %L)', :'n2', 'why'));
SELECT pg_temp.refused('SELECT affiliate.rotate_signing_key(-1)');
SELECT pg_temp.refused('SELECT affiliate.rotate_signing_key(NULL)');
SELECT pg_temp.refused(format('SELECT affiliate.verify_certificate(NULL, %L)', :'n2'));
SELECT pg_temp.refused(format('SELECT affiliate.verify_certificate(%s, NULL)', :p));
SELECT pg_temp.refused(format('SELECT affiliate.verify_certificate(%s, %L)', :p, ''));
SELECT pg_temp.refused(format('SELECT affiliate.verify_certificate(-1, %L)', :'n2'));
SELECT pg_temp.refused(format('SELECT affiliate.certificate_text(%s, %L)', :p, '0000000000'));
SELECT pg_temp.refused(format('SELECT affiliate.certificate_text(-1, %L)', :'n2'));
SELECT pg_temp.refused('SELECT affiliate.certificate_public_key(-1)');
:unchanged
SELECT status FROM affiliate.verify_certificate(:p, :'n2');

-- ---------------------------------------------------------------------------
-- A program without a key (a database updated from 0.4.0): the key is made
-- when first needed, here by the public key look-up
DELETE FROM affiliate.signing_key WHERE program_id = :q;
SELECT count(*) AS q_keys FROM affiliate.signing_key WHERE program_id = :q;
SELECT count(*) AS listed, bool_and(retired_at IS NULL) AS active FROM affiliate.certificate_public_key(:q);
SELECT count(*) AS q_keys FROM affiliate.signing_key WHERE program_id = :q;

-- ---------------------------------------------------------------------------
-- Who may do what: the secret keys are readable by no role but the owner
-- (no grant, row-level security without a policy); the certificate checks
-- are public; the admin steps are the operator's
CREATE ROLE cert_operator NOLOGIN IN ROLE affiliate_operator;
CREATE ROLE cert_reader NOLOGIN IN ROLE pg_read_all_data;
CREATE FUNCTION pg_temp.try_read(r text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        SELECT count(*) INTO n FROM affiliate.signing_key WHERE secret_key IS NOT NULL OR sealed_key IS NOT NULL;
        RESET ROLE;
        RETURN format('%s: %s rows', r, n);
    EXCEPTION WHEN insufficient_privilege THEN
        RESET ROLE;
        RETURN format('%s: %s', r, SQLSTATE);
    END;
END $$;
SELECT pg_temp.try_read(r) FROM unnest(ARRAY['cert_operator', 'affiliate_operator', 'affiliate_admin',
                                             'affiliate_member', 'affiliate_anon', 'cert_reader']) r;
SELECT count(*) > 0 AS owner_reads_keys FROM affiliate.signing_key WHERE secret_key IS NOT NULL;
SELECT r AS role, has_table_privilege(r, 'affiliate.signing_key', 'SELECT') AS table_select,
       has_any_column_privilege(r, 'affiliate.signing_key', 'SELECT') AS any_column
  FROM unnest(ARRAY['affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon']) r;
SELECT count(*) AS policies FROM pg_policies WHERE schemaname = 'affiliate' AND tablename = 'signing_key';
SELECT relrowsecurity AS rls FROM pg_class WHERE oid = 'affiliate.signing_key'::regclass;
-- no SQL function reads a secret key column
SELECT p.oid::regprocedure AS reads_secret_key FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = 'affiliate'::regnamespace AND l.lanname <> 'c' AND p.prosrc ~ '(secret_key|sealed_key)';
-- the operator verifies, reads certificates, rotates and revokes
BEGIN;
SET LOCAL ROLE cert_operator;
SELECT status FROM affiliate.verify_certificate(:p, :'n2');
SELECT count(*) AS operator_sees FROM affiliate.certificate;
SELECT affiliate.rotate_signing_key(:q) > 0 AS operator_rotates;
ROLLBACK;
-- the HTTP roles: the certificate checks, nothing else
SELECT r AS role, f AS function, has_function_privilege(r, f, 'EXECUTE') AS may
  FROM unnest(ARRAY['affiliate_admin', 'affiliate_member', 'affiliate_anon']) r,
       unnest(ARRAY['affiliate.verify_certificate(bigint,text)', 'affiliate.certificate_text(bigint,text)',
                    'affiliate.certificate_public_key(bigint)', 'affiliate.revoke_certificate(bigint,text,text)',
                    'affiliate.rotate_signing_key(bigint)']) f
 ORDER BY 1, 2;
SELECT count(*) AS public_may FROM pg_proc p
 WHERE p.pronamespace = 'affiliate'::regnamespace
   AND p.proname IN ('verify_certificate', 'certificate_text', 'certificate_public_key', 'revoke_certificate',
                     'rotate_signing_key', 'program_signing_key', 'course_certificate')
   AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0));
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT pg_temp.refused(format('SELECT affiliate.revoke_certificate(%s, %L, %L)', :p, :'n2', 'member tries'));
ROLLBACK;

SELECT count(*) AS broken FROM affiliate.verify();
DROP ROLE cert_operator, cert_reader;
