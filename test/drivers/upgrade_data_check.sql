-- Before and after the update (test/drivers/upgrade_data.sh): every row of
-- every table and view of schema affiliate, as the columns it had before
-- the update, plus every account's balance_at at the middle journal's time.
-- psql -v before=true: record them in upgrade_check.snap;
-- psql -v before=false: print every recorded row the database no longer
-- has (nothing: the update kept the old data as it was), then a count of
-- the rows each table gained (the 0.2.0 update adds the legacy members).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\if :before
DROP SCHEMA IF EXISTS upgrade_check CASCADE;
CREATE SCHEMA upgrade_check;
CREATE TABLE upgrade_check.snap (rel text, cols text, line text);
DO $$
DECLARE
    r record;
    mid timestamptz;
BEGIN
    FOR r IN
        SELECT c.oid::regclass::text AS rel,
               string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
          FROM pg_class c
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relnamespace = 'affiliate'::regnamespace AND c.relkind IN ('r', 'v')
         GROUP BY c.oid
    LOOP
        EXECUTE format('INSERT INTO upgrade_check.snap SELECT %L, %L, t::text FROM (SELECT %s FROM %s) t',
                       r.rel, r.cols, r.cols, r.rel);
    END LOOP;
    SELECT j.posted_at INTO mid FROM affiliate.journal j
     ORDER BY j.program_id, j.id OFFSET (SELECT count(*) / 2 FROM affiliate.journal) LIMIT 1;
    INSERT INTO upgrade_check.snap
    SELECT 'balance_at', '', format('%s %s %s %s', mid, a.program_id, a.id,
                                    affiliate.balance_at(a.program_id, a.id, mid))
      FROM affiliate.account a;
    -- the midpoint, for the second run
    INSERT INTO upgrade_check.snap VALUES ('midpoint', '', mid::text);
END
$$;
SELECT format('recorded %s rows of %s relations', count(*), count(DISTINCT rel)) FROM upgrade_check.snap;
\else
CREATE TEMP TABLE now_rows (rel text, line text);
DO $$
DECLARE
    r record;
    mid timestamptz := (SELECT line::timestamptz FROM upgrade_check.snap WHERE rel = 'midpoint');
BEGIN
    FOR r IN SELECT DISTINCT rel, cols FROM upgrade_check.snap WHERE rel NOT IN ('balance_at', 'midpoint') LOOP
        EXECUTE format('INSERT INTO now_rows SELECT %L, t::text FROM (SELECT %s FROM %s) t', r.rel, r.cols, r.rel);
    END LOOP;
    INSERT INTO now_rows
    SELECT 'balance_at', format('%s %s %s %s', mid, s.program_id, s.id,
                                affiliate.balance_at(s.program_id, s.id, mid))
      FROM (SELECT split_part(line, ' ', 3)::bigint AS program_id, split_part(line, ' ', 4)::bigint AS id
              FROM upgrade_check.snap WHERE rel = 'balance_at') s;
END
$$;
SELECT 'missing or changed: ' || rel || ' ' || line
  FROM (SELECT rel, line FROM upgrade_check.snap WHERE rel <> 'midpoint'
        EXCEPT ALL SELECT rel, line FROM now_rows) m
 ORDER BY 1 LIMIT 20;
SELECT format('gained: %s %s rows', rel, count(*))
  FROM (SELECT rel, line FROM now_rows EXCEPT ALL SELECT rel, line FROM upgrade_check.snap) g
 GROUP BY rel ORDER BY rel;
DROP SCHEMA upgrade_check CASCADE;
\endif
