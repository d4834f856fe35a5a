-- Notifications (issue 10 §3): templates checked when saved (unknown
-- variables, malformed placeholders), rendering with per-channel escaping,
-- every engine event writing its outbox rows in its own transaction, the
-- outbox lifecycle (claim with a lease, sent, failed with back-off up to 8
-- attempts), the in-app inbox, children and birthdays (year boundary,
-- 29 February), expiring points; every refusal has its SQLSTATE and changes
-- nothing; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything a notification call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.program_id, t.id), '')) FROM affiliate.notification_template t) AS templates,
       (SELECT md5(coalesce(string_agg(o::text, ',' ORDER BY o.program_id, o.id), '')) FROM affiliate.outbox o) AS outbox,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.member_child c) AS children,
       (SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.program_id, b.id), '')) FROM affiliate.birthday_sent b) AS birthdays,
       (SELECT md5(coalesce(string_agg(n::text, ',' ORDER BY n.program_id, n.id), '')) FROM affiliate.points_expiry_notice n) AS notices,
       (SELECT count(*) FROM affiliate.points_lot) AS lots;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
\set box 'SELECT m.external_id AS member, o.event, o.channel, o.subject, o.body, o.status FROM affiliate.outbox o JOIN affiliate.member m ON m.program_id = o.program_id AND m.id = o.member_id WHERE o.program_id = :p AND o.id > :mark ORDER BY o.id;'
\set mark_now 'SELECT coalesce(max(id), 0) AS mark FROM affiliate.outbox \\gset'

SELECT affiliate.create_program('Notify shop', 'INR', '{"hold_period": "1 day", "min_withdrawal": 1000}') AS p \gset
SELECT affiliate.create_program('Quiet shop', 'INR', '{"hold_period": "1 day"}') AS p2 \gset
SELECT affiliate.set_plan(:p, 'two levels', '{1000,500}', 'amount') IS NOT NULL AS plan;
SELECT affiliate.set_plan(:p2, 'two levels', '{1000,500}', 'amount') IS NOT NULL AS plan2;
SELECT affiliate.add_member(:p, 'asha') AS asha \gset
SELECT affiliate.set_member_profile(:p, :asha, '<b>Asha & "Co"</b> O''Neil', NULL);
SELECT affiliate.add_member(:p, 'ravi', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:p2, 'quiet') AS q1 \gset
SELECT affiliate.add_member(:p2, 'quieter', (SELECT code::text FROM affiliate.member WHERE id = :q1)) AS q2 \gset

