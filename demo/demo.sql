-- The demo program loaded by `make demo`: the Telegram OTT shop of DESIGN §4.1
-- (₹135 plan, ₹42 cost, level 1 = 30 % of profit, level 2 = 10 %, whole-rupee
-- rounding, 24 h hold, ₹500 minimum withdrawal; amounts in paise) with a small
-- referral tree, a few conversions, a retried webhook, a refund, released
-- commissions, and wallets: a paid withdrawal, a pending one and a purchase
-- paid from a wallet (docs/wallet.md); Ravi's balance read as the HTTP API
-- serves it (docs/postgrest.md); at the end a short course built by an admin
-- and completed by Meena over the HTTP API (docs/certificates.md), with her
-- certificate verified once certificates are part of the extension; then a
-- loyalty programme (docs/loyalty.md): points per bill, three tiers members
-- reach through their bills, lots with different expiries, a rewards catalog
-- and redemptions, one over the HTTP API; an open fraud flag holding a
-- commission (docs/fraud.md), promo campaigns (docs/campaigns.md), a
-- birthday, badges and leaderboards (docs/gamification.md), and the outbox
-- the events filled (docs/notifications.md).
--
-- It runs as the superuser that `make demo` connects as; an application back
-- end would run the same SQL as a login granted affiliate_operator.
\set ON_ERROR_STOP 1
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "min_withdrawal": 50000, "rounding_unit": 100,
      "rounding": "half_up", "attribution": "sponsor", "clawback": "negative"}') AS ott \gset
SELECT affiliate.set_plan(:ott, 'OTT referral', '{3000,1000}', 'profit') AS plan \gset

-- messages (docs/notifications.md): the shop sends WhatsApp messages when a
-- commission is earned and an e-mail when a payout is paid; new referrals
-- land in the member app's inbox.  Every event below writes its outbox rows
-- in its own transaction (NOTIFY affiliate_outbox wakes the senders; see
-- examples/outbox_sender.py).
SET request.jwt.claims = '{"sub": "admin:priya"}';
SELECT affiliate.set_template(:ott, 'commission_earned', 'whatsapp', NULL,
    'Hi {{member_name}}, you earned ₹{{amount}} (level {{level}}) on order {{order_ref}}. It is paid out after the 24 h hold.') IS NOT NULL AS template;
SELECT affiliate.set_template(:ott, 'referral_joined', 'in_app', 'New referral',
    '{{referral_name}} joined {{program_name}} with your code.') IS NOT NULL AS template;
SELECT affiliate.set_template(:ott, 'payout_paid', 'email', 'Your payout of ₹{{amount}} is on its way',
    '<p>Hi {{member_name}},</p><p>₹{{amount}} was sent to {{destination}} (reference {{provider_ref}}).</p>') IS NOT NULL AS template;
-- badges (docs/gamification.md), awarded in the transaction of the event
-- that crosses the threshold, with an in-app message
SELECT affiliate.set_badge_rule(:ott, 'First referral sale', 'referrals', 1, 'bronze') AS badge;
SELECT affiliate.set_badge_rule(:ott, 'Rising earner', 'earnings', 10000, 'silver') AS badge;
SELECT affiliate.set_badge_rule(:ott, 'Top earner', 'earnings', 50000, 'gold') AS badge;
SELECT affiliate.set_template(:ott, 'badge_earned', 'in_app', 'New badge',
    'You earned the {{badge_level}} badge {{badge_name}}.') IS NOT NULL AS template;
RESET request.jwt.claims;

