-- Courses: course -> module -> topic in display order (ties by id) with
-- published flags; video references validated per source; enrollment
-- (idempotent, published courses only); progress that only grows (watched
-- seconds are the largest reported, completion is sticky) on published
-- topics of enrolled courses; assessments on modules with a pass mark
-- (score * 100 >= pass_mark * max_score, every attempt kept); a course's
-- figures and its completion rule; the admin steps are audited; every bad
-- input is refused with its SQLSTATE and changes nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a course call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.course c) AS courses,
       (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY m.program_id, m.id), '')) FROM affiliate.course_module m) AS modules,
       (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.program_id, t.id), '')) FROM affiliate.topic t) AS topics,
       (SELECT md5(coalesce(string_agg(e::text, ',' ORDER BY e.program_id, e.member_id, e.course_id), ''))
          FROM affiliate.enrollment e) AS enrollments,
       (SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY p.program_id, p.member_id, p.topic_id), ''))
          FROM affiliate.topic_progress p) AS progress,
       (SELECT md5(coalesce(string_agg(a::text, ',' ORDER BY a.program_id, a.id), '')) FROM affiliate.assessment a) AS assessments;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
-- \set unchanged: after refused calls, compare with the saved fingerprint
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'

SELECT affiliate.create_program('Academy', 'INR') AS p \gset
SELECT affiliate.create_program('Other academy', 'INR') AS q \gset
SELECT affiliate.add_member(:p, 'ann') AS ann \gset
SELECT affiliate.add_member(:p, 'ben') AS ben \gset
SELECT affiliate.add_member(:q, 'quinn') AS quinn \gset
:save

-- ---------------------------------------------------------------------------
-- Structure.  SQL basics: modules 'Joins' (order 2), 'Select' (order 1), two
-- at order 3 (ties by id: 'Groups' before 'Windows'), 'Drafts' unpublished
-- (order 0).  Topics in 'Select': order 2, order 1, a tie at order 5 and an
-- unpublished one at order 0.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_course(:p, 'SQL basics', 'From SELECT to window functions.', 10, true) AS c1 \gset
SELECT affiliate.add_module(:p, :c1, 'Joins', NULL, 2, true) AS m_joins \gset
SELECT affiliate.add_module(:p, :c1, 'Select', 'The first query.', 1, true) AS m_select \gset
SELECT affiliate.add_module(:p, :c1, 'Groups', NULL, 3, true, 70) AS m_groups \gset
SELECT affiliate.add_module(:p, :c1, 'Windows', NULL, 3, true) AS m_windows \gset
SELECT affiliate.add_module(:p, :c1, 'Drafts', NULL, 0, false) AS m_drafts \gset
SELECT affiliate.add_topic(:p, :m_select, 'Columns', 'youtube', 'dQw4w9WgXcQ', 300, NULL, 2, true) AS t_columns \gset
SELECT affiliate.add_topic(:p, :m_select, 'Hello', 'vimeo', '76979871', 120, 'Say hello.', 1, true) AS t_hello \gset
SELECT affiliate.add_topic(:p, :m_select, 'Where', 'cloudinary', 'sql/basics/where.mp4', 240, NULL, 5, true) AS t_where \gset
SELECT affiliate.add_topic(:p, :m_select, 'Order by', 'url', 'https://cdn.example.com/sql/order-by.mp4', 200, NULL, 5, true) AS t_order \gset
SELECT affiliate.add_topic(:p, :m_select, 'Draft topic', 'youtube', 'aaaaaaaaaaa', 10, NULL, 0, false) AS t_draft \gset
SELECT affiliate.add_topic(:p, :m_joins, 'Inner join', 'youtube', 'bbbbbbbbbbb', 400, NULL, 0, true) AS t_inner \gset
SELECT affiliate.add_topic(:p, :m_groups, 'Group by', 'vimeo', '1', 100, NULL, 0, true) AS t_group \gset
SELECT affiliate.add_topic(:p, :m_drafts, 'In a draft module', 'vimeo', '2', 100, NULL, 0, true) AS t_in_draft \gset
-- 'Windows' has no topic yet

