-- Members and the referral tree: codes, sponsors by code (any case, hyphens,
-- confusable letters), click attribution (first/last click of the same
-- device or IP within the window), materialised uplines, downline and team
-- size, moving a subtree, keyed hashes, and every refusal (nothing changes).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.member) AS members,
       (SELECT count(*) FROM affiliate.click) AS clicks,
       (SELECT count(*) FROM affiliate.account) AS accounts,
       (SELECT md5(string_agg(id || ':' || coalesce(sponsor_id, 0) || ':' || upline::text || status, ','
                              ORDER BY id)) FROM affiliate.member) AS tree;

SELECT affiliate.create_program('Course platform', 'INR') AS p \gset
SELECT affiliate.add_member(:p, 'root') AS root \gset
SELECT code AS root_code FROM affiliate.member WHERE id = :root \gset
-- a code is 8 data characters and a check character
SELECT length(:'root_code') AS code_length, affiliate.refcode_is_valid(:'root_code') AS valid;
-- the code in lower case, with hyphens, with O for 0 and I/L for 1: the same sponsor
SELECT affiliate.add_member(:p, 'a', lower(:'root_code')) AS a \gset
SELECT affiliate.add_member(:p, 'b', substr(:'root_code', 1, 4) || '-' || substr(:'root_code', 5)) AS b \gset
SELECT affiliate.add_member(:p, 'c', translate(:'root_code', '01', 'OI')) AS c \gset
SELECT affiliate.add_member(:p, 'a1', (SELECT code::text FROM affiliate.member WHERE id = :a)) AS a1 \gset
SELECT affiliate.add_member(:p, 'a2', (SELECT code::text FROM affiliate.member WHERE id = :a)) AS a2 \gset
SELECT affiliate.add_member(:p, 'a1x', (SELECT code::text FROM affiliate.member WHERE id = :a1)) AS a1x \gset
SELECT external_id, sponsor_id = :root AS under_root, cardinality(upline) AS depth
  FROM affiliate.member WHERE program_id = :p ORDER BY id;
-- every member has its three accounts from the start
SELECT kind, allow_negative, count(*) FROM affiliate.account WHERE program_id = :p GROUP BY 1, 2 ORDER BY 1;

-- upline: nearest first; depth limits it
SELECT level, external_id FROM affiliate.upline(:p, :a1x);
SELECT level, external_id FROM affiliate.upline(:p, :a1x, 1);
-- downline with levels; depth limits it; team size counts every level
SELECT level, external_id FROM affiliate.downline(:p, :root);
SELECT level, external_id FROM affiliate.downline(:p, :root, 1);
SELECT affiliate.team_size(:p, :root) AS root_team, affiliate.team_size(:p, :a) AS a_team,
       affiliate.team_size(:p, :a1x) AS leaf_team;
-- the GIN index on upline serves downline queries
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM affiliate.member d WHERE d.upline @> ARRAY[1::bigint];
RESET enable_seqscan;
SELECT affiliate.member_by_code(:p, lower(:'root_code')) = :root AS found,
       affiliate.member_by_code(:p, '0000000000') IS NULL AS unknown_is_null;

-- ---------------------------------------------------------------------------
-- move_member: the subtree's uplines are rewritten in one statement; audited
-- ---------------------------------------------------------------------------
SELECT affiliate.move_member(:p, :a, :b) AS rewritten;
SELECT external_id, (SELECT array_agg(x.external_id ORDER BY u.n) FROM unnest(m.upline) WITH ORDINALITY u(id, n)
                       JOIN affiliate.member x ON x.program_id = m.program_id AND x.id = u.id) AS upline
  FROM affiliate.member m WHERE program_id = :p ORDER BY id;
SELECT action, detail->>'rewritten' AS rewritten, (detail->>'old_sponsor_id')::bigint = :root AS from_root,
       (detail->>'new_sponsor_id')::bigint = :b AS to_b
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'move_member';
-- moving to the same sponsor changes nothing; to NULL makes a root
SELECT affiliate.move_member(:p, :a, :b) AS rewritten;
SELECT affiliate.move_member(:p, :c, NULL) AS rewritten;
SELECT external_id, sponsor_id IS NULL AS is_root, upline FROM affiliate.member WHERE id = :c;
SELECT * FROM affiliate.verify(:p);