-- the tree: Asha -> Ravi -> (Meena, Kiran); Ravi -> Dev -> Sana
SELECT affiliate.add_member(:ott, 'tg:1001') AS asha \gset
SELECT affiliate.add_member(:ott, 'tg:1002', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:ott, 'tg:1003', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.add_member(:ott, 'tg:1004', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS kiran \gset
SELECT affiliate.add_member(:ott, 'tg:1005', (SELECT code::text FROM affiliate.member WHERE id = :ravi),
                            'android-7f3a91') AS dev \gset
-- Sana signs up with Dev's code from Dev's own phone: a self-referral flag
-- on Dev (docs/fraud.md), raised in the join's transaction; while it is
-- open, Dev's commissions are not released and he cannot withdraw
SELECT affiliate.add_member(:ott, 'tg:1006', (SELECT code::text FROM affiliate.member WHERE id = :dev),
                            'android-7f3a91') AS sana \gset

-- the names the members chose in the app: messages and leaderboards show
-- them instead of the Telegram ids
SELECT count(affiliate.set_member_profile(:ott, n.id, n.name, NULL)) AS profiles
  FROM (VALUES (:asha, 'Asha'), (:ravi, 'Ravi'), (:meena, 'Meena'), (:kiran, 'Kiran'), (:dev, 'Dev'),
               (:sana, 'Sana')) AS n(id, name);

-- paid orders two and three days ago (so their 24 h hold is over), and today's
SELECT count(*) AS commissions FROM (
    SELECT affiliate.record_conversion(:ott, 'order-' || o.n, o.buyer, 13500, 4200, now() - o.age)
      FROM (VALUES (1001, :meena, interval '3 days'), (1002, :kiran, interval '3 days'),
                   (1003, :sana, interval '2 days'), (1004, :dev, interval '2 days'),
                   (1005, :meena, interval '1 hour')) AS o(n, buyer, age)) c;
-- the payment provider retries a webhook: the same commissions come back, nothing new is written
SELECT count(*) AS same_commissions
  FROM affiliate.record_conversion(:ott, 'order-1001', :meena, 13500, 4200,
                                   (SELECT occurred_at FROM affiliate.conversion WHERE external_ref = 'order-1001'));
-- Kiran's order is refunded before release: its commissions are reversed
SELECT count(*) AS reversed FROM affiliate.refund_conversion(:ott, 'order-1002', 'refunded by support');
-- last month's renewals, imported from the old system (all paid and past their hold)
SELECT count(*) AS imported FROM affiliate.record_conversions(:ott,
    (SELECT array_agg(ROW('renewal-' || n, CASE WHEN n % 2 = 0 THEN :meena ELSE :dev END, 13500, 4200,
                          now() - interval '30 days' + n * interval '12 hours', NULL, NULL)::affiliate.conversion_input
                      ORDER BY n)
       FROM generate_series(1, 40) AS n));
-- the hourly job (pg_cron runs it once schedule_jobs() is called): due commissions become available
SELECT affiliate.release_due() AS released;
\echo 'Open fraud flags (device and IP appear only as keyed hashes) and the commission they hold:'
SELECT f.id, m.external_id AS member, f.rule, f.status, f.evidence
  FROM affiliate.fraud_flag f JOIN affiliate.member m ON m.program_id = f.program_id AND m.id = f.member_id
 WHERE f.program_id = :ott ORDER BY f.id;
SELECT m.external_id AS beneficiary, c.level, c.amount, c.status, c.hold_until < now() AS hold_over
  FROM affiliate.commission c JOIN affiliate.member m ON m.program_id = c.program_id AND m.id = c.beneficiary_id
 WHERE c.program_id = :ott AND c.beneficiary_id = :dev AND c.status = 'pending' ORDER BY c.id;

-- wallets (docs/wallet.md).  Ravi withdraws ₹500 to his UPI id: requested by
-- his app (the JWT sub names him in the audit log), approved by an admin,
-- paid with the bank's transaction id; the payout webhook is retried.
SET request.jwt.claims = '{"sub": "tg:1002"}';
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'Ravi@OKAxis') AS paid_withdrawal \gset
SET request.jwt.claims = '{"sub": "admin:priya"}';
SELECT status AS approved FROM affiliate.approve_withdrawal(:ott, :paid_withdrawal);
SELECT status AS paid FROM affiliate.complete_withdrawal(:ott, :paid_withdrawal, 'UPI-UTR-431907556218');
SELECT status AS retried_webhook FROM affiliate.complete_withdrawal(:ott, :paid_withdrawal, 'UPI-UTR-431907556218');
-- Asha pays ₹64 for an upgrade to the premium package from her wallet
-- (idempotent on the order reference)
SELECT affiliate.pay_from_wallet(:ott, :asha, 6400, 'upgrade-tg1001-premium') AS purchase_journal;
-- Ravi asks for another ₹500, to his bank account: it waits for an admin
SET request.jwt.claims = '{"sub": "tg:1002"}';
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'bank', '5010 0012 3456 78') AS pending_withdrawal \gset
RESET request.jwt.claims;
SELECT affiliate.fold_balances(:ott) IS NOT NULL AS folded;

