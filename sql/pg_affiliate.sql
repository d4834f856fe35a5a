-- pg_affiliate: the install script source.
-- The Makefile copies this file to pg_affiliate--<version>.sql; every later
-- schema change also ships sql/pg_affiliate--<old>--<new>.sql.

\echo Use "CREATE EXTENSION pg_affiliate" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Roles (NOLOGIN, created only if missing; roles are cluster-wide and are
-- not dropped with the extension).
-- ---------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'affiliate_admin') THEN
        CREATE ROLE affiliate_admin NOLOGIN;
    END IF;
END
$roles$;

-- ---------------------------------------------------------------------------
-- The refcode type (src/refcode.c): referral, affiliate and promo codes.
-- 8 bytes; text in Crockford base32 with a check character; see
-- docs/refcode.md.
-- ---------------------------------------------------------------------------
CREATE TYPE affiliate.refcode;

CREATE FUNCTION affiliate.refcode_in(cstring) RETURNS affiliate.refcode
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_in';
CREATE FUNCTION affiliate.refcode_out(affiliate.refcode) RETURNS cstring
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_out';
CREATE FUNCTION affiliate.refcode_recv(internal) RETURNS affiliate.refcode
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_recv';
CREATE FUNCTION affiliate.refcode_send(affiliate.refcode) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_send';

