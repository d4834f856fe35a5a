-- bench/plpgsql/check.sql
--
-- Self-check of the PL/pgSQL comparison implementation: on a fresh database
-- with pg_affiliate installed (run as a superuser), build three programs
-- through the extension's API, copy them into bench_plpgsql, record the same
-- conversions through affiliate.record_conversion (C) and
-- bench_plpgsql.record_conversion (PL/pgSQL), and compare the commissions
-- (external ref, beneficiary, level, amount), the replays, the ledger, and
-- bench_plpgsql.split against affiliate.split on random cases.
-- Prints the number of mismatches and fails if there is any.
--
--   createdb chk && psql -X -d chk -f bench/plpgsql/check.sql
-- (it creates the extension if it is missing; it can be run again in the
-- same database: every run builds programs of its own)
--
-- The programs:
--   A  INR, rounding_unit 100, half_up.  The OTT plan {3000,1000} on profit
--      (replacing an older plan), and a 5-level plan on the amount for
--      product 'pro'.  200 conversions.
--   B  USD, rounding_unit 50, half_even.  {5000,2500,2500} on the amount (the
--      rates add up to 100 %, so the running-total rounding is exercised);
--      product 'capped': {3000,0,1000} with a flat level 2, a cap on level 1
--      and min_direct 1; product 'pro': an empty plan (pays nothing).
--      100 conversions.
--   C  EUR, rounding_unit 1, down.  {1234,567,89} on profit, recurring
--      '1 day'.  100 conversions.
-- Each tree has 80 members, partly deep chains; about 15 % are blocked and
-- 10 % inactive (never the first three, which form the OTT chain).
\set ON_ERROR_STOP 1
\pset footer off
SET client_min_messages = warning;
SET timezone = 'UTC';

CREATE EXTENSION IF NOT EXISTS pg_affiliate;
\ir schema.sql
\ir record_conversion.sql

CREATE TEMP TABLE chk_program (tag text PRIMARY KEY, id bigint, nconv integer);

INSERT INTO chk_program
SELECT 'A', affiliate.create_program('bench check A', 'INR',
           '{"rounding_unit": 100, "rounding": "half_up", "hold_period": "24 hours"}'), 200
UNION ALL
SELECT 'B', affiliate.create_program('bench check B', 'USD',
           '{"rounding_unit": 50, "rounding": "half_even", "hold_period": "7 days"}'), 100
UNION ALL
SELECT 'C', affiliate.create_program('bench check C', 'EUR',
           '{"rounding_unit": 1, "rounding": "down", "hold_period": "0 seconds"}'), 100;

-- the trees
CREATE TEMP TABLE chk_member (program_id bigint, n integer, id bigint, PRIMARY KEY (program_id, n));
DO $$ BEGIN PERFORM setseed(0.42); END $$;
DO $$
DECLARE
    p   record;
    sn  integer;
    r   double precision;
    sponsor_code text;
BEGIN
    FOR p IN SELECT * FROM chk_program ORDER BY tag LOOP
        INSERT INTO chk_member VALUES (p.id, 1, affiliate.add_member(p.id, p.tag || '-m1'));
        FOR i IN 2 .. 80 LOOP
            IF i <= 3 THEN
                sn := i - 1;                                      -- the OTT chain 1 <- 2 <- 3
            ELSIF random() < 0.6 THEN
                sn := i - 1 - floor(random() * least(i - 1, 3))::integer;   -- deep chains
            ELSE
                sn := 1 + floor(random() * (i - 1))::integer;     -- anywhere
            END IF;
            SELECT m.code::text INTO sponsor_code
              FROM affiliate.member m JOIN chk_member c ON c.id = m.id
             WHERE c.program_id = p.id AND c.n = sn;
            INSERT INTO chk_member
            VALUES (p.id, i, affiliate.add_member(p.id, p.tag || '-m' || i, sponsor_code));
        END LOOP;
        FOR i IN 4 .. 80 LOOP
            r := random();
            IF r < 0.15 OR r >= 0.25 THEN
                IF r < 0.15 THEN
                    PERFORM affiliate.set_member_status(p.id, c.id, 'blocked', 'check')
                       FROM chk_member c WHERE c.program_id = p.id AND c.n = i;
                END IF;
            ELSE
                PERFORM affiliate.set_member_status(p.id, c.id, 'inactive', 'check')
                   FROM chk_member c WHERE c.program_id = p.id AND c.n = i;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- the plans (one statement each: the newer plan gets the higher id)
\o /dev/null
SELECT affiliate.set_plan(id, 'old general', '{1000}', 'profit') FROM chk_program WHERE tag = 'A';
SELECT affiliate.set_plan(id, 'OTT referral', '{3000,1000}', 'profit') FROM chk_program WHERE tag = 'A';
SELECT affiliate.set_plan(id, 'pro 5 levels', '{2000,1000,500,300,200}', 'amount', product => 'pro')
  FROM chk_program WHERE tag = 'A';
