-- The upgrade paths: install 0.1.0 (its frozen script), load 0.1.0 data,
-- update to 0.2.0, check the data and verify(), load 0.2.0 data, update to
-- 0.3.0 and use the wallet on the old data; then compare every object of the
-- updated extension with a fresh install (and with 0.2.0 + update): all
-- paths must give the same catalog.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate VERSION '0.1.0';
RESET client_min_messages;
\set VERBOSITY default

-- 0.1.0 data: a program, journals naming members 1 and 2
SELECT affiliate.create_program('Old shop', 'INR') AS p \gset
SELECT affiliate.post_journal(:p, 'conversion',
    '[{"kind": "commission_expense", "amount": -3700}, {"member": 1, "kind": "pending", "amount": 2800}, {"member": 2, "kind": "pending", "amount": 900}]',
    'order-1') IS NOT NULL AS posted;

ALTER EXTENSION pg_affiliate UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'pg_affiliate';

-- the members the old journals named exist now, and new members follow them
SELECT id, external_id, affiliate.refcode_is_valid(code::text) AS has_code FROM affiliate.member ORDER BY id;
SELECT affiliate.add_member(:p, 'new member') AS m \gset
SELECT :m > 2 AS after_legacy_ids;
SELECT member_id, kind, balance FROM affiliate.account_balances WHERE program_id = :p AND balance <> 0 ORDER BY 1, 2;
-- the 0.2.0 engines work on the upgraded schema
SELECT affiliate.set_plan(:p, 'plan', '{1000}', 'amount') IS NOT NULL AS plan;
SELECT affiliate.add_member(:p, 'buyer', (SELECT code::text FROM affiliate.member WHERE id = :m)) AS buyer \gset
SELECT level, amount FROM affiliate.record_conversion(:p, 'order-2', :buyer, 5000);
-- verify() checks the commission invariants; the 0.1.0 postings to pending
-- accounts (no commission rows behind them) are reported, as they should be
SELECT invariant FROM affiliate.verify(:p) ORDER BY 1;

-- 0.2.0 data: the commission is released, then the update to 0.3.0
SELECT affiliate.release_due(now() + interval '2 days');
ALTER EXTENSION pg_affiliate UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'pg_affiliate';
-- the wallet works on the old data
SELECT * FROM affiliate.balance(:p, :m);
SELECT affiliate.request_withdrawal(:p, :m, 300, 'upi', 'old@upi') AS w \gset
SELECT status, amount, destination_masked FROM affiliate.approve_withdrawal(:p, :w);
SELECT * FROM affiliate.balance(:p, :m);
SELECT kind, amount, available_balance, withdrawing_balance FROM affiliate.wallet_transactions(:p, :m);
-- the same invariants fail as before the update, and no new ones
SELECT invariant FROM affiliate.verify(:p) ORDER BY 1;

-- 0.3.0 -> 0.4.0: the HTTP API; over it the member cancels a new request
ALTER EXTENSION pg_affiliate UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_affiliate';
SELECT affiliate.request_withdrawal(:p, :m, 100, 'upi', 'old@upi') AS w2 \gset
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims', json_build_object('program', :p, 'sub', 'new member')::text, true);
SELECT status FROM affiliate_api.cancel_withdrawal(:w2);
SELECT * FROM affiliate_api.my_balance();
COMMIT;
SELECT invariant FROM affiliate.verify(:p) ORDER BY 1;

