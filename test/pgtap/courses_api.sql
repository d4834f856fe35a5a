-- The HTTP API for courses (0.5.0): the course engine (src/course.c) through
-- schema affiliate_api, as PostgREST calls it.  Every block does what
-- PostgREST does for a request: SET LOCAL ROLE to the JWT's role,
-- request.jwt.claims as a transaction-local setting; RESET ROLE between
-- blocks.  affiliate_anon (a site token naming the program) reads the
-- published catalog and outlines only; affiliate_member enrolls and reports
-- progress and assessments for themselves only; affiliate_admin builds and
-- reads the courses of the claimed program only.  Every refusal's SQLSTATE,
-- that refused calls change nothing, and that the audit rows carry the JWT
-- "sub".
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(114);

-- ===========================================================================
-- Catalogs: the course endpoints and who may call them
-- ===========================================================================
SELECT is(ARRAY(SELECT r || ' ' || p.proname FROM pg_proc p
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace
                   AND p.proname IN ('course_catalog', 'course_outline', 'enroll', 'record_progress',
                                     'record_assessment', 'course_progress', 'my_courses', 'create_course',
                                     'add_module', 'add_topic', 'set_published', 'course_outline_all',
                                     'member_course_progress')
                   AND has_function_privilege(r, p.oid, 'EXECUTE')
                 ORDER BY 1),
          ARRAY['affiliate_admin add_module', 'affiliate_admin add_topic', 'affiliate_admin course_catalog',
                'affiliate_admin course_outline', 'affiliate_admin course_outline_all',
                'affiliate_admin create_course', 'affiliate_admin member_course_progress',
                'affiliate_admin set_published',
                'affiliate_anon course_catalog', 'affiliate_anon course_outline',
                'affiliate_member course_catalog', 'affiliate_member course_outline',
                'affiliate_member course_progress', 'affiliate_member enroll', 'affiliate_member my_courses',
                'affiliate_member record_assessment', 'affiliate_member record_progress'],
          'the course functions: anon reads the catalog and outlines, members study, admins build');
SELECT is(ARRAY(SELECT r || ' ' || c.relname FROM pg_class c
                 CROSS JOIN unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r
                 WHERE c.oid IN ('affiliate_api.courses'::regclass, 'affiliate_api.enrollments'::regclass,
                                 'affiliate_api.topic_progress'::regclass, 'affiliate_api.assessments'::regclass,
                                 'affiliate.course'::regclass, 'affiliate.course_module'::regclass,
                                 'affiliate.topic'::regclass, 'affiliate.enrollment'::regclass,
                                 'affiliate.topic_progress'::regclass, 'affiliate.assessment'::regclass)
                   AND has_table_privilege(r, c.oid, 'SELECT')
                 ORDER BY 1),
          ARRAY['affiliate_admin assessment', 'affiliate_admin assessments', 'affiliate_admin course',
                'affiliate_admin courses', 'affiliate_admin enrollment', 'affiliate_admin enrollments',
                'affiliate_admin topic_progress', 'affiliate_admin topic_progress',
                'affiliate_member assessment', 'affiliate_member assessments', 'affiliate_member course',
                'affiliate_member courses', 'affiliate_member enrollment', 'affiliate_member enrollments',
                'affiliate_member topic_progress', 'affiliate_member topic_progress'],
          'the course views and the tables behind them: member and admin (under row-level security), not anon; modules and topics through the outline only');
SELECT is(ARRAY(SELECT tablename || ' ' || policyname || ' ' || array_to_string(roles, ',') || ' ' || cmd
                  FROM pg_policies
                 WHERE schemaname = 'affiliate'
                   AND tablename IN ('course', 'course_module', 'topic', 'enrollment', 'topic_progress', 'assessment')
                   AND policyname <> 'operator_all'
                 ORDER BY 1),
          ARRAY['assessment admin_program affiliate_admin SELECT', 'assessment member_own affiliate_member SELECT',
                'course admin_program affiliate_admin SELECT', 'course member_published affiliate_member SELECT',
                'enrollment admin_program affiliate_admin SELECT', 'enrollment member_own affiliate_member SELECT',
                'topic_progress admin_program affiliate_admin SELECT',
                'topic_progress member_own affiliate_member SELECT'],
          'row-level security on the course tables: FOR SELECT, admin (program) and member (published / own)');

