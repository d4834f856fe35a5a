-- one bill from the ERP through affiliate.record_bill (points lot, ledger
-- posting, tier check)
\set m random(2, :max_member)
\set r random(1, 9000000000000000000)
SELECT affiliate.record_bill(1, 'b' || :client_id || '-' || :r, :m, 250000);
