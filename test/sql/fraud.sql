-- Fraud rules (issue 10 §2): each rule fires above its threshold and not at
-- or below it, with its evidence (device, IP and destination only as keyed
-- hashes); a rule never raises the same flag twice; an open flag holds the
-- member's commissions (release_due leaves them pending, and releases the
-- others) and refuses their withdrawal requests and approvals (55000 naming
-- the flag); resolving or dismissing it lets the next release pay;
-- block_member / unblock_member (audited; a blocked member earns nothing,
-- the platform keeps the share); every bad input is refused with its
-- SQLSTATE and changes nothing; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a fraud call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(coalesce(string_agg(f::text, ',' ORDER BY f.program_id, f.id), '')) FROM affiliate.fraud_flag f) AS flags,
       (SELECT md5(coalesce(string_agg(m.id || ':' || m.status, ',' ORDER BY m.program_id, m.id), '')) FROM affiliate.member m) AS members,
       (SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY w.program_id, w.id), '')) FROM affiliate.withdrawal w) AS withdrawals,
       (SELECT md5(coalesce(string_agg(p.id || ':' || affiliate.program_settings(p.id)::text, ',' ORDER BY p.id), '')) FROM affiliate.program p) AS settings;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
-- the flags of program :p, with the hashes in the evidence shown as whether
-- they are the stored hash of a member (never the clear value)
\set flags 'SELECT f.id = :''flag'' AS this, f.member_id, f.rule, f.evidence_key LIKE ''%:%'' AS keyed, f.source, f.status, f.evidence - ''device_hash'' - ''ip_hash'' - ''destination_hash'' AS evidence, f.evidence ? ''device_hash'' AS device, f.evidence ? ''ip_hash'' AS ip, f.evidence ? ''destination_hash'' AS destination FROM affiliate.fraud_flag f WHERE f.program_id = :p ORDER BY f.id;'

-- ---------------------------------------------------------------------------
-- Settings: the thresholds are program settings with defaults, validated.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('Fraud shop', 'INR', '{"hold_period": "1 day"}') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT key, value FROM jsonb_each(affiliate.program_settings(:p)) WHERE key LIKE 'fraud%' ORDER BY key;
SELECT affiliate.update_program_settings(:p, '{"fraud_device_members": 2, "fraud_ip_members": 2}')
       - 'hold_period' - 'min_withdrawal' - 'rounding_unit' - 'rounding' - 'attribution'
       - 'attribution_window' - 'clawback' AS fraud_settings;
