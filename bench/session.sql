-- make bench: the one-session workloads (procedures in schema bench, which
-- run.sh creates).  Buyers cycle through min_buyer .. max_buyer.

-- n conversions through record_conversions, `batch` per call, a commit per call
CREATE PROCEDURE bench.bulk_conversions(prefix text, n bigint, batch integer,
                                        min_buyer bigint, max_buyer bigint, product text)
    LANGUAGE plpgsql AS $$
DECLARE
    done bigint := 0;
BEGIN
    WHILE done < n LOOP
        PERFORM count(*) FROM affiliate.record_conversions(1, ARRAY(
            SELECT ROW(prefix || g, min_buyer + g % (max_buyer - min_buyer + 1), 13500, 4200,
                       now(), product, NULL)::affiliate.conversion_input
              FROM generate_series(done + 1, least(done + batch, n)) g));
        done := least(done + batch, n);
        COMMIT;
    END LOOP;
END
$$;

-- more conversions (2-level plan) until at least `target` commissions are pending
CREATE PROCEDURE bench.top_up_pending(target bigint, min_buyer bigint, max_buyer bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    round integer := 0;
BEGIN
    LOOP
        SELECT count(*) INTO pending FROM affiliate.commission WHERE status = 'pending';
        EXIT WHEN pending >= target;
        round := round + 1;
        -- nearly every buyer has two sponsors: two commissions per conversion
        CALL bench.bulk_conversions('topup' || round || '-', (target - pending) / 2 + 1000, 20000,
                                    min_buyer, max_buyer, 'basic');
    END LOOP;
END
$$;

-- release_due in committed batches (2 days ahead: past every hold) until
-- `total` commissions are released or nothing is due
CREATE PROCEDURE bench.release_count(total bigint, batch integer)
    LANGUAGE plpgsql AS $$
DECLARE
    done bigint := 0;
    n bigint;
BEGIN
    WHILE done < total LOOP
        n := affiliate.release_due(now() + interval '2 days', least(batch, total - done)::integer);
        COMMIT;
        done := done + n;
        EXIT WHEN n = 0;
    END LOOP;
END
$$;

-- n conversions one by one through record_conversion, a commit every 10 000
CREATE PROCEDURE bench.convert_many(prefix text, n bigint, min_buyer bigint, max_buyer bigint)
    LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. n LOOP
        PERFORM affiliate.record_conversion(1, prefix || i, min_buyer + i % (max_buyer - min_buyer + 1),
                                            13500, 4200, NULL, 'basic');
        IF i % 10000 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;
