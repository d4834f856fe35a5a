-- pg_affiliate: the install script source.
-- The Makefile copies this file to pg_affiliate--<version>.sql; every later
-- schema change also ships sql/pg_affiliate--<old>--<new>.sql.

\echo Use "CREATE EXTENSION pg_affiliate" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Roles (NOLOGIN, created only if missing; roles are cluster-wide and are
-- not dropped with the extension).
--   affiliate_operator  trusted SQL: application back ends, DBAs, jobs; every
--                       program (the SQL API in schema affiliate)
--   affiliate_admin     HTTP: the admin of the program named by the JWT
--   affiliate_member    HTTP: the member named by the JWT (sub, program)
--   affiliate_anon      HTTP: no JWT
-- The HTTP roles reach only schema affiliate_api (docs/postgrest.md).
-- ---------------------------------------------------------------------------
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
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
GRANT USAGE ON TYPE affiliate.refcode TO affiliate_operator;
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
TO affiliate_operator;

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
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- fraud rule thresholds (0.6.0, docs/fraud.md)
    fraud_device_members    integer NOT NULL DEFAULT 3 CHECK (fraud_device_members BETWEEN 1 AND 1000000),
    fraud_ip_members        integer NOT NULL DEFAULT 10 CHECK (fraud_ip_members BETWEEN 1 AND 1000000),
    fraud_burst_signups     integer NOT NULL DEFAULT 20 CHECK (fraud_burst_signups BETWEEN 1 AND 1000000),
    fraud_burst_window      interval NOT NULL DEFAULT '10 minutes' CHECK (fraud_burst_window > interval '0'),
    fraud_low_conversion_referrals integer NOT NULL DEFAULT 20
                            CHECK (fraud_low_conversion_referrals BETWEEN 1 AND 1000000),
    fraud_low_conversion_ratio integer NOT NULL DEFAULT 2500 CHECK (fraud_low_conversion_ratio BETWEEN 0 AND 10000)
);
COMMENT ON TABLE affiliate.program IS 'One business (shop, course platform) with its currency and settings.';

-- No foreign key to program: every audited step would KEY SHARE-lock the
-- program row, which all the program's concurrent withdrawals and admin
-- steps would then share (a multixact per row version).  verify() reports an
-- audit row whose program is missing.
CREATE TABLE affiliate.audit_log (
    program_id  bigint NOT NULL,
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
-- No foreign key to program: a balance update of an account row this
-- transaction already wrote fires the foreign-key check again, which
-- KEY SHARE-locks the one program row all writers share.  Member accounts
-- reference their member (below), which implies the program; system
-- accounts are created only after the program was read.  verify() reports an
-- account whose program is missing.
CREATE TABLE affiliate.account (
    program_id       bigint NOT NULL,
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

-- No foreign key to account, journal or program here on purpose: an FK check
-- takes a KEY SHARE lock on the referenced row (a hot account such as
-- commission_expense or a popular sponsor would be share-locked by every
-- concurrent writer) and costs one look-up per posting on the hottest path.
-- The C posting function writes the journal and its postings together and
-- resolves every account inside the same program; verify() reports any
-- posting whose account or journal is missing.
CREATE TABLE affiliate.posting (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    journal_id  bigint NOT NULL,
    account_id  bigint NOT NULL,
    amount      bigint NOT NULL CHECK (amount <> 0),
    posted_at   timestamptz NOT NULL,
    PRIMARY KEY (program_id, id)
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
-- the audit log too: what an admin did stays as it was written
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON affiliate.audit_log
    FOR EACH ROW EXECUTE FUNCTION affiliate.refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON affiliate.audit_log
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
        'clawback', p.clawback,
        'fraud_device_members', p.fraud_device_members,
        'fraud_ip_members', p.fraud_ip_members,
        'fraud_burst_signups', p.fraud_burst_signups,
        'fraud_burst_window', p.fraud_burst_window::text,
        'fraud_low_conversion_referrals', p.fraud_low_conversion_referrals,
        'fraud_low_conversion_ratio', p.fraud_low_conversion_ratio)
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
-- Exact splitting (src/money.c, docs/money.md).  Pure: no program_id.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.split(amount bigint, rates_bp integer[],
                                rounding_unit bigint DEFAULT 1, rounding text DEFAULT 'half_up')
    RETURNS bigint[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'affiliate_split';
COMMENT ON FUNCTION affiliate.split(bigint, integer[], bigint, text) IS
    'Split an amount by rates in basis points into shares rounded to rounding_unit; the shares never add up to more than the amount.';
GRANT EXECUTE ON FUNCTION affiliate.split(bigint, integer[], bigint, text) TO affiliate_operator;

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
-- The referral spine: members and their tree, clicks, commission plans,
-- conversions, commissions, refunds (src/member.c, src/commission.c,
-- src/holds.c).
-- ---------------------------------------------------------------------------

-- Keys for the keyed BLAKE2b hashes of device ids and IP addresses.  Readable
-- by the extension's owner only (not granted to any role).  In clear
-- (hash_key) without a root key; sealed under the root key
-- (pg_affiliate.root_key_file) with it: nonce || crypto_secretbox of
-- (program id, key), and the fingerprint of the root key (src/secret.c).
CREATE TABLE affiliate.program_secret (
    program_id  bigint NOT NULL REFERENCES affiliate.program (id),
    hash_key    bytea CHECK (length(hash_key) = 32),
    sealed_key  bytea CHECK (length(sealed_key) = 80),
    root_key_id bytea CHECK (length(root_key_id) = 8),
    PRIMARY KEY (program_id),
    CONSTRAINT program_secret_clear_or_sealed CHECK ((hash_key IS NULL) <> (sealed_key IS NULL)),
    CONSTRAINT program_secret_sealed_names_root_key CHECK ((sealed_key IS NULL) = (root_key_id IS NULL))
);
COMMENT ON TABLE affiliate.program_secret IS 'Per-program keys of the device/IP hashes; no role may read it.';
COMMENT ON COLUMN affiliate.program_secret.hash_key IS 'The key in clear (no root key configured when it was made), or NULL when sealed.';
COMMENT ON COLUMN affiliate.program_secret.sealed_key IS 'The key sealed under the root key: 24-byte nonce || crypto_secretbox of (program id, key).';
COMMENT ON COLUMN affiliate.program_secret.root_key_id IS 'Fingerprint of the root key that sealed sealed_key.';

-- The root key (src/rootkey.c, src/secret.c).
CREATE FUNCTION affiliate.root_key_id() RETURNS text
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'root_key_id';
COMMENT ON FUNCTION affiliate.root_key_id() IS
    'Fingerprint (16 hex digits) of the root key the server loaded from pg_affiliate.root_key_file; NULL without one.';

CREATE FUNCTION affiliate.seal_secrets() RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'seal_secrets';
COMMENT ON FUNCTION affiliate.seal_secrets() IS
    'Seal every hash key still stored in clear under the loaded root key (55000 without one); one audit row per program; returns how many.';

CREATE FUNCTION affiliate.secret_status()
    RETURNS TABLE (program_id bigint, sealed boolean, root_key_id text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    -- sealed rows name their root key (CHECK): the key columns are never read here
    SELECT s.program_id, s.root_key_id IS NOT NULL, encode(s.root_key_id, 'hex')
      FROM affiliate.program_secret s
     ORDER BY s.program_id
$$;
COMMENT ON FUNCTION affiliate.secret_status() IS
    'How each program''s hash key is stored: sealed or in clear, and the fingerprint of the root key that sealed it (never the key).';

-- No foreign key to program: every join would KEY SHARE-lock the one
-- program row that all concurrent joins share; add_member reads the program
-- first, and verify() reports a member whose program is missing.  The
-- sponsor's key stays: it keeps the tree whole.
CREATE TABLE affiliate.member (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    code         affiliate.refcode NOT NULL,
    sponsor_id   bigint,
    upline       bigint[] NOT NULL DEFAULT '{}',     -- ancestors, nearest first
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'blocked')),
    joined_at    timestamptz NOT NULL DEFAULT now(),
    click_id     bigint,                             -- the click that attributed the member
    device_hash  bytea,                              -- keyed BLAKE2b of the device id
    ip_hash      bytea,                              -- keyed BLAKE2b of the IP address
    display_name text CHECK (char_length(display_name) BETWEEN 1 AND 100),  -- leaderboards, messages
    birth_date   date,                               -- birthday messages and points
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, external_id),
    UNIQUE (program_id, code),
    FOREIGN KEY (program_id, sponsor_id) REFERENCES affiliate.member (program_id, id),
    CHECK (sponsor_id IS DISTINCT FROM id),
    CHECK (upline[1] IS NOT DISTINCT FROM sponsor_id),
    CHECK (array_ndims(upline) IS NULL OR array_ndims(upline) = 1)
);
CREATE INDEX member_upline ON affiliate.member USING gin (upline);
CREATE INDEX member_sponsor ON affiliate.member (program_id, sponsor_id);
COMMENT ON TABLE affiliate.member IS 'One person in a program: referral code, sponsor and materialised upline.';

-- Member accounts belong to members of the same program: the ledger creates
-- a member account only after reading the member (P0002 otherwise) and
-- verify() checks account_member_exists.  No foreign key: a join inserts three
-- accounts (three checks), and every balance update of an account written
-- earlier in the same transaction would run the check again.

-- No foreign key to member or program: a popular referrer's row and the
-- program row would be share-locked by every click (the C code resolves the
-- code inside the program; verify() checks it).
CREATE TABLE affiliate.click (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    member_id    bigint NOT NULL,                    -- the owner of the code
    channel      text CHECK (length(channel) BETWEEN 1 AND 200),
    landing_page text CHECK (length(landing_page) BETWEEN 1 AND 2000),
    device_hash  bytea,
    ip_hash      bytea,
    ua_hash      bytea,
    at           timestamptz NOT NULL,
    PRIMARY KEY (program_id, id)
);
CREATE INDEX click_ip ON affiliate.click (program_id, ip_hash, at) WHERE ip_hash IS NOT NULL;
CREATE INDEX click_device ON affiliate.click (program_id, device_hash, at) WHERE device_hash IS NOT NULL;
CREATE INDEX click_member ON affiliate.click (program_id, member_id, at);
COMMENT ON TABLE affiliate.click IS 'Visits through referral links (IP, device and user agent kept as keyed hashes).';

CREATE TABLE affiliate.plan (
    program_id   bigint NOT NULL REFERENCES affiliate.program (id),
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    beneficiary  text NOT NULL CHECK (beneficiary IN ('upline', 'seller')),
    product      text CHECK (length(product) BETWEEN 1 AND 200),   -- NULL: every product
    base         text NOT NULL CHECK (base IN ('amount', 'profit')),
    rates_bp     integer[] NOT NULL,                 -- level 1 first
    flat         bigint[],                           -- per level: a flat amount instead of the rate
    caps         bigint[],                           -- per level: the most a share may be
    recurring    interval CHECK (recurring > interval '0'),
    min_direct   integer NOT NULL DEFAULT 0 CHECK (min_direct >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id)
);
CREATE INDEX plan_lookup ON affiliate.plan (program_id, beneficiary, product, id);
COMMENT ON TABLE affiliate.plan IS 'Commission plans; per beneficiary kind and product the newest plan applies. Never updated.';

-- No foreign key to program or member: every conversion would share-lock the
-- program row and the buyer's row (and pay a look-up for it).  The C code
-- reads the buyer inside the program before it inserts; verify() reports a
-- conversion whose buyer is missing.
CREATE TABLE affiliate.conversion (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    external_ref text NOT NULL CHECK (length(external_ref) BETWEEN 1 AND 200),
    buyer_id     bigint NOT NULL,
    referrer_id  bigint,                             -- the buyer's sponsor when the order was paid
    seller_id    bigint,                             -- beneficiary of seller plans (creator, vendor)
    product      text CHECK (length(product) BETWEEN 1 AND 200),
    amount       bigint NOT NULL CHECK (amount >= 0),
    cost         bigint NOT NULL CHECK (cost >= 0 AND cost <= amount),
    refunded     bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    status       text NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'partially_refunded', 'refunded')),
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, external_ref)
);
CREATE INDEX conversion_buyer ON affiliate.conversion (program_id, buyer_id, occurred_at);
COMMENT ON TABLE affiliate.conversion IS 'Paid orders; external_ref is the idempotency key.';

-- No foreign keys to member, plan or conversion: every conversion would
-- share-lock the rows of the top of the tree, the active plan and its own
-- conversion row, one look-up each.  The C code writes a conversion and its
-- commissions together; verify() reports commissions whose conversion or
-- beneficiary is missing.
CREATE TABLE affiliate.commission (
    program_id     bigint NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    conversion_id  bigint NOT NULL,
    plan_id        bigint NOT NULL,
    beneficiary_id bigint NOT NULL,
    level          integer NOT NULL CHECK (level >= 1),
    amount         bigint NOT NULL CHECK (amount > 0),
    status         text NOT NULL DEFAULT 'pending',
    hold_until     timestamptz NOT NULL,
    reversed       bigint NOT NULL DEFAULT 0,        -- refunded so far (before or after release)
    released       bigint,                           -- moved to available at release
    written_off    bigint NOT NULL DEFAULT 0,        -- clawback the member kept (write_off policy)
    released_at    timestamptz,
    journal_id     bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, conversion_id, plan_id, level),
    CHECK (reversed >= 0 AND reversed <= amount),
    CHECK (written_off >= 0 AND written_off <= reversed),
    CHECK (released IS NULL OR (released > 0 AND released <= amount)),
    -- The status is a function of the amounts: one CHECK says so (it was five
    -- before 0.4.0; PostgreSQL re-reads every CHECK expression of a table
    -- from its stored text on each INSERT/UPDATE statement, so their size is
    -- paid on every conversion, refund and release).
    CONSTRAINT commission_status_check CHECK (status = CASE
        WHEN released IS NULL THEN CASE WHEN reversed < amount THEN 'pending' ELSE 'reversed' END
        ELSE CASE WHEN reversed < amount THEN 'available' ELSE 'clawed_back' END END)
);
CREATE INDEX commission_due ON affiliate.commission (hold_until) WHERE status = 'pending';
CREATE INDEX commission_beneficiary ON affiliate.commission (program_id, beneficiary_id, status);
COMMENT ON TABLE affiliate.commission IS 'One beneficiary''s share of one conversion: pending -> available, or reversed / clawed back.';

CREATE TABLE affiliate.refund (
    program_id    bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    conversion_id bigint NOT NULL,
    refund_ref    text NOT NULL CHECK (length(refund_ref) BETWEEN 1 AND 200),
    amount        bigint NOT NULL CHECK (amount > 0),
    reason        text CHECK (length(reason) <= 2000),
    journal_id    bigint,                            -- NULL when no commission moved
    written_off   bigint NOT NULL DEFAULT 0,         -- clawback not recovered (write_off policy)
    full_refund   boolean NOT NULL DEFAULT false,    -- "the rest of the order" (amount left out)
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, conversion_id, refund_ref),
    FOREIGN KEY (program_id, conversion_id) REFERENCES affiliate.conversion (program_id, id)
);
COMMENT ON TABLE affiliate.refund IS 'Full and partial refunds of conversions; (conversion, refund_ref) makes them idempotent.';

