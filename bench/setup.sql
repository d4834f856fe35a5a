-- make bench: the data set.  One program (the OTT shop's settings: whole
-- rupees, half up, 24 h hold, ₹1 minimum withdrawal for the withdrawal
-- bench) with two plans: product 'basic' pays 2 levels (30 % / 10 % of the
-- profit), product 'pro' 5 levels (30 / 10 / 5 / 3 / 2 %).  :members members
-- in a referral tree where member n is sponsored by member (n + 2) / 4
-- (a 4-ary tree: depth <= 9 for 100 000 members), all joined through
-- affiliate.add_member (codes, uplines, accounts as in production).
\set ON_ERROR_STOP 1
SELECT affiliate.create_program('bench', 'INR',
       '{"hold_period": "24 hours", "rounding_unit": 100, "min_withdrawal": 100}') AS program \gset
SELECT affiliate.set_plan(:program, 'basic: 2 levels', '{3000,1000}', 'profit', product => 'basic') AS plan_basic \gset
SELECT affiliate.set_plan(:program, 'pro: 5 levels', '{3000,1000,500,300,200}', 'profit', product => 'pro') AS plan_pro \gset
SELECT affiliate.add_member(:program, 'm1') AS root \gset
DO $$
DECLARE
    n bigint;
    code text;
BEGIN
    FOR n IN 2 .. current_setting('bench.members')::bigint LOOP
        SELECT m.code::text INTO code FROM affiliate.member m WHERE m.program_id = 1 AND m.id = (n + 2) / 4;
        PERFORM affiliate.add_member(1, 'm' || n, code);
    END LOOP;
END
$$;
SELECT count(*) AS members, max(cardinality(upline)) AS max_depth FROM affiliate.member;
-- wallets for the withdrawal bench: members 2 .. 10001 get ₹100 000 each
SELECT count(affiliate.adjust_balance(:program, m, 10000000, 'bench funds')) AS funded
  FROM generate_series(2, least(10001, current_setting('bench.members')::bigint)) m;
ANALYZE;
-- loyalty and campaigns (0.6.0): 1 point per ₹100 billed; a public 10 %
-- coupon without limits (each redemption still counts its use on the
-- campaign row and the member's row)
SELECT affiliate.set_points_rule(:program, 'bill', 1, 10000);
SELECT affiliate.create_campaign(:program, 'bench coupon', 'percent_off', 1000, now() - interval '1 hour',
                                 NULL, 'BENCH10') AS coupon \gset
SELECT affiliate.set_campaign_status(:program, :coupon, 'scheduled');
SELECT affiliate.advance_campaigns() AS campaigns_active;
