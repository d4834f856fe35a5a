-- The threat list of docs/security.md, where api.sql and schema.sql do not
-- already prove it: SECURITY DEFINER functions and whose program they act
-- on, the program secrets (no reader, no writer, no function that returns
-- them), superuser-only settings, views over row-level security only, a
-- member's and an admin's reach through every view, who may write the
-- tables (the audit log included), the code space, and the client address.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(54);

-- ===========================================================================
-- SECURITY DEFINER functions
-- ===========================================================================
SELECT is_empty($$
    SELECT p.oid::regprocedure::text || ' ' || coalesce(array_to_string(p.proconfig, ','), '(no SET)')
      FROM pg_proc p
     WHERE p.pronamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace) AND p.prosecdef
       AND p.proconfig IS DISTINCT FROM CASE WHEN p.pronamespace = 'affiliate_api'::regnamespace
                                             THEN ARRAY['search_path=""']
                                             ELSE ARRAY['search_path=pg_catalog, pg_temp'] END
$$, 'every SECURITY DEFINER function pins search_path: pg_catalog then pg_temp (affiliate), empty (affiliate_api)');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text || ' owned by ' || p.proowner::regrole::text
      FROM pg_proc p
     WHERE p.pronamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace)
       AND p.proowner <> (SELECT extowner FROM pg_extension WHERE extname = 'pg_affiliate')
$$, 'every function of affiliate and affiliate_api belongs to the extension''s owner');
-- an HTTP function acts on the program of the JWT, never on one named by
-- its caller: every call into a program-scoped engine (program_id first)
-- passes affiliate.claimed_program() (or a variable assigned from it).
-- The exceptions: record_click (anonymous, the program is in the landing
-- page's URL by design) and me() (team_size of the member row it selected
-- under the claimed program).
SELECT is_empty($$
    SELECT p.proname || ' calls affiliate.' || m[1] || '(' || m[2] || ', ...)'
      FROM pg_proc p
     CROSS JOIN LATERAL regexp_matches(p.prosrc, 'affiliate\.([a-z_]+)\(\s*([^,)]*\)?)', 'g') m
     WHERE p.pronamespace = 'affiliate_api'::regnamespace
       AND EXISTS (SELECT 1 FROM pg_proc t
                    WHERE t.pronamespace = 'affiliate'::regnamespace AND t.proname = m[1]
                      AND t.proargnames[1] = 'program_id')
       AND NOT (m[2] = 'affiliate.claimed_program()'
                OR (m[2] = 'prog' AND p.prosrc ~ 'prog := affiliate\.claimed_program\(\);'))
       AND (p.proname::text, m[1]) NOT IN (('record_click', 'record_click'), ('me', 'team_size'))
$$, 'every affiliate_api call into a program-scoped function passes the claimed program');
SELECT ok((SELECT count(*) FROM pg_proc p
                  CROSS JOIN LATERAL regexp_matches(p.prosrc, 'affiliate\.([a-z_]+)\(\s*affiliate\.claimed_program\(\)', 'g') m
            WHERE p.pronamespace = 'affiliate_api'::regnamespace) >= 20,
          '(the check above saw the calls: at least 20 pass affiliate.claimed_program())');
SELECT is(ARRAY(SELECT DISTINCT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'affiliate_api'::regnamespace AND 'program_id' = ANY (p.proargnames)
                 ORDER BY 1),
          ARRAY['lookup_code', 'promo_offer', 'record_click'],
          'no affiliate_api function takes a program_id but the anonymous landing-page calls');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text || ' ' || a.name
      FROM pg_proc p
     CROSS JOIN LATERAL unnest(p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[cardinality(p.proargnames)])))
                        AS a(name, mode)
     WHERE p.pronamespace = 'affiliate_api'::regnamespace
       AND has_function_privilege('affiliate_member', p.oid, 'EXECUTE')
       AND a.mode IN ('i', 'b') AND a.name ~ '(^|_)(member|buyer|beneficiary|sponsor)_id$'
$$, 'no function a member may call takes a member id: the member is the JWT''s');

