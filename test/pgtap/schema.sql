-- Structural contracts of the extension, checked from the catalogs:
-- keys carry program_id (DESIGN §9), API functions take program_id first,
-- nothing is open to PUBLIC, SECURITY DEFINER pins search_path, the ledger
-- is append-only, the GUC prefix is reserved.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
SELECT plan(24);

SELECT has_schema('affiliate');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'pg_affiliate'), false,
          'the extension is not relocatable');
SELECT is((SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'pg_affiliate'), 'affiliate', 'the extension lives in schema affiliate');
SELECT tables_are('affiliate', ARRAY['program', 'audit_log', 'account', 'journal', 'posting',
                                     'balance_delta', 'balance_checkpoint',
                                     -- 0.2.0: the referral spine
                                     'program_secret', 'member', 'click', 'plan', 'conversion',
                                     'commission', 'refund',
                                     -- 0.3.0: wallets and payouts
                                     'withdrawal',
                                     -- 0.5.0: courses and certificates
                                     'course', 'course_module', 'topic', 'enrollment', 'topic_progress',
                                     'assessment', 'signing_key', 'certificate',
                                     -- 0.6.0: loyalty points
                                     'points_rule', 'points_policy', 'points_lot', 'points_bill',
                                     'points_bill_refund', 'points_deduction',
                                     -- 0.6.0: tiers
                                     'tier', 'tier_policy', 'tier_member', 'tier_history',
                                     -- 0.6.0: rewards
                                     'reward', 'reward_redemption',
                                     -- 0.6.0: notifications
                                     'notification_template', 'outbox', 'member_child', 'birthday_sent',
                                     'points_expiry_notice',
                                     -- 0.6.0: fraud flags
                                     'fraud_flag',
                                     -- 0.6.0: promo campaigns
                                     'campaign', 'promo_member_use', 'promo_redemption',
                                     'campaign_conversion',
                                     -- 0.6.0: birthday promo codes
                                     'birthday_policy',
                                     -- 0.6.0: badges and leaderboards
                                     'leaderboard_entry', 'badge_rule', 'member_badge', 'counter_increment']);

-- every primary key, unique key and foreign key includes program_id
-- (program's own key is its id, which is the program_id)
SELECT is_empty($$
    SELECT c.conrelid::regclass::text || ' ' || c.conname
      FROM pg_constraint c
      JOIN pg_class r ON r.oid = c.conrelid
      JOIN pg_namespace n ON n.oid = r.relnamespace
     WHERE n.nspname = 'affiliate' AND c.contype IN ('p', 'u', 'f')
       AND r.relname <> 'program'
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                          AND a.attname = 'program_id')
$$, 'every primary, unique and foreign key includes program_id');
SELECT is_empty($$
    SELECT c.conrelid::regclass::text || ' ' || c.conname
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE n.nspname = 'affiliate' AND c.contype = 'f'
       AND c.confrelid <> 'affiliate.program'::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.confrelid AND a.attnum = ANY (c.confkey)
                          AND a.attname = 'program_id')
$$, 'every foreign key references a key that includes program_id');
SELECT is_empty($$
    SELECT c.conrelid::regclass::text || ' ' || c.conname
      FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
     WHERE n.nspname = 'affiliate' AND c.contype = 'f'
       AND NOT EXISTS (SELECT 1 FROM unnest(c.conkey, c.confkey) k(att, fatt)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
                         JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.fatt
                        WHERE a.attname = 'program_id'
                          AND f.attname = CASE WHEN c.confrelid = 'affiliate.program'::regclass
                                               THEN 'id' ELSE 'program_id' END)
$$, 'every foreign key matches program_id with the referenced program_id (program.id)');
-- 0.4.0: the hot tables have no foreign keys to each other (verify() checks
-- them); the tree and the withdrawals keep theirs
SELECT is(ARRAY(SELECT conrelid::regclass::text || ' -> ' || confrelid::regclass::text
                  FROM pg_constraint WHERE contype = 'f' AND connamespace = 'affiliate'::regnamespace
                 ORDER BY 1),
          ARRAY['affiliate.assessment -> affiliate.course_module', 'affiliate.assessment -> affiliate.member',
                'affiliate.balance_checkpoint -> affiliate.account',
                'affiliate.birthday_policy -> affiliate.campaign', 'affiliate.birthday_policy -> affiliate.program',
                'affiliate.birthday_sent -> affiliate.member',
                'affiliate.campaign -> affiliate.campaign', 'affiliate.campaign -> affiliate.member',
                'affiliate.campaign -> affiliate.member',
                'affiliate.certificate -> affiliate.signing_key',
                'affiliate.course -> affiliate.program', 'affiliate.course_module -> affiliate.course',
                'affiliate.enrollment -> affiliate.course', 'affiliate.enrollment -> affiliate.member',
                'affiliate.fraud_flag -> affiliate.member',
                'affiliate.member -> affiliate.member', 'affiliate.member_badge -> affiliate.badge_rule',
                'affiliate.member_child -> affiliate.member',
                'affiliate.plan -> affiliate.program',
                'affiliate.points_bill -> affiliate.points_lot', 'affiliate.points_bill_refund -> affiliate.points_bill',
                'affiliate.points_expiry_notice -> affiliate.points_lot',
                'affiliate.program_secret -> affiliate.program',
                'affiliate.refund -> affiliate.conversion', 'affiliate.reward_redemption -> affiliate.reward',
                'affiliate.signing_key -> affiliate.program', 'affiliate.tier_member -> affiliate.tier',
                'affiliate.topic -> affiliate.course_module', 'affiliate.topic_progress -> affiliate.enrollment',
                'affiliate.topic_progress -> affiliate.topic', 'affiliate.withdrawal -> affiliate.member'],
          'the foreign keys: checkpoints, sponsors, plans, secrets, refunds, withdrawals; 0.5.0 the course tables (written rarely, by their own calls), signing keys and the certificates'' keys; 0.6.0 a bill''s lot, a refund''s bill, a member''s tier, a redemption''s reward and a campaign''s owner, personal member and template; a member''s children and birthdays, an expiry notice''s lot; a fraud flag''s member (flags are rare); a program''s birthday campaign; a badge''s rule');