-- ===========================================================================
-- Data, as the superuser: programs A and B; in A ann and ben, in B xena
-- with ann's external id.  B's course is built with the SQL API.
-- ===========================================================================
SELECT affiliate.create_program('Academy A', 'INR') AS pa \gset
SELECT affiliate.create_program('Academy B', 'EUR') AS pb \gset
SELECT affiliate.add_member(:pa, 'tg:1') AS ann \gset
SELECT affiliate.add_member(:pa, 'tg:2') AS ben \gset
SELECT affiliate.add_member(:pb, 'tg:1') AS xena \gset
SELECT affiliate.create_course(:pb, 'B course', NULL, 0, true) AS cb \gset
SELECT affiliate.add_module(:pb, :cb, 'B module', NULL, 0, true, 50) AS mb \gset
SELECT affiliate.add_topic(:pb, :mb, 'B topic', 'youtube', 'aqz-KE-bpKQ', 60, NULL, 0, true) AS tb \gset
SELECT affiliate.enroll(:pb, :xena, :cb) AS enrolled \gset
SELECT count(*) AS n FROM affiliate.record_progress(:pb, :xena, :tb, 30) \gset

-- everything of a program's courses an HTTP call could change, as one text
CREATE FUNCTION pg_temp.fingerprint(p bigint) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' / ',
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.course x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.course_module x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.topic x WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.member_id, x.course_id)) FROM affiliate.enrollment x
          WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.member_id, x.topic_id)) FROM affiliate.topic_progress x
          WHERE x.program_id = p),
        (SELECT md5(string_agg(x::text, ',' ORDER BY x.id)) FROM affiliate.assessment x WHERE x.program_id = p),
        (SELECT count(*) FROM affiliate.audit_log a WHERE a.program_id = p))
$$;
-- the member's certificate for a course once certificates exist (0.5.0
-- part B), else NULL
CREATE FUNCTION pg_temp.certificate_for(p bigint, m bigint, c bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n text;
BEGIN
    IF to_regclass('affiliate.certificate') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT number FROM affiliate.certificate WHERE program_id = $1 AND member_id = $2 AND course_id = $3'
       INTO n USING p, m, c;
    RETURN n;
END
$$;
SELECT pg_temp.fingerprint(:pb) AS b_before \gset

-- ===========================================================================
-- affiliate_admin of A builds a course; the audit rows carry the JWT sub
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:priya"}', :pa), true) \g /dev/null
SELECT affiliate_api.create_course('Mobile video basics', 'Shoot and edit on a phone.', 1) AS c1 \gset
SELECT affiliate_api.add_module(:c1, 'Shooting', NULL, 1, true) AS m1 \gset
SELECT affiliate_api.add_module(:c1, 'Editing', NULL, 2, true, 60) AS m2 \gset
SELECT affiliate_api.add_module(:c1, 'Drafts', NULL, 3) AS m_draft \gset
SELECT affiliate_api.add_topic(:m1, 'Light', 'youtube', 'dQw4w9WgXcQ', 300, NULL, 1, true) AS t1 \gset
SELECT affiliate_api.add_topic(:m1, 'Sound', 'vimeo', '76979871', 240, NULL, 2, true) AS t2 \gset
SELECT affiliate_api.add_topic(:m1, 'Not yet', 'url', 'https://videos.example.com/draft.mp4', 10, NULL, 3) AS t_draft \gset
SELECT affiliate_api.add_topic(:m2, 'Cutting', 'cloudinary', 'academy/editing/cutting', 420, NULL, 1, true) AS t3 \gset
SELECT affiliate_api.add_topic(:m_draft, 'Colour', 'youtube', 'M7lc1UVf-VE', 100, NULL, 1, true) AS t4 \gset
SELECT affiliate_api.create_course('Coming soon') AS c_draft \gset
SELECT is(affiliate_api.set_published('course', :c1, true)::text, '',
          'admin: set_published returns nothing (HTTP 204)');
SELECT is((SELECT jsonb_array_length(affiliate_api.course_outline_all(:c1)->'modules')), 3,
          'admin: course_outline_all shows the unpublished module too');
SELECT is(affiliate_api.course_outline_all(:c_draft)->>'title', 'Coming soon',
          'admin: course_outline_all shows an unpublished course');
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.courses ORDER BY 1), ARRAY[:c1, :c_draft]::bigint[],
          'admin view courses: the program''s courses, published or not; none of B''s');
