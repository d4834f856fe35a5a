-- pg_affiliate 0.4.0 -> 0.5.0: courses (course -> module -> topic),
-- enrollment, progress and assessments; certificates issued on completion,
-- signed with Ed25519 (per-program signing keys, sealed under the root key
-- when one is configured), public verification and revocation.  The
-- objects are the same as in pg_affiliate--0.5.0.sql (test/sql/upgrade.sql
-- compares the catalogs of both paths).

\echo Use "ALTER EXTENSION pg_affiliate UPDATE TO '0.5.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Courses, enrollment and progress (src/course.c)
-- ---------------------------------------------------------------------------

-- A program's courses: course -> module -> topic, each with a display order
-- (ties by id) and a published flag; members enroll, report what they
-- watched per topic (watched seconds only grow, completion is sticky) and,
-- where a module sets a pass mark, take assessments.  Written only by the C
-- functions below (src/course.c); the certificates section reads the progress
-- tables (AffCourseComplete()).
CREATE TABLE affiliate.course (
    program_id    bigint NOT NULL REFERENCES affiliate.program (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description   text CHECK (length(description) BETWEEN 1 AND 10000),
    display_order integer NOT NULL DEFAULT 0,
    published     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id)
);
COMMENT ON TABLE affiliate.course IS 'Courses of a program: modules of topics, shown in display order (ties by id) once published.';

CREATE TABLE affiliate.course_module (
    program_id    bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    course_id     bigint NOT NULL,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description   text CHECK (length(description) BETWEEN 1 AND 10000),
    display_order integer NOT NULL DEFAULT 0,
    published     boolean NOT NULL DEFAULT false,
    pass_mark     integer CHECK (pass_mark BETWEEN 1 AND 100),   -- percent; NULL: no assessment required
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, course_id) REFERENCES affiliate.course (program_id, id)
);
CREATE INDEX course_module_course ON affiliate.course_module (program_id, course_id);
COMMENT ON TABLE affiliate.course_module IS 'Modules of a course; a module with a pass mark counts as done only after a passed assessment.';

CREATE TABLE affiliate.topic (
    program_id       bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    module_id        bigint NOT NULL,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description      text CHECK (length(description) BETWEEN 1 AND 10000),
    duration_seconds integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    display_order    integer NOT NULL DEFAULT 0,
    published        boolean NOT NULL DEFAULT false,
    video_source     text NOT NULL CHECK (video_source IN ('cloudinary', 'youtube', 'vimeo', 'url')),
    video_ref        text NOT NULL CHECK (length(video_ref) BETWEEN 1 AND 2008),  -- validated per source by add_topic
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, module_id) REFERENCES affiliate.course_module (program_id, id)
);
CREATE INDEX topic_module ON affiliate.topic (program_id, module_id);
COMMENT ON TABLE affiliate.topic IS 'Topics (videos) of a module: a Cloudinary public id, a YouTube or Vimeo video id, or a URL.';

CREATE TABLE affiliate.enrollment (
    program_id       bigint NOT NULL,
    member_id        bigint NOT NULL,
    course_id        bigint NOT NULL,
    enrolled_at      timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, member_id, course_id),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, course_id) REFERENCES affiliate.course (program_id, id)
);
CREATE INDEX enrollment_course ON affiliate.enrollment (program_id, course_id);
COMMENT ON TABLE affiliate.enrollment IS 'Members enrolled in courses; every progress or assessment call locks and updates its row first.';

CREATE TABLE affiliate.topic_progress (
    program_id      bigint NOT NULL,
    member_id       bigint NOT NULL,
    topic_id        bigint NOT NULL,
    course_id       bigint NOT NULL,
    watched_seconds integer NOT NULL DEFAULT 0 CHECK (watched_seconds >= 0),
    completed_at    timestamptz,                     -- set once, never cleared
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, member_id, topic_id),
    FOREIGN KEY (program_id, member_id, course_id) REFERENCES affiliate.enrollment (program_id, member_id, course_id),
    FOREIGN KEY (program_id, topic_id) REFERENCES affiliate.topic (program_id, id)
);
CREATE INDEX topic_progress_course ON affiliate.topic_progress (program_id, member_id, course_id);
CREATE INDEX topic_progress_topic ON affiliate.topic_progress (program_id, topic_id);
COMMENT ON TABLE affiliate.topic_progress IS 'A member''s progress per topic: the most seconds watched so far and when the topic was completed.';

CREATE TABLE affiliate.assessment (
    program_id bigint NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    member_id  bigint NOT NULL,
    module_id  bigint NOT NULL,
    score      integer NOT NULL CHECK (score >= 0),
    max_score  integer NOT NULL CHECK (max_score > 0),
    passed     boolean NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    CHECK (score <= max_score),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, module_id) REFERENCES affiliate.course_module (program_id, id)
);
CREATE INDEX assessment_member_module ON affiliate.assessment (program_id, member_id, module_id);
CREATE INDEX assessment_module ON affiliate.assessment (program_id, module_id);
COMMENT ON TABLE affiliate.assessment IS 'Assessment attempts (all kept); a module''s requirement is met by any passed attempt.';