SELECT detail FROM affiliate.audit_log WHERE program_id = :p AND action = 'update_program_settings';
:save
SELECT affiliate.update_program_settings(:p, '{"fraud_device_members": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_ip_members": 1000001}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_burst_signups": "5"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_burst_window": "0 minutes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_burst_window": "-5 minutes"}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_low_conversion_referrals": 2.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_low_conversion_ratio": 10001}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.update_program_settings(:p, '{"fraud_low_conversion_ratio": -1}');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---------------------------------------------------------------------------
-- add_member: self-referral (the sponsor's device or IP) and too many
-- members on one device or IP (more than fraud_device_members /
-- fraud_ip_members: 2 here).
-- ---------------------------------------------------------------------------
\set flag 0
SELECT affiliate.add_member(:p, 'sam', NULL, 'dev-sam', '198.51.100.1') AS sam \gset
SELECT code AS sam_code FROM affiliate.member WHERE id = :sam \gset
-- another device and IP: no flag
SELECT affiliate.add_member(:p, 'amy', :'sam_code', 'dev-amy', '198.51.100.2') AS amy \gset
SELECT count(*) AS flags FROM affiliate.fraud_flag WHERE program_id = :p;
-- sam's own device: the sponsor sam is flagged (he would earn on himself)
SELECT affiliate.add_member(:p, 'sam2', :'sam_code', 'dev-sam', '198.51.100.3') AS sam2 \gset
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
:flags
SELECT f.member_id = :sam AS on_sponsor, (f.evidence->>'referred_member_id')::bigint = :sam2 AS names_referral,
       f.evidence->>'device_hash' = encode(m.device_hash, 'hex') AS device_hash_hex,
       length(f.evidence->>'device_hash') AS hex_digits,
       f.evidence::text NOT LIKE '%dev-sam%' AS no_clear_device, f.evidence_key = 'member:' || :sam2 AS key
  FROM affiliate.fraud_flag f JOIN affiliate.member m ON m.program_id = f.program_id AND m.id = :sam2
 WHERE f.program_id = :p AND f.id = :flag;
-- sam's IP only: flagged too, with the IP hash as evidence
SELECT affiliate.add_member(:p, 'sam3', :'sam_code', NULL, '198.51.100.1') AS sam3 \gset
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
:flags
SELECT f.evidence->>'ip_hash' = encode(m.ip_hash, 'hex') AS ip_hash_hex, f.evidence::text NOT LIKE '%198.51%' AS no_clear_ip
  FROM affiliate.fraud_flag f JOIN affiliate.member m ON m.program_id = f.program_id AND m.id = :sam3
 WHERE f.program_id = :p AND f.id = :flag;

-- two members on device dev-x: at the threshold, no flag; the third is
-- flagged (shared_device), with the count
SELECT count(*) AS flags_before FROM affiliate.fraud_flag WHERE program_id = :p \gset
SELECT affiliate.add_member(:p, 'x1', NULL, 'dev-x') AS x1 \gset
SELECT affiliate.add_member(:p, 'x2', NULL, 'dev-x') AS x2 \gset
SELECT count(*) - :flags_before AS new_flags FROM affiliate.fraud_flag WHERE program_id = :p;
SELECT affiliate.add_member(:p, 'x3', NULL, 'dev-x') AS x3 \gset
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
:flags
SELECT member_id = :x3 AS on_x3, evidence->>'device_hash' = (SELECT encode(device_hash, 'hex') FROM affiliate.member WHERE id = :x3) AS hash
  FROM affiliate.fraud_flag WHERE program_id = :p AND id = :flag;
-- the same device in another program is another hash: nothing there
SELECT affiliate.add_member(:p2, 'x-other', NULL, 'dev-x') IS NOT NULL AS joined;
SELECT count(*) AS other_program_flags FROM affiliate.fraud_flag WHERE program_id = :p2;
-- three members on one IP (no device): shared_ip on the third
SELECT affiliate.add_member(:p, 'i' || n, NULL, NULL, '203.0.113.9') IS NOT NULL AS joined FROM generate_series(1, 3) n;
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
:flags

-- on demand, for x1: its device now has 3 members, so x1 is flagged too;
-- run again, nothing new (never the same flag twice); audited
SELECT member_id = :x1 AS on_x1, rule, source, status FROM affiliate.run_fraud_checks(:p, :x1);
SELECT count(*) AS again FROM affiliate.run_fraud_checks(:p, :x1);
SELECT detail->>'flags_raised' AS raised FROM affiliate.audit_log
 WHERE program_id = :p AND action = 'run_fraud_checks' ORDER BY id;
-- amy's device is hers alone: nothing
SELECT count(*) AS amy_flags FROM affiliate.run_fraud_checks(:p, :amy);

-- ---------------------------------------------------------------------------
-- record_conversion: the buyer shares a device, IP or payout destination
-- with a beneficiary (buyer_match on the beneficiary).  gus (device dev-g)
-- sponsors rex (no device), rex sponsors kim on gus's device: kim's order
-- pays rex (level 1) and gus (level 2); gus is flagged.
-- ---------------------------------------------------------------------------
SELECT affiliate.set_plan(:p, 'two levels', '{3000,1000}', 'amount') IS NOT NULL AS plan;
SELECT affiliate.add_member(:p, 'gus', NULL, 'dev-g') AS gus \gset
SELECT affiliate.add_member(:p, 'rex', (SELECT code::text FROM affiliate.member WHERE id = :gus)) AS rex \gset
SELECT affiliate.add_member(:p, 'kim', (SELECT code::text FROM affiliate.member WHERE id = :rex), 'dev-g') AS kim \gset
SELECT count(*) AS flags_before FROM affiliate.fraud_flag WHERE program_id = :p \gset
SELECT beneficiary_id = :rex AS rex, beneficiary_id = :gus AS gus, level, amount
  FROM affiliate.record_conversion(:p, 'order-1', :kim, 10000) ORDER BY level;
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
SELECT count(*) - :flags_before AS new_flags FROM affiliate.fraud_flag WHERE program_id = :p;
:flags
SELECT member_id = :gus AS on_gus, (evidence->>'buyer_id')::bigint = :kim AS buyer,
       (evidence->>'conversion_id')::bigint = (SELECT id FROM affiliate.conversion WHERE external_ref = 'order-1') AS conversion,
       evidence->>'external_ref' AS external_ref, evidence_key = 'buyer:' || :kim AS key
  FROM affiliate.fraud_flag WHERE program_id = :p AND id = :flag;
-- kim buys again: the same flag is not raised twice
SELECT count(*) AS commissions FROM affiliate.record_conversion(:p, 'order-2', :kim, 10000);
SELECT count(*) - :flags_before AS new_flags FROM affiliate.fraud_flag WHERE program_id = :p;
-- a buyer sharing nothing with the beneficiaries: no flag
SELECT affiliate.add_member(:p, 'ned', (SELECT code::text FROM affiliate.member WHERE id = :rex), 'dev-ned') AS ned \gset
SELECT count(*) AS commissions FROM affiliate.record_conversion(:p, 'order-3', :ned, 10000);
SELECT count(*) - :flags_before AS new_flags FROM affiliate.fraud_flag WHERE program_id = :p;

-- ---------------------------------------------------------------------------
-- The hold on release: gus has an open flag; release_due releases rex's
-- commissions and leaves gus's pending, also one at a time (batch_size 1:
-- the held ones never take a batch's place), and again on a second run.
-- ---------------------------------------------------------------------------
SELECT affiliate.release_due(now() + interval '2 days', 1) AS released_1,
       affiliate.release_due(now() + interval '2 days', 1) AS released_2,
       affiliate.release_due(now() + interval '2 days', 1) AS released_3,
       affiliate.release_due(now() + interval '2 days', 1) AS released_4;
SELECT affiliate.release_due(now() + interval '2 days') AS released_again;
SELECT CASE beneficiary_id WHEN :gus THEN 'gus' WHEN :rex THEN 'rex' END AS who, status, count(*), sum(amount)
  FROM affiliate.commission WHERE program_id = :p GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 'gus' AS who, pending, available FROM affiliate.balance(:p, :gus)
 UNION ALL
SELECT 'rex', pending, available FROM affiliate.balance(:p, :rex);

-- ---------------------------------------------------------------------------
-- The hold on withdrawals.  gus cannot request one (55000 naming the flag).
-- kim was paid to kim@upi; rex asks for a payout to the same destination:
-- the request is recorded, the flag shared_destination raised on rex in
-- the same transaction, and the approval is refused until it is decided.
-- ---------------------------------------------------------------------------
SELECT affiliate.adjust_balance(:p, :gus, 50000, 'bonus') IS NOT NULL AS funded;
SELECT affiliate.adjust_balance(:p, :kim, 50000, 'bonus') IS NOT NULL AS funded;
SELECT id AS gus_flag FROM affiliate.fraud_flag
 WHERE program_id = :p AND member_id = :gus AND status = 'open' \gset
:save
\set VERBOSITY default
SELECT affiliate.request_withdrawal(:p, :gus, 1000, 'upi', 'gus@upi');
\set VERBOSITY terse
:unchanged
SELECT affiliate.request_withdrawal(:p, :kim, 1000, 'upi', 'Kim@UPI') AS kim_w \gset
SELECT count(*) AS kim_flags FROM affiliate.fraud_flag WHERE program_id = :p AND member_id = :kim;
SELECT affiliate.request_withdrawal(:p, :rex, 1000, 'upi', ' kim@upi ') AS rex_w \gset
SELECT id AS flag FROM affiliate.fraud_flag WHERE program_id = :p ORDER BY id DESC LIMIT 1 \gset
:flags
SELECT member_id = :rex AS on_rex, (evidence->>'withdrawal_id')::bigint = :rex_w AS withdrawal,
       evidence->>'destination_masked' AS masked, evidence->'other_members' = jsonb_build_array(:kim) AS others,
       evidence->>'destination_hash' = (SELECT encode(destination_hash, 'hex') FROM affiliate.withdrawal WHERE id = :kim_w) AS hash,
       evidence::text NOT LIKE '%kim@upi%' AS no_clear_destination
  FROM affiliate.fraud_flag WHERE program_id = :p AND id = :flag;
SELECT id AS rex_flag FROM affiliate.fraud_flag WHERE program_id = :p AND id = :flag \gset
SELECT status FROM affiliate.withdrawal WHERE id = :rex_w;
:save
\set VERBOSITY default
SELECT status FROM affiliate.approve_withdrawal(:p, :rex_w);
\set VERBOSITY terse
:unchanged
-- kim's own withdrawal (no flag on kim) is approved
SELECT status FROM affiliate.approve_withdrawal(:p, :kim_w);
-- rex's commissions are held too now (released earlier: they stay available)
SELECT count(*) AS commissions FROM affiliate.record_conversion(:p, 'order-4', :ned, 10000);
SELECT affiliate.release_due(now() + interval '2 days') AS released_with_rex_held;

-- ---------------------------------------------------------------------------
-- Deciding a flag: resolve (audited, actor) -> the next release pays gus;
-- dismiss -> rex's withdrawal is approved.  A decided flag stays decided.
-- ---------------------------------------------------------------------------
:save
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, 'closed', 'no');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, NULL, 'no');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, 'resolved', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, 'resolved', '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, 'resolved', repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, NULL, 'resolved', 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(NULL, :gus_flag, 'resolved', 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p, 999999, 'resolved', 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(:p2, :gus_flag, 'resolved', 'ok');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.resolve_fraud_flag(999999, :gus_flag, 'resolved', 'ok');
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT status, actor, note, decided_at IS NOT NULL AS decided
  FROM affiliate.resolve_fraud_flag(:p, :gus_flag, 'resolved', 'device shared by a family; checked by phone');
