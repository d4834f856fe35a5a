-- one paid order through bench_plpgsql.record_conversion: the same order as
-- conversion.sql, through the PL/pgSQL comparison implementation
-- (bench/plpgsql; program 1 loaded with bench_plpgsql.load_from_affiliate(1))
--   pgbench -f plpgsql_conversion.sql -D min_buyer=2 -D max_buyer=N -D product="'basic'"
\set buyer random(:min_buyer, :max_buyer)
\set r random(1, 9000000000000000000)
SELECT count(*) FROM bench_plpgsql.record_conversion(1, 'p' || :client_id || '-' || :r, :buyer, 13500, 4200, :product);
