-- bench/plpgsql/record_conversion.sql
--
-- affiliate.record_conversion written in plain SQL + PL/pgSQL, on the tables
-- of bench/plpgsql/schema.sql: the "competent developer" comparison for
-- `make bench`.  Same rules and the same results as the C path for the same
-- inputs (check.sql compares them):
--
--   * idempotent on (program_id, external_ref): INSERT ... ON CONFLICT DO
--     NOTHING RETURNING claims the key race-free (a concurrent call with the
--     same ref waits on the unique index and then replays); a replay with the
--     same inputs returns the original commissions, with other inputs it is
--     refused with 23505;
--   * plan: the newest upline plan for the product, else the newest for every
--     product; level k goes to upline[k] of the buyer (materialised array);
--   * base = amount, or profit = amount - cost; the levels' rates split the
--     base exactly (bench_plpgsql.split: numeric arithmetic, the program's
--     rounding_unit and rounding mode half_up / half_even / down, the running
--     total rounded instead when the shares rounded alone exceed the base);
--     then per level a flat amount instead of the rate share, a cap, and
--     never more than what is left of the base;
--   * a share of 0 is no commission; a beneficiary that is not active (or has
--     fewer direct referrals than the plan's min_direct) earns nothing and
--     the share stays with the platform (it does not move up);
--   * a recurring plan pays only within its interval of the buyer's first
--     conversion;
--   * commission rows: pending, hold_until = occurred_at + hold_period
--     (occurred_at is the transaction start, like the C default);
--   * one journal: commission_expense debited with the total, each
--     beneficiary's pending account credited; stored balances updated in
--     place (UPDATE ... SET balance = balance + x), the beneficiaries'
--     accounts locked in id order and the shared commission_expense row last.
--
-- Written to stay fast on tables that grow during a run: every statement
-- reads by primary or unique key, or from the PL/pgSQL arrays it already
-- holds, never by joining a table the path itself appends to (a generic plan
-- made while such a table was empty would otherwise scan it each time).
--
-- Left out, and not used by the bench plans:
--   * seller plans and seller_id (the C path pays a seller plan only when a
--     seller is given; load_from_affiliate does not copy them), hence also
--     the check that upline + seller plans together stay within the amount
--     (an upline plan alone never exceeds its base);
--   * an explicit occurred_at (the bench signature has none) and the batch
--     form record_conversions;
--   * refunds, release, the audit log, and the journal's idempotency key /
--     request hash (the conversion's unique ref already makes this path
--     idempotent).

CREATE OR REPLACE FUNCTION bench_plpgsql.round_div(num numeric, den numeric, unit bigint, mode text)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- num / den (num >= 0, den > 0) rounded to a multiple of unit
    SELECT unit * (div(num, den * unit) +
        CASE
            WHEN mode = 'down' THEN 0
            WHEN 2 * mod(num, den * unit) > den * unit THEN 1
            WHEN 2 * mod(num, den * unit) < den * unit THEN 0
            WHEN mode = 'half_up' THEN 1                        -- a tie
            ELSE mod(div(num, den * unit), 2)                   -- half_even: to the even multiple
        END)
$$;

-- The exact split of money.c (docs/money.md): each share rounded on its own;
-- if those add up to more than base, the running total rounded and clamped.
CREATE OR REPLACE FUNCTION bench_plpgsql.split(base bigint, rates_bp integer[], unit bigint, mode text)
    RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    n       integer := coalesce(array_length(rates_bp, 1), 0);
    shares  bigint[] := '{}';
    s       numeric;
    total   numeric := 0;
    running numeric := 0;
    prev    bigint := 0;
    c       bigint;
BEGIN
    FOR i IN 1 .. n LOOP
        s := bench_plpgsql.round_div(base::numeric * rates_bp[i], 10000, unit, mode);
        total := total + s;
        shares[i] := least(s, base);
    END LOOP;
    IF total <= base THEN
        RETURN shares;
    END IF;
    FOR i IN 1 .. n LOOP
        running := running + base::numeric * rates_bp[i];
        c := least(bench_plpgsql.round_div(running, 10000, unit, mode), base);
        shares[i] := c - prev;
        prev := c;
    END LOOP;
    RETURN shares;
END
$$;

CREATE OR REPLACE FUNCTION bench_plpgsql.record_conversion(
        program_id bigint, external_ref text, buyer_id bigint, amount bigint,
        cost bigint DEFAULT 0, product text DEFAULT NULL)
    RETURNS SETOF bench_plpgsql.commission
    LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    p_program_id ALIAS FOR $1;
    p_ref        ALIAS FOR $2;
    p_buyer      ALIAS FOR $3;
    p_amount     ALIAS FOR $4;
    p_cost       ALIAS FOR $5;
    p_product    ALIAS FOR $6;
    v_now        timestamptz := now();
    v_prog       bench_plpgsql.program;
    v_upline     bigint[];
    v_conv_id    bigint;
    v_old        bench_plpgsql.conversion;
    v_plan       bench_plpgsql.plan;
    v_base       bigint;
    v_shares     bigint[];
    v_left       bigint;
    v_s          bigint;
    v_n          integer;
    v_who        bigint[];
    v_level      integer[];
    v_amt        bigint[];
    v_total      bigint;
    v_journal    bigint;
    v_acc        bigint[];
    v_acc_amt    bigint[];
    v_expense    bigint;
BEGIN
    -- inputs (the table checks would catch most of these too)
    IF p_program_id IS NULL OR p_ref IS NULL OR p_buyer IS NULL OR p_amount IS NULL OR p_cost IS NULL THEN
        RAISE EXCEPTION 'program_id, external_ref, buyer_id, amount and cost must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF octet_length(p_ref) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'invalid external_ref' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_amount < 0 OR p_cost < 0 OR p_cost > p_amount THEN
        RAISE EXCEPTION 'amount must not be negative and cost must be between 0 and the amount'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_product IS NOT NULL AND octet_length(p_product) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'invalid product' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO v_prog FROM bench_plpgsql.program p WHERE p.id = p_program_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'program % does not exist', p_program_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT m.upline INTO v_upline
      FROM bench_plpgsql.member m WHERE m.id = p_buyer AND m.program_id = p_program_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'member % does not exist in program %', p_buyer, p_program_id
            USING ERRCODE = 'no_data_found';
    END IF;

    -- claim the idempotency key
    INSERT INTO bench_plpgsql.conversion AS c
           (program_id, external_ref, buyer_id, referrer_id, product, amount, cost, occurred_at)
    VALUES (p_program_id, p_ref, p_buyer, v_upline[1], p_product, p_amount, p_cost, v_now)
    ON CONFLICT (program_id, external_ref) DO NOTHING
    RETURNING c.id INTO v_conv_id;

    IF v_conv_id IS NULL THEN
        -- a replay: same inputs -> the recorded commissions, else refused
        SELECT * INTO v_old FROM bench_plpgsql.conversion c
         WHERE c.program_id = p_program_id AND c.external_ref = p_ref;
        IF v_old.buyer_id <> p_buyer OR v_old.amount <> p_amount OR v_old.cost <> p_cost
           OR v_old.product IS DISTINCT FROM p_product THEN
            RAISE EXCEPTION 'conversion "%" was already recorded with different inputs', p_ref
                USING ERRCODE = 'unique_violation';
        END IF;
        RETURN QUERY SELECT * FROM bench_plpgsql.commission c
                      WHERE c.conversion_id = v_old.id ORDER BY c.id;
        RETURN;
    END IF;

    -- the plan: newest for the product, else newest for every product
    SELECT * INTO v_plan FROM bench_plpgsql.plan pl
     WHERE pl.program_id = p_program_id AND (pl.product = p_product OR pl.product IS NULL)
     ORDER BY pl.product IS NULL, pl.id DESC
     LIMIT 1;
    v_n := least(coalesce(array_length(v_plan.rates_bp, 1), 0), cardinality(v_upline));
    IF v_n = 0 THEN
        RETURN;                     -- no plan, an empty plan, or a buyer at the top
    END IF;
    IF v_plan.recurring IS NOT NULL
       AND v_now >= (SELECT min(c.occurred_at) FROM bench_plpgsql.conversion c
                      WHERE c.buyer_id = p_buyer AND c.program_id = p_program_id) + v_plan.recurring THEN
        RETURN;
    END IF;

    -- the shares: exact split, then flat, cap and "never more than is left"
    v_base := CASE v_plan.base WHEN 'profit' THEN p_amount - p_cost ELSE p_amount END;
    v_shares := bench_plpgsql.split(v_base, v_plan.rates_bp, v_prog.rounding_unit, v_prog.rounding);
    v_left := v_base;
    FOR k IN 1 .. array_length(v_shares, 1) LOOP
        v_s := coalesce(v_plan.flat[k], v_shares[k]);
        v_s := least(v_s, coalesce(v_plan.caps[k], v_s), v_left);
        v_shares[k] := v_s;
        v_left := v_left - v_s;
    END LOOP;

    -- who is paid: the upline's qualifying members, in level order
    SELECT array_agg(u.who ORDER BY u.lvl), array_agg(u.lvl ORDER BY u.lvl),
           array_agg(u.amt ORDER BY u.lvl), sum(u.amt)
      INTO v_who, v_level, v_amt, v_total
      FROM unnest(v_upline[1:v_n], v_shares[1:v_n]) WITH ORDINALITY AS u(who, amt, lvl)
      JOIN bench_plpgsql.member m ON m.id = u.who AND m.program_id = p_program_id
     WHERE u.amt > 0
       AND m.status = 'active'
       AND (v_plan.min_direct = 0
            OR (SELECT count(*) FROM bench_plpgsql.member d WHERE d.sponsor_id = m.id) >= v_plan.min_direct);
    IF v_who IS NULL THEN
        RETURN;                     -- nobody qualifies: the platform keeps the base
    END IF;

    -- one journal: commission_expense -> each beneficiary's pending
    INSERT INTO bench_plpgsql.journal (program_id, kind, conversion_id, posted_at)
    VALUES (p_program_id, 'conversion', v_conv_id, v_now)
    RETURNING id INTO v_journal;

    RETURN QUERY
    INSERT INTO bench_plpgsql.commission AS c
           (program_id, conversion_id, plan_id, beneficiary_id, level, amount, hold_until, journal_id)
    SELECT p_program_id, v_conv_id, v_plan.id, u.who, u.lvl, u.amt, v_now + v_prog.hold_period, v_journal
      FROM unnest(v_who, v_level, v_amt) AS u(who, lvl, amt)
     ORDER BY u.lvl
    RETURNING c.*;

    -- balances, last: the beneficiaries' pending accounts locked in id order,
    -- then the program's commission_expense, the row every conversion
    -- updates (taken last so that it is held for as short a time as
    -- possible; every transaction locks in this order, so no deadlock).
    -- Accounts are opened when a member joins (load_from_affiliate here, as
    -- affiliate.add_member does), so they are not created on this path.
    PERFORM 1 FROM bench_plpgsql.account a
      WHERE a.program_id = p_program_id AND a.member_id = ANY (v_who) AND a.kind = 'pending'
      ORDER BY a.id
      FOR NO KEY UPDATE;
    WITH b AS (
        SELECT t.w, sum(t.x) AS amt FROM unnest(v_who, v_amt) AS t(w, x) GROUP BY t.w
    ), u AS (
        UPDATE bench_plpgsql.account a SET balance = a.balance + b.amt
          FROM b
         WHERE a.program_id = p_program_id AND a.member_id = b.w AND a.kind = 'pending'
        RETURNING a.id, b.amt
    )
    SELECT array_agg(u.id), array_agg(u.amt) INTO v_acc, v_acc_amt FROM u;
    IF coalesce(cardinality(v_acc), 0) <> cardinality(v_who) THEN   -- an upline has no repeats
        RAISE EXCEPTION 'a beneficiary of conversion "%" has no pending account', p_ref;
    END IF;
    UPDATE bench_plpgsql.account a SET balance = a.balance - v_total
     WHERE a.program_id = p_program_id AND a.member_id IS NULL AND a.kind = 'commission_expense'
    RETURNING a.id INTO v_expense;
    IF v_expense IS NULL THEN
        RAISE EXCEPTION 'program % has no commission_expense account', p_program_id;
    END IF;

    INSERT INTO bench_plpgsql.posting (journal_id, account_id, amount, posted_at)
    SELECT v_journal, t.id, t.amt, v_now FROM unnest(v_acc, v_acc_amt) AS t(id, amt)
    UNION ALL
    SELECT v_journal, v_expense, -v_total, v_now;
    RETURN;
END
$$;
COMMENT ON FUNCTION bench_plpgsql.record_conversion(bigint, text, bigint, bigint, bigint, text) IS
    'PL/pgSQL comparison implementation of affiliate.record_conversion (bench only).';
