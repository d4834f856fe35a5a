-- Birthday promo codes (issue 10 §3): set_birthday_campaign (a template
-- campaign, NULL turns it off; refusals with their SQLSTATE and nothing
-- changed), the daily job queue_birthdays issuing a personal code from it
-- (in the message and the payload, redeemable once, by that member only),
-- once per person and year (a second run the same day issues nothing, a
-- new year a new code), a child's birthday giving the parent a code, no
-- code when the policy is off or the template is paused, completed or past
-- its end; verify() holds.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY terse
SET timezone = 'UTC';

-- everything set_birthday_campaign could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.program_id), '')) FROM affiliate.birthday_policy b) AS policies,
       (SELECT md5(coalesce(string_agg(c::text, ',' ORDER BY c.program_id, c.id), '')) FROM affiliate.campaign c) AS campaigns;
CREATE TEMP TABLE fp AS SELECT * FROM fingerprint;
\set unchanged 'SELECT (SELECT f::text FROM fingerprint f) = (SELECT f::text FROM fp f) AS unchanged;'
\set save 'DELETE FROM fp; INSERT INTO fp SELECT * FROM fingerprint;'
-- a text with every personal code of the program shown as [its source_ref]
-- (codes are random)
CREATE FUNCTION pg_temp.masked(program bigint, t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT code, source_ref FROM affiliate.campaign
              WHERE program_id = program AND personal_member_id IS NOT NULL LOOP
        t := replace(t, c.code, '[' || c.source_ref || ']');
    END LOOP;
    RETURN t;
END
$$;
\set box 'SELECT m.external_id AS member, o.channel, pg_temp.masked(:p, o.body) AS body, pg_temp.masked(:p, o.payload->>''promo_code'') AS payload_code, o.payload->>''relation'' AS relation FROM affiliate.outbox o JOIN affiliate.member m ON m.program_id = o.program_id AND m.id = o.member_id WHERE o.program_id = :p AND o.event = ''birthday'' AND o.id > :mark ORDER BY o.id;'
\set mark_now 'SELECT coalesce(max(id), 0) AS mark FROM affiliate.outbox \\gset'
\set codes 'SELECT m.external_id AS holder, c.source_ref, c.template_id = t.id AS from_template, t.name AS template, c.offer_type, c.value, c.total_limit, c.per_member_limit, c.status FROM affiliate.campaign c JOIN affiliate.member m ON m.program_id = c.program_id AND m.id = c.personal_member_id JOIN affiliate.campaign t ON t.program_id = c.program_id AND t.id = c.template_id WHERE c.program_id = :p ORDER BY c.id;'

SELECT affiliate.create_program('Cake shop', 'INR') AS p \gset
SELECT affiliate.create_program('Other shop', 'INR') AS q \gset
SELECT affiliate.set_template(:p, 'birthday', 'in_app', 'Happy birthday, {{person_name}}!',
  '{{person_name}} ({{relation}}) turns {{age}}; your code: "{{promo_code}}"') IS NOT NULL AS t;
SELECT affiliate.set_template(:p, 'birthday', 'sms', NULL, 'Code {{promo_code}} for {{member_name}}') IS NOT NULL AS t;
-- ann: 15 June; ben: 1 March, his child kid: 16 June; cal: 17 June; dan: 18 June;
-- eve: 19 June; fay: 20 June; zoe: 14 June
SELECT affiliate.add_member(:p, 'ann') AS ann \gset
SELECT affiliate.add_member(:p, 'ben') AS ben \gset
SELECT affiliate.add_member(:p, 'cal') AS cal \gset
SELECT affiliate.add_member(:p, 'dan') AS dan \gset
SELECT affiliate.add_member(:p, 'eve') AS eve \gset
SELECT affiliate.add_member(:p, 'fay') AS fay \gset
SELECT affiliate.add_member(:p, 'zoe') AS zoe \gset
SELECT affiliate.add_member(:q, 'stranger') AS stranger \gset
SELECT affiliate.set_member_profile(:p, :ann, 'Ann', '1990-06-15'),
       affiliate.set_member_profile(:p, :ben, 'Ben', '1985-03-01'),
       affiliate.set_member_profile(:p, :cal, 'Cal', '1991-06-17'),
       affiliate.set_member_profile(:p, :dan, 'Dan', '1992-06-18'),
       affiliate.set_member_profile(:p, :eve, 'Eve', '1993-06-19'),
       affiliate.set_member_profile(:p, :fay, 'Fay', '1994-06-20'),
       affiliate.set_member_profile(:p, :zoe, 'Zoe', '1995-06-14');
SELECT affiliate.add_member_child(:p, :ben, 'Kid', '2018-06-16') AS kid \gset

-- the template: a draft campaign (its own code is never redeemable), 300 off,
-- a 30-day window (the validity of each personal code)
SELECT affiliate.create_campaign(:p, 'Birthday gift', 'amount_off', 300, now(), now() + interval '30 days',
                                 'BDAY-GIFT') AS gift \gset
SELECT affiliate.create_campaign(:p, 'Spring sale', 'percent_off', 1000, now(), NULL, 'SPRING10') AS spring \gset
SELECT affiliate.create_campaign(:q, 'Their gift', 'amount_off', 100, NULL, NULL, 'THEIR-GIFT') AS theirs \gset

-- ---- policy off: a birthday without a code --------------------------------------
SELECT count(*) AS policies FROM affiliate.birthday_policy;
:mark_now
SELECT affiliate.queue_birthdays('2026-06-14', :p) AS queued;
:box
SELECT count(*) AS personal_codes FROM affiliate.campaign WHERE program_id = :p AND personal_member_id IS NOT NULL;

-- ---- set_birthday_campaign -------------------------------------------------------
SELECT affiliate.set_birthday_campaign(:p, :spring);
SELECT affiliate.set_birthday_campaign(:p, :gift);
SELECT campaign_id = :gift AS gift FROM affiliate.birthday_policy WHERE program_id = :p;
SELECT action, detail->'campaign_id' = to_jsonb(:gift) AS to_gift,
       detail->'previous' = to_jsonb(:spring) AS from_spring, detail->'previous' AS previous
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_birthday_campaign' ORDER BY id;

-- ---- a birthday with the policy set: a personal code in the message and the payload
:mark_now
SELECT affiliate.queue_birthdays('2026-06-15', :p) AS queued;
:box
:codes
SELECT c.source_ref = 'birthday:' || :ann || ':2026' AS source_ref_named, c.starts_at <= now() AS started,
       c.ends_at - c.starts_at AS validity, c.code <> t.code AS own_code
  FROM affiliate.campaign c JOIN affiliate.campaign t ON t.program_id = c.program_id AND t.id = c.template_id
 WHERE c.program_id = :p AND c.personal_member_id = :ann;
SELECT code AS ann_code FROM affiliate.campaign WHERE program_id = :p AND personal_member_id = :ann \gset
-- the message and the payload carry that very code
SELECT count(*) FILTER (WHERE o.body LIKE '%' || :'ann_code' || '%') AS bodies_with_code,
       count(*) FILTER (WHERE o.payload->>'promo_code' = :'ann_code') AS payloads_with_code
  FROM affiliate.outbox o WHERE o.program_id = :p AND o.member_id = :ann AND o.event = 'birthday';
-- issued through issue_promo_code (audited, by the template)
SELECT action, detail->'template_id' = to_jsonb(:gift) AS from_gift, detail->>'source_ref' = 'birthday:' || :ann || ':2026' AS ref
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'issue_promo_code' ORDER BY id;

-- the job run again the same day: nothing queued, no second code
SELECT affiliate.queue_birthdays('2026-06-15', :p) AS again;
SELECT count(*) AS personal_codes FROM affiliate.campaign WHERE program_id = :p AND personal_member_id IS NOT NULL;
-- and the code's source_ref is idempotent: the same call returns the same code
SELECT affiliate.issue_promo_code(:p, :gift, :ann, 'birthday:' || :ann || ':2026') = :'ann_code' AS same_code;
SELECT count(*) AS personal_codes FROM affiliate.campaign WHERE program_id = :p AND personal_member_id IS NOT NULL;

-- ---- redeemable once, by ann only ------------------------------------------------
-- (the messages name the random code: SQLSTATEs only)
\set VERBOSITY sqlstate
-- (23514) another member
SELECT * FROM affiliate.redeem_promo(:p, :'ann_code', :ben, 'ben-order-1', 10000);  \echo :SQLSTATE
SELECT offer_type, value, discount, replayed FROM affiliate.redeem_promo(:p, lower(:'ann_code'), :ann, 'ann-order-1', 10000);
-- (23514) a second use: one per member (and one in all)
SELECT * FROM affiliate.redeem_promo(:p, :'ann_code', :ann, 'ann-order-2', 10000);  \echo :SQLSTATE
\set VERBOSITY terse
SELECT used FROM affiliate.campaign WHERE program_id = :p AND code = :'ann_code';
-- the template itself (a draft) is not redeemable
SELECT * FROM affiliate.redeem_promo(:p, 'BDAY-GIFT', :ann, 'ann-order-3', 10000);  \echo :SQLSTATE

-- ---- a child's birthday: the code goes to the parent ------------------------------
:mark_now
SELECT affiliate.queue_birthdays('2026-06-16', :p) AS queued;
:box
:codes
SELECT source_ref = 'birthday:child:' || :kid || ':2026' AS child_ref FROM affiliate.campaign
 WHERE program_id = :p AND personal_member_id = :ben;

-- ---- a new year: a new code ---------------------------------------------------------
:mark_now
SELECT affiliate.queue_birthdays('2027-06-15', :p) AS queued;
:box
SELECT count(DISTINCT code) AS ann_codes FROM affiliate.campaign WHERE program_id = :p AND personal_member_id = :ann;

-- ---- policy off: no code -----------------------------------------------------------
SELECT affiliate.set_birthday_campaign(:p, NULL);
SELECT count(*) AS policies FROM affiliate.birthday_policy WHERE program_id = :p;
SELECT detail->'campaign_id' AS campaign_id, detail->'previous' = to_jsonb(:gift) AS from_gift
  FROM affiliate.audit_log WHERE program_id = :p AND action = 'set_birthday_campaign' ORDER BY id DESC LIMIT 1;
-- off again: nothing to turn off, still fine
SELECT affiliate.set_birthday_campaign(:p, NULL);
:mark_now
SELECT affiliate.queue_birthdays('2026-06-17', :p) AS queued;
:box
SELECT count(*) AS cal_codes FROM affiliate.campaign WHERE program_id = :p AND personal_member_id = :cal;

-- ---- a template no longer usable: the message goes out without a code ----------------
-- paused
SELECT affiliate.set_campaign_status(:p, :spring, 'scheduled') || ' ' || affiliate.set_campaign_status(:p, :spring, 'active')
       || ' ' || affiliate.set_campaign_status(:p, :spring, 'paused') AS moved;
SELECT affiliate.set_birthday_campaign(:p, :spring);
:mark_now
SELECT affiliate.queue_birthdays('2026-06-18', :p) AS queued;
:box
-- scheduled, its window already over (advance_campaigns is about to complete it)
SELECT affiliate.create_campaign(:p, 'Past gift', 'amount_off', 100, now() - interval '10 days', now() - interval '1 day',
                                 'PAST-GIFT') AS past \gset
SELECT affiliate.set_campaign_status(:p, :past, 'scheduled') AS moved;
SELECT affiliate.set_birthday_campaign(:p, :past);
:mark_now
SELECT affiliate.queue_birthdays('2026-06-19', :p) AS queued;
:box
-- completed after it was named
SELECT affiliate.set_birthday_campaign(:p, :gift);
SELECT affiliate.set_campaign_status(:p, :gift, 'scheduled') || ' ' || affiliate.set_campaign_status(:p, :gift, 'completed') AS moved;
:mark_now
SELECT affiliate.queue_birthdays('2026-06-20', :p) AS queued;
:box
SELECT count(*) AS codes_of_dan_eve_fay FROM affiliate.campaign
 WHERE program_id = :p AND personal_member_id IN (:dan, :eve, :fay);
-- and with it, the birthday_sent rows are written: no later retry
SELECT count(*) AS celebrated FROM affiliate.birthday_sent WHERE program_id = :p AND member_id IN (:dan, :eve, :fay);

-- ---- refused, nothing changed ----------------------------------------------------------
SELECT affiliate.create_campaign(:p, 'Live gift', 'amount_off', 200, NULL, NULL, 'LIVE-GIFT') AS live \gset
SELECT affiliate.set_birthday_campaign(:p, :live);
:save
-- (P0002) no such campaign
SELECT affiliate.set_birthday_campaign(:p, 999999);  \echo :SQLSTATE
-- (P0002) a campaign of another program
SELECT affiliate.set_birthday_campaign(:p, :theirs);  \echo :SQLSTATE
-- (22023) a personal code
SELECT affiliate.set_birthday_campaign(:p, (SELECT id FROM affiliate.campaign WHERE program_id = :p AND code = :'ann_code'));  \echo :SQLSTATE
-- (55000) a completed campaign
SELECT affiliate.set_birthday_campaign(:p, :gift);  \echo :SQLSTATE
-- (22004) no program
SELECT affiliate.set_birthday_campaign(NULL, :live);  \echo :SQLSTATE
-- (P0002) no such program
SELECT affiliate.set_birthday_campaign(999999, :live);  \echo :SQLSTATE
:unchanged
SELECT campaign_id = :live AS still_live FROM affiliate.birthday_policy WHERE program_id = :p;
-- the other program has no policy
SELECT count(*) AS other_policies FROM affiliate.birthday_policy WHERE program_id = :q;

-- ---- who may call it --------------------------------------------------------------------
SELECT has_function_privilege('affiliate_operator', 'affiliate.set_birthday_campaign(bigint, bigint)', 'EXECUTE') AS operator,
       has_function_privilege('affiliate_member', 'affiliate.set_birthday_campaign(bigint, bigint)', 'EXECUTE') AS member,
       has_table_privilege('affiliate_operator', 'affiliate.birthday_policy', 'SELECT') AS operator_reads,
       has_table_privilege('affiliate_operator', 'affiliate.birthday_policy', 'INSERT') AS operator_writes;

SELECT * FROM affiliate.verify();
