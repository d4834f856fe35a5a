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

-- ---------------------------------------------------------------------------
-- Signing keys and certificates (src/certificate.c)
-- ---------------------------------------------------------------------------
