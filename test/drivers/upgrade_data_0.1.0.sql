-- Data written with the 0.1.0 API (test/drivers/upgrade_data.sh): programs,
-- settings, and the ledger alone.  0.1.0 has no member table: journals name
-- the application's member ids (the same ids in both programs), which the
-- update to 0.2.0 turns into members "legacy:<id>".
--   program 1 (INR): bonuses from the marketing budget into members'
--   available accounts, cash-outs back out of them, a points award, a
--   refused overdraft; folded with checkpoints, the last postings unfolded.
--   program 2 (USD): referral fees between members and a fees account.
-- Members with several accounts are checked by upgrade_data.sh on their own.
-- Journal kinds that 0.2.0 gave a meaning (conversion, release, refund on
-- pending, available and commission_expense accounts) are left out: the
-- update has no commission rows for them, and verify() reports such journals
-- (test/sql/upgrade.sql shows it).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT affiliate.create_program('Ledger shop', 'INR', '{"hold_period": "48 hours", "min_withdrawal": 5000}') AS p1 \gset
SELECT affiliate.create_program('Old fees', 'USD') AS p2 \gset
SELECT affiliate.update_program_settings(:p1, '{"rounding_unit": 100}') IS NOT NULL AS updated;

SELECT count(affiliate.post_journal(:p1, 'bonus', jsonb_build_array(
           jsonb_build_object('kind', 'marketing', 'amount', -1000 * n),
           jsonb_build_object('member', n % 12 + 1, 'kind', 'available', 'amount', 1000 * n)),
           'bonus-' || n, jsonb_build_object('campaign', 'launch', 'n', n))) AS bonuses
  FROM generate_series(1, 60) n;
SELECT affiliate.fold_balances() > 0 AS folded;
SELECT count(affiliate.post_journal(:p1, 'cashout', jsonb_build_array(
           jsonb_build_object('member', n, 'kind', 'available', 'amount', -2000),
           jsonb_build_object('kind', 'cash', 'amount', 2000)),
           'cashout-' || n)) AS cashouts
  FROM generate_series(1, 12) n;
SELECT affiliate.post_journal(:p1, 'points_award',
       '[{"kind": "points_issued", "asset": "POINTS", "amount": -300},
         {"member": 13, "kind": "points", "asset": "POINTS", "amount": 300}]', 'points-1') IS NOT NULL AS points;
-- an overdraft is refused and changes nothing
DO $$
BEGIN
    PERFORM affiliate.post_journal((SELECT min(id) FROM affiliate.program), 'cashout',
            '[{"member": 1, "kind": "available", "amount": -100000000}, {"kind": "cash", "amount": 100000000}]');
    RAISE EXCEPTION 'the overdraft was accepted';
EXCEPTION WHEN check_violation THEN
    NULL;
END
$$;

SELECT count(affiliate.post_journal(:p2, 'referral_fee', jsonb_build_array(
           jsonb_build_object('kind', 'fees', 'amount', -250),
           jsonb_build_object('member', n % 5 + 1, 'kind', 'available', 'amount', 250)),
           'fee-' || n)) AS fees
  FROM generate_series(1, 20) n;
SELECT affiliate.fold_balances() > 0 AS folded;
-- the last postings stay unfolded (balance_delta)
SELECT count(affiliate.post_journal(:p1, 'bonus', jsonb_build_array(
           jsonb_build_object('kind', 'marketing', 'amount', -500),
           jsonb_build_object('member', n, 'kind', 'available', 'amount', 500)),
           'late-bonus-' || n)) AS late_bonuses
  FROM generate_series(1, 4) n;