-- refusals: cycles, self, unknown members, other programs
SELECT * FROM fingerprint \gset before_
SELECT affiliate.move_member(:p, :a, :a1x);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.move_member(:p, :a, :a);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.move_member(:p, 999999, :a);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.move_member(:p, :a, 999999);
\echo :LAST_ERROR_SQLSTATE
-- a move under a transaction snapshot could miss members joining meanwhile
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT affiliate.move_member(:p, :a2, :c);
ROLLBACK;

-- ---------------------------------------------------------------------------
-- add_member refusals
-- ---------------------------------------------------------------------------
SELECT affiliate.add_member(:p, 'root');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member(:p, 'x', 'NOT-A-CODE');
\echo :LAST_ERROR_SQLSTATE
-- (the next three errors quote a random code: only their SQLSTATE is shown)
\set VERBOSITY sqlstate
-- one character mistyped: the check character catches it
SELECT affiliate.add_member(:p, 'x', overlay(:'root_code' placing
           (CASE WHEN substr(:'root_code', 2, 1) = 'Z' THEN 'Y' ELSE 'Z' END) from 2 for 1));
\echo :LAST_ERROR_SQLSTATE
-- two characters swapped
SELECT affiliate.add_member(:p, 'x', substr(c, 1, i - 1) || substr(c, i + 1, 1) || substr(c, i, 1) || substr(c, i + 2))
  FROM (SELECT :'root_code'::text AS c,
               (SELECT min(i) FROM generate_series(1, 8) i
                 WHERE substr(:'root_code', i, 1) <> substr(:'root_code', i + 1, 1)) AS i) x;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- a valid code nobody owns