-- every admin step wrote one audit row naming its actor (the database role)
SELECT action, actor, detail - 'course_id' - 'module_id' - 'topic_id' AS detail
  FROM affiliate.audit_log WHERE program_id = :p ORDER BY id;
SELECT count(*) AS audits_with_ids FROM affiliate.audit_log
 WHERE program_id = :p AND (detail->>'course_id')::bigint = :c1;

-- the outline: display order, ties by id, unpublished parts left out
SELECT jsonb_pretty(affiliate.course_outline(:p, :c1));
-- with the unpublished parts: 'Drafts' first (order 0), 'Draft topic' first in 'Select'
SELECT m->>'title' AS module, (SELECT string_agg(t->>'title', ', ' ORDER BY o)
                                 FROM jsonb_array_elements(m->'topics') WITH ORDINALITY x(t, o)) AS topics
  FROM jsonb_array_elements(affiliate.course_outline(:p, :c1, true)->'modules') WITH ORDINALITY y(m, n)
 ORDER BY n;

-- an unpublished course: NULL unless asked; an empty course has no modules
SELECT affiliate.create_course(:p, 'Advanced SQL') AS c2 \gset
SELECT affiliate.course_outline(:p, :c2) IS NULL AS left_out;
SELECT affiliate.course_outline(:p, :c2, true);
-- unknown course, a course of another program, NULL arguments
:save
SELECT affiliate.course_outline(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.course_outline(:q, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.course_outline(999999, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.course_outline(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.course_outline(:p, :c1, NULL);
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- Bad structure inputs: each refused, nothing changed.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_course(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, '   ');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, repeat('x', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, 'ok', '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, 'ok', repeat('d', 10001));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, 'ok', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(:p, 'ok', NULL, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(NULL, 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.create_course(999999, 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, 999999, 'm');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:q, :c1, 'm');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, NULL, 'm');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, :c1, 'm', NULL, 0, false, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, :c1, 'm', NULL, 0, false, 101);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, :c1, 'm', NULL, 0, false, -5);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_module(:p, :c1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, 999999, 't', 'youtube', 'dQw4w9WgXcQ');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:q, :m_select, 't', 'youtube', 'dQw4w9WgXcQ');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', 'youtube', 'dQw4w9WgXcQ', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', 'youtube', 'dQw4w9WgXcQ', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', NULL, 'dQw4w9WgXcQ');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', 'youtube', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', 'dailymotion', 'x7tgad0');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_topic(:p, :m_select, 't', 'youtube', 'dQw4w9WgXcQ', 0, NULL, 0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_published(:p, 'lesson', :c1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_published(:p, 'course', 999999, true);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_published(:q, 'topic', :t_hello, false);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_published(:p, 'module', :m_drafts, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_published(:p, NULL, :m_drafts, true);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---------------------------------------------------------------------------
-- video_ref per source: every good one is accepted, every bad one refused
-- with 22023 (in a course of its own).
-- ---------------------------------------------------------------------------
SELECT affiliate.create_course(:q, 'Videos') AS cv \gset
SELECT affiliate.add_module(:q, :cv, 'All sources') AS mv \gset
CREATE FUNCTION pg_temp.try_topic(program bigint, module bigint, source text, ref text) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM affiliate.add_topic(program, module, 'v', source, ref);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN 'refused ' || SQLSTATE;
END
$$;
SELECT source, label, pg_temp.try_topic(:q, :mv, source, ref) AS result
  FROM (VALUES
    ('youtube', 'an 11-character id', 'dQw4w9WgXcQ'),
    ('youtube', 'with - and _', 'a-b_c-d_e-f'),
    ('youtube', '10 characters', 'dQw4w9WgXc'),
    ('youtube', '12 characters', 'dQw4w9WgXcQQ'),
    ('youtube', 'with =', 'dQw4w9WgXc='),
    ('youtube', 'a watch URL', 'https://www.youtube.com/watch?v=dQw4w9WgXcQ'),
    ('youtube', 'a non-ASCII letter', 'dQw4w9WgXcé'),
    ('youtube', 'empty', ''),
    ('vimeo', 'one digit', '1'),
    ('vimeo', '12 digits', '123456789012'),
    ('vimeo', '13 digits', '1234567890123'),
    ('vimeo', 'a letter', '7697987a'),
    ('vimeo', 'negative', '-76979871'),
    ('vimeo', 'empty', ''),
    ('cloudinary', 'a path', 'sql/basics/where.mp4'),
    ('cloudinary', 'one character', 'a'),
    ('cloudinary', '255 characters', repeat('c', 255)),
    ('cloudinary', '256 characters', repeat('c', 256)),
    ('cloudinary', 'a leading /', '/sql/where'),
    ('cloudinary', '..', 'sql/../secret'),
    ('cloudinary', '.. inside a name', 'sql/where..mp4'),
    ('cloudinary', 'a space', 'sql/where clause'),
    ('cloudinary', 'a query string', 'sql/where?x=1'),
    ('cloudinary', 'empty', ''),
    ('url', 'https', 'https://cdn.example.com/v.mp4?sig=abc'),
    ('url', 'http', 'http://example.com/v'),
    ('url', 'non-ASCII', 'https://例え.jp/動画.mp4'),
    ('url', '2000 characters after https://', 'https://' || repeat('u', 2000)),
    ('url', '2001 characters after https://', 'https://' || repeat('u', 2001)),
    ('url', '2000 non-ASCII characters after https://', 'https://' || repeat('é', 2000)),
    ('url', 'nothing after https://', 'https://'),
    ('url', 'ftp', 'ftp://example.com/v.mp4'),
    ('url', 'no scheme', 'example.com/v.mp4'),
    ('url', 'upper-case scheme', 'HTTPS://example.com/v.mp4'),
    ('url', 'javascript', 'javascript:alert(1)'),
    ('url', 'a space', 'https://example.com/my video.mp4'),
    ('url', 'a tab', E'https://example.com/v\t.mp4'),
    ('url', 'a newline', E'https://example.com/v.mp4\nX-Header: 1'),
    ('url', 'DEL', 'https://example.com/v' || chr(127)),
    ('url', 'a no-break space', 'https://example.com/v' || chr(160) || '.mp4'),
    ('url', 'an ideographic space', 'https://example.com/v' || chr(12288) || '.mp4'),
    ('url', 'a C1 control', 'https://example.com/v' || chr(133)),
    ('url', 'a line separator', 'https://example.com/v' || chr(8232))
  ) v(source, label, ref)
 ORDER BY source, label;
-- the accepted ones were stored as given
SELECT video_source, left(video_ref, 40) AS video_ref, length(video_ref)
  FROM affiliate.topic WHERE program_id = :q ORDER BY id;
:save

-- ---------------------------------------------------------------------------
-- Enrollment: published courses only; idempotent; refusals change nothing.
-- ---------------------------------------------------------------------------
SELECT affiliate.enroll(:p, :ann, :c2);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(:p, 999999, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(:p, :quinn, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(:p, :ann, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(:q, :quinn, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(:p, NULL, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.enroll(999999, :ann, :c1);
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT affiliate.enroll(:p, :ann, :c1) AS newly_enrolled;
SELECT affiliate.enroll(:p, :ann, :c1) AS newly_enrolled_again;
SELECT count(*) AS enrollments FROM affiliate.enrollment WHERE program_id = :p AND member_id = :ann;
SELECT enrolled_at = last_activity_at AS untouched FROM affiliate.enrollment WHERE program_id = :p AND member_id = :ann;
-- enrolling is no admin step: no audit row
SELECT count(*) AS enroll_audits FROM affiliate.audit_log WHERE action = 'enroll';
:save

-- ---------------------------------------------------------------------------
-- Progress: refusals first; none changes anything (not even last_activity_at).
-- ---------------------------------------------------------------------------
SELECT * FROM affiliate.record_progress(:p, :ben, :t_hello, 10);       -- ben is not enrolled
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, :t_draft, 10);       -- unpublished topic
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, :t_in_draft, 10);    -- published topic, unpublished module
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 10, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :ann, 999999, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, 999999, :t_hello, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:q, :quinn, :t_hello, 10);     -- a topic of another program
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_progress(:p, :quinn, :t_hello, 10);     -- a member of another program
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- watched seconds only grow; completion is sticky
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 60);
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 30);        -- a late, smaller report
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 120, true);
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 5, false);  -- no rewind, still completed
SELECT * FROM affiliate.record_progress(:p, :ann, :t_hello, 0);
SELECT watched_seconds, completed_at IS NOT NULL AS completed, course_id = :c1 AS course
  FROM affiliate.topic_progress WHERE program_id = :p AND member_id = :ann AND topic_id = :t_hello;
-- completed_at is when it was first completed: later reports keep it
SELECT completed_at < updated_at AS first_completion_kept
  FROM affiliate.topic_progress WHERE program_id = :p AND member_id = :ann AND topic_id = :t_hello;
-- the call locked and updated the enrollment
SELECT last_activity_at > enrolled_at AS activity_recorded
  FROM affiliate.enrollment WHERE program_id = :p AND member_id = :ann AND course_id = :c1;
-- completed without watching anything is allowed (the caller decides)
SELECT * FROM affiliate.record_progress(:p, :ann, :t_columns, 0, true);

-- the course's figures: 6 published topics in published modules (Select 4,
-- Joins 1, Groups 1; Windows none); the draft topic and the draft module's
-- topic do not count; Groups needs an assessment
SELECT topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
       certificate_number = (SELECT number FROM affiliate.certificate WHERE program_id = :p AND member_id = :ann AND course_id = :c1) AS certified
  FROM affiliate.course_progress(:p, :ann, :c1);
SELECT * FROM affiliate.course_progress(:p, :ben, :c1);                 -- not enrolled: nothing done
SELECT * FROM affiliate.course_progress(:p, :ann, :c2);                 -- no published topic
SELECT * FROM affiliate.course_progress(:p, :ann, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.course_progress(:p, 999999, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.course_progress(:q, :quinn, :c1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.course_progress(:p, NULL, :c1);
\echo :LAST_ERROR_SQLSTATE

-- unpublishing the course stops progress (55000) and changes nothing
SELECT affiliate.set_published(:p, 'course', :c1, false);
:save
SELECT * FROM affiliate.record_progress(:p, :ann, :t_where, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 10, 10);
\echo :LAST_ERROR_SQLSTATE
-- already enrolled: enrolling again is still a no-op, not an error
SELECT affiliate.enroll(:p, :ann, :c1) AS newly_enrolled;
:unchanged
SELECT affiliate.set_published(:p, 'course', :c1, true);

-- ---------------------------------------------------------------------------
-- Assessments: Groups has pass mark 70.
-- ---------------------------------------------------------------------------
:save
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 7, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 0, -10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 11, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, -1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 5, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_select, 5, 10);   -- no pass mark
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ann, 999999, 5, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_groups, 5, 10);   -- not enrolled
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:p, 999999, :m_groups, 5, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.record_assessment(:q, :quinn, :m_groups, 5, 10);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- 69 % fails, 70 % passes (7 * 100 >= 70 * 10), attempts are kept
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 69, 100);
SELECT assessments_passed, assessments_required FROM affiliate.course_progress(:p, :ann, :c1);
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 7, 10);
SELECT * FROM affiliate.record_assessment(:p, :ann, :m_groups, 0, 10);   -- a later failure does not undo the pass
SELECT score, max_score, passed FROM affiliate.assessment WHERE program_id = :p AND member_id = :ann ORDER BY id;
SELECT assessments_passed, assessments_required FROM affiliate.course_progress(:p, :ann, :c1);

-- the pass mark in 64 bits: scores near the integer limit on a 100 % module
SELECT affiliate.add_module(:p, :c2, 'Final exam', NULL, 0, true, 100) AS m_final \gset
SELECT affiliate.set_published(:p, 'course', :c2, true);
SELECT affiliate.enroll(:p, :ben, :c2) AS ben_enrolled;
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_final, 2147483647, 2147483647);
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_final, 2147483646, 2147483647);
SELECT affiliate.add_module(:p, :c2, 'Quiz', NULL, 0, true, 1) AS m_quiz \gset
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_quiz, 21474836, 2147483647);  -- 0.99999 %
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_quiz, 21474837, 2147483647);  -- 1.0000000 %
-- a course whose only published modules have no published topic is never complete
SELECT * FROM affiliate.course_progress(:p, :ben, :c2);
-- an unpublished module: 55000
SELECT affiliate.set_published(:p, 'module', :m_quiz, false);
SELECT * FROM affiliate.record_assessment(:p, :ben, :m_quiz, 1, 1);
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- Completing SQL basics: the remaining published topics.  Percent is
-- rounded to 2 places.
-- ---------------------------------------------------------------------------
SELECT * FROM affiliate.record_progress(:p, :ann, :t_where, 240, true);
SELECT topics_done, topics_total, percent FROM affiliate.course_progress(:p, :ann, :c1);
SELECT * FROM affiliate.record_progress(:p, :ann, :t_order, 200, true);
SELECT * FROM affiliate.record_progress(:p, :ann, :t_inner, 400, true);
SELECT topics_done, topics_total, percent, completed FROM affiliate.course_progress(:p, :ann, :c1);
SELECT watched_seconds, completed, certificate_number IS NOT NULL AS certified, certificate_number AS cert_number
  FROM affiliate.record_progress(:p, :ann, :t_group, 100, true) \gset