SELECT is((SELECT published FROM affiliate_api.courses WHERE course_id = :c_draft), false,
          'admin view courses: with their published flag');
-- refusals: another program's ids do not exist; bad input is 22023
SELECT throws_ok(format('SELECT affiliate_api.add_module(%s, %L)', :cb, 'Intruder'), 'PT404',
                 format('course %s does not exist in program %s', :cb, :pa),
                 'admin of A: add_module to B''s course is PT404 (HTTP 404)');
SELECT throws_ok(format('SELECT affiliate_api.add_topic(%s, %L, %L, %L)', :mb, 'Intruder', 'youtube', 'dQw4w9WgXcQ'),
                 'PT404', NULL, 'admin of A: add_topic to B''s module is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_published(%L, %s, false)', 'course', :cb), 'PT404', NULL,
                 'admin of A: set_published on B''s course is PT404');
SELECT throws_ok(format('SELECT affiliate_api.set_published(%L, %s, false)', 'topic', :tb), 'PT404', NULL,
                 'admin of A: set_published on B''s topic is PT404');
SELECT throws_ok(format('SELECT affiliate_api.course_outline_all(%s)', :cb), 'PT404', NULL,
                 'admin of A: course_outline_all of B''s course is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_course_progress(%s, %s)', :xena, :cb), 'PT404', NULL,
                 'admin of A: member_course_progress of B''s member is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_course_progress(%s, %s)', :ann, :cb), 'PT404', NULL,
                 'admin of A: member_course_progress in B''s course is PT404');
SELECT throws_ok(format('SELECT affiliate_api.add_topic(%s, %L, %L, %L)', :m1, 'Bad', 'youtube', 'not-a-video-id'),
                 '22023', NULL, 'admin: add_topic with an invalid video_ref is 22023');
SELECT throws_ok(format('SELECT affiliate_api.add_topic(%s, %L, %L, %L)', :m1, 'Bad', 'tiktok', 'x'),
                 '22023', NULL, 'admin: add_topic with an unknown video_source is 22023');
SELECT throws_ok(format('SELECT affiliate_api.add_module(%s, %L, NULL, 0, true, 101)', :c1, 'Bad'), '22023', NULL,
                 'admin: add_module with a pass mark over 100 is 22023');
