-- test/crash/checks.sql — the checks of test/crash/crash.sh.
--
-- Run with psql -v prog=<program id> in the crash test's database, before
-- the clients' logs are loaded into crash_check.calls and crash_check.rows.
-- Every view crash_check.check_* lists violations: empty means the check
-- holds; its comment says what it checks (crash.sh prints it).
--
-- The logs.  One line per call a client made:
--   calls: client, seq (per client, in order), op, outcome, code (SQLSTATE
--          of a refusal), key (external_ref of a conversion, external_id of
--          a join), id (conversion, member or withdrawal id the call
--          returned; the count of a job), member (buyer, sponsor or
--          withdrawing member), amount, extra (refund_ref; a withdrawal's
--          status after the step), t (when the call started)
--   outcome: ack     the client saw COMMIT: the call's effects are durable;
--            maybe   sent, no COMMIT seen: committed or not;
--            refused an ERROR: rolled back.
--   rows:  the commissions an acknowledged record_conversion or
--          refund_conversion returned (id, conversion, beneficiary, level,
--          amount, reversed as of that call).
-- So acknowledged ⊆ committed ⊆ acknowledged ∪ maybe, and the ledger must
-- equal a replay of what committed.  Checks 03-09 and 12 test the two
-- inclusions row by row, check 10 replays the committed business rows for
-- every member, check 11 replays the acknowledged log alone for every
-- member that no maybe call can have touched.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS crash_check CASCADE;
CREATE SCHEMA crash_check;

CREATE TABLE crash_check.params (prog bigint NOT NULL);
INSERT INTO crash_check.params VALUES (:prog);

CREATE TABLE crash_check.calls (
    client  int NOT NULL,
    seq     int NOT NULL,
    op      text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('ack', 'maybe', 'refused')),
    code    text,
    key     text,
    id      bigint,
    member  bigint,
    amount  bigint,
    extra   text,
    t       numeric NOT NULL,     -- when the call started (epoch seconds)
    PRIMARY KEY (client, seq)
);
CREATE TABLE crash_check.rows (
    client        int NOT NULL,
    seq           int NOT NULL,
    commission_id bigint NOT NULL,
    conversion_id bigint NOT NULL,
    beneficiary   bigint NOT NULL,
    level         int NOT NULL,
    amount        bigint NOT NULL,
    reversed      bigint NOT NULL
);

-- The killer's log: one line per crash.
CREATE TABLE crash_check.kills (
    k         int PRIMARY KEY,
    sleep_ms  int NOT NULL,       -- random sleep before the kill
    killed    int NOT NULL,       -- processes SIGKILLed
    rec_ms    int NOT NULL,       -- pg_ctl start (crash recovery) took
    gone_ms   int NOT NULL,       -- from the kill until every process was gone
    ready_t   numeric NOT NULL    -- when the server accepted connections again (epoch seconds)
);

-- The SQLSTATEs an operation may be refused with (rolled back, nothing
-- changed).  Any other refusal fails check 02.
CREATE TABLE crash_check.allowed_refusal (op text, code text, why text);
INSERT INTO crash_check.allowed_refusal VALUES
    ('wreq', '23514', 'the balance read before the call was spent by a concurrent withdrawal or clawed back');

-- A withdrawal's journal idempotency key per acknowledged step.
CREATE TABLE crash_check.wstep (op text PRIMARY KEY, step text NOT NULL);
INSERT INTO crash_check.wstep VALUES
    ('wreq', 'request'), ('wapprove', 'approved'), ('wcomplete', 'paid'),
    ('wfail', 'failed'), ('wcancel', 'cancelled'), ('wreject', 'rejected');

-- Statuses a withdrawal can reach from a status.
CREATE TABLE crash_check.wreach (status text, reachable text);
INSERT INTO crash_check.wreach VALUES
    ('requested', 'requested'), ('requested', 'approved'), ('requested', 'paid'),
    ('requested', 'failed'), ('requested', 'cancelled'), ('requested', 'rejected'),
    ('approved', 'approved'), ('approved', 'paid'), ('approved', 'failed'),
    ('paid', 'paid'), ('failed', 'failed'), ('cancelled', 'cancelled'), ('rejected', 'rejected');