SELECT action, detail - 'flag_id' - 'member_id' AS detail, (detail->>'flag_id')::bigint = :gus_flag AS flag,
       (detail->>'member_id')::bigint = :gus AS member, actor
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'resolve_fraud_flag';
:save
SELECT affiliate.resolve_fraud_flag(:p, :gus_flag, 'dismissed', 'again');
\echo :LAST_ERROR_SQLSTATE
:unchanged
-- gus's other open flags (none): the next release pays his held commissions
SELECT count(*) AS gus_open FROM affiliate.fraud_flag WHERE program_id = :p AND member_id = :gus AND status = 'open';
SELECT affiliate.release_due(now() + interval '2 days') AS released_after_resolve;
SELECT CASE beneficiary_id WHEN :gus THEN 'gus' WHEN :rex THEN 'rex' END AS who, status, count(*), sum(amount)
  FROM affiliate.commission WHERE program_id = :p GROUP BY 1, 2 ORDER BY 1, 2;
-- dismiss rex's flag: the approval goes through, and rex's commission is released
SELECT status FROM affiliate.resolve_fraud_flag(:p, :rex_flag, 'dismissed', 'his sister''s account, allowed');
SELECT status FROM affiliate.approve_withdrawal(:p, :rex_w);
SELECT affiliate.release_due(now() + interval '2 days') AS released_after_dismiss;
-- the rule does not raise a decided flag again
SELECT count(*) AS raised_again FROM affiliate.run_fraud_checks(:p, :gus);
-- but rex has since shared a payout destination with kim, who bought through
-- him: the check on demand finds it (buyer_match, by destination)
SELECT member_id = :rex AS on_rex, rule, (evidence->>'buyer_id')::bigint = :kim AS buyer,
       evidence ? 'destination_hash' AS destination, evidence ? 'device_hash' AS device
  FROM affiliate.run_fraud_checks(:p, :rex);