-- 0.3.0: withdrawals belong to members of the same program
SELECT fk_ok('affiliate', 'withdrawal', ARRAY['program_id', 'member_id'],
             'affiliate', 'member', ARRAY['program_id', 'id']);
-- payout destinations are kept only as a keyed hash and a masked form
SELECT columns_are('affiliate', 'withdrawal', ARRAY['program_id', 'id', 'member_id', 'asset', 'amount',
    'debt_settled', 'status', 'method', 'destination_masked', 'destination_hash', 'requested_at',
    'decided_at', 'paid_at', 'failed_at', 'provider_ref', 'reason'],
    'a withdrawal stores no payout destination in clear');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'affiliate' AND c.relkind = 'r' AND c.relname <> 'program'
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'program_id' AND a.atttypid = 'bigint'::regtype AND a.attnotnull)
$$, 'every table carries a NOT NULL bigint program_id');

-- API functions take program_id bigint first (Citus routes the call by it)
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'affiliate' AND p.prorettype <> 'trigger'::regtype
       -- exempt: pure functions (type support, split), cross-program entry
       -- points (jobs, the root key), and the HTTP helpers (the program comes from the JWT)
       AND p.provolatile <> 'i'
       AND p.proname NOT IN ('create_program', 'new_refcode', 'refcode_is_valid',
                             'release_due', 'release_all_due', 'schedule_jobs', 'unschedule_jobs',
                             'expire_points', 'expire_all_points', 'review_tiers', 'run_fraud_checks_all',
                             'advance_campaigns', 'expire_promo_credits',
                             -- senders serve every program; the daily notification jobs
                             'claim_outbox', 'queue_birthdays', 'queue_points_expiring',
                             'claimed_program', 'current_member', 'claimed_member', 'request_client',
                             'api_error',
                             -- the root key and the sealing of every program's key
                             'root_key_id', 'seal_secrets', 'secret_status')
       AND NOT (p.proargnames[1] = 'program_id' AND p.proargtypes[0] = 'bigint'::regtype)
$$, 'every function that touches a program''s data takes program_id bigint first');

-- privileges
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname IN ('affiliate', 'affiliate_api')
       AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
$$, 'no function is executable by PUBLIC');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('affiliate', 'affiliate_api') AND c.relkind IN ('r', 'v', 'S')
       AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
$$, 'no table, view or sequence is open to PUBLIC');
SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'affiliate' AND p.prosecdef
       AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
$$, 'every SECURITY DEFINER function sets search_path');
SELECT is((SELECT array_agg(rolname::text ORDER BY rolname) FROM pg_roles
            WHERE rolname IN ('affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon')
              AND NOT rolcanlogin),
          ARRAY['affiliate_admin', 'affiliate_anon', 'affiliate_member', 'affiliate_operator'],
          'the four roles exist and cannot log in');
SELECT ok(has_function_privilege('affiliate_operator', 'affiliate.post_journal(bigint,text,jsonb,text,jsonb)', 'EXECUTE'),
          'affiliate_operator may post journals');
SELECT ok(NOT has_table_privilege('affiliate_operator', 'affiliate.posting', 'INSERT'),
          'affiliate_operator cannot write the ledger tables directly');
-- the keys of the device/IP hashes: not even affiliate_operator reads them
SELECT ok(NOT has_table_privilege('affiliate_operator', 'affiliate.program_secret', 'SELECT')
          AND NOT has_any_column_privilege('affiliate_operator', 'affiliate.program_secret', 'SELECT'),
          'affiliate_operator cannot SELECT affiliate.program_secret (nor any column of it)');
CREATE ROLE pgtap_affiliate_operator NOLOGIN IN ROLE affiliate_operator;
SET LOCAL ROLE pgtap_affiliate_operator;
SELECT throws_ok($$SELECT hash_key FROM affiliate.program_secret$$, '42501', NULL,
                 'a member of affiliate_operator is refused reading the hash keys');
RESET ROLE;
-- row-level security is on for every table
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'affiliate' AND c.relkind = 'r' AND NOT c.relrowsecurity
$$, 'row-level security is enabled on every table of affiliate');

-- the ledger is append-only, also against the owner
SELECT affiliate.create_program('tap', 'INR') AS tap \gset
-- member 1 exists before its account (account -> member foreign key)
INSERT INTO affiliate.member (program_id, id, external_id, code) OVERRIDING SYSTEM VALUE
VALUES (:tap, 1, 'm1', affiliate.new_refcode());
SELECT affiliate.post_journal(:tap, 'fund',
    '[{"member": 1, "kind": "available", "amount": 5}, {"kind": "revenue", "amount": -5}]') AS journal \gset
SELECT throws_ok($$UPDATE affiliate.journal SET kind = 'x'$$, '23001', 'affiliate.journal is append-only',
                 'journals cannot be updated');
SELECT throws_ok($$DELETE FROM affiliate.posting$$, '23001', 'affiliate.posting is append-only',
                 'postings cannot be deleted');

-- the GUC prefix is reserved once the library is loaded
LOAD 'pg_affiliate';
SELECT throws_ok($$SET pg_affiliate.no_such_setting = 1$$, '42602', NULL,
                 'unknown pg_affiliate.* settings are refused');

SELECT * FROM finish();
ROLLBACK;
