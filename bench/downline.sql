-- make bench: affiliate.team_size of the root (the whole tree), one warm-up
-- run and 20 timed runs; prints the median in milliseconds.
CREATE TEMP TABLE runs (ms float8);
DO $$
DECLARE
    t0 timestamptz;
    n bigint;
BEGIN
    FOR i IN 0 .. 20 LOOP
        t0 := clock_timestamp();
        n := affiliate.team_size(1, 1);
        IF i > 0 THEN
            INSERT INTO runs VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
        END IF;
    END LOOP;
END
$$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) FROM runs;