-- the catalog of the extension's objects, as text
CREATE TEMP TABLE snapshot (path text, item text);
CREATE FUNCTION pg_temp.snap(path text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO snapshot
    -- every member object of the extension
    SELECT path, pg_describe_object(d.classid, d.objid, 0)
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_affiliate' AND d.deptype = 'e'
    UNION ALL
    -- functions: definition, config, security, privileges
    SELECT path, p.oid::regprocedure::text || ' ' || pg_get_functiondef(p.oid)
                 || coalesce(array_to_string(p.proacl, ','), '')
      FROM pg_proc p WHERE p.pronamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace)
       AND p.prokind <> 'a'
    UNION ALL
    -- columns
    SELECT path, c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                 || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                 || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
                 || coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
     WHERE c.relnamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace)
       AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    -- constraints and indexes
    SELECT path, conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'affiliate'::regnamespace
    UNION ALL
    SELECT path, pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE c.relnamespace = 'affiliate'::regnamespace
    UNION ALL
    -- privileges of tables, views, sequences and types
    SELECT path, c.relnamespace::regnamespace || '.' || c.relname || ' acl ' || coalesce(array_to_string(c.relacl, ','), '')
                 || ' rls ' || c.relrowsecurity || coalesce(' ' || array_to_string(c.reloptions, ','), '')
      FROM pg_class c WHERE c.relnamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace)
       AND c.relkind IN ('r', 'v', 'S')
    UNION ALL
    -- views and row-level security policies
    SELECT path, c.relname || ' view ' || pg_get_viewdef(c.oid)
      FROM pg_class c WHERE c.relnamespace = 'affiliate_api'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT path, format('policy %s on %s to %s for %s using %s', p.policyname, p.tablename, p.roles, p.cmd, p.qual)
      FROM pg_policies p WHERE p.schemaname = 'affiliate'
    UNION ALL
    SELECT path, n.nspname || ' acl ' || coalesce(array_to_string(n.nspacl, ','), '')
      FROM pg_namespace n WHERE n.nspname IN ('affiliate', 'affiliate_api')
    UNION ALL
    SELECT path, t.typname || ' acl ' || coalesce(array_to_string(t.typacl, ','), '')
      FROM pg_type t WHERE t.typnamespace = 'affiliate'::regnamespace
    UNION ALL
    -- what pg_dump dumps of the extension's tables and sequences
    -- (pg_extension_config_dump: the relation and its filter)
    SELECT path, 'config dump ' || c.rel::regclass::text || coalesce(' ' || nullif(c.filter, ''), '')
      FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) AS c(rel, filter)
     WHERE e.extname = 'pg_affiliate'
    UNION ALL
    -- triggers and operators
    SELECT path, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'affiliate'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT path, o.oid::regoperator::text || ' ' || o.oprcode::text || ' ' || o.oprrest::text
      FROM pg_operator o WHERE o.oprnamespace = 'affiliate'::regnamespace
$$;
SELECT pg_temp.snap('upgraded');

SET client_min_messages = warning;
DROP EXTENSION pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
SELECT pg_temp.snap('fresh');
-- every table and sequence of the extension is registered for pg_dump (a
-- table left out would be missing from every backup)
SELECT c.oid::regclass AS "not dumped by pg_dump"
  FROM pg_class c
 WHERE c.relnamespace = 'affiliate'::regnamespace AND c.relkind IN ('r', 'p', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'pg_affiliate')::oid[])
 ORDER BY 1;

-- the direct 0.2.0 -> 0.3.0 -> 0.4.0 -> 0.5.0 -> 0.6.0 path gives the same catalog as well
SET client_min_messages = warning;
DROP EXTENSION pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate VERSION '0.2.0';
ALTER EXTENSION pg_affiliate UPDATE;
RESET client_min_messages;
SELECT pg_temp.snap('from 0.2.0');
(SELECT 'only after update from 0.2.0' AS "where", item FROM snapshot WHERE path = 'from 0.2.0'
 EXCEPT ALL SELECT 'only after update from 0.2.0', item FROM snapshot WHERE path = 'fresh')
UNION ALL
(SELECT 'only in fresh install', item FROM snapshot WHERE path = 'fresh'
 EXCEPT ALL SELECT 'only in fresh install', item FROM snapshot WHERE path = 'from 0.2.0')
ORDER BY 1, 2;

-- and so does the update of 0.4.0
SET client_min_messages = warning;
DROP EXTENSION pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate VERSION '0.4.0';
ALTER EXTENSION pg_affiliate UPDATE;
RESET client_min_messages;
SELECT pg_temp.snap('from 0.4.0');
(SELECT 'only after update from 0.4.0' AS "where", item FROM snapshot WHERE path = 'from 0.4.0'
 EXCEPT ALL SELECT 'only after update from 0.4.0', item FROM snapshot WHERE path = 'fresh')
