-- The fingerprint of a pg_affiliate database (test/drivers/backup_restore.sh):
-- one line per fact, equal for two databases holding the same data.
--   table     every table of schema affiliate: rows and an md5 of all of
--             them (row text, sorted), and whether pg_dump dumps it
--   sequence  every sequence of schema affiliate: its position
--   balance   every account's current balance (stored + unfolded)
--   balance_at every account's balance at the time of the middle journal
--             (checkpoint + bounded scan)
--   wallet    every member's balance() per asset
--   verify    every broken invariant (none expected)
-- Tables added by later versions are picked up without changes here.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;
SET TimeZone = 'UTC';

CREATE FUNCTION pg_temp.fingerprint() RETURNS SETOF text
    LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n bigint;
    h text;
    mid timestamptz;
BEGIN
    RETURN QUERY
        SELECT format('extension %s %s', e.extname, e.extversion)
          FROM pg_extension e WHERE e.extname = 'pg_affiliate';
    FOR r IN
        SELECT c.oid::regclass AS rel,
               c.oid = ANY (coalesce((SELECT e.extconfig FROM pg_extension e
                                       WHERE e.extname = 'pg_affiliate'), '{}')) AS dumped
          FROM pg_class c
         WHERE c.relnamespace = 'affiliate'::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text COLLATE "C"), ''''))
                          FROM %s t', r.rel)
           INTO n, h;
        RETURN NEXT format('table %s rows %s md5 %s%s', r.rel, n, h,
                           CASE WHEN r.dumped THEN '' ELSE ' (not registered for pg_dump)' END);
    END LOOP;
    RETURN QUERY
        SELECT format('sequence %s.%s last_value %s', s.schemaname, s.sequencename,
                      coalesce(s.last_value::text, 'not called'))
          FROM pg_sequences s WHERE s.schemaname = 'affiliate'
         ORDER BY s.sequencename;
    RETURN QUERY
        SELECT format('balance program %s account %s member %s %s %s: %s', b.program_id, b.account_id,
                      coalesce(b.member_id::text, '-'), b.asset, b.kind, b.balance)
          FROM affiliate.account_balances b ORDER BY b.program_id, b.account_id;
    SELECT j.posted_at INTO mid FROM affiliate.journal j
     ORDER BY j.program_id, j.id OFFSET (SELECT count(*) / 2 FROM affiliate.journal) LIMIT 1;
    IF mid IS NOT NULL THEN
        RETURN QUERY
            SELECT format('balance_at %s program %s account %s: %s', mid, a.program_id, a.id,
                          affiliate.balance_at(a.program_id, a.id, mid))
              FROM affiliate.account a ORDER BY a.program_id, a.id;
    END IF;
    RETURN QUERY
        SELECT format('wallet program %s member %s %s: pending %s available %s withdrawing %s',
                      m.program_id, m.id, w.asset, w.pending, w.available, w.withdrawing)
          FROM affiliate.member m CROSS JOIN LATERAL affiliate.balance(m.program_id, m.id) w
         ORDER BY m.program_id, m.id, w.asset;
    RETURN QUERY
        SELECT format('verify %s: %s', v.invariant, v.detail) FROM affiliate.verify() v ORDER BY 1;
END
$$;
SELECT * FROM pg_temp.fingerprint();