-- run_fraud_checks: bad input refused, nothing changed
:save
SELECT affiliate.run_fraud_checks(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks(NULL, :gus);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks(:p2, :gus);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks(999999, :gus);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---------------------------------------------------------------------------
-- The daily job: signup bursts (more than fraud_burst_signups referrals of
-- one sponsor within fraud_burst_window) and low conversion (a sponsor with
-- at least fraud_low_conversion_referrals referrals converting below the
-- peers' median x fraud_low_conversion_ratio / 10000), in program p3.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('Burst shop', 'INR', '{"fraud_burst_signups": 3, "fraud_burst_window": "10 minutes", "fraud_low_conversion_referrals": 3, "fraud_low_conversion_ratio": 5000}') AS p3 \gset
SELECT affiliate.set_plan(:p3, 'one level', '{1000}', 'amount') IS NOT NULL AS plan;
SELECT count(affiliate.add_member(:p3, 'sponsor-' || s)) AS sponsors FROM unnest(ARRAY['a', 'b', 'c', 'd', 'e']) s;
SELECT id AS sa FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-a' \gset
SELECT id AS sb FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-b' \gset
SELECT id AS sc FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-c' \gset
SELECT id AS sd FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-d' \gset
SELECT id AS se FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-e' \gset
-- a: 4 referrals within a minute (a burst); b: 3 at once (the threshold,
-- no burst); c: 4 referrals 20 minutes apart (no burst); d: 3 referrals
-- none of whom bought; e: 2 referrals (too few to count)
SELECT count(affiliate.add_member(:p3, s || '-ref-' || n,
                                  (SELECT code::text FROM affiliate.member WHERE program_id = :p3 AND external_id = 'sponsor-' || s)))
  FROM (VALUES ('a', 4), ('b', 3), ('c', 4), ('d', 3), ('e', 2)) v(s, k), generate_series(1, v.k) n;
UPDATE affiliate.member m SET joined_at = now() - interval '3 hours' + (r.n * interval '15 seconds')
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM affiliate.member WHERE program_id = :p3 AND sponsor_id = :sa) r
 WHERE m.program_id = :p3 AND m.id = r.id;
UPDATE affiliate.member m SET joined_at = now() - interval '3 hours' + (r.n * interval '20 minutes')
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM affiliate.member WHERE program_id = :p3 AND sponsor_id = :sc) r
 WHERE m.program_id = :p3 AND m.id = r.id;