-- ---------------------------------------------------------------------------
-- Members, clicks and the tree.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.add_member(program_id bigint, external_id text, referral_code text DEFAULT NULL,
                                     device_id text DEFAULT NULL, ip inet DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_member';
COMMENT ON FUNCTION affiliate.add_member(bigint, text, text, text, inet) IS
    'Add a member: new referral code, sponsor from the code or an attributed click, materialised upline.';

CREATE FUNCTION affiliate.record_click(program_id bigint, code text, channel text DEFAULT NULL,
                                       ip inet DEFAULT NULL, user_agent text DEFAULT NULL,
                                       at timestamptz DEFAULT now(), device_id text DEFAULT NULL,
                                       landing_page text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_click';
COMMENT ON FUNCTION affiliate.record_click(bigint, text, text, inet, text, timestamptz, text, text) IS
    'Record a visit through a referral link (for first/last click attribution).';

CREATE FUNCTION affiliate.move_member(program_id bigint, member_id bigint, new_sponsor_id bigint)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'move_member';
COMMENT ON FUNCTION affiliate.move_member(bigint, bigint, bigint) IS
    'Admin: move a member (and their subtree) under a new sponsor; refuses cycles; audited. Returns the rows rewritten.';

CREATE FUNCTION affiliate.set_member_status(program_id bigint, member_id bigint, status text, reason text DEFAULT NULL)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_member_status';
COMMENT ON FUNCTION affiliate.set_member_status(bigint, bigint, text, text) IS
    'Admin: set a member active, inactive or blocked (inactive and blocked members earn nothing); audited. Returns the old status.';

CREATE FUNCTION affiliate.set_member_profile(program_id bigint, member_id bigint, display_name text, birth_date date)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_member_profile';
COMMENT ON FUNCTION affiliate.set_member_profile(bigint, bigint, text, date) IS
    'Set a member''s display name (1-100 characters, for leaderboards and messages) and birth date (1900-01-01 to today); NULL clears.';

CREATE FUNCTION affiliate.member_by_code(program_id bigint, code text) RETURNS bigint
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'member_by_code';
COMMENT ON FUNCTION affiliate.member_by_code(bigint, text) IS
    'The member owning a referral code (any case, hyphens ignored); NULL when nobody owns it; 22023 when mistyped.';

CREATE FUNCTION affiliate.upline(program_id bigint, member_id bigint, depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, external_id text, code affiliate.refcode, status text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.level::integer, a.id, a.external_id, a.code, a.status
      FROM affiliate.member m
     CROSS JOIN LATERAL unnest(m.upline) WITH ORDINALITY AS u(ancestor, level)
      JOIN affiliate.member a ON a.program_id = m.program_id AND a.id = u.ancestor
     WHERE m.program_id = $1 AND m.id = $2 AND ($3 IS NULL OR u.level <= $3)
     ORDER BY u.level
$$;
COMMENT ON FUNCTION affiliate.upline(bigint, bigint, integer) IS 'A member''s sponsors, nearest (level 1) first, up to depth levels.';

CREATE FUNCTION affiliate.downline(program_id bigint, member_id bigint, depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, external_id text, sponsor_id bigint,
                   code affiliate.refcode, status text, joined_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_position(d.upline, $2), d.id, d.external_id, d.sponsor_id, d.code, d.status, d.joined_at
      FROM affiliate.member d
     WHERE d.program_id = $1 AND d.upline @> ARRAY[$2]
       AND ($3 IS NULL OR array_position(d.upline, $2) <= $3)
     ORDER BY 1, d.id
$$;
COMMENT ON FUNCTION affiliate.downline(bigint, bigint, integer) IS 'A member''s referral tree, with level (1 = direct referrals), up to depth levels.';

CREATE FUNCTION affiliate.team_size(program_id bigint, member_id bigint) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM affiliate.member d WHERE d.program_id = $1 AND d.upline @> ARRAY[$2]
$$;
COMMENT ON FUNCTION affiliate.team_size(bigint, bigint) IS 'How many members are below a member in the referral tree (all levels).';

-- ---------------------------------------------------------------------------
-- Plans, conversions, refunds, holds.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.set_plan(program_id bigint, name text, levels integer[], base text DEFAULT 'profit',
                                   recurring interval DEFAULT NULL, product text DEFAULT NULL,
                                   beneficiary text DEFAULT 'upline', flat bigint[] DEFAULT NULL,
                                   caps bigint[] DEFAULT NULL, qualification jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_plan';
COMMENT ON FUNCTION affiliate.set_plan(bigint, text, integer[], text, interval, text, text, bigint[], bigint[], jsonb) IS
    'Add a commission plan; it becomes the active plan for its beneficiary kind and product; audited.';

CREATE TYPE affiliate.conversion_input AS (
    external_ref text,
    buyer_id     bigint,
    amount       bigint,
    cost         bigint,
    occurred_at  timestamptz,
    product      text,
    seller_id    bigint
);
COMMENT ON TYPE affiliate.conversion_input IS 'One order for affiliate.record_conversions().';

CREATE FUNCTION affiliate.record_conversion(program_id bigint, external_ref text, buyer_id bigint, amount bigint,
                                            cost bigint DEFAULT 0, occurred_at timestamptz DEFAULT NULL,
                                            product text DEFAULT NULL, seller_id bigint DEFAULT NULL,
                                            promo_code text DEFAULT NULL)
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_conversion';
COMMENT ON FUNCTION affiliate.record_conversion(bigint, text, bigint, bigint, bigint, timestamptz, text, bigint, text) IS
    'Record a paid order and its commissions in one journal; idempotent on external_ref; a promo code''s campaign owner is the attributed referrer.';

CREATE FUNCTION affiliate.record_conversions(program_id bigint, conversions affiliate.conversion_input[])
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_conversions';
COMMENT ON FUNCTION affiliate.record_conversions(bigint, affiliate.conversion_input[]) IS
    'Bulk form of record_conversion for imports: same rules, set-based, all or nothing.';

CREATE FUNCTION affiliate.refund_conversion(program_id bigint, external_ref text, reason text DEFAULT NULL,
                                            amount bigint DEFAULT NULL, refund_ref text DEFAULT NULL)
    RETURNS SETOF affiliate.commission
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'refund_conversion';
COMMENT ON FUNCTION affiliate.refund_conversion(bigint, text, text, bigint, text) IS
    'Refund an order fully or partly; reverses pending commissions or claws back released ones; idempotent.';

CREATE FUNCTION affiliate.release_due(as_of timestamptz DEFAULT now(), batch_size integer DEFAULT 10000,
                                      program_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'release_due';
COMMENT ON FUNCTION affiliate.release_due(timestamptz, integer, bigint) IS
    'Job: move up to batch_size due commissions from pending to available; returns how many.';

-- No SET clause (a procedure with one cannot COMMIT); every name is qualified.
CREATE PROCEDURE affiliate.release_all_due(batch_size integer DEFAULT 10000)
    LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
BEGIN
    LOOP
        n := affiliate.release_due(pg_catalog.now(), batch_size);
        COMMIT;
        EXIT WHEN n < batch_size;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE affiliate.release_all_due(integer) IS
    'Job (pg_cron): release every due commission, one committed batch at a time.';


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
                        CHECK (status IN ('requested', 'approved', 'rejected', 'paid', 'failed', 'cancelled')),
    method              text NOT NULL CHECK (method ~ '^[a-z][a-z0-9_]{0,31}$'),
    destination_masked  text NOT NULL,
    destination_hash    bytea NOT NULL CHECK (length(destination_hash) = 32),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    decided_at          timestamptz,            -- approved, rejected or cancelled
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
    'Payout requests: requested -> approved -> paid | failed, or requested -> rejected | cancelled. Written only by the C state machine.';

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

CREATE FUNCTION affiliate.cancel_withdrawal(program_id bigint, withdrawal_id bigint)
    RETURNS affiliate.withdrawal
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cancel_withdrawal';
COMMENT ON FUNCTION affiliate.cancel_withdrawal(bigint, bigint) IS
    'The member takes back a withdrawal still requested: requested -> cancelled (withdrawing -> available); audited.';

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
       AND withdrawals.status NOT IN ('requested', 'approved', 'rejected', 'paid', 'failed', 'cancelled') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid withdrawal status "%s"', withdrawals.status),
            HINT = 'A withdrawal is requested, approved, rejected, paid, failed or cancelled.';
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
     ORDER BY array_position(ARRAY['requested', 'approved', 'paid', 'failed', 'rejected', 'cancelled'], w.status), w.asset;
END
$$;
COMMENT ON FUNCTION affiliate.withdrawal_totals(bigint) IS
    'Admin: count, amount, members and oldest request of a program''s withdrawals per status and asset.';

-- ---------------------------------------------------------------------------
-- Periodic jobs through pg_cron.  The job functions are plain SQL calls and
-- are tested without the cron worker.
-- ---------------------------------------------------------------------------
-- Every job pg_affiliate registers with pg_cron: name, default schedule and
-- command.  schedule_jobs() registers them all, unschedule_jobs() removes them.
CREATE FUNCTION affiliate.job_definitions()
    RETURNS TABLE (jobname text, schedule text, command text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
VALUES
    ('pg_affiliate_release', '0 * * * *', 'CALL affiliate.release_all_due()'),
    ('pg_affiliate_fold', '*/10 * * * *', 'SELECT affiliate.fold_balances()'),
    ('pg_affiliate_expire_points', '15 2 * * *', 'CALL affiliate.expire_all_points()'),
    ('pg_affiliate_review_tiers', '45 2 * * *', 'SELECT affiliate.review_tiers()'),
    ('pg_affiliate_birthdays', '0 6 * * *', 'SELECT affiliate.queue_birthdays()'),
    ('pg_affiliate_points_expiring', '30 6 * * *', 'SELECT affiliate.queue_points_expiring()'),
    ('pg_affiliate_fraud_checks', '30 3 * * *', 'SELECT affiliate.run_fraud_checks_all()'),
    ('pg_affiliate_advance_campaigns', '*/5 * * * *', 'SELECT affiliate.advance_campaigns()'),
    ('pg_affiliate_expire_promo_credits', '30 2 * * *', 'SELECT affiliate.expire_promo_credits()')
$$;
COMMENT ON FUNCTION affiliate.job_definitions() IS
    'The pg_cron jobs of pg_affiliate: name, default schedule (UTC as pg_cron reads it) and command.';

CREATE FUNCTION affiliate.schedule_jobs(release_schedule text DEFAULT '0 * * * *',
                                        fold_schedule text DEFAULT '*/10 * * * *')
    RETURNS TABLE (jobid bigint, jobname text, schedule text, command text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron_db text;
    j record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        -- pg_cron makes its setting readable by superusers only
        BEGIN
            cron_db := 'database ' || coalesce(current_setting('cron.database_name', true), 'postgres');
        EXCEPTION WHEN insufficient_privilege THEN
            cron_db := 'the database';
        END;
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'pg_cron is not installed in this database',
            DETAIL = format('The periodic jobs of pg_affiliate run through pg_cron, which lives in %s named by cron.database_name.',
                            cron_db),
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and run CREATE EXTENSION pg_cron.';
    END IF;
    IF release_schedule IS NULL OR fold_schedule IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'job schedules must not be null';
    END IF;
    -- cron.schedule() inserts or updates the job of that name (and validates the schedule)
    FOR j IN SELECT d.jobname, d.schedule, d.command FROM affiliate.job_definitions() d LOOP
        EXECUTE 'SELECT cron.schedule($1, $2, $3)'
            USING j.jobname,
                  CASE j.jobname WHEN 'pg_affiliate_release' THEN release_schedule
                                 WHEN 'pg_affiliate_fold' THEN fold_schedule
                                 ELSE j.schedule END,
                  j.command;
    END LOOP;
    RETURN QUERY EXECUTE
        'SELECT j.jobid, j.jobname::text, j.schedule, j.command FROM cron.job j
          WHERE j.jobname IN (SELECT d.jobname FROM affiliate.job_definitions() d) ORDER BY j.jobname';
END
$$;
COMMENT ON FUNCTION affiliate.schedule_jobs(text, text) IS
    'Register (or update) the periodic jobs of job_definitions() with pg_cron (hold release and balance folding schedules configurable).';

CREATE FUNCTION affiliate.unschedule_jobs() RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = 'pg_cron is not installed in this database',
            HINT = 'There are no pg_affiliate jobs to remove without pg_cron.';
    END IF;
    EXECUTE 'SELECT count(cron.unschedule(j.jobid)) FROM cron.job j
              WHERE j.jobname IN (SELECT d.jobname FROM affiliate.job_definitions() d)'
        INTO n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION affiliate.unschedule_jobs() IS 'Remove the pg_affiliate jobs from pg_cron; returns how many were removed.';

-- ---------------------------------------------------------------------------
-- Per-backend cache of program settings and commission plans
-- (src/settings_cache.c): every change to either table queues a relcache
-- invalidation, so each backend drops its cached copies when the change
-- commits.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.settings_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'settings_changed';
-- Row triggers (a statement trigger does not fire when a caller stops an
-- INSERT ... RETURNING early, as SPI with a row count does), plus TRUNCATE.
CREATE TRIGGER program_settings_changed
    AFTER INSERT OR UPDATE OR DELETE ON affiliate.program
    FOR EACH ROW EXECUTE FUNCTION affiliate.settings_changed();
CREATE TRIGGER program_settings_truncated
    AFTER TRUNCATE ON affiliate.program
    FOR EACH STATEMENT EXECUTE FUNCTION affiliate.settings_changed();
CREATE TRIGGER plan_settings_changed
    AFTER INSERT OR UPDATE OR DELETE ON affiliate.plan
    FOR EACH ROW EXECUTE FUNCTION affiliate.settings_changed();
CREATE TRIGGER plan_settings_truncated
    AFTER TRUNCATE ON affiliate.plan
    FOR EACH STATEMENT EXECUTE FUNCTION affiliate.settings_changed();

-- ---------------------------------------------------------------------------
-- Courses, enrollment and progress (src/course.c, docs/certificates.md).
-- ---------------------------------------------------------------------------
-- A program's courses: course -> module -> topic, each with a display order
-- (ties by id) and a published flag; members enroll, report what they
-- watched per topic (watched seconds only grow, completion is sticky) and,
-- where a module sets a pass mark, take assessments.  Written only by the C
-- functions below (src/course.c); the certificates section reads the progress
-- tables (AffCourseComplete()).
CREATE TABLE affiliate.course (
    program_id    bigint NOT NULL REFERENCES affiliate.program (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description   text CHECK (length(description) BETWEEN 1 AND 10000),
    display_order integer NOT NULL DEFAULT 0,
    published     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id)
);
COMMENT ON TABLE affiliate.course IS 'Courses of a program: modules of topics, shown in display order (ties by id) once published.';

CREATE TABLE affiliate.course_module (
    program_id    bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    course_id     bigint NOT NULL,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description   text CHECK (length(description) BETWEEN 1 AND 10000),
    display_order integer NOT NULL DEFAULT 0,
    published     boolean NOT NULL DEFAULT false,
    pass_mark     integer CHECK (pass_mark BETWEEN 1 AND 100),   -- percent; NULL: no assessment required
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, course_id) REFERENCES affiliate.course (program_id, id)
);
CREATE INDEX course_module_course ON affiliate.course_module (program_id, course_id);
COMMENT ON TABLE affiliate.course_module IS 'Modules of a course; a module with a pass mark counts as done only after a passed assessment.';

CREATE TABLE affiliate.topic (
    program_id       bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    module_id        bigint NOT NULL,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    description      text CHECK (length(description) BETWEEN 1 AND 10000),
    duration_seconds integer NOT NULL DEFAULT 0 CHECK (duration_seconds >= 0),
    display_order    integer NOT NULL DEFAULT 0,
    published        boolean NOT NULL DEFAULT false,
    video_source     text NOT NULL CHECK (video_source IN ('cloudinary', 'youtube', 'vimeo', 'url')),
    video_ref        text NOT NULL CHECK (length(video_ref) BETWEEN 1 AND 2008),  -- validated per source by add_topic
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, module_id) REFERENCES affiliate.course_module (program_id, id)
);
CREATE INDEX topic_module ON affiliate.topic (program_id, module_id);
COMMENT ON TABLE affiliate.topic IS 'Topics (videos) of a module: a Cloudinary public id, a YouTube or Vimeo video id, or a URL.';

CREATE TABLE affiliate.enrollment (
    program_id       bigint NOT NULL,
    member_id        bigint NOT NULL,
    course_id        bigint NOT NULL,
    enrolled_at      timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, member_id, course_id),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, course_id) REFERENCES affiliate.course (program_id, id)
);
CREATE INDEX enrollment_course ON affiliate.enrollment (program_id, course_id);
COMMENT ON TABLE affiliate.enrollment IS 'Members enrolled in courses; every progress or assessment call locks and updates its row first.';

CREATE TABLE affiliate.topic_progress (
    program_id      bigint NOT NULL,
    member_id       bigint NOT NULL,
    topic_id        bigint NOT NULL,
    course_id       bigint NOT NULL,
    watched_seconds integer NOT NULL DEFAULT 0 CHECK (watched_seconds >= 0),
    completed_at    timestamptz,                     -- set once, never cleared
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, member_id, topic_id),
    FOREIGN KEY (program_id, member_id, course_id) REFERENCES affiliate.enrollment (program_id, member_id, course_id),
    FOREIGN KEY (program_id, topic_id) REFERENCES affiliate.topic (program_id, id)
);
CREATE INDEX topic_progress_course ON affiliate.topic_progress (program_id, member_id, course_id);
CREATE INDEX topic_progress_topic ON affiliate.topic_progress (program_id, topic_id);
COMMENT ON TABLE affiliate.topic_progress IS 'A member''s progress per topic: the most seconds watched so far and when the topic was completed.';

CREATE TABLE affiliate.assessment (
    program_id bigint NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    member_id  bigint NOT NULL,
    module_id  bigint NOT NULL,
    score      integer NOT NULL CHECK (score >= 0),
    max_score  integer NOT NULL CHECK (max_score > 0),
    passed     boolean NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    CHECK (score <= max_score),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, module_id) REFERENCES affiliate.course_module (program_id, id)
);
CREATE INDEX assessment_member_module ON affiliate.assessment (program_id, member_id, module_id);
CREATE INDEX assessment_module ON affiliate.assessment (program_id, module_id);
COMMENT ON TABLE affiliate.assessment IS 'Assessment attempts (all kept); a module''s requirement is met by any passed attempt.';

CREATE FUNCTION affiliate.create_course(program_id bigint, title text, description text DEFAULT NULL,
                                        display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'create_course';
COMMENT ON FUNCTION affiliate.create_course(bigint, text, text, integer, boolean) IS
    'Admin: add a course (unpublished unless asked); audited. Returns the course id.';

CREATE FUNCTION affiliate.add_module(program_id bigint, course_id bigint, title text, description text DEFAULT NULL,
                                     display_order integer DEFAULT 0, published boolean DEFAULT false,
                                     pass_mark integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_module';
COMMENT ON FUNCTION affiliate.add_module(bigint, bigint, text, text, integer, boolean, integer) IS
    'Admin: add a module to a course; pass_mark (percent, 1..100) requires a passed assessment; audited. Returns the module id.';

CREATE FUNCTION affiliate.add_topic(program_id bigint, module_id bigint, title text, video_source text, video_ref text,
                                    duration_seconds integer DEFAULT 0, description text DEFAULT NULL,
                                    display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'add_topic';
COMMENT ON FUNCTION affiliate.add_topic(bigint, bigint, text, text, text, integer, text, integer, boolean) IS
    'Admin: add a topic (video) to a module; video_ref is validated for its source; audited. Returns the topic id.';

CREATE FUNCTION affiliate.set_published(program_id bigint, kind text, id bigint, published boolean)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'set_published';
COMMENT ON FUNCTION affiliate.set_published(bigint, text, bigint, boolean) IS
    'Admin: publish or unpublish a course, module or topic; audited.';

CREATE FUNCTION affiliate.course_outline(program_id bigint, course_id bigint, include_unpublished boolean DEFAULT false)
    RETURNS jsonb
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'course_outline';
COMMENT ON FUNCTION affiliate.course_outline(bigint, bigint, boolean) IS
    'A course''s modules and topics in display order (ties by id) as JSON; unpublished parts (and an unpublished course: NULL) left out unless asked.';

CREATE FUNCTION affiliate.enroll(program_id bigint, member_id bigint, course_id bigint)
    RETURNS boolean
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'enroll';
COMMENT ON FUNCTION affiliate.enroll(bigint, bigint, bigint) IS
    'Enroll a member in a published course; true when newly enrolled, false when already enrolled.';

CREATE FUNCTION affiliate.record_progress(program_id bigint, member_id bigint, topic_id bigint,
                                          watched_seconds integer, completed boolean DEFAULT false)
    RETURNS TABLE (watched_seconds integer, completed boolean, certificate_number text)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_progress';
COMMENT ON FUNCTION affiliate.record_progress(bigint, bigint, bigint, integer, boolean) IS
    'Record what an enrolled member watched of a published topic: watched seconds only grow, completion is sticky.';

CREATE FUNCTION affiliate.record_assessment(program_id bigint, member_id bigint, module_id bigint,
                                            score integer, max_score integer)
    RETURNS TABLE (passed boolean, certificate_number text)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'record_assessment';
COMMENT ON FUNCTION affiliate.record_assessment(bigint, bigint, bigint, integer, integer) IS
    'Record an assessment attempt of an enrolled member on a module with a pass mark; passed when score/max_score reaches it.';

CREATE FUNCTION affiliate.course_progress(program_id bigint, member_id bigint, course_id bigint)
    RETURNS TABLE (topics_done integer, topics_total integer, percent numeric, assessments_passed integer,
                   assessments_required integer, completed boolean, certificate_number text)
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'course_progress';
COMMENT ON FUNCTION affiliate.course_progress(bigint, bigint, bigint) IS
    'A member''s progress in a course over its published topics of published modules, and whether it is complete.';

-- ---------------------------------------------------------------------------
-- Signing keys and certificates (src/certificate.c, docs/certificates.md,
-- docs/keys.md).
-- ---------------------------------------------------------------------------
-- Ed25519 key pairs that sign the program's certificates: one active key
-- (retired_at NULL) per program, retired keys kept so that what they signed
-- still verifies.  The secret key is readable by the extension's owner only
-- (not granted to any role; row-level security without a policy): in clear
-- (secret_key) without a root key; sealed under the root key
-- (pg_affiliate.root_key_file) with it: nonce || crypto_secretbox of
-- (program id, secret key) under the root key's signing-key subkey, and the
-- fingerprint of the root key (src/secret.c, src/certificate.c).
CREATE TABLE affiliate.signing_key (
    program_id  bigint NOT NULL REFERENCES affiliate.program (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    public_key  bytea NOT NULL CHECK (length(public_key) = 32),
    secret_key  bytea CHECK (length(secret_key) = 64),
    sealed_key  bytea CHECK (length(sealed_key) = 112),
    root_key_id bytea CHECK (length(root_key_id) = 8),
    created_at  timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    PRIMARY KEY (program_id, id),
    CONSTRAINT signing_key_clear_or_sealed CHECK ((secret_key IS NULL) <> (sealed_key IS NULL)),
    CONSTRAINT signing_key_sealed_names_root_key CHECK ((sealed_key IS NULL) = (root_key_id IS NULL)),
    CONSTRAINT signing_key_retired_after_created CHECK (retired_at IS NULL OR retired_at >= created_at)
);
-- one active key per program
CREATE UNIQUE INDEX signing_key_active ON affiliate.signing_key (program_id) WHERE retired_at IS NULL;
COMMENT ON TABLE affiliate.signing_key IS 'Ed25519 keys that sign certificates; one active per program; no role may read it.';
COMMENT ON COLUMN affiliate.signing_key.secret_key IS 'The 64-byte secret key in clear (no root key configured when it was made), or NULL when sealed.';
COMMENT ON COLUMN affiliate.signing_key.sealed_key IS 'The secret key sealed under the root key: 24-byte nonce || crypto_secretbox of (program id, secret key).';
COMMENT ON COLUMN affiliate.signing_key.root_key_id IS 'Fingerprint of the root key that sealed sealed_key.';

-- A certificate: the facts as certified (member_external_id and course_title
-- are copied at issue), the key that signed them and the Ed25519 signature
-- over their canonical text v1 (src/certificate.c, docs/certificates.md).
-- At most one per member and course.  No foreign key to member or course:
-- the facts are what was certified, and verify() checks every signature.
CREATE TABLE affiliate.certificate (
    program_id         bigint NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    number             text NOT NULL CHECK (length(number) BETWEEN 1 AND 20),
    member_id          bigint NOT NULL,
    course_id          bigint NOT NULL,
    member_external_id text NOT NULL,
    course_title       text NOT NULL,
    issued_at          timestamptz NOT NULL,
    key_id             bigint NOT NULL,
    signature          bytea NOT NULL CHECK (length(signature) = 64),
    revoked_at         timestamptz,
    revoke_reason      text CHECK (length(revoke_reason) BETWEEN 1 AND 2000),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, number),
    UNIQUE (program_id, member_id, course_id),
    FOREIGN KEY (program_id, key_id) REFERENCES affiliate.signing_key (program_id, id),
    CONSTRAINT certificate_revoked_with_reason CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
COMMENT ON TABLE affiliate.certificate IS 'Course certificates, signed with the program''s Ed25519 key; verify with verify_certificate().';

-- a new program gets its signing key (not for rows a restore loads with COPY)
CREATE FUNCTION affiliate.program_signing_key() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'program_signing_key';
CREATE TRIGGER program_signing_key
    AFTER INSERT ON affiliate.program
    FOR EACH ROW EXECUTE FUNCTION affiliate.program_signing_key();

CREATE FUNCTION affiliate.rotate_signing_key(program_id bigint) RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'rotate_signing_key';
COMMENT ON FUNCTION affiliate.rotate_signing_key(bigint) IS
    'Retire the program''s signing key and make a new one (sealed with a root key); old certificates still verify; audited; returns the new key id.';

CREATE FUNCTION affiliate.certificate_public_key(program_id bigint)
    RETURNS TABLE (key_id bigint, algorithm text, public_key bytea, public_key_base64 text,
                   created_at timestamptz, retired_at timestamptz)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'certificate_public_key';
COMMENT ON FUNCTION affiliate.certificate_public_key(bigint) IS
    'The program''s Ed25519 public keys (every key, oldest first; retired ones too), for verifying certificates offline.';

CREATE FUNCTION affiliate.verify_certificate(program_id bigint, number text)
    RETURNS TABLE (valid boolean, status text, number text, member_external_id text, course_title text,
                   issued_at timestamptz, key_id bigint, revoked_at timestamptz, revoke_reason text)
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'verify_certificate';
COMMENT ON FUNCTION affiliate.verify_certificate(bigint, text) IS
    'Check a certificate''s signature against the stored facts: valid, revoked, invalid (altered; no facts shown) or not_found.';

CREATE FUNCTION affiliate.certificate_text(program_id bigint, number text) RETURNS text
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'certificate_text';
COMMENT ON FUNCTION affiliate.certificate_text(bigint, text) IS
    'The canonical text v1 of a certificate (what its signature covers), for verification without the database.';

CREATE FUNCTION affiliate.revoke_certificate(program_id bigint, number text, reason text)
    RETURNS timestamptz
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'revoke_certificate';
COMMENT ON FUNCTION affiliate.revoke_certificate(bigint, text, text) IS
    'Revoke a certificate (reason 1-2000 bytes); audited; 55000 when already revoked; returns when.';

-- a completed topic or a passed assessment that completes the course issues
-- the member's certificate, once, in the same transaction (not for rows a
-- restore loads with COPY)
CREATE FUNCTION affiliate.course_certificate() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'course_certificate';
CREATE TRIGGER topic_progress_certificate
    AFTER INSERT OR UPDATE ON affiliate.topic_progress
    FOR EACH ROW EXECUTE FUNCTION affiliate.course_certificate();
CREATE TRIGGER assessment_certificate
    AFTER INSERT OR UPDATE ON affiliate.assessment
    FOR EACH ROW EXECUTE FUNCTION affiliate.course_certificate();

-- ---------------------------------------------------------------------------
-- Loyalty points (src/loyalty.c, docs/loyalty.md).  Points are ledger
-- postings in asset POINTS on the member account kind loyalty_points; each
-- award is a lot with an expiry and an optional pending period, consumed
-- soonest-expiring first.  verify() checks that a member's lot remainders
-- sum to their loyalty_points balance.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.points_rule (
    program_id  bigint NOT NULL,
    event       text NOT NULL CHECK (event IN ('bill', 'signup', 'referral_converted', 'course_completed', 'birthday')),
    points      bigint NOT NULL CHECK (points BETWEEN 0 AND 1000000000),
    per_amount  bigint NOT NULL DEFAULT 1 CHECK (per_amount BETWEEN 1 AND 1000000000000000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, event)
);
COMMENT ON TABLE affiliate.points_rule IS 'Earning rules: points per event; for bills points per per_amount minor units (times the member''s multiplier).';

CREATE TABLE affiliate.points_policy (
    program_id    bigint PRIMARY KEY,
    lot_lifetime  interval NOT NULL CHECK (lot_lifetime > interval '0'),
    pending_days  integer NOT NULL CHECK (pending_days BETWEEN 0 AND 365),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE affiliate.points_policy IS 'Per program: the lifetime of a lot (default 12 months) and the days before bill points are usable (default 0).';

CREATE TABLE affiliate.points_lot (
    program_id      bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    member_id       bigint NOT NULL,
    points          bigint NOT NULL CHECK (points > 0),
    remaining       bigint NOT NULL CHECK (remaining >= 0),
    expired_points  bigint NOT NULL DEFAULT 0 CHECK (expired_points >= 0),
    expires_at      timestamptz,
    usable_from     timestamptz NOT NULL,
    source_ref      text,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, source_ref),
    CHECK (remaining + expired_points <= points)
);
CREATE INDEX points_lot_member ON affiliate.points_lot (program_id, member_id, expires_at) WHERE remaining > 0;
CREATE INDEX points_lot_due ON affiliate.points_lot (expires_at) WHERE remaining > 0;
COMMENT ON TABLE affiliate.points_lot IS 'Points awarded: a lot per award or bill, consumed soonest-expiring first; remainders sum to the member''s loyalty_points balance.';

CREATE TABLE affiliate.points_bill (
    program_id       bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    external_ref     text NOT NULL,
    member_id        bigint NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    occurred_at      timestamptz NOT NULL,
    points           bigint NOT NULL CHECK (points >= 0),
    lot_id           bigint,
    refunded_amount  bigint NOT NULL DEFAULT 0 CHECK (refunded_amount BETWEEN 0 AND amount),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- why the bill earned nothing although a rule applied: 'member_blocked'
    withheld         text CHECK (withheld = 'member_blocked'),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, external_ref),
    FOREIGN KEY (program_id, lot_id) REFERENCES affiliate.points_lot (program_id, id)
);
COMMENT ON TABLE affiliate.points_bill IS 'Bills that earned points (record_bill), one per external_ref.';

CREATE TABLE affiliate.points_bill_refund (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    bill_id     bigint NOT NULL,
    refund_ref  text,
    amount      bigint NOT NULL CHECK (amount > 0),
    points      bigint NOT NULL CHECK (points >= 0),
    taken       bigint NOT NULL CHECK (taken >= 0),
    shortfall   bigint NOT NULL CHECK (shortfall >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, refund_ref),
    FOREIGN KEY (program_id, bill_id) REFERENCES affiliate.points_bill (program_id, id),
    CHECK (taken + shortfall = points)
);
COMMENT ON TABLE affiliate.points_bill_refund IS 'Bill refunds: the points due back, those taken and the shortfall the member''s balance could not cover.';

CREATE TABLE affiliate.points_deduction (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   bigint NOT NULL,
    points      bigint NOT NULL CHECK (points > 0),
    reason      text NOT NULL,
    source_ref  text,
    journal_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, source_ref)
);
COMMENT ON TABLE affiliate.points_deduction IS 'Points deducted by an admin (deduct_points), one per source_ref.';

CREATE FUNCTION affiliate.set_points_rule(program_id bigint, event text, points bigint, per_amount bigint DEFAULT 1)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_points_rule';
COMMENT ON FUNCTION affiliate.set_points_rule(bigint, text, bigint, bigint) IS
    'Admin: points per event (bill: per per_amount minor units); 0 turns a rule off; audited.';

CREATE FUNCTION affiliate.set_points_policy(program_id bigint, lot_lifetime interval, pending_days integer DEFAULT 0)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_points_policy';
COMMENT ON FUNCTION affiliate.set_points_policy(bigint, interval, integer) IS
    'Admin: the lifetime of new lots and the pending days of bill points; audited.';

CREATE FUNCTION affiliate.record_bill(program_id bigint, external_ref text, member_id bigint, amount bigint,
                                      occurred_at timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'record_bill';
COMMENT ON FUNCTION affiliate.record_bill(bigint, text, bigint, bigint, timestamptz) IS
    'Points for a bill (a lot); idempotent on external_ref; returns the points earned.';

CREATE FUNCTION affiliate.refund_bill(program_id bigint, external_ref text, amount bigint DEFAULT NULL,
                                      refund_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'refund_bill';
COMMENT ON FUNCTION affiliate.refund_bill(bigint, text, bigint, text) IS
    'Take a bill''s points back in proportion (all of what is left when amount is NULL); a shortfall is recorded; returns the points taken.';

CREATE FUNCTION affiliate.award_points(program_id bigint, member_id bigint, points bigint, reason text,
                                       expires_at timestamptz DEFAULT NULL, source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'award_points';
COMMENT ON FUNCTION affiliate.award_points(bigint, bigint, bigint, text, timestamptz, text) IS
    'Admin: award points as a lot usable at once; idempotent on source_ref; audited; returns the lot id.';

CREATE FUNCTION affiliate.deduct_points(program_id bigint, member_id bigint, points bigint, reason text,
                                        source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'deduct_points';
COMMENT ON FUNCTION affiliate.deduct_points(bigint, bigint, bigint, text, text) IS
    'Admin: take usable points, soonest-expiring lots first (23514 when too few); idempotent on source_ref; audited; returns the deduction id.';

CREATE FUNCTION affiliate.expire_points(as_of timestamptz DEFAULT now(), batch_size integer DEFAULT 10000,
                                        program_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'expire_points';
COMMENT ON FUNCTION affiliate.expire_points(timestamptz, integer, bigint) IS
    'Job: retire what is left of lots expired by as_of (up to batch_size members, busy ones skipped; one program or all); returns how many lots.';

CREATE PROCEDURE affiliate.expire_all_points(batch_size integer DEFAULT 10000)
    LANGUAGE plpgsql
AS $$
DECLARE
    n bigint;
BEGIN
    LOOP
        n := affiliate.expire_points(pg_catalog.now(), batch_size);
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE affiliate.expire_all_points(integer) IS
    'Job (pg_cron): retire every expired lot of every program, one committed batch at a time.';

CREATE FUNCTION affiliate.points_balance(program_id bigint, member_id bigint)
    RETURNS TABLE (balance bigint, usable bigint, pending bigint, expiring_30_days bigint, shortfall bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(l.remaining), 0)::bigint,
           coalesce(sum(l.remaining) FILTER (WHERE l.usable_from <= now()
                                               AND (l.expires_at IS NULL OR l.expires_at > now())), 0)::bigint,
           coalesce(sum(l.remaining) FILTER (WHERE l.usable_from > now()
                                               AND (l.expires_at IS NULL OR l.expires_at > now())), 0)::bigint,
           coalesce(sum(l.remaining) FILTER (WHERE l.usable_from <= now() AND l.expires_at > now()
                                               AND l.expires_at <= now() + interval '30 days'), 0)::bigint,
           (SELECT coalesce(sum(r.shortfall), 0)::bigint
              FROM affiliate.points_bill_refund r
              JOIN affiliate.points_bill b ON b.program_id = r.program_id AND b.id = r.bill_id
             WHERE r.program_id = $1 AND b.member_id = $2)
      FROM affiliate.points_lot l
     WHERE l.program_id = $1 AND l.member_id = $2 AND l.remaining > 0
$$;
COMMENT ON FUNCTION affiliate.points_balance(bigint, bigint) IS
    'A member''s points: balance (all lots), usable now, pending, usable and expiring in the next 30 days, and the shortfall of bill refunds.';

-- ---------------------------------------------------------------------------
-- Tiers (src/tier.c, docs/loyalty.md "Tiers").  Ranked tiers per program
-- with a threshold on qualifying points or spend over a rolling window, an
-- earning multiplier and benefits; a member upgrades at once (record_bill),
-- downgrades only by review_tiers() after the grace period; every change in
-- tier_history.  verify() checks that a member's tier is the last history
-- row's.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.tier (
    program_id         bigint NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    name               text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 64),
    rank               integer NOT NULL CHECK (rank BETWEEN 0 AND 1000),
    threshold          bigint NOT NULL CHECK (threshold BETWEEN 0 AND 1000000000000000),
    basis              text NOT NULL CHECK (basis IN ('points', 'spend')),
    qualifying_window  interval NOT NULL CHECK (qualifying_window > interval '0'),
    multiplier_bp      integer NOT NULL CHECK (multiplier_bp BETWEEN 0 AND 1000000),
    benefits           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(benefits) = 'object'),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, name),
    UNIQUE (program_id, rank)
);
COMMENT ON TABLE affiliate.tier IS 'Loyalty tiers: rank, threshold on qualifying points or spend over a rolling window, earning multiplier (basis points), benefits.';

CREATE TABLE affiliate.tier_policy (
    program_id    bigint PRIMARY KEY,
    grace_period  interval NOT NULL CHECK (grace_period >= interval '0'),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE affiliate.tier_policy IS 'Per program: the grace period before review_tiers() may downgrade a member who stopped qualifying (default 30 days).';

CREATE TABLE affiliate.tier_member (
    program_id  bigint NOT NULL,
    member_id   bigint NOT NULL,
    tier_id     bigint,
    since       timestamptz NOT NULL,
    PRIMARY KEY (program_id, member_id),
    FOREIGN KEY (program_id, tier_id) REFERENCES affiliate.tier (program_id, id)
);
COMMENT ON TABLE affiliate.tier_member IS 'A member''s current tier (NULL: none) and since when.';

CREATE TABLE affiliate.tier_history (
    program_id        bigint NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    member_id         bigint NOT NULL,
    from_tier_id      bigint,
    to_tier_id        bigint,
    reason            text NOT NULL CHECK (reason IN ('upgrade', 'downgrade', 'manual')),
    at                timestamptz NOT NULL,
    qualifying_value  bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id)
);
CREATE INDEX tier_history_member ON affiliate.tier_history (program_id, member_id, id);
COMMENT ON TABLE affiliate.tier_history IS 'Every tier change of a member, with its reason (upgrade, downgrade, manual).';

CREATE FUNCTION affiliate.set_tier(program_id bigint, name text, rank integer, threshold bigint, basis text,
                                   qualifying_window interval, multiplier_bp integer DEFAULT 10000,
                                   benefits jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_tier';
COMMENT ON FUNCTION affiliate.set_tier(bigint, text, integer, bigint, text, interval, integer, jsonb) IS
    'Admin: create or change a tier by name; audited; returns the tier id.';

CREATE FUNCTION affiliate.set_tier_policy(program_id bigint, grace_period interval)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_tier_policy';
COMMENT ON FUNCTION affiliate.set_tier_policy(bigint, interval) IS
    'Admin: the grace period before a downgrade; audited.';

CREATE FUNCTION affiliate.set_member_tier(program_id bigint, member_id bigint, tier text)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_member_tier';
COMMENT ON FUNCTION affiliate.set_member_tier(bigint, bigint, text) IS
    'Admin: put a member in a tier (history reason manual); audited.';

CREATE FUNCTION affiliate.review_tiers(as_of timestamptz DEFAULT now(), program_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'review_tiers';
COMMENT ON FUNCTION affiliate.review_tiers(timestamptz, bigint) IS
    'Job: upgrades not yet made and downgrades due after the grace period (one program or all); returns how many members changed tier.';

CREATE FUNCTION affiliate.member_tier(program_id bigint, member_id bigint,
                                      OUT tier text, OUT rank integer, OUT multiplier_bp integer,
                                      OUT benefits jsonb, OUT since timestamptz, OUT next_tier text,
                                      OUT next_basis text, OUT qualifying_value bigint,
                                      OUT next_threshold bigint, OUT downgrade_possible_at timestamptz)
    RETURNS record
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'member_tier';
COMMENT ON FUNCTION affiliate.member_tier(bigint, bigint) IS
    'A member''s tier, progress to the next (qualifying value and threshold) and the earliest possible downgrade.';

-- Rewards (issue 9 §3; src/reward.c, docs/loyalty.md#rewards).  A catalog of
-- rewards priced in points, with an optional stock, validity window and
-- per-member limit; redeem_reward consumes the member's points
-- soonest-expiring first and posts them to the system account
-- loyalty_redeemed.  The reward row is locked FOR UPDATE and its stock
-- decremented in the same transaction, the member's loyalty_points account
-- is locked before the per-member count: stock and limits hold under any
-- concurrency.  verify() checks redemptions against loyalty_redeemed.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.reward (
    program_id        bigint NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    name              text NOT NULL,
    cost_points       bigint NOT NULL CHECK (cost_points BETWEEN 1 AND 1000000000000000),
    stock             bigint CHECK (stock BETWEEN 0 AND 1000000000000000),
    valid_from        timestamptz,
    valid_until       timestamptz,
    per_member_limit  integer CHECK (per_member_limit BETWEEN 1 AND 1000000),
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, name),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_until > valid_from)
);
COMMENT ON TABLE affiliate.reward IS 'Rewards priced in points: stock (NULL unlimited, never negative), validity window, per-member limit (NULL unlimited).';

CREATE TABLE affiliate.reward_redemption (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    reward_id    bigint NOT NULL,
    member_id    bigint NOT NULL,
    points       bigint NOT NULL CHECK (points > 0),
    request_ref  text NOT NULL,
    journal_id   bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, request_ref),
    FOREIGN KEY (program_id, reward_id) REFERENCES affiliate.reward (program_id, id)
);
CREATE INDEX reward_redemption_member ON affiliate.reward_redemption (program_id, member_id, reward_id);
COMMENT ON TABLE affiliate.reward_redemption IS 'Rewards redeemed (redeem_reward), one per request_ref; points went to loyalty_redeemed.';

CREATE FUNCTION affiliate.add_reward(program_id bigint, name text, cost_points bigint, stock bigint DEFAULT NULL,
                                     valid_from timestamptz DEFAULT NULL, valid_until timestamptz DEFAULT NULL,
                                     per_member_limit integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'add_reward';
COMMENT ON FUNCTION affiliate.add_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer) IS
    'Admin: a new reward (active); stock and per_member_limit NULL are unlimited; audited; returns the reward id.';

CREATE FUNCTION affiliate.set_reward(program_id bigint, reward_id bigint, name text, cost_points bigint,
                                     stock bigint DEFAULT NULL, valid_from timestamptz DEFAULT NULL,
                                     valid_until timestamptz DEFAULT NULL, per_member_limit integer DEFAULT NULL,
                                     active boolean DEFAULT true)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_reward';
COMMENT ON FUNCTION affiliate.set_reward(bigint, bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean) IS
    'Admin: replace every attribute of a reward (the row locked); audited.';

CREATE FUNCTION affiliate.redeem_reward(program_id bigint, member_id bigint, reward_id bigint, request_ref text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'redeem_reward';
COMMENT ON FUNCTION affiliate.redeem_reward(bigint, bigint, bigint, text) IS
    'Redeem a reward with usable points, soonest-expiring first; stock and per-member limit enforced under locks; idempotent on request_ref; returns the redemption id.';

ALTER TABLE affiliate.reward ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.reward_redemption ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.reward FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.reward_redemption FOR SELECT TO affiliate_operator USING (true);

SELECT pg_catalog.pg_extension_config_dump('affiliate.reward', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.reward_redemption', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.reward_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.reward_redemption_id_seq', '');

REVOKE ALL ON affiliate.reward, affiliate.reward_redemption FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.reward_id_seq, affiliate.reward_redemption_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.add_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer),
    affiliate.set_reward(bigint, bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean),
    affiliate.redeem_reward(bigint, bigint, bigint, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.add_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer),
    affiliate.set_reward(bigint, bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean),
    affiliate.redeem_reward(bigint, bigint, bigint, text)
TO affiliate_operator;
GRANT SELECT ON affiliate.reward, affiliate.reward_redemption TO affiliate_operator;

-- ---------------------------------------------------------------------------
-- Notifications (issue 10 §3; src/notify.c, src/template.c,
-- docs/notifications.md).  Templates per program, event and channel with
-- {{var}} placeholders checked against the event's variables when saved;
-- the engines' events render every template of the event into outbox rows in
-- their own transaction (NOTIFY affiliate_outbox); senders outside the
-- database claim the rows (FOR UPDATE SKIP LOCKED, with a lease), then mark
-- them sent or failed (exponential back-off, at most 8 attempts).  in_app
-- rows are the members' inbox: delivered when written.  Birthdays of members
-- and their children are queued once per person and year by a daily job,
-- which also awards the points of the 'birthday' points rule.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.notification_template (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    event       text NOT NULL CHECK (event IN ('commission_earned', 'commission_released', 'referral_joined',
                                               'payout_approved', 'payout_paid', 'payout_rejected', 'tier_changed',
                                               'badge_earned', 'certificate_issued', 'points_expiring', 'birthday')),
    channel     text NOT NULL CHECK (channel IN ('in_app', 'email', 'whatsapp', 'sms')),
    subject     text CHECK (octet_length(subject) BETWEEN 1 AND 200),
    body        text NOT NULL CHECK (octet_length(body) BETWEEN 1 AND 2000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, event, channel),
    CHECK (channel IN ('email', 'in_app') OR subject IS NULL),
    CHECK (channel <> 'email' OR subject IS NOT NULL)
);
COMMENT ON TABLE affiliate.notification_template IS 'Message templates per program, event and channel: {{var}} placeholders from the event''s variables (checked when saved).';

CREATE TABLE affiliate.outbox (
    program_id       bigint NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    member_id        bigint NOT NULL,
    event            text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('in_app', 'email', 'whatsapp', 'sms')),
    subject          text,
    body             text NOT NULL,
    payload          jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    read_at          timestamptz,
    PRIMARY KEY (program_id, id),
    CHECK (read_at IS NULL OR channel = 'in_app'),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX outbox_due ON affiliate.outbox (channel, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_inbox ON affiliate.outbox (program_id, member_id, id) WHERE channel = 'in_app';
COMMENT ON TABLE affiliate.outbox IS 'Rendered messages: pending -> sent | failed for the senders; in_app rows are the members'' inbox (sent when written).';

CREATE TABLE affiliate.member_child (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   bigint NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    birth_date  date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id)
);
CREATE INDEX member_child_member ON affiliate.member_child (program_id, member_id);
COMMENT ON TABLE affiliate.member_child IS 'A member''s children (name, birth date) for birthday messages.';

CREATE TABLE affiliate.birthday_sent (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   bigint NOT NULL,
    child_id    bigint,                              -- NULL: the member's own birthday
    year        integer NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE NULLS NOT DISTINCT (program_id, member_id, child_id, year),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id)
);
COMMENT ON TABLE affiliate.birthday_sent IS 'Birthdays celebrated (queue_birthdays): once per program, person and year.';

CREATE TABLE affiliate.points_expiry_notice (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    lot_id      bigint NOT NULL,
    member_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, lot_id),
    FOREIGN KEY (program_id, lot_id) REFERENCES affiliate.points_lot (program_id, id)
);
COMMENT ON TABLE affiliate.points_expiry_notice IS 'Points lots whose coming expiry was announced (queue_points_expiring): once per lot.';

CREATE FUNCTION affiliate.set_template(program_id bigint, event text, channel text, subject text, body text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_template';
COMMENT ON FUNCTION affiliate.set_template(bigint, text, text, text, text) IS
    'Admin: create or replace the template of an event and channel; placeholders checked against the event''s variables (22023); audited; returns the template id.';

CREATE FUNCTION affiliate.remove_template(program_id bigint, event text, channel text)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'remove_template';
COMMENT ON FUNCTION affiliate.remove_template(bigint, text, text) IS
    'Admin: remove the template of an event and channel (the event then sends nothing on that channel); audited.';

CREATE FUNCTION affiliate.claim_outbox(channel text, max_rows integer, lease interval DEFAULT '5 minutes',
                                       program_id bigint DEFAULT NULL)
    RETURNS TABLE (program_id bigint, id bigint, member_id bigint, member_external_id text, event text,
                   subject text, body text, payload jsonb, attempts integer)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'claim_outbox';
COMMENT ON FUNCTION affiliate.claim_outbox(text, integer, interval, bigint) IS
    'Sender workers, every program (or one): claim up to max_rows due pending messages of a channel (FOR UPDATE SKIP LOCKED); a claim is a lease, unmarked rows come back after it.';

CREATE FUNCTION affiliate.mark_sent(program_id bigint, id bigint)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mark_sent';
COMMENT ON FUNCTION affiliate.mark_sent(bigint, bigint) IS
    'Sender workers: a claimed message was delivered (again: no change).';

CREATE FUNCTION affiliate.mark_failed(program_id bigint, id bigint, error text, retry boolean DEFAULT true)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mark_failed';
COMMENT ON FUNCTION affiliate.mark_failed(bigint, bigint, text, boolean) IS
    'Sender workers: a claimed message failed; retried after 1, 2, 4, ... minutes up to 8 attempts (or never with retry false), then failed; returns the new status.';

CREATE FUNCTION affiliate.notifications(program_id bigint, member_id bigint, unread_only boolean DEFAULT false)
    RETURNS TABLE (id bigint, event text, subject text, body text, payload jsonb, created_at timestamptz,
                   read_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF notifications.program_id IS NULL OR notifications.member_id IS NULL OR unread_only IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id, member_id and unread_only must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.member m
                    WHERE m.program_id = notifications.program_id AND m.id = notifications.member_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('member %s does not exist in program %s', notifications.member_id, notifications.program_id);
    END IF;
    RETURN QUERY
    SELECT o.id, o.event, o.subject, o.body, o.payload, o.created_at, o.read_at
      FROM affiliate.outbox o
     WHERE o.program_id = notifications.program_id AND o.member_id = notifications.member_id
       AND o.channel = 'in_app' AND (NOT unread_only OR o.read_at IS NULL)
     ORDER BY o.id DESC;
END
$$;
COMMENT ON FUNCTION affiliate.notifications(bigint, bigint, boolean) IS
    'A member''s in-app inbox, newest first (unread_only: only those not marked read).';

CREATE FUNCTION affiliate.unread_count(program_id bigint, member_id bigint)
    RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF unread_count.program_id IS NULL OR unread_count.member_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id and member_id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.member m
                    WHERE m.program_id = unread_count.program_id AND m.id = unread_count.member_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('member %s does not exist in program %s', unread_count.member_id, unread_count.program_id);
    END IF;
    RETURN (SELECT count(*) FROM affiliate.outbox o
             WHERE o.program_id = unread_count.program_id AND o.member_id = unread_count.member_id
               AND o.channel = 'in_app' AND o.read_at IS NULL);
END
$$;
COMMENT ON FUNCTION affiliate.unread_count(bigint, bigint) IS 'How many of a member''s in-app notifications are unread.';

CREATE FUNCTION affiliate.mark_read(program_id bigint, member_id bigint, ids bigint[])
    RETURNS integer
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mark_read';
COMMENT ON FUNCTION affiliate.mark_read(bigint, bigint, bigint[]) IS
    'Mark a member''s in-app notifications read (every id must be theirs: P0002 otherwise, nothing changes); returns how many were unread.';

CREATE FUNCTION affiliate.add_member_child(program_id bigint, member_id bigint, name text, birth_date date)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'add_member_child';
COMMENT ON FUNCTION affiliate.add_member_child(bigint, bigint, text, date) IS
    'Add a child (name, birth date) to a member, for birthday messages; at most 20 per member; returns the child id.';

CREATE FUNCTION affiliate.remove_member_child(program_id bigint, member_id bigint, child_id bigint)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'remove_member_child';
COMMENT ON FUNCTION affiliate.remove_member_child(bigint, bigint, bigint) IS
    'Remove a member''s child (P0002 when the member has no such child).';

CREATE FUNCTION affiliate.member_children(program_id bigint, member_id bigint)
    RETURNS TABLE (id bigint, name text, birth_date date, created_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF member_children.program_id IS NULL OR member_children.member_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'program_id and member_id must not be null';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.member m
                    WHERE m.program_id = member_children.program_id AND m.id = member_children.member_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('member %s does not exist in program %s', member_children.member_id, member_children.program_id);
    END IF;
    RETURN QUERY
    SELECT c.id, c.name, c.birth_date, c.created_at
      FROM affiliate.member_child c
     WHERE c.program_id = member_children.program_id AND c.member_id = member_children.member_id
     ORDER BY c.id;
END
$$;
COMMENT ON FUNCTION affiliate.member_children(bigint, bigint) IS 'A member''s children, in the order they were added.';

CREATE FUNCTION affiliate.queue_birthdays(as_of date DEFAULT CURRENT_DATE, program_id bigint DEFAULT NULL)
    RETURNS integer
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'queue_birthdays';
COMMENT ON FUNCTION affiliate.queue_birthdays(date, bigint) IS
    'Daily job: birthday messages for the active members and their children born on as_of''s day (29 February: 28 February in other years), once per person and year, and the member''s birthday points; returns the birthdays queued.';

CREATE FUNCTION affiliate.queue_points_expiring(as_of timestamptz DEFAULT now(), days integer DEFAULT 7,
                                                program_id bigint DEFAULT NULL)
    RETURNS integer
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'queue_points_expiring';
COMMENT ON FUNCTION affiliate.queue_points_expiring(timestamptz, integer, bigint) IS
    'Daily job: a points_expiring message for every lot with points left that expires within days of as_of, once per lot (programs with a points_expiring template only); returns the lots announced.';

ALTER TABLE affiliate.notification_template ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.member_child ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.birthday_sent ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_expiry_notice ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.notification_template FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.outbox FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.member_child FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.birthday_sent FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_expiry_notice FOR SELECT TO affiliate_operator USING (true);

SELECT pg_catalog.pg_extension_config_dump('affiliate.notification_template', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member_child', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.birthday_sent', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_expiry_notice', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.notification_template_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.outbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member_child_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.birthday_sent_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_expiry_notice_id_seq', '');

REVOKE ALL ON affiliate.notification_template, affiliate.outbox, affiliate.member_child, affiliate.birthday_sent,
    affiliate.points_expiry_notice FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.notification_template_id_seq, affiliate.outbox_id_seq, affiliate.member_child_id_seq,
    affiliate.birthday_sent_id_seq, affiliate.points_expiry_notice_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.set_template(bigint, text, text, text, text),
    affiliate.remove_template(bigint, text, text),
    affiliate.claim_outbox(text, integer, interval, bigint),
    affiliate.mark_sent(bigint, bigint),
    affiliate.mark_failed(bigint, bigint, text, boolean),
    affiliate.notifications(bigint, bigint, boolean),
    affiliate.unread_count(bigint, bigint),
    affiliate.mark_read(bigint, bigint, bigint[]),
    affiliate.add_member_child(bigint, bigint, text, date),
    affiliate.remove_member_child(bigint, bigint, bigint),
    affiliate.member_children(bigint, bigint),
    affiliate.queue_birthdays(date, bigint),
    affiliate.queue_points_expiring(timestamptz, integer, bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.set_template(bigint, text, text, text, text),
    affiliate.remove_template(bigint, text, text),
    affiliate.claim_outbox(text, integer, interval, bigint),
    affiliate.mark_sent(bigint, bigint),
    affiliate.mark_failed(bigint, bigint, text, boolean),
    affiliate.notifications(bigint, bigint, boolean),
    affiliate.unread_count(bigint, bigint),
    affiliate.mark_read(bigint, bigint, bigint[]),
    affiliate.add_member_child(bigint, bigint, text, date),
    affiliate.remove_member_child(bigint, bigint, bigint),
    affiliate.member_children(bigint, bigint),
    affiliate.queue_birthdays(date, bigint),
    affiliate.queue_points_expiring(timestamptz, integer, bigint)
TO affiliate_operator;
GRANT SELECT ON affiliate.notification_template, affiliate.outbox, affiliate.member_child, affiliate.birthday_sent,
    affiliate.points_expiry_notice TO affiliate_operator;

-- ---------------------------------------------------------------------------
-- Promo campaigns and promo codes (issue 10 §1; src/campaign.c,
-- docs/campaigns.md).  A campaign has a code (unique per program whatever
-- its case), an offer (percent_off in basis points, amount_off in minor
-- units, credits, trial_days), limits, a window and a status (draft ->
-- scheduled -> active -> completed, plus paused); advance_campaigns() moves
-- campaigns by their dates.  redeem_promo takes a use with guarded updates
-- of two counters, in a fixed lock order (the order_ref's redemption row,
-- the member's promo_member_use row, the campaign row), and is idempotent on
-- order_ref.  Credits are ledger postings in asset CREDITS
-- (promo_credits_issued -> the member's promo_credits) and expire back to
-- promo_credits_expired.  A conversion may carry a promo code
-- (campaign_conversion): the campaign's owner is then its referrer.
-- verify() checks the counters and the CREDITS system accounts.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.campaign (
    program_id          bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    code                text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner_id            bigint,
    offer_type          text NOT NULL CHECK (offer_type IN ('percent_off', 'amount_off', 'credits', 'trial_days')),
    value               bigint NOT NULL CHECK (value BETWEEN 1 AND 1000000000000000),
    total_limit         bigint CHECK (total_limit BETWEEN 1 AND 1000000000000000),
    per_member_limit    integer CHECK (per_member_limit BETWEEN 1 AND 1000000),
    used                bigint NOT NULL DEFAULT 0 CHECK (used >= 0 AND (total_limit IS NULL OR used <= total_limit)),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz,
    credit_expiry       interval CHECK (credit_expiry > interval '0'),
    channel             text CHECK (length(channel) BETWEEN 1 AND 64),
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'completed')),
    template_id         bigint,
    personal_member_id  bigint,
    source_ref          text CHECK (length(source_ref) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, template_id, source_ref),
    FOREIGN KEY (program_id, owner_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, personal_member_id) REFERENCES affiliate.member (program_id, id),
    FOREIGN KEY (program_id, template_id) REFERENCES affiliate.campaign (program_id, id),
    CHECK (ends_at IS NULL OR ends_at > starts_at),
    CHECK (credit_expiry IS NULL OR offer_type = 'credits'),
    CHECK (offer_type <> 'percent_off' OR value <= 10000),
    CHECK (offer_type <> 'trial_days' OR value <= 3650)
);
CREATE UNIQUE INDEX campaign_code ON affiliate.campaign (program_id, lower(code));
CREATE INDEX campaign_open ON affiliate.campaign (status) WHERE status IN ('scheduled', 'active', 'paused');
COMMENT ON TABLE affiliate.campaign IS 'Promo campaigns: a code (unique per program, any case), an offer, limits (NULL unlimited), a window and a status; used counts the redemptions.';

CREATE TABLE affiliate.promo_member_use (
    program_id   bigint NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    campaign_id  bigint NOT NULL,
    member_id    bigint NOT NULL,
    used         integer NOT NULL CHECK (used >= 1),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, campaign_id, member_id)
);
COMMENT ON TABLE affiliate.promo_member_use IS 'How many times a member redeemed a campaign''s code: the per-member limit''s counter, taken by a guarded upsert.';

CREATE TABLE affiliate.promo_redemption (
    program_id          bigint NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    campaign_id         bigint NOT NULL,
    member_id           bigint NOT NULL,
    order_ref           text NOT NULL CHECK (length(order_ref) BETWEEN 1 AND 200),
    order_amount        bigint CHECK (order_amount BETWEEN 0 AND 1000000000000000),
    offer_type          text NOT NULL,
    value               bigint NOT NULL,
    discount            bigint CHECK (discount >= 0),
    credits             bigint NOT NULL DEFAULT 0 CHECK (credits >= 0),
    credits_expire_at   timestamptz,
    credits_expired     bigint NOT NULL DEFAULT 0 CHECK (credits_expired BETWEEN 0 AND credits),
    credits_expired_at  timestamptz,
    trial_days          integer,
    journal_id          bigint,
    redeemed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, order_ref)
);
CREATE INDEX promo_redemption_campaign ON affiliate.promo_redemption (program_id, campaign_id, member_id);
CREATE INDEX promo_redemption_member ON affiliate.promo_redemption (program_id, member_id);
CREATE INDEX promo_redemption_credits_due ON affiliate.promo_redemption (credits_expire_at)
    WHERE credits > 0 AND credits_expired_at IS NULL;
COMMENT ON TABLE affiliate.promo_redemption IS 'Promo codes redeemed (redeem_promo), one per order_ref: the offer, the discount or credits granted and their expiry.';

CREATE TABLE affiliate.campaign_conversion (
    program_id     bigint NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    campaign_id    bigint NOT NULL,
    conversion_id  bigint NOT NULL,
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, conversion_id)
);
CREATE INDEX campaign_conversion_campaign ON affiliate.campaign_conversion (program_id, campaign_id);
COMMENT ON TABLE affiliate.campaign_conversion IS 'Conversions recorded with a promo code (record_conversion promo_code), for attribution and campaign analytics.';

CREATE FUNCTION affiliate.create_campaign(program_id bigint, name text, offer_type text, value bigint,
                                          starts_at timestamptz DEFAULT NULL, ends_at timestamptz DEFAULT NULL,
                                          code text DEFAULT NULL, owner_id bigint DEFAULT NULL,
                                          total_limit bigint DEFAULT NULL, per_member_limit integer DEFAULT NULL,
                                          credit_expiry interval DEFAULT NULL, channel text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'create_campaign';
COMMENT ON FUNCTION affiliate.create_campaign(bigint, text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text) IS
    'Admin: a draft campaign with a vanity code or a generated one; audited; returns the campaign id.';

CREATE FUNCTION affiliate.set_campaign_status(program_id bigint, campaign_id bigint, status text)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_campaign_status';
COMMENT ON FUNCTION affiliate.set_campaign_status(bigint, bigint, text) IS
    'Admin: move a campaign along draft -> scheduled -> active <-> paused -> completed; audited; returns the previous status.';

CREATE FUNCTION affiliate.advance_campaigns(as_of timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'advance_campaigns';
COMMENT ON FUNCTION affiliate.advance_campaigns(timestamptz) IS
    'Job: scheduled campaigns become active at starts_at; active and paused ones completed at ends_at, active ones also when used up. Returns the campaigns moved.';

CREATE FUNCTION affiliate.redeem_promo(program_id bigint, code text, member_id bigint, order_ref text,
                                       order_amount bigint DEFAULT NULL)
    RETURNS TABLE (redemption_id bigint, campaign_id bigint, offer_type text, value bigint, discount bigint,
                   credits bigint, credits_expire_at timestamptz, trial_days integer, replayed boolean)
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'redeem_promo';
COMMENT ON FUNCTION affiliate.redeem_promo(bigint, text, bigint, text, bigint) IS
    'Redeem a promo code for an order: limits taken atomically, credits posted in CREDITS; idempotent on order_ref.';

CREATE FUNCTION affiliate.expire_promo_credits(as_of timestamptz DEFAULT now(), batch_size integer DEFAULT 10000)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'expire_promo_credits';
COMMENT ON FUNCTION affiliate.expire_promo_credits(timestamptz, integer) IS
    'Job: take back the credits of expired grants (at most the member''s balance) to promo_credits_expired. Returns the grants expired.';

CREATE FUNCTION affiliate.issue_promo_code(program_id bigint, campaign_id bigint, member_id bigint, source_ref text)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'issue_promo_code';
COMMENT ON FUNCTION affiliate.issue_promo_code(bigint, bigint, bigint, text) IS
    'A personal single-use code from a template campaign (same offer), active at once; idempotent on source_ref; audited.';

CREATE FUNCTION affiliate.campaign_stats(program_id bigint, campaign_id bigint DEFAULT NULL)
    RETURNS TABLE (campaign_id bigint, code text, name text, channel text, status text, clicks bigint,
                   redemptions bigint, conversions bigint, conversion_rate numeric, revenue bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id, c.code, c.name, c.channel, c.status, coalesce(k.n, 0), coalesce(r.n, 0), coalesce(v.n, 0),
           CASE WHEN coalesce(k.n, 0) > 0 THEN round(coalesce(v.n, 0)::numeric / k.n, 4) END,
           coalesce(v.revenue, 0)
      FROM affiliate.campaign c
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM affiliate.click x
                          WHERE x.program_id = c.program_id AND c.channel IS NOT NULL AND x.channel = c.channel
                            AND x.at >= c.starts_at AND (c.ends_at IS NULL OR x.at < c.ends_at)
                            AND (c.owner_id IS NULL OR x.member_id = c.owner_id)) k ON true
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM affiliate.promo_redemption y
                          WHERE y.program_id = c.program_id AND y.campaign_id = c.id) r ON true
      LEFT JOIN LATERAL (SELECT count(*) AS n, sum(w.amount - w.refunded)::bigint AS revenue
                           FROM affiliate.campaign_conversion z
                           JOIN affiliate.conversion w ON w.program_id = z.program_id AND w.id = z.conversion_id
                          WHERE z.program_id = c.program_id AND z.campaign_id = c.id) v ON true
     WHERE c.program_id = $1 AND ($2 IS NULL OR c.id = $2)
     ORDER BY c.id
$$;
COMMENT ON FUNCTION affiliate.campaign_stats(bigint, bigint) IS
    'Per campaign: clicks (its channel, in its window, through its owner''s links), redemptions, conversions with its code, conversion rate (conversions / clicks) and revenue (amount - refunded).';

CREATE FUNCTION affiliate.campaign_channel_stats(program_id bigint)
    RETURNS TABLE (channel text, campaigns bigint, clicks bigint, redemptions bigint, conversions bigint,
                   conversion_rate numeric, revenue bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.channel, count(*), coalesce(k.n, 0), sum(s.redemptions)::bigint, sum(s.conversions)::bigint,
           CASE WHEN coalesce(k.n, 0) > 0 THEN round(sum(s.conversions)::numeric / k.n, 4) END,
           sum(s.revenue)::bigint
      FROM affiliate.campaign_stats($1) s
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM affiliate.click x
                          WHERE x.program_id = $1 AND x.channel = s.channel) k ON true
     GROUP BY s.channel, k.n
     ORDER BY s.channel NULLS LAST
$$;
COMMENT ON FUNCTION affiliate.campaign_channel_stats(bigint) IS
    'Per channel: campaigns, clicks with that channel, redemptions, conversions and revenue of its campaigns, conversion rate (conversions / clicks).';

ALTER TABLE affiliate.campaign ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.promo_member_use ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.promo_redemption ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.campaign_conversion ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.campaign FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.promo_member_use FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.promo_redemption FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.campaign_conversion FOR SELECT TO affiliate_operator USING (true);

SELECT pg_catalog.pg_extension_config_dump('affiliate.campaign', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.promo_member_use', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.promo_redemption', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.campaign_conversion', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.promo_member_use_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.promo_redemption_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.campaign_conversion_id_seq', '');

REVOKE ALL ON affiliate.campaign, affiliate.promo_member_use, affiliate.promo_redemption,
    affiliate.campaign_conversion FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.campaign_id_seq, affiliate.promo_member_use_id_seq,
    affiliate.promo_redemption_id_seq, affiliate.campaign_conversion_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.create_campaign(bigint, text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text),
    affiliate.set_campaign_status(bigint, bigint, text),
    affiliate.advance_campaigns(timestamptz),
    affiliate.redeem_promo(bigint, text, bigint, text, bigint),
    affiliate.expire_promo_credits(timestamptz, integer),
    affiliate.issue_promo_code(bigint, bigint, bigint, text),
    affiliate.campaign_stats(bigint, bigint),
    affiliate.campaign_channel_stats(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.create_campaign(bigint, text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text),
    affiliate.set_campaign_status(bigint, bigint, text),
    affiliate.advance_campaigns(timestamptz),
    affiliate.redeem_promo(bigint, text, bigint, text, bigint),
    affiliate.expire_promo_credits(timestamptz, integer),
    affiliate.issue_promo_code(bigint, bigint, bigint, text),
    affiliate.campaign_stats(bigint, bigint),
    affiliate.campaign_channel_stats(bigint)
TO affiliate_operator;
GRANT SELECT ON affiliate.campaign, affiliate.promo_member_use, affiliate.promo_redemption,
    affiliate.campaign_conversion TO affiliate_operator;

-- ---------------------------------------------------------------------------
-- Birthday promo codes (issue 10 §3; src/campaign.c, docs/campaigns.md and
-- docs/notifications.md).  A program may name a template campaign
-- (set_birthday_campaign); the daily job queue_birthdays then issues each
-- birthday a personal code from it (issue_promo_code, source_ref
-- 'birthday:<member>:<year>' or 'birthday:child:<child>:<year>'), shown in
-- the message's {{promo_code}}.
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.birthday_policy (
    program_id   bigint PRIMARY KEY REFERENCES affiliate.program (id),
    campaign_id  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (program_id, campaign_id) REFERENCES affiliate.campaign (program_id, id)
);
COMMENT ON TABLE affiliate.birthday_policy IS 'Per program: the template campaign of the personal promo codes of birthdays (no row: none).';

CREATE FUNCTION affiliate.set_birthday_campaign(program_id bigint, campaign_id bigint)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_birthday_campaign';
COMMENT ON FUNCTION affiliate.set_birthday_campaign(bigint, bigint) IS
    'Admin: the template campaign of birthday promo codes (not a personal code, not completed); NULL turns them off; audited.';

ALTER TABLE affiliate.birthday_policy ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.birthday_policy FOR SELECT TO affiliate_operator USING (true);
SELECT pg_catalog.pg_extension_config_dump('affiliate.birthday_policy', '');
REVOKE ALL ON affiliate.birthday_policy FROM PUBLIC;
REVOKE ALL ON FUNCTION affiliate.set_birthday_campaign(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION affiliate.set_birthday_campaign(bigint, bigint) TO affiliate_operator;
GRANT SELECT ON affiliate.birthday_policy TO affiliate_operator;

-- ---------------------------------------------------------------------------
-- Badges, leaderboards and event points (issue 9 §4; src/gamification.c,
-- docs/gamification.md).  The engines report each event in its own
-- transaction: the member's metric (referrals, earnings, points, courses,
-- counter:<name>) moves in the leaderboard rows of the event's day, week and
-- month (UTC) and of all time, with INSERT ... ON CONFLICT DO UPDATE; a
-- positive event awards the badges whose threshold the all-time value
-- reached, once per member and rule.  verify() checks the all-time values
-- against the events and the periods against each other.
-- ---------------------------------------------------------------------------
-- Keyed by what it counts (like tier_member): no surrogate id, whose index
-- and sequence every upsert would write.
CREATE TABLE affiliate.leaderboard_entry (
    program_id    bigint NOT NULL,
    -- checked by the C code (a regular expression per upserted row cost more
    -- than the row); "C" collation: the keys compare as bytes
    metric        text COLLATE "C" NOT NULL,
    period        text COLLATE "C" NOT NULL CHECK (period IN ('day', 'week', 'month', 'all')),
    period_start  timestamptz NOT NULL,
    member_id     bigint NOT NULL,
    value         bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, metric, period, period_start, member_id),
    CHECK ((period = 'all') = (period_start = '-infinity'))
);
CREATE INDEX leaderboard_rank ON affiliate.leaderboard_entry (program_id, metric, period, period_start, value DESC, member_id);
COMMENT ON TABLE affiliate.leaderboard_entry IS 'A member''s value of a metric in one period (day, week, month from period_start UTC; all from -infinity), maintained by the events.';

CREATE TABLE affiliate.badge_rule (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 64),
    metric      text NOT NULL CHECK (metric ~ '^(referrals|earnings|points|courses|counter:[a-z][a-z0-9_]{0,31})$'),
    threshold   bigint NOT NULL CHECK (threshold BETWEEN 1 AND 1000000000000000),
    level       text NOT NULL CHECK (level IN ('bronze', 'silver', 'gold', 'platinum')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, name)
);
CREATE INDEX badge_rule_metric ON affiliate.badge_rule (program_id, metric, threshold) WHERE active;
COMMENT ON TABLE affiliate.badge_rule IS 'Badge rules: a level awarded once when a member''s all-time value of the metric reaches the threshold.';

CREATE TABLE affiliate.member_badge (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   bigint NOT NULL,
    rule_id     bigint NOT NULL,
    value       bigint NOT NULL,
    threshold   bigint NOT NULL,
    awarded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, member_id, rule_id),
    FOREIGN KEY (program_id, rule_id) REFERENCES affiliate.badge_rule (program_id, id),
    CHECK (value >= threshold)
);
COMMENT ON TABLE affiliate.member_badge IS 'Badges awarded, once per member and rule: the all-time value and the rule''s threshold when awarded.';

CREATE TABLE affiliate.counter_increment (
    program_id  bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    member_id   bigint NOT NULL,
    counter     text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    source_ref  text NOT NULL,
    total       bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, source_ref)
);
COMMENT ON TABLE affiliate.counter_increment IS 'Counter increments made with a source_ref (their idempotency key) and the total they returned.';

CREATE FUNCTION affiliate.leaderboard_period_start(period text, at timestamptz)
    RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $1 = 'all' THEN '-infinity'::timestamptz ELSE date_trunc($1, $2, 'UTC') END
$$;
COMMENT ON FUNCTION affiliate.leaderboard_period_start(text, timestamptz) IS
    'The start of the leaderboard period (day, week from Monday, month; UTC) holding at; -infinity for all (immutable: UTC has no rule changes).';

CREATE FUNCTION affiliate.set_badge_rule(program_id bigint, name text, metric text, threshold bigint, level text)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_badge_rule';
COMMENT ON FUNCTION affiliate.set_badge_rule(bigint, text, text, bigint, text) IS
    'Admin: create or change (and reactivate) a badge rule by name; audited; returns the rule id.';

CREATE FUNCTION affiliate.set_badge_rule_active(program_id bigint, name text, active boolean)
    RETURNS void
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'set_badge_rule_active';
COMMENT ON FUNCTION affiliate.set_badge_rule_active(bigint, text, boolean) IS
    'Admin: deactivate (or reactivate) a badge rule; awarded badges stay; audited.';

CREATE FUNCTION affiliate.increment_counter(program_id bigint, member_id bigint, counter text, by bigint DEFAULT 1,
                                            source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'increment_counter';
COMMENT ON FUNCTION affiliate.increment_counter(bigint, bigint, text, bigint, text) IS
    'Add to a member''s usage counter (metric counter:<name>); idempotent on source_ref; returns the all-time total.';

CREATE FUNCTION affiliate.leaderboard(program_id bigint, metric text, period text, at timestamptz DEFAULT now(),
                                      max_rows integer DEFAULT 10)
    RETURNS TABLE (rank bigint, member_id bigint, value bigint, display_name text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    start timestamptz;
BEGIN
    IF leaderboard.program_id IS NULL OR leaderboard.metric IS NULL OR leaderboard.period IS NULL
       OR leaderboard.at IS NULL OR leaderboard.max_rows IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'program_id, metric, period, at and max_rows must not be null';
    END IF;
    IF leaderboard.metric !~ '^(referrals|earnings|points|courses|counter:[a-z][a-z0-9_]{0,31})$' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid metric "%s"', leaderboard.metric),
            HINT = 'A metric is referrals, earnings, points, courses or counter:<name>.';
    END IF;
    IF leaderboard.period NOT IN ('day', 'week', 'month', 'all') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('invalid period "%s"', leaderboard.period),
            HINT = 'A period is day, week, month or all.';
    END IF;
    IF NOT isfinite(leaderboard.at) THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'at must be finite';
    END IF;
    IF leaderboard.max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_rows must be between 1 and 1000';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM affiliate.program g WHERE g.id = leaderboard.program_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = format('program %s does not exist', leaderboard.program_id);
    END IF;
    start := affiliate.leaderboard_period_start(leaderboard.period, leaderboard.at);
    -- the top rows by the index leaderboard_rank, then their names
    RETURN QUERY
    SELECT pg_catalog.rank() OVER (ORDER BY t.value DESC), t.member_id, t.value,
           coalesce(m.display_name, 'Member ' || t.member_id)
      FROM (SELECT e.member_id, e.value FROM affiliate.leaderboard_entry e
             WHERE e.program_id = leaderboard.program_id AND e.metric = leaderboard.metric
               AND e.period = leaderboard.period AND e.period_start = start AND e.value > 0
             ORDER BY e.value DESC, e.member_id
             LIMIT leaderboard.max_rows) t
      JOIN affiliate.member m ON m.program_id = leaderboard.program_id AND m.id = t.member_id
     ORDER BY t.value DESC, t.member_id;
END
$$;
COMMENT ON FUNCTION affiliate.leaderboard(bigint, text, text, timestamptz, integer) IS
    'The top max_rows members of a metric in the period (day, week, month UTC, all) holding at: rank (ties share one), member, value, display name (or "Member <id>").';

CREATE FUNCTION affiliate.member_badges(program_id bigint, member_id bigint)
    RETURNS TABLE (rule_id bigint, name text, level text, metric text, threshold bigint, value bigint,
                   awarded_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.id, r.name, r.level, r.metric, b.threshold, b.value, b.awarded_at
      FROM affiliate.member_badge b
      JOIN affiliate.badge_rule r ON r.program_id = b.program_id AND r.id = b.rule_id
     WHERE b.program_id = $1 AND b.member_id = $2
     ORDER BY b.awarded_at, b.id
$$;
COMMENT ON FUNCTION affiliate.member_badges(bigint, bigint) IS
    'A member''s badges, oldest first: the rule, its level and metric, the threshold and value when awarded.';

ALTER TABLE affiliate.leaderboard_entry ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.badge_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.member_badge ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.counter_increment ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.leaderboard_entry FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.badge_rule FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.member_badge FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.counter_increment FOR SELECT TO affiliate_operator USING (true);

SELECT pg_catalog.pg_extension_config_dump('affiliate.leaderboard_entry', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.badge_rule', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member_badge', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.counter_increment', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.badge_rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member_badge_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.counter_increment_id_seq', '');

REVOKE ALL ON affiliate.leaderboard_entry, affiliate.badge_rule, affiliate.member_badge,
    affiliate.counter_increment FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.badge_rule_id_seq,
    affiliate.member_badge_id_seq, affiliate.counter_increment_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.leaderboard_period_start(text, timestamptz),
    affiliate.set_badge_rule(bigint, text, text, bigint, text),
    affiliate.set_badge_rule_active(bigint, text, boolean),
    affiliate.increment_counter(bigint, bigint, text, bigint, text),
    affiliate.leaderboard(bigint, text, text, timestamptz, integer),
    affiliate.member_badges(bigint, bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.leaderboard_period_start(text, timestamptz),
    affiliate.set_badge_rule(bigint, text, text, bigint, text),
    affiliate.set_badge_rule_active(bigint, text, boolean),
    affiliate.increment_counter(bigint, bigint, text, bigint, text),
    affiliate.leaderboard(bigint, text, text, timestamptz, integer),
    affiliate.member_badges(bigint, bigint)
TO affiliate_operator;
GRANT SELECT ON affiliate.leaderboard_entry, affiliate.badge_rule, affiliate.member_badge,
    affiliate.counter_increment TO affiliate_operator;

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
    -- every posting's journal exists in the posting's program
    SELECT 'posting_journal_exists',
           format('posting %s (program %s) names journal %s, which is not in the program',
                  p.id, p.program_id, p.journal_id)
      FROM affiliate.posting p
     WHERE ($1 IS NULL OR p.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.journal j
                        WHERE j.program_id = p.program_id AND j.id = p.journal_id)
    UNION ALL
    -- every member, account and audit row belongs to an existing program
    SELECT r.invariant, format('%s %s names program %s, which does not exist', r.what, r.id, r.program_id)
      FROM (SELECT 'member_program_exists' AS invariant, 'member' AS what, x.id, x.program_id
              FROM affiliate.member x
            UNION ALL
            SELECT 'account_program_exists', 'account', x.id, x.program_id FROM affiliate.account x
            UNION ALL
            SELECT 'audit_program_exists', 'audit row', x.id, x.program_id FROM affiliate.audit_log x) r
     WHERE ($1 IS NULL OR r.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.program g WHERE g.id = r.program_id)
    UNION ALL
    -- every member account belongs to a member of its program
    SELECT 'account_member_exists',
           format('account %s (program %s) names member %s, who is not in the program',
                  a.id, a.program_id, a.member_id)
      FROM affiliate.account a
     WHERE ($1 IS NULL OR a.program_id = $1) AND a.member_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = a.program_id AND m.id = a.member_id)
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
    -- every commission's conversion is in the program
    SELECT 'commission_conversion_exists',
           format('commission %s (program %s) names conversion %s, which is not in the program',
                  x.id, x.program_id, x.conversion_id)
      FROM affiliate.commission x
     WHERE ($1 IS NULL OR x.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.conversion v
                        WHERE v.program_id = x.program_id AND v.id = x.conversion_id)
    UNION ALL
    -- every conversion's buyer is a member of the program
    SELECT 'conversion_buyer_exists',
           format('conversion %s (program %s) names buyer %s, who is not in the program',
                  v.id, v.program_id, v.buyer_id)
      FROM affiliate.conversion v
     WHERE ($1 IS NULL OR v.program_id = $1)
       AND NOT EXISTS (SELECT 1 FROM affiliate.member m
                        WHERE m.program_id = v.program_id AND m.id = v.buyer_id)
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
    UNION ALL
    -- every certificate's signature checks against the stored facts and the
    -- key it names (revoked certificates too)
    SELECT 'certificate_signature_valid',
           format('certificate %s (program %s, member %s, course %s): %s',
                  c.number, c.program_id, c.member_id, c.course_id,
                  CASE v.status WHEN 'not_found' THEN 'its number is not a certificate number'
                                ELSE 'the signature does not match the stored facts' END)
      FROM affiliate.certificate c
     CROSS JOIN LATERAL affiliate.verify_certificate(c.program_id, c.number) v
     WHERE ($1 IS NULL OR c.program_id = $1)
       AND v.status NOT IN ('valid', 'revoked')
    UNION ALL
    -- a member's lot remainders sum to their loyalty_points balance
    SELECT 'points_lots_match_ledger',
           format('member %s (program %s): lots hold %s points, the ledger %s',
                  coalesce(b.member_id, l.member_id), coalesce(b.program_id, l.program_id),
                  coalesce(l.remaining, 0), coalesce(b.balance, 0))
      FROM (SELECT x.program_id, x.member_id, x.balance FROM affiliate.account_balances x
             WHERE x.kind = 'loyalty_points' AND x.asset = 'POINTS' AND x.member_id IS NOT NULL
               AND ($1 IS NULL OR x.program_id = $1)) b
      FULL JOIN (SELECT y.program_id, y.member_id, sum(y.remaining)::bigint AS remaining
                   FROM affiliate.points_lot y
                  WHERE ($1 IS NULL OR y.program_id = $1)
                  GROUP BY y.program_id, y.member_id) l
        ON l.program_id = b.program_id AND l.member_id = b.member_id
     WHERE coalesce(l.remaining, 0) <> coalesce(b.balance, 0)
    UNION ALL
    -- a member's tier is the one their last tier_history row moved them to
    SELECT 'tier_matches_history',
           format('member %s (program %s): tier %s, the last tier_history row says %s',
                  s.member_id, s.program_id, coalesce(s.tier_id::text, 'none'), coalesce(h.to_tier_id::text, 'none'))
      FROM affiliate.tier_member s
      LEFT JOIN LATERAL (SELECT y.to_tier_id FROM affiliate.tier_history y
                          WHERE y.program_id = s.program_id AND y.member_id = s.member_id
                          ORDER BY y.id DESC LIMIT 1) h ON true
     WHERE ($1 IS NULL OR s.program_id = $1)
       AND s.tier_id IS DISTINCT FROM h.to_tier_id
    UNION ALL
    -- redeemed rewards' points equal what went to loyalty_redeemed
    SELECT 'rewards_match_ledger',
           format('program %s: redemptions %s points, loyalty_redeemed %s',
                  coalesce(b.program_id, r.program_id), coalesce(r.points, 0), coalesce(b.balance, 0))
      FROM (SELECT x.program_id, sum(x.balance)::bigint AS balance FROM affiliate.account_balances x
             WHERE x.kind = 'loyalty_redeemed' AND x.asset = 'POINTS' AND x.member_id IS NULL
               AND ($1 IS NULL OR x.program_id = $1)
             GROUP BY x.program_id) b
      FULL JOIN (SELECT y.program_id, sum(y.points)::bigint AS points
                   FROM affiliate.reward_redemption y
                  WHERE ($1 IS NULL OR y.program_id = $1)
                  GROUP BY y.program_id) r
        ON r.program_id = b.program_id
     WHERE coalesce(r.points, 0) <> coalesce(b.balance, 0)
    UNION ALL
    -- a campaign's used counter is its number of redemptions
    SELECT 'campaign_used_matches_redemptions',
           format('campaign %s (program %s): used %s, redemptions %s', c.id, c.program_id, c.used, coalesce(r.n, 0))
      FROM affiliate.campaign c
      LEFT JOIN (SELECT y.program_id, y.campaign_id, count(*) AS n FROM affiliate.promo_redemption y
                  WHERE ($1 IS NULL OR y.program_id = $1)
                  GROUP BY y.program_id, y.campaign_id) r
        ON r.program_id = c.program_id AND r.campaign_id = c.id
     WHERE ($1 IS NULL OR c.program_id = $1) AND c.used <> coalesce(r.n, 0)
    UNION ALL
    -- a member's counter of a campaign is their number of its redemptions
    SELECT 'promo_member_use_matches_redemptions',
           format('member %s, campaign %s (program %s): counter %s, redemptions %s',
                  coalesce(u.member_id, r.member_id), coalesce(u.campaign_id, r.campaign_id),
                  coalesce(u.program_id, r.program_id), coalesce(u.used, 0), coalesce(r.n, 0))
      FROM (SELECT x.program_id, x.campaign_id, x.member_id, x.used FROM affiliate.promo_member_use x
             WHERE ($1 IS NULL OR x.program_id = $1)) u
      FULL JOIN (SELECT y.program_id, y.campaign_id, y.member_id, count(*) AS n FROM affiliate.promo_redemption y
                  WHERE ($1 IS NULL OR y.program_id = $1)
                  GROUP BY y.program_id, y.campaign_id, y.member_id) r
        ON r.program_id = u.program_id AND r.campaign_id = u.campaign_id AND r.member_id = u.member_id
     WHERE coalesce(u.used, 0) <> coalesce(r.n, 0)
    UNION ALL
    -- credits granted and expired equal what promo_credits_issued and
    -- promo_credits_expired (asset CREDITS) hold
    SELECT 'promo_credits_match_ledger',
           format('program %s: granted %s, promo_credits_issued %s; expired %s, promo_credits_expired %s',
                  coalesce(r.program_id, b.program_id), coalesce(r.granted, 0), coalesce(b.issued, 0),
                  coalesce(r.expired, 0), coalesce(b.expired, 0))
      FROM (SELECT y.program_id, sum(y.credits)::bigint AS granted, sum(y.credits_expired)::bigint AS expired
              FROM affiliate.promo_redemption y
             WHERE ($1 IS NULL OR y.program_id = $1)
             GROUP BY y.program_id) r
      FULL JOIN (SELECT x.program_id,
                        coalesce(sum(x.balance) FILTER (WHERE x.kind = 'promo_credits_issued'), 0)::bigint AS issued,
                        coalesce(sum(x.balance) FILTER (WHERE x.kind = 'promo_credits_expired'), 0)::bigint AS expired
                   FROM affiliate.account_balances x
                  WHERE x.asset = 'CREDITS' AND x.member_id IS NULL
                    AND x.kind IN ('promo_credits_issued', 'promo_credits_expired')
                    AND ($1 IS NULL OR x.program_id = $1)
                  GROUP BY x.program_id) b
        ON b.program_id = r.program_id
     WHERE coalesce(r.granted, 0) <> -coalesce(b.issued, 0) OR coalesce(r.expired, 0) <> coalesce(b.expired, 0)
    UNION ALL
    -- a conversion's promo link names a campaign and a conversion of the program
    SELECT 'campaign_conversion_refers',
           format('campaign_conversion %s (program %s): campaign %s or conversion %s does not exist',
                  z.id, z.program_id, z.campaign_id, z.conversion_id)
      FROM affiliate.campaign_conversion z
     WHERE ($1 IS NULL OR z.program_id = $1)
       AND (NOT EXISTS (SELECT 1 FROM affiliate.campaign c WHERE c.program_id = z.program_id AND c.id = z.campaign_id)
            OR NOT EXISTS (SELECT 1 FROM affiliate.conversion w
                            WHERE w.program_id = z.program_id AND w.id = z.conversion_id))
    UNION ALL
    -- a member's all-time leaderboard values equal their events: referrals
    -- (the conversions they referred directly), earnings (their commissions
    -- less reversals), points (the points of their lots less what bill
    -- refunds were due), courses (their certificates)
    SELECT 'leaderboard_matches_events',
           format('member %s (program %s): all-time %s %s on the leaderboard, %s from the events',
                  coalesce(l.member_id, s.member_id), coalesce(l.program_id, s.program_id),
                  coalesce(l.metric, s.metric), coalesce(l.value, 0), coalesce(s.value, 0))
      FROM (SELECT e.program_id, e.member_id, e.metric, e.value FROM affiliate.leaderboard_entry e
             WHERE e.period = 'all' AND e.metric IN ('referrals', 'earnings', 'points', 'courses')
               AND ($1 IS NULL OR e.program_id = $1)) l
      FULL JOIN (SELECT v.program_id, v.referrer_id AS member_id, 'referrals' AS metric, count(*)::bigint AS value
                   FROM affiliate.conversion v
                  WHERE v.referrer_id IS NOT NULL AND ($1 IS NULL OR v.program_id = $1)
                  GROUP BY 1, 2
                 UNION ALL
                 SELECT x.program_id, x.beneficiary_id, 'earnings', sum(x.amount - x.reversed)::bigint
                   FROM affiliate.commission x
                  WHERE $1 IS NULL OR x.program_id = $1
                  GROUP BY 1, 2
                 UNION ALL
                 SELECT z.program_id, z.member_id, 'points', sum(z.points)::bigint
                   FROM (SELECT y.program_id, y.member_id, y.points FROM affiliate.points_lot y
                          WHERE $1 IS NULL OR y.program_id = $1
                         UNION ALL
                         SELECT b.program_id, b.member_id, -r.points FROM affiliate.points_bill_refund r
                           JOIN affiliate.points_bill b ON b.program_id = r.program_id AND b.id = r.bill_id
                          WHERE $1 IS NULL OR r.program_id = $1) z
                  GROUP BY 1, 2
                 UNION ALL
                 SELECT c.program_id, c.member_id, 'courses', count(*)::bigint
                   FROM affiliate.certificate c
                  WHERE $1 IS NULL OR c.program_id = $1
                  GROUP BY 1, 2) s
        ON s.program_id = l.program_id AND s.member_id = l.member_id AND s.metric = l.metric
     WHERE coalesce(l.value, 0) <> coalesce(s.value, 0)
    UNION ALL
    -- a member's day, week and month values of a metric each add up to the
    -- all-time value
    SELECT 'leaderboard_periods_agree',
           format('member %s (program %s), %s: days %s, weeks %s, months %s, all time %s',
                  t.member_id, t.program_id, t.metric, t.d, t.w, t.m, t.a)
      FROM (SELECT e.program_id, e.member_id, e.metric,
                   coalesce(sum(e.value) FILTER (WHERE e.period = 'day'), 0) AS d,
                   coalesce(sum(e.value) FILTER (WHERE e.period = 'week'), 0) AS w,
                   coalesce(sum(e.value) FILTER (WHERE e.period = 'month'), 0) AS m,
                   coalesce(sum(e.value) FILTER (WHERE e.period = 'all'), 0) AS a
              FROM affiliate.leaderboard_entry e
             WHERE $1 IS NULL OR e.program_id = $1
             GROUP BY 1, 2, 3) t
     WHERE t.d <> t.a OR t.w <> t.a OR t.m <> t.a
$$;
COMMENT ON FUNCTION affiliate.verify(bigint) IS 'Every broken ledger invariant, one row each; empty when all hold.';

-- ---------------------------------------------------------------------------
-- Who calls over HTTP (src/api.c): the PostgREST claims, resolved once per
-- request.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate.claimed_program() RETURNS bigint
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'claimed_program';
COMMENT ON FUNCTION affiliate.claimed_program() IS
    'The "program" claim of the request''s JWT; 42501 without one.';

-- SECURITY DEFINER: it reads affiliate.member, whose row-level security
-- policies call it.
CREATE FUNCTION affiliate.current_member() RETURNS bigint
    LANGUAGE c STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'current_member';
COMMENT ON FUNCTION affiliate.current_member() IS
    'The calling member: the member of the claimed program whose external_id is the JWT "sub"; 42501 when there is none.';

-- The client's address and user agent as PostgREST passes them
-- (request.headers); the address is read from X-Forwarded-For past
-- pg_affiliate.trusted_proxies proxies, NULL when there is none.
CREATE FUNCTION affiliate.request_client() RETURNS TABLE (ip inet, user_agent text)
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'request_client';
COMMENT ON FUNCTION affiliate.request_client() IS
    'The HTTP client''s IP (X-Forwarded-For read from the end past pg_affiliate.trusted_proxies proxies, else X-Real-IP) and User-Agent, from request.headers.';

-- A member id an admin passes: the member must be in the claimed program
-- (PT404, which PostgREST answers with 404, otherwise).
CREATE FUNCTION affiliate.claimed_member(member_id bigint) RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM affiliate.member m
                    WHERE m.program_id = affiliate.claimed_program() AND m.id = claimed_member.member_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('member %s does not exist in program %s', claimed_member.member_id,
                             affiliate.claimed_program());
    END IF;
    RETURN member_id;
END
$$;
COMMENT ON FUNCTION affiliate.claimed_member(bigint) IS
    'The member id if the member belongs to the claimed program; PT404 (HTTP 404) otherwise.';

-- Re-raise an engine error for HTTP: P0002 (not found) becomes PT404 and
-- 55000 (not in the required state) PT409, which PostgREST answers with
-- 404 and 409; every other SQLSTATE is kept.  Message, detail and hint are
-- kept.
CREATE FUNCTION affiliate.api_error(state text, message text, detail text, hint text)
    RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    code text := CASE state WHEN 'P0002' THEN 'PT404' WHEN '55000' THEN 'PT409' ELSE state END;
BEGIN
    IF detail IS NOT NULL AND detail <> '' AND hint IS NOT NULL AND hint <> '' THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail, HINT = hint;
    ELSIF detail IS NOT NULL AND detail <> '' THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail;
    ELSIF hint IS NOT NULL AND hint <> '' THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
END
$$;
COMMENT ON FUNCTION affiliate.api_error(text, text, text, text) IS
    'Raise an engine error again with the SQLSTATE PostgREST maps to the right HTTP status (P0002 -> PT404, 55000 -> PT409).';

-- ---------------------------------------------------------------------------
-- Row-level security on every table.  The engines run as the extension
-- owner (SECURITY DEFINER), which the policies do not restrict; they decide
-- what the roles that read tables see: affiliate_operator everything,
-- affiliate_admin the rows of the claimed program, affiliate_member their
-- own rows, affiliate_anon nothing (it reads no table).
-- ---------------------------------------------------------------------------
ALTER TABLE affiliate.program ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.account ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.journal ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.posting ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.balance_delta ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.balance_checkpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.program_secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.member ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.click ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.plan ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.conversion ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.commission ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.refund ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.withdrawal ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.signing_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.certificate ENABLE ROW LEVEL SECURITY;

-- the operator: every program (program_secret and signing_key have no
-- policy: nobody)
CREATE POLICY operator_all ON affiliate.program FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.audit_log FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.account FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.journal FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.posting FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.balance_delta FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.balance_checkpoint FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.member FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.click FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.plan FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.conversion FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.commission FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.refund FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.withdrawal FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.certificate FOR SELECT TO affiliate_operator USING (true);

-- the admin of the claimed program
CREATE POLICY admin_program ON affiliate.program FOR SELECT TO affiliate_admin
    USING (id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.audit_log FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.account FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.journal FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.posting FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.balance_delta FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.balance_checkpoint FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.member FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.click FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.plan FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.conversion FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.commission FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.refund FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.withdrawal FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));

-- the member: their program, their own rows
CREATE POLICY member_own ON affiliate.program FOR SELECT TO affiliate_member
    USING (id = (SELECT affiliate.claimed_program()) AND (SELECT affiliate.current_member()) IS NOT NULL);
CREATE POLICY member_own ON affiliate.member FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.conversion FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND buyer_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.commission FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND beneficiary_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.withdrawal FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));

-- courses (the operator reads them all; the HTTP roles: below)
ALTER TABLE affiliate.course ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.course_module ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.topic ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.enrollment ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.topic_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.assessment ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.course FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.course_module FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.topic FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.enrollment FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.topic_progress FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.assessment FOR SELECT TO affiliate_operator USING (true);
-- loyalty points (the operator reads them all)
ALTER TABLE affiliate.points_rule ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_lot ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_bill ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_bill_refund ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.points_deduction ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.points_rule FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_policy FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_lot FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_bill FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_bill_refund FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.points_deduction FOR SELECT TO affiliate_operator USING (true);
-- tiers (the operator reads them all)
ALTER TABLE affiliate.tier ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.tier_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.tier_member ENABLE ROW LEVEL SECURITY;
ALTER TABLE affiliate.tier_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.tier FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.tier_policy FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.tier_member FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY operator_all ON affiliate.tier_history FOR SELECT TO affiliate_operator USING (true);
-- courses over HTTP (affiliate_api, 0.5.0): the admin reads the claimed
-- program's courses, enrollments, progress and assessments; a member the
-- program's published courses and their own enrollments, progress and
-- assessments.  Modules and topics are read through course_outline only.
CREATE POLICY admin_program ON affiliate.course FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.enrollment FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.topic_progress FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY admin_program ON affiliate.assessment FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));
CREATE POLICY member_published ON affiliate.course FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND published
           AND (SELECT affiliate.current_member()) IS NOT NULL);
