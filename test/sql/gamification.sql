-- Badges, leaderboards and event points (issue 9 §4 and the event rules of
-- §1): every metric from real events (add_member, record_conversion(s),
-- refund_conversion, award_points, record_bill, refund_bill, course
-- completion, increment_counter), leaderboards across day, week and month
-- boundaries (UTC) with ties, badges awarded once exactly when crossed,
-- event points with a tier multiplier, none for blocked members (and no
-- referral points for inactive ones); every
-- bad input refused with its SQLSTATE and nothing changed; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a gamification call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(coalesce(string_agg(e::text, ',' ORDER BY e.program_id, e.metric, e.period, e.period_start, e.member_id), '')) FROM affiliate.leaderboard_entry e) AS entries,
       (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.program_id, r.id), '')) FROM affiliate.badge_rule r) AS rules,
       (SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.program_id, b.id), '')) FROM affiliate.member_badge b) AS badges,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.counter_increment c) AS increments,
       (SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.program_id, l.id), '')) FROM affiliate.points_lot l) AS lots;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
-- a member's all-time values of every metric
\set totals 'SELECT member_id, metric, value FROM affiliate.leaderboard_entry WHERE program_id = :p AND period = ''all'' ORDER BY member_id, metric;'

-- Three moments: Saturday 2026-01-31 23:30, Sunday 2026-02-01 00:30 (a new
-- day and month, the same ISO week) and Monday 2026-02-02 00:10 (a new week).
\set t_sat '''2026-01-31 23:30:00+00'''
\set t_sun '''2026-02-01 00:30:00+00'''
\set t_mon '''2026-02-02 00:10:00+00'''
SELECT p AS period, affiliate.leaderboard_period_start(p, :t_sat) AS sat, affiliate.leaderboard_period_start(p, :t_sun) AS sun,
       affiliate.leaderboard_period_start(p, :t_mon) AS mon
  FROM unnest(ARRAY['day', 'week', 'month', 'all']) p;