-- what to look at
\echo
\echo 'Members and their wallets (paise):'
SELECT m.external_id, m.code, s.external_id AS sponsor, affiliate.team_size(:ott, m.id) AS team,
       b.pending, b.available, b.withdrawing
  FROM affiliate.member m
  LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
  CROSS JOIN LATERAL affiliate.balance(:ott, m.id) b
 WHERE m.program_id = :ott
 ORDER BY m.id;
\echo 'Commissions of the orders above (the 40 imported renewals left out):'
SELECT c.external_ref, b.external_id AS beneficiary, k.level, k.amount, k.status
  FROM affiliate.commission k
  JOIN affiliate.conversion c ON c.program_id = k.program_id AND c.id = k.conversion_id
  JOIN affiliate.member b ON b.program_id = k.program_id AND b.id = k.beneficiary_id
 WHERE k.program_id = :ott AND c.external_ref LIKE 'order-%' ORDER BY k.id;
\echo 'Withdrawals (the payout queue is affiliate.withdrawals(program, ''requested'')):'
SELECT withdrawal_id, external_id, amount, withdrawal_status, method, destination_masked, provider_ref
  FROM affiliate.withdrawals(:ott);
SELECT status, withdrawals, amount FROM affiliate.withdrawal_totals(:ott);
\echo 'Ravi''s wallet history, newest first (affiliate.wallet_transactions):'
SELECT at::timestamp(0) AS at, kind, amount, pending_balance AS pending, available_balance AS available,
       withdrawing_balance AS withdrawing, reference, withdrawal_id
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 8);
\echo 'Audit trail of the payouts:'
SELECT actor, action, detail->>'withdrawal_id' AS withdrawal, detail->>'to' AS status
  FROM affiliate.audit_log
 WHERE program_id = :ott AND action LIKE '%withdrawal' ORDER BY id;
\echo 'Invariants (none broken):'
SELECT * FROM affiliate.verify(:ott);

-- The HTTP API (docs/postgrest.md).  For POST /rpc/my_balance with Ravi's JWT,
-- PostgREST switches to the token's role and sets its claims for the
-- transaction; the function takes the program and the member from them.
\echo 'Ravi''s wallet and withdrawals as PostgREST serves them (his JWT: role affiliate_member, program, sub tg:1002):'
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_member', 'program', :ott, 'sub', 'tg:1002')::text,
                  true) AS claims \gset
SELECT * FROM affiliate_api.my_balance();
SELECT withdrawal_id, amount, status, destination_masked FROM affiliate_api.withdrawals ORDER BY withdrawal_id;
COMMIT;

-- Courses over the HTTP API (docs/certificates.md#http-api).  Priya, an
-- admin of the shop, builds a short course for the affiliates: two modules,
-- four topics (a YouTube, a Cloudinary, a Vimeo and a plain video URL); the
-- second module needs 70 % in its quiz.  Each block is one PostgREST request
-- (or several in one transaction): the role and the claims of the token.
BEGIN;
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_admin', 'program', :ott, 'sub', 'admin:priya')::text,
                  true) AS claims \gset