CREATE POLICY member_own ON affiliate.enrollment FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.topic_progress FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));
CREATE POLICY member_own ON affiliate.assessment FOR SELECT TO affiliate_member
    USING (program_id = (SELECT affiliate.claimed_program()) AND member_id = (SELECT affiliate.current_member()));

-- ---------------------------------------------------------------------------
-- The HTTP API: schema affiliate_api, served by PostgREST
-- (docs/postgrest.md).  Views run as the caller (security_invoker), so the
-- row-level security above decides what each role sees; functions are
-- SECURITY DEFINER with an empty search_path and take the program and the
-- member from the JWT claims, never from their arguments.
-- ---------------------------------------------------------------------------
CREATE SCHEMA affiliate_api;
COMMENT ON SCHEMA affiliate_api IS 'pg_affiliate''s HTTP API (PostgREST db-schemas): views and RPC functions.';

-- Views.  admin: their program's rows; member: their own.
CREATE VIEW affiliate_api.program WITH (security_invoker = true) AS
SELECT p.id AS program_id, p.name, p.currency, p.hold_period, p.min_withdrawal, p.rounding_unit,
       p.rounding, p.attribution, p.attribution_window, p.clawback, p.created_at
  FROM affiliate.program p;
COMMENT ON VIEW affiliate_api.program IS 'The caller''s program and its settings.';