SELECT throws_ok('SELECT affiliate_api.create_course('''')', '22023', NULL,
                 'admin: create_course with an empty title is 22023');
SELECT throws_ok(format('SELECT affiliate_api.set_published(%L, %s, true)', 'lesson', :c1), '22023', NULL,
                 'admin: set_published of an unknown kind is 22023');
SELECT throws_ok('SELECT affiliate_api.set_published(''course'', 999999999, true)', 'PT404', NULL,
                 'admin: set_published of an unknown course is PT404');
SELECT throws_ok('SELECT affiliate_api.course_outline_all(999999999)', 'PT404', NULL,
                 'admin: course_outline_all of an unknown course is PT404');
-- an admin token is no member: the member functions are not granted
SELECT throws_ok(format('SELECT affiliate_api.enroll(%s)', :c1), '42501', 'permission denied for function enroll',
                 'admin cannot enroll (a member function)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :t1), '42501', NULL,
                 'admin cannot record progress (a member function)');
SELECT throws_ok(format('SELECT affiliate.create_course(%s, %L)', :pa, 'Direct'), '42501', NULL,
                 'admin cannot call the engine function affiliate.create_course');
RESET ROLE;
SELECT is(ARRAY(SELECT DISTINCT row(action, actor, db_role)::text FROM affiliate.audit_log
                 WHERE program_id = :pa AND action IN ('create_course', 'add_module', 'add_topic', 'set_published')
                 ORDER BY 1),
          ARRAY[row('add_module', 'admin:priya', 'affiliate_admin')::text,
                row('add_topic', 'admin:priya', 'affiliate_admin')::text,
                row('create_course', 'admin:priya', 'affiliate_admin')::text,
                row('set_published', 'admin:priya', 'affiliate_admin')::text],
          'admin: every course step is audited with the JWT sub as actor and affiliate_admin as db_role');
SELECT is((SELECT count(*) FROM affiliate.audit_log
            WHERE program_id = :pa AND action IN ('create_course', 'add_module', 'add_topic', 'set_published')),
          11::bigint, 'admin: one audit row per successful step (2 courses, 3 modules, 5 topics, 1 publish), none for the refused ones');
SELECT is(pg_temp.fingerprint(:pb), :'b_before', 'admin of A: program B''s courses are unchanged');
-- the published outline, as the engine gives it
SELECT affiliate.course_outline(:pa, :c1) AS outline_c1 \gset

-- ===========================================================================
-- affiliate_anon with a site token naming program A: catalog and outlines
-- ===========================================================================
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(course_id, title, modules, topics, duration_seconds)::text
                  FROM affiliate_api.course_catalog()),
          ARRAY[row(:c1, 'Mobile video basics', 2, 3, 960)::text],
          'anon: the catalog is A''s published course, with its published modules, topics and seconds');
SELECT is(affiliate_api.course_outline(:c1), :'outline_c1'::jsonb,
          'anon: course_outline is the engine''s published outline');
SELECT is(ARRAY(SELECT (t->>'topic_id')::bigint
                  FROM jsonb_array_elements(affiliate_api.course_outline(:c1)->'modules') m,
                       jsonb_array_elements(m->'topics') t),
          ARRAY[:t1, :t2, :t3]::bigint[],
          'anon: the outline has the published topics of the published modules, in display order');
SELECT is(affiliate_api.course_outline(:c1)->'modules'->1->>'pass_mark', '60',
          'anon: the outline shows the pass mark');
SELECT throws_ok(format('SELECT affiliate_api.course_outline(%s)', :c_draft), 'PT404',
                 format('course %s does not exist in program %s', :c_draft, :pa),
                 'anon: an unpublished course is PT404');
SELECT throws_ok(format('SELECT affiliate_api.course_outline(%s)', :cb), 'PT404', NULL,
                 'anon: B''s course does not exist for A''s token (PT404)');
SELECT throws_ok('SELECT affiliate_api.course_outline(999999999)', 'PT404', NULL,
                 'anon: an unknown course is PT404');
SELECT throws_ok(format('SELECT affiliate_api.course_outline_all(%s)', :c_draft), '42501', NULL,
                 'anon cannot call course_outline_all');
SELECT throws_ok(format('SELECT affiliate_api.enroll(%s)', :c1), '42501', NULL, 'anon cannot enroll');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :t1), '42501', NULL,
                 'anon cannot record progress');
SELECT throws_ok('SELECT * FROM affiliate_api.my_courses()', '42501', NULL, 'anon cannot call my_courses');
SELECT throws_ok('SELECT affiliate_api.create_course(''x'')', '42501', NULL, 'anon cannot create a course');
SELECT throws_ok('SELECT * FROM affiliate_api.courses', '42501', 'permission denied for view courses',
                 'anon cannot select affiliate_api.courses');
SELECT throws_ok('SELECT * FROM affiliate_api.enrollments', '42501', 'permission denied for view enrollments',
                 'anon cannot select affiliate_api.enrollments');
SELECT throws_ok('SELECT * FROM affiliate_api.topic_progress', '42501', 'permission denied for view topic_progress',
                 'anon cannot select affiliate_api.topic_progress');
SELECT throws_ok('SELECT * FROM affiliate_api.assessments', '42501', 'permission denied for view assessments',
                 'anon cannot select affiliate_api.assessments');
-- a token for B sees B's catalog; without a program claim there is none
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_anon", "program": %s}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.course_catalog()), ARRAY[:cb]::bigint[],
          'anon: a token for B lists B''s published course only');
SELECT set_config('request.jwt.claims', '{"role": "affiliate_anon"}', true) \g /dev/null
SELECT throws_ok('SELECT * FROM affiliate_api.course_catalog()', '42501', 'the request names no program',
                 'anon without a program claim: course_catalog is refused (42501, HTTP 401)');
SELECT throws_ok(format('SELECT affiliate_api.course_outline(%s)', :c1), '42501', 'the request names no program',
                 'anon without a program claim: course_outline is refused');
RESET ROLE;

-- ben (A) has studied a little, as the SQL API records it
SELECT affiliate.enroll(:pa, :ben, :c1) AS enrolled \gset
SELECT count(*) AS n FROM affiliate.record_progress(:pa, :ben, :t1, 120) \gset
SELECT count(*) AS n FROM affiliate.record_assessment(:pa, :ben, :m2, 3, 10) \gset
SELECT md5(string_agg(x::text, ',' ORDER BY x.topic_id)) AS ben_progress FROM affiliate.topic_progress x
 WHERE x.program_id = :pa AND x.member_id = :ben \gset
SELECT pg_temp.fingerprint(:pa) AS a_before \gset

-- ===========================================================================
-- affiliate_member ann (A): her own enrollment, progress, assessments
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pa), true) \g /dev/null
-- refusals first: each changes nothing
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :t1), 'PT409',
                 format('member %s is not enrolled in course %s', :ann, :c1),
                 'member: progress before enrolling is PT409 (HTTP 409)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.course_progress(%s)', :cb), 'PT404', NULL,
                 'member: course_progress of B''s course is PT404');
SELECT throws_ok(format('SELECT affiliate_api.enroll(%s)', :c_draft), 'PT409',
                 format('course %s is not published', :c_draft),
                 'member: enrolling in an unpublished course is PT409');
SELECT throws_ok(format('SELECT affiliate_api.enroll(%s)', :cb), 'PT404', NULL,
                 'member: enrolling in B''s course is PT404');
SELECT throws_ok('SELECT affiliate_api.enroll(999999999)', 'PT404', NULL, 'member: enrolling in an unknown course is PT404');
RESET ROLE;   -- (the fingerprint reads every course table: as the superuser)
SELECT is(pg_temp.fingerprint(:pa), :'a_before', 'member: the refused calls changed nothing');
SET LOCAL ROLE affiliate_member;
SELECT is(affiliate_api.enroll(:c1), true, 'member: enroll in a published course: true');
SELECT is(affiliate_api.enroll(:c1), false, 'member: enroll again: false (idempotent)');
SELECT is((SELECT row(r.watched_seconds, r.completed, r.certificate_number)::text
             FROM affiliate_api.record_progress(:t1, 100) r),
          row(100, false, NULL::text)::text, 'member: record_progress returns the stored seconds');
SELECT is((SELECT r.watched_seconds FROM affiliate_api.record_progress(:t1, 40) r), 100,
          'member: a smaller report does not rewind');
RESET ROLE;
SELECT pg_temp.fingerprint(:pa) AS a_mid \gset
SET LOCAL ROLE affiliate_member;
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :t_draft), 'PT409', NULL,
                 'member: progress on an unpublished topic is PT409');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :t4), 'PT409', NULL,
                 'member: progress on a topic of an unpublished module is PT409');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10)', :tb), 'PT404', NULL,
                 'member: progress on B''s topic is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, -1)', :t1), '22023', NULL,
                 'member: negative watched seconds are 22023');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_assessment(%s, 1, 1)', :m1), 'PT409', NULL,
                 'member: an assessment on a module without a pass mark is PT409');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_assessment(%s, 11, 10)', :m2), '22023', NULL,
                 'member: a score over max_score is 22023');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_assessment(%s, 1, 0)', :m2), '22023', NULL,
                 'member: max_score 0 is 22023');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_assessment(%s, 5, 10)', :mb), 'PT404', NULL,
                 'member: an assessment on B''s module is PT404');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_assessment(%s, 5, 10)', :m_draft), 'PT409', NULL,
                 'member: an assessment on an unpublished module is PT409');
RESET ROLE;
SELECT is(pg_temp.fingerprint(:pa), :'a_mid', 'member: the refused progress and assessments changed nothing');
SET LOCAL ROLE affiliate_member;
-- another member's rows: there is no argument to name them, and the engine
-- functions and the admin's are not granted
SELECT throws_ok(format('SELECT * FROM affiliate.record_progress(%s, %s, %s, 9999, true)', :pa, :ben, :t1),
                 '42501', NULL, 'member cannot call affiliate.record_progress (to write ben''s progress)');
SELECT throws_ok(format('SELECT * FROM affiliate.course_progress(%s, %s, %s)', :pa, :ben, :c1),
                 '42501', NULL, 'member cannot call affiliate.course_progress (to read ben''s)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.member_course_progress(%s, %s)', :ben, :c1), '42501',
                 'permission denied for function member_course_progress',
                 'member cannot call the admin''s member_course_progress');
SELECT throws_ok(format('SELECT affiliate_api.add_module(%s, %L)', :c1, 'Mine'), '42501', NULL,
                 'member cannot add a module');
SELECT throws_ok(format('SELECT affiliate_api.set_published(%L, %s, true)', 'course', :c_draft), '42501', NULL,
                 'member cannot publish a course');
SELECT throws_ok(format('SELECT affiliate_api.course_outline_all(%s)', :c_draft), '42501', NULL,
                 'member cannot read an unpublished outline');
-- her views: her rows only
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.courses), ARRAY[:c1]::bigint[],
          'member view courses: A''s published course only');
SELECT is(ARRAY(SELECT row(member_id, course_id)::text FROM affiliate_api.enrollments),
          ARRAY[row(:ann, :c1)::text], 'member view enrollments: her own (not ben''s, not xena''s in B)');
SELECT is(ARRAY(SELECT row(member_id, topic_id, watched_seconds)::text FROM affiliate_api.topic_progress),
          ARRAY[row(:ann, :t1, 100)::text], 'member view topic_progress: her own');
SELECT is((SELECT count(*) FROM affiliate_api.assessments), 0::bigint,
          'member view assessments: none of ben''s');
SELECT is((SELECT count(*) FROM affiliate.enrollment WHERE member_id <> :ann OR program_id <> :pa), 0::bigint,
          'member table enrollment: nobody else''s row');
SELECT is((SELECT count(*) FROM affiliate.course WHERE NOT published OR program_id <> :pa), 0::bigint,
          'member table course: no unpublished course, none of B''s');
SELECT throws_ok('SELECT * FROM affiliate.course_module', '42501', NULL, 'member cannot select affiliate.course_module');
SELECT throws_ok('SELECT * FROM affiliate.topic', '42501', NULL, 'member cannot select affiliate.topic');
-- she completes the course: every published topic and a passed assessment
SELECT is((SELECT row(topics_done, topics_total, percent, assessments_passed, assessments_required, completed)::text
             FROM affiliate_api.course_progress(:c1)),
          row(0, 3, 0.00, 0, 1, false)::text, 'member: course_progress before completing anything');
SELECT is((SELECT r.passed FROM affiliate_api.record_assessment(:m2, 5, 10) r), false,
          'member: 5 of 10 fails a pass mark of 60');
SELECT is((SELECT r.completed FROM affiliate_api.record_progress(:t1, 300, true) r), true,
          'member: topic 1 completed');
SELECT is((SELECT r.completed FROM affiliate_api.record_progress(:t2, 240, true) r), true,
          'member: topic 2 completed');
SELECT is((SELECT row(topics_done, topics_total, percent, completed)::text FROM affiliate_api.course_progress(:c1)),
          row(2, 3, 66.67, false)::text, 'member: two of three topics');
SELECT is((SELECT r.completed FROM affiliate_api.record_progress(:t3, 420, true) r), true,
          'member: topic 3 completed');
SELECT is((SELECT row(topics_done, assessments_passed, completed)::text FROM affiliate_api.course_progress(:c1)),
          row(3, 0, false)::text, 'member: every topic done, the assessment not yet passed: not complete');
SELECT is((SELECT r.passed FROM affiliate_api.record_assessment(:m2, 6, 10) r), true,
          'member: 6 of 10 passes a pass mark of 60');
SELECT is((SELECT row(topics_done, topics_total, percent, assessments_passed, assessments_required, completed)::text
             FROM affiliate_api.course_progress(:c1)),
          row(3, 3, 100.00, 1, 1, true)::text, 'member: the course is complete');
SELECT is((SELECT row(course_id, title, percent, completed)::text FROM affiliate_api.my_courses()),
          row(:c1, 'Mobile video basics', 100.00, true)::text, 'member: my_courses lists it, complete');
-- (\gset unsets a variable for NULL)
SELECT coalesce(certificate_number, '(none)') AS ann_certificate FROM affiliate_api.course_progress(:c1) \gset
SELECT is((SELECT count(*) FROM affiliate_api.assessments), 2::bigint,
          'member view assessments: her two attempts');
RESET ROLE;
SELECT is(:'ann_certificate', coalesce(pg_temp.certificate_for(:pa, :ann, :c1), '(none)'),
          'member: course_progress names her certificate for the course (NULL while there are no certificates)');
SELECT is((SELECT md5(string_agg(x::text, ',' ORDER BY x.topic_id)) FROM affiliate.topic_progress x
            WHERE x.program_id = :pa AND x.member_id = :ben),
          :'ben_progress', 'ben''s progress is unchanged by everything ann did');
SELECT is((SELECT count(*) FROM affiliate.audit_log WHERE program_id = :pa AND actor = 'tg:1'), 0::bigint,
          'member: studying writes no audit row (only admin steps are audited)');

-- ===========================================================================
-- ben and xena: their own views; a sub that is no member
-- ===========================================================================
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:2"}', :pa), true) \g /dev/null
SELECT is((SELECT row(topics_done, assessments_passed, completed)::text FROM affiliate_api.course_progress(:c1)),
          row(0, 0, false)::text, 'member ben: his own progress (not ann''s)');
SELECT is(ARRAY(SELECT topic_id FROM affiliate_api.topic_progress), ARRAY[:t1]::bigint[],
          'member ben: view topic_progress shows his one topic');
SELECT is(ARRAY(SELECT row(score, passed)::text FROM affiliate_api.assessments), ARRAY[row(3, false)::text],
          'member ben: view assessments shows his one attempt');
-- xena: a member of B with ann's external id
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:1"}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.my_courses()), ARRAY[:cb]::bigint[],
          'member xena (B, same sub as ann): my_courses is her B course only');
SELECT is(ARRAY(SELECT row(member_id, course_id)::text FROM affiliate_api.enrollments),
          ARRAY[row(:xena, :cb)::text], 'member xena: view enrollments is her own in B');
SELECT throws_ok(format('SELECT * FROM affiliate_api.course_progress(%s)', :c1), 'PT404', NULL,
                 'member xena: A''s course does not exist in B (PT404)');
SELECT throws_ok(format('SELECT * FROM affiliate_api.record_progress(%s, 10, true)', :t1), 'PT404', NULL,
                 'member xena: A''s topic does not exist in B (PT404)');
-- a sub that is no member of A
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "tg:404"}', :pa), true) \g /dev/null
SELECT throws_ok(format('SELECT affiliate_api.enroll(%s)', :c1), '42501',
                 format('the caller is not a member of program %s', :pa),
                 'member: a sub that is no member cannot enroll (42501)');
SELECT throws_ok('SELECT * FROM affiliate_api.courses', '42501', NULL,
                 'member: a sub that is no member reads no courses view (42501)');
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.course_catalog()), ARRAY[:c1]::bigint[],
          'member: ... but the public catalog, like anon');
RESET ROLE;

-- ===========================================================================
-- the admin of A reads A's study rows, the admin of B B's
-- ===========================================================================
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:priya"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT row(member_id, course_id)::text FROM affiliate_api.enrollments ORDER BY member_id),
          ARRAY[row(:ann, :c1)::text, row(:ben, :c1)::text], 'admin of A view enrollments: A''s (ann, ben), not xena''s');
SELECT is((SELECT count(*) FROM affiliate_api.topic_progress), 4::bigint,
          'admin of A view topic_progress: ann''s three topics and ben''s one');
SELECT is((SELECT count(*) FROM affiliate_api.assessments), 3::bigint, 'admin of A view assessments: A''s three attempts');
SELECT is((SELECT row(topics_done, completed)::text FROM affiliate_api.member_course_progress(:ann, :c1)),
          row(3, true)::text, 'admin of A: member_course_progress of ann');
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin:bruno"}', :pb), true) \g /dev/null
SELECT is(ARRAY(SELECT course_id FROM affiliate_api.courses), ARRAY[:cb]::bigint[], 'admin of B view courses: B''s only');
SELECT is(ARRAY(SELECT member_id FROM affiliate_api.topic_progress), ARRAY[:xena]::bigint[],
          'admin of B view topic_progress: xena''s only');
SELECT throws_ok(format('SELECT affiliate_api.set_published(%L, %s, false)', 'course', :c1), 'PT404', NULL,
                 'admin of B cannot unpublish A''s course (PT404)');
RESET ROLE;
SELECT is((SELECT published FROM affiliate.course WHERE program_id = :pa AND id = :c1), true,
          'A''s course is still published');

SELECT is_empty('SELECT * FROM affiliate.verify()', 'verify() is empty after everything');

SELECT * FROM finish();
ROLLBACK;
