-- one paid order through affiliate.record_conversion (the payment webhook)
\set buyer random(:min_buyer, :max_buyer)
\set r random(1, 9000000000000000000)
SELECT count(*) FROM affiliate.record_conversion(1, 'c' || :client_id || '-' || :r, :buyer, 13500, 4200, NULL, :product);
