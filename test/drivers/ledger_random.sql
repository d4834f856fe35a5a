-- Randomized ledger driver (used by test/drivers/ledger_random.sh).
-- Each worker posts random journals over its own member accounts and the
-- program's shared system accounts, predicts every outcome from a model of
-- the balances, injects invalid journals (which must be refused and change
-- nothing) and replays earlier keys (which must return the original journal).

CREATE TABLE driver_model (
    worker int, member bigint, kind text, asset text, balance bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (worker, member, kind, asset));
CREATE TABLE driver_key (
    worker int, key text, kind text, legs jsonb, journal_id bigint, PRIMARY KEY (worker, key));
CREATE TABLE driver_stat (worker int, outcome text, n int, PRIMARY KEY (worker, outcome));

CREATE FUNCTION driver_fail(msg text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'driver check failed: %', msg USING ERRCODE = 'XX000';
END $$;

CREATE FUNCTION driver_count(w int, outcome text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO driver_stat VALUES (w, outcome, 1)
    ON CONFLICT (worker, outcome) DO UPDATE SET n = driver_stat.n + 1
$$;

CREATE PROCEDURE driver_run(prog bigint, seed double precision, w int, n int, members int)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    cur_asset text;
    nlegs int;
    legs jsonb;
    amounts bigint[];
    mems bigint[];
    kinds text[];
    total bigint;
    fault text;
    expect text;
    key text;
    jid bigint;
    jid2 bigint;
    st text;
    before_j bigint;
    after_j bigint;
    r record;
    m bigint;
    k text;
    amt bigint;
    bal bigint;
BEGIN
    PERFORM setseed(seed);
    FOR i IN 1..n LOOP
        cur_asset := CASE WHEN random() < 0.7 THEN 'INR' ELSE 'POINTS' END;
        nlegs := 2 + floor(random() * 3)::int;
        mems := '{}'; kinds := '{}'; amounts := '{}';
        total := 0;
        FOR j IN 1..nlegs - 1 LOOP
            IF random() < 0.65 THEN
                m := w * 1000 + 1 + floor(random() * members)::bigint;
                k := CASE WHEN random() < 0.5 THEN 'available' ELSE 'pending' END;
            ELSE
                m := NULL;
                k := CASE WHEN random() < 0.5 THEN 'revenue' ELSE 'commission_expense' END;
            END IF;
            -- mostly credits to members; some debits that may overdraw
            amt := (1 + floor(random() * 5000))::bigint * CASE WHEN random() < 0.35 THEN -1 ELSE 1 END;
            mems := mems || m; kinds := kinds || k; amounts := amounts || amt;
            total := total + amt;
        END LOOP;
        IF total = 0 THEN
            amounts[1] := amounts[1] + CASE WHEN amounts[1] = -1 THEN 2 ELSE 1 END;
            total := (SELECT sum(x) FROM unnest(amounts) x);
        END IF;
        -- the last leg balances the journal, on a system account
        mems := mems || NULL::bigint; kinds := kinds || 'settlement'::text; amounts := amounts || (-total);

        fault := CASE floor(random() * 20)::int
                    WHEN 0 THEN 'unbalanced' WHEN 1 THEN 'zero' WHEN 2 THEN 'bad_asset'
                    WHEN 3 THEN 'bad_account' WHEN 4 THEN 'key_reuse' WHEN 5 THEN 'replay'
                    ELSE 'none' END;
        IF fault = 'unbalanced' THEN amounts[1] := amounts[1] + 1; END IF;
        IF fault = 'zero' THEN amounts[1] := 0; END IF;

        legs := '[]';
        FOR j IN 1..nlegs LOOP
            legs := legs || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'member', mems[j], 'kind', kinds[j],
                'asset', CASE WHEN fault = 'bad_asset' AND j = 1 THEN lower(cur_asset) ELSE cur_asset END,
                'amount', amounts[j])));
        END LOOP;
        IF fault = 'bad_account' THEN
            legs := jsonb_set(legs, '{0}', jsonb_build_object('account', 999999999, 'amount', amounts[1]));
        END IF;

        key := format('w%s-%s', w, i);
        IF fault IN ('key_reuse', 'replay') THEN
            SELECT * INTO r FROM driver_key WHERE worker = w ORDER BY random() LIMIT 1;
            IF NOT FOUND THEN
                fault := 'none';
            ELSE
                key := r.key;
                IF fault = 'replay' THEN
                    legs := r.legs;
                END IF;
            END IF;
        END IF;

        -- predict the outcome from the model
        expect := CASE fault WHEN 'none' THEN 'ok' WHEN 'replay' THEN 'replay'
                             WHEN 'unbalanced' THEN '22023' WHEN 'zero' THEN '22023'
                             WHEN 'bad_asset' THEN '22023' WHEN 'bad_account' THEN 'P0002'
                             WHEN 'key_reuse' THEN '23505' END;
        IF expect = 'ok' THEN
            FOR r IN
                SELECT x.m, x.k, sum(x.a) AS net
                  FROM unnest(mems, kinds, amounts) AS x(m, k, a)
                 WHERE x.m IS NOT NULL GROUP BY x.m, x.k
            LOOP
                SELECT balance INTO bal FROM driver_model
                 WHERE worker = w AND member = r.m AND kind = r.k AND driver_model.asset = cur_asset;
                IF coalesce(bal, 0) + r.net < 0 THEN
                    expect := '23514';
                END IF;
            END LOOP;
        END IF;

        SELECT count(*) INTO before_j FROM affiliate.journal WHERE program_id = prog AND memo->>'worker' = w::text;
        BEGIN
            jid := affiliate.post_journal(prog, 'random', legs, key, jsonb_build_object('worker', w));
            st := 'ok';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        END;
        SELECT count(*) INTO after_j FROM affiliate.journal WHERE program_id = prog AND memo->>'worker' = w::text;

        IF expect = 'replay' THEN
            IF st <> 'ok' OR jid <> r.journal_id THEN
                PERFORM driver_fail(format('replay of %s gave %s/%s, expected journal %s', key, st, jid, r.journal_id));
            END IF;
            IF after_j <> before_j THEN
                PERFORM driver_fail(format('replay of %s wrote a journal', key));
            END IF;
        ELSIF expect = 'ok' THEN
            IF st <> 'ok' THEN
                PERFORM driver_fail(format('journal %s refused with %s: %s', key, st, legs));
            END IF;
            IF after_j <> before_j + 1 THEN
                PERFORM driver_fail(format('journal %s wrote %s journals', key, after_j - before_j));
            END IF;
            INSERT INTO driver_key VALUES (w, key, 'random', legs, jid);
            FOR r IN SELECT x.m, x.k, sum(x.a) AS net FROM unnest(mems, kinds, amounts) AS x(m, k, a)
                      WHERE x.m IS NOT NULL GROUP BY x.m, x.k
            LOOP
                INSERT INTO driver_model VALUES (w, r.m, r.k, cur_asset, r.net)
                ON CONFLICT (worker, member, kind, asset)
                DO UPDATE SET balance = driver_model.balance + excluded.balance;
            END LOOP;
        ELSE
            IF st <> expect THEN
                PERFORM driver_fail(format('fault %s on %s: expected %s, got %s; legs %s', fault, key, expect, st, legs));
            END IF;
            IF after_j <> before_j THEN
                PERFORM driver_fail(format('refused journal %s changed the journal count', key));
            END IF;
        END IF;
        PERFORM driver_count(w, CASE WHEN expect IN ('ok', 'replay') THEN expect ELSE 'refused_' || expect END);

        -- the model and the ledger agree on this worker's member accounts
        IF i % 50 = 0 THEN
            FOR r IN SELECT dm.*, b.balance AS actual FROM driver_model dm
                       LEFT JOIN affiliate.account_balances b
                         ON b.program_id = prog AND b.member_id = dm.member AND b.kind = dm.kind AND b.asset = dm.asset
                      WHERE dm.worker = w AND dm.balance IS DISTINCT FROM coalesce(b.balance, 0)
            LOOP
                PERFORM driver_fail(format('member %s %s %s: model %s, ledger %s', r.member, r.kind, r.asset, r.balance, r.actual));
            END LOOP;
        END IF;
        -- new transactions give postings distinct times (for balance_at)
        IF i % 10 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
    COMMIT;
END $$;

-- Every account's balance_at(t) equals the brute-force sum of its postings
-- up to t, at sampled posting times and just before them.
CREATE FUNCTION driver_check_balance_at(prog bigint, samples int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    bad bigint := 0;
    expected bigint;
    got bigint;
BEGIN
    FOR r IN
        SELECT p.account_id, t.at
          FROM (SELECT DISTINCT account_id FROM affiliate.posting WHERE program_id = prog) p
          CROSS JOIN LATERAL (
              SELECT x.posted_at + d.off AS at
                FROM (SELECT DISTINCT posted_at FROM affiliate.posting WHERE program_id = prog) x,
                     (VALUES (interval '0'), (interval '-1 microsecond')) d(off)
               ORDER BY random() LIMIT samples) t
    LOOP
        SELECT coalesce(sum(amount), 0) INTO expected FROM affiliate.posting
         WHERE program_id = prog AND account_id = r.account_id AND posted_at <= r.at;
        got := affiliate.balance_at(prog, r.account_id, r.at);
        IF got <> expected THEN
            RAISE WARNING 'balance_at(%, %) = %, postings sum to %', r.account_id, r.at, got, expected;
            bad := bad + 1;
        END IF;
    END LOOP;
    RETURN bad;
END $$;