SELECT affiliate_api.create_course('Earning with the OTT referral programme',
                                   'How referrals, commissions and payouts work, in 15 minutes.') AS course \gset
SELECT affiliate_api.add_module(:course, 'Your referral link', display_order => 1, published => true) AS module_link \gset
SELECT affiliate_api.add_module(:course, 'Commissions and payouts', display_order => 2, published => true,
                                pass_mark => 70) AS module_payouts \gset
SELECT affiliate_api.add_topic(:module_link, 'Where to find your code', 'youtube', 'aqz-KE-bpKQ', 180,
                               display_order => 1, published => true) AS topic_code \gset
SELECT affiliate_api.add_topic(:module_link, 'Sharing your link', 'cloudinary', 'ott-academy/referrals/sharing-your-link',
                               240, display_order => 2, published => true) AS topic_share \gset
SELECT affiliate_api.add_topic(:module_payouts, 'Holds and releases', 'vimeo', '1084537', 300,
                               display_order => 1, published => true) AS topic_holds \gset
SELECT affiliate_api.add_topic(:module_payouts, 'Withdrawing to UPI', 'url',
                               'https://media.example.com/ott-academy/withdrawing-to-upi.mp4', 200,
                               display_order => 2, published => true) AS topic_upi \gset
SELECT affiliate_api.set_published('course', :course, true);
COMMIT;

-- Meena (tg:1003) enrolls from the member app, watches every topic (the
-- player reports as she goes; a late, smaller report rewinds nothing) and
-- passes the quiz at the second attempt.
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_member', 'program', :ott, 'sub', 'tg:1003')::text,
                  true) AS claims \gset
SELECT affiliate_api.enroll(:course) AS enrolled;
SELECT count(*) AS reports FROM (
    SELECT affiliate_api.record_progress(r.topic, r.seconds, r.done)
      FROM (VALUES (1, :topic_code, 90, false), (2, :topic_code, 180, true), (3, :topic_code, 60, false),
                   (4, :topic_share, 240, true), (5, :topic_holds, 300, true), (6, :topic_upi, 200, true))
           AS r(n, topic, seconds, done)
     ORDER BY r.n) s;
SELECT passed AS first_attempt_passed FROM affiliate_api.record_assessment(:module_payouts, 6, 10);
SELECT passed AS second_attempt_passed FROM affiliate_api.record_assessment(:module_payouts, 9, 10);
COMMIT;

\echo 'The course catalog as anyone sees it (GET /rpc/course_catalog with the site token: role affiliate_anon, program):'
BEGIN;
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_anon', 'program', :ott)::text,
                  true) AS claims \gset
SELECT course_id, title, modules, topics, duration_seconds FROM affiliate_api.course_catalog();
COMMIT;
\echo 'Meena''s progress as PostgREST serves it (POST /rpc/course_progress, her JWT: sub tg:1003):'
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_member', 'program', :ott, 'sub', 'tg:1003')::text,
                  true) AS claims \gset
SELECT * FROM affiliate_api.course_progress(:course);
SELECT topic_id, watched_seconds, completed_at IS NOT NULL AS completed FROM affiliate_api.topic_progress
 ORDER BY topic_id;
-- (\gset unsets a variable for NULL: no certificate yet is '')
SELECT coalesce(certificate_number, '') AS certificate FROM affiliate_api.course_progress(:course) \gset
COMMIT;

-- Her certificate: issued when she completed the course, checked by anyone
-- with its number (the signature against the stored facts), here as the
-- public verification page does it: the site token, no login.
\echo 'Her certificate, verified by anyone (GET /rpc/verify_certificate with the site token):'
BEGIN;
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_anon', 'program', :ott)::text,
                  true) \g /dev/null
