-- Wallets and payouts: the OTT shop's payout story.  Commissions are earned
-- (pending), released after the 24 h hold (available), withdrawn (₹500
-- minimum) through request -> approve -> paid, spent from the wallet
-- (idempotent on the order), adjusted by an admin; a refund after release
-- and after a withdrawal leaves a debt that the next withdrawal or payment
-- repays first; a blocked member's balance is frozen; the history shows
-- running balances; every refused call changes nothing.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

-- everything a wallet call could change, as one text value
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT count(*) FROM affiliate.posting) AS postings,
       (SELECT count(*) FROM affiliate.audit_log) AS audits,
       (SELECT count(*) FROM affiliate.account) AS accounts,
       (SELECT md5(coalesce(string_agg(id || ':' || status || ':' || amount || ':' || debt_settled, ',' ORDER BY id), ''))
          FROM affiliate.withdrawal) AS withdrawals,
       (SELECT md5(string_agg(account_id || ':' || balance, ',' ORDER BY account_id))
          FROM affiliate.account_balances) AS balances;

-- the five ledger accounts behind each wallet
CREATE TEMP VIEW accounts AS
SELECT m.program_id, m.external_id,
       sum(b.balance) FILTER (WHERE b.kind = 'pending') AS pending,
       sum(b.balance) FILTER (WHERE b.kind = 'available') AS available,
       sum(b.balance) FILTER (WHERE b.kind = 'owed') AS owed,
       sum(b.balance) FILTER (WHERE b.kind = 'withdrawing') AS withdrawing,
       sum(b.balance) FILTER (WHERE b.kind = 'payable') AS payable
  FROM affiliate.member m
  JOIN affiliate.account_balances b ON b.program_id = m.program_id AND b.member_id = m.id
 GROUP BY m.program_id, m.external_id;

-- ---------------------------------------------------------------------------
-- The OTT shop: ₹135 plan, ₹42 cost, 30 % / 10 % of the ₹93 profit in whole
-- rupees: level 1 earns ₹28 (2800), level 2 ₹9 (900).  24 h hold, ₹500
-- minimum withdrawal, unrecoverable clawbacks are owed by the member.
-- Asha refers Ravi, Ravi refers Meena; Meena buys.
-- ---------------------------------------------------------------------------
SELECT affiliate.create_program('OTT shop', 'INR',
    '{"hold_period": "24 hours", "rounding_unit": 100, "min_withdrawal": 50000, "clawback": "negative"}') AS ott \gset
SELECT affiliate.add_member(:ott, 'asha') AS asha \gset
SELECT affiliate.add_member(:ott, 'ravi', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:ott, 'meena', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.set_plan(:ott, 'OTT referral', '{3000,1000}', 'profit') IS NOT NULL AS plan;

-- a new member's wallet is empty
SELECT * FROM affiliate.balance(:ott, :ravi);

-- Meena buys 20 monthly plans: Ravi earns 20 × ₹28 = ₹560, Asha 20 × ₹9 = ₹180
SELECT level, count(*), sum(amount), min(amount), max(amount)
  FROM generate_series(1, 20) i, LATERAL affiliate.record_conversion(:ott, 'o-' || i, :meena, 13500, 4200) c
 GROUP BY level ORDER BY level;
-- all of it is on hold: pending, nothing available yet
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT * FROM affiliate.balance(:ott, :asha);
-- nothing can be withdrawn or spent while it is on hold
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, 'early-order');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- ---------------------------------------------------------------------------
-- Release after the hold: 40 commissions move pending -> available.
-- ---------------------------------------------------------------------------
SELECT affiliate.release_due(now() + interval '25 hours') AS released;
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT * FROM affiliate.balance(:ott, :asha);

