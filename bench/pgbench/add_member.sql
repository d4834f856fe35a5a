-- one member joining with a referral code (materialised upline)
\set s random(1, :max_sponsor)
\set r random(1, 9000000000000000000)
SELECT affiliate.add_member(1, 'n' || :client_id || '-' || :r,
       (SELECT code::text FROM affiliate.member WHERE program_id = 1 AND id = :s));