-- ===========================================================================
-- Program secrets: the keys of the keyed hashes
-- ===========================================================================
SELECT affiliate.create_program('sec A', 'INR') AS pa \gset
SELECT affiliate.create_program('sec B', 'INR') AS pb \gset
SELECT affiliate.add_member(:pa, 'root', NULL, 'dev-root', '192.0.2.1') AS a_root \gset
SELECT code::text AS a_root_code FROM affiliate.member WHERE program_id = :pa AND id = :a_root \gset
SELECT affiliate.add_member(:pa, 'alice', :'a_root_code', 'dev-alice') AS a_alice \gset
SELECT code::text AS a_alice_code FROM affiliate.member WHERE program_id = :pa AND id = :a_alice \gset
SELECT affiliate.add_member(:pa, 'carol', :'a_alice_code') AS a_carol \gset
SELECT affiliate.add_member(:pb, 'xena', NULL, 'dev-xena') AS b_xena \gset
SELECT code::text AS b_xena_code FROM affiliate.member WHERE program_id = :pb AND id = :b_xena \gset
SELECT affiliate.add_member(:pb, 'alice', :'b_xena_code') AS b_alice \gset

SELECT is_empty($$
    SELECT r.rolname FROM pg_roles r
     WHERE NOT r.rolsuper AND r.rolname !~ '^pg_'
       AND r.oid <> (SELECT extowner FROM pg_extension WHERE extname = 'pg_affiliate')
       AND (has_table_privilege(r.oid, 'affiliate.program_secret', 'SELECT')
            OR has_any_column_privilege(r.oid, 'affiliate.program_secret', 'SELECT'))
$$, 'no role but superusers and the extension''s owner may select program_secret or any column of it');
SELECT is_empty($$
    SELECT r.rolname || ' ' || p.priv FROM pg_roles r
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
     WHERE NOT r.rolsuper AND r.rolname !~ '^pg_'
       AND r.oid <> (SELECT extowner FROM pg_extension WHERE extname = 'pg_affiliate')
       AND has_table_privilege(r.oid, 'affiliate.program_secret', p.priv)
$$, 'no role but superusers and the extension''s owner may write program_secret (nobody plants a key)');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'affiliate.program_secret'::regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'affiliate' AND tablename = 'program_secret'),
          'program_secret has row-level security and no policy: any reader but the owner and BYPASSRLS roles sees nothing');
-- pg_read_all_data / pg_write_all_data grant every table: row-level
-- security still hides and guards the keys
CREATE ROLE sec_reader NOLOGIN IN ROLE pg_read_all_data, pg_write_all_data;
SELECT ok((SELECT count(*) FROM affiliate.program_secret) >= 2, '(the superuser sees the keys of both programs)');
SET LOCAL ROLE sec_reader;
SELECT is((SELECT count(*) FROM affiliate.program_secret), 0::bigint,
          'a pg_read_all_data member selects no row of program_secret (row-level security, no policy)');
SELECT throws_ok(format($$INSERT INTO affiliate.program_secret (program_id, hash_key) VALUES (%s, '\x%s')$$,
                        :pb + 1000, repeat('00', 32)),
                 '42501', NULL, 'a pg_write_all_data member cannot plant a key (row-level security)');
WITH u AS (UPDATE affiliate.program_secret SET hash_key = NULL RETURNING 1)
SELECT count(*) AS n_updated FROM u \gset
SELECT is(:n_updated::bigint, 0::bigint, 'a pg_write_all_data member updates no key');
RESET ROLE;
-- functions: only the C code reads the keys
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.pronamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace)
       AND l.lanname <> 'c' AND p.prosrc ~ '(hash_key|sealed_key)'
$$, 'no SQL or PL/pgSQL function reads a key column of program_secret');
SELECT is(pg_get_function_result('affiliate.secret_status()'::regprocedure),
          'TABLE(program_id bigint, sealed boolean, root_key_id text)',
          'secret_status() returns how keys are stored, never the keys');