-- ---------------------------------------------------------------------------
-- Withdrawals: at least ₹500, at most what is available.
-- ---------------------------------------------------------------------------
SELECT f::text AS f FROM fingerprint f \gset before_
-- ₹499.99 is below the minimum
SELECT affiliate.request_withdrawal(:ott, :ravi, 49999, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
-- ₹561 is more than the ₹560 available
SELECT affiliate.request_withdrawal(:ott, :ravi, 56100, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
-- Asha has ₹180: she cannot reach the minimum
SELECT affiliate.request_withdrawal(:ott, :asha, 50000, 'upi', 'asha@okhdfc');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- ₹500 to Ravi's UPI id: available -> withdrawing
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'UPI', ' Ravi@OKAXIS ') AS w1 \gset
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT external_id, amount, withdrawal_status, method, destination_masked,
       decided_at IS NULL AS undecided, paid_at IS NULL AS unpaid, provider_ref, reason
  FROM affiliate.withdrawals(:ott) WHERE withdrawal_id = :w1;
SELECT amount, debt_settled, status FROM affiliate.withdrawal WHERE id = :w1;
-- approved: still withdrawing (the money moved to payable)
SELECT status, decided_at IS NOT NULL AS decided FROM affiliate.approve_withdrawal(:ott, :w1);
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT pending, available, owed, withdrawing, payable FROM accounts WHERE external_id = 'ravi';
-- paid: the money has left the wallet
SELECT status, provider_ref, paid_at IS NOT NULL AS paid FROM affiliate.complete_withdrawal(:ott, :w1, 'UTR-300001');
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT pending, available, owed, withdrawing, payable FROM accounts WHERE external_id = 'ravi';

-- ---------------------------------------------------------------------------
-- History: newest first, one row per journal that changes a bucket, with the
-- balances after each entry.  The approval (withdrawing -> payable) is not
-- listed.  20 sales (pending 2800 .. 56000), the release (+56000 available),
-- the request (-50000 available, +50000 withdrawing), the payment (-50000
-- withdrawing).
-- ---------------------------------------------------------------------------
SELECT row_number() OVER () AS n, kind, asset, amount, pending_balance, available_balance,
       withdrawing_balance, reference, withdrawal_id = :w1 AS w1
  FROM affiliate.wallet_transactions(:ott, :ravi);
-- the newest row's balances are the wallet's balances
SELECT (t.pending_balance, t.available_balance, t.withdrawing_balance) = (b.pending, b.available, b.withdrawing) AS agrees
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 1) t, affiliate.balance(:ott, :ravi) b;
-- journal ids are listed newest first
SELECT bool_and(journal_id < prev) AS newest_first
  FROM (SELECT journal_id, lag(journal_id) OVER () AS prev FROM affiliate.wallet_transactions(:ott, :ravi)) x
 WHERE prev IS NOT NULL;
-- paging: the newest 3; the newest 5 (the 20 sales were recorded in one
-- statement, at one time: the page ends inside them with the right
-- balances); everything since the release
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 3);
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 5);
SELECT at AS release_at FROM affiliate.wallet_transactions(:ott, :ravi) WHERE kind = 'commission_released' \gset
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance
  FROM affiliate.wallet_transactions(:ott, :ravi, since => :'release_at');
SELECT kind, amount FROM affiliate.wallet_transactions(:ott, :ravi, since => :'release_at', max_rows => 2);
SELECT count(*) FROM affiliate.wallet_transactions(:ott, :ravi, since => now() + interval '1 day');
SELECT count(*) FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 10000);
-- Asha's history: 20 earnings and the release
SELECT kind, count(*), sum(amount), min(pending_balance), max(pending_balance), max(available_balance)
  FROM affiliate.wallet_transactions(:ott, :asha) GROUP BY kind ORDER BY kind;
-- Meena earned nothing: no history
SELECT count(*) FROM affiliate.wallet_transactions(:ott, :meena);