-- ---- helpers ----------------------------------------------------------------

-- The last acknowledged state of every commission the log saw.  All calls
-- on one conversion come from the client that owns it, so its seq orders them.
CREATE VIEW crash_check.known_commission AS
SELECT DISTINCT ON (r.commission_id)
       r.commission_id, r.conversion_id, r.beneficiary, r.level, r.amount, r.reversed, c.key, c.client, c.seq
  FROM crash_check.rows r
  JOIN crash_check.calls c USING (client, seq)
 WHERE c.outcome = 'ack'
 ORDER BY r.commission_id, c.seq DESC;

-- Conversion keys whose last call was not acknowledged: a maybe after the
-- last ack (or no ack at all).  The log does not know their final state.
CREATE VIEW crash_check.unresolved_key AS
SELECT client, key
  FROM crash_check.calls
 WHERE op IN ('conv', 'dup', 'refund')
 GROUP BY client, key
HAVING max(seq) FILTER (WHERE outcome = 'maybe') > coalesce(max(seq) FILTER (WHERE outcome = 'ack'), 0);

-- Every withdrawal the log knows, with its last acknowledged status.
CREATE VIEW crash_check.known_withdrawal AS
SELECT DISTINCT ON (c.id) c.id, c.member, c.amount, c.extra AS status, c.client, c.seq
  FROM crash_check.calls c
 WHERE c.op IN ('wreq', 'wapprove', 'wcancel', 'wreject', 'wfail', 'wcomplete', 'wstate')
   AND c.outcome = 'ack' AND c.id IS NOT NULL
 ORDER BY c.id, c.seq DESC;

-- Withdrawals whose last step was not acknowledged (nor read back).
CREATE VIEW crash_check.unresolved_withdrawal AS
SELECT id, min(member) AS member
  FROM crash_check.calls
 WHERE op IN ('wapprove', 'wcancel', 'wreject', 'wfail', 'wcomplete', 'wstate') AND id IS NOT NULL
 GROUP BY id
HAVING max(seq) FILTER (WHERE outcome = 'maybe') > coalesce(max(seq) FILTER (WHERE outcome = 'ack'), 0);

-- Per member: the ledger against a replay of the acknowledged log alone.
--   total       = every account of the member = what they earned (commission
--                 amount - reversed) - what was paid out to them
--   withdrawing = requested + approved withdrawals
-- tainted: an unacknowledged conversion, refund or payout step may have
-- changed the member's total; wtainted: an unacknowledged withdrawal
-- request or step may have changed their withdrawing bucket.
CREATE VIEW crash_check.member_log_replay AS
WITH p AS (SELECT prog FROM crash_check.params),
earned AS (
    SELECT beneficiary AS member, sum(amount - reversed) AS s FROM crash_check.known_commission GROUP BY 1),
paid AS (
    SELECT member, sum(amount) FILTER (WHERE status = 'paid') AS paid,
           sum(amount) FILTER (WHERE status IN ('requested', 'approved')) AS wd
      FROM crash_check.known_withdrawal GROUP BY 1),
ledger AS (
    SELECT b.member_id AS member, sum(b.balance) AS total,
           sum(b.balance) FILTER (WHERE b.kind IN ('withdrawing', 'payable')) AS wd
      FROM affiliate.account_balances b, p
     WHERE b.program_id = p.prog AND b.member_id IS NOT NULL GROUP BY 1),
tainted AS (
    SELECT DISTINCT m.beneficiary_id AS member
      FROM crash_check.unresolved_key u
      JOIN affiliate.conversion v ON v.external_ref = u.key
      JOIN affiliate.commission m ON m.program_id = v.program_id AND m.conversion_id = v.id, p
     WHERE v.program_id = p.prog
    UNION
    SELECT member FROM crash_check.unresolved_withdrawal),