-- ---------------------------------------------------------------------------
-- Event points: signup 10, referral_converted 5, course_completed 20 (set
-- before the members join); L1 30 %, L2 10 % of the amount.
SELECT affiliate.create_program('Game shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS p2 \gset
SELECT affiliate.set_points_rule(:p, 'signup', 10);
SELECT affiliate.set_points_rule(:p, 'referral_converted', 5);
SELECT affiliate.set_points_rule(:p, 'course_completed', 20);
SELECT affiliate.set_plan(:p, 'plan', '{3000,1000}', 'amount') IS NOT NULL AS plan;
SELECT affiliate.set_plan(:p2, 'plan', '{3000}', 'amount') IS NOT NULL AS plan2;

SELECT affiliate.add_member(:p, 'asha@example.com') AS asha \gset
SELECT affiliate.add_member(:p, 'ravi@example.com', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:p, 'meena@example.com', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.add_member(:p, 'kiran@example.com', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS kiran \gset
SELECT affiliate.add_member(:p2, 'other@example.com') AS other \gset
SELECT affiliate.add_member(:p2, 'buyer2@example.com', (SELECT code::text FROM affiliate.member WHERE id = :other)) AS buyer2 \gset

-- every member of :p got a signup lot of 10 (source_ref signup:<id>), usable
-- now; :p2 has no signup rule: no lot
SELECT member_id, points, remaining, reason, source_ref = 'signup:' || member_id AS ref_ok,
       usable_from = created_at AS usable_now
  FROM affiliate.points_lot ORDER BY id;
SELECT member_id, balance, usable FROM affiliate.points_balance(:p, :asha) CROSS JOIN (SELECT :asha AS member_id) x;
-- ... and 10 on the points leaderboard each (today)
:totals

-- ---------------------------------------------------------------------------
-- Badge rules
SELECT affiliate.set_badge_rule(:p, 'First referral', 'referrals', 1, 'bronze') AS r_ref \gset
SELECT affiliate.set_badge_rule(:p, 'Earner', 'earnings', 4000, 'silver') AS r_earn \gset
SELECT affiliate.set_badge_rule(:p, 'Scholar', 'courses', 1, 'platinum') AS r_course \gset
SELECT affiliate.set_badge_rule(:p, 'Power user', 'counter:api_calls', 100, 'gold') AS r_api \gset
SELECT action, detail->>'name' AS name, detail->>'metric' AS metric, detail->>'threshold' AS threshold, detail->>'level' AS level
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_badge_rule' ORDER BY id;
-- the same name changes the rule (same id)
SELECT affiliate.set_badge_rule(:p, 'Earner', 'earnings', 3900, 'silver') = :r_earn AS same_rule;
SELECT name, metric, threshold, level, active FROM affiliate.badge_rule WHERE program_id = :p ORDER BY id;

-- ---------------------------------------------------------------------------
-- Conversions.  Saturday: meena buys 10000 -> ravi 3000 (L1, a referral),
-- asha 1000 (L2).  Ravi gets 5 referral_converted points (now).
:save
SELECT beneficiary_id, level, amount FROM affiliate.record_conversion(:p, 'o-1', :meena, 10000, 0, :t_sat) ORDER BY level;
:totals
-- ravi crossed 'First referral' (1 referral): awarded once, in that transaction
SELECT member_id, rule_id = :r_ref AS first_referral, value, threshold FROM affiliate.member_badge WHERE program_id = :p ORDER BY id;
SELECT member_id, points, reason, source_ref FROM affiliate.points_lot
 WHERE program_id = :p AND reason = 'referral_converted' ORDER BY id;
-- a replay writes nothing: no second referral, earnings, badge or points
:save
SELECT beneficiary_id, level, amount FROM affiliate.record_conversion(:p, 'o-1', :meena, 10000, 0, :t_sat) ORDER BY level;
SELECT beneficiary_id, level, amount FROM affiliate.record_conversion(:p, 'o-1', :meena, 10000) ORDER BY level;
:unchanged

-- Sunday (new day and month, same week): a batch of two, one of them a
-- replay of o-1: kiran buys 10000 (asha L1 3000) and meena 3000 (ravi L1 900,
-- asha 300).
SELECT count(*) AS commissions FROM affiliate.record_conversions(:p, ARRAY[
    ROW('o-1', :meena, 10000, 0, :t_sat, NULL, NULL),
    ROW('o-2', :kiran, 10000, 0, :t_sun, NULL, NULL),
    ROW('o-3', :meena, 3000, 0, :t_sun, NULL, NULL)]::affiliate.conversion_input[]);
:totals
-- asha reached 4300 earnings (3900 needed): 'Earner'; ravi (3900) exactly at the threshold: 'Earner' too
SELECT m.external_id, b.name, b.level, b.value, b.threshold
  FROM affiliate.member m CROSS JOIN LATERAL affiliate.member_badges(:p, m.id) b
 WHERE m.program_id = :p ORDER BY m.id, b.awarded_at, b.name;

-- Monday (new week): kiran buys 1000 -> asha 300
SELECT count(*) FROM affiliate.record_conversion(:p, 'o-4', :kiran, 1000, 0, :t_mon);

-- ---------------------------------------------------------------------------
-- Leaderboards: each period holds the events of its own day, week or month
SELECT 'day sat' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'day', :t_sat);
SELECT 'day sun' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'day', :t_sun);
SELECT 'day mon' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'day', :t_mon);
SELECT 'week sat+sun' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'week', :t_sun);
SELECT 'week mon' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'week', :t_mon);
SELECT 'month jan' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'month', :t_sat);
SELECT 'month feb' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'month', :t_mon);
SELECT 'all' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'all');
SELECT 'referrals' AS board, * FROM affiliate.leaderboard(:p, 'referrals', 'all');
-- a day without events is empty; another program's board has its own members
SELECT count(*) AS empty_day FROM affiliate.leaderboard(:p, 'earnings', 'day', '2026-01-30 12:00+00');
SELECT count(*) AS p2_rows FROM affiliate.leaderboard(:p2, 'earnings', 'all');
-- max_rows cuts the list
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'all', now(), 1);

-- display names: the profile's, else "Member <id>" (never the external id)
SELECT affiliate.set_member_profile(:p, :asha, 'Asha K.', NULL);
SELECT rank, member_id = :asha AS is_asha, display_name, display_name LIKE '%@%' AS shows_email
  FROM affiliate.leaderboard(:p, 'earnings', 'all') ORDER BY rank, member_id;

-- the top-N read is an index scan on leaderboard_rank, no sort (the planner
-- is kept off the sequential scan that a table this small would get)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT e.member_id, e.value FROM affiliate.leaderboard_entry e
 WHERE e.program_id = 1 AND e.metric = 'earnings' AND e.period = 'week'
   AND e.period_start = '2026-01-26 00:00+00' AND e.value > 0
 ORDER BY e.value DESC, e.member_id LIMIT 10;