-- ---------------------------------------------------------------------------
-- Paying from the wallet: available -> revenue, idempotent on the order.
-- ---------------------------------------------------------------------------
SELECT affiliate.pay_from_wallet(:ott, :ravi, 4000, 'renewal-2026-12') AS pay1 \gset
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT j.kind, j.idempotency_key, j.memo->>'amount' AS amount, j.memo->>'debt_settled' AS debt_settled
  FROM affiliate.journal j WHERE j.program_id = :ott AND j.id = :pay1;
SELECT a.kind, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.posting p
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE p.program_id = :ott AND p.journal_id = :pay1 ORDER BY p.amount;
SELECT f::text AS f FROM fingerprint f \gset before_
-- the retry returns the same journal and changes nothing
SELECT affiliate.pay_from_wallet(:ott, :ravi, 4000, 'renewal-2026-12') = :pay1 AS same_journal;
-- the same order with another amount or another member is refused
SELECT affiliate.pay_from_wallet(:ott, :ravi, 4100, 'renewal-2026-12');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :asha, 4000, 'renewal-2026-12');
\echo :LAST_ERROR_SQLSTATE
-- more than the ₹20 left is refused
SELECT affiliate.pay_from_wallet(:ott, :ravi, 2001, 'renewal-2027-01');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT * FROM affiliate.balance(:ott, :ravi);

-- ---------------------------------------------------------------------------
-- Admin adjustments: credit and debit available against the system
-- adjustments account, audited; a debit cannot exceed what is available.
-- ---------------------------------------------------------------------------
SELECT affiliate.adjust_balance(:ott, :ravi, 1500, 'goodwill: late payout') AS adj1 \gset
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT affiliate.adjust_balance(:ott, :ravi, -2000, 'correction: duplicate bonus') AS adj2 \gset
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT j.id = :adj2 AS adj2, a.kind, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE j.program_id = :ott AND j.id IN (:adj1, :adj2) ORDER BY j.id, p.amount;
SELECT action, actor = current_user AS by_current_user, db_role = current_user AS db_role,
       (detail->>'journal_id')::bigint IN (:adj1, :adj2) AS journal, (detail->>'member_id')::bigint = :ravi AS ravi,
       detail->>'amount' AS amount, detail->>'asset' AS asset, detail->>'reason' AS reason
  FROM affiliate.audit_log WHERE program_id = :ott AND action = 'adjust_balance' ORDER BY id;
SELECT f::text AS f FROM fingerprint f \gset before_
-- ₹15 available: a ₹15.01 debit is refused by the ledger
SELECT affiliate.adjust_balance(:ott, :ravi, -1501, 'too much');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
-- the history labels them, with the order and the reason as references
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 4);

-- ---------------------------------------------------------------------------
-- Debt.  Asha spends ₹175 of her ₹180 from the wallet; then o-1 is charged
-- back after the release.  Ravi's ₹28 is clawed back from his ₹15 (₹13
-- owed), Asha's ₹9 from her ₹5 (₹4 owed).  available = available + owed.
-- ---------------------------------------------------------------------------
SELECT affiliate.pay_from_wallet(:ott, :asha, 17500, 'annual-asha') IS NOT NULL AS paid;
SELECT level, amount, reversed, status
  FROM affiliate.refund_conversion(:ott, 'o-1', 'chargeback') ORDER BY level;
SELECT external_id, pending, available, owed, withdrawing, payable
  FROM accounts WHERE program_id = :ott ORDER BY external_id;
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT * FROM affiliate.balance(:ott, :asha);
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 1);
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference
  FROM affiliate.wallet_transactions(:ott, :asha, max_rows => 2);
-- nothing is spendable while the debt is larger than available
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, 'addon-ravi');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT * FROM affiliate.verify();

-- 20 more sales, released: Ravi has ₹560 available and owes ₹13 -> ₹547;
-- Asha has ₹180 and owes ₹4 -> ₹176
SELECT level, count(*), sum(amount)
  FROM generate_series(21, 40) i, LATERAL affiliate.record_conversion(:ott, 'o-' || i, :meena, 13500, 4200) c
 GROUP BY level ORDER BY level;