\echo :watched_seconds :completed :certified
SELECT number = :'cert_number' AS the_issued_certificate FROM affiliate.certificate WHERE program_id = :p AND member_id = :ann AND course_id = :c1;
SELECT topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
       certificate_number = (SELECT number FROM affiliate.certificate WHERE program_id = :p AND member_id = :ann AND course_id = :c1) AS certified
  FROM affiliate.course_progress(:p, :ann, :c1);
-- a new published topic later: not complete until it is done too
SELECT affiliate.add_topic(:p, :m_windows, 'Over', 'youtube', 'ccccccccccc', 300, NULL, 0, true) AS t_over \gset
SELECT topics_done, topics_total, percent, completed FROM affiliate.course_progress(:p, :ann, :c1);
-- unpublishing it (or its module) makes the course complete again
SELECT affiliate.set_published(:p, 'module', :m_windows, false);
SELECT topics_done, topics_total, percent, completed FROM affiliate.course_progress(:p, :ann, :c1);
SELECT affiliate.set_published(:p, 'module', :m_windows, true);
SELECT watched_seconds, completed, certificate_number IS NOT NULL AS certified, certificate_number AS cert_number
  FROM affiliate.record_progress(:p, :ann, :t_over, 300, true) \gset
\echo :watched_seconds :completed :certified
SELECT number = :'cert_number' AS the_issued_certificate FROM affiliate.certificate WHERE program_id = :p AND member_id = :ann AND course_id = :c1;
SELECT topics_done, topics_total, percent, completed FROM affiliate.course_progress(:p, :ann, :c1);

-- the publishing steps were audited with old and new flags
SELECT detail->>'kind' AS kind, detail->>'old_published' AS old, detail->>'new_published' AS new
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_published' ORDER BY id;

-- ---------------------------------------------------------------------------
-- Roles: the operator calls the functions and reads the tables; the HTTP
-- roles call none of them (they go through affiliate_api, whose views read
-- the tables under row-level security: test/pgtap/courses_api.sql).
-- ---------------------------------------------------------------------------
BEGIN;
SET LOCAL ROLE affiliate_operator;
SELECT affiliate.create_course(:p, 'By the operator') > 0 AS created;
SELECT actor, db_role FROM affiliate.audit_log WHERE program_id = :p ORDER BY id DESC LIMIT 1;
SELECT count(*) > 0 AS reads_progress FROM affiliate.topic_progress;
SELECT topics_done FROM affiliate.course_progress(:p, :ann, :c1);
ROLLBACK;
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT affiliate.enroll(:p, :ann, :c1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL ROLE affiliate_admin;
SELECT affiliate.create_course(:p, 'By the HTTP admin');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

SELECT * FROM affiliate.verify();
