-- Holds, release and refunds: release_due moves due commissions from pending
-- to available (idempotent, batched, per program); refunds reverse pending
-- commissions before release and claw back released ones after, by the
-- program's clawback policy; partial refunds are proportional and exact;
-- retries change nothing; the pg_cron jobs are registered and removed.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_affiliate CASCADE;
CREATE EXTENSION pg_affiliate;
RESET client_min_messages;
\set VERBOSITY default
SET timezone = 'UTC';

CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM affiliate.refund) AS refunds,
       (SELECT count(*) FROM affiliate.journal) AS journals,
       (SELECT md5(string_agg(id || status || reversed, ',' ORDER BY id)) FROM affiliate.commission) AS commissions,
       (SELECT md5(string_agg(account_id || ':' || balance, ',' ORDER BY account_id))
          FROM affiliate.account_balances) AS balances;

-- balances of the members of a program by kind
CREATE TEMP VIEW wallets AS
SELECT m.program_id, m.external_id,
       sum(b.balance) FILTER (WHERE b.kind = 'pending') AS pending,
       sum(b.balance) FILTER (WHERE b.kind = 'available') AS available,
       sum(b.balance) FILTER (WHERE b.kind = 'owed') AS owed
  FROM affiliate.member m
  JOIN affiliate.account_balances b ON b.program_id = m.program_id AND b.member_id = m.id
 GROUP BY m.program_id, m.external_id;

-- The OTT shop again: Ravi refers Meena, Asha refers Ravi.
SELECT affiliate.create_program('OTT shop', 'INR', '{"hold_period": "24 hours", "rounding_unit": 100}') AS ott \gset
SELECT affiliate.add_member(:ott, 'asha') AS asha \gset
SELECT affiliate.add_member(:ott, 'ravi', (SELECT code::text FROM affiliate.member WHERE id = :asha)) AS ravi \gset
SELECT affiliate.add_member(:ott, 'meena', (SELECT code::text FROM affiliate.member WHERE id = :ravi)) AS meena \gset
SELECT affiliate.set_plan(:ott, 'OTT referral', '{3000,1000}') IS NOT NULL AS plan;
SELECT count(*) AS commissions FROM (
    SELECT affiliate.record_conversion(:ott, 'o-' || i, :meena, 13500, 4200,
                                       '2026-11-01 00:00+00'::timestamptz + i * interval '1 hour')
      FROM generate_series(1, 4) i) x;
SELECT external_id, pending, available, owed FROM wallets WHERE program_id = :ott ORDER BY external_id;

-- ---------------------------------------------------------------------------
-- release_due: nothing is due before the hold ends
-- ---------------------------------------------------------------------------
SELECT affiliate.release_due('2026-11-02 00:59+00') AS released;
-- o-1 (paid 01:00) is due at 01:00 the next day: its two commissions
SELECT affiliate.release_due('2026-11-02 01:00+00') AS released;
-- batches: 3 of the remaining 6, then the rest, then nothing (idempotent)
SELECT affiliate.release_due('2026-11-03 00:00+00', 3) AS released;
SELECT affiliate.release_due('2026-11-03 00:00+00', 3, :ott) AS released;
SELECT affiliate.release_due('2026-11-03 00:00+00') AS released;
SELECT status, count(*), sum(amount) FROM affiliate.commission GROUP BY status ORDER BY status;
SELECT external_id, pending, available, owed FROM wallets WHERE program_id = :ott ORDER BY external_id;
-- one release journal per call and program that released something
SELECT kind, count(*) FROM affiliate.journal WHERE program_id = :ott GROUP BY kind ORDER BY kind;

-- ---------------------------------------------------------------------------
-- Refund before release: pending is reversed.
-- ---------------------------------------------------------------------------
SELECT count(*) FROM affiliate.record_conversion(:ott, 'o-5', :meena, 13500, 4200, '2026-11-10 00:00+00');
SELECT level, amount, status, reversed
  FROM affiliate.refund_conversion(:ott, 'o-5', 'customer cancelled') WHERE conversion_id = (
       SELECT id FROM affiliate.conversion WHERE external_ref = 'o-5') ORDER BY level;
