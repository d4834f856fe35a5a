-- Data written with the 0.3.0 API (test/drivers/upgrade_data.sh): the 0.2.0
-- data set, then wallets: adjustments, payments from the wallet, and
-- withdrawals requested, approved, paid, rejected and failed (0.3.0 has no
-- cancel).
\set ON_ERROR_STOP 1
\ir upgrade_data_0.2.0.sql

SELECT affiliate.adjust_balance(:p1, m, 60000, 'launch bonus') IS NOT NULL AS adjusted
  FROM generate_series(1, 6) m;
SELECT affiliate.pay_from_wallet(:p1, 3, 6400, 'upgrade-7781') IS NOT NULL AS paid;
SELECT affiliate.request_withdrawal(:p1, 1, 20000, 'upi', 'asha@okaxis') AS w_requested \gset
SELECT affiliate.request_withdrawal(:p1, 2, 20000, 'upi', 'ravi@okaxis') AS w_approved \gset
SELECT status FROM affiliate.approve_withdrawal(:p1, :w_approved);
SELECT affiliate.request_withdrawal(:p1, 3, 15000, 'bank', 'IN00HDFC0001234567') AS w_paid \gset
SELECT status FROM affiliate.approve_withdrawal(:p1, :w_paid);
SELECT status FROM affiliate.complete_withdrawal(:p1, :w_paid, 'UTR-431907556218');
SELECT affiliate.request_withdrawal(:p1, 4, 12000, 'upi', 'meena@okaxis') AS w_rejected \gset
SELECT status FROM affiliate.reject_withdrawal(:p1, :w_rejected, 'destination not verified');
SELECT affiliate.request_withdrawal(:p1, 5, 30000, 'upi', 'kiran@okaxis') AS w_failed \gset
SELECT status FROM affiliate.approve_withdrawal(:p1, :w_failed);
SELECT status FROM affiliate.fail_withdrawal(:p1, :w_failed, 'provider timeout');