SELECT valid, status, number, member_external_id, course_title, issued_at::timestamp(0) AS issued_at, key_id
  FROM affiliate_api.verify_certificate(:'certificate');
\echo 'The key to check it offline (GET /rpc/certificate_public_key; docs/keys.md):'
SELECT key_id, algorithm, public_key_base64 FROM affiliate_api.certificate_public_key();
COMMIT;
\echo 'Invariants after the course (none broken):'
SELECT * FROM affiliate.verify(:ott);

-- ---------------------------------------------------------------------------
-- Loyalty (docs/loyalty.md): the shop gives 1 point per ₹100 billed, lots
-- live 12 months and bills' points wait 7 days (the return window).  Three
-- tiers on qualifying points over 12 months; members reach them through
-- their bills (upgrades happen at once, in the bill's transaction).  A small
-- rewards catalog; Ravi redeems over the HTTP API.
-- ---------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "admin:priya"}';
SELECT affiliate.set_points_rule(:ott, 'bill', 1, 10000);
SELECT affiliate.set_points_policy(:ott, '12 months', 7);
SELECT affiliate.set_tier(:ott, 'Silver', 1, 100, 'points', '12 months', 11000, '{"free_delivery": true}') AS silver \gset
SELECT affiliate.set_tier(:ott, 'Gold', 2, 500, 'points', '12 months', 12500, '{"free_delivery": true, "early_access": true}') AS gold \gset
SELECT affiliate.set_tier(:ott, 'Platinum', 3, 1500, 'points', '12 months', 15000,
                          '{"free_delivery": true, "early_access": true, "concierge": true}') AS platinum \gset
SELECT affiliate.set_tier_policy(:ott, '30 days');

-- the ERP sends each member's bills of the last year (amounts in paise);
-- their lots expire 12 months after each bill, so some expire soon
SELECT b.who, sum(affiliate.record_bill(:ott, 'inv-' || b.who || '-' || b.n, b.member, b.amount,
                                         now() - b.age)) AS points
  FROM (VALUES ('asha', 1, :asha, 4500000, interval '340 days'), ('asha', 2, :asha, 6000000, interval '200 days'),
               ('asha', 3, :asha, 5500000, interval '60 days'),
               ('ravi', 1, :ravi, 2500000, interval '350 days'), ('ravi', 2, :ravi, 3000000, interval '90 days'),
               ('meena', 1, :meena, 1500000, interval '30 days'), ('meena', 2, :meena, 800000, interval '355 days'),
               ('kiran', 1, :kiran, 400000, interval '10 days'), ('dev', 1, :dev, 200000, interval '2 days'))
       AS b(who, n, member, amount, age)
 GROUP BY b.who ORDER BY points DESC;
-- a welcome gift that expires in a fortnight
SELECT affiliate.award_points(:ott, :kiran, 25, 'welcome gift', now() + interval '14 days', 'welcome-kiran') AS gift_lot;

SELECT affiliate.add_reward(:ott, 'Coffee voucher', 50, 100) AS coffee \gset
SELECT affiliate.add_reward(:ott, 'One free month', 300, NULL, NULL, NULL, 2) AS free_month \gset
SELECT affiliate.add_reward(:ott, 'Premium upgrade', 1000, 5, NULL, NULL, 1) AS premium \gset

-- Ravi redeems a free month from his app (POST /rpc/redeem_reward, his JWT)
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims',
                  json_build_object('role', 'affiliate_member', 'program', :ott, 'sub', 'tg:1002')::text,
                  true) \g /dev/null
SELECT affiliate_api.redeem_reward(:free_month, 'ravi-app-7781') AS redemption;
\echo 'Ravi''s points and tier as his app reads them (POST /rpc/my_points, /rpc/my_tier):'
SELECT * FROM affiliate_api.my_points();
SELECT tier, multiplier_bp, next_tier, qualifying_value, next_threshold FROM affiliate_api.my_tier();
COMMIT;
-- Asha, Platinum, takes the premium upgrade
SELECT affiliate.redeem_reward(:ott, :asha, :premium, 'asha-pos-0042') AS redemption;

