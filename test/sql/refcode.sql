-- The refcode type: text form with a check character, input normalisation,
-- soft validation, binary form, btree and hash operator classes, generation,
-- and an exhaustive error-detection check over 2,000 codes.
-- a fresh extension per file: output does not depend on test order
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
-- the operators live in schema affiliate
SET search_path = affiliate, public;

-- the 32 symbols; with_check(data) appends the one check character that
-- makes a valid code (found by trying all 32 through refcode_is_valid)
CREATE TEMP VIEW alphabet AS
SELECT s, k::int FROM regexp_split_to_table('0123456789ABCDEFGHJKMNPQRSTVWXYZ', '') WITH ORDINALITY a(s, k);
CREATE FUNCTION pg_temp.with_check(data text) RETURNS text LANGUAGE sql AS $$
    SELECT data || s FROM alphabet WHERE affiliate.refcode_is_valid(data || s)
$$;

-- ---------------------------------------------------------------------------
-- Text form: round trips, min and max lengths
-- ---------------------------------------------------------------------------
SELECT t, t::refcode AS code, t::refcode::text = t AS round_trip, length(t) - 1 AS data_digits
  FROM unnest(ARRAY['00', '12', 'ZV', '000', 'ABV', '00ABV', '01ABK', '7K3QM', 'N1CEP',
                    '7K3QX9M2R', 'PXHQ4M9TC', '0000000000000', 'ZZZZZZZZZZZZR']) t;
-- text <-> refcode casts go through the I/O functions
SELECT '7K3QX9M2R'::text::refcode AS from_text, pg_typeof('7K3QX9M2R'::refcode::text) AS to_text;

-- ---------------------------------------------------------------------------
-- Input normalisation: case, hyphens, O -> 0, I and L -> 1
-- ---------------------------------------------------------------------------
SELECT t, t::refcode AS code, t::refcode = '7K3QX9M2R' AS same
  FROM unnest(ARRAY['7k3qx9m2r', '7K3Q-X9M2-R', '7k3q-x9m2r', '-7-K-3-Q-X-9-M-2-R-', '--7K3QX9M2R--']) t;
SELECT t, t::refcode AS code, t::refcode = '01ABK' AS same
  FROM unnest(ARRAY['O1ABK', 'oIABK', 'OLabk', 'o-l-a-b-k', '0iABK']) t;
-- hyphens do not count toward the length
SELECT '0-0'::refcode AS shortest, 'ZZZ-ZZZ-ZZZ-ZZZ-R'::refcode AS longest;

-- ---------------------------------------------------------------------------
-- Leading zeros are significant: the digit count is part of the code
-- ---------------------------------------------------------------------------
SELECT 'ABV'::refcode = '00ABV'::refcode AS same_code, 'ABV'::refcode < '00ABV'::refcode AS shorter_first;
-- (so a dropped or added leading zero gives another valid code: the check
-- character does not cover the digit count, see docs/refcode.md)
SELECT refcode_is_valid('ABV') AND refcode_is_valid('0ABV') AND refcode_is_valid('00ABV') AS all_valid;