SELECT status, refunded FROM affiliate.conversion WHERE external_ref = 'o-5';
-- the retried refund changes nothing and returns the same rows
SELECT * FROM fingerprint \gset before_
SELECT level, status, reversed FROM affiliate.refund_conversion(:ott, 'o-5', 'customer cancelled') ORDER BY level;
SELECT * FROM fingerprint \gset after_
SELECT :'before_refunds' = :'after_refunds' AND :'before_journals' = :'after_journals'
       AND :'before_commissions' = :'after_commissions' AND :'before_balances' = :'after_balances' AS unchanged;
-- a reversed commission is never released
SELECT affiliate.release_due('2026-12-01 00:00+00') AS released;

-- ---------------------------------------------------------------------------
-- Partial refunds are proportional and exact: refunding 1/3 three times
-- reverses exactly everything.  ₹28 and ₹9 on ₹135; reversals round by the
-- program's rule (whole rupees, half up): 1/3 of ₹28 = ₹9.33 -> ₹9, 2/3 ->
-- ₹19 (cumulative), all -> ₹28.
-- ---------------------------------------------------------------------------
SELECT count(*) FROM affiliate.record_conversion(:ott, 'o-6', :meena, 13500, 4200, '2026-11-20 00:00+00');
SELECT level, amount, reversed, status FROM affiliate.refund_conversion(:ott, 'o-6', amount => 4500, refund_ref => 'r1') ORDER BY level;
SELECT level, amount, reversed, status FROM affiliate.refund_conversion(:ott, 'o-6', amount => 4500, refund_ref => 'r2') ORDER BY level;
-- a retry of r2 is a no-op; r2 with another amount is refused
SELECT level, reversed FROM affiliate.refund_conversion(:ott, 'o-6', amount => 4500, refund_ref => 'r2') ORDER BY level;
SELECT * FROM affiliate.refund_conversion(:ott, 'o-6', amount => 4000, refund_ref => 'r2');
\echo :LAST_ERROR_SQLSTATE
-- a partial refund's ref cannot be reused for a full refund
SELECT * FROM affiliate.refund_conversion(:ott, 'o-6', refund_ref => 'r1');
\echo :LAST_ERROR_SQLSTATE
-- more than what is left is refused
SELECT * FROM affiliate.refund_conversion(:ott, 'o-6', amount => 4501, refund_ref => 'r3');
\echo :LAST_ERROR_SQLSTATE
-- a full refund takes the rest
SELECT level, amount, reversed, status FROM affiliate.refund_conversion(:ott, 'o-6') ORDER BY level;
SELECT r.refund_ref, r.amount FROM affiliate.refund r JOIN affiliate.conversion c ON c.program_id = r.program_id AND c.id = r.conversion_id
 WHERE c.external_ref = 'o-6' ORDER BY r.id;

-- ---------------------------------------------------------------------------
-- Refund after release: clawback from available.  Policy "negative": what
-- available cannot cover is owed (the owed account goes negative).
-- ---------------------------------------------------------------------------
-- Ravi withdraws most of his available balance first (a manual journal)
SELECT external_id, available FROM wallets WHERE program_id = :ott AND external_id = 'ravi';
SELECT affiliate.post_journal(:ott, 'withdrawal',
    jsonb_build_array(jsonb_build_object('member', :ravi, 'kind', 'available', 'amount', -10000),
                      jsonb_build_object('kind', 'payouts', 'amount', 10000))) IS NOT NULL AS paid_out;
SELECT level, amount, reversed, status FROM affiliate.refund_conversion(:ott, 'o-1', 'chargeback') ORDER BY level;
SELECT external_id, pending, available, owed FROM wallets WHERE program_id = :ott ORDER BY external_id;
-- the refund journal: expense back, available taken, the rest owed
SELECT a.kind, coalesce(m.external_id, 'system') AS owner, p.amount
  FROM affiliate.journal j
  JOIN affiliate.posting p ON p.program_id = j.program_id AND p.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = p.program_id AND a.id = p.account_id
  LEFT JOIN affiliate.member m ON m.program_id = a.program_id AND m.id = a.member_id
 WHERE j.id = (SELECT max(id) FROM affiliate.journal WHERE program_id = :ott)
 ORDER BY p.amount, a.kind;

