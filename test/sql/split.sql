-- Exact splitting: affiliate.split(amount, rates_bp, rounding_unit, rounding)
-- gives one share per rate, each the amount times the rate in basis points,
-- rounded to a multiple of the unit; the shares never add up to more than
-- the amount (the rest is the platform's).  See docs/money.md.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default

-- a pure function: immutable, parallel safe, not strict (NULLs are refused)
SELECT provolatile, proparallel, proisstrict, prorettype::regtype
  FROM pg_proc WHERE oid = 'affiliate.split(bigint, integer[], bigint, text)'::regprocedure;
SELECT has_function_privilege('affiliate_operator', 'affiliate.split(bigint, integer[], bigint, text)', 'EXECUTE')
       AS admin_may_split;

-- The OTT shop (DESIGN 4.1): price Rs 135, cost Rs 42, profit Rs 93; level 1
-- gets 30 %, level 2 10 %, whole rupees, half up: Rs 28 and Rs 9.
SELECT affiliate.split(93, '{3000,1000}') AS rupees;
-- the same amounts in paise, rounded to whole rupees (100 paise)
SELECT s AS paise, 9300 - (s[1] + s[2]) AS platform
  FROM affiliate.split(9300, '{3000,1000}', 100, 'half_up') s;
-- to the paisa the exact values are 2790 and 930
SELECT affiliate.split(9300, '{3000,1000}') AS paise_exact;

-- 70/30 creator share: the creator gets 70 %, the platform keeps the rest
SELECT a AS amount, s AS creator, a - s[1] AS platform
  FROM (VALUES (99999::bigint), (100), (1), (0)) v(a),
       LATERAL affiliate.split(a, '{7000}') s;
-- to whole rupees: Rs 699.993 becomes Rs 700
SELECT s AS creator, 99999 - s[1] AS platform FROM affiliate.split(99999, '{7000}', 100) s;

-- 85/15 marketplace: seller 85 %, fee 15 %
SELECT s AS seller_fee, 12345 - (s[1] + s[2]) AS rest FROM affiliate.split(12345, '{8500,1500}') s;
-- to whole rupees each share alone would round up (10500 + 1900 > 12345):
-- the running total is rounded instead and nothing is paid out twice
SELECT s AS seller_fee, 12345 - (s[1] + s[2]) AS rest
  FROM affiliate.split(12345, '{8500,1500}', 100) s;

-- Rounding modes.  10 % of the amount at unit 10: 250 -> 25 and 350 -> 35 are
-- ties (half_up goes up, half_even to the even multiple of 10, down down);
-- 251 -> 25.1 and 249 -> 24.9 are not.
SELECT a AS amount, (a / 10.0)::numeric(20, 2) AS exact,
       (affiliate.split(a, '{1000}', 10, 'half_up'))[1] AS half_up,
       (affiliate.split(a, '{1000}', 10, 'half_even'))[1] AS half_even,
       (affiliate.split(a, '{1000}', 10, 'down'))[1] AS down
  FROM (VALUES (250::bigint), (350), (251), (249), (240), (255), (1)) v(a);
-- unit 1: 50 % of 5 and of 15 are ties, 50 % of 7 is 3.5 as well
SELECT a AS amount, (a / 2.0)::numeric(20, 2) AS exact,
       (affiliate.split(a, '{5000}', 1, 'half_up'))[1] AS half_up,
       (affiliate.split(a, '{5000}', 1, 'half_even'))[1] AS half_even,
       (affiliate.split(a, '{5000}', 1, 'down'))[1] AS down
  FROM (VALUES (5::bigint), (15), (7), (9), (2)) v(a);
-- rounding_unit 100 (whole rupees in paise): 12.34 % and 13.5 % of 123456
-- are 15234.4704 and 16666.56
SELECT m, affiliate.split(123456, '{1234,1350}', 100, m) AS shares
  FROM unnest(ARRAY['half_up', 'half_even', 'down']) m;
-- and 12.5 % of 1200 is 150, a tie at unit 100
SELECT m, affiliate.split(1200, '{1250}', 100, m) AS share
  FROM unnest(ARRAY['half_up', 'half_even', 'down']) m;
-- the default mode is half_up and the default unit is 1
SELECT affiliate.split(5, '{5000}') AS default_mode, affiliate.split(5, '{5000}', 1, 'half_up') AS half_up;

-- The fallback: when the shares rounded on their own would add up to more
-- than the amount, the running total is rounded (and clamped to the amount).
CREATE TEMP TABLE fallback_case (amount bigint, rates int[], unit bigint, mode text);
INSERT INTO fallback_case VALUES
    (10, '{2500,2500,2500,2500}', 1, 'half_up'),    -- 2.5 each: 3+3+3+3 = 12 > 10
    (10, '{2500,2500,2500,2500}', 1, 'half_even'),  -- 2.5 each: 2 each, no fallback
    (100, '{3500,3500,3000}', 10, 'half_up'),       -- 35, 35, 30: 40+40+30 > 100
    (100, '{3500,3500,3000}', 10, 'half_even'),     -- 40+40+30 > 100 too
    (100, '{3500,3500,3000}', 10, 'down'),          -- down never needs it
    (95, '{5000,5000}', 10, 'half_up'),             -- 47.5 each; 95 rounds to 100: clamped
    (900, '{6000}', 1000, 'half_up'),               -- 540 rounds to 1000 > 900: clamped
    (600, '{6000}', 1000, 'half_up'),               -- 360 rounds to 0
    (7, '{1429,1429,1428,1428,1429,1428,1429}', 1, 'half_up'), -- 1 each, 7 in all
    (99, '{3334,3333,3333}', 1, 'half_up');         -- 33.0066, 32.9967 ..: no fallback
-- each share rounded on its own, in numeric (small values: the divisions are exact)
CREATE FUNCTION pg_temp.alone(x numeric, u bigint, mode text) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE mode
             WHEN 'down' THEN floor(x / u) * u
             WHEN 'half_up' THEN floor(x / u + 0.5) * u
             WHEN 'half_even' THEN CASE WHEN x / u - floor(x / u) = 0.5
                                        THEN (floor(x / u) + mod(floor(x / u), 2)) * u
                                        ELSE round(x / u) * u END
           END
$$;
SELECT amount, rates, unit, mode,
       (SELECT sum(pg_temp.alone(amount * r / 10000.0, unit, mode)) FROM unnest(rates) r) AS alone_sum,
       s AS shares,
       (SELECT sum(x) FROM unnest(s) x) AS shares_sum,
       amount - (SELECT sum(x) FROM unnest(s) x) AS platform
  FROM fallback_case, LATERAL affiliate.split(amount, rates, unit, mode) s;

-- Edges: zero amount, zero rates, empty rates, any lower bound, 1000 rates
SELECT affiliate.split(0, '{3000,1000}') AS zero_amount,
       affiliate.split(1000, '{0,0}') AS zero_rates,
       affiliate.split(1000, '{}') AS no_rates,
       affiliate.split(1000, '[5:6]={1000,2000}') AS lower_bound_5;
SELECT array_lower(s, 1), cardinality(s), (SELECT sum(x) FROM unnest(s) x) AS total
  FROM affiliate.split(1000, array_fill(10, ARRAY[1000])) s;
SELECT cardinality(affiliate.split(1000, '{}')) AS empty, array_ndims(affiliate.split(1000, '{}')) AS ndims;

-- bigint limits: nothing overflows, no share exceeds the amount
SELECT affiliate.split(9223372036854775807, '{10000}') AS all_of_max,
       affiliate.split(9223372036854775807, '{10000}', 9223372036854775807) AS unit_max,
       affiliate.split(9223372036854775807, '{1}') AS one_bp_of_max,
       affiliate.split(9223372036854775807, '{9999}', 9223372036854775807) AS rounds_up_to_max;
-- 2^63 - 1 rounded to multiples of 2^62 is 2^63 (beyond bigint): clamped
SELECT affiliate.split(9223372036854775807, '{10000}', 4611686018427387904) AS clamped,
       affiliate.split(9223372036854775807, '{10000}', 4611686018427387904, 'down') AS down;
-- half of 2^63 - 1 at unit 2^63 - 1 is exactly a tie
SELECT m, affiliate.split(9223372036854775807, '{5000,5000}', 9223372036854775807, m) AS shares
  FROM unnest(ARRAY['half_up', 'half_even', 'down']) m;
SELECT s AS thirds, (SELECT sum(x) FROM unnest(s) x) AS total
  FROM affiliate.split(9223372036854775807, '{3333,3333,3334}') s;
SELECT s AS thirds_by_1e18, (SELECT sum(x) FROM unnest(s) x) AS total
  FROM affiliate.split(9223372036854775807, '{3333,3333,3334}', 1000000000000000000) s;
SELECT affiliate.split(1, '{5000}', 9223372036854775807) AS tiny_amount_huge_unit,
       affiliate.split(9223372036854775806, '{5000,5000}', 9223372036854775807, 'half_up') AS just_below_tie;

-- Errors: NULLs are 22004, bad values 22023; nothing is ever returned
SELECT affiliate.split(NULL, '{1000}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000,NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(-1, '{1000}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(-9223372036854775808, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000,-1}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{10001}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{7000,3000,1}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{10000,10000,10000}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', -100);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', 1, 'up');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{1000}', 1, 'HALF_UP');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, '{{1000},{2000}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.split(100, array_fill(1, ARRAY[1001]));
\echo :LAST_ERROR_SQLSTATE