-- ---------------------------------------------------------------------------
-- Errors: 22P02 with the reason in DETAIL
-- ---------------------------------------------------------------------------
-- a mistyped character
SELECT '7K3QX9N2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- two adjacent characters swapped
SELECT '7K3QX9M2R'::refcode AS good, refcode_is_valid('7K3QX92MR') AS swapped_ok;
SELECT '7K3QX92MR'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- the last data digit swapped with the check character
SELECT '7K3QX9MR2'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- U is not in the alphabet
SELECT '7K3QU9M2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT 'u7K3QX9M2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- other characters: punctuation, space, control, non-ASCII
SELECT '7K3Q*X9M2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT '7K3Q X9M2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT ' 7K3QX9M2R'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT E'7K3QX9M2R\t'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- (a non-ASCII character is named in DETAIL; only its position is shown
-- here, so that the output does not depend on the database encoding)
SELECT refcode_error('7K3Q-X9M2-É') LIKE 'The character "%" at position 11 is not allowed: %' AS names_position;
-- wrong lengths
SELECT ''::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT '---'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT '0'::refcode;
\echo :LAST_ERROR_SQLSTATE
SELECT '00000000000000'::refcode;
\echo :LAST_ERROR_SQLSTATE
-- an error inside a table insert names the column's input
CREATE TEMP TABLE member_codes (code refcode PRIMARY KEY);
INSERT INTO member_codes VALUES ('7K3QX9M2R'), ('7K3QX9M2X');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- refcode_is_valid / refcode_error: the same verdict without an error
-- ---------------------------------------------------------------------------
SELECT t, refcode_is_valid(t) AS valid, refcode_error(t) AS error
  FROM unnest(ARRAY['7K3QX9M2R', '7k3q-x9m2-r', '7K3QX9N2R', '7K3QX92MR', '7K3QU9M2R', '7K3Q.X9M2R',
                    '', '0', '00', '00000000000000', 'ZZZZZZZZZZZZR', NULL]) t;