-- Policy "write_off": the platform absorbs what available cannot cover.
SELECT affiliate.create_program('Write-off shop', 'INR', '{"clawback": "write_off", "hold_period": "0"}') AS wo \gset
SELECT affiliate.add_member(:wo, 'ref') AS ref \gset
SELECT affiliate.add_member(:wo, 'buyer', (SELECT code::text FROM affiliate.member WHERE id = :ref)) AS buyer \gset
SELECT affiliate.set_plan(:wo, 'half', '{5000}', 'amount') IS NOT NULL AS plan;
SELECT amount FROM affiliate.record_conversion(:wo, 'w-1', :buyer, 1000, occurred_at => '2026-11-01 00:00+00');
SELECT affiliate.release_due('2026-11-01 00:00+00', program_id => :wo) AS released;
SELECT affiliate.post_journal(:wo, 'withdrawal',
    jsonb_build_array(jsonb_build_object('member', :ref, 'kind', 'available', 'amount', -300),
                      jsonb_build_object('kind', 'payouts', 'amount', 300))) IS NOT NULL AS paid_out;
SELECT amount, reversed, written_off, status FROM affiliate.refund_conversion(:wo, 'w-1');
SELECT external_id, pending, available, owed FROM wallets WHERE program_id = :wo ORDER BY external_id;
SELECT amount, written_off FROM affiliate.refund WHERE program_id = :wo;

-- ---------------------------------------------------------------------------
-- Refused calls change nothing.
-- ---------------------------------------------------------------------------
SELECT * FROM fingerprint \gset before_
SELECT * FROM affiliate.refund_conversion(:ott, 'no-such-order');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(:ott, 'o-2', amount => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(:ott, 'o-2', amount => -5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(:ott, 'o-2', amount => 13501);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(:ott, 'o-2', refund_ref => '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(:ott, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM affiliate.refund_conversion(999999, 'o-2');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.release_due(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.release_due(now(), 0);
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.release_due(now(), 10, 999999);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM fingerprint \gset after_
SELECT :'before_refunds' = :'after_refunds' AND :'before_journals' = :'after_journals'
       AND :'before_commissions' = :'after_commissions' AND :'before_balances' = :'after_balances' AS unchanged;

-- a full refund of an order already fully refunded by partial refunds: nothing to do
SELECT count(*) FROM affiliate.refund_conversion(:ott, 'o-6', refund_ref => 'again');

SELECT * FROM affiliate.verify();

-- ---------------------------------------------------------------------------
-- Jobs: without pg_cron a clear error; with it, two named jobs.
-- ---------------------------------------------------------------------------
SELECT * FROM affiliate.schedule_jobs();
\echo :LAST_ERROR_SQLSTATE
-- the same for the operator, who may not read pg_cron's setting
SET ROLE affiliate_operator;
SELECT * FROM affiliate.schedule_jobs();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
RESET client_min_messages;
SELECT jobname, schedule, command FROM affiliate.schedule_jobs();
-- configurable, and scheduling again updates the same jobs
SELECT jobname, schedule FROM affiliate.schedule_jobs(release_schedule => '*/15 * * * *');
SELECT jobname, schedule, command, database, active FROM cron.job ORDER BY jobname;
SELECT * FROM affiliate.schedule_jobs(release_schedule => 'every blue moon');
\echo :LAST_ERROR_SQLSTATE
SELECT affiliate.unschedule_jobs() AS removed;
SELECT count(*) AS jobs FROM cron.job;
-- the release job's procedure, called directly (tests never wait on the worker)
SELECT count(*) FROM affiliate.record_conversion(:ott, 'o-7', :meena, 13500, 4200, now() - interval '2 days');
CALL affiliate.release_all_due(1);
SELECT count(*) AS still_pending FROM affiliate.commission WHERE status = 'pending' AND hold_until <= now();
DROP EXTENSION pg_cron;
SELECT affiliate.unschedule_jobs();
\echo :LAST_ERROR_SQLSTATE

SELECT * FROM affiliate.verify();