\echo 'Members by tier (upgraded by their bills):'
SELECT m.external_id, t.tier, t.qualifying_value, t.next_tier, b.balance, b.usable, b.pending, b.expiring_30_days
  FROM affiliate.member m
 CROSS JOIN LATERAL affiliate.member_tier(:ott, m.id) t
 CROSS JOIN LATERAL affiliate.points_balance(:ott, m.id) b
 WHERE m.program_id = :ott
 ORDER BY t.rank DESC NULLS LAST, m.id;
\echo 'Their lots, soonest-expiring first:'
SELECT m.external_id, l.points, l.remaining, l.usable_from::date, l.expires_at::date, l.source_ref
  FROM affiliate.points_lot l JOIN affiliate.member m ON m.program_id = l.program_id AND m.id = l.member_id
 WHERE l.program_id = :ott
 ORDER BY l.expires_at, l.id;
\echo 'The rewards catalog as anyone sees it (GET /rpc/rewards with the site token):'
BEGIN;
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_anon', 'program', :ott)::text,
                  true) \g /dev/null
SELECT reward_id, name, cost_points, stock, per_member_limit FROM affiliate_api.rewards();
COMMIT;
-- the nightly expiry job, run as if it were 26 days from now: what is left
-- of the lots expired by then is retired (Meena's oldest bill and Kiran's
-- welcome gift; Asha's and Ravi's oldest lots went into their redemptions,
-- soonest-expiring first)
SELECT affiliate.expire_points(now() + interval '26 days', 10000, :ott) AS lots_expired_in_26_days;
\echo 'Invariants after loyalty (none broken):'
SELECT * FROM affiliate.verify(:ott);

-- ---------------------------------------------------------------------------
-- Promo campaigns (docs/campaigns.md).  Asha, an affiliate, gets a coupon:
-- 10 % off, 100 uses, one per member; the shop runs welcome credits (₹50 in
-- asset CREDITS, valid 30 days).  Both are scheduled; the 5-minute job
-- (advance_campaigns) makes them active once their window opens.
-- ---------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "admin:priya"}';
SELECT affiliate.create_campaign(:ott, 'Asha''s coupon', 'percent_off', 1000, now() - interval '1 hour',
                                 now() + interval '30 days', 'ASHA10', :asha, 100, 1, NULL, 'telegram') AS asha10 \gset
SELECT affiliate.create_campaign(:ott, 'Welcome credits', 'credits', 5000, now() - interval '1 hour',
                                 now() + interval '14 days', 'WELCOME50', NULL, 500, 1, '30 days', 'instagram') AS welcome \gset
SELECT affiliate.set_campaign_status(:ott, :asha10, 'scheduled') AS was, affiliate.set_campaign_status(:ott, :welcome, 'scheduled') AS was;
SELECT affiliate.advance_campaigns() AS campaigns_advanced;
RESET request.jwt.claims;
-- Kiran pays for the plan with Asha's coupon (₹13.50 off), and the order's
-- conversion names the code: Asha is the attributed referrer, not Kiran's
-- sponsor Ravi.  A retried checkout returns the same redemption.
SELECT offer_type, discount, replayed FROM affiliate.redeem_promo(:ott, 'asha10', :kiran, 'order-2001', 13500);
SELECT offer_type, discount, replayed FROM affiliate.redeem_promo(:ott, 'ASHA10', :kiran, 'order-2001', 13500);
SELECT m.external_id AS beneficiary, c.level, c.amount
  FROM affiliate.record_conversion(:ott, 'order-2001', :kiran, 12150, 4200, now(), NULL, NULL, 'ASHA10') c
  JOIN affiliate.member m ON m.program_id = c.program_id AND m.id = c.beneficiary_id;
