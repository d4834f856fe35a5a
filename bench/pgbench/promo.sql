-- one checkout with the coupon through affiliate.redeem_promo (the use
-- counted on the campaign row under its lock, the member's row, the
-- redemption)
\set m random(2, :max_member)
\set r random(1, 9000000000000000000)
SELECT discount FROM affiliate.redeem_promo(1, 'BENCH10', :m, 'p' || :client_id || '-' || :r, 13500);