SELECT is_empty($$
    SELECT r || ' ' || f FROM unnest(ARRAY['affiliate_anon', 'affiliate_member', 'affiliate_admin']) r,
           unnest(ARRAY['affiliate.root_key_id()', 'affiliate.seal_secrets()', 'affiliate.secret_status()']) f
     WHERE has_function_privilege(r, f, 'EXECUTE')
$$, 'the HTTP roles cannot execute root_key_id(), seal_secrets() or secret_status()');
CREATE ROLE sec_operator NOLOGIN IN ROLE affiliate_operator;
SET LOCAL ROLE sec_operator;
SELECT is(ARRAY(SELECT row(s.sealed, s.root_key_id)::text FROM affiliate.secret_status() s
                 WHERE s.program_id IN (:pa, :pb) ORDER BY s.program_id),
          ARRAY[row(false, NULL::text)::text, row(false, NULL::text)::text],
          'operator: secret_status() shows both keys stored in clear (this cluster has no root key)');
SELECT is(affiliate.root_key_id(), NULL, 'operator: root_key_id() is NULL without a root key');
SELECT throws_ok('SELECT affiliate.seal_secrets()', '55000', 'no root key is loaded',
                 'operator: seal_secrets() without a root key is refused (55000)');
SELECT throws_ok('SELECT hash_key FROM affiliate.program_secret', '42501', NULL,
                 'operator: program_secret itself stays unreadable');
RESET ROLE;

-- ===========================================================================
-- Settings: pg_affiliate.* are the superuser's
-- ===========================================================================
LOAD 'pg_affiliate';
SELECT ok((SELECT count(*) FROM pg_settings WHERE name LIKE 'pg_affiliate.%') >= 2
          AND NOT EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'pg_affiliate.%'
                           AND context NOT IN ('superuser', 'postmaster')),
          'every pg_affiliate.* setting is set by a superuser (or at server start) only');
SET LOCAL ROLE affiliate_member;
SELECT throws_ok('SET pg_affiliate.trusted_proxies = 0', '42501', NULL,
                 'member: cannot change pg_affiliate.trusted_proxies (which decides what X-Forwarded-For is believed)');
SELECT throws_ok($$SELECT set_config('pg_affiliate.trusted_proxies', '5', true)$$, '42501', NULL,
                 'member: ... nor through set_config()');
RESET ROLE;
SET LOCAL ROLE affiliate_admin;
SELECT throws_ok('SET pg_affiliate.checkpoint_interval = 10', '42501', NULL,
                 'admin: cannot change pg_affiliate.checkpoint_interval');
RESET ROLE;

-- ===========================================================================
-- Roles and views: row-level security cannot be stepped around
-- ===========================================================================
SELECT is_empty($$
    SELECT rolname FROM pg_roles
     WHERE rolname IN ('affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon')
       AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication OR rolcanlogin)
$$, 'the four roles have no attribute that bypasses row-level security or grants (and cannot log in)');
SELECT is_empty($$
    SELECT u.rolname || ' is a member of ' || r.rolname
      FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
     WHERE u.rolname IN ('affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon')
$$, 'the four roles are members of no role (none inherits another''s rights or pg_read_all_data)');
SELECT is_empty($$
    SELECT DISTINCT v.relname || ' reads ' || t.relnamespace::regnamespace || '.' || t.relname
      FROM pg_class v
      JOIN pg_rewrite rw ON rw.ev_class = v.oid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid
     WHERE v.relnamespace = 'affiliate_api'::regnamespace AND v.relkind = 'v'
       AND (t.relkind <> 'r' OR NOT t.relrowsecurity)
$$, 'every affiliate_api view reads tables with row-level security only (no view over a view or an unguarded table)');
SELECT ok((SELECT count(DISTINCT v.relname) FROM pg_class v
             JOIN pg_rewrite rw ON rw.ev_class = v.oid
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                             AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
            WHERE v.relnamespace = 'affiliate_api'::regnamespace AND v.relkind = 'v') = 13,
          '(the check above saw the tables behind all 13 views)');

