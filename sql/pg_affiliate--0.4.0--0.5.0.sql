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