-- they agree with the input function on every one of these
CREATE FUNCTION pg_temp.input_verdict(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM t::affiliate.refcode;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT count(*) AS inputs,
       count(*) FILTER (WHERE (pg_temp.input_verdict(t) = 'accepted') = refcode_is_valid(t)) AS agree,
       count(*) FILTER (WHERE pg_temp.input_verdict(t) NOT IN ('accepted', '22P02')) AS other_sqlstate
  FROM unnest(ARRAY['7K3QX9M2R', '7k3q-x9m2-r', '7K3QX9N2R', '7K3QX92MR', '7K3QU9M2R', '7K3Q.X9M2R',
                    '', '0', '00', '00000000000000', 'ZZZZZZZZZZZZR', 'é']) t;

-- ---------------------------------------------------------------------------
-- Binary form: 8 bytes, big-endian (top 4 bits: digit count)
-- ---------------------------------------------------------------------------
SELECT t, refcode_send(t::refcode) AS bytes
  FROM unnest(ARRAY['00', 'ZV', '00ABV', '7K3QX9M2R', 'ZZZZZZZZZZZZR']) t;
CREATE TEMP TABLE bin_out (code refcode);
INSERT INTO bin_out SELECT t::refcode FROM unnest(ARRAY['00', 'ZV', '00ABV', '7K3QX9M2R', 'ZZZZZZZZZZZZR']) t;
SELECT current_setting('data_directory') || '/refcode_regress.bin' AS binfile \gset
COPY bin_out TO :'binfile' (FORMAT binary);
CREATE TEMP TABLE bin_in (code refcode);
COPY bin_in FROM :'binfile' (FORMAT binary);
SELECT code FROM bin_in ORDER BY code;
SELECT (SELECT array_agg(code ORDER BY code) FROM bin_in) = (SELECT array_agg(code ORDER BY code) FROM bin_out)
       AS binary_round_trip;
-- refcode_recv checks the layout: int8 has the same 8-byte binary form
CREATE TEMP TABLE raw (v bigint);
INSERT INTO raw VALUES ((1::bigint << 60) | 31);
COPY raw TO :'binfile' (FORMAT binary);
COPY bin_in FROM :'binfile' (FORMAT binary);
SELECT code FROM bin_in WHERE code = 'ZV';
-- digit count 0
TRUNCATE raw;
INSERT INTO raw VALUES (5);
COPY raw TO :'binfile' (FORMAT binary);
COPY bin_in FROM :'binfile' (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE
-- digit count 13
TRUNCATE raw;
INSERT INTO raw VALUES ((13::bigint << 60) | 5);
COPY raw TO :'binfile' (FORMAT binary);
COPY bin_in FROM :'binfile' (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE
-- 2 digits, value 32^2 = 1024 (too big)
TRUNCATE raw;
INSERT INTO raw VALUES ((2::bigint << 60) | 1024);
COPY raw TO :'binfile' (FORMAT binary);
COPY bin_in FROM :'binfile' (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------------------
-- Comparison: by digit count, then value (unsigned: 8+ digits set the top bit)
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE some_codes (code refcode);
INSERT INTO some_codes SELECT t::refcode
  FROM unnest(ARRAY['ZZZZZZZZZZZZR', '0000000000000', '7K3QX9M2R', 'PXHQ4M9TC', '10000000D', 'ZZZZZZZC',
                    '00000000', 'ZV', '12', '00', '00ABV', 'ABV', '01ABK', '7K3QM']) t;
SELECT row_number() OVER (ORDER BY code) AS n, code, length(code::text) - 1 AS data_digits FROM some_codes ORDER BY code;
SELECT a.code AS a, b.code AS b, a.code < b.code AS lt, a.code <= b.code AS le, a.code = b.code AS eq,
       a.code <> b.code AS ne, a.code >= b.code AS ge, a.code > b.code AS gt, refcode_cmp(a.code, b.code) AS cmp
  FROM (VALUES ('ZZZZZZZC'::refcode, '00000000'::refcode), ('00000000', 'ZZZZZZZC'), ('7K3QX9M2R', '7k3q-x9m2-r'),
               ('PXHQ4M9TC', '7K3QX9M2R'), ('ZZZZZZZZZZZZR', '0000000000000')) v(a, b),
       LATERAL (SELECT v.a AS code) a, LATERAL (SELECT v.b AS code) b;
SELECT (SELECT code FROM some_codes ORDER BY code LIMIT 1) AS first,
       (SELECT code FROM some_codes ORDER BY code DESC LIMIT 1) AS last;
-- operators can be named explicitly without affiliate on the search path
SET search_path = public;
SELECT '7K3QX9M2R'::affiliate.refcode OPERATOR(affiliate.=) '7k3q-x9m2-r' AS eq,
       '00'::affiliate.refcode OPERATOR(affiliate.<) 'ZV' AS lt;
SET search_path = affiliate, public;

-- ---------------------------------------------------------------------------
-- Indexes, sorts and joins
-- ---------------------------------------------------------------------------
-- plan_has(query, key, value): the query's plan has a node with "key": "value"
CREATE FUNCTION pg_temp.plan_has(query text, key text, value text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    plan text;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON, COSTS OFF) ' || query INTO plan;
    RETURN plan LIKE '%"' || key || '": "' || value || '"%';
END
$$;
-- 10,000 distinct codes of 4..12 digits: the low 4 digits are i * 7919
-- mod 32^4 (distinct), the higher digits a deterministic filler
CREATE TEMP TABLE many AS
SELECT i, pg_temp.with_check(string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ',
           CASE WHEN k < 4 THEN ((i * 7919) >> (5 * k)) % 32 ELSE (i * 40503 + k * 977) % 32 END + 1, 1), ''
           ORDER BY k DESC))::refcode AS code
  FROM generate_series(1, 10000) i, generate_series(0, 11) k
 WHERE k < 4 + i % 9
 GROUP BY i;
SELECT count(*) AS codes, count(DISTINCT code) AS distinct_codes FROM many;
VACUUM ANALYZE many;
-- btree: unique index, index scans, ordered output
CREATE UNIQUE INDEX many_code ON many (code);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.plan_has($$SELECT i FROM many WHERE code = '7K3QX9M2R'$$, 'Node Type', 'Index Scan') AS index_scan,
       pg_temp.plan_has($$SELECT i FROM many WHERE code = '7K3QX9M2R'$$, 'Index Name', 'many_code') AS btree_index;
SELECT i, code FROM many WHERE code = (SELECT code FROM many WHERE i = 4242);
-- a range: the 4-digit codes that start with 0; the index finds the same
-- rows as a test on the text form
SELECT pg_temp.plan_has($$SELECT code FROM many WHERE code BETWEEN '00000' AND '0ZZZB' ORDER BY code$$,
                        'Node Type', 'Index Only Scan') AS index_only_scan;
SELECT count(*) AS in_range, min(code::text) AS first, max(code::text) AS last,
       count(*) = (SELECT count(*) FROM many WHERE code::text ~ '^0....$') AS same_as_text_test
  FROM many WHERE code BETWEEN '00000' AND '0ZZZB';
SELECT pg_temp.plan_has($$SELECT code FROM many ORDER BY code$$, 'Node Type', 'Index Only Scan') AS ordered_by_index;
CREATE TEMP TABLE by_index AS SELECT row_number() OVER () AS n, code FROM (SELECT code FROM many ORDER BY code) s;
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.plan_has($$SELECT code FROM many ORDER BY code$$, 'Node Type', 'Sort') AS sorted_by_tuplesort;
CREATE TEMP TABLE by_sort AS SELECT row_number() OVER () AS n, code FROM (SELECT code FROM many ORDER BY code) s;
-- the index order, the sort order and the (digit count, text) order agree
SELECT count(*) AS rows,
       count(*) FILTER (WHERE x.code = y.code) AS same_position
  FROM by_index x JOIN by_sort y USING (n);
SELECT bool_and(prev IS NULL OR (length(prev::text), prev::text) < (length(code::text), code::text)) AS order_is_digits_then_value
  FROM (SELECT code, lag(code) OVER (ORDER BY code) AS prev FROM many) s;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
-- a duplicate, however it is spelled, violates the unique index
INSERT INTO many VALUES (0, '7k3q-x9m2-r'), (-1, '7K3QX9M2R');
\echo :LAST_ERROR_SQLSTATE
-- hash index
CREATE INDEX many_code_hash ON many USING hash (code);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexscan = on;
DROP INDEX many_code;
SELECT pg_temp.plan_has($$SELECT i FROM many WHERE code = '7K3QX9M2R'$$, 'Node Type', 'Index Scan') AS index_scan,
       pg_temp.plan_has($$SELECT i FROM many WHERE code = '7K3QX9M2R'$$, 'Index Name', 'many_code_hash') AS hash_index;
SELECT i, code FROM many WHERE code = (SELECT code FROM many WHERE i = 4242);
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;
-- hash join, merge join and nested loop give the same result
CREATE TEMP TABLE probe AS SELECT code, i % 7 AS bucket FROM many WHERE i % 3 = 0
UNION ALL SELECT t::refcode, -1 FROM unnest(ARRAY['00', 'ZV', 'ABV']) t;
ANALYZE probe;
SET enable_mergejoin = off;
SET enable_nestloop = off;
SELECT pg_temp.plan_has($$SELECT count(*) FROM many JOIN probe USING (code)$$, 'Node Type', 'Hash Join') AS hash_join;
SELECT count(*) AS matched, sum(i) AS sum_i FROM many JOIN probe USING (code);
RESET enable_mergejoin;
SET enable_hashjoin = off;
SELECT pg_temp.plan_has($$SELECT count(*) FROM many JOIN probe USING (code)$$, 'Node Type', 'Merge Join') AS merge_join;
SELECT count(*) AS matched, sum(i) AS sum_i FROM many JOIN probe USING (code);
RESET enable_nestloop;
RESET enable_hashjoin;
-- hash aggregate
SET enable_sort = off;
SELECT pg_temp.plan_has($$SELECT code, count(*) FROM (SELECT code FROM probe UNION ALL SELECT code FROM probe) s GROUP BY code$$,
                        'Strategy', 'Hashed') AS group_by_hash,
       pg_temp.plan_has($$SELECT DISTINCT code FROM probe$$, 'Strategy', 'Hashed') AS distinct_by_hash;
SELECT count(*) AS groups, max(n) AS max_per_group
  FROM (SELECT code, count(*) AS n FROM (SELECT code FROM probe UNION ALL SELECT code FROM probe) s GROUP BY code) g;
RESET enable_sort;
-- the hash functions agree with equality, and the 64-bit hash with seed 0
-- has the 32-bit hash in its low half (required by hash indexes)
SELECT refcode_hash('7K3QX9M2R') = refcode_hash('7k3q-x9m2-r') AS same_hash,
       refcode_hash_extended('7K3QX9M2R', 42) = refcode_hash_extended('7k3q-x9m2-r', 42) AS same_extended,
       refcode_hash_extended('7K3QX9M2R', 0) <> refcode_hash_extended('7K3QX9M2R', 1) AS seed_matters;
SELECT count(*) AS codes,
       count(*) FILTER (WHERE (refcode_hash_extended(code, 0) & 4294967295) = (refcode_hash(code)::bigint & 4294967295))
           AS low_half_matches,
       count(DISTINCT refcode_hash(code)) > 9990 AS few_collisions
  FROM many;

-- ---------------------------------------------------------------------------
-- new_refcode(): libsodium's CSPRNG, 4..12 data digits (default 8)
-- ---------------------------------------------------------------------------
SELECT new_refcode()::text ~ '^[0-9A-HJKMNP-TV-Z]{9}$' AS default_shape;
SELECT d AS digits, length(new_refcode(d)::text) AS length, refcode_is_valid(new_refcode(d)::text) AS valid
  FROM generate_series(4, 12) d;
SELECT new_refcode(3);
\echo :LAST_ERROR_SQLSTATE
SELECT new_refcode(13);
\echo :LAST_ERROR_SQLSTATE
SELECT new_refcode(NULL);
\echo :LAST_ERROR_SQLSTATE
-- distinct over many draws (60 and 40 random bits: a collision is
-- practically impossible here)
SELECT count(*) AS draws, count(DISTINCT c) AS distinct_codes FROM (SELECT new_refcode(12) AS c FROM generate_series(1, 20000)) s;
SELECT count(*) AS draws, count(DISTINCT c) AS distinct_codes FROM (SELECT new_refcode(8) AS c FROM generate_series(1, 2000)) s;
-- every symbol appears at every position, leading zeros included
SELECT count(DISTINCT (p, substr(c, p, 1))) AS position_symbol_pairs, 5 * 32 AS expected
  FROM (SELECT new_refcode(4)::text AS c FROM generate_series(1, 20000)) s, generate_series(1, 5) p;
-- volatile: one new code per row
SELECT count(DISTINCT new_refcode()) > 1 AS differs_per_row FROM generate_series(1, 10);

-- ---------------------------------------------------------------------------
-- Error detection, exhaustively over two samples of 1,000 codes each:
-- every single-character substitution (each position, the check character
-- included, by each of the 31 other symbols) and every adjacent
-- transposition of two different characters must be rejected.
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.substitutions(code text) RETURNS TABLE (variant text) LANGUAGE sql AS $$
    SELECT overlay(code PLACING a.s FROM p FOR 1)
      FROM generate_series(1, length(code)) p, alphabet a
     WHERE a.s <> substr(code, p, 1)
$$;
CREATE FUNCTION pg_temp.transpositions(code text) RETURNS TABLE (variant text) LANGUAGE sql AS $$
    SELECT substr(code, 1, p - 1) || substr(code, p + 1, 1) || substr(code, p, 1) || substr(code, p + 2)
      FROM generate_series(1, length(code) - 1) p
     WHERE substr(code, p, 1) <> substr(code, p + 1, 1)
$$;
-- sample 1: deterministic codes, 4..12 data digits from md5 bytes
CREATE TEMP TABLE det AS
SELECT i, string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', get_byte(decode(md5('refcode ' || i), 'hex'), k) % 32 + 1, 1), ''
                     ORDER BY k) AS data
  FROM generate_series(1, 1000) i, generate_series(0, 15) k
 WHERE k < 4 + i % 9
 GROUP BY i;
-- exactly one of the 32 symbols completes each data string
SELECT count(*) AS data_strings, count(*) FILTER (WHERE n = 1) AS exactly_one_check_character
  FROM (SELECT d.i, count(*) AS n FROM det d, alphabet a WHERE refcode_is_valid(d.data || a.s) GROUP BY d.i) s;
ALTER TABLE det ADD COLUMN code text;
UPDATE det SET code = pg_temp.with_check(data);
SELECT min(length(data)) AS min_digits, max(length(data)) AS max_digits, sum(length(code)) AS characters FROM det;
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM det, pg_temp.substitutions(det.code);
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM det, pg_temp.transpositions(det.code);
-- the transpositions include the last data digit with the check character
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM det, LATERAL (SELECT left(code, -2) || right(code, 1) || substr(code, length(code) - 1, 1) AS variant) v
 WHERE right(code, 1) <> substr(code, length(code) - 1, 1);
-- (so are swaps of two characters one apart, ABC -> CBA)
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM det, generate_series(1, length(code) - 2) p,
       LATERAL (SELECT substr(code, 1, p - 1) || substr(code, p + 2, 1) || substr(code, p + 1, 1)
                       || substr(code, p, 1) || substr(code, p + 3) AS variant) v
 WHERE substr(code, p, 1) <> substr(code, p + 2, 1);
-- the type's input function refuses them too, with 22P02 (first 50 codes)
SELECT pg_temp.input_verdict(variant) AS verdict, count(*) AS variants
  FROM (SELECT variant FROM det, pg_temp.substitutions(det.code) WHERE i <= 50
        UNION ALL SELECT variant FROM det, pg_temp.transpositions(det.code) WHERE i <= 50) v
 GROUP BY 1;
-- sample 2: new_refcode() codes, 4..12 data digits
CREATE TEMP TABLE rnd AS SELECT i, new_refcode(4 + i % 9)::text AS code FROM generate_series(1, 1000) i;
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM rnd, pg_temp.substitutions(rnd.code);
SELECT count(*) > 6000 AS tried_many, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM rnd, pg_temp.transpositions(rnd.code);
-- The checker notices acceptance: every original code is valid, and so is
-- every "substitution" of a character by itself ...
SELECT count(*) FILTER (WHERE refcode_is_valid(code)) AS originals_valid,
       count(*) FILTER (WHERE refcode_is_valid(lower(code))) AS lower_case_valid
  FROM (SELECT code FROM det UNION ALL SELECT code FROM rnd) s;
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(overlay(code PLACING substr(code, p, 1) FROM p FOR 1)))
       AS accepted
  FROM det, generate_series(1, length(code)) p;