SELECT affiliate.add_member(:p, 'x', '0000000000');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member(:p, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member(:p, repeat('x', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member(999999, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_member_status(:p, :a, 'deleted');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_member_status(:p, 999999, 'blocked');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_click(:p, 'bad code');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_click(:p, :'root_code', at => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.record_click(:p, :'root_code', channel => '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_members' = :'after_members' AND :'before_clicks' = :'after_clicks'
       AND :'before_accounts' = :'after_accounts' AND :'before_tree' = :'after_tree' AS nothing_changed;

-- a code belongs to its program: another program does not know it
SELECT affiliate.create_program('Other', 'INR') AS other \gset
\set VERBOSITY sqlstate
SELECT affiliate.add_member(:other, 'x', :'root_code');
\set VERBOSITY default

-- ---------------------------------------------------------------------------
-- Click attribution
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('Clicks', 'INR', '{"attribution": "last_click", "attribution_window": "7 days"}') AS lc \gset
SELECT affiliate.add_member(:lc, 'early') AS early \gset
SELECT affiliate.add_member(:lc, 'late') AS late \gset
SELECT affiliate.add_member(:lc, 'stale') AS stale \gset
SELECT affiliate.record_click(:lc, (SELECT code::text FROM affiliate.member WHERE id = :stale), 'ads',
                              ip => '203.0.113.7', at => now() - interval '8 days') IS NOT NULL AS clicked;
SELECT affiliate.record_click(:lc, (SELECT code::text FROM affiliate.member WHERE id = :early), 'whatsapp',
                              ip => '203.0.113.7', user_agent => 'Mozilla/5.0', at => now() - interval '3 days') AS early_click \gset
SELECT affiliate.record_click(:lc, (SELECT code::text FROM affiliate.member WHERE id = :late), 'telegram',
                              device_id => 'device-42', at => now() - interval '1 day') AS late_click \gset
-- last click wins: same IP clicked "early" 3 days ago, same device clicked "late" 1 day ago
SELECT affiliate.add_member(:lc, 'joiner1', device_id => 'device-42', ip => '203.0.113.7') AS j \gset
SELECT sponsor_id = :late AS sponsor_is_late, click_id = :late_click AS by_that_click
  FROM affiliate.member WHERE id = :j;
-- first click: the earliest click within the window (the 8-day-old one is outside)
SELECT affiliate.update_program_settings(:lc, '{"attribution": "first_click"}') IS NOT NULL AS changed;
SELECT affiliate.add_member(:lc, 'joiner2', device_id => 'device-42', ip => '203.0.113.7') AS j \gset
SELECT sponsor_id = :early AS sponsor_is_early, click_id = :early_click AS by_that_click
  FROM affiliate.member WHERE id = :j;
-- an explicit code beats any click
SELECT affiliate.add_member(:lc, 'joiner3', (SELECT code::text FROM affiliate.member WHERE id = :stale),
                            device_id => 'device-42') AS j \gset
SELECT sponsor_id = :stale AS sponsor_is_stale FROM affiliate.member WHERE id = :j;
-- no matching click: no sponsor
SELECT affiliate.add_member(:lc, 'joiner4', ip => '198.51.100.1') AS j \gset
SELECT sponsor_id IS NULL AS no_sponsor FROM affiliate.member WHERE id = :j;
-- the sponsor model ignores clicks
SELECT affiliate.update_program_settings(:lc, '{"attribution": "sponsor"}') IS NOT NULL AS changed;
SELECT affiliate.add_member(:lc, 'joiner5', device_id => 'device-42') AS j \gset
SELECT sponsor_id IS NULL AS no_sponsor FROM affiliate.member WHERE id = :j;

-- device, IP and user agent are stored only as 32-byte keyed hashes; the same
-- value hashes alike within a program and differently across programs
SELECT count(*) FILTER (WHERE device_hash IS NOT NULL) AS with_device,
       bool_and(length(device_hash) = 32) AS hashed_32
  FROM affiliate.member WHERE program_id = :lc;
SELECT count(DISTINCT device_hash) AS distinct_device_hashes FROM affiliate.member
 WHERE program_id = :lc AND device_hash IS NOT NULL;
SELECT affiliate.add_member(:p, 'cross', device_id => 'device-42') AS cross \gset
SELECT (SELECT device_hash FROM affiliate.member WHERE id = :cross)
       <> (SELECT device_hash FROM affiliate.member WHERE external_id = 'joiner1') AS keyed_per_program;
SELECT ua_hash IS NOT NULL AS ua_hashed, channel FROM affiliate.click WHERE id = :early_click;
-- nobody but the extension's owner reads the keys
SELECT has_table_privilege('affiliate_operator', 'affiliate.program_secret', 'SELECT') AS admin_reads_keys;
SELECT count(*) AS keys FROM affiliate.program_secret;

-- an id of 0 is no member (only NULL means "none"): refused, nothing moved
\set VERBOSITY terse
SELECT affiliate.move_member(:p, :a, 0);
\set VERBOSITY default
SELECT sponsor_id IS NOT NULL AS a_still_sponsored FROM affiliate.member WHERE program_id = :p AND id = :a;

-- the member id sequence behind the table (a restore that lost it, a setval
-- by hand): a clear error naming the sequence, not "codes taken", no id burnt
-- on retries
BEGIN;
SELECT last_value AS seq_before FROM affiliate.member_id_seq \gset
SELECT setval('affiliate.member_id_seq', 1, false) \g /dev/null
\set VERBOSITY terse
SELECT affiliate.add_member(:p, 'behind-the-sequence');
\set VERBOSITY default
ROLLBACK;

SELECT * FROM affiliate.verify();

-- the profile: display name and birth date; NULL clears; bad values refused
-- and nothing changed
SELECT affiliate.set_member_profile(:p, :a, 'Asha K.', '1990-02-28');
SELECT display_name, birth_date FROM affiliate.member WHERE program_id = :p AND id = :a;
\set VERBOSITY terse
SELECT affiliate.set_member_profile(:p, :a, '', NULL);
SELECT affiliate.set_member_profile(:p, :a, repeat('x', 101), NULL);
SELECT affiliate.set_member_profile(:p, :a, E'tab\there', NULL);
SELECT affiliate.set_member_profile(:p, :a, 'Asha', '1899-12-31');
SELECT affiliate.set_member_profile(:p, :a, 'Asha', current_date + 1);
SELECT affiliate.set_member_profile(:p, :a, 'Asha', 'infinity');
SELECT affiliate.set_member_profile(:p, 999999, 'Asha', NULL);
SELECT affiliate.set_member_profile(NULL, :a, 'Asha', NULL);
\set VERBOSITY default
SELECT display_name, birth_date FROM affiliate.member WHERE program_id = :p AND id = :a;
SELECT affiliate.set_member_profile(:p, :a, repeat('é', 100), NULL);
SELECT char_length(display_name), birth_date FROM affiliate.member WHERE program_id = :p AND id = :a;
SELECT affiliate.set_member_profile(:p, :a, NULL, NULL);
SELECT display_name IS NULL AND birth_date IS NULL AS cleared FROM affiliate.member WHERE program_id = :p AND id = :a;
