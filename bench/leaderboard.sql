-- make bench: affiliate.leaderboard of program 1 (earnings, this month and
-- all time, top 10) after the conversions the bench wrote; one warm-up run
-- and 20 timed runs of each; prints the median in milliseconds.
CREATE TEMP TABLE runs (ms float8);
DO $$
DECLARE
    t0 timestamptz;
    n bigint;
BEGIN
    FOR i IN 0 .. 20 LOOP
        t0 := clock_timestamp();
        SELECT count(*) INTO n FROM affiliate.leaderboard(1, 'earnings', CASE WHEN i % 2 = 0 THEN 'all' ELSE 'month' END);
        IF i > 0 THEN
            INSERT INTO runs VALUES (extract(epoch FROM clock_timestamp() - t0) * 1000);
        END IF;
    END LOOP;
END
$$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM runs;