-- conversions: every referral of a and b bought, 3 of c's 4 but one order
-- was refunded in full (rate 0.5), none of d's, one of e's: the median of
-- a, b, c, d is 0.75 (0.875 if the refunded order counted), the bar
-- 0.75 x 5000 / 10000 = 0.375: d is below it, c is not
SELECT count(*) AS commissions FROM affiliate.member r,
       LATERAL affiliate.record_conversion(:p3, 'o-' || r.external_id, r.id, 5000) c
 WHERE r.program_id = :p3
   AND (r.sponsor_id IN (:sa, :sb) OR r.external_id IN ('c-ref-1', 'c-ref-2', 'c-ref-3', 'e-ref-1'));
SELECT count(*) AS reversed FROM affiliate.refund_conversion(:p3, 'o-c-ref-3');
:save
SELECT affiliate.run_fraud_checks_all(NULL, :p3);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks_all('infinity', :p3);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks_all(now() + interval '101 years', :p3);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.run_fraud_checks_all(now(), 999999);
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT affiliate.run_fraud_checks_all(now(), :p3) AS raised;
SELECT CASE member_id WHEN :sa THEN 'a' WHEN :sb THEN 'b' WHEN :sc THEN 'c' WHEN :sd THEN 'd' WHEN :se THEN 'e' END AS sponsor,
       rule, evidence_key LIKE 'burst:%' OR evidence_key = 'low_conversion' AS key, source,
       evidence - 'first_member_id' - 'first_joined_at' - 'last_joined_at' AS evidence,
       (evidence->>'last_joined_at')::timestamptz - (evidence->>'first_joined_at')::timestamptz AS span
  FROM affiliate.fraud_flag WHERE program_id = :p3 ORDER BY id;
SELECT (evidence->>'first_member_id')::bigint = (SELECT min(id) FROM affiliate.member WHERE program_id = :p3 AND sponsor_id = :sa) AS first_of_burst
  FROM affiliate.fraud_flag WHERE program_id = :p3 AND rule = 'signup_burst';