-- ---- templates: checked when saved ------------------------------------------
SELECT affiliate.set_template(:p, 'commission_earned', 'email', 'You earned {{amount}} {{currency}}',
  E'<p>Hi {{member_name}},</p>\n<p>order {{ order_ref }} paid you {{amount}} {{currency}} (level {{level}}).</p>') AS t_email \gset
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'Hi {{member_name}}: +{{amount}} {{currency}} for {{order_ref}}') AS t_sms \gset
SELECT affiliate.set_template(:p, 'commission_earned', 'whatsapp', NULL, 'Hi {there} {{member_name}}, {{amount_minor}} paise (single braces are text)') AS t_wa \gset
SELECT affiliate.set_template(:p, 'commission_earned', 'in_app', 'Commission', 'x') AS t_app \gset
-- replacing keeps the id
SELECT affiliate.set_template(:p, 'commission_earned', 'in_app', 'Commission', '{{amount}} {{currency}} from {{order_ref}}') = :t_app AS same_id;
SELECT event, channel, subject, body FROM affiliate.notification_template WHERE program_id = :p ORDER BY id;
SELECT action, detail->>'event' AS event, detail->>'channel' AS channel, detail->>'body' AS body
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_template' ORDER BY id;
-- refused, with nothing changed
:save
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{amout}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'A {{badge_name}} for you');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'email', 'Paid {{reason}}', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{amount');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got amount}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{ }}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{Amount}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{amount}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, 'You got {{{amount}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'email', E'two\nlines', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, E'bell\x07');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'email', NULL, 'no subject');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', 'a subject', 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_paid', 'sms', NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'pigeon', NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'sms', NULL, repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(:p, 'commission_earned', 'email', repeat('x', 201), 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(NULL, 'commission_earned', 'sms', NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.set_template(999999, 'commission_earned', 'sms', NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.remove_template(:p, 'birthday', 'sms');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.remove_template(:p2, 'commission_earned', 'sms');
\echo :LAST_ERROR_SQLSTATE
:unchanged
-- removing one (audited); the event then sends nothing on that channel
SELECT affiliate.set_template(:p, 'commission_earned', 'whatsapp', NULL, 'gone soon') = :t_wa AS same_id;
SELECT affiliate.remove_template(:p, 'commission_earned', 'whatsapp');
SELECT channel FROM affiliate.notification_template WHERE program_id = :p ORDER BY channel;
SELECT action, detail->>'event' AS event, detail->>'channel' AS channel
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'remove_template';

-- ---- events: commission_earned, per channel escaping ------------------------
SELECT affiliate.set_template(:p, 'referral_joined', 'in_app', 'New referral', '{{referral_name}} ({{referral_external_id}}) joined {{program_name}}') IS NOT NULL AS t;
:mark_now
SELECT affiliate.add_member(:p, 'kiran', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS kiran \gset
-- referral_joined goes to the sponsor (ravi), in_app: delivered at once
:box
:mark_now
-- order 100000 paise: ravi (level 1) 10 %, asha (level 2) 5 %
SELECT beneficiary_id = :ravi AS ravi, level, amount FROM affiliate.record_conversion(:p, E'ord-<1>&\x01"2"', :kiran, 100000) ORDER BY level;
:box
-- the payload carries every variable, unescaped
SELECT o.payload FROM affiliate.outbox o WHERE o.program_id = :p AND o.id > :mark AND o.channel = 'sms' ORDER BY o.id LIMIT 1;
-- a replayed conversion writes nothing new
:mark_now
SELECT count(*) FROM affiliate.record_conversion(:p, E'ord-<1>&\x01"2"', :kiran, 100000);
:box
-- a program without templates gets no rows (and events still work there)
SELECT count(*) AS commissions FROM affiliate.record_conversion(:p2, 'q-ord-1', :q2, 50000);
SELECT count(*) AS outbox_rows_of_p2 FROM affiliate.outbox WHERE program_id = :p2;

-- ---- commission_released ------------------------------------------------------
SELECT affiliate.set_template(:p, 'commission_released', 'sms', NULL, '{{amount}} {{currency}} of {{order_ref}} is now yours, {{member_name}}') IS NOT NULL AS t;
:mark_now
SELECT affiliate.release_due(now() + interval '2 days', 1000, :p) AS released;
:box
SELECT affiliate.release_due(now() + interval '2 days', 1000, :p2) AS released_p2;
SELECT count(*) AS outbox_rows_of_p2 FROM affiliate.outbox WHERE program_id = :p2;

-- ---- payouts ------------------------------------------------------------------
SELECT affiliate.set_template(:p, 'payout_approved', 'in_app', 'Payout approved', '{{amount}} {{currency}} to {{method}} {{destination}} (#{{withdrawal_id}})') IS NOT NULL AS t;
SELECT affiliate.set_template(:p, 'payout_paid', 'email', 'Paid: {{amount}} {{currency}}', 'Reference {{provider_ref}}') IS NOT NULL AS t;
SELECT affiliate.set_template(:p, 'payout_rejected', 'sms', NULL, 'Withdrawal of {{amount}} {{currency}} rejected: {{reason}}') IS NOT NULL AS t;
:mark_now
SELECT affiliate.request_withdrawal(:p, :ravi, 5000, 'upi', 'ravi@upi') AS w1 \gset
SELECT affiliate.request_withdrawal(:p, :ravi, 2500, 'upi', 'ravi@upi') AS w2 \gset
SELECT status FROM affiliate.approve_withdrawal(:p, :w1);
SELECT status FROM affiliate.complete_withdrawal(:p, :w1, 'UTR<42>');
-- a retried confirmation changes nothing and sends nothing
SELECT status FROM affiliate.complete_withdrawal(:p, :w1, 'UTR<42>');
SELECT status FROM affiliate.reject_withdrawal(:p, :w2, E'name\nmismatch');
:box

-- ---- tier_changed and certificate_issued --------------------------------------
SELECT affiliate.set_template(:p, 'tier_changed', 'in_app', 'Tier', '{{old_tier}} -> {{new_tier}} ({{change}})') IS NOT NULL AS t;
SELECT affiliate.set_template(:p, 'certificate_issued', 'email', 'Certificate for {{course_title}}', 'Number {{certificate_number}}') IS NOT NULL AS t;
SELECT affiliate.set_tier(:p, 'Gold', 1, 100, 'points', '12 months') IS NOT NULL AS gold;
SELECT affiliate.set_tier(:p, 'Silver', 0, 50, 'points', '12 months') IS NOT NULL AS silver;
:mark_now
SELECT affiliate.set_member_tier(:p, :ravi, 'Silver');
SELECT affiliate.set_member_tier(:p, :ravi, 'Gold');
SELECT affiliate.create_course(:p, 'Selling <101>', NULL, 0, true) AS c \gset
SELECT affiliate.add_module(:p, :c, 'Basics', NULL, 0, true) AS mo \gset
SELECT affiliate.add_topic(:p, :mo, 'Hello', 'youtube', 'dQw4w9WgXcQ', 60, NULL, 0, true) AS t1 \gset
SELECT affiliate.enroll(:p, :ravi, :c) IS NOT NULL AS enrolled;
SELECT completed FROM affiliate.record_progress(:p, :ravi, :t1, 60, true);
-- (the certificate number is random: compared below)
SELECT m.external_id AS member, o.event, o.channel, o.subject, CASE WHEN o.event = 'certificate_issued' THEN replace(o.body, c.number, '<number>') ELSE o.body END AS body, o.status
  FROM affiliate.outbox o JOIN affiliate.member m ON m.program_id = o.program_id AND m.id = o.member_id
  LEFT JOIN affiliate.certificate c ON c.program_id = o.program_id AND c.member_id = o.member_id
 WHERE o.program_id = :p AND o.id > :mark ORDER BY o.id;
-- (sent through AffNotify, the call other engines use: a jsonb of variables)
SELECT o.body = 'Number ' || c.number AS number_matches,
       o.payload - 'certificate_number' AS payload, o.payload->>'certificate_number' = c.number AS payload_number
  FROM affiliate.outbox o JOIN affiliate.certificate c ON c.program_id = o.program_id AND c.member_id = o.member_id
 WHERE o.program_id = :p AND o.event = 'certificate_issued';

-- ---- points expiring soon: once per lot ---------------------------------------
SELECT affiliate.set_template(:p, 'points_expiring', 'in_app', 'Points expiring', '{{points}} points expire on {{expires_on}} (in {{days_left}} days)') IS NOT NULL AS t;
SELECT affiliate.award_points(:p, :asha, 40, 'welcome', '2071-01-10 12:00+00') IS NOT NULL AS soon;
SELECT affiliate.award_points(:p, :asha, 60, 'later', '2071-03-01 00:00+00') IS NOT NULL AS later;
SELECT affiliate.award_points(:p2, :q1, 70, 'elsewhere', '2071-01-09 00:00+00') IS NOT NULL AS no_template;
:mark_now
SELECT affiliate.queue_points_expiring('2071-01-05 00:00+00', 7) AS announced;
SELECT affiliate.queue_points_expiring('2071-01-06 00:00+00', 7) AS again;
:box
-- refused, nothing changed
:save
SELECT affiliate.queue_points_expiring(NULL, 7);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_points_expiring('infinity', 7);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_points_expiring(now(), 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_points_expiring(now(), 366);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_points_expiring(now(), 7, 999999);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- the outbox lifecycle -------------------------------------------------------
-- pending rows per channel; in_app rows are delivered (sent) when written
SELECT channel, status, count(*) FROM affiliate.outbox WHERE program_id = :p GROUP BY 1, 2 ORDER BY 1, 2;
-- a sender of one program claims only that program's rows
SELECT count(*) AS claimed_for_p2 FROM affiliate.claim_outbox('email', 10, '5 minutes', :p2);
-- claim: oldest first, one attempt counted, leased for 5 minutes
SELECT id AS s1 FROM affiliate.outbox WHERE program_id = :p AND channel = 'sms' ORDER BY id LIMIT 1 \gset
BEGIN;
SELECT id - :s1 AS n, member_external_id AS member, event, attempts FROM affiliate.claim_outbox('sms', 2);
SELECT id - :s1 AS n, status, attempts, CASE WHEN attempts > 0 THEN next_attempt_at - now() END AS lease,
       claimed_at = now() AS claimed_now
  FROM affiliate.outbox WHERE program_id = :p AND channel = 'sms' ORDER BY id;
-- a second claim gets the rows not yet leased
SELECT id - :s1 AS n, attempts FROM affiliate.claim_outbox('sms', 10);
SELECT count(*) AS nothing_left FROM affiliate.claim_outbox('sms', 10);
COMMIT;
-- sent: once; again changes nothing
SELECT affiliate.mark_sent(:p, :s1);
SELECT affiliate.mark_sent(:p, :s1);
SELECT status, sent_at IS NOT NULL AS sent_at FROM affiliate.outbox WHERE program_id = :p AND id = :s1;
-- failed: back-off 1, 2, 4 ... 64 minutes, then failed at the 8th attempt
SELECT id AS s2 FROM affiliate.outbox WHERE program_id = :p AND channel = 'sms' ORDER BY id OFFSET 1 LIMIT 1 \gset
CREATE TEMP TABLE backoff (attempt int, status text, delay interval, last_error text);
SET nt.p = :'p';
SET nt.s2 = :'s2';
DO $$
DECLARE
    p bigint := current_setting('nt.p')::bigint;
    s bigint := current_setting('nt.s2')::bigint;
    st text;
BEGIN
    FOR i IN 1 .. 8 LOOP
        IF i > 1 THEN
            -- the clock moves on: the message is due again, and claimed
            UPDATE affiliate.outbox SET next_attempt_at = now() - interval '1 second' WHERE program_id = p AND id = s;
            PERFORM affiliate.claim_outbox('sms', 100);
        END IF;
        st := affiliate.mark_failed(p, s, 'smtp timeout ' || i);
        INSERT INTO backoff
        SELECT o.attempts, st || '/' || o.status, CASE WHEN o.status = 'pending' THEN o.next_attempt_at - now() END, o.last_error
          FROM affiliate.outbox o WHERE o.program_id = p AND o.id = s;
    END LOOP;
END
$$;
SELECT * FROM backoff ORDER BY attempt;
-- retry false: failed at once
SELECT id AS s3 FROM affiliate.outbox WHERE program_id = :p AND channel = 'sms' ORDER BY id OFFSET 2 LIMIT 1 \gset
SELECT affiliate.mark_failed(:p, :s3, 'no such number', false);
SELECT status, attempts, last_error FROM affiliate.outbox WHERE program_id = :p AND id = :s3;
-- a lease that ends without an outcome: the row is claimed again
SELECT id AS s4 FROM affiliate.outbox WHERE program_id = :p AND channel = 'sms' ORDER BY id OFFSET 3 LIMIT 1 \gset
UPDATE affiliate.outbox SET next_attempt_at = now() - interval '1 second' WHERE program_id = :p AND id = :s4;
SELECT id - :s1 AS n, attempts FROM affiliate.claim_outbox('sms', 10);
-- refused, nothing changed
:save
SELECT affiliate.mark_sent(:p, :s2);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s1, 'late');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s2, 'again');
\echo :LAST_ERROR_SQLSTATE
SELECT id AS e1 FROM affiliate.outbox WHERE program_id = :p AND channel = 'email' AND attempts = 0 ORDER BY id LIMIT 1 \gset
SELECT affiliate.mark_sent(:p, :e1);
\echo :LAST_ERROR_SQLSTATE
SELECT id AS a1 FROM affiliate.outbox WHERE program_id = :p AND channel = 'in_app' ORDER BY id LIMIT 1 \gset
SELECT affiliate.mark_sent(:p, :a1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_sent(:p2, :s4);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_sent(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_sent(:p, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s4, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s4, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s4, repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_failed(:p, :s4, 'x', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('in_app', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('fax', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox(NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 1001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 10, '1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 10, '1 month');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 10, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.claim_outbox('email', 10, '5 minutes', 999999);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- the in-app inbox -------------------------------------------------------------
SELECT event, subject, body, read_at IS NOT NULL AS read FROM affiliate.notifications(:p, :ravi) ORDER BY id;
SELECT affiliate.unread_count(:p, :ravi) AS unread;
SELECT array_agg(id ORDER BY id) AS two FROM (SELECT id FROM affiliate.notifications(:p, :ravi) ORDER BY id LIMIT 2) x \gset
SELECT affiliate.mark_read(:p, :ravi, :'two');
SELECT affiliate.mark_read(:p, :ravi, :'two') AS again;
SELECT affiliate.mark_read(:p, :ravi, '{}') AS none;
SELECT affiliate.unread_count(:p, :ravi) AS unread;
SELECT count(*) AS unread_listed FROM affiliate.notifications(:p, :ravi, true);
SELECT id = ANY (:'two') AS was_marked, read_at IS NOT NULL AS read FROM affiliate.notifications(:p, :ravi) ORDER BY id;
-- refused, nothing changed
:save
SELECT id AS sms_id FROM affiliate.outbox WHERE program_id = :p AND member_id = :ravi AND channel = 'sms' LIMIT 1 \gset
SELECT id AS asha_app FROM affiliate.outbox WHERE program_id = :p AND member_id = :asha AND channel = 'in_app' LIMIT 1 \gset
SELECT affiliate.mark_read(:p, :ravi, ARRAY[(SELECT max(id) FROM affiliate.notifications(:p, :ravi)), :asha_app]);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p, :ravi, ARRAY[:sms_id]);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p, :ravi, '{NULL}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p, :ravi, '{{1},{2}}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p, :ravi, array_fill(1::bigint, ARRAY[1001]));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p, :ravi, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.mark_read(:p2, :ravi, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.unread_count(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.notifications(:p2, :ravi);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.notifications(:p, :ravi, NULL);
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- ---- children and birthdays ----------------------------------------------------------
SELECT affiliate.set_points_rule(:p, 'birthday', 50);
SELECT affiliate.set_template(:p, 'birthday', 'in_app', 'Happy birthday, {{person_name}}!',
  '{{person_name}} ({{relation}}) turns {{age}}; {{points}} points for {{member_name}}{{promo_code}}') IS NOT NULL AS t;
SELECT affiliate.add_member(:p, 'dec31') AS dec31 \gset
SELECT affiliate.add_member(:p, 'jan1') AS jan1 \gset
SELECT affiliate.add_member(:p, 'leap') AS leap \gset
SELECT affiliate.add_member(:p, 'blocked') AS blocked \gset
SELECT affiliate.set_member_profile(:p, :dec31, 'Dee', '1990-12-31'),
       affiliate.set_member_profile(:p, :jan1, NULL, '1985-01-01'),
       affiliate.set_member_profile(:p, :leap, 'Lea', '2000-02-29'),
       affiliate.set_member_profile(:p, :blocked, NULL, '1990-12-31');
SELECT affiliate.set_member_status(:p, :blocked, 'blocked');
SELECT affiliate.add_member_child(:p, :dec31, 'Mia', '2015-12-31') AS mia \gset
SELECT affiliate.add_member_child(:p, :leap, 'Feb', '2012-02-28') AS feb \gset
SELECT affiliate.add_member_child(:p, :leap, 'Temp', '2020-06-01') AS temp \gset
SELECT affiliate.add_member_child(:p, :blocked, 'Hidden', '2016-12-31') IS NOT NULL AS hidden;
SELECT affiliate.remove_member_child(:p, :leap, :temp);
SELECT name, birth_date FROM affiliate.member_children(:p, :leap);
:mark_now
-- 31 December 2026: Dee and her child Mia (the blocked member and their child: nobody)
SELECT affiliate.queue_birthdays('2026-12-31', :p) AS queued;
-- once per person and year
SELECT affiliate.queue_birthdays('2026-12-31', :p) AS again;
-- over the year boundary: 1 January 2027 is jan1's, and a new year for nobody else
SELECT affiliate.queue_birthdays('2027-01-01', :p) AS queued;
-- 31 December 2027: a new year, Dee and Mia again
SELECT affiliate.queue_birthdays('2027-12-31', :p) AS queued;
-- 2027 has no 29 February: Lea is celebrated on 28 February, with Feb (born on 28 February)
SELECT affiliate.queue_birthdays('2027-02-28', :p) AS queued;
SELECT affiliate.queue_birthdays('2027-03-01', :p) AS queued;
-- 2028 has one: 28 February is Feb's alone, 29 February Lea's
SELECT affiliate.queue_birthdays('2028-02-28', :p) AS queued;
SELECT affiliate.queue_birthdays('2028-02-29', :p) AS queued;
SELECT affiliate.queue_birthdays('2028-02-29', :p) AS again;
-- (the birthday points of 50 lift a member to Silver (50 points) and then
-- Gold (100) at once: those tier changes are messages too)
:box
SELECT m.external_id AS member, c.name AS child, b.year
  FROM affiliate.birthday_sent b JOIN affiliate.member m ON m.program_id = b.program_id AND m.id = b.member_id
  LEFT JOIN affiliate.member_child c ON c.program_id = b.program_id AND c.id = b.child_id
 WHERE b.program_id = :p ORDER BY b.id;
-- the member's own birthday earned the 'birthday' points, once per year
SELECT m.external_id AS member, l.points, l.reason, l.source_ref
  FROM affiliate.points_lot l JOIN affiliate.member m ON m.program_id = l.program_id AND m.id = l.member_id
 WHERE l.program_id = :p AND l.reason = 'birthday' ORDER BY l.id;
-- refused, nothing changed
:save
SELECT affiliate.queue_birthdays(NULL, :p);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_birthdays('infinity', :p);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_birthdays('1800-01-01', :p);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.queue_birthdays('2026-12-31', 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, '', '2015-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, repeat('é', 101), '2015-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, E'Tab\tName', '2015-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, 'Future', current_date + 1);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, 'Old', '1899-12-31');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, :dec31, 'Nobody', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p, 999999, 'Orphan', '2015-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.add_member_child(:p2, :dec31, 'Elsewhere', '2015-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.remove_member_child(:p, :dec31, :feb);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.remove_member_child(:p, :leap, :temp);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.member_children(:p, 999999);
\echo :LAST_ERROR_SQLSTATE
:unchanged
-- at most 20 children per member
SELECT count(affiliate.add_member_child(:p, :jan1, 'Kid ' || i, '2010-01-01')) FROM generate_series(1, 20) i;
:save
SELECT affiliate.add_member_child(:p, :jan1, 'Kid 21', '2010-01-01');
\echo :LAST_ERROR_SQLSTATE
:unchanged

-- the jobs are registered
SELECT jobname, schedule, command FROM affiliate.job_definitions()
 WHERE jobname IN ('pg_affiliate_birthdays', 'pg_affiliate_points_expiring') ORDER BY 1;

SELECT * FROM affiliate.verify();
