-- The demo program loaded by `make demo`: the Telegram OTT shop of DESIGN §4.1
-- (₹135 plan, ₹42 cost, level 1 = 30 % of profit, level 2 = 10 %, whole-rupee
-- rounding, 24 h hold, ₹500 minimum withdrawal; amounts in paise) with a small
-- referral tree, a few conversions, a retried webhook, a refund and released
-- commissions.  It grows as the wallet and loyalty engines land.
\set ON_ERROR_STOP 1
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "min_withdrawal": 50000, "rounding_unit": 100,
      "rounding": "half_up", "attribution": "sponsor", "clawback": "negative"}') AS ott \gset
SELECT affiliate.set_plan(:ott, 'OTT referral', '{3000,1000}', 'profit') AS plan \gset

-- the tree: Asha -> Ravi -> (Meena, Kiran); Ravi -> Dev -> Sana
SELECT affiliate.add_member(:ott, 'tg:1001') AS asha \gset
SELECT affiliate.add_member(:ott, 'tg:1002', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:ott, 'tg:1003', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.add_member(:ott, 'tg:1004', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS kiran \gset
SELECT affiliate.add_member(:ott, 'tg:1005', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS dev \gset
SELECT affiliate.add_member(:ott, 'tg:1006', (SELECT code::text FROM affiliate.member WHERE id = :dev)) AS sana \gset

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
-- the hourly job (pg_cron runs it once schedule_jobs() is called): due commissions become available
SELECT affiliate.release_due() AS released;
SELECT affiliate.fold_balances(:ott) IS NOT NULL AS folded;

-- what to look at
\echo
\echo 'Members and their balances (paise):'
SELECT m.external_id, m.code, s.external_id AS sponsor, affiliate.team_size(:ott, m.id) AS team,
       sum(b.balance) FILTER (WHERE b.kind = 'pending') AS pending,
       sum(b.balance) FILTER (WHERE b.kind = 'available') AS available
  FROM affiliate.member m
  LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
  JOIN affiliate.account_balances b ON b.program_id = m.program_id AND b.member_id = m.id
 WHERE m.program_id = :ott
 GROUP BY m.id, m.external_id, m.code, s.external_id ORDER BY m.id;
\echo 'Commissions:'
SELECT c.external_ref, b.external_id AS beneficiary, k.level, k.amount, k.status
  FROM affiliate.commission k
  JOIN affiliate.conversion c ON c.program_id = k.program_id AND c.id = k.conversion_id
  JOIN affiliate.member b ON b.program_id = k.program_id AND b.id = k.beneficiary_id
 WHERE k.program_id = :ott ORDER BY k.id;
\echo 'Invariants (none broken):'
SELECT * FROM affiliate.verify(:ott);
