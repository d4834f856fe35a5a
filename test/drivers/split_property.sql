-- Property test of affiliate.split() (run by test/drivers/split_property.sh
-- with -v seed=<float in (0, 1)> -v cases=<count>).
--
-- Random cases are generated set-based from setseed(:seed); every share is
-- then checked against values computed here in numeric, independently of the
-- C code: the exact value e_i = amount * rate_i / 10000, its rounding alone,
-- and the clamped rounding of the running total (the fallback).  Violations
-- land in prop_violation, one row per (case, check); the driver reports them.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS prop_case, prop_result, prop_share, prop_eval, prop_violation;

-- num / d rounded to a whole number by mode, exactly (num >= 0, d > 0 integers):
-- div() and mod() on numeric are exact integer operations.
CREATE OR REPLACE FUNCTION prop_units(num numeric, d numeric, mode text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE mode
             WHEN 'down' THEN q
             WHEN 'half_up' THEN q + CASE WHEN 2 * r >= d THEN 1 ELSE 0 END
             WHEN 'half_even' THEN q + CASE WHEN 2 * r > d OR (2 * r = d AND mod(q, 2) = 1)
                                            THEN 1 ELSE 0 END
           END
      FROM (SELECT div(num, d) AS q, mod(num, d) AS r) x
$$;

SELECT setseed(:seed) \gset

-- Amounts across magnitudes (zero, small, large, near and at the bigint
-- maximum); 1..10 rates whose sum is 10000 for almost half the cases and
-- just below it for another fifth (so shares round up together and the
-- fallback runs), else anything up to 10000; rates in multiples of 500 for a
-- third of the cases (so ties are frequent); units from 1 to the bigint
-- maximum, a fifth of them comparable to the amount; all three modes.
-- One case in eight is a near tie: its first rate is 1..3 bp and the amount
-- is chosen so that this share lies on, or a hair (1/10000 of a minor unit
-- or a few) beside, the midpoint between two multiples of the unit.
CREATE TABLE prop_case AS
WITH r AS (
    SELECT g AS id, random() AS ra, random() AS rb, random() AS rc, random() AS rn,
           random() AS rs, random() AS rt, random() AS rq, random() AS ru, random() AS rv,
           random() AS rm, random() AS rw, random() AS rx, random() AS ry, random() AS rk,
           random() AS rl
      FROM generate_series(1, :cases) g
), a AS (
    SELECT r.*,
           (CASE WHEN ra < 0.05 THEN 0
                 WHEN ra < 0.30 THEN floor(rb * 1000)::numeric
                 WHEN ra < 0.45 THEN floor(rb * 1e6)::numeric
                 WHEN ra < 0.60 THEN floor(rb * 1e12)::numeric
                 WHEN ra < 0.80 THEN floor(rb * 9e18)::numeric + floor(rc * 1e6)::numeric
                 WHEN ra < 0.95 THEN 9223372036854775807 - floor(rb * 1e6)::numeric
                 ELSE 9223372036854775807
            END)::bigint AS amount0,
           1 + floor(rn * 10)::int AS n,
           CASE WHEN rs < 0.45 THEN 10000
                WHEN rs < 0.65 THEN 10000 - floor(rt * 20)::int
                ELSE floor(rt * 10001)::int
           END AS total,
           rq < 0.33 AS coarse,
           (ARRAY['half_up', 'half_even', 'down'])[1 + floor(rm * 3)::int] AS mode,
           rw < 0.125 AS near_tie,
           1 + floor(rx * 3)::int AS r1,        -- the near tie's rate
           floor(ry * 5)::int - 2 AS j          -- and its offset, -2..2
      FROM r
), u AS (
    SELECT a.*,
           (CASE WHEN near_tie THEN 1 + floor(rv * 1000)::numeric
                 WHEN ru < 0.30 THEN 1
                 WHEN ru < 0.45 THEN (ARRAY[2, 5, 10, 25, 100, 1000])[1 + floor(rv * 6)::int]
                 WHEN ru < 0.60 THEN 1 + floor(rv * 1000)::numeric
                 WHEN ru < 0.80 THEN 1 + floor(rv::numeric * (amount0::numeric + 1))
                 WHEN ru < 0.95 THEN 1 + floor(rv * 9.2e18)::numeric
                 ELSE 9223372036854775807
            END)::bigint AS unit
      FROM a
), v AS (
    -- near tie: r1 * amount = k * d + d/2 + r1 * j (about), d = 10000 * unit
    SELECT u.*,
           CASE WHEN near_tie
                THEN greatest(0, div(floor(CASE WHEN rl < 0.5 THEN rk * 1e6
                                                ELSE rk * 8e18 / (10000 * unit) END)::numeric
                                     * 10000 * unit + 5000 * unit, r1) + j)::bigint
                ELSE amount0
           END AS amount
      FROM u
)
SELECT v.id, v.amount,
       CASE WHEN v.near_tie THEN ARRAY[least(v.r1, v.total)] ELSE '{}' END || coalesce(rt.rates, '{}') AS rates,
       v.unit, v.mode, v.n
  FROM v
 CROSS JOIN LATERAL (
    -- m parts of t: the gaps between m - 1 random cut points
    SELECT array_agg(c - lo ORDER BY c, k) AS rates
      FROM (SELECT k, c, coalesce(lag(c) OVER (ORDER BY c, k), 0) AS lo
              FROM (SELECT k,
                           CASE WHEN k = x.m THEN x.t
                                WHEN v.coarse THEN (floor(random() * (x.t / 500 + 1)) * 500)::int
                                ELSE floor(random() * (x.t + 1))::int
                           END AS c
                      FROM (SELECT CASE WHEN v.near_tie THEN v.n - 1 ELSE v.n END AS m,
                                   CASE WHEN v.near_tie THEN greatest(v.total - v.r1, 0) ELSE v.total END AS t) x,
                           generate_series(1, x.m) k) s1) s2) rt;

-- the function under test
CREATE TABLE prop_result AS
SELECT c.*, affiliate.split(c.amount, c.rates, c.unit, c.mode) AS shares FROM prop_case c;

-- one row per share, with the independent figures (all in numeric):
--   num    = e_i * 10000 (exact), d = u * 10000
--   alone  = R(e_i), the share rounded on its own
--   cum_r  = R(C_i), the running total rounded
--   tie_gap = 2 * (num mod d) - d: 0 on a tie, small beside one
CREATE TABLE prop_share AS
SELECT c.id, c.amount::numeric AS amount, c.unit::numeric AS unit, c.mode, c.n,
       r.ord::int AS ord, r.rate, c.shares[r.ord]::numeric AS share,
       c.amount::numeric * r.rate AS num,
       10000 * c.unit::numeric AS d,
       prop_units(c.amount::numeric * r.rate, 10000 * c.unit::numeric, c.mode) * c.unit AS alone,
       prop_units(sum(c.amount::numeric * r.rate) OVER w, 10000 * c.unit::numeric, c.mode) * c.unit AS cum_r,
       2 * mod(c.amount::numeric * r.rate, 10000 * c.unit::numeric) - 10000 * c.unit::numeric AS tie_gap
  FROM prop_result c
 CROSS JOIN LATERAL unnest(c.rates) WITH ORDINALITY r(rate, ord)
WINDOW w AS (PARTITION BY c.id ORDER BY r.ord);

CREATE TABLE prop_eval AS
SELECT s.*,
       alone_sum > amount AS fallback,
       CASE WHEN alone_sum > amount
            THEN least(cum_r, amount) - coalesce(lag(least(cum_r, amount)) OVER w, 0)
            ELSE alone
       END AS expected
  FROM (SELECT s.*, sum(alone) OVER (PARTITION BY id) AS alone_sum,
               sum(share) OVER (PARTITION BY id) AS share_sum,
               count(share) OVER (PARTITION BY id) AS share_count
          FROM prop_share s) s
WINDOW w AS (PARTITION BY id ORDER BY ord);

CREATE TABLE prop_violation AS
-- one share per rate, a one-dimensional array from 1, no NULLs
SELECT c.id, 'shape' AS "check" FROM prop_result c
 WHERE c.shares IS NULL OR array_ndims(c.shares) IS DISTINCT FROM 1
    OR array_lower(c.shares, 1) IS DISTINCT FROM 1
    OR cardinality(c.shares) <> c.n OR array_position(c.shares, NULL) IS NOT NULL
UNION ALL
-- the shares never add up to more than the amount
SELECT DISTINCT id, 'sum <= amount' FROM prop_eval WHERE share_sum > amount
UNION ALL
SELECT id, 'share >= 0' FROM prop_eval WHERE share < 0
UNION ALL
-- |share - e_i| <= u, that is |share * 10000 - num| <= u * 10000
SELECT id, '|share - exact| <= unit' FROM prop_eval WHERE abs(share * 10000 - num) > d
UNION ALL
-- a multiple of the unit, unless the clamp to the amount made the sum exact
SELECT id, 'multiple of unit' FROM prop_eval
 WHERE mod(share, unit) <> 0 AND NOT (fallback AND share_sum = amount)
UNION ALL
-- a single rate: the named rounding of the exact value (at most the amount)
SELECT id, 'single rate = rounding' FROM prop_eval WHERE n = 1 AND share <> least(alone, amount)
UNION ALL
-- when the shares rounded alone fit in the amount, those are the shares
SELECT id, 'fits: share = rounding alone' FROM prop_eval WHERE NOT fallback AND share <> alone
UNION ALL
-- and otherwise exactly the clamped cumulative rounding
SELECT id, 'share = oracle' FROM prop_eval WHERE share IS DISTINCT FROM expected;
