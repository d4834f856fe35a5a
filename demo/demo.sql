-- The demo program loaded by `make demo`: the Telegram OTT shop of DESIGN §4.1
-- (₹135 plan, ₹42 cost, whole-rupee rounding, 24 h hold, ₹500 minimum
-- withdrawal), with a few ledger journals to look at.  It grows as the
-- referral, wallet and loyalty engines land.
\set ON_ERROR_STOP 1
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "min_withdrawal": 50000, "rounding_unit": 100,
      "rounding": "half_up", "attribution": "sponsor", "clawback": "negative"}') AS ott \gset

-- the members the journals below credit: ids 1 and 2 in the fresh demo database
SELECT affiliate.add_member(:ott, 'tg:1001') AS member_1;
SELECT affiliate.add_member(:ott, 'tg:1002') AS member_2;

-- a ₹135 sale: level 1 earns ₹28, level 2 earns ₹9, both pending (in paise)
SELECT affiliate.post_journal(:ott, 'conversion',
    '[{"kind": "commission_expense", "amount": -3700},
      {"member": 1, "kind": "pending", "amount": 2800},
      {"member": 2, "kind": "pending", "amount": 900}]',
    'order-1001', '{"order": "order-1001", "plan": "OTT monthly", "price": 13500, "cost": 4200}');
-- the same webhook retried: returns the same journal, writes nothing
SELECT affiliate.post_journal(:ott, 'conversion',
    '[{"kind": "commission_expense", "amount": -3700},
      {"member": 1, "kind": "pending", "amount": 2800},
      {"member": 2, "kind": "pending", "amount": 900}]',
    'order-1001', '{"order": "order-1001", "plan": "OTT monthly", "price": 13500, "cost": 4200}');
-- the hold is over: pending -> available for member 1
SELECT affiliate.post_journal(:ott, 'release',
    '[{"member": 1, "kind": "pending", "amount": -2800}, {"member": 1, "kind": "available", "amount": 2800}]',
    'release-order-1001-1');
SELECT affiliate.fold_balances(:ott);