-- the job again: nothing new; an as_of before the burst: nothing either
SELECT affiliate.run_fraud_checks_all(now(), :p3) AS raised_again;
SELECT affiliate.run_fraud_checks_all(now() - interval '4 hours', :p3) AS raised_before;
-- a burst older than a day (and its window) is the job of an earlier day:
-- the job as of now does not see it; run_fraud_checks for the sponsor
-- looks at all their referrals.  f: 4 referrals at once, 3 days ago.
SELECT affiliate.add_member(:p3, 'sponsor-f') AS sf \gset
SELECT count(affiliate.add_member(:p3, 'f-ref-' || n, (SELECT code::text FROM affiliate.member WHERE id = :sf)))
  FROM generate_series(1, 4) n;
UPDATE affiliate.member SET joined_at = now() - interval '3 days' WHERE program_id = :p3 AND sponsor_id = :sf;
-- (f's 4 referrals, none of whom bought, make f a peer below the bar: the
-- job raises low_conversion for f, not signup_burst)
SELECT affiliate.run_fraud_checks_all(now(), :p3) AS raised;
SELECT rule, source FROM affiliate.fraud_flag WHERE program_id = :p3 AND member_id = :sf;
SELECT member_id = :sf AS f, rule, evidence->>'signups' AS signups, source FROM affiliate.run_fraud_checks(:p3, :sf);
-- the job as of the day of the burst finds the same burst (the same key as
-- the flag raised on demand): nothing new
SELECT affiliate.run_fraud_checks_all(now() - interval '3 days' + interval '1 hour', :p3) AS raised_that_day;

-- ---------------------------------------------------------------------------
-- block_member / unblock_member: audited; a blocked member earns nothing
-- (the platform keeps the share), unblocked they earn again.
-- ---------------------------------------------------------------------------
SELECT affiliate.block_member(:p, :rex, 'fake referrals') AS was;
SELECT status FROM affiliate.member WHERE id = :rex;
SELECT sum(amount) AS paid, string_agg(level::text, ',') AS levels, bool_or(beneficiary_id = :rex) AS rex_paid
  FROM affiliate.record_conversion(:p, 'order-5', :ned, 10000);
SELECT c.amount, (SELECT sum(amount) FROM affiliate.commission k WHERE k.program_id = :p AND k.conversion_id = c.id) AS commissions
  FROM affiliate.conversion c WHERE c.program_id = :p AND c.external_ref = 'order-5';
:save
SELECT affiliate.block_member(:p, :rex, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.unblock_member(:p, :gus, 'not blocked');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(:p, :rex, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(:p, :gus, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(:p, NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(:p, 999999, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(:p2, :gus, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.block_member(999999, :gus, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.unblock_member(:p, :rex, repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
:unchanged
SELECT affiliate.unblock_member(:p, :rex, 'appeal accepted') AS was;
SELECT status FROM affiliate.member WHERE id = :rex;
SELECT string_agg(level::text, ',' ORDER BY level) AS levels, bool_or(beneficiary_id = :rex) AS rex_paid
  FROM affiliate.record_conversion(:p, 'order-6', :ned, 10000);
SELECT action, detail - 'member_id' AS detail, (detail->>'member_id')::bigint = :rex AS rex, actor
  FROM affiliate.audit_log WHERE program_id = :p AND action IN ('block_member', 'unblock_member') ORDER BY id;

-- the rules' kept statements are prepared again after 100 and 400 uses
-- (spi_util.c AffPlan): 450 joins with a device, then a shared device
-- still raises its flag
SELECT count(affiliate.add_member(:p2, 'many-' || n, NULL, 'dev-many-' || n)) AS joined FROM generate_series(1, 450) n;
SELECT count(affiliate.add_member(:p2, 'farm-' || n, NULL, 'dev-farm')) AS joined FROM generate_series(1, 4) n;
SELECT m.external_id, f.rule, f.evidence->'members' AS members FROM affiliate.fraud_flag f
  JOIN affiliate.member m ON m.program_id = f.program_id AND m.id = f.member_id WHERE f.program_id = :p2;

-- every invariant holds
SELECT * FROM affiliate.verify();