-- Meena takes the welcome credits
SELECT credits, credits_expire_at::date FROM affiliate.redeem_promo(:ott, 'WELCOME50', :meena, 'welcome-tg1003');
\echo 'Campaigns (affiliate.campaign_stats):'
SELECT code, status, channel, clicks, redemptions, conversions, revenue FROM affiliate.campaign_stats(:ott) ORDER BY code;

-- ---------------------------------------------------------------------------
-- Birthdays (docs/notifications.md#birthdays): Meena's is today; the daily
-- job (queue_birthdays) sends her a WhatsApp message, 50 birthday points and
-- a personal promo code, once this year however often it runs.
-- ---------------------------------------------------------------------------
SET request.jwt.claims = '{"sub": "admin:priya"}';
SELECT affiliate.set_points_rule(:ott, 'birthday', 50);
-- and a personal one-use code, ₹50 off, from a template campaign kept in draft
SELECT affiliate.create_campaign(:ott, 'Birthday treat', 'amount_off', 5000, now(), now() + interval '1 year')
       AS birthday_treat \gset
SELECT affiliate.set_birthday_campaign(:ott, :birthday_treat);
SELECT affiliate.set_template(:ott, 'birthday', 'whatsapp', NULL,
    'Happy birthday, {{person_name}}! {{points}} points are waiting in your account, and code {{promo_code}} takes ₹50 off your next month.') IS NOT NULL AS template;
RESET request.jwt.claims;
SELECT affiliate.set_member_profile(:ott, :meena, 'Meena', (current_date - interval '29 years')::date);
SELECT affiliate.queue_birthdays(current_date, :ott) AS birthdays_queued;
SELECT affiliate.queue_birthdays(current_date, :ott) AS birthdays_queued_again;

-- ---------------------------------------------------------------------------
-- Leaderboards (docs/gamification.md): kept up to date by every conversion,
-- refund, bill and certificate; a top-10 read is an index scan.  The member
-- app shows this month's by earnings, with the names members chose.
-- ---------------------------------------------------------------------------
\echo 'Leaderboard: earnings this month (paise; GET /rpc/leaderboard with the site token):'
BEGIN;
SET LOCAL ROLE affiliate_anon;
SELECT set_config('request.jwt.claims', json_build_object('role', 'affiliate_anon', 'program', :ott)::text,
                  true) \g /dev/null
SELECT * FROM affiliate_api.leaderboard('earnings', 'month');
COMMIT;
\echo 'Leaderboard: converted referrals, all time:'
SELECT rank, display_name, value FROM affiliate.leaderboard(:ott, 'referrals', 'all');
\echo 'Leaderboard: loyalty points earned this week:'
SELECT rank, display_name, value FROM affiliate.leaderboard(:ott, 'points', 'week');
\echo 'Badges:'
SELECT m.display_name, b.name, b.level, b.value, b.awarded_at::date
  FROM affiliate.member m CROSS JOIN LATERAL affiliate.member_badges(:ott, m.id) b
 WHERE m.program_id = :ott ORDER BY m.id, b.threshold;

\echo 'The outbox (docs/notifications.md): the rows the events above wrote, by event and channel:'
SELECT event, channel, status, count(*) AS messages
  FROM affiliate.outbox WHERE program_id = :ott GROUP BY 1, 2, 3 ORDER BY 1, 2;
\echo 'A few of them as a sender reads them (examples/outbox_sender.py claims and marks them):'
SELECT m.external_id AS member, o.event, o.channel, o.subject, o.body
  FROM affiliate.outbox o JOIN affiliate.member m ON m.program_id = o.program_id AND m.id = o.member_id
 WHERE o.program_id = :ott AND o.id IN (SELECT min(id) FROM affiliate.outbox WHERE program_id = :ott GROUP BY event)
 ORDER BY o.id;
\echo 'Invariants at the end (none broken):'
SELECT * FROM affiliate.verify(:ott);