wtainted AS (
    SELECT member FROM crash_check.unresolved_withdrawal
    UNION
    SELECT member FROM crash_check.calls WHERE op = 'wreq' AND outcome = 'maybe')
SELECT m.id AS member,
       coalesce(e.s, 0) - coalesce(pd.paid, 0) AS expected_total, coalesce(l.total, 0) AS ledger_total,
       coalesce(pd.wd, 0) AS expected_withdrawing, coalesce(l.wd, 0) AS ledger_withdrawing,
       m.id IN (SELECT member FROM tainted) AS tainted,
       m.id IN (SELECT member FROM wtainted) AS wtainted
  FROM affiliate.member m
  JOIN p ON m.program_id = p.prog
  LEFT JOIN earned e ON e.member = m.id
  LEFT JOIN paid pd ON pd.member = m.id
  LEFT JOIN ledger l ON l.member = m.id;

-- What became of the unacknowledged conversions, refunds and joins (a
-- figure, not a check): committed means the row is in the database and
-- was written by that call — before the next sending of the same key
-- started (the row's transaction time is earlier), or with no next sending.
CREATE VIEW crash_check.maybe_fate AS
WITH p AS (SELECT prog FROM crash_check.params),
m AS (SELECT c.*, (SELECT min(n.t) FROM crash_check.calls n
                    WHERE n.client = c.client AND n.seq > c.seq AND n.op = c.op AND n.key = c.key) AS next_t
        FROM crash_check.calls c
       WHERE c.outcome = 'maybe' AND c.op IN ('conv', 'refund', 'join'))
SELECT m.op, m.client, m.seq, m.key,
       CASE m.op
       WHEN 'conv' THEN EXISTS (
           SELECT 1 FROM affiliate.conversion v
            WHERE v.program_id = p.prog AND v.external_ref = m.key
              AND (m.next_t IS NULL OR v.recorded_at < to_timestamp(m.next_t::float8)))
       WHEN 'refund' THEN EXISTS (
           SELECT 1 FROM affiliate.refund r
             JOIN affiliate.conversion v ON v.program_id = r.program_id AND v.id = r.conversion_id
            WHERE r.program_id = p.prog AND v.external_ref = m.key AND r.refund_ref = m.extra
              AND (m.next_t IS NULL OR r.created_at < to_timestamp(m.next_t::float8)))
       ELSE EXISTS (SELECT 1 FROM affiliate.member x WHERE x.program_id = p.prog AND x.external_id = m.key)
       END AS committed
  FROM m, p;

-- ---- the checks -------------------------------------------------------------

CREATE VIEW crash_check.check_00_progress AS
SELECT 'no ' || o.op || ' call was acknowledged' AS problem
  FROM unnest(array['join', 'conv', 'dup', 'refund', 'release', 'wreq']) o(op)
 WHERE NOT EXISTS (SELECT 1 FROM crash_check.calls c WHERE c.op = o.op AND c.outcome = 'ack')
UNION ALL
SELECT 'no call was acknowledged between restart ' || k.k || ' and the next one (or the end)'
  FROM crash_check.kills k
 WHERE NOT EXISTS (SELECT 1 FROM crash_check.calls c
                    WHERE c.outcome = 'ack' AND c.t > k.ready_t
                      AND c.t < coalesce((SELECT min(n.ready_t) FROM crash_check.kills n WHERE n.k > k.k), 'infinity'));
COMMENT ON VIEW crash_check.check_00_progress IS
    'the clients made progress: every kind of call was acknowledged, and calls were acknowledged after every restart';

CREATE VIEW crash_check.check_01_verify AS
SELECT v.invariant, v.detail FROM crash_check.params p, affiliate.verify(p.prog) v;
COMMENT ON VIEW crash_check.check_01_verify IS 'verify() is empty';

CREATE VIEW crash_check.check_02_refusals AS
SELECT c.op, c.code, count(*) AS calls
  FROM crash_check.calls c
 WHERE c.outcome = 'refused'
   AND NOT EXISTS (SELECT 1 FROM crash_check.allowed_refusal a WHERE a.op = c.op AND a.code = c.code)
 GROUP BY 1, 2;
COMMENT ON VIEW crash_check.check_02_refusals IS 'every refusal is one the operation may give (none after a lost acknowledgement)';

CREATE VIEW crash_check.check_03_conversions_acked AS
SELECT c.client, c.seq, c.op, c.key, c.id AS conversion_id, c.member AS buyer, c.amount
  FROM crash_check.calls c, crash_check.params p
 WHERE c.op IN ('conv', 'dup') AND c.outcome = 'ack'
   AND NOT EXISTS (SELECT 1 FROM affiliate.conversion v
                    WHERE v.program_id = p.prog AND v.external_ref = c.key AND v.id = c.id
                      AND v.buyer_id = c.member AND v.amount = c.amount);
COMMENT ON VIEW crash_check.check_03_conversions_acked IS
    'every acknowledged conversion (and duplicate) is in the database with the id, buyer and amount it was acknowledged with';

CREATE VIEW crash_check.check_04_conversion_once AS
WITH p AS (SELECT prog FROM crash_check.params)
SELECT 'conversion ' || v.external_ref || ' has ' || count(j.id) || ' conversion journals' AS problem
  FROM affiliate.conversion v
  JOIN p ON v.program_id = p.prog
  LEFT JOIN affiliate.journal j ON j.program_id = v.program_id AND j.idempotency_key = 'conversion:' || v.id
 GROUP BY v.program_id, v.id, v.external_ref
HAVING count(j.id) <> CASE WHEN EXISTS (SELECT 1 FROM affiliate.commission m
                                         WHERE m.program_id = v.program_id AND m.conversion_id = v.id)
                           THEN 1 ELSE 0 END
UNION ALL
SELECT 'commissions of conversion ' || m.conversion_id || ' name ' || count(DISTINCT m.journal_id) || ' journals'
  FROM affiliate.commission m JOIN p ON m.program_id = p.prog
 GROUP BY m.conversion_id HAVING count(DISTINCT m.journal_id) <> 1
UNION ALL
SELECT 'journal ' || j.id || ' (' || j.idempotency_key || ') has no conversion'
  FROM affiliate.journal j JOIN p ON j.program_id = p.prog
 WHERE j.kind = 'conversion'
   AND NOT EXISTS (SELECT 1 FROM affiliate.conversion v
                    WHERE v.program_id = j.program_id AND 'conversion:' || v.id = j.idempotency_key)
UNION ALL
SELECT 'journal ' || j.id || ': conversion postings sum to ' || sum(pt.amount) || ' on commission_expense, commissions to '
       || (SELECT sum(m.amount) FROM affiliate.commission m WHERE m.program_id = j.program_id AND m.journal_id = j.id)
  FROM affiliate.journal j JOIN p ON j.program_id = p.prog
  JOIN affiliate.posting pt ON pt.program_id = j.program_id AND pt.journal_id = j.id
  JOIN affiliate.account a ON a.program_id = pt.program_id AND a.id = pt.account_id AND a.kind = 'commission_expense'
 WHERE j.kind = 'conversion'
 GROUP BY j.id, j.program_id
HAVING -sum(pt.amount) IS DISTINCT FROM
       (SELECT sum(m.amount) FROM affiliate.commission m WHERE m.program_id = j.program_id AND m.journal_id = j.id);
COMMENT ON VIEW crash_check.check_04_conversion_once IS
    'every conversion was paid exactly once: one conversion journal per conversion with commissions, its postings equal its commissions';

CREATE VIEW crash_check.check_05_commissions_as_returned AS
WITH p AS (SELECT prog FROM crash_check.params),
acked AS (SELECT client, seq, op, key, id AS conversion_id FROM crash_check.calls
           WHERE op IN ('conv', 'dup') AND outcome = 'ack'),
logged AS (SELECT a.client, a.seq, a.op, a.key, r.conversion_id, r.commission_id, r.beneficiary, r.level, r.amount
             FROM acked a JOIN crash_check.rows r USING (client, seq)),
db AS (SELECT a.client, a.seq, a.op, a.key, m.conversion_id, m.id, m.beneficiary_id, m.level, m.amount
         FROM acked a JOIN affiliate.commission m ON m.conversion_id = a.conversion_id JOIN p ON m.program_id = p.prog)
(SELECT 'returned, not in the database' AS problem, * FROM (SELECT * FROM logged EXCEPT SELECT * FROM db) x)
UNION ALL
(SELECT 'in the database, not returned', * FROM (SELECT * FROM db EXCEPT SELECT * FROM logged) y);
COMMENT ON VIEW crash_check.check_05_commissions_as_returned IS
    'every acknowledged conversion has exactly the commissions it returned, and every duplicate webhook returned the original ones';

CREATE VIEW crash_check.check_06_no_phantom AS
WITH p AS (SELECT prog FROM crash_check.params)
SELECT 'conversion ' || v.external_ref || ' was never sent' AS problem
  FROM affiliate.conversion v JOIN p ON v.program_id = p.prog
 WHERE NOT EXISTS (SELECT 1 FROM crash_check.calls c WHERE c.op IN ('conv', 'dup') AND c.key = v.external_ref)
UNION ALL
SELECT 'member ' || m.external_id || ' never joined'
  FROM affiliate.member m JOIN p ON m.program_id = p.prog
 WHERE m.external_id NOT LIKE 'seed-%'
   AND NOT EXISTS (SELECT 1 FROM crash_check.calls c WHERE c.op = 'join' AND c.key = m.external_id)
UNION ALL
SELECT 'refund ' || r.refund_ref || ' of ' || v.external_ref || ' was never sent'
  FROM affiliate.refund r JOIN p ON r.program_id = p.prog
  JOIN affiliate.conversion v ON v.program_id = r.program_id AND v.id = r.conversion_id
 WHERE NOT EXISTS (SELECT 1 FROM crash_check.calls c WHERE c.op = 'refund' AND c.key = v.external_ref AND c.extra = r.refund_ref);
COMMENT ON VIEW crash_check.check_06_no_phantom IS
    'nothing committed that was not sent: every conversion, member and refund in the database was sent by a client';

CREATE VIEW crash_check.check_07_refunds AS
WITH p AS (SELECT prog FROM crash_check.params)
SELECT 'acknowledged refund ' || c.extra || ' of ' || c.key || ' is missing or different' AS problem
  FROM crash_check.calls c, p
 WHERE c.op = 'refund' AND c.outcome = 'ack'
   AND NOT EXISTS (SELECT 1 FROM affiliate.refund r
                    WHERE r.program_id = p.prog AND r.conversion_id = c.id AND r.refund_ref = c.extra
                      AND (c.amount IS NULL OR r.amount = c.amount) AND r.full_refund = (c.amount IS NULL))
UNION ALL
SELECT 'acknowledged full refund of ' || c.key || ' but the conversion is ' || v.status || ', ' || v.refunded || ' of ' || v.amount
  FROM crash_check.calls c, p, affiliate.conversion v
 WHERE c.op = 'refund' AND c.outcome = 'ack' AND c.amount IS NULL
   AND v.program_id = p.prog AND v.id = c.id AND (v.status <> 'refunded' OR v.refunded <> v.amount)
UNION ALL
SELECT 'commission ' || r.commission_id || ' was acknowledged with amount ' || r.amount || ', reversed ' || r.reversed
       || '; now amount ' || m.amount || ', reversed ' || m.reversed
  FROM crash_check.rows r
  JOIN crash_check.calls c USING (client, seq)
  JOIN affiliate.commission m ON m.id = r.commission_id JOIN p ON m.program_id = p.prog
 WHERE c.outcome = 'ack' AND (m.amount <> r.amount OR m.reversed < r.reversed OR m.beneficiary_id <> r.beneficiary);
COMMENT ON VIEW crash_check.check_07_refunds IS
    'every acknowledged refund is in the database; no commission lost a reversal it was acknowledged with';

CREATE VIEW crash_check.check_08_released_once AS
WITH p AS (SELECT prog FROM crash_check.params),
rel AS (SELECT a.member_id AS member, sum(pt.amount) AS s
          FROM affiliate.journal j JOIN p ON j.program_id = p.prog
          JOIN affiliate.posting pt ON pt.program_id = j.program_id AND pt.journal_id = j.id
          JOIN affiliate.account a ON a.program_id = pt.program_id AND a.id = pt.account_id
         WHERE j.kind = 'release' AND a.kind = 'available' GROUP BY 1),
com AS (SELECT m.beneficiary_id AS member, sum(m.released) AS s
          FROM affiliate.commission m JOIN p ON m.program_id = p.prog
         WHERE m.released IS NOT NULL GROUP BY 1),
journals AS (SELECT count(*) AS n, coalesce(sum((j.memo ->> 'commissions')::bigint), 0) AS released
               FROM affiliate.journal j JOIN p ON j.program_id = p.prog WHERE j.kind = 'release'),
calls AS (SELECT count(*) FILTER (WHERE outcome = 'ack' AND id > 0) AS acked_n,
                 coalesce(sum(id) FILTER (WHERE outcome = 'ack'), 0) AS acked_released,
                 count(*) FILTER (WHERE outcome = 'maybe') AS maybe_n
            FROM crash_check.calls WHERE op = 'release'),
released AS (SELECT count(*) AS n FROM affiliate.commission m JOIN p ON m.program_id = p.prog
              WHERE m.released IS NOT NULL)
SELECT 'member ' || coalesce(rel.member, com.member) || ': release journals moved ' || coalesce(rel.s, 0)
       || ' to available, released commissions add up to ' || coalesce(com.s, 0) AS problem
  FROM rel FULL JOIN com USING (member)
 WHERE rel.s IS DISTINCT FROM com.s
UNION ALL
SELECT 'release journals count ' || journals.released || ' commissions, ' || released.n || ' commissions are released'
  FROM journals, released WHERE journals.released <> released.n
UNION ALL
SELECT 'acknowledged release jobs released ' || calls.acked_released || ', more than the ' || released.n || ' released commissions'
  FROM calls, released WHERE calls.acked_released > released.n
UNION ALL
SELECT 'release journals: ' || journals.n || ', acknowledged releases (n > 0): ' || calls.acked_n
       || ', unacknowledged: ' || calls.maybe_n
  FROM journals, calls WHERE journals.n < calls.acked_n OR journals.n > calls.acked_n + calls.maybe_n;
COMMENT ON VIEW crash_check.check_08_released_once IS
    'no commission released twice: release postings per member equal the released commissions, release journals match the jobs';

CREATE VIEW crash_check.check_09_withdrawals AS
WITH p AS (SELECT prog FROM crash_check.params)
SELECT format('withdrawal %s acknowledged %s (member %s, %s) is ', k.id, coalesce(k.status, '(no row)'), k.member, k.amount)
       || coalesce(w.status || ' (member ' || w.member_id || ', ' || w.amount || ')', 'missing') AS problem
  FROM crash_check.known_withdrawal k CROSS JOIN p
  LEFT JOIN affiliate.withdrawal w ON w.program_id = p.prog AND w.id = k.id
 WHERE w.id IS NULL OR w.member_id <> k.member OR w.amount <> k.amount
    OR NOT EXISTS (SELECT 1 FROM crash_check.wreach r WHERE r.status = k.status AND r.reachable = w.status)
UNION ALL
SELECT 'acknowledged ' || c.op || ' of withdrawal ' || c.id || ': journal withdrawal:' || c.id || ':' || s.step
       || ' exists ' || (SELECT count(*) FROM affiliate.journal j
                          WHERE j.program_id = p.prog AND j.idempotency_key = 'withdrawal:' || c.id || ':' || s.step) || ' times'
  FROM crash_check.calls c JOIN crash_check.wstep s USING (op) CROSS JOIN p
 WHERE c.outcome = 'ack'
   AND (SELECT count(*) FROM affiliate.journal j
         WHERE j.program_id = p.prog AND j.idempotency_key = 'withdrawal:' || c.id || ':' || s.step) <> 1
UNION ALL
SELECT 'acknowledged payout of withdrawal ' || c.id || ' with utr-' || c.client || '-' || c.id || ': '
       || coalesce(w.status || ' ' || coalesce(w.provider_ref, '(no provider_ref)'), 'missing')
  FROM crash_check.calls c CROSS JOIN p
  LEFT JOIN affiliate.withdrawal w ON w.program_id = p.prog AND w.id = c.id
 WHERE c.op = 'wcomplete' AND c.outcome = 'ack'
   AND (w.id IS NULL OR w.status <> 'paid' OR w.provider_ref <> 'utr-' || c.client || '-' || c.id)
UNION ALL
SELECT 'member ' || w.member_id || ' has ' || count(*) || ' withdrawals no client saw acknowledged, for '
       || (SELECT count(*) FROM crash_check.calls c WHERE c.op = 'wreq' AND c.outcome = 'maybe' AND c.member = w.member_id)
       || ' unacknowledged requests'
  FROM affiliate.withdrawal w JOIN p ON w.program_id = p.prog
 WHERE NOT EXISTS (SELECT 1 FROM crash_check.known_withdrawal k WHERE k.id = w.id)
 GROUP BY w.member_id
HAVING count(*) > (SELECT count(*) FROM crash_check.calls c WHERE c.op = 'wreq' AND c.outcome = 'maybe' AND c.member = w.member_id);
COMMENT ON VIEW crash_check.check_09_withdrawals IS
    'no acknowledged withdrawal or step lost: each is in its acknowledged state or a later one, with its journal once; no withdrawal nobody asked for';

CREATE VIEW crash_check.check_10_db_replay AS
WITH p AS (SELECT prog FROM crash_check.params),
com AS (SELECT m.beneficiary_id AS member,
               sum(m.amount - m.reversed) FILTER (WHERE m.released IS NULL) AS pending,
               sum(m.amount - m.reversed + m.written_off) FILTER (WHERE m.released IS NOT NULL) AS released
          FROM affiliate.commission m JOIN p ON m.program_id = p.prog GROUP BY 1),
wd AS (SELECT w.member_id AS member,
              sum(w.amount) FILTER (WHERE w.status IN ('requested', 'approved', 'paid')) AS taken,
              sum(w.amount) FILTER (WHERE w.status IN ('requested', 'approved')) AS withdrawing
         FROM affiliate.withdrawal w JOIN p ON w.program_id = p.prog GROUP BY 1),
expected AS (SELECT m.id AS member, coalesce(c.pending, 0) AS pending,
                    coalesce(c.released, 0) - coalesce(w.taken, 0) AS available,
                    coalesce(w.withdrawing, 0) AS withdrawing
               FROM affiliate.member m JOIN p ON m.program_id = p.prog
               LEFT JOIN com c ON c.member = m.id LEFT JOIN wd w ON w.member = m.id),
actual AS (SELECT m.id AS member, coalesce(sum(b.pending), 0) AS pending, coalesce(sum(b.available), 0) AS available,
                  coalesce(sum(b.withdrawing), 0) AS withdrawing
             FROM affiliate.member m JOIN p ON m.program_id = p.prog
             LEFT JOIN LATERAL affiliate.balance(p.prog, m.id) b ON true GROUP BY m.id)
SELECT 'member ' || e.member || ': expected pending/available/withdrawing ' || e.pending || '/' || e.available || '/' || e.withdrawing
       || ', ledger ' || a.pending || '/' || a.available || '/' || a.withdrawing AS problem
  FROM expected e JOIN actual a USING (member)
 WHERE (e.pending, e.available, e.withdrawing) IS DISTINCT FROM (a.pending, a.available, a.withdrawing)
UNION ALL
SELECT 'system account ' || x.kind || ': expected ' || x.expected || ', ledger ' || coalesce(b.balance, 0)
  FROM (SELECT 'commission_expense' AS kind,
               -(SELECT coalesce(sum(m.amount - m.reversed + m.written_off), 0)
                   FROM affiliate.commission m, crash_check.params p WHERE m.program_id = p.prog) AS expected
        UNION ALL
        SELECT 'payouts', (SELECT coalesce(sum(w.amount), 0) FROM affiliate.withdrawal w, crash_check.params p
                            WHERE w.program_id = p.prog AND w.status = 'paid')) x
  CROSS JOIN p
  LEFT JOIN affiliate.account_balances b ON b.program_id = p.prog AND b.member_id IS NULL AND b.kind = x.kind
 WHERE coalesce(b.balance, 0) <> x.expected;
COMMENT ON VIEW crash_check.check_10_db_replay IS
    'the ledger equals a replay of the committed rows: every member''s pending, available and withdrawing, commission_expense and payouts';

CREATE VIEW crash_check.check_11_log_replay AS
SELECT 'member ' || member || ': acknowledged log says total ' || expected_total || ', ledger ' || ledger_total AS problem
  FROM crash_check.member_log_replay
 WHERE NOT tainted AND expected_total <> ledger_total
UNION ALL
SELECT 'member ' || member || ': acknowledged log says withdrawing ' || expected_withdrawing || ', ledger ' || ledger_withdrawing
  FROM crash_check.member_log_replay
 WHERE NOT wtainted AND expected_withdrawing <> ledger_withdrawing;
COMMENT ON VIEW crash_check.check_11_log_replay IS
    'the ledger equals a replay of the acknowledged log for every member no unacknowledged call can have touched';

CREATE VIEW crash_check.check_12_members AS
WITH p AS (SELECT prog FROM crash_check.params)
SELECT 'acknowledged join ' || c.key || ' (member ' || c.id || ', sponsor ' || c.member || ') is '
       || coalesce('member ' || m.id || ' with sponsor ' || coalesce(m.sponsor_id::text, 'none'), 'missing') AS problem
  FROM crash_check.calls c CROSS JOIN p
  LEFT JOIN affiliate.member m ON m.program_id = p.prog AND m.external_id = c.key
 WHERE c.op IN ('join', 'join_read') AND c.outcome = 'ack'
   AND (m.id IS NULL OR m.id <> c.id OR m.sponsor_id IS DISTINCT FROM c.member);
COMMENT ON VIEW crash_check.check_12_members IS 'every acknowledged join is in the database with its id and sponsor';

-- amcheck: every B-tree index of the extension, with heapallindexed (every
-- heap tuple has its index entry).  A corrupted index is reported, not raised.
CREATE FUNCTION crash_check.amcheck() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    i regclass;
BEGIN
    FOR i IN SELECT c.oid::regclass FROM pg_index x
               JOIN pg_class c ON c.oid = x.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_am a ON a.oid = c.relam
              WHERE n.nspname = 'affiliate' AND a.amname = 'btree'
              ORDER BY 1
    LOOP
        BEGIN
            PERFORM bt_index_check(i, true);
        EXCEPTION WHEN OTHERS THEN
            RETURN NEXT i::text || ': ' || SQLERRM;
        END;
    END LOOP;
END $$;
CREATE VIEW crash_check.check_13_amcheck AS SELECT crash_check.amcheck() AS problem;
COMMENT ON VIEW crash_check.check_13_amcheck IS 'amcheck: every B-tree index of schema affiliate matches its table';