UNION ALL
(SELECT 'only in fresh install', item FROM snapshot WHERE path = 'fresh'
 EXCEPT ALL SELECT 'only in fresh install', item FROM snapshot WHERE path = 'from 0.4.0')
ORDER BY 1, 2;

-- and so does the update of the last release, 0.5.0
SET client_min_messages = warning;
DROP EXTENSION pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate VERSION '0.5.0';
ALTER EXTENSION pg_affiliate UPDATE;
RESET client_min_messages;
SELECT pg_temp.snap('from 0.5.0');
(SELECT 'only after update from 0.5.0' AS "where", item FROM snapshot WHERE path = 'from 0.5.0'
 EXCEPT ALL SELECT 'only after update from 0.5.0', item FROM snapshot WHERE path = 'fresh')
UNION ALL
(SELECT 'only in fresh install', item FROM snapshot WHERE path = 'fresh'
 EXCEPT ALL SELECT 'only in fresh install', item FROM snapshot WHERE path = 'from 0.5.0')
ORDER BY 1, 2;

SELECT count(*) > 200 AS many_items FROM snapshot WHERE path = 'fresh';
-- differences between the two paths: none
(SELECT 'only after upgrade' AS "where", item FROM snapshot WHERE path = 'upgraded'
 EXCEPT ALL SELECT 'only after upgrade', item FROM snapshot WHERE path = 'fresh')
UNION ALL
(SELECT 'only in fresh install', item FROM snapshot WHERE path = 'fresh'
 EXCEPT ALL SELECT 'only in fresh install', item FROM snapshot WHERE path = 'upgraded')
ORDER BY 1, 2;

-- Between installing the new library and ALTER EXTENSION UPDATE, a database
-- still at 0.3.0 has no triggers that invalidate the per-backend cache of
-- settings and plans: nothing may be cached, so a new plan and new settings
-- apply to the very next conversion.
DROP EXTENSION pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate VERSION '0.3.0';
SET client_min_messages = warning;
SELECT affiliate.create_program('cache window', 'INR') AS cp \gset
SELECT count(*) FROM (SELECT affiliate.add_member(:cp, 'a')) x;
SELECT count(*) FROM (SELECT affiliate.add_member(:cp, 'b', (SELECT code::text FROM affiliate.member WHERE external_id = 'a'))) x;
SELECT count(*) FROM (SELECT affiliate.set_plan(:cp, 'ten', '{1000}', 'amount')) x;
SELECT amount AS ten_percent FROM affiliate.record_conversion(:cp, 'o1', (SELECT id FROM affiliate.member WHERE external_id = 'b'), 1000);
SELECT count(*) FROM (SELECT affiliate.set_plan(:cp, 'twenty', '{2000}', 'amount')) x;
SELECT amount AS twenty_percent FROM affiliate.record_conversion(:cp, 'o2', (SELECT id FROM affiliate.member WHERE external_id = 'b'), 1000);
SELECT count(*) FROM (SELECT affiliate.update_program_settings(:cp, '{"hold_period": "0 hours"}')) x;
SELECT hold_until <= now() AS no_hold FROM affiliate.record_conversion(:cp, 'o3', (SELECT id FROM affiliate.member WHERE external_id = 'b'), 1000);
-- after the update the cache is used, and still follows changes
ALTER EXTENSION pg_affiliate UPDATE;
SELECT amount AS twenty_percent FROM affiliate.record_conversion(:cp, 'o4', (SELECT id FROM affiliate.member WHERE external_id = 'b'), 1000);
SELECT count(*) FROM (SELECT affiliate.set_plan(:cp, 'thirty', '{3000}', 'amount')) x;
SELECT amount AS thirty_percent FROM affiliate.record_conversion(:cp, 'o5', (SELECT id FROM affiliate.member WHERE external_id = 'b'), 1000);
RESET client_min_messages;