CREATE TYPE affiliate.refcode (
    INPUT = affiliate.refcode_in,
    OUTPUT = affiliate.refcode_out,
    RECEIVE = affiliate.refcode_recv,
    SEND = affiliate.refcode_send,
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE affiliate.refcode IS
    'Referral code: Crockford base32 with a check character; 8 bytes.';

CREATE FUNCTION affiliate.refcode_eq(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_eq';
CREATE FUNCTION affiliate.refcode_ne(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_ne';
CREATE FUNCTION affiliate.refcode_lt(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_lt';
CREATE FUNCTION affiliate.refcode_le(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_le';
CREATE FUNCTION affiliate.refcode_gt(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_gt';
CREATE FUNCTION affiliate.refcode_ge(affiliate.refcode, affiliate.refcode) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_ge';
CREATE FUNCTION affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode) RETURNS integer
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_cmp';
CREATE FUNCTION affiliate.refcode_sortsupport(internal) RETURNS void
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_sortsupport';
CREATE FUNCTION affiliate.refcode_hash(affiliate.refcode) RETURNS integer
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_hash';
CREATE FUNCTION affiliate.refcode_hash_extended(affiliate.refcode, bigint) RETURNS bigint
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'refcode_hash_extended';

CREATE OPERATOR affiliate.= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_eq,
    COMMUTATOR = OPERATOR(affiliate.=), NEGATOR = OPERATOR(affiliate.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR affiliate.<> (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_ne,
    COMMUTATOR = OPERATOR(affiliate.<>), NEGATOR = OPERATOR(affiliate.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR affiliate.< (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_lt,
    COMMUTATOR = OPERATOR(affiliate.>), NEGATOR = OPERATOR(affiliate.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR affiliate.<= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_le,
    COMMUTATOR = OPERATOR(affiliate.>=), NEGATOR = OPERATOR(affiliate.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR affiliate.> (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_gt,
    COMMUTATOR = OPERATOR(affiliate.<), NEGATOR = OPERATOR(affiliate.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR affiliate.>= (
    LEFTARG = affiliate.refcode, RIGHTARG = affiliate.refcode,
    FUNCTION = affiliate.refcode_ge,
    COMMUTATOR = OPERATOR(affiliate.<=), NEGATOR = OPERATOR(affiliate.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS affiliate.refcode_ops
    DEFAULT FOR TYPE affiliate.refcode USING btree AS
        OPERATOR 1 affiliate.< ,
        OPERATOR 2 affiliate.<= ,
        OPERATOR 3 affiliate.= ,
        OPERATOR 4 affiliate.>= ,
        OPERATOR 5 affiliate.> ,
        FUNCTION 1 affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode),
        FUNCTION 2 affiliate.refcode_sortsupport(internal),
        FUNCTION 4 pg_catalog.btequalimage(oid);
CREATE OPERATOR CLASS affiliate.refcode_ops
    DEFAULT FOR TYPE affiliate.refcode USING hash AS
        OPERATOR 1 affiliate.= ,
        FUNCTION 1 affiliate.refcode_hash(affiliate.refcode),
        FUNCTION 2 affiliate.refcode_hash_extended(affiliate.refcode, bigint);

CREATE FUNCTION affiliate.refcode_is_valid(code text) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_is_valid';
COMMENT ON FUNCTION affiliate.refcode_is_valid(text) IS
    'Whether the text is a valid referral code; never raises an error.';

CREATE FUNCTION affiliate.refcode_error(code text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'refcode_error';
COMMENT ON FUNCTION affiliate.refcode_error(text) IS
    'Why the text is not a valid referral code (one sentence); NULL when it is valid.';

CREATE FUNCTION affiliate.new_refcode(digits integer DEFAULT 8) RETURNS affiliate.refcode
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'new_refcode';
COMMENT ON FUNCTION affiliate.new_refcode(integer) IS
    'A random referral code with 4..12 data digits (5 bits each) from libsodium''s CSPRNG; callers retry on collision.';

-- Nothing is granted to PUBLIC (the Privileges section below revokes EXECUTE
-- on every function).  Operators check EXECUTE on their functions, so the
-- comparison functions are granted along with the type.
REVOKE USAGE ON TYPE affiliate.refcode FROM PUBLIC;
GRANT USAGE ON TYPE affiliate.refcode TO affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate.refcode_eq(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_ne(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_lt(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_le(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_gt(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_ge(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_cmp(affiliate.refcode, affiliate.refcode),
    affiliate.refcode_hash(affiliate.refcode),
    affiliate.refcode_hash_extended(affiliate.refcode, bigint),
    affiliate.refcode_is_valid(text),
    affiliate.refcode_error(text),
    affiliate.new_refcode(integer)
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Programs: one business each, with typed and validated settings.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.program (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200 AND btrim(name) <> ''),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    hold_period         interval NOT NULL DEFAULT '24 hours' CHECK (hold_period >= interval '0'),
    min_withdrawal      bigint NOT NULL DEFAULT 0 CHECK (min_withdrawal >= 0),
    rounding_unit       bigint NOT NULL DEFAULT 1 CHECK (rounding_unit >= 1),
    rounding            text NOT NULL DEFAULT 'half_up'
                        CHECK (rounding IN ('half_up', 'half_even', 'down')),
    attribution         text NOT NULL DEFAULT 'sponsor'
                        CHECK (attribution IN ('sponsor', 'first_click', 'last_click')),
    attribution_window  interval NOT NULL DEFAULT '30 days' CHECK (attribution_window > interval '0'),
    clawback            text NOT NULL DEFAULT 'negative' CHECK (clawback IN ('negative', 'write_off')),
    created_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE affiliate.program IS 'One business (shop, course platform) with its currency and settings.';

CREATE TABLE affiliate.audit_log (
    program_id  bigint NOT NULL REFERENCES affiliate.program (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    db_role     text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (program_id, id)
);
CREATE INDEX audit_log_at ON affiliate.audit_log (program_id, at);
COMMENT ON TABLE affiliate.audit_log IS 'Every admin action, with its actor (JWT sub or database role).';

-- ---------------------------------------------------------------------------
-- The ledger.  Written only by the C posting function (src/ledger.c).
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.account (
    program_id       bigint NOT NULL REFERENCES affiliate.program (id),
    id               bigint GENERATED ALWAYS AS IDENTITY,
    member_id        bigint,                -- NULL: a system account of the program
    asset            text NOT NULL CHECK (asset ~ '^[A-Z][A-Z0-9_]{1,15}$'),
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    allow_negative   boolean NOT NULL,
    balance          bigint NOT NULL DEFAULT 0,   -- folded; the current balance adds balance_delta
    since_checkpoint bigint NOT NULL DEFAULT 0,   -- postings folded since the last checkpoint
    checkpoint_at    timestamptz,                 -- time of the last checkpoint
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE NULLS NOT DISTINCT (program_id, member_id, asset, kind)
);
COMMENT ON TABLE affiliate.account IS 'Ledger accounts: (program, member or system, asset, kind).';

CREATE TABLE affiliate.journal (
    program_id       bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    request_hash     bytea NOT NULL,
    memo             jsonb,
    posted_at        timestamptz NOT NULL,
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, idempotency_key)
);
COMMENT ON TABLE affiliate.journal IS 'One business event; its postings sum to zero per asset. Append-only.';

-- No foreign key to account or program here on purpose: an FK check takes a
-- KEY SHARE lock on the referenced row, and a hot account (commission_expense,
-- a popular sponsor) would then be share-locked by every concurrent writer.
-- The C posting function resolves every account inside the same program, and
-- verify() reports any posting whose account is missing.
CREATE TABLE affiliate.posting (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    journal_id  bigint NOT NULL,
    account_id  bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount <> 0),
    posted_at   timestamptz NOT NULL,
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, journal_id) REFERENCES affiliate.journal (program_id, id)
);
CREATE INDEX posting_account_time ON affiliate.posting (program_id, account_id, posted_at) INCLUDE (amount);
CREATE INDEX posting_journal ON affiliate.posting (program_id, journal_id);
COMMENT ON TABLE affiliate.posting IS 'One movement of one account in one journal. Append-only.';

-- Postings not yet folded into account.balance (no row lock was taken).
CREATE TABLE affiliate.balance_delta (
    program_id  bigint NOT NULL,
    posting_id  bigint NOT NULL,
    account_id  bigint NOT NULL,
    amount      bigint NOT NULL,
    posted_at   timestamptz NOT NULL,
    PRIMARY KEY (program_id, posting_id)
);
CREATE INDEX balance_delta_account ON affiliate.balance_delta (program_id, account_id, posted_at);
COMMENT ON TABLE affiliate.balance_delta IS 'Postings awaiting their fold into account.balance.';

CREATE TABLE affiliate.balance_checkpoint (
    program_id  bigint NOT NULL,
    account_id  bigint NOT NULL,
    at          timestamptz NOT NULL,
    balance     bigint NOT NULL,        -- sum of the account's postings with posted_at <= at
    PRIMARY KEY (program_id, account_id, at),
    FOREIGN KEY (program_id, account_id) REFERENCES affiliate.account (program_id, id)
);
COMMENT ON TABLE affiliate.balance_checkpoint IS 'Exact balances at points in time, for balance_at().';

-- ---------------------------------------------------------------------------
-- Append-only guard.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.refuse_change() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'refuse_change';

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON affiliate.journal
    FOR EACH ROW EXECUTE FUNCTION affiliate.refuse_change();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON affiliate.journal
    FOR EACH STATEMENT EXECUTE FUNCTION affiliate.refuse_change();
CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON affiliate.posting
    FOR EACH ROW EXECUTE FUNCTION affiliate.refuse_change();
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON affiliate.posting
    FOR EACH STATEMENT EXECUTE FUNCTION affiliate.refuse_change();

-- ---------------------------------------------------------------------------
-- Programs.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.program_settings(program_id bigint) RETURNS jsonb
    LANGUAGE sql STABLE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'hold_period', p.hold_period::text,
        'min_withdrawal', p.min_withdrawal,
        'rounding_unit', p.rounding_unit,
        'rounding', p.rounding,
        'attribution', p.attribution,
        'attribution_window', p.attribution_window::text,
        'clawback', p.clawback)
    FROM affiliate.program p WHERE p.id = $1
$$;
COMMENT ON FUNCTION affiliate.program_settings(bigint) IS 'A program''s settings as jsonb (NULL for an unknown program).';

CREATE FUNCTION affiliate.create_program(name text, currency text, settings jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'create_program';
COMMENT ON FUNCTION affiliate.create_program(text, text, jsonb) IS 'Create a program; settings are validated (22023 names a bad key).';

CREATE FUNCTION affiliate.update_program_settings(program_id bigint, settings jsonb)
    RETURNS jsonb
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'update_program_settings';
COMMENT ON FUNCTION affiliate.update_program_settings(bigint, jsonb) IS 'Change some settings of a program; audited; returns all settings.';

-- ---------------------------------------------------------------------------
-- Ledger API.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.ensure_account(program_id bigint, member_id bigint, kind text,
                                         asset text DEFAULT NULL, allow_negative boolean DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ensure_account';
COMMENT ON FUNCTION affiliate.ensure_account(bigint, bigint, text, text, boolean) IS
    'Find or create an account (member_id NULL: system account; asset NULL: program currency).';

CREATE FUNCTION affiliate.post_journal(program_id bigint, kind text, legs jsonb,
                                       idempotency_key text DEFAULT NULL, memo jsonb DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'post_journal';
COMMENT ON FUNCTION affiliate.post_journal(bigint, text, jsonb, text, jsonb) IS
    'Post one balanced journal (manual adjustment); idempotent on idempotency_key; audited.';

CREATE FUNCTION affiliate.fold_balances(program_id bigint DEFAULT NULL, max_accounts integer DEFAULT 10000)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'fold_balances';
COMMENT ON FUNCTION affiliate.fold_balances(bigint, integer) IS
    'Job: fold lock-free postings into stored balances and write checkpoints; returns postings folded.';

CREATE FUNCTION affiliate.account_balance(program_id bigint, account_id bigint) RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b bigint;
BEGIN
    SELECT a.balance INTO b FROM affiliate.account a
     WHERE a.program_id = $1 AND a.id = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('account %s does not exist in program %s', $2, $1);
    END IF;
    RETURN b + coalesce((SELECT sum(d.amount) FROM affiliate.balance_delta d
                          WHERE d.program_id = $1 AND d.account_id = $2), 0)::bigint;
END
$$;
COMMENT ON FUNCTION affiliate.account_balance(bigint, bigint) IS 'Current balance of an account.';

CREATE FUNCTION affiliate.balance_at(program_id bigint, account_id bigint, at timestamptz)
    RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cp_at timestamptz;
    cp_balance bigint := 0;
    total numeric;
BEGIN
    IF $3 IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'at must not be null';
    END IF;
    PERFORM FROM affiliate.account a WHERE a.program_id = $1 AND a.id = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('account %s does not exist in program %s', $2, $1);
    END IF;
    -- the latest checkpoint at or before "at" (one index probe) ...
    SELECT c.at, c.balance INTO cp_at, cp_balance
      FROM affiliate.balance_checkpoint c
     WHERE c.program_id = $1 AND c.account_id = $2 AND c.at <= $3
     ORDER BY c.at DESC LIMIT 1;
    IF NOT FOUND THEN
        cp_at := '-infinity';
        cp_balance := 0;
    END IF;
    -- ... plus the postings after it (bounded by the checkpoint interval) ...
    total := cp_balance + coalesce((
        SELECT sum(p.amount) FROM affiliate.posting p
         WHERE p.program_id = $1 AND p.account_id = $2
           AND p.posted_at > cp_at AND p.posted_at <= $3), 0)
    -- ... plus postings that belong before the checkpoint but were committed
    -- after it and are not folded yet (bounded by the fold lag).
                  + coalesce((
        SELECT sum(d.amount) FROM affiliate.balance_delta d
         WHERE d.program_id = $1 AND d.account_id = $2 AND d.posted_at <= cp_at), 0);
    RETURN total::bigint;
END
$$;
COMMENT ON FUNCTION affiliate.balance_at(bigint, bigint, timestamptz) IS
    'Exact balance of an account at a past time: a checkpoint plus a bounded scan.';

CREATE VIEW affiliate.account_balances AS
SELECT a.program_id, a.id AS account_id, a.member_id, a.asset, a.kind, a.allow_negative,
       a.balance + coalesce(d.amount, 0) AS balance
  FROM affiliate.account a
  LEFT JOIN LATERAL (SELECT sum(x.amount)::bigint AS amount FROM affiliate.balance_delta x
                      WHERE x.program_id = a.program_id AND x.account_id = a.id) d ON true;
COMMENT ON VIEW affiliate.account_balances IS 'Every account with its current balance.';

-- ---------------------------------------------------------------------------
-- verify(): every broken invariant, one row each; empty when all hold.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.verify(program_id bigint DEFAULT NULL)
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
    affiliate.verify(bigint)
TO affiliate_admin;
