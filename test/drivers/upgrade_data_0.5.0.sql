-- Data written with the 0.5.0 API (test/drivers/upgrade_data.sh): the 0.4.0
-- data set, then what 0.5.0 added: a published course of one module and
-- two topics, two members enrolled, one of whom completes it and is issued a
-- certificate, the other half way.
\set ON_ERROR_STOP 1
\ir upgrade_data_0.4.0.sql

SELECT affiliate.create_course(:p1, 'Selling with referrals', 'How the programme pays.', 0, true) AS course \gset
SELECT affiliate.add_module(:p1, :course, 'Basics', NULL, 0, true) AS module \gset
SELECT affiliate.add_topic(:p1, :module, 'Your code', 'youtube', 'Xq1b2c3d4e5', 300, NULL, 0, true) AS topic1 \gset
SELECT affiliate.add_topic(:p1, :module, 'Payouts', 'url', 'https://example.com/payouts.mp4', 200, NULL, 1, true) AS topic2 \gset
SELECT affiliate.enroll(:p1, 1, :course) AS enrolled;
SELECT affiliate.enroll(:p1, 2, :course) AS enrolled;
SELECT completed, certificate_number IS NOT NULL AS certified FROM affiliate.record_progress(:p1, 1, :topic1, 300, true);
SELECT completed, certificate_number IS NOT NULL AS certified FROM affiliate.record_progress(:p1, 1, :topic2, 200, true);
SELECT watched_seconds FROM affiliate.record_progress(:p1, 2, :topic1, 120);
SELECT count(*) = 1 AS one_certificate FROM affiliate.certificate WHERE program_id = :p1 AND course_id = :course \gset
\if :one_certificate
\else
\echo 'the 0.5.0 data set should hold a certificate'
SELECT 1/0;
\endif
