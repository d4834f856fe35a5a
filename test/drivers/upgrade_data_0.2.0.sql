-- Data written with the 0.2.0 API (test/drivers/upgrade_data.sh): the
-- referral spine without wallets.  Program 1 (INR, whole rupees): a tree of
-- 24 members, clicks, a 2-level profit plan and a product plan, 50
-- conversions (40 due, 10 held), a reversal, release, clawbacks (full and
-- partial), a moved subtree, a blocked member, a manual journal; program 2
-- (USD, last-click attribution, clawbacks written off): a creator share and
-- an upline plan.  Folded with checkpoints, the last postings unfolded.
-- Plans and settings are set before the first conversion: a database at
-- 0.2.0 or 0.3.0 running the 0.4.0 library does not see later changes in a
-- session that already cached them (the invalidation triggers come with
-- the update to 0.4.0; docs/reliability.md, Upgrades).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT affiliate.create_program('OTT shop', 'INR',
       '{"hold_period": "24 hours", "rounding_unit": 100, "min_withdrawal": 5000}') AS p1 \gset
SELECT affiliate.create_program('Course platform', 'USD',
       '{"hold_period": "7 days", "attribution": "last_click", "clawback": "write_off"}') AS p2 \gset
SELECT affiliate.update_program_settings(:p1, '{"min_withdrawal": 10000}') IS NOT NULL AS updated;

DO $$
DECLARE
    p bigint := (SELECT min(id) FROM affiliate.program);
BEGIN
    PERFORM affiliate.add_member(p, 'm1', NULL, 'device-1', '10.2.0.1');
    FOR i IN 2..24 LOOP
        PERFORM affiliate.add_member(p, 'm' || i,
                    (SELECT code::text FROM affiliate.member WHERE program_id = p AND external_id = 'm' || (i / 2)),
                    CASE WHEN i % 3 = 0 THEN 'device-' || i END,
                    CASE WHEN i % 3 = 0 THEN ('10.2.0.' || i)::inet END);
    END LOOP;
END
$$;
SELECT affiliate.set_plan(:p1, 'OTT referral', '{3000,1000}', 'profit') IS NOT NULL AS plan;
SELECT affiliate.set_plan(:p1, 'Premium', '{2000,500}', 'amount', product => 'premium', caps => '{5000,1000}') IS NOT NULL AS plan;
SELECT count(affiliate.record_click(:p1, m.code::text, 'telegram', ('192.0.2.' || m.id)::inet, 'Mozilla/5.0'))
  FROM affiliate.member m WHERE m.program_id = :p1 AND m.id % 4 = 0;

SELECT affiliate.add_member(:p2, 'creator:priya') AS priya \gset
SELECT affiliate.add_member(:p2, 'creator:arjun') AS arjun \gset
SELECT affiliate.record_click(:p2, (SELECT code::text FROM affiliate.member WHERE id = :arjun), 'youtube',
                              '203.0.113.7', 'Mozilla/5.0', now() - interval '2 days') IS NOT NULL AS clicked;
SELECT affiliate.add_member(:p2, 'student:' || n, NULL, NULL, '203.0.113.7') IS NOT NULL AS joined_by_click
  FROM generate_series(1, 3) n;
SELECT affiliate.set_plan(:p2, 'Creator share', '{7000}', 'amount', beneficiary => 'seller') IS NOT NULL AS plan;
SELECT affiliate.set_plan(:p2, 'Student referral', '{1000}', 'amount') IS NOT NULL AS plan;

SELECT count(*) AS commissions
  FROM generate_series(1, 40) n,
       LATERAL affiliate.record_conversion(:p1, 'ord-' || n,
               (SELECT id FROM affiliate.member WHERE program_id = :p1 AND external_id = 'm' || (n % 22 + 3)),
               CASE WHEN n % 5 = 0 THEN 49900 ELSE 13500 END, 4200, now() - interval '3 days',
               CASE WHEN n % 5 = 0 THEN 'premium' END);
SELECT count(*) AS commissions
  FROM affiliate.record_conversions(:p1, ARRAY(
       SELECT ROW('ord-' || n, (SELECT id FROM affiliate.member WHERE program_id = :p1 AND external_id = 'm' || (n % 22 + 3)),
                  13500, 4200, NULL, NULL, NULL)::affiliate.conversion_input
         FROM generate_series(41, 50) n));
SELECT count(*) AS commissions
  FROM generate_series(1, 12) n,
       LATERAL affiliate.record_conversion(:p2, 'course-' || n,
               (SELECT id FROM affiliate.member WHERE program_id = :p2 AND external_id = 'student:' || (n % 3 + 1)),
               4900, 0, now() - interval '10 days', 'course-sql', CASE WHEN n % 2 = 0 THEN :priya ELSE :arjun END);

SELECT count(*) AS reversed FROM affiliate.refund_conversion(:p1, 'ord-1', 'cancelled');
SELECT affiliate.fold_balances() >= 0 AS folded;
SELECT affiliate.release_due() AS released;
SELECT count(*) AS clawed FROM affiliate.refund_conversion(:p1, 'ord-2', 'chargeback');
SELECT count(*) AS clawed FROM affiliate.refund_conversion(:p1, 'ord-3', 'partial', 6750, 'rf-3-a');
SELECT count(*) AS written_off FROM affiliate.refund_conversion(:p2, 'course-2', 'refund window');
SELECT affiliate.move_member(:p1, 5, 7) AS moved;
SELECT affiliate.set_member_status(:p1, 23, 'blocked', 'fraud review') AS old_status;
SELECT affiliate.post_journal(:p1, 'points_award',
       '[{"kind": "points_issued", "asset": "POINTS", "amount": -250},
         {"member": 6, "kind": "points", "asset": "POINTS", "amount": 250}]',
       'points-award-1', '{"reason": "quiz"}') IS NOT NULL AS points;
SELECT affiliate.fold_balances() > 0 AS folded;
SELECT count(*) AS commissions
  FROM generate_series(51, 55) n,
       LATERAL affiliate.record_conversion(:p1, 'ord-' || n,
               (SELECT id FROM affiliate.member WHERE program_id = :p1 AND external_id = 'm' || (n % 22 + 3)),
               13500, 4200);