CREATE FUNCTION affiliate.create_course(program_id bigint, title text, description text DEFAULT NULL,
                                        display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'create_course';
COMMENT ON FUNCTION affiliate.create_course(bigint, text, text, integer, boolean) IS
    'Admin: add a course (unpublished unless asked); audited. Returns the course id.';

CREATE FUNCTION affiliate.add_module(program_id bigint, course_id bigint, title text, description text DEFAULT NULL,
                                     display_order integer DEFAULT 0, published boolean DEFAULT false,
                                     pass_mark integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_module';
COMMENT ON FUNCTION affiliate.add_module(bigint, bigint, text, text, integer, boolean, integer) IS
    'Admin: add a module to a course; pass_mark (percent, 1..100) requires a passed assessment; audited. Returns the module id.';

CREATE FUNCTION affiliate.add_topic(program_id bigint, module_id bigint, title text, video_source text, video_ref text,
                                    duration_seconds integer DEFAULT 0, description text DEFAULT NULL,
                                    display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_topic';
COMMENT ON FUNCTION affiliate.add_topic(bigint, bigint, text, text, text, integer, text, integer, boolean) IS
    'Admin: add a topic (video) to a module; video_ref is validated for its source; audited. Returns the topic id.';

CREATE FUNCTION affiliate.set_published(program_id bigint, kind text, id bigint, published boolean)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_published';
COMMENT ON FUNCTION affiliate.set_published(bigint, text, bigint, boolean) IS
    'Admin: publish or unpublish a course, module or topic; audited.';

CREATE FUNCTION affiliate.course_outline(program_id bigint, course_id bigint, include_unpublished boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'course_outline';
COMMENT ON FUNCTION affiliate.course_outline(bigint, bigint, boolean) IS
    'A course''s modules and topics in display order (ties by id) as JSON; unpublished parts (and an unpublished course: NULL) left out unless asked.';

CREATE FUNCTION affiliate.enroll(program_id bigint, member_id bigint, course_id bigint)
    RETURNS boolean
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'enroll';
COMMENT ON FUNCTION affiliate.enroll(bigint, bigint, bigint) IS
    'Enroll a member in a published course; true when newly enrolled, false when already enrolled.';

CREATE FUNCTION affiliate.record_progress(program_id bigint, member_id bigint, topic_id bigint,
                                          watched_seconds integer, completed boolean DEFAULT false)
    RETURNS TABLE (watched_seconds integer, completed boolean, certificate_number text)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_progress';
COMMENT ON FUNCTION affiliate.record_progress(bigint, bigint, bigint, integer, boolean) IS
    'Record what an enrolled member watched of a published topic: watched seconds only grow, completion is sticky.';

CREATE FUNCTION affiliate.record_assessment(program_id bigint, member_id bigint, module_id bigint,
                                            score integer, max_score integer)
    RETURNS TABLE (passed boolean, certificate_number text)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_assessment';
COMMENT ON FUNCTION affiliate.record_assessment(bigint, bigint, bigint, integer, integer) IS
    'Record an assessment attempt of an enrolled member on a module with a pass mark; passed when score/max_score reaches it.';

CREATE FUNCTION affiliate.course_progress(program_id bigint, member_id bigint, course_id bigint)
    RETURNS TABLE (topics_done integer, topics_total integer, percent numeric, assessments_passed integer,
                   assessments_required integer, completed boolean, certificate_number text)
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'course_progress';
COMMENT ON FUNCTION affiliate.course_progress(bigint, bigint, bigint) IS
    'A member''s progress in a course over its published topics of published modules, and whether it is complete.';

-- row-level security: the operator reads them all
ALTER TABLE affiliate.course ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.course_module ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.topic ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.enrollment ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.topic_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.assessment ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.course FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.course_module FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.topic FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.enrollment FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.topic_progress FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.assessment FOR SELECT TO affiliate_operator USING (true);

-- backups
SELECT pg_catalog.pg_extension_config_dump('affiliate.course', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_module', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.enrollment', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic_progress', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.assessment', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_module_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.assessment_id_seq', '');

-- privileges (a new function is executable by PUBLIC until revoked)
REVOKE ALL ON FUNCTION
    affiliate.create_course(bigint, text, text, integer, boolean),
    affiliate.add_module(bigint, bigint, text, text, integer, boolean, integer),
    affiliate.add_topic(bigint, bigint, text, text, text, integer, text, integer, boolean),
    affiliate.set_published(bigint, text, bigint, boolean),
    affiliate.course_outline(bigint, bigint, boolean),
    affiliate.enroll(bigint, bigint, bigint),
    affiliate.record_progress(bigint, bigint, bigint, integer, boolean),
    affiliate.record_assessment(bigint, bigint, bigint, integer, integer),
    affiliate.course_progress(bigint, bigint, bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.create_course(bigint, text, text, integer, boolean),
    affiliate.add_module(bigint, bigint, text, text, integer, boolean, integer),
    affiliate.add_topic(bigint, bigint, text, text, text, integer, text, integer, boolean),
    affiliate.set_published(bigint, text, bigint, boolean),
    affiliate.course_outline(bigint, bigint, boolean),
    affiliate.enroll(bigint, bigint, bigint),
    affiliate.record_progress(bigint, bigint, bigint, integer, boolean),
    affiliate.record_assessment(bigint, bigint, bigint, integer, integer),
    affiliate.course_progress(bigint, bigint, bigint)
TO affiliate_operator;
REVOKE ALL ON SEQUENCE affiliate.course_id_seq, affiliate.course_module_id_seq, affiliate.topic_id_seq,
    affiliate.assessment_id_seq FROM PUBLIC;
GRANT SELECT ON affiliate.course, affiliate.course_module, affiliate.topic, affiliate.enrollment,
    affiliate.topic_progress, affiliate.assessment TO affiliate_operator;

-- ---------------------------------------------------------------------------
-- Signing keys and certificates (src/certificate.c)
-- ---------------------------------------------------------------------------
-- Ed25519 key pairs that sign the program's certificates: one active key
-- (retired_at NULL) per program, retired keys kept so that what they signed
-- still verifies.  The secret key is readable by the extension's owner only
-- (not granted to any role; row-level security without a policy): in clear
-- (secret_key) without a root key; sealed under the root key
-- (pg_affiliate.root_key_file) with it: nonce || crypto_secretbox of
-- (program id, secret key) under the root key's signing-key subkey, and the
-- fingerprint of the root key (src/secret.c, src/certificate.c).
CREATE TABLE affiliate.signing_key (
    program_id  bigint NOT NULL REFERENCES affiliate.program (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    secret_key  bytea CHECK (length(secret_key) = 64),
    sealed_key  bytea CHECK (length(sealed_key) = 112),
    root_key_id bytea CHECK (length(root_key_id) = 8),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    PRIMARY KEY (program_id, id),
    CONSTRAINT signing_key_clear_or_sealed CHECK ((secret_key IS NULL) <> (sealed_key IS NULL)),
    CONSTRAINT signing_key_sealed_names_root_key CHECK ((sealed_key IS NULL) = (root_key_id IS NULL)),
    CONSTRAINT signing_key_retired_after_created CHECK (retired_at IS NULL OR retired_at >= created_at)
);
-- one active key per program
CREATE UNIQUE INDEX signing_key_active ON affiliate.signing_key (program_id) WHERE retired_at IS NULL;
COMMENT ON TABLE affiliate.signing_key IS 'Ed25519 keys that sign certificates; one active per program; no role may read it.';
COMMENT ON COLUMN affiliate.signing_key.secret_key IS 'The 64-byte secret key in clear (no root key configured when it was made), or NULL when sealed.';
COMMENT ON COLUMN affiliate.signing_key.sealed_key IS 'The secret key sealed under the root key: 24-byte nonce || crypto_secretbox of (program id, secret key).';
COMMENT ON COLUMN affiliate.signing_key.root_key_id IS 'Fingerprint of the root key that sealed sealed_key.';

-- A certificate: the facts as certified (member_external_id and course_title
-- are copied at issue), the key that signed them and the Ed25519 signature
-- over their canonical text v1 (src/certificate.c, docs/certificates.md).
-- At most one per member and course.  No foreign key to member or course:
-- the facts are what was certified, and verify() checks every signature.
CREATE TABLE affiliate.certificate (
    program_id         bigint NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    number             text NOT NULL CHECK (length(number) BETWEEN 1 AND 20),
    member_id          bigint NOT NULL,
    course_id          bigint NOT NULL,
    member_external_id text NOT NULL,
    course_title       text NOT NULL,
    issued_at          timestamptz NOT NULL,
    key_id             bigint NOT NULL,
    signature          bytea NOT NULL CHECK (length(signature) = 64),
    revoked_at         timestamptz,
    revoke_reason      text CHECK (length(revoke_reason) BETWEEN 1 AND 2000),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, number),
    UNIQUE (program_id, member_id, course_id),
    FOREIGN KEY (program_id, key_id) REFERENCES affiliate.signing_key (program_id, id),
    CONSTRAINT certificate_revoked_with_reason CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
COMMENT ON TABLE affiliate.certificate IS 'Course certificates, signed with the program''s Ed25519 key; verify with verify_certificate().';

-- a new program gets its signing key (not for rows a restore loads with COPY)
CREATE FUNCTION affiliate.program_signing_key() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'program_signing_key';
CREATE TRIGGER program_signing_key
    AFTER INSERT ON affiliate.program
    FOR EACH ROW EXECUTE FUNCTION affiliate.program_signing_key();

CREATE FUNCTION affiliate.rotate_signing_key(program_id bigint) RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'rotate_signing_key';
COMMENT ON FUNCTION affiliate.rotate_signing_key(bigint) IS
    'Retire the program''s signing key and make a new one (sealed with a root key); old certificates still verify; audited; returns the new key id.';

CREATE FUNCTION affiliate.certificate_public_key(program_id bigint)
    RETURNS TABLE (key_id bigint, algorithm text, public_key bytea, public_key_base64 text,
                   created_at timestamptz, retired_at timestamptz)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'certificate_public_key';
COMMENT ON FUNCTION affiliate.certificate_public_key(bigint) IS
    'The program''s Ed25519 public keys (every key, oldest first; retired ones too), for verifying certificates offline.';

CREATE FUNCTION affiliate.verify_certificate(program_id bigint, number text)
    RETURNS TABLE (valid boolean, status text, number text, member_external_id text, course_title text,
                   issued_at timestamptz, key_id bigint, revoked_at timestamptz, revoke_reason text)
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'verify_certificate';
COMMENT ON FUNCTION affiliate.verify_certificate(bigint, text) IS
    'Check a certificate''s signature against the stored facts: valid, revoked, invalid (altered; no facts shown) or not_found.';

CREATE FUNCTION affiliate.certificate_text(program_id bigint, number text) RETURNS text
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'certificate_text';
COMMENT ON FUNCTION affiliate.certificate_text(bigint, text) IS
    'The canonical text v1 of a certificate (what its signature covers), for verification without the database.';

CREATE FUNCTION affiliate.revoke_certificate(program_id bigint, number text, reason text)
    RETURNS timestamptz
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'revoke_certificate';
COMMENT ON FUNCTION affiliate.revoke_certificate(bigint, text, text) IS
    'Revoke a certificate (reason 1-2000 bytes); audited; 55000 when already revoked; returns when.';

-- a completed topic or a passed assessment that completes the course issues
-- the member's certificate, once, in the same transaction (not for rows a
-- restore loads with COPY)
CREATE FUNCTION affiliate.course_certificate() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'course_certificate';
CREATE TRIGGER topic_progress_certificate
    AFTER INSERT OR UPDATE ON affiliate.topic_progress
    FOR EACH ROW EXECUTE FUNCTION affiliate.course_certificate();
CREATE TRIGGER assessment_certificate
    AFTER INSERT OR UPDATE ON affiliate.assessment
    FOR EACH ROW EXECUTE FUNCTION affiliate.course_certificate();

-- verify() gains certificate_signature_valid (the whole function, as in
-- pg_affiliate--0.5.0.sql)
CREATE OR REPLACE FUNCTION affiliate.verify(program_id bigint DEFAULT NULL)
    RETURNS TABLE (invariant text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    -- every posting's account exists in the posting's program
    SELECT 'posting_account_exists',
           format('posting %s of journal %s (program %s) names account %s, which is not in the program',
                  p.id, p.journal_id, p.program_id, p.account_id)
      FROM affiliate.posting p
     WHERE ($1 IS NULL OR p.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.account a
                        WHERE a.program_id = p.program_id AND a.id = p.account_id)
    UNION ALL
    -- every posting's journal exists in the posting's program
    SELECT 'posting_journal_exists',
           format('posting %s (program %s) names journal %s, which is not in the program',
                  p.id, p.program_id, p.journal_id)
      FROM affiliate.posting p
     WHERE ($1 IS NULL OR p.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.journal j
                        WHERE j.program_id = p.program_id AND j.id = p.journal_id)
    UNION ALL
    -- every member, account and audit row belongs to an existing program
    SELECT r.invariant, format('%s %s names program %s, which does not exist', r.what, r.id, r.program_id)
      FROM (SELECT 'member_program_exists' AS invariant, 'member' AS what, x.id, x.program_id
              FROM affiliate.member x
            UNION ALL
            SELECT 'account_program_exists', 'account', x.id, x.program_id FROM affiliate.account x
            UNION ALL
            SELECT 'audit_program_exists', 'audit row', x.id, x.program_id FROM affiliate.audit_log x) r
     WHERE ($1 IS NULL OR r.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.program g WHERE g.id = r.program_id)
    UNION ALL
    -- every member account belongs to a member of its program
    SELECT 'account_member_exists',
           format('account %s (program %s) names member %s, who is not in the program',
                  a.id, a.program_id, a.member_id)
      FROM affiliate.account a
     WHERE ($1 IS NULL OR a.program_id = $1) AND a.member_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = a.program_id AND m.id = a.member_id)
    UNION ALL
    -- every journal sums to zero per asset
    SELECT 'journal_balanced',
           format('journal %s (program %s): asset %s sums to %s', p.journal_id, p.program_id, a.asset, sum(p.amount))
      FROM affiliate.posting p
      JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
     WHERE ($1 IS NULL OR p.program_id = $1)
     GROUP BY p.program_id, p.journal_id, a.asset
    HAVING sum(p.amount) <> 0
    UNION ALL
    -- every journal has at least two postings
    SELECT 'journal_has_postings',
           format('journal %s (program %s) has %s posting(s)', j.id, j.program_id,
                  (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id))
      FROM affiliate.journal j
     WHERE ($1 IS NULL OR j.program_id = $1)
       AND (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id) < 2
    UNION ALL
    -- every unfolded delta mirrors its posting
    SELECT 'delta_matches_posting',
           format('delta of posting %s (program %s) does not match the posting', d.posting_id, d.program_id)
      FROM affiliate.balance_delta d
      LEFT JOIN affiliate.posting p ON p.program_id = d.program_id AND p.id = d.posting_id
     WHERE ($1 IS NULL OR d.program_id = $1)
       AND (p.id IS NULL OR p.account_id <> d.account_id OR p.amount <> d.amount
            OR p.posted_at <> d.posted_at)
    UNION ALL
    -- each stored balance (plus unfolded deltas) equals the sum of its postings
    SELECT 'balance_matches_postings',
           format('account %s (program %s): stored %s + unfolded %s, postings sum to %s',
                  a.id, a.program_id, a.balance, coalesce(d.s, 0), coalesce(p.s, 0))
      FROM affiliate.account a
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.posting x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) p
             ON p.program_id = a.program_id AND p.account_id = a.id
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.balance_delta x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) d
             ON d.program_id = a.program_id AND d.account_id = a.id
     WHERE ($1 IS NULL OR a.program_id = $1)
       AND a.balance + coalesce(d.s, 0) <> coalesce(p.s, 0)
    UNION ALL
    -- no forbidden negative balance
    SELECT 'no_forbidden_negative',
           format('account %s (program %s, %s) does not allow a negative balance and holds %s',
                  b.account_id, b.program_id, b.kind, b.balance)
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
       AND NOT b.allow_negative AND b.balance < 0
    UNION ALL
    -- every checkpoint equals the sum of the postings up to its time
    SELECT 'checkpoint_matches_postings',
           format('checkpoint of account %s (program %s) at %s holds %s, postings up to then sum to %s',
                  c.account_id, c.program_id, c.at, c.balance,
                  (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                    WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                  - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                      WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at))
      FROM affiliate.balance_checkpoint c
     WHERE ($1 IS NULL OR c.program_id = $1)
       AND c.balance <> (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                          WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                      - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                          WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at)
    UNION ALL
    -- pending commissions equal the members' pending balances
    SELECT 'commission_pending_matches_ledger',
           format('member %s (program %s): pending balance %s, pending commissions %s',
                  coalesce(a.member_id, c.beneficiary_id), coalesce(a.program_id, c.program_id),
                  coalesce(a.balance, 0), coalesce(c.s, 0))
      FROM (SELECT b.program_id, b.member_id, b.balance
              FROM affiliate.account_balances b JOIN affiliate.program g ON g.id = b.program_id
             WHERE b.kind = 'pending' AND b.member_id IS NOT NULL AND b.asset = g.currency
               AND ($1 IS NULL OR b.program_id = $1)) a
      FULL JOIN (SELECT x.program_id, x.beneficiary_id, sum(x.amount - x.reversed) AS s
                   FROM affiliate.commission x
                  WHERE x.status = 'pending' AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = a.program_id AND c.beneficiary_id = a.member_id
     WHERE coalesce(a.balance, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- released commissions (less what was clawed back) equal what the release
    -- and refund journals moved on the members' available and owed accounts
    SELECT 'commission_released_matches_ledger',
           format('member %s (program %s): released commissions net %s, release/refund postings %s',
                  coalesce(l.member_id, c.beneficiary_id), coalesce(l.program_id, c.program_id),
                  coalesce(c.s, 0), coalesce(l.s, 0))
      FROM (SELECT p.program_id, a.member_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('release', 'refund') AND a.kind IN ('available', 'owed')
               AND a.member_id IS NOT NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1, 2) l
      FULL JOIN (SELECT x.program_id, x.beneficiary_id,
                        sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE x.released IS NOT NULL AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = l.program_id AND c.beneficiary_id = l.member_id
     WHERE coalesce(l.s, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- what conversions and refunds moved on commission_expense agrees with the
    -- commissions: amounts paid, less reversals, plus write-offs
    SELECT 'commission_expense_matches',
           format('program %s: conversion/refund postings on commission_expense %s, commissions net %s',
                  coalesce(l.program_id, c.program_id), coalesce(l.s, 0), -coalesce(c.s, 0))
      FROM (SELECT p.program_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('conversion', 'refund') AND a.kind = 'commission_expense'
               AND a.member_id IS NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1) l
      FULL JOIN (SELECT x.program_id, sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE $1 IS NULL OR x.program_id = $1
                  GROUP BY 1) c
             ON c.program_id = l.program_id
     WHERE coalesce(l.s, 0) <> -coalesce(c.s, 0)
    UNION ALL
    -- every commission's beneficiary is a member of the program
    SELECT 'commission_beneficiary_exists',
           format('commission %s (program %s) names member %s, who is not in the program',
                  x.id, x.program_id, x.beneficiary_id)
      FROM affiliate.commission x
     WHERE ($1 IS NULL OR x.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = x.program_id AND m.id = x.beneficiary_id)
    UNION ALL
    -- every commission's conversion is in the program
    SELECT 'commission_conversion_exists',
           format('commission %s (program %s) names conversion %s, which is not in the program',
                  x.id, x.program_id, x.conversion_id)
      FROM affiliate.commission x
     WHERE ($1 IS NULL OR x.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.conversion v
                        WHERE v.program_id = x.program_id AND v.id = x.conversion_id)
    UNION ALL
    -- every conversion's buyer is a member of the program
    SELECT 'conversion_buyer_exists',
           format('conversion %s (program %s) names buyer %s, who is not in the program',
                  v.id, v.program_id, v.buyer_id)
      FROM affiliate.conversion v
     WHERE ($1 IS NULL OR v.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = v.program_id AND m.id = v.buyer_id)
    UNION ALL
    -- the commissions of a conversion never exceed its amount
    SELECT 'commissions_within_amount',
           format('conversion %s (program %s): commissions %s exceed the amount %s',
                  v.id, v.program_id, sum(x.amount), v.amount)
      FROM affiliate.conversion v
      JOIN affiliate.commission x ON x.program_id = v.program_id AND x.conversion_id = v.id
     WHERE ($1 IS NULL OR v.program_id = $1)
     GROUP BY v.program_id, v.id, v.amount
    HAVING sum(x.amount) > v.amount
    UNION ALL
    -- a conversion's refunded amount is the sum of its refunds
    SELECT 'conversion_refunds_match',
           format('conversion %s (program %s): refunded %s, refunds sum to %s',
                  v.id, v.program_id, v.refunded,
                  (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                    WHERE r.program_id = v.program_id AND r.conversion_id = v.id))
      FROM affiliate.conversion v
     WHERE ($1 IS NULL OR v.program_id = $1)
       AND v.refunded <> (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                           WHERE r.program_id = v.program_id AND r.conversion_id = v.id)
    UNION ALL
    -- every click names a member of the program
    SELECT 'click_member_exists',
           format('click %s (program %s) names member %s, who is not in the program',
                  k.id, k.program_id, k.member_id)
      FROM affiliate.click k
     WHERE ($1 IS NULL OR k.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = k.program_id AND m.id = k.member_id)
    UNION ALL
    -- every member's upline is its sponsor followed by the sponsor's upline
    SELECT 'upline_matches_sponsor',
           format('member %s (program %s): upline %s, sponsor %s with upline %s',
                  m.id, m.program_id, m.upline, m.sponsor_id, s.upline)
      FROM affiliate.member m
      LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
     WHERE ($1 IS NULL OR m.program_id = $1)
       AND m.upline IS DISTINCT FROM
           CASE WHEN m.sponsor_id IS NULL THEN '{}'::bigint[] ELSE array_prepend(s.id, s.upline) END
    UNION ALL
    -- withdrawals in flight equal the members' withdrawing (requested) and
    -- payable (approved) balances
    SELECT 'withdrawals_match_withdrawing',
           format('member %s (program %s, %s): %s balance %s, %s withdrawals %s',
                  coalesce(a.member_id, w.member_id), coalesce(a.program_id, w.program_id),
                  coalesce(a.asset, w.asset), coalesce(a.kind, w.kind), coalesce(a.balance, 0),
                  coalesce(w.status, CASE a.kind WHEN 'withdrawing' THEN 'requested' ELSE 'approved' END),
                  coalesce(w.s, 0))
      FROM (SELECT b.program_id, b.member_id, b.asset, b.kind, b.balance
              FROM affiliate.account_balances b
             WHERE b.kind IN ('withdrawing', 'payable') AND b.member_id IS NOT NULL
               AND ($1 IS NULL OR b.program_id = $1)) a
      FULL JOIN (SELECT x.program_id, x.member_id, x.asset, x.status,
                        CASE x.status WHEN 'requested' THEN 'withdrawing' ELSE 'payable' END AS kind,
                        sum(x.amount) AS s
                   FROM affiliate.withdrawal x
                  WHERE x.status IN ('requested', 'approved') AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2, 3, 4) w
             ON w.program_id = a.program_id AND w.member_id = a.member_id
            AND w.asset = a.asset AND w.kind = a.kind
     WHERE coalesce(a.balance, 0) <> coalesce(w.s, 0)
    UNION ALL
    -- paid withdrawals equal what the withdrawal_paid journals moved to payouts
    SELECT 'withdrawals_paid_match_payouts',
           format('program %s (%s): paid withdrawals %s, withdrawal_paid postings on payouts %s',
                  coalesce(l.program_id, w.program_id), coalesce(l.asset, w.asset),
                  coalesce(w.s, 0), coalesce(l.s, 0))
      FROM (SELECT p.program_id, a.asset, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind = 'withdrawal_paid' AND a.kind = 'payouts' AND a.member_id IS NULL
               AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1, 2) l
      FULL JOIN (SELECT x.program_id, x.asset, sum(x.amount) AS s
                   FROM affiliate.withdrawal x
                  WHERE x.status = 'paid' AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) w
             ON w.program_id = l.program_id AND w.asset = l.asset
     WHERE coalesce(l.s, 0) <> coalesce(w.s, 0)
    UNION ALL
    -- every asset of a program sums to zero over all its accounts
    SELECT 'asset_sums_to_zero',
           format('program %s: asset %s sums to %s over all accounts', b.program_id, b.asset, sum(b.balance))
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
     GROUP BY b.program_id, b.asset
    HAVING sum(b.balance) <> 0
    UNION ALL
    -- every certificate's signature checks against the stored facts and the
    -- key it names (revoked certificates too)
    SELECT 'certificate_signature_valid',
           format('certificate %s (program %s, member %s, course %s): %s',
                  c.number, c.program_id, c.member_id, c.course_id,
                  CASE v.status WHEN 'not_found' THEN 'its number is not a certificate number'
                                ELSE 'the signature does not match the stored facts' END)
      FROM affiliate.certificate c
     CROSS JOIN LATERAL affiliate.verify_certificate(c.program_id, c.number) v
     WHERE ($1 IS NULL OR c.program_id = $1)
       AND v.status NOT IN ('valid', 'revoked')
$$;
COMMENT ON FUNCTION affiliate.verify(bigint) IS 'Every broken ledger invariant, one row each; empty when all hold.';

-- row-level security: the signing keys have no policy (nobody but the owner)
ALTER TABLE affiliate.signing_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.certificate ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.certificate FOR SELECT TO affiliate_operator USING (true);

-- backups
SELECT pg_catalog.pg_extension_config_dump('affiliate.signing_key', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.certificate', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.signing_key_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.certificate_id_seq', '');

-- privileges
REVOKE ALL ON affiliate.signing_key, affiliate.certificate FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.signing_key_id_seq, affiliate.certificate_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.program_signing_key(),
    affiliate.course_certificate(),
    affiliate.rotate_signing_key(bigint),
    affiliate.certificate_public_key(bigint),
    affiliate.verify_certificate(bigint, text),
    affiliate.certificate_text(bigint, text),
    affiliate.revoke_certificate(bigint, text, text)
FROM PUBLIC;
GRANT SELECT ON affiliate.certificate TO affiliate_operator;
GRANT EXECUTE ON FUNCTION
    affiliate.rotate_signing_key(bigint),
    affiliate.revoke_certificate(bigint, text, text)
TO affiliate_operator;
GRANT EXECUTE ON FUNCTION
    affiliate.verify_certificate(bigint, text),
    affiliate.certificate_text(bigint, text),
    affiliate.certificate_public_key(bigint)
TO affiliate_operator, affiliate_admin, affiliate_member, affiliate_anon;


-- ---------------------------------------------------------------------------
-- HTTP API for courses (affiliate_api, docs/postgrest.md): views and RPC
-- functions over the course engine, row-level security for the HTTP roles,
-- grants.  The same statements as in pg_affiliate.sql (HTTP API,
-- row-level security and privileges sections).
-- ---------------------------------------------------------------------------
-- courses over HTTP (affiliate_api, 0.5.0): the admin reads the claimed
-- program's courses, enrollments, progress and assessments; a member the
-- program's published courses and their own enrollments, progress and
-- assessments.  Modules and topics are read through course_outline only.
CREATE POLICY admin_program ON affiliate.course FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.enrollment FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.topic_progress FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.assessment FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY member_published ON affiliate.course FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND published
           AND (SELECT affiliate.current_member()) IS NOT NULL);
CREATE POLICY member_own ON affiliate.enrollment FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.topic_progress FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.assessment FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));

-- courses (0.5.0) ---------------------------------------------------------------
-- The course engine of src/course.c over HTTP.  Anonymous visitors (a site
-- token {"role": "affiliate_anon", "program": N}), members and admins read
-- the published catalog and outlines of the claimed program; members enroll,
-- report progress and assessments for themselves; admins build and publish
-- their program's courses.  anon reads no table: the catalog and outlines
-- are functions.

CREATE VIEW affiliate_api.courses WITH (security_invoker = true) AS
SELECT c.id AS course_id, c.title, c.description, c.display_order, c.published, c.created_at
  FROM affiliate.course c;
COMMENT ON VIEW affiliate_api.courses IS 'Courses: an admin sees the program''s (published or not), a member the published ones.';

CREATE VIEW affiliate_api.enrollments WITH (security_invoker = true) AS
SELECT e.member_id, e.course_id, e.enrolled_at, e.last_activity_at
  FROM affiliate.enrollment e;
COMMENT ON VIEW affiliate_api.enrollments IS 'Enrollments: an admin sees the program''s, a member their own.';

CREATE VIEW affiliate_api.topic_progress WITH (security_invoker = true) AS
SELECT t.member_id, t.course_id, t.topic_id, t.watched_seconds, t.completed_at, t.updated_at
  FROM affiliate.topic_progress t;
COMMENT ON VIEW affiliate_api.topic_progress IS 'Progress per topic: an admin sees the program''s, a member their own.';

CREATE VIEW affiliate_api.assessments WITH (security_invoker = true) AS
SELECT a.id AS assessment_id, a.member_id, a.module_id, a.score, a.max_score, a.passed, a.at
  FROM affiliate.assessment a;
COMMENT ON VIEW affiliate_api.assessments IS 'Assessment attempts: an admin sees the program''s, a member their own.';

-- anon, member, admin: the published catalog of the claimed program

CREATE FUNCTION affiliate_api.course_catalog()
    RETURNS TABLE (course_id bigint, title text, description text, display_order integer,
                   modules integer, topics integer, duration_seconds bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT c.id, c.title, c.description, c.display_order,
           (SELECT pg_catalog.count(*)::integer FROM affiliate.course_module m
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published),
           (SELECT pg_catalog.count(*)::integer FROM affiliate.course_module m
              JOIN affiliate.topic t ON t.program_id = m.program_id AND t.module_id = m.id
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published AND t.published),
           (SELECT coalesce(pg_catalog.sum(t.duration_seconds), 0)::bigint FROM affiliate.course_module m
              JOIN affiliate.topic t ON t.program_id = m.program_id AND t.module_id = m.id
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published AND t.published)
      FROM affiliate.course c
     WHERE c.program_id = affiliate.claimed_program() AND c.published
     ORDER BY c.display_order, c.id
$$;
COMMENT ON FUNCTION affiliate_api.course_catalog() IS
    'anon, member, admin: the claimed program''s published courses in display order, with their published modules, topics and minutes.';

CREATE FUNCTION affiliate_api.course_outline(course_id bigint)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    outline pg_catalog.jsonb;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    outline := affiliate.course_outline(prog, course_id, false);
    -- an unpublished course does not exist for the public
    IF outline IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = pg_catalog.format('course %s does not exist in program %s', course_id, prog);
    END IF;
    RETURN outline;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_outline(bigint) IS
    'anon, member, admin: a published course''s published modules and topics in display order, as JSON; an unpublished course is PT404.';

-- member: their own enrollments, progress and assessments

CREATE FUNCTION affiliate_api.enroll(course_id bigint)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.enroll(affiliate.claimed_program(), affiliate.current_member(), course_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.enroll(bigint) IS
    'member: enroll in a published course; true when newly enrolled, false when already enrolled.';

-- what record_progress returns (a composite type: a PL/pgSQL function cannot
-- have output columns named like its arguments)
CREATE TYPE affiliate_api.progress_report AS (watched_seconds integer, completed boolean, certificate_number text);
COMMENT ON TYPE affiliate_api.progress_report IS 'The result of affiliate_api.record_progress().';

CREATE FUNCTION affiliate_api.record_progress(topic_id bigint, watched_seconds integer, completed boolean DEFAULT false)
    RETURNS affiliate_api.progress_report
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    report affiliate_api.progress_report;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT r.watched_seconds, r.completed, r.certificate_number INTO report
      FROM affiliate.record_progress(affiliate.claimed_program(), affiliate.current_member(), topic_id,
                                     watched_seconds, completed) r;
    RETURN report;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_progress(bigint, integer, boolean) IS
    'member: report what the caller watched of a topic of a course they are enrolled in: watched seconds only grow, completion is sticky.';

CREATE FUNCTION affiliate_api.record_assessment(module_id bigint, score integer, max_score integer,
                                                OUT passed boolean, OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT r.passed, r.certificate_number INTO passed, certificate_number
      FROM affiliate.record_assessment(affiliate.claimed_program(), affiliate.current_member(), module_id,
                                       score, max_score) r;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_assessment(bigint, integer, integer) IS
    'member: record the caller''s assessment attempt on a module with a pass mark; passed when score/max_score reaches it.';

CREATE FUNCTION affiliate_api.course_progress(course_id bigint, OUT topics_done integer, OUT topics_total integer,
                                              OUT percent numeric, OUT assessments_passed integer,
                                              OUT assessments_required integer, OUT completed boolean,
                                              OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT p.* INTO topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
                    certificate_number
      FROM affiliate.course_progress(affiliate.claimed_program(), affiliate.current_member(), course_id) p;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_progress(bigint) IS
    'member: the caller''s progress in a course (published topics of published modules) and whether it is complete.';

CREATE FUNCTION affiliate_api.my_courses()
    RETURNS TABLE (course_id bigint, title text, published boolean, enrolled_at timestamptz,
                   last_activity_at timestamptz, topics_done integer, topics_total integer, percent numeric,
                   assessments_passed integer, assessments_required integer, completed boolean,
                   certificate_number text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT e.course_id, c.title, c.published, e.enrolled_at, e.last_activity_at, p.topics_done, p.topics_total,
           p.percent, p.assessments_passed, p.assessments_required, p.completed, p.certificate_number
      FROM affiliate.enrollment e
      JOIN affiliate.course c ON c.program_id = e.program_id AND c.id = e.course_id
     CROSS JOIN LATERAL affiliate.course_progress(affiliate.claimed_program(), affiliate.current_member(),
                                                  e.course_id) p
     WHERE e.program_id = affiliate.claimed_program() AND e.member_id = affiliate.current_member()
     ORDER BY e.enrolled_at, e.course_id
$$;
COMMENT ON FUNCTION affiliate_api.my_courses() IS
    'member: the courses the caller is enrolled in, oldest enrollment first, with their progress.';

-- admin: the program's courses

CREATE FUNCTION affiliate_api.create_course(title text, description text DEFAULT NULL, display_order integer DEFAULT 0,
                                            published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.create_course(affiliate.claimed_program(), title, description, display_order, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.create_course(text, text, integer, boolean) IS
    'admin: add a course (unpublished unless asked); audited; returns the course id.';

CREATE FUNCTION affiliate_api.add_module(course_id bigint, title text, description text DEFAULT NULL,
                                         display_order integer DEFAULT 0, published boolean DEFAULT false,
                                         pass_mark integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_module(affiliate.claimed_program(), course_id, title, description, display_order,
                                published, pass_mark);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_module(bigint, text, text, integer, boolean, integer) IS
    'admin: add a module to a course of the program; pass_mark (percent) requires a passed assessment; audited; returns the module id.';

CREATE FUNCTION affiliate_api.add_topic(module_id bigint, title text, video_source text, video_ref text,
                                        duration_seconds integer DEFAULT 0, description text DEFAULT NULL,
                                        display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_topic(affiliate.claimed_program(), module_id, title, video_source, video_ref,
                               duration_seconds, description, display_order, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_topic(bigint, text, text, text, integer, text, integer, boolean) IS
    'admin: add a topic (video) to a module of the program; video_ref is validated for its source; audited; returns the topic id.';

CREATE FUNCTION affiliate_api.set_published(kind text, id bigint, published boolean)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_published(affiliate.claimed_program(), kind, id, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_published(text, bigint, boolean) IS
    'admin: publish or unpublish a course, module or topic (kind) of the program; audited.';

CREATE FUNCTION affiliate_api.course_outline_all(course_id bigint)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.course_outline(affiliate.claimed_program(), course_id, true);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_outline_all(bigint) IS
    'admin: a course''s outline with its unpublished modules and topics (and an unpublished course), as JSON.';

CREATE FUNCTION affiliate_api.member_course_progress(member_id bigint, course_id bigint, OUT topics_done integer,
                                                     OUT topics_total integer, OUT percent numeric,
                                                     OUT assessments_passed integer, OUT assessments_required integer,
                                                     OUT completed boolean, OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT p.* INTO topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
                    certificate_number
      FROM affiliate.course_progress(affiliate.claimed_program(), member_id, course_id) p;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.member_course_progress(bigint, bigint) IS
    'admin: a member''s progress in a course of the program.';

-- privileges (a new function is executable by PUBLIC until revoked)
REVOKE ALL ON FUNCTION
    affiliate_api.course_catalog(),
    affiliate_api.course_outline(bigint),
    affiliate_api.enroll(bigint),
    affiliate_api.record_progress(bigint, integer, boolean),
    affiliate_api.record_assessment(bigint, integer, integer),
    affiliate_api.course_progress(bigint),
    affiliate_api.my_courses(),
    affiliate_api.create_course(text, text, integer, boolean),
    affiliate_api.add_module(bigint, text, text, integer, boolean, integer),
    affiliate_api.add_topic(bigint, text, text, text, integer, text, integer, boolean),
    affiliate_api.set_published(text, bigint, boolean),
    affiliate_api.course_outline_all(bigint),
    affiliate_api.member_course_progress(bigint, bigint)
FROM PUBLIC;
-- courses over HTTP (0.5.0)
GRANT EXECUTE ON FUNCTION
    affiliate_api.course_catalog(),
    affiliate_api.course_outline(bigint)
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.enroll(bigint),
    affiliate_api.record_progress(bigint, integer, boolean),
    affiliate_api.record_assessment(bigint, integer, integer),
    affiliate_api.course_progress(bigint),
    affiliate_api.my_courses()
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.create_course(text, text, integer, boolean),
    affiliate_api.add_module(bigint, text, text, integer, boolean, integer),
    affiliate_api.add_topic(bigint, text, text, text, integer, text, integer, boolean),
    affiliate_api.set_published(text, bigint, boolean),
    affiliate_api.course_outline_all(bigint),
    affiliate_api.member_course_progress(bigint, bigint)
TO affiliate_admin;
GRANT SELECT ON affiliate.course, affiliate.enrollment, affiliate.topic_progress, affiliate.assessment
    TO affiliate_member, affiliate_admin;
GRANT SELECT ON affiliate_api.courses, affiliate_api.enrollments, affiliate_api.topic_progress,
    affiliate_api.assessments TO affiliate_member, affiliate_admin;

-- ---------------------------------------------------------------------------
-- HTTP API for certificates (affiliate_api, docs/certificates.md): anyone
-- holding a token of the program verifies a certificate and reads the public
-- keys; a member lists their own; the admin revokes and rotates (audited).
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate_api.verify_certificate(certificate_number text)
    RETURNS TABLE (valid boolean, status text, number text, member_external_id text, course_title text,
                   issued_at timestamptz, key_id bigint, revoked_at timestamptz, revoke_reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT v.valid, v.status, v.number, v.member_external_id, v.course_title, v.issued_at, v.key_id,
           v.revoked_at, v.revoke_reason
      FROM affiliate.verify_certificate(affiliate.claimed_program(), certificate_number) v;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.verify_certificate(text) IS
    'anon, member, admin: check a certificate of the claimed program (valid, revoked, invalid or not_found) and show what it certifies.';

CREATE FUNCTION affiliate_api.certificate_text(certificate_number text)
    RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.certificate_text(affiliate.claimed_program(), certificate_number);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.certificate_text(text) IS
    'anon, member, admin: the canonical text a certificate''s signature covers, for verifying it offline.';

CREATE FUNCTION affiliate_api.certificate_public_key()
    RETURNS TABLE (key_id bigint, algorithm text, public_key_base64 text, created_at timestamptz,
                   retired_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT k.key_id, k.algorithm, k.public_key_base64, k.created_at, k.retired_at
      FROM affiliate.certificate_public_key(affiliate.claimed_program()) k;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.certificate_public_key() IS
    'anon, member, admin: the claimed program''s Ed25519 public keys (base64), retired ones too.';

CREATE FUNCTION affiliate_api.my_certificates()
    RETURNS TABLE (number text, course_id bigint, course_title text, issued_at timestamptz,
                   revoked_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT c.number, c.course_id, c.course_title, c.issued_at, c.revoked_at
      FROM affiliate.certificate c
     WHERE c.program_id = affiliate.claimed_program() AND c.member_id = affiliate.current_member()
     ORDER BY c.issued_at, c.id
$$;
COMMENT ON FUNCTION affiliate_api.my_certificates() IS
    'member: the caller''s certificates, oldest first.';

CREATE FUNCTION affiliate_api.revoke_certificate(certificate_number text, reason text)
    RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.revoke_certificate(affiliate.claimed_program(), certificate_number, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.revoke_certificate(text, text) IS
    'admin: revoke a certificate of the program; audited; PT409 when already revoked.';

CREATE FUNCTION affiliate_api.rotate_signing_key()
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.rotate_signing_key(affiliate.claimed_program());
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.rotate_signing_key() IS
    'admin: retire the program''s signing key and make a new one; old certificates still verify; audited.';

-- privileges (a new function is executable by PUBLIC until revoked)
REVOKE ALL ON FUNCTION
    affiliate_api.verify_certificate(text),
    affiliate_api.certificate_text(text),
    affiliate_api.certificate_public_key(),
    affiliate_api.my_certificates(),
    affiliate_api.revoke_certificate(text, text),
    affiliate_api.rotate_signing_key()
FROM PUBLIC;
-- certificates over HTTP (0.5.0)
GRANT EXECUTE ON FUNCTION
    affiliate_api.verify_certificate(text),
    affiliate_api.certificate_text(text),
    affiliate_api.certificate_public_key()
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate_api.my_certificates() TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.revoke_certificate(text, text),
    affiliate_api.rotate_signing_key()
TO affiliate_admin;