CREATE VIEW affiliate_api.members WITH (security_invoker = true) AS
SELECT m.id AS member_id, m.external_id, m.code::text AS code, m.sponsor_id, m.status,
       pg_catalog.cardinality(m.upline) AS depth, m.joined_at
  FROM affiliate.member m;
COMMENT ON VIEW affiliate_api.members IS 'Members: an admin sees the program''s, a member their own row.';

CREATE VIEW affiliate_api.commissions WITH (security_invoker = true) AS
SELECT c.id AS commission_id, c.beneficiary_id AS member_id, c.conversion_id, c.plan_id, c.level,
       c.amount, c.status, c.hold_until, c.reversed, c.released, c.written_off, c.released_at,
       c.created_at
  FROM affiliate.commission c;
COMMENT ON VIEW affiliate_api.commissions IS 'Commissions: an admin sees the program''s, a member those they earn.';

CREATE VIEW affiliate_api.withdrawals WITH (security_invoker = true) AS
SELECT w.id AS withdrawal_id, w.member_id, w.asset, w.amount, w.debt_settled, w.status, w.method,
       w.destination_masked, w.requested_at, w.decided_at, w.paid_at, w.failed_at, w.provider_ref,
       w.reason
  FROM affiliate.withdrawal w;
COMMENT ON VIEW affiliate_api.withdrawals IS 'Withdrawals (destination masked): an admin sees the program''s, a member their own.';