-- data: orders, commissions and withdrawals for several members of A and B
SELECT affiliate.set_plan(:pa, 'A', ARRAY[1000, 500], 'amount') IS NOT NULL AS ok \gset
SELECT affiliate.set_plan(:pb, 'B', ARRAY[2000], 'amount') IS NOT NULL AS ok \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-1', :a_carol, 10000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pa, 'A-2', :a_alice, 20000) \gset
SELECT count(*) AS n FROM affiliate.record_conversion(:pb, 'B-1', :b_alice, 30000) \gset
SELECT affiliate.adjust_balance(:pa, :a_alice, 5000, 'opening') IS NOT NULL AS ok \gset
SELECT affiliate.adjust_balance(:pa, :a_root, 5000, 'opening') IS NOT NULL AS ok \gset
SELECT affiliate.adjust_balance(:pb, :b_alice, 5000, 'opening') IS NOT NULL AS ok \gset
SELECT affiliate.request_withdrawal(:pa, :a_alice, 1000, 'upi', 'alice@upi') AS w_alice \gset
SELECT affiliate.request_withdrawal(:pa, :a_root, 1000, 'upi', 'root@upi') AS w_root \gset
SELECT affiliate.request_withdrawal(:pb, :b_alice, 1000, 'upi', 'alice@upi') AS w_balice \gset
-- what is hers, and what is program B's, as the superuser sees it
SELECT array_agg(id ORDER BY id) AS her_commissions FROM affiliate.commission
 WHERE program_id = :pa AND beneficiary_id = :a_alice \gset
SELECT array_agg(id ORDER BY id) AS her_purchases FROM affiliate.conversion
 WHERE program_id = :pa AND buyer_id = :a_alice \gset
SELECT (SELECT count(*) FROM affiliate.commission) AS n_commissions,
       (SELECT count(*) FROM affiliate.conversion) AS n_conversions,
       (SELECT count(*) FROM affiliate.withdrawal) AS n_withdrawals,
       (SELECT count(*) FROM affiliate.member) AS n_members \gset

-- ---- a member, through every view and table she may read ----------------
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'affiliate_api'::regnamespace AND c.relkind = 'v'
                   AND has_table_privilege('affiliate_member', c.oid, 'SELECT') ORDER BY 1),
          ARRAY['assessments', 'commissions', 'courses', 'enrollments', 'members', 'program', 'purchases',
                'topic_progress', 'withdrawals'],
          'the views a member may read (each is checked below; the course views in courses_api.sql)');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'affiliate'::regnamespace AND c.relkind = 'r'
                   AND has_any_column_privilege('affiliate_member', c.oid, 'SELECT') ORDER BY 1),
          ARRAY['assessment', 'commission', 'conversion', 'course', 'enrollment', 'member', 'program',
                'topic_progress', 'withdrawal'],
          'the tables a member may read (each is checked below; the course tables in courses_api.sql)');
SET LOCAL ROLE affiliate_member;
-- alice is a member of both programs under the same external id; the JWT names A
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_member", "program": %s, "sub": "alice"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT member_id FROM affiliate_api.members), ARRAY[:a_alice]::bigint[],
          'member view members: her own row only');
SELECT ok(ARRAY(SELECT commission_id FROM affiliate_api.commissions ORDER BY 1) = :'her_commissions'::bigint[]
          AND cardinality(:'her_commissions'::bigint[]) > 0 AND :n_commissions > cardinality(:'her_commissions'::bigint[]),
          'member view commissions: exactly the commissions she earns (a part of all)');
SELECT ok(ARRAY(SELECT conversion_id FROM affiliate_api.purchases ORDER BY 1) = :'her_purchases'::bigint[]
          AND :n_conversions > cardinality(:'her_purchases'::bigint[]),
          'member view purchases: exactly her purchases in program A');
SELECT is(ARRAY(SELECT withdrawal_id FROM affiliate_api.withdrawals), ARRAY[:w_alice]::bigint[],
          'member view withdrawals: her withdrawal in A only (not root''s, not hers in B)');
SELECT is(ARRAY(SELECT program_id FROM affiliate_api.program), ARRAY[:pa]::bigint[],
          'member view program: program A only');
SELECT is(ARRAY(SELECT row(id, program_id)::text FROM affiliate.member),
          ARRAY[row(:a_alice, :pa)::text], 'member table member: her own row only');
SELECT ok(NOT EXISTS (SELECT 1 FROM affiliate.commission WHERE program_id <> :pa OR beneficiary_id <> :a_alice)
          AND (SELECT count(*) FROM affiliate.commission) = cardinality(:'her_commissions'::bigint[]),
          'member table commission: her commissions only');
