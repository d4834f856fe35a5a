-- pg_affiliate 0.2.0 -> 0.3.0: wallets and payouts (balances, history,
-- the withdrawal state machine, paying from the wallet, admin adjustments)
-- and verify() covering withdrawals.  The objects are the same as in
-- pg_affiliate--0.3.0.sql (test/sql/upgrade.sql compares the catalogs of
-- both paths).

\echo Use "ALTER EXTENSION pg_affiliate UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Wallets and payouts: balances, history, withdrawals, paying from the
-- wallet, admin adjustments (src/wallet.c, src/withdrawal.c, docs/wallet.md).
--
-- A member's wallet in one asset is five ledger accounts: pending (held
-- commissions), available (spendable), owed (clawbacks the member could not
-- cover; <= 0), withdrawing (requested withdrawals) and payable (approved
-- withdrawals awaiting payment).  withdrawing and payable are created on the
-- first withdrawal.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.withdrawal (
    program_id          bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    member_id           bigint NOT NULL,
    asset               text NOT NULL CHECK (asset ~ '^[A-Z][A-Z0-9_]{1,15}$'),
    amount              bigint NOT NULL CHECK (amount > 0),
    debt_settled        bigint NOT NULL DEFAULT 0 CHECK (debt_settled >= 0),  -- owed repaid from available at request
    status              text NOT NULL DEFAULT 'requested'
                        CHECK (status IN ('requested', 'approved', 'rejected', 'paid', 'failed')),
    method              text NOT NULL CHECK (method ~ '^[a-z][a-z0-9_]{0,31}$'),
    destination_masked  text NOT NULL,
    destination_hash    bytea NOT NULL CHECK (length(destination_hash) = 32),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,            -- approved or rejected
    paid_at             timestamptz,
    failed_at           timestamptz,
    provider_ref        text CHECK (length(provider_ref) BETWEEN 1 AND 200),
    reason              text CHECK (length(reason) BETWEEN 1 AND 2000),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, provider_ref),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    CHECK ((status = 'requested') = (decided_at IS NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL)),
    CHECK ((status = 'paid') = (provider_ref IS NOT NULL)),
    CHECK ((status = 'failed') = (failed_at IS NOT NULL)),
    CHECK ((status IN ('rejected', 'failed')) = (reason IS NOT NULL))
);
CREATE INDEX withdrawal_status ON affiliate.withdrawal (program_id, status, requested_at, id);
CREATE INDEX withdrawal_member ON affiliate.withdrawal (program_id, member_id, requested_at);
CREATE INDEX withdrawal_destination ON affiliate.withdrawal (program_id, destination_hash);
COMMENT ON TABLE affiliate.withdrawal IS
    'Payout requests: requested -> approved -> paid | failed, or requested -> rejected. Written only by the C state machine.';