CREATE VIEW affiliate_api.conversions WITH (security_invoker = true) AS
SELECT v.id AS conversion_id, v.external_ref, v.buyer_id, v.referrer_id, v.seller_id, v.product,
       v.amount, v.cost, v.refunded, v.status, v.occurred_at, v.recorded_at
  FROM affiliate.conversion v;
COMMENT ON VIEW affiliate_api.conversions IS 'Admin: the program''s orders, with cost and attribution.';

-- a member's own purchases, without the shop's cost or the attribution
CREATE VIEW affiliate_api.purchases WITH (security_invoker = true) AS
SELECT v.id AS conversion_id, v.external_ref, v.product, v.amount, v.refunded, v.status, v.occurred_at
  FROM affiliate.conversion v;
COMMENT ON VIEW affiliate_api.purchases IS 'Member: their own purchases (no cost, no attribution).';

CREATE VIEW affiliate_api.plans WITH (security_invoker = true) AS
SELECT l.id AS plan_id, l.name, l.beneficiary, l.product, l.base, l.rates_bp, l.flat, l.caps,
       l.recurring, l.min_direct, l.created_at
  FROM affiliate.plan l;
COMMENT ON VIEW affiliate_api.plans IS 'Admin: the program''s commission plans.';

CREATE VIEW affiliate_api.audit_log WITH (security_invoker = true) AS
SELECT a.id AS audit_id, a.at, a.actor, a.db_role, a.action, a.detail
  FROM affiliate.audit_log a;
COMMENT ON VIEW affiliate_api.audit_log IS 'Admin: the program''s audit trail.';

-- anon ----------------------------------------------------------------------