SELECT affiliate.set_plan(id, 'full split', '{5000,2500,2500}', 'amount') FROM chk_program WHERE tag = 'B';
SELECT affiliate.set_plan(id, 'capped', '{3000,0,1000}', 'profit', product => 'capped',
                          flat => '{NULL,150,NULL}', caps => '{1000,NULL,NULL}',
                          qualification => '{"min_direct": 1}')
  FROM chk_program WHERE tag = 'B';
SELECT affiliate.set_plan(id, 'pro stopped', '{}', 'amount', product => 'pro') FROM chk_program WHERE tag = 'B';
SELECT affiliate.set_plan(id, 'first day', '{1234,567,89}', 'profit', recurring => '1 day')
  FROM chk_program WHERE tag = 'C';
\o
SELECT p.tag, pl.id AS plan_id, pl.name, pl.product, pl.base, pl.rates_bp, pl.flat, pl.caps,
       pl.recurring, pl.min_direct
  FROM affiliate.plan pl JOIN chk_program p ON p.id = pl.program_id ORDER BY pl.id;
SELECT p.tag, m.status, count(*) AS members, max(cardinality(m.upline)) AS max_depth
  FROM affiliate.member m JOIN chk_program p ON p.id = m.program_id GROUP BY 1, 2 ORDER BY 1, 2;

-- the same tree and plans in bench_plpgsql
SELECT tag, bench_plpgsql.load_from_affiliate(id) AS members_loaded FROM chk_program ORDER BY tag;

-- the OTT numbers: Meena (3) buys for 13500 with cost 4200; Ravi (2) gets
-- 2800, Asha (1) 900, in both implementations
CREATE TEMP TABLE chk_ott AS
SELECT 'c' AS impl, x.beneficiary_id, x.level, x.amount
  FROM chk_program p JOIN chk_member m ON m.program_id = p.id AND m.n = 3,
       affiliate.record_conversion(p.id, 'ott-1', m.id, 13500, 4200) x
 WHERE p.tag = 'A';
INSERT INTO chk_ott
SELECT 'plpgsql', x.beneficiary_id, x.level, x.amount
  FROM chk_program p JOIN chk_member m ON m.program_id = p.id AND m.n = 3,
       bench_plpgsql.record_conversion(p.id, 'ott-1', m.id, 13500, 4200) x
 WHERE p.tag = 'A';
SELECT impl, level, amount FROM chk_ott ORDER BY impl, level;

-- the random-ish conversions
DO $$ BEGIN PERFORM setseed(0.17); END $$;
CREATE TEMP TABLE chk_input AS
WITH r AS MATERIALIZED (
    SELECT p.tag, p.id AS program_id, g, random() AS r_buyer, random() AS r_amount,
           random() AS r_cost, random() AS r_product
      FROM chk_program p, generate_series(1, p.nconv) AS g
     ORDER BY p.tag, g
), a AS (
    SELECT r.*, CASE WHEN r_amount < 0.5 THEN 13500
                     WHEN r_amount < 0.53 THEN 0
                     ELSE floor(r_amount * 400000)::bigint END AS amount
      FROM r
)
SELECT row_number() OVER (ORDER BY a.tag, a.g) AS seq, a.program_id,
       format('chk-%s-%s', a.tag, a.g) AS ref, m.id AS buyer_id, a.amount,
       CASE WHEN a.amount = 13500 AND a.r_cost < 0.7 THEN 4200
            WHEN a.r_cost > 0.95 THEN a.amount
            ELSE floor(a.amount * a.r_cost)::bigint END AS cost,
       CASE WHEN a.r_product < 0.4 THEN NULL
            WHEN a.r_product < 0.7 THEN 'pro'
            WHEN a.r_product < 0.85 THEN 'capped'
            ELSE 'other' END AS product
  FROM a JOIN chk_member m ON m.program_id = a.program_id AND m.n = 1 + floor(a.r_buyer * 80)::integer;

CREATE TEMP TABLE chk_result (impl text, ref text, beneficiary_id bigint, level integer, amount bigint);
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM chk_input ORDER BY seq LOOP
        INSERT INTO chk_result
        SELECT 'c', c.ref, x.beneficiary_id, x.level, x.amount
          FROM affiliate.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount, c.cost,
                                           product => c.product) x;
        INSERT INTO chk_result
        SELECT 'plpgsql', c.ref, x.beneficiary_id, x.level, x.amount
          FROM bench_plpgsql.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount, c.cost,
                                               c.product) x;
    END LOOP;
END
$$;