CREATE FUNCTION affiliate.balance(program_id bigint, member_id bigint)
    RETURNS TABLE (asset text, pending bigint, available bigint, withdrawing bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF program_id IS NULL OR member_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id and member_id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.member m
                    WHERE m.program_id = balance.program_id AND m.id = balance.member_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('member %s does not exist in program %s', member_id, program_id);
    END IF;
    RETURN QUERY
    SELECT b.asset,
           coalesce(sum(b.balance) FILTER (WHERE b.kind = 'pending'), 0)::bigint,
           coalesce(sum(b.balance) FILTER (WHERE b.kind IN ('available', 'owed')), 0)::bigint,
           coalesce(sum(b.balance) FILTER (WHERE b.kind IN ('withdrawing', 'payable')), 0)::bigint
      FROM affiliate.account_balances b
     WHERE b.program_id = balance.program_id AND b.member_id = balance.member_id
       AND b.kind IN ('pending', 'available', 'owed', 'withdrawing', 'payable')
     GROUP BY b.asset
     ORDER BY b.asset;
END
$$;
COMMENT ON FUNCTION affiliate.balance(bigint, bigint) IS
    'A member''s wallet per asset: pending (held), available (spendable, net of what they owe), withdrawing (requested or approved withdrawals).';

CREATE FUNCTION affiliate.wallet_transactions(program_id bigint, member_id bigint,
                                              since timestamptz DEFAULT NULL, max_rows integer DEFAULT 100)
    RETURNS TABLE (at timestamptz, journal_id bigint, kind text, asset text, amount bigint,
                   pending_balance bigint, available_balance bigint, withdrawing_balance bigint,
                   reference text, withdrawal_id bigint)
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'wallet_transactions';
COMMENT ON FUNCTION affiliate.wallet_transactions(bigint, bigint, timestamptz, integer) IS
    'A member''s wallet history, newest first, with the pending/available/withdrawing balances after each entry.';

CREATE FUNCTION affiliate.adjust_balance(program_id bigint, member_id bigint, amount bigint, reason text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'adjust_balance';
COMMENT ON FUNCTION affiliate.adjust_balance(bigint, bigint, bigint, text) IS
    'Admin: credit (or debit) a member''s available balance against the system adjustments account; audited. Returns the journal id.';

CREATE FUNCTION affiliate.pay_from_wallet(program_id bigint, member_id bigint, amount bigint, order_ref text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'pay_from_wallet';
COMMENT ON FUNCTION affiliate.pay_from_wallet(bigint, bigint, bigint, text) IS
    'Pay for a purchase from the available balance (available -> revenue); idempotent on order_ref. Returns the journal id.';

CREATE FUNCTION affiliate.request_withdrawal(program_id bigint, member_id bigint, amount bigint,
                                             method text, destination text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'request_withdrawal';
COMMENT ON FUNCTION affiliate.request_withdrawal(bigint, bigint, bigint, text, text) IS
    'Request a payout: available -> withdrawing; at least min_withdrawal; destination kept as a keyed hash and a masked form. Returns the withdrawal id.';

CREATE FUNCTION affiliate.approve_withdrawal(program_id bigint, withdrawal_id bigint)
    RETURNS affiliate.withdrawal
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'approve_withdrawal';
COMMENT ON FUNCTION affiliate.approve_withdrawal(bigint, bigint) IS
    'Admin: requested -> approved (withdrawing -> payable); audited.';

CREATE FUNCTION affiliate.reject_withdrawal(program_id bigint, withdrawal_id bigint, reason text)
    RETURNS affiliate.withdrawal
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reject_withdrawal';
COMMENT ON FUNCTION affiliate.reject_withdrawal(bigint, bigint, text) IS
    'Admin: requested -> rejected (withdrawing -> available); audited.';

CREATE FUNCTION affiliate.complete_withdrawal(program_id bigint, withdrawal_id bigint, provider_ref text)
    RETURNS affiliate.withdrawal
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'complete_withdrawal';
COMMENT ON FUNCTION affiliate.complete_withdrawal(bigint, bigint, text) IS
    'Admin: approved -> paid (payable -> system payouts) with the provider''s transaction id; the same id again is a no-op; audited.';

CREATE FUNCTION affiliate.fail_withdrawal(program_id bigint, withdrawal_id bigint, reason text)
    RETURNS affiliate.withdrawal
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'fail_withdrawal';
COMMENT ON FUNCTION affiliate.fail_withdrawal(bigint, bigint, text) IS
    'Admin: approved -> failed (payable -> available) when the payment did not go through; audited.';

CREATE FUNCTION affiliate.withdrawals(program_id bigint, status text DEFAULT NULL, max_rows integer DEFAULT 100)
    RETURNS TABLE (withdrawal_id bigint, member_id bigint, external_id text, member_status text,
                   asset text, amount bigint, withdrawal_status text, method text, destination_masked text,
                   requested_at timestamptz, decided_at timestamptz, paid_at timestamptz,
                   failed_at timestamptz, provider_ref text, reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF program_id IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id and max_rows must not be null';
    END IF;
    IF withdrawals.status IS NOT NULL
       AND withdrawals.status NOT IN ('requested', 'approved', 'rejected', 'paid', 'failed') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid withdrawal status "%s"', withdrawals.status),
            HINT = 'A withdrawal is requested, approved, rejected, paid or failed.';
    END IF;
    IF max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_rows must be between 1 and 10000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.program p WHERE p.id = withdrawals.program_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('program %s does not exist', withdrawals.program_id);
    END IF;
    RETURN QUERY
    SELECT w.id, w.member_id, m.external_id, m.status, w.asset, w.amount, w.status, w.method,
           w.destination_masked, w.requested_at, w.decided_at, w.paid_at, w.failed_at,
           w.provider_ref, w.reason
      FROM affiliate.withdrawal w
      JOIN affiliate.member m ON m.program_id = w.program_id AND m.id = w.member_id
     WHERE w.program_id = withdrawals.program_id
       AND (withdrawals.status IS NULL OR w.status = withdrawals.status)
     ORDER BY w.requested_at, w.id
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION affiliate.withdrawals(bigint, text, integer) IS
    'Admin: withdrawals of a program (optionally in one status), oldest first, with their members.';

CREATE FUNCTION affiliate.withdrawal_totals(program_id bigint)
    RETURNS TABLE (status text, asset text, withdrawals bigint, amount bigint, members bigint,
                   oldest timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF program_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.program p WHERE p.id = withdrawal_totals.program_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('program %s does not exist', withdrawal_totals.program_id);
    END IF;
    RETURN QUERY
    SELECT w.status, w.asset, count(*), sum(w.amount)::bigint, count(DISTINCT w.member_id),
           min(w.requested_at)
      FROM affiliate.withdrawal w
     WHERE w.program_id = withdrawal_totals.program_id
     GROUP BY w.status, w.asset
     ORDER BY array_position(ARRAY['requested', 'approved', 'paid', 'failed', 'rejected'], w.status), w.asset;
END
$$;
COMMENT ON FUNCTION affiliate.withdrawal_totals(bigint) IS
    'Admin: count, amount, members and oldest request of a program''s withdrawals per status and asset.';

-- ---------------------------------------------------------------------------
-- verify() now also checks withdrawals against the withdrawing, payable
-- and payouts accounts.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION affiliate.verify(program_id bigint DEFAULT NULL)
    RETURNS TABLE (invariant text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    -- every posting's account exists in the posting's program
    SELECT 'posting_account_exists',
           format('posting %s of journal %s (program %s) names account %s, which is not in the program',
                  p.id, p.journal_id, p.program_id, p.account_id)
      FROM affiliate.posting p
     WHERE ($1 IS NULL OR p.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.account a
                        WHERE a.program_id = p.program_id AND a.id = p.account_id)
    UNION ALL
    -- every journal sums to zero per asset
    SELECT 'journal_balanced',
           format('journal %s (program %s): asset %s sums to %s', p.journal_id, p.program_id, a.asset, sum(p.amount))
      FROM affiliate.posting p
      JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
     WHERE ($1 IS NULL OR p.program_id = $1)
     GROUP BY p.program_id, p.journal_id, a.asset
    HAVING sum(p.amount) <> 0
    UNION ALL
    -- every journal has at least two postings
    SELECT 'journal_has_postings',
           format('journal %s (program %s) has %s posting(s)', j.id, j.program_id,
                  (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id))
      FROM affiliate.journal j
     WHERE ($1 IS NULL OR j.program_id = $1)
       AND (SELECT count(*) FROM affiliate.posting p WHERE p.program_id = j.program_id AND p.journal_id = j.id) < 2
    UNION ALL
    -- every unfolded delta mirrors its posting
    SELECT 'delta_matches_posting',
           format('delta of posting %s (program %s) does not match the posting', d.posting_id, d.program_id)
      FROM affiliate.balance_delta d
      LEFT JOIN affiliate.posting p ON p.program_id = d.program_id AND p.id = d.posting_id
     WHERE ($1 IS NULL OR d.program_id = $1)
       AND (p.id IS NULL OR p.account_id <> d.account_id OR p.amount <> d.amount
            OR p.posted_at <> d.posted_at)
    UNION ALL
    -- each stored balance (plus unfolded deltas) equals the sum of its postings
    SELECT 'balance_matches_postings',
           format('account %s (program %s): stored %s + unfolded %s, postings sum to %s',
                  a.id, a.program_id, a.balance, coalesce(d.s, 0), coalesce(p.s, 0))
      FROM affiliate.account a
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.posting x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) p
             ON p.program_id = a.program_id AND p.account_id = a.id
      LEFT JOIN (SELECT x.program_id, x.account_id, sum(x.amount) AS s FROM affiliate.balance_delta x
                  WHERE $1 IS NULL OR x.program_id = $1 GROUP BY 1, 2) d
             ON d.program_id = a.program_id AND d.account_id = a.id
     WHERE ($1 IS NULL OR a.program_id = $1)
       AND a.balance + coalesce(d.s, 0) <> coalesce(p.s, 0)
    UNION ALL
    -- no forbidden negative balance
    SELECT 'no_forbidden_negative',
           format('account %s (program %s, %s) does not allow a negative balance and holds %s',
                  b.account_id, b.program_id, b.kind, b.balance)
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
       AND NOT b.allow_negative AND b.balance < 0
    UNION ALL
    -- every checkpoint equals the sum of the postings up to its time
    SELECT 'checkpoint_matches_postings',
           format('checkpoint of account %s (program %s) at %s holds %s, postings up to then sum to %s',
                  c.account_id, c.program_id, c.at, c.balance,
                  (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                    WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                  - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                      WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at))
      FROM affiliate.balance_checkpoint c
     WHERE ($1 IS NULL OR c.program_id = $1)
       AND c.balance <> (SELECT coalesce(sum(p.amount), 0) FROM affiliate.posting p
                          WHERE p.program_id = c.program_id AND p.account_id = c.account_id AND p.posted_at <= c.at)
                      - (SELECT coalesce(sum(d.amount), 0) FROM affiliate.balance_delta d
                          WHERE d.program_id = c.program_id AND d.account_id = c.account_id AND d.posted_at <= c.at)
    UNION ALL
    -- pending commissions equal the members' pending balances
    SELECT 'commission_pending_matches_ledger',
           format('member %s (program %s): pending balance %s, pending commissions %s',
                  coalesce(a.member_id, c.beneficiary_id), coalesce(a.program_id, c.program_id),
                  coalesce(a.balance, 0), coalesce(c.s, 0))
      FROM (SELECT b.program_id, b.member_id, b.balance
              FROM affiliate.account_balances b JOIN affiliate.program g ON g.id = b.program_id
             WHERE b.kind = 'pending' AND b.member_id IS NOT NULL AND b.asset = g.currency
               AND ($1 IS NULL OR b.program_id = $1)) a
      FULL JOIN (SELECT x.program_id, x.beneficiary_id, sum(x.amount - x.reversed) AS s
                   FROM affiliate.commission x
                  WHERE x.status = 'pending' AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = a.program_id AND c.beneficiary_id = a.member_id
     WHERE coalesce(a.balance, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- released commissions (less what was clawed back) equal what the release
    -- and refund journals moved on the members' available and owed accounts
    SELECT 'commission_released_matches_ledger',
           format('member %s (program %s): released commissions net %s, release/refund postings %s',
                  coalesce(l.member_id, c.beneficiary_id), coalesce(l.program_id, c.program_id),
                  coalesce(c.s, 0), coalesce(l.s, 0))
      FROM (SELECT p.program_id, a.member_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('release', 'refund') AND a.kind IN ('available', 'owed')
               AND a.member_id IS NOT NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1, 2) l
      FULL JOIN (SELECT x.program_id, x.beneficiary_id,
                        sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE x.released IS NOT NULL AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) c
             ON c.program_id = l.program_id AND c.beneficiary_id = l.member_id
     WHERE coalesce(l.s, 0) <> coalesce(c.s, 0)
    UNION ALL
    -- what conversions and refunds moved on commission_expense agrees with the
    -- commissions: amounts paid, less reversals, plus write-offs
    SELECT 'commission_expense_matches',
           format('program %s: conversion/refund postings on commission_expense %s, commissions net %s',
                  coalesce(l.program_id, c.program_id), coalesce(l.s, 0), -coalesce(c.s, 0))
      FROM (SELECT p.program_id, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind IN ('conversion', 'refund') AND a.kind = 'commission_expense'
               AND a.member_id IS NULL AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1) l
      FULL JOIN (SELECT x.program_id, sum(x.amount - x.reversed + x.written_off) AS s
                   FROM affiliate.commission x
                  WHERE $1 IS NULL OR x.program_id = $1
                  GROUP BY 1) c
             ON c.program_id = l.program_id
     WHERE coalesce(l.s, 0) <> -coalesce(c.s, 0)
    UNION ALL
    -- every commission's beneficiary is a member of the program
    SELECT 'commission_beneficiary_exists',
           format('commission %s (program %s) names member %s, who is not in the program',
                  x.id, x.program_id, x.beneficiary_id)
      FROM affiliate.commission x
     WHERE ($1 IS NULL OR x.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = x.program_id AND m.id = x.beneficiary_id)
    UNION ALL
    -- the commissions of a conversion never exceed its amount
    SELECT 'commissions_within_amount',
           format('conversion %s (program %s): commissions %s exceed the amount %s',
                  v.id, v.program_id, sum(x.amount), v.amount)
      FROM affiliate.conversion v
      JOIN affiliate.commission x ON x.program_id = v.program_id AND x.conversion_id = v.id
     WHERE ($1 IS NULL OR v.program_id = $1)
     GROUP BY v.program_id, v.id, v.amount
    HAVING sum(x.amount) > v.amount
    UNION ALL
    -- a conversion's refunded amount is the sum of its refunds
    SELECT 'conversion_refunds_match',
           format('conversion %s (program %s): refunded %s, refunds sum to %s',
                  v.id, v.program_id, v.refunded,
                  (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                    WHERE r.program_id = v.program_id AND r.conversion_id = v.id))
      FROM affiliate.conversion v
     WHERE ($1 IS NULL OR v.program_id = $1)
       AND v.refunded <> (SELECT coalesce(sum(r.amount), 0) FROM affiliate.refund r
                           WHERE r.program_id = v.program_id AND r.conversion_id = v.id)
    UNION ALL
    -- every click names a member of the program
    SELECT 'click_member_exists',
           format('click %s (program %s) names member %s, who is not in the program',
                  k.id, k.program_id, k.member_id)
      FROM affiliate.click k
     WHERE ($1 IS NULL OR k.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = k.program_id AND m.id = k.member_id)
    UNION ALL
    -- every member's upline is its sponsor followed by the sponsor's upline
    SELECT 'upline_matches_sponsor',
           format('member %s (program %s): upline %s, sponsor %s with upline %s',
                  m.id, m.program_id, m.upline, m.sponsor_id, s.upline)
      FROM affiliate.member m
      LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
     WHERE ($1 IS NULL OR m.program_id = $1)
       AND m.upline IS DISTINCT FROM
           CASE WHEN m.sponsor_id IS NULL THEN '{}'::bigint[] ELSE array_prepend(s.id, s.upline) END
    UNION ALL
    -- withdrawals in flight equal the members' withdrawing (requested) and
    -- payable (approved) balances
    SELECT 'withdrawals_match_withdrawing',
           format('member %s (program %s, %s): %s balance %s, %s withdrawals %s',
                  coalesce(a.member_id, w.member_id), coalesce(a.program_id, w.program_id),
                  coalesce(a.asset, w.asset), coalesce(a.kind, w.kind), coalesce(a.balance, 0),
                  coalesce(w.status, CASE a.kind WHEN 'withdrawing' THEN 'requested' ELSE 'approved' END),
                  coalesce(w.s, 0))
      FROM (SELECT b.program_id, b.member_id, b.asset, b.kind, b.balance
              FROM affiliate.account_balances b
             WHERE b.kind IN ('withdrawing', 'payable') AND b.member_id IS NOT NULL
               AND ($1 IS NULL OR b.program_id = $1)) a
      FULL JOIN (SELECT x.program_id, x.member_id, x.asset, x.status,
                        CASE x.status WHEN 'requested' THEN 'withdrawing' ELSE 'payable' END AS kind,
                        sum(x.amount) AS s
                   FROM affiliate.withdrawal x
                  WHERE x.status IN ('requested', 'approved') AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2, 3, 4) w
             ON w.program_id = a.program_id AND w.member_id = a.member_id
            AND w.asset = a.asset AND w.kind = a.kind
     WHERE coalesce(a.balance, 0) <> coalesce(w.s, 0)
    UNION ALL
    -- paid withdrawals equal what the withdrawal_paid journals moved to payouts
    SELECT 'withdrawals_paid_match_payouts',
           format('program %s (%s): paid withdrawals %s, withdrawal_paid postings on payouts %s',
                  coalesce(l.program_id, w.program_id), coalesce(l.asset, w.asset),
                  coalesce(w.s, 0), coalesce(l.s, 0))
      FROM (SELECT p.program_id, a.asset, sum(p.amount) AS s
              FROM affiliate.posting p
              JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
              JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
             WHERE j.kind = 'withdrawal_paid' AND a.kind = 'payouts' AND a.member_id IS NULL
               AND ($1 IS NULL OR p.program_id = $1)
             GROUP BY 1, 2) l
      FULL JOIN (SELECT x.program_id, x.asset, sum(x.amount) AS s
                   FROM affiliate.withdrawal x
                  WHERE x.status = 'paid' AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY 1, 2) w
             ON w.program_id = l.program_id AND w.asset = l.asset
     WHERE coalesce(l.s, 0) <> coalesce(w.s, 0)
    UNION ALL
    -- every asset of a program sums to zero over all its accounts
    SELECT 'asset_sums_to_zero',
           format('program %s: asset %s sums to %s over all accounts', b.program_id, b.asset, sum(b.balance))
      FROM affiliate.account_balances b
     WHERE ($1 IS NULL OR b.program_id = $1)
     GROUP BY b.program_id, b.asset
    HAVING sum(b.balance) <> 0
$$;
COMMENT ON FUNCTION affiliate.verify(bigint) IS 'Every broken ledger invariant, one row each; empty when all hold.';

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; explicit grants to affiliate_admin.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA affiliate FROM PUBLIC;
GRANT USAGE ON SCHEMA affiliate TO affiliate_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA affiliate TO affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate.program_settings(bigint),
    affiliate.create_program(text, text, jsonb),
    affiliate.update_program_settings(bigint, jsonb),
    affiliate.ensure_account(bigint, bigint, text, text, boolean),
    affiliate.post_journal(bigint, text, jsonb, text, jsonb),
    affiliate.fold_balances(bigint, integer),
    affiliate.account_balance(bigint, bigint),
    affiliate.balance_at(bigint, bigint, timestamptz),
    affiliate.verify(bigint),
    affiliate.add_member(bigint, text, text, text, inet),
    affiliate.record_click(bigint, text, text, inet, text, timestamptz, text, text),
    affiliate.move_member(bigint, bigint, bigint),
    affiliate.set_member_status(bigint, bigint, text, text),
    affiliate.member_by_code(bigint, text),
    affiliate.upline(bigint, bigint, integer),
    affiliate.downline(bigint, bigint, integer),
    affiliate.team_size(bigint, bigint),
    affiliate.set_plan(bigint, text, integer[], text, interval, text, text, bigint[], bigint[], jsonb),
    affiliate.record_conversion(bigint, text, bigint, bigint, bigint, timestamptz, text, bigint),
    affiliate.record_conversions(bigint, affiliate.conversion_input[]),
    affiliate.refund_conversion(bigint, text, text, bigint, text),
    affiliate.release_due(timestamptz, integer, bigint),
    affiliate.balance(bigint, bigint),
    affiliate.wallet_transactions(bigint, bigint, timestamptz, integer),
    affiliate.adjust_balance(bigint, bigint, bigint, text),
    affiliate.pay_from_wallet(bigint, bigint, bigint, text),
    affiliate.request_withdrawal(bigint, bigint, bigint, text, text),
    affiliate.approve_withdrawal(bigint, bigint),
    affiliate.reject_withdrawal(bigint, bigint, text),
    affiliate.complete_withdrawal(bigint, bigint, text),
    affiliate.fail_withdrawal(bigint, bigint, text),
    affiliate.withdrawals(bigint, text, integer),
    affiliate.withdrawal_totals(bigint)
TO affiliate_admin;
GRANT EXECUTE ON PROCEDURE affiliate.release_all_due(integer) TO affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate.schedule_jobs(text, text), affiliate.unschedule_jobs() TO affiliate_admin;
GRANT USAGE ON TYPE affiliate.conversion_input TO affiliate_admin;
-- the keys of the device/IP hashes are for the extension's C code only
REVOKE ALL ON affiliate.program_secret FROM affiliate_admin;