CREATE FUNCTION affiliate_api.lookup_code(program_id bigint, code text,
                                          OUT program_name text, OUT valid boolean,
                                          OUT active boolean, OUT error text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
BEGIN
    SELECT p.name INTO program_name FROM affiliate.program p WHERE p.id = lookup_code.program_id;
    IF NOT FOUND THEN
        PERFORM affiliate.api_error('P0002', pg_catalog.format('program %s does not exist', lookup_code.program_id),
                                    NULL, NULL);
    END IF;
    error := affiliate.refcode_error(coalesce(code, ''));
    valid := error IS NULL;
    active := valid AND EXISTS (SELECT 1 FROM affiliate.member m
                                 WHERE m.program_id = lookup_code.program_id
                                   AND m.code OPERATOR(affiliate.=) code::affiliate.refcode
                                   AND m.status = 'active');
END
$$;
COMMENT ON FUNCTION affiliate_api.lookup_code(bigint, text) IS
    'anon: is this a well-formed referral code, and does an active member of the program own it? With the program''s name.';

CREATE FUNCTION affiliate_api.record_click(program_id bigint, code text, channel text DEFAULT NULL, landing_page text DEFAULT NULL,
                                           device_id text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    c record;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT * INTO c FROM affiliate.request_client();
    RETURN affiliate.record_click(program_id, code, channel, c.ip, c.user_agent, pg_catalog.now(),
                                  device_id, landing_page);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_click(bigint, text, text, text, text) IS
    'anon: record a visit through a referral link; the IP and user agent come from the request headers.';

-- member ---------------------------------------------------------------------

CREATE FUNCTION affiliate_api.join(referral_code text DEFAULT NULL, device_id text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    claims pg_catalog.jsonb;
    sub pg_catalog.text;
    who bigint;
    c record;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    claims := nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb;
    sub := claims->>'sub';
    IF sub IS NULL OR sub = '' OR pg_catalog.jsonb_typeof(claims->'sub') NOT IN ('string', 'number')
       OR pg_catalog.length(sub) > 200 THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the request names no member',
            DETAIL = 'The JWT must carry a "sub" claim: the member''s external id in the program.';
    END IF;
    SELECT x.id INTO who FROM affiliate.member x WHERE x.program_id = prog AND x.external_id = sub;
    IF FOUND THEN
        RETURN who;         -- joining again changes nothing
    END IF;
    SELECT * INTO c FROM affiliate.request_client();
    RETURN affiliate.add_member(prog, sub, referral_code, device_id, c.ip);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.join(text, text) IS
    'member: join the claimed program as the JWT subject (sponsor from the referral code or an attributed click); returns the member id; joining again returns it unchanged.';

CREATE FUNCTION affiliate_api.me(OUT member_id bigint, OUT external_id text, OUT code text, OUT status text,
                                 OUT joined_at timestamptz, OUT sponsor_code text, OUT direct_referrals bigint,
                                 OUT team_size bigint)
    RETURNS record
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT m.id, m.external_id, m.code::pg_catalog.text, m.status, m.joined_at, s.code::pg_catalog.text,
           (SELECT pg_catalog.count(*) FROM affiliate.member d
             WHERE d.program_id = m.program_id AND d.sponsor_id = m.id),
           affiliate.team_size(m.program_id, m.id)
      FROM affiliate.member m
      LEFT JOIN affiliate.member s ON s.program_id = m.program_id AND s.id = m.sponsor_id
     WHERE m.program_id = affiliate.claimed_program() AND m.id = affiliate.current_member()
$$;
COMMENT ON FUNCTION affiliate_api.me() IS
    'member: the caller''s profile: code, sponsor''s code, direct referrals and team size.';

CREATE FUNCTION affiliate_api.my_tree(depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, code text, sponsor_id bigint, status text, joined_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT d.level, d.member_id, d.code::pg_catalog.text, d.sponsor_id, d.status, d.joined_at
      FROM affiliate.downline(affiliate.claimed_program(), affiliate.current_member(), depth) d
$$;
COMMENT ON FUNCTION affiliate_api.my_tree(integer) IS
    'member: the caller''s referral tree (their downline only), level 1 = direct referrals, up to depth levels.';

CREATE FUNCTION affiliate_api.my_balance()
    RETURNS TABLE (asset text, pending bigint, available bigint, withdrawing bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT b.asset, b.pending, b.available, b.withdrawing
      FROM affiliate.balance(affiliate.claimed_program(), affiliate.current_member()) b
$$;
COMMENT ON FUNCTION affiliate_api.my_balance() IS
    'member: the caller''s wallet per asset: pending, available, withdrawing.';

CREATE FUNCTION affiliate_api.my_transactions(since timestamptz DEFAULT NULL, max_rows integer DEFAULT 100)
    RETURNS TABLE (at timestamptz, journal_id bigint, kind text, asset text, amount bigint, pending_balance bigint,
             available_balance bigint, withdrawing_balance bigint, reference text, withdrawal_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT t.* FROM affiliate.wallet_transactions(affiliate.claimed_program(), affiliate.current_member(),
                                                  since, max_rows) t
$$;
COMMENT ON FUNCTION affiliate_api.my_transactions(timestamptz, integer) IS
    'member: the caller''s wallet history, newest first, with running balances.';

CREATE FUNCTION affiliate_api.request_withdrawal(amount bigint, method text, destination text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.request_withdrawal(affiliate.claimed_program(), affiliate.current_member(),
                                        amount, method, destination);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.request_withdrawal(bigint, text, text) IS
    'member: ask for a payout of amount (minor units) to a destination (UPI id, account); returns the withdrawal id.';

CREATE FUNCTION affiliate_api.cancel_withdrawal(withdrawal_id bigint)
    RETURNS affiliate_api.withdrawals
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    row affiliate_api.withdrawals;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    -- another member's withdrawal does not exist for the caller
    IF NOT EXISTS (SELECT 1 FROM affiliate.withdrawal x
                    WHERE x.program_id = prog AND x.id = withdrawal_id
                      AND x.member_id = affiliate.current_member()) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = pg_catalog.format('withdrawal %s does not exist', withdrawal_id);
    END IF;
    PERFORM affiliate.cancel_withdrawal(prog, withdrawal_id);
    SELECT * INTO row FROM affiliate_api.withdrawals v WHERE v.withdrawal_id = cancel_withdrawal.withdrawal_id;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.cancel_withdrawal(bigint) IS
    'member: take back a withdrawal that is still requested (the money returns to available).';

-- admin ----------------------------------------------------------------------

CREATE FUNCTION affiliate_api.program_settings()
    RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT affiliate.program_settings(affiliate.claimed_program())
$$;
COMMENT ON FUNCTION affiliate_api.program_settings() IS
    'admin: the program''s settings as JSON.';

CREATE FUNCTION affiliate_api.update_program_settings(settings jsonb)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.update_program_settings(affiliate.claimed_program(), settings);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.update_program_settings(jsonb) IS
    'admin: change settings (validated, audited); returns the settings after the change.';

CREATE FUNCTION affiliate_api.set_plan(name text, levels integer[], base text DEFAULT 'profit', recurring interval DEFAULT NULL,
                                       product text DEFAULT NULL, beneficiary text DEFAULT 'upline', flat bigint[] DEFAULT NULL,
                                       caps bigint[] DEFAULT NULL, qualification jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_plan(affiliate.claimed_program(), name, levels, base, recurring, product,
                              beneficiary, flat, caps, qualification);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_plan(text, integer[], text, interval, text, text, bigint[], bigint[], jsonb) IS
    'admin: add a commission plan (it becomes the active one for its beneficiary kind and product); returns its id.';

CREATE FUNCTION affiliate_api.add_member(external_id text, referral_code text DEFAULT NULL, device_id text DEFAULT NULL, ip inet DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_member(affiliate.claimed_program(), external_id, referral_code, device_id, ip);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_member(text, text, text, inet) IS
    'admin (server key): add a member to the program; returns the member id.';

CREATE FUNCTION affiliate_api.set_member_status(member_id bigint, status text, reason text DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_member_status(affiliate.claimed_program(), member_id, status, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_member_status(bigint, text, text) IS
    'admin: set a member active, inactive or blocked; returns the old status.';

CREATE FUNCTION affiliate_api.move_member(member_id bigint, new_sponsor_id bigint)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.move_member(affiliate.claimed_program(), member_id, new_sponsor_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.move_member(bigint, bigint) IS
    'admin: move a member and their subtree under a new sponsor; returns the rows rewritten.';

CREATE FUNCTION affiliate_api.member_tree(member_id bigint, depth integer DEFAULT NULL)
    RETURNS TABLE (level integer, member_id bigint, external_id pg_catalog.text, sponsor_id bigint, code pg_catalog.text,
             status pg_catalog.text, joined_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT d.level, d.member_id, d.external_id, d.sponsor_id, d.code::pg_catalog.text, d.status, d.joined_at
      FROM affiliate.downline(affiliate.claimed_program(), affiliate.claimed_member(member_id), depth) d
$$;
COMMENT ON FUNCTION affiliate_api.member_tree(bigint, integer) IS
    'admin: a member''s referral tree up to depth levels.';

CREATE FUNCTION affiliate_api.record_conversion(external_ref text, buyer_id bigint, amount bigint, cost bigint DEFAULT 0,
                                                occurred_at timestamptz DEFAULT NULL, product text DEFAULT NULL,
                                                seller_id bigint DEFAULT NULL, promo_code text DEFAULT NULL)
    RETURNS SETOF affiliate_api.commissions
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    ids bigint[];
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    -- two statements: the second must see the rows the first wrote
    ids := ARRAY(SELECT c.id FROM affiliate.record_conversion(affiliate.claimed_program(), external_ref,
                     buyer_id, amount, cost, occurred_at, product, seller_id, promo_code) c);
    RETURN QUERY
    SELECT v.* FROM affiliate_api.commissions v WHERE v.commission_id = ANY (ids) ORDER BY v.commission_id;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_conversion(text, bigint, bigint, bigint, timestamptz, text, bigint, text) IS
    'admin (server key): record a paid order and its commissions, idempotent on external_ref; a promo code attributes it to the campaign''s owner.';

CREATE FUNCTION affiliate_api.refund_conversion(external_ref text, reason text DEFAULT NULL, amount bigint DEFAULT NULL, refund_ref text DEFAULT NULL)
    RETURNS SETOF affiliate_api.commissions
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    ids bigint[];
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    ids := ARRAY(SELECT c.id FROM affiliate.refund_conversion(affiliate.claimed_program(), external_ref,
                     reason, amount, refund_ref) c);
    RETURN QUERY
    SELECT v.* FROM affiliate_api.commissions v WHERE v.commission_id = ANY (ids) ORDER BY v.commission_id;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.refund_conversion(text, text, bigint, text) IS
    'admin (server key): refund an order fully or partly; reverses or claws back its commissions; idempotent.';

CREATE FUNCTION affiliate_api.member_balance(member_id bigint)
    RETURNS TABLE (asset text, pending bigint, available bigint, withdrawing bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY SELECT b.* FROM affiliate.balance(affiliate.claimed_program(), member_id) b;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.member_balance(bigint) IS
    'admin: a member''s wallet per asset.';

CREATE FUNCTION affiliate_api.member_transactions(member_id bigint, since timestamptz DEFAULT NULL, max_rows integer DEFAULT 100)
    RETURNS TABLE (at timestamptz, journal_id bigint, kind text, asset text, amount bigint, pending_balance bigint,
             available_balance bigint, withdrawing_balance bigint, reference text, withdrawal_id bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY SELECT t.* FROM affiliate.wallet_transactions(affiliate.claimed_program(), member_id,
                                                               since, max_rows) t;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.member_transactions(bigint, timestamptz, integer) IS
    'admin: a member''s wallet history, newest first, with running balances.';

CREATE FUNCTION affiliate_api.withdrawal_queue(status text DEFAULT NULL, max_rows integer DEFAULT 100)
    RETURNS TABLE (withdrawal_id bigint, member_id bigint, external_id text, member_status text, asset text,
             amount bigint, withdrawal_status text, method text, destination_masked text,
             requested_at timestamptz, decided_at timestamptz, paid_at timestamptz, failed_at timestamptz,
             provider_ref text, reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY SELECT q.* FROM affiliate.withdrawals(affiliate.claimed_program(), status, max_rows) q;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.withdrawal_queue(text, integer) IS
    'admin: the program''s withdrawals (optionally in one status), oldest first, with their members.';

CREATE FUNCTION affiliate_api.withdrawal_totals()
    RETURNS TABLE (status text, asset text, withdrawals bigint, amount bigint, members bigint, oldest timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY SELECT t.* FROM affiliate.withdrawal_totals(affiliate.claimed_program()) t;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.withdrawal_totals() IS
    'admin: count, amount, members and oldest request per withdrawal status.';

CREATE FUNCTION affiliate_api.approve_withdrawal(withdrawal_id bigint)
    RETURNS affiliate_api.withdrawals
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    row affiliate_api.withdrawals;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    PERFORM affiliate.approve_withdrawal(prog, withdrawal_id);
    SELECT * INTO row FROM affiliate_api.withdrawals v WHERE v.withdrawal_id = approve_withdrawal.withdrawal_id;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.approve_withdrawal(bigint) IS
    'admin: requested -> approved.';

CREATE FUNCTION affiliate_api.reject_withdrawal(withdrawal_id bigint, reason text)
    RETURNS affiliate_api.withdrawals
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    row affiliate_api.withdrawals;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    PERFORM affiliate.reject_withdrawal(prog, withdrawal_id, reason);
    SELECT * INTO row FROM affiliate_api.withdrawals v WHERE v.withdrawal_id = reject_withdrawal.withdrawal_id;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.reject_withdrawal(bigint, text) IS
    'admin: requested -> rejected; the money returns to the member''s available balance.';

CREATE FUNCTION affiliate_api.complete_withdrawal(withdrawal_id bigint, provider_ref text)
    RETURNS affiliate_api.withdrawals
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    row affiliate_api.withdrawals;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    PERFORM affiliate.complete_withdrawal(prog, withdrawal_id, provider_ref);
    SELECT * INTO row FROM affiliate_api.withdrawals v WHERE v.withdrawal_id = complete_withdrawal.withdrawal_id;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.complete_withdrawal(bigint, text) IS
    'admin (or the payout webhook): approved -> paid with the provider''s transaction id; the same id again is a no-op.';

CREATE FUNCTION affiliate_api.fail_withdrawal(withdrawal_id bigint, reason text)
    RETURNS affiliate_api.withdrawals
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    row affiliate_api.withdrawals;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    PERFORM affiliate.fail_withdrawal(prog, withdrawal_id, reason);
    SELECT * INTO row FROM affiliate_api.withdrawals v WHERE v.withdrawal_id = fail_withdrawal.withdrawal_id;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.fail_withdrawal(bigint, text) IS
    'admin (or the payout webhook): approved -> failed; the money returns to available.';

CREATE FUNCTION affiliate_api.adjust_balance(member_id bigint, amount bigint, reason text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.adjust_balance(affiliate.claimed_program(), member_id, amount, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.adjust_balance(bigint, bigint, text) IS
    'admin: credit (or debit) a member''s available balance; audited; returns the journal id.';

CREATE FUNCTION affiliate_api.pay_from_wallet(member_id bigint, amount bigint, order_ref text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.pay_from_wallet(affiliate.claimed_program(), member_id, amount, order_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.pay_from_wallet(bigint, bigint, text) IS
    'admin (server key): charge a purchase to a member''s available balance; idempotent on order_ref; returns the journal id.';

CREATE FUNCTION affiliate_api.verify()
    RETURNS TABLE (invariant text, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT v.invariant, v.detail FROM affiliate.verify(affiliate.claimed_program()) v
$$;
COMMENT ON FUNCTION affiliate_api.verify() IS
    'admin: every broken invariant of the program; empty when all hold.';

-- courses (0.5.0) ---------------------------------------------------------------
-- The course engine of src/course.c over HTTP.  Anonymous visitors (a site
-- token {"role": "affiliate_anon", "program": N}), members and admins read
-- the published catalog and outlines of the claimed program; members enroll,
-- report progress and assessments for themselves; admins build and publish
-- their program's courses.  anon reads no table: the catalog and outlines
-- are functions.

CREATE VIEW affiliate_api.courses WITH (security_invoker = true) AS
SELECT c.id AS course_id, c.title, c.description, c.display_order, c.published, c.created_at
  FROM affiliate.course c;
COMMENT ON VIEW affiliate_api.courses IS 'Courses: an admin sees the program''s (published or not), a member the published ones.';

CREATE VIEW affiliate_api.enrollments WITH (security_invoker = true) AS
SELECT e.member_id, e.course_id, e.enrolled_at, e.last_activity_at
  FROM affiliate.enrollment e;
COMMENT ON VIEW affiliate_api.enrollments IS 'Enrollments: an admin sees the program''s, a member their own.';

CREATE VIEW affiliate_api.topic_progress WITH (security_invoker = true) AS
SELECT t.member_id, t.course_id, t.topic_id, t.watched_seconds, t.completed_at, t.updated_at
  FROM affiliate.topic_progress t;
COMMENT ON VIEW affiliate_api.topic_progress IS 'Progress per topic: an admin sees the program''s, a member their own.';

CREATE VIEW affiliate_api.assessments WITH (security_invoker = true) AS
SELECT a.id AS assessment_id, a.member_id, a.module_id, a.score, a.max_score, a.passed, a.at
  FROM affiliate.assessment a;
COMMENT ON VIEW affiliate_api.assessments IS 'Assessment attempts: an admin sees the program''s, a member their own.';

-- anon, member, admin: the published catalog of the claimed program

CREATE FUNCTION affiliate_api.course_catalog()
    RETURNS TABLE (course_id bigint, title text, description text, display_order integer,
                   modules integer, topics integer, duration_seconds bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT c.id, c.title, c.description, c.display_order,
           (SELECT pg_catalog.count(*)::integer FROM affiliate.course_module m
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published),
           (SELECT pg_catalog.count(*)::integer FROM affiliate.course_module m
              JOIN affiliate.topic t ON t.program_id = m.program_id AND t.module_id = m.id
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published AND t.published),
           (SELECT coalesce(pg_catalog.sum(t.duration_seconds), 0)::bigint FROM affiliate.course_module m
              JOIN affiliate.topic t ON t.program_id = m.program_id AND t.module_id = m.id
             WHERE m.program_id = c.program_id AND m.course_id = c.id AND m.published AND t.published)
      FROM affiliate.course c
     WHERE c.program_id = affiliate.claimed_program() AND c.published
     ORDER BY c.display_order, c.id
$$;
COMMENT ON FUNCTION affiliate_api.course_catalog() IS
    'anon, member, admin: the claimed program''s published courses in display order, with their published modules, topics and minutes.';

CREATE FUNCTION affiliate_api.course_outline(course_id bigint)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint;
    outline pg_catalog.jsonb;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    prog := affiliate.claimed_program();
    outline := affiliate.course_outline(prog, course_id, false);
    -- an unpublished course does not exist for the public
    IF outline IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002',
            MESSAGE = pg_catalog.format('course %s does not exist in program %s', course_id, prog);
    END IF;
    RETURN outline;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_outline(bigint) IS
    'anon, member, admin: a published course''s published modules and topics in display order, as JSON; an unpublished course is PT404.';

-- member: their own enrollments, progress and assessments

CREATE FUNCTION affiliate_api.enroll(course_id bigint)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.enroll(affiliate.claimed_program(), affiliate.current_member(), course_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.enroll(bigint) IS
    'member: enroll in a published course; true when newly enrolled, false when already enrolled.';

-- what record_progress returns (a composite type: a PL/pgSQL function cannot
-- have output columns named like its arguments)
CREATE TYPE affiliate_api.progress_report AS (watched_seconds integer, completed boolean, certificate_number text);
COMMENT ON TYPE affiliate_api.progress_report IS 'The result of affiliate_api.record_progress().';

CREATE FUNCTION affiliate_api.record_progress(topic_id bigint, watched_seconds integer, completed boolean DEFAULT false)
    RETURNS affiliate_api.progress_report
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    report affiliate_api.progress_report;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT r.watched_seconds, r.completed, r.certificate_number INTO report
      FROM affiliate.record_progress(affiliate.claimed_program(), affiliate.current_member(), topic_id,
                                     watched_seconds, completed) r;
    RETURN report;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_progress(bigint, integer, boolean) IS
    'member: report what the caller watched of a topic of a course they are enrolled in: watched seconds only grow, completion is sticky.';

CREATE FUNCTION affiliate_api.record_assessment(module_id bigint, score integer, max_score integer,
                                                OUT passed boolean, OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT r.passed, r.certificate_number INTO passed, certificate_number
      FROM affiliate.record_assessment(affiliate.claimed_program(), affiliate.current_member(), module_id,
                                       score, max_score) r;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_assessment(bigint, integer, integer) IS
    'member: record the caller''s assessment attempt on a module with a pass mark; passed when score/max_score reaches it.';

CREATE FUNCTION affiliate_api.course_progress(course_id bigint, OUT topics_done integer, OUT topics_total integer,
                                              OUT percent numeric, OUT assessments_passed integer,
                                              OUT assessments_required integer, OUT completed boolean,
                                              OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT p.* INTO topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
                    certificate_number
      FROM affiliate.course_progress(affiliate.claimed_program(), affiliate.current_member(), course_id) p;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_progress(bigint) IS
    'member: the caller''s progress in a course (published topics of published modules) and whether it is complete.';

CREATE FUNCTION affiliate_api.my_courses()
    RETURNS TABLE (course_id bigint, title text, published boolean, enrolled_at timestamptz,
                   last_activity_at timestamptz, topics_done integer, topics_total integer, percent numeric,
                   assessments_passed integer, assessments_required integer, completed boolean,
                   certificate_number text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT e.course_id, c.title, c.published, e.enrolled_at, e.last_activity_at, p.topics_done, p.topics_total,
           p.percent, p.assessments_passed, p.assessments_required, p.completed, p.certificate_number
      FROM affiliate.enrollment e
      JOIN affiliate.course c ON c.program_id = e.program_id AND c.id = e.course_id
     CROSS JOIN LATERAL affiliate.course_progress(affiliate.claimed_program(), affiliate.current_member(),
                                                  e.course_id) p
     WHERE e.program_id = affiliate.claimed_program() AND e.member_id = affiliate.current_member()
     ORDER BY e.enrolled_at, e.course_id
$$;
COMMENT ON FUNCTION affiliate_api.my_courses() IS
    'member: the courses the caller is enrolled in, oldest enrollment first, with their progress.';

-- admin: the program's courses

CREATE FUNCTION affiliate_api.create_course(title text, description text DEFAULT NULL, display_order integer DEFAULT 0,
                                            published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.create_course(affiliate.claimed_program(), title, description, display_order, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.create_course(text, text, integer, boolean) IS
    'admin: add a course (unpublished unless asked); audited; returns the course id.';

CREATE FUNCTION affiliate_api.add_module(course_id bigint, title text, description text DEFAULT NULL,
                                         display_order integer DEFAULT 0, published boolean DEFAULT false,
                                         pass_mark integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_module(affiliate.claimed_program(), course_id, title, description, display_order,
                                published, pass_mark);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_module(bigint, text, text, integer, boolean, integer) IS
    'admin: add a module to a course of the program; pass_mark (percent) requires a passed assessment; audited; returns the module id.';

CREATE FUNCTION affiliate_api.add_topic(module_id bigint, title text, video_source text, video_ref text,
                                        duration_seconds integer DEFAULT 0, description text DEFAULT NULL,
                                        display_order integer DEFAULT 0, published boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_topic(affiliate.claimed_program(), module_id, title, video_source, video_ref,
                               duration_seconds, description, display_order, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_topic(bigint, text, text, text, integer, text, integer, boolean) IS
    'admin: add a topic (video) to a module of the program; video_ref is validated for its source; audited; returns the topic id.';

CREATE FUNCTION affiliate_api.set_published(kind text, id bigint, published boolean)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_published(affiliate.claimed_program(), kind, id, published);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_published(text, bigint, boolean) IS
    'admin: publish or unpublish a course, module or topic (kind) of the program; audited.';

CREATE FUNCTION affiliate_api.course_outline_all(course_id bigint)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.course_outline(affiliate.claimed_program(), course_id, true);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.course_outline_all(bigint) IS
    'admin: a course''s outline with its unpublished modules and topics (and an unpublished course), as JSON.';

CREATE FUNCTION affiliate_api.member_course_progress(member_id bigint, course_id bigint, OUT topics_done integer,
                                                     OUT topics_total integer, OUT percent numeric,
                                                     OUT assessments_passed integer, OUT assessments_required integer,
                                                     OUT completed boolean, OUT certificate_number text)
    RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT p.* INTO topics_done, topics_total, percent, assessments_passed, assessments_required, completed,
                    certificate_number
      FROM affiliate.course_progress(affiliate.claimed_program(), member_id, course_id) p;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.member_course_progress(bigint, bigint) IS
    'admin: a member''s progress in a course of the program.';

-- ---------------------------------------------------------------------------
-- HTTP API for certificates (affiliate_api, docs/certificates.md): anyone
-- holding a token of the program verifies a certificate and reads the public
-- keys; a member lists their own; the admin revokes and rotates (audited).
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate_api.verify_certificate(certificate_number text)
    RETURNS TABLE (valid boolean, status text, number text, member_external_id text, course_title text,
                   issued_at timestamptz, key_id bigint, revoked_at timestamptz, revoke_reason text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT v.valid, v.status, v.number, v.member_external_id, v.course_title, v.issued_at, v.key_id,
           v.revoked_at, v.revoke_reason
      FROM affiliate.verify_certificate(affiliate.claimed_program(), certificate_number) v;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.verify_certificate(text) IS
    'anon, member, admin: check a certificate of the claimed program (valid, revoked, invalid or not_found) and show what it certifies.';

CREATE FUNCTION affiliate_api.certificate_text(certificate_number text)
    RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.certificate_text(affiliate.claimed_program(), certificate_number);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.certificate_text(text) IS
    'anon, member, admin: the canonical text a certificate''s signature covers, for verifying it offline.';

CREATE FUNCTION affiliate_api.certificate_public_key()
    RETURNS TABLE (key_id bigint, algorithm text, public_key_base64 text, created_at timestamptz,
                   retired_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT k.key_id, k.algorithm, k.public_key_base64, k.created_at, k.retired_at
      FROM affiliate.certificate_public_key(affiliate.claimed_program()) k;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.certificate_public_key() IS
    'anon, member, admin: the claimed program''s Ed25519 public keys (base64), retired ones too.';

CREATE FUNCTION affiliate_api.my_certificates()
    RETURNS TABLE (number text, course_id bigint, course_title text, issued_at timestamptz,
                   revoked_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT c.number, c.course_id, c.course_title, c.issued_at, c.revoked_at
      FROM affiliate.certificate c
     WHERE c.program_id = affiliate.claimed_program() AND c.member_id = affiliate.current_member()
     ORDER BY c.issued_at, c.id
$$;
COMMENT ON FUNCTION affiliate_api.my_certificates() IS
    'member: the caller''s certificates, oldest first.';

CREATE FUNCTION affiliate_api.revoke_certificate(certificate_number text, reason text)
    RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.revoke_certificate(affiliate.claimed_program(), certificate_number, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.revoke_certificate(text, text) IS
    'admin: revoke a certificate of the program; audited; PT409 when already revoked.';

CREATE FUNCTION affiliate_api.rotate_signing_key()
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.rotate_signing_key(affiliate.claimed_program());
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.rotate_signing_key() IS
    'admin: retire the program''s signing key and make a new one; old certificates still verify; audited.';

-- ---------------------------------------------------------------------------
-- HTTP API for notifications (affiliate_api, docs/notifications.md): a member
-- reads their inbox, marks it read and keeps their children's birthdays; the
-- admin keeps the program's templates.  Senders are not HTTP roles: they
-- call claim_outbox / mark_sent / mark_failed as affiliate_operator.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate_api.my_notifications(unread_only boolean DEFAULT false)
    RETURNS TABLE (id bigint, event text, subject text, body text, payload jsonb, created_at timestamptz,
                   read_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT n.id, n.event, n.subject, n.body, n.payload, n.created_at, n.read_at
      FROM affiliate.notifications(affiliate.claimed_program(), affiliate.current_member(),
                                   coalesce(unread_only, false)) n
$$;
COMMENT ON FUNCTION affiliate_api.my_notifications(boolean) IS
    'member: the caller''s in-app notifications, newest first.';

CREATE FUNCTION affiliate_api.my_unread_count(OUT unread bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT affiliate.unread_count(affiliate.claimed_program(), affiliate.current_member())
$$;
COMMENT ON FUNCTION affiliate_api.my_unread_count() IS 'member: how many of the caller''s in-app notifications are unread.';

CREATE FUNCTION affiliate_api.mark_read(ids bigint[])
    RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.mark_read(affiliate.claimed_program(), affiliate.current_member(), ids);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.mark_read(bigint[]) IS
    'member: mark the caller''s in-app notifications read; PT404 when an id is not theirs (nothing changes).';

CREATE FUNCTION affiliate_api.my_children()
    RETURNS TABLE (id bigint, name text, birth_date date, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT c.id, c.name, c.birth_date, c.created_at
      FROM affiliate.member_children(affiliate.claimed_program(), affiliate.current_member()) c
$$;
COMMENT ON FUNCTION affiliate_api.my_children() IS 'member: the caller''s children (for birthday messages).';

CREATE FUNCTION affiliate_api.add_child(name text, birth_date date)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT affiliate.add_member_child(affiliate.claimed_program(), affiliate.current_member(), name, birth_date)
$$;
COMMENT ON FUNCTION affiliate_api.add_child(text, date) IS 'member: add a child (name, birth date); returns its id.';

CREATE FUNCTION affiliate_api.remove_child(child_id bigint)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.remove_member_child(affiliate.claimed_program(), affiliate.current_member(), child_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.remove_child(bigint) IS 'member: remove one of the caller''s children; PT404 when it is not theirs.';

CREATE FUNCTION affiliate_api.templates()
    RETURNS TABLE (id bigint, event text, channel text, subject text, body text, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT t.id, t.event, t.channel, t.subject, t.body, t.updated_at
      FROM affiliate.notification_template t
     WHERE t.program_id = affiliate.claimed_program()
     ORDER BY t.event, t.channel
$$;
COMMENT ON FUNCTION affiliate_api.templates() IS 'admin: the program''s message templates.';

CREATE FUNCTION affiliate_api.set_template(event text, channel text, subject text, body text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_template(affiliate.claimed_program(), event, channel, subject, body);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION affiliate_api.set_template(text, text, text, text) IS
    'admin: create or replace a template of the program; 22023 for an unknown variable or a malformed placeholder; audited.';

CREATE FUNCTION affiliate_api.remove_template(event text, channel text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.remove_template(affiliate.claimed_program(), event, channel);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.remove_template(text, text) IS 'admin: remove a template of the program; PT404 when there is none; audited.';

REVOKE ALL ON FUNCTION
    affiliate_api.my_notifications(boolean),
    affiliate_api.my_unread_count(),
    affiliate_api.mark_read(bigint[]),
    affiliate_api.my_children(),
    affiliate_api.add_child(text, date),
    affiliate_api.remove_child(bigint),
    affiliate_api.templates(),
    affiliate_api.set_template(text, text, text, text),
    affiliate_api.remove_template(text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate_api.my_notifications(boolean),
    affiliate_api.my_unread_count(),
    affiliate_api.mark_read(bigint[]),
    affiliate_api.my_children(),
    affiliate_api.add_child(text, date),
    affiliate_api.remove_child(bigint)
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.templates(),
    affiliate_api.set_template(text, text, text, text),
    affiliate_api.remove_template(text, text)
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Promo campaigns over HTTP (affiliate_api; docs/campaigns.md#http-api).
-- anon: a code's public offer; member: redeem a code for their own order,
-- their redemptions; admin: create campaigns, change their status, stats.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate_api.promo_offer(program_id bigint, code text,
                                          OUT known boolean, OUT redeemable boolean, OUT offer_type text,
                                          OUT value bigint, OUT ends_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    c record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM affiliate.program p WHERE p.id = promo_offer.program_id) THEN
        PERFORM affiliate.api_error('P0002', pg_catalog.format('program %s does not exist', promo_offer.program_id),
                                    NULL, NULL);
    END IF;
    IF code IS NULL OR pg_catalog.octet_length(code) NOT BETWEEN 3 AND 32 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid promo code',
            DETAIL = 'A promo code is 3 to 32 characters: a letter or a digit, then letters, digits, hyphens or underscores.';
    END IF;
    -- drafts and personal codes are not public
    SELECT x.status, x.offer_type, x.value, x.starts_at, x.ends_at, x.total_limit, x.used INTO c
      FROM affiliate.campaign x
     WHERE x.program_id = promo_offer.program_id
       AND pg_catalog.lower(x.code) = pg_catalog.lower(promo_offer.code)
       AND x.personal_member_id IS NULL AND x.status <> 'draft';
    known := FOUND;
    redeemable := false;
    IF known THEN
        redeemable := c.status = 'active' AND c.starts_at <= pg_catalog.now()
                      AND (c.ends_at IS NULL OR pg_catalog.now() < c.ends_at)
                      AND (c.total_limit IS NULL OR c.used < c.total_limit);
        offer_type := c.offer_type;
        value := c.value;
        ends_at := c.ends_at;
    END IF;
END
$$;
COMMENT ON FUNCTION affiliate_api.promo_offer(bigint, text) IS
    'anon: does this public promo code exist in the program, can it be redeemed now, and what does it offer?';

CREATE FUNCTION affiliate_api.redeem_promo(code text, order_ref text, order_amount bigint DEFAULT NULL)
    RETURNS TABLE (redemption_id bigint, campaign_id bigint, offer_type text, value bigint, discount bigint,
                   credits bigint, credits_expire_at timestamptz, trial_days integer, replayed boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT r.* FROM affiliate.redeem_promo(affiliate.claimed_program(), code, affiliate.current_member(),
                                           order_ref, order_amount) r;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.redeem_promo(text, text, bigint) IS
    'member: redeem a promo code for their own order; idempotent on order_ref.';

CREATE FUNCTION affiliate_api.my_promo_redemptions()
    RETURNS TABLE (redemption_id bigint, code text, offer_type text, value bigint, order_ref text,
                   order_amount bigint, discount bigint, credits bigint, credits_expire_at timestamptz,
                   credits_expired bigint, trial_days integer, redeemed_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    -- resolved first: a token without a member is refused (42501) even
    -- when there is nothing to list
    prog pg_catalog.int8 := affiliate.claimed_program();
    me pg_catalog.int8 := affiliate.current_member();
BEGIN
    RETURN QUERY
    SELECT r.id, c.code, r.offer_type, r.value, r.order_ref, r.order_amount, r.discount, r.credits,
           r.credits_expire_at, r.credits_expired, r.trial_days, r.redeemed_at
      FROM affiliate.promo_redemption r
      JOIN affiliate.campaign c ON c.program_id = r.program_id AND c.id = r.campaign_id
     WHERE r.program_id = prog AND r.member_id = me
     ORDER BY r.id;
END
$$;
COMMENT ON FUNCTION affiliate_api.my_promo_redemptions() IS
    'member: the promo codes they redeemed, with what each gave.';

CREATE FUNCTION affiliate_api.create_campaign(name text, offer_type text, value bigint,
                                              starts_at timestamptz DEFAULT NULL, ends_at timestamptz DEFAULT NULL,
                                              code text DEFAULT NULL, owner_id bigint DEFAULT NULL,
                                              total_limit bigint DEFAULT NULL, per_member_limit integer DEFAULT NULL,
                                              credit_expiry interval DEFAULT NULL, channel text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.create_campaign(affiliate.claimed_program(), name, offer_type, value, starts_at, ends_at,
                                     code, owner_id, total_limit, per_member_limit, credit_expiry, channel);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.create_campaign(text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text) IS
    'admin: a draft campaign of their program; returns its id.';

CREATE FUNCTION affiliate_api.set_campaign_status(campaign_id bigint, status text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_campaign_status(affiliate.claimed_program(), campaign_id, status);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_campaign_status(bigint, text) IS
    'admin: change the status of a campaign of their program; returns the previous status.';

CREATE FUNCTION affiliate_api.campaign_stats(campaign_id bigint DEFAULT NULL)
    RETURNS TABLE (campaign_id bigint, code text, name text, channel text, status text, clicks bigint,
                   redemptions bigint, conversions bigint, conversion_rate numeric, revenue bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT s.* FROM affiliate.campaign_stats(affiliate.claimed_program(), campaign_id) s
$$;
COMMENT ON FUNCTION affiliate_api.campaign_stats(bigint) IS
    'admin: clicks, redemptions, conversions, conversion rate and revenue of their program''s campaigns.';

REVOKE ALL ON FUNCTION
    affiliate_api.promo_offer(bigint, text),
    affiliate_api.redeem_promo(text, text, bigint),
    affiliate_api.my_promo_redemptions(),
    affiliate_api.create_campaign(text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text),
    affiliate_api.set_campaign_status(bigint, text),
    affiliate_api.campaign_stats(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION affiliate_api.promo_offer(bigint, text)
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.redeem_promo(text, text, bigint),
    affiliate_api.my_promo_redemptions()
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.create_campaign(text, text, bigint, timestamptz, timestamptz, text, bigint, bigint, integer, interval, text),
    affiliate_api.set_campaign_status(bigint, text),
    affiliate_api.campaign_stats(bigint)
TO affiliate_admin;

-- the birthday campaign over HTTP (admin; docs/campaigns.md)
CREATE FUNCTION affiliate_api.set_birthday_campaign(campaign_id bigint)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_birthday_campaign(affiliate.claimed_program(), campaign_id);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_birthday_campaign(bigint) IS
    'admin: the template campaign of their program''s birthday promo codes (NULL: none).';
REVOKE ALL ON FUNCTION affiliate_api.set_birthday_campaign(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION affiliate_api.set_birthday_campaign(bigint) TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Badges and leaderboards over HTTP (affiliate_api, docs/gamification.md):
-- anyone with a token naming the program reads its leaderboards (display
-- names only, no member ids); a member reads their badges and sets their
-- profile; the admin manages badge rules and increments counters.
-- ---------------------------------------------------------------------------
CREATE FUNCTION affiliate_api.leaderboard(metric text, period text DEFAULT 'all', max_rows integer DEFAULT 10)
    RETURNS TABLE (rank bigint, display_name text, value bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT l.rank, l.display_name, l.value
      FROM affiliate.leaderboard(affiliate.claimed_program(), metric, period, pg_catalog.now(), max_rows) l;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.leaderboard(text, text, integer) IS
    'anon, member, admin: the claimed program''s leaderboard of a metric for the current day, week, month or all time: rank, display name, value.';

CREATE FUNCTION affiliate_api.my_badges()
    RETURNS TABLE (name text, level text, metric text, threshold bigint, value bigint, awarded_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT b.name, b.level, b.metric, b.threshold, b.value, b.awarded_at
      FROM affiliate.member_badges(affiliate.claimed_program(), affiliate.current_member()) b
$$;
COMMENT ON FUNCTION affiliate_api.my_badges() IS
    'member: the caller''s badges, oldest first.';

CREATE FUNCTION affiliate_api.set_my_profile(display_name text, birth_date date)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_member_profile(affiliate.claimed_program(), affiliate.current_member(), display_name,
                                         birth_date);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_my_profile(text, date) IS
    'member: set the caller''s display name (shown on leaderboards) and birth date; NULL clears.';

CREATE FUNCTION affiliate_api.set_badge_rule(name text, metric text, threshold bigint, level text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_badge_rule(affiliate.claimed_program(), name, metric, threshold, level);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_badge_rule(text, text, bigint, text) IS
    'admin: create or change (and reactivate) a badge rule of the program by name; audited; returns the rule id.';

CREATE FUNCTION affiliate_api.set_badge_rule_active(name text, active boolean)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_badge_rule_active(affiliate.claimed_program(), name, active);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_badge_rule_active(text, boolean) IS
    'admin: deactivate (or reactivate) a badge rule of the program; awarded badges stay; audited.';

CREATE FUNCTION affiliate_api.badge_rules()
    RETURNS TABLE (rule_id bigint, name text, metric text, threshold bigint, level text, active boolean,
                   awarded bigint, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT r.id, r.name, r.metric, r.threshold, r.level, r.active,
           (SELECT pg_catalog.count(*) FROM affiliate.member_badge b
             WHERE b.program_id = r.program_id AND b.rule_id = r.id),
           r.updated_at
      FROM affiliate.badge_rule r
     WHERE r.program_id = affiliate.claimed_program()
     ORDER BY r.metric, r.threshold, r.id
$$;
COMMENT ON FUNCTION affiliate_api.badge_rules() IS
    'admin: the program''s badge rules with how many members hold each.';

CREATE FUNCTION affiliate_api.member_badges(member_id bigint)
    RETURNS TABLE (name text, level text, metric text, threshold bigint, value bigint, awarded_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT b.name, b.level, b.metric, b.threshold, b.value, b.awarded_at
      FROM affiliate.member_badges(affiliate.claimed_program(), affiliate.claimed_member(member_id)) b
$$;
COMMENT ON FUNCTION affiliate_api.member_badges(bigint) IS
    'admin: a member''s badges, oldest first (PT404 for a member of another program).';

CREATE FUNCTION affiliate_api.increment_counter(member_id bigint, counter text, by bigint DEFAULT 1,
                                                source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.increment_counter(affiliate.claimed_program(), affiliate.claimed_member(member_id), counter,
                                       by, source_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.increment_counter(bigint, text, bigint, text) IS
    'admin: add to a member''s usage counter; idempotent on source_ref; returns the all-time total.';

REVOKE ALL ON FUNCTION
    affiliate_api.leaderboard(text, text, integer),
    affiliate_api.my_badges(),
    affiliate_api.set_my_profile(text, date),
    affiliate_api.set_badge_rule(text, text, bigint, text),
    affiliate_api.set_badge_rule_active(text, boolean),
    affiliate_api.badge_rules(),
    affiliate_api.member_badges(bigint),
    affiliate_api.increment_counter(bigint, text, bigint, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION affiliate_api.leaderboard(text, text, integer)
    TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.my_badges(),
    affiliate_api.set_my_profile(text, date)
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.set_badge_rule(text, text, bigint, text),
    affiliate_api.set_badge_rule_active(text, boolean),
    affiliate_api.badge_rules(),
    affiliate_api.member_badges(bigint),
    affiliate_api.increment_counter(bigint, text, bigint, text)
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Backups: pg_dump dumps the extension as one CREATE EXTENSION and would
-- leave out every row of its tables; these registrations make it dump the
-- rows (and the identity sequences' positions) too, so pg_dump / pg_restore
-- brings back every program and everything in it (docs/reliability.md,
-- test/drivers/backup_restore.sh).
--   * Every table holds user data and is dumped whole (filter ''): the
--     script inserts no seed rows.  balance_delta holds postings not yet
--     folded into account.balance (without it the stored balances would be
--     short), balance_checkpoint the checkpoints that account.checkpoint_at
--     and since_checkpoint count from; neither is a cache that could be
--     rebuilt.  program_secret holds the keys of the keyed hashes: without
--     it a restored program would get a new key and no device, IP or payout
--     destination would match its old hash again (it is in the dump as the
--     table stores it).  signing_key likewise: without it no certificate
--     would verify (the dump carries the keys as stored: sealed with a root
--     key, in clear without one; docs/keys.md).
--   * The sequences behind the identity columns are registered themselves
--     (a registered table does not carry its sequence's position), or the
--     first insert after a restore would reuse an id.
--   * The restore needs nothing else: it runs CREATE EXTENSION (which creates
--     the roles when the cluster lacks them), then loads the rows with COPY
--     (the append-only triggers refuse UPDATE, DELETE and TRUNCATE, not
--     INSERT; pg_dump orders the tables by their foreign keys), then sets the
--     sequences.  Dump and restore as a superuser: the tables have row-level
--     security, and program_secret is readable by its owner only.
-- ---------------------------------------------------------------------------
-- (one call per statement: each call rewrites the pg_extension row)
SELECT pg_catalog.pg_extension_config_dump('affiliate.program', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.program_secret', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.account', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.journal', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.posting', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.balance_delta', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.balance_checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.click', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.plan', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.conversion', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.commission', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.refund', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.withdrawal', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.program_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.account_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.journal_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.posting_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.member_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.click_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.plan_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.conversion_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.commission_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.refund_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.withdrawal_id_seq', '');
-- courses, enrollment and progress
SELECT pg_catalog.pg_extension_config_dump('affiliate.course', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_module', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.enrollment', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic_progress', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.assessment', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.course_module_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.topic_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.assessment_id_seq', '');
-- signing keys and certificates
SELECT pg_catalog.pg_extension_config_dump('affiliate.signing_key', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.certificate', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.signing_key_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.certificate_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_rule', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_policy', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_lot', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_bill', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_bill_refund', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_deduction', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_lot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_bill_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_bill_refund_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.points_deduction_id_seq', '');
-- tiers
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier_policy', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier_member', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier_history', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.tier_history_id_seq', '');

-- ---------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; explicit grants per role.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA affiliate FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA affiliate_api FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA affiliate_api FROM PUBLIC;

-- the operator: the whole SQL API, every program
GRANT USAGE ON SCHEMA affiliate TO affiliate_operator;
GRANT SELECT ON ALL TABLES IN SCHEMA affiliate TO affiliate_operator;
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
    affiliate.set_member_profile(bigint, bigint, text, date),
    affiliate.member_by_code(bigint, text),
    affiliate.upline(bigint, bigint, integer),
    affiliate.downline(bigint, bigint, integer),
    affiliate.team_size(bigint, bigint),
    affiliate.set_plan(bigint, text, integer[], text, interval, text, text, bigint[], bigint[], jsonb),
    affiliate.record_conversion(bigint, text, bigint, bigint, bigint, timestamptz, text, bigint, text),
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
    affiliate.withdrawal_totals(bigint),
    affiliate.cancel_withdrawal(bigint, bigint),
    affiliate.claimed_program(),
    affiliate.current_member(),
    affiliate.claimed_member(bigint),
    affiliate.request_client(),
    affiliate.root_key_id(),
    affiliate.seal_secrets(),
    affiliate.secret_status(),
    affiliate.rotate_signing_key(bigint),
    affiliate.revoke_certificate(bigint, text, text)
TO affiliate_operator;
-- courses, enrollment and progress
GRANT EXECUTE ON FUNCTION
    affiliate.create_course(bigint, text, text, integer, boolean),
    affiliate.add_module(bigint, bigint, text, text, integer, boolean, integer),
    affiliate.add_topic(bigint, bigint, text, text, text, integer, text, integer, boolean),
    affiliate.set_published(bigint, text, bigint, boolean),
    affiliate.course_outline(bigint, bigint, boolean),
    affiliate.enroll(bigint, bigint, bigint),
    affiliate.record_progress(bigint, bigint, bigint, integer, boolean),
    affiliate.record_assessment(bigint, bigint, bigint, integer, integer),
    affiliate.course_progress(bigint, bigint, bigint)
TO affiliate_operator;
-- loyalty points
GRANT EXECUTE ON FUNCTION
    affiliate.set_points_rule(bigint, text, bigint, bigint),
    affiliate.set_points_policy(bigint, interval, integer),
    affiliate.record_bill(bigint, text, bigint, bigint, timestamptz),
    affiliate.refund_bill(bigint, text, bigint, text),
    affiliate.award_points(bigint, bigint, bigint, text, timestamptz, text),
    affiliate.deduct_points(bigint, bigint, bigint, text, text),
    affiliate.expire_points(timestamptz, integer, bigint),
    affiliate.points_balance(bigint, bigint)
TO affiliate_operator;
-- tiers
GRANT EXECUTE ON FUNCTION
    affiliate.set_tier(bigint, text, integer, bigint, text, interval, integer, jsonb),
    affiliate.set_tier_policy(bigint, interval),
    affiliate.set_member_tier(bigint, bigint, text),
    affiliate.review_tiers(timestamptz, bigint),
    affiliate.member_tier(bigint, bigint)
TO affiliate_operator;
GRANT EXECUTE ON PROCEDURE affiliate.release_all_due(integer), affiliate.expire_all_points(integer) TO affiliate_operator;
GRANT EXECUTE ON FUNCTION affiliate.schedule_jobs(text, text), affiliate.unschedule_jobs(), affiliate.job_definitions()
    TO affiliate_operator;
GRANT USAGE ON TYPE affiliate.conversion_input TO affiliate_operator;
-- the keys of the device/IP hashes are for the extension's C code only
REVOKE ALL ON affiliate.program_secret FROM affiliate_operator;
-- and so are the signing keys (their public keys: certificate_public_key())
REVOKE ALL ON affiliate.signing_key FROM affiliate_operator;
-- verifying a certificate is public (the public verification page)
GRANT EXECUTE ON FUNCTION
    affiliate.verify_certificate(bigint, text),
    affiliate.certificate_text(bigint, text),
    affiliate.certificate_public_key(bigint)
TO affiliate_operator, affiliate_admin, affiliate_member, affiliate_anon;

-- the HTTP roles: affiliate_api only (plus the tables behind its views,
-- under row-level security, and the claim functions the policies call)
GRANT USAGE ON SCHEMA affiliate_api TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.lookup_code(bigint, text),
    affiliate_api.record_click(bigint, text, text, text, text)
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.join(text, text),
    affiliate_api.me(),
    affiliate_api.my_tree(integer),
    affiliate_api.my_balance(),
    affiliate_api.my_transactions(timestamptz, integer),
    affiliate_api.request_withdrawal(bigint, text, text),
    affiliate_api.cancel_withdrawal(bigint)
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.program_settings(),
    affiliate_api.update_program_settings(jsonb),
    affiliate_api.set_plan(text, integer[], text, interval, text, text, bigint[], bigint[], jsonb),
    affiliate_api.add_member(text, text, text, inet),
    affiliate_api.set_member_status(bigint, text, text),
    affiliate_api.move_member(bigint, bigint),
    affiliate_api.member_tree(bigint, integer),
    affiliate_api.record_conversion(text, bigint, bigint, bigint, timestamptz, text, bigint, text),
    affiliate_api.refund_conversion(text, text, bigint, text),
    affiliate_api.member_balance(bigint),
    affiliate_api.member_transactions(bigint, timestamptz, integer),
    affiliate_api.withdrawal_queue(text, integer),
    affiliate_api.withdrawal_totals(),
    affiliate_api.approve_withdrawal(bigint),
    affiliate_api.reject_withdrawal(bigint, text),
    affiliate_api.complete_withdrawal(bigint, text),
    affiliate_api.fail_withdrawal(bigint, text),
    affiliate_api.adjust_balance(bigint, bigint, text),
    affiliate_api.pay_from_wallet(bigint, bigint, text),
    affiliate_api.verify()
TO affiliate_admin;
GRANT USAGE ON SCHEMA affiliate TO affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate.claimed_program() TO affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate.current_member() TO affiliate_member;
-- (the keyed hashes of devices, IPs and payout destinations are not among
-- the columns the HTTP roles may read)
GRANT SELECT ON affiliate.program, affiliate.commission TO affiliate_member, affiliate_admin;
GRANT SELECT ON affiliate.conversion TO affiliate_admin;
GRANT SELECT (program_id, id, external_ref, buyer_id, product, amount, refunded, status, occurred_at)
    ON affiliate.conversion TO affiliate_member;
GRANT SELECT (program_id, id, external_id, code, sponsor_id, upline, status, joined_at, click_id)
    ON affiliate.member TO affiliate_member, affiliate_admin;
GRANT SELECT (program_id, id, member_id, asset, amount, debt_settled, status, method, destination_masked,
              requested_at, decided_at, paid_at, failed_at, provider_ref, reason)
    ON affiliate.withdrawal TO affiliate_member, affiliate_admin;
GRANT SELECT ON affiliate.plan, affiliate.audit_log TO affiliate_admin;
GRANT SELECT ON affiliate_api.program, affiliate_api.members, affiliate_api.commissions,
    affiliate_api.withdrawals TO affiliate_member, affiliate_admin;
GRANT SELECT ON affiliate_api.purchases TO affiliate_member;
GRANT SELECT ON affiliate_api.conversions, affiliate_api.plans, affiliate_api.audit_log TO affiliate_admin;
-- courses over HTTP (0.5.0)
GRANT EXECUTE ON FUNCTION
    affiliate_api.course_catalog(),
    affiliate_api.course_outline(bigint)
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.enroll(bigint),
    affiliate_api.record_progress(bigint, integer, boolean),
    affiliate_api.record_assessment(bigint, integer, integer),
    affiliate_api.course_progress(bigint),
    affiliate_api.my_courses()
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.create_course(text, text, integer, boolean),
    affiliate_api.add_module(bigint, text, text, integer, boolean, integer),
    affiliate_api.add_topic(bigint, text, text, text, integer, text, integer, boolean),
    affiliate_api.set_published(text, bigint, boolean),
    affiliate_api.course_outline_all(bigint),
    affiliate_api.member_course_progress(bigint, bigint)
TO affiliate_admin;
GRANT SELECT ON affiliate.course, affiliate.enrollment, affiliate.topic_progress, affiliate.assessment
    TO affiliate_member, affiliate_admin;
GRANT SELECT ON affiliate_api.courses, affiliate_api.enrollments, affiliate_api.topic_progress,
    affiliate_api.assessments TO affiliate_member, affiliate_admin;
-- certificates over HTTP (0.5.0)
GRANT EXECUTE ON FUNCTION
    affiliate_api.verify_certificate(text),
    affiliate_api.certificate_text(text),
    affiliate_api.certificate_public_key()
TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION affiliate_api.my_certificates() TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.revoke_certificate(text, text),
    affiliate_api.rotate_signing_key()
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Loyalty over HTTP (0.6.0; docs/loyalty.md "HTTP API", docs/postgrest.md).
-- The points, tiers and rewards engines of src/loyalty.c, src/tier.c and
-- src/reward.c through affiliate_api.  Members read their own points, tier
-- and redemptions and redeem rewards for themselves; admins run the
-- claimed program's points, tiers and rewards; anon (a site token naming
-- the program), members and admins read the active reward catalog.  No
-- table is granted to the HTTP roles: every endpoint is a function that
-- takes the program (and the member) from the JWT claims.
-- ---------------------------------------------------------------------------

-- anon, member, admin: the active reward catalog of the claimed program
CREATE FUNCTION affiliate_api.rewards()
    RETURNS TABLE (reward_id bigint, name text, cost_points bigint, stock bigint, valid_from timestamptz,
                   valid_until timestamptz, per_member_limit integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT r.id, r.name, r.cost_points, r.stock, r.valid_from, r.valid_until, r.per_member_limit
      FROM affiliate.reward r
     WHERE r.program_id = affiliate.claimed_program() AND r.active
       AND (r.valid_from IS NULL OR r.valid_from <= pg_catalog.now())
       AND (r.valid_until IS NULL OR r.valid_until > pg_catalog.now())
     ORDER BY r.cost_points, r.id
$$;
COMMENT ON FUNCTION affiliate_api.rewards() IS
    'anon, member, admin: the claimed program''s rewards that can be redeemed now (active, inside their window), cheapest first; stock NULL = unlimited.';

-- member: their own points, tier and redemptions

CREATE FUNCTION affiliate_api.my_points()
    RETURNS TABLE (balance bigint, usable bigint, pending bigint, expiring_30_days bigint, shortfall bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT b.balance, b.usable, b.pending, b.expiring_30_days, b.shortfall
      FROM affiliate.points_balance(affiliate.claimed_program(), affiliate.current_member()) b
$$;
COMMENT ON FUNCTION affiliate_api.my_points() IS
    'member: the caller''s points: balance, usable now, pending, usable points expiring within 30 days, refund shortfall.';

CREATE FUNCTION affiliate_api.my_points_history(max_rows integer DEFAULT 100, before bigint DEFAULT NULL)
    RETURNS TABLE (journal_id bigint, at timestamptz, kind text, points bigint, reference text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    prog bigint := affiliate.claimed_program();
    me bigint := affiliate.current_member();
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_rows must be between 1 and 1000';
    END IF;
    RETURN QUERY
    SELECT j.id, j.posted_at, j.kind, p.amount,
           coalesce(j.memo->>'reason', j.memo->>'external_ref', j.memo->>'request_ref')
      FROM affiliate.account a
      JOIN affiliate.posting p ON p.program_id = a.program_id AND p.account_id = a.id
      JOIN affiliate.journal j ON j.program_id = p.program_id AND j.id = p.journal_id
     WHERE a.program_id = prog AND a.member_id = me AND a.kind = 'loyalty_points' AND a.asset = 'POINTS'
       AND (before IS NULL OR j.id < before)
     ORDER BY j.id DESC
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION affiliate_api.my_points_history(integer, bigint) IS
    'member: the caller''s points movements, newest first (points signed: earned > 0, spent/expired/refunded < 0); the next page: before = the last journal_id.';

CREATE FUNCTION affiliate_api.my_tier(OUT tier text, OUT rank integer, OUT multiplier_bp integer,
                                      OUT benefits jsonb, OUT since timestamptz, OUT next_tier text,
                                      OUT next_basis text, OUT qualifying_value bigint,
                                      OUT next_threshold bigint, OUT downgrade_possible_at timestamptz)
    RETURNS record
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT t.* FROM affiliate.member_tier(affiliate.claimed_program(), affiliate.current_member()) t
$$;
COMMENT ON FUNCTION affiliate_api.my_tier() IS
    'member: the caller''s tier, benefits, progress to the next tier and the earliest possible downgrade.';

CREATE FUNCTION affiliate_api.redeem_reward(reward_id bigint, request_ref text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.redeem_reward(affiliate.claimed_program(), affiliate.current_member(), reward_id, request_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.redeem_reward(bigint, text) IS
    'member: redeem a reward with the caller''s usable points; idempotent on request_ref; returns the redemption id.';

CREATE FUNCTION affiliate_api.my_redemptions()
    RETURNS TABLE (redemption_id bigint, reward_id bigint, reward_name text, points bigint, request_ref text,
                   created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT x.id, x.reward_id, r.name, x.points, x.request_ref, x.created_at
      FROM affiliate.reward_redemption x
      JOIN affiliate.reward r ON r.program_id = x.program_id AND r.id = x.reward_id
     WHERE x.program_id = affiliate.claimed_program() AND x.member_id = affiliate.current_member()
     ORDER BY x.id DESC
$$;
COMMENT ON FUNCTION affiliate_api.my_redemptions() IS
    'member: the caller''s reward redemptions, newest first.';

-- admin: the claimed program's points, tiers and rewards

CREATE FUNCTION affiliate_api.record_bill(external_ref text, member_id bigint, amount bigint,
                                          occurred_at timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.record_bill(affiliate.claimed_program(), external_ref, member_id, amount, occurred_at);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.record_bill(text, bigint, bigint, timestamptz) IS
    'admin (server key): record a bill and return the points it earned; idempotent on external_ref.';

CREATE FUNCTION affiliate_api.refund_bill(external_ref text, amount bigint DEFAULT NULL, refund_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.refund_bill(affiliate.claimed_program(), external_ref, amount, refund_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.refund_bill(text, bigint, text) IS
    'admin (server key): take a refunded bill''s points back (the shortfall is recorded); returns the points taken; idempotent on refund_ref.';

CREATE FUNCTION affiliate_api.award_points(member_id bigint, points bigint, reason text,
                                           expires_at timestamptz DEFAULT NULL, source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.award_points(affiliate.claimed_program(), member_id, points, reason, expires_at, source_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.award_points(bigint, bigint, text, timestamptz, text) IS
    'admin: award points to a member as a lot; returns the lot id; idempotent on source_ref; audited.';

CREATE FUNCTION affiliate_api.deduct_points(member_id bigint, points bigint, reason text, source_ref text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.deduct_points(affiliate.claimed_program(), member_id, points, reason, source_ref);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.deduct_points(bigint, bigint, text, text) IS
    'admin: take usable points from a member; returns the deduction id; idempotent on source_ref; audited.';

CREATE FUNCTION affiliate_api.set_points_rule(event text, points bigint, per_amount bigint DEFAULT 1)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_points_rule(affiliate.claimed_program(), event, points, per_amount);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_points_rule(text, bigint, bigint) IS
    'admin: the points an event earns (bill: per per_amount minor units); audited.';

CREATE FUNCTION affiliate_api.set_points_policy(lot_lifetime interval, pending_days integer DEFAULT 0)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_points_policy(affiliate.claimed_program(), lot_lifetime, pending_days);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_points_policy(interval, integer) IS
    'admin: the lifetime of new lots and the pending days of bills; audited.';

CREATE FUNCTION affiliate_api.member_points(member_id bigint)
    RETURNS TABLE (balance bigint, usable bigint, pending bigint, expiring_30_days bigint, shortfall bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
BEGIN
    RETURN QUERY
    SELECT b.balance, b.usable, b.pending, b.expiring_30_days, b.shortfall
      FROM affiliate.points_balance(affiliate.claimed_program(), affiliate.claimed_member(member_id)) b;
END
$$;
COMMENT ON FUNCTION affiliate_api.member_points(bigint) IS
    'admin: a member''s points (as my_points); PT404 for a member not in the program.';

CREATE FUNCTION affiliate_api.set_tier(name text, rank integer, threshold bigint, basis text,
                                       qualifying_window interval, multiplier_bp integer DEFAULT 10000,
                                       benefits jsonb DEFAULT '{}')
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.set_tier(affiliate.claimed_program(), name, rank, threshold, basis, qualifying_window,
                              multiplier_bp, benefits);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_tier(text, integer, bigint, text, interval, integer, jsonb) IS
    'admin: create or change a tier (by name); returns its id; audited.';

CREATE FUNCTION affiliate_api.set_tier_policy(grace_period interval)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_tier_policy(affiliate.claimed_program(), grace_period);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_tier_policy(interval) IS
    'admin: the grace period before a downgrade; audited.';

CREATE FUNCTION affiliate_api.set_member_tier(member_id bigint, tier text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_member_tier(affiliate.claimed_program(), member_id, tier);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_member_tier(bigint, text) IS
    'admin: put a member in the named tier (history reason manual); audited.';

CREATE FUNCTION affiliate_api.member_tier(member_id bigint,
                                          OUT tier text, OUT rank integer, OUT multiplier_bp integer,
                                          OUT benefits jsonb, OUT since timestamptz, OUT next_tier text,
                                          OUT next_basis text, OUT qualifying_value bigint,
                                          OUT next_threshold bigint, OUT downgrade_possible_at timestamptz)
    RETURNS record
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
BEGIN
    SELECT t.tier, t.rank, t.multiplier_bp, t.benefits, t.since, t.next_tier, t.next_basis, t.qualifying_value,
           t.next_threshold, t.downgrade_possible_at
      INTO tier, rank, multiplier_bp, benefits, since, next_tier, next_basis, qualifying_value, next_threshold,
           downgrade_possible_at
      FROM affiliate.member_tier(affiliate.claimed_program(), affiliate.claimed_member(member_id)) t;
END
$$;
COMMENT ON FUNCTION affiliate_api.member_tier(bigint) IS
    'admin: a member''s tier and progress (as my_tier); PT404 for a member not in the program.';

CREATE FUNCTION affiliate_api.review_tiers(as_of timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.review_tiers(as_of, affiliate.claimed_program());
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.review_tiers(timestamptz) IS
    'admin: review the program''s members now (upgrades not yet made, downgrades due); returns how many changed tier.';

CREATE FUNCTION affiliate_api.add_reward(name text, cost_points bigint, stock bigint DEFAULT NULL,
                                         valid_from timestamptz DEFAULT NULL, valid_until timestamptz DEFAULT NULL,
                                         per_member_limit integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.add_reward(affiliate.claimed_program(), name, cost_points, stock, valid_from, valid_until,
                                per_member_limit);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.add_reward(text, bigint, bigint, timestamptz, timestamptz, integer) IS
    'admin: add a reward to the catalog; returns its id; audited.';

CREATE FUNCTION affiliate_api.set_reward(reward_id bigint, name text, cost_points bigint, stock bigint DEFAULT NULL,
                                         valid_from timestamptz DEFAULT NULL, valid_until timestamptz DEFAULT NULL,
                                         per_member_limit integer DEFAULT NULL, active boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    PERFORM affiliate.set_reward(affiliate.claimed_program(), reward_id, name, cost_points, stock, valid_from,
                                 valid_until, per_member_limit, active);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.set_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean) IS
    'admin: replace every attribute of a reward (restock, reprice, deactivate); audited.';

REVOKE ALL ON FUNCTION
    affiliate_api.rewards(),
    affiliate_api.my_points(),
    affiliate_api.my_points_history(integer, bigint),
    affiliate_api.my_tier(),
    affiliate_api.redeem_reward(bigint, text),
    affiliate_api.my_redemptions(),
    affiliate_api.record_bill(text, bigint, bigint, timestamptz),
    affiliate_api.refund_bill(text, bigint, text),
    affiliate_api.award_points(bigint, bigint, text, timestamptz, text),
    affiliate_api.deduct_points(bigint, bigint, text, text),
    affiliate_api.set_points_rule(text, bigint, bigint),
    affiliate_api.set_points_policy(interval, integer),
    affiliate_api.member_points(bigint),
    affiliate_api.set_tier(text, integer, bigint, text, interval, integer, jsonb),
    affiliate_api.set_tier_policy(interval),
    affiliate_api.set_member_tier(bigint, text),
    affiliate_api.member_tier(bigint),
    affiliate_api.review_tiers(timestamptz),
    affiliate_api.add_reward(text, bigint, bigint, timestamptz, timestamptz, integer),
    affiliate_api.set_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION affiliate_api.rewards() TO affiliate_anon, affiliate_member, affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.my_points(),
    affiliate_api.my_points_history(integer, bigint),
    affiliate_api.my_tier(),
    affiliate_api.redeem_reward(bigint, text),
    affiliate_api.my_redemptions()
TO affiliate_member;
GRANT EXECUTE ON FUNCTION
    affiliate_api.record_bill(text, bigint, bigint, timestamptz),
    affiliate_api.refund_bill(text, bigint, text),
    affiliate_api.award_points(bigint, bigint, text, timestamptz, text),
    affiliate_api.deduct_points(bigint, bigint, text, text),
    affiliate_api.set_points_rule(text, bigint, bigint),
    affiliate_api.set_points_policy(interval, integer),
    affiliate_api.member_points(bigint),
    affiliate_api.set_tier(text, integer, bigint, text, interval, integer, jsonb),
    affiliate_api.set_tier_policy(interval),
    affiliate_api.set_member_tier(bigint, text),
    affiliate_api.member_tier(bigint),
    affiliate_api.review_tiers(timestamptz),
    affiliate_api.add_reward(text, bigint, bigint, timestamptz, timestamptz, integer),
    affiliate_api.set_reward(bigint, text, bigint, bigint, timestamptz, timestamptz, integer, boolean)
TO affiliate_admin;

-- ---------------------------------------------------------------------------
-- Fraud rules and flags (issue 10 §2; src/fraud.c, docs/fraud.md).  A rule
-- raises a flag on a member with its evidence (device, IP and payout
-- destination only as the hex of their keyed hashes, or masked), once per
-- (member, rule, evidence key).  An open flag holds the member's money:
-- release_due leaves their commissions pending, their withdrawals cannot be
-- requested or approved; resolving or dismissing it lets the next release
-- pay.  The thresholds are program settings (fraud_*).
-- ---------------------------------------------------------------------------
CREATE TABLE affiliate.fraud_flag (
    program_id    bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    member_id     bigint NOT NULL,
    rule          text NOT NULL CHECK (rule IN ('self_referral', 'shared_device', 'shared_ip', 'buyer_match',
                                                'shared_destination', 'signup_burst', 'low_conversion')),
    evidence_key  text NOT NULL CHECK (length(evidence_key) BETWEEN 1 AND 200),
    evidence      jsonb NOT NULL,
    source        text NOT NULL CHECK (source IN ('add_member', 'record_conversion', 'request_withdrawal',
                                                  'run_fraud_checks', 'run_fraud_checks_all')),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    decided_at    timestamptz,
    actor         text CHECK (length(actor) BETWEEN 1 AND 200),
    note          text CHECK (length(note) BETWEEN 1 AND 2000),
    PRIMARY KEY (program_id, id),
    UNIQUE (program_id, member_id, rule, evidence_key),
    FOREIGN KEY (program_id, member_id) REFERENCES affiliate.member (program_id, id),
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK ((status = 'open') = (actor IS NULL)),
    CHECK ((status = 'open') = (note IS NULL))
);
CREATE INDEX fraud_flag_open ON affiliate.fraud_flag (program_id, member_id) WHERE status = 'open';
COMMENT ON TABLE affiliate.fraud_flag IS 'Fraud flags: rule, evidence (hashes only), open -> resolved | dismissed; an open flag holds the member''s money.';

-- the rules count members by device and IP hash (withdrawals by
-- destination: withdrawal_destination)
CREATE INDEX member_device ON affiliate.member (program_id, device_hash) WHERE device_hash IS NOT NULL;
CREATE INDEX member_ip ON affiliate.member (program_id, ip_hash) WHERE ip_hash IS NOT NULL;

CREATE FUNCTION affiliate.run_fraud_checks(program_id bigint, member_id bigint)
    RETURNS SETOF affiliate.fraud_flag
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'run_fraud_checks';
COMMENT ON FUNCTION affiliate.run_fraud_checks(bigint, bigint) IS
    'Run every fraud rule for one member now; returns the flags raised (none twice); audited.';

CREATE FUNCTION affiliate.run_fraud_checks_all(as_of timestamptz DEFAULT now(), program_id bigint DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'run_fraud_checks_all';
COMMENT ON FUNCTION affiliate.run_fraud_checks_all(timestamptz, bigint) IS
    'Job (pg_cron, daily): signup bursts of the day before as_of and low conversion rates, in every program (or one); returns the flags raised.';

CREATE FUNCTION affiliate.resolve_fraud_flag(program_id bigint, flag_id bigint, status text, note text)
    RETURNS affiliate.fraud_flag
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'resolve_fraud_flag';
COMMENT ON FUNCTION affiliate.resolve_fraud_flag(bigint, bigint, text, text) IS
    'Decide an open fraud flag: resolved or dismissed, with a note; audited; the next release pays what it held.';

CREATE FUNCTION affiliate.block_member(program_id bigint, member_id bigint, reason text)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'block_member';
COMMENT ON FUNCTION affiliate.block_member(bigint, bigint, text) IS
    'Block a member (they earn nothing, their balance is frozen); audited; returns the previous status.';

CREATE FUNCTION affiliate.unblock_member(program_id bigint, member_id bigint, reason text)
    RETURNS text
    LANGUAGE c SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'unblock_member';
COMMENT ON FUNCTION affiliate.unblock_member(bigint, bigint, text) IS
    'Set a blocked member active again; audited; returns the previous status (blocked).';

ALTER TABLE affiliate.fraud_flag ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON affiliate.fraud_flag FOR SELECT TO affiliate_operator USING (true);
CREATE POLICY admin_program ON affiliate.fraud_flag FOR SELECT TO affiliate_admin
    USING (program_id = (SELECT affiliate.claimed_program()));

SELECT pg_catalog.pg_extension_config_dump('affiliate.fraud_flag', '');
SELECT pg_catalog.pg_extension_config_dump('affiliate.fraud_flag_id_seq', '');

-- fraud over HTTP: the admin of the claimed program only
CREATE VIEW affiliate_api.fraud_flags WITH (security_invoker = true) AS
SELECT f.id AS flag_id, f.member_id, f.rule, f.evidence, f.source, f.status, f.created_at,
       f.decided_at, f.actor, f.note
  FROM affiliate.fraud_flag f;
COMMENT ON VIEW affiliate_api.fraud_flags IS 'Admin: the program''s fraud flags (filter by status, member_id, rule).';

CREATE FUNCTION affiliate_api.run_fraud_checks(member_id bigint)
    RETURNS SETOF affiliate_api.fraud_flags
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN QUERY
    SELECT f.id, f.member_id, f.rule, f.evidence, f.source, f.status, f.created_at, f.decided_at, f.actor, f.note
      FROM affiliate.run_fraud_checks(affiliate.claimed_program(), member_id) f
     ORDER BY f.id;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.run_fraud_checks(bigint) IS
    'admin: run every fraud rule for a member; returns the flags raised.';

CREATE FUNCTION affiliate_api.resolve_fraud_flag(flag_id bigint, status text, note text)
    RETURNS affiliate_api.fraud_flags
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    row affiliate_api.fraud_flags;
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    SELECT f.id, f.member_id, f.rule, f.evidence, f.source, f.status, f.created_at, f.decided_at, f.actor, f.note
      INTO row
      FROM affiliate.resolve_fraud_flag(affiliate.claimed_program(), flag_id, status, note) f;
    RETURN row;
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.resolve_fraud_flag(bigint, text, text) IS
    'admin: resolve or dismiss an open fraud flag with a note; returns the flag.';

CREATE FUNCTION affiliate_api.block_member(member_id bigint, reason text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.block_member(affiliate.claimed_program(), member_id, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.block_member(bigint, text) IS
    'admin: block a member; returns the previous status.';

CREATE FUNCTION affiliate_api.unblock_member(member_id bigint, reason text)
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
#variable_conflict use_variable
DECLARE
    err_state pg_catalog.text; err_message pg_catalog.text; err_detail pg_catalog.text; err_hint pg_catalog.text;
BEGIN
    RETURN affiliate.unblock_member(affiliate.claimed_program(), member_id, reason);
EXCEPTION WHEN no_data_found OR object_not_in_prerequisite_state THEN
    GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                            err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    PERFORM affiliate.api_error(err_state, err_message, err_detail, err_hint);
END
$$;
COMMENT ON FUNCTION affiliate_api.unblock_member(bigint, text) IS
    'admin: set a blocked member active again; returns the previous status.';

REVOKE ALL ON affiliate.fraud_flag FROM PUBLIC;
REVOKE ALL ON SEQUENCE affiliate.fraud_flag_id_seq FROM PUBLIC;
REVOKE ALL ON affiliate_api.fraud_flags FROM PUBLIC;
REVOKE ALL ON FUNCTION
    affiliate.run_fraud_checks(bigint, bigint),
    affiliate.run_fraud_checks_all(timestamptz, bigint),
    affiliate.resolve_fraud_flag(bigint, bigint, text, text),
    affiliate.block_member(bigint, bigint, text),
    affiliate.unblock_member(bigint, bigint, text),
    affiliate_api.run_fraud_checks(bigint),
    affiliate_api.resolve_fraud_flag(bigint, text, text),
    affiliate_api.block_member(bigint, text),
    affiliate_api.unblock_member(bigint, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    affiliate.run_fraud_checks(bigint, bigint),
    affiliate.run_fraud_checks_all(timestamptz, bigint),
    affiliate.resolve_fraud_flag(bigint, bigint, text, text),
    affiliate.block_member(bigint, bigint, text),
    affiliate.unblock_member(bigint, bigint, text)
TO affiliate_operator;
GRANT SELECT ON affiliate.fraud_flag TO affiliate_operator, affiliate_admin;
GRANT SELECT ON affiliate_api.fraud_flags TO affiliate_admin;
GRANT EXECUTE ON FUNCTION
    affiliate_api.run_fraud_checks(bigint),
    affiliate_api.resolve_fraud_flag(bigint, text, text),
    affiliate_api.block_member(bigint, text),
    affiliate_api.unblock_member(bigint, text)
TO affiliate_admin;