-- ... and two wrong characters side by side slip through exactly when the
-- second error is a times the first (31 of the 961 pairs at each place)
SELECT count(*) AS tried, count(*) FILTER (WHERE refcode_is_valid(variant)) AS accepted
  FROM (SELECT code FROM det WHERE i <= 100 UNION ALL SELECT code FROM rnd WHERE i <= 100) s,
       alphabet a1, alphabet a2,
       LATERAL (SELECT overlay(code PLACING a1.s || a2.s FROM 1 FOR 2) AS variant) v
 WHERE a1.s <> substr(code, 1, 1) AND a2.s <> substr(code, 2, 1);

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; affiliate_operator may use the type
-- ---------------------------------------------------------------------------
SELECT count(*) FILTER (WHERE has_function_privilege('affiliate_operator', p.oid, 'EXECUTE')) AS admin_may_execute,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM aclexplode(p.proacl) x WHERE x.grantee = 0)) AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'affiliate'::regnamespace AND p.proname ~ 'refcode';
SELECT has_type_privilege('affiliate_operator', 'affiliate.refcode', 'USAGE') AS admin_usage,
       EXISTS (SELECT 1 FROM pg_type t, aclexplode(t.typacl) x
                WHERE t.oid = 'affiliate.refcode'::regtype AND x.grantee = 0) AS public_usage;
SET ROLE affiliate_operator;
SELECT '7K3QX9M2R'::refcode = '7k3q-x9m2-r' AS eq, '00'::refcode < 'ZV' AS lt,
       refcode_is_valid('7K3QX9M2R') AS valid, refcode_error('7K3QX9M2X') IS NOT NULL AS has_error,
       new_refcode(6) IS NOT NULL AS generated;
RESET ROLE;