-- retries of every 7th conversion (a later transaction): the same commissions
CREATE TEMP TABLE chk_replay (impl text, ref text, beneficiary_id bigint, level integer, amount bigint);
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM chk_input WHERE seq % 7 = 0 ORDER BY seq LOOP
        INSERT INTO chk_replay
        SELECT 'c', c.ref, x.beneficiary_id, x.level, x.amount
          FROM affiliate.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount, c.cost,
                                           product => c.product) x;
        INSERT INTO chk_replay
        SELECT 'plpgsql', c.ref, x.beneficiary_id, x.level, x.amount
          FROM bench_plpgsql.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount, c.cost,
                                               c.product) x;
    END LOOP;
END
$$;

-- a retry with other inputs is refused by both (23505)
CREATE TEMP TABLE chk_refused (impl text, sqlstate text);
DO $$
DECLARE
    c record;
BEGIN
    SELECT * INTO c FROM chk_input WHERE seq = 1;
    BEGIN
        PERFORM affiliate.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount + 1, c.cost,
                                            product => c.product);
        INSERT INTO chk_refused VALUES ('c', 'accepted');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO chk_refused VALUES ('c', SQLSTATE);
    END;
    BEGIN
        PERFORM bench_plpgsql.record_conversion(c.program_id, c.ref, c.buyer_id, c.amount + 1, c.cost,
                                                c.product);
        INSERT INTO chk_refused VALUES ('plpgsql', 'accepted');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO chk_refused VALUES ('plpgsql', SQLSTATE);
    END;
END
$$;

-- the split alone, against affiliate.split: 5000 random cases (amounts up
-- to the bigint maximum, units from 1 to 10^6, every mode; 40 % of the rate
-- sets add up to exactly 100 %, which often takes the running-total branch)
DO $$ BEGIN PERFORM setseed(0.23); END $$;
CREATE TEMP TABLE chk_split AS
WITH c AS MATERIALIZED (
    SELECT g, 1 + floor(random() * 5)::integer AS n, random() AS ra, random() AS ru,
           random() AS rm, random() AS rf
      FROM generate_series(1, 5000) AS g
), r AS (
    SELECT c.g,
           CASE WHEN c.ra < 0.3 THEN floor(c.ra * 1000)::bigint
                WHEN c.ra < 0.9 THEN floor(c.ra * 10000000)::bigint
                ELSE floor(c.ra::numeric * 9223372036854775807)::bigint END AS amount,
           (SELECT array_agg(CASE WHEN c.rf < 0.4
                                  THEN 10000 / c.n + CASE WHEN i <= 10000 % c.n THEN 1 ELSE 0 END
                                  ELSE floor(random() * (10000 / c.n + 1))::integer END ORDER BY i)
              FROM generate_series(1, c.n) AS i) AS rates,
           CASE WHEN c.ru < 0.4 THEN 1 WHEN c.ru < 0.7 THEN 10 WHEN c.ru < 0.9 THEN 100
                ELSE 1 + floor(c.ru * 1000000)::bigint END AS unit,
           CASE WHEN c.rm < 1 / 3.0 THEN 'half_up' WHEN c.rm < 2 / 3.0 THEN 'half_even' ELSE 'down' END AS mode
      FROM c
)
SELECT r.*, affiliate.split(r.amount, r.rates, r.unit, r.mode) AS c_shares,
       bench_plpgsql.split(r.amount, r.rates, r.unit, r.mode) AS p_shares
  FROM r;

-- the comparison
CREATE TEMP TABLE chk_summary AS
WITH c AS (SELECT ref, beneficiary_id, level, amount FROM chk_result WHERE impl = 'c'),
     p AS (SELECT ref, beneficiary_id, level, amount FROM chk_result WHERE impl = 'plpgsql'),
     rc AS (SELECT ref, beneficiary_id, level, amount FROM chk_replay WHERE impl = 'c'),
     rp AS (SELECT ref, beneficiary_id, level, amount FROM chk_replay WHERE impl = 'plpgsql'),
     -- what is stored, not only what was returned (the hold: hold_until -
     -- occurred_at, as the two calls of a pair may run in different transactions)
     sc AS (SELECT v.external_ref AS ref, k.beneficiary_id, k.level, k.amount,
                   k.hold_until - v.occurred_at AS hold, v.referrer_id, k.status
              FROM affiliate.commission k
              JOIN affiliate.conversion v ON v.program_id = k.program_id AND v.id = k.conversion_id
             WHERE v.program_id IN (SELECT id FROM chk_program)),
     sp AS (SELECT v.external_ref AS ref, k.beneficiary_id, k.level, k.amount,
                   k.hold_until - v.occurred_at AS hold, v.referrer_id, k.status
              FROM bench_plpgsql.commission k
              JOIN bench_plpgsql.conversion v ON v.id = k.conversion_id),
     -- each member's pending balance: C ledger vs PL/pgSQL stored balance
     bal AS (SELECT m.id, coalesce((SELECT b.pending FROM affiliate.balance(m.program_id, m.id) b), 0) AS c_pending,
                    coalesce((SELECT a.balance FROM bench_plpgsql.account a
                               WHERE a.member_id = m.id AND a.kind = 'pending'), 0) AS p_pending,
                    coalesce((SELECT sum(k.amount) FROM bench_plpgsql.commission k
                               WHERE k.beneficiary_id = m.id), 0) AS p_commissions
               FROM chk_member m)