RESET enable_seqscan;

-- ---------------------------------------------------------------------------
-- Ties share a rank (1, 1, 3): counters.  Asha and ravi 120 each, kiran 5.
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 100, 'req-1') AS asha_total;
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 20) AS asha_total;
SELECT affiliate.increment_counter(:p, :ravi, 'api_calls', 120) AS ravi_total;
SELECT affiliate.increment_counter(:p, :kiran, 'api_calls') AS kiran_total;
SELECT affiliate.increment_counter(:p, :kiran, 'api_calls', 4) AS kiran_total;
SELECT * FROM affiliate.leaderboard(:p, 'counter:api_calls', 'all');
-- the same source_ref replays: the total it returned then, nothing added
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 100, 'req-1') AS replayed_total;
SELECT value AS asha_all FROM affiliate.leaderboard_entry
 WHERE program_id = :p AND member_id = :asha AND metric = 'counter:api_calls' AND period = 'all';
-- 'Power user' (100 calls): asha at 100 (req-1), ravi at 120; kiran not
SELECT member_id, value, threshold FROM affiliate.member_badge WHERE program_id = :p AND rule_id = :r_api ORDER BY member_id;

-- ---------------------------------------------------------------------------
-- A rule created when members are above its threshold: nothing at once; a
-- member gets it at their next (positive) event of the metric
SELECT affiliate.set_badge_rule(:p, 'Caller 5', 'counter:api_calls', 5, 'bronze') AS r_five \gset
SELECT count(*) AS awarded_at_creation FROM affiliate.member_badge WHERE rule_id = :r_five;
SELECT affiliate.increment_counter(:p, :kiran, 'api_calls');
SELECT member_id = :kiran AS kiran, value FROM affiliate.member_badge WHERE rule_id = :r_five;
-- an inactive rule awards nothing; reactivated, at the next event
SELECT affiliate.set_badge_rule_active(:p, 'Caller 5', false);
SELECT affiliate.increment_counter(:p, :ravi, 'api_calls');
SELECT count(*) AS while_inactive FROM affiliate.member_badge WHERE rule_id = :r_five;
SELECT affiliate.set_badge_rule_active(:p, 'Caller 5', false);  -- no change: not audited
SELECT affiliate.set_badge_rule_active(:p, 'Caller 5', true);
SELECT affiliate.increment_counter(:p, :ravi, 'api_calls');
SELECT member_id = :ravi AS ravi, value FROM affiliate.member_badge WHERE rule_id = :r_five AND member_id <> :kiran;
SELECT action, detail->>'active' AS active FROM affiliate.audit_log
 WHERE program_id = :p AND action = 'set_badge_rule_active' ORDER BY id;

-- ---------------------------------------------------------------------------
-- Refunds: earnings go down by what was reversed, in the periods of the
-- conversion (Sunday); referral counts and badges stay.
SELECT level, reversed FROM affiliate.refund_conversion(:p, 'o-3') ORDER BY level;
SELECT 'day sun' AS board, * FROM affiliate.leaderboard(:p, 'earnings', 'day', :t_sun);
SELECT 'referrals' AS board, * FROM affiliate.leaderboard(:p, 'referrals', 'all');
SELECT m.external_id, b.name FROM affiliate.member m CROSS JOIN LATERAL affiliate.member_badges(:p, m.id) b
 WHERE m.program_id = :p AND b.name = 'Earner' ORDER BY m.id;
-- a partial refund of o-2 (half): asha's 3000 share loses 1500
SELECT level, reversed FROM affiliate.refund_conversion(:p, 'o-2', NULL, 5000) ORDER BY level;
:totals

-- ---------------------------------------------------------------------------
-- Points earned: awards and bills count, deductions and redemptions do not;
-- a bill refund takes back the points it was due.  (Ravi already holds
-- 10 signup + 5 + 5 referral_converted = 20.)
SELECT affiliate.set_points_rule(:p, 'bill', 1, 100);
SELECT affiliate.set_badge_rule(:p, 'Points 100', 'points', 100, 'gold') AS r_pts \gset
SELECT affiliate.award_points(:p, :ravi, 30, 'welcome back') IS NOT NULL AS awarded;
SELECT affiliate.record_bill(:p, 'bill-1', :ravi, 6000, :t_sun) AS bill_points;
SELECT affiliate.deduct_points(:p, :ravi, 40, 'correction') IS NOT NULL AS deducted;
SELECT value AS ravi_points FROM affiliate.leaderboard_entry
 WHERE program_id = :p AND member_id = :ravi AND metric = 'points' AND period = 'all';
