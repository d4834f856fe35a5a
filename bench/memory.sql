-- make bench: this backend's anonymous memory (RssAnon, kB) before and after
-- :n conversions through record_conversion in this one session (after a
-- warm-up of 10 000, so plans and caches are already in).  Prints
-- "before N", "after N", "seconds S".
CREATE FUNCTION pg_temp.rss_anon() RETURNS bigint LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'RssAnon:\s+(\d+)')::bigint
$$;
CALL bench.convert_many('memwarm-', 10000, 2, :members);
SELECT 'before ' || pg_temp.rss_anon();
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
CALL bench.convert_many('mem-', :n, 2, :members);
SELECT 'after ' || pg_temp.rss_anon();
SELECT 'seconds ' || round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1);