SELECT affiliate.release_due(now() + interval '25 hours') AS released;
SELECT external_id, pending, available, owed, withdrawing, payable
  FROM accounts WHERE program_id = :ott ORDER BY external_id;
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT * FROM affiliate.balance(:ott, :asha);
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT affiliate.request_withdrawal(:ott, :ravi, 54701, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :asha, 17601, 'addon-asha');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- Ravi withdraws ₹500: the ₹13 debt is repaid first (available gives ₹513)
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'ravi@okaxis') AS w2 \gset
SELECT amount, debt_settled, status FROM affiliate.withdrawal WHERE id = :w2;
SELECT pending, available, owed, withdrawing, payable FROM accounts WHERE external_id = 'ravi';
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT a.kind, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE j.program_id = :ott AND j.idempotency_key = 'withdrawal:' || :w2 || ':request' ORDER BY p.amount;
SELECT detail->>'amount' AS amount, detail->>'debt_settled' AS debt_settled, detail->>'to' AS to_status,
       detail->>'method' AS method, detail->>'destination' AS destination
  FROM affiliate.audit_log WHERE program_id = :ott AND action = 'request_withdrawal' ORDER BY id;
-- in the history the request moves ₹500 out of available (the debt
-- repayment nets to zero within the available bucket)
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, withdrawal_id = :w2 AS w2
  FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 2);

-- Asha pays ₹6 from the wallet: her ₹4 debt is repaid first (available gives ₹10)
SELECT affiliate.pay_from_wallet(:ott, :asha, 600, 'addon-asha') AS pay2 \gset
SELECT j.memo->>'amount' AS amount, j.memo->>'debt_settled' AS debt_settled
  FROM affiliate.journal j WHERE j.program_id = :ott AND j.id = :pay2;
SELECT a.kind, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.posting p
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE p.program_id = :ott AND p.journal_id = :pay2 ORDER BY p.amount;
SELECT external_id, pending, available, owed, withdrawing, payable
  FROM accounts WHERE program_id = :ott ORDER BY external_id;
SELECT * FROM affiliate.balance(:ott, :asha);
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference
  FROM affiliate.wallet_transactions(:ott, :asha, max_rows => 3);

-- Ravi's whole history since his first withdrawal, with running balances
SELECT at AS w1_at FROM affiliate.wallet_transactions(:ott, :ravi) WHERE kind = 'withdrawal_requested' AND withdrawal_id = :w1 \gset
SELECT kind, amount, pending_balance, available_balance, withdrawing_balance, reference,
       withdrawal_id = :w1 AS w1, withdrawal_id = :w2 AS w2
  FROM affiliate.wallet_transactions(:ott, :ravi, since => :'w1_at');

-- ---------------------------------------------------------------------------
-- A blocked member's balance is frozen: no withdrawal, no payment; an admin
-- can still adjust it.
-- ---------------------------------------------------------------------------
SELECT affiliate.set_member_status(:ott, :ravi, 'blocked', 'fraud review') AS was;
SELECT f::text AS f FROM fingerprint f \gset before_
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, 'blocked-order');
\echo :LAST_ERROR_SQLSTATE
-- a retry of a payment made before the block still returns the original
SELECT affiliate.pay_from_wallet(:ott, :ravi, 4000, 'renewal-2026-12') = :pay1 AS same_journal;
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;
SELECT affiliate.adjust_balance(:ott, :ravi, -700, 'fraud review: bonus reversed') IS NOT NULL AS adjusted;
SELECT * FROM affiliate.balance(:ott, :ravi);
SELECT affiliate.set_member_status(:ott, :ravi, 'active', 'review closed') AS was;
SELECT affiliate.pay_from_wallet(:ott, :ravi, 4000, 'renewal-2027-01') IS NOT NULL AS paid;
SELECT * FROM affiliate.balance(:ott, :ravi);