SELECT 'points sun' AS board, * FROM affiliate.leaderboard(:p, 'points', 'day', :t_sun);
SELECT member_id = :ravi AS ravi, value FROM affiliate.member_badge WHERE rule_id = :r_pts;
SELECT affiliate.refund_bill(:p, 'bill-1', 3000) AS taken;
SELECT value AS ravi_points_after_refund FROM affiliate.leaderboard_entry
 WHERE program_id = :p AND member_id = :ravi AND metric = 'points' AND period = 'all';
SELECT 'points sun' AS board, * FROM affiliate.leaderboard(:p, 'points', 'day', :t_sun);
SELECT count(*) AS ravi_points_badges FROM affiliate.member_badge WHERE rule_id = :r_pts;

-- ---------------------------------------------------------------------------
-- Event points with a tier multiplier: ravi in a 2x tier earns 10 per
-- referral; a blocked referrer earns none (but the referral counts).
SELECT affiliate.set_tier(:p, 'Double', 1, 1000000, 'points', '12 months', 20000) IS NOT NULL AS tier;
SELECT affiliate.set_member_tier(:p, :ravi, 'Double');
SELECT count(*) FROM affiliate.record_conversion(:p, 'o-5', :meena, 1000);
SELECT points, source_ref FROM affiliate.points_lot l
 WHERE program_id = :p AND source_ref = 'referral_converted:' || (SELECT id FROM affiliate.conversion WHERE external_ref = 'o-5');
SELECT affiliate.set_member_status(:p, :ravi, 'blocked');
SELECT count(*) FROM affiliate.record_conversion(:p, 'o-6', :meena, 1000);
SELECT count(*) AS lots_for_o6 FROM affiliate.points_lot l
 WHERE program_id = :p AND source_ref = 'referral_converted:' || (SELECT id FROM affiliate.conversion WHERE external_ref = 'o-6');
SELECT value AS ravi_referrals FROM affiliate.leaderboard_entry
 WHERE program_id = :p AND member_id = :ravi AND metric = 'referrals' AND period = 'all';
SELECT affiliate.set_member_status(:p, :ravi, 'active');

-- ---------------------------------------------------------------------------
-- Courses: completing one (the certificate is issued) counts, earns the
-- course_completed points and the 'Scholar' badge, once.
SELECT affiliate.create_course(:p, 'Selling 101', NULL, 0, true) AS c \gset
SELECT affiliate.add_module(:p, :c, 'Basics', NULL, 0, true) AS mod \gset
SELECT affiliate.add_topic(:p, :mod, 'Hello', 'youtube', 'dQw4w9WgXcQ', 60, NULL, 0, true) AS t1 \gset
SELECT affiliate.add_topic(:p, :mod, 'Pitch', 'youtube', 'aqz-KE-bpKQ', 60, NULL, 1, true) AS t2 \gset
SELECT affiliate.enroll(:p, :kiran, :c);
SELECT completed FROM affiliate.record_progress(:p, :kiran, :t1, 60, true);
SELECT count(*) AS courses_before FROM affiliate.leaderboard_entry WHERE program_id = :p AND metric = 'courses';
SELECT completed, certificate_number IS NOT NULL AS certified FROM affiliate.record_progress(:p, :kiran, :t2, 60, true);
SELECT * FROM affiliate.leaderboard(:p, 'courses', 'all');
SELECT points, reason, source_ref = 'course_completed:' || :c || ':' || :kiran AS ref_ok
  FROM affiliate.points_lot WHERE program_id = :p AND member_id = :kiran AND reason = 'course_completed';