SELECT (SELECT count(*) FROM chk_input) + 1 AS conversions,
       (SELECT count(*) FROM c) AS commissions_c,
       (SELECT count(*) FROM p) AS commissions_plpgsql,
       (SELECT count(*) FROM (SELECT * FROM c EXCEPT ALL SELECT * FROM p) x)
     + (SELECT count(*) FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM c) x) AS mismatches,
       (SELECT count(*) FROM (SELECT beneficiary_id, level, amount FROM chk_ott WHERE impl = 'c' EXCEPT ALL
                              SELECT beneficiary_id, level, amount FROM chk_ott WHERE impl = 'plpgsql') x)
     + (SELECT count(*) FROM (SELECT beneficiary_id, level, amount FROM chk_ott WHERE impl = 'plpgsql' EXCEPT ALL
                              SELECT beneficiary_id, level, amount FROM chk_ott WHERE impl = 'c') x)
     + (SELECT count(*) FROM (SELECT level, amount FROM chk_ott WHERE impl = 'c'
                              EXCEPT ALL VALUES (1, 2800::bigint), (2, 900)) x)
     + (SELECT count(*) FROM (VALUES (1, 2800::bigint), (2, 900)
                              EXCEPT ALL SELECT level, amount FROM chk_ott WHERE impl = 'c') x) AS ott_mismatches,
       (SELECT count(*) FROM rc) AS replayed,
       (SELECT count(*) FROM (SELECT * FROM rc EXCEPT ALL SELECT * FROM rp) x)
     + (SELECT count(*) FROM (SELECT * FROM rp EXCEPT ALL SELECT * FROM rc) x)
     + (SELECT count(*) FROM (SELECT * FROM rc EXCEPT ALL SELECT * FROM c) x)
     + (SELECT count(*) FROM (SELECT * FROM c WHERE ref IN (SELECT ref FROM chk_input WHERE seq % 7 = 0)
                              EXCEPT ALL SELECT * FROM rc) x) AS replay_mismatches,
       (SELECT count(*) FROM chk_refused WHERE sqlstate <> '23505') AS refusal_mismatches,
       (SELECT count(*) FROM (SELECT * FROM sc EXCEPT ALL SELECT * FROM sp) x)
     + (SELECT count(*) FROM (SELECT * FROM sp EXCEPT ALL SELECT * FROM sc) x) AS stored_mismatches,
       (SELECT count(*) FROM bal WHERE c_pending <> p_pending OR p_pending <> p_commissions)
     + (SELECT count(*) FROM bench_plpgsql.journal j
         WHERE (SELECT sum(ps.amount) FROM bench_plpgsql.posting ps WHERE ps.journal_id = j.id) <> 0)
     + (SELECT count(*) FROM bench_plpgsql.program p
         WHERE (SELECT sum(a.balance) FROM bench_plpgsql.account a WHERE a.program_id = p.id) <> 0)
       AS ledger_mismatches,
       (SELECT count(*) FROM chk_split) AS split_cases,
       (SELECT count(*) FROM chk_split WHERE c_shares IS DISTINCT FROM p_shares) AS split_mismatches;

\x on
SELECT * FROM chk_summary;
\x off
SELECT mismatches + ott_mismatches + replay_mismatches + refusal_mismatches
       + stored_mismatches + ledger_mismatches + split_mismatches AS total_mismatches
  FROM chk_summary;

RESET client_min_messages;

DO $$
DECLARE
    s chk_summary;
BEGIN
    SELECT * INTO s FROM chk_summary;
    IF s.mismatches + s.ott_mismatches + s.replay_mismatches + s.refusal_mismatches
       + s.stored_mismatches + s.ledger_mismatches + s.split_mismatches > 0
       OR s.commissions_c = 0 THEN
        RAISE EXCEPTION 'bench_plpgsql.record_conversion differs from affiliate.record_conversion: %', to_jsonb(s);
    END IF;
    RAISE NOTICE 'bench_plpgsql check passed: % conversions, % commissions, % splits, 0 mismatches',
        s.conversions, s.commissions_c, s.split_cases;
END
$$;