-- ---------------------------------------------------------------------------
-- Every bad input is refused with its error and changes nothing.
-- ---------------------------------------------------------------------------
SELECT f::text AS f FROM fingerprint f \gset before_
-- balance
SELECT * FROM affiliate.balance(NULL, :ravi);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.balance(:ott, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.balance(:ott, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.balance(999999, :ravi);
\echo :LAST_ERROR_SQLSTATE
-- wallet_transactions
SELECT * FROM affiliate.wallet_transactions(NULL, :ravi);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, :ravi, max_rows => 10001);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(:ott, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.wallet_transactions(999999, :ravi);
\echo :LAST_ERROR_SQLSTATE
-- request_withdrawal: NULLs
SELECT affiliate.request_withdrawal(NULL, :ravi, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, NULL, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, NULL, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, NULL, 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', NULL);
\echo :LAST_ERROR_SQLSTATE
-- request_withdrawal: amounts
SELECT affiliate.request_withdrawal(:ott, :ravi, 0, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, -50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
-- request_withdrawal: methods
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, '', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'U P I', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, '1upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi-lite', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'b' || repeat('a', 32), 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
-- request_withdrawal: destinations
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', E' \t ');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', 'ravi@ökaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'upi', E'ravi\x01@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'bank', repeat('9', 201));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'bank', repeat('9', 200) || ' 9');
\echo :LAST_ERROR_SQLSTATE
-- request_withdrawal: unknown member or program
SELECT affiliate.request_withdrawal(:ott, 999999, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.request_withdrawal(999999, :ravi, 50000, 'upi', 'ravi@okaxis');
\echo :LAST_ERROR_SQLSTATE
-- pay_from_wallet
SELECT affiliate.pay_from_wallet(NULL, :ravi, 100, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, NULL, 100, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, NULL, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 0, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, -100, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, repeat('x', 181));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, 999999, 100, 'x-1');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(999999, :ravi, 100, 'x-1');
\echo :LAST_ERROR_SQLSTATE
-- adjust_balance
SELECT affiliate.adjust_balance(NULL, :ravi, 100, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, NULL, 100, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, 100, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, 0, 'nothing');
\echo :LAST_ERROR_SQLSTATE
-- amounts beyond what a ledger leg may move (10^15) are refused, so no
-- balance can overflow a bigint and break every balance read
SELECT affiliate.adjust_balance(:ott, :ravi, 9223372036854775807, 'overflow');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, -9223372036854775808, 'overflow');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.pay_from_wallet(:ott, :ravi, 9223372036854775807, 'overflow');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, 100, '');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, :ravi, 100, repeat('x', 2001));
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(:ott, 999999, 100, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.adjust_balance(999999, :ravi, 100, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT f::text AS f FROM fingerprint f \gset after_
SELECT :'before_f' = :'after_f' AS unchanged;

-- the limits themselves are accepted: a 180-byte order, a 2000-byte reason,
-- a 32-letter method, a 200-byte destination
SELECT affiliate.adjust_balance(:ott, :ravi, 50000, 'top-up for the limits test') IS NOT NULL AS adjusted;
SELECT affiliate.adjust_balance(:ott, :ravi, 100, repeat('x', 2000)) IS NOT NULL AS adjusted;
SELECT affiliate.pay_from_wallet(:ott, :ravi, 100, repeat('x', 180)) IS NOT NULL AS paid;
SELECT affiliate.request_withdrawal(:ott, :ravi, 50000, 'b' || repeat('a', 31), repeat('9', 196) || '1234') AS w3 \gset
SELECT method, destination_masked, amount FROM affiliate.withdrawal WHERE id = :w3;
SELECT * FROM affiliate.balance(:ott, :ravi);

SELECT * FROM affiliate.verify();
