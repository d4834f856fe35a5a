-- one payout: request, approve and complete (three steps, three journals);
-- each member pays out to their own destination (one shared by members
-- raises a fraud flag that holds them: docs/fraud.md)
\set m random(2, :max_funded)
BEGIN;
SELECT affiliate.request_withdrawal(1, :m, 100, 'upi', 'bench-' || :m || '@upi') AS w \gset
SELECT 1 FROM affiliate.approve_withdrawal(1, :w);
SELECT 1 FROM affiliate.complete_withdrawal(1, :w, 'utr-' || :w);
END;