SELECT ok(NOT EXISTS (SELECT 1 FROM affiliate.conversion WHERE program_id <> :pa OR buyer_id <> :a_alice)
          AND (SELECT count(*) FROM affiliate.conversion) = cardinality(:'her_purchases'::bigint[]),
          'member table conversion: her purchases only');
SELECT is(ARRAY(SELECT id FROM affiliate.withdrawal), ARRAY[:w_alice]::bigint[],
          'member table withdrawal: her withdrawal only');
SELECT is(ARRAY(SELECT id FROM affiliate.program), ARRAY[:pa]::bigint[], 'member table program: program A only');
RESET ROLE;

-- ---- an admin of A, through every view ------------------------------------
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                 WHERE c.relnamespace = 'affiliate_api'::regnamespace AND c.relkind = 'v'
                   AND has_table_privilege('affiliate_admin', c.oid, 'SELECT') ORDER BY 1),
          ARRAY['assessments', 'audit_log', 'commissions', 'conversions', 'courses', 'enrollments', 'fraud_flags',
                'members', 'plans', 'program', 'topic_progress', 'withdrawals'],
          'the views an admin may read (each is checked below; the course views in courses_api.sql, fraud_flags in fraud_api.sql)');
SELECT array_agg(id ORDER BY id) AS b_audit FROM affiliate.audit_log WHERE program_id = :pb \gset
SELECT array_agg(id ORDER BY id) AS b_plans FROM affiliate.plan WHERE program_id = :pb \gset
SELECT array_agg(id ORDER BY id) AS b_members FROM affiliate.member WHERE program_id = :pb \gset
SELECT array_agg(id ORDER BY id) AS b_commissions FROM affiliate.commission WHERE program_id = :pb \gset
SELECT array_agg(id ORDER BY id) AS b_conversions FROM affiliate.conversion WHERE program_id = :pb \gset
-- ids are per table, not per program: compare (view, id) pairs with A's
SELECT array_agg(x ORDER BY x) AS a_rows FROM (
    SELECT 'audit_log ' || id AS x FROM affiliate.audit_log WHERE program_id = :pa
    UNION ALL SELECT 'commissions ' || id FROM affiliate.commission WHERE program_id = :pa
    UNION ALL SELECT 'conversions ' || id FROM affiliate.conversion WHERE program_id = :pa
    UNION ALL SELECT 'members ' || id FROM affiliate.member WHERE program_id = :pa
    UNION ALL SELECT 'plans ' || id FROM affiliate.plan WHERE program_id = :pa
    UNION ALL SELECT 'program ' || id FROM affiliate.program WHERE id = :pa
    UNION ALL SELECT 'withdrawals ' || id FROM affiliate.withdrawal WHERE program_id = :pa) s \gset
SELECT ok(cardinality(:'b_audit'::bigint[]) > 0 AND cardinality(:'b_plans'::bigint[]) > 0
          AND cardinality(:'b_members'::bigint[]) > 0 AND cardinality(:'b_commissions'::bigint[]) > 0
          AND cardinality(:'b_conversions'::bigint[]) > 0,
          '(program B has rows in every table an admin view reads)');
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims', format('{"role": "affiliate_admin", "program": %s, "sub": "admin@a"}', :pa), true) \g /dev/null
SELECT is(ARRAY(SELECT x FROM (
              SELECT 'audit_log ' || audit_id AS x FROM affiliate_api.audit_log
              UNION ALL SELECT 'commissions ' || commission_id FROM affiliate_api.commissions
              UNION ALL SELECT 'conversions ' || conversion_id FROM affiliate_api.conversions
              UNION ALL SELECT 'members ' || member_id FROM affiliate_api.members
              UNION ALL SELECT 'plans ' || plan_id FROM affiliate_api.plans
              UNION ALL SELECT 'program ' || program_id FROM affiliate_api.program
              UNION ALL SELECT 'withdrawals ' || withdrawal_id FROM affiliate_api.withdrawals) s ORDER BY x),
          :'a_rows'::text[],
          'admin of A: the seven views show exactly program A''s rows, none of B''s');
RESET ROLE;