SELECT name, level, value FROM affiliate.member_badges(:p, :kiran) WHERE metric = 'courses';
-- progress reported again: no second completion
:save
SELECT completed FROM affiliate.record_progress(:p, :kiran, :t2, 60, true);
:unchanged
-- an inactive member (meena) still earns course points as a customer, but
-- an inactive referrer (ravi) no referral_converted points
SELECT affiliate.set_member_status(:p, :meena, 'inactive');
SELECT affiliate.enroll(:p, :meena, :c);
SELECT count(*) FROM affiliate.record_progress(:p, :meena, :t1, 60, true);
SELECT count(*) FROM affiliate.record_progress(:p, :meena, :t2, 60, true);
SELECT points, reason FROM affiliate.points_lot WHERE program_id = :p AND member_id = :meena AND reason = 'course_completed';
SELECT affiliate.set_member_status(:p, :meena, 'active');
SELECT affiliate.set_member_status(:p, :ravi, 'inactive');
SELECT count(*) FROM affiliate.record_conversion(:p, 'o-7', :meena, 1000);
SELECT count(*) AS lots_for_o7 FROM affiliate.points_lot l
 WHERE program_id = :p AND source_ref = 'referral_converted:' || (SELECT id FROM affiliate.conversion WHERE external_ref = 'o-7');
SELECT affiliate.set_member_status(:p, :ravi, 'active');

-- ---------------------------------------------------------------------------
-- Bad input: refused with its SQLSTATE, nothing changed
:save
SELECT affiliate.set_badge_rule(:p, 'Bad', 'clicks', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'counter:Bad', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'counter:', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'referrals', 0, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'referrals', 1000000000000001, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'referrals', 1, 'diamond');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, '', 'referrals', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, repeat('x', 65), 'referrals', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, NULL, 'referrals', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(:p, 'Bad', 'referrals', NULL, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule(999, 'Bad', 'referrals', 1, 'gold');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule_active(:p, 'No such rule', false);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule_active(:p2, 'Caller 5', false);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_badge_rule_active(:p, 'Caller 5', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'Api', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, '1calls', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, repeat('a', 33), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', -5);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :other, 'api_calls', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(999, :asha, 'api_calls', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :ravi, 'api_calls', 100, 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 99, 'req-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.increment_counter(:p, :asha, 'api_calls', 1, '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'clicks', 'all');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'year');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'all', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'all', now(), 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'all', now(), 1001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, NULL, 'all');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(:p, 'earnings', 'all', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.leaderboard(999, 'earnings', 'all');
\echo :LAST_ERROR_SQLSTATE
:unchanged
-- the limits themselves are accepted
SELECT count(*) FROM affiliate.leaderboard(:p, 'counter:' || repeat('a', 32), 'all', now(), 1000);
-- an unknown member has no badges
SELECT count(*) AS no_badges FROM affiliate.member_badges(:p, 999);

-- every invariant holds (the leaderboards agree with the events)
SELECT * FROM affiliate.verify();
-- and a leaderboard that disagrees is reported
BEGIN;
UPDATE affiliate.leaderboard_entry SET value = value + 1
 WHERE program_id = :p AND member_id = :asha AND metric = 'earnings' AND period = 'day' AND period_start = '2026-01-31';
SELECT invariant FROM affiliate.verify(:p) ORDER BY 1;
ROLLBACK;

-- a badge earned sends the badge_earned message (docs/notifications.md) in
-- the event's transaction: a rule on a counter crossed by one increment
SELECT affiliate.set_template(:p, 'badge_earned', 'in_app', 'New badge',
                              '{{member_name}} earned {{badge_name}} ({{badge_level}})') IS NOT NULL AS template;
SELECT affiliate.set_badge_rule(:p, 'Chatty', 'counter:messages', 3, 'bronze') AS r_chatty \gset
SELECT affiliate.increment_counter(:p, :ravi, 'messages', 2, 'msg-1') AS ravi_messages;
SELECT count(*) AS badge_messages_before FROM affiliate.outbox WHERE program_id = :p AND event = 'badge_earned';
SELECT affiliate.increment_counter(:p, :ravi, 'messages', 1, 'msg-2') AS ravi_messages;
SELECT o.member_id = :ravi AS to_ravi, o.channel, o.subject, o.body, o.payload->>'badge_level' AS level
  FROM affiliate.outbox o WHERE o.program_id = :p AND o.event = 'badge_earned';
-- the badge is awarded once: more messages, no second message
SELECT affiliate.increment_counter(:p, :ravi, 'messages', 5, 'msg-3') AS ravi_messages;
SELECT count(*) AS badge_messages FROM affiliate.outbox WHERE program_id = :p AND event = 'badge_earned';
SELECT * FROM affiliate.verify(:p);
