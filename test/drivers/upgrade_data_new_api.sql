-- After the update (test/drivers/upgrade_data.sh): the features of 0.2.0 to
-- 0.4.0 on the old data of program :p.  :old is a member from before the
-- update (an old 0.1.0 member id becomes member "legacy:<id>"), :old_ext
-- their external id.  Every expectation that does not hold stops the script
-- with "expectation failed: ...".
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.expect(ok boolean, what text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'expectation failed: %', what;
    END IF;
    RETURN 'ok   ' || what;
END
$$;

-- 0.2.0: members join under an old member's code; a plan pays the old member
SELECT code AS old_code FROM affiliate.member WHERE program_id = :p AND id = :old \gset
SELECT affiliate.add_member(:p, 'after:a', :'old_code', 'after-device', '198.51.100.1') AS a \gset
SELECT code AS a_code FROM affiliate.member WHERE program_id = :p AND id = :a \gset
SELECT affiliate.add_member(:p, 'after:b', :'a_code') AS b \gset
SELECT pg_temp.expect(upline = ARRAY[:a, :old]::bigint[] || (SELECT upline FROM affiliate.member WHERE program_id = :p AND id = :old),
                      'a new member''s upline runs through the old member')
  FROM affiliate.member WHERE program_id = :p AND id = :b;
SELECT affiliate.set_plan(:p, 'After the update', '{2500,500}', 'amount', product => 'after-update') AS plan \gset
SELECT now() - interval '3 days' AS at1 \gset
CREATE TEMP TABLE c1 AS
    SELECT * FROM affiliate.record_conversion(:p, 'after-update-1', :b, 20000, 0, :'at1', 'after-update');
SELECT pg_temp.expect(array_agg(beneficiary_id ORDER BY level) = ARRAY[:a, :old]::bigint[]
                      AND array_agg(amount ORDER BY level) = ARRAY[5000, 1000]::bigint[],
                      'a conversion pays the new member and the old member (5000, 1000)')
  FROM c1;
SELECT pg_temp.expect(array_agg(r.id ORDER BY r.id) = (SELECT array_agg(id ORDER BY id) FROM c1),
                      'the new conversion replays idempotently')
  FROM affiliate.record_conversion(:p, 'after-update-1', :b, 20000, 0, :'at1', 'after-update') r;
SELECT pg_temp.expect(affiliate.release_due(now(), 10000, :p) >= 2, 'release_due releases the due commissions');
SELECT pg_temp.expect(count(*) = 2 AND bool_and(status = 'available'), 'both new commissions are available')
  FROM affiliate.commission WHERE program_id = :p AND id IN (SELECT id FROM c1);
SELECT pg_temp.expect(sum(reversed) = 3000, 'a partial refund claws back half of each share')
  FROM affiliate.refund_conversion(:p, 'after-update-1', 'partial', 10000, 'after-r1');

-- 0.3.0: the old member's wallet
SELECT pg_temp.expect(affiliate.adjust_balance(:p, :old, 100000, 'after the update') > 0, 'adjust_balance credits the old member');
SELECT available AS avail0 FROM affiliate.balance(:p, :old) WHERE asset = (SELECT currency FROM affiliate.program WHERE id = :p) \gset
SELECT affiliate.request_withdrawal(:p, :old, 50000, 'upi', 'old@okaxis') AS w1 \gset
SELECT pg_temp.expect(status = 'approved', 'approve_withdrawal') FROM affiliate.approve_withdrawal(:p, :w1);
SELECT pg_temp.expect(status = 'paid', 'complete_withdrawal') FROM affiliate.complete_withdrawal(:p, :w1, 'AFTER-UTR-1');
SELECT (SELECT count(*) FROM affiliate.journal) AS journals \gset
SELECT pg_temp.expect(status = 'paid' AND (SELECT count(*) FROM affiliate.journal) = :journals,
                      'a retried completion is a no-op')
  FROM affiliate.complete_withdrawal(:p, :w1, 'AFTER-UTR-1');
SELECT affiliate.request_withdrawal(:p, :old, 12000, 'upi', 'old@okaxis') AS w2 \gset
SELECT pg_temp.expect(status = 'rejected', 'reject_withdrawal') FROM affiliate.reject_withdrawal(:p, :w2, 'duplicate');
SELECT affiliate.pay_from_wallet(:p, :old, 1000, 'after-pay-1') AS pay \gset
SELECT pg_temp.expect(affiliate.pay_from_wallet(:p, :old, 1000, 'after-pay-1') = :pay, 'pay_from_wallet replays idempotently');
SELECT pg_temp.expect(available = :avail0 - 50000 - 1000, 'the wallet shows the paid withdrawal and the payment')
  FROM affiliate.balance(:p, :old) WHERE asset = (SELECT currency FROM affiliate.program WHERE id = :p);
SELECT pg_temp.expect(count(*) >= 4, 'wallet_transactions lists the old member''s history')
  FROM affiliate.wallet_transactions(:p, :old);

-- 0.4.0: the HTTP API on old members; the member cancels, the admin approves
BEGIN;
SET LOCAL ROLE affiliate_member;
SELECT set_config('request.jwt.claims',
       json_build_object('role', 'affiliate_member', 'program', :p, 'sub', :'old_ext')::text, true) IS NOT NULL AS claims \gset
SELECT pg_temp.expect(member_id = :old, 'affiliate_api.me() finds the old member by their JWT subject') FROM affiliate_api.me();
SELECT affiliate_api.request_withdrawal(12000, 'upi', 'old@okaxis') AS w3 \gset
SELECT pg_temp.expect(status = 'cancelled', 'the old member cancels a request over HTTP')
  FROM affiliate_api.cancel_withdrawal(:w3);
CREATE TEMP TABLE api_balance AS SELECT * FROM affiliate_api.my_balance();
COMMIT;
SELECT pg_temp.expect(count(*) > 0 AND bool_and((a.pending, a.available, a.withdrawing) = (b.pending, b.available, b.withdrawing)),
                      'my_balance over HTTP equals balance()')
  FROM api_balance a JOIN affiliate.balance(:p, :old) b USING (asset);
SELECT affiliate.request_withdrawal(:p, :old, 12000, 'upi', 'old@okaxis') AS w4 \gset
BEGIN;
SET LOCAL ROLE affiliate_admin;
SELECT set_config('request.jwt.claims',
       json_build_object('role', 'affiliate_admin', 'program', :p, 'sub', 'ops')::text, true) IS NOT NULL AS claims \gset
SELECT pg_temp.expect(status = 'approved', 'the admin approves over HTTP') FROM affiliate_api.approve_withdrawal(:w4);
SELECT pg_temp.expect(count(*) = 0, 'affiliate_api.verify() is empty') FROM affiliate_api.verify();
SELECT pg_temp.expect(count(*) >= 2, 'the admin reads the program''s members') FROM affiliate_api.members;
COMMIT;
SELECT pg_temp.expect(status = 'failed', 'fail_withdrawal') FROM affiliate.fail_withdrawal(:p, :w4, 'bank rejected');
SELECT pg_temp.expect(affiliate.move_member(:p, :b, :old) >= 1, 'move_member under an old member');
SELECT pg_temp.expect(affiliate.fold_balances() >= 0, 'fold_balances');
SELECT pg_temp.expect(count(*) = 0, 'verify() is empty after the new activity') FROM affiliate.verify();

-- 0.6.0: loyalty points for an old member
SELECT affiliate.set_points_rule(:p, 'bill', 1, 100) IS NULL AS rule_set \gset
SELECT pg_temp.expect(affiliate.record_bill(:p, 'upgrade-bill-1', :old, 5000, now() - interval '1 day') = 50,
                      'record_bill gives an old member 50 points');
SELECT pg_temp.expect(affiliate.record_bill(:p, 'upgrade-bill-1', :old, 5000) = 50,
                      'a replayed bill (occurred_at omitted) returns the same points');
SELECT pg_temp.expect(affiliate.deduct_points(:p, :old, 30, 'upgrade test') > 0, 'deduct_points on the old member');
SELECT pg_temp.expect(affiliate.refund_bill(:p, 'upgrade-bill-1') = 20, 'refund_bill takes back what is left (20)');
SELECT pg_temp.expect(shortfall = 30 AND balance = 0, 'points_balance shows the shortfall')
  FROM affiliate.points_balance(:p, :old);
SELECT pg_temp.expect(count(*) = 0, 'verify() is empty after the points') FROM affiliate.verify();