-- ===========================================================================
-- Who may write: nobody but the owner, not even the operator; the audit log
-- ===========================================================================
SELECT is_empty($$
    SELECT r.rolname || ' ' || p.priv || ' ' || c.relname
      FROM pg_class c CROSS JOIN pg_roles r
     CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']) p(priv)
     WHERE c.relnamespace IN ('affiliate'::regnamespace, 'affiliate_api'::regnamespace) AND c.relkind IN ('r', 'v')
       AND NOT r.rolsuper AND r.rolname !~ '^pg_'
       AND NOT pg_has_role(r.oid, 'pg_write_all_data', 'USAGE')   -- below
       AND r.oid <> (SELECT extowner FROM pg_extension WHERE extname = 'pg_affiliate')
       AND has_table_privilege(r.oid, c.oid, p.priv)
$$, 'no role but the owner may write any table of the extension (operator included): every change goes through a function');
SET LOCAL ROLE sec_operator;
SELECT throws_ok(format($$UPDATE affiliate.audit_log SET actor = 'someone else' WHERE program_id = %s$$, :pa),
                 '42501', NULL, 'operator: cannot rewrite the audit log');
SELECT throws_ok(format('DELETE FROM affiliate.audit_log WHERE program_id = %s', :pa),
                 '42501', NULL, 'operator: cannot delete audit rows');
RESET ROLE;
-- pg_write_all_data grants INSERT, UPDATE and DELETE on every table; the
-- policies decide what it reaches
SET LOCAL ROLE sec_reader;
WITH u AS (UPDATE affiliate.audit_log SET actor = 'someone else' RETURNING 1)
SELECT count(*) AS n_updated FROM u \gset
SELECT is(:n_updated::bigint, 0::bigint, 'a pg_write_all_data member rewrites no audit row (no policy is hers)');
RESET ROLE;
CREATE ROLE sec_op_writer NOLOGIN IN ROLE affiliate_operator, pg_write_all_data;
SET LOCAL ROLE sec_op_writer;
WITH u AS (UPDATE affiliate.audit_log SET actor = 'someone else' WHERE program_id = :pa RETURNING 1)
SELECT count(*) AS n_updated FROM u \gset
RESET ROLE;
SELECT is(:n_updated::bigint, 0::bigint,
          'an operator who also holds pg_write_all_data rewrites no audit row');
SELECT is_empty($$SELECT policyname || ' on ' || tablename || ' for ' || cmd FROM pg_policies
                   WHERE schemaname = 'affiliate' AND cmd <> 'SELECT'$$,
                'every row-level security policy is FOR SELECT: the roles read through them, the functions write');
SELECT throws_ok(format($$UPDATE affiliate.audit_log SET actor = 'someone else' WHERE program_id = %s$$, :pa),
                 '23001', NULL, 'audit_log is append-only like journal and posting, also for its owner');

-- ===========================================================================
-- Referral codes: the space an enumeration must search
-- ===========================================================================
SELECT ok((SELECT bool_and(length(code::text) = 9) AND count(*) >= 5 FROM affiliate.member),
          'member codes carry 8 random base32 digits (40 bits) and a check character');
SELECT ok(EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = 'affiliate.member'::regclass AND i.indisunique
                     AND (SELECT array_agg(a.attname::text ORDER BY k.ord)
                            FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
                         = ARRAY['program_id', 'code']),
          'a code is found through the unique index (program_id, code): one index probe per lookup');

-- ===========================================================================
-- The client address: what a client writes into X-Forwarded-For is ignored
-- ===========================================================================
SELECT set_config('request.headers',
                  json_build_object('x-forwarded-for',
                                    (SELECT string_agg('198.51.100.' || i, ', ') FROM generate_series(1, 10) i)
                                    || ', 203.0.113.9')::text, true) \g /dev/null
SELECT is((SELECT ip FROM affiliate.request_client()), '203.0.113.9'::inet,
          'client: ten entries written by the client before the proxy''s are ignored');
SELECT set_config('request.headers',
                  json_build_object('x-forwarded-for',
                                    (SELECT string_agg('198.51.100.' || i, ', ') FROM generate_series(1, 64) i)
                                    || ', 203.0.113.9')::text, true) \g /dev/null
SELECT is((SELECT ip FROM affiliate.request_client()), '203.0.113.9'::inet,
          'client: 64 entries written by the client do not push the proxy''s entry out');

SELECT * FROM finish();
ROLLBACK;
